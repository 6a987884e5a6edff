"""kl_ext.report.compare: every field equals the individual kl_ext function.

The report's kernel shares its sums across measures, so these tests hold
each field against the function it stands for, on inputs that exercise the
SIMD groups and every scalar fallback (zeros, NaN, inf, subnormals, huge
values), both dtypes, broadcasting, axes, bases, errors and the slow path.
"""

import importlib
import math

import numpy as np
import pytest

import kl_ext
from kl_ext import _cpu, measures, report
from kl_ext.report import Comparison, compare

# field -> individual function (kl_mean/kl_min are derived from two calls)
FIELDS = {
    "entropy_p": lambda p, q, **kw: kl_ext.entropy(p, **kw),
    "entropy_q": lambda p, q, **kw: kl_ext.entropy(q, **kw),
    "cross_entropy": kl_ext.cross_entropy,
    "kl_pq": kl_ext.kl_divergence,
    "kl_qp": lambda p, q, **kw: kl_ext.kl_divergence(q, p, **kw),
    "kl_mean": lambda p, q, **kw: 0.5 * (kl_ext.kl_divergence(p, q, **kw).astype(np.float64)
                                         + kl_ext.kl_divergence(q, p, **kw)),
    "kl_min": lambda p, q, **kw: np.minimum(kl_ext.kl_divergence(p, q, **kw),
                                            kl_ext.kl_divergence(q, p, **kw)),
    "js_divergence": kl_ext.js_divergence,
    "js_distance": kl_ext.js_distance,
    "total_variation": lambda p, q, base=None, **kw: kl_ext.total_variation(p, q, **kw),
    "hellinger_distance": lambda p, q, base=None, **kw: kl_ext.hellinger_distance(p, q, **kw),
    "jeffreys_divergence": kl_ext.jeffreys_divergence,
}


def _expected(p, q, **kw):
    """Comparison built from the individual functions, with the entropies'
    arguments broadcast to the pair's shape (compare broadcasts first)."""
    pa, qa = np.asarray(p), np.asarray(q)
    shape = np.broadcast_shapes(pa.shape, qa.shape)
    pb, qb = np.broadcast_to(pa, shape), np.broadcast_to(qa, shape)
    return {name: fn(pb, qb, **kw) for name, fn in FIELDS.items()}


def _check(p, q, rtol=1e-13, **kw):
    got = compare(p, q, **kw)
    assert isinstance(got, Comparison)
    want = _expected(p, q, **kw)
    for name in Comparison._fields:
        g, w = getattr(got, name), want[name]
        assert np.shape(g) == np.shape(w), name
        if name not in ("kl_mean", "kl_min"):
            assert np.asarray(g).dtype == np.asarray(w).dtype, name
        np.testing.assert_allclose(g, w, rtol=rtol, atol=0, equal_nan=True,
                                   err_msg=name)
    return got


def _cases():
    rng = np.random.default_rng(5)
    cases = []
    for n in (1, 2, 7, 8, 9, 64, 65, 1000, 4099):
        p, q = rng.random(n), rng.random(n)
        cases.append((p, q))
        z = p.copy()
        z[rng.random(n) < 0.3] = 0.0
        cases.append((z, q))
        cases.append((p, z))
        cases.append((p, p * (1 + 1e-7 * rng.standard_normal(n))))  # drift
        cases.append((p * 1e6, q * 3.0))  # raw counts, unequal totals
        cases.append((np.r_[1.0, 1e-6 * p[1:]], q))  # low entropy (refinement)
    base = rng.random(40)
    for special in (np.nan, np.inf, 5e-324, 1e-310, 1e-200, 1e200, 1e308, 0.0):
        for pos in (0, 7, 39):
            p = base.copy()
            p[pos] = special
            cases.append((p, base[::-1].copy()))
            cases.append((base[::-1].copy(), p))
    return cases


CASES = _cases()


@pytest.mark.parametrize("normalize", [True, False])
def test_each_field_equals_the_individual_function(normalize):
    for p, q in CASES:
        with np.errstate(all="ignore"):
            _check(p, q, normalize=normalize)


def test_many_rows_at_once_equal_row_by_row():
    # every case of length 40 stacked: the 2-D path, flagged rows included
    ps = np.array([p for p, _ in CASES if p.size == 40])
    qs = np.array([q for p, q in CASES if p.size == 40])
    with np.errstate(all="ignore"):
        got = _check(ps, qs)
        for i in range(len(ps)):
            one = compare(ps[i], qs[i])
            for name in Comparison._fields:
                np.testing.assert_array_equal(getattr(got, name)[i], getattr(one, name))


def test_one_dimensional_input_gives_numpy_scalars():
    r = compare([0.5, 0.5], [0.9, 0.1])
    assert all(type(v) is np.float64 for v in r)
    assert r.kl_pq == kl_ext.kl_divergence([0.5, 0.5], [0.9, 0.1])
    assert r.kl_mean == pytest.approx(0.5 * (r.kl_pq + r.kl_qp), rel=1e-15)
    assert r.kl_min == r.kl_qp
    assert r.js_distance == pytest.approx(math.sqrt(r.js_divergence), rel=1e-15)


def test_float32_in_float32_out():
    rng = np.random.default_rng(1)
    p = rng.random((4, 50)).astype(np.float32)
    q = rng.random(50).astype(np.float32)
    r = _check(p, q, rtol=1e-6)
    assert all(v.dtype == np.float32 for v in r)
    r1 = compare(p[0], q)
    assert all(type(v) is np.float32 for v in r1)
    # mixed float32/float64 gives float64, as the individual functions
    assert compare(p, q.astype(np.float64)).kl_pq.dtype == np.float64


