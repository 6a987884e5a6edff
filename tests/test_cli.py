"""The ``kl-ext`` console script: ``bench`` and ``score``, run as a subprocess.

Every test runs ``python -m kl_ext.cli`` (the same ``main`` the ``kl-ext``
entry point calls) in a fresh interpreter, so an escaped exception would
show up as a traceback on stderr.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import kl_ext
from kl_ext import reference
from kl_ext._table import MEASURES as TABLE


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
    assert any(line.startswith("[a] one call over all rows") for line in res.stdout.splitlines())


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


def test_bench_header_shows_cpu_tier_and_threads():
    from kl_ext import measures
    res = run_cli("bench", "--quick", "--measure", "entropy", "--sizes", "10")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    tier = next(line for line in lines if line.startswith("kl_ext kernels:"))
    assert f"CPU tier {measures.CPU_TIER} " in tier
    threads = next(line for line in lines if line.startswith("threads:"))
    assert threads.startswith(f"threads: {measures._k.max_threads()} ")
    header = next(line for line in lines if line.startswith("measure"))
    assert header.split()[2] == "thr"
    row = next(line for line in lines if line.startswith("entropy"))
    assert row.split()[2] == str(measures._k.max_threads())


def test_bench_json_has_the_expected_keys(tmp_path):
    import json
    from kl_ext import measures
    out = tmp_path / "bench.json"
    res = run_cli("bench", "--quick", "--measure", "kl_divergence", "--sizes", "10",
                  "--json", out)
    assert res.returncode == 0, res.stderr
    assert f"wrote {out}" in res.stdout
    data = json.loads(out.read_text(encoding="utf-8"))   # strict JSON: no bare inf
    for key in ("schema", "created", "command", "versions", "cpu", "cpu_tier",
                "available_tiers", "openmp", "default_threads", "threads", "timing",
                "rtol", "support_check", "results"):
        assert key in data, key
    assert data["versions"]["kl_ext"] == kl_ext.__version__
    assert data["versions"]["numpy"] == np.__version__
    assert data["cpu_tier"] == measures.CPU_TIER
    assert data["command"][:2] == ["kl-ext", "bench"]
    assert data["support_check"]["kl"]["kl_ext"] == "inf"
    (rec,) = data["results"]
    assert (rec["measure"], rec["size"], rec["dtype"], rec["elements"]) == (
        "kl_divergence", "10", "float64", 10)
    assert rec["threads"] == measures._k.max_threads()
    med = rec["median_s"]
    assert med["kl_ext"] > 0 and med["reference"] > 0
    assert rec["speedup"]["reference"] == pytest.approx(med["reference"] / med["kl_ext"])
    assert rec["ns_per_element"] == pytest.approx(med["kl_ext"] / 10 * 1e9)
    assert rec["rel_diff"]["reference"] < 1e-12 and "reference" not in rec["mismatch"]


def test_bench_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "speedup.png"
    res = run_cli("bench", "--quick", "--measure", "js_distance", "--sizes", "10", "1e3",
                  "--plot", out)
    assert res.returncode == 0, res.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_bench_plot_without_matplotlib_is_a_clear_error(tmp_path):
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("matplotlib blocked for this test")
sys.meta_path.insert(0, Block())
from kl_ext.cli import main
sys.exit(main(["bench", "--quick", "--sizes", "10", "--measure", "entropy",
               "--plot", {str(tmp_path / "x.png")!r}]))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    line = assert_one_line_error(res, status=1)
    assert "--plot needs matplotlib" in line and "pip install matplotlib" in line
    assert not (tmp_path / "x.png").exists()


def test_bench_full_runs_one_and_two_threads(tmp_path):
    pytest.importorskip("threadpoolctl")
    import json
    out = tmp_path / "full.json"
    res = run_cli("bench", "--quick", "--full", "--measure", "total_variation",
                  "--sizes", "10", "1e5x10b", "--json", out)
    assert res.returncode == 0, res.stderr
    assert "(full matrix)" in res.stdout
    lines = res.stdout.splitlines()
    header = next(line for line in lines if line.startswith("measure"))
    col = header.index(" thr") + 1
    rows = [line for line in lines if line.startswith("total_variation")]
    # float64 and float32 × two cases × threads 1 and 2
    assert len(rows) == 8
    assert [r[col:col + 3].strip() for r in rows] == ["1", "2"] * 4     # the thr column
    recs = json.loads(out.read_text())["results"]
    assert sorted((r["dtype"], r["size"], r["threads"]) for r in recs) == sorted(
        (d, s, t) for d in ("float32", "float64") for s in ("10", "1e5x10b") for t in (1, 2))
    assert json.loads(out.read_text())["threads"] == [1, 2]


def test_bench_full_matrix_layout():
    from kl_ext import bench
    full = bench.full_workloads()
    cases = {(w.measure, w.size, w.dtype, w.threads) for w in full}
    for m in bench.MEASURES:
        for size in ("10", "1e3", "1e5", "1e7", "1e5x10", "1e3x1e4", "1e5x10b"):
            for dtype in ("float64", "float32"):
                for t in (1, 2):
                    want = (m, size, dtype, t)
                    assert (want in cases) == (m != "entropy" or size != "1e5x10b"), want
    w = next(w for w in full if w.size == "1e5x10b")
    p, q = w.make_inputs(np.random.default_rng(0))
    assert p.shape == (100_000, 10) and q.shape == (10,)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0)         # normalised for NumKong/POT
    w = next(w for w in full if w.size == "1e3x1e4" and w.dtype == "float32"
             and w.measure == "kl_divergence")
    assert w.make_inputs(np.random.default_rng(0))[1].dtype == np.float32


def test_bench_numkong_competitor_and_its_disagreements():
    pytest.importorskip("numkong")
    from kl_ext import bench
    # NumKong adds an epsilon: a zero in q gives a finite KL instead of +inf
    w = bench.Workload(
        measure="kl_divergence", size="z", label="zero in q",
        make_inputs=lambda rng: (np.array([0.5, 0.5]), np.array([1.0, 0.0])),
        kl_ext=lambda: kl_ext.kl_divergence, reference=lambda: reference.kl_divergence,
        numkong=bench._numkong_factory("kl_divergence"))
    ok = [x for x in bench.workloads(["js_divergence"], ["1e3"])]
    res = bench.run([w] + ok, quick=True, budget=0.001)
    assert res[0].numkong > 0 and res[0].mismatch == ("numkong",)
    assert res[0].rel_diff == {"reference": 0.0, "numkong": float("inf")}
    assert res[1].numkong > 0 and "numkong" not in res[1].mismatch   # float64, n=1e3: agrees
    table = "\n".join(bench.format_table(res))
    assert "NumKong" in table.splitlines()[0] and "×NumKong" in table.splitlines()[0]
    assert " !" in table and "NumKong kl_divergence zero in q: inf" in table
    assert "NumKong" in bench.conventions_check()[1]


def test_bench_without_numkong_has_no_numkong_column():
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "numkong" or name.startswith("numkong."):
            raise ImportError("numkong blocked for this test")
sys.meta_path.insert(0, Block())
from kl_ext.cli import main
sys.exit(main(["bench", "--quick", "--sizes", "10", "--measure", "kl_divergence"]))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert "NumKong not installed (pip install numkong)" in res.stdout
    header = next(line for line in res.stdout.splitlines() if line.startswith("measure"))
    assert "NumKong" not in header


def test_rel_diff():
    from kl_ext.bench import _rel_diff
    assert _rel_diff(np.array([1.0, np.inf, np.nan]), np.array([1.0, np.inf, np.nan])) == 0
    assert _rel_diff(16.5, np.inf) == np.inf
    assert _rel_diff(np.nan, 1.0) == np.inf
    assert _rel_diff(np.array([1.0, 2.2]), np.array([1.0, 2.0])) == pytest.approx(0.1)
    assert _rel_diff(np.zeros(3), np.zeros(2)) == np.inf       # shapes that do not fit


@pytest.mark.parametrize("args, needle, status", [
    (("bench", "--threads", "0"), "--threads takes positive integers", 2),
    (("bench", "--threads", "two"), "--threads takes positive integers", 2),
    (("bench", "--plot", "x.txt"), "unsupported format '.txt'", 2),
    (("bench", "--sizes", "1e7"), "without --full", 2),
    (("bench", "--full", "--sizes", "12"), "with --full", 2),
    (("bench", "--json", "/nonexistent-dir/x.json"), "does not exist", 1),
])
def test_bench_new_option_errors(args, needle, status):
    line = assert_one_line_error(run_cli(*args), status=status)
    assert needle in line, line


def test_human_time():
    from kl_ext.bench import human_time
    assert human_time(1.5e-7) == "150 ns"
    assert human_time(2.5e-6) == "2.5 µs"
    assert human_time(0.0123) == "12.3 ms"
    assert human_time(3.0) == "3 s"


# ---------------------------------------------------------------- score

MEASURES = {m.cli: m.name for m in TABLE}


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


def test_score_psi_alias_and_unitless_hellinger(files):
    d, a = files
    res = run_cli("score", d / "p.npy", d / "q.npy", "--measure", "psi", "--base", "2")
    assert res.returncode == 0, res.stderr
    got = np.array([float(s) for s in res.stdout.split()])
    np.testing.assert_array_equal(got, kl_ext.jeffreys_divergence(a["p"], a["q"], base=2))
    res = run_cli("score", d / "p.npy", d / "q.npy", "--measure", "hellinger", "--base", "2")
    assert res.returncode == 1
    assert "--base does not apply to --measure hellinger" in res.stderr


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


def test_bench_busy_runs_next_to_a_cpu_bound_process(tmp_path):
    out = tmp_path / "busy.json"
    res = run_cli("bench", "--quick", "--busy", "--measure", "kl_divergence", "--sizes", "10",
                  "--json", out)
    assert res.returncode == 0, res.stderr
    assert "busy machine: a CPU-bound process runs on CPU" in res.stdout
    assert json.loads(out.read_text())["timing"]["busy"] is True


def test_busy_machine_kills_the_process_at_the_end_and_on_an_exception():
    from kl_ext import bench
    with bench.busy_machine() as hog:
        assert hog.poll() is None  # spinning
    assert hog.poll() is not None
    with pytest.raises(KeyError), bench.busy_machine() as hog:
        assert hog.poll() is None  # spinning
        raise KeyError("stop")
    assert hog.poll() is not None
