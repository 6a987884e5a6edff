"""The table of measures (kl_ext/_table.py) is the one definition of each measure.

Checks that the constants the Cython modules compile against
(src/_codes.pxd) are the table's, that every kernel entry answers a measure
code it does not know with an error status (never a value of another
measure), and that everything that lists measures lists the table's.
"""

import importlib
import math
import os
import pydoc

import numpy as np
import pytest

import kl_ext
from kl_ext import _cpu, _doc, _table, bench, cli, measures, reference, report
from kl_ext._table import BY_NAME, DERIVED, MEASURES, STATUS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BAD = STATUS["ST_BAD_MEASURE"]


def test_codes_pxd_is_generated_from_the_table():
    with open(os.path.join(ROOT, "src", "_codes.pxd")) as f:
        assert f.read() == _table.pxd_text(), (
            "src/_codes.pxd is stale: run `python kl_ext/_table.py > src/_codes.pxd` "
            "(setup.py does it at every build)")


def test_table_loads_by_path_as_setup_py_loads_it():
    import importlib.util
    # setup.py runs kl_ext/_table.py by path, outside sys.modules, before
    # anything is built (a dataclass with string annotations fails there)
    spec = importlib.util.spec_from_file_location(
        "_kl_ext_table", os.path.join(ROOT, "kl_ext", "_table.py"))
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    assert table.pxd_text() == _table.pxd_text()


def test_pxd_constants_match_the_table():
    text = _table.pxd_text()
    for m in MEASURES:
        assert f"    {m.const} = {m.code}\n" in text
    for name, code in STATUS.items():
        assert f"    {name} = {code}\n" in text
    assert f"    NOUT = {len(_table.COMPARE_COLUMNS)}\n" in text
    assert f"    NF_SHIFT = {_table.NF_SHIFT}\n" in text


def test_python_codes_are_the_tables():
    assert measures._KL == BY_NAME["kl_divergence"].code
    assert measures._JS_DISTANCE == BY_NAME["js_distance"].code
    assert measures._ST_NONFINITE == STATUS["ST_NONFINITE"]
    assert report._NOUT == len(_table.COMPARE_COLUMNS) == len(report._SLOW)


def _kernels():
    mods = []
    for base in ("kl_ext._divergence", "kl_ext._compare"):
        for tier in _cpu.available_tiers(base):
            mods.append(importlib.import_module(_cpu._module(base, tier)))
    return mods


BOGUS = [max(BY_NAME[m.name].code for m in MEASURES) + 1, 99, -1, 2**30]


@pytest.mark.parametrize("code", BOGUS)
@pytest.mark.parametrize("n", [1, 10, 100, 70000])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernels_report_an_unknown_measure_code(code, n, dtype):
    # every entry of every tier (and _compare's copy of the kernels): an
    # error status, not the value of JS or any other measure
    rng = np.random.default_rng(n)
    p = rng.random(n).astype(dtype)
    q = rng.random(n).astype(dtype)
    P = rng.random((20, n)).astype(dtype)
    for k in _kernels():
        value, st = k.one(code, p, q, True)
        assert st == BAD and math.isnan(value), (k.__name__, value, st)
        for qq in (np.broadcast_to(q, P.shape), P[::-1]):   # broadcast row, and rows
            out = np.zeros(len(P))
            status = np.zeros(len(P), dtype=np.int8)
            assert k.rows(code, P, qq, True, out, status) == len(P)
            assert (status == BAD).all(), k.__name__
        assert k.small(code, p, q, -1, True, 0, None) is None


def test_measures_layer_raises_for_a_status_it_does_not_know(monkeypatch):
    # a kernel (e.g. an old build) that does not know a code: a RuntimeError
    # naming the status, never a wrong message about the data
    monkeypatch.setattr(measures, "_KL", BOGUS[0])
    with pytest.raises(RuntimeError, match=f"status {BAD}"):
        measures._compute(BOGUS[0], np.ones((2, 3)), np.ones((2, 3)), -1, True)


def test_every_listing_of_measures_is_the_tables():
    names = [m.name for m in MEASURES]
    assert measures.__all__ == names
    assert [n for n in kl_ext.__all__ if n in names] == names
    assert list(bench.MEASURES) == names
    assert set(cli.SCORE_MEASURES.values()) == set(names)
    assert list(cli.SCORE_MEASURES) == [m.cli for m in MEASURES]
    for m in MEASURES:
        assert callable(getattr(kl_ext, m.name))
        assert callable(getattr(reference, m.reference))
        assert m.name in reference.__all__
        if m.plan == DERIVED:
            assert m.of in BY_NAME and m.post
    assert {m for _, m, _ in _table.COMPARE_COLUMNS} <= set(names)


@pytest.mark.parametrize("m", MEASURES, ids=lambda m: m.name)
def test_signature_follows_the_table(m):
    import inspect
    params = inspect.signature(getattr(kl_ext, m.name)).parameters
    assert ("q" in params) == m.takes_q
    assert ("base" in params) == m.has_base
    assert {"axis", "normalize", "smoothing"} <= set(params)


@pytest.mark.parametrize("m", MEASURES, ids=lambda m: m.name)
def test_results_lie_within_the_tables_bounds(m):
    rng = np.random.default_rng(9)
    p = rng.random((200, 16))
    p[rng.random(p.shape) < 0.3] = 0.0
    p[:, 0] += 0.1
    args = (p, p[::-1]) if m.takes_q else (p,)
    v = getattr(kl_ext, m.name)(*args)
    assert np.all(v >= m.lower) and np.all(v <= m.upper)


@pytest.mark.parametrize("m", MEASURES, ids=lambda m: m.name)
def test_help_shows_the_whole_filled_docstring(m):
    doc = getattr(kl_ext, m.name).__doc__
    assert "%(" not in doc
    for section in ("Parameters", "Returns", "Raises", "Notes", "References", "Examples"):
        assert f"\n    {section}\n    ---" in doc, section
    assert "\n    smoothing : float, default 0.0\n        Additive (Lidstone)" in doc
    assert "[MS1999]" in doc and ".. [MS1999] C. D. Manning" in doc
    text = pydoc.render_doc(getattr(kl_ext, m.name), renderer=pydoc.plaintext)
    assert "Lidstone's law" in text and "Examples" in text


def test_docformat_indents_and_rejects_unknown_keys():
    doc = "f\n\n    Parameters\n    ----------\n    %(axis)s\n    x : int\n"
    out = _doc.docformat(doc)
    assert "    axis : int, default -1\n        Axis along which" in out
    assert out.endswith("    x : int\n")
    with pytest.raises(KeyError):
        _doc.docformat("    %(no_such_key)s\n")
