# Stub for the compiled module kl_ext._wasserstein (src/_wasserstein.pyx).
# Merge-walk kernels behind kl_ext.wasserstein; callers validate first (see
# the contract at the top of the .pyx).  Arrays are read through the NumPy
# C-API, not typed memoryviews: values float32/float64 (one dtype for u and
# v), weights float64 or None, out float64 C-contiguous, status int8.
import numpy as np
from numpy.typing import NDArray

def rows(kind: int, u: np.ndarray, uw: NDArray[np.float64] | None,
         v: np.ndarray, vw: NDArray[np.float64] | None, mode: int, p: float,
         out: NDArray[np.float64], nthreads: int = 0) -> int:
    """kind 0: W_p by the quantile walk; 1: SciPy's _cdf_distance (CDF walk).
    mode 1: p = 1, 2: p = 2, 3: any p >= 1, 4: p = inf.  Sorted 1-D rows (one
    problem) or 2-D (nrows, n)/(nrows, m).  nthreads (0: the default) runs
    the segments of weighted quantile walks; the result does not depend on
    it.  Returns 0, or -1 (nothing done) for an unsupported layout."""

def hist_rows(p: np.ndarray, q: np.ndarray, support: NDArray[np.float64] | None,
              normalize: bool, out: NDArray[np.float64],
              status: NDArray[np.int8]) -> int:
    """Order-1 W between rows of 2-D views p, q (nrows, n).  Returns the number
    of flagged rows (status 1/2 negative entry in p/q, 3/4 p/q sums to 0), or
    -1 for an unsupported layout."""

def hist_chunk_rows(p: np.ndarray, q: np.ndarray, support: NDArray[np.float64] | None,
                    steps: int, scales: NDArray[np.float64],
                    out: NDArray[np.float64]) -> int:
    """One chunk of order-1 W over a split axis (kl_ext.chunked.hist_pieces):
    out[r] = sum |D_k| dx_k over `steps` steps of rows of 2-D views p, q
    (nrows, m), from D = scales[r, 4] + scales[r, 5] with the double-double
    pair scales mp = scales[r, 0] + scales[r, 1], mq = scales[r, 2] + scales[r, 3]
    (scales: C-contiguous float64 (nrows, 6)).
    Returns 0, or -1 for an unsupported layout."""

def walk_parts(u: NDArray[np.float64], uw: NDArray[np.float64], v: NDArray[np.float64],
               vw: NDArray[np.float64], mode: int, p: float, nthreads: int = 1
               ) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]]:
    """The segments of one weighted quantile walk (tests): segment starts in
    u and v and the partial sums that rows() adds in order."""

def sort_rows(groups: tuple[tuple[np.ndarray, NDArray[np.float64] | None, np.ndarray,
                                  NDArray[np.float64] | None, NDArray[np.uint64], int], ...],
              nthreads: int = 0, leaf: int = 0) -> list[bool]:
    """Sort rows of (values, weights, values out, weights out, key scratch,
    index bits) groups with kl_ext's sort (src/_sort.h) on up to nthreads
    threads, unweighted rows split into ranges of at most `leaf` samples
    (0: the default) that any thread may sort; False for a group whose
    packed keys could not order it."""

def weighted_bucket_min() -> int:
    """Samples from which weighted_pair's pack splits a sample into buckets."""

def weighted_pair_size(n: int, m: int, nthreads: int = ...) -> int:
    """Doubles of the scratch buffer weighted_pair needs for n and m samples."""

def weighted_pair(u: NDArray[np.float64], uw: NDArray[np.float64], v: NDArray[np.float64],
                  vw: NDArray[np.float64], mode: int, p: float, buf: NDArray[np.float64],
                  nthreads: int = 0) -> float | None:
    """W_p of two unsorted weighted 1-D float64 samples (C-contiguous,
    aligned) in one call: packed-key sort, gather with the running sums,
    walk, all in `buf` (overwritten); None if a gather gave up (the caller
    takes the general path).  The same number as sort_rows, then rows."""

def sort_keys(keys: NDArray[np.uint64], depth: int = -1) -> None:
    """Sort each row of a C-contiguous uint64 array in place (depth >= 0:
    partitioning levels before the heapsort fallback)."""

def sort_tier() -> str:
    """The compiled sort: "avx512", "avx2" or "portable"."""

def max_threads() -> int:
    """The kernels' default thread count."""

def set_thread_cap(n: int) -> None:
    """Never run more than n threads (0: no cap)."""
