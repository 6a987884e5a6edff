# Row kernels for entropy, cross-entropy, KL and Jensen-Shannon divergence
# and total variation (module kl_ext._divergence).
#
# Contract (checked by kl_ext/measures.py before any call here):
#   * p and q are ndarrays of the same dtype, float32 or float64, aligned,
#     with element strides that are multiples of the item size;
#   * 1-D calls (`one`) take two arrays of equal length n >= 1;
#   * 2-D calls (`rows`) take (nrows, n) views; a broadcast reference row has
#     row stride 0 and is read in place, never copied;
#   * out is a C-contiguous float64 array of nrows, status an int8 array.
# The kernels never raise and never write to p or q.  Every result is in
# nats, before any `base`; problems are reported per row in `status`:
#   0 OK, 1 negative entry in p, 2 negative entry in q, 3 p sums to 0,
#   4 q sums to 0 (normalize only), 5 non-finite (+inf entry or a sum that
#   overflows, or with normalize a sum outside [2**-500, 2**500]): the caller
#   recomputes that row by the slow, exact path; 7 a measure code this
#   module does not know (nothing computed).  Codes: src/_codes.pxd.
# All accumulation is in double, in blocks of BLOCK elements folded into a
# compensated (Neumaier) total, so long rows keep ~1e-16 relative accuracy.

cimport cython
from cython cimport floating
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset
from libc.math cimport log, log1p, sqrt, fabs, fma, isnan, isinf, NAN, INFINITY
cimport numpy as cnp

cdef extern from "_vmath.h" nogil:
    # KL_EXT_VECTOR is 1 in the SIMD builds (kl_ext._divergence_v3/_v4),
    # 0 in the baseline build; the branch-free element terms live there.
    const int KL_EXT_VECTOR
    # 1 where float32 blocks are read in place (lanes_f32, lanes_pair_f32)
    const int KL_F32_INPLACE
    int kl_vdomain(double v)
    # 1 where a nonzero entry scaled to u underflowed to 0 (Jeffreys's test)
    int kl_vzero_uf(double a, double u)
    double kl_vterm_kl(double p, double q)
    # the KL terms of 8 entries (AVX-512 intrinsics in the v4 tier):
    # acc[j] += term(x[j], y[j]), out[j] = term(x[j], y[j])
    void kl_vadd_kl8(const double* x, const double* y, double* acc)
    void kl_vset_kl8(const double* x, const double* y, double* out)
    # the same for JS: acc[j] += term(x[j] * mq, y[j] * mp); out[j] =
    # term(x[j], y[j]) (out may be y)
    void kl_vadd_js8(const double* x, const double* y, double mp, double mq, double* acc)
    void kl_vset_js8(const double* x, const double* y, double* out)
    # and for Jeffreys
    void kl_vadd_jeffreys8(const double* x, const double* y, double mp, double mq,
                           double* acc)
    void kl_vset_jeffreys8(const double* x, const double* y, double* out)
    double kl_vterm_xlogx(double x)
    double kl_vterm_xlogy(double p, double q)
    double kl_vterm_js(double x, double y)
    double kl_vterm_jeffreys(double x, double y)
    double kl_vterm_hellinger(double x, double y)
    int kl_max_threads()
    void kl_set_thread_cap(int n)
    int kl_openmp_enabled()
    double kl_vlog1pmx_ratio(double a, double b)
    double kl_vlog_sum(double s)
    double kl_seg_total(const double* e, Py_ssize_t n)
    void kl_pair_scales(double sp, double sq, double* mp, double* mq, double* k)
    int kl_lane_sums_bad(const double* x, const double* y, Py_ssize_t m,
                          double* sp, double* sq)
    bint kl_vbad_block(const double* x, const double* y, Py_ssize_t m)
    bint kl_vbad_block_scaled(const double* x, const double* y, Py_ssize_t m,
                              double mp, double mq)
    void kl_sum2_lanes(const double* x, Py_ssize_t m, double* s, double* c)
    bint kl_fused_kl(const double* x, const double* y, Py_ssize_t m,
                     double* sp, double* sq, double* st)
    bint kl_fused_xlogy(const double* x, const double* y, Py_ssize_t m,
                        double* sp, double* sq, double* st)
    bint kl_fused_xlogx(const double* x, Py_ssize_t m, double* sp, double* sq, double* st)
    bint kl_fused_kl_f32(const float* x, const float* y, Py_ssize_t m,
                         double* sp, double* sq, double* st)
    bint kl_fused_xlogy_f32(const float* x, const float* y, Py_ssize_t m,
                            double* sp, double* sq, double* st)
    bint kl_fused_xlogx_f32(const float* x, const float* y, Py_ssize_t m,
                            double* sp, double* sq, double* st)
    bint kl_fused_js(const double* x, const double* y, Py_ssize_t m, double mp,
                     double mq, double* st)
    # 1 where the pair pass of a clean row skips its domain test (v4)
    const int KL_PAIR_CLEAN
    bint kl_fused_js_clean(const double* x, const double* y, Py_ssize_t m, double mp,
                           double mq, double* st)
    bint kl_fused_jeffreys_clean(const double* x, const double* y, Py_ssize_t m, double mp,
                                 double mq, double* st)
    bint kl_fused_jeffreys(const double* x, const double* y, Py_ssize_t m, double mp,
                           double mq, double* st)
    bint kl_fused_js_f32(const float* x, const float* y, Py_ssize_t m, double mp,
                         double mq, double* st)
    bint kl_fused_jeffreys_f32(const float* x, const float* y, Py_ssize_t m, double mp,
                               double mq, double* st)
    bint kl_fused_js_f32_clean(const float* x, const float* y, Py_ssize_t m, double mp,
                               double mq, double* st)
    bint kl_fused_jeffreys_f32_clean(const float* x, const float* y, Py_ssize_t m,
                                     double mp, double mq, double* st)
    bint kl_sums_bad_f32(const float* x, const float* y, Py_ssize_t m,
                         double* sp, double* sq, double* st)

cdef extern from "_inline.h":
    # the return type of a function GCC must always inline
    ctypedef void kl_always_void "KL_ALWAYS_INLINE_VOID"

cdef extern from "_short.h" nogil:
    # the second group of 8 of a row of 9 to 12 elements over its first 2
    # or 4 lanes (the rest is zero padding): the same lanes, bit for bit
    const int KL_SHORT_TAIL_KL  # 0 where the KL lanes have their own term (v4)
    # p[0..n) to buf[0..16), zero-padded (contiguous float64, 1 <= n <= 16)
    void kl_pad16(const double* p, Py_ssize_t n, double* buf)
    bint kl_tail2_kl(const double* x, const double* y, double* sp, double* sq,
                     double* st)
    bint kl_tail4_kl(const double* x, const double* y, double* sp, double* sq,
                     double* st)
    bint kl_tail2_js(const double* x, const double* y, double mp, double mq, double* st)
    bint kl_tail4_js(const double* x, const double* y, double mp, double mq, double* st)
    bint kl_tail2_jeffreys(const double* x, const double* y, double mp, double mq,
                           double* st)
    bint kl_tail4_jeffreys(const double* x, const double* y, double mp, double mq,
                           double* st)
    # the same for a clean row (no domain test; KL_PAIR_CLEAN)
    bint kl_tail2_js_clean(const double* x, const double* y, double mp, double mq,
                           double* st)
    bint kl_tail4_js_clean(const double* x, const double* y, double mp, double mq,
                           double* st)
    bint kl_tail2_jeffreys_clean(const double* x, const double* y, double mp, double mq,
                                 double* st)
    bint kl_tail4_jeffreys_clean(const double* x, const double* y, double mp, double mq,
                                 double* st)
    void kl_tail2_hellinger(const double* x, const double* y, double mp, double mq,
                            double* st)
    void kl_tail4_hellinger(const double* x, const double* y, double mp, double mq,
                            double* st)
    void kl_tail8_hellinger(const double* x, const double* y, double mp, double mq,
                            double* st)

from _pool cimport kl_pool_fn, kl_pool_run, kl_pool_workers
from _scalar cimport (kahan_add, kahan_total, log_ratio, kl_term, js_term,
                      jeffreys_term, hellinger_term, xlogy_ratio_series, js_series,
                      jeffreys_term_scaled, scaled_log_ratio, underflowed,
                      log1pmx, DBL_MAX)

cnp.import_array()

cdef enum:
    BLOCK = 64  # the literal 64 in range() below (Cython needs a literal step)

# measure and status codes, generated from the table of measures
# (kl_ext/_table.py); every dispatch below names each measure it handles and
# answers an unknown code with ST_BAD_MEASURE.  ST_REFINE is internal to
# fin_* and the chunked `finish`: the one-pass value needs a second pass.
from _codes cimport (ENTROPY, CROSS_ENTROPY, KL, JS, TV, JS_DISTANCE, HELLINGER,
                     JEFFREYS, ST_OK,
                     ST_NEG_P, ST_NEG_Q, ST_ZERO_P, ST_ZERO_Q, ST_NONFINITE,
                     ST_LAYOUT, ST_REFINE, ST_BAD_MEASURE, is_one_pass, is_pair)

cdef double LN2 = 0.6931471805599453
# a cancellation in one-pass normalisation worse than this factor triggers an
# exact second pass over the row
cdef double CANCEL = 8.0
# below this (nats) a normalised entropy or cross-entropy is recomputed by
# refine_xlog: the rounding of the row sum alone would cost ~eps absolute
cdef double LOW_ENTROPY = 0.125
# normalised rows whose sums lie outside [SUM_MIN, SUM_MAX] take the slow,
# rescaling path (never reached by float32 input)
cdef double SUM_MIN = 3.054936363499605e-151  # 2**-500
cdef double SUM_MAX = 3.273390607896142e+150  # 2**500


cdef inline int check_sums(double sp, double sq, bint normalize,
                           double* res) noexcept nogil:
    # Shared end-of-row checks: NaN anywhere gives NaN; +inf or overflow goes
    # to the exact slow path; a zero sum is an error when normalising.
    if isnan(sp) or isnan(sq):
        res[0] = NAN
        return -1
    if isinf(sp) or isinf(sq):
        return ST_NONFINITE
    if normalize:
        if sp == 0.0:
            return ST_ZERO_P
        if sq == 0.0:
            return ST_ZERO_Q
        # sums far from 1 break the one-pass forms: terms p log p underflow
        # to subnormals (tiny sums), p log(p/q) overflows (huge sums), and
        # the pair scales of JS/TV and KL's second-pass sp/sq under- or
        # overflow (sums of very different size).  Such rows go to the
        # exact slow path, which rescales p and q by powers of two first.
        if not (SUM_MIN <= sp <= SUM_MAX and SUM_MIN <= sq <= SUM_MAX):
            return ST_NONFINITE
    return ST_OK


cdef inline double scalar_term(int measure, double x, double y) noexcept nogil:
    # the element term of each one-pass measure (NaN-propagating, any x, y)
    if measure == KL:
        return kl_term(x, y)
    if measure == CROSS_ENTROPY:
        return x * log(y) if x > 0.0 else 0.0
    if measure == ENTROPY:
        return x * log(x) if x > 0.0 else 0.0
    return 0.0


cdef enum:
    LBLOCK = 512  # elements per lane block; lane sums fold into the totals per block
    CLEAN = 4096  # measure | CLEAN: pair_pass of a clean row (row_pair)


cdef inline void lanes_groups(int measure, const double* x, const double* y,
                              Py_ssize_t m, double* st, int* neg) noexcept nogil:
    # the element terms of a block with some entry outside the vector terms'
    # domain, group by group: the branch-free terms for clean groups of 8,
    # scalar terms for groups with NaN, inf, negative or subnormal entries
    cdef Py_ssize_t i
    cdef int j, ok
    for i in range(0, m, 8):
        ok = 1
        for j in range(8):
            ok &= kl_vdomain(x[i + j]) & kl_vdomain(y[i + j])
        if ok and measure == KL:
            kl_vadd_kl8(x + i, y + i, st)
        elif ok and measure == CROSS_ENTROPY:
            for j in range(8):
                st[j] += kl_vterm_xlogy(x[i + j], y[i + j])
        elif ok and measure == ENTROPY:
            for j in range(8):
                st[j] += kl_vterm_xlogx(x[i + j])
        elif not ok:
            for j in range(8):
                neg[0] |= x[i + j] < 0.0
                neg[1] |= y[i + j] < 0.0
                st[j] += scalar_term(measure, x[i + j], y[i + j])


cdef inline kl_always_void lanes_fused(int measure, const double* x, const double* y,
                                       Py_ssize_t m, double* ap, double* aq, double* st,
                                       bint* bad) noexcept nogil:
    # `lanes` without its slow path: the measure's fused loop (_vmath.h,
    # kl_fused_*) adds the lane sums, tests every entry against the vector
    # terms' domain (0 or [2^-500, 2^500]) and sums the branch-free terms
    # into st; bad[0] = True if some entry failed the test (then st holds
    # no term of the block).  Always inlined (_inline.h), so that a caller
    # with a constant measure keeps only its own loop.
    if measure == KL:
        bad[0] = kl_fused_kl(x, y, m, ap, aq, st)
    elif measure == CROSS_ENTROPY:
        bad[0] = kl_fused_xlogy(x, y, m, ap, aq, st)
    elif measure == ENTROPY:
        bad[0] = kl_fused_xlogx(x, m, ap, aq, st)
    else:
        bad[0] = kl_lane_sums_bad(x, y, m, ap, aq)  # sums only (pair measures)


cdef inline void lanes(int measure, const double* x, const double* y, Py_ssize_t m,
                       double* ap, double* aq, double* at, int* neg) noexcept nogil:
    # first_pass's vector body over m (a multiple of 8) contiguous doubles:
    # 8 independent lanes per accumulator, which GCC turns into SIMD code.
    # lanes_fused adds the lane sums and the branch-free terms; a block that
    # fails its domain test keeps its sums and redoes its terms group by
    # group (lanes_groups).  Accumulators are locals of the C helpers (the
    # caller's arrays might alias x and y, as far as the compiler knows).
    cdef int j, flags
    cdef bint bad
    cdef double st[8]
    for j in range(8):
        st[j] = at[j]
    if measure == KL or measure == CROSS_ENTROPY or measure == ENTROPY:
        lanes_fused(measure, x, y, m, ap, aq, st, &bad)
    else:
        # sums only (pair measures); bit 1: not clean (KL_PAIR_CLEAN).  The
        # pair measures have no term sum: st[0] counts the blocks that are
        # not clean instead (row_pair reads it as sums[2])
        flags = kl_lane_sums_bad(x, y, m, ap, aq)
        if flags:
            st[0] += 1.0
        bad = (flags & 1) != 0
    if bad:
        lanes_groups(measure, x, y, m, st, neg)
    for j in range(8):
        at[j] = st[j]


cdef inline void lanes_f32(int measure, const float* x, const float* y, Py_ssize_t m,
                           double* ap, double* aq, double* at, int* neg, double* bx,
                           double* by) noexcept nogil:
    # `lanes` over m (a multiple of 8) contiguous float32 entries, widened
    # in registers (exactly) by the fused loops: the same sums and terms, bit
    # for bit, as `lanes` over a float64 copy, without the copy.  A block
    # outside the domain is copied to bx, by (LBLOCK doubles each) and its
    # terms redone group by group.
    cdef int j
    cdef bint bad
    cdef double st[8]
    for j in range(8):
        st[j] = at[j]
    if measure == KL:
        bad = kl_fused_kl_f32(x, y, m, ap, aq, st)
    elif measure == CROSS_ENTROPY:
        bad = kl_fused_xlogy_f32(x, y, m, ap, aq, st)
    elif measure == ENTROPY:
        bad = kl_fused_xlogx_f32(x, y, m, ap, aq, st)
    else:
        bad = kl_sums_bad_f32(x, y, m, ap, aq, st)  # sums only: adds 0.0 to st
    if bad:
        load_block(x, 1, m, bx)
        load_block(y, 1, m, by)
        lanes_groups(measure, bx, by, m, st, neg)
    for j in range(8):
        at[j] = st[j]


cdef inline void lanes_short_kl(const double* x, const double* y, Py_ssize_t t,
                                double* ap, double* aq, double* at,
                                int* neg) noexcept nogil:
    # lanes(KL, x, y, 16, ...) over a zero-padded row of 8 + t entries,
    # 1 <= t <= 4: the first group whole, the second over its first 2 or 4
    # lanes only (_short.h: the padding changes no lane), the same sums and
    # terms bit for bit; a row with an entry outside the vector domain
    # restarts as `lanes` over both groups
    cdef double ap0[8]
    cdef double aq0[8]
    cdef double st[8]
    cdef int j
    cdef bint bad
    for j in range(8):
        ap0[j] = ap[j]
        aq0[j] = aq[j]
        st[j] = at[j]
    bad = kl_fused_kl(x, y, 8, ap, aq, st)
    if not bad:
        bad = (kl_tail2_kl(x + 8, y + 8, ap, aq, st) if t <= 2
               else kl_tail4_kl(x + 8, y + 8, ap, aq, st))
    if bad:
        for j in range(8):
            ap[j] = ap0[j]
            aq[j] = aq0[j]
        lanes(KL, x, y, 16, ap, aq, at, neg)
        return
    for j in range(8):
        at[j] = st[j]


