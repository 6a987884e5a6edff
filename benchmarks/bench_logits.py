"""Speed of cross_entropy_logits and kl_divergence_logits against PyTorch
(CPU, one thread) and the plain-NumPy reference (kl_ext.reference_logits).

A plain script (not collected by pytest):

    OMP_NUM_THREADS=1 python benchmarks/bench_logits.py [--repeat 15]

Every competitor is timed on the same seeded inputs in the same run; the
table shows the median wall time of each call (ms) and the ratios
``torch / kl_ext`` and ``numpy / kl_ext`` (> 1: kl_ext is faster).  kl_ext
runs on one thread (OMP_NUM_THREADS=1 is set here before the import) and
PyTorch too (``torch.set_num_threads(1)``).  PyTorch is optional: without it
its columns are left empty.
"""

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from kl_ext import logits, reference_logits  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    torch = None

SHAPES = [(100_000, 10), (1_000, 32_000)]


def median_ms(fn, repeat):
    fn()  # warm up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def cases(shape, dtype, rng):
    rows, n = shape
    x = (rng.normal(size=shape) * 3).astype(dtype)
    b = (rng.normal(size=shape) * 3).astype(dtype)
    y = rng.integers(0, n, rows)
    out = {
        "cross_entropy_logits": {
            "kl_ext": lambda: logits.cross_entropy_logits(x, y),
            "numpy": lambda: reference_logits.cross_entropy_logits(x, y)
            if n <= 10 else _np_ce_labels(x, y),
        },
        "kl_divergence_logits": {
            "kl_ext": lambda: logits.kl_divergence_logits(x, b),
            "numpy": lambda: reference_logits.kl_divergence_logits(x, b),
        },
    }
    if torch is not None:
        X, B, Y = torch.from_numpy(x), torch.from_numpy(b), torch.from_numpy(y)
        out["cross_entropy_logits"]["torch"] = lambda: F.cross_entropy(
            X, Y, reduction="none")
        out["kl_divergence_logits"]["torch"] = lambda: F.kl_div(
            F.log_softmax(B, -1), F.log_softmax(X, -1), log_target=True,
            reduction="none").sum(-1)
    return out


def _np_ce_labels(x, y):
    # the reference builds one-hot rows, which at 32 000 classes measures the
    # one-hot matrix; this is the usual NumPy spelling with labels
    lsm = reference_logits.log_softmax(x)
    return -lsm[np.arange(len(y)), y]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"kl_ext tier {logits.CPU_TIER}, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, "
          f"torch {torch.__version__ if torch is not None else '-'} "
          f"({torch.get_num_threads() if torch is not None else '-'} thread)")
    print(f"{'function':22s} {'shape':>13s} {'dtype':>7s} {'kl_ext ms':>10s} "
          f"{'torch ms':>9s} {'numpy ms':>9s} {'torch/kl':>8s} {'numpy/kl':>8s}")
    for shape in SHAPES:
        for dtype in (np.float64, np.float32):
            for name, fns in cases(shape, dtype, rng).items():
                t = {k: median_ms(f, args.repeat) for k, f in fns.items()}
                tt = t.get("torch")
                print(f"{name:22s} {str(shape):>13s} {np.dtype(dtype).name:>7s} "
                      f"{t['kl_ext']:10.2f} {tt if tt else float('nan'):9.2f} "
                      f"{t['numpy']:9.2f} {(tt or np.nan) / t['kl_ext']:8.1f} "
                      f"{t['numpy'] / t['kl_ext']:8.1f}", flush=True)


if __name__ == "__main__":
    main()
