"""pytest-benchmark suite: every measure × dtype × size × layout × threads, for
kl_ext (1 and 2 OpenMP threads), kl_ext.reference, SciPy and NumKong, on the
same seeded inputs.

Each group (one measure, dtype and case) holds the competitors timed on the
same arrays, so ``pytest-benchmark compare`` and the group tables show their
ratios.  Threads apply to kl_ext only (``kl_ext-t1``, ``kl_ext-t2``: the
call runs inside ``threadpoolctl.threadpool_limits(N, user_api="openmp")``;
kl_ext uses OpenMP for calls with >= 131072 elements); the competitors are
single-threaded.  Not collected by plain ``pytest`` (testpaths are tests/
and kl_ext/); run with ``pytest benchmarks --benchmark-only`` (see
README.md).
"""

import warnings

import numpy as np
import pytest

import kl_ext
from kl_ext import reference
from kl_ext._table import BY_NAME, MEASURES as TABLE

MEASURES = [m.name for m in TABLE]
DTYPES = ["float64", "float32"]
# (layout, size tag)
CASES = [("pair", "10"), ("pair", "1e3"), ("pair", "1e5"), ("pair", "1e7"),
         ("rows", "1e5x10"), ("rows", "1e3x1e4"), ("broadcast", "1e5x10")]
COMPETITORS = ["kl_ext-t1", "kl_ext-t2", "reference", "scipy", "numkong"]
NUMKONG = ("kl_divergence", "js_divergence", "js_distance")
SCIPY = ("entropy", "cross_entropy", "kl_divergence", "js_divergence", "js_distance",
         "jeffreys_divergence")


def _scipy(measure, batched):
    """SciPy's version of `measure` as fn(p, q), or None where it has none."""
    if measure not in SCIPY:
        return None
    try:
        from scipy.spatial.distance import jensenshannon
        from scipy.stats import entropy
    except ImportError:
        return None
    kw = {"axis": 1} if batched else {}

    def lift(q):
        # jensenshannon wants q with the same ndim when axis is given;
        # a (1, n) view broadcasts without copying
        return q[np.newaxis] if batched and q.ndim == 1 else q

    return {
        "entropy": lambda p, q: entropy(p, **kw),
        "cross_entropy": lambda p, q: entropy(p, **kw) + entropy(p, lift(q), **kw),
        "kl_divergence": lambda p, q: entropy(p, lift(q), **kw),
        "js_divergence": lambda p, q: jensenshannon(p, lift(q), **kw) ** 2,
        "js_distance": lambda p, q: jensenshannon(p, lift(q), **kw),
        "jeffreys_divergence": lambda p, q: (entropy(p, lift(q), **kw)
                                             + entropy(lift(q), p, **kw)),
    }[measure]


def _numkong(measure):
    """NumKong's version (KL, JS; it does not normalise), or None."""
    try:
        import numkong as nk
    except ImportError:
        return None
    if measure == "kl_divergence":
        return nk.kullbackleibler
    if measure == "js_distance":
        return nk.jensenshannon
    return lambda p, q: np.square(nk.jensenshannon(p, q))   # JS divergence


def _func(competitor, measure, batched):
    if competitor == "scipy":
        return _scipy(measure, batched)
    if competitor == "numkong":
        return _numkong(measure)
    fn = getattr(kl_ext if competitor.startswith("kl_ext") else reference, measure)
    if not BY_NAME[measure].takes_q:
        return lambda p, q: fn(p)
    return fn


def _params():
    for measure in MEASURES:
        for dtype in DTYPES:
            for layout, size in CASES:
                if not BY_NAME[measure].takes_q and layout == "broadcast":
                    continue  # entropy has no q: same as "rows"
                for comp in COMPETITORS:
                    if comp == "scipy" and measure not in SCIPY:
                        continue
                    if comp == "numkong" and measure not in NUMKONG:
                        continue
                    yield pytest.param(measure, dtype, layout, size, comp,
                                       id=f"{measure}-{dtype}-{layout}-{size}-{comp}")


def _threads(competitor):
    """Context limiting kl_ext's OpenMP threads for kl_ext-tN (skip without threadpoolctl)."""
    import contextlib
    if not competitor.startswith("kl_ext-t"):
        return contextlib.nullcontext()
    threadpoolctl = pytest.importorskip(
        "threadpoolctl", reason="threadpoolctl is needed to set kl_ext's thread count")
    return threadpoolctl.threadpool_limits(limits=int(competitor[len("kl_ext-t"):]),
                                           user_api="openmp")


@pytest.mark.parametrize("measure, dtype, layout, size, competitor", list(_params()))
def test_measure(benchmark, inputs, measure, dtype, layout, size, competitor):
    p, q = inputs
    fn = _func(competitor, measure, batched=layout != "pair")
    if fn is None:
        pytest.skip(f"{competitor} is not installed")
    benchmark.group = f"{measure} {dtype} {layout} {size}"
    benchmark.extra_info.update(measure=measure, dtype=dtype, layout=layout, size=size,
                                competitor=competitor)
    with np.errstate(all="ignore"), _threads(competitor) as limits:
        if limits is not None:
            from kl_ext import measures
            benchmark.extra_info["threads"] = measures._k.max_threads()
        result = benchmark(fn, p, q)
    # every competitor must compute the same thing (a wrong benchmark is worse than none)
    want = np.asarray(_func("reference", measure, layout != "pair")(p, q), dtype=np.float64)
    got = np.asarray(result, dtype=np.float64)
    with np.errstate(all="ignore"):
        rel = float(np.max(np.abs(got - want) / np.abs(want)))
    benchmark.extra_info["rel_diff_vs_reference"] = rel
    if competitor == "numkong" or (competitor == "scipy" and dtype == "float32"):
        # NumKong (float32 accumulation, an epsilon in the logarithms) and SciPy
        # in float32 (it computes in float32) are known to be inaccurate: record
        # and show it, do not fail the benchmark
        if not rel <= 1e-6:
            warnings.warn(f"{competitor} {measure} {dtype} {layout} {size}: relative "
                          f"difference from the reference {rel:.2g}", stacklevel=1)
        return
    rtol = 1e-5 if dtype == "float32" or competitor == "scipy" else 1e-9
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-12)
