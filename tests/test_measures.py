"""kl_ext's divergence measures against kl_ext.reference and SciPy.

Covers: agreement over generated inputs (both dtypes, 1-D and batched,
every axis, broadcasting, zeros, unnormalised rows, normalize=False, base),
the dtype and shape rules, the conventions at zeros/NaN/inf/overflow/
subnormals, every error, and memory layouts (strided, transposed,
read-only, memory-mapped, unaligned, big-endian) including that inputs are
never modified.
"""

import math
import zlib

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import kl_ext
from kl_ext import reference as ref
from kl_ext._table import MEASURES

# the table of measures (kl_ext/_table.py) drives the parametrisation
ALL = [m.name for m in MEASURES]
PAIR = [m.name for m in MEASURES if m.takes_q]
HAS_BASE = [m.name for m in MEASURES if m.has_base]
DTYPES = [np.float64, np.float32]
# tolerance by dtype (scikit-learn's ASSERT_RESULT idea): float64 results
# are accumulated and rounded once; float32 results are float64 results
# rounded to float32, so they agree to a few float32 ulps.
TOL = {np.dtype(np.float64): dict(rtol=1e-12, atol=1e-14),
       np.dtype(np.float32): dict(rtol=1e-5, atol=1e-6)}
LN2 = math.log(2.0)


def call(mod, name, p, q=None, **kw):
    f = getattr(mod, name)
    return f(p, **kw) if name == "entropy" else f(p, q, **kw)


def tol(dtype):
    return TOL[np.dtype(dtype)]


def weights(rng, shape, dtype=np.float64, zeros=0.25, scale=1.0, axis=-1):
    """Non-negative weights with some exact zeros; no row along `axis` is all zero."""
    a = rng.random(shape) * scale
    a[rng.random(shape) < zeros] = 0.0
    first = [slice(None)] * len(shape)
    first[axis] = 0
    a[tuple(first)] += 0.5 * scale  # every row has a positive entry
    return a.astype(dtype)


# ---------------------------------------------------------------- agreement
# (p shape, q shape, axis): 1-D, batched along every axis, and broadcasting
# (one reference row against many, (a,1,n) against (1,b,n), a row against
# a column of reference rows).
LAYOUTS = [
    ((7,), (7,), -1),
    ((1,), (1,), 0),
    ((130,), (130,), 0),            # more than one 64-element block
    ((5, 7), (5, 7), -1),
    ((5, 7), (5, 7), 0),
    ((3, 4, 6), (3, 4, 6), 1),
    ((3, 4, 6), (3, 4, 6), 0),
    ((3, 4, 6), (3, 4, 6), -1),
    ((6, 9), (9,), -1),             # one reference row q against many p
    ((9,), (6, 9), 1),              # and the other way round
    ((3, 1, 8), (1, 4, 8), -1),     # (a,1,n) vs (1,b,n)
    ((8, 3), (8, 1), 0),            # broadcast along the non-reduced axis
    ((2, 3, 5), (5,), -1),
]


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pshape, qshape, axis", LAYOUTS)
@pytest.mark.parametrize("name", ALL)
def test_agrees_with_reference(name, pshape, qshape, axis, dtype, normalize):
    # crc32, not hash(): str hashes change with every process (PYTHONHASHSEED)
    rng = np.random.default_rng(zlib.crc32(repr((name, pshape, qshape, axis)).encode()))
    # unnormalised rows: counts of very different totals
    full = np.broadcast_shapes(pshape, qshape)
    if name == "entropy":  # one input: take the broadcast shape
        pshape = full
    neg = axis - len(full) if axis >= 0 else axis  # same axis counted from the end
    p = weights(rng, pshape, dtype, scale=50.0, axis=neg)
    q = weights(rng, qshape, dtype, scale=0.3, axis=neg)
    if name == "entropy":
        q = None
    got = call(kl_ext, name, p, q, axis=axis, normalize=normalize)
    want = call(ref, name, p, q, axis=axis, normalize=normalize)
    assert np.shape(got) == np.shape(want)
    assert np.asarray(got).dtype == dtype
    assert_allclose(got, want, **tol(dtype))


@pytest.mark.parametrize("base", [2, 10, 0.5, math.e, 3.7])
@pytest.mark.parametrize("name", HAS_BASE)
def test_base_agrees_with_reference(name, base):
    if name == "js_distance" and base < 1:
        pytest.skip("js_distance needs base > 1")
    rng = np.random.default_rng(7)
    p, q = weights(rng, (4, 11)), weights(rng, (11,))
    got = call(kl_ext, name, p, None if name == "entropy" else q, base=base)
    want = call(ref, name, p, None if name == "entropy" else q, base=base)
    assert_allclose(got, want, **tol(np.float64))
    nats = call(kl_ext, name, p, None if name == "entropy" else q)
    if name == "js_distance":
        assert_allclose(got, nats / math.sqrt(math.log(base)), rtol=1e-14)
    else:
        assert_allclose(got, nats / math.log(base), rtol=1e-14)


# --------------------------------------------------------------- vs SciPy
@pytest.fixture(scope="module")
def scipy_mods():
    stats = pytest.importorskip("scipy.stats")
    special = pytest.importorskip("scipy.special")
    distance = pytest.importorskip("scipy.spatial.distance")
    return stats, special, distance


SCIPY_CASES = [((9,), (9,), -1), ((5, 9), (5, 9), -1), ((9, 5), (9, 5), 0),
               ((2, 3, 6), (2, 3, 6), 1), ((6, 9), (9,), -1),
               ((3, 1, 8), (1, 4, 8), -1)]


@pytest.mark.parametrize("base", [None, 2, 10])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pshape, qshape, axis", SCIPY_CASES)
def test_scipy_stats_entropy(scipy_mods, pshape, qshape, axis, dtype, base):
    stats, _, _ = scipy_mods
    rng = np.random.default_rng(11)
    p = weights(rng, pshape, dtype, scale=20.0, axis=axis)
    q = weights(rng, qshape, dtype, axis=axis)
    pb, qb = np.broadcast_arrays(p, q)
    assert_allclose(kl_ext.entropy(p, base=base, axis=axis),
                    stats.entropy(p, base=base, axis=axis), **tol(dtype))
    assert_allclose(kl_ext.kl_divergence(p, q, base=base, axis=axis),
                    stats.entropy(pb, qb, base=base, axis=axis), **tol(dtype))
    # H(p, q) = H(p) + D(p||q) with SciPy's two pieces
    assert_allclose(kl_ext.cross_entropy(p, q, base=base, axis=axis),
                    stats.entropy(pb, base=base, axis=axis)
                    + stats.entropy(pb, qb, base=base, axis=axis), **tol(dtype))


