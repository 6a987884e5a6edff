# The AVX-512 (x86-64-v4) build of the Wasserstein kernels: the same source
# as _wasserstein.pyx, compiled by setup.py with -march=x86-64-v4.
# kl_ext.wasserstein picks it at import when the CPU has it (kl_ext/_cpu.py).
include "_wasserstein.pyx"
