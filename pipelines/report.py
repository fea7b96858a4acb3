"""`leadscore report`: one self-contained HTML page about a registered model, for marketers
and sales leads: what it is and what it learned from, the tiers it promises, how well it
ranks and how honest its probabilities are, what drives the score (by field and family, and
the shape of the top effects), and what changed against the previous champion.

Everything comes from the model's own training run in MLflow (its report artifacts and
metrics); plots are embedded as data URIs, so the page needs no network and no files beside
it. The page is also logged to that run as ``report/report.html``."""

from __future__ import annotations

import base64
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
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
TIER_PERCENT = (
    "share of leads",
    "win rate",
    "win rate, 95% low",
    "win rate, 95% high",
    "share of wins",
    "mean probability",
)
TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("leadscore.pipelines", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
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


@dataclass(frozen=True)
class ReportResult:
    path: Path
    model_version: str
    run_id: str
    plots: int


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


Table = dict[str, list[Any]]  # {"columns": [...], "rows": [[formatted text, ...], ...]}


def _table(frame: pd.DataFrame, percent: tuple[str, ...] = (), digits: int = 3) -> Table:
    """A frame as the template's table: its columns and its cells as text (floats rounded,
    ``percent`` columns as percentages, missing values empty)."""
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
            cells.append(text)
        rows.append(cells)
    return {"columns": [str(c) for c in frame.columns], "rows": rows}


def _read_csv(folder: Path, name: str) -> pd.DataFrame | None:
    path = folder / name
    return pd.read_csv(path) if path.is_file() else None


def _metrics_table(
    metrics: dict[str, float], other: dict[str, float] | None, names: tuple[str, str]
) -> Table | None:
    records = []
    for key, words in METRIC_WORDS.items():
        ours = metrics.get(f"test_{key}")
        if ours is None:
            continue
        record: dict[str, Any] = {"measure": words, names[0]: ours}
        if other is not None:
            record[names[1]] = other.get(f"test_{key}", float("nan"))
        records.append(record)
    return _table(pd.DataFrame.from_records(records)) if records else None


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
    """The page (templates/report.html.j2) and how many plots it holds."""
    metrics = run.data.metrics
    context: dict[str, Any] = {
        "label": label,
        "started": pd.Timestamp(run.info.start_time, unit="ms", tz="UTC").strftime(
            "%Y-%m-%d %H:%M UTC"
        ),
        "data_end": str(metadata.get("data_end", "?"))[:10],
        "package_version": str(metadata.get("package_version", "?")),
        "within": _within(metadata),
        **dict.fromkeys(("periods", "tiers", "by_family", "by_field", "factors")),
    }
    periods = metadata.get("periods", {})
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
        context["periods"] = _table(frame, percent=("win rate",))
    tiers = _read_csv(folder, "tier_table_test.csv")
    if tiers is not None:
        shown = tiers[[c for c in TIER_COLUMNS if c in tiers.columns]].rename(columns=TIER_COLUMNS)
        context["tiers"] = _table(shown, percent=TIER_PERCENT)
    baseline = {
        k.removeprefix("baseline_"): v for k, v in metrics.items() if k.startswith("baseline_")
    }
    context["quality"] = _metrics_table(metrics, baseline, ("this model", "simple baseline"))
    by_family = _read_csv(folder, "importance_by_family.csv")
    if by_family is not None:
        context["by_family"] = _table(by_family[["family", "share", "features"]], ("share",))
    by_field = _read_csv(folder, "importance_by_field.csv")
    if by_field is not None:
        top_fields = by_field[["field", "share", "features"]].head(12)
        context["by_field"] = _table(top_fields, percent=("share",))
    importance = _read_csv(folder, "feature_importance.csv")
    if importance is not None and "direction" in importance.columns:
        top = importance[["label", "field", "family", "direction", "mean_abs_contribution"]]
        renamed = top.head(15).rename(
            columns={"label": "factor", "mean_abs_contribution": "weight"}
        )
        context["factors"] = _table(renamed)
    context["segments"] = []
    for path in sorted(folder.glob("importance_by_segment_*.csv")):
        segment = pd.read_csv(path)
        if segment.empty:
            continue
        column = path.stem.removeprefix("importance_by_segment_")
        words = FIELD_WORDS.get(column, column.replace("_", " ").capitalize())
        table = _table(segment.rename(columns={"value": words}), percent=("share",))
        context["segments"].append((words, table))
    context["plots"] = [
        (caption, _data_uri(folder / name)) for name, caption in PLOTS if (folder / name).is_file()
    ]
    context["previous"] = None
    if previous is not None:
        other_version, other_run = previous
        other = MlflowClient().get_run(other_run).data.metrics
        names = ("this model", f"version {other_version}")
        changes = _read_csv(folder, "open_lead_tier_changes.csv")
        context["previous"] = {
            "version": other_version,
            "quality": _metrics_table(metrics, other, names),
            "changes": None
            if changes is None
            else _table(changes.rename(columns={changes.columns[0]: "old tier"})),
        }
    notes_path = folder / "notes.json"
    context["notes"] = (
        [str(n) for n in json.loads(notes_path.read_text())] if notes_path.is_file() else []
    )
    return TEMPLATES.get_template("report.html.j2").render(context), len(context["plots"])
