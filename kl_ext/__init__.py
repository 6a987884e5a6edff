"""kl_ext: fast, exactly-specified information measures.

Cython kernels for entropy, cross-entropy, Kullback-Leibler and
Jensen-Shannon divergence and total variation, with a NumPy-style API:
every function reduces along ``axis`` (default -1), broadcasts ``p`` against
``q``, works in nats unless ``base`` is given, and keeps the conventions
0·log 0 = 0, +inf where supports differ, NaN in gives NaN out.

Plain-NumPy versions of every measure are in :mod:`kl_ext.reference`.
"""

from .measures import (cross_entropy, entropy, js_distance, js_divergence,
                       kl_divergence, total_variation)

__version__ = "0.1.0"

__all__ = ["entropy", "cross_entropy", "kl_divergence", "js_divergence",
           "js_distance", "total_variation"]
