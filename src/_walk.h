/* Compensated CDF walks for the 1-D Wasserstein kernels (src/_wasserstein.pyx).
 *
 * Error-free transformations (Knuth's TwoSum, Dekker's / FMA TwoProduct) and
 * double-double ("dd": an unevaluated sum hi + lo, |lo| <= ulp(hi)/2) helpers,
 * after T. Ogita, S. M. Rump and S. Oishi, "Accurate sum and dot product",
 * SIAM J. Sci. Comput. 26(6), 2005, and N. J. Higham, *Accuracy and Stability
 * of Numerical Algorithms*, 2nd ed., SIAM 2002, sec. 4.3.
 *
 * The products are exact with FMA (x86-64-v3/v4 builds, __FMA__) and with
 * Dekker's splitting otherwise (baseline build): both give the same error
 * term, so every CPU tier computes the same bits.  Dekker's splitting needs
 * |a| < 2**996 (no overflow of a * (2**27 + 1)); the callers keep to that.
 * Requires -ffp-contract=off (setup.py) so that no a * b + c is fused.
 *
 * kw_hist_d / kw_hist_f: order-1 W between two histograms (one row), with
 *   S = sum as a dd, D_k = sum_{i<=k} (p_i mq - q_i mp) with each term exact
 *   (TwoProduct) and the running sum a dd, and sum_k |D_k| dx_k in blocks of
 *   64 folded into a dd total.  The n - 1 steps are cut into four equal
 *   segments walked side by side as the four lanes of one vector (the
 *   offsets D at each segment's start come from the segments' dd sums), the
 *   last (n - 1) % 4 steps by the same arithmetic in scalar: the lanes run
 *   as AVX2 instructions on v3/v4 and as SSE2 pairs on baseline, with the
 *   same result.
 */
#ifndef KL_EXT_WALK_H
#define KL_EXT_WALK_H

#pragma GCC diagnostic ignored "-Wpsabi"
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__FMA__) && defined(__AVX__)
#include <immintrin.h>
#endif

#define KW_SPLIT 134217729.0          /* 2**27 + 1 */
#define KW_SAFE_HI 6.69692879491417e+299  /* 2**996 */

/* ---------------- scalars ---------------- */

static inline double kw_two_sum(double a, double b, double *e)
{
    double s = a + b, bb = s - a;
    *e = (a - (s - bb)) + (b - bb);
    return s;
}

static inline double kw_two_prod(double a, double b, double *e)
{
    double p = a * b;
#if defined(__FMA__)
    *e = __builtin_fma(a, b, -p);
#else
    double t = KW_SPLIT * a, ah = t - (t - a), al = a - ah;
    double u = KW_SPLIT * b, bh = u - (u - b), bl = b - bh;
    *e = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
#endif
    return p;
}

/* dd sum (ah + al) + (bh + bl), renormalised */
static inline void kw_dd_add(double ah, double al, double bh, double bl,
                             double *rh, double *rl)
{
    double e, s = kw_two_sum(ah, bh, &e);
    e += al + bl;
    *rh = kw_two_sum(s, e, rl);
}

/* dd product (ah + al)(bh + bl) */
static inline void kw_dd_mul(double ah, double al, double bh, double bl,
                             double *rh, double *rl)
{
    double e, p = kw_two_prod(ah, bh, &e);
    e += ah * bl + al * bh;
    *rh = kw_two_sum(p, e, rl);
}

/* dd quotient (ah + al)/(bh + bl), bh != 0: exactly 1 for equal operands,
 * and equal results for equal fractions a/b when bl = 0; only the rounded
 * quotient beyond 2**996 */
static inline void kw_dd_div(double ah, double al, double bh, double bl,
                             double *rh, double *rl)
{
    double q1 = ah / bh, e, p;
    if (!(fabs(q1) < KW_SAFE_HI && fabs(bh) < KW_SAFE_HI)) {
        *rh = q1;   /* beyond the splitting range (or inf, NaN): as is */
        *rl = 0.0;
        return;
    }
    p = kw_two_prod(q1, bh, &e);
    double r = (((ah - p) - e) + al) - q1 * bl;
    *rh = kw_two_sum(q1, r / bh, rl);
}

/* the double nearest to (ah + al) - (bh + bl) */
static inline double kw_dd_diff(double ah, double al, double bh, double bl)
{
    double e, s = kw_two_sum(ah, -bh, &e);
    return s + (e + (al - bl));
}

/* th[i] + tl[i] <- (th[i] + tl[i]) / (Sh + Sl) for i < n, each exactly as
 * kw_dd_div computes it.  The quotients of a row's cumulative weights by
 * their total lie in [0, 1], so kw_dd_div's range test reduces to one on
 * Sh, made once; the loop then has no branch and is vectorised (-O3). */
static inline void kw_dd_div_all(double *th, double *tl, ptrdiff_t n, double Sh, double Sl)
{
    ptrdiff_t k;
    if (!(fabs(Sh) < KW_SAFE_HI)) {
        for (k = 0; k < n; k++)
            kw_dd_div(th[k], tl[k], Sh, Sl, &th[k], &tl[k]);
        return;
    }
    for (k = 0; k < n; k++) {
        double ah = th[k], al = tl[k], q1 = ah / Sh, e, p, r;
        p = kw_two_prod(q1, Sh, &e);
        r = (((ah - p) - e) + al) - q1 * Sl;
        th[k] = kw_two_sum(q1, r / Sh, &tl[k]);
    }
}

/* ---------------- four lanes ---------------- */

typedef double kw_v4 __attribute__((vector_size(32)));
typedef long long kw_v4i __attribute__((vector_size(32)));

static inline kw_v4 kw_v4_two_sum(kw_v4 a, kw_v4 b, kw_v4 *e)
{
    kw_v4 s = a + b, bb = s - a;
    *e = (a - (s - bb)) + (b - bb);
    return s;
}

