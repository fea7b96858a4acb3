"""Faults outside the job (issue 8): the MLflow tracking server stopped mid-run or hanging,
the output's disk filling up, the PostgreSQL connection lost mid-run. Each must end with a
clear one-paragraph message, a documented exit code (1: see the README's "Commands"), no
Python traceback and no corrupt state: the registry's aliases and versions, a previous
output and a table's previous rows and rejects stay as they were, nothing partial appears,
and the next run succeeds.

Everything is real: a real ``mlflow server`` on loopback (killed with its process group),
a real tmpfs mounted over the output folder and filled up, the real PostgreSQL cluster of
``tests/postgres.py`` whose server ends the job's connection (``pg_terminate_backend``).
The jobs under fault are the ``leadscore`` console script in their own processes, frozen
(SIGSTOP) while the fault is injected at a known point of their run; runs that must simply
succeed (before and after a fault) run in this process.

Disk full, the stand-in: mounting a tmpfs needs root (CAP_SYS_ADMIN). Without it, or with
``LEADSCORE_TEST_DISK=standin``, the same tests run with a file-size limit instead: the job
starts unlimited (loading the model copies its files to a temporary folder), and once it is
about to write (its "activities left out" warning, or "chunks of leads" for a chunked run)
the test lowers the running process's ``RLIMIT_FSIZE`` to 2 KiB with ``prlimit`` (SIGXFSZ
is ignored in the job, set before exec), so its next writes fail with EFBIG ("File too
large") where a full disk fails them with ENOSPC. Unlike a full disk, the limit holds for
every file the job writes, wherever it is; the writes that fail are still the same ones.
The package treats ENOSPC, EDQUOT and EFBIG alike: exit code 1, "<reason> while writing
<path>: nothing was written"."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import mlflow
import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from leadscore.pipelines.cli import app
from leadscore.pipelines.io import tracking
from leadscore.pipelines.io.targets import STAGING_PREFIX
from tests.conftest import TrainedStore
from tests.postgres import load_export, table_rows

pytestmark = pytest.mark.integration
runner = CliRunner()
BIN = Path(sys.executable).parent
EXE = str(BIN / "leadscore")
MLFLOW = str(BIN / "mlflow")
MODEL = "lead-conversion"
# A quicker recipe for the trains against the server: no backtest, one booster fit.
QUICK = {
    "backtest": {"folds": 0},
    "lightgbm": {"monotone": "never", "learning_rate": 0.2, "early_stopping_rounds": 10},
}


# -- running the CLI ------------------------------------------------------------------------


@dataclass(frozen=True)
class Finished:
    code: int
    out: str
    err: str
    seconds: float

    @property
    def message(self) -> str:
        """stderr on one line (the error paragraph may be wrapped by the console)."""
        return " ".join(self.err.split())


def job_env(tracking_uri: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, **extra}
    env.pop("MLFLOW_REGISTRY_URI", None)
    return env


def _ignore_sigxfsz() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


class Job:
    """The console script in its own process; its output is read as it comes (pipes, not
    files: the disk stand-in limits the size of every file the job writes)."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [EXE, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
            preexec_fn=_ignore_sigxfsz,
        )
        self._out: list[str] = []
        self._err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in (
                (self.process.stdout, self._out),
                (self.process.stderr, self._err),
            )
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: IO[str] | None, lines: list[str]) -> None:
        assert stream is not None
        for line in stream:
            lines.append(line)

    @property
    def err(self) -> str:
        return "".join(self._err)

    def finish(self, timeout: float = 300) -> Finished:
        try:
            self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            for reader in self._readers:
                reader.join(timeout=30)
        return Finished(
            self.process.returncode,
            "".join(self._out),
            self.err,
            time.monotonic() - self.started,
        )


def run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 300) -> Finished:
    return Job(args, env, cwd).finish(timeout)


