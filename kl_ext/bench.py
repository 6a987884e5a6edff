"""Benchmark runner behind ``kl-ext bench``.

Times every registered *workload* -- one measure on one seeded input -- for
kl_ext, :mod:`kl_ext.reference` and SciPy (when installed) on the same
arrays, and prints a table of median times per call and speed-ups, in the
spirit of bottleneck's ``bn.bench()``.

A workload is a :class:`Workload`: a measure name, a size tag (what
``--sizes`` selects), a label for the table, a function building the inputs
from a seeded ``numpy.random.Generator``, and one *factory* per competitor (a
zero-argument function returning the callable to time, so that SciPy is only
imported when a benchmark runs and ``None`` marks a missing competitor).
Register more with :func:`register`; :func:`default_workloads` holds the
built-in ones (the six divergence measures at n = 10, 1e3, 1e6 and 1e5 rows
of 10, plus the 1-D Wasserstein ones when :mod:`kl_ext.wasserstein` is
present).  For example::

    from kl_ext import bench
    bench.register(bench.Workload(
        measure="entropy", size="1e4", label="n=1e4",
        make_inputs=lambda rng: (rng.random(10_000),),
        kl_ext=lambda: kl_ext.entropy, reference=lambda: reference.entropy))

Every competitor's result is compared with kl_ext's (``rtol=1e-6``) before it
is timed; a disagreement is marked ``!`` in the table.

Timing: like :meth:`timeit.Timer.autorange`, the loop count is the first of
1, 2, 5, 10, 20, 50, ... whose loop takes at least ``target`` seconds; then
the loop is repeated (garbage collection off) until the cell's time budget
is spent, at least ``min_repeats`` and at most ``max_repeats`` times, and
the median of the per-call times is reported.  The calibration loops are
not counted (they include first-touch page faults).
"""

import gc
import itertools
import os
import platform
import statistics
import sys
import textwrap
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

__all__ = ["Workload", "Timing", "register", "default_workloads", "workloads",
           "time_call", "run", "format_table", "header", "main_bench",
           "known_measures", "known_sizes", "human_time", "SIZES", "MEASURES"]

#: measure names of the built-in workloads, in table order
MEASURES = ("entropy", "cross_entropy", "kl_divergence", "js_divergence",
            "js_distance", "total_variation")
#: size tags of the built-in workloads -> (shape of p, table label)
SIZES = {
    "10": ((10,), "n=10"),
    "1e3": ((1000,), "n=1e3"),
    "1e6": ((1_000_000,), "n=1e6"),
    "1e5x10": ((100_000, 10), "1e5×10 rows [a]"),
}
_SEED = 20240229
#: seconds of repeated timing per table cell (the whole default table: ~1 min)
DEFAULT_BUDGET = 0.4

FOOTNOTES = {
    "a": ("[a] one call over 1e5 rows of 10 (reduction along the last axis; SciPy "
          "via axis=1); the time is for the whole call, not per row."),
    "b": ("[b] inputs already sorted; kl_ext is told so (assume_sorted=True) and skips "
          "the sort, the reference and SciPy sort anyway."),
    "c": ("[c] one call over 1e4 pairs of histograms with 100 bins at 0, 1, ..., 99; "
          "the reference and SciPy (wasserstein_distance(x, x, p_i, q_i)) have no "
          "batched form, so their columns are a Python loop over the rows."),
}


@dataclass(frozen=True)
class Workload:
    """One benchmark cell row: a measure on one seeded input.

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
    kl_ext, reference, scipy : callable or None
        Factories: ``factory() -> fn`` with ``fn(*inputs)`` the call to
        time.  A factory may raise ImportError (competitor not installed);
        ``None`` means there is no such competitor for this workload.
    footnotes : dict
        Footnote mark -> text, printed under the table.
    """

    measure: str
    size: str
    label: str
    make_inputs: Callable
    kl_ext: Callable
    reference: Optional[Callable] = None
    scipy: Optional[Callable] = None
    footnotes: dict = field(default_factory=dict)


