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
