/* The last group of a short row (issue 14: one call on ~10 elements).
 *
 * A row of 9 to 16 elements runs the kernels' lanes over two groups of 8,
 * the second zero-padded: at n = 10 it holds 2 entries and 6 zeros, whose
 * terms (0 for every measure at x = y = 0) and sums (+0.0) change no lane:
 * a lane sum starts at +0.0, so it is never -0.0, and s + 0.0 == s.  The
 * functions below run that group's fused loop over its first W lanes only
 * (W = 2 or 4 >= the entries present; W lanes are 128- or 256-bit vectors,
 * half or a quarter of the 512-bit work of all 8 on v4), with the same
 * element expressions (the terms of _vmath.h) and the same additions in
 * the same order, so every lane ends bit for bit as the full group leaves
 * it: each operation is rounded alone (-ffp-contract=off), whatever the
 * vector width.  Same contract as the full-group loops: sums always
 * updated, terms only if every entry lies in the domain (return 0).
 *
 * This holds only where the tail computes its terms with the same
 * expressions as the full group: v4's JS and Jeffreys groups use the
 * intrinsic terms kl_v8term_js, kl_v8term_jeffreys, so its tails use the
 * same terms on 2 or 4 lanes (kl_v2term_*, kl_v4term_*: AVX-512VL, the same
 * instructions lane by lane); v4's KL term has no such tail yet, so that
 * tier turns the KL tail off (KL_SHORT_TAIL_KL 0);
 * tests/test_front_properties.py compares every short row with the
 * same row in a batch, which would catch a mismatch.
 */
#ifndef KL_EXT_SHORT_H
#define KL_EXT_SHORT_H

#include "_vmath.h"

/* 1 where the KL tail below is the full group's arithmetic (not v4) */
#if KL_V8
#define KL_SHORT_TAIL_KL 0
#else
#define KL_SHORT_TAIL_KL 1
#endif
/* sums and terms of a one-pass measure (KL_FUSED_BLOCK over W lanes) */
#define KL_TAIL_BLOCK(NAME, W, TERM)                                           \
static inline __attribute__((always_inline)) int64_t                            \
NAME(const double *x, const double *y, double *sp, double *sq, double *st)      \
{                                                                               \
    double la[W], lb[W], lt[W];                                                 \
    kl_bad_t lbad[W];                                                           \
    for (int j = 0; j < W; j++) {                                               \
        la[j] = sp[j];                                                          \
        lb[j] = sq[j];                                                          \
        lt[j] = st[j];                                                          \
        lbad[j] = 0;                                                            \
    }                                                                           \
    for (int j = 0; j < W; j++) {                                               \
        double u = x[j], v = y[j];                                              \
        la[j] += u;                                                             \
        lb[j] += v;                                                             \
        KL_BAD_ADD(lbad[j], KL_BAD2(u, v));                                     \
        lt[j] += TERM;                                                          \
    }                                                                           \
    kl_bad_t bad = 0;                                                           \
    for (int j = 0; j < W; j++) {                                               \
        sp[j] = la[j];                                                          \
        sq[j] = lb[j];                                                          \
        KL_BAD_ADD(bad, lbad[j]);                                               \
    }                                                                           \
    if (!bad)                                                                   \
        for (int j = 0; j < W; j++)                                             \
            st[j] = lt[j];                                                      \
    return (int64_t)(bad != 0);                                                 \
}

/* terms of JS or Jeffreys at x0 * mq, y0 * mp (KL_FUSED_PAIR over W lanes) */
#define KL_TAIL_PAIR(NAME, W, TERM, ZC)                                        \
static inline __attribute__((always_inline)) int64_t                            \
NAME(const double *x0, const double *y0, double mp, double mq, double *st)      \
{                                                                               \
    double lt[W];                                                               \
    kl_bad_t lbad[W];                                                           \
    for (int j = 0; j < W; j++) {                                               \
        lt[j] = st[j];                                                          \
        lbad[j] = 0;                                                            \
    }                                                                           \
    for (int j = 0; j < W; j++) {                                               \
        double u = x0[j] * mq, v = y0[j] * mp;                                  \
        KL_BAD_ADD(lbad[j], (ZC) ? KL_BAD2Z(x0[j], u, y0[j], v) : KL_BAD2(u, v)); \
        lt[j] += TERM;                                                          \
    }                                                                           \
    kl_bad_t bad = 0;                                                           \
    for (int j = 0; j < W; j++)                                                 \
        KL_BAD_ADD(bad, lbad[j]);                                               \
    if (!bad)                                                                   \
        for (int j = 0; j < W; j++)                                             \
            st[j] = lt[j];                                                      \
    return (int64_t)(bad != 0);                                                 \
}

/* Hellinger's terms (lanes_pair's loop, no domain test) over W lanes */
#define KL_TAIL_HELLINGER(NAME, W)                                             \
static inline __attribute__((always_inline)) void                               \
NAME(const double *x0, const double *y0, double mp, double mq, double *st)      \
{                                                                               \
    double lt[W];                                                               \
    for (int j = 0; j < W; j++)                                                 \
        lt[j] = st[j];                                                          \
    for (int j = 0; j < W; j++)                                                 \
        lt[j] += kl_vterm_hellinger(x0[j] * mq, y0[j] * mp);                    \
    for (int j = 0; j < W; j++)                                                 \
        st[j] = lt[j];                                                          \
}

