"""The synthetic CRM world: deterministic, in the contract, with the traps it promises."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from leadscore.features import schema
from leadscore.pipelines.config import Config
from leadscore.pipelines.io.tables import load_tables
from leadscore.pipelines.synthetic import generate, write_world

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def test_committed_sample_is_what_the_generator_makes(tmp_path: Path) -> None:
    """`make sample` regenerates it; a generator change must come with a new sample."""
    write_world(generate(4000, seed=42), tmp_path)
    for name in ("leads.csv", "activities.csv"):
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), name


def test_same_seed_same_world_other_seed_other_world() -> None:
    a, b, c = generate(300, seed=1), generate(300, seed=1), generate(300, seed=2)
    pd.testing.assert_frame_equal(a.leads, b.leads)
    pd.testing.assert_frame_equal(a.activities, b.activities)
    assert not a.leads[schema.JOB_TITLE].equals(c.leads[schema.JOB_TITLE])


def test_world_has_what_the_contract_and_the_traps_need(tmp_path: Path) -> None:
    world = generate(2000, seed=3)
    write_world(world, tmp_path, with_truth=True)
    tables = load_tables(tmp_path / "leads.csv", tmp_path / "activities.csv", Config())
    leads = tables.leads
    span = leads[schema.CREATED_AT].max() - leads[schema.CREATED_AT].min()
    assert span > pd.Timedelta(days=650)
    outcomes = leads[schema.OUTCOME].value_counts(dropna=False)
    assert outcomes[schema.WON] > 100 and outcomes[schema.LOST] > 500
    assert leads[schema.OUTCOME].isna().sum() > 50  # still open at the export date
    assert (leads[schema.COMPANY_SIZE] == "").mean() > 0.05  # unknown sizes
    titles = set(leads[schema.JOB_TITLE])
    assert {"Geschäftsführer", "Werkstudent", "Head of Marketing"} & titles
    assert leads[schema.INDUSTRY].str.contains(r"^\s|\s$|[A-Z]{3}", regex=True).any()  # messy
    assert tables.activities is not None
    types = set(tables.activities[schema.ACTIVITY_TYPE])
    assert {"email_sent", "email_open", "page_view", "demo_request", "trial_signup"} <= types
    assert tables.activities[schema.VALUE].notna().any()
    # post-close events on won leads: the leakage trap
    closed = leads.set_index(schema.LEAD_ID)[schema.CLOSED_AT]
    acts = tables.activities
    after = acts[acts[schema.OCCURRED_AT] >= acts[schema.LEAD_ID].astype(str).map(closed)]
    won = set(leads.loc[leads[schema.OUTCOME] == schema.WON, schema.LEAD_ID])
    after_won = after[schema.LEAD_ID].isin(won)
    assert after_won.sum() > 1000 and after_won.mean() > 0.9
    # reported, not fatal: unknown leads and events before creation
    assert {"lead_id not found in leads", "occurred before the lead's created_at"} <= set(
        tables.rejects["reason"]
    )
    # the base rate drifts upwards over time
    truth = world.truth.merge(world.leads[[schema.LEAD_ID, schema.CREATED_AT]], on=schema.LEAD_ID)
    year = pd.to_datetime(truth[schema.CREATED_AT], utc=True) < world.now - pd.Timedelta(days=365)
    won_rate = truth[schema.OUTCOME].eq(schema.WON)
    assert won_rate[~year].mean() > won_rate[year].mean()
