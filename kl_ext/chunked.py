r"""Chunked statistics: measures of distributions split into pieces.

A distribution's axis may be split into chunks that are never in one place
(a histogram over many files or workers, a stream of batches, a Spark
partition per block of bins).  This module measures it from per-chunk
*partial statistics* that combine associatively and exactly, then a
finishing step, with the conventions and errors of the in-memory functions
(:func:`kl_ext.kl_divergence` and the others).  :mod:`kl_ext.dask` is built
on it; so can a Spark aggregation or a streaming monitor.

The protocol
------------
* **One-pass measures** -- ``entropy``, ``cross_entropy``,
  ``kl_divergence``: each chunk gives the sums :math:`\sum p`,
  :math:`\sum q` and the measure's non-negative term sum (KL:
  :math:`T = \sum p\log(p/q) - p + q`, the form the kernels' fused
  normalisation uses); the finishing step applies
  :math:`D(p/s_p \| q/s_q) = T/s_p + \log(1 + d) - d`,
  :math:`d = (s_q - s_p)/s_p` (and :math:`H = \log s - \frac1s \sum p\log p`).
* **Two-pass measures** -- ``js_divergence``, ``js_distance``,
  ``total_variation`` (and :func:`kl_ext.dask.wasserstein_hist`): their
  element terms need each row's totals first.  Pass 1 is the one-pass
  sweep above (sums only); :meth:`PartialStats.totals` turns its combined
  statistics into :class:`Totals`; pass 2 sweeps the chunks again with
  those totals; :meth:`PartialStats.result` finishes.

Every chunk is cut into pieces of 65,536 elements (the last one shorter),
the pieces the in-memory kernels use for long rows; the partial statistics
keep one row of sums per piece, and the finishing step adds them in axis
order with Neumaier's compensated summation, as the kernels do.  So when
every chunk boundary is a multiple of 65,536 the result equals the
in-memory call **bit for bit**; otherwise the two differ only by the
rounding of compensated sums (~1e-16 relative, far inside 1e-13 on
ordinary inputs).

``wasserstein_hist`` (order 1) follows the same two passes at the array
level: the first pass's sums (the pieces of ``total_variation``) give, per
row and chunk, the pair scales and the CDF difference at the chunk's first
bin (:func:`hist_totals`, which needs each chunk's number of pieces); the
second pass walks each chunk from there (:func:`hist_pieces`) and
:func:`hist_finish` adds the chunks' sums.  :func:`kl_ext.dask.wasserstein_hist`
is this protocol on Dask arrays.  ``compare`` is every measure of
:data:`MEASURES` that it reports at once: ``Accumulator("compare")``.

Limits (the in-memory call re-reads a row where this cannot):

* where the one-pass form cancels -- a normalised cross-entropy below 1/8
  nat whose log-sum is large, or an unnormalised KL divergence far smaller
  than the difference of the two sums -- the in-memory call takes a second
  pass over the row; the chunked value is the one-pass one, with an
  absolute error of ~1e-16 times :math:`|\log s_q|` (cross-entropy) or
  :math:`s_p + s_q` (unnormalised KL).  A normalised entropy that cancels
  (a dominant entry, a large log-sum) is exact: each piece keeps its own
  entropy :math:`h_j` (with the in-memory second pass where it cancels),
  combined by the grouping identity :math:`H = \sum_j w_j (h_j +
  \log(1/w_j))`, :math:`w_j = s_j/s`, non-negative terms;
* near :math:`p = q` (normalised rows a relative :math:`\delta \lesssim
  1/16` apart, down to :math:`q = \mathrm{fl}(3p)`) the values are exact
  to ~1e-16 relative, as in memory, by a different route (so not bit for
  bit equal to the in-memory value there): each piece also carries its
  sums as double-double values (Sum2, Ogita, Rump and Oishi 2005); the
  two-pass measures' second sweep adds the in-memory call's exact
  near-equal terms (error-free differences :math:`p B - q A`) for the
  pieces whose own rows are that close, and KL keeps, per piece, its term
  sum relative to the piece's own ratio of sums
  :math:`c_j = B_j/A_j`, :math:`T_j(c_j) = \sum p \log(p c_j/q) - p +
  q/c_j \ge 0` (exact where it cancels), which combine without
  cancellation: :math:`A\,D = \sum_j T_j(c_j) + A_j \phi(c_j A/B)`,
  :math:`\phi(x) = x - 1 - \log x \ge 0`.  The double-double sums cost
  a second read of each piece (from cache) in the first pass;
* ``wasserstein_hist`` (order 1): each chunk takes the in-memory
  kernel's compensated walk from a start difference and with scales that
  are double-double values from the pieces' double-double sums, so
  nearly equal and long histograms stay exact to ~1e-16, as in memory
  (not bit for bit: the in-memory walk cuts the row differently);
* a normalised row whose sums lie outside :math:`[2^{-500}, 2^{500}]`
  (the in-memory call rescales it by a power of two) raises ValueError.

Examples
--------
Two chunks of a histogram pair, combined in either order:

>>> import numpy as np
>>> import kl_ext
>>> from kl_ext import chunked
>>> p = np.array([1., 2., 3., 4.]); q = np.array([4., 3., 2., 1.])
>>> a = chunked.partial_stats("kl_divergence", p[:2], q[:2], offset=0)
>>> b = chunked.partial_stats("kl_divergence", p[2:], q[2:], offset=2)
>>> b.merge(a).result() == kl_ext.kl_divergence(p, q)
np.True_

A two-pass measure with the streaming accumulator:

>>> acc = chunked.Accumulator("js_divergence", base=2)
>>> for s in (slice(0, 2), slice(2, 4)):
...     acc.update(p[s], q[s])
>>> acc.start_second_pass()
>>> for s in (slice(0, 2), slice(2, 4)):
...     acc.update(p[s], q[s])
>>> round(float(acc.result()), 12)  # the last digits depend on the CPU tier
0.153560655329
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, SupportsIndex

import numpy as np
from numpy.typing import NDArray

from . import _table, _threads
from . import measures as _m
from ._typing import ArrayLike, FloatArray, Value

if TYPE_CHECKING:
    from .report import Comparison

__all__ = ["MEASURES", "partial_stats", "PartialStats", "Totals", "Accumulator",
           "hist_totals", "hist_pieces", "hist_finish"]

_k = _m._k

# The measures this module serves, read from the table of measures: name ->
# (kernel code, passes, takes q, base applies, square root at the end).
class _Spec(NamedTuple):
    name: str
    code: int
    passes: int
    has_q: bool
    base: bool
    sqrt: bool


MEASURES = {m.name: _Spec(m.name, m.kernel_code,
                          1 if _table.BY_NAME[m.of or m.name].plan == _table.ONE_PASS else 2,
                          m.takes_q, m.has_base, m.post == "sqrt")
            for m in _table.MEASURES}

# columns of a first-pass piece row: the kernels' sums, status, the first
# negative entry, the slow path's share, and (normalised KL and pair
# measures; NaN otherwise) the double-double sums and KL's shifted term sum
_SP, _SQ, _T, _ST, _NEG_AT, _NEG_VAL, _EXTRA = range(7)
_DD = slice(7, 12)  # p high, low, q high, low, T_j(c_j) (src/_divergence.pyx dd_pieces)
NCOL1 = 12
# columns of a second-pass piece row: the pair sum, the unnormalised slow
# value, the exact near-equal term sum (NaN where not needed)
NCOL2 = 3
# columns of a row of Totals: the pair scales mp, mq, K, a status, then the
# rows' double-double sums and near_value's scales (near_totals; NaN
# unnormalised)
NTOT = 13
# columns of hist_totals: mp, mq and K as double-doubles (high, low), the
# CDF difference before the chunk (high, low), a status
NHIST = 9
# kernel statuses (src/_divergence.pyx)
_ST_REFINE = 7


def spec(measure: str) -> _Spec:
    """The :data:`MEASURES` entry of `measure` (a name), or ValueError."""
    try:
        return MEASURES[measure]
    except (KeyError, TypeError):
        raise ValueError(f"unknown measure {measure!r}; choose one of "
                         f"{', '.join(MEASURES)}") from None


# ---------------------------------------------------------------------------
# the array-level steps (kl_ext.dask calls these once per block)

def prepare(spec_: _Spec, p: ArrayLike, q: ArrayLike | None, axis: object, smoothing: object
            ) -> tuple[FloatArray, FloatArray, np.dtype[np.floating[Any]]]:
    """Coerced, smoothed, dtype-matched views of p and q with `axis` last.

    Returns (pb, qb, dtype): broadcast views (no copies) of shape
    (..., n) and the result dtype (float32 only if both are float32).
    """
    p, q = _m._coerce_pair(p, q if spec_.has_q else None,
                           smoothing=_m._smoothing(smoothing))
    pb, qb = _m._broadcast_last(p, q, axis)
    return pb, qb, p.dtype


def _rows(a: FloatArray) -> FloatArray:
    """(rows, n) view of (..., n) `a` the kernels can read (copies if needed)."""
    a2 = _m._as_rows(a)
    if a2 is None:
        a2 = np.ascontiguousarray(a).reshape(-1, a.shape[-1])
    return a2


def _kernel_rows(a: FloatArray) -> FloatArray:
    a2 = _m._unit_stride(_rows(a))
    if not (a2.flags.aligned and a2.dtype.isnative):
        a2 = np.require(a2, dtype=a2.dtype.newbyteorder("="), requirements=["C", "A"])
    return a2


def first_pieces(spec_: _Spec, pb: FloatArray, qb: FloatArray, offset: int,
                 normalize: bool) -> NDArray[np.float64]:
    """Pass-1 piece rows of one chunk: float64 (..., k, 7).

    pb, qb: (..., m) views from :func:`prepare` (the chunk's part of the
    axis, starting at element `offset` of it).  Columns: sum p, sum q, the
    measure's term sum, the first-pass status (0, 1/2: a negative entry in
    p/q), the axis index and value of the first negative entry, and
    `extra`: with `normalize`, 1 where the piece holds an infinite entry;
    without, the piece's contribution to the unnormalised value (so that
    rows with infinite entries or sums are summed exactly as the in-memory
    slow path does).
    """
    lead, m = pb.shape[:-1], pb.shape[-1]
    p2, q2 = _kernel_rows(pb), _kernel_rows(qb)
    rows = p2.shape[0]
    k = _k.n_pieces(m)
    sums = np.empty((rows, k, 3))
    status = np.zeros((rows, k), dtype=np.int8)
    if _k.pieces(spec_.code, p2, q2, sums, status, _threads.current()) < 0:
        p2, q2 = (np.require(a, requirements=["C", "A"]) for a in (p2, q2))
        _k.pieces(spec_.code, p2, q2, sums, status, _threads.current())
    out = np.zeros((rows, k, NCOL1))
    out[..., :3] = sums
    out[..., _DD] = np.nan
    if normalize and _exact_near(spec_.code) and rows:
        dd = np.empty((rows, k, 5))
        _k.dd_pieces(spec_.code, p2, q2, sums, dd, _threads.current())
        out[..., _DD] = dd
    out[..., _ST] = status
    out[..., _NEG_AT] = -1.0
    out[..., _NEG_VAL] = np.nan
    for r, c in zip(*np.nonzero(status)):
        a = p2[r] if status[r, c] == _m._ST_NEG_P else q2[r]
        seg = a[c * 65536:(c + 1) * 65536]
        i = int(np.flatnonzero(seg < 0)[0])
        out[r, c, _NEG_AT] = offset + c * 65536 + i
        out[r, c, _NEG_VAL] = float(seg[i])
    with np.errstate(invalid="ignore", over="ignore"):
        bad = ~(np.isfinite(sums[..., 0]) & np.isfinite(sums[..., 1]))
        if normalize:
            for r, c in zip(*np.nonzero(bad & (status == 0))):
                sl = slice(c * 65536, (c + 1) * 65536)
                out[r, c, _EXTRA] = float(np.isinf(p2[r, sl]).any()
                                          or np.isinf(q2[r, sl]).any())
        else:
            out[..., _EXTRA] = _unnormalised(spec_.code, sums)
            for r, c in zip(*np.nonzero(bad & (status == 0))):
                sl = slice(c * 65536, (c + 1) * 65536)
                out[r, c, _EXTRA] = _m._nonfinite_row(spec_.code, p2[r, sl], q2[r, sl],
                                                      False)
    return out.reshape(lead + (k, NCOL1))


def _exact_near(code: int) -> bool:
    """Whether `code`'s first pass keeps the per-piece statistics of its
    exact paths (KL and the pair measures near p = q, entropy where its
    one-pass form cancels)."""
    return code in (_m._KL, _m._ENTROPY) or _k.near_limit(code) > 0


def _unnormalised(code: int, sums: NDArray[np.float64]) -> NDArray[np.float64] | float:
    """Each piece's share of the unnormalised value, from its sums."""
    if code == _m._KL:
        return sums[..., 2] + (sums[..., 0] - sums[..., 1])
    if code in (_m._ENTROPY, _m._CROSS_ENTROPY):
        return -sums[..., 2]
    return np.nan  # pair measures: from the second pass


