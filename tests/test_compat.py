"""kl_ext.compat against live SciPy: values, dtypes, shapes, edge cases, errors.

Where SciPy's result is a known bug (listed in the kl_ext.compat module
docstring), the test checks against mpmath instead and says so.
"""

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

scipy = pytest.importorskip("scipy")
from scipy import special as ss  # noqa: E402
from scipy import stats as sst  # noqa: E402
from scipy.spatial import distance as ssd  # noqa: E402

from kl_ext import compat  # noqa: E402

mpmath = pytest.importorskip("mpmath")

RNG_SEED = 20240611


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def rtol_for(dtype):
    dtype = np.dtype(dtype)
    if dtype in (np.float16, np.float32):
        return 2e-5  # SciPy accumulates in float32 (we accumulate in float64)
    return 1e-12


def assert_same(ours, theirs, rtol=1e-12, atol=0.0):
    """Same kind of object (NumPy scalar / ndarray), dtype, shape and values."""
    assert isinstance(ours, np.ndarray) == isinstance(theirs, np.ndarray), \
        (type(ours), type(theirs))
    assert isinstance(ours, np.generic) == isinstance(theirs, np.generic), \
        (type(ours), type(theirs))
    assert np.asarray(ours).dtype == np.asarray(theirs).dtype, \
        (np.asarray(ours).dtype, np.asarray(theirs).dtype)
    assert np.shape(ours) == np.shape(theirs)
    o = np.asarray(ours, dtype=np.float64)
    t = np.asarray(theirs, dtype=np.float64)
    # infinities and NaN in the same places, with the same sign
    np.testing.assert_array_equal(np.isnan(o), np.isnan(t))
    np.testing.assert_array_equal(np.isposinf(o), np.isposinf(t))
    np.testing.assert_array_equal(np.isneginf(o), np.isneginf(t))
    fin = np.isfinite(t)
    assert_allclose(o[fin], t[fin], rtol=rtol, atol=atol)


def exception_of(f, *args, **kwargs):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - we compare types
        return e
    return None


def assert_raises_like(ours, theirs, *args, **kwargs):
    """Call SciPy, capture its exception type, check that ours raises it too."""
    exc = exception_of(theirs, *args, **kwargs)
    assert exc is not None, "SciPy does not raise for this input (bad test case)"
    with pytest.raises(type(exc)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours(*args, **kwargs)


def call_both(ours, theirs, *args, **kwargs):
    """Both results; also checks that ours warns (category) where SciPy does."""
    with warnings.catch_warnings(record=True) as wt:
        warnings.simplefilter("always")
        t = theirs(*args, **kwargs)
    with warnings.catch_warnings(record=True) as wo:
        warnings.simplefilter("always")
        o = ours(*args, **kwargs)
    assert {w.category for w in wo} <= {w.category for w in wt}, \
        ([str(w.message) for w in wo], [str(w.message) for w in wt])
    return o, t


# ---------------------------------------------------------------------------
# element-wise functions
# ---------------------------------------------------------------------------

DBL_MAX = np.finfo(np.float64).max
TINY = np.finfo(np.float64).tiny
SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 3.0, 4.0, np.inf, -np.inf, np.nan,
                    5e-324, 1e-310, TINY, 2.22e-308, 1e-300, 1e-200, 1e200, 1e300,
                    DBL_MAX, -DBL_MAX, -5e-324, 1 + 1e-10, 1 - 1e-10, 0.5000001,
                    1.9999999])
X, Y = (a.ravel() for a in np.meshgrid(SPECIAL, SPECIAL))


def test_ufunc_objects_match_scipy():
    for name in ("rel_entr", "kl_div", "entr"):
        ours, theirs = getattr(compat, name), getattr(ss, name)
        assert isinstance(ours, np.ufunc)
        assert ours.types == theirs.types
        assert (ours.nin, ours.nout) == (theirs.nin, theirs.nout)
        assert ours.__name__ == theirs.__name__


def test_rel_entr_special_points_both_orders():
    # the grid holds every ordered pair, so both argument orders are covered
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither emits FP warnings
        t = ss.rel_entr(X, Y)
        o = compat.rel_entr(X, Y)
    assert_same(o, t, rtol=1e-15)


def test_entr_special_points():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = ss.entr(SPECIAL)
        o = compat.entr(SPECIAL)
    assert_same(o, t, rtol=1e-15)
    assert np.signbit(compat.entr(1.0)) == np.signbit(ss.entr(1.0))