def ok(args: list[str]) -> str:
    """A run that must succeed, in this process (quicker; MLFLOW_TRACKING_URI as set)."""
    result = runner.invoke(app, [*args, "-q"])
    assert result.exit_code == 0, (result.output, result.exception)
    return " ".join(result.output.split())


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def interrupt_when(
    job: Job, ready: Callable[[], bool], what: str, fault: Callable[[], None]
) -> None:
    """Once ``ready()`` holds, freeze the job (SIGSTOP), inject the fault, let it go on: the
    fault lands at that point of the run, whatever the machine's speed."""

    def check() -> bool:
        assert job.process.poll() is None, f"the job ended before {what}: {job.err}"
        return ready()

    wait_for(check, what)
    job.process.send_signal(signal.SIGSTOP)
    try:
        fault()
    finally:
        job.process.send_signal(signal.SIGCONT)


def assert_failed_cleanly(result: Finished, code: int, *phrases: str) -> None:
    """The documented exit code, one ``error:`` paragraph saying what happened, no
    traceback."""
    assert result.code == code, (result.code, result.err)
    assert "Traceback" not in result.err, result.err
    errors = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.err
    for phrase in phrases:
        assert phrase in result.message, (phrase, result.err)


# -- 1. the MLflow tracking server stopped mid-run ------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MlflowServer:
    """A real ``mlflow server`` on loopback with a SQLite store and proxied artifacts, in
    its own process group; ``stop`` kills the group (a crash, not a graceful shutdown)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def artifacts(self) -> Path:
        return self.folder / "artifacts"

    def _health(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def start(self) -> None:
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
            env.pop(name, None)
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [MLFLOW, "server", "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", "1",
                 "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
                 "--artifacts-destination", str(self.artifacts)],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.folder,
                start_new_session=True,
            )  # fmt: skip
        process = self.process

        def up() -> bool:
            assert process.poll() is None, (self.folder / "server.log").read_text()[-3000:]
            return self._health()

        wait_for(up, "the MLflow server to answer /health", timeout=240)

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None
        wait_for(lambda: not self._health(), "the MLflow server to go away", timeout=30)

    @property
    def running(self) -> bool:
        return self.process is not None


@dataclass(frozen=True)
class Served:
    server: MlflowServer
    world: Path
    folder: Path
    first_version: str

    def train_args(self) -> list[str]:
        return ["train", "--leads", str(self.world / "leads.csv"),
                "--activities", str(self.world / "activities.csv"),
                "--config", str(self.folder / "quick.yaml")]  # fmt: skip

    def score_args(self, output: Path, *extra: str) -> list[str]:
        return ["score", "--leads", str(self.world / "leads.csv"),
                "--activities", str(self.world / "activities.csv"),
                "--as-of", "2026-06-30", "--output", str(output), *extra]  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A tracking server whose registry holds a champion: the first full, successful train
    (a small generated world, the quick config)."""
    from leadscore.pipelines.synthetic import generate, write_world

    folder = tmp_path_factory.mktemp("mlflow-server")
    write_world(generate(800, seed=11), folder / "world")
    (folder / "quick.yaml").write_text(json.dumps(QUICK))
    server = MlflowServer(folder)
    server.start()
    try:
        first = run([*Served(server, folder / "world", folder, "").train_args(), "-q"],
                    job_env(server.url), folder)  # fmt: skip
        assert first.code == 0, first.err
        assert f"Registered {MODEL} v1 (champion" in " ".join(first.out.split()), first.out
        yield Served(server, folder / "world", folder, "1")
    finally:
        server.stop()


def registry(url: str):  # type: ignore[no-untyped-def]
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=url, registry_uri=url)


@contextlib.contextmanager
def tracking_at(url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process's MLflow pointed at ``url`` as the CLI does it; afterwards MLflow's
    globals are cleared and the variables it sets are restored by ``monkeypatch``."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    for name in ("MLFLOW_REGISTRY_URI", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR",
                 *tracking.HTTP_DEFAULTS):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    tracking.configure_tracking()
    try:
        yield
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]


# The jobs killed mid-run fail at their first request to the dead server; MLflow's retries
# would only delay that (the hanging-server test keeps the package's retry defaults).
NO_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}


