"""Benchmark runner behind ``kl-ext bench``.

Times every registered *workload* -- one measure on one seeded input -- for
kl_ext and its competitors on the same arrays: :mod:`kl_ext.reference`
(plain NumPy), SciPy, NumKong (``pip install numkong``; KL and Jensen-Shannon)
and POT (``pip install POT``; 1-D Wasserstein), each when installed.  It
prints a table of median times per call and speed-ups, in the spirit of
bottleneck's ``bn.bench()``, and can write the results as JSON
(:func:`to_json`) and a speed-up chart (:func:`plot`).

A workload is a :class:`Workload`: a measure name, a size tag (what
``--sizes`` selects), a label for the table, a function building the inputs
from a seeded ``numpy.random.Generator``, and one *factory* per competitor (a
zero-argument function returning the callable to time, so that SciPy is only
imported when a benchmark runs; a factory raising ImportError, or ``None``,
marks a missing competitor).  Register more with :func:`register`;
:func:`default_workloads` holds the built-in ones (the six divergence
measures in float64 at n = 10, 1e3, 1e6 and 1e5 rows of 10, plus the 1-D
Wasserstein ones when :mod:`kl_ext.wasserstein` is present) and
:func:`full_workloads` the full matrix (measure × float64/float32 × n = 10,
1e3, 1e5, 1e7 / 1e5 × 10 rows / 1e3 × 1e4 rows / 1e5 rows against one
broadcast reference row × 1 and 2 threads).  For example::

    from kl_ext import bench
    bench.register(bench.Workload(
        measure="entropy", size="1e4", label="n=1e4",
        make_inputs=lambda rng: (rng.random(10_000),),
        kl_ext=lambda: kl_ext.entropy, reference=lambda: reference.entropy))

Inputs are seeded, strictly positive and normalised (rows sum to 1 in
float64 before any cast to float32), so that competitors that do not
normalise (NumKong, POT) compute the same quantity; kl_ext normalises them
anyway (``normalize=True``).

Every competitor's result is compared with kl_ext's before it is timed: the
largest relative difference is kept (:attr:`Timing.rel_diff`) and a
difference beyond ``rtol=1e-6`` is marked ``!`` in the table and listed
under it.

Threads: a workload with ``threads=N`` is timed inside
``threadpoolctl.threadpool_limits(N, user_api="openmp")`` (OpenMP's thread
count sizes kl_ext's worker pool, which runs calls with >= 131072
elements); the competitors run in the same
limit (NumPy, SciPy and NumKong are single-threaded here).  Without
threadpoolctl the limit cannot be changed after import, and the table says
so.

Timing: like :meth:`timeit.Timer.autorange`, the loop count is the first of
1, 2, 5, 10, 20, 50, ... whose loop takes at least ``target`` seconds; then
the loop is repeated (garbage collection off) until the cell's time budget
is spent, at least ``min_repeats`` and at most ``max_repeats`` times, and
the median of the per-call times is reported.  The calibration loops are
not counted (they include first-touch page faults).
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import itertools
import json
import math
import os
import platform
import statistics
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, ContextManager, Optional

if TYPE_CHECKING:
    import subprocess

import numpy as np

from . import _table

__all__ = ["Workload", "Timing", "register", "default_workloads", "full_workloads",
           "workloads", "time_call", "run", "format_table", "header", "main_bench",
           "known_measures", "known_sizes", "human_time", "to_json", "write_json",
           "plot", "thread_info", "SIZES", "FULL_SIZES", "MEASURES", "COMPETITORS"]

#: measure names of the built-in workloads, in table order
MEASURES = tuple(m.name for m in _table.MEASURES)
#: competitors timed against kl_ext, in column order -> column title
COMPETITORS = {"reference": "reference", "scipy": "SciPy", "numkong": "NumKong",
               "pot": "POT"}
#: size tags of the default run -> (shape of p, shape of q, table label)
SIZES = {
    "10": ((10,), (10,), "n=10"),
    "1e3": ((1000,), (1000,), "n=1e3"),
    "1e6": ((1_000_000,), (1_000_000,), "n=1e6"),
    "1e5x10": ((100_000, 10), (100_000, 10), "1e5×10 rows [a]"),
}
#: size tags of ``--full`` -> (shape of p, shape of q, table label)
FULL_SIZES = {
    "10": ((10,), (10,), "n=10"),
    "1e3": ((1000,), (1000,), "n=1e3"),
    "1e5": ((100_000,), (100_000,), "n=1e5"),
    "1e7": ((10_000_000,), (10_000_000,), "n=1e7"),
    "1e5x10": ((100_000, 10), (100_000, 10), "1e5×10 rows [a]"),
    "1e3x1e4": ((1000, 10_000), (1000, 10_000), "1e3×1e4 rows [a]"),
    "1e5x10b": ((100_000, 10), (10,), "1e5×10 vs 1 row [d]"),
}
#: float dtypes of ``--full``
FULL_DTYPES = ("float64", "float32")
#: thread counts of ``--full``
FULL_THREADS = (1, 2)
_SEED = 20240229
#: seconds of repeated timing per table cell (the whole default table: ~1 min)
DEFAULT_BUDGET = 0.4
#: ... and for --full (the full matrix: a few minutes on 2 cores)
FULL_BUDGET = 0.15
#: relative difference from kl_ext beyond which a competitor is marked "!"
RTOL = 1e-6

FOOTNOTES = {
    "a": ("[a] one call over all rows (reduction along the last axis; SciPy via "
          "axis=1); the time is for the whole call, not per row."),
    "b": ("[b] inputs already sorted; kl_ext is told so (assume_sorted=True) and skips "
          "the sort, as does POT (require_sort=False); the reference and SciPy sort "
          "anyway."),
    "c": ("[c] one call over 1e4 pairs of histograms with 100 bins at 0, 1, ..., 99; "
          "the reference and SciPy (wasserstein_distance(x, x, p_i, q_i)) have no "
          "batched form, so their columns are a Python loop over the rows; POT is one "
          "batched wasserstein_1d call over the columns of the transposed arrays."),
    "d": ("[d] one call over 1e5 rows of 10 against a single reference row of shape "
          "(10,) (broadcast; SciPy gets it as a (1, 10) view)."),
}


@dataclass(frozen=True)
class Workload:
    """One benchmark table row: a measure on one seeded input.

    Parameters
    ----------
    measure : str
        Name shown in the first column (e.g. ``"kl_divergence"``); what
        ``--measure`` selects.
    size : str
        Size tag that ``--sizes`` selects (e.g. ``"1e3"``, ``"1e5x10"``).
    label : str
        Case description shown in the table; may end in a footnote mark
        such as ``[a]`` whose text is in `footnotes`.
    make_inputs : callable
        ``make_inputs(rng) -> tuple`` of positional arguments, built once
        and passed unchanged to every competitor.
    kl_ext, reference, scipy, numkong, pot : callable or None
        Factories: ``factory() -> fn`` with ``fn(*inputs)`` the call to
        time.  A factory may raise ImportError (competitor not installed);
        ``None`` means there is no such competitor for this workload.
    footnotes : dict
        Footnote mark -> text, printed under the table.
    dtype : str
        Input dtype name (``"float64"`` or ``"float32"``), for the JSON and
        the table.
    threads : int or None
        Thread limit of the timed calls (via threadpoolctl), or None for the
        library's default.
    """

    measure: str
    size: str
    label: str
    make_inputs: Callable[[np.random.Generator], tuple[Any, ...]]
    kl_ext: Callable[[], Callable[..., Any]]
    reference: Optional[Callable[[], Callable[..., Any]]] = None
    scipy: Optional[Callable[[], Callable[..., Any]]] = None
    footnotes: dict[str, str] = field(default_factory=dict)
    numkong: Optional[Callable[[], Callable[..., Any]]] = None
    pot: Optional[Callable[[], Callable[..., Any]]] = None
    dtype: str = "float64"
    threads: Optional[int] = None


@dataclass
class Timing:
    """Median seconds per call of each competitor for one workload.

    ``None`` marks a competitor that is missing (not installed, or none for
    this measure).  `mismatch` names the competitors whose result differs
    from kl_ext's by more than ``RTOL``; `rel_diff` maps each competitor to
    the largest relative difference from kl_ext's result (``inf`` where one
    is infinite or NaN and the other is not).  `threads` is the thread count
    kl_ext could use during the timing (None if unknown), `elements` the
    number of elements of the first input.
    """

    workload: Workload
    kl_ext: float
    reference: Optional[float]
    scipy: Optional[float]
    mismatch: tuple[str, ...] = ()
    numkong: Optional[float] = None
    pot: Optional[float] = None
    rel_diff: dict[str, float] = field(default_factory=dict)
    threads: Optional[int] = None
    elements: Optional[int] = None

    def time_of(self, name: str) -> Optional[float]:
        """Median seconds per call of competitor `name` (or ``"kl_ext"``)."""
        value: Optional[float] = getattr(self, name)
        return value


_REGISTRY: list[Workload] = []


def register(workload: Workload) -> Workload:
    """Add a :class:`Workload` to the ones ``kl-ext bench`` runs; returns it."""
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a Workload, got {type(workload).__name__}")
    _REGISTRY.append(workload)
    return workload


# --------------------------------------------------------------------------
# built-in workloads: the divergence measures

def _pair_inputs(shape_p: tuple[int, ...], shape_q: tuple[int, ...], measure: str,
                 dtype: str = "float64") -> Callable[[np.random.Generator], tuple[Any, ...]]:
    """Seeded strictly positive normalised p (and q), the same for everyone."""
    def make(rng: np.random.Generator) -> tuple[Any, ...]:
        p = rng.random(shape_p) + 1e-3
        p /= p.sum(axis=-1, keepdims=True)
        if not _table.BY_NAME[measure].takes_q:
            return (p.astype(dtype, copy=False),)
        q = rng.random(shape_q) + 1e-3
        q /= q.sum(axis=-1, keepdims=True)
        return (p.astype(dtype, copy=False), q.astype(dtype, copy=False))
    return make


def _const(fn: Callable[..., Any]) -> Callable[[], Callable[..., Any]]:
    return lambda: fn


#: the measures SciPy has a counterpart of (no TV, no Hellinger distance)
_SCIPY_HAS = ("entropy", "cross_entropy", "kl_divergence", "js_divergence", "js_distance",
              "jeffreys_divergence")


def _scipy_factory(measure: str, batched: bool) -> Optional[Callable[[], Callable[..., Any]]]:
    """SciPy's counterpart of `measure` (None where SciPy has none)."""
    if measure not in _SCIPY_HAS:
        return None
    kw = {"axis": 1} if batched else {}

    def lift(q: Any) -> Any:
        # jensenshannon wants q with p's ndim when axis is given: a (1, n) view
        return q[np.newaxis] if batched and q.ndim == 1 else q

    def factory() -> Callable[..., Any]:
        from scipy.spatial.distance import jensenshannon
        from scipy.stats import entropy
        if measure == "entropy":
            return lambda p: entropy(p, **kw)
        if measure == "cross_entropy":
            return lambda p, q: entropy(p, **kw) + entropy(p, lift(q), **kw)
        if measure == "kl_divergence":
            return lambda p, q: entropy(p, lift(q), **kw)
        if measure == "js_divergence":
            return lambda p, q: jensenshannon(p, lift(q), **kw) ** 2
        if measure == "js_distance":
            return lambda p, q: jensenshannon(p, lift(q), **kw)
        if measure == "jeffreys_divergence":  # PSI: D(p||q) + D(q||p)
            return lambda p, q: entropy(p, lift(q), **kw) + entropy(lift(q), p, **kw)
        raise KeyError(measure)
    return factory


