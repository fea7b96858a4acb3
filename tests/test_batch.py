"""The nightly batch job for real: chunked scoring equals whole-table scoring, databases in
and out (SQLite and a throwaway PostgreSQL), reruns with and without --force, a SIGKILL in
the middle of a write, concurrent runs, registry failures, drift and the run record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from leadscore.features import schema
from leadscore.pipelines.cli import app
from tests.conftest import TrainedStore
from tests.postgres import load_export, table_rows

pytestmark = pytest.mark.integration
runner = CliRunner()
EXE = str(Path(sys.executable).with_name("leadscore"))
KEY = ["lead_id"]


def score(trained: TrainedStore, *args: str, code: int = 0) -> str:
    base = ["score", "--as-of", trained.as_of]
    if "--leads" not in args:
        base += ["--leads", str(trained.leads), "--activities", str(trained.activities)]
    result = runner.invoke(app, [*base, *args, "-q"])
    assert result.exit_code == code, (result.output, result.exception)
    return " ".join(result.output.split())


def spawn(trained: TrainedStore, *args: str) -> subprocess.Popen[str]:
    """The console script in its own process (for kills and real concurrency)."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": trained.uri}
    return subprocess.Popen(
        [EXE, "score", "--as-of", trained.as_of, *args, "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def sorted_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def write_config(path: Path, scoring: dict[str, object]) -> Path:
    path.write_text(json.dumps({"scoring": scoring}))  # JSON is YAML
    return path


def test_chunked_scoring_equals_whole_table_and_reruns_are_byte_identical(
    trained: TrainedStore, tmp_path: Path
) -> None:
    whole, chunked = tmp_path / "whole.csv", tmp_path / "chunked.csv"
    score(trained, "--output", str(whole))
    small = write_config(tmp_path / "small.yaml", {"chunk_leads": 200})  # 1500 leads: 8 chunks
    score(trained, "--output", str(chunked), "--config", str(small))

    a = pd.read_csv(whole, keep_default_na=False)
    b = pd.read_csv(chunked, keep_default_na=False)
    assert len(a) > 100
    pd.testing.assert_frame_equal(sorted_frame(a), sorted_frame(b))
    for name in ("whole", "chunked"):
        assert (tmp_path / f"{name}.rejects.csv").stat().st_size != 0
    ra = pd.read_csv(tmp_path / "whole.rejects.csv", keep_default_na=False)
    rb = pd.read_csv(tmp_path / "chunked.rejects.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(sorted_frame(ra), sorted_frame(rb))  # same rows, same numbers

    first = chunked.read_bytes()
    score(trained, "--output", str(chunked), "--config", str(small), "--force")
    assert chunked.read_bytes() == first

    # Parquet in (activities as a folder of several files), chunked: the same scores.
    leads_pq, acts_pq = tmp_path / "leads.parquet", tmp_path / "acts"
    pd.read_csv(trained.leads, dtype=str, keep_default_na=False).to_parquet(leads_pq)
    acts = pd.read_csv(trained.activities, dtype=str, keep_default_na=False)
    acts_pq.mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(acts)), 3)):
        acts.iloc[part].to_parquet(acts_pq / f"part-{i}.parquet")
    out = tmp_path / "from_parquet.csv"
    score(trained, "--leads", str(leads_pq), "--activities", str(acts_pq),
          "--output", str(out), "--config", str(small))  # fmt: skip
    c = pd.read_csv(out, keep_default_na=False)
    pd.testing.assert_frame_equal(sorted_frame(a), sorted_frame(c))


def test_existing_file_needs_force_and_bad_names_are_refused(
    trained: TrainedStore, tmp_path: Path
) -> None:
    out = tmp_path / "scores.parquet"
    score(trained, "--output", str(out))
    before = out.read_bytes()
    message = score(trained, "--output", str(out), code=2)
    assert "already exists" in message and "--force" in message
    assert out.read_bytes() == before

    db = f"sqlite:///{tmp_path / 'out.db'}"
    message = score(trained, "--output-db", db, "--output", "scores; drop table x", code=2)
    assert "not a valid table name" in message
    assert not (tmp_path / "out.db").exists()


