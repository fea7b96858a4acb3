"""Reading the contract's tables from CSV or Parquet, mapping export names onto the
contract, and validating them with messages that name the file, column, rows and what was
expected. Nothing here fits or scores; everything downstream receives clean tables."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadscore.features import schema
from leadscore.features.keys import exact_duplicates, positions
from leadscore.features.schema import normalise_activity_type
from leadscore.features.timeutil import parse_utc, to_epoch_micros, to_epoch_seconds
from leadscore.pipelines.config import Config, OutcomeSpellings
from leadscore.pipelines.errors import MAX_ROWS_SHOWN, InputError
from leadscore.pipelines.sources import Source, as_source

log = logging.getLogger(__name__)

REJECT_COLUMNS = ("source", "row", schema.LEAD_ID, "reason")


@dataclass(frozen=True)
class Tables:
    """The contract's tables after reading and validation."""

    leads: pd.DataFrame
    activities: pd.DataFrame | None
    rejects: pd.DataFrame  # activities left out, with the reason
    fingerprint: dict[str, Any] = field(default_factory=dict)


def empty_rejects() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in REJECT_COLUMNS})


def _row_numbers(mask: pd.Series) -> list[int]:
    """Data row numbers (1 = first row after the header) of the rows a mask selects. The
    frame's index holds each row's position in its source, so chunks keep global numbers."""
    return [int(i) + 1 for i in mask.index[mask.to_numpy(dtype=bool)]]


def _apply_mapping(frame: pd.DataFrame, mapping: dict[str, str], source: str) -> pd.DataFrame:
    if not mapping:
        return frame
    missing = [c for c in mapping if c not in frame.columns]
    if missing:
        # A preset maps more columns than every export has; a required column that is
        # missing after the mapping is still an error (see _require), with the hint.
        log.warning(
            "%s: the column mapping names %s, which the file does not have: skipped",
            source,
            missing,
        )
        mapping = {k: v for k, v in mapping.items() if k in frame.columns}
    renamed = frame.rename(columns=mapping)
    dupes = renamed.columns[renamed.columns.duplicated()].tolist()
    if dupes:
        raise InputError(
            source, f"after applying the column mapping, {dupes} appear more than once"
        )
    return renamed


def _require(frame: pd.DataFrame, columns: tuple[str, ...], source: str) -> None:
    for column in columns:
        if column not in frame.columns:
            raise InputError(
                source,
                "required column is missing",
                column=column,
                expected=f"a column '{column}' (found {list(frame.columns)[:20]}); "
                "map export names onto the contract with `columns:` in the config",
            )


def _as_text(values: pd.Series) -> pd.Series:
    """Stripped text, missing as ''. String columns (Arrow-backed from CSV or Parquet) are
    stripped in place of being converted, which matters at tens of millions of rows. Whole
    numbers stored as floats (an integer column with gaps, once through pandas) read as the
    integers they were: id 7 is '7', not '7.0'."""
    if pd.api.types.is_float_dtype(values.dtype):
        present = values.dropna()
        if ((present % 1 == 0) & (present.abs() < 2**53)).all():
            values = values.astype("Int64")
    if not isinstance(values.dtype, pd.StringDtype):
        values = values.astype("string")
    return values.str.strip().fillna("")


def _timestamps(frame: pd.DataFrame, column: str, source: str, required: bool) -> pd.Series:
    values = frame[column]
    parsed = parse_utc(values)
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
        present = values.notna()
    else:
        present = _as_text(values) != ""
    bad = present & parsed.isna()
    if bad.any():
        raise InputError(
            source,
            "unparsable timestamp",
            column=column,
            rows=_row_numbers(bad),
            examples=values[bad].head(MAX_ROWS_SHOWN).tolist(),
            expected="ISO 8601 such as 2024-05-17 or 2024-05-17T14:03:00+02:00 (no offset = UTC), "
            "in the years 0001 to 9999",
        )
    if required and (~present).any():
        raise InputError(
            source,
            "missing timestamp",
            column=column,
            rows=_row_numbers(~present),
            expected="a timestamp in every row",
        )
    return parsed


def map_outcomes(values: pd.Series, spellings: OutcomeSpellings, source: str) -> pd.Series:
    """won / lost / <NA> (open) from the export's spellings; anything else is an error."""
    text = _as_text(values).str.lower().str.replace(r"\s+", " ", regex=True)
    lookup = {v.strip().lower(): schema.WON for v in spellings.won}
    lookup |= {v.strip().lower(): schema.LOST for v in spellings.lost}
    open_values = {v.strip().lower() for v in spellings.open}
    mapped = text.map(lookup)
    unknown = mapped.isna() & ~text.isin(open_values)
    if unknown.any():
        raise InputError(
            source,
            "unknown outcome value",
            column=schema.OUTCOME,
            rows=_row_numbers(unknown),
            examples=sorted(set(values[unknown].astype(str)))[:MAX_ROWS_SHOWN],
            expected=f"won ({', '.join(spellings.won[:6])}, ...), lost "
            f"({', '.join(spellings.lost[:6])}, ...) or empty for open leads; "
            "add the export's spellings under `outcome_values:` in the config",
        )
    return mapped.astype("string")


