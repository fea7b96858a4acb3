"""The training job: contract tables in, a calibrated, thresholded model registered in
MLflow out, with everything needed to judge it logged beside it."""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from leadscore.features import schema
from leadscore.features.build import FeatureSpec, build_features, fit_spec
from leadscore.features.leakage import Leak, excluded_features, find_leaks
from leadscore.features.registry import registry_frame
from leadscore.features.snapshots import LABEL, WEIGHT, training_rows
from leadscore.models.booster import (
    baseline_proba,
    fit_baseline,
    fit_booster,
    to_matrix,
    train_booster,
)
from leadscore.models.calibration import choose_calibrator
from leadscore.models.metrics import HIGHER_IS_BETTER, evaluate
from leadscore.models.mlflow_model import (
    ARTIFACT_KEY,
    PYFUNC_ENTRY,
    frame_to_strings,
    input_example,
    signature,
)
from leadscore.models.scorer import LeadScoringModel
from leadscore.models.split import CALIBRATION, TEST, TRAIN, latest_leads_mask, split_by_time
from leadscore.models.thresholds import Policy, learn_thresholds, tier_table
from leadscore.pipelines import plots, tracking
from leadscore.pipelines.config import Config
from leadscore.pipelines.tables import InputError, Tables, load_tables

log = logging.getLogger(__name__)

MIN_CLASS_LEADS = 20


class NotEnoughDataError(InputError):
    """Too few won or lost leads to learn from."""


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    model_name: str
    version: str
    is_champion: bool
    champion_reason: str
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    tier_table: pd.DataFrame  # registered model's thresholds, on the most recent period
    tier_table_out_of_time: pd.DataFrame  # calibration-period thresholds, on the test period
    split: str
    notes: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)


def _data_end(tables: Tables) -> pd.Timestamp:
    stamps = [
        tables.leads[c].max()
        for c in (schema.CREATED_AT, schema.CLOSED_AT)
        if c in tables.leads.columns
    ]
    if tables.activities is not None and not tables.activities.empty:
        stamps.append(tables.activities[schema.OCCURRED_AT].max())
    stamps = [s for s in stamps if pd.notna(s)]
    return max(stamps) if stamps else pd.Timestamp("1970-01-01", tz="UTC")


def _check_enough(leads: pd.DataFrame, source: str) -> None:
    if schema.OUTCOME not in leads.columns:
        raise InputError(
            source,
            "required column for training is missing",
            column=schema.OUTCOME,
            expected="won / lost for closed leads (map the export's column with `columns:`)",
        )
    won = int((leads[schema.OUTCOME] == schema.WON).sum())
    lost = int((leads[schema.OUTCOME] == schema.LOST).sum())
    if won < MIN_CLASS_LEADS or lost < MIN_CLASS_LEADS:
        raise NotEnoughDataError(
            source,
            f"too few closed leads to learn from: {won} won and {lost} lost",
            column=schema.OUTCOME,
            expected=f"at least {MIN_CLASS_LEADS} won and {MIN_CLASS_LEADS} lost leads "
            "(several hundred of each for trustworthy tiers)",
        )


def _importance(model: LeadScoringModel, features: pd.DataFrame) -> pd.DataFrame:
    contrib, _ = model.contributions(features)
    gain = model.booster.feature_importance(importance_type="gain")
    defs = model.spec.definitions()
    table = pd.DataFrame(
        {
            "feature": [d.name for d in defs],
            "label": [d.label for d in defs],
            "family": [str(d.family) for d in defs],
            "mean_abs_contribution": np.abs(contrib).mean(axis=0),
            "gain": gain,
        }
    )
    return table.sort_values("mean_abs_contribution", ascending=False).reset_index(drop=True)


