"""kl_ext.chunked: partial statistics of split axes equal the in-memory call.

Bit for bit when the chunk boundaries are multiples of 65,536 (the kernels'
own pieces); within 1e-13 relative otherwise; the same conventions, dtypes
and errors (with the global row and axis index) as the in-memory functions.
"""

import math
import pickle
import re

import numpy as np
import pytest

import kl_ext
from kl_ext import chunked

NAMES = list(chunked.MEASURES)
PIECE = 65536


def eager(name, p, q, **kw):
    f = getattr(kl_ext, name)
    return f(p, **kw) if name == "entropy" else f(p, q, **kw)


def stats(name, p, q, bounds, order=None, **kw):
    """The result from chunks [bounds[i], bounds[i+1]) merged in `order`."""
    totals = None
    spec = chunked.MEASURES[name]
    base = kw.pop("base", None)
    for _ in range(spec.passes):
        parts = [chunked.partial_stats(name, p[..., a:b], None if q is None else q[..., a:b],
                                       offset=a, totals=totals, **kw)
                 for a, b in zip(bounds[:-1], bounds[1:])]
        if order is not None:
            parts = [parts[i] for i in order]
        whole = parts[0]
        for part in parts[1:]:
            whole = whole.merge(part)
        if spec.passes == 2 and totals is None:
            totals = whole.totals()
    return whole.result(base=base)


def rows(rng, m, n, dtype=np.float64):
    p = rng.random((m, n)).astype(dtype)
    q = rng.random((m, n)).astype(dtype)
    p[0, :5] = 0          # zeros: 0 log 0 = 0
    q[1, 7] = 0           # support mismatch: KL, cross-entropy = inf
    p[2, 3] = np.nan      # a NaN row
    return p, q


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_aligned_chunks_bit_for_bit(name, dtype):
    rng = np.random.default_rng(1)
    n = 3 * PIECE + 1000
    p, q = rows(rng, 4, n, dtype)
    bounds = [0, PIECE, 3 * PIECE, n]
    got = stats(name, p, q, bounds, order=[2, 0, 1])
    assert same(got, eager(name, p, q))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("normalize", [True, False])
def test_unaligned_chunks_within_1e13(name, dtype, normalize):
    rng = np.random.default_rng(2)
    p, q = rows(rng, 6, 1000, dtype)
    want = eager(name, p, q, normalize=normalize)
    got = stats(name, p, q, [0, 1, 333, 334, 900, 1000], order=[4, 1, 3, 0, 2],
                normalize=normalize)
    assert got.dtype == want.dtype and got.shape == want.shape
    w = want.astype(np.float64)
    g = got.astype(np.float64)
    assert np.array_equal(np.isnan(g), np.isnan(w)) and np.array_equal(np.isinf(g), np.isinf(w))
    ok = np.isfinite(w)
    tol = 1e-13 if dtype == np.float64 else 2e-7
    np.testing.assert_allclose(g[ok], w[ok], rtol=tol, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_keywords(name):
    rng = np.random.default_rng(3)
    p, q = rows(rng, 3, 200)
    q[1, 7] = 0
    kw = dict(smoothing=0.5)
    if chunked.MEASURES[name].base:
        kw["base"] = 2
    want = eager(name, p, q, **kw)
    got = stats(name, p, q, [0, 50, 200], **kw)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)
    assert np.isfinite(got[1])  # smoothing fills the empty category


def test_reference_row_broadcasts():
    rng = np.random.default_rng(4)
    p = rng.random((5, 300))
    q = rng.random(300)
    for name in ("kl_divergence", "js_distance"):
        got = stats(name, p, q, [0, 100, 300])
        np.testing.assert_allclose(got, eager(name, p, q), rtol=1e-14, atol=0)


def test_one_row_gives_a_scalar():
    p = np.array([1.0, 2.0, 3.0, 4.0])
    q = np.array([4.0, 3.0, 2.0, 1.0])
    got = stats("js_divergence", p, q, [0, 1, 4])
    want = kl_ext.js_divergence(p, q)
    assert type(got) is type(want)
    assert got == pytest.approx(want, rel=1e-15, abs=0)


