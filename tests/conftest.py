"""Shared pytest configuration for the kl_ext test suite.

Hypothesis runs derandomised by default (as SciPy's conftest does), so a
failure seen once is seen on every run and in CI; ``deadline=None`` because
the first call of a kernel (and the machine shared with other jobs) makes
timings noisy.  Select another profile with ``HYPOTHESIS_PROFILE=dev`` (more
examples, random seeds) when hunting for bugs.
"""

import os

import pytest

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis is a test dependency; only its tests need it
    settings = None

if settings is not None:
    settings.register_profile(
        "ci", derandomize=True, deadline=None, max_examples=60,
        suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile(
        "dev", derandomize=False, deadline=None, max_examples=1000,
        suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="module")
def environ_restored():
    """Put os.environ back as it was when a module's cluster fixture ends.

    distributed's nannies write their pre-spawn environment
    (``OMP_NUM_THREADS=1``, ``MALLOC_TRIM_THRESHOLD_``) into the process that
    starts a LocalCluster and never undo it, so every later test's
    subprocess would inherit one OpenMP thread.  Request it before the
    cluster fixture's own setup (it is torn down after the cluster closes).
    """
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
