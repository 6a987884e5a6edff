"""kl_ext.report.compare against calling the individual functions.

Plain script (not collected by pytest-benchmark):

    python benchmarks/bench_compare.py [--repeat 7]

For each shape, times ``compare(p, q)`` and the ten fields computed by the
individual functions (entropy twice, cross_entropy, kl_divergence twice --
kl_mean and kl_min derived from those --, js_divergence, js_distance from
it, total_variation), best of `repeat` runs of an auto-sized loop, on the
same seeded float64 inputs, and checks that both give the same values.
Prints the ratio (individual / compare: > 1 means compare is faster).
"""

import argparse
import timeit

import numpy as np

import kl_ext
from kl_ext.measures import CPU_TIER
from kl_ext.report import compare


def individual(p, q):
    hp = kl_ext.entropy(p)
    hq = kl_ext.entropy(q)
    hpq = kl_ext.cross_entropy(p, q)
    dpq = kl_ext.kl_divergence(p, q)
    dqp = kl_ext.kl_divergence(q, p)
    js = kl_ext.js_divergence(p, q)
    tv = kl_ext.total_variation(p, q)
    return (hp, hq, hpq, dpq, dqp, 0.5 * (dpq + dqp), np.minimum(dpq, dqp),
            js, np.sqrt(js), tv)


def best(fn, repeat):
    t = timeit.Timer(fn)
    number, _ = t.autorange()
    return min(t.repeat(repeat=repeat, number=number)) / number


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    shapes = [("n = 1e3", (1000,)), ("n = 1e6", (1_000_000,)),
              ("1e5 x 10", (100_000, 10)), ("1e3 x 1e3", (1000, 1000))]
    print(f"kl_ext {kl_ext.__version__}, CPU tier {CPU_TIER}, float64, "
          f"best of {args.repeat}")
    print(f"{'shape':<12}{'individual':>14}{'compare':>14}{'ratio':>8}")
    for label, shape in shapes:
        p = rng.random(shape)
        q = rng.random(shape)
        got, want = compare(p, q), individual(p, q)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-12)
        t_ind = best(lambda: individual(p, q), args.repeat)
        t_cmp = best(lambda: compare(p, q), args.repeat)
        print(f"{label:<12}{t_ind * 1e3:>11.3f} ms{t_cmp * 1e3:>11.3f} ms"
              f"{t_ind / t_cmp:>7.2f}x")


if __name__ == "__main__":
    main()
