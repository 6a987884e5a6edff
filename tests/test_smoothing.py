"""Additive (Lidstone/Laplace) smoothing: the `smoothing` keyword.

smoothing=alpha must equal the measure of (p + alpha, q + alpha) computed by
hand, alpha = 0 must be exactly the unsmoothed call, and invalid alphas
raise with a message naming the keyword.
"""

import math

import numpy as np
import pytest

import kl_ext
from kl_ext import reference
from kl_ext.report import compare

PAIRS = [kl_ext.cross_entropy, kl_ext.kl_divergence, kl_ext.js_divergence,
         kl_ext.js_distance, kl_ext.total_variation]
ALL = [kl_ext.entropy] + PAIRS


def _call(fn, p, q, **kw):
    if fn is kl_ext.entropy:
        return fn(p, **kw)
    return fn(p, q, **kw)


def _counts(shape, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.integers(0, 5, size=shape).astype(np.float64)
    c[..., 0] = 0.0  # an empty category in every row
    return c


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
@pytest.mark.parametrize("alpha", [0.5, 1, 1e-3, 7.25])
@pytest.mark.parametrize("normalize", [True, False])
def test_equals_the_measure_of_the_smoothed_counts(fn, alpha, normalize):
    p = _counts((4, 9), 1)
    q = _counts((4, 9), 2)
    got = _call(fn, p, q, smoothing=alpha, normalize=normalize)
    want = _call(fn, p + alpha, q + alpha, normalize=normalize)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("alpha", [0.5, 1.0])
def test_matches_the_lidstone_formula(alpha):
    # p_hat_i = (c_i + alpha) / (sum c + n alpha), against the NumPy reference
    c = np.array([3.0, 0.0, 1.0, 6.0])
    d = np.array([0.0, 2.0, 2.0, 1.0])
    n = c.size
    ph = (c + alpha) / (c.sum() + n * alpha)
    qh = (d + alpha) / (d.sum() + n * alpha)
    np.testing.assert_allclose(kl_ext.kl_divergence(c, d, smoothing=alpha),
                               reference.kl_divergence(ph, qh), rtol=1e-14)
    np.testing.assert_allclose(kl_ext.entropy(c, smoothing=alpha),
                               reference.entropy(ph), rtol=1e-14)


def test_makes_kl_with_zeros_in_q_finite():
    p, q = [1, 1, 2], [2, 2, 0]
    assert kl_ext.kl_divergence(p, q) == math.inf
    d = kl_ext.kl_divergence(p, q, smoothing=1)
    assert 0 < d < math.inf
    # a larger alpha pulls both toward uniform: the divergence shrinks
    assert kl_ext.kl_divergence(p, q, smoothing=10) < d


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
@pytest.mark.parametrize("zero", [0, 0.0, np.float64(0), np.int64(0), -0.0])
def test_zero_is_identical_to_no_keyword(fn, zero):
    rng = np.random.default_rng(3)
    p, q = rng.random((3, 20)), rng.random(20)
    p[0, :5] = 0.0
    np.testing.assert_array_equal(_call(fn, p, q, smoothing=zero), _call(fn, p, q))
    assert _call(fn, p[0], q, smoothing=zero) == _call(fn, p[0], q)


def test_zero_makes_no_copy(monkeypatch):
    from kl_ext import measures
    calls = []
    monkeypatch.setattr(measures, "_smooth", lambda a, alpha: calls.append(1))
    kl_ext.kl_divergence([1.0, 2.0], [2.0, 1.0])
    kl_ext.kl_divergence([1.0, 2.0], [2.0, 1.0], smoothing=0)
    assert calls == []


@pytest.mark.parametrize("fn", ALL + [compare], ids=lambda f: f.__name__)
@pytest.mark.parametrize("bad", [-1, -1e-300, math.inf, math.nan])
def test_invalid_alpha_is_a_value_error(fn, bad):
    with pytest.raises(ValueError, match="smoothing must be a finite number >= 0"):
        _call(fn, [1.0, 2.0], [2.0, 1.0], smoothing=bad)


@pytest.mark.parametrize("fn", ALL + [compare], ids=lambda f: f.__name__)
@pytest.mark.parametrize("bad", ["1", None, True, 1j, [1.0]])
def test_non_numeric_alpha_is_a_type_error(fn, bad):
    with pytest.raises(TypeError, match="smoothing must be a real number"):
        _call(fn, [1.0, 2.0], [2.0, 1.0], smoothing=bad)


def test_negative_counts_are_still_rejected():
    with pytest.raises(ValueError, match=r"p must be non-negative, found -0\.5 in row 1"):
        kl_ext.kl_divergence([[1, 1], [-0.5, 1]], [1, 1], smoothing=1)
    with pytest.raises(ValueError, match=r"q must be non-negative, found -2\.0"):
        compare([1, 1], [-2.0, 1], smoothing=3)


def test_broadcasting_and_axis():
    p = _counts((2, 3, 6), 4)
    q = _counts((6,), 5)
    got = kl_ext.kl_divergence(p, q, smoothing=0.5)
    np.testing.assert_array_equal(got, kl_ext.kl_divergence(p + 0.5, q + 0.5))
    got = kl_ext.js_divergence(p.transpose(2, 0, 1), q[:, None, None], axis=0, smoothing=1)
    np.testing.assert_allclose(got, kl_ext.js_divergence(p + 1, q + 1), rtol=1e-14)


def test_float32_stays_float32_and_inputs_are_untouched():
    p = _counts((3, 10), 6).astype(np.float32)
    q = _counts(10, 7).astype(np.float32)
    p0, q0 = p.copy(), q.copy()
    got = kl_ext.kl_divergence(p, q, smoothing=0.5)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, kl_ext.kl_divergence(p + np.float32(0.5),
                                                            q + np.float32(0.5)))
    assert kl_ext.entropy(p[0], smoothing=1).dtype == np.float32
    np.testing.assert_array_equal(p, p0)
    np.testing.assert_array_equal(q, q0)


def test_integer_counts():
    c = np.array([3, 0, 1], dtype=np.int64)
    assert kl_ext.entropy(c, smoothing=1) == kl_ext.entropy([4.0, 1.0, 2.0])


def test_compare_smooths_every_field():
    p = _counts((3, 7), 8)
    q = _counts((3, 7), 9)
    got = compare(p, q, smoothing=0.5)
    want = compare(p + 0.5, q + 0.5)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert np.isfinite(got.kl_pq).all() and np.isfinite(got.kl_qp).all()
