"""How many threads leadscore's own work may use: the CPUs this process may actually run on
(its affinity mask, capped by a cgroup CPU quota in containers and CI), not
``os.cpu_count()``, which counts the machine's. OpenMP (LightGBM) and Numba spin-wait and
slow down by an order of magnitude when they start more threads than the process gets, so
every booster fit, prediction and TreeSHAP pass takes its thread count from here (or from
the config: ``lightgbm.num_threads``, ``scoring.threads``)."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
_configured: int | None = None


def cgroup_quota(root: Path = CGROUP) -> float | None:
    """CPUs allowed by the cgroup CPU quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us`` over
    ``cpu.cfs_period_us``), None when there is no quota or no cgroup file to read."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else float(quota) / float(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = float((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = float((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us


def usable_cpus(root: Path = CGROUP) -> int:
    """The CPUs this process may use: the affinity mask, capped by the cgroup quota
    (rounded up: a quota of 1.5 CPUs runs two threads at most 75% busy), at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_quota(root)
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def set_threads(threads: int | None) -> None:
    """The thread count of this process's scoring work (None: ``usable_cpus``)."""
    global _configured
    _configured = threads


def threads() -> int:
    """The thread count to use: as configured, else the usable CPUs."""
    return _configured if _configured is not None else usable_cpus()
