# Element-wise NumPy ufuncs rel_entr, kl_div and entr (module kl_ext._special),
# drop-ins for the scipy.special functions of the same names.
#
# Each is a real numpy.ufunc with the loops SciPy registers ('ff->f', 'dd->d'
# and 'f->f', 'd->d'), so broadcasting, casting (float16 -> float32 loop,
# integers -> float64 loop, TypeError for complex/longdouble/object), `out=`,
# `where=`, scalars -> NumPy scalars and the ufunc methods all behave exactly
# as SciPy's.  The float32 loops compute in double and round once.
#
# IN : args[0] (, args[1]) strided float32/float64 input, OUT: args[-1].
# The loops never raise and never touch Python objects.  Like SciPy's, they
# emit no floating-point warnings: a loop clears the FP exception flags its
# own arithmetic raised (e.g. overflow of x/y before the log-difference
# branch, -x log x at x = DBL_MAX) before NumPy inspects them.

from libc.math cimport log, log1p, fabs, isnan, NAN, INFINITY
cimport numpy as cnp
from numpy cimport npy_intp

from _scalar cimport xlogy_ratio_series, DBL_MAX, DBL_MIN

cdef extern from "<fenv.h>" nogil:
    int feclearexcept(int excepts)
    int FE_ALL_EXCEPT

cnp.import_array()
cnp.import_ufunc()


cdef inline double entr_d(double x) noexcept nogil:
    # -x log x;  0 at x = 0, -inf for x < 0 and at +inf, NaN propagates.
    if isnan(x):
        return x
    if x > 0.0:
        return -x * log(x)
    if x == 0.0:
        return 0.0
    return -INFINITY


cdef inline double rel_entr_d(double x, double y) noexcept nogil:
    # x log(x/y) for x, y > 0;  0 for x == 0 <= y;  +inf otherwise (x < 0,
    # y < 0, or x > 0 == y).  NaN propagates.  log1p form for 0.5 < x/y < 2
    # (scipy/scipy#20710); log(x) - log(y) when x/y over- or underflows.
    cdef double r
    if isnan(x) or isnan(y):
        return NAN
    if x > 0.0 and y > 0.0:
        r = x / y
        if 0.5 < r < 2.0:
            return x * log1p((x - y) / y)
        if r > DBL_MAX or r < DBL_MIN:
            return x * (log(x) - log(y))
        return x * log(r)
    if x == 0.0 and y >= 0.0:
        return 0.0
    return INFINITY


cdef inline double kl_div_d(double x, double y) noexcept nogil:
    # x log(x/y) - x + y for x, y > 0;  y for x == 0 <= y;  +inf otherwise.
    # Finite positive arguments: near x = y (|r| <= 1/16, r = (x - y)/y,
    # x - y exact by Sterbenz) the series y r^2 f(r) of _scalar keeps full
    # relative accuracy where the formula cancels; elsewhere the plain log
    # is as accurate as log1p (the final -x + y cancels by at most ~2/r^2,
    # which bounds the error, ~5e-14 relative, whichever log is used) and
    # 3x cheaper; log(x) - log(y) when x/y over- or underflows.  An
    # infinite argument gives what the formula gives (inf - inf = NaN).
    # NaN propagates.
    cdef double r, t, lg
    if isnan(x) or isnan(y):
        return NAN
    if x > 0.0 and y > 0.0:
        if x == INFINITY or y == INFINITY:
            return NAN
        r = (x - y) / y
        if fabs(r) <= 0.0625:
            return y * (r * r) * xlogy_ratio_series(r)
        t = x / y
        if t > DBL_MAX or t < DBL_MIN:
            lg = log(x) - log(y)
        else:
            lg = log(t)
        return (x * lg - x) + y
    if x == 0.0 and y >= 0.0:
        return y
    return INFINITY


cdef void loop_entr_d(char** args, npy_intp* dims, npy_intp* steps,
                      void* data) noexcept nogil:
    cdef npy_intp i, n = dims[0]
    cdef char* ip = args[0]
    cdef char* op = args[1]
    for i in range(n):
        (<double*>op)[0] = entr_d((<double*>ip)[0])
        ip += steps[0]
        op += steps[1]
    feclearexcept(FE_ALL_EXCEPT)


cdef void loop_entr_f(char** args, npy_intp* dims, npy_intp* steps,
                      void* data) noexcept nogil:
    cdef npy_intp i, n = dims[0]
    cdef char* ip = args[0]
    cdef char* op = args[1]
    for i in range(n):
        (<float*>op)[0] = <float>entr_d((<float*>ip)[0])
        ip += steps[0]
        op += steps[1]
    feclearexcept(FE_ALL_EXCEPT)


cdef void loop_rel_entr_d(char** args, npy_intp* dims, npy_intp* steps,
                        void* data) noexcept nogil:
    cdef npy_intp i, n = dims[0]
    cdef npy_intp s0 = steps[0], s1 = steps[1], s2 = steps[2]
    cdef char* xp = args[0]
    cdef char* yp = args[1]
    cdef char* op = args[2]
    for i in range(n):
        (<double*>op)[0] = rel_entr_d((<double*>xp)[0], (<double*>yp)[0])
        xp += s0
        yp += s1
        op += s2
    feclearexcept(FE_ALL_EXCEPT)


