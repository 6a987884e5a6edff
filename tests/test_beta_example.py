"""examples/beta_monte_carlo.py runs end to end and converges to kl_beta."""

import os
import re
import subprocess
import sys

import pytest

EXAMPLE = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "beta_monte_carlo.py")


def test_beta_monte_carlo_example(tmp_path):
    pytest.importorskip("scipy")
    pytest.importorskip("matplotlib")
    res = subprocess.run([sys.executable, EXAMPLE, "--out-dir", str(tmp_path), "--n", "20000"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert "Traceback" not in res.stderr
    exact = float(re.search(r"exact KL\(p \|\| q\) = .* = ([0-9.]+) nats", out).group(1))
    assert exact == pytest.approx(1.0470127728225833, rel=1e-11)
    k1 = re.search(r"k1: n = +20000 +estimate = ([0-9.]+) ± ([0-9.]+)", out)
    est, se = float(k1.group(1)), float(k1.group(2))
    assert abs(est - exact) <= 4 * se
    assert "k3: n =   20000" in out
    assert "OK: the final k1 estimate is within 4 stderr" in out
    png = tmp_path / "beta_monte_carlo.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_beta_monte_carlo_fails_loudly(tmp_path):
    """A wrong exact value must make the script exit non-zero."""
    pytest.importorskip("scipy")
    pytest.importorskip("matplotlib")
    code = (
        "import runpy, sys; import kl_ext.parametric as P;"
        "orig = P.kl_beta; P.kl_beta = lambda *a: orig(*a) + 0.05;"
        f"sys.argv = ['x', '--out-dir', {str(tmp_path)!r}, '--n', '20000'];"
        f"runpy.run_path({EXAMPLE!r}, run_name='__main__')"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "FAILED" in res.stdout