cdef inline kl_always_void lanes_pair_short(int measure, const double* x, const double* y,
                                            Py_ssize_t t, double mp, double mq,
                                            double* at, bint clean) noexcept nogil:
    # lanes_pair(measure, x, y, 16, ..., clean) of JS, Jeffreys or
    # Hellinger over a zero-padded row of 8 + t entries, 1 <= t <= 4, as
    # lanes_short_kl; always inlined (_inline.h), for pair_short's constant
    # measure
    cdef double st[8]
    cdef int j
    cdef bint bad
    if measure == HELLINGER:  # no domain test: valid for every x, y >= 0
        kl_tail8_hellinger(x, y, mp, mq, at)
        if t <= 2:
            kl_tail2_hellinger(x + 8, y + 8, mp, mq, at)
        else:
            kl_tail4_hellinger(x + 8, y + 8, mp, mq, at)
        return
    for j in range(8):
        st[j] = at[j]
    if measure == JS and clean:
        kl_fused_js_clean(x, y, 8, mp, mq, st)
        if t <= 2:
            kl_tail2_js_clean(x + 8, y + 8, mp, mq, st)
        else:
            kl_tail4_js_clean(x + 8, y + 8, mp, mq, st)
        bad = False
    elif measure == JS:
        bad = kl_fused_js(x, y, 8, mp, mq, st)
        if not bad:
            bad = (kl_tail2_js(x + 8, y + 8, mp, mq, st) if t <= 2
                   else kl_tail4_js(x + 8, y + 8, mp, mq, st))
    elif clean:
        kl_fused_jeffreys_clean(x, y, 8, mp, mq, st)
        if t <= 2:
            kl_tail2_jeffreys_clean(x + 8, y + 8, mp, mq, st)
        else:
            kl_tail4_jeffreys_clean(x + 8, y + 8, mp, mq, st)
        bad = False
    else:
        bad = kl_fused_jeffreys(x, y, 8, mp, mq, st)
        if not bad:
            bad = (kl_tail2_jeffreys(x + 8, y + 8, mp, mq, st) if t <= 2
                   else kl_tail4_jeffreys(x + 8, y + 8, mp, mq, st))
    if bad:
        lanes_pair(measure, x, y, 16, mp, mq, at, False)
        return
    for j in range(8):
        at[j] = st[j]


cdef inline Py_ssize_t load_block(const floating* p, Py_ssize_t ps, Py_ssize_t m,
                                  double* buf) noexcept nogil:
    # buf[:m] = p[::ps][:m] as doubles, zero-padded to a multiple of 8 (zeros
    # add nothing to any sum or term); returns the padded length
    cdef Py_ssize_t i, m8 = (m + 7) & ~(<Py_ssize_t>7)
    if ps == 1:
        for i in range(m):
            buf[i] = p[i]
    else:
        for i in range(m):
            buf[i] = p[i * ps]
    for i in range(m, m8):
        buf[i] = 0.0
    return m8


cdef inline kl_always_void first_short(int measure, const floating* p, Py_ssize_t ps,
                                       const floating* q, Py_ssize_t qs, Py_ssize_t n,
                                       double* sums, int* st) noexcept nogil:
    # first_pass of a row of n <= 16 elements (KL_EXT_VECTOR builds; the
    # small-call path's usual case): one zero-padded copy and one run of the
    # lanes, the same sums bit for bit as first_pass's blocks give (a single
    # block's compensated total is its sum); st[0] = first_pass's status.
    # Always inlined (_inline.h): row_entropy, row_cross_entropy and row_kl
    # call it before first_pass_par, their measure a constant, so a call on
    # 10 elements runs its own fused loop inline, not `lanes` out of line.
    cdef double ap[8]
    cdef double aq[8]
    cdef double at[8]
    cdef double bx[16]
    cdef double by[16]
    cdef int neg[2]
    cdef int j
    cdef bint bad = False
    neg[0] = 0
    neg[1] = 0
    for j in range(8):
        ap[j] = 0.0
        aq[j] = 0.0
        at[j] = 0.0
    for j in range(16):
        bx[j] = p[j * ps] if j < n else 0.0
        by[j] = q[j * qs] if j < n else 0.0
    if KL_SHORT_TAIL_KL and measure == KL and 8 < n <= 12:
        lanes_short_kl(bx, by, n - 8, ap, aq, at, neg)
    else:
        lanes_fused(measure, bx, by, 8 if n <= 8 else 16, ap, aq, at, &bad)
        if bad:
            lanes_groups(measure, bx, by, 8 if n <= 8 else 16, at, neg)
    sums[0] = lanes_total(ap)
    sums[1] = lanes_total(aq)
    sums[2] = lanes_total(at)
    st[0] = ST_NEG_P if neg[0] else (ST_NEG_Q if neg[1] else ST_OK)


cdef int first_pass(int measure, const floating* p, Py_ssize_t ps,
                    const floating* q, Py_ssize_t qs, Py_ssize_t n,
                    double* sums) noexcept nogil:
    # One pass over a row: sums[0] = sum p, sums[1] = sum q and
    # sums[2] = sum of the measure's element term (KL: kl_div(p, q);
    # cross-entropy: p log q; entropy: p log p; JS/TV: nothing), all
    # compensated.  Returns ST_NEG_P/ST_NEG_Q for a negative entry.
    #
    # Vector builds (KL_EXT_VECTOR) run `lanes` over blocks of LBLOCK
    # elements: contiguous float64 rows in place, anything else (float32,
    # strided rows, the last partial group of 8) through a zero-padded
    # float64 copy of the block, so every element takes the SIMD terms.
    # Lane sums are folded into the compensated totals once per block.
    cdef double sp = 0.0, spc = 0.0, sq = 0.0, sqc = 0.0, t = 0.0, tc = 0.0
    cdef double bp, bq, bt, x, y
    cdef double ap[8]
    cdef double aq[8]
    cdef double at[8]
    cdef double bx[LBLOCK]
    cdef double by[LBLOCK]
    cdef int neg[2]
    cdef bint direct
    cdef Py_ssize_t i, j, start, stop, m, m8
    cdef int st
    neg[0] = 0
    neg[1] = 0
    if KL_EXT_VECTOR and n <= 16:
        first_short(measure, p, ps, q, qs, n, sums, &st)
        return st
    if KL_EXT_VECTOR:
        for start in range(0, n, 512):
            m = min(<Py_ssize_t>LBLOCK, n - start)
            for j in range(8):
                ap[j] = 0.0
                aq[j] = 0.0
                at[j] = 0.0
            direct = False
            if floating is double:
                if ps == 1 and qs == 1:
                    direct = True
                    m8 = m - m % 8
                    lanes(measure, p + start, q + start, m8, ap, aq, at, neg)
                    if m8 < m:
                        load_block(p + start + m8, 1, m - m8, bx)
                        load_block(q + start + m8, 1, m - m8, by)
                        lanes(measure, bx, by, 8, ap, aq, at, neg)
            else:
                if KL_F32_INPLACE and ps == 1 and qs == 1:
                    direct = True
                    m8 = m - m % 8
                    lanes_f32(measure, p + start, q + start, m8, ap, aq, at, neg, bx, by)
                    if m8 < m:
                        load_block(p + start + m8, 1, m - m8, bx)
                        load_block(q + start + m8, 1, m - m8, by)
                        lanes(measure, bx, by, 8, ap, aq, at, neg)
            if not direct:
                load_block(p + start * ps, ps, m, bx)
                m8 = load_block(q + start * qs, qs, m, by)
                lanes(measure, bx, by, m8, ap, aq, at, neg)
            kahan_add(&sp, &spc, lanes_total(ap))
            kahan_add(&sq, &sqc, lanes_total(aq))
            kahan_add(&t, &tc, lanes_total(at))
    else:
        for start in range(0, n, 64):
            stop = min(start + BLOCK, n)
            bp = 0.0
            bq = 0.0
            bt = 0.0
            for i in range(start, stop):
                x = p[i * ps]
                y = q[i * qs]
                neg[0] |= x < 0.0
                neg[1] |= y < 0.0
                bp += x
                bq += y
                bt += scalar_term(measure, x, y)
            kahan_add(&sp, &spc, bp)
            kahan_add(&sq, &sqc, bq)
            kahan_add(&t, &tc, bt)
    sums[0] = kahan_total(sp, spc)
    sums[1] = kahan_total(sq, sqc)
    sums[2] = kahan_total(t, tc)
    if neg[0]:
        return ST_NEG_P
    if neg[1]:
        return ST_NEG_Q
    return ST_OK


cdef inline double lanes_total(double* a) noexcept nogil:
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))


cdef inline void lanes_pair(int measure, const double* x, const double* y, Py_ssize_t m,
                            double mp, double mq, double* at, bint clean) noexcept nogil:
    # pair_pass's vector body over m (a multiple of 8) contiguous doubles;
    # whole-block domain test and local accumulators as in `lanes` (no
    # test for the blocks of a clean row: see row_pair)
    cdef Py_ssize_t i
    cdef int j, ok
    cdef double st[8]
    for j in range(8):
        st[j] = at[j]
    # (TV and Hellinger: terms valid for every finite x, y >= 0, no test;
    # JS and Jeffreys: logarithms, vector terms inside the domain only)
    if measure == TV:
        for i in range(0, m, 8):
            for j in range(8):
                st[j] += fabs(x[i + j] * mq - y[i + j] * mp)
    elif measure == HELLINGER:
        for i in range(0, m, 8):
            for j in range(8):
                st[j] += kl_vterm_hellinger(x[i + j] * mq, y[i + j] * mp)
    elif measure != JS and measure != JEFFREYS:
        pass  # not a pair measure: row_dispatch never sends one here
    elif not (((kl_fused_js_clean(x, y, m, mp, mq, st) if clean
                else kl_fused_js(x, y, m, mp, mq, st)) if measure == JS
               else (kl_fused_jeffreys_clean(x, y, m, mp, mq, st) if clean
                     else kl_fused_jeffreys(x, y, m, mp, mq, st)))):
        pass  # the whole block in the domain: its terms are summed
    else:
        for i in range(0, m, 8):
            ok = 1
            for j in range(8):
                ok &= kl_vdomain(x[i + j] * mq) & kl_vdomain(y[i + j] * mp)
                if measure == JEFFREYS:  # a product underflowed to 0 (kl_vzero_uf)
                    ok &= not (kl_vzero_uf(x[i + j], x[i + j] * mq)
                               | kl_vzero_uf(y[i + j], y[i + j] * mp))
            if ok and measure == JS:
                kl_vadd_js8(x + i, y + i, mp, mq, st)
            elif ok:
                kl_vadd_jeffreys8(x + i, y + i, mp, mq, st)
            elif measure == JS:
                for j in range(8):
                    st[j] += js_term(x[i + j] * mq, y[i + j] * mp)
            else:
                for j in range(8):
                    st[j] += jeffreys_term_scaled(x[i + j], y[i + j], mp, mq)
    for j in range(8):
        at[j] = st[j]


cdef inline void lanes_pair_f32(int measure, const float* x, const float* y,
                                Py_ssize_t m, double mp, double mq, double* at,
                                double* bx, double* by, bint clean) noexcept nogil:
    # lanes_pair over m (a multiple of 8) contiguous float32 entries: JS and
    # Jeffreys widen them in registers (kl_fused_*_f32: Jeffreys the same
    # terms bit for bit as over a float64 copy, JS its own float32 term);
    # other measures, and blocks outside the domain, go through a float64
    # copy in bx, by.  clean (row_pair): the loops without the domain test.
    cdef int j
    cdef double st[8]
    if measure == JS or measure == JEFFREYS:
        for j in range(8):
            st[j] = at[j]
        if clean:
            if measure == JS:
                kl_fused_js_f32_clean(x, y, m, mp, mq, st)
            else:
                kl_fused_jeffreys_f32_clean(x, y, m, mp, mq, st)
            for j in range(8):
                at[j] = st[j]
            return
        if not (kl_fused_js_f32(x, y, m, mp, mq, st) if measure == JS
                else kl_fused_jeffreys_f32(x, y, m, mp, mq, st)):
            for j in range(8):
                at[j] = st[j]
            return
    load_block(x, 1, m, bx)
    load_block(y, 1, m, by)
    lanes_pair(measure, bx, by, m, mp, mq, at, False)


cdef double pair_pass(int measure, const floating* p, Py_ssize_t ps,
                      const floating* q, Py_ssize_t qs, Py_ssize_t n,
                      double mp, double mq) noexcept nogil:
    # Second pass of the pair measures over validated rows (no negatives, sums
    # finite): compensated sum of J(p*mq, q*mp) (JS) or |p*mq - q*mp| (TV).
    # measure | CLEAN: a clean row (row_pair), whose blocks skip the test.
    # Vector builds run `lanes_pair` over blocks, as first_pass does.
    cdef double t = 0.0, tc = 0.0, bt
    cdef double at[8]
    cdef double bx[LBLOCK]
    cdef double by[LBLOCK]
    cdef bint direct
    cdef Py_ssize_t i, j, start, stop, m, m8
    cdef bint clean = (measure & CLEAN) != 0  # see row_pair
    measure = measure & ~CLEAN
    if KL_EXT_VECTOR and n <= 16:
        # a short row: as in first_pass
        for j in range(8):
            at[j] = 0.0
        for i in range(16):
            bx[i] = p[i * ps] if i < n else 0.0
            by[i] = q[i * qs] if i < n else 0.0
        lanes_pair(measure, bx, by, 8 if n <= 8 else 16, mp, mq, at, clean)
        return lanes_total(at)
    if KL_EXT_VECTOR:
        for start in range(0, n, 512):
            m = min(<Py_ssize_t>LBLOCK, n - start)
            for j in range(8):
                at[j] = 0.0
            direct = False
            if floating is double:
                if ps == 1 and qs == 1:
                    direct = True
                    m8 = m - m % 8
                    lanes_pair(measure, p + start, q + start, m8, mp, mq, at, clean)
                    if m8 < m:
                        load_block(p + start + m8, 1, m - m8, bx)
                        load_block(q + start + m8, 1, m - m8, by)
                        lanes_pair(measure, bx, by, 8, mp, mq, at, clean)
            else:
                if KL_F32_INPLACE and ps == 1 and qs == 1:
                    direct = True
                    m8 = m - m % 8
                    lanes_pair_f32(measure, p + start, q + start, m8, mp, mq, at, bx, by, clean)
                    if m8 < m:
                        load_block(p + start + m8, 1, m - m8, bx)
                        load_block(q + start + m8, 1, m - m8, by)
                        lanes_pair(measure, bx, by, 8, mp, mq, at, clean)
            if not direct:
                load_block(p + start * ps, ps, m, bx)
                m8 = load_block(q + start * qs, qs, m, by)
                lanes_pair(measure, bx, by, m8, mp, mq, at, clean)
            kahan_add(&t, &tc, lanes_total(at))
        return kahan_total(t, tc)
    for start in range(0, n, 64):
        stop = min(start + BLOCK, n)
        bt = 0.0
        if measure == TV:
            for i in range(start, stop):
                bt += fabs(p[i * ps] * mq - q[i * qs] * mp)
        elif measure == JS:
            for i in range(start, stop):
                bt += js_term(p[i * ps] * mq, q[i * qs] * mp)
        elif measure == HELLINGER:
            for i in range(start, stop):
                bt += hellinger_term(p[i * ps] * mq, q[i * qs] * mp)
        elif measure == JEFFREYS:
            for i in range(start, stop):
                bt += jeffreys_term_scaled(p[i * ps], q[i * qs], mp, mq)
        kahan_add(&t, &tc, bt)
    return kahan_total(t, tc)


cdef enum:
    # long rows are processed in chunks of CHUNK elements whose compensated
    # partial sums are added in order, whatever the number of threads, so a
    # result never depends on the thread count
    CHUNK = 65536


