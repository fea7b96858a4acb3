"""Where a bench figure was measured (commit, date, machine), and writing a bench's tables
into its block of docs/results.md, so that no figure there is typed by hand."""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def stamp(seconds: float | None = None) -> str:
    """Commit (with "+ working tree" when it has uncommitted changes), date, CPUs, machine and
    how long the measurement took."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    # uncommitted changes to anything but the documents the benches write into
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs")
    dirty = " + working tree" if changed else ""
    took = f", {seconds / 60:.0f} min" if seconds is not None else ""
    return (
        f"commit `{commit}`{dirty}, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs "
        f"({platform.machine()}){took}"
    )


RESULTS = ROOT / "docs" / "results.md"


def write_block(name: str, text: str, path: Path = RESULTS) -> None:
    """Put ``text`` between ``<!-- bench:NAME:start -->`` and ``<!-- bench:NAME:end -->``
    of ``path`` (docs/results.md), replacing what a previous run wrote there."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    content = path.read_text(encoding="utf-8")
    if start not in content or end not in content:
        raise SystemExit(f"{path}: no {start} ... {end} block to write this bench's results into")
    head, rest = content.split(start, 1)
    path.write_text(f"{head}{start}\n{text.strip()}\n{end}{rest.split(end, 1)[1]}", "utf-8")


@contextlib.contextmanager
def published(name: str, write: bool = True) -> Iterator[None]:
    """Everything printed inside goes to the terminal and, unless ``write`` is False, into
    this bench's block of docs/results.md (see ``write_block``)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield
    text = buffer.getvalue()
    sys.stdout.write(text)
    if write:
        write_block(name, text)
        print(f"(written to {RESULTS.relative_to(ROOT)}, block {name})")


def in_fresh_process(script: str, *args: str) -> dict[str, float]:
    """Run a bench script's measurement (``--child ...`` arguments) in a fresh Python
    process, so it shares no memory high-water mark or warm cache with this one; returns
    the JSON object its last output line holds."""
    done = subprocess.run([sys.executable, script, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{script} {' '.join(args)} failed: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))
