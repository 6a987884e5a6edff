"""Relative error of kl_ext's 1-D Wasserstein walks against exact rationals.

    python benchmarks/walk_accuracy.py [--long] [--scipy]

Inputs are rng.random floats (k * 2**-53) or integer counts, so the exact
answer is a fraction (tests/exact_walks.py).  --long adds 1e7 and 1e8 bins
of small counts (int64 reference; ~6 GB of memory at 1e8).
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import exact_walks as ex  # noqa: E402

from kl_ext.compat import energy_distance  # noqa: E402
from kl_ext.wasserstein import wasserstein_1d, wasserstein_hist  # noqa: E402


def row(name, got, exact, sp=None):
    s = f"{name:48s} {ex.rel(got, exact):9.2e}"
    if sp is not None:
        s += f"   scipy {ex.rel(sp, exact):9.2e}"
    print(s, flush=True)


def main(long=False, scipy=False):
    if scipy:
        from scipy.stats import wasserstein_distance as swd
    rng = np.random.default_rng(17)
    for n in (1000, 30_000, 300_000):
        p, q = rng.random(n), rng.random(n)
        x = np.arange(n, dtype=float)
        sp = swd(x, x, p, q) if scipy else None
        row(f"hist random n={n:.0e}", wasserstein_hist(p, q), ex.hist_w1(p, q), sp)
        xs = np.sort(rng.random(n))
        row(f"hist random n={n:.0e}, random support", wasserstein_hist(p, q, support=xs),
            ex.hist_w1(p, q, xs))
        # nearly equal: large counts, a few bins moved by one
        c = rng.integers(10**6, 2 * 10**6, n).astype(float)
        d = c.copy()
        k = rng.integers(0, n, 20)
        d[k] += 1.0
        d[rng.integers(0, n, 20)] -= 1.0
        row(f"hist near-equal counts n={n:.0e}", wasserstein_hist(c, d), ex.hist_w1(c, d))
        row(f"hist order 2 n={n:.0e}", wasserstein_hist(p, q, order=2) ** 2,
            ex.sample_wpp(x, x, p, q, order=2))
    for n, m in ((1000, 1500), (30_000, 20_000), (300_000, 200_000)):
        u, v = rng.random(n), rng.random(m) * 1.1
        uw, vw = rng.random(n), rng.random(m)
        row(f"1d unweighted {n:.0e}x{m:.0e}", wasserstein_1d(u, v), ex.sample_wpp(u, v))
        sp = swd(u, v, uw, vw) if scipy else None
        row(f"1d weighted {n:.0e}x{m:.0e}", wasserstein_1d(u, v, uw, vw),
            ex.sample_wpp(u, v, uw, vw), sp)
        for o in (2, 3):
            row(f"1d weighted order {o} {n:.0e}x{m:.0e} (W^p)",
                float(wasserstein_1d(u, v, uw, vw, order=o)) ** o,
                ex.sample_wpp(u, v, uw, vw, order=o))
        if n <= 30_000:
            row(f"energy_distance^2/2 weighted {n:.0e}x{m:.0e}",
                float(energy_distance(u, v, uw, vw)) ** 2 / 2,
                ex.sample_cdf(u, v, uw, vw, order=2))
        # nearly equal samples
        w = u + np.ldexp(rng.integers(-2**12, 2**12, n).astype(float), -52)
        row(f"1d near-equal u+1e-12 noise n={n:.0e}", wasserstein_1d(u, w),
            ex.sample_wpp(u, w))
        row(f"1d near-equal weighted n={n:.0e}", wasserstein_1d(u, w, uw, uw),
            ex.sample_wpp(u, w, uw, uw))
    if long:
        for n in (10**7, 10**8):
            p = rng.integers(0, 4, n, dtype=np.int8)
            q = rng.integers(0, 4, n, dtype=np.int8)
            t = time.perf_counter()
            e = ex.hist_w1_small_counts(p, q)
            t = time.perf_counter() - t
            row(f"hist small counts n={n:.0e} (ref {t:.0f} s)",
                wasserstein_hist(p.astype(np.float64), q.astype(np.float64)), e)
            del p, q


if __name__ == "__main__":
    main(long="--long" in sys.argv, scipy="--scipy" in sys.argv)
