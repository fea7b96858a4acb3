"""Mapping the booster's raw score (log-odds) to probabilities that mean what they say."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import GroupKFold

log = logging.getLogger(__name__)

Method = Literal["isotonic", "sigmoid"]
PRIOR_ROWS = 10.0


ALIGN_QUANTILES = 201


@dataclass(frozen=True)
class Calibrator:
    """Sigmoid (Platt): p = expit(a * raw + b). Isotonic: piecewise linear through
    (x_knots, y_knots), clipped at the ends. Stored as plain numbers, no pickle.

    With ``align_x``/``align_y`` (see ``aligned``), a raw score is first carried piecewise
    linearly onto the scale of the booster the calibration was fitted for."""

    method: Method
    a: float = 1.0
    b: float = 0.0
    x_knots: tuple[float, ...] = field(default_factory=tuple)
    y_knots: tuple[float, ...] = field(default_factory=tuple)
    align_x: tuple[float, ...] = field(default_factory=tuple)
    align_y: tuple[float, ...] = field(default_factory=tuple)

    def predict(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.align_x:
            raw = np.interp(raw, np.asarray(self.align_x), np.asarray(self.align_y))
        if self.method == "sigmoid":
            return np.asarray(expit(self.a * raw + self.b))
        return np.interp(raw, np.asarray(self.x_knots), np.asarray(self.y_knots))

    def aligned(self, scores: np.ndarray, fitted_for: np.ndarray) -> Calibrator:
        """This calibration for another booster's raw ``scores`` of the same rows whose
        ``fitted_for`` scores it was fitted on: each score is carried to the score at the
        same quantile of those rows (quantile matching), so the other booster decides the
        order and this calibration how probable each position is. Monotone: never changes
        a ranking."""
        q = np.linspace(0.0, 1.0, ALIGN_QUANTILES)
        x = np.quantile(np.asarray(scores, dtype=float), q)
        y = np.quantile(np.asarray(fitted_for, dtype=float), q)
        knots = pd.DataFrame({"x": x, "y": y}).groupby("x", sort=True)["y"].mean()
        if len(knots) < 2:  # a booster that scores every row alike: nothing to carry
            return self.unaligned()
        return replace(
            self,
            align_x=tuple(float(v) for v in knots.index),
            align_y=tuple(float(v) for v in np.maximum.accumulate(knots.to_numpy())),
        )

    def unaligned(self) -> Calibrator:
        return replace(self, align_x=(), align_y=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "a": self.a,
            "b": self.b,
            "x_knots": list(self.x_knots),
            "y_knots": list(self.y_knots),
            "align_x": list(self.align_x),
            "align_y": list(self.align_y),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        return cls(
            method=data["method"],
            a=float(data["a"]),
            b=float(data["b"]),
            x_knots=tuple(float(x) for x in data["x_knots"]),
            y_knots=tuple(float(y) for y in data["y_knots"]),
            align_x=tuple(float(x) for x in data.get("align_x", ())),
            align_y=tuple(float(y) for y in data.get("align_y", ())),
        )


def fit_calibrator(
    method: Method, raw: np.ndarray, y: np.ndarray, weight: np.ndarray
) -> Calibrator:
    raw = np.asarray(raw, dtype=float)
    if method == "sigmoid":
        model = LogisticRegression(C=1e6, max_iter=1000)
        model.fit(raw.reshape(-1, 1), y, sample_weight=weight)
        a, b = float(model.coef_[0, 0]), float(model.intercept_[0])
        if a < 0:
            # The booster ranked these leads backwards. Flipping its scores would be a promise
            # no later period keeps (a higher score must never mean a lower probability): all
            # leads get the period's rate, as the isotonic fit does for a booster that ranks
            # nothing.
            rate = float(np.clip(np.average(y, weights=weight), 1e-6, 1 - 1e-6))
            a, b = 0.0, float(np.log(rate / (1 - rate)))
        return Calibrator("sigmoid", a=a, b=b)
    iso = IsotonicRegression(out_of_bounds="clip")
    fitted = iso.fit_transform(raw, y, sample_weight=weight)
    # Isotonic blocks at the extremes are often small and pure: a block of 40 wins out of 40
    # must not become a promise of 100%. Each block's rate is shrunk towards the overall rate
    # with the weight of PRIOR_ROWS rows (a Beta prior), then made monotone again.
    blocks = pd.DataFrame({"level": fitted, "x": raw, "wins": y * weight, "rows": weight})
    stats = blocks.groupby("level", sort=True).agg(
        x_low=("x", "min"), x_high=("x", "max"), wins=("wins", "sum"), rows=("rows", "sum")
    )
    overall = float(np.sum(y * weight) / np.sum(weight))
    shrunk = (stats["wins"] + PRIOR_ROWS * overall) / (stats["rows"] + PRIOR_ROWS)
    centre = ((stats["x_low"] + stats["x_high"]) / 2).to_numpy()
    smooth = IsotonicRegression().fit_transform(
        centre, shrunk.to_numpy(), sample_weight=(stats["rows"] + PRIOR_ROWS).to_numpy()
    )
    return Calibrator(
        "isotonic",
        x_knots=tuple(float(x) for x in centre),
        y_knots=tuple(float(v) for v in smooth),
    )


def choose_calibrator(
    requested: Literal["auto", "isotonic", "sigmoid"],
    raw: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    groups: np.ndarray,
) -> tuple[Calibrator, dict[str, float]]:
    """Fit the requested method, or with ``auto`` the one with the lower cross-validated
    log loss on the calibration rows (folds grouped by lead)."""
    if requested != "auto":
        return _checked(fit_calibrator(requested, raw, y, weight), len(y)), {}
    n_groups = len(np.unique(groups))
    folds = min(5, n_groups)
    scores: dict[str, float] = {}
    if folds >= 2 and len(np.unique(y)) == 2:
        for method in ("sigmoid", "isotonic"):
            losses, masses = [], []
            for train_idx, test_idx in GroupKFold(n_splits=folds).split(raw, y, groups):
                if len(np.unique(y[train_idx])) < 2:
                    continue
                calibrator = fit_calibrator(method, raw[train_idx], y[train_idx], weight[train_idx])
                p = np.clip(calibrator.predict(raw[test_idx]), 1e-6, 1 - 1e-6)
                losses.append(
                    log_loss(y[test_idx], p, sample_weight=weight[test_idx], labels=[0, 1])
                )
                masses.append(weight[test_idx].sum())
            if losses:
                scores[method] = float(np.average(losses, weights=masses))
    chosen: Method = "sigmoid"
    if scores.get("isotonic", np.inf) < scores.get("sigmoid", np.inf):
        chosen = "isotonic"
    log.info("Calibration: %s (cross-validated log loss %s)", chosen, scores or "n/a")
    return _checked(fit_calibrator(chosen, raw, y, weight), len(y)), scores


def _checked(calibrator: Calibrator, rows: int) -> Calibrator:
    """Say so when the calibration found no ranking to use (see ``fit_calibrator``)."""
    if calibrator.method == "sigmoid" and calibrator.a == 0.0:
        log.warning(
            "Calibration: the booster does not rank the %d calibration rows (or ranks them "
            "backwards); its scores are not used, every lead gets the period's rate",
            rows,
        )
    return calibrator
