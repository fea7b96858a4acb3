"""Hostile and messy inputs (issue 8): property-based tests over the readers and the feature
pipeline.

Hypothesis writes leads and activities files the way real exports come: random encodings
(UTF-8 with or without BOM, Latin-1, cp1252), delimiters, CRLF, quoted fields holding line
breaks and delimiters, empty and header-only files, huge, negative and non-finite numbers,
time zones mixed in one column, dates from year 1 to 9999, unparsable dates, duplicates,
unicode and invisible characters in ids, missing and extra columns, orphan and early
activities; as CSV and as Parquet with odd types. Every case must end in one of two ways:

(a) a result: every input row is kept or rejected with a reason (counted), the lead ids are
    exactly the ones written, and the features of every row asked for are finite or missing
    (one row per lead asked for);
(b) an ``InputError`` naming the file and, where it applies, the column, the rows and what
    was expected; and only for a problem the input really has (an oracle computes them).

Anything else (a bare pandas or numpy exception, a warning, a silently lost row) fails. The
number of generated cases that ran is written to ``test-artifacts/hostile-cases.json``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from pathlib import Path

import hypothesis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadscore.features import schema
from leadscore.features.attributes import parse_numbers
from leadscore.features.build import FeatureSettings, FeatureSpec, build_features, fit_spec
from leadscore.features.registry import COMPANY_SIZE as COMPANY_SIZE_DEF
from leadscore.features.registry import Kind
from leadscore.features.snapshots import open_leads, rows_as_of, training_rows
from leadscore.features.text import parse_company_size
from leadscore.features.timeutil import parse_utc, to_epoch_micros, to_epoch_seconds
from leadscore.pipelines.config import Config
from leadscore.pipelines.errors import InputError
from leadscore.pipelines.fitting import data_end
from leadscore.pipelines.io import chunks
from leadscore.pipelines.io.sources import as_source
from leadscore.pipelines.io.tables import Tables, load_tables, parse_as_of, prepare_tables
from tests.conftest import TrainedStore

ROOT = Path(__file__).resolve().parents[1]
CASE_FILE = ROOT / "test-artifacts" / "hostile-cases.json"

# Generated cases that actually ran, per property, and how they ended; written at the end.
CASES: Counter[str] = Counter()
ENDINGS: Counter[str] = Counter()
SECONDS: Counter[str] = Counter()

# Deterministic (CI reproducible), no example database, no per-example deadline.
HOSTILE = settings(
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module", autouse=True)
def _write_case_counts(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not CASES:
        return
    summary = {
        "generated_cases": dict(sorted(CASES.items())),
        "total": sum(CASES.values()),
        "endings": dict(sorted(ENDINGS.items())),
        "seconds": {k: round(v, 1) for k, v in sorted(SECONDS.items())},
        "hypothesis": hypothesis.__version__,
    }
    CASE_FILE.parent.mkdir(parents=True, exist_ok=True)
    CASE_FILE.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        per = ", ".join(f"{k} {v}" for k, v in sorted(CASES.items()))
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\nhostile inputs: {summary['total']} generated cases ran ({per}); "
                f"see {CASE_FILE.relative_to(ROOT)}"
            )


@pytest.fixture(autouse=True)
def _time_property(request: pytest.FixtureRequest) -> Iterator[None]:
    start = time.perf_counter()
    yield
    if hasattr(request.function, "hypothesis"):  # the properties only
        SECONDS[request.node.originalname] += time.perf_counter() - start


def ran(prop: str, ending: str) -> None:
    CASES[prop] += 1
    ENDINGS[f"{prop}: {ending}"] += 1


# -- what the package must make of each timestamp text ----------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _at(
    y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, ns: int = 0, offset: int = 0
) -> int:
    """Nanoseconds since the epoch of a local time with a UTC offset in minutes (any year)."""
    delta = datetime(y, mo, d, h, mi, s, tzinfo=timezone(timedelta(minutes=offset))) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10**9 + ns


GOOD_TIMES: dict[str, int] = {
    "2025-03-01": _at(2025, 3, 1),
    "2025-03-01T09:30:00Z": _at(2025, 3, 1, 9, 30),
    "2025-03-01T09:30:00+02:00": _at(2025, 3, 1, 9, 30, offset=120),
    "2025-03-01 09:30:00": _at(2025, 3, 1, 9, 30),
    "2025-03-01T09:30:00.5Z": _at(2025, 3, 1, 9, 30, ns=500_000_000),
    "2025-03-01T09:30:00.123456789Z": _at(2025, 3, 1, 9, 30, ns=123_456_789),
    "2025-04-15T23:59:59-07:00": _at(2025, 4, 15, 23, 59, 59, offset=-420),
    "2025-06-30T00:00:00Z": _at(2025, 6, 30),
    "2025-06-30": _at(2025, 6, 30),
    "2024-12-31T22:00:00-02:00": _at(2024, 12, 31, 22, offset=-120),
    "2024-02-29": _at(2024, 2, 29),
    "20250102": _at(2025, 1, 2),
    "2025-01": _at(2025, 1, 1),
    "0001-01-01": _at(1, 1, 1),
    "1600-02-29T12:00:00Z": _at(1600, 2, 29, 12),
    "1677-09-21T00:12:43Z": _at(1677, 9, 21, 0, 12, 43),
    "1969-12-31T23:59:59.5Z": _at(1969, 12, 31, 23, 59, 59, ns=500_000_000),
    "1970-01-01T00:00:00Z": 0,
    "2262-04-11T23:47:17Z": _at(2262, 4, 11, 23, 47, 17),
    "2262-04-12": _at(2262, 4, 12),
    "3000-01-01T00:00:00+05:30": _at(3000, 1, 1, offset=330),
    "9999-12-31": _at(9999, 12, 31),
    "9999-12-31T23:59:59Z": _at(9999, 12, 31, 23, 59, 59),
}
GOOD_ORDER = sorted(GOOD_TIMES, key=lambda t: GOOD_TIMES[t])
BAD_TIMES = (
    "not a date", "31/12/2024", "2024-13-01", "2024-02-30", "2024-01-01T25:00:00",
    "2024-01-01T10:00:00+25:00", "today", "now", "10000-01-01", "0000-01-01", "-0001-01-01",
    "+2024-01-01", "NaT", "nan", "inf", "9999-12-31T23:59:59-02:00", "２０２５-01-01",
)  # fmt: skip
NS_RANGE = (pd.Timestamp.min.value, pd.Timestamp.max.value)

# -- pools of messy values ----------------------------------------------------------------------

ID_STYLES = (
    "L{}", "{}", "🙂{}", "אבג-{}", "\u200f{}\u200e", "e\u0301{}", "{}\u200b", "Zoë-{}", "€{}",
    "a,b;{}", "x\n{}", 'q"{}"', "\u3000{}", "lead {}\u2028", "\t{}\t", "{}\r\nz",
)  # fmt: skip
PADS = ("", "", " ", "  ", "\t", " \u00a0")
OUTCOMES_OK = (
    "won", "lost", "", "  ", "Won ", "CLOSED  WON", "1", "0", "open", "nan", "Disqualified",
)  # fmt: skip
OUTCOMES_BAD = ("maybe", "wonn", "🙂", "2")
SOURCES = ("Paid Search", " paid_search ", "Google Ads", "Referral", "", "N/A", "🙂", "Messe")
INDUSTRIES = ("Software", "software ", "SaaS", "Gesundheitswesen", "", "--", "Ünïcödé")
COUNTRIES = ("DE", "de", "Deutschland", "Österreich", "", "USA", "ישראל")
SIZES = (
    "250", "51-200", "1000+", "", "N/A", "-5", "9" * 400, "1e400", "abc", "1.000", " 10 ", "0",
    "1-" + "9" * 400, "über 500", "nan", "inf",
)  # fmt: skip
TITLES = ("Head of Marketing", "Geschäftsführer", "", "N/A", "🙂", "VP Sales; EMEA", "CTO\nIT")
EMAILS = ("anna@acme.de", "x@gmail.com", "", "not-an-email", "ü@ü.de", "a@b.c")
ACT_TYPES = (
    "page_view", "Pricing Page-View", " pricing_page_view ", "EMAIL_OPEN", "email_sent",
    "email_click", "demo_request", "webinar attended", "meeting", "🙂", "", "   ", "--",
    "Ünïcödé", "a,b", "line\nbreak", "trial_signup",
)  # fmt: skip
VALUES = (
    "30", "", " ", "nan", "NaN", "inf", "-inf", "Infinity", "1e308", "1e308", "-1e308", "1e400",
    "9" * 40, "-5", "abc", "1,5", "0x1A", "12 ", "١٢", "1_000", "1.7976931348623157e308",
)  # fmt: skip
EXTREME_VALUES = ("1e308", "1.7976931348623157e308", "-1e308", "30", "", "inf", "nan", "-5")
NUMBERS = ("1e308", "-1e308", "nan", "inf", "-inf", "12", "-3.5", "9" * 40, "", "  ", "1,5", "0")
TEXTS = (
    "hello, world",
    'say "hi"',
    "multi\nline",
    "tab\tsep",
    "semi;colon",
    "🙂",
    "",
    "   ",
    "Zoë",
)
CATEGORIES = ("a", "B", " b ", "", "🙂", "ü")
DATES = (*GOOD_TIMES, *BAD_TIMES, "")
EXTRA_COLUMNS: dict[str, tuple[str, ...]] = {
    "notes": TEXTS,
    "Company, Inc.": NUMBERS,
    "score;raw": NUMBERS,
    "TotalVisits": NUMBERS,
    "signup date": DATES,
    "émoji 🙂": CATEGORIES,
    "tab\tcol": CATEGORIES,
    "": CATEGORIES,
}
LEAD_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    schema.LEAD_SOURCE: SOURCES,
    schema.INDUSTRY: INDUSTRIES,
    schema.COUNTRY: COUNTRIES,
    schema.COMPANY_SIZE: SIZES,
    schema.JOB_TITLE: TITLES,
    schema.EMAIL: EMAILS,
}
AS_OF = ("2025-06-30", "2025-03-01T09:30:00Z", "1990-01-01", "9999-06-01", "0001-06-01")
KNOWN_REASONS = {
    "lead_id not found in leads",
    "empty activity_type",
    "occurred before the lead's created_at",
    "exact duplicate of an earlier row",
}
COMPANY_SIZE_FEATURE = COMPANY_SIZE_DEF.name
LOW_MINIMUMS = {"min_activity_type_count": 1, "min_category_count": 1, "min_value_share": 0.1}


def one_in(n: int) -> st.SearchStrategy[bool]:
    # Not 0: Hypothesis draws small integers far more often than 1 in n.
    return st.integers(0, n - 1).map(lambda x: x == n // 2)


# -- the generated case -------------------------------------------------------------------------


@dataclass
class Table:
    """A table as written: header names and text cells (row by row)."""

    names: list[str]
    rows: list[list[str]]
    # how it is written
    encoding: str = "utf-8"
    delimiter: str = ","
    newline: str = "\n"
    quote_all: bool = False
    empty_file: bool = False
    trailing_delimiter: bool = False  # every data row ends with one more (empty) field
    short_rows: frozenset[int] = frozenset()  # rows written without their last field
    parquet_types: dict[str, str] = field(default_factory=dict)  # column -> typing
    parquet_parts: int = 1


@dataclass
class Case:
    fmt: str  # csv | parquet
    leads: Table
    activities: Table | None
    as_of: str
    low_minimums: bool


@st.composite
def lead_table(draw: st.DrawFn, fmt: str) -> tuple[Table, list[str]]:
    """Leads, and the (unpadded) ids activities may refer to."""
    n = 0 if draw(one_in(20)) else draw(st.integers(1, 7))
    numeric_ids = draw(one_in(4))
    styles = [draw(st.sampled_from(ID_STYLES)) for _ in range(n)]
    base = draw(st.sampled_from((0, 10**12)))
    cores = [str(base + i) if numeric_ids else styles[i].format(i) for i in range(n)]
    ids = [draw(st.sampled_from(PADS)) + c + draw(st.sampled_from(PADS)) for c in cores]
    if n and draw(one_in(15)):  # an empty or whitespace-only id
        ids[draw(st.integers(0, n - 1))] = draw(st.sampled_from(("", "   ", "\t")))
    if n > 1 and draw(one_in(15)):  # a duplicated lead id (the same row, or padded)
        i, j = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        if i != j:
            ids[j] = draw(st.sampled_from(PADS)) + ids[i].strip() + " "
    columns: dict[str, list[str]] = {schema.LEAD_ID: ids}
    if draw(st.integers(0, 5)) > 0:
        created_at = [draw(st.sampled_from((*GOOD_ORDER, "", "  "))) for _ in range(n)]
        columns[schema.CREATED_AT] = created_at
    if draw(st.integers(0, 5)) > 0:
        columns[schema.OUTCOME] = [draw(st.sampled_from(OUTCOMES_OK)) for _ in range(n)]
    if draw(st.integers(0, 3)) > 0:
        created = columns.get(schema.CREATED_AT, [""] * n)
        closed = []
        for c in created:
            low = GOOD_ORDER.index(c) if c in GOOD_TIMES else 0
            pick = draw(st.sampled_from((*GOOD_ORDER[low:], "")))
            closed.append(pick)
        columns[schema.CLOSED_AT] = closed
    for name, pool in LEAD_ATTRIBUTES.items():
        if draw(st.integers(0, 3)) > 0:
            columns[name] = [draw(st.sampled_from(pool)) for _ in range(n)]
    for name in draw(st.lists(st.sampled_from(sorted(EXTRA_COLUMNS)), max_size=3, unique=True)):
        if fmt == "parquet" and name == "":
            continue
        columns[name] = [draw(st.sampled_from(EXTRA_COLUMNS[name])) for _ in range(n)]
    # hostile defects, each now and then
    if n and draw(one_in(15)):
        column = draw(st.sampled_from((schema.CREATED_AT, schema.CLOSED_AT)))
        if column in columns:
            columns[column][draw(st.integers(0, n - 1))] = draw(st.sampled_from(BAD_TIMES))
    if n and schema.OUTCOME in columns and draw(one_in(15)):
        columns[schema.OUTCOME][draw(st.integers(0, n - 1))] = draw(st.sampled_from(OUTCOMES_BAD))
    if n and schema.CLOSED_AT in columns and schema.CREATED_AT in columns and draw(one_in(15)):
        i = draw(st.integers(0, n - 1))
        columns[schema.CREATED_AT][i], columns[schema.CLOSED_AT][i] = "2025-06-30", "2025-03-01"
    if n and draw(one_in(15)):  # exact duplicate rows (so duplicated lead ids)
        for i in draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=2)):
            for values in columns.values():
                values.append(values[i])
    if draw(one_in(20)):  # the id column is missing or misnamed
        ids_column = columns.pop(schema.LEAD_ID)
        if draw(st.booleans()):
            columns["Lead ID"] = ids_column
    return draw(finish_table(columns, fmt)), cores


@st.composite
def activity_table(draw: st.DrawFn, fmt: str, cores: list[str]) -> Table:
    n = 0 if draw(one_in(10)) else draw(st.integers(1, 10))
    numeric = bool(cores) and all(c.isdigit() for c in cores)
    ids = []
    for k in range(n):
        kind = draw(st.integers(0, 5))
        if cores and kind < 4:
            core = draw(st.sampled_from(cores))
            ids.append(draw(st.sampled_from(PADS)) + core + draw(st.sampled_from(PADS)))
        elif kind == 4 or not cores:
            unknown = (str(10**9 + k), "") if numeric else ("ghost", "", " ", "🙂")
            ids.append(draw(st.sampled_from(unknown)))
        else:
            core = draw(st.sampled_from(cores))
            ids.append(core + "\u200b" if not numeric else str(10**9 + k))
    columns: dict[str, list[str]] = {
        schema.LEAD_ID: ids,
        schema.OCCURRED_AT: [draw(st.sampled_from(GOOD_ORDER)) for _ in range(n)],
        schema.ACTIVITY_TYPE: [draw(st.sampled_from(ACT_TYPES)) for _ in range(n)],
    }
    if draw(st.integers(0, 3)) > 0:
        columns[schema.VALUE] = [draw(st.sampled_from(VALUES)) for _ in range(n)]
    if draw(one_in(3)):
        columns["campaign"] = [draw(st.sampled_from(TEXTS)) for _ in range(n)]
    if n and draw(one_in(15)):
        columns[schema.OCCURRED_AT][draw(st.integers(0, n - 1))] = draw(
            st.sampled_from((*BAD_TIMES, "", "   "))
        )
    if n and draw(one_in(3)):  # exact duplicate rows
        for i in draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3)):
            for values in columns.values():
                values.append(values[i])
    if draw(one_in(20)):
        columns.pop(draw(st.sampled_from(schema.ACTIVITY_REQUIRED)))
    return draw(finish_table(columns, fmt))


@st.composite
def finish_table(draw: st.DrawFn, columns: dict[str, list[str]], fmt: str) -> Table:
    """Column order, header spelling and how the file is written."""
    names = draw(st.permutations(list(columns)))
    n = len(next(iter(columns.values()))) if columns else 0
    rows = [[columns[name][i] for name in names] for i in range(n)]
    table = Table(names=list(names), rows=rows)
    if fmt == "csv":
        table.names = [draw(st.sampled_from(("", "", " "))) + name for name in names]
        if names and draw(one_in(30)):  # a column named twice
            twice = draw(st.sampled_from(names))
            table.names.append(draw(st.sampled_from(("", " "))) + twice)
            for row, source in zip(table.rows, range(n), strict=True):
                row.append(columns[twice][source])
        table.encoding = draw(st.sampled_from(("utf-8", "utf-8-sig", "latin-1", "cp1252")))
        table.delimiter = draw(st.sampled_from((",", ";", "\t")))
        table.newline = draw(st.sampled_from(("\n", "\r\n")))
        table.quote_all = draw(one_in(4))
        table.empty_file = draw(one_in(40))
        table.trailing_delimiter = bool(n) and draw(one_in(30))
        if n and len(names) > 1 and draw(one_in(8)):
            table.short_rows = frozenset(draw(st.lists(st.integers(0, n - 1), max_size=2)))
    else:
        typings = {}
        for name in names:
            typings[name] = draw(st.sampled_from(parquet_typings(name, columns[name])))
        table.parquet_types = typings
        table.empty_file = draw(one_in(40))
        table.parquet_parts = draw(st.sampled_from((1, 1, 2)))
    return table


def parquet_typings(name: str, cells: list[str]) -> tuple[str, ...]:
    """How a column may be stored in Parquet with the same meaning (plus all-null)."""
    options = ["string", "string-null", "dictionary"]
    present = [c.strip() for c in cells if c.strip()]
    if name in (schema.CREATED_AT, schema.CLOSED_AT, schema.OCCURRED_AT, "signup date"):
        instants = [GOOD_TIMES.get(c) for c in present]
        if all(i is not None for i in instants):
            options += ["timestamp[us, UTC]", "timestamp[ms]", "timestamp[s, Europe/Berlin]"]
            options += ["date32"]
            if all(NS_RANGE[0] <= i <= NS_RANGE[1] for i in instants if i is not None):
                options += ["timestamp[ns, America/New_York]", "timestamp[ns]"]
    if present and all(_is_int(c) for c in present):
        if name == schema.LEAD_ID:  # numeric ids, as databases export them
            return ("int64", "float64", "string")
        options += ["int64"]
    if present and all(_is_float(c) for c in present):
        options += ["float64"]
    options += ["null"]
    return tuple(options)


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit() and text.isascii() and abs(int(text)) < 2**62


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.isascii() and "_" not in text


@st.composite
def cases(draw: st.DrawFn, fmt: str) -> Case:
    leads, cores = draw(lead_table(fmt))
    activities = draw(activity_table(fmt, cores)) if draw(st.integers(0, 4)) > 0 else None
    return Case(
        fmt=fmt,
        leads=leads,
        activities=activities,
        as_of=draw(st.sampled_from(AS_OF)),
        low_minimums=draw(st.booleans()),
    )


# -- writing, and what the reader must see --------------------------------------------------------


@dataclass
class Seen:
    """A written table as the package must see it."""

    label: str
    path: Path
    columns: dict[str, list[object]]  # str (as decoded), int, float, ("T", ns) or None
    n_rows: int
    read_problem: list[tuple[str | None, str, tuple[int, ...]]] = field(default_factory=list)
    single_file: bool = True


def write_table(table: Table, path: Path, fmt: str) -> Seen:
    if fmt == "csv":
        return _write_csv(table, path)
    return _write_parquet(table, path)


def _write_csv(table: Table, path: Path) -> Seen:
    out = io.StringIO()
    writer = csv.writer(
        out,
        delimiter=table.delimiter,
        lineterminator=table.newline,
        quoting=csv.QUOTE_ALL if table.quote_all else csv.QUOTE_MINIMAL,
    )
    writer.writerow(table.names)
    for i, row in enumerate(table.rows):
        cells = row[:-1] if i in table.short_rows else list(row)
        if table.trailing_delimiter:
            cells.append("")
        writer.writerow(cells)
    text = out.getvalue()
    try:
        data = text.encode(table.encoding)
        encoding = table.encoding
    except UnicodeEncodeError:  # emoji in a Latin-1 file: the export would be UTF-8
        data, encoding = text.encode("utf-8"), "utf-8"
    try:
        data.decode("utf-8")
        seen_as = "utf-8"
    except UnicodeDecodeError:
        seen_as = "latin-1"
    path.write_bytes(b"" if table.empty_file else data)

    def seen(cell: str) -> str:
        return cell.encode(encoding.removesuffix("-sig")).decode(seen_as)

    names = [seen(n).strip() for n in table.names]
    columns: dict[str, list[object]] = {}
    for j, name in enumerate(names):
        values: list[object] = []
        for i, row in enumerate(table.rows):
            short = i in table.short_rows and j == len(names) - 1
            values.append(None if short else seen(row[j]))
        columns.setdefault(name, values)
    result = Seen(str(path), path, columns, len(table.rows))
    if table.empty_file:
        result.read_problem.append((None, "the file is empty", ()))
    elif table.trailing_delimiter:
        result.read_problem.append((None, "more fields than the header", (1,)))
        result.read_problem.append((None, "cannot be parsed as CSV", ()))
    counts = Counter(n for n in names if n)
    for name, k in counts.items():
        if k > 1:
            result.read_problem.append((name, "appears more than once in the header", ()))
    return result


def _arrow_column(cells: list[str], typing: str) -> tuple[pa.Array, list[object]]:
    """The Arrow array for a typing, and the values the reader must see."""
    present = [c if c.strip() else None for c in cells]
    if typing == "string":
        return pa.array(cells, pa.string()), list(cells)
    if typing == "string-null":
        return pa.array(present, pa.string()), list(present)
    if typing == "dictionary":
        return pa.array(cells, pa.string()).dictionary_encode(), list(cells)
    if typing == "null":
        return pa.nulls(len(cells)), [None] * len(cells)
    if typing == "int64":
        ints = [int(c) if c is not None else None for c in present]
        return pa.array(ints, pa.int64()), list(ints)
    if typing == "float64":
        floats = [float(c) if c is not None else None for c in present]
        return pa.array(floats, pa.float64()), list(floats)
    if typing == "date32":
        days = [GOOD_TIMES[c.strip()] // (86_400 * 10**9) if c else None for c in present]
        seen = [("T", d * 86_400 * 10**9) if d is not None else None for d in days]
        return pa.array(days, pa.date32()), seen
    unit, _, tz = typing.removeprefix("timestamp[").removesuffix("]").partition(", ")
    scale = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[unit]
    stored = [GOOD_TIMES[c.strip()] // scale if c else None for c in present]
    seen = [("T", v * scale) if v is not None else None for v in stored]
    return pa.array(stored, pa.timestamp(unit, tz=tz or None)), seen


def _write_parquet(table: Table, path: Path) -> Seen:
    arrays, columns = [], {}
    for j, name in enumerate(table.names):
        cells = [row[j] for row in table.rows]
        array, seen = _arrow_column(cells, table.parquet_types[name])
        arrays.append(array)
        columns[name] = seen
    arrow = pa.Table.from_arrays(arrays, names=list(table.names))
    n = len(table.rows)
    result = Seen(str(path), path, columns, n)
    if table.empty_file:
        path.write_bytes(b"")
        result.read_problem.append((None, "the file is empty", ()))
    elif table.parquet_parts > 1:
        path.mkdir()
        half = n // 2
        pq.write_table(arrow.slice(0, half), path / "part-0.parquet")
        pq.write_table(arrow.slice(half), path / "part-1.parquet")
        result.single_file = False
    else:
        pq.write_table(arrow, path)
    return result


# -- the oracle -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    label: str
    column: str | None
    problem: str
    rows: tuple[int, ...] = ()


def text_of(value: object) -> str:
    """A cell as stripped text, the way the reader reads ids and outcomes."""
    if value is None:
        return ""
    if isinstance(value, tuple):
        raise AssertionError(f"a timestamp where text was expected: {value}")
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return str(value).strip()


def time_of(value: object) -> int | str | None:
    """Nanoseconds, 'bad' or None (missing)."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return int(value[1])
    text = str(value).strip()
    if not text:
        return None
    if text in GOOD_TIMES:
        return GOOD_TIMES[text] // 1000 * 1000  # text is read to the microsecond
    assert text in BAD_TIMES, f"the generator wrote an unknown timestamp {text!r}"
    return "bad"


