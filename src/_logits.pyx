# Row kernels for cross-entropy and KL divergence in logit space
# (module kl_ext._logits; AVX2/AVX-512 builds _logits_v3/_logits_v4).
#
# Contract (checked by kl_ext/logits.py before any call here):
#   * logits (and probability targets, logits_q) are 2-D ndarrays
#     (nrows, n), n >= 1, float32 or float64 (both arrays of one dtype),
#     aligned, element stride == item size (unit stride); the row stride is
#     any multiple of the item size, 0 for a broadcast row (read in place);
#   * labels is a C-contiguous int64 array of nrows;
#   * out is a C-contiguous float64 array of nrows, status an int8 array.
# Kernels never raise and never write to their inputs.  Results are nats.
# Status per row: 0 OK, 1 label out of range, 2 negative target entry,
# 3 out of memory.
#
# Stability: each row is shifted by its maximum m before any exp, so
# exp(x - m) <= 1 never overflows, and the log-sum-exp is written as
# m + log1p(s'), s' = sum of exp(x_i - m) over every entry but the (first)
# maximal one, so a confident correct prediction keeps full relative
# accuracy (loss = log1p(s') ~ s', down to subnormals).  Every loss is a
# sum of non-negative terms (m - x_i >= 0, log1p(s') >= 0): no
# cancellation.  Accumulation is in double in 8 independent lanes (SIMD in
# the vector builds) folded every 512 elements into a compensated total.

cimport cython
from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport malloc, free
from libc.math cimport log, log1p, fabs, NAN, INFINITY
cimport numpy as cnp

cdef extern from "_vexp.h" nogil:
    double kl_vexp(double x)
    double kl_vexpm1s(double x)
    double kl_vphis(double d)

cdef extern from "_vmath.h" nogil:
    int kl_max_threads()

from _scalar cimport kahan_add, kahan_total

cnp.import_array()

cdef enum:
    ST_OK = 0
    ST_LABEL = 1
    ST_NEG_TARGET = 2
    ST_NOMEM = 3

cdef enum:
    FOLD = 512   # lanes are folded into the compensated totals this often
    STACK = 256  # KL rows up to this length keep their buffers on the stack


cdef inline double lanes_total(double* a) noexcept nogil:
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))


cdef inline void zero8(double* a) noexcept nogil:
    cdef int j
    for j in range(8):
        a[j] = 0.0


cdef int row_max(const floating* x, Py_ssize_t n, double* m) noexcept nogil:
    # m[0] = max of the row; returns 1 if the row has a NaN
    cdef double mx[8]
    cdef int bad[8]
    cdef double v, r
    cdef Py_ssize_t i, n8 = n - n % 8
    cdef int j, anybad = 0
    for j in range(8):
        mx[j] = -INFINITY
        bad[j] = 0
    for i in range(0, n8, 8):
        for j in range(8):
            v = x[i + j]
            mx[j] = v if v > mx[j] else mx[j]
            bad[j] |= v != v
    r = -INFINITY
    for j in range(8):
        r = mx[j] if mx[j] > r else r
        anybad |= bad[j]
    for i in range(n8, n):
        v = x[i]
        r = v if v > r else r
        anybad |= v != v
    m[0] = r
    return anybad


cdef Py_ssize_t find(const floating* x, Py_ssize_t n, double m) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if x[i] == m:
            return i
    return 0


cdef void sums_labels(const floating* x, Py_ssize_t lo, Py_ssize_t hi, double m,
                      bint want_d, double* acc) noexcept nogil:
    # acc[0..1] += sum exp(x_i - m) (compensated: acc[0] + acc[1]);
    # want_d: acc[2..3] += sum (m - x_i), lo <= i < hi
    cdef double a[8]
    cdef double dd[8]
    cdef Py_ssize_t i, start, stop, n8 = hi - (hi - lo) % 8
    cdef int j
    cdef double bs, bd
    for start in range(lo, n8, 512):
        stop = min(start + FOLD, n8)
        zero8(a)
        zero8(dd)
        if want_d:
            for i in range(start, stop, 8):
                for j in range(8):
                    a[j] += kl_vexp(x[i + j] - m)
                    dd[j] += m - x[i + j]
            kahan_add(&acc[2], &acc[3], lanes_total(dd))
        else:
            for i in range(start, stop, 8):
                for j in range(8):
                    a[j] += kl_vexp(x[i + j] - m)
        kahan_add(&acc[0], &acc[1], lanes_total(a))
    bs = 0.0
    bd = 0.0
    for i in range(n8, hi):
        bs += kl_vexp(x[i] - m)
        bd += m - x[i]
    kahan_add(&acc[0], &acc[1], bs)
    if want_d:
        kahan_add(&acc[2], &acc[3], bd)


