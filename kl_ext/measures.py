"""Entropy, cross-entropy, KL, Jensen-Shannon and Jeffreys divergence, total
variation and Hellinger distance.

This file is the whole contract of the divergence measures: argument
validation, dtype coercion, broadcasting, the move of ``axis`` to the end,
dispatch to the float32/float64 Cython kernels in ``src/_divergence.pyx``,
and the handling of the rows that the kernels flag (errors, and the rare
rows with ``+inf`` entries or overflowing sums, which take an exact slow
path).  The kernels only see validated, typed memory.

Kernels: the best CPU tier built for this machine (``CPU_TIER``; see
``_cpu.py``).  Calls with >= 131072 elements run on the kernels' worker
threads (src/_pool.h; their number is OpenMP's, which ``OMP_NUM_THREADS``
or threadpoolctl limit); results do not depend on the thread count.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any, SupportsIndex

import numpy as np
from numpy.exceptions import AxisError
from numpy.typing import NDArray

from . import _cpu, _threads
from ._doc import fill
from ._table import BY_CODE, BY_NAME, MEASURES, STATUS
from ._typing import ArrayLike, FloatArray, Value

# the kernels for the best CPU tier built and supported here (see _cpu.py)
if TYPE_CHECKING:  # every tier has the interface of kl_ext/_divergence.pyi
    from . import _divergence
    _k = _divergence
    CPU_TIER: str
else:
    _k, CPU_TIER = _cpu.load("kl_ext._divergence")

# the public measures, in the table's order
__all__ = [m.name for m in MEASURES]

_F64 = np.dtype(np.float64)
_F32 = np.dtype(np.float32)

# measure codes of the kernels, from the table of measures (kl_ext/_table.py;
# _JS_DISTANCE: `small` only)
_ENTROPY = BY_NAME["entropy"].code
_CROSS_ENTROPY = BY_NAME["cross_entropy"].code
_KL = BY_NAME["kl_divergence"].code
_JS = BY_NAME["js_divergence"].code
_JS_DISTANCE = BY_NAME["js_distance"].code
_TV = BY_NAME["total_variation"].code
_HELLINGER = BY_NAME["hellinger_distance"].code
_JEFFREYS = BY_NAME["jeffreys_divergence"].code
# bound once: each call then skips a global and an attribute lookup
_small = _k.small
# row status codes returned by the kernels
_ST_NEG_P, _ST_NEG_Q, _ST_ZERO_P, _ST_ZERO_Q, _ST_NONFINITE, _ST_LAYOUT = (
    STATUS[k] for k in ("ST_NEG_P", "ST_NEG_Q", "ST_ZERO_P", "ST_ZERO_Q",
                        "ST_NONFINITE", "ST_LAYOUT"))


# _small: every public measure first offers its arguments to _k.small, which
# answers the plainest 1-D call (two native float64/float32 ndarrays of one
# dtype and length, default axis, no smoothing, base None or > 1) in C and
# returns None for anything else, or for a row with any problem; the code
# below then runs as if `small` did not exist and owns every check and error.
# Results are identical either way (same kernel, same rounding of the base
# and dtype); tests/test_measures.py::test_small_path_matches_general checks it.


class _AxisTypeError(TypeError, ValueError):
    """A non-integer `axis` (both a TypeError and a ValueError)."""


def _coerce(x: ArrayLike, name: str) -> FloatArray:
    """Return `x` as an ndarray of dtype float32 or float64 (no copy if it is one).

    Integers and bools become float64, float16 becomes float32, long double
    becomes float64.  Complex, object, string, datetime and void raise
    TypeError.
    """
    a = x if type(x) is np.ndarray else np.asarray(x)
    dt = a.dtype
    if dt is _F64 or dt is _F32:
        return a
    kind = dt.kind
    if kind == "f":
        if dt.itemsize <= 4:
            return a.astype(_F32)
        return a.astype(_F64)
    if kind in "biu":
        return a.astype(_F64)
    if kind == "c":
        raise TypeError(f"{name} must be real-valued, got complex dtype {dt}")
    raise TypeError(f"{name} must be a real numeric array, got dtype {dt}")


def _smoothing(alpha: object) -> float:
    """The additive-smoothing constant as a float: a finite real >= 0."""
    if type(alpha) is float and alpha == 0.0:  # the default: no work at all
        return 0.0
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(
            alpha, (int, float, np.integer, np.floating)):
        raise TypeError(f"smoothing must be a real number, got {alpha!r}")
    a = float(alpha)
    if not (a >= 0.0 and math.isfinite(a)):
        raise ValueError(f"smoothing must be a finite number >= 0, got {alpha!r}")
    return a


def _smooth(a: FloatArray, alpha: float) -> FloatArray:
    """a + alpha as a new array of a's dtype (float32 stays float32).

    Negative entries are left as they are, so the kernels still reject them
    with the usual message (smoothing must not hide invalid counts).
    """
    with np.errstate(invalid="ignore"):
        return np.where(a < 0, a, a + alpha)


def _log_base(base: Any) -> float | None:
    """log(base), or None for nats.  base must be a finite real > 0, != 1."""
    if base is None:
        return None
    try:
        b = float(base)
    except (TypeError, ValueError):
        raise TypeError(f"base must be a real number, got {base!r}") from None
    if not (b > 0.0 and b != 1.0 and math.isfinite(b)):
        raise ValueError(f"base must be a finite number > 0 and != 1, got {base!r}")
    return math.log(b)


def _axis(axis: object, ndim: int) -> int:
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise _AxisTypeError(f"axis must be an integer, got {axis!r}")
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise AxisError(axis, ndim)
    return axis % ndim


def _as_rows(a: FloatArray) -> FloatArray | None:
    """View an (..., n) array as (rows, n) without copying, or None."""
    if a.ndim == 2:
        return a
    if a.ndim == 1:
        return a[np.newaxis]
    n = a.shape[-1]
    lead, strides = a.shape[:-1], a.strides[:-1]
    dims = [(s, st) for s, st in zip(lead, strides) if s != 1]
    if any(s == 0 for s, _ in dims):
        return a.reshape(0, n)
    for (s0, st0), (s1, st1) in zip(dims, dims[1:]):
        if st0 != st1 * s1:
            return None
    rows = math.prod(lead)
    return a.reshape(rows, n)  # a view: the leading strides merge


def _unit_stride(a: FloatArray) -> FloatArray:
    """(rows, n) view `a` with unit element stride, which the SIMD loops need.

    Rows of >= 8 elements that are strided (a transposed array, axis=0 of a
    C array) are copied once, which costs less than the scalar strided loop;
    a broadcast row (row stride 0) is copied as one row, never per row.
    """
    if a.shape[1] < 8 or a.strides[1] == a.itemsize:
        return a
    if a.strides[0] == 0:
        return np.broadcast_to(np.ascontiguousarray(a[0]), a.shape)
    return np.ascontiguousarray(a)


def _run(measure: int, pb: FloatArray, qb: FloatArray, normalize: bool,
         out: NDArray[np.float64], status: NDArray[np.int8]) -> int:
    """Call the row kernel on (..., n) views; recurse where rows don't merge."""
    p2 = _as_rows(pb)
    q2 = _as_rows(qb)
    if p2 is None or q2 is None:
        return sum(_run(measure, pb[i], qb[i], normalize, out[i], status[i])
                   for i in range(pb.shape[0]))
    p2 = _unit_stride(p2)
    q2 = _unit_stride(q2)
    o = out.reshape(-1)
    s = status.reshape(-1)
    nt = getattr(_threads._local, "n", 0)  # _threads.current(), inlined
    flagged = _k.rows(measure, p2, q2, normalize, o, s, nt)
    if flagged < 0:  # unaligned or odd strides: copy and try again
        # (np.ascontiguousarray keeps an unaligned C-contiguous array as it
        # is; np.require with "A" copies it to aligned memory)
        flagged = _k.rows(measure, np.require(p2, requirements=["C", "A"]),
                          np.require(q2, requirements=["C", "A"]), normalize, o, s, nt)
    return flagged


