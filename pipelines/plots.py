"""Plots logged with each training run (PNG, matplotlib's Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from leadscore.models.backtest import BacktestResult
from leadscore.pipelines.io import tracking


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def calibration_plot(
    y: np.ndarray, curves: dict[str, np.ndarray], weight: np.ndarray, path: Path, bins: int = 10
) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    for name, p in curves.items():
        which = np.minimum((p * bins).astype(int), bins - 1)
        xs, ys = [], []
        for b in range(bins):
            mask = which == b
            if weight[mask].sum() > 0:
                xs.append(np.average(p[mask], weights=weight[mask]))
                ys.append(np.average(y[mask], weights=weight[mask]))
        ax.plot(xs, ys, marker="o", label=name)
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed win rate")
    ax.set_title("Calibration on the most recent (test) period")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def importance_plot(importance: pd.DataFrame, path: Path, top: int = 20) -> Path:
    plt = _pyplot()
    head = importance.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(head) + 1.2))
    ax.barh(head["label"], head["mean_abs_contribution"], color="#3b6ea8")
    ax.set_xlabel("mean |contribution| (log-odds), test period")
    ax.set_title("What drives the score")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def log_backtest(history: BacktestResult, out: Path) -> None:
    """Per-fold and pooled tables, pooled metrics and plots of a backtest, into the active
    MLflow run (files under ``out``, which the caller logs as artifacts); each fold's
    metrics in a nested run."""
    import mlflow

    if history.predictions.empty:
        return
    history.per_fold.to_csv(out / "backtest_per_fold.csv", index=False)
    history.overall.to_csv(out / "backtest_overall.csv", index=False)
    for record in history.overall.to_dict("records"):
        for key in (
            "roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_top10", "roc_auc_fold_mean",
            "pr_auc_fold_mean",
        ):  # fmt: skip
            if key in record and np.isfinite(record[key]):
                mlflow.log_metric(f"backtest_{record['model']}_{key}", record[key])
    # Each fold a child run of this one, with its models' metrics side by side.
    for fold, frame in history.per_fold.groupby("fold"):
        with tracking.nested_run(f"backtest fold {fold}"):
            mlflow.set_tag("leadscore.job", "backtest fold")
            mlflow.log_metrics(
                {
                    f"{record['model']}_{key}": float(value)
                    for record in frame.to_dict("records")
                    for key, value in record.items()
                    if key not in ("fold", "model")
                    and isinstance(value, int | float)
                    and np.isfinite(value)
                }
            )
    backtest_plots(history.predictions, out)


def backtest_plots(predictions: pd.DataFrame, out: Path) -> list[Path]:
    """ROC and precision-recall curves, calibration and cumulative lift of the pooled
    backtest predictions, one line per model."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    plt = _pyplot()
    y, w = predictions["label"].to_numpy(), predictions["weight"].to_numpy()
    models = [c for c in predictions.columns if c.startswith("p_") and predictions[c].notna().all()]
    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(10, 4.5))
    for column in models:
        p = predictions[column].to_numpy()
        fpr, tpr, _ = roc_curve(y, p, sample_weight=w)
        roc_ax.plot(fpr, tpr, label=column.removeprefix("p_"))
        precision, recall, _ = precision_recall_curve(y, p, sample_weight=w)
        pr_ax.plot(recall, precision, label=column.removeprefix("p_"))
    roc_ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, backtest")
    pr_ax.set(xlabel="recall", ylabel="precision", title="Precision-recall, backtest")
    roc_ax.legend(loc="lower right")
    fig.tight_layout()
    curves = out / "backtest_roc_pr.png"
    fig.savefig(curves, dpi=110)
    plt.close(fig)

    calibration = calibration_plot(
        y, {c.removeprefix("p_"): predictions[c].to_numpy() for c in models}, w,
        out / "backtest_calibration.png",
    )  # fmt: skip

    lift = gains_plot(
        y,
        {c.removeprefix("p_"): predictions[c].to_numpy() for c in models},
        w,
        "Cumulative gains (lift), backtest",
        out / "backtest_lift.png",
    )
    return [curves, calibration, lift]


def gains_plot(
    y: np.ndarray, curves: dict[str, np.ndarray], w: np.ndarray, title: str, path: Path
) -> Path:
    """Cumulative gains: the share of wins held by the best-ranked share of leads."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for name, p in curves.items():
        order = np.argsort(-p, kind="stable")
        share = np.cumsum(w[order]) / w.sum()
        captured = np.cumsum((w * y)[order]) / max((w * y).sum(), 1e-12)
        ax.plot(share, captured, label=name)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="random")
    ax.set(xlabel="share of leads, best first", ylabel="share of wins captured", title=title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def rollup_plot(table: pd.DataFrame, by: str, title: str, path: Path, top: int = 15) -> Path:
    """Share of the score's movement per business field or family."""
    plt = _pyplot()
    head = table.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(head) + 1.2))
    ax.barh(head[by].astype(str), head["share"] * 100, color="#3b6ea8")
    ax.set_xlabel("share of mean |contribution| (%), test period")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def effects_plot(effects: pd.DataFrame, path: Path) -> Path:
    """Mean contribution by value for the top numeric features: direction and where the
    effect flattens; a missing value is marked beside each curve."""
    plt = _pyplot()
    names = list(dict.fromkeys(effects["feature"]))
    cols = 3
    rows = max(1, -(-len(names) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(11, 3.0 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names, strict=False):
        part = effects[effects["feature"] == name]
        present = part[~part["missing"]]
        ax.plot(present["value"], present["mean_contribution"], marker="o", color="#3b6ea8")
        missing = part[part["missing"]]
        if len(missing):
            ax.axhline(
                float(missing["mean_contribution"].iloc[0]),
                color="#c0504d",
                linestyle=":",
                label="value missing",
            )
            ax.legend(loc="best", fontsize=7)
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_title(str(part["label"].iloc[0]), fontsize=9)
        ax.set_xlabel("the lead's value", fontsize=8)
        ax.set_ylabel("effect on the score (log-odds)", fontsize=8)
    for ax in axes.ravel()[len(names) :]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
