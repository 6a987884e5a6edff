# The AVX-512 (x86-64-v4) build of the divergence kernels: the same source
# as _divergence.pyx, compiled by setup.py with -march=x86-64-v4,
# 512-bit vectors and KL_EXT_VECTOR=1.  kl_ext.measures picks it at import
# when the CPU has it.
include "_divergence.pyx"
