"""Which columns of an activities export are the contract's ``lead_id``, ``occurred_at``,
``activity_type`` and ``value``, found from the values (never the names), each choice with
its evidence. A pure function: frames in, a mapping and notes out; nothing is read or written.

- ``lead_id``: the column whose values most often are ids of the leads table (at least half
  of its filled cells; whole numbers stored as floats count as the integers they are).
- ``occurred_at``: a timestamp column (ISO 8601 text or a datetime type), the most often
  filled; never a column of plain numbers.
- ``activity_type``: a low-cardinality text column, preferring the one whose values are
  most often the contract's common activity types once folded (``Pricing Page-View`` =
  ``pricing_page_view``).
- ``value``: a numeric column that is neither record ids nor a few repeated codes, the one
  with the most distinct values (optional).
Columns are judged on an evenly spaced sample of rows, so the cost does not grow with the
export."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from leadscore.features import schema
from leadscore.features.attributes import parse_numbers
from leadscore.features.registry import ACTIVITY_WORDS
from leadscore.features.schema import normalise_activity_type
from leadscore.features.timeutil import parse_utc

SAMPLE_ROWS = 20_000
MIN_ID_SHARE = 0.5  # of filled cells that must be lead ids
MIN_PARSED = 0.95  # of filled cells that must parse (timestamps, numbers)
MAX_TYPES = 200  # distinct activity types an export plausibly has
MAX_TYPE_SHARE = 0.2  # distinct values per filled cell for a type column
FEW = 20  # distinct values that repeat: codes (numbers) or a type vocabulary (text)


def _text(values: pd.Series) -> pd.Series:
    """Stripped text with missing and empty cells dropped; whole floats read as integers."""
    if pd.api.types.is_float_dtype(values.dtype):
        present = values.dropna()
        if ((present % 1 == 0) & (present.abs() < 2**53)).all():
            values = values.astype("Int64")
    text = values.astype("string").str.strip()
    return text[text.notna() & (text != "")]


def _sample(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame) <= SAMPLE_ROWS:
        return frame
    return frame.iloc[np.linspace(0, len(frame) - 1, SAMPLE_ROWS).astype(int)]


def _is_numeric(values: pd.Series, text: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return True
    return bool(len(text)) and parse_numbers(text).notna().mean() >= MIN_PARSED


def _id_like(numbers: pd.Series) -> bool:
    """Whole numbers, one per row, counting up or packed in a narrow band of large values
    (900000000, 900000007, ...): record ids, not measurements."""
    if numbers.empty or not bool(np.all(np.mod(numbers, 1) == 0)):
        return False
    if numbers.nunique() < 0.95 * len(numbers):
        return False
    low, high = float(numbers.min()), float(numbers.max())
    return numbers.is_monotonic_increasing or (low > 0 and high / low < 2)


def _take(
    found: dict[Any, Any],
    rank: Callable[[Any], Any],
    field: str,
    mapping: dict[str, str],
    notes: list[str],
    describe: Callable[[Any], str],
    others: str,
    missing: str,
) -> None:
    """Map the best-ranked of the ``found`` columns to ``field`` and say why (naming the other
    candidates); without any, say what is missing."""
    if not found:
        notes.append(f"{field}: {missing}")
        return
    best = max(found, key=rank)
    mapping[str(best)] = field
    also = [str(c) for c in found if c != best]
    rest = f"; {others}: {also}" if also else ""
    notes.append(f"{best!r} -> {field}: {describe(best)}{rest}")


def guess_activity_columns(
    activities: pd.DataFrame, lead_ids: pd.Series
) -> tuple[dict[str, str], list[str]]:
    """(export column -> contract name, one note per choice with its evidence). A contract
    column with no convincing candidate is left out of the mapping and a note says so."""
    frame = _sample(activities)
    columns = [c for c in frame.columns]
    texts = {c: _text(frame[c]) for c in columns}
    mapping: dict[str, str] = {}
    notes: list[str] = []
    taken: set[str] = set()

    known = set(_text(lead_ids))
    id_share = {c: float(t.isin(known).mean()) if len(t) else 0.0 for c, t in texts.items()}
    best = max(columns, key=lambda c: id_share[c], default=None)
    if best is not None and id_share[best] >= MIN_ID_SHARE:
        mapping[str(best)], taken = schema.LEAD_ID, {best}
        others = sorted((s, str(c)) for c, s in id_share.items() if c != best and s > 0)
        runner = f"; next best {others[-1][1]!r} ({others[-1][0]:.0%})" if others else ""
        notes.append(
            f"{best!r} -> {schema.LEAD_ID}: {id_share[best]:.0%} of its values are ids of the "
            f"leads table{runner}"
        )
    else:
        notes.append(
            f"{schema.LEAD_ID}: no column whose values are mostly ids of the leads table "
            f"(best {best!r}, {id_share[best] if best is not None else 0.0:.0%}); map it by hand"
        )

    numeric = {c for c in columns if c not in taken and _is_numeric(frame[c], texts[c])}
    stamps: dict[str, tuple[float, float]] = {}
    for c in columns:
        if c in taken or c in numeric:
            continue
        values = frame[c]
        if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
            parsed_share = 1.0
        elif len(texts[c]):
            parsed_share = float(parse_utc(texts[c]).notna().mean())
        else:
            continue
        if parsed_share >= MIN_PARSED:
            stamps[c] = (len(texts[c]) / max(len(frame), 1), parsed_share)
    _take(
        stamps, stamps.get, schema.OCCURRED_AT, mapping, notes,  # most often filled, best parsed
        lambda c: f"timestamps in {stamps[c][0]:.0%} of rows, {stamps[c][1]:.0%} of them readable",
        "other timestamp columns", "no timestamp column found; map it by hand",
    )  # fmt: skip

    vocabulary = set(ACTIVITY_WORDS)
    kinds: dict[str, tuple[float, float, int]] = {}
    for c in columns:
        if c in taken or c in numeric or c in stamps:
            continue
        text = texts[c]
        distinct = text.nunique()
        repeats = distinct <= MAX_TYPE_SHARE * len(text) or (
            distinct <= FEW and distinct < len(text)
        )
        if not len(text) or distinct > MAX_TYPES or not repeats:
            continue
        folded = normalise_activity_type(text).astype("string")
        known_share = float(folded.isin(vocabulary).mean())
        kinds[c] = (known_share, len(text) / max(len(frame), 1), distinct)
    _take(
        kinds, lambda c: kinds[c][:2], schema.ACTIVITY_TYPE, mapping, notes,
        lambda c: f"text with {kinds[c][2]} distinct values, {kinds[c][0]:.0%} of rows a common "
        f"activity type once folded, filled in {kinds[c][1]:.0%}",
        "other low-cardinality text columns", "no low-cardinality text column; map it by hand",
    )  # fmt: skip

    measures: dict[str, tuple[int, float]] = {}
    for c in sorted(numeric, key=columns.index):
        numbers = parse_numbers(frame[c]).dropna()
        distinct = numbers.nunique()
        if distinct <= FEW and distinct <= 0.5 * len(numbers):
            continue  # a handful of values repeated: codes
        if _id_like(numbers):
            continue
        measures[c] = (distinct, len(numbers) / max(len(frame), 1))
    _take(
        measures, measures.get, schema.VALUE, mapping, notes,
        lambda c: f"numbers with {measures[c][0]} distinct values, filled in "
        f"{measures[c][1]:.0%} of rows",
        "other numeric columns", "no numeric measurement column (optional)",
    )  # fmt: skip
    return mapping, notes
