"""cross_entropy_logits and kl_divergence_logits (kl_ext.logits).

Checked against the plain-NumPy reference (kl_ext.reference_logits), SciPy,
mpmath (exact values), PyTorch and scikit-learn (optional, skipped when not
installed), on both dtypes, short rows (8 at a time in vector lanes) and
long rows, every CPU tier, the edge conventions and named invariants.
"""

import importlib

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import logsumexp

from kl_ext import _cpu, logits, reference_logits as ref
from kl_ext.logits import cross_entropy_logits as ce, kl_divergence_logits as kl

RNG = np.random.default_rng(20261122)
SIZES = [1, 2, 3, 7, 8, 9, 10, 31, 32, 33, 257, 1000, 4099]
TOL = {np.float64: 1e-13, np.float32: 2e-6}


def _logits(rows, n, scale=3.0, dtype=np.float64):
    return (RNG.normal(size=(rows, n)) * scale).astype(dtype)


def _mp_lse(row):
    return mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(float(v))) for v in row))


def _mp_ce(row, label):
    with mpmath.workdps(400):
        return float(_mp_lse(row) - mpmath.mpf(float(row[label])))


def _mp_kl(a, b, temp=1.0):
    with mpmath.workdps(80):
        A = [mpmath.mpf(float(v)) / temp for v in a]
        B = [mpmath.mpf(float(v)) / temp for v in b]
        la, lb = _mp_lse(A), _mp_lse(B)
        return float(mpmath.fsum(mpmath.exp(x - la) * ((x - la) - (y - lb))
                                 for x, y in zip(A, B)))


# ---------------------------------------------------------------- reference

@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_labels_match_reference(n, dtype):
    x = _logits(19, n, dtype=dtype)   # 19 rows: two 8-row blocks and 3 single rows
    y = RNG.integers(0, n, 19)
    got = ce(x, y)
    assert got.dtype == dtype and got.shape == (19,)
    want = logsumexp(x.astype(np.float64), axis=-1) - x.astype(np.float64)[np.arange(19), y]
    np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("eps", [0.0, 0.1, 1.0])
