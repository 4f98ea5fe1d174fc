"""How many threads torch computes with, decided by the generated Lightning script itself.

torch's default is every core of the machine, which a process often cannot use: a container
limited to 2 CPUs, a ``taskset``/Slurm CPU mask, a shared machine. Threads beyond the cores
the process may run on only wait for each other (a small character-level LM ran 16x slower
than with ``OMP_NUM_THREADS=1``). The rule (docs/backends.md):

1. ``OMP_NUM_THREADS`` set: torch already follows it; nothing changes;
2. otherwise ``torch.set_num_threads(n)`` with ``n`` the cores available to this process:
   its CPU affinity (``os.sched_getaffinity``) bounded by a cgroup CPU quota (a container's
   ``--cpus``: ``/sys/fs/cgroup/cpu.max``, or cgroup v1's ``cpu.cfs_quota_us``), at least 1.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "quota period" or "max period"
CGROUP_V1 = Path("/sys/fs/cgroup/cpu")  # cgroup v1: cpu.cfs_quota_us (-1: none), cpu.cfs_period_us


def available_cores(cgroup_cpu_max: Path = CGROUP_CPU_MAX, cgroup_v1: Path = CGROUP_V1) -> int:
    """The cores this process may run on: its affinity mask (``os.cpu_count()`` where the
    platform has none) bounded by the cgroup CPU quota (v2 ``cpu.max``, else v1), at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        cores = os.cpu_count() or 1
    quota = _quota(cgroup_cpu_max, cgroup_v1)
    return max(min(cores, quota) if quota else cores, 1)


def _quota(cgroup_cpu_max: Path, cgroup_v1: Path) -> int | None:
    """The CPU quota in whole cores (rounded up), or None (no quota, no cgroup file)."""
    try:
        quota, period = cgroup_cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (cgroup_v1 / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup_v1 / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    try:
        return math.ceil(int(quota) / int(period)) if quota not in ("max", "-1") and int(period) > 0 else None
    except ValueError:  # an unexpected format
        return None


def use_available_cores(environment=None) -> int:
    """Set torch's thread count to :func:`available_cores` unless ``OMP_NUM_THREADS`` is set
    (then torch keeps the count it read from it); returns the count torch uses."""
    import torch

    environment = os.environ if environment is None else environment
    if not environment.get("OMP_NUM_THREADS", "").strip():
        torch.set_num_threads(available_cores())
    return torch.get_num_threads()
