"""The weighted quantile walk in fixed segments (src/_wasserstein.pyx
quantile_weighted and split_walk, src/_walk.h kw_qseg_*).

The walk of two weighted samples is cut into segments of WALK_SEG merged
breakpoints, fixed by the data alone; each segment starts in a state the
whole walk passes through (past every breakpoint equal to the last one
before it: runs of zero weights, breakpoints of u and v that tie) and its
partial sum is added in segment order, so the thread count never changes a
bit of the result.
"""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from kl_ext import _threads
from kl_ext import reference_wasserstein as ref
from kl_ext import wasserstein as W
from kl_ext.wasserstein import wasserstein_1d

SEG = 16384  # WALK_SEG in src/_wasserstein.pyx
ORDERS = (1, 2, 3, math.inf)
MODES = {1: (1, 1.0), 2: (2, 2.0), 3: (3, 3.0), math.inf: (4, math.inf)}


def _neumaier(xs):
    # _scalar.pxd's kahan_add / kahan_total, in the order given
    s = c = 0.0
    for x in xs:
        t = s + x
        if abs(s) >= abs(x):
            c += (s - t) + x
        else:
            c += (x - t) + s
        s = t
    return s if s - s != 0.0 else s + c


def _case(name, rng):
    """(u, uw, v, vw), each sorted, n + m >= 131072 (threaded)."""
    if name == "random":
        n, m = 70_000, 65_001
        return (np.sort(rng.normal(size=n)), rng.random(n),
                np.sort(rng.normal(0.3, 1.2, m)), rng.random(m))
    if name == "zero runs":
        # runs of zero weights longer than a segment, and scattered zeros
        n, m = 100_000, 40_000
        uw = rng.random(n)
        uw[20_000:61_000] = 0.0
        uw[rng.integers(0, n, 3000)] = 0.0
        vw = rng.random(m)
        vw[5_000:30_000] = 0.0
        return np.sort(rng.normal(size=n)), uw, np.sort(rng.normal(size=m)), vw
    if name == "tied breakpoints":
        # equal integer weights, n == m: every breakpoint of u equals one of
        # v, so every step takes both on; values with many ties too
        n = 70_000
        w = np.full(n, 3.0)
        return (np.sort(rng.integers(0, 50, n).astype(float)), w,
                np.sort(rng.integers(0, 60, n).astype(float)), w.copy())
    if name == "half tied":
        # v's breakpoints are every second one of u's, and blocks of weights
        # that make runs of equal cumulative weights in both
        n = 100_000
        uw = np.ones(n)
        vw = np.full(n // 2, 2.0)
        uw[40_000:60_000] = 0.0
        uw[60_000:80_000] *= 2.0
        return (np.sort(rng.normal(size=n)), uw,
                np.sort(rng.normal(size=n // 2)), vw)
    raise AssertionError(name)


CASES = ("random", "zero runs", "tied breakpoints", "half tied")


@pytest.mark.parametrize("name", CASES)
def test_same_bits_on_any_thread_count(name):
    rng = np.random.default_rng(41)
    u, uw, v, vw = _case(name, rng)
    for dt in (np.float64, np.float32):
        got = []
        for nt in (1, 2, 0):
            with _threads.limit(nt):
                got.append([float(wasserstein_1d(u.astype(dt), v.astype(dt), uw, vw,
                                                 order=o)) for o in ORDERS])
        assert got[1] == got[0] and got[2] == got[0], (dt, got)


@pytest.mark.parametrize("name", CASES)
def test_segmented_walk_against_reference(name):
    rng = np.random.default_rng(42)
    u, uw, v, vw = _case(name, rng)
    for o in ORDERS:
        assert_allclose(wasserstein_1d(u, v, uw, vw, order=o),
                        ref.wasserstein_1d(u, v, uw, vw, o), rtol=1e-11, atol=0)


@pytest.mark.parametrize("name", CASES)
def test_segments_start_past_ties_and_are_added_in_order(name):
    rng = np.random.default_rng(43)
    u, uw, v, vw = _case(name, rng)
    n, m = u.size, v.size
    for o in ORDERS:
        mode, p = MODES[o]
        bi, bj, parts = W._k.walk_parts(u, uw, v, vw, mode, p, 1)
        nseg = -(-(n + m) // SEG)
        assert parts.shape == (nseg,)
        assert bi[0] == 0 and bj[0] == 0 and bi[-1] == n and bj[-1] == m
        assert (np.diff(bi) >= 0).all() and (np.diff(bj) >= 0).all()
        # a segment never starts inside a run of zero weights: the sample
        # it starts at moves the cumulative weight on
        inner_u = bi[(bi > 0) & (bi < n)]
        inner_v = bj[(bj > 0) & (bj < m)]
        assert (uw[inner_u] > 0).all() and (vw[inner_v] > 0).all()
        if name == "tied breakpoints":   # tu[k] == tv[k]: both or neither
            assert_array_equal(bi, bj)
        # the same segments on two threads, and the call's value is their
        # in-order sum (order inf: the largest)
        bi2, bj2, parts2 = W._k.walk_parts(u, uw, v, vw, mode, p, 2)
        assert_array_equal(bi2, bi)
        assert_array_equal(bj2, bj)
        assert_array_equal(parts2, parts)
        with _threads.limit(1):
            got = float(wasserstein_1d(u, v, uw, vw, order=o, assume_sorted=True))
        want = max(parts) if o == math.inf else _neumaier(parts) ** (1 / p)
        if o in (1, math.inf):
            assert got == want
        else:
            assert_allclose(got, want, rtol=1e-15)
        if o == 1:
            assert got == _neumaier(parts)


@pytest.mark.parametrize("total", [SEG - 1, SEG, SEG + 1, 2 * SEG - 1, 2 * SEG,
                                   2 * SEG + 1, 8 * SEG + 5])
def test_sizes_around_the_segment_size(total):
    rng = np.random.default_rng(total)
    n = total // 3 + 1
    m = total - n
    u, v = np.sort(rng.random(n)), np.sort(rng.random(m) * 1.2)
    uw, vw = rng.random(n), rng.random(m)
    uw[: n // 4] = 0.0   # a run of zero weights at the start
    _, _, parts = W._k.walk_parts(u, uw, v, vw, 1, 1.0, 1)
    assert parts.size == -(-total // SEG)
    for o in ORDERS:
        want = ref.wasserstein_1d(u, v, uw, vw, o)
        got = []
        for nt in (1, 2):
            with _threads.limit(nt):
                got.append(float(wasserstein_1d(u, v, uw, vw, order=o)))
        assert got[0] == got[1]
        assert_allclose(got[0], want, rtol=1e-11, atol=0)
