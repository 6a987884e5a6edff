"""Build the Cython kernels in src/ as extension modules kl_ext._<name>.

Flags: -O3, -fno-math-errno, -fno-trapping-math, -ffp-contract=off only.
Never add GCC's fast-math family (fast math, "O-fast", finite-math-only,
unsafe math optimisations): they break the NaN/inf
semantics of every kernel and, with GCC, set flush-to-zero for the whole
Python process.

CPU tiers: src/<name>_v3.pyx and src/<name>_v4.pyx include <name>.pyx and
are compiled for x86-64-v3 (AVX2, FMA) and x86-64-v4 (AVX-512); the plain
module is the baseline build, without -march, that runs everywhere (SSE2 on
x86-64, NEON on aarch64).  Every tier is compiled with KL_EXT_VECTOR=1: the
branch-free element terms of src/_vmath.h, which GCC vectorises at the
target's width (128-bit vectors in the baseline build).  kl_ext picks the
best tier the CPU supports at import time.  A tier whose flags the compiler
rejects (or a non-x86-64 machine) is skipped.

Threads: the kernels run their parallel loops on their own pthread worker
pool (src/_pool.h, compiled with -pthread); OpenMP, used when a
compile-link-run probe succeeds (KL_EXT_OPENMP=0 turns it off), only gives
the default thread count (omp_get_max_threads: OMP_NUM_THREADS and
threadpoolctl); without it the kernels run on one thread.  Set KL_EXT_DEBUG=1 to turn Cython's bounds/wraparound checks back on.

The build fails (SystemExit with the reason) rather than produce a package
without kernels: every module in KERNELS must have its src/<name>.pyx, and
with KL_EXT_REQUIRE_TIERS=1 (set for release wheels) an x86-64 tier the
compiler rejects is an error instead of a skip.  The .pyx are always
compiled by Cython here; the generated src/*.c are build products that the
sdist does not carry (see MANIFEST.in).
"""
import glob
import importlib.util
import os
import platform
import subprocess
import sys
import sysconfig
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

debug = os.environ.get("KL_EXT_DEBUG", "0") not in ("", "0")


def write_codes_pxd():
    """Regenerate src/_codes.pxd from the table of measures (kl_ext/_table.py,
    loaded by path: the package itself cannot be imported before the build)."""
    here = os.path.dirname(os.path.abspath(__file__))
    source = os.path.join(here, "kl_ext", "_table.py")
    if not os.path.isfile(source):
        return  # a partial source tree: the committed src/_codes.pxd stands
    spec = importlib.util.spec_from_file_location("_kl_ext_table", source)
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    text = table.pxd_text()
    path = os.path.join(here, "src", "_codes.pxd")
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except OSError:
        pass
    with open(path, "w") as f:
        f.write(text)


write_codes_pxd()

if sys.platform == "win32":
    base_args = ["/O2"]
else:
    # -fno-math-errno and -fno-trapping-math change no value (no flush-to-zero,
    # NaN and inf intact): they only let GCC inline sqrt and if-convert the
    # branch-free element terms, without which nothing vectorises.
    # -ffp-contract=off keeps a*b - c*d from becoming an FMA in the AVX2 and
    # AVX-512 builds, so every tier rounds the same way (TV of two equal
    # rows is exactly 0 in all of them)
    base_args = ["-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off"]
    if debug:
        base_args = ["-O0", "-g"]
    # the vector kernels in every tier, the baseline one included (GCC
    # vector extensions and loops that GCC vectorises; MSVC has neither)
    base_args += ["-DKL_EXT_VECTOR=1"]

TIER_ARGS = {
    "_v3": ["-march=x86-64-v3"],
    "_v4": ["-march=x86-64-v4", "-mprefer-vector-width=512"],
}


def compiler_accepts(args, code="int main(void) { return 0; }\n", run=False):
    """True if the C compiler builds (links, and optionally runs) `code` with `args`."""
    if sys.platform == "win32":
        return False
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        exe = os.path.join(tmp, "probe")
        with open(src, "w") as f:
            f.write(code)
        try:
            res = subprocess.run(cc + args + [src, "-o", exe], capture_output=True)
            if res.returncode == 0 and run:
                res = subprocess.run([exe], capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return False
        return res.returncode == 0


IS_X86_64 = platform.machine().lower() in ("x86_64", "amd64")

# OpenMP (threads over rows and over chunks of long rows): compile, link and
# run a probe; without it the kernels build single-threaded, with a warning
# (as POT and scikit-learn do).  KL_EXT_OPENMP=0 turns it off.
OPENMP_PROBE = """
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n) num_threads(2)
    n += 1;
    return omp_get_max_threads() >= 1 && n >= 1 ? 0 : 1;
}
"""
openmp_args = []
if os.environ.get("KL_EXT_OPENMP", "1") != "0":
    if compiler_accepts(["-fopenmp"], OPENMP_PROBE, run=True):
        openmp_args = ["-fopenmp"]
    else:
        print("kl_ext: WARNING: the C compiler has no working OpenMP; "
              "building single-threaded kernels")


# the kernels' own worker pool (src/_pool.h) runs on POSIX threads
thread_args = [] if sys.platform == "win32" else ["-pthread"]

directives = {
    "language_level": "3",
    "boundscheck": debug,
    "wraparound": debug,
    "initializedcheck": debug,
    "cdivision": True,
    "embedsignature": True,
}

# The kernel modules kl_ext imports (kl_ext/_cpu.py loads kl_ext._<name>),
# and whether each also has the src/<name>_v3.pyx, _v4.pyx CPU tiers.
KERNELS = {"_divergence": True, "_compare": True, "_logits": True,
           "_wasserstein": True, "_special": False}
require_tiers = os.environ.get("KL_EXT_REQUIRE_TIERS", "0") not in ("", "0")

expected = [name + tier for name, tiered in KERNELS.items()
            for tier in [""] + (list(TIER_ARGS) if tiered else [])]
missing = [name for name in expected if not os.path.isfile(os.path.join("src", name + ".pyx"))]
if missing:
    sys.exit("kl_ext: cannot build: kernel sources missing: "
             + ", ".join(f"src/{name}.pyx" for name in missing)
             + " (an sdist must carry src/*.pyx, *.pxd, *.h: see MANIFEST.in)")

extensions = []
for path in sorted(glob.glob(os.path.join("src", "*.pyx"))):
    stem = os.path.splitext(os.path.basename(path))[0]
    args = list(base_args)
    tier = next((t for t in TIER_ARGS if stem.endswith(t)), None)
    if tier is not None:
        if not (IS_X86_64 and compiler_accepts(TIER_ARGS[tier])):
            reason = (f"the compiler does not accept {TIER_ARGS[tier]}" if IS_X86_64
                      else f"not an x86-64 machine ({platform.machine()})")
            if require_tiers:
                sys.exit(f"kl_ext: cannot build {stem} ({reason}) and KL_EXT_REQUIRE_TIERS=1")
            print(f"kl_ext: skipping {stem}: {reason}")
            continue
        args += TIER_ARGS[tier]
    extensions.append(Extension(
        "kl_ext." + stem,
        [path],
        include_dirs=[np.get_include(), "src"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=args + openmp_args + thread_args,
        extra_link_args=openmp_args + thread_args,
        depends=glob.glob(os.path.join("src", "*.pxd")) + glob.glob(os.path.join("src", "*.h")),
    ))

setup(ext_modules=cythonize(extensions, compiler_directives=directives,
                            include_path=["src"]))
