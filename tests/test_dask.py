"""kl_ext.dask on a real scheduler: a LocalCluster of two worker processes.

Rows chunked: bit-identical to the in-memory call.  Axis split: within
1e-13 (bit-identical where chunks align with the kernels' 65,536-element
pieces).  Building a graph computes nothing; errors name global rows; a
worker that would have to hold the whole input dies (spilling is off), so a
graph that gathers the axis fails.
"""

import os
import re

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

import kl_ext  # noqa: E402
import kl_ext.dask as kd  # noqa: E402
from kl_ext import _threads, chunked  # noqa: E402

pytestmark = [pytest.mark.timeout(300),
              pytest.mark.filterwarnings("error:Sending large graph")]

NAMES = list(chunked.MEASURES)
PIECE = 65536


@pytest.fixture(scope="module")
def client(environ_restored):
    # spilling off: a worker that exceeds its memory limit is killed, never
    # quietly spills a gathered axis to disk
    with dask.config.set({"distributed.worker.memory.target": False,
                          "distributed.worker.memory.spill": False,
                          "distributed.worker.memory.pause": False,
                          "distributed.worker.memory.terminate": 0.95,
                          "distributed.scheduler.allowed-failures": 0,
                          "distributed.comm.timeouts.connect": "30s"}):
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      memory_limit="700MiB", dashboard_address="127.0.0.1:0",
                                      host="127.0.0.1") as cluster:
            with distributed.Client(cluster, timeout="60s") as c:
                yield c


def data(rng, m, n, dtype):
    p = rng.random((m, n)).astype(dtype)
    q = rng.random((m, n)).astype(dtype)
    p[0, :5] = 0
    q[1, 7] = 0
    p[2, 3] = np.nan
    return p, q


def call(mod, name, p, q, **kw):
    f = getattr(mod, name)
    return f(p, **kw) if name == "entropy" else f(p, q, **kw)


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_row_chunks_bit_identical(client, dtype):
    rng = np.random.default_rng(1)
    p, q = data(rng, 50, 40, dtype)
    P, Q = da.from_array(p, chunks=(7, 40)), da.from_array(q, chunks=(7, 40))
    cases = [(name, kw) for name in NAMES
             for kw in ({}, {"smoothing": 0.5}, {"normalize": False})]
    computed = dask.compute(*[call(kd, name, P, Q, **kw) for name, kw in cases])
    for (name, kw), got in zip(cases, computed):
        assert same(got, call(kl_ext, name, p, q, **kw)), (name, kw)
    # a reference row (n,) against the rows, and the compare report
    want = kl_ext.compare(p, q[0], base=2)
    got = dask.compute(*kd.compare(P, da.from_array(q[0]), base=2))
    for w, g in zip(want, got):
        assert same(g, w)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_split_axis_within_1e13(client, dtype):
    rng = np.random.default_rng(2)
    p, q = data(rng, 9, 1000, dtype)
    P = da.from_array(p, chunks=(4, 300))
    Q = da.from_array(q, chunks=(5, 170))  # other chunks: q takes p's
    tol = 1e-13 if dtype == np.float64 else 0
    cases = [(name, kw) for name in NAMES
             for kw in ({}, {"smoothing": 0.5}, {"normalize": False})]
    lazy = [call(kd, name, P, Q, **kw) for name, kw in cases]
    lazy += list(kd.compare(P, Q, smoothing=1))
    computed = dask.compute(*lazy)  # one graph: the cluster's per-compute cost once
    for (name, kw), got in zip(cases, computed):
        want = call(kl_ext, name, p, q, **kw)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=tol or 2e-7, atol=0, equal_nan=True,
                                   err_msg=f"{name} {kw}")
    want = kl_ext.compare(p, q, smoothing=1)
    got = computed[len(cases):]
    for f, w, g in zip(want._fields, want, got):
        assert g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=tol or 2e-7, atol=0, equal_nan=True, err_msg=f)


