"""Time in training rows and tier promises: every closed lead contributes, also one decided
within a day, and the tier promise stored with a model is measured out of time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.features import schema
from leadscore.features.snapshots import LABEL, WEIGHT, training_rows
from leadscore.pipelines.config import Config
from leadscore.pipelines.fitting import fit
from leadscore.pipelines.synthetic import generate
from leadscore.pipelines.tables import prepare_tables


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
        leads, every_days=7, max_rows_per_lead=24, no_close_date_horizon_days=14,
        data_end=pd.Timestamp("2026-01-01", tz="UTC"),
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
