"""The type stubs are complete: every compiled module (each CPU tier) has a
.pyi that declares exactly its public names with its parameter names, and
kl_ext/__init__.pyi declares every name that kl_ext loads lazily.

Run against an installed kl_ext too (.ci/test-installed): the stubs and
py.typed must sit beside the modules that are imported, or a type checker
sees an untyped package.
"""

import ast
import importlib
import inspect
import pathlib
import types

import pytest

import kl_ext
from kl_ext import _cpu

PKG = pathlib.Path(kl_ext.__file__).parent
COMPILED = ["_divergence", "_compare", "_logits", "_wasserstein", "_special"]


def _stub(name):
    path = PKG / f"{name}.pyi"
    assert path.is_file(), f"{path} is missing"
    return ast.parse(path.read_text(encoding="utf-8"))


def _declared(tree):
    """Names a stub declares (defs, classes, annotated or assigned names,
    `import x as x` re-exports) -> the FunctionDef node or None."""
    names = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = None
        elif isinstance(node, ast.Assign):
            names.update((t.id, None) for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom):
            # only the explicit re-export form `from m import x as x` exports x
            names.update((a.asname, None) for a in node.names if a.asname == a.name)
    return names


def _tiers():
    for name in COMPILED:
        for tier in _cpu.available_tiers(f"kl_ext.{name}"):
            yield name, tier


@pytest.mark.parametrize("name, tier", list(_tiers()))
def test_stub_declares_every_name_of_the_compiled_module(name, tier):
    module = importlib.import_module(_cpu._module(f"kl_ext.{name}", tier))
    public = {n for n in dir(module) if not n.startswith("_")
              and not isinstance(getattr(module, n), types.ModuleType)}
    declared = {n for n in _declared(_stub(name)) if not n.startswith("_")}
    assert public - declared == set(), f"{name}.pyi lacks these names of {module.__name__}"
    assert declared - public == set(), f"{name}.pyi declares names {module.__name__} lacks"


@pytest.mark.parametrize("name, tier", list(_tiers()))
def test_stub_parameters_match_the_compiled_functions(name, tier):
    module = importlib.import_module(_cpu._module(f"kl_ext.{name}", tier))
    checked = 0
    for fname, node in _declared(_stub(name)).items():
        if not isinstance(node, ast.FunctionDef):
            continue
        stub_params = [a.arg for a in node.args.posonlyargs + node.args.args]
        stub_params += [a.arg for a in node.args.kwonlyargs]
        real = inspect.signature(getattr(module, fname))
        assert list(real.parameters) == stub_params, f"{module.__name__}.{fname}"
        defaults = [p.name for p in real.parameters.values()
                    if p.default is not inspect.Parameter.empty]
        n_defaults = len(node.args.defaults) + sum(d is not None for d in node.args.kw_defaults)
        assert len(defaults) == n_defaults, f"defaults of {module.__name__}.{fname}"
        checked += 1
    if name != "_special":  # ufuncs only
        assert checked


def test_init_stub_declares_every_public_and_lazy_name():
    declared = _declared(_stub("__init__"))
    assert set(kl_ext.__all__) | set(kl_ext._LAZY) | {"__version__"} <= set(declared)
    # and nothing kl_ext does not have
    for name in declared:
        if name not in ("_MEASURES", "_LAZY"):
            assert getattr(kl_ext, name) is not None, name
    tree = _stub("__init__")
    stub_all = next(node.value for node in tree.body if isinstance(node, ast.Assign)
                    and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["__all__"])
    assert ast.literal_eval(stub_all) == kl_ext.__all__


def test_init_stub_imports_each_lazy_name_from_its_module():
    for node in _stub("__init__").body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 1:
            for alias in node.names:
                if alias.name in kl_ext._LAZY:
                    assert kl_ext._LAZY[alias.name] == node.module, alias.name


def test_package_is_marked_typed():
    assert (PKG / "py.typed").is_file()