def _row_text(idx: int, lead: tuple[int, ...]) -> str:
    if not lead:
        return ""
    pos: Any = np.unravel_index(idx, lead)
    origin = _threads.row_origin()  # a kl_ext.dask task: global row numbers
    if origin:
        pos = tuple(int(i) + o for i, o in zip(pos, origin))
    pos = pos[0] if len(pos) == 1 else tuple(int(i) for i in pos)
    return f" in row {int(pos)}" if not isinstance(pos, tuple) else f" in row {pos}"


def _resolve(measure: int, name_q: str, pb: FloatArray, qb: FloatArray, normalize: bool,
             out: NDArray[np.float64], status: NDArray[np.int8]) -> None:
    """Raise for rows flagged as errors; recompute non-finite rows exactly."""
    lead = out.shape
    flat_status = status.reshape(-1)
    flat_out = out.reshape(-1)
    flagged = np.flatnonzero(flat_status)
    if normalize:  # an overflowing sum is flagged first; the other row may sum to 0
        for i in flagged[flat_status[flagged] == _ST_NONFINITE]:
            pos = np.unravel_index(int(i), lead) if lead else ()
            if not pb[pos].any():
                flat_status[i] = _ST_ZERO_P
            elif not qb[pos].any():
                flat_status[i] = _ST_ZERO_Q
    errors = flagged[flat_status[flagged] != _ST_NONFINITE]
    if errors.size:
        i = int(errors[0])
        st = int(flat_status[i])
        where = _row_text(i, lead)
        pos = np.unravel_index(i, lead) if lead else ()
        if st not in (_ST_NEG_P, _ST_NEG_Q, _ST_ZERO_P, _ST_ZERO_Q):
            # e.g. ST_BAD_MEASURE: a code missing from this build's kernels
            raise RuntimeError(f"kl_ext kernel returned status {st} for measure "
                               f"code {measure}{where} (a build older than "
                               "kl_ext/_table.py?)")
        if st in (_ST_NEG_P, _ST_NEG_Q):
            row, name = (pb, "p") if st == _ST_NEG_P else (qb, name_q)
            row = row[pos]
            v = row[np.flatnonzero(row < 0)[0]]
            raise ValueError(f"{name} must be non-negative, found {float(v)!r}{where}")
        name = "p" if st == _ST_ZERO_P else name_q
        raise ValueError(f"{name} sums to 0{where}, so it cannot be normalized "
                         "to a probability distribution")
    for i in flagged:
        pos = np.unravel_index(int(i), lead) if lead else ()
        flat_out[i] = _nonfinite_row(measure, pb[pos], qb[pos], normalize)


