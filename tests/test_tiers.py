"""Every CPU tier of the kernels gives the same results and conventions.

kl_ext builds the divergence kernels for baseline x86-64, x86-64-v3 and
x86-64-v4 and picks one at import (kl_ext/_cpu.py).  Here each tier that
this machine can run is swapped in and compared with the baseline build on
inputs that exercise both the SIMD lanes (contiguous rows of >= 8 elements,
values in the vector domain) and every scalar fallback inside them (zeros,
NaN, inf, subnormals, huge values, negatives), in both dtypes.  CI also
runs the main test files once per tier (.ci/run, KL_EXT_CPU_TIER).
"""

import importlib
import math

import numpy as np
import pytest

import kl_ext
from kl_ext import _cpu, measures
from kl_ext._table import MEASURES

TIERS = _cpu.available_tiers("kl_ext._divergence")
NAMES = [m.name for m in MEASURES]  # entropy first (test_tier_batched_... skips it)


def _module(tier):
    return importlib.import_module(_cpu._module("kl_ext._divergence", tier))


def _use_tier(monkeypatch, tier):
    # the kernels of `tier` for every call of kl_ext.measures: _k (batches,
    # the general path) and _small (1-D calls, bound at import)
    mod = _module(tier)
    monkeypatch.setattr(measures, "_k", mod)
    monkeypatch.setattr(measures, "_small", mod.small)


def _fn(name):
    # the Python definition behind the public C front: a plain positional
    # 1-D call of the front runs the import-time tier's kernel in C
    fn = getattr(kl_ext, name)
    return getattr(fn, "__wrapped__", fn)


def test_baseline_is_always_available():
    assert "baseline" in TIERS
    assert measures.CPU_TIER in TIERS


def test_forcing_an_unknown_tier_is_an_import_error(monkeypatch):
    monkeypatch.setenv("KL_EXT_CPU_TIER", "v9")
    with pytest.raises(ImportError, match="KL_EXT_CPU_TIER"):
        _cpu.load("kl_ext._divergence")


def _inputs():
    rng = np.random.default_rng(20261122)
    cases = []
    for n in (1, 7, 8, 9, 16, 63, 64, 65, 257, 1000, 4099):
        p = rng.random(n)
        q = rng.random(n)
        cases.append((p, q))
        z = p.copy()
        z[rng.random(n) < 0.3] = 0.0
        cases.append((z, q))
        cases.append((p, z))
        cases.append((p, p * (1 + 1e-7 * rng.standard_normal(n))))  # drift
        cases.append((p * 1e6, q * 3.0))  # raw counts, unequal totals
    # special values inside an otherwise SIMD-friendly row of 40
    base = rng.random(40)
    for special in (np.nan, np.inf, 5e-324, 1e-310, 1e-200, 1e200, 1e308, 0.0):
        for pos in (0, 7, 8, 39):
            p = base.copy()
            p[pos] = special
            cases.append((p, base[::-1].copy()))
            cases.append((base[::-1].copy(), p))
    return cases


def _same(a, b, scale=1.0):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if np.isnan(a) or np.isnan(b):
        return bool(np.isnan(a) and np.isnan(b))
    if np.isinf(a) or np.isinf(b):
        return bool(a == b)
    # tiers sum in different orders and the SIMD terms round differently
    # (reciprocal instead of division): agreement to 1e-13 relative, or to
    # 1e-16 absolute for the tiny drift-case values (whose accuracy against
    # mpmath is tests/test_accuracy.py's business); unnormalised values carry
    # an absolute error of order eps * (sum p + sum q) in every tier
    return abs(a - b) <= 1e-13 * abs(b) + 4.5e-16 * scale


def _evaluate(name, p, q, normalize, dtype):
    fn = _fn(name)
    with np.errstate(all="ignore"):  # 1e200 overflows float32: inf, on purpose
        p = p.astype(dtype)
        q = q.astype(dtype)
    try:
        with np.errstate(all="ignore"):
            if name == "entropy":
                return fn(p, normalize=normalize)
            return fn(p, q, normalize=normalize)
    except ValueError as exc:
        return type(exc)


