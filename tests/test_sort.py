"""kl_ext's own sort (src/_sort.h) behind wasserstein_1d: the key sort of
every CPU tier built here against np.sort (random, sorted, reverse,
all-equal, few-distinct, organ-pipe and sawtooth keys; every length up to
300 and large ones; the heapsort fallback forced), the value sort through
order-preserving keys (NaN of either sign, +-inf, -0.0, subnormals;
float32 and float64), (value, weight) pairs, Hypothesis properties, and
results that do not depend on the thread count."""

import importlib

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from kl_ext import _cpu, _threads
from kl_ext import wasserstein as W
from kl_ext.wasserstein import wasserstein_1d

TIERS = _cpu.available_tiers("kl_ext._wasserstein")
U64 = np.uint64
TOP = np.iinfo(U64).max


def tier_module(tier):
    return importlib.import_module(_cpu._module("kl_ext._wasserstein", tier))


def patterns(n, rng):
    """Named uint64 key arrays of length n (the extremes 0 and 2**64 - 1
    included: the network pads with 2**64 - 1)."""
    r = rng.integers(0, TOP, n, dtype=U64, endpoint=True)
    i = np.arange(n, dtype=U64)
    return {
        "random": r,
        "sorted": np.sort(r),
        "reverse": np.sort(r)[::-1].copy(),
        "equal": np.full(n, 7, dtype=U64),
        "max": np.full(n, TOP, dtype=U64),
        "few": rng.integers(0, 3, n).astype(U64) * (TOP // 2),
        "two": (i % 2) * TOP,
        "organ": np.minimum(i, n - 1 - i) if n else i,
        "saw": i % 17,
        "small": rng.integers(0, 1000, n).astype(U64),
    }


@pytest.mark.parametrize("tier", TIERS)
def test_sort_keys_every_length(tier):
    k = tier_module(tier)
    rng = np.random.default_rng(1)
    for n in range(301):
        for name, a in patterns(n, rng).items():
            got = a.copy()   # (sorted in place: never an alias of a)
            k.sort_keys(got)
            assert_array_equal(got, np.sort(a), err_msg=f"{tier} {name} n={n}")


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("n", [511, 1024, 4099, 65537, 300_001])
def test_sort_keys_large(tier, n):
    k = tier_module(tier)
    rng = np.random.default_rng(n)
    for name, a in patterns(n, rng).items():
        got = a.copy()
        k.sort_keys(got)
        assert_array_equal(got, np.sort(a), err_msg=f"{tier} {name} n={n}")


@pytest.mark.parametrize("tier", TIERS)
def test_sort_keys_heapsort_fallback(tier):
    # depth 0: every range above the small-range sort goes to heapsort
    k = tier_module(tier)
    rng = np.random.default_rng(2)
    for n in (129, 1000, 20_000):
        for name, a in patterns(n, rng).items():
            got = a.copy()
            k.sort_keys(got, 0)
            assert_array_equal(got, np.sort(a), err_msg=f"{tier} {name} n={n}")
            got = a.copy()
            k.sort_keys(got, 2)
            assert_array_equal(got, np.sort(a), err_msg=f"{tier} {name} n={n}")


@pytest.mark.parametrize("tier", TIERS)
def test_sort_keys_rows(tier):
    k = tier_module(tier)
    a = np.random.default_rng(3).integers(0, 50, (5, 333)).astype(U64)
    got = a.copy()
    k.sort_keys(got)
    assert_array_equal(got, np.sort(a, axis=-1))


def special_values(dtype, n, rng):
    """n values mixing normal numbers, ties, +-0.0, +-inf, NaN of both
    signs, subnormals and the extremes of `dtype`."""
    fi = np.finfo(dtype)
    pool = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, fi.tiny / 4,
                     -fi.tiny / 4, fi.max, -fi.max, fi.tiny, 1.0, -1.0], dtype=dtype)
    x = rng.normal(size=n).astype(dtype)
    pick = rng.random(n) < 0.3
    x[pick] = rng.choice(pool, int(pick.sum()))
    return x


def order_key(x):
    """The unsigned integer whose order is the sort's order of x: the
    value's bits with negatives flipped, -0.0 below 0.0, every NaN last."""
    u = np.dtype(f"u{x.itemsize}").type
    b = x.view(u)
    sign = u(1) << u(8 * x.itemsize - 1)
    k = np.where(b & sign, ~b, b | sign)
    return np.where(np.isnan(x), np.iinfo(u).max, k)


