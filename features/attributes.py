"""Columns of the leads table beyond the contract: numeric, categorical or date attributes
are used directly (this is how flat exports with pre-aggregated engagement work); ID-like,
free-text and personal-data columns are dropped with a note. Config can override any role.

What this module promises: a role is a pure function of a column's name and values, never of
the data set it came from, and every dropped column gets a note saying why. Personal data
(known by its name, or by its values: e-mail addresses, phone numbers) and free text are
never used; the one exception is a handful of repeated values under a personal-sounding
name, which identify nobody (never for names of people). Free text means words; a single
token (a UUID, a hash, ``LP-00123``) is an id when nearly unique, a category when it
repeats."""

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
_WORD = r"\S*[^\W\d_]\S*"  # a whitespace-separated word with a letter in it

# Thresholds of the value rules: properties of kinds of values, not fitted to a data set.
FEW_VALUES = 20  # a handful: size bands, area types, flags, tiers rarely exceed 20 values
ANONYMOUS_ROWS = 10  # a value held by this many rows points at nobody (k-anonymity, k = 10)
EVIDENCE_ROWS = 100  # rows needed before repeated values outweigh what a name says
PHONE_DIGITS = 7  # the shortest subscriber numbers have 7 digits
PHONE_SHARE = 0.5  # phones belong to people: at least half the values distinct
TOKEN_SHARE = 0.95  # share of cells without whitespace (or with a digit) for a code column
ID_SHARE = 0.9  # nearly one value per row: an id, nothing to learn from
CODE_REPEATS = 2.0  # codes seen on average at least twice per value are categories
FREE_TEXT_WORDS = 3.0  # mean words per cell of free text

# Personal-data fields by their name, as CRMs name them (HubSpot `firstname`, Salesforce
# `LastName`, `MobilePhone`, `Street`...): a column of first names repeats enough to look
# categorical, and its vocabulary would otherwise be stored with the model. Values are
# checked too (e-mail addresses, phone numbers, free text), whatever the name.
_PERSONAL_WORDS = {
    "firstname": "names", "lastname": "names", "surname": "names", "fullname": "names",
    "middlename": "names", "givenname": "names", "familyname": "names",
    "nickname": "names", "contactname": "names", "personname": "names", "leadname": "names",
    "name": "names", "salutation": "names", "phone": "phone numbers", "mobile": "phone numbers",
    "telephone": "phone numbers", "fax": "phone numbers", "email": "e-mail addresses",
    "mail": "e-mail addresses", "street": "addresses", "address": "addresses",
    "zip": "addresses", "zipcode": "addresses", "postcode": "addresses",
    "postalcode": "addresses", "birthdate": "birth dates", "birthday": "birth dates",
    "dob": "birth dates", "ssn": "identity numbers", "passport": "identity numbers",
    "iban": "bank details", "linkedin": "profiles", "twitter": "profiles",
    "ip": "network addresses", "ipaddress": "network addresses",
    "notes": "free text", "note": "free text", "comment": "free text",
    "comments": "free text", "description": "free text", "message": "free text",
    # German CRM exports
    "vorname": "names", "nachname": "names", "anrede": "names", "telefon": "phone numbers",
    "handy": "phone numbers", "mobil": "phone numbers", "strasse": "addresses",
    "adresse": "addresses", "anschrift": "addresses", "plz": "addresses",
    "postleitzahl": "addresses", "geburtsdatum": "birth dates", "notiz": "free text",
    "notizen": "free text", "kommentar": "free text", "bemerkung": "free text",
}  # fmt: skip
_CHANNELS = {"phone numbers", "e-mail addresses"}
_NOT_PERSONAL_BEFORE_NAME = {
    "company", "account", "organisation", "organization", "campaign",
    "product", "form", "page", "event", "file", "domain", "source",
}  # fmt: skip


def looks_like_email(values: pd.Series) -> pd.Series:
    """Cells that hold an e-mail address."""
    return values.astype("string").str.strip().str.match(_EMAIL).fillna(False).astype(bool)


