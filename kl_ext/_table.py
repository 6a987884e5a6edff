"""The table of divergence measures: one row per measure, read by everything.

Like scikit-learn's ``_LOSSES`` (``sklearn/_loss``) and SciPy's
``_METRIC_INFOS`` (``scipy/spatial/distance.py``), each measure is defined
once, here: its public name, the code the Cython kernels know it by, how
the kernels compute it, whether ``base`` applies, its bounds, its
reference implementation and its CLI name.  The public functions' dispatch
(kl_ext.measures), ``compare`` (kl_ext.report), the CLI's ``--measure``
choices, ``kl-ext bench``, the benchmark ids and the tests' parametrisation
read it; the constants shared by the Cython modules (``src/_codes.pxd``) are
generated from it (``python kl_ext/_table.py`` prints the file; setup.py
rewrites it at every build and tests/test_table.py checks it).

This module imports nothing but the standard library (no NumPy, no dask):
setup.py loads it by path before anything is built.
"""

# (no `from __future__ import annotations`: setup.py loads this file by path,
# outside sys.modules, where dataclasses cannot resolve string annotations)
import math
from dataclasses import dataclass

__all__ = ["MeasureInfo", "MEASURES", "BY_NAME", "BY_CODE", "ONE_PASS", "PAIR",
           "DERIVED", "STATUS", "COMPARE_COLUMNS", "NF_SHIFT", "pxd_text"]

#: kernel plan: one pass over the pair gives the sums and the element terms,
#: then a per-row finishing step (entropy, cross-entropy, KL)
ONE_PASS = "one-pass"
#: kernel plan: a first pass for the row totals, then a second pass over the
#: pair with the pair scales mp, mq derived from them (JS, TV, ...); a
#: chunked caller must have both totals before the second pass
PAIR = "pair"
#: no kernel of its own: a function of another measure's value
DERIVED = "derived"


@dataclass(frozen=True)
class MeasureInfo:
    """One measure.

    name: the public function in kl_ext (and kl_ext.reference, `reference`).
    code: its kernel code; const: that code's name in src/_codes.pxd.
    plan: ONE_PASS, PAIR or DERIVED (then `of` names the measure computed
    by the kernel and `post` the function applied to it, "sqrt").
    takes_q: a second distribution; has_base: ``base`` applies (False:
    unitless).  lower/upper: bounds of normalised results in nats
    (math.inf: unbounded).  cli: the name of ``kl-ext score --measure``
    (the full name is accepted too).
    """

    name: str
    code: int
    const: str
    plan: str
    takes_q: bool
    has_base: bool
    lower: float
    upper: float
    cli: str
    of: str = ""
    post: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def reference(self) -> str:
        """Name of the plain-NumPy version in kl_ext.reference."""
        return self.name

    @property
    def kernel_code(self) -> int:
        """The code the kernels compute this measure with."""
        return BY_NAME[self.of].code if self.plan == DERIVED else self.code


_LN2 = math.log(2.0)

#: every divergence measure, in the order of the docs, CLI and benchmarks
MEASURES = (
    MeasureInfo("entropy", 0, "ENTROPY", ONE_PASS, False, True, 0.0, math.inf,
                "entropy"),
    MeasureInfo("cross_entropy", 1, "CROSS_ENTROPY", ONE_PASS, True, True, 0.0,
                math.inf, "cross_entropy"),
    MeasureInfo("kl_divergence", 2, "KL", ONE_PASS, True, True, 0.0, math.inf, "kl"),
    MeasureInfo("js_divergence", 3, "JS", PAIR, True, True, 0.0, _LN2, "js"),
    MeasureInfo("js_distance", 5, "JS_DISTANCE", DERIVED, True, True, 0.0,
                math.sqrt(_LN2), "js_distance", of="js_divergence", post="sqrt"),
    MeasureInfo("total_variation", 4, "TV", PAIR, True, False, 0.0, 1.0, "tv"),
    MeasureInfo("hellinger_distance", 6, "HELLINGER", PAIR, True, False, 0.0, 1.0,
                "hellinger"),
    MeasureInfo("jeffreys_divergence", 7, "JEFFREYS", PAIR, True, True, 0.0, math.inf,
                "jeffreys", aliases=("psi",)),
)