def outcome_ok(value: object) -> bool:
    if value is None or isinstance(value, int | float):
        return True
    text = " ".join(str(value).strip().lower().split())
    return text in {" ".join(o.strip().lower().split()) for o in OUTCOMES_OK}


def rows_where(flags: list[bool]) -> tuple[int, ...]:
    return tuple(i + 1 for i, flag in enumerate(flags) if flag)


def lead_problems(leads: Seen) -> list[Problem]:
    if leads.read_problem:
        return [Problem(leads.label, c, p, r) for c, p, r in leads.read_problem]
    problems = []
    cols = leads.columns
    if schema.LEAD_ID not in cols:
        problems.append(Problem(leads.label, schema.LEAD_ID, "required column is missing"))
    if leads.n_rows == 0:
        problems.append(Problem(leads.label, None, "has a header but no rows"))
    if schema.LEAD_ID in cols:
        ids = [text_of(v) for v in cols[schema.LEAD_ID]]
        empty = [i == "" for i in ids]
        if any(empty):
            problems.append(
                Problem(leads.label, schema.LEAD_ID, "empty lead id", rows_where(empty))
            )
        counts = Counter(ids)
        dup = [counts[i] > 1 for i in ids]
        if any(dup):
            problems.append(
                Problem(leads.label, schema.LEAD_ID, "duplicate lead id", rows_where(dup))
            )
    times: dict[str, list[int | str | None]] = {}
    for column in (schema.CREATED_AT, schema.CLOSED_AT):
        if column in cols:
            times[column] = [time_of(v) for v in cols[column]]
            bad = [t == "bad" for t in times[column]]
            if any(bad):
                problems.append(
                    Problem(leads.label, column, "unparsable timestamp", rows_where(bad))
                )
    if schema.OUTCOME in cols:
        bad = [not outcome_ok(v) for v in cols[schema.OUTCOME]]
        if any(bad):
            problems.append(
                Problem(leads.label, schema.OUTCOME, "unknown outcome value", rows_where(bad))
            )
    if len(times) == 2:
        backwards = [
            isinstance(a, int) and isinstance(b, int) and b < a
            for a, b in zip(times[schema.CREATED_AT], times[schema.CLOSED_AT], strict=True)
        ]
        if any(backwards):
            problems.append(
                Problem(
                    leads.label,
                    schema.CLOSED_AT,
                    "closed before it was created",
                    rows_where(backwards),
                )
            )
    return problems