# A parallel loop is a Job (its arguments) and an item function run by
# kl_pool_run for items 0 .. nitems - 1, on the calling thread and up to
# nthreads - 1 pool workers (all on the caller when nthreads <= 1).  Each
# item writes its own output slots, which the callers then sum in item
# order: results never depend on the thread count or on who ran an item.
# Most items are pieces of rows: piece k = r * npc + c is chunk c (CHUNK
# elements, the last one shorter) of row r.  The fused element type is
# chosen by f64 (the item functions cannot be fused).
cdef struct Job:
    int measure
    bint f64
    bint normalize
    const void* p
    const void* q
    Py_ssize_t prs, ps, qrs, qs, n, nrows
    Py_ssize_t npc      # pieces per row
    Py_ssize_t per      # rows or tiles per item (row loops)
    Py_ssize_t nr       # rows per tile
    Py_ssize_t ntiles
    const double* aux   # per-row scalars: aux[astride * r + aoff ...]
    Py_ssize_t astride, aoff
    const cnp.npy_int8* want  # near_pieces: the pieces wanted (NULL: all)
    double* out
    cnp.npy_int8* status
    int* stc
    const double* qtile


cdef inline void job_init(Job* j, int measure, bint f64, const void* p, Py_ssize_t prs,
                          Py_ssize_t ps, const void* q, Py_ssize_t qrs, Py_ssize_t qs,
                          Py_ssize_t nrows, Py_ssize_t n) noexcept nogil:
    memset(j, 0, sizeof(Job))
    j.measure = measure
    j.f64 = f64
    j.p = p
    j.q = q
    j.prs = prs
    j.ps = ps
    j.qrs = qrs
    j.qs = qs
    j.nrows = nrows
    j.n = n
    j.npc = (n + CHUNK - 1) // CHUNK


cdef inline Py_ssize_t piece_at(const Job* j, Py_ssize_t k, Py_ssize_t* r,
                                Py_ssize_t* op, Py_ssize_t* oq) noexcept nogil:
    # piece k: its row r, the offsets of its first p and q elements, its length
    cdef Py_ssize_t c
    r[0] = k // j.npc
    c = k - r[0] * j.npc
    op[0] = r[0] * j.prs + c * CHUNK * j.ps
    oq[0] = r[0] * j.qrs + c * CHUNK * j.qs
    return min(<Py_ssize_t>CHUNK, j.n - c * CHUNK)


cdef void item_first(void* ctx, Py_ssize_t k) noexcept nogil:
    # first_pass of piece k: out[3k .. 3k + 2], status[k]
    cdef Job* j = <Job*>ctx
    cdef Py_ssize_t r, op, oq, m = piece_at(j, k, &r, &op, &oq)
    cdef int st
    if j.f64:
        st = first_pass(j.measure, <const double*>j.p + op, j.ps,
                        <const double*>j.q + oq, j.qs, m, j.out + 3 * k)
    else:
        st = first_pass(j.measure, <const float*>j.p + op, j.ps,
                        <const float*>j.q + oq, j.qs, m, j.out + 3 * k)
    j.status[k] = <cnp.npy_int8>st


cdef void item_pair(void* ctx, Py_ssize_t k) noexcept nogil:
    # pair_pass of piece k with its row's scales (aux): out[k]
    cdef Job* j = <Job*>ctx
    cdef Py_ssize_t r, op, oq, m = piece_at(j, k, &r, &op, &oq)
    cdef const double* a = j.aux + j.astride * r + j.aoff
    if j.f64:
        j.out[k] = pair_pass(j.measure, <const double*>j.p + op, j.ps,
                             <const double*>j.q + oq, j.qs, m, a[0], a[1])
    else:
        j.out[k] = pair_pass(j.measure, <const float*>j.p + op, j.ps,
                             <const float*>j.q + oq, j.qs, m, a[0], a[1])


cdef void item_near(void* ctx, Py_ssize_t k) noexcept nogil:
    # near_pass of piece k with its row's (ah, al, bh, bl) in aux: out[k]
    # (NaN for a piece not wanted)
    cdef Job* j = <Job*>ctx
    cdef Py_ssize_t r, op, oq, m = piece_at(j, k, &r, &op, &oq)
    cdef const double* a = j.aux + j.astride * r + j.aoff
    j.out[k] = NAN
    if j.want != NULL and not j.want[k]:
        return
    if j.f64:
        j.out[k] = near_pass(j.measure, <const double*>j.p + op, j.ps,
                             <const double*>j.q + oq, j.qs, m, a[0], a[1], a[2], a[3])
    else:
        j.out[k] = near_pass(j.measure, <const float*>j.p + op, j.ps,
                             <const float*>j.q + oq, j.qs, m, a[0], a[1], a[2], a[3])


cdef void item_dd(void* ctx, Py_ssize_t k) noexcept nogil:
    # dd_sums of piece k: out[4k .. 4k + 3]
    cdef Job* j = <Job*>ctx
    cdef Py_ssize_t r, op, oq, m = piece_at(j, k, &r, &op, &oq)
    if j.f64:
        dd_sums(<const double*>j.p + op, j.ps, <const double*>j.q + oq, j.qs, m,
                j.out + 4 * k)
    else:
        dd_sums(<const float*>j.p + op, j.ps, <const float*>j.q + oq, j.qs, m,
                j.out + 4 * k)


cdef int first_pass_par(int measure, const floating* p, Py_ssize_t ps,
                        const floating* q, Py_ssize_t qs, Py_ssize_t n,
                        double* sums, int nthreads) noexcept nogil:
    # first_pass over a long row, chunk by chunk (on nthreads threads)
    cdef Py_ssize_t c, nchunks = (n + CHUNK - 1) // CHUNK
    cdef double* part
    cdef cnp.npy_int8* stc
    cdef int k, st = ST_OK
    cdef double tot[3]
    cdef double comp[3]
    cdef Job job
    if nchunks <= 1:
        return first_pass(measure, p, ps, q, qs, n, sums)
    part = <double*>malloc(nchunks * 3 * sizeof(double))
    stc = <cnp.npy_int8*>malloc(nchunks)
    if part == NULL or stc == NULL:
        free(part)
        free(stc)
        return first_pass(measure, p, ps, q, qs, n, sums)
    job_init(&job, measure, floating is double, p, 0, ps, q, 0, qs, 1, n)
    job.out = part
    job.status = stc
    kl_pool_run(nthreads, nchunks, item_first, &job)
    for k in range(3):
        tot[k] = 0.0
        comp[k] = 0.0
    for c in range(nchunks):
        for k in range(3):
            kahan_add(&tot[k], &comp[k], part[3 * c + k])
        if stc[c] == ST_NEG_P or (stc[c] == ST_NEG_Q and st == ST_OK):
            st = stc[c]
    for k in range(3):
        sums[k] = kahan_total(tot[k], comp[k])
    free(part)
    free(stc)
    return st


cdef double pair_pass_par(int measure, const floating* p, Py_ssize_t ps,
                          const floating* q, Py_ssize_t qs, Py_ssize_t n,
                          double mp, double mq, int nthreads) noexcept nogil:
    # pair_pass over a long row, chunk by chunk (on nthreads threads)
    cdef Py_ssize_t c, nchunks = (n + CHUNK - 1) // CHUNK
    cdef double* part
    cdef double t = 0.0, tc = 0.0
    cdef double sc[2]
    cdef Job job
    if nchunks <= 1:
        return pair_pass(measure, p, ps, q, qs, n, mp, mq)
    part = <double*>malloc(nchunks * sizeof(double))
    if part == NULL:
        return pair_pass(measure, p, ps, q, qs, n, mp, mq)
    sc[0] = mp
    sc[1] = mq
    job_init(&job, measure, floating is double, p, 0, ps, q, 0, qs, 1, n)
    job.aux = sc
    job.out = part
    kl_pool_run(nthreads, nchunks, item_pair, &job)
    for c in range(nchunks):
        kahan_add(&t, &tc, part[c])
    free(part)
    return kahan_total(t, tc)


cdef double refine_xlog(const floating* p, Py_ssize_t ps,
                        const floating* w, Py_ssize_t ws, Py_ssize_t n,
                        double sp) noexcept nogil:
    # (1/sp) sum p_i log(S/w_i), S = sum w: the normalised entropy (w = p)
    # or cross-entropy (w = q) as a sum of non-negative terms, for rows where
    # the one-pass form log S - (1/sp) sum p log w is ill-conditioned.  The
    # largest w_i (the only one that can exceed S/2) contributes
    # p_i log1p(rest/w_i), rest = the compensated sum of the other entries,
    # so the rounding of S does not enter: a dominant entry keeps full
    # relative accuracy (H([1, 1e-6]) to ~1e-16, not ~1e-11).  Every w_i
    # with p_i > 0 is > 0 here (otherwise the result is +inf and this is
    # not called).
    cdef Py_ssize_t i, imax = 0
    cdef double a = -1.0, rest = 0.0, rc = 0.0, s2, t = 0.0, tc = 0.0, x
    for i in range(n):
        x = w[i * ws]
        if x > a:
            a = x
            imax = i
    for i in range(n):
        if i != imax:
            kahan_add(&rest, &rc, w[i * ws])
    rest = kahan_total(rest, rc)
    s2 = a + rest
    x = p[imax * ps]
    if x > 0.0:
        kahan_add(&t, &tc, x * log1p(rest / a))
    for i in range(n):
        if i != imax:
            x = p[i * ps]
            if x > 0.0:
                kahan_add(&t, &tc, x * log_ratio(s2, w[i * ws]))
    return kahan_total(t, tc) / sp


# ---- the near-p = q regime (issue 17) ----
# Normalising p and q separately (p/sp and q/sq, or p*mq and q*mp) rounds
# every element by ~eps, which swamps a relative difference delta between
# the normalised rows once delta is small: a divergence ~delta^2 then has a
# relative error ~eps/delta.  Normalised rows in this regime (detected from
# the one-pass value: kl_from_sums, near_bound) are finished from
#   * the row sums Sp, Sq as double-double values: Sum2 of Ogita, Rump and
#     Oishi (SIAM J. Sci. Comput. 26, 2005, Alg. 4.4), 8 lanes per CHUNK
#     piece, the pieces added in order (so independent of the threads);
#   * per element the difference x - y of x = p*B, y = q*A (A, B: Sp, Sq
#     scaled by one power of two, so x = K a, y = K b for the normalised
#     a, b) from error-free products (TwoProduct by FMA: Dekker 1971;
#     Higham, Accuracy and Stability of Numerical Algorithms, 2002,
#     sec. 4.3 and 27.7), which keeps full relative precision however small
#     it is,
# and every near-equal term is built from that exact difference (KL:
# b [(1 + delta) log1p(delta) - delta], delta = (x - y)/y, each term >= 0).

cdef inline void dd_add(double* h, double* l, double bh, double bl) noexcept nogil:
    # (h, l) += (bh, bl) in double-double arithmetic: TwoSum of the leading
    # parts, the trailing parts added to its error, renormalised
    cdef double s = h[0] + bh
    cdef double z = s - h[0]
    cdef double e = ((h[0] - (s - z)) + (bh - z)) + (l[0] + bl)
    h[0] = s + e
    l[0] = e - (h[0] - s)


cdef void dd_sums(const floating* p, Py_ssize_t ps, const floating* q, Py_ssize_t qs,
                  Py_ssize_t n, double* dd) noexcept nogil:
    # OUT: dd[0] + dd[1] = sum p and dd[2] + dd[3] = sum q as double-double
    # values (a piece of n <= CHUNK finite entries)
    cdef double s[16]
    cdef double c[16]
    cdef double bx[LBLOCK]
    cdef Py_ssize_t start, m, m8
    cdef int j
    for j in range(16):
        s[j] = 0.0
        c[j] = 0.0
    for start in range(0, n, 512):
        m = min(<Py_ssize_t>LBLOCK, n - start)
        if floating is double and ps == 1 and m % 8 == 0:
            kl_sum2_lanes(<const double*>(p + start), m, s, c)
        else:
            m8 = load_block(p + start * ps, ps, m, bx)
            kl_sum2_lanes(bx, m8, s, c)
        if floating is double and qs == 1 and m % 8 == 0:
            kl_sum2_lanes(<const double*>(q + start), m, s + 8, c + 8)
        else:
            m8 = load_block(q + start * qs, qs, m, bx)
            kl_sum2_lanes(bx, m8, s + 8, c + 8)
    for j in range(4):
        dd[j] = 0.0
    for j in range(8):
        dd_add(&dd[0], &dd[1], s[j], c[j])
        dd_add(&dd[2], &dd[3], s[8 + j], c[8 + j])


cdef void dd_sums_par(const floating* p, Py_ssize_t ps, const floating* q, Py_ssize_t qs,
                      Py_ssize_t n, double* dd, int nthreads) noexcept nogil:
    # dd_sums of a whole row: its CHUNK pieces' double-double sums added in
    # order (on nthreads threads; the same result for any number)
    cdef Py_ssize_t c, nchunks = (n + CHUNK - 1) // CHUNK
    cdef double* part = NULL
    cdef double tmp[4]
    cdef int k
    cdef Job job
    if nchunks <= 1:
        dd_sums(p, ps, q, qs, n, dd)
        return
    if nthreads > 1:
        part = <double*>malloc(nchunks * 4 * sizeof(double))
    if part != NULL:
        job_init(&job, 0, floating is double, p, 0, ps, q, 0, qs, 1, n)
        job.out = part
        kl_pool_run(nthreads, nchunks, item_dd, &job)
    for k in range(4):
        dd[k] = 0.0
    for c in range(nchunks):
        if part == NULL:
            dd_sums(p + c * CHUNK * ps, ps, q + c * CHUNK * qs, qs,
                    min(<Py_ssize_t>CHUNK, n - c * CHUNK), tmp)
        else:
            for k in range(4):
                tmp[k] = part[4 * c + k]
        dd_add(&dd[0], &dd[1], tmp[0], tmp[1])
        dd_add(&dd[2], &dd[3], tmp[2], tmp[3])
    free(part)


cdef inline double near_term(int measure, double p, double q, double ah, double al,
                             double bh, double bl) noexcept nogil:
    # The element term of `measure` (kl_div for KL, J for JS, |x - y| for
    # TV, the squared root difference for Hellinger, (x - y) log(x/y) for
    # Jeffreys) at x = p B, y = q A, A = ah + al, B = bh + bl, p, q finite
    # and >= 0.  dl = p B - q A from error-free products: x - y is exact
    # where x, y are within a factor 2 (Sterbenz), the products' rounding
    # errors (FMA) and the trailing parts add the rest, so dl has a relative
    # error of a few eps however close x and y are.  The near-equal branches
    # take their relative difference from dl; the others are the ordinary
    # scalar terms at the rounded x, y.
    cdef double x = p * bh
    cdef double y = q * ah
    cdef double dl = (x - y) + ((fma(p, bh, -x) - fma(q, ah, -y)) + (p * bl - q * al))
    cdef double w, r
    if measure == TV:
        return fabs(dl)
    if measure == HELLINGER:
        if p == 0.0:
            return y
        if q == 0.0:
            return x
        r = dl / (sqrt(x) + sqrt(y))
        return r * r
    if measure == KL:
        if p == 0.0:
            return y
        if q == 0.0:
            return INFINITY
        r = dl / y
        if fabs(r) <= 0.0625:
            return y * (r * r) * xlogy_ratio_series(r)
        if underflowed(p, q, x, y):  # rows whose sums are far apart
            return (x * scaled_log_ratio(p, q, ah, bh) - x) + y
        return kl_term(x, y)
    if measure == JEFFREYS and (p == 0.0) != (q == 0.0):
        return INFINITY  # before w: a nonzero entry's product may be 0
    w = x + y
    if w == 0.0:
        return 0.0
    r = dl / w
    if measure == JS:
        if fabs(r) <= 0.125:
            return (0.5 * w) * (r * r) * js_series(r * r)
        return js_term(x, y)
    if measure == JEFFREYS:
        if p == 0.0 or q == 0.0:
            return INFINITY
        if fabs(r) <= 0.125:
            return dl * (log1p(r) - log1p(-r))
        return jeffreys_term_scaled(p, q, ah, bh)
    return NAN


cdef double near_pass(int measure, const floating* p, Py_ssize_t ps,
                      const floating* q, Py_ssize_t qs, Py_ssize_t n, double ah,
                      double al, double bh, double bl) noexcept nogil:
    # compensated sum of near_term over a piece (blocks of BLOCK, Neumaier)
    cdef double t = 0.0, tc = 0.0, bt
    cdef Py_ssize_t i, start, stop
    for start in range(0, n, 64):
        stop = min(start + BLOCK, n)
        bt = 0.0
        for i in range(start, stop):
            bt += near_term(measure, p[i * ps], q[i * qs], ah, al, bh, bl)
        kahan_add(&t, &tc, bt)
    return kahan_total(t, tc)