@pytest.mark.parametrize("base", [None, 2, 10])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pshape, qshape, axis", SCIPY_CASES)
def test_scipy_jensenshannon(scipy_mods, pshape, qshape, axis, dtype, base):
    _, _, distance = scipy_mods
    rng = np.random.default_rng(12)
    p = weights(rng, pshape, dtype, scale=3.0, axis=axis)
    q = weights(rng, qshape, dtype, axis=axis)
    pb, qb = np.broadcast_arrays(p, q)
    want = distance.jensenshannon(pb, qb, base=base, axis=axis)
    got = kl_ext.js_distance(p, q, base=base, axis=axis)
    assert_allclose(got, want, **tol(dtype))
    assert_allclose(kl_ext.js_divergence(p, q, base=base, axis=axis),
                    np.square(np.asarray(want, np.float64)), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pshape, qshape, axis", SCIPY_CASES)
def test_scipy_special_sums_unnormalised(scipy_mods, pshape, qshape, axis, dtype):
    """normalize=False is the plain sum of SciPy's element-wise terms."""
    _, special, _ = scipy_mods
    rng = np.random.default_rng(13)
    p = weights(rng, pshape, dtype, scale=4.0, axis=axis)
    q = weights(rng, qshape, dtype, scale=2.0, axis=axis)
    pb, qb = (a.astype(np.float64) for a in np.broadcast_arrays(p, q))
    t = tol(dtype)
    assert_allclose(kl_ext.kl_divergence(p, q, axis=axis, normalize=False),
                    special.rel_entr(pb, qb).sum(axis=axis), **t)
    assert_allclose(kl_ext.entropy(p, axis=axis, normalize=False),
                    special.entr(p.astype(np.float64)).sum(axis=axis), **t)
    with np.errstate(divide="ignore"):
        ce = -special.xlogy(pb, qb).sum(axis=axis)
    assert_allclose(kl_ext.cross_entropy(p, q, axis=axis, normalize=False), ce, **t)
    m = (pb + qb) / 2
    js = 0.5 * (special.rel_entr(pb, m) + special.rel_entr(qb, m)).sum(axis=axis)
    assert_allclose(kl_ext.js_divergence(p, q, axis=axis, normalize=False), js, **t)


def test_scipy_disjoint_support_gives_inf(scipy_mods):
    stats, special, _ = scipy_mods
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.5, 0.5])
    assert kl_ext.kl_divergence(p, q) == stats.entropy(p, q) == np.inf
    assert (kl_ext.kl_divergence(p, q, normalize=False)
            == special.rel_entr(p, q).sum() == np.inf)


# --------------------------------------------------------------- dtype rules
@pytest.mark.parametrize("name", ALL)
def test_float32_in_float32_out(name):
    p = np.array([0.2, 0.3, 0.5], np.float32)
    q = np.array([0.5, 0.25, 0.25], np.float32)
    r = call(kl_ext, name, p, q)
    assert type(r) is np.float32          # a NumPy scalar, not a 0-d array
    rb = call(kl_ext, name, np.stack([p, p]), q)
    assert type(rb) is np.ndarray and rb.dtype == np.float32 and rb.shape == (2,)


@pytest.mark.parametrize("name", ALL)
def test_float64_and_scalar_type(name):
    r = call(kl_ext, name, [0.2, 0.8], [0.5, 0.5])
    assert type(r) is np.float64


@pytest.mark.parametrize("name", PAIR)
def test_mixed_precision_gives_float64(name):
    p32 = np.array([[0.2, 0.3, 0.5]], np.float32)
    q64 = np.array([0.5, 0.25, 0.25], np.float64)
    for p, q in [(p32, q64), (q64, p32)]:
        r = call(kl_ext, name, p, q)
        assert r.dtype == np.float64
        assert_allclose(r, call(kl_ext, name, p.astype(np.float64),
                                q.astype(np.float64)), rtol=1e-15)
    assert type(call(kl_ext, name, p32[0], q64)) is np.float64


@pytest.mark.parametrize("kind", [np.int8, np.int64, np.uint16, bool])
@pytest.mark.parametrize("name", ALL)
def test_int_and_bool_are_float64(name, kind):
    p = np.array([[1, 0, 1, 1], [1, 1, 0, 1]], dtype=kind)
    q = np.array([1, 1, 1, 0], dtype=kind)
    r = call(kl_ext, name, p, q)
    assert r.dtype == np.float64
    assert_allclose(r, call(kl_ext, name, p.astype(np.float64),
                            q.astype(np.float64)), rtol=0)
    r1 = call(kl_ext, name, p[0], q)
    assert type(r1) is np.float64
    # plain Python lists of ints too
    assert type(call(kl_ext, name, [1, 2, 3], [3, 2, 1])) is np.float64


@pytest.mark.parametrize("pshape, qshape, axis, out", [
    ((2, 1, 5), (3, 5), -1, (2, 3)),
    ((4, 3), (4, 1), 0, (3,)),
    ((4, 3), (4, 1), 1, (4,)),
    ((2, 3, 4), (2, 3, 4), 1, (2, 4)),
    ((5,), (2, 5), 0, (5,)),   # axis of the broadcast shape
    ((1, 6), (6,), -1, (1,)),
])
@pytest.mark.parametrize("name", PAIR)
def test_result_shape_is_broadcast_shape_without_axis(name, pshape, qshape, axis, out):
    rng = np.random.default_rng(0)
    p = weights(rng, pshape, axis=axis)
    q = weights(rng, qshape, axis=axis)
    r = call(kl_ext, name, p, q, axis=axis)
    assert r.shape == out
    assert_allclose(r, call(ref, name, p, q, axis=axis), **tol(np.float64))


