"""Where scores go, and how a run's rows appear there all at once or not at all.

A run first stages its scores and rejects as Parquet on local disk; publishing then makes
them visible in one step:

- a CSV or Parquet **file** holds one run: written beside the target, then renamed over it
  (an existing file is replaced only with ``--force``);
- a Parquet **folder** holds one partition per as-of time (``as_of_<time>/scores.parquet``,
  rejects under ``_rejects/``); a new as-of adds a partition, an existing one is replaced
  only with ``--force``;
- a SQL **table** holds many as-of times; one transaction deletes the as-of's old rows (only
  with ``--force``) and inserts the new ones, so readers see the old rows or the new ones,
  never a mix. Rejects go to ``<table>_rejects`` in the same transaction.

Two runs never write one target at once: files and folders take a lock file beside the
target for the whole run; tables take a lock inside the database for the transaction
(PostgreSQL advisory lock, SQLite's write lock). The second run waits up to the configured
timeout and then stops with a clear message.

A file or folder target's two renames (rejects, then scores) are written first to a journal
beside the target; a run killed between them is finished by the next run on that target,
which also removes the staging folders killed runs left behind."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from leadscore.features import schema
from leadscore.pipelines.errors import InputError, StorageFull, TargetBusy, TargetExists
from leadscore.pipelines.io.sources import (
    engine_for,
    redact,
    split_table_name,
    unavailable,
)

log = logging.getLogger(__name__)

SCORE_SCHEMA = pa.schema(
    [
        pa.field(schema.LEAD_ID, pa.string()),
        pa.field(schema.PROBABILITY, pa.float64()),
        pa.field(schema.TIER, pa.string()),
        pa.field(schema.REASONS, pa.string()),
        pa.field(schema.MODEL_VERSION, pa.string()),
        pa.field(schema.AS_OF, pa.timestamp("us", tz="UTC")),
    ]
)
REJECT_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string()),
        pa.field("row", pa.int64()),
        pa.field(schema.LEAD_ID, pa.string()),
        pa.field("reason", pa.string()),
    ]
)
FILE_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
STAGING_PREFIX = ".leadscore-staging-"
ISO = "%Y-%m-%dT%H:%M:%SZ"
BATCH_ROWS = 100_000


def iso(as_of: pd.Timestamp) -> str:
    return as_of.strftime(ISO)


def to_arrow(frame: pd.DataFrame, schema_: pa.Schema) -> pa.Table:
    """A frame as an Arrow table of exactly this schema (timestamps as UTC microseconds)."""
    arrays = []
    for field_ in schema_:
        column = frame[field_.name]
        if pa.types.is_timestamp(field_.type):
            utc = pd.to_datetime(column, utc=True).dt.tz_convert(None)
            naive = pa.array(utc.to_numpy(dtype="datetime64[us]"), type=pa.timestamp("us"))
            arrays.append(naive.cast(field_.type))
        else:
            arrays.append(
                pa.array(column.to_numpy(dtype=object), type=field_.type, from_pandas=True)
            )
    return pa.Table.from_arrays(arrays, schema=schema_)


NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


@contextlib.contextmanager
def writing(what: str) -> Iterator[None]:
    """A write refused for lack of room (a full disk, a used-up quota, the file-size limit)
    becomes StorageFull naming ``what``; any other error passes unchanged. Only used where
    a failure leaves the previous output as it was."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in NO_ROOM:
            raise
        raise StorageFull(
            f"{os.strerror(exc.errno).lower()} while writing {what}: nothing was written, "
            "a previous output is left as it was. Free some space there and run again"
        ) from exc