def _numkong_factory(measure: str) -> Optional[Callable[[], Callable[..., Any]]]:
    """NumKong's counterpart of `measure` (KL and JS only; None elsewhere).

    ``numkong.kullbackleibler`` and ``numkong.jensenshannon`` (the JS
    *distance*; squared for the divergence) do not normalise their inputs,
    which is why the benchmark inputs are normalised.
    """
    if measure not in ("kl_divergence", "js_divergence", "js_distance"):
        return None

    def factory() -> Any:
        import numkong as nk
        if measure == "kl_divergence":
            return nk.kullbackleibler
        if measure == "js_distance":
            return nk.jensenshannon
        # Any: NumKong's stubs type the result as float | Tensor | None
        # (it depends on the inputs' shapes), np.square takes the float.
        js: Any = nk.jensenshannon
        return lambda p, q: np.square(js(p, q))
    return factory


def _case_label(label: str, dtype: str) -> str:
    """`label` with the dtype added before any footnote mark (float64 is implied)."""
    if dtype == "float64":
        return label
    base, sep, rest = label.partition(" [")
    return f"{base} {dtype}{sep}{rest}"


def _divergence_workloads(sizes: dict[str, Any] = SIZES, dtypes: Sequence[str] = ("float64",),
                          threads: Sequence[Optional[int]] = (None,)) -> list[Workload]:
    import kl_ext
    from kl_ext import reference
    out = []
    for measure in MEASURES:
        for dtype in dtypes:
            for size, (shape_p, shape_q, label) in sizes.items():
                if not _table.BY_NAME[measure].takes_q and shape_q != shape_p:
                    continue  # entropy has no q to broadcast
                batched = len(shape_p) == 2
                notes = {m: FOOTNOTES[m] for m in "ad" if f"[{m}]" in label}
                for t in threads:
                    out.append(Workload(
                        measure=measure, size=size, label=_case_label(label, dtype),
                        make_inputs=_pair_inputs(shape_p, shape_q, measure, dtype),
                        kl_ext=_const(getattr(kl_ext, measure)),
                        reference=_const(getattr(reference, measure)),
                        scipy=_scipy_factory(measure, batched),
                        numkong=_numkong_factory(measure),
                        footnotes=notes, dtype=dtype, threads=t))
    return out