cdef void sums_probs(const floating* x, const floating* t, Py_ssize_t lo,
                     Py_ssize_t hi, double m, double* acc, int* neg) noexcept nogil:
    # acc[0..1] += sum exp(x_i - m), acc[2..3] += sum (m - x_i),
    # acc[4..5] += sum t_i (m - x_i) (0 where t_i = 0, also at x_i = -inf),
    # acc[6..7] += sum t_i; neg[0] |= any t_i < 0
    cdef double a[8]
    cdef double dd[8]
    cdef double w[8]
    cdef double tt[8]
    cdef int ng[8]
    cdef Py_ssize_t i, start, stop, n8 = hi - (hi - lo) % 8
    cdef int j
    cdef double v, tv, bs = 0.0, bd = 0.0, bw = 0.0, bt = 0.0
    for j in range(8):
        ng[j] = 0
    for start in range(lo, n8, 512):
        stop = min(start + FOLD, n8)
        zero8(a)
        zero8(dd)
        zero8(w)
        zero8(tt)
        for i in range(start, stop, 8):
            for j in range(8):
                v = x[i + j]
                tv = t[i + j]
                a[j] += kl_vexp(v - m)
                dd[j] += m - v
                w[j] += tv * (m - v) if tv != 0.0 else 0.0
                tt[j] += tv
                ng[j] |= tv < 0.0
        kahan_add(&acc[0], &acc[1], lanes_total(a))
        kahan_add(&acc[2], &acc[3], lanes_total(dd))
        kahan_add(&acc[4], &acc[5], lanes_total(w))
        kahan_add(&acc[6], &acc[7], lanes_total(tt))
    for j in range(8):
        neg[0] |= ng[j]
    for i in range(n8, hi):
        v = x[i]
        tv = t[i]
        bs += kl_vexp(v - m)
        bd += m - v
        bw += tv * (m - v) if tv != 0.0 else 0.0
        bt += tv
        neg[0] |= tv < 0.0
    kahan_add(&acc[0], &acc[1], bs)
    kahan_add(&acc[2], &acc[3], bd)
    kahan_add(&acc[4], &acc[5], bw)
    kahan_add(&acc[6], &acc[7], bt)


cdef int ce_row(const floating* x, Py_ssize_t n, Py_ssize_t label,
                const floating* t, double eps, double* res) noexcept nogil:
    # Cross-entropy of one row of logits x (n entries, unit stride) against
    # class `label` (t == NULL) or probability row t; eps = label smoothing.
    cdef double m, lse1, lt, s1, d, wt, tsum, tmax, loss
    cdef double acc[8]
    cdef Py_ssize_t imax, k
    cdef int neg = 0
    if t == NULL and (label < 0 or label >= n):
        res[0] = NAN
        return ST_LABEL
    for k in range(8):
        acc[k] = 0.0
    if row_max(x, n, &m) or m == INFINITY or m == -INFINITY:
        # NaN anywhere, +inf (softmax is inf/inf) or all -inf: NaN
        if t != NULL:
            for k in range(n):
                neg |= t[k] < 0.0
        res[0] = NAN
        return ST_NEG_TARGET if neg else ST_OK
    imax = find(x, n, m)
    if t == NULL:
        sums_labels(x, 0, imax, m, eps > 0.0, acc)
        sums_labels(x, imax + 1, n, m, eps > 0.0, acc)
        s1 = kahan_total(acc[0], acc[1])
        d = kahan_total(acc[2], acc[3])
        lse1 = log1p(s1)
        lt = m - <double>x[label]
        loss = lse1
        if eps < 1.0:
            loss += (1.0 - eps) * lt
        if eps > 0.0:
            loss += (eps / n) * d
        res[0] = loss
        return ST_OK
    sums_probs(x, t, 0, imax, m, acc, &neg)
    sums_probs(x, t, imax + 1, n, m, acc, &neg)
    tmax = t[imax]
    neg |= tmax < 0.0
    if neg:
        res[0] = NAN
        return ST_NEG_TARGET
    s1 = kahan_total(acc[0], acc[1])
    d = kahan_total(acc[2], acc[3])
    wt = kahan_total(acc[4], acc[5])
    tsum = kahan_total(acc[6], acc[7]) + tmax
    lse1 = log1p(s1)
    loss = 0.0
    if eps < 1.0:
        loss += (1.0 - eps) * (wt + tsum * lse1)
    if eps > 0.0:
        loss += eps * ((d / n) + lse1)
    res[0] = loss
    return ST_OK