def _mp_kl_div(x, y):
    x, y = mpmath.mpf(float(x)), mpmath.mpf(float(y))
    return float(x * mpmath.log(x / y) - x + y)


def test_kl_div_special_points():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = ss.kl_div(X, Y)
        o = compat.kl_div(X, Y)
    fin_pos = np.isfinite(X) & np.isfinite(Y) & (X > 0) & (Y > 0)
    # outside the finite positive quadrant: SciPy's values exactly
    assert_same(o[~fin_pos], t[~fin_pos], rtol=1e-15)
    # inside: the exact value (SciPy cancels near x = y and overflows x/y;
    # deviation 4 of the module docstring)
    with mpmath.workdps(60):
        exact = np.array([_mp_kl_div(x, y) for x, y in zip(X[fin_pos], Y[fin_pos])])
    assert_allclose(o[fin_pos], exact, rtol=1e-13, atol=0)
    assert (o[fin_pos] >= 0).all()
    # where SciPy is accurate (no cancellation, no overflow), the same values
    ok = np.isfinite(t[fin_pos]) & (t[fin_pos] > 1e-6 * np.maximum(X, Y)[fin_pos])
    assert_allclose(o[fin_pos][ok], t[fin_pos][ok], rtol=1e-12)


def test_kl_div_accurate_near_equal_arguments():
    # deviation 4: relative accuracy for r = x/y - 1 from 1e-15 to 1, both
    # signs (series band |r| <= 1/16 and the plain-log region beyond)
    rng = np.random.default_rng(RNG_SEED)
    y = rng.uniform(0.5, 2.0, 300) * 10.0 ** rng.integers(-300, 300, 300)
    r = rng.choice([-1, 1], 300) * 10.0 ** rng.uniform(-15, 0, 300)
    x = y * (1 + r)
    x[x <= 0] = y[x <= 0] * 0.5
    with mpmath.workdps(80):
        exact = np.array([_mp_kl_div(a, b) for a, b in zip(x, y)])
    assert_allclose(compat.kl_div(x, y), exact, rtol=2e-13, atol=0)


def test_rel_entr_gh20710_values():
    assert compat.rel_entr(4, 2.22e-308) == 2839.139983229607
    assert compat.rel_entr(1e-200, 1e+200) == -9.210340371976183e-198
    # log1p form near x = y: relative accuracy against mpmath
    rng = np.random.default_rng(RNG_SEED)
    x = rng.uniform(0.1, 10, 200)
    y = x * (1 + rng.uniform(-0.4, 0.9, 200) * 10.0 ** rng.integers(-15, 0, 200))
    with mpmath.workdps(50):
        exact = [float(mpmath.mpf(a) * mpmath.log(mpmath.mpf(a) / mpmath.mpf(b)))
                 for a, b in zip(x, y)]
    assert_allclose(compat.rel_entr(x, y), exact, rtol=1e-14, atol=0)
    assert_same(compat.rel_entr(x, y), ss.rel_entr(x, y), rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int8,
                                   np.int64, np.uint16, np.bool_])
def test_ufunc_dtypes_and_values(dtype):
    rng = np.random.default_rng(RNG_SEED)
    a = (rng.random((3, 4)) * 5).astype(dtype)
    b = (rng.random(4) * 5 + 0.5).astype(dtype)
    for name in ("rel_entr", "kl_div"):
        o, t = call_both(getattr(compat, name), getattr(ss, name), a, b)
        assert_same(o, t, rtol=rtol_for(o.dtype))
    o, t = call_both(compat.entr, ss.entr, a)
    assert_same(o, t, rtol=rtol_for(o.dtype))


def test_ufunc_scalars_broadcasting_out_where():
    for args in [(1, 2), (np.float32(1), np.float32(3)), (np.float32(1), 3.0),
                 (2.0, [1.0, 2.0]), ([[1.0], [2.0]], [1.0, 2.0, 3.0])]:
        for name in ("rel_entr", "kl_div"):
            o, t = call_both(getattr(compat, name), getattr(ss, name), *args)
            assert_same(o, t, rtol=1e-6)
    o, t = call_both(compat.entr, ss.entr, 0.5)
    assert_same(o, t)
    out = np.full(3, -7.0)
    r = compat.rel_entr([1.0, 2.0, 3.0], 2.0, out=out, where=[True, False, True])
    assert r is out
    assert out[1] == -7.0 and out[0] == ss.rel_entr(1.0, 2.0)
    # ufunc methods exist and agree (identity 0, as SciPy's)
    assert compat.rel_entr.identity == ss.rel_entr.identity
    assert_same(compat.rel_entr.reduce([1.0, 2.0]), ss.rel_entr.reduce([1.0, 2.0]))
    assert_same(compat.kl_div.outer([1.0, 2.0], [3.0]), ss.kl_div.outer([1.0, 2.0], [3.0]))


