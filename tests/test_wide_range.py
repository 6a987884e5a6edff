"""Rows whose sums are far apart, with entries across the whole double range.

The pair measures and KL's exact pass scale the rows as x = p * sum(q) * s
and y = q * sum(p) * s (s a power of two), so that no division rounds each
element.  When the sums are far apart, a product can underflow to 0 or to a
subnormal although both normalised entries are positive: Jeffreys then gave
+inf (exact: ~734) before its terms took log(x/y) from the unscaled values.
Exact references: kl_ext.accuracy.exact_measures.
"""

import mpmath
import numpy as np
import pytest

import kl_ext
from kl_ext import accuracy


def _exact(name, p, q):
    # kl_ext.accuracy's exact reference: exact integer sums and rational
    # differences, then mpmath (exact to far below the bounds here, also for
    # sums spanning 1e-324 ... 1, where 1 - 1e-228 must not round to 1)
    return accuracy.exact_measures(p, q, measures=[name])[name]


def _wide_rows(seed, n=40):
    rng = np.random.default_rng(seed)

    def one():
        a = 10.0 ** rng.uniform(-300, 0, n)
        a[rng.choice(n, 4, replace=False)] = [5e-324, 1e-320, 2.5e-315, 1e-310]
        return a
    return one(), one()


CASES = [_wide_rows(s) for s in range(4)] + [
    (np.array([1e-298, 1e-70]), np.array([1e-315, 0.5])),
    (np.array([1e-200, 1e-70]), np.array([1e-300, 0.5])),
    (np.array([1.34e-298, 3.59e-70, 0.0]), np.array([2.5e-315, 0.51, 0.0])),
]


