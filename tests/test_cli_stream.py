"""``kl-ext score`` on files read in blocks of rows (kl_ext._stream).

The hidden option ``--block-rows N`` makes a small file span many blocks,
so every path of the streaming scorer (memory-mapped ``.npy`` blocks,
Parquet batches, incremental outputs, global row numbers in errors) runs
on files of a few kB.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import kl_ext

MEASURES = {"entropy": "entropy", "cross_entropy": "cross_entropy", "kl": "kl_divergence",
            "js": "js_divergence", "js_distance": "js_distance", "tv": "total_variation"}

M, N, BLOCK = 1003, 7, 10        # 101 blocks, the last one of 3 rows


def run_cli(*args, stderr=subprocess.PIPE, env=None):
    e = dict(os.environ)
    e.pop("PYTHONWARNINGS", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "kl_ext.cli", *map(str, args)],
                          stdout=subprocess.PIPE, stderr=stderr, text=True, env=e,
                          timeout=120)


def one_line_error(res, status=1):
    assert res.returncode == status, res
    assert "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kl-ext: error: "), res.stderr
    return lines[0]


def make(rng, dtype, m=M, n=N):
    p = rng.random((m, n)).astype(dtype)
    p[3, 0] = 0.0                    # 0 log 0 = 0
    p[17] = 0.0
    p[17, 2] = 1.0                   # a point mass
    p[40, 1] = np.nan                # NaN row -> NaN score
    return p


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(12)
    out = {}
    for dt in (np.float32, np.float64):
        p, q = make(rng, dt), make(rng, dt)
        q[500, 4] = 0.0              # support mismatch: +inf for KL at row 500
        r = (rng.random(N) + 0.01).astype(dt)
        name = np.dtype(dt).name
        for key, a in (("p", p), ("q", q), ("r", r)):
            np.save(tmp_path / f"{key}_{name}.npy", a)
        out[name] = (p, q, r)
    return tmp_path, out


def eager(measure, p, q=None, **kw):
    fn = getattr(kl_ext, MEASURES[measure])
    with np.errstate(all="ignore"):
        return fn(p, **kw) if measure == "entropy" else fn(p, q, **kw)


# ------------------------------------------------------- results = eager call

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("measure", list(MEASURES))
@pytest.mark.parametrize("qkind", ["rows", "reference"])
def test_blocks_give_the_eager_result_bit_for_bit(data, dtype, measure, qkind):
    d, arrays = data
    if measure == "entropy" and qkind == "reference":
        pytest.skip("entropy takes no Q")
    p, q, r = arrays[dtype]
    qarr, qfile = (q, f"q_{dtype}.npy") if qkind == "rows" else (r, f"r_{dtype}.npy")
    args = ["score", d / f"p_{dtype}.npy"] + ([] if measure == "entropy" else [d / qfile])
    out = d / "s.npy"
    res = run_cli(*args, "--measure", measure, "--block-rows", BLOCK, "--out", out)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "" and res.stderr == ""
    got = np.load(out)
    want = eager(measure, p, qarr)
    assert got.dtype == want.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, want)      # NaN where NaN, inf where inf
    assert np.isnan(got[40])


def test_blocks_are_smaller_than_the_file(data):
    # the engine itself: block_rows rows per block, consecutive, last one short
    from kl_ext import _stream
    d, arrays = data
    p = _stream.open_rows(str(d / "p_float64.npy"), "P")
    assert isinstance(p, _stream._NpyRows)        # memory-mapped per block
    blocks = list(_stream.score_blocks(kl_ext.entropy, p, None, BLOCK, {},
                                       {"p": ("P", "x")}))
    assert [s for s, _ in blocks] == list(range(0, M, BLOCK))
    assert [len(b) for _, b in blocks] == [BLOCK] * (M // BLOCK) + [M % BLOCK]
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]),
                                  eager("entropy", arrays["float64"][0]))


def test_default_block_is_a_budget_of_bytes():
    from kl_ext import _stream
    assert _stream.block_rows_for(10, 4) == (64 << 20) // 40
    assert _stream.block_rows_for(10, 8 + 8, budget=1000) == 6
    assert _stream.block_rows_for(10**9, 8) == 1


@pytest.mark.parametrize("fmt", [".npy", ".csv", ".parquet", "stdout"])
def test_every_output_format(data, fmt):
    if fmt == ".parquet":
        pq = pytest.importorskip("pyarrow.parquet")
    d, arrays = data
    p, q, r = arrays["float32"]
    args = ["score", d / "p_float32.npy", d / "r_float32.npy", "--measure", "js",
            "--block-rows", BLOCK]
    want = eager("js", p, r)
    if fmt == "stdout":
        res = run_cli(*args)
        assert res.returncode == 0, res.stderr
        got = np.array([float(s) for s in res.stdout.split()])
        np.testing.assert_array_equal(got, want.astype(np.float64))
        return
    out = d / f"s{fmt}"
    res = run_cli(*args, "--out", out)
    assert res.returncode == 0 and res.stdout == "", res.stderr
    if fmt == ".npy":
        got = np.load(out)
        assert got.dtype == np.float32
    elif fmt == ".csv":
        got = np.loadtxt(out, delimiter=",")
        want = want.astype(np.float64)        # repr of each float32 value
    else:
        table = pq.read_table(out)
        assert table.column_names == ["score"]
        assert str(table.schema.field("score").type) == "float"
        got = table.column("score").to_numpy()
    assert got.shape == (M,)
    np.testing.assert_array_equal(got, want)
    assert not [f for f in os.listdir(d) if f.endswith(".part")]


def test_output_file_has_normal_permissions(data):
    d, _ = data
    out = d / "s.npy"
    old = os.umask(0o022)
    try:
        res = run_cli("score", d / "p_float64.npy", "--measure", "entropy", "--out", out)
    finally:
        os.umask(old)
    assert res.returncode == 0, res.stderr
    assert out.stat().st_mode & 0o777 == 0o644    # not mkstemp's 0600


# ------------------------------------------------------------------ failures

@pytest.mark.parametrize("fmt", [".npy", ".csv", ".parquet"])
@pytest.mark.parametrize("existing", [False, True])
def test_failure_late_in_the_file_leaves_no_output(data, fmt, existing):
    if fmt == ".parquet":
        pytest.importorskip("pyarrow")
    d, arrays = data
    p = arrays["float64"][0].copy()
    p[987, 5] = -0.25                 # block 98 of 101: 98 blocks already written
    bad = d / "bad.npy"
    np.save(bad, p)
    before = bad.read_bytes()
    out = d / f"s{fmt}"
    if existing:
        out.write_bytes(b"old scores")
    res = run_cli("score", bad, d / "r_float64.npy", "--measure", "kl",
                  "--block-rows", BLOCK, "--out", out)
    line = one_line_error(res)
    assert "in row 987" in line and "bad.npy" in line, line
    assert bad.read_bytes() == before                  # input untouched
    if existing:
        assert out.read_bytes() == b"old scores"       # old output untouched
    else:
        assert not out.exists()
    assert not [f for f in os.listdir(d) if f.endswith(".part")], os.listdir(d)


@pytest.mark.parametrize("which", ["P", "Q"])
def test_error_names_the_global_row_and_the_file(data, which):
    d, arrays = data
    p, q, _ = arrays["float32"]
    a = (p if which == "P" else q).copy()
    a[654, 2] = -3.0
    np.save(d / "bad.npy", a)
    args = [d / "bad.npy", d / "q_float32.npy"] if which == "P" else \
        [d / "p_float32.npy", d / "bad.npy"]
    res = run_cli("score", *args, "--measure", "kl", "--block-rows", BLOCK)
    line = one_line_error(res)
    name = which.lower()
    assert line == (f"kl-ext: error: {which} file {str(d / 'bad.npy')!r}: {name} must be "
                    f"non-negative, found -3.0 in row 654"), line
    # the eager call names the same row
    with pytest.raises(ValueError, match="in row 654$"):
        kl_ext.kl_divergence(*((a, q) if which == "P" else (p, a)))
    # rows before the bad block were already printed: results only on stdout
    assert len(res.stdout.split()) == 650


def test_zero_row_late_in_q(data):
    d, arrays = data
    p, q, _ = arrays["float64"]
    q = q.copy()
    q[999] = 0.0
    np.save(d / "zq.npy", q)
    res = run_cli("score", d / "p_float64.npy", d / "zq.npy", "--measure", "js",
                  "--block-rows", BLOCK, "--out", d / "o.npy")
    line = one_line_error(res)
    assert "Q file" in line and "q sums to 0 in row 999" in line, line
    assert not (d / "o.npy").exists()


@pytest.mark.parametrize("out", ["p_float64.npy", "./p_float64.npy"])
def test_out_may_not_be_an_input(data, out):
    d, _ = data
    before = (d / "p_float64.npy").read_bytes()
    res = run_cli("score", d / "p_float64.npy", "--measure", "entropy",
                  "--out", os.path.join(d, out))
    assert "is the input file P" in one_line_error(res)
    assert (d / "p_float64.npy").read_bytes() == before


def test_out_directory_is_an_error(data):
    d, _ = data
    (d / "o.npy").mkdir()
    res = run_cli("score", d / "p_float64.npy", "--measure", "entropy", "--out", d / "o.npy")
    assert "is a directory" in one_line_error(res)


def test_block_rows_must_be_positive(data):
    d, _ = data
    res = run_cli("score", d / "p_float64.npy", "--measure", "entropy", "--block-rows", 0)
    assert "--block-rows" in one_line_error(res, status=2)


# ------------------------------------------------------------------- layouts

def test_fortran_order_columns_stream_and_c_order_columns_do_not(data):
    from kl_ext import _stream
    d, arrays = data
    p, q, _ = arrays["float64"]
    np.save(d / "pf.npy", np.asfortranarray(p.T))     # distributions in columns
    np.save(d / "qf.npy", np.asfortranarray(q.T))
    assert isinstance(_stream.open_rows(str(d / "pf.npy"), "P", columns=True),
                      _stream._NpyRows)
    assert isinstance(_stream.open_rows(str(d / "p_float64.npy"), "P", columns=True),
                      _stream._ArrayRows)
    res = run_cli("score", d / "pf.npy", d / "qf.npy", "--measure", "kl", "--axis", "0",
                  "--block-rows", BLOCK, "--out", d / "o.npy")
    assert res.returncode == 0, res.stderr
    np.testing.assert_array_equal(np.load(d / "o.npy"), eager("kl", p, q))


def test_csv_and_npy_mixed(data):
    d, arrays = data
    p, q, _ = arrays["float64"]
    np.savetxt(d / "q.csv", q, delimiter=",", fmt="%.17g")
    res = run_cli("score", d / "p_float64.npy", d / "q.csv", "--measure", "tv",
                  "--block-rows", BLOCK, "--out", d / "o.npy")
    assert res.returncode == 0, res.stderr
    np.testing.assert_array_equal(np.load(d / "o.npy"), eager("tv", p, q))


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_memory_stays_near_one_block(tmp_path):
    # 128 MB of float32 rows scored in 8 MB blocks: the peak RSS grows by far
    # less than the file (a whole-file np.load would add all of it)
    rows = 3_200_000
    p = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.float32,
                                  shape=(rows, 10))
    rng = np.random.default_rng(0)
    for s in range(0, rows, 400_000):
        p[s:s + 400_000] = rng.random((400_000, 10), dtype=np.float32)
    p.flush()
    del p
    np.save(tmp_path / "small.npy", np.ones((10, 10), np.float32))
    np.save(tmp_path / "r.npy", np.full(10, 0.1, np.float32))
    # VmHWM: this process's peak RSS (ru_maxrss would carry pytest's own peak
    # over from before exec)
    code = ("import sys\nfrom kl_ext.cli import main\n"
            "st = main(sys.argv[1:])\n"
            "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM:')]\n"
            "print(hwm[0].split()[1])\nsys.exit(st)\n")

    def peak_kib(name, *extra):
        res = subprocess.run([sys.executable, "-c", code, "score", str(tmp_path / name),
                              str(tmp_path / "r.npy"), "--measure", "kl", "--out",
                              str(tmp_path / "o.npy"), *extra],
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        return int(res.stdout.split()[-1])

    base = peak_kib("small.npy")
    big = peak_kib("big.npy", "--block-rows", "200000")       # 8 MB blocks
    assert big - base < 48 * 1024, (base, big)                 # KiB; the file is 125 MiB
    assert np.load(tmp_path / "o.npy", mmap_mode="r").shape == (rows,)


# ------------------------------------------------------------------- Parquet

@pytest.fixture
def parquet_files(data):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    d, arrays = data
    p, q, r = arrays["float32"]
    flat = pa.array(p.reshape(-1))
    fsl = pa.FixedSizeListArray.from_arrays(flat, N)
    # small row groups, so batches cross row-group boundaries
    pq.write_table(pa.table({"id": pa.array(np.arange(M)), "probs": fsl}),
                   d / "fsl.parquet", row_group_size=97)
    lst = pa.ListArray.from_arrays(pa.array(np.arange(0, M * N + 1, N, dtype=np.int32)),
                                   flat)
    pq.write_table(pa.table({"probs": lst}), d / "list.parquet", row_group_size=200)
    cols = {f"c{j}": p[:, j] for j in range(N)}
    pq.write_table(pa.table({"label": pa.array(["x"] * M), **cols}), d / "cols.parquet",
                   row_group_size=300)
    pq.write_table(pa.table({f"c{j}": q[:, j] for j in range(N)}), d / "qcols.parquet")
    return d, p, q, r


@pytest.mark.parametrize("layout, colargs", [
    ("fsl", ["--column", "probs"]),
    ("list", []),                                       # the only column
    ("cols", ["--column", ",".join(f"c{j}" for j in range(N))]),
    ("cols", [a for j in range(N) for a in ("--column", f"c{j}")]),
])
def test_parquet_layouts(parquet_files, layout, colargs):
    d, p, _, r = parquet_files
    res = run_cli("score", d / f"{layout}.parquet", d / "r_float32.npy", "--measure",
                  "kl", *colargs, "--block-rows", 64, "--out", d / "o.npy")
    assert res.returncode == 0, res.stderr
    got = np.load(d / "o.npy")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, eager("kl", p, r))


def test_parquet_matching_rows_from_two_files(parquet_files):
    d, p, q, _ = parquet_files
    cols = ",".join(f"c{j}" for j in range(N))
    res = run_cli("score", d / "cols.parquet", d / "qcols.parquet", "--measure", "js",
                  "--column", cols, "--block-rows", 33, "--out", d / "o.parquet")
    assert res.returncode == 0, res.stderr
    import pyarrow.parquet as pq
    got = pq.read_table(d / "o.parquet").column("score").to_numpy()
    np.testing.assert_array_equal(got, eager("js", p, q))


def test_parquet_default_columns_must_be_numeric(parquet_files):
    d, *_ = parquet_files
    res = run_cli("score", d / "cols.parquet", "--measure", "entropy")
    line = one_line_error(res)
    assert "column 'label'" in line and "--column" in line, line
    res = run_cli("score", d / "fsl.parquet", "--measure", "entropy", "--column", "nope")
    assert "has no column 'nope'" in one_line_error(res)


def test_parquet_bad_rows_name_the_global_row(parquet_files):
    import pyarrow as pa
    import pyarrow.parquet as pq
    d, p, _, _ = parquet_files
    bad = p.copy()
    bad[901, 3] = -1.0
    fsl = pa.FixedSizeListArray.from_arrays(pa.array(bad.reshape(-1)), N)
    pq.write_table(pa.table({"probs": fsl}), d / "neg.parquet", row_group_size=97)
    res = run_cli("score", d / "neg.parquet", "--measure", "entropy", "--block-rows", 50,
                  "--out", d / "o.csv")
    line = one_line_error(res)
    assert "neg.parquet" in line and "in row 901" in line, line
    assert not (d / "o.csv").exists()
    # a null value, and a list of the wrong length
    vals = pa.array(bad.reshape(-1).astype(np.float64)).to_pylist()
    vals[705 * N + 1] = None
    pq.write_table(pa.table({"probs": pa.FixedSizeListArray.from_arrays(pa.array(vals), N)}),
                   d / "null.parquet", row_group_size=100)
    res = run_cli("score", d / "null.parquet", "--measure", "entropy", "--block-rows", 64)
    assert "null value in row 705" in one_line_error(res)
    rows = [list(r) for r in p[:300]]
    rows[250] = rows[250][:-1]
    pq.write_table(pa.table({"probs": rows}), d / "ragged.parquet")
    res = run_cli("score", d / "ragged.parquet", "--measure", "entropy", "--block-rows", 64)
    assert "6 values, expected 7 in row 250" in one_line_error(res)


def _blocked(module):
    return f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == {module!r} or name.startswith({module + "."!r}):
            raise ImportError("blocked for this test")
sys.meta_path.insert(0, Block())
from kl_ext.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_parquet_without_pyarrow_is_a_clear_error(data):
    d, _ = data
    for args in (["score", d / "x.parquet", "--measure", "entropy"],
                 ["score", d / "p_float64.npy", "--measure", "entropy", "--out",
                  d / "o.parquet"]):
        if args[1].suffix == ".parquet":
            args[1].write_bytes(b"PAR1")
        res = subprocess.run([sys.executable, "-c", _blocked("pyarrow"), *map(str, args)],
                             capture_output=True, text=True, timeout=120)
        line = one_line_error(res)
        assert "needs pyarrow" in line and "kl_ext[parquet]" in line, line
    assert not (d / "o.parquet").exists()


# ------------------------------------------------------------------ progress

def _run_on_a_terminal(*args, code=None):
    """Run the CLI with stderr on a pseudo-terminal; return (status, stdout, stderr)."""
    import fcntl
    import pty
    import struct
    import termios
    master, slave = pty.openpty()
    # a terminal of 24 x 100 (a fresh pty has 0 columns, and tqdm draws nothing)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    cmd = [sys.executable, "-m", "kl_ext.cli"] if code is None else [sys.executable, "-c",
                                                                     code]
    try:
        proc = subprocess.Popen([*cmd, *map(str, args)], stdout=subprocess.PIPE,
                                stderr=slave, text=True)
        os.close(slave)
        chunks = []
        while True:
            try:
                b = os.read(master, 4096)
            except OSError:          # EIO: the child closed the terminal
                break
            if not b:
                break
            chunks.append(b)
        out = proc.stdout.read()
        proc.wait(timeout=120)
    finally:
        os.close(master)
    return proc.returncode, out, b"".join(chunks).decode(errors="replace")


def test_progress_bar_on_a_terminal_only(data):
    pytest.importorskip("tqdm")
    d, arrays = data
    args = ["score", d / "p_float64.npy", "--measure", "entropy", "--block-rows", BLOCK]
    status, out, err = _run_on_a_terminal(*args)
    assert status == 0, err
    assert "rows/s" in err and f"/{M / 1000:.2f}k" in err, err     # rate and total
    assert "<" in err                                               # the ETA
    np.testing.assert_array_equal([float(s) for s in out.split()],
                                  eager("entropy", arrays["float64"][0]))
    # --no-progress on a terminal; and no bar when stderr is a pipe
    status, out2, err = _run_on_a_terminal(*args, "--no-progress")
    assert status == 0 and err == "" and out2 == out
    res = run_cli(*args)
    assert res.returncode == 0 and res.stderr == "" and res.stdout == out


def test_no_progress_bar_without_tqdm(data):
    d, _ = data
    status, out, err = _run_on_a_terminal("score", d / "p_float64.npy", "--measure",
                                          "entropy", code=_blocked("tqdm"))
    assert status == 0 and err == "" and len(out.split()) == M


# ------------------------------------------------------- --scheduler/--workers

def _has_dask():
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


needs_dask = pytest.mark.skipif(not _has_dask(), reason="needs dask and distributed")


@needs_dask
def test_tasks_map_their_own_rows(data):
    # the graph carries the path, not the array: a task opens the memory map
    import pickle

    from kl_ext import _stream
    d, arrays = data
    big = np.zeros((200_000, N))
    np.save(d / "big.npy", big)
    src = _stream.open_rows(str(d / "big.npy"), "P")
    pd = _stream.dask_rows(src, False, 50_000)
    graph = dict(pd.__dask_graph__())
    assert len(pickle.dumps(graph)) < 20_000            # the file is 11 MB
    assert pd.chunks == ((50_000,) * 4, (N,))
    p = arrays["float32"][0]
    src = _stream.open_rows(str(d / "p_float32.npy"), "P")
    got = _stream.dask_rows(src, False, BLOCK).compute(scheduler="sync")
    np.testing.assert_array_equal(got, p)
    np.save(d / "pf.npy", np.asfortranarray(p.T))        # distributions in columns
    src = _stream.open_rows(str(d / "pf.npy"), "P", columns=True)
    x = _stream.dask_rows(src, True, BLOCK)
    assert x.chunks[0][0] == BLOCK
    np.testing.assert_array_equal(x.compute(scheduler="sync"), p)
    np.save(d / "one.npy", p[0])                           # one distribution
    src = _stream.open_rows(str(d / "one.npy"), "P")
    np.testing.assert_array_equal(_stream.dask_rows(src, False, BLOCK).compute(), p[:1])


@needs_dask
@pytest.mark.timeout(180)
def test_workers_give_the_eager_result_and_global_rows(data):
    d, arrays = data
    p, q, _ = arrays["float32"]
    res = run_cli("score", d / "p_float32.npy", d / "q_float32.npy", "--measure", "kl",
                  "--workers", 2, "--block-rows", 100, "--out", d / "o.npy")
    assert res.returncode == 0, res.stderr
    got = np.load(d / "o.npy")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, eager("kl", p, q))
    bad = p.copy()
    bad[876, 1] = -2.0
    np.save(d / "bad.npy", bad)
    res = run_cli("score", d / "bad.npy", d / "r_float32.npy", "--measure", "js",
                  "--workers", 1, "--block-rows", 100, "--out", d / "o2.csv")
    line = one_line_error(res)
    assert "P file" in line and "bad.npy" in line and "in row 876" in line, line
    assert not (d / "o2.csv").exists()


@pytest.fixture(scope="module")
def local_scheduler(environ_restored):
    if not _has_dask():
        pytest.skip("needs dask and distributed")
    from distributed import LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        yield cluster.scheduler_address


@pytest.mark.timeout(180)
def test_scheduler_address(data, local_scheduler):
    d, arrays = data
    p, _, r = arrays["float64"]
    res = run_cli("score", d / "p_float64.npy", d / "r_float64.npy", "--measure",
                  "js_distance", "--base", 2, "--scheduler", local_scheduler,
                  "--block-rows", 64)
    assert res.returncode == 0, res.stderr
    got = np.array([float(s) for s in res.stdout.split()])
    np.testing.assert_array_equal(got, eager("js_distance", p, r, base=2))


@pytest.mark.parametrize("args, needle, status", [
    (["--workers", "0"], "--workers must be >= 1", 2),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not both", 2),
])
def test_cluster_option_errors(data, args, needle, status):
    d, _ = data
    res = run_cli("score", d / "p_float64.npy", "--measure", "entropy", *args)
    assert needle in one_line_error(res, status=status)


@needs_dask
@pytest.mark.timeout(120)
def test_cluster_needs_npy_and_a_reachable_scheduler(data):
    d, arrays = data
    np.savetxt(d / "p.csv", arrays["float64"][0][:5], delimiter=",")
    res = run_cli("score", d / "p.csv", "--measure", "entropy", "--workers", 1)
    assert "read .npy files on the workers" in one_line_error(res)
    res = run_cli("score", d / "p_float64.npy", "--measure", "entropy", "--scheduler",
                  "tcp://127.0.0.1:9")            # the discard port: nothing listens
    assert "cannot connect to the Dask scheduler" in one_line_error(res)


def test_cluster_without_dask_is_a_clear_error(data):
    d, _ = data
    res = subprocess.run([sys.executable, "-c", _blocked("distributed"), "score",
                          str(d / "p_float64.npy"), "--measure", "entropy", "--workers",
                          "1"], capture_output=True, text=True, timeout=120)
    assert "kl_ext[dask]" in one_line_error(res)
