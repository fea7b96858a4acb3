"""The batch scoring job: every lead open as of a date gets a probability, a tier and its
reasons, stamped with the model version and the as-of time.

The job is built to run unattended: it resolves the model first (no model, nothing done;
the model also says how its training export was read, so the same raw export scores without
the training config), refuses to overwrite an as-of's scores without ``--force``, holds the
target's lock, scores in chunks of leads (memory follows the chunk, not the table), stages
everything on local disk and publishes it in one step, then records the run in MLflow with
feature drift against the training data. Leads with a row-level fault go to the rejects;
more than ``export.max_rejected_share`` of the whole table stops the run before anything is
published."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from leadscore.features import schema
from leadscore.features.build import build_features
from leadscore.features.snapshots import open_leads, rows_as_of
from leadscore.models import cpus
from leadscore.models.drift import DRIFT_COLUMNS, DriftCounter
from leadscore.models.scorer import LeadScoringModel
from leadscore.pipelines.config import Config
from leadscore.pipelines.io import chunks, tracking
from leadscore.pipelines.io.sources import Source
from leadscore.pipelines.io.tables import (
    REJECT_COLUMNS,
    LeadFaults,
    config_for_model,
    prepare_tables,
)
from leadscore.pipelines.io.targets import (
    Staged,
    Target,
    as_of_column,
    iso,
    refuse,
    staging_folder,
    writing,
)

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass(frozen=True)
class ScoreResult:
    target: str
    rejects_target: str
    scored: int
    rejected: int
    not_open: int
    tier_counts: dict[str, int]
    reject_reasons: dict[str, int]
    model_version: str
    drift: pd.DataFrame  # feature, psi, missing shares; empty when the model has no reference
    drift_alarm: list[str]  # features above the alarm threshold
    run_id: str | None
    seconds: dict[str, float]  # per stage (see STAGES)


STAGES = ("read", "validate", "features", "predict", "reasons", "write", "publish")


class Stopwatch:
    """Seconds spent per stage of a run, summed over chunks (the benchmark's breakdown)."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        """Charge the time since the previous lap to ``stage``."""
        now = time.perf_counter()
        self.seconds[stage] += now - self._last
        self._last = now


@dataclass(frozen=True)
class ChunkResult:
    scores: pd.DataFrame
    rejects: pd.DataFrame
    matrix: np.ndarray
    not_open: int
    lead_faults: LeadFaults  # of the chunk's leads, set aside; judged over the whole table


def score_chunk(
    bucket: chunks.Bucket,
    labels: tuple[str, str],
    as_of: pd.Timestamp,
    model: LeadScoringModel,
    model_version: str,
    config: Config,
    partial: bool,
    watch: Stopwatch | None = None,
) -> ChunkResult:
    """Validate, build features, predict, tier and explain one chunk of leads. A ``partial``
    chunk (one of several) sets aside its leads with row-level faults whatever their share:
    the caller judges the share over the whole table (``ChunkResult.lead_faults``)."""
    watch = watch or Stopwatch()
    leads_label, activities_label = labels
    tables = prepare_tables(
        bucket.leads,
        bucket.activities,
        config,
        leads_label,
        activities_label,
        allow_no_leads=partial,
        judge=not partial,
    )
    is_open, created_later = open_leads(tables.leads, as_of)
    lead_rejects = pd.DataFrame(
        {
            "source": leads_label,
            "row": np.asarray(tables.leads.index[created_later.to_numpy()], dtype="int64") + 1,
            schema.LEAD_ID: tables.leads.loc[created_later, schema.LEAD_ID].to_numpy(),
            "reason": f"created at or after the as-of time {as_of.isoformat()}",
        }
    )
    rejects = pd.concat(
        [r for r in (tables.lead_rejects, lead_rejects, tables.rejects) if not r.empty]
        or [pd.DataFrame({c: pd.Series(dtype="object") for c in REJECT_COLUMNS})],
        ignore_index=True,
    )
    rows = rows_as_of(tables.leads.loc[is_open, schema.LEAD_ID], as_of)
    matrix = np.empty((0, len(model.spec.feature_names)))
    probability, tiers, reasons = np.zeros(0), np.zeros(0, dtype=object), []
    watch.lap("validate")
    if len(rows):
        features = build_features(tables.leads, tables.activities, rows, model.spec)
        matrix = model.matrix(features)
        watch.lap("features")
        probability = model.predict_proba(matrix)
        tiers = model.tiers(probability)
        watch.lap("predict")
        reasons = model.reasons(
            features,
            config.scoring.max_reasons,
            config.scoring.min_reason_contribution,
            matrix=matrix,
        )
        watch.lap("reasons")
    scores = pd.DataFrame(
        {
            schema.LEAD_ID: rows[schema.LEAD_ID].astype("object"),
            schema.PROBABILITY: probability.astype("float64"),
            schema.TIER: pd.Series(tiers, dtype="object"),
            schema.REASONS: pd.Series(reasons, dtype="object"),
            schema.MODEL_VERSION: model_version,
            schema.AS_OF: as_of_column(as_of, len(rows), "parquet"),
        }
    )
    check_output(scores)
    not_open = int((~is_open & ~created_later).sum())
    return ChunkResult(scores, rejects, matrix, not_open, tables.lead_faults)


def score(
    leads: Source,
    activities: Source | None,
    as_of: pd.Timestamp,
    target: Target,
    model_uri: str,
    config: Config | None,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> ScoreResult:
    """Score every lead open as of ``as_of`` into ``target``; all of a run's rows appear
    there at once or not at all. ``config`` None (no --config): the export is read with the
    column mapping, outcome spellings and export settings stored with the model, the rest is
    defaults."""
    resolved = tracking.load_model(model_uri)  # no model: nothing read, nothing written
    config = config_for_model(config, resolved.model.reading, resolved.label)
    if target.has(as_of) and not force:
        raise refuse(target, as_of)
    settings = config.scoring
    cpus.set_threads(settings.threads)  # predictions and TreeSHAP reasons
    with target.lock(settings.lock_timeout_seconds):
        staging = staging_folder(target)
        try:
            staged = Staged(staging)
            try:
                totals = _score_all(leads, activities, as_of, resolved, config, staged, progress)
            finally:
                staged.close()
            drift = (
                totals.drift.table(settings.drift_alarm_psi)
                if totals.drift is not None
                else _no_drift()
            )
            alarm = drift.loc[drift["shifted"], "feature"].tolist()
            result = ScoreResult(
                target=target.label,
                rejects_target=target.rejects_label,
                scored=staged.n_scores,
                rejected=staged.n_rejects,
                not_open=totals.not_open,
                tier_counts={t: int(totals.tiers.get(t, 0)) for t in schema.TIERS},
                reject_reasons=dict(sorted(totals.reasons.items(), key=lambda kv: -kv[1])),
                model_version=resolved.label,
                drift=drift,
                drift_alarm=alarm,
                run_id=None,
                seconds=totals.watch.seconds,
            )
            run_id = _record_and_publish(
                result, totals, staged, target, as_of, resolved, leads, activities, force, config
            )
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    _log_result(result, as_of, settings.drift_alarm_psi)
    return replace(result, run_id=run_id)


@dataclass
class _Totals:
    not_open: int
    tiers: dict[str, int]
    reasons: dict[str, int]
    histogram: np.ndarray  # probability counts in 20 bins of 0.05
    drift: DriftCounter | None
    watch: Stopwatch
    lead_faults: LeadFaults


CHUNKS_PREFIX = "leadscore-chunks-"


def _remove_orphan_chunks(work_dir: str | None) -> None:
    """Chunk folders of killed runs on this machine (``leadscore-chunks-<pid>-...`` whose
    process is gone): they hold copies of the input, personal data included."""
    folder = Path(work_dir or tempfile.gettempdir())
    for path in folder.glob(f"{CHUNKS_PREFIX}*-*"):
        pid = path.name.removeprefix(CHUNKS_PREFIX).split("-", 1)[0]
        if path.is_dir() and pid.isdigit() and not tracking.process_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            log.info("Removed %s, left behind by a killed run", path)


def _score_all(
    leads: Source,
    activities: Source | None,
    as_of: pd.Timestamp,
    resolved: tracking.ResolvedModel,
    config: Config,
    staged: Staged,
    progress: Progress | None,
) -> _Totals:
    model = resolved.model
    settings = config.scoring
    if model.drift is None:
        log.warning("%s carries no training distributions: no drift check", resolved.label)
    totals = _Totals(
        not_open=0,
        tiers={},
        reasons={},
        histogram=np.zeros(20, dtype="int64"),
        drift=DriftCounter(model.drift) if model.drift is not None else None,
        watch=Stopwatch(),
        lead_faults=LeadFaults(),
    )
    n_buckets = chunks.plan(leads, settings.chunk_leads)
    labels = (leads.label, activities.label if activities is not None else "activities")
    if n_buckets > 1:
        log.info("Scoring %s in %d chunks of leads", leads.label, n_buckets)
    _remove_orphan_chunks(settings.work_dir)
    chunk_dir = tempfile.TemporaryDirectory(
        prefix=f"{CHUNKS_PREFIX}{os.getpid()}-", dir=settings.work_dir
    )
    with chunk_dir as work, writing(f"the chunks of the run in {work} (scoring.work_dir)"):
        if progress is not None:
            progress("chunks", 0, n_buckets)
        watch = totals.watch
        for bucket in chunks.buckets(
            leads, activities, config, n_buckets, settings.chunk_leads, Path(work)
        ):
            watch.lap("read")
            part = score_chunk(
                bucket, labels, as_of, model, resolved.label, config, n_buckets > 1, watch
            )
            staged.write(part.scores, part.rejects)
            totals.not_open += part.not_open
            totals.lead_faults += part.lead_faults
            for tier, n in part.scores[schema.TIER].value_counts().items():
                totals.tiers[str(tier)] = totals.tiers.get(str(tier), 0) + int(n)
            for reason, n in part.rejects["reason"].value_counts().items():
                totals.reasons[str(reason)] = totals.reasons.get(str(reason), 0) + int(n)
            p = part.scores[schema.PROBABILITY].to_numpy()
            totals.histogram += np.bincount(np.minimum((p * 20).astype("int64"), 19), minlength=20)
            if totals.drift is not None and len(part.matrix):
                totals.drift.update(part.matrix)
            if progress is not None:
                progress("chunks", bucket.number + 1, n_buckets)
            watch.lap("write")
    # The share of leads set aside, over the whole table (a chunk cannot tell): too many
    # stop the run here, before anything is published.
    totals.lead_faults.check(leads.label, config.export.max_rejected_share)
    return totals


def _no_drift() -> pd.DataFrame:
    return pd.DataFrame(columns=DRIFT_COLUMNS).astype({"psi": "float64", "shifted": "bool"})


def _record_and_publish(
    result: ScoreResult,
    totals: _Totals,
    staged: Staged,
    target: Target,
    as_of: pd.Timestamp,
    resolved: tracking.ResolvedModel,
    leads: Source,
    activities: Source | None,
    force: bool,
    config: Config,
) -> str:
    """Publish inside an MLflow run, so the record says whether the rows landed: a failed
    publish leaves a FAILED run with the counts it would have written, and a tracking server
    out of reach stops the run before anything is written."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        experiment = tracking.ensure_experiment(config.registry.scoring_experiment)
        with tracking.start_run(f"score {iso(as_of)}", experiment) as run:
            mlflow.set_tags(
                {
                    "leadscore.job": "score",
                    "leadscore.model_version": resolved.label,
                    "leadscore.as_of": iso(as_of),
                    "leadscore.target": target.label,
                }
            )
            mlflow.log_params(
                {
                    "as_of": iso(as_of),
                    "model_uri": resolved.uri,
                    "model_version": resolved.label,
                    "leads": leads.label,
                    "activities": activities.label if activities is not None else "",
                    "target": target.label,
                    "force": force,
                    "chunk_leads": config.scoring.chunk_leads,
                    "drift_alarm_psi": config.scoring.drift_alarm_psi,
                }
            )
            p_hist = totals.histogram
            metrics: dict[str, float] = {
                "scored": result.scored,
                "rejected": result.rejected,
                "not_open": result.not_open,
                "drift_max_psi": float(result.drift["psi"].max()) if len(result.drift) else 0.0,
                "drift_alarms": len(result.drift_alarm),
            }
            metrics |= {f"tier_{t}": n for t, n in result.tier_counts.items()}
            if p_hist.sum() > 0:
                centres = (np.arange(20) + 0.5) / 20
                metrics["probability_mean_binned"] = float(np.average(centres, weights=p_hist))
            mlflow.log_metrics(metrics)
            mlflow.log_table(
                pd.DataFrame(
                    {
                        "probability_from": np.arange(20) / 20,
                        "probability_to": (np.arange(20) + 1) / 20,
                        "leads": p_hist,
                    }
                ),
                "score_distribution.json",
            )
            mlflow.log_table(
                pd.DataFrame(
                    {
                        "reason": list(result.reject_reasons),
                        "rows": list(result.reject_reasons.values()),
                    }
                ),
                "rejects_by_reason.json",
            )
            if len(result.drift):
                mlflow.log_table(result.drift, "feature_drift.json")
            totals.watch.lap("write")
            target.publish(staged, as_of, force, config.scoring.lock_timeout_seconds)
            totals.watch.lap("publish")
            try:
                mlflow.log_metrics({f"seconds_{k}": v for k, v in totals.watch.seconds.items()})
                mlflow.set_tag("leadscore.published", "true")
            except MlflowException as exc:  # the rows are out: say so, do not fail the run
                log.warning("Scores published, but MLflow could not record it: %s", exc.message)
            return str(run.info.run_id)
    except MlflowException as exc:
        raise tracking.ModelResolutionError(
            f"cannot record the run in MLflow at {mlflow.get_tracking_uri()}; "
            f"nothing was written: {exc.message}"
        ) from exc


def _log_result(result: ScoreResult, as_of: pd.Timestamp, alarm_psi: float) -> None:
    log.info(
        "Scored %d open leads as of %s with %s; %d not open; %d rejected rows -> %s",
        result.scored,
        as_of.isoformat(),
        result.model_version,
        result.not_open,
        result.rejected,
        result.rejects_target,
    )
    if result.drift_alarm:
        top = result.drift[result.drift["shifted"]].head(5)
        log.warning(
            "Drift alarm: %d features shifted beyond PSI %s against the training data: %s",
            len(result.drift_alarm),
            f"{alarm_psi:g}",
            ", ".join(f"{f} ({p:.2f})" for f, p in zip(top["feature"], top["psi"], strict=True)),
        )


def check_output(scored: pd.DataFrame) -> None:
    """The contract of the output, checked before anything is written."""
    assert list(scored.columns) == list(schema.OUTPUT_COLUMNS), scored.columns
    p = scored[schema.PROBABILITY].to_numpy()
    if len(p) and not (np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()):
        raise RuntimeError("scoring produced probabilities outside 0..1; nothing was written")
    if not scored[schema.TIER].isin(schema.TIERS).all():
        raise RuntimeError("scoring produced an unknown tier; nothing was written")
    if scored[schema.LEAD_ID].duplicated().any():
        raise RuntimeError("scoring produced duplicate lead ids; nothing was written")