/* a * b exactly as p + e; bh, bl: Dekker's split of b (unused with FMA) */
static inline kw_v4 kw_v4_two_prod(kw_v4 a, kw_v4 b, kw_v4 bh, kw_v4 bl, kw_v4 *e)
{
    kw_v4 p = a * b;
#if defined(__FMA__) && defined(__AVX__)
    (void)bh; (void)bl;
    *e = (kw_v4)_mm256_fmsub_pd((__m256d)a, (__m256d)b, (__m256d)p);
#else
    const kw_v4 sp = {KW_SPLIT, KW_SPLIT, KW_SPLIT, KW_SPLIT};
    kw_v4 t = sp * a, ah = t - (t - a), al = a - ah;
    *e = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
#endif
    return p;
}

static inline kw_v4 kw_v4_abs(kw_v4 x)
{
    const kw_v4i m = {0x7fffffffffffffffLL, 0x7fffffffffffffffLL,
                      0x7fffffffffffffffLL, 0x7fffffffffffffffLL};
    return (kw_v4)((kw_v4i)x & m);
}

/* x + y and x - y, rounded once.  With FMA they are multiply-adds by 1
 * (fma(x, 1, y) rounds x + y once: the same bits as vaddpd / vsubpd) and
 * run on the multiply-add pipes: AMD Zen 4 issues adds on two of its four
 * FP pipes and multiplies / multiply-adds on the other two, and the walks
 * below are mostly adds.  Used off the loop-carried chains (whose latency
 * is the add's). */
#if defined(__FMA__) && defined(__AVX__)
static inline kw_v4 kw_v4_addm(kw_v4 x, kw_v4 y)
{
    const __m256d one = {1.0, 1.0, 1.0, 1.0};
    return (kw_v4)_mm256_fmadd_pd((__m256d)x, one, (__m256d)y);
}

static inline kw_v4 kw_v4_subm(kw_v4 x, kw_v4 y)
{
    const __m256d one = {1.0, 1.0, 1.0, 1.0};
    return (kw_v4)_mm256_fnmadd_pd((__m256d)y, one, (__m256d)x);
}

/* a < m ? a : m per lane (vminpd): a running minimum that skips NaN a */
static inline kw_v4 kw_v4_min(kw_v4 a, kw_v4 m)
{
    return (kw_v4)_mm256_min_pd((__m256d)a, (__m256d)m);
}
#else
static inline kw_v4 kw_v4_addm(kw_v4 x, kw_v4 y) { return x + y; }
static inline kw_v4 kw_v4_subm(kw_v4 x, kw_v4 y) { return x - y; }

static inline kw_v4 kw_v4_min(kw_v4 a, kw_v4 m)
{
    kw_v4i lt = a < m;
    return (kw_v4)((lt & (kw_v4i)a) | (~lt & (kw_v4i)m));
}
#endif

/* kw_v4_two_sum with four of its five error-term operations on the
 * multiply-add pipes (the sums pass) */
static inline kw_v4 kw_v4_two_sum_m4(kw_v4 a, kw_v4 b, kw_v4 *e)
{
    kw_v4 s = a + b, bb = kw_v4_subm(s, a);
    *e = kw_v4_subm(a, kw_v4_subm(s, bb)) + kw_v4_subm(b, bb);
    return s;
}

/* kw_v4_two_sum with one (the walk, where the multiply-add pipes carry the
 * products) */
static inline kw_v4 kw_v4_two_sum_m1(kw_v4 a, kw_v4 b, kw_v4 *e)
{
    kw_v4 s = a + b, bb = s - a;
    *e = (a - (s - bb)) + kw_v4_subm(b, bb);
    return s;
}

/* a - b exactly as s + *e: TwoSum of a and -b (the same bits) without the
 * negation, three of its operations on the multiply-add pipes */
static inline kw_v4 kw_v4_two_diff(kw_v4 a, kw_v4 b, kw_v4 *e)
{
    kw_v4 s = a - b, bb = kw_v4_subm(s, a);
    *e = kw_v4_subm(a, kw_v4_subm(s, bb)) - kw_v4_addm(b, bb);
    return s;
}

static inline void kw_split(double b, double *bh, double *bl)
{
    double t = KW_SPLIT * b;
    *bh = t - (t - b);
    *bl = b - *bh;
}

/* row status codes (the caller maps them to src/_codes.pxd's) */
enum { KW_OK = 0, KW_NEG_P = 1, KW_NEG_Q = 2, KW_ZERO_P = 3, KW_ZERO_Q = 4,
       KW_RESCALE = 5, KW_PLAIN = 6 };

/* 2**-1021: pair scales and K = sp mq stay normal numbers when the smaller
 * sum is at least this and this times the larger one */
#define KW_SAFE_LO 4.450147717014403e-308

/* Four consecutive entries of four contiguous rows, transposed: c[k] =
 * (p0[i + k], p1[i + k], p2[i + k], p3[i + k]).  Four vector loads and
 * eight shuffles instead of sixteen scalar loads and inserts. */
#if defined(__clang__)
#define KW_SHUF(a, b, i0, i1, i2, i3) __builtin_shufflevector(a, b, i0, i1, i2, i3)
#else
#define KW_SHUF(a, b, i0, i1, i2, i3) __builtin_shuffle(a, b, (kw_v4i){i0, i1, i2, i3})
#endif

static inline void kw_transpose(kw_v4 r0, kw_v4 r1, kw_v4 r2, kw_v4 r3, kw_v4 *c)
{
    kw_v4 t0 = KW_SHUF(r0, r1, 0, 4, 2, 6), t1 = KW_SHUF(r0, r1, 1, 5, 3, 7);
    kw_v4 t2 = KW_SHUF(r2, r3, 0, 4, 2, 6), t3 = KW_SHUF(r2, r3, 1, 5, 3, 7);
    c[0] = KW_SHUF(t0, t2, 0, 1, 4, 5);
    c[1] = KW_SHUF(t1, t3, 0, 1, 4, 5);
    c[2] = KW_SHUF(t0, t2, 2, 3, 6, 7);
    c[3] = KW_SHUF(t1, t3, 2, 3, 6, 7);
}

typedef double kw_v4u __attribute__((vector_size(32), aligned(8)));
typedef float kw_v4fu __attribute__((vector_size(16), aligned(4)));

static inline void kw_load4x4_double(const double *const *pp, ptrdiff_t i, kw_v4 *c)
{
    kw_transpose(*(const kw_v4u *)(pp[0] + i), *(const kw_v4u *)(pp[1] + i),
                 *(const kw_v4u *)(pp[2] + i), *(const kw_v4u *)(pp[3] + i), c);
}

