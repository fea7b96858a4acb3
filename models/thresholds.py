"""MQL and SQL thresholds learned from past outcomes, and the tier table that shows what
each tier has meant historically."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from leadscore.features.schema import TIER_MQL, TIER_SQL, TIER_UNQUALIFIED, TIERS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Policy:
    policy: str  # win_rate | capture_share | top_share
    target: float


@dataclass(frozen=True)
class Thresholds:
    """A lead is SQL when p >= sql, MQL when mql <= p < sql, else unqualified."""

    sql: float
    mql: float
    sql_policy: Policy
    mql_policy: Policy
    notes: tuple[str, ...] = field(default_factory=tuple)

    def assign(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=float)
        return np.where(
            p >= self.sql, TIER_SQL, np.where(p >= self.mql, TIER_MQL, TIER_UNQUALIFIED)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "sql": self.sql,
            "mql": self.mql,
            "sql_policy": vars(self.sql_policy),
            "mql_policy": vars(self.mql_policy),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Thresholds:
        return cls(
            sql=float(data["sql"]),
            mql=float(data["mql"]),
            sql_policy=Policy(**data["sql_policy"]),
            mql_policy=Policy(**data["mql_policy"]),
            notes=tuple(data.get("notes", ())),
        )


def _cuts(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> pd.DataFrame:
    """One row per distinct probability, highest first: the threshold and what lies at or
    above it (weighted rows, wins)."""
    frame = pd.DataFrame({"p": p, "wins": w * y, "rows": w})
    grouped = frame.groupby("p", sort=True)[["wins", "rows"]].sum().iloc[::-1]
    cuts = grouped.cumsum()
    cuts["threshold"] = cuts.index.to_numpy()
    cuts["win_rate"] = cuts["wins"] / cuts["rows"]
    cuts["capture"] = cuts["wins"] / max(frame["wins"].sum(), 1e-12)
    cuts["share"] = cuts["rows"] / frame["rows"].sum()
    return cuts.reset_index(drop=True)


def _threshold(
    cuts: pd.DataFrame, policy: Policy, min_rows: float, tier: str
) -> tuple[float, str | None]:
    enough = cuts[cuts["rows"] >= min_rows]
    if enough.empty:
        enough = cuts.tail(1)
    if policy.policy == "win_rate":
        overall = cuts["win_rate"].iloc[-1]
        if overall >= policy.target:
            # Everyone would qualify on the tier average: fall back to the marginal reading,
            # leads whose own calibrated probability reaches the target.
            above = cuts[cuts["threshold"] >= policy.target]
            threshold = float(above["threshold"].iloc[-1]) if not above.empty else 1.0
            return threshold, (
                f"{tier}: the overall win rate ({overall:.1%}) already reaches the target "
                f"{policy.target:.0%}; {tier} holds leads whose own probability reaches it"
            )
        meeting = enough[enough["win_rate"] >= policy.target]
        if not meeting.empty:
            return float(meeting["threshold"].iloc[-1]), None
        best = enough.iloc[int(np.argmax(enough["win_rate"].to_numpy()))]
        note = (
            f"{tier}: no group of at least {min_rows:.0f} held-out rows reaches a win rate of "
            f"{policy.target:.0%}; using the best achievable, {best['win_rate']:.1%} "
            f"(top {best['share']:.1%} of rows)"
        )
        return float(best["threshold"]), note
    column = "capture" if policy.policy == "capture_share" else "share"
    reaching = enough[enough[column] >= policy.target - 1e-12]
    row = reaching.iloc[0] if not reaching.empty else enough.iloc[-1]
    return float(row["threshold"]), None


def learn_thresholds(
    p: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    sql: Policy,
    mql: Policy,
    min_tier_rows: int,
) -> Thresholds:
    """Learn thresholds on held-out rows (calibrated probabilities, outcomes, weights)."""
    cuts = _cuts(np.asarray(p, float), np.asarray(y, float), np.asarray(w, float))
    notes: list[str] = []
    sql_threshold, note = _threshold(cuts, sql, min_tier_rows, TIER_SQL)
    if note:
        notes.append(note)
    mql_threshold, note = _threshold(cuts, mql, min_tier_rows, TIER_MQL)
    if note:
        notes.append(note)
    if mql_threshold > sql_threshold:
        notes.append(
            f"MQL policy ({mql.policy} {mql.target}) gives a threshold above SQL's; "
            "MQL is set equal to SQL, so there is no MQL tier"
        )
        mql_threshold = sql_threshold
    for n in notes:
        log.warning("Thresholds: %s", n)
    return Thresholds(sql_threshold, mql_threshold, sql, mql, tuple(notes))


def wilson_interval(wins: float, n: float, z: float = 1.96) -> tuple[float, float]:
    if n <= 0:
        return (float("nan"), float("nan"))
    rate = wins / n
    denom = 1 + z * z / n
    centre = (rate + z * z / (2 * n)) / denom
    half = z * np.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / denom
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def tier_table(p: np.ndarray, y: np.ndarray, w: np.ndarray, thresholds: Thresholds) -> pd.DataFrame:
    """Per tier: share of rows, historical win rate (95% Wilson interval), share of wins,
    mean predicted probability."""
    tiers = thresholds.assign(p)
    w, y, p = np.asarray(w, float), np.asarray(y, float), np.asarray(p, float)
    total_rows, total_wins = w.sum(), (w * y).sum()
    records = []
    for tier in TIERS:
        mask = tiers == tier
        rows, wins = w[mask].sum(), (w[mask] * y[mask]).sum()
        low, high = wilson_interval(wins, rows)
        records.append(
            {
                "tier": tier,
                "threshold": {TIER_SQL: thresholds.sql, TIER_MQL: thresholds.mql}.get(tier, 0.0),
                "rows": int(mask.sum()),
                "share_of_leads": rows / total_rows if total_rows else float("nan"),
                "win_rate": wins / rows if rows else float("nan"),
                "win_rate_low": low,
                "win_rate_high": high,
                "share_of_wins": wins / total_wins if total_wins else float("nan"),
                "mean_probability": float(np.average(p[mask], weights=w[mask]))
                if rows
                else float("nan"),
            }
        )
    return pd.DataFrame.from_records(records)