class Staged:
    """One run's scores and rejects as Parquet files in a private folder, appended chunk by
    chunk with fixed schemas (so the same rows always give the same bytes)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.scores_path = folder / "scores.parquet"
        self.rejects_path = folder / "rejects.parquet"
        self._what = f"the run's staged output in {folder}"
        with writing(self._what):
            self._scores = pq.ParquetWriter(self.scores_path, SCORE_SCHEMA)
            self._rejects = pq.ParquetWriter(self.rejects_path, REJECT_SCHEMA)
        self.n_scores = 0
        self.n_rejects = 0

    def write(self, scores: pd.DataFrame, rejects: pd.DataFrame) -> None:
        with writing(self._what):
            if len(scores):
                self._scores.write_table(to_arrow(scores, SCORE_SCHEMA))
                self.n_scores += len(scores)
            if len(rejects):
                self._rejects.write_table(to_arrow(rejects, REJECT_SCHEMA))
                self.n_rejects += len(rejects)

    def close(self) -> None:
        with writing(self._what):
            try:
                self._scores.close()
            finally:
                self._rejects.close()

    def batches(self, which: str) -> Iterator[pd.DataFrame]:
        path = self.scores_path if which == "scores" else self.rejects_path
        for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
            yield batch.to_pandas()


class Target(Protocol):
    @property
    def label(self) -> str: ...

    @property
    def rejects_label(self) -> str: ...

    @property
    def staging_prefix(self) -> str: ...

    def staging_parent(self) -> Path | None:
        """Where to stage (the target's own file system, so publishing is a rename); None =
        the system's temporary folder."""
        ...

    def has(self, as_of: pd.Timestamp) -> bool:
        """Whether scores for this as-of time are already there."""
        ...

    def lock(self, timeout: float) -> contextlib.AbstractContextManager[None]:
        """Held for the whole run (files) or a no-op (tables lock in ``publish``)."""
        ...

    def publish(self, staged: Staged, as_of: pd.Timestamp, force: bool, timeout: float) -> None:
        """Make the staged rows visible in one step, replacing the as-of's rows if forced."""
        ...


def refuse(target: Target, as_of: pd.Timestamp) -> TargetExists:
    held = (
        "already exists (a file holds one run; a folder or table keeps one per as-of)"
        if isinstance(target, FileTarget)
        else f"already holds scores as of {iso(as_of)}"
    )
    return TargetExists(f"{target.label} {held}; nothing was written. Pass --force to replace")


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _rename_all(moves: list[tuple[Path, Path]], journal: Path) -> None:
    """Rename complete, synced files into place, recorded first in a journal: a run killed
    between two renames (new rejects beside old scores) is finished by the next run on the
    target, before anything else (``_finish_interrupted``)."""
    pending = journal.with_name(f"{journal.name}.tmp")
    pending.write_text(json.dumps([[str(a), str(b)] for a, b in moves]), encoding="utf-8")
    _fsync(pending)
    os.replace(pending, journal)  # the journal appears whole or not at all
    for ready, final in moves:
        os.replace(ready, final)
    journal.unlink()


def _finish_interrupted(journal: Path) -> None:
    """Complete the renames of a publication a killed run began (roll forward: its files
    were complete and synced before the first rename). Called under the target's lock."""
    journal.with_name(f"{journal.name}.tmp").unlink(missing_ok=True)
    if not journal.exists():
        return
    moves = json.loads(journal.read_text(encoding="utf-8"))
    done = 0
    for ready, final in moves:
        if Path(ready).exists():
            os.replace(ready, final)
            done += 1
    journal.unlink()
    if done:
        log.warning("Finished publishing %s, interrupted by a killed run", moves[-1][1])


def _file_lock(
    path: Path, timeout: float, label: str, staging_prefix: str, journal: Path
) -> contextlib.AbstractContextManager[None]:
    from filelock import FileLock, Timeout

    @contextlib.contextmanager
    def held() -> Iterator[None]:
        lock = FileLock(str(path), timeout=timeout)
        try:
            lock.acquire()
        except Timeout:
            raise TargetBusy(
                f"another leadscore run is writing {label} (lock {path}); waited {timeout:g} s. "
                "Try again when it has finished, or raise scoring.lock_timeout_seconds"
            ) from None
        try:
            _finish_interrupted(journal)
            _remove_stale_staging(path.parent, staging_prefix)
            yield
        finally:
            lock.release()

    return held()


def _remove_stale_staging(folder: Path, prefix: str) -> None:
    """Staging folders of this target left by a run that was killed (only called under the
    target's lock, so no live run owns them)."""
    for stale in folder.glob(f"{prefix}*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
            log.info("Removed %s, left behind by an interrupted run", stale)


def _write_csv(batches: Iterator[pd.DataFrame], columns: list[str], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        header = True
        for frame in batches:
            if schema.AS_OF in frame.columns:
                frame = frame.assign(**{schema.AS_OF: frame[schema.AS_OF].dt.strftime(ISO)})
            frame.to_csv(handle, index=False, header=header, lineterminator="\n")
            header = False
        if header:
            pd.DataFrame(columns=columns).to_csv(handle, index=False, lineterminator="\n")


@dataclass(frozen=True)
class FileTarget:
    """A single CSV or Parquet file holding one run; rejects beside it."""

    path: Path

    @property
    def fmt(self) -> str:
        return FILE_FORMATS[self.path.suffix.lower()]

    @property
    def label(self) -> str:
        return str(self.path)

    @property
    def rejects_path(self) -> Path:
        return self.path.with_name(f"{self.path.stem}.rejects{self.path.suffix}")

    @property
    def rejects_label(self) -> str:
        return str(self.rejects_path)

    @property
    def staging_prefix(self) -> str:
        return f"{STAGING_PREFIX}{self.path.name}-"

    def staging_parent(self) -> Path | None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return self.path.parent

    def has(self, as_of: pd.Timestamp) -> bool:
        return self.path.exists()

    def lock(self, timeout: float) -> contextlib.AbstractContextManager[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return _file_lock(
            self.path.with_name(f".{self.path.name}.lock"),
            timeout,
            self.label,
            self.staging_prefix,
            self.journal,
        )

    @property
    def journal(self) -> Path:
        return self.path.with_name(f".{self.path.name}.publishing")

    def publish(self, staged: Staged, as_of: pd.Timestamp, force: bool, timeout: float) -> None:
        if self.has(as_of) and not force:
            raise refuse(self, as_of)
        steps = (
            ("rejects", staged.rejects_path, REJECT_SCHEMA, self.rejects_path),
            ("scores", staged.scores_path, SCORE_SCHEMA, self.path),
        )
        # Both files are complete before either replaces its predecessor: a write that fails
        # (a full disk) leaves the previous scores and rejects as they were, together.
        moves = []
        with writing(self.label):
            for which, staged_file, columns, final in steps:
                ready = staged_file
                if self.fmt == "csv":
                    ready = staged.folder / f"{which}.csv"
                    _write_csv(staged.batches(which), list(columns.names), ready)
                _fsync(ready)
                moves.append((ready, final))
            _rename_all(moves, self.journal)


def partition_name(as_of: pd.Timestamp) -> str:
    return "as_of_" + as_of.strftime("%Y-%m-%dT%H%M%SZ")


@dataclass(frozen=True)
class FolderTarget:
    """A Parquet folder with one partition per as-of time; readers of the folder
    (``pandas.read_parquet``, Spark, DuckDB) see the contract's columns. Rejects under
    ``_rejects/``, which readers of the folder skip."""

    path: Path

    @property
    def label(self) -> str:
        return str(self.path)

    @property
    def rejects_label(self) -> str:
        return str(self.path / "_rejects")

    def partition(self, as_of: pd.Timestamp) -> Path:
        return self.path / partition_name(as_of) / "scores.parquet"

    @property
    def staging_prefix(self) -> str:
        return STAGING_PREFIX

    def staging_parent(self) -> Path | None:
        self.path.mkdir(parents=True, exist_ok=True)
        return self.path

    def has(self, as_of: pd.Timestamp) -> bool:
        return self.partition(as_of).exists()

    def lock(self, timeout: float) -> contextlib.AbstractContextManager[None]:
        self.path.mkdir(parents=True, exist_ok=True)
        return _file_lock(
            self.path / ".leadscore.lock",
            timeout,
            self.label,
            self.staging_prefix,
            self.path / ".leadscore.publishing",
        )

    def publish(self, staged: Staged, as_of: pd.Timestamp, force: bool, timeout: float) -> None:
        if self.has(as_of) and not force:
            raise refuse(self, as_of)
        rejects = self.path / "_rejects" / partition_name(as_of) / "rejects.parquet"
        scores = self.partition(as_of)
        moves = [(staged.rejects_path, rejects), (staged.scores_path, scores)]
        with writing(self.label):  # folders first: nothing is replaced if one cannot be made
            for ready, final in moves:
                final.parent.mkdir(parents=True, exist_ok=True)
                _fsync(ready)
            _rename_all(moves, self.path / ".leadscore.publishing")


def _table(name: str, schema_name: str | None, metadata: Any, rejects: bool) -> Any:
    import sqlalchemy as sa

    if rejects:
        columns = [
            sa.Column(schema.AS_OF, sa.DateTime(timezone=True), nullable=False),
            sa.Column("source", sa.Text),
            sa.Column("row", sa.BigInteger),
            sa.Column(schema.LEAD_ID, sa.Text),
            sa.Column("reason", sa.Text),
        ]
    else:
        columns = [
            sa.Column(schema.LEAD_ID, sa.Text, nullable=False),
            sa.Column(schema.PROBABILITY, sa.Float(precision=53), nullable=False),
            sa.Column(schema.TIER, sa.Text, nullable=False),
            sa.Column(schema.REASONS, sa.Text),
            sa.Column(schema.MODEL_VERSION, sa.Text, nullable=False),
            sa.Column(schema.AS_OF, sa.DateTime(timezone=True), nullable=False),
        ]
    table = sa.Table(name, metadata, *columns, schema=schema_name)
    sa.Index(f"ix_{name}_as_of"[:63], table.c[schema.AS_OF])
    return table


def _lock_key(label: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory lock on one target table."""
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "big", signed=True)


@dataclass(frozen=True)
class TableTarget:
    """A table in a SQL database (SQLite or PostgreSQL), created on first use."""

    url: str
    table: str

    def __post_init__(self) -> None:
        _, name = split_table_name(self.table, "output")
        if len(name) + len("_rejects") > 63:
            raise InputError(
                "--output", f"table name {name!r} is too long", expected="at most 54 characters"
            )

    @property
    def label(self) -> str:
        return f"{redact(self.url)} table {self.table}"

    @property
    def rejects_label(self) -> str:
        return f"{redact(self.url)} table {self.table}_rejects"

    @property
    def staging_prefix(self) -> str:
        return STAGING_PREFIX

    def staging_parent(self) -> Path | None:
        return None

    def _tables(self) -> tuple[Any, Any, Any]:
        import sqlalchemy as sa

        schema_name, name = split_table_name(self.table, "output")
        metadata = sa.MetaData()
        scores = _table(name, schema_name, metadata, rejects=False)
        rejects = _table(f"{name}_rejects", schema_name, metadata, rejects=True)
        return metadata, scores, rejects

    def _engine(self, timeout: float) -> Any:
        import sqlalchemy as sa
        from sqlalchemy.engine import make_url

        backend = make_url(self.url).get_backend_name()
        if backend == "sqlite":
            # The driver waits this long for SQLite's write lock; we BEGIN ourselves.
            return sa.create_engine(
                self.url, connect_args={"timeout": timeout}, isolation_level="AUTOCOMMIT"
            )
        if backend == "postgresql":
            return sa.create_engine(self.url, connect_args={"application_name": "leadscore-score"})
        return engine_for(self.url)

    def has(self, as_of: pd.Timestamp) -> bool:
        import sqlalchemy as sa
        from sqlalchemy.exc import DBAPIError

        _, scores, _ = self._tables()
        engine = self._engine(60.0)
        try:
            with engine.connect() as conn:
                if not sa.inspect(conn).has_table(scores.name, schema=scores.schema):
                    return False
                self._check_columns(conn, scores)
                found = conn.execute(
                    sa.select(sa.literal(1)).where(scores.c[schema.AS_OF] == as_of).limit(1)
                ).first()
                return found is not None
        except DBAPIError as exc:
            raise unavailable(self.url, exc) from exc
        finally:
            engine.dispose()

    def _check_columns(self, conn: Any, table: Any) -> None:
        import sqlalchemy as sa

        present = {c["name"] for c in sa.inspect(conn).get_columns(table.name, table.schema)}
        missing = [c.name for c in table.columns if c.name not in present]
        if missing:
            raise InputError(
                self.label,
                f"the existing table lacks the columns {missing}",
                expected=f"a table with the columns {[c.name for c in table.columns]} "
                "(or a new table name: leadscore creates it)",
            )

    def lock(self, timeout: float) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def _transaction(self, timeout: float) -> Iterator[Any]:
        """One transaction holding the target's write lock."""
        import sqlalchemy as sa
        from sqlalchemy.exc import OperationalError

        engine = self._engine(timeout)
        backend = engine.dialect.name
        try:
            with engine.connect() as conn:
                if backend == "sqlite":
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                    try:
                        yield conn
                    except BaseException:
                        conn.exec_driver_sql("ROLLBACK")
                        raise
                    conn.exec_driver_sql("COMMIT")
                    return
                with conn.begin():
                    if backend == "postgresql":
                        conn.execute(
                            sa.select(
                                sa.func.set_config("lock_timeout", f"{int(timeout * 1000)}", True)
                            )
                        )
                        conn.execute(
                            sa.select(sa.func.pg_advisory_xact_lock(_lock_key(self.label)))
                        )
                    yield conn
        except OperationalError as exc:
            text = str(getattr(exc, "orig", exc))
            if "lock" in text.lower() and ("timeout" in text.lower() or "locked" in text.lower()):
                raise TargetBusy(
                    f"another leadscore run is writing {self.label}; waited {timeout:g} s. "
                    "Try again when it has finished, or raise scoring.lock_timeout_seconds"
                ) from exc
            raise unavailable(self.url, exc) from exc
        finally:
            engine.dispose()

    def publish(self, staged: Staged, as_of: pd.Timestamp, force: bool, timeout: float) -> None:
        import sqlalchemy as sa

        metadata, scores, rejects = self._tables()
        with self._transaction(timeout) as conn:
            metadata.create_all(conn, checkfirst=True)
            self._check_columns(conn, scores)
            self._check_columns(conn, rejects)
            exists = conn.execute(
                sa.select(sa.literal(1)).where(scores.c[schema.AS_OF] == as_of).limit(1)
            ).first()
            log.debug(
                "%s: write lock held; rows for %s present: %s", self.label, iso(as_of), exists
            )
            if exists is not None and not force:
                raise refuse(self, as_of)
            conn.execute(sa.delete(rejects).where(rejects.c[schema.AS_OF] == as_of))
            for frame in staged.batches("rejects"):
                self._insert(conn, rejects, frame.assign(**{schema.AS_OF: as_of}))
            conn.execute(sa.delete(scores).where(scores.c[schema.AS_OF] == as_of))
            for frame in staged.batches("scores"):
                self._insert(conn, scores, frame)

    def _insert(self, conn: Any, table: Any, frame: pd.DataFrame) -> None:
        frame = frame[[c.name for c in table.columns]]
        if conn.dialect.name == "postgresql":
            _copy_postgres(conn, table, frame)
            return
        records = frame.astype(object).where(frame.notna(), None)
        if schema.AS_OF in records.columns:
            records[schema.AS_OF] = [t.to_pydatetime() for t in frame[schema.AS_OF]]
        conn.execute(table.insert(), records.to_dict("records"))


def _copy_postgres(conn: Any, table: Any, frame: pd.DataFrame) -> None:
    """PostgreSQL's COPY ... FROM STDIN with CSV text, inside the open transaction:
    several times faster than INSERTs. Identifiers are quoted by psycopg."""
    import sqlalchemy as sa
    from psycopg import sql

    raw = conn.connection.dbapi_connection
    target = (
        sql.Identifier(table.schema, table.name) if table.schema else sql.Identifier(table.name)
    )
    text_columns = [c.name for c in table.columns if isinstance(c.type, sa.Text)]
    # Empty text stays an empty string (as in the files and SQLite), not NULL.
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, FORCE_NOT_NULL ({}))").format(
        target,
        sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns),
        sql.SQL(", ").join(sql.Identifier(name) for name in text_columns),
    )
    out = frame.copy()
    if schema.AS_OF in out.columns:
        out[schema.AS_OF] = out[schema.AS_OF].dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    text = out.to_csv(index=False, header=False, lineterminator="\n")
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(text)


def as_target(output: str, output_db: str | None) -> Target:
    """``--output``: a file (``.csv``, ``.parquet``), a folder (no suffix), or with
    ``--output-db`` a table name."""
    if output_db is not None:
        return TableTarget(output_db, output)
    path = Path(output)
    suffix = path.suffix.lower()
    if path.is_dir() or suffix == "":
        return FolderTarget(path)
    if suffix not in FILE_FORMATS:
        raise InputError(
            output,
            "unsupported output format",
            expected=f"a path ending in {sorted(FILE_FORMATS)}, a folder (no suffix: one "
            "Parquet partition per as-of), or a table name with --output-db",
        )
    return FileTarget(path)


def staging_folder(target: Target) -> Path:
    with writing(f"a staging folder for {target.label}"):
        return Path(tempfile.mkdtemp(prefix=target.staging_prefix, dir=target.staging_parent()))


OUTPUT_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def output_format(output: Path) -> str:
    fmt = OUTPUT_FORMATS.get(output.suffix.lower())
    if fmt is None:
        raise InputError(
            str(output),
            "unsupported output format",
            expected=f"a path ending in {sorted(OUTPUT_FORMATS)}",
        )
    return fmt


def write_atomic(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    """Write to a temporary file in the target folder, then rename over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        if fmt == "csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def as_of_column(as_of: pd.Timestamp, n: int, fmt: str) -> pd.Series:
    if fmt == "csv":
        return pd.Series([iso(as_of)] * n, dtype="object")
    return pd.Series([as_of] * n, dtype="datetime64[us, UTC]")
