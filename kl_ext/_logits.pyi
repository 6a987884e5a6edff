# Stub for kl_ext._logits (and its CPU-tier builds _logits_v3/_logits_v4):
# the row kernels behind kl_ext.logits.  Arrays are ndarrays read through the
# NumPy C-API (no typed memoryviews): x, t, a, b are 2-D float32/float64
# views (nrows, n) with unit element stride (row stride any multiple of the
# item size, 0 for a broadcast row), labels a C-contiguous int64 array of
# nrows, out float64 and status int8 arrays of nrows.  Both return the
# number of flagged rows (status 1: label out of range, 2: negative target,
# 3: out of memory), or -1 if a layout is not supported (nothing computed).
import numpy as np

def ce_rows(x: np.ndarray, labels: np.ndarray | None, t: np.ndarray | None,
            eps: float, out: np.ndarray, status: np.ndarray) -> int: ...
def kl_rows(a: np.ndarray, b: np.ndarray, temp: float, out: np.ndarray,
            status: np.ndarray) -> int: ...
def max_threads() -> int: ...
def set_thread_cap(n: int) -> None: ...
