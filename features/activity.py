"""Activity statistics for a chunk of rows ``(lead, as_of)``, strictly point-in-time.

Each event of a lead is paired with each row of that lead; a pair is kept only when the
event happened strictly before the row's as-of time. Everything else is a grouped sum, min
or max over the kept pairs (``numpy.bincount`` and ``ufunc.at``), so the work is linear in
the number of pairs and needs no sorting. Memory is bounded by the chunk: the caller splits
rows into chunks of leads.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from leadscore.features.registry import (
    DECAY_HALF_LIFE_DAYS,
    MOMENTUM_DAYS,
    FeatureDef,
    Group,
    Stat,
)
from leadscore.features.timeutil import SECONDS_PER_DAY


@dataclass(frozen=True)
class EventFlags:
    """Per raw activity type code: how the type is modelled."""

    vocab_code: np.ndarray  # index into the modelled vocabulary; the last index is "other"
    inbound: np.ndarray  # the lead's own action (not outbound, not excluded)
    high_intent: np.ndarray
    on_site: np.ndarray  # carries seconds on site in `value`
    modelled: np.ndarray  # not an excluded (sales-side) type
    outbound: np.ndarray
    sent: np.ndarray
    opened: np.ndarray
    clicked: np.ndarray


@dataclass(frozen=True)
class ChunkEvents:
    lead: np.ndarray  # local lead index per event
    time: np.ndarray  # epoch seconds (float64)
    raw_type: np.ndarray  # raw type code per event
    value: np.ndarray  # float64, NaN -> 0


class ActivityStats:
    """Lazily computed aggregates for ``n_rows`` rows over ``n_types`` modelled types."""

    def __init__(
        self,
        row_lead: np.ndarray,
        as_of: np.ndarray,
        created: np.ndarray,
        n_leads: int,
        events: ChunkEvents,
        flags: EventFlags,
        n_types: int,
        windows_days: tuple[int, ...],
        email_prior: tuple[float, float],
        rate_prior_strength: float,
    ) -> None:
        self.n_rows = len(row_lead)
        self.n_types = n_types
        self.as_of = as_of
        self.created = created
        self.email_prior = email_prior
        self.rate_prior_strength = rate_prior_strength
        edges_days = sorted({*windows_days, MOMENTUM_DAYS, 2 * MOMENTUM_DAYS})
        self.edge_days = edges_days
        self.edges = np.asarray(edges_days, dtype="float64") * SECONDS_PER_DAY
        self._pair(row_lead, n_leads, events, flags)

    # -- pairing ------------------------------------------------------------------------
    def _pair(
        self, row_lead: np.ndarray, n_leads: int, events: ChunkEvents, flags: EventFlags
    ) -> None:
        rows_per_lead = np.bincount(row_lead, minlength=n_leads)
        modelled = np.flatnonzero(flags.modelled[events.raw_type])
        lead = events.lead[modelled]
        if rows_per_lead.max(initial=0) <= 1:
            # One row per lead (a nightly run): each event is its own pair.
            row_of_lead = np.full(n_leads, -1, dtype="int64")
            row_of_lead[row_lead] = np.arange(len(row_lead))
            row = row_of_lead[lead]
            has_row = row >= 0
            event_index, row = modelled[has_row], row[has_row]
        else:
            order = np.argsort(row_lead, kind="stable")
            first_row = np.cumsum(rows_per_lead) - rows_per_lead
            repeat = rows_per_lead[lead]
            event_index = np.repeat(modelled, repeat)
            offset = np.arange(len(event_index)) - np.repeat(np.cumsum(repeat) - repeat, repeat)
            row = order[np.repeat(first_row[lead], repeat) + offset]
        dt = self.as_of[row] - events.time[event_index]
        keep = dt > 0  # strictly before as-of
        self.row = row[keep]
        self.dt = dt[keep]
        self._event_index = event_index[keep]
        self._events = events
        self._flags = flags
        self.raw = events.raw_type[self._event_index]
        self.bucket = np.searchsorted(self.edges, self.dt, side="left")

    def _flag(self, per_type: np.ndarray) -> np.ndarray:
        return per_type[self.raw]

    # -- building blocks ----------------------------------------------------------------
    def _edge(self, days: int) -> int:
        return self.edge_days.index(days)

    @cached_property
    def type_counts(self) -> np.ndarray:
        """(buckets + 1, rows, types), cumulative over buckets: [j] = events within edge j,
        [-1] = all events before as-of."""
        n_buckets = len(self.edges) + 1
        code = self._flags.vocab_code[self.raw]
        key = (self.bucket * self.n_rows + self.row) * self.n_types + code
        counts = np.bincount(key, minlength=n_buckets * self.n_rows * self.n_types)
        shaped = counts.reshape(n_buckets, self.n_rows, self.n_types).astype("float64")
        return np.cumsum(shaped, axis=0, out=shaped)

    @cached_property
    def _type_key(self) -> np.ndarray:
        return self.row * self.n_types + self._flags.vocab_code[self.raw]

    def _min_per(self, key: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
        out = np.full(size, np.inf)
        np.minimum.at(out, key, values)
        return out

    def _max_per(self, key: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
        out = np.full(size, -np.inf)
        np.maximum.at(out, key, values)
        return out

    @cached_property
    def type_last_dt(self) -> np.ndarray:
        last = self._min_per(self._type_key, self.dt, self.n_rows * self.n_types)
        return last.reshape(self.n_rows, self.n_types)

    @cached_property
    def type_first_dt(self) -> np.ndarray:
        first = self._max_per(self._type_key, self.dt, self.n_rows * self.n_types)
        return first.reshape(self.n_rows, self.n_types)

    @cached_property
    def values(self) -> np.ndarray:
        return self._events.value[self._event_index]

    @cached_property
    def type_value(self) -> np.ndarray:
        size = self.n_rows * self.n_types
        sums = np.bincount(self._type_key, weights=self.values, minlength=size)
        return sums.reshape(self.n_rows, self.n_types)

    @cached_property
    def _inbound_pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mask = self._flag(self._flags.inbound)
        return self.row[mask], self.dt[mask], self.bucket[mask]

    @cached_property
    def _high_intent_pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mask = self._flag(self._flags.high_intent)
        return self.row[mask], self.dt[mask], self.bucket[mask]

    def _group(self, group: Group) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, dt, bucket) of the pairs in a group, gathered once."""
        return self._high_intent_pairs if group is Group.HIGH_INTENT else self._inbound_pairs

    @cached_property
    def _group_counts(self) -> dict[Group, np.ndarray]:
        n_buckets = len(self.edges) + 1
        out = {}
        for group in Group:
            row, _, bucket = self._group(group)
            counts = np.bincount(row * n_buckets + bucket, minlength=self.n_rows * n_buckets)
            out[group] = np.cumsum(counts.reshape(self.n_rows, n_buckets), axis=1)
        return out

    @staticmethod
    def _days(dt: np.ndarray) -> np.ndarray:
        out = dt / SECONDS_PER_DAY
        out[~np.isfinite(out)] = np.nan
        return out

    @staticmethod
    def _total(sums: np.ndarray) -> np.ndarray:
        """Sums of values; one beyond what a float holds (two values near 1e308) is missing."""
        out = np.asarray(sums, dtype="float64")  # bincount of no pairs is integer
        out[~np.isfinite(out)] = np.nan
        return out

    # -- features -----------------------------------------------------------------------
    def compute(self, d: FeatureDef, type_index: dict[str, int]) -> np.ndarray:
        stat = d.stat
        if stat is Stat.TYPE_COUNT_WINDOW:
            assert d.activity_type is not None and d.window_days is not None
            return self.type_counts[self._edge(d.window_days), :, type_index[d.activity_type]]
        if stat is Stat.TYPE_COUNT_TOTAL:
            assert d.activity_type is not None
            return self.type_counts[-1, :, type_index[d.activity_type]]
        if stat is Stat.TYPE_DAYS_SINCE_LAST:
            assert d.activity_type is not None
            return self._days(self.type_last_dt[:, type_index[d.activity_type]].copy())
        if stat is Stat.TYPE_DAYS_SINCE_FIRST:
            assert d.activity_type is not None
            return self._days(self.type_first_dt[:, type_index[d.activity_type]].copy())
        if stat is Stat.TYPE_VALUE_TOTAL:
            assert d.activity_type is not None
            return self._total(self.type_value[:, type_index[d.activity_type]].copy())
        if stat in (Stat.GROUP_COUNT_WINDOW, Stat.GROUP_COUNT_TOTAL, Stat.GROUP_MOMENTUM):
            assert d.group is not None
            counts = self._group_counts[d.group]
            if stat is Stat.GROUP_COUNT_TOTAL:
                return counts[:, -1].astype(float)
            if stat is Stat.GROUP_COUNT_WINDOW:
                assert d.window_days is not None
                return counts[:, self._edge(d.window_days)].astype(float)
            recent = counts[:, self._edge(MOMENTUM_DAYS)]
            previous = counts[:, self._edge(2 * MOMENTUM_DAYS)] - recent
            return np.log((recent + 1.0) / (previous + 1.0))
        if stat in (Stat.GROUP_DAYS_SINCE_LAST, Stat.GROUP_DAYS_SINCE_FIRST):
            assert d.group is not None
            row, dt, _ = self._group(d.group)
            if stat is Stat.GROUP_DAYS_SINCE_LAST:
                return self._days(self._min_per(row, dt, self.n_rows))
            return self._days(self._max_per(row, dt, self.n_rows))
        if stat is Stat.GROUP_DECAYED:
            assert d.group is not None
            row, dt, _ = self._group(d.group)
            weight = np.exp2(-dt / (DECAY_HALF_LIFE_DAYS * SECONDS_PER_DAY))
            return np.bincount(row, weights=weight, minlength=self.n_rows)
        if stat in (Stat.TIME_ON_SITE_TOTAL, Stat.TIME_ON_SITE_WINDOW):
            row, value, bucket = self.on_site_pairs
            if stat is Stat.TIME_ON_SITE_WINDOW:
                assert d.window_days is not None
                inside = bucket <= self._edge(d.window_days)
                row, value = row[inside], value[inside]
            return self._total(np.bincount(row, weights=value, minlength=self.n_rows))
        if stat in (Stat.ACTIVE_DAYS_TOTAL, Stat.ACTIVE_DAYS_WINDOW):
            days_row, days_dt = self.active_days
            mask = np.ones(len(days_row), dtype=bool)
            if stat is Stat.ACTIVE_DAYS_WINDOW:
                assert d.window_days is not None
                mask = days_dt <= d.window_days * SECONDS_PER_DAY
            return np.bincount(days_row[mask], minlength=self.n_rows).astype(float)
        if stat is Stat.EMAIL_RATE:
            sent, opened, clicked = self.email_counts
            count = clicked if d.activity_type == "email_click" else opened
            prior = self.email_prior[1] if d.activity_type == "email_click" else self.email_prior[0]
            k = self.rate_prior_strength
            return np.minimum((count + k * prior) / (sent + k), 1.0)
        if stat is Stat.FIRST_RESPONSE:
            return self.first_response_days
        raise ValueError(f"not an activity statistic: {stat}")

    @cached_property
    def on_site_pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mask = self._flag(self._flags.on_site)
        return self.row[mask], self.values[mask], self.bucket[mask]

    @cached_property
    def email_counts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sent, opened, clicked) per row."""
        sent, opened, clicked = (
            np.bincount(self.row[self._flag(flag)], minlength=self.n_rows)
            for flag in (self._flags.sent, self._flags.opened, self._flags.clicked)
        )
        return sent, opened, clicked

    @cached_property
    def active_days(self) -> tuple[np.ndarray, np.ndarray]:
        """One entry per (row, calendar day with an own activity): the row and the smallest
        distance of that day's activities to as-of."""
        mask = self._flag(self._flags.inbound)
        time = self._events.time[self._event_index[mask]]
        day = np.floor(time / SECONDS_PER_DAY).astype("int64")
        if len(day) == 0:
            return np.zeros(0, dtype="int64"), np.zeros(0)
        span = int(day.max() - day.min()) + 1
        key = self.row[mask].astype("int64") * span + (day - day.min())
        unique, inverse = np.unique(key, return_inverse=True)
        closest = np.full(len(unique), np.inf)
        np.minimum.at(closest, inverse, self.dt[mask])
        return unique // span, closest

    @cached_property
    def first_response_days(self) -> np.ndarray:
        outbound = self._flag(self._flags.outbound)
        first_touch_dt = self._max_per(self.row[outbound], self.dt[outbound], self.n_rows)
        since_created = self.as_of - self.created
        no_touch = ~np.isfinite(first_touch_dt)
        first_touch_dt[no_touch] = since_created[no_touch]  # NaN when no created_at either
        after_touch = self._flag(self._flags.inbound) & (self.dt < first_touch_dt[self.row])
        response_dt = self._max_per(self.row[after_touch], self.dt[after_touch], self.n_rows)
        out = (first_touch_dt - response_dt) / SECONDS_PER_DAY
        out[~np.isfinite(out)] = np.nan
        return out