def _champion_gate(
    config: Config,
    tables: Tables,
    test_rows: pd.DataFrame,
    new_metrics: dict[str, float],
) -> tuple[bool, str, dict[str, float]]:
    """Is the registered model at least as good as the current champion on the same recent
    rows? Both boosters were trained without these rows (unless the champion was trained on
    a newer export); the new model's calibrator has seen them, so the default gate metric is
    ranking-only (ROC AUC), which calibration cannot change."""
    name = config.registry.model_name
    current = tracking.champion_version(name)
    if current is None:
        return True, "no champion yet", {}
    try:
        champion = tracking.load_model(f"models:/{name}/{current}").model
    except tracking.ModelResolutionError as exc:
        return True, f"current champion v{current} cannot be loaded by this version ({exc})", {}
    features = build_features(tables.leads, tables.activities, test_rows, champion.spec)
    p = champion.predict_proba(features)
    theirs = evaluate(test_rows[LABEL].to_numpy(), p, test_rows[WEIGHT].to_numpy())
    metric = config.registry.gate_metric
    tolerance = config.registry.gate_tolerance
    ours = new_metrics.get(metric, float("nan"))
    their = theirs.get(metric, float("nan"))
    if HIGHER_IS_BETTER[metric]:
        passed = ours >= their - tolerance
    else:
        passed = ours <= their + tolerance
    verdict = "not worse than" if passed else "worse than"
    reason = (
        f"{metric} {ours:.4f} vs champion v{current} {their:.4f} on the same test rows: {verdict}"
    )
    return bool(passed), reason, theirs


@dataclass(frozen=True)
class Fitted:
    """The outcome of fitting, before anything is logged.

    ``evaluation`` judges the recipe honestly: booster trained on the train period,
    calibrated and thresholded on the calibration period, scored on the most recent (test)
    period it never saw. ``model`` is what gets registered: the same recipe refitted on
    train + calibration, with calibrator and thresholds learned on the most recent period,
    so probabilities follow the latest base rate as far as the history allows."""

    model: LeadScoringModel
    rows: pd.DataFrame
    period: np.ndarray
    split: str
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    calibration_metrics: dict[str, float]
    calibration_scores: dict[str, float]
    tiers_test: pd.DataFrame
    tiers_final: pd.DataFrame
    final_metrics: dict[str, float]
    p_test: np.ndarray
    p_baseline: np.ndarray
    baseline: Pipeline
    importance: pd.DataFrame
    notes: list[str]
    leaks: list[Leak]


def _calibrate_and_threshold(
    booster: Any, spec: FeatureSpec, rows: pd.DataFrame, x: pd.DataFrame, config: Config
) -> tuple[Any, Any, dict[str, float], np.ndarray]:
    y, w = rows[LABEL].to_numpy(), rows[WEIGHT].to_numpy()
    raw = np.asarray(booster.predict(to_matrix(x, spec), raw_score=True))
    calibrator, scores = choose_calibrator(
        config.calibration, raw, y, w, rows[schema.LEAD_ID].to_numpy()
    )
    p = calibrator.predict(raw)
    t = config.thresholds
    thresholds = learn_thresholds(
        p,
        y,
        w,
        Policy(t.sql.policy, t.sql.target),
        Policy(t.mql.policy, t.mql.target),
        t.min_tier_rows,
    )
    return calibrator, thresholds, scores, p


