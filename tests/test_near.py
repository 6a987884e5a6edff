"""Accuracy near p = q (issue 17, part 1): every discrete measure (and the
logit-based KL) within
1e-13 relative of exact arithmetic on the given float inputs, normalised
exactly, for rows a relative d = 1e-4 ... 1e-13 apart and for proportional
rows (q = fl(3 p), exact divergence ~1e-33; q = 4 p, exactly 0); float32
input within one float32 rounding (2**-24 relative) of the exact value.

The reference is mpmath at 60 digits on the float values as given.  These
tests fail when the kernels' exact-difference path (src/_divergence.pyx,
near_term/near_value and fin_kl's double-double sums) is removed: the plain
normalisation loses ~eps/d relative (1e-4 at d = 1e-13, and every digit for
fl(3 p)).
"""

import math

import numpy as np
import pytest

import kl_ext
from kl_ext import _cpu

mpmath = pytest.importorskip("mpmath")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

PAIR = ["kl_divergence", "js_divergence", "js_distance", "total_variation",
        "hellinger_distance", "jeffreys_divergence"]
# compare's fields and the measure each equals
FIELDS = {"kl_pq": "kl_divergence", "kl_qp": "kl_qp", "js_divergence": "js_divergence",
          "js_distance": "js_distance", "total_variation": "total_variation",
          "hellinger_distance": "hellinger_distance",
          "jeffreys_divergence": "jeffreys_divergence"}
TOL = {np.float64: 1e-13, np.float32: 2.0 ** -24 + 1e-13}


def exact(p, q):
    """Every measure of the exact values of float rows p, q, normalised
    exactly (mpmath, 60 digits)."""
    with mpmath.workdps(60):
        P = [mpmath.mpf(float(x)) for x in np.asarray(p, np.float64)]
        Q = [mpmath.mpf(float(x)) for x in np.asarray(q, np.float64)]
        sp, sq = mpmath.fsum(P), mpmath.fsum(Q)
        a = [x / sp for x in P]
        b = [y / sq for y in Q]
        kl = mpmath.fsum(x * mpmath.log(x / y) for x, y in zip(a, b) if x)
        klq = mpmath.fsum(y * mpmath.log(y / x) for x, y in zip(a, b) if y)
        js = mpmath.fsum((x * mpmath.log(2 * x / (x + y)) if x else 0)
                         + (y * mpmath.log(2 * y / (x + y)) if y else 0)
                         for x, y in zip(a, b)) / 2
        return {"kl_divergence": kl, "kl_qp": klq, "js_divergence": js,
                "js_distance": mpmath.sqrt(js),
                "total_variation": mpmath.fsum(abs(x - y) for x, y in zip(a, b)) / 2,
                "hellinger_distance": mpmath.sqrt(mpmath.fsum(
                    (mpmath.sqrt(x) - mpmath.sqrt(y)) ** 2 for x, y in zip(a, b)) / 2),
                "jeffreys_divergence": kl + klq}


def check(value, ref, dtype, what):
    value = float(value)
    if abs(ref) < 1e-50:  # 0 up to the reference's own rounding (60 digits)
        ref = 0
    if ref == 0:
        assert value == 0.0, what
        return
    err = float(abs(mpmath.mpf(value) - ref) / ref)
    assert err <= TOL[dtype], f"{what}: relative error {err:.3g} (exact {float(ref):.6g})"


def rows(n, d, dtype, seed, mode):
    """p (entries in [1/64, 1)) and q = p (1 + d noise), fl(3 p) or 4 p."""
    rng = np.random.default_rng(seed)
    p = (rng.random(n) * 0.984375 + 0.015625).astype(dtype)
    if mode == "fl3":
        q = p * dtype(3)
    elif mode == "x4":
        q = p * dtype(4)
    else:
        q = (p * (1 + d * rng.standard_normal(n))).astype(dtype)
    return p, q