def activity_problems(acts: Seen) -> list[Problem]:
    if acts.read_problem:
        return [Problem(acts.label, c, p, r) for c, p, r in acts.read_problem]
    problems = [
        Problem(acts.label, column, "required column is missing")
        for column in schema.ACTIVITY_REQUIRED
        if column not in acts.columns
    ]
    if schema.OCCURRED_AT in acts.columns:
        times = [time_of(v) for v in acts.columns[schema.OCCURRED_AT]]
        bad = [t == "bad" for t in times]
        missing = [t is None for t in times]
        if any(bad):
            problems.append(
                Problem(acts.label, schema.OCCURRED_AT, "unparsable timestamp", rows_where(bad))
            )
        if any(missing):
            problems.append(
                Problem(acts.label, schema.OCCURRED_AT, "missing timestamp", rows_where(missing))
            )
    return problems


def check_error(exc: InputError, problems: list[Problem], whole: bool) -> str:
    """The error is one of the input's real problems, said clearly."""
    message = str(exc)
    assert message.startswith(exc.source), message
    assert "expected" in message, f"the message does not say what was expected: {message}"
    matches = [
        p
        for p in problems
        if p.label == exc.source and p.column == exc.column and p.problem in message
    ]
    assert matches, f"{message}\n is none of the input's problems: {problems}"
    want = set(matches[0].rows)
    if want:
        assert exc.rows, message
        if whole:
            assert set(exc.rows) == want, (message, sorted(want))
        else:  # a chunk reports the rows it holds
            assert set(exc.rows) <= want, (message, sorted(want))
    return matches[0].problem