def test_ufunc_float32_loop_matches_scipy():
    rng = np.random.default_rng(RNG_SEED)
    x = rng.random(2000).astype(np.float32)
    y = rng.random(2000).astype(np.float32)
    assert_same(compat.rel_entr(x, y), ss.rel_entr(x, y), rtol=1e-6)
    assert_same(compat.entr(x), ss.entr(x), rtol=1e-6)
    assert_same(compat.kl_div(x, y), ss.kl_div(x, y), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("bad", [
    np.array([1 + 1j]), np.array([1.0], dtype=np.longdouble),
    np.array([1.0], dtype=object), np.array(["a"]), "abc",
])
def test_ufunc_errors(bad):
    assert_raises_like(compat.entr, ss.entr, bad)
    assert_raises_like(compat.rel_entr, ss.rel_entr, bad, 1.0)
    assert_raises_like(compat.kl_div, ss.kl_div, 1.0, bad)


def test_ufunc_errors_shapes():
    assert_raises_like(compat.rel_entr, ss.rel_entr, [1.0, 2.0], [1.0, 2.0, 3.0])
    assert_raises_like(compat.kl_div, ss.kl_div, [1.0])
    assert_raises_like(compat.entr, ss.entr, [1.0, 2.0], out=np.empty(3))
    assert_raises_like(compat.entr, ss.entr, [1.0, 2.0], out=np.empty(2, np.int64))


# ---------------------------------------------------------------------------
# entropy
# ---------------------------------------------------------------------------

def _gen_cases():
    rng = np.random.default_rng(RNG_SEED)
    cases = []
    shapes_axes = [((7,), 0), ((7,), -1), ((7,), None), ((4, 5), 0), ((4, 5), 1),
                   ((4, 5), -1), ((4, 5), None), ((2, 3, 4), 1), ((2, 3, 4), (0, 2)),
                   ((2, 3, 4), -1), ((1, 6), 0)]
    for shape, axis in shapes_axes:
        for with_q in (False, True):
            for base in (None, 2, 10.0):
                p = rng.random(shape)
                p[p < 0.15] = 0.0
                q = rng.random(shape) + 0.01 if with_q else None
                cases.append((p, q, base, axis))
    return cases


@pytest.mark.parametrize("p,q,base,axis", _gen_cases())
def test_entropy_generated(p, q, base, axis):
    for keepdims in (False, True):
        o, t = call_both(compat.entropy, sst.entropy, p, q, base, axis,
                         keepdims=keepdims)
        assert_same(o, t, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32,
                                   np.uint8, np.bool_])
@pytest.mark.parametrize("two_d", [False, True])
def test_entropy_dtypes(dtype, two_d):
    rng = np.random.default_rng(RNG_SEED)
    shape = (3, 5) if two_d else (5,)
    p = (rng.random(shape) * 6 + 1).astype(dtype)
    q = (rng.random(shape) * 6 + 1).astype(dtype)
    for args in [(p,), (p, q), (p, None, 2)]:
        o, t = call_both(compat.entropy, sst.entropy, *args)
        assert_same(o, t, rtol=rtol_for(np.asarray(t).dtype))
    # mixed: float32 against float64 (and against a Python list) promotes
    for qq in (q.astype(np.float64), [1, 2, 3, 4, 5]):
        if two_d and isinstance(qq, list):
            continue
        o, t = call_both(compat.entropy, sst.entropy, p, qq)
        assert_same(o, t, rtol=rtol_for(np.asarray(t).dtype))


ENTROPY_EDGE = [
    ([],), ([[]],), (3.0,), (3.0, 2.0), (np.float32(3.0),), ([1, 2, 3], 2.0),
    ([1, -1, 3],), ([1, -1],), ([0, 0],), ([0.0, 1.0],), ([np.inf, 1.0],),
    ([-np.inf, 1.0],), ([np.inf, np.inf],), ([1, 2], [0, 0]), ([1, 2], [3, -4]),
    ([1, 2], [0, 1]), ([0, 1], [1, 0]), ([-1, -2], [-1, -2]), ([5e-324, 5e-324],),
    ([5e-324, 1.0], [1.0, 5e-324]),
    ([[1, 2], [0, 0], [1, -1], [3, 4]],), ([[1, 2], [0, 0]], [[1, 1], [1, -1]]),
    (np.ones((0, 3)),), (np.ones((3, 0)),), (np.ones((2, 0, 3)),),
]


