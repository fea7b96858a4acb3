"""Where the contract's tables come from: a CSV file, a Parquet file or folder, or a SQL
database (a table, or a query in a ``.sql`` file), read whole or streamed in chunks.

Every frame handed on keeps each row's position in its source as its index, so a message
about "data row 1,234,567" means the same row whether the table was read whole or in chunks.
Table names are validated and quoted by SQLAlchemy; nothing a user types is pasted into SQL
text (a query file is the user's own SQL, run as written)."""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from leadscore.pipelines.errors import InputError, SourceUnavailable

log = logging.getLogger(__name__)

PARQUET_SUFFIXES = {".parquet", ".pq"}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_BLOCK = 1 << 20
_SAMPLE = 1 << 16  # bytes read to detect the delimiter


class Source(Protocol):
    """A table of the contract, wherever it lives."""

    @property
    def label(self) -> str:
        """How messages name it (a path, or a database with its password hidden)."""
        ...

    def count_rows(self) -> int:
        """The number of data rows (for CSV an upper bound: quoted line breaks count)."""
        ...

    def read(self, order_by: str | None = None) -> pd.DataFrame:
        """The whole table, index = row positions 0..n-1."""
        ...

    def chunks(self, rows: int, order_by: str | None = None) -> Iterator[pd.DataFrame]:
        """The table in pieces of at most ``rows`` rows, index = global row positions."""
        ...

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this input in a run record."""
        ...


# -- files ------------------------------------------------------------------------------


def _records(sample: str, delimiter: str, whole: bool) -> list[list[str]]:
    """The CSV records of a sample (quoted delimiters and line breaks respected); the last
    one is dropped when the sample may have cut it."""
    try:
        records = list(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter))
    except csv.Error:  # pandas will say what is wrong with the file
        return []
    return records if whole else records[:-1] or records[:1]


def _sniff_delimiter(sample: str, whole: bool = True) -> str:
    """The delimiter that splits the header record (quoted names may hold any candidate)
    into the most fields while splitting every sampled row into as many; without such a
    split, the one giving the header the most fields (pandas then names the odd row), and
    for a single column one that keeps every row whole."""
    candidates = (",", ";", "\t", "|")
    parsed = {d: _records(sample, d, whole) for d in candidates}
    widths = {d: len(records[0]) if records else 0 for d, records in parsed.items()}
    consistent = {
        d for d in candidates if all(len(row) == widths[d] for row in parsed[d][1:] if row)
    }
    columns = [d for d in candidates if d in consistent and widths[d] > 1]
    if columns:
        return max(columns, key=lambda d: widths[d])
    return max(candidates, key=lambda d: (widths[d], d in consistent))


def _csv_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) when every byte decodes, else Latin-1; checked in blocks
    so a multi-gigabyte export is never held in memory."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    with path.open("rb") as handle:
        try:
            for block in iter(lambda: handle.read(_BLOCK), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            log.warning("%s is not UTF-8; read as Latin-1", path)
            return "latin-1"
    return "utf-8-sig"


@dataclass(frozen=True)
class FileSource:
    """A CSV file (delimiter and encoding detected, every cell as text) or a Parquet file or
    folder (types as stored)."""

    path: Path

    @property
    def label(self) -> str:
        return str(self.path)

    @property
    def is_parquet(self) -> bool:
        return self.path.is_dir() or self.path.suffix.lower() in PARQUET_SUFFIXES

    def _check(self) -> None:
        if not self.path.exists():
            raise InputError(self.label, "file not found", expected="a CSV or Parquet file")
        if self.path.is_file() and self.path.stat().st_size == 0:
            raise InputError(self.label, "the file is empty", expected="a header row and data rows")

    def _dataset(self) -> ds.Dataset:
        try:
            return ds.dataset(self.path, format="parquet", partitioning="hive")
        except Exception as exc:  # pyarrow raises many kinds
            raise self._not_parquet(exc) from exc

    def _not_parquet(self, exc: Exception) -> InputError:
        return InputError(
            self.label,
            f"cannot be read as Parquet ({exc})",
            expected="a Parquet file, or a folder of Parquet files with one schema",
        )

    def _csv_options(self) -> dict[str, Any]:
        encoding = _csv_encoding(self.path)
        with self.path.open("rb") as handle:
            raw = handle.read(_SAMPLE)
            sample = raw.decode(encoding, errors="replace")
        whole = len(raw) < _SAMPLE
        delimiter = _sniff_delimiter(sample, whole)
        records = _records(sample, delimiter, whole)
        self._check_names([c.strip() for c in records[0]] if records else [])
        return {
            "sep": delimiter,
            "dtype": str,
            "keep_default_na": False,
            "encoding": encoding,
            "skipinitialspace": False,
        }

    def _check_names(self, names: list[str]) -> None:
        """Each column name once (after stripping): pandas would otherwise rename one of two
        equal names, or hand on two columns under one name."""
        seen: dict[str, list[int]] = {}
        for position, name in enumerate(names, start=1):
            if name:
                seen.setdefault(name, []).append(position)
        for name, positions in seen.items():
            if len(positions) > 1:
                raise InputError(
                    self.label,
                    "appears more than once in the header "
                    f"(columns {', '.join(map(str, positions))})",
                    column=name,
                    expected="each column name once; rename or remove the extra column",
                )

    def _csv_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Column names stripped; rows with more fields than the header are an error (pandas
        would silently take the extra leading fields as the row index)."""
        if not isinstance(frame.index, pd.RangeIndex):
            raise InputError(
                self.label,
                f"more fields than the header has column names ({len(frame.columns)})",
                rows=[1],
                expected="as many fields in every row as names in the header (a delimiter at "
                "the end of each row adds an empty field)",
            )
        frame.columns = [str(c).strip() for c in frame.columns]
        return frame

    def count_rows(self) -> int:
        self._check()
        if self.is_parquet:
            return int(self._dataset().count_rows())
        lines, last = 0, b"\n"
        with self.path.open("rb") as handle:
            for block in iter(lambda: handle.read(_BLOCK), b""):
                lines += block.count(b"\n")
                last = block[-1:]
        return max(lines - 1 + (last != b"\n"), 0)

    def read(self, order_by: str | None = None) -> pd.DataFrame:
        self._check()
        if self.is_parquet:
            try:
                frame = self._dataset().to_table().to_pandas()
            except Exception as exc:
                raise self._not_parquet(exc) from exc
            self._check_names([str(c) for c in frame.columns])
            return frame.reset_index(drop=True)
        with self._csv_errors():
            frame = self._csv_frame(pd.read_csv(self.path, **self._csv_options()))
        return frame.reset_index(drop=True)

    def chunks(self, rows: int, order_by: str | None = None) -> Iterator[pd.DataFrame]:
        self._check()
        start = 0
        if self.is_parquet:
            dataset = self._dataset()
            self._check_names(list(dataset.schema.names))
            try:
                for batch in dataset.to_batches(batch_size=rows):
                    if batch.num_rows == 0:
                        continue
                    frame = pa.Table.from_batches([batch], schema=dataset.schema).to_pandas()
                    frame.index = pd.RangeIndex(start, start + len(frame))
                    start += len(frame)
                    yield frame
                if start == 0:  # no rows: one empty piece that still has the columns
                    yield dataset.schema.empty_table().to_pandas()
            except (pa.ArrowException, OSError) as exc:
                raise self._not_parquet(exc) from exc
            return
        with (
            self._csv_errors(),
            pd.read_csv(self.path, chunksize=rows, **self._csv_options()) as reader,
        ):
            for frame in reader:
                frame = self._csv_frame(frame)
                frame.index = pd.RangeIndex(start, start + len(frame))
                start += len(frame)
                yield frame

    @contextlib.contextmanager
    def _csv_errors(self) -> Iterator[None]:
        """pandas' CSV failures as input errors that name the file."""
        try:
            yield
        except pd.errors.EmptyDataError as exc:
            raise InputError(
                self.label, "the file is empty", expected="a header row and data rows"
            ) from exc
        except (pd.errors.ParserError, ValueError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(
                self.label,
                f"cannot be parsed as CSV ({str(exc).strip()})",
                expected="the same number of fields in every row, separated by a comma, "
                "semicolon, tab or pipe; fields holding the delimiter, quotes or line breaks "
                'in double quotes ("")',
            ) from exc

    def fingerprint(self) -> dict[str, Any]:
        digest = hashlib.sha256()
        files = (
            sorted(p for p in self.path.rglob("*") if p.is_file())
            if self.path.is_dir()
            else [self.path]
        )
        for file in files:
            with file.open("rb") as handle:
                for block in iter(lambda: handle.read(_BLOCK), b""):
                    digest.update(block)
        return {"path": str(self.path), "sha256": digest.hexdigest()}


def read_raw(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file/folder, whole, with a fresh 0..n-1 index in file order."""
    return FileSource(path).read()


# -- databases --------------------------------------------------------------------------


def redact(url: str) -> str:
    """A database URL with its password hidden, for messages and run records."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable database URL>"


def split_table_name(text: str, what: str = "table") -> tuple[str | None, str]:
    """``table`` or ``schema.table`` -> (schema, table); letters, digits and underscores only
    (up to 63 each), so a name can never carry SQL."""
    parts = text.strip().split(".")
    if len(parts) > 2 or not all(_IDENTIFIER.match(p) for p in parts):
        raise InputError(
            f"--{what}",
            f"{text!r} is not a valid table name",
            expected="a name like scores or crm.scores (letters, digits, underscores; "
            "not starting with a digit; at most 63 characters each)",
        )
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def engine_for(url: str) -> Any:
    """An SQLAlchemy engine; a missing SQLite file is an input error, never a new database."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InputError(
            "--db", f"not a database URL ({exc})", expected="e.g. postgresql://user@host/db"
        ) from exc
    try:
        return sa.create_engine(parsed, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError) as exc:
        raise InputError(
            "--db", f"no driver for {parsed.drivername} ({exc})", expected="sqlite or postgresql"
        ) from exc


def sqlite_file_missing(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return None if Path(database).exists() else database


def unavailable(url: str, exc: BaseException) -> SourceUnavailable:
    original = getattr(exc, "orig", None) or exc
    detail = str(original).strip().splitlines()[0] if str(original).strip() else repr(original)
    return SourceUnavailable(f"cannot reach the database {redact(url)}: {detail}")


@dataclass(frozen=True)
class SqlSource:
    """A table (``name`` or ``schema.name``) or the result of a query file in a database."""

    url: str
    table: str | None = None
    query_file: Path | None = None

    def __post_init__(self) -> None:
        if (self.table is None) == (self.query_file is None):
            raise ValueError("give a table or a query file")
        if self.table is not None:
            split_table_name(self.table)

    @property
    def label(self) -> str:
        what = f"table {self.table}" if self.table else f"query {self.query_file}"
        return f"{redact(self.url)} {what}"

    def _statement(self, conn: Any, order_by: str | None) -> Any:
        import sqlalchemy as sa
        from sqlalchemy.exc import NoSuchTableError

        if self.query_file is not None:
            if not self.query_file.is_file():
                raise InputError(str(self.query_file), "query file not found")
            text = self.query_file.read_text(encoding="utf-8").strip().rstrip(";").strip()
            if not text:
                raise InputError(str(self.query_file), "the query file is empty")
            return sa.text(text)
        assert self.table is not None
        schema_name, name = split_table_name(self.table)
        try:
            table = sa.Table(name, sa.MetaData(), schema=schema_name, autoload_with=conn)
        except NoSuchTableError as exc:
            raise InputError(
                self.label, "table not found", expected="an existing table (check --db)"
            ) from exc
        statement = sa.select(table)
        if order_by is not None and order_by in table.c:
            statement = statement.order_by(table.c[order_by])
        return statement

    def _connect(self) -> Any:
        from sqlalchemy.exc import DBAPIError

        missing = sqlite_file_missing(self.url)
        if missing is not None:
            raise InputError(self.label, f"database file {missing} not found")
        engine = engine_for(self.url)
        try:
            return engine.connect()
        except DBAPIError as exc:
            raise unavailable(self.url, exc) from exc

    def _query_failed(self, exc: Exception) -> Exception:
        from sqlalchemy.exc import DBAPIError, OperationalError

        lost = isinstance(exc, DBAPIError) and exc.connection_invalidated  # e.g. terminated
        if lost or (isinstance(exc, OperationalError) and self.query_file is None):
            return unavailable(self.url, exc)
        original = getattr(exc, "orig", None) or exc
        return InputError(self.label, f"the query failed: {str(original).strip()}")

    def count_rows(self) -> int:
        import sqlalchemy as sa
        from sqlalchemy.exc import DBAPIError

        with self._connect() as conn:
            statement = self._statement(conn, None)
            inner = (
                statement.columns().subquery("q")
                if isinstance(statement, sa.TextClause)
                else statement.subquery("q")
            )
            try:
                return int(conn.execute(sa.select(sa.func.count()).select_from(inner)).scalar())
            except DBAPIError as exc:
                raise self._query_failed(exc) from exc

    def read(self, order_by: str | None = None) -> pd.DataFrame:
        frames = list(self.chunks(1_000_000, order_by))
        if not frames:
            return self._empty()
        return pd.concat(frames) if len(frames) > 1 else frames[0]

    def _empty(self) -> pd.DataFrame:
        from sqlalchemy.exc import DBAPIError

        with self._connect() as conn:
            try:
                result = conn.execute(self._statement(conn, None))
                return pd.DataFrame(columns=list(result.keys()))
            except DBAPIError as exc:
                raise self._query_failed(exc) from exc

    def chunks(self, rows: int, order_by: str | None = None) -> Iterator[pd.DataFrame]:
        from sqlalchemy.exc import DBAPIError

        start = 0
        with self._connect() as conn:
            streaming = conn.execution_options(stream_results=True, max_row_buffer=rows)
            try:
                statement = self._statement(conn, order_by)
                for frame in pd.read_sql_query(statement, streaming, chunksize=rows):
                    frame.index = pd.RangeIndex(start, start + len(frame))
                    start += len(frame)
                    yield frame
            except DBAPIError as exc:
                raise self._query_failed(exc) from exc
            except pd.errors.DatabaseError as exc:  # pandas wraps an execute that failed
                if not isinstance(exc.__cause__, DBAPIError):
                    raise
                raise self._query_failed(exc.__cause__) from exc

    def fingerprint(self) -> dict[str, Any]:
        return {
            "database": redact(self.url),
            "table": self.table,
            "query_file": str(self.query_file) if self.query_file else None,
        }


def as_source(location: str | Path, db_url: str | None = None) -> Source:
    """``--leads``/``--activities``: a file path, or with ``--db`` a table name or a ``.sql``
    query file."""
    if db_url is None:
        return FileSource(Path(location))
    text = str(location)
    if text.lower().endswith(".sql"):
        return SqlSource(db_url, query_file=Path(text))
    split_table_name(text, "leads/--activities")
    return SqlSource(db_url, table=text)