def config_for(case: Case) -> Config:
    if case.low_minimums:
        return Config.model_validate({"features": LOW_MINIMUMS})
    return Config()


def write_case(case: Case, folder: Path) -> tuple[Seen, Seen | None]:
    suffix = ".csv" if case.fmt == "csv" else ".parquet"
    leads = write_table(case.leads, folder / f"leads{suffix}", case.fmt)
    acts = (
        write_table(case.activities, folder / f"activities{suffix}", case.fmt)
        if case.activities is not None
        else None
    )
    return leads, acts


def expected_problems(leads: Seen, acts: Seen | None) -> list[Problem]:
    return lead_problems(leads) + (activity_problems(acts) if acts is not None else [])


# -- what a result must satisfy -----------------------------------------------------------------


def check_tables(tables: Tables, leads: Seen, acts: Seen | None) -> None:
    """Row accounting: every lead kept with exactly the id written; every activity kept or
    rejected with a reason; orphans rejected as such."""
    ids = [text_of(v) for v in leads.columns[schema.LEAD_ID]]
    assert tables.leads[schema.LEAD_ID].tolist() == ids
    if acts is None:
        assert tables.activities is None
        return
    assert tables.activities is not None
    rejects = tables.rejects
    assert len(tables.activities) + len(rejects) == acts.n_rows
    assert rejects["row"].is_unique
    assert rejects["row"].between(1, acts.n_rows).all()
    assert (rejects["source"] == acts.label).all()
    assert set(rejects["reason"]) <= KNOWN_REASONS
    known = set(ids)
    orphans = rows_where([text_of(v) not in known for v in acts.columns[schema.LEAD_ID]])
    reported = rejects.loc[rejects["reason"] == "lead_id not found in leads", "row"]
    assert sorted(int(r) for r in reported) == list(orphans)
    kept = tables.activities
    assert kept[schema.LEAD_ID].notna().all()
    assert kept[schema.ACTIVITY_TYPE].notna().all()
    if schema.CREATED_AT in tables.leads.columns and len(kept):
        created = tables.leads.set_index(schema.LEAD_ID)[schema.CREATED_AT]
        lead_created = created.reindex(kept[schema.LEAD_ID].astype(str)).to_numpy()
        early = to_epoch_seconds(kept[schema.OCCURRED_AT]) < to_epoch_seconds(
            pd.Series(lead_created, dtype=tables.leads[schema.CREATED_AT].dtype)
        )
        assert not early.any()
    if schema.VALUE in kept.columns:
        values = kept[schema.VALUE].to_numpy(dtype="float64", na_value=np.nan)
        assert not np.isinf(values).any()


