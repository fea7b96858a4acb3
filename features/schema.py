"""Canonical names of the data contract (see README, "Data contract").

Every reader maps a CRM export onto these names first; everything downstream
uses only them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

# leads
LEAD_ID = "lead_id"
CREATED_AT = "created_at"
OUTCOME = "outcome"
CLOSED_AT = "closed_at"

# activities
OCCURRED_AT = "occurred_at"
ACTIVITY_TYPE = "activity_type"
VALUE = "value"

# well-known lead attributes with dedicated feature logic
LEAD_SOURCE = "lead_source"
COUNTRY = "country"
INDUSTRY = "industry"
COMPANY_SIZE = "company_size"
JOB_TITLE = "job_title"
EMAIL = "email"
WELL_KNOWN = (LEAD_SOURCE, COUNTRY, INDUSTRY, COMPANY_SIZE, JOB_TITLE, EMAIL)

WON = "won"
LOST = "lost"

LEAD_REQUIRED = (LEAD_ID,)
ACTIVITY_REQUIRED = (LEAD_ID, OCCURRED_AT, ACTIVITY_TYPE)

# scoring output
PROBABILITY = "probability"
TIER = "tier"
REASONS = "reasons"
MODEL_VERSION = "model_version"
AS_OF = "as_of"
OUTPUT_COLUMNS = (LEAD_ID, PROBABILITY, TIER, REASONS, MODEL_VERSION, AS_OF)

TIER_SQL = "SQL"
TIER_MQL = "MQL"
TIER_UNQUALIFIED = "unqualified"
TIERS = (TIER_SQL, TIER_MQL, TIER_UNQUALIFIED)

_NON_WORD = re.compile(r"[^0-9a-z]+")


def map_distinct(values: pd.Series, normalise: Callable[[pd.Series], pd.Series]) -> np.ndarray:
    """Apply a vectorised text normalisation to the distinct values only (exports repeat a
    handful of values millions of times); missing stays missing (None)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    normalised = normalise(pd.Series(uniques, dtype="string"))
    lookup = normalised.astype(object).where(normalised.notna(), None).tolist()
    return np.array([*lookup, None], dtype=object)[codes]


def normalise_activity_type(values: pd.Series) -> pd.Series:
    """Activity types match case- and whitespace-insensitively: ``" Pricing Page-View"`` ->
    ``"pricing_page_view"``. Empty values become missing. Returns a categorical."""

    def fold(text: pd.Series) -> pd.Series:
        text = text.str.strip().str.lower().str.replace(_NON_WORD, "_", regex=True).str.strip("_")
        return text.mask(text == "")

    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    # Spellings that fold to the same name share one category; missing stays missing (-1).
    folded_codes, names = pd.factorize(map_distinct(pd.Series(uniques), fold))
    lookup = np.append(folded_codes, -1)
    return pd.Series(
        pd.Categorical.from_codes(lookup[codes], categories=pd.Index(names, dtype=object)),
        index=values.index,
    )