def test_infinite_entries_follow_the_slow_path():
    p = np.array([[1.0, np.inf, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]])
    q = np.array([[1.0, 1.0, 1.0, 1.0], [1.0, 2.0, np.inf, 4.0]])
    for name in NAMES:
        for normalize in (True, False):
            want = eager(name, p, q, normalize=normalize)
            got = stats(name, p, q, [0, 2, 4], normalize=normalize)
            np.testing.assert_allclose(got, want, rtol=1e-14, atol=0, equal_nan=True)


def test_negative_entry_names_global_row_and_index():
    rng = np.random.default_rng(5)
    p, q = rng.random((4, 300)), rng.random((4, 300))
    p[2, 250] = -0.25
    with pytest.raises(ValueError) as eager_err:
        kl_ext.kl_divergence(p, q)
    with pytest.raises(ValueError) as err:
        stats("kl_divergence", p, q, [0, 100, 300])
    assert str(err.value) == str(eager_err.value) + " at index 250 of the axis"
    q[1, 10] = -1.0  # an earlier row in error wins, as in the kernels
    with pytest.raises(ValueError, match=re.escape("q must be non-negative, found -1.0 in row 1"
                                                   " at index 10 of the axis")):
        stats("js_divergence", p, q, [0, 100, 300])


def test_zero_sum_row_error_matches_eager():
    p = np.ones((3, 10))
    q = np.ones((3, 10))
    q[2] = 0
    for name in NAMES[1:]:
        with pytest.raises(ValueError) as e1:
            eager(name, p, q)
        with pytest.raises(ValueError) as e2:
            stats(name, p, q, [0, 4, 10])
        assert str(e1.value) == str(e2.value)


def test_chunks_must_cover_the_axis_once():
    p = np.ones(10)
    a = chunked.partial_stats("entropy", p[:4])
    b = chunked.partial_stats("entropy", p[6:], offset=6)
    with pytest.raises(ValueError, match="elements 4..5 of the axis are missing"):
        a.merge(b).result()
    with pytest.raises(ValueError, match="overlap"):
        a.merge(chunked.partial_stats("entropy", p[2:8], offset=2))
    with pytest.raises(ValueError, match="different measures"):
        a.merge(chunked.partial_stats("kl_divergence", p[4:], p[4:], offset=4))


def test_two_pass_protocol_errors():
    p = np.ones(10)
    first = chunked.partial_stats("total_variation", p, p)
    with pytest.raises(ValueError, match="needs a second pass"):
        first.result()
    with pytest.raises(ValueError, match="takes no second pass"):
        chunked.partial_stats("entropy", p).totals()
    t = first.totals()
    with pytest.raises(ValueError, match="Totals of js_divergence"):
        chunked.partial_stats("js_divergence", p, p, totals=t)
    with pytest.raises(ValueError, match="unknown measure"):
        chunked.partial_stats("hamming", p, p)
    with pytest.raises(ValueError, match="offset"):
        chunked.partial_stats("entropy", p, offset=-1)


