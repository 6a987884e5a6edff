"""Accuracy contract of the 1-D Wasserstein walks (issue 17, part 2):
within 1e-13 relative of exact arithmetic at any length, for histograms,
weighted and unweighted samples, orders 1, 2, 3 and the CDF walk, and for
nearly equal inputs.  References are exact rationals (tests/exact_walks.py)
on integer counts and dyadic floats.  The heavy-first-bin inputs put almost
all the mass in one place, so the CDF differences are tiny next to the
CDFs: a walk without compensation (or with rounded normalisation) is off
by 1e-9 or more there, at a few hundred bins.
"""

import os
import sys

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import exact_walks as ex  # noqa: E402

from kl_ext.compat import energy_distance  # noqa: E402
from kl_ext.wasserstein import wasserstein_1d, wasserstein_hist  # noqa: E402

BOUND = 1e-13
F32 = 2.0 ** -24 * 1.01   # one float32 rounding (the float64 value is exact to ~1e-16)


def _hist(seed, n, kind):
    rng = np.random.default_rng(seed)
    if kind == "random":
        return rng.random(n), rng.random(n)
    if kind == "counts":
        return (rng.integers(0, 2 ** 20, n).astype(float),
                rng.integers(0, 2 ** 20, n).astype(float))
    if kind == "near":
        # large counts, a few bins moved by one: W1 ~ 1e-9 of the support
        p = rng.integers(10 ** 6, 2 * 10 ** 6, n).astype(float)
        q = p.copy()
        q[rng.integers(0, n, 5)] += 1.0
        q[rng.integers(0, n, 5)] -= 1.0
        return p, q
    # heavy first bin: the CDFs are ~1 from the start, their difference tiny
    p, q = rng.random(n), rng.random(n)
    p[0] = q[0] = 2.0 ** 40
    return p, q


hist_case = st.tuples(st.integers(0, 2 ** 32 - 1), st.integers(1, 3000),
                      st.sampled_from(["random", "counts", "near", "heavy"]),
                      st.booleans())


@settings(max_examples=40, deadline=None)
@given(hist_case)
def test_wasserstein_hist_order1_exact(case):
    seed, n, kind, with_support = case
    p, q = _hist(seed, n, kind)
    x = np.sort(np.random.default_rng(seed + 1).random(n)) if with_support else None
    got = wasserstein_hist(p, q, support=x)
    assert ex.rel(got, ex.hist_w1(p, q, x)) <= BOUND, (n, kind)
    # the same row in a batch of five (short rows: walked four side by side)
    rows = wasserstein_hist(np.stack([p] * 5), q, support=x)
    assert (rows == got).all()


@pytest.mark.parametrize("with_support", [False, True])
def test_wasserstein_hist_block_of_mixed_rows(with_support):
    # short rows are walked four side by side; the four lanes' pair scales
    # are computed as vectors when every lane's sums are in range, lane by
    # lane otherwise.  Rows 1 and 3 (sums 2**1040 apart: rescaled; sums
    # 2**1020 apart: in range, at the edge) put the other rows of their
    # block on the lane-by-lane path: every row is exact and equals, to the
    # bit, its value alone (a block of one row on the vector path).
    rng = np.random.default_rng(5)
    n = 37
    p, q = rng.random((8, n)), rng.random((8, n))
    p[1] *= 2.0 ** -1010
    q[1] *= 2.0 ** 30
    p[3] *= 2.0 ** -980
    q[3] *= 2.0 ** 35
    q[6] = p[6] * (1 + 1e-9 * rng.random(n))   # nearly equal rows
    q[7] = p[7]
    x = np.sort(rng.random(n)) if with_support else None
    got = wasserstein_hist(p, q, support=x)
    for i in range(8):
        assert ex.rel(got[i], ex.hist_w1(p[i], q[i], x)) <= BOUND, i
        assert got[i] == wasserstein_hist(p[i], q[i], support=x), i


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(1, 3000), st.sampled_from(["random", "heavy"]))
def test_wasserstein_hist_float32_one_rounding(seed, n, kind):
    p, q = _hist(seed, n, kind)
    if kind == "heavy":
        p[0] = q[0] = 2.0 ** 20
    p32, q32 = p.astype(np.float32), q.astype(np.float32)
    got = wasserstein_hist(p32, q32)
    assert got.dtype == np.float32
    assert ex.rel(got, ex.hist_w1(p32, q32)) <= F32


