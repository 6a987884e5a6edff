"""wasserstein_1d's weighted 1-D float64 fast path (weighted_pair,
src/_wpair.h): packed keys and (value, weight) pairs in one pass, the key
sort, the gather fused with the running sums of the weights, the walk, all
in one buffer that the calling thread keeps.  Every CPU tier built here
must give the same number, bit for bit, as the general path (sort_rows,
then rows on the sorted samples), on one thread and on two; near-ties that
the truncated keys leave in index order go through the gather's insertion
step, bulk ties make it give up (None: the caller's general path)."""

import importlib
import threading

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from kl_ext import _cpu, _threads
from kl_ext import reference_wasserstein as ref
from kl_ext import wasserstein as W
from kl_ext.wasserstein import wasserstein_1d

TIERS = _cpu.available_tiers("kl_ext._wasserstein")
MODES = [(1, 1.0), (2, 2.0), (3, 1.5), (4, np.inf)]


def tier_module(tier):
    return importlib.import_module(_cpu._module("kl_ext._wasserstein", tier))


def general(k, u, uw, v, vw, mode, p, nt):
    """The general path of the same tier: sort_rows, then rows."""
    groups = []
    for x, w in ((u, uw), (v, vw)):
        n = x.shape[0]
        groups.append((x.reshape(1, n), w.reshape(1, n), np.empty((1, n)), np.empty((1, n)),
                       np.empty((1, n), np.uint64), (n - 1).bit_length()))
    if not all(k.sort_rows(tuple(groups), nt)):
        return None
    out = np.empty(1)
    assert k.rows(0, groups[0][2][0], groups[0][3][0], groups[1][2][0], groups[1][3][0],
                  mode, p, out, nt) == 0
    return float(out[0])


def fast(k, u, uw, v, vw, mode, p, nt):
    buf = np.full(k.weighted_pair_size(u.shape[0], v.shape[0]), np.nan)
    return k.weighted_pair(u, uw, v, vw, mode, p, buf, nt)