cdef int kl_row(const floating* a, const floating* b, Py_ssize_t n, double temp,
                double* res) noexcept nogil:
    # KL(softmax(a/T) || softmax(b/T)) of one pair of rows (unit stride).
    cdef double ma, mb, c, su, sv, su_c, sv_c, ac, acc_c, iu, iv
    cdef double x, y, dl, p, q, dv, term, tot, totc
    cdef double au[8]
    cdef double av[8]
    cdef double aa[8]
    cdef double at[8]
    cdef int far8[8]
    cdef double sbuf[2 * STACK]
    cdef double* pe
    cdef double* qe
    cdef Py_ssize_t i, start, stop, n8 = n - n % 8
    cdef int j, far = 0
    if row_max(a, n, &ma) | row_max(b, n, &mb):
        res[0] = NAN
        return ST_OK
    if ma == INFINITY or mb == INFINITY or ma == -INFINITY or mb == -INFINITY:
        res[0] = NAN
        return ST_OK
    if n <= STACK:
        pe = sbuf
    else:
        pe = <double*>malloc(2 * n * sizeof(double))
        if pe == NULL:
            res[0] = NAN
            return ST_NOMEM
    qe = pe + n
    # pass 2: unnormalised probabilities, their sums, and (when every
    # |a_i - b_i| <= T) sum qe_i expm1((a_i - b_i)/T) for the log-ratio of
    # the partition functions, which then keeps full accuracy near a = b
    su = 0.0
    su_c = 0.0
    sv = 0.0
    sv_c = 0.0
    ac = 0.0
    acc_c = 0.0
    for j in range(8):
        far8[j] = 0
    for start in range(0, n8, 512):
        stop = min(start + FOLD, n8)
        zero8(au)
        zero8(av)
        zero8(aa)
        for i in range(start, stop, 8):
            for j in range(8):
                x = a[i + j]
                y = b[i + j]
                dl = (x - y) / temp
                p = kl_vexp((x - ma) / temp)
                q = kl_vexp((y - mb) / temp)
                pe[i + j] = p
                qe[i + j] = q
                au[j] += p
                av[j] += q
                far8[j] |= not (fabs(dl) <= 1.0)
                aa[j] += q * kl_vexpm1s(dl if fabs(dl) <= 1.0 else 0.0)
        kahan_add(&su, &su_c, lanes_total(au))
        kahan_add(&sv, &sv_c, lanes_total(av))
        kahan_add(&ac, &acc_c, lanes_total(aa))
    for j in range(8):
        far |= far8[j]
    for i in range(n8, n):
        x = a[i]
        y = b[i]
        dl = (x - y) / temp
        p = kl_vexp((x - ma) / temp)
        q = kl_vexp((y - mb) / temp)
        pe[i] = p
        qe[i] = q
        kahan_add(&su, &su_c, p)
        kahan_add(&sv, &sv_c, q)
        far |= not (fabs(dl) <= 1.0)
        kahan_add(&ac, &acc_c, q * kl_vexpm1s(dl if fabs(dl) <= 1.0 else 0.0))
    su = kahan_total(su, su_c)
    sv = kahan_total(sv, sv_c)
    if far:
        c = (ma - mb) / temp + log(su / sv)
    else:
        c = log1p(kahan_total(ac, acc_c) / sv)
    # pass 3: sum of the non-negative terms p log(p/q) - p + q with
    # log(p/q) = d = (a - b)/T - c; q*phi(d) by its series for |d| <= 1
    iu = 1.0 / su
    iv = 1.0 / sv
    tot = 0.0
    totc = 0.0
    for start in range(0, n8, 512):
        stop = min(start + FOLD, n8)
        zero8(at)
        for i in range(start, stop, 8):
            for j in range(8):
                p = pe[i + j] * iu
                q = qe[i + j] * iv
                dv = (a[i + j] - b[i + j]) / temp - c
                term = q * (dv * dv) * kl_vphis(dv) if fabs(dv) <= 1.0 else (p * dv - p) + q
                at[j] += term if p != 0.0 else q
        kahan_add(&tot, &totc, lanes_total(at))
    for i in range(n8, n):
        p = pe[i] * iu
        q = qe[i] * iv
        dv = (a[i] - b[i]) / temp - c
        term = q * (dv * dv) * kl_vphis(dv) if fabs(dv) <= 1.0 else (p * dv - p) + q
        kahan_add(&tot, &totc, term if p != 0.0 else q)
    if n > STACK:
        free(pe)
    tot = kahan_total(tot, totc)
    res[0] = tot if tot > 0.0 else 0.0   # NaN stays NaN
    return ST_OK