def test_partials_pickle():
    rng = np.random.default_rng(6)
    p, q = rng.random((2, 100)), rng.random((2, 100))
    a = pickle.loads(pickle.dumps(chunked.partial_stats("kl_divergence", p[:, :30], q[:, :30])))
    b = chunked.partial_stats("kl_divergence", p[:, 30:], q[:, 30:], offset=30)
    np.testing.assert_allclose(a.merge(b).result(), kl_ext.kl_divergence(p, q), rtol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_accumulator_streams(name):
    rng = np.random.default_rng(7)
    n = 2 * PIECE + 17
    p, q = rng.random((3, n)), rng.random((3, n))
    acc = chunked.Accumulator(name)
    cuts = [0, PIECE, 2 * PIECE, n]

    def sweep():
        for a, b in zip(cuts[:-1], cuts[1:]):
            if name == "entropy":
                acc.update(p[:, a:b])
            else:
                acc.update(p[:, a:b], q[:, a:b])
    sweep()
    if acc.needs_second_pass:
        with pytest.raises(ValueError, match="second pass"):
            acc.result()
        acc.start_second_pass()
        sweep()
    assert same(acc.result(), eager(name, p, q))


def test_inputs_are_not_modified():
    rng = np.random.default_rng(8)
    p, q = rng.random((3, 50)), rng.random((3, 50))
    p0, q0 = p.copy(), q.copy()
    stats("js_divergence", p, q, [0, 20, 50], smoothing=1.0)
    assert np.array_equal(p, p0) and np.array_equal(q, q0)


def test_overflowing_sums_without_normalising():
    # sum p overflows although every entry is finite: the in-memory call
    # takes its slow path for the row; every chunk's share must be counted
    p = np.array([1e308, 1e308, 2.0, 3.0])
    q = np.array([1.0, 1.0, np.e, np.e])
    want = kl_ext.cross_entropy(p, q, normalize=False)
    assert want == -5.0
    assert stats("cross_entropy", p, q, [0, 2, 4], normalize=False) == want
    q2 = np.array([1e308, 5e307, 2.0, 1.0])
    want = kl_ext.total_variation(p, q2, normalize=False)
    assert np.isfinite(want)
    assert stats("total_variation", p, q2, [0, 2, 4], normalize=False) == want


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compare_accumulator(dtype):
    rng = np.random.default_rng(9)
    n = 2 * PIECE + 5
    p, q = rng.random((3, n)).astype(dtype), rng.random(n).astype(dtype)
    q[4] = 0
    acc = chunked.Accumulator("compare", base=2, smoothing=0.25)
    cuts = [0, PIECE, 2 * PIECE, n]
    for sweep in range(2):
        for a, b in zip(cuts[:-1], cuts[1:]):
            acc.update(p[:, a:b], q[a:b])
        if sweep == 0:
            with pytest.raises(ValueError, match="second pass"):
                acc.result()
            acc.start_second_pass()
    want = kl_ext.compare(p, q, base=2, smoothing=0.25)
    for f, got, w in zip(want._fields, acc.result(), want):
        assert same(got, w), f
    with pytest.raises(ValueError, match="base > 1"):
        chunked.Accumulator("compare", base=0.5)


# ---------------------------------------------------------------------------
# near p = q over a split axis (issue 17): within 1e-13 relative of exact
# arithmetic on the given floats, as the in-memory call is.  These fail when
# the pieces' double-double sums or the exact near terms are dropped (the
# one-pass value loses ~eps/d relative: ~1e-3 at d = 1e-13, every digit for
# q = fl(3 p)).

NEAR = ["kl_divergence", "js_divergence", "js_distance", "total_variation",
        "hellinger_distance", "jeffreys_divergence"]


def _exact(p, q):
    """Exact (rational, 160-bit mpmath) values of every near measure of
    the 1-D float rows p, q, and of the rows made of `pairs` repeated."""
    acc = pytest.importorskip("kl_ext.accuracy")
    pytest.importorskip("mpmath")
    return acc.exact_measures(p, q)


def _near_row(rng, n, d, dtype):
    p = rng.random(n).astype(dtype)
    if d == "3p":
        q = (3 * p).astype(dtype)
    else:
        q = (p * (1 + d * rng.standard_normal(n))).astype(dtype)
    return p, q


def _near_tol(value, ref, dtype):
    value, ref = float(value), float(ref)
    if math.isinf(ref):
        assert value == ref
        return
    tol = 1e-13 if dtype == np.float64 else 2.0 ** -24 + 1e-13
    assert abs(value - ref) <= tol * abs(ref), (value, ref, abs(value - ref) / abs(ref))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [1e-4, 1e-7, 1e-10, 1e-13, "3p"])
