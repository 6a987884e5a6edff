"""`import kl_ext` is light: NumPy only, no SciPy, and the families other
than the divergence measures load on first use."""

import subprocess
import sys

import kl_ext

LAZY = ["wasserstein_1d", "wasserstein_hist", "kl_estimate", "kl_monte_carlo", "KLEstimate",
        "kl_gaussian", "kl_mvn", "kl_beta", "kl_bernoulli", "kl_ucb", "compare",
        "Comparison", "cross_entropy_logits", "kl_divergence_logits"]


def test_import_needs_only_numpy():
    code = ("import sys, kl_ext; bad = [m for m in ('scipy', 'torch', 'sklearn', "
            "'matplotlib', 'kl_ext.wasserstein', 'kl_ext.logits', 'kl_ext.compat') "
            "if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_every_public_name_resolves():
    for name in kl_ext.__all__:
        assert callable(getattr(kl_ext, name)), name
    assert set(LAZY) <= set(dir(kl_ext))


def test_unknown_attribute_is_an_attribute_error():
    import pytest
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        kl_ext.nope  # noqa: B018