@pytest.mark.parametrize("args", ENTROPY_EDGE, ids=repr)
@pytest.mark.parametrize("kw", [{}, {"base": 2}, {"axis": -1}, {"keepdims": True},
                                {"axis": None}])
def test_entropy_edge_values(args, kw):
    if "axis" in kw and kw["axis"] == -1 and np.ndim(args[0]) == 0:
        pass
    e = exception_of(sst.entropy, *args, **kw)
    if e is not None:
        assert_raises_like(compat.entropy, sst.entropy, *args, **kw)
        return
    o, t = call_both(compat.entropy, sst.entropy, *args, **kw)
    assert_same(o, t, rtol=1e-12)


def test_entropy_dominant_entry_is_exact_where_scipy_drops_a_term():
    # deviation 5 of the module docstring: H([1e-300, 1]) = 1e-300 (log 1e300
    # + 1) exactly to first order; SciPy loses the dominant entry's term
    # -(1/(1+1e-300)) log(1/(1+1e-300)) = 1e-300 (0.14 % of the value)
    want = 1e-300 * (300 * math.log(10) + 1)
    assert compat.entropy([1e-300, 1.0]) == pytest.approx(want, rel=1e-14)
    assert sst.entropy([1e-300, 1.0]) == pytest.approx(1e-300 * 300 * math.log(10), rel=1e-14)


@pytest.mark.parametrize("base", [1, 1.0, np.inf, np.nan, 0.5, True, np.float32(2)])
def test_entropy_base_quirks(base):
    for args in [([1, 2],), ([1, 0],), ([[1, 2], [3, 4]],), ([1, 2], [2, 1])]:
        o, t = call_both(compat.entropy, sst.entropy, *args, base=base)
        assert_same(o, t, rtol=1e-12)
    with pytest.warns(RuntimeWarning, match="divide by zero"):  # as SciPy
        assert compat.entropy([1, 2], base=1) == np.inf


NAN_CASES = [
    (np.array([1.0, np.nan, 3.0]), None),
    (np.array([1.0, 2.0, 3.0]), np.array([1.0, np.nan, 2.0])),
    (np.array([np.nan]), None),
    (np.array([[1.0, np.nan], [3.0, 4.0]]), None),
    (np.array([[1.0, 3.0], [np.nan, 4.0]]), None),
    (np.array([[1.0, 3.0, 2.0], [np.nan, 4.0, 1.0]]), np.array([1.0, 1.0, np.nan])),
    (np.array([[np.nan, 3.0], [np.nan, 4.0]]), None),
    (np.array([[1.0, np.nan], [3.0, 4.0]], dtype=np.float32), None),
    (np.array([[1.0, np.nan], [3.0, 4.0]], dtype=np.float16), None),
    (np.array([[1.0, 3.0], [np.nan, 4.0]], dtype=np.float16), None),
    (np.array([1.0, np.nan], dtype=np.float32), None),
    (np.array([1.0, np.nan], dtype=np.float16), None),
]


@pytest.mark.parametrize("p,q", NAN_CASES)
@pytest.mark.parametrize("nan_policy", ["propagate", "omit", "raise"])
@pytest.mark.parametrize("axis", [0, 1, -1, None])
@pytest.mark.parametrize("keepdims", [False, True])
def test_entropy_nan_policy(p, q, nan_policy, axis, keepdims):
    kw = dict(nan_policy=nan_policy, axis=axis, keepdims=keepdims)
    e = exception_of(sst.entropy, p, q, **kw)
    if e is not None:
        assert_raises_like(compat.entropy, sst.entropy, p, q, **kw)
        return
    o, t = call_both(compat.entropy, sst.entropy, p, q, **kw)
    assert_same(o, t, rtol=rtol_for(np.asarray(t).dtype))


