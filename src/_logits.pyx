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
from libc.stdlib cimport malloc, free
from libc.math cimport log, log1p, exp, expm1, fabs, fmin, NAN, INFINITY
cimport numpy as cnp

cdef extern from "_vexp.h" nogil:
    double kl_vexp(double x)
    double kl_vphis(double d)

cdef extern from "_vmath.h" nogil:
    int kl_max_threads()
    void kl_set_thread_cap(int n)

# threads: the worker pool of src/_pool.h (declared in src/_pool.pxd)
from _pool cimport kl_pool_fn, kl_pool_run

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
    SHORT = 32   # rows up to this length are processed 8 at a time


cdef double ONES[8]
ONES[:] = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]


cdef inline double lanes_total(double* a) noexcept nogil:
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))


cdef inline void zero8(double* a) noexcept nogil:
    cdef int j
    for j in range(8):
        a[j] = 0.0


cdef int row_max(const floating* x, Py_ssize_t n, double* m,
                 Py_ssize_t* imax) noexcept nogil:
    # m[0] = max of the row, imax[0] = index of its first occurrence;
    # returns 1 if the row has a NaN.  Lanes are all double (indices too),
    # so the loop vectorises.
    cdef double mx[8]
    cdef double ix[8]
    cdef double bad[8]
    cdef double v, r, base, best, anybad = 0.0
    cdef Py_ssize_t i, n8 = n - n % 8
    cdef int j
    for j in range(8):
        mx[j] = -INFINITY
        ix[j] = 0.0
        bad[j] = 0.0
    for i in range(0, n8, 8):
        base = <double>i
        for j in range(8):
            v = x[i + j]
            ix[j] = base + j if v > mx[j] else ix[j]
            mx[j] = v if v > mx[j] else mx[j]
            bad[j] += 0.0 if v == v else 1.0
    r = -INFINITY
    best = 0.0
    for j in range(8):
        anybad += bad[j]
        if mx[j] > r or (mx[j] == r and ix[j] < best):
            r = mx[j]
            best = ix[j]
    for i in range(n8, n):
        v = x[i]
        if v > r:
            r = v
            best = <double>i
        anybad += 0.0 if v == v else 1.0
    m[0] = r
    imax[0] = <Py_ssize_t>best
    return anybad != 0.0


cdef inline void masks(Py_ssize_t i, Py_ssize_t lo, Py_ssize_t imax, double* wm,
                       double* wv) noexcept nogil:
    # lane masks (1.0 / 0.0) of the group x[i:i+8]: wv = lanes not done
    # already (k >= lo: the overlapping last group of a row), wm = wv and
    # not the maximum (k != imax).  Double masks keep the group loops at
    # full vector width (integer masks halve it).
    cdef int j
    for j in range(8):
        wv[j] = 1.0 if i + j >= lo else 0.0
        wm[j] = wv[j] if i + j != imax else 0.0


cdef void blk_labels(const floating* x, Py_ssize_t i0, Py_ssize_t i1, double m,
                     Py_ssize_t imax, Py_ssize_t lo, double* tot) noexcept nogil:
    # tot[0] = sum exp(x_k - m) over i0 <= k < i1, k != imax, k >= lo;
    # tot[1] = sum (m - x_k) over the same k (i0, i1 multiples of 8 apart).
    # The accumulators are local arrays whose address is never taken, so
    # they stay in vector registers; only the group holding imax (and the
    # overlapping last group, lo > i0) is masked.
    cdef double a[8]
    cdef double dd[8]
    cdef double wm[8]
    cdef double v
    cdef Py_ssize_t i, gi = imax - imax % 8, e1
    cdef int j
    for j in range(8):
        a[j] = 0.0
        dd[j] = 0.0
    e1 = gi if (i0 <= gi < i1 and lo <= i0) else i1
    if lo > i0:
        e1 = i0
        gi = i0
    for i in range(i0, e1, 8):
        for j in range(8):
            v = x[i + j]
            a[j] += kl_vexp(v - m)
            dd[j] += m - v
    if e1 < i1:
        for j in range(8):
            wm[j] = 1.0 if ((gi + j != imax) & (gi + j >= lo)) else 0.0
        for j in range(8):
            v = x[gi + j]
            a[j] += kl_vexp(v - m) if wm[j] != 0.0 else 0.0
            dd[j] += (m - v) if wm[j] != 0.0 else 0.0
        for i in range(gi + 8, i1, 8):
            for j in range(8):
                v = x[i + j]
                a[j] += kl_vexp(v - m)
                dd[j] += m - v
    tot[0] = lanes_total(a)
    tot[1] = lanes_total(dd)


