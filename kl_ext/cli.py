"""The ``kl-ext`` console script.

``kl-ext bench [--quick] [--full] [--busy] [--json FILE] [--plot FILE.png] ...``
    Time kl_ext against :mod:`kl_ext.reference`, SciPy, NumKong and POT
    (those installed) on built-in workloads and print a table; optionally
    write the results as JSON and a speed-up chart (see ``kl_ext.bench``).
``kl-ext score P [Q] --measure M [--base B] [--out FILE] [--axis A] [--column C]``
    Score each distribution (row) of the ``.npy``/``.csv``/``.parquet`` file
    P, against the matching row of Q or against a single reference row Q,
    and write one score per row to FILE (``.npy``, ``.csv`` or ``.parquet``)
    or print them one per line.  ``.npy`` and ``.parquet`` inputs are read in
    blocks of rows (see ``kl_ext._stream``), so memory stays bounded
    whatever the file size.

``kl-ext accuracy [--quick] [--measure M] [--regime R] [--json FILE] [--plot FILE.png]``
    Measure the relative error of every measure against exact arithmetic,
    side by side with :mod:`kl_ext.reference`, SciPy, NumKong and torch
    (those installed), and print a table (see :mod:`kl_ext.accuracy`).

Every failure prints one line ``kl-ext: error: ...`` on stderr and exits
with a non-zero status (2 for usage errors, 1 for everything else); no
traceback is shown.  Run as ``kl-ext ...`` or ``python -m kl_ext.cli ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from numpy.typing import NDArray

from ._table import BY_NAME, MEASURES

PROG = "kl-ext"

# --measure name -> public function name in kl_ext (the table of measures)
SCORE_MEASURES = {m.cli: m.name for m in MEASURES}
# the full function names and the table's other aliases are accepted too
_ALIASES = {v: k for k, v in SCORE_MEASURES.items() if v != k}
_ALIASES.update({a: m.cli for m in MEASURES for a in m.aliases})

class CLIError(Exception):
    """A failure reported as ``kl-ext: error: <message>`` with exit status 1."""


class _UsageError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (no usage block) and raise."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see '{self.prog} --help')")


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _error(message: object, status: int) -> int:
    print(f"{PROG}: error: {_one_line(message)}", file=sys.stderr)
    return status


# --------------------------------------------------------------------------
# score

def _ext(path: object) -> str:
    return os.path.splitext(str(path))[1].lower()


def _parquet_columns(values: Sequence[str] | None) -> list[str] | None:
    out: list[str] = []
    for v in values or ():
        out.extend(c.strip() for c in v.split(",") if c.strip())
    return out or None


def _check_out(path: str, inputs: Iterable[tuple[str, str | None]]) -> None:
    """Refuse an --out that cannot be written or would replace an input."""
    from . import _stream
    if _ext(path) not in _stream.OUTPUT_FORMATS:
        raise CLIError(f"--out {path!r}: unsupported format "
                       f"{_ext(path) or '(no extension)'!r}; use .npy, .csv or .parquet")
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise CLIError(f"--out {path!r}: directory {d!r} does not exist")
    if os.path.isdir(path):
        raise CLIError(f"--out {path!r} is a directory")
    for name, src in inputs:
        if src is not None and os.path.exists(path) and os.path.samefile(path, src):
            raise CLIError(f"--out {path!r} is the input file {name}; "
                           "write the scores to another file")
    if _ext(path) == ".parquet":
        _stream.need_pyarrow(f"--out {path!r}")


def _score(args: argparse.Namespace) -> int:
    from . import _stream

    measure = _ALIASES.get(args.measure, args.measure)
    fname = SCORE_MEASURES[measure]
    info = BY_NAME[fname]
    if not info.takes_q:
        if args.Q is not None:
            raise CLIError(f"--measure {measure} takes only P; got a second file "
                           f"{args.Q!r}")
    elif args.Q is None:
        raise CLIError(f"--measure {measure} needs two files, P and Q")
    if not info.has_base and args.base is not None:
        raise CLIError(f"--base does not apply to --measure {measure} "
                       f"({fname.replace('_', ' ')} has no unit)")
    if args.axis not in (-2, -1, 0, 1):
        raise CLIError(f"--axis must be -1 or 1 (distributions in rows) or 0 "
                       f"(distributions in columns), got {args.axis}")
    if args.block_rows is not None and args.block_rows < 1:
        raise _UsageError(f"--block-rows must be >= 1, got {args.block_rows}")
    if args.workers is not None and args.workers < 1:
        raise _UsageError(f"--workers must be >= 1, got {args.workers}")
    if args.workers is not None and args.scheduler is not None:
        raise _UsageError("give --scheduler or --workers, not both")
    if args.out is not None:
        _check_out(args.out, (("P", args.P), ("Q", args.Q)))
    columns = args.axis in (0, -2)
    pcols = _parquet_columns(args.column)
    try:
        return _score_stream(args, measure, fname, columns, pcols)
    except _stream.StreamError as exc:
        raise CLIError(str(exc)) from None


def _score_stream(args: argparse.Namespace, measure: str, fname: str, columns: bool,
                  pcols: list[str] | None) -> int:
    """Score P (against Q) block by block and write the scores as they come."""
    import kl_ext

    from . import _stream

    p = _stream.open_rows(args.P, "P", columns=columns, parquet_columns=pcols)
    q: _stream._Source | NDArray[Any] | None = None
    files = {"p": ("P", args.P)}
    itemsize = p.dtype.itemsize
    if BY_NAME[fname].takes_q:
        qsrc = _stream.open_rows(args.Q, "Q", columns=columns, parquet_columns=pcols)
        files["q"] = ("Q", args.Q)
        if qsrc.m == 1 or len(qsrc.shape) == 1:
            # one reference distribution, broadcast against every one of P
            if qsrc.m * qsrc.n != p.n:
                raise CLIError(f"Q is one distribution of length {qsrc.m * qsrc.n} but "
                               f"the distributions of P have length {p.n}")
            q = qsrc.read_all().reshape(1, -1)
            qsrc.close()
        elif (qsrc.m, qsrc.n) != (p.m, p.n):
            what = "columns" if columns else "rows"
            pshape = (p.n, p.m) if columns else (p.m, p.n)
            qshape = (qsrc.n, qsrc.m) if columns else (qsrc.m, qsrc.n)
            raise CLIError(f"P has shape {pshape} and Q has shape {qshape}: Q must have "
                           f"the same shape, or be a single distribution of length {p.n} "
                           f"(one of P's {what})")
        else:
            q = qsrc
            itemsize += qsrc.dtype.itemsize
    block = args.block_rows or _stream.block_rows_for(p.n, itemsize)
    kwargs = {"base": args.base} if BY_NAME[fname].has_base else {}

    with contextlib.ExitStack() as stack:
        stack.callback(p.close)
        if isinstance(q, _stream._Source):
            stack.callback(q.close)
        if args.scheduler is not None or args.workers is not None:
            for src in (p, q):
                if isinstance(src, _stream._Source) and _ext(src.path) != ".npy":
                    raise CLIError(f"--scheduler/--workers read .npy files on the workers; "
                                   f"{src.label} file {src.path!r} is not one")
            client = stack.enter_context(_dask_client(args))
            blocks = _stream.score_dask(client, fname, p, q, columns, block, kwargs, files)
        else:
            blocks = _stream.score_blocks(getattr(kl_ext, fname), p, q, block, kwargs, files)
        sink = _stream.open_sink(args.out, p.m)
        bar = stack.enter_context(contextlib.closing(
            _stream.progress(p.m, not args.no_progress)))
        try:
            for _, scores in blocks:
                sink.write(scores)
                bar.update(len(scores))
            sink.commit()
        except BaseException:
            sink.abort()
            raise
        finally:
            blocks.close()
    return 0


@contextlib.contextmanager
def _dask_client(args: argparse.Namespace) -> Iterator[Any]:
    """A distributed Client: on the cluster at --scheduler, or on a
    LocalCluster of --workers processes (localhost only, no dashboard)."""
    try:
        import kl_ext.dask  # noqa: F401
        from distributed import Client, LocalCluster
    except ImportError:
        raise CLIError("--scheduler and --workers need dask and distributed, which are "
                       "not installed (pip install 'kl_ext[dask]')") from None
    import logging
    if args.scheduler is not None:
        try:
            client = Client(args.scheduler, timeout="10s")  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError, ValueError) as exc:
            raise CLIError(f"cannot connect to the Dask scheduler at {args.scheduler!r}: "
                           f"{_one_line(exc)}") from None
        with client:
            yield client
        return
    # no dashboard, and the scheduler's own HTTP routes on a free localhost
    # port (by default they take 8787, or warn when it is in use); a failed
    # task's report stays in the workers' logs: the error is ours to print
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None,
                      scheduler_kwargs={"dashboard": False,
                                        "dashboard_address": "127.0.0.1:0"},
                      silence_logs=logging.CRITICAL  # type: ignore[no-untyped-call]
                      ) as cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        yield client


# --------------------------------------------------------------------------
# bench

def _sizes(values: Sequence[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or ():
        out.extend(s.strip() for s in v.split(",") if s.strip())
    return out


def _threads(values: Sequence[str] | None) -> list[int]:
    out = []
    for s in _sizes(values):
        try:
            t = int(s)
        except ValueError:
            raise _UsageError(f"--threads takes positive integers, got {s!r}") from None
        if t < 1:
            raise _UsageError(f"--threads takes positive integers, got {t}")
        if t not in out:
            out.append(t)
    return out


_PLOT_FORMATS = (".png", ".svg", ".pdf")


def _check_out_file(path: str, option: str, formats: Sequence[str] | None = None) -> None:
    if formats is not None and _ext(path) not in formats:
        raise _UsageError(f"{option} {path!r}: unsupported format "
                          f"{_ext(path) or '(no extension)'!r}; use {', '.join(formats)}")
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise CLIError(f"{option} {path!r}: directory {d!r} does not exist")
    if os.path.isdir(path):
        raise CLIError(f"{option} {path!r} is a directory")


def _check_plot_file(path: str) -> None:
    # --plot of bench and accuracy: a writable image path, and matplotlib
    _check_out_file(path, "--plot", _PLOT_FORMATS)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CLIError("--plot needs matplotlib, which is not installed "
                       "(pip install matplotlib)") from None


def _bench(args: argparse.Namespace) -> int:
    from . import bench

    known_m = bench.known_measures()
    for m in args.measure or ():
        if m not in known_m:
            raise _UsageError(f"unknown --measure {m!r}; choose from {', '.join(known_m)}")
    sizes = _sizes(args.sizes)
    known_s = bench.known_sizes(full=bool(args.full))
    for s in sizes:
        if s not in known_s:
            what = " with --full" if args.full else " (without --full)"
            raise _UsageError(f"unknown size {s!r} in --sizes{what}; choose from "
                              f"{', '.join(known_s)}")
    if args.budget is not None and not args.budget > 0:
        raise _UsageError(f"--budget must be > 0 seconds, got {args.budget}")
    threads = _threads(args.threads) or None
    if args.json is not None:
        _check_out_file(args.json, "--json")
    if args.plot is not None:
        _check_plot_file(args.plot)
    if not bench.workloads(args.measure, sizes, full=args.full, threads=threads):
        raise CLIError("no workload matches the selected --measure and --sizes")
    try:
        return bench.main_bench(args.measure, sizes, quick=args.quick, budget=args.budget,
                                full=args.full, threads=threads, json_path=args.json,
                                plot_path=args.plot, argv=["kl-ext"] + list(args.argv),
                                busy=args.busy)
    except OSError as exc:
        name = getattr(exc, "filename", None)
        raise CLIError(f"cannot write {name!r}: {exc.strerror or exc}" if name
                       else str(exc)) from None


# --------------------------------------------------------------------------
# accuracy

def _accuracy(args: argparse.Namespace) -> int:
    from . import accuracy

    for m in args.measure or ():
        if m not in accuracy.MEASURES:
            raise _UsageError(f"unknown --measure {m!r}; choose from "
                              f"{', '.join(accuracy.MEASURES)}")
    for r in args.regime or ():
        if r not in accuracy.REGIMES:
            raise _UsageError(f"unknown --regime {r!r}; choose from "
                              f"{', '.join(accuracy.REGIMES)}")
    if args.json is not None and args.json != "-":
        _check_out_file(args.json, "--json")
    if args.plot is not None:
        _check_plot_file(args.plot)
    try:
        import mpmath  # noqa: F401
    except ImportError:
        raise CLIError("kl-ext accuracy needs mpmath for its exact references, which is "
                       "not installed (pip install mpmath)") from None
    if not accuracy.cases(quick=args.quick, measures=args.measure, regimes=args.regime):
        raise CLIError("no case matches the selected --measure and --regime")
    try:
        return accuracy.main_accuracy(quick=args.quick, measures=args.measure,
                                      regimes=args.regime, seed=args.seed,
                                      json_path=args.json, plot_path=args.plot,
                                      argv=["kl-ext"] + list(args.argv))
    except RuntimeError as exc:   # the exact references failed their own check
        raise CLIError(str(exc)) from None
    except OSError as exc:
        name = getattr(exc, "filename", None)
        raise CLIError(f"cannot write {name!r}: {exc.strerror or exc}" if name
                       else str(exc)) from None


# --------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``kl-ext``."""
    parser = _Parser(prog=PROG, description="Fast information measures: benchmark and "
                     "score distributions from files.")
    sub = parser.add_subparsers(dest="command", metavar="{bench,score,accuracy}",
                                parser_class=_Parser)

    b = sub.add_parser("bench", help="time kl_ext against the NumPy reference, SciPy, "
                       "NumKong and POT",
                       description="Time kl_ext against kl_ext.reference, SciPy, NumKong "
                       "and POT (those installed) on seeded inputs and print median times, "
                       "speed-ups and where a competitor's result differs. The header "
                       "names the CPU tier and threads used. With no options it takes "
                       "about a minute; --full runs the whole matrix (a few minutes).")
    b.add_argument("--quick", action="store_true",
                   help="few repeats and a tiny time budget (rough numbers; for tests)")
    b.add_argument("--measure", action="append", metavar="NAME",
                   help="only this measure (repeatable), e.g. kl_divergence")
    b.add_argument("--sizes", nargs="+", metavar="SIZE",
                   help="only these size tags, space or comma separated: "
                        "10, 1e3, 1e6, 1e5x10 (and 1e4x100 for wasserstein_hist); with "
                        "--full: 10, 1e3, 1e5, 1e7, 1e5x10, 1e3x1e4, 1e5x10b (1e5 rows "
                        "against one broadcast row)")
    b.add_argument("--budget", type=float, metavar="SECONDS",
                   help="time budget per table cell (default 0.4, 0.15 with --full, "
                        "or 0.02 with --quick)")
    b.add_argument("--full", action="store_true",
                   help="the full matrix: every measure x float64/float32 x n = 10, 1e3, "
                        "1e5, 1e7, 1e5x10 rows, 1e3x1e4 rows, a broadcast reference row x "
                        "threads 1 and 2 (a few minutes)")
    b.add_argument("--threads", nargs="+", metavar="N",
                   help="thread limits to run (space or comma separated; applied "
                        "to OpenMP's count, which sizes kl_ext's worker pool, with "
                        "threadpoolctl); default: the library's default, or 1 2 "
                        "with --full")
    b.add_argument("--busy", action="store_true",
                   help="time everything next to a CPU-bound process started on another "
                        "core (the last CPU of the affinity mask): a busy production server")
    b.add_argument("--json", metavar="FILE",
                   help="also write the results (medians, ratios, differences, versions, "
                        "CPU tier, threads) to FILE as JSON")
    b.add_argument("--plot", metavar="FILE",
                   help="also draw kl_ext's speed-up per workload and competitor (log "
                        "scale) to FILE (.png, .svg or .pdf; needs matplotlib)")

    s = sub.add_parser("score", help="score distributions read from .npy/.csv/.parquet "
                       "files",
                       description="Score each distribution (row) of P against the same row "
                       "of Q, or against Q's single reference row. Files are .npy, .csv "
                       "(comma separated) or .parquet (needs pyarrow); a 1-D file is one "
                       "distribution. .npy and .parquet inputs are read in blocks of rows "
                       "(a .npy through a memory map), so files larger than memory work "
                       "in bounded memory; .csv inputs are read whole. Scores go to --out "
                       "(.npy, .csv or .parquet, by extension; written to a temporary file "
                       "that replaces FILE only when every row is scored) or to stdout, "
                       "one per line, printed exactly (repr). A progress bar (with tqdm "
                       "installed) goes to stderr when it is a terminal.")
    s.add_argument("P", help="distributions, .npy, .csv or .parquet")
    s.add_argument("Q", nargs="?", help="distributions of the same shape, or one reference "
                   "row; omitted for --measure entropy")
    s.add_argument("--measure", required=True,
                   choices=list(SCORE_MEASURES) + list(_ALIASES), metavar="MEASURE",
                   help="one of: " + ", ".join(SCORE_MEASURES))
    s.add_argument("--base", type=float, metavar="B",
                   help="logarithm base (default: natural log, nats; 2 gives bits)")
    s.add_argument("--out", metavar="FILE",
                   help="write the scores to FILE (.npy, .csv or .parquet)")
    s.add_argument("--axis", type=int, default=-1, metavar="A",
                   help="-1 (default): one distribution per row; 0: one per column "
                   "(streams only a Fortran-order .npy)")
    s.add_argument("--column", action="append", metavar="NAME",
                   help="Parquet column(s) forming the rows (repeatable or comma "
                   "separated): one fixed-size-list column, or numeric columns, one "
                   "element each; default: all columns")
    s.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none unless stderr is a terminal)")
    s.add_argument("--scheduler", metavar="ADDRESS",
                   help="score on the existing Dask cluster at ADDRESS (e.g. "
                   "tcp://10.0.0.5:8786) with kl_ext.dask; each task memory-maps its "
                   "own rows, so the workers need the .npy files at the same paths "
                   "(needs kl_ext[dask])")
    s.add_argument("--workers", type=int, metavar="N",
                   help="score on a local Dask cluster of N worker processes, one "
                   "thread each (localhost only, no dashboard; needs kl_ext[dask])")
    s.add_argument("--block-rows", type=int, metavar="N", help=argparse.SUPPRESS)

    a = sub.add_parser("accuracy", help="relative error against exact arithmetic, "
                       "kl_ext beside the NumPy reference, SciPy, NumKong and torch",
                       description="Measure the relative error (median and worst over "
                       "seeded rows) of every measure against exact arithmetic on the "
                       "given float inputs (mpmath at 160 bits; exact integers for "
                       "Wasserstein), for kl_ext, kl_ext.reference, SciPy, NumKong and "
                       "torch (those installed), in the regimes: random rows, nearly "
                       "identical rows q = p(1 + d eps) at d = 1e-4 ... 1e-13, "
                       "proportional rows, long rows (1e6, 1e7; float64 and float32), "
                       "wide dynamic range with subnormals, integer counts up to 2^52, "
                       "histograms of 1e3 ... 1e7 bins and weighted samples. Prints the "
                       "environment and a table; the default run takes about a minute "
                       "or two, --quick a few seconds.")
    a.add_argument("--quick", action="store_true",
                   help="small rows and few of them (a few seconds; for tests)")
    a.add_argument("--measure", action="append", metavar="NAME",
                   help="only this measure (repeatable): a kl_ext function name, e.g. "
                        "kl_divergence or wasserstein_hist")
    a.add_argument("--regime", action="append", metavar="NAME",
                   help="only this regime (repeatable): random, near, proportional, "
                        "long, wide, counts, hist, samples")
    a.add_argument("--seed", type=int, default=20261206, metavar="N",
                   help="seed of the inputs (default 20261206)")
    a.add_argument("--json", metavar="FILE",
                   help="also write the results (errors per row, exact values, "
                        "environment) to FILE as JSON; '-' prints the JSON instead of "
                        "the table")
    a.add_argument("--plot", metavar="FILE",
                   help="also draw worst error against d and against n (log-log) to "
                        "FILE (.png, .svg or .pdf; needs matplotlib)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``kl-ext``; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            return _error(f"a command is required: bench, score or accuracy "
                          f"(see '{PROG} --help')", 2)
        if args.command in ("bench", "accuracy"):
            args.argv = list(sys.argv[1:] if argv is None else argv)
            return _bench(args) if args.command == "bench" else _accuracy(args)
        return _score(args)
    except _UsageError as exc:
        return _error(exc.message, 2)
    except CLIError as exc:
        return _error(exc, 1)
    except KeyboardInterrupt:
        return _error("interrupted", 130)
    except BrokenPipeError:
        # stdout closed early (e.g. piped into head): quiet exit
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 1
    except MemoryError:
        return _error("out of memory", 1)
    except Exception as exc:  # last resort: still one line, never a traceback
        return _error(f"unexpected {type(exc).__name__}: {exc}", 1)


if __name__ == "__main__":
    sys.exit(main())