ENTROPY_BAD = [
    (([1, 2],), {"base": 0}), (([1, 2],), {"base": -2}), (([1, 2],), {"base": "a"}),
    (([1, 2],), {"base": [2, 3]}), (([1, 2],), {"base": 1j}),
    (([1, 2],), {"axis": 1}), (([1, 2],), {"axis": -2}), (([1, 2],), {"axis": 1.5}),
    (([[1, 2], [3, 4]],), {"axis": 1.0}), (([1, 2],), {"axis": "a"}),
    (([[1, 2], [3, 4]],), {"axis": (0, 0)}),
    (([1, 2, 3], [1, 2]), {}), (([[1, 2, 3]], [[1, 2]]), {"axis": 1}),
    (([[1, 2], [3, 4]], [1, 2]), {"axis": None}),
    (([1, 2],), {"nan_policy": "foo"}), (([[1, 2], [3, 4]],), {"nan_policy": 1}),
    (([1, np.nan],), {"nan_policy": "raise"}),
    (([[1, 2], [np.nan, 4]],), {"nan_policy": "raise"}),
    (([[1, 2], [3]],), {}), ((np.array([1 + 1j, 2]),), {}),
    ((np.array([1.0, 2.0], dtype=np.longdouble),), {}),
    ((np.array([1.0, 2.0], dtype=object),), {}), ((["a", "b"],), {}),
    (([1, 2], [1, 2], 2, 0, 5), {}), (([1, 2],), {"pk": [1, 2]}),
    (([1, 2],), {"bogus": 1}), ((), {}),
    (([[1, 2], [3, 4]],), {"base": 0}),
    ((np.array([[1.0 + 1j, 2], [3, 4]]),), {}),
]


@pytest.mark.parametrize("args,kw", ENTROPY_BAD, ids=repr)
def test_entropy_raises_like_scipy(args, kw):
    assert_raises_like(compat.entropy, sst.entropy, *args, **kw)


def test_entropy_mixed_rows_use_scipy_formula_only_where_needed():
    rng = np.random.default_rng(RNG_SEED)
    p = rng.random((6, 8))
    p[1, 3] = -0.5       # negative entry
    p[4] = 0.0           # zero sum
    q = rng.random((6, 8)) + 0.1
    q[2, 0] = -1.0
    for args in [(p,), (p, q), (p.T, q.T, None, 0), (p, q, 2, 1)]:
        o, t = call_both(compat.entropy, sst.entropy, *args)
        assert_same(o, t, rtol=1e-12)
    # float32 mixed rows keep float32
    o, t = call_both(compat.entropy, sst.entropy, p.astype(np.float32), None, None, 1)
    assert_same(o, t, rtol=2e-5)


def test_entropy_near_identical_is_accurate():
    # deviation 2: SciPy's sum of p log(p/q) cancels here; compare to mpmath
    rng = np.random.default_rng(RNG_SEED)
    p = rng.random(50) + 0.5
    q = p * (1 + 1e-7 * rng.standard_normal(50))
    with mpmath.workdps(60):
        P = [mpmath.mpf(float(v)) for v in p]
        Q = [mpmath.mpf(float(v)) for v in q]
        sp, sq = mpmath.fsum(P), mpmath.fsum(Q)
        exact = float(mpmath.fsum((a / sp) * mpmath.log((a / sp) / (b / sq))
                                  for a, b in zip(P, Q)))
    assert_allclose(compat.entropy(p, q), exact, rtol=1e-9)


def test_entropy_overflowing_sum_is_correct():
    # deviation 3: SciPy returns 0.0 because the sum overflows to inf
    assert_allclose(compat.entropy([1e308, 1e308]), math.log(2), rtol=1e-15)
    assert_allclose(compat.entropy([1e308, 1e308], [1e308, 1e307]),
                    0.5 * math.log(0.5 / (10 / 11)) + 0.5 * math.log(0.5 / (1 / 11)),
                    rtol=1e-13)


def test_jensenshannon_overflowing_sum_is_correct():
    # deviation 3: normalisation is scale-free here, SciPy's overflows
    assert_allclose(compat.jensenshannon([1e308, 1e308], [1e308, 1e307]),
                    ssd.jensenshannon([1.0, 1.0], [1.0, 0.1]), rtol=1e-14)


def test_entropy_inputs_not_modified():
    p = np.array([[1.0, 2.0, -1.0], [3.0, 0.0, 1.0]])
    q = np.array([[2.0, 2.0, 1.0], [3.0, 1.0, 1.0]])
    p0, q0 = p.copy(), q.copy()
    p.flags.writeable = False
    compat.entropy(p, q, axis=1)
    compat.entropy(p, q, base=2, axis=None)
    compat.jensenshannon(p, q, axis=1)
    np.testing.assert_array_equal(p, p0)
    np.testing.assert_array_equal(q, q0)


