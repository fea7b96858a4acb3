"""The mapping lives with the model: a model trained on a raw CRM export (its own column names
and outcome words, read with a preset) scores, explains and builds features from the same
raw export without the training config."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from leadscore.pipelines.cli import app
from leadscore.pipelines.synthetic import generate, write_world

pytestmark = pytest.mark.integration
runner = CliRunner()
PRESET = Path(__file__).resolve().parents[1] / "configs" / "presets" / "hubspot-contacts.yaml"
OUTCOMES = {"won": "Customer", "lost": "Unqualified", "": "In Progress"}
AS_OF = "2026-06-30"


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return " ".join(result.output.split())


def crm_export(folder: Path) -> tuple[Path, Path]:
    """A generated export with HubSpot-like headers and outcome words."""
    write_world(generate(1500, seed=8), folder / "world")
    preset = yaml.safe_load(PRESET.read_text())
    leads = pd.read_csv(folder / "world" / "leads.csv", dtype=str, keep_default_na=False)
    leads["outcome"] = leads["outcome"].map(OUTCOMES)
    leads = leads.rename(columns={v: k for k, v in preset["columns"]["leads"].items()})
    acts = pd.read_csv(folder / "world" / "activities.csv", dtype=str, keep_default_na=False)
    acts = acts.rename(columns={v: k for k, v in preset["columns"]["activities"].items()})
    leads.to_csv(folder / "leads.csv", index=False)
    acts.to_csv(folder / "activities.csv", index=False)
    assert "lead_id" not in leads.columns and "outcome" not in leads.columns
    return folder / "leads.csv", folder / "activities.csv"


def test_score_explain_and_features_read_the_raw_export_without_the_config(
    tmp_path: Path, mlflow_store: str
) -> None:
    leads, acts = crm_export(tmp_path)
    config = yaml.safe_load(PRESET.read_text()) | {"backtest": {"folds": 0}}
    config_path = tmp_path / "training.yaml"
    config_path.write_text(yaml.safe_dump(config))
    data = ["--leads", str(leads), "--activities", str(acts)]
    invoke("train", *data, "--config", str(config_path), "-q")

    with_config, without = tmp_path / "with.csv", tmp_path / "without.csv"
    invoke("score", *data, "--as-of", AS_OF, "--output", str(with_config),
           "--config", str(config_path), "-q")  # fmt: skip
    output = invoke("score", *data, "--as-of", AS_OF, "--output", str(without), "-q")
    assert "differently" not in output
    a = pd.read_csv(with_config, keep_default_na=False)
    b = pd.read_csv(without, keep_default_na=False)
    assert len(a) > 100
    pd.testing.assert_frame_equal(a, b)  # the same probabilities, tiers and reasons
    rejects = pd.read_csv(tmp_path / "without.rejects.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(
        rejects, pd.read_csv(tmp_path / "with.rejects.csv", keep_default_na=False)
    )

    # A config that reads the export differently is used, with a warning naming the keys.
    other = dict(config, outcome_values={**config["outcome_values"]})
    other["outcome_values"]["open"] = [*config["outcome_values"]["open"], "on hold"]
    other_path = tmp_path / "other.yaml"
    other_path.write_text(yaml.safe_dump(other))
    output = invoke("score", *data, "--as-of", AS_OF, "--output", str(tmp_path / "o.csv"),
                    "--config", str(other_path), "-q")  # fmt: skip
    assert "reads the export differently from lead-conversion/1" in output
    assert "outcome_values.open" in output
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "o.csv", keep_default_na=False), a)

    lead = str(a.sort_values("probability").iloc[-1]["lead_id"])
    output = invoke("explain", "--lead-id", lead, *data, "--as-of", AS_OF)
    assert f"Lead {lead} as of {AS_OF}" in output
    assert f"{a.set_index('lead_id').loc[lead, 'probability']:.1%}" in output

    table = tmp_path / "features.csv"
    invoke("features", *data, "--as-of", AS_OF, "--output", str(table),
           "--model", "models:/lead-conversion@champion")  # fmt: skip
    features = pd.read_csv(table, keep_default_na=False)
    assert set(a["lead_id"].astype(str)) <= set(features["lead_id"].astype(str))
