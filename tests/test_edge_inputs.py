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

PAIR_MEASURES = ["kl_divergence", "js_divergence", "js_distance", "total_variation",
                 "cross_entropy"]


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