def _wasserstein_workloads(threads: Sequence[Optional[int]] = (None,)) -> list[Workload]:
    """1-D Wasserstein workloads, if kl_ext.wasserstein exists."""
    try:
        from kl_ext import wasserstein as w
    except ImportError:
        return []
    fn_1d = getattr(w, "wasserstein_1d", None)
    fn_hist = getattr(w, "wasserstein_hist", None)
    try:
        from kl_ext import reference_wasserstein as rw
    except ImportError:
        rw = None  # type: ignore[assignment]
    ref_1d = getattr(rw, "wasserstein_1d", None)
    ref_hist: Any = getattr(rw, "wasserstein_hist", None)

    def scipy_w1() -> Any:  # (SciPy's functions are untyped)
        from scipy.stats import wasserstein_distance
        return wasserstein_distance

    def pot_w1(presorted: bool) -> Callable[[], Callable[..., Any]]:
        def factory() -> Callable[..., Any]:
            import ot
            return lambda *a: ot.wasserstein_1d(*a, p=1, require_sort=not presorted)
        return factory

    out = []
    if fn_1d is not None:
        for size, n in (("1e3", 1000), ("1e6", 1_000_000)):
            for kind in ("unweighted", "weighted", "pre-sorted"):
                def make(rng: np.random.Generator, n: int = n,
                         kind: str = kind) -> tuple[Any, ...]:
                    u = rng.normal(0.0, 1.0, n)
                    v = rng.normal(0.5, 1.5, n)
                    if kind == "pre-sorted":
                        u.sort()
                        v.sort()
                    if kind == "weighted":
                        a = rng.random(n) + 1e-3
                        b = rng.random(n) + 1e-3
                        return (u, v, a / a.sum(), b / b.sum())   # POT wants sums of 1
                    return (u, v)
                mine = fn_1d
                if kind == "pre-sorted":
                    def mine(u: Any, v: Any, _f: Callable[..., Any] = fn_1d) -> Any:
                        return _f(u, v, assume_sorted=True)
                for t in threads:
                    out.append(Workload(
                        measure="wasserstein_1d", size=size,
                        label=f"n=m={size} {kind}" + (" [b]" if kind == "pre-sorted" else ""),
                        make_inputs=make, kl_ext=_const(mine),
                        reference=_const(ref_1d) if ref_1d is not None else None,
                        scipy=scipy_w1, pot=pot_w1(kind == "pre-sorted"),
                        footnotes={"b": FOOTNOTES["b"]} if kind == "pre-sorted" else {},
                        threads=t))
    if fn_hist is not None:
        centers = np.arange(100.0)

        def make_hist(rng: np.random.Generator) -> tuple[Any, ...]:
            a = rng.random((10_000, 100)) + 1e-3
            b = rng.random((10_000, 100)) + 1e-3
            return (a / a.sum(axis=1, keepdims=True), b / b.sum(axis=1, keepdims=True))

        def scipy_hist() -> Callable[..., Any]:
            from scipy.stats import wasserstein_distance

            def loop(a: Any, b: Any) -> Any:
                return np.array([wasserstein_distance(centers, centers, x, y)
                                 for x, y in zip(a, b)])
            return loop

        def pot_hist() -> Callable[..., Any]:
            import ot
            grid = np.broadcast_to(centers[:, None], (100, 10_000))
            return lambda a, b: ot.wasserstein_1d(grid, grid, a.T, b.T, p=1,
                                                  require_sort=False)

        def ref_loop(a: Any, b: Any) -> Any:
            return np.array([ref_hist(x, y) for x, y in zip(a, b)])

        for t in threads:
            out.append(Workload(
                measure="wasserstein_hist", size="1e4x100",
                label="1e4×100 bins [c]", make_inputs=make_hist,
                kl_ext=_const(fn_hist),
                reference=_const(ref_loop) if ref_hist is not None else None,
                scipy=scipy_hist, pot=pot_hist, footnotes={"c": FOOTNOTES["c"]},
                threads=t))
    return out