def test_near_equal_rows_exact_over_a_split_axis(d, dtype):
    rng = np.random.default_rng(17)
    p, q = _near_row(rng, 600, d, dtype)
    ex = _exact(p, q)
    for name in NEAR:
        got = stats(name, p, q, [0, 1, 250, 251, 600], order=[3, 0, 2, 1])
        ref = ex["js_divergence"] ** 0.5 if name == "js_distance" else ex[name]
        _near_tol(got, ref, dtype)
        assert got.dtype == dtype


def test_near_equal_long_rows_exact_across_pieces():
    # rows of several kernel pieces, split off the pieces' boundaries, made of
    # a few distinct (p, q) pairs so that the exact value is cheap; the first
    # rows hold pieces with no mass at all (both p and q zero) and pieces
    # where only q has mass
    acc = pytest.importorskip("kl_ext.accuracy")
    pytest.importorskip("mpmath")
    rng = np.random.default_rng(5)
    n = 4 * PIECE + 12345
    base = rng.random(7)
    cases = {"d=1e-13": base * (1 + 1e-13 * rng.standard_normal(7)),
             "3p": 3 * base, "d=1e-9": base * (1 + 1e-9 * rng.standard_normal(7))}
    idx = rng.integers(0, 7, n)
    for label, qv in cases.items():
        p, q = base[idx], qv[idx]
        p[:PIECE + 5] = 0.0
        q[:PIECE - 100] = 0.0
        pairs = np.array([base, qv]).T
        keys = np.concatenate([idx[PIECE + 5:], [7], [8]])
        mult = np.bincount(keys, minlength=9)
        mult[7], mult[8] = PIECE - 100, 105  # (0, 0) and (0, q) entries
        pv = np.concatenate([pairs[:, 0], [0.0, 0.0]])
        qx = np.concatenate([pairs[:, 1], [0.0, qv[idx[PIECE - 100]]]])
        # the (0, q) entries are q[PIECE - 100 : PIECE + 5]: make them equal
        q[PIECE - 100:PIECE + 5] = qx[8]
        ex = acc.exact_measures(pv, qx, mult)
        for name in ["kl_divergence", "js_divergence", "total_variation",
                     "hellinger_distance", "jeffreys_divergence"]:
            got = stats(name, p, q, [0, 70001, n])
            _near_tol(got, ex[name], np.float64)
            whole = eager(name, p, q)
            _near_tol(whole, ex[name], np.float64)


def test_near_and_ordinary_rows_together():
    # a 2-D call: rows near p = q take the exact path, the others keep the
    # one-pass value bit for bit (aligned chunks)
    rng = np.random.default_rng(3)
    p = rng.random((4, 2 * PIECE))
    q = rng.random((4, 2 * PIECE))
    q[1] = p[1] * (1 + 1e-12 * rng.standard_normal(2 * PIECE))
    q[3] = 3 * p[3]
    for name in NEAR:
        got = stats(name, p, q, [0, PIECE, 2 * PIECE])
        want = eager(name, p, q)
        np.testing.assert_array_equal(got[[0, 2]], want[[0, 2]])
        np.testing.assert_allclose(got[[1, 3]], want[[1, 3]], rtol=1e-13, atol=0)
        assert (got[[1, 3]] > 0).all()


def test_near_accumulator_and_compare():
    rng = np.random.default_rng(11)
    p, q = _near_row(rng, 300, 1e-12, np.float64)
    ex = _exact(p, q)
    comp = chunked.Accumulator("compare")
    for _ in range(2):
        for a in range(0, 300, 70):
            comp.update(p[a:a + 70], q[a:a + 70])
        if comp.needs_second_pass:
            comp.start_second_pass()
    c = comp.result()
    _near_tol(c.kl_pq, ex["kl_divergence"], np.float64)
    for field in ["js_divergence", "total_variation", "hellinger_distance",
                  "jeffreys_divergence"]:
        _near_tol(getattr(c, field), ex[field], np.float64)


