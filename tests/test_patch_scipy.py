"""kl_ext.compat.patch_scipy / unpatch_scipy / scipy_patched: code that looks
the functions up through SciPy gets kl_ext's, and SciPy gets its own back."""

import importlib
import subprocess
import sys
import threading

import numpy as np
import pytest
from numpy.testing import assert_allclose

scipy = pytest.importorskip("scipy")
import scipy.spatial.distance  # noqa: E402
import scipy.special  # noqa: E402
import scipy.stats  # noqa: E402

from kl_ext import compat  # noqa: E402

TARGETS = compat._SCIPY_TARGETS
ORIGINAL = {key: getattr(importlib.import_module(key[0]), key[1]) for key in TARGETS}


def current(key):
    return getattr(importlib.import_module(key[0]), key[1])


def assert_scipy_original():
    for key in TARGETS:
        assert current(key) is ORIGINAL[key], key


def assert_scipy_patched(names=None):
    for key in TARGETS:
        if names is None or key[1] in names:
            assert current(key) is getattr(compat, key[1]), key


@pytest.fixture(autouse=True)
def restore_scipy():
    assert_scipy_original()
    yield
    compat.unpatch_scipy()
    assert_scipy_original()


def test_targets_are_the_public_namespaces():
    assert {f"{m}.{a}" for m, a in TARGETS} == {
        "scipy.stats.entropy", "scipy.stats.distributions.entropy",
        "scipy.stats.wasserstein_distance", "scipy.stats.energy_distance",
        "scipy.spatial.distance.jensenshannon", "scipy.special.rel_entr",
        "scipy.special.kl_div", "scipy.special.entr"}


def test_patch_then_unpatch_restores_the_very_objects():
    compat.patch_scipy()
    assert_scipy_patched()
    compat.unpatch_scipy()
    assert_scipy_original()


def test_patch_twice_is_harmless():
    compat.patch_scipy()
    compat.patch_scipy()
    assert_scipy_patched()
    compat.unpatch_scipy()
    assert_scipy_original()        # the originals saved are SciPy's, not ours
    compat.unpatch_scipy()         # unpatching twice too
    assert_scipy_original()