cdef void sums_labels(const floating* x, Py_ssize_t n, double m, Py_ssize_t imax,
                      double* acc) noexcept nogil:
    # acc[0] + acc[1] = s' = sum_{i != imax} exp(x_i - m),
    # acc[2] + acc[3] = sum (m - x_i)   (compensated pairs)
    cdef double tot[2]
    cdef Py_ssize_t i, start, stop, n8 = n - n % 8
    cdef double v, bs = 0.0, bd = 0.0
    if n < 8:
        for i in range(n):
            v = x[i]
            bs += kl_vexp(v - m) if i != imax else 0.0
            bd += m - v
        acc[0] = bs
        acc[2] = bd
        return
    for start in range(0, n8, 512):
        stop = min(start + FOLD, n8)
        blk_labels(x, start, stop, m, imax, 0, tot)
        kahan_add(&acc[0], &acc[1], tot[0])
        kahan_add(&acc[2], &acc[3], tot[1])
    if n8 < n:
        blk_labels(x, n - 8, n, m, imax, n8, tot)
        kahan_add(&acc[0], &acc[1], tot[0])
        kahan_add(&acc[2], &acc[3], tot[1])


cdef inline void grp_probs(const floating* x, const floating* t, Py_ssize_t i,
                           double m, const double* wm, const double* wv, double* a,
                           double* dd, double* w, double* tt,
                           double* tmin) noexcept nogil:
    cdef int j
    cdef double v, tv
    for j in range(8):
        v = x[i + j]
        tv = t[i + j]
        a[j] += kl_vexp(v - m) if wm[j] != 0.0 else 0.0
        dd[j] += (m - v) if wv[j] != 0.0 else 0.0
        # t * (m - x), 0 where t = 0 (also at x = -inf, where m - x = inf)
        w[j] += tv * (m - v) if (wv[j] != 0.0) & (tv != 0.0) else 0.0
        tt[j] += tv if wv[j] != 0.0 else 0.0
        tmin[j] = tv if tv < tmin[j] else tmin[j]


cdef int sums_probs(const floating* x, const floating* t, Py_ssize_t n, double m,
                    Py_ssize_t imax, double* acc) noexcept nogil:
    # acc pairs: [0,1] s', [2,3] sum (m - x_i), [4,5] sum t_i (m - x_i),
    # [6,7] sum t_i.  Returns 1 if some t_i < 0.
    cdef double a[8]
    cdef double dd[8]
    cdef double w[8]
    cdef double tt[8]
    cdef double tmin[8]
    cdef double wm[8]
    cdef double wv[8]
    cdef Py_ssize_t i, start, stop, n8 = n - n % 8
    cdef int j
    cdef double v, tv, mn = 0.0
    for j in range(8):
        tmin[j] = 0.0
    if n < 8:
        for i in range(n):
            v = x[i]
            tv = t[i]
            acc[0] += kl_vexp(v - m) if i != imax else 0.0
            acc[2] += m - v
            acc[4] += tv * (m - v) if tv != 0.0 else 0.0
            acc[6] += tv
            mn = tv if tv < mn else mn
        return mn < 0.0
    for start in range(0, n8, 512):
        stop = min(start + FOLD, n8)
        zero8(a)
        zero8(dd)
        zero8(w)
        zero8(tt)
        for i in range(start, stop, 8):
            if i <= imax < i + 8:
                masks(i, 0, imax, wm, wv)
                grp_probs(x, t, i, m, wm, wv, a, dd, w, tt, tmin)
            else:
                grp_probs(x, t, i, m, ONES, ONES, a, dd, w, tt, tmin)
        kahan_add(&acc[0], &acc[1], lanes_total(a))
        kahan_add(&acc[2], &acc[3], lanes_total(dd))
        kahan_add(&acc[4], &acc[5], lanes_total(w))
        kahan_add(&acc[6], &acc[7], lanes_total(tt))
    if n8 < n:
        zero8(a)
        zero8(dd)
        zero8(w)
        zero8(tt)
        masks(n - 8, n8, imax, wm, wv)
        grp_probs(x, t, n - 8, m, wm, wv, a, dd, w, tt, tmin)
        kahan_add(&acc[0], &acc[1], lanes_total(a))
        kahan_add(&acc[2], &acc[3], lanes_total(dd))
        kahan_add(&acc[4], &acc[5], lanes_total(w))
        kahan_add(&acc[6], &acc[7], lanes_total(tt))
    for j in range(8):
        mn = tmin[j] if tmin[j] < mn else mn
    return mn < 0.0


