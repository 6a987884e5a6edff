"""Plain-NumPy versions of the logit-space measures (tests and benchmarks).

Straightforward, vectorised, max-shifted formulas: what one would write by
hand with NumPy.  They follow the same conventions as
:mod:`kl_ext.logits` for finite input but not its care at the edges
(``0 * -inf`` gives NaN here, and tiny losses lose relative accuracy).
"""

from __future__ import annotations

from typing import SupportsIndex

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["log_softmax", "cross_entropy_logits", "kl_divergence_logits"]


def log_softmax(x: ArrayLike, axis: SupportsIndex = -1) -> NDArray[np.float64]:
    """log softmax(x) along `axis`, shifted by the maximum (float64).

    Parameters
    ----------
    x : array_like
        Logits.
    axis : int, default -1
        Axis of the classes.

    Returns
    -------
    ndarray
        ``x - logsumexp(x)`` along `axis`, float64, the shape of `x`.

    Examples
    --------
    >>> from kl_ext import reference_logits
    >>> reference_logits.log_softmax([0.0, 0.0])
    array([-0.69314718, -0.69314718])
    """
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=axis, keepdims=True)
    z = x - m
    # (annotated: NumPy's stubs type ufunc calls as Any)
    out: NDArray[np.float64] = z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))
    return out


def cross_entropy_logits(logits: ArrayLike, target: ArrayLike, *, axis: SupportsIndex = -1,
                         label_smoothing: float = 0.0) -> np.float64 | NDArray[np.float64]:
    """-sum t' log softmax(logits) per row; labels if target has one
    dimension fewer than logits, probability rows otherwise.

    Parameters
    ----------
    logits : array_like
        Logits, the classes along `axis`.
    target : array_like
        Integer class labels (one dimension fewer than `logits`) or
        probability rows (as many dimensions, broadcasting).
    axis : int, default -1
        Axis of the classes.
    label_smoothing : float, default 0.0
        eps: the target becomes ``(1 - eps) t + eps / C`` (as PyTorch).

    Returns
    -------
    ndarray
        One loss per row, float64 (see :func:`kl_ext.cross_entropy_logits`).

    Examples
    --------
    >>> from kl_ext import reference_logits
    >>> reference_logits.cross_entropy_logits([[2.0, 1.0, 0.1]], [0])
    array([0.41703002])
    """
    x = np.moveaxis(np.asarray(logits, dtype=np.float64), axis, -1)
    lsm = log_softmax(x, axis=-1)
    n = x.shape[-1]
    t = np.asarray(target)
    if t.ndim == x.ndim - 1:
        t = np.eye(n)[t.astype(np.intp)]
    else:
        t = np.moveaxis(t.astype(np.float64), axis, -1)
    t = (1.0 - label_smoothing) * t + label_smoothing / n
    out: np.float64 | NDArray[np.float64] = -np.sum(t * lsm, axis=-1)
    return out


def kl_divergence_logits(logits_p: ArrayLike, logits_q: ArrayLike, *,
                         axis: SupportsIndex = -1, temperature: float = 1.0) -> np.float64 | NDArray[np.float64]:
    """KL(softmax(a/T) || softmax(b/T)) per row.

    Parameters
    ----------
    logits_p, logits_q : array_like
        Logits a and b of the two distributions, the classes along `axis`.
    axis : int, default -1
        Axis of the classes.
    temperature : float, default 1.0
        T > 0 (not checked).

    Returns
    -------
    ndarray or NumPy scalar
        One divergence per row, float64 (see :func:`kl_ext.kl_divergence_logits`).

    Examples
    --------
    >>> from kl_ext import reference_logits
    >>> reference_logits.kl_divergence_logits([2.0, 1.0, 0.1], [0.5, 2.5, 0.3])
    np.float64(0.9081585809327218)
    """
    a = np.asarray(logits_p, dtype=np.float64) / temperature
    b = np.asarray(logits_q, dtype=np.float64) / temperature
    lp = log_softmax(a, axis=axis)
    lq = log_softmax(b, axis=axis)
    out: np.float64 | NDArray[np.float64] = np.sum(np.exp(lp) * (lp - lq), axis=axis)
    return out
