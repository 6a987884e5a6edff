"""Single-thread speed of the divergence kernels, in ns per element (issue 14).

Times, in one process and interleaved round by round (every competitor sees
the same machine state), one thread each:

* kl_ext's KL divergence, JS divergence and entropy on float64 and float32
  rows of n elements (n = 1e3, 1e6, 1e7), inside ``kl_ext._threads.limit(1)``
  and threadpoolctl's OpenMP limit of 1;
* NumKong's ``kullbackleibler`` and ``jensenshannon`` on the same arrays
  (``pip install numkong``; skipped without it; NumKong returns the JS
  *distance*, whose square root costs nothing at this size);
* ``np.log(p)`` alone, into a preallocated array (the yardstick of the
  entropy target: entropy should cost at most 1.15 times it) and, with
  ``--reference``, kl_ext.reference.

It prints the median ns/element of each, the ratios the targets of issue 14
name (kl_ext / NumKong, entropy / np.log, float32 / float64) and the tier.
Inputs are seeded uniform draws normalised to sum 1 in float64, then cast.

Run (the lead's quiet-machine check of the issue 14 kernel targets)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/kernels.py
    python benchmarks/kernels.py --sizes 1000000 --measures kl --rounds 31
    KL_EXT_CPU_TIER=v3 python benchmarks/kernels.py --json out.json
"""

import argparse
import contextlib
import json
import statistics
import time

import numpy as np

import kl_ext
from kl_ext import _threads, measures, reference

MEASURES = {
    "kl": (kl_ext.kl_divergence, reference.kl_divergence, "kullbackleibler"),
    "js": (kl_ext.js_divergence, reference.js_divergence, "jensenshannon"),
    "entropy": (kl_ext.entropy, reference.entropy, None),
}


def _one_thread():
    stack = contextlib.ExitStack()
    stack.enter_context(_threads.limit(1))
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - the bench extra brings it
        return stack
    stack.enter_context(threadpool_limits(1, user_api="openmp"))
    return stack


def _numkong(name):
    try:
        import numkong as nk
    except ImportError:
        return None
    return getattr(nk, name)


def _once(f, args, number):
    t0 = time.perf_counter()
    for _ in range(number):
        f(*args)
    return (time.perf_counter() - t0) / number


def _inputs(n, dtype, rng):
    p = rng.random(n) + 1e-3
    q = rng.random(n) + 1e-3
    p /= p.sum()
    q /= q.sum()
    return p.astype(dtype), q.astype(dtype)


def run(sizes, names, dtypes, rounds, with_reference):
    """Median seconds per call of each (case, competitor), interleaved rounds."""
    rng = np.random.default_rng(14)
    cases = []
    for n in sizes:
        for dtype in dtypes:
            p, q = _inputs(n, dtype, rng)
            for name in names:
                mine, ref, nk_name = MEASURES[name]
                comps = {}
                if name == "entropy":
                    comps["kl_ext"] = (mine, (p,))
                    # into a preallocated array: the logarithms alone
                    comps["np.log"] = (np.log, (p, np.empty_like(p)))
                    if with_reference:
                        comps["reference"] = (ref, (p,))
                else:
                    comps["kl_ext"] = (mine, (p, q))
                    nk = _numkong(nk_name) if nk_name else None
                    if nk is not None:
                        comps["numkong"] = (nk, (p, q))
                    if with_reference:
                        comps["reference"] = (ref, (p, q))
                cases.append(((name, dtype, n), comps))
    times = {}
    with _one_thread():
        # calibrate: about 20 ms per sample
        number = {}
        for key, comps in cases:
            for c, (f, args) in comps.items():
                f(*args)
                t = _once(f, args, 1)
                number[key, c] = max(1, int(0.02 / max(t, 1e-9)))
                times[key, c] = []
        for _ in range(rounds):
            for key, comps in cases:
                for c, (f, args) in comps.items():
                    times[key, c].append(_once(f, args, number[key, c]))
    return {k: statistics.median(v) for k, v in times.items()}, cases


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=lambda s: [int(float(x)) for x in s.split(",")],
                    default=[1000, 1000000, 10000000])
    ap.add_argument("--measures", type=lambda s: s.split(","), default=list(MEASURES))
    ap.add_argument("--dtypes", type=lambda s: s.split(","), default=["float64", "float32"])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--reference", action="store_true", help="time kl_ext.reference too")
    ap.add_argument("--json", help="write the medians (ns/element) to this file")
    a = ap.parse_args(argv)
    med, cases = run(a.sizes, a.measures, a.dtypes, a.rounds, a.reference)
    print(f"kl_ext {kl_ext.__version__}, tier {measures.CPU_TIER}, one thread, "
          f"{a.rounds} interleaved rounds, median ns/element")
    out = {}
    for key, comps in cases:
        name, dtype, n = key
        ns = {c: med[key, c] * 1e9 / n for c in comps}
        out[f"{name}-{dtype}-{n}"] = ns
        cells = "  ".join(f"{c} {v:7.3f}" for c, v in ns.items())
        extra = ""
        if "numkong" in ns:
            extra += f"  kl_ext/numkong {ns['kl_ext'] / ns['numkong']:.2f}"
        if "np.log" in ns:
            extra += f"  kl_ext/np.log {ns['kl_ext'] / ns['np.log']:.2f}"
        if dtype == "float32" and f"{name}-float64-{n}" in out:
            extra += f"  f32/f64 {ns['kl_ext'] / out[f'{name}-float64-{n}']['kl_ext']:.2f}"
        print(f"{name:8s} {dtype:8s} n={n:<9.0e} {cells}{extra}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"tier": measures.CPU_TIER, "ns_per_element": out}, f, indent=1)


if __name__ == "__main__":
    main()
