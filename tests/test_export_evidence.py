"""Real exports, zero edits: which column is the outcome, which columns leak, judged on all
the evidence and against the base rate, on small hand-made exports. A choice the data leaves
open becomes a question that stops training until the user answers it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from leadscore.features.leakage import LeakageSettings, find_leaks, judgement_evidence
from leadscore.features.registry import attribute_feature
from leadscore.pipelines.config import (
    Config,
    ConfigError,
    load_config,
    open_questions,
    require_settled,
    with_outcome,
)
from leadscore.pipelines.errors import InputError
from leadscore.pipelines.fitting import fit
from leadscore.pipelines.inspect import inspect_export, starter_config
from leadscore.pipelines.io.sources import as_source
from leadscore.pipelines.io.tables import prepare_tables


def _export(tmp_path: Path, frame: pd.DataFrame, name: str = "export.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _inspect(tmp_path: Path, frame: pd.DataFrame, outcome: str | None = None):  # type: ignore[no-untyped-def]
    return inspect_export(as_source(_export(tmp_path, frame)), None, Config(), outcome)


def _starter(tmp_path: Path, found) -> Config:  # type: ignore[no-untyped-def]
    path = tmp_path / "starter.yaml"
    path.write_text(starter_config(found), encoding="utf-8")
    return load_config(path)


def _flags(n: int, seed: int) -> pd.DataFrame:
    """A flat export: a do-not-contact flag and a region dummy before the real outcome."""
    rng = np.random.default_rng(seed)
    converted = (rng.random(n) < 0.2).astype(int)
    return pd.DataFrame(
        {
            "Do Not Email": np.where(rng.random(n) < 0.1, "Yes", "No"),
            "Region North": (rng.random(n) < 0.4).astype(int),
            "Total Visits": rng.poisson(3 + converted),
            "Converted": converted,
        }
    )


def test_the_outcome_is_the_column_the_evidence_names_not_the_first_flag(tmp_path: Path) -> None:
    found = _inspect(tmp_path, _flags(600, seed=1))
    assert found.outcome_column == "Converted"
    assert found.outcome_question == []
    ranked = [c.column for c in found.outcome_candidates]
    assert ranked[0] == "Converted" and set(ranked) >= {"Do Not Email", "Region North"}
    best = found.outcome_candidates[0]
    assert any("name" in e for e in best.evidence)  # the evidence is shown, not just a pick
    config = _starter(tmp_path, found)
    assert config.columns.leads == {"Converted": "outcome"}
    require_settled(config)  # nothing left to ask


def test_close_candidates_become_a_question_and_train_refuses_until_answered(
    tmp_path: Path,
) -> None:
    frame = _flags(600, seed=2).rename(columns={"Converted": "Flag B"})
    frame = frame.drop(columns=["Do Not Email"])  # two unnamed 0/1 flags: nothing decides
    found = _inspect(tmp_path, frame)
    assert found.outcome_column is None
    assert set(found.outcome_question) == {"Region North", "Flag B"}
    assert found.readiness[0].startswith("Not ready: 2 columns could be the outcome")
    text = starter_config(found)
    assert '# "Flag B": outcome' in text  # offered, commented out, with its evidence
    config = _starter(tmp_path, found)
    assert set(config.questions.outcome) == {"Region North", "Flag B"}
    with pytest.raises(ConfigError, match="Which column is the outcome"):
        require_settled(config)
    answered = with_outcome(config, "Flag B")  # what `train --outcome "Flag B"` does
    assert answered.columns.leads == {"Flag B": "outcome"}
    assert open_questions(answered) == []
    # The answer given to inspect runs the leak checks against it and maps it.
    again = _inspect(tmp_path, frame, outcome="Flag B")
    assert again.outcome_column == "Flag B" and again.outcome_question == []


def test_a_date_filled_for_won_leads_only_is_a_leak_not_a_feature(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 800
    won = rng.random(n) < 0.25
    created = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
    frame = pd.DataFrame(
        {
            "Lead Id": [f"L{i:05d}" for i in range(n)],
            "Created": created.strftime("%Y-%m-%d"),
            "Outcome": np.where(won, "won", "lost"),
            "Won Date": np.where(won, (created + pd.Timedelta(days=20)).strftime("%Y-%m-%d"), ""),
            "Industry": rng.choice(["Software", "Retail", "Media"], n),
        }
    )
    found = _inspect(tmp_path, frame)
    leaks = {leak.column: leak.reason for leak in found.leaks}
    assert set(leaks) == {"Won Date"}
    assert "a date filled only for won leads" in leaks["Won Date"]
    config = _starter(tmp_path, found)
    assert config.features.column_roles == {"Won Date": "ignore"}


def test_purity_toward_the_majority_at_a_low_base_rate_is_no_leak() -> None:
    rng = np.random.default_rng(4)
    n = 6000
    y = (rng.random(n) < 0.075).astype(int)  # 92.5% lost
    # A legitimate value that is 99% lost (an e-mail origin, a student seniority).
    origin = np.where((y == 0) & (rng.random(n) < 0.3), "email", "web")
    origin = np.where((y == 1) & (rng.random(n) < 0.025), "email", origin)
    # A field written once the deal was lost: not one won lead has it.
    lost_reason = np.where((y == 0) & (rng.random(n) < 0.5), 1.0, np.nan)
    frame = pd.DataFrame({"attr__origin": origin, "attr__lost_reason": lost_reason})
    defs = [attribute_feature("origin", "categorical"), attribute_feature("lost_reason", "numeric")]
    leaks = find_leaks(frame, y, np.arange(n).astype(str), defs, LeakageSettings())
    found = {leak.feature: leak.evidence for leak in leaks}
    assert set(found) == {"attr__lost_reason"}
    assert "lost" in found["attr__lost_reason"] and "expected there" in found["attr__lost_reason"]


def test_a_column_present_for_every_lead_at_a_tiny_base_rate_is_no_leak() -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    y = (rng.random(n) < 0.009).astype(int)  # an e-mail campaign: 0.9% respond
    frame = pd.DataFrame(
        {
            "attr__opens": rng.poisson(2 + y),  # present for everyone
            "attr__segment": rng.choice(["a", "b", "c"], n),
        }
    )
    defs = [attribute_feature("opens", "numeric"), attribute_feature("segment", "categorical")]
    assert find_leaks(frame, y, np.arange(n).astype(str), defs, LeakageSettings()) == []


def test_rows_of_one_lead_count_as_one_piece_of_evidence() -> None:
    """A thousand snapshot rows of five leads are not a thousand leads' worth of evidence."""
    y = np.repeat([0, 0, 0, 1, 0], 200)
    ids = np.repeat(["a", "b", "c", "d", "e"], 200)
    frame = pd.DataFrame({"attr__flag": np.where(ids < "d", 1.0, np.nan)})
    defs = [attribute_feature("flag", "numeric")]
    assert find_leaks(frame, y, ids, defs, LeakageSettings()) == []
    many = np.arange(len(y)).astype(str)  # the same rows as 1,000 separate leads: a leak
    found = find_leaks(frame, y, many, defs, LeakageSettings())
    assert [leak.feature for leak in found] == ["attr__flag"]
    assert "being present" in found[0].evidence


