"""Accuracy benchmark behind ``kl-ext accuracy``.

Measures the relative error of every kl_ext measure against *exact
arithmetic on the given floating-point inputs* -- in memory, and with the
distribution axis split in three unaligned chunks (:mod:`kl_ext.chunked`,
the column "kl_ext split": what :mod:`kl_ext.dask` and a Spark job compute)
-- side by side with :mod:`kl_ext.reference` (plain NumPy), SciPy, NumKong
and PyTorch (CPU), those installed, on seeded inputs of several regimes:

* ``random`` -- uniform random rows (float64 and float32);
* ``near`` -- nearly identical rows ``q = p·(1 + d·ε)``, ε standard normal,
  d = 1e-4, 1e-7, 1e-10, 1e-13 (KL ≈ d²/2 down to 1e-27);
* ``proportional`` -- ``q = fl(3·p)`` (exact divergence ~1e-33: only the
  rounding of 3·p separates the normalised rows) and ``q = 4·p`` (exactly 0);
* ``long`` -- rows of 1e6 and 1e7 elements, float64 and float32;
* ``wide`` -- entries spanning 1e-300…1, with subnormals;
* ``counts`` -- integer counts up to 2**52;
* ``hist`` -- :func:`kl_ext.wasserstein_hist` on uniform random masses
  (NumPy's draws, multiples of 2**-53) in 1e3…1e7 bins on a dyadic support;
* ``samples`` -- :func:`kl_ext.wasserstein_1d` on unweighted and weighted
  samples of unequal sizes, and on nearly equal samples ``v = u + 1e-12·noise``.

The exact values come from :func:`exact_measures` (mpmath at
``PRECISION`` bits; every float is an exact binary number, the row sums
are exact integers and the differences of the normalised rows are formed
exactly, so nothing cancels: every term summed is non-negative) and from
:func:`exact_wasserstein_hist` / :func:`exact_wasserstein_1d` (exact integer
arithmetic, O(n) in NumPy).  Long rows are built from 1000 distinct
pairs repeated in shuffled order, so the exact value costs one mpmath
evaluation per distinct pair (times its multiplicity), never one per element.
Every run checks the exact references themselves against an independent,
direct evaluation (:func:`check_references`) before it reports anything.

:func:`run` computes the results, :func:`format_table` prints them,
:func:`to_json` and :func:`plot` give the JSON and the PNG of ``--json``
and ``--plot``.
"""

import datetime
import math
import os
import platform
import statistics
import sys
import textwrap
import time
import zlib
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import numpy.typing as npt

from . import _table

__all__ = ["PRECISION", "DISCRETE", "WASSERSTEIN", "MEASURES", "REGIMES", "LIBRARIES",
           "Case", "Result", "exact_measures", "exact_wasserstein_hist",
           "exact_wasserstein_1d", "relative_error", "cases", "run", "check_references",
           "environment", "format_table", "to_json", "plot", "main_accuracy"]

#: working precision of the exact references, in bits (48 decimal digits)
PRECISION = 160
#: the discrete measures, in the table's order
DISCRETE = tuple(m.name for m in _table.MEASURES)
#: the Wasserstein measures
WASSERSTEIN = ("wasserstein_hist", "wasserstein_1d")
#: every measure the benchmark reports
MEASURES = DISCRETE + WASSERSTEIN
#: regimes -> one-line description (the table's footnotes)
REGIMES = {
    "random": "uniform random entries",
    "near": "q = p·(1 + d·ε), ε standard normal (rounded to float64)",
    "proportional": "q = fl(3·p) (exact divergence ~1e-33) and q = 4·p (exactly 0)",
    "long": "long rows: 1000 distinct (p, q) pairs repeated in shuffled order",
    "wide": "entries 10^U(-300, 0) with subnormals (5e-324 … 1e-310)",
    "counts": "integer counts up to 2^52 (float64)",
    "hist": "wasserstein_hist: uniform random masses in n bins, support steps k/8",
    "samples": "wasserstein_1d: n vs 0.7·n samples on a grid of 1/8 (weights uniform "
               "random), and v = u + ~1e-12·noise",
}
#: libraries compared, in column order -> column title
LIBRARIES = {"kl_ext": "kl_ext", "chunked": "kl_ext split", "reference": "reference",
             "scipy": "SciPy", "numkong": "NumKong", "torch": "torch"}
#: relative difference between the exact references and their direct check
#: above which a run fails (the references agree to ~1e-45)
CHECK_TOL = 1e-30
_SEED = 20261206

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
#: one row of a case: the arguments every library gets, and measure -> exact value
Row = tuple[tuple[Any, ...], dict[str, Any]]
#: make(rng) -> the rows of a case
Make = Callable[[np.random.Generator], list[Row]]
#: gen(rng) -> (p, q) or (p, q, (distinct p, distinct q, multiplicity))
Gen = Callable[[np.random.Generator], tuple[Any, ...]]


def _mp() -> Any:
    import importlib
    try:
        return importlib.import_module("mpmath")
    except ImportError:
        raise ImportError("kl_ext.accuracy needs mpmath for its exact references "
                          "(pip install mpmath)") from None


# ---------------------------------------------------------------------------
# exact references: discrete measures

def _exact_ints(values: npt.ArrayLike, name: str) -> list[int]:
    """Integers N_i and a common scale: values_i = N_i · 2**e exactly."""
    v = np.asarray(values)
    if v.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {v.dtype}")
    v = v.astype(np.float64).ravel()   # float32 and ints up to 2**53: exact
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} has a non-finite entry")
    if np.any(v < 0):
        raise ValueError(f"{name} has a negative entry")
    mant, exp = np.frexp(v)
    m = (mant * 2.0 ** 53).astype(np.int64)      # exact: 53-bit significands
    shift = exp.astype(np.int64) - 53
    nz = m != 0
    base = int(shift[nz].min()) if nz.any() else 0
    out = []
    for mi, si in zip(m.tolist(), (shift - base).tolist()):
        out.append(mi << si if si >= 0 else mi >> -si)   # si < 0 only for zeros
    return out


def _kl_term(a: Any, b: Any, delta: Any, mp: Any, small: Any) -> Any:
    """a·log(a/b) − (a − b) >= 0 for a >= 0, b > 0, given delta = a − b (accurate).

    Near a = b (|t| < `small` = 1/16, t = delta/b) by the series of
    (1 + t)·log(1 + t) − t, which never cancels; elsewhere directly (it
    loses at most a few of the working bits there).
    """
    if a == 0:
        return b
    t = delta / b
    if abs(t) < small:
        # (1 + t) log(1 + t) − t = Σ_{k>=2} (−t)^k / (k (k − 1))
        eps = mp.eps * t * t
        total, power, k = t * t / 2, t * t * t, 3
        while True:
            term = power / (k * (k - 1))
            total += -term if k % 2 else term
            if abs(term) <= eps:
                return b * total
            power *= t
            k += 1
    return a * mp.log(a / b) - delta


def _log_ratio(a: Any, b: Any, delta: Any, mp: Any, small: Any) -> Any:
    """log(a/b) for a, b > 0, given delta = a − b (accurate near a = b)."""
    t = delta / b
    if abs(t) < small:
        eps = mp.eps * abs(t)
        total, power, k = t, t * t, 2
        while True:
            term = power / k
            total += -term if k % 2 == 0 else term
            if abs(term) <= eps:
                return total
            power *= t
            k += 1
    return mp.log(a / b)


def _log_share(a: int, total: int, x: Any, mp: Any) -> Any:
    """log(a/total) for exact integers 0 < a <= total, x = a/total rounded:
    near 1 as log1p(-(total - a)/total) from the exact complement, since x
    itself may round to 1 (a row [1, 3e-50] has x = 1 - 3e-50, below the
    working precision, and x log x = -3e-50, a hundredth of its entropy)."""
    if 2 * a > total:
        return mp.log1p(-mp.mpf(total - a) / mp.mpf(total))
    return mp.log(x)


