# The AVX-512 (x86-64-v4) CPU-tier build of the one-pass scoring report:
# the same source as _compare.pyx, compiled by setup.py with -march=x86-64-v4
# and KL_EXT_VECTOR=1; kl_ext.report picks it at import when the CPU has it.
include "_compare.pyx"
