"""Crashes (issue 8): a SIGKILL at points spread over whole `train` and `score` runs never
leaves a partial output, a half-registered model or a moved alias, and the next run succeeds.

Each job first runs once to completion with ``-v`` (plain log lines on stderr); the arrival
time of every line and the total duration give the kill points: right after log lines
spread over the run and after each line around registration (`train`), fractions of the
measured duration (5% to 97%), and moments seen on disk (`score`: its MLflow record written
just before publishing, the rejects published before the scores). A kill point follows the
live run's own progress: "right after the line the reference run had printed by then, plus
the time the reference run took from there". The SIGKILL goes to the process group; only a
kill that hits a running process counts ("landed"). After every kill the invariants are
checked, never which phase a kill hit. The two jobs' series run side by side, and the
tallies go to ``test-artifacts/kill-points.json``.

`train` (its own SQLite store): every registered version is READY, loads, and comes from a
FINISHED run; every alias points at such a version; the champion is the one before the kill
or a newer one. `score` (the session's champion) over a CSV file and over a partition of a
Parquet folder, both holding an earlier complete run over half the leads (put back before
every kill): each file is the earlier complete one or the new complete one, byte for byte
(new scores only with new rejects: the rejects are published first; new rejects beside the
old scores only with the journal the next run finishes them from), the folder reads as a
whole, nothing but staging folders, the lock and the journal appear. Then a run without a kill goes
through, leaves no staging behind, and the run records of the killed runs are closed.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from leadscore.pipelines.io import tracking
from leadscore.pipelines.io.targets import STAGING_PREFIX, partition_name
from tests.conftest import TrainedStore

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "leadscore.pipelines.cli"]
ROOT = Path(__file__).resolve().parents[1]
TALLY_FILE = ROOT / "test-artifacts" / "kill-points.json"
MODEL = "lead-conversion"
ALIASES = (tracking.CHAMPION, tracking.CHALLENGER, tracking.PREVIOUS)
TRAIN_LEADS = 500  # one train takes about 10 s with the config below
# No backtest; one LightGBM thread (OpenMP threads spin idle when two jobs share two cores,
# which doubled the cost of a fit).
QUICK = {"backtest": {"folds": 0}, "lightgbm": {"num_threads": 1}}
# The lines around registration, in order: the model is about to be logged, it is being
# registered, a version exists (no alias yet), an alias moved. The wording is MLflow's and
# the job's own: a step whose line the reference run did not print is left out.
REGISTRATION_STEPS = {
    "model about to be logged": r"Validating input example",
    "registering": r"Successfully registered model|already exists",
    "version created": r"Created version",
    "alias moved": r"now the champion|NOT promoted",
}


# -- running and killing the CLI ------------------------------------------------------------


class Job:
    """The CLI in its own process group; stderr lines are timestamped as they arrive."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.args = " ".join(args)
        self.start = time.monotonic()
        self.process = subprocess.Popen(
            [*CLI, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        self.lines: list[tuple[float, str]] = []
        self.seconds = 0.0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append((time.monotonic() - self.start, line.rstrip("\n")))

    @property
    def stderr(self) -> str:
        return "\n".join(text for _, text in self.lines)

    def _kill_group(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def finish(self, timeout: float = 300) -> int:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._kill_group()
            self.process.wait(30)
            raise AssertionError(f"{self.args} ran over {timeout} s:\n{self.stderr}") from None
        self._reader.join(timeout=30)
        self.seconds = time.monotonic() - self.start
        return code

    def kill_at(
        self, point: KillPoint, when: Callable[[], bool] | None = None, timeout: float = 300
    ) -> bool:
        """SIGKILL the process group at ``point`` (``when``: its armed condition); True when
        the kill hit a running process."""
        deadline = self.start + timeout
        while self.process.poll() is None and not point.reached(self, when):
            if time.monotonic() > deadline:
                self._kill_group()
                raise AssertionError(f"kill point {point.label} never reached:\n{self.stderr}")
            time.sleep(0.001)
        end = time.monotonic() + point.delay
        while time.monotonic() < end and self.process.poll() is None:
            if point.cap is not None and point.cap.reached(self, None):
                break  # the run is already past the phase this point was meant for
            time.sleep(0.001)
        self._kill_group()
        return self.finish(timeout) == -signal.SIGKILL


TIMESTAMP = re.compile(r"^\d{4}[-/]\d\d[-/]\d\d \d\d:\d\d:\d\d(,\d+)? ")


def kind(line: str) -> str:
    """What a log line is, without its time: level and logger, or its first two words
    (MLflow prints some lines bare)."""
    return " ".join(TIMESTAMP.sub("", line).split()[:2])


@dataclass(frozen=True)
class KillPoint:
    """Right after the ``nth`` stderr line of a kind or matching a pattern (neither: at the
    start), then ``delay`` seconds later; or when ``arm``'s condition holds. Lines are
    matched by what they are, not counted, so a line only some runs print (the note that
    the runs of killed jobs were closed) does not shift the point."""

    label: str
    kind: str | None = None  # a line of this kind (see ``kind``)
    pattern: str | None = None  # or a line matching this
    nth: int = 1
    delay: float = 0.0
    cap: KillPoint | None = None  # kill no later than this (the reference's next line)
    # Armed just before the run starts, a condition polled every millisecond.
    arm: Callable[[], Callable[[], bool]] | None = None

    def reached(self, job: Job, when: Callable[[], bool] | None) -> bool:
        if when is not None:
            return when()
        if self.kind is not None:
            seen = sum(kind(text) == self.kind for _, text in job.lines)
        elif self.pattern is not None:
            seen = sum(bool(re.search(self.pattern, text)) for _, text in job.lines)
        else:
            return True
        return seen >= self.nth

    def run(self, arguments: list[str], env: dict[str, str], cwd: Path) -> tuple[Job, bool]:
        """Start the job, kill it here; the job and whether the kill landed."""
        when = self.arm() if self.arm is not None else None
        job = Job(arguments, env, cwd)
        return job, job.kill_at(self, when)


@dataclass
class Reference:
    """A complete run's timing: when each stderr line arrived, and the total."""

    times: list[float]
    texts: list[str]
    total: float
    steps: dict[str, str] = field(default_factory=dict)  # lines matched by pattern, not kind

    @classmethod
    def of(cls, job: Job, steps: dict[str, str] | None = None) -> Reference:
        lines = job.lines
        return cls([t for t, _ in lines], [s for _, s in lines], job.seconds, steps or {})

    def after_line(self, k: int, label: str = "", delay: float = 0.0) -> KillPoint:
        """Right after the reference run's ``k``-th line (0: the start), then ``delay``
        seconds later but no later than the next line."""
        cap = self.after_line(k + 1) if delay and k < len(self.texts) else None
        if k == 0:
            return KillPoint(label or "at the start", delay=delay, cap=cap)
        for name, pattern in self.steps.items():  # worded differently from run to run
            if re.search(pattern, self.texts[k - 1]):
                label = label or f"after the line: {name}"
                return KillPoint(label, pattern=pattern, delay=delay, cap=cap)
        what = kind(self.texts[k - 1])
        nth = sum(kind(text) == what for text in self.texts[:k])
        label = label or f"after line {k}/{len(self.texts)} ({what} #{nth})"
        return KillPoint(label, kind=what, nth=nth, delay=delay, cap=cap)

    def at_fraction(self, fraction: float) -> KillPoint:
        """``fraction`` of the reference duration, anchored to the last line printed by then."""
        at = fraction * self.total
        k = bisect.bisect_right(self.times, at)
        anchor = self.times[k - 1] if k else 0.0
        return self.after_line(k, f"{fraction:.0%} of {self.total:.1f} s", at - anchor)

    def lines(self) -> list[str]:
        return [f"{t:.2f} {kind(text)}" for t, text in zip(self.times, self.texts, strict=True)]

    def line_points(self, n: int) -> list[KillPoint]:
        """``n`` points: right after the line of each step that the reference run printed,
        and right after lines spread evenly over the others."""
        marked = {
            name: i + 1
            for name, pattern in self.steps.items()
            for i, text in enumerate(self.texts)
            if re.search(pattern, text)
        }
        others = [k for k in range(1, len(self.times) + 1) if k not in marked.values()]
        picks = np.linspace(0, len(others) - 1, max(n - len(marked), 2)).round().astype(int)
        points = [self.after_line(others[i]) for i in sorted(set(picks))]
        return points + [self.after_line(k) for k in sorted(marked.values())]


@dataclass
class Tally:
    job: str
    tried: int = 0
    landed: int = 0
    reference_seconds: float = 0.0
    reference_lines: list[str] = field(default_factory=list)
    left_behind: dict[str, int] = field(default_factory=dict)
    points: list[dict[str, object]] = field(default_factory=list)

    def add(self, point: KillPoint, landed: bool, seconds: float, **extra: object) -> None:
        self.tried += 1
        self.landed += landed
        self.points.append(
            {"point": point.label, "landed": landed, "seconds": round(seconds, 2), **extra}
        )


def child_env(uri: str, tmp: Path) -> dict[str, str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "TMPDIR": str(tmp)}
    env.pop("MLFLOW_REGISTRY_URI", None)  # MLflow exports the last one it was given
    tmp.mkdir(parents=True, exist_ok=True)
    return env


def left_behind(client: MlflowClient, experiment_id: str, runs: str = "") -> dict[str, int]:
    """Run records by status (``runs``: a filter for this test's own), and the logged models
    a killed run left PENDING."""
    only = f" and {runs}" if runs else ""
    counts = {
        f"runs_{status.lower()}": len(
            client.search_runs([experiment_id], f"attributes.status = '{status}'{only}")
        )
        for status in ("RUNNING", "KILLED", "FINISHED", "FAILED")
    }
    if not runs:  # the whole experiment is this test's
        models = client.search_logged_models([experiment_id])
        counts["logged_models_pending"] = sum(str(m.status).endswith("PENDING") for m in models)
    return counts


# -- train ----------------------------------------------------------------------------------


class Registry:
    """The registry invariants, checked in this process; versions that loaded once are not
    loaded again (a registered version's artifacts never change)."""

    def __init__(self, uri: str) -> None:
        import mlflow

        # This process's MLflow is the train store's (the score lane uses none of it).
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        self.client = MlflowClient(uri, uri)
        self.loaded: set[str] = set()

    def check(self, champion_before: int | None) -> int:
        """Every version READY, loadable, from a FINISHED run; every alias on such a
        version; the champion the one before or a newer one. Returns the champion."""
        versions = {
            str(v.version): v
            for v in self.client.search_model_versions(filter_string=f"name='{MODEL}'")
        }
        for number, version in sorted(versions.items(), key=lambda kv: int(kv[0])):
            assert version.status == "READY", f"v{number} is {version.status}"
            assert version.run_id, f"v{number} names no run"
            run = self.client.get_run(version.run_id)
            assert run.info.status == "FINISHED", (
                f"v{number} is registered for run {version.run_id}, which is {run.info.status}: "
                "a version must only appear for a run that finished"
            )
            if number not in self.loaded:
                tracking.load_model(f"models:/{MODEL}/{number}")
                self.loaded.add(number)
        aliases = self.client.get_registered_model(MODEL).aliases
        assert tracking.CHAMPION in aliases, f"no champion alias: {aliases}"
        for alias, number in aliases.items():
            assert alias in ALIASES, f"unexpected alias {alias}"
            assert str(number) in versions, f"alias {alias} points at missing v{number}"
        champion = tracking.load_model(f"models:/{MODEL}@{tracking.CHAMPION}")
        assert champion.version is not None
        now = int(champion.version)
        if champion_before is not None:
            assert now >= champion_before, f"champion went back from v{champion_before} to v{now}"
        return now

    def left_behind(self) -> dict[str, int]:
        experiment = self.client.get_experiment_by_name("leadscore")
        assert experiment is not None
        return left_behind(self.client, experiment.experiment_id)


def train_lane(folder: Path, stop: threading.Event) -> Tally:
    """Kill `train` at points spread over its run; check the registry after every kill."""
    from leadscore.pipelines.synthetic import generate, write_world

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    leads, activities = folder / "world" / "leads.csv", folder / "world" / "activities.csv"
    write_world(generate(TRAIN_LEADS, seed=5), leads.parent)
    config = folder / "quick.yaml"
    config.write_text(json.dumps(QUICK))  # JSON is YAML
    args = ["train", "--leads", str(leads), "--activities", str(activities),
            "--config", str(config), "-v"]  # fmt: skip
    env = child_env(uri, folder / "tmp")

    registry = Registry(uri)
    registry.client.search_experiments()  # creates the store's tables (seconds, not a run's)
    first = Job(args, env, folder)  # v1, the reference (later runs also judge a champion)
    assert first.finish() == 0, first.stderr
    reference = Reference.of(first, REGISTRATION_STEPS)
    champion = registry.check(None)

    # Right after a few lines spread over the run and after each line around registration;
    # fractions of the run. A kill right after "Created version" leaves a version that no
    # alias points to yet (allowed: it is complete, its run finished).
    points = reference.line_points(7)
    points += [reference.at_fraction(f) for f in (0.05, 0.25, 0.45, 0.65, 0.85, 0.97)]
    tally = Tally("train", reference_seconds=reference.total, reference_lines=reference.lines())
    for point in points:
        if stop.is_set():
            return tally
        job, landed = point.run(args, env, folder)
        champion = registry.check(champion)
        tally.add(point, landed, job.seconds, lines=len(job.lines), champion=champion)

    running = registry.left_behind()["runs_running"]  # left by the kills, for the report
    last = Job(args, env, folder)
    assert last.finish() == 0, last.stderr  # the next run goes through
    registry.check(champion)
    tally.left_behind = {"runs_running_before_the_last_run": running, **registry.left_behind()}
    tally.left_behind["temp_entries_left"] = len(list((folder / "tmp").iterdir()))
    return tally


# -- score ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outputs:
    """A complete run's files: the earlier (half the leads) and the new (all of them)."""

    old_scores: bytes
    old_rejects: bytes
    new_scores: bytes
    new_rejects: bytes


def only_expected_files(folder: Path, expected: set[str]) -> None:
    strays = {
        p.name
        for p in folder.iterdir()
        if p.name not in expected and not p.name.startswith(STAGING_PREFIX)
    }
    assert not strays, f"unexpected files in {folder}: {sorted(strays)}"


def staging_leftovers(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in folder.glob(f"{STAGING_PREFIX}*")]


def check_file_target(folder: Path, outputs: Outputs, n_new: int) -> str:
    """scores.csv and its rejects are each the earlier complete file or the new complete
    one; the scores are published last, so new scores come with new rejects."""
    scores, rejects = folder / "scores.csv", folder / "scores.rejects.csv"
    journal = folder / ".scores.csv.publishing"
    only_expected_files(
        folder, {scores.name, rejects.name, ".scores.csv.lock", journal.name, f"{journal.name}.tmp"}
    )
    now_scores, now_rejects = scores.read_bytes(), rejects.read_bytes()
    assert now_scores in (outputs.old_scores, outputs.new_scores), "scores.csv is partial"
    assert now_rejects in (outputs.old_rejects, outputs.new_rejects), "rejects file is partial"
    frame = pd.read_csv(scores, keep_default_na=False)
    if now_scores == outputs.new_scores:
        assert len(frame) == n_new and frame["lead_id"].is_unique
        assert now_rejects == outputs.new_rejects, "new scores beside the earlier rejects"
        return "new"
    if now_rejects == outputs.old_rejects:
        return "old"
    assert journal.exists(), "new rejects beside old scores, and no journal to finish it"
    return "new rejects, old scores"


@dataclass(frozen=True)
class Partition:
    ids: frozenset[str]
    rejects: int


def read_partition(folder: Path, as_of: pd.Timestamp) -> Partition:
    part = folder / partition_name(as_of) / "scores.parquet"
    rejects = folder / "_rejects" / partition_name(as_of) / "rejects.parquet"
    frame = pd.read_parquet(part)
    assert frame["lead_id"].is_unique
    return Partition(frozenset(frame["lead_id"]), len(pd.read_parquet(rejects)))


def check_folder_target(folder: Path, as_of: pd.Timestamp, old: Partition, new: Partition) -> str:
    """The as-of's partition (and its rejects) is the earlier complete one or the new
    complete one, and the folder reads as a whole."""
    journal = folder / ".leadscore.publishing"
    only_expected_files(
        folder,
        {partition_name(as_of), "_rejects", ".leadscore.lock", journal.name, f"{journal.name}.tmp"},
    )
    assert [p.name for p in (folder / partition_name(as_of)).iterdir()] == ["scores.parquet"]
    assert {p.name for p in (folder / "_rejects").iterdir()} == {partition_name(as_of)}
    assert [p.name for p in (folder / "_rejects" / partition_name(as_of)).iterdir()] == [
        "rejects.parquet"
    ]
    now = read_partition(folder, as_of)
    assert now.ids in (old.ids, new.ids), "the partition is partial"
    assert now.rejects in (old.rejects, new.rejects), "the rejects partition is partial"
    assert len(pd.read_parquet(folder)) == len(now.ids)  # staging is invisible to readers
    if now.ids == new.ids:
        assert now.rejects == new.rejects, "new scores beside the earlier rejects"
        return "new"
    if now.rejects == old.rejects:
        return "old"
    assert journal.exists(), "new rejects beside old scores, and no journal to finish it"
    return "new rejects, old scores"


def run_record(store: Path) -> Callable[[], Callable[[], bool]]:
    """Armed before the run: true once a new run's score record is in the artifact store
    (logged just before the rows are published)."""
    mlruns = store / "mlruns"

    def arm() -> Callable[[], bool]:
        before = set(os.listdir(mlruns))

        def now() -> bool:
            new = set(os.listdir(mlruns)) - before
            return any(
                (mlruns / run / "artifacts" / "score_distribution.json").exists() for run in new
            )

        return now

    return arm


def replaced(path: Path) -> Callable[[], Callable[[], bool]]:
    """Armed before the run: true once ``path`` is another file (renamed over)."""

    def arm() -> Callable[[], bool]:
        inode = path.stat().st_ino

        def now() -> bool:
            try:
                return path.stat().st_ino != inode
            except FileNotFoundError:
                return False

        return now

    return arm


def score_lane(trained: TrainedStore, folder: Path, stop: threading.Event) -> Tally:
    """Kill `score` at points spread over its run, writing a CSV file over an earlier one
    and a partition of a Parquet folder over an earlier one; check them after every kill."""
    as_of = pd.Timestamp(trained.as_of, tz="UTC")
    env = child_env(trained.uri, folder / "tmp")
    half = folder / "half.csv"
    pd.read_csv(trained.leads, dtype=str, keep_default_na=False).iloc[::2].to_csv(half, index=False)

    def args(leads: Path, output: Path, *extra: str) -> list[str]:
        return ["score", "--leads", str(leads), "--activities", str(trained.activities),
                "--as-of", trained.as_of, "--output", str(output), *extra]  # fmt: skip

    def run(arguments: list[str]) -> Job:
        job = Job(arguments, env, folder)
        assert job.finish() == 0, job.stderr
        return job

    # A complete run over all leads: the timing reference and the new files.
    reference_dir = folder / "reference"
    reference = Reference.of(run(args(trained.leads, reference_dir / "scores.csv", "-v")))
    new_frame = pd.read_csv(reference_dir / "scores.csv", dtype=str, keep_default_na=False)
    n_new = len(new_frame)
    # The earlier outputs, over half the leads (so old and new are told apart).
    files, parquet = folder / "files", folder / "parquet"
    run(args(half, files / "scores.csv"))
    run(args(half, parquet))
    outputs = Outputs(
        (files / "scores.csv").read_bytes(),
        (files / "scores.rejects.csv").read_bytes(),
        (reference_dir / "scores.csv").read_bytes(),
        (reference_dir / "scores.rejects.csv").read_bytes(),
    )
    assert outputs.old_scores != outputs.new_scores and outputs.old_rejects != outputs.new_rejects
    old_partition = read_partition(parquet, as_of)
    new_partition = Partition(
        frozenset(new_frame["lead_id"]), len(pd.read_csv(reference_dir / "scores.rejects.csv"))
    )
    assert len(old_partition.ids) < n_new

    spread = [
        *(reference.at_fraction(f) for f in (0.15, 0.45, 0.65)),
        KillPoint("MLflow record written, publish next", arm=run_record(trained.folder)),
        reference.after_line(len(reference.times)),  # the last line: published, not yet exited
    ]
    rejects_file = files / "scores.rejects.csv"
    rejects_partition = parquet / "_rejects" / partition_name(as_of) / "rejects.parquet"
    plan = [
        *(("file", point) for point in spread),
        ("file", reference.at_fraction(0.95)),
        (
            "file",
            KillPoint("publish: rejects replaced, scores not yet", arm=replaced(rejects_file)),
        ),
        *(("folder", point) for point in spread),
        ("folder", reference.at_fraction(0.9)),
        ("folder", KillPoint("publish: rejects replaced", arm=replaced(rejects_partition))),
    ]
    # Before each kill the target holds the earlier run again (so a kill after publishing
    # shows as "new"), put back the way publishing does it: a copy renamed over.
    earlier = {
        "file": [files / "scores.csv", rejects_file],
        "folder": [parquet / partition_name(as_of) / "scores.parquet", rejects_partition],
    }
    kept = {path: path.read_bytes() for paths in earlier.values() for path in paths}

    def restore(target: str) -> None:
        for path in earlier[target]:
            copy = path.with_name(f"{STAGING_PREFIX}restore")
            copy.write_bytes(kept[path])
            os.replace(copy, path)

    tally = Tally("score", reference_seconds=reference.total, reference_lines=reference.lines())
    for target, point in plan:
        output = files / "scores.csv" if target == "file" else parquet
        if stop.is_set():
            return tally
        restore(target)
        job, landed = point.run(args(trained.leads, output, "--force"), env, folder)
        if target == "file":
            state = check_file_target(files, outputs, n_new)
        else:
            state = check_folder_target(parquet, as_of, old_partition, new_partition)
        tally.add(point, landed, job.seconds, target=target, output=state)

    # The next runs go through and leave nothing behind.
    client = MlflowClient(tracking_uri=trained.uri)
    experiment = client.get_experiment_by_name("leadscore-scoring")
    assert experiment is not None
    mine = f"tags.`leadscore.target` LIKE '{folder}%'"  # the store is the session's
    running = left_behind(client, experiment.experiment_id, mine)["runs_running"]
    run(args(trained.leads, files / "scores.csv", "--force"))
    run(args(trained.leads, parquet, "--force"))
    assert check_file_target(files, outputs, n_new) == "new"
    assert check_folder_target(parquet, as_of, old_partition, new_partition) == "new"
    assert not staging_leftovers(files, parquet)
    tally.left_behind = {
        "runs_running_before_the_last_run": running,
        **left_behind(client, experiment.experiment_id, mine),
    }
    temp = list((folder / "tmp").iterdir())  # the runs' TMPDIR
    tally.left_behind["temp_entries_left"] = len(temp)
    tally.left_behind["chunk_folders_left"] = sum(
        p.name.startswith("leadscore-chunks-") for p in temp
    )
    return tally


# -- both at once ---------------------------------------------------------------------------


def test_sigkill_at_points_spread_over_train_and_score_never_leaves_a_partial_result(
    trained: TrainedStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two jobs' kill series run side by side (separate stores and outputs), one per
    core: each run pays seconds of imports, and one series after the other takes twice as
    long. A failure in one series stops the other after its current kill."""
    import mlflow

    # MLflow exports the URIs it is given: both are restored (or removed) afterwards.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained.uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", trained.uri)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    (tmp_path / "train").mkdir()
    (tmp_path / "score").mkdir()
    started = time.monotonic()
    stop = threading.Event()
    with ThreadPoolExecutor(2) as pool:
        lanes = [
            pool.submit(train_lane, tmp_path / "train", stop),
            pool.submit(score_lane, trained, tmp_path / "score", stop),
        ]
        wait(lanes, return_when=FIRST_EXCEPTION)
        stop.set()  # lets a lane that is still going stop early: the other one failed
        try:
            train, score = (lane.result() for lane in lanes)
        finally:
            mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
            mlflow.set_registry_uri(None)  # type: ignore[arg-type]

    landed = train.landed + score.landed
    report = {
        "seconds": round(time.monotonic() - started, 1),
        "tried": train.tried + score.tried,
        "landed": landed,
        **{tally.job: asdict(tally) for tally in (train, score)},
    }
    TALLY_FILE.parent.mkdir(exist_ok=True)
    TALLY_FILE.write_text(json.dumps(report, indent=2))
    assert train.tried >= 12 and score.tried >= 10
    assert landed >= 20, report
    # The next run of each job closed the run records its killed predecessors left open.
    assert train.left_behind["runs_running"] == 0, train.left_behind
    assert score.left_behind["runs_running"] == 0, score.left_behind