def _nonfinite_row(measure: int, p: FloatArray, q: FloatArray, normalize: bool) -> float:
    """Exact value for a row with a +inf entry, a sum that overflows, or
    (normalize) sums so small, large or unequal that the kernel's one-pass
    forms would under- or overflow."""
    if normalize:
        if measure == _ENTROPY:
            q = p
        if np.isinf(p).any() or np.isinf(q).any():
            return math.nan  # p / sum(p) is inf/inf: NaN, as in SciPy
        # every entry is finite but a sum overflows or is far from 1:
        # rescale by a power of two (exact, and normalisation is scale-free)
        p = p.astype(np.float64)
        q = q.astype(np.float64)
        ep = math.frexp(float(p.max()))[1]
        eq = math.frexp(float(q.max()))[1]
        with np.errstate(under="ignore"):
            ps = np.ldexp(p, -ep)
            qs = np.ldexp(q, -eq)
        if measure in (_KL, _CROSS_ENTROPY, _JEFFREYS):
            # A row spanning more than the double range: a normalised entry
            # below 2^-1021 is subnormal or 0 once scaled, but its logarithm
            # is not small (KL([1e-300, 1e300], [1e300, 1e-300]) ~ 1381.55).
            tiny = ((p > 0.0) & (ps < _DBL_MIN)) | ((q > 0.0) & (qs < _DBL_MIN))
            if tiny.any():
                if measure == _JEFFREYS:
                    if ((p > 0.0) != (q > 0.0)).any():
                        return math.inf
                    return (_kl_spanning(p, q, ps, qs, ep, eq, tiny)
                            + _kl_spanning(q, p, qs, ps, eq, ep, tiny))
                if ((p > 0.0) & (q == 0.0)).any():
                    return math.inf
                value = _kl_spanning(p, q, ps, qs, ep, eq, tiny)
                if measure == _CROSS_ENTROPY:  # H(p, q) = H(p) + KL(p || q), both >= 0
                    h, st = _k.one(_ENTROPY, ps, ps, True)
                    value += h if st == 0 else math.nan
                return value
        value, st = _k.one(measure, ps, qs, True)
        return value if st == 0 else math.nan
    from . import reference
    fn = getattr(reference, BY_CODE[measure].reference)
    with np.errstate(all="ignore"):
        if measure == _ENTROPY:
            return float(fn(p.astype(np.float64), normalize=False))
        return float(fn(p.astype(np.float64), q.astype(np.float64), normalize=False))


_DBL_MIN = 2.0 ** -1022
_LN2 = math.log(2.0)


def _kl_spanning(p: FloatArray, q: FloatArray, ps: FloatArray, qs: FloatArray,
                 ep: int, eq: int, tiny: NDArray[np.bool_]) -> float:
    """KL(p || q) of a row whose normalised entries leave the double range.

    ps = p 2^-ep and qs = q 2^-eq are the scaled rows (maxima in [1/2, 1)),
    `tiny` marks the entries where either is positive but below 2^-1022,
    and q > 0 wherever p > 0.  The other entries R go to the kernel,
    which gives KL(pi || rho) of p and q restricted to R and normalised
    there; with a = p's mass on R and b = q's (each 1 - the mass on the
    tiny entries, as log1p), KL = a (KL(pi || rho) + log(a/b)) plus the
    tiny entries' terms p_i (log p_i - log q_i), their logs taken from the
    unscaled entries.  Every part is exact to rounding, and the parts do
    not cancel beyond a factor ~1/700 (a tiny entry's log ratio is at least
    ~700 where its mass is not itself negligible).
    """
    sp = math.fsum(ps.tolist())
    sq = math.fsum(qs.tolist())
    pr = np.where(tiny, 0.0, ps)
    qr = np.where(tiny, 0.0, qs)
    parts = []
    if pr.any():  # p has mass on R (and so has q)
        log_a = _log_share(pr, ps[tiny], sp)
        log_b = _log_share(qr, qs[tiny], sq)
        # KL is scale-free: R's own power-of-two scaling keeps its sums in range
        pr = np.ldexp(pr, -math.frexp(float(pr.max()))[1])
        qr = np.ldexp(qr, -math.frexp(float(qr.max()))[1])
        k, st = _k.one(_KL, pr, qr, True)
        if st != 0:
            return math.nan
        parts.append(math.exp(log_a) * (k + (log_a - log_b)))
    i = np.flatnonzero(tiny & (p > 0.0))
    if i.size:
        a, b = p[i], q[i]
        with np.errstate(all="ignore"):
            r = a / b
            lr = np.where((r >= _DBL_MIN) & (r <= np.finfo(np.float64).max),
                          np.log(r), np.log(a) - np.log(b))
        lr += (eq - ep) * _LN2 + math.log(sq / sp)
        w = ps[i] / sp
        parts.extend((w * lr).tolist())
    return math.fsum(parts)


def _log_share(kept: FloatArray, dropped: FloatArray, total: float) -> float:
    """log(sum(kept) / total), where total = sum(kept) + sum(dropped) >= 1/2:
    log1p of the dropped share where it is small, else the log of the kept
    share (so neither form cancels)."""
    d = math.fsum(dropped.tolist())
    if d <= 0.5 * total:
        return math.log1p(-d / total)
    return math.log(math.fsum(kept.tolist())) - math.log(total)


def _broadcast_last(p: FloatArray, q: FloatArray, axis: object,
                    name_q: str = "q") -> tuple[FloatArray, FloatArray]:
    """Broadcast views of p and q (no copies), check `axis`, move it last.

    Raises ValueError for shapes that don't broadcast, an invalid axis or
    an empty reduction axis.
    """
    if p.shape == q.shape:
        shape = p.shape
    else:
        try:
            shape = np.broadcast_shapes(p.shape, q.shape)
        except ValueError:
            raise ValueError(f"p with shape {p.shape} and {name_q} with shape "
                             f"{q.shape} do not broadcast together") from None
    ax = _axis(axis, len(shape))
    if shape[ax] == 0:
        raise ValueError(f"cannot reduce over an empty axis (axis {axis} has length 0)")
    return (np.moveaxis(np.broadcast_to(p, shape), ax, -1),
            np.moveaxis(np.broadcast_to(q, shape), ax, -1))


def _coerce_pair(p: ArrayLike, q: ArrayLike | None, name_q: str = "q",
                 smoothing: float = 0.0) -> tuple[FloatArray, FloatArray]:
    """p and q as float arrays of one dtype (float32 only if both are),
    smoothed by a validated alpha; q None: q is p (entropy)."""
    p = _coerce(p, "p")
    q = p if q is None else _coerce(q, name_q)
    if smoothing:  # alpha > 0: smoothed copies
        same = q is p
        p = _smooth(p, smoothing)
        q = p if same else _smooth(q, smoothing)
    if p.dtype is not q.dtype:
        p = p.astype(_F64)
        q = q.astype(_F64)
    return p, q