cdef double near_value(int measure, const floating* p, Py_ssize_t ps,
                       const floating* q, Py_ssize_t qs, Py_ssize_t n,
                       const double* dd, double* k, int nthreads) noexcept nogil:
    # The sum of near_term over a row, given its double-double sums dd
    # (dd_sums_par), chunk by chunk in order (on nthreads threads; the same
    # result for any number).  OUT: k[0] = K = Sp B, the factor of x = K a.
    cdef Py_ssize_t c, nchunks = (n + CHUNK - 1) // CHUNK
    cdef double* part = NULL
    cdef double mp, mq, s, al, bl, t = 0.0, tc = 0.0
    cdef double sc[4]
    cdef Job job
    kl_pair_scales(dd[0], dd[2], &mp, &mq, k)
    s = mp / dd[0]  # the power of two of the pair scales: exact
    al = dd[1] * s
    bl = dd[3] * s
    if nchunks <= 1:
        return near_pass(measure, p, ps, q, qs, n, mp, al, mq, bl)
    if nthreads > 1:
        part = <double*>malloc(nchunks * sizeof(double))
    if part != NULL:
        sc[0] = mp
        sc[1] = al
        sc[2] = mq
        sc[3] = bl
        job_init(&job, measure, floating is double, p, 0, ps, q, 0, qs, 1, n)
        job.aux = sc
        job.out = part
        kl_pool_run(nthreads, nchunks, item_near, &job)
    for c in range(nchunks):
        if part == NULL:
            kahan_add(&t, &tc, near_pass(measure, p + c * CHUNK * ps, ps,
                                         q + c * CHUNK * qs, qs,
                                         min(<Py_ssize_t>CHUNK, n - c * CHUNK),
                                         mp, al, mq, bl))
        else:
            kahan_add(&t, &tc, part[c])
    free(part)
    return kahan_total(t, tc)


cdef inline double sum_err(Py_ssize_t n) noexcept nogil:
    # a bound on the relative error of a first-pass row sum of n >= 0 entries
    # (lanes or blocks of at most 64 additions, their fold, the Neumaier
    # total): (min(n, 64) + 5) eps/2
    return (min(n, <Py_ssize_t>64) + 5) * 1.1102230246251565e-16


# the near regime of the normalised KL: the error of the one-pass value,
# ~(|d| + e) 2e for sums of relative error e and d = (sq - sp)/sp, exceeds
# NEAR_TOL times the value (5.7e-14, 2**-44)
cdef double NEAR_TOL = 5.684341886080802e-14


cdef inline double near_bound(int measure) noexcept nogil:
    # The near regime of a normalised pair measure: its one-pass value
    # (pair_tail's: the Hellinger distance, the others as they are) below
    # this bound, its value at a relative difference delta = 1/16 between
    # the rows, where the rounding of the normalisation (~eps/delta
    # relative) could pass ~1e-14: TV 2**-4, JS 2**-11, Hellinger 2**-5.5,
    # Jeffreys 2**-8 (0 for other codes: never near)
    if measure == TV:
        return 0.0625
    if measure == JS:
        return 0.00048828125
    if measure == HELLINGER:
        return 0.02209708691207961
    if measure == JEFFREYS:
        return 0.00390625
    return 0.0


cdef void pair_exact(int measure, const floating* p, Py_ssize_t ps,
                     const floating* q, Py_ssize_t qs, Py_ssize_t n, double* res,
                     int nthreads) noexcept nogil:
    # OUT: res[0], a normalised pair measure of a validated row (no
    # negatives, sums in range) from the double-double sums and exact
    # differences; the callers take it where the one-pass value is below
    # near_bound(measure)
    cdef double dd[4]
    cdef double k, v
    dd_sums_par(p, ps, q, qs, n, dd, nthreads)
    v = near_value(measure, p, ps, q, qs, n, dd, &k, nthreads)
    pair_tail(measure, v, k, True, res)

# ---- finishing steps of entropy, cross-entropy and KL, given a row's sums
# (shared with kl_ext._compare, which includes this file).  Each returns
# ST_OK (res set, NaN included), an error status, or ST_NONFINITE (the
# caller's slow path). ----

cdef int entropy_from_sums(double s, double e, double ls, bint normalize,
                           double* res) noexcept nogil:
    # fin_entropy's arithmetic on the sums alone (also the finishing step of
    # the chunked statistics, which have no row to re-read).  Returns
    # ST_REFINE, res holding the one-pass value, where fin_entropy would
    # take its second pass.
    cdef double h
    cdef int st = check_sums(s, s, normalize, res)
    if st != ST_OK:
        return ST_OK if st < 0 else st
    if not normalize:
        res[0] = -e
        return ST_OK
    h = ls - e / s
    res[0] = 0.0 if h < 0.0 else h
    if h < LOW_ENTROPY or fabs(ls) > CANCEL * h:
        return ST_REFINE
    return ST_OK


cdef int fin_entropy(const floating* p, Py_ssize_t ps, Py_ssize_t n, double s,
                     double e, double ls, bint normalize, double* res) noexcept nogil:
    # ls = kl_vlog_sum(s) (computed by the caller, for many rows at once
    # where there are many)
    cdef double h
    cdef int st = entropy_from_sums(s, e, ls, normalize, res)
    if st != ST_REFINE:
        return st
    h = refine_xlog(p, ps, p, ps, n, s)
    res[0] = 0.0 if h < 0.0 else h
    return ST_OK


cdef int cross_from_sums(double sp, double sq, double l, double lq,
                         bint normalize, double* res) noexcept nogil:
    # fin_cross's arithmetic on the sums alone (ST_REFINE: as entropy_from_sums)
    cdef double h
    cdef int st = check_sums(sp, sq, normalize, res)
    if st != ST_OK:
        return ST_OK if st < 0 else st
    if not normalize:
        res[0] = -l
        return ST_OK
    h = lq - l / sp
    if isinf(h) or isnan(h):
        res[0] = h
        return ST_OK
    res[0] = 0.0 if h < 0.0 else h
    if h < LOW_ENTROPY or fabs(lq) > CANCEL * h:
        return ST_REFINE
    return ST_OK


cdef int fin_cross(const floating* p, Py_ssize_t ps, const floating* q, Py_ssize_t qs,
                   Py_ssize_t n, double sp, double sq, double l, double lq,
                   bint normalize, double* res) noexcept nogil:
    # lq = kl_vlog_sum(sq), from the caller
    cdef double h
    cdef int st = cross_from_sums(sp, sq, l, lq, normalize, res)
    if st != ST_REFINE:
        return st
    h = refine_xlog(p, ps, q, qs, n, sp)
    res[0] = 0.0 if h < 0.0 else h
    return ST_OK


cdef int kl_from_sums(double sp, double sq, double t, double g, bint normalize,
                      double* res, double es) noexcept nogil:
    # fin_kl's identities on the sums alone (ST_REFINE, res holding the
    # one-pass value, where fin_kl takes an exact second pass); es bounds
    # the relative error of sp and sq (sum_err)
    cdef double x
    cdef int st = check_sums(sp, sq, normalize, res)
    if st != ST_OK:
        return ST_OK if st < 0 else st
    if not normalize:
        x = t + (sp - sq)
        res[0] = x
        # T + sp - sq cancels (e.g. sum q >> |D|), with an error of
        # ~eps (T + sp + sq), over 256 eps |D| (the threshold keeps
        # ordinary rows, which cancel by ~10, at one pass and within 1e-13)
        if not isinf(t) and t + (sp + sq) > 256.0 * fabs(x):
            return ST_REFINE
        return ST_OK
    if isinf(t):
        res[0] = INFINITY
        return ST_OK
    x = t / sp + g
    res[0] = 0.0 if x < 0.0 else x
    # cancellation, or the near regime: g's error from the rounded sums,
    # ~(|d| + es) 2 es with d = (sq - sp)/sp, above NEAR_TOL x
    if fabs(g) > CANCEL * x or (fabs(sq - sp) + es * sp) * es > 0.5 * NEAR_TOL * x * sp:
        return ST_REFINE
    return ST_OK


cdef int fin_kl(const floating* p, Py_ssize_t ps, const floating* q, Py_ssize_t qs,
                Py_ssize_t n, double sp, double sq, double t, double g,
                bint normalize, double* res, int nthreads) noexcept nogil:
    # D(p||q) from T = sum kl_div(p, q): row_kl's identities and its exact
    # second passes for the rows where they cancel.  g is
    # kl_vlog1pmx_ratio(sp, sq) = log(sq/sp) - (sq - sp)/sp, from the caller.
    cdef double tc, bt, x, d, a, k
    cdef double dd[4]
    cdef Py_ssize_t i, start, stop
    cdef int st = kl_from_sums(sp, sq, t, g, normalize, res, sum_err(n))
    if st != ST_REFINE:
        return st
    if not normalize:
        # sum the rel_entr terms p log(p/q) directly (error ~eps sum |terms|)
        # and keep whichever form is better conditioned.  q > 0 wherever
        # p > 0 here, since T is finite.
        d = 0.0
        tc = 0.0
        a = 0.0
        for start in range(0, n, 64):
            stop = min(start + BLOCK, n)
            bt = 0.0
            for i in range(start, stop):
                g = p[i * ps]
                if g > 0.0:
                    g = g * log_ratio(g, q[i * qs])
                    bt += g
                    a += fabs(g)
            kahan_add(&d, &tc, bt)
        if a < t + (sp + sq):
            res[0] = kahan_total(d, tc)
        return ST_OK
    # the near regime (see near_term): the sums as double-double values
    # give g to full relative accuracy (d from them is exact to rounding);
    # where T/sp + g still cancels, the exact second pass sums the terms
    # b [(1 + delta) log1p(delta) - delta] >= 0 from exact differences
    dd_sums_par(p, ps, q, qs, n, dd, nthreads)
    d = ((dd[2] - dd[0]) + (dd[3] - dd[1])) / dd[0]
    g = log1pmx(d)
    x = t / dd[0] + g
    if not (fabs(g) > CANCEL * x):
        res[0] = 0.0 if x < 0.0 else x
        return ST_OK
    x = near_value(KL, p, ps, q, qs, n, dd, &k, nthreads) / k
    res[0] = 0.0 if x < 0.0 else x
    return ST_OK


cdef int row_entropy(const floating* p, Py_ssize_t ps, Py_ssize_t n,
                     bint normalize, double* res, int nthreads) noexcept nogil:
    # H(p) = -sum p log p;  normalised: H(p/s) = log s - (1/s) sum p log p.
    cdef double sums[3]
    cdef int st
    if KL_EXT_VECTOR and n <= 16:
        first_short(ENTROPY, p, ps, p, ps, n, sums, &st)
    else:
        st = first_pass_par(ENTROPY, p, ps, p, ps, n, sums, nthreads)
    if st != ST_OK:
        return st
    return fin_entropy(p, ps, n, sums[0], sums[2], kl_vlog_sum(sums[0]), normalize, res)


cdef int row_cross_entropy(const floating* p, Py_ssize_t ps,
                           const floating* q, Py_ssize_t qs, Py_ssize_t n,
                           bint normalize, double* res, int nthreads) noexcept nogil:
    # H(p, q) = -sum p log q; 0 log q = 0; p > 0 with q = 0 gives +inf.
    # Normalised: H(p/sp, q/sq) = log sq - (1/sp) sum p log q.
    cdef double sums[3]
    cdef int st
    if KL_EXT_VECTOR and n <= 16:
        first_short(CROSS_ENTROPY, p, ps, q, qs, n, sums, &st)
    else:
        st = first_pass_par(CROSS_ENTROPY, p, ps, q, qs, n, sums, nthreads)
    if st != ST_OK:
        return st
    return fin_cross(p, ps, q, qs, n, sums[0], sums[1], sums[2], kl_vlog_sum(sums[1]),
                     normalize, res)


cdef int row_kl(const floating* p, Py_ssize_t ps,
                const floating* q, Py_ssize_t qs, Py_ssize_t n,
                bint normalize, double* res, int nthreads) noexcept nogil:
    # T = sum kl_div(p, q) = sum [p log(p/q) - p + q], every term >= 0.
    # Unnormalised: D = T + sp - sq.
    # Normalised:   D(p/sp || q/sq) = T/sp + log1p(d) - d,  d = (sq - sp)/sp.
    cdef double sums[3]
    cdef int st
    if KL_EXT_VECTOR and n <= 16:
        first_short(KL, p, ps, q, qs, n, sums, &st)
    else:
        st = first_pass_par(KL, p, ps, q, qs, n, sums, nthreads)
    if st != ST_OK:
        return st
    return fin_kl(p, ps, q, qs, n, sums[0], sums[1], sums[2],
                  kl_vlog1pmx_ratio(sums[0], sums[1]), normalize, res, nthreads)


cdef inline void pair_scales(double sp, double sq, double* mp, double* mq,
                             double* k) noexcept nogil:
    # p/sp and q/sq are evaluated as x = p*mq and y = q*mp, both equal to
    # K*(p/sp) and K*(q/sq) with K = sp*mq.  mp, mq are sp, sq scaled by the
    # same power of two (exact), so nothing overflows and no division by the
    # sums rounds each element separately.
    kl_pair_scales(sp, sq, mp, mq, k)


cdef inline void pair_tail(int measure, double v, double k, bint normalize,
                           double* res) noexcept nogil:
    # the last step of the pair measures: v = the sum of the pair terms over
    # x = K a, y = K b (a, b the normalised rows), k = K (row_pair, tile_rows,
    # the chunked pair_finish).  JS, TV: sum/(2K); Hellinger: the square
    # root of sum/(2K); Jeffreys: sum/K (its terms are homogeneous of
    # degree 1 and have no factor 1/2).  Clamped to the bounds of the
    # table when normalised (rounding can leave them by an ulp).
    if measure == JEFFREYS:
        v = v / k
    else:
        v = v / (2.0 * k)
    if normalize:
        if measure == JS and v > LN2:
            v = LN2
        elif (measure == TV or measure == HELLINGER) and v > 1.0:
            v = 1.0
    if not is_pair(measure):
        v = NAN  # never reached: row_dispatch and tile_rows check the code
    v = 0.0 if v < 0.0 else v
    res[0] = sqrt(v) if measure == HELLINGER else v


cdef inline kl_always_void lanes_pair_inline(int measure, const double* x, const double* y,
                                             Py_ssize_t m, double mp, double mq,
                                             double* at, bint clean) noexcept nogil:
    # lanes_pair for pair_short's constant measure, always inlined
    # (_inline.h): the same terms in the same order; a JS or Jeffreys block
    # outside the domain is redone by lanes_pair (out of line)
    cdef Py_ssize_t i
    cdef int j
    cdef bint bad
    cdef double st[8]
    if measure == TV or measure == HELLINGER:  # no domain test
        for j in range(8):
            st[j] = at[j]
        for i in range(0, m, 8):
            for j in range(8):
                st[j] += (fabs(x[i + j] * mq - y[i + j] * mp) if measure == TV
                          else kl_vterm_hellinger(x[i + j] * mq, y[i + j] * mp))
        for j in range(8):
            at[j] = st[j]
        return
    if measure != JS and measure != JEFFREYS:
        return  # not a pair measure: never reached
    for j in range(8):
        st[j] = at[j]
    if clean:
        if measure == JS:
            kl_fused_js_clean(x, y, m, mp, mq, st)
        else:
            kl_fused_jeffreys_clean(x, y, m, mp, mq, st)
        bad = False
    elif measure == JS:
        bad = kl_fused_js(x, y, m, mp, mq, st)
    else:
        bad = kl_fused_jeffreys(x, y, m, mp, mq, st)
    if bad:
        lanes_pair(measure, x, y, m, mp, mq, at, False)
        return
    for j in range(8):
        at[j] = st[j]


