"""The statistical leakage gate: features that give the outcome away are reported with their
evidence and kept out of the model, by what the data shows, never by a column's name.

A feature is suspect when, on the training rows (the population a nightly run scores: every
closed lead as of each snapshot before it closed):
- on its own it separates won from lost almost perfectly (ROC AUC >= ``max_auc``), or
- one of its values settles the outcome for a large share of leads (a category, or an exact
  value, covering ``min_coverage`` of leads of which ``purity`` or more share one outcome),
  or its missingness does (filled in only for won leads, say).
Purity is judged against the base rate: a group only counts when, at the base rate, it
would hold at least ``min_expected_minority`` leads of the other outcome.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import rankdata

from leadscore.features.registry import FeatureDef, Kind

log = logging.getLogger(__name__)


class LeakageSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_auc: float = Field(default=0.98, gt=0.5, le=1.0)
    purity: float = Field(default=0.99, gt=0.5, le=1.0)
    min_coverage: float = Field(default=0.05, gt=0.0, le=1.0)
    min_expected_minority: float = Field(default=10.0, ge=0.0)
    keep: tuple[str, ...] = Field(
        default=(), description="Features or source columns to keep despite the evidence."
    )


@dataclass(frozen=True)
class Leak:
    feature: str
    label: str
    origin: str
    evidence: str
    kept: bool

    def describe(self) -> str:
        action = "kept because config says so" if self.kept else "excluded from the model"
        return (
            f"leak: {self.label} ('{self.feature}', from {self.origin}): {self.evidence}; {action}"
        )


def _separation(values: np.ndarray, y: np.ndarray) -> float:
    """ROC AUC of one numeric feature alone, in its better direction, missing values placed
    at either end (whichever separates more)."""
    best = 0.5
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return best
    positive = y == 1
    n_pos = int(positive.sum())
    n_neg = len(y) - n_pos
    for fill in (finite.min() - 1.0, finite.max() + 1.0):
        filled = np.where(np.isfinite(values), values, fill)
        if np.unique(filled).size < 2:
            continue
        # ROC AUC from average ranks (ties count half): the Mann-Whitney statistic.
        ranks = rankdata(filled)
        auc = (float(ranks[positive].sum()) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        best = max(best, auc, 1.0 - auc)
    return best


def _settling_groups(
    groups: pd.Series, y: np.ndarray, settings: LeakageSettings, describe: str
) -> str | None:
    n = len(y)
    base = float(y.mean())
    # Most features settle nothing: find that out with counts per value first.
    codes, _ = pd.factorize(groups.to_numpy(), use_na_sentinel=False)
    sizes = np.bincount(codes).astype(float)
    shares = np.bincount(codes, weights=y) / sizes
    possible = (sizes / n >= settings.min_coverage) & (
        ((shares >= settings.purity) & (sizes * (1 - base) >= settings.min_expected_minority))
        | ((1 - shares >= settings.purity) & (sizes * base >= settings.min_expected_minority))
    )
    if not possible.any():
        return None
    frame = pd.DataFrame({"group": groups.to_numpy(), "y": y})
    stats = frame.groupby("group", observed=True, dropna=False)["y"].agg(["size", "sum"])
    for value, row in stats.iterrows():
        size, wins = float(row["size"]), float(row["sum"])
        coverage = size / n
        if coverage < settings.min_coverage:
            continue
        won_share = wins / size
        if won_share >= settings.purity and size * (1 - base) >= settings.min_expected_minority:
            outcome, share = "won", won_share
        elif 1 - won_share >= settings.purity and size * base >= settings.min_expected_minority:
            outcome, share = "lost", 1 - won_share
        else:
            continue
        what = describe.format(value=value)
        return (
            f"{what} covers {coverage:.0%} of training rows and {share:.1%} of them {outcome} "
            f"(overall {base:.0%} won)"
        )
    return None


def find_leaks(
    features: pd.DataFrame,
    y: np.ndarray,
    lead_ids: np.ndarray,
    definitions: list[FeatureDef],
    settings: LeakageSettings,
) -> list[Leak]:
    """Check every feature on the training rows. Judging the latest row of each lead alone
    would be wrong: near the close, "nothing happened yet" looks like a verdict."""
    frame = features
    y = np.asarray(y).astype(int)
    if len(np.unique(y)) < 2:
        return []
    keep = set(settings.keep)
    leaks: list[Leak] = []
    for d in definitions:
        column = frame[d.name]
        evidence: str | None = None
        if d.kind is Kind.CATEGORY:
            evidence = _settling_groups(column.astype(str), y, settings, "value '{value}'")
            if evidence is None:
                rates = pd.Series(y).groupby(column.astype(str).to_numpy()).transform("mean")
                auc = _separation(rates.to_numpy(dtype=float), y)
                if auc >= settings.max_auc:
                    evidence = f"its values alone separate won from lost with ROC AUC {auc:.3f}"
        else:
            values = column.to_numpy(dtype="float64", na_value=np.nan)
            missing = pd.Series(np.where(np.isnan(values), "missing", "present"))
            evidence = _settling_groups(missing, y, settings, "being {value}")
            if evidence is None:
                counts = pd.Series(values).value_counts(dropna=True)
                common = counts[counts / len(values) >= settings.min_coverage].index
                if len(common):
                    marks = pd.Series(np.where(np.isin(values, common), values, np.nan))
                    exact = marks.astype(object).where(marks.notna(), "any other value")
                    evidence = _settling_groups(exact, y, settings, "the value {value}")
            if evidence is None:
                auc = _separation(values, y)
                if auc >= settings.max_auc:
                    evidence = f"on its own it separates won from lost with ROC AUC {auc:.3f}"
        if evidence is not None:
            kept = d.name in keep or d.origin in keep or any(s in keep for s in d.source_columns)
            leaks.append(Leak(d.name, d.label, d.origin, evidence, kept))
    return leaks


def excluded_features(leaks: list[Leak], definitions: list[FeatureDef]) -> list[str]:
    """Everything that shares an origin (a lead column, an activity type) with a leak that is
    not kept: a column that leaks through one transform leaks through all of them."""
    origins = {leak.origin for leak in leaks if not leak.kept}
    return [d.name for d in definitions if d.origin in origins]
