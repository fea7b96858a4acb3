"""Plots logged with each training run (PNG, matplotlib's Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


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