cdef inline kl_always_void pair_short(int measure, const floating* p, Py_ssize_t ps,
                                      const floating* q, Py_ssize_t qs, Py_ssize_t n,
                                      bint normalize, double* res,
                                      int* status) noexcept nogil:
    # row_pair of a short row (n <= 16, vector builds: the small calls'
    # usual case) with one zero-padded float64 copy of p and q shared by
    # both passes: first_pass's and pair_pass's short branches (each of
    # which makes this same copy) and row_pair's steps in between, inline,
    # so the same sums, terms and value bit for bit; status[0] = row_pair's
    # status.  Always inlined (_inline.h) into row_pair's branch for each
    # pair measure, so that the measure is a constant and the passes (the
    # lane sums and test of `lanes`, the term loop of `lanes_pair`) run
    # inline, not as generic functions out of line; a clean row (see
    # row_pair) skips the second pass's domain test, as long rows do
    cdef double bx[16]
    cdef double by[16]
    cdef double ap[8]
    cdef double aq[8]
    cdef double at[8]
    cdef double mp = 1.0, mq = 1.0, k = 1.0, sp, sq
    cdef int neg[2]
    cdef int j, st
    cdef int flags
    cdef bint clean
    cdef Py_ssize_t i, m = 8 if n <= 8 else 16
    neg[0] = 0
    neg[1] = 0
    for j in range(8):
        ap[j] = 0.0
        aq[j] = 0.0
        at[j] = 0.0
    if floating is double and ps == 1 and qs == 1:
        kl_pad16(p, n, bx)
        kl_pad16(q, n, by)
    else:
        for i in range(16):
            bx[i] = p[i * ps] if i < n else 0.0
            by[i] = q[i * qs] if i < n else 0.0
    # `lanes` of a pair measure: the sums and the domain test; a block
    # outside the domain is searched for negative entries group by group
    flags = kl_lane_sums_bad(bx, by, m, ap, aq)
    if flags & 1:
        lanes_groups(measure, bx, by, m, at, neg)
    if neg[0]:
        status[0] = ST_NEG_P
        return
    if neg[1]:
        status[0] = ST_NEG_Q
        return
    sp = lanes_total(ap)
    sq = lanes_total(aq)
    st = check_sums(sp, sq, normalize, res)
    if st != ST_OK:
        status[0] = 0 if st < 0 else st
        return
    if normalize:
        pair_scales(sp, sq, &mp, &mq, &k)
    # a clean row, as row_pair tests it (`lanes` counts the blocks with
    # flags != 0 in sums[2])
    clean = (KL_PAIR_CLEAN and flags == 0 and mp >= 5.421010862427522e-20
             and mq >= 5.421010862427522e-20)
    for j in range(8):
        at[j] = 0.0
    if 8 < n <= 12 and (measure == JS or measure == JEFFREYS or measure == HELLINGER):
        lanes_pair_short(measure, bx, by, n - 8, mp, mq, at, clean)
    else:
        lanes_pair_inline(measure, bx, by, m, mp, mq, at, clean)
    pair_tail(measure, lanes_total(at), k, normalize, res)
    if normalize and res[0] < near_bound(measure):
        pair_exact(measure, p, ps, q, qs, n, res, 1)
    status[0] = ST_OK


cdef int row_pair(int measure, const floating* p, Py_ssize_t ps,
                  const floating* q, Py_ssize_t qs, Py_ssize_t n,
                  bint normalize, double* res, int nthreads) noexcept nogil:
    # Two-pass measures, with a = p/sp, b = q/sq (or p, q unnormalised):
    #   JS = 1/2 sum J(a, b), J(a, b) = a log(2a/(a+b)) + b log(2b/(a+b)) >= 0
    #   TV = 1/2 sum |a - b|
    #   Hellinger = sqrt(1/2 sum (sqrt a - sqrt b)^2)
    #   Jeffreys = sum (a - b) log(a/b) = D(a||b) + D(b||a)
    cdef double sums[3]
    cdef double mp = 1.0, mq = 1.0, k = 1.0, v
    cdef int st
    cdef bint clean
    if KL_EXT_VECTOR and n <= 16:
        # pair_short inline with a constant measure for each
        if measure == JS:
            pair_short(JS, p, ps, q, qs, n, normalize, res, &st)
        elif measure == JEFFREYS:
            pair_short(JEFFREYS, p, ps, q, qs, n, normalize, res, &st)
        elif measure == HELLINGER:
            pair_short(HELLINGER, p, ps, q, qs, n, normalize, res, &st)
        elif measure == TV:
            pair_short(TV, p, ps, q, qs, n, normalize, res, &st)
        else:  # not a pair measure: row_dispatch never sends one here
            res[0] = NAN
            st = ST_BAD_MEASURE
        return st
    st = first_pass_par(measure, p, ps, q, qs, n, sums, nthreads)
    if st != ST_OK:
        return st
    st = check_sums(sums[0], sums[1], normalize, res)
    if st != ST_OK:
        return 0 if st < 0 else st
    if normalize:
        pair_scales(sums[0], sums[1], &mp, &mq, &k)
    # a clean row (v4): no first-pass block found an entry outside 0 or
    # [2^-436, 2^500] (sums[2] counts those blocks, see `lanes`) and the
    # scales are >= 2^-64, so every product lies in the vector domain and
    # the second pass skips its test (_vmath.h, KL_PAIR_CLEAN)
    clean = (KL_PAIR_CLEAN and sums[2] == 0.0 and mp >= 5.421010862427522e-20
             and mq >= 5.421010862427522e-20)
    pair_tail(measure, pair_pass_par(measure | (CLEAN if clean else 0), p, ps, q, qs, n,
                                     mp, mq, nthreads), k, normalize, res)
    if normalize and res[0] < near_bound(measure):
        pair_exact(measure, p, ps, q, qs, n, res, nthreads)
    return ST_OK


cdef int row_dispatch(int measure, const floating* p, Py_ssize_t ps,
                      const floating* q, Py_ssize_t qs, Py_ssize_t n,
                      bint normalize, double* res, int nthreads) noexcept nogil:
    if measure == ENTROPY:
        return row_entropy(p, ps, n, normalize, res, nthreads)
    if measure == CROSS_ENTROPY:
        return row_cross_entropy(p, ps, q, qs, n, normalize, res, nthreads)
    if measure == KL:
        return row_kl(p, ps, q, qs, n, normalize, res, nthreads)
    if is_pair(measure):
        return row_pair(measure, p, ps, q, qs, n, normalize, res, nthreads)
    res[0] = NAN
    return ST_BAD_MEASURE


# ---- short rows: many rows per vector block ----
# A row of 10 elements run through first_pass alone spends most of its time
# outside the vector loops (a padded tail group, the lane folds, the calls).
# Rows of up to SHORT_MAX elements are therefore processed a tile at a time:
# floor(LBLOCK / n) rows copied into one float64 block, the element terms of
# the whole block computed by one vector loop, then summed row by row
# (kl_seg_total, _vmath.h) in exactly the order of `lanes` and `lanes_total`, so every
# row's value is bit for bit the one first_pass/pair_pass give it alone.  A
# tile with any entry outside the vector domain (negative, NaN, inf,
# subnormal, huge) is handed back to the row-by-row path.

cdef enum:
    SHORT_MAX = 64


cdef inline void load_tile(const floating* p, Py_ssize_t prs, Py_ssize_t ps,
                           Py_ssize_t nr, Py_ssize_t n, double* buf) noexcept nogil:
    # buf[r*n + i] = p[r*prs + i*ps] as doubles, zeros from nr*n up to the
    # next multiple of 8 and 8 beyond (kl_seg_total's slack)
    cdef Py_ssize_t r, i, m = nr * n
    if floating is double and ps == 1 and prs == n:
        memcpy(buf, p, m * sizeof(double))
    elif ps == 1:
        for r in range(nr):
            for i in range(n):
                buf[r * n + i] = p[r * prs + i]
    else:
        for r in range(nr):
            for i in range(n):
                buf[r * n + i] = p[r * prs + i * ps]
    for i in range(m, ((m + 7) & ~(<Py_ssize_t>7)) + 8):
        buf[i] = 0.0


cdef bint tile_rows(int measure, const floating* p, Py_ssize_t prs, Py_ssize_t ps,
                    const floating* q, Py_ssize_t qrs, Py_ssize_t qs,
                    Py_ssize_t nr, Py_ssize_t n, bint normalize, double* out,
                    cnp.npy_int8* status, Py_ssize_t* flagged,
                    const double* qtile, bint slack) noexcept nogil:
    # IN: nr rows of n elements (nr * n <= LBLOCK) at p, q; qtile: q's tile
    # already loaded (a broadcast reference row, the same for every tile),
    # or NULL; slack: at least 16 more elements of p and q follow the tile
    # in memory, so contiguous float64 tiles of the one-pass measures are
    # read in place (the vector loops read up to 15 elements past the last
    # row; those values are never summed into any row).  OUT: out[:nr], status[:nr], flagged += the number of non-zero
    # statuses; returns False (nothing written) if the tile must go row by
    # row.
    cdef double bx[LBLOCK + 16]
    cdef double by[LBLOCK + 16]
    cdef double tb[LBLOCK + 16]
    cdef double mp[LBLOCK]
    cdef double mq[LBLOCK]
    cdef double kk[LBLOCK]
    cdef double res[LBLOCK]
    cdef bint ok[LBLOCK]
    cdef double sq_[LBLOCK]
    cdef double x, a, b
    cdef Py_ssize_t r, i, j, m = nr * n, m8 = (nr * n + 7) & ~(<Py_ssize_t>7)
    cdef const double* y
    cdef const double* xp = bx
    cdef int st
    cdef bint in_place = slack and is_one_pass(measure)
    cdef int zuf
    if not (is_one_pass(measure) or is_pair(measure)):
        return False  # row by row: row_dispatch reports the unknown code
    if floating is double and in_place and ps == 1 and prs == n:
        xp = <const double*>p
    else:
        load_tile(p, prs, ps, nr, n, bx)
    if measure == ENTROPY:
        y = xp
    elif qtile != NULL:
        y = qtile
    elif floating is double and in_place and qs == 1 and qrs == n:
        y = <const double*>q
    else:
        load_tile(q, qrs, qs, nr, n, by)
        y = by
    if kl_vbad_block(xp, y, m8):
        return False
    if measure == KL:
        for i in range(0, m8, 8):
            kl_vset_kl8(xp + i, y + i, tb + i)
    elif measure == CROSS_ENTROPY:
        for i in range(0, m8, 8):
            for j in range(8):
                tb[i + j] = kl_vterm_xlogy(xp[i + j], y[i + j])
    elif measure == ENTROPY:
        for i in range(0, m8, 8):
            for j in range(8):
                tb[i + j] = kl_vterm_xlogx(xp[i + j])
    if is_one_pass(measure):
        # per-row sums (mp: p, mq: q, kk: terms), then the rows' logarithms
        # in one vector loop, then each row's finishing step
        if qtile != NULL:
            # a broadcast q: every row of its tile has the same sum
            x = kl_seg_total(qtile, n)
            for r in range(nr):
                mq[r] = x
        for r in range(nr):
            mp[r] = kl_seg_total(xp + r * n, n)
            if measure == ENTROPY:
                mq[r] = mp[r]
            elif qtile == NULL:
                mq[r] = kl_seg_total(y + r * n, n)
            kk[r] = kl_seg_total(tb + r * n, n)
        if measure == KL:
            for r in range(nr):
                tb[r] = kl_vlog1pmx_ratio(mp[r], mq[r])
        else:
            for r in range(nr):
                tb[r] = kl_vlog_sum(mq[r])
        if normalize:
            # the common case of each fin_* in one vector loop over the rows
            # (the same arithmetic, so the same values): sums inside
            # [SUM_MIN, SUM_MAX], a finite term sum, and no cancellation;
            # ok[r] = 0 sends row r through its fin_* below
            # (one loop per measure: a branch inside would keep it scalar)
            if measure == KL:
                a = sum_err(n)
                for r in range(nr):
                    x = kk[r] / mp[r] + tb[r]
                    ok[r] = not ((fabs(tb[r]) > CANCEL * x)
                                 | ((fabs(mq[r] - mp[r]) + a * mp[r]) * a
                                    > 0.5 * NEAR_TOL * x * mp[r])
                                 | (kk[r] > DBL_MAX)
                                 | (mp[r] < SUM_MIN) | (mp[r] > SUM_MAX)
                                 | (mq[r] < SUM_MIN) | (mq[r] > SUM_MAX))
                    res[r] = 0.0 if x < 0.0 else x
            else:
                for r in range(nr):
                    x = tb[r] - kk[r] / mp[r]
                    ok[r] = not ((x < LOW_ENTROPY) | (fabs(tb[r]) > CANCEL * x)
                                 | (kk[r] > DBL_MAX) | (kk[r] < -DBL_MAX)
                                 | (mp[r] < SUM_MIN) | (mp[r] > SUM_MAX)
                                 | (mq[r] < SUM_MIN) | (mq[r] > SUM_MAX))
                    res[r] = 0.0 if x < 0.0 else x
            for r in range(nr):
                if ok[r]:
                    out[r] = res[r]
                    status[r] = 0
        for r in range(nr):
            if normalize and ok[r]:
                continue
            if measure == KL:
                st = fin_kl(p + r * prs, ps, q + r * qrs, qs, n, mp[r], mq[r], kk[r],
                            tb[r], normalize, out + r, 1)
            elif measure == CROSS_ENTROPY:
                st = fin_cross(p + r * prs, ps, q + r * qrs, qs, n, mp[r], mq[r], kk[r],
                               tb[r], normalize, out + r)
            else:  # ENTROPY, the last one-pass measure
                st = fin_entropy(p + r * prs, ps, n, mp[r], kk[r], tb[r], normalize,
                                 out + r)
            status[r] = <cnp.npy_int8>st
            flagged[0] += st != 0
        return True
    # the pair measures (JS, TV, ...): per-row sums and pair scales (one vector
    # loop over the rows), then the pair terms of the scaled tile; rows
    # whose sums end them early (check_sums) get zero scales, so zero terms
    x = kl_seg_total(qtile, n) if qtile != NULL else 0.0
    for r in range(nr):
        res[r] = kl_seg_total(bx + r * n, n)
        kk[r] = x if qtile != NULL else kl_seg_total(y + r * n, n)
    for r in range(nr):
        a = res[r]
        b = kk[r]
        sq_[r] = b
        if normalize:
            ok[r] = (a >= SUM_MIN) & (a <= SUM_MAX) & (b >= SUM_MIN) & (b <= SUM_MAX)
            kl_pair_scales(a, b, &mp[r], &mq[r], &kk[r])
        else:
            ok[r] = True
            mp[r] = 1.0
            mq[r] = 1.0
            kk[r] = 1.0
    for r in range(nr):
        status[r] = 0
        if not ok[r]:
            st = check_sums(res[r], sq_[r], normalize, out + r)
            status[r] = <cnp.npy_int8>(0 if st < 0 else st)
            mp[r] = 0.0
            mq[r] = 0.0
    zuf = 0
    for r in range(nr):
        for i in range(r * n, r * n + n):
            tb[i] = y[i] * mp[r]
            if measure == JEFFREYS and ok[r]:  # see kl_vzero_uf
                zuf |= kl_vzero_uf(y[i], tb[i]) | kl_vzero_uf(bx[i], bx[i] * mq[r])
            bx[i] = bx[i] * mq[r]
    if zuf:
        return False  # row by row: Jeffreys's scalar terms take such products
    for i in range(m, m8 + 8):
        tb[i] = 0.0
    if measure == TV:
        for i in range(0, m8, 8):
            for j in range(8):
                tb[i + j] = fabs(bx[i + j] - tb[i + j])
    else:
        # JS, Jeffreys and Hellinger: a tile with an entry outside the vector
        # domain (NaN, inf, ... of an unnormalised row) goes row by row
        if kl_vbad_block(bx, tb, m8):
            return False
        if measure == JS:
            for i in range(0, m8, 8):
                kl_vset_js8(bx + i, tb + i, tb + i)
        elif measure == JEFFREYS:
            for i in range(0, m8, 8):
                kl_vset_jeffreys8(bx + i, tb + i, tb + i)
        elif measure == HELLINGER:
            for i in range(0, m8, 8):
                for j in range(8):
                    tb[i + j] = kl_vterm_hellinger(bx[i + j], tb[i + j])
    # rows in the near regime (as row_pair): counted in the same loop, so
    # that a tile without any costs one comparison per row
    a = near_bound(measure) if normalize else 0.0
    b = 0.0
    for r in range(nr):
        if ok[r]:
            pair_tail(measure, kl_seg_total(tb + r * n, n), kk[r], normalize, out + r)
            b += out[r] < a
        flagged[0] += status[r] != 0
    if b != 0.0:
        for r in range(nr):
            if ok[r] and out[r] < a:
                pair_exact(measure, p + r * prs, ps, q + r * qrs, qs, n, out + r, 1)
    return True


cdef Py_ssize_t tile_or_rows(int measure, const floating* p, Py_ssize_t prs,
                             Py_ssize_t ps, const floating* q, Py_ssize_t qrs,
                             Py_ssize_t qs, Py_ssize_t r0, Py_ssize_t nr, Py_ssize_t n,
                             bint normalize, double* out, cnp.npy_int8* status,
                             const double* qtile, Py_ssize_t nrows) noexcept nogil:
    # rows r0 .. r0 + nr - 1 as one tile, or row by row if the tile declines;
    # returns the number of flagged rows
    cdef Py_ssize_t r, flagged = 0
    cdef int st
    if tile_rows(measure, p + r0 * prs, prs, ps, q + r0 * qrs, qrs, qs, nr, n,
                 normalize, out + r0, status + r0, &flagged, qtile,
                 (nrows - r0 - nr) * n >= 16):
        return flagged
    for r in range(r0, r0 + nr):
        st = row_dispatch(measure, p + r * prs, ps, q + r * qrs, qs, n,
                          normalize, out + r, 1)
        status[r] = <cnp.npy_int8>st
        flagged += st != 0
    return flagged


