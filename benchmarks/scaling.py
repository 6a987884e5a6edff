"""Scaling out: kl_ext in memory against kl_ext.dask on a LocalCluster.

    python benchmarks/scaling.py rows [--rows 1e8] [--classes 10] [--dir DIR]
    python benchmarks/scaling.py hist [--log2-bins 28] [--chunks 16]

``rows``: a float32 ``.npy`` of ROWS x CLASSES probability rows (4 GB at the
defaults; written once into DIR, reused), KL divergence of every row against
one reference row:

  (a) in memory: ``np.load`` and ``kl_ext.kl_divergence`` in one process,
      kl_ext's default threads;
  (c) ``kl_ext.dask.kl_divergence`` over ``kl_ext.dask.read_npy`` blocks on a
      ``LocalCluster`` of 2 worker processes, and of 1 (one thread each; every
      task memory-maps the file itself), the scores gathered on the client
      (``.compute()``), or stored by the workers (``da.to_npy_stack``; the
      peak RSS figures are of the whole run).

(b), the streaming ``kl-ext score``, is measured by
``benchmarks/scaling_stream.py``.  Each case runs in its own process under
``/usr/bin/time -v``: rows/s and the peak RSS of every process (from
``getrusage`` inside the client, each worker and the scheduler; ``time``'s
figure is the largest of the process tree).

``hist``: one pair of histograms of 2**LOG2_BINS float64 bins generated on
the workers in CHUNKS chunks (2 workers of 2 GiB, spilling off); KL, JS and
entropy from ``kl_ext.dask`` (the split-axis partial statistics) against the
in-memory functions on the same values (generated again in the client),
with each worker's peak RSS.

The machine has 2 cores: two worker processes can show that the work
spreads and that memory stays bounded, not how a cluster of many machines
scales.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import textwrap
import time

import numpy as np

CASE_MEMORY = r"""
import json, resource, sys, time
import numpy as np, kl_ext
path = sys.argv[1]
t0 = time.perf_counter()
P = np.load(path)
t1 = time.perf_counter()
q = np.full(P.shape[1], 1.0 / P.shape[1], dtype=P.dtype)
score = []
for _ in range(2):  # best of 2
    t = time.perf_counter()
    d = kl_ext.kl_divergence(P, q)
    score.append(time.perf_counter() - t)
print(json.dumps({"rows": P.shape[0], "load_s": t1 - t0, "score_s": min(score),
                  "checksum": float(np.sum(d, dtype=np.float64))}))
"""

CASE_DASK = r"""
import json, resource, sys, time
import numpy as np
import dask, distributed
import kl_ext, kl_ext.dask as kd
path, workers = sys.argv[1], int(sys.argv[2])

def peak_mib():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

if __name__ == "__main__":
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                  memory_limit="3GiB") as cluster, \
            distributed.Client(cluster) as client:
        P = kd.read_npy(path)
        q = np.full(P.shape[1], 1.0 / P.shape[1], dtype=P.dtype)
        import shutil, tempfile, dask.array as da
        # warm-up: every worker imports kl_ext and loads its kernels once
        client.run(lambda: __import__("kl_ext.dask") and None)
        stored, gathered = [], []
        for _ in range(2):  # best of 2 of each
            out = tempfile.mkdtemp(prefix="kl_scores_")
            t0 = time.perf_counter()
            da.to_npy_stack(out, kd.kl_divergence(P, q))  # each worker writes its blocks
            t1 = time.perf_counter()
            d = kd.kl_divergence(P, q).compute()           # all scores gathered here
            t2 = time.perf_counter()
            stored.append(t1 - t0)
            gathered.append(t2 - t1)
            client_peak = peak_mib()
            assert np.array_equal(np.load(out + "/0.npy"), d[:len(np.load(out + "/0.npy"))])
            shutil.rmtree(out)
        print(json.dumps({"rows": P.shape[0], "stored_s": min(stored),
                          "score_s": min(gathered), "blocks": P.numblocks[0],
                          "checksum": float(np.sum(d, dtype=np.float64)),
                          "worker_peak_mib": sorted(client.run(peak_mib).values()),
                          "scheduler_peak_mib": client.run_on_scheduler(peak_mib),
                          "client_peak_mib": client_peak}))
"""

CASE_HIST = r"""
import json, resource, sys, time
import numpy as np
import dask, distributed, dask.array as da
import kl_ext, kl_ext.dask as kd
log2, nchunks = int(sys.argv[1]), int(sys.argv[2])

def peak_mib():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

