"""Forward-in-time split of training rows, grouped by lead: the leads whose outcomes came
in last judge the model, the ones before them calibrate it, the rest train it."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from leadscore.features.schema import LEAD_ID
from leadscore.features.snapshots import ORDER_TIME

log = logging.getLogger(__name__)

TRAIN, CALIBRATION, TEST = "train", "calibration", "test"


def lead_order(rows: pd.DataFrame, seed: int = 0) -> tuple[np.ndarray, str]:
    """Lead ids in the order their outcomes became known (``order_time``: closed_at, else
    created_at, else position in time-ordered exports) and how the order was made. Without
    any time information: a random order, and a warning."""
    per_lead = rows.groupby(LEAD_ID, sort=False)[ORDER_TIME].first()
    if per_lead.notna().all():
        order = per_lead.reset_index().sort_values([ORDER_TIME, LEAD_ID], kind="stable")
        return order[LEAD_ID].to_numpy(), "forward in time, grouped by lead"
    if per_lead.notna().any():
        log.warning(
            "%d of %d closed leads have no created_at/closed_at: splitting at random by "
            "lead instead of forward in time",
            int(per_lead.isna().sum()),
            len(per_lead),
        )
    else:
        log.warning("No created_at or closed_at: splitting at random by lead (not in time)")
    rng = np.random.default_rng(seed)
    shuffled = per_lead.index.to_numpy()[rng.permutation(len(per_lead))]
    return shuffled, "random, grouped by lead (no timestamps to split on)"


def _label(rows: pd.DataFrame, ordered: np.ndarray, labels: np.ndarray) -> np.ndarray:
    period = pd.Series(labels, index=ordered)
    return rows[LEAD_ID].map(period).to_numpy(dtype=object)


def split_by_time(
    rows: pd.DataFrame, calibration_share: float, test_share: float, seed: int = 0
) -> tuple[np.ndarray, str]:
    """Period label per row (train / calibration / test) and how the split was made: the
    latest ``test_share`` of leads judge, the ``calibration_share`` before them calibrate."""
    ordered, how = lead_order(rows, seed)
    n = len(ordered)
    n_test = max(1, round(n * test_share))
    n_cal = max(1, round(n * calibration_share))
    labels = np.array([TRAIN] * n, dtype=object)
    labels[n - n_test :] = TEST
    labels[n - n_test - n_cal : n - n_test] = CALIBRATION
    return _label(rows, ordered, labels), how


LATER = "later"


def rolling_folds(
    rows: pd.DataFrame, folds: int, fold_share: float, calibration_share: float, seed: int = 0
) -> tuple[list[np.ndarray], str]:
    """Rolling-origin folds, oldest first: each judges the next ``fold_share`` of leads with
    a model trained (and calibrated, on the latest ``calibration_share`` of its past) only on
    leads whose outcomes came in before them. Leads after a fold's test slice are ``later``
    and unused by that fold."""
    ordered, how = lead_order(rows, seed)
    n = len(ordered)
    size = max(1, round(n * fold_share))
    out = []
    for k in range(folds, 0, -1):
        test_end = n - (k - 1) * size
        test_start = test_end - size
        if test_start <= 2:
            continue
        n_cal = max(1, round(test_start * calibration_share))
        labels = np.array([LATER] * n, dtype=object)
        labels[:test_start] = TRAIN
        labels[test_start - n_cal : test_start] = CALIBRATION
        labels[test_start:test_end] = TEST
        out.append(_label(rows, ordered, labels))
    return out, how


def latest_leads_mask(rows: pd.DataFrame, share: float) -> np.ndarray:
    """Rows of the ``share`` of leads whose outcomes came in last (for early stopping)."""
    per_lead = rows.groupby(LEAD_ID, sort=False)[ORDER_TIME].first().fillna(-np.inf)
    order = per_lead.reset_index().sort_values([ORDER_TIME, LEAD_ID], kind="stable")
    n_late = max(1, round(len(order) * share))
    late = set(order[LEAD_ID].iloc[len(order) - n_late :])
    return rows[LEAD_ID].isin(late).to_numpy()