def _compute(measure: int, p: ArrayLike, q: ArrayLike | None, axis: object, normalize: bool,
             name_q: str = "q", smoothing: float = 0.0
             ) -> tuple[float | NDArray[np.float64], np.dtype[np.floating[Any]]]:
    """Validated measure in nats: float64 ndarray (or float) and result dtype."""
    p, q = _coerce_pair(p, q, name_q, smoothing)
    dtype = p.dtype
    # fast path: one pair of 1-D arrays
    if (p.ndim == 1 and q.ndim == 1 and (axis == -1 or axis == 0)
            and type(axis) is int):
        n = p.shape[0]
        if n == q.shape[0] and n:
            value, st = _k.one(measure, p, q, normalize, _threads.current())
            if st == 0:
                if value != value and not normalize and measure in _SIGNED:
                    value = _signed_overflow(measure, p, q, value)
                return value, dtype
    pb, qb = _broadcast_last(p, q, axis, name_q)
    lead = pb.shape[:-1]
    out = np.empty(lead, dtype=_F64)
    status = np.zeros(lead, dtype=np.int8)
    # an empty batch (a zero-length axis other than `axis`) has no rows to run
    if out.size and _run(measure, pb, qb, normalize, out, status):
        _resolve(measure, name_q, pb, qb, normalize, out, status)
    if not normalize and measure in _SIGNED and out.size:
        flat = out.reshape(-1)
        for i in np.flatnonzero(np.isnan(flat)):
            pos = np.unravel_index(int(i), lead) if lead else ()
            flat[i] = _signed_overflow(measure, pb[pos], qb[pos], float(flat[i]))
    return (out if lead else float(out)), dtype


# unnormalised measures whose terms take both signs: +inf and -inf terms
# (p log q beyond the double range) add up to NaN in the kernels
_SIGNED = frozenset((_KL, _CROSS_ENTROPY))


def _signed_overflow(measure: int, p: FloatArray, q: FloatArray, value: float) -> float:
    """The unnormalised KL (sum p log(p/q)) or cross-entropy (-sum p log q)
    of a row of finite entries whose terms overflowed with both signs (the
    kernel's NaN): the terms scaled by 2^-e (e the exponent of max p), summed,
    and scaled back, so the result overflows only if the sum does.  A row
    with NaN or inf keeps `value`."""
    p = p.astype(np.float64)
    q = q.astype(np.float64)
    if not (np.isfinite(p).all() and np.isfinite(q).all()):
        return value
    if ((p > 0.0) & (q == 0.0)).any():
        return math.inf
    keep = p > 0.0
    a, b = p[keep], q[keep]
    with np.errstate(all="ignore"):
        if measure == _KL:
            r = a / b
            lr = np.where((r >= _DBL_MIN) & (r <= np.finfo(np.float64).max),
                          np.log(r), np.log(a) - np.log(b))
        else:
            lr = -np.log(b)
        e = math.frexp(float(a.max()))[1]
        total = math.fsum((np.ldexp(a, -e) * lr).tolist())
        return float(np.ldexp(total, e))


def _finish(value: float | NDArray[np.float64], dtype: np.dtype[np.floating[Any]],
            log_base: float | None) -> Value:
    if log_base is not None:
        value = value / log_base
    if dtype is _F64:  # no rounding, so nothing to silence (errstate costs ~1 us)
        return dtype.type(value) if isinstance(value, float) else value
    with np.errstate(over="ignore"):  # float32 beyond its range: inf, no warning
        if isinstance(value, float):
            return dtype.type(value)
        return value.astype(dtype, copy=False)


@fill
def entropy(p: ArrayLike, *, base: float | None = None, axis: SupportsIndex = -1,
            normalize: bool = True, smoothing: float = 0.0) -> Value:
    r"""Shannon entropy of each distribution along `axis`.

    Parameters
    ----------
    p : array_like of shape (..., n, ...)
        Non-negative weights (probabilities, or counts when `normalize` is
        True).  Integer and bool input is treated as float64.
    base : float, optional
        Logarithm base; any finite ``base > 0`` other than 1.  Default: nats
        (natural log); ``base=2`` gives bits.
    axis : int, default -1
        Axis of `p` along which each distribution lies.
    normalize : bool, default True
        Divide each distribution by its sum first, as ``scipy.stats.entropy``
        does.  With False the values are used as given.
    %(smoothing)s

    Returns
    -------
    h : numpy.float64/float32 or ndarray
        The entropies, with `axis` removed from the shape (a NumPy scalar for
        1-D input).  float32 input gives float32 (accumulated in float64);
        everything else float64.

    Raises
    ------
    ValueError
        If `p` has a negative entry, `axis` is out of range, the reduction
        axis is empty, `base` is not > 0 and != 1, or (with `normalize`) a
        distribution sums to 0.  The message names the row.
        A negative or non-finite `smoothing` raises ValueError too.
    TypeError
        If `p` is complex, object, string or another non-numeric dtype.
        Also for a `smoothing` that is not a real number.

    See Also
    --------
    scipy.stats.entropy : the SciPy function this mirrors (with ``qk=None``).
    cross_entropy, kl_divergence

    Notes
    -----
    .. math:: H(p) = -\sum_i p_i \log p_i

    with :math:`0 \log 0 = 0`.  With ``normalize=True`` this is computed in
    one pass as :math:`H(p/s) = \log s - \frac{1}{s}\sum_i p_i \log p_i`,
    :math:`s = \sum_i p_i`; when that form would cancel, or the entropy
    is below 1/8 nat (a nearly degenerate distribution), a second pass sums
    the non-negative terms :math:`\frac{p_i}{s}\log\frac{s}{p_i}`, with the
    largest entry's term formed as :math:`\log(1 + r/p_i)` from the sum
    :math:`r` of the others, so the rounding of :math:`s` does not enter
    (``entropy([1, 1e-6])`` is exact to ~1e-16; SciPy's is ~1e-11 off).  A NaN anywhere in a row gives
    NaN; an ``+inf`` entry gives NaN when normalising (inf/inf, as SciPy) and
    ``-inf`` otherwise (``scipy.special.entr``).  Normalised results are
    never below 0.

    %(smoothing_notes)s

    References
    ----------
    .. [1] T. M. Cover and J. A. Thomas, *Elements of Information Theory*,
       2nd ed., Wiley, 2006, eq. (2.1).
    %(smoothing_ref)s

    Examples
    --------
    >>> import kl_ext
    >>> kl_ext.entropy([1, 1, 1, 1], base=2)
    np.float64(2.0)
    >>> kl_ext.entropy([[0.5, 0.5], [1.0, 0.0]])
    array([0.69314718, 0.        ])
    """
    r = _small(_ENTROPY, p, None, axis, normalize, smoothing, base)
    if r is not None:  # the common 1-D call, answered in C (see _small)
        return r
    lb = _log_base(base)
    value, dtype = _compute(_ENTROPY, p, None, axis, normalize,
                            smoothing=_smoothing(smoothing))
    return _finish(value, dtype, lb)


