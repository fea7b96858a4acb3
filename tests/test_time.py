"""Time in training rows and tier promises: every closed lead contributes, also one decided
within a day; when wins take longer than losses and the inflow grows, the open leads still
get the win rate they will have; the tier promise stored with a model is measured out of
time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.features import schema
from leadscore.features.build import build_features
from leadscore.features.snapshots import LABEL, WEIGHT, Inflow, rows_as_of, training_rows
from leadscore.features.timeutil import to_epoch_seconds
from leadscore.pipelines.config import Config
from leadscore.pipelines.fitting import fit
from leadscore.pipelines.io.tables import prepare_tables
from leadscore.pipelines.synthetic import generate


def _same_day_world(n: int, seed: int) -> pd.DataFrame:
    """Every lead is decided within hours of its creation (a phone campaign)."""
    rng = np.random.default_rng(seed)
    created = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(
        np.sort(rng.uniform(0, 365 * 86400, n)), unit="s"
    )
    hours = rng.uniform(0.0, 20.0, n)
    won = rng.random(n) < 0.2
    return pd.DataFrame(
        {
            schema.LEAD_ID: [f"C{i:05d}" for i in range(n)],
            schema.CREATED_AT: created,
            schema.CLOSED_AT: created + pd.to_timedelta(hours, unit="h"),
            schema.OUTCOME: np.where(won, schema.WON, schema.LOST),
        }
    )


def test_every_lead_decided_within_a_day_gets_one_row_inside_its_life() -> None:
    leads = _same_day_world(500, seed=1)
    rows = training_rows(
        leads, data_end=pd.Timestamp("2026-01-01", tz="UTC"),
    )  # fmt: skip
    assert rows[schema.LEAD_ID].is_unique and len(rows) == len(leads)
    joined = rows.join(leads.set_index(schema.LEAD_ID), on=schema.LEAD_ID)
    assert (joined[schema.AS_OF] >= joined[schema.CREATED_AT]).all()
    assert (joined[schema.AS_OF] < joined[schema.CLOSED_AT]).all()  # never after the decision
    assert (rows[LABEL] == (joined[schema.OUTCOME] == schema.WON)).all()
    # Weighted by the share of a 7-day step each was open, at least a day's worth.
    assert rows[WEIGHT].between(1 / 7 - 1e-9, 1.0).all()


def test_short_and_long_lives_weigh_like_the_nights_they_were_open() -> None:
    created = pd.Timestamp("2025-03-06 09:00", tz="UTC")  # just after a grid midnight
    leads = pd.DataFrame(
        {
            schema.LEAD_ID: ["short", "long"],
            schema.CREATED_AT: [created, created],
            schema.CLOSED_AT: [created + pd.Timedelta(days=3), created + pd.Timedelta(days=70)],
            schema.OUTCOME: [schema.WON, schema.LOST],
        }
    )
    rows = training_rows(
        leads, every_days=7, max_rows_per_lead=5, no_close_date_horizon_days=14,
        data_end=pd.Timestamp("2026-01-01", tz="UTC"),
    )  # fmt: skip
    weight = rows.groupby(schema.LEAD_ID)[WEIGHT].sum()
    assert weight["short"] == pytest.approx(3 / 7)
    assert weight["long"] == pytest.approx(10)  # ten weekly nights, thinned to five rows
    assert (rows[schema.LEAD_ID] == "long").sum() == 5


@pytest.mark.integration
def test_an_export_of_same_day_decisions_trains_and_ranks() -> None:
    world = generate(3000, seed=21)
    leads = world.leads.copy()
    closed = leads[schema.OUTCOME] != ""
    created = pd.to_datetime(leads[schema.CREATED_AT], utc=True)
    leads[schema.CLOSED_AT] = (created + pd.Timedelta(hours=20)).where(closed)
    config = Config.model_validate({"backtest": {"folds": 0}})
    fitted = fit(prepare_tables(leads, None, config), config, "same-day export")
    assert fitted.rows[schema.LEAD_ID].nunique() == int(closed.sum())  # nobody dropped
    assert fitted.metrics["roc_auc"] > 0.6


@pytest.mark.integration
def test_the_stored_tier_promise_is_measured_out_of_time() -> None:
    world = generate(3000, seed=22)
    config = Config.model_validate({"backtest": {"folds": 0}})
    fitted = fit(prepare_tables(world.leads, world.activities, config), config, "generated")
    stored = pd.DataFrame(fitted.model.metadata["tier_table"])
    pd.testing.assert_frame_equal(stored, fitted.tiers_test.reset_index(drop=True))
    assert "out of time" in fitted.model.metadata["tier_table_basis"]
    in_sample = pd.DataFrame(fitted.model.metadata["tier_table_in_sample"])
    pd.testing.assert_frame_equal(in_sample, fitted.tiers_final.reset_index(drop=True))


def _slow_wins_world(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Leads (as the CRM shows them at the export date) and their true outcomes: wins take
    1.5 to 10 months, losses 45 days on average (exponential), and the inflow grows tenfold
    over the year, so the leads closed lately are mostly quick losses of the large recent
    cohorts, and a lead's age alone does not tell a future win."""
    rng = np.random.default_rng(seed)
    start, days = pd.Timestamp("2025-01-01", tz="UTC"), 365
    created_day = days * np.sqrt(rng.uniform(0.01, 1.0, n))  # density grows with time
    created = start + pd.to_timedelta(np.sort(created_day) * 86400, unit="s")
    segment = rng.choice(np.array(["A", "B", "C"]), n)
    won = rng.random(n) < pd.Series(segment).map({"A": 0.15, "B": 0.35, "C": 0.6}).to_numpy()
    life = np.where(won, rng.uniform(45, 300, n), rng.exponential(45, n))
    closed = created + pd.to_timedelta(life * 86400, unit="s")
    now = start + pd.Timedelta(days=days)
    known = closed < now
    leads = pd.DataFrame(
        {
            schema.LEAD_ID: [f"S{i:05d}" for i in range(n)],
            schema.CREATED_AT: created,
            schema.CLOSED_AT: pd.Series(closed).where(known),
            schema.OUTCOME: np.where(known, np.where(won, schema.WON, schema.LOST), ""),
            "segment": segment,
        }
    )
    truth = pd.DataFrame({schema.LEAD_ID: leads[schema.LEAD_ID], "won": won, "closed": closed})
    return leads, truth, now


