"""The statistical leakage gate: features that give the outcome away are reported with their
evidence and kept out of the model, by what the data shows, never by a column's name alone.

A feature is suspect when, on the training rows (the population a nightly run scores: every
closed lead as of each snapshot before it closed):
- on its own it separates won from lost almost perfectly (ROC AUC >= ``max_auc``), or
- one of its values (a category, an exact number, or being missing / present) covers
  ``min_coverage`` of the rows and all but settles the outcome *against the base rate*: the
  other outcome is nearly absent there, at most ``max_minority_ratio`` of what the base rate
  would put there (an upper 95% bound, counted in leads, not rows). Being 99% lost where 93%
  of all leads are lost is a strong signal, not a leak; a value under which not one of the 300
  wins the base rate expects appears is a field written once the outcome was known.
- it is a sales-side judgement (``judgement_evidence``): its name reads like a rating, score,
  grade, tag or verdict, its values read like verdicts or it is a number, and it separates
  won from lost on its own (ROC AUC >= ``judgement_min_auc``) or through who has it filled.
  A rep's verdict, a profile level set by sales or a vendor's lead score is written as the
  deal moves; a pre-sale model must not learn from it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import chi2, rankdata

from leadscore.features.registry import FeatureDef, Kind, Stat
from leadscore.features.text import MISSING

log = logging.getLogger(__name__)


class LeakageSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_auc: float = Field(default=0.98, gt=0.5, le=1.0)
    purity: float = Field(default=0.99, gt=0.5, le=1.0)
    min_coverage: float = Field(default=0.05, gt=0.0, le=1.0)
    min_expected_minority: float = Field(default=10.0, ge=0.0)
    max_minority_ratio: float = Field(
        default=0.05,
        gt=0.0,
        le=1.0,
        description="A value settles the outcome when the other outcome appears there at most "
        "this share of what the base rate expects (upper 95% bound).",
    )
    judgement_min_auc: float = Field(
        default=0.70,
        gt=0.5,
        le=1.0,
        description="A column named and valued like a sales judgement is a leak when it "
        "separates won from lost this well on its own.",
    )
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


def settles(
    size: np.ndarray, other: np.ndarray, other_rate: float, settings: LeakageSettings
) -> np.ndarray:
    """Groups (``size`` leads, ``other`` of them with the outcome the group lacks) where that
    other outcome is all but absent against the base rate: the upper 95% Poisson bound of its
    count is at most ``max_minority_ratio`` of what ``other_rate`` expects, the group is
    ``purity`` pure, and the base rate expects at least ``min_expected_minority`` there (with
    no other-outcome lead at all, the bound needs about 60 expected). Counts may be fractional
    (training rows scaled to leads)."""
    size = np.asarray(size, dtype=float)
    other = np.asarray(other, dtype=float)
    expected = size * other_rate
    upper = chi2.ppf(0.95, 2.0 * (other + 1.0)) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        pure = 1.0 - other / size >= settings.purity
    return (
        pure
        & (expected >= max(settings.min_expected_minority, 1e-9))
        & (upper <= settings.max_minority_ratio * expected)
    )


def _settling_groups(
    groups: pd.Series,
    y: np.ndarray,
    settings: LeakageSettings,
    describe: str,
    leads_per_row: float = 1.0,
) -> str | None:
    """The first value of ``groups`` that settles the outcome (see ``settles``), in words.
    ``leads_per_row`` turns row counts into lead counts: a lead's snapshot rows are one piece
    of evidence, not many."""
    n = len(y)
    base = float(y.mean())
    codes, uniques = pd.factorize(groups.to_numpy(), use_na_sentinel=False)
    sizes = np.bincount(codes).astype(float)
    wins = np.bincount(codes, weights=y)
    covered = sizes / n >= settings.min_coverage
    won_side = covered & settles(
        sizes * leads_per_row, (sizes - wins) * leads_per_row, 1.0 - base, settings
    )
    lost_side = covered & settles(sizes * leads_per_row, wins * leads_per_row, base, settings)
    for code in np.flatnonzero(won_side | lost_side):
        outcome = "won" if won_side[code] else "lost"
        share = wins[code] / sizes[code] if won_side[code] else 1.0 - wins[code] / sizes[code]
        expected = sizes[code] * leads_per_row * (1.0 - base if won_side[code] else base)
        what = describe.format(value=uniques[code])
        return (
            f"{what} covers {sizes[code] / n:.0%} of training rows and {share:.1%} of them "
            f"{outcome} (overall {base:.0%} won: about {expected:.0f} leads of the other "
            "outcome expected there)"
        )
    return None


# Sales-side judgement: a name that reads like a rating, and values that read like verdicts.
_JUDGEMENT_NAMES = frozenset(
    {
        "rating", "rated", "score", "scoring", "scored", "grade", "grading", "quality",
        "verdict", "tag", "tags", "profile", "priority", "assessment", "rank", "ranking",
        "disposition", "qualification", "temperature", "stars",
    }
)  # fmt: skip
_VERDICT_WORDS = frozenset(
    {
        "hot", "warm", "cold", "high", "medium", "low", "good", "bad", "worst", "best", "poor",
        "excellent", "potential", "interested", "revert", "ringing", "junk", "spam", "invalid",
        "wrong", "lost", "closed", "qualified", "unqualified", "relevance", "relevant", "might",
        "sure", "unlikely", "likely", "strong", "weak", "promising", "reject", "rejected",
        "accepted", "approved", "fit",
    }
)  # fmt: skip
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_ORDINAL_LABEL = re.compile(r"^\s*(\d{1,2}[.)]\s*\w|[a-e][+-]?$)", re.IGNORECASE)


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORDS.findall(text)]


def judgement_name(column: str) -> bool:
    """Does a column's name read like a rating, score, grade, tag or verdict?"""
    return any(w in _JUDGEMENT_NAMES for w in _words(column))


