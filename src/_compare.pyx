# One-pass scoring report (module kl_ext._compare): every divergence
# measure of a pair of rows from one sweep over the data, plus the sums pass
# of Jensen-Shannon and total variation.
#
# The divergence kernels are included, not re-implemented: the helpers
# (check_sums, refine_xlog, pair_scales, lanes_total, the status codes and
# thresholds) are those of src/_divergence.pyx, and the element terms those
# of src/_scalar.pxd and src/_vmath.h, in the same 8-lane, 512-element-block,
# Neumaier-compensated structure and the same 65536-element chunks for
# threads.  So every value equals the corresponding kl_ext.measures function
# to rounding (bit for bit on rows whose groups of 8 take the same
# vector/scalar path in both), and the finishing steps below are the row_*
# tails of _divergence.pyx applied to the shared sums.
#
# Contract (checked by kl_ext/report.py): as src/_divergence.pyx; out is a
# C-contiguous float64 array of nrows * NOUT, status an int32 array of nrows.
# Per row, out[NOUT*r + k] holds, in nats:
#   0 H(p)   1 H(q)   2 H(p, q)   3 D(p||q)   4 D(q||p)   5 JS   6 TV
#   7 Hellinger   8 Jeffreys   (COL_* of src/_codes.pxd, from the table)
# and status[r] is 0, an error code (1 negative in p, 2 negative in q,
# 3 p sums to 0, 4 q sums to 0 -- the last two with normalize only), or
# NF_SHIFT times a bit mask of the measures k whose row is non-finite
# (status ST_NONFINITE in _divergence.pyx): the caller recomputes those
# values by the exact slow path of kl_ext.measures.

include "_divergence.pyx"

cdef extern from "_vmath.h" nogil:
    double kl_vlog(double x)  # normal, positive, finite x only

# NOUT (columns) and NF_SHIFT (status = NF_SHIFT * mask of non-finite
# columns) come with the measure codes from src/_codes.pxd, generated from
# kl_ext/_table.py (COMPARE_COLUMNS)
from _codes cimport (NOUT, NF_SHIFT, COL_ENTROPY_P, COL_ENTROPY_Q, COL_CROSS_ENTROPY,
                     COL_KL_PQ, COL_KL_QP, COL_JS_DIVERGENCE, COL_TOTAL_VARIATION,
                     COL_HELLINGER_DISTANCE, COL_JEFFREYS_DIVERGENCE)

cdef enum:
    NSUM = 7       # sums of the sweep: sp, sq, p log p, q log q, p log q,
                   # kl_div(p, q), kl_div(q, p)


cdef inline double xlogx_s(double x) noexcept nogil:
    return x * log(x) if x > 0.0 else 0.0


cdef inline double xlogy_s(double x, double y) noexcept nogil:
    return x * log(y) if x > 0.0 else 0.0


cdef inline void sweep_lanes(const double* p, const double* q, Py_ssize_t m,
                             double* ap, double* aq, double* app, double* aqq,
                             double* apq, double* akpq, double* akqp,
                             int* neg) noexcept nogil:
    # sweep's vector body over m (a multiple of 8) contiguous doubles: the
    # `lanes` of _divergence.pyx with all five element terms at once (a
    # block in the vector domain takes the branch-free terms of _vmath.h
    # throughout; otherwise each group of 8 in the domain does, any other
    # group the scalar ones)
    cdef double lq[8]
    cdef double x, y
    cdef Py_ssize_t i
    cdef int j, ok
    cdef bint clean = not kl_vbad_block(p, q, m)
    for i in range(0, m, 8):
        ok = 1
        if not clean:
            for j in range(8):
                ok &= kl_vdomain(p[i + j]) & kl_vdomain(q[i + j])
        if ok:
            # one small loop per term: each vectorises on its own
            # (GCC leaves a fused 8-lane loop of five terms scalar)
            for j in range(8):
                ap[j] += p[i + j]
                aq[j] += q[i + j]
            # log q serves q log q and p log q: the same values
            # as kl_vterm_xlogx/kl_vterm_xlogy, with one logarithm
            for j in range(8):
                app[j] += kl_vterm_xlogx(p[i + j])
            for j in range(8):
                lq[j] = kl_vlog(q[i + j] if q[i + j] > 0.0 else 1.0)
            for j in range(8):
                aqq[j] += 0.0 if q[i + j] == 0.0 else q[i + j] * lq[j]
            for j in range(8):
                apq[j] += (0.0 if p[i + j] == 0.0 else
                           (-INFINITY if q[i + j] == 0.0 else p[i + j] * lq[j]))
            kl_vadd_kl8(p + i, q + i, akpq)
            kl_vadd_kl8(q + i, p + i, akqp)
        else:
            for j in range(8):
                x = p[i + j]
                y = q[i + j]
                neg[0] |= x < 0.0
                neg[1] |= y < 0.0
                ap[j] += x
                aq[j] += y
                app[j] += xlogx_s(x)
                aqq[j] += xlogx_s(y)
                apq[j] += xlogy_s(x, y)
                akpq[j] += kl_term(x, y)
                akqp[j] += kl_term(y, x)


