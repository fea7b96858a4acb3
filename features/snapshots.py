"""Training rows: each closed lead seen as of times before it closed.

A nightly run scores every lead that is open that night, so a lead open for 90 days is
scored about 90 times. Training rows mimic that population: a closed lead gets one row at
every point of a fixed calendar grid (every ``every_days`` days, at midnight UTC) that falls
strictly between its ``created_at`` and its ``closed_at``. Long-lived leads are thinned to
``max_rows_per_lead`` rows with weights that keep their share. The grid does not depend on
the data, so new data never moves old rows. Every closed lead contributes: one decided
within a grid step (a call answered the same day) gets one row in the middle of its life,
weighted by the share of a step it was open.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from leadscore.features import schema
from leadscore.features.timeutil import SECONDS_PER_DAY, to_epoch_seconds

log = logging.getLogger(__name__)

LABEL = "label"
WEIGHT = "weight"
ORDER_TIME = "order_time"  # when the outcome became known; drives the forward split


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
    every_days: int,
    max_rows_per_lead: int,
    no_close_date_horizon_days: int,
    data_end: pd.Timestamp,
) -> pd.DataFrame:
    """Rows ``lead_id, as_of, label, weight, order_time`` for every closed lead."""
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

    single_pos: list[np.ndarray] = []
    single_as_of: list[np.ndarray] = []
    single_weight: list[np.ndarray] = []
    # Decided within one grid step: one row in the middle of its life, weighted by the share
    # of a step it was open (at least a day's worth): the chance a nightly run sees it open.
    short = both & (counts == 0)
    if short.any():
        log.info(
            "%d closed leads were open for less than one %d-day grid step: one row each, as "
            "of the middle of its life, weighted by the share of a step it was open",
            int(short.sum()),
            every_days,
        )
        life = np.maximum(closed_at[short] - created[short], 0.0)
        single_pos.append(np.flatnonzero(short))
        single_as_of.append(created[short] + life / 2)
        single_weight.append(np.minimum(np.maximum(life, SECONDS_PER_DAY) / step, 1.0))
    no_close = ~np.isnan(created) & np.isnan(closed_at)
    if no_close.any():
        log.warning(
            "%d closed leads have no closed_at: each gets one training row as of %d days "
            "after creation, since later activity cannot be told apart from post-close activity",
            int(no_close.sum()),
            no_close_date_horizon_days,
        )
        single_pos.append(np.flatnonzero(no_close))
        single_as_of.append(np.minimum(created[no_close] + horizon, end))
        single_weight.append(np.ones(int(no_close.sum())))
    no_create = np.isnan(created) & ~np.isnan(closed_at)
    if no_create.any():
        log.warning(
            "%d closed leads have no created_at: each gets one training row as of %d days "
            "before it closed",
            int(no_create.sum()),
            no_close_date_horizon_days,
        )
        single_pos.append(np.flatnonzero(no_create))
        single_as_of.append(closed_at[no_create] - horizon)
        single_weight.append(np.ones(int(no_create.sum())))
    neither = np.isnan(created) & np.isnan(closed_at)
    if neither.any():
        log.info(
            "%d closed leads have neither created_at nor closed_at: one row each, as of the "
            "end of the data (attributes only are trustworthy for them)",
            int(neither.sum()),
        )
        single_pos.append(np.flatnonzero(neither))
        single_as_of.append(np.full(int(neither.sum()), end))
        single_weight.append(np.ones(int(neither.sum())))
    if single_pos:
        lead_pos = np.concatenate([lead_pos, *single_pos])
        as_of = np.concatenate([as_of, *single_as_of])
        weight = np.concatenate([weight, *single_weight])

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