def default_workloads(threads: Sequence[Optional[int]] = (None,)) -> list[Workload]:
    """The built-in workloads of the default run (float64 divergences, Wasserstein)."""
    return _divergence_workloads(SIZES, ("float64",), threads) + _wasserstein_workloads(threads)


def full_workloads(threads: Sequence[Optional[int]] = FULL_THREADS) -> list[Workload]:
    """The full matrix: measure × dtype × size/layout × threads, plus Wasserstein."""
    return (_divergence_workloads(FULL_SIZES, FULL_DTYPES, threads)
            + _wasserstein_workloads(threads))


def workloads(measures: Optional[Iterable[str]] = None, sizes: Optional[Iterable[str]] = None, *,
              full: bool = False,
              threads: Optional[Sequence[Optional[int]]] = None) -> list[Workload]:
    """Built-in (default or `full`) plus registered workloads, filtered.

    `threads` is a sequence of thread counts (None entries: the library's
    default); it defaults to ``(None,)``, or ``FULL_THREADS`` with `full`.
    """
    if threads is None:
        threads = FULL_THREADS if full else (None,)
    out = (full_workloads(threads) if full else default_workloads(threads)) + list(_REGISTRY)
    if measures:
        out = [w for w in out if w.measure in measures]
    if sizes:
        out = [w for w in out if w.size in sizes]
    return out


# --------------------------------------------------------------------------
# timing

def _loop(fn: Callable[..., Any], args: Sequence[Any], number: int) -> float:
    it = itertools.repeat(None, number)
    t0 = time.perf_counter()
    for _ in it:
        fn(*args)
    return time.perf_counter() - t0


def time_call(fn: Callable[..., Any], args: Sequence[Any], *, budget: float = 0.5,
              target: float = 0.01, min_repeats: int = 3, max_repeats: int = 50) -> float:
    """Median seconds per call of ``fn(*args)``.

    The loop count is calibrated timeit-style (1, 2, 5, 10, ... until one
    loop takes ``target`` seconds); the loop is then repeated until `budget`
    seconds are used, between `min_repeats` and `max_repeats` times.
    """
    gcold = gc.isenabled()
    gc.disable()
    try:
        number = 1
        for i in itertools.count():
            number = (1, 2, 5)[i % 3] * 10 ** (i // 3)
            if _loop(fn, args, number) >= target:
                break
        samples: list[float] = []
        start = time.perf_counter()
        while len(samples) < max_repeats and (
                len(samples) < min_repeats or time.perf_counter() - start < budget):
            samples.append(_loop(fn, args, number) / number)
    finally:
        if gcold:
            gc.enable()
    return statistics.median(samples)


def _resolve(factory: Optional[Callable[[], Callable[..., Any]]]
             ) -> Optional[Callable[..., Any]]:
    if factory is None:
        return None
    try:
        return factory()
    except ImportError:
        return None


def _rel_diff(x: Any, ref: Any) -> float:
    """Largest relative difference of `x` from `ref` (0 where both are equal or NaN)."""
    try:
        x, ref = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(ref, np.float64))
    except ValueError:
        return math.inf
    with np.errstate(all="ignore"):
        d = np.abs(x - ref) / np.maximum(np.abs(ref), np.finfo(np.float64).tiny)
    d = np.where((x == ref) | (np.isnan(x) & np.isnan(ref)), 0.0, d)
    d = np.where(np.isnan(d), np.inf, d)
    return float(d.max()) if d.size else 0.0


def _agrees(x: Any, ref: Any) -> bool:
    """Whether `x` equals `ref` within ``RTOL`` (and atol 1e-12), NaN equal to NaN."""
    try:
        return bool(np.allclose(x, ref, rtol=RTOL, atol=1e-12, equal_nan=True))
    except ValueError:  # shapes that do not broadcast
        return False


def _openmp_threads() -> Optional[int]:
    """Threads kl_ext's kernels may use now (None if unknown)."""
    try:
        from kl_ext import measures
        return int(measures._k.max_threads())
    except Exception:  # an old build without the query
        return None


def _threadpoolctl() -> Any:
    try:
        import threadpoolctl
    except ImportError:
        return None
    return threadpoolctl


def _thread_limit(threads: Optional[int]) -> ContextManager[Any]:
    """Context manager limiting OpenMP to `threads` (no-op for None or without threadpoolctl)."""
    tpc = _threadpoolctl()
    if threads is None or tpc is None:
        return contextlib.nullcontext()
    limits: ContextManager[Any] = tpc.threadpool_limits(limits=int(threads), user_api="openmp")
    return limits


