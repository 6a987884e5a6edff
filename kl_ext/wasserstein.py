"""1-D Wasserstein distances between samples and between histograms.

Validation, dtype coercion, broadcasting, the move of ``axis`` to the end,
sorting, and dispatch to the merge-walk kernels of
``src/_wasserstein.pyx``.  The kernels only see sorted, typed rows.

Public: :func:`wasserstein_1d`, :func:`wasserstein_hist`.  Private but
relied on by :mod:`kl_ext.compat`: ``_cdf_distance`` (SciPy's function of
the same name, for ``wasserstein_distance`` and ``energy_distance``).
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any, Literal, NoReturn, SupportsIndex, cast

import numpy as np
from numpy.typing import NDArray

from . import _cpu, _threads

# the kernels for the best CPU tier built and supported here (see _cpu.py)
if TYPE_CHECKING:  # every tier has the interface of kl_ext/_wasserstein.pyi
    from . import _wasserstein
    _k = _wasserstein
    CPU_TIER: str
else:
    _k, CPU_TIER = _cpu.load("kl_ext._wasserstein")
from ._typing import ArrayLike, Value
from .measures import _as_rows, _axis, _coerce, _row_text

# (annotation shorthands)
_Arr = NDArray[Any]
_F64A = NDArray[np.float64]

__all__ = ["wasserstein_1d", "wasserstein_hist"]

_F64 = np.dtype(np.float64)
_F32 = np.dtype(np.float32)

# kernel codes (src/_wasserstein.pyx)
_QUANTILE, _CDF = 0, 1
_P_ONE, _P_TWO, _P_GENERAL, _P_INF = 1, 2, 3, 4
# hist_rows: a row whose sums need rescaling (see src/_wasserstein.pyx)
_ST_RESCALE = 5


class _ShapeTypeError(TypeError, ValueError):
    """0-d values: SciPy raises TypeError (len() of unsized object)."""


# ---------------------------------------------------------------------------
# SciPy's _cdf_distance


def _validate_distribution(values: ArrayLike, weights: ArrayLike | None, name: str
                           ) -> tuple[_F64A, _F64A | None]:
    """SciPy's ``_validate_distribution`` checks, messages naming `name`."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 0:
        raise _ShapeTypeError(f"{name}_values must be 1-D, got a scalar "
                              "(len() of unsized object)")
    if values.ndim != 1:
        raise ValueError(f"{name}_values must be 1-D, got shape {values.shape}")
    if len(values) == 0:
        raise ValueError(f"Distribution can't be empty: {name}_values has no samples.")
    if weights is None:
        return values, None
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 1 or len(weights) != len(values):
        raise ValueError("Value and weight array-likes for the same empirical "
                         f"distribution must be of the same size: {name}_values "
                         f"has shape {values.shape}, {name}_weights {weights.shape}.")
    if np.any(weights < 0):
        raise ValueError(f"All weights must be non-negative: {name}_weights has "
                         f"{float(weights[np.flatnonzero(weights < 0)[0]])!r}.")
    s = weights.sum()
    if not 0 < s < np.inf:
        raise ValueError(f"Weight array-like sum must be positive and finite: "
                         f"{name}_weights sums to {float(s)!r}. Set as None for an equal "
                         "distribution of weight.")
    return values, weights


def _argsort_weighted(values: _Arr, weights: _Arr) -> tuple[_Arr, _Arr]:
    idx = np.argsort(values, axis=-1)
    return (np.take_along_axis(values, idx, axis=-1),
            np.take_along_axis(weights, idx, axis=-1))


# index bits the packed (value | index) keys can hold: float64 keys keep the
# top 64 - bits bits of the value (see src/_wasserstein.pyx), float32 keys
# all 32
_BITS_MAX = {_F64: 40, _F32: 32}


def _sort_samples(*samples: tuple[_Arr, _Arr | None]) -> list[tuple[_Arr, _Arr | None]]:
    """Sort each (values, weights) pair along the last axis with kl_ext's
    own sort (src/_sort.h), every row of every pair one job for the
    kernel's threads (u and v of one call run concurrently).

    values: float32/float64 (..., n), n >= 1; weights: None or float64 of
    the values' shape, carried along.  Returns new arrays (the inputs are
    never written).  Ties keep index order (weighted), NaN sorts last.  A
    weighted group whose keys cannot order it (values equal in all but
    their lowest bits in bulk, or 2**40 samples) falls back to argsort.
    """
    groups: list[tuple[Any, ...]] = []
    outs: list[tuple[_Arr, _Arr | None]] = []
    weighted = []  # (index in outs, index in groups) of the weighted samples
    for x, w in samples:
        n = x.shape[-1]
        x2 = _aligned(x).reshape(-1, n)
        xs = np.empty(x2.shape, dtype=x2.dtype)
        if w is None:
            keys = xs.view(np.uint64) if x2.dtype == _F64 else np.empty(x2.shape, np.uint64)
            groups.append((x2, None, xs, None, keys, 0))
            outs.append((xs.reshape(x.shape), None))
            continue
        bits = (n - 1).bit_length()
        if bits > _BITS_MAX[x2.dtype]:  # pragma: no cover - 2**40 samples
            outs.append(_argsort_weighted(x, w))
            continue
        w2 = _aligned(w).reshape(-1, n)
        ws = np.empty(x2.shape, dtype=_F64)
        weighted.append((len(outs), len(groups)))
        groups.append((x2, w2, xs, ws, np.empty(x2.shape, np.uint64), bits))
        outs.append((xs.reshape(x.shape), ws.reshape(x.shape)))
    if groups:
        ok = _k.sort_rows(tuple(groups), _threads.current())
        for i, g in weighted:
            if not ok[g]:
                x, w = samples[i]
                outs[i] = _argsort_weighted(x, cast(_Arr, w))
    return outs


