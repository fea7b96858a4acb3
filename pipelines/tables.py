"""Reading the contract's tables from CSV or Parquet, mapping export names onto the
contract, and validating them with messages that name the file, column, rows and what was
expected. Nothing here fits or scores; everything downstream receives clean tables."""

from __future__ import annotations

import csv
import hashlib
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

log = logging.getLogger(__name__)

MAX_ROWS_SHOWN = 5
REJECT_COLUMNS = ("source", "row", schema.LEAD_ID, "reason")


class InputError(ValueError):
    """Bad input: the message names the file, column, offending rows and what was expected.
    The CLI turns it into exit code 2."""

    def __init__(
        self,
        source: str,
        problem: str,
        *,
        column: str | None = None,
        rows: list[int] | None = None,
        expected: str | None = None,
        examples: list[Any] | None = None,
    ) -> None:
        self.source = source
        self.column = column
        self.rows = rows or []
        parts = [source]
        if column is not None:
            parts.append(f"column '{column}'")
        message = ": ".join(parts) + f": {problem}"
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:MAX_ROWS_SHOWN])
            more = (
                f" and {len(self.rows) - MAX_ROWS_SHOWN} more"
                if len(self.rows) > MAX_ROWS_SHOWN
                else ""
            )
            message += f" at data row {shown}{more} (row 1 = first row after the header)"
        if examples:
            message += f"; found {', '.join(repr(e) for e in examples[:MAX_ROWS_SHOWN])}"
        if expected:
            message += f"; expected {expected}"
        super().__init__(message)


@dataclass(frozen=True)
class Tables:
    """The contract's tables after reading and validation."""

    leads: pd.DataFrame
    activities: pd.DataFrame | None
    rejects: pd.DataFrame  # activities left out, with the reason
    fingerprint: dict[str, Any] = field(default_factory=dict)


def empty_rejects() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in REJECT_COLUMNS})


def _row_numbers(mask: pd.Series | np.ndarray) -> list[int]:
    return [int(i) + 1 for i in np.flatnonzero(np.asarray(mask))]


def _sniff_delimiter(sample: str) -> str:
    header = sample.splitlines()[0] if sample else ""
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    if counts[best] == 0:
        try:
            return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            return ","
    return best


def read_raw(path: Path) -> pd.DataFrame:
    """A CSV (delimiter and encoding detected, every cell as text) or Parquet file/folder,
    with a fresh 0..n-1 index in file order."""
    source = str(path)
    if not path.exists():
        raise InputError(source, "file not found", expected="a CSV or Parquet file")
    is_parquet = path.is_dir() or path.suffix.lower() in {".parquet", ".pq"}
    if not is_parquet and path.stat().st_size == 0:
        raise InputError(source, "the file is empty", expected="a header row and data rows")
    if is_parquet:
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many kinds
            raise InputError(source, f"cannot be read as Parquet ({exc})") from exc
        return frame.reset_index(drop=True)
    raw = path.read_bytes()
    try:
        sample = raw[:65536].decode("utf-8-sig")
        encoding = "utf-8-sig"
        raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        encoding = "latin-1"
        sample = raw[:65536].decode(encoding)
        log.warning("%s is not UTF-8; read as Latin-1", source)
    delimiter = _sniff_delimiter(sample)
    try:
        frame = pd.read_csv(
            path,
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            encoding=encoding,
            skipinitialspace=False,
        )
    except pd.errors.EmptyDataError as exc:
        raise InputError(
            source, "the file is empty", expected="a header row and data rows"
        ) from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(source, f"cannot be parsed as CSV ({exc})") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.reset_index(drop=True)


def _apply_mapping(frame: pd.DataFrame, mapping: dict[str, str], source: str) -> pd.DataFrame:
    if not mapping:
        return frame
    missing = [c for c in mapping if c not in frame.columns]
    if missing:
        raise InputError(
            source,
            f"the column mapping names {missing} but the file has no such column",
            expected=f"one of {list(frame.columns)[:20]}",
        )
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
    stripped in place of being converted, which matters at tens of millions of rows."""
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
            expected="ISO 8601 such as 2024-05-17 or 2024-05-17T14:03:00+02:00 (no offset = UTC)",
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


def validate_leads(frame: pd.DataFrame, source: str, config: Config) -> pd.DataFrame:
    frame = _apply_mapping(frame, config.columns.leads, source)
    if config.export.row_number_as_lead_id:
        if schema.LEAD_ID in frame.columns:
            raise InputError(
                source,
                "export.row_number_as_lead_id is set but the file has a lead_id column",
                column=schema.LEAD_ID,
                expected="either an id column or the row-number option, not both",
            )
        frame = frame.assign(**{schema.LEAD_ID: [str(i) for i in range(1, len(frame) + 1)]})
    _require(frame, schema.LEAD_REQUIRED, source)
    if frame.empty:
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
            "row": np.flatnonzero(mask.to_numpy()) + 1,
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
        created = to_epoch_seconds(leads[schema.CREATED_AT])[np.maximum(position, 0)]
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


def fingerprint(path: Path, frame: pd.DataFrame) -> dict[str, Any]:
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return {"path": str(path), "sha256": digest.hexdigest(), "rows": len(frame)}


def prepare_tables(
    leads_raw: pd.DataFrame,
    activities_raw: pd.DataFrame | None,
    config: Config,
    leads_source: str = "leads",
    activities_source: str = "activities",
) -> Tables:
    """Map and validate already-read frames (raw export names, text or typed cells)."""
    leads = validate_leads(leads_raw, leads_source, config)
    if activities_raw is None:
        return Tables(leads, None, empty_rejects())
    activities = validate_activities(activities_raw, activities_source, config)
    kept, rejects = link_activities(leads, activities, activities_source)
    return Tables(leads, kept, rejects)


def load_tables(leads_path: Path, activities_path: Path | None, config: Config) -> Tables:
    """Read, map and validate leads (and activities). Raises InputError on bad input."""
    leads_raw = read_raw(leads_path)
    activities_raw = read_raw(activities_path) if activities_path is not None else None
    tables = prepare_tables(
        leads_raw, activities_raw, config, str(leads_path), str(activities_path)
    )
    prints = {"leads": fingerprint(leads_path, leads_raw)}
    if activities_path is not None and activities_raw is not None:
        prints["activities"] = fingerprint(activities_path, activities_raw)
    return Tables(tables.leads, tables.activities, tables.rejects, prints)


def parse_as_of(text: str) -> pd.Timestamp:
    """``--as-of``: an ISO 8601 date or date-time (no offset = UTC)."""
    parsed = parse_utc(pd.Series([text]))
    if not text.strip() or parsed.isna().iloc[0]:
        raise InputError(
            "--as-of",
            f"cannot read {text!r} as a date",
            expected="ISO 8601 such as 2026-06-30 or 2026-06-30T00:00:00Z",
        )
    return pd.Timestamp(parsed.iloc[0])
