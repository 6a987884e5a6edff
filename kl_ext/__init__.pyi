# Stub for kl_ext/__init__.py: its lazy module `__getattr__` (PEP 562) would
# make every lazily loaded name `Any` to a type checker, so each one is
# declared here by re-export from the module that defines it.  Keep in step
# with _LAZY and __all__ in __init__.py (tests/test_stubs.py checks it).
from . import _table
from .estimators import KLEstimate as KLEstimate
from .estimators import kl_estimate as kl_estimate
from .estimators import kl_monte_carlo as kl_monte_carlo
from .logits import cross_entropy_logits as cross_entropy_logits
from .logits import kl_divergence_logits as kl_divergence_logits
from .measures import cross_entropy as cross_entropy
from .measures import entropy as entropy
from .measures import hellinger_distance as hellinger_distance
from .measures import jeffreys_divergence as jeffreys_divergence
from .measures import js_distance as js_distance
from .measures import js_divergence as js_divergence
from .measures import kl_divergence as kl_divergence
from .measures import total_variation as total_variation
from .parametric import kl_bernoulli as kl_bernoulli
from .parametric import kl_beta as kl_beta
from .parametric import kl_gaussian as kl_gaussian
from .parametric import kl_mvn as kl_mvn
from .parametric import kl_ucb as kl_ucb
from .report import Comparison as Comparison
from .report import compare as compare
from .wasserstein import wasserstein_1d as wasserstein_1d
from .wasserstein import wasserstein_hist as wasserstein_hist

_MEASURES = _table.MEASURES
_LAZY: dict[str, str]

__version__: str

__all__ = [
    "entropy", "cross_entropy", "kl_divergence", "js_divergence", "js_distance",
    "total_variation", "hellinger_distance", "jeffreys_divergence",
    "wasserstein_1d", "wasserstein_hist",
    "kl_estimate", "kl_monte_carlo", "KLEstimate",
    "kl_gaussian", "kl_mvn", "kl_beta", "kl_bernoulli", "kl_ucb",
    "compare", "Comparison", "cross_entropy_logits", "kl_divergence_logits",
]
