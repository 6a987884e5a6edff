"""Build the Cython kernels in src/ as extension modules kl_ext._<name>.

Flags: -O3 and -fno-math-errno only.  Never add -ffast-math, -Ofast,
-ffinite-math-only or -funsafe-math-optimizations: they break the NaN/inf
semantics of every kernel and, with GCC, set flush-to-zero for the whole
Python process.

Set KL_EXT_DEBUG=1 to turn Cython's bounds/wraparound checks back on.
"""
import glob
import os
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

debug = os.environ.get("KL_EXT_DEBUG", "0") not in ("", "0")

if sys.platform == "win32":
    extra_compile_args = ["/O2"]
else:
    extra_compile_args = ["-O3", "-fno-math-errno"]
    if debug:
        extra_compile_args = ["-O0", "-g"]

directives = {
    "language_level": "3",
    "boundscheck": debug,
    "wraparound": debug,
    "initializedcheck": debug,
    "cdivision": True,
    "embedsignature": True,
}

extensions = [
    Extension(
        "kl_ext._" + os.path.splitext(os.path.basename(path))[0].lstrip("_"),
        [path],
        include_dirs=[np.get_include(), "src"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=extra_compile_args,
    )
    for path in sorted(glob.glob(os.path.join("src", "*.pyx")))
]

setup(ext_modules=cythonize(extensions, compiler_directives=directives,
                            include_path=["src"]))