def _sales_verdicts(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    won = rng.random(n) < 0.2
    touched = rng.random(n) < np.where(won, 0.8, 0.4)  # sales looked at winners more often
    verdict = np.where(won, rng.choice(["Hot", "Warm"], n, p=[0.7, 0.3]), "")
    verdict = np.where(~won, rng.choice(["Cold", "Warm"], n, p=[0.7, 0.3]), verdict)
    return pd.DataFrame(
        {
            "Lead Id": [f"L{i:05d}" for i in range(n)],
            "Outcome": np.where(won, "won", "lost"),
            "Rating": np.where(touched, verdict, ""),
            "Lead Score": np.round(np.where(won, 60, 30) + rng.normal(0, 15, n)),
            "Industry": rng.choice(["Software", "Retail", "Media", "Logistics"], n),
            "Employees": rng.integers(1, 5000, n),
        }
    )


def test_sales_side_judgements_are_flagged_with_evidence(tmp_path: Path) -> None:
    found = _inspect(tmp_path, _sales_verdicts(1500, seed=6))
    leaks = {leak.column: leak.reason for leak in found.leaks}
    assert set(leaks) == {"Rating", "Lead Score"}
    assert "sales-side judgement" in leaks["Rating"] and "ROC AUC" in leaks["Rating"]
    assert "a number" in leaks["Lead Score"]
    config = _starter(tmp_path, found)
    assert config.features.column_roles == {"Rating": "ignore", "Lead Score": "ignore"}


def test_judgement_needs_the_name_and_the_values_not_one_of_them() -> None:
    frame = _sales_verdicts(1500, seed=7)
    y = (frame["Outcome"] == "won").to_numpy().astype(int)
    ids = frame["Lead Id"].to_numpy()
    settings = LeakageSettings()
    rating = frame["Rating"].replace("", np.nan)
    assert judgement_evidence("Rating", rating, y, ids, settings, numeric=False) is not None
    # The same values under a neutral name are a strong feature, not a sales verdict.
    assert judgement_evidence("Climate", rating, y, ids, settings, numeric=False) is None
    # A name like a rating over values that read like nothing of the kind is no evidence.
    industry = frame["Industry"]
    assert judgement_evidence("Industry Tags", industry, y, ids, settings, numeric=False) is None


def test_a_strong_column_is_a_question_not_a_silent_choice(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    n = 2000
    won = rng.random(n) < 0.15
    frame = pd.DataFrame(
        {
            "Page Value": np.where(won, rng.exponential(30, n), rng.exponential(2, n)).round(2),
            "Visits": rng.poisson(3, n),
            "Revenue": np.where(won, "TRUE", "FALSE"),
        }
    )
    found = _inspect(tmp_path, frame)
    assert [q.column for q in found.questions] == ["Page Value"]
    assert "Page Value" not in {leak.column for leak in found.leaks}  # asked, not dropped
    config = _starter(tmp_path, found)
    assert config.questions.known_before_outcome == ("Page Value",)
    with pytest.raises(ConfigError, match="known before the outcome"):
        require_settled(config)
    text = (tmp_path / "starter.yaml").read_text()
    answered = yaml.safe_load(
        text.replace('# QUESTION: "Page Value": ignore', '"Page Value": numeric')
    )
    assert open_questions(Config.model_validate(answered)) == []


def test_no_feature_left_is_an_input_error_not_a_traceback() -> None:
    rng = np.random.default_rng(9)
    n = 600
    won = rng.random(n) < 0.3
    leads = pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(n)],
            "outcome": np.where(won, "won", "lost"),
            "amount": np.where(won, rng.uniform(100, 900, n), np.nan),  # written at the win
        }
    )
    config = Config()
    with pytest.raises(InputError, match=r"no feature is left to learn from.*attr__amount"):
        fit(prepare_tables(leads, None, config), config, "flat.csv")