# The sorted copies of two 1-D unweighted float64 samples (wasserstein_1d's
# fast path) live in a scratch buffer that each calling thread keeps between
# calls, up to _SCRATCH_MAX values (16 MiB): a fresh 16 MB output costs
# ~4000 page faults and the kernel's zeroing of every page, measured at
# 3.7 of 20.6 ms (CPU time, one thread) for 1e6 vs 1e6 samples.  The
# weighted fast path (_weighted_pair) uses the same buffer and keeps it up
# to _WSCRATCH_MAX values (96 MiB; 1e6 vs 1e6 weighted samples need 72 MB,
# 96 MB on two threads):
# fresh, its zeroing was ~13 % of the call's profile (perf, one thread).
_SCRATCH_MAX = 1 << 21
_WSCRATCH_MAX = 12 << 20
_scratch = threading.local()


def _sort_pair_f64(u: _Arr, v: _Arr) -> tuple[_F64A, _F64A, _F64A, int]:
    """Sorted copies of the 1-D float64 samples u and v, as views of one
    buffer (returned third, with its cap fourth, for _scratch_return): the
    calling thread's cached buffer if it is large enough, else a new one.
    A cached buffer goes back whatever its size (_WSCRATCH_MAX, the cap it
    came in under): an unweighted call between two weighted ones must not
    drop the weighted call's buffer, whose fresh 72 MB (1e6 vs 1e6) cost
    ~700 page faults and 6 ms of zeroing per call."""
    n, m = u.shape[0], v.shape[0]
    buf = getattr(_scratch, "buf", None)
    cap = _WSCRATCH_MAX
    if buf is not None and buf.shape[0] >= n + m:
        _scratch.buf = None  # taken (a call re-entered from this thread allocates its own)
    else:
        buf = np.empty(n + m)
        cap = _SCRATCH_MAX
    us, vs = buf[:n], buf[n:n + m]
    _k.sort_rows(((_aligned(u).reshape(1, n), None, us.reshape(1, n), None,
                   us.view(np.uint64).reshape(1, n), 0),
                  (_aligned(v).reshape(1, m), None, vs.reshape(1, m), None,
                   vs.view(np.uint64).reshape(1, m), 0)), _threads.current())
    return us, vs, buf, cap


def _scratch_return(buf: _F64A, cap: int | None = None) -> None:
    """Keep buf for the thread's next call (the larger of it and the one
    kept, if at most `cap` values; default _SCRATCH_MAX)."""
    if cap is None:
        cap = _SCRATCH_MAX
    kept = getattr(_scratch, "buf", None)
    if buf.shape[0] <= cap and (kept is None or kept.shape[0] < buf.shape[0]):
        _scratch.buf = buf


def _weighted_pair(u: _Arr, uw: _F64A, v: _Arr, vw: _F64A, mode: int, p: float
                   ) -> float | None:
    """W_p of two unsorted weighted 1-D float64 samples by one kernel call
    (src/_wpair.h: sort and walk without sorted output arrays), or None:
    take the general path (a gather that gave up, 2**40 samples, or an
    infinite result, which _quantile_rows may rescue by rescaling)."""
    n, m = u.shape[0], v.shape[0]
    if max(n, m) > 1 << _BITS_MAX[_F64]:  # pragma: no cover - 2**40 samples
        return None
    need = _k.weighted_pair_size(n, m, _threads.current())
    buf = getattr(_scratch, "buf", None)
    if buf is not None and buf.shape[0] >= need:
        _scratch.buf = None  # taken (as in _sort_pair_f64)
    else:
        buf = np.empty(need)
    r = _k.weighted_pair(_aligned(u), _aligned(uw), _aligned(v), _aligned(vw), mode, p,
                         buf, _threads.current())
    _scratch_return(buf, _WSCRATCH_MAX)
    if r is None or math.isinf(r):
        return None
    return r


def _sort_weighted(values: _Arr, weights: _Arr) -> tuple[_Arr, _Arr]:
    """Sort `values` (float32/float64) along the last axis, carrying float64
    `weights` (same shape): packed (value bits | index) keys sorted by
    kl_ext's sort, see _sort_samples."""
    xs, ws = _sort_samples((values, weights))[0]
    return xs, cast(_Arr, ws)


