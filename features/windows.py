"""Counting events per group strictly before a query time, without materialising the
leads x types x windows cross product.

Events are sorted once by (group, time). A query (group, time) is answered with one
binary search: the number of events of that group with ``event_time < query_time``.
Window counts are differences of two such answers. Memory is O(events + queries).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class EventIndex:
    """Events of ``n_groups`` groups, sorted by (group, time)."""

    n_groups: int
    keys: np.ndarray  # int64 composite (group, time rank), sorted
    times: np.ndarray  # float64 epoch seconds, in key order
    values: np.ndarray  # float64, NaN as 0, in key order
    group_value_cumsum: np.ndarray  # per-group running sum of values, in key order
    unique_times: np.ndarray  # sorted distinct event times
    group_start: np.ndarray  # index of each group's first event (len n_groups + 1)

    @classmethod
    def build(
        cls,
        groups: np.ndarray,
        times: np.ndarray,
        n_groups: int,
        values: np.ndarray | None = None,
    ) -> EventIndex:
        groups = np.asarray(groups, dtype="int64")
        times = np.asarray(times, dtype="float64")
        vals = (
            np.zeros(len(times), dtype="float64")
            if values is None
            else np.nan_to_num(np.asarray(values, dtype="float64"), nan=0.0)
        )
        # Sorting on (group, time, value) makes the order independent of input row order,
        # so running sums are bit-identical whatever order the export came in.
        order = np.lexsort((vals, times, groups))
        groups, times, vals = groups[order], times[order], vals[order]
        unique_times = np.unique(times)
        rank = np.searchsorted(unique_times, times, side="left")
        stride = len(unique_times) + 1
        keys = groups * stride + rank
        cumsum = (
            pd.Series(vals).groupby(groups, sort=False).cumsum().to_numpy()
            if len(vals)
            else np.zeros(0, dtype="float64")
        )
        group_start = np.searchsorted(groups, np.arange(n_groups + 1), side="left")
        return cls(n_groups, keys, times, vals, cumsum, unique_times, group_start)

    def _position(self, groups: np.ndarray, query_times: np.ndarray) -> np.ndarray:
        """Index of the first event of ``group`` at or after ``query_time``: events of the
        group before the query time are ``group_start[group] .. position - 1``."""
        stride = len(self.unique_times) + 1
        finite = np.where(np.isnan(query_times), -np.inf, query_times)
        rank = np.searchsorted(self.unique_times, finite, side="left")
        return np.searchsorted(self.keys, groups * stride + rank, side="left")

    def count_before(self, groups: np.ndarray, query_times: np.ndarray) -> np.ndarray:
        """Number of events of each group strictly before each query time."""
        groups = np.asarray(groups, dtype="int64")
        return self._position(groups, query_times) - self.group_start[groups]

    def count_between(
        self, groups: np.ndarray, start_times: np.ndarray, end_times: np.ndarray
    ) -> np.ndarray:
        """Events with ``start <= time < end`` per group."""
        groups = np.asarray(groups, dtype="int64")
        return self._position(groups, end_times) - self._position(groups, start_times)

    def sum_before(self, groups: np.ndarray, query_times: np.ndarray) -> np.ndarray:
        """Sum of values of each group's events strictly before each query time. Only the
        group's own earlier events enter the running sum, so later events never change it."""
        groups = np.asarray(groups, dtype="int64")
        position = self._position(groups, query_times)
        has_any = position > self.group_start[groups]
        out = np.zeros(len(groups), dtype="float64")
        out[has_any] = self.group_value_cumsum[position[has_any] - 1]
        return out

    def last_before(self, groups: np.ndarray, query_times: np.ndarray) -> np.ndarray:
        """Time of each group's latest event strictly before the query time (NaN if none)."""
        groups = np.asarray(groups, dtype="int64")
        position = self._position(groups, query_times)
        has_any = position > self.group_start[groups]
        out = np.full(len(groups), np.nan)
        out[has_any] = self.times[position[has_any] - 1]
        return out

    def first_before(self, groups: np.ndarray, query_times: np.ndarray) -> np.ndarray:
        """Time of each group's earliest event, if it is strictly before the query time."""
        groups = np.asarray(groups, dtype="int64")
        position = self._position(groups, query_times)
        start = self.group_start[groups]
        has_any = position > start
        out = np.full(len(groups), np.nan)
        out[has_any] = self.times[start[has_any]]
        return out