def run(selected: Iterable[Workload], *, quick: bool = False, budget: Optional[float] = None,
        seed: int = _SEED, progress: Optional[Callable[[Timing], Any]] = None) -> list[Timing]:
    """Time every workload in `selected`; return a list of :class:`Timing`."""
    if budget is None:
        budget = 0.02 if quick else DEFAULT_BUDGET
    opts: dict[str, Any] = dict(budget=budget, target=0.001 if quick else 0.005,
                min_repeats=3, max_repeats=5 if quick else 40)
    results = []
    names = ("kl_ext",) + tuple(COMPETITORS)
    for w in selected:
        args = w.make_inputs(np.random.default_rng(seed))
        times: dict[str, Optional[float]] = {}
        values: dict[str, Any] = {}
        with _thread_limit(w.threads):
            used = _openmp_threads()
            for name in names:
                fn = _resolve(getattr(w, name))
                if fn is None:
                    times[name] = None
                    continue
                with np.errstate(all="ignore"):
                    values[name] = np.asarray(fn(*args), dtype=np.float64)
                    times[name] = time_call(fn, args, **opts)
        # a benchmark of a wrong answer is worthless: flag disagreements
        rel = {name: _rel_diff(values[name], values["kl_ext"])
               for name in COMPETITORS if name in values}
        mismatch = tuple(name for name in COMPETITORS
                         if name in values and not _agrees(values[name], values["kl_ext"]))
        elements = int(np.size(args[0])) if args else None
        # (times["kl_ext"]: a float, the workload's own kl_ext factory resolved)
        results.append(Timing(w, times["kl_ext"], times["reference"],  # type: ignore[arg-type]
                              times["scipy"], mismatch, numkong=times["numkong"], pot=times["pot"],
                              rel_diff=rel, threads=used, elements=elements))
        if progress is not None:
            progress(results[-1])
    return results


# --------------------------------------------------------------------------
# output

def human_time(seconds: Optional[float]) -> str:
    """``1.23 µs``-style rendering of a duration in seconds (3 significant digits)."""
    if seconds is None:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            v = seconds / scale
            return f"{v:.3g} {unit}" if v < 1000 else f"{v:.0f} {unit}"
    raise AssertionError("unreachable: the loop returns at 'ns'")


def _speedup(other: Optional[float], mine: float) -> Optional[float]:
    if other is None or mine is None or mine <= 0:
        return None
    return other / mine


def _ratio(other: Optional[float], mine: float) -> str:
    r = _speedup(other, mine)
    if r is None:
        return "—"
    return f"{r:.3g}×" if r < 1000 else f"{r:.0f}×"


def _cpu_name() -> str:
    """CPU model, clock and widest SIMD level, from /proc/cpuinfo where there is one."""
    info = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "cpu mhz", "flags") and key not in info:
                    info[key] = value.strip()
                if len(info) == 3:
                    break
    except OSError:
        pass
    name = info.get("model name") or platform.processor() or platform.machine() or "unknown CPU"
    extra = []
    if "cpu mhz" in info:
        try:
            extra.append(f"{float(info['cpu mhz']) / 1000:.2f} GHz")
        except ValueError:
            pass
    flags = set(info.get("flags", "").split())
    simd = next((s for s in ("avx512f", "avx2", "avx", "sse4_2") if s in flags), None)
    if simd:
        extra.append(simd.upper().replace("AVX512F", "AVX-512").replace("SSE4_2", "SSE4.2"))
    return name + (f", {', '.join(extra)}" if extra else "")


def _version(module: str, dist: Optional[str] = None) -> Optional[str]:
    """Installed version of `module` (None when it cannot be imported), without importing it."""
    import importlib.metadata
    import importlib.util
    try:
        if importlib.util.find_spec(module) is None:
            return None
    except (ImportError, ValueError):
        return None
    try:
        return importlib.metadata.version(dist or module)
    except importlib.metadata.PackageNotFoundError:
        return getattr(__import__(module), "__version__", "?")


def _versions() -> dict[str, Optional[str]]:
    import kl_ext
    return {"kl_ext": kl_ext.__version__, "numpy": np.__version__,
            "scipy": _version("scipy"), "numkong": _version("numkong"),
            "pot": _version("ot", "POT"), "threadpoolctl": _version("threadpoolctl"),
            "python": platform.python_version()}


def thread_info() -> dict[str, Any]:
    """CPU tier and threading facts of the kl_ext kernels, as a dict."""
    tier, tiers, openmp = None, [], None
    try:
        from kl_ext import _cpu, measures
        tier = measures.CPU_TIER
        tiers = list(_cpu.available_tiers("kl_ext._divergence"))
        openmp = bool(measures._k.openmp_enabled())
    except Exception:  # an old build without these queries
        pass
    return {"cpu_tier": tier, "available_tiers": tiers,
            "forced_tier": os.environ.get("KL_EXT_CPU_TIER") or None,
            "openmp": openmp, "default_threads": _openmp_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "openmp_min_elements": 131072,
            "threadpoolctl": _threadpoolctl() is not None}


