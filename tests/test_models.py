"""Metrics, calibration, thresholds and the forward split, on small synthetic arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.features import schema
from leadscore.features.snapshots import ORDER_TIME
from leadscore.models.calibration import Calibrator, choose_calibrator, fit_calibrator
from leadscore.models.metrics import evaluate, expected_calibration_error, top_share_metrics
from leadscore.models.split import CALIBRATION, TEST, TRAIN, split_by_time
from leadscore.models.thresholds import HeldOut, Policy, learn_thresholds, tier_table, weekly_inflow


def test_ece_of_a_perfect_and_a_biased_model() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 200_000)
    y = rng.random(p.size) < p
    assert expected_calibration_error(y, p) < 0.005
    assert expected_calibration_error(y, np.clip(p + 0.1, 0, 1)) == pytest.approx(0.095, abs=0.01)


def test_top_share() -> None:
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 1])
    p = np.linspace(1, 0, 10)
    precision, recall = top_share_metrics(y, p, 0.2)
    assert precision == 1.0
    assert recall == pytest.approx(2 / 3)


def test_evaluate_has_every_metric() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(size=1000)
    y = (rng.random(1000) < p).astype(int)
    out = evaluate(y, p)
    for key in ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "precision_top10", "recall_top10"):
        assert np.isfinite(out[key]), key


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibrators_fix_a_shifted_score(method: str) -> None:
    rng = np.random.default_rng(2)
    raw = rng.normal(size=20_000)
    y = (rng.random(raw.size) < 1 / (1 + np.exp(-(2 * raw - 1)))).astype(int)
    calibrator = fit_calibrator(method, raw, y, np.ones_like(raw))  # type: ignore[arg-type]
    assert expected_calibration_error(y, calibrator.predict(raw)) < 0.02
    again = Calibrator.from_dict(calibrator.to_dict())
    np.testing.assert_allclose(again.predict(raw), calibrator.predict(raw))


def test_auto_calibration_picks_one_by_cross_validated_log_loss() -> None:
    rng = np.random.default_rng(3)
    raw = rng.normal(size=5000)
    y = (rng.random(raw.size) < 1 / (1 + np.exp(-raw))).astype(int)
    groups = np.arange(raw.size) // 5
    calibrator, scores = choose_calibrator("auto", raw, y, np.ones_like(raw), groups)
    assert set(scores) == {"sigmoid", "isotonic"}
    assert calibrator.method == min(scores, key=lambda k: scores[k])


def test_a_booster_that_ranks_backwards_is_not_flipped(caplog: pytest.LogCaptureFixture) -> None:
    """A higher score must never mean a lower probability: when the booster ranked the
    calibration period backwards, every lead gets the period's rate."""
    rng = np.random.default_rng(5)
    raw = rng.normal(size=4000)
    y = (rng.random(raw.size) < 1 / (1 + np.exp(2 * raw + 1))).astype(int)
    calibrator, _ = choose_calibrator("sigmoid", raw, y, np.ones_like(raw), np.arange(raw.size))
    assert calibrator.a == 0.0
    np.testing.assert_allclose(calibrator.predict(raw), y.mean())
    assert "does not rank the 4000 calibration rows" in caplog.text


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_an_aligned_calibration_keeps_the_order_and_the_probabilities(method: str) -> None:
    """Quantile matching carries another booster's scores of the same rows onto the scale
    the calibration was fitted on: the other booster's order, this calibration's levels."""
    rng = np.random.default_rng(6)
    fitted_for = rng.normal(size=5000)
    y = (rng.random(fitted_for.size) < 1 / (1 + np.exp(-(fitted_for - 1)))).astype(int)
    calibrator = fit_calibrator(method, fitted_for, y, np.ones_like(fitted_for))  # type: ignore[arg-type]
    other = 3 * fitted_for + 2 + rng.normal(scale=0.3, size=fitted_for.size)  # shifted, wider
    aligned = calibrator.aligned(other, fitted_for)
    p = aligned.predict(other)
    assert expected_calibration_error(y, p) < 0.03
    assert abs(p.mean() - y.mean()) < 0.01
    order = np.argsort(other)
    assert (np.diff(p[order]) >= -1e-12).all()  # never changes a ranking
    assert (
        abs(aligned.predict(np.array([3 * 0.5 + 2]))[0] - calibrator.predict(np.array([0.5]))[0])
        < 0.03
    )
    again = Calibrator.from_dict(aligned.to_dict())
    np.testing.assert_allclose(again.predict(other), p)
    np.testing.assert_allclose(
        aligned.unaligned().predict(fitted_for), calibrator.predict(fitted_for)
    )
    flat = calibrator.aligned(np.zeros(100), fitted_for[:100])  # nothing to carry
    assert flat.align_x == () and flat.predict(np.array([0.5])) == calibrator.predict(
        np.array([0.5])
    )


def _calibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(0.6, 2.5, n)
    return p, (rng.random(n) < p).astype(int)