static inline void kw_load4x4_float(const float *const *pp, ptrdiff_t i, kw_v4 *c)
{
    kw_transpose(__builtin_convertvector(*(const kw_v4fu *)(pp[0] + i), kw_v4),
                 __builtin_convertvector(*(const kw_v4fu *)(pp[1] + i), kw_v4),
                 __builtin_convertvector(*(const kw_v4fu *)(pp[2] + i), kw_v4),
                 __builtin_convertvector(*(const kw_v4fu *)(pp[3] + i), kw_v4), c);
}

/* Pass 1 of four lanes: lane l sums pp[l][i * ps], qq[l][i * qs] for
 * i < len as double-doubles (TwoSum) and flags negative entries; with a
 * buffer buf (2 len vectors), it also leaves the lanes' entries of step i
 * in buf[2 i] (p) and buf[2 i + 1] (q) for the walk; with nx (see
 * kw_hist4_*), contiguous rows prefetch the rows nx[8..15] into L2.  The transposed loads
 * of contiguous rows do the same operations in the same order, so a row's
 * sums do not depend on its layout. */
#define KW_SUM1(a, c) \
    do { \
        np_ = kw_v4_min((a), np_); \
        nq = kw_v4_min((c), nq); \
        ph = kw_v4_two_sum_m4(ph, (a), &e); pl += e; \
        qh = kw_v4_two_sum_m4(qh, (c), &e); ql += e; \
    } while (0)

#define KW_DEFINE_SUMS4(NAME, T) \
static inline void NAME(const T *const *pp, ptrdiff_t ps, const T *const *qq, \
                        ptrdiff_t qs, ptrdiff_t len, kw_v4 *sph, kw_v4 *spl, \
                        kw_v4 *sqh, kw_v4 *sql, kw_v4i *negp, kw_v4i *negq, \
                        kw_v4 *buf, const T *const *nx) \
{ \
    const T *p0 = pp[0], *p1 = pp[1], *p2 = pp[2], *p3 = pp[3]; \
    const T *q0 = qq[0], *q1 = qq[1], *q2 = qq[2], *q3 = qq[3]; \
    const kw_v4 z = {0.0, 0.0, 0.0, 0.0}; \
    kw_v4 ph = z, pl = z, qh = z, ql = z, a, c, e, A[4], C[4]; \
    kw_v4 np_ = z, nq = z; \
    ptrdiff_t i = 0; \
    if (ps == 1 && qs == 1) { \
        for (; i + 4 <= len; i += 4) { \
            kw_load4x4_##T(pp, i, A); \
            kw_load4x4_##T(qq, i, C); \
            if (nx != NULL) { \
                ptrdiff_t o_ = i + 8 < len ? i + 8 : len - 1; \
                int l_; \
                for (l_ = 8; l_ < 16; l_++) \
                    __builtin_prefetch(nx[l_] + o_, 0, 2); \
            } \
            KW_SUM1(A[0], C[0]); \
            KW_SUM1(A[1], C[1]); \
            KW_SUM1(A[2], C[2]); \
            KW_SUM1(A[3], C[3]); \
            if (buf != NULL) { \
                buf[2 * i] = A[0]; buf[2 * i + 1] = C[0]; \
                buf[2 * i + 2] = A[1]; buf[2 * i + 3] = C[1]; \
                buf[2 * i + 4] = A[2]; buf[2 * i + 5] = C[2]; \
                buf[2 * i + 6] = A[3]; buf[2 * i + 7] = C[3]; \
            } \
        } \
    } \
    for (; i < len; i++) { \
        a = (kw_v4){(double)p0[i * ps], (double)p1[i * ps], \
                    (double)p2[i * ps], (double)p3[i * ps]}; \
        c = (kw_v4){(double)q0[i * qs], (double)q1[i * qs], \
                    (double)q2[i * qs], (double)q3[i * qs]}; \
        KW_SUM1(a, c); \
        if (buf != NULL) { \
            buf[2 * i] = a; buf[2 * i + 1] = c; \
        } \
    } \
    *sph = ph; *spl = pl; *sqh = qh; *sql = ql; *negp = np_ < z; *negq = nq < z; \
}

/* One step j of the walk in four lanes, entries a, c: D += a mq - c mp with
 * exact products, then b += |D| dx. */
#define KW_STEP(j) \
    do { \
        ah = kw_v4_two_prod(a, mqh, mqs, mqt, &ae); \
        ch = kw_v4_two_prod(c, mph, mps, mpt, &ce); \
        d = kw_v4_two_diff(ah, ch, &de); \
        de += kw_v4_subm(ae, ce) + kw_v4_subm(a * mql, c * mpl); \
        Dh = kw_v4_two_sum_m1(Dh, d, &e); \
        Dl += kw_v4_addm(e, de); \
        d = kw_v4_abs(Dh + Dl); \
        if (x == NULL) { \
            b += d; \
        } else { \
            dx = (kw_v4){x0[(j) + 1] - x0[j], x1[(j) + 1] - x1[j], \
                         x2[(j) + 1] - x2[j], x3[(j) + 1] - x3[j]}; \
            b += d * dx; \
        } \
    } while (0)

/* The steps i..s1 - 1 of a block from the transposed copy buf of the sums
 * pass (buf[2 k], buf[2 k + 1]: the entries a, c of step k), prefetching
 * the rows nx[0..7] (the next call's, of nlen entries: entry i + 8 at step
 * i, spread over the walk; taking them all at once, or at 2 i, measured
 * slower) */
#define KW_BUF_STEPS() \
    do { \
        for (; i + 4 <= s1; i += 4) { \
            if (nx != NULL) { \
                ptrdiff_t o_ = i + 8 < nlen ? i + 8 : nlen - 1; \
                int l_; \
                for (l_ = 0; l_ < 8; l_++) \
                    __builtin_prefetch(nx[l_] + o_); \
            } \
            a = buf[2 * i]; c = buf[2 * i + 1]; KW_STEP(i); \
            a = buf[2 * i + 2]; c = buf[2 * i + 3]; KW_STEP(i + 1); \
            a = buf[2 * i + 4]; c = buf[2 * i + 5]; KW_STEP(i + 2); \
            a = buf[2 * i + 6]; c = buf[2 * i + 7]; KW_STEP(i + 3); \
        } \
        for (; i < s1; i++) { \
            a = buf[2 * i]; c = buf[2 * i + 1]; KW_STEP(i); \
        } \
    } while (0)