def _cdf_distance(order: float, u_values: ArrayLike, v_values: ArrayLike,
                  u_weights: ArrayLike | None = None,
                  v_weights: ArrayLike | None = None) -> np.float64:
    r"""SciPy's ``scipy.stats._stats_py._cdf_distance`` for 1-D samples.

    Returns :math:`(\int |U - V|^p\,dx)^{1/p}` as a NumPy float64, with U
    and V the CDFs of the weighted samples: order 1 is W_1
    (``scipy.stats.wasserstein_distance``), order 2 the L2 distance between
    the CDFs (``scipy.stats.energy_distance`` is ``sqrt(2)`` times it).
    Same validation, exceptions and edge values as SciPy (NaN anywhere gives
    NaN; a value of +-inf that occurs more than once gives NaN).
    """
    u, uw = _validate_distribution(u_values, u_weights, "u")
    v, vw = _validate_distribution(v_values, v_weights, "v")
    p = float(order)
    mode = _P_ONE if p == 1.0 else _P_TWO if p == 2.0 else _P_GENERAL
    (u, uw), (v, vw) = _sort_samples((u, uw), (v, vw))
    out = np.empty(1)
    # Order 1 with every value finite: W_1 by the quantile walk, the same
    # number up to rounding (both are sums of non-negative terms) and much
    # faster (equal sizes: one pass, no merge).  Otherwise the CDF walk,
    # which reproduces SciPy's values at +-inf and NaN too.  Sorted, so the
    # ends tell whether everything is finite (NaN sorts last).
    kind = _CDF
    if (math.isfinite(u[0]) and math.isfinite(u[-1])
            and math.isfinite(v[0]) and math.isfinite(v[-1])):
        if mode == _P_ONE:
            kind = _QUANTILE
    else:
        _scipy_inf_warning(u, v)
    _call_rows(kind, u, uw, v, vw, mode, p, out)
    return np.float64(out[0])


def _scipy_inf_warning(u: _Arr, v: _Arr) -> None:
    """SciPy takes the differences of the merged sorted values, so an
    infinity that occurs twice (in u and v together) gives inf - inf: NumPy's
    RuntimeWarning "invalid value encountered in subtract", or the
    FloatingPointError of np.errstate(invalid='raise').  The same NumPy
    operation here, so the drop-ins warn (and raise) exactly when SciPy does
    (SciPy's test_inf_values checks both)."""
    for s in (math.inf, -math.inf):
        if np.count_nonzero(u == s) + np.count_nonzero(v == s) > 1:
            np.subtract(np.array([s]), np.array([s]))
            return


# ---------------------------------------------------------------------------
# helpers


def _order(order: object) -> tuple[int, float]:
    """(kernel mode, p) for a Wasserstein order: a real >= 1 or inf."""
    if (isinstance(order, (bool, np.bool_))
            or not isinstance(order, (int, float, np.integer, np.floating))):
        raise TypeError(f"order must be a real number >= 1, got {order!r}")
    p = float(order)
    if not p >= 1.0:  # also NaN
        raise ValueError(f"order must be >= 1 (or np.inf), got {order!r}")
    if p == 1.0:
        return _P_ONE, 1.0
    if p == 2.0:
        return _P_TWO, 2.0
    if p == math.inf:
        return _P_INF, p
    return _P_GENERAL, p


def _weights(w: ArrayLike | None, shape: tuple[int, ...], name: str) -> _F64A | None:
    """Float64 weights broadcast to the values' `shape`, checked; or None."""
    if w is None:
        return None
    a = w if type(w) is np.ndarray else np.asarray(w)
    if a.dtype.kind == "c":
        raise TypeError(f"{name} must be real-valued, got complex dtype {a.dtype}")
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    a = a.astype(_F64, copy=False)
    if a.shape != shape:
        try:
            a = np.broadcast_to(a, shape)
        except ValueError:
            vname = name.replace("weights", "values")
            raise ValueError(
                "Value and weight array-likes for the same empirical distribution "
                f"must be of the same size: {name} with shape {a.shape} does not "
                f"broadcast to {vname} with shape {shape}") from None
    ok = a >= 0.0
    if not ok.all():
        v = a[~ok].flat[0]
        raise ValueError(f"All weights must be non-negative: {name} has {float(v)!r}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite, found inf")
    return a


def _weights_1d(w: ArrayLike | None, shape: tuple[int, ...], name: str
                ) -> _F64A | None | Literal[False]:
    """Checked float64 weights of exactly `shape`, None, or False (take the
    general path: another shape, or an error to report there)."""
    if w is None:
        return None
    a = w if type(w) is np.ndarray else np.asarray(w)
    if a.shape != shape or a.dtype.kind not in "biuf":
        return False
    a = a.astype(_F64, copy=False)
    with np.errstate(over="ignore"):
        s = a.sum()
    if not (0.0 < s < math.inf) or a.min() < 0.0:
        return False
    return a


def _pow2_rows(a: ArrayLike) -> _F64A:
    """float64 copy of `a` with each row (last axis) multiplied by the power
    of two that brings its largest entry into [0.5, 1): exact, and scale-free
    for anything normalised, so a row sum no longer overflows."""
    a = np.array(a, dtype=_F64)
    # (annotated: NumPy's stubs type ufunc calls as Any)
    e = np.frexp(a.max(axis=-1, initial=0.0))[1][..., np.newaxis]
    out: _F64A = np.ldexp(a, -e)
    return out


def _check_sums(w: _F64A, name: str) -> _F64A:
    """Weights (finite, >= 0) whose rows (last axis) sum to a positive
    number: ValueError for a row that sums to 0; rows whose sum overflows
    are rescaled by a power of two (the walks normalise them)."""
    with np.errstate(over="ignore"):
        s = w.sum(axis=-1)
    bad = ~(s > 0.0)
    if bad.any():
        i = int(np.flatnonzero(bad.reshape(-1))[0])
        where = _row_text(i, s.shape)
        raise ValueError(f"Weight array-like sum must be positive and finite: "
                         f"{name} sums to {float(s.reshape(-1)[i])!r}{where}")
    big = np.isinf(s)
    if big.any():
        w = np.where(big[..., np.newaxis], _pow2_rows(w), w)
    return w


