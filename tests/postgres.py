"""A throwaway PostgreSQL cluster for the integration tests: initdb into a temporary folder,
start it on a private Unix socket (no TCP port, nothing shared with the machine), drop it
afterwards. Needs PostgreSQL's server binaries (Debian: ``apt-get install postgresql``;
``.ci/run`` installs them). As root, the server runs as the ``postgres`` system user, since
PostgreSQL refuses to run as root."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PORT = 54329


def server_bin() -> Path:
    """The folder with initdb and pg_ctl: on PATH, from pg_config, or Debian's layout."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if out.returncode == 0 and (Path(out.stdout.strip()) / "pg_ctl").exists():
            return Path(out.stdout.strip())
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if candidates:
        return Path(candidates[-1]).parent
    raise RuntimeError(
        "PostgreSQL server binaries not found (initdb, pg_ctl): install them with "
        "`apt-get install postgresql` (`.ci/run` does this)"
    )


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    pwd.getpwnam("postgres")  # the Debian package creates this user
    return ["runuser", "-u", "postgres", "--", *command]


@contextmanager
def cluster() -> Iterator[str]:
    """Start a cluster; yield an SQLAlchemy URL (psycopg 3) of database ``leadscore``."""
    binaries = server_bin()
    root = Path(tempfile.mkdtemp(prefix="leadscore-pg-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (root, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
    env = {**os.environ, "LC_ALL": "C"}
    try:
        subprocess.run(
            _as_server_user(
                [
                    str(binaries / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ]
            ),
            check=True,
            capture_output=True,
            env=env,
        )
        options = f"-k {sockets} -p {PORT} -c listen_addresses='' -c fsync=off"
        subprocess.run(
            _as_server_user(
                [
                    str(binaries / "pg_ctl"),
                    "-D",
                    str(data),
                    "-o",
                    options,
                    "-l",
                    str(root / "server.log"),
                    "-w",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
            env=env,
        )
        subprocess.run(
            _as_server_user(
                [
                    str(binaries / "createdb"),
                    "-h",
                    str(sockets),
                    "-p",
                    str(PORT),
                    "-U",
                    "postgres",
                    "leadscore",
                ]
            ),
            check=True,
            capture_output=True,
            env=env,
        )
        yield f"postgresql+psycopg://postgres@/leadscore?host={sockets}&port={PORT}"
    finally:
        subprocess.run(
            _as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            env=env,
        )
        shutil.rmtree(root, ignore_errors=True)


def load_csv_tables(url: str, tables: dict[str, Path]) -> None:
    """CSV files into tables of the database (every cell as text, as the CRM exported it)."""
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        for name, path in tables.items():
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            frame.to_sql(name, engine, index=False, if_exists="replace", chunksize=20_000)
    finally:
        engine.dispose()


def load_export(url: str, export: Any, prefix: str) -> str:
    """A trained world's export (``.leads`` and ``.activities`` CSV paths) as the tables
    ``<prefix>_leads`` and ``<prefix>_activities``; returns the URL."""
    load_csv_tables(
        url, {f"{prefix}_leads": export.leads, f"{prefix}_activities": export.activities}
    )
    return url


def table_rows(url: str, table: str) -> Any:
    """A table's rows sorted by every column (empty without the table), for comparisons."""
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(table):
                return pd.DataFrame()
            frame = pd.read_sql_table(table, conn)
    finally:
        engine.dispose()
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)