cdef int sweep(const floating* p, Py_ssize_t ps, const floating* q, Py_ssize_t qs,
               Py_ssize_t n, double* sums) noexcept nogil:
    # IN: a row of p and of q (element strides ps, qs), n elements.
    # OUT: sums[0..6] = sum p, sum q, sum p log p, sum q log q, sum p log q,
    # sum kl_div(p, q), sum kl_div(q, p), each compensated; returns
    # ST_NEG_P/ST_NEG_Q for a negative entry, else ST_OK.
    # The block structure of first_pass in _divergence.pyx (in place for
    # contiguous float64, else through zero-padded float64 copies), so the
    # sums are those of the individual measures, bit for bit.
    cdef double acc[NSUM]
    cdef double cmp[NSUM]
    cdef double a[NSUM * 8]
    cdef double b[NSUM]
    cdef double bx[LBLOCK]
    cdef double by[LBLOCK]
    cdef double x, y
    cdef Py_ssize_t i, j, start, stop, m, m8
    cdef int neg[2]
    cdef int k
    cdef bint direct
    neg[0] = 0
    neg[1] = 0
    for k in range(NSUM):
        acc[k] = 0.0
        cmp[k] = 0.0
    if KL_EXT_VECTOR:
        for start in range(0, n, 512):
            m = min(<Py_ssize_t>LBLOCK, n - start)
            for j in range(NSUM * 8):
                a[j] = 0.0
            direct = False
            if floating is double:
                if ps == 1 and qs == 1:
                    direct = True
                    m8 = m - m % 8
                    sweep_lanes(p + start, q + start, m8, a, a + 8, a + 16, a + 24,
                                a + 32, a + 40, a + 48, neg)
                    if m8 < m:
                        load_block(p + start + m8, 1, m - m8, bx)
                        load_block(q + start + m8, 1, m - m8, by)
                        sweep_lanes(bx, by, 8, a, a + 8, a + 16, a + 24,
                                    a + 32, a + 40, a + 48, neg)
            if not direct:
                load_block(p + start * ps, ps, m, bx)
                m8 = load_block(q + start * qs, qs, m, by)
                sweep_lanes(bx, by, m8, a, a + 8, a + 16, a + 24,
                            a + 32, a + 40, a + 48, neg)
            for k in range(NSUM):
                kahan_add(&acc[k], &cmp[k], lanes_total(a + 8 * k))
    else:
        for start in range(0, n, 64):
            stop = min(start + BLOCK, n)
            for k in range(NSUM):
                b[k] = 0.0
            for i in range(start, stop):
                x = p[i * ps]
                y = q[i * qs]
                neg[0] |= x < 0.0
                neg[1] |= y < 0.0
                b[0] += x
                b[1] += y
                b[2] += xlogx_s(x)
                b[3] += xlogx_s(y)
                b[4] += xlogy_s(x, y)
                b[5] += kl_term(x, y)
                b[6] += kl_term(y, x)
            for k in range(NSUM):
                kahan_add(&acc[k], &cmp[k], b[k])
    for k in range(NSUM):
        sums[k] = kahan_total(acc[k], cmp[k])
    if neg[0]:
        return ST_NEG_P
    if neg[1]:
        return ST_NEG_Q
    return ST_OK


cdef void item_sweep(void* ctx, Py_ssize_t k) noexcept nogil:
    # sweep of chunk k of a long row (a Job of _divergence.pyx):
    # out[NSUM k ..], stc[k]
    cdef Job* j = <Job*>ctx
    cdef Py_ssize_t r, op, oq, m = piece_at(j, k, &r, &op, &oq)
    if j.f64:
        j.stc[k] = sweep(<const double*>j.p + op, j.ps, <const double*>j.q + oq, j.qs, m,
                         j.out + NSUM * k)
    else:
        j.stc[k] = sweep(<const float*>j.p + op, j.ps, <const float*>j.q + oq, j.qs, m,
                         j.out + NSUM * k)