if __name__ == "__main__":
    n = 2 ** log2
    # spilling off: a worker past its limit dies instead of spilling to disk,
    # so its peak RSS is what the graph needs
    dask.config.set({"distributed.worker.memory.target": False,
                     "distributed.worker.memory.spill": False})
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                  memory_limit="2GiB") as cluster, \
            distributed.Client(cluster) as client:
        p = da.random.RandomState(1).random_sample(n, chunks=n // nchunks)
        q = da.random.RandomState(2).random_sample(n, chunks=n // nchunks)
        t0 = time.perf_counter()
        lazy = dict(kl=kd.kl_divergence(p, q), js=kd.js_divergence(p, q), entropy=kd.entropy(p))
        got = dict(zip(lazy, dask.compute(*lazy.values())))
        t1 = time.perf_counter()
        workers = sorted(client.run(peak_mib).values())
    # the same values in this process (the whole arrays would not fit a worker)
    pn, qn = dask.compute(p, q, scheduler="sync")
    t2 = time.perf_counter()
    want = dict(kl=kl_ext.kl_divergence(pn, qn), js=kl_ext.js_divergence(pn, qn),
                entropy=kl_ext.entropy(pn))
    t3 = time.perf_counter()
    print(json.dumps({"bins": n, "chunks": nchunks, "chunk_mib": n // nchunks * 8 / 2**20,
                      "dask_s": t1 - t0, "in_memory_s": t3 - t2,
                      "rel_diff": {k: abs(float(got[k]) - float(want[k])) / abs(float(want[k]))
                                   for k in got},
                      "equal_bits": {k: bool(got[k] == want[k]) for k in got},
                      "worker_peak_mib": workers}))
"""


def timed(code, *args):
    """Run `code` in a fresh Python under /usr/bin/time -v: (json, peak RSS MiB)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    cmd = ["/usr/bin/time", "-v", sys.executable, "-c", code, *map(str, args)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if res.returncode:
        raise SystemExit(f"case failed:\n{res.stderr[-3000:]}")
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr).group(1))
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("{")][-1]
    return json.loads(line), peak / 1024


def write_rows(path, rows, classes, block=4_000_000):
    """ROWS x CLASSES float32 probability rows, written a block at a time."""
    rng = np.random.default_rng(0)
    out = np.lib.format.open_memmap(path + ".part", mode="w+", dtype=np.float32,
                                    shape=(rows, classes))
    for start in range(0, rows, block):
        stop = min(start + block, rows)
        x = rng.random((stop - start, classes), dtype=np.float32) + np.float32(0.01)
        out[start:stop] = x / x.sum(axis=1, keepdims=True)
    out.flush()
    del out
    os.replace(path + ".part", path)


def rows_case(args):
    os.makedirs(args.dir, exist_ok=True)
    rows = int(float(args.rows))
    path = os.path.join(args.dir, f"p_{rows}x{args.classes}_f32.npy")
    if not os.path.exists(path):
        t = time.perf_counter()
        write_rows(path, rows, args.classes)
        print(f"wrote {path} ({os.path.getsize(path) / 1e9:.2f} GB) in "
              f"{time.perf_counter() - t:.0f} s", file=sys.stderr)
    results = {}
    r, peak = timed(CASE_MEMORY, path)
    results["a: in memory"] = dict(r, peak_mib=peak, rows_per_s=rows / r["score_s"])
    results["a: in memory, with np.load"] = dict(
        r, peak_mib=peak, rows_per_s=rows / (r["score_s"] + r["load_s"]))
    for w in (2, 1):
        r, peak = timed(textwrap.dedent(CASE_DASK), path, w)
        results[f"c: kl_ext.dask, {w} worker(s)"] = dict(r, tree_peak_mib=peak,
                                                          rows_per_s=rows / r["score_s"])
        results[f"c: kl_ext.dask, {w} worker(s), stored"] = dict(
            r, tree_peak_mib=peak, rows_per_s=rows / r["stored_s"])
    base = results["a: in memory"]["rows_per_s"]
    print(f"{'case':40} {'rows/s':>12} {'vs (a)':>7}  peak RSS (MiB)")
    for name, r in results.items():
        peaks = (f"{r['peak_mib']:.0f}" if "peak_mib" in r else
                 f"client {r['client_peak_mib']:.0f}, workers "
                 + ", ".join(f"{x:.0f}" for x in r["worker_peak_mib"])
                 + f", scheduler {r['scheduler_peak_mib']:.0f}")
        print(f"{name:40} {r['rows_per_s']:12.3e} {r['rows_per_s'] / base:7.2f}  {peaks}")
    sums = {r["checksum"] for r in results.values()}
    print(f"checksums (sum of the scores) agree: {len(sums) == 1}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def hist_case(args):
    r, peak = timed(CASE_HIST, args.log2_bins, args.chunks)
    print(json.dumps(dict(r, tree_peak_mib=peak), indent=1))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="case", required=True)
    a = sub.add_parser("rows")
    a.add_argument("--rows", default="1e8")
    a.add_argument("--classes", type=int, default=10)
    a.add_argument("--dir", default="/tmp/kl_ext_scaling")
    a.add_argument("--json")
    h = sub.add_parser("hist")
    h.add_argument("--log2-bins", type=int, default=28)
    h.add_argument("--chunks", type=int, default=16)
    args = ap.parse_args(argv)
    (rows_case if args.case == "rows" else hist_case)(args)


if __name__ == "__main__":
    main()