def test_parquet_folder_keeps_a_partition_per_as_of(trained: TrainedStore, tmp_path: Path) -> None:
    folder = tmp_path / "scores"
    score(trained, "--output", str(folder))
    score(trained, "--output", str(folder), "--as-of", "2026-05-31")
    both = pd.read_parquet(folder)
    assert list(both.columns) == list(schema.OUTPUT_COLUMNS)
    per_day = both.groupby("as_of")["lead_id"].agg(["count", "nunique"])
    assert len(per_day) == 2 and (per_day["count"] == per_day["nunique"]).all()

    partition = folder / "as_of_2026-06-30T000000Z" / "scores.parquet"
    before = partition.read_bytes()
    assert "already holds scores as of 2026-06-30" in score(
        trained, "--output", str(folder), code=2
    )
    score(trained, "--output", str(folder), "--force")
    assert partition.read_bytes() == before  # the same run again: the same bytes
    assert len(pd.read_parquet(folder)) == len(both)


def test_sqlite_query_file_in_table_out(trained: TrainedStore, tmp_path: Path) -> None:
    crm = tmp_path / "crm.db"
    engine = sa.create_engine(f"sqlite:///{crm}")
    leads = pd.read_csv(trained.leads, dtype=str, keep_default_na=False)
    acts = pd.read_csv(trained.activities, dtype=str, keep_default_na=False)
    leads.to_sql("leads", engine, index=False)
    acts.to_sql("touches", engine, index=False)
    engine.dispose()
    query = tmp_path / "activities.sql"
    query.write_text("SELECT lead_id, occurred_at, activity_type, value FROM touches;\n")

    db = f"sqlite:///{crm}"
    score(trained, "--db", db, "--leads", "leads", "--activities", str(query),
          "--output-db", db, "--output", "lead_scores")  # fmt: skip
    reference = tmp_path / "reference.csv"
    score(trained, "--output", str(reference))
    with sa.create_engine(db).connect() as conn:
        table = pd.read_sql_table("lead_scores", conn)
        rejects = pd.read_sql_table("lead_scores_rejects", conn)
    expected = pd.read_csv(reference, keep_default_na=False)
    assert len(table) == len(expected)
    merged = expected.merge(table, on="lead_id", suffixes=("", "_db"))
    assert len(merged) == len(expected)
    np.testing.assert_array_equal(merged["probability"], merged["probability_db"])
    assert (merged["tier"] == merged["tier_db"]).all()
    assert (merged["reasons"] == merged["reasons_db"]).all()
    assert len(rejects) == len(pd.read_csv(tmp_path / "reference.rejects.csv"))

    missing = score(trained, "--db", db, "--leads", "no_such_table", "--output",
                    str(tmp_path / "x.csv"), code=2)  # fmt: skip
    assert "table not found" in missing


# -- PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crm_tables(postgres_url: str, trained_world: TrainedStore) -> str:
    """The trained world's export loaded into PostgreSQL tables crm_leads / crm_activities."""
    return load_export(postgres_url, trained_world, "crm")


def pg_args(url: str, output: str, *extra: str) -> list[str]:
    return ["--db", url, "--leads", "crm_leads", "--activities", "crm_activities",
            "--output-db", url, "--output", output, *extra]  # fmt: skip


