"""1-D Wasserstein distances against the reference, SciPy, POT and hand values.

Covers wasserstein_1d (every order, weights, batching/axis/broadcasting,
assume_sorted, float32, edge values, errors), wasserstein_hist (against
wasserstein_1d, the NumPy cumsum reference and SciPy, broadcasting without
copies, errors) and the private _cdf_distance that kl_ext.compat builds
SciPy's wasserstein_distance and energy_distance on (values, edge values
and exceptions identical to SciPy's).
"""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from kl_ext import reference_wasserstein as ref
from kl_ext.wasserstein import _cdf_distance, wasserstein_1d, wasserstein_hist

ORDERS = [1, 2, 1.5, 3, np.inf]
TOL = {np.dtype(np.float64): dict(rtol=1e-12, atol=1e-13),
       np.dtype(np.float32): dict(rtol=2e-6, atol=1e-6)}


def sample(rng, n, ties=False, weighted=False):
    x = rng.normal(size=n)
    if ties:
        x = x.round(1)
    w = None
    if weighted:
        w = rng.random(n)
        w[rng.random(n) < 0.2] = 0.0
        w[rng.integers(n)] += 0.5  # a positive sum
    return x, w


# ----------------------------------------------------------- hand-worked cases

@pytest.mark.parametrize("u, v, uw, vw, order, expected", [
    # SciPy's documented examples
    ([0, 1, 3], [5, 6, 8], None, None, 1, 5.0),
    ([0, 1], [0, 1], [3, 1], [2, 2], 1, 0.25),
    # a point mass moved by 2
    ([1.0], [3.0], None, None, 2, 2.0),
    ([1.0], [3.0], None, None, np.inf, 2.0),
    # {0, 1} -> {0, 3}: half the mass moves by 2
    ([0, 1], [0, 3], None, None, 1, 1.0),
    ([0, 1], [0, 3], None, None, 2, math.sqrt(2.0)),
    ([0, 1], [0, 3], None, None, 3, 4.0 ** (1 / 3)),
    ([0, 1], [0, 3], None, None, np.inf, 2.0),
    # unequal sizes: quantile steps 1/4, 1/12, 1/6, 1/6, 1/12, 1/4
    ([0, 1, 3], [5, 6, 8, 9], None, None, 2,
     math.sqrt(25 / 4 + 36 / 12 + 25 / 6 + 49 / 6 + 25 / 12 + 36 / 4)),
    ([0, 1, 3], [5, 6, 8, 9], None, None, np.inf, 7.0),
    # weight 0 never counts, even at order inf
    ([0, 100], [0], [1, 0], None, np.inf, 0.0),
    ([0, 100], [0], [1, 0], None, 1, 0.0),
    # masses 3/4, 1/4 against 1/2, 1/2 at the same two points
    ([0, 1], [0, 1], [3, 1], [1, 1], 2, 0.5),
])
def test_hand_values(u, v, uw, vw, order, expected):
    assert_allclose(wasserstein_1d(u, v, uw, vw, order=order), expected, rtol=1e-14)
    assert_allclose(ref.wasserstein_1d(u, v, uw, vw, order), expected, rtol=1e-14)


def test_scipy_doc_example_three():
    got = wasserstein_1d([3.4, 3.9, 7.5, 7.8], [4.5, 1.4],
                         [1.4, 0.9, 3.1, 7.2], [3.2, 3.5])
    assert_allclose(got, 4.0781331438047861, rtol=1e-14)


# ------------------------------------------------------ agreement: reference

