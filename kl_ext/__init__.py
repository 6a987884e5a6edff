"""kl_ext: fast, exactly-specified information measures.

Cython kernels for entropy, cross-entropy, Kullback-Leibler and
Jensen-Shannon divergence, total variation and the 1-D Wasserstein
distance, with a NumPy-style API: every function reduces along ``axis``
(default -1), broadcasts its two inputs against each other, works in nats
unless ``base`` is given, and keeps the conventions 0·log 0 = 0, +inf where
supports differ, NaN in gives NaN out.

* :mod:`kl_ext.reference` -- plain-NumPy versions of the divergence measures
  (:mod:`kl_ext.reference_wasserstein` for the Wasserstein distances);
* :mod:`kl_ext.compat` -- drop-in replacements for ``scipy.stats.entropy``,
  ``scipy.spatial.distance.jensenshannon``, ``scipy.special.rel_entr``/
  ``kl_div``/``entr`` and ``scipy.stats.wasserstein_distance``/
  ``energy_distance`` (``from kl_ext.compat import entropy``; imported on
  demand, so ``import kl_ext`` stays as light as NumPy).

* :mod:`kl_ext.chunked` -- partial statistics of chunks of the reduction
  axis that merge exactly (streams, Spark, files split in pieces);
* :mod:`kl_ext.dask` -- the same measures on Dask arrays (imports Dask; not
  loaded by ``import kl_ext``).

``kl_ext.measures.CPU_TIER`` names the kernel build chosen for this CPU
(baseline, v3 = AVX2, v4 = AVX-512).
"""

from .measures import (cross_entropy, entropy, hellinger_distance, jeffreys_divergence,
                       js_distance, js_divergence, kl_divergence, total_variation)
from ._table import MEASURES as _MEASURES

# The other families load on first use (PEP 562), so that ``import kl_ext``
# costs little more than ``import numpy``.
_LAZY = {
    "wasserstein_1d": "wasserstein", "wasserstein_hist": "wasserstein",
    "kl_estimate": "estimators", "kl_monte_carlo": "estimators", "KLEstimate": "estimators",
    "kl_gaussian": "parametric", "kl_mvn": "parametric", "kl_beta": "parametric",
    "kl_bernoulli": "parametric", "kl_ucb": "parametric",
    "compare": "report", "Comparison": "report",
    "cross_entropy_logits": "logits", "kl_divergence_logits": "logits",
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kl_ext' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [m.name for m in _MEASURES] + [
           "wasserstein_1d", "wasserstein_hist",
           "kl_estimate", "kl_monte_carlo", "KLEstimate",
           "kl_gaussian", "kl_mvn", "kl_beta", "kl_bernoulli", "kl_ucb",
           "compare", "Comparison", "cross_entropy_logits", "kl_divergence_logits"]