cdef void item_pair_sweep(void* ctx, Py_ssize_t k) noexcept nogil:
    # pair_sweep of chunk k with the scales aux[0], aux[1]: out[NPAIR k ..]
    cdef Job* j = <Job*>ctx
    cdef Py_ssize_t r, op, oq, m = piece_at(j, k, &r, &op, &oq)
    if j.f64:
        pair_sweep(<const double*>j.p + op, j.ps, <const double*>j.q + oq, j.qs, m,
                   j.aux[0], j.aux[1], j.out + NPAIR * k)
    else:
        pair_sweep(<const float*>j.p + op, j.ps, <const float*>j.q + oq, j.qs, m,
                   j.aux[0], j.aux[1], j.out + NPAIR * k)


cdef int sweep_par(const floating* p, Py_ssize_t ps, const floating* q, Py_ssize_t qs,
                   Py_ssize_t n, double* sums, int nthreads) noexcept nogil:
    # sweep over a long row in CHUNK-element chunks (first_pass_par's split,
    # so the result never depends on the thread count)
    cdef Py_ssize_t c, nchunks = (n + CHUNK - 1) // CHUNK
    cdef double* part
    cdef int* stc
    cdef int k, st = ST_OK
    cdef double tot[NSUM]
    cdef double comp[NSUM]
    cdef Job job
    if nchunks <= 1:
        return sweep(p, ps, q, qs, n, sums)
    part = <double*>malloc(nchunks * NSUM * sizeof(double))
    stc = <int*>malloc(nchunks * sizeof(int))
    if part == NULL or stc == NULL:
        free(part)
        free(stc)
        return sweep(p, ps, q, qs, n, sums)
    job_init(&job, 0, floating is double, p, 0, ps, q, 0, qs, 1, n)
    job.out = part
    job.stc = stc
    kl_pool_run(nthreads, nchunks, item_sweep, &job)
    for k in range(NSUM):
        tot[k] = 0.0
        comp[k] = 0.0
    for c in range(nchunks):
        for k in range(NSUM):
            kahan_add(&tot[k], &comp[k], part[NSUM * c + k])
        if stc[c] == ST_NEG_P or (stc[c] == ST_NEG_Q and st == ST_OK):
            st = stc[c]
    for k in range(NSUM):
        sums[k] = kahan_total(tot[k], comp[k])
    free(part)
    free(stc)
    return st


cdef enum:
    NPAIR = 4  # the pair measures of the second sweep: JS, TV, Hellinger, Jeffreys


cdef inline int pair_code(int k) noexcept nogil:
    # measure code of pair_sweep's k-th sum
    return JS if k == 0 else (TV if k == 1 else (HELLINGER if k == 2 else JEFFREYS))


cdef inline int pair_col(int k) noexcept nogil:
    # output column of pair_sweep's k-th measure
    return (COL_JS_DIVERGENCE if k == 0 else (COL_TOTAL_VARIATION if k == 1 else
            (COL_HELLINGER_DISTANCE if k == 2 else COL_JEFFREYS_DIVERGENCE)))


cdef inline void pair_sweep_lanes(const double* p, const double* q, Py_ssize_t m,
                                  double mp, double mq, double* a) noexcept nogil:
    # pair_sweep's vector body: `lanes_pair` of _divergence.pyx for the
    # four pair measures at once; a[8 k + j]: lane j of measure k (JS, TV,
    # Hellinger, Jeffreys), accumulated in locals (registers: the caller's
    # array might alias p and q, as far as the compiler knows)
    cdef Py_ssize_t i
    cdef int j, ok
    cdef double x, y
    cdef double s0[8]
    cdef double s1[8]
    cdef double s2[8]
    cdef double s3[8]
    cdef bint clean = not kl_vbad_block_scaled(p, q, m, mp, mq)
    if clean:  # Jeffreys: no nonzero entry's product underflowed to 0
        for i in range(m):
            if kl_vzero_uf(p[i], p[i] * mq) | kl_vzero_uf(q[i], q[i] * mp):
                clean = False
                break
    for j in range(8):
        s0[j] = a[j]
        s1[j] = a[8 + j]
        s2[j] = a[16 + j]
        s3[j] = a[24 + j]
    for i in range(0, m, 8):
        for j in range(8):
            s1[j] += fabs(p[i + j] * mq - q[i + j] * mp)
        for j in range(8):
            s2[j] += kl_vterm_hellinger(p[i + j] * mq, q[i + j] * mp)
        ok = 1
        if not clean:
            for j in range(8):
                ok &= kl_vdomain(p[i + j] * mq) & kl_vdomain(q[i + j] * mp)
                ok &= not (kl_vzero_uf(p[i + j], p[i + j] * mq)
                           | kl_vzero_uf(q[i + j], q[i + j] * mp))
        if ok:
            kl_vadd_js8(p + i, q + i, mp, mq, s0)
            kl_vadd_jeffreys8(p + i, q + i, mp, mq, s3)
        else:
            for j in range(8):
                x = p[i + j] * mq
                y = q[i + j] * mp
                s0[j] += js_term(x, y)
                s3[j] += jeffreys_term_scaled(p[i + j], q[i + j], mp, mq)
    for j in range(8):
        a[j] = s0[j]
        a[8 + j] = s1[j]
        a[16 + j] = s2[j]
        a[24 + j] = s3[j]


