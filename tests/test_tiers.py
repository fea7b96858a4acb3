"""The default tier policy (odds_ratio) keeps tiers meaningful from a 1% to a 60% base rate:
every tier non-empty and ordered by win rate when the model ranks, SQL a minority, and a
note that says why when a tier cannot be supported."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy.optimize import brentq
from scipy.special import expit

from leadscore.features import schema
from leadscore.models.settings import ThresholdSettings, TierPolicy
from leadscore.models.thresholds import (
    HeldOut,
    Policy,
    Thresholds,
    learn_thresholds,
    odds_target,
    tier_table,
)

BASE_RATES = (0.01, 0.10, 0.40, 0.60)


def _world(base: float, n: int = 8000, slope: float = 1.5, seed: int = 0) -> HeldOut:
    """Leads with a latent quality z ~ N(0, 1) that close with probability
    expit(intercept + slope z), the intercept set so that ``base`` of them close; the model's
    calibrated probability is that chance (ROC AUC about 0.8)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    intercept = brentq(lambda a: expit(a + slope * z).mean() - base, -30, 30)
    p = expit(intercept + slope * z)
    return HeldOut.of(p, (rng.random(n) < p).astype(int))


def _learn(held: HeldOut, settings: ThresholdSettings | None = None) -> Thresholds:
    settings = settings or ThresholdSettings()
    return learn_thresholds(
        held, settings.sql.as_policy(), settings.mql.as_policy(), settings.min_tier_rows
    )


def _table(held: HeldOut, thresholds: Thresholds) -> pd.DataFrame:
    return tier_table(held, thresholds, n_boot=0).set_index("tier")


def _odds(rate: float) -> float:
    return rate / (1 - rate)


@pytest.mark.parametrize("base", BASE_RATES)
def test_default_tiers_are_non_empty_ordered_and_sql_a_minority(base: float) -> None:
    held = _world(base)
    thresholds = _learn(held)
    assert thresholds.sql_policy.policy == thresholds.mql_policy.policy == "odds_ratio"
    table = _table(held, thresholds)
    rates, shares = table["win_rate"], table["share_of_leads"]
    assert (table["rows"] > 0).all(), table
    assert rates[schema.TIER_SQL] > rates[schema.TIER_MQL] > rates[schema.TIER_UNQUALIFIED]
    assert shares[schema.TIER_SQL] <= 0.30 + 1e-9
    # The promises hold where they were learned: SQL at 3x, MQL at 1.5x the average odds.
    overall = float(held.y.mean())
    assert _odds(rates[schema.TIER_SQL]) >= 3 * _odds(overall)
    assert _odds(rates[schema.TIER_MQL]) >= 1.5 * _odds(overall)
    assert rates[schema.TIER_UNQUALIFIED] < overall


@pytest.mark.parametrize("base", BASE_RATES)
def test_default_tiers_keep_their_order_on_new_leads_of_the_same_world(base: float) -> None:
    thresholds = _learn(_world(base, seed=1))
    fresh = _world(base, n=40_000, seed=2)
    table = _table(fresh, thresholds)
    rates = table["win_rate"]
    assert rates[schema.TIER_SQL] > rates[schema.TIER_MQL] > rates[schema.TIER_UNQUALIFIED]
    assert table.loc[schema.TIER_SQL, "share_of_leads"] < 0.35


def test_at_a_60_percent_base_rate_sql_is_a_capped_minority_that_stands_out() -> None:
    held = _world(0.6, slope=2.5)  # a strong model: 40% of leads would reach SQL's target
    thresholds = _learn(held)
    table = _table(held, thresholds)
    sql = table.loc[schema.TIER_SQL]
    assert 0.25 < sql["share_of_leads"] <= 0.30 + 1e-9
    rest = held.y[thresholds.assign(held.p) != schema.TIER_SQL].mean()
    assert sql["win_rate"] > 0.9 > rest + 0.3
    assert any("max_share" in note and note.startswith("SQL") for note in thresholds.notes)


