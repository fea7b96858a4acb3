"""The richer features: groups, recency weighting, momentum, active days, first response,
e-mail rates, synonyms, size bands, extra columns of flat exports; chunking changes nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.features import schema
from leadscore.features.attributes import Role, infer_role
from leadscore.features.build import FeatureSettings, build_features, fit_spec
from leadscore.features.registry import DECAY_HALF_LIFE_DAYS
from leadscore.features.snapshots import training_rows
from leadscore.pipelines.config import Config
from leadscore.pipelines.io.tables import prepare_tables
from leadscore.pipelines.synthetic import generate

SETTINGS = FeatureSettings(min_activity_type_count=1, min_category_count=1)
AS_OF = pd.Timestamp("2025-03-01", tz="UTC")


def day(n: float) -> pd.Timestamp:
    return AS_OF - pd.Timedelta(days=n)


def one_lead(events: list[tuple[float, str]], created_days_ago: float = 60) -> pd.DataFrame:
    leads = pd.DataFrame({"lead_id": ["A"], "created_at": [day(created_days_ago).isoformat()]})
    acts = pd.DataFrame(
        {
            "lead_id": ["A"] * len(events),
            "occurred_at": [day(d).isoformat() for d, _ in events],
            "activity_type": [t for _, t in events],
            "value": [30.0 if "page" in t else None for _, t in events],
        }
    )
    tables = prepare_tables(leads, acts, Config())
    spec = fit_spec(tables.leads, tables.activities, SETTINGS)
    rows = pd.DataFrame(
        {"lead_id": ["A"], "as_of": pd.Series([AS_OF], dtype="datetime64[us, UTC]")}
    )
    return build_features(tables.leads, tables.activities, rows, spec).iloc[0]


def test_groups_decay_momentum_and_active_days() -> None:
    events = [
        (1, "pricing_page_view"), (1, "page_view"), (3, "demo_request"), (10, "page_view"),
        (20, "page_view"), (19.8, "page_view"), (40, "email_open"), (41, "email_sent"),
        (50, "email_sent"), (5, "meeting"), (-1, "page_view"),
    ]  # fmt: skip
    f = one_lead(events)
    assert f["high_intent__count_7d"] == 2  # pricing view + demo request
    assert f["high_intent__days_since_last"] == pytest.approx(1)
    # own activities: everything but e-mails sent, the excluded meeting and the future view
    assert f["activities__count_total"] == 7
    assert f["activities__count_7d"] == 3
    expected = sum(2 ** (-d / DECAY_HALF_LIFE_DAYS) for d in (1, 1, 3, 10, 20, 19.8, 40))
    assert f["activities__decayed"] == pytest.approx(expected)
    # momentum: 4 own activities in the last 14 days, 2 in the 14 days before
    assert f["activities__momentum"] == pytest.approx(np.log((4 + 1) / (2 + 1)))
    assert f["active_days__30d"] == 4  # days 1, 3, 10, 20 (19.8 days ago is the same day)
    assert f["active_days__total"] == 5
    assert f["time_on_site__seconds_total"] == pytest.approx(5 * 30)  # page views and pricing view
    assert f["email_sent__days_since_first"] == pytest.approx(50)
    # first touch: the e-mail 50 days ago; first own activity after it: the open 40 days ago
    assert f["first_response_days"] == pytest.approx(10)
    assert not any(name.startswith("meeting") for name in f.index)


def test_first_response_without_outbound_touch_counts_from_creation() -> None:
    f = one_lead([(12, "page_view"), (2, "page_view")], created_days_ago=30)
    assert "first_response_days" in f.index
    assert f["first_response_days"] == pytest.approx(18)


def test_email_rates_shrink_towards_the_overall_rate() -> None:
    leads = pd.DataFrame({"lead_id": ["A", "B", "C"], "created_at": [day(90).isoformat()] * 3})
    events = [("A", 30, "email_sent"), ("A", 29, "email_open")] + [
        ("B", 80 - i, "email_sent") for i in range(9)
    ]
    acts = pd.DataFrame(
        {
            "lead_id": [e[0] for e in events],
            "occurred_at": [day(e[1]).isoformat() for e in events],
            "activity_type": [e[2] for e in events],
        }
    )
    tables = prepare_tables(leads, acts, Config())
    spec = fit_spec(tables.leads, tables.activities, SETTINGS)
    assert spec.email_prior[0] == pytest.approx(0.1)  # 1 open per 10 sends overall
    rows = pd.DataFrame(
        {"lead_id": ["A", "B", "C"], "as_of": pd.Series([AS_OF] * 3, dtype="datetime64[us, UTC]")}
    )
    rate = build_features(tables.leads, tables.activities, rows, spec)["email_open__rate"]
    k = spec.rate_prior_strength
    assert rate.iloc[0] == pytest.approx((1 + k * 0.1) / (1 + k))  # one send, one open: not 100%
    assert rate.iloc[1] == pytest.approx((0 + k * 0.1) / (9 + k))
    assert rate.iloc[2] == pytest.approx(0.1)  # nothing sent yet: the overall rate


def test_synonyms_and_size_bands() -> None:
    leads = pd.DataFrame(
        {
            "lead_id": list("ABCDE"),
            "country": ["Deutschland", "DE", "germany", "Österreich", "Mars"],
            "lead_source": ["Google Ads", "PPC", "paid_search", "SEO", "weird"],
            "company_size": ["5", "51-200", "1.500", "", "20000"],
        }
    )
    tables = prepare_tables(leads, None, Config())
    settings = FeatureSettings(
        min_category_count=1, synonyms={"lead_source": {"weird": "Referral"}}
    )
    spec = fit_spec(tables.leads, None, settings)
    rows = pd.DataFrame(
        {"lead_id": list("ABCDE"), "as_of": pd.Series([AS_OF] * 5, dtype="datetime64[us, UTC]")}
    )
    f = build_features(tables.leads, None, rows, spec)
    assert f["country"].tolist() == ["de", "de", "de", "at", "mars"]
    assert f["lead_source"].tolist() == ["paid search"] * 3 + ["organic search", "referral"]
    assert f["company_size_band"].tolist() == ["1-9", "50-249", "1000-4999", "unknown", "5000+"]


@pytest.mark.parametrize(
    ("values", "role"),
    [
        (["1.5", "2", "", "3", "N/A"], Role.NUMERIC),
        (["1,5", "2,25", "3"], Role.NUMERIC),
        (["gold", "silver", "gold", "bronze"] * 20, Role.CATEGORICAL),
        (["2024-01-03", "2024-02-01", ""] * 10, Role.DATE),
        ([str(1000 + i) for i in range(100)], Role.IGNORE),  # ID-like
        (
            [f"customer {i} said something long about the product and price" for i in range(100)],
            Role.IGNORE,
        ),
        ([f"p{i}@mail.com" for i in range(100)], Role.IGNORE),
        ([f"+49 30 {1000000 + i}" for i in range(100)], Role.IGNORE),
        (["", "n/a", None], Role.IGNORE),
    ],
)
def test_role_inference(values: list[str | None], role: Role) -> None:
    assert infer_role(pd.Series(values, name="col"), max_categories=30).role == role


def test_flat_export_uses_extra_columns_and_masks_future_dates() -> None:
    n = 60
    leads = pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(n)],
            "TotalVisits": [str(i % 7) for i in range(n)],
            "plan": ["basic", "pro", "team"] * (n // 3),
            "signup_date": ["2025-01-01"] * (n - 1) + ["2025-06-01"],  # last one after as-of
            "notes": [f"called on day {i}, wants a follow up next quarter maybe" for i in range(n)],
            "record_no": [str(5000 + i) for i in range(n)],
        }
    )
    tables = prepare_tables(leads, None, Config())
    spec = fit_spec(tables.leads, None, SETTINGS)
    assert dict(spec.attributes) == {
        "TotalVisits": "numeric",
        "plan": "categorical",
        "signup_date": "date",
    }
    rows = pd.DataFrame(
        {"lead_id": leads["lead_id"], "as_of": pd.Series([AS_OF] * n, dtype="datetime64[us, UTC]")}
    )
    f = build_features(tables.leads, None, rows, spec)
    assert f["attr__totalvisits"].iloc[3] == 3
    assert f["attr__plan"].iloc[1] == "pro"
    assert f["attr__signup_date"].iloc[0] == pytest.approx(59)
    assert np.isnan(f["attr__signup_date"].iloc[-1])  # not known as of as-of
    labels = {d.name: d.label for d in spec.definitions()}
    assert labels["attr__totalvisits"] == "TotalVisits"


def test_column_roles_can_be_overridden() -> None:
    leads = pd.DataFrame({"lead_id": ["A", "B"], "zip": ["10115", "80331"]})
    settings = FeatureSettings(column_roles={"zip": Role.CATEGORICAL}, min_category_count=1)
    spec = fit_spec(prepare_tables(leads, None, Config()).leads, None, settings)
    assert dict(spec.attributes) == {"zip": "categorical"}


def test_chunking_changes_nothing() -> None:
    world = generate(400, seed=9)
    tables = prepare_tables(world.leads, world.activities, Config())
    spec = fit_spec(tables.leads, tables.activities, FeatureSettings())
    rows = training_rows(tables.leads, data_end=world.now)
    whole = build_features(tables.leads, tables.activities, rows, spec, max_pairs=10**9)
    chunked = build_features(tables.leads, tables.activities, rows, spec, max_pairs=500)
    pd.testing.assert_frame_equal(whole, chunked)


def test_generated_post_close_events_never_reach_training_rows() -> None:
    """The generator's won leads keep using the product after they close: removing every
    activity at or after a lead's close must leave every training row identical."""
    world = generate(1500, seed=4)
    tables = prepare_tables(world.leads, world.activities, Config())
    assert tables.activities is not None
    spec = fit_spec(tables.leads, tables.activities, FeatureSettings())
    rows = training_rows(tables.leads, data_end=world.now)
    acts = tables.activities
    closed = tables.leads.set_index(schema.LEAD_ID)[schema.CLOSED_AT]
    close = pd.to_datetime(acts[schema.LEAD_ID].astype(str).map(closed), utc=True)
    post_close = (acts[schema.OCCURRED_AT] >= close).to_numpy()
    assert post_close.sum() > 1000
    with_post = build_features(tables.leads, acts, rows, spec)
    without = build_features(tables.leads, acts[~post_close], rows, spec)
    pd.testing.assert_frame_equal(with_post, without)


