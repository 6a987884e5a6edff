"""The ``kl-ext`` console script.

``kl-ext bench [--quick] [--full] [--json FILE] [--plot FILE.png] ...``
    Time kl_ext against :mod:`kl_ext.reference`, SciPy, NumKong and POT
    (those installed) on built-in workloads and print a table; optionally
    write the results as JSON and a speed-up chart (see :mod:`kl_ext.bench`).
``kl-ext score P [Q] --measure M [--base B] [--out FILE] [--axis A]``
    Score each distribution (row) of the ``.npy``/``.csv`` file P, against the
    matching row of Q or against a single reference row Q, and write one
    score per row to FILE (``.npy`` or ``.csv``) or print them one per line.

Every failure prints one line ``kl-ext: error: ...`` on stderr and exits
with a non-zero status (2 for usage errors, 1 for everything else); no
traceback is shown.  Run as ``kl-ext ...`` or ``python -m kl_ext.cli ...``.
"""

import argparse
import os
import sys
import warnings

PROG = "kl-ext"

# --measure name -> public function name in kl_ext
SCORE_MEASURES = {
    "entropy": "entropy",
    "cross_entropy": "cross_entropy",
    "kl": "kl_divergence",
    "js": "js_divergence",
    "js_distance": "js_distance",
    "tv": "total_variation",
}
# the full function names are accepted too
_ALIASES = {v: k for k, v in SCORE_MEASURES.items() if v != k}

_FORMATS = (".npy", ".csv")


class CLIError(Exception):
    """A failure reported as ``kl-ext: error: <message>`` with exit status 1."""


