"""Hellinger distance and Jeffreys divergence (PSI): values, edges, accuracy.

The generic tests parametrised over the table of measures (test_measures,
test_accuracy, test_tiers, test_compare, test_cli, test_properties) cover
them too; here are the properties particular to these two: the exact
values at disjoint supports, accuracy near p = q against mpmath (where
1 - sum sqrt(pq) and D(p||q) + D(q||p) from two separate sums of
p log(p/q) cancel), PSI on binned counts, and every CPU tier.
"""

import importlib
import math

import numpy as np
import pytest

import kl_ext
from kl_ext import _cpu, measures, reference

mpmath = pytest.importorskip("mpmath")

H, J = kl_ext.hellinger_distance, kl_ext.jeffreys_divergence
TIERS = _cpu.available_tiers("kl_ext._divergence")


def exact(name, p, q, normalize=True):
    """The measure of the exact float values of `p`, `q` (1-D), as mpf."""
    with mpmath.workdps(60):
        P = [mpmath.mpf(float(x)) for x in np.asarray(p, np.float64)]
        Q = [mpmath.mpf(float(x)) for x in np.asarray(q, np.float64)]
        if normalize:
            sp, sq = mpmath.fsum(P), mpmath.fsum(Q)
            P, Q = [x / sp for x in P], [y / sq for y in Q]
        if name == "hellinger_distance":
            return mpmath.sqrt(mpmath.fsum((mpmath.sqrt(x) - mpmath.sqrt(y)) ** 2
                                           for x, y in zip(P, Q)) / 2)
        if any((x == 0) != (y == 0) for x, y in zip(P, Q)):
            return mpmath.inf
        return mpmath.fsum((x - y) * mpmath.log(x / y) for x, y in zip(P, Q) if x != 0)


def rel_err(got, want):
    with mpmath.workdps(60):
        return float(abs((mpmath.mpf(float(got)) - want) / want))


@pytest.fixture(params=TIERS)
def tier(request, monkeypatch):
    mod = importlib.import_module(_cpu._module("kl_ext._divergence", request.param))
    monkeypatch.setattr(measures, "_k", mod)
    monkeypatch.setattr(measures, "_small", mod.small)
    return request.param


def test_disjoint_supports_give_one_and_inf(tier):
    assert H([1, 0], [0, 1]) == 1.0
    assert H([0.25, 0.75, 0, 0], [0, 0, 3, 1]) == 1.0
    assert J([1, 0], [0, 1]) == np.inf
    assert J([1, 1], [1, 0]) == np.inf        # a support that differs
    rng = np.random.default_rng(1)
    p = rng.random((20, 33))
    q = rng.random((20, 33))
    p[:, ::2] = 0
    q[:, 1::2] = 0
    np.testing.assert_allclose(H(p, q), 1.0, rtol=2e-16, atol=0)
    assert (J(p, q) == np.inf).all()