def test_tracking_server_killed_during_train_leaves_the_registry_as_it_was(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = served.server
    if not server.running:
        server.start()
    client = registry(server.url)
    assert client.get_model_version_by_alias(MODEL, "champion").version == served.first_version
    versions_before = {mv.version for mv in client.search_model_versions(f"name='{MODEL}'")}
    files_before = {p for p in server.artifacts.rglob("*") if p.is_file()}

    # The second train is stopped once its run has begun uploading the report's artifacts:
    # the run exists on the server, the model is neither logged nor registered yet.
    job = Job([*served.train_args(), "-v"], job_env(server.url, **NO_RETRIES), tmp_path)
    interrupt_when(
        job,
        lambda: any(p.is_file() and p not in files_before for p in server.artifacts.rglob("*")),
        "the second train's first artifact on the server",
        server.stop,
    )
    result = job.finish()
    assert_failed_cleanly(result, 1, f"MLflow at {server.url}")

    server.start()  # the same store again
    client = registry(server.url)
    assert client.get_model_version_by_alias(MODEL, "champion").version == served.first_version
    versions = client.search_model_versions(f"name='{MODEL}'")
    assert {mv.version for mv in versions} >= versions_before
    with tracking_at(server.url, monkeypatch):
        for mv in versions:
            assert mv.status == "READY", mv
            loaded = tracking.load_model(f"models:/{MODEL}/{mv.version}")
            assert loaded.model.spec.feature_names
        assert f"Registered {MODEL} v" in ok(served.train_args())  # and the next train works
    # The killed job's run does not stay RUNNING: the next job closed it.
    running = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string="attributes.status = 'RUNNING'",
    )
    assert not running, [r.info for r in running]


def test_tracking_server_killed_during_score_writes_nothing(served: Served, tmp_path: Path) -> None:
    server = served.server
    if not server.running:
        server.start()
    out = tmp_path / "out" / "scores.csv"

    # Stopped after the model was loaded and the input read, before the run record (the
    # job publishes inside its MLflow run).
    job = Job(served.score_args(out), job_env(server.url, **NO_RETRIES), tmp_path)
    interrupt_when(
        job,
        lambda: "activities left out" in job.err,
        "the scorer to have read its input",
        server.stop,
    )
    result = job.finish()
    assert_failed_cleanly(result, 1, f"cannot record the run in MLflow at {server.url}",
                          "nothing was written")  # fmt: skip
    assert not [p.name for p in out.parent.iterdir() if not p.name.endswith(".lock")]

    # Down from the start: the model cannot be found, nothing is read or written.
    result = run(served.score_args(out), job_env(server.url, **NO_RETRIES), tmp_path)
    assert_failed_cleanly(result, 1, f"cannot reach the model registry at {server.url}")
    assert not out.exists()