def personal_field(name: str) -> str | None:
    """What personal data a column's name says it holds ("names", "phone numbers"...), or
    None. ``first_name``, ``FirstName``, ``Contact Name`` and ``mobile_phone`` are personal;
    ``company_name`` and ``campaign_name`` are not."""
    words = [w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", name)]
    if not words:
        return None
    joined = "".join(words)
    for size in (3, 2):  # compounds first: first+name, postal+code, e+mail
        for i in range(len(words) - size + 1):
            compound = "".join(words[i : i + size])
            if compound in _PERSONAL_WORDS and compound not in ("name",):
                return _PERSONAL_WORDS[compound]
    if joined in ("email", "emailaddress"):
        return "e-mail addresses"
    for i, word in enumerate(words):
        if word == "name":
            if i > 0 and words[i - 1] in _NOT_PERSONAL_BEFORE_NAME:
                continue
            return "names"
        if word in _PERSONAL_WORDS:
            return _PERSONAL_WORDS[word]
    return None


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
    """Finite numbers from text or numbers (infinities are missing); a decimal comma is
    accepted when the whole column uses it."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("float64")
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        return numbers.where(np.isfinite(numbers.fillna(0.0)))
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
    """The role of one extra column, from its values and its name. A name that says
    personal data wins, except over a handful of repeated values (``repeated_categories``):
    a ``zip_code`` column of Urban / Suburban / Rural identifies nobody. Names of people
    never give way: a surname repeated over many leads is still a surname."""
    name = str(values.name)
    field = personal_field(name)
    by_name = ColumnRole(name, Role.IGNORE, f"personal data: {field} (by its name)")
    if field == "names":
        return by_name
    present = present_text(values)
    by_values = _role_by_values(name, values, present, max_categories)
    distinct = present.nunique()
    # "Do Not Email", "phone_opt_out": a yes/no flag about a channel is not the channel, and
    # neither are "Email Clicks" counts: a channel's name needs the channel in its values.
    if field is None or (field in _CHANNELS and (distinct <= 3 or not _shows(field, present))):
        return by_values
    if by_values.role is Role.CATEGORICAL and repeated_categories(present):
        return ColumnRole(
            name,
            Role.CATEGORICAL,
            f"{distinct} repeated values: the name suggests personal data ({field}), but the "
            f"values are repeated categories (each held by {ANONYMOUS_ROWS}+ rows), which "
            "identify nobody",
        )
    return by_name


def _shows(channel: str, present: pd.Series) -> bool:
    """Do the values hold the channel the name speaks of (e-mail addresses, phone numbers)?"""
    sample = present.head(2000)
    if channel == "e-mail addresses":
        return bool(sample.str.contains("@", regex=False).mean() >= 0.5)
    return bool((sample.str.count(r"\d") >= PHONE_DIGITS).mean() >= 0.5)


def repeated_categories(present: pd.Series) -> bool:
    """A handful of values (at most FEW_VALUES), each held by at least ANONYMOUS_ROWS of
    at least EVIDENCE_ROWS rows: values that identify nobody, whatever the column's name."""
    if len(present) < EVIDENCE_ROWS:
        return False
    counts = present.value_counts()
    return len(counts) <= FEW_VALUES and int(counts.min()) >= ANONYMOUS_ROWS


def _role_by_values(
    name: str, values: pd.Series, present: pd.Series, max_categories: int
) -> ColumnRole:
    """The role the values alone give a column (``present``: its present cells as text)."""
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
    phone_shaped = sample.str.match(_PHONE) & (sample.str.count(r"\d") >= PHONE_DIGITS)
    if phone_shaped.mean() >= 0.5 and (unique_share >= PHONE_SHARE or distinct > FEW_VALUES):
        return ColumnRole(name, Role.IGNORE, "personal data: phone numbers")
    few = distinct <= max_categories * 2 and (unique_share <= 0.5 or len(present) < 20)
    if few or unique_share <= 0.02:
        return ColumnRole(name, Role.CATEGORICAL, f"{distinct} distinct values")
    single_token = ~sample.str.contains(r"\s")
    if single_token.mean() >= TOKEN_SHARE:
        if unique_share >= ID_SHARE:
            return ColumnRole(name, Role.IGNORE, f"ID-like: {distinct} distinct codes in {n} rows")
        coded = sample.str.contains(r"\d").mean() >= TOKEN_SHARE
        if coded and unique_share <= 1 / CODE_REPEATS:
            return ColumnRole(
                name,
                Role.CATEGORICAL,
                f"codes with repeats: {distinct} distinct values, rare ones pooled",
            )
    elif sample.str.count(_WORD).mean() >= FREE_TEXT_WORDS:
        return ColumnRole(name, Role.IGNORE, "free text")
    if unique_share >= ID_SHARE:
        return ColumnRole(name, Role.IGNORE, f"ID-like: {distinct} distinct values in {n} rows")
    return ColumnRole(name, Role.IGNORE, f"text with too many distinct values ({distinct})")


PERIOD_BLOCKS = 50  # consecutive blocks of leads in time order
PERIOD_SHARE = 0.8  # share of a column's variance between blocks that makes it a period marker
PERIOD_MIN_ROWS = 1000


def period_share(values: pd.Series, order: np.ndarray, categorical: bool = False) -> float:
    """The share of a column's variance that lies between consecutive blocks of leads in
    time order (``order``: a sort key per lead): near 1 for a value of the period (an
    interest rate, a monthly budget, the month of the call in an export sorted by date),
    near 0 for a value of the lead. A categorical column counts as its value indicators,
    variances summed. Missing values are left out."""
    ordered = values.iloc[np.argsort(order, kind="stable")]
    if categorical:
        codes, _ = pd.factorize(ordered.astype("string"), use_na_sentinel=True)
        present = codes >= 0
    else:
        numbers = parse_numbers(ordered).to_numpy(dtype="float64")
        present = ~np.isnan(numbers)
    if present.sum() < PERIOD_MIN_ROWS:
        return 0.0
    block = (np.flatnonzero(present) * PERIOD_BLOCKS) // len(ordered)
    if categorical:
        counts = pd.crosstab(block, codes[present]).to_numpy(dtype="float64")
        n = counts.sum()
        share = counts.sum(axis=0) / n  # each value's overall share
        total = float((share * (1 - share)).sum() * n)
        rows = counts.sum(axis=1, keepdims=True)
        between = float((rows * (counts / rows - share) ** 2).sum())
        return between / total if total > 0 else 0.0
    numbers = numbers[present]
    total = numbers.var()
    if total == 0:
        return 0.0
    means = pd.Series(numbers).groupby(block).transform("mean").to_numpy()
    return float(((means - numbers.mean()) ** 2).mean() / total)


def infer_roles(
    leads: pd.DataFrame,
    overrides: dict[str, str],
    max_categories: int,
    order: np.ndarray | None = None,
) -> list[ColumnRole]:
    """A role for every non-contract column of ``leads``; overrides win. With ``order`` (the
    leads' time order), a numeric or categorical column that is a value of the period rather
    than of the lead (``period_share`` >= PERIOD_SHARE) is not used: trees cannot carry such
    a value into the unseen values of later periods (a new low of an interest rate lands in
    the oldest period with similar values; this year's May is not last year's), and the
    period's level is the calibration's job."""
    roles = []
    for column in leads.columns:
        if column in RESERVED:
            continue
        if column in overrides:
            roles.append(ColumnRole(column, Role(overrides[column]), "set in config"))
            continue
        role = infer_role(leads[column], max_categories)
        if role.role in (Role.NUMERIC, Role.CATEGORICAL) and order is not None:
            share = period_share(leads[column], order, role.role == Role.CATEGORICAL)
            if share >= PERIOD_SHARE:
                role = ColumnRole(
                    column,
                    Role.IGNORE,
                    f"a value of the period, not of the lead: {share:.0%} of its variance lies "
                    f"between consecutive periods (set its role in column_roles to use it)",
                )
        roles.append(role)
    return roles
