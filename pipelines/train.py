"""The training job: contract tables in, a calibrated, thresholded model registered in
MLflow out, with everything needed to judge it logged beside it; champion / challenger."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from leadscore.features import schema
from leadscore.features.build import FeatureSpec, build_features
from leadscore.features.registry import registry_frame
from leadscore.features.snapshots import LABEL, WEIGHT, open_leads, rows_as_of
from leadscore.models.importance import rollup
from leadscore.models.metrics import HIGHER_IS_BETTER, evaluate
from leadscore.models.mlflow_model import (
    ARTIFACT_KEY,
    PYFUNC_ENTRY,
    frame_to_strings,
    input_example,
    signature,
)
from leadscore.models.scorer import READING, LeadScoringModel
from leadscore.models.split import TEST
from leadscore.pipelines import plots
from leadscore.pipelines.config import Config, require_settled
from leadscore.pipelines.fitting import Fitted, Progress, fit
from leadscore.pipelines.io import tracking
from leadscore.pipelines.io.sources import Source
from leadscore.pipelines.io.tables import Tables, load_tables, reading_of

log = logging.getLogger(__name__)


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
    backtest: pd.DataFrame | None = None  # overall backtest metrics per model
    tier_changes: pd.DataFrame | None = None  # champion tier x new tier, open leads
    notes: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    # Why the gate could not compare with the champion (registry unreadable, champion not
    # loadable): the champion was left alone unless promotion was forced. None: it compared.
    gate_failure: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # per stage of the fit


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str
    champion_version: str | None
    champion: LeadScoringModel | None
    champion_metrics: dict[str, float]
    failed: bool = False  # the gate could not judge (registry or champion unreadable)


def _cannot_judge(reason: str, current: str | None) -> GateDecision:
    """Fail closed: when the champion cannot be read, loaded or scored, nothing says the
    new model is as good, so it does not replace it (unless ``train(promote=True)``)."""
    return GateDecision(False, reason, current, None, {}, failed=True)


def champion_gate(
    config: Config, tables: Tables, test_rows: pd.DataFrame, new_metrics: dict[str, float]
) -> GateDecision:
    """Is the registered model at least as good as the current champion on the same recent
    rows? Each side is judged by the booster it was judged with (``LeadScoringModel.judged``,
    trained without its own most recent period), so neither has learned from these rows
    (unless the champion was trained on a newer export); the new model's calibrator has seen
    them, so the default gate metric is ranking-only (ROC AUC), which calibration cannot
    change."""
    name = config.registry.model_name
    try:
        current = tracking.alias_version(name, tracking.CHAMPION)
    except tracking.RegistryUnavailable as exc:
        return _cannot_judge(f"not compared, champion left alone: {exc}", None)
    if current is None:
        return GateDecision(True, "no champion yet", None, None, {})
    try:
        champion = tracking.load_model(f"models:/{name}/{current}").model
        features = build_features(tables.leads, tables.activities, test_rows, champion.spec)
        theirs = evaluate(
            test_rows[LABEL].to_numpy(),
            champion.judged_proba(features),
            test_rows[WEIGHT].to_numpy(),
        )
    except Exception as exc:  # any failure to load or score it: the gate cannot judge
        detail = str(exc) if isinstance(exc, tracking.ModelResolutionError) else repr(exc)
        return _cannot_judge(
            f"not compared, champion left alone: champion v{current} cannot be loaded or "
            f"scored by this version ({detail})",
            current,
        )
    metric, tolerance = config.registry.gate_metric, config.registry.gate_tolerance
    ours, their = new_metrics.get(metric, float("nan")), theirs.get(metric, float("nan"))
    passed = ours >= their - tolerance if HIGHER_IS_BETTER[metric] else ours <= their + tolerance
    verdict = "not worse than" if passed else "worse than"
    reason = (
        f"{metric} {ours:.4f} vs champion v{current} {their:.4f} on the same most recent "
        f"leads: {verdict} (tolerance {tolerance:g})"
    )
    return GateDecision(bool(passed), reason, current, champion, theirs)


def tier_changes(
    tables: Tables, as_of: pd.Timestamp, old: LeadScoringModel, new: LeadScoringModel
) -> pd.DataFrame:
    """How the leads open at ``as_of`` would move between tiers under the new model:
    champion tier (rows) x new tier (columns)."""
    is_open, _ = open_leads(tables.leads, as_of)
    ids = tables.leads.loc[is_open, schema.LEAD_ID]
    rows = rows_as_of(ids, as_of)
    tiers = {}
    for key, model in (("champion", old), ("new", new)):
        features = build_features(tables.leads, tables.activities, rows, model.spec)
        tiers[key] = model.tiers(model.predict_proba(features))
    table = pd.crosstab(
        pd.Categorical(tiers["champion"], categories=list(schema.TIERS)),
        pd.Categorical(tiers["new"], categories=list(schema.TIERS)),
        rownames=["champion tier"],
        colnames=["new tier"],
        dropna=False,
    )
    return table


PARAM_CHARS = 6000  # MLflow's limit on a parameter value


def _flat_params(config: Config, fitted: Fitted, spec: FeatureSpec) -> dict[str, Any]:
    params: dict[str, Any] = {
        "split": fitted.split,
        "training_rows": len(fitted.rows),
        "training_leads": int(fitted.rows[schema.LEAD_ID].nunique()),
        "lightgbm_rounds": fitted.model.metadata["rounds"],
        "monotone_constraints": fitted.model.metadata["monotone"],
        "calibration_method": fitted.model.calibrator.method,
        "n_features": len(spec.feature_names),
        "excluded_features": ",".join(spec.excluded_features)[:500],
        "activity_types": ",".join(spec.activity_types)[:500],
    }
    # Every section of the resolved config (the whole of it is also logged as a dict,
    # config/resolved_config.json); LightGBM's as actually used (tuned, when tuning is on).
    sections = config.model_dump(mode="json")
    sections["lightgbm"] = fitted.model.metadata["lightgbm"]
    for section, values in sections.items():
        if not isinstance(values, dict):
            params[section] = str(values)[:PARAM_CHARS]
            continue
        for key, value in values.items():
            params[f"{section}.{key}"] = str(value)[:PARAM_CHARS]
    return params


def _log_run(config: Config, tables: Tables, fitted: Fitted, out: Path, source: str) -> None:
    model, spec = fitted.model, fitted.model.spec
    test_rows = fitted.rows[fitted.period == TEST].reset_index(drop=True)
    y_test, w_test = test_rows[LABEL].to_numpy(), test_rows[WEIGHT].to_numpy()
    mlflow.set_tags(
        {
            "leadscore.job": "train",
            "git_commit": model.metadata["git_commit"],
            **{f"version.{k}": v for k, v in tracking.library_versions().items()},
        }
    )
    mlflow.log_params(_flat_params(config, fitted, spec))
    mlflow.log_dict(config.model_dump(mode="json"), "config/resolved_config.json")
    tracking.log_training_input(tables.leads, source, data_digest(tables))
    mlflow.log_metrics({f"seconds_{k.replace(' ', '_')}": v for k, v in fitted.seconds.items()})
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
            "leads_rejected": float(len(tables.lead_rejects)),
            "leaks_found": float(len(fitted.leaks)),
        }
    )
    for record in fitted.tiers_test.to_dict("records"):
        for key in ("win_rate", "share_of_leads", "calibration_gap"):
            mlflow.log_metric(f"test_tier_{record['tier']}_{key}", record[key])
    if fitted.leaks:
        mlflow.set_tag("leadscore.leaks", "; ".join(x.describe() for x in fitted.leaks)[:4000])
    fitted.tiers_test.to_csv(out / "tier_table_test.csv", index=False)
    fitted.tiers_final.to_csv(out / "tier_table_registered_model.csv", index=False)
    fitted.explained.importance.to_csv(out / "feature_importance.csv", index=False)
    by_field = rollup(fitted.explained.importance, "field")
    by_family = rollup(fitted.explained.importance, "family")
    by_field.to_csv(out / "importance_by_field.csv", index=False)
    by_family.to_csv(out / "importance_by_family.csv", index=False)
    fitted.explained.effects.to_csv(out / "feature_effects.csv", index=False)
    for column, table in fitted.explained.segments.items():
        table.to_csv(out / f"importance_by_segment_{column}.csv", index=False)
    plots.rollup_plot(
        by_field, "field", "What drives the score, by field", out / "importance_by_field.png"
    )
    if not fitted.explained.effects.empty:
        plots.effects_plot(fitted.explained.effects, out / "feature_effects.png")
    registry_frame(spec.definitions()).to_csv(out / "feature_registry.csv", index=False)
    (out / "thresholds.json").write_text(json.dumps(model.thresholds.to_dict(), indent=2))
    (out / "data_fingerprint.json").write_text(json.dumps(tables.fingerprint, indent=2))
    (out / "periods.json").write_text(json.dumps(model.metadata["periods"], indent=2))
    (out / "notes.json").write_text(json.dumps(fitted.notes, indent=2))
    leak_report = [
        {
            "feature": leak.feature,
            "label": leak.label,
            "origin": leak.origin,
            "evidence": leak.evidence,
            "kept": leak.kept,
            "text": leak.describe(),
        }
        for leak in fitted.leaks
    ]
    (out / "leakage_report.json").write_text(json.dumps(leak_report, indent=2))
    rejects_summary = tables.rejects["reason"].value_counts().to_dict()
    (out / "activities_left_out.json").write_text(json.dumps(rejects_summary, indent=2))
    plots.calibration_plot(
        y_test,
        {"LightGBM (calibrated)": fitted.p_test, "logistic baseline": fitted.p_baseline},
        w_test,
        out / "calibration_test.png",
    )
    plots.importance_plot(fitted.explained.importance, out / "feature_importance.png")
    plots.gains_plot(
        y_test,
        {"LightGBM (calibrated)": fitted.p_test, "logistic baseline": fitted.p_baseline},
        w_test,
        "Cumulative gains (lift), most recent period",
        out / "lift_test.png",
    )
    if fitted.backtest is not None:
        plots.log_backtest(fitted.backtest, out)


def _log_lead_rejects(tables: Tables) -> None:
    """The leads set aside (row-level faults within export.max_rejected_share), with the
    reason: artifact ``rejects/leads_rejects.csv`` of the run (header only when none)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "leads_rejects.csv"
        tables.lead_rejects.to_csv(path, index=False)
        mlflow.log_artifact(str(path), artifact_path="rejects")


