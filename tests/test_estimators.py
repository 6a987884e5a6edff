"""Sampled KL estimators: kl_ext.estimators."""

import math

import mpmath
import numpy as np
import pytest
from numpy.exceptions import AxisError
from numpy.testing import assert_allclose

from kl_ext.estimators import KLEstimate, kl_estimate, kl_monte_carlo


def normal_logpdf(x, mu, sigma):
    return -0.5 * ((x - mu) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)


def gaussian_samples(seed, shape, mu_q=0.5, sigma_q=0.9):
    """log p, log q at x ~ p = N(0, 1), and the exact KL(p || q)."""
    x = np.random.default_rng(seed).normal(size=shape)
    exact = math.log(sigma_q) + (1 + mu_q**2) / (2 * sigma_q**2) - 0.5
    return normal_logpdf(x, 0, 1), normal_logpdf(x, mu_q, sigma_q), exact


@pytest.mark.parametrize("estimator", ["k1", "k3"])
def test_unbiased_on_gaussians(estimator):
    # one estimate per row, 200 independent rows: each within 4.5 stderr, and
    # the mean of the estimates within 4 of its own standard error.  q has
    # lighter tails than p, so r = q/p is bounded and k3's variance finite
    logp, logq, exact = gaussian_samples(0, (200, 2000))
    est, se = kl_estimate(logp, logq, estimator=estimator)
    assert est.shape == se.shape == (200,)
    z = (est - exact) / se
    assert np.abs(z).max() < 4.5
    grand = est.mean()
    assert abs(grand - exact) < 4 * se.mean() / np.sqrt(200)
    # and the z-scores look standard normal (the stderr is honest)
    assert 0.8 < z.std() < 1.2


def test_k2_is_biased_but_second_order():
    logp, logq, exact = gaussian_samples(1, 400_000, mu_q=0.05, sigma_q=1.0)
    est, se = kl_estimate(logp, logq, estimator="k2")
    # for a mean shift, E[(1/2) log^2 r] = mu^2/2 + mu^4/8 ... close to KL = mu^2/2
    assert abs(est - exact) < 4 * se + 1e-5


def test_k3_nonnegative_and_accurate_terms():
    rng = np.random.default_rng(2)
    d = np.concatenate([rng.normal(scale=s, size=1000) for s in (1e-12, 1e-5, 0.1, 1, 30)])
    est, _ = kl_estimate(np.zeros((d.size, 1)), d[:, None], estimator="k3", axis=-1)
    assert (est >= 0).all()
    for i in range(0, d.size, 97):
        with mpmath.workdps(40):
            want = float(mpmath.expm1(mpmath.mpf(float(d[i]))) - mpmath.mpf(float(d[i])))
        assert_allclose(est[i], want, rtol=2e-15)


def test_k3_no_overflow_in_intermediates():
    with np.errstate(all="raise"):
        est, _ = kl_estimate([0.0, 0.0, 0.0], [-800.0, 0.0, 5.0], estimator="k3")
    assert est == pytest.approx((799 + 0 + (math.expm1(5) - 5)) / 3)
    est, se = kl_estimate([0.0, 0.0], [800.0, 1.0], estimator="k3")
    assert est == np.inf
    est, _ = kl_estimate([0.0], [709.0], estimator="k3")
    assert est == pytest.approx(math.expm1(709) - 709)


def test_values_by_hand():
    logp = np.array([-1.0, -2.0, -0.5])
    logq = np.array([-1.5, -1.0, -0.5])
    d = logq - logp
    for name, terms in [("k1", -d), ("k2", 0.5 * d**2), ("k3", np.expm1(d) - d)]:
        r = kl_estimate(logp, logq, estimator=name)
        assert isinstance(r, KLEstimate)
        assert_allclose(r.estimate, terms.mean(), rtol=1e-15)
        assert_allclose(r.stderr, terms.std(ddof=1) / np.sqrt(3), rtol=1e-15)
        assert type(r.estimate) is np.float64


def test_axis_and_shapes():
    logp, logq, _ = gaussian_samples(3, (4, 5, 50))
    est0, se0 = kl_estimate(logp, logq, axis=-1)
    est1, se1 = kl_estimate(np.moveaxis(logp, -1, 0), np.moveaxis(logq, -1, 0), axis=0)
    assert est0.shape == se0.shape == (4, 5)
    assert_allclose(est0, est1, rtol=1e-14)
    assert_allclose(se0, se1, rtol=1e-14)
    est, se = kl_estimate(logp[..., :1], logq[..., :1])
    assert est.shape == (4, 5) and np.isnan(se).all()
    assert np.isfinite(est).all()


