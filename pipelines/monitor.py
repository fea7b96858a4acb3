"""`leadscore monitor`: did the tiers keep their promise? Score outputs kept over time are
joined with the outcomes that have arrived since; per tier the promised win rate (the model's
own tier table) is compared with the realised one, per cohort (month scored) the calibration,
and the report says when to recalibrate or retrain."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from leadscore.features import schema
from leadscore.features.timeutil import parse_utc
from leadscore.models.metrics import evaluate
from leadscore.models.scorer import LeadScoringModel
from leadscore.models.thresholds import win_rate_interval
from leadscore.pipelines.config import Config
from leadscore.pipelines.io import tracking
from leadscore.pipelines.io.sources import read_raw
from leadscore.pipelines.io.tables import InputError, load_tables

log = logging.getLogger(__name__)

MIN_OUTCOMES = 30


@dataclass(frozen=True)
class MonitorReport:
    scored_rows: int
    with_outcome: int
    still_open: int
    tiers: pd.DataFrame  # model_version x tier: promised vs realised
    cohorts: pd.DataFrame  # month scored: predicted vs realised, ECE, ROC AUC
    advice: list[str] = field(default_factory=list)
    run_id: str | None = None  # the MLflow run that records it


def _score_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p
                for p in path.rglob("*")
                if p.suffix.lower() in {".csv", ".parquet"}
                and ".rejects." not in p.name
                # a score folder's rejects (_rejects/) and unfinished runs (.leadscore-*)
                and not any(part[:1] in "._" for part in p.relative_to(path).parts)
            )
        else:
            files.append(path)
    if not files:
        raise InputError(
            ", ".join(map(str, paths)),
            "no score files found",
            expected="CSV or Parquet outputs of `leadscore score`",
        )
    return files


def read_scores(paths: list[Path]) -> pd.DataFrame:
    frames = []
    for file in _score_files(paths):
        frame = read_raw(file)
        missing = [c for c in schema.OUTPUT_COLUMNS if c not in frame.columns]
        if missing:
            raise InputError(str(file), f"not a score output: columns {missing} are missing",
                             expected=f"columns {list(schema.OUTPUT_COLUMNS)}")  # fmt: skip
        frame = frame[list(schema.OUTPUT_COLUMNS)].copy()
        frame[schema.AS_OF] = parse_utc(frame[schema.AS_OF].astype("string"))
        frame[schema.PROBABILITY] = pd.to_numeric(frame[schema.PROBABILITY], errors="coerce")
        frame[schema.LEAD_ID] = frame[schema.LEAD_ID].astype("string").str.strip()
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).drop_duplicates(
        [schema.LEAD_ID, schema.AS_OF, schema.MODEL_VERSION]
    )


def _scoring_model(version: str) -> LeadScoringModel | None:
    """The registered model named in the scores' ``model_version`` (``name/version``)."""
    if "/" not in version:
        return None
    name, number = version.rsplit("/", 1)
    try:
        return tracking.load_model(f"models:/{name}/{number}").model
    except tracking.ModelResolutionError as exc:
        log.warning("Cannot load %s (%s); judging its tiers by mean probability", version, exc)
        return None


def _promises(model: LeadScoringModel | None) -> pd.DataFrame | None:
    """The tier table (indexed by tier) the model was registered with."""
    table = model.metadata.get("tier_table") if model is not None else None
    return pd.DataFrame(table).set_index("tier") if table else None