cdef int ce_row(const floating* x, Py_ssize_t n, Py_ssize_t label,
                const floating* t, double eps, double* res,
                double* work) noexcept nogil:
    # Cross-entropy of one row of logits x (n entries, unit stride) against
    # class `label` (t == NULL) or probability row t; eps = label smoothing.
    cdef double m, lse1, lt, s1, d, wt, tsum, loss
    cdef double acc[8]
    cdef Py_ssize_t imax, k
    cdef int neg = 0, st
    cdef double* cvt
    if t == NULL and (label < 0 or label >= n):
        res[0] = NAN
        return ST_LABEL
    if floating is float:
        # float32 rows are widened once (the double loops run at full
        # vector width; mixed float/double loops at half of it)
        # work: 2n doubles from the caller (allocated once per thread, not
        # per row: large allocations are fresh zeroed pages every time)
        cvt = work if work != NULL else <double*>malloc(2 * n * sizeof(double))
        if cvt == NULL:
            res[0] = NAN
            return ST_NOMEM
        for k in range(n):
            cvt[k] = x[k]
        if t != NULL:
            for k in range(n):
                cvt[n + k] = t[k]
        st = ce_row(<const double*>cvt, n, label,
                    <const double*>NULL if t == NULL else <const double*>(cvt + n),
                    eps, res, NULL)
        if work == NULL:
            free(cvt)
        return st
    for k in range(8):
        acc[k] = 0.0
    if row_max(x, n, &m, &imax) or m == INFINITY or m == -INFINITY:
        # NaN anywhere, +inf (softmax is inf/inf) or all -inf: NaN
        if t != NULL:
            for k in range(n):
                neg |= t[k] < 0.0
        res[0] = NAN
        return ST_NEG_TARGET if neg else ST_OK
    if t == NULL:
        sums_labels(x, n, m, imax, acc)
        s1 = kahan_total(acc[0], acc[1])
        lse1 = log1p(s1)
        lt = m - <double>x[label]
        loss = lse1
        if eps < 1.0:
            loss += (1.0 - eps) * lt
        if eps > 0.0:
            d = kahan_total(acc[2], acc[3])
            loss += (eps / n) * d
        res[0] = loss
        return ST_OK
    if sums_probs(x, t, n, m, imax, acc):
        res[0] = NAN
        return ST_NEG_TARGET
    s1 = kahan_total(acc[0], acc[1])
    d = kahan_total(acc[2], acc[3])
    wt = kahan_total(acc[4], acc[5])
    tsum = kahan_total(acc[6], acc[7])
    lse1 = log1p(s1)
    loss = 0.0
    if eps < 1.0:
        loss += (1.0 - eps) * (wt + tsum * lse1)
    if eps > 0.0:
        loss += eps * ((d / n) + lse1)
    res[0] = loss
    return ST_OK


cdef void blk_kl2(const floating* a, const floating* b, Py_ssize_t i0,
                  Py_ssize_t i1, Py_ssize_t lo, double ma, double mb, double it,
                  double* pe, double* qe, double* tot) noexcept nogil:
    # pass 2 of kl_row over i0 <= k < i1 (a multiple of 8 apart): pe, qe =
    # exp((a - ma)/T), exp((b - mb)/T); tot[0], tot[1] = their sums over
    # k >= lo (the overlapping last group has lo > i0).  Local accumulators
    # stay in vector registers.
    cdef double au[8]
    cdef double av[8]
    cdef double wv[8]
    cdef double p, q
    cdef Py_ssize_t i
    cdef int j
    for j in range(8):
        au[j] = 0.0
        av[j] = 0.0
        wv[j] = 1.0 if i0 + j >= lo else 0.0
    for i in range(i0, i1, 8):
        for j in range(8):
            p = kl_vexp((a[i + j] - ma) * it)
            q = kl_vexp((b[i + j] - mb) * it)
            pe[i + j] = p
            qe[i + j] = q
            au[j] += p * wv[j]
            av[j] += q * wv[j]
    tot[0] = lanes_total(au)
    tot[1] = lanes_total(av)


