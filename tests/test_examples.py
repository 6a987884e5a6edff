"""examples/digits.py runs end to end on scikit-learn's bundled digits."""

import os
import subprocess
import sys

import pytest

EXAMPLE = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "digits.py")


def test_digits_example(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    res = subprocess.run([sys.executable, EXAMPLE, "--out-dir", str(tmp_path)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert "Traceback" not in res.stderr
    assert "(OK: tolerance 1e-12)" in out                     # (a) matches log_loss
    assert "identical to the in-process ones: OK" in out      # (c) kl-ext score agrees
    assert "all checks passed" in out
    png = tmp_path / "digits_js_distance.png"                 # (b) the heat map
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("onehot.npy", "proba.npy", "scores.npy"):
        assert (tmp_path / name).is_file()