@dataclass
class Timing:
    """Median seconds per call of each competitor for one workload."""

    workload: Workload
    kl_ext: float
    reference: Optional[float]
    scipy: Optional[float]
    mismatch: tuple = ()   # competitors whose result differs from kl_ext's


_REGISTRY = []


def register(workload):
    """Add a :class:`Workload` to the ones ``kl-ext bench`` runs; returns it."""
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a Workload, got {type(workload).__name__}")
    _REGISTRY.append(workload)
    return workload


# --------------------------------------------------------------------------
# built-in workloads: the divergence measures

def _pair_inputs(shape, measure):
    """Seeded strictly positive unnormalised p (and q), the same for everyone."""
    def make(rng):
        p = rng.random(shape) + 1e-3
        if measure == "entropy":
            return (p,)
        q = rng.random(shape) + 1e-3
        return (p, q)
    return make


def _const(fn):
    return lambda: fn


def _scipy_factory(measure, batched):
    """SciPy's counterpart of `measure` (None where SciPy has none)."""
    if measure == "total_variation":
        return None
    kw = {"axis": 1} if batched else {}

    def factory():
        from scipy.spatial.distance import jensenshannon
        from scipy.stats import entropy
        if measure == "entropy":
            return lambda p: entropy(p, **kw)
        if measure == "cross_entropy":
            return lambda p, q: entropy(p, **kw) + entropy(p, q, **kw)
        if measure == "kl_divergence":
            return lambda p, q: entropy(p, q, **kw)
        if measure == "js_divergence":
            return lambda p, q: jensenshannon(p, q, **kw) ** 2
        if measure == "js_distance":
            return lambda p, q: jensenshannon(p, q, **kw)
        raise KeyError(measure)
    return factory


def _divergence_workloads():
    import kl_ext
    from kl_ext import reference
    out = []
    for measure in MEASURES:
        for size, (shape, label) in SIZES.items():
            batched = len(shape) == 2
            out.append(Workload(
                measure=measure, size=size, label=label,
                make_inputs=_pair_inputs(shape, measure),
                kl_ext=_const(getattr(kl_ext, measure)),
                reference=_const(getattr(reference, measure)),
                scipy=_scipy_factory(measure, batched),
                footnotes={"a": FOOTNOTES["a"]} if batched else {}))
    return out


def _wasserstein_workloads():
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
        rw = None
    ref_1d = getattr(rw, "wasserstein_1d", None)
    ref_hist = getattr(rw, "wasserstein_hist", None)

    def scipy_w1():
        from scipy.stats import wasserstein_distance
        return wasserstein_distance

    out = []
    if fn_1d is not None:
        for size, n in (("1e3", 1000), ("1e6", 1_000_000)):
            for kind in ("unweighted", "weighted", "pre-sorted"):
                def make(rng, n=n, kind=kind):
                    u = rng.normal(0.0, 1.0, n)
                    v = rng.normal(0.5, 1.5, n)
                    if kind == "pre-sorted":
                        u.sort()
                        v.sort()
                    if kind == "weighted":
                        return (u, v, rng.random(n) + 1e-3, rng.random(n) + 1e-3)
                    return (u, v)
                mine = fn_1d
                if kind == "pre-sorted":
                    def mine(u, v, _f=fn_1d):
                        return _f(u, v, assume_sorted=True)
                out.append(Workload(
                    measure="wasserstein_1d", size=size,
                    label=f"n=m={size} {kind}" + (" [b]" if kind == "pre-sorted" else ""),
                    make_inputs=make, kl_ext=_const(mine),
                    reference=_const(ref_1d) if ref_1d is not None else None,
                    scipy=scipy_w1,
                    footnotes={"b": FOOTNOTES["b"]} if kind == "pre-sorted" else {}))
    if fn_hist is not None:
        centers = np.arange(100.0)

        def make_hist(rng):
            return (rng.random((10_000, 100)) + 1e-3, rng.random((10_000, 100)) + 1e-3)

        def scipy_hist():
            from scipy.stats import wasserstein_distance

            def loop(a, b):
                return np.array([wasserstein_distance(centers, centers, x, y)
                                 for x, y in zip(a, b)])
            return loop

        def ref_loop(a, b):
            return np.array([ref_hist(x, y) for x, y in zip(a, b)])

        out.append(Workload(
            measure="wasserstein_hist", size="1e4x100",
            label="1e4×100 bins [c]", make_inputs=make_hist,
            kl_ext=_const(fn_hist),
            reference=_const(ref_loop) if ref_hist is not None else None,
            scipy=scipy_hist, footnotes={"c": FOOTNOTES["c"]}))
    return out