def test_split_axis_near_p_equals_q_exact(client):
    # rows a relative 1e-13 apart and proportional rows (q = fl(3 p)), the
    # axis in three chunks: within 1e-13 of exact arithmetic, as in memory
    acc = pytest.importorskip("kl_ext.accuracy")
    pytest.importorskip("mpmath")
    rng = np.random.default_rng(13)
    p = rng.random((2, 400))
    q = np.stack([p[0] * (1 + 1e-13 * rng.standard_normal(400)), 3 * p[1]])
    P = da.from_array(p, chunks=(1, 150))
    Q = da.from_array(q, chunks=(2, 130))
    names = ["kl_divergence", "js_divergence", "total_variation", "hellinger_distance",
             "jeffreys_divergence"]
    got = dask.compute(*[call(kd, name, P, Q) for name in names])
    for r in range(2):
        ex = acc.exact_measures(p[r], q[r], measures=names)
        for name, g in zip(names, got):
            want = float(ex[name])
            assert abs(g[r] - want) <= 1e-13 * want, (name, r, g[r], want)


def test_split_axis_aligned_bit_identical(client):
    rng = np.random.default_rng(3)
    n = 4 * PIECE
    p, q = rng.random((3, n)), rng.random(n)
    P = da.from_array(p, chunks=(2, 2 * PIECE))
    Q = da.from_array(q, chunks=PIECE)
    for name in NAMES:
        assert same(call(kd, name, P, Q).compute(), call(kl_ext, name, p, q)), name
    one = kd.js_distance(da.from_array(q, chunks=PIECE), da.from_array(p[0], chunks=PIECE))
    want = kl_ext.js_distance(q, p[0])
    got = one.compute()
    assert type(got) is type(want) and got == want


class CountingScheduler:
    """A scheduler that counts the computes asked of it (xarray's pattern)."""

    def __init__(self):
        self.count = 0

    def __call__(self, dsk, keys, **kwargs):
        self.count += 1
        return dask.get(dsk, keys, **kwargs)


def test_building_the_graph_computes_nothing():
    counter = CountingScheduler()
    p = da.random.random((100, 1000), chunks=(50, 250))
    q = da.random.random(1000, chunks=250)
    with dask.config.set(scheduler=counter):
        results = [call(kd, name, p, q, base=2) if chunked.MEASURES[name].base
                   else call(kd, name, p, q) for name in NAMES]
        results += list(kd.compare(p, q))
        results.append(kd.kl_divergence(p.rechunk((50, 1000)), q))
        assert counter.count == 0
        results[0].compute()
        assert counter.count == 1


def test_negative_entry_in_row_1234567(client):
    m, n = 1_300_000, 10
    p = da.random.RandomState(0).random_sample((m, n), chunks=(100_000, n))
    rows = da.arange(m, chunks=100_000)[:, None]
    cols = da.arange(n)[None, :]
    p = da.where((rows == 1_234_567) & (cols == 3), -0.5, p)
    q = np.full(n, 0.1)
    local = p.compute(scheduler="sync")
    with pytest.raises(ValueError) as eager_err:
        kl_ext.kl_divergence(local, q)
    assert "in row 1234567" in str(eager_err.value)
    with pytest.raises(ValueError, match=re.escape(str(eager_err.value)) + "$"):
        kd.kl_divergence(p, q).compute()
    # the axis split too: the global row and the index on the axis
    with pytest.raises(ValueError, match=re.escape(str(eager_err.value)
                                                   + " at index 3 of the axis")):
        kd.js_divergence(p.rechunk((100_000, 5)), q).compute()


