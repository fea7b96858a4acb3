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


def split_by_time(
    rows: pd.DataFrame, calibration_share: float, test_share: float, seed: int = 0
) -> tuple[np.ndarray, str]:
    """Period label per row (train / calibration / test) and how the split was made.

    Leads are ordered by when their outcome became known (``order_time``: closed_at, else
    created_at). Without any time information the split falls back to a random split
    grouped by lead, and says so."""
    per_lead = rows.groupby(LEAD_ID, sort=False)[ORDER_TIME].first()
    if per_lead.notna().all():
        order = per_lead.reset_index().sort_values([ORDER_TIME, LEAD_ID], kind="stable")
        how = "forward in time by close date"
    else:
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
        order = per_lead.reset_index().iloc[rng.permutation(len(per_lead))]
        how = "random, grouped by lead (no timestamps to split on)"
    n = len(order)
    n_test = max(1, round(n * test_share))
    n_cal = max(1, round(n * calibration_share))
    labels = np.array([TRAIN] * n, dtype=object)
    labels[n - n_test :] = TEST
    labels[n - n_test - n_cal : n - n_test] = CALIBRATION
    period = pd.Series(labels, index=order[LEAD_ID].to_numpy())
    return rows[LEAD_ID].map(period).to_numpy(dtype=object), how


def latest_leads_mask(rows: pd.DataFrame, share: float) -> np.ndarray:
    """Rows of the ``share`` of leads whose outcomes came in last (for early stopping)."""
    per_lead = rows.groupby(LEAD_ID, sort=False)[ORDER_TIME].first().fillna(-np.inf)
    order = per_lead.reset_index().sort_values([ORDER_TIME, LEAD_ID], kind="stable")
    n_late = max(1, round(len(order) * share))
    late = set(order[LEAD_ID].iloc[len(order) - n_late :])
    return rows[LEAD_ID].isin(late).to_numpy()