def test_postgres_in_and_out_with_reruns(
    trained: TrainedStore, crm_tables: str, tmp_path: Path
) -> None:
    url = crm_tables
    score(trained, *pg_args(url, "scores_rerun"))
    first = table_rows(url, "scores_rerun")
    reference = tmp_path / "reference.csv"
    score(trained, "--output", str(reference))
    expected = pd.read_csv(reference, keep_default_na=False)
    assert len(first) == len(expected) and set(first["lead_id"]) == set(expected["lead_id"])
    merged = expected.merge(first, on="lead_id", suffixes=("", "_db"))
    np.testing.assert_array_equal(merged["probability"], merged["probability_db"])
    assert (merged["reasons"] == merged["reasons_db"]).all()  # empty reasons stay ""
    assert (merged["tier"] == merged["tier_db"]).all()
    assert (first["as_of"] == pd.Timestamp(trained.as_of, tz="UTC")).all()
    rejects = table_rows(url, "scores_rerun_rejects")
    assert len(rejects) == len(pd.read_csv(tmp_path / "reference.rejects.csv"))

    # The same as-of again: refused without --force (nothing changes), replaced with it.
    message = score(trained, *pg_args(url, "scores_rerun"), code=2)
    assert "already holds scores as of" in message and "--force" in message
    pd.testing.assert_frame_equal(table_rows(url, "scores_rerun"), first)
    score(trained, *pg_args(url, "scores_rerun", "--force"))
    pd.testing.assert_frame_equal(table_rows(url, "scores_rerun"), first)
    pd.testing.assert_frame_equal(table_rows(url, "scores_rerun_rejects"), rejects)

    # Another as-of adds its rows beside the first run's.
    score(trained, *pg_args(url, "scores_rerun", "--as-of", "2026-05-31"))
    both = table_rows(url, "scores_rerun")
    counts = both.groupby("as_of")["lead_id"].agg(["count", "nunique"])
    assert len(counts) == 2 and (counts["count"] == counts["nunique"]).all()
    assert counts.loc[pd.Timestamp(trained.as_of, tz="UTC"), "count"] == len(first)


def _wait_for(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def test_postgres_sigkill_mid_write_leaves_previous_contents(
    trained: TrainedStore, crm_tables: str
) -> None:
    url = crm_tables
    score(trained, *pg_args(url, "scores_kill"))
    before = table_rows(url, "scores_kill")
    rejects_before = table_rows(url, "scores_kill_rejects")

    # Hold a lock that lets the run read and write the rejects table but blocks its DELETE
    # on the scores table: the run is then mid-transaction, rejects already written.
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    blocker = sa.create_engine(url).connect()
    blocker.begin()
    blocker.exec_driver_sql("LOCK TABLE scores_kill IN SHARE MODE")
    process = spawn(trained, *pg_args(url, "scores_kill", "--force"))
    try:

        def waiting() -> bool:
            assert process.poll() is None, process.communicate()
            with engine.connect() as watcher:
                rows = watcher.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = 'leadscore-score' AND wait_event_type = 'Lock'"
                ).scalar()
            return bool(rows)

        _wait_for(waiting)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        blocker.rollback()
        blocker.close()
    assert process.returncode == -signal.SIGKILL
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        _wait_for(
            lambda: (
                not conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'leadscore-score'"
                ).scalar()
            )
        )
    engine.dispose()
    pd.testing.assert_frame_equal(table_rows(url, "scores_kill"), before)
    pd.testing.assert_frame_equal(table_rows(url, "scores_kill_rejects"), rejects_before)
    score(trained, *pg_args(url, "scores_kill", "--force"))  # and the next run goes through
    pd.testing.assert_frame_equal(table_rows(url, "scores_kill"), before)


@pytest.fixture
def half_leads(trained: TrainedStore, tmp_path: Path) -> Path:
    """Every other lead: a run over them is told apart from a run over all of them."""
    leads = pd.read_csv(trained.leads, dtype=str, keep_default_na=False)
    path = tmp_path / "half.csv"
    leads.iloc[::2].to_csv(path, index=False)
    return path


def _finish(processes: list[subprocess.Popen[str]]) -> list[int]:
    codes = []
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode in (0, 2), err
        codes.append(process.returncode)
    return codes


