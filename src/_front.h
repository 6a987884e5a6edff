/* C fronts of the public measures (issue 14: one call on ~10 elements).
 *
 * kl_ext.kl_divergence and the other measures, and the SciPy drop-ins
 * kl_ext.compat.entropy and jensenshannon, are objects of this type in front
 * of their Python definitions (kl_ext/measures.py, kl_ext/compat.py, which
 * own every check, conversion and error).  A front is called by vectorcall:
 *
 *   - a plain positional call, f(p) or f(p, q), of 1-D native-order float64
 *     (or float32) ndarrays of one dtype and one length 1 <= n < KF_NMAX,
 *     aligned, with whole-element strides, is answered here: one kernel call
 *     (kf_front.kernel: row_dispatch of src/_divergence.pyx, one thread,
 *     normalize) and a NumPy scalar of the input dtype, rounded exactly as
 *     the Python definition rounds it;
 *   - anything else (keywords, other types or shapes, a row the kernel flags:
 *     negative entries, zero sums, +inf, ...) is passed on unchanged to the
 *     Python definition, so its results, errors and warnings are the
 *     definition's own.
 *
 * A Python def with keyword-only defaults costs ~70 ns per call in CPython
 * 3.11 before its first line runs (initialize_locals looks every default up
 * in __kwdefaults__), more than the 10-element kernel: the front skips it.
 *
 * The object has a __dict__ (functools.update_wrapper copies __doc__,
 * __name__, __module__, __qualname__, __wrapped__ there, so inspect.signature,
 * help and doctest see the definition), pickles by name (__reduce__), and is
 * a non-binding descriptor (__get__ returns itself), so inspect.isroutine
 * holds for it as for a builtin function.
 */
#ifndef KL_EXT_FRONT_H
#define KL_EXT_FRONT_H

#include <Python.h>
#include <structmember.h>
#include <math.h>
#include <numpy/arrayobject.h>
#include <numpy/arrayscalars.h>

/* the kernel: status (0 OK) and *res for code on n elements of type typ */
typedef int (*kf_kernel_t)(int code, int typ, const char *p, Py_ssize_t ps,
                           const char *q, Py_ssize_t qs, Py_ssize_t n,
                           double *res);

/* what is done to the kernel's value (in nats) before rounding */
enum { KF_PLAIN = 0,        /* the value */
       KF_SQRT = 1,         /* sqrt in double, then rounded (js_distance) */
       KF_SCIPY_SQRT = 2 }; /* rounded, then sqrt in the input dtype
                               (compat.jensenshannon: np.sqrt of the scalar) */

/* rows this long or longer go to the definition (threads, GIL release) */
#define KF_NMAX 131072

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *func;     /* the Python definition */
    PyObject *dict;
    int code[3];        /* kernel measure code for 0, 1, 2 positional
                           arguments; -1: not answered here */
    int post;           /* KF_PLAIN, KF_SQRT or KF_SCIPY_SQRT */
    kf_kernel_t kernel;
} kf_front;

/* p as a kernel operand: 1 and its type, length, stride in elements and
 * data, or 0 if the front does not answer for it */
static inline int kf_operand(PyObject *o, int *typ, Py_ssize_t *n,
                             Py_ssize_t *s, const char **data)
{
    PyArrayObject *a = (PyArrayObject *)o;
    Py_ssize_t isz, st;
    if (Py_TYPE(o) != &PyArray_Type || PyArray_NDIM(a) != 1)
        return 0;
    *typ = PyArray_TYPE(a);
    if (*typ != NPY_DOUBLE && *typ != NPY_FLOAT)
        return 0;
    if (!PyArray_ISALIGNED(a) || !PyArray_ISNOTSWAPPED(a))
        return 0;
    isz = PyArray_ITEMSIZE(a);
    st = PyArray_STRIDE(a, 0);
    if (st % isz != 0)
        return 0;
    *n = PyArray_DIM(a, 0);
    *s = st / isz;
    *data = PyArray_BYTES(a);
    return 1;
}

/* a new NumPy scalar of type typ holding v (rounded to float32 for
 * NPY_FLOAT), as PyArray_Scalar makes it */
static inline PyObject *kf_scalar(int typ, double v, int post)
{
    PyObject *r;
    if (typ == NPY_DOUBLE) {
        if (post != KF_PLAIN)
            v = sqrt(v);
        r = PyArrayScalar_New(Double);
        if (r != NULL)
            PyArrayScalar_ASSIGN(r, Double, v);
        return r;
    }
    float f;
    if (post == KF_SQRT)
        f = (float)sqrt(v);
    else if (post == KF_SCIPY_SQRT)
        f = sqrtf((float)v);
    else
        f = (float)v;
    r = PyArrayScalar_New(Float);
    if (r != NULL)
        PyArrayScalar_ASSIGN(r, Float, f);
    return r;
}