/* Pass 2 of four lanes: lane l walks len steps of its p, q (from pp[l],
 * qq[l]) and gaps xx[l][i + 1] - xx[l][i] (1 if x is NULL), from the dd
 * running difference (*Dh, *Dl), with the dd pair scales (mph + mpl, mqh +
 * mql); adds sum |D| dx in blocks of 64 steps to the dd totals (*Th, *Tl)
 * and leaves D at the end in (*Dh, *Dl).  Contiguous rows on one support
 * take transposed loads, with the same operations in the same order. */
#define KW_DEFINE_WALK4(NAME, T) \
static inline void NAME(const T *const *pp, ptrdiff_t ps, const T *const *qq, \
                        ptrdiff_t qs, const double *x, const double *const *xx, \
                        ptrdiff_t len, kw_v4 mph, kw_v4 mpl, kw_v4 mqh, \
                        kw_v4 mql, kw_v4 *Dh_, kw_v4 *Dl_, kw_v4 *Th_, \
                        kw_v4 *Tl_, const kw_v4 *buf, const T *const *nx, \
                        ptrdiff_t nlen) \
{ \
    const T *p0 = pp[0], *p1 = pp[1], *p2 = pp[2], *p3 = pp[3]; \
    const T *q0 = qq[0], *q1 = qq[1], *q2 = qq[2], *q3 = qq[3]; \
    const double *x0 = xx[0], *x1 = xx[1], *x2 = xx[2], *x3 = xx[3]; \
    const kw_v4 z = {0.0, 0.0, 0.0, 0.0}, sp = {KW_SPLIT, KW_SPLIT, KW_SPLIT, KW_SPLIT}; \
    kw_v4 t = sp * mqh, mqs = t - (t - mqh), mqt = mqh - mqs; \
    kw_v4 u = sp * mph, mps = u - (u - mph), mpt = mph - mps; \
    kw_v4 Dh = *Dh_, Dl = *Dl_, Th = *Th_, Tl = *Tl_; \
    kw_v4 a, c, e, b, ah, ae, ch, ce, d, de, dx, A[4], C[4]; \
    const int contig = ps == 1 && qs == 1 && x0 == x1 && x1 == x2 && x2 == x3; \
    ptrdiff_t i, s0, s1; \
    for (s0 = 0; s0 < len; s0 += 64) { \
        s1 = s0 + 64 < len ? s0 + 64 : len; \
        b = z; \
        i = s0; \
        if (buf != NULL && x == NULL) { \
            KW_BUF_STEPS(); \
        } else if (buf != NULL) { \
            KW_BUF_STEPS(); \
        } else if (contig) { \
            for (; i + 4 <= s1; i += 4) { \
                kw_load4x4_##T(pp, i, A); \
                kw_load4x4_##T(qq, i, C); \
                a = A[0]; c = C[0]; KW_STEP(i); \
                a = A[1]; c = C[1]; KW_STEP(i + 1); \
                a = A[2]; c = C[2]; KW_STEP(i + 2); \
                a = A[3]; c = C[3]; KW_STEP(i + 3); \
            } \
        } \
        for (; i < s1; i++) { \
            a = (kw_v4){(double)p0[i * ps], (double)p1[i * ps], \
                        (double)p2[i * ps], (double)p3[i * ps]}; \
            c = (kw_v4){(double)q0[i * qs], (double)q1[i * qs], \
                        (double)q2[i * qs], (double)q3[i * qs]}; \
            KW_STEP(i); \
        } \
        Th = kw_v4_two_sum(Th, b, &e); Tl += e; \
        Dh = kw_v4_two_sum(Dh, Dl, &Dl); \
    } \
    *Dh_ = Dh; *Dl_ = Dl; *Th_ = Th; *Tl_ = Tl; \
}

/* 2**-e for the e of frexp(hi) (hi = f 2**e, 0.5 <= f < 1), from the bits
 * (frexp and ldexp are libc calls): hi normal with -1020 <= e <= 997 here,
 * so the result is normal too */
static inline double kw_pow2_inv(double hi)
{
    uint64_t b;
    double r;
    memcpy(&b, &hi, 8);
    b = (uint64_t)(2045 - (int64_t)((b >> 52) & 0x7ff)) << 52;
    memcpy(&r, &b, 8);
    return r;
}

/* The pair scales of one row: mp, mq = the dd sums times one power of two,
 * K = sp mq (dd).  Returns a status for normalize; unnormalised rows get
 * mp = mq = K = 1. */
static inline int kw_scales(double SPh, double SPl, double SQh, double SQl,
                            int normalize, double *m)
{
    double sc;
    m[0] = 1.0; m[1] = 0.0; m[2] = 1.0; m[3] = 0.0; m[4] = 1.0; m[5] = 0.0;
    if (!(fabs(SPh) < INFINITY && fabs(SQh) < INFINITY))
        return KW_PLAIN;   /* NaN or inf entry, or an overflowing sum */
    if (normalize) {
        double lo = SPh < SQh ? SPh : SQh, hi = SPh < SQh ? SQh : SPh;
        if (SPh == 0.0) return KW_ZERO_P;
        if (SQh == 0.0) return KW_ZERO_Q;
        if (!(lo >= KW_SAFE_LO && lo >= hi * KW_SAFE_LO && hi < KW_SAFE_HI))
            return KW_RESCALE;
        sc = kw_pow2_inv(hi);
        m[0] = SPh * sc; m[1] = SPl * sc;
        m[2] = SQh * sc; m[3] = SQl * sc;
        kw_dd_mul(SPh, SPl, m[2], m[3], &m[4], &m[5]);
    } else if (!(SPh < KW_SAFE_HI && SQh < KW_SAFE_HI)) {
        return KW_PLAIN;
    }
    return KW_OK;
}

