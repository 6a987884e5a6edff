"""Regression tests for inputs that used to break a call (issue 13, part 3).

Each test names the case it guards: empty batches, unaligned memory,
magnitudes near the ends of the float range, SciPy's warnings on inf.
The randomised sweep over shapes, layouts and magnitudes is in
test_input_properties.py.
"""

import warnings

import numpy as np
import pytest

import kl_ext
from kl_ext import compat
from kl_ext._table import MEASURES

PAIR_MEASURES = [m.name for m in MEASURES if m.takes_q]


def unaligned(a):
    """A copy of `a` (float64) in a buffer at an odd byte offset."""
    a = np.asarray(a, dtype=np.float64)
    buf = np.zeros(a.nbytes + 1, dtype=np.uint8)
    u = np.frombuffer(buf.data, dtype=np.float64, count=a.size, offset=1)
    u = u.reshape(a.shape)
    u[...] = a
    assert not u.flags.aligned
    return u


def quiet(fn, *args, **kw):
    """Call with every warning turned into an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kw)


# ---------------------------------------------------------------------------
# empty batches: shape (0, n) is ordinary input

# n >= 8 took the row-copy path that indexed row 0 (IndexError)
EMPTY_CASES = [((0, 8), (0, 8), -1, (0,)), ((0, 20), (20,), -1, (0,)),
               ((8, 0), (8, 0), 0, (0,)), ((2, 0, 9), (9,), -1, (2, 0)),
               ((0, 3), (0, 3), -1, (0,)), ((3, 0, 16), (3, 1, 16), -1, (3, 0))]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("pshape, qshape, axis, out", EMPTY_CASES)
@pytest.mark.parametrize("name", PAIR_MEASURES)
def test_empty_batch_pair_measures(name, pshape, qshape, axis, out, dtype):
    r = quiet(getattr(kl_ext, name), np.ones(pshape, dtype), np.ones(qshape, dtype),
              axis=axis)
    assert r.shape == out and r.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape, axis, out", [((0, 8), -1, (0,)), ((8, 0), 0, (0,)),
                                              ((2, 0, 30), -1, (2, 0))])
def test_empty_batch_entropy(shape, axis, out, dtype):
    r = quiet(kl_ext.entropy, np.ones(shape, dtype), axis=axis)
    assert r.shape == out and r.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("pshape, qshape, axis, out", EMPTY_CASES)
def test_empty_batch_compare(pshape, qshape, axis, out, dtype):
    r = quiet(kl_ext.compare, np.ones(pshape, dtype), np.ones(qshape, dtype),
              axis=axis, base=2)
    for field, v in zip(r._fields, r):
        assert v.shape == out and v.dtype == dtype, field


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_empty_batch_logits(dtype):
    x = np.zeros((0, 10), dtype)
    r = quiet(kl_ext.cross_entropy_logits, x, np.zeros(0, dtype=np.int64))
    assert r.shape == (0,) and r.dtype == dtype
    r = quiet(kl_ext.cross_entropy_logits, x, np.ones((1, 10), dtype))
    assert r.shape == (0,) and r.dtype == dtype
    r = quiet(kl_ext.kl_divergence_logits, x, np.zeros(10, dtype))
    assert r.shape == (0,) and r.dtype == dtype
    r = quiet(kl_ext.kl_divergence_logits, np.zeros((10, 0), dtype),
              np.zeros((10, 0), dtype), axis=0)
    assert r.shape == (0,) and r.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_empty_batch_wasserstein(dtype):
    e = np.ones((0, 12), dtype)
    for order in (1, 2):
        r = quiet(kl_ext.wasserstein_hist, e, np.ones(12, dtype), order=order)
        assert r.shape == (0,) and r.dtype == dtype
        r = quiet(kl_ext.wasserstein_1d, e, np.ones((0, 5), dtype), order=order)
        assert r.shape == (0,) and r.dtype == dtype


@pytest.mark.parametrize("shape, axis", [((8, 0), 0), ((0, 8), -1), ((0, 8), 1),
                                         ((2, 0, 9), -1), ((9, 0), 0)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kw", [{}, {"keepdims": True}])
def test_empty_batch_compat_matches_scipy(shape, axis, dtype, kw):
    ssd = pytest.importorskip("scipy.spatial.distance")
    ss = pytest.importorskip("scipy.stats")
    p = np.ones(shape, dtype)
    for ours, theirs in ((compat.jensenshannon(p, p, axis=axis, **kw),
                          ssd.jensenshannon(p, p, axis=axis, **kw)),
                         (compat.jensenshannon(p, p, 2.0, axis=axis, **kw),
                          ssd.jensenshannon(p, p, 2.0, axis=axis, **kw)),
                         (compat.entropy(p, p, axis=axis, **kw),
                          ss.entropy(p, p, axis=axis, **kw))):
        assert type(ours) is type(theirs)
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype


# ---------------------------------------------------------------------------
# unaligned memory (a float64 view at an odd byte offset)

def test_unaligned_wasserstein_hist():
    rng = np.random.default_rng(1)
    p, q = rng.random((3, 10)), rng.random((3, 10))
    x = np.cumsum(rng.random(10))
    for order in (1, 2):
        want = kl_ext.wasserstein_hist(p, q, support=x, order=order)
        got = kl_ext.wasserstein_hist(unaligned(p), unaligned(q), support=unaligned(x),
                                      order=order)
        np.testing.assert_array_equal(got, want)
        got = kl_ext.wasserstein_hist(unaligned(p[0]), unaligned(q[0]), order=order)
        assert got == kl_ext.wasserstein_hist(p[0], q[0], order=order)


def test_unaligned_wasserstein_1d_sorted():
    # the kernel refused the unaligned rows twice and `out` stayed unwritten
    rng = np.random.default_rng(2)
    u, v = np.sort(rng.random((3, 10))), np.sort(rng.random((3, 7)))
    w = rng.random((3, 10))
    for kw in ({}, {"order": 2}, {"order": np.inf}):
        want = kl_ext.wasserstein_1d(u, v, **kw)
        got = kl_ext.wasserstein_1d(unaligned(u), unaligned(v), assume_sorted=True, **kw)
        np.testing.assert_array_equal(got, want)
        want = kl_ext.wasserstein_1d(u, v, w, **kw)
        got = kl_ext.wasserstein_1d(unaligned(u), unaligned(v), unaligned(w), **kw)
        np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------
# magnitudes near the ends of the float range


@pytest.mark.parametrize("normalize_rows", [False, True])
def test_wasserstein_hist_sums_out_of_scale(normalize_rows):
    # sums that overflow, are subnormal or ~1e608 apart: the pair scales
    # under/overflowed (NaN); now the rows are rescaled by powers of two
    cases = [([1e308], [1e-300], 0.0), ([1e308, 1e308], [1e-300, 1], 0.5),
             ([5e-324], [5e-324], 0.0), ([5e-324, 0], [0, 5e-324], 1.0),
             ([1.7e308, 1.7e308, 0], [0, 1e-310, 1e-310], 1.0)]
    for p, q, want in cases:
        if normalize_rows:  # the 4-row block path bails out to the same fix
            p, q = [p] * 5, np.array([q] * 5)
        got = quiet(kl_ext.wasserstein_hist, p, q)
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)
    assert np.isnan(quiet(kl_ext.wasserstein_hist, [1, np.inf], [1e-300, 1]))


def test_wasserstein_hist_huge_orders_and_support():
    # order 2: the row sum overflowed (RuntimeWarning, then NaN)
    got = quiet(kl_ext.wasserstein_hist, [1e308, 1e308], [1e-300, 1], order=2)
    assert got == pytest.approx(np.sqrt(0.5), rel=1e-15)
    # a support wider than the float range: x[i+1] - x[i] overflowed (inf)
    got = quiet(kl_ext.wasserstein_hist, [1, 1], [0, 1], support=[-1.7e308, 1.7e308])
    assert got == 1.7e308
    # float32 histograms on a float64 support: float32 result is inf, no warning
    got = quiet(kl_ext.wasserstein_hist, np.float32([1, 0]), np.float32([0, 1]),
                support=[0, 1e300])
    assert got.dtype == np.float32 and np.isinf(got)


def test_wasserstein_1d_huge_values():
    # the sum of distances overflowed although W_1 = 1.7e308 is finite
    assert quiet(kl_ext.wasserstein_1d, [1.7e308, -1.7e308], [0.0]) == 1.7e308
    np.testing.assert_array_equal(
        quiet(kl_ext.wasserstein_1d, [[1.7e308, -1.7e308]], [0.0]), [1.7e308])
    # a single distance overflows but W_1 does not (1001 B / 1000)
    u, v = [0.0] * 999 + [1.7e308], [-1.7e308] * 1000
    assert quiet(kl_ext.wasserstein_1d, u, v) == pytest.approx(1.7e308 * 1.001)
    # and inf when W itself exceeds the range, without a warning
    assert np.isinf(quiet(kl_ext.wasserstein_1d, [1.7e308], [-1.7e308]))
    r = quiet(kl_ext.wasserstein_1d, np.float32([3e38]), np.float32([-3e38]))
    assert r.dtype == np.float32 and np.isinf(r)


def test_wasserstein_1d_weights_whose_sum_overflows():
    # "overflow encountered in reduce", then ValueError; weights are scale-free
    want = kl_ext.wasserstein_1d([0.0, 1.0], [0.0, 1.0], [1, 1], [3, 1])
    got = quiet(kl_ext.wasserstein_1d, [0.0, 1.0], [0.0, 1.0], [1.7e308, 1.7e308], [3, 1])
    assert got == want
    got = quiet(kl_ext.wasserstein_1d, [[0.0, 1.0]], [0.0, 1.0], [[1.7e308, 1.7e308]],
                [3, 1])
    np.testing.assert_array_equal(got, [want])


@pytest.mark.parametrize("name", ["wasserstein_distance", "energy_distance"])
def test_compat_inf_values_warn_like_scipy(name):
    # SciPy's TestWassersteinDistance/TestEnergyDistance::test_inf_values
    fn = getattr(compat, name)
    with pytest.warns(RuntimeWarning, match="invalid value encountered in subtract"):
        assert np.isnan(fn([1, 2, np.inf], [np.inf, 1]))
    with pytest.warns(RuntimeWarning, match="invalid value encountered in subtract"):
        assert np.isnan(fn([1, 2, np.inf], [np.inf, 1], [1, 1, 1], [2, 2]))
    with np.errstate(invalid="raise"), pytest.raises(FloatingPointError):
        fn([1, 2, np.inf], [np.inf, 1])
    # one infinity: inf, and no warning (as SciPy)
    assert quiet(fn, [1, 2, np.inf], [1, 1]) == np.inf
    assert quiet(fn, [-np.inf, 2], [1, np.inf]) == np.inf


def test_float32_results_beyond_range_are_inf_without_warning():
    f = np.float32
    assert np.isinf(quiet(kl_ext.cross_entropy, f([[3e38]]), f([1e-45]), normalize=False))
    assert np.isinf(quiet(kl_ext.entropy, f([3e38]).astype(">f4"), normalize=False))
    r = quiet(kl_ext.compare, f([[3e38, 3e38]]), f([1e-45, 1]), normalize=False)
    assert r.cross_entropy.dtype == np.float32 and np.isinf(r.cross_entropy)
    r = quiet(kl_ext.compare, f([3e38, 3e38]).astype(">f4"), f([1e-45, 1]),
              normalize=False)
    assert np.isinf(r.cross_entropy)
    assert np.isinf(quiet(kl_ext.cross_entropy_logits, f([[3e38, -3e38]]), [1]))
    est = quiet(kl_ext.kl_estimate, f([0.0]), f([1e30]), estimator="k2")
    assert np.isinf(est.estimate)
    assert np.isinf(quiet(kl_ext.kl_gaussian, f([3e38]), f([1]), f([-3e38]), f([1])))


def test_zero_sum_reported_when_the_other_sum_overflows():
    # the overflowing q row was flagged first and p = 0 gave NaN
    for name in PAIR_MEASURES:
        with pytest.raises(ValueError, match="p sums to 0"):
            quiet(getattr(kl_ext, name), [[0.0, 0.0]], [1e308, 1e308])
        with pytest.raises(ValueError, match="q sums to 0"):
            quiet(getattr(kl_ext, name), [[1e308, 1e308]], [0.0, 0.0])