cdef inline double kl_elem(double p, double q, double dv) noexcept nogil:
    # p log(p/q) - p + q >= 0 with d = log(p/q) given: q*phi(d) by its series
    # for |d| <= 1 (no cancellation near p = q), else the direct form; q
    # where p = 0 (also d = NaN or -inf there).  Branch-free (selects).
    cdef double term = q * (dv * dv) * kl_vphis(dv) if fabs(dv) <= 1.0 else (p * dv - p) + q
    return term if p != 0.0 else q


cdef double blk_kl3(const floating* a, const floating* b, Py_ssize_t i0,
                    Py_ssize_t i1, Py_ssize_t lo, double it, double c, double iu,
                    double iv, const double* pe, const double* qe) noexcept nogil:
    # pass 3 of kl_row: sum of the element terms over i0 <= k < i1, k >= lo
    cdef double at[8]
    cdef double wv[8]
    cdef double dv
    cdef Py_ssize_t i
    cdef int j
    for j in range(8):
        at[j] = 0.0
        wv[j] = 1.0 if i0 + j >= lo else 0.0
    for i in range(i0, i1, 8):
        for j in range(8):
            dv = (a[i + j] - b[i + j]) * it - c
            at[j] += kl_elem(pe[i + j] * iu, qe[i + j] * iv, dv) if wv[j] != 0.0 else 0.0
    return lanes_total(at)


cdef inline void two_diff(double a, double b, double* s, double* e) noexcept nogil:
    # a - b = s + e exactly (Knuth's TwoSum of a and -b)
    cdef double x = a - b
    cdef double z = x - a
    s[0] = x
    e[0] = (a - (x - z)) + (-b - z)


cdef double kl_near(const double* a, const double* b, Py_ssize_t n, double it,
                    double ma, double mb) noexcept nogil:
    # KL(softmax(a/T) || softmax(b/T)) of a nearly equal pair (unit stride,
    # finite maxima ma, mb), where kl_row's d = (a - b)/T - c loses digits:
    # a - b rounds (shifted logits) and c = log(Za/Zb) carries the rounding
    # of su/sv, ~eps absolute, whose square alone is ~eps^2/KL relative.
    # Here d_i = e_i - c' with e_i = ((a_i - b_i) - (ma - mb))/T from exact
    # differences (TwoSum) and c' = log(Za/Zb) - (ma - mb)/T
    # = log1p(sum_i q_i expm1(e_i)), q = softmax(b/T): an error of ~eps
    # relative to c' itself.  Two scalar passes, compensated.
    cdef double dh, dl, s, e, ei, p, q, su = 0.0, suc = 0.0, sv = 0.0, svc = 0.0
    cdef double w = 0.0, wc = 0.0, c, t = 0.0, tc = 0.0, iu, iv
    cdef Py_ssize_t i
    two_diff(ma, mb, &dh, &dl)
    for i in range(n):
        p = exp((a[i] - ma) * it)
        q = exp((b[i] - mb) * it)
        two_diff(a[i], b[i], &s, &e)
        ei = ((s - dh) + (e - dl)) * it
        kahan_add(&su, &suc, p)
        kahan_add(&sv, &svc, q)
        if q != 0.0:
            # (a_i = -inf: e_i is NaN, exp(e_i) = 0; b_i = -inf: q = 0, no term)
            kahan_add(&w, &wc, q * (expm1(ei) if ei == ei else -1.0))
    su = kahan_total(su, suc)
    sv = kahan_total(sv, svc)
    c = log1p(kahan_total(w, wc) / sv)
    iu = 1.0 / su
    iv = 1.0 / sv
    for i in range(n):
        two_diff(a[i], b[i], &s, &e)
        ei = ((s - dh) + (e - dl)) * it
        kahan_add(&t, &tc, kl_elem(exp((a[i] - ma) * it) * iu,
                                   exp((b[i] - mb) * it) * iv, ei - c))
    t = kahan_total(t, tc)
    return t if t > 0.0 else 0.0


cdef inline bint kl_is_near(double v, double ma, double mb, double it,
                            double c) noexcept nogil:
    # 1 if kl_row's one-pass value v may be off by more than ~1e-14 relative:
    # the roundings of a - b and of c (~eps times s = 1 + (|ma| + |mb|)/T
    # + |c|, absolute) enter d, whose relative error ~eps s / sqrt(KL) must
    # stay small: v < 2**-20 s^2, and at most 2**-10 (above it the one-pass
    # value is accurate; huge logits make s^2 overflow)
    cdef double sc = 1.0 + (fabs(ma) + fabs(mb)) * it + fabs(c)
    return v < fmin(9.5367431640625e-07 * sc * sc, 0.0009765625)


