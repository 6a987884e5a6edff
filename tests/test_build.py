"""setup.py fails loudly, never building a package without kernels.

An sdist that lacked src/*.pyx once installed "successfully" and then failed
at ``import kl_ext``; these run setup.py on a copy of the sources with one
missing and check that the build stops with the reason.
"""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.skipif(not os.path.isfile(os.path.join(ROOT, "setup.py")),
                                reason="needs the source tree (setup.py)")


def run_setup(tmp_path, remove):
    pytest.importorskip("Cython")
    shutil.copy(os.path.join(ROOT, "setup.py"), tmp_path)
    shutil.copytree(os.path.join(ROOT, "src"), tmp_path / "src",
                    ignore=shutil.ignore_patterns("*.c", "*.html"))
    os.remove(tmp_path / "src" / remove)
    env = dict(os.environ, KL_EXT_OPENMP="0")
    return subprocess.run([sys.executable, "setup.py", "--version"], cwd=tmp_path,
                          capture_output=True, text=True, env=env, timeout=600)


def test_missing_kernel_source_stops_the_build(tmp_path):
    res = run_setup(tmp_path, "_wasserstein_v3.pyx")
    assert res.returncode != 0
    assert "kernel sources missing: src/_wasserstein_v3.pyx" in res.stderr


def test_missing_pxd_stops_the_build(tmp_path):
    res = run_setup(tmp_path, "_scalar.pxd")
    assert res.returncode != 0
    assert "_scalar" in res.stderr + res.stdout
