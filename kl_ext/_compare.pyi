# Type stub for the compiled one-pass scoring-report kernel (src/_compare.pyx;
# the CPU-tier builds kl_ext._compare_v3/_v4 have the same interface).  The
# module includes src/_divergence.pyx, so it also carries every function of
# that module (re-exported below; kl_ext uses them from kl_ext._divergence).
# Output columns (nats): 0 H(p), 1 H(q), 2 H(p, q), 3 D(p||q), 4 D(q||p),
# 5 JS, 6 TV.  Row status: 0 ok, 1/2 negative entry in p/q, 3/4 p/q sums to
# 0 (normalize only), or 16 * (bit mask of non-finite columns, recomputed
# exactly by kl_ext.report through kl_ext.measures).
import numpy as np
import numpy.typing as npt

from ._divergence import finish as finish
from ._divergence import front as front
from ._divergence import max_threads as max_threads
from ._divergence import n_pieces as n_pieces
from ._divergence import one as one
from ._divergence import openmp_enabled as openmp_enabled
from ._divergence import pair_finish as pair_finish
from ._divergence import dd_pieces as dd_pieces
from ._divergence import near_totals as near_totals
from ._divergence import near_pieces as near_pieces
from ._divergence import near_finish as near_finish
from ._divergence import near_limit as near_limit
from ._divergence import pair_pieces as pair_pieces
from ._divergence import pair_totals as pair_totals
from ._divergence import pieces as pieces
from ._divergence import rows as rows
from ._divergence import pool_workers as pool_workers
from ._divergence import set_thread_cap as set_thread_cap
from ._divergence import small as small

def compare_one(p: npt.NDArray[np.floating], q: npt.NDArray[np.floating],
                normalize: bool, nthreads: int = 0) -> tuple[tuple[float, ...] | None, int]:
    """1-D float32/float64 p, q of equal length -> (7 values, status); status -1: layout."""

def compare_rows(p: npt.NDArray[np.floating], q: npt.NDArray[np.floating],
                 normalize: bool, out: npt.NDArray[np.float64],
                 status: npt.NDArray[np.int32], nthreads: int = 0) -> int:
    """(nrows, n) views -> out (nrows, 7), status (nrows,); flagged rows, or -1.

    nthreads: 0 the default thread count, 1 the calling thread only, n > 1 at most n.
    """
