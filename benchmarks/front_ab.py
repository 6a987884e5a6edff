"""Same-process A/B of the C fronts of two builds of one kernel module.

    python benchmarks/front_ab.py OLD.so NEW.so            # n = 10, float64
    python benchmarks/front_ab.py OLD.so NEW.so --n 12 --rounds 60

OLD.so and NEW.so are two builds of the same tier module (for example
kl_ext/_divergence_v4.cpython-311-x86_64-linux-gnu.so of main, copied
aside under any name, and of a branch: NEW.so's file name names the
module).  Each is loaded under its own module object, and
its ``front`` (src/_front.h) makes the public functions' C fronts of every
measure (kl_ext.js_distance's square root and kl_ext.compat.jensenshannon's
included), whose calls ``f(p)`` / ``f(p, q)`` are the public calls'
whole path.  Round by round, every front of both builds runs a timeit loop
of `--calls` calls, so both share the machine's noise; the table shows the
minimum over the rounds of ns per call, OLD / NEW: on a shared machine the
minimum is the repeatable figure (medians move with the other processes).
``(empty call)`` is ``id(p)``, the timing loop and one C call.
"""
import argparse
import importlib.util
import os
import timeit

import numpy as np

# (label, measure code of f(p) or -1, code of f(p, q) or -1, post); codes of
# kl_ext/_table.py, post as in src/_front.h (1: sqrt, 2: SciPy's sqrt)
FRONTS = [("entropy", 0, -1, 0), ("cross_entropy", -1, 1, 0), ("kl_divergence", -1, 2, 0),
          ("total_variation", -1, 4, 0), ("js_divergence", -1, 3, 0),
          ("js_distance", -1, 3, 1), ("hellinger_distance", -1, 6, 0),
          ("jeffreys_divergence", -1, 7, 0), ("compat.jensenshannon", -1, 3, 2)]


def load(path, name):
    """The extension module `name` (e.g. _divergence_v4) built at path."""
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--n", type=int, default=10, help="elements per array (10)")
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    ap.add_argument("--rounds", type=int, default=40, help="timed rounds (40)")
    ap.add_argument("--calls", type=int, default=5000, help="calls per loop (5000)")
    a = ap.parse_args(argv)
    name = os.path.basename(a.new).split(".")[0]  # OLD.so may be renamed
    mods = [load(a.old, name), load(a.new, name)]
    rng = np.random.default_rng(20240229)
    p = rng.random(a.n) + 0.01
    q = rng.random(a.n) + 0.01
    p = (p / p.sum()).astype(a.dtype)
    q = (q / q.sum()).astype(a.dtype)
    timers = {("(empty call)", v): timeit.Timer("f(p)", globals={"f": id, "p": p})
              for v in (0, 1)}
    for label, c1, c2, post in FRONTS:
        for v, mod in enumerate(mods):
            f = mod.front(print, c1, c2, post)
            stmt = "f(p)" if c1 >= 0 else "f(p, q)"
            timers[label, v] = timeit.Timer(stmt, globals={"f": f, "p": p, "q": q})
    best = dict.fromkeys(timers, float("inf"))
    for t in timers.values():  # warm up
        t.timeit(1000)
    for r in range(a.rounds):
        order = list(timers) if r % 2 == 0 else list(reversed(timers))
        for k in order:
            best[k] = min(best[k], timers[k].timeit(a.calls) / a.calls * 1e9)
    print(f"n = {a.n}, {a.dtype}: min over {a.rounds} rounds of ns per call")
    print(f"{'function':24s} {'old':>8s} {'new':>8s} {'new-old':>8s}")
    for label in dict.fromkeys(k[0] for k in timers):
        o, n = best[label, 0], best[label, 1]
        print(f"{label:24s} {o:8.1f} {n:8.1f} {n - o:+8.1f}")


if __name__ == "__main__":
    main()
