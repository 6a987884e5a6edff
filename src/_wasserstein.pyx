# Merge-walk kernels for 1-D Wasserstein distances (module kl_ext._wasserstein).
#
# Contract (checked by kl_ext/wasserstein.py before any call here):
#   * u and v are ndarrays of one dtype, float32 or float64, 1-D (one
#     problem) or 2-D (nrows, n) / (nrows, m) with the same number of rows;
#     a broadcast row has row stride 0 and is read in place;
#   * every row is sorted ascending (NaN, if any, last: np.sort's order);
#   * n, m >= 1;
#   * weights are None (each sample weighs 1) or float64 arrays of their
#     values' shape, non-negative with a positive finite sum per row;
#   * out is a C-contiguous float64 array with one slot per row.
# If an array is unaligned or has a stride that is not a whole number of
# elements the entry points do nothing and return -1 (the caller copies).
# The nogil kernels never raise, never write to their inputs, never touch a
# Python object, and always advance an index in every step of a walk, so an
# unsorted row (a broken assume_sorted promise) gives a wrong number, never a
# hang or an out-of-bounds read.  Weighted and CDF walks first write the
# normalised cumulative weights of both rows to a scratch buffer of n + m + 2
# doubles (malloc'd once per call; MemoryError from the entry point if that
# fails), then merge branch-free: the merge order of random samples defeats
# the branch predictor.  For finite orders other than 1, a sum of |d|^p that
# over- or underflows is redone with the distances scaled by a power of two.
#
# Two walks:
#   QUANTILE  W_p^p = int_0^1 |F_u^-1(t) - F_v^-1(t)|^p dt: the quantile
#             functions are steps, constant between the merged cumulative
#             weights t; each step adds (t_next - t) * |u_i - v_j|^p.  Unit
#             weights use exact integer breakpoints (units of 1/(n m)); equal
#             sizes reduce to mean |u_i - v_i|^p.  Order inf: the largest
#             |u_i - v_j| over steps of positive mass.
#   CDF       (int |U - V|^p dx)^(1/p), U, V the right-continuous CDFs, on
#             the merged sorted samples: SciPy's _cdf_distance, with its
#             edge values (NaN anywhere -> NaN; a repeated +-inf value -> NaN,
#             SciPy's inf - inf in a zero-width step).
# Accumulation is in double (also for float32 values), in blocks of 64 terms
# folded into a compensated (Neumaier) total.

cimport cython
from cython cimport floating
from libc.math cimport fabs, pow, sqrt, isnan, isinf, frexp, ldexp, NAN, INFINITY
cimport numpy as cnp
import numpy as np
from libc.stdlib cimport malloc, free

from _scalar cimport kahan_add, kahan_total
# the kernels' own worker pool (src/_pool.h, declared in src/_pool.pxd)
from _pool cimport kl_pool_run

cdef extern from "_walk.h" nogil:
    # error-free transformations and double-double helpers (see _walk.h)
    double kw_two_sum(double a, double b, double* e)
    double kw_two_prod(double a, double b, double* e)
    void kw_dd_add(double ah, double al, double bh, double bl, double* rh, double* rl)
    void kw_dd_div(double ah, double al, double bh, double bl, double* rh, double* rl)
    double kw_dd_diff(double ah, double al, double bh, double bl)
    void kw_dd_div_all(double* th, double* tl, Py_ssize_t n, double Sh, double Sl)
    int kw_hist_d(const double* p, Py_ssize_t ps, const double* q, Py_ssize_t qs,
                  const double* x, Py_ssize_t n, int normalize, double* res)
    int kw_hist_f(const float* p, Py_ssize_t ps, const float* q, Py_ssize_t qs,
                  const double* x, Py_ssize_t n, int normalize, double* res)
    # buf: NULL or 32-byte aligned scratch of 2 n vectors of 4 doubles
    void kw_hist4_d(const double** pp, Py_ssize_t ps, const double** qq, Py_ssize_t qs,
                    const double* x, Py_ssize_t n, int normalize, double* res, int* st,
                    void* buf, const double** nx)
    void kw_hist4_f(const float** pp, Py_ssize_t ps, const float** qq, Py_ssize_t qs,
                    const double* x, Py_ssize_t n, int normalize, double* res, int* st,
                    void* buf, const float** nx)
    double kw_hist_chunk_d(const double* p, Py_ssize_t ps, const double* q, Py_ssize_t qs,
                           const double* x, Py_ssize_t steps, double mph, double mpl,
                           double mqh, double mql, double d0h, double d0l)
    double kw_hist_chunk_f(const float* p, Py_ssize_t ps, const float* q, Py_ssize_t qs,
                           const double* x, Py_ssize_t steps, double mph, double mpl,
                           double mqh, double mql, double d0h, double d0l)
    int KW_PLAIN
    double kw_qseg_d(const double* u, Py_ssize_t us, Py_ssize_t n, const double* v,
                     Py_ssize_t vs, Py_ssize_t m, const double* tu, const double* tul,
                     const double* tv, const double* tvl, Py_ssize_t i, Py_ssize_t j,
                     Py_ssize_t ie, Py_ssize_t je, int mode, double p, double sc)
    double kw_qseg_f(const float* u, Py_ssize_t us, Py_ssize_t n, const float* v,
                     Py_ssize_t vs, Py_ssize_t m, const double* tu, const double* tul,
                     const double* tv, const double* tvl, Py_ssize_t i, Py_ssize_t j,
                     Py_ssize_t ie, Py_ssize_t je, int mode, double p, double sc)

cdef extern from "_sort.h" nogil:
    # malloc, or for large sizes 2 MB aligned memory advised to use huge
    # pages (Linux); freed with free()
    void* ks_scratch(size_t bytes)

cnp.import_array()

cdef enum:
    QUANTILE = 0
    CDF = 1

cdef enum:
    P_ONE = 1
    P_TWO = 2
    P_GENERAL = 3
    P_INF = 4


cdef inline double powp(double d, int mode, double p) noexcept nogil:
    # |.|^p for d >= 0 (or NaN) with the two common orders special-cased
    if mode == P_ONE:
        return d
    if mode == P_TWO:
        return d * d
    return pow(d, p)


cdef inline double root(double s, int mode, double p) noexcept nogil:
    if mode == P_ONE:
        return s
    if mode == P_TWO:
        return sqrt(s)
    return pow(s, 1.0 / p)


cdef double quantile_equal(const floating* u, Py_ssize_t us,
                           const floating* v, Py_ssize_t vs, Py_ssize_t n,
                           int mode, double p, double sc) noexcept nogil:
    # unit weights, n == m: W_p^p = (1/n) sum |u_(i) - v_(i)|^p
    # (returned before the root, with every distance multiplied by sc)
    cdef double t = 0.0, tc = 0.0, b, d, mx = 0.0
    cdef Py_ssize_t i, start, stop
    if mode == P_INF:
        for i in range(n):
            d = fabs(<double>u[i * us] - <double>v[i * vs])
            if not d <= mx:   # also takes NaN
                mx = d
                if isnan(d):
                    return NAN
        return mx
    for start in range(0, n, 64):
        stop = min(start + 64, n)
        b = 0.0
        if mode == P_ONE:
            for i in range(start, stop):
                b += fabs(<double>u[i * us] - <double>v[i * vs])
        elif mode == P_TWO:
            for i in range(start, stop):
                d = (<double>u[i * us] - <double>v[i * vs]) * sc
                b += d * d
        else:
            for i in range(start, stop):
                b += pow(fabs(<double>u[i * us] - <double>v[i * vs]) * sc, p)
        kahan_add(&t, &tc, b)
    return kahan_total(t, tc) / <double>n


cdef double quantile_unit(const floating* u, Py_ssize_t us, Py_ssize_t n,
                          const floating* v, Py_ssize_t vs, Py_ssize_t m,
                          int mode, double p, double sc) noexcept nogil:
    # unit weights, n != m: breakpoints (i+1) m and (j+1) n in units of
    # 1/(n m), exact in integers
    cdef long long eu = m, ev = n, e, prev = 0
    cdef Py_ssize_t i = 0, j = 0, k
    cdef double t = 0.0, tc = 0.0, b, d, mx = 0.0
    while i < n and j < m:
        b = 0.0
        for k in range(64):
            e = eu if eu < ev else ev
            d = fabs(<double>u[i * us] - <double>v[j * vs])
            if mode == P_INF:
                if not d <= mx:
                    mx = d
                    if isnan(d):
                        return NAN
            else:
                b += <double>(e - prev) * powp(d * sc, mode, p)
            prev = e
            # (branches: the breakpoints do not depend on the data, so the
            # predictor learns their periodic pattern)
            if eu == e:
                i += 1
                eu += m
            if ev == e:
                j += 1
                ev += n
            if i >= n or j >= m:
                break
        kahan_add(&t, &tc, b)
    if mode == P_INF:
        return mx
    return kahan_total(t, tc) / (<double>n * <double>m)