cdef int kl_row(const floating* a, const floating* b, Py_ssize_t n, double temp,
                double* res, double* work) noexcept nogil:
    # work: NULL or 4n doubles from the caller (allocated once per thread)
    # KL(softmax(a/T) || softmax(b/T)) of one pair of rows (unit stride).
    # Pass 1: the maxima.  Pass 2: unnormalised probabilities pe, qe (kept
    # in a buffer) and their sums su, sv.  Pass 3: the non-negative terms
    # p d - p + q, d = log(p/q) = (a - b)/T - c, c = log(Za/Zb)
    # = (ma - mb)/T + log(su/sv).  The sum is stationary in c (its
    # derivative sum(q - p) is 0), so the rounding of c enters only at
    # second order: KL ~ 1e-20 keeps its relative accuracy.
    cdef double ma, mb, c, su, sv, iu, iv, it, tot
    cdef double acc[4]
    cdef double part[2]
    cdef double sbuf[2 * STACK]
    cdef double pa[8]
    cdef double pb[8]
    cdef double* pe
    cdef double* qe
    cdef Py_ssize_t i, start, stop, ia, ib, n8 = n - n % 8
    cdef int j
    if floating is float:
        # float32 rows are widened once (see ce_row)
        pe = work + 2 * n if work != NULL else <double*>malloc(2 * n * sizeof(double))
        if pe == NULL:
            res[0] = NAN
            return ST_NOMEM
        for i in range(n):
            pe[i] = a[i]
            pe[n + i] = b[i]
        j = kl_row(<const double*>pe, <const double*>(pe + n), n, temp, res, work)
        if work == NULL:
            free(pe)
        return j
    if n < 8:
        # a short row: pad both rows to 8 with -inf, which is exactly
        # neutral (p = q = 0 there), and take the vector path
        for j in range(8):
            pa[j] = a[j] if j < n else -INFINITY
            pb[j] = b[j] if j < n else -INFINITY
        return kl_row(<const double*>pa, <const double*>pb, 8, temp, res, NULL)
    if row_max(a, n, &ma, &ia) | row_max(b, n, &mb, &ib):
        res[0] = NAN
        return ST_OK
    if ma == INFINITY or mb == INFINITY or ma == -INFINITY or mb == -INFINITY:
        res[0] = NAN
        return ST_OK
    if n <= STACK:
        pe = sbuf
    elif work != NULL:
        pe = work
    else:
        pe = <double*>malloc(2 * n * sizeof(double))
        if pe == NULL:
            res[0] = NAN
            return ST_NOMEM
    qe = pe + n
    it = 1.0 / temp
    for j in range(4):
        acc[j] = 0.0
    for start in range(0, n8, 512):
        stop = min(start + FOLD, n8)
        blk_kl2(a, b, start, stop, 0, ma, mb, it, pe, qe, part)
        kahan_add(&acc[0], &acc[1], part[0])
        kahan_add(&acc[2], &acc[3], part[1])
    if n8 < n:
        blk_kl2(a, b, n - 8, n, n8, ma, mb, it, pe, qe, part)
        kahan_add(&acc[0], &acc[1], part[0])
        kahan_add(&acc[2], &acc[3], part[1])
    su = kahan_total(acc[0], acc[1])
    sv = kahan_total(acc[2], acc[3])
    c = (ma - mb) * it + log(su / sv)
    iu = 1.0 / su
    iv = 1.0 / sv
    acc[0] = 0.0
    acc[1] = 0.0
    for start in range(0, n8, 512):
        stop = min(start + FOLD, n8)
        kahan_add(&acc[0], &acc[1], blk_kl3(a, b, start, stop, 0, it, c, iu, iv, pe, qe))
    if n8 < n:
        kahan_add(&acc[0], &acc[1], blk_kl3(a, b, n - 8, n, n8, it, c, iu, iv, pe, qe))
    if n > STACK and work == NULL:
        free(pe)
    tot = kahan_total(acc[0], acc[1])
    res[0] = tot if tot > 0.0 else 0.0   # NaN stays NaN
    if kl_is_near(res[0], ma, mb, it, c):
        res[0] = kl_near(<const double*>a, <const double*>b, n, it, ma, mb)
    return ST_OK