def test_entropy_shape_without_axis():
    p = np.ones((2, 3, 4))
    assert kl_ext.entropy(p, axis=0).shape == (3, 4)
    assert kl_ext.entropy(p, axis=-2).shape == (2, 4)
    assert_allclose(kl_ext.entropy(p, axis=1), np.full((2, 4), math.log(3)), rtol=1e-15)


# ---------------------------------------------------------- edge conventions
@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_log_zero_is_zero(dtype):
    a = lambda *v: np.array(v, dtype)  # noqa: E731
    assert kl_ext.entropy(a(0.5, 0.5, 0.0)) == pytest.approx(LN2, rel=1e-7)
    assert kl_ext.entropy(a(1.0, 0.0, 0.0)) == 0.0
    assert kl_ext.entropy(a(0.0, 0.0), normalize=False) == 0.0
    assert kl_ext.cross_entropy(a(1.0, 0.0), a(1.0, 0.0)) == 0.0
    assert kl_ext.cross_entropy(a(0.0, 1.0), a(0.0, 1.0), normalize=False) == 0.0
    assert kl_ext.kl_divergence(a(0.5, 0.5, 0.0), a(0.25, 0.25, 0.5)) == \
        pytest.approx(LN2, rel=1e-7)
    # 0 log(0/q) = 0 also where q = 0
    assert kl_ext.kl_divergence(a(0.0, 1.0), a(0.0, 1.0)) == 0.0
    assert kl_ext.kl_divergence(a(0.0, 1.0), a(0.0, 1.0), normalize=False) == 0.0
    assert kl_ext.js_divergence(a(0.0, 1.0), a(0.0, 1.0)) == 0.0
    assert kl_ext.total_variation(a(0.0, 1.0), a(0.0, 1.0)) == 0.0


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["kl_divergence", "cross_entropy"])
def test_p_positive_where_q_zero_is_inf(name, dtype, normalize):
    p = np.array([[0.2, 0.8, 0.0], [0.5, 0.25, 0.25], [0.1, 0.0, 0.9]], dtype)
    q = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5]], dtype)
    r = call(kl_ext, name, p, q, normalize=normalize)
    assert r[1] == np.inf
    assert np.all(np.isfinite(r[[0, 2]]))
    assert call(kl_ext, name, p[1], q[1], normalize=normalize) == np.inf
    # also with the reference row broadcast
    rb = call(kl_ext, name, p, q[1], normalize=normalize)
    assert np.isfinite(rb[0]) and rb[1] == rb[2] == np.inf


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ALL)
def test_nan_poisons_only_its_row(name, dtype):
    rng = np.random.default_rng(3)
    p = weights(rng, (5, 9), dtype)
    q = weights(rng, (5, 9), dtype)
    clean = call(kl_ext, name, p, q)
    for which in ("p", "q") if name != "entropy" else ("p",):
        for normalize in (True, False):
            pp, qq = p.copy(), q.copy()
            (pp if which == "p" else qq)[2, 4] = np.nan
            r = call(kl_ext, name, pp, qq, normalize=normalize)
            want = call(kl_ext, name, p, q, normalize=normalize)
            assert np.isnan(r[2])
            keep = [0, 1, 3, 4]
            assert_array_equal(r[keep], want[keep])
            assert np.isnan(call(kl_ext, name, pp[2], qq[2], normalize=normalize))
    # a NaN together with a zero or an inf in the same row is still NaN
    pp = p.copy()
    pp[1, :3] = [np.nan, 0.0, np.inf]
    r = call(kl_ext, name, pp, q)
    assert np.isnan(r[1])
    assert_array_equal(r[[0, 2, 3, 4]], clean[[0, 2, 3, 4]])


INF = np.inf
INF_CASES = [([INF, 1.0], [1.0, 1.0]), ([1.0, 1.0], [INF, 1.0]),
             ([INF, 1.0], [INF, 1.0]), ([0.0, 1.0], [INF, 1.0]),
             ([INF, 0.0], [1.0, 1.0]), ([INF, 2.0, 0.0], [3.0, 0.0, 1.0])]


@pytest.mark.parametrize("p, q", INF_CASES)
@pytest.mark.parametrize("name", ALL)
def test_inf_entries_normalised_give_nan(name, p, q):
    p, q = np.array(p), np.array(q)
    has_inf = np.isinf(p).any() or (name != "entropy" and np.isinf(q).any())
    r = call(kl_ext, name, p, q)
    if has_inf:
        assert np.isnan(r)
    # in a batch only that row
    rows = call(kl_ext, name, np.stack([p, np.ones_like(p)]),
                np.stack([q, np.ones_like(q)]))
    assert np.isnan(rows[0]) == has_inf
    if name in ("entropy", "cross_entropy"):
        assert rows[1] == pytest.approx(math.log(p.size), rel=1e-15)
    else:
        assert rows[1] == 0.0


@pytest.mark.parametrize("p, q", INF_CASES)
def test_inf_entries_unnormalised_follow_scipy_special(scipy_mods, p, q):
    _, special, _ = scipy_mods
    p, q = np.array(p), np.array(q)
    with np.errstate(all="ignore"):
        want = {"kl_divergence": special.rel_entr(p, q).sum(),
                "entropy": special.entr(p).sum(),
                "cross_entropy": -special.xlogy(p, q).sum()}
        m = (p + q) / 2
        want["js_divergence"] = 0.5 * (special.rel_entr(p, m) + special.rel_entr(q, m)).sum()
        want["total_variation"] = 0.5 * np.abs(p - q).sum()
    for name, w in want.items():
        r = call(kl_ext, name, p, q, normalize=False)
        assert_array_equal(r, w, err_msg=name)
        # in a batch, beside a finite row
        rows = call(kl_ext, name, np.stack([np.ones_like(p), p]),
                    np.stack([np.ones_like(q), q]), normalize=False)
        assert_array_equal(rows[1], w, err_msg=name)
        assert rows[0] == call(kl_ext, name, np.ones_like(p), np.ones_like(q),
                               normalize=False)