def monitor(leads_path: Path, score_paths: list[Path], config: Config) -> MonitorReport:
    tables = load_tables(leads_path, None, config)
    scores = read_scores(score_paths)
    leads = tables.leads.set_index(schema.LEAD_ID)
    outcome = scores[schema.LEAD_ID].map(leads[schema.OUTCOME]) if schema.OUTCOME in leads else None
    if outcome is None:
        raise InputError(
            str(leads_path),
            "required column is missing",
            column=schema.OUTCOME,
            expected="the outcomes that arrived since the leads were scored",
        )
    closed_at = (
        scores[schema.LEAD_ID].map(leads[schema.CLOSED_AT])
        if schema.CLOSED_AT in leads
        else pd.Series(pd.NaT, index=scores.index)
    )
    known = outcome.isin([schema.WON, schema.LOST]).to_numpy()
    # Outcomes recorded before the lead was scored are not news about that score.
    arrived_after = (closed_at.isna() | (closed_at >= scores[schema.AS_OF])).to_numpy()
    judged = scores[known & arrived_after].copy()
    judged["y"] = (outcome[known & arrived_after] == schema.WON).astype(int).to_numpy()
    advice: list[str] = []
    if len(judged) < MIN_OUTCOMES:
        advice.append(
            f"only {len(judged)} scored leads have an outcome yet; wait for at least "
            f"{MIN_OUTCOMES} before judging the tiers"
        )
        return _recorded(
            MonitorReport(
                len(scores), len(judged), int((~known).sum()), pd.DataFrame(), pd.DataFrame(),
                advice,
            ),
            config,
        )  # fmt: skip

    models = {str(v): _scoring_model(str(v)) for v in judged[schema.MODEL_VERSION].unique()}
    tier_rows = []
    for version, part in judged.groupby(schema.MODEL_VERSION, sort=True):
        promised = _promises(models[str(version)])
        for tier in schema.TIERS:
            rows = part[part[schema.TIER] == tier]
            if rows.empty:
                continue
            y = rows["y"].to_numpy()
            low, high = win_rate_interval(y, rows[schema.LEAD_ID].to_numpy())
            mean_p = float(rows[schema.PROBABILITY].mean())
            promise = (
                float(promised.loc[tier, "win_rate"])
                if promised is not None and tier in promised.index
                else mean_p
            )
            tier_rows.append(
                {
                    schema.MODEL_VERSION: version,
                    "tier": tier,
                    "scored_with_outcome": len(rows),
                    "promised_win_rate": promise,
                    "realised_win_rate": float(y.mean()),
                    "realised_low": low,
                    "realised_high": high,
                    "mean_probability": mean_p,
                }
            )
    tiers = pd.DataFrame(tier_rows)

    judged["cohort"] = judged[schema.AS_OF].dt.strftime("%Y-%m")
    cohort_rows = []
    for cohort, part in judged.groupby("cohort", sort=True):
        metrics = evaluate(part["y"].to_numpy(), part[schema.PROBABILITY].to_numpy())
        cohort_rows.append(
            {
                "cohort": cohort,
                "scored_with_outcome": len(part),
                "mean_probability": float(part[schema.PROBABILITY].mean()),
                "realised_win_rate": float(part["y"].mean()),
                "ece": metrics["ece"],
                "roc_auc": metrics.get("roc_auc", float("nan")),
            }
        )
    cohorts = pd.DataFrame(cohort_rows)

    overall = evaluate(judged["y"].to_numpy(), judged[schema.PROBABILITY].to_numpy())
    broken = tiers[
        (tiers["scored_with_outcome"] >= MIN_OUTCOMES)
        & (
            (tiers["promised_win_rate"] < tiers["realised_low"])
            | (tiers["promised_win_rate"] > tiers["realised_high"])
        )
    ]
    gap = float(judged[schema.PROBABILITY].mean() - judged["y"].mean())
    if not broken.empty or overall["ece"] > 0.05:
        worst = (
            ", ".join(
                f"{r['tier']} promised {r['promised_win_rate']:.0%}, "
                f"realised {r['realised_win_rate']:.0%}"
                for r in broken.to_dict("records")
            )
            or f"calibration error {overall['ece']:.3f}"
        )
        advice.append(
            f"recalibrate: the tiers no longer keep their promise ({worst}); retrain with the "
            f"outcomes since (`leadscore train`), which recalibrates on the most recent leads"
        )
    judged_by = [m for m in models.values() if m is not None]
    expected_auc = (
        float(judged_by[0].metadata.get("evaluation_metrics", {}).get("roc_auc", float("nan")))
        if len(models) == 1 and judged_by
        else float("nan")
    )
    if np.isfinite(expected_auc) and overall.get("roc_auc", 1.0) < expected_auc - 0.05:
        advice.append(
            f"retrain: ranking has degraded (ROC AUC {overall['roc_auc']:.3f} on the realised "
            f"outcomes against {expected_auc:.3f} when the model was judged)"
        )
    if not advice:
        advice.append(
            f"the tiers keep their promise (mean predicted minus realised: {gap:+.1%}); no action"
        )
    still_open = int((~known).sum())
    if still_open:
        advice.append(
            f"{still_open} scored rows belong to leads still open: quick outcomes come in first, "
            "so early figures lean towards fast wins and fast losses"
        )
    return _recorded(
        MonitorReport(len(scores), len(judged), still_open, tiers, cohorts, advice), config
    )


def _recorded(report: MonitorReport, config: Config) -> MonitorReport:
    """The report, recorded as a run of the scoring experiment: counts as metrics, the
    advice as a tag, the tier and cohort tables as run tables."""
    import mlflow

    experiment = tracking.ensure_experiment(config.registry.scoring_experiment)
    with tracking.start_run("monitor", experiment) as run:
        mlflow.set_tags(
            {"leadscore.job": "monitor", "leadscore.advice": " | ".join(report.advice)[:5000]}
        )
        mlflow.log_metrics(
            {
                "scored_rows": report.scored_rows,
                "with_outcome": report.with_outcome,
                "still_open": report.still_open,
            }
        )
        if not report.tiers.empty:
            mlflow.log_table(report.tiers.astype({"model_version": str}), "monitor/tiers.json")
        if not report.cohorts.empty:
            mlflow.log_table(report.cohorts.astype({"cohort": str}), "monitor/cohorts.json")
    return replace(report, run_id=run.info.run_id)