def test_identical_distributions_give_zero(tier):
    rng = np.random.default_rng(2)
    for n in (1, 5, 8, 40, 1000):
        p = rng.random(n)
        p[rng.random(n) < 0.3] = 0
        p[0] = 1
        assert H(p, p) == 0.0 and J(p, p) == 0.0
        assert H(p, 4 * p) == 0.0 and J(p, 4 * p) == 0.0   # the same after normalising


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("n", [1, 3, 8, 17, 64, 65, 700])
def test_against_mpmath(tier, n, normalize):
    rng = np.random.default_rng(n)
    for trial in range(3):
        p = rng.random(n) * rng.choice([1.0, 1e-3, 50.0])
        q = rng.random(n) * (rng.choice([1.0, 1e3, 0.02]) if normalize else 1.0)
        zero = rng.random(n) < 0.2
        p[zero] = 0
        q[zero] = 0                # both zero: no contribution to either
        p[0] += 0.5
        q[0] += 0.5
        for name, fn in (("hellinger_distance", H), ("jeffreys_divergence", J)):
            want = exact(name, p, q, normalize)
            got = fn(p, q, normalize=normalize)
            if want == 0:
                assert got == 0
            else:
                assert rel_err(got, want) < 1e-13, (name, n, trial, got, float(want))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_near_equal_drift_within_1e8(tier, seed):
    # q = p (1 + 1e-7 noise): H ~ 1e-8 and J ~ 1e-15.  1 - sum sqrt(pq)
    # cancels to nothing here (H^2 ~ 1e-16 ~ eps), and so does the sum of
    # two separately computed KL sums p log(p/q); kl_ext keeps ~1e-9.
    rng = np.random.default_rng(seed)
    p = rng.random(1000)
    p /= p.sum()
    q = p * (1 + 1e-7 * rng.standard_normal(1000))
    hw, jw = exact("hellinger_distance", p, q), exact("jeffreys_divergence", p, q)
    assert 1e-17 < jw < 1e-13
    assert rel_err(H(p, q), hw) < 1e-8
    assert rel_err(J(p, q), jw) < 1e-8
    assert H(p, q) == H(q, p) and J(p, q) == J(q, p)
    naive = math.sqrt(max(0.0, 1 - float(np.sum(np.sqrt(p / p.sum() * q / q.sum())))))
    assert rel_err(naive, hw) > 1e-2       # the form the kernels never use
    # the same rows in a batch and against a broadcast reference row
    np.testing.assert_array_equal(J(np.stack([p, q]), q), [J(p, q), 0.0])
    np.testing.assert_array_equal(H(np.stack([p, q]), q), [H(p, q), 0.0])


def test_psi_on_binned_counts_and_smoothing():
    expected = np.array([120, 300, 380, 200])
    actual = np.array([100, 280, 400, 220])
    e, a = expected / expected.sum(), actual / actual.sum()
    psi = float(np.sum((a - e) * np.log(a / e)))          # the textbook PSI formula
    assert J(expected, actual) == pytest.approx(psi, rel=1e-14)
    assert J(actual, expected) == J(expected, actual)
    # an empty bin makes PSI infinite; smoothing keeps it finite and exact
    actual0 = np.array([0, 380, 400, 220])
    assert J(expected, actual0) == np.inf
    got = J(expected, actual0, smoothing=0.5)
    assert rel_err(got, exact("jeffreys_divergence", expected + 0.5, actual0 + 0.5)) < 1e-14
    assert "PSI" in J.__doc__ and "Population Stability Index" in J.__doc__


def test_base_units_and_no_base_for_hellinger():
    p, q = [0.2, 0.3, 0.5], [0.5, 0.25, 0.25]
    assert J(p, q, base=2) == pytest.approx(J(p, q) / math.log(2), rel=1e-15)
    assert J(p, q, base=10) == pytest.approx(J(p, q) / math.log(10), rel=1e-15)
    with pytest.raises(TypeError, match="base"):
        H(p, q, base=2)
    with pytest.raises(ValueError, match="base"):
        J(p, q, base=1)


def test_nan_inf_and_errors_name_the_row():
    assert np.isnan(H([1, np.nan], [1, 1])) and np.isnan(J([1, 1], [np.nan, 1]))
    assert np.isnan(H([1, np.inf], [1, 1])) and np.isnan(J([1, np.inf], [1, 1]))
    r = H([[1, 1], [1, np.nan], [2, 1]], [1, 1])
    assert np.isnan(r[1]) and r[0] == 0 and 0 < r[2] < 1
    with pytest.raises(ValueError, match=r"q must be non-negative, found -1\.0 in row 1"):
        J([[1, 1], [1, 1]], [[1, 1], [1, -1]])
    with pytest.raises(ValueError, match=r"p sums to 0 in row \(0, 1\)"):
        H(np.array([[[1, 1], [0, 0]]]), [1, 1])
    with pytest.raises(TypeError, match="complex"):
        J([1j, 1], [1, 1])