def test_inflow_weights_undo_a_growing_inflow_and_leave_a_steady_one_alone() -> None:
    rng = np.random.default_rng(3)
    start = pd.Timestamp("2025-01-01", tz="UTC")
    steady = start + pd.to_timedelta(rng.uniform(0, 365, 20_000) * 86400, unit="s")
    weights = Inflow.of(pd.Series(steady)).weights(to_epoch_seconds(pd.Series(steady)))  # type: ignore[union-attr]
    assert weights.mean() == pytest.approx(1.0) and np.abs(weights - 1).max() < 0.15
    # inflow density proportional to time: a lead of the last month weighs about a tenth of
    # one of the second month, and each month's leads then weigh about the same in total
    growing = start + pd.to_timedelta(365 * np.sqrt(rng.uniform(0, 1, 20_000)) * 86400, unit="s")
    seconds = to_epoch_seconds(pd.Series(growing))
    w = Inflow.of(pd.Series(growing)).weights(seconds)  # type: ignore[union-attr]
    month = np.minimum((seconds - seconds.min()) // (30.4 * 86400), 11).astype(int)
    per_month = np.bincount(month, weights=w)
    assert w[month == 11].mean() / w[month == 1].mean() == pytest.approx(1 / 8, rel=0.35)
    assert per_month[1:].max() / per_month[1:].min() < 1.35
    assert Inflow.of(pd.Series(growing[:500])) is None  # too few leads to tell


@pytest.mark.integration
def test_when_wins_take_longer_the_open_leads_get_the_win_rate_they_will_have() -> None:
    leads, truth, now = _slow_wins_world(10_000, seed=5)
    closed = leads[leads[schema.OUTCOME] != ""]
    latest = closed.nlargest(len(closed) // 5, schema.CLOSED_AT)
    naive = float((latest[schema.OUTCOME] == schema.WON).mean())
    config = Config.model_validate({"backtest": {"folds": 0}})
    fitted = fit(prepare_tables(leads, None, config), config, "slow wins")
    horizon = fitted.model.metadata["horizon_days"]
    assert 150 < horizon < 365
    is_open = leads[schema.OUTCOME] == ""
    rows = rows_as_of(leads.loc[is_open, schema.LEAD_ID], now)
    tables = prepare_tables(leads, None, config)
    p = fitted.model.predict_proba(build_features(tables.leads, None, rows, fitted.model.spec))
    outcome = truth.set_index(schema.LEAD_ID).loc[rows[schema.LEAD_ID]]
    realised = outcome["won"] & (outcome["closed"] - now <= pd.Timedelta(days=horizon))
    # The world is hard: the latest closed leads won far less often than the open ones will.
    # Without the inflow weights the open leads came out 0.053-0.073 too low on average
    # (seeds 5-7; with them within 0.017), and by up to 0.098 in a segment (0.061).
    assert realised.mean() - naive > 0.3
    assert abs(p.mean() - realised.mean()) < 0.035
    for segment, chance in {"A": 0.15, "B": 0.35, "C": 0.6}.items():
        mine = (leads.loc[is_open, "segment"] == segment).to_numpy()
        assert p[mine].mean() > chance  # open at the export date: more likely future wins
        assert abs(p[mine].mean() - realised[mine].mean()) < 0.075
