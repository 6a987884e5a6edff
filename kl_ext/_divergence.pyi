# Type stub for the compiled divergence kernels (src/_divergence.pyx; the
# CPU-tier builds kl_ext._divergence_v3/_v4 have the same interface).
# Both functions take ndarrays read through the NumPy C-API (no typed
# memoryviews: their ~200 ns buffer acquisition dominates small calls).
# Measure and row status codes: kl_ext/_table.py (MEASURES[i].code, STATUS),
# compiled in from src/_codes.pxd; an unknown measure code gives status
# ST_BAD_MEASURE (8) and NaN, never another measure's value.
from typing import Any

import numpy as np
import numpy.typing as npt

def one(measure: int, p: npt.NDArray[np.floating], q: npt.NDArray[np.floating],
        normalize: bool, nthreads: int = 0) -> tuple[float, int]:
    """1-D float32/float64 p, q of equal length -> (value in nats, status).

    nthreads: 0 the default thread count, 1 the calling thread only, n > 1 at most n.
    """

def rows(measure: int, p: npt.NDArray[np.floating], q: npt.NDArray[np.floating],
         normalize: bool, out: npt.NDArray[np.float64],
         status: npt.NDArray[np.int8], nthreads: int = 0) -> int:
    """(nrows, n) views p, q (row stride 0 for a broadcast row) -> flagged rows, or -1."""

def small(measure: int, p: object, q: object, axis: object, normalize: object,
          smoothing: object, base: object) -> np.floating | None:
    """The plainest 1-D call answered in C (a NumPy scalar of p's dtype), or None
    for any other arguments (kl_ext.measures then takes its general path).
    Accepts the js_distance code too (sqrt of JS), which the others do not."""

def front(func: object, code1: int, code2: int, post: int) -> Any:
    """A C front of func (src/_front.h): f(p) is measure code1 of p, f(p, q)
    code2 of p, q (-1: passed on), normalised, for plain 1-D float ndarrays
    of fewer than 131072 elements, as a NumPy scalar of their dtype; post 0
    the value, 1 its square root, 2 the square root of the value rounded to
    the input dtype.  Every other call, and every row with a nonzero status,
    is passed on to func unchanged."""

def openmp_enabled() -> bool:
    """True if the kernels were built with OpenMP (threads for large calls)."""

def max_threads() -> int:
    """Threads a call of >= 131072 elements would use now (1 without OpenMP)."""

def pool_workers() -> int:
    """Worker threads this module's pool has started (0 in a forked child
    until its first threaded call; see src/_pool.h)."""

def set_thread_cap(n: int) -> None:
    """Never run more than n threads (0: no cap); kl_ext._cpu sets it to
    kl_ext._threads.cpu_budget() (affinity mask, cgroup CPU quota) at import."""

# ---- chunked statistics (kl_ext.chunked): per piece of 65536 elements ----
# Row status 7 from `finish`: the one-pass value where the in-memory call
# would take a second pass over the row; 8: unknown measure code.

def n_pieces(n: int) -> int:
    """Pieces of 65536 elements in a row of n > 0 elements."""

def pieces(measure: int, p: npt.NDArray[np.floating], q: npt.NDArray[np.floating],
           out: npt.NDArray[np.float64], status: npt.NDArray[np.int8],
           nthreads: int = 1) -> int:
    """(nrows, n) views -> out (nrows, n_pieces(n), 3) sums, status (nrows, n_pieces(n))."""

def finish(measure: int, parts: npt.NDArray[np.float64], normalize: bool,
           out: npt.NDArray[np.float64], status: npt.NDArray[np.int8]) -> int:
    """One-pass measures from pieces (nrows, k, 3) -> out (nrows,), status (nrows,)."""

def pair_totals(measure: int, parts: npt.NDArray[np.float64], normalize: bool,
                sums: npt.NDArray[np.float64], scales: npt.NDArray[np.float64],
                status: npt.NDArray[np.int8]) -> int:
    """JS/TV totals from pieces (nrows, k, 3) -> sums (nrows, 2), scales (nrows, 3), status."""

def pair_pieces(measure: int, p: npt.NDArray[np.floating], q: npt.NDArray[np.floating],
                scales: npt.NDArray[np.float64], out: npt.NDArray[np.float64],
                nthreads: int = 1) -> int:
    """JS/TV second-sweep sums of each piece -> out (nrows, n_pieces(n))."""

def pair_finish(measure: int, parts: npt.NDArray[np.float64], scales: npt.NDArray[np.float64],
                normalize: bool, out: npt.NDArray[np.float64]) -> int:
    """JS/TV of each row from second-sweep pieces (nrows, k) -> out (nrows,)."""

def dd_pieces(measure: int, p: npt.NDArray[np.floating], q: npt.NDArray[np.floating],
              first: npt.NDArray[np.float64], out: npt.NDArray[np.float64],
              nthreads: int = 1) -> int:
    """Double-double sums (and KL's shifted term sum) of each piece -> out (nrows, k, 5)."""

def near_totals(parts: npt.NDArray[np.float64], out: npt.NDArray[np.float64]) -> int:
    """Rows' dd sums and near scales from dd_pieces -> out (nrows, 9)."""

def near_pieces(measure: int, p: npt.NDArray[np.floating], q: npt.NDArray[np.floating],
                totals: npt.NDArray[np.float64], want: npt.NDArray[np.int8],
                out: npt.NDArray[np.float64], nthreads: int = 1) -> int:
    """Exact near-equal term sums of the wanted pieces -> out (nrows, k)."""

def near_finish(measure: int, parts: npt.NDArray[np.float64], totals: npt.NDArray[np.float64],
                rows: npt.NDArray[np.int64], out: npt.NDArray[np.float64]) -> int:
    """A pair measure's exact value at the given rows from its second sweep."""

def near_limit(measure: int) -> float:
    """The one-pass value below which a pair measure's row takes the exact path."""