def test_concurrent_runs_on_one_table_never_interleave(
    trained: TrainedStore, crm_tables: str, half_leads: Path, tmp_path: Path
) -> None:
    url = crm_tables
    half_table = "crm_half"
    engine = sa.create_engine(url)
    pd.read_csv(half_leads, dtype=str, keep_default_na=False).to_sql(
        half_table, engine, index=False, if_exists="replace"
    )
    engine.dispose()
    full = [*pg_args(url, "scores_race", "--force")]
    half = [*pg_args(url, "scores_race", "--force")]
    half[half.index("crm_leads")] = half_table
    codes = _finish([spawn(trained, *full), spawn(trained, *half)])
    assert codes == [0, 0]
    rows = table_rows(url, "scores_race")
    assert rows["lead_id"].is_unique
    reference_all, reference_half = tmp_path / "all_scores.csv", tmp_path / "half_scores.csv"
    score(trained, "--output", str(reference_all))
    score(trained, "--leads", str(half_leads), "--activities", str(trained.activities),
          "--output", str(reference_half))  # fmt: skip
    sizes = {len(pd.read_csv(reference_all)), len(pd.read_csv(reference_half))}
    assert len(sizes) == 2 and min(sizes) > 0
    assert len(rows) in sizes  # one run's rows, never a mix

    # Without --force on a fresh table: one run writes, the other is refused.
    full[-1], half[-1] = "--as-of=2026-05-31", "--as-of=2026-05-31"
    full[full.index("scores_race")] = half[half.index("scores_race")] = "scores_race_2"
    codes = _finish([spawn(trained, *full), spawn(trained, *half)])
    assert sorted(codes) == [0, 2]
    second = table_rows(url, "scores_race_2")
    assert second["lead_id"].is_unique and len(second) > 0


def test_concurrent_runs_on_one_folder_never_interleave(
    trained: TrainedStore, half_leads: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "scores"
    runs = [
        spawn(trained, "--leads", str(trained.leads), "--activities", str(trained.activities),
              "--output", str(folder), "--force"),
        spawn(trained, "--leads", str(half_leads), "--activities", str(trained.activities),
              "--output", str(folder), "--force"),
    ]  # fmt: skip
    assert _finish(runs) == [0, 0]
    rows = pd.read_parquet(folder)
    assert rows["lead_id"].is_unique
    assert not list(folder.glob(".leadscore-staging-*"))  # nothing left behind


def test_a_held_lock_makes_the_second_run_stop_with_a_message(
    trained: TrainedStore, tmp_path: Path
) -> None:
    from filelock import FileLock

    folder = tmp_path / "scores"
    folder.mkdir()
    impatient = write_config(tmp_path / "c.yaml", {"lock_timeout_seconds": 0.5})
    with FileLock(str(folder / ".leadscore.lock")):
        message = score(trained, "--output", str(folder), "--config", str(impatient), code=1)
    assert "another leadscore run is writing" in message
    assert [p.name for p in folder.iterdir()] == [".leadscore.lock"]


# -- the model and the run record ---------------------------------------------------------


@pytest.fixture
def incompatible_version(trained: TrainedStore, tmp_path: Path) -> str:
    """A registered version whose artifact claims a format this leadscore cannot read."""
    from leadscore.models.mlflow_model import ARTIFACT_KEY, PYFUNC_ENTRY
    from leadscore.pipelines.io import tracking

    tracking.configure_tracking()
    model = tracking.load_model("models:/lead-conversion@champion").model
    folder = tmp_path / "model"
    model.save(folder)
    document = json.loads((folder / "model.json").read_text())
    document["artifact_format"] = 99
    (folder / "model.json").write_text(json.dumps(document))
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PYFUNC_ENTRY),
            artifacts={ARTIFACT_KEY: str(folder)},
            pip_requirements=[],
            registered_model_name="lead-conversion-future",
        )
    return f"models:/lead-conversion-future/{info.registered_model_version}"


