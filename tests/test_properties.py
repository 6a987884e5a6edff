"""Property-based tests (hypothesis) of the divergence measures' invariants.

Inputs range over the whole float64 line of non-negative values (exact
zeros, subnormals, 1e-300, 1e300) unless a property needs ordinary values.
The profile is set in conftest.py (derandomised, deadline=None).
"""

import math

import numpy as np
import pytest

import kl_ext
from kl_ext import reference as ref
from kl_ext._table import MEASURES

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

LN2 = math.log(2.0)

# ordinary magnitudes (where algebraic identities hold to ~1e-12) ...
ordinary = st.one_of(st.just(0.0), st.floats(1e-6, 1e6))
# ... and the whole range, exact zeros, subnormals and huge values included
wide = st.one_of(st.just(0.0), st.just(5e-324),
                 st.floats(0.0, 1e300, allow_subnormal=True))


def rows(elements=ordinary, min_n=1, max_n=12, dtype=np.float64):
    return st.integers(min_n, max_n).flatmap(
        lambda n: hnp.arrays(dtype, n, elements=elements))


def pairs(elements=ordinary, max_n=12):
    """(p, q) of equal length, both with a positive sum."""
    return st.integers(1, max_n).flatmap(lambda n: st.tuples(
        hnp.arrays(np.float64, n, elements=elements),
        hnp.arrays(np.float64, n, elements=elements))).filter(
        lambda t: t[0].sum() > 0 and t[1].sum() > 0)


def positive(p):
    return p.sum() > 0


@given(rows(wide).filter(positive))
def test_kl_of_p_with_itself_is_zero(p):
    assert kl_ext.kl_divergence(p, p) == 0.0
    assert kl_ext.js_divergence(p, p) == 0.0
    assert kl_ext.total_variation(p, p) == 0.0
    # also against a scaled copy when the scaling is exact
    if np.array_equal(0.5 * p * 2, p):
        assert kl_ext.kl_divergence(p, 0.5 * p) == 0.0
        assert kl_ext.js_divergence(p, 0.5 * p) == 0.0


@given(pairs())
def test_cross_entropy_is_entropy_plus_kl(pq):
    p, q = pq
    h, d, hpq = kl_ext.entropy(p), kl_ext.kl_divergence(p, q), kl_ext.cross_entropy(p, q)
    if math.isinf(d):
        assert hpq == np.inf
    else:
        assert hpq == pytest.approx(h + d, rel=1e-12, abs=1e-12 * max(h, 1.0))


@given(pairs(wide))
def test_js_symmetric_and_bounded(pq):
    p, q = pq
    a, b = kl_ext.js_divergence(p, q), kl_ext.js_divergence(q, p)
    assert a == pytest.approx(b, rel=1e-13, abs=1e-300)
    assert 0.0 <= a <= LN2
    assert 0.0 <= kl_ext.js_divergence(p, q, base=2) <= 1.0


@given(pairs(wide))
def test_js_distance_never_nan(pq):
    p, q = pq
    d = kl_ext.js_distance(p, q)
    assert not np.isnan(d)
    assert 0.0 <= d <= math.sqrt(LN2)
    assert 0.0 <= kl_ext.js_distance(p, q, base=2) <= 1.0


@given(pairs(wide))
def test_total_variation_in_unit_interval(pq):
    p, q = pq
    tv = kl_ext.total_variation(p, q)
    assert 0.0 <= tv <= 1.0
    assert tv == pytest.approx(kl_ext.total_variation(q, p), rel=1e-14, abs=1e-300)


@given(st.integers(1, 2000), st.floats(1e-300, 1e300))
def test_entropy_of_uniform_is_log_n(n, c):
    # (log s - (1/s) sum p log p cancels by up to a factor 8 before the
    # kernel switches to its second pass: a few 1e-15 relative)
    h = kl_ext.entropy(np.full(n, c))
    assert h == pytest.approx(math.log(n), rel=1e-13, abs=1e-15)
    assert kl_ext.entropy(np.full(n, c), base=2) == pytest.approx(math.log2(n), rel=1e-13,
                                                                   abs=1e-15)


@given(rows(wide).filter(positive))
def test_entropy_between_zero_and_log_n(p):
    h = kl_ext.entropy(p)
    assert 0.0 <= h <= math.log(p.size) * (1 + 1e-14) + 1e-15


