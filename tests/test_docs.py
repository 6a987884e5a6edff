"""README.md and the user guide: their examples run, their links resolve.

The Sphinx build (.ci/run, `python -m sphinx -W -n ...`) checks the site's
cross-references; this checks, cheaply and without Sphinx, what a reader of
the Markdown files on their own would try: the ``>>>`` examples in fenced
Python blocks give the printed results, and relative links name files that
exist.
"""

import doctest
import os
import re

import pytest

ROOT = os.path.join(os.path.dirname(__file__), os.pardir)
GUIDE = os.path.join(ROOT, "docs", "user_guide")
_FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _blocks(page):
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        text = f.read()
    return [m.group(1) for m in _FENCE.finditer(text) if ">>>" in m.group(1)]


# the Markdown pages that have >>> examples
PAGES = [p for p in ["README.md"] + sorted(
    os.path.join("docs", "user_guide", f) for f in os.listdir(GUIDE) if f.endswith(".md"))
    if _blocks(p)]


def test_readme_and_guide_have_examples():
    assert "README.md" in PAGES and len(PAGES) >= 3, PAGES


@pytest.mark.parametrize("page", PAGES)
def test_markdown_examples_run(page):
    blocks = _blocks(page)
    if any("kl_estimate" in b for b in blocks):
        pytest.importorskip("scipy")
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(
        optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False)
    globs = {}
    for i, block in enumerate(blocks):
        test = parser.get_doctest(block, globs, f"{page}[{i}]", page, 0)
        runner.run(test, out=lambda s: None)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} example(s) in {page} gave other output"


def test_readme_links_resolve():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    targets = [t for t in _LINK.findall(text) if "://" not in t]
    assert targets, "README links into the documentation"
    missing = [t for t in targets if not os.path.exists(os.path.join(ROOT, t))]
    assert not missing, f"README links to missing files: {missing}"


def test_readme_keeps_the_ci_test_command():
    # .ci/run runs README's set-up command 2 verbatim
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    assert 'pip install -e ".[test]" && pytest' in text