def same_sorted(got, want):
    # np.sort's order up to the order of equal values (-0.0 == 0.0) and NaN
    # payloads; NaN last
    assert got.dtype == want.dtype
    assert_array_equal(got, want)
    assert np.array_equal(np.isnan(got), np.isnan(want))


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sort_values_specials(tier, dtype, monkeypatch):
    monkeypatch.setattr(W, "_k", tier_module(tier))
    rng = np.random.default_rng(4)
    for n in list(range(1, 300)) + [4096, 100_003]:
        x = special_values(dtype, n, rng)
        before = x.copy()
        (xs, none), = W._sort_samples((x, None))
        assert none is None
        same_sorted(xs, np.sort(x))
        assert_array_equal(x, before)   # the input is not written


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sort_pairs_specials(tier, dtype, monkeypatch):
    # (value, weight) pairs: values sorted as np.sort does, every pair kept,
    # ties in index order (what the packed keys promise)
    monkeypatch.setattr(W, "_k", tier_module(tier))
    rng = np.random.default_rng(5)
    for n in list(range(1, 300, 7)) + [5000]:
        x = special_values(dtype, n, rng)
        w = rng.random(n)
        xs, ws = W._sort_weighted(x, w)
        same_sorted(xs, np.sort(x))
        order = np.lexsort((np.arange(n), order_key(x)))
        assert_array_equal(ws, w[order])
        assert_array_equal(np.sort(ws), np.sort(w))


def test_sort_rows_batches_and_views():
    # 2-D batches, transposed and strided inputs, float32 with weights
    rng = np.random.default_rng(6)
    x = rng.normal(size=(40, 7)).astype(np.float32)
    w = rng.random((40, 7))
    (xs, ws), (ys, none) = W._sort_samples((x.T, w.T), (x[::2], None))
    assert none is None
    assert_array_equal(xs, np.sort(x.T, axis=-1))
    assert_array_equal(ys, np.sort(x[::2], axis=-1))
    for r in range(7):
        assert_array_equal(ws[r], w.T[r][np.argsort(x.T[r], kind="stable")])
    # an empty batch
    (e, _), = W._sort_samples((np.empty((0, 5)), None))
    assert e.shape == (0, 5)


@pytest.mark.parametrize("weighted", [False, True])
def test_thread_count_does_not_change_results(weighted):
    rng = np.random.default_rng(7)
    u = rng.normal(size=60_000)
    v = rng.normal(size=50_001).round(2)
    uw = rng.random(u.size) if weighted else None
    vw = rng.random(v.size) if weighted else None
    got = []
    for nt in (1, 2, 3, 0):
        with _threads.limit(nt):
            got.append((wasserstein_1d(u, v, uw, vw),
                        wasserstein_1d(u, v, uw, vw, order=2),
                        W._sort_samples((u, uw), (v, vw))))
    for g in got[1:]:
        assert g[0] == got[0][0] and g[1] == got[0][1]
        for (a, aw), (b, bw) in zip(g[2], got[0][2]):
            assert_array_equal(a, b)
            if weighted:
                assert_array_equal(aw, bw)


def test_sort_rows_threads_many_rows():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(9, 20_000))
    keys = np.empty(x.shape, U64)
    outs = []
    for nt in (1, 2):
        xs = np.empty_like(x)
        assert W._k.sort_rows(((x, None, xs, None, xs.view(U64), 0),), nt) == [True]
        outs.append(xs)
    assert_array_equal(outs[0], np.sort(x, axis=-1))
    assert_array_equal(outs[1], outs[0])
    del keys


def sorted_bits(x):
    """The bits of x sorted in the sort's order (-0.0 before 0.0, every NaN
    last as the one quiet NaN the keys map back to)."""
    u = np.dtype(f"u{x.itemsize}").type
    want = x[np.argsort(order_key(x), kind="stable")].view(u).copy()
    want[np.isnan(x[np.argsort(order_key(x), kind="stable")])] = \
        np.array(np.nan, dtype=x.dtype).view(u)
    return want