def exact_measures(p: npt.ArrayLike, q: npt.ArrayLike | None = None,
                   multiplicity: npt.ArrayLike | None = None, *,
                   measures: Sequence[str] | None = None) -> dict[str, Any]:
    r"""The discrete measures of the exact values of `p` and `q`, normalised exactly.

    Every float is an exact binary number; the row sums are formed as exact
    integers and the differences of the normalised rows, ``p_i/Σp −
    q_i/Σq``, as exact rationals, then each measure is a sum of
    non-negative terms evaluated with mpmath at ``PRECISION`` bits (so
    the result is exact to ~1e-45 relative, whatever the closeness of p
    and q).

    Parameters
    ----------
    p : array_like of shape (n,)
        Non-negative finite entries (any real dtype; float32 and integers
        up to 2**53 are taken at their exact values).
    q : array_like of shape (n,), optional
        The second distribution; without it only ``entropy`` is computed.
    multiplicity : array_like of int of shape (n,), optional
        How many times each (p_i, q_i) pair occurs in the row (default 1
        each): the exact value of a long row made of a few distinct pairs
        costs one evaluation per distinct pair.
    measures : sequence of str, optional
        Names from ``DISCRETE`` (default: all of them, or ``entropy``
        without `q`).

    Returns
    -------
    dict
        Measure name -> ``mpmath.mpf`` in nats (``+inf`` where the
        measure is infinite, e.g. KL with q_i = 0 < p_i).

    Raises
    ------
    ValueError
        A negative or non-finite entry, a row that sums to 0, shapes that
        differ, a negative multiplicity, or an unknown measure.
    TypeError
        Non-numeric input.
    ImportError
        mpmath is not installed.

    Notes
    -----
    With :math:`x = p/\sum p`, :math:`y = q/\sum q`, :math:`\delta = x - y`
    (exact), :math:`m = (x + y)/2` and :math:`k(a, b) = a\log(a/b) - (a - b)
    \ge 0` (from :math:`t = (a - b)/b` near :math:`a = b`, by a series for
    small :math:`|t|`):

    .. math::

        \mathrm{KL} = \sum k(x, y), \quad
        \mathrm{JS} = \tfrac12 \sum [k(x, m) + k(y, m)], \quad
        \mathrm{TV} = \tfrac12\sum|\delta|, \quad
        H^2 = \tfrac12\sum \frac{\delta^2}{(\sqrt x + \sqrt y)^2}, \quad
        J = \sum \delta\log(1+t),

    entropy :math:`-\sum x\log x` and cross-entropy :math:`-\sum x\log y`
    (their terms are non-negative as they stand).  The KL and JS forms add
    :math:`\sum (y - x) = 0` term by term, which removes the cancellation of
    :math:`\sum x\log(x/y)` near p = q.

    Examples
    --------
    >>> from kl_ext.accuracy import exact_measures
    >>> r = exact_measures([1.0, 3.0], [1.0, 1.0])
    >>> float(r["total_variation"])
    0.25
    >>> float(r["kl_divergence"])      # 0.25 log 0.5 + 0.75 log 1.5
    0.130812035941137
    >>> float(exact_measures([1.0, 2.0], [3.0, 6.0])["kl_divergence"])
    0.0
    >>> float(exact_measures([1.0, 2.0], multiplicity=[2, 1])["entropy"])  # (1/4, 1/4, 1/2)
    1.03972077083992
    """
    mp = _mp().mp
    P = _exact_ints(p, "p")
    n = len(P)
    Q = None
    if q is not None:
        Q = _exact_ints(q, "q")
        if len(Q) != n:
            raise ValueError(f"p and q differ in length: {n} and {len(Q)}")
    if multiplicity is None:
        C = [1] * n
    else:
        cm = np.asarray(multiplicity)
        if cm.dtype.kind not in "biu" or cm.shape != (n,):
            raise ValueError(f"multiplicity must be integers of shape ({n},), "
                             f"got dtype {cm.dtype} and shape {cm.shape}")
        if np.any(cm < 0):
            raise ValueError("multiplicity has a negative entry")
        C = [int(x) for x in cm]
    if measures is None:
        measures = DISCRETE if Q is not None else ("entropy",)
    for name in measures:
        if name not in DISCRETE:
            raise ValueError(f"unknown measure {name!r}; choose from {', '.join(DISCRETE)}")
        if name != "entropy" and Q is None:
            raise ValueError(f"{name} needs q")
    SP = sum(c * x for c, x in zip(C, P))
    if SP == 0:
        raise ValueError("p sums to 0")
    SQ = 0
    if Q is not None:
        SQ = sum(c * x for c, x in zip(C, Q))
        if SQ == 0:
            raise ValueError("q sums to 0")
    want = set(measures)
    if "js_distance" in want:
        want.add("js_divergence")
    acc: dict[str, list[Any]] = {name: [] for name in want}
    inf: set[str] = set()
    with mp.workprec(PRECISION):
        sp = mp.mpf(SP)
        sq = mp.mpf(SQ) if Q is not None else None
        spq = sp * sq if Q is not None else None
        small = mp.mpf(1) / 16
        for i in range(n):
            c = C[i]
            if c == 0:
                continue
            terms: dict[str, Any] = {}
            x = mp.mpf(P[i]) / sp
            if "entropy" in want and x != 0:
                terms["entropy"] = x * _log_share(P[i], SP, x, mp)     # negated below
            if Q is not None:
                y = mp.mpf(Q[i]) / sq
                delta = mp.mpf(P[i] * SQ - Q[i] * SP) / spq        # exact numerator
                if "cross_entropy" in want and x != 0:
                    if y == 0:
                        inf.add("cross_entropy")
                    else:
                        terms["cross_entropy"] = x * _log_share(Q[i], SQ, y, mp)  # negated
                if "kl_divergence" in want:
                    if y == 0:
                        if x != 0:
                            inf.add("kl_divergence")
                    else:
                        terms["kl_divergence"] = _kl_term(x, y, delta, mp, small)
                if "js_divergence" in want and (x != 0 or y != 0):
                    m = (x + y) / 2
                    half = delta / 2                                    # halved below
                    terms["js_divergence"] = (_kl_term(x, m, half, mp, small)
                                              + _kl_term(y, m, -half, mp, small))
                if "total_variation" in want:
                    terms["total_variation"] = abs(delta)               # halved below
                if "hellinger_distance" in want and delta != 0:
                    terms["hellinger_distance"] = (delta / (mp.sqrt(x) + mp.sqrt(y))) ** 2
                if "jeffreys_divergence" in want and delta != 0:
                    if x == 0 or y == 0:
                        inf.add("jeffreys_divergence")
                    else:
                        terms["jeffreys_divergence"] = delta * _log_ratio(x, y, delta, mp,
                                                                          small)
            for name, v in terms.items():
                acc[name].append(v if c == 1 else c * v)
        out = {}
        for name in measures:
            src = "js_divergence" if name == "js_distance" else name
            if src in inf:
                out[name] = mp.inf
                continue
            total = mp.fsum(acc[src])
            if src in ("entropy", "cross_entropy"):
                total = -total
            elif src in ("js_divergence", "total_variation", "hellinger_distance"):
                total = total / 2
            if name in ("js_distance", "hellinger_distance"):
                total = mp.sqrt(total)
            out[name] = +total
    return out


# ---------------------------------------------------------------------------
# exact references: Wasserstein (exact integer arithmetic)