class _UsageError(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (no usage block) and raise."""

    def error(self, message):
        raise _UsageError(f"{message} (see '{self.prog} --help')")


def _one_line(text):
    return " ".join(str(text).split())


def _error(message, status):
    print(f"{PROG}: error: {_one_line(message)}", file=sys.stderr)
    return status


# --------------------------------------------------------------------------
# score

def _ext(path):
    return os.path.splitext(path)[1].lower()


def _load(path, name):
    """Read `path` (.npy or .csv) as a 1-D or 2-D real array."""
    import numpy as np
    ext = _ext(path)
    if ext not in _FORMATS:
        raise CLIError(f"{name} file {path!r}: unsupported format {ext or '(no extension)'!r}; "
                       "use .npy or .csv")
    if not os.path.exists(path):
        raise CLIError(f"{name} file {path!r} does not exist")
    if os.path.isdir(path):
        raise CLIError(f"{name} file {path!r} is a directory")
    try:
        if ext == ".npy":
            a = np.load(path, allow_pickle=False)
        else:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. "input contained no data"
                a = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64)
    except Exception as exc:  # any reader failure becomes one line
        raise CLIError(f"cannot read {name} file {path!r} as {ext}: "
                       f"{type(exc).__name__}: {exc}") from None
    if not isinstance(a, np.ndarray):
        raise CLIError(f"{name} file {path!r} does not hold a single array")
    if a.dtype.kind not in "biuf":
        raise CLIError(f"{name} file {path!r} holds dtype {a.dtype}; "
                       "expected real numbers")
    if a.ndim not in (1, 2):
        raise CLIError(f"{name} file {path!r} holds an array of shape {a.shape}; "
                       "expected 1-D (one distribution) or 2-D (one per row)")
    if a.size == 0:
        raise CLIError(f"{name} file {path!r} holds no values (shape {a.shape})")
    return a


def _score(args):
    import numpy as np

    import kl_ext

    measure = _ALIASES.get(args.measure, args.measure)
    fname = SCORE_MEASURES[measure]
    if measure == "entropy":
        if args.Q is not None:
            raise CLIError("--measure entropy takes only P; got a second file "
                           f"{args.Q!r}")
    elif args.Q is None:
        raise CLIError(f"--measure {measure} needs two files, P and Q")
    if measure == "tv" and args.base is not None:
        raise CLIError("--base does not apply to --measure tv (total variation has no unit)")
    if args.axis not in (-2, -1, 0, 1):
        raise CLIError(f"--axis must be -1 or 1 (distributions in rows) or 0 "
                       f"(distributions in columns), got {args.axis}")
    if args.out is not None and _ext(args.out) not in _FORMATS:
        raise CLIError(f"--out {args.out!r}: unsupported format "
                       f"{_ext(args.out) or '(no extension)'!r}; use .npy or .csv")
    if args.out is not None:
        d = os.path.dirname(os.path.abspath(args.out))
        if not os.path.isdir(d):
            raise CLIError(f"--out {args.out!r}: directory {d!r} does not exist")

    p = _load(args.P, "P")
    columns = args.axis in (0, -2)
    if p.ndim == 1:
        p = p[:, None] if columns else p[None, :]
    ax = 0 if columns else 1
    n = p.shape[ax]
    kwargs = {} if measure == "tv" else {"base": args.base}
    if measure == "entropy":
        call_args = (p,)
    else:
        q = _load(args.Q, "Q")
        if q.ndim == 1 or q.shape[1 - ax] == 1:
            # one reference distribution, broadcast against every one of P
            q = q.reshape(-1)
            if q.shape[0] != n:
                raise CLIError(f"Q is one distribution of length {q.shape[0]} but the "
                               f"distributions of P have length {n}")
            q = q[:, None] if columns else q[None, :]
        elif q.shape != p.shape:
            what = "columns" if columns else "rows"
            raise CLIError(f"P has shape {p.shape} and Q has shape {q.shape}: Q must have "
                           f"the same shape, or be a single distribution of length {n} "
                           f"(one of P's {what})")
        call_args = (p, q)
    fn = getattr(kl_ext, fname)
    try:
        with np.errstate(all="ignore"):
            scores = fn(*call_args, axis=ax, **kwargs)
    except (ValueError, TypeError) as exc:
        raise CLIError(_one_line(exc)) from None
    scores = np.atleast_1d(np.asarray(scores))

    if args.out is None:
        lines = "\n".join(repr(float(s)) for s in scores)
        sys.stdout.write(lines + "\n")
        return 0
    try:
        if _ext(args.out) == ".npy":
            with open(args.out, "wb") as f:  # np.save(name) would append ".npy" to ".NPY"
                np.save(f, scores)
        else:
            with open(args.out, "w", encoding="ascii") as f:
                f.write("".join(repr(float(s)) + "\n" for s in scores))
    except OSError as exc:
        raise CLIError(f"cannot write {args.out!r}: {exc.strerror or exc}") from None
    return 0


# --------------------------------------------------------------------------
# bench

def _sizes(values):
    out = []
    for v in values or ():
        out.extend(s.strip() for s in v.split(",") if s.strip())
    return out


def _threads(values):
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


def _check_out_file(path, option, formats=None):
    if formats is not None and _ext(path) not in formats:
        raise _UsageError(f"{option} {path!r}: unsupported format "
                          f"{_ext(path) or '(no extension)'!r}; use {', '.join(formats)}")
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise CLIError(f"{option} {path!r}: directory {d!r} does not exist")
    if os.path.isdir(path):
        raise CLIError(f"{option} {path!r} is a directory")


def _bench(args):
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
        _check_out_file(args.plot, "--plot", _PLOT_FORMATS)
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CLIError("--plot needs matplotlib, which is not installed "
                           "(pip install matplotlib)") from None
    if not bench.workloads(args.measure, sizes, full=args.full, threads=threads):
        raise CLIError("no workload matches the selected --measure and --sizes")
    try:
        return bench.main_bench(args.measure, sizes, quick=args.quick, budget=args.budget,
                                full=args.full, threads=threads, json_path=args.json,
                                plot_path=args.plot, argv=["kl-ext"] + list(args.argv))
    except OSError as exc:
        name = getattr(exc, "filename", None)
        raise CLIError(f"cannot write {name!r}: {exc.strerror or exc}" if name
                       else str(exc)) from None


# --------------------------------------------------------------------------

def build_parser():
    """The argument parser of ``kl-ext``."""
    parser = _Parser(prog=PROG, description="Fast information measures: benchmark and "
                     "score distributions from files.")
    sub = parser.add_subparsers(dest="command", metavar="{bench,score}", parser_class=_Parser)

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
                   help="OpenMP thread limits to run (space or comma separated; applied "
                        "with threadpoolctl); default: the library's default, or 1 2 "
                        "with --full")
    b.add_argument("--json", metavar="FILE",
                   help="also write the results (medians, ratios, differences, versions, "
                        "CPU tier, threads) to FILE as JSON")
    b.add_argument("--plot", metavar="FILE",
                   help="also draw kl_ext's speed-up per workload and competitor (log "
                        "scale) to FILE (.png, .svg or .pdf; needs matplotlib)")

    s = sub.add_parser("score", help="score distributions read from .npy/.csv files",
                       description="Score each distribution (row) of P against the same row "
                       "of Q, or against Q's single reference row. Files are .npy or .csv "
                       "(comma separated); a 1-D file is one distribution. Scores go to "
                       "--out (.npy or .csv, by extension) or to stdout, one per line, "
                       "printed exactly (repr).")
    s.add_argument("P", help="distributions, .npy or .csv")
    s.add_argument("Q", nargs="?", help="distributions of the same shape, or one reference "
                   "row; omitted for --measure entropy")
    s.add_argument("--measure", required=True,
                   choices=list(SCORE_MEASURES) + list(_ALIASES), metavar="MEASURE",
                   help="one of: " + ", ".join(SCORE_MEASURES))
    s.add_argument("--base", type=float, metavar="B",
                   help="logarithm base (default: natural log, nats; 2 gives bits)")
    s.add_argument("--out", metavar="FILE", help="write the scores to FILE (.npy or .csv)")
    s.add_argument("--axis", type=int, default=-1, metavar="A",
                   help="-1 (default): one distribution per row; 0: one per column")
    return parser


def main(argv=None):
    """Entry point of ``kl-ext``; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            return _error(f"a command is required: bench or score (see '{PROG} --help')", 2)
        if args.command == "bench":
            args.argv = list(sys.argv[1:] if argv is None else argv)
            return _bench(args)
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