@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("weighted", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("ties", [False, True])
def test_against_reference(order, weighted, ties):
    rng = np.random.default_rng(abs(hash((order, weighted, ties))) % 2**32)
    for n, m in [(1, 1), (1, 5), (7, 7), (7, 3), (200, 130), (129, 129)]:
        u, uw = sample(rng, n, ties, weighted[0])
        v, vw = sample(rng, m, ties, weighted[1])
        got = wasserstein_1d(u, v, uw, vw, order=order)
        want = ref.wasserstein_1d(u, v, uw, vw, order)
        assert_allclose(got, want, rtol=1e-12, atol=1e-14)
        # symmetry
        assert_allclose(wasserstein_1d(v, u, vw, uw, order=order), got,
                        rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------- agreement: SciPy

def test_order1_equals_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    for k in range(60):
        u, uw = sample(rng, int(rng.integers(1, 40)), ties=k % 3 == 0, weighted=k % 2 == 1)
        v, vw = sample(rng, int(rng.integers(1, 40)), ties=k % 3 == 0, weighted=k % 4 == 1)
        want = stats.wasserstein_distance(u, v, uw, vw)
        assert_allclose(wasserstein_1d(u, v, uw, vw), want, rtol=1e-12, atol=1e-14)
        assert_allclose(_cdf_distance(1, u, v, uw, vw), want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("order", [1, 2, 1.5, 3])
def test_cdf_distance_equals_scipy(order):
    sp = pytest.importorskip("scipy.stats._stats_py")
    rng = np.random.default_rng(2)
    for k in range(40):
        u, uw = sample(rng, int(rng.integers(1, 30)), ties=k % 2 == 0, weighted=k % 2 == 1)
        v, vw = sample(rng, int(rng.integers(1, 30)), ties=k % 2 == 0, weighted=k % 3 == 1)
        got = _cdf_distance(order, u, v, uw, vw)
        assert type(got) is np.float64
        assert_allclose(got, sp._cdf_distance(order, u, v, uw, vw), rtol=1e-12, atol=1e-14)
        assert_allclose(got, ref.cdf_distance(order, u, v, uw, vw), rtol=1e-12, atol=1e-14)


def test_energy_distance_via_cdf_distance():
    stats = pytest.importorskip("scipy.stats")
    # SciPy's documented energy_distance examples
    assert_allclose(math.sqrt(2) * _cdf_distance(2, [0], [2]), 2.0000000000000004)
    assert_allclose(math.sqrt(2) * _cdf_distance(2, [0, 8], [0, 8], [3, 1], [2, 2]),
                    1.0000000000000002)
    assert_allclose(math.sqrt(2) * _cdf_distance(2, [0.7, 7.4, 2.4, 6.8], [1.4, 8.],
                                                 [2.1, 4.2, 7.4, 8.], [7.6, 8.8]),
                    0.88003340976158217)
    rng = np.random.default_rng(3)
    u, uw = sample(rng, 50, weighted=True)
    v, vw = sample(rng, 20, weighted=True)
    assert_allclose(math.sqrt(2) * _cdf_distance(2, u, v, uw, vw),
                    stats.energy_distance(u, v, uw, vw), rtol=1e-12)


@pytest.mark.parametrize("u, v", [
    ([0, np.inf], [0, np.inf]), ([0, np.inf], [0, 1]), ([np.inf, np.inf], [np.inf]),
    ([-np.inf, 0], [0]), ([0, np.nan], [1]), ([-np.inf, -np.inf], [0, 1]),
    ([np.nan], [np.nan]), ([1, 1, 1], [1, 1]),
])
def test_cdf_distance_edge_values_match_scipy(u, v):
    # the values, and SciPy's "invalid value encountered in subtract" for a
    # repeated infinity (its inf - inf), which the drop-ins reproduce (SciPy
    # may add one from its dot product; none of ours is one SciPy lacks)
    import warnings
    sp = pytest.importorskip("scipy.stats._stats_py")
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        want = sp._cdf_distance(1, u, v)
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        got = _cdf_distance(1, u, v)
    assert_array_equal(got, want)
    ours, theirs = {str(w.message) for w in ours}, {str(w.message) for w in theirs}
    sub = "invalid value encountered in subtract"
    assert ours <= theirs and (sub in ours) == (sub in theirs), (ours, theirs)


def test_cdf_distance_errors_match_scipy():
    sp = pytest.importorskip("scipy.stats._stats_py")
    cases = [
        (([], [1]), "empty"),
        (([1], []), "empty"),
        (([0, 1], [0, 1], [1, -1]), "non-negative"),
        (([0, 1], [0, 1], [np.nan, 1]), "positive and finite"),
        (([0, 1], [0, 1], [np.inf, 1]), "positive and finite"),
        (([0, 1], [0, 1], [0, 0]), "positive and finite"),
        (([0, 1], [0, 1], None, [1]), "same size"),
        (([0, 1], [0, 1], [1, 1, 1]), "same size"),
        (([[0, 1], [2, 3]], [0, 1]), "1-D"),
    ]
    for args, match in cases:
        with pytest.raises(ValueError):
            sp._cdf_distance(1, *args)
        with pytest.raises(ValueError, match=match):
            _cdf_distance(1, *args)
    # a scalar: TypeError in SciPy (len() of unsized object); ours is both
    with pytest.raises(TypeError):
        sp._cdf_distance(1, 5, [1, 2])
    with pytest.raises(TypeError, match="1-D"):
        _cdf_distance(1, 5, [1, 2])


# ------------------------------------------------------------ agreement: POT

@pytest.mark.parametrize("order", [1, 2, 1.5, 3])
def test_against_pot(order):
    ot = pytest.importorskip("ot")
    rng = np.random.default_rng(4)
    for k in range(20):
        u, uw = sample(rng, int(rng.integers(1, 50)), weighted=True)
        v, vw = sample(rng, int(rng.integers(1, 50)), weighted=True)
        want = ot.wasserstein_1d(u, v, uw / uw.sum(), vw / vw.sum(), p=order) ** (1 / order)
        assert_allclose(wasserstein_1d(u, v, uw, vw, order=order), want, rtol=1e-10)


# --------------------------------------------------------------- invariants

@pytest.mark.parametrize("order", ORDERS)
def test_identity_gives_zero(order):
    rng = np.random.default_rng(5)
    u, uw = sample(rng, 33, ties=True, weighted=True)
    assert wasserstein_1d(u, u, order=order) == 0.0
    assert wasserstein_1d(u, u, uw, uw, order=order) == 0.0
    assert wasserstein_1d(u, rng.permutation(u), order=order) == 0.0


@pytest.mark.parametrize("order", ORDERS)
def test_translation_and_scaling(order):
    rng = np.random.default_rng(6)
    u, uw = sample(rng, 40, weighted=True)
    v, vw = sample(rng, 25, weighted=True)
    d = wasserstein_1d(u, v, uw, vw, order=order)
    # shifting both by c: exact for c a power of two that keeps the bits
    assert_allclose(wasserstein_1d(u + 3.0, v + 3.0, uw, vw, order=order), d, rtol=1e-13)
    for s in (2.0, -0.5, 3.7):
        assert_allclose(wasserstein_1d(s * u, s * v, uw, vw, order=order), abs(s) * d,
                        rtol=1e-13)
    # weights are normalised: scaling them changes nothing
    assert_allclose(wasserstein_1d(u, v, 8 * uw, vw / 4, order=order), d, rtol=1e-13)


def test_monotone_in_order():
    rng = np.random.default_rng(7)
    u, uw = sample(rng, 30, weighted=True)
    v, vw = sample(rng, 45, weighted=True)
    vals = [wasserstein_1d(u, v, uw, vw, order=p) for p in (1, 1.5, 2, 3, 10, np.inf)]
    assert all(a <= b * (1 + 1e-13) for a, b in zip(vals, vals[1:]))


def test_unweighted_equals_unit_weights():
    rng = np.random.default_rng(8)
    u = rng.normal(size=17)
    v = rng.normal(size=11)
    for order in ORDERS:
        a = wasserstein_1d(u, v, order=order)
        b = wasserstein_1d(u, v, np.ones(17), np.full(11, 3.0), order=order)
        assert_allclose(a, b, rtol=1e-13)


# --------------------------------------------------- batching, axis, dtypes

@pytest.mark.parametrize("order", [1, 2.5, np.inf])
def test_batched_rows_and_axis(order):
    rng = np.random.default_rng(9)
    u = rng.normal(size=(4, 9))
    v = rng.normal(size=(4, 6))
    uw = rng.random((4, 9)) + 0.01
    vw = rng.random(6) + 0.01          # broadcast to every row of v
    want = np.array([ref.wasserstein_1d(u[i], v[i], uw[i], vw, order) for i in range(4)])
    got = wasserstein_1d(u, v, uw, vw, order=order)
    assert got.shape == (4,)
    assert_allclose(got, want, rtol=1e-12)
    assert_allclose(wasserstein_1d(u.T, v.T, uw.T, vw[:, None], order=order, axis=0),
                    want, rtol=1e-12)
    # one reference sample against many rows; 3-D batches
    want1 = np.array([ref.wasserstein_1d(u[i], v[0], None, None, order) for i in range(4)])
    assert_allclose(wasserstein_1d(u, v[0], order=order), want1, rtol=1e-12)
    u3 = rng.normal(size=(2, 3, 5))
    v3 = rng.normal(size=(1, 3, 4))
    got3 = wasserstein_1d(u3, v3, order=order)
    assert got3.shape == (2, 3)
    assert_allclose(got3[1, 2], ref.wasserstein_1d(u3[1, 2], v3[0, 2], None, None, order),
                    rtol=1e-12)


def test_batch_broadcast_shapes():
    rng = np.random.default_rng(10)
    u = rng.normal(size=(2, 1, 5))
    v = rng.normal(size=(3, 4))
    got = wasserstein_1d(u, v)
    assert got.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            assert_allclose(got[i, j], ref.wasserstein_1d(u[i, 0], v[j]), rtol=1e-12)
    # a middle axis, strided/transposed and read-only input, inputs untouched
    a = rng.normal(size=(3, 8, 2))
    b = np.asfortranarray(rng.normal(size=(3, 5, 2)))
    a.flags.writeable = False
    a0, b0 = a.copy(), b.copy()
    got = wasserstein_1d(a, b, order=2, axis=1)
    want = [[ref.wasserstein_1d(a[i, :, k], b[i, :, k], order=2) for k in range(2)]
            for i in range(3)]
    assert_allclose(got, want, rtol=1e-12)
    assert_array_equal(a, a0)
    assert_array_equal(b, b0)
    c = rng.normal(size=40)[::3]
    assert_allclose(wasserstein_1d(c, c[::-1] + 1.0), 1.0, rtol=1e-14)


def test_inputs_not_modified_weighted():
    rng = np.random.default_rng(11)
    u, uw = sample(rng, 20, weighted=True)
    v, vw = sample(rng, 10, weighted=True)
    copies = [x.copy() for x in (u, uw, v, vw)]
    wasserstein_1d(u, v, uw, vw, order=3)
    _cdf_distance(2, u, v, uw, vw)
    for x, c in zip((u, uw, v, vw), copies):
        assert_array_equal(x, c)


def test_float32():
    rng = np.random.default_rng(12)
    u = rng.normal(size=300).astype(np.float32)
    v = rng.normal(size=200).astype(np.float32)
    for order in ORDERS:
        got = wasserstein_1d(u, v, order=order)
        assert got.dtype == np.float32
        want = ref.wasserstein_1d(u.astype(np.float64), v.astype(np.float64), order=order)
        assert_allclose(got, want, **TOL[np.dtype(np.float32)])
    assert wasserstein_1d(u, v.astype(np.float64)).dtype == np.float64
    assert wasserstein_1d([1, 2], [3, 4]).dtype == np.float64
    assert wasserstein_1d(u[None], v[None]).dtype == np.float32


def test_sorted_scratch_is_per_thread_and_bounded(monkeypatch):
    # two unweighted float64 samples are sorted into a buffer each calling
    # thread keeps between calls: calls of growing and shrinking sizes, the
    # same calls from several Python threads at once, and a buffer above the
    # cap (not kept) all give the reference's values, inputs untouched
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from kl_ext import wasserstein as W
    rng = np.random.default_rng(31)
    sizes = ((30_000, 20_000), (5, 7), (100_000, 3), (1, 1), (40_000, 60_000))
    samples = [(rng.normal(size=n), rng.normal(1.0, 2.0, size=m)) for n, m in sizes]
    copies = [(a.copy(), b.copy()) for a, b in samples]
    want = [ref.wasserstein_1d(a, b) for a, b in samples]

    def run():
        return [wasserstein_1d(a, b) for a, b in samples]

    first = run()
    assert_allclose(first, want, rtol=1e-12)
    assert run() == first
    assert W._scratch.buf.shape[0] >= 100_003  # the largest call's buffer is kept
    with ThreadPoolExecutor(4) as ex:
        for got in ex.map(lambda _: run() + run(), range(8)):
            assert got == first + first
    for (a, b), (ca, cb) in zip(samples, copies):
        assert_array_equal(a, ca)
        assert_array_equal(b, cb)
    monkeypatch.setattr(W, "_SCRATCH_MAX", 1000)
    kept = []

    def fresh_thread():
        wasserstein_1d(samples[0][0][:500], samples[0][1][:400])
        kept.append(W._scratch.buf.shape[0])
        wasserstein_1d(samples[0][0][:700], samples[0][1][:400])
        kept.append(W._scratch.buf.shape[0])

    t = threading.Thread(target=fresh_thread)
    t.start()
    t.join()
    assert kept == [900, 900]  # 1100 values: above the cap, not kept


@pytest.mark.parametrize("order", ORDERS)
def test_assume_sorted(order):
    rng = np.random.default_rng(13)
    u, uw = sample(rng, 50, weighted=True)
    v, vw = sample(rng, 31, weighted=True)
    iu, iv = np.argsort(u), np.argsort(v)
    want = wasserstein_1d(u, v, uw, vw, order=order)
    got = wasserstein_1d(u[iu], v[iv], uw[iu], vw[iv], order=order, assume_sorted=True)
    assert_allclose(got, want, rtol=1e-13)
    want = wasserstein_1d(u, v, order=order)
    got = wasserstein_1d(np.sort(u), np.sort(v), order=order, assume_sorted=True)
    assert_allclose(got, want, rtol=1e-13)
    # the promise is trusted: unsorted input gives some finite number, no hang
    assert np.isfinite(wasserstein_1d(u, v, uw, vw, order=order, assume_sorted=True))


def test_edge_values():
    inf, nan = np.inf, np.nan
    assert np.isnan(wasserstein_1d([0, nan], [0, 1]))
    assert np.isnan(wasserstein_1d([0, nan], [0, 1], order=np.inf))
    assert np.isnan(wasserstein_1d([0, nan], [0, 1, 2], order=2))
    assert wasserstein_1d([0, inf], [0, 1]) == inf
    assert np.isnan(wasserstein_1d([0, inf], [0, inf]))
    assert wasserstein_1d([-inf, 0], [0, 1], order=np.inf) == inf
    # one sample each: |u - v|
    assert_allclose(wasserstein_1d([2.5], [-1.0], order=7), 3.5, rtol=1e-15)
    assert wasserstein_1d([2.5], [-1.0], order=np.inf) == 3.5
    # huge and tiny values keep their relative accuracy
    assert_allclose(wasserstein_1d([1e300], [2e300], order=2), 1e300, rtol=1e-15)
    assert_allclose(wasserstein_1d([5e-324], [0.0]), 5e-324)
    # |d|^p would over- or underflow: the distances are rescaled
    assert_allclose(wasserstein_1d([1e300], [2e300], order=2), 1e300, rtol=1e-15)
    assert_allclose(wasserstein_1d([1e200, 0], [0, 0], order=7.5),
                    1e200 * 0.5 ** (1 / 7.5), rtol=1e-14)
    assert_allclose(wasserstein_1d([1e-7], [0.0], order=60), 1e-7, rtol=1e-14)
    assert_allclose(wasserstein_1d([5e-324, 0], [0, 0], order=2), 5e-324 * 0.5 ** 0.5)
    assert_allclose(wasserstein_1d([3e-200, 1e-200], [0, 0], [1, 3], None, order=3),
                    1e-200 * (0.25 * 27 + 0.75) ** (1 / 3), rtol=1e-14)


# ------------------------------------------------------------------- errors

@pytest.mark.parametrize("args, kw, exc, match", [
    (([], [1.0]), {}, ValueError, "u_values.*empty|empty.*u_values"),
    (([1.0], []), {}, ValueError, "v_values"),
    (([[1.0, 2.0]], np.zeros((1, 0))), {}, ValueError, "v_values"),
    (([0, 1], [0, 1], [1, -1]), {}, ValueError, "non-negative.*u_weights|u_weights.*-1"),
    (([0, 1], [0, 1], None, [1, -1]), {}, ValueError, "v_weights"),
    (([0, 1], [0, 1], [np.nan, 1]), {}, ValueError, "u_weights"),
    (([0, 1], [0, 1], [np.inf, 1]), {}, ValueError, "u_weights must be finite"),
    (([0, 1], [0, 1], [0, 0]), {}, ValueError, "u_weights sums to 0.0"),
    (([[0, 1], [0, 1]], [0, 1], [[1, 1], [0, 0]]), {}, ValueError, "sums to 0.0 in row 1"),
    (([0, 1], [0, 1], [1, 1, 1]), {}, ValueError, "same size.*u_weights"),
    (([0, 1], [0, 1]), {"order": 0.5}, ValueError, "order must be >= 1"),
    (([0, 1], [0, 1]), {"order": np.nan}, ValueError, "order"),
    (([0, 1], [0, 1]), {"order": "2"}, TypeError, "order"),
    (([0, 1], [0, 1]), {"axis": 1}, ValueError, "axis"),
    (([0, 1], [0, 1]), {"axis": 1.0}, TypeError, "axis"),
    ((np.zeros((2, 3)), np.zeros((3, 4))), {}, ValueError, "do not broadcast"),
    (([1j, 2], [0, 1]), {}, TypeError, "u_values.*complex"),
    (([0, 1], ["a", "b"]), {}, TypeError, "v_values"),
    ((3.0, [0, 1]), {}, ValueError, "u_values must have at least one dimension"),
])
def test_errors(args, kw, exc, match):
    with pytest.raises(exc, match=match):
        wasserstein_1d(*args, **kw)


# --------------------------------------------------------------- histograms

@pytest.mark.parametrize("order", ORDERS)
def test_hist_equals_wasserstein_1d(order):
    rng = np.random.default_rng(14)
    p = rng.random((5, 12))
    p[rng.random(p.shape) < 0.3] = 0.0
    p[:, 3] += 0.1
    q = rng.random(12) + 0.01
    x = np.sort(rng.normal(size=12))
    got = wasserstein_hist(p, q, support=x, order=order)
    want = [wasserstein_1d(x, x, p[i], q, order=order) for i in range(5)]
    assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert_allclose(got, [ref.wasserstein_hist(p[i], q, x, order) for i in range(5)],
                    rtol=1e-12, atol=1e-14)
    # a full 2-D q (no shared reference row)
    q2 = rng.random((5, 12)) + 0.01
    got = wasserstein_hist(p, q2, support=x, order=order)
    want = [wasserstein_1d(x, x, p[i], q2[i], order=order) for i in range(5)]
    assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    # default support 0..n-1
    got = wasserstein_hist(p, q, order=order)
    xs = np.arange(12.0)
    assert_allclose(got, [wasserstein_1d(xs, xs, p[i], q, order=order) for i in range(5)],
                    rtol=1e-12, atol=1e-14)


def test_hist_against_scipy_and_hand():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(15)
    x = np.cumsum(rng.random(30))
    for _ in range(10):
        p = rng.integers(0, 5, 30).astype(float)
        q = rng.integers(0, 5, 30).astype(float)
        p[0] += 1
        q[-1] += 1
        assert_allclose(wasserstein_hist(p, q, support=x),
                        stats.wasserstein_distance(x, x, p, q), rtol=1e-12)
    assert wasserstein_hist([1, 0, 0], [0, 0, 1]) == 2.0
    assert wasserstein_hist([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert wasserstein_hist([2, 2], [1, 3], support=[0.0, 10.0]) == 2.5
    assert wasserstein_hist([1.0], [3.0]) == 0.0


def test_hist_near_identical_keeps_accuracy():
    rng = np.random.default_rng(16)
    p = rng.random(1000) + 0.1
    d = 1e-9 * rng.normal(size=1000)
    d -= d.mean()
    q = p + d
    # exact value with the differences formed first
    D = np.cumsum(d / p.sum())[:-1]
    want = np.abs(D).sum()
    assert_allclose(wasserstein_hist(p, q, normalize=False) / p.sum() * p.sum(),
                    wasserstein_hist(p, q, normalize=False), rtol=0)
    assert_allclose(wasserstein_hist(p / p.sum(), q / p.sum(), normalize=False),
                    want, rtol=1e-6)


def test_hist_broadcast_axis_dtype():
    rng = np.random.default_rng(17)
    p = rng.random((3, 4, 10)).astype(np.float32)
    q = rng.random(10).astype(np.float32)
    got = wasserstein_hist(p, q)
    assert got.shape == (3, 4) and got.dtype == np.float32
    want = [[ref.wasserstein_hist(p[i, j].astype(float), q.astype(float))
             for j in range(4)] for i in range(3)]
    assert_allclose(got, want, rtol=2e-6, atol=1e-6)
    got0 = wasserstein_hist(np.moveaxis(p, -1, 0), q[:, None, None], axis=0)
    assert_allclose(got0, got, rtol=1e-6)
    assert wasserstein_hist(p.astype(float), q).dtype == np.float64
    # normalize=False on rows that already sum to 1 gives the same value
    pn = p / p.sum(-1, keepdims=True)
    qn = q / q.sum()
    assert_allclose(wasserstein_hist(pn, qn, normalize=False), got, rtol=1e-5)


def test_hist_block_with_a_nan_row():
    # rows are processed four at a time; a NaN row takes the one-row path
    # and the other rows of its block keep their values
    rng = np.random.default_rng(18)
    p = rng.random((9, 20))
    q = rng.random((9, 20))
    want = np.array([ref.wasserstein_hist(p[i], q[i]) for i in range(9)])
    p[5, 3] = np.nan
    got = wasserstein_hist(p, q)
    assert np.isnan(got[5])
    mask = np.arange(9) != 5
    assert_allclose(got[mask], want[mask], rtol=1e-12)


def test_hist_nonfinite():
    assert np.isnan(wasserstein_hist([1, np.nan, 1], [1, 1, 1]))
    assert np.isnan(wasserstein_hist([1, 1, np.inf], [1, 1, 1]))
    assert np.isnan(wasserstein_hist([1, 1, np.nan], [1, 1, 1], order=2))


@pytest.mark.parametrize("args, kw, match", [
    (([1, -1], [1, 1]), {}, "p must be non-negative, found -1"),
    (([[1, 1], [1, 1]], [[1, 1], [1, -2]]), {}, "q must be non-negative.*row 1"),
    (([0, 0], [1, 1]), {}, "p sums to 0"),
    (([[1, 1], [1, 1]], [[1, 1], [0, 0]]), {}, "q sums to 0 in row 1"),
    (([0, 0], [1, 1]), {"order": 2}, "p sums to 0"),
    (([1, -1], [1, 1]), {"order": 3}, "p must be non-negative"),
    (([1, 1], [1, 1, 1]), {}, "do not broadcast"),
    (([1, 1], [1, 1]), {"support": [0, 1, 2]}, "support must be 1-D"),
    (([1, 1], [1, 1]), {"support": [1, 0]}, "sorted"),
    (([1, 1], [1, 1]), {"support": [0, np.inf]}, "finite"),
    (([1, 1], [1, 1]), {"order": 0}, "order must be >= 1"),
    ((np.ones((2, 0)), np.ones((2, 0))), {}, "empty axis"),
    ((1.0, 1.0), {}, "at least one dimension"),
])
def test_hist_errors(args, kw, match):
    with pytest.raises(ValueError, match=match):
        wasserstein_hist(*args, **kw)


# --------------------------------------------------------------- properties

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
weight = st.floats(0, 1e3, allow_nan=False, allow_infinity=False)


@st.composite
def weighted_samples(draw):
    n = draw(st.integers(1, 12))
    x = draw(arrays(np.float64, n, elements=finite))
    w = draw(arrays(np.float64, n, elements=weight))
    if not w.sum() > 0:
        w[0] = 1.0
    return x, w


@given(weighted_samples(), weighted_samples(),
       st.sampled_from([1, 2, 1.5, 4, np.inf]))
def test_property_reference_and_symmetry(a, b, order):
    (u, uw), (v, vw) = a, b
    got = wasserstein_1d(u, v, uw, vw, order=order)
    scale = max(np.abs(u).max(), np.abs(v).max(), 1.0)
    if order == np.inf:
        # the sup depends on exact equality of the cumulative weights: compare
        # with the reference, which makes the same decisions in floating point
        assert_allclose(got, ref.wasserstein_1d(u, v, uw, vw, order), rtol=1e-12)
    else:
        assert_allclose(got, ref.wasserstein_1d(u, v, uw, vw, order),
                        rtol=1e-9, atol=1e-12 * scale)
    assert_allclose(wasserstein_1d(v, u, vw, uw, order=order), got,
                    rtol=1e-9, atol=1e-12 * scale)
    assert got >= 0
    lo = min(u.min(), v.min())
    hi = max(u.max(), v.max())
    assert got <= (hi - lo) * (1 + 1e-12)


@given(weighted_samples(), weighted_samples())
def test_property_cdf_distance_order1_is_w1(a, b):
    (u, uw), (v, vw) = a, b
    scale = max(np.abs(u).max(), np.abs(v).max(), 1.0)
    assert_allclose(_cdf_distance(1, u, v, uw, vw), wasserstein_1d(u, v, uw, vw),
                    rtol=1e-9, atol=1e-12 * scale)


# ------------------------------------------- sorting weighted samples (keys)

def _same_pairs(xs, ws, x, w):
    a = np.lexsort((ws, xs))
    b = np.lexsort((w, x))
    assert_array_equal(xs[a], x[b])
    assert_array_equal(ws[a], w[b])


@pytest.mark.parametrize("kind", ["random", "near_ties", "ties", "bulk_ties",
                                  "float32", "nan", "pos_nan", "neg_zero"])
def test_sort_weighted_packed_keys(kind):
    from kl_ext.wasserstein import _sort_weighted
    rng = np.random.default_rng(19)
    n = 3000
    x = rng.normal(size=n)
    if kind == "near_ties":
        # pairs equal in all but the lowest bits: the truncated keys cannot
        # order them, the insertion step does
        x[1::2] = np.nextafter(x[::2], np.inf)
        x = rng.permutation(x)
    elif kind == "ties":
        x = x.round(1)
    elif kind == "bulk_ties":
        # 3000 values 1 + k ulp in reverse order: too many moves, argsort
        x = 1.0 + np.arange(n)[::-1] * np.finfo(float).eps
    elif kind == "float32":
        x = x.astype(np.float32)
    elif kind == "nan":
        x[[5, 700]] = np.nan
        x[9] = -np.nan   # every NaN (either sign) has the largest key: last
    elif kind == "pos_nan":
        x[[5, 700, 8]] = np.nan
    elif kind == "neg_zero":
        x[::3] = -0.0
        x[1::3] = 0.0
    w = rng.random(n)
    xs, ws = _sort_weighted(x, w)
    assert xs.dtype == x.dtype
    if kind in ("nan", "pos_nan"):
        assert np.isnan(xs[-3:]).all()
        assert (np.diff(xs[:-3]) >= 0).all()
        return
    assert (np.diff(xs) >= 0).all()
    _same_pairs(xs, ws, x, w)
    # batched rows, one of them needing the fallback
    x2 = np.stack([x, x[::-1], rng.permutation(x)])
    w2 = np.stack([w, w[::-1], rng.random(n)])
    xs2, ws2 = _sort_weighted(x2, w2)
    for r in range(3):
        assert (np.diff(xs2[r]) >= 0).all()
        _same_pairs(xs2[r], ws2[r], x2[r], w2[r])


def test_large_weighted_against_reference():
    rng = np.random.default_rng(20)
    u, uw = sample(rng, 5000, ties=True, weighted=True)
    v, vw = sample(rng, 3001, weighted=True)
    for order in ORDERS:
        assert_allclose(wasserstein_1d(u, v, uw, vw, order=order),
                        ref.wasserstein_1d(u, v, uw, vw, order), rtol=1e-11)
    assert_allclose(_cdf_distance(2, u, v, uw, vw), ref.cdf_distance(2, u, v, uw, vw),
                    rtol=1e-11)
    u2 = np.stack([u, u + 1])
    got = wasserstein_1d(u2, v, np.stack([uw, uw]), vw, order=2)
    assert_allclose(got, [ref.wasserstein_1d(u, v, uw, vw, 2),
                          ref.wasserstein_1d(u + 1, v, uw, vw, 2)], rtol=1e-11)
    un = u.copy()
    un[17] = np.nan
    assert np.isnan(wasserstein_1d(un, v, uw, vw))


def test_weighted_breakpoints_closer_than_a_double():
    # The cumulative weights 1/3 (u) and 1/(3 + 2**-60) (v) round to the
    # same double; only their double-double low parts order them, and the
    # step between them carries the whole distance (u_1 - v_1 = 1e20; every
    # other matched pair is equal).  Exact: (1/3 - 1/(3 + eps)) * 1e20.
    from fractions import Fraction
    eps = 2.0 ** -60
    u, uw = [0.0, 1e20], [1.0, 2.0]
    v, vw = [0.0, 1e20, 1e20], [1.0, 2.0, eps]
    exact = (Fraction(1, 3) - 1 / (3 + Fraction(eps))) * Fraction(1e20)
    for order in (1, 2):
        got = wasserstein_1d(u, v, uw, vw, order=order)
        want = float(exact) if order == 1 else math.sqrt(float(exact * Fraction(1e20)))
        assert got > 0
        assert_allclose(got, want, rtol=1e-9)


def test_cdf_walk_order1_kernel_equals_scipy():
    # _cdf_distance(1, ...) takes the quantile walk for finite values; the
    # CDF walk (used at +-inf and NaN) must give W_1 as well
    sp = pytest.importorskip("scipy.stats._stats_py")
    from kl_ext import _wasserstein as k
    rng = np.random.default_rng(21)
    for t in range(30):
        u, uw = sample(rng, int(rng.integers(1, 40)), ties=t % 2 == 0, weighted=t % 3 == 0)
        v, vw = sample(rng, int(rng.integers(1, 40)), ties=t % 2 == 0, weighted=t % 2 == 1)
        iu, iv = np.argsort(u), np.argsort(v)
        out = np.empty(1)
        k.rows(1, u[iu], None if uw is None else uw[iu], v[iv],
               None if vw is None else vw[iv], 1, 1.0, out)
        assert_allclose(out[0], sp._cdf_distance(1, u, v, uw, vw), rtol=1e-12, atol=1e-14)