def _neumaier(parts: NDArray[np.float64]) -> NDArray[np.float64]:
    """In-order Neumaier sums over axis -2 of `parts` (..., k, c): what the
    kernels' piece_totals does, so equal pieces give equal bits."""
    s, c = (np.moveaxis(a, 0, -1) for a in _neumaier_pair(parts))
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(s - s != 0, s, s + c)


def _neumaier_pair(parts: NDArray[np.float64]
                   ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """:func:`_neumaier`'s running sums and compensations, unrounded:
    (s, c) with s + c the compensated total, each of shape (c, ...) (the
    last axis of `parts` first)."""
    s = np.zeros(parts.shape[:-2] + parts.shape[-1:])
    c = np.zeros_like(s)
    with np.errstate(invalid="ignore", over="ignore"):
        for i in range(parts.shape[-2]):
            x = parts[..., i, :]
            t = s + x
            c += np.where(np.abs(s) >= np.abs(x), (s - t) + x, (x - t) + s)
            s = t
    return np.moveaxis(s, -1, 0), np.moveaxis(c, -1, 0)


def _two_prod(a: NDArray[np.float64], b: NDArray[np.float64]
              ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """a * b = p + e exactly (Dekker's splitting; |a|, |b| < 2**996)."""
    p = a * b
    t = 134217729.0 * a
    ah = t - (t - a)
    al = a - ah
    u = 134217729.0 * b
    bh = u - (u - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _dd_cross(ph: NDArray[np.float64], pl: NDArray[np.float64], mq: NDArray[np.float64],
              qh: NDArray[np.float64], ql: NDArray[np.float64], mp: NDArray[np.float64]
              ) -> NDArray[np.float64]:
    """(ph + pl) mq - (qh + ql) mp rounded once (TwoProduct, TwoSum:
    Ogita, Rump and Oishi 2005); the plain formula where that overflows."""
    with np.errstate(invalid="ignore", over="ignore"):
        a, ae = _two_prod(ph, mq)
        b, be = _two_prod(qh, mp)
        s = a - b
        bb = s - a
        se = (a - (s - bb)) + (-b - bb)
        d = s + (se + (ae - be) + (pl * mq - ql * mp))
        plain = (ph + pl) * mq - (qh + ql) * mp
        return np.where(np.isfinite(d), d, plain)


def _where(flat: SupportsIndex, lead: tuple[int, ...], at: float | None = None) -> str:
    """' in row ...' (the global row), and the axis index of a split axis."""
    text = _m._row_text(int(flat), lead)
    if at is not None:
        text += f" at index {int(at)} of the axis"
    return text


def _errors(parts: NDArray[np.float64], status: NDArray[np.int8], lead: tuple[int, ...],
            split: bool,
            q_name: str = "q") -> None:
    """Raise the in-memory call's ValueError for the first row in error.

    parts: (rows, k, 7) pass-1 pieces; status: (rows,) the finishing
    statuses (3/4: a sum is 0).  A negative entry outranks a zero sum, as in
    the kernels.
    """
    neg = parts[..., _ST]
    row_neg = np.where((neg == 1).any(axis=-1), 1, np.where((neg == 2).any(axis=-1), 2, 0))
    st = np.where(row_neg > 0, row_neg, np.where((status == 3) | (status == 4), status, 0))
    bad = np.flatnonzero(st)
    if not bad.size:
        return
    r = int(bad[0])
    code = int(st[r])
    if code in (1, 2):
        c = int(np.flatnonzero(neg[r] == code)[0])
        v = parts[r, c, _NEG_VAL]
        name = "p" if code == 1 else q_name
        where = _where(r, lead, parts[r, c, _NEG_AT] if split else None)
        raise ValueError(f"{name} must be non-negative, found {float(v)!r}{where}")
    name = "p" if code == 3 else q_name
    raise ValueError(f"{name} sums to 0{_where(r, lead)}, so it cannot be "
                     "normalized to a probability distribution")


def _out_of_range(r: SupportsIndex, lead: tuple[int, ...]) -> NoReturn:
    raise ValueError(f"the sums{_where(r, lead)} lie outside [2**-500, 2**500]: "
                     "the chunked statistics cannot rescale a row they never hold; "
                     "scale the input by a power of two (the measures are scale-free "
                     "when normalised)")


def finish_one(spec_: _Spec, parts: NDArray[np.float64], normalize: bool, *,
               split: bool = True) -> NDArray[np.float64]:
    """Values in nats (float64, shape `lead`) of a one-pass measure from its
    pass-1 pieces (lead..., K, 7) in axis order."""
    lead = parts.shape[:-2]
    P = np.ascontiguousarray(parts.reshape((-1,) + parts.shape[-2:]))
    rows = P.shape[0]
    out = np.empty(rows)
    status = np.zeros(rows, dtype=np.int8)
    _k.finish(spec_.code, np.ascontiguousarray(P[..., :3]), normalize, out, status)
    _errors(P, status, lead, split)
    for r in np.flatnonzero(status == _m._ST_NONFINITE):
        out[r] = _slow_value(P[r], normalize, r, lead)
    near = np.flatnonzero(status == _ST_REFINE)
    if normalize and spec_.code == _m._KL and near.size:
        out[near] = _kl_near(P[near])
    if normalize and spec_.code == _m._ENTROPY and near.size:
        out[near] = _entropy_grouped(P[near])
    return out.reshape(lead)


def _entropy_grouped(P: NDArray[np.float64]) -> NDArray[np.float64]:
    r"""Normalised entropy of rows whose one-pass form cancels (a dominant
    entry, or a large log-sum), from pieces (rows, K, NCOL1) that carry
    their own normalised entropies :math:`h_j` (dd_pieces): the grouping
    identity

    .. math:: H = \sum_j w_j \left(h_j + \log(1/w_j)\right), \quad
              w_j = s_j/s,

    non-negative terms, with :math:`\log(1/w_j) = \mathrm{log1p}(r_j/s_j)`
    and :math:`r_j = s - s_j` the sum of the other pieces (no rounding of
    :math:`s` where one piece holds nearly all the mass)."""
    sj = P[..., _SP]
    h = P[..., _DD][..., 4]
    with np.errstate(all="ignore"):
        # the sums of the pieces before and after each one (never a
        # difference with s_j itself)
        zero = np.zeros(sj.shape[:-1] + (1,))
        before = np.concatenate([zero, np.cumsum(sj, axis=-1)[..., :-1]], axis=-1)
        after = np.concatenate([np.cumsum(sj[..., :0:-1], axis=-1)[..., ::-1], zero],
                               axis=-1)
        rest = before + after
        s = sj.sum(axis=-1, keepdims=True)
        part = np.where(sj > 0, (sj / s) * (h + np.log1p(rest / sj)), 0.0)
        return np.maximum(_neumaier(part[..., None])[..., 0], 0.0)


def _kl_near(P: NDArray[np.float64]) -> NDArray[np.float64]:
    r"""Normalised KL of rows whose one-pass value cancels, from pieces
    (rows, K, NCOL1) that carry their double-double sums and shifted term
    sums (src/_divergence.pyx, dd_pieces):

    .. math:: A\,D = \sum_j T_j(c_j) + A_j \phi(c_j/c), \quad
              \phi(x) = x - 1 - \log x \ge 0,

    with :math:`c = B/A`, :math:`c_j = B_j/A_j`: non-negative terms, so no
    cancellation; :math:`c_j/c - 1 = (B_j A - A_j B)/(A_j B)` from
    error-free products.  A piece without p mass adds :math:`B_j/c`; a piece
    whose sums the kernel could not shift adds the plain (cancelling) form.
    """
    nt = np.empty((P.shape[0], 9))
    _k.near_totals(np.ascontiguousarray(P[..., _DD]), nt)
    ah, al, bh, bl = (nt[:, i, None] for i in range(4))
    pjh, pjl, qjh, qjl, ts = (P[..., 7 + i] for i in range(5))
    with np.errstate(all="ignore"):
        u = _dd_det(qjh, qjl, ah, al, pjh, pjl, bh, bl) / (pjh * bh)
        c = bh / ah
        plain = P[..., _T] + pjh * np.log(c) + qjh * (1.0 / c - 1.0)
        part = np.where(pjh == 0.0, qjh / c,
                        np.where(np.isfinite(ts), ts + pjh * _phi(u), plain))
        d = _neumaier(part[..., None])[..., 0] / ah[:, 0]
    return np.maximum(d, 0.0)


def _phi(u: NDArray[np.float64]) -> NDArray[np.float64]:
    """u - log1p(u) >= 0 to a few ulps: its Taylor series for |u| < 0.1
    (to u**20), the plain difference (which cancels by at most ~20x)
    elsewhere."""
    with np.errstate(all="ignore"):
        s = np.zeros_like(u)
        for k in range(20, 1, -1):
            s = s * u + (-1.0) ** k / k
        return np.where(np.abs(u) < 0.1, s * u * u, u - np.log1p(u))


def _dd_det(ah: NDArray[np.float64], al: NDArray[np.float64], bh: NDArray[np.float64],
            bl: NDArray[np.float64], ch: NDArray[np.float64], cl: NDArray[np.float64],
            dh: NDArray[np.float64], dl: NDArray[np.float64], *, pair: bool = False) -> Any:
    """(ah + al)(bh + bl) - (ch + cl)(dh + dl) of double-double values,
    rounded once (TwoProduct and TwoSum of the leading parts; Ogita, Rump and
    Oishi 2005): relative error ~eps however much the products cancel.
    With `pair`, the unrounded (high, low) pair instead."""
    x, xe = _two_prod(ah, bh)
    y, ye = _two_prod(ch, dh)
    s = x - y
    bb = s - x
    se = (x - (s - bb)) + (-y - bb)
    r = se + (xe - ye) + ((ah * bl + al * bh) - (ch * dl + cl * dh))
    if not pair:
        return s + r
    h = s + r
    z = h - s
    return h, (s - (h - z)) + (r - z)


def _slow_value(piece_rows: NDArray[np.float64], normalize: bool, r: SupportsIndex,
                lead: tuple[int, ...]) -> float:
    """A row with an infinite entry or sum (the in-memory slow path's value)."""
    extra = piece_rows[:, _EXTRA]
    if normalize:
        if (extra > 0).any():
            return math.nan  # an +inf entry: p / sum(p) is inf / inf
        _out_of_range(r, lead)
    with np.errstate(invalid="ignore"):
        return float(np.sum(extra))


def _row_totals(code: int, parts: NDArray[np.float64], normalize: bool) -> tuple[
        NDArray[np.float64], tuple[int, ...], NDArray[np.float64], NDArray[np.float64],
        NDArray[np.int8]]:
    """The kernels' pair_totals over pass-1 pieces (lead..., K, 7):
    (pieces as (rows, K, 7), lead, sums, scales, status)."""
    lead = parts.shape[:-2]
    P = np.ascontiguousarray(parts.reshape((-1,) + parts.shape[-2:]))
    rows = P.shape[0]
    sums = np.empty((rows, 2))
    scales = np.empty((rows, 3))
    status = np.zeros(rows, dtype=np.int8)
    _k.pair_totals(code, np.ascontiguousarray(P[..., :3]), normalize, sums, scales, status)
    return P, lead, sums, scales, status


def pair_totals(spec_: _Spec, parts: NDArray[np.float64], normalize: bool, *,
                split: bool = True) -> NDArray[np.float64]:
    """Pass-1 pieces (lead..., K, 7) -> per-row totals for pass 2.

    Returns float64 (lead..., NTOT): the pair scales mp, mq, K of the
    kernels, a status (0, or 5: an infinite entry or sum, whose value comes
    from the slow path) and, normalised, the rows' double-double sums and
    the scales of the exact near-equal terms (src/_divergence.pyx
    near_totals).  Raises the in-memory call's ValueError for a negative
    entry or a zero sum.
    """
    P, lead, sums, scales, status = _row_totals(spec_.code, parts, normalize)
    _errors(P, status, lead, split)
    rows = P.shape[0]
    out = np.full((rows, NTOT), np.nan)
    out[:, :3] = scales
    out[:, 3] = status
    if normalize and rows:
        nt = np.empty((rows, 9))
        _k.near_totals(np.ascontiguousarray(P[..., _DD]), nt)
        out[:, 4:] = nt
    for r in np.flatnonzero(status == _m._ST_NONFINITE):
        if normalize:
            # NaN scales make the second pass's value NaN; an out-of-range
            # row without an infinite entry is an error
            if not (P[r, :, _EXTRA] > 0).any():
                _out_of_range(r, lead)
            out[r, 2] = math.nan
    return out.reshape(lead + (NTOT,))


def second_pieces(spec_: _Spec, pb: FloatArray, qb: FloatArray,
                  totals: NDArray[np.float64],
                  piece_sums: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
    """Pass-2 piece rows of one chunk: float64 (..., k, 2).

    totals: (..., NTOT) from :func:`pair_totals` for the chunk's rows;
    piece_sums: (..., k, 2) the first pass's sums of p and q over the
    chunk's pieces, if known (else they are read where needed).
    Column 0: the chunk's pair-term sums (the kernels' pair_pass); column 1:
    for rows of status 5 without normalisation, the slow path's value;
    column 2: the exact near-equal term sums (near_value's, from the rows'
    double-double sums) of the pieces that a row near p = q needs (see
    ``_near_wanted``), NaN elsewhere.
    """
    lead, m = pb.shape[:-1], pb.shape[-1]
    p2, q2 = _kernel_rows(pb), _kernel_rows(qb)
    t = np.ascontiguousarray(np.broadcast_to(totals, lead + (NTOT,)).reshape(-1, NTOT))
    scales = np.ascontiguousarray(t[:, :3])
    k = _k.n_pieces(m)
    sums = np.empty((p2.shape[0], k))
    if _k.pair_pieces(spec_.code, p2, q2, scales, sums, _threads.current()) == -1:
        p2, q2 = (np.require(a, requirements=["C", "A"]) for a in (p2, q2))
        _k.pair_pieces(spec_.code, p2, q2, scales, sums, _threads.current())
    out = np.full((p2.shape[0], k, NCOL2), np.nan)
    out[..., 0] = sums
    ps = None if piece_sums is None else np.broadcast_to(
        piece_sums, lead + (k, 2)).reshape(-1, k, 2)
    want = _near_wanted(spec_.code, p2, q2, sums, t, ps)
    if want.any():
        near = np.empty((p2.shape[0], k))
        _k.near_pieces(spec_.code, p2, q2, np.ascontiguousarray(t[:, 4:]),
                       want.astype(np.int8), near, _threads.current())
        out[..., 2] = near
    for r in np.flatnonzero(t[:, 3] == _m._ST_NONFINITE):
        for c in range(k):
            sl = slice(c * 65536, (c + 1) * 65536)
            out[r, c, 1] = _m._nonfinite_row(spec_.code, p2[r, sl], q2[r, sl], False)
    return out.reshape(lead + (k, NCOL2))


def _near_wanted(code: int, p2: FloatArray, q2: FloatArray, sums: NDArray[np.float64],
                 t: NDArray[np.float64],
                 piece_sums: NDArray[np.float64] | None) -> NDArray[np.bool_]:
    """The pieces (rows, k) of normalised rows whose exact near-equal terms
    a row near p = q would need: those whose own value -- the pair sum over
    the piece's mass, in the measure's units -- is below twice the
    measure's near bound.  (A row's value is the mass-weighted mean of its
    pieces' values, so a row below the bound has such pieces; the other
    pieces' rows are >~ 1/16 apart, where the one-pass terms are exact to
    ~eps/delta.)  The pieces' masses come from the first pass's sums
    (`piece_sums`, rows x k x 2) or, without them, are read where a piece's
    share of the row's value is already below the bound."""
    bound = _k.near_limit(code)
    scale = 1.0 if code == _m._JEFFREYS else 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        share = sums / (t[:, 2, None] * scale)
        if code == _m._HELLINGER:
            share = np.sqrt(share)
        want: NDArray[np.bool_] = (share < 2.0 * bound) & (
            (t[:, 3] == 0) & np.isfinite(t[:, 12]))[:, None]
        cand = np.flatnonzero(want.any(axis=-1))
        if not cand.size:
            return want
        k, m = sums.shape[-1], p2.shape[-1]
        if piece_sums is not None:
            ap, bq = piece_sums[cand, :, 0], piece_sums[cand, :, 1]
        elif k == 1:
            ap = p2[cand].sum(axis=-1, dtype=np.float64)[:, None]
            bq = q2[cand].sum(axis=-1, dtype=np.float64)[:, None]
        else:
            starts = np.arange(0, m, 65536)
            ap = np.array([np.add.reduceat(p2[r], starts, dtype=np.float64) for r in cand])
            bq = np.array([np.add.reduceat(q2[r], starts, dtype=np.float64) for r in cand])
        # x + y of the piece: A_c mq + B_c mp (the row's scales)
        own = sums[cand] * (2.0 / scale) / (ap * t[cand, 1, None] + bq * t[cand, 0, None])
        if code == _m._HELLINGER:
            own = np.sqrt(own)
        want[cand] &= own < 2.0 * bound
    return want


def finish_pair(spec_: _Spec, parts2: NDArray[np.float64], totals: NDArray[np.float64],
                normalize: bool) -> NDArray[np.float64]:
    """Values in nats (float64, shape `lead`) of a two-pass measure."""
    lead = parts2.shape[:-2]
    P = np.ascontiguousarray(parts2.reshape((-1,) + parts2.shape[-2:]))
    t = np.ascontiguousarray(np.broadcast_to(totals, lead + (NTOT,)).reshape(-1, NTOT))
    out = np.empty(P.shape[0])
    _k.pair_finish(spec_.code, np.ascontiguousarray(P[..., 0]),
                   np.ascontiguousarray(t[:, :3]), normalize, out)
    if normalize:
        # rows near p = q: the exact value, as the in-memory call takes it
        # (pair_exact) where the one-pass value is below the near bound
        near = np.flatnonzero((t[:, 3] == 0) & (out < _k.near_limit(spec_.code))
                              & np.isfinite(t[:, 12]))
        if near.size:
            _k.near_finish(spec_.code, P, t, near.astype(np.int64), out)
    for r in np.flatnonzero(t[:, 3] == _m._ST_NONFINITE):
        if not normalize:
            with np.errstate(invalid="ignore"):
                out[r] = float(np.sum(P[r, :, 1]))
    return out.reshape(lead)


def to_result(spec_: _Spec, value: NDArray[np.float64] | float, dtype: np.dtype[np.floating[Any]],
              base: float | None) -> Value:
    """Nats (float64) -> the public function's result: `base`, sqrt, dtype."""
    lb = _m._log_base(base) if spec_.base else None
    if spec_.sqrt and lb is not None and lb < 0:
        raise ValueError(f"js_distance needs base > 1 (the divergence is negative "
                         f"in base {base!r}, so it has no real square root)")
    if lb is not None:
        value = value / lb
    if spec_.sqrt:
        value = np.sqrt(value)
    if np.ndim(value) == 0:
        return dtype.type(value)
    return np.asarray(value).astype(dtype, copy=False)


# ---------------------------------------------------------------------------
# the public objects

class Totals:
    """Per-row totals of a two-pass measure, the input of its second pass.

    Made by :meth:`PartialStats.totals` from the combined first-pass
    statistics; passed to :func:`partial_stats` (``totals=``) for each chunk
    of the second pass; the first pass's sums per piece
    (``piece_sums``, with the pieces' offsets ``piece_starts``) let it pick
    the pieces that need exact terms near p = q without reading them
    twice.  ``scales`` is a float64 array of shape
    ``lead + (13,)`` (the kernels' pair scales, a row status, and the
    rows' double-double sums with the scales of the exact terms near
    p = q); it is small (13 numbers per row) and picklable.
    """

    def __init__(self, measure: str, scales: NDArray[np.float64], normalize: bool,
                 piece_sums: NDArray[np.float64] | None = None,
                 piece_starts: NDArray[np.int64] | None = None) -> None:
        self.measure = measure
        self.scales = scales
        self.normalize = normalize
        self.piece_sums = piece_sums
        self.piece_starts = piece_starts

    def chunk_sums(self, offset: int, m: int) -> NDArray[np.float64] | None:
        """The first pass's sums over the pieces of one chunk.

        Parameters
        ----------
        offset : int
            Index of the chunk's first element on the axis.
        m : int
            The chunk's length.

        Returns
        -------
        ndarray of float64, shape (..., k, 2), or None
            (sum p, sum q) of each of the chunk's k pieces of 65,536
            elements, or None if the first pass cut the axis differently
            (the second pass then reads the pieces' masses itself).
        """
        if self.piece_sums is None or self.piece_starts is None:
            return None
        want = offset + 65536 * np.arange((m + 65535) // 65536)
        i = int(np.searchsorted(self.piece_starts, offset))
        got = self.piece_starts[i:i + want.size]
        end = i + want.size
        if got.shape != want.shape or (got != want).any() or (
                end < self.piece_starts.size and self.piece_starts[end] != offset + m):
            return None
        return self.piece_sums[..., i:end, :]

    def __repr__(self) -> str:
        return f"Totals({self.measure!r}, rows={self.scales.shape[:-1]})"


class PartialStats:
    """Partial statistics of one measure over part of the reduction axis.

    Made by :func:`partial_stats` for one chunk; :meth:`merge` combines two
    (associative and commutative: each chunk keeps its place on the axis,
    so merging in any order or grouping gives the same statistics);
    :meth:`result` finishes once the chunks cover the whole axis.  Picklable
    (NumPy arrays and plain Python values only), so the partials can travel
    between processes (Spark, Dask, multiprocessing).

    Attributes
    ----------
    measure : str
        The measure's name (a key of :data:`MEASURES`).
    pass_ : int
        1 (the sweep every measure has) or 2 (the second sweep of a
        two-pass measure, with :attr:`totals`).
    segments : list of (int, int, ndarray)
        (offset, length, piece rows) per chunk, in axis order.
    """

    def __init__(self, measure: str, pass_: int,
                 segments: Sequence[tuple[int, int, NDArray[np.float64]]],
                 dtype: np.dtype[np.floating[Any]] | type[np.floating[Any]], normalize: bool,
                 lead: Sequence[int], totals: Totals | None = None) -> None:
        self.measure = measure
        self.pass_ = pass_
        self.segments = sorted(segments, key=lambda s: s[0])
        self.dtype = np.dtype(dtype)
        self.normalize = bool(normalize)
        self.lead = tuple(lead)
        self.totals_ = totals

    def __repr__(self) -> str:
        return (f"PartialStats({self.measure!r}, pass {self.pass_}, "
                f"{len(self.segments)} chunk(s), {self.n_elements} element(s), "
                f"rows={self.lead})")

    @property
    def n_elements(self) -> int:
        """Elements of the axis covered so far."""
        return sum(s[1] for s in self.segments)

    def merge(self, other: PartialStats) -> PartialStats:
        """The statistics of both chunks' elements (a new object).

        Parameters
        ----------
        other : PartialStats
            The statistics of other chunks of the same measure and pass.

        Returns
        -------
        PartialStats
            Covering the chunks of both.

        Raises
        ------
        ValueError
            If the two belong to different measures, passes, row shapes or
            settings, or cover overlapping parts of the axis.
        TypeError
            If `other` is not a :class:`PartialStats`.
        """
        if not isinstance(other, PartialStats):
            raise TypeError(f"cannot merge PartialStats with {type(other).__name__}")
        if (self.measure, self.pass_, self.lead, self.normalize) != (
                other.measure, other.pass_, other.lead, other.normalize):
            raise ValueError("cannot merge partial statistics of different measures, "
                             "passes, row shapes or normalize settings")
        dtype = self.dtype if self.dtype == other.dtype else np.dtype(np.float64)
        merged = PartialStats(self.measure, self.pass_, self.segments + other.segments,
                              dtype, self.normalize, self.lead, self.totals_)
        merged._check(require_start=False)
        return merged

    def _check(self, require_start: bool = True) -> None:
        end = None
        for off, length, _ in self.segments:
            if end is not None and off < end:
                raise ValueError(f"chunks overlap at index {off} of the axis")
            if require_start and end is None and off != 0:
                raise ValueError(f"the chunks start at index {off}, not 0: "
                                 f"elements 0..{off - 1} are missing")
            if require_start and end is not None and off != end:
                raise ValueError(f"elements {end}..{off - 1} of the axis are missing")
            end = off + length

    def _pieces(self) -> NDArray[np.float64]:
        self._check()
        return np.concatenate([s[2] for s in self.segments], axis=-2)

    def totals(self) -> Totals:
        """The :class:`Totals` that a two-pass measure's second pass needs."""
        spec_ = spec(self.measure)
        if spec_.passes != 2 or self.pass_ != 1:
            raise ValueError(f"{self.measure} takes no second pass" if spec_.passes == 1
                             else "totals come from the first pass's statistics")
        parts = self._pieces()
        t = pair_totals(spec_, parts, self.normalize, split=len(self.segments) > 1)
        starts = np.concatenate([off + 65536 * np.arange(seg.shape[-2])
                                 for off, _, seg in self.segments])
        return Totals(self.measure, t, self.normalize, np.ascontiguousarray(parts[..., :2]),
                      starts.astype(np.int64))

    def result(self, *, base: float | None = None) -> Value:
        """The measure of the whole axis, as the in-memory function returns it.

        Parameters
        ----------
        base : float, optional
            Logarithm base (as the in-memory function); default nats.

        Returns
        -------
        numpy.float64/float32 or ndarray
            Shape `lead` (the rows); float32 only if the chunks were float32.

        Raises
        ------
        ValueError
            A negative entry (naming the global row and the index of the
            entry on the axis), a row that sums to 0 (normalising), chunks
            that do not cover the axis, or a two-pass measure whose second
            pass has not been made.
        """
        value = self._nats()
        return to_result(spec(self.measure), value if self.lead else float(value),
                         self.dtype, base)

    def _nats(self) -> NDArray[np.float64]:
        """The value in nats, float64 (before `base`, square root and dtype)."""
        spec_ = spec(self.measure)
        if spec_.passes == 2 and self.pass_ != 2:
            raise ValueError(f"{self.measure} needs a second pass: call totals() on the "
                             "combined first-pass statistics and sweep the chunks again "
                             "with partial_stats(..., totals=...)")
        if spec_.passes == 1:
            return finish_one(spec_, self._pieces(), self.normalize,
                              split=len(self.segments) > 1)
        assert self.totals_ is not None  # a second pass has its totals
        return finish_pair(spec_, self._pieces(), self.totals_.scales, self.normalize)


def partial_stats(measure: str, p: ArrayLike, q: ArrayLike | None = None, *,
                  axis: SupportsIndex = -1, offset: SupportsIndex = 0,
                  normalize: bool = True, smoothing: float = 0.0,
                  totals: Totals | None = None) -> PartialStats:
    r"""Partial statistics of one chunk of the reduction axis.

    Parameters
    ----------
    measure : str
        ``"entropy"``, ``"cross_entropy"``, ``"kl_divergence"``,
        ``"js_divergence"``, ``"js_distance"`` or ``"total_variation"``
        (the keys of :data:`MEASURES`).
    p, q : array_like
        The chunk: non-negative weights whose `axis` holds elements
        ``offset .. offset + m - 1`` of the whole axis; they broadcast
        against each other as in the in-memory function.  `q` is omitted
        for ``entropy``.  float32 chunks stay float32 in the result
        (accumulated in float64).
    axis : int, default -1
        The split axis (of the broadcast shape).
    offset : int, default 0
        Index of the chunk's first element on the whole axis: it orders the
        chunks when they are merged and names entries in errors.
    normalize : bool, default True
        As in the in-memory function.
    smoothing : float, default 0.0
        Additive smoothing ``alpha >= 0`` added to every entry of the chunk
        (so to every entry of the whole, as the in-memory function does).
    totals : Totals, optional
        For the second pass of a two-pass measure: the totals of the
        combined first pass (:meth:`PartialStats.totals`).

    Returns
    -------
    PartialStats
        Merge with the other chunks' (:meth:`PartialStats.merge`), then
        call :meth:`PartialStats.result` (one-pass measures, or a second
        pass) or :meth:`PartialStats.totals` (first pass of a two-pass
        measure).

    Raises
    ------
    ValueError
        An unknown measure, an empty chunk, shapes that do not broadcast,
        an invalid axis or `smoothing`, a negative offset, or totals of
        another measure or row shape.  Negative entries and zero sums are
        reported by :meth:`PartialStats.result`/:meth:`PartialStats.totals`
        (they need the whole row), naming the global row and index.
    TypeError
        Complex, object or other non-numeric input.

    Notes
    -----
    Per piece of 65,536 elements the statistics are the sums
    :math:`\sum p`, :math:`\sum q` and the measure's term sum (first pass),
    or the pair-term sum with the row's scales (second pass); see the
    module docstring for the protocol and its exactness.

    Examples
    --------
    >>> import numpy as np
    >>> from kl_ext import chunked
    >>> p = np.arange(1.0, 9.0).reshape(2, 4); q = np.ones(4)
    >>> a = chunked.partial_stats("total_variation", p[:, :3], q[:3])
    >>> b = chunked.partial_stats("total_variation", p[:, 3:], q[3:], offset=3)
    >>> t = a.merge(b).totals()
    >>> a2 = chunked.partial_stats("total_variation", p[:, :3], q[:3], totals=t)
    >>> b2 = chunked.partial_stats("total_variation", p[:, 3:], q[3:], offset=3, totals=t)
    >>> a2.merge(b2).result()
    array([0.2       , 0.07692308])
    """
    spec_ = spec(measure)
    if spec_.has_q and q is None:
        raise ValueError(f"{measure} needs q")
    if isinstance(offset, (bool, np.bool_)) or not isinstance(offset, (int, np.integer)) \
            or offset < 0:
        raise ValueError(f"offset must be an integer >= 0, got {offset!r}")
    pb, qb, dtype = prepare(spec_, p, q, axis, smoothing)
    lead, m = pb.shape[:-1], pb.shape[-1]
    if totals is None:
        parts = first_pieces(spec_, pb, qb, int(offset), normalize)
        return PartialStats(measure, 1, [(int(offset), m, parts)], dtype, normalize, lead)
    if not isinstance(totals, Totals) or spec(totals.measure).code != spec_.code:
        raise ValueError(f"totals must be the Totals of {measure}'s first pass")
    if totals.scales.shape[:-1] != lead:
        raise ValueError(f"totals are for rows of shape {totals.scales.shape[:-1]}, "
                         f"the chunk has rows of shape {lead}")
    if bool(normalize) != totals.normalize:
        raise ValueError("normalize differs from the first pass's")
    parts = second_pieces(spec_, pb, qb, totals.scales, totals.chunk_sums(int(offset), m))
    return PartialStats(measure, 2, [(int(offset), m, parts)], dtype, normalize, lead,
                        totals)


class Accumulator:
    r"""Streaming form of :func:`partial_stats`: feed chunks in axis order.

    Parameters
    ----------
    measure : str
        A key of :data:`MEASURES`, or ``"compare"`` for every field of
        :func:`kl_ext.compare` (a two-pass report: its JS and TV fields need
        the totals).
    base : float, optional
        Logarithm base of the result (default nats).
    normalize : bool, default True
    smoothing : float, default 0.0
    axis : int, default -1
        As in the in-memory function; each chunk is split along `axis`.

    Notes
    -----
    :meth:`update` takes the chunks in order along the axis (their offsets
    are counted).  A two-pass measure (:attr:`needs_second_pass`) sweeps
    the chunks once, then :meth:`start_second_pass`, then sweeps the same
    chunks again in the same order.  Memory: one row of sums per 65,536
    elements and per chunk.

    Examples
    --------
    >>> import numpy as np
    >>> from kl_ext import chunked
    >>> acc = chunked.Accumulator("entropy", base=2)
    >>> for chunk in ([1, 1], [1, 1]):
    ...     acc.update(chunk)
    >>> acc.result()
    np.float64(2.0)
    """

    def __init__(self, measure: str, *, base: float | None = None, normalize: bool = True,
                 smoothing: float = 0.0, axis: SupportsIndex = -1) -> None:
        if measure == "compare":
            self.__class__ = _CompareAccumulator
            self.__init__(base=base, normalize=normalize,  # type: ignore[misc]
                          smoothing=smoothing, axis=axis)
            return
        self.spec = spec(measure)
        self.measure = measure
        self.base = base
        self.normalize = normalize
        self.smoothing = smoothing
        self.axis = axis
        _m._log_base(base) if self.spec.base else None  # validate early
        self._stats: PartialStats | None = None
        self._totals: Totals | None = None
        self._offset = 0
        self._first_len: int | None = None

    @property
    def needs_second_pass(self) -> bool:
        """True for a two-pass measure whose second pass has not started."""
        return self.spec.passes == 2 and self._totals is None

    def update(self, p: ArrayLike, q: ArrayLike | None = None) -> None:
        """Add the next chunk of the axis.

        Parameters
        ----------
        p : array_like
            The chunk of `p`, the axis chunks given in order.
        q : array_like, optional
            The matching chunk of `q` (omitted for entropy).
        """
        part = partial_stats(self.measure, p, q, axis=self.axis, offset=self._offset,
                             normalize=self.normalize, smoothing=self.smoothing,
                             totals=self._totals)
        self._offset += part.segments[0][1]
        if self._first_len is not None and self._offset > self._first_len:
            raise ValueError(f"the second pass is longer than the first "
                             f"({self._offset} > {self._first_len} elements)")
        self._stats = part if self._stats is None else self._stats.merge(part)

    def start_second_pass(self) -> None:
        """Compute the totals from the first pass; the next updates are pass 2."""
        if self.spec.passes != 2:
            raise ValueError(f"{self.measure} takes one pass")
        if self._stats is None:
            raise ValueError("no chunk was given")
        if self._totals is not None:
            raise ValueError("the second pass has already started")
        self._totals = self._stats.totals()
        self._first_len = self._offset
        self._stats = None
        self._offset = 0

    def result(self) -> Value | Comparison:
        """The measure of everything given (see :meth:`PartialStats.result`)."""
        self._check_done()
        assert self._stats is not None  # (checked by _check_done)
        return self._stats.result(base=self.base)

    def _check_done(self) -> None:
        if self._stats is None:
            raise ValueError("no chunk was given" if self._totals is None
                             else "the second pass has no chunk yet")
        if self.needs_second_pass:
            raise ValueError(f"{self.measure} needs a second pass: call "
                             "start_second_pass() and give the chunks again")
        if self._first_len is not None and self._offset != self._first_len:
            raise ValueError(f"the second pass covered {self._offset} of "
                             f"{self._first_len} elements")


# ---------------------------------------------------------------------------
# wasserstein_hist (order 1): the CDF walk over a split axis
#
# Pass 1 is the sweep above with the sums only (the pieces of
# total_variation).  hist_totals turns it into, per row and chunk, the pair
# scales (mp, mq, K: the in-memory kernel's exact powers-of-two scaling) and
# the scaled CDF difference at the chunk's first bin, from the sums of the
# chunks before it.  Pass 2 (hist_pieces) walks each chunk from there:
# W1 = (1/K) sum_k |D_k| (x_{k+1} - x_k), D_k = sum_{i<=k} (p_i mq - q_i mp).

def hist_totals(parts: NDArray[np.float64], piece_counts: Sequence[int], normalize: bool, *,
                split: bool = True) -> NDArray[np.float64]:
    r"""Per-row, per-chunk totals of order-1 ``wasserstein_hist``'s second pass.

    Parameters
    ----------
    parts : ndarray of float64, shape (..., K, 12)
        The first pass's piece rows of every chunk, in axis order: the
        pieces of ``partial_stats("total_variation", p_chunk, q_chunk)``
        (``PartialStats.segments``' arrays concatenated along axis -2).
    piece_counts : sequence of int
        How many of the K pieces each chunk has, in axis order.
    normalize : bool
        As in :func:`kl_ext.wasserstein.wasserstein_hist`.
    split : bool, default True
        Name the axis index of a negative entry in errors.

    Returns
    -------
    ndarray of float64, shape (..., nchunks, 9)
        Per row and chunk: the pair scales :math:`m_p, m_q` and
        :math:`K = s_p m_q` (powers-of-two multiples of the sums, as the
        in-memory kernel scales), the scaled CDF difference
        :math:`\sum_{i < start} (p_i m_q - q_i m_p)` before the chunk's
        first bin -- each a double-double value (high, low) from the
        pieces' double-double sums -- and a status (5: a NaN or infinite
        sum, result NaN).

    Raises
    ------
    ValueError
        A negative entry (global row and axis index) or, with `normalize`,
        a row that sums to 0 -- the in-memory call's messages.
    """
    P, lead, sums, _, status = _row_totals(_m._TV, parts, normalize)
    rows = P.shape[0]
    if not normalize:
        status[(status == 3) | (status == 4)] = 0  # no sums are needed
    _errors(P, status, lead, split)
    ends = np.cumsum(piece_counts)
    nchunks = len(piece_counts)
    out = np.zeros((rows, nchunks, NHIST))
    # the pieces' double-double sums (present when the first pass normalised)
    dd = np.ascontiguousarray(P[..., _DD])
    exact = bool(rows) and bool(np.isfinite(dd[..., :4]).all())
    with np.errstate(invalid="ignore", over="ignore"):
        one, zero = np.ones(rows), np.zeros(rows)
        if exact:
            tot = _dd_totals(dd)
            sph, spl, sqh, sql = tot.T
        else:
            (sph, sqh), (spl, sql) = _neumaier_pair(P[..., :2])
        if normalize:
            # kw_scales: the sums times one power of two, K = sp mq (dd)
            big = np.maximum(sph, sqh)
            e = np.frexp(np.where(np.isfinite(big) & (big > 0), big, 1.0))[1]
            mph, mpl, mqh, mql = (np.ldexp(a, -e) for a in (sph, spl, sqh, sql))
            kh, kl = _dd_mul(sph, spl, mqh, mql)
        else:
            mph, mpl, mqh, mql, kh, kl = one, zero, one, zero, one, zero
        for col, v in enumerate((mph, mpl, mqh, mql, kh, kl)):
            out[..., col] = v[:, None]
        for c in range(1, nchunks):
            # sum_{i < start} (p_i mq - q_i mp) from the (double-double or
            # compensated) sums of the pieces before the chunk, with
            # error-free products: a dd exact to ~eps**2 of the sums
            if exact:
                ph, pl, qh, ql = _dd_totals(dd[:, :ends[c - 1]]).T
            else:
                (ph, qh), (pl, ql) = _neumaier_pair(P[:, :ends[c - 1], :2])
            out[:, c, 6], out[:, c, 7] = _dd_det(ph, pl, mqh, mql, qh, ql, mph, mpl,
                                                 pair=True)
        bad = ~(np.isfinite(sums[:, 0]) & np.isfinite(sums[:, 1]))
    out[bad, :, 8] = _m._ST_NONFINITE
    return out.reshape(lead + (nchunks, NHIST))


def _dd_totals(dd: NDArray[np.float64]) -> NDArray[np.float64]:
    """(rows, 4): the in-order double-double totals of pieces' dd sums
    (rows, k, >= 4) (the kernels' near_totals)."""
    nt = np.empty((dd.shape[0], 9))
    if dd.shape[1]:
        buf = np.zeros(dd.shape[:2] + (5,))
        buf[..., :4] = dd[..., :4]
        _k.near_totals(buf, nt)
    else:
        nt[:] = 0.0
    return nt[:, :4]


def _dd_mul(ah: NDArray[np.float64], al: NDArray[np.float64], bh: NDArray[np.float64],
            bl: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(ah + al)(bh + bl) as a renormalised double-double (kw_dd_mul)."""
    p, e = _two_prod(ah, bh)
    e = e + (ah * bl + al * bh)
    h = p + e
    return h, e - (h - p)


def hist_pieces(pb: FloatArray, qb: FloatArray, totals: NDArray[np.float64], x: ArrayLike | None,
                x_next: float | None, last: bool) -> NDArray[np.float64]:
    r"""Second pass of one chunk of order-1 ``wasserstein_hist``.

    Parameters
    ----------
    pb, qb : ndarray of shape (..., m)
        The chunk's bin masses (any float dtype), rows broadcast alike.
    totals : ndarray of float64, shape (..., 9)
        The chunk's rows of :func:`hist_totals`.
    x : array_like of shape (m,) or None
        The chunk's bin positions; None for 0, 1, 2, ...
    x_next : float or None
        The position of the next chunk's first bin (ignored when `last`).
    last : bool
        The chunk holds the axis's last bin (no gap follows it).

    Returns
    -------
    ndarray of float64, shape (...,)
        :math:`\sum_k |D_k| (x_{k+1} - x_k)` over the chunk's bins, in the
        scaled units of :func:`hist_totals` (:func:`hist_finish` divides by K).

    Raises
    ------
    ValueError
        Support positions that are not finite or not sorted.
    """
    from .wasserstein import _aligned, _k as _wk
    t = np.broadcast_to(totals, pb.shape[:-1] + (NHIST,))
    lead, m = pb.shape[:-1], pb.shape[-1]
    xs: NDArray[np.float64] | None = None
    if x is not None:
        xa = np.append(np.asarray(x, dtype=np.float64),
                       x_next if not last else np.nan)  # type: ignore[arg-type]
        if not (np.isfinite(xa[:-1]).all() and (last or np.isfinite(xa[-1]))):
            raise ValueError("support must be finite")
        gaps = np.diff(xa)
        if (gaps[:-1] < 0).any() or (not last and gaps[-1] < 0):
            raise ValueError("support must be sorted in ascending order")
        xs = np.ascontiguousarray(xa[:-1] if last else xa)
    # the walk of the in-memory kernel (exact terms, a double-double running
    # difference, compensated totals) from the chunk's first difference
    rows = math.prod(lead)
    if pb.dtype != qb.dtype or pb.dtype not in (np.float32, np.float64):
        pb, qb = pb.astype(np.float64), qb.astype(np.float64)
    p2 = _aligned(pb).reshape(rows, m)
    q2 = _aligned(qb).reshape(rows, m)
    scales = np.ascontiguousarray(t[..., [0, 1, 2, 3, 6, 7]].reshape(rows, 6),
                                  dtype=np.float64)
    out = np.zeros(rows)
    if rows and _wk.hist_chunk_rows(p2, q2, xs, m - 1 if last else m, scales, out) < 0:
        raise RuntimeError("kl_ext._wasserstein: unsupported memory layout")
    return out.reshape(lead)


def hist_finish(contribs: NDArray[np.float64], totals: NDArray[np.float64]) -> NDArray[np.float64]:
    """Order-1 ``wasserstein_hist`` from its chunks' second-pass sums.

    Parameters
    ----------
    contribs : ndarray of float64, shape (..., nchunks)
        :func:`hist_pieces` of every chunk, in axis order.
    totals : ndarray of float64, shape (..., nchunks, 9)
        :func:`hist_totals`.

    Returns
    -------
    ndarray of float64, shape (...,)
        W1 in the units of the support (NaN for a row with a NaN or infinite
        entry), as :func:`kl_ext.wasserstein.wasserstein_hist` gives it: the
        same compensated walk within each chunk, from a start difference
        and with scales that are double-double values (~1e-16 relative, also
        for nearly equal histograms and ~1e8 bins).

    Examples
    --------
    Two chunks of a histogram pair, through the three steps:

    >>> import numpy as np
    >>> from kl_ext import chunked
    >>> from kl_ext.wasserstein import wasserstein_hist
    >>> p, q = np.array([1., 0, 0, 1]), np.array([0., 1, 1, 0])
    >>> a = chunked.partial_stats("total_variation", p[:2], q[:2])
    >>> b = chunked.partial_stats("total_variation", p[2:], q[2:], offset=2)
    >>> parts = np.concatenate([s[2] for s in a.merge(b).segments], axis=-2)
    >>> t = chunked.hist_totals(parts, [1, 1], True)
    >>> w = [chunked.hist_pieces(p[:2], q[:2], t[0], None, None, False),
    ...      chunked.hist_pieces(p[2:], q[2:], t[1], None, None, True)]
    >>> float(chunked.hist_finish(np.array(w), t)), float(wasserstein_hist(p, q))
    (1.0, 1.0)
    """
    with np.errstate(invalid="ignore", over="ignore"):
        s = _neumaier(contribs[..., None])[..., 0]
        # s / K with K a double-double: one correction step of the quotient
        kh, kl = totals[..., 0, 4], totals[..., 0, 5]
        w = s / kh
        p, e = _two_prod(w, kh)
        w = w + (((s - p) - e) - w * kl) / kh
    return np.where(totals[..., 0, 8] == _m._ST_NONFINITE, np.nan, w)


# compare: the in-memory report's fields from accumulators of its measures
# (the kernel columns of the table: field -> (measure, swap p and q))
_COMPARE_PARTS = {col: (name, swap) for col, name, swap in _table.COMPARE_COLUMNS}


def compare_fields(nats: Mapping[str, Any], lb: float | None, dtype: np.dtype[np.floating[Any]],
                   xp: ModuleType = np) -> Comparison:
    """The fields of :class:`kl_ext.Comparison` from the kernel columns in
    float64 nats (a dict), as :func:`kl_ext.compare` forms them: `base`
    (log-base `lb` or None), the derived fields, then the dtype.  `xp`: the
    array module (NumPy, or dask.array for kl_ext.dask)."""
    from .report import Comparison
    v = dict(nats)
    if lb is not None:
        for col, name, _ in _table.COMPARE_COLUMNS:
            if _table.BY_NAME[name].has_base:
                v[col] = v[col] / lb
    dpq, dqp = v["kl_pq"], v["kl_qp"]
    v.update(kl_mean=0.5 * (dpq + dqp), kl_min=xp.minimum(dpq, dqp),
             js_distance=xp.sqrt(v["js_divergence"]))
    return Comparison(*(v[f].astype(dtype) for f in Comparison._fields))


class _CompareAccumulator(Accumulator):
    """Accumulator("compare"): one accumulator per measure of the report."""

    def __init__(self, *, base: float | None = None, normalize: bool = True,
                 smoothing: float = 0.0, axis: SupportsIndex = -1) -> None:
        lb = _m._log_base(base)
        if lb is not None and lb < 0:
            raise ValueError(f"compare needs base > 1 (the Jensen-Shannon distance has "
                             f"no real value in base {base!r})")
        self.measure, self.base, self._lb = "compare", base, lb
        self._parts = {f: Accumulator(name, normalize=normalize, smoothing=smoothing,
                                      axis=axis) for f, (name, _) in _COMPARE_PARTS.items()}
        self._second = False

    @property
    def needs_second_pass(self) -> bool:
        return not self._second

    def update(self, p: ArrayLike, q: ArrayLike | None = None) -> None:
        if q is None:
            raise ValueError("compare needs q")
        for f, acc in self._parts.items():
            name, swap = _COMPARE_PARTS[f]
            if self._second and acc.spec.passes == 1:
                continue
            a, b = (q, p) if swap else (p, q)
            acc.update(a) if name == "entropy" else acc.update(a, b)

    def start_second_pass(self) -> None:
        if self._second:
            raise ValueError("the second pass has already started")
        for acc in self._parts.values():
            if acc.spec.passes == 2:
                acc.start_second_pass()
        self._second = True

    def result(self) -> Comparison:
        """The :class:`kl_ext.Comparison` of everything given."""
        from .report import Comparison
        if not self._second:
            raise ValueError("compare needs a second pass: call start_second_pass() and "
                             "give the chunks again")
        for acc in self._parts.values():
            acc._check_done()
        # (each acc._stats is set: checked by _check_done)
        nats = {f: np.asarray(acc._stats._nats())  # type: ignore[union-attr]
                for f, acc in self._parts.items()}
        lead = np.broadcast_shapes(*(x.shape for x in nats.values()))
        nats = {f: np.broadcast_to(x, lead) for f, x in nats.items()}
        res = compare_fields(nats, self._lb,
                             self._parts["kl_pq"]._stats.dtype)  # type: ignore[union-attr]
        return Comparison(*(x[()] if x.ndim == 0 else x for x in res))