@fill
def cross_entropy(p: ArrayLike, q: ArrayLike, *, base: float | None = None,
                  axis: SupportsIndex = -1, normalize: bool = True,
                  smoothing: float = 0.0) -> Value:
    r"""Cross-entropy of `q` relative to `p`, along `axis`.

    Parameters
    ----------
    p, q : array_like
        Non-negative weights; they broadcast against each other with NumPy
        rules (e.g. one reference row `q` of shape (n,) against `p` of shape
        (m, n), read in place without copying).  Integer and bool input is
        treated as float64.
    %(base)s
    %(axis)s
    normalize : bool, default True
        Divide each row of `p` and of `q` by its sum first.
    %(smoothing)s

    Returns
    -------
    h : numpy.float64/float32 or ndarray
        Broadcast shape without `axis`; float32 only if both inputs are
        float32 (accumulated in float64), else float64.

    Raises
    ------
    ValueError
        For a negative entry, shapes that don't broadcast, an empty or
        out-of-range axis, an invalid `base`, or (with `normalize`) a row
        that sums to 0; the message names the argument and the row.
        A negative or non-finite `smoothing` raises ValueError too.
    %(raises_type)s

    See Also
    --------
    entropy, kl_divergence : H(p, q) = H(p) + D(p‖q).

    Notes
    -----
    .. math:: H(p, q) = -\sum_i p_i \log q_i

    with :math:`0 \log q = 0` for every q (also 0 and +inf) and
    :math:`+\infty` wherever :math:`p_i > 0 = q_i`.  NaN anywhere in a row
    gives NaN.  Normalised in one pass:
    :math:`H(p/s_p, q/s_q) = \log s_q - \frac{1}{s_p}\sum_i p_i\log q_i`,
    with an exact second pass when that form cancels.

    %(smoothing_notes)s

    References
    ----------
    .. [1] T. M. Cover and J. A. Thomas, *Elements of Information Theory*,
       2nd ed., Wiley, 2006, sec. 2.3 and 5.4.
    %(smoothing_ref)s

    Examples
    --------
    >>> import kl_ext
    >>> kl_ext.cross_entropy([0.5, 0.5], [0.25, 0.75], base=2)
    np.float64(1.207518749639422)
    >>> kl_ext.cross_entropy([1, 0], [0, 1])
    np.float64(inf)
    """
    r = _small(_CROSS_ENTROPY, p, q, axis, normalize, smoothing, base)
    if r is not None:  # the common 1-D call, answered in C (see _small)
        return r
    lb = _log_base(base)
    value, dtype = _compute(_CROSS_ENTROPY, p, q, axis, normalize,
                            smoothing=_smoothing(smoothing))
    return _finish(value, dtype, lb)


@fill
def kl_divergence(p: ArrayLike, q: ArrayLike, *, base: float | None = None,
                  axis: SupportsIndex = -1, normalize: bool = True,
                  smoothing: float = 0.0) -> Value:
    r"""Kullback-Leibler divergence D(p‖q) along `axis`.

    Parameters
    ----------
    p, q : array_like
        Non-negative weights that broadcast against each other (one
        reference row `q` of shape (n,) against `p` of shape (m, n) is read
        in place, never copied).  Integer and bool input is treated as
        float64.
    %(base)s
    %(axis)s
    normalize : bool, default True
        Divide each row of `p` and `q` by its sum first, as
        ``scipy.stats.entropy(p, q)`` does.  With False the result is
        ``sum(scipy.special.rel_entr(p, q))`` of the values as given (which
        can be negative when they are not normalised).
    %(smoothing)s

    Returns
    -------
    d : numpy.float64/float32 or ndarray
        Broadcast shape without `axis`; float32 only if both inputs are
        float32 (accumulated in float64), else float64.  Normalised results
        are >= 0.

    Raises
    ------
    ValueError
        For a negative entry, shapes that don't broadcast, an empty or
        out-of-range axis, an invalid `base`, or (with `normalize`) a row
        that sums to 0; the message names the argument and the row.
        A negative or non-finite `smoothing` raises ValueError too.
    %(raises_type)s

    See Also
    --------
    scipy.stats.entropy : ``entropy(p, q)`` is the same quantity.
    scipy.special.rel_entr : the element-wise terms.
    js_divergence

    Notes
    -----
    .. math:: D(p \,\|\, q) = \sum_i p_i \log \frac{p_i}{q_i}

    with :math:`0 \log(0/q) = 0` and :math:`+\infty` where
    :math:`p_i > 0 = q_i` (disjoint supports).  NaN anywhere in a row gives
    NaN.  The kernel sums the non-negative terms
    :math:`p_i \log(p_i/q_i) - p_i + q_i` (``scipy.special.kl_div``), each
    evaluated by a series when :math:`p_i \approx q_i`, so the result keeps
    its relative accuracy even when D is ~1e-15 (drift monitoring), where
    summing :math:`p\log(p/q)` cancels.  Normalisation costs no extra pass:
    :math:`D(p/s_p\|q/s_q) = T/s_p + \log(1 + d) - d`,
    :math:`d = (s_q - s_p)/s_p`, with an exact second pass when the two
    parts cancel.

    %(smoothing_notes)s

    %(accuracy_near)s

    References
    ----------
    .. [1] S. Kullback and R. A. Leibler, "On information and sufficiency",
       Ann. Math. Statist. 22(1), 79-86, 1951.
    .. [2] scipy.special.rel_entr and kl_div; SciPy issue 20710 on accuracy
       near p = q.
    %(smoothing_ref)s
    %(accuracy_ref)s

    Examples
    --------
    >>> import kl_ext
    >>> kl_ext.kl_divergence([0.5, 0.5], [0.9, 0.1])
    np.float64(0.5108256237659906)
    >>> kl_ext.kl_divergence([[1, 1], [1, 3]], [1, 1], base=2)
    array([0.        , 0.18872188])
    >>> kl_ext.kl_divergence([1, 1], [1, 0])
    np.float64(inf)
    >>> kl_ext.kl_divergence([1, 1], [1, 0], smoothing=1)  # Laplace: [2, 2] vs [2, 1]
    np.float64(0.058891517828191714)
    """
    r = _small(_KL, p, q, axis, normalize, smoothing, base)
    if r is not None:  # the common 1-D call, answered in C (see _small)
        return r
    lb = _log_base(base)
    value, dtype = _compute(_KL, p, q, axis, normalize,
                            smoothing=_smoothing(smoothing))
    return _finish(value, dtype, lb)


