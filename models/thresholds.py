"""MQL and SQL thresholds learned from past outcomes, and the tier table that shows what
each tier has meant historically (win rates with bootstrap confidence intervals).

Policies, each learned on held-out rows (calibrated probability, outcome, weight, lead):

- ``win_rate`` (target 0..1): the largest top group whose leads together won at least
  ``target`` of the time.
- ``capture_share`` (target 0..1): the highest threshold that keeps ``target`` of all
  eventual wins at or above it.
- ``top_share`` (target 0..1): the top ``target`` share of leads.
- ``capacity`` (target = leads per week): the lowest threshold at which no more than
  ``target`` leads a week would reach the tier, at the current inflow of new leads.
- ``expected_value`` (``deal_value``, ``cost``): the threshold that maximises
  sum(deal_value x won - cost) over the leads that would reach the tier (each lead is
  handed over once).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from leadscore.features.schema import TIER_MQL, TIER_SQL, TIER_UNQUALIFIED, TIERS

log = logging.getLogger(__name__)

RATE_POLICIES = ("win_rate", "capture_share", "top_share")


@dataclass(frozen=True)
class Policy:
    policy: str
    target: float | None = None
    deal_value: float | None = None
    cost: float | None = None

    def describe(self) -> str:
        if self.policy == "capacity":
            return f"capacity: at most {self.target:g} leads a week"
        if self.policy == "expected_value":
            return f"expected value: deal {self.deal_value:g}, cost {self.cost:g} per lead"
        return f"{self.policy} {self.target:g}"


@dataclass(frozen=True)
class HeldOut:
    """Held-out rows the thresholds are learned on."""

    p: np.ndarray
    y: np.ndarray
    w: np.ndarray
    lead: np.ndarray
    weekly_inflow: float | None = None  # new leads per week lately; capacity needs it

    @classmethod
    def of(
        cls,
        p: np.ndarray,
        y: np.ndarray,
        w: np.ndarray | None = None,
        lead: np.ndarray | None = None,
        weekly_inflow: float | None = None,
    ) -> HeldOut:
        p = np.asarray(p, dtype=float)
        return cls(
            p=p,
            y=np.asarray(y, dtype=float),
            w=np.ones_like(p) if w is None else np.asarray(w, dtype=float),
            lead=np.arange(len(p)) if lead is None else np.asarray(lead),
            weekly_inflow=weekly_inflow,
        )

    def per_lead(self) -> pd.DataFrame:
        """Each lead's highest probability in the period and its outcome."""
        frame = pd.DataFrame({"lead": self.lead, "p": self.p, "y": self.y})
        return frame.groupby("lead", sort=False).agg(p=("p", "max"), y=("y", "max"))


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
            "sql_policy": asdict(self.sql_policy),
            "mql_policy": asdict(self.mql_policy),
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


def _cuts(held: HeldOut) -> pd.DataFrame:
    """One row per distinct probability, highest first: the threshold and what lies at or
    above it (weighted rows, wins)."""
    frame = pd.DataFrame({"p": held.p, "wins": held.w * held.y, "rows": held.w})
    grouped = frame.groupby("p", sort=True)[["wins", "rows"]].sum().iloc[::-1]
    cuts = grouped.cumsum()
    cuts["threshold"] = cuts.index.to_numpy()
    cuts["win_rate"] = cuts["wins"] / cuts["rows"]
    cuts["capture"] = cuts["wins"] / max(frame["wins"].sum(), 1e-12)
    cuts["share"] = cuts["rows"] / frame["rows"].sum()
    return cuts.reset_index(drop=True)


def _rate_threshold(
    cuts: pd.DataFrame, policy: Policy, min_rows: float, tier: str
) -> tuple[float, str | None]:
    assert policy.target is not None
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


def _lead_threshold(held: HeldOut, policy: Policy, tier: str) -> tuple[float, str | None]:
    """Capacity and expected value: judged per lead, on its highest probability (a lead is
    handed over once, the first night it reaches the tier)."""
    leads = held.per_lead().sort_values("p", ascending=False)
    p = leads["p"].to_numpy()
    y = leads["y"].to_numpy()
    candidates = np.unique(p)[::-1]  # descending thresholds
    reaching = np.searchsorted(-p, -candidates, side="right")  # leads with max p >= t
    if policy.policy == "capacity":
        assert policy.target is not None
        if not held.weekly_inflow:
            raise ValueError(
                "the capacity policy needs the lead inflow, which needs created_at on leads"
            )
        per_week = reaching / len(p) * held.weekly_inflow
        within = np.flatnonzero(per_week <= policy.target)
        if within.size == 0:
            return 1.0 + 1e-9, (
                f"{tier}: even the single best lead exceeds a capacity of {policy.target:g} a week "
                f"at {held.weekly_inflow:.0f} new leads a week; the tier stays empty"
            )
        return float(candidates[within[-1]]), None
    assert policy.deal_value is not None and policy.cost is not None
    gain = np.cumsum(y * policy.deal_value - policy.cost)[reaching - 1]
    best = int(np.argmax(gain))
    if gain[best] <= 0:
        return (
            1.0 + 1e-9,
            f"{tier}: no threshold has a positive expected value; the tier stays empty",
        )
    return float(candidates[best]), None