cdef void item_tiles(void* ctx, Py_ssize_t k) noexcept nogil:
    # tiles k * per .. of nr rows each (tile_or_rows): out[r], status[r]
    cdef Job* j = <Job*>ctx
    cdef Py_ssize_t tile
    for tile in range(k * j.per, min((k + 1) * j.per, j.ntiles)):
        if j.f64:
            tile_or_rows(j.measure, <const double*>j.p, j.prs, j.ps, <const double*>j.q,
                         j.qrs, j.qs, tile * j.nr, min(j.nr, j.nrows - tile * j.nr), j.n,
                         j.normalize, j.out, j.status, j.qtile, j.nrows)
        else:
            tile_or_rows(j.measure, <const float*>j.p, j.prs, j.ps, <const float*>j.q,
                         j.qrs, j.qs, tile * j.nr, min(j.nr, j.nrows - tile * j.nr), j.n,
                         j.normalize, j.out, j.status, j.qtile, j.nrows)


cdef void item_rows(void* ctx, Py_ssize_t k) noexcept nogil:
    # rows k * per .. (row_dispatch, one thread each): out[r], status[r]
    cdef Job* j = <Job*>ctx
    cdef Py_ssize_t r
    cdef int st
    for r in range(k * j.per, min((k + 1) * j.per, j.nrows)):
        if j.f64:
            st = row_dispatch(j.measure, <const double*>j.p + r * j.prs, j.ps,
                              <const double*>j.q + r * j.qrs, j.qs, j.n, j.normalize,
                              j.out + r, 1)
        else:
            st = row_dispatch(j.measure, <const float*>j.p + r * j.prs, j.ps,
                              <const float*>j.q + r * j.qrs, j.qs, j.n, j.normalize,
                              j.out + r, 1)
        j.status[r] = <cnp.npy_int8>st


cdef inline Py_ssize_t count_flagged(const cnp.npy_int8* status, Py_ssize_t nrows) noexcept nogil:
    cdef Py_ssize_t r, flagged = 0
    for r in range(nrows):
        flagged += status[r] != 0
    return flagged