@fill
def js_divergence(p: ArrayLike, q: ArrayLike, *, base: float | None = None,
                  axis: SupportsIndex = -1, normalize: bool = True,
                  smoothing: float = 0.0) -> Value:
    r"""Jensen-Shannon divergence between `p` and `q` along `axis`.

    Parameters
    ----------
    %(pq)s
    %(base)s
    %(axis)s
    normalize : bool, default True
        Divide each row of `p` and `q` by its sum first (as
        ``scipy.spatial.distance.jensenshannon`` always does).
    %(smoothing)s

    Returns
    -------
    js : numpy.float64/float32 or ndarray
        Broadcast shape without `axis`; float32 only if both inputs are
        float32.  Always >= 0; normalised results are <= log 2 (1 bit).

    Raises
    ------
    ValueError
        For a negative entry, shapes that don't broadcast, an empty or
        out-of-range axis, an invalid `base`, or (with `normalize`) a row
        that sums to 0; the message names the argument and the row.
        A negative or non-finite `smoothing` raises ValueError too.
    %(raises_type)s

    See Also
    --------
    js_distance : its square root, ``scipy.spatial.distance.jensenshannon``.
    kl_divergence

    Notes
    -----
    .. math::

        JS(p, q) = \tfrac12 D(p\|m) + \tfrac12 D(q\|m), \qquad m = \tfrac12(p + q)

    Each element contributes
    :math:`\frac12[p\log\frac{2p}{p+q} + q\log\frac{2q}{p+q}] \ge 0`,
    formed from :math:`p + q` (never from :math:`m`, which can underflow
    for subnormal inputs) and evaluated by a series when :math:`p \approx q`.
    Zeros contribute nothing; NaN anywhere gives NaN; ``+inf`` gives NaN.
    Normalising takes two passes over each row (the sums first).

    %(smoothing_notes)s

    %(accuracy_near)s

    References
    ----------
    .. [1] J. Lin, "Divergence measures based on the Shannon entropy",
       IEEE Trans. Inf. Theory 37(1), 145-151, 1991.
    %(smoothing_ref)s
    %(accuracy_ref)s

    Examples
    --------
    >>> import kl_ext
    >>> kl_ext.js_divergence([1, 0], [0, 1], base=2)
    np.float64(1.0)
    >>> round(float(kl_ext.js_divergence([0.5, 0.5], [0.9, 0.1])), 12)  # last digits: CPU tier
    0.101749225079
    """
    r = _small(_JS, p, q, axis, normalize, smoothing, base)
    if r is not None:  # the common 1-D call, answered in C (see _small)
        return r
    lb = _log_base(base)
    value, dtype = _compute(_JS, p, q, axis, normalize,
                            smoothing=_smoothing(smoothing))
    return _finish(value, dtype, lb)


@fill
def js_distance(p: ArrayLike, q: ArrayLike, *, base: float | None = None,
                axis: SupportsIndex = -1, normalize: bool = True,
                smoothing: float = 0.0) -> Value:
    r"""Jensen-Shannon distance, the square root of :func:`js_divergence`.

    Equal to ``scipy.spatial.distance.jensenshannon(p, q, base, axis=axis)``
    (which always normalises) but never NaN for valid input
    (scipy/scipy#20083: SciPy's rounding can make the radicand negative).

    Parameters
    ----------
    p, q : array_like
        Non-negative weights that broadcast against each other.
    base : float, optional
        Logarithm base of the divergence under the root; must be > 1 here
        (the divergence is negative for bases below 1).  Default nats.
    %(axis)s
    %(normalize)s
    %(smoothing)s

    Returns
    -------
    d : numpy.float64/float32 or ndarray
        Broadcast shape without `axis`; in [0, sqrt(log 2)] nats, [0, 1]
        with ``base=2``, when normalised.  float32 only if both inputs are
        float32.

    Raises
    ------
    ValueError
        As :func:`js_divergence`, and for ``0 < base < 1``.
        A negative or non-finite `smoothing` raises ValueError too.
    %(raises_type)s

    See Also
    --------
    scipy.spatial.distance.jensenshannon, js_divergence

    Notes
    -----
    .. math:: d_{JS}(p, q) = \sqrt{JS(p, q)}

    A metric on probability distributions (Endres and Schindelin).

    %(smoothing_notes)s

    %(accuracy_near)s

    References
    ----------
    .. [1] D. M. Endres and J. E. Schindelin, "A new metric for probability
       distributions", IEEE Trans. Inf. Theory 49(7), 1858-1860, 2003.
    %(smoothing_ref)s
    %(accuracy_ref)s

    Examples
    --------
    >>> import kl_ext
    >>> kl_ext.js_distance([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], base=2)
    np.float64(1.0)
    >>> round(float(kl_ext.js_distance([1.0, 0.0], [0.5, 0.5])), 12)  # last digits: CPU tier
    0.464501404022
    """
    r = _small(_JS_DISTANCE, p, q, axis, normalize, smoothing, base)
    if r is not None:  # the common 1-D call, answered in C (see _small)
        return r
    lb = _log_base(base)
    if lb is not None and lb < 0:
        raise ValueError(f"js_distance needs base > 1 (the divergence is negative "
                         f"in base {base!r}, so it has no real square root)")
    value, dtype = _compute(_JS, p, q, axis, normalize,
                            smoothing=_smoothing(smoothing))
    if lb is not None:
        value = value / lb
    if type(value) is float:  # >= 0 or NaN: math.sqrt never raises here
        return dtype.type(math.sqrt(value))
    with np.errstate(over="ignore"):
        return np.sqrt(value).astype(dtype, copy=False)