def train(
    leads_path: Path | Source,
    activities_path: Path | Source | None,
    config: Config,
    promote: bool = False,
    progress: Progress | None = None,
) -> TrainResult:
    """Read, fit, log everything to MLflow, register, and move the champion alias when the
    new model is not worse (else it becomes the challenger). Fails closed: when the champion
    cannot be read from the registry or cannot be loaded / scored, the new version is
    registered as the challenger and ``gate_failure`` says why; ``promote=True`` makes it
    the champion in that case (never over a comparable, better champion). Raises InputError
    for bad input, ConfigError while the config leaves a question open."""
    require_settled(config)
    started = time.perf_counter()
    tables = load_tables(leads_path, activities_path, config)
    read_seconds = round(time.perf_counter() - started, 2)
    label = leads_path.label if not isinstance(leads_path, Path) else str(leads_path)
    fitted = fit(tables, config, label, progress)
    fitted = replace(fitted, seconds={"read and validate": read_seconds, **fitted.seconds})
    fitted.model.metadata.update(  # the job stamps what the pure fit cannot know
        package_version=tracking.library_versions()["leadscore"], git_commit=tracking.git_commit()
    )
    # The model carries how this export was read: `score` reads the same export without
    # the training config (pipelines/io/tables.py, config_for_model).
    fitted.model.metadata[READING] = reading_of(config)
    test_rows = fitted.rows[fitted.period == TEST].reset_index(drop=True)
    stage = ["logging the run"]  # what the job was doing, for the message if MLflow fails
    try:
        return _log_and_register(config, tables, fitted, test_rows, stage, promote, label)
    except (MlflowException, tracking.RegistryUnavailable) as exc:
        message = exc.message if isinstance(exc, MlflowException) else str(exc)
        state = {
            "logging the run": "nothing was registered and no alias moved",
            "registering": "the run is complete; whether its model version was created, no "
            "alias points to it",
            "moving aliases": "a complete model version exists; check its aliases with "
            "`leadscore promote` / `rollback` once MLflow is back",
        }[stage[0]]
        raise tracking.ModelResolutionError(
            f"MLflow at {mlflow.get_tracking_uri()} failed or went out of reach while "
            f"{stage[0]}, so training stopped: {message}. State: {state}"
        ) from exc


