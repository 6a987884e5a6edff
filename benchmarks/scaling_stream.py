"""Streaming ``kl-ext score`` against the in-memory call (issue 12, row (b)).

Creates a ``ROWS x 10`` float32 ``.npy`` (1e8 rows: 4 GB) and one reference
row, then times, each in a fresh process under ``/usr/bin/time -v`` (peak
RSS = "Maximum resident set size"):

(a) in memory: ``kl_ext.kl_divergence(np.load(f), q)`` in one process with the
    default threads; the process reports the time of the call alone and of
    ``np.load`` + the call;
(b) streaming: ``kl-ext score big.npy ref.npy --measure kl --out scores.npy
    --no-progress`` (memory-mapped blocks of 64 MiB, scores written as they
    come).

Both runs read the file from the page cache when it fits in RAM (it was
just written); the figures are wall-clock rows/s.  The two results are
compared bit for bit.  The file and the scores are deleted at the end
unless ``--keep``.

Run: ``python benchmarks/scaling_stream.py [--rows 1e8] [--dir DIR] [--repeat 2]``
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

IN_MEMORY = r"""
import sys, time
import numpy as np
import kl_ext
f, r, out = sys.argv[1:4]
q = np.load(r)
t0 = time.perf_counter()
p = np.load(f)
t1 = time.perf_counter()
s = kl_ext.kl_divergence(p, q)
t2 = time.perf_counter()
np.save(out, s)
print(f"TIMES {t1 - t0:.6f} {t2 - t1:.6f}")
"""


def make_file(path, rows, n=10, seed=0, chunk=5_000_000):
    """Write a (rows, n) float32 .npy of random weights, chunk by chunk."""
    a = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, n))
    rng = np.random.default_rng(seed)
    for s in range(0, rows, chunk):
        k = min(chunk, rows - s)
        a[s:s + k] = rng.random((k, n), dtype=np.float32)
    a.flush()
    del a


def timed(cmd):
    """Run `cmd` under /usr/bin/time -v: (wall seconds, peak RSS MiB, stdout)."""
    t0 = time.perf_counter()
    res = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{res.stderr}")
    kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr)[1])
    return wall, kib / 1024, res.stdout


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=float, default=1e8)
    ap.add_argument("--dir", default=None, help="where to write the file (default: a "
                    "temporary directory under the current one)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    if not os.path.exists("/usr/bin/time"):
        raise SystemExit("needs GNU time at /usr/bin/time (apt-get install time)")
    rows = int(args.rows)
    d = tempfile.mkdtemp(prefix="kl_ext_stream_", dir=args.dir or os.getcwd())
    try:
        big, ref = os.path.join(d, "big.npy"), os.path.join(d, "ref.npy")
        t = time.perf_counter()
        make_file(big, rows)
        np.save(ref, np.random.default_rng(1).random(10).astype(np.float32))
        gb = os.path.getsize(big) / 1e9
        print(f"file: {rows:.3g} x 10 float32, {gb:.2f} GB, written in "
              f"{time.perf_counter() - t:.1f} s; CPUs: {os.cpu_count()}")
        mem_out, st_out = os.path.join(d, "mem.npy"), os.path.join(d, "scores.npy")
        a_cmd = [sys.executable, "-c", IN_MEMORY, big, ref, mem_out]
        b_cmd = [sys.executable, "-m", "kl_ext.cli", "score", big, ref, "--measure", "kl",
                 "--out", st_out, "--no-progress"]
        results = {"a": [], "b": []}
        for _ in range(args.repeat):   # interleaved, so drift hits both
            wall, rss, out = timed(a_cmd)
            load, call = map(float, out.split("TIMES")[1].split())
            results["a"].append((call, load + call, wall, rss))
            wall, rss, _ = timed(b_cmd)
            results["b"].append((wall, rss))
        same = np.array_equal(np.load(mem_out, mmap_mode="r"),
                              np.load(st_out, mmap_mode="r"), equal_nan=True)
        a_call = min(r[0] for r in results["a"])
        a_load = min(r[1] for r in results["a"])
        a_rss = max(r[3] for r in results["a"])
        b_wall = min(r[0] for r in results["b"])
        b_rss = max(r[1] for r in results["b"])
        print(f"(a) in memory, kl_ext.kl_divergence(np.load(f), q), default threads:\n"
              f"    call only      {rows / a_call:12.4g} rows/s  ({a_call:.2f} s)\n"
              f"    load + call    {rows / a_load:12.4g} rows/s  ({a_load:.2f} s)\n"
              f"    peak RSS       {a_rss:10.0f} MiB\n"
              f"    command: python -c <np.load + kl_divergence> {big} {ref}")
        print(f"(b) streaming kl-ext score (whole process, incl. start-up and writing):\n"
              f"    wall           {rows / b_wall:12.4g} rows/s  ({b_wall:.2f} s)\n"
              f"    peak RSS       {b_rss:10.0f} MiB\n"
              f"    vs (a) call only {b_wall and a_call / b_wall:.0%}, "
              f"vs (a) load + call {a_load / b_wall:.0%}\n"
              f"    command: {' '.join(b_cmd)}")
        print(f"all runs (s, MiB): a={results['a']} b={results['b']}")
        print(f"results identical bit for bit: {same}")
        return 0 if same else 1
    finally:
        if args.keep:
            print(f"kept {d}")
        else:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