@fill
def total_variation(p: ArrayLike, q: ArrayLike, *, axis: SupportsIndex = -1,
                    normalize: bool = True, smoothing: float = 0.0) -> Value:
    r"""Total variation distance between `p` and `q` along `axis`.

    Parameters
    ----------
    %(pq)s
    %(axis)s
    %(normalize)s
    %(smoothing)s

    Returns
    -------
    tv : numpy.float64/float32 or ndarray
        Broadcast shape without `axis`; in [0, 1] when normalised.  float32
        only if both inputs are float32 (accumulated in float64).

    Raises
    ------
    ValueError
        For a negative entry, shapes that don't broadcast, an empty or
        out-of-range axis, or (with `normalize`) a row that sums to 0.
        A negative or non-finite `smoothing` raises ValueError too.
    %(raises_type)s

    See Also
    --------
    js_distance, kl_divergence : Pinsker: TV <= sqrt(D/2) (nats).

    Notes
    -----
    .. math:: TV(p, q) = \tfrac12 \sum_i |p_i - q_i| = \max_A |P(A) - Q(A)|

    NaN anywhere in a row gives NaN; ``+inf`` gives NaN when normalising.
    Unitless (no `base`).

    %(smoothing_notes)s

    %(accuracy_near)s

    References
    ----------
    .. [1] A. B. Tsybakov, *Introduction to Nonparametric Estimation*,
       Springer, 2009, sec. 2.4.
    %(smoothing_ref)s
    %(accuracy_ref)s

    Examples
    --------
    >>> import kl_ext
    >>> kl_ext.total_variation([0.5, 0.5], [0.9, 0.1])
    np.float64(0.4)
    >>> kl_ext.total_variation([[1, 0], [1, 1]], [0, 1])
    array([1. , 0.5])
    """
    r = _small(_TV, p, q, axis, normalize, smoothing, None)
    if r is not None:  # the common 1-D call, answered in C (see _small)
        return r
    value, dtype = _compute(_TV, p, q, axis, normalize,
                            smoothing=_smoothing(smoothing))
    return _finish(value, dtype, None)


@fill
def hellinger_distance(p: ArrayLike, q: ArrayLike, *, axis: SupportsIndex = -1,
                       normalize: bool = True, smoothing: float = 0.0) -> Value:
    r"""Hellinger distance between `p` and `q` along `axis`.

    Parameters
    ----------
    %(pq)s
    %(axis)s
    %(normalize)s
    %(smoothing)s

    Returns
    -------
    h : numpy.float64/float32 or ndarray
        Broadcast shape without `axis`; in [0, 1] when normalised: 0 for
        equal distributions, 1 for disjoint supports.  float32 only if both
        inputs are float32 (accumulated in float64).

    Raises
    ------
    ValueError
        For a negative entry, shapes that don't broadcast, an empty or
        out-of-range axis, or (with `normalize`) a row that sums to 0; the
        message names the argument and the row.
        A negative or non-finite `smoothing` raises ValueError too.
    %(raises_type)s

    See Also
    --------
    total_variation : :math:`H^2 \le TV \le \sqrt2\, H`.
    js_distance, jeffreys_divergence

    Notes
    -----
    .. math::

        H(p, q) = \frac{1}{\sqrt2}\,\bigl\|\sqrt p - \sqrt q\bigr\|_2
                = \sqrt{\tfrac12 \sum_i \bigl(\sqrt{p_i} - \sqrt{q_i}\bigr)^2}

    A metric on probability distributions, unitless (no `base`).  Each term
    is formed as :math:`d^2`, :math:`d = (p_i - q_i)/(\sqrt{p_i} +
    \sqrt{q_i})`, never from :math:`1 - \sum_i\sqrt{p_i q_i}` (which cancels
    catastrophically when :math:`p \approx q`), so small distances keep
    their relative accuracy.  Zeros contribute :math:`\tfrac12 q_i` or
    :math:`\tfrac12 p_i`; NaN anywhere in a row gives NaN; ``+inf`` gives
    NaN when normalising.  Normalising takes two passes over each row (the
    sums first), as for :func:`js_divergence`.  Some authors define
    :math:`H` without the factor :math:`1/\sqrt2` (bounded by
    :math:`\sqrt2`); multiply by ``sqrt(2)`` for that convention.

    %(smoothing_notes)s

    %(accuracy_near)s

    References
    ----------
    .. [1] E. Hellinger, "Neue Begründung der Theorie quadratischer Formen
       von unendlichvielen Veränderlichen", J. Reine Angew. Math. 136,
       210-271, 1909.
    .. [2] A. B. Tsybakov, *Introduction to Nonparametric Estimation*,
       Springer, 2009, sec. 2.4.
    %(smoothing_ref)s
    %(accuracy_ref)s

    Examples
    --------
    >>> import kl_ext
    >>> kl_ext.hellinger_distance([1, 0], [0, 1])
    np.float64(1.0)
    >>> kl_ext.hellinger_distance([0.5, 0.5], [0.9, 0.1])
    np.float64(0.3249196962329063)
    >>> kl_ext.hellinger_distance([[1, 1], [1, 3]], [1, 1])
    array([0.        , 0.18459191])
    """
    r = _small(_HELLINGER, p, q, axis, normalize, smoothing, None)
    if r is not None:  # the common 1-D call, answered in C (see _small)
        return r
    value, dtype = _compute(_HELLINGER, p, q, axis, normalize,
                            smoothing=_smoothing(smoothing))
    return _finish(value, dtype, None)