def fit(tables: Tables, config: Config, source: str) -> Fitted:
    """Build point-in-time training rows, split forward in time, fit, calibrate, threshold
    and evaluate. Pure computation: no MLflow, no files."""
    _check_enough(tables.leads, source)
    data_end = _data_end(tables)
    spec = fit_spec(tables.leads, tables.activities, config.features)
    rows = training_rows(
        tables.leads,
        every_days=config.split.snapshot_every_days,
        max_rows_per_lead=config.split.max_rows_per_lead,
        no_close_date_horizon_days=config.split.no_close_date_horizon_days,
        data_end=data_end,
    )
    if rows.empty:
        raise NotEnoughDataError(
            source,
            "no training rows: every closed lead closed within its first snapshot step",
            expected=f"leads open for longer than {config.split.snapshot_every_days} days, or a "
            "smaller split.snapshot_every_days",
        )
    features = build_features(tables.leads, tables.activities, rows, spec)
    period, how = split_by_time(rows, config.split.calibration_share, config.split.test_share)

    # The leakage gate, on the training period only, before anything is fitted.
    in_train = period == TRAIN
    leaks = find_leaks(
        features[in_train].reset_index(drop=True),
        rows.loc[in_train, LABEL].to_numpy(),
        rows.loc[in_train, schema.LEAD_ID].to_numpy(),
        spec.definitions(),
        config.leakage,
    )
    for leak in leaks:
        log.warning("%s", leak.describe())
    excluded = excluded_features(leaks, spec.definitions())
    if excluded:
        spec = spec.without(excluded)
        features = features[spec.feature_names]
    log.info(
        "Training rows: %d from %d closed leads; split %s",
        len(rows),
        rows[schema.LEAD_ID].nunique(),
        how,
    )
    parts = {}
    for name in (TRAIN, CALIBRATION, TEST):
        mask = period == name
        part_rows = rows[mask].reset_index(drop=True)
        if part_rows[LABEL].nunique() < 2:
            raise NotEnoughDataError(
                source,
                f"the {name} period has only one outcome ({len(part_rows)} rows)",
                expected="won and lost leads in every period of the forward split",
            )
        parts[name] = (part_rows, features[mask].reset_index(drop=True))

    # 1. Evaluation: train -> calibration -> test, each later in time than the one before.
    train_rows, train_x = parts[TRAIN]
    booster, rounds = _fit_booster(spec, train_rows, train_x, config)
    cal_rows, cal_x = parts[CALIBRATION]
    calibrator, thresholds, scores, p_cal = _calibrate_and_threshold(
        booster, spec, cal_rows, cal_x, config
    )
    test_rows, test_x = parts[TEST]
    y_test, w_test = test_rows[LABEL].to_numpy(), test_rows[WEIGHT].to_numpy()
    evaluated = LeadScoringModel(spec, booster, calibrator, thresholds)
    p_test = evaluated.predict_proba(test_x)
    metrics = evaluate(y_test, p_test, w_test)
    baseline = fit_baseline(
        train_x, train_rows[LABEL].to_numpy(), train_rows[WEIGHT].to_numpy(), spec
    )
    p_base = baseline_proba(baseline, test_x, spec)
    baseline_metrics = evaluate(y_test, p_base, w_test)
    calibration_metrics = evaluate(cal_rows[LABEL].to_numpy(), p_cal, cal_rows[WEIGHT].to_numpy())
    tiers_test = tier_table(p_test, y_test, w_test, thresholds)

    # 2. The registered model: refit on train + calibration, calibrate on the latest period.
    early_rows = pd.concat([train_rows, cal_rows], ignore_index=True)
    early_x = pd.concat([train_x, cal_x], ignore_index=True)
    final_booster = _refit_booster(spec, early_rows, early_x, rounds, config)
    final_calibrator, final_thresholds, _, p_final = _calibrate_and_threshold(
        final_booster, spec, test_rows, test_x, config
    )
    tiers_final = tier_table(p_final, y_test, w_test, final_thresholds)
    periods = {
        name: {
            "leads": int(part_rows[schema.LEAD_ID].nunique()),
            "rows": len(part_rows),
            "first_as_of": str(part_rows[schema.AS_OF].min()),
            "last_as_of": str(part_rows[schema.AS_OF].max()),
            "win_rate": float(np.average(part_rows[LABEL], weights=part_rows[WEIGHT])),
        }
        for name, (part_rows, _) in parts.items()
    }
    model = LeadScoringModel(
        spec,
        final_booster,
        final_calibrator,
        final_thresholds,
        metadata={
            "package_version": tracking.library_versions()["leadscore"],
            "git_commit": tracking.git_commit(),
            "data_end": data_end.isoformat(),
            "rounds": rounds,
            "split": how,
            "periods": periods,
            "fingerprint": tables.fingerprint,
            "evaluation_metrics": metrics,
        },
    )
    return Fitted(
        model=model,
        rows=rows,
        period=period,
        split=how,
        metrics=metrics,
        baseline_metrics=baseline_metrics,
        calibration_metrics=calibration_metrics,
        calibration_scores=scores,
        tiers_test=tiers_test,
        tiers_final=tiers_final,
        final_metrics=evaluate(y_test, p_final, w_test),
        p_test=p_test,
        p_baseline=p_base,
        baseline=baseline,
        importance=_importance(model, test_x),
        notes=list(final_thresholds.notes),
        leaks=leaks,
    )