def make(kind, n, rng):
    x = rng.normal(size=n)
    if kind == "near_ties":
        # pairs 1 ulp apart in random index order: the truncated keys leave
        # them in index order, the gather's insertion step orders them
        h = n // 2
        x[h:2 * h] = np.nextafter(x[:h], np.inf)
        x = rng.permutation(x)
    elif kind == "near_ties_runs":
        # runs of 3 values within a few ulp, some equal: moves of up to two
        # places, past equal values too
        base = rng.normal(size=n // 3 + 1)
        x = (np.repeat(base, 3)[:n] * (1 + rng.integers(0, 3, n) * np.finfo(float).eps))
        x = rng.permutation(x)
    elif kind == "ties":
        x = x.round(1)
    elif kind == "bulk_ties":
        # 1 + k ulp in reverse order: more than n moves, the gather gives up
        x = 1.0 + np.arange(n)[::-1] * np.finfo(float).eps
    elif kind == "nan":
        x[rng.integers(0, n, 3)] = np.nan
    elif kind == "neg_zero":
        x[::3] = -0.0
        x[1::3] = 0.0
    elif kind == "inf":
        x[rng.integers(0, n)] = np.inf
    w = rng.random(n)
    w[rng.random(n) < 0.1] = 0.0
    w[rng.integers(0, n)] += 0.5
    return x, w


KINDS = ["random", "near_ties", "near_ties_runs", "ties", "bulk_ties", "nan", "neg_zero",
         "inf"]


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("kind", KINDS)
def test_same_bits_as_the_general_path(tier, kind):
    k = tier_module(tier)
    rng = np.random.default_rng(sum(map(ord, kind)))
    for n, m in ((1, 1), (1, 5), (7, 2), (300, 451), (4000, 3001)):
        u, uw = make(kind, n, rng)
        v, vw = make("random" if kind == "bulk_ties" else kind, m, rng)
        copies = [a.copy() for a in (u, uw, v, vw)]
        for mode, p in MODES:
            got = fast(k, u, uw, v, vw, mode, p, 1)
            want = general(k, u, uw, v, vw, mode, p, 1)
            if want is None:
                assert got is None, (n, m, mode)
            else:
                assert got == want or (np.isnan(got) and np.isnan(want)), (n, m, mode, got, want)
        for a, c in zip((u, uw, v, vw), copies):
            assert_array_equal(a, c)
    if kind == "bulk_ties":
        assert got is None  # the largest sizes gave up


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("kind", ["random", "near_ties_runs"])
def test_threads_do_not_change_the_bits(tier, kind):
    # above SORT_PAR_MIN and WALK_PAR_MIN: two threads make u and v ready
    # at once (v's keys and pairs in their own memory) and share the walk
    k = tier_module(tier)
    rng = np.random.default_rng(5)
    u, uw = make(kind, 150_001, rng)
    v, vw = make(kind, 99_999, rng)
    for mode, p in MODES[:2] + MODES[3:]:
        one = fast(k, u, uw, v, vw, mode, p, 1)
        assert one == general(k, u, uw, v, vw, mode, p, 2)
        for _ in range(3):
            assert fast(k, u, uw, v, vw, mode, p, 2) == one


def test_public_fast_path_is_taken_and_matches_the_reference(monkeypatch):
    rng = np.random.default_rng(8)
    u, uw = make("near_ties", 5000, rng)
    v, vw = make("random", 3000, rng)
    want = [wasserstein_1d(u, v, uw, vw, order=o) for o in (1, 2, np.inf)]

    def no_sort(*a, **kw):
        raise AssertionError("general path taken")

    monkeypatch.setattr(W, "_sort_samples", no_sort)
    got = [wasserstein_1d(u, v, uw, vw, order=o) for o in (1, 2, np.inf)]
    assert got == want
    assert_allclose(got[:2], [ref.wasserstein_1d(u, v, uw, vw, o) for o in (1, 2)],
                    rtol=1e-12)
    # a gather that gives up (bulk ties) takes the general path, argsort
    x, xw = make("bulk_ties", 3000, rng)
    with pytest.raises(AssertionError, match="general path"):
        wasserstein_1d(x, v, xw, vw)
    monkeypatch.undo()
    assert_allclose(wasserstein_1d(x, v, xw, vw), ref.wasserstein_1d(x, v, xw, vw, 1),
                    rtol=1e-12)


def test_infinite_result_takes_the_general_path():
    # finite values whose distance overflows: the fast path's inf goes to
    # _quantile_rows, which rescales; an inf value stays inf/NaN as before
    # (-1e308 is matched with 1e308 on [0.4, 0.5): W_1 = 1.1e308)
    u, v = np.array([-1e308, 0.0]), np.array([1e308, 0.0])
    uw, vw = np.array([1.0, 1.0]), np.array([3.0, 2.0])
    assert W._weighted_pair(u, uw, v, vw, 1, 1.0) is None
    got = wasserstein_1d(u, v, uw, vw)
    assert_allclose(got, 1.1e308, rtol=1e-12)
    assert_allclose(got, ref.wasserstein_1d(u / 4, v / 4, uw, vw, 1) * 4, rtol=1e-12)
    assert wasserstein_1d([0.0, np.inf], [0.0, 1.0], [1, 1], [1, 1]) == np.inf


def test_weighted_scratch_is_kept_per_thread_and_capped(monkeypatch):
    rng = np.random.default_rng(9)
    u, uw = make("random", 20_000, rng)
    v, vw = make("random", 30_000, rng)
    first = wasserstein_1d(u, v, uw, vw)
    need = W._k.weighted_pair_size(20_000, 30_000)
    assert W._scratch.buf.shape[0] >= need
    assert wasserstein_1d(u, v, uw, vw) == first
    # an unweighted call uses the same buffer (it is large enough)
    kept = W._scratch.buf
    wasserstein_1d(u, v)
    assert W._scratch.buf is kept
    results = []

    def run():
        results.append([wasserstein_1d(u, v, uw, vw) for _ in range(3)])

    ts = [threading.Thread(target=run) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert results == [[first] * 3] * 4
    monkeypatch.setattr(W, "_WSCRATCH_MAX", 1000)
    sizes = []

    def fresh_thread():
        wasserstein_1d(u[:100], v[:50], uw[:100], vw[:50])
        sizes.append(W._scratch.buf.shape[0])
        wasserstein_1d(u, v, uw, vw)
        sizes.append(W._scratch.buf.shape[0])

    t = threading.Thread(target=fresh_thread)
    t.start()
    t.join()
    small = W._k.weighted_pair_size(100, 50)
    assert sizes == [small, small]  # the large call's buffer is above the cap


@pytest.mark.parametrize("tier", TIERS)
def test_two_threads_keep_the_second_sample_in_the_buffer(tier):
    # white box: with a buffer of weighted_pair_size(n, m, 2) doubles, the
    # two-thread split puts v's keys and pairs in its last 3 m doubles (not
    # in memory freed after each call: 14 fresh huge pages per 1e6 call),
    # and the Python caller asks for that size, so the kept buffer has it
    k = tier_module(tier)
    n, m = 20_000, 30_000
    base = k.weighted_pair_size(n, m)
    assert k.weighted_pair_size(n, m, 1) == base
    assert k.weighted_pair_size(100, 50, 2) == k.weighted_pair_size(100, 50)
    if k.max_threads() < 2:
        assert k.weighted_pair_size(n, m, 2) == base
        pytest.skip("one thread here: no two-thread split")
    assert k.weighted_pair_size(n, m, 2) == k.weighted_pair_size(n, m, 0) == base + 3 * m
    rng = np.random.default_rng(21)
    u, uw = make("random", n, rng)
    v, vw = make("random", m, rng)
    one = fast(k, u, uw, v, vw, 1, 1.0, 1)
    buf = np.full(base + 3 * m, np.nan)
    assert k.weighted_pair(u, uw, v, vw, 1, 1.0, buf, 2) == one
    tail = buf[base:].view(np.uint64)
    assert np.count_nonzero(tail != np.float64(np.nan).view(np.uint64)) > 2 * m
    assert fast(k, u, uw, v, vw, 1, 1.0, 2) == one  # a buffer without the tail
    out = []

    def run():
        with _threads.limit(2):
            out.append(wasserstein_1d(u, v, uw, vw))
        out.append(W._scratch.buf.shape[0])

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert out[0] == one
    assert out[1] >= base + 3 * m


def test_two_threads_no_stray_state():
    # a two-thread call followed by one-thread calls from another Python
    # thread: the same bits, and the module's busy flags are cleared
    rng = np.random.default_rng(10)
    u, uw = make("random", 70_000, rng)
    v, vw = make("random", 70_000, rng)
    with _threads.limit(2):
        two = wasserstein_1d(u, v, uw, vw)
    with _threads.limit(1):
        one = wasserstein_1d(u, v, uw, vw)
    assert one == two


def check_buffer(k, u, uw, v, vw):
    """weighted_pair's buffer (u's sorted values, then the hi parts of its
    cumulative weights) against the general path's sort of (u, uw)"""
    n = len(u)
    buf = np.full(k.weighted_pair_size(n, 10), np.nan)
    assert k.weighted_pair(u, uw, v, vw, 1, 1.0, buf, 1) is not None
    xs, ws = np.empty((1, n)), np.empty((1, n))
    assert k.sort_rows(((u[None], uw[None], xs, ws, np.empty((1, n), np.uint64),
                         (n - 1).bit_length()),), 1) == [True]
    assert_array_equal(buf[:n].view(np.uint64), xs[0].view(np.uint64))
    th = buf[n:2 * n]
    assert th[-1] == 1.0
    assert_allclose(np.diff(th), ws[0, 1:] / ws.sum(), rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("kind", ["near_ties", "near_ties_runs", "ties", "neg_zero"])
def test_buffer_holds_the_sorted_samples(tier, kind):
    # white box (layout of weighted_pair's buffer: u's sorted values, then
    # its cumulative weights' hi parts): the values in the general path's
    # order, and the weights in its order too (ties keep index order, also
    # where the insertion step moves a value past equal ones)
    k = tier_module(tier)
    rng = np.random.default_rng(12)
    n = 4000
    u, uw = make(kind, n, rng)
    v, vw = make("random", 10, rng)
    check_buffer(k, u, uw, v, vw)


def make_big(kind, n, rng):
    """Samples for the bucketed pack (n >= 3 * 2**17, src/_wpair.h
    kp_pack_buckets_f64): kinds that spread over the bins, pile into a few,
    fall outside the sampled range, or leave one bin with most samples."""
    if kind == "wide":
        # magnitudes over the whole double range, both signs
        x = 10.0 ** rng.uniform(-300, 300, n) * rng.choice([-1.0, 1.0], n)
        w = rng.random(n)
    elif kind == "outliers":
        # the sample of every (n >> 10)-th key misses these: they go to the
        # end bins (clamped), below and above the sampled range
        x = rng.normal(size=n)
        x[1::1000] = rng.choice([-1e300, -5.0, 5.0, 1e300, -np.inf, np.inf], len(x[1::1000]))
        w = rng.random(n)
    elif kind == "one_bin":
        # 90 % of the samples in one bin: no buckets (the one-range path)
        x = rng.normal(size=n)
        x[rng.random(n) < 0.9] = 0.25
        w = rng.random(n)
    elif kind == "bulk_ties_thirds":
        # three runs of 1 + k ulp in reverse order, each in its own bins:
        # the moves, carried from bucket to bucket, pass n: the gather gives up
        k = n // 3 + 1
        base = np.repeat([1.0, 2.0, 4.0], k)[:n]
        x = base * (1 + np.tile(np.arange(k)[::-1], 3)[:n] * np.finfo(float).eps)
        w = rng.random(n)
    else:
        return make(kind, n, rng)
    w[rng.random(n) < 0.1] = 0.0
    return x, w


BIG_KINDS = ["random", "near_ties", "near_ties_runs", "ties", "nan", "neg_zero", "inf",
             "wide", "outliers", "one_bin", "bulk_ties_thirds"]


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("kind", BIG_KINDS)
def test_buckets_same_bits_as_the_general_path(tier, kind):
    # n >= 3 * 2**17: the pack splits keys and pairs into buckets, each sorted
    # and gathered on its own, the running sums and moves carried across
    k = tier_module(tier)
    rng = np.random.default_rng(sum(map(ord, kind)) + 1)
    n, m = (3 << 17) + 3, 400_001
    assert min(n, m) >= k.weighted_bucket_min()
    u, uw = make_big(kind, n, rng)
    v, vw = make_big("random" if kind == "bulk_ties_thirds" else kind, m, rng)
    copies = [a.copy() for a in (u, uw, v, vw)]
    for mode, p in MODES[:2]:
        got = fast(k, u, uw, v, vw, mode, p, 1)
        want = general(k, u, uw, v, vw, mode, p, 1)
        if want is None:
            assert got is None, mode
        else:
            assert got == want or (np.isnan(got) and np.isnan(want)), (mode, got, want)
    for a, c in zip((u, uw, v, vw), copies):
        assert_array_equal(a, c)
    if kind == "bulk_ties_thirds":
        assert got is None
    if kind in ("random", "wide", "ties"):
        assert fast(k, u, uw, v, vw, 1, 1.0, 2) == general(k, u, uw, v, vw, 1, 1.0, 1)


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("kind", ["ties", "neg_zero", "near_ties_runs", "outliers"])
def test_buckets_buffer_holds_the_sorted_samples(tier, kind):
    # white box, as test_buffer_holds_the_sorted_samples, for the bucketed
    # pack: the values bit for bit in the general path's order, and the
    # cumulative weights in its order (ties keep index order)
    k = tier_module(tier)
    rng = np.random.default_rng(13)
    n = (3 << 17) + 5
    assert n >= k.weighted_bucket_min()
    u, uw = make_big(kind, n, rng)
    v, vw = make("random", 10, rng)
    check_buffer(k, u, uw, v, vw)


def test_unweighted_call_keeps_the_weighted_scratch(monkeypatch):
    # a buffer above the unweighted cap, kept by a weighted call, survives
    # an unweighted call that borrows it (else the next weighted call
    # faults a fresh one in: 72 MB at 1e6 vs 1e6); a fresh unweighted
    # buffer above that cap is still not kept
    monkeypatch.setattr(W, "_SCRATCH_MAX", 1000)
    rng = np.random.default_rng(14)
    u, uw = make("random", 20_000, rng)
    v, vw = make("random", 30_000, rng)
    out = []

    def run():
        out.append(wasserstein_1d(u, v, uw, vw))
        kept = W._scratch.buf
        out.append(wasserstein_1d(u, v))
        out.append(W._scratch.buf is kept)
        out.append(wasserstein_1d(u, v, uw, vw))
        out.append(W._scratch.buf is kept)
        W._scratch.buf = None
        wasserstein_1d(u, v)
        out.append(getattr(W._scratch, "buf", None))

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert out[2] is True and out[4] is True and out[5] is None
    assert out[3] == out[0]
    assert out[1] == wasserstein_1d(u, v)
