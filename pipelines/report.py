"""`leadscore report`: one self-contained HTML page about a registered model, for marketers
and sales leads: what it is and what it learned from, the tiers it promises, how well it
ranks and how honest its probabilities are, what drives the score (by field and family, and
the shape of the top effects), and what changed against the previous champion.

Everything comes from the model's own training run in MLflow (its report artifacts and
metrics); plots are embedded as data URIs, so the page needs no network and no files beside
it. The page is also logged to that run as ``report/report.html``."""

from __future__ import annotations

import base64
import html
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from leadscore.models.importance import FIELD_WORDS
from leadscore.pipelines.io import tracking

log = logging.getLogger(__name__)

PLOTS = (
    ("importance_by_field.png", "What drives the score, by field"),
    ("feature_effects.png", "How the strongest factors move the score"),
    ("feature_importance.png", "What drives the score, factor by factor"),
    ("calibration_test.png", "Are the probabilities honest? (most recent leads)"),
    ("lift_test.png", "Cumulative gains on the most recent leads: the wins the top-ranked hold"),
    ("backtest_lift.png", "Cumulative gains: how many wins the top-ranked leads hold"),
    ("backtest_roc_pr.png", "Ranking quality, forward in time"),
    ("backtest_calibration.png", "Calibration, forward in time"),
)
METRIC_WORDS = {
    "roc_auc": "ROC AUC (ranking, 0.5 = coin toss)",
    "pr_auc": "PR AUC (ranking of the wins)",
    "log_loss": "log loss (lower is better)",
    "brier": "Brier score (lower is better)",
    "ece": "calibration error (lower is better)",
    "precision_top10": "win rate of the top 10%",
    "recall_top10": "share of wins in the top 10%",
    "lift_top10": "lift of the top 10%",
}
TIER_COLUMNS = {
    "tier": "tier",
    "threshold": "from probability",
    "share_of_leads": "share of leads",
    "win_rate": "win rate",
    "win_rate_low": "win rate, 95% low",
    "win_rate_high": "win rate, 95% high",
    "share_of_wins": "share of wins",
    "mean_probability": "mean probability",
}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #1f2933; line-height: 1.45; padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #d9e2ec; padding-bottom: 0.2rem;
  margin-top: 2.2rem; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.92rem; }