def test_float32_in_float32_out_accumulated_in_float64():
    rng = np.random.default_rng(4)
    p = rng.random(100_000).astype(np.float32)
    q = (p * (1 + 1e-3 * rng.standard_normal(p.size))).astype(np.float32)
    for name, fn in (("hellinger_distance", H), ("jeffreys_divergence", J)):
        got = fn(p, q)
        assert got.dtype == np.float32
        # one float32 rounding of the float64 value of the float32 inputs
        assert rel_err(got, exact(name, p, q)) < 1e-7
        assert fn(p.astype(np.float64), q).dtype == np.float64


def test_broadcasting_axes_and_layouts_match_row_by_row():
    rng = np.random.default_rng(5)
    P = rng.random((6, 4, 30))
    Q = rng.random(30)
    for fn in (H, J):
        want = np.array([[fn(P[i, j], Q) for j in range(4)] for i in range(6)])
        np.testing.assert_allclose(fn(P, Q), want, rtol=1e-15, atol=0)
        np.testing.assert_allclose(fn(P.transpose(2, 0, 1), Q[:, None, None], axis=0),
                                   want, rtol=1e-15, atol=0)
        np.testing.assert_allclose(fn(P[:, :, ::-1], Q[::-1]), want, rtol=1e-14, atol=0)
        F = np.asfortranarray(P)
        F.flags.writeable = False
        np.testing.assert_allclose(fn(F, Q), want, rtol=1e-15, atol=0)


@pytest.mark.parametrize("normalize", [True, False])
def test_agrees_with_reference_and_bounds(normalize):
    rng = np.random.default_rng(6)
    p = rng.random((300, 12)) * 5
    q = rng.random((300, 12))
    p[rng.random(p.shape) < 0.2] = 0
    q[rng.random(q.shape) < 0.2] = 0
    p[:, 0] += 1
    q[:, 0] += 1
    h = H(p, q, normalize=normalize)
    np.testing.assert_allclose(h, reference.hellinger_distance(p, q, normalize=normalize),
                               rtol=1e-12)
    with np.errstate(all="ignore"):
        jr = reference.jeffreys_divergence(p, q, normalize=normalize)
    j = J(p, q, normalize=normalize)
    assert (j[np.isinf(jr)] == np.inf).all()
    np.testing.assert_allclose(j[~np.isinf(jr)], jr[~np.isinf(jr)], rtol=1e-12)
    assert (j >= 0).all() and (h >= 0).all()
    if normalize:
        assert (h <= 1).all()
    # the classical inequalities, normalised: H^2 <= TV <= sqrt(2) H, and
    # J >= 4 TV^2 (Pinsker in both directions)
    tv = kl_ext.total_variation(p, q)
    hn = H(p, q)
    assert (hn ** 2 <= tv * (1 + 1e-15)).all() and (tv <= math.sqrt(2) * hn * (1 + 1e-15)).all()
    assert (J(p, q) >= 4 * tv ** 2 * (1 - 1e-15)).all()


def test_every_tier_agrees_on_special_values():
    # subnormal, huge and zero entries among vector-friendly rows, in every
    # tier, against the baseline build (the scalar terms)
    mods = {t: importlib.import_module(_cpu._module("kl_ext._divergence", t)) for t in TIERS}
    rng = np.random.default_rng(7)
    base = rng.random(40)
    for special in (0.0, 5e-324, 1e-310, 1e-200, 1e200, 1e300):
        for pos in (0, 7, 8, 39):
            p = base.copy()
            p[pos] = special
            for code in (measures._HELLINGER, measures._JEFFREYS):
                for normalize in (True, False):
                    vals = [mods[t].one(code, p, base[::-1].copy(), normalize) for t in TIERS]
                    want = vals[TIERS.index("baseline")]
                    for (v, st), t in zip(vals, TIERS):
                        assert st == want[1], (t, special, pos)
                        if st == 0:
                            assert v == pytest.approx(want[0], rel=1e-13), (t, special, pos)
