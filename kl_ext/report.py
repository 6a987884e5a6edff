"""One-pass scoring report: every divergence measure of two distributions.

:func:`compare` returns H(p), H(q), H(p, q), D(p‖q), D(q‖p), their mean and
minimum, the Jensen-Shannon divergence and distance, the total variation,
the Hellinger distance and the Jeffreys divergence from one sweep over the
data (plus the second pass that the pair measures need once the sums are
known), in the kernel ``src/_compare.pyx``.  Validation,
broadcasting, errors and the exact slow path for non-finite rows are those
of :mod:`kl_ext.measures`, so every field equals what the individual
function returns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, SupportsIndex

import numpy as np
from numpy.typing import NDArray

from . import _cpu, _threads
from ._table import BY_NAME, COMPARE_COLUMNS, NF_SHIFT as _NF_SHIFT
from .measures import (_F64, _KL, _as_rows, _broadcast_last, _coerce, _log_base,
                       _nonfinite_row, _resolve, _smooth, _smoothing, _unit_stride)
from ._typing import ArrayLike, FloatArray

if TYPE_CHECKING:  # every tier has the interface of kl_ext/_compare.pyi
    from . import _compare as _kc
    CPU_TIER: str
else:
    _kc, CPU_TIER = _cpu.load("kl_ext._compare")

__all__ = ["compare", "Comparison"]

class Comparison(NamedTuple):
    # (the tuple class collections.namedtuple made, declared for type
    # checkers.  The fields are Any: kl_ext.compare fills them with NumPy
    # float scalars or ndarrays (kl_ext._typing.Value), kl_ext.dask.compare
    # with lazy dask arrays, and a NamedTuple cannot be generic before
    # Python 3.11.)
    entropy_p: Any
    entropy_q: Any
    cross_entropy: Any
    kl_pq: Any
    kl_qp: Any
    kl_mean: Any
    kl_min: Any
    js_divergence: Any
    js_distance: Any
    total_variation: Any
    hellinger_distance: Any
    jeffreys_divergence: Any


Comparison.__doc__ = """All measures of a pair of distributions (see :func:`compare`).

Fields (each a NumPy scalar for 1-D input, else an ndarray of the broadcast
shape without `axis`): ``entropy_p`` H(p), ``entropy_q`` H(q),
``cross_entropy`` H(p, q), ``kl_pq`` D(p‖q), ``kl_qp`` D(q‖p), ``kl_mean``
their mean (half the Jeffreys divergence), ``kl_min`` their minimum (the
intrinsic discrepancy), ``js_divergence``, ``js_distance``,
``total_variation``, ``hellinger_distance`` and ``jeffreys_divergence``
(the symmetric KL divergence, ``2 * kl_mean``, computed by its own pass).
"""

# kernel output columns -> (measure code, swap p and q) for the slow path,
# from the table (src/_codes.pxd's NOUT and NF_SHIFT are generated from it)
_SLOW = [(BY_NAME[m].code, swap) for _, m, swap in COMPARE_COLUMNS]
_NOUT = len(COMPARE_COLUMNS)
# the columns that `base` divides (the table's has_base)
_BASED = [BY_NAME[m].has_base for _, m, _ in COMPARE_COLUMNS]


def _run(pb: FloatArray, qb: FloatArray, normalize: bool, out: NDArray[np.float64], status: NDArray[np.int32]) -> int:
    """Call the compare kernel on (..., n) views; recurse where rows don't merge."""
    p2 = _as_rows(pb)
    q2 = _as_rows(qb)
    if p2 is None or q2 is None:
        return sum(_run(pb[i], qb[i], normalize, out[i], status[i])
                   for i in range(pb.shape[0]))
    p2 = _unit_stride(p2)
    q2 = _unit_stride(q2)
    o = out.reshape(-1, _NOUT)
    s = status.reshape(-1)
    nt = _threads.current()
    flagged = _kc.compare_rows(p2, q2, normalize, o, s, nt)
    if flagged < 0:  # unaligned or odd strides: copy and try again
        flagged = _kc.compare_rows(np.require(p2, requirements=["C", "A"]),
                                   np.require(q2, requirements=["C", "A"]), normalize, o, s, nt)
    return flagged


