"""Plain-NumPy reference versions of the 1-D Wasserstein functions.

Slow, obviously-correct versions of :func:`kl_ext.wasserstein_1d`,
:func:`kl_ext.wasserstein_hist` and the private ``_cdf_distance`` (the
function behind ``scipy.stats.wasserstein_distance`` and
``scipy.stats.energy_distance``).  They are the truth for the tests and the
baseline for the benchmarks.  Self-contained (NumPy only), 1-D inputs only,
no validation beyond what the formulas need: weights are assumed
non-negative with a positive finite sum.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["wasserstein_1d", "wasserstein_hist", "cdf_distance"]


def _sorted_with_weights(values: ArrayLike, weights: ArrayLike | None
                         ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    values = np.asarray(values, dtype=np.float64)
    if weights is None:
        weights = np.ones_like(values)
    weights = np.asarray(weights, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    return values[order], weights[order]


def wasserstein_1d(u_values: ArrayLike, v_values: ArrayLike, u_weights: ArrayLike | None = None,
                   v_weights: ArrayLike | None = None, order: float = 1) -> float:
    r"""W_p between two weighted 1-D samples, from their quantile functions.

    .. math::

        W_p(u, v) = \left(\int_0^1 |F_u^{-1}(t) - F_v^{-1}(t)|^p\,dt\right)^{1/p},
        \qquad W_\infty = \operatorname{ess\,sup}_t |F_u^{-1}(t) - F_v^{-1}(t)|.

    The quantile functions are step functions; the integral is a sum over
    the intervals between the merged cumulative weights (intervals of zero
    length are left out, so a zero-weight sample never contributes).

    Parameters
    ----------
    u_values, v_values : array_like
        The two 1-D samples (not necessarily sorted).
    u_weights, v_weights : array_like, optional
        Non-negative weights of the samples, with a positive finite sum
        (not checked); default equal weights.
    order : float, default 1
        p >= 1, or ``np.inf``.

    Returns
    -------
    float
        The distance W_p (not its p-th power).

    Examples
    --------
    >>> from kl_ext import reference_wasserstein
    >>> reference_wasserstein.wasserstein_1d([0, 1, 3], [5, 6, 8])
    5.0
    """
    u, uw = _sorted_with_weights(u_values, u_weights)
    v, vw = _sorted_with_weights(v_values, v_weights)
    cu = np.cumsum(uw)
    cv = np.cumsum(vw)
    cu /= cu[-1]  # (not uw.sum(): pairwise, so the last step might not be 1)
    cv /= cv[-1]
    t = np.sort(np.concatenate(([0.0], cu, cv)))
    dt = np.diff(t)
    keep = dt > 0
    # sample active on [t_k, t_{k+1}): the first whose cumulative weight
    # exceeds t_k
    iu = np.minimum(np.searchsorted(cu, t[:-1], side="right"), u.size - 1)
    iv = np.minimum(np.searchsorted(cv, t[:-1], side="right"), v.size - 1)
    with np.errstate(invalid="ignore"):
        d = np.abs(u[iu] - v[iv])[keep]
    dt = dt[keep]
    if order == np.inf:
        return float(np.max(d))
    return float(np.sum(dt * d ** order) ** (1.0 / order))


def cdf_distance(order: float, u_values: ArrayLike, v_values: ArrayLike,
                 u_weights: ArrayLike | None = None, v_weights: ArrayLike | None = None) -> float:
    r"""SciPy's ``_cdf_distance``: :math:`(\int |U - V|^p dx)^{1/p}`.

    U and V are the (right-continuous) CDFs of the weighted samples.  Order
    1 is W_1 (``scipy.stats.wasserstein_distance``); order 2 is the L2
    distance between the CDFs, and ``sqrt(2) * cdf_distance(2, ...)`` is
    ``scipy.stats.energy_distance``.  Written from the formula, evaluated
    on the merged sorted samples (including zero-width steps at repeated
    values, as SciPy does, so an infinite value that repeats gives NaN).

    Parameters
    ----------
    order : float
        The exponent p.
    u_values, v_values : array_like
        The two 1-D samples (not necessarily sorted).
    u_weights, v_weights : array_like, optional
        Non-negative weights of the samples, with a positive finite sum
        (not checked); default equal weights.

    Returns
    -------
    float
        The L^p distance between the two CDFs.

    Examples
    --------
    >>> from kl_ext import reference_wasserstein
    >>> reference_wasserstein.cdf_distance(1, [0, 1, 3], [5, 6, 8])
    5.0
    """
    u, uw = _sorted_with_weights(u_values, u_weights)
    v, vw = _sorted_with_weights(v_values, v_weights)
    x = np.sort(np.concatenate((u, v)))
    with np.errstate(invalid="ignore"):
        dx = np.diff(x)
    cu = np.concatenate(([0.0], np.cumsum(uw)))
    cv = np.concatenate(([0.0], np.cumsum(vw)))
    U = cu[np.searchsorted(u, x[:-1], side="right")] / cu[-1]
    V = cv[np.searchsorted(v, x[:-1], side="right")] / cv[-1]
    with np.errstate(invalid="ignore"):
        return float(np.sum(np.abs(U - V) ** order * dx) ** (1.0 / order))


def wasserstein_hist(p: ArrayLike, q: ArrayLike, support: ArrayLike | None = None,
                     order: float = 1) -> float:
    r"""W_p between two histograms on a common sorted support.

    Order 1 by the CDF form :math:`\sum_i |P_i - Q_i|\,(x_{i+1} - x_i)`
    with cumulative sums P, Q of the normalised histograms; other orders by
    :func:`wasserstein_1d` with the histograms as weights.

    Parameters
    ----------
    p, q : array_like
        1-D non-negative histograms of the same length, each with a
        positive finite sum (not checked).
    support : array_like, optional
        The sorted bin positions; default ``0, 1, ..., n-1``.
    order : float, default 1
        p >= 1, or ``np.inf``.

    Returns
    -------
    float
        The distance W_p.

    Examples
    --------
    >>> from kl_ext import reference_wasserstein
    >>> reference_wasserstein.wasserstein_hist([1, 0, 0], [0, 0, 1])
    2.0
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    x = (np.arange(p.shape[-1], dtype=np.float64) if support is None
         else np.asarray(support, dtype=np.float64))
    if order == 1:
        P = np.cumsum(p / p.sum())
        Q = np.cumsum(q / q.sum())
        return float(np.sum(np.abs(P - Q)[:-1] * np.diff(x)))
    return wasserstein_1d(x, x, p, q, order=order)