def _rows2(a: _Arr, batch: tuple[int, ...]) -> _Arr:
    """(rows, n) view of `a` broadcast to batch + (n,), copying only if the
    leading axes cannot be merged."""
    b = np.broadcast_to(a, batch + a.shape[-1:])
    r = _as_rows(b)
    if r is None:
        r = np.ascontiguousarray(b).reshape(-1, a.shape[-1])
    return r


def _aligned(a: _Arr) -> _Arr:
    """`a` C-contiguous and aligned (np.ascontiguousarray keeps an unaligned
    C-contiguous array as it is; the kernels refuse those)."""
    return np.require(a, requirements=["C", "A"])


def _quantile_rows(u: _Arr, uw: _F64A | None, v: _Arr, vw: _F64A | None, mode: int, p: float,
                   out: _F64A) -> None:
    """W_p of sorted rows into `out` (see _call_rows).  A row whose result
    overflowed although every value is finite (a distance or a sum of up to
    n + m of them beyond 1.8e308) is walked again with its values times
    2**-k, 4 (n + m) <= 2**k (exact for all but subnormal values, which
    cannot matter next to such distances), and the result scaled back: the
    right finite value, or inf if W_p itself exceeds the float64 range."""
    _call_rows(_QUANTILE, u, uw, v, vw, mode, p, out)
    big = np.isinf(out)
    if not big.any():
        return
    k = 2 + (u.shape[-1] + v.shape[-1]).bit_length()
    sc = 2.0 ** -k
    if u.ndim == 1:
        if np.isfinite(u).all() and np.isfinite(v).all():
            _call_rows(_QUANTILE, u * sc, uw, v * sc, vw, mode, p, out)
            with np.errstate(over="ignore"):
                out *= 2.0 ** k
        return
    rows = np.flatnonzero(big)
    rows = rows[np.isfinite(u[rows]).all(axis=-1) & np.isfinite(v[rows]).all(axis=-1)]
    if rows.size:
        sub = np.empty(rows.size)
        _call_rows(_QUANTILE, u[rows] * sc, None if uw is None else uw[rows],
                   v[rows] * sc, None if vw is None else vw[rows], mode, p, sub)
        with np.errstate(over="ignore"):
            out[rows] = sub * 2.0 ** k


def _call_rows(kind: int, u: _Arr, uw: _F64A | None, v: _Arr, vw: _F64A | None, mode: int,
               p: float, out: _F64A) -> None:
    nt = _threads.current()
    if _k.rows(kind, u, uw, v, vw, mode, p, out, nt) < 0:
        c = _aligned
        if _k.rows(kind, c(u), None if uw is None else c(uw), c(v),
                   None if vw is None else c(vw), mode, p, out, nt) < 0:
            raise RuntimeError("kl_ext._wasserstein: unsupported memory layout")


# ---------------------------------------------------------------------------
# public API