/* kw_dd_add(0, 0, bh, bl) in four lanes (the renormalised bh + bl) */
static inline void kw_v4_renorm0(kw_v4 bh, kw_v4 bl, kw_v4 *rh, kw_v4 *rl)
{
    const kw_v4 z = {0.0, 0.0, 0.0, 0.0};
    kw_v4 e, s = kw_v4_two_sum(z, bh, &e);
    e += z + bl;
    *rh = kw_v4_two_sum(s, e, rl);
}

static inline kw_v4 kw_v4_select(kw_v4i m, kw_v4 a, kw_v4 b)
{
    return (kw_v4)((m & (kw_v4i)a) | (~m & (kw_v4i)b));
}

/* The four lanes' renormalised sums and kw_scales, as the scalar code
 * computes them (the same operations on each lane), when every lane is
 * KW_OK: returns 1 and the pair scales mp = *mph + *mpl, mq = *mqh + *mql,
 * K = *Kh + *Kl; 0 (nothing written) if a lane has another status. */
static inline int kw_v4_scales(kw_v4 sph, kw_v4 spl, kw_v4 sqh, kw_v4 sql,
                               kw_v4i negp, kw_v4i negq, int normalize,
                               kw_v4 *mph, kw_v4 *mpl, kw_v4 *mqh, kw_v4 *mql,
                               kw_v4 *Kh, kw_v4 *Kl)
{
    const kw_v4 inf = {INFINITY, INFINITY, INFINITY, INFINITY};
    const kw_v4 safe_lo = {KW_SAFE_LO, KW_SAFE_LO, KW_SAFE_LO, KW_SAFE_LO};
    const kw_v4 safe_hi = {KW_SAFE_HI, KW_SAFE_HI, KW_SAFE_HI, KW_SAFE_HI};
    const kw_v4 one = {1.0, 1.0, 1.0, 1.0}, z = {0.0, 0.0, 0.0, 0.0};
    const kw_v4 sp = {KW_SPLIT, KW_SPLIT, KW_SPLIT, KW_SPLIT};
    const kw_v4i e_mask = {0x7ff, 0x7ff, 0x7ff, 0x7ff};
    const kw_v4i e_bias = {2045, 2045, 2045, 2045};
    kw_v4 sh, sl, qh, ql, lo, hi, sc, m2, m3, u, bh, bl, e, p;
    kw_v4i ok, lt;
    kw_v4_renorm0(sph, spl, &sh, &sl);
    kw_v4_renorm0(sqh, sql, &qh, &ql);
    ok = (negp == 0) & (negq == 0) & (kw_v4_abs(sh) < inf) & (kw_v4_abs(qh) < inf);
    if (!normalize) {
        ok &= (sh < safe_hi) & (qh < safe_hi);
        if (!(ok[0] & ok[1] & ok[2] & ok[3]))
            return 0;
        *mph = *mqh = *Kh = one;
        *mpl = *mql = *Kl = z;
        return 1;
    }
    lt = sh < qh;
    lo = kw_v4_select(lt, sh, qh);
    hi = kw_v4_select(lt, qh, sh);
    ok &= (lo >= safe_lo) & (lo >= hi * safe_lo) & (hi < safe_hi);
    if (!(ok[0] & ok[1] & ok[2] & ok[3]))
        return 0;
    /* kw_pow2_inv lane by lane */
    sc = (kw_v4)((e_bias - (((kw_v4i)hi >> 52) & e_mask)) << 52);
    *mph = sh * sc; *mpl = sl * sc;
    m2 = qh * sc; m3 = ql * sc;
    *mqh = m2; *mql = m3;
    /* kw_dd_mul(sh, sl, m2, m3) */
    u = sp * m2; bh = u - (u - m2); bl = m2 - bh;
    p = kw_v4_two_prod(sh, m2, bh, bl, &e);
    e += sh * m3 + sl * m2;
    *Kh = kw_v4_two_sum(p, e, Kl);
    return 1;
}

/* kw_dd_add(0, 0, Th, Tl) then kw_dd_div(..., Kh, Kl), lane by lane: the
 * rounded quotient */
static inline kw_v4 kw_v4_finish(kw_v4 Th, kw_v4 Tl, kw_v4 Kh, kw_v4 Kl)
{
    const kw_v4 safe_hi = {KW_SAFE_HI, KW_SAFE_HI, KW_SAFE_HI, KW_SAFE_HI};
    const kw_v4 sp = {KW_SPLIT, KW_SPLIT, KW_SPLIT, KW_SPLIT};
    kw_v4 Rh, Rl, q1, p, e, r, u, bh, bl;
    kw_v4_renorm0(Th, Tl, &Rh, &Rl);
    q1 = Rh / Kh;
    u = sp * Kh; bh = u - (u - Kh); bl = Kh - bh;
    p = kw_v4_two_prod(q1, Kh, bh, bl, &e);
    r = (((Rh - p) - e) + Rl) - q1 * Kl;
    return kw_v4_select((kw_v4_abs(q1) < safe_hi) & (kw_v4_abs(Kh) < safe_hi),
                        q1 + r / Kh, q1);
}

/* Row status codes are those of src/_codes.pxd (0-5), and KW_PLAIN: a NaN
 * or infinite entry, or normalize = 0 with sums beyond 2**996 (the caller
 * takes the plain walk, which has the edge values).  KW_RESCALE: normalize
 * with sums out of the pair scales' range or beyond 2**996 (the caller
 * rescales the row by a power of two).
 *
 * kw_hist_*: one row, its steps in four segments side by side (long rows).
 * IN: p, q with element strides ps, qs, x: n sorted positions or NULL
 * (0, 1, ...), n >= 1, normalize.  OUT: *res when KW_OK.
 *
 * kw_hist4_*: four rows side by side, each walked from its start (short
 * rows): IN: row pointers pp[4], qq[4] (equal pointers for fewer rows);
 * buf: scratch of 2 n vectors, or NULL (the walk then reads the rows again,
 * transposing them again: the same values); nx: NULL, or sixteen row
 * pointers of n entries: the p rows, then the q rows, of the caller's next
 * call (nx[0..7], prefetched into L1 during the walk) and of the call after
 * it (nx[8..15], into L2 during the sums pass).  Rows that come from memory
 * otherwise arrive one cache miss at a time in the sums pass (C harness,
 * 1e4 x 100 rows flushed from the caches before each call: 290 ns/row
 * without prefetches, 183 with the walk's, 159 with both; 125 in cache).
 * OUT: res[4], st[4].  A row's value depends only on the row and n, never
 * on the rows beside it. */
