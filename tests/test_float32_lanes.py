"""float32 rows read in place by the vector kernels (kl_fused_*_f32, _vmath.h).

Contiguous float32 rows are widened to float64 in registers, block by block,
instead of through a float64 copy.  The widening is exact and the terms are
the float64 ones (except the v4 tier's KL, whose float32 lanes have their own
shorter term, OWN_F32_TERMS: there the float32 result is the float64 path's
or the float32 next to it), so every measure of a float32 row must equal, bit
for bit, the float32 rounding of the same measure of the row cast to float64
(whose blocks take the float64 loops), in every tier, including rows whose blocks
hold zeros, -0.0, NaN, inf or negative entries (the float-bit domain test
and its fallback), and lengths that leave tails of 1..7 elements.  Adversarial
rows are also checked against exact values (kl_ext.accuracy.exact_measures):
the float32 guarantee is one float32 rounding, relative error <= 1e-7.
"""

import importlib
import itertools
import math

import numpy as np
import pytest

import kl_ext
from kl_ext import _cpu, measures
from kl_ext.accuracy import exact_measures

TIERS = _cpu.available_tiers("kl_ext._divergence")
# measures whose float32 lanes have their own term in a tier (v4:
# kl_v8term_kl_f32, kl_v8term_js_f32, _vmath.h): no longer bit for bit the
# float64 path's
OWN_F32_TERMS = {"v4": {"kl_divergence", "js_divergence"}}
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
        if name in OWN_F32_TERMS.get(tier, ()) and np.isfinite(want) and got != want:
            # the float32 rounding of a value within ~2e-8 of the float64
            # path's: the same float32 or the one next to it
            assert abs(float(got) - float(want)) <= float(np.spacing(abs(want))), (name, got, want)
            continue
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


# ---- the float32 lanes' own KL term (v4: kl_v8term_kl_f32, a 4-coefficient
# polynomial on a reduction read off the float bits; ~1e-9 per term, no longer
# the float64 lanes' bits) against mpmath on adversarial rows ----

def _bits(x):
    return np.asarray(x, np.float32).view(np.int32)


def _from_bits(b):
    return np.asarray(b, np.int32).view(np.float32)


def _f32_rows():
    """(label, p, q, multiplicity or None): float32 rows aimed at the float32
    lanes: p ~ q within 1-4 ulps, ratios at the switch points of the bit
    reduction (b(q) - b(p) = +-2^22, +-3 2^22, +-5 2^22, each +-1 ulp), at
    |s| = 1/5 and at the worst ratio of the polynomial (p/q ~ 2^+-0.415),
    the edges of its domain (2^-125, 2^126) and beyond it (float32 subnormals,
    2^-126, FLT_MAX), long rows, and rows whose one-pass forms cancel."""
    rng = np.random.default_rng(2024)
    n = 1024
    p = (rng.random(n) + 0.5).astype(np.float32) * np.float32(2.0) ** rng.integers(-40, 40, n).astype(np.float32)
    ulps = rng.choice([-4, -2, -1, 1, 2, 4], n)
    yield "ulps", p, _from_bits(_bits(p) + ulps), None
    offs = np.array([s * (m << 22) + d for s in (-1, 1) for m in (1, 3, 5) for d in (-1, 0, 1)])
    qb = _bits(p)[:, None] + offs[None, :]
    yield "switch", np.repeat(p, len(offs)), _from_bits(qb.ravel()), None
    # |s| = 1/5: pk's mantissa 1 (p a power of two), q's just under 1.5 x it
    e = np.float32(2.0) ** rng.integers(-60, 60, n).astype(np.float32)
    q15 = _from_bits(_bits(e) + 0x3FFFFF)
    yield "s=1/5", np.concatenate([e, q15]), np.concatenate([q15, e]), None
    # the polynomial's worst ratios and a sweep through the kk = 0 / +-1 band
    r = np.float32(2.0) ** rng.uniform(-0.6, 0.6, n).astype(np.float32)
    yield "band", p, (p * r).astype(np.float32), None
    # the domain's edges and beyond (the blocks outside it take the float64 lanes)
    lo, hi = np.float32(2.0 ** -125), np.float32(2.0 ** 126)
    edge = np.array([lo, lo * 1.5, hi, hi * 1.25, 2.0 ** -126, 1e-45, 1e-40, 5e-39,
                     np.finfo(np.float32).max, 3e38, 1.0, 0.0], np.float32)
    a = np.tile(edge, len(edge))
    b = np.repeat(edge, len(edge))
    keep = ~((a > 0) & (b == 0))  # KL infinite there: a separate convention
    yield "edges", a[keep], b[keep], None
    yield "subnormal", np.full(64, 1e-45, np.float32) * np.arange(1, 65, dtype=np.float32), \
        np.full(64, 3e-42, np.float32), None
    # a long row: the "band" row 512 times (1 << 19 entries), exact with multiplicities
    pb, qbb = p, (p * r).astype(np.float32)
    yield "long", np.tile(pb, 512), np.tile(qbb, 512), (pb, qbb, np.full(n, 512))
    # cancelling one-pass forms: the worst-ratio pairs (kk = +-1, |s| = 1/5)
    # mixed with pairs that move the sums apart
    w = np.float32(1.3336)
    for frac in (0.02, 0.2, 0.5):
        m = int(n * frac)
        a = np.concatenate([p[m:], p[:m]])
        b = np.concatenate([(p[m:] / w).astype(np.float32), (p[:m] * np.float32(3.0)).astype(np.float32)])
        yield f"cancel{frac}", a, b, None
        yield f"cancel{frac}'", b, a, None