def verdict_share(values: pd.Series) -> float:
    """The share of filled cells whose value reads like a verdict ("Hot", "Will revert",
    "02.Medium", "B")."""
    text = values.dropna().astype(str).str.strip()
    text = text[text != ""]
    if text.empty:
        return 0.0
    counts = text.value_counts()
    verdict = [
        bool(_ORDINAL_LABEL.match(v)) or any(w in _VERDICT_WORDS for w in _words(v))
        for v in counts.index
    ]
    return float(counts[np.array(verdict, dtype=bool)].sum() / counts.sum())


def _category_auc(values: pd.Series, y: np.ndarray, lead_ids: np.ndarray) -> float:
    """ROC AUC of a categorical column (missing is a value) by its out-of-fold win rates,
    two folds by lead: a many-valued column cannot fake separation."""
    text = values.astype("string").fillna("\x00missing").to_numpy(dtype=object)
    fold = pd.util.hash_array(np.asarray(lead_ids).astype(str)) % 2
    score = np.full(len(y), float(y.mean()))
    for k in (0, 1):
        rates = pd.Series(y[fold != k]).groupby(text[fold != k]).mean()
        score[fold == k] = pd.Series(text[fold == k]).map(rates).fillna(y.mean()).to_numpy()
    return _separation(score, y)


def auc_alone(
    values: pd.Series, y: np.ndarray, numeric: bool, lead_ids: np.ndarray | None = None
) -> float:
    """How well one column alone separates won from lost: ROC AUC in its better direction.
    Numbers by value (missing values at whichever end separates more); categories by their
    out-of-fold win rate (two folds by lead, rows by position without lead ids), so a
    many-valued column cannot fake it. Used by the training gate and by ``inspect``."""
    if numeric:
        return _separation(pd.to_numeric(values, errors="coerce").to_numpy(dtype=float), y)
    return _category_auc(values, y, np.arange(len(y)) if lead_ids is None else lead_ids)