def _slow(k: int, p: FloatArray, q: FloatArray, normalize: bool) -> float:
    measure, swap = _SLOW[k]
    if swap:
        p, q = q, p
    return _nonfinite_row(measure, p, q, normalize)


def _resolve_rows(pb: FloatArray, qb: FloatArray, normalize: bool, out: NDArray[np.float64],
                  status: NDArray[np.int32]) -> None:
    """Raise for rows with an error; recompute non-finite values exactly."""
    lead = status.shape
    flat = status.reshape(-1)
    errors = np.where(flat < _NF_SHIFT, flat, 0).astype(np.int8).reshape(lead)
    if errors.any():  # the message of kl_ext.measures, naming the row
        _resolve(_KL, "q", pb, qb, normalize, np.empty(lead), errors)
    flat_out = out.reshape(-1, _NOUT)
    for i in np.flatnonzero(flat):
        pos = np.unravel_index(int(i), lead) if lead else ()
        mask = int(flat[i]) // _NF_SHIFT
        for k in range(_NOUT):
            if mask >> k & 1:
                flat_out[i, k] = _slow(k, pb[pos], qb[pos], normalize)


def _values(p: FloatArray, q: FloatArray, axis: object, normalize: bool
            ) -> tuple[tuple[float, ...] | NDArray[np.float64], np.dtype[np.floating[Any]]]:
    """(lead,) + (7,) float64 nats (or a tuple for 1-D input), result dtype."""
    if p.dtype is not q.dtype:
        p = p.astype(_F64)
        q = q.astype(_F64)
    dtype = p.dtype
    if (p.ndim == 1 and q.ndim == 1 and (axis == -1 or axis == 0)
            and type(axis) is int):
        n = p.shape[0]
        if n == q.shape[0] and n:
            vals, st = _kc.compare_one(p, q, normalize, _threads.current())
            if st == 0:  # (vals is a tuple: None only with a status)
                return vals, dtype  # type: ignore[return-value]
    pb, qb = _broadcast_last(p, q, axis)
    lead = pb.shape[:-1]
    out = np.empty(lead + (_NOUT,), dtype=_F64)
    status = np.zeros(lead, dtype=np.int32)
    if status.size and _run(pb, qb, normalize, out, status):  # empty batch: no rows
        _resolve_rows(pb, qb, normalize, out, status)
    if not lead:
        return tuple(float(v) for v in out), dtype
    return out, dtype


