"""Exact rational references for the 1-D Wasserstein walks (tests and
benchmarks/walk_accuracy.py).

Inputs are integers (counts, weights, positions) or float64 arrays that are
integers times one power of two (``rng.random`` floats are k * 2**-53), so
every cumulative sum, CDF difference and step is an integer and the answer a
fraction, computed in O(n) (O(n log n) for samples) with Python integers.
"""

from fractions import Fraction

import numpy as np


def as_ints(a):
    """(object array of Python ints, power-of-two exponent e) with
    a == ints * 2**e exactly, for a float or integer array."""
    a = np.asarray(a)
    if a.dtype.kind in "iub":
        return a.astype(object), 0
    a = a.astype(np.float64)
    nz = a[a != 0]
    if nz.size == 0:
        return np.zeros(a.shape, dtype=object), 0
    # the smallest exponent of a set bit among the entries
    e_min = int((np.frexp(nz)[1] - 53).min())
    scaled = np.ldexp(a, -e_min)  # exact: a power-of-two scaling
    if np.abs(scaled).max() < 2.0 ** 63:
        ints = scaled.astype(np.int64).astype(object)
    else:
        ints = np.array([int(x) for x in scaled.tolist()], dtype=object)
    return ints, e_min


def hist_w1(p, q, x=None):
    """Exact order-1 W between normalised histograms p, q (1-D) on support x
    (default 0..n-1), as a Fraction."""
    pi, ep = as_ints(p)
    qi, eq = as_ints(q)
    P = np.cumsum(pi)
    Q = np.cumsum(qi)
    sp, sq = int(P[-1]), int(Q[-1])
    # scales 2**ep, 2**eq cancel in the normalisation
    N = P[:-1] * sq - Q[:-1] * sp
    if x is None:
        num = sum(abs(int(d)) for d in N)
        xs = 0
    else:
        xi, xs = as_ints(x)
        gaps = np.diff(xi)
        num = sum(abs(int(d)) * int(g) for d, g in zip(N, gaps))
    return Fraction(num, sp * sq) * Fraction(2) ** xs


def hist_w1_counts(p, q):
    """Exact order-1 W for long histograms of non-negative integer counts
    (sums below 2**62) on 0..n-1, as a Fraction: int64 cumulative sums and
    Python-int products in blocks, O(n) (1e8 bins in about a minute)."""
    p = np.asarray(p)
    q = np.asarray(q)
    sp, sq = int(p.sum(dtype=np.int64)), int(q.sum(dtype=np.int64))
    assert max(sp, sq) < 2 ** 62
    total = 0
    P0 = Q0 = 0
    step = 1 << 22
    n = p.size
    for s in range(0, n - 1, step):
        e = min(s + step, n - 1)
        P = np.cumsum(p[s:e], dtype=np.int64) + P0
        Q = np.cumsum(q[s:e], dtype=np.int64) + Q0
        total += int(np.abs(P.astype(object) * sq - Q.astype(object) * sp).sum())
        P0, Q0 = int(P[-1]), int(Q[-1])
    return Fraction(total, sp * sq)


def _cum(w, n):
    return np.cumsum(np.ones(n, dtype=object) if w is None else as_ints(w)[0])


def _sorted_ints(u, v, uw, vw):
    """Sorted values of u and v as Python ints times 2**e (one e for both),
    and their cumulative integer weights."""
    u, v = np.asarray(u), np.asarray(v)
    iu, iv = np.argsort(u, kind="stable"), np.argsort(v, kind="stable")
    both, e = as_ints(np.concatenate([u[iu], v[iv]]).astype(np.float64))
    cu = _cum(None if uw is None else np.asarray(uw)[iu], u.size)
    cv = _cum(None if vw is None else np.asarray(vw)[iv], v.size)
    return both[:u.size].tolist(), both[u.size:].tolist(), cu, cv, e


def sample_cdf(u, v, uw=None, vw=None, order=1):
    """Exact int |U - V|^order dx for integer or dyadic samples u, v with
    integer (or dyadic) weights, order a positive integer: a Fraction."""
    ul, vl, cu, cv, e = _sorted_ints(u, v, uw, vw)
    su, sv = int(cu[-1]), int(cv[-1])
    z = sorted(set(ul) | set(vl))
    # number of samples <= each merged point (bisect on Python ints)
    from bisect import bisect_right
    num = 0
    for k in range(len(z) - 1):
        a, b = bisect_right(ul, z[k]), bisect_right(vl, z[k])
        U = int(cu[a - 1]) if a else 0
        V = int(cv[b - 1]) if b else 0
        num += abs(U * sv - V * su) ** order * (z[k + 1] - z[k])
    return Fraction(num, (su * sv) ** order) * Fraction(2) ** e


def sample_wpp(u, v, uw=None, vw=None, order=1):
    """Exact W_p^p (quantile form) for integer or dyadic samples with integer
    (or dyadic) weights, p a positive integer: a Fraction."""
    ul, vl, cu, cv, e = _sorted_ints(u, v, uw, vw)
    su, sv = int(cu[-1]), int(cv[-1])
    tu = [int(c) * sv for c in cu]   # breakpoints in units of 1/(su sv)
    tv = [int(c) * su for c in cv]
    i = j = prev = num = 0
    n, m = len(tu), len(tv)
    while i < n and j < m:
        a, c = tu[i], tv[j]
        t = a if a < c else c
        if t > prev:
            num += (t - prev) * abs(ul[i] - vl[j]) ** order
            prev = t
        if a <= c:
            i += 1
        if c <= a:
            j += 1
    return Fraction(num, su * sv) * Fraction(2) ** (e * order)


def rel(got, exact):
    """|got - exact| / |exact| in exact arithmetic, as a float."""
    got = Fraction(float(got))
    if exact == 0:
        return float(abs(got))
    return float(abs(got - exact) / abs(exact))