#define KW_DEFINE_HIST(NAME, NAME4, SUMS4, WALK4, T)                           \
KW_DEFINE_SUMS4(SUMS4, T)                                                      \
KW_DEFINE_WALK4(WALK4, T)                                                      \
static int NAME(const T *p, ptrdiff_t ps, const T *q, ptrdiff_t qs,            \
                const double *x, ptrdiff_t n, int normalize, double *res)      \
{                                                                              \
    const ptrdiff_t steps = n - 1, L = steps > 0 ? steps / 4 : 0;              \
    const T *pp[4] = {p, p + L * ps, p + 2 * L * ps, p + 3 * L * ps};          \
    const T *qq[4] = {q, q + L * qs, q + 2 * L * qs, q + 3 * L * qs};          \
    const double *xx[4] = {x, x + L, x + 2 * L, x + 3 * L};                    \
    const kw_v4 z = {0.0, 0.0, 0.0, 0.0};                                      \
    kw_v4 sph, spl, sqh, sql;                                                  \
    kw_v4i negp, negq;                                                         \
    double tph = 0.0, tpl = 0.0, tqh = 0.0, tql = 0.0, te, ta, tc, m[6];       \
    int negp1 = 0, negq1 = 0, l, st;                                           \
    ptrdiff_t i;                                                               \
    if (x == NULL) xx[0] = xx[1] = xx[2] = xx[3] = NULL;                       \
    SUMS4(pp, ps, qq, qs, L, &sph, &spl, &sqh, &sql, &negp, &negq, NULL, NULL); \
    for (i = 4 * L; i < n; i++) {                                              \
        ta = (double)p[i * ps];                                                \
        tc = (double)q[i * qs];                                                \
        negp1 |= ta < 0.0;                                                     \
        negq1 |= tc < 0.0;                                                     \
        tph = kw_two_sum(tph, ta, &te); tpl += te;                             \
        tqh = kw_two_sum(tqh, tc, &te); tql += te;                             \
    }                                                                          \
    for (l = 0; l < 4; l++) {                                                  \
        negp1 |= negp[l] != 0;                                                 \
        negq1 |= negq[l] != 0;                                                 \
    }                                                                          \
    if (negp1) return KW_NEG_P;                                                \
    if (negq1) return KW_NEG_Q;                                                \
    /* totals, segment by segment in axis order */                             \
    double SPh = 0.0, SPl = 0.0, SQh = 0.0, SQl = 0.0;                         \
    double bph[4], bpl[4], bqh[4], bql[4];                                     \
    for (l = 0; l < 4; l++) {                                                  \
        bph[l] = SPh; bpl[l] = SPl; bqh[l] = SQh; bql[l] = SQl;                \
        kw_dd_add(SPh, SPl, sph[l], spl[l], &SPh, &SPl);                       \
        kw_dd_add(SQh, SQl, sqh[l], sql[l], &SQh, &SQl);                       \
    }                                                                          \
    kw_dd_add(SPh, SPl, tph, tpl, &SPh, &SPl);                                 \
    kw_dd_add(SQh, SQl, tqh, tql, &SQh, &SQl);                                 \
    st = kw_scales(SPh, SPl, SQh, SQl, normalize, m);                          \
    if (st != KW_OK) return st;                                                \
    if (steps <= 0) { *res = 0.0; return KW_OK; }                              \
    /* D at each segment's start: (P before) mq - (Q before) mp, as dd */      \
    kw_v4 Dh, Dl, Th = z, Tl = z;                                              \
    for (l = 0; l < 4; l++) {                                                  \
        double xh, xl, yh, yl;                                                 \
        kw_dd_mul(bph[l], bpl[l], m[2], m[3], &xh, &xl);                       \
        kw_dd_mul(bqh[l], bql[l], m[0], m[1], &yh, &yl);                       \
        kw_dd_add(xh, xl, -yh, -yl, &xh, &xl);                                 \
        Dh[l] = xh; Dl[l] = xl;                                                \
    }                                                                          \
    WALK4(pp, ps, qq, qs, x, xx, L, (kw_v4){m[0], m[0], m[0], m[0]},           \
          (kw_v4){m[1], m[1], m[1], m[1]}, (kw_v4){m[2], m[2], m[2], m[2]},    \
          (kw_v4){m[3], m[3], m[3], m[3]}, &Dh, &Dl, &Th, &Tl, NULL, NULL, 0); \
    /* the last steps, from lane 3's end, in scalar */                         \
    double dh = Dh[3], dl = Dl[3], th, tl, bb = 0.0;                           \
    for (i = 4 * L; i < steps; i++) {                                          \
        double fa = (double)p[i * ps], fc = (double)q[i * qs], fh, fe, gh, ge, \
               dd, dde, v;                                                     \
        fh = kw_two_prod(fa, m[2], &fe);                                       \
        gh = kw_two_prod(fc, m[0], &ge);                                       \
        dd = kw_two_sum(fh, -gh, &dde);                                        \
        dde += (fe - ge) + (fa * m[3] - fc * m[1]);                            \
        dh = kw_two_sum(dh, dd, &te);                                          \
        dl += te + dde;                                                        \
        v = fabs(dh + dl);                                                     \
        bb += x == NULL ? v : v * (x[i + 1] - x[i]);                           \
    }                                                                          \
    th = kw_two_sum(0.0, bb, &tl);                                             \
    /* total over the lanes in axis order, then the tail */                    \
    double Rh = 0.0, Rl = 0.0;                                                 \
    for (l = 0; l < 4; l++)                                                    \
        kw_dd_add(Rh, Rl, Th[l], Tl[l], &Rh, &Rl);                             \
    kw_dd_add(Rh, Rl, th, tl, &Rh, &Rl);                                       \
    kw_dd_div(Rh, Rl, m[4], m[5], &Rh, &Rl);                                   \
    *res = Rh;                                                                 \
    return KW_OK;                                                              \
}                                                                              \
static void NAME4(const T *const *pp, ptrdiff_t ps, const T *const *qq,        \
                  ptrdiff_t qs, const double *x, ptrdiff_t n, int normalize,   \
                  double *res, int *st, kw_v4 *buf, const T *const *nx)        \
{                                                                              \
    const double *xx[4] = {x, x, x, x};                                        \
    const kw_v4 z = {0.0, 0.0, 0.0, 0.0};                                      \
    kw_v4 sph, spl, sqh, sql, mph, mpl, mqh, mql, Dh = z, Dl = z, Th = z, Tl = z; \
    kw_v4 Kh;                                                                  \
    kw_v4i negp, negq;                                                         \
    double m[6];                                                               \
    int l;                                                                     \
    SUMS4(pp, ps, qq, qs, n, &sph, &spl, &sqh, &sql, &negp, &negq, buf, nx);   \
    if (kw_v4_scales(sph, spl, sqh, sql, negp, negq, normalize,                \
                     &mph, &mpl, &mqh, &mql, &Kh, &Th)) {                      \
        st[0] = st[1] = st[2] = st[3] = KW_OK;                                 \
    } else for (l = 0; l < 4; l++) {                                           \
        double sh, sl, qh_, ql_;                                               \
        /* renormalised, as the one-row path's totals */                       \
        kw_dd_add(0.0, 0.0, sph[l], spl[l], &sh, &sl);                         \
        kw_dd_add(0.0, 0.0, sqh[l], sql[l], &qh_, &ql_);                       \
        st[l] = negp[l] ? KW_NEG_P : negq[l] ? KW_NEG_Q                        \
                : kw_scales(sh, sl, qh_, ql_, normalize, m);                   \
        if (st[l] != KW_OK) { m[0] = m[2] = m[4] = 1.0; m[1] = m[3] = m[5] = 0.0; } \
        mph[l] = m[0]; mpl[l] = m[1]; mqh[l] = m[2]; mql[l] = m[3];            \
        Kh[l] = m[4];                                                          \
        Th[l] = m[5];                                                          \
    }                                                                          \
    kw_v4 Kl = Th;                                                             \
    Th = z;                                                                    \
    if (n > 1)                                                                 \
        WALK4(pp, ps, qq, qs, x, xx, n - 1, mph, mpl, mqh, mql, &Dh, &Dl, &Th, &Tl, \
              buf, nx, n);                                                     \
    Th = kw_v4_finish(Th, Tl, Kh, Kl);                                         \
    for (l = 0; l < 4; l++)                                                    \
        res[l] = Th[l];                                                        \
}

