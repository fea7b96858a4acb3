"""Thread counts from the CPUs this process may actually use (issue 19, point 4): the
affinity mask and the cgroup CPU quota, read for real (a child process pinned to one CPU,
cgroup files of both versions), not os.cpu_count()."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from leadscore.models import cpus
from leadscore.models.booster import booster_params
from leadscore.models.settings import LightGBMSettings


def _cgroup(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({"cpu.max": "150000 100000\n"}, 1.5),  # cgroup v2, one and a half CPUs
        ({"cpu.max": "max 100000\n"}, None),  # v2 without a quota
        ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 0.5),  # v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),  # no cgroup files: no quota
    ],
)
def test_cgroup_quota_of_both_versions(
    tmp_path: Path, files: dict[str, str], quota: float | None
) -> None:
    assert cpus.cgroup_quota(_cgroup(tmp_path, files)) == quota


def test_a_quota_caps_the_affinity(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    assert cpus.usable_cpus(_cgroup(tmp_path, {"cpu.max": "150000 100000"})) == min(affinity, 2)
    assert cpus.usable_cpus(_cgroup(tmp_path / "none", {})) == affinity
    assert cpus.usable_cpus(_cgroup(tmp_path / "tiny", {"cpu.max": "1000 100000"})) == 1


def test_a_process_pinned_to_one_cpu_uses_one_thread_everywhere(tmp_path: Path) -> None:
    """A child process pinned to one CPU (as taskset or a scheduler would): one thread for
    LightGBM fits and for scoring, whatever the machine has."""
    code = (
        "import os, sys; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
        "from pathlib import Path; from leadscore.models import cpus; "
        "from leadscore.models.booster import booster_params; "
        "from leadscore.models.settings import LightGBMSettings; "
        f"root = Path({str(tmp_path)!r}); "
        "print(cpus.usable_cpus(root), cpus.threads(), "
        "booster_params(LightGBMSettings())['num_threads'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "1", "1"]


def test_configured_counts_win() -> None:
    assert booster_params(LightGBMSettings(num_threads=3))["num_threads"] == 3
    try:
        cpus.set_threads(5)
        assert cpus.threads() == 5
    finally:
        cpus.set_threads(None)
    assert cpus.threads() == cpus.usable_cpus()
