"""Population stability of every feature: the training rows' distribution, binned once when
the model is trained and stored with it, against the rows a scoring run sees.

PSI = sum over bins of (actual - expected) * ln(actual / expected). Rules of thumb: below 0.1
stable, 0.1-0.25 a moderate shift, above 0.25 a shift worth a look before trusting scores.
Numeric features get deciles of the training rows (plus a bin for missing values);
categorical features one bin per category (unknown and missing share a bin).

Small samples make PSI large by chance alone: both shares get half a row per bin
(Jeffreys smoothing, so an empty bin is not an infinite surprise), and each PSI comes with
its sampling noise, (bins - 1) * (1/n_now + 1/n_reference), the value it takes on average
when nothing moved. A feature is *shifted* when its PSI exceeds the alarm threshold and
is at least NOISE_MULTIPLE times its noise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

BINS = 10
PSEUDO_COUNT = 0.5  # rows added to every bin before comparing shares
NOISE_MULTIPLE = 3.0


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    cumulative /= cumulative[-1]
    return np.asarray(values[order][np.searchsorted(cumulative, qs, side="left")])


@dataclass(frozen=True)
class FeatureBins:
    """How one feature is binned; the last bin holds missing (and unknown) values."""

    name: str
    categorical: bool
    edges: tuple[float, ...] = ()  # numeric: a value v falls in the first bin with v <= edge
    n_categories: int = 0

    @property
    def size(self) -> int:
        return (self.n_categories if self.categorical else len(self.edges) + 1) + 1

    def assign(self, column: np.ndarray) -> np.ndarray:
        missing = self.size - 1
        if self.categorical:
            codes = np.nan_to_num(column, nan=-1.0).astype("int64")
            return np.where((codes < 0) | (codes >= self.n_categories), missing, codes)
        bins = np.searchsorted(np.asarray(self.edges, dtype="float64"), column, side="left")
        return np.where(np.isnan(column), missing, bins)


@dataclass
class DriftReference:
    """Bins and the training rows' share per bin, for every feature of a model."""

    bins: list[FeatureBins]
    expected: list[np.ndarray]
    rows: int = 0  # how many rows the shares were measured on

    @classmethod
    def fit(
        cls,
        matrix: np.ndarray,
        names: list[str],
        categories: dict[str, int],
        weights: np.ndarray | None = None,
    ) -> DriftReference:
        """``matrix`` as the booster sees it (categoricals as codes, see ``to_matrix``);
        ``categories``: the number of categories of each categorical feature."""
        w = np.ones(len(matrix)) if weights is None else np.asarray(weights, dtype="float64")
        bins, expected = [], []
        for j, name in enumerate(names):
            column = matrix[:, j]
            if name in categories:
                spec = FeatureBins(name, True, n_categories=categories[name])
            else:
                present = ~np.isnan(column)
                edges: tuple[float, ...] = ()
                if present.any():
                    qs = np.arange(1, BINS) / BINS
                    cuts = _weighted_quantiles(column[present], w[present], qs)
                    edges = tuple(float(e) for e in np.unique(cuts))
                spec = FeatureBins(name, False, edges=edges)
            counts = np.bincount(spec.assign(column), weights=w, minlength=spec.size)
            bins.append(spec)
            expected.append(counts / max(counts.sum(), 1e-12))
        return cls(bins, expected, rows=len(matrix))

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": [
                {
                    "name": b.name,
                    "categorical": b.categorical,
                    "edges": list(b.edges),
                    "n_categories": b.n_categories,
                    "expected": [float(x) for x in e],
                }
                for b, e in zip(self.bins, self.expected, strict=True)
            ],
            "rows": self.rows,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftReference:
        bins, expected = [], []
        for item in data["features"]:
            bins.append(
                FeatureBins(
                    item["name"],
                    bool(item["categorical"]),
                    edges=tuple(float(x) for x in item["edges"]),
                    n_categories=int(item["n_categories"]),
                )
            )
            expected.append(np.asarray(item["expected"], dtype="float64"))
        return cls(bins, expected, rows=int(data.get("rows", 0)))


def psi(expected_counts: np.ndarray, actual_counts: np.ndarray) -> float:
    """PSI of two histograms (counts per bin), each smoothed by PSEUDO_COUNT per bin."""
    e = np.asarray(expected_counts, dtype="float64") + PSEUDO_COUNT
    a = np.asarray(actual_counts, dtype="float64") + PSEUDO_COUNT
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def psi_noise(bins: int, rows_now: float, rows_reference: float) -> float:
    """The PSI two samples of these sizes from one distribution show on average."""
    return (bins - 1) * (1.0 / max(rows_now, 1.0) + 1.0 / max(rows_reference, 1.0))


@dataclass
class DriftCounter:
    """Counts per bin, accumulated chunk by chunk over a scoring run."""

    reference: DriftReference
    counts: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [np.zeros(b.size) for b in self.reference.bins]

    def update(self, matrix: np.ndarray) -> None:
        for j, spec in enumerate(self.reference.bins):
            self.counts[j] += np.bincount(spec.assign(matrix[:, j]), minlength=spec.size)

    @property
    def rows(self) -> int:
        return int(self.counts[0].sum()) if self.counts else 0

    def table(self, alarm_psi: float) -> pd.DataFrame:
        """One row per feature, largest shift first: PSI, its sampling noise, whether it
        counts as shifted, and the share of missing values in training and now."""
        records = []
        reference = self.reference
        n_ref = reference.rows or 10_000  # older references did not keep their size
        for spec, e, c in zip(reference.bins, reference.expected, self.counts, strict=True):
            n_now = float(c.sum())
            value = psi(e * n_ref, c) if n_now > 0 else 0.0
            noise = psi_noise(int(((e > 0) | (c > 0)).sum()), n_now, n_ref)
            records.append(
                {
                    "feature": spec.name,
                    "psi": value,
                    "psi_noise": noise,
                    "shifted": bool(
                        n_now > 0 and value > alarm_psi and value > NOISE_MULTIPLE * noise
                    ),
                    "missing_share_training": float(e[-1]),
                    "missing_share_now": float(c[-1] / n_now) if n_now else 0.0,
                }
            )
        frame = pd.DataFrame.from_records(records, columns=DRIFT_COLUMNS)
        return frame.sort_values("psi", ascending=False, kind="stable").reset_index(drop=True)


DRIFT_COLUMNS = [
    "feature",
    "psi",
    "psi_noise",
    "shifted",
    "missing_share_training",
    "missing_share_now",
]