def validate_leads(
    frame: pd.DataFrame, source: str, config: Config, allow_empty: bool = False
) -> pd.DataFrame:
    frame = _apply_mapping(frame, config.columns.leads, source)
    if config.export.row_number_as_lead_id:
        if schema.LEAD_ID in frame.columns:
            raise InputError(
                source,
                "export.row_number_as_lead_id is set but the file has a lead_id column",
                column=schema.LEAD_ID,
                expected="either an id column or the row-number option, not both",
            )
        frame = frame.assign(**{schema.LEAD_ID: (frame.index + 1).astype(str)})
    _require(frame, schema.LEAD_REQUIRED, source)
    if frame.empty and not allow_empty:
        raise InputError(source, "has a header but no rows", expected="at least one lead")
    leads = frame.copy()
    ids = _as_text(leads[schema.LEAD_ID])
    empty = ids == ""
    if empty.any():
        raise InputError(
            source,
            "empty lead id",
            column=schema.LEAD_ID,
            rows=_row_numbers(empty),
            expected="a non-empty, unique id in every row",
        )
    duplicated = ids.duplicated(keep=False)
    if duplicated.any():
        raise InputError(
            source,
            "duplicate lead id",
            column=schema.LEAD_ID,
            rows=_row_numbers(duplicated),
            examples=sorted(set(ids[duplicated]))[:MAX_ROWS_SHOWN],
            expected="each lead_id exactly once",
        )
    leads[schema.LEAD_ID] = ids
    for column in (schema.CREATED_AT, schema.CLOSED_AT):
        if column in leads.columns:
            leads[column] = _timestamps(leads, column, source, required=False)
    if schema.OUTCOME in leads.columns:
        leads[schema.OUTCOME] = map_outcomes(leads[schema.OUTCOME], config.outcome_values, source)
    if schema.CREATED_AT in leads.columns and schema.CLOSED_AT in leads.columns:
        backwards = leads[schema.CLOSED_AT] < leads[schema.CREATED_AT]
        if backwards.any():
            raise InputError(
                source,
                "closed before it was created",
                column=schema.CLOSED_AT,
                rows=_row_numbers(backwards),
                expected="closed_at at or after created_at",
            )
    return leads


def validate_activities(frame: pd.DataFrame, source: str, config: Config) -> pd.DataFrame:
    frame = _apply_mapping(frame, config.columns.activities, source)
    _require(frame, schema.ACTIVITY_REQUIRED, source)
    activities = pd.DataFrame(
        {
            schema.LEAD_ID: _as_text(frame[schema.LEAD_ID]),
            schema.OCCURRED_AT: _timestamps(frame, schema.OCCURRED_AT, source, required=True),
            schema.ACTIVITY_TYPE: normalise_activity_type(frame[schema.ACTIVITY_TYPE]),
        },
        index=frame.index,
    )
    if schema.VALUE in frame.columns:
        raw = frame[schema.VALUE]
        numbers = pd.to_numeric(raw, errors="coerce").astype("float64")
        if pd.api.types.is_numeric_dtype(raw.dtype):
            present = raw.notna()
        else:
            present = raw.notna() & (_as_text(raw) != "")
        bad = present & (numbers.isna() | ~np.isfinite(numbers.fillna(0.0)))
        if bad.any():
            log.warning(
                "%s: column 'value': %d non-numeric values treated as missing (rows %s)",
                source,
                int(bad.sum()),
                _row_numbers(bad)[:MAX_ROWS_SHOWN],
            )
        activities[schema.VALUE] = numbers.where(~bad)
    return activities


def _reject(activities: pd.DataFrame, mask: pd.Series, source: str, reason: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": source,
            "row": np.asarray(mask.index[mask.to_numpy(dtype=bool)], dtype="int64") + 1,
            schema.LEAD_ID: activities.loc[mask, schema.LEAD_ID].to_numpy(),
            "reason": reason,
        }
    )