cdef Py_ssize_t rows_typed(int measure, const floating* p, Py_ssize_t prs,
                           Py_ssize_t ps, const floating* q, Py_ssize_t qrs,
                           Py_ssize_t qs, Py_ssize_t nrows, Py_ssize_t n,
                           bint normalize, double* out,
                           cnp.npy_int8* status, int nthreads) noexcept nogil:
    # IN: nrows rows of n elements, row/element strides in elements.
    # OUT: out[r] (nats), status[r]; returns the number of flagged rows.
    # Many rows are split over the threads (dynamic schedule, see `grab`); a
    # few long rows are each split into chunks instead.
    cdef Py_ssize_t r, flagged = 0, tile, ntiles, nr, r0
    cdef int st
    cdef double qbuf[LBLOCK + 16]
    cdef const double* qtile = NULL
    cdef Job job
    if KL_EXT_VECTOR and n <= SHORT_MAX and nrows > 1:
        nr = LBLOCK // n
        ntiles = (nrows + nr - 1) // nr
        if qrs == 0 and measure != ENTROPY:
            # a broadcast reference row: its tile is the same for every tile
            load_tile(q, 0, qs, nr, n, qbuf)
            qtile = qbuf
        if nthreads > 1 and ntiles >= 2 * nthreads:
            job_init(&job, measure, floating is double, p, prs, ps, q, qrs, qs, nrows, n)
            job.normalize = normalize
            job.out = out
            job.status = status
            job.qtile = qtile
            job.nr = nr
            job.ntiles = ntiles
            job.per = grab(nr * n)
            kl_pool_run(nthreads, (ntiles + job.per - 1) // job.per, item_tiles, &job)
            return count_flagged(status, nrows)
        else:
            for tile in range(ntiles):
                flagged += tile_or_rows(measure, p, prs, ps, q, qrs, qs, tile * nr,
                                        min(nr, nrows - tile * nr), n, normalize,
                                        out, status, qtile, nrows)
        return flagged
    if nthreads > 1 and nrows >= 2 * nthreads:
        job_init(&job, measure, floating is double, p, prs, ps, q, qrs, qs, nrows, n)
        job.normalize = normalize
        job.out = out
        job.status = status
        job.per = grab(n)
        kl_pool_run(nthreads, (nrows + job.per - 1) // job.per, item_rows, &job)
        return count_flagged(status, nrows)
    for r in range(nrows):
        st = row_dispatch(measure, p + r * prs, ps, q + r * qrs, qs, n,
                          normalize, out + r, nthreads)
        status[r] = <cnp.npy_int8>st
        flagged += st != 0
    return flagged


# Threads: a call with at least PAR_MIN elements runs on kl_max_threads()
# threads (OpenMP: OMP_NUM_THREADS, or threadpoolctl's limit), unless another
# kl_ext call is already running multi-threaded (from another Python thread):
# then it runs on one, so concurrent callers never oversubscribe the cores.
# _active is only read and written with the GIL held.
cdef Py_ssize_t PAR_MIN = 131072
cdef Py_ssize_t GRAB = 8192
cdef int _active = 0


cdef int acquire_threads(Py_ssize_t work):
    global _active
    cdef int nt
    if work < PAR_MIN or _active:
        return 1
    nt = kl_max_threads()
    if nt > 1:
        _active = 1
    return nt


cdef void release_threads(int nt):
    global _active
    if nt > 1:
        _active = 0


cdef inline Py_ssize_t grab(Py_ssize_t per_item) noexcept nogil:
    # Parallel loops hand out their items dynamically, `grab(size of one
    # item)` items at a time (>= GRAB elements, ~10 us of work): a thread the
    # OS deschedules holds back at most one grab, never a static share of
    # the call (on a busy machine that share waited a whole time slice).
    # Which thread computes an item never changes its value (each item's
    # result has its own slot, summed in item order), so results stay
    # independent of the thread count and of the schedule.
    return 1 + GRAB // per_item if per_item > 0 else GRAB


cdef int call_threads(Py_ssize_t work, int nthreads):
    # the threads of one call: nthreads <= 0 is the default (acquire_threads),
    # 1 runs on the calling thread only (kl_ext.dask's tasks), n > 1 at most n
    cdef int nt
    if nthreads == 1:
        return 1
    nt = acquire_threads(work)
    if nthreads > 1 and nt > nthreads:
        nt = nthreads
    return nt


def openmp_enabled():
    """True if this build of the kernels runs on several threads (OpenMP)."""
    return bool(kl_openmp_enabled())


def max_threads():
    """Threads a large call would use now (1 without OpenMP)."""
    return kl_max_threads()


def pool_workers():
    """Worker threads this module's pool has started (0 in a forked child
    until its first threaded call; see src/_pool.h)."""
    return kl_pool_workers()


def set_thread_cap(int n):
    """Never run more than `n` threads (0: no cap); see kl_ext._threads.cpu_budget."""
    kl_set_thread_cap(n)


cdef inline bint layout_ok(cnp.ndarray a, int ndim):
    # the kernels index in elements: data must be aligned and every stride a
    # multiple of the item size; dtype must be float32 or float64
    cdef Py_ssize_t isz = cnp.PyArray_ITEMSIZE(a)
    cdef int d, t = cnp.PyArray_TYPE(a)
    if cnp.PyArray_NDIM(a) != ndim or not cnp.PyArray_ISALIGNED(a):
        return False
    if t != cnp.NPY_DOUBLE and t != cnp.NPY_FLOAT:
        return False
    for d in range(ndim):
        if cnp.PyArray_STRIDE(a, d) % isz != 0:
            return False
    return True


cdef inline bint rows_layout(cnp.ndarray p, cnp.ndarray q, Py_ssize_t* nrows,
                             Py_ssize_t* n, Py_ssize_t* prs, Py_ssize_t* ps,
                             Py_ssize_t* qrs, Py_ssize_t* qs):
    # OUT: the shape of 2-D views p, q (nrows, n) and their row and element
    # strides in elements; False (nothing set) if the kernels cannot read
    # them (layout_ok)
    cdef Py_ssize_t isz = cnp.PyArray_ITEMSIZE(p)
    if not (layout_ok(p, 2) and layout_ok(q, 2)):
        return False
    nrows[0] = cnp.PyArray_DIM(p, 0)
    n[0] = cnp.PyArray_DIM(p, 1)
    prs[0] = cnp.PyArray_STRIDE(p, 0) // isz
    ps[0] = cnp.PyArray_STRIDE(p, 1) // isz
    qrs[0] = cnp.PyArray_STRIDE(q, 0) // isz
    qs[0] = cnp.PyArray_STRIDE(q, 1) // isz
    return True


def one(int measure, cnp.ndarray p, cnp.ndarray q, bint normalize, int nthreads=0):
    """Measure of one pair of 1-D arrays -> (value in nats, status).

    Status 6 (nothing computed): unaligned data or a stride that is not a
    whole number of elements.  nthreads: 0 the default thread count, 1 the
    calling thread only, n > 1 at most n threads.
    """
    cdef double res = NAN
    cdef int st
    cdef Py_ssize_t n = cnp.PyArray_DIM(p, 0)
    cdef Py_ssize_t isz = cnp.PyArray_ITEMSIZE(p)
    cdef Py_ssize_t ps = cnp.PyArray_STRIDE(p, 0) // isz
    cdef Py_ssize_t qs = cnp.PyArray_STRIDE(q, 0) // isz
    cdef int nt
    if not (layout_ok(p, 1) and layout_ok(q, 1)):
        return NAN, 6
    nt = call_threads(n, nthreads)
    if cnp.PyArray_TYPE(p) == cnp.NPY_DOUBLE:
        with nogil:
            st = row_dispatch(measure, <const double*>cnp.PyArray_DATA(p), ps,
                              <const double*>cnp.PyArray_DATA(q), qs, n,
                              normalize, &res, nt)
    else:
        with nogil:
            st = row_dispatch(measure, <const float*>cnp.PyArray_DATA(p), ps,
                              <const float*>cnp.PyArray_DATA(q), qs, n,
                              normalize, &res, nt)
    release_threads(nt)
    return res, st


def rows(int measure, cnp.ndarray p, cnp.ndarray q, bint normalize,
         cnp.ndarray out, cnp.ndarray status, int nthreads=0):
    """Measure of each row of 2-D views p, q (nrows, n) into out and status.

    Returns the number of rows whose status is not 0, or -1 (nothing done)
    if an array is unaligned or has a stride that is not a whole number of
    elements.  nthreads as in `one`.
    """
    cdef Py_ssize_t nrows, n, prs, ps, qrs, qs
    cdef double* o = <double*>cnp.PyArray_DATA(out)
    cdef cnp.npy_int8* s = <cnp.npy_int8*>cnp.PyArray_DATA(status)
    cdef Py_ssize_t flagged
    cdef int nt
    if not rows_layout(p, q, &nrows, &n, &prs, &ps, &qrs, &qs):
        return -1
    nt = call_threads(nrows * n, nthreads)
    if cnp.PyArray_TYPE(p) == cnp.NPY_DOUBLE:
        with nogil:
            flagged = rows_typed(measure, <const double*>cnp.PyArray_DATA(p),
                                 prs, ps, <const double*>cnp.PyArray_DATA(q),
                                 qrs, qs, nrows, n, normalize, o, s, nt)
    else:
        with nogil:
            flagged = rows_typed(measure, <const float*>cnp.PyArray_DATA(p),
                                 prs, ps, <const float*>cnp.PyArray_DATA(q),
                                 qrs, qs, nrows, n, normalize, o, s, nt)
    release_threads(nt)
    return flagged


# ---- chunked statistics (kl_ext.chunked, kl_ext.dask) ----
# A row split into pieces that are never in one place is measured from
# per-piece partial sums.  A piece is CHUNK elements (the last one shorter):
# exactly the chunks of first_pass_par/pair_pass_par, so when a caller's
# pieces line up with a row's own, the partials are those of the in-memory
# call, and summing them in order (Neumaier, as first_pass_par does) then
# finishing gives the in-memory value bit for bit.  One-pass measures
# (entropy, cross-entropy, KL) need one sweep; JS and TV need the totals
# (pair_totals) before their second sweep (pair_pieces).

cdef inline bint out_ok(cnp.ndarray a, int ndim, int typ):
    return (cnp.PyArray_NDIM(a) == ndim and cnp.PyArray_TYPE(a) == typ
            and cnp.PyArray_IS_C_CONTIGUOUS(a))


def n_pieces(Py_ssize_t n):
    """Pieces of CHUNK elements in a row of n > 0 elements."""
    return (n + CHUNK - 1) // CHUNK


cdef void pieces_typed(int measure, const floating* p, Py_ssize_t prs, Py_ssize_t ps,
                       const floating* q, Py_ssize_t qrs, Py_ssize_t qs,
                       Py_ssize_t nrows, Py_ssize_t n, double* out,
                       cnp.npy_int8* status, int nthreads) noexcept nogil:
    # IN: nrows rows of n elements; OUT: out[3k] .. out[3k + 2] and
    # status[k] of piece k = r * npieces + c (first_pass of that piece)
    cdef Job job
    job_init(&job, measure, floating is double, p, prs, ps, q, qrs, qs, nrows, n)
    job.out = out
    job.status = status
    kl_pool_run(nthreads, nrows * job.npc, item_first, &job)


def pieces(int measure, cnp.ndarray p, cnp.ndarray q, cnp.ndarray out,
           cnp.ndarray status, int nthreads=1):
    """First-pass partial sums of each piece of each row of p, q (nrows, n).

    out: C-contiguous float64 (nrows, n_pieces(n), 3) -- sum p, sum q and
    the measure's term sum (first_pass); status: C-contiguous int8
    (nrows, n_pieces(n)) -- 0, or 1/2 for a negative entry in p/q.
    Returns 0, or -1 (nothing done) for an unaligned array or a stride that
    is not a whole number of elements.
    """
    cdef Py_ssize_t nrows, n, prs, ps, qrs, qs
    cdef int nt
    if not rows_layout(p, q, &nrows, &n, &prs, &ps, &qrs, &qs):
        return -1
    if not (out_ok(out, 3, cnp.NPY_DOUBLE) and out_ok(status, 2, cnp.NPY_INT8)
            and n > 0 and cnp.PyArray_TYPE(p) == cnp.PyArray_TYPE(q)
            and cnp.PyArray_DIM(q, 0) == nrows and cnp.PyArray_DIM(q, 1) == n
            and cnp.PyArray_DIM(out, 0) == nrows and cnp.PyArray_DIM(out, 1) == n_pieces(n)
            and cnp.PyArray_DIM(out, 2) == 3 and cnp.PyArray_DIM(status, 0) == nrows
            and cnp.PyArray_DIM(status, 1) == n_pieces(n)):
        raise ValueError("pieces: arrays of the wrong shape, dtype or layout")
    if not (is_one_pass(measure) or is_pair(measure)):
        return -2
    nt = call_threads(nrows * n, nthreads)
    if cnp.PyArray_TYPE(p) == cnp.NPY_DOUBLE:
        with nogil:
            pieces_typed(measure, <const double*>cnp.PyArray_DATA(p), prs, ps,
                         <const double*>cnp.PyArray_DATA(q), qrs, qs, nrows, n,
                         <double*>cnp.PyArray_DATA(out),
                         <cnp.npy_int8*>cnp.PyArray_DATA(status), nt)
    else:
        with nogil:
            pieces_typed(measure, <const float*>cnp.PyArray_DATA(p), prs, ps,
                         <const float*>cnp.PyArray_DATA(q), qrs, qs, nrows, n,
                         <double*>cnp.PyArray_DATA(out),
                         <cnp.npy_int8*>cnp.PyArray_DATA(status), nt)
    release_threads(nt)
    return 0


cdef inline void piece_totals(const double* a, Py_ssize_t k, Py_ssize_t width,
                              double* tot) noexcept nogil:
    # tot[j] = the in-order Neumaier sum of a[i * width + j], i < k (what
    # first_pass_par and pair_pass_par do with their chunks' partials)
    cdef double s, c
    cdef Py_ssize_t i, j
    for j in range(width):
        s = 0.0
        c = 0.0
        for i in range(k):
            kahan_add(&s, &c, a[i * width + j])
        tot[j] = kahan_total(s, c)


def finish(int measure, cnp.ndarray parts, bint normalize, cnp.ndarray out,
           cnp.ndarray status):
    """One-pass measures from their pieces' sums, row by row.

    parts: C-contiguous float64 (nrows, k, 3) from `pieces`, in row order;
    out: float64 (nrows,); status: int8 (nrows,) -- 0, 3/4 (a sum is 0), 5
    (non-finite or out-of-range sums: the caller's slow path), 7 (the value
    is the one-pass form, where the in-memory call would take a second pass
    over the row), 8 (unknown measure).
    """
    cdef Py_ssize_t r, nrows = cnp.PyArray_DIM(parts, 0), k = cnp.PyArray_DIM(parts, 1)
    cdef double tot[3]
    cdef const double* a = <const double*>cnp.PyArray_DATA(parts)
    cdef double* o = <double*>cnp.PyArray_DATA(out)
    cdef cnp.npy_int8* s = <cnp.npy_int8*>cnp.PyArray_DATA(status)
    cdef int st
    if not (out_ok(parts, 3, cnp.NPY_DOUBLE) and cnp.PyArray_DIM(parts, 2) == 3
            and out_ok(out, 1, cnp.NPY_DOUBLE) and out_ok(status, 1, cnp.NPY_INT8)
            and cnp.PyArray_DIM(out, 0) == nrows and cnp.PyArray_DIM(status, 0) == nrows
            and k > 0):
        raise ValueError("finish: arrays of the wrong shape, dtype or layout")
    with nogil:
        for r in range(nrows):
            piece_totals(a + 3 * k * r, k, 3, tot)
            o[r] = NAN
            if measure == ENTROPY:
                st = entropy_from_sums(tot[0], tot[2], kl_vlog_sum(tot[0]), normalize, o + r)
            elif measure == CROSS_ENTROPY:
                st = cross_from_sums(tot[0], tot[1], tot[2], kl_vlog_sum(tot[1]),
                                     normalize, o + r)
            elif measure == KL:
                st = kl_from_sums(tot[0], tot[1], tot[2],
                                  kl_vlog1pmx_ratio(tot[0], tot[1]), normalize, o + r,
                                  sum_err(CHUNK))
            else:
                st = ST_BAD_MEASURE
            s[r] = <cnp.npy_int8>st
    return 0


def pair_totals(int measure, cnp.ndarray parts, bint normalize, cnp.ndarray sums,
                cnp.ndarray scales, cnp.ndarray status):
    """The totals that JS and TV need before their second sweep.

    parts: C-contiguous float64 (nrows, k, 3) from `pieces`; OUT: sums
    (nrows, 2) -- sum p, sum q; scales (nrows, 3) -- mp, mq and K of
    kl_pair_scales (1, 1, 1 unnormalised; NaN for a row with a NaN);
    status (nrows,) -- 0, 3/4, 5 as in `finish`, 8 for an unknown measure.
    """
    cdef Py_ssize_t r, nrows = cnp.PyArray_DIM(parts, 0), k = cnp.PyArray_DIM(parts, 1)
    cdef double tot[3]
    cdef double res
    cdef const double* a = <const double*>cnp.PyArray_DATA(parts)
    cdef double* sm = <double*>cnp.PyArray_DATA(sums)
    cdef double* sc = <double*>cnp.PyArray_DATA(scales)
    cdef cnp.npy_int8* s = <cnp.npy_int8*>cnp.PyArray_DATA(status)
    cdef int st
    if not (out_ok(parts, 3, cnp.NPY_DOUBLE) and cnp.PyArray_DIM(parts, 2) == 3
            and out_ok(sums, 2, cnp.NPY_DOUBLE) and out_ok(scales, 2, cnp.NPY_DOUBLE)
            and out_ok(status, 1, cnp.NPY_INT8) and cnp.PyArray_DIM(sums, 0) == nrows
            and cnp.PyArray_DIM(sums, 1) == 2 and cnp.PyArray_DIM(scales, 0) == nrows
            and cnp.PyArray_DIM(scales, 1) == 3 and cnp.PyArray_DIM(status, 0) == nrows
            and k > 0):
        raise ValueError("pair_totals: arrays of the wrong shape, dtype or layout")
    with nogil:
        for r in range(nrows):
            piece_totals(a + 3 * k * r, k, 3, tot)
            sm[2 * r] = tot[0]
            sm[2 * r + 1] = tot[1]
            sc[3 * r] = 1.0
            sc[3 * r + 1] = 1.0
            sc[3 * r + 2] = 1.0
            if not is_pair(measure):
                s[r] = ST_BAD_MEASURE
                continue
            st = check_sums(tot[0], tot[1], normalize, &res)
            if st < 0:  # a NaN: the row's value is NaN
                sc[3 * r + 2] = NAN
                st = ST_OK
            elif st == ST_OK and normalize:
                pair_scales(tot[0], tot[1], sc + 3 * r, sc + 3 * r + 1, sc + 3 * r + 2)
            s[r] = <cnp.npy_int8>st
    return 0


cdef void pair_pieces_typed(int measure, const floating* p, Py_ssize_t prs,
                            Py_ssize_t ps, const floating* q, Py_ssize_t qrs,
                            Py_ssize_t qs, Py_ssize_t nrows, Py_ssize_t n,
                            const double* sc, double* out, int nthreads) noexcept nogil:
    # OUT: out[k] = pair_pass of piece k = r * npieces + c with row r's scales
    cdef Job job
    job_init(&job, measure, floating is double, p, prs, ps, q, qrs, qs, nrows, n)
    job.aux = sc
    job.astride = 3
    job.out = out
    kl_pool_run(nthreads, nrows * job.npc, item_pair, &job)


def pair_pieces(int measure, cnp.ndarray p, cnp.ndarray q, cnp.ndarray scales,
                cnp.ndarray out, int nthreads=1):
    """Second-sweep partial sums of JS/TV for each piece of each row.

    p, q: (nrows, n) views without negative entries (checked by the first
    sweep); scales: (nrows, 3) from `pair_totals`; out: C-contiguous float64
    (nrows, n_pieces(n)).  Returns 0, -1 for a layout the kernels cannot
    read, -2 for a measure that has no second sweep.
    """
    cdef Py_ssize_t nrows, n, prs, ps, qrs, qs
    cdef int nt
    if not rows_layout(p, q, &nrows, &n, &prs, &ps, &qrs, &qs):
        return -1
    if not (out_ok(out, 2, cnp.NPY_DOUBLE) and out_ok(scales, 2, cnp.NPY_DOUBLE)
            and n > 0 and cnp.PyArray_TYPE(p) == cnp.PyArray_TYPE(q)
            and cnp.PyArray_DIM(q, 0) == nrows and cnp.PyArray_DIM(q, 1) == n
            and cnp.PyArray_DIM(scales, 0) == nrows and cnp.PyArray_DIM(scales, 1) == 3
            and cnp.PyArray_DIM(out, 0) == nrows and cnp.PyArray_DIM(out, 1) == n_pieces(n)):
        raise ValueError("pair_pieces: arrays of the wrong shape, dtype or layout")
    if not is_pair(measure):
        return -2
    nt = call_threads(nrows * n, nthreads)
    if cnp.PyArray_TYPE(p) == cnp.NPY_DOUBLE:
        with nogil:
            pair_pieces_typed(measure, <const double*>cnp.PyArray_DATA(p), prs, ps,
                              <const double*>cnp.PyArray_DATA(q), qrs, qs, nrows, n,
                              <const double*>cnp.PyArray_DATA(scales),
                              <double*>cnp.PyArray_DATA(out), nt)
    else:
        with nogil:
            pair_pieces_typed(measure, <const float*>cnp.PyArray_DATA(p), prs, ps,
                              <const float*>cnp.PyArray_DATA(q), qrs, qs, nrows, n,
                              <const double*>cnp.PyArray_DATA(scales),
                              <double*>cnp.PyArray_DATA(out), nt)
    release_threads(nt)
    return 0


def pair_finish(int measure, cnp.ndarray parts, cnp.ndarray scales, bint normalize,
                cnp.ndarray out):
    """JS/TV of each row from its second-sweep pieces (nrows, k) and scales.

    out: float64 (nrows,) -- pair_tail of the in-order Neumaier sum (JS
    clamped to [0, log 2], TV to [0, 1] when normalised).  Returns 0, or -2
    for a measure that has no second sweep.
    """
    cdef Py_ssize_t r, nrows = cnp.PyArray_DIM(parts, 0), k = cnp.PyArray_DIM(parts, 1)
    cdef double v
    cdef const double* a = <const double*>cnp.PyArray_DATA(parts)
    cdef const double* sc = <const double*>cnp.PyArray_DATA(scales)
    cdef double* o = <double*>cnp.PyArray_DATA(out)
    if not (out_ok(parts, 2, cnp.NPY_DOUBLE) and out_ok(scales, 2, cnp.NPY_DOUBLE)
            and out_ok(out, 1, cnp.NPY_DOUBLE) and cnp.PyArray_DIM(scales, 0) == nrows
            and cnp.PyArray_DIM(scales, 1) == 3 and cnp.PyArray_DIM(out, 0) == nrows
            and k > 0):
        raise ValueError("pair_finish: arrays of the wrong shape, dtype or layout")
    if not is_pair(measure):
        return -2
    with nogil:
        for r in range(nrows):
            piece_totals(a + k * r, k, 1, &v)
            pair_tail(measure, v, sc[3 * r + 2], normalize, o + r)
    return 0


# ---- exactness near p = q over a split axis (kl_ext.chunked) ----
# The chunked statistics never hold a whole row, so the in-memory exact path
# (dd_sums_par, near_value) is rebuilt from pieces: each piece also gives
# its sums as double-double values (dd_pieces); near_totals adds them in
# axis order as dd_sums_par does, so a two-pass measure's second sweep
# (near_pieces) computes near_value's terms piece by piece.  KL needs no
# second sweep: each piece keeps its term sum relative to its own ratio
# c_j = B_j/A_j (A_j, B_j its sums),
#     T_j(c_j) = sum p log(p c_j/q) - p + q/c_j >= 0,
# exact where the piece's own one-pass form cancels, and
#     A D(p/A || q/B) = sum_j T_j(c_j) + A_j phi(c_j/c),  c = B/A,
# phi(x) = x - 1 - log x >= 0: a sum of non-negative terms, which
# kl_ext.chunked.finish_one forms for the rows whose one-pass value cancels.

cdef double SUM_LO = 3.0549363634996047e-151  # 2**-500
cdef double SUM_HI = 3.273390607896142e+150   # 2**500


cdef void dd_piece(int measure, const floating* p, Py_ssize_t prs, Py_ssize_t ps,
                   const floating* q, Py_ssize_t qrs, Py_ssize_t qs, Py_ssize_t n,
                   Py_ssize_t k, const double* first, double* out) noexcept nogil:
    # piece k = r * npieces + c.  OUT: out[5k .. 5k + 3], its dd sums (p
    # high, low, q high, low; NaN/inf for non-finite entries) and, for KL,
    # out[5k + 4] = T_j(c_j) (NaN where a sum is 0 or outside [2**-500,
    # 2**500], or the one-pass term sum first[3k + 2] is not finite); for
    # ENTROPY see below
    cdef Py_ssize_t npc = (n + CHUNK - 1) // CHUNK
    cdef Py_ssize_t r = k // npc
    cdef Py_ssize_t c = k - r * npc
    cdef Py_ssize_t m = min(<Py_ssize_t>CHUNK, n - c * CHUNK)
    cdef const floating* pp = p + r * prs + c * CHUNK * ps
    cdef const floating* qq = q + r * qrs + c * CHUNK * qs
    cdef double* o = out + 5 * k
    cdef double dd[4]
    cdef double t1, d, ts, kk, h
    cdef int j
    if measure == ENTROPY:
        # no dd sums: out[5k + 4] = the piece's own normalised entropy h_j
        # (fin_entropy's, with its exact second pass where the one-pass form
        # cancels), 0 for a piece without mass, NaN for non-finite sums;
        # kl_ext.chunked combines H = sum_j (s_j/s) (h_j + log(s/s_j))
        for j in range(4):
            o[j] = NAN
        t1 = first[3 * k]
        o[4] = NAN
        if t1 == 0.0:
            o[4] = 0.0
        elif t1 > 0.0 and t1 < INFINITY:
            if entropy_from_sums(t1, first[3 * k + 2], kl_vlog_sum(t1), True, &h) == ST_REFINE:
                h = refine_xlog(pp, ps, pp, ps, m, t1)
            o[4] = 0.0 if h < 0.0 else h
        return
    dd_sums(pp, ps, qq, qs, m, dd)
    for j in range(4):
        o[j] = dd[j]
    o[4] = NAN
    if measure != KL:
        return
    t1 = first[3 * k + 2]
    if not (t1 >= 0.0 and t1 < INFINITY and dd[0] >= SUM_LO and dd[0] <= SUM_HI
            and dd[2] >= SUM_LO and dd[2] <= SUM_HI):
        return
    # c_j - 1 from the dd sums (the leading parts' difference is exact where
    # they are within a factor 2), then phi(c_j) = d - log1p(d) >= 0
    d = ((dd[2] - dd[0]) + (dd[3] - dd[1])) / dd[0]
    ts = t1 + dd[0] * log1pmx(d)
    if t1 > CANCEL * ts:
        # the piece's one-pass form cancels (q nearly proportional to p on
        # it): the exact terms, as near_value forms them for a row
        ts = dd[0] * (near_value(KL, pp, ps, qq, qs, m, dd, &kk, 1) / kk)
    o[4] = ts


cdef void dd_pieces_typed(int measure, const floating* p, Py_ssize_t prs, Py_ssize_t ps,
                          const floating* q, Py_ssize_t qrs, Py_ssize_t qs,
                          Py_ssize_t nrows, Py_ssize_t n, const double* first,
                          double* out, int nthreads) noexcept nogil:
    cdef Job job
    job_init(&job, measure, floating is double, p, prs, ps, q, qrs, qs, nrows, n)
    job.aux = first
    job.out = out
    kl_pool_run(nthreads, nrows * job.npc, item_dd_piece, &job)


cdef void item_dd_piece(void* ctx, Py_ssize_t k) noexcept nogil:
    # dd_piece of piece k (first pass sums in aux): out[5k .. 5k + 4]
    cdef Job* j = <Job*>ctx
    if j.f64:
        dd_piece(j.measure, <const double*>j.p, j.prs, j.ps, <const double*>j.q, j.qrs,
                 j.qs, j.n, k, j.aux, j.out)
    else:
        dd_piece(j.measure, <const float*>j.p, j.prs, j.ps, <const float*>j.q, j.qrs,
                 j.qs, j.n, k, j.aux, j.out)


def dd_pieces(int measure, cnp.ndarray p, cnp.ndarray q, cnp.ndarray first,
              cnp.ndarray out, int nthreads=1):
    """Double-double sums of each piece of each row of p, q (nrows, n).

    p, q: the views given to `pieces` (no negative entries: checked by its
    statuses); first: its C-contiguous float64 output (nrows, n_pieces(n),
    3); out: C-contiguous float64 (nrows, n_pieces(n), 5) -- sum p (high,
    low), sum q (high, low) and, for KL, the piece's term sum relative to
    its own sums' ratio (see above; NaN otherwise); for entropy only the
    last column, the piece's own normalised entropy.  Returns 0, or -1
    (nothing done) for a layout the kernels cannot read.
    """
    cdef Py_ssize_t nrows, n, prs, ps, qrs, qs, npc
    cdef int nt
    if not rows_layout(p, q, &nrows, &n, &prs, &ps, &qrs, &qs):
        return -1
    npc = n_pieces(n) if n > 0 else 0
    if not (out_ok(first, 3, cnp.NPY_DOUBLE) and out_ok(out, 3, cnp.NPY_DOUBLE)
            and n > 0 and cnp.PyArray_TYPE(p) == cnp.PyArray_TYPE(q)
            and cnp.PyArray_DIM(q, 0) == nrows and cnp.PyArray_DIM(q, 1) == n
            and cnp.PyArray_DIM(first, 0) == nrows and cnp.PyArray_DIM(first, 1) == npc
            and cnp.PyArray_DIM(first, 2) == 3 and cnp.PyArray_DIM(out, 0) == nrows
            and cnp.PyArray_DIM(out, 1) == npc and cnp.PyArray_DIM(out, 2) == 5):
        raise ValueError("dd_pieces: arrays of the wrong shape, dtype or layout")
    nt = call_threads(nrows * n, nthreads)
    if cnp.PyArray_TYPE(p) == cnp.NPY_DOUBLE:
        with nogil:
            dd_pieces_typed(measure, <const double*>cnp.PyArray_DATA(p), prs, ps,
                            <const double*>cnp.PyArray_DATA(q), qrs, qs, nrows, n,
                            <const double*>cnp.PyArray_DATA(first),
                            <double*>cnp.PyArray_DATA(out), nt)
    else:
        with nogil:
            dd_pieces_typed(measure, <const float*>cnp.PyArray_DATA(p), prs, ps,
                            <const float*>cnp.PyArray_DATA(q), qrs, qs, nrows, n,
                            <const double*>cnp.PyArray_DATA(first),
                            <double*>cnp.PyArray_DATA(out), nt)
    release_threads(nt)
    return 0


def near_totals(cnp.ndarray parts, cnp.ndarray out):
    """Rows' double-double sums and near_value's scales from `dd_pieces`.

    parts: C-contiguous float64 (nrows, k, 5) in axis order; out:
    C-contiguous float64 (nrows, 9) -- the dd sums (p high, low, q high,
    low; added in order as dd_sums_par adds its pieces) and mp, al, mq, bl,
    K of near_value (NaN where a sum is not in [2**-500, 2**500]).
    """
    cdef Py_ssize_t r, i, nrows = cnp.PyArray_DIM(parts, 0), k = cnp.PyArray_DIM(parts, 1)
    cdef const double* a = <const double*>cnp.PyArray_DATA(parts)
    cdef double* o = <double*>cnp.PyArray_DATA(out)
    cdef double* dd
    cdef double mp, mq, kk, s
    if not (out_ok(parts, 3, cnp.NPY_DOUBLE) and cnp.PyArray_DIM(parts, 2) == 5
            and out_ok(out, 2, cnp.NPY_DOUBLE) and cnp.PyArray_DIM(out, 0) == nrows
            and cnp.PyArray_DIM(out, 1) == 9 and k > 0):
        raise ValueError("near_totals: arrays of the wrong shape, dtype or layout")
    with nogil:
        for r in range(nrows):
            dd = o + 9 * r
            for i in range(4):
                dd[i] = 0.0
            for i in range(k):
                dd_add(&dd[0], &dd[1], a[5 * (r * k + i)], a[5 * (r * k + i) + 1])
                dd_add(&dd[2], &dd[3], a[5 * (r * k + i) + 2], a[5 * (r * k + i) + 3])
            for i in range(4, 9):
                dd[i] = NAN
            if (dd[0] >= SUM_LO and dd[0] <= SUM_HI and dd[2] >= SUM_LO
                    and dd[2] <= SUM_HI):
                kl_pair_scales(dd[0], dd[2], &mp, &mq, &kk)
                s = mp / dd[0]  # a power of two: exact
                dd[4] = mp
                dd[5] = dd[1] * s
                dd[6] = mq
                dd[7] = dd[3] * s
                dd[8] = kk
    return 0


cdef void near_pieces_typed(int measure, const floating* p, Py_ssize_t prs,
                            Py_ssize_t ps, const floating* q, Py_ssize_t qrs,
                            Py_ssize_t qs, Py_ssize_t nrows, Py_ssize_t n,
                            const double* nt9, const cnp.npy_int8* want, double* out,
                            int nthreads) noexcept nogil:
    cdef Job job
    job_init(&job, measure, floating is double, p, prs, ps, q, qrs, qs, nrows, n)
    job.aux = nt9
    job.astride = 9
    job.aoff = 4
    job.want = want
    job.out = out
    kl_pool_run(nthreads, nrows * job.npc, item_near, &job)


def near_pieces(int measure, cnp.ndarray p, cnp.ndarray q, cnp.ndarray totals,
                cnp.ndarray want, cnp.ndarray out, int nthreads=1):
    """near_value's term sums of the wanted pieces of each row.

    p, q: (nrows, n) views without negative entries; totals: C-contiguous
    float64 (nrows, 9) from `near_totals` (finite scales in wanted rows);
    want: C-contiguous int8 (nrows, n_pieces(n)); out: C-contiguous float64
    (nrows, n_pieces(n)) -- near_pass of each wanted piece, NaN elsewhere.
    Returns 0, -1 for a layout the kernels cannot read, -2 for a measure
    without exact near terms.
    """
    cdef Py_ssize_t nrows, n, prs, ps, qrs, qs, npc
    cdef int nt
    if not rows_layout(p, q, &nrows, &n, &prs, &ps, &qrs, &qs):
        return -1
    npc = n_pieces(n) if n > 0 else 0
    if not (out_ok(totals, 2, cnp.NPY_DOUBLE) and out_ok(want, 2, cnp.NPY_INT8)
            and out_ok(out, 2, cnp.NPY_DOUBLE) and n > 0
            and cnp.PyArray_TYPE(p) == cnp.PyArray_TYPE(q)
            and cnp.PyArray_DIM(q, 0) == nrows and cnp.PyArray_DIM(q, 1) == n
            and cnp.PyArray_DIM(totals, 0) == nrows and cnp.PyArray_DIM(totals, 1) == 9
            and cnp.PyArray_DIM(want, 0) == nrows and cnp.PyArray_DIM(want, 1) == npc
            and cnp.PyArray_DIM(out, 0) == nrows and cnp.PyArray_DIM(out, 1) == npc):
        raise ValueError("near_pieces: arrays of the wrong shape, dtype or layout")
    if not (measure == KL or is_pair(measure)):
        return -2
    nt = call_threads(nrows * n, nthreads)
    if cnp.PyArray_TYPE(p) == cnp.NPY_DOUBLE:
        with nogil:
            near_pieces_typed(measure, <const double*>cnp.PyArray_DATA(p), prs, ps,
                              <const double*>cnp.PyArray_DATA(q), qrs, qs, nrows, n,
                              <const double*>cnp.PyArray_DATA(totals),
                              <const cnp.npy_int8*>cnp.PyArray_DATA(want),
                              <double*>cnp.PyArray_DATA(out), nt)
    else:
        with nogil:
            near_pieces_typed(measure, <const float*>cnp.PyArray_DATA(p), prs, ps,
                              <const float*>cnp.PyArray_DATA(q), qrs, qs, nrows, n,
                              <const double*>cnp.PyArray_DATA(totals),
                              <const cnp.npy_int8*>cnp.PyArray_DATA(want),
                              <double*>cnp.PyArray_DATA(out), nt)
    release_threads(nt)
    return 0


def near_finish(int measure, cnp.ndarray parts, cnp.ndarray totals, cnp.ndarray rows,
                cnp.ndarray out):
    """A pair measure's exact value for the given rows from its second sweep.

    parts: C-contiguous float64 (nrows, k, 3) second-sweep pieces (column
    0: pair_pass with the rounded sums' scales, column 2: near_pass or
    NaN); totals: C-contiguous float64 (nrows, 13) (pair scales, status,
    then `near_totals`); rows: C-contiguous int64 row indices; out: float64
    (nrows,), set at those rows to pair_tail of the in-order Neumaier sum of
    the pieces' near_pass values -- a piece without one (its own rows a
    relative difference >~ 1/16 apart, where the rounded scales cost at most
    ~eps/delta) adds its pair_pass value rescaled from K to the near K.
    With every piece's near_pass present this is pair_exact's value.
    Returns 0, or -2 for a measure that is not a pair measure.
    """
    cdef Py_ssize_t i, c, r, nrows = cnp.PyArray_DIM(parts, 0), k = cnp.PyArray_DIM(parts, 1)
    cdef Py_ssize_t nsel = cnp.PyArray_DIM(rows, 0)
    cdef const double* a = <const double*>cnp.PyArray_DATA(parts)
    cdef const double* t = <const double*>cnp.PyArray_DATA(totals)
    cdef const cnp.npy_int64* sel = <const cnp.npy_int64*>cnp.PyArray_DATA(rows)
    cdef double* o = <double*>cnp.PyArray_DATA(out)
    cdef double v, vc, sc, s, cc
    if not (out_ok(parts, 3, cnp.NPY_DOUBLE) and cnp.PyArray_DIM(parts, 2) == 3
            and out_ok(totals, 2, cnp.NPY_DOUBLE)
            and out_ok(rows, 1, cnp.NPY_INT64) and out_ok(out, 1, cnp.NPY_DOUBLE)
            and cnp.PyArray_DIM(totals, 0) == nrows and cnp.PyArray_DIM(totals, 1) == 13
            and cnp.PyArray_DIM(out, 0) == nrows and k > 0):
        raise ValueError("near_finish: arrays of the wrong shape, dtype or layout")
    if not is_pair(measure):
        return -2
    for i in range(nsel):
        r = sel[i]
        if r < 0 or r >= nrows:
            raise ValueError("near_finish: row index out of range")
    with nogil:
        for i in range(nsel):
            r = sel[i]
            sc = t[13 * r + 12] / t[13 * r + 2]
            s = 0.0
            cc = 0.0
            for c in range(k):
                vc = a[3 * (r * k + c) + 2]
                if isnan(vc):
                    vc = a[3 * (r * k + c)] * sc
                kahan_add(&s, &cc, vc)
            v = kahan_total(s, cc)
            pair_tail(measure, v, t[13 * r + 12], True, o + r)
    return 0


def near_limit(int measure):
    """The one-pass value below which a normalised pair measure's row takes
    the exact path (near_bound; 0 for other measures)."""
    return near_bound(measure)


# ---- the small-call fast path ----
# Measures of one pair of 1-D float arrays dominate the calls of many users
# (one score per request); the general path in kl_ext/measures.py spends
# ~0.6 us in Python validation before the kernel runs.  `small` accepts only
# the plainest form of such a call and answers it completely in C; any other
# argument (lists, other dtypes, 2-D input, smoothing, an unusual base or
# axis, a row with an error or needing the slow path) returns None and the
# caller takes the general path, which then also owns every error message.

cdef extern from "numpy/arrayobject.h":
    object PyArray_Scalar(void* data, cnp.dtype descr, object base)

cdef cnp.dtype _D64 = cnp.PyArray_DescrFromType(cnp.NPY_DOUBLE)
cdef cnp.dtype _D32 = cnp.PyArray_DescrFromType(cnp.NPY_FLOAT)
cdef enum:
    # rows up to this length keep the GIL (2-6 us of work, JS the longest:
    # far below CPython's 5 ms switch interval); releasing and re-taking it
    # costs ~30-40 ns, 4 % of a 1000-element entropy call (issue 14)
    SMALL_GIL = 2048


cdef Py_ssize_t SMALL_LIMIT_MIN = 65536  # shorter rows never get a second thread


cdef object _threads_current = None


cdef int _thread_limit():
    # kl_ext._threads.current(): the calling Python thread's limit (0: none);
    # the function is looked up once, not imported on every call
    global _threads_current
    if _threads_current is None:
        from kl_ext import _threads
        _threads_current = _threads.current
    return _threads_current()


def small(int measure, object p, object q, object axis, object normalize,
          object smoothing, object base):
    """The value of measure(p, q) as a NumPy scalar, or None.

    Answers only: p and q ndarrays (q None: q = p) of one dtype, float64 or
    float32 in native byte order, 1-D, of equal length >= 1, aligned; axis the int -1 or 0;
    normalize True or False; smoothing 0; base None or a real > 1.  Measure
    codes as in `one`, plus 5: js_distance (sqrt of JS).  The result is
    rounded to the input dtype, exactly as the general path rounds it.
    """
    cdef cnp.ndarray a, b
    cdef double res = NAN, lb = 0.0
    cdef float r32
    cdef int st, nt, code = measure, typ
    cdef Py_ssize_t n, isz
    if type(p) is not cnp.ndarray:
        return None
    if q is None:
        q = p
    elif type(q) is not cnp.ndarray:
        return None
    if type(axis) is not int or (axis != -1 and axis != 0):
        return None
    if normalize is not True and normalize is not False:
        return None
    if not ((type(smoothing) is float or type(smoothing) is int) and smoothing == 0):
        return None
    if base is not None:
        if type(base) is not float and type(base) is not int:
            return None
        lb = <double>base
        if not (lb > 1.0 and lb < INFINITY):
            return None
        lb = log(lb)
    a = <cnp.ndarray>p
    b = <cnp.ndarray>q
    typ = cnp.PyArray_TYPE(a)
    if cnp.PyArray_TYPE(b) != typ or not (layout_ok(a, 1) and layout_ok(b, 1)):
        return None
    if not (cnp.PyArray_ISNOTSWAPPED(a) and cnp.PyArray_ISNOTSWAPPED(b)):
        return None  # non-native byte order: the general path converts
    n = cnp.PyArray_DIM(a, 0)
    if n == 0 or cnp.PyArray_DIM(b, 0) != n:
        return None
    if code == JS_DISTANCE:
        code = JS
    isz = cnp.PyArray_ITEMSIZE(a)
    # a row long enough for threads honours kl_ext._threads.limit (e.g. a
    # kl_ext.dask task's one thread), as the general path does
    nt = call_threads(n, _thread_limit() if n >= SMALL_LIMIT_MIN else 0)
    if n <= SMALL_GIL and typ == cnp.NPY_DOUBLE:
        # too little work to be worth releasing and re-taking the GIL
        st = row_dispatch(code, <const double*>cnp.PyArray_DATA(a),
                          cnp.PyArray_STRIDE(a, 0) // isz,
                          <const double*>cnp.PyArray_DATA(b),
                          cnp.PyArray_STRIDE(b, 0) // isz, n,
                          normalize is True, &res, nt)
    elif typ == cnp.NPY_DOUBLE:
        with nogil:
            st = row_dispatch(code, <const double*>cnp.PyArray_DATA(a),
                              cnp.PyArray_STRIDE(a, 0) // isz,
                              <const double*>cnp.PyArray_DATA(b),
                              cnp.PyArray_STRIDE(b, 0) // isz, n,
                              normalize is True, &res, nt)
    else:
        with nogil:
            st = row_dispatch(code, <const float*>cnp.PyArray_DATA(a),
                              cnp.PyArray_STRIDE(a, 0) // isz,
                              <const float*>cnp.PyArray_DATA(b),
                              cnp.PyArray_STRIDE(b, 0) // isz, n,
                              normalize is True, &res, nt)
    release_threads(nt)
    if st != ST_OK:
        return None
    if res != res and normalize is False and (code == KL or code == CROSS_ENTROPY):
        return None  # terms that overflowed with both signs (measures._signed_overflow)
    if base is not None:
        res = res / lb
    if measure == JS_DISTANCE:
        res = sqrt(res)
    if typ == cnp.NPY_DOUBLE:
        return PyArray_Scalar(&res, _D64, None)
    r32 = <float>res
    return PyArray_Scalar(&r32, _D32, None)


# ---- the C fronts of the public functions (src/_front.h) ----
# kl_ext.measures and kl_ext.compat wrap their Python definitions in fronts
# that answer a plain positional 1-D call of fewer than 131072 elements
# without running any Python (see _front.h); `front_kernel` is their kernel
# call: the same row_dispatch as `one` and `small`, so the same bits.

ctypedef int (*kf_kernel_t)(int code, int typ, const char* p, Py_ssize_t ps,
                            const char* q, Py_ssize_t qs, Py_ssize_t n,
                            double* res) noexcept

cdef extern from "_front.h":
    enum:
        KF_PLAIN
        KF_SQRT
        KF_SCIPY_SQRT
        KF_NMAX
    object kf_new(object func, int code1, int code2, int post, kf_kernel_t kernel)


cdef int front_kernel(int code, int typ, const char* p, Py_ssize_t ps,
                      const char* q, Py_ssize_t qs, Py_ssize_t n,
                      double* res) noexcept:
    # IN: n < KF_NMAX (< PAR_MIN: one thread, as acquire_threads gives it);
    # short float rows keep the GIL (too little work to be worth releasing it)
    cdef int st
    if typ == cnp.NPY_DOUBLE:
        if n <= SMALL_GIL:
            return row_dispatch(code, <const double*>p, ps, <const double*>q, qs, n,
                                True, res, 1)
        with nogil:
            st = row_dispatch(code, <const double*>p, ps, <const double*>q, qs, n,
                              True, res, 1)
        return st
    if n <= SMALL_GIL:
        return row_dispatch(code, <const float*>p, ps, <const float*>q, qs, n,
                            True, res, 1)
    with nogil:
        st = row_dispatch(code, <const float*>p, ps, <const float*>q, qs, n,
                          True, res, 1)
    return st


def front(func, int code1, int code2, int post):
    """A C front of `func` (src/_front.h): f(p) is measure code1 of p (-1:
    passed on), f(p, q) code2 of p, q, normalised, for plain 1-D float
    ndarrays; post 0 the value, 1 its square root (js_distance), 2 the
    square root of the value rounded to the input dtype (SciPy's
    jensenshannon).  Any other call is passed on to func unchanged."""
    if post not in (KF_PLAIN, KF_SQRT, KF_SCIPY_SQRT) or not callable(func):
        raise ValueError(f"front: bad post {post} or func {func!r}")
    for code in (code1, code2):  # a kernel code (not JS_DISTANCE) or -1
        if code != -1 and not (is_one_pass(code) or is_pair(code)):
            raise ValueError(f"front: bad measure code {code}")
    return kf_new(func, code1, code2, post, front_kernel)