def _worst_pairs(rng, n, side):
    """n float32 pairs at the short polynomial's worst point: |s| = 1/5 where
    the direct form cancels most, p/q = 4/3 with kk = -1 (side 1: p's
    mantissa just under 2, b(q) - b(p) = -2^22 - 1) or p/q = 3/4 with
    kk = 1 (side -1: p's mantissa just under 1.5, b(q) - b(p) = 2^22 + 1)."""
    e = rng.integers(100, 110, n).astype(np.int32) << 23
    j = rng.integers(0, 1024, n).astype(np.int32)
    if side > 0:
        pb = e | (0x7FFFFF - j)
        return _from_bits(pb), _from_bits(pb - 0x400001)
    pb = e | (0x3FFFFF - j)
    return _from_bits(pb), _from_bits(pb + 0x400001)


def _amplifying_rows():
    """Normalised KL rows whose one-pass value x = T/sp + g (g = log1p(d) -
    d, d = (sq - sp)/sp) is ~7 times smaller than T/sp while |g| <= 6x < 8x
    (CANCEL: no second pass), T/sp coming from _worst_pairs: the term error
    of the float32 lanes reaches the result ~7-fold."""
    rng = np.random.default_rng(515)
    for side, w in ((1, 0.138), (-1, 0.2)):
        a, b = _worst_pairs(rng, 768, side)
        c = (rng.random(256) + 0.5).astype(np.float32)  # p = q: adds to the sums only
        c *= np.float32(w * a.astype(np.float64).sum() / c.astype(np.float64).sum())
        yield f"amplify{side}", np.concatenate([a, c]), np.concatenate([b, c]), None


def _exact_unnormalised_kl(p, q, mult):
    import mpmath
    with mpmath.workprec(160):
        t = mpmath.mpf(0)
        for a, b, c in zip(p.tolist(), q.tolist(), mult.tolist()):
            if a > 0:
                t += c * mpmath.mpf(a) * mpmath.log(mpmath.mpf(a) / mpmath.mpf(b))
        return t


@pytest.mark.parametrize("tier", TIERS)
def test_float32_kl_js_adversarial_rows_against_mpmath(monkeypatch, tier):
    """float32 KL (both normalisations), JS and JS distance within 1e-7 of the
    exact value (mpmath) on _f32_rows, in every tier: the guarantee of the
    float32 lanes' short polynomial (1.6e-9 per term, see kl_v8term_kl_f32)
    plus one float32 rounding (6e-8).  The KL polynomial one coefficient
    shorter (benchmarks/f32_poly.py --nc 3: 1.3e-7 per term) fails it (on
    the amplifying rows); so does a JS polynomial of 2 coefficients (its
    3-coefficient one, ~2e-8 per term, would still meet the bound: JS has
    no cancellation to amplify it)."""
    monkeypatch.setattr(measures, "_k", importlib.import_module(
        _cpu._module("kl_ext._divergence", tier)))
    for label, p, q, ex in itertools.chain(_f32_rows(), _amplifying_rows()):
        ep, eq, mult = ex if ex is not None else (p, q, np.ones(len(p), np.int64))
        exact = exact_measures(ep, eq, mult, measures=["kl_divergence", "js_divergence"])
        cases = [("kl", kl_ext.kl_divergence(p, q), exact["kl_divergence"]),
                 ("js", kl_ext.js_divergence(p, q), exact["js_divergence"]),
                 ("jsd", kl_ext.js_distance(p, q), exact["js_divergence"] ** 0.5)]
        if not np.any((p > 0) & (q == 0)):
            cases.append(("kl raw", kl_ext.kl_divergence(p, q, normalize=False),
                          _exact_unnormalised_kl(ep, eq, mult)))
        for what, got, want in cases:
            assert np.asarray(got).dtype == np.float32, (label, what)
            want = float(want)
            if abs(want) > 3.4028236e38:  # beyond float32: overflows to inf
                assert np.isinf(got) and (got > 0) == (want > 0), (tier, label, what, got)
                continue
            # (+ half a float32 subnormal step: a result below 2^-126 rounds
            # on that absolute grid)
            tol = 1e-7 * abs(want) + 2.0 ** -150
            assert abs(float(got) - want) <= tol, (tier, label, what, float(got), want)