cdef Py_ssize_t ce_rows_typed(const floating* x, Py_ssize_t xrs, Py_ssize_t nrows,
                              Py_ssize_t n, const cnp.int64_t* labels,
                              const floating* t, Py_ssize_t trs, double eps,
                              double* out, cnp.npy_int8* status,
                              int nthreads) noexcept nogil:
    # IN: nrows rows of n logits (row stride xrs elements), labels (or NULL)
    # or probability rows t (row stride trs, 0 = broadcast).
    # OUT: out[r], status[r]; returns the number of flagged rows.
    cdef Py_ssize_t r, flagged = 0
    cdef int st
    if nthreads > 1 and nrows >= 2 * nthreads:
        for r in prange(nrows, num_threads=nthreads, schedule="static"):
            if t == NULL:
                st = ce_row(x + r * xrs, n, labels[r], t, eps, out + r)
            else:
                st = ce_row(x + r * xrs, n, 0, t + r * trs, eps, out + r)
            status[r] = <cnp.npy_int8>st
            flagged += st != 0
        return flagged
    for r in range(nrows):
        if t == NULL:
            st = ce_row(x + r * xrs, n, labels[r], t, eps, out + r)
        else:
            st = ce_row(x + r * xrs, n, 0, t + r * trs, eps, out + r)
        status[r] = <cnp.npy_int8>st
        flagged += st != 0
    return flagged


cdef Py_ssize_t kl_rows_typed(const floating* a, Py_ssize_t ars,
                              const floating* b, Py_ssize_t brs,
                              Py_ssize_t nrows, Py_ssize_t n, double temp,
                              double* out, cnp.npy_int8* status,
                              int nthreads) noexcept nogil:
    cdef Py_ssize_t r, flagged = 0
    cdef int st
    if nthreads > 1 and nrows >= 2 * nthreads:
        for r in prange(nrows, num_threads=nthreads, schedule="static"):
            st = kl_row(a + r * ars, b + r * brs, n, temp, out + r)
            status[r] = <cnp.npy_int8>st
            flagged += st != 0
        return flagged
    for r in range(nrows):
        st = kl_row(a + r * ars, b + r * brs, n, temp, out + r)
        status[r] = <cnp.npy_int8>st
        flagged += st != 0
    return flagged


# calls with at least PAR_MIN elements run on OpenMP threads
# (OMP_NUM_THREADS / threadpoolctl), as the divergence kernels do
cdef Py_ssize_t PAR_MIN = 131072


cdef inline int n_threads(Py_ssize_t work):
    if work < PAR_MIN:
        return 1
    return kl_max_threads()


cdef inline bint layout_ok(cnp.ndarray a):
    cdef Py_ssize_t isz = cnp.PyArray_ITEMSIZE(a)
    cdef int t = cnp.PyArray_TYPE(a)
    if cnp.PyArray_NDIM(a) != 2 or not cnp.PyArray_ISALIGNED(a):
        return False
    if t != cnp.NPY_DOUBLE and t != cnp.NPY_FLOAT:
        return False
    if cnp.PyArray_DIM(a, 1) > 1 and cnp.PyArray_STRIDE(a, 1) != isz:
        return False
    return cnp.PyArray_STRIDE(a, 0) % isz == 0


