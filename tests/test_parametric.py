"""Closed-form KL of parametric families: kl_ext.parametric."""

import sys

import mpmath
import numpy as np
import pytest
from numpy.testing import assert_allclose

from kl_ext.parametric import kl_bernoulli, kl_beta, kl_gaussian, kl_mvn, kl_ucb



def _dps50(f):
    """Run the reference at 50 digits without changing mpmath's global precision."""
    def wrapped(*args):
        with mpmath.workdps(50):
            return f(*args)
    return wrapped


# ------------------------------------------------------------ references

@_dps50
def mp_gauss(mp_, sp, mq, sq):
    mp_, sp, mq, sq = (mpmath.mpf(float(x)) for x in (mp_, sp, mq, sq))
    return float(mpmath.log(sq / sp) + (sp**2 + (mp_ - mq)**2) / (2 * sq**2) - mpmath.mpf(1) / 2)


@_dps50
def mp_bern(p, q):
    p, q = mpmath.mpf(float(p)), mpmath.mpf(float(q))
    if (q == 0 and p > 0) or (q == 1 and p < 1):
        return np.inf
    t1 = 0 if p == 0 else p * mpmath.log(p / q)
    # log1p form: 1 - p would need 300 digits for p = 1e-300
    t2 = 0 if p == 1 else (1 - p) * mpmath.log1p((q - p) / (1 - q))
    return float(t1 + t2)


@_dps50
def mp_mvn(mu_p, cp, mu_q, cq):
    k = len(mu_p)
    cp, cq = mpmath.matrix(cp.tolist()), mpmath.matrix(cq.tolist())
    d = mpmath.matrix((np.asarray(mu_q) - np.asarray(mu_p)).tolist())
    iq = cq ** -1
    tr = sum((iq * cp)[i, i] for i in range(k))
    maha = (d.T * iq * d)[0, 0]
    return float((tr + maha - k + mpmath.log(mpmath.det(cq) / mpmath.det(cp))) / 2)


def quad_kl(logpdf_p, logpdf_q, lo, hi, points=None):
    integrate = pytest.importorskip("scipy.integrate")

    def f(x):
        lp = logpdf_p(x)
        return np.exp(lp) * (lp - logpdf_q(x))
    val, err = integrate.quad(f, lo, hi, points=points, limit=200, epsabs=1e-13, epsrel=1e-12)
    return val


def spd(rng, k, cond=10.0):
    a = rng.normal(size=(k, k))
    q, _ = np.linalg.qr(a)
    ev = np.geomspace(1.0, cond, k)
    c = (q * ev) @ q.T
    return 0.5 * (c + c.T)


# ------------------------------------------------------------ Gaussian

def test_gaussian_published_value():
    # KL(N(0,1) || N(1,2)) = log 2 + (1 + 1)/8 - 1/2
    assert kl_gaussian(0.0, 1.0, 1.0, 2.0) == pytest.approx(np.log(2) - 0.25, rel=1e-15)


@pytest.mark.parametrize("params", [(0, 1, 1, 2), (0.3, 0.5, -1.2, 1.7), (2, 3, 2, 0.4),
                                    (0, 1, 0, 1.1)])
def test_gaussian_vs_quad(params):
    norm = pytest.importorskip("scipy.stats").norm
    mp_, sp, mq, sq = params
    want = quad_kl(norm(mp_, sp).logpdf, norm(mq, sq).logpdf, -np.inf, np.inf)
    assert_allclose(kl_gaussian(*params), want, rtol=1e-9, atol=1e-12)


def test_gaussian_vs_mpmath_near_equal():
    # the textbook form cancels here; the series must keep full accuracy
    for eps in [1e-3, 1e-6, 1e-9, 1e-12, -1e-7, 0.05, -0.06, 0.07, 0.5, 3.0, 1e-3 - 1]:
        for mu in [0.0, 1e-8]:
            sp = 1.0 + eps
            got = kl_gaussian(0.0, sp, mu, 1.0)
            assert_allclose(got, mp_gauss(0.0, sp, mu, 1.0), rtol=4e-15)