# ---------------------------------------------------------------------------
# jensenshannon
# ---------------------------------------------------------------------------

def _js_gen():
    rng = np.random.default_rng(RNG_SEED + 1)
    cases = []
    for shape_p, shape_q, axis in [((6,), (6,), 0), ((6,), (6,), -1), ((4, 5), (4, 5), 0),
                                   ((4, 5), (4, 5), 1), ((4, 5), (5,), -1),
                                   ((4, 5), (5,), 0), ((5, 5), (5,), 0), ((4, 5), (1, 5), 1),
                                   ((4, 5), (4, 1), 0), ((3, 4, 5), (4, 5), -1), ((3, 4, 5), (4, 5), 1),
                                   ((3, 4, 5), (3, 4, 5), None), ((4, 5), (5,), None),
                                   ((4, 5), (4, 1), 1), ((4, 1), (4, 5), 1)]:
        for base in (None, 2.0):
            p = rng.random(shape_p)
            p[p < 0.2] = 0.0
            q = rng.random(shape_q) + 0.05
            cases.append((p, q, base, axis))
    return cases


@pytest.mark.parametrize("p,q,base,axis", _js_gen())
def test_jensenshannon_generated(p, q, base, axis):
    for keepdims in (False, True):
        o, t = call_both(compat.jensenshannon, ssd.jensenshannon, p, q, base,
                         axis=axis, keepdims=keepdims)
        assert_same(o, t, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64,
                                   np.bool_])
@pytest.mark.parametrize("two_d", [False, True])
@pytest.mark.parametrize("base", [None, 2.0])
@pytest.mark.parametrize("keepdims", [False, True])
def test_jensenshannon_dtypes(dtype, two_d, base, keepdims):
    # includes SciPy's quirk: float32 1-D input with a base returns float64
    rng = np.random.default_rng(RNG_SEED)
    shape = (3, 6) if two_d else (6,)
    p = (rng.random(shape) * 6 + 1).astype(dtype)
    q = (rng.random(shape) * 6 + 1).astype(dtype)
    if dtype == np.bool_:
        q[..., 0] = False
    o, t = call_both(compat.jensenshannon, ssd.jensenshannon, p, q, base,
                     axis=-1, keepdims=keepdims)
    assert_same(o, t, rtol=rtol_for(dtype) * 10)


def test_jensenshannon_float32_base_quirk():
    p = np.array([1, 2], np.float32)
    q = np.array([2, 1], np.float32)
    assert type(compat.jensenshannon(p, q)) is np.float32
    assert type(compat.jensenshannon(p, q, 2)) is np.float64
    assert compat.jensenshannon(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32),
                                2).dtype == np.float32


JS_EDGE = [
    ([], []), (1.0, 2.0), ([1, -2], [2, 1]), ([0, 0], [1, 1]), ([0, 0], [0, 0]),
    ([np.inf, 1], [1, 1]), ([np.nan, 1], [1, 1]), ([1, 0], [0, 1]),
    ([1.0, 2.0], [1.0, 2.0]), ([5e-324, 1.0], [1.0, 5e-324]),
    ([[1, 2], [0, 0], [1, -1]], [[1, 1], [1, 1], [1, 1]]),
]


@pytest.mark.parametrize("p,q", JS_EDGE, ids=repr)
@pytest.mark.parametrize("base", [None, 2, 1, 0.5, 0, -1, np.inf, [2, 3]])
def test_jensenshannon_edge_values(p, q, base):
    e = exception_of(ssd.jensenshannon, p, q, base)
    if e is not None:
        assert_raises_like(compat.jensenshannon, ssd.jensenshannon, p, q, base)
        return
    o, t = call_both(compat.jensenshannon, ssd.jensenshannon, p, q, base)
    assert_same(o, t, rtol=1e-12)


JS_BAD = [
    (([1, 2, 3], [2, 1]), {}), (([[1, 2], [3, 4]], [2, 1]), {"axis": 1}),
    (([1, 2], [2, 1]), {"axis": 1}), (([1, 2], [2, 1]), {"axis": 1.5}),
    (([1j, 2], [2, 1]), {}), ((["a"], ["b"]), {}),
    ((np.array([1.0, 2.0], dtype=np.longdouble), [1.0, 2.0]), {}),
    ((np.array([1.0, 2.0], dtype=object), [1.0, 2.0]), {}),
    (([1, 2], [2, 1], 2, 0), {}), (([1, 2],), {}), (([[1, 2], [3]], [1, 2]), {}),
    (([1, 2], [2, 1]), {"base": "a"}),
]