@pytest.mark.parametrize("name", ALL)
def test_sums_that_overflow(name):
    """[1e308, 1e308] sums to inf, but the normalised rows are fine."""
    p = np.array([1e308, 1e308, 0.0])
    q = np.array([1e308, 5e307, 1e308])
    want = call(ref, name, [2.0, 2.0, 0.0], [2.0, 1.0, 2.0])
    assert_allclose(call(kl_ext, name, p, q), want, rtol=1e-14)
    assert_allclose(call(kl_ext, name, np.stack([p, p / 1e300]), q),
                    np.full(2, want), rtol=1e-14)
    assert_allclose(call(kl_ext, name, p, [2.0, 1.0, 2.0]), want, rtol=1e-14)


def test_huge_values_do_not_overflow_terms():
    # p log(p/q) overflows for p = 1e308 although the normalised KL is 709.2
    want = kl_ext.kl_divergence([1.0, 1e-308], [1e-308, 1.0])
    assert kl_ext.kl_divergence([1e308, 1.0], [1.0, 1e308]) == pytest.approx(want, rel=1e-14)
    assert want == pytest.approx(308 * math.log(10), rel=1e-14)


@pytest.mark.parametrize("name", ALL)
def test_subnormals(name):
    tiny = 5e-324
    p = np.array([tiny, 2 * tiny, 0.0])
    q = np.array([2 * tiny, tiny, tiny])
    want = call(ref, name, [1.0, 2.0, 0.0], [2.0, 1.0, 1.0])
    assert_allclose(call(kl_ext, name, p, q), want, rtol=1e-14)
    # subnormal against ordinary: only the proportions matter
    assert_allclose(call(kl_ext, name, p, [2.0, 1.0, 1.0]), want, rtol=1e-14)
    assert_allclose(call(kl_ext, name, [1.0, 2.0, 0.0], q), want, rtol=1e-14)
    assert_allclose(call(kl_ext, name, np.stack([p, p * 2**1000]), q),
                    np.full(2, want), rtol=1e-14)


@pytest.mark.parametrize("exps", [(-1074, 0), (0, -1074), (-1060, 1000), (1000, -1060),
                                  (-119, 994), (960, -974), (500, 501), (-520, -530),
                                  (-1, 0)])
