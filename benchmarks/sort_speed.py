"""wasserstein_1d on 1e6 vs 1e6 samples (issue 14's sort targets): kl_ext
unsorted and weighted on 1 and 2 threads, SciPy's wasserstein_distance and
the sorts alone (NumPy's np.sort against kl_ext's key sort), side by side in
one run, the calls alternated round by round; medians of wall time (and of
the calling thread's CPU time, which a busy machine inflates less).

    python benchmarks/sort_speed.py [--n 1000000] [--rounds 11]

Prints one line per workload: median wall ms, median CPU ms of the calling
thread, and the ratio SciPy / kl_ext in the same run.  Targets (quiet
machine, issue 14): unsorted <= 15 ms on one thread and <= 9 ms on two
(>= 20x SciPy); weighted <= 35 ms (>= 10x SciPy).
"""

import argparse
import time

import numpy as np

from kl_ext import _threads
from kl_ext import wasserstein as W


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=11)
    args = ap.parse_args()
    rng = np.random.default_rng(20240229)
    n = args.n
    u = rng.normal(0.0, 1.0, n)
    v = rng.normal(0.5, 1.5, n)
    a = rng.random(n) + 1e-3
    b = rng.random(n) + 1e-3
    uw, vw = a / a.sum(), b / b.sum()
    keys = rng.integers(0, 2**63, n, dtype=np.uint64)

    def limited(k, fn):
        def run():
            with _threads.limit(k):
                fn()
        return run

    work = {
        "kl_ext unsorted t1": limited(1, lambda: W.wasserstein_1d(u, v)),
        "kl_ext unsorted t2": limited(2, lambda: W.wasserstein_1d(u, v)),
        "kl_ext weighted t1": limited(1, lambda: W.wasserstein_1d(u, v, uw, vw)),
        "kl_ext weighted t2": limited(2, lambda: W.wasserstein_1d(u, v, uw, vw)),
        "np.sort float64 (one sample)": lambda: np.sort(u),
    }
    if hasattr(W._k, "sort_keys"):
        work["kl_ext key sort (one sample)"] = lambda: W._k.sort_keys(keys.copy())
    try:
        from scipy.stats import wasserstein_distance
        work["scipy unsorted"] = lambda: wasserstein_distance(u, v)
        work["scipy weighted"] = lambda: wasserstein_distance(u, v, uw, vw)
    except ImportError:
        print("(SciPy not installed: no SciPy rows)")
    wall: dict[str, list[float]] = {k: [] for k in work}
    cpu: dict[str, list[float]] = {k: [] for k in work}
    for fn in work.values():  # warm up
        fn()
    for _ in range(args.rounds):
        for name, fn in work.items():
            t0, c0 = time.perf_counter(), time.thread_time()
            fn()
            cpu[name].append(time.thread_time() - c0)
            wall[name].append(time.perf_counter() - t0)
    med = {k: float(np.median(x)) * 1e3 for k, x in wall.items()}
    print(f"n = m = {n}, {args.rounds} rounds, sort tier "
          f"{getattr(W._k, 'sort_tier', lambda: 'numpy')()}, CPU tier {W.CPU_TIER}")
    for name in work:
        line = (f"{name:32s} wall {med[name]:8.2f} ms   "
                f"cpu {float(np.median(cpu[name])) * 1e3:8.2f} ms")
        kind = "weighted" if "weighted" in name else "unsorted"
        if name.startswith(("kl_ext unsorted", "kl_ext weighted")) and f"scipy {kind}" in med:
            line += f"   scipy/kl_ext {med[f'scipy {kind}'] / med[name]:6.1f}x"
        print(line)


if __name__ == "__main__":
    main()