cdef void pair_sweep(const floating* p, Py_ssize_t ps, const floating* q, Py_ssize_t qs,
                     Py_ssize_t n, double mp, double mq, double* res) noexcept nogil:
    # pair_pass of _divergence.pyx for the four pair measures at once (the
    # same blocks): res[k] = compensated sum of measure k's terms over
    # x = p*mq, y = q*mp (k: JS, TV, Hellinger, Jeffreys).
    cdef double tot[NPAIR]
    cdef double cmp[NPAIR]
    cdef double b[NPAIR]
    cdef double a[NPAIR * 8]
    cdef double bx[LBLOCK]
    cdef double by[LBLOCK]
    cdef double x, y
    cdef Py_ssize_t i, j, start, stop, m, m8
    cdef int k
    cdef bint direct
    for k in range(NPAIR):
        tot[k] = 0.0
        cmp[k] = 0.0
    if KL_EXT_VECTOR:
        for start in range(0, n, 512):
            m = min(<Py_ssize_t>LBLOCK, n - start)
            for j in range(NPAIR * 8):
                a[j] = 0.0
            direct = False
            if floating is double:
                if ps == 1 and qs == 1:
                    direct = True
                    m8 = m - m % 8
                    pair_sweep_lanes(p + start, q + start, m8, mp, mq, a)
                    if m8 < m:
                        load_block(p + start + m8, 1, m - m8, bx)
                        load_block(q + start + m8, 1, m - m8, by)
                        pair_sweep_lanes(bx, by, 8, mp, mq, a)
            if not direct:
                load_block(p + start * ps, ps, m, bx)
                m8 = load_block(q + start * qs, qs, m, by)
                pair_sweep_lanes(bx, by, m8, mp, mq, a)
            for k in range(NPAIR):
                kahan_add(&tot[k], &cmp[k], lanes_total(a + 8 * k))
    else:
        for start in range(0, n, 64):
            stop = min(start + BLOCK, n)
            for k in range(NPAIR):
                b[k] = 0.0
            for i in range(start, stop):
                x = p[i * ps] * mq
                y = q[i * qs] * mp
                b[0] += js_term(x, y)
                b[1] += fabs(x - y)
                b[2] += hellinger_term(x, y)
                b[3] += jeffreys_term_scaled(p[i * ps], q[i * qs], mp, mq)
            for k in range(NPAIR):
                kahan_add(&tot[k], &cmp[k], b[k])
    for k in range(NPAIR):
        res[k] = kahan_total(tot[k], cmp[k])


cdef void pair_sweep_par(const floating* p, Py_ssize_t ps, const floating* q,
                         Py_ssize_t qs, Py_ssize_t n, double mp, double mq,
                         double* res, int nthreads) noexcept nogil:
    # pair_sweep over a long row, chunk by chunk (as pair_pass_par)
    cdef Py_ssize_t c, nchunks = (n + CHUNK - 1) // CHUNK
    cdef double* part
    cdef double tot[NPAIR]
    cdef double cmp[NPAIR]
    cdef int k
    cdef double sc[2]
    cdef Job job
    if nchunks <= 1:
        pair_sweep(p, ps, q, qs, n, mp, mq, res)
        return
    part = <double*>malloc(nchunks * NPAIR * sizeof(double))
    if part == NULL:
        pair_sweep(p, ps, q, qs, n, mp, mq, res)
        return
    sc[0] = mp
    sc[1] = mq
    job_init(&job, 0, floating is double, p, 0, ps, q, 0, qs, 1, n)
    job.aux = sc
    job.out = part
    kl_pool_run(nthreads, nchunks, item_pair_sweep, &job)
    for k in range(NPAIR):
        tot[k] = 0.0
        cmp[k] = 0.0
    for c in range(nchunks):
        for k in range(NPAIR):
            kahan_add(&tot[k], &cmp[k], part[NPAIR * c + k])
    free(part)
    for k in range(NPAIR):
        res[k] = kahan_total(tot[k], cmp[k])