def link_activities(
    leads: pd.DataFrame, activities: pd.DataFrame, source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the activities the contract allows; return (kept, rejects with reasons).

    Left out, counted and reported: unknown lead ids, empty activity types, events before
    the lead's created_at, and exact duplicate rows."""
    rejects = []
    lead_index = pd.Index(leads[schema.LEAD_ID])
    position = positions(leads[schema.LEAD_ID], activities[schema.LEAD_ID])
    known = pd.Series(position >= 0, index=activities.index)
    no_type = activities[schema.ACTIVITY_TYPE].isna()
    rejects.append(_reject(activities, ~known, source, "lead_id not found in leads"))
    rejects.append(_reject(activities, known & no_type, source, "empty activity_type"))
    keep = known & ~no_type
    if schema.CREATED_AT in leads.columns:
        # unknown leads (position -1, also in a chunk without leads) get NaN, never early
        created = np.append(to_epoch_seconds(leads[schema.CREATED_AT]), np.nan)[position]
        occurred = to_epoch_seconds(activities[schema.OCCURRED_AT])
        early = keep & pd.Series(occurred < created, index=activities.index)
        rejects.append(_reject(activities, early, source, "occurred before the lead's created_at"))
        keep &= ~early
    duplicate = keep & _duplicates(activities, position)
    rejects.append(_reject(activities, duplicate, source, "exact duplicate of an earlier row"))
    keep &= ~duplicate
    rejected = pd.concat(
        [r for r in rejects if not r.empty] or [empty_rejects()], ignore_index=True
    )
    if not rejected.empty:
        summary = rejected["reason"].value_counts()
        log.warning(
            "%s: %d activities left out: %s",
            source,
            len(rejected),
            "; ".join(f"{n} {reason}" for reason, n in summary.items()),
        )
    kept = activities[keep].reset_index(drop=True)
    # Lead ids as a categorical over the leads' own ids: features map them without hashing.
    kept[schema.LEAD_ID] = pd.Categorical.from_codes(
        position[keep.to_numpy()], dtype=pd.CategoricalDtype(lead_index)
    )
    return kept, rejected


def _duplicates(activities: pd.DataFrame, position: np.ndarray) -> pd.Series:
    """Exact repeats of an earlier row (same lead, time, type and value)."""
    types = activities[schema.ACTIVITY_TYPE]
    type_codes = (
        types.cat.codes.to_numpy()
        if isinstance(types.dtype, pd.CategoricalDtype)
        else pd.factorize(types, use_na_sentinel=True)[0]
    )
    columns = [
        position.astype("int64"),
        to_epoch_micros(activities[schema.OCCURRED_AT]),
        type_codes.astype("int64"),
    ]
    if schema.VALUE in activities.columns:
        columns.append(activities[schema.VALUE].to_numpy(dtype="float64", na_value=np.nan))
    return pd.Series(exact_duplicates(columns), index=activities.index)


def prepare_tables(
    leads_raw: pd.DataFrame,
    activities_raw: pd.DataFrame | None,
    config: Config,
    leads_source: str = "leads",
    activities_source: str = "activities",
    allow_no_leads: bool = False,
) -> Tables:
    """Map and validate already-read frames (raw export names, text or typed cells).
    ``allow_no_leads``: a chunk of a larger table may hold no leads (its activities are then
    rejected as unknown)."""
    leads = validate_leads(leads_raw, leads_source, config, allow_no_leads)
    if activities_raw is None:
        return Tables(leads, None, empty_rejects())
    activities = validate_activities(activities_raw, activities_source, config)
    kept, rejects = link_activities(leads, activities, activities_source)
    return Tables(leads, kept, rejects)


def load_tables(leads: Path | Source, activities: Path | Source | None, config: Config) -> Tables:
    """Read whole, map and validate leads (and activities): files or database tables.
    Raises InputError on bad input."""
    leads_source = as_source(leads) if isinstance(leads, Path) else leads
    activities_source = as_source(activities) if isinstance(activities, Path) else activities
    leads_raw = leads_source.read(order_by=lead_id_column(config.columns.leads))
    activities_raw = (
        activities_source.read(order_by=lead_id_column(config.columns.activities))
        if activities_source is not None
        else None
    )
    tables = prepare_tables(
        leads_raw,
        activities_raw,
        config,
        leads_source.label,
        activities_source.label if activities_source is not None else "activities",
    )
    prints = {"leads": leads_source.fingerprint() | {"rows": len(leads_raw)}}
    if activities_source is not None and activities_raw is not None:
        prints["activities"] = activities_source.fingerprint() | {"rows": len(activities_raw)}
    return Tables(tables.leads, tables.activities, tables.rejects, prints)


def lead_id_column(mapping: dict[str, str]) -> str:
    """The export's own name of the lead id column under a column mapping."""
    return next((raw for raw, name in mapping.items() if name == schema.LEAD_ID), schema.LEAD_ID)


def parse_as_of(text: str) -> pd.Timestamp:
    """``--as-of``: an ISO 8601 date or date-time (no offset = UTC), or ``today`` (today
    00:00 UTC)."""
    if text.strip().lower() == "today":
        return pd.Timestamp.now(tz="UTC").normalize()
    parsed = parse_utc(pd.Series([text]))
    if not text.strip() or parsed.isna().iloc[0]:
        raise InputError(
            "--as-of",
            f"cannot read {text!r} as a date",
            expected="ISO 8601 such as 2026-06-30 or 2026-06-30T00:00:00Z, or today",
        )
    return pd.Timestamp(parsed.iloc[0])


def lead_ids(frame: pd.DataFrame, kind: str, source: str, config: Config) -> pd.Series:
    """The (stripped) lead ids of a raw chunk of leads or activities, after the column
    mapping; checks the chunk's columns with the same messages as the full validation."""
    if kind == "leads":
        mapped = _apply_mapping(frame, config.columns.leads, source)
        if config.export.row_number_as_lead_id:
            return pd.Series((frame.index + 1).astype(str), index=frame.index)
        _require(mapped, schema.LEAD_REQUIRED, source)
    else:
        mapped = _apply_mapping(frame, config.columns.activities, source)
        _require(mapped, schema.ACTIVITY_REQUIRED, source)
    return _as_text(mapped[schema.LEAD_ID])