@pytest.mark.parametrize("name", ALL)
def test_normalised_results_are_scale_free(name, exps):
    """Scaling p and q by (different) powers of two is exact and changes nothing."""
    rng = np.random.default_rng(abs(hash(exps)) % 2**32)
    a = rng.integers(0, 1000, (4, 6)).astype(np.float64)
    b = rng.integers(0, 1000, (4, 6)).astype(np.float64)
    a[:, 0] += 1
    b[:, 0] += 1
    p, q = np.ldexp(a, exps[0]), np.ldexp(b, exps[1])
    assert_array_equal(np.ldexp(p, -exps[0]), a)  # the scaling was exact
    assert_array_equal(np.ldexp(q, -exps[1]), b)
    want = call(kl_ext, name, a, b)
    assert_allclose(call(kl_ext, name, p, q), want, rtol=1e-13, atol=1e-15)
    assert_allclose(call(ref, name, a, b), want, rtol=1e-12, atol=1e-14)
    for i in range(4):
        assert_allclose(call(kl_ext, name, p[i], q[i]), want[i], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_element_rows(dtype):
    p = np.array([3.0], dtype)
    q = np.array([2.0], dtype)
    for name in ALL:
        assert call(kl_ext, name, p, q) == 0.0
        assert_allclose(call(kl_ext, name, p, q, normalize=False),
                        call(ref, name, p, q, normalize=False), **tol(dtype))
    assert_allclose(kl_ext.kl_divergence(p, q, normalize=False),
                    3 * math.log(1.5), **tol(dtype))
    assert_allclose(kl_ext.entropy(p, normalize=False), -3 * math.log(3), **tol(dtype))
    r = kl_ext.entropy(np.array([[3.0], [0.5]], dtype), normalize=False)
    assert_allclose(r, [-3 * math.log(3), -0.5 * math.log(0.5)], **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_disjoint_supports(dtype):
    p = np.array([[1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 5.0]], dtype)
    q = np.array([0.0, 0.0, 3.0, 0.0], dtype)
    assert_allclose(kl_ext.js_divergence(p, q), [LN2, LN2], **tol(dtype))
    # (within an ulp: the terms x log 2 are rounded and summed)
    assert_allclose(kl_ext.js_divergence(p, q, base=2), [1.0, 1.0], **tol(dtype))
    assert_allclose(kl_ext.js_distance(p, q, base=2), [1.0, 1.0], **tol(dtype))
    assert np.all(kl_ext.js_divergence(p, q) <= LN2)
    assert_allclose(kl_ext.total_variation(p, q), [1.0, 1.0], **tol(dtype))
    assert_array_equal(kl_ext.kl_divergence(p, q), [np.inf, np.inf])
    # identical supports and proportions: exactly 0
    assert_array_equal(kl_ext.js_divergence(p, 7 * p), [0.0, 0.0])
    assert_array_equal(kl_ext.total_variation(p, 7 * p), [0.0, 0.0])
    assert_array_equal(kl_ext.kl_divergence(p, 7 * p), [0.0, 0.0])


def test_bounds_are_never_crossed():
    rng = np.random.default_rng(5)
    p = rng.random((200, 5))
    q = p * (1 + 1e-9 * rng.standard_normal((200, 5)))
    for name in ("kl_divergence", "js_divergence", "js_distance", "total_variation"):
        r = call(kl_ext, name, p, q)
        assert np.all(r >= 0) and not np.isnan(r).any()
    assert np.all(kl_ext.js_divergence(p, q) <= LN2)
    assert np.all(kl_ext.entropy(p) >= 0)


# --------------------------------------------------------------------- errors
@pytest.mark.parametrize("name", ALL)
def test_negative_entries(name):
    with pytest.raises(ValueError, match=r"^p must be non-negative, found -0\.5$"):
        call(kl_ext, name, [0.5, -0.5], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"p must be non-negative.* in row 2$"):
        call(kl_ext, name, [[1, 1], [1, 1], [1, -1.0]], [1, 1])
    with pytest.raises(ValueError, match=r"p must be non-negative.* in row \(1, 0\)$"):
        call(kl_ext, name, [[[1, 1]], [[-1.0, 1]]], [1, 1])
    # the row index refers to the result, also when reducing along axis 0
    with pytest.raises(ValueError, match=r"p must be non-negative.* in row 1$"):
        call(kl_ext, name, np.array([[1.0, 1.0, 1.0], [1.0, -2.0, 1.0]]).T, [1.0, 1.0],
             axis=0)
    # float32 as well, and without normalising
    with pytest.raises(ValueError, match=r"p must be non-negative"):
        call(kl_ext, name, np.array([1, -1], np.float32), np.ones(2, np.float32),
             normalize=False)
    if name == "entropy":
        return
    with pytest.raises(ValueError, match=r"^q must be non-negative, found -3\.0$"):
        call(kl_ext, name, [0.5, 0.5], [1.0, -3.0])
    with pytest.raises(ValueError, match=r"q must be non-negative.* in row 1$"):
        call(kl_ext, name, [1.0, 1.0], [[1.0, 1.0], [-1.0, 2.0]])
    with pytest.raises(ValueError, match=r"q must be non-negative"):
        call(kl_ext, name, [[1.0, 1.0]] * 3, [-1e-300, 2.0])


@pytest.mark.parametrize("name", PAIR)
def test_shapes_that_do_not_broadcast(name):
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\).* do not broadcast"):
        call(kl_ext, name, np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="do not broadcast"):
        call(kl_ext, name, np.ones((2, 3)), np.ones((3, 3)))


@pytest.mark.parametrize("name", ALL)
def test_empty_reduction_axis(name):
    with pytest.raises(ValueError, match="empty axis"):
        call(kl_ext, name, [], [])
    with pytest.raises(ValueError, match="empty axis"):
        call(kl_ext, name, np.ones((3, 0)), np.ones((3, 0)))
    with pytest.raises(ValueError, match="empty axis"):
        call(kl_ext, name, np.ones((0, 3)), np.ones((0, 3)), axis=0)
    # no rows but a non-empty axis is fine: an empty result
    r = call(kl_ext, name, np.ones((0, 3)), np.ones((0, 3)))
    assert r.shape == (0,)


@pytest.mark.parametrize("base", [0, -2, 1, 1.0, -math.inf, math.inf, math.nan])
@pytest.mark.parametrize("name", HAS_BASE)
def test_invalid_base(name, base):
    with pytest.raises(ValueError, match=r"base must be a finite number > 0 and != 1"):
        call(kl_ext, name, [0.5, 0.5], [0.2, 0.8], base=base)


def test_js_distance_base_below_one():
    with pytest.raises(ValueError, match=r"js_distance needs base > 1"):
        kl_ext.js_distance([0.5, 0.5], [0.2, 0.8], base=0.5)
    # the divergence itself is defined (negative) there
    assert kl_ext.js_divergence([0.5, 0.5], [0.2, 0.8], base=0.5) < 0


@pytest.mark.parametrize("name", ALL)
def test_invalid_axis(name):
    p = np.ones((2, 3))
    for axis in (2, -3, 5):
        with pytest.raises(ValueError, match="out of bounds"):
            call(kl_ext, name, p, p, axis=axis)
    with pytest.raises(ValueError, match="out of bounds"):
        call(kl_ext, name, np.ones(3), np.ones(3), axis=1)
    for axis in (1.0, None, (0, 1), "0", True):
        with pytest.raises(TypeError, match="axis must be an integer"):
            call(kl_ext, name, p, p, axis=axis)
    with pytest.raises(ValueError, match="axis"):  # scalars have no axis
        call(kl_ext, name, 1.0, 1.0)


@pytest.mark.parametrize("name", ALL)
def test_zero_sum_row_when_normalising(name):
    with pytest.raises(ValueError, match=r"^p sums to 0, so it cannot be normalized"):
        call(kl_ext, name, [0.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"^p sums to 0 in row 1,"):
        call(kl_ext, name, [[1.0, 0.0], [0.0, 0.0]], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"p sums to 0 in row \(0, 1\)"):
        call(kl_ext, name, np.array([[[1.0, 1.0], [0.0, 0.0]]], np.float32),
             np.ones(2, np.float32))
    # without normalising a zero row is a valid (zero) measure
    assert call(kl_ext, name, [0.0, 0.0], [0.0, 0.0], normalize=False) == 0.0
    if name == "entropy":
        return
    with pytest.raises(ValueError, match=r"^q sums to 0 in row 2,"):
        call(kl_ext, name, [1.0, 1.0], [[1.0, 1.0], [1.0, 2.0], [0.0, 0.0]])


BAD_TYPES = [
    (np.array([1 + 1j, 1]), "complex"),
    (np.array([1.0, None], dtype=object), "real numeric"),
    (np.array([1, 2], dtype=object), "real numeric"),
    (["a", "b"], "real numeric"),
    (np.array([b"a", b"b"]), "real numeric"),
    (np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[D]"), "real numeric"),
]


@pytest.mark.parametrize("bad, what", BAD_TYPES)
@pytest.mark.parametrize("name", ALL)
def test_type_errors(name, bad, what):
    with pytest.raises(TypeError, match=rf"^p must be .*{what}"):
        call(kl_ext, name, bad, [1.0, 1.0])
    if name != "entropy":
        with pytest.raises(TypeError, match=rf"^q must be .*{what}"):
            call(kl_ext, name, [1.0, 1.0], bad)


# ----------------------------------------------- layouts and immutability
def _inputs(dtype):
    rng = np.random.default_rng(21)
    return weights(rng, (6, 10), dtype, scale=3.0), weights(rng, (6, 10), dtype)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("dtype", DTYPES + [np.int32])
@pytest.mark.parametrize("name", ALL)
def test_inputs_are_not_modified(name, dtype, normalize):
    p, q = _inputs(np.float64)
    p, q = (p * 10).astype(dtype), (q * 10).astype(dtype)
    q[:, 0] += 1
    p0, q0 = p.copy(), q.copy()
    call(kl_ext, name, p, q, normalize=normalize)
    call(kl_ext, name, p[0], q, normalize=normalize, axis=-1)
    call(kl_ext, name, p.T, q.T, normalize=normalize, axis=0)
    assert_array_equal(p, p0)
    assert_array_equal(q, q0)
    # lists too
    pl = p.tolist()
    call(kl_ext, name, pl, q, normalize=normalize)
    assert pl == p0.tolist()


def _same(name, p, q, pc, qc, axis=-1, dtype=np.float64, axis_copy=None):
    got = call(kl_ext, name, p, q, axis=axis)
    want = call(kl_ext, name, pc, qc, axis=axis if axis_copy is None else axis_copy)
    assert np.asarray(got).dtype == np.asarray(want).dtype
    assert_allclose(got, want, rtol=1e-14 if dtype == np.float64 else 1e-6, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ALL)
def test_non_contiguous_and_transposed(name, dtype):
    rng = np.random.default_rng(22)
    big_p = weights(rng, (12, 30), dtype, scale=2.0)
    big_q = weights(rng, (12, 30), dtype)
    p, q = big_p[::2, 1::3], big_q[1::2, ::3]           # strided in both axes
    assert not p.flags.c_contiguous
    _same(name, p, q, p.copy(), q.copy(), dtype=dtype)
    _same(name, p[0], q[0], p[0].copy(), q[0].copy(), dtype=dtype)   # 1-D strided
    _same(name, p[::-1], q, p[::-1].copy(), q.copy(), dtype=dtype)   # negative stride
    pf, qf = np.asfortranarray(p), np.asfortranarray(q)          # Fortran order
    _same(name, pf, qf, p.copy(), q.copy(), dtype=dtype)
    _same(name, p.T, q.T, p.copy(), q.copy(), axis=0, dtype=dtype,  # transposed
          axis_copy=-1)
    # 3-D views whose leading axes do not merge into one row axis
    p3 = (weights(rng, (4, 5, 6), dtype) + dtype(0.01)).transpose(1, 0, 2)
    _same(name, p3, q[0, :6], p3.copy(), q[0, :6].copy(), dtype=dtype)
    _same(name, p3, q[1, ::-1][:6], p3.copy(), q[1, ::-1][:6].copy(), dtype=dtype)
    _same(name, p3[:, ::2], p3[:, 1::2], p3[:, ::2].copy(), p3[:, 1::2].copy(),
          axis=1, dtype=dtype)


@pytest.mark.parametrize("name", ALL)
def test_read_only(name):
    p, q = _inputs(np.float64)
    pr, qr = p.copy(), q.copy()
    pr.flags.writeable = False
    qr.flags.writeable = False
    _same(name, pr, qr, p, q)
    _same(name, pr[1], qr[1], p[1], q[1])
    _same(name, pr, qr[0], p, q[0])
    # a read-only broadcast view (as np.broadcast_to returns)
    _same(name, pr, np.broadcast_to(q[0], p.shape), p, q[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ALL)
def test_memory_mapped(name, dtype, tmp_path):
    p, q = _inputs(dtype)
    fp, fq = tmp_path / "p.dat", tmp_path / "q.dat"
    mp = np.memmap(fp, dtype=dtype, mode="w+", shape=p.shape)
    mp[:] = p
    mp.flush()
    mq = np.memmap(fq, dtype=dtype, mode="w+", shape=q.shape)
    mq[:] = q
    mq.flush()
    del mp, mq
    rp = np.memmap(fp, dtype=dtype, mode="r", shape=p.shape)
    rq = np.memmap(fq, dtype=dtype, mode="r", shape=q.shape)
    _same(name, rp, rq, p, q, dtype=dtype)
    _same(name, rp[2], rq[3], p[2], q[3], dtype=dtype)
    _same(name, rp, rq, p, q, axis=0, dtype=dtype)
    del rp, rq


def _unaligned(a):
    buf = np.zeros(a.nbytes + 1, np.uint8)
    u = np.frombuffer(buf.data, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    u[...] = a
    assert not u.flags.aligned
    return u


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ALL)
def test_unaligned(name, dtype):
    p, q = _inputs(dtype)
    up, uq = _unaligned(p), _unaligned(q)
    _same(name, up, uq, p, q, dtype=dtype)
    _same(name, up[0], uq[0], p[0], q[0], dtype=dtype)    # the 1-D fast path
    _same(name, up, q[0], p, q[0], dtype=dtype)
    _same(name, up, uq, p, q, axis=0, dtype=dtype)


@pytest.mark.parametrize("name", ALL)
def test_big_endian(name):
    p, q = _inputs(np.float64)
    bp, bq = p.astype(">f8"), q.astype(">f8")
    _same(name, bp, bq, p, q)
    _same(name, bp[0], bq[0], p[0], q[0])
    r = call(kl_ext, name, bp, bq)
    assert r.dtype == np.float64 and r.dtype.isnative
    # big-endian float32 stays float32
    r32 = call(kl_ext, name, p.astype(">f4"), q.astype(">f4"))
    assert r32.dtype == np.float32
    assert_allclose(r32, call(kl_ext, name, p.astype(np.float32), q.astype(np.float32)),
                    rtol=1e-6)


def test_broadcast_reference_row_is_not_copied(monkeypatch):
    """The kernel sees q with row stride 0 (issue: no (m, n) copy of q)."""
    from kl_ext import _divergence, measures
    seen = []
    real = _divergence.rows

    def spy(measure, p, q, *args):
        seen.append(q.strides)
        return real(measure, p, q, *args)

    monkeypatch.setattr(measures._k, "rows", spy)
    p = np.ones((1000, 8))
    q = np.arange(1.0, 9.0)
    kl_ext.kl_divergence(p, q)
    assert seen and seen[0][0] == 0


# ---- the small-call fast path (_k.small) against the general path ----

class _NoSmall:
    """The tier module with `small` always declining: the general path."""

    def __init__(self, mod):
        self._mod = mod

    def small(self, *args):
        return None

    def __getattr__(self, name):
        return getattr(self._mod, name)


class _Definitions:
    """The Python definitions behind the C fronts (kl_ext.measures._front)."""

    def __getattr__(self, name):
        return getattr(kl_ext, name).__wrapped__


_DEFINITIONS = _Definitions()


def _no_fast_paths(monkeypatch):
    # `small` declines every call: with _DEFINITIONS, the general path only
    monkeypatch.setattr(kl_ext.measures, "_k", _NoSmall(kl_ext.measures._k))
    monkeypatch.setattr(kl_ext.measures, "_small", _NoSmall(kl_ext.measures._k).small)


def _small_cases():
    rng = np.random.default_rng(11)
    p = rng.random(13)
    q = rng.random(13)
    z = p.copy()
    z[[1, 5]] = 0.0
    yield p, q, {}
    yield p[:1], q[:1], {}
    yield p[:8], q[:8], {}
    yield p[:9], q[:9], {"normalize": False}
    yield z, q, {}
    yield p, z, {}
    yield p, q, {"base": 2}
    yield p, q, {"base": 10.0, "axis": 0}
    yield p, p * (1 + 1e-9 * rng.standard_normal(13)), {}
    yield p[::2], q[::2], {}
    yield p.astype(np.float32), q.astype(np.float32), {}
    yield p.astype(np.float32), q.astype(np.float32), {"base": 2, "normalize": False}
    yield np.array([np.nan, 1.0]), np.array([1.0, 1.0]), {}
    yield np.array([np.inf, 1.0]), np.array([1.0, 1.0]), {}
    yield np.array([1e-310, 1.0]), np.array([1.0, 1e-300]), {}
    yield p.astype(">f8"), q.astype(">f8"), {}
    # byte-swapped, these read as subnormals that a kernel would accept
    yield (np.array([1.0, 2.0, 0.5], dtype=">f8"), np.array([0.5, 1.0, 2.0], dtype=">f8"),
           {"normalize": False})


@pytest.mark.parametrize("name", ALL)
def test_small_path_matches_general(name, monkeypatch):
    # every call the fast path answers must equal the general path bit for
    # bit, with the same type; and big-endian input must not be misread
    cases = list(_small_cases())
    fast = [call(kl_ext, name, p, q, **({k: v for k, v in kw.items()
                                         if not (k == "base" and name not in HAS_BASE)}))
            for p, q, kw in cases]
    _no_fast_paths(monkeypatch)
    slow = [call(_DEFINITIONS, name, p, q, **({k: v for k, v in kw.items()
                                               if not (k == "base" and name not in HAS_BASE)}))
            for p, q, kw in cases]
    for (p, q, kw), f, s in zip(cases, fast, slow):
        assert type(f) is type(s), (kw, p.dtype)
        assert_array_equal(f, s, err_msg=f"{name} {kw} {p.dtype} {p}")


@pytest.mark.parametrize("name", ALL)
def test_small_path_declines_errors(name):
    # rows with an error go to the general path, which raises its message
    with pytest.raises(ValueError, match="negative"):
        call(kl_ext, name, np.array([0.5, -0.5]), np.array([0.5, 0.5]))
    with pytest.raises(ValueError):
        call(kl_ext, name, np.array([0.0, 0.0]), np.array([0.5, 0.5]))


# ---- the C fronts (src/_front.h) against the Python definitions ----

def _front_cases():
    """Positional calls f(p, q): those the fronts answer and those they must
    pass on (other types, shapes, layouts, flagged rows, errors)."""
    rng = np.random.default_rng(12)
    p = rng.random(21)
    q = rng.random(21)
    big = np.frombuffer(bytearray(8 * 11), dtype=np.float64, offset=8, count=10)
    unaligned = np.frombuffer(bytearray(8 * 11 + 1), dtype=np.float64, offset=1, count=10)
    unaligned[:] = p[:10]
    ro = p[:10].copy()
    ro.flags.writeable = False
    zeros = p[:10].copy()
    zeros[[0, 4]] = 0.0
    yield p[:10], q[:10]
    yield p[:1], q[:1]
    yield p, q                                    # n > 16: the block path
    yield p[::2], q[::2]                          # strided
    yield p[::-1], q[:21]                         # negative stride
    yield p[:10].astype(np.float32), q[:10].astype(np.float32)
    yield p[:20].astype(np.float32)[::2], q[:10].astype(np.float32)
    yield p[:10].astype(np.float32), q[:10]       # mixed dtypes: passed on
    yield p[:10].astype(">f8"), q[:10].astype(">f8")  # byte-swapped: passed on
    yield p[:10].astype(np.float16), q[:10].astype(np.float16)
    yield p[:10].astype(np.longdouble), q[:10].astype(np.longdouble)
    yield (p[:10] * 100).astype(np.int64), q[:10]
    yield list(p[:10]), list(q[:10])
    yield p[:10].reshape(2, 5), q[:10].reshape(2, 5)
    yield np.float64(0.5), np.float64(0.25)      # 0-d
    yield unaligned, q[:10]
    yield ro, q[:10]
    yield big, q[:10]                            # all zeros: sum 0, an error
    yield zeros, q[:10]
    yield q[:10], zeros                          # q = 0 where p > 0: inf
    yield np.array([np.nan, 1.0]), np.array([1.0, 1.0])
    yield np.array([np.inf, 1.0]), np.array([1.0, 1.0])
    yield np.array([1e-310, 1.0]), np.array([1.0, 1e-300])
    yield np.array([1e300, 1e300]), np.array([1.0, 1.0])  # overflowing sum
    yield np.array([0.5, -0.5]), np.array([0.5, 0.5])     # negative: an error
    yield np.array([0.5, 0.5]), np.array([0.5, -0.5])
    yield p[:10], q[:9]                                   # lengths differ
    yield p[:0], q[:0]                                    # empty axis
    yield np.ones(131072), np.full(131072, 2.0)           # threads: passed on
    yield p[:10], p[:10] * (1 + 1e-9 * rng.standard_normal(10))  # near p = q
    yield p[:10].astype(np.float32) * np.float32(1e-30), q[:10].astype(np.float32)
    # float32 rows whose divergence rounds differently under sqrt-then-round
    # (js_distance) and round-then-sqrt (compat.jensenshannon)
    yield (np.array([0.6766893267631531, 0.06080271303653717, 0.555596113204956],
                    dtype=np.float32),
           np.array([0.27145159244537354, 0.8796511888504028, 0.06421443819999695],
                    dtype=np.float32))
    yield np.ma.masked_array(p[:10]), q[:10]              # a subclass: passed on
    yield "ab", "cd"


def _outcome(f, *args):
    """(type, value) or (exception type, message) of f(*args), and warnings."""
    import warnings
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            r = f(*args)
        except Exception as exc:  # noqa: BLE001 -- compared, not hidden
            return (type(exc), str(exc)), [str(x.message) for x in w]
    return (type(r), np.asarray(r).tobytes()), [str(x.message) for x in w]


@pytest.mark.parametrize("name", ALL)
def test_front_matches_definition(name, monkeypatch):
    # every positional call gives exactly what the Python definition gives
    # with every fast path off: type and bits of the value, or the exception
    # and its message, and the same warnings; inputs are never written
    front = getattr(kl_ext, name)
    cases = list(_front_cases())
    copies = [(np.array(p, copy=True), np.array(q, copy=True)) for p, q in cases]
    args = [(p,) if name == "entropy" else (p, q) for p, q in cases]
    fast = [_outcome(front, *a) for a in args]
    _no_fast_paths(monkeypatch)
    slow = [_outcome(front.__wrapped__, *a) for a in args]
    for a, f, s in zip(args, fast, slow):
        assert f == s, (name, a)
    for (p, q), (cp, cq) in zip(cases, copies):
        assert_array_equal(np.asarray(p), cp)
        assert_array_equal(np.asarray(q), cq)


@pytest.mark.parametrize("name, nargs", [("entropy", 1), ("entropy", 2),
                                         ("jensenshannon", 2)])
def test_compat_front_matches_definition(name, nargs, monkeypatch):
    # kl_ext.compat's SciPy drop-ins: the same, including SciPy's rounding
    # (jensenshannon: the square root of the float32 divergence in float32)
    from kl_ext import compat
    front = getattr(compat, name)
    cases = list(_front_cases())
    args = [(p, q)[:nargs] for p, q in cases]
    args += [(p, None) for p, q in cases[:3]] if nargs == 2 else []
    args += [a + (2.0,) for a in args[:6]] + [a + (0.5,) for a in args[:6]]
    fast = [_outcome(front, *a) for a in args]
    _no_fast_paths(monkeypatch)
    slow = [_outcome(front.__wrapped__, *a) for a in args]
    for a, f, s in zip(args, fast, slow):
        assert f == s, (name, a)
    assert front.__module__ == "kl_ext.compat" and front.__name__ == name


@pytest.mark.parametrize("name", ALL)
def test_front_passes_other_calls_on(name):
    # keywords and wrong argument counts reach the definition: its errors
    front = getattr(kl_ext, name)
    p = np.array([0.25, 0.75])
    with pytest.raises(TypeError, match="positional argument"):
        front()
    with pytest.raises(TypeError, match="positional argument"):
        front(p, p, p)
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        front(p, p, bogus=1) if name != "entropy" else front(p, bogus=1)
    if name == "entropy":
        with pytest.raises(TypeError, match="positional argument"):
            front(p, p)
    else:
        with pytest.raises(TypeError, match="missing 1 required positional argument: 'q'"):
            front(p)
        assert front(p, q=p) == front(p, p)


@pytest.mark.parametrize("name", ALL)
def test_front_looks_like_its_definition(name):
    import doctest
    import inspect
    import pickle
    front = getattr(kl_ext, name)
    d = front.__wrapped__
    assert front is getattr(kl_ext.measures, name)
    assert front.__doc__ == d.__doc__ and "Examples" in front.__doc__
    assert (front.__name__, front.__qualname__, front.__module__) == (
        name, name, "kl_ext.measures")
    assert inspect.signature(front) == inspect.signature(d)
    assert inspect.isroutine(front) and repr(front) == repr(d)
    assert pickle.loads(pickle.dumps(front)) is front
    tests = doctest.DocTestFinder().find(kl_ext.measures)
    assert any(t.name == f"kl_ext.measures.{name}" and t.examples for t in tests)

    class Holder:
        f = front
    assert Holder.f is front and Holder().f is front  # never binds as a method


# ------------------------------------------------------------ short rows
# Rows of up to 64 elements are computed many rows per vector block
# (src/_divergence.pyx, tile_rows) and summed in the order of the
# row-by-row kernel: every row's value must equal the 1-D call's, bit for
# bit, whatever the layout, and a tile holding a special row (NaN, inf,
# zeros, subnormals, all-zero rows) must give each row its own value.
@pytest.mark.parametrize("n", [1, 3, 8, 10, 16, 17, 40, 64, 65])
@pytest.mark.parametrize("dtype", DTYPES)
def test_short_rows_equal_one_row_at_a_time(n, dtype):
    rng = np.random.default_rng(n)
    nrows = 1500 // n + 7
    P = rng.random((nrows, 2 * n)).astype(dtype)
    Q = rng.random((nrows, n)).astype(dtype)
    if n >= 8:
        P[:, 1:][rng.random((nrows, 2 * n - 1)) < 0.1] = 0
    P[3, 1:n] = 0.0                 # one non-zero entry
    Q[5, 0] = 0.0 if n > 1 else 1.0  # KL +inf where p > 0
    P[7 % nrows, 0] = np.inf        # the exact slow path
    P[-2] = P[-1] * 1e-40 if dtype == np.float64 else P[-1]  # tiny sums
    P[-3, :n] = Q[-3]               # p = q: exactly 0
    layouts = [(P[:, :n], Q), (P[:, ::2], Q), (P[:, :n], Q[0]), (P[:, n:], Q[:, ::-1]),
               (np.ascontiguousarray(P[:, :n]), np.broadcast_to(Q[1], (nrows, n)))]
    with np.errstate(all="ignore"):
        for k, (a, b) in enumerate(layouts):
            bb = np.broadcast_to(b, a.shape)
            for name in ALL:
                for normalize in (True, False):
                    got = call(kl_ext, name, a, b, normalize=normalize)
                    want = [call(kl_ext, name, np.array(a[r]), np.array(bb[r]),
                                 normalize=normalize) for r in range(a.shape[0])]
                    assert_array_equal(got, np.array(want, got.dtype),
                                       err_msg=f"{name} normalize={normalize}")
                    if name == "kl_divergence" and k == 0:
                        assert got[-3] == 0.0 and (n == 1 or got[5] == np.inf)
