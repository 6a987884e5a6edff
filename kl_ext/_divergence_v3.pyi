# Type stub for the compiled divergence kernels (src/_divergence.pyx; the
# CPU-tier builds kl_ext._divergence_v3/_v4 have the same interface).
# Both functions take ndarrays read through the NumPy C-API (no typed
# memoryviews: their ~200 ns buffer acquisition dominates small calls).
# Measures: 0 entropy, 1 cross-entropy, 2 KL, 3 JS divergence, 4 TV.
# Row status: 0 ok, 1/2 negative entry in p/q, 3/4 p/q sums to 0,
# 5 non-finite row (recomputed exactly by kl_ext.measures), 6 layout.
import numpy as np
import numpy.typing as npt

def one(measure: int, p: npt.NDArray[np.floating], q: npt.NDArray[np.floating],
        normalize: bool) -> tuple[float, int]:
    """1-D float32/float64 p, q of equal length -> (value in nats, status)."""

def rows(measure: int, p: npt.NDArray[np.floating], q: npt.NDArray[np.floating],
         normalize: bool, out: npt.NDArray[np.float64],
         status: npt.NDArray[np.int8]) -> int:
    """(nrows, n) views p, q (row stride 0 for a broadcast row) -> flagged rows, or -1."""

def openmp_enabled() -> bool:
    """True if the kernels were built with OpenMP (threads for large calls)."""

def max_threads() -> int:
    """Threads a call of >= 131072 elements would use now (1 without OpenMP)."""
