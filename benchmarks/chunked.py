"""kl_ext.chunked over a split axis: accuracy near p = q and cost of its
exact statistics on ordinary rows.

    python benchmarks/chunked.py accuracy   # relative error against exact arithmetic
    OMP_NUM_THREADS=1 python benchmarks/chunked.py cost   # A/B, ordinary rows

accuracy: rows q = p (1 + d e) (d = 1e-4 ... 1e-13) and q = fl(3 p), 500
elements in chunks [0, 200) and [200, 500), every measure with an exact
near-p = q path; and order-1 wasserstein_hist on 1e3 ... 3e5 random and
nearly equal histograms in three unaligned chunks (kl_ext.accuracy's exact
references).

cost: the Accumulator on ordinary random rows (1 x 1e7 in 10 chunks, and
1000 x 1000 in 4 chunks), with and without the statistics of the exact paths
(the pieces' double-double sums of the first pass, the exact pieces of the
second), alternating in one run, medians of 7.
"""
import sys
import time

import numpy as np

from kl_ext import accuracy, chunked
from kl_ext.wasserstein import wasserstein_hist

NEAR = ["kl_divergence", "js_divergence", "total_variation", "hellinger_distance",
        "jeffreys_divergence"]


def stream(name, p, q, bounds):
    acc = chunked.Accumulator(name)
    while True:
        for a, b in zip(bounds[:-1], bounds[1:]):
            acc.update(p[..., a:b], q[..., a:b])
        if not acc.needs_second_pass:
            return acc.result()
        acc.start_second_pass()


def hist(p, q):
    """Order-1 wasserstein_hist over three unaligned chunks: kl-ext
    accuracy's "kl_ext split" column (unit bin gaps)."""
    x = np.arange(p.shape[-1], dtype=np.float64)
    return float(accuracy._chunked_fn("wasserstein_hist")(p, q, x))


def rel(got, exact):
    exact = float(exact)
    return abs(float(got) - exact) / exact


def run_accuracy():
    rng = np.random.default_rng(1)
    n = 500
    p = rng.random(n)
    print("case     " + " ".join(f"{m[:11]:>11s}" for m in NEAR))
    cases = [(f"d={d:g}", p * (1 + d * rng.standard_normal(n)))
             for d in (1e-4, 1e-7, 1e-10, 1e-13)]
    cases.append(("fl(3p)", 3 * p))
    for label, q in cases:
        ex = accuracy.exact_measures(p, q, measures=NEAR)
        errs = [rel(stream(m, p, q, [0, 200, n]), ex[m]) for m in NEAR]
        print(f"{label:8s} " + " ".join(f"{e:11.1e}" for e in errs))
    print("\nwasserstein_hist, three unaligned chunks")
    for n in (1000, 30_000, 300_000):
        for label in ("random", "near"):
            p = rng.random(n)
            q = rng.random(n) if label == "random" else \
                p * (1 + 1e-12 * rng.standard_normal(n))
            ex = accuracy.exact_wasserstein_hist(p, q)
            got = hist(p, q)
            print(f"  n={n:>7,} {label:6s} split {rel(got, ex):.1e}   "
                  f"in memory {rel(wasserstein_hist(p, q), ex):.1e}")


def run_cost():
    rng = np.random.default_rng(0)
    cases = {"1x1e7/10": (rng.random(10_000_000), rng.random(10_000_000), 10),
             "1000x1000/4": (rng.random((1000, 1000)), rng.random((1000, 1000)), 4)}
    exact_paths = chunked._exact_near
    for label, (p, q, k) in cases.items():
        n = p.shape[-1]
        bounds = list(range(0, n, n // k)) + [n]
        for name in ["kl_divergence", "js_divergence", "total_variation"]:
            t = {0: [], 1: []}
            for _ in range(7):
                for mode in (0, 1):
                    chunked._exact_near = exact_paths if mode else (lambda code: False)
                    t0 = time.perf_counter()
                    stream(name, p, q, bounds)
                    t[mode].append(time.perf_counter() - t0)
            chunked._exact_near = exact_paths
            a, b = np.median(t[0]) * 1e3, np.median(t[1]) * 1e3
            print(f"{label:12s} {name:16s} without {a:7.1f} ms  with {b:7.1f} ms  "
                  f"({(b / a - 1) * 100:+.0f} %)")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "accuracy"
    run_cost() if what == "cost" else run_accuracy()
