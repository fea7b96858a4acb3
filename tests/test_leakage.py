"""The leakage gate: structural (nothing at/after as-of or close reaches a training row) and
statistical (a column that gives the outcome away is reported and kept out, whatever its name)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadscore.features import schema
from leadscore.features.build import FeatureSettings, build_features, fit_spec
from leadscore.features.leakage import LeakageSettings, excluded_features, find_leaks
from leadscore.features.registry import attribute_feature
from leadscore.features.snapshots import training_rows
from leadscore.pipelines.config import Config
from leadscore.pipelines.fitting import fit
from leadscore.pipelines.io.tables import prepare_tables
from leadscore.pipelines.synthetic import generate

BASE = pd.Timestamp("2025-01-01", tz="UTC")


@st.composite
def closed_leads_with_activity(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = draw(st.integers(2, 5))
    created = [draw(st.integers(0, 30 * 86400)) for _ in range(n)]
    life = [draw(st.integers(86400, 120 * 86400)) for _ in range(n)]
    leads = pd.DataFrame(
        {
            schema.LEAD_ID: [f"L{i}" for i in range(n)],
            schema.CREATED_AT: [BASE + pd.Timedelta(seconds=c) for c in created],
            schema.OUTCOME: draw(
                st.lists(st.sampled_from(["won", "lost"]), min_size=n, max_size=n)
            ),
            schema.CLOSED_AT: [
                BASE + pd.Timedelta(seconds=c + lf) for c, lf in zip(created, life, strict=True)
            ],
        }
    )
    m = draw(st.integers(0, 40))
    who = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    # activity anywhere from creation to well after the close
    when = [draw(st.floats(0.0, 2.0)) for _ in range(m)]
    acts = pd.DataFrame(
        {
            schema.LEAD_ID: [f"L{w}" for w in who],
            schema.OCCURRED_AT: [
                BASE + pd.Timedelta(seconds=created[w] + f * life[w])
                for w, f in zip(who, when, strict=True)
            ],
            schema.ACTIVITY_TYPE: draw(
                st.lists(
                    st.sampled_from(["page_view", "pricing_page_view", "email_sent", "email_open"]),
                    min_size=m,
                    max_size=m,
                )
            ),
            schema.VALUE: [30.0] * m,
        }
    )
    return leads, acts


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=closed_leads_with_activity(), every=st.integers(1, 10))
def test_training_rows_use_nothing_at_or_after_close(
    data: tuple[pd.DataFrame, pd.DataFrame], every: int
) -> None:
    leads, acts = data
    tables = prepare_tables(leads, acts, Config())
    assert tables.activities is not None
    rows = training_rows(
        tables.leads, every_days=every, max_rows_per_lead=50, no_close_date_horizon_days=14,
        data_end=BASE + pd.Timedelta(days=400),
    )  # fmt: skip
    if rows.empty:
        return
    closed = tables.leads.set_index(schema.LEAD_ID)[schema.CLOSED_AT]
    assert (rows[schema.AS_OF].to_numpy() < rows[schema.LEAD_ID].map(closed).to_numpy()).all()
    spec = fit_spec(tables.leads, tables.activities, FeatureSettings(min_activity_type_count=1))
    a = tables.activities
    close = pd.to_datetime(a[schema.LEAD_ID].astype(str).map(closed), utc=True)
    before_close = a[(a[schema.OCCURRED_AT] < close).to_numpy()]
    pd.testing.assert_frame_equal(
        build_features(tables.leads, a, rows, spec),
        build_features(tables.leads, before_close, rows, spec),
    )


def _with_planted_leak(n: int, seed: int, share: float) -> pd.DataFrame:
    """A CRM field written by sales after contact: it tells the outcome for most closed leads.
    Its name says nothing about it."""
    world = generate(n, seed=seed)
    rng = np.random.default_rng(seed)
    leads = world.leads.copy()
    outcome = leads[schema.OUTCOME]
    tells = rng.random(n) < share
    won_values = np.array(["Kunde - Onboarding", "Vertrag unterschrieben"], dtype=object)
    lost_values = np.array(["Kein Bedarf", "Kein Budget", "Nicht erreichbar"], dtype=object)
    neutral = np.array(["In Bearbeitung", "Neu", "Kontaktiert"], dtype=object)
    column = neutral[rng.integers(0, 3, n)]
    column = np.where(tells & (outcome == "won"), won_values[rng.integers(0, 2, n)], column)
    column = np.where(tells & (outcome == "lost"), lost_values[rng.integers(0, 3, n)], column)
    leads["segment_code"] = column
    return leads, world.activities


@pytest.mark.integration
def test_planted_leak_is_reported_and_kept_out() -> None:
    leads, activities = _with_planted_leak(3000, seed=8, share=0.85)
    fitted = fit(prepare_tables(leads, activities, Config()), Config(), "planted")
    leaks = {leak.feature: leak for leak in fitted.leaks}
    assert "attr__segment_code" in leaks
    text = leaks["attr__segment_code"].describe()
    assert text.startswith("leak:") and "segment_code" in text and "% of them" in text
    assert "attr__segment_code" not in fitted.model.spec.feature_names
    assert "attr__segment_code" in fitted.model.spec.excluded_features
    assert set(leaks) == {"attr__segment_code"}  # nothing else is accused


@pytest.mark.integration
def test_a_leak_can_be_kept_on_purpose() -> None:
    leads, activities = _with_planted_leak(2000, seed=3, share=0.85)
    config = Config.model_validate({"leakage": {"keep": ["segment_code"]}})
    fitted = fit(prepare_tables(leads, activities, config), config, "planted")
    assert [leak.kept for leak in fitted.leaks] == [True]
    assert "attr__segment_code" in fitted.model.spec.feature_names


def test_clean_generated_world_has_no_leaks() -> None:
    world = generate(2000, seed=6)
    fitted_spec = fit_spec(
        prepare_tables(world.leads, world.activities, Config()).leads, None, FeatureSettings()
    )
    assert fitted_spec is not None  # smoke: flat spec builds
    tables = prepare_tables(world.leads, world.activities, Config())
    spec = fit_spec(tables.leads, tables.activities, FeatureSettings())
    rows = training_rows(tables.leads, data_end=world.now)
    features = build_features(tables.leads, tables.activities, rows, spec)
    leaks = find_leaks(
        features,
        rows["label"].to_numpy(),
        rows[schema.LEAD_ID].to_numpy(),
        spec.definitions(),
        LeakageSettings(),
    )
    assert leaks == []


def test_gate_rules_on_hand_made_columns() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    y = (rng.random(n) < 0.2).astype(int)
    frame = pd.DataFrame(
        {
            "attr__amount": np.where(y == 1, rng.uniform(1000, 5000, n), np.nan),  # filled for wins
            "attr__score": y * 10 + rng.normal(0, 0.5, n),  # separates on its own
            "attr__noise": rng.normal(size=n),
        }
    )
    defs = [attribute_feature(c, "numeric") for c in ("amount", "score", "noise")]
    leaks = find_leaks(frame, y, np.arange(n).astype(str), defs, LeakageSettings())
    found = {leak.feature: leak.evidence for leak in leaks}
    assert set(found) == {"attr__amount", "attr__score"}
    assert "being missing" in found["attr__amount"] or "being present" in found["attr__amount"]
    assert "ROC AUC" in found["attr__score"]
    assert excluded_features(leaks, defs) == ["attr__amount", "attr__score"]