@pytest.mark.parametrize("kind", ["random", "near", "heavy"])
def test_wasserstein_hist_long_rows_exact(kind):
    # 2e5 bins: four segments walked side by side
    p, q = _hist(17, 200_000, kind)
    assert ex.rel(wasserstein_hist(p, q), ex.hist_w1(p, q)) <= BOUND


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(2, 300), st.sampled_from([2, 3]))
def test_wasserstein_hist_other_orders_exact(seed, n, order):
    p, q = _hist(seed, n, "heavy")
    x = np.arange(n, dtype=float)
    got = float(wasserstein_hist(p, q, order=order)) ** order
    assert ex.rel(got, ex.sample_wpp(x, x, p, q, order=order)) <= 4 * BOUND


def _samples(seed, n, m, heavy):
    rng = np.random.default_rng(seed)
    u, v = rng.random(n), rng.random(m) * 1.25
    uw, vw = rng.random(n), rng.random(m)
    if heavy:
        # most of the mass on one shared point: U and V ~1 from there on
        u[np.argmin(u)] = v[np.argmin(v)] = -1.0
        uw[np.argmin(u)] = vw[np.argmin(v)] = 2.0 ** 40
    return u, v, uw, vw


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(1, 400), st.integers(1, 400),
       st.booleans(), st.sampled_from([1, 2, 3]))
def test_wasserstein_1d_weighted_exact(seed, n, m, heavy, order):
    u, v, uw, vw = _samples(seed, n, m, heavy)
    got = float(wasserstein_1d(u, v, uw, vw, order=order)) ** order
    # W^p: the p-th power of a correctly rounded W carries p roundings
    assert ex.rel(got, ex.sample_wpp(u, v, uw, vw, order=order)) <= order * BOUND
    got = float(wasserstein_1d(u, v, order=order)) ** order
    assert ex.rel(got, ex.sample_wpp(u, v, order=order)) <= order * BOUND


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(1, 300), st.integers(1, 300), st.booleans())
def test_cdf_walk_exact(seed, n, m, heavy):
    # energy_distance walks the CDFs: sqrt(2 int (U - V)^2 dx)
    u, v, uw, vw = _samples(seed, n, m, heavy)
    got = float(energy_distance(u, v, uw, vw)) ** 2 / 2
    assert ex.rel(got, ex.sample_cdf(u, v, uw, vw, order=2)) <= 4 * BOUND


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(1, 2000), st.booleans())
def test_nearly_equal_samples(seed, n, weighted):
    # v = u + ~1e-12 noise: W1 ~ 1e-13, exact to the inputs' precision
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    v = u + np.ldexp(rng.integers(-2 ** 12, 2 ** 12, n).astype(float), -52)
    w = rng.random(n) if weighted else None
    if weighted:
        # most of the weight on a sample that does not move
        v[0] = u[0]
        w[0] = 2.0 ** 40
    got = wasserstein_1d(u, v, w, w)
    assert ex.rel(got, ex.sample_wpp(u, v, w, w)) <= BOUND


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(3, 3000), st.booleans())
def test_chunked_split_axis_nearly_equal_exact(seed, n, with_support):
    # kl_ext.chunked's hist_* over three chunks: the start difference of
    # each chunk and the walk within it stay exact for nearly equal rows
    from kl_ext import chunked
    p, q = _hist(seed, n, "near")
    x = np.sort(np.random.default_rng(seed + 1).random(n)) if with_support else None
    cuts = [0, n // 3, 2 * n // 3, n]
    stats = None
    for a, b in zip(cuts[:-1], cuts[1:]):
        s = chunked.partial_stats("total_variation", p[a:b], q[a:b], offset=a)
        stats = s if stats is None else stats.merge(s)
    parts = np.concatenate([s[2] for s in stats.segments], axis=-2)
    t = chunked.hist_totals(parts, [1, 1, 1], True)
    w = [chunked.hist_pieces(p[a:b], q[a:b], t[i], None if x is None else x[a:b],
                             None if x is None or b == n else x[b], b == n)
         for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:]))]
    got = chunked.hist_finish(np.array(w), t)
    assert ex.rel(got, ex.hist_w1(p, q, x)) <= BOUND