# The finishing steps fin_entropy, fin_cross and fin_kl (the normalisation
# identities and their exact second passes) come from _divergence.pyx, which
# this file includes: one implementation for both kernels.


cdef int row_compare(const floating* p, Py_ssize_t ps, const floating* q, Py_ssize_t qs,
                     Py_ssize_t n, bint normalize, double* res, int nthreads) noexcept nogil:
    # IN: one row of p and q.  OUT: res[0..NOUT-1]; returns the row status
    # (an error code, or NF_SHIFT * mask of non-finite measures, or 0).
    cdef double sums[NSUM]
    cdef double pj[NPAIR]
    cdef double sp, sq, mp = 1.0, mq = 1.0, kk = 1.0, v
    cdef int st, mask = 0, k
    st = sweep_par(p, ps, q, qs, n, sums, nthreads)
    if st != ST_OK:
        return st
    sp = sums[0]
    sq = sums[1]
    if normalize:
        # any measure of a row that sums to 0 raises, whatever the other row
        if sp == 0.0:
            return ST_ZERO_P
        if sq == 0.0:
            return ST_ZERO_Q
    for k in range(NOUT):
        res[k] = NAN
    if fin_entropy(p, ps, n, sp, sums[2], kl_vlog_sum(sp), normalize,
                   res + COL_ENTROPY_P) != ST_OK:
        mask |= 1 << COL_ENTROPY_P
    if fin_entropy(q, qs, n, sq, sums[3], kl_vlog_sum(sq), normalize,
                   res + COL_ENTROPY_Q) != ST_OK:
        mask |= 1 << COL_ENTROPY_Q
    if fin_cross(p, ps, q, qs, n, sp, sq, sums[4], kl_vlog_sum(sq), normalize,
                 res + COL_CROSS_ENTROPY) != ST_OK:
        mask |= 1 << COL_CROSS_ENTROPY
    if fin_kl(p, ps, q, qs, n, sp, sq, sums[5], kl_vlog1pmx_ratio(sp, sq), normalize,
              res + COL_KL_PQ, nthreads) != ST_OK:
        mask |= 1 << COL_KL_PQ
    if fin_kl(q, qs, p, ps, n, sq, sp, sums[6], kl_vlog1pmx_ratio(sq, sp), normalize,
              res + COL_KL_QP, nthreads) != ST_OK:
        mask |= 1 << COL_KL_QP
    # the pair measures (row_pair): a second pass once the sums are known
    st = check_sums(sp, sq, normalize, &v)
    if st != ST_OK and st >= 0:
        for k in range(NPAIR):
            mask |= 1 << pair_col(k)
    elif st == ST_OK:
        if normalize:
            pair_scales(sp, sq, &mp, &mq, &kk)
        pair_sweep_par(p, ps, q, qs, n, mp, mq, pj, nthreads)
        for k in range(NPAIR):
            pair_tail(pair_code(k), pj[k], kk, normalize, res + pair_col(k))
            if normalize and res[pair_col(k)] < near_bound(pair_code(k)):
                pair_exact(pair_code(k), p, ps, q, qs, n, res + pair_col(k), nthreads)
    return mask * NF_SHIFT


cdef void item_compare_rows(void* ctx, Py_ssize_t k) noexcept nogil:
    # rows k * per .. (row_compare, one thread each): out[NOUT r ..], status32[r]
    cdef Job* j = <Job*>ctx
    cdef Py_ssize_t r
    for r in range(k * j.per, min((k + 1) * j.per, j.nrows)):
        if j.f64:
            j.stc[r] = row_compare(<const double*>j.p + r * j.prs, j.ps,
                                   <const double*>j.q + r * j.qrs, j.qs, j.n, j.normalize,
                                   j.out + NOUT * r, 1)
        else:
            j.stc[r] = row_compare(<const float*>j.p + r * j.prs, j.ps,
                                   <const float*>j.q + r * j.qrs, j.qs, j.n, j.normalize,
                                   j.out + NOUT * r, 1)


