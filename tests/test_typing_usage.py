"""kl_ext's public API as a user calls it, checked twice.

``mypy --strict tests/test_typing_usage.py`` (a CI step of .ci/run) checks
each call against the annotations and ``assert_type`` pins the declared
return types; pytest runs the same calls, and ``_value`` etc. check that
the objects returned at run time are what the annotations promise (a NumPy
float scalar for 1-D input, a float ndarray for a batch).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import kl_ext
from kl_ext import accuracy, chunked, compat, reference, reference_logits, reference_wasserstein

if sys.version_info >= (3, 11):
    from typing import assert_type
else:  # pragma: no cover
    from typing_extensions import assert_type

Value = np.floating[Any] | NDArray[np.floating[Any]]

P = np.array([0.1, 0.2, 0.7])
Q = [0.3, 0.3, 0.4]
BATCH = np.array([[0.5, 0.5], [0.9, 0.1]])


def _scalar(x: object, dtype: type[np.floating[Any]] = np.float64) -> None:
    assert type(x) is dtype, type(x)


def _array(x: object, shape: tuple[int, ...], dtype: type[Any] = np.float64) -> None:
    assert isinstance(x, np.ndarray) and x.dtype == dtype and x.shape == shape, x


def test_measures() -> None:
    for fn in (kl_ext.cross_entropy, kl_ext.kl_divergence, kl_ext.js_divergence,
               kl_ext.js_distance, kl_ext.jeffreys_divergence):
        v = fn(P, Q, base=2, axis=-1, normalize=True, smoothing=0.0)
        assert_type(v, Value)
        _scalar(v)
        _array(fn(BATCH, [0.5, 0.5], base=2.0), (2,))
    for fn2 in (kl_ext.total_variation, kl_ext.hellinger_distance):
        w = fn2(P, Q, axis=0, normalize=False, smoothing=1)
        assert_type(w, Value)
        _scalar(w)
    h = kl_ext.entropy(P.astype(np.float32), base=None)
    assert_type(h, Value)
    _scalar(h, np.float32)
    _array(kl_ext.entropy(BATCH, axis=np.int64(0)), (2,))


def test_chunked() -> None:
    a = chunked.partial_stats("kl_divergence", P[:2], Q[:2])
    assert_type(a, chunked.PartialStats)
    b = chunked.partial_stats("kl_divergence", P[2:], Q[2:], offset=2)
    m = a.merge(b)
    assert_type(m, chunked.PartialStats)
    assert_type(m.n_elements, int)
    r = m.result(base=2)
    assert_type(r, Value)
    _scalar(r)

    acc = chunked.Accumulator("total_variation")
    assert_type(acc.needs_second_pass, bool)
    acc.update(P, Q)
    acc.start_second_pass()
    acc.update(P, Q)
    tv = acc.result()
    assert_type(tv, Value | kl_ext.Comparison)
    _scalar(tv)
    t = chunked.partial_stats("total_variation", P, Q).totals()
    assert_type(t, chunked.Totals)
    assert_type(t.scales, NDArray[np.float64])

    p, q = np.array([1.0, 0, 0, 1]), np.array([0.0, 1, 1, 0])
    s1 = chunked.partial_stats("total_variation", p[:2], q[:2])
    s2 = chunked.partial_stats("total_variation", p[2:], q[2:], offset=2)
    parts = np.concatenate([s[2] for s in s1.merge(s2).segments], axis=-2)
    totals = chunked.hist_totals(parts, [1, 1], True)
    assert_type(totals, NDArray[np.float64])
    w = [chunked.hist_pieces(p[:2], q[:2], totals[0], None, None, False),
         chunked.hist_pieces(p[2:], q[2:], totals[1], [2.0, 3.0], None, True)]
    fin = chunked.hist_finish(np.array(w), totals)
    assert_type(fin, NDArray[np.float64])
    _array(fin, ())


def test_compare() -> None:
    r = kl_ext.compare(P, Q, base=2, axis=-1, normalize=True, smoothing=0.5)
    assert_type(r, kl_ext.Comparison)
    assert_type(r.kl_pq, Any)  # (NumPy values here, dask arrays from kl_ext.dask)
    for field in r:
        _scalar(field)
    rb = kl_ext.compare(BATCH, [0.5, 0.5])
    for field in rb:
        _array(field, (2,))
    acc = chunked.Accumulator("compare")
    acc.update(P, Q)
    acc.start_second_pass()
    acc.update(P, Q)
    ra = acc.result()
    assert isinstance(ra, kl_ext.Comparison) and ra == kl_ext.compare(P, Q)


def test_estimators() -> None:
    logp = np.array([-1.0, -2.0, -0.5])
    logq = np.array([-1.5, -1.0, -0.7])
    e = kl_ext.kl_estimate(logp, logq, estimator="k3", axis=0)
    assert_type(e, kl_ext.KLEstimate)
    assert_type(e.estimate, Value)
    assert_type(e.stderr, Value)
    _scalar(e.estimate)
    _scalar(e.stderr)
    eb = kl_ext.kl_estimate([[0.0, -1.0], [-2.0, -2.0]], [[-1.0, 0.0], [-3.0, -2.0]])
    _array(eb.estimate, (2,))


class _Normal:
    """A user's own distribution object (kl_monte_carlo takes any with rvs
    and logpdf, as a frozen scipy.stats distribution has)."""

    def __init__(self, mu: float) -> None:
        self.mu = mu

    def rvs(self, size: int, random_state: np.random.Generator) -> NDArray[np.float64]:
        return random_state.normal(self.mu, 1.0, size)

    def logpdf(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        # (annotated: NumPy's stubs type a ufunc call such as np.log as Any)
        out: NDArray[np.float64] = -0.5 * (x - self.mu) ** 2 - 0.5 * np.log(2 * np.pi)
        return out


def test_kl_monte_carlo() -> None:
    e = kl_ext.kl_monte_carlo(_Normal(0.0), _Normal(1.0), 1000, rng=0, estimator="k1")
    assert_type(e, kl_ext.KLEstimate)
    _scalar(e.estimate)
    assert abs(float(e.estimate) - 0.5) < 0.2


def test_parametric() -> None:
    g = kl_ext.kl_gaussian(0.0, 1.0, 1, 2)
    assert_type(g, Value)
    _scalar(g)
    _array(kl_ext.kl_gaussian([0.0, 1.0], 1.0, 0.0, np.float32(2.0)), (2,))
    mvn = kl_ext.kl_mvn(np.zeros(2), np.eye(2), [1.0, 0.0], 2 * np.eye(2))
    assert_type(mvn, Value)
    _scalar(mvn)
    b = kl_ext.kl_beta(2, 3, 3.0, 2.0)
    assert_type(b, Value)
    _scalar(b)
    be = kl_ext.kl_bernoulli(np.array([0.1, 0.5], dtype=np.float32), np.float32(0.3))
    assert_type(be, Value)
    _array(be, (2,), np.float32)
    u = kl_ext.kl_ucb(0.5, 10, 100, c=0.0, precision=1e-6)
    assert_type(u, Value)
    _scalar(u)


def test_logits() -> None:
    logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    ce = kl_ext.cross_entropy_logits(logits, [0, 1], axis=-1, label_smoothing=0.1)
    assert_type(ce, Value)
    _array(ce, (2,))
    ce1 = kl_ext.cross_entropy_logits([1000.0, 0.0], 0)
    _scalar(ce1)
    kl = kl_ext.kl_divergence_logits(logits[0], logits[1], temperature=2.0)
    assert_type(kl, Value)
    _scalar(kl)


def test_wasserstein() -> None:
    w = kl_ext.wasserstein_1d([0.0, 1.0, 3.0], [5.0, 6.0], [1, 1, 2], None, order=2,
                              axis=-1, assume_sorted=False)
    assert_type(w, Value)
    _scalar(w)
    wb = kl_ext.wasserstein_1d(np.zeros((2, 3), dtype=np.float32), [1.0, 2.0])
    _array(wb, (2,))
    h = kl_ext.wasserstein_hist([1, 0, 0], [0, 0, 1], support=[0.0, 1.0, 5.0], order=1,
                                axis=-1, normalize=True)
    assert_type(h, Value)
    _scalar(h)


def test_reference() -> None:
    for fn in (reference.cross_entropy, reference.kl_divergence, reference.js_divergence,
               reference.js_distance, reference.jeffreys_divergence):
        v = fn(P, Q, base=2, axis=-1, normalize=True)
        assert_type(v, Value)
        _scalar(v)
    for fn2 in (reference.total_variation, reference.hellinger_distance):
        w = fn2(BATCH, Q[:2], axis=-1, normalize=False)
        assert_type(w, Value)
        _array(w, (2,))
    h = reference.entropy(P, base=None)
    assert_type(h, Value)
    _scalar(h)
    lsm = reference_logits.log_softmax([[1.0, 2.0]], axis=-1)
    assert_type(lsm, NDArray[np.float64])
    _array(lsm, (1, 2))
    ce = reference_logits.cross_entropy_logits([1.0, 2.0], 1, label_smoothing=0.0)
    assert_type(ce, np.float64 | NDArray[np.float64])
    _scalar(ce)
    kl = reference_logits.kl_divergence_logits([[1.0, 2.0]], [[2.0, 1.0]], temperature=1.0)
    _array(kl, (1,))
    for f in (reference_wasserstein.wasserstein_1d([0.0, 1.0], [2.0], [1, 3], None, order=1),
              reference_wasserstein.cdf_distance(2, [0.0, 1.0], [2.0]),
              reference_wasserstein.wasserstein_hist([1, 0], [0, 1], support=[0.0, 2.0])):
        assert_type(f, float)
        assert type(f) is float


def test_compat() -> None:
    e = compat.entropy([0.5, 0.5], [0.9, 0.1], base=2, axis=0, nan_policy="omit", keepdims=False)
    assert_type(e, Value)
    _scalar(e)
    _array(compat.entropy([[1, 2], [3, 4]], axis=1), (2,))
    js = compat.jensenshannon([1.0, 0.0], [0.5, 0.5], 2.0, axis=0, keepdims=False)
    assert_type(js, Value)
    _scalar(js)
    w = compat.wasserstein_distance([0, 1, 3], [5, 6, 8], None, [1, 1, 1])
    assert_type(w, np.float64)
    _scalar(w)
    d = compat.energy_distance([0], [2])
    assert_type(d, np.float64)
    _scalar(d)
    # The ufuncs: NumPy's own stubs type every np.ufunc call as Any (as for
    # np.log), so the result is Any here too; annotate the variable that
    # receives it.
    r = compat.rel_entr([0.5, 0.0], [0.25, 1.0])
    assert_type(r, Any)
    rel: NDArray[np.float64] = r
    _array(rel, (2,))
    kd: NDArray[np.float64] = compat.kl_div(np.array([0.5]), np.array([0.25]))
    _array(kd, (1,))
    en: np.float64 = compat.entr(0.5)
    _scalar(en)
    assert_type(compat.entr, np.ufunc)


def test_patch_scipy_signatures() -> None:
    # (the patching itself: tests/test_patch_scipy.py; here the types, with
    # calls that need no SciPy: an unknown name raises before any import)
    for call in (compat.patch_scipy, compat.unpatch_scipy):
        with pytest.raises(ValueError):
            assert_type(call(["nope"]), None)
    with pytest.raises(ValueError):
        with compat.scipy_patched("nope"):
            pass


def test_dask() -> None:
    pytest.importorskip("dask.array")
    import dask.array as da

    import kl_ext.dask as kd

    # (a NumPy array: dask's own da.from_array is untyped, which --strict rejects)
    p = np.array([[0.1, 0.9], [0.5, 0.5]])
    for fn in (kd.cross_entropy, kd.kl_divergence, kd.js_divergence, kd.js_distance,
               kd.jeffreys_divergence):
        lazy = fn(p, [0.5, 0.5], base=2, axis=-1, normalize=True, smoothing=0.0)
        assert_type(lazy, da.Array)
        assert isinstance(lazy, da.Array)
        _array(np.asarray(lazy), (2,))
    for fn2 in (kd.total_variation, kd.hellinger_distance):
        assert_type(fn2(p, p, axis=-1), da.Array)
    h = kd.entropy(p[0], base=None)
    assert_type(h, da.Array)
    _array(np.asarray(h), ())
    r = kd.compare(p, [0.5, 0.5])
    assert_type(r, kl_ext.Comparison)
    assert isinstance(r.kl_pq, da.Array)
    w = kd.wasserstein_hist(p, [0.5, 0.5], support=[0.0, 1.0], order=1)
    assert_type(w, da.Array)
    b = kd.wasserstein_1d_binned(np.arange(10.0), [1.0, 2.0],
                                 np.linspace(0.0, 10.0, 11))
    assert_type(b, da.Array)
    _array(np.asarray(b), ())
    import os
    import tempfile
    path = os.path.join(tempfile.mkdtemp(), "p.npy")
    np.save(path, np.ones((2, 3)))
    x = kd.read_npy(path, chunks=(1, 3))
    assert_type(x, da.Array)
    assert kd.NTHREADS == 1


def test_cli_entry(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from kl_ext import cli

    assert_type(cli.build_parser(), argparse.ArgumentParser)
    status = cli.main(["score"])   # no input file: a usage error, status 2
    assert_type(status, int)
    assert status == 2
    assert "error" in capsys.readouterr().err


def test_accuracy(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("mpmath")
    from fractions import Fraction

    ex = accuracy.exact_measures([1, 1], [1, 3], measures=["kl_divergence"])
    assert_type(ex, dict[str, Any])
    h = accuracy.exact_wasserstein_hist([1, 0], [0, 1], [0.0, 2.0])
    assert_type(h, Fraction)
    assert h == 2
    w = accuracy.exact_wasserstein_1d([0.0, 1.0], [2.0], None, None)
    assert_type(w, Fraction)
    e = accuracy.relative_error(0.5, Fraction(1, 2))
    assert_type(e, float)
    assert e == 0.0
    regime = "near"  # (a regime that the plot draws)
    assert regime in accuracy.REGIMES
    cs = accuracy.cases(quick=True, measures=["kl_divergence"], regimes=[regime])
    assert_type(cs, list[accuracy.Case])
    count, worst = accuracy.check_references(
        [(c, c.make(np.random.default_rng(0))) for c in cs[:1]], max_n=50)
    assert_type(worst, float)
    out = accuracy.run(quick=True, measures=["kl_divergence"], regimes=[regime],
                       libraries=["kl_ext"])
    assert_type(out, dict[str, Any])
    assert isinstance(out["results"][0], accuracy.Result)
    assert_type(accuracy.format_table(out, argv=["accuracy"]), list[str])
    assert_type(accuracy.to_json(out), dict[str, Any])
    assert_type(accuracy.environment(), dict[str, Any])
    assert accuracy.PRECISION and accuracy.DISCRETE and accuracy.WASSERSTEIN
    assert accuracy.MEASURES and accuracy.LIBRARIES
    # (accuracy.plot is not called: on a selection this small it warns "No
    # artists with labels found to put in legend")
    assert callable(accuracy.plot)
    status = accuracy.main_accuracy(quick=True, measures=["kl_divergence"], regimes=[regime])
    assert_type(status, int)
    assert status == 0 and "kl_divergence" in capsys.readouterr().out


def test_every_public_name_is_used_here() -> None:
    """Each name in the __all__ of the public modules appears in this file
    as the user writes it (so a new public function gets typed and checked)."""
    import importlib
    import pathlib

    source = pathlib.Path(__file__).read_text(encoding="utf-8")
    prefixes = {"kl_ext": "kl_ext.", "kl_ext.measures": "kl_ext.", "kl_ext.wasserstein": "kl_ext.",
                "kl_ext.logits": "kl_ext.", "kl_ext.estimators": "kl_ext.",
                "kl_ext.parametric": "kl_ext.", "kl_ext.report": "kl_ext.",
                "kl_ext.chunked": "chunked.", "kl_ext.compat": "compat.",
                "kl_ext.reference": "reference.", "kl_ext.reference_logits": "reference_logits.",
                "kl_ext.reference_wasserstein": "reference_wasserstein.",
                "kl_ext.accuracy": "accuracy."}
    try:
        import dask.array  # noqa: F401
        prefixes["kl_ext.dask"] = "kd."
    except ImportError:  # pragma: no cover
        pass
    missing = [f"{module}.{name}" for module, prefix in prefixes.items()
               for name in importlib.import_module(module).__all__
               if prefix + name not in source and name != "MEASURES"]
    assert missing == []