def _fit_booster(
    spec: FeatureSpec, rows: pd.DataFrame, x: pd.DataFrame, config: Config
) -> tuple[Any, int]:
    late = latest_leads_mask(rows, 0.2)
    matrix = to_matrix(x, spec)
    y, w = rows[LABEL].to_numpy(), rows[WEIGHT].to_numpy()
    return fit_booster(
        spec, (matrix[~late], y[~late], w[~late]), (matrix[late], y[late], w[late]), config.lightgbm
    )


def _refit_booster(
    spec: FeatureSpec, rows: pd.DataFrame, x: pd.DataFrame, rounds: int, config: Config
) -> Any:
    return train_booster(
        spec,
        to_matrix(x, spec),
        rows[LABEL].to_numpy(),
        rows[WEIGHT].to_numpy(),
        rounds,
        config.lightgbm,
    )


def train(leads_path: Path, activities_path: Path | None, config: Config) -> TrainResult:
    """Read, fit, log everything to MLflow, register, and move the champion alias when the
    new model is not worse. Raises InputError for bad input."""
    tables = load_tables(leads_path, activities_path, config)
    fitted = fit(tables, config, str(leads_path))
    model, spec = fitted.model, fitted.model.spec
    test_mask = fitted.period == TEST
    test_rows = fitted.rows[test_mask].reset_index(drop=True)
    y_test, w_test = test_rows[LABEL].to_numpy(), test_rows[WEIGHT].to_numpy()

    tracking.ensure_experiment(config.registry.experiment)
    name = config.registry.model_name
    with mlflow.start_run(run_name="train") as run, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        mlflow.set_tags(
            {
                "leadscore.job": "train",
                "git_commit": model.metadata["git_commit"],
                **{f"version.{k}": v for k, v in tracking.library_versions().items()},
            }
        )
        mlflow.log_params(
            _flat_params(
                config,
                fitted.rows,
                fitted.split,
                model.metadata["rounds"],
                model.calibrator.method,
                spec,
            )
        )
        mlflow.log_metrics({f"test_{k}": v for k, v in fitted.metrics.items()})
        mlflow.log_metrics({f"baseline_test_{k}": v for k, v in fitted.baseline_metrics.items()})
        mlflow.log_metrics({f"registered_test_{k}": v for k, v in fitted.final_metrics.items()})
        mlflow.log_metrics({f"calibration_{k}": v for k, v in fitted.calibration_metrics.items()})
        mlflow.log_metrics(
            {f"calibration_cv_log_loss_{k}": v for k, v in fitted.calibration_scores.items()}
        )
        mlflow.log_metrics(
            {
                "threshold_sql": model.thresholds.sql,
                "threshold_mql": model.thresholds.mql,
                "activities_left_out": float(len(tables.rejects)),
            }
        )
        for record in fitted.tiers_test.to_dict("records"):
            mlflow.log_metric(f"test_tier_{record['tier']}_win_rate", record["win_rate"])
            mlflow.log_metric(f"test_tier_{record['tier']}_share", record["share_of_leads"])
        fitted.tiers_test.to_csv(out / "tier_table_test.csv", index=False)
        fitted.tiers_final.to_csv(out / "tier_table_registered_model.csv", index=False)
        fitted.importance.to_csv(out / "feature_importance.csv", index=False)
        registry_frame(spec.definitions()).to_csv(out / "feature_registry.csv", index=False)
        (out / "thresholds.json").write_text(json.dumps(model.thresholds.to_dict(), indent=2))
        (out / "data_fingerprint.json").write_text(json.dumps(tables.fingerprint, indent=2))
        (out / "periods.json").write_text(json.dumps(model.metadata["periods"], indent=2))
        leak_report = [
            {"feature": leak.feature, "label": leak.label, "origin": leak.origin,
             "evidence": leak.evidence, "kept": leak.kept, "text": leak.describe()}
            for leak in fitted.leaks
        ]  # fmt: skip
        (out / "leakage_report.json").write_text(json.dumps(leak_report, indent=2))
        mlflow.log_metric("leaks_found", float(len(fitted.leaks)))
        if fitted.leaks:
            mlflow.set_tag(
                "leadscore.leaks", "; ".join(leak.describe() for leak in fitted.leaks)[:4000]
            )
        rejects_summary = tables.rejects["reason"].value_counts().to_dict()
        (out / "activities_left_out.json").write_text(json.dumps(rejects_summary, indent=2))
        plots.calibration_plot(
            y_test,
            {"LightGBM (calibrated)": fitted.p_test, "logistic baseline": fitted.p_baseline},
            w_test,
            out / "calibration_test.png",
        )
        plots.importance_plot(fitted.importance, out / "feature_importance.png")
        mlflow.log_artifacts(str(out), artifact_path="report")

        model_dir = out / "model"
        model.save(model_dir)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PYFUNC_ENTRY),
            artifacts={ARTIFACT_KEY: str(model_dir)},
            signature=signature(spec),
            input_example=frame_to_strings(input_example(spec), spec),
            pip_requirements=tracking.pip_requirements(),
            registered_model_name=name,
        )
        version = str(info.registered_model_version)
        is_champion, reason, champion_metrics = _champion_gate(
            config, tables, test_rows, fitted.final_metrics
        )
        if champion_metrics:
            mlflow.log_metrics({f"champion_test_{k}": v for k, v in champion_metrics.items()})
        mlflow.set_tag("leadscore.champion_decision", reason)
        if is_champion:
            tracking.set_alias(name, tracking.CHAMPION, version)
            log.info("Model %s v%s is now the champion (%s)", name, version, reason)
        else:
            log.warning("Model %s v%s is NOT promoted: %s", name, version, reason)
        run_id = run.info.run_id

    return TrainResult(
        run_id=run_id,
        model_name=name,
        version=version,
        is_champion=is_champion,
        champion_reason=reason,
        metrics=fitted.metrics,
        baseline_metrics=fitted.baseline_metrics,
        tier_table=fitted.tiers_final,
        tier_table_out_of_time=fitted.tiers_test,
        split=fitted.split,
        notes=fitted.notes,
        leaks=[leak.describe() for leak in fitted.leaks],
    )


def _flat_params(
    config: Config, rows: pd.DataFrame, how: str, rounds: int, calibration: str, spec: FeatureSpec
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "split": how,
        "training_rows": len(rows),
        "training_leads": int(rows[schema.LEAD_ID].nunique()),
        "lightgbm_rounds": rounds,
        "calibration_method": calibration,
        "n_features": len(spec.feature_names),
        "activity_types": ",".join(spec.activity_types)[:500],
    }
    for section in ("split", "lightgbm", "thresholds", "registry", "features"):
        for key, value in getattr(config, section).model_dump().items():
            params[f"{section}.{key}"] = str(value)[:500]
    params["calibration"] = config.calibration
    return params