REGISTERED_DESCRIPTION = (
    "Lead conversion model trained by leadscore: the calibrated probability that an open "
    "lead is won within the horizon stated on each version (horizon_days), a tier (SQL / MQL "
    "/ unqualified) from thresholds learned on past outcomes, and the reasons. Each "
    "version's tags hold the champion gate's decision, the training window, a digest of "
    "the training data and the out-of-time metrics; its run holds everything logged."
)


def data_digest(tables: Tables) -> str:
    """SHA-256 of the training data's fingerprint (file contents, or database and table)."""
    text = json.dumps(tables.fingerprint, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _describe_version(
    name: str, version: str, tables: Tables, fitted: Fitted, decision: str
) -> None:
    """What a reader of the MLflow UI needs without opening the run: the registered
    model's description (once) and the version's description and tags."""
    client = MlflowClient()
    meta, metrics = fitted.model.metadata, fitted.metrics
    periods = meta["periods"]
    window = f"{min(p['first_as_of'] for p in periods.values())} .. {meta['data_end']}"
    digest = data_digest(tables)
    tags = {
        "leadscore.gate_decision": decision,
        "leadscore.training_window": window,
        "leadscore.data_digest": f"sha256:{digest}",
        "leadscore.horizon_days": str(meta.get("horizon_days")),
        "leadscore.training_leads": str(int(fitted.rows[schema.LEAD_ID].nunique())),
        **{f"leadscore.test_{k}": f"{metrics[k]:.4f}" for k in ("roc_auc", "pr_auc", "ece")},
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value[:PARAM_CHARS])
    client.update_model_version(
        name,
        version,
        description=f"Trained on {tags['leadscore.training_leads']} closed leads "
        f"({window}); out of time ROC AUC {tags['leadscore.test_roc_auc']}, ECE "
        f"{tags['leadscore.test_ece']}; probability of a win within "
        f"{meta.get('horizon_days')} days of the as-of. Champion gate: {decision}",
    )
    if not client.get_registered_model(name).description:
        client.update_registered_model(name, description=REGISTERED_DESCRIPTION)


def _log_and_register(
    config: Config,
    tables: Tables,
    fitted: Fitted,
    test_rows: pd.DataFrame,
    stage: list[str],
    force: bool,
    source: str,  # where the leads came from (a path, or a table with its password hidden)
) -> TrainResult:
    model, spec, name = fitted.model, fitted.model.spec, config.registry.model_name
    experiment = tracking.ensure_experiment(config.registry.experiment)
    with tracking.start_run("train", experiment) as run, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        _log_run(config, tables, fitted, out, source)
        _log_lead_rejects(tables)
        gate = champion_gate(config, tables, test_rows, fitted.final_metrics)
        promote, reason = gate.promote, gate.reason
        if gate.failed:
            promote = force
            reason += (
                "; promoted anyway (--promote)"
                if force
                else "; registered as challenger: fix the registry or champion and run "
                "`leadscore promote --version <this version>`, or retrain with --promote"
            )
        changes = None
        if gate.champion is not None:
            mlflow.log_metrics({f"champion_test_{k}": v for k, v in gate.champion_metrics.items()})
            end = pd.Timestamp(model.metadata["data_end"])
            changes = tier_changes(tables, end, gate.champion, model)
            changes.to_csv(out / "open_lead_tier_changes.csv")
            moved = int(changes.to_numpy().sum() - np.trace(changes.to_numpy()))
            mlflow.log_metric("open_leads_changing_tier", float(moved))
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
        )
        # The honest (out-of-time) metrics, linked to the logged model as well as the run.
        test_metrics = {f"test_{k}": v for k, v in fitted.metrics.items()}
        mlflow.log_metrics(test_metrics, model_id=info.model_id)
        mlflow.set_tag("leadscore.champion_decision", reason[:4000])
        run_id = run.info.run_id
    # Only a finished run's complete model reaches the registry, and the aliases move last:
    # a job killed at any point leaves either no new version, or a complete version that
    # no alias points to yet; never a version of a half-logged run or a moved alias to it.
    stage[0] = "registering"
    version = tracking.register(info.model_uri, name)
    _describe_version(name, version, tables, fitted, reason.replace("<this version>", version))
    stage[0] = "moving aliases"
    if promote:
        tracking.promote(name, version)
        log.info("Model %s v%s is now the champion (%s)", name, version, reason)
    else:
        tracking.set_alias(name, tracking.CHALLENGER, version)
        log.warning("Model %s v%s is NOT promoted; it is the challenger: %s", name, version, reason)

    return TrainResult(
        run_id=run_id,
        model_name=name,
        version=version,
        is_champion=promote,
        champion_reason=reason.replace("<this version>", version),
        metrics=fitted.metrics,
        baseline_metrics=fitted.baseline_metrics,
        tier_table=fitted.tiers_final,
        tier_table_out_of_time=fitted.tiers_test,
        split=fitted.split,
        backtest=None if fitted.backtest is None else fitted.backtest.overall,
        tier_changes=changes,
        notes=fitted.notes,
        leaks=[leak.describe() for leak in fitted.leaks],
        gate_failure=gate.reason if gate.failed and not force else None,
        seconds=fitted.seconds,
    )
