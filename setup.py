"""Build the Cython kernels in src/ as extension modules kl_ext._<name>.

Flags: -O3, -fno-math-errno, -fno-trapping-math, -ffp-contract=off only.
Never add GCC's fast-math family (fast math, "O-fast", finite-math-only,
unsafe math optimisations): they break the NaN/inf
semantics of every kernel and, with GCC, set flush-to-zero for the whole
Python process.

CPU tiers: src/<name>_v3.pyx and src/<name>_v4.pyx include <name>.pyx and
are compiled for x86-64-v3 (AVX2, FMA) and x86-64-v4 (AVX-512) with
KL_EXT_VECTOR=1; the plain module is the baseline x86-64 build that runs
everywhere.  kl_ext picks the best tier the CPU supports at import time.  A
tier whose flags the compiler rejects (or a non-x86-64 machine) is skipped.

OpenMP is used when a compile-link-run probe succeeds (KL_EXT_OPENMP=0
turns it off).  Set KL_EXT_DEBUG=1 to turn Cython's bounds/wraparound checks back on.
"""
import glob
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

TIER_ARGS = {
    "_v3": ["-march=x86-64-v3", "-DKL_EXT_VECTOR=1"],
    "_v4": ["-march=x86-64-v4", "-mprefer-vector-width=512", "-DKL_EXT_VECTOR=1"],
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


directives = {
    "language_level": "3",
    "boundscheck": debug,
    "wraparound": debug,
    "initializedcheck": debug,
    "cdivision": True,
    "embedsignature": True,
}

extensions = []
for path in sorted(glob.glob(os.path.join("src", "*.pyx"))):
    stem = os.path.splitext(os.path.basename(path))[0]
    args = list(base_args)
    tier = next((t for t in TIER_ARGS if stem.endswith(t)), None)
    if tier is not None:
        if not (IS_X86_64 and compiler_accepts(TIER_ARGS[tier])):
            print(f"kl_ext: skipping {stem}: the compiler does not accept {TIER_ARGS[tier]}")
            continue
        args += TIER_ARGS[tier]
    extensions.append(Extension(
        "kl_ext." + stem,
        [path],
        include_dirs=[np.get_include(), "src"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=args + openmp_args,
        extra_link_args=openmp_args,
        depends=glob.glob(os.path.join("src", "*.pxd")) + glob.glob(os.path.join("src", "*.h")),
    ))

setup(ext_modules=cythonize(extensions, compiler_directives=directives,
                            include_path=["src"]))
