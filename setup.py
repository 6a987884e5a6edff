"""Build the Cython kernels in src/ as extension modules kl_ext._<name>.

Flags: -O3, -fno-math-errno, -fno-trapping-math, -ffp-contract=off only.  Never add -ffast-math, -Ofast,
-ffinite-math-only or -funsafe-math-optimizations: they break the NaN/inf
semantics of every kernel and, with GCC, set flush-to-zero for the whole
Python process.

CPU tiers: src/<name>_v3.pyx and src/<name>_v4.pyx include <name>.pyx and
are compiled for x86-64-v3 (AVX2, FMA) and x86-64-v4 (AVX-512) with
KL_EXT_VECTOR=1; the plain module is the baseline x86-64 build that runs
everywhere.  kl_ext picks the best tier the CPU supports at import time.  A
tier whose flags the compiler rejects (or a non-x86-64 machine) is skipped.

Set KL_EXT_DEBUG=1 to turn Cython's bounds/wraparound checks back on.
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


def compiler_accepts(args):
    """True if the C compiler builds a trivial file with `args`."""
    if sys.platform == "win32" or platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write("int main(void) { return 0; }\n")
        try:
            res = subprocess.run(cc + args + ["-c", src, "-o", os.path.join(tmp, "probe.o")],
                                 capture_output=True)
        except OSError:
            return False
        return res.returncode == 0


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
        if not compiler_accepts(TIER_ARGS[tier]):
            print(f"kl_ext: skipping {stem}: the compiler does not accept {TIER_ARGS[tier]}")
            continue
        args += TIER_ARGS[tier]
    extensions.append(Extension(
        "kl_ext." + stem,
        [path],
        include_dirs=[np.get_include(), "src"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=args,
        depends=glob.glob(os.path.join("src", "*.pxd")) + glob.glob(os.path.join("src", "*.h")),
    ))

setup(ext_modules=cythonize(extensions, compiler_directives=directives,
                            include_path=["src"]))