def test_split_axis_never_gathered_on_one_worker(client):
    # two histograms of 2**26 float64 bins (512 MiB each, 1 GiB together) in
    # 16 chunks, generated on the workers; each worker has 700 MiB and no
    # spilling: materialising the axis anywhere kills a worker
    n = 2 ** 26
    p = da.random.RandomState(1).random_sample(n, chunks=n // 16)
    q = da.random.RandomState(2).random_sample(n, chunks=n // 16)
    kl, js, h = dask.compute(kd.kl_divergence(p, q), kd.js_divergence(p, q), kd.entropy(p))
    assert 0 < js < kl < 1 and h > 0
    # the same values from a NumPy pass over the same data, one chunk at a time
    acc = {name: chunked.Accumulator(name) for name in ("kl_divergence", "js_divergence")}
    ent = chunked.Accumulator("entropy")
    for _ in range(2):
        for i in range(16):
            a = p.blocks[i].compute(scheduler="sync")
            b = q.blocks[i].compute(scheduler="sync")
            for name, x in acc.items():
                if x._totals is not None or not x.needs_second_pass or _ == 0:
                    x.update(a, b)
            if _ == 0:
                ent.update(a)
        if _ == 0:
            acc["js_divergence"].start_second_pass()
    assert acc["kl_divergence"].result() == kl
    assert acc["js_divergence"].result() == js
    assert ent.result() == h


def test_tasks_run_the_kernels_on_one_thread(client, monkeypatch):
    seen = []

    def spy(p, q, **kw):
        seen.append(_threads.current())
        return kl_ext.kl_divergence(p, q, **kw)
    monkeypatch.setattr(kd._m, "kl_divergence", spy)
    p = da.ones((4, 8), chunks=(2, 8))
    kd.kl_divergence(p, p).compute(scheduler="sync")
    assert seen == [1, 1]
    assert _threads.current() == 0
    # the workers were started with the Nanny's OMP_NUM_THREADS=1, and
    # kl_ext's own count is per task, not per process
    assert set(client.run(lambda: os.environ.get("OMP_NUM_THREADS")).values()) <= {"1", None}


def test_errors_before_compute():
    p = da.ones((4, 8), chunks=(2, 4))
    with pytest.raises(ValueError, match="do not broadcast"):
        kd.kl_divergence(p, da.ones(7))
    with pytest.raises(TypeError, match="complex"):
        kd.kl_divergence(p, p.astype(complex))
    with pytest.raises(ValueError, match="base"):
        kd.js_distance(p, p, base=0.5)
    with pytest.raises(ValueError, match="empty axis"):
        kd.entropy(da.ones((3, 0)))
    with pytest.raises(ValueError, match="smoothing"):
        kd.total_variation(p, p, smoothing=-1)


def test_import_kl_ext_does_not_import_dask():
    import subprocess
    import sys
    code = "import sys, kl_ext, kl_ext.chunked; print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_wasserstein_hist(client):
    from kl_ext.wasserstein import wasserstein_hist as eager
    rng = np.random.default_rng(4)
    p, q = rng.random((6, 500)), rng.random(500)
    x = np.sort(rng.random(500)) * 10
    P = da.from_array(p, chunks=(4, 500))
    lazy, cases = [], []
    for chunks in ((4, 500), (4, 130)):
        P = da.from_array(p, chunks=chunks)
        Q = da.from_array(q, chunks=chunks[1])
        for kw in ({}, {"support": x}, {"support": da.from_array(x, chunks=70)},
                   {"order": 2}, {"normalize": False}):
            if chunks[1] != 500 and kw.get("order") == 2:
                continue
            cases.append((chunks, kw))
            lazy.append(kd.wasserstein_hist(P, Q, **kw))
    for (chunks, kw), got in zip(cases, dask.compute(*lazy)):
        kw_np = {k: (np.asarray(v) if k == "support" else v) for k, v in kw.items()}
        want = eager(p, q, **kw_np)
        if chunks[1] == 500:
            assert same(got, want), kw
        else:
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=0, err_msg=str(kw))
    with pytest.raises(ValueError, match="order=1 only"):
        kd.wasserstein_hist(da.from_array(p, chunks=(4, 130)), q, order=2)
    bad = np.array(x)
    bad[300] = bad[200]
    with pytest.raises(ValueError, match="sorted"):
        kd.wasserstein_hist(P, q, support=bad)
    with pytest.raises(ValueError, match="sorted"):
        kd.wasserstein_hist(da.from_array(p, chunks=(4, 130)), q,
                            support=da.from_array(bad, chunks=100)).compute()
    p2 = p.copy()
    p2[5, 400] = -1
    with pytest.raises(ValueError, match=re.escape("p must be non-negative, found -1.0 in row 5"
                                                   " at index 400 of the axis")):
        kd.wasserstein_hist(da.from_array(p2, chunks=(4, 130)), q).compute()


def test_wasserstein_1d_binned(client):
    from scipy.stats import wasserstein_distance
    rng = np.random.default_rng(5)
    # values on the grid: exact
    u = rng.integers(0, 50, 20_000).astype(float)
    v = rng.integers(10, 60, 15_000).astype(float)
    w = rng.random(20_000)
    grid = np.arange(61.0)
    got = kd.wasserstein_1d_binned(da.from_array(u, chunks=6000), da.from_array(v, chunks=4000),
                                   grid, u_weights=da.from_array(w, chunks=5000)).compute()
    assert got == pytest.approx(wasserstein_distance(u, v, w), rel=1e-13, abs=0)
    # off the grid: within the largest gap
    u, v = rng.normal(size=50_000), rng.normal(0.3, 1.2, size=40_000)
    grid = np.linspace(-9, 9, 1001)
    got = kd.wasserstein_1d_binned(da.from_array(u, chunks=9000), v, grid).compute()
    assert abs(got - wasserstein_distance(u, v)) <= grid[1] - grid[0]
    with pytest.raises(ValueError, match="outside the grid"):
        kd.wasserstein_1d_binned(da.from_array(u, chunks=9000), v,
                                 np.linspace(-1, 1, 11)).compute()
    with pytest.raises(ValueError, match="sorted"):
        kd.wasserstein_1d_binned(u, v, [0.0, 0.0, 1.0])


def test_read_npy_opens_the_file_in_each_task(client, tmp_path):
    path = str(tmp_path / "p.npy")
    rng = np.random.default_rng(6)
    p = rng.random((1000, 12)).astype(np.float32)
    np.save(path, p)
    x = kd.read_npy(path, chunks=(300, 12))
    assert x.chunks == ((300, 300, 300, 100), (12,)) and x.dtype == np.float32
    # the graph holds the path, not the data
    assert len(__import__("pickle").dumps(dict(x.__dask_graph__()))) < 20_000
    q = p[0]
    assert same(kd.kl_divergence(x, q).compute(), kl_ext.kl_divergence(p, q))


@pytest.mark.parametrize("shapes", [((4, 5, 6), (6,), -1), ((4, 5, 6), (5, 1), 1),
                                    ((4, 5, 6), (4, 5, 6), 0), ((3, 7), (3, 1), 1),
                                    ((0, 8), (8,), -1), ((5, 9), (1, 9), -1), ((9,), (9,), 0)])
def test_shapes_axes_and_broadcasting(shapes):
    from kl_ext.wasserstein import wasserstein_hist
    pshape, qshape, axis = shapes
    rng = np.random.default_rng(7)
    p, q = rng.random(pshape), rng.random(qshape)
    for chunks in ("auto", 2):
        P, Q = da.from_array(p, chunks=chunks), da.from_array(q, chunks=chunks)
        for name in NAMES + ["wasserstein_hist", "compare"]:
            eager = wasserstein_hist if name == "wasserstein_hist" else getattr(kl_ext, name)
            want = eager(p, axis=axis) if name == "entropy" else eager(p, q, axis=axis)
            lazy = (getattr(kd, name)(P, axis=axis) if name == "entropy"
                    else getattr(kd, name)(P, Q, axis=axis))
            got = dask.compute(*lazy, scheduler="sync") if name == "compare" else \
                lazy.compute(scheduler="sync")
            for g, w in zip(got, want) if name == "compare" else [(got, want)]:
                assert type(g) is type(w) and np.shape(g) == np.shape(w), (name, chunks)
                np.testing.assert_allclose(g, w, rtol=1e-13, atol=0, err_msg=f"{name} {chunks}")