# ---- the float32 lanes' own JS term (v4: kl_v8term_js_f32, reductions read
# off the float64 bits of the products, |s| <= 1/5) ----

def _js_switch_rows():
    """(label, p, q): float32 rows whose pairs sit at the switch points of
    kl_v8term_js_f32's reductions, each +-0..3 ulps: hi/lo = 3 and 7/3
    (2 hi/w 1.5 x a power of two above w's mantissa: ka's rounding,
    |sa| = 1/5), hi/lo = 2 and 9/5 (2 lo/w 2/3 of w: kb's rounding,
    |sb| = 1/5), 1 + sqrt 2 (the float64 term's switch), hi/lo up to 2^40
    (kb large), pairs 0-3 ulps apart (the direct form's cancellation),
    lo = 0 and p = q = 0 pairs.  p and q hold the same pairs swapped (q = B,
    A for p = A, B), so their sums are equal to rounding and the products
    keep these ratios to ~1 ulp of float64."""
    rng = np.random.default_rng(1914)
    n = 256
    scale = np.float32(2.0) ** rng.integers(-30, 30, n).astype(np.float32)
    ratios = [3.0, 7.0 / 3.0, 2.0, 1.8, 1.0 + 2.0 ** 0.5, 1.5, 1.0 + 2.0 ** -10, 1.0,
              17.0, 2.0 ** 20, 2.0 ** 40]
    for r in ratios:
        for unit in (1.0, 0.375, 0.625):  # lo's mantissa: w's and 2 lo's at the switches
            a = (scale * np.float32(unit)).astype(np.float32)
            b = (a * np.float32(r)).astype(np.float32)
            b = _from_bits(_bits(b) + rng.integers(-3, 4, n))
            yield f"js r={r:.6g} unit={unit}", np.concatenate([a, b]), np.concatenate([b, a])
    a = (rng.random(n) + 0.5).astype(np.float32)
    z = a.copy()
    z[::3] = 0.0  # lo = 0: J = hi ln 2
    z[1::7] = 0.0
    a2 = a.copy()
    a2[1::7] = 0.0  # p = q = 0 pairs
    yield "js zeros", a2, z


@pytest.mark.parametrize("tier", TIERS)
def test_float32_js_switch_rows_against_mpmath(monkeypatch, tier):
    """float32 JS (normalised and not) and JS distance within 1e-7 of mpmath
    on _js_switch_rows, in every tier.  Catches kl_v8term_js_f32 without the
    half-step rounding of either reduction (|s| up to 1/3, beyond the
    polynomial's range), without its lo = 0 convention (J = hi ln 2), and
    with 2 sa dropped from log(2 hi/w).  The unnormalised rows of pairs a few
    ulps apart are the direct form's worst cancellation (~1e-8 per term)."""
    monkeypatch.setattr(measures, "_k", importlib.import_module(
        _cpu._module("kl_ext._divergence", tier)))
    for label, p, q in _js_switch_rows():
        ones = np.ones(len(p), np.int64)
        exact = float(exact_measures(p, q, ones, measures=["js_divergence"])["js_divergence"])
        cases = [("js", kl_ext.js_divergence(p, q), exact),
                 ("jsd", kl_ext.js_distance(p, q), exact ** 0.5)]
        if sorted(p.tolist()) == sorted(q.tolist()):
            # equal sums S: the unnormalised JS is S times the normalised one
            # (its products are the float32 entries themselves)
            cases.append(("js raw", kl_ext.js_divergence(p, q, normalize=False),
                          exact * math.fsum(p.astype(np.float64).tolist())))
        for what, got, want in cases:
            assert np.asarray(got).dtype == np.float32, (label, what)
            tol = 1e-7 * abs(want) + 2.0 ** -150
            assert abs(float(got) - want) <= tol, (tier, label, what, float(got), want)
