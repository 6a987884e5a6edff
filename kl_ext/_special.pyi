# Stub for the compiled module kl_ext._special (src/_special.pyx).
# Three NumPy ufuncs with SciPy's loops: 'ff->f', 'dd->d' (rel_entr, kl_div)
# and 'f->f', 'd->d' (entr); documented in kl_ext.compat.
# NumPy's own stubs type every np.ufunc call as returning Any (as for np.log),
# so calls of these do too: annotate the variable that receives the result.
import numpy as np

entr: np.ufunc
rel_entr: np.ufunc
kl_div: np.ufunc