def header(threads: Optional[Sequence[Optional[int]]] = None) -> list[str]:
    """Versions, hardware, CPU tier and threads, printed above the table.

    `threads` is the sequence of thread limits the run uses (None: the
    library's default).
    """
    v = _versions()

    def ver(key: str, missing: str) -> str:
        val = v[key]
        return val if val is not None else f"not installed ({missing})"
    ncpu = os.cpu_count()
    lines = [f"kl_ext {v['kl_ext']} · NumPy {v['numpy']} · SciPy "
             f"{ver('scipy', 'SciPy columns left empty')} · Python {v['python']}",
             f"NumKong {ver('numkong', 'pip install numkong')} · POT "
             f"{ver('pot', 'pip install POT')}",
             f"CPU: {_cpu_name()} ({ncpu} logical cores) · {platform.system()} "
             f"{platform.machine()}"]
    ti = thread_info()
    tier = ti["cpu_tier"] or "unknown"
    built = ", ".join(ti["available_tiers"]) or "?"
    forced = f", forced by KL_EXT_CPU_TIER={ti['forced_tier']}" if ti["forced_tier"] else ""
    lines.append(f"kl_ext kernels: CPU tier {tier} (built: {built}{forced})")
    if ti["openmp"] is False:
        lines.append("threads: 1 (kl_ext built without OpenMP)")
    else:
        counts = sorted({t for t in (threads or (None,)) if t is not None})
        default = ti["default_threads"]
        src = (f"OMP_NUM_THREADS={ti['omp_num_threads']}" if ti["omp_num_threads"]
               else "OMP_NUM_THREADS unset")
        if not counts:
            used = f"{default} (the default: {src})"
        elif ti["threadpoolctl"]:
            used = (f"{', '.join(map(str, counts))} (threadpoolctl limit per row; "
                    f"default {default}, {src})")
        else:
            used = (f"{default} ({src}); threadpoolctl not installed, so the requested "
                    f"limits {', '.join(map(str, counts))} could not be applied")
        lines.append(f"threads: {used}; threaded only for calls >= "
                     f"{ti['openmp_min_elements']} elements; competitors single-threaded")
    return lines


def _columns(results: Sequence[Timing]) -> list[str]:
    """Competitors to show: reference and SciPy always, others when any result has them."""
    return [c for c in COMPETITORS
            if c in ("reference", "scipy") or any(r.time_of(c) is not None for r in results)]


def _fmt_diff(d: float) -> str:
    return "inf" if math.isinf(d) else f"{d:.2g}"


def format_table(results: Sequence[Timing]) -> list[str]:
    """The table as a list of lines (plus the footnotes it uses)."""
    comps = _columns(results)
    cols = (["measure", "case", "thr", "kl_ext"] + [COMPETITORS[c] for c in comps]
            + ["×" + COMPETITORS[c] for c in comps])
    rows = []
    notes = {}
    diffs: dict[str, float] = {}
    for r in results:
        w = r.workload
        cells = [w.measure, w.label, "?" if r.threads is None else str(r.threads),
                 human_time(r.kl_ext)]
        for c in comps:
            cells.append(human_time(r.time_of(c)) + (" !" if c in r.mismatch else ""))
            if c in r.mismatch:   # the largest difference per case (over thread counts)
                key = f"{COMPETITORS[c]} {w.measure} {w.label.split(' [')[0]}"
                diffs[key] = max(diffs.get(key, 0.0), r.rel_diff.get(c, math.inf))
        cells += [_ratio(r.time_of(c), r.kl_ext) for c in comps]
        rows.append(cells)
        notes.update(w.footnotes)
    widths = [max(len(c), *(len(row[i]) for row in rows)) if rows else len(c)
              for i, c in enumerate(cols)]

    def line(cells: Sequence[str]) -> str:
        left = [c.ljust(wd) for c, wd in zip(cells[:2], widths[:2])]
        right = [c.rjust(wd) for c, wd in zip(cells[2:], widths[2:])]
        return "  ".join(left + right).rstrip()

    out = [line(cols), "  ".join("-" * wd for wd in widths)]
    prev = None
    for row in rows:
        if prev is not None and row[0] != prev:
            out.append("")
        prev = row[0]
        out.append(line(row))
    out.append("")
    text = ("Median time per call (same seeded, normalised inputs for every competitor); "
            "thr = threads kl_ext could use; ×X = X's time / kl_ext's time (higher "
            "is better for kl_ext). "
            "SciPy: stats.entropy (entropy, KL), entropy(p) + entropy(p, q) "
            "(cross-entropy), spatial.distance.jensenshannon (JS distance; "
            "squared for JS divergence); none for total variation.")
    if "numkong" in comps:
        text += (" NumKong: kullbackleibler (KL), jensenshannon (JS distance; squared "
                 "for JS divergence); it does not normalise.")
    if any(r.workload.measure.startswith("wasserstein") for r in results):
        text += (" Wasserstein: reference = kl_ext.reference_wasserstein, SciPy = "
                 "stats.wasserstein_distance, POT = ot.wasserstein_1d (p=1).")
    out.extend(textwrap.wrap(text, 88))
    if diffs:
        out.extend(textwrap.wrap(
            f"! this competitor's result differs from kl_ext's by more than rtol {RTOL:g} "
            "on this input; largest relative difference: "
            + "; ".join(f"{k}: {_fmt_diff(d)}" for k, d in diffs.items()) + ".",
            88, subsequent_indent="    "))
    for key in sorted(notes):
        out.extend(textwrap.wrap(notes[key], 88, subsequent_indent="    "))
    return out


def conventions_check() -> tuple[dict[str, Any], str]:
    """Lines showing each installed competitor's KL where q has a zero p does not.

    KL(p || q) is +inf when some q_i = 0 < p_i; kl_ext and SciPy return inf.
    """
    import kl_ext
    p = np.array([0.5, 0.5])
    q = np.array([1.0, 0.0])
    got = {"kl_ext": float(kl_ext.kl_divergence(p, q))}
    for name, factory in (("SciPy", _scipy_factory("kl_divergence", False)),
                          ("NumKong", _numkong_factory("kl_divergence"))):
        fn = _resolve(factory)
        if fn is not None:
            with np.errstate(all="ignore"):
                got[name] = float(fn(p, q))
    text = ", ".join(f"{k} {v:.6g}" for k, v in got.items())
    return {"p": p.tolist(), "q": q.tolist(), "kl": got}, (
        f"Support check, KL([0.5, 0.5] || [1, 0]) (exact: inf): {text}.")