def check_features(features: pd.DataFrame, rows: pd.DataFrame, spec: FeatureSpec) -> None:
    """One row per row asked for; numbers finite or missing; counts never missing."""
    assert len(features) == len(rows)
    assert features.index.equals(rows.index)
    assert list(features.columns) == spec.feature_names
    for d in spec.definitions():
        column = features[d.name]
        if d.kind is Kind.CATEGORY:
            assert column.notna().all(), d.name
            continue
        values = column.to_numpy(dtype="float64")
        assert not np.isinf(values).any(), (d.name, values)
        if d.kind is Kind.COUNT:
            assert not np.isnan(values).any() and (values >= 0).all(), (d.name, values)
        if d.kind is Kind.RATE:
            present = values[~np.isnan(values)]
            assert ((present >= 0) & (present <= 1)).all(), (d.name, values)


@cache
def reference_spec() -> FeatureSpec:
    """A spec learned from a clean export with the same extra column names (as a model
    trained elsewhere would carry): scoring hostile files with it must work too."""
    n = 40
    leads = pd.DataFrame(
        {
            "lead_id": [f"R{i}" for i in range(n)],
            "created_at": [f"2024-01-{1 + i % 28:02d}" for i in range(n)],
            "outcome": [("won", "lost", "")[i % 3] for i in range(n)],
            "closed_at": [f"2024-06-{1 + i % 28:02d}" if i % 3 < 2 else "" for i in range(n)],
            "lead_source": [("Paid Search", "Referral")[i % 2] for i in range(n)],
            "industry": [("Software", "Retail")[i % 2] for i in range(n)],
            "country": [("DE", "AT")[i % 2] for i in range(n)],
            "company_size": [("250", "51-200", "1000+")[i % 3] for i in range(n)],
            "job_title": [("Head of Marketing", "CTO")[i % 2] for i in range(n)],
            "email": [("a@acme.de", "b@gmail.com")[i % 2] for i in range(n)],
            "notes": [("a", "b", "c")[i % 3] for i in range(n)],
            "Company, Inc.": [str(i * 1.5) for i in range(n)],
            "score;raw": [str(-i) for i in range(n)],
            "TotalVisits": [str(i % 7) for i in range(n)],
            "signup date": [f"2023-12-{1 + i % 28:02d}" for i in range(n)],
            "émoji 🙂": [("a", "b")[i % 2] for i in range(n)],
            "tab\tcol": [("x", "y")[i % 2] for i in range(n)],
        }
    )
    types = [t for t in ACT_TYPES if t.strip(" -")]
    activities = pd.DataFrame(
        {
            "lead_id": [f"R{i % n}" for i in range(len(types) * 25)],
            "occurred_at": [f"2024-02-{1 + i % 28:02d}T10:00:00Z" for i in range(len(types) * 25)],
            "activity_type": [types[i % len(types)] for i in range(len(types) * 25)],
            "value": [str(i % 50) for i in range(len(types) * 25)],
        }
    )
    config = Config.model_validate({"features": LOW_MINIMUMS})
    tables = prepare_tables(leads, activities, config)
    return fit_spec(tables.leads, tables.activities, config.features)


def check_feature_pipeline(tables: Tables, settings_: FeatureSettings, as_of_text: str) -> None:
    """Training (spec and training rows) and nightly scoring (open leads, with the data's
    own spec and with a spec learned elsewhere)."""
    spec = fit_spec(tables.leads, tables.activities, settings_)
    leads, activities = tables.leads, tables.activities
    as_of = parse_as_of(as_of_text)
    is_open, created_later = open_leads(leads, as_of)
    assert not (is_open & created_later).any()
    rows = rows_as_of(leads.loc[is_open, schema.LEAD_ID], as_of)
    assert rows[schema.LEAD_ID].is_unique
    check_features(build_features(leads, activities, rows, spec), rows, spec)
    reference = reference_spec()
    check_features(build_features(leads, activities, rows, reference), rows, reference)
    if schema.OUTCOME in leads.columns:
        config = Config()
        training = training_rows(
            leads,
            every_days=config.split.snapshot_every_days,
            max_rows_per_lead=config.split.max_rows_per_lead,
            no_close_date_horizon_days=config.split.no_close_date_horizon_days,
            data_end=data_end(tables),
        )
        closed = leads[leads[schema.OUTCOME].notna()]
        assert set(training[schema.LEAD_ID]) <= set(closed[schema.LEAD_ID])
        check_features(build_features(leads, activities, training, spec), training, spec)