def test_gaussian_extreme_sigmas():
    assert_allclose(kl_gaussian(0, 1e-300, 0, 1e300), mp_gauss(0, 1e-300, 0, 1e300), rtol=1e-14)
    assert_allclose(kl_gaussian(0, 1e200, 0, 1e200 * (1 + 2**-40)),
                    mp_gauss(0, 1e200, 0, 1e200 * (1 + 2**-40)), rtol=1e-13)
    assert kl_gaussian(0, 1e300, 0, 1e-300) == np.inf


def test_gaussian_identity_and_broadcast():
    assert kl_gaussian(3.0, 2.0, 3.0, 2.0) == 0.0
    mu = np.linspace(-1, 1, 5)[:, None]
    sig = np.array([0.5, 1.0, 2.0])
    got = kl_gaussian(mu, sig, 0.0, 1.0)
    assert got.shape == (5, 3)
    want = [[mp_gauss(m, s, 0, 1) for s in sig] for m in mu[:, 0]]
    assert_allclose(got, want, rtol=1e-14)


def test_gaussian_dtypes():
    r = kl_gaussian(np.float32([0, 1]), np.float32(1), np.float32(0), np.float32(2))
    assert r.dtype == np.float32
    assert kl_gaussian(np.float32(0), 1.0, 0, 2).dtype == np.float32   # Python scalars are weak
    assert kl_gaussian(np.float32(0), np.float64(1), 0, 2).dtype == np.float64
    assert type(kl_gaussian(0, 1, 0, 2)) is np.float64
    assert kl_gaussian([0, 1], [1, 2], 0, 1).dtype == np.float64      # integers -> float64


def test_gaussian_does_not_modify_inputs():
    mu = np.array([1.0, 2.0])
    sig = np.array([1.0, 3.0])
    sig.setflags(write=False)
    kl_gaussian(mu, sig, 0.0, 1.0)
    assert mu.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("args, match", [
    ((0, 0.0, 0, 1), "sigma_p must be finite and > 0, got 0.0"),
    ((0, 1, 0, [1, -2]), "sigma_q must be finite and > 0, got -2.0"),
    ((0, np.inf, 0, 1), "sigma_p must be finite and > 0, got inf"),
    ((0, 1, np.nan, 1), "mu_q must be finite, got nan"),
    ((0, [1, 2], 0, [1, 2, 3]), "do not broadcast"),
])
def test_gaussian_errors(args, match):
    with pytest.raises(ValueError, match=match):
        kl_gaussian(*args)


def test_gaussian_type_errors():
    with pytest.raises(TypeError, match="mu_p must be real-valued"):
        kl_gaussian(1j, 1, 0, 1)
    with pytest.raises(TypeError, match="sigma_q must be a real numeric array"):
        kl_gaussian(0, 1, 0, "a")