cdef Py_ssize_t compare_rows_typed(const floating* p, Py_ssize_t prs, Py_ssize_t ps,
                                   const floating* q, Py_ssize_t qrs, Py_ssize_t qs,
                                   Py_ssize_t nrows, Py_ssize_t n, bint normalize,
                                   double* out, cnp.npy_int32* status,
                                   int nthreads) noexcept nogil:
    # IN: nrows rows of n elements (strides in elements).  OUT: out[NOUT*r..],
    # status[r]; returns the number of flagged rows.  Threads as rows_typed.
    cdef Py_ssize_t r, flagged = 0
    cdef int st
    cdef Job job
    if nthreads > 1 and nrows >= 2 * nthreads:
        job_init(&job, 0, floating is double, p, prs, ps, q, qrs, qs, nrows, n)
        job.normalize = normalize
        job.out = out
        job.stc = <int*>status
        job.per = grab(n)
        kl_pool_run(nthreads, (nrows + job.per - 1) // job.per, item_compare_rows, &job)
        for r in range(nrows):
            flagged += status[r] != 0
        return flagged
    for r in range(nrows):
        st = row_compare(p + r * prs, ps, q + r * qrs, qs, n, normalize,
                         out + NOUT * r, nthreads)
        status[r] = st
        flagged += st != 0
    return flagged


def compare_one(cnp.ndarray p, cnp.ndarray q, bint normalize, int nthreads=0):
    """All measures of one pair of 1-D arrays -> (tuple of NOUT values, status).

    Status -1 (nothing computed): unaligned data or a stride that is not a
    whole number of elements.
    """
    cdef double res[NOUT]
    cdef int st, k
    cdef Py_ssize_t n = cnp.PyArray_DIM(p, 0)
    cdef Py_ssize_t isz = cnp.PyArray_ITEMSIZE(p)
    cdef Py_ssize_t ps = cnp.PyArray_STRIDE(p, 0) // isz
    cdef Py_ssize_t qs = cnp.PyArray_STRIDE(q, 0) // isz
    cdef int nt
    if not (layout_ok(p, 1) and layout_ok(q, 1)):
        return None, -1
    for k in range(NOUT):
        res[k] = NAN
    nt = call_threads(n, nthreads)
    if cnp.PyArray_TYPE(p) == cnp.NPY_DOUBLE:
        with nogil:
            st = row_compare(<const double*>cnp.PyArray_DATA(p), ps,
                             <const double*>cnp.PyArray_DATA(q), qs, n,
                             normalize, res, nt)
    else:
        with nogil:
            st = row_compare(<const float*>cnp.PyArray_DATA(p), ps,
                             <const float*>cnp.PyArray_DATA(q), qs, n,
                             normalize, res, nt)
    release_threads(nt)
    return tuple([res[k] for k in range(NOUT)]), st


def compare_rows(cnp.ndarray p, cnp.ndarray q, bint normalize,
                 cnp.ndarray out, cnp.ndarray status, int nthreads=0):
    """All measures of each row of 2-D views p, q (nrows, n).

    out: C-contiguous float64 (nrows, NOUT); status: C-contiguous int32
    (nrows,).  Returns the number of flagged rows, or -1 (nothing done) for
    unaligned data or a stride that is not a whole number of elements.
    nthreads: 0 the default thread count, 1 the calling thread only, n > 1
    at most n threads.
    """
    cdef Py_ssize_t nrows, n, prs, ps, qrs, qs
    cdef double* o = <double*>cnp.PyArray_DATA(out)
    cdef cnp.npy_int32* s = <cnp.npy_int32*>cnp.PyArray_DATA(status)
    cdef Py_ssize_t flagged
    cdef int nt
    if not rows_layout(p, q, &nrows, &n, &prs, &ps, &qrs, &qs):
        return -1
    nt = call_threads(nrows * n, nthreads)
    if cnp.PyArray_TYPE(p) == cnp.NPY_DOUBLE:
        with nogil:
            flagged = compare_rows_typed(<const double*>cnp.PyArray_DATA(p), prs, ps,
                                         <const double*>cnp.PyArray_DATA(q), qrs, qs,
                                         nrows, n, normalize, o, s, nt)
    else:
        with nogil:
            flagged = compare_rows_typed(<const float*>cnp.PyArray_DATA(p), prs, ps,
                                         <const float*>cnp.PyArray_DATA(q), qrs, qs,
                                         nrows, n, normalize, o, s, nt)
    release_threads(nt)
    return flagged
