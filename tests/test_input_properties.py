"""No input breaks a call: property-based tests of every public function.

Each test draws shapes with zero-length axes, one of the memory layouts
below and magnitudes from 5e-324 to 1.8e308 (float32: 1e-45 to 3.4e38),
calls a public function with every warning turned into an error, and
asserts what any call must satisfy:

* it returns, or raises ValueError/TypeError with a message (nothing else:
  no IndexError, no ZeroDivisionError, no RuntimeWarning from NumPy);
* no input array is modified;
* the result has the documented shape and dtype;
* the result is within the measure's bounds (KL, JS, TV, H >= 0, JS <= log 2
  and TV <= 1 when normalised, W <= the span of the support, ...), and is
  not NaN for finite, valid input.

The drop-ins of kl_ext.compat are held to SciPy instead: the same exception
type, result type, shape and dtype, and no warning SciPy does not give.

The profile (derandomised, max_examples) is set in conftest.py; the
examples here are small arrays, so the module runs in seconds.
"""

import math
import os
import tempfile
import warnings

import numpy as np
import pytest

import kl_ext
from kl_ext import compat, reference
from kl_ext._table import MEASURES as TABLE

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

LN2 = math.log(2.0)
F32, F64 = np.dtype(np.float32), np.dtype(np.float64)

# ---------------------------------------------------------------------------
# values: exact zeros, subnormals, tiny, ordinary and huge magnitudes

SPECIAL64 = [0.0, 5e-324, 1e-310, 1e-300, 1e-20, 1.0, 3.0, 1e20, 1e300, 1e308, 1.7e308,
             1.7976931348623157e308]
SPECIAL32 = [float(np.float32(v)) for v in
             (0.0, 1e-45, 1e-40, 1e-30, 1.0, 3.0, 1e30, 3e38, np.finfo(np.float32).max)]


def magnitudes(dtype, signed=False):
    if dtype == F32:
        base = st.one_of(st.sampled_from(SPECIAL32),
                         st.floats(0.0, SPECIAL32[-1], width=32, allow_subnormal=True))
    else:
        base = st.one_of(st.sampled_from(SPECIAL64),
                         st.floats(0.0, 1.79e308, allow_subnormal=True))
    if signed:
        return st.tuples(base, st.booleans()).map(lambda t: -t[0] if t[1] else t[0])
    return base


# ---------------------------------------------------------------------------
# layouts: the same values in another memory arrangement

_TMP = tempfile.TemporaryDirectory(prefix="kl_ext_props_")
_counter = [0]


def _memmap(a):
    if a.size == 0:  # an empty file cannot be mapped
        return a
    _counter[0] += 1
    path = os.path.join(_TMP.name, f"m{_counter[0]}.bin")
    a.tofile(path)
    return np.memmap(path, dtype=a.dtype, mode="r", shape=a.shape)


def _unaligned(a):
    buf = np.zeros(a.nbytes + 1, dtype=np.uint8)
    u = np.frombuffer(buf.data, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    u[...] = a
    return u


def _strided(a):
    big = np.zeros(tuple(2 * s for s in a.shape), dtype=a.dtype)
    v = big[tuple(slice(None, None, 2) for _ in a.shape)]
    v[...] = a
    return v


def _reversed(a):
    r = np.ascontiguousarray(a[tuple(slice(None, None, -1) for _ in a.shape)])
    return r[tuple(slice(None, None, -1) for _ in a.shape)]


def _transposed(a):
    return np.ascontiguousarray(a.T).T


def _readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def _byteswapped(a):
    return a.astype(a.dtype.newbyteorder())


def _broadcast(a):
    # a broadcast view when a has a repeated axis of the same values; else
    # a read-only broadcast of a to its own shape (strides unchanged)
    for ax, s in enumerate(a.shape):
        if s > 1 and (a == a.take([0], axis=ax)).all():
            return np.broadcast_to(a.take([0], axis=ax), a.shape)
    return np.broadcast_to(a, a.shape)


LAYOUTS = {"contiguous": lambda a: a, "strided": _strided, "negative": _reversed,
           "transposed": _transposed, "fortran": np.asfortranarray,
           "readonly": _readonly, "broadcast": _broadcast, "unaligned": _unaligned,
           "byteswapped": _byteswapped, "memmap": _memmap}
layouts = st.sampled_from(sorted(LAYOUTS))


def arrays(dtype, shape, elements):
    from hypothesis.extra import numpy as hnp
    return hnp.arrays(dtype, shape, elements=elements)


def shapes(min_dims=1, max_dims=3, max_side=5):
    from hypothesis.extra import numpy as hnp
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0,
                            max_side=max_side)


