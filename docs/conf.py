"""Sphinx configuration of the kl_ext documentation site.

Build (offline, warnings are errors, as CI does)::

    pip install -e ".[docs]"
    python -m sphinx -W -n --keep-going -b html docs docs/_build/html

No online inventory is fetched: intersphinx is off unless
``KL_EXT_DOCS_INTERSPHINX=1`` is set where the network exists.
"""

import os
import warnings

import kl_ext

project = "kl_ext"
author = "kl_ext developers"
copyright = "kl_ext developers"
version = release = kl_ext.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "sphinxarg.ext",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build",
                    "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip",
                    "auto_examples/*.md5", "auto_examples/*.codeobj.json"]
# single backticks: a link where the name resolves, else emphasis (numpydoc
# writes parameter names so); explicit roles (:func:, :mod:) must resolve.
default_role = "autolink"

# ---- offline by default ---------------------------------------------------
if os.environ.get("KL_EXT_DOCS_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "scipy": ("https://docs.scipy.org/doc/scipy", None),
        "dask": ("https://docs.dask.org/en/stable", None),
    }

# ---- nitpicky: every cross-reference must resolve, except those into other
# projects' documentation, which cannot be resolved offline.  Each pattern
# names a project explicitly; nothing of kl_ext's own is ignored.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|scipy|ot|dask|distributed|sklearn|torch|pyspark|pyarrow|pandas)(\..*)?"),
    (r"py:.*", r"(array_like|array-like|ndarray|ArrayLike|NDArray|dtype|optional)"),
    (r"py:.*", r"(int|float|bool|str|None|tuple|list|dict|callable|object|iterable|sequence|"
               r"type|bytes|complex|path-like|os\.PathLike|file-like|Exception|ValueError|"
               r"TypeError|ImportError|KeyError|IndexError|RuntimeError|OverflowError|"
               r"collections\.namedtuple|typing\..*|contextlib\..*|argparse\..*)"),
]

# ---- autodoc / autosummary / numpydoc --------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": False}
autodoc_typehints = "none"
# The class template (_templates/autosummary/class.rst) adds an entry for
# each property a class defines itself; autosummary's own `attributes` also
# holds instance attributes set in __init__, which autodoc cannot import.
def _own_properties():
    import importlib
    out = {}
    for mod in ("kl_ext.chunked", "kl_ext.report", "kl_ext.estimators", "kl_ext.accuracy"):
        try:
            module = importlib.import_module(mod)
        except ImportError:
            continue
        for name, cls in vars(module).items():
            if isinstance(cls, type) and cls.__module__ == mod and not name.startswith("_"):
                props = sorted(n for n, v in vars(cls).items()
                               if isinstance(v, property) and not n.startswith("_"))
                out[f"{mod}.{name}"] = out[f"kl_ext.{name}"] = props
    return out


autosummary_context = {"own_properties": _own_properties()}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True
# numpydoc's validation: the checks that catch a docstring drifting from its
# function (parameters missing, unknown or out of order), a missing
# docstring, a missing summary, and malformed sections.
numpydoc_validation_checks = {"GL08", "PR01", "PR02", "PR03", "SS01", "GL06", "GL07"}
numpydoc_validation_exclude = {
    r"\.__init__$",  # documented by their class
    # NumPy ufuncs: their signature is NumPy's generic (x1, x2, /, out, ...)
    r"^kl_ext\.compat\.(rel_entr|kl_div|entr)$",
    # named tuples: the fields are documented as Attributes
    r"^kl_ext\.(Comparison|KLEstimate)$",
    # made by partial_stats() and PartialStats.totals(), never by the caller
    r"^kl_ext\.chunked\.(PartialStats|Totals)$",
}

# ---- theme -------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"kl_ext {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
}
html_show_sourcelink = False
html_sidebars = {"index": []}

# ---- MyST (the Markdown pages) ---------------------------------------------
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

# ---- sphinx-gallery: examples/ --------------------------------------------
# digits.py and beta_monte_carlo.py run at build time (seconds each, on data
# scikit-learn ships).  spark_kl.py (PySpark and a Java runtime) and
# patch_scipy_evidently.py (Evidently, pandas<3, and minutes of timing) are
# shown without being executed: filename_pattern selects the executed ones.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/(digits|beta_monte_carlo)\.py$",
    "ignore_pattern": r"__init__\.py|/out/",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "plot_gallery": "True",
    "within_subsection_order": "FileNameSortKey",
    "show_signature": False,
}

# ---- names kl_ext exports resolve to their kl_ext.* page --------------------
# The everyday functions are documented once, as kl_ext.NAME.  A reference
# written in a module's own docstring as `wasserstein_hist` (relative to
# kl_ext.wasserstein) or as kl_ext.wasserstein.wasserstein_hist names the same
# object: resolve it to kl_ext.wasserstein_hist.  Any other unresolved
# reference stays an error under -n.
def _resolve_exported_alias(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    name = target.rsplit(".", 1)[-1]
    if name not in kl_ext.__all__ or target == f"kl_ext.{name}":
        return None
    module = node.get("py:module") or ""
    if not (target.startswith("kl_ext.") or module.startswith("kl_ext")):
        return None
    if "." in target:  # kl_ext.MODULE.NAME must be the very object kl_ext exports
        import importlib
        mod, _, attr = target.rpartition(".")
        try:
            if getattr(importlib.import_module(mod), attr) is not getattr(kl_ext, name):
                return None
        except (ImportError, AttributeError):
            return None
    domain = env.get_domain("py")
    return domain.resolve_xref(env, node.get("refdoc"), app.builder, node.get("reftype"),
                               f"kl_ext.{name}", node, contnode)


def setup(app):
    app.connect("missing-reference", _resolve_exported_alias)


# matplotlib without a display, and no "non-GUI backend" warnings
os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", message="Matplotlib is currently using agg")
