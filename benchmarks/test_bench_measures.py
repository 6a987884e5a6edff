"""pytest-benchmark suite: every measure × dtype × size × layout, for kl_ext,
kl_ext.reference and SciPy, on the same seeded inputs.

Each group (one measure, dtype and case) holds the competitors timed on the
same arrays, so ``pytest-benchmark compare`` and the group tables show their
ratios.  Not collected by plain ``pytest`` (testpaths are tests/ and
kl_ext/); run with ``pytest benchmarks --benchmark-only`` (see README.md).
"""

import numpy as np
import pytest

import kl_ext
from kl_ext import reference

MEASURES = ["entropy", "cross_entropy", "kl_divergence", "js_divergence",
            "js_distance", "total_variation"]
DTYPES = ["float64", "float32"]
# (layout, size tag)
CASES = [("pair", "10"), ("pair", "1e3"), ("pair", "1e5"), ("pair", "1e6"),
         ("rows", "1e5x10"), ("broadcast", "1e5x10")]
COMPETITORS = ["kl_ext", "reference", "scipy"]


def _scipy(measure, batched):
    """SciPy's version of `measure` as fn(p, q), or None where it has none."""
    if measure == "total_variation":
        return None
    try:
        from scipy.spatial.distance import jensenshannon
        from scipy.stats import entropy
    except ImportError:
        return None
    kw = {"axis": 1} if batched else {}

    def lift(q):
        # jensenshannon wants q with the same ndim when axis is given;
        # a (1, n) view broadcasts without copying
        return q[np.newaxis] if batched and q.ndim == 1 else q

    return {
        "entropy": lambda p, q: entropy(p, **kw),
        "cross_entropy": lambda p, q: entropy(p, **kw) + entropy(p, lift(q), **kw),
        "kl_divergence": lambda p, q: entropy(p, lift(q), **kw),
        "js_divergence": lambda p, q: jensenshannon(p, lift(q), **kw) ** 2,
        "js_distance": lambda p, q: jensenshannon(p, lift(q), **kw),
    }[measure]


def _func(competitor, measure, batched):
    if competitor == "scipy":
        return _scipy(measure, batched)
    fn = getattr(kl_ext if competitor == "kl_ext" else reference, measure)
    if measure == "entropy":
        return lambda p, q: fn(p)
    return fn


def _params():
    for measure in MEASURES:
        for dtype in DTYPES:
            for layout, size in CASES:
                if measure == "entropy" and layout == "broadcast":
                    continue  # entropy has no q: same as "rows"
                for comp in COMPETITORS:
                    if comp == "scipy" and measure == "total_variation":
                        continue
                    yield pytest.param(measure, dtype, layout, size, comp,
                                       id=f"{measure}-{dtype}-{layout}-{size}-{comp}")


@pytest.mark.parametrize("measure, dtype, layout, size, competitor", list(_params()))
def test_measure(benchmark, inputs, measure, dtype, layout, size, competitor):
    p, q = inputs
    fn = _func(competitor, measure, batched=layout != "pair")
    if fn is None:
        pytest.skip("SciPy is not installed")
    benchmark.group = f"{measure} {dtype} {layout} {size}"
    benchmark.extra_info.update(measure=measure, dtype=dtype, layout=layout, size=size,
                                competitor=competitor)
    with np.errstate(all="ignore"):
        result = benchmark(fn, p, q)
    # every competitor must compute the same thing (a wrong benchmark is worse than none)
    want = _func("reference", measure, layout != "pair")(p, q)
    rtol = 1e-5 if dtype == "float32" or competitor == "scipy" else 1e-9
    np.testing.assert_allclose(np.asarray(result, dtype=np.float64),
                               np.asarray(want, dtype=np.float64), rtol=rtol, atol=1e-12)