def test_registry_failures_and_bad_as_of_write_nothing(
    trained: TrainedStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    incompatible_version: str,
) -> None:
    out = tmp_path / "out" / "scores.csv"
    message = score(trained, "--output", str(out), "--model", incompatible_version, code=1)
    assert "artifact format 99" in message and "retrain" in message
    message = score(
        trained, "--output", str(out), "--model", "models:/lead-conversion@nope", code=1
    )
    assert "alias 'nope'" in message
    message = score(trained, "--output", str(out), "--as-of", "30.06.2026", code=2)
    assert "--as-of" in message and "ISO 8601" in message
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)  # MLflow exports the last one
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    message = score(trained, "--output", str(out), code=1)
    assert "cannot reach the model registry at http://127.0.0.1:9" in message
    assert not out.parent.exists()


def test_run_record_and_drift_alarm(trained: TrainedStore, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    touchy = write_config(tmp_path / "touchy.yaml", {"drift_alarm_psi": 1e-6})
    result = runner.invoke(
        app,
        ["score", "--leads", str(trained.leads), "--activities", str(trained.activities),
         "--as-of", trained.as_of, "--output", str(out), "--config", str(touchy)],
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "drift alarm" in result.output
    scores = pd.read_csv(out)
    assert len(scores) > 0  # scores are still written

    client = MlflowClient()
    experiment = client.get_experiment_by_name("leadscore-scoring")  # apart from training
    assert experiment is not None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string="tags.`leadscore.job` = 'score'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    run = runs[0]
    assert run.data.tags["leadscore.published"] == "true"
    assert run.data.tags["leadscore.model_version"] == scores["model_version"].iloc[0]
    metrics = run.data.metrics
    assert metrics["scored"] == len(scores)
    for tier in schema.TIERS:
        assert metrics[f"tier_{tier}"] == (scores["tier"] == tier).sum()
    assert metrics["rejected"] == len(pd.read_csv(tmp_path / "scores.rejects.csv"))
    assert metrics["drift_alarms"] >= 1
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"feature_drift.json", "rejects_by_reason.json", "score_distribution.json"} <= artifacts
    drift = mlflow.load_table("feature_drift.json", run_ids=[run.info.run_id])
    assert set(drift.columns) >= {"feature", "psi"} and len(drift) > 10

    # With the default threshold, the same data raises no alarm (drift is measured against
    # the leads open in the last weeks of the training data, the population it scores).
    result = runner.invoke(
        app,
        ["score", "--leads", str(trained.leads), "--activities", str(trained.activities),
         "--as-of", trained.as_of, "--output", str(out), "--force", "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def test_train_reads_a_database_too(
    trained_world: TrainedStore, tmp_path: Path, mlflow_store: str
) -> None:
    crm = tmp_path / "crm.db"
    engine = sa.create_engine(f"sqlite:///{crm}")
    pd.read_csv(trained_world.leads, dtype=str, keep_default_na=False).to_sql(
        "leads", engine, index=False
    )
    pd.read_csv(trained_world.activities, dtype=str, keep_default_na=False).to_sql(
        "activities", engine, index=False
    )
    engine.dispose()
    (tmp_path / "quick.yaml").write_text(json.dumps({"backtest": {"folds": 0}}))
    result = runner.invoke(
        app,
        ["train", "--db", f"sqlite:///{crm}", "--leads", "leads", "--activities", "activities",
         "--config", str(tmp_path / "quick.yaml")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Registered lead-conversion v1" in " ".join(result.output.split())


def test_reason_texts_match_a_plain_per_lead_wording(trained: TrainedStore) -> None:
    """The array-built reasons say exactly what a loop over leads would say."""
    from leadscore.features.build import build_features
    from leadscore.features.snapshots import rows_as_of
    from leadscore.models.scorer import describe
    from leadscore.pipelines.config import Config
    from leadscore.pipelines.io import tracking
    from leadscore.pipelines.io.tables import load_tables

    tracking.configure_tracking()
    model = tracking.load_model("models:/lead-conversion@champion").model
    tables = load_tables(trained.leads, trained.activities, Config())
    rows = rows_as_of(tables.leads["lead_id"], pd.Timestamp(trained.as_of, tz="UTC"))
    features = build_features(tables.leads, tables.activities, rows, model.spec)
    contrib, _ = model.contributions(features)
    defs = model.spec.definitions()
    texts = describe(contrib, features, defs, 4, 0.02)
    for r in range(0, len(rows), 7):
        parts = []
        for j in np.argsort(-np.abs(contrib[r]), kind="stable")[:4]:
            if abs(contrib[r, j]) < 0.02:
                break
            d = defs[j]
            value = features[d.name].iloc[r]
            sign = "+" if contrib[r, j] > 0 else "-"
            parts.append(f"{sign} {d.label}: {d.format_value(None if pd.isna(value) else value)}")
        assert texts[r] == "; ".join(parts)


def test_the_share_of_bad_lead_rows_is_judged_over_the_whole_table_in_chunks(
    trained: TrainedStore, tmp_path: Path
) -> None:
    """Leads closed before they were created, set aside when few: chunked scoring judges
    their share over the whole table (a chunk of 200 leads may hold more than 1%, the table
    does not) and writes the same rows and rejects as a whole-table run; a few more stop
    both runs with the same message, before anything is written."""
    leads = pd.read_csv(trained.leads, dtype=str, keep_default_na=False)
    closed = leads.index[leads["closed_at"] != ""]
    small = write_config(tmp_path / "small.yaml", {"chunk_leads": 200})  # 8 chunks

    bad = closed[:14]  # 14 of 1500: 0.93%
    broken = leads.copy()
    broken.loc[bad, "closed_at"] = "2020-01-01T00:00:00Z"
    path = tmp_path / "leads.csv"
    broken.to_csv(path, index=False)
    data = ["--leads", str(path), "--activities", str(trained.activities)]
    score(trained, *data, "--output", str(tmp_path / "whole.csv"))
    score(trained, *data, "--output", str(tmp_path / "chunked.csv"), "--config", str(small))
    for name in ("whole", "chunked"):
        rejects = pd.read_csv(tmp_path / f"{name}.rejects.csv", keep_default_na=False)
        lead_rejects = rejects[rejects["reason"] == "closed before it was created"]
        assert sorted(lead_rejects["row"]) == [int(i) + 1 for i in bad]
        assert set(lead_rejects["source"]) == {str(path)}
    ra = pd.read_csv(tmp_path / "whole.rejects.csv", keep_default_na=False)
    rb = pd.read_csv(tmp_path / "chunked.rejects.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(sorted_frame(ra), sorted_frame(rb))
    a = pd.read_csv(tmp_path / "whole.csv", keep_default_na=False)
    b = pd.read_csv(tmp_path / "chunked.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(sorted_frame(a), sorted_frame(b))

    broken.loc[closed[14:16], "closed_at"] = "2020-01-01T00:00:00Z"  # 16 of 1500: 1.07%
    broken.to_csv(path, index=False)
    messages = [
        score(
            trained, *data, "--output", str(tmp_path / "out" / "scores.csv"), *extra, code=2
        ).split("error: ")[-1]  # chunks warn of their rejects before
        for extra in ([], ["--config", str(small)])
    ]
    assert messages[0] == messages[1]
    assert "closed before it was created at data row" in messages[0]
    assert "16 of 1500 rows have row-level faults (1.07%)" in messages[0]
    assert not (tmp_path / "out").exists() or not [
        p for p in (tmp_path / "out").iterdir() if not p.name.endswith(".lock")
    ]
