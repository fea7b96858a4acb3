"""generate -> train -> score for real, against a temporary MLflow store."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from leadscore.features import schema
from leadscore.pipelines.cli import app
from leadscore.pipelines.config import Config
from leadscore.pipelines.evaluation import holdout_quality
from leadscore.pipelines.synthetic import generate

pytestmark = pytest.mark.integration
runner = CliRunner()


def alias(name: str) -> str | None:
    from leadscore.pipelines.io import tracking

    return tracking.alias_version("lead-conversion", name)


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    invoke("generate", "--out", str(out), "--leads", "3000", "--seed", "5", "--truth")
    return out


def test_generate_train_score(world: Path, tmp_path: Path, mlflow_store: str) -> None:
    leads, acts = str(world / "leads.csv"), str(world / "activities.csv")
    invoke("train", "--leads", leads, "--activities", acts)

    client = MlflowClient()
    champion = client.get_model_version_by_alias("lead-conversion", "champion")
    assert str(champion.version) == "1"
    run = client.get_run(champion.run_id)
    for key in ("test_roc_auc", "test_pr_auc", "test_log_loss", "test_brier", "test_ece",
                "test_precision_top10", "test_recall_top10", "baseline_test_roc_auc",
                "threshold_sql", "threshold_mql"):  # fmt: skip
        assert key in run.data.metrics, key
    assert run.data.tags["git_commit"]
    assert run.data.tags["version.lightgbm"]
    assert run.data.params["split"].startswith("forward in time")
    # MLflow-native (issue 18): the data's lineage without rows, the honest metrics linked to
    # the logged model, and each backtest fold a nested run.
    (dataset,) = [d.dataset for d in run.inputs.dataset_inputs]
    assert dataset.name == "leads" and dataset.digest and "lead_id" in dataset.schema
    (logged,) = client.search_logged_models([run.info.experiment_id], filter_string=(
        f"source_run_id = '{run.info.run_id}'"
    ))  # fmt: skip
    assert {m.key for m in logged.metrics or []} >= {"test_roc_auc", "test_ece"}
    folds = client.search_runs(
        [run.info.experiment_id], f"tags.`mlflow.parentRunId` = '{run.info.run_id}'"
    )
    assert len(folds) >= 2 and all("lightgbm_roc_auc" in f.data.metrics for f in folds)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "report")}
    for name in ("calibration_test.png", "feature_importance.csv", "feature_importance.png",
                 "tier_table_test.csv", "thresholds.json", "data_fingerprint.json",
                 "feature_registry.csv"):  # fmt: skip
        assert f"report/{name}" in artifacts, name

    pyfunc = mlflow.pyfunc.load_model("models:/lead-conversion@champion")
    signature = pyfunc.metadata.get_input_schema()
    assert signature is not None and "pricing_page_view__count_30d" in signature.input_names()
    example = pyfunc.input_example
    assert isinstance(example, pd.DataFrame)
    predicted = pyfunc.predict(example)
    assert list(predicted.columns) == [schema.PROBABILITY, schema.TIER]

    out = tmp_path / "scores.csv"
    invoke("score", "--leads", leads, "--activities", acts, "--as-of", "2026-06-30",
           "--output", str(out))  # fmt: skip
    scores = pd.read_csv(out, keep_default_na=False)
    assert list(scores.columns) == list(schema.OUTPUT_COLUMNS)
    source = pd.read_csv(leads, keep_default_na=False)
    open_ids = set(source.loc[source["outcome"] == "", "lead_id"])
    assert set(scores["lead_id"]) == open_ids
    assert scores["probability"].between(0, 1).all()
    assert set(scores["tier"]) == set(schema.TIERS)
    assert (scores["model_version"] == "lead-conversion/1").all()
    assert (scores["as_of"] == "2026-06-30T00:00:00Z").all()
    assert scores["reasons"].str.match(r"^[+-] .+: .+").all()
    rejects = pd.read_csv(tmp_path / "scores.rejects.csv")
    assert set(rejects["reason"]) >= {
        "lead_id not found in leads",
        "exact duplicate of an earlier row",
    }

    # Parquet output, same rows; a rerun gives the very same bytes.
    pq = tmp_path / "scores.parquet"
    invoke("score", "--leads", leads, "--activities", acts, "--as-of", "2026-06-30",
           "--output", str(pq), "--model", "models:/lead-conversion/1")  # fmt: skip
    again = pd.read_parquet(pq)
    np.testing.assert_allclose(again["probability"], scores["probability"], rtol=0, atol=1e-12)
    first = out.read_bytes()
    invoke("score", "--leads", leads, "--activities", acts, "--as-of", "2026-06-30",
           "--output", str(out), "--force")  # fmt: skip
    assert out.read_bytes() == first

    # The same data again: not worse, so the alias moves to v2; v1 is kept as previous.
    output = invoke("train", "--leads", leads, "--activities", acts)
    assert str(client.get_model_version_by_alias("lead-conversion", "champion").version) == "2"
    assert alias("previous_champion") == "1"
    assert "Open leads changing tier against the champion" in output
    v2_run = client.get_model_version("lead-conversion", "2").run_id
    assert "report/open_lead_tier_changes.csv" in {
        a.path for a in client.list_artifacts(v2_run, "report")
    }

    # A model trained on a tenth of the leads is worse: registered, alias stays.
    small = tmp_path / "small.csv"
    pd.read_csv(leads, keep_default_na=False).sample(frac=0.1, random_state=1).to_csv(
        small, index=False
    )
    output = invoke("train", "--leads", str(small), "--activities", acts)
    assert "not promoted" in output
    assert str(client.get_model_version_by_alias("lead-conversion", "champion").version) == "2"
    latest = client.get_model_version("lead-conversion", "3")
    decision = client.get_run(latest.run_id).data.tags["leadscore.champion_decision"]
    assert "worse than" in decision
    assert alias("challenger") == "3"

    invoke("promote", "--version", "3")
    assert (alias("champion"), alias("previous_champion"), alias("challenger")) == ("3", "2", None)
    invoke("rollback")
    assert (alias("champion"), alias("previous_champion")) == ("2", "3")


def test_holdout_quality_beats_baseline_and_is_calibrated() -> None:
    """Train on one generated world as of its export date; score the leads open at that date
    in another world (different seed); compare with outcomes only the generator knows."""
    report = holdout_quality(generate(20_000, seed=11), generate(100_000, seed=12), Config())
    model, baseline = report["model"], report["baseline"]
    assert report["open_leads"] > 5000
    assert model["roc_auc"] > baseline["roc_auc"]
    assert model["ece"] <= 0.02
    rates = report["tier_win_rates"]
    assert rates["SQL"] > rates["MQL"] > rates["unqualified"]
    assert report["out_of_time_test"]["ece"] <= 0.02  # the evaluation fit, out of time


def test_monitor_compares_promises_with_outcomes(tmp_path: Path, mlflow_store: str) -> None:
    """Score a world as of an earlier night (backfill), then judge those scores against the
    outcomes known at the export date."""
    from leadscore.pipelines.synthetic import write_world

    world = generate(4000, seed=31)
    write_world(world, tmp_path / "w")
    leads, acts = str(tmp_path / "w" / "leads.csv"), str(tmp_path / "w" / "activities.csv")
    invoke("train", "--leads", leads, "--activities", acts, "-q")
    scores = tmp_path / "scores"  # a Parquet folder: one partition per night, rejects beside
    for day in ("2026-02-01", "2026-03-01"):
        invoke("score", "--leads", leads, "--activities", acts, "--as-of", day,
               "--output", str(scores), "-q")  # fmt: skip
    output = invoke("monitor", "--leads", leads, "--scores", str(scores))
    assert "Tier promises" in output and "advice:" in output
    from leadscore.pipelines.config import Config
    from leadscore.pipelines.monitor import monitor

    report = monitor(Path(leads), [scores], Config())
    assert report.with_outcome > 300
    realised = report.tiers.set_index("tier")["realised_win_rate"]
    assert realised["SQL"] > realised["unqualified"]
    assert set(report.cohorts["cohort"]) == {"2026-02", "2026-03"}
    # Tamper with the promises: every lead claimed at 95% -> the monitor must object.
    for file in scores.glob("as_of_*/scores.parquet"):
        frame = pd.read_parquet(file)
        frame["probability"] = 0.95
        frame.to_parquet(file, index=False)
    tampered = monitor(Path(leads), [scores], Config())
    assert any(line.startswith("recalibrate") for line in tampered.advice)
    # Each check is a run of the scoring experiment, apart from training (issue 18).
    client = MlflowClient()
    recorded = client.get_run(str(tampered.run_id))
    experiment = client.get_experiment(recorded.info.experiment_id)
    assert experiment.name == "leadscore-scoring"
    assert recorded.data.tags["leadscore.job"] == "monitor"
    assert "recalibrate" in recorded.data.tags["leadscore.advice"]
    assert recorded.data.metrics["with_outcome"] == tampered.with_outcome