def _int_dot(a: npt.ArrayLike, b: npt.ArrayLike) -> int:
    """Σ a_i·b_i exactly, as a Python int, for int64 arrays 0 <= a, b < 2**62."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if a.size == 0:
        return 0
    if a.min() < 0 or b.min() < 0:
        raise ValueError("internal: _int_dot needs non-negative integers")
    abits = max(1, int(a.max()).bit_length())
    bbits = max(1, int(b.max()).bit_length())
    if abits > bbits:
        a, b, abits, bbits = b, a, bbits, abits
    if bbits > 31:
        low = b & (2 ** 31 - 1)
        return _int_dot(a, low) + (_int_dot(a, b >> 31) << 31)
    if abits > 24:                       # split a into 12-bit limbs
        return sum(_int_dot((a >> (12 * k)) & 0xFFF, b) << (12 * k)
                   for k in range((abits + 11) // 12))
    # now a·b < 2**55: sum blocks whose int64 totals cannot overflow
    block = 1 << max(0, 62 - abits - bbits)
    total = 0
    for lo in range(0, a.size, block):
        total += int(np.dot(a[lo:lo + block], b[lo:lo + block]))
    return total


_LB = 24                   # bits per limb of the exact integer arithmetic
_MASK = (1 << _LB) - 1
_BLOCK = 1 << 20           # elements per block (bounds the memory of 1e7-element rows)


def _weight_limbs(w: npt.ArrayLike, name: str, n: int) -> list[IntArray]:
    """Integers W_i with w_i = W_i·2**e exactly, as three 24-bit limbs (int64 arrays).

    `w` must be non-negative, finite, with a positive sum, and span at most
    72 bits from its largest value down to its lowest set bit (any float64
    in [0, 1) drawn by NumPy's ``random``, any integer below 2**53).
    """
    w = np.asarray(w)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {w.dtype}")
    if w.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {w.shape}")
    f = w.astype(np.float64)
    if not np.all(np.isfinite(f)) or np.any(f < 0):
        raise ValueError(f"{name} must be non-negative and finite")
    if not np.any(f > 0):
        raise ValueError(f"{name} sums to 0")
    mant, exp = np.frexp(f)
    m = (mant * 2.0 ** 53).astype(np.int64)
    exp = exp.astype(np.int64)
    nz = m != 0
    lowbit = np.where(nz, m & -m, 1)          # lowest set bit of each significand
    tz = np.frexp(lowbit.astype(np.float64))[1].astype(np.int64) - 1
    e = int((exp - 53 + tz)[nz].min())
    if int(exp[nz].max()) - e > 3 * _LB:
        raise ValueError(f"{name} spans more than {3 * _LB} bits; the exact reference "
                         "needs values on a coarser grid")
    # W = f·2**-e is an integer below 2**72 with at most 53 significant bits:
    # its 24-bit limbs by exact float operations (powers of two, floor and
    # subtractions whose results are representable)
    W = np.ldexp(f, -e)
    limbs = []
    for k in (2, 1):
        top = np.floor(np.ldexp(W, -_LB * k))
        W = W - np.ldexp(top, _LB * k)
        limbs.append(top.astype(np.int64))
    limbs.append(W.astype(np.int64))
    limbs.reverse()
    return limbs


def _carry(limbs: list[IntArray]) -> list[IntArray]:
    """Normalise signed int64 limbs in place: all but the last in [0, 2**24)."""
    for k in range(len(limbs) - 1):
        c = limbs[k] >> _LB                 # floor division, also for negatives
        limbs[k] -= c << _LB
        limbs[k + 1] += c
    return limbs


def _cum_limbs(limbs: list[IntArray], count: int = 5) -> list[IntArray]:
    """Normalised limbs of the running sums of the integers given by `limbs`."""
    out = [np.cumsum(l) for l in limbs] + [np.zeros(limbs[0].size, np.int64)
                                           for _ in range(count - len(limbs))]
    return _carry(out)


def _limbs_int(limbs: list[IntArray], i: int) -> int:
    return sum(int(l[i]) << (_LB * k) for k, l in enumerate(limbs))


def _int_limbs(x: int, count: int) -> list[int]:
    return [(x >> (_LB * k)) & _MASK for k in range(count)]


def _cdf_gap_sum(cu: list[IntArray], cv: list[IntArray], su: int, sv: int,
                 dx: IntArray) -> int:
    """Σ_i |cu_i·sv − cv_i·su|·dx_i exactly (a Python int).

    cu, cv: normalised limbs of non-negative running sums; su, sv: Python
    ints; dx: int64 steps in [0, 2**31).
    """
    nl = len(cu)
    svl, sul = _int_limbs(sv, nl), _int_limbs(su, nl)
    total = 0
    for lo in range(0, dx.size, _BLOCK):
        hi = lo + _BLOCK
        d = [np.zeros(min(hi, dx.size) - lo, np.int64) for _ in range(2 * nl + 1)]
        for i in range(nl):
            a, b = cu[i][lo:hi], cv[i][lo:hi]
            for j in range(nl):
                if svl[j] or sul[j]:
                    d[i + j] += a * svl[j] - b * sul[j]    # each < 2**48
        _carry(d)
        neg = d[-1] < 0
        if neg.any():
            for k in range(len(d)):
                d[k] = np.where(neg, -d[k], d[k])
            _carry(d)
        step = dx[lo:hi]
        for k in range(len(d)):
            total += _int_dot(d[k], step) << (_LB * k)
    return total


def _dyadic(x: npt.ArrayLike, name: str) -> tuple[IntArray, int]:
    """int64 numerators X and exponent e with x = X·2**e exactly (|X| < 2**62)."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {x.dtype}")
    x = x.astype(np.float64).ravel()
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} has a non-finite entry")
    mant, exp = np.frexp(x)
    m = np.abs(mant * 2.0 ** 53).astype(np.int64)
    exp = exp.astype(np.int64)
    nz = m != 0
    if not nz.any():
        return np.zeros(x.size, np.int64), 0
    lowbit = np.where(nz, m & -m, 1)          # lowest set bit of each significand
    tz = np.frexp(lowbit.astype(np.float64))[1].astype(np.int64) - 1
    e = int((exp - 53 + tz)[nz].min())
    top = int(exp[nz].max())
    if top - e > 61:
        raise ValueError(f"{name} spans more than 61 bits (from 2**{e} to 2**{top}); "
                         "the exact Wasserstein reference needs a coarser grid")
    X = np.where(nz, np.ldexp(x, -e), 0.0).astype(np.int64)   # exact
    return X, e


def _steps(x: npt.ArrayLike, name: str) -> tuple[IntArray, int]:
    """int64 steps of the sorted dyadic positions `x` and their scale 2**e."""
    X, e = _dyadic(x, name)
    dx = np.diff(X)
    if np.any(dx < 0):
        raise ValueError(f"{name} is not sorted")
    return dx, e


def exact_wasserstein_hist(p: npt.ArrayLike, q: npt.ArrayLike,
                           support: npt.ArrayLike | None = None) -> Fraction:
    r"""Exact W1 between two histograms on a dyadic support.

    Parameters
    ----------
    p, q : array_like of shape (n,)
        Non-negative finite bin masses with positive sums, each array on a
        grid of at most 72 bits (its largest value down to its lowest set
        bit): e.g. NumPy ``random()`` draws (multiples of 2**-53 below 1)
        or integer counts below 2**53.
    support : array_like of shape (n,), optional
        Sorted finite bin positions, multiples of a common power of two
        spanning at most 61 bits (integers, multiples of 1/8, ...).
        Default ``0, 1, ..., n-1``.

    Returns
    -------
    fractions.Fraction
        :math:`W_1 = \sum_{i<n-1} |P_i/P - Q_i/Q|\,(x_{i+1} - x_i)` exactly,
        with the running sums :math:`P_i, Q_i` and totals P, Q.

    Raises
    ------
    ValueError
        Masses that are negative, not finite, sum to 0 or span more than
        72 bits; a support that is not sorted, finite, dyadic within 61
        bits or of the masses' length.
    TypeError
        Non-numeric input.

    Notes
    -----
    Exact integer arithmetic in NumPy, O(n): the masses become integers
    (times a power of two), held in 24-bit limbs, so the running sums and
    the numerator :math:`\sum_i |P_i Q - Q_i P|\,\Delta x_i` are exact
    without overflow.

    Examples
    --------
    >>> from kl_ext.accuracy import exact_wasserstein_hist
    >>> exact_wasserstein_hist([1, 0, 0], [0, 0, 1])
    Fraction(2, 1)
    >>> exact_wasserstein_hist([3, 1], [1, 1], support=[0.0, 0.125])
    Fraction(1, 32)
    >>> exact_wasserstein_hist([0.1, 0.3], [0.3, 0.1])   # fl(0.3) is not 3·fl(0.1)
    Fraction(7205759403792793, 14411518807585587)
    """
    if np.ndim(p) != 1 or np.shape(p)[0] == 0:
        raise ValueError(f"p must be a non-empty 1-D array, got shape {np.shape(p)}")
    n = np.shape(p)[0]
    pl = _weight_limbs(p, "p", n)
    ql = _weight_limbs(q, "q", n)
    if support is None:
        dx, e = np.ones(n - 1, np.int64), 0
    else:
        if np.shape(support) != (n,):
            raise ValueError(f"support must have shape ({n},), got {np.shape(support)}")
        dx, e = _steps(support, "support")
    cu, cv = _cum_limbs(pl), _cum_limbs(ql)
    su, sv = _limbs_int(cu, -1), _limbs_int(cv, -1)
    num = _cdf_gap_sum([c[:-1] for c in cu], [c[:-1] for c in cv], su, sv, dx)
    return Fraction(num, su * sv) * Fraction(2) ** e