def test_win_rate_and_capture_policies() -> None:
    p, y = _calibrated(50_000, 4)
    held = HeldOut.of(p, y)
    thresholds = learn_thresholds(
        held, Policy("win_rate", 0.5), Policy("capture_share", 0.8), min_tier_rows=30
    )
    assert thresholds.mql < thresholds.sql
    table = tier_table(held, thresholds, n_boot=100).set_index("tier")
    assert table.loc[schema.TIER_SQL, "win_rate"] == pytest.approx(0.5, abs=0.01)
    sql = table.loc[schema.TIER_SQL]
    assert sql["win_rate_low"] < 0.5 < sql["win_rate_high"]
    captured = table.loc[[schema.TIER_SQL, schema.TIER_MQL], "share_of_wins"].sum()
    assert captured == pytest.approx(0.8, abs=0.01)
    assert table["share_of_leads"].sum() == pytest.approx(1.0)
    assert table["calibration_gap"].abs().max() < 0.02
    assert not thresholds.notes


def test_unreachable_win_rate_falls_back_with_a_note() -> None:
    p, _ = _calibrated(5000, 5)
    p = p * 0.3  # nobody is ever likely
    y = (np.random.default_rng(6).random(p.size) < p).astype(int)
    thresholds = learn_thresholds(
        HeldOut.of(p, y), Policy("win_rate", 0.9), Policy("capture_share", 0.8), 30
    )
    assert thresholds.notes and "best achievable" in thresholds.notes[0]


def test_base_rate_above_target_uses_the_marginal_reading() -> None:
    p = np.array([0.9] * 50 + [0.6] * 50 + [0.3] * 50)
    y = np.array([1] * 45 + [0] * 5 + [1] * 30 + [0] * 20 + [1] * 15 + [0] * 35)
    thresholds = learn_thresholds(
        HeldOut.of(p, y), Policy("win_rate", 0.4), Policy("capture_share", 0.9), 10
    )
    assert thresholds.sql == 0.6
    assert "already reaches" in thresholds.notes[0]


def test_top_share_policy() -> None:
    p, y = _calibrated(1000, 7)
    thresholds = learn_thresholds(
        HeldOut.of(p, y), Policy("top_share", 0.1), Policy("top_share", 0.3), 10
    )
    tiers = thresholds.assign(p)
    assert np.mean(tiers == schema.TIER_SQL) == pytest.approx(0.1, abs=0.01)
    assert np.mean(tiers != schema.TIER_UNQUALIFIED) == pytest.approx(0.3, abs=0.01)


def test_capacity_policy_counts_each_lead_once() -> None:
    rng = np.random.default_rng(8)
    leads = np.repeat(np.arange(2000), 3)  # three nightly rows per lead
    p = np.clip(np.repeat(rng.beta(0.6, 2.5, 2000), 3) + rng.normal(0, 0.02, 6000), 0, 1)
    y = (np.repeat(rng.random(2000), 3) < p).astype(int)
    held = HeldOut.of(p, y, lead=leads, weekly_inflow=100.0)
    thresholds = learn_thresholds(held, Policy("capacity", 12.0), Policy("top_share", 0.5), 10)
    reaching = held.per_lead()["p"] >= thresholds.sql
    assert reaching.mean() * 100.0 <= 12.0  # at most 12 SQL hand-overs a week
    assert reaching.mean() * 100.0 > 10.0  # and not needlessly fewer


def test_expected_value_policy_matches_the_break_even_probability() -> None:
    p, y = _calibrated(100_000, 9)
    held = HeldOut.of(p, y)
    thresholds = learn_thresholds(
        held, Policy("expected_value", deal_value=10_000, cost=2_500), Policy("top_share", 0.6), 10
    )
    assert thresholds.sql == pytest.approx(0.25, abs=0.03)  # contact when p * 10000 >= 2500


def test_weekly_inflow() -> None:
    end = pd.Timestamp("2025-06-01", tz="UTC")
    created = pd.Series(pd.date_range(end - pd.Timedelta(weeks=20), end, freq="1h", tz="UTC")[:-1])
    assert weekly_inflow(created, end) == pytest.approx(7 * 24, rel=0.01)


def test_forward_split_orders_leads_by_close_time() -> None:
    rows = pd.DataFrame(
        {
            schema.LEAD_ID: [f"L{i}" for i in range(10) for _ in range(3)],
            ORDER_TIME: [float(10 - i) for i in range(10) for _ in range(3)],
        }
    )
    period, how = split_by_time(rows, 0.2, 0.2)
    by_lead = pd.Series(period, index=rows[schema.LEAD_ID]).groupby(level=0).agg(set)
    assert all(len(s) == 1 for s in by_lead)  # a lead never straddles two periods
    assert set(by_lead[["L0", "L1"]].map(lambda s: next(iter(s)))) == {TEST}
    assert set(by_lead[["L2", "L3"]].map(lambda s: next(iter(s)))) == {CALIBRATION}
    assert set(by_lead[[f"L{i}" for i in range(4, 10)]].map(lambda s: next(iter(s)))) == {TRAIN}
    assert how.startswith("forward in time")


def test_split_without_time_is_random_and_says_so() -> None:
    rows = pd.DataFrame({schema.LEAD_ID: [f"L{i}" for i in range(20)], ORDER_TIME: np.nan})
    period, how = split_by_time(rows, 0.2, 0.2)
    assert "random" in how
    assert (period == TEST).sum() == 4