KL_TAIL_BLOCK(kl_tail2_kl, 2, kl_vterm_kl(u, v))
KL_TAIL_BLOCK(kl_tail4_kl, 4, kl_vterm_kl(u, v))
#if KL_V8
/* v4: KL_TAIL_PAIR with the intrinsic term TERMV on a W-lane vector VT
   (prefix P); the domain test of the same products, lane by lane */
#define KL_TAIL_PAIR_V(NAME, W, VT, P, TERMV, ZC)                              \
static inline __attribute__((always_inline)) int64_t                            \
NAME(const double *x0, const double *y0, double mp, double mq, double *st)      \
{                                                                               \
    uint64_t bad = 0;                                                           \
    for (int j = 0; j < W; j++) {                                               \
        bad |= kl_vbad(x0[j] * mq) | kl_vbad(y0[j] * mp);                       \
        if (ZC)                                                                 \
            bad |= kl_vzero_uf(x0[j], x0[j] * mq) | kl_vzero_uf(y0[j], y0[j] * mp); \
    }                                                                           \
    if (bad)                                                                    \
        return 1;                                                               \
    VT u = P##_mul_pd(P##_loadu_pd(x0), P##_set1_pd(mq));                       \
    VT v = P##_mul_pd(P##_loadu_pd(y0), P##_set1_pd(mp));                       \
    P##_storeu_pd(st, P##_add_pd(P##_loadu_pd(st), TERMV(u, v)));               \
    return 0;                                                                   \
}
KL_TAIL_PAIR_V(kl_tail2_js, 2, __m128d, _mm, kl_v2term_js, 0)
KL_TAIL_PAIR_V(kl_tail4_js, 4, __m256d, _mm256, kl_v4term_js, 0)
KL_TAIL_PAIR_V(kl_tail2_jeffreys, 2, __m128d, _mm, kl_v2term_jeffreys, 1)
KL_TAIL_PAIR_V(kl_tail4_jeffreys, 4, __m256d, _mm256, kl_v4term_jeffreys, 1)
/* the same tails of a clean row (KL_PAIR_CLEAN: every product in the
   domain, and none of a nonzero entry is 0), without the test: the same
   terms */
#define KL_TAIL_PAIR_CLEAN_V(NAME, W, VT, P, TERMV)                            \
static inline __attribute__((always_inline)) int64_t                            \
NAME(const double *x0, const double *y0, double mp, double mq, double *st)      \
{                                                                               \
    VT u = P##_mul_pd(P##_loadu_pd(x0), P##_set1_pd(mq));                       \
    VT v = P##_mul_pd(P##_loadu_pd(y0), P##_set1_pd(mp));                       \
    P##_storeu_pd(st, P##_add_pd(P##_loadu_pd(st), TERMV(u, v)));               \
    return 0;                                                                   \
}
KL_TAIL_PAIR_CLEAN_V(kl_tail2_js_clean, 2, __m128d, _mm, kl_v2term_js)
KL_TAIL_PAIR_CLEAN_V(kl_tail4_js_clean, 4, __m256d, _mm256, kl_v4term_js)
KL_TAIL_PAIR_CLEAN_V(kl_tail2_jeffreys_clean, 2, __m128d, _mm, kl_v2term_jeffreys)
KL_TAIL_PAIR_CLEAN_V(kl_tail4_jeffreys_clean, 4, __m256d, _mm256, kl_v4term_jeffreys)
#else
KL_TAIL_PAIR(kl_tail2_js, 2, kl_vterm_js(u, v), 0)
KL_TAIL_PAIR(kl_tail4_js, 4, kl_vterm_js(u, v), 0)
KL_TAIL_PAIR(kl_tail2_jeffreys, 2, kl_vterm_jeffreys(u, v), 1)
KL_TAIL_PAIR(kl_tail4_jeffreys, 4, kl_vterm_jeffreys(u, v), 1)
/* no clean rows here (KL_PAIR_CLEAN 0) */
#define kl_tail2_js_clean kl_tail2_js
#define kl_tail4_js_clean kl_tail4_js
#define kl_tail2_jeffreys_clean kl_tail2_jeffreys
#define kl_tail4_jeffreys_clean kl_tail4_jeffreys
#endif

/* p[0..n) copied to buf[0..16) as doubles, zero-padded (1 <= n <= 16,
   contiguous float64): the short rows' copy.  v4: two masked vector loads
   and stores, which the lanes' vector loads of buf then forward from (16
   scalar stores cannot be forwarded to a vector load, which waits for
   them to reach the cache); elsewhere the plain loop */
static inline __attribute__((always_inline)) void kl_pad16(const double *p, ptrdiff_t n,
                                                           double *buf)
{
#if KL_V8
    uint32_t m = n >= 16 ? 0xFFFFu : (1u << n) - 1u;
    _mm512_storeu_pd(buf, _mm512_maskz_loadu_pd((__mmask8)(m & 0xFF), p));
    _mm512_storeu_pd(buf + 8, _mm512_maskz_loadu_pd((__mmask8)(m >> 8), p + 8));
#else
    for (ptrdiff_t i = 0; i < 16; i++)
        buf[i] = i < n ? p[i] : 0.0;
#endif
}

KL_TAIL_HELLINGER(kl_tail2_hellinger, 2)
KL_TAIL_HELLINGER(kl_tail4_hellinger, 4)
KL_TAIL_HELLINGER(kl_tail8_hellinger, 8)

#endif