def compare(p: ArrayLike, q: ArrayLike, *, base: float | None = None, axis: SupportsIndex = -1,
            normalize: bool = True, smoothing: float = 0.0) -> Comparison:
    r"""Every divergence measure of `p` and `q` at once (a scoring report).

    One sweep over the data gives the entropies H(p) and H(q), the
    cross-entropy H(p, q), both directions of the Kullback-Leibler
    divergence with their mean and minimum, the Jensen-Shannon divergence
    and distance, the total variation, the Hellinger distance and the
    Jeffreys divergence: faster than calling the eight functions, and each field equal (to rounding, ~1e-15 relative) to the
    function's own result, with the same conventions and errors.

    Parameters
    ----------
    p, q : array_like
        Non-negative weights (probabilities, or counts with `normalize`)
        that broadcast against each other (one reference row `q` of shape
        (n,) against `p` of shape (m, n) is read in place, never copied).
        Integer and bool input is treated as float64.
    base : float, optional
        Logarithm base of every field except ``total_variation`` and
        ``hellinger_distance`` (unitless);
        any finite ``base > 1`` (``js_distance`` needs it, as in
        :func:`js_distance`).  Default nats; ``base=2`` gives bits.
    axis : int, default -1
        Axis along which the distributions lie (of the broadcast shape).
    normalize : bool, default True
        Divide each row of `p` and `q` by its sum first.  With False every
        field is that function's ``normalize=False`` value.
    smoothing : float, default 0.0
        Additive (Lidstone) smoothing ``alpha >= 0`` added to every entry of
        `p` and of `q` first (``alpha = 1``: Laplace), as in
        :func:`kl_divergence`; also with ``normalize=False``.  0 costs
        nothing; ``alpha > 0`` works on float copies.

    Returns
    -------
    report : Comparison
        A named tuple with fields ``entropy_p``, ``entropy_q``,
        ``cross_entropy``, ``kl_pq`` (D(p‖q)), ``kl_qp`` (D(q‖p)),
        ``kl_mean``, ``kl_min``, ``js_divergence``, ``js_distance``,
        ``total_variation``, ``hellinger_distance`` and
        ``jeffreys_divergence``; each a NumPy scalar for 1-D input, else an
        ndarray of the broadcast shape without `axis`.  float32 only if both
        inputs are float32 (accumulated in float64), else float64.

    Raises
    ------
    ValueError
        Whenever one of the individual functions would: a negative entry
        (naming ``p`` or ``q`` and the row), shapes that don't broadcast, an
        empty or out-of-range axis, ``base`` not finite and > 1, a negative
        or non-finite `smoothing`, or (with `normalize`) a row of `p` or of
        `q` that sums to 0 -- even if the other row holds a NaN.
    TypeError
        For complex, object, string or other non-numeric input, or a
        non-numeric `smoothing`.

    See Also
    --------
    entropy, cross_entropy, kl_divergence, js_divergence, js_distance
    total_variation, hellinger_distance, jeffreys_divergence

    Notes
    -----
    With :math:`a = p/\sum p`, :math:`b = q/\sum q` (or p, q as given):

    .. math::

        H(a) = -\sum_i a_i\log a_i, \qquad H(a, b) = -\sum_i a_i\log b_i,
        \qquad D(a\|b) = \sum_i a_i\log\frac{a_i}{b_i},

        \bar D = \tfrac12[D(a\|b) + D(b\|a)], \qquad
        \delta = \min[D(a\|b), D(b\|a)],

        JS = \tfrac12 D(a\|m) + \tfrac12 D(b\|m),\ m = \tfrac12(a + b),
        \qquad TV = \tfrac12\sum_i|a_i - b_i|,

        H = \sqrt{\tfrac12\sum_i\bigl(\sqrt{a_i} - \sqrt{b_i}\bigr)^2}, \qquad
        J = \sum_i (a_i - b_i)\log\frac{a_i}{b_i}.

    :math:`\bar D = J/2` is half the symmetric (Jeffreys) divergence
    (``jeffreys_divergence`` comes from the pair pass, as in
    :func:`jeffreys_divergence`, so the two agree to rounding); the minimum
    :math:`\delta` is the *intrinsic discrepancy* of Bernardo and Rueda [2]_,
    finite whenever one support contains the other.  Both directions of KL
    and their mean are what R's ``LaplacesDemon::KLD`` reports [1]_.

    The kernel reads each element once for the sums of :math:`p`,
    :math:`q`, :math:`p\log p`, :math:`q\log q`, :math:`p\log q` and the
    non-negative terms :math:`p\log(p/q) - p + q` in both directions
    (compensated, in float64), then forms each measure by the identities of
    :mod:`kl_ext.measures` (e.g.
    :math:`D(a\|b) = T/s_p + \log(1 + d) - d`, :math:`d = (s_q - s_p)/s_p`)
    and their exact second passes where those would cancel; the pair measures take
    one more pass once the sums are known.  Conventions: :math:`0\log 0 = 0`,
    :math:`+\infty` for :math:`D(a\|b)` and :math:`H(a, b)` where
    :math:`a_i > 0 = b_i` (so ``kl_mean`` is then ``inf`` and ``kl_min``
    the other direction), NaN in a row gives NaN in the fields that read
    it, ``+inf`` entries take the exact slow path of
    :mod:`kl_ext.measures`.

    Accuracy: each divergence field has its function's contract (see
    :func:`kl_divergence`): within 1e-13 relative of exact arithmetic on
    the given float64 values, also for nearly equal and proportional rows
    (double-double row sums [4]_ and error-free products for
    :math:`p_i S_q - q_i S_p` [5]_); float32 within one float32 rounding.

    References
    ----------
    .. [1] H. Hall (maintainer), ``KLD`` in the R package LaplacesDemon,
       https://cran.r-project.org/package=LaplacesDemon (reports
       KLD(p‖q), KLD(q‖p), their mean and the intrinsic discrepancy).
    .. [2] J. M. Bernardo and R. Rueda, "Bayesian hypothesis testing: a
       reference approach", Int. Statist. Review 70(3), 351-372, 2002.
    .. [3] T. M. Cover and J. A. Thomas, *Elements of Information Theory*,
       2nd ed., Wiley, 2006.
    .. [4] T. Ogita, S. M. Rump and S. Oishi, "Accurate sum and dot
       product", *SIAM J. Sci. Comput.* 26(6), 2005, 1955-1988.
    .. [5] N. J. Higham, *Accuracy and Stability of Numerical Algorithms*,
       2nd ed., SIAM, 2002, sec. 4.3 (TwoProduct; Dekker 1971).

    Examples
    --------
    >>> import kl_ext.report
    >>> r = kl_ext.report.compare([0.5, 0.5], [0.9, 0.1])
    >>> r.kl_pq, r.kl_qp
    (np.float64(0.5108256237659906), np.float64(0.3680642071684971))
    >>> r.kl_min, r.total_variation
    (np.float64(0.3680642071684971), np.float64(0.4))
    >>> r = kl_ext.report.compare([[1, 0], [1, 1]], [1, 1], base=2)
    >>> r.kl_pq, r.kl_qp
    (array([1., 0.]), array([inf,  0.]))
    >>> r.kl_min
    array([1., 0.])
    """
    lb = _log_base(base)
    if lb is not None and lb < 0:
        raise ValueError(f"compare needs base > 1 (the Jensen-Shannon distance has "
                         f"no real value in base {base!r})")
    alpha = _smoothing(smoothing)
    p = _coerce(p, "p")
    q = _coerce(q, "q")
    if alpha:
        p = _smooth(p, alpha)
        q = _smooth(q, alpha)
    vals, dtype = _values(p, q, axis, normalize)
    if isinstance(vals, tuple):
        row: Sequence[Any] = vals
        if lb is not None:
            row = [v / lb if based else v for v, based in zip(row, _BASED)]
        hp, hq, hpq, dpq, dqp, js, tv, hel, jef = row
        mean = 0.5 * (dpq + dqp)
        lo = dpq if dpq <= dqp or dpq != dpq else dqp  # NaN propagates
        t = dtype.type
        with np.errstate(over="ignore"):  # float32 beyond its range: inf
            return Comparison(t(hp), t(hq), t(hpq), t(dpq), t(dqp), t(mean), t(lo),
                              t(js), t(math.sqrt(js)), t(tv), t(hel), t(jef))
    cols = [vals[..., k] for k in range(_NOUT)]
    if lb is not None:
        cols = [c / lb if based else c for c, based in zip(cols, _BASED)]
    hp, hq, hpq, dpq, dqp, js, tv, hel, jef = cols
    mean = 0.5 * (dpq + dqp)
    lo = np.minimum(dpq, dqp)

    fields = (hp, hq, hpq, dpq, dqp, mean, lo, js, np.sqrt(js), tv, hel, jef)
    if dtype == _F64:  # no rounding: nothing to silence (errstate costs ~1 us each)
        return Comparison(*(np.ascontiguousarray(v) for v in fields))
    with np.errstate(over="ignore"):  # float32 beyond its range: inf, no warning
        return Comparison(*(np.ascontiguousarray(v).astype(dtype, copy=False)
                            for v in fields))