th, td { border: 1px solid #d9e2ec; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f0f4f8; }
figure { margin: 1rem 0; } img { max-width: 100%; border: 1px solid #eef2f6; }
figcaption { font-size: 0.9rem; color: #52606d; }
.note { background: #fffbea; border-left: 4px solid #f0b429; padding: 0.4rem 0.8rem; }
.muted { color: #52606d; }
"""


@dataclass(frozen=True)
class ReportResult:
    path: Path
    model_version: str
    run_id: str
    plots: int


def _img(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _table(frame: pd.DataFrame, percent: tuple[str, ...] = (), digits: int = 3) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for record in frame.to_dict("records"):
        cells = []
        for column, value in record.items():
            if isinstance(value, float):
                text = (
                    ""
                    if pd.isna(value)
                    else f"{value:.1%}"
                    if column in percent
                    else f"{value:.{digits}f}"
                )
            else:
                text = str(value)
            cells.append(f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _read_csv(folder: Path, name: str) -> pd.DataFrame | None:
    path = folder / name
    return pd.read_csv(path) if path.is_file() else None


def _metrics_table(
    metrics: dict[str, float], other: dict[str, float] | None, names: tuple[str, str]
) -> str:
    records = []
    for key, words in METRIC_WORDS.items():
        ours = metrics.get(f"test_{key}")
        if ours is None:
            continue
        record: dict[str, Any] = {"measure": words, names[0]: ours}
        if other is not None:
            record[names[1]] = other.get(f"test_{key}", float("nan"))
        records.append(record)
    return _table(pd.DataFrame.from_records(records)) if records else ""


def _previous(name: str, version: str) -> tuple[str, str] | None:
    """The version this one is judged against: the previous champion when this is the
    champion, else the champion."""
    champion = tracking.alias_version(name, tracking.CHAMPION)
    other = tracking.alias_version(name, tracking.PREVIOUS) if champion == version else champion
    if other is None or other == version:
        return None
    return other, str(MlflowClient().get_model_version(name, other).run_id)


def build_report(model_uri: str, output: Path) -> ReportResult:
    """Write ``output/report.html`` for a registered model and log it to its training run."""
    resolved = tracking.load_model(model_uri)
    if not (resolved.name and resolved.version):
        raise tracking.ModelResolutionError(
            f"{model_uri}: the report needs a registered model (models:/NAME@ALIAS or "
            "models:/NAME/VERSION)"
        )
    client = MlflowClient()
    version = client.get_model_version(resolved.name, resolved.version)
    run = client.get_run(str(version.run_id))
    model = resolved.model
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(
            mlflow.artifacts.download_artifacts(
                run_id=run.info.run_id, artifact_path="report", dst_path=tmp
            )
        )
        page, n_plots = _page(
            resolved.label, run, model.metadata, folder, _previous(resolved.name, resolved.version)
        )
    output.mkdir(parents=True, exist_ok=True)
    path = output / "report.html"
    staging = output / ".report.html.tmp"
    staging.write_text(page, encoding="utf-8")
    staging.replace(path)
    client.log_artifact(run.info.run_id, str(path), artifact_path="report")
    log.info("Report for %s: %s (also in MLflow run %s)", resolved.label, path, run.info.run_id)
    return ReportResult(path, resolved.label, run.info.run_id, n_plots)


def _within(metadata: dict[str, Any]) -> str:
    """The probability's horizon in words (models trained before horizons: nothing)."""
    days = metadata.get("horizon_days")
    return "" if days is None else f" within {float(days):g} days of the day it is scored"


def _page(
    label: str,
    run: Any,
    metadata: dict[str, Any],
    folder: Path,
    previous: tuple[str, str] | None,
) -> tuple[str, int]:
    metrics = run.data.metrics
    started = pd.Timestamp(run.info.start_time, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
    periods = metadata.get("periods", {})
    parts = [
        f"<h1>Lead conversion model {html.escape(label)}</h1>",
        f"<p class='muted'>Trained {started}; data up to "
        f"{html.escape(str(metadata.get('data_end', '?'))[:10])}; "
        f"leadscore {html.escape(str(metadata.get('package_version', '?')))}.</p>",
        "<h2>What this model is</h2>",
        "<p>A gradient-boosted tree model (LightGBM) that estimates, for every open lead, the "
        f"probability that it will be won{_within(metadata)}, from what the lead did, who it "
        "is and how it engages. Its probabilities are calibrated on the most recent closed "
        "leads, and the MQL / SQL thresholds are learned from past outcomes.</p>",
    ]
    if periods:
        frame = pd.DataFrame(
            [
                {
                    "period": name,
                    "leads": p.get("leads"),
                    "from": str(p.get("first_as_of", ""))[:10],
                    "to": str(p.get("last_as_of", ""))[:10],
                    "win rate": p.get("win_rate"),
                }
                for name, p in periods.items()
            ]
        )
        parts.append("<p>What it learned from (closed leads, split forward in time):</p>")
        parts.append(_table(frame, percent=("win rate",)))
    tiers = _read_csv(folder, "tier_table_test.csv")
    if tiers is not None:
        shown = tiers[[c for c in TIER_COLUMNS if c in tiers.columns]].rename(columns=TIER_COLUMNS)
        parts.append("<h2>The tiers and what they promise</h2>")
        parts.append(
            "<p>Measured out of time: the tier policy learned its thresholds on the leads "
            "before the most recent ones, and these are the win rates the most recent closed "
            "leads then had in each tier (95% bootstrap confidence intervals). The registered "
            "model's thresholds are learned the same way one period later.</p>"
        )
        parts.append(
            _table(
                shown,
                percent=(
                    "share of leads",
                    "win rate",
                    "win rate, 95% low",
                    "win rate, 95% high",
                    "share of wins",
                    "mean probability",
                ),
            )
        )
    parts.append("<h2>How good is it?</h2>")
    baseline = {
        k.removeprefix("baseline_"): v for k, v in metrics.items() if k.startswith("baseline_")
    }
    parts.append(_metrics_table(metrics, baseline, ("this model", "simple baseline")))
    n_plots = 0
    by_family = _read_csv(folder, "importance_by_family.csv")
    by_field = _read_csv(folder, "importance_by_field.csv")
    importance = _read_csv(folder, "feature_importance.csv")
    parts.append("<h2>What drives the score</h2>")
    if by_family is not None:
        parts.append("<p>By family of signals:</p>")
        parts.append(_table(by_family[["family", "share", "features"]], percent=("share",)))
    if by_field is not None:
        parts.append("<p>By field (the top 12):</p>")
        parts.append(_table(by_field[["field", "share", "features"]].head(12), percent=("share",)))
    if importance is not None and "direction" in importance.columns:
        parts.append("<p>The strongest single factors and their direction:</p>")
        top = importance[["label", "field", "family", "direction", "mean_abs_contribution"]].head(
            15
        )
        parts.append(
            _table(top.rename(columns={"label": "factor", "mean_abs_contribution": "weight"}))
        )
    for path in sorted(folder.glob("importance_by_segment_*.csv")):
        segment = pd.read_csv(path)
        if segment.empty:
            continue
        column = path.stem.removeprefix("importance_by_segment_")
        words = FIELD_WORDS.get(column, column.replace("_", " ").capitalize())
        parts.append(f"<p>What drives the score per {html.escape(words.lower())} (top fields):</p>")
        parts.append(
            _table(
                segment.rename(columns={"value": words}),
                percent=("share",),
            )
        )
    for name, caption in PLOTS:
        path = folder / name
        if path.is_file():
            parts.append(_img(path, caption))
            n_plots += 1
    parts.append("<h2>What changed against the previous champion</h2>")
    if previous is None:
        parts.append("<p>No earlier champion to compare with.</p>")
    else:
        other_version, other_run = previous
        other = MlflowClient().get_run(other_run).data.metrics
        parts.append(
            f"<p>Compared with version {html.escape(other_version)}, each on its own most "
            "recent period:</p>"
        )
        parts.append(_metrics_table(metrics, other, ("this model", f"version {other_version}")))
        changes = _read_csv(folder, "open_lead_tier_changes.csv")
        if changes is not None:
            parts.append("<p>Open leads by tier, old model (rows) against this one (columns):</p>")
            parts.append(_table(changes.rename(columns={changes.columns[0]: "old tier"})))
    notes_path = folder / "notes.json"
    if notes_path.is_file():
        notes = json.loads(notes_path.read_text())
        if notes:
            parts.append("<h2>Notes from training</h2>")
            parts.extend(f"<p class='note'>{html.escape(str(n))}</p>" for n in notes)
    body = "\n".join(parts)
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Lead conversion model {html.escape(label)}</title>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )
    return page, n_plots
