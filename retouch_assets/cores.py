"""How many cores this process may use, for every `auto` worker count and thread pool.

`os.cpu_count()` is the machine's count. In a container it is the node's: a Kubernetes pod
with a CPU limit of 16 on a 96-core node would start 96 measurement processes (each with its
own master cache) and 96 threads per pool, and be throttled and run out of memory. So the count
is the process's CPU affinity (what `taskset`/cpusets allow) bounded by its cgroup's CPU quota
(a container's CPU limit: cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`),
rounded up, at least 1. A quota is looked up on the process's own cgroup and every ancestor,
as the kernel enforces the smallest."""

import math
import os
from functools import cache
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _v2_quota(folder: Path) -> float | None:
    """Cores allowed by a cgroup v2 folder's `cpu.max` ("max 100000" or "150000 100000")."""
    try:
        quota, period = (folder / "cpu.max").read_text(encoding="ascii").split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        cores = int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None
    return cores if cores > 0 else None


def _v1_quota(folder: Path) -> float | None:
    """Cores allowed by a cgroup v1 cpu controller folder (quota -1: unlimited)."""
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text(encoding="ascii"))
        period = int((folder / "cpu.cfs_period_us").read_text(encoding="ascii"))
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def _own_cgroups(proc_cgroup: str) -> tuple[str | None, str | None]:
    """(v2 path, v1 cpu controller path) of the process from /proc/self/cgroup's lines
    ("0::/path" for v2, "N:cpu,cpuacct:/path" for v1)."""
    v2 = v1 = None
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v2, v1


def _ancestors(root: Path, path: str) -> list[Path]:
    """`root`/`path` and each parent folder up to `root` itself."""
    parts = [p for p in path.split("/") if p and p not in (".", "..")]
    return [root.joinpath(*parts[:k]) for k in range(len(parts), -1, -1)]


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, proc_cgroup: str | None = None) -> int | None:
    """The CPU limit of this process's cgroup (and its ancestors), rounded up to whole cores;
    None when there is none (or no cgroup file system, e.g. not Linux)."""
    if proc_cgroup is None:
        try:
            proc_cgroup = Path("/proc/self/cgroup").read_text(encoding="ascii")
        except OSError:
            return None
    v2, v1 = _own_cgroups(proc_cgroup)
    limits: list[float] = []
    if v2 is not None:
        limits += [q for f in _ancestors(root, v2) if (q := _v2_quota(f)) is not None]
    if v1 is not None:
        for controller in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
            base = root / controller
            if base.is_dir():
                limits += [q for f in _ancestors(base, v1) if (q := _v1_quota(f)) is not None]
                break
    return max(1, math.ceil(min(limits))) if limits else None


def _affinity() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@cache
def available_cores() -> int:
    """Cores this process may run on: its CPU affinity, bounded by its cgroup's CPU limit."""
    limit = cgroup_cpu_limit()
    cores = _affinity()
    return max(1, min(cores, limit)) if limit else cores