def exact_wasserstein_1d(u_values: npt.ArrayLike, v_values: npt.ArrayLike,
                         u_weights: npt.ArrayLike | None = None,
                         v_weights: npt.ArrayLike | None = None) -> Fraction:
    r"""Exact W1 between two weighted 1-D samples on a dyadic grid.

    Parameters
    ----------
    u_values : array_like of shape (n,)
        Sample positions; all of `u_values` and `v_values` must be
        multiples of a common power of two spanning at most 61 bits (e.g.
        integers times 2**-52 in [0, 1), or integers below 2**61).
    v_values : array_like of shape (m,)
        The second sample.
    u_weights, v_weights : array_like, optional
        Non-negative finite weights with positive sums (default 1 each),
        each array on a grid of at most 72 bits (see
        :func:`exact_wasserstein_hist`).

    Returns
    -------
    fractions.Fraction
        :math:`W_1 = \int |F_u(x) - F_v(x)|\,dx` exactly.

    Raises
    ------
    ValueError
        Empty or non-1-D samples, weights that are negative, not finite,
        sum to 0 or span more than 72 bits, or values that are not finite
        or do not fit the dyadic grid.
    TypeError
        Non-numeric input.

    Notes
    -----
    The merged sorted positions split the line into steps; on each the
    CDFs are running sums of the (integer-scaled) weights over their
    totals, so the integral is an exact integer sum divided by the product
    of the totals.  Equal-size unweighted samples take the shortcut
    :math:`\frac1n\sum_i |u_{(i)} - v_{(i)}|`.

    Examples
    --------
    >>> from kl_ext.accuracy import exact_wasserstein_1d
    >>> exact_wasserstein_1d([0.0, 1.0], [0.5])
    Fraction(1, 2)
    >>> exact_wasserstein_1d([0.0, 1.0], [0.0, 1.0], [3, 1], [1, 1])
    Fraction(1, 4)
    """
    u = np.asarray(u_values)
    v = np.asarray(v_values)
    if u.ndim != 1 or v.ndim != 1 or u.size == 0 or v.size == 0:
        raise ValueError("u_values and v_values must be non-empty 1-D arrays")
    X, e = _dyadic(np.concatenate([u.astype(np.float64), v.astype(np.float64)]), "values")
    scale = Fraction(2) ** e
    if u_weights is None and v_weights is None and u.size == v.size:
        d = np.abs(np.sort(X[:u.size]) - np.sort(X[u.size:]))      # |d| < 2**62
        return Fraction(_int_dot(d, np.ones(d.size, np.int64)), u.size) * scale
    ul = (_weight_limbs(np.ones(u.size), "u_weights", u.size) if u_weights is None
          else _weight_limbs(u_weights, "u_weights", u.size))
    vl = (_weight_limbs(np.ones(v.size), "v_weights", v.size) if v_weights is None
          else _weight_limbs(v_weights, "v_weights", v.size))
    order = np.argsort(X, kind="stable")
    zu, zv = np.zeros(v.size, np.int64), np.zeros(u.size, np.int64)
    cu = _cum_limbs([np.concatenate([l, zu])[order] for l in ul])
    cv = _cum_limbs([np.concatenate([zv, l])[order] for l in vl])
    su, sv = _limbs_int(cu, -1), _limbs_int(cv, -1)
    dx = np.diff(X[order])
    num = _cdf_gap_sum([c[:-1] for c in cu], [c[:-1] for c in cv], su, sv, dx)
    return Fraction(num, su * sv) * scale


def relative_error(got: Any, exact: Any) -> float:
    """Relative error of the float `got` against an exact value.

    Parameters
    ----------
    got : float
        A computed value (a Python or NumPy float of any precision; NaN and
        infinities are allowed).
    exact : mpmath.mpf, fractions.Fraction, int or float
        The exact value (``+inf`` allowed).

    Returns
    -------
    float
        ``|got − exact| / |exact|``; when `exact` is 0 or infinite: 0.0 if
        `got` equals it, else ``inf``; NaN when `got` is NaN.

    Examples
    --------
    >>> from fractions import Fraction
    >>> from kl_ext.accuracy import relative_error
    >>> relative_error(0.1, Fraction(1, 10))      # 0.1 is not 1/10
    5.551115123125783e-17
    >>> relative_error(0.0, 0), relative_error(1e-300, 0), relative_error(float("nan"), 1)
    (0.0, inf, nan)
    """
    g = float(got)
    if math.isnan(g):
        return math.nan
    mpmath = _mp()
    with mpmath.mp.workprec(PRECISION):
        if isinstance(exact, Fraction):
            ex = mpmath.mpf(exact.numerator) / exact.denominator
        else:
            ex = mpmath.mpf(exact)
        if ex == 0 or mpmath.isinf(ex):
            return 0.0 if g == ex else math.inf
        if math.isinf(g):
            return math.inf
        return float(abs((mpmath.mpf(g) - ex) / ex))


# ---------------------------------------------------------------------------
# competitors

class _Missing(Exception):
    """A competitor that cannot run here (not installed, no such function)."""


def _to_float(r: Any) -> float:
    if hasattr(r, "item"):
        r = r.item()
    return float(r)


def _import(module: str) -> Any:
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise _Missing("not installed") from None


def _discrete_fn(lib: str, name: str) -> Callable[..., Any]:
    """The callable computing measure `name` of 1-D rows (p[, q]) in library `lib`.

    Raises _Missing when the library is not installed or has no such measure.
    """
    fn: Callable[..., Any]
    if lib in ("kl_ext", "reference"):
        fn = getattr(_import("kl_ext" if lib == "kl_ext" else "kl_ext.reference"), name)
        return fn
    if lib == "scipy":
        factory = _import("kl_ext.bench")._scipy_factory(name, False)
        if factory is None:
            raise _Missing("no function")
        _import("scipy")
        fn = factory()
        return fn
    if lib == "numkong":
        factory = _import("kl_ext.bench")._numkong_factory(name)
        if factory is None:
            raise _Missing("no function")
        _import("numkong")
        nk = factory()

        def normalised(p: Any, q: Any) -> Any:
            # NumKong does not normalise: the user divides by the sums first
            return nk(p / p.sum(), q / q.sum())
        return normalised
    if lib == "torch":
        if name not in ("entropy", "cross_entropy", "kl_divergence"):
            raise _Missing("no function")
        torch = _import("torch")
        F = torch.nn.functional
        t = torch.from_numpy
        if name == "entropy":
            fn = lambda p: torch.distributions.Categorical(probs=t(p)).entropy()  # noqa: E731
        elif name == "cross_entropy":
            # soft-label cross_entropy: log_softmax(log q) normalises q; p by hand
            fn = lambda p, q: F.cross_entropy(torch.log(t(q))[None],  # noqa: E731
                                              (t(p) / t(p).sum())[None])
        else:
            fn = lambda p, q: F.kl_div(torch.log(t(q) / t(q).sum()),  # noqa: E731
                                       t(p) / t(p).sum(), reduction="sum")
        return fn
    raise KeyError(lib)


def _wasserstein_fn(lib: str, name: str) -> Callable[..., Any]:
    if lib in ("numkong", "torch"):
        _import(lib)
        raise _Missing("no function")
    if lib == "kl_ext":
        mod, hist, w1 = _import("kl_ext"), "wasserstein_hist", "wasserstein_1d"
    elif lib == "reference":
        mod, hist, w1 = _import("kl_ext.reference_wasserstein"), "wasserstein_hist", \
            "wasserstein_1d"
    elif lib == "scipy":
        mod = _import("scipy.stats")
        hist, w1 = "", "wasserstein_distance"
    else:
        raise KeyError(lib)
    fn: Callable[..., Any] = getattr(mod, w1)
    if name == "wasserstein_1d":
        return fn
    if hist:
        h = getattr(mod, hist)
        return lambda p, q, x: h(p, q, support=x)
    return lambda p, q, x: fn(x, x, p, q)


