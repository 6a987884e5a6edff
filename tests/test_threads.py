"""Threads: results never depend on the thread count; concurrent callers are safe.

Calls with >= 131072 elements run on the kernels' worker pool (src/_pool.h;
OMP_NUM_THREADS or threadpoolctl limit the count); long rows are split into
fixed chunks whose partial sums are added in order, so 1 and 2 threads give
bit-identical results.  A call made while another kl_ext call is running multi-threaded
(from another Python thread) runs single-threaded.
"""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import kl_ext
from kl_ext import measures

SCRIPT = r"""
import numpy as np, kl_ext
rng = np.random.default_rng(11)
p = rng.random(700_001); q = rng.random(700_001)
P = rng.random((40_000, 10)); Q = rng.random(10)
out = []
for name in ["entropy", "cross_entropy", "kl_divergence", "js_divergence", "total_variation"]:
    f = getattr(kl_ext, name)
    for a, b in ((p, q), (P, Q), (p.astype(np.float32), q.astype(np.float32))):
        r = f(a) if name == "entropy" else f(a, b)
        out.append(np.asarray(r, dtype=np.float64).tobytes().hex())
print(len(out), hash(tuple(out)))
print(kl_ext.measures._k.max_threads())
"""


def _run(threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONHASHSEED="0")
    res = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


@pytest.mark.skipif(not measures._k.openmp_enabled(), reason="built without OpenMP")
def test_results_identical_on_one_and_two_threads():
    one = _run(1)
    two = _run(2)
    assert one[1] == "1" and two[1] == "2"
    assert one[0] == two[0]


def test_openmp_enabled_reports_a_bool():
    assert measures._k.openmp_enabled() in (True, False)
    assert measures._k.max_threads() >= 1


def test_concurrent_python_threads_get_the_serial_answer():
    rng = np.random.default_rng(5)
    p = rng.random((8, 300_000))
    q = rng.random(300_000)
    want = [kl_ext.kl_divergence(row, q) for row in p]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda row: kl_ext.kl_divergence(row, q), p))
    assert got == want
    batched = kl_ext.js_divergence(p, q)
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda row: kl_ext.js_divergence(row, q), p))
    np.testing.assert_array_equal(got, batched)


