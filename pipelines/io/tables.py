"""Reading the contract's tables from CSV or Parquet, mapping export names onto the
contract, and validating them with messages that name the file, column, rows and what was
expected. Nothing here fits or scores; everything downstream receives clean tables.

One bad row does not stop a job: rows of the leads table with a row-level fault (an empty or
duplicate id, an unparsable timestamp, an unknown outcome, a close before the creation) are
set aside as rejects with the reason while they are at most ``export.max_rejected_share`` of
the table; more stop the job with an ``InputError``, as every file-level fault does."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from leadscore.features import schema
from leadscore.features.keys import exact_duplicates, positions
from leadscore.features.schema import normalise_activity_type
from leadscore.features.timeutil import parse_utc, to_epoch_micros, to_epoch_seconds
from leadscore.pipelines.config import (
    ColumnMapping,
    Config,
    ConfigError,
    ExportSettings,
    OutcomeSpellings,
)
from leadscore.pipelines.errors import MAX_ROWS_SHOWN, InputError
from leadscore.pipelines.io.sources import Source, as_source

log = logging.getLogger(__name__)

REJECT_COLUMNS = ("source", "row", schema.LEAD_ID, "reason")
LEAD_REJECTED = "its lead was rejected"  # the reason of an activity of a lead set aside


def empty_rejects() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in REJECT_COLUMNS})


# -- row-level faults of the leads table ---------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """A kind of row-level fault of the leads table: its rows go to the rejects with
    ``reason``; too many stop the job with ``problem`` in ``column`` and what was
    ``expected``. ``rank``: the order in which kinds are checked and reported."""

    rank: int
    reason: str
    problem: str
    column: str
    expected: str


TIMESTAMP_EXPECTED = (
    "ISO 8601 such as 2024-05-17 or 2024-05-17T14:03:00+02:00 (no offset = UTC), "
    "in the years 0001 to 9999"
)
EMPTY_ID = Fault(
    0, "empty lead id", "empty lead id", schema.LEAD_ID, "a non-empty, unique id in every row"
)
DUPLICATE_ID = Fault(
    1, "duplicate lead id", "duplicate lead id", schema.LEAD_ID, "each lead_id exactly once"
)
UNPARSABLE = {
    column: Fault(
        rank,
        f"unparsable timestamp in {column}",
        "unparsable timestamp",
        column,
        TIMESTAMP_EXPECTED,
    )
    for rank, column in ((2, schema.CREATED_AT), (3, schema.CLOSED_AT))
}
BACKWARDS = Fault(
    5,
    "closed before it was created",
    "closed before it was created",
    schema.CLOSED_AT,
    "closed_at at or after created_at",
)


def unknown_outcome(spellings: OutcomeSpellings) -> Fault:
    return Fault(
        4,
        "unknown outcome value",
        "unknown outcome value",
        schema.OUTCOME,
        f"won ({', '.join(spellings.won[:6])}, ...), lost "
        f"({', '.join(spellings.lost[:6])}, ...) or empty for open leads; "
        "add the export's spellings under `outcome_values:` in the config",
    )


def fault_kinds(spellings: OutcomeSpellings) -> tuple[Fault, ...]:
    """Every kind of row-level fault of the leads table, in the order they are reported."""
    kinds = (EMPTY_ID, DUPLICATE_ID, *UNPARSABLE.values(), unknown_outcome(spellings), BACKWARDS)
    return tuple(sorted(kinds, key=lambda k: k.rank))


@dataclass(frozen=True)
class FoundFault:
    fault: Fault
    rows: np.ndarray  # data row numbers (1 = first row after the header)
    examples: tuple[Any, ...] = ()


def _percent(share: float) -> str:
    return f"{100 * share:.3g}%"


@dataclass(frozen=True)
class LeadFaults:
    """The row-level faults found in a leads table, or in its chunks added up with ``+``:
    the rows looked at, the rows set aside, and each kind of fault found with its rows."""

    rows: int = 0
    rejected: int = 0
    found: tuple[FoundFault, ...] = ()

    def __add__(self, other: LeadFaults) -> LeadFaults:
        merged = {f.fault: f for f in self.found}
        for f in other.found:
            mine = merged.get(f.fault)
            merged[f.fault] = (
                f
                if mine is None
                else FoundFault(
                    f.fault,
                    np.concatenate([mine.rows, f.rows]),
                    (*mine.examples, *f.examples)[:MAX_ROWS_SHOWN],
                )
            )
        return LeadFaults(
            self.rows + other.rows,
            self.rejected + other.rejected,
            tuple(sorted(merged.values(), key=lambda f: f.fault.rank)),
        )

    def check(self, source: str, max_share: float) -> None:
        """Raise the ``InputError`` of the first kind of fault, naming all its rows, when more
        than ``max_share`` of the rows were set aside."""
        if not self.rejected or self.rejected <= max_share * self.rows:
            return
        first = self.found[0]
        kinds = ", ".join(f"{len(f.rows)} {f.fault.reason}" for f in self.found)
        raise InputError(
            source,
            first.fault.problem,
            column=first.fault.column,
            rows=sorted(int(r) for r in first.rows),
            examples=list(first.examples),
            expected=f"{first.fault.expected} ({self.rejected} of {self.rows} rows have "
            f"row-level faults ({_percent(self.rejected / self.rows)}), more than the "
            f"{_percent(max_share)} export.max_rejected_share lets a job set aside as "
            f"rejects: {kinds})",
        )

    def summary(self) -> str:
        """``2 duplicate lead id (data row 4, 9); 1 ...`` for a log line."""
        return "; ".join(
            f"{len(f.rows)} {f.fault.reason} (data row "
            f"{', '.join(str(r) for r in sorted(f.rows.tolist())[:MAX_ROWS_SHOWN])}"
            f"{', ...' if len(f.rows) > MAX_ROWS_SHOWN else ''})"
            for f in self.found
        )

    @classmethod
    def from_rejects(
        cls, rejects: pd.DataFrame, rows: int, spellings: OutcomeSpellings
    ) -> LeadFaults:
        """The faults behind the leads rejects (``REJECT_COLUMNS``, several reasons joined by
        "; ") of a table of ``rows`` rows, as an engine that keeps only the rejects has them
        (no example values)."""
        parts = rejects["reason"].astype(str).str.split("; ")
        numbers = rejects["row"].to_numpy(dtype="int64")
        found = []
        for kind in fault_kinds(spellings):
            mask = parts.map(lambda reasons, r=kind.reason: r in reasons).to_numpy(dtype=bool)
            if mask.any():
                found.append(FoundFault(kind, np.sort(numbers[mask])))
        return cls(rows, len(rejects), tuple(found))


@dataclass(frozen=True)
class Tables:
    """The contract's tables after reading and validation."""

    leads: pd.DataFrame
    activities: pd.DataFrame | None
    rejects: pd.DataFrame  # activities left out, with the reason
    fingerprint: dict[str, Any] = field(default_factory=dict)
    lead_rejects: pd.DataFrame = field(default_factory=empty_rejects)  # leads set aside
    lead_faults: LeadFaults = field(default_factory=LeadFaults)


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