# -- the properties -----------------------------------------------------------------------------


def run_whole(case: Case, prop: str) -> None:
    config = config_for(case)
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        leads, acts = write_case(case, Path(tmp))
        problems = expected_problems(leads, acts)
        try:
            tables = load_tables(leads.path, acts.path if acts else None, config)
        except InputError as exc:
            whole = leads.single_file and (acts is None or acts.single_file)
            ran(prop, f"input error: {check_error(exc, problems, whole)}")
            return
        assert not problems, f"accepted an input with problems: {problems}"
        check_tables(tables, leads, acts)
        check_feature_pipeline(tables, config.features, case.as_of)
        ran(prop, "result")


@settings(HOSTILE, max_examples=300)
@given(case=cases("csv"))
def test_hostile_csv_ends_in_a_result_or_a_clear_error(case: Case) -> None:
    run_whole(case, "csv")


@settings(HOSTILE, max_examples=180)
@given(case=cases("parquet"))
def test_hostile_parquet_ends_in_a_result_or_a_clear_error(case: Case) -> None:
    run_whole(case, "parquet")


@settings(HOSTILE, max_examples=90)
@given(case=st.one_of(cases("csv"), cases("parquet")), chunk_leads=st.sampled_from((1, 2, 3)))
def test_chunked_reading_accounts_for_every_row_like_a_whole_read(
    case: Case, chunk_leads: int
) -> None:
    """The scoring job's path for big inputs: rows bucketed by lead id on disk, each bucket
    validated alone. The same verdict, and every row kept or rejected once."""
    config = config_for(case)
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        leads, acts = write_case(case, Path(tmp))
        problems = expected_problems(leads, acts)
        leads_source = as_source(leads.path)
        acts_source = as_source(acts.path) if acts else None
        kept_leads: list[str] = []
        kept_acts, rejected = 0, []
        try:
            n_buckets = chunks.plan(leads_source, chunk_leads)
            buckets = list(
                chunks.buckets(
                    leads_source, acts_source, config, n_buckets, chunk_leads, Path(tmp) / "w"
                )
            )
            for bucket in buckets:
                tables = prepare_tables(
                    bucket.leads,
                    bucket.activities,
                    config,
                    leads_source.label,
                    acts_source.label if acts_source else "activities",
                    allow_no_leads=n_buckets > 1,
                )
                kept_leads += tables.leads[schema.LEAD_ID].tolist()
                if tables.activities is not None:
                    kept_acts += len(tables.activities)
                    rejected += tables.rejects["row"].astype(int).tolist()
                check_feature_pipeline(tables, config.features, case.as_of)
        except InputError as exc:
            ran("chunked", f"input error: {check_error(exc, problems, whole=False)}")
            return
        assert not problems, f"accepted an input with problems: {problems}"
        ids = [text_of(v) for v in leads.columns[schema.LEAD_ID]]
        assert sorted(kept_leads) == sorted(ids)
        if acts is not None:
            assert kept_acts + len(rejected) == acts.n_rows
            assert len(set(rejected)) == len(rejected)
        ran("chunked", "result")


@settings(HOSTILE, max_examples=150)
@given(
    leads=st.lists(st.sampled_from((*GOOD_ORDER, "")), min_size=1, max_size=3),
    events=st.lists(
        st.tuples(
            st.integers(0, 2),
            st.sampled_from(GOOD_ORDER),
            st.sampled_from(("page_view", "pricing_page_view", "email_sent", "email_open")),
            st.sampled_from(EXTREME_VALUES),
        ),
        max_size=12,
    ),
    as_of=st.sampled_from(AS_OF),
)
def test_activity_features_are_finite_or_missing(
    leads: list[str], events: list[tuple[int, str, str, str]], as_of: str
) -> None:
    """Activity statistics over huge, negative and non-finite values and times from year 1
    to 9999 (in memory, so many more combinations per second than through files)."""
    raw_leads = pd.DataFrame({"lead_id": [f"L{i}" for i in range(len(leads))], "created_at": leads})
    raw_activities = pd.DataFrame(
        {
            "lead_id": [f"L{lead}" for lead, _, _, _ in events],
            "occurred_at": [at for _, at, _, _ in events],
            "activity_type": [kind for _, _, kind, _ in events],
            "value": [value for _, _, _, value in events],
        },
        dtype="str",
    )
    config = Config.model_validate({"features": LOW_MINIMUMS})
    tables = prepare_tables(raw_leads, raw_activities, config)
    assert tables.activities is not None
    assert len(tables.activities) + len(tables.rejects) == len(events)
    check_feature_pipeline(tables, config.features, as_of)
    ran("activity features", "checked")


# Timestamp texts: valid ISO 8601 pieces in any combination, junk, and far years, mixed in a column.
_offsets = st.sampled_from(("", "Z", "+02:00", "-05:30", "+14:00", "-12:00", "+0100"))
_fractions = st.sampled_from(("", ".5", ".123", ".123456", ".123456789"))


@st.composite
def iso_texts(draw: st.DrawFn) -> tuple[str, int | None]:
    """(text, nanoseconds) of a valid ISO 8601 time between years 1 and 9999 (UTC), or
    (junk, None)."""
    if draw(one_in(4)):
        return draw(st.sampled_from(BAD_TIMES)), None
    m = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
    date = f"{m.year:04d}-{m.month:02d}-{m.day:02d}"
    if draw(one_in(3)):
        return date, _at(m.year, m.month, m.day)
    fraction, offset = draw(_fractions), draw(_offsets)
    sep = draw(st.sampled_from("T "))
    text = f"{date}{sep}{m.hour:02d}:{m.minute:02d}:{m.second:02d}{fraction}{offset}"
    minutes = 0
    if offset not in ("", "Z"):
        digits = offset[1:].replace(":", "")
        minutes = (1 if offset[0] == "+" else -1) * (int(digits[:2]) * 60 + int(digits[2:]))
    ns = int((fraction[1:] + "000000000")[:9]) if fraction else 0
    at = _at(m.year, m.month, m.day, m.hour, m.minute, m.second, ns, minutes)
    return text, at


@settings(HOSTILE, max_examples=300)
@given(values=st.lists(iso_texts(), min_size=1, max_size=8))
def test_timestamps_parse_exactly_or_not_at_all(values: list[tuple[str, int | None]]) -> None:
    """Offsets, fractions, far years and junk mixed in one column: each valid value is the
    exact instant (to the microsecond), each invalid one is missing; never an exception."""
    parsed = parse_utc(pd.Series([t for t, _ in values], dtype="str"))
    micros = to_epoch_micros(parsed)
    seconds = to_epoch_seconds(parsed)
    for (text, expected), got, mu, sec in zip(values, parsed, micros, seconds, strict=True):
        if expected is None:
            assert pd.isna(got), (text, got)
            continue
        assert not pd.isna(got), text
        assert mu == expected // 1000, (text, got)
        assert sec == expected // 10**9, (text, got)
    ran("timestamps", "checked")


_number_texts = st.one_of(
    st.sampled_from((*VALUES, *NUMBERS, *SIZES)),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**400), 10**400).map(str),
    st.text(alphabet="0123456789.,-+e ", max_size=12),
    st.integers(0, 10**400).map(lambda n: f"{n}-{n * 7}"),
)


