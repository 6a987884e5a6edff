"""Per-thread call context: the kernels' thread count, and the row origin.

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

import threading
from contextlib import contextmanager

_local = threading.local()


def current():
    """The thread count the kernels get from this Python thread (0 = default)."""
    return getattr(_local, "n", 0)


@contextmanager
def limit(n):
    """Run the kernels called from this thread on at most `n` threads.

    Parameters
    ----------
    n : int
        0 for the default, 1 for the calling thread only, n > 1 for at most
        n OpenMP threads.
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


def row_origin():
    """The global index of the first row of the block being measured, or None."""
    return getattr(_local, "origin", None)


@contextmanager
def rows_from(origin):
    """Number rows in error messages from `origin` (a tuple, one per leading axis)."""
    before = row_origin()
    _local.origin = tuple(int(o) for o in origin) if origin is not None else None
    try:
        yield
    finally:
        _local.origin = before