KW_DEFINE_HIST(kw_hist_d, kw_hist4_d, kw_sums4_d, kw_walk4_d, double)
KW_DEFINE_HIST(kw_hist_f, kw_hist4_f, kw_sums4_f, kw_walk4_f, float)

/* One chunk of a histogram row split along its axis (kl_ext.chunked
 * hist_pieces): steps steps of the walk from the running difference
 * d0h + d0l, with the row's pair scales mp = mph + mpl, mq = mqh + mql (dd
 * values, as kw_scales gives them), exact products and a dd running
 * difference as above, one thread of scalar code; x: steps + 1 positions or
 * NULL.  Returns sum |D_k| dx_k, in blocks of 64 folded into a dd total,
 * rounded once. */
#define KW_DEFINE_CHUNK(NAME, T) \
static double NAME(const T *p, ptrdiff_t ps, const T *q, ptrdiff_t qs, \
                   const double *x, ptrdiff_t steps, double mph, double mpl, \
                   double mqh, double mql, double d0h, double d0l) \
{ \
    double dh = d0h, dl = d0l, th = 0.0, tl = 0.0, b, e; \
    ptrdiff_t i, s0, s1; \
    for (s0 = 0; s0 < steps; s0 += 64) { \
        s1 = s0 + 64 < steps ? s0 + 64 : steps; \
        b = 0.0; \
        for (i = s0; i < s1; i++) { \
            double fa = (double)p[i * ps], fc = (double)q[i * qs], fe, ge, dd, dde, v; \
            double fh = kw_two_prod(fa, mqh, &fe), gh = kw_two_prod(fc, mph, &ge); \
            dd = kw_two_sum(fh, -gh, &dde); \
            dde += (fe - ge) + (fa * mql - fc * mpl); \
            dh = kw_two_sum(dh, dd, &e); \
            dl += e + dde; \
            v = fabs(dh + dl); \
            b += x == NULL ? v : v * (x[i + 1] - x[i]); \
        } \
        th = kw_two_sum(th, b, &e); tl += e; \
        dh = kw_two_sum(dh, dl, &dl); \
    } \
    return th + tl; \
}

KW_DEFINE_CHUNK(kw_hist_chunk_d, double)
KW_DEFINE_CHUNK(kw_hist_chunk_f, float)

/* ---------------- the weighted quantile walk ---------------- */

/* One segment of the weighted quantile walk of src/_wasserstein.pyx
 * (quantile_weighted splits the walk into fixed segments; see split_walk
 * there).  IN: sorted values u (n, stride us), v (m, stride vs); their
 * normalised cumulative weights as double-doubles tu + tul (n), tv + tvl
 * (m), nondecreasing, ending at exactly 1; the segment's start (i, j) and
 * end (ie, je); mode 1 (p = 1), 2 (p = 2), 3 (|d sc|^p by pow), 4 (inf).
 *
 * The merge of the breakpoints: the sample pair (i, j) is matched on
 * [prev, min(tu_i, tv_j)), prev being the breakpoint of the step before
 * (at the start, the larger of tu[i - 1], tv[j - 1], or 0); a step takes i
 * on if tu_i <= tv_j and j on if tv_j <= tu_i (dd order, both at equal
 * breakpoints).  Its mass is the dd difference min - prev rounded once
 * (accurate to ~eps relative however long the walk); a step of mass <= 0
 * (zero weights, equal breakpoints) adds nothing, so a weight-0 sample
 * never contributes, not even a NaN from inf - inf.  Steps run while (i <
 * ie or j < je) and i < n and j < m.  Returns the sum of mass |d sc|^p
 * over the segment in blocks of 64 steps folded into a Neumaier total
 * (order inf: the largest |d| of a step of positive mass, NaN if one is).
 *
 * Branch-free: the order of random breakpoints defeats a branch predictor,
 * so the merge decides on the bit patterns of the hi parts (non-negative
 * doubles order as their bits; lo parts only break the rare ties, in a
 * branch) and selects with masks, and prev is the step before's
 * breakpoint, so the only chain from step to step is i, j and their two
 * loads (~3.5x faster than a walk with branches at 1e6 + 1e6).  An unsorted
 * input gives a wrong number, never an endless loop or a read out of
 * bounds: every step takes i or j on, and i < n, j < m at every read. */