def _split(n: int) -> list[int]:
    """Chunk boundaries of the "chunked" column: three chunks of unequal
    lengths, none a multiple of the kernels' 65,536-element pieces."""
    return sorted({0, min(n, n // 3 + 7), min(n, 2 * n // 3 + 1), n})


def _chunked_fn(name: str) -> Callable[..., Any]:
    """Measure `name` with the axis split in three chunks (kl_ext.chunked:
    partial statistics, merged, with the second sweep where needed), as a
    Spark job or kl_ext.dask over a split axis computes it."""
    ch = _import("kl_ext.chunked")
    if name == "wasserstein_1d":
        raise _Missing("no function")
    if name == "wasserstein_hist":
        def hist(p: Any, q: Any, x: Any) -> Any:
            b = _split(p.shape[-1])
            spans = list(zip(b[:-1], b[1:]))
            stats = [ch.partial_stats("total_variation", p[a:c], q[a:c], offset=a)
                     for a, c in spans]
            whole = stats[0]
            for st in stats[1:]:
                whole = whole.merge(st)
            t = ch.hist_totals(np.concatenate([sg[2] for sg in whole.segments], axis=-2),
                               [sg[2].shape[-2] for sg in whole.segments], True)
            w = [ch.hist_pieces(p[a:c], q[a:c], t[i], x[a:c],
                                None if c == b[-1] else float(x[c]), c == b[-1])
                 for i, (a, c) in enumerate(spans)]
            return ch.hist_finish(np.array(w), t)
        return hist

    def measure(p: Any, q: Any = None) -> Any:
        acc = ch.Accumulator(name)
        b = _split(p.shape[-1])
        while True:
            for a, c in zip(b[:-1], b[1:]):
                acc.update(p[..., a:c]) if q is None else acc.update(p[..., a:c], q[..., a:c])
            if not acc.needs_second_pass:
                return acc.result()
            acc.start_second_pass()
    return measure


def _function(lib: str, name: str) -> Callable[..., Any]:
    if lib == "chunked":
        return _chunked_fn(name)
    if name in WASSERSTEIN:
        return _wasserstein_fn(lib, name)
    return _discrete_fn(lib, name)


# ---------------------------------------------------------------------------
# cases

@dataclass
class Case:
    """One group of table lines: a regime, a label and how to make its seeded rows.

    Parameters
    ----------
    regime : str
        A key of ``REGIMES``.
    label : str
        The case within the regime, e.g. ``"d=1e-7"`` or ``"n=1e6 float32"``.
    measures : tuple of str
        The measures reported on it.
    make : callable
        ``make(rng)`` returns a list of rows, each ``(args, exact)``: the
        positional arguments every library gets and a dict measure -> exact
        value.
    x : float or None
        The abscissa of the plot (d or n); None if the case is not plotted.
    dtype : str
        dtype of the inputs.
    n : int
        Row length.

    Examples
    --------
    >>> import numpy as np
    >>> from kl_ext.accuracy import cases
    >>> c = cases(quick=True, regimes=["counts"], measures=["entropy"])[0]
    >>> (args, exact), *_ = c.make(np.random.default_rng(0))
    >>> c.label, args[0].shape, sorted(exact)
    ('n=100', (100,), ['entropy'])
    """

    regime: str
    label: str
    measures: tuple[str, ...]
    make: Make
    x: float | None = None
    dtype: str = "float64"
    n: int = 0


@dataclass
class Result:
    """Errors of every library on one case and measure (what :func:`run` returns).

    Parameters
    ----------
    case : Case
    measure : str
    exact : list of float
        The exact value of each row (rounded to float for display).
    errors : dict
        Library key -> relative error of each row (libraries that ran).
    status : dict
        Library key -> ``"ok"``, ``"not installed"``, ``"no function"`` or
        ``"error: <exception type>"``.

    Examples
    --------
    >>> from kl_ext.accuracy import run
    >>> r = run(quick=True, measures=["hellinger_distance"], regimes=["random"])["results"][0]
    >>> r.status["kl_ext"], r.status["scipy"], r.summary("scipy")
    ('ok', 'no function', None)
    """

    case: Case
    measure: str
    exact: list[float]                                       # exact value per row
    errors: dict[str, list[float]] = field(default_factory=dict)   # lib -> errors
    status: dict[str, str] = field(default_factory=dict)     # lib -> "ok" or why not

    def summary(self, lib: str) -> tuple[float, float] | None:
        """(median, worst) relative error of a library, or None when it did not run.

        Parameters
        ----------
        lib : str
            A key of ``LIBRARIES``.

        Returns
        -------
        tuple of float or None
            NaN errors count as the largest.
        """
        e = self.errors.get(lib)
        if not e:
            return None
        key = sorted(e, key=_order_key)
        return (key[(len(key) - 1) // 2] if len(key) % 2 else _median2(key), key[-1])


def _order_key(v: float) -> tuple[bool, float]:
    return (math.isnan(v), v if not math.isnan(v) else 0.0)


def _median2(s: list[float]) -> float:
    a, b = s[len(s) // 2 - 1], s[len(s) // 2]
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return statistics.fmean((a, b)) if not (math.isinf(a) or math.isinf(b)) else max(a, b)


_PAIR = tuple(m for m in DISCRETE if m != "entropy")


def _discrete_rows(gen: Gen, rows: int, dtype: str, measures: Sequence[str]) -> Make:
    """`rows` rows from gen(rng) -> (p, q[, multiplicity]), with their exact values."""
    def make(rng: np.random.Generator) -> list[Row]:
        out: list[Row] = []
        for _ in range(rows):
            p, q, *mult = gen(rng)
            p = p.astype(dtype)
            q = q.astype(dtype)
            if mult:
                vals_p, vals_q, c = mult[0]
                ex = exact_measures(vals_p.astype(dtype), vals_q.astype(dtype), c,
                                    measures=measures)
            else:
                ex = exact_measures(p, q, measures=measures)
            out.append(((p, q), ex))
        return out
    return make


def _random(n: int) -> Gen:
    def gen(rng: np.random.Generator) -> tuple[Any, ...]:
        return rng.random(n), rng.random(n)
    return gen


def _near(n: int, d: float) -> Gen:
    def gen(rng: np.random.Generator) -> tuple[Any, ...]:
        p = rng.random(n)
        return p, p * (1.0 + d * rng.standard_normal(n))
    return gen


def _proportional(n: int, k: float) -> Gen:
    def gen(rng: np.random.Generator) -> tuple[Any, ...]:
        p = rng.random(n)
        return p, k * p
    return gen


def _wide(n: int) -> Gen:
    def gen(rng: np.random.Generator) -> tuple[Any, ...]:
        def one() -> FloatArray:
            a = 10.0 ** rng.uniform(-300, 0, n)
            sub = rng.choice(n, 4, replace=False)
            a[sub] = [5e-324, 1e-320, 2.5e-315, 1e-310]
            return a
        return one(), one()
    return gen


def _counts(n: int) -> Gen:
    def gen(rng: np.random.Generator) -> tuple[Any, ...]:
        def one() -> FloatArray:
            a = rng.integers(1, 2 ** 52, n, endpoint=True).astype(np.float64)
            small = rng.random(n) < 0.5
            a[small] = rng.integers(1, 100, small.sum(), endpoint=True)
            return a
        return one(), one()
    return gen


def _long(n: int, distinct: int = 1000) -> Gen:
    def gen(rng: np.random.Generator) -> tuple[Any, ...]:
        vp, vq = rng.random(distinct), rng.random(distinct)
        idx = rng.integers(0, distinct, n)
        c = np.bincount(idx, minlength=distinct)
        return vp[idx], vq[idx], (vp, vq, c)
    return gen


def _hist_rows(n: int, rows: int) -> Make:
    def make(rng: np.random.Generator) -> list[Row]:
        out = []
        for _ in range(rows):
            p = rng.random(n)              # multiples of 2**-53: exact integers scaled
            q = rng.random(n)
            x = np.cumsum(rng.integers(1, 5, n)) / 8.0    # dyadic steps 1/8 .. 1/2
            out.append(((p, q, x),
                        {"wasserstein_hist": exact_wasserstein_hist(p, q, x)}))
        return out
    return make


def _sample_rows(n: int, rows: int, weighted: bool) -> Make:
    def make(rng: np.random.Generator) -> list[Row]:
        out = []
        m = max(1, int(0.7 * n))
        for _ in range(rows):
            u = rng.integers(0, 2 ** 20, n) / 8.0
            v = (rng.integers(0, 2 ** 20, m) + 2 ** 17) / 8.0
            args: tuple[Any, ...] = (u, v)
            if weighted:
                args = (u, v, rng.random(n), rng.random(m))
            out.append((args, {"wasserstein_1d": exact_wasserstein_1d(*args)}))
        return out
    return make


def _near_samples(n: int, rows: int) -> Make:
    def make(rng: np.random.Generator) -> list[Row]:
        out = []
        for _ in range(rows):
            U = rng.integers(0, 2 ** 51, n)
            u = np.ldexp(U.astype(np.float64), -52)          # exact: [0, 0.5)
            noise = rng.integers(-4500, 4501, n)             # ~1e-12 in units of 2**-52
            v = np.ldexp((U + noise).astype(np.float64), -52)
            out.append(((u, v), {"wasserstein_1d": exact_wasserstein_1d(u, v)}))
        return out
    return make


def _fmt_n(n: int) -> str:
    e = int(round(math.log10(n)))
    return f"1e{e}" if 10 ** e == n else str(n)


def cases(*, quick: bool = False, measures: Sequence[str] | None = None,
          regimes: Sequence[str] | None = None) -> list["Case"]:
    """The cases of a run (default, or `quick`), filtered by measure and regime.

    Parameters
    ----------
    quick : bool, default False
        Smaller and fewer rows (a few seconds instead of about a minute).
    measures, regimes : sequence of str, optional
        Keep only these measures (``MEASURES``) and regimes
        (``REGIMES``).

    Returns
    -------
    list of Case

    Raises
    ------
    ValueError
        An unknown measure or regime.

    Examples
    --------
    >>> from kl_ext.accuracy import cases
    >>> [c.label for c in cases(quick=True, regimes=["near"])]
    ['d=1e-4', 'd=1e-7', 'd=1e-10', 'd=1e-13']
    """
    for m in measures or ():
        if m not in MEASURES:
            raise ValueError(f"unknown measure {m!r}; choose from {', '.join(MEASURES)}")
    for r in regimes or ():
        if r not in REGIMES:
            raise ValueError(f"unknown regime {r!r}; choose from {', '.join(REGIMES)}")
    n = 100 if quick else 500
    rows = 3 if quick else 10
    out = []

    def add(regime: str, label: str, ms: Sequence[str],
            factory: Callable[[tuple[str, ...]], Make], x: float | None = None,
            dtype: str = "float64", size: int = n) -> None:
        # factory(measures) -> make(rng): the exact values of the kept measures only
        ms = tuple(m for m in ms if measures is None or m in measures)
        if ms and (regimes is None or regime in regimes):
            out.append(Case(regime, label, ms, factory(ms), x, dtype, size))

    kinds = (("float64", rows), ("float32", max(2, rows // 2)))
    for dt, nr in kinds:
        add("random", f"n={n} {dt}", DISCRETE,
            lambda ms: _discrete_rows(_random(n), nr, dt, ms), dtype=dt)
    for d, e in ((1e-4, -4), (1e-7, -7), (1e-10, -10), (1e-13, -13)):
        add("near", f"d=1e{e}", _PAIR,
            lambda ms: _discrete_rows(_near(n, d), rows, "float64", ms), x=d)
    add("proportional", "q=fl(3p)", _PAIR,
        lambda ms: _discrete_rows(_proportional(n, 3.0), rows, "float64", ms))
    add("proportional", "q=4p", _PAIR,
        lambda ms: _discrete_rows(_proportional(n, 4.0), max(2, rows // 3), "float64", ms))
    for size in ((100_000,) if quick else (1_000_000, 10_000_000)):
        for dtype in ("float64", "float32"):
            add("long", f"n={_fmt_n(size)} {dtype}", DISCRETE,
                lambda ms: _discrete_rows(_long(size), 1, dtype, ms), x=size, dtype=dtype,
                size=size)
    add("wide", f"n={n}", DISCRETE, lambda ms: _discrete_rows(_wide(n), rows, "float64", ms))
    add("counts", f"n={n}", DISCRETE,
        lambda ms: _discrete_rows(_counts(n), rows, "float64", ms))
    hist = (((1000, 3), (100_000, 1)) if quick else
            ((1000, 10), (10_000, 5), (100_000, 3), (1_000_000, 1), (10_000_000, 1)))
    for size, nrows in hist:
        add("hist", f"n={_fmt_n(size)}", ("wasserstein_hist",),
            lambda ms: _hist_rows(size, nrows), x=size, size=size)
    samples = ((1000, 3),) if quick else ((1000, 10), (100_000, 3), (1_000_000, 1))
    for weighted in (False, True):
        for size, nrows in samples:
            what = "weighted" if weighted else "unweighted"
            add("samples", f"n={_fmt_n(size)} {what}", ("wasserstein_1d",),
                lambda ms: _sample_rows(size, nrows, weighted), x=size, size=size)
    near_n = 1000 if quick else 10_000
    add("samples", f"n={_fmt_n(near_n)} v=u+1e-12·ε", ("wasserstein_1d",),
        lambda ms: _near_samples(near_n, 2 if quick else 5), size=near_n)
    return out


# ---------------------------------------------------------------------------
# checking the exact references

def _direct_discrete(name: str, p: Any, q: Any, dps: int = 100) -> Any:
    """The textbook formula in mpmath at `dps` digits (no reformulation)."""
    mpmath = _mp()
    with mpmath.mp.workdps(dps):
        P = [mpmath.mpf(float(v)) for v in np.asarray(p, np.float64)]
        sp = mpmath.fsum(P)
        P = [v / sp for v in P]
        if q is not None:
            Q = [mpmath.mpf(float(v)) for v in np.asarray(q, np.float64)]
            sq = mpmath.fsum(Q)
            Q = [v / sq for v in Q]
        if name == "entropy":
            return -mpmath.fsum(x * mpmath.log(x) for x in P if x)
        if name == "cross_entropy":
            return -mpmath.fsum(x * mpmath.log(y) for x, y in zip(P, Q) if x)
        if name == "kl_divergence":
            return mpmath.fsum(x * mpmath.log(x / y) for x, y in zip(P, Q) if x)
        if name in ("js_divergence", "js_distance"):
            js = mpmath.fsum(t for x, y in zip(P, Q)
                             for t in ((x * mpmath.log(2 * x / (x + y)) if x else 0),
                                       (y * mpmath.log(2 * y / (x + y)) if y else 0))) / 2
            return js if name == "js_divergence" else mpmath.sqrt(js)
        if name == "total_variation":
            return mpmath.fsum(abs(x - y) for x, y in zip(P, Q)) / 2
        if name == "hellinger_distance":
            return mpmath.sqrt(mpmath.fsum((mpmath.sqrt(x) - mpmath.sqrt(y)) ** 2
                                           for x, y in zip(P, Q)) / 2)
        if name == "jeffreys_divergence":
            return mpmath.fsum((x - y) * mpmath.log(x / y) for x, y in zip(P, Q) if x != y)
    raise KeyError(name)


def _direct_hist(p: Any, q: Any, x: Any) -> Fraction:
    P, Q = [Fraction(float(v)) for v in p], [Fraction(float(v)) for v in q]
    sp, sq = sum(P, Fraction(0)), sum(Q, Fraction(0))
    cp = cq = Fraction(0)
    total = Fraction(0)
    for i in range(len(P) - 1):
        cp += P[i]
        cq += Q[i]
        total += abs(cp / sp - cq / sq) * (Fraction(float(x[i + 1])) - Fraction(float(x[i])))
    return total


def _direct_1d(u: Any, v: Any, uw: Any = None, vw: Any = None) -> Fraction:
    wu = [Fraction(1)] * len(u) if uw is None else [Fraction(float(w)) for w in uw]
    wv = [Fraction(1)] * len(v) if vw is None else [Fraction(float(w)) for w in vw]
    su, sv = sum(wu, Fraction(0)), sum(wv, Fraction(0))
    pts = sorted(set(float(a) for a in u) | set(float(b) for b in v))
    mu: dict[float, Fraction] = {}
    mv: dict[float, Fraction] = {}
    zero = Fraction(0)
    for a, w in zip(u, wu):
        mu[float(a)] = mu.get(float(a), zero) + w
    for b, w in zip(v, wv):
        mv[float(b)] = mv.get(float(b), zero) + w
    cu = cv = zero
    total = zero
    for a, b in zip(pts, pts[1:]):
        cu += mu.get(a, zero)
        cv += mv.get(a, zero)
        total += abs(cu / su - cv / sv) * (Fraction(b) - Fraction(a))
    return total


def _difference(value: Any, direct: Any) -> float:
    """Relative difference of an exact reference from its direct evaluation."""
    if isinstance(direct, Fraction):
        if direct == value:
            return 0.0
        return math.inf if direct == 0 else float(abs(direct - value) / direct)
    mpmath = _mp()
    with mpmath.mp.workdps(60):
        if value == direct:
            return 0.0
        if direct == 0 or mpmath.isinf(value) or mpmath.isinf(direct):
            return math.inf
        return float(abs((mpmath.mpf(value) - direct) / direct))


def check_references(case_rows: Iterable[tuple["Case", list[Row]]], *, max_n: int = 600,
                     max_samples: int = 20_000) -> tuple[int, float]:
    """Check the exact references of some rows against a direct evaluation.

    Discrete measures: the textbook formulas in mpmath at 100 digits (the
    cancellation near p = q costs at most ~35 of them).  Wasserstein: plain
    ``fractions.Fraction`` loops.

    Parameters
    ----------
    case_rows : iterable of (Case, list of rows)
        The generated rows of some cases (the first row of each case is
        checked; longer rows are skipped), plus a short row with
        multiplicities against its expansion.
    max_n : int, default 600
        Longest discrete row checked (the direct evaluation is slow).
    max_samples : int, default 20000
        Longest Wasserstein row checked.

    Returns
    -------
    (int, float)
        Number of values checked and the largest relative difference found.

    Examples
    --------
    >>> from kl_ext.accuracy import cases, check_references
    >>> c = cases(quick=True, regimes=["near"], measures=["kl_divergence"])[-1]
    >>> import numpy as np
    >>> count, worst = check_references([(c, c.make(np.random.default_rng(0)))])
    >>> worst < 1e-30
    True
    """
    count, worst = 0, 0.0
    for case, rows in case_rows:
        if not rows:
            continue
        args, exact = rows[0]
        if len(args[0]) > (max_samples if case.regime in ("hist", "samples") else max_n):
            continue
        for name, value in exact.items():
            if name == "wasserstein_hist":
                direct = _direct_hist(*args)
            elif name == "wasserstein_1d":
                direct = _direct_1d(*args)
            else:
                direct = _direct_discrete(name, args[0],
                                          args[1] if name != "entropy" else None)
            count += 1
            worst = max(worst, _difference(value, direct))
    # the multiplicity path (long rows): a short row against its expansion
    rng = np.random.default_rng(1)
    vp, vq = rng.random(7), rng.random(7)
    c = rng.integers(0, 5, 7)
    c[0] += 1
    P, Q = np.repeat(vp, c), np.repeat(vq, c)
    for name, value in exact_measures(vp, vq, c).items():
        direct = _direct_discrete(name, P, Q if name != "entropy" else None)
        count += 1
        worst = max(worst, _difference(value, direct))
    return count, worst


# ---------------------------------------------------------------------------
# running

def _call(fn: Callable[..., Any], measure: str, args: tuple[Any, ...]) -> float:
    if measure == "entropy":
        return _to_float(fn(args[0]))
    return _to_float(fn(*args))


def run(*, quick: bool = False, measures: Sequence[str] | None = None,
        regimes: Sequence[str] | None = None, seed: int = _SEED,
        progress: Callable[[str], None] | None = None,
        libraries: Sequence[str] | None = None) -> dict[str, Any]:
    """Compute every library's relative errors on the selected cases.

    Parameters
    ----------
    quick : bool, default False
        The small, fast selection of :func:`cases`.
    measures, regimes : sequence of str, optional
        Restrict the run (see :func:`cases`).
    seed : int
        Seed of the input generator; each case draws from its own stream
        (seed and the case's name), so a case has the same rows whatever
        else is selected.
    progress : callable, optional
        Called with a short text before each case (e.g. to print progress).
    libraries : sequence of str, optional
        Keys of ``LIBRARIES`` to run (default: all; missing ones are
        reported as such, never an error).

    Returns
    -------
    dict
        ``results`` (list of :class:`Result`), ``check`` ((count, worst)
        of :func:`check_references`), ``seconds`` (wall time).

    Raises
    ------
    ValueError
        An unknown measure or regime, or no case left after filtering.
    RuntimeError
        The exact references disagree with their direct check (beyond
        ``CHECK_TOL``): the run would publish wrong errors.

    Examples
    --------
    >>> from kl_ext.accuracy import run
    >>> out = run(quick=True, measures=["total_variation"], regimes=["random"])
    >>> r = out["results"][0]
    >>> r.case.label, r.measure, r.summary("kl_ext")[1] < 1e-14
    ('n=100 float64', 'total_variation', True)
    """
    start = time.perf_counter()
    selected = cases(quick=quick, measures=measures, regimes=regimes)
    if not selected:
        raise ValueError("no case matches the selected measures and regimes")
    libs = list(LIBRARIES) if libraries is None else list(libraries)
    results, generated = [], []
    for k, case in enumerate(selected):
        if progress is not None:
            progress(f"{case.regime} {case.label}")
        # each case's own stream: the same rows whatever else is selected
        rng = np.random.default_rng([seed, zlib.crc32(f"{case.regime} {case.label}".encode())])
        rows = case.make(rng)
        generated.append((case, rows))
        for measure in case.measures:
            res = Result(case, measure, [float(ex[measure]) for _, ex in rows])
            for lib in libs:
                try:
                    fn = _function(lib, measure)
                except _Missing as exc:
                    res.status[lib] = str(exc)
                    continue
                errs = []
                try:
                    import warnings
                    with warnings.catch_warnings(), np.errstate(all="ignore"):
                        warnings.simplefilter("ignore")
                        for args, ex in rows:
                            errs.append(relative_error(_call(fn, measure, args), ex[measure]))
                except Exception as exc:  # a competitor failing is a result, not a crash
                    res.status[lib] = f"error: {type(exc).__name__}"
                    continue
                res.errors[lib] = errs
                res.status[lib] = "ok"
            results.append(res)
        del rows
    if progress is not None:
        progress("checking the exact references")
    check = check_references(generated)
    if not check[1] <= CHECK_TOL:
        raise RuntimeError(f"the exact references disagree with their direct check by "
                           f"{check[1]:.3g} relative (tolerance {CHECK_TOL:g})")
    return {"results": results, "check": check, "seconds": time.perf_counter() - start,
            "quick": quick, "seed": seed}


# ---------------------------------------------------------------------------
# output

def environment() -> dict[str, Any]:
    """Versions, CPU and kernel tier of this run, as a dict.

    Examples
    --------
    >>> from kl_ext.accuracy import environment
    >>> env = environment()
    >>> env["cpu_tier"] in ("baseline", "v3", "v4", None), "numpy" in env
    (True, True)
    """
    bench = _import("kl_ext.bench")
    v = bench._versions()
    ti = bench.thread_info()
    return {"kl_ext": v["kl_ext"], "numpy": v["numpy"], "scipy": v["scipy"],
            "numkong": v["numkong"], "torch": bench._version("torch"),
            "mpmath": bench._version("mpmath"), "python": v["python"],
            "cpu": bench._cpu_name(), "cpu_tier": ti["cpu_tier"],
            "available_tiers": ti["available_tiers"],
            "platform": f"{platform.system()} {platform.machine()}"}


def _fmt(e: float | None) -> str:
    if e is None:
        return "—"
    if math.isnan(e):
        return "nan"
    if math.isinf(e):
        return "inf"
    if e == 0:
        return "0"
    return f"{e:.1e}"


def _cell(res: "Result", lib: str) -> str:
    s = res.summary(lib)
    if s is None:
        st = res.status.get(lib, "not run")
        return {"not installed": "not installed", "no function": "—"}.get(st, st)
    return f"{_fmt(s[0]):>7} {_fmt(s[1]):>7}"


def _exact_text(res: "Result") -> str:
    vals = sorted(res.exact)
    v = vals[(len(vals) - 1) // 2]
    return "inf" if math.isinf(v) else ("0" if v == 0 else f"{v:.2g}")


def format_table(out: dict[str, Any], *, argv: Sequence[str] | None = None) -> list[str]:
    """The report (environment, table, notes) as a list of lines.

    Parameters
    ----------
    out : dict
        What :func:`run` returned.
    argv : list of str, optional
        The command line, printed in the header.

    Returns
    -------
    list of str

    Examples
    --------
    >>> from kl_ext.accuracy import run, format_table
    >>> lines = format_table(run(quick=True, measures=["kl_divergence"],
    ...                          regimes=["proportional"]))
    >>> any(line.startswith("  proportional q=4p") for line in lines)
    True
    """
    env = environment()

    def ver(key: str) -> str:
        return env[key] or "not installed"
    lines = [f"kl_ext {env['kl_ext']} · NumPy {env['numpy']} · SciPy {ver('scipy')} · "
             f"NumKong {ver('numkong')} · torch {ver('torch')} · mpmath {ver('mpmath')} · "
             f"Python {env['python']}",
             f"CPU: {env['cpu']} · {env['platform']} · kl_ext CPU tier "
             f"{env['cpu_tier'] or 'unknown'} (built: "
             f"{', '.join(env['available_tiers']) or '?'})"]
    if argv:
        lines.append("command: " + " ".join(argv))
    lines.append("")
    libs = list(LIBRARIES)
    width = 15
    head = ["measure / regime case", "rows", "exact"] + [LIBRARIES[k] for k in libs]
    body: list[list[str] | None] = []
    prev = None
    for res in sorted(out["results"], key=lambda r: MEASURES.index(r.measure)):
        if res.measure != prev:
            body.append(None)
            body.append([res.measure, "", ""] + [""] * len(libs))
            prev = res.measure
        c = res.case
        body.append([f"  {c.regime} {c.label}", str(len(res.exact)), _exact_text(res)]
                    + [_cell(res, k) for k in libs])
    w0 = max([len(head[0])] + [len(r[0]) for r in body if r])
    w1 = max([len(head[1])] + [len(r[1]) for r in body if r])
    w2 = max([len(head[2])] + [len(r[2]) for r in body if r])
    wl = [max([width] + [len(r[3 + i]) for r in body if r]) for i in range(len(libs))]

    def line(cells: list[str]) -> str:
        parts = [cells[0].ljust(w0), cells[1].rjust(w1), cells[2].rjust(w2)]
        parts += [c.rjust(w) for c, w in zip(cells[3:], wl)]
        return "  ".join(parts).rstrip()
    lines.append(line(head))
    lines.append(line(["", "", ""] + ["median   worst"] * len(libs)))
    lines.append("  ".join("-" * w for w in [w0, w1, w2] + wl))
    for row in body[1:] if body and body[0] is None else body:
        lines.append("" if row is None else line(row))
    lines.append("")
    count, worst = out["check"]
    notes = [
        "Relative error |computed − exact| / exact over the rows of each case (median, "
        "worst); 0 = exactly right, inf = wrong at an exact 0 or infinite where the exact "
        "value is finite, nan = NaN returned. Exact: the measure of the given "
        "float inputs normalised exactly (kl_ext.accuracy.exact_measures: mpmath at "
        f"{PRECISION} bits on exact integer sums and exact differences; Wasserstein: "
        "exact integer arithmetic); 'exact' column = median exact value (nats or "
        f"support units). The exact references were checked on {count} values "
        "against a direct 100-digit mpmath / Fraction evaluation: largest relative "
        f"difference {worst:.1g}.",
        "Regimes: " + "; ".join(f"{k}: {v}" for k, v in REGIMES.items()) + ".",
        "Libraries (each on the same inputs, 1-D rows, nats): reference = "
        "kl_ext.reference(_wasserstein); SciPy = stats.entropy (entropy, KL), entropy(p) "
        "+ entropy(p, q) (cross-entropy), entropy(p, q) + entropy(q, p) (Jeffreys), "
        "spatial.distance.jensenshannon (JS distance; squared for JS divergence), "
        "stats.wasserstein_distance (wasserstein_hist as (x, x, p, q)); NumKong = "
        "kullbackleibler, jensenshannon on p/p.sum(), q/q.sum(); torch (CPU) = "
        "distributions.Categorical(probs=p).entropy(), nn.functional.cross_entropy("
        "log q, p/p.sum()), nn.functional.kl_div(log(q/q.sum()), p/p.sum(), "
        "reduction='sum'). — = the library has no such function.",
    ]
    for text in notes:
        lines.extend(textwrap.wrap(text, 100))
    lines.append(f"run time: {out['seconds']:.1f} s")
    return lines


def _jsonable(v: Any) -> Any:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return None if v is None or math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def to_json(out: dict[str, Any], *, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """The results as a JSON-ready dict (environment, one record per case and measure).

    Errors that are NaN become null and infinities the string ``"inf"``.

    Parameters
    ----------
    out : dict
        What :func:`run` returned.
    argv : list of str, optional
        The command line, recorded.

    Returns
    -------
    dict

    Examples
    --------
    >>> from kl_ext.accuracy import run, to_json
    >>> d = to_json(run(quick=True, measures=["entropy"], regimes=["counts"]))
    >>> d["results"][0]["errors"]["kl_ext"]["worst"] < 1e-14
    True
    """
    records = []
    for res in out["results"]:
        c = res.case
        errs = {}
        for lib in LIBRARIES:
            s = res.summary(lib)
            errs[lib] = {"status": res.status.get(lib, "not run"),
                         "median": _jsonable(s[0]) if s else None,
                         "worst": _jsonable(s[1]) if s else None,
                         "per_row": [_jsonable(e) for e in res.errors.get(lib, [])]}
        records.append({"measure": res.measure, "regime": c.regime, "case": c.label,
                        "n": c.n, "dtype": c.dtype, "x": c.x, "rows": len(res.exact),
                        "exact": [_jsonable(v) for v in res.exact], "errors": errs})
    return {"kind": "kl_ext accuracy", "version": 1,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "argv": argv, "quick": out.get("quick"), "seed": out.get("seed"),
            "seconds": out["seconds"], "environment": environment(),
            "reference_check": {"values": out["check"][0], "worst": out["check"][1],
                                "tolerance": CHECK_TOL},
            "results": records}


_FLOOR, _CEIL = 1e-18, 1e3
_STYLE = {"kl_ext": ("C0", "o"), "chunked": ("C4", "x"), "reference": ("C7", "s"),
          "scipy": ("C1", "^"), "numkong": ("C2", "D"), "torch": ("C3", "v")}


def plot(out: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Draw worst relative error against d (near rows) and against n (long rows,
    histograms), log-log, to `path` (.png, .svg or .pdf; needs matplotlib).

    Errors of 0 are drawn at 1e-18 and NaN/inf at 1e3 (hollow markers).

    Parameters
    ----------
    out : dict
        What :func:`run` returned.
    path : str or os.PathLike
        The file to write.

    Raises
    ------
    ImportError
        matplotlib is not installed.

    Examples
    --------
    >>> import os, tempfile
    >>> from kl_ext.accuracy import plot, run
    >>> out = run(quick=True, measures=["kl_divergence", "wasserstein_hist"],
    ...           regimes=["near", "hist"])
    >>> path = os.path.join(tempfile.mkdtemp(), "accuracy.png")
    >>> plot(out, path)
    >>> os.path.getsize(path) > 10_000
    True
    """
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("--plot needs matplotlib (pip install matplotlib)") from None
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    panels = (
        (axes[0], "near", ("kl_divergence", "js_divergence"),
         "nearly identical rows q = p·(1 + d·ε), n = 500: KL (solid), JS (dashed)", "d"),
        (axes[1], None, ("wasserstein_hist", "kl_divergence"),
         "long rows: wasserstein_hist (solid), kl_divergence float64 (dashed)", "n"),
    )
    for ax, regime, ms, title, xlabel in panels:
        for lib in LIBRARIES:
            color, marker = _STYLE[lib]
            for j, m in enumerate(ms):
                pts = []
                for res in out["results"]:
                    c = res.case
                    if res.measure != m or c.x is None or res.summary(lib) is None:
                        continue
                    if regime == "near" and c.regime != "near":
                        continue
                    if regime is None and not (c.regime == "hist" or (
                            c.regime == "long" and c.dtype == "float64")):
                        continue
                    pts.append((c.x, res.summary(lib)[1]))
                if not pts:
                    continue
                pts.sort()
                xs = [p[0] for p in pts]
                ys = [min(max(e, _FLOOR), _CEIL) if math.isfinite(e) else _CEIL
                      for _, e in pts]
                style = ("-", "--", ":")[j]
                label = f"{LIBRARIES[lib]} {m}" if len(ms) > 1 else LIBRARIES[lib]
                ax.plot(xs, ys, style, color=color, marker=marker, label=label,
                        alpha=1.0 if lib == "kl_ext" else 0.75)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(_FLOOR / 3, _CEIL * 3)
        ax.axhline(1e-13, color="k", lw=0.6, ls=":")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("worst relative error vs exact")
        ax.set_title(title, fontsize=9)
        ax.grid(True, which="major", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, ncol=2)
        else:  # a selection without this panel's regimes (no stray legend warning)
            ax.text(0.5, 0.5, "not in this selection", transform=ax.transAxes,
                    ha="center", va="center", fontsize=8)
    if axes[0].get_xlim()[0] < axes[0].get_xlim()[1]:
        axes[0].invert_xaxis()
    env = environment()
    fig.suptitle(f"kl-ext accuracy: kl_ext {env['kl_ext']}, CPU tier {env['cpu_tier']} "
                 f"(0 drawn at 1e-18, NaN/inf at 1e3; dotted line: 1e-13)", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=110)
    plt.close(fig)


def _tty_progress(text: str) -> None:
    print(f"\r\033[K{text} ...", end="", file=sys.stderr, flush=True)


def main_accuracy(*, quick: bool = False, measures: Sequence[str] | None = None,
                  regimes: Sequence[str] | None = None, seed: int = _SEED,
                  json_path: str | None = None, plot_path: str | None = None,
                  argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table: what ``kl-ext accuracy`` does.

    Parameters
    ----------
    quick, measures, regimes, seed
        As for :func:`run`.
    json_path : str, optional
        Also write :func:`to_json` to this file; ``"-"`` prints the JSON
        to stdout instead of the table.
    plot_path : str, optional
        Also draw :func:`plot` to this file.
    argv : list of str, optional
        The command line, printed in the header and recorded in the JSON.

    Returns
    -------
    int
        The exit status, 0.

    Raises
    ------
    ValueError, RuntimeError
        As :func:`run`.
    OSError
        `json_path` or `plot_path` cannot be written.
    ImportError
        `plot_path` given and matplotlib missing, or mpmath missing.

    Examples
    --------
    >>> from kl_ext.accuracy import main_accuracy
    >>> main_accuracy(quick=True, measures=["total_variation"],
    ...               regimes=["counts"])  # doctest: +ELLIPSIS
    kl_ext ...
    total_variation
      counts n=100 ...
    run time: ... s
    0
    """
    import json
    progress = _tty_progress if sys.stderr.isatty() else None
    out = run(quick=quick, measures=measures, regimes=regimes, seed=seed, progress=progress)
    if progress is not None:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    if json_path != "-":
        print("\n".join(format_table(out, argv=argv)), flush=True)
    if json_path is not None:
        text = json.dumps(to_json(out, argv=argv), indent=1)
        if json_path == "-":
            print(text)
        else:
            with open(json_path, "w", encoding="utf-8") as f:
                f.write(text + "\n")
    if plot_path is not None:
        plot(out, plot_path)
    return 0