@pytest.mark.parametrize("name", ["kl_divergence", "jeffreys_divergence"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_sums_far_apart_stay_exact(name, case):
    p, q = CASES[case]
    for a, b in ((p, q), (q, p)):
        want = _exact(name, a, b)
        got = getattr(kl_ext, name)(a, b)
        assert np.isfinite(got)
        assert abs(mpmath.mpf(float(got)) - want) <= 1e-13 * want
        r = kl_ext.compare(a, b)
        field = r.kl_pq if name == "kl_divergence" else r.jeffreys_divergence
        assert abs(mpmath.mpf(float(field)) - want) <= 1e-13 * want


def test_sums_far_apart_in_a_batch():
    p = np.stack([c[0] for c in CASES[:4]])
    q = np.stack([c[1] for c in CASES[:4]])
    got = kl_ext.jeffreys_divergence(p, q)
    for i in range(4):
        want = _exact("jeffreys_divergence", p[i], q[i])
        assert abs(mpmath.mpf(float(got[i])) - want) <= 1e-13 * want


def test_reference_rel_entr_takes_logs_where_the_ratio_overflows():
    # kl_ext.reference (the plain NumPy truth of the other tests) divides
    # first: p/q overflowed to inf for entries far apart (SciPy's rel_entr
    # switches to log(p) - log(q) there, and so does the reference now)
    from kl_ext import reference
    p, q = CASES[3]  # the old reference gave inf here (exact ~861.2)
    want = _exact("jeffreys_divergence", p, q)
    got = reference.jeffreys_divergence(p, q)
    assert abs(mpmath.mpf(float(got)) - want) <= 1e-12 * want


# A nonzero entry whose product x = p * scale underflows to exactly 0 passed
# the vector terms' domain test (0 is in it), and Jeffreys's term then saw a
# zero the row does not have: +inf where both entries are positive (exact
# ~5.6e-15 below), and 0 where the other entry is 0 (exact +inf: the
# supports differ), also for a lone subnormal in rows that sum to 1.
ZERO_UNDERFLOW = [
    (np.array([1.0, 5e-324]), np.array([1.0, 0.0])),
    (np.array([1.0, 1e-200]), np.array([1e-150, 0.0])),
    (np.array([1e-93, 1e-110]), np.array([0.07, 1e-261])),
    (np.array([1.0, 1e-200]), np.array([1e-150, 1e-310])),
]


@pytest.mark.parametrize("reps", [1, 5, 6, 8, 20, 300])  # short rows and tails, long rows
@pytest.mark.parametrize("case", range(len(ZERO_UNDERFLOW)))
def test_jeffreys_products_underflowing_to_zero(case, reps):
    p, q = (np.tile(a, reps) for a in ZERO_UNDERFLOW[case])
    for a, b in ((p, q), (q, p)):
        want = _exact("jeffreys_divergence", a, b)
        got = [kl_ext.jeffreys_divergence(a, b),
               kl_ext.compare(a, b).jeffreys_divergence,
               *kl_ext.jeffreys_divergence(np.stack([a] * 40), np.stack([b] * 40))[[0, 39]]]
        for g in got:
            if mpmath.isinf(want):
                assert g == np.inf
            else:
                assert abs(mpmath.mpf(float(g)) - want) <= 1e-13 * want


# Rows whose sums leave [2^-500, 2^500] take the slow path, which scales p
# and q by powers of two.  Where a row spans more than the double range, a
# normalised entry is below 2^-1074 and its scaled value underflowed: KL
# gave +inf for KL([1e-300, 1e300], [1e300, 1e-300]) (exact ~1381.55), and
# a finite value where q is 0 under such an entry of p (exact +inf).
SPANNING = [
    (np.array([1e-300, 1e300]), np.array([1e300, 1e-300])),
    (np.array([3e-298, 1e300, 0.0]), np.array([0.0, 1e300, 1.0])),       # +inf / +inf
    (np.array([1e-298, 1e200, 3e150]), np.array([1e-200, 2e200, 1e160])),
    (np.array([2.2e-268, 5.2e106]), np.array([6.0e305, 5.0e145])),
    (np.array([2.1e200, 1.9e-9, 9.5e113]), np.array([3.5e-260, 2.3e-299, 8.5e119])),
    (np.array([1e300, 0.0]), np.array([1e300, 5e-324])),                 # exact ~0 / +inf
    (np.array([1e300, 3e299, 1e-300, 0.0]), np.array([1e300, 3e299, 2e-300, 1e-310])),
]


@pytest.mark.parametrize("name", ["kl_divergence", "cross_entropy", "jeffreys_divergence"])
@pytest.mark.parametrize("case", range(len(SPANNING)))
def test_rows_spanning_more_than_the_double_range(name, case):
    p, q = SPANNING[case]
    for a, b in ((p, q), (q, p)):
        want = _exact(name, a, b)
        fn = getattr(kl_ext, name)
        got = [fn(a, b), *fn(np.stack([a, a]), np.stack([b, b]))]
        for g in got:
            if mpmath.isinf(want):
                assert g == np.inf
            else:  # (an exact value below the double range rounds to 0)
                assert abs(mpmath.mpf(float(g)) - want) <= max(1e-13 * want, 2.0**-1074)


def test_slow_path_raises_no_floating_point_error():
    # the scaling underflows on purpose; np.seterr(all="raise") callers
    # must not see it
    with np.errstate(all="raise"):
        assert np.isfinite(kl_ext.kl_divergence([1e-300, 1e300], [1e300, 1e-300]))
        assert np.isfinite(kl_ext.js_divergence([1e-300, 1e300], [1e300, 1e-300]))


def test_exact_reference_keeps_terms_below_its_working_precision():
    # kl_ext.accuracy's 160-bit reference rounded x = 1 - 3e-50 to 1 and
    # dropped x log x = -3e-50 (1 % of the entropy of [1, 3e-50]); it now
    # takes log x from the exact complement
    p, q = np.array([0.5, 1.5e-50]), np.array([1.0, 5e-41])
    with mpmath.workdps(120):
        x1 = mpmath.mpf(1.5e-50) / (mpmath.mpf(0.5) + mpmath.mpf(1.5e-50))
        y1 = mpmath.mpf(5e-41) / (1 + mpmath.mpf(5e-41))
        h = -(1 - x1) * mpmath.log(1 - x1) - x1 * mpmath.log(x1)
        ce = -(1 - x1) * mpmath.log(1 - y1) - x1 * mpmath.log(y1)
    r = accuracy.exact_measures(p, q, measures=["entropy", "cross_entropy"])
    assert abs(r["entropy"] - h) <= 1e-40 * h
    assert abs(r["cross_entropy"] - ce) <= 1e-40 * ce
    assert abs(kl_ext.entropy(p) - h) <= 1e-13 * h
    assert abs(kl_ext.cross_entropy(p, q) - ce) <= 1e-13 * ce


@pytest.mark.parametrize("name", ["cross_entropy", "kl_divergence"])
def test_unnormalised_terms_overflowing_with_both_signs(name):
    # -p log q is +3.5e308 (inf) for p = 5e305, q = 1e-304 and -2.0e308
    # (-inf) for q = 5e173: the kernels' sum was NaN; the exact value is
    # 1.5e308 (or +inf where q = 0)
    p = np.array([5e305, 5e305])
    q = np.array([1e-304, 5e173])
    if name == "kl_divergence":  # negative KL terms are bounded: three of them
        p = np.array([6e307, 6e307, 6e307, 1.4e305])
        q = np.array([1.7e308, 1.7e308, 1.7e308, 1e-300])
    fn = getattr(kl_ext, name)
    want = _exact_unnormalised(name, p, q)
    for g in (fn(p, q, normalize=False), *fn(np.stack([p, p]), np.stack([q, q]), normalize=False)):
        assert abs(mpmath.mpf(float(g)) - want) <= 1e-13 * abs(want)
    q0 = q.copy()
    q0[0] = 0.0
    assert fn(p, q0, normalize=False) == np.inf
    assert fn(np.stack([p, p]), np.stack([q0, q]), normalize=False)[0] == np.inf


def _exact_unnormalised(name, p, q):
    with mpmath.workdps(60):
        a = [mpmath.mpf(float(x)) for x in p]
        b = [mpmath.mpf(float(x)) for x in q]
        if name == "kl_divergence":
            return mpmath.fsum(x * mpmath.log(x / y) for x, y in zip(a, b))
        return -mpmath.fsum(x * mpmath.log(y) for x, y in zip(a, b))
