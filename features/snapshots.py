"""Training rows: each closed lead seen as of times before it closed.

A nightly run scores every lead that is open that night, so a lead open for 90 days is
scored about 90 times. Training rows mimic that population: a closed lead gets one row at
every point of a fixed calendar grid (every ``every_days`` days, at midnight UTC) that falls
strictly between its ``created_at`` and its ``closed_at``. Long-lived leads are thinned to
``max_rows_per_lead`` rows with weights that keep their share. The grid does not depend on
the data, so new data never moves old rows. Every closed lead contributes: one decided
within a grid step (a call answered the same day) gets one row in the middle of its life,
weighted by the share of a step it was open.

Inflow. The leads whose outcomes came in during a period are an unbiased sample of lead
lives only when leads arrived at a steady rate: when the inflow grows, the recently closed
leads are mostly quick decisions of the large recent cohorts (quick losses, when wins take
longer), and a model calibrated on them underrates every lead open tonight. Each closed
lead is therefore weighted by the average inflow over the lead inflow at its creation
(``Inflow``, all leads counted, open ones too), which makes every period's closed leads
look as if leads had arrived at a steady rate. A steady inflow gives weights of about 1.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.features import schema
from leadscore.features.timeutil import SECONDS_PER_DAY, to_epoch_seconds

log = logging.getLogger(__name__)

LABEL = "label"
WEIGHT = "weight"
ORDER_TIME = "order_time"  # when the outcome became known; drives the forward split


@dataclass(frozen=True)
class Inflow:
    """Lead inflow over the history: leads created per second in equal time bins (edges in
    epoch seconds), each bin averaged with its neighbours. Bins hold about ``LEADS_PER_BIN``
    leads (at most ``MAX_BINS``), so sampling noise moves a weight by a few percent at most;
    fewer than ``MIN_BINS`` bins: no weighting."""

    edges: np.ndarray
    density: np.ndarray
    scale: float  # makes the weights of the leads it was learned from average 1

    LEADS_PER_BIN = 200
    MIN_BINS, MAX_BINS = 4, 52
    LOWEST, HIGHEST = 0.2, 5.0  # weights are clipped to this range

    @classmethod
    def of(cls, created: pd.Series | None) -> Inflow | None:
        """The inflow of the leads created at these times (None: too few to tell)."""
        if created is None:
            return None
        seconds = to_epoch_seconds(created)
        seconds = seconds[~np.isnan(seconds)]
        bins = min(cls.MAX_BINS, len(seconds) // cls.LEADS_PER_BIN)
        if bins < cls.MIN_BINS:
            return None
        first, last = np.quantile(seconds, [0.001, 0.999])  # a stray date spans no bins
        if last <= first:
            return None
        edges = np.linspace(first, last, bins + 1)
        counts, _ = np.histogram(np.clip(seconds, first, last), bins=edges)
        padded = np.concatenate([[np.nan], counts / np.diff(edges), [np.nan]])
        smoothed = np.nanmean(np.vstack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)
        unscaled = cls(edges, smoothed, 1.0)
        return cls(edges, smoothed, 1.0 / float(np.mean(unscaled._inverse(seconds))))

    def _inverse(self, created_seconds: np.ndarray) -> np.ndarray:
        last = len(self.density) - 1
        at = np.clip(np.searchsorted(self.edges, created_seconds, side="right") - 1, 0, last)
        return 1.0 / np.maximum(self.density[at], 1e-300)

    def weights(self, created_seconds: np.ndarray) -> np.ndarray:
        """Average inflow over the inflow at each creation time (1 where it is unknown)."""
        w = np.clip(self.scale * self._inverse(created_seconds), self.LOWEST, self.HIGHEST)
        return np.where(np.isnan(created_seconds), 1.0, w)


def rows_as_of(lead_ids: pd.Series | np.ndarray, as_of: pd.Timestamp) -> pd.DataFrame:
    """Rows ``lead_id, as_of`` asking for every given lead's features at one time (a nightly
    run, a backfill, an inspection)."""
    ids = np.asarray(lead_ids, dtype=object)
    return pd.DataFrame(
        {
            schema.LEAD_ID: ids,
            schema.AS_OF: pd.Series([as_of] * len(ids), dtype="datetime64[us, UTC]"),
        }
    )


def training_rows(
    leads: pd.DataFrame,
    *,
    data_end: pd.Timestamp,
    every_days: int = 7,  # the defaults of the config's `split` section
    max_rows_per_lead: int = 24,
    no_close_date_horizon_days: int = 14,
    inflow: Inflow | None = None,
) -> pd.DataFrame:
    """Rows ``lead_id, as_of, label, weight, order_time`` for every closed lead; with an
    ``inflow``, each lead's weights are multiplied by its inflow weight."""
    closed = leads[leads[schema.OUTCOME].isin([schema.WON, schema.LOST])]
    n = len(closed)
    step = every_days * SECONDS_PER_DAY
    created = (
        to_epoch_seconds(closed[schema.CREATED_AT])
        if schema.CREATED_AT in closed.columns
        else np.full(n, np.nan)
    )
    closed_at = (
        to_epoch_seconds(closed[schema.CLOSED_AT])
        if schema.CLOSED_AT in closed.columns
        else np.full(n, np.nan)
    )
    end = float(to_epoch_seconds(pd.Series([data_end]))[0])
    horizon = no_close_date_horizon_days * SECONDS_PER_DAY

    both = ~np.isnan(created) & ~np.isnan(closed_at)
    # grid points g = k * step with created < g < closed
    first_k = np.floor(created / step) + 1
    last_k = np.ceil(closed_at / step) - 1
    counts = np.where(both, np.maximum(last_k - first_k + 1, 0), 0).astype("int64")
    kept = np.minimum(counts, max_rows_per_lead)
    lead_pos = np.repeat(np.arange(n), kept)
    # evenly spaced picks among each lead's grid points (all of them when not thinned)
    within = np.arange(kept.sum()) - np.repeat(np.cumsum(kept) - kept, kept)
    spacing = np.where(kept > 0, counts / np.maximum(kept, 1), 1.0)
    pick = np.floor(within * np.repeat(spacing, kept)).astype("int64")
    as_of = (first_k[lead_pos] + pick) * step
    weight = np.repeat(np.where(kept > 0, counts / np.maximum(kept, 1), 0.0), kept)

    # Closed leads without a row on the grid get one row each:
    # (which leads, as of when, weight, log level, what the log says).
    life = np.maximum(closed_at - created, 0.0)
    singles = (
        (  # decided within a grid step: the middle of its life, weighted by the share of a
            # step it was open (at least a day's worth): the chance a nightly run sees it open
            both & (counts == 0),
            created + life / 2,
            np.minimum(np.maximum(life, SECONDS_PER_DAY) / step, 1.0),
            logging.INFO,
            f"%d closed leads were open for less than one {every_days}-day grid step: one row "
            "each, as of the middle of its life, weighted by the share of a step it was open",
        ),
        (
            ~np.isnan(created) & np.isnan(closed_at),
            np.minimum(created + horizon, end),
            1.0,
            logging.WARNING,
            f"%d closed leads have no closed_at: each gets one training row as of "
            f"{no_close_date_horizon_days} days after creation, since later activity cannot be "
            "told apart from post-close activity",
        ),
        (
            np.isnan(created) & ~np.isnan(closed_at),
            closed_at - horizon,
            1.0,
            logging.WARNING,
            f"%d closed leads have no created_at: each gets one training row as of "
            f"{no_close_date_horizon_days} days before it closed",
        ),
        (
            np.isnan(created) & np.isnan(closed_at),
            end,
            1.0,
            logging.INFO,
            "%d closed leads have neither created_at nor closed_at: one row each, as of the "
            "end of the data (attributes only are trustworthy for them)",
        ),
    )
    for which, when, row_weight, level, message in singles:
        if which.any():
            log.log(level, message, int(which.sum()))
            lead_pos = np.concatenate([lead_pos, np.flatnonzero(which)])
            as_of = np.concatenate([as_of, np.broadcast_to(when, (n,))[which]])
            weight = np.concatenate([weight, np.broadcast_to(row_weight, (n,))[which]])

    if inflow is not None:
        weight = weight * inflow.weights(created)[lead_pos]
    order_time = np.where(np.isnan(closed_at), created, closed_at)
    rows = pd.DataFrame(
        {
            schema.LEAD_ID: closed[schema.LEAD_ID].to_numpy()[lead_pos],
            schema.AS_OF: pd.to_datetime(np.floor(as_of), unit="s", utc=True),
            LABEL: (closed[schema.OUTCOME].to_numpy()[lead_pos] == schema.WON).astype("int8"),
            WEIGHT: weight.astype("float64"),
            ORDER_TIME: order_time[lead_pos],
        }
    )
    return rows.sort_values([schema.LEAD_ID, schema.AS_OF], kind="stable").reset_index(drop=True)


def open_leads(leads: pd.DataFrame, as_of: pd.Timestamp) -> tuple[pd.Series, pd.Series]:
    """(open as of the date, created at or after it). A lead is open at T when it existed
    before T and had no outcome yet at T; leads closed later than T count as open at T."""
    n = len(leads)
    created_before = (
        (leads[schema.CREATED_AT] < as_of).fillna(True).astype(bool)
        if schema.CREATED_AT in leads.columns
        else pd.Series(True, index=leads.index)
    )
    if schema.OUTCOME in leads.columns:
        no_outcome = leads[schema.OUTCOME].isna()
    else:
        no_outcome = pd.Series(True, index=leads.index)
    if schema.CLOSED_AT in leads.columns:
        closed_later = (leads[schema.CLOSED_AT] >= as_of).fillna(False).astype(bool)
    else:
        closed_later = pd.Series(False, index=leads.index)
    still_open = no_outcome | closed_later
    assert len(still_open) == n
    return created_before & still_open, ~created_before
