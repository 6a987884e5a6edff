# The AVX2/FMA (x86-64-v3) build of the divergence kernels: the same source
# as _divergence.pyx, compiled by setup.py with -march=x86-64-v3 and
# KL_EXT_VECTOR=1.  kl_ext.measures picks it at import when the CPU has it.
include "_divergence.pyx"
