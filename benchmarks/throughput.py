"""Kernel throughput per CPU tier and thread count (ns per element).

    OMP_NUM_THREADS=1 python benchmarks/throughput.py   # every tier, 1 thread
    OMP_NUM_THREADS=2 python benchmarks/throughput.py   # ... and 2 threads

Calls each built CPU tier's kernel module directly (kl_ext._divergence,
_divergence_v3, _divergence_v4) on seeded random float64 rows, and the
public API on the drift case (q = p (1 + 1e-7 noise)) and on 1e5 rows of 10
against a broadcast reference row.  Best of 7 repeats (the machine is
shared; the minimum is the least noisy estimate of the kernel's cost).
"""
import os
import timeit

import numpy as np

import kl_ext
from kl_ext import _cpu
from kl_ext._table import DERIVED, MEASURES

# the measures with a kernel of their own (not js_distance = sqrt JS)
KERNELS = [(m.code, m.name) for m in MEASURES if m.plan != DERIVED]


def best(f):
    tm = timeit.Timer(f)
    k, _ = tm.autorange()
    return min(tm.repeat(7, k)) / k


def main():
    rng = np.random.default_rng(0)
    threads = os.environ.get("OMP_NUM_THREADS", "default")
    tiers = _cpu.available_tiers("kl_ext._divergence")
    mods = {t: __import__(_cpu._module("kl_ext._divergence", t), fromlist=["x"]) for t in tiers}
    print(f"OMP_NUM_THREADS={threads}; tiers: {', '.join(tiers)} "
          f"(import picks {kl_ext.measures.CPU_TIER})")
    for n in (1000, 10**6):
        p = rng.random(n)
        q = rng.random(n)
        for code, name in KERNELS:
            cells = []
            for tier, mod in mods.items():
                t = best(lambda: mod.one(code, p, q, True))
                cells.append(f"{tier:8s} {t / n * 1e9:6.2f}")
            print(f"n={n:>8d} {name:16s} " + "  ".join(cells) + "  ns/el")
    n = 10**6
    p = rng.random(n)
    q = p * (1 + 1e-7 * rng.standard_normal(n))
    for name in ("kl_divergence", "js_divergence"):
        f = getattr(kl_ext, name)
        print(f"drift n=1e6 {name:16s} {best(lambda: f(p, q)) / n * 1e9:6.2f} ns/el")
    P = rng.random((10**5, 10))
    Q = rng.random(10)
    for name in ("kl_divergence", "js_divergence"):
        f = getattr(kl_ext, name)
        print(f"1e5x10 rows vs broadcast row {name:16s} "
              f"{best(lambda: f(P, Q)) / P.size * 1e9:6.2f} ns/el")


if __name__ == "__main__":
    main()