@pytest.mark.parametrize("base", [2, math.e, 10])
def test_base_divides_every_logarithmic_field(base):
    rng = np.random.default_rng(2)
    p, q = rng.random((3, 20)), rng.random((3, 20))
    r = _check(p, q, base=base)
    np.testing.assert_array_equal(r.total_variation, kl_ext.total_variation(p, q))


def test_broadcasting_axis_and_strided_views():
    rng = np.random.default_rng(3)
    p = rng.random((3, 4, 30))
    q = rng.random(30)
    _check(p, q)
    _check(p.transpose(2, 0, 1), q[:, None, None], axis=0)
    _check(p[:, ::2, ::3], q[::3])
    _check(np.asfortranarray(p[0]), q)
    r = compare(p, q)
    assert r.kl_pq.shape == (3, 4)


def test_disjoint_supports_give_inf_and_a_finite_intrinsic_discrepancy():
    r = compare([1, 1, 0], [1, 1, 1])
    assert r.kl_pq < math.inf and r.kl_qp == math.inf
    assert r.kl_mean == math.inf
    assert r.kl_min == r.kl_pq
    assert r.cross_entropy == pytest.approx(math.log(3))
    r = compare([1, 0], [0, 1])
    assert r.kl_min == math.inf and r.js_divergence == pytest.approx(math.log(2))
    assert r.total_variation == 1.0


def test_nan_reaches_only_the_fields_that_read_it():
    r = compare([1.0, np.nan], [1.0, 1.0])
    assert r.entropy_q == pytest.approx(math.log(2))
    assert all(math.isnan(v) for v in (r.entropy_p, r.kl_pq, r.kl_qp, r.kl_mean,
                                       r.kl_min, r.js_divergence, r.total_variation))


def test_inf_rows_take_the_exact_slow_path():
    p = np.array([[1.0, np.inf, 2.0], [1.0, 2.0, 3.0]])
    q = np.array([1.0, 1.0, 1.0])
    with np.errstate(all="ignore"):
        r = _check(p, q)
        _check(p, q, normalize=False)
    assert math.isnan(r.kl_pq[0]) and r.entropy_q[0] == pytest.approx(math.log(3))
    # sums far from 1 (rescaled exactly in the slow path)
    _check(np.array([1e-300, 3e-300]), np.array([2e200, 1e200]))


def test_errors_name_the_argument_and_the_row():
    with pytest.raises(ValueError, match=r"p must be non-negative, found -1\.0 in row 1"):
        compare([[1, 1], [-1, 2]], [1, 1])
    with pytest.raises(ValueError, match=r"q must be non-negative, found -2\.0 in row \(1, 0\)"):
        compare(np.ones((2, 2, 2)), np.array([[[1, 1], [1, 1]], [[1, -2], [1, 1]]]))
    with pytest.raises(ValueError, match=r"q sums to 0 in row 2"):
        compare(np.ones((3, 2)), [[1, 1], [1, 1], [0, 0]])
    # H(p) raises for a zero row even though the pair's other row is NaN
    with pytest.raises(ValueError, match="p sums to 0"):
        compare([0.0, 0.0], [np.nan, 1.0])
    with pytest.raises(ValueError, match="do not broadcast"):
        compare(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="empty axis"):
        compare(np.ones((2, 0)), np.ones((2, 0)))
    with pytest.raises(ValueError, match="base > 1"):
        compare([1, 1], [1, 2], base=0.5)
    with pytest.raises(ValueError, match="base"):
        compare([1, 1], [1, 2], base=-2)
    with pytest.raises(TypeError, match="complex"):
        compare([1j, 1], [1, 2])
    with pytest.raises(np.exceptions.AxisError):
        compare([1, 1], [1, 2], axis=1)
    # normalize=False: a zero row is fine
    r = compare([0.0, 0.0], [1.0, 1.0], normalize=False)
    assert r.entropy_p == 0.0 and r.kl_pq == 0.0 and r.kl_qp == math.inf


def test_inputs_are_not_modified():
    p = np.array([[0.2, 0.0, 0.8], [1.0, 2.0, 3.0]])
    q = np.array([0.0, 0.5, 0.5])
    p0, q0 = p.copy(), q.copy()
    p.setflags(write=False)
    compare(p, q)
    compare(p, q, smoothing=1.0)
    np.testing.assert_array_equal(p, p0)
    np.testing.assert_array_equal(q, q0)


def test_long_rows_do_not_depend_on_the_thread_count():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(4)
    p, q = rng.random(300_000), rng.random(300_000)
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        one = compare(p, q)
    two = compare(p, q)
    assert one == two
    _check(p, q)


@pytest.mark.parametrize("tier", _cpu.available_tiers("kl_ext._compare"))
def test_every_cpu_tier_agrees_with_its_divergence_kernels(tier, monkeypatch):
    # (tiers differ from each other by rounding, e.g. ~1e-24 absolute on a
    # KL of 1e-15, so each compare tier is held against the same tier of
    # the individual functions)
    mod = importlib.import_module(_cpu._module("kl_ext._compare", tier))
    monkeypatch.setattr(report, "_kc", mod)
    div = importlib.import_module(_cpu._module("kl_ext._divergence", tier))
    monkeypatch.setattr(measures, "_k", div)
    monkeypatch.setattr(measures, "_small", div.small)
    for p, q in CASES[::3]:
        with np.errstate(all="ignore"):
            _check(p, q, rtol=1e-13)