def wasserstein_1d(u_values: ArrayLike, v_values: ArrayLike, u_weights: ArrayLike | None = None,
                   v_weights: ArrayLike | None = None, *, order: float = 1,
                   axis: SupportsIndex = -1, assume_sorted: bool = False) -> Value:
    r"""Order-p Wasserstein distance between 1-D empirical distributions.

    Parameters
    ----------
    u_values : array_like of shape (n,) or (..., n, ...)
        Samples of the first distribution (positions on the real line),
        along `axis`; leading axes are independent problems.  Integer and
        bool input is treated as float64.
    v_values : array_like of shape (m,) or (..., m, ...)
        Samples of the second distribution; m may differ from n.  The axes
        other than `axis` broadcast against those of `u_values` (one
        reference sample of shape (m,) against many rows, read in place).
    u_weights, v_weights : array_like, optional
        Non-negative finite weights (counts or masses) of the samples,
        broadcastable to their values' shape; each row is normalised to
        sum 1, so it must have a positive finite sum.  Default: equal
        weights.
    order : float, default 1
        p >= 1, or ``np.inf`` for the largest distance between the quantile
        functions.
    axis : int, default -1
        Axis along which the samples lie, in both `u_values` and `v_values`.
    assume_sorted : bool, default False
        Promise that the values (and their weights with them) are already
        sorted ascending along `axis`, which skips the sort.  Trusted, not
        checked: unsorted input gives a wrong result (but never hangs or
        reads out of bounds).

    Returns
    -------
    w : numpy.float64/float32 or ndarray
        :math:`W_p` (the distance, not its p-th power), in the units of the
        values, of the broadcast batch shape (a NumPy scalar for 1-D
        input).  float32 if both value arrays are float32 (accumulated in
        float64), else float64.  An empty batch gives an empty array.  Huge
        finite values and weights are rescaled by powers of two where a
        sum would overflow, so the result is inf only when :math:`W_p`
        itself exceeds the range of the result's dtype.

    Raises
    ------
    ValueError
        An empty sample; weights that are negative, NaN or infinite, or
        whose row sums to 0; weights that do not broadcast to
        their values (SciPy's "same size" error); batch shapes that do not
        broadcast; `order` < 1 or NaN; `axis` out of range.  Messages name
        the argument (and row).
    TypeError
        Complex, object or other non-numeric values or weights; an `order`
        that is not a real number.

    See Also
    --------
    scipy.stats.wasserstein_distance : order 1, 1-D, float64 only.
    ot.wasserstein_1d : POT; returns :math:`W_p^p` for weights summing to 1.
    wasserstein_hist : histograms on a common support.

    Notes
    -----
    For distributions u, v on the real line with CDFs :math:`F_u, F_v`
    [1]_,

    .. math::

        W_p(u, v) = \left(\int_0^1 \left|F_u^{-1}(t) - F_v^{-1}(t)\right|^p
        dt\right)^{1/p},
        \qquad
        W_\infty(u, v) = \operatorname*{ess\,sup}_{t \in (0, 1)}
        \left|F_u^{-1}(t) - F_v^{-1}(t)\right|,

    and for p = 1 also :math:`W_1 = \int |F_u(x) - F_v(x)|\,dx` [2]_.  For
    samples the quantile functions are steps, so the integral is a sum over
    one merge walk of the two sorted samples, O(n + m) after sorting: each
    step between consecutive merged cumulative weights :math:`t` adds
    :math:`\Delta t\,|u_{(i)} - v_{(j)}|^p`.  Equal weights use exact
    integer breakpoints; with n = m they reduce to
    :math:`(\frac1n\sum_i |u_{(i)} - v_{(i)}|^p)^{1/p}`.  Order 1 equals
    ``scipy.stats.wasserstein_distance(u, v, u_w, v_w)``; every order
    equals ``ot.wasserstein_1d(u, v, u_w/sum(u_w), v_w/sum(v_w),
    p=order) ** (1/order)`` [3]_, [4]_.

    Conventions: a NaN value gives NaN; a sample at +-inf gives inf when it
    must be moved to a finite point and NaN when matched with an infinity
    (inf - inf), whichever way the mass is split; samples of weight 0 never
    contribute (SciPy can return NaN for a weight-0 sample at inf).  Order
    inf is the largest distance over steps of positive mass, so it is
    sensitive to weights whose sums differ in the last bit.  Samples are
    sorted by kl_ext's own vectorised quicksort of order-preserving uint64
    keys (AVX-512 or AVX2 where the CPU has it; ``src/_sort.h``), not by
    NumPy's sort; weighted samples sort keys that pack the value's bits
    with the sample's index, so each weight follows its value (ties in
    index order), with ``argsort`` as the fallback for the rare rows the
    keys cannot order.  With two or more threads the sorts are split into
    tasks (ranges of at most 16384 samples) that the threads take as they
    become free, so two threads share even one long sample; the result does
    not depend on the thread count.  The weighted walk runs in fixed
    segments of 16384 merged cumulative weights, each starting in a state
    the whole walk passes through, that the threads take as tasks; their
    partial sums are added in segment order, so it does not depend on the
    thread count either.  For two unweighted float64 samples the
    sorted copies go to a scratch buffer that the calling thread keeps
    between calls (up to 16 MiB: 2**21 samples in all), which saves the
    page faults of fresh memory on every call.  Two weighted 1-D float64
    samples are sorted and walked in one kernel call (no sorted copies of
    the weights: the gather of the sorted pairs makes the cumulative
    weights in the same pass) whose scratch, 24 (n + m + max(n, m)) bytes
    (24 m more on two threads), is the same per-thread buffer, kept after a
    weighted call up to 96 MiB (n = m = 1.39e6 on one thread, 1.04e6 on
    two; larger calls allocate and free their own), and kept
    too when an unweighted call borrows it.  A sum of :math:`|d|^p` that would over- or underflow is redone
    with the distances scaled by a power of two.

    Accuracy: for float64 input, within 1e-13 relative of :math:`W_p` of
    the given values and exactly normalised weights, for every order and
    any number of samples (the error does not grow with n: tested against
    exact rationals up to 3e5 samples, typically ~1e-16), and for nearly
    equal samples (``v = u + 1e-12 * noise``) to the precision the inputs
    allow.  float32 input: within one float32 rounding of the exact value
    (everything is accumulated in float64).  Method [5]_, [6]_, [7]_:
    weighted walks keep the normalised cumulative weights as double-double
    numbers (TwoSum running sums divided by the double-double total), so
    each step's mass is accurate to ~1e-16 relative however long the
    walk; unit weights use exact integer breakpoints; the non-negative
    step terms are summed in float64 blocks of 64 folded into a
    Neumaier-compensated total; each distance and power is rounded once
    (``pow``: within 1 ulp).

    References
    ----------
    .. [1] C. Villani, *Optimal Transport: Old and New*, Springer, 2009,
       ch. 6 (remark 2.19 for the quantile form on the line).
    .. [2] A. Ramdas, N. García Trillos and M. Cuturi, "On Wasserstein
       two-sample testing and related families of nonparametric tests",
       Entropy 19(2), 47, 2017.
    .. [3] SciPy, ``scipy.stats.wasserstein_distance``.
    .. [4] R. Flamary et al., "POT: Python Optimal Transport", JMLR 22(78),
       2021; ``ot.wasserstein_1d``.
    .. [5] A. Neumaier, "Rundungsfehleranalyse einiger Verfahren zur
       Summation endlicher Summen", ZAMM 54(1), 39-51, 1974.
    .. [6] T. Ogita, S. M. Rump and S. Oishi, "Accurate sum and dot
       product", SIAM J. Sci. Comput. 26(6), 1955-1988, 2005.
    .. [7] N. J. Higham, *Accuracy and Stability of Numerical Algorithms*,
       2nd ed., SIAM, 2002, sec. 4.3.

    Examples
    --------
    >>> import numpy as np
    >>> from kl_ext.wasserstein import wasserstein_1d
    >>> wasserstein_1d([0, 1, 3], [5, 6, 8])
    np.float64(5.0)
    >>> wasserstein_1d([0, 1], [0, 1], [3, 1], [2, 2])
    np.float64(0.25)
    >>> wasserstein_1d([0, 1, 3], [5, 6, 8, 9], order=2)
    np.float64(5.715476066494082)
    >>> wasserstein_1d([0.0, 1.0], [0.0, 3.0], order=np.inf)
    np.float64(2.0)

    One reference sample against three rows:

    >>> wasserstein_1d([[0, 1], [1, 2], [2, 3]], [0, 1])
    array([0., 1., 2.])
    """
    mode, p = _order(order)
    u = _coerce(u_values, "u_values")
    v = _coerce(v_values, "v_values")
    if u.dtype is not v.dtype:
        u = u.astype(_F64)
        v = v.astype(_F64)
    dtype = u.dtype
    # fast path: two 1-D samples (weights, if any, 1-D of the same length)
    if (u.ndim == 1 and v.ndim == 1 and (axis == -1 or axis == 0)
            and type(axis) is int and u.shape[0] and v.shape[0]):
        uw = _weights_1d(u_weights, u.shape, "u_weights")
        vw = _weights_1d(v_weights, v.shape, "v_weights")
        if uw is not False and vw is not False:
            out = np.empty(1)
            if not assume_sorted and uw is None and vw is None and dtype == _F64:
                us, vs, buf, cap = _sort_pair_f64(u, v)
                _quantile_rows(us, None, vs, None, mode, p, out)
                _scratch_return(buf, cap)
                return _result(out[0], dtype)
            if (not assume_sorted and uw is not None and vw is not None
                    and dtype == _F64):
                r = _weighted_pair(u, uw, v, vw, mode, p)
                if r is not None:
                    return _result(r, dtype)
            if not assume_sorted:
                (u, uw), (v, vw) = _sort_samples((u, uw), (v, vw))
            _quantile_rows(u, uw, v, vw, mode, p, out)
            return _result(out[0], dtype)
    if u.ndim == 0 or v.ndim == 0:
        name = "u_values" if u.ndim == 0 else "v_values"
        raise ValueError(f"{name} must have at least one dimension (the samples)")
    ua = _axis(axis, u.ndim)
    va = _axis(axis, v.ndim)
    uw = _weights(u_weights, u.shape, "u_weights")
    vw = _weights(v_weights, v.shape, "v_weights")
    u = np.moveaxis(u, ua, -1)
    v = np.moveaxis(v, va, -1)
    if uw is not None:
        uw = np.moveaxis(uw, ua, -1)
    if vw is not None:
        vw = np.moveaxis(vw, va, -1)
    if u.shape[-1] == 0:
        raise ValueError("Distribution can't be empty: u_values has no samples "
                         f"along axis {axis}")
    if v.shape[-1] == 0:
        raise ValueError("Distribution can't be empty: v_values has no samples "
                         f"along axis {axis}")
    try:
        batch = np.broadcast_shapes(u.shape[:-1], v.shape[:-1])
    except ValueError:
        raise ValueError(f"u_values with batch shape {u.shape[:-1]} and v_values "
                         f"with batch shape {v.shape[:-1]} (shapes without axis "
                         f"{axis}) do not broadcast together") from None
    if uw is not None:
        uw = _check_sums(uw, "u_weights")
    if vw is not None:
        vw = _check_sums(vw, "v_weights")
    if not assume_sorted:
        (u, uw), (v, vw) = _sort_samples((u, uw), (v, vw))
    rows = math.prod(batch)
    out = np.empty(rows)
    if rows:
        _quantile_rows(_rows2(u, batch), None if uw is None else _rows2(uw, batch),
                       _rows2(v, batch), None if vw is None else _rows2(vw, batch),
                       mode, p, out)
    if not batch:
        return _result(out[0], dtype)
    return _result(out.reshape(batch), dtype)