/* the answer to f(*args), or NULL (no error set) to pass the call on */
static PyObject *kf_answer(kf_front *f, PyObject *const *args, Py_ssize_t nargs)
{
    int code = f->code[nargs], tp, tq, st;
    Py_ssize_t n, nq, ps, qs;
    const char *p, *q;
    double res;
    if (code < 0 || !kf_operand(args[0], &tp, &n, &ps, &p))
        return NULL;
    if (nargs == 2) {
        if (!kf_operand(args[1], &tq, &nq, &qs, &q) || tq != tp || nq != n)
            return NULL;
    } else {
        q = p;
        qs = ps;
    }
    if (n < 1 || n >= KF_NMAX)
        return NULL;
    st = f->kernel(code, tp, p, ps, q, qs, n, &res);
    if (st != 0)
        return NULL;
    return kf_scalar(tp, res, f->post);
}

static PyObject *kf_vectorcall(PyObject *self, PyObject *const *args,
                               size_t nargsf, PyObject *kwnames)
{
    kf_front *f = (kf_front *)self;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (kwnames == NULL && (nargs == 1 || nargs == 2)) {
        PyObject *r = kf_answer(f, args, nargs);
        if (r != NULL || PyErr_Occurred())
            return r;
    }
    return PyObject_Vectorcall(f->func, args, nargsf, kwnames);
}

static int kf_traverse(PyObject *self, visitproc visit, void *arg)
{
    kf_front *f = (kf_front *)self;
    Py_VISIT(f->func);
    Py_VISIT(f->dict);
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static int kf_clear(PyObject *self)
{
    kf_front *f = (kf_front *)self;
    Py_CLEAR(f->func);
    Py_CLEAR(f->dict);
    return 0;
}

static void kf_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    kf_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *kf_repr(PyObject *self)
{
    return PyObject_Repr(((kf_front *)self)->func);
}

/* pickled by name, as functions are: the module attribute __qualname__ */
static PyObject *kf_reduce(PyObject *self, PyObject *unused)
{
    (void)unused;
    return PyObject_GetAttrString(((kf_front *)self)->func, "__qualname__");
}

/* a non-binding descriptor: C.f and C().f are f (as builtin functions) */
static PyObject *kf_get(PyObject *self, PyObject *obj, PyObject *type)
{
    (void)obj; (void)type;
    Py_INCREF(self);
    return self;
}

static PyMemberDef kf_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(kf_front, vectorcall), READONLY, NULL},
    {"__dictoffset__", T_PYSSIZET, offsetof(kf_front, dict), READONLY, NULL},
    {NULL, 0, 0, 0, NULL}
};

static PyGetSetDef kf_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL}
};

static PyMethodDef kf_methods[] = {
    {"__reduce__", kf_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static PyType_Slot kf_slots[] = {
    {Py_tp_dealloc, (void *)kf_dealloc},
    {Py_tp_traverse, (void *)kf_traverse},
    {Py_tp_clear, (void *)kf_clear},
    {Py_tp_repr, (void *)kf_repr},
    {Py_tp_call, (void *)PyVectorcall_Call},
    {Py_tp_descr_get, (void *)kf_get},
    {Py_tp_members, (void *)kf_members},
    {Py_tp_methods, (void *)kf_methods},
    {Py_tp_getset, (void *)kf_getset},
    {Py_tp_getattro, (void *)PyObject_GenericGetAttr},
    {Py_tp_setattro, (void *)PyObject_GenericSetAttr},
    {Py_tp_doc, (void *)"A public kl_ext function: a plain 1-D call answered "
                        "in C, every other call by its Python definition "
                        "(__wrapped__)."},
    {0, NULL}
};

static PyType_Spec kf_spec = {
    "kl_ext.measure_function", sizeof(kf_front), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    kf_slots
};

static PyObject *kf_type = NULL;

/* a new front of func (codes for 1 and 2 positional arguments, -1: none) */
static PyObject *kf_new(PyObject *func, int code1, int code2, int post,
                        kf_kernel_t kernel)
{
    kf_front *f;
    if (kf_type == NULL) {
        kf_type = PyType_FromSpec(&kf_spec);
        if (kf_type == NULL)
            return NULL;
    }
    f = PyObject_GC_New(kf_front, (PyTypeObject *)kf_type);
    if (f == NULL)
        return NULL;
    Py_INCREF(func);   /* (PyObject_GC_New took the heap type's reference) */
    f->func = func;
    f->dict = NULL;
    f->code[0] = -1;
    f->code[1] = code1;
    f->code[2] = code2;
    f->post = post;
    f->kernel = kernel;
    f->vectorcall = kf_vectorcall;
    PyObject_GC_Track((PyObject *)f);
    return (PyObject *)f;
}

#endif