def test_long_row_chunks_match_reference():
    # rows longer than one 65536-element chunk: chunk sums are combined
    rng = np.random.default_rng(8)
    n = 65536 * 3 + 17
    p = rng.random(n)
    q = rng.random(n)
    p[n // 2] = 0.0
    from kl_ext import reference
    for name in ["entropy", "cross_entropy", "kl_divergence", "js_divergence",
                 "total_variation"]:
        f, g = getattr(kl_ext, name), getattr(reference, name)
        args = (p,) if name == "entropy" else (p, q)
        assert f(*args) == pytest.approx(g(*args), rel=1e-12)
    # a negative entry in a late chunk is still reported
    bad = q.copy()
    bad[-3] = -1.0
    with pytest.raises(ValueError, match="q must be non-negative"):
        kl_ext.kl_divergence(p, bad)
    # NaN in one chunk makes the whole row NaN
    nan = p.copy()
    nan[70000] = np.nan
    assert np.isnan(kl_ext.kl_divergence(nan, q))


@pytest.mark.skipif(not measures._k.openmp_enabled(), reason="built without OpenMP")
def test_threadpoolctl_limits_the_kernels():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = measures._k.max_threads()
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert measures._k.max_threads() == 1
        rng = np.random.default_rng(2)
        p = rng.random(300_000)
        q = rng.random(300_000)
        single = kl_ext.js_divergence(p, q)
    assert measures._k.max_threads() == before
    assert kl_ext.js_divergence(p, q) == single  # same chunks, same sum


def test_thread_limit_one_starts_no_worker_thread():
    # kl_ext.dask's tasks call the kernels with nthreads=1 (kl_ext._threads):
    # no worker of the kernels' pool (src/_pool.h) may start, whatever
    # OMP_NUM_THREADS (which only sets the default count) says
    if measures._k.max_threads() < 2:
        pytest.skip("one thread here")
    code = r"""
import os, numpy as np, kl_ext
from kl_ext import _threads
p = np.random.default_rng(0).random((4, 500_000))
count = lambda: len(os.listdir('/proc/self/task'))
before = count()
with _threads.limit(1):
    for f in (kl_ext.kl_divergence, kl_ext.js_divergence, kl_ext.compare):
        f(p, p[::-1])
limited = count()
kl_ext.kl_divergence(p, p[::-1])
print(before, limited, count())
"""
    env = dict(os.environ, OMP_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=300)
    before, limited, after = map(int, out.stdout.split())
    assert limited == before, out.stdout
    assert after > before, out.stdout  # the default does start the pool's worker


# The thread budget: the affinity mask and the cgroup CPU quota
# (kl_ext._threads.cpu_budget), read from a made-up /proc and /sys here.

def _fake_root(tmp_path, cgroup, mountinfo, files):
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/cgroup").write_text(cgroup)
    (tmp_path / "proc/self/mountinfo").write_text(mountinfo)
    for name, text in files.items():
        path = tmp_path / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(tmp_path)


V2_MOUNT = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n"
V1_MOUNT = ("31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
            "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
            "34 31 0:31 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n")


@pytest.mark.parametrize("cpu_max, want", [
    ("150000 100000\n", 1.5),    # a container with 1.5 CPUs
    ("100000 100000\n", 1.0),
    ("max 100000\n", None),      # no quota
    ("garbage\n", None),
])
def test_cgroup_v2_quota(tmp_path, cpu_max, want):
    from kl_ext import _threads
    root = _fake_root(tmp_path, "0::/pod/app\n", V2_MOUNT,
                      {"/sys/fs/cgroup/pod/app/cpu.max": cpu_max})
    assert _threads._cgroup_quota(root) == want


def test_cgroup_quota_of_an_ancestor_applies(tmp_path):
    from kl_ext import _threads
    root = _fake_root(tmp_path, "0::/pod/app\n", V2_MOUNT,
                      {"/sys/fs/cgroup/pod/app/cpu.max": "max 100000\n",
                       "/sys/fs/cgroup/pod/cpu.max": "50000 100000\n"})
    assert _threads._cgroup_quota(root) == 0.5
    assert _threads.cpu_budget(root) == 1


def test_cgroup_v1_quota(tmp_path):
    from kl_ext import _threads
    base = "/sys/fs/cgroup/cpu,cpuacct/docker/abc"
    root = _fake_root(tmp_path, "4:cpu,cpuacct:/docker/abc\n3:cpuset:/docker/abc\n",
                      V1_MOUNT, {base + "/cpu.cfs_quota_us": "100000\n",
                                 base + "/cpu.cfs_period_us": "100000\n"})
    assert _threads._cgroup_quota(root) == 1.0
    assert _threads.cpu_budget(root) == 1
    # -1: no quota
    (tmp_path / base.lstrip("/") / "cpu.cfs_quota_us").write_text("-1\n")
    assert _threads._cgroup_quota(root) is None
    assert _threads.cpu_budget(root) == len(os.sched_getaffinity(0))


def test_no_cgroup_files_means_no_quota(tmp_path):
    from kl_ext import _threads
    assert _threads._cgroup_quota(str(tmp_path)) is None
    assert _threads.cpu_budget(str(tmp_path)) == len(os.sched_getaffinity(0))


def test_every_kernel_module_is_capped_at_the_budget():
    # a container allowed one CPU must not start two threads: kl_ext._cpu
    # sets every kernel module's cap to cpu_budget() when it imports it
    code = r"""
import importlib.util, os, sys
# load kl_ext._threads alone and pretend the budget is one CPU, before kl_ext
# (and its kernel modules) are imported
where = os.path.dirname(importlib.util.find_spec("kl_ext").origin)
spec = importlib.util.spec_from_file_location("kl_ext._threads",
                                              os.path.join(where, "_threads.py"))
t = importlib.util.module_from_spec(spec)
spec.loader.exec_module(t)
t.cpu_budget = lambda root="/": 1
sys.modules["kl_ext._threads"] = t
import kl_ext, kl_ext.logits, kl_ext.report
print(kl_ext.measures._k.max_threads(), kl_ext.logits._k.max_threads(),
      kl_ext.report._kc.max_threads())
"""
    env = dict(os.environ, OMP_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "1", "1"]


# The kernels' worker pool (src/_pool.h): every parallel loop gives the same
# bits on the calling thread alone, on two threads and on the default count,
# in this process (the pool's workers, not a fresh process per count).

def _bits(x):
    return np.asarray(x, dtype=np.float64).tobytes()


PAIR = ["cross_entropy", "kl_divergence", "js_divergence", "js_distance", "total_variation",
        "hellinger_distance", "jeffreys_divergence"]


COLUMNS = ("entropy_p", "kl_pq", "kl_qp", "js_divergence", "total_variation",
           "hellinger_distance", "jeffreys_divergence")


def _calls():
    rng = np.random.default_rng(14)
    n = 65536 * 9 + 123  # ten pieces, the last one short
    p = rng.random(n)
    q = rng.random(n)
    near = p * (1.0 + 1e-9 * rng.standard_normal(n))  # the exact near-p = q pass
    strided = rng.random(2 * n)[::2]
    tiles = rng.random((40_000, 10))      # many short rows: tiles
    long_rows = rng.random((600, 700))    # many rows longer than a tile
    ref = rng.random(10)
    yield "entropy", lambda: kl_ext.entropy(p)
    for name in PAIR:
        f = getattr(kl_ext, name)
        yield name, lambda f=f: f(p, q)
        yield name + " near", lambda f=f: f(p, near)
        yield name + " float32", lambda f=f: f(p.astype(np.float32), q.astype(np.float32))
        yield name + " strided", lambda f=f: f(strided, q)
        yield name + " tiles", lambda f=f: f(tiles, ref)
        yield name + " rows", lambda f=f: f(long_rows, long_rows[::-1])
        yield name + " unnormalised", lambda f=f: f(p, q, normalize=False)
    for a, b in ((p, q), (p, near), (tiles, ref), (long_rows, long_rows[::-1])):
        yield "compare", lambda a=a, b=b: [getattr(kl_ext.compare(a, b), k) for k in COLUMNS]


def _kernel_pieces(nthreads):
    # the chunked statistics' kernels (kl_ext.chunked), called directly
    k = measures._k
    rng = np.random.default_rng(3)
    n = 65536 * 4 + 5
    p = rng.random((3, n))
    q = p * (1.0 + 1e-9 * rng.standard_normal((3, n)))
    npc = k.n_pieces(n)
    out = []
    for code in (0, 2, 3, 4, 6, 7):
        first = np.empty((3, npc, 3))
        st = np.empty((3, npc), np.int8)
        assert k.pieces(code, p, q, first, st, nthreads) == 0
        out += [first, st]
        if code in (0, 2):
            dd = np.empty((3, npc, 5))
            assert k.dd_pieces(code, p, q, first, dd, nthreads) == 0
            out.append(dd)
        else:
            scales = np.ones((3, 3))
            two = np.empty((3, npc))
            assert k.pair_pieces(code, p, q, scales, two, nthreads) == 0
            out.append(two)
        totals = np.ones((3, 9))
        want = np.ones((3, npc), np.int8)
        want[1, 2] = 0
        near = np.empty((3, npc))
        if k.near_pieces(code, p, q, totals, want, near, nthreads) == 0:
            out.append(near)
    return [a.tobytes() for a in out]


@pytest.mark.skipif(measures._k.max_threads() < 2, reason="one thread here")
def test_pool_results_identical_for_any_thread_count():
    from kl_ext import _threads
    for name, f in _calls():
        with _threads.limit(1):
            one = _bits(f())
        with _threads.limit(2):
            two = _bits(f())
        assert two == one, name
        for _ in range(3):  # the default, several times: a different split each time
            assert _bits(f()) == one, name
    assert _kernel_pieces(2) == _kernel_pieces(1)
    assert measures._k.pool_workers() >= 1  # the calls above did run on the pool


@pytest.mark.skipif(measures._k.max_threads() < 2, reason="one thread here")
def test_wasserstein_split_sort_identical_for_any_thread_count():
    # wasserstein_1d sorts long rows as tasks that any thread may take
    # (src/_sort.h, ks_split): u and v each longer than several tasks, with
    # ties, +-0.0, +-inf and NaN; the sorted samples and the distances have
    # the same bits on 1, 2 and the default thread count
    from kl_ext import _threads
    from kl_ext import wasserstein as W
    rng = np.random.default_rng(21)
    u = rng.normal(size=150_001).round(3)
    v = rng.standard_cauchy(100_000)
    u[::97] = -0.0
    u[5::97] = 0.0
    uu = u.copy()
    uu[::1001] = np.nan
    uu[7::1001] = np.inf
    uu[9::1001] = -np.inf
    rows = rng.normal(size=(3, 40_000)).astype(np.float32).round(2)

    def run():
        out = [wasserstein_1d(u, v), wasserstein_1d(u, v, order=2), wasserstein_1d(rows, v)]
        for s, _ in W._sort_samples((uu, None), (rows, None), (v, None)):
            out.append(s.tobytes())
        return [o if isinstance(o, bytes) else _bits(o) for o in out]

    from kl_ext.wasserstein import wasserstein_1d
    with _threads.limit(1):
        one = run()
    with _threads.limit(2):
        assert run() == one
    for _ in range(3):
        assert run() == one
    # many small tasks (leaf 256), back to back: two threads take and push
    # tasks at the same time often
    x = np.stack([uu, uu[::-1]])
    want = None
    for i in range(40):
        xs = np.empty_like(x)
        W._k.sort_rows(((x, None, xs, None, xs.view(np.uint64), 0),), 1 if i == 0 else 2, 256)
        if want is None:
            want = xs.tobytes()
        assert xs.tobytes() == want, i


FORK = r"""
import os, sys, signal, numpy as np, kl_ext
from kl_ext import measures
k = measures._k
rng = np.random.default_rng(1)
p = rng.random(2_000_000); q = rng.random(2_000_000)
rows = rng.random((50_000, 10))
want = (kl_ext.js_distance(p, q), kl_ext.kl_divergence(rows, q[:10]).tobytes())
assert k.pool_workers() >= 1
pid = os.fork()
if pid == 0:
    signal.alarm(60)  # a hung child dies instead of hanging the test
    before = k.pool_workers()
    got = (kl_ext.js_distance(p, q), kl_ext.kl_divergence(rows, q[:10]).tobytes())
    os._exit(0 if got == want and before == 0 and k.pool_workers() >= 1 else 3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(measures._k.max_threads() < 2, reason="one thread here")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_forked_child_runs_threaded_kernels():
    # the child of a process whose pool has workers starts with none (they
    # are not copied by fork), creates its own on its first threaded call,
    # finishes and gets the parent's bits
    res = subprocess.run([sys.executable, "-c", FORK], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["0"], res.stdout + res.stderr


@pytest.mark.skipif(measures._k.max_threads() < 2, reason="one thread here")
def test_pool_logits_identical_for_any_thread_count():
    # kl_ext.logits' row loops (units of 8 rows with per-item scratch) on
    # the pool: one thread (threadpoolctl) and the default give the same bits
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(9)
    cases = []
    for nrows, n in ((40_000, 10), (3_000, 100), (600, 700)):  # blocks of 8, rows, scratch
        for dtype in (np.float64, np.float32):
            x = (5 * rng.standard_normal((nrows, n))).astype(dtype)
            b = (5 * rng.standard_normal((nrows, n))).astype(dtype)
            labels = rng.integers(0, n, nrows)
            soft = rng.random((nrows, n)).astype(dtype)
            soft /= soft.sum(axis=1, keepdims=True)
            cases += [lambda x=x, y=labels: kl_ext.cross_entropy_logits(x, y),
                      lambda x=x, t=soft: kl_ext.cross_entropy_logits(x, t),
                      lambda x=x, b=b: kl_ext.kl_divergence_logits(x, b),
                      lambda x=x, b=b: kl_ext.kl_divergence_logits(x, b, temperature=2.0)]
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        one = [_bits(f()) for f in cases]
    for _ in range(2):
        assert [_bits(f()) for f in cases] == one