cdef void loop_rel_entr_f(char** args, npy_intp* dims, npy_intp* steps,
                        void* data) noexcept nogil:
    cdef npy_intp i, n = dims[0]
    cdef npy_intp s0 = steps[0], s1 = steps[1], s2 = steps[2]
    cdef char* xp = args[0]
    cdef char* yp = args[1]
    cdef char* op = args[2]
    for i in range(n):
        (<float*>op)[0] = <float>rel_entr_d((<float*>xp)[0], (<float*>yp)[0])
        xp += s0
        yp += s1
        op += s2
    feclearexcept(FE_ALL_EXCEPT)


cdef void loop_kl_div_d(char** args, npy_intp* dims, npy_intp* steps,
                        void* data) noexcept nogil:
    cdef npy_intp i, n = dims[0]
    cdef npy_intp s0 = steps[0], s1 = steps[1], s2 = steps[2]
    cdef char* xp = args[0]
    cdef char* yp = args[1]
    cdef char* op = args[2]
    for i in range(n):
        (<double*>op)[0] = kl_div_d((<double*>xp)[0], (<double*>yp)[0])
        xp += s0
        yp += s1
        op += s2
    feclearexcept(FE_ALL_EXCEPT)


cdef void loop_kl_div_f(char** args, npy_intp* dims, npy_intp* steps,
                        void* data) noexcept nogil:
    cdef npy_intp i, n = dims[0]
    cdef npy_intp s0 = steps[0], s1 = steps[1], s2 = steps[2]
    cdef char* xp = args[0]
    cdef char* yp = args[1]
    cdef char* op = args[2]
    for i in range(n):
        (<float*>op)[0] = <float>kl_div_d((<float*>xp)[0], (<float*>yp)[0])
        xp += s0
        yp += s1
        op += s2
    feclearexcept(FE_ALL_EXCEPT)


# The ufunc machinery keeps pointers to these arrays and strings: they live
# as long as the module.
cdef cnp.PyUFuncGenericFunction unary_loops[2]
cdef cnp.PyUFuncGenericFunction rel_entr_loops[2]
cdef cnp.PyUFuncGenericFunction kl_div_loops[2]
cdef void* entr_data[2]
cdef void* rel_entr_data[2]
cdef void* kl_div_data[2]
cdef char unary_types[4]
cdef char binary_types[6]

unary_loops[0] = <cnp.PyUFuncGenericFunction>loop_entr_f
unary_loops[1] = <cnp.PyUFuncGenericFunction>loop_entr_d
rel_entr_loops[0] = <cnp.PyUFuncGenericFunction>loop_rel_entr_f
rel_entr_loops[1] = <cnp.PyUFuncGenericFunction>loop_rel_entr_d
kl_div_loops[0] = <cnp.PyUFuncGenericFunction>loop_kl_div_f
kl_div_loops[1] = <cnp.PyUFuncGenericFunction>loop_kl_div_d
entr_data[0] = NULL
entr_data[1] = NULL
rel_entr_data[0] = NULL
rel_entr_data[1] = NULL
kl_div_data[0] = NULL
kl_div_data[1] = NULL
unary_types[0] = cnp.NPY_FLOAT
unary_types[1] = cnp.NPY_FLOAT
unary_types[2] = cnp.NPY_DOUBLE
unary_types[3] = cnp.NPY_DOUBLE
binary_types[0] = cnp.NPY_FLOAT
binary_types[1] = cnp.NPY_FLOAT
binary_types[2] = cnp.NPY_FLOAT
binary_types[3] = cnp.NPY_DOUBLE
binary_types[4] = cnp.NPY_DOUBLE
binary_types[5] = cnp.NPY_DOUBLE

# docstrings are set from kl_ext/compat.py (numpy keeps the char* alive only
# as long as the bytes object, so keep them referenced here)
_DOCS = {
    "entr": b"entr(x, /, out=None, *, where=True, ...)\n\nElementwise -x log x "
            b"(scipy.special.entr); see kl_ext.compat.entr.",
    "rel_entr": b"rel_entr(x, y, /, out=None, *, where=True, ...)\n\nElementwise "
                b"x log(x/y) (scipy.special.rel_entr); see kl_ext.compat.rel_entr.",
    "kl_div": b"kl_div(x, y, /, out=None, *, where=True, ...)\n\nElementwise "
              b"x log(x/y) - x + y (scipy.special.kl_div); see kl_ext.compat.kl_div.",
}

entr = cnp.PyUFunc_FromFuncAndData(unary_loops, entr_data, unary_types, 2, 1, 1,
                                   cnp.PyUFunc_Zero, b"entr", _DOCS["entr"], 0)
rel_entr = cnp.PyUFunc_FromFuncAndData(rel_entr_loops, rel_entr_data, binary_types,
                                       2, 2, 1, cnp.PyUFunc_Zero, b"rel_entr",
                                       _DOCS["rel_entr"], 0)
kl_div = cnp.PyUFunc_FromFuncAndData(kl_div_loops, kl_div_data, binary_types,
                                     2, 2, 1, cnp.PyUFunc_Zero, b"kl_div",
                                     _DOCS["kl_div"], 0)