def ce_rows(cnp.ndarray x, cnp.ndarray labels, cnp.ndarray t, double eps,
            cnp.ndarray out, cnp.ndarray status):
    """Cross-entropy of each row of x (nrows, n) against int64 `labels`
    (nrows,) or, if `labels` is None, probability rows `t` (nrows, n), with
    label smoothing `eps`, into out (float64) and status (int8).

    Returns the number of flagged rows, or -1 (nothing done) if a layout is
    not supported (see the module comment).
    """
    cdef Py_ssize_t nrows = cnp.PyArray_DIM(x, 0)
    cdef Py_ssize_t n = cnp.PyArray_DIM(x, 1)
    cdef Py_ssize_t isz = cnp.PyArray_ITEMSIZE(x)
    cdef Py_ssize_t xrs = cnp.PyArray_STRIDE(x, 0) // isz
    cdef Py_ssize_t trs = 0
    cdef const cnp.int64_t* lab = NULL
    cdef const void* tp = NULL
    cdef double* o = <double*>cnp.PyArray_DATA(out)
    cdef cnp.npy_int8* s = <cnp.npy_int8*>cnp.PyArray_DATA(status)
    cdef Py_ssize_t flagged
    cdef int nt
    if not layout_ok(x):
        return -1
    if labels is not None:
        if (cnp.PyArray_TYPE(labels) != cnp.NPY_INT64 or cnp.PyArray_NDIM(labels) != 1
                or not cnp.PyArray_IS_C_CONTIGUOUS(labels)
                or cnp.PyArray_DIM(labels, 0) != nrows):
            return -1
        lab = <const cnp.int64_t*>cnp.PyArray_DATA(labels)
    else:
        if (not layout_ok(t) or cnp.PyArray_TYPE(t) != cnp.PyArray_TYPE(x)
                or cnp.PyArray_DIM(t, 0) != nrows or cnp.PyArray_DIM(t, 1) != n):
            return -1
        tp = cnp.PyArray_DATA(t)
        trs = cnp.PyArray_STRIDE(t, 0) // isz
    nt = n_threads(nrows * n)
    if cnp.PyArray_TYPE(x) == cnp.NPY_DOUBLE:
        with nogil:
            flagged = ce_rows_typed(<const double*>cnp.PyArray_DATA(x), xrs, nrows, n,
                                    lab, <const double*>tp, trs, eps, o, s, nt)
    else:
        with nogil:
            flagged = ce_rows_typed(<const float*>cnp.PyArray_DATA(x), xrs, nrows, n,
                                    lab, <const float*>tp, trs, eps, o, s, nt)
    return flagged


def kl_rows(cnp.ndarray a, cnp.ndarray b, double temp, cnp.ndarray out,
            cnp.ndarray status):
    """KL(softmax(a/T) || softmax(b/T)) of each row pair of 2-D views a, b
    (nrows, n) into out (float64) and status (int8).  Returns the number of
    flagged rows, or -1 (nothing done) for an unsupported layout."""
    cdef Py_ssize_t nrows = cnp.PyArray_DIM(a, 0)
    cdef Py_ssize_t n = cnp.PyArray_DIM(a, 1)
    cdef Py_ssize_t isz = cnp.PyArray_ITEMSIZE(a)
    cdef double* o = <double*>cnp.PyArray_DATA(out)
    cdef cnp.npy_int8* s = <cnp.npy_int8*>cnp.PyArray_DATA(status)
    cdef Py_ssize_t flagged, ars, brs
    cdef int nt
    if (not layout_ok(a) or not layout_ok(b) or cnp.PyArray_TYPE(a) != cnp.PyArray_TYPE(b)
            or cnp.PyArray_DIM(b, 0) != nrows or cnp.PyArray_DIM(b, 1) != n):
        return -1
    ars = cnp.PyArray_STRIDE(a, 0) // isz
    brs = cnp.PyArray_STRIDE(b, 0) // isz
    nt = n_threads(nrows * n)
    if cnp.PyArray_TYPE(a) == cnp.NPY_DOUBLE:
        with nogil:
            flagged = kl_rows_typed(<const double*>cnp.PyArray_DATA(a), ars,
                                    <const double*>cnp.PyArray_DATA(b), brs,
                                    nrows, n, temp, o, s, nt)
    else:
        with nogil:
            flagged = kl_rows_typed(<const float*>cnp.PyArray_DATA(a), ars,
                                    <const float*>cnp.PyArray_DATA(b), brs,
                                    nrows, n, temp, o, s, nt)
    return flagged
