"""pytest-benchmark suite for the 1-D Wasserstein distance (order 1): kl_ext
(1 and 2 OpenMP threads), kl_ext.reference_wasserstein, SciPy
(``scipy.stats.wasserstein_distance``) and POT (``ot.wasserstein_1d``), on the
same seeded inputs.

Cases: samples n = m = 1e3 and 1e6, unweighted, weighted (weights summing to
1: POT does not normalise) and pre-sorted (kl_ext gets ``assume_sorted=True``
and POT ``require_sort=False``; the reference and SciPy sort anyway); and
``hist``: 1e4 pairs of 100-bin histograms on the support 0, 1, ..., 99 in one
call (the reference and SciPy have no batched form, so theirs is a Python
loop over the rows; POT is one batched call over the columns of the
transposed arrays).  Run with ``pytest benchmarks --benchmark-only`` (see
README.md).
"""

import contextlib
import functools

import numpy as np
import pytest

SEED = 20240229
CASES = [("1e3", "unweighted"), ("1e3", "weighted"), ("1e3", "pre-sorted"),
         ("1e6", "unweighted"), ("1e6", "weighted"), ("1e6", "pre-sorted"),
         ("1e4x100", "hist")]
COMPETITORS = ["kl_ext-t1", "kl_ext-t2", "reference", "scipy", "pot"]
CENTERS = np.arange(100.0)


@functools.lru_cache(maxsize=2)
def make_inputs(size, kind):
    """Seeded read-only inputs of one case, built once."""
    rng = np.random.default_rng(SEED)
    if kind == "hist":
        a = rng.random((10_000, 100)) + 1e-3
        b = rng.random((10_000, 100)) + 1e-3
        out = (a / a.sum(axis=1, keepdims=True), b / b.sum(axis=1, keepdims=True))
    else:
        n = int(float(size))
        u = rng.normal(0.0, 1.0, n)
        v = rng.normal(0.5, 1.5, n)
        if kind == "pre-sorted":
            u.sort()
            v.sort()
        out = (u, v)
        if kind == "weighted":
            a = rng.random(n) + 1e-3
            b = rng.random(n) + 1e-3
            out = (u, v, a / a.sum(), b / b.sum())
    for x in out:
        x.flags.writeable = False
    return out


def _func(competitor, kind):
    """fn(*inputs) of one competitor, or None where it is not installed."""
    if competitor.startswith("kl_ext"):
        from kl_ext import wasserstein as w
        if kind == "hist":
            return w.wasserstein_hist
        if kind == "pre-sorted":
            return lambda u, v: w.wasserstein_1d(u, v, assume_sorted=True)
        return w.wasserstein_1d
    if competitor == "reference":
        from kl_ext import reference_wasserstein as rw
        if kind == "hist":
            return lambda a, b: np.array([rw.wasserstein_hist(x, y) for x, y in zip(a, b)])
        return rw.wasserstein_1d
    if competitor == "scipy":
        try:
            from scipy.stats import wasserstein_distance
        except ImportError:
            return None
        if kind == "hist":
            return lambda a, b: np.array([wasserstein_distance(CENTERS, CENTERS, x, y)
                                          for x, y in zip(a, b)])
        return wasserstein_distance
    try:
        import ot
    except ImportError:
        return None
    if kind == "hist":
        grid = np.broadcast_to(CENTERS[:, None], (100, 10_000))
        return lambda a, b: ot.wasserstein_1d(grid, grid, a.T, b.T, p=1, require_sort=False)
    return lambda *x: ot.wasserstein_1d(*x, p=1, require_sort=kind != "pre-sorted")


def _threads(competitor):
    if not competitor.startswith("kl_ext-t"):
        return contextlib.nullcontext()
    threadpoolctl = pytest.importorskip(
        "threadpoolctl", reason="threadpoolctl is needed to set kl_ext's thread count")
    return threadpoolctl.threadpool_limits(limits=int(competitor[len("kl_ext-t"):]),
                                           user_api="openmp")


@pytest.mark.parametrize("size, kind", CASES, ids=[f"{s}-{k}" for s, k in CASES])
@pytest.mark.parametrize("competitor", COMPETITORS)
def test_wasserstein(benchmark, size, kind, competitor):
    pytest.importorskip("kl_ext.wasserstein")
    fn = _func(competitor, kind)
    if fn is None:
        pytest.skip(f"{competitor} is not installed")
    args = make_inputs(size, kind)
    benchmark.group = f"wasserstein {size} {kind}"
    benchmark.extra_info.update(measure="wasserstein", size=size, kind=kind,
                                competitor=competitor)
    with _threads(competitor):
        result = benchmark(fn, *args)
    want = _func("kl_ext", kind)(*args)
    np.testing.assert_allclose(np.asarray(result, dtype=np.float64), want, rtol=1e-9,
                               atol=1e-12)