cdef Py_ssize_t ce_block8(const floating* x, Py_ssize_t xrs, Py_ssize_t n,
                          const cnp.int64_t* lab, double eps, double* out,
                          cnp.npy_int8* status) noexcept nogil:
    # Labels cross-entropy of 8 short rows (n <= SHORT) at once: the rows
    # are transposed into a local buffer so that lane j is row j, and the
    # maxima and exp sums of the 8 rows run side by side in vector lanes
    # (one row of 10 logits alone is too short to fill a vector).  Rows
    # with a NaN, +-inf maximum or a bad label take ce_row.
    cdef double buf[SHORT * 8]
    cdef double mx[8]
    cdef double ix[8]
    cdef double bad[8]
    cdef double sm[8]
    cdef double dd[8]
    cdef double v, cd, loss
    cdef Py_ssize_t c, lb
    cdef Py_ssize_t flagged = 0
    cdef int j, st
    for j in range(8):
        for c in range(n):
            buf[c * 8 + j] = x[j * xrs + c]
    for j in range(8):
        mx[j] = -INFINITY
        ix[j] = 0.0
        bad[j] = 0.0
        sm[j] = 0.0
        dd[j] = 0.0
    for c in range(n):
        cd = <double>c
        for j in range(8):
            v = buf[c * 8 + j]
            ix[j] = cd if v > mx[j] else ix[j]
            mx[j] = v if v > mx[j] else mx[j]
            bad[j] += 0.0 if v == v else 1.0
    for c in range(n):
        cd = <double>c
        for j in range(8):
            v = buf[c * 8 + j]
            sm[j] += kl_vexp(v - mx[j]) if cd != ix[j] else 0.0
            dd[j] += mx[j] - v
    for j in range(8):
        lb = lab[j]
        if (bad[j] != 0.0 or mx[j] == INFINITY or mx[j] == -INFINITY
                or lb < 0 or lb >= n):
            st = ce_row(x + j * xrs, n, lb, <const floating*>NULL, eps, out + j, NULL)
        else:
            loss = log1p(sm[j])
            if eps < 1.0:
                loss += (1.0 - eps) * (mx[j] - buf[lb * 8 + j])
            if eps > 0.0:
                loss += (eps / n) * dd[j]
            out[j] = loss
            st = ST_OK
        status[j] = <cnp.npy_int8>st
        flagged += st != 0
    return flagged


cdef Py_ssize_t ce_unit(const floating* x, Py_ssize_t xrs, Py_ssize_t nrows,
                        Py_ssize_t n, const cnp.int64_t* labels,
                        const floating* t, Py_ssize_t trs, double eps,
                        double* out, cnp.npy_int8* status,
                        Py_ssize_t r0, Py_ssize_t r1, double* work) noexcept nogil:
    # rows r0 <= r < r1; work: per-thread scratch (see ce_row)
    cdef Py_ssize_t r, flagged = 0
    cdef int st
    if t == NULL and n <= SHORT and r1 - r0 == 8:
        return ce_block8(x + r0 * xrs, xrs, n, labels + r0, eps, out + r0, status + r0)
    for r in range(r0, r1):
        if t == NULL:
            st = ce_row(x + r * xrs, n, labels[r], t, eps, out + r, work)
        else:
            st = ce_row(x + r * xrs, n, 0, t + r * trs, eps, out + r, work)
        status[r] = <cnp.npy_int8>st
        flagged += st != 0
    return flagged


# A threaded row loop is a Job and an item function (kl_pool_run): item k
# is units k * per .. (k + 1) * per - 1 of 8 rows each, with its own
# scratch; every row writes its own out[r] and status[r].
cdef struct Job:
    bint f64
    const void* a       # logits x (cross-entropy) or a (KL)
    const void* b       # probability rows t (or NULL) or logits b
    Py_ssize_t ars, brs, nrows, n, per, wsize
    const cnp.int64_t* labels
    double par          # eps (cross-entropy) or temp (KL)
    double* out
    cnp.npy_int8* status


cdef void item_ce(void* ctx, Py_ssize_t k) noexcept nogil:
    cdef Job* j = <Job*>ctx
    cdef Py_ssize_t u, nunits = (j.nrows + 7) // 8
    cdef double* work = <double*>malloc(j.wsize * sizeof(double)) if j.wsize else NULL
    for u in range(k * j.per, min((k + 1) * j.per, nunits)):
        if j.f64:
            ce_unit(<const double*>j.a, j.ars, j.nrows, j.n, j.labels, <const double*>j.b,
                    j.brs, j.par, j.out, j.status, 8 * u, min(8 * u + 8, j.nrows), work)
        else:
            ce_unit(<const float*>j.a, j.ars, j.nrows, j.n, j.labels, <const float*>j.b,
                    j.brs, j.par, j.out, j.status, 8 * u, min(8 * u + 8, j.nrows), work)
    free(work)