def judgement_evidence(
    column: str,
    values: pd.Series,
    y: np.ndarray,
    lead_ids: np.ndarray,
    settings: LeakageSettings,
    numeric: bool,
) -> str | None:
    """Evidence that a column holds a sales-side judgement (see the module docstring), or
    None. ``values``: the column on closed leads (or training rows), ``y``: won = 1."""
    if not judgement_name(column):
        return None
    filled = values.notna() & (values.astype("string").str.strip() != "").fillna(False)
    verdicts = 0.0 if numeric else verdict_share(values[filled])
    if not numeric and verdicts < 0.3:
        return None
    if numeric:
        auc = _separation(pd.to_numeric(values, errors="coerce").to_numpy(dtype=float), y)
    else:
        auc = _category_auc(values.where(filled), y, lead_ids)
    share = float(filled.mean())
    reasons = []
    if auc >= settings.judgement_min_auc:
        reasons.append(f"alone it separates won from lost with ROC AUC {auc:.2f}")
    if 0.05 <= share <= 0.95:
        rate_in, rate_out = float(y[filled].mean()), float(y[~filled].mean())
        lift = (rate_in + 1e-9) / (rate_out + 1e-9)
        if lift >= 2.0 or lift <= 0.5:
            reasons.append(
                f"filled for {share:.0%} of leads, who won {rate_in:.0%} against {rate_out:.0%} "
                "of the others (filled mostly where sales had contact)"
            )
    if not reasons:
        return None
    kind = "a number" if numeric else f"values like verdicts ({verdicts:.0%} of filled cells)"
    return (
        f"reads like a sales-side judgement (its name is a rating, score, grade, tag or "
        f"verdict; {kind}) and {'; '.join(reasons)}: it is written as the deal moves"
    )


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
    leads_per_row = len(pd.unique(np.asarray(lead_ids))) / max(len(y), 1)
    keep = set(settings.keep)
    leaks: list[Leak] = []
    for d in definitions:
        column = frame[d.name]
        evidence: str | None = None
        if d.kind is Kind.CATEGORY:
            evidence = _settling_groups(
                column.astype(str), y, settings, "value '{value}'", leads_per_row
            )
            if evidence is None:
                rates = pd.Series(y).groupby(column.astype(str).to_numpy()).transform("mean")
                auc = _separation(rates.to_numpy(dtype=float), y)
                if auc >= settings.max_auc:
                    evidence = f"its values alone separate won from lost with ROC AUC {auc:.3f}"
        else:
            values = column.to_numpy(dtype="float64", na_value=np.nan)
            missing = pd.Series(np.where(np.isnan(values), "missing", "present"))
            evidence = _settling_groups(missing, y, settings, "being {value}", leads_per_row)
            if evidence is None:
                counts = pd.Series(values).value_counts(dropna=True)
                common = counts[counts / len(values) >= settings.min_coverage].index
                if len(common):
                    marks = pd.Series(np.where(np.isin(values, common), values, np.nan))
                    exact = marks.astype(object).where(marks.notna(), "any other value")
                    evidence = _settling_groups(
                        exact, y, settings, "the value {value}", leads_per_row
                    )
            if evidence is None:
                auc = _separation(values, y)
                if auc >= settings.max_auc:
                    evidence = f"on its own it separates won from lost with ROC AUC {auc:.3f}"
        if evidence is None and d.stat in (Stat.CATEGORY, Stat.NUMBER):
            source = d.source_columns[0] if d.source_columns else d.origin
            categorical = d.kind is Kind.CATEGORY
            text = column.astype("string")
            evidence = judgement_evidence(
                source,
                text.mask(text == MISSING) if categorical else pd.Series(column.to_numpy()),
                y,
                np.asarray(lead_ids),
                settings,
                numeric=not categorical,
            )
        if evidence is not None:
            kept = d.name in keep or d.origin in keep or any(s in keep for s in d.source_columns)
            leaks.append(Leak(d.name, d.label, d.origin, evidence, kept))
    return leaks


def excluded_features(leaks: list[Leak], definitions: list[FeatureDef]) -> list[str]:
    """Everything that shares an origin (a lead column, an activity type) with a leak that is
    not kept: a column that leaks through one transform leaks through all of them."""
    origins = {leak.origin for leak in leaks if not leak.kept}
    return [d.name for d in definitions if d.origin in origins]