@pytest.mark.parametrize("args,kw", JS_BAD, ids=repr)
def test_jensenshannon_raises_like_scipy(args, kw):
    assert_raises_like(compat.jensenshannon, ssd.jensenshannon, *args, **kw)


def test_jensenshannon_never_nan_near_identical():
    # deviation 1 (scipy/scipy#20083): SciPy can return NaN here
    rng = np.random.default_rng(RNG_SEED)
    p = rng.random((200, 16))
    q = p * (1 + 1e-12 * rng.standard_normal((200, 16)))
    d = compat.jensenshannon(p, q, axis=1)
    assert np.isfinite(d).all() and (d >= 0).all()
    assert (compat.jensenshannon(p, p, axis=1) == 0).all()
    # and the exact value (mpmath) for one row; normalising rounds each
    # entry by ~1e-16, so compare at a difference of 1e-8, not 1e-12
    q = p * (1 + 1e-8 * rng.standard_normal((200, 16)))
    d = compat.jensenshannon(p, q, axis=1)
    with mpmath.workdps(60):
        P = [mpmath.mpf(float(v)) for v in p[0]]
        Q = [mpmath.mpf(float(v)) for v in q[0]]
        sp, sq = mpmath.fsum(P), mpmath.fsum(Q)
        js = 0
        for a, b in zip(P, Q):
            a, b = a / sp, b / sq
            m = (a + b) / 2
            js += a * mpmath.log(a / m) + b * mpmath.log(b / m)
        exact = float(mpmath.sqrt(js / 2))
    assert_allclose(d[0], exact, rtol=1e-6)


# ---------------------------------------------------------------------------
# wasserstein_distance, energy_distance
# ---------------------------------------------------------------------------

def _have_cdf_distance():
    try:
        from kl_ext.wasserstein import _cdf_distance  # noqa: F401
    except ImportError:
        return False
    return True


needs_cdf = pytest.mark.skipif(not _have_cdf_distance(),
                               reason="kl_ext.wasserstein._cdf_distance not available")


def _w_cases():
    rng = np.random.default_rng(RNG_SEED + 2)
    cases = [([0, 1, 3], [5, 6, 8], None, None), ([0, 1], [0, 1], [3, 1], [2, 2]),
             ([3.4, 3.9, 7.5, 7.8], [4.5, 1.4], [1.4, 0.9, 3.1, 7.2], [3.2, 3.5]),
             ([1.0], [1.0], None, None), ([0.0], [2.0], None, None),
             ([1, 1, 1], [1, 1], [0, 1, 0], None), ([-np.inf, 1], [1, 2], None, None),
             ([np.nan, 1], [1, 2], None, None), ([0, 1, 2], [0, 1, 2], [1, 0, 0], [0, 0, 1])]
    for n, m in [(1, 5), (10, 10), (37, 50)]:
        u, v = rng.normal(size=n), rng.normal(1, 2, size=m)
        cases.append((u, v, None, None))
        cases.append((u, v, rng.random(n), rng.random(m)))
        cases.append((np.round(u), np.round(v), None, rng.integers(0, 3, m) + 1))
    return cases


@needs_cdf
@pytest.mark.parametrize("u,v,uw,vw", _w_cases())
def test_wasserstein_energy_match_scipy(u, v, uw, vw):
    for ours, theirs in [(compat.wasserstein_distance, sst.wasserstein_distance),
                         (compat.energy_distance, sst.energy_distance)]:
        o, t = call_both(ours, theirs, u, v, uw, vw)
        assert_same(o, t, rtol=1e-12, atol=1e-14)


W_BAD = [
    ([], [1]), ([1], []), ([1, 2], [1], [1], None), ([1, 2], [1], [1, -1], None),
    ([1, 2], [1], [0, 0], None), ([1, 2], [1], [np.inf, 1], None),
    ([1, 2], [1], [np.nan, 1], None), ([1, 2], [1], None, [-1]),
    ([[1, 2], [3, 4]], [1, 2]), (1.0, [1.0]), ([1, 2], [1], [[1, 2]], None),
    (["a"], [1]), ([1j], [1]),
]