cdef void fill_cum(const double* w, Py_ssize_t ws, Py_ssize_t n, bint lead_zero,
                   double* th, double* tl) noexcept nogil:
    # Normalised cumulative weights as double-doubles th[i] + tl[i] =
    # (w_0 + ... + w_i) / S, or, with lead_zero, t[0] = 0 and t[i + 1] =
    # that (SciPy's cumulative array).  The running sum is a double-double
    # (TwoSum), S is its last value, and each entry is its dd quotient by S
    # (kw_dd_div): within ~eps**2 of the exact fraction, the last entry
    # exactly 1, equal fractions of an exactly representable S equal.  w
    # NULL: unit weights, t[i] = (i + 1) / n as a dd.
    cdef Py_ssize_t i, o = 1 if lead_zero else 0
    cdef double sh = 0.0, sl = 0.0, e, dn = <double>n, h
    if lead_zero:
        th[0] = 0.0
        tl[0] = 0.0
    if w == NULL:
        for i in range(n):
            h = <double>(i + 1) / dn
            # (i + 1) - h n exactly, then divided by n
            sh = kw_two_prod(h, dn, &e)
            th[i + o] = h
            tl[i + o] = ((<double>(i + 1) - sh) - e) / dn
        return
    for i in range(n):
        sh = kw_two_sum(sh, w[i * ws], &e)
        sl += e
        th[i + o] = sh
        tl[i + o] = sl
    kw_dd_div_all(th + o, tl + o, n, sh, sl)


ctypedef struct Segs:
    # a weighted walk's segment scratch (split_walk): starts bi, bj and the
    # partial sums of up to walk_nseg(n, m) segments, and its thread count
    Py_ssize_t* bi
    Py_ssize_t* bj
    double* part
    int nt


cdef inline bint dd_le(double a, double al, double c, double cl) noexcept nogil:
    # (a + al) <= (c + cl) for double-doubles (hi parts first)
    return a < c or (a == c and al <= cl)


# The weighted walk runs in fixed segments of WALK_SEG merged breakpoints
# (the last one shorter): segment s starts where the first s * WALK_SEG
# breakpoints of the merge end, moved on past every breakpoint equal to the
# last of them (runs of ties, zero weights), so that it starts in a state
# the whole walk passes through.  The segments depend on n, m and the
# weights only; each gives a partial sum, added in segment order, so the
# result does not depend on the thread count (one segment when n + m <=
# WALK_SEG: exactly the whole walk).
cdef enum:
    WALK_SEG = 16384