def default_workloads():
    """The built-in workloads (divergences, and Wasserstein when available)."""
    return _divergence_workloads() + _wasserstein_workloads()


def workloads(measures=None, sizes=None):
    """Built-in plus registered workloads, filtered by measure and size tag."""
    out = default_workloads() + list(_REGISTRY)
    if measures:
        out = [w for w in out if w.measure in measures]
    if sizes:
        out = [w for w in out if w.size in sizes]
    return out


# --------------------------------------------------------------------------
# timing

def _loop(fn, args, number):
    it = itertools.repeat(None, number)
    t0 = time.perf_counter()
    for _ in it:
        fn(*args)
    return time.perf_counter() - t0


def time_call(fn, args, *, budget=0.5, target=0.01, min_repeats=3, max_repeats=50):
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
        samples = []
        start = time.perf_counter()
        while len(samples) < max_repeats and (
                len(samples) < min_repeats or time.perf_counter() - start < budget):
            samples.append(_loop(fn, args, number) / number)
    finally:
        if gcold:
            gc.enable()
    return statistics.median(samples)


def _resolve(factory):
    if factory is None:
        return None
    try:
        return factory()
    except ImportError:
        return None


def run(selected, *, quick=False, budget=None, seed=_SEED, progress=None):
    """Time every workload in `selected`; return a list of :class:`Timing`."""
    if budget is None:
        budget = 0.02 if quick else DEFAULT_BUDGET
    opts = dict(budget=budget, target=0.001 if quick else 0.005,
                min_repeats=3, max_repeats=5 if quick else 40)
    results = []
    for w in selected:
        args = w.make_inputs(np.random.default_rng(seed))
        times = {}
        values = {}
        for name in ("kl_ext", "reference", "scipy"):
            fn = _resolve(getattr(w, name))
            if fn is None:
                times[name] = None
                continue
            with np.errstate(all="ignore"):
                values[name] = np.asarray(fn(*args), dtype=np.float64)
                times[name] = time_call(fn, args, **opts)
        # a benchmark of a wrong answer is worthless: flag disagreements
        mismatch = tuple(name for name in ("reference", "scipy") if name in values
                         and not np.allclose(values[name], values["kl_ext"],
                                             rtol=1e-6, atol=1e-12, equal_nan=True))
        results.append(Timing(w, times["kl_ext"], times["reference"], times["scipy"],
                              mismatch))
        if progress is not None:
            progress(results[-1])
    return results


# --------------------------------------------------------------------------
# output

def human_time(seconds):
    """``1.23 µs``-style rendering of a duration in seconds (3 significant digits)."""
    if seconds is None:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            v = seconds / scale
            return f"{v:.3g} {unit}" if v < 1000 else f"{v:.0f} {unit}"


def _ratio(other, mine):
    if other is None or mine is None or mine <= 0:
        return "—"
    r = other / mine
    return f"{r:.3g}×" if r < 1000 else f"{r:.0f}×"


def _cpu_name():
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


