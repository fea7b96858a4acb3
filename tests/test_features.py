"""Point-in-time features: nothing at or after as-of, or after a lead closed, ever reaches a
feature; window boundaries are exact; the vocabulary is fixed at training time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadscore.features import schema
from leadscore.features.build import FeatureSettings, build_features, fit_spec
from leadscore.features.registry import Family
from leadscore.features.snapshots import LABEL, WEIGHT, training_rows
from leadscore.pipelines.io.tables import Tables

from .conftest import ts

FEATURE_SETTINGS = FeatureSettings(min_activity_type_count=1, min_category_count=1)


def rows_for(ids: list[str], as_of: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame(
        {
            schema.LEAD_ID: ids,
            schema.AS_OF: pd.Series([as_of] * len(ids), dtype="datetime64[us, UTC]"),
        }
    )


def test_counts_and_recency(tiny: Tables) -> None:
    spec = fit_spec(tiny.leads, tiny.activities, FEATURE_SETTINGS)
    as_of = ts("2025-02-01T00:00:00")
    out = build_features(tiny.leads, tiny.activities, rows_for(["A", "B", "C"], as_of), spec)
    a = out.iloc[0]
    assert a["pricing_page_view__count_total"] == 2
    assert a["pricing_page_view__count_30d"] == 2  # window start 01-02 00:00 is inclusive
    assert a["pricing_page_view__count_7d"] == 0
    assert a["pricing_page_view__days_since_last"] == pytest.approx(12 - 10 / 24)
    assert a["demo_request__count_total"] == 0  # 2025-02-25 is after as-of
    assert np.isnan(a["demo_request__days_since_last"])
    assert a["lead_age_days"] == pytest.approx(31 - 9 / 24)
    assert a["seniority"] == "head_director"
    assert a["lead_source"] == "paid search"
    assert out.iloc[1]["seniority"] == "student_intern"
    assert out.iloc[2]["industry"] == "unknown"  # "N/A" is a placeholder
    assert out.iloc[1]["company_size"] == pytest.approx(np.sqrt(51 * 200))


def test_window_boundaries_are_half_open(tiny: Tables) -> None:
    """A window of w days counts events with as_of - w <= t < as_of."""
    spec = fit_spec(tiny.leads, tiny.activities, FEATURE_SETTINGS)
    event = ts("2025-01-20T10:00:00")
    at_event = build_features(tiny.leads, tiny.activities, rows_for(["A"], event), spec)
    assert at_event["pricing_page_view__count_total"].iloc[0] == 1  # the 01-02 one only
    just_after = build_features(
        tiny.leads, tiny.activities, rows_for(["A"], event + pd.Timedelta(seconds=1)), spec
    )
    assert just_after["pricing_page_view__count_total"].iloc[0] == 2
    week_later = event + pd.Timedelta(days=7)
    at_edge = build_features(tiny.leads, tiny.activities, rows_for(["A"], week_later), spec)
    assert at_edge["pricing_page_view__count_7d"].iloc[0] == 1  # start is inclusive
    past_edge = build_features(
        tiny.leads, tiny.activities, rows_for(["A"], week_later + pd.Timedelta(seconds=1)), spec
    )
    assert past_edge["pricing_page_view__count_7d"].iloc[0] == 0


def test_unknown_activity_types_go_to_other_and_keep_the_feature_set(tiny: Tables) -> None:
    spec = fit_spec(tiny.leads, tiny.activities, FEATURE_SETTINGS)
    assert tiny.activities is not None
    extra = pd.DataFrame(
        {
            schema.LEAD_ID: ["A", "A"],
            schema.OCCURRED_AT: pd.to_datetime(["2025-01-10", "2025-01-11"], utc=True),
            schema.ACTIVITY_TYPE: ["chat_started", "meeting"],
            schema.VALUE: [np.nan, np.nan],
        }
    )
    more = pd.concat([tiny.activities, extra], ignore_index=True)
    out = build_features(tiny.leads, more, rows_for(["A"], ts("2025-02-01")), spec)
    assert list(out.columns) == spec.feature_names
    assert out["other__count_total"].iloc[0] == 1  # chat_started; meeting is excluded
    assert not any(name.startswith("meeting") for name in spec.feature_names)


def test_every_feature_has_a_label_and_family(tiny: Tables) -> None:
    spec = fit_spec(tiny.leads, tiny.activities, FEATURE_SETTINGS)
    defs = spec.definitions()
    assert [d.name for d in defs] == spec.feature_names
    assert len(set(spec.feature_names)) == len(defs)
    for d in defs:
        assert d.label and d.label != d.name
        assert d.family in set(Family)
        assert d.source_columns


def test_spec_round_trips(tiny: Tables) -> None:
    from leadscore.features.build import FeatureSpec

    spec = fit_spec(tiny.leads, tiny.activities, FEATURE_SETTINGS)
    assert FeatureSpec.from_dict(spec.to_dict()) == spec


def test_training_rows_lie_strictly_between_created_and_closed(tiny: Tables) -> None:
    rows = training_rows(
        tiny.leads, every_days=7, max_rows_per_lead=100, no_close_date_horizon_days=14,
        data_end=ts("2025-03-10"),
    )  # fmt: skip
    assert set(rows[schema.LEAD_ID]) == {"A", "B"}  # C is open
    leads = tiny.leads.set_index(schema.LEAD_ID)
    joined = rows.join(leads, on=schema.LEAD_ID)
    assert (joined[schema.AS_OF] > joined[schema.CREATED_AT]).all()
    assert (joined[schema.AS_OF] < joined[schema.CLOSED_AT]).all()
    assert (rows[schema.AS_OF] == rows[schema.AS_OF].dt.normalize()).all()  # midnight grid
    assert rows.loc[rows[schema.LEAD_ID] == "A", LABEL].eq(1).all()
    assert rows.loc[rows[schema.LEAD_ID] == "B", LABEL].eq(0).all()
    assert (rows[WEIGHT] == 1.0).all()


def test_long_lived_leads_are_thinned_with_weights(tiny: Tables) -> None:
    rows = training_rows(
        tiny.leads, every_days=1, max_rows_per_lead=5, no_close_date_horizon_days=14,
        data_end=ts("2025-03-10"),
    )  # fmt: skip
    a = rows[rows[schema.LEAD_ID] == "A"]
    assert len(a) == 5
    assert a[WEIGHT].sum() == pytest.approx(59)  # every midnight from 01-02 to 03-01
    assert a[schema.AS_OF].is_monotonic_increasing


def test_training_rows_never_see_post_close_activity(tiny: Tables) -> None:
    """The activity of A after it closed must not change any training row."""
    assert tiny.activities is not None
    spec = fit_spec(tiny.leads, tiny.activities, FEATURE_SETTINGS)
    rows = training_rows(
        tiny.leads, every_days=3, max_rows_per_lead=100, no_close_date_horizon_days=14,
        data_end=ts("2025-03-10"),
    )  # fmt: skip
    closed_at = tiny.leads.set_index(schema.LEAD_ID)[schema.CLOSED_AT]
    after_close = tiny.activities[
        tiny.activities[schema.OCCURRED_AT]
        >= tiny.activities[schema.LEAD_ID].astype(str).map(closed_at)
    ]
    assert len(after_close) == 1
    before = tiny.activities.drop(after_close.index)
    with_post = build_features(tiny.leads, tiny.activities, rows, spec)
    without = build_features(tiny.leads, before, rows, spec)
    pd.testing.assert_frame_equal(with_post, without)


# -- property-based: random activity sets -------------------------------------------------

TYPES = ["page_view", "pricing_page_view", "email_sent", "email_open", "demo_request", "x_y"]
BASE = pd.Timestamp("2025-01-01", tz="UTC")


@st.composite
def activity_sets(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    n_leads = draw(st.integers(1, 4))
    ids = [f"L{i}" for i in range(n_leads)]
    leads = pd.DataFrame(
        {
            schema.LEAD_ID: ids,
            schema.CREATED_AT: [BASE] * n_leads,
            "industry": draw(
                st.lists(st.sampled_from(["a", "b", None]), min_size=n_leads, max_size=n_leads)
            ),
        }
    )
    n = draw(st.integers(0, 40))
    seconds = draw(st.lists(st.integers(0, 120 * 86400), min_size=n, max_size=n))
    activities = pd.DataFrame(
        {
            schema.LEAD_ID: draw(st.lists(st.sampled_from(ids), min_size=n, max_size=n)),
            schema.OCCURRED_AT: pd.to_datetime(
                [BASE + pd.Timedelta(seconds=s) for s in seconds], utc=True
            ),
            schema.ACTIVITY_TYPE: draw(st.lists(st.sampled_from(TYPES), min_size=n, max_size=n)),
            schema.VALUE: draw(
                st.lists(st.one_of(st.none(), st.floats(0, 1e4)), min_size=n, max_size=n)
            ),
        }
    ).astype({schema.VALUE: "float64"})
    as_of = BASE + pd.Timedelta(seconds=draw(st.integers(1, 130 * 86400)))
    return leads, activities, as_of


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=activity_sets(), late=st.lists(st.integers(0, 90 * 86400), min_size=1, max_size=10))
def test_activity_at_or_after_as_of_never_changes_a_feature(
    data: tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp], late: list[int]
) -> None:
    leads, activities, as_of = data
    spec = fit_spec(leads, activities, FEATURE_SETTINGS)
    rows = rows_for(list(leads[schema.LEAD_ID]), as_of)
    before = build_features(leads, activities, rows, spec)
    n = len(late)
    future = pd.DataFrame(
        {
            schema.LEAD_ID: [leads[schema.LEAD_ID].iloc[i % len(leads)] for i in range(n)],
            schema.OCCURRED_AT: pd.to_datetime(
                [as_of + pd.Timedelta(seconds=s) for s in late], utc=True
            ),
            schema.ACTIVITY_TYPE: [TYPES[i % len(TYPES)] for i in range(n)],
            schema.VALUE: [100.0] * n,
        }
    )
    after = build_features(leads, pd.concat([activities, future], ignore_index=True), rows, spec)
    pd.testing.assert_frame_equal(before, after)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=activity_sets(), seed=st.integers(0, 2**31 - 1))
def test_row_order_never_changes_a_feature(
    data: tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp], seed: int
) -> None:
    leads, activities, as_of = data
    spec = fit_spec(leads, activities, FEATURE_SETTINGS)
    rows = rows_for(list(leads[schema.LEAD_ID]), as_of)
    before = build_features(leads, activities, rows, spec)
    shuffled = activities.sample(frac=1.0, random_state=seed % (2**32 - 1)).reset_index(drop=True)
    after = build_features(leads, shuffled, rows, spec)
    pd.testing.assert_frame_equal(before, after)
