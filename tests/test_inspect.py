"""From a raw export to a trained model: `inspect` on the bank-marketing export, and the
mapping presets on a generated export renamed the way CRMs name things."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from leadscore.pipelines.cli import app
from leadscore.pipelines.config import Config, load_config
from leadscore.pipelines.fitting import fit
from leadscore.pipelines.io.tables import load_tables
from leadscore.pipelines.synthetic import generate, write_world

pytestmark = pytest.mark.integration
runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
BANK = ROOT / "data" / "external" / "bank-marketing" / "bank-additional-full.csv"
PRESETS = ROOT / "configs" / "presets"


def test_inspect_bank_marketing_finds_outcome_leak_placeholders_and_trains(
    tmp_path: Path, mlflow_store: str
) -> None:
    starter = tmp_path / "bank.yaml"
    result = runner.invoke(app, ["inspect", "--leads", str(BANK), "--write-config", str(starter)])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "Outcome: column 'y'" in out
    assert "no │ 36548 │ lost" in out and "yes │ 4640 │ won" in out
    assert "question 'duration'" in out and "ROC AUC 0.8" in out  # asked, never guessed
    assert "'unknown' (12718)" in out  # CRM placeholder read as missing
    assert "Ready: 4640 won and 36548 lost" in out

    config = yaml.safe_load(starter.read_text())
    assert config["columns"]["leads"] == {"y": "outcome"}
    assert config["questions"] == {"known_before_outcome": ["duration"]}
    flagged = [line for line in starter.read_text().splitlines() if "duration" in line]
    assert any("QUESTION" in line and "ROC AUC 0.8" in line for line in flagged)
    assert config["export"]["row_number_as_lead_id"] is True

    # Training stops with the one question until it is answered.
    asked = runner.invoke(app, ["train", "--leads", str(BANK), "--config", str(starter), "-q"])
    assert asked.exit_code == 2
    assert "Is 'duration' known before the outcome?" in " ".join(asked.output.split())
    text = starter.read_text().replace('# QUESTION: "duration": ignore', '"duration": ignore')
    starter.write_text(text)
    assert load_config(starter).features.column_roles == {"duration": "ignore"}

    # Answered, the starter config trains.
    trained = runner.invoke(app, ["train", "--leads", str(BANK), "--config", str(starter), "-q"])
    assert trained.exit_code == 0, trained.output
    assert "Registered lead-conversion v1" in " ".join(trained.output.split())


def _renamed(world: Path, preset: Path, outcomes: dict[str, str], out: Path) -> None:
    """The generated export with the preset's column names and the CRM's outcome words."""
    config = yaml.safe_load(preset.read_text())
    to_crm = {v: k for k, v in config["columns"]["leads"].items()}
    leads = pd.read_csv(world / "leads.csv", dtype=str, keep_default_na=False)
    leads["outcome"] = leads["outcome"].map(outcomes)
    leads.rename(columns=to_crm).to_csv(out / "leads.csv", index=False)
    acts_to_crm = {v: k for k, v in config["columns"]["activities"].items()}
    acts = pd.read_csv(world / "activities.csv", dtype=str, keep_default_na=False)
    acts.rename(columns=acts_to_crm).to_csv(out / "activities.csv", index=False)


@pytest.mark.parametrize(
    ("preset", "outcomes"),
    [
        ("hubspot-contacts.yaml", {"won": "Customer", "lost": "Unqualified", "": "In Progress"}),
        (
            "salesforce-leads.yaml",
            {"won": "Closed - Converted", "lost": "Closed - Not Converted",
             "": "Working - Contacted"},
        ),
    ],
)  # fmt: skip
def test_presets_train_like_the_canonical_names(
    preset: str, outcomes: dict[str, str], tmp_path: Path, mlflow_store: str
) -> None:
    world = tmp_path / "world"
    write_world(generate(2500, seed=8), world)
    crm = tmp_path / "crm"
    crm.mkdir()
    _renamed(world, PRESETS / preset, outcomes, crm)
    header = pd.read_csv(crm / "leads.csv", nrows=0).columns
    assert "lead_id" not in header and "outcome" not in header  # really renamed

    quick = {"backtest": {"folds": 0}}
    canonical = fit(
        load_tables(world / "leads.csv", world / "activities.csv", Config.model_validate(quick)),
        Config.model_validate(quick),
        "canonical",
    )
    preset_config = load_config(PRESETS / preset).model_copy(
        update={"backtest": Config.model_validate(quick).backtest}
    )
    mapped = fit(
        load_tables(crm / "leads.csv", crm / "activities.csv", preset_config),
        preset_config,
        "preset",
    )
    for key in ("roc_auc", "pr_auc", "log_loss"):
        np.testing.assert_allclose(mapped.metrics[key], canonical.metrics[key], rtol=0, atol=1e-12)

    # And the CLI trains with the preset file as it is.
    result = runner.invoke(
        app,
        ["train", "--leads", str(crm / "leads.csv"), "--activities", str(crm / "activities.csv"),
         "--config", str(PRESETS / preset), "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
