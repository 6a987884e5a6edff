"""Plain-NumPy reference versions of every kl_ext measure.

These functions have the same signatures and conventions as the public
functions in :mod:`kl_ext`, and are written to be *obviously correct* rather
than fast: each normalises explicitly, forms the element-wise terms with
``np.where`` exactly as SciPy's ``rel_entr``/``entr`` define them, and sums
with NumPy's pairwise summation.  They are the truth for the test suite and
the baseline for the benchmarks (``kl-ext bench``), like ``bottleneck.slow``.

They do not reproduce kl_ext's extra accuracy for nearly equal p and q (the
cancellation of Σ p log(p/q) is still there); tests of that case use mpmath.

Conventions (shared with :mod:`kl_ext`):

* ``0 log 0 = 0``; ``p > 0`` against ``q = 0`` gives ``+inf`` (KL,
  cross-entropy);
* NaN anywhere in a row gives NaN for that row;
* with ``normalize=True`` each row is divided by its sum first (an ``+inf``
  entry therefore gives NaN, as in ``scipy.stats.entropy``); with
  ``normalize=False`` the element-wise terms follow ``scipy.special.rel_entr``
  and ``entr`` at ``+inf``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, SupportsIndex, TypeVar

import numpy as np
from numpy.typing import NDArray

from ._doc import docformat
from ._typing import ArrayLike, Value

_F = TypeVar("_F", bound=Callable[..., Any])

__all__ = ["entropy", "cross_entropy", "kl_divergence", "js_divergence",
           "js_distance", "total_variation", "hellinger_distance", "jeffreys_divergence"]


# parameter text shared by the docstrings below, filled in at import
_DOCS = {
    "p": """\
p : array_like
    Non-negative weights; integer and bool input is treated as float64.""",
    "pq": """\
p, q : array_like
    Non-negative weights that broadcast against each other; integer and
    bool input is treated as float64.""",
    "base": """\
base : float, optional
    Logarithm base (not validated here).  Default: nats.""",
    "axis": """\
axis : int, default -1
    Axis along which the distributions lie (of the broadcast shape).""",
    "normalize": """\
normalize : bool, default True
    Divide each row by its sum first.""",
    "returns": """\
ndarray or NumPy scalar
    One value per distribution: the broadcast shape without `axis`;
    float32 for float32 input, float64 otherwise.""",
    "raises": """\
TypeError
    For complex, object or other non-numeric input.
