"""Best-of-rounds ns/element of KL or JS on float64 and float32 rows, one thread.

A noise-robust companion of benchmarks/kernels.py for the float32 target of
issue 14 (float32 <= 0.7 x float64): on a busy machine the minimum over rounds
moves far less than the median.  Prints f64, f32 and their ratio at n = 1e3,
1e6, 1e7.  Compare two builds by alternating them:

    OMP_NUM_THREADS=1 PYTHONPATH=<build> python benchmarks/f32_speed.py kl
    OMP_NUM_THREADS=1 PYTHONPATH=<build> python benchmarks/f32_speed.py js

--cpu: time the calls in CPU time of the thread (time.thread_time) instead of
wall-clock time: steadier on a shared machine, where another process can
take the core between two calls.
"""
import sys, time, numpy as np, kl_ext
from kl_ext import _threads
m = sys.argv[1]
clock = time.thread_time if "--cpu" in sys.argv[2:] else time.perf_counter
rng = np.random.default_rng(0)
f = {"kl": kl_ext.kl_divergence, "js": kl_ext.js_divergence}[m]
out = []
with _threads.limit(1):
    for n in (1000, 10**6, 10**7):
        p = rng.random(n) + 1e-3; q = rng.random(n) + 1e-3; p /= p.sum(); q /= q.sum()
        res = {}
        for dt in ("float64", "float32"):
            a = p.astype(dt); b = q.astype(dt)
            num = max(1, 2 * 10**6 // n)
            best = 1e9
            for r in range(15 if n < 10**7 else 7):
                t0 = clock()
                for _ in range(num):
                    f(a, b)
                best = min(best, (clock() - t0) / num / n * 1e9)
            res[dt] = best
        out.append(f"n={n:.0e} f64 {res['float64']:.3f} f32 {res['float32']:.3f} ratio {res['float32']/res['float64']:.2f}")
print(m, " | ".join(out))