@contextlib.contextmanager
def hanging_server() -> Iterator[str]:
    """A loopback TCP listener that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


def test_a_hanging_tracking_server_fails_the_job_in_bounded_time(tmp_path: Path) -> None:
    """The package's HTTP defaults (3 retries, back-off factor 1) with a 3 s request
    timeout: 4 attempts of 3 s and 6 s of back-off. The job looks the model up first, so it
    stops before reading its input."""
    out = tmp_path / "scores.csv"
    leads = tmp_path / "leads.csv"
    leads.write_text("lead_id,created_at\nL1,2026-01-01\n")
    with hanging_server() as url:
        result = run(
            ["score", "--leads", str(leads), "--as-of", "2026-06-30", "--output", str(out)],
            job_env(url, MLFLOW_HTTP_REQUEST_TIMEOUT="3"),
            tmp_path,
            timeout=120,
        )
    assert_failed_cleanly(result, 1, f"cannot reach the model registry at {url}", "timed out")
    assert result.seconds < 60, result.seconds
    assert not out.exists()


# -- 2. the output's disk full --------------------------------------------------------------


def _tmpfs(folder: Path, size: str) -> bool:
    if os.environ.get("LEADSCORE_TEST_DISK") == "standin":
        return False
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
    )
    return mounted.returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[tuple[Path, bool]]:
    """(folder, real): a 256 KiB tmpfs, or a plain folder for the stand-in."""
    folder = tmp_path / "disk"
    real = _tmpfs(folder, "256k")
    folder.mkdir(exist_ok=True)
    try:
        yield folder, real
    finally:
        if real:
            subprocess.run(["umount", "-l", str(folder)], check=True)


def fill(folder: Path, spare: int) -> None:
    """Fill the file system of ``folder`` up to ``spare`` free bytes."""
    stats = os.statvfs(folder)
    free = stats.f_bavail * stats.f_frsize
    with (folder / "filler").open("wb") as handle:
        handle.write(b"\0" * max(0, free - spare))
    stats = os.statvfs(folder)
    assert stats.f_bavail * stats.f_frsize <= spare + 8192


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` but the filler and lock files (empty, kept by design)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "filler" and not p.name.endswith(".lock")
    }


def leftovers(folder: Path) -> list[str]:
    return [
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.name.startswith(STAGING_PREFIX) or p.name.endswith(".tmp")
    ]


@pytest.fixture
def bigger_leads(trained: TrainedStore, tmp_path: Path) -> Path:
    """The trained world's leads, its open leads copied 40 times under new ids (a scores
    CSV of about 1 MB, its staged Parquet about 40 KB), and five leads created after the
    as-of time (rejects that differ from the plain world's)."""
    leads = pd.read_csv(trained.leads, dtype=str, keep_default_na=False)
    opened = leads[leads["outcome"] == ""]
    late = leads.head(5).assign(
        lead_id=lambda f: f["lead_id"] + "-late",
        created_at="2026-07-15T00:00:00Z",
        outcome="",
        closed_at="",
    )
    copies = [opened.assign(lead_id=opened["lead_id"] + f"-{k}") for k in range(40)]
    path = tmp_path / "bigger.csv"
    pd.concat([leads, *copies, late]).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("case", ["csv-file", "parquet-folder", "chunk-folder"])
def test_a_full_disk_keeps_the_previous_output_and_leaves_nothing_behind(
    trained: TrainedStore,
    small_disk: tuple[Path, bool],
    bigger_leads: Path,
    tmp_path: Path,
    case: str,
) -> None:
    """The CSV file fails while publishing (the staged Parquet fits, the CSV does not), the
    Parquet folder while staging, and a chunked run whose chunk folder (scoring.work_dir) is
    on the full disk while splitting its input."""
    disk, real = small_disk
    chunked = case == "chunk-folder"
    target = {"csv-file": disk / "scores.csv", "parquet-folder": disk / "scores"}.get(
        case, tmp_path / "out" / "scores.csv"
    )
    base = ["score", "--as-of", trained.as_of, "--output", str(target), "--activities",
            str(trained.activities)]  # fmt: skip
    if chunked:
        config = tmp_path / "chunked.yaml"
        config.write_text(json.dumps({"scoring": {"chunk_leads": 300, "work_dir": str(disk)}}))
        base += ["--config", str(config)]
    if not chunked:
        ok([*base, "--leads", str(trained.leads)])
    before = snapshot(disk)
    assert chunked or before

    if real:
        fill(disk, 96 * 1024 if case == "csv-file" else 16 * 1024)
    job = Job([*base, "--leads", str(bigger_leads), "--force"], job_env(trained.uri), tmp_path)
    if not real:  # the stand-in: limit the job's file sizes once it is about to write

        def limit_file_size() -> None:
            resource.prlimit(job.process.pid, resource.RLIMIT_FSIZE, (2048, 2048))

        marker = "chunks of leads" if chunked else "activities left out"
        interrupt_when(job, lambda: marker in job.err, "the job to be about to write",
                       limit_file_size)  # fmt: skip
    result = job.finish()
    reason = "no space left on device" if real else "file too large"
    assert_failed_cleanly(result, 1, reason, str(disk), "nothing was written")
    assert snapshot(disk) == before  # the previous output, byte for byte
    assert not leftovers(disk)
    assert not list(disk.glob("leadscore-chunks-*"))
    if chunked:
        assert not target.exists()

    if case == "csv-file":  # room again: the next run goes through
        (disk / "filler").unlink(missing_ok=True)
        ok([*base, "--leads", str(trained.leads), "--force"])
        assert snapshot(disk) == before and not leftovers(disk)


# -- 3. the PostgreSQL connection lost mid-run ----------------------------------------------


@pytest.fixture(scope="module")
def pg_tables(postgres_url: str, trained_world: TrainedStore) -> str:
    return load_export(postgres_url, trained_world, "fault")


def pg_args(url: str, as_of: str, output: str, activities: str) -> list[str]:
    return ["score", "--as-of", as_of, "--db", url, "--leads", "fault_leads",
            "--activities", activities, "--output-db", url, "--output", output]  # fmt: skip


def backend_waiting_on(watcher: sa.Connection, table: str, blocker: int) -> int | None:
    """The pid of the backend (not the blocker's) waiting for a lock on ``table``
    (autocommit: every query sees a fresh pg_stat_activity)."""
    pid = watcher.exec_driver_sql(
        "SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid "
        "WHERE NOT l.granted AND l.relation = %(table)s::regclass AND a.pid <> %(blocker)s",
        {"table": table, "blocker": blocker},
    ).scalar()
    return int(pid) if pid is not None else None


def terminate_while_waiting(url: str, locked: str, mode: str, job_args: list[str],
                            env: dict[str, str], cwd: Path) -> Finished:  # fmt: skip
    """Run the job while another session holds a lock on ``locked``; once the job's backend
    waits for it, the server ends that backend (``pg_terminate_backend``)."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    blocker = sa.create_engine(url).connect()
    blocker.begin()
    blocker.exec_driver_sql(f"LOCK TABLE {locked} IN {mode} MODE")
    blocker_pid = int(blocker.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
    job = Job(job_args, env, cwd)
    try:
        with engine.connect() as watcher:
            victim: list[int] = []

            def waiting() -> bool:
                assert job.process.poll() is None, job.err
                victim[:] = [p for p in [backend_waiting_on(watcher, locked, blocker_pid)] if p]
                return bool(victim)

            wait_for(waiting, f"the job to wait for the lock on {locked}")
            assert watcher.exec_driver_sql(
                "SELECT pg_terminate_backend(%(pid)s)", {"pid": victim[0]}
            ).scalar()
        return job.finish()
    finally:
        if job.process.poll() is None:
            job.process.kill()
        blocker.rollback()
        blocker.close()
        engine.dispose()


def test_postgres_connection_lost_mid_run_keeps_the_table(
    trained: TrainedStore, pg_tables: str, tmp_path: Path
) -> None:
    """The server ends the job's connection while the job waits for a lock held by another
    session, at three points: reading the activities table, named or through a query file,
    and in its publishing transaction (rejects written, the scores table's DELETE waiting).
    The jobs connect with a password (the test cluster trusts local connections and ignores
    it): no message may show it."""
    url = pg_tables
    job_url = url.replace("postgres@", "postgres:s3cret-pw@")
    assert job_url != url
    output = "scores_lost"
    query = tmp_path / "activities.sql"
    query.write_text("SELECT lead_id, occurred_at, activity_type, value FROM fault_activities")
    ok(pg_args(job_url, trained.as_of, output, "fault_activities"))
    before = table_rows(url, output)
    rejects_before = table_rows(url, f"{output}_rejects")

    faults = [  # (what the job reads activities from, the table locked, the lock's mode)
        ("fault_activities", "fault_activities", "ACCESS EXCLUSIVE"),
        (str(query), "fault_activities", "ACCESS EXCLUSIVE"),
        ("fault_activities", output, "SHARE"),
    ]
    for activities, locked, mode in faults:
        args = [*pg_args(job_url, trained.as_of, output, activities), "--force"]
        result = terminate_while_waiting(url, locked, mode, args, job_env(trained.uri), tmp_path)
        assert_failed_cleanly(
            result,
            1,
            "cannot reach the database postgresql+psycopg://postgres:***@/leadscore",
            "terminating connection due to administrator command",
        )
        assert "s3cret-pw" not in result.err + result.out
        pd.testing.assert_frame_equal(table_rows(url, output), before)
        pd.testing.assert_frame_equal(table_rows(url, f"{output}_rejects"), rejects_before)

    ok([*pg_args(job_url, trained.as_of, output, "fault_activities"), "--force"])
    pd.testing.assert_frame_equal(table_rows(url, output), before)
    pd.testing.assert_frame_equal(table_rows(url, f"{output}_rejects"), rejects_before)