def to_json(results: Sequence[Timing], *, full: bool = False, quick: bool = False,
            budget: Optional[float] = None, threads: Optional[Sequence[Optional[int]]] = None,
            argv: Optional[Sequence[str]] = None, busy: bool = False) -> dict[str, Any]:
    """Machine-readable results: metadata plus one record per workload.

    Keys: ``schema``, ``created`` (UTC, ISO 8601), ``command``, ``versions``
    (kl_ext, numpy, scipy, numkong, pot, threadpoolctl, python; None when not
    installed), ``cpu`` (name, logical cores, machine), ``cpu_tier``,
    ``available_tiers``, ``openmp``, ``default_threads``, ``threads`` (the
    limits requested), ``threadpoolctl``, ``timing`` (full, quick, budget, busy:
    whether a CPU-bound process ran beside the benchmark),
    ``rtol``, ``support_check`` and ``results``: a list of dicts with
    ``measure``, ``size``, ``label``, ``dtype``, ``threads`` (used), ``elements``,
    ``median_s`` (competitor -> seconds per call, kl_ext included),
    ``ns_per_element`` (kl_ext), ``speedup`` (competitor -> its time / kl_ext's),
    ``rel_diff`` (competitor -> largest relative difference from kl_ext),
    ``mismatch`` (competitors beyond ``rtol``).  :func:`write_json` writes
    infinities and NaN as the strings "inf", "-inf", "nan".
    """
    ti = thread_info()
    recs = []
    for r in results:
        w = r.workload
        med: dict[str, Optional[float]] = {"kl_ext": r.kl_ext}
        med.update({c: r.time_of(c) for c in COMPETITORS if r.time_of(c) is not None})
        recs.append({
            "measure": w.measure, "size": w.size, "label": w.label, "dtype": w.dtype,
            "threads": r.threads, "threads_requested": w.threads, "elements": r.elements,
            "median_s": med,
            "ns_per_element": (r.kl_ext / r.elements * 1e9
                               if r.elements and r.kl_ext is not None else None),
            "speedup": {c: _speedup(t, r.kl_ext) for c, t in med.items() if c != "kl_ext"},
            "rel_diff": dict(r.rel_diff),
            "mismatch": list(r.mismatch)})
    support, _ = conventions_check()
    return {
        "schema": "kl_ext-bench/1",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": argv,
        "versions": _versions(),
        "cpu": {"name": _cpu_name(), "logical_cores": os.cpu_count(),
                "machine": platform.machine(), "system": platform.system()},
        "cpu_tier": ti["cpu_tier"], "available_tiers": ti["available_tiers"],
        "forced_tier": ti["forced_tier"], "openmp": ti["openmp"],
        "default_threads": ti["default_threads"],
        "omp_num_threads": ti["omp_num_threads"],
        "threads": list(threads) if threads else [None],
        "threadpoolctl": ti["threadpoolctl"],
        "timing": {"full": full, "quick": quick, "busy": bool(busy),
                   "budget_s": budget if budget is not None else (
                       0.02 if quick else FULL_BUDGET if full else DEFAULT_BUDGET)},
        "rtol": RTOL,
        "support_check": support,
        "results": recs,
    }


def _jsonable(obj: Any) -> Any:
    """`obj` with non-finite floats as the strings "inf", "-inf", "nan" (strict JSON)."""
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else ("nan" if math.isnan(v) else
                                           "inf" if v > 0 else "-inf")
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def write_json(path: str, data: Any) -> None:
    """Write `data` (from :func:`to_json`) to `path` as indented, strict JSON.

    Infinite and NaN numbers are written as the strings ``"inf"``,
    ``"-inf"`` and ``"nan"``.
    """
    text = json.dumps(_jsonable(data), indent=1, allow_nan=False, ensure_ascii=False)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n")


#: one colour per competitor in the plot
COLOURS = {"reference": "#1f77b4", "scipy": "#ff7f0e", "numkong": "#2ca02c", "pot": "#9467bd"}


def _plot_label(r: Timing) -> str:
    w = r.workload
    lab = f"{w.measure} {w.label.split(' [')[0]}"
    if w.threads is not None:
        lab += f" {r.threads if r.threads is not None else w.threads}T"
    return lab