dtypes = st.sampled_from([F64, F32])


@st.composite
def pair_inputs(draw, signed=False, same_n=True, min_dims=1):
    """(p, q, axis) with q's shape p's or p's with axes dropped or set to 1."""
    dtype = draw(dtypes)
    shape = draw(shapes(min_dims=min_dims))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    qshape = list(shape)
    for i in range(len(qshape)):
        if i != axis % len(shape) and draw(st.booleans()):
            qshape[i] = 1
    if draw(st.booleans()):  # drop leading axes (broadcast against p)
        k = draw(st.integers(0, max(0, axis % len(shape))))
        qshape = qshape[k:]
        axis = axis - len(shape) if axis >= 0 else axis  # count from the end
    qdtype = draw(st.sampled_from([dtype, F64]))
    p = draw(arrays(dtype, tuple(shape), magnitudes(dtype, signed)))
    q = draw(arrays(qdtype, tuple(qshape), magnitudes(qdtype, signed)))
    p = LAYOUTS[draw(layouts)](p)
    q = LAYOUTS[draw(layouts)](q)
    return p, q, axis


# ---------------------------------------------------------------------------
# the contract of one call


def snapshot(*arrays):
    return [(a, np.array(a, copy=True)) for a in arrays if isinstance(a, np.ndarray)]


def unchanged(snap):
    for a, before in snap:
        assert a.tobytes() == before.tobytes(), "an input was modified"


def call(fn, *args, **kw):
    """(result, None) or (None, exception); warnings are errors and only
    ValueError/TypeError with a message may escape."""
    snap = snapshot(*args, *kw.values())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            r = fn(*args, **kw)
        except (ValueError, TypeError) as e:
            assert str(e), f"{type(e).__name__} without a message"
            unchanged(snap)
            return None, e
    unchanged(snap)
    return r, None


def reduced_shape(shape, axis):
    ax = axis % len(shape)
    return shape[:ax] + shape[ax + 1:]


def out_dtype(*arrays):
    # (a byte-swapped float32 array is float32 too)
    return F32 if all(np.asarray(a).dtype.type is np.float32 for a in arrays) else F64


def check_result(r, shape, dtype):
    assert np.shape(r) == shape
    assert r.dtype == dtype
    if shape == ():
        assert isinstance(r, np.generic)
    else:
        assert isinstance(r, np.ndarray)


def all_rows(mask, axis):
    return np.all(mask, axis=axis)


# ---------------------------------------------------------------------------
# divergence measures

# the measures of two distributions and their bounds, from the table
PAIR_BOUNDS = {m.name: (m.lower, m.upper) for m in TABLE if m.takes_q}


def _upper(hi, dtype):
    # the bound as the result dtype rounds it
    return float(np.float32(hi)) * (1 + 1e-7) if dtype == F32 else hi * (1 + 1e-15)


