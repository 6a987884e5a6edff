"""Threads on a busy machine: default threads against one thread, with and without a CPU hog.

Production servers are rarely idle.  An OpenMP team whose threads share the
cores with another CPU-bound process can be slower than one thread: the call
waits for a descheduled thread's share.  This benchmark starts a CPU-bound
process pinned to the last CPU (the "other core"), then times each call with
the default thread count and inside ``kl_ext._threads.limit(1)``,
interleaved, and prints the medians, the 90th percentile, the worst run and
the ratio default / one thread (the target: the median never above 1.25).
The same table without the hog comes first.

Run::

    python benchmarks/busy.py                 # n = 1e6 and 1e7, KL and JS distance
    python benchmarks/busy.py --repeat 200 --sizes 1000000
"""

import argparse
import os
import time

import numpy as np

import kl_ext
from kl_ext import _threads, bench


def _cases(sizes):
    rng = np.random.default_rng(0)
    for n in sizes:
        p = rng.random(n)
        q = rng.random(n)
        yield f"kl_divergence n={n:.0e}", lambda p=p, q=q: kl_ext.kl_divergence(p, q)
        yield f"js_distance n={n:.0e}", lambda p=p, q=q: kl_ext.js_distance(p, q)
    rows = rng.random((100_000, 10))
    ref = rng.random(10)
    yield "kl_divergence 1e5 rows x 10", lambda: kl_ext.kl_divergence(rows, ref, axis=1)


def _one_thread():
    # limit(1) for the kernels' nthreads argument, and an OpenMP limit of 1
    # (threadpoolctl) for the 1-D fast path, which does not read limit()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - the bench extra brings it
        return _threads.limit(1)
    import contextlib
    stack = contextlib.ExitStack()
    stack.enter_context(_threads.limit(1))
    stack.enter_context(threadpool_limits(1, user_api="openmp"))
    return stack


def _time(f, repeat):
    one, default = [], []
    for _ in range(repeat):  # interleaved: both see the same machine
        with _one_thread():
            t0 = time.perf_counter()
            f()
            t1 = time.perf_counter()
        one.append(t1 - t0)
        t1 = time.perf_counter()
        f()
        t2 = time.perf_counter()
        default.append(t2 - t1)
    return np.array(one) * 1e3, np.array(default) * 1e3


def _table(title, sizes, repeat):
    print(f"\n{title}")
    print(f"{'call':30s} {'1 thread: median':>17s} {'default: median':>16s} {'p90':>8s} "
          f"{'worst':>8s} {'ratio':>6s}")
    for name, f in _cases(sizes):
        f()
        one, default = _time(f, repeat)
        print(f"{name:30s} {np.median(one):14.3f} ms {np.median(default):13.3f} ms "
              f"{np.percentile(default, 90):8.3f} {default.max():8.3f} "
              f"{np.median(default) / np.median(one):6.2f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=100)
    ap.add_argument("--sizes", type=lambda s: [int(float(x)) for x in s.split(",")],
                    default=[1_000_000, 10_000_000])
    ap.add_argument("--no-quiet", action="store_true", help="only the busy case")
    args = ap.parse_args(argv)
    cpus = sorted(os.sched_getaffinity(0))
    print(f"kl_ext {kl_ext.__version__}, tier {kl_ext.measures.CPU_TIER}, "
          f"CPUs {cpus}, default threads {kl_ext.measures._k.max_threads()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    if not args.no_quiet:
        _table("no other process started", args.sizes, args.repeat)
    with bench.busy_machine():
        _table(f"a CPU-bound process pinned to CPU {bench.busy_cpu()}", args.sizes,
               args.repeat)


if __name__ == "__main__":
    main()
