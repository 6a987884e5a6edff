"""Per-call time of one call on a few elements, for every public measure.

    python benchmarks/small_calls.py            # n = 10, float64
    python benchmarks/small_calls.py --n 100 --dtype float32 --rounds 41
    python benchmarks/small_calls.py --definitions   # + the path without the C fronts

Times one call ``f(p, q)`` (``f(p)`` for entropy) on two seeded,
normalised 1-D arrays of n elements, for every measure in kl_ext's table
of measures, the SciPy drop-ins users call (``kl_ext.compat.entropy``
with and without ``qk``, ``kl_ext.compat.jensenshannon``), and NumKong's
``kullbackleibler`` if it is installed (issue 14's target: every kl_ext
call <= 100 ns at n = 10 and >= 1.5x NumKong's KL call).

Each round times a loop of `--calls` calls of every function, the
functions in turn (so all share the machine's noise); the table shows
the median over the rounds of ns per call, its spread (25th-75th
percentile) and the ratio NumKong KL / function (>= 1.5 is the target).
Calls are timed as timeit statements ``f(p, q)``; the cheapest C call,
``id(p)``, is shown as ``(empty call)``: the timing loop and the call
itself, a few ns of every row.
"""
import argparse
import statistics
import timeit

import numpy as np

import kl_ext
from kl_ext import compat
from kl_ext._table import MEASURES


def _timer(f, args):
    """A timeit.Timer of the statement f(p) or f(p, q) (no *args unpacking)."""
    names = ("p", "q")[:len(args)]
    return timeit.Timer(f"f({', '.join(names)})", globals=dict(zip(names, args), f=f))


def functions(p, q, definitions=False):
    """(label, function, args) of every timed call; with `definitions`, each
    function's Python definition behind its C front too (``__wrapped__``:
    the call path before the fronts, for a same-run before/after)."""
    calls = [(m.name, getattr(kl_ext, m.name), (p, q) if m.takes_q else (p,))
             for m in MEASURES]
    calls.append(("compat.entropy(pk)", compat.entropy, (p,)))
    calls.append(("compat.entropy(pk, qk)", compat.entropy, (p, q)))
    calls.append(("compat.jensenshannon", compat.jensenshannon, (p, q)))
    out = [("(empty call: id(p))", id, (p,))]
    for label, f, args in calls:
        out.append((label, f, args))
        if definitions:
            out.append((f"  {label} definition", f.__wrapped__, args))
    try:
        import numkong
    except ImportError:
        pass
    else:
        out.append(("numkong.kullbackleibler", numkong.kullbackleibler, (p, q)))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10, help="elements per array (10)")
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    ap.add_argument("--rounds", type=int, default=31, help="timed rounds (31)")
    ap.add_argument("--calls", type=int, default=20000, help="calls per round (20000)")
    ap.add_argument("--definitions", action="store_true",
                    help="also time each function's Python definition (__wrapped__)")
    a = ap.parse_args(argv)
    rng = np.random.default_rng(20240229)
    p = rng.random(a.n) + 0.01
    q = rng.random(a.n) + 0.01
    p = (p / p.sum()).astype(a.dtype)
    q = (q / q.sum()).astype(a.dtype)
    fns = functions(p, q, a.definitions)
    timers = {label: _timer(f, args) for label, f, args in fns}
    times = {label: [] for label in timers}
    for t in timers.values():  # warm up (imports, caches)
        t.timeit(1000)
    for _ in range(a.rounds):
        for label, t in timers.items():
            times[label].append(t.timeit(a.calls) / a.calls * 1e9)
    med = {k: statistics.median(v) for k, v in times.items()}
    nk = med.get("numkong.kullbackleibler")
    print(f"kl_ext {kl_ext.__version__} ({kl_ext.measures.CPU_TIER}), n = {a.n}, "
          f"{a.dtype}: median ns per call over {a.rounds} rounds of {a.calls} calls")
    print(f"{'function':36s} {'median':>8s} {'p25-p75':>15s} {'NumKong KL /':>13s}")
    for label, v in times.items():
        qs = statistics.quantiles(v, n=4)
        ratio = f"{nk / med[label]:.2f}x" if nk and not label.startswith("(") else ""
        print(f"{label:36s} {med[label]:8.1f} {qs[0]:7.1f}-{qs[2]:<7.1f} {ratio:>13s}")


if __name__ == "__main__":
    main()
