"""float32 rows read in place by the vector kernels (kl_fused_*_f32, _vmath.h).

Contiguous float32 rows are widened to float64 in registers, block by block,
instead of through a float64 copy.  The widening is exact and the terms are
the float64 ones, so every measure of a float32 row must equal, bit for bit,
the float32 rounding of the same measure of the row cast to float64 (whose
blocks take the float64 loops), in every tier, including rows whose blocks
hold zeros, -0.0, NaN, inf or negative entries (the float-bit domain test
and its fallback), and lengths that leave tails of 1..7 elements.  Adversarial
rows are also checked against exact values (kl_ext.accuracy.exact_measures):
the float32 guarantee is one float32 rounding, relative error <= 1e-7.
"""

import importlib

import numpy as np
import pytest

import kl_ext
from kl_ext import _cpu, measures
from kl_ext.accuracy import exact_measures

TIERS = _cpu.available_tiers("kl_ext._divergence")
NAMES = ["entropy", "cross_entropy", "kl_divergence", "js_divergence",
         "jeffreys_divergence", "total_variation", "hellinger_distance"]


def _call(name, p, q, normalize):
    fn = getattr(kl_ext, name)
    try:
        with np.errstate(all="ignore"):
            if name == "entropy":
                return fn(p, normalize=normalize)
            return fn(p, q, normalize=normalize)
    except ValueError as exc:
        return type(exc)


def _rows():
    rng = np.random.default_rng(1414)
    for n in (9, 16, 17, 100, 512, 519, 1030, 4101):
        p = rng.random(n).astype(np.float32)
        q = rng.random(n).astype(np.float32)
        yield p, q
        z = p.copy()
        z[rng.random(n) < 0.3] = 0.0
        yield z, q
        yield q, z
        yield p, (p * np.float32(1 + 1e-3)).astype(np.float32)  # near p = q
        yield p * np.float32(3e30), q * np.float32(1e-30)  # extreme sums
        t = p.copy()
        t[: n // 2] = np.float32(1e-44)  # float32 subnormals: inside the domain
        yield t, q
    base = rng.random(1100).astype(np.float32)
    for special in (np.nan, np.inf, -1.0, -0.0, 0.0):
        for pos in (0, 7, 515, 1099):
            p = base.copy()
            p[pos] = special
            yield p, base[::-1].copy()
            yield base[::-1].copy(), p


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("name", NAMES)
def test_float32_rows_equal_the_float64_path(monkeypatch, tier, normalize, name):
    monkeypatch.setattr(measures, "_k", importlib.import_module(
        _cpu._module("kl_ext._divergence", tier)))
    for p, q in _rows():
        got = _call(name, p, q, normalize)
        want = _call(name, p.astype(np.float64), q.astype(np.float64), normalize)
        if isinstance(want, type):
            assert got is want, (name, p, q)
            continue
        assert np.asarray(got).dtype == np.float32
        want = np.float32(want)
        assert (got == want) or (np.isnan(got) and np.isnan(want)), (name, p, q, got, want)


def _adversarial():
    rng = np.random.default_rng(77)
    n = 3000
    p = rng.random(n).astype(np.float32)
    yield p, (p * (1 + 1e-4 * rng.standard_normal(n))).astype(np.float32)  # near
    yield p, np.nextafter(p, np.float32(2)).astype(np.float32)  # one ulp apart
    w = np.exp(rng.uniform(-80, 80, n)).astype(np.float32)  # wide dynamic range
    yield w, np.roll(w, 1)
    d = np.full(n, 1e-30, np.float32)
    d[0] = 1.0  # one dominant entry
    yield d, np.roll(d, 7)


@pytest.mark.parametrize("name", ["entropy", "kl_divergence", "js_divergence",
                                  "cross_entropy"])
def test_float32_adversarial_rows_within_1e_7_of_exact(name):
    for p, q in _adversarial():
        exact = float(exact_measures(p, q, measures=[name])[name])
        got = float(_call(name, p, q, True))
        assert abs(got - exact) <= 1e-7 * abs(exact), (name, got, exact)