def learn_thresholds(held: HeldOut, sql: Policy, mql: Policy, min_tier_rows: int) -> Thresholds:
    """Learn both thresholds on held-out rows."""
    cuts = _cuts(held)
    notes: list[str] = []
    found: dict[str, float] = {}
    for tier, policy in ((TIER_SQL, sql), (TIER_MQL, mql)):
        if policy.policy in RATE_POLICIES:
            threshold, note = _rate_threshold(cuts, policy, min_tier_rows, tier)
        else:
            threshold, note = _lead_threshold(held, policy, tier)
        found[tier] = threshold
        if note:
            notes.append(note)
    if found[TIER_MQL] > found[TIER_SQL]:
        notes.append(
            f"MQL policy ({mql.describe()}) gives a threshold above SQL's; MQL is set equal to "
            "SQL, so there is no MQL tier"
        )
        found[TIER_MQL] = found[TIER_SQL]
    for note in notes:
        log.warning("Thresholds: %s", note)
    return Thresholds(found[TIER_SQL], found[TIER_MQL], sql, mql, tuple(notes))


def _per_lead_sums(held: HeldOut, tiers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, wins) per lead and tier, for the grouped bootstrap."""
    lead_codes, _ = pd.factorize(held.lead)
    tier_index = pd.Categorical(tiers, categories=list(TIERS)).codes
    n_leads = lead_codes.max() + 1 if len(lead_codes) else 0
    rows = np.zeros((n_leads, len(TIERS)))
    wins = np.zeros((n_leads, len(TIERS)))
    np.add.at(rows, (lead_codes, tier_index), held.w)
    np.add.at(wins, (lead_codes, tier_index), held.w * held.y)
    return rows, wins, lead_codes


def win_rate_interval(
    y: np.ndarray, lead: np.ndarray, w: np.ndarray | None = None, n_boot: int = 400, seed: int = 0
) -> tuple[float, float]:
    """95% bootstrap interval of a weighted win rate, resampling leads (a lead's rows stay
    together)."""
    held = HeldOut.of(np.zeros(len(y)), y, w, lead)
    everyone = Thresholds(1.0, 1.0, Policy("top_share", 1.0), Policy("top_share", 1.0))
    row = (
        tier_table(held, everyone, n_boot=n_boot, seed=seed).set_index("tier").loc[TIER_UNQUALIFIED]
    )
    return float(row["win_rate_low"]), float(row["win_rate_high"])


def tier_table(
    held: HeldOut, thresholds: Thresholds, n_boot: int = 400, seed: int = 0
) -> pd.DataFrame:
    """Per tier: threshold, share of rows, historical win rate with a 95% bootstrap interval
    (leads resampled, so a lead's rows stay together), share of wins, mean predicted
    probability and the calibration gap (mean predicted - observed)."""
    tiers = thresholds.assign(held.p)
    rows, wins, _ = _per_lead_sums(held, tiers)
    rng = np.random.default_rng(seed)
    n_leads = rows.shape[0]
    boot = np.full((n_boot, len(TIERS)), np.nan)
    for b in range(n_boot if n_leads else 0):
        counts = np.bincount(rng.integers(0, n_leads, size=n_leads), minlength=n_leads)
        with np.errstate(invalid="ignore", divide="ignore"):
            boot[b] = (counts @ wins) / (counts @ rows)
    total_rows, total_wins = held.w.sum(), (held.w * held.y).sum()
    records = []
    for j, tier in enumerate(TIERS):
        mask = tiers == tier
        n_rows, n_wins = held.w[mask].sum(), (held.w[mask] * held.y[mask]).sum()
        finite = boot[:, j][np.isfinite(boot[:, j])]
        low, high = (
            (float(np.quantile(finite, 0.025)), float(np.quantile(finite, 0.975)))
            if finite.size
            else (float("nan"), float("nan"))
        )
        win_rate = n_wins / n_rows if n_rows else float("nan")
        mean_p = float(np.average(held.p[mask], weights=held.w[mask])) if n_rows else float("nan")
        records.append(
            {
                "tier": tier,
                "threshold": {TIER_SQL: thresholds.sql, TIER_MQL: thresholds.mql}.get(tier, 0.0),
                "rows": int(mask.sum()),
                "share_of_leads": n_rows / total_rows if total_rows else float("nan"),
                "win_rate": win_rate,
                "win_rate_low": low,
                "win_rate_high": high,
                "share_of_wins": n_wins / total_wins if total_wins else float("nan"),
                "mean_probability": mean_p,
                "calibration_gap": mean_p - win_rate,
            }
        )
    return pd.DataFrame.from_records(records)


def weekly_inflow(created_at: pd.Series, end: pd.Timestamp, weeks: int = 12) -> float | None:
    """New leads per week over the last ``weeks`` weeks before ``end``."""
    created = created_at.dropna()
    if created.empty:
        return None
    start = end - pd.Timedelta(weeks=weeks)
    span_weeks = min(weeks, max((end - created.min()) / pd.Timedelta(weeks=1), 1e-9))
    recent = int(((created >= start) & (created < end)).sum())
    return recent / span_weeks if span_weeks > 0 else None