static inline uint64_t kw_bits(double x) { uint64_t b; memcpy(&b, &x, 8); return b; }
static inline double kw_dbl(uint64_t b) { double x; memcpy(&x, &b, 8); return x; }

static inline void kw_kahan_add(double *s, double *c, double x)
{
    double t = *s + x;
    if (fabs(*s) >= fabs(x))
        *c += (*s - t) + x;
    else
        *c += (x - t) + *s;
    *s = t;
}

#define KW_DEFINE_QSEG(NAME, T)                                                \
static inline __attribute__((always_inline)) double NAME##_body(               \
    const T *u, ptrdiff_t us, ptrdiff_t n, const T *v, ptrdiff_t vs,           \
    ptrdiff_t m, const double *tu, const double *tul, const double *tv,        \
    const double *tvl, ptrdiff_t i, ptrdiff_t j, ptrdiff_t ie, ptrdiff_t je,   \
    const int MODE, double p, double sc)                                       \
{                                                                              \
    const uint64_t *tub = (const uint64_t *)tu, *tvb = (const uint64_t *)tv;   \
    double ph = 0.0, pl = 0.0, t = 0.0, tc = 0.0, mx = 0.0, b;                 \
    uint64_t nan_ = 0;                                                         \
    int k;                                                                     \
    if (i > 0 && (j == 0 || tv[j - 1] < tu[i - 1]                              \
                  || (tv[j - 1] == tu[i - 1] && tvl[j - 1] <= tul[i - 1]))) {  \
        ph = tu[i - 1]; pl = tul[i - 1];                                       \
    } else if (j > 0) {                                                        \
        ph = tv[j - 1]; pl = tvl[j - 1];                                       \
    }                                                                          \
    while ((i < ie || j < je) && i < n && j < m) {                             \
        b = 0.0;                                                               \
        for (k = 0; k < 64; k++) {                                             \
            uint64_t ab = tub[i], cb = tvb[j];                                 \
            ptrdiff_t ule = ab < cb, vle = cb < ab;                            \
            if (__builtin_expect(ab == cb, 0)) {                               \
                ule = tul[i] <= tvl[j];                                        \
                vle = tvl[j] <= tul[i];                                        \
                if (!(ule | vle))   /* (NaN: never here; no endless loop) */   \
                    ule = vle = 1;                                             \
            }                                                                  \
            uint64_t mu = -(uint64_t)ule;                                      \
            uintptr_t qa = (uintptr_t)(tul + i), qc = (uintptr_t)(tvl + j);    \
            double eh = kw_dbl(cb ^ ((ab ^ cb) & mu));                         \
            double el = *(const double *)(qc ^ ((qa ^ qc) & (uintptr_t)mu));   \
            double mass = kw_dd_diff(eh, el, ph, pl);                          \
            uint64_t pos = -(uint64_t)(mass > 0.0);                            \
            double d = fabs((double)u[i * us] - (double)v[j * vs]);            \
            if (MODE == 4) {                                                   \
                uint64_t up = pos & -(uint64_t)(d > mx);                       \
                nan_ |= pos & (uint64_t)(d != d);                              \
                mx = kw_dbl(kw_bits(mx) ^ ((kw_bits(mx) ^ kw_bits(d)) & up));  \
            } else {                                                           \
                double x = d * sc;                                             \
                x = MODE == 1 ? x : MODE == 2 ? x * x : pow(x, p);             \
                b += kw_dbl(kw_bits(mass * x) & pos);                          \
            }                                                                  \
            ph = eh;                                                           \
            pl = el;                                                           \
            i += ule;                                                          \
            j += vle;                                                          \
            if (!((i < ie || j < je) && i < n && j < m))                       \
                break;                                                         \
        }                                                                      \
        kw_kahan_add(&t, &tc, b);                                              \
    }                                                                          \
    if (MODE == 4)                                                             \
        return nan_ ? NAN : mx;                                                \
    return t - t != 0.0 ? t : t + tc;   /* (inf, NaN: as they are) */          \
}                                                                              \
static double NAME(const T *u, ptrdiff_t us, ptrdiff_t n, const T *v,          \
                   ptrdiff_t vs, ptrdiff_t m, const double *tu,                \
                   const double *tul, const double *tv, const double *tvl,     \
                   ptrdiff_t i, ptrdiff_t j, ptrdiff_t ie, ptrdiff_t je,       \
                   int mode, double p, double sc)                              \
{                                                                              \
    if (us == 1 && vs == 1 && mode == 1)                                       \
        return NAME##_body(u, 1, n, v, 1, m, tu, tul, tv, tvl, i, j, ie, je,   \
                           1, p, sc);                                          \
    if (us == 1 && vs == 1 && mode == 2)                                       \
        return NAME##_body(u, 1, n, v, 1, m, tu, tul, tv, tvl, i, j, ie, je,   \
                           2, p, sc);                                          \
    if (mode == 1)                                                             \
        return NAME##_body(u, us, n, v, vs, m, tu, tul, tv, tvl, i, j, ie, je, \
                           1, p, sc);                                          \
    if (mode == 2)                                                             \
        return NAME##_body(u, us, n, v, vs, m, tu, tul, tv, tvl, i, j, ie, je, \
                           2, p, sc);                                          \
    if (mode == 4)                                                             \
        return NAME##_body(u, us, n, v, vs, m, tu, tul, tv, tvl, i, j, ie, je, \
                           4, p, sc);                                          \
    return NAME##_body(u, us, n, v, vs, m, tu, tul, tv, tvl, i, j, ie, je, 3,  \
                       p, sc);                                                 \
}

KW_DEFINE_QSEG(kw_qseg_d, double)
KW_DEFINE_QSEG(kw_qseg_f, float)

#endif