def _parse_timestamps(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(UTC timestamps, unparsable cells, present cells) of a column."""
    parsed = parse_utc(values)
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
        present = values.notna()
    else:
        present = _as_text(values) != ""
    return parsed, present & parsed.isna(), present


def _timestamps(frame: pd.DataFrame, column: str, source: str, required: bool) -> pd.Series:
    values = frame[column]
    parsed, bad, present = _parse_timestamps(values)
    if bad.any():
        raise InputError(
            source,
            "unparsable timestamp",
            column=column,
            rows=_row_numbers(bad),
            examples=values[bad].head(MAX_ROWS_SHOWN).tolist(),
            expected=TIMESTAMP_EXPECTED,
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


def _map_outcomes(values: pd.Series, spellings: OutcomeSpellings) -> tuple[pd.Series, pd.Series]:
    """(won / lost / <NA> for open from the export's spellings, the unknown values)."""
    text = _as_text(values).str.lower().str.replace(r"\s+", " ", regex=True)
    lookup = {v.strip().lower(): schema.WON for v in spellings.won}
    lookup |= {v.strip().lower(): schema.LOST for v in spellings.lost}
    open_values = {v.strip().lower() for v in spellings.open}
    mapped = text.map(lookup)
    return mapped.astype("string"), mapped.isna() & ~text.isin(open_values)


def _find_faults(
    leads: pd.DataFrame, raw: pd.DataFrame, spellings: OutcomeSpellings
) -> list[tuple[Fault, pd.Series, list[Any]]]:
    """Each kind of row-level fault with its rows (a mask) and example values, each over
    every row, so that a message names all rows of its kind. Types ``leads``' timestamp and
    outcome columns in place (``raw``: the same rows as read)."""
    ids = leads[schema.LEAD_ID]
    empty = ids == ""
    duplicated = ids.duplicated(keep=False) & ~empty
    found = [
        (EMPTY_ID, empty, []),
        (DUPLICATE_ID, duplicated, sorted(set(ids[duplicated]))[:MAX_ROWS_SHOWN]),
    ]
    for column, kind in UNPARSABLE.items():
        if column in leads.columns:
            parsed, bad, _ = _parse_timestamps(raw[column])
            found.append((kind, bad, raw[column][bad].head(MAX_ROWS_SHOWN).tolist()))
            leads[column] = parsed
    if schema.OUTCOME in leads.columns:
        mapped, unknown = _map_outcomes(raw[schema.OUTCOME], spellings)
        examples = sorted(set(raw[schema.OUTCOME][unknown].astype(str)))[:MAX_ROWS_SHOWN]
        found.append((unknown_outcome(spellings), unknown, examples))
        leads[schema.OUTCOME] = mapped
    if schema.CREATED_AT in leads.columns and schema.CLOSED_AT in leads.columns:
        backwards = pd.Series(
            (leads[schema.CLOSED_AT] < leads[schema.CREATED_AT]).to_numpy(dtype=bool),
            index=leads.index,
        )
        found.append((BACKWARDS, backwards, []))
    return found


@dataclass(frozen=True)
class ValidatedLeads:
    leads: pd.DataFrame  # the rows without a fault, typed; index = row position in the source
    rejects: pd.DataFrame  # the rows set aside, with the reason (REJECT_COLUMNS)
    faults: LeadFaults


def validate_leads(
    frame: pd.DataFrame,
    source: str,
    config: Config,
    allow_empty: bool = False,
    judge: bool = True,
) -> ValidatedLeads:
    """Map and validate the leads table. A file-level fault raises ``InputError``; rows with
    a row-level fault are set aside with the reason, unless (``judge``) they are more than
    ``export.max_rejected_share`` of the rows. ``judge=False``: the frame is a chunk of a
    larger table, whose share the caller judges over the whole table (``LeadFaults``)."""
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
    leads[schema.LEAD_ID] = _as_text(leads[schema.LEAD_ID])
    rejected = np.zeros(len(leads), dtype=bool)
    flagged = []
    for kind, mask, examples in _find_faults(leads, frame, config.outcome_values):
        flags = mask.to_numpy(dtype=bool)
        if flags.any():
            rejected |= flags
            flagged.append((kind, flags, examples))
    found = tuple(FoundFault(k, _numbers(leads.index, f), tuple(e)) for k, f, e in flagged)
    faults = LeadFaults(len(leads), int(rejected.sum()), found)
    if judge:
        faults.check(source, config.export.max_rejected_share)
    if not faults.rejected:
        return ValidatedLeads(leads, empty_rejects(), faults)
    log.warning("%s: %d rows set aside as rejects: %s", source, faults.rejected, faults.summary())
    reason = np.full(faults.rejected, "", dtype=object)  # a row's reasons, joined by "; "
    for kind, flags, _ in flagged:
        mine = flags[rejected]
        reason[mine] = np.where(reason[mine] == "", kind.reason, reason[mine] + "; " + kind.reason)
    rejects = pd.DataFrame(
        {
            "source": source,
            "row": _numbers(leads.index, rejected),
            schema.LEAD_ID: leads[schema.LEAD_ID].to_numpy(dtype=object)[rejected],
            "reason": reason,
        }
    )
    return ValidatedLeads(leads[~rejected], rejects, faults)


def _numbers(index: pd.Index, flags: np.ndarray) -> np.ndarray:
    """Data row numbers (1 = first row after the header) of the flagged rows."""
    return np.asarray(index[flags], dtype="int64") + 1


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
    leads: pd.DataFrame,
    activities: pd.DataFrame,
    source: str,
    rejected_leads: pd.Series | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the activities the contract allows; return (kept, rejects with reasons).

    Left out, counted and reported: unknown lead ids, activities of leads set aside
    (``rejected_leads``: their ids), empty activity types, events before the lead's
    created_at, and exact duplicate rows."""
    rejects = []
    lead_index = pd.Index(leads[schema.LEAD_ID])
    position = positions(leads[schema.LEAD_ID], activities[schema.LEAD_ID])
    known = pd.Series(position >= 0, index=activities.index)
    no_type = activities[schema.ACTIVITY_TYPE].isna()
    of_rejected = pd.Series(False, index=activities.index)
    if rejected_leads is not None and len(rejected_leads):
        ids = pd.Index(rejected_leads[rejected_leads != ""].astype(str).unique())
        of_rejected = ~known & activities[schema.LEAD_ID].astype(str).isin(ids)
    rejects.append(_reject(activities, ~known & ~of_rejected, source, "lead_id not found in leads"))
    rejects.append(_reject(activities, of_rejected, source, LEAD_REJECTED))
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
    judge: bool = True,
) -> Tables:
    """Map and validate already-read frames (raw export names, text or typed cells).
    ``allow_no_leads``: a chunk of a larger table may hold no leads (its activities are then
    rejected as unknown). ``judge=False``: leads with row-level faults are set aside whatever
    their share, which the caller judges over the whole table (``Tables.lead_faults``)."""
    validated = validate_leads(leads_raw, leads_source, config, allow_no_leads, judge)
    tables = Tables(
        validated.leads,
        None,
        empty_rejects(),
        lead_rejects=validated.rejects,
        lead_faults=validated.faults,
    )
    if activities_raw is None:
        return tables
    activities = validate_activities(activities_raw, activities_source, config)
    kept, rejects = link_activities(
        validated.leads, activities, activities_source, validated.rejects[schema.LEAD_ID]
    )
    return replace(tables, activities=kept, rejects=rejects)


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
    prints = {
        "leads": leads_source.fingerprint()
        | {"rows": len(leads_raw), "rejected": tables.lead_faults.rejected}
    }
    if activities_source is not None and activities_raw is not None:
        prints["activities"] = activities_source.fingerprint() | {"rows": len(activities_raw)}
    return replace(tables, fingerprint=prints)


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


# -- the sections that read an export, stored with a model ----------------------------------------

READING_SECTIONS = {
    "columns": ColumnMapping,
    "outcome_values": OutcomeSpellings,
    "export": ExportSettings,
}


def reading_of(config: Config) -> dict[str, Any]:
    """The sections of a config that read a raw export (column mapping, outcome spellings,
    export facts) as plain JSON values, as a model stores them at training."""
    return {name: getattr(config, name).model_dump(mode="json") for name in READING_SECTIONS}


def _flat(value: Any, key: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out |= _flat(v, f"{key}.{k}" if key else str(k))
        return out
    return {key: value}


def reading_differences(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """The dotted keys (``columns.leads.Record ID``, ``export.row_order_is_time``) whose
    values differ between two sets of reading sections."""
    a, b = _flat(ours), _flat(theirs)
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def config_for_model(config: Config | None, stored: dict[str, Any] | None, model: str) -> Config:
    """The config that reads a raw export for ``model``. Without a config (None), the
    reading sections are the ones stored with the model at training and the rest are
    defaults; with one, its own sections, and a warning naming the keys that differ from the
    model's. A model stored before it kept them reads with the config (or defaults)."""
    if stored is None:
        if config is None:
            log.warning(
                "%s carries no column mapping (trained before models kept it): reading the "
                "export with the contract's names; pass the training config with --config if "
                "the export uses its own",
                model,
            )
        return config or Config()
    try:
        theirs = {
            name: kind.model_validate(stored.get(name, {})).model_dump(mode="json")
            for name, kind in READING_SECTIONS.items()
        }
        from_model = Config.model_validate(theirs)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        if config is None:
            raise ConfigError(
                f"{model}: the column mapping stored with the model cannot be read by this "
                f"leadscore ({problems}); pass the training config with --config"
            ) from exc
        log.warning("%s: cannot compare with the stored column mapping (%s)", model, problems)
        return config
    if config is None:
        log.info("Reading the export with the column mapping stored with %s", model)
        return from_model
    differ = reading_differences(reading_of(config), theirs)
    if differ:
        log.warning(
            "The config reads the export differently from %s at training (%s): reading it "
            "with the config's",
            model,
            ", ".join(differ),
        )
    return config