def test_code_that_looks_up_through_scipy_gets_kl_ext(tmp_path, monkeypatch):
    (tmp_path / "client_attr.py").write_text(
        "import scipy.stats\nfrom scipy import special\n"
        "def score(p, q):\n    return scipy.stats.entropy(p, q), special.rel_entr(p, q)\n")
    (tmp_path / "client_from.py").write_text(
        "from scipy.stats import entropy\n"
        "def score(p, q):\n    return entropy(p, q)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("client_attr", "client_from"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import client_from               # imported before patching: keeps SciPy's
    compat.patch_scipy()
    import client_attr
    assert client_from.entropy is ORIGINAL["scipy.stats", "entropy"]
    p, q = np.array([1.0, 1e-15]), np.array([1.0, 1.0])
    ent, rel = client_attr.score(p, q)
    assert type(rel) is np.ndarray
    assert_allclose(ent, compat.entropy(p, q), rtol=0)
    assert_allclose(rel, compat.rel_entr(p, q), rtol=0)
    # a module imported after patching binds kl_ext's even with `from ... import`
    monkeypatch.delitem(sys.modules, "client_from")
    import client_from as late
    assert late.entropy is compat.entropy


@pytest.mark.parametrize("names", ["jensenshannon", ["entropy", "kl_div"]])
def test_names_patch_only_those(names):
    compat.patch_scipy(names)
    chosen = [names] if isinstance(names, str) else names
    assert_scipy_patched(chosen)
    for key in TARGETS:
        if key[1] not in chosen:
            assert current(key) is ORIGINAL[key]
    compat.unpatch_scipy(names)
    assert_scipy_original()


def test_unknown_name_is_a_value_error():
    with pytest.raises(ValueError, match="names must be among entropy.*got 'kl'"):
        compat.patch_scipy(["entropy", "kl"])
    assert_scipy_original()          # nothing half-patched
    with pytest.raises(ValueError, match="got 'nope'"):
        compat.unpatch_scipy("nope")
    with pytest.raises(ValueError, match="got 'nope'"):
        with compat.scipy_patched("nope"):
            pass


def test_context_manager_restores_on_exception():
    with pytest.raises(RuntimeError, match="boom"):
        with compat.scipy_patched():
            assert_scipy_patched()
            raise RuntimeError("boom")
    assert_scipy_original()


def test_context_manager_nests_and_keeps_patch_scipy():
    with compat.scipy_patched("entropy"):
        with compat.scipy_patched():
            assert_scipy_patched()
        assert_scipy_patched(["entropy"])
        assert scipy.spatial.distance.jensenshannon is ORIGINAL[
            "scipy.spatial.distance", "jensenshannon"]
    assert_scipy_original()
    compat.patch_scipy("entropy")
    with compat.scipy_patched():
        pass
    assert_scipy_patched(["entropy"])           # patch_scipy() outlives the block
    with compat.scipy_patched("kl_div"):
        compat.patch_scipy("kl_div")            # ... also when called inside it
    assert_scipy_patched(["entropy", "kl_div"])


def test_overlapping_blocks_in_threads():
    entered, release = threading.Event(), threading.Event()

    def worker():
        with compat.scipy_patched():
            entered.set()
            release.wait(30)

    t = threading.Thread(target=worker)
    t.start()
    entered.wait(30)
    with compat.scipy_patched():
        pass                         # ends first: SciPy stays patched for the worker
    assert_scipy_patched()
    release.set()
    t.join(30)
    assert_scipy_original()


def test_scipy_results_agree():
    rng = np.random.default_rng(0)
    p, q = rng.random((2, 5, 40))
    u, v = rng.normal(size=(2, 200))
    uw, vw = rng.random((2, 200))
    x, y = rng.random((2, 100))
    calls = {
        "entropy": lambda: scipy.stats.entropy(p, q, axis=1),
        "entropy base 2": lambda: scipy.stats.entropy(p, base=2),
        "jensenshannon": lambda: scipy.spatial.distance.jensenshannon(p, q, axis=1),
        "wasserstein_distance": lambda: scipy.stats.wasserstein_distance(u, v, uw, vw),
        "energy_distance": lambda: scipy.stats.energy_distance(u, v, uw, vw),
        "rel_entr": lambda: scipy.special.rel_entr(x, y),
        "kl_div": lambda: scipy.special.kl_div(x, y),
        "entr": lambda: scipy.special.entr(x),
    }
    want = {name: call() for name, call in calls.items()}
    with compat.scipy_patched():
        got = {name: call() for name, call in calls.items()}
    for name in calls:
        assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-15, err_msg=name)
    assert scipy.stats.distributions.entropy is ORIGINAL["scipy.stats.distributions", "entropy"]


def test_without_scipy_is_an_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.stats", None)
    with pytest.raises(ImportError, match="patch_scipy needs SciPy: pip install scipy"):
        compat.patch_scipy()
    monkeypatch.undo()
    assert_scipy_original()


def test_importing_compat_imports_no_scipy():
    code = "import sys, kl_ext.compat; print('scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"


def test_evidently_example():
    """examples/patch_scipy_evidently.py on a small workload: Evidently's drift
    scores agree with SciPy patched and unpatched (skips without Evidently)."""
    import os
    pytest.importorskip("evidently")
    example = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "examples", "patch_scipy_evidently.py")
    if not os.path.isfile(example):
        pytest.skip("needs the source tree (examples/)")
    res = subprocess.run([sys.executable, example, "--no-report", "--rounds", "1",
                          "--rows", "3000", "--columns", "2", "--repeat", "1"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "drift scores agree" in res.stdout