@needs_cdf
@pytest.mark.parametrize("args", W_BAD, ids=repr)
def test_wasserstein_energy_raise_like_scipy(args):
    assert_raises_like(compat.wasserstein_distance, sst.wasserstein_distance, *args)
    assert_raises_like(compat.energy_distance, sst.energy_distance, *args)


# ---------------------------------------------------------------------------
# SciPy is not a run-time dependency
# ---------------------------------------------------------------------------

def test_import_without_scipy():
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "scipy" or name.startswith("scipy."):
            raise ImportError("scipy blocked for this test")
sys.meta_path.insert(0, Block())
import kl_ext.compat as c
assert "scipy" not in sys.modules
print(c.entropy([1, 1]), c.jensenshannon([1, 0], [0, 1], 2), c.rel_entr(1, 2))
assert "scipy" not in sys.modules
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0.6931471805599453", "1.0", "-0.6931471805599453"]


def test_signatures_match_scipy():
    import inspect
    pairs = [(compat.jensenshannon, ssd.jensenshannon),
             (compat.wasserstein_distance, sst.wasserstein_distance),
             (compat.energy_distance, sst.energy_distance)]
    pairs.append((compat.entropy, sst.entropy))
    # names, kinds and defaults (kl_ext's carry type annotations, SciPy's not)
    for ours, theirs in pairs:
        o = inspect.signature(ours).parameters
        t = inspect.signature(theirs).parameters
        assert [(p.name, p.kind, p.default) for p in o.values()] == \
            [(p.name, p.kind, p.default) for p in t.values()], ours.__name__


MASKED = [
    (np.ma.array([1.0, 2.0, 3.0], mask=[0, 1, 0]), None),
    (np.ma.array([1.0, 2.0, 3.0], mask=[0, 0, 0]), None),
    (np.array([1.0, 2.0, 3.0]), np.ma.array([2.0, 1.0, 3.0], mask=[1, 0, 0])),
    (np.ma.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], mask=[[0, 1, 0], [1, 1, 1]]),
     np.array([1.0, 1.0, 2.0])),
    (np.ma.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]], mask=[[0, 1, 0], [0, 0, 1]]),
     None),
    (np.ma.array([[1.0, np.nan, 3.0], [4.0, 5.0, np.nan]], mask=[[1, 0, 0], [0, 0, 0]]),
     None),
    (np.ma.array([[1, 2, 3], [4, 5, 6]], mask=[[0, 1, 0], [0, 0, 0]]), None),
]


@pytest.mark.parametrize("p,q", MASKED)
@pytest.mark.parametrize("axis", [0, 1, -1, None])
@pytest.mark.parametrize("nan_policy", ["propagate", "omit"])
def test_entropy_masked_arrays(p, q, axis, nan_policy):
    # masked elements are dropped with their partners, as in SciPy
    kw = dict(axis=axis, nan_policy=nan_policy)
    e = exception_of(sst.entropy, p, q, **kw)
    if e is not None:
        assert_raises_like(compat.entropy, sst.entropy, p, q, **kw)
        return
    o, t = call_both(compat.entropy, sst.entropy, p, q, **kw)
    assert_same(o, t, rtol=1e-12)


# ---------------------------------------------------------------------------
# property-based: any float64 (subnormals, inf, NaN, negatives) element-wise
# ---------------------------------------------------------------------------

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as hst  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

any_f64 = hst.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)


@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=6), elements=any_f64),
       hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=6), elements=any_f64))
def test_rel_entr_entr_any_float(x, y):
    try:
        np.broadcast_shapes(x.shape, y.shape)
    except ValueError:
        y = y.ravel()[:1]
    assert_same(compat.rel_entr(x, y), ss.rel_entr(x, y), rtol=1e-15)
    assert_same(compat.entr(x), ss.entr(x), rtol=1e-15)


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=8),
                  elements=hst.one_of(hst.just(0.0), hst.floats(1e-3, 1.0))),
       hst.sampled_from([1e-300, 1e-5, 1.0, 1e300]),
       hst.sampled_from([0, -1, None]), hst.sampled_from([None, 2.0]))
def test_entropy_any_nonnegative(p, scale, axis, base):
    # entries within a factor 1e3 of each other (or 0), at any scale: with
    # one entry dominating by 1e6, both SciPy and the kernels lose ~1e-11
    # relative (the dominant term is (1 - e) log(1 - e) with 1 - e rounded)
    p = p * scale
    o, t = call_both(compat.entropy, sst.entropy, p, None, base, axis)
    assert_same(o, t, rtol=1e-12, atol=1e-300)
