"""1-D Wasserstein distances (work in progress: _cdf_distance first)."""

import math

import numpy as np

from . import reference_wasserstein as _ref

__all__ = []


class _ShapeTypeError(TypeError, ValueError):
    """0-d values: SciPy raises TypeError (len() of unsized object)."""


def _validate_distribution(values, weights, name):
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
                         f"{weights[np.flatnonzero(weights < 0)[0]]!r}.")
    s = weights.sum()
    if not 0 < s < np.inf:
        raise ValueError(f"Weight array-like sum must be positive and finite: "
                         f"{name}_weights sums to {s!r}. Set as None for an equal "
                         "distribution of weight.")
    return values, weights


def _cdf_distance(order, u_values, v_values, u_weights=None, v_weights=None):
    r"""SciPy's ``scipy.stats._stats_py._cdf_distance`` for 1-D samples.

    Returns :math:`(\int |U - V|^p\,dx)^{1/p}` as a NumPy float64, U and V
    the CDFs of the weighted samples.  Order 1 is W_1; order 2 is the L2
    distance between the CDFs (``energy_distance = sqrt(2) * this``).
    Same validation and exceptions as SciPy.
    """
    u, uw = _validate_distribution(u_values, u_weights, "u")
    v, vw = _validate_distribution(v_values, v_weights, "v")
    return np.float64(_ref.cdf_distance(order, u, v, uw, vw))
