"""Per-thread call context: the kernels' thread count, and the row origin.

:func:`cpu_budget` is the number of CPUs this process may use: its CPU
affinity mask and its cgroup's CPU quota (a container limited to one CPU
gets 1, so kl_ext never starts two threads there).  kl_ext._cpu caps every
kernel module's thread count at it when the module is imported;
``OMP_NUM_THREADS`` and threadpoolctl can only lower the count further.

kl_ext's kernels take an explicit thread count (0: the default, which
OpenMP's ``OMP_NUM_THREADS`` and threadpoolctl limit; 1: the calling thread
only; n > 1: at most n).  :func:`limit` sets it for the calls that the
current Python thread makes inside a ``with`` block, and nothing else: no
environment variable, no process-wide state.  :mod:`kl_ext.dask` runs every
task inside ``limit(1)``, so a threaded scheduler or a worker's own
``OMP_NUM_THREADS`` never leads to oversubscription.

:func:`rows_from` does the same for error messages: a task that measures
the block of rows starting at global row ``origin`` reports its rows by
their global numbers ("in row 1234567"), as the in-memory call would.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import SupportsIndex, SupportsInt

_local = threading.local()


def current() -> int:
    """The thread count the kernels get from this Python thread (0 = default)."""
    return getattr(_local, "n", 0)


@contextmanager
def limit(n: SupportsInt) -> Iterator[None]:
    """Run the kernels called from this thread on at most `n` threads.

    Parameters
    ----------
    n : int
        0 for the default, 1 for the calling thread only, n > 1 for at most
        n threads.
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"a thread count must be >= 0, got {n}")
    before = current()
    _local.n = n
    try:
        yield
    finally:
        _local.n = before


def row_origin() -> tuple[int, ...] | None:
    """The global index of the first row of the block being measured, or None."""
    return getattr(_local, "origin", None)


@contextmanager
def rows_from(origin: Iterable[SupportsIndex] | None) -> Iterator[None]:
    """Number rows in error messages from `origin` (a tuple, one per leading axis)."""
    before = row_origin()
    _local.origin = tuple(int(o) for o in origin) if origin is not None else None
    try:
        yield
    finally:
        _local.origin = before


def _cgroup_quota(root: str = "/") -> float | None:
    """The CPU quota of this process's cgroup (and its ancestors), or None.

    cgroup v2 (``cpu.max``: "max 100000" or "150000 100000") and v1
    (``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, -1 = no quota) are both
    read; the smallest quota along the path from the process's cgroup up to
    the hierarchy's mount point applies.  `root` lets the tests point this at
    a made-up file system.
    """
    def read(path: str) -> str | None:
        try:
            with open(path, encoding="ascii") as f:
                return f.read()
        except (OSError, UnicodeDecodeError):
            return None

    def join(*parts: str) -> str:
        return os.path.join(root, *(x.lstrip("/") for x in parts))

    cgroups = read(join("proc/self/cgroup"))
    mounts = read(join("proc/self/mountinfo"))
    if cgroups is None or mounts is None:
        return None
    quotas: list[float] = []
    for line in mounts.splitlines():
        # mountinfo: id parent major:minor root mount-point options ... - fstype source superopts
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or not tail:
            continue
        fstype, mount_root, mount_point = tail[0], fields[3], fields[4]
        if fstype == "cgroup2":
            wanted = [""]
        elif fstype == "cgroup" and len(tail) >= 3 and "cpu" in tail[2].split(","):
            wanted = [c for c in tail[2].split(",") if c == "cpu"]
        else:
            continue
        for entry in cgroups.splitlines():
            parts = entry.split(":", 2)
            if len(parts) != 3:
                continue
            controllers = parts[1].split(",") if parts[1] else [""]
            if not any(w in controllers for w in wanted):
                continue
            path = parts[2]
            if mount_root != "/" and path.startswith(mount_root):
                path = path[len(mount_root):] or "/"
            while True:
                here = join(mount_point, path)
                if fstype == "cgroup2":
                    text = read(os.path.join(here, "cpu.max"))
                    if text and text.split()[0] != "max" and len(text.split()) == 2:
                        quota, period = (int(x) for x in text.split())
                        if quota > 0 and period > 0:
                            quotas.append(quota / period)
                else:
                    q = read(os.path.join(here, "cpu.cfs_quota_us"))
                    t = read(os.path.join(here, "cpu.cfs_period_us"))
                    if q and t and int(q) > 0 and int(t) > 0:
                        quotas.append(int(q) / int(t))
                if path in ("/", ""):
                    break
                path = os.path.dirname(path.rstrip("/")) or "/"
    return min(quotas) if quotas else None


def cpu_budget(root: str = "/") -> int:
    """The number of CPUs this process may use: affinity mask and cgroup CPU quota.

    Returns
    -------
    int
        ``min(len(os.sched_getaffinity(0)), ceil(quota / period))``, at
        least 1; ``os.cpu_count()`` where the affinity mask is unknown.
    """
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:
        quota = _cgroup_quota(root)
    except (ValueError, OSError):  # a malformed file: no cap from it
        quota = None
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)