@pytest.mark.parametrize("tier", [t for t in TIERS if t != "baseline"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("name", NAMES)
def test_tier_agrees_with_baseline(monkeypatch, tier, dtype, normalize, name):
    cases = _inputs()
    _use_tier(monkeypatch, "baseline")
    want = [_evaluate(name, p, q, normalize, dtype) for p, q in cases]
    _use_tier(monkeypatch, tier)
    got = [_evaluate(name, p, q, normalize, dtype) for p, q in cases]
    for (p, q), g, w in zip(cases, got, want):
        if isinstance(w, type):
            assert g is w, (p, q)
        else:
            scale = 1.0 if normalize else 1.0 + np.nansum(np.abs(p)) + np.nansum(np.abs(q))
            assert _same(g, w, scale), (name, tier, p, q, g, w)
            assert np.asarray(g).dtype == np.asarray(w).dtype


@pytest.mark.parametrize("tier", TIERS)
def test_tier_batched_rows_and_broadcast_reference(monkeypatch, tier):
    _use_tier(monkeypatch, tier)
    rng = np.random.default_rng(3)
    p = rng.random((50, 37))
    q = rng.random(37)
    for name in NAMES[1:]:
        fn = _fn(name)
        want = np.array([fn(row, q) for row in p])
        np.testing.assert_allclose(fn(p, q), want, rtol=1e-14, atol=0)


@pytest.mark.parametrize("tier", TIERS)
def test_tier_keeps_exact_conventions(monkeypatch, tier):
    _use_tier(monkeypatch, tier)
    n = 24
    p = np.full(n, 1.0 / n)
    assert _fn("kl_divergence")(p, p) == 0.0
    assert _fn("total_variation")(p, p) == 0.0
    assert _fn("js_divergence")(p, p) == 0.0
    assert _fn("entropy")(p) == pytest.approx(math.log(n), rel=1e-15)
    q = p.copy()
    q[5] = 0.0
    assert _fn("kl_divergence")(p, q) == np.inf
    assert _fn("cross_entropy")(p, q) == np.inf
    r = np.zeros(n)
    r[0] = 1.0
    s = np.zeros(n)
    s[1] = 1.0
    assert _fn("js_divergence")(r, s, base=2) == 1.0
    assert _fn("total_variation")(r, s) == 1.0


@pytest.mark.parametrize("tier", TIERS)
def test_tier_js_and_tv_are_bitwise_symmetric(monkeypatch, tier):
    _use_tier(monkeypatch, tier)
    rng = np.random.default_rng(17)
    for n in (3, 8, 10, 12, 17, 100, 1000):  # 10, 12: the short rows' tails
        for _ in range(20):
            p = rng.random(n) * rng.choice([1.0, 7.0, 1e-3])
            q = rng.random(n)
            p[rng.random(n) < 0.2] = 0.0
            for name in ("js_divergence", "js_distance", "total_variation",
                         "hellinger_distance", "jeffreys_divergence"):
                fn = _fn(name)
                assert fn(p, q) == fn(q, p)


@pytest.mark.parametrize("tier", TIERS)
def test_tier_switch_reaches_one_row_calls(monkeypatch, tier):
    # the tests above compare tiers only if a 1-D call runs the tier it is
    # given: that tier's `small`, looked up at call time
    _use_tier(monkeypatch, tier)
    seen = []
    small = measures._small
    assert small.__module__ == _module(tier).__name__

    def spy(*args):
        seen.append(args[0])
        return small(*args)
    monkeypatch.setattr(measures, "_small", spy)
    p, q = np.array([0.2, 0.3, 0.5]), np.array([0.1, 0.6, 0.3])
    want, st = _module(tier).one(measures._KL, p, q, True)
    assert st == 0 and _fn("kl_divergence")(p, q) == want
    assert seen == [measures._KL]


WTIERS = _cpu.available_tiers("kl_ext._wasserstein")


@pytest.mark.parametrize("tier", [t for t in WTIERS if t != "baseline"])
def test_wasserstein_tier_agrees_with_baseline(monkeypatch, tier):
    from kl_ext import wasserstein as W
    rng = np.random.default_rng(23)
    u, v = rng.normal(size=(3, 257)), rng.normal(size=(3, 300))
    uw, vw = rng.random((3, 257)), rng.random((3, 300))
    P, Q = rng.random((41, 100)), rng.random(100)
    calls = [lambda: W.wasserstein_1d(u, v), lambda: W.wasserstein_1d(u, v, uw, vw),
             lambda: W.wasserstein_1d(u, v, order=2.5), lambda: W.wasserstein_1d(u, v, order=np.inf),
             lambda: W.wasserstein_hist(P, Q), lambda: W.wasserstein_hist(P, Q, order=2)]
    monkeypatch.setattr(W, "_k", importlib.import_module("kl_ext._wasserstein"))
    want = [c() for c in calls]
    monkeypatch.setattr(W, "_k", importlib.import_module(_cpu._module("kl_ext._wasserstein", tier)))
    for c, w in zip(calls, want):
        np.testing.assert_allclose(c(), w, rtol=1e-13, atol=1e-15)