@given(pairs(), st.sampled_from([2, 10, 0.5, 3.3]))
def test_base_conversion(pq, base):
    p, q = pq
    lb = math.log(base)
    for f in (kl_ext.cross_entropy, kl_ext.kl_divergence, kl_ext.js_divergence):
        nats = f(p, q)
        assert f(p, q, base=base) == pytest.approx(nats / lb, rel=1e-14, abs=1e-300)
    assert kl_ext.entropy(p, base=2) == pytest.approx(kl_ext.entropy(p) / LN2, rel=1e-14,
                                                      abs=1e-300)
    if base > 1:
        assert kl_ext.js_distance(p, q, base=base) == pytest.approx(
            math.sqrt(kl_ext.js_divergence(p, q) / lb), rel=1e-14, abs=1e-300)


NAMES = [m.name for m in MEASURES]


def _call(mod, name, p, q, **kw):
    f = getattr(mod, name)
    return f(p, **kw) if name == "entropy" else f(p, q, **kw)


@given(st.sampled_from(NAMES), st.sampled_from([np.float64, np.float32]),
       st.booleans(), st.integers(1, 5), st.integers(1, 9), st.data())
def test_batched_equals_row_by_row(name, dtype, normalize, m, n, data):
    el = st.one_of(st.just(0.0), st.floats(2.0**-10, 2.0**10, width=32))
    p = data.draw(hnp.arrays(dtype, (m, n), elements=el))
    q = data.draw(hnp.arrays(dtype, (m, n), elements=el))
    p[:, 0] += 1
    q[:, 0] += 1
    axis = data.draw(st.sampled_from([-1, 0]))
    pa, qa = (p, q) if axis == -1 else (p.T, q.T)
    batch = _call(kl_ext, name, pa, qa, axis=axis, normalize=normalize)
    loop = np.array([_call(kl_ext, name, p[i], q[i], normalize=normalize)
                     for i in range(m)])
    assert batch.dtype == dtype
    np.testing.assert_allclose(batch, loop, rtol=1e-15 if dtype == np.float64 else 1e-7)
    # one broadcast reference row
    rb = _call(kl_ext, name, pa, qa[:, :1] if axis == 0 else qa[0], axis=axis,
               normalize=normalize)
    loop = np.array([_call(kl_ext, name, p[i], q[0], normalize=normalize)
                     for i in range(m)])
    np.testing.assert_allclose(rb, loop, rtol=1e-15 if dtype == np.float64 else 1e-7)


@given(st.sampled_from(NAMES), st.booleans(), pairs())
def test_equals_reference(name, normalize, pq):
    p, q = pq
    got = _call(kl_ext, name, p, q, normalize=normalize)
    want = _call(ref, name, p, q, normalize=normalize)
    if np.isinf(want):
        assert got == want
        return
    if name in ("js_distance", "hellinger_distance"):  # squares: sqrt magnifies errors near 0
        got, want = got ** 2, want ** 2
    # the reference sums p log(p/q) directly and cancels when p ~ q, or,
    # unnormalised, when the terms have both signs: allow for its error
    # (e.g. p = [1, 0, 0, 0, 1, 0], q = [1, 1e-6, 1e-6, 1e-6, 1, 1e-6]: the
    # reference's js_distance is 8e-11 off, kl_ext's 2e-18)
    if normalize:
        scale = 1.0
    else:
        scale = max(p.sum(), q.sum()) * (1 + abs(math.log(max(p.max(), q.max(), 1e-300))))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14 * scale)


counts = st.integers(1, 6).flatmap(lambda n: st.tuples(
    hnp.arrays(np.float64, n, elements=st.integers(0, 1023).map(float)),
    hnp.arrays(np.float64, n, elements=st.integers(0, 1023).map(float))))


@given(st.sampled_from(NAMES), counts, st.integers(-1074, 1000), st.integers(-1074, 1000))
def test_normalised_measures_are_scale_free(name, pq, i, j):
    """Scaling by powers of two is exact for integer counts < 2**10 and
    normalisation is scale-free, so p 2**i against q 2**j gives the same
    value as p against q, down to subnormals and up to 1e301."""
    p, q = pq
    p[0] += 1
    q[0] += 1
    p2, q2 = np.ldexp(p, i), np.ldexp(q, j)
    assert np.array_equal(np.ldexp(p2, -i), p) and np.array_equal(np.ldexp(q2, -j), q)
    a = _call(kl_ext, name, p, q)
    b = _call(kl_ext, name, p2, q2)
    if np.isinf(a):
        assert b == a
    else:
        assert b == pytest.approx(a, rel=1e-13, abs=1e-15)