@pytest.mark.parametrize("name", sorted(PAIR_BOUNDS))
@given(data=pair_inputs(), normalize=st.booleans())
def test_pair_measures(name, data, normalize):
    p, q, axis = data
    r, err = call(getattr(kl_ext, name), p, q, axis=axis, normalize=normalize)
    shape = np.broadcast_shapes(p.shape, q.shape)
    if err is not None:
        ax = axis % len(shape)
        assert shape[ax] == 0 or (normalize and "sums to 0" in str(err)), err
        return
    check_result(r, reduced_shape(shape, axis), out_dtype(p, q))
    lo, hi = PAIR_BOUNDS[name]
    v = np.asarray(r, dtype=np.float64)
    if normalize:  # (unnormalised terms beyond 1.8e308 can still give NaN)
        assert not np.isnan(v).any(), "NaN for finite non-negative input"
    if normalize or name not in ("kl_divergence", "cross_entropy"):
        assert (v[~np.isnan(v)] >= lo).all()
    if normalize:
        assert (v <= _upper(hi, r.dtype)).all()


@given(dtype=dtypes, shape=shapes(), layout=layouts, data=st.data(),
       normalize=st.booleans())
def test_entropy(dtype, shape, layout, data, normalize):
    p = LAYOUTS[layout](data.draw(arrays(dtype, shape, magnitudes(dtype))))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    r, err = call(kl_ext.entropy, p, axis=axis, normalize=normalize)
    if err is not None:
        assert shape[axis] == 0 or "sums to 0" in str(err), err
        return
    check_result(r, reduced_shape(shape, axis), dtype)
    v = np.asarray(r, dtype=np.float64)
    if normalize:
        assert not np.isnan(v).any()
        assert (v >= 0).all()
        assert (v <= _upper(math.log(shape[axis]), dtype)).all()


@given(data=pair_inputs(), normalize=st.booleans(), base=st.sampled_from([None, 2, 10]))
def test_compare(data, normalize, base):
    p, q, axis = data
    r, err = call(kl_ext.compare, p, q, axis=axis, normalize=normalize, base=base)
    shape = np.broadcast_shapes(p.shape, q.shape)
    if err is not None:
        assert shape[axis % len(shape)] == 0 or "sums to 0" in str(err), err
        return
    for field, v in zip(r._fields, r):
        check_result(v, reduced_shape(shape, axis), out_dtype(p, q))
        v = np.asarray(v, dtype=np.float64)
        assert not (normalize and np.isnan(v).any()), field
        if normalize and field in ("kl_pq", "kl_qp", "js_divergence", "total_variation"):
            assert (v >= 0).all(), field


@given(data=pair_inputs(signed=True))
def test_negative_entries_raise(data):
    p, q, axis = data
    for name in PAIR_BOUNDS:
        r, err = call(getattr(kl_ext, name), p, q, axis=axis)
        if (p < 0).any() or (q < 0).any():
            shape = np.broadcast_shapes(p.shape, q.shape)
            if math.prod(shape):
                assert err is not None and isinstance(err, ValueError)


# ---------------------------------------------------------------------------
# Wasserstein


def span(*arrays, dtype=F64):
    """max - min over the arrays (inf if it overflows), with a relative
    slack for the rounding of the result's dtype."""
    vals = [np.asarray(a, dtype=np.float64).ravel() for a in arrays if np.size(a)]
    if not vals:
        return 0.0
    x = np.concatenate(vals)
    s = float(np.max(x)) - float(np.min(x))
    with np.errstate(over="ignore"):
        return float(np.float32(s)) * (1 + 1e-7) if dtype == F32 else s * (1 + 1e-12)


@given(data=pair_inputs(), normalize=st.booleans(),
       order=st.sampled_from([1, 2, 3.5, math.inf]), with_support=st.booleans())
def test_wasserstein_hist(data, normalize, order, with_support):
    p, q, axis = data
    shape = np.broadcast_shapes(p.shape, q.shape)
    n = shape[axis % len(shape)]
    x = None
    if with_support and n:
        x = np.sort(np.random.default_rng(n).choice(SPECIAL64 + [-s for s in SPECIAL64], n))
    r, err = call(kl_ext.wasserstein_hist, p, q, support=x, order=order, axis=axis,
                  normalize=normalize)
    if err is not None:
        assert n == 0 or "sums to 0" in str(err), err
        return
    check_result(r, reduced_shape(shape, axis), out_dtype(p, q))
    v = np.asarray(r, dtype=np.float64)
    assert (v >= 0).all()
    if normalize or order != 1:
        assert not np.isnan(v).any(), "NaN for finite non-negative input"
        assert (v <= span(np.arange(n) if x is None else x, dtype=r.dtype)).all()