@fill
def jeffreys_divergence(p: ArrayLike, q: ArrayLike, *, base: float | None = None,
                        axis: SupportsIndex = -1, normalize: bool = True,
                        smoothing: float = 0.0) -> Value:
    r"""Jeffreys divergence (symmetric KL; the Population Stability Index, PSI).

    :math:`J(p, q) = D(p\|q) + D(q\|p)`, which on binned frequencies is
    exactly the Population Stability Index used in credit scoring and
    model monitoring (PSI, with `p` the expected and `q` the actual
    shares, or the other way round: J is symmetric).

    Parameters
    ----------
    %(pq)s
    %(base)s
    %(axis)s
    %(normalize)s
    %(smoothing)s

    Returns
    -------
    j : numpy.float64/float32 or ndarray
        Broadcast shape without `axis`; >= 0, ``inf`` where the supports
        differ.  float32 only if both inputs are float32 (accumulated in
        float64), else float64.

    Raises
    ------
    ValueError
        For a negative entry, shapes that don't broadcast, an empty or
        out-of-range axis, an invalid `base`, or (with `normalize`) a row
        that sums to 0; the message names the argument and the row.
        A negative or non-finite `smoothing` raises ValueError too.
    %(raises_type)s

    See Also
    --------
    kl_divergence : one direction, :math:`D(p\|q)`.
    compare : ``kl_mean`` is :math:`J/2`.
    hellinger_distance, js_divergence

    Notes
    -----
    .. math::

        J(p, q) = D(p\|q) + D(q\|p) = \sum_i (p_i - q_i)\log\frac{p_i}{q_i}

    Every term is :math:`\ge 0`: 0 where :math:`p_i = q_i` (also both 0),
    :math:`+\infty` where exactly one of :math:`p_i, q_i` is 0 (disjoint or
    different supports; use `smoothing` to keep PSI finite on empty bins,
    as is common practice, or merge such bins).  The logarithm is formed as
    :math:`\log\frac{2p_i}{p_i+q_i} - \log\frac{2q_i}{p_i+q_i}`, near
    :math:`p_i \approx q_i` as :math:`\operatorname{log1p}(r) -
    \operatorname{log1p}(-r)`, :math:`r = (p_i - q_i)/(p_i + q_i)`, so the
    result keeps its relative accuracy when :math:`J` is tiny (drift
    monitoring), where :math:`D(p\|q) + D(q\|p)` from two separate sums of
    :math:`p\log(p/q)` would cancel.  NaN anywhere in a row gives NaN;
    ``+inf`` gives NaN when normalising.  Normalising takes two passes over
    each row (the sums first).  PSI's rules of thumb (< 0.1 stable, > 0.25
    shifted) are in nats (natural logarithm, the default).

    %(smoothing_notes)s

    %(accuracy_near)s

    References
    ----------
    .. [1] H. Jeffreys, "An invariant form for the prior probability in
       estimation problems", Proc. R. Soc. Lond. A 186(1007), 453-461, 1946.
    .. [2] B. Yurdakul, "Statistical Properties of Population Stability
       Index", PhD dissertation, Western Michigan University, 2018.
    %(smoothing_ref)s
    %(accuracy_ref)s

    Examples
    --------
    >>> import kl_ext
    >>> kl_ext.jeffreys_divergence([0.5, 0.5], [0.9, 0.1])
    np.float64(0.8788898309344878)
    >>> expected = [120, 300, 380, 200]   # PSI of binned counts
    >>> actual = [100, 280, 400, 220]
    >>> kl_ext.jeffreys_divergence(expected, actual)
    np.float64(0.00795835804945563)
    >>> kl_ext.jeffreys_divergence([1, 0], [1, 1])
    np.float64(inf)
    """
    r = _small(_JEFFREYS, p, q, axis, normalize, smoothing, base)
    if r is not None:  # the common 1-D call, answered in C (see _small)
        return r
    lb = _log_base(base)
    value, dtype = _compute(_JEFFREYS, p, q, axis, normalize,
                            smoothing=_smoothing(smoothing))
    return _finish(value, dtype, lb)


# ---- the public objects: C fronts of the definitions above ----
# A plain positional call on one pair of short 1-D arrays (f(p) or f(p, q):
# native float64 or float32 ndarrays of one dtype and length, fewer than
# 131072 elements) is answered in C (src/_front.h) by the kernel call that
# `_small` makes, with no Python frame: a def with keyword-only defaults
# costs ~70 ns before its first line runs, more than the kernel on 10
# elements.  Every other call, and every row the kernel flags, is passed on
# unchanged to the definition (the front's __wrapped__), which owns every
# check, conversion and error.  Results are identical either way (same
# kernel, same rounding); tests/test_measures.py::test_front_matches_definition.
def _front(func: Any, code1: int, code2: int, post: int = 0) -> Any:
    """func behind a C front: f(p) is kernel code1, f(p, q) code2 (-1: none);
    post 1 takes the square root of the value (js_distance)."""
    front = _k.front(func, code1, code2, post)
    functools.update_wrapper(front, func)  # __doc__, __name__, __wrapped__, ...
    return front


for _m in MEASURES:
    globals()[_m.name] = _front(globals()[_m.name],
                                -1 if _m.takes_q else _m.kernel_code,
                                _m.kernel_code if _m.takes_q else -1,
                                {"": 0, "sqrt": 1}[_m.post])
del _m