@settings(HOSTILE, max_examples=200)
@given(values=st.lists(_number_texts, min_size=1, max_size=8), typed=st.booleans())
def test_numbers_from_any_text_are_finite_or_missing(values: list[str], typed: bool) -> None:
    """Lead numbers and company sizes (text, or typed as Parquet stores them) are finite or
    missing, whatever the text."""
    series = pd.Series(values, dtype="str")
    if typed:
        series = pd.Series(pd.to_numeric(series, errors="coerce"), dtype="float64")
    for parsed in (parse_numbers(series), parse_company_size(series)[0]):
        assert not np.isinf(parsed.to_numpy(dtype="float64", na_value=np.nan)).any(), values
    sizes = parse_company_size(series)[0].dropna()
    assert (sizes >= 0).all(), values
    ran("numbers", "checked")


# -- the bugs these properties found, pinned ------------------------------------------------------


def write_bytes(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_nanosecond_fractions_do_not_void_far_dates_in_the_same_column() -> None:
    # was: year 1 and 2263 became NaT (pandas parsed the column at nanoseconds): "unparsable"
    parsed = parse_utc(pd.Series(["0001-01-01", "2263-01-01", "2025-03-01T09:30:00.123456789Z"]))
    assert parsed.dt.year.tolist() == [1, 2263, 2025]
    assert to_epoch_micros(parsed)[2] == _at(2025, 3, 1, 9, 30, ns=123_456_000) // 1000


@pytest.mark.parametrize("text", ["today", "now", "0000-01-01", "-0001-01-01", "NaT"])
def test_clock_words_and_years_outside_1_to_9999_are_not_timestamps(text: str) -> None:
    # was: "today" and "now" read as the time of the run; year 0 broke formatting later
    assert parse_utc(pd.Series([text])).isna().all()


def test_rows_with_more_fields_than_the_header_are_refused(tmp_path: Path) -> None:
    # was: pandas took the first field as the row index: every lead id silently replaced
    leads = write_bytes(tmp_path / "l.csv", "lead_id,created_at\nA,2025-01-01,\nB,2025-01-02,\n")
    with pytest.raises(InputError, match=r"more fields than the header .* at data row 1") as err:
        load_tables(leads, None, Config())
    assert str(err.value).startswith(str(leads)) and "expected" in str(err.value)


@pytest.mark.parametrize("header", ["lead_id,created_at, created_at", "lead_id,x,x"])
def test_a_column_named_twice_is_refused(tmp_path: Path, header: str) -> None:
    # was: AttributeError ('DataFrame' object has no attribute 'dtype'), or a silent rename
    leads = write_bytes(tmp_path / "l.csv", f"{header}\nA,2025-01-01,2025-01-02\n")
    with pytest.raises(InputError, match=r"appears more than once in the header \(columns 2, 3\)"):
        load_tables(leads, None, Config())


def test_delimiter_is_found_when_quoted_names_hold_other_delimiters(tmp_path: Path) -> None:
    # was: ',' (two commas in a name vs two semicolons): "required column lead_id is missing"
    text = 'lead_id;"notes, misc, more";created_at\r\nA;"x, y";2025-01-01\r\n'
    tables = load_tables(write_bytes(tmp_path / "l.csv", text, "cp1252"), None, Config())
    assert tables.leads["notes, misc, more"].tolist() == ["x, y"]


def test_single_column_file_keeps_values_holding_a_delimiter(tmp_path: Path) -> None:
    # the header has no delimiter: the one that keeps every row whole is used
    for text, ids in [
        ("lead_id\nA;1\nB;2\nC\n", ["A;1", "B;2", "C"]),
        ("lead_id\nA;1\nB,2\n", ["A;1", "B,2"]),
    ]:
        tables = load_tables(write_bytes(tmp_path / "l.csv", text), None, Config())
        assert tables.leads["lead_id"].tolist() == ids


def test_integer_ids_stored_as_floats_still_match(tmp_path: Path) -> None:
    # was: activities' ids with a gap came back as 1.0, 2.0: every activity "not found"
    pq.write_table(pa.table({"lead_id": pa.array([1, 2], pa.int64())}), tmp_path / "l.parquet")
    activities = pa.table(
        {
            "lead_id": pa.array([1, None], pa.int64()),
            "occurred_at": ["2025-01-01", "2025-01-02"],
            "activity_type": ["page_view", "page_view"],
        }
    )
    pq.write_table(activities, tmp_path / "a.parquet")
    tables = load_tables(tmp_path / "l.parquet", tmp_path / "a.parquet", Config())
    assert tables.activities is not None and len(tables.activities) == 1
    assert tables.rejects["row"].tolist() == [2]


def test_number_columns_never_give_infinite_features() -> None:
    # was: inf from "9" * 400 employees, and from infinite numbers in typed (Parquet) columns
    sizes, bad = parse_company_size(pd.Series(["9" * 400, "1-" + "9" * 400, "250"]))
    assert sizes.isna().tolist() == [True, True, False] and bad.tolist() == [True, True, False]
    typed = parse_numbers(pd.Series([np.inf, -np.inf, 1.5]))
    assert typed.isna().tolist() == [True, True, False]


def test_value_totals_beyond_a_float_are_missing() -> None:
    # was: page_view value total and seconds on site of two values of 1e308: inf
    config = Config.model_validate({"features": LOW_MINIMUMS})
    tables = prepare_tables(
        pd.DataFrame({"lead_id": ["A"], "created_at": ["2025-01-01"]}),
        pd.DataFrame(
            {
                "lead_id": ["A", "A"],
                "occurred_at": ["2025-02-01", "2025-02-02"],
                "activity_type": ["page_view", "page_view"],
                "value": ["1e308", "1e308"],
            }
        ),
        config,
    )
    spec = fit_spec(tables.leads, tables.activities, config.features)
    rows = rows_as_of(tables.leads["lead_id"], parse_as_of("2025-06-30"))
    features = build_features(tables.leads, tables.activities, rows, spec)
    assert features["page_view__value_total"].isna().all()
    check_features(features, rows, spec)


def test_a_chunk_without_leads_rejects_its_activities_as_unknown() -> None:
    # was: IndexError in link_activities (a bucket of a chunked run holding no lead)
    tables = prepare_tables(
        pd.DataFrame({"lead_id": pd.Series(dtype="str"), "created_at": pd.Series(dtype="str")}),
        pd.DataFrame(
            {"lead_id": ["A"], "occurred_at": ["2025-01-01"], "activity_type": ["page_view"]},
            index=[41],
        ),
        Config(),
        allow_no_leads=True,
    )
    assert tables.rejects[["row", "reason"]].values.tolist() == [[42, "lead_id not found in leads"]]


def test_empty_parquet_file_and_table_without_rows(tmp_path: Path) -> None:
    # was: "cannot be read as Parquet (...)" for 0 bytes; no columns at all from chunks()
    (tmp_path / "l.parquet").write_bytes(b"")
    with pytest.raises(InputError, match=r"l\.parquet: the file is empty"):
        load_tables(tmp_path / "l.parquet", None, Config())
    pq.write_table(pa.table({"lead_id": pa.array([], pa.string())}), tmp_path / "m.parquet")
    pieces = list(as_source(tmp_path / "m.parquet").chunks(10))
    assert [list(p.columns) for p in pieces] == [["lead_id"]] and len(pieces[0]) == 0


def test_csv_that_cannot_be_parsed_says_what_was_expected(tmp_path: Path) -> None:
    leads = write_bytes(tmp_path / "l.csv", 'lead_id,created_at\nA,2025-01-01\nB,2025,x,y\n"C\n')
    with pytest.raises(
        InputError,
        match=r"(?s)cannot be parsed as CSV \(.*line 3, saw 4\); expected the same number",
    ):
        load_tables(leads, None, Config())


# Regression tests for bugs the properties found in the feature builder and the chunk spill.


def test_scoring_an_export_without_a_column_the_model_used() -> None:
    tables = prepare_tables(pd.DataFrame({"lead_id": ["A"]}), None, Config())
    spec = reference_spec()
    rows = rows_as_of(tables.leads["lead_id"], parse_as_of("2025-06-30"))
    check_features(build_features(tables.leads, None, rows, spec), rows, spec)


def _leads_and_header_only_activities(folder: Path, fmt: str) -> tuple[Path, Path]:
    leads = pd.DataFrame({"lead_id": ["A", "B", "C"], "created_at": ["2025-01-01"] * 3})
    activities = pd.DataFrame({c: pd.Series(dtype="str") for c in schema.ACTIVITY_REQUIRED})
    if fmt == "csv":
        leads.to_csv(folder / "l.csv", index=False)
        activities.to_csv(folder / "a.csv", index=False)
        return folder / "l.csv", folder / "a.csv"
    leads.to_parquet(folder / "l.parquet")
    activities.to_parquet(folder / "a.parquet")
    return folder / "l.parquet", folder / "a.parquet"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_chunked_scoring_with_activities_without_rows(tmp_path: Path, fmt: str) -> None:
    leads, activities = _leads_and_header_only_activities(tmp_path, fmt)
    list(chunks.buckets(as_source(leads), as_source(activities), Config(), 2, 2, tmp_path))


def test_chunked_scoring_of_parquet_with_time_zones(tmp_path: Path) -> None:
    times = pd.Series(pd.to_datetime(["2025-01-01"] * 3, utc=True))
    pd.DataFrame({"lead_id": ["A", "B", "C"], "created_at": times}).to_parquet(tmp_path / "l.pq")
    list(chunks.buckets(as_source(tmp_path / "l.pq"), None, Config(), 2, 2, tmp_path))


# -- end to end: `leadscore score` on hostile files --------------------------------------------------

EXE = str(Path(sys.executable).with_name("leadscore"))


def score_cli(trained: TrainedStore, leads: Path, activities: Path, out: Path) -> tuple[int, str]:
    result = subprocess.run(
        [EXE, "score", "--as-of", trained.as_of, "--leads", str(leads), "--activities",
         str(activities), "--output", str(out), "-q"],
        capture_output=True,
        text=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": trained.uri},
        timeout=300,
        check=False,
    )  # fmt: skip
    return result.returncode, result.stderr


def _world_sample(trained: TrainedStore, n: int = 40) -> pd.DataFrame:
    return pd.read_csv(trained.leads, dtype=str, keep_default_na=False).head(n)


def _hostile_leads(sample: pd.DataFrame, case: str) -> tuple[bytes, str]:
    """A hostile CSV built from the world's leads, and what the error must say."""
    text = sample.to_csv(index=False)
    if case == "trailing delimiter":
        lines = text.splitlines()
        return ("\n".join([lines[0], *(line + "," for line in lines[1:])]) + "\n").encode(), (
            "more fields than the header"
        )
    if case == "column named twice":
        lines = text.splitlines()
        first = lines[1].split(",")[1]
        body = [lines[0] + ", created_at", *(f"{line},{first}" for line in lines[1:])]
        return ("\n".join(body) + "\n").encode(), "column 'created_at': appears more than once"
    if case == "clock word among far and zoned dates":
        frame = sample.copy()
        frame.loc[0, "created_at"] = "0001-01-01"
        frame.loc[1, "created_at"] = "2025-03-01T09:30:00.123456789Z"
        frame.loc[2, "created_at"] = "2025-03-01T09:30:00-07:00"
        frame.loc[3, "created_at"] = "today"
        return frame.to_csv(index=False, sep=";", lineterminator="\r\n").encode("cp1252"), (
            "column 'created_at': unparsable timestamp at data row 4 (row 1"
        )
    if case == "invisible duplicate id":
        frame = sample.copy()
        frame.loc[5, "lead_id"] = "\u3000" + frame.loc[4, "lead_id"] + " "
        return frame.to_csv(index=False, sep="\t").encode("utf-8-sig"), (
            "duplicate lead id at data row 5, 6"
        )
    assert case == "empty file"
    return b"", "the file is empty"


@pytest.mark.integration
@pytest.mark.parametrize(
    "case",
    [
        "trailing delimiter",
        "column named twice",
        "clock word among far and zoned dates",
        "invisible duplicate id",
        "empty file",
    ],
)
def test_cli_refuses_hostile_leads_with_exit_2_and_no_traceback(
    trained: TrainedStore, tmp_path: Path, case: str
) -> None:
    data, expected = _hostile_leads(_world_sample(trained), case)
    leads = tmp_path / "leads.csv"
    leads.write_bytes(data)
    out = tmp_path / "out" / "scores.csv"
    code, stderr = score_cli(trained, leads, trained.activities, out)
    message = " ".join(stderr.split())
    assert code == 2, stderr
    assert "Traceback" not in stderr
    assert str(leads) in message and expected in message, message
    assert not out.exists() and not out.with_name("scores.rejects.csv").exists()


@pytest.mark.integration
def test_cli_scores_a_messy_but_valid_export_and_accounts_for_every_row(
    trained: TrainedStore, tmp_path: Path
) -> None:
    """cp1252, semicolons, CRLF, a quoted line break, time zones and far dates, orphan and
    early activities: scored, and every activity left out is in the rejects file."""
    sample = _world_sample(trained).assign(outcome="", closed_at="")
    sample.loc[0, "job_title"] = "Geschäftsführer;\nCEO"
    sample.loc[1, "created_at"] = "0001-01-01"
    sample.loc[2, "created_at"] = "2026-01-01T00:00:00.123456789+02:00"
    sample.loc[3, "lead_id"] = "  Zoë-3 "
    leads = tmp_path / "leads.csv"
    leads.write_bytes(sample.to_csv(index=False, sep=";", lineterminator="\r\n").encode("cp1252"))
    activities = pd.DataFrame(
        {
            "lead_id": [sample.loc[0, "lead_id"], "ghost", "Zoë-3", sample.loc[2, "lead_id"]],
            "occurred_at": ["2026-02-01T10:00:00Z", "2026-02-01", "9999-12-31", "2025-12-31"],
            "activity_type": ["Pricing Page-View", "page_view", "demo_request", "page_view"],
            "value": ["1e400", "", "nan", "12"],
        }
    )
    acts = tmp_path / "activities.csv"
    activities.to_csv(acts, index=False)
    out = tmp_path / "scores.csv"
    code, stderr = score_cli(trained, leads, acts, out)
    assert code in (0, 3), stderr  # 3: scored, with a drift alarm on this odd sample
    assert "Traceback" not in stderr
    scores = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert sorted(scores["lead_id"]) == sorted(s.strip() for s in sample["lead_id"])
    rejects = pd.read_csv(tmp_path / "scores.rejects.csv", dtype=str, keep_default_na=False)
    assert sorted(rejects["reason"]) == [
        "lead_id not found in leads",
        "occurred before the lead's created_at",
    ]