def test_dtypes():
    logp, logq, _ = gaussian_samples(4, (3, 100))
    r32 = kl_estimate(logp.astype(np.float32), logq.astype(np.float32), estimator="k3")
    r64 = kl_estimate(logp.astype(np.float32).astype(np.float64),
                      logq.astype(np.float32).astype(np.float64), estimator="k3")
    assert r32.estimate.dtype == r32.stderr.dtype == np.float32
    assert_allclose(r32.estimate, r64.estimate, rtol=1e-6)
    assert kl_estimate(logp.astype(np.float32), logq).estimate.dtype == np.float64
    assert kl_estimate([0, 1], [1, 1]).estimate.dtype == np.float64


def test_nan_propagates_per_row():
    logp = np.zeros((2, 3))
    logq = np.zeros((2, 3))
    logq[1, 1] = np.nan
    for name in ("k1", "k2", "k3"):
        est, se = kl_estimate(logp, logq, estimator=name)
        assert est[0] == 0 and np.isnan(est[1]) and np.isnan(se[1])


def test_inputs_not_modified():
    logp = np.array([-1.0, -2.0])
    logq = np.array([-2.0, -1.0])
    logp.setflags(write=False)
    kl_estimate(logp, logq, estimator="k3")
    assert logq.tolist() == [-2.0, -1.0]


def test_errors():
    with pytest.raises(ValueError, match="estimator must be one of 'k1', 'k2', 'k3', got 'k4'"):
        kl_estimate([0.0], [0.0], estimator="k4")
    with pytest.raises(ValueError, match=r"logp with shape \(3, 1\) and logq with shape \(3,\)"):
        kl_estimate(np.zeros((3, 1)), np.zeros(3))
    with pytest.raises(ValueError, match="empty axis"):
        kl_estimate(np.zeros((2, 0)), np.zeros((2, 0)))
    with pytest.raises(ValueError, match="at least one dimension"):
        kl_estimate(0.0, 0.0)
    with pytest.raises(AxisError):
        kl_estimate(np.zeros((2, 3)), np.zeros((2, 3)), axis=2)
    with pytest.raises(TypeError, match="axis must be an integer"):
        kl_estimate(np.zeros(3), np.zeros(3), axis=0.5)
    with pytest.raises(TypeError, match="logq must be real-valued"):
        kl_estimate(np.zeros(3), np.zeros(3, complex))


# ------------------------------------------------------------ kl_monte_carlo

def test_monte_carlo_gaussian():
    stats = pytest.importorskip("scipy.stats")
    from kl_ext.parametric import kl_gaussian
    # k1 on KL(N(0,1) || N(1,2)) = log 2 - 1/4 (q heavier-tailed: k3's variance
    # would be infinite there); k3 on the reverse pair, where q/p is bounded
    for (p, q, estimator) in [((0, 1), (1, 2), "k1"), ((1, 2), (0, 1.5), "k3"),
                              ((1, 2), (0, 1.5), "k1")]:
        est, se = kl_monte_carlo(stats.norm(*p), stats.norm(*q), 50_000, rng=1,
                                 estimator=estimator)
        assert abs(est - kl_gaussian(*p, *q)) < 4 * se
        assert 0 < se < 0.02


def test_monte_carlo_discrete_and_reproducible():
    stats = pytest.importorskip("scipy.stats")
    p, q = stats.poisson(3.0), stats.poisson(4.0)
    exact = 3 * math.log(3 / 4) - 3 + 4
    est, se = kl_monte_carlo(p, q, 40_000, rng=np.random.default_rng(5))
    assert abs(est - exact) < 4 * se
    a = kl_monte_carlo(p, q, 1000, rng=7)
    b = kl_monte_carlo(p, q, 1000, rng=7)
    assert a == b
    one = kl_monte_carlo(p, q, 1, rng=7)
    assert np.isfinite(one.estimate) and np.isnan(one.stderr)


def test_monte_carlo_multivariate():
    stats = pytest.importorskip("scipy.stats")
    from kl_ext.parametric import kl_mvn
    cp, cq = np.eye(2), np.array([[2.0, 0.3], [0.3, 1.0]])
    p = stats.multivariate_normal([0, 0], cp)
    q = stats.multivariate_normal([0.5, 0], cq)
    est, se = kl_monte_carlo(p, q, 40_000, rng=3)
    assert abs(est - kl_mvn([0, 0], cp, [0.5, 0], cq)) < 4 * se


def test_monte_carlo_errors():
    stats = pytest.importorskip("scipy.stats")
    p = stats.norm()
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        kl_monte_carlo(p, p, 0)
    with pytest.raises(TypeError, match="n must be an integer"):
        kl_monte_carlo(p, p, 10.0)
    with pytest.raises(TypeError, match="dist_q must have a logpdf or logpmf"):
        kl_monte_carlo(p, object(), 10)
    with pytest.raises(TypeError, match="dist_p must have an rvs method"):
        kl_monte_carlo(object(), p, 10)
    with pytest.raises(ValueError, match="estimator must be one of"):
        kl_monte_carlo(p, p, 10, estimator="k9")