def header():
    """Versions and hardware, printed above the table."""
    import kl_ext
    try:
        import scipy
        scipy_v = scipy.__version__
    except ImportError:
        scipy_v = "not installed (SciPy columns left empty)"
    ncpu = os.cpu_count()
    return [f"kl_ext {kl_ext.__version__} · NumPy {np.__version__} · SciPy {scipy_v} "
            f"· Python {platform.python_version()}",
            f"CPU: {_cpu_name()} ({ncpu} logical cores) · {platform.system()} "
            f"{platform.machine()}"]


def format_table(results):
    """The table as a list of lines (plus the footnotes it uses)."""
    cols = ["measure", "case", "kl_ext", "reference", "SciPy", "×reference", "×SciPy"]
    rows = []
    notes = {}
    for r in results:
        w = r.workload
        ref = human_time(r.reference) + (" !" if "reference" in r.mismatch else "")
        sci = human_time(r.scipy) + (" !" if "scipy" in r.mismatch else "")
        if r.mismatch:
            notes["!"] = ("! this competitor's result differs from kl_ext's by more "
                          "than rtol 1e-6 on this input")
        rows.append([w.measure, w.label, human_time(r.kl_ext), ref, sci,
                     _ratio(r.reference, r.kl_ext), _ratio(r.scipy, r.kl_ext)])
        notes.update(w.footnotes)
    widths = [max(len(c), *(len(row[i]) for row in rows)) if rows else len(c)
              for i, c in enumerate(cols)]

    def line(cells):
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
    text = ("Median time per call (same seeded inputs for every competitor); "
            "×reference = reference time / kl_ext time, ×SciPy = SciPy time / "
            "kl_ext time (higher is better for kl_ext). "
            "SciPy: stats.entropy (entropy, KL), entropy(p) + entropy(p, q) "
            "(cross-entropy), spatial.distance.jensenshannon (JS distance; "
            "squared for JS divergence); none for total variation.")
    if any(r.workload.measure.startswith("wasserstein") for r in results):
        text += (" Wasserstein: reference = kl_ext.reference_wasserstein, SciPy = "
                 "stats.wasserstein_distance.")
    out.extend(textwrap.wrap(text, 88))
    for key in sorted(notes):
        out.extend(textwrap.wrap(notes[key], 88, subsequent_indent="    "))
    return out


def main_bench(measures=None, sizes=None, quick=False, budget=None, file=None):
    """Run the selected workloads and print the header and table; returns 0."""
    file = sys.stdout if file is None else file
    selected = workloads(measures, sizes)
    for line in header():
        print(line, file=file)
    mode = "quick (few repeats, rough numbers)" if quick else (
        f"~{budget if budget is not None else DEFAULT_BUDGET:g} s per cell")
    print(f"{len(selected)} workloads, timing: {mode}", file=file, flush=True)
    print(file=file)
    progress = None
    if sys.stderr.isatty():  # a live "[i/n] measure case" line, erased at the end
        done = 0

        def progress(r):
            nonlocal done
            done += 1
            text = f"[{done}/{len(selected)}] {r.workload.measure} {r.workload.label}"
            sys.stderr.write("\r" + text[:70].ljust(70))
            if done == len(selected):
                sys.stderr.write("\r" + " " * 70 + "\r")
            sys.stderr.flush()
    results = run(selected, quick=quick, budget=budget, progress=progress)
    for line in format_table(results):
        print(line, file=file)
    return 0


def known_measures():
    """Measure names of all workloads (for ``--measure`` validation)."""
    seen = []
    for w in default_workloads() + list(_REGISTRY):
        if w.measure not in seen:
            seen.append(w.measure)
    return seen


def known_sizes():
    """Size tags of all workloads (for ``--sizes`` validation)."""
    seen = []
    for w in default_workloads() + list(_REGISTRY):
        if w.size not in seen:
            seen.append(w.size)
    return seen