@st.composite
def sample_inputs(draw):
    dtype = draw(dtypes)
    ushape = draw(shapes(max_dims=2))
    axis = draw(st.integers(-len(ushape), len(ushape) - 1))
    vshape = list(ushape)
    vshape[axis % len(ushape)] = draw(st.integers(0, 5))
    if len(vshape) == 2 and draw(st.booleans()):  # one reference sample
        vshape = [vshape[axis % 2]]
        axis = -1 if axis % 2 == 1 else axis
        if axis == 0:
            vshape = list(ushape)
            vshape[0] = draw(st.integers(0, 5))
    u = draw(arrays(dtype, tuple(ushape), magnitudes(dtype, signed=True)))
    v = draw(arrays(dtype, tuple(vshape), magnitudes(dtype, signed=True)))
    uw = vw = None
    if draw(st.booleans()):
        uw = draw(arrays(F64, tuple(ushape), magnitudes(F64)))
        uw = LAYOUTS[draw(layouts)](uw)
    if draw(st.booleans()):
        vw = draw(arrays(F64, tuple(vshape), magnitudes(F64)))
    return (LAYOUTS[draw(layouts)](u), LAYOUTS[draw(layouts)](v), uw, vw, axis)


@given(data=sample_inputs(), order=st.sampled_from([1, 2, 3.5, math.inf]))
def test_wasserstein_1d(data, order):
    u, v, uw, vw, axis = data
    r, err = call(kl_ext.wasserstein_1d, u, v, uw, vw, order=order, axis=axis)
    if err is not None:
        msg = str(err)
        assert any(w in msg for w in ("empty", "sum", "broadcast", "axis")), err
        return
    batch = np.broadcast_shapes(reduced_shape(u.shape, axis), reduced_shape(v.shape, axis))
    check_result(r, batch, out_dtype(u, v))
    w = np.asarray(r, dtype=np.float64)
    assert not np.isnan(w).any(), "NaN for finite input"
    assert (w >= 0).all()
    assert (w <= span(u, v, dtype=r.dtype)).all()


# ---------------------------------------------------------------------------
# logits


@given(data=pair_inputs(signed=True), temperature=st.sampled_from([1.0, 0.5, 7.0]))
def test_kl_divergence_logits(data, temperature):
    a, b, axis = data
    r, err = call(kl_ext.kl_divergence_logits, a, b, axis=axis, temperature=temperature)
    shape = np.broadcast_shapes(a.shape, b.shape)
    if err is not None:
        assert shape[axis % len(shape)] == 0, err
        return
    check_result(r, reduced_shape(shape, axis), out_dtype(a, b))
    assert not (np.asarray(r) < 0).any()


@given(dtype=dtypes, shape=shapes(), layout=layouts, data=st.data(),
       smoothing=st.sampled_from([0.0, 0.1]))
def test_cross_entropy_logits(dtype, shape, layout, data, smoothing):
    x = LAYOUTS[layout](data.draw(arrays(dtype, shape, magnitudes(dtype, signed=True))))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    lead = reduced_shape(shape, axis)
    n = shape[axis]
    if data.draw(st.booleans()):  # class labels
        y = data.draw(arrays(np.int64, lead, st.integers(0, max(0, n - 1))))
        out = out_dtype(x)
    else:  # probability rows
        y = LAYOUTS[data.draw(layouts)](data.draw(arrays(dtype, shape, magnitudes(dtype))))
        out = out_dtype(x, y)
    r, err = call(kl_ext.cross_entropy_logits, x, y, axis=axis, label_smoothing=smoothing)
    if err is not None:
        assert n == 0, err
        return
    check_result(r, lead, out)
    assert not (np.asarray(r) < 0).any()