def test_smoothing_and_probabilities_match_reference(n, eps):
    x = _logits(11, n)
    y = RNG.integers(0, n, 11)
    t = RNG.random((11, n))
    np.testing.assert_allclose(ce(x, y, label_smoothing=eps),
                               ref.cross_entropy_logits(x, y, label_smoothing=eps),
                               rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(ce(x, t, label_smoothing=eps),
                               ref.cross_entropy_logits(x, t, label_smoothing=eps),
                               rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("temp", [1.0, 0.5, 3.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kl_matches_reference(n, temp, dtype):
    a = _logits(19, n, dtype=dtype)
    b = _logits(19, n, dtype=dtype)
    got = kl(a, b, temperature=temp)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, ref.kl_divergence_logits(a, b, temperature=temp),
                               rtol=TOL[dtype] * 10, atol=TOL[dtype])


def test_axis_and_nd():
    x = RNG.normal(size=(3, 5, 4))
    y = RNG.integers(0, 5, (3, 4))
    want = ref.cross_entropy_logits(x, y, axis=1)
    np.testing.assert_allclose(ce(x, y, axis=1), want, rtol=1e-14)
    np.testing.assert_allclose(ce(x, y, axis=-2), want, rtol=1e-14)
    t = RNG.random((3, 5, 4))
    np.testing.assert_allclose(ce(x, t, axis=1), ref.cross_entropy_logits(x, t, axis=1),
                               rtol=1e-14)
    b = RNG.normal(size=(3, 5, 4))
    np.testing.assert_allclose(kl(x, b, axis=1), ref.kl_divergence_logits(x, b, axis=1),
                               rtol=1e-13)
    # transposed and strided views give the same as contiguous copies
    xt = RNG.normal(size=(40, 30)).T
    yt = RNG.integers(0, 40, 30)
    np.testing.assert_array_equal(ce(xt, yt), ce(np.ascontiguousarray(xt), yt))
    np.testing.assert_array_equal(kl(xt, xt[::-1]), kl(np.ascontiguousarray(xt),
                                                      np.ascontiguousarray(xt[::-1])))


# ---------------------------------------------------------------- exact values

@pytest.mark.parametrize("row,label", [
    ([30.0, 0.0], 0), ([700.0, 0.0, -5.0], 0), ([1.0, 2.0, 3.0], 1),
    ([0.0, -40.0, -41.0, -39.0, -45.0, -38.0, -37.0, -36.0, -50.0, -44.0], 0),
    ([1e-9, 0.0, 2e-9], 2), ([100.0] * 9 + [100.0 + 1e-10], 9)])
def test_ce_against_mpmath(row, label):
    want = _mp_ce(row, label)
    got = float(ce(np.array(row), label))
    assert got == pytest.approx(want, rel=2e-15, abs=0)
    # the same row inside a block of 8 rows
    block = np.tile(np.array(row), (8, 1))
    np.testing.assert_allclose(ce(block, np.full(8, label)), want, rtol=2e-15)


@pytest.mark.parametrize("scale", [1e-3, 1e-6, 1e-9, 1e-12])
@pytest.mark.parametrize("n", [5, 10, 40, 1000])
def test_kl_near_equal_against_mpmath(scale, n):
    a = RNG.normal(size=n) * 4 + 50.0
    b = a + scale * RNG.normal(size=n)
    want = _mp_kl(a, b)
    # the rounding of log(Za/Zb) (~1e-16) enters at second order, as
    # (1e-16/d)**2 relative: ~1e-14 at d ~ 1e-9 (KL ~ 1e-19), ~1e-8 at
    # d ~ 1e-12 (KL ~ 1e-25); abs=0, or approx accepts any tiny number
    rel = 1e-9 if scale >= 1e-9 else 1e-5
    assert float(kl(a, b)) == pytest.approx(want, rel=rel, abs=0)
    assert float(kl(np.tile(a, (8, 1)), b)[3]) == pytest.approx(want, rel=rel, abs=0)


def test_kl_far_against_mpmath():
    a = np.array([3.0, -20.0, 0.5, 7.0, 1.0])
    b = np.array([-4.0, 2.0, 0.0, 1.0, 30.0])
    for temp in (1.0, 2.5):
        assert float(kl(a, b, temperature=temp)) == pytest.approx(_mp_kl(a, b, temp),
                                                                 rel=1e-14)


# ---------------------------------------------------------------- PyTorch, sklearn

def test_against_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for n in (1, 3, 10, 33, 1000):
        x = RNG.normal(size=(21, n)) * 4
        y = RNG.integers(0, n, 21)
        t = RNG.random((21, n))
        t /= t.sum(-1, keepdims=True)
        X, Y, T = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(t)
        for eps in (0.0, 0.2):
            np.testing.assert_allclose(
                ce(x, y, label_smoothing=eps),
                F.cross_entropy(X, Y, reduction="none", label_smoothing=eps).numpy(),
                rtol=1e-13, atol=1e-14)
            np.testing.assert_allclose(
                ce(x, t, label_smoothing=eps),
                F.cross_entropy(X, T, reduction="none", label_smoothing=eps).numpy(),
                rtol=1e-13, atol=1e-14)
        b = RNG.normal(size=(21, n)) * 4
        B = torch.from_numpy(b)
        for temp in (1.0, 2.0):
            want = F.kl_div(F.log_softmax(B / temp, -1), F.log_softmax(X / temp, -1),
                            log_target=True, reduction="none").sum(-1).numpy()
            np.testing.assert_allclose(kl(x, b, temperature=temp), want,
                                       rtol=1e-12, atol=1e-14)
    # torch has the classes on dim 1 of (N, C, d): our axis=1
    x = RNG.normal(size=(4, 6, 5))
    y = RNG.integers(0, 6, (4, 5))
    np.testing.assert_allclose(
        ce(x, y, axis=1),
        F.cross_entropy(torch.from_numpy(x), torch.from_numpy(y), reduction="none").numpy(),
        rtol=1e-13)
    # float32 in both
    x32 = RNG.normal(size=(50, 10)).astype(np.float32)
    y32 = RNG.integers(0, 10, 50)
    np.testing.assert_allclose(
        ce(x32, y32), F.cross_entropy(torch.from_numpy(x32), torch.from_numpy(y32),
                                      reduction="none").numpy(), rtol=2e-6)


def test_against_sklearn_log_loss():
    metrics = pytest.importorskip("sklearn.metrics")
    x = RNG.normal(size=(200, 7)) * 2
    y = RNG.integers(0, 7, 200)
    proba = np.exp(ref.log_softmax(x))
    want = metrics.log_loss(y, proba, labels=np.arange(7))
    assert float(np.mean(ce(x, y))) == pytest.approx(want, rel=1e-12)


# ---------------------------------------------------------------- edges

def test_huge_and_infinite_logits():
    assert ce([1e300, -1e300], 0) == 0.0
    assert ce([1e300, -1e300], 1) == 2e300
    assert ce([1e308, -1e308], 1) == np.inf          # the true value overflows
    assert np.isfinite(kl([1e300, -1e300, 0.0], [0.0, 1e300, -1e300]))
    # -inf: a class of probability 0
    assert ce([0.0, -np.inf, 0.0], 0) == pytest.approx(np.log(2))
    assert ce([0.0, -np.inf, 0.0], 1) == np.inf
    assert ce([0.0, -np.inf, 0.0], 0, label_smoothing=0.1) == np.inf
    assert ce([[0.0, -np.inf, 0.0]], [[0.5, 0.0, 0.5]])[0] == pytest.approx(np.log(2))
    assert ce([[0.0, -np.inf, 0.0]], [[0.5, 0.1, 0.4]])[0] == np.inf
    assert kl([0.0, -np.inf, 1.0], [0.0, 0.0, 1.0]) == pytest.approx(
        float(ref.kl_divergence_logits([0.0, -1e10, 1.0], [0.0, 0.0, 1.0])), rel=1e-14)
    assert kl([0.0, 0.0, 1.0], [0.0, -np.inf, 1.0]) == np.inf
    assert kl([0.0, -np.inf], [0.0, -np.inf]) == 0.0
    # NaN, +inf and all -inf rows give NaN for that row only, in blocks too
    x = _logits(9, 10)
    x[2, 3] = np.nan
    x[5, 0] = np.inf
    x[7] = -np.inf
    y = np.zeros(9, dtype=int)
    out = ce(x, y)
    assert np.isnan(out[[2, 5, 7]]).all() and np.isfinite(np.delete(out, [2, 5, 7])).all()
    out = kl(x, _logits(9, 10))
    assert np.isnan(out[[2, 5, 7]]).all() and np.isfinite(np.delete(out, [2, 5, 7])).all()


def test_one_class_and_extreme_labels():
    assert ce([[3.0], [-2.0]], [0, 0]).tolist() == [0.0, 0.0]
    assert kl([[3.0]], [[-1.0]]).tolist() == [0.0]
    x = _logits(16, 12)
    for label in (0, 11):
        y = np.full(16, label)
        np.testing.assert_allclose(ce(x, y), ref.cross_entropy_logits(x, y), rtol=1e-14)


@pytest.mark.parametrize("rows", [1, 8, 12])
def test_label_errors_name_the_row(rows):
    x = _logits(rows, 10)
    y = np.zeros(rows, dtype=int)
    y[rows - 1] = 10
    with pytest.raises(ValueError, match=rf"label 10 is out of range \[0, 10\) in row {rows - 1}"):
        ce(x, y)
    y[rows - 1] = -1
    with pytest.raises(ValueError, match="out of range"):
        ce(x, y)
    yf = np.zeros(rows)
    yf[rows - 1] = 1.5
    with pytest.raises(ValueError, match=rf"must be integers, found 1.5 in row {rows - 1}"):
        ce(x, yf)
    np.testing.assert_array_equal(ce(x, np.ones(rows)), ce(x, np.ones(rows, dtype=int)))
    with pytest.raises(TypeError, match="bool"):
        ce(x, np.zeros(rows, dtype=bool))


def test_other_errors():
    x = _logits(4, 5)
    with pytest.raises(ValueError, match=r"non-negative, found -0.5 in row 2"):
        t = np.full((4, 5), 0.2)
        t[2, 1] = -0.5
        ce(x, t)
    with pytest.raises(ValueError, match="label_smoothing"):
        ce(x, [0, 0, 0, 0], label_smoothing=1.5)
    with pytest.raises(ValueError, match="temperature"):
        kl(x, x, temperature=0.0)
    with pytest.raises(ValueError, match="temperature"):
        kl(x, x, temperature=-1.0)
    with pytest.raises(TypeError, match="temperature"):
        kl(x, x, temperature="hot")
    with pytest.raises(ValueError, match="do not broadcast"):
        kl(x, _logits(3, 5))
    with pytest.raises(ValueError, match="dimensions"):
        ce(x, np.zeros((1, 4, 5)))
    with pytest.raises(ValueError, match="do not match"):
        ce(x, [0, 1, 2])
    with pytest.raises(ValueError, match="empty"):
        kl(np.zeros((3, 0)), np.zeros((3, 0)))
    with pytest.raises(np.exceptions.AxisError):
        ce(x, [0, 0, 0, 0], axis=2)
    with pytest.raises(TypeError, match="complex"):
        kl(x + 0j, x)


# ---------------------------------------------------------------- API contract

def test_broadcasting_reference_row():
    x = _logits(20, 9)
    t = RNG.random((1, 9))
    np.testing.assert_array_equal(ce(x, t), ce(x, np.repeat(t, 20, axis=0)))
    b = _logits(1, 9)[0]
    np.testing.assert_array_equal(kl(x, b), kl(x, np.tile(b, (20, 1))))
    np.testing.assert_array_equal(kl(b, x), kl(np.tile(b, (20, 1)), x))
    # integer probability targets become float64
    onehot = np.eye(9, dtype=np.int64)[RNG.integers(0, 9, 20)]
    np.testing.assert_allclose(ce(x, onehot), ce(x, onehot.argmax(-1)), rtol=1e-15)


def test_dtypes_and_scalars():
    x32 = _logits(5, 10, dtype=np.float32)
    assert ce(x32, [1, 2, 3, 4, 5]).dtype == np.float32
    assert ce(x32, x32 * 0 + 0.1).dtype == np.float32
    assert ce(x32, (x32 * 0 + 0.1).astype(np.float64)).dtype == np.float64
    assert kl(x32, x32[::-1]).dtype == np.float32
    assert isinstance(ce([1.0, 2.0], 1), np.float64)
    assert isinstance(kl(np.float32([1, 2]), np.float32([2, 1])), np.float32)
    assert ce([[1, 2], [3, 1]], [0, 1]).dtype == np.float64     # int logits
    # float32 results agree with float64 on the same values
    np.testing.assert_allclose(kl(x32, x32[::-1]), kl(x32.astype(float), x32[::-1].astype(float)),
                               rtol=1e-6)


def test_inputs_not_modified_and_read_only():
    x = _logits(10, 12)
    t = RNG.random((10, 12))
    y = RNG.integers(0, 12, 10).astype(np.float64)
    copies = [a.copy() for a in (x, t, y)]
    for a in (x, t, y):
        a.flags.writeable = False
    ce(x, y, label_smoothing=0.2)
    ce(x, t)
    kl(x, t)
    for a, c in zip((x, t, y), copies):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("tier", _cpu.available_tiers("kl_ext._logits"))
def test_tiers_agree(monkeypatch, tier):
    base = importlib.import_module("kl_ext._logits")
    x = _logits(37, 45)
    y = RNG.integers(0, 45, 37)
    b = _logits(37, 45)
    x[3, 4] = -np.inf
    want = (ce(x, y), ce(x, np.abs(b)), kl(x, b))
    monkeypatch.setattr(logits, "_k", importlib.import_module(
        _cpu._module("kl_ext._logits", tier)))
    got = (ce(x, y), ce(x, np.abs(b)), kl(x, b))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-14)
    assert base is not None


def test_threads_do_not_change_results():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    x = _logits(40_000, 10)
    y = RNG.integers(0, 10, 40_000)
    b = _logits(40_000, 10)
    with threadpoolctl.threadpool_limits(1):
        one = (ce(x, y), kl(x, b))
    with threadpoolctl.threadpool_limits(2):
        two = (ce(x, y), kl(x, b))
    for a, c in zip(one, two):
        np.testing.assert_array_equal(a, c)


# ---------------------------------------------------------------- properties

finite_rows = hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 40)),
                         elements=st.floats(-50, 50))


@given(finite_rows, st.floats(-1e3, 1e3), st.floats(0.1, 10))
def test_kl_nonnegative_identity_and_shift_invariance(a, shift, temp):
    b = a[::-1].copy()
    d = kl(a, b, temperature=temp)
    assert np.all(d >= 0) and np.all(np.isfinite(d))
    assert np.all(kl(a, a, temperature=temp) == 0.0)                 # KL(a, a) = 0
    # adding a constant to a row of logits changes nothing
    np.testing.assert_allclose(kl(a + shift, b, temperature=temp), d, rtol=1e-9,
                               atol=1e-12 * (1 + abs(shift)))


@given(finite_rows, st.floats(-1e3, 1e3), st.floats(0, 1))
def test_ce_nonnegative_and_shift_invariant(x, shift, eps):
    y = np.arange(x.shape[0]) % x.shape[1]
    loss = ce(x, y, label_smoothing=eps)
    assert np.all(loss >= 0)
    np.testing.assert_allclose(ce(x + shift, y, label_smoothing=eps), loss, rtol=1e-9,
                               atol=1e-12 * (1 + abs(shift)))