cdef inline Py_ssize_t walk_nseg(Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    return (n + m + WALK_SEG - 1) // WALK_SEG


cdef Py_ssize_t count_le(const double* th, const double* tl, Py_ssize_t n,
                         double h, double l) noexcept nogil:
    # how many of the nondecreasing dd values t[0 .. n) are <= h + l
    cdef Py_ssize_t lo = 0, hi = n, mid
    while lo < hi:
        mid = lo + (hi - lo) // 2
        if dd_le(th[mid], tl[mid], h, l):
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef void split_walk(const double* tu, const double* tul, Py_ssize_t n,
                     const double* tv, const double* tvl, Py_ssize_t m,
                     Py_ssize_t nseg, Py_ssize_t* bi, Py_ssize_t* bj) noexcept nogil:
    # OUT: bi[s], bj[s] (s <= nseg): where segment s starts in u and v
    # (bi[nseg] = n, bj[nseg] = m).  Merge path: the first r breakpoints of
    # the merge (u's first on ties) are tu[:i], tv[:r - i]; their largest,
    # T, then decides: i = #{tu <= T}, j = #{tv <= T}.  Nondecreasing in s
    # whatever the data.
    cdef Py_ssize_t s, r, lo, hi, mid, i, j
    cdef double h, l
    bi[0] = 0
    bj[0] = 0
    for s in range(1, nseg):
        r = s * WALK_SEG
        lo = r - m if r > m else 0
        hi = r if r < n else n
        while lo < hi:
            mid = lo + (hi - lo) // 2
            if dd_le(tu[mid], tul[mid], tv[r - mid - 1], tvl[r - mid - 1]):
                lo = mid + 1
            else:
                hi = mid
        i = lo
        j = r - lo
        if i > 0 and (j == 0 or dd_le(tv[j - 1], tvl[j - 1], tu[i - 1], tul[i - 1])):
            h = tu[i - 1]
            l = tul[i - 1]
        else:
            h = tv[j - 1]
            l = tvl[j - 1]
        i = count_le(tu, tul, n, h, l)
        j = count_le(tv, tvl, m, h, l)
        bi[s] = i if i > bi[s - 1] else bi[s - 1]
        bj[s] = j if j > bj[s - 1] else bj[s - 1]
    bi[nseg] = n
    bj[nseg] = m


ctypedef struct WalkJob:
    const void* u       # sorted values, float32 or float64
    const void* v
    Py_ssize_t us, n, vs, m
    const double* tu    # dd cumulative weights: hi parts, lo parts
    const double* tul
    const double* tv
    const double* tvl
    const Py_ssize_t* bi    # segment starts (split_walk)
    const Py_ssize_t* bj
    double* part        # OUT: one partial sum per segment
    int mode
    double p
    double sc
    bint f32


cdef void walk_item(void* ctx, Py_ssize_t s) noexcept nogil:
    # pool item s: segment s of the WalkJob ctx (kw_qseg_*, src/_walk.h)
    cdef WalkJob* w = <WalkJob*>ctx
    if w.f32:
        w.part[s] = kw_qseg_f(<const float*>w.u, w.us, w.n, <const float*>w.v, w.vs, w.m,
                              w.tu, w.tul, w.tv, w.tvl, w.bi[s], w.bj[s],
                              w.bi[s + 1], w.bj[s + 1], w.mode, w.p, w.sc)
    else:
        w.part[s] = kw_qseg_d(<const double*>w.u, w.us, w.n, <const double*>w.v, w.vs, w.m,
                              w.tu, w.tul, w.tv, w.tvl, w.bi[s], w.bj[s],
                              w.bi[s + 1], w.bj[s + 1], w.mode, w.p, w.sc)


ctypedef struct CumJob:
    const double* w[2]      # weights (or NULL: unit weights), stride ws
    Py_ssize_t ws[2]
    Py_ssize_t n[2]
    double* t[2]            # OUT: hi parts, then lo parts (n + 1 apart)


cdef void cum_item(void* ctx, Py_ssize_t k) noexcept nogil:
    # pool item k: the cumulative weights of sample k (0: u, 1: v)
    cdef CumJob* c = <CumJob*>ctx
    fill_cum(c.w[k], c.ws[k], c.n[k], False, c.t[k], c.t[k] + c.n[k] + 1)


cdef void fill_cum2(const double* uw, Py_ssize_t uws, Py_ssize_t n,
                    const double* vw, Py_ssize_t vws, Py_ssize_t m,
                    double* tu, double* tv, int nt) noexcept nogil:
    # fill_cum of u's and v's weights (no leading zero) into tu, tv, as two
    # pool items when nt > 1 (each is one sample's own pass: the same bits)
    cdef CumJob c
    c.w[0] = uw
    c.w[1] = vw
    c.ws[0] = uws
    c.ws[1] = vws
    c.n[0] = n
    c.n[1] = m
    c.t[0] = tu
    c.t[1] = tv
    if nt > 1:
        kl_pool_run(nt, 2, cum_item, &c)
    else:
        cum_item(&c, 0)
        cum_item(&c, 1)


cdef double quantile_weighted(const floating* u, Py_ssize_t us, Py_ssize_t n,
                              const floating* v, Py_ssize_t vs, Py_ssize_t m,
                              const double* tu, const double* tul,
                              const double* tv, const double* tvl,
                              int mode, double p, double sc, Segs* sg) noexcept nogil:
    # W_p^p with weights (kw_qseg_*, src/_walk.h), its segments on sg.nt threads,
    # their partial sums added in segment order (order inf: the largest)
    cdef Py_ssize_t nseg = walk_nseg(n, m), s
    cdef WalkJob job
    cdef double t = 0.0, tc = 0.0, d, mx = 0.0
    if nseg == 1:
        if floating is float:
            return kw_qseg_f(u, us, n, v, vs, m, tu, tul, tv, tvl, 0, 0, n, m, mode, p, sc)
        else:
            return kw_qseg_d(u, us, n, v, vs, m, tu, tul, tv, tvl, 0, 0, n, m, mode, p, sc)
    split_walk(tu, tul, n, tv, tvl, m, nseg, sg.bi, sg.bj)
    job.u = <const void*>u
    job.v = <const void*>v
    job.us = us
    job.n = n
    job.vs = vs
    job.m = m
    job.tu = tu
    job.tul = tul
    job.tv = tv
    job.tvl = tvl
    job.bi = sg.bi
    job.bj = sg.bj
    job.part = sg.part
    job.mode = mode
    job.p = p
    job.sc = sc
    job.f32 = floating is float
    if sg.nt > 1:
        kl_pool_run(sg.nt, nseg, walk_item, &job)
    else:
        for s in range(nseg):
            walk_item(&job, s)
    if mode == P_INF:
        for s in range(nseg):
            d = sg.part[s]
            if not d <= mx:
                mx = d
                if isnan(d):
                    return NAN
        return mx
    for s in range(nseg):
        kahan_add(&t, &tc, sg.part[s])
    return kahan_total(t, tc)


cdef double cdf_walk(const floating* u, Py_ssize_t us, Py_ssize_t n,
                     const floating* v, Py_ssize_t vs, Py_ssize_t m,
                     const double* cu, const double* cul,
                     const double* cv, const double* cvl,
                     int mode, double p) noexcept nogil:
    # (int |U - V|^p dx)^(1/p) over the merged sorted samples, one step per
    # sample as in SciPy: U = cu[i] + cul[i], V = cv[j] + cvl[j]
    # (double-double cumulative arrays with a leading 0) after i samples of
    # u and j of v, U - V rounded once, times the gap to the next sample.  Ties give zero-width steps (0 * |U - V|^p = 0), except at
    # +-inf where the gap is inf - inf = NaN, exactly SciPy's values.
    cdef double x, xn, a, c, t = 0.0, tc = 0.0, b
    cdef Py_ssize_t i = 0, j = 0, k
    cdef bint tk
    if isnan(<double>u[(n - 1) * us]) or isnan(<double>v[(m - 1) * vs]):
        return NAN
    a = u[0]
    c = v[0]
    if a <= c:
        x = a
        i = 1
    else:
        x = c
        j = 1
    while i < n and j < m:
        b = 0.0
        for k in range(64):
            a = u[i * us]
            c = v[j * vs]
            tk = a <= c
            xn = c if c < a else a      # min, branch-free (no NaN here)
            b += powp(fabs(kw_dd_diff(cu[i], cul[i], cv[j], cvl[j])), mode, p) * (xn - x)
            x = xn
            i += tk
            j += not tk
            if i >= n or j >= m:
                break
        kahan_add(&t, &tc, b)
    b = 0.0
    while i < n:
        xn = u[i * us]
        b += powp(fabs(kw_dd_diff(cu[i], cul[i], cv[j], cvl[j])), mode, p) * (xn - x)
        x = xn
        i += 1
    while j < m:
        xn = v[j * vs]
        b += powp(fabs(kw_dd_diff(cu[i], cul[i], cv[j], cvl[j])), mode, p) * (xn - x)
        x = xn
        j += 1
    kahan_add(&t, &tc, b)
    return root(kahan_total(t, tc), mode, p)


cdef double quantile(const floating* u, Py_ssize_t us, Py_ssize_t n,
                     const floating* v, Py_ssize_t vs, Py_ssize_t m,
                     const double* tu, const double* tv, bint weighted,
                     int mode, double p, double sc, Segs* sg) noexcept nogil:
    # tu, tv: dd cumulative weights, hi parts then lo parts (n + 1, m + 1
    # apart: see row)
    # W_p^p with distances times sc (order inf: the largest distance)
    if not weighted:
        if n == m:
            return quantile_equal(u, us, v, vs, n, mode, p, sc)
        return quantile_unit(u, us, n, v, vs, m, mode, p, sc)
    return quantile_weighted(u, us, n, v, vs, m, tu, tu + n + 1, tv, tv + m + 1,
                             mode, p, sc, sg)


cdef double row(int kind, const floating* u, Py_ssize_t us,
                const double* uw, Py_ssize_t uws, Py_ssize_t n,
                const floating* v, Py_ssize_t vs,
                const double* vw, Py_ssize_t vws, Py_ssize_t m,
                int mode, double p, double* tu, double* tv, Segs* sg) noexcept nogil:
    # tu, tv: scratch of 2 (n + 1) and 2 (m + 1) doubles (dd cumulative
    # weights: n + 1 hi parts, then n + 1 lo parts); sg: the weighted walk's
    # segments (see quantile_weighted)
    cdef bint weighted = uw != NULL or vw != NULL
    if kind == CDF:
        fill_cum(uw, uws, n, True, tu, tu + n + 1)
        fill_cum(vw, vws, m, True, tv, tv + m + 1)
        return cdf_walk(u, us, n, v, vs, m, tu, tu + n + 1, tv, tv + m + 1, mode, p)
    if weighted:
        fill_cum2(uw, uws, n, vw, vws, m, tu, tv, sg.nt)
    return quantile_root(u, us, n, v, vs, m, tu, tv, weighted, mode, p, sg)


cdef double quantile_root(const floating* u, Py_ssize_t us, Py_ssize_t n,
                          const floating* v, Py_ssize_t vs, Py_ssize_t m,
                          const double* tu, const double* tv, bint weighted,
                          int mode, double p, Segs* sg) noexcept nogil:
    # W_p of sorted rows from their dd cumulative weights tu, tv (if
    # weighted; hi parts, then lo parts n + 1, m + 1 on: see row)
    cdef double s, mx
    cdef int e
    s = quantile(u, us, n, v, vs, m, tu, tv, weighted, mode, p, 1.0, sg)
    if mode == P_INF or mode == P_ONE:
        return s
    if not (s < 1e290 and s > 1e-280) and not isnan(s):
        # |d|^p overflowed or underflowed (or the distance is 0): scale the
        # distances by a power of two near the largest one and walk again
        mx = quantile(u, us, n, v, vs, m, tu, tv, weighted, P_INF, p, 1.0, sg)
        if mx > 0.0 and not isinf(mx):
            frexp(mx, &e)
            if e < -1000:
                e = -1000   # 2**1000 is as far up as a factor can go
            s = quantile(u, us, n, v, vs, m, tu, tv, weighted, mode, p,
                         ldexp(1.0, -e), sg)
            return ldexp(root(s, mode, p), e)
    return root(s, mode, p)


cdef void rows_typed(int kind, const floating* u, Py_ssize_t urs, Py_ssize_t us,
                     const double* uw, Py_ssize_t uwrs, Py_ssize_t uws, Py_ssize_t n,
                     const floating* v, Py_ssize_t vrs, Py_ssize_t vs,
                     const double* vw, Py_ssize_t vwrs, Py_ssize_t vws, Py_ssize_t m,
                     Py_ssize_t nrows, int mode, double p, double* out,
                     double* scratch, Segs* sg) noexcept nogil:
    # IN: nrows problems; row/element strides in elements (weights: float64);
    # scratch: 2 (n + m + 2) doubles; sg: segment scratch.  OUT: out[r].
    cdef Py_ssize_t r
    for r in range(nrows):
        out[r] = row(kind, u + r * urs, us,
                     uw + r * uwrs if uw != NULL else NULL, uws, n,
                     v + r * vrs, vs,
                     vw + r * vwrs if vw != NULL else NULL, vws, m, mode, p,
                     scratch, scratch + 2 * (n + 1), sg)


cdef inline bint layout_ok(cnp.ndarray a, int ndim):
    cdef Py_ssize_t isz = cnp.PyArray_ITEMSIZE(a)
    cdef int d
    if cnp.PyArray_NDIM(a) != ndim or not cnp.PyArray_ISALIGNED(a):
        return False
    for d in range(ndim):
        if cnp.PyArray_STRIDE(a, d) % isz != 0:
            return False
    return True


cdef inline void strides(cnp.ndarray a, int ndim, Py_ssize_t* rs, Py_ssize_t* es):
    cdef Py_ssize_t isz = cnp.PyArray_ITEMSIZE(a)
    if ndim == 1:
        rs[0] = 0
        es[0] = cnp.PyArray_STRIDE(a, 0) // isz
    else:
        rs[0] = cnp.PyArray_STRIDE(a, 0) // isz
        es[0] = cnp.PyArray_STRIDE(a, 1) // isz


# weighted walks of at least this many samples (n + m) run their segments
# on several threads; _walk_active (read and written with the GIL held) is
# set while a call runs multi-threaded
cdef Py_ssize_t WALK_PAR_MIN = 131072
cdef int _walk_active = 0


cdef int want_threads(int nthreads, Py_ssize_t work, Py_ssize_t par_min,
                      int active) noexcept:
    # the threads of a call, as the divergence kernels count them: nthreads
    # 1 runs on the calling thread only, 0 the default (kl_max_threads()),
    # n > 1 at most n; work below par_min, or a call made while another one
    # from a different Python thread runs multi-threaded (active), takes one
    cdef int nt
    if nthreads == 1 or work < par_min or active:
        return 1
    nt = kl_max_threads()
    if nthreads > 1 and nt > nthreads:
        nt = nthreads
    return nt


cdef int segs_alloc(Segs* sg, Py_ssize_t nseg, Py_ssize_t n, Py_ssize_t m,
                    int nthreads) noexcept:
    # a weighted walk's segment scratch for nseg > 1 segments and its thread
    # count (with the GIL: reads _walk_active).  -1 if malloc fails.
    sg.bi = <Py_ssize_t*>malloc(2 * (nseg + 1) * sizeof(Py_ssize_t) + nseg * sizeof(double))
    if sg.bi == NULL:
        return -1
    sg.bj = sg.bi + nseg + 1
    sg.part = <double*>(sg.bj + nseg + 1)
    sg.nt = want_threads(nthreads, n + m, WALK_PAR_MIN, _walk_active)
    return 0


def rows(int kind, cnp.ndarray u, object uw, cnp.ndarray v, object vw,
         int mode, double p, cnp.ndarray out, int nthreads=0):
    """Distances of the sorted rows of u, v (1-D: one problem) into out.

    kind: 0 quantile walk (W_p), 1 CDF walk (SciPy's _cdf_distance).
    mode: 1 (p = 1), 2 (p = 2), 3 (any p >= 1), 4 (p = inf).
    nthreads: 0 the default (kl_max_threads), 1 the calling thread, k at
    most k, for the segments of weighted quantile walks (fixed segments
    summed in order: the result does not depend on it).
    Returns 0, or -1 (nothing done) for an unsupported layout or dtype.
    """
    global _walk_active
    cdef int ndim = cnp.PyArray_NDIM(u)
    cdef int t = cnp.PyArray_TYPE(u)
    cdef Py_ssize_t n = cnp.PyArray_DIM(u, ndim - 1)
    cdef Py_ssize_t m = cnp.PyArray_DIM(v, ndim - 1)
    cdef Py_ssize_t nrows = 1 if ndim == 1 else cnp.PyArray_DIM(u, 0)
    cdef Py_ssize_t urs, us, vrs, vs, uwrs = 0, uws = 0, vwrs = 0, vws = 0
    cdef const double* uwp = NULL
    cdef const double* vwp = NULL
    cdef cnp.ndarray a
    cdef double* o = <double*>cnp.PyArray_DATA(out)
    if not (layout_ok(u, ndim) and layout_ok(v, ndim)) or cnp.PyArray_TYPE(v) != t:
        return -1
    if t != cnp.NPY_DOUBLE and t != cnp.NPY_FLOAT:
        return -1
    strides(u, ndim, &urs, &us)
    strides(v, ndim, &vrs, &vs)
    if uw is not None:
        a = <cnp.ndarray>uw
        if not layout_ok(a, ndim) or cnp.PyArray_TYPE(a) != cnp.NPY_DOUBLE:
            return -1
        strides(a, ndim, &uwrs, &uws)
        uwp = <const double*>cnp.PyArray_DATA(a)
    if vw is not None:
        a = <cnp.ndarray>vw
        if not layout_ok(a, ndim) or cnp.PyArray_TYPE(a) != cnp.NPY_DOUBLE:
            return -1
        strides(a, ndim, &vwrs, &vws)
        vwp = <const double*>cnp.PyArray_DATA(a)
    cdef double* scratch = NULL
    cdef Segs sg
    cdef Py_ssize_t nseg = walk_nseg(n, m)
    sg.bi = NULL
    sg.bj = NULL
    sg.part = NULL
    sg.nt = 1
    if kind == CDF or uwp != NULL or vwp != NULL:
        scratch = <double*>ks_scratch(2 * (n + m + 2) * sizeof(double))
        if scratch == NULL:
            raise MemoryError()
    if kind != CDF and (uwp != NULL or vwp != NULL) and nseg > 1:
        if segs_alloc(&sg, nseg, n, m, nthreads) < 0:
            free(scratch)
            raise MemoryError()
    if sg.nt > 1:
        _walk_active = 1
    try:
        if t == cnp.NPY_DOUBLE:
            with nogil:
                rows_typed(kind, <const double*>cnp.PyArray_DATA(u), urs, us,
                           uwp, uwrs, uws, n,
                           <const double*>cnp.PyArray_DATA(v), vrs, vs,
                           vwp, vwrs, vws, m, nrows, mode, p, o, scratch, &sg)
        else:
            with nogil:
                rows_typed(kind, <const float*>cnp.PyArray_DATA(u), urs, us,
                           uwp, uwrs, uws, n,
                           <const float*>cnp.PyArray_DATA(v), vrs, vs,
                           vwp, vwrs, vws, m, nrows, mode, p, o, scratch, &sg)
    finally:
        if sg.nt > 1:
            _walk_active = 0
        free(sg.bi)
        free(scratch)
    return 0


def walk_parts(cnp.ndarray u, cnp.ndarray uw, cnp.ndarray v, cnp.ndarray vw, int mode,
               double p, int nthreads=1):
    """The segments of one weighted quantile walk (tests): u, v sorted
    C-contiguous float64 (n,), (m,) with float64 weights uw, vw of their
    shapes (checked by the caller).  Returns (bi, bj, parts): int64 arrays
    of the nseg + 1 segment starts in u and v (split_walk) and float64 the
    nseg partial sums (order inf: maxima) that rows() adds in order; the
    segments run on up to nthreads threads (0: the default)."""
    cdef Py_ssize_t n = cnp.PyArray_DIM(u, 0), m = cnp.PyArray_DIM(v, 0)
    cdef Py_ssize_t nseg = walk_nseg(n, m)
    cdef cnp.ndarray t = np.empty(2 * (n + m + 2))
    cdef cnp.ndarray bi = np.empty(nseg + 1, dtype=np.intp)
    cdef cnp.ndarray bj = np.empty(nseg + 1, dtype=np.intp)
    cdef cnp.ndarray part = np.empty(nseg)
    cdef double* tu = <double*>cnp.PyArray_DATA(t)
    cdef double* tv = tu + 2 * (n + 1)
    cdef WalkJob job
    cdef Py_ssize_t s
    cdef int nt = kl_max_threads() if nthreads == 0 else nthreads
    fill_cum(<const double*>cnp.PyArray_DATA(uw), 1, n, False, tu, tu + n + 1)
    fill_cum(<const double*>cnp.PyArray_DATA(vw), 1, m, False, tv, tv + m + 1)
    job.u = cnp.PyArray_DATA(u)
    job.v = cnp.PyArray_DATA(v)
    job.us = 1
    job.n = n
    job.vs = 1
    job.m = m
    job.tu = tu
    job.tul = tu + n + 1
    job.tv = tv
    job.tvl = tv + m + 1
    job.bi = <Py_ssize_t*>cnp.PyArray_DATA(bi)
    job.bj = <Py_ssize_t*>cnp.PyArray_DATA(bj)
    job.part = <double*>cnp.PyArray_DATA(part)
    job.mode = mode
    job.p = p
    job.sc = 1.0
    job.f32 = False
    with nogil:
        if nseg == 1:
            (<Py_ssize_t*>job.bi)[0] = 0
            (<Py_ssize_t*>job.bj)[0] = 0
            (<Py_ssize_t*>job.bi)[1] = n
            (<Py_ssize_t*>job.bj)[1] = m
        else:
            split_walk(job.tu, job.tul, n, job.tv, job.tvl, m, nseg,
                       <Py_ssize_t*>job.bi, <Py_ssize_t*>job.bj)
        if nt > 1 and nseg > 1:
            kl_pool_run(nt, nseg, walk_item, &job)
        else:
            for s in range(nseg):
                walk_item(&job, s)
    return bi, bj, part


# ---------------------------------------------------------------------------
# Histograms on a common sorted support, order 1:
#   W_1 = sum_k |P_k - Q_k| (x_{k+1} - x_k),  P, Q the normalised cumsums.
# The difference is accumulated element by element, D_k = sum_{i<=k} d_i with
# d_i = p_i/sp - q_i/sq formed as (p_i mq - q_i mp)/K (pair scales as in
# _divergence.pyx: mp, mq are sp, sq times one power of two, K = sp mq), so
# nearly equal histograms keep their relative accuracy.
# Status per row: 0 OK, 1 negative entry in p, 2 negative entry in q,
# 3 p sums to 0, 4 q sums to 0 (normalize only), 5 the sums overflow (or hold
# +inf), are subnormal or differ by more than 2**1021, so that the pair
# scales below would under- or overflow: nothing written, the caller
# rescales the row by powers of two (exact) and calls again.


# row status codes shared with the divergence kernels (src/_codes.pxd,
# generated from kl_ext/_table.py)
from _codes cimport ST_OK, ST_NEG_P, ST_NEG_Q, ST_ZERO_P, ST_ZERO_Q, ST_NONFINITE

cdef enum:
    # the sums are out of range for the pair scales: the caller rescales
    # (the divergence kernels' slow-path code)
    ST_RESCALE = ST_NONFINITE

# 2**-1021: pair scales and k = sp mq stay normal numbers when the smaller
# sum is at least this and this times the larger one
cdef double SAFE_LO = 4.450147717014403e-308


cdef inline bint sums_ok(double sp, double sq) noexcept nogil:
    # positive, finite sums whose pair scales are exact (False for NaN)
    cdef double lo = sp if sp < sq else sq, hi = sq if sp < sq else sp
    return lo >= SAFE_LO and hi < INFINITY and lo >= hi * SAFE_LO


cdef int hist_row(const floating* p, Py_ssize_t ps, const floating* q, Py_ssize_t qs,
                  const double* x, Py_ssize_t n, bint normalize,
                  double* res) noexcept nogil:
    cdef double sp = 0.0, sq = 0.0, mp = 1.0, mq = 1.0, k = 1.0
    cdef double dcum = 0.0, t = 0.0, tc = 0.0, b, a, c
    cdef Py_ssize_t i, start, stop
    cdef bint negp = False, negq = False
    cdef int e
    if normalize:
        for i in range(n):
            a = p[i * ps]
            c = q[i * qs]
            negp |= a < 0.0
            negq |= c < 0.0
            sp += a
            sq += c
        if negp:
            return ST_NEG_P
        if negq:
            return ST_NEG_Q
        if isnan(sp) or isnan(sq):
            res[0] = NAN
            return ST_OK
        if sp == 0.0:
            return ST_ZERO_P
        if sq == 0.0:
            return ST_ZERO_Q
        if not sums_ok(sp, sq):
            return ST_RESCALE
        frexp(sp if sp > sq else sq, &e)
        mp = ldexp(sp, -e)
        mq = ldexp(sq, -e)
        k = sp * mq
    else:
        for i in range(n):
            negp |= p[i * ps] < 0.0
            negq |= q[i * qs] < 0.0
        if negp:
            return ST_NEG_P
        if negq:
            return ST_NEG_Q
    for start in range(0, n - 1, 64):
        stop = min(start + 64, n - 1)
        b = 0.0
        if x == NULL:
            for i in range(start, stop):
                dcum += <double>p[i * ps] * mq - <double>q[i * qs] * mp
                b += fabs(dcum)
        else:
            for i in range(start, stop):
                dcum += <double>p[i * ps] * mq - <double>q[i * qs] * mp
                b += fabs(dcum) * (x[i + 1] - x[i])
        kahan_add(&t, &tc, b)
    # a NaN or inf entry in the last bin does not enter the sum above
    a = <double>p[(n - 1) * ps] * mq - <double>q[(n - 1) * qs] * mp
    if isnan(a) or isinf(a):
        res[0] = NAN
        return ST_OK
    res[0] = kahan_total(t, tc) / k
    return ST_OK


# rows of at least this many bins walk their steps in four segments side by
# side (kw_hist_*); shorter rows are walked four rows side by side
# (kw_hist4_*).  The choice depends on n alone, so a row's value never
# depends on the other rows of the call.
cdef Py_ssize_t SEGMENT_MIN = 1024


cdef Py_ssize_t hist_rows_typed(const floating* p, Py_ssize_t prs, Py_ssize_t ps,
                                const floating* q, Py_ssize_t qrs, Py_ssize_t qs,
                                const double* x, Py_ssize_t nrows, Py_ssize_t n,
                                bint normalize, double* out,
                                cnp.npy_int8* status) noexcept nogil:
    # IN: nrows rows of n bins (strides in elements), support x (or NULL:
    # 0, 1, ..., n-1).  OUT: out[r], status[r]; returns the flagged count.
    # The compensated walks of _walk.h, whose status codes 0-5 are those of
    # src/_codes.pxd; a row with a NaN or infinite entry (or, unnormalised,
    # sums beyond 2**996) takes the plain walk hist_row, which has the edge
    # values.
    cdef Py_ssize_t r, k, nr, flagged = 0
    cdef int st4[4]
    cdef double res4[4]
    cdef const floating* pp[4]
    cdef const floating* qq[4]
    cdef const floating* nx[16]
    cdef int st
    # the four-row walks' scratch (the transposed rows, 32-byte aligned);
    # without it (malloc failed) they read the rows twice, to the same values
    cdef char* raw = NULL
    cdef void* buf = NULL
    if n < SEGMENT_MIN:
        raw = <char*>malloc(64 * n + 32)
        if raw != NULL:
            buf = <void*>((<size_t>raw + 31) & ~(<size_t>31))
    r = 0
    while r < nrows:
        if n >= SEGMENT_MIN:
            if floating is double:
                st4[0] = kw_hist_d(p + r * prs, ps, q + r * qrs, qs, x, n, normalize, res4)
            else:
                st4[0] = kw_hist_f(p + r * prs, ps, q + r * qrs, qs, x, n, normalize, res4)
            k = 1
        else:
            k = min(4, nrows - r)
            for st in range(4):
                # fewer than four rows left: the last one fills the lanes
                pp[st] = p + (r + min(st, k - 1)) * prs
                qq[st] = q + (r + min(st, k - 1)) * qrs
                # the next four rows and the four after them, prefetched
                # during this call (kw_hist4_*)
                nr = min(r + 4 + st, nrows - 1)
                nx[st] = p + nr * prs
                nx[4 + st] = q + nr * qrs
                nr = min(r + 8 + st, nrows - 1)
                nx[8 + st] = p + nr * prs
                nx[12 + st] = q + nr * qrs
            if floating is double:
                kw_hist4_d(pp, ps, qq, qs, x, n, normalize, res4, st4, buf,
                           nx if r + 4 < nrows and ps == 1 and qs == 1 else NULL)
            else:
                kw_hist4_f(pp, ps, qq, qs, x, n, normalize, res4, st4, buf,
                           nx if r + 4 < nrows and ps == 1 and qs == 1 else NULL)
        for st in range(k):
            if st4[st] == KW_PLAIN:
                st4[st] = hist_row(p + (r + st) * prs, ps, q + (r + st) * qrs, qs, x, n,
                                   normalize, res4 + st)
            elif st4[st] != 0:
                res4[st] = 0.0
            out[r + st] = res4[st]
            status[r + st] = <cnp.npy_int8>st4[st]
            flagged += st4[st] != 0
        r += k
    free(raw)
    return flagged


def hist_rows(cnp.ndarray p, cnp.ndarray q, object support, bint normalize,
              cnp.ndarray out, cnp.ndarray status):
    """Order-1 W between the rows of 2-D views p, q (nrows, n), n >= 1.

    support: None (0..n-1) or a C-contiguous float64 array of n sorted
    positions.  Returns the number of flagged rows, or -1 (nothing done) for
    an unsupported layout or dtype.
    """
    cdef int t = cnp.PyArray_TYPE(p)
    cdef Py_ssize_t nrows = cnp.PyArray_DIM(p, 0)
    cdef Py_ssize_t n = cnp.PyArray_DIM(p, 1)
    cdef Py_ssize_t prs, ps, qrs, qs, flagged
    cdef const double* x = NULL
    cdef double* o = <double*>cnp.PyArray_DATA(out)
    cdef cnp.npy_int8* s = <cnp.npy_int8*>cnp.PyArray_DATA(status)
    if not (layout_ok(p, 2) and layout_ok(q, 2)) or cnp.PyArray_TYPE(q) != t:
        return -1
    if t != cnp.NPY_DOUBLE and t != cnp.NPY_FLOAT:
        return -1
    if support is not None:
        x = <const double*>cnp.PyArray_DATA(<cnp.ndarray>support)
    strides(p, 2, &prs, &ps)
    strides(q, 2, &qrs, &qs)
    if t == cnp.NPY_DOUBLE:
        with nogil:
            flagged = hist_rows_typed(<const double*>cnp.PyArray_DATA(p), prs, ps,
                                      <const double*>cnp.PyArray_DATA(q), qrs, qs,
                                      x, nrows, n, normalize, o, s)
    else:
        with nogil:
            flagged = hist_rows_typed(<const float*>cnp.PyArray_DATA(p), prs, ps,
                                      <const float*>cnp.PyArray_DATA(q), qrs, qs,
                                      x, nrows, n, normalize, o, s)
    return flagged


def hist_chunk_rows(cnp.ndarray p, cnp.ndarray q, object support, Py_ssize_t steps,
                    cnp.ndarray scales, cnp.ndarray out):
    """One chunk of order-1 wasserstein_hist over a split axis (kl_ext.chunked
    hist_pieces): for each row r of the 2-D views p, q (nrows, m), same
    dtype float32/float64, the first `steps` (<= m) steps of the walk from
    the running difference scales[r, 4] + scales[r, 5] with the pair scales
    mp = scales[r, 0] + scales[r, 1], mq = scales[r, 2] + scales[r, 3]
    (double-double values); out[r] = sum |D_k| dx_k.  support: None (unit
    gaps) or a C-contiguous float64 array of >= steps + 1 positions;
    scales: C-contiguous float64 (nrows, 6); out: float64 (nrows,).
    Returns 0, or -1 (nothing done) for an unsupported layout or dtype.
    """
    cdef int t = cnp.PyArray_TYPE(p)
    cdef Py_ssize_t nrows = cnp.PyArray_DIM(p, 0), r, prs, ps, qrs, qs
    cdef const double* x = NULL
    cdef const double* sc = <const double*>cnp.PyArray_DATA(scales)
    cdef double* o = <double*>cnp.PyArray_DATA(out)
    cdef const char* pp = <const char*>cnp.PyArray_DATA(p)
    cdef const char* qp = <const char*>cnp.PyArray_DATA(q)
    if not (layout_ok(p, 2) and layout_ok(q, 2)) or cnp.PyArray_TYPE(q) != t:
        return -1
    if t != cnp.NPY_DOUBLE and t != cnp.NPY_FLOAT:
        return -1
    if steps < 0 or steps > cnp.PyArray_DIM(p, 1):
        return -1
    if not (cnp.PyArray_NDIM(scales) == 2 and cnp.PyArray_TYPE(scales) == cnp.NPY_DOUBLE
            and cnp.PyArray_IS_C_CONTIGUOUS(scales) and cnp.PyArray_DIM(scales, 0) == nrows
            and cnp.PyArray_DIM(scales, 1) == 6 and cnp.PyArray_NDIM(out) == 1
            and cnp.PyArray_TYPE(out) == cnp.NPY_DOUBLE and cnp.PyArray_IS_C_CONTIGUOUS(out)
            and cnp.PyArray_DIM(out, 0) == nrows and cnp.PyArray_DIM(q, 0) == nrows):
        raise ValueError("hist_chunk_rows: arrays of the wrong shape, dtype or layout")
    if support is not None:
        x = <const double*>cnp.PyArray_DATA(<cnp.ndarray>support)
    strides(p, 2, &prs, &ps)
    strides(q, 2, &qrs, &qs)
    with nogil:
        for r in range(nrows):
            if t == cnp.NPY_DOUBLE:
                o[r] = kw_hist_chunk_d(<const double*>pp + r * prs, ps,
                                       <const double*>qp + r * qrs, qs,
                                       x, steps, sc[6 * r], sc[6 * r + 1], sc[6 * r + 2],
                                       sc[6 * r + 3], sc[6 * r + 4], sc[6 * r + 5])
            else:
                o[r] = kw_hist_chunk_f(<const float*>pp + r * prs, ps,
                                       <const float*>qp + r * qrs, qs,
                                       x, steps, sc[6 * r], sc[6 * r + 1], sc[6 * r + 2],
                                       sc[6 * r + 3], sc[6 * r + 4], sc[6 * r + 5])
    return 0


# ---------------------------------------------------------------------------
# Sorting samples: kl_ext's own sort (src/_sort.h), never NumPy's.  Each
# value maps to a uint64 key whose unsigned order is the value's order
# (ks_key_f64/ks_key_f32: flip all bits of negatives, the sign bit of the
# rest; every NaN becomes one key above +inf, so NaN sorts last as in
# np.sort).  Unweighted rows sort those keys and map them back (a float64
# row in place in its output).  Weighted rows sort (value, weight) pairs
# through the keys: the low `bits` bits of each key are replaced by the
# sample's index, the keys are sorted, and values and weights are gathered
# by the indices.  float32 keys keep the whole value (32 bits of key, 32 of
# index); float64 keys lose the low `bits` bits of the value, so values equal
# in all other bits may come out in index order: the gather puts them in
# order with an insertion step, and gives up (returns False, the caller uses
# argsort) only after more than n moves in a row (values that agree in the
# top 64 - bits bits in bulk).  Keys are unique, so the order of ties (by
# index) does not depend on the sort, the tier or the thread count.

from libc.stdint cimport uint64_t, uint32_t

cdef extern from "_sort.h" nogil:
    void ks_sort(uint64_t* a, size_t n)
    void ks_sort_depth(uint64_t* a, size_t n, int depth)
    uint64_t ks_key_f64(double x)
    double ks_f64_key(uint64_t k)
    uint32_t ks_key_f32(float x)
    float ks_f32_key(uint32_t k)
    const char* KS_TIER
    void ks_gather_f64(const uint64_t* k, uint64_t mask, const double* x, const double* w,
                       double* xr, double* wr, size_t n, double* pairs)
    void ks_gather_f32(const uint64_t* k, uint64_t mask, const float* x, const double* w,
                       float* xr, double* wr, size_t n, double* pairs)
    # split sorts: the rows of a call as small tasks for any number of threads
    enum: KS_ROW_F64, KS_ROW_F32, KS_ROW_OPAQUE
    size_t KS_SPLIT_LEAF
    ctypedef void (*ks_opaque_fn)(void* ctx, size_t row) noexcept nogil
    ctypedef struct ks_row:
        const void* x
        void* xs
        uint64_t* keys
        size_t n
        int kind
    ctypedef struct ks_split:
        pass
    int ks_split_init(ks_split* s, const ks_row* rows, size_t nrows, ks_opaque_fn opaque,
                      void* octx, size_t leaf)
    void ks_split_work(ks_split* s)
    void ks_split_free(ks_split* s)

cdef extern from "_vmath.h" nogil:
    int kl_max_threads()
    void kl_set_thread_cap(int n)

# the kernels' own worker pool (src/_pool.h, declared in src/_pool.pxd): items
# are claimed one at a time, and the caller never waits for a worker that
# has not claimed one (OpenMP's end-of-region barrier waits for every thread
# of the team, even one that wakes a scheduler tick late and finds no job)
from _pool cimport kl_pool_fn, kl_pool_run


cdef void pack_row(const floating* x, uint64_t* keys, Py_ssize_t n, int bits) noexcept nogil:
    # IN: x (n,).  OUT: keys (n,): value key with its low bits the index
    cdef Py_ssize_t i
    cdef uint64_t mask = (<uint64_t>1 << bits) - 1
    for i in range(n):
        if floating is double:
            keys[i] = (ks_key_f64(x[i]) & ~mask) | <uint64_t>i
        else:
            keys[i] = (<uint64_t>ks_key_f32(x[i]) << 32) | <uint64_t>i


cdef bint unpack_row(const uint64_t* keys, const floating* x, const double* w,
                     floating* xr, double* wr, Py_ssize_t n, int bits) noexcept nogil:
    # xr[i] = x[idx], wr[i] = w[idx], idx = keys[i] & mask (one gather pass
    # through interleaved (x, w) scratch, or from x and w if malloc fails),
    # then an insertion step for the values that the truncated keys left in
    # index order (they are contiguous: truncation keeps the order of values
    # that differ in the kept bits).  NaN keys are the largest, so NaN come
    # last (a row that starts with one is all NaN) and are never moved.
    # False after more than n moves.
    cdef Py_ssize_t i, j, moves = 0
    cdef uint64_t mask = (<uint64_t>1 << bits) - 1
    cdef floating prev, cur
    cdef double wc
    # (a float32 value is exact as a double in the interleaved scratch)
    cdef double* pairs = <double*>ks_scratch(2 * n * sizeof(double))
    if floating is double:
        ks_gather_f64(keys, mask, x, w, xr, wr, <size_t>n, pairs)
    else:
        ks_gather_f32(keys, mask, x, w, xr, wr, <size_t>n, pairs)
    free(pairs)
    prev = xr[0]
    for i in range(1, n):
        cur = xr[i]
        if cur >= prev or cur != cur:
            prev = cur
            continue
        wc = wr[i]
        j = i
        while j > 0 and xr[j - 1] > cur:
            xr[j] = xr[j - 1]
            wr[j] = wr[j - 1]
            j -= 1
        moves += i - j
        if moves > n:
            return False
        xr[j] = cur
        wr[j] = wc
    return True


ctypedef struct SortJob:
    const void* x       # one row of values (n,), float32 or float64
    const double* w     # its weights, or NULL (values only)
    void* xs            # OUT: the sorted values
    double* ws          # OUT: the weights in that order (if w)
    uint64_t* keys      # scratch: n keys
    Py_ssize_t n
    int bits            # index bits of the packed keys (weighted)
    bint f32
    bint ok             # OUT: False if the gather gave up (use argsort)


cdef void run_job(SortJob* j) noexcept nogil:
    # one weighted row: packed keys, sorted, values and weights gathered
    if j.f32:
        pack_row(<const float*>j.x, j.keys, j.n, j.bits)
        ks_sort(j.keys, <size_t>j.n)
        j.ok = unpack_row(j.keys, <const float*>j.x, j.w, <float*>j.xs, j.ws, j.n, j.bits)
    else:
        pack_row(<const double*>j.x, j.keys, j.n, j.bits)
        ks_sort(j.keys, <size_t>j.n)
        j.ok = unpack_row(j.keys, <const double*>j.x, j.w, <double*>j.xs, j.ws, j.n, j.bits)


cdef void weighted_row(void* ctx, size_t k) noexcept nogil:
    # the split's task for row k when it is weighted: job k of the SortJob
    # array ctx
    run_job(&(<SortJob*>ctx)[k])


cdef void split_item(void* ctx, Py_ssize_t k) noexcept nogil:
    # pool item: take the split's tasks until all are done (each thread runs
    # one item; a worker that starts after the last task returns at once)
    ks_split_work(<ks_split*>ctx)


# rows of at least this many samples in all are sorted on several threads;
# _sort_active (read and written with the GIL held) is set while a call runs
# multi-threaded
cdef Py_ssize_t SORT_PAR_MIN = 32768
cdef int _sort_active = 0


def sort_rows(tuple groups, int nthreads=0, Py_ssize_t leaf=0):
    """Sort the rows of several arrays, on up to `nthreads` threads.

    groups: tuples (x, w, xs, ws, keys, bits), all C-contiguous, aligned and
    2-D (nrows, n) with n >= 1: x float32/float64 values, xs its output
    (same dtype and shape), keys uint64 scratch of that shape (for float64
    values without weights it may be xs viewed as uint64), w, ws float64
    weights and their output, or None for values only; bits: the index bits
    of the packed keys (weighted, float64: 1 <= n <= 2**bits <= 2**40;
    float32: <= 2**32).  nthreads: 0 the default (kl_max_threads), 1 the
    calling thread, k at most k.  The work is split into tasks that the
    threads take one at a time (src/_sort.h, ks_split): a row of values
    (no weights) of more than `leaf` samples (0: the default, 16384) is
    partitioned into ranges of at most `leaf` that any thread may sort, a
    weighted row is one task; the result does not depend on `nthreads` or
    `leaf` (tests set a small `leaf`).  Returns a list of bools, one per
    group: False if a row's gather gave up (the caller sorts that group by
    argsort).  The layout is the caller's contract (checked by
    kl_ext.wasserstein); nothing here raises but MemoryError.
    """
    cdef Py_ssize_t ng = len(groups), g, r, nrows, n, njobs = 0, k, units = 0, total = 0
    cdef Py_ssize_t lf = leaf if leaf > 0 else <Py_ssize_t>KS_SPLIT_LEAF
    cdef SortJob* jobs
    cdef ks_row* rows
    cdef ks_split split
    cdef cnp.ndarray x, xs, keys, w, ws
    cdef bint f32
    cdef int bits, nt
    global _sort_active
    for g in range(ng):
        njobs += cnp.PyArray_DIM(<cnp.ndarray>groups[g][0], 0)
    jobs = <SortJob*>malloc((njobs if njobs > 0 else 1) * sizeof(SortJob))
    rows = <ks_row*>malloc((njobs if njobs > 0 else 1) * sizeof(ks_row))
    if jobs == NULL or rows == NULL:
        free(jobs)
        free(rows)
        raise MemoryError()
    try:
        k = 0
        for g in range(ng):
            x, wo, xs, wso, keys, bits = groups[g]
            nrows = cnp.PyArray_DIM(x, 0)
            n = cnp.PyArray_DIM(x, 1)
            f32 = cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT
            w = wo if wo is not None else None
            ws = wso if wso is not None else None
            for r in range(nrows):
                jobs[k].x = <const char*>cnp.PyArray_DATA(x) + r * cnp.PyArray_STRIDE(x, 0)
                jobs[k].xs = <char*>cnp.PyArray_DATA(xs) + r * cnp.PyArray_STRIDE(xs, 0)
                jobs[k].keys = <uint64_t*>cnp.PyArray_DATA(keys) + r * n
                if w is not None:
                    jobs[k].w = <const double*>cnp.PyArray_DATA(w) + r * n
                    jobs[k].ws = <double*>cnp.PyArray_DATA(ws) + r * n
                    rows[k].kind = KS_ROW_OPAQUE
                    units += 1
                else:
                    jobs[k].w = NULL
                    jobs[k].ws = NULL
                    rows[k].kind = KS_ROW_F32 if f32 else KS_ROW_F64
                    units += 1 + n // lf
                jobs[k].n = n
                jobs[k].bits = bits
                jobs[k].f32 = f32
                jobs[k].ok = True
                rows[k].x = jobs[k].x
                rows[k].xs = jobs[k].xs
                rows[k].keys = jobs[k].keys
                rows[k].n = <size_t>n
                total += n
                k += 1
        if ks_split_init(&split, rows, <size_t>njobs, weighted_row, jobs, <size_t>lf) != 0:
            raise MemoryError()
        nt = want_threads(nthreads, total, SORT_PAR_MIN, _sort_active)
        if nt > units:
            nt = <int>units
        if nt > 1:
            _sort_active = 1
        try:
            with nogil:
                if nt > 1:
                    # one pool item per thread, each taking tasks until none
                    # is left: the caller never waits for a worker that has
                    # not started, and at most for the one task it runs
                    kl_pool_run(nt, nt, split_item, &split)
                else:
                    ks_split_work(&split)
        finally:
            ks_split_free(&split)
            if nt > 1:
                _sort_active = 0
        out = []
        k = 0
        for g in range(ng):
            nrows = cnp.PyArray_DIM(<cnp.ndarray>groups[g][0], 0)
            ok = True
            for r in range(nrows):
                ok = ok and jobs[k].ok
                k += 1
            out.append(ok)
        return out
    finally:
        free(jobs)
        free(rows)


# ---------------------------------------------------------------------------
# wasserstein_1d's 1-D weighted float64 fast path: sort and walk in one
# call, in one buffer (src/_wpair.h).  Per sample, the packed keys and the
# (value, weight) pairs are scratch until its gather; the sorted values and
# the dd cumulative weights (2 (n + 1): hi parts, then lo parts, as row's)
# stay for the walk.  On one thread u is made ready, then v in the same
# keys and pairs space; on two, u and v at once in their own.

cdef extern from "_wpair.h" nogil:
    int kp_ready_f64(const double* x, const double* w, size_t n, uint64_t mask,
                     uint64_t* keys, double* pairs, double* xs, double* th, double* tl)
    size_t KP_BUCKET_MIN


ctypedef struct WSample:
    const double* x     # IN: values (n,), contiguous
    const double* w     # IN: weights (n,), contiguous
    Py_ssize_t n
    int bits            # index bits of the packed keys
    uint64_t* keys      # scratch: n keys
    double* pairs       # scratch: 2 n doubles
    double* xs          # OUT: n sorted values
    double* t           # OUT: 2 (n + 1): normalised dd cumulative weights
    bint ok             # OUT: False if the gather gave up


cdef void wsample_run(WSample* s) noexcept nogil:
    cdef uint64_t mask = (<uint64_t>1 << s.bits) - 1
    cdef Py_ssize_t n = s.n
    if kp_ready_f64(s.x, s.w, <size_t>n, mask, s.keys, s.pairs, s.xs, s.t,
                    s.t + n + 1) != 0:
        s.ok = False
        return
    kw_dd_div_all(s.t, s.t + n + 1, n, s.t[n - 1], s.t[2 * n])
    s.ok = True


cdef void wsample_item(void* ctx, Py_ssize_t k) noexcept nogil:
    # pool item k: sample k (0: u, 1: v) of the WSample array ctx
    wsample_run(&(<WSample*>ctx)[k])


def weighted_bucket_min():
    """Samples from which weighted_pair's pack splits a sample into buckets
    (src/_wpair.h KP_BUCKET_MIN; tests check they reach it)."""
    return KP_BUCKET_MIN


def weighted_pair_size(Py_ssize_t n, Py_ssize_t m, int nthreads=1):
    """Doubles of the buffer weighted_pair needs for samples of n and m;
    with nthreads (as weighted_pair's) that may run the two samples on two
    threads, 3 m more: the second sample's keys and pairs, which otherwise
    are fresh memory on every call (14 huge-page faults per 1e6 vs 1e6
    call, 4-5 ms of system time, some calls 200-300 ms where the kernel's
    fresh huge pages are slow to fault)."""
    cdef Py_ssize_t need = 3 * (n + m) + 4 + 3 * max(n, m)
    if want_threads(nthreads, n + m, SORT_PAR_MIN, 0) > 1:
        need += 3 * m
    return need


def weighted_pair(cnp.ndarray u, cnp.ndarray uw, cnp.ndarray v, cnp.ndarray vw,
                  int mode, double p, cnp.ndarray buf, int nthreads=0):
    """W_p of two unsorted weighted 1-D float64 samples (wasserstein_1d's
    fast path): u (n,), v (m,) with float64 weights uw, vw of their shapes,
    all C-contiguous and aligned, n, m >= 1, n, m <= 2**40, weights checked
    by the caller; buf: a C-contiguous float64 scratch array of at least
    weighted_pair_size(n, m) doubles (overwritten).  mode, nthreads as
    rows().  The same number as sort_rows then rows() on the sorted
    samples.  Returns the distance, or None if a sample's gather gave up
    (values equal in all but their lowest bits in bulk: the caller takes
    the general path).  With two threads the second sample's keys and
    pairs go to buf after the first weighted_pair_size(n, m) doubles if
    buf has 3 m more, else to fresh memory."""
    global _walk_active, _sort_active
    cdef Py_ssize_t n = cnp.PyArray_DIM(u, 0), m = cnp.PyArray_DIM(v, 0)
    cdef Py_ssize_t big = n if n > m else m, nseg = walk_nseg(n, m)
    cdef double* b = <double*>cnp.PyArray_DATA(buf)
    cdef double* extra = NULL
    cdef WSample smp[2]
    cdef Segs sg
    cdef double res = 0.0
    cdef int nt = 1
    cdef Py_ssize_t base = weighted_pair_size(n, m)
    if cnp.PyArray_SIZE(buf) < base:
        raise ValueError("weighted_pair: buffer too small")
    smp[0].x = <const double*>cnp.PyArray_DATA(u)
    smp[0].w = <const double*>cnp.PyArray_DATA(uw)
    smp[0].n = n
    smp[1].x = <const double*>cnp.PyArray_DATA(v)
    smp[1].w = <const double*>cnp.PyArray_DATA(vw)
    smp[1].n = m
    smp[0].bits = 0
    while (<Py_ssize_t>1 << smp[0].bits) < n:
        smp[0].bits += 1
    smp[1].bits = 0
    while (<Py_ssize_t>1 << smp[1].bits) < m:
        smp[1].bits += 1
    # layout: xs_u (n), t_u (2 n + 2), xs_v (m), t_v (2 m + 2), keys (big),
    # pairs (2 big)
    smp[0].xs = b
    smp[0].t = b + n
    smp[1].xs = b + 3 * n + 2
    smp[1].t = smp[1].xs + m
    smp[0].keys = <uint64_t*>(smp[1].t + 2 * m + 2)
    smp[0].pairs = <double*>(smp[0].keys + big)
    smp[1].keys = smp[0].keys
    smp[1].pairs = smp[0].pairs
    smp[0].ok = smp[1].ok = True
    nt = want_threads(nthreads, n + m, SORT_PAR_MIN, _sort_active)
    if nt > 1:
        if cnp.PyArray_SIZE(buf) >= base + 3 * m:
            smp[1].keys = <uint64_t*>(b + base)
        else:
            extra = <double*>ks_scratch(3 * m * sizeof(double))
            if extra == NULL:
                raise MemoryError()
            smp[1].keys = <uint64_t*>extra
        smp[1].pairs = <double*>(smp[1].keys + m)
    sg.bi = NULL
    sg.nt = 1
    if nseg > 1:
        if segs_alloc(&sg, nseg, n, m, nthreads) < 0:
            free(extra)
            raise MemoryError()
    if nt > 1:
        _sort_active = 1
    if sg.nt > 1:
        _walk_active = 1
    try:
        with nogil:
            if nt > 1:
                kl_pool_run(nt, 2, wsample_item, smp)
            else:
                wsample_run(&smp[0])
                if smp[0].ok:
                    wsample_run(&smp[1])
            if smp[0].ok and smp[1].ok:
                res = quantile_root(<const double*>smp[0].xs, 1, n,
                                    <const double*>smp[1].xs, 1, m,
                                    smp[0].t, smp[1].t, True, mode, p, &sg)
    finally:
        if nt > 1:
            _sort_active = 0
        if sg.nt > 1:
            _walk_active = 0
        free(sg.bi)
        free(extra)
    if not (smp[0].ok and smp[1].ok):
        return None
    return res


def sort_keys(cnp.ndarray keys, int depth=-1):
    """Sort each row of a C-contiguous uint64 array (1-D, or 2-D rows) in
    place with kl_ext's sort (tests compare it with np.sort).  depth >= 0
    limits the partitioning levels before the heapsort fallback (default:
    2 log2(n) + 4; 0 sorts by heapsort alone above the small-range sort)."""
    cdef Py_ssize_t n = cnp.PyArray_DIM(keys, cnp.PyArray_NDIM(keys) - 1)
    cdef Py_ssize_t nrows = cnp.PyArray_SIZE(keys) // n if n > 0 else 0, r
    cdef uint64_t* k = <uint64_t*>cnp.PyArray_DATA(keys)
    with nogil:
        for r in range(nrows):
            if depth < 0:
                ks_sort(k + r * n, <size_t>n)
            else:
                ks_sort_depth(k + r * n, <size_t>n, depth)


def sort_tier():
    """Which sort src/_sort.h compiled to here: "avx512", "avx2" or "portable"."""
    return KS_TIER.decode("ascii")


def max_threads():
    """The kernels' default thread count (OpenMP's, capped by set_thread_cap)."""
    return kl_max_threads()


def set_thread_cap(int n):
    """Never run more than `n` threads (0: no cap); see kl_ext._threads.cpu_budget."""
    kl_set_thread_cap(n)
