"""Metrics that judge a conversion model: ranking, probability quality and the top slice."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score


def expected_calibration_error(
    y: np.ndarray, p: np.ndarray, weight: np.ndarray | None = None, bins: int = 10
) -> float:
    """Weighted mean |mean predicted - observed rate| over equal-width probability bins."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    w = np.ones_like(p) if weight is None else np.asarray(weight, dtype=float)
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = w.sum()
    error = 0.0
    for b in range(bins):
        in_bin = which == b
        mass = w[in_bin].sum()
        if mass > 0:
            gap = np.average(p[in_bin], weights=w[in_bin]) - np.average(
                y[in_bin], weights=w[in_bin]
            )
            error += mass / total * abs(gap)
    return float(error)


def top_share_metrics(
    y: np.ndarray, p: np.ndarray, share: float, weight: np.ndarray | None = None
) -> tuple[float, float]:
    """(precision, recall) among the top ``share`` of rows by probability."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    w = np.ones_like(p) if weight is None else np.asarray(weight, dtype=float)
    order = np.argsort(-p, kind="stable")
    cum_w = np.cumsum(w[order])
    top = order[: int(np.searchsorted(cum_w, share * cum_w[-1], side="right")) or 1]
    positives = (w * y).sum()
    precision = float((w[top] * y[top]).sum() / w[top].sum())
    recall = float((w[top] * y[top]).sum() / positives) if positives > 0 else float("nan")
    return precision, recall


TOP_SHARES = (0.05, 0.10, 0.20)


def evaluate(y: np.ndarray, p: np.ndarray, weight: np.ndarray | None = None) -> dict[str, float]:
    """ROC AUC, PR AUC, log loss, Brier, ECE; precision, recall and lift (precision over the
    base rate) in the top 5, 10 and 20%."""
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    out: dict[str, float] = {
        "rows": float(len(y)),
        "base_rate": float(np.average(y, weights=weight)),
    }
    if len(np.unique(y)) == 2:
        out["roc_auc"] = float(roc_auc_score(y, p, sample_weight=weight))
        out["pr_auc"] = float(average_precision_score(y, p, sample_weight=weight))
        out["log_loss"] = float(log_loss(y, p, sample_weight=weight, labels=[0, 1]))
    out["brier"] = float(brier_score_loss(y, p, sample_weight=weight))
    out["ece"] = expected_calibration_error(y, p, weight)
    for share in TOP_SHARES:
        precision, recall = top_share_metrics(y, p, share, weight)
        pct = round(share * 100)
        out[f"precision_top{pct}"] = precision
        out[f"recall_top{pct}"] = recall
        out[f"lift_top{pct}"] = (
            precision / out["base_rate"] if out["base_rate"] > 0 else float("nan")
        )
    return out


HIGHER_IS_BETTER = {"roc_auc": True, "pr_auc": True, "log_loss": False, "brier": False}
