"""The classic points rule marketing teams use ("webinar +15, trial +40"), as a yardstick:
fixed points per action, summed. It ranks leads; for probability metrics its points are
mapped to probabilities with the same calibration step the model gets."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadscore.features.registry import attribute_slug

# Points per action, by activity type (counted since the lead was created).
DEFAULT_POINTS: dict[str, float] = {
    "page_view": 1,
    "pricing_page_view": 10,
    "content_download": 5,
    "form_submit": 15,
    "webinar_registered": 5,
    "webinar_attended": 15,
    "email_open": 1,
    "email_click": 3,
    "newsletter_signup": 5,
    "ad_click": 1,
    "demo_request": 30,
    "trial_signup": 40,
    "quote_request": 30,
    "contact_request": 20,
}


def points(features: pd.DataFrame, rule: dict[str, float]) -> np.ndarray:
    """Score each row. A key is an activity type (points per occurrence), an extra lead
    column (points per unit of a numeric column) or ``column=value`` (points when a
    categorical column has that value)."""
    score = np.zeros(len(features))
    for key, weight in rule.items():
        if "=" in key:
            column, value = key.split("=", 1)
            name = attribute_slug(column) if attribute_slug(column) in features else column
            if name in features:
                matches = features[name].astype(str).str.lower() == value.strip().lower()
                score += weight * matches.to_numpy(dtype=float)
            continue
        for name in (f"{key}__count_total", attribute_slug(key), key):
            if name in features and features[name].dtype.kind == "f":
                score += weight * np.nan_to_num(features[name].to_numpy(dtype=float))
                break
    return score