ValueError
    For shapes that do not broadcast, a 0-d input, an empty reduction
    axis, a negative entry, or (when normalising) a row that sums to 0.""",
}


def _fill(func: _F) -> _F:
    if func.__doc__:  # None under python -OO
        func.__doc__ = docformat(func.__doc__, _DOCS)
    return func


def _prepare(arrays: Sequence[tuple[str, ArrayLike]], axis: SupportsIndex, normalize: bool
             ) -> tuple[list[NDArray[np.float64]], np.dtype[Any]]:
    """Coerce to float, broadcast, validate, move `axis` last, normalise."""
    out = []
    for name, a in arrays:
        a = np.asarray(a)
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be a real numeric array, got dtype {a.dtype}")
        out.append(a)
    dtype = np.result_type(*[a.dtype for a in out], np.float32)
    if any(a.dtype.kind in "biu" for a in out) or dtype.itemsize > 8:
        dtype = np.dtype(np.float64)
    if dtype.itemsize < 4:
        dtype = np.dtype(np.float32)
    try:
        out = list(np.broadcast_arrays(*out))
    except ValueError:
        raise ValueError("p and q do not broadcast: shapes "
                         + " and ".join(str(np.shape(a)) for _, a in arrays)) from None
    if out[0].ndim == 0:
        raise ValueError("axis is out of bounds for a 0-d input")
    out = [np.moveaxis(a.astype(np.float64), axis, -1) for a in out]
    if out[0].shape[-1] == 0:
        raise ValueError("empty reduction axis")
    for (name, _), a in zip(arrays, out):
        if np.any(a < 0):
            raise ValueError(f"{name} has a negative entry")
    if normalize:
        normed = []
        for (name, _), a in zip(arrays, out):
            s = a.sum(axis=-1, keepdims=True)
            if np.any(s == 0):
                raise ValueError(f"{name} has a row that sums to 0")
            # rows whose sum overflows although every entry is finite:
            # rescale by the row maximum first (normalisation is scale-free)
            big = np.isinf(s) & np.all(np.isfinite(a), axis=-1, keepdims=True)
            if np.any(big):
                a = np.where(big, a / np.where(big, a.max(axis=-1, keepdims=True), 1.0), a)
                s = a.sum(axis=-1, keepdims=True)
            normed.append(a / s)
        out = normed
    return out, dtype


def _finish(total: ArrayLike, dtype: np.dtype[Any], base: float | None) -> Value:
    if base is not None:
        total = total / np.log(base)
    total = np.asarray(total, dtype=dtype)
    return total[()] if total.ndim == 0 else total


def _rel_entr(p: NDArray[np.float64], q: NDArray[np.float64]) -> NDArray[np.float64]:
    # scipy.special.rel_entr: p log(p/q) for p, q > 0; 0 at p = 0, q >= 0;
    # +inf at p > 0, q = 0; NaN propagates.  Where p/q over- or underflows
    # (entries far apart in magnitude) log(p) - log(q), as SciPy does.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        r = p / q
        tiny, huge = np.finfo(np.float64).tiny, np.finfo(np.float64).max
        lr = np.where((r > huge) | (r < tiny), np.log(p) - np.log(q), np.log(r))
        t = np.where((p > 0) & (q > 0), p * lr, np.inf)
        t = np.where((p == 0) & (q >= 0), 0.0, t)
        return np.where(np.isnan(p) | np.isnan(q), np.nan, t)


def _entr(p: NDArray[np.float64]) -> NDArray[np.float64]:
    # scipy.special.entr: -p log p for p > 0, 0 at p = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(p > 0, -p * np.log(p), 0.0)
        return np.where(np.isnan(p), np.nan, t)


@_fill
def entropy(p: ArrayLike, *, base: float | None = None, axis: SupportsIndex = -1,
            normalize: bool = True) -> Value:
    """Shannon entropy H(p) = -Σ p log p (reference for :func:`kl_ext.entropy`).

    Parameters
    ----------
    %(p)s
    %(base)s
    %(axis)s
    %(normalize)s

    Returns
    -------
    %(returns)s

    Raises
    ------
    %(raises)s

    Examples
    --------
    >>> from kl_ext import reference
    >>> reference.entropy([0.5, 0.5])
    np.float64(0.6931471805599453)
    """
    (p,), dtype = _prepare([("p", p)], axis, normalize)
    h = _entr(p).sum(axis=-1)
    if normalize:
        h = np.maximum(h, 0.0)
    return _finish(h, dtype, base)


@_fill
def cross_entropy(p: ArrayLike, q: ArrayLike, *, base: float | None = None,
                  axis: SupportsIndex = -1, normalize: bool = True) -> Value:
    """Cross-entropy H(p, q) = -Σ p log q (reference for :func:`kl_ext.cross_entropy`).

    Parameters
    ----------
    %(pq)s
    %(base)s
    %(axis)s
    %(normalize)s

    Returns
    -------
    %(returns)s

    Raises
    ------
    %(raises)s

    Examples
    --------
    >>> from kl_ext import reference
    >>> reference.cross_entropy([0.5, 0.5], [0.9, 0.1])
    np.float64(1.203972804325936)
    """
    (p, q), dtype = _prepare([("p", p), ("q", q)], axis, normalize)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(p == 0, 0.0, -p * np.log(q))
        t = np.where(np.isnan(p) | np.isnan(q), np.nan, t)
    h = t.sum(axis=-1)
    if normalize:
        h = np.maximum(h, 0.0)
    return _finish(h, dtype, base)


@_fill
def kl_divergence(p: ArrayLike, q: ArrayLike, *, base: float | None = None,
                  axis: SupportsIndex = -1, normalize: bool = True) -> Value:
    """KL divergence D(p‖q) = Σ p log(p/q) (reference for :func:`kl_ext.kl_divergence`).

    Parameters
    ----------
    %(pq)s
    %(base)s
    %(axis)s
    %(normalize)s

    Returns
    -------
    %(returns)s

    Raises
    ------
    %(raises)s

    Examples
    --------
    >>> from kl_ext import reference
    >>> reference.kl_divergence([0.5, 0.5], [0.9, 0.1])
    np.float64(0.5108256237659907)
    """
    (p, q), dtype = _prepare([("p", p), ("q", q)], axis, normalize)
    d = _rel_entr(p, q).sum(axis=-1)
    if normalize:
        d = np.maximum(d, 0.0)
    return _finish(d, dtype, base)


@_fill
def js_divergence(p: ArrayLike, q: ArrayLike, *, base: float | None = None,
                  axis: SupportsIndex = -1, normalize: bool = True) -> Value:
    """Jensen-Shannon divergence ½D(p‖m) + ½D(q‖m), m = (p+q)/2 (reference).

    Parameters
    ----------
    %(pq)s
    %(base)s
    %(axis)s
    %(normalize)s

    Returns
    -------
    %(returns)s

    Raises
    ------
    %(raises)s

    Examples
    --------
    >>> from kl_ext import reference
    >>> reference.js_divergence([0.5, 0.5], [0.9, 0.1])
    np.float64(0.10174922507919676)
    """
    (p, q), dtype = _prepare([("p", p), ("q", q)], axis, normalize)
    m = (p + q) / 2
    js = 0.5 * (_rel_entr(p, m) + _rel_entr(q, m)).sum(axis=-1)
    js = np.maximum(js, 0.0)
    if normalize:
        js = np.minimum(js, np.log(2.0))
    return _finish(js, dtype, base)


@_fill
def js_distance(p: ArrayLike, q: ArrayLike, *, base: float | None = None,
                axis: SupportsIndex = -1, normalize: bool = True) -> Value:
    """Jensen-Shannon distance √JS (reference; scipy.spatial.distance.jensenshannon).

    Parameters
    ----------
    %(pq)s
    %(base)s
    %(axis)s
    %(normalize)s

    Returns
    -------
    %(returns)s

    Raises
    ------
    %(raises)s

    Examples
    --------
    >>> from kl_ext import reference
    >>> reference.js_distance([0.5, 0.5], [0.9, 0.1])
    np.float64(0.31898154347735663)
    """
    js = np.asarray(js_divergence(p, q, base=base, axis=axis, normalize=normalize))
    out: NDArray[np.floating[Any]] = np.sqrt(js)
    return out[()] if out.ndim == 0 else out


@_fill
def total_variation(p: ArrayLike, q: ArrayLike, *, axis: SupportsIndex = -1,
                    normalize: bool = True) -> Value:
    """Total variation distance ½Σ|p − q| (reference for :func:`kl_ext.total_variation`).

    Parameters
    ----------
    %(pq)s
    %(axis)s
    %(normalize)s

    Returns
    -------
    %(returns)s

    Raises
    ------
    %(raises)s

    Examples
    --------
    >>> from kl_ext import reference
    >>> reference.total_variation([0.5, 0.5], [0.9, 0.1])
    np.float64(0.4)
    """
    (p, q), dtype = _prepare([("p", p), ("q", q)], axis, normalize)
    tv = 0.5 * np.abs(p - q).sum(axis=-1)
    if normalize:
        tv = np.minimum(tv, 1.0)
    return _finish(tv, dtype, None)


@_fill
def hellinger_distance(p: ArrayLike, q: ArrayLike, *, axis: SupportsIndex = -1,
                       normalize: bool = True) -> Value:
    """Hellinger distance √(½Σ(√p − √q)²) (reference for :func:`kl_ext.hellinger_distance`).

    Parameters
    ----------
    %(pq)s
    %(axis)s
    %(normalize)s

    Returns
    -------
    %(returns)s

    Raises
    ------
    %(raises)s

    Examples
    --------
    >>> from kl_ext import reference
    >>> reference.hellinger_distance([0.5, 0.5], [0.9, 0.1])
    np.float64(0.32491969623290634)
    """
    (p, q), dtype = _prepare([("p", p), ("q", q)], axis, normalize)
    h2 = 0.5 * np.square(np.sqrt(p) - np.sqrt(q)).sum(axis=-1)
    if normalize:
        h2 = np.minimum(h2, 1.0)
    return _finish(np.sqrt(h2), dtype, None)


@_fill
def jeffreys_divergence(p: ArrayLike, q: ArrayLike, *, base: float | None = None,
                        axis: SupportsIndex = -1, normalize: bool = True) -> Value:
    """Jeffreys divergence D(p‖q) + D(q‖p) = Σ(p − q) log(p/q), the PSI
    (reference for :func:`kl_ext.jeffreys_divergence`).

    Parameters
    ----------
    %(pq)s
    %(base)s
    %(axis)s
    %(normalize)s

    Returns
    -------
    %(returns)s

    Raises
    ------
    %(raises)s

    Examples
    --------
    >>> from kl_ext import reference
    >>> reference.jeffreys_divergence([0.5, 0.5], [0.9, 0.1])
    np.float64(0.8788898309344877)
    """
    (p, q), dtype = _prepare([("p", p), ("q", q)], axis, normalize)
    j = (_rel_entr(p, q) + _rel_entr(q, p)).sum(axis=-1)
    return _finish(np.maximum(j, 0.0), dtype, base)