BY_NAME = {m.name: m for m in MEASURES}
BY_CODE = {m.code: m for m in MEASURES}

#: row status codes of the kernels (kl_ext._divergence, _compare, _wasserstein)
STATUS = {
    "ST_OK": 0,
    "ST_NEG_P": 1,        # a negative entry in p
    "ST_NEG_Q": 2,        # a negative entry in q
    "ST_ZERO_P": 3,       # p sums to 0 (normalize only)
    "ST_ZERO_Q": 4,       # q sums to 0 (normalize only)
    "ST_NONFINITE": 5,    # +inf entry or extreme sums: the exact slow path
    "ST_LAYOUT": 6,       # unaligned data or odd strides: nothing computed
    "ST_REFINE": 7,       # internal (fin_*, chunked finish): needs a second pass
    "ST_BAD_MEASURE": 8,  # a measure code the kernel does not know
}

#: output columns of the compare kernel (src/_compare.pyx): (column,
#: measure whose slow path recomputes it, with p and q swapped)
COMPARE_COLUMNS = (
    ("entropy_p", "entropy", False),
    ("entropy_q", "entropy", True),
    ("cross_entropy", "cross_entropy", False),
    ("kl_pq", "kl_divergence", False),
    ("kl_qp", "kl_divergence", True),
    ("js_divergence", "js_divergence", False),
    ("total_variation", "total_variation", False),
    ("hellinger_distance", "hellinger_distance", False),
    ("jeffreys_divergence", "jeffreys_divergence", False),
)
#: compare's row status: NF_SHIFT * (bit mask of non-finite columns)
NF_SHIFT = 16


def _check() -> None:
    codes = [m.code for m in MEASURES]
    if len(set(codes)) != len(codes) or len({m.const for m in MEASURES}) != len(MEASURES):
        raise RuntimeError("kl_ext._table: duplicate measure code or constant")
    if len({m.cli for m in MEASURES}) != len(MEASURES):
        raise RuntimeError("kl_ext._table: duplicate CLI name")
    if NF_SHIFT <= max(STATUS.values()):
        raise RuntimeError("kl_ext._table: NF_SHIFT must exceed every status code")
    if len(COMPARE_COLUMNS) > 15:
        raise RuntimeError("kl_ext._table: compare's status mask has room for 15 columns")


_check()


def pxd_text() -> str:
    """The text of src/_codes.pxd (measure, status and compare constants)."""
    lines = [
        "# Constants shared by the kl_ext Cython modules.  GENERATED from",
        "# kl_ext/_table.py (the table of measures) by setup.py at every build;",
        "# edit the table, not this file (tests/test_table.py checks they agree).",
        "",
        "cdef enum:",
        "    # measure codes (MeasureInfo.code)",
    ]
    lines += [f"    {m.const} = {m.code}" for m in sorted(MEASURES, key=lambda m: m.code)]
    lines += ["", "cdef enum:", "    # row status codes"]
    lines += [f"    {k} = {v}" for k, v in STATUS.items()]
    lines += ["", "cdef enum:", "    # the compare kernel's output columns and status mask shift",
              f"    NOUT = {len(COMPARE_COLUMNS)}", f"    NF_SHIFT = {NF_SHIFT}"]
    lines += [f"    COL_{col.upper()} = {k}" for k, (col, _, _) in enumerate(COMPARE_COLUMNS)]
    lines += [""]
    for plan, fn in ((ONE_PASS, "is_one_pass"), (PAIR, "is_pair")):
        consts = [m.const for m in MEASURES if m.plan == plan]
        test = " or ".join(f"measure == {c}" for c in consts)
        lines += [f"cdef inline bint {fn}(int measure) noexcept nogil:",
                  f"    # the {plan} measures of the table",
                  f"    return {test}", "", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    print(pxd_text(), end="")