def split_inputs(n, dtype, rng):
    """Value rows of length n that stress the split: random with specials,
    many ties, all equal, one value besides a run of another, sorted,
    reverse sorted, +-0.0 only, NaN-heavy."""
    x = special_values(dtype, n, rng)
    ties = rng.integers(0, 4, n).astype(dtype) - 1.5
    one = np.full(n, 2.5, dtype)
    one[n // 2] = -1.0
    zeros = np.where(rng.random(n) < 0.5, -0.0, 0.0).astype(dtype)
    nans = np.where(rng.random(n) < 0.8, np.nan, 1.0).astype(dtype)
    nans[rng.random(n) < 0.1] = -np.nan
    return {"specials": x, "ties": ties, "equal": np.full(n, -7.0, dtype), "one": one,
            "sorted": np.sort(x), "reverse": np.sort(x)[::-1].copy(), "zeros": zeros,
            "nans": nans}


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_split_sort_any_threads_and_leaf(tier, dtype):
    # sort_rows splits a row of more than `leaf` values into tasks any
    # thread may run: rows just below, at and above the leaf size and much
    # longer, on 1, 2 and 3 threads, give the same bits, which are the sort
    # (-0.0 before 0.0, NaN last as one quiet NaN)
    k = tier_module(tier)
    rng = np.random.default_rng(10)
    u = np.dtype(U64) if dtype == np.float64 else np.dtype(np.uint32)
    for leaf in (256, 1000):
        for n in (leaf - 1, leaf, leaf + 1, 3 * leaf + 7, 40_000):
            for name, x in split_inputs(n, dtype, rng).items():
                x2 = np.stack([x, x[::-1]])
                want = np.stack([sorted_bits(x), sorted_bits(x[::-1].copy())])
                for nt in (1, 2, 3):
                    xs = np.empty_like(x2)
                    keys = xs.view(U64) if dtype == np.float64 else np.empty(x2.shape, U64)
                    before = x2.copy()
                    assert k.sort_rows(((x2, None, xs, None, keys, 0),), nt, leaf) == [True]
                    assert_array_equal(xs.view(u), want,
                                       err_msg=f"{tier} {name} n={n} leaf={leaf} nt={nt}")
                    assert_array_equal(x2.view(u), before.view(u))


@pytest.mark.parametrize("tier", TIERS)
def test_split_sort_mixed_groups(tier):
    # one call with weighted rows (one task each), long unweighted rows
    # (split) and a float32 group, on 1 and 2 threads
    k = tier_module(tier)
    rng = np.random.default_rng(12)
    a = special_values(np.float64, 5000, rng)
    b = special_values(np.float32, 3001, rng)
    w = rng.random(5000)
    got = []
    for nt in (1, 2):
        xs, ws, ys, zs = (np.empty_like(a), np.empty_like(w), np.empty_like(a),
                          np.empty_like(b))
        ok = k.sort_rows(((a[None], w[None], xs[None], ws[None], np.empty((1, 5000), U64), 13),
                          (a[None], None, ys[None], None, ys[None].view(U64), 0),
                          (b[None], None, zs[None], None, np.empty((1, 3001), U64), 0)),
                         nt, 300)
        assert ok == [True, True, True]
        got.append((xs, ws, ys, zs))
        assert_array_equal(ys.view(U64), sorted_bits(a))
        assert_array_equal(zs.view(np.uint32), sorted_bits(b))
        order = np.lexsort((np.arange(5000), order_key(a)))
        assert_array_equal(ws, w[order])
    for g0, g1 in zip(got[0], got[1]):
        assert_array_equal(g0.view(np.uint8), g1.view(np.uint8))


def test_no_numpy_sort_on_the_hot_path(monkeypatch):
    # wasserstein_1d and the SciPy drop-in never call np.sort / argsort for
    # the samples (only the rare argsort fallback of bulk near-ties would)
    def boom(*a, **k):
        raise AssertionError("NumPy's sort was called")
    rng = np.random.default_rng(9)
    u, v = rng.normal(size=500), rng.normal(size=300)
    uw, vw = rng.random(500), rng.random(300)
    monkeypatch.setattr(np, "sort", boom)
    monkeypatch.setattr(np, "argsort", boom)
    wasserstein_1d(u, v)
    wasserstein_1d(u, v, uw, vw)
    wasserstein_1d(np.stack([u, u]), v, order=2)
    W._cdf_distance(2, u, v, uw, vw)
    W._cdf_distance(1, u, v)


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays


@given(arrays(np.uint64, st.integers(0, 400),
              elements=st.one_of(st.integers(0, 5), st.integers(0, 2**64 - 1)).map(U64)))
def test_property_sort_keys(a):
    for tier in TIERS:
        got = a.copy()
        tier_module(tier).sort_keys(got)
        assert_array_equal(got, np.sort(a))


@given(arrays(np.float64, st.integers(1, 300),
              elements=st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)),
       st.booleans())
def test_property_sort_values_and_pairs(x, weighted):
    w = np.arange(x.size, dtype=np.float64) if weighted else None
    (xs, ws), = W._sort_samples((x, w))
    same_sorted(xs, np.sort(x))
    if weighted:
        # the weights (here the indices) follow their values
        assert_array_equal(xs[~np.isnan(xs)], x[ws.astype(int)][~np.isnan(xs)])
        assert_array_equal(np.sort(ws), w)
