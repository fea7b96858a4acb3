"""Columns of the leads table beyond the contract: numeric, categorical or date attributes
are used directly (this is how flat exports with pre-aggregated engagement work); ID-like,
free-text and personal-data columns are dropped with a note. Config can override any role."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from leadscore.features import schema
from leadscore.features.text import PLACEHOLDERS
from leadscore.features.timeutil import parse_utc

# Contract columns and well-known attributes with dedicated logic are never generic.
RESERVED = frozenset(
    {
        schema.LEAD_ID, schema.CREATED_AT, schema.OUTCOME, schema.CLOSED_AT,
        schema.LEAD_SOURCE, schema.COUNTRY, schema.INDUSTRY, schema.COMPANY_SIZE,
        schema.JOB_TITLE, schema.EMAIL,
    }
)  # fmt: skip

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)
_PHONE = re.compile(r"^\+?[\d\s()./-]{7,}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


class Role(StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    DATE = "date"
    IGNORE = "ignore"


@dataclass(frozen=True)
class ColumnRole:
    column: str
    role: Role
    reason: str


def present_text(values: pd.Series) -> pd.Series:
    """Non-missing cells as stripped text; CRM placeholders ("N/A", "--", "Select") dropped."""
    text = values.astype("string").str.strip()
    return text[text.notna() & ~text.str.lower().isin(PLACEHOLDERS)]


def parse_numbers(values: pd.Series) -> pd.Series:
    """Numbers from text; a decimal comma is accepted when the whole column uses it."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("float64")
    if pd.api.types.is_numeric_dtype(values.dtype):
        return pd.to_numeric(values, errors="coerce").astype("float64")
    text = values.astype("string").str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    present = text.notna() & (text != "")
    if present.any() and numbers[present].isna().mean() > 0.02:
        comma = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")
        if comma[present].notna().mean() > numbers[present].notna().mean():
            numbers = comma
    numbers = numbers.astype("float64")
    return numbers.where(np.isfinite(numbers.fillna(0.0)))


def infer_role(values: pd.Series, max_categories: int) -> ColumnRole:
    name = str(values.name)
    present = present_text(values)
    n = len(values)
    if present.empty:
        return ColumnRole(name, Role.IGNORE, "always empty")
    distinct = present.nunique()
    unique_share = distinct / max(len(present), 1)
    is_numeric_dtype = pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(
        values.dtype
    )
    numbers = parse_numbers(values[present.index])
    if is_numeric_dtype or numbers.notna().mean() >= 0.98:
        integral = bool(np.all(np.mod(numbers.dropna(), 1) == 0))
        if integral and unique_share >= 0.95 and len(present) >= 50:
            return ColumnRole(name, Role.IGNORE, f"ID-like: {distinct} distinct whole numbers")
        return ColumnRole(name, Role.NUMERIC, "numbers")
    sample = present.head(2000)
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
        return ColumnRole(name, Role.DATE, "timestamps")
    if sample.str.match(_ISO_DATE).mean() >= 0.98 and parse_utc(sample).notna().mean() >= 0.98:
        return ColumnRole(name, Role.DATE, "ISO dates")
    if sample.str.match(_EMAIL).mean() >= 0.5:
        return ColumnRole(name, Role.IGNORE, "personal data: e-mail addresses")
    if sample.str.match(_PHONE).mean() >= 0.5:
        return ColumnRole(name, Role.IGNORE, "personal data: phone numbers")
    few = distinct <= max_categories * 2 and (unique_share <= 0.5 or len(present) < 20)
    if few or unique_share <= 0.02:
        return ColumnRole(name, Role.CATEGORICAL, f"{distinct} distinct values")
    if sample.str.len().mean() >= 30 or sample.str.count(" ").mean() >= 4:
        return ColumnRole(name, Role.IGNORE, "free text")
    if unique_share >= 0.9:
        return ColumnRole(name, Role.IGNORE, f"ID-like: {distinct} distinct values in {n} rows")
    return ColumnRole(name, Role.IGNORE, f"text with too many distinct values ({distinct})")


def infer_roles(
    leads: pd.DataFrame, overrides: dict[str, str], max_categories: int
) -> list[ColumnRole]:
    """A role for every non-contract column of ``leads``; overrides win."""
    roles = []
    for column in leads.columns:
        if column in RESERVED:
            continue
        if column in overrides:
            roles.append(ColumnRole(column, Role(overrides[column]), "set in config"))
        else:
            roles.append(infer_role(leads[column], max_categories))
    return roles