def wasserstein_hist(p: ArrayLike, q: ArrayLike, *, support: ArrayLike | None = None,
                     order: float = 1, axis: SupportsIndex = -1,
                     normalize: bool = True) -> Value:
    r"""Order-p Wasserstein distance between histograms on a common support.

    Parameters
    ----------
    p, q : array_like
        Non-negative bin masses (probabilities, or counts when `normalize`
        is True) along `axis`; they broadcast against each other with NumPy
        rules (one reference histogram of shape (n,) against `p` of shape
        (m, n) is read in place, never copied).  Integer and bool input is
        treated as float64.
    support : array_like of shape (n,), optional
        Positions of the bins, sorted ascending (non-decreasing) and finite.
        Default ``0, 1, ..., n-1``.
    order : float, default 1
        p >= 1, or ``np.inf``.
    axis : int, default -1
        Axis along which the bins lie (of the broadcast shape).
    normalize : bool, default True
        Divide each row by its sum first.  With False, order 1 takes the
        rows as given (they should already sum to 1; no sums are computed);
        the other orders always normalise.

    Returns
    -------
    w : numpy.float64/float32 or ndarray
        Broadcast shape without `axis`, in the units of `support`; float32
        only if both `p` and `q` are float32 (accumulated in float64).  An
        empty batch gives an empty array.  Rows whose sums overflow, are
        subnormal or far apart are rescaled by powers of two (exact); the
        result is inf only when the distance exceeds the range of its dtype.

    Raises
    ------
    ValueError
        A negative entry, shapes that do not broadcast, an empty or
        out-of-range axis, a `support` that is not 1-D of the bins' length,
        not sorted or not finite, `order` < 1, or (when normalising) a row
        that sums to 0.  Messages name the argument and the row.
    TypeError
        Complex, object or other non-numeric input.

    See Also
    --------
    wasserstein_1d : the same distance for samples; ``wasserstein_hist(p,
        q, support=x)`` equals ``wasserstein_1d(x, x, p, q)`` row by row.
    scipy.stats.wasserstein_distance : pass the support as values and the
        histograms as weights, not the frequencies as values
        (scipy/scipy#9152).

    Notes
    -----
    With :math:`P_k = \sum_{i \le k} p_i / \sum_i p_i` and likewise
    :math:`Q_k`, the order-1 distance is [1]_, [2]_

    .. math:: W_1(p, q) = \sum_{k=1}^{n-1} |P_k - Q_k|\,(x_{k+1} - x_k),

    one O(n) pass per row (after the sums); the running difference
    :math:`P_k - Q_k` is accumulated from the element-wise differences, so
    nearly equal histograms keep their relative accuracy.  Other orders use
    the quantile walk of :func:`wasserstein_1d` with the histograms as
    weights.  Empty bins are allowed.  A NaN or inf entry gives NaN.

    Accuracy: for float64 input, within 1e-13 relative of the distance
    between the exactly normalised histograms, at any number of bins
    (against exact rationals: ~1e-17 up to 1e8 bins, where a plain float64
    walk is off by 2e-11 at 3e5 random bins) and for nearly equal
    histograms (counts of ~1e6 with a few bins moved by one: ~1e-17);
    every order.  float32 input: within one float32 rounding of the exact
    value.  The support's gaps :math:`x_{k+1} - x_k` are rounded once
    each.  Method (order 1) [3]_, [4]_, [5]_: the row sums are
    double-double numbers; each term :math:`p_i m_q - q_i m_p` (:math:`m`:
    the sums times one power of two) is formed exactly with error-free
    products (FMA, or Dekker's splitting on CPUs without it: the same
    bits); the running difference is a double-double (TwoSum); the
    non-negative terms :math:`|D_k|\,\Delta x_k` are summed in blocks of
    64 folded into a double-double total, divided once by the
    double-double :math:`K`.  Other orders: the double-double quantile
    walk of :func:`wasserstein_1d`.  A row's value does not depend on the
    other rows, its memory layout, or the CPU tier.

    References
    ----------
    .. [1] C. Villani, *Optimal Transport: Old and New*, Springer, 2009.
    .. [2] A. Ramdas, N. García Trillos and M. Cuturi, "On Wasserstein
       two-sample testing and related families of nonparametric tests",
       Entropy 19(2), 47, 2017.
    .. [3] A. Neumaier, "Rundungsfehleranalyse einiger Verfahren zur
       Summation endlicher Summen", ZAMM 54(1), 39-51, 1974.
    .. [4] T. Ogita, S. M. Rump and S. Oishi, "Accurate sum and dot
       product", SIAM J. Sci. Comput. 26(6), 1955-1988, 2005.
    .. [5] N. J. Higham, *Accuracy and Stability of Numerical Algorithms*,
       2nd ed., SIAM, 2002, sec. 4.3.

    Examples
    --------
    >>> from kl_ext.wasserstein import wasserstein_hist
    >>> wasserstein_hist([1, 0, 0], [0, 0, 1])
    np.float64(2.0)
    >>> wasserstein_hist([[1, 1, 0], [0, 1, 1]], [0, 1, 1],
    ...                  support=[0.0, 0.5, 2.0])
    array([1., 0.])
    >>> wasserstein_hist([1, 0, 1], [0, 1, 0], order=2)
    np.float64(1.0)
    """
    mode, pw = _order(order)
    p = _coerce(p, "p")
    q = _coerce(q, "q")
    if p.dtype is not q.dtype:
        p = p.astype(_F64)
        q = q.astype(_F64)
    dtype = p.dtype
    if p.shape == q.shape:
        shape = p.shape
    else:
        try:
            shape = np.broadcast_shapes(p.shape, q.shape)
        except ValueError:
            raise ValueError(f"p with shape {p.shape} and q with shape {q.shape} "
                             "do not broadcast together") from None
    if not shape:
        raise ValueError("p and q must have at least one dimension (the bins)")
    ax = _axis(axis, len(shape))
    n = shape[ax]
    if n == 0:
        raise ValueError(f"cannot reduce over an empty axis (axis {axis} has length 0)")
    x = None if support is None else _aligned(_support(support, n))
    # a support wider than the float range: differences of half the
    # positions (exact but for subnormal ones), and the result doubled
    wide = x is not None and n > 1 and not math.isfinite(float(x[-1]) - float(x[0]))
    if wide:
        assert x is not None  # (wide implies a support)
        x = x * 0.5
    pb = np.moveaxis(np.broadcast_to(p, shape), ax, -1)
    qb = np.moveaxis(np.broadcast_to(q, shape), ax, -1)
    lead = pb.shape[:-1]
    rows = math.prod(lead)
    p2 = _as_rows(pb)
    q2 = _as_rows(qb)
    if p2 is None:
        p2 = np.ascontiguousarray(pb).reshape(rows, n)
    if q2 is None:
        q2 = np.ascontiguousarray(qb).reshape(rows, n)
    out = np.empty(rows)
    status = np.zeros(rows, dtype=np.int8)
    if mode == _P_ONE:
        flagged = _k.hist_rows(p2, q2, x, normalize, out, status)
        if flagged < 0:  # unaligned or odd strides: copy and try again
            flagged = _k.hist_rows(_aligned(p2), _aligned(q2), x, normalize, out, status)
            if flagged < 0:
                raise RuntimeError("kl_ext._wasserstein: unsupported memory layout")
        if flagged:
            errors = np.where(status == _ST_RESCALE, 0, status)
            if errors.any():
                _hist_error(errors, lead, p2, q2)
            _hist_rescaled(p2, q2, x, status, out)
    else:
        st = _hist_rows_general(p2, q2, x, n, mode, pw, out)
        if st is not None:
            _hist_error(st, lead, p2, q2)
    if wide:
        with np.errstate(over="ignore"):
            out *= 2.0
    if not lead:
        return _result(out[0], dtype)
    return _result(out.reshape(lead), dtype)