def test_spec_learned_from_summed_parts_equals_spec_from_the_whole_table() -> None:
    """What the Spark engine relies on: activity summaries of any partition add up to the
    summary of the whole table, so the learned spec and data end are the same."""
    from leadscore.features.build import ActivitySummary, fit_spec_from
    from leadscore.pipelines.fitting import data_end, data_end_of

    world = generate(n_leads=400, seed=11)
    tables = prepare_tables(world.leads, world.activities, Config())
    assert tables.activities is not None
    settings = FeatureSettings(min_activity_type_count=40)
    part = np.random.default_rng(0).integers(0, 7, len(tables.activities))
    summaries = [ActivitySummary.of(tables.activities[part == k]) for k in range(7)]
    summaries.append(ActivitySummary.of(tables.activities.iloc[:0]))  # an empty bucket
    combined = ActivitySummary.combine(summaries)
    whole = fit_spec(tables.leads, tables.activities, settings)
    assert fit_spec_from(tables.leads, combined, settings) == whole
    assert whole.activity_types and whole.value_types  # the comparison covers both
    assert data_end_of(tables.leads, combined.latest) == data_end(tables)


def test_a_value_of_the_period_is_not_a_feature_of_the_lead() -> None:
    """A number or a category that is the same for (nearly) every lead of a month (an
    interest rate, the month itself) is left out when the leads' time order is known; values
    of the lead stay, even one whose mix changes over time; config can overrule."""
    from leadscore.features.attributes import infer_roles

    rng = np.random.default_rng(3)
    n = 3000
    order = np.arange(n, dtype=float)
    month = np.arange(n) // 120
    names = np.array(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct"])
    # A new channel from the second half on: its share changes over time, but the value
    # belongs to the lead, so it stays a feature.
    late = np.arange(n) >= n // 2
    leads = pd.DataFrame(
        {
            "rate": (4.5 - 0.15 * month + 0.3 * np.sin(month)).round(3),
            "visits": rng.poisson(3, n),
            "prior_contacts": np.where(rng.random(n) < 0.1, rng.integers(1, 5, n), 0),
            # The month of the call, in an export sorted by date (a few calls filed late).
            "call_month": np.where(rng.random(n) < 0.05, rng.choice(names, n), names[month % 10]),
            "job": rng.choice(["admin", "technician", "student", "retired"], n),
            "channel": np.where(
                late & (rng.random(n) < 0.4), "partner", rng.choice(["web", "event"], n)
            ),
        }
    )
    roles = {r.column: r for r in infer_roles(leads, {}, 30, order)}
    assert roles["rate"].role == Role.IGNORE and "value of the period" in roles["rate"].reason
    assert roles["call_month"].role == Role.IGNORE
    assert "value of the period" in roles["call_month"].reason
    assert roles["visits"].role == roles["prior_contacts"].role == Role.NUMERIC
    assert roles["job"].role == roles["channel"].role == Role.CATEGORICAL
    shuffled = {r.column: r.role for r in infer_roles(leads, {}, 30, rng.permutation(order))}
    assert shuffled["rate"] == Role.NUMERIC  # in no time order, it is a number like any other
    assert shuffled["call_month"] == Role.CATEGORICAL
    assert {r.column: r.role for r in infer_roles(leads, {}, 30)}["rate"] == Role.NUMERIC
    forced = {
        r.column: r.role
        for r in infer_roles(leads, {"rate": "numeric", "call_month": "categorical"}, 30, order)
    }
    assert forced["rate"] == Role.NUMERIC and forced["call_month"] == Role.CATEGORICAL