def test_a_model_with_one_probability_for_everyone_has_no_tiers_and_says_why() -> None:
    y = (np.random.default_rng(3).random(5000) < 0.1).astype(int)
    held = HeldOut.of(np.full(5000, 0.1), y)
    thresholds = _learn(held)
    assert (thresholds.assign(held.p) == schema.TIER_UNQUALIFIED).all()
    assert [note.split(":")[0] for note in thresholds.notes] == [schema.TIER_SQL, schema.TIER_MQL]
    assert all("same probability" in note and "stays empty" in note for note in thresholds.notes)


def test_a_model_that_does_not_rank_leaves_sql_empty_with_a_note() -> None:
    rng = np.random.default_rng(4)
    p = 0.4 + rng.normal(0, 0.01, 5000)  # varies, but says nothing about the outcome
    held = HeldOut.of(p, (rng.random(5000) < 0.4).astype(int))
    thresholds = _learn(held)
    assert not (thresholds.assign(p) == schema.TIER_SQL).any()
    sql_note = next(note for note in thresholds.notes if note.startswith("SQL"))
    assert "SQL tier stays empty" in sql_note


def test_too_few_rows_leave_the_tier_empty_with_a_note() -> None:
    p = np.array([0.9] * 20 + [0.05] * 1000)  # 20 sure leads: a clear tier, but a small one
    y = np.array([1] * 20 + [1] * 50 + [0] * 950)
    thresholds = _learn(HeldOut.of(p, y))
    assert (thresholds.assign(p) == schema.TIER_UNQUALIFIED).all()
    assert len(thresholds.notes) == 2
    assert all(
        "only 20 held-out rows" in note and "min_tier_rows" in note for note in thresholds.notes
    )


def test_odds_ratio_mql_lies_below_any_sql_policy() -> None:
    held = _world(0.1)
    mql = Policy("odds_ratio", 1.5)
    thresholds = learn_thresholds(held, Policy("top_share", 0.05), mql, 30)
    table = _table(held, thresholds)
    assert table.loc[schema.TIER_SQL, "share_of_leads"] == pytest.approx(0.05, abs=0.005)
    assert table.loc[schema.TIER_MQL, "rows"] > 0
    assert table.loc[schema.TIER_MQL, "win_rate"] >= odds_target(float(held.y.mean()), 1.5)


def test_odds_target_reads_as_the_docstring_says() -> None:
    assert odds_target(0.01, 3) == pytest.approx(0.0294, abs=1e-4)
    assert odds_target(0.10, 3) == pytest.approx(0.25)
    assert odds_target(0.40, 3) == pytest.approx(2 / 3)
    assert odds_target(0.60, 3) == pytest.approx(0.818, abs=1e-3)


def test_settings_default_to_odds_ratio_and_validate() -> None:
    default = ThresholdSettings()
    assert default.sql.as_policy() == Policy("odds_ratio", 3.0, max_share=0.3)
    assert default.mql.as_policy() == Policy("odds_ratio", 1.5)
    old = {"policy": "win_rate", "target": 0.5}, {"policy": "capture_share", "target": 0.9}
    explicit = ThresholdSettings.model_validate({"sql": old[0], "mql": old[1]})
    assert explicit.sql.as_policy() == Policy("win_rate", 0.5)
    assert explicit.mql.as_policy() == Policy("capture_share", 0.9)
    with pytest.raises(ValidationError, match="target above 1"):
        TierPolicy(policy="odds_ratio", target=0.5)
    with pytest.raises(ValidationError, match="max_share applies to policy odds_ratio only"):
        TierPolicy(policy="win_rate", target=0.5, max_share=0.3)
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        TierPolicy(policy="odds_ratio", target=3, max_share=1.5)
    with pytest.raises(ValidationError, match="must be below SQL's"):
        ThresholdSettings.model_validate({"mql": {"policy": "odds_ratio", "target": 3}})


def test_thresholds_round_trip_with_max_share_and_load_older_ones() -> None:
    thresholds = _learn(_world(0.4))
    again = Thresholds.from_dict(thresholds.to_dict())
    assert again == thresholds and again.sql_policy.max_share == 0.3
    older = thresholds.to_dict()
    del older["sql_policy"]["max_share"], older["mql_policy"]["max_share"]
    assert Thresholds.from_dict(older).sql_policy.max_share is None