def _result(value: Any, dtype: np.dtype[np.floating[Any]]) -> Value:
    """float64 result(s) as `dtype`: a float32 result beyond float32's range
    is inf (no NumPy overflow warning)."""
    with np.errstate(over="ignore"):
        if isinstance(value, np.ndarray):
            return value.astype(dtype, copy=False)
        return dtype.type(value)


def _hist_rescaled(p2: _Arr, q2: _Arr, x: _F64A | None, status: NDArray[np.int8],
                   out: _F64A) -> None:
    """Order 1, normalised: the rows whose sums the kernel could not use
    (overflowing, subnormal or more than 2**1021 apart) with each histogram
    rescaled by a power of two; NaN for a row with an inf entry."""
    idx = np.flatnonzero(status == _ST_RESCALE)
    ps, qs = p2[idx], q2[idx]
    inf = np.isinf(ps).any(axis=-1) | np.isinf(qs).any(axis=-1)
    sub = np.empty(idx.size)
    st = np.zeros(idx.size, dtype=np.int8)
    _k.hist_rows(_pow2_rows(ps), _pow2_rows(qs), x, True, sub, st)
    sub[inf | (st != 0)] = np.nan
    out[idx] = sub


def _support(support: ArrayLike, n: int) -> _F64A:
    """`support` as float64 positions of n bins: 1-D, finite, sorted
    (ValueError otherwise)."""
    x = _coerce(support, "support").astype(_F64, copy=False)
    if x.shape != (n,):
        raise ValueError(f"support must be 1-D with one position per bin "
                         f"({n}), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("support must be finite")
    if n > 1 and not (x[1:] >= x[:-1]).all():
        raise ValueError("support must be sorted in ascending order")
    return x


def _hist_rows_general(p2: _Arr, q2: _Arr, x: _F64A | None, n: int, mode: int, pw: float,
                       out: _F64A) -> _Arr | None:
    """Orders other than 1: the quantile walk with the bins as weights.
    Returns a status array if a row is invalid, else None."""
    pf = p2.astype(_F64, copy=False)
    qf = q2.astype(_F64, copy=False)
    with np.errstate(over="ignore"):
        sp = pf.sum(axis=-1)
        sq = qf.sum(axis=-1)
    neg_p = (pf < 0).any(axis=-1)
    neg_q = (qf < 0).any(axis=-1)
    status = np.select([neg_p, neg_q, sp == 0, sq == 0], [1, 2, 3, 4], 0)
    if status.any():
        return status
    bad = ~(np.isfinite(sp) & np.isfinite(sq))
    if bad.any():
        # finite entries whose sum overflows: rescale those rows by a power
        # of two (exact; the walk normalises them); a NaN or inf entry stays
        # a NaN result
        big = bad & np.isfinite(pf).all(axis=-1) & np.isfinite(qf).all(axis=-1)
        if big.any():
            pf = np.where(big[:, np.newaxis], _pow2_rows(pf), pf)
            qf = np.where(big[:, np.newaxis], _pow2_rows(qf), qf)
            bad &= ~big
    xs = np.arange(n, dtype=_F64) if x is None else x
    xr = np.broadcast_to(xs, p2.shape)
    if bad.any():
        out[bad] = np.nan
        ok = ~bad
        if ok.any():
            sub = np.empty(int(ok.sum()))
            _call_rows(_QUANTILE, xr[ok], np.ascontiguousarray(pf[ok]), xr[ok],
                       np.ascontiguousarray(qf[ok]), mode, pw, sub)
            out[ok] = sub
        return None
    _call_rows(_QUANTILE, xr, pf, xr, qf, mode, pw, out)
    return None


def _hist_error(status: _Arr, lead: tuple[int, ...], p2: _Arr, q2: _Arr) -> NoReturn:
    i = int(np.flatnonzero(status)[0])
    st = int(status[i])
    where = _row_text(i, lead)
    if st in (1, 2):
        row, name = (p2, "p") if st == 1 else (q2, "q")
        r = row[i]
        v = r[np.flatnonzero(r < 0)[0]]
        raise ValueError(f"{name} must be non-negative, found {float(v)!r}{where}")
    name = "p" if st == 3 else "q"
    raise ValueError(f"{name} sums to 0{where}, so it cannot be normalized to a "
                     "probability distribution")