def test_gaussian_vs_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    mp_, mq = rng.normal(size=(2, 50))
    sp, sq = rng.uniform(0.2, 3, size=(2, 50))
    D = torch.distributions
    want = D.kl_divergence(D.Normal(torch.tensor(mp_), torch.tensor(sp)),
                           D.Normal(torch.tensor(mq), torch.tensor(sq))).numpy()
    assert_allclose(kl_gaussian(mp_, sp, mq, sq), want, rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------ MVN

def test_mvn_diagonal_is_sum_of_univariate():
    rng = np.random.default_rng(2)
    mp_, mq = rng.normal(size=(2, 4))
    sp, sq = rng.uniform(0.3, 2, size=(2, 4))
    got = kl_mvn(mp_, np.diag(sp**2), mq, np.diag(sq**2))
    assert_allclose(got, kl_gaussian(mp_, sp, mq, sq).sum(), rtol=1e-14)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_mvn_vs_mpmath(k):
    rng = np.random.default_rng(k)
    cp, cq = spd(rng, k), spd(rng, k, cond=100.0)
    mp_, mq = rng.normal(size=(2, k))
    assert_allclose(kl_mvn(mp_, cp, mq, cq), mp_mvn(mp_, cp, mq, cq), rtol=1e-12)


def test_mvn_near_equal():
    rng = np.random.default_rng(7)
    c = spd(rng, 3)
    assert kl_mvn(np.zeros(3), c, np.zeros(3), c) < 1e-28
    c2 = c * (1 + 1e-6)
    # Sigma_p = (1 + e) Sigma_q: KL = (k/2) [(1/(1+e) - 1) + log(1 + e)] exactly
    with mpmath.workdps(50):
        e = mpmath.mpf(1e-6)
        want = float(3 * ((1 / (1 + e) - 1) + mpmath.log(1 + e)) / 2)
    assert_allclose(kl_mvn(np.zeros(3), c, np.zeros(3), c2), want, rtol=1e-8)


def test_mvn_batched_and_broadcast():
    rng = np.random.default_rng(3)
    covs = np.stack([spd(rng, 3) for _ in range(6)]).reshape(2, 3, 3, 3)
    means = rng.normal(size=(2, 3, 3))
    cq = spd(rng, 3)
    got = kl_mvn(means, covs, np.zeros(3), cq)
    assert got.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            assert_allclose(got[i, j], mp_mvn(means[i, j], covs[i, j], np.zeros(3), cq),
                            rtol=1e-12)
    assert type(kl_mvn(np.zeros(2), np.eye(2), np.ones(2), np.eye(2))) is np.float64
    assert kl_mvn(np.zeros(2, np.float32), np.eye(2, dtype=np.float32),
                  np.ones(2, np.float32), np.eye(2, dtype=np.float32)).dtype == np.float32


def test_mvn_vs_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    cp = np.stack([spd(rng, 4) for _ in range(5)])
    cq = np.stack([spd(rng, 4, cond=50) for _ in range(5)])
    mp_, mq = rng.normal(size=(2, 5, 4))
    D = torch.distributions
    want = D.kl_divergence(
        D.MultivariateNormal(torch.tensor(mp_), covariance_matrix=torch.tensor(cp)),
        D.MultivariateNormal(torch.tensor(mq), covariance_matrix=torch.tensor(cq))).numpy()
    assert_allclose(kl_mvn(mp_, cp, mq, cq), want, rtol=1e-10)


def test_mvn_errors():
    eye = np.eye(2)
    bad = np.stack([eye, eye, np.array([[1.0, 2.0], [2.0, 1.0]])])
    with pytest.raises(ValueError, match=r"cov_q is not positive definite \(batch index 2\)"):
        kl_mvn(np.zeros(2), eye, np.zeros(2), bad)
    with pytest.raises(ValueError, match=r"cov_p is not positive definite$"):
        kl_mvn(np.zeros(2), -eye, np.zeros(2), eye)
    with pytest.raises(ValueError, match="cov_p is not symmetric"):
        kl_mvn(np.zeros(2), [[1.0, 0.5], [0.0, 1.0]], np.zeros(2), eye)
    with pytest.raises(ValueError, match=r"cov_q must have shape \(..., k, k\)"):
        kl_mvn(np.zeros(2), eye, np.zeros(2), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"mean_q must have shape \(..., 2\)"):
        kl_mvn(np.zeros(2), eye, np.zeros(3), eye)
    with pytest.raises(ValueError, match="mean_p must be finite"):
        kl_mvn([np.nan, 0], eye, np.zeros(2), eye)
    with pytest.raises(ValueError, match="batch shapes do not broadcast"):
        kl_mvn(np.zeros((3, 2)), eye, np.zeros((4, 2)), eye)


# ------------------------------------------------------------ Beta

@pytest.mark.filterwarnings("ignore:The algorithm does not converge")
@pytest.mark.parametrize("params", [(17, 6, 3, 3), (0.5, 0.5, 2, 5), (2, 3, 2.5, 3.5),
                                    (1, 1, 4, 0.7)])
def test_beta_vs_quad(params):
    beta = pytest.importorskip("scipy.stats").beta
    ap, bp, aq, bq = params
    want = quad_kl(beta(ap, bp).logpdf, beta(aq, bq).logpdf, 0, 1)
    assert_allclose(kl_beta(*params), want, rtol=1e-8)


def test_beta_vs_mpmath():
    pytest.importorskip("scipy")

    @_dps50
    def ref(ap, bp, aq, bq):
        ap, bp, aq, bq = map(mpmath.mpf, (ap, bp, aq, bq))
        lb = lambda a, b: mpmath.log(mpmath.beta(a, b))  # noqa: E731
        dg = mpmath.digamma
        return float(lb(aq, bq) - lb(ap, bp) + (ap - aq) * dg(ap) + (bp - bq) * dg(bp)
                     + (aq - ap + bq - bp) * dg(ap + bp))
    # the published-style value used in examples/beta_monte_carlo.py
    assert_allclose(kl_beta(17, 6, 3, 3), ref(17, 6, 3, 3), rtol=1e-14)
    assert_allclose(kl_beta(1e-3, 50, 200, 1e4), ref(1e-3, 50, 200, 1e4), rtol=1e-12)
    assert kl_beta(4.0, 5.0, 4.0, 5.0) == 0.0


def test_beta_vs_torch():
    pytest.importorskip("scipy")
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    ap, bp, aq, bq = rng.uniform(0.3, 20, size=(4, 40))
    D = torch.distributions
    want = D.kl_divergence(D.Beta(torch.tensor(ap), torch.tensor(bp)),
                           D.Beta(torch.tensor(aq), torch.tensor(bq))).numpy()
    assert_allclose(kl_beta(ap, bp, aq, bq), want, rtol=1e-10, atol=1e-13)


def test_beta_broadcast_dtype_errors():
    pytest.importorskip("scipy")
    got = kl_beta(np.float32([[1], [2]]), np.float32(2), np.float32([1, 2, 3]), np.float32(2))
    assert got.shape == (2, 3) and got.dtype == np.float32
    with pytest.raises(ValueError, match="b_q must be finite and > 0, got 0.0"):
        kl_beta(1, 1, 1, 0.0)
    with pytest.raises(ValueError, match="a_p must be finite and > 0, got -1.0"):
        kl_beta([1, -1], 1, 1, 1)


def test_beta_without_scipy(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.special", None)
    with pytest.raises(ImportError, match="kl_beta needs SciPy: pip install scipy"):
        kl_beta(1, 1, 2, 2)


# ------------------------------------------------------------ Bernoulli

def test_bernoulli_edges():
    p = np.array([0, 0, 0, 1, 1, 1, 0.5, 0.5, 0.3, 0, 1])
    q = np.array([0, 1, 0.5, 0, 1, 0.5, 0, 1, 0.3, 0.25, 0.75])
    got = kl_bernoulli(p, q)
    want = [0, np.inf, np.log(2), np.inf, 0, np.log(2), np.inf, np.inf, 0,
            -np.log(0.75), -np.log(0.75)]
    assert_allclose(got, want, rtol=1e-15)


@pytest.mark.parametrize("p", [1e-300, 1e-10, 0.01, 0.3, 0.5, 0.7, 0.999, 1 - 1e-12])
@pytest.mark.parametrize("rel", [0.0, 1e-13, 1e-9, -1e-6, 1e-3, 0.06, -0.07, 0.5, -0.9])
def test_bernoulli_vs_mpmath(p, rel):
    q = min(p * (1 + rel), 1.0)
    assert_allclose(kl_bernoulli(p, q), mp_bern(p, q), rtol=1e-13, atol=0)


def test_bernoulli_near_equal_where_one_minus_p_rounds():
    # 1 - p is inexact for p < 0.5: differences must come from p - q itself
    for p in [0.3, 0.1, 0.01, 0.4999]:
        q = p + 1e-12
        assert_allclose(kl_bernoulli(p, q), mp_bern(p, q), rtol=1e-12)
        assert_allclose(kl_bernoulli(q, p), mp_bern(q, p), rtol=1e-12)


def test_bernoulli_vs_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    p, q = rng.uniform(0.01, 0.99, size=(2, 100))
    D = torch.distributions
    want = D.kl_divergence(D.Bernoulli(probs=torch.tensor(p)),
                           D.Bernoulli(probs=torch.tensor(q))).numpy()
    assert_allclose(kl_bernoulli(p, q), want, rtol=1e-9)


def test_bernoulli_dtype_errors():
    assert kl_bernoulli(np.float32([0.1, 0.2]), np.float32(0.5)).dtype == np.float32
    assert type(kl_bernoulli(0.1, 0.5)) is np.float64
    with pytest.raises(ValueError, match=r"q must be in \[0, 1\], got 1.5"):
        kl_bernoulli(0.1, [0.5, 1.5])
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got nan"):
        kl_bernoulli(np.nan, 0.5)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got -0.1"):
        kl_bernoulli(-0.1, 0.5)


# ------------------------------------------------------------ KL-UCB

def _holds(mean, count, q, bound):
    return count * np.asarray(kl_bernoulli(mean, q)) <= bound


@pytest.mark.parametrize("c", [0.0, 3.0])
@pytest.mark.parametrize("precision", [1e-6, 1e-10])
def test_kl_ucb_is_the_largest_q(c, precision):
    rng = np.random.default_rng(8)
    mean = np.concatenate([rng.uniform(0, 1, 200), [0.0, 1.0, 0.5, 1e-9]])
    count = np.concatenate([rng.integers(1, 1000, 200), [5, 5, 1, 3]]).astype(float)
    t = 5000
    bound = np.log(t) + c * np.log(np.log(t))
    q = kl_ucb(mean, count, t, c=c, precision=precision)
    assert q.dtype == np.float64 and q.shape == mean.shape
    assert (q >= mean).all() and (q <= 1).all()
    assert _holds(mean, count, q, bound).all()
    up = q + precision
    inside = up <= 1
    assert not _holds(mean[inside], count[inside], up[inside], bound).any()
    assert inside.sum() >= 190


def test_kl_ucb_monotone_in_t_and_count():
    ts = np.array([2, 10, 100, 1e4, 1e8])
    q = kl_ucb(0.3, 20, ts)
    assert (np.diff(q) > 0).all()
    counts = np.array([1, 5, 20, 100, 1e4])
    q = kl_ucb(0.3, counts, 1000)
    assert (np.diff(q) < 0).all()


def test_kl_ucb_special_cases():
    assert_allclose(kl_ucb([0.2, 0.7], [0, 0], 10), [1.0, 1.0])   # unpulled arms
    assert kl_ucb(1.0, 10, 100) == 1.0
    assert kl_ucb(0.4, 10, 1) == pytest.approx(0.4, abs=1e-6)      # log 1 = 0
    assert kl_ucb(0.4, 10, 1.5, c=3.0) == pytest.approx(0.4, abs=1e-6)  # bound < 0 -> 0
    assert type(kl_ucb(0.4, 10, 100)) is np.float64
    assert kl_ucb(np.float32(0.4), 10, 100).dtype == np.float64
    assert kl_ucb([[0.1], [0.5]], [1, 10, 100], 50).shape == (2, 3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(mean=1.2, count=1, t=10), r"mean must be in \[0, 1\], got 1.2"),
    (dict(mean=0.2, count=-1, t=10), "count must be finite and >= 0, got -1.0"),
    (dict(mean=0.2, count=1, t=0.5), "t must be finite and >= 1, got 0.5"),
    (dict(mean=0.2, count=1, t=10, c=-1), "c must be finite and >= 0"),
    (dict(mean=0.2, count=1, t=10, precision=0), "precision must be finite and > 0"),
    (dict(mean=[0.2, 0.3], count=[1, 2, 3], t=10), "do not broadcast"),
])
def test_kl_ucb_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kl_ucb(**kwargs)


def test_random_sweep_vs_mpmath():
    # log-uniform sigmas and probabilities over many decades, some nearly equal
    rng = np.random.default_rng(11)
    sp = 10 ** rng.uniform(-5, 5, 60)
    sq = np.where(rng.random(60) < 0.5, sp * (1 + 10 ** rng.uniform(-12, -1, 60)),
                  10 ** rng.uniform(-5, 5, 60))
    mu = rng.normal(size=60) * sq
    got = kl_gaussian(mu, sp, 0.0, sq)
    want = [mp_gauss(m, a, 0.0, b) for m, a, b in zip(mu, sp, sq)]
    assert_allclose(got, want, rtol=5e-15)
    p = 10 ** rng.uniform(-12, 0, 60)
    q = np.where(rng.random(60) < 0.5, p * (1 - 10 ** rng.uniform(-12, -1, 60)),
                 10 ** rng.uniform(-12, 0, 60))
    assert_allclose(kl_bernoulli(p, q), [mp_bern(a, b) for a, b in zip(p, q)], rtol=5e-15)
