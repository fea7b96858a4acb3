"""MQL and SQL thresholds learned from past outcomes, and the tier table that shows what
each tier has meant historically (win rates with bootstrap confidence intervals).

The default, ``odds_ratio``, in plain words: an SQL is at least three times as likely to
close as the average lead (counted in odds), and SQLs are never more than 30% of leads; an
MQL is not SQL but still at least one and a half times as likely (in odds) as the average
lead; everyone else is unqualified. How likely a lead is to close is read from the
held-out leads with a similar score: their win rate, pooled so that a higher score never
has a lower win rate. Odds rather than win rates keep the rule meaningful at any base rate.
Where deals are rare, three times the odds is about three times the win rate: at a 1% base
rate an SQL closes at least 3 times in 100, at 10% at least 1 time in 4. Where most leads
close, it means being lost about three times less often: at 40% an SQL closes at least 2
times in 3, at 60% more than 4 times in 5. So an SQL always stands out from the average
lead, and the target stays below 100% however high the base rate. MQL's 1.5 times the odds
reads 1.5% at a 1% base rate, 14% at 10%, 50% at 40% and 69% at 60%.

Because each tier is drawn where leads like its weakest members stop reaching its target,
the held-out win rates come out in order, SQL > MQL > unqualified. When the held-out data
cannot support a tier (every lead has the same probability, the model does not rank leads
well enough to reach the target, or fewer than ``min_tier_rows`` rows would qualify), the
tier stays empty and a note says why; a note also says when ``max_share`` caps a tier.

Formula: with base rate b (weighted held-out win rate), a tier with odds ratio R has the
target win rate t = R b / (1 - b + R b), i.e. t / (1 - t) = R b / (1 - b). A lead reaches the
tier when the local win rate at its probability is at least t. The local win rate is that
of a pool of neighbouring probabilities: pools are merged until the rate never rises as the
probability falls (pool adjacent violators), each pool's rate shrunk towards b with the
weight of ``min_tier_rows`` rows, so a small lucky pool cannot make a tier. ``max_share``
caps the tier at the best share of rows; the rest go to the next tier down. An
``odds_ratio`` MQL is judged on the leads below SQL's threshold, whatever SQL's policy.

Policies, each learned on held-out rows (calibrated probability, outcome, weight, lead):

- ``odds_ratio`` (target > 1, optional ``max_share`` 0..1): as above, the default for both
  tiers (SQL: 3 and at most 30% of leads; MQL: 1.5).
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
ODDS_POLICY = "odds_ratio"
EMPTY = 1.0 + 1e-9  # a threshold no probability reaches: the tier is empty


@dataclass(frozen=True)
class Policy:
    policy: str
    target: float | None = None
    deal_value: float | None = None
    cost: float | None = None
    max_share: float | None = None  # odds_ratio only: the tier holds at most this share

    def describe(self) -> str:
        if self.policy == ODDS_POLICY:
            cap = "" if self.max_share is None else f", at most {self.max_share:.0%} of leads"
            return f"{ODDS_POLICY}: {self.target:g} x the average odds{cap}"
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


def odds_target(base: float, ratio: float) -> float:
    """The win rate whose odds are ``ratio`` times the odds of ``base``."""
    odds = ratio * base / (1.0 - base)
    return odds / (1.0 + odds)


def _levels(held: HeldOut, prior_rows: float) -> pd.DataFrame:
    """One row per distinct probability, highest first: the threshold, its weighted rows and
    the local win rate there: the win rate of the pooled block of neighbouring probabilities
    it falls in, shrunk towards the overall rate with the weight of ``prior_rows`` rows (a
    Beta prior, as the isotonic calibrator uses, so a small lucky block cannot make a tier).
    Blocks are pooled until a higher probability never has a lower local win rate (isotonic
    regression, pool adjacent violators, with the shrunk rate of each pooled block)."""
    frame = pd.DataFrame({"p": held.p, "wins": held.w * held.y, "rows": held.w})
    grouped = frame.groupby("p", sort=True)[["wins", "rows"]].sum().iloc[::-1]
    grouped = grouped[grouped["rows"] > 0]
    total = float(grouped["rows"].sum())
    overall = float(grouped["wins"].sum()) / total if total > 0 else 0.0

    def rate(wins: float, rows: float) -> float:
        return (wins + prior_rows * overall) / (rows + prior_rows)

    blocks: list[list[float]] = []  # [wins, rows, distinct probabilities], highest p first
    for wins, rows in zip(grouped["wins"].to_numpy(), grouped["rows"].to_numpy(), strict=True):
        block = [float(wins), float(rows), 1.0]
        while blocks and rate(*blocks[-1][:2]) <= rate(*block[:2]):
            above = blocks.pop()
            block = [above[0] + block[0], above[1] + block[1], above[2] + block[2]]
        blocks.append(block)
    local = np.repeat([rate(w, r) for w, r, _ in blocks], [int(n) for _, _, n in blocks])
    levels = grouped.assign(local=local)
    levels["threshold"] = levels.index.to_numpy()
    return levels.reset_index(drop=True)


def _odds_threshold(
    levels: pd.DataFrame, policy: Policy, min_rows: float, tier: str, ceiling: float
) -> tuple[float, list[str]]:
    """The lowest threshold below ``ceiling`` (the threshold of the tier above) at which the
    local win rate still has ``policy.target`` times the average odds; ``ceiling`` when the
    held-out rows cannot support the tier."""
    assert policy.target is not None
    total, wins = float(levels["rows"].sum()), float(levels["wins"].sum())
    base = wins / total if total > 0 else float("nan")
    if len(levels) < 2:
        return ceiling, [
            f"{tier}: every held-out lead has the same probability, so the model cannot single "
            f"out {tier} leads; the {tier} tier stays empty"
        ]
    if not 0.0 < base < 1.0:
        outcome = "won" if base >= 1.0 else "lost"
        return ceiling, [
            f"{tier}: every held-out lead {outcome}, so there is no average to beat; the {tier} "
            "tier stays empty"
        ]
    goal = odds_target(base, policy.target)
    reading = (
        f"{policy.target:g} times the average odds of closing ({goal:.1%} or more, against "
        f"{base:.1%} on average)"
    )
    below = levels[levels["threshold"] < ceiling]
    meeting = below[below["local"] >= goal - 1e-12]  # a prefix: local falls with p
    if meeting.empty:
        why = (
            f"the model does not separate leads that well here, or {total:.0f} held-out rows "
            "are too few to show it"
            if ceiling >= EMPTY
            else f"the win rate falls from the tier above straight below the {tier} target"
        )
        where = " below the tier above" if ceiling < EMPTY else ""
        return ceiling, [
            f"{tier}: no held-out leads{where} reach {reading}, {why}; the {tier} tier stays empty"
        ]
    notes, qualify = [], "reach"
    if policy.max_share is not None:
        within = meeting[meeting["rows"].cumsum() <= policy.max_share * total * (1 + 1e-12)]
        if len(within) < len(meeting):
            notes.append(
                f"{tier}: {meeting['rows'].sum() / total:.0%} of held-out rows reach {reading}; "
                f"{tier} is capped at the best {policy.max_share:.0%} of rows (max_share), the "
                "rest go to the next tier down"
            )
            meeting, qualify = within, "fit within max_share and reach"
    if meeting["rows"].sum() < min_rows:
        return ceiling, [
            *notes,
            f"{tier}: only {meeting['rows'].sum():.0f} held-out rows {qualify} {reading}, fewer "
            f"than the {min_rows:.0f} a tier needs (min_tier_rows); the {tier} tier stays empty",
        ]
    return float(meeting["threshold"].iloc[-1]), notes


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
            return EMPTY, (
                f"{tier}: even the single best lead exceeds a capacity of {policy.target:g} a week "
                f"at {held.weekly_inflow:.0f} new leads a week; the tier stays empty"
            )
        return float(candidates[within[-1]]), None
    assert policy.deal_value is not None and policy.cost is not None
    gain = np.cumsum(y * policy.deal_value - policy.cost)[reaching - 1]
    best = int(np.argmax(gain))
    if gain[best] <= 0:
        return (
            EMPTY,
            f"{tier}: no threshold has a positive expected value; the tier stays empty",
        )
    return float(candidates[best]), None


def learn_thresholds(held: HeldOut, sql: Policy, mql: Policy, min_tier_rows: int) -> Thresholds:
    """Learn both thresholds on held-out rows, SQL first (an ``odds_ratio`` MQL is judged on
    the leads below SQL)."""
    cuts = _cuts(held)
    levels = _levels(held, min_tier_rows) if ODDS_POLICY in (sql.policy, mql.policy) else None
    notes: list[str] = []
    found: dict[str, float] = {}
    ceiling = EMPTY
    for tier, policy in ((TIER_SQL, sql), (TIER_MQL, mql)):
        if policy.policy == ODDS_POLICY:
            assert levels is not None
            threshold, tier_notes = _odds_threshold(levels, policy, min_tier_rows, tier, ceiling)
            notes += tier_notes
        else:
            if policy.policy in RATE_POLICIES:
                threshold, note = _rate_threshold(cuts, policy, min_tier_rows, tier)
            else:
                threshold, note = _lead_threshold(held, policy, tier)
            if note:
                notes.append(note)
        found[tier] = ceiling = threshold
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
