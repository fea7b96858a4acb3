"""Models you can trust: forward backtests, tier policies, monotone constraints, tuning,
minimum data, monitoring."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.features import schema
from leadscore.features.build import build_features
from leadscore.features.snapshots import LABEL, ORDER_TIME, WEIGHT
from leadscore.models.backtest import backtest
from leadscore.models.booster import to_matrix
from leadscore.models.metrics import evaluate
from leadscore.models.recipe import monotone_features
from leadscore.models.split import CALIBRATION, LATER, TEST, TRAIN, rolling_folds, split_by_time
from leadscore.models.thresholds import HeldOut
from leadscore.pipelines.config import Config
from leadscore.pipelines.fitting import NotEnoughDataError, fit, fold_preparer, training_set
from leadscore.pipelines.io.tables import prepare_tables
from leadscore.pipelines.synthetic import generate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world_tables():  # type: ignore[no-untyped-def]
    world = generate(3000, seed=21)
    return prepare_tables(world.leads, world.activities, Config())


def _config(**sections: object) -> Config:
    return Config.model_validate(sections)


def test_rolling_folds_run_forward_in_time() -> None:
    rows = pd.DataFrame(
        {schema.LEAD_ID: [f"L{i}" for i in range(100) for _ in range(2)],
         ORDER_TIME: [float(i) for i in range(100) for _ in range(2)]}
    )  # fmt: skip
    folds, how = rolling_folds(rows, folds=3, fold_share=0.1, calibration_share=0.2)
    assert len(folds) == 3 and how.startswith("forward")
    for labels in folds:
        time = rows[ORDER_TIME].to_numpy()
        assert time[labels == TRAIN].max() < time[labels == CALIBRATION].min()
        assert time[labels == CALIBRATION].max() < time[labels == TEST].min()
    tests = [rows[ORDER_TIME].to_numpy()[labels == TEST] for labels in folds]
    assert tests[0].max() < tests[1].min() < tests[2].min()  # oldest fold first


def test_backtest_and_policies_on_generated_data(world_tables) -> None:  # type: ignore[no-untyped-def]
    config = _config(
        backtest={"folds": 3, "fold_share": 0.1},
        thresholds={
            "sql": {"policy": "capacity", "target": 4},
            "mql": {"policy": "capture_share", "target": 0.8},
        },
    )
    fitted = fit(world_tables, config, "generated")
    history = fitted.backtest
    assert history is not None
    assert set(history.per_fold["fold"]) == {1, 2, 3}
    assert set(history.overall["model"]) == {"lightgbm", "baseline", "points"}
    overall = history.overall.set_index("model")
    assert overall.loc["lightgbm", "roc_auc"] > 0.75
    for key in (
        "roc_auc",
        "pr_auc",
        "log_loss",
        "brier",
        "ece",
        "lift_top5",
        "precision_top20",
        "recall_top10",
    ):
        assert np.isfinite(overall.loc["lightgbm", key]), key
    # capacity: on the period the thresholds were learned on, with the probabilities they were
    # learned from (the judged booster's, calibrated there), at most 4 SQL hand-overs a week
    test = fitted.rows[fitted.period == TEST].reset_index(drop=True)
    features = fitted.model.spec
    assert features is not None
    inflow = fitted.model.metadata["weekly_inflow"]

    x = build_features(world_tables.leads, world_tables.activities, test, fitted.model.spec)
    held = HeldOut.of(
        fitted.model.judged_proba(x), test["label"], test[WEIGHT], test[schema.LEAD_ID], inflow
    )
    per_week = (held.per_lead()["p"] >= fitted.model.thresholds.sql).mean() * inflow
    assert 0 < per_week <= 4.0


def test_a_backtest_fold_never_sees_an_outcome_of_its_slice_or_later(world_tables) -> None:  # type: ignore[no-untyped-def]
    """Everything a fold learns (feature spec, leakage gate, rounds, monotone constraints,
    calibration, thresholds, the baseline, the points rule's calibration) comes from the
    leads that closed before its slice: turning every later outcome upside down leaves its
    predictions exactly as they were, while the next fold, which learns from them, moves."""
    config = _config(backtest={"folds": 2, "fold_share": 0.15})
    _, rows, _, _ = training_set(world_tables, config, "generated")
    first = rolling_folds(rows, 2, 0.15, config.split.calibration_share)[0][0]
    later_leads = set(rows.loc[(first == TEST) | (first == LATER), schema.LEAD_ID])
    flipped_rows = rows.copy()
    flip = rows[schema.LEAD_ID].isin(later_leads).to_numpy()
    flipped_rows.loc[flip, LABEL] = 1 - flipped_rows.loc[flip, LABEL]
    leads = world_tables.leads.copy()
    closed = leads[schema.LEAD_ID].isin(later_leads) & leads[schema.OUTCOME].notna()
    leads.loc[closed, schema.OUTCOME] = leads.loc[closed, schema.OUTCOME].map(
        {schema.WON: schema.LOST, schema.LOST: schema.WON}
    )
    flipped_tables = dataclasses.replace(world_tables, leads=leads)
    runs = [
        backtest(
            r,
            fold_preparer(t, config, r, 2),
            folds=2,
            fold_share=0.15,
            calibration_share=config.split.calibration_share,
            calibration_method=config.calibration,
            points_rule=config.backtest.points,
        ).predictions
        for r, t in ((rows, world_tables), (flipped_rows, flipped_tables))
    ]
    one = [run[run["fold"] == 1] for run in runs]
    assert len(one[0]) > 100
    for model in ("lightgbm", "baseline", "points"):
        np.testing.assert_array_equal(one[0][f"p_{model}"], one[1][f"p_{model}"])
    two = [run[run["fold"] == 2]["p_lightgbm"].to_numpy() for run in runs]
    assert not np.allclose(two[0], two[1])


def test_the_registered_booster_learns_from_the_most_recent_period(world_tables) -> None:  # type: ignore[no-untyped-def]
    """A signal that appears only among the most recent outcomes shapes the registered
    model's ranking; the booster it was judged with never saw it."""
    config = _config(backtest={"folds": 0})
    _, rows, _, _ = training_set(world_tables, config, "generated")
    period, _ = split_by_time(rows, config.split.calibration_share, config.split.test_share)
    recent = rows.loc[period == TEST].groupby(schema.LEAD_ID)[LABEL].first()
    rng = np.random.default_rng(8)
    signal = pd.Series(0.0, index=world_tables.leads[schema.LEAD_ID])
    chance = np.where(recent.to_numpy() == 1, 0.7, 0.1)
    signal[recent.index] = (rng.random(len(recent)) < chance).astype(float)
    leads = world_tables.leads.assign(late_signal=signal.to_numpy())
    fitted = fit(dataclasses.replace(world_tables, leads=leads), config, "generated")
    model = fitted.model
    assert model.judged is not None and "attr__late_signal" in model.spec.feature_names
    x = build_features(leads, world_tables.activities, rows.head(400), model.spec)
    on, off = x.assign(attr__late_signal=1.0), x.assign(attr__late_signal=0.0)
    assert (model.predict_proba(on) - model.predict_proba(off)).mean() > 0.02
    np.testing.assert_allclose(model.judged_proba(on), model.judged_proba(off))
    # The judged booster with its calibration gives the out-of-time figures the gate uses.
    latest = fitted.rows[fitted.period == TEST].reset_index(drop=True)
    judged = model.judged_proba(build_features(leads, world_tables.activities, latest, model.spec))
    again = evaluate(latest[LABEL].to_numpy(), judged, latest[WEIGHT].to_numpy())
    assert again["log_loss"] == pytest.approx(fitted.final_metrics["log_loss"], abs=1e-9)


def test_win_rate_policy_meets_its_target_within_the_interval(world_tables) -> None:  # type: ignore[no-untyped-def]
    config = _config(
        backtest={"folds": 0}, thresholds={"sql": {"policy": "win_rate", "target": 0.6}}
    )
    fitted = fit(world_tables, config, "generated")
    for table in (fitted.tiers_final, fitted.tiers_test):  # learned there, and out of time
        sql = table.set_index("tier").loc[schema.TIER_SQL]
        assert sql["win_rate_low"] <= 0.6 <= sql["win_rate_high"], table
    assert fitted.metrics["ece"] <= 0.05


def test_monotone_constraints_hold(world_tables) -> None:  # type: ignore[no-untyped-def]
    """More high-intent actions never lower a score."""
    config = _config(backtest={"folds": 0}, lightgbm={"monotone": "always"})
    fitted = fit(world_tables, config, "generated")
    model = fitted.model
    constrained = monotone_features(model.spec)
    assert {"high_intent__count_30d", "pricing_page_view__count_7d"} <= set(constrained)
    x = fitted.rows.head(500)

    features = build_features(world_tables.leads, world_tables.activities, x, model.spec)
    base = model.raw_score(features)
    for step in (1, 3, 10):
        more = features.copy()
        for name in constrained:
            more[name] = more[name] + step
        assert (model.raw_score(more) >= base - 1e-9).all()
    assert to_matrix(features, model.spec).shape[1] == len(model.spec.feature_names)


def test_tuning_runs_under_a_budget(world_tables) -> None:  # type: ignore[no-untyped-def]
    config = _config(
        backtest={"folds": 0}, tuning={"enabled": True, "budget_seconds": 20, "max_trials": 3}
    )
    fitted = fit(world_tables, config, "generated")
    assert any(note.startswith("tuned hyperparameters") for note in fitted.notes)
    assert fitted.metrics["roc_auc"] > 0.75


def test_minimum_data_refuses_and_warns() -> None:
    small = generate(120, seed=2)
    tables = prepare_tables(small.leads, small.activities, Config())
    with pytest.raises(
        NotEnoughDataError, match=r"too few closed leads to learn from: \d+ won and \d+ lost"
    ):
        fit(tables, _config(minimum_data={"min_class_leads": 40}), "small")
    medium = generate(900, seed=3)
    fitted = fit(
        prepare_tables(medium.leads, medium.activities, Config()),
        _config(backtest={"folds": 0}),
        "medium",
    )
    assert any("expect its ROC AUC to be uncertain by about" in note for note in fitted.notes)


def test_bank_marketing_forward_in_time_warns_about_the_shift() -> None:
    from leadscore.features.registry import attribute_slug
    from leadscore.pipelines.config import load_config
    from leadscore.pipelines.io.tables import load_tables

    root = Path(__file__).resolve().parents[1]
    config = load_config(root / "configs" / "bank-marketing.yaml")
    config = config.model_copy(update={"backtest": config.backtest.model_copy(update={"folds": 0})})
    tables = load_tables(
        root / "data/external/bank-marketing/bank-additional-full.csv", None, config
    )
    assert len(tables.leads) == 41188 and tables.leads["lead_id"].iloc[0] == "1"
    fitted = fit(tables, config, "bank")
    assert fitted.split.startswith("forward in time")
    names = fitted.model.spec.feature_names
    assert not any(name.startswith("attr__duration") for name in names)
    # The five macro-economic columns are values of the month, and so is the month of the
    # call, found by their evidence; the lead's own values (previous contacts, days since,
    # calls this campaign, age, job, last outcome) stay.
    period = ("emp.var.rate", "cons.price.idx", "cons.conf.idx", "euribor3m", "nr.employed")
    assert not {attribute_slug(column) for column in (*period, "month")} & set(names)
    for kept in ("previous", "pdays", "campaign", "age", "job", "poutcome"):
        assert attribute_slug(kept) in names, kept
    shift = [note for note in fitted.notes if "conversion rate has shifted" in note]
    assert shift and "%" in shift[0]
    # At least matching the baseline on the most recent fifth: not worse by more than two
    # standard errors of a ROC AUC on that many wins and losses (Hanley & McNeil).
    test = fitted.rows[fitted.period == TEST]
    won, lost = int((test[LABEL] == 1).sum()), int((test[LABEL] == 0).sum())
    auc = fitted.baseline_metrics["roc_auc"]
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    se = ((auc * (1 - auc) + (won - 1) * (q1 - auc**2) + (lost - 1) * (q2 - auc**2))
          / (won * lost)) ** 0.5  # fmt: skip
    assert 0 < se < 0.01
    assert fitted.metrics["roc_auc"] >= auc - 2 * se


def test_bank_marketing_backtest_as_the_readme_reports_it() -> None:
    """The README's bank marketing table, over LightGBM seeds 1-5 (a figure holds over seeds,
    not at one lucky seed): forward in time with leadscore's default config (the values of
    the period left out), the median LightGBM beats the points rule, pooled and on the mean
    of the folds, and stays within 0.02 of the logistic baseline, which ranks this drifting,
    near-additive signal best; a shuffled split claims far more than any forward figure."""
    from leadscore.pipelines.config import load_config
    from leadscore.pipelines.evaluation import backtest_job

    root = Path(__file__).resolve().parents[1]
    config = load_config(root / "configs" / "bank-marketing.yaml")
    bank = root / "data/external/bank-marketing/bank-additional-full.csv"
    runs, shuffled = [], None
    for seed in range(1, 6):
        seeded = config.model_copy(
            update={"lightgbm": config.lightgbm.model_copy(update={"seed": seed})}
        )
        report = backtest_job(bank, None, seeded, seed == 1)
        runs.append(report.history.overall.set_index("model"))
        shuffled = report.shuffled.set_index("model") if report.shuffled is not None else shuffled
    assert shuffled is not None and shuffled.loc["lightgbm", "roc_auc"] > 0.72

    def median(model: str, metric: str) -> float:
        return float(np.median([run.loc[model, metric] for run in runs]))

    lgbm, base, rule = ({m: median(name, m) for m in ("roc_auc", "roc_auc_fold_mean", "pr_auc")}
                        for name in ("lightgbm", "baseline", "points"))  # fmt: skip
    assert (
        lgbm["roc_auc"] > rule["roc_auc"] and lgbm["roc_auc_fold_mean"] > rule["roc_auc_fold_mean"]
    )
    assert lgbm["pr_auc"] > rule["pr_auc"]
    assert lgbm["roc_auc"] > base["roc_auc"] - 0.02
    assert lgbm["roc_auc_fold_mean"] < shuffled.loc["lightgbm", "roc_auc"] - 0.1
