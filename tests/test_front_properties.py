"""Property tests of the C fronts (src/_front.h): on small random rows,
every call a front answers gives exactly what its Python definition gives
on the general path (no fast path: the many-rows kernel, tile by tile):
the same type and bits of the value, or the same exception and message,
and the same warnings.  Rows include zeros, near-equal and equal rows,
float32, strided and 2-D inputs and a few invalid entries (issue 14: the
short-row kernels the fronts call must not change one bit)."""
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

import kl_ext  # noqa: E402
from kl_ext import compat  # noqa: E402
from kl_ext._table import MEASURES  # noqa: E402


class _NoSmall:
    """The tier module with `small` always declining: the general path."""

    def __init__(self, mod):
        self._mod = mod

    def small(self, *args):
        return None

    def __getattr__(self, name):
        return getattr(self._mod, name)


def _outcome(f, *args):
    """(type, bits) of f(*args), or (exception type, message); and warnings."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            r = f(*args)
        except Exception as exc:  # noqa: BLE001 -- compared, not hidden
            return (type(exc), str(exc)), [str(x.message) for x in w]
    return (type(r), np.asarray(r).tobytes()), [str(x.message) for x in w]


_SPECIAL = [0.0, -0.0, 1e-310, 1e-200, 1e200, 1e300, -0.25, np.nan, np.inf]


@st.composite
def _rows(draw):
    """(p, q): 1-D rows of 1-24 elements (float64 or float32): seeded
    random entries with some zeros, q unrelated, equal, near-equal or one
    ulp away from p, sometimes one special entry (subnormal, huge,
    negative, NaN, inf), sometimes strided or 2-D."""
    n = draw(st.sampled_from([1, 4, 8, 9, 10, 11, 12, 13, 16, 17]) | st.integers(1, 24))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    zeros = draw(st.sampled_from([0.0, 0.0, 0.2, 0.6]))
    scale = draw(st.sampled_from([1.0, 1.0, 1e-3, 1e3]))
    p = scale * rng.random(n) * (rng.random(n) >= zeros)
    kind = draw(st.sampled_from(["other"] * 5 + ["equal", "near", "ulp"]))
    if kind == "other":
        q = rng.random(n) * (rng.random(n) >= zeros)
    elif kind == "equal":
        q = p.copy()
    elif kind == "near":
        eps = draw(st.sampled_from([1e-15, 1e-12, 1e-9, 1e-6, 1e-3, 0.05]))
        q = p * (1.0 + eps * rng.standard_normal(n))
    else:
        q = p.copy()
        i = rng.integers(n)
        q[i] = np.nextafter(q[i], np.inf)
    for a in (p, q):
        if draw(st.integers(0, 5)) == 0:
            a[draw(st.integers(0, n - 1))] = draw(st.sampled_from(_SPECIAL))
    with np.errstate(over="ignore"):  # 1e200 is inf in float32
        p, q = p.astype(dtype), q.astype(dtype)
    layout = draw(st.sampled_from(["contiguous", "contiguous", "strided", "2-D"]))
    if layout == "strided":
        p = np.repeat(p, 2)[::2]
        q = np.repeat(q, 2)[::2]
    elif layout == "2-D":
        p, q = p[None, :], q[None, :]
    return p, q


_FUNCS = [(m.name, getattr(kl_ext, m.name), m.takes_q) for m in MEASURES] + [
    ("compat.entropy(pk)", compat.entropy, False),
    ("compat.entropy(pk, qk)", compat.entropy, True),
    ("compat.jensenshannon", compat.jensenshannon, True)]


@settings(max_examples=500, deadline=None)
@given(rows=_rows())
def test_front_equals_general_path(rows):
    p, q = rows
    p0, q0 = p.copy(), q.copy()
    calls = [(label, f, (p, q) if takes_q else (p,)) for label, f, takes_q in _FUNCS]
    fast = [_outcome(f, *a) for _, f, a in calls]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kl_ext.measures, "_k", _NoSmall(kl_ext.measures._k))
        mp.setattr(kl_ext.measures, "_small", _NoSmall(kl_ext.measures._k).small)
        slow = [_outcome(f.__wrapped__, *a) for _, f, a in calls]
    for (label, _, a), fv, sv in zip(calls, fast, slow):
        assert fv == sv, (label, a)
    assert p.tobytes() == p0.tobytes() and q.tobytes() == q0.tobytes()


@settings(max_examples=500, deadline=None)
@given(rows=_rows())
def test_front_equals_a_row_of_a_batch(rows):
    # the one-row kernel a front calls (row_dispatch: for short rows one
    # copy shared by both passes of the pair measures) against the many-rows
    # kernel (tile_rows: many rows per vector block), which sums every row
    # in the same order: a valid 1-D row's value is bit for bit its value
    # as a row of a 2-D batch
    p, q = rows
    if p.ndim != 1:
        return
    for m in MEASURES:
        f = getattr(kl_ext, m.name)
        args = (p, q) if m.takes_q else (p,)
        one, w1 = _outcome(f, *args)
        if one[0] is not type(np.float64(0).astype(p.dtype)) or w1:
            continue  # an error or a warning: the other tests compare those
        batch = [np.stack([a, a[::-1], a]) for a in args]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            many = f(*batch)
        assert many.dtype == p.dtype
        assert one[1] == many[0].tobytes() == many[2].tobytes(), (m.name, p, q)