# ---------------------------------------------------------------------------
# estimators and parametric families


@given(dtype=dtypes, shape=shapes(), layout=layouts, data=st.data(),
       estimator=st.sampled_from(["k1", "k2", "k3"]))
def test_kl_estimate(dtype, shape, layout, data, estimator):
    lp = LAYOUTS[layout](data.draw(arrays(dtype, shape, magnitudes(dtype, signed=True))))
    lq = LAYOUTS[data.draw(layouts)](
        data.draw(arrays(dtype, shape, magnitudes(dtype, signed=True))))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    r, err = call(kl_ext.kl_estimate, lp, lq, estimator=estimator, axis=axis)
    if err is not None:
        assert shape[axis] == 0, err
        return
    for v in r:
        check_result(v, reduced_shape(shape, axis), dtype)
    if estimator != "k1":
        assert not (np.asarray(r.estimate) < 0).any()


def _param_arrays(draw, n, dtype, elements):
    shape = draw(shapes(min_dims=0, max_dims=2, max_side=3))
    out = []
    for _ in range(n):
        s = shape if draw(st.booleans()) else ()
        a = draw(arrays(dtype, s, elements))
        out.append(LAYOUTS[draw(layouts)](a) if a.ndim else a)
    return out


PARAMETRIC = {
    "kl_gaussian": (4, lambda d: magnitudes(d, signed=True)),
    "kl_beta": (4, lambda d: magnitudes(d)),
    "kl_bernoulli": (2, lambda d: st.floats(0.0, 1.0, width=32 if d == F32 else 64)),
}


@pytest.mark.parametrize("name", sorted(PARAMETRIC))
@given(data=st.data(), dtype=dtypes)
def test_parametric(name, data, dtype):
    k, elements = PARAMETRIC[name]
    args = _param_arrays(data.draw, k, dtype, elements(dtype))
    r, err = call(getattr(kl_ext, name), *args)
    if err is not None:
        return
    check_result(r, np.broadcast_shapes(*(a.shape for a in args)), out_dtype(*args))
    assert not (np.asarray(r) < 0).any()


@given(data=st.data())
def test_kl_mvn(data):
    dtype = data.draw(dtypes)
    k = data.draw(st.integers(1, 3))
    batch = data.draw(shapes(min_dims=0, max_dims=1, max_side=3))
    mag = magnitudes(dtype)

    def cov():
        a = data.draw(arrays(dtype, batch + (k, k), mag))
        return LAYOUTS[data.draw(layouts)](a)

    mp = data.draw(arrays(dtype, batch + (k,), magnitudes(dtype, signed=True)))
    mq = data.draw(arrays(dtype, (k,), magnitudes(dtype, signed=True)))
    r, err = call(kl_ext.kl_mvn, mp, cov(), mq, cov())
    if err is not None:
        return
    check_result(r, batch, out_dtype(mp, mq))
    assert not (np.asarray(r) < 0).any()


@given(data=st.data())
def test_kl_ucb(data):
    shape = data.draw(shapes(min_dims=0, max_dims=2, max_side=3))
    mean = data.draw(arrays(F64, shape, st.floats(0.0, 1.0)))
    count = data.draw(arrays(F64, shape, magnitudes(F64)))
    t = data.draw(st.sampled_from([1, 2, 1e6, 1e300, 1.7e308]))
    r, err = call(kl_ext.kl_ucb, LAYOUTS[data.draw(layouts)](mean) if shape else mean,
                  count, t)
    if err is not None:
        return
    v = np.asarray(r)
    assert v.shape == shape
    assert ((v >= mean) | np.isnan(v)).all() and (v <= 1).all()


# ---------------------------------------------------------------------------
# kl_ext.compat against SciPy: same exception type, result type, shape and
# dtype, and no warning that SciPy does not give