cdef void item_kl(void* ctx, Py_ssize_t k) noexcept nogil:
    cdef Job* j = <Job*>ctx
    cdef Py_ssize_t u, nunits = (j.nrows + 7) // 8
    cdef double* work = <double*>malloc(j.wsize * sizeof(double)) if j.wsize else NULL
    for u in range(k * j.per, min((k + 1) * j.per, nunits)):
        if j.f64:
            kl_unit(<const double*>j.a, j.ars, <const double*>j.b, j.brs, j.n, j.par,
                    j.out, j.status, 8 * u, min(8 * u + 8, j.nrows), work)
        else:
            kl_unit(<const float*>j.a, j.ars, <const float*>j.b, j.brs, j.n, j.par,
                    j.out, j.status, 8 * u, min(8 * u + 8, j.nrows), work)
    free(work)


cdef Py_ssize_t pool_rows(kl_pool_fn fn, Job* j, int nthreads) noexcept nogil:
    # run fn over the units of j on nthreads threads; the number of flagged rows
    cdef Py_ssize_t r, flagged = 0, nunits = (j.nrows + 7) // 8
    j.per = 1 + 8192 // (8 * j.n + 1)
    kl_pool_run(nthreads, (nunits + j.per - 1) // j.per, fn, j)
    for r in range(j.nrows):
        flagged += j.status[r] != 0
    return flagged


cdef Py_ssize_t ce_rows_typed(const floating* x, Py_ssize_t xrs, Py_ssize_t nrows,
                              Py_ssize_t n, const cnp.int64_t* labels,
                              const floating* t, Py_ssize_t trs, double eps,
                              double* out, cnp.npy_int8* status,
                              int nthreads) noexcept nogil:
    # IN: nrows rows of n logits (row stride xrs elements), labels (or NULL)
    # or probability rows t (row stride trs, 0 = broadcast).
    # OUT: out[r], status[r]; returns the number of flagged rows.
    # Work units of 8 rows (short rows go through ce_block8).
    cdef Py_ssize_t u, nunits = (nrows + 7) // 8, flagged = 0
    cdef double* work = NULL
    cdef Py_ssize_t wsize = 2 * n if (floating is float and n > SHORT) else 0
    cdef Job job
    if nthreads > 1 and nunits >= 2 * nthreads:
        job = Job(f64=floating is double, a=<const void*>x, b=<const void*>t, ars=xrs,
                  brs=trs, nrows=nrows, n=n, per=0, wsize=wsize, labels=labels, par=eps,
                  out=out, status=status)
        return pool_rows(item_ce, &job, nthreads)
    work = <double*>malloc(wsize * sizeof(double)) if wsize else NULL
    for u in range(nunits):
        flagged += ce_unit(x, xrs, nrows, n, labels, t, trs, eps, out, status,
                           8 * u, min(8 * u + 8, nrows), work)
    free(work)
    return flagged


cdef Py_ssize_t kl_block8(const floating* a, Py_ssize_t ars, const floating* b,
                          Py_ssize_t brs, Py_ssize_t n, double temp, double* out,
                          cnp.npy_int8* status) noexcept nogil:
    # kl_row for 8 short row pairs (n <= SHORT) side by side in vector lanes
    # (see ce_block8); rows with NaN or an infinite maximum take kl_row.
    cdef double ba[SHORT * 8]
    cdef double bb[SHORT * 8]
    cdef double pe[SHORT * 8]
    cdef double qe[SHORT * 8]
    cdef double ma[8]
    cdef double mb[8]
    cdef double bad[8]
    cdef double su[8]
    cdef double sv[8]
    cdef double cc[8]
    cdef double iu[8]
    cdef double iv[8]
    cdef double tot[8]
    cdef double x, y, p, q, it = 1.0 / temp
    cdef Py_ssize_t c, k, flagged = 0
    cdef int j, st
    for j in range(8):
        for c in range(n):
            ba[c * 8 + j] = a[j * ars + c]
            bb[c * 8 + j] = b[j * brs + c]
    for j in range(8):
        ma[j] = -INFINITY
        mb[j] = -INFINITY
        bad[j] = 0.0
        su[j] = 0.0
        sv[j] = 0.0
        tot[j] = 0.0
    for c in range(n):
        for j in range(8):
            x = ba[c * 8 + j]
            y = bb[c * 8 + j]
            ma[j] = x if x > ma[j] else ma[j]
            mb[j] = y if y > mb[j] else mb[j]
            bad[j] += 0.0 if (x == x) & (y == y) else 1.0
    for c in range(n):
        for j in range(8):
            k = c * 8 + j
            p = kl_vexp((ba[k] - ma[j]) * it)
            q = kl_vexp((bb[k] - mb[j]) * it)
            pe[k] = p
            qe[k] = q
            su[j] += p
            sv[j] += q
    for j in range(8):
        cc[j] = (ma[j] - mb[j]) * it + log(su[j] / sv[j])
        iu[j] = 1.0 / su[j]
        iv[j] = 1.0 / sv[j]
    for c in range(n):
        for j in range(8):
            k = c * 8 + j
            tot[j] += kl_elem(pe[k] * iu[j], qe[k] * iv[j], (ba[k] - bb[k]) * it - cc[j])
    for j in range(8):
        if (bad[j] != 0.0 or ma[j] == INFINITY or mb[j] == INFINITY
                or ma[j] == -INFINITY or mb[j] == -INFINITY):
            st = kl_row(a + j * ars, b + j * brs, n, temp, out + j, NULL)
        else:
            out[j] = tot[j] if tot[j] > 0.0 else 0.0
            st = ST_OK
            if kl_is_near(out[j], ma[j], mb[j], it, cc[j]):
                # (the same value kl_row gives this row alone)
                st = kl_row(a + j * ars, b + j * brs, n, temp, out + j, NULL)
        status[j] = <cnp.npy_int8>st
        flagged += st != 0
    return flagged


cdef Py_ssize_t kl_unit(const floating* a, Py_ssize_t ars, const floating* b,
                        Py_ssize_t brs, Py_ssize_t n, double temp, double* out,
                        cnp.npy_int8* status, Py_ssize_t r0,
                        Py_ssize_t r1, double* work) noexcept nogil:
    cdef Py_ssize_t r, flagged = 0
    cdef int st
    if n <= SHORT and r1 - r0 == 8:
        return kl_block8(a + r0 * ars, ars, b + r0 * brs, brs, n, temp, out + r0,
                         status + r0)
    for r in range(r0, r1):
        st = kl_row(a + r * ars, b + r * brs, n, temp, out + r, work)
        status[r] = <cnp.npy_int8>st
        flagged += st != 0
    return flagged


cdef Py_ssize_t kl_rows_typed(const floating* a, Py_ssize_t ars,
                              const floating* b, Py_ssize_t brs,
                              Py_ssize_t nrows, Py_ssize_t n, double temp,
                              double* out, cnp.npy_int8* status,
                              int nthreads) noexcept nogil:
    cdef Py_ssize_t u, nunits = (nrows + 7) // 8, flagged = 0
    cdef double* work = NULL
    cdef Py_ssize_t wsize = 4 * n if n > STACK or (floating is float and n > SHORT) else 0
    cdef Job job
    if nthreads > 1 and nunits >= 2 * nthreads:
        job = Job(f64=floating is double, a=<const void*>a, b=<const void*>b, ars=ars,
                  brs=brs, nrows=nrows, n=n, per=0, wsize=wsize, labels=NULL, par=temp,
                  out=out, status=status)
        return pool_rows(item_kl, &job, nthreads)
    work = <double*>malloc(wsize * sizeof(double)) if wsize else NULL
    for u in range(nunits):
        flagged += kl_unit(a, ars, b, brs, n, temp, out, status, 8 * u,
                           min(8 * u + 8, nrows), work)
    free(work)
    return flagged


# calls with at least PAR_MIN elements run on the pool's threads (as many
# as OpenMP's count: OMP_NUM_THREADS / threadpoolctl), as the divergence
# kernels do
cdef Py_ssize_t PAR_MIN = 131072


cdef inline int n_threads(Py_ssize_t work):
    if work < PAR_MIN:
        return 1
    return kl_max_threads()


def max_threads():
    """Threads a large call would use now (1 without OpenMP)."""
    return kl_max_threads()


def set_thread_cap(int n):
    """Never run more than `n` threads (0: no cap); see kl_ext._threads.cpu_budget."""
    kl_set_thread_cap(n)


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