near_rows = st.builds(
    lambda n, e, seed, mode: (n, 10.0 ** -e, seed, mode),
    st.integers(1, 80), st.floats(4, 13), st.integers(0, 2**32 - 1),
    st.sampled_from(["near", "near", "near", "fl3", "x4"]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=25)
@given(case=near_rows)
def test_measures_near_equal_rows_match_mpmath(dtype, case):
    n, d, seed, mode = case
    p, q = rows(n, d, dtype, seed, mode)
    ref = exact(p, q)
    for name in PAIR:
        check(getattr(kl_ext, name)(p, q), ref[name], dtype, f"{name} {mode} d={d:.3g} n={n}")
    c = kl_ext.compare(p, q)
    for field, name in FIELDS.items():
        check(getattr(c, field), ref[name], dtype, f"compare.{field} {mode} d={d:.3g} n={n}")


@pytest.mark.parametrize("d", [1e-4, 1e-7, 1e-10, 1e-13, "fl3"])
@pytest.mark.parametrize("n", [7, 500, 1500])
def test_issue_table_rows(d, n):
    # the issue's table (p of 500 entries) and the short-row and multi-block
    # paths; 2-D batches of short rows run the tiled kernels
    mode = "fl3" if d == "fl3" else "near"
    p, q = rows(n, 0.0 if d == "fl3" else d, np.float64, n, mode)
    ref = exact(p, q)
    for name in PAIR:
        check(getattr(kl_ext, name)(p, q), ref[name], np.float64, f"{name} n={n} d={d}")
        if n <= 64:
            batch = getattr(kl_ext, name)(np.stack([p, p, p]), np.stack([q, q, q]))
            for v in batch:
                check(v, ref[name], np.float64, f"{name} 2-D n={n} d={d}")


def test_proportional_rows():
    p, q = rows(500, 0.0, np.float64, 3, "x4")
    for name in PAIR:
        assert getattr(kl_ext, name)(p, q) == 0.0, name
    p, q = rows(500, 0.0, np.float64, 3, "fl3")
    ref = exact(p, q)
    assert 1e-35 < ref["kl_divergence"] < 1e-31
    for name in PAIR:
        v = getattr(kl_ext, name)(p, q)
        assert v > 0.0, name
        check(v, ref[name], np.float64, name)


def test_near_path_is_independent_of_threads_and_tiers(monkeypatch):
    # a long row (3 pieces of 65536) in the near regime: the same value on
    # 1 and 2 threads, bit for bit, and in every CPU tier to rounding
    from kl_ext._table import MEASURES
    rng = np.random.default_rng(11)
    n = 3 * 65536 + 17
    p = rng.random(n)
    q = p * (1 + 1e-11 * rng.standard_normal(n))
    codes = [m.code for m in MEASURES if m.name in PAIR and m.name != "js_distance"]
    vals = {}
    for tier in _cpu.available_tiers("kl_ext._divergence"):
        mod = __import__(_cpu._module("kl_ext._divergence", tier), fromlist=["x"])
        for code in codes:
            one = mod.one(code, p, q, True, 1)
            two = mod.one(code, p, q, True, 2)
            assert one == two, (tier, code)
            vals.setdefault(code, []).append(one[0])
    for code, v in vals.items():
        assert max(v) - min(v) <= 1e-14 * max(v), (code, v)


def exact_logits_kl(a, b, temperature):
    """KL(softmax(a/T) || softmax(b/T)) of the exact float values (mpmath)."""
    with mpmath.workdps(60):
        T = mpmath.mpf(float(temperature))
        A = [mpmath.mpf(float(x)) / T for x in np.asarray(a, np.float64)]
        B = [mpmath.mpf(float(x)) / T for x in np.asarray(b, np.float64)]
        la = mpmath.log(mpmath.fsum(mpmath.exp(x) for x in A))
        lb = mpmath.log(mpmath.fsum(mpmath.exp(x) for x in B))
        return mpmath.fsum(mpmath.exp(x - la) * ((x - la) - (y - lb)) for x, y in zip(A, B))


near_logits = st.builds(
    lambda n, e, seed, shift, t: (n, 10.0 ** -e, seed, shift, t),
    st.integers(1, 80), st.floats(4, 13), st.integers(0, 2**32 - 1),
    st.sampled_from([0.0, 0.0, 5.0, -37.25]), st.sampled_from([1.0, 0.7, 2.5]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=25)
@given(case=near_logits)
def test_logits_kl_near_equal_rows_match_mpmath(dtype, case):
    # b = a + shift + d noise (logits are defined up to a shift); 1-D rows,
    # and a batch of 8 equal rows (the kernels' 8-row short-row path)
    import kl_ext.logits as lg
    n, d, seed, shift, t = case
    rng = np.random.default_rng(seed)
    a = (3 * rng.standard_normal(n)).astype(dtype)
    b = (a + shift + d * rng.standard_normal(n)).astype(dtype)
    ref = exact_logits_kl(a, b, t)
    what = f"n={n} d={d:.3g} shift={shift} T={t}"
    check(lg.kl_divergence_logits(a, b, temperature=t), ref, dtype, what)
    for v in lg.kl_divergence_logits(np.stack([a] * 8), np.stack([b] * 8), temperature=t):
        check(v, ref, dtype, "8 rows " + what)
