"""The ``kl-ext`` console script: ``bench`` and ``score``, run as a subprocess.

Every test runs ``python -m kl_ext.cli`` (the same ``main`` the ``kl-ext``
entry point calls) in a fresh interpreter, so an escaped exception would
show up as a traceback on stderr.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import kl_ext
from kl_ext import reference


def run_cli(*args, cwd=None):
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    return subprocess.run([sys.executable, "-m", "kl_ext.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def assert_one_line_error(res, status=None):
    assert res.returncode != 0, res
    if status is not None:
        assert res.returncode == status, res
    assert "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("kl-ext: error: "), res.stderr
    assert res.stdout == ""
    return lines[0]


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(7)
    p = rng.random((6, 5))
    p[0, 1] = 0.0                     # a zero entry: 0 log 0 = 0
    q = rng.random((6, 5)) + 0.01
    r = rng.random(5) + 0.01
    paths = {}
    for name, a in (("p", p), ("q", q), ("r", r)):
        np.save(tmp_path / f"{name}.npy", a)
        np.savetxt(tmp_path / f"{name}.csv", np.atleast_2d(a), delimiter=",", fmt="%.17g")
        paths[name] = a
    return tmp_path, paths


# ---------------------------------------------------------------- bench

def test_bench_quick_prints_table():
    res = run_cli("bench", "--quick", "--measure", "kl_divergence", "--sizes", "10")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert f"kl_ext {kl_ext.__version__}" in out
    assert "NumPy " + np.__version__ in out
    assert "CPU:" in out
    header = next(line for line in out.splitlines() if line.startswith("measure"))
    for col in ("kl_ext", "reference", "SciPy", "×reference", "×SciPy"):
        assert col in header
    rows = [line for line in out.splitlines() if line.startswith("kl_divergence")]
    assert len(rows) == 1 and "n=10" in rows[0]
    assert any(u in rows[0] for u in ("ns", "µs", "ms"))
    assert rows[0].rstrip().endswith("×")
    assert not any(line.startswith("entropy") for line in out.splitlines())  # --measure


def test_bench_batched_footnote_and_no_scipy_for_tv():
    res = run_cli("bench", "--quick", "--measure", "total_variation", "--sizes", "1e5x10",
                  "--budget", "0.01")
    assert res.returncode == 0, res.stderr
    row = next(line for line in res.stdout.splitlines() if line.startswith("total_variation"))
    assert "[a]" in row and row.split()[-1] == "—"     # no SciPy competitor for TV
    assert any(line.startswith("[a] one call over 1e5 rows") for line in res.stdout.splitlines())


@pytest.mark.parametrize("args, needle", [
    (("bench", "--measure", "nope"), "unknown --measure 'nope'"),
    (("bench", "--sizes", "12"), "unknown size '12'"),
    (("bench", "--budget", "0"), "--budget"),
    (("bench", "--bogus"), "unrecognized arguments"),
])
def test_bench_usage_errors(args, needle):
    line = assert_one_line_error(run_cli(*args), status=2)
    assert needle in line, line


def test_bench_runner_registry():
    from kl_ext import bench
    w = bench.Workload(measure="toy", size="3", label="n=3",
                       make_inputs=lambda rng: (rng.random(3),),
                       kl_ext=lambda: kl_ext.entropy, reference=lambda: reference.entropy,
                       scipy=None)
    bench.register(w)
    try:
        assert "toy" in bench.known_measures()
        (res,) = bench.run(bench.workloads(["toy"], ["3"]), quick=True, budget=0.001)
        assert res.kl_ext > 0 and res.reference > 0 and res.scipy is None
        assert res.mismatch == ()
        table = "\n".join(bench.format_table([res]))
        assert "toy" in table and "n=3" in table and " !" not in table
    finally:
        bench._REGISTRY.remove(w)


def test_bench_flags_a_competitor_that_disagrees():
    from kl_ext import bench
    w = bench.register(bench.Workload(
        measure="toy", size="3", label="n=3", make_inputs=lambda rng: (rng.random(3),),
        kl_ext=lambda: kl_ext.entropy, reference=lambda: (lambda p: 1.0)))
    try:
        (res,) = bench.run([w], quick=True, budget=0.001)
        assert res.mismatch == ("reference",)
        table = "\n".join(bench.format_table([res]))
        assert " !" in table and "differs from kl_ext" in table
    finally:
        bench._REGISTRY.remove(w)


def test_bench_has_wasserstein_workloads_when_available():
    pytest.importorskip("kl_ext.wasserstein")
    from kl_ext import bench
    ws = bench.workloads(["wasserstein_1d", "wasserstein_hist"])
    labels = {(w.measure, w.label.split(" [")[0]) for w in ws}
    for size in ("1e3", "1e6"):
        for kind in ("unweighted", "weighted", "pre-sorted"):
            assert ("wasserstein_1d", f"n=m={size} {kind}") in labels
    assert ("wasserstein_hist", "1e4×100 bins") in labels
    # the small ones run, and every competitor agrees with kl_ext
    small = [w for w in ws if w.size == "1e3"]
    for res in bench.run(small, quick=True, budget=0.001):
        assert res.mismatch == (), res.workload.label


def test_human_time():
    from kl_ext.bench import human_time
    assert human_time(1.5e-7) == "150 ns"
    assert human_time(2.5e-6) == "2.5 µs"
    assert human_time(0.0123) == "12.3 ms"
    assert human_time(3.0) == "3 s"


# ---------------------------------------------------------------- score

MEASURES = {"entropy": "entropy", "cross_entropy": "cross_entropy", "kl": "kl_divergence",
            "js": "js_divergence", "js_distance": "js_distance", "tv": "total_variation"}


@pytest.mark.parametrize("measure", list(MEASURES))
def test_score_npy_to_stdout_is_exact(files, measure):
    d, a = files
    args = ["score", d / "p.npy"] + ([] if measure == "entropy" else [d / "q.npy"])
    res = run_cli(*args, "--measure", measure)
    assert res.returncode == 0, res.stderr
    got = np.array([float(s) for s in res.stdout.split()])
    fn = getattr(kl_ext, MEASURES[measure])
    want = fn(a["p"]) if measure == "entropy" else fn(a["p"], a["q"])
    np.testing.assert_array_equal(got, want)          # repr round-trips exactly
    ref = getattr(reference, MEASURES[measure])
    want_ref = ref(a["p"]) if measure == "entropy" else ref(a["p"], a["q"])
    np.testing.assert_allclose(got, want_ref, rtol=1e-12, atol=1e-15)


def test_score_csv_in_csv_out_with_base(files):
    d, a = files
    res = run_cli("score", d / "p.csv", d / "q.csv", "--measure", "kl", "--base", "2",
                  "--out", d / "out.csv")
    assert res.returncode == 0 and res.stdout == "", res.stderr
    got = np.loadtxt(d / "out.csv", delimiter=",")
    np.testing.assert_array_equal(got, kl_ext.kl_divergence(a["p"], a["q"], base=2))


def test_score_npy_out_and_broadcast_reference_row(files):
    d, a = files
    for q in ("r.npy", "r.csv"):    # 1-D .npy, and a .csv with one line
        out = d / "out.npy"
        res = run_cli("score", d / "p.npy", d / q, "--measure", "js", "--out", out)
        assert res.returncode == 0, res.stderr
        got = np.load(out)
        assert got.shape == (6,)
        np.testing.assert_array_equal(got, kl_ext.js_divergence(a["p"], a["r"]))
        np.testing.assert_allclose(got, [reference.js_divergence(row, a["r"])
                                         for row in a["p"]], rtol=1e-12)


def test_score_out_upper_case_extension(files):
    d, a = files
    res = run_cli("score", d / "p.npy", "--measure", "entropy", "--out", d / "H.NPY")
    assert res.returncode == 0, res.stderr
    assert not (d / "H.NPY.npy").exists()
    np.testing.assert_array_equal(np.load(d / "H.NPY"), kl_ext.entropy(a["p"]))


def test_score_one_row_and_columns(files):
    d, a = files
    res = run_cli("score", d / "r.npy", "--measure", "entropy")
    assert res.returncode == 0, res.stderr
    assert [float(s) for s in res.stdout.split()] == [float(kl_ext.entropy(a["r"]))]
    # --axis 0: distributions are the columns; a 1-D Q of length 6 is the reference column
    np.save(d / "c.npy", a["q"][:, 0])
    res = run_cli("score", d / "p.npy", d / "c.npy", "--measure", "tv", "--axis", "0")
    assert res.returncode == 0, res.stderr
    got = np.array([float(s) for s in res.stdout.split()])
    np.testing.assert_array_equal(got, kl_ext.total_variation(a["p"], a["q"][:, :1], axis=0))


def test_score_float32_and_nan(tmp_path):
    p = np.array([[0.25, 0.75], [np.nan, 1.0]], dtype=np.float32)
    np.save(tmp_path / "p.npy", p)
    res = run_cli("score", tmp_path / "p.npy", "--measure", "entropy", "--out",
                  tmp_path / "h.npy")
    assert res.returncode == 0, res.stderr
    h = np.load(tmp_path / "h.npy")
    assert h.dtype == np.float32
    assert h[0] == kl_ext.entropy(p[0]) and np.isnan(h[1])


def test_score_leaves_inputs_untouched(files):
    d, a = files
    before = (d / "p.npy").read_bytes()
    run_cli("score", d / "p.npy", d / "q.npy", "--measure", "kl", "--out", d / "o.npy")
    assert (d / "p.npy").read_bytes() == before


def _error_cases(d):
    rng = np.random.default_rng(1)
    np.save(d / "neg.npy", -rng.random((6, 5)))
    np.save(d / "zero.npy", np.zeros(5))
    np.save(d / "three.npy", rng.random((2, 2, 2)))
    np.save(d / "empty.npy", np.empty((0, 5)))
    np.save(d / "short.npy", rng.random(4))
    np.save(d / "other.npy", rng.random((3, 5)))
    np.save(d / "cplx.npy", rng.random((2, 5)) + 1j)
    np.save(d / "obj.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    (d / "text.npy").write_text("not an npy file\n")
    (d / "bad.csv").write_text("0.1,0.2,x\n")
    (d / "ragged.csv").write_text("0.1,0.2,0.3\n0.1,0.2\n")
    (d / "empty.csv").write_text("")
    (d / "p.txt").write_text("0.5 0.5\n")
    (d / "adir.npy").mkdir()
    P, Q = d / "p.npy", d / "q.npy"
    return {
        "missing P": (["score", d / "nope.npy", Q, "--measure", "kl"], "does not exist"),
        "missing Q": (["score", P, d / "nope.csv", "--measure", "kl"], "does not exist"),
        "directory": (["score", d / "adir.npy", "--measure", "entropy"], "directory"),
        "extension": (["score", d / "p.txt", "--measure", "entropy"], "unsupported format"),
        "not npy": (["score", d / "text.npy", "--measure", "entropy"], "cannot read P"),
        "pickled": (["score", d / "obj.npy", "--measure", "entropy"], "cannot read P"),
        "bad csv": (["score", d / "bad.csv", "--measure", "entropy"], "cannot read P"),
        "ragged csv": (["score", P, d / "ragged.csv", "--measure", "kl"], "cannot read Q"),
        "empty csv": (["score", d / "empty.csv", "--measure", "entropy"], "no values"),
        "empty npy": (["score", d / "empty.npy", "--measure", "entropy"], "no values"),
        "3-d": (["score", d / "three.npy", "--measure", "entropy"], "shape (2, 2, 2)"),
        "complex": (["score", d / "cplx.npy", "--measure", "entropy"], "complex"),
        "shape mismatch": (["score", P, d / "other.npy", "--measure", "kl"], "shape"),
        "reference length": (["score", P, d / "short.npy", "--measure", "js"], "length 4"),
        "negative": (["score", d / "neg.npy", "--measure", "entropy"], "non-negative"),
        "negative Q": (["score", P, d / "neg.npy", "--measure", "kl"], "non-negative"),
        "zero row": (["score", P, d / "zero.npy", "--measure", "kl"], "sums to 0"),
        "base 1": (["score", P, Q, "--measure", "kl", "--base", "1"], "base"),
        "base <0": (["score", P, Q, "--measure", "kl", "--base", "-2"], "base"),
        "base nan": (["score", P, Q, "--measure", "kl", "--base", "nan"], "base"),
        "base tv": (["score", P, Q, "--measure", "tv", "--base", "2"], "--base"),
        "Q missing": (["score", P, "--measure", "kl"], "needs two files"),
        "Q extra": (["score", P, Q, "--measure", "entropy"], "takes only P"),
        "bad axis": (["score", P, Q, "--measure", "kl", "--axis", "2"], "--axis"),
        "out ext": (["score", P, Q, "--measure", "kl", "--out", d / "o.txt"],
                    "unsupported format"),
        "out dir": (["score", P, Q, "--measure", "kl", "--out", d / "no" / "o.npy"],
                    "does not exist"),
    }


CASE_NAMES = ["missing P", "missing Q", "directory", "extension", "not npy", "pickled",
              "bad csv", "ragged csv", "empty csv", "empty npy", "3-d", "complex",
              "shape mismatch", "reference length", "negative", "negative Q", "zero row",
              "base 1", "base <0", "base nan", "base tv", "Q missing", "Q extra",
              "bad axis", "out ext", "out dir"]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_score_errors_are_one_line(files, case):
    d, _ = files
    args, needle = _error_cases(d)[case]
    line = assert_one_line_error(run_cli(*args), status=1)
    assert needle in line, line


@pytest.mark.parametrize("args, needle", [
    (["score", "p.npy", "q.npy", "--measure", "foo"], "invalid choice"),
    (["score", "p.npy", "q.npy", "--measure", "kl", "--base", "x"], "invalid float"),
    (["score", "p.npy", "q.npy"], "--measure"),
    (["score"], "required"),
    ([], "a command is required"),
    (["frobnicate"], "invalid choice"),
])
def test_usage_errors_are_one_line(files, args, needle):
    d, _ = files
    line = assert_one_line_error(run_cli(*args, cwd=d), status=2)
    assert needle in line, line


def test_help_works():
    res = run_cli("score", "--help")
    assert res.returncode == 0 and "--measure" in res.stdout


def test_main_in_process_returns_status(files, capsys):
    from kl_ext.cli import main
    d, a = files
    assert main(["score", str(d / "p.npy"), "--measure", "entropy"]) == 0
    out = capsys.readouterr().out.split()
    assert [float(s) for s in out] == list(kl_ext.entropy(a["p"]))
    assert main(["score", str(d / "nope.npy"), "--measure", "entropy"]) == 1
    assert capsys.readouterr().err.startswith("kl-ext: error: P file")


def test_bench_without_scipy():
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "scipy" or name.startswith("scipy."):
            raise ImportError("scipy blocked for this test")
sys.meta_path.insert(0, Block())
from kl_ext.cli import main
sys.exit(main(["bench", "--quick", "--sizes", "10", "--measure", "entropy"]))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert "SciPy not installed" in res.stdout
    row = next(line for line in res.stdout.splitlines() if line.startswith("entropy"))
    assert row.split()[-1] == "—" and "×" in row
