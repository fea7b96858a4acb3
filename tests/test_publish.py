"""What the next run cleans up after a killed one: a publication interrupted between its two
renames is finished; chunk folders of dead processes (copies of the input) are removed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leadscore.pipelines.io.targets import FileTarget, FolderTarget
from leadscore.pipelines.score import CHUNKS_PREFIX, _remove_orphan_chunks


def staged_pair(folder: Path, prefix: str, text: str) -> tuple[Path, Path]:
    staging = folder / f"{prefix}run"
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "rejects").write_text(f"rejects {text}")
    (staging / "scores").write_text(f"scores {text}")
    return staging / "rejects", staging / "scores"


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_publication_killed_between_its_renames_is_finished_by_the_next_run(
    tmp_path: Path, kind: str
) -> None:
    if kind == "file":
        target: FileTarget | FolderTarget = FileTarget(tmp_path / "scores.csv")
        journal = tmp_path / ".scores.csv.publishing"
        finals = (tmp_path / "scores.rejects.csv", tmp_path / "scores.csv")
    else:
        target = FolderTarget(tmp_path / "out")
        journal = tmp_path / "out" / ".leadscore.publishing"
        finals = (tmp_path / "out" / "_rejects" / "r", tmp_path / "out" / "p" / "s")
        for final in finals:
            final.parent.mkdir(parents=True)
    rejects, scores = staged_pair(journal.parent, target.staging_prefix, "new")
    finals[0].write_text("rejects old")
    finals[1].write_text("scores old")
    # The state a SIGKILL right after the first rename leaves: the journal, new rejects
    # beside the old scores, the new scores still staged.
    os.replace(rejects, finals[0])
    journal.write_text(f'[["{rejects}", "{finals[0]}"], ["{scores}", "{finals[1]}"]]')
    assert finals[1].read_text() == "scores old"

    with target.lock(timeout=5):
        assert finals[0].read_text() == "rejects new"
        assert finals[1].read_text() == "scores new"
        assert not journal.exists()
        assert not scores.parent.exists()  # the emptied staging folder is gone too


def test_a_torn_journal_means_no_rename_had_started(tmp_path: Path) -> None:
    target = FileTarget(tmp_path / "scores.csv")
    (tmp_path / "scores.csv").write_text("scores old")
    (tmp_path / ".scores.csv.publishing.tmp").write_text('[["half')
    with target.lock(timeout=5):
        assert (tmp_path / "scores.csv").read_text() == "scores old"
    assert not (tmp_path / ".scores.csv.publishing.tmp").exists()


def test_chunk_folders_of_dead_processes_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / f"{CHUNKS_PREFIX}{2**22 + 12345}-abc"  # above Linux's pid_max
    mine = tmp_path / f"{CHUNKS_PREFIX}{os.getpid()}-abc"
    other = tmp_path / "leadscore-chunks-notapid"
    for folder in (dead, mine, other):
        folder.mkdir()
        (folder / "00000-000000.arrow").write_bytes(b"input rows")
    _remove_orphan_chunks(str(tmp_path))
    assert not dead.exists() and mine.exists() and other.exists()