def plot(results: Sequence[Timing], path: str, *, title: Optional[str] = None) -> None:
    """Bar chart of kl_ext's speed-up over each competitor per workload.

    Horizontal grouped bars on a log axis, one colour per competitor, one
    group per workload; a hatched bar marks a competitor whose result
    disagrees with kl_ext's.  Uses matplotlib's object API (no pyplot, no
    change of the caller's backend).  Raises ImportError when matplotlib is
    missing.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    comps = [c for c in COMPETITORS if any(r.time_of(c) is not None for r in results)]
    n = len(results)
    fig = Figure(figsize=(10, 1.6 + 0.08 * n * max(len(comps), 1) + 0.12 * n))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    height = 0.8 / max(len(comps), 1)
    lo, hi = 1.0, 1.0
    for j, c in enumerate(comps):
        for i, r in enumerate(results):
            s = _speedup(r.time_of(c), r.kl_ext)
            if s is None:
                continue
            lo, hi = min(lo, s), max(hi, s)
            bad = c in r.mismatch
            # bars grow from 1x: right = kl_ext faster, left = kl_ext slower
            ax.barh(i - 0.4 + (j + 0.5) * height, s - 1.0, height=height, left=1.0,
                    color=COLOURS[c], hatch="////" if bad else None,
                    edgecolor="black" if bad else COLOURS[c], linewidth=0.5)
    ax.set_xscale("log")
    ax.set_xlim(min(lo, 1.0) / 1.5, hi * 1.5)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(range(n))
    ax.set_yticklabels([_plot_label(r) for r in results], fontsize=7)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlabel("speed-up of kl_ext = competitor time / kl_ext time (log scale; "
                  "> 1: kl_ext faster)")
    ax.grid(axis="x", which="both", alpha=0.3)
    handles = [Patch(facecolor=COLOURS[c], label=COMPETITORS[c]) for c in comps]
    if any(r.mismatch for r in results):
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="////",
                             label=f"result differs from kl_ext (> rtol {RTOL:g})"))
    # above the axes, so that no bar is hidden
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0),
              ncol=len(handles), fontsize=8, frameon=False)
    ti = thread_info()
    fig.suptitle(title or f"kl_ext {_versions()['kl_ext']} speed-up · CPU tier "
                 f"{ti['cpu_tier']} · {_cpu_name()}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


_HOG = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True:\n    pass\n"


def busy_cpu() -> Optional[int]:
    """The CPU that :func:`busy_machine` loads: the last one this process may use."""
    try:
        return sorted(os.sched_getaffinity(0))[-1]
    except AttributeError:  # pragma: no cover - no affinity API (macOS)
        return None


@contextlib.contextmanager
def busy_machine() -> Iterator[subprocess.Popen[bytes]]:
    """Run the ``with`` block next to a CPU-bound process on another core.

    Production servers are rarely idle: this starts a Python process that
    spins on the last CPU of this process's affinity mask (:func:`busy_cpu`;
    unpinned where the OS has no affinity API) and kills it when the block
    ends, also on an exception.  ``kl-ext bench --busy`` and
    ``benchmarks/busy.py`` time kl_ext inside it.
    """
    import subprocess

    cpu = busy_cpu()
    code = _HOG if cpu is not None else "while True:\n    pass\n"
    hog = subprocess.Popen([sys.executable, "-c", code] + ([str(cpu)] if cpu is not None
                                                          else []))
    try:
        time.sleep(0.3)  # the hog is spinning before the first timing
        if hog.poll() is not None:
            raise RuntimeError(f"the CPU-bound process exited with status {hog.returncode}")
        yield hog
    finally:
        hog.kill()
        hog.wait()


def main_bench(measures: Optional[Iterable[str]] = None, sizes: Optional[Iterable[str]] = None,
               quick: bool = False, budget: Optional[float] = None,
               file: Optional[IO[str]] = None, *, full: bool = False,
               threads: Optional[Sequence[Optional[int]]] = None,
               json_path: Optional[str] = None, plot_path: Optional[str] = None,
               argv: Optional[Sequence[str]] = None, busy: bool = False) -> int:
    """Run the selected workloads, print the header and table, write JSON/plot; returns 0.

    `busy`: time everything next to a CPU-bound process (:func:`busy_machine`).
    """
    file = sys.stdout if file is None else file
    if threads is None:
        threads = FULL_THREADS if full else (None,)
    if budget is None and full and not quick:
        budget = FULL_BUDGET
    if _threadpoolctl() is None and any(t is not None for t in threads):
        threads = (None,)   # the limit cannot be applied: run once at the default
    selected = workloads(measures, sizes, full=full, threads=threads)
    for line in header(threads):
        print(line, file=file)
    if busy:
        cpu = busy_cpu()
        print("busy machine: a CPU-bound process runs on "
              f"{'CPU %d' % cpu if cpu is not None else 'an unpinned CPU'} for the whole run",
              file=file)
    mode = "quick (few repeats, rough numbers)" if quick else (
        f"~{budget if budget is not None else DEFAULT_BUDGET:g} s per cell")
    print(f"{len(selected)} workloads{' (full matrix)' if full else ''}, timing: {mode}",
          file=file, flush=True)
    print(file=file)
    progress = None
    if sys.stderr.isatty():  # a live "[i/n] measure case" line, erased at the end
        done = 0

        def progress(r: Timing) -> None:
            nonlocal done
            done += 1
            text = f"[{done}/{len(selected)}] {r.workload.measure} {r.workload.label}"
            sys.stderr.write("\r" + text[:70].ljust(70))
            if done == len(selected):
                sys.stderr.write("\r" + " " * 70 + "\r")
            sys.stderr.flush()
    t0 = time.perf_counter()
    with busy_machine() if busy else contextlib.nullcontext():
        results = run(selected, quick=quick, budget=budget, progress=progress)
    elapsed = time.perf_counter() - t0
    for line in format_table(results):
        print(line, file=file)
    if any(r.workload.measure in ("kl_divergence", "js_divergence", "js_distance")
           for r in results):
        for line in textwrap.wrap(conventions_check()[1], 88):
            print(line, file=file)
    print(f"({len(results)} workloads timed in {elapsed:.0f} s)", file=file)
    if json_path is not None:
        write_json(json_path, to_json(results, full=full, quick=quick, budget=budget,
                                      threads=threads, argv=argv, busy=busy))
        print(f"wrote {json_path}", file=file)
    if plot_path is not None:
        plot(results, plot_path)
        print(f"wrote {plot_path}", file=file)
    return 0


def known_measures() -> list[str]:
    """Measure names of all workloads (for ``--measure`` validation)."""
    seen = []
    for w in full_workloads((None,)) + list(_REGISTRY):
        if w.measure not in seen:
            seen.append(w.measure)
    return seen


def known_sizes(full: Optional[bool] = None) -> list[str]:
    """Size tags of all workloads (for ``--sizes`` validation).

    `full`: True for the full matrix's tags only, False for the default
    run's only, None (default) for both.
    """
    pools = {True: [full_workloads((None,))], False: [default_workloads()],
             None: [default_workloads(), full_workloads((None,))]}[full]
    seen = []
    for w in itertools.chain(*pools, _REGISTRY):
        if w.size not in seen:
            seen.append(w.size)
    return seen
