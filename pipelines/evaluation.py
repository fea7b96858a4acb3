"""Judging the recipe: on held-out generated worlds (train on one world as of its export
date, score the leads open then in another, compare with outcomes only the generator knows),
and by the rolling-origin backtest on any export (`leadscore backtest`)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from leadscore.features import schema
from leadscore.features.build import build_features
from leadscore.features.snapshots import open_leads, rows_as_of
from leadscore.models.backtest import BacktestResult, backtest, parts_of, shuffled_cv
from leadscore.models.booster import baseline_proba
from leadscore.models.metrics import evaluate
from leadscore.models.recipe import choose_booster
from leadscore.models.split import CALIBRATION, TRAIN, split_by_time
from leadscore.pipelines import plots
from leadscore.pipelines.config import Config, require_settled
from leadscore.pipelines.fitting import (
    check_enough,
    fit,
    fold_preparer,
    gate_leaks,
    training_set,
    within_horizon,
)
from leadscore.pipelines.io import tracking
from leadscore.pipelines.io.tables import load_tables, prepare_tables
from leadscore.pipelines.synthetic import World


def holdout_quality(train_world: World, holdout_world: World, config: Config) -> dict[str, Any]:
    """Metrics of the registered-model recipe and of the logistic baseline on the leads
    open at the holdout world's export date, against the outcomes the generator knows they
    later had: a win within the model's horizon of that date (the eventual outcome when it
    states none). (The backtest is not needed here and is switched off.)"""
    config = config.model_copy(update={"backtest": config.backtest.model_copy(update={"folds": 0})})
    train_tables = prepare_tables(train_world.leads, train_world.activities, config)
    fitted = fit(train_tables, config, "generated training world")
    tables = prepare_tables(holdout_world.leads, holdout_world.activities, config)
    as_of = holdout_world.now
    is_open, _ = open_leads(tables.leads, as_of)
    ids = tables.leads.loc[is_open, schema.LEAD_ID].to_numpy()
    rows = rows_as_of(ids, as_of)
    features = build_features(tables.leads, tables.activities, rows, fitted.model.spec)
    truth = holdout_world.truth.set_index(schema.LEAD_ID).reindex(ids)
    won = truth[schema.OUTCOME] == schema.WON
    horizon = fitted.model.metadata.get("horizon_days")
    if horizon is not None:
        closed = pd.to_datetime(truth[schema.CLOSED_AT], utc=True)
        won &= closed - as_of <= pd.Timedelta(days=horizon)
    y = won.to_numpy(dtype=int)
    p_model = fitted.model.predict_proba(features)
    p_baseline = baseline_proba(fitted.baseline, features, fitted.model.spec)
    tiers = fitted.model.tiers(p_model)
    tier_rates = {
        tier: float(y[tiers == tier].mean()) if (tiers == tier).any() else float("nan")
        for tier in schema.TIERS
    }
    return {
        "open_leads": len(ids),
        "horizon_days": horizon,
        "model": evaluate(y, p_model),
        "baseline": evaluate(y, p_baseline),
        "out_of_time_test": fitted.metrics,
        "out_of_time_baseline": fitted.baseline_metrics,
        "tier_win_rates": tier_rates,
        "tier_shares": {t: float(np.mean(tiers == t)) for t in schema.TIERS},
    }


@dataclass(frozen=True)
class BacktestReport:
    history: BacktestResult
    shuffled: pd.DataFrame | None  # overall metrics of a shuffled cross-validation
    run_id: str
    notes: list[str]


def backtest_job(
    leads_path: Path, activities_path: Path | None, config: Config, shuffled: bool
) -> BacktestReport:
    """`leadscore backtest`: the rolling-origin backtest alone (and, if asked, the shuffled
    cross-validation it should be compared with), logged to MLflow; nothing is registered."""
    require_settled(config)
    tables = load_tables(leads_path, activities_path, config)
    source = str(leads_path)
    notes = check_enough(tables.leads, source, config)
    spec, rows, features, _ = training_set(tables, config, source)
    period, _ = split_by_time(rows, config.split.calibration_share, config.split.test_share)
    rows, _ = within_horizon(tables.leads, rows, period, config)
    spec, features, leaks = gate_leaks(spec, rows, features, period == TRAIN, config)
    notes += [leak.describe() for leak in leaks]
    folds = config.backtest.folds or 4
    history = backtest(
        rows,
        fold_preparer(tables, config, rows, folds),
        folds=folds,
        fold_share=config.backtest.fold_share,
        calibration_share=config.split.calibration_share,
        calibration_method=config.calibration,
        points_rule=config.backtest.points,
    )
    contrast = None
    if shuffled:
        # The contrast a naive analyst would draw: one spec and recipe for all, folds at random.
        parts = parts_of(rows, features, period)
        choice = choose_booster(
            spec, parts[TRAIN], parts[CALIBRATION], config.lightgbm, config.tuning
        )
        contrast = shuffled_cv(
            rows,
            features,
            spec,
            choice,
            folds=5,
            calibration_share=config.split.calibration_share,
            calibration_method=config.calibration,
        )
    experiment = tracking.ensure_experiment(config.registry.experiment)
    with tracking.start_run("backtest", experiment) as run, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        mlflow.set_tags({"leadscore.job": "backtest", "split": history.how})
        mlflow.log_params({"folds": folds, "fold_share": config.backtest.fold_share})
        plots.log_backtest(history, out)
        if contrast is not None:
            contrast.to_csv(out / "shuffled_cv_overall.csv", index=False)
            for record in contrast.to_dict("records"):
                mlflow.log_metric(f"shuffled_cv_{record['model']}_roc_auc", record["roc_auc"])
        mlflow.log_artifacts(str(out), artifact_path="report")
        run_id = run.info.run_id
    return BacktestReport(history, contrast, run_id, notes)