def outcome(fn, *args, **kw):
    snap = snapshot(*args, *kw.values())
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            r = fn(*args, **kw)
            res = (type(r), np.shape(r), np.asarray(r).dtype)
        except Exception as e:  # noqa: BLE001 - compared with SciPy's
            res = type(e)
            r = None
    unchanged(snap)
    return res, {(x.category, str(x.message)) for x in w}, r


def same_as_scipy(ours, theirs, fn, *args, **kw):
    a, wa, ra = outcome(ours, *args, **kw)
    b, wb, rb = outcome(theirs, *args, **kw)
    assert a == b
    assert wa <= wb, f"warnings SciPy does not give: {wa - wb}"
    return ra, rb


@given(data=pair_inputs(), base=st.sampled_from([None, 2.0]), keepdims=st.booleans())
def test_compat_jensenshannon(data, base, keepdims):
    ssd = pytest.importorskip("scipy.spatial.distance")
    p, q, axis = data
    if p.ndim != q.ndim:
        return  # SciPy normalises along `axis` of each input: same ndim only
    same_as_scipy(compat.jensenshannon, ssd.jensenshannon, None, p, q, base,
                  axis=axis, keepdims=keepdims)


@given(data=pair_inputs(), base=st.sampled_from([None, 2.0]), keepdims=st.booleans(),
       two=st.booleans())
def test_compat_entropy(data, base, keepdims, two):
    ss = pytest.importorskip("scipy.stats")
    p, q, axis = data
    if p.ndim != q.ndim:
        return
    args = (p, q) if two else (p,)
    same_as_scipy(compat.entropy, ss.entropy, None, *args, base=base, axis=axis,
                  keepdims=keepdims)


@given(data=pair_inputs(signed=True))
def test_compat_ufuncs(data):
    sp = pytest.importorskip("scipy.special")
    p, q, _ = data
    for ours, theirs, args in ((compat.rel_entr, sp.rel_entr, (p, q)),
                               (compat.kl_div, sp.kl_div, (p, q)),
                               (compat.entr, sp.entr, (p,))):
        a, wa, _ = outcome(ours, *args)
        b, _, _ = outcome(theirs, *args)
        assert a == b
        assert not wa


def _one_d(draw, signed=True):
    dtype = draw(dtypes)
    n = draw(st.integers(0, 6))
    vals = st.one_of(magnitudes(dtype, signed), st.sampled_from([math.inf, -math.inf]))
    return LAYOUTS[draw(layouts)](draw(arrays(dtype, (n,), vals)))


@st.composite
def cdf_inputs(draw):
    u, v = _one_d(draw), _one_d(draw)
    uw = vw = None
    if draw(st.booleans()):
        uw = LAYOUTS[draw(layouts)](draw(arrays(F64, u.shape, magnitudes(F64))))
    if draw(st.booleans()):
        vw = draw(arrays(F64, v.shape, magnitudes(F64)))
    return u, v, uw, vw


@pytest.mark.parametrize("name", ["wasserstein_distance", "energy_distance"])
@given(data=cdf_inputs())
def test_compat_cdf_distances(name, data):
    ss = pytest.importorskip("scipy.stats")
    ra, rb = same_as_scipy(getattr(compat, name), getattr(ss, name), None, *data)
    if ra is not None and rb is not None:
        if np.isnan(rb) or np.isinf(rb):
            assert np.isnan(ra) == np.isnan(rb) or np.isinf(ra)


# ---------------------------------------------------------------------------
# kl_ext.reference: plain NumPy (it may warn, as NumPy does), but empty
# batches and every layout give the result's shape and dtype


@pytest.mark.parametrize("name", [m.name for m in TABLE])
@given(data=pair_inputs())
@settings(max_examples=30)
def test_reference_shapes(name, data):
    p, q, axis = data
    args = (p,) if name == "entropy" else (p, q)
    shape = np.broadcast_shapes(*(a.shape for a in args))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            r = getattr(reference, name)(*args, axis=axis)
        except (ValueError, TypeError) as e:
            assert str(e)
            return
    assert np.shape(r) == reduced_shape(shape, axis)
