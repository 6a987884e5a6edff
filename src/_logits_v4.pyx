# The AVX-512 (x86-64-v4) build of the logit kernels: the same source as
# _logits.pyx, compiled by setup.py with its tier flags and KL_EXT_VECTOR=1.
# kl_ext.logits picks it at import when the CPU supports it.
include "_logits.pyx"