@pytest.mark.parametrize("name", ["js_divergence", "total_variation", "hellinger_distance",
                                  "jeffreys_divergence", "kl_divergence"])
def test_near_row_with_one_far_piece(name):
    # a long row near p = q except for one piece of little mass where q is
    # 1.5 p: the row is still below the near bound, the far piece keeps its
    # one-pass terms, the others take the exact ones
    acc = pytest.importorskip("kl_ext.accuracy")
    pytest.importorskip("mpmath")
    rng = np.random.default_rng(8)
    n = 3 * PIECE + 999
    base = rng.random(5) + 0.5
    near = base * (1 + 1e-12 * rng.standard_normal(5))
    idx = rng.integers(0, 5, n)
    far = slice(PIECE + 10, PIECE + 40)   # 30 entries of ~2e5
    p, q = base[idx], near[idx]
    idx2 = idx.copy()
    idx2[far] += 5
    q[far] = 1.5 * p[far]
    pv = np.concatenate([base, base])
    qv = np.concatenate([near, 1.5 * base])
    ex = acc.exact_measures(pv, qv, np.bincount(idx2, minlength=10), measures=[name])
    got = stats(name, p, q, [0, 100003, 2 * PIECE, n])
    _near_tol(got, ex[name], np.float64)
    if name != "kl_divergence":  # the row is in the near regime
        assert float(got) < chunked._k.near_limit(chunked.MEASURES[name].code)


@pytest.mark.parametrize("label", ["random", "near"])
def test_hist_over_a_split_axis_exact(label):
    # order-1 wasserstein_hist from the three chunked steps, 2e5 bins in
    # three unaligned chunks, against exact arithmetic: the scales and start
    # differences are double-doubles from the pieces' double-double sums
    # (with pass 1's rounded sums the error was ~1e-13 at 3e5 bins)
    acc = pytest.importorskip("kl_ext.accuracy")
    rng = np.random.default_rng(21)
    n = 200_000
    p = rng.random(n)
    q = rng.random(n) if label == "random" else p * (1 + 1e-12 * rng.standard_normal(n))
    bounds = [0, n // 3 + 7, 2 * n // 3 + 1, n]
    parts = [chunked.partial_stats("total_variation", p[a:b], q[a:b], offset=a)
             for a, b in zip(bounds[:-1], bounds[1:])]
    whole = parts[2].merge(parts[0]).merge(parts[1])
    t = chunked.hist_totals(np.concatenate([s[2] for s in whole.segments], axis=-2),
                            [s[2].shape[-2] for s in whole.segments], True)
    w = [chunked.hist_pieces(p[a:b], q[a:b], t[i], None, None, i == 2)
         for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]
    got = float(chunked.hist_finish(np.array(w), t))
    ex = float(acc.exact_wasserstein_hist(p, q))
    assert abs(got - ex) <= 1e-15 * ex, (got, ex, abs(got - ex) / ex)


def test_entropy_with_a_dominant_entry_exact_over_a_split_axis():
    # normalised entropy where the one-pass form log s - (1/s) sum p log p
    # cancels (one entry holds nearly all the mass, the rest spans 1e-300 ...
    # 1e-6): each piece keeps its own entropy (with the in-memory second
    # pass where needed), combined by the grouping identity; before, the
    # split axis kept the one-pass value (~1e-9 relative here)
    acc = pytest.importorskip("kl_ext.accuracy")
    pytest.importorskip("mpmath")
    rng = np.random.default_rng(2)
    for dominant_at in (3, 150, 299):
        p = 10.0 ** rng.uniform(-300, -6, 300)
        p[dominant_at] = 1.0
        ex = float(acc.exact_measures(p, measures=["entropy"])["entropy"])
        for bounds in ([0, 100, 300], [0, 1, 151, 152, 300]):
            got = float(stats("entropy", p, None, bounds))
            assert abs(got - ex) <= 1e-13 * ex, (dominant_at, bounds, got, ex)
        assert abs(float(kl_ext.entropy(p)) - ex) <= 1e-13 * ex
