/*
 * Branch-free natural logarithm for the vectorised kl_ext kernels.
 *
 * kl_vlog(x) is valid for *normal, positive, finite* x only (the kernels
 * route zeros, subnormals, infinities, NaN and negatives to their scalar
 * path before calling it).  Written with integer bit operations and
 * selects only, so GCC's vectoriser turns a loop over it into SSE2, AVX2 or
 * AVX-512 code without libmvec and without any fast-math flag.
 *
 * Method (the classic one of Tang and of fdlibm's __ieee754_log): write
 * x = 2^k * m with m in [sqrt(1/2), sqrt(2)), f = m - 1, s = f / (2 + f), so
 * log(m) = log1p(f) = 2 atanh(s) = f - f^2/2 + s (f^2/2 + R(s^2)), where R is
 * a degree-14 minimax polynomial in s (coefficients: the published fdlibm
 * values Lg1..Lg7, error < 2^-58.45); k ln 2 is added in two parts
 * (ln2_hi has trailing zero bits, so k * ln2_hi is exact).  Measured error:
 * below 1 ulp (tests/test_accuracy.py::test_vector_log_within_2_ulp
 * compares -x log x with mpmath in every tier).
 */
#ifndef KL_EXT_VMATH_H
#define KL_EXT_VMATH_H

#include <stdint.h>
#include <string.h>
#include <math.h>
#include <stddef.h>

/* thread count for the OpenMP builds; 1 (and no OpenMP symbol) otherwise */
/* kl_thread_cap: the CPUs this process may run on (its affinity mask and its
   cgroup's CPU quota, computed by kl_ext._threads.cpu_budget and set once at
   import by kl_ext._cpu); 0 means no cap.  OMP_NUM_THREADS and threadpoolctl
   lower the count further through omp_get_max_threads. */
static int kl_thread_cap = 0;
static inline void kl_set_thread_cap(int n) { kl_thread_cap = n > 0 ? n : 0; }
#ifdef _OPENMP
#include <omp.h>
static inline __attribute__((always_inline)) int kl_max_threads(void)
{
    int n = omp_get_max_threads();
    return (kl_thread_cap > 0 && n > kl_thread_cap) ? kl_thread_cap : n;
}
static inline __attribute__((always_inline)) int kl_openmp_enabled(void) { return 1; }
#else
static inline __attribute__((always_inline)) int kl_max_threads(void) { return 1; }
static inline __attribute__((always_inline)) int kl_openmp_enabled(void) { return 0; }
#endif

#ifndef KL_EXT_VECTOR
#define KL_EXT_VECTOR 0
#endif

/* Horner steps: a fused multiply-add in the builds whose ISA has one (the
   v3/v4 tiers; every aarch64 build, whose baseline has FMA), where it is
   both faster and more accurate; a multiply and an add elsewhere (the
   x86-64 baseline).  Used only inside the polynomials below, so results
   that must be exact (e.g. p*mq - q*mp for equal rows) never see an FMA. */
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
#define KL_FMA(a, b, c) __builtin_fma((a), (b), (c))
#else
#define KL_FMA(a, b, c) ((a) * (b) + (c))
#endif

static inline __attribute__((always_inline)) uint64_t kl_as_u64(double x) { uint64_t u; memcpy(&u, &x, 8); return u; }
static inline __attribute__((always_inline)) double kl_as_f64(uint64_t u) { double x; memcpy(&x, &u, 8); return x; }

/* argument reduction of kl_vlog: x = 2^k (1 + f), f in [sqrt(1/2) - 1,
   sqrt(2) - 1), for normal, positive, finite x (other x give finite
   garbage, never a trap).  Integer and double operations only, which GCC
   vectorises for every tier. */
static inline __attribute__((always_inline)) void kl_vreduce(double x, double *f, double *k)
{
    uint64_t u = kl_as_u64(x);
#if defined(__AVX512F__) && defined(__AVX512DQ__)
    /* AVX-512 has 64-bit arithmetic shifts and int64 -> double conversion:
       offset the bits by those of sqrt(1/2), so that the exponent field of
       the difference is k and its mantissa, re-based, is m in
       [sqrt(1/2), sqrt(2)) (5 operations instead of 10) */
    const uint64_t off = 0x3FE6A09E667F3BCDULL;  /* sqrt(1/2), rounded */
    uint64_t t = u - off;
    *k = (double)((int64_t)t >> 52);
    *f = kl_as_f64((t & 0x000FFFFFFFFFFFFFULL) + off) - 1.0;
#elif !defined(__AVX2__)
    /* The baseline build (SSE2, NEON): the same offset trick without a
       64-bit arithmetic shift or int64 -> double conversion (SSE2 has
       neither): the exponent field of t is k in 12-bit two's complement,
       biased by 2048 with an XOR and converted exactly through the 2^52
       magic number.  The offset is the double just above sqrt(1/2), so m
       lies in (sqrt(1/2), sqrt(2)] and k, f are bit for bit those of the
       branch below (which halves mantissas m0 > sqrt(2)): 8 integer and
       double operations instead of 10 and two selects, which cost 3
       operations each in SSE2 (-19 % for x log x in a C loop). */
    const uint64_t off = 0x3FE6A09E667F3BCEULL;  /* sqrt(1/2) rounded, + 1 ulp */
    uint64_t t = u - off;
    *k = kl_as_f64(((t >> 52) ^ 0x800) | 0x4330000000000000ULL)
         - (4503599627370496.0 + 2048.0);
    *f = kl_as_f64((t & 0x000FFFFFFFFFFFFFULL) + off) - 1.0;
#else
    /* x = 2^k0 * m0 with m0 in [1, 2); mantissas above sqrt(2) are halved */
    double m0 = kl_as_f64((u & 0x000FFFFFFFFFFFFFULL) | 0x3FF0000000000000ULL);
    /* k0 converted exactly through the 2^52 magic number (no int64 ->
       double instruction needed) */
    double k0 = kl_as_f64((u >> 52) | 0x4330000000000000ULL)
                - (4503599627370496.0 + 1023.0);
    int big = m0 > 1.4142135623730951;
    *f = (big ? 0.5 * m0 : m0) - 1.0;
    *k = big ? k0 + 1.0 : k0;
#endif
}

/* fdlibm's e_log.c coefficients Lg1..Lg7 of R(s) (|s| <= 0.1716), one
   table for the scalar log core and the vector R and P below */
#define KL_LG_COEFFS                                                           \
    const double Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01, \
                 Lg3 = 2.857142874366239149e-01, Lg4 = 2.222219843214978396e-01, \
                 Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01, \
                 Lg7 = 1.479819860511658591e-01

/* log(2^k (1 + f)) for f in [sqrt(1/2) - 1, sqrt(2) - 1]; *rem receives
   log1p(f) - f, free of cancellation, which the near-equal branches of the
   KL and JS terms use (there f is the exactly computed relative difference
   and k = 0) */
static inline __attribute__((always_inline)) double kl_vlog_core(double f, double k, double *rem)
{
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    KL_LG_COEFFS;
    double hfsq = 0.5 * f * f;
    double s = f / (2.0 + f);
    double z = s * s;
    double w = z * z;
    double t1 = w * KL_FMA(w, KL_FMA(w, Lg6, Lg4), Lg2);
    double t2 = z * KL_FMA(w, KL_FMA(w, KL_FMA(w, Lg7, Lg5), Lg3), Lg1);
    double sr = s * (hfsq + (t2 + t1));
    *rem = sr - hfsq;
    /* k * ln2_hi is exact, so the FMA rounds as a multiply and a subtract
       would */
    return KL_FMA(k, ln2_hi, -((hfsq - KL_FMA(k, ln2_lo, sr)) - f));
}

static inline __attribute__((always_inline)) double kl_vlog(double x)
{
    double f, k, rem;
    kl_vreduce(x, &f, &k);
    return kl_vlog_core(f, k, &rem);
}


/*
 * Element terms for the vectorised loops.  Each computes every branch and
 * selects, so a loop over it has no control flow.  Domain (checked by the
 * caller per block or group of lanes): p, q, x, y are 0 or in
 * [2^-500, 2^500].
 *
 * Near-equal arguments.  p log(p/q) - p + q cancels when p ~ q (the result
 * is ~q r^2/2, r = (p - q)/q, while p log(p/q) rounds at ~eps q |r|), and
 * so does p/q itself (its rounding is ~eps, relative error ~eps/|r| in
 * p/q - 1).  For |r| <= 1/16 the KL term is therefore computed as
 * q ((1 + r) D + r^2) with r = (p - q) * (1/q) (p - q is exact there) and
 * D = log1p(r) - r from the same polynomial that serves the logarithm:
 * D ~ -r^2/2 to a few ulp, and the sum cancels by a factor ~2 only.  JS
 * does the same with its two logarithms at 1 + r and 1 - r.
 */

static inline __attribute__((always_inline)) int kl_vnear_kl(double r);
static inline __attribute__((always_inline)) int kl_vnear_js(double r);

/* kl_div(p, q) = p log(p/q) - p + q >= 0; q at p = 0, +inf at p > 0 = q */
static inline __attribute__((always_inline)) double kl_vterm_kl(double p, double q)
{
    /* p or q = 0 give garbage (finite or NaN) in the lanes below, replaced
       by the last two selects; no guard is needed inside the domain */
    double inv = 1.0 / q;
    double r = (p - q) * inv;
    double f, k, rem;
    kl_vreduce(p * inv, &f, &k);
    /* near lanes: p/q lies in [15/16, 17/16], where the reduction gives
       k = 0 already; only f is replaced by the exact relative difference */
    int near = kl_vnear_kl(r);
    f = near ? r : f;
    double lr = kl_vlog_core(f, k, &rem);
    double direct = KL_FMA(p, lr, -p) + q;
    double series = q * (KL_FMA(1.0 + r, rem, r * r));
    double t = near ? series : direct;
    t = (q == 0.0) ? HUGE_VAL : t;
    return (p == 0.0) ? q : t;
}

/* 1 if kl_vterm_kl takes its near-equal branch: |r| <= 1/16 for
   r = (p - q)/q (false for q = 0, where r is NaN or infinite) */
static inline __attribute__((always_inline)) int kl_vnear_kl(double r)
{
    return fabs(r) <= 0.0625;
}

/*
 * The KL term on 8 lanes with AVX-512 intrinsics (x86-64-v4 tier only:
 * GCC emits neither vrcp14pd, vgetexppd nor vscalefpd from plain C).
 * One division instead of two, and no separate near-equal branch:
 *
 *   k = floor(log2(sqrt(2) q / p)), from a 14-bit reciprocal of p (an
 *       error of 2^-14 in the estimate moves m below by as much at most);
 *   pk = p 2^k (exact), m = pk/q in [sqrt(1/2), sqrt(2)] (to 2^-14);
 *   s = (pk - q)/(pk + q), pk - q exact (Sterbenz), |s| <= 0.1716;
 *   log m = 2 atanh(s) = 2s + s R(s^2), R the fdlibm polynomial of
 *   kl_vlog_core (Lg1..Lg7, error < 2^-58.45 there).
 *
 * k = 0 (p/q within [sqrt(1/2), sqrt(2)]): with w = p + q, p = w(1+s)/2
 * and q = w(1-s)/2, so p log(p/q) - p + q = (w/2)((1+s) log m - 2s)
 * = (p - q)(s + R (1+s)/2): no cancellation at all (s R (1+s) is ~s^3/3,
 * of the sign of s, while s^2 dominates), and p - q is exact.  Measured
 * (against __float128, 1.6e7 terms over ratios 1 +- 1e-6 .. e^+-5):
 * relative error <= 2.1e-15, against 1.4e-13 for kl_vterm_kl at its
 * near/direct switch |r| = 1/16.
 * k != 0 (|log(p/q)| >= 0.34): log(p/q) = -k ln 2 + log m (ln 2 in two
 * parts), the term p log(p/q) + (q - p), which cancels by at most ~12x.
 * Same conventions as kl_vterm_kl: q at p = 0 (whatever the garbage in
 * the other lanes), +inf at p > 0 = q.  Domain as kl_vterm_kl (0 or
 * [2^-500, 2^500]: k is within +-1001 and no step overflows).
 */
#if defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>
#define KL_V8 1

/* fdlibm's R: log((1+s)/(1-s)) = 2s + s R(s^2), |s| <= 0.1716, on 8
   lanes (the KL term's; the Jeffreys and JS terms evaluate the same
   polynomial as z P(z), kl_v8_P and kl_v8_P7 below) */
#define KL_VR_DEF(NAME, VT, P)                                                 \
static inline __attribute__((always_inline)) VT NAME(VT s)                      \
{                                                                               \
    KL_LG_COEFFS;                                                              \
    VT z = P##_mul_pd(s, s);                                                    \
    VT w = P##_mul_pd(z, z);                                                    \
    VT t1 = P##_fmadd_pd(w, P##_set1_pd(Lg6), P##_set1_pd(Lg4));                \
    t1 = P##_mul_pd(w, P##_fmadd_pd(w, t1, P##_set1_pd(Lg2)));                  \
    VT t2 = P##_fmadd_pd(w, P##_set1_pd(Lg7), P##_set1_pd(Lg5));                \
    t2 = P##_fmadd_pd(w, t2, P##_set1_pd(Lg3));                                 \
    t2 = P##_mul_pd(z, P##_fmadd_pd(w, t2, P##_set1_pd(Lg1)));                  \
    return P##_add_pd(t2, t1);                                                  \
}
KL_VR_DEF(kl_v8_R, __m512d, _mm512)

/* The same polynomial for the Jeffreys term as R = z P(z),
   z = s^2, P(z) = Lg1 + Lg2 z + ... + Lg7 z^6 by Estrin's scheme: a
   dependent chain of 4 operations after z instead of 7 (the terms' latency
   is what a call on a few elements waits for); the callers fold the factor
   z into the term's other products */
#define KL_VP_DEF(NAME, VT, P)                                                 \
static inline __attribute__((always_inline)) VT NAME(VT z)                      \
{                                                                               \
    KL_LG_COEFFS;                                                              \
    VT z2 = P##_mul_pd(z, z);                                                   \
    VT z4 = P##_mul_pd(z2, z2);                                                 \
    VT a = P##_fmadd_pd(z, P##_set1_pd(Lg2), P##_set1_pd(Lg1));                 \
    VT b = P##_fmadd_pd(z, P##_set1_pd(Lg4), P##_set1_pd(Lg3));                 \
    VT c = P##_fmadd_pd(z, P##_set1_pd(Lg6), P##_set1_pd(Lg5));                 \
    c = P##_fmadd_pd(z2, P##_set1_pd(Lg7), c);                                  \
    return P##_fmadd_pd(z4, c, P##_fmadd_pd(z2, b, a));                         \
}
KL_VP_DEF(kl_v8_P, __m512d, _mm512)
KL_VP_DEF(kl_v4_P, __m256d, _mm256)
KL_VP_DEF(kl_v2_P, __m128d, _mm)

static inline __attribute__((always_inline)) __m512d kl_v8term_kl(__m512d p, __m512d q)
{
    const __m512d zero = _mm512_setzero_pd();
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    __m512d est = _mm512_mul_pd(_mm512_mul_pd(q, _mm512_rcp14_pd(p)),
                                _mm512_set1_pd(1.4142135623730951));
    __m512d k = _mm512_getexp_pd(est);   /* garbage at p = 0 or q = 0 */
    __m512d pk = _mm512_scalef_pd(p, k);
    __m512d num = _mm512_sub_pd(pk, q);
    __m512d s = _mm512_div_pd(num, _mm512_add_pd(pk, q));
    __m512d R = kl_v8_R(s);
    __m512d near = _mm512_mul_pd(
        num, _mm512_fmadd_pd(R, _mm512_fmadd_pd(s, _mm512_set1_pd(0.5), _mm512_set1_pd(0.5)), s));
    __m512d L = _mm512_fmadd_pd(s, R, _mm512_add_pd(s, s));
    L = _mm512_fnmadd_pd(k, _mm512_set1_pd(ln2_lo), L);
    L = _mm512_fnmadd_pd(k, _mm512_set1_pd(ln2_hi), L);
    __m512d direct = _mm512_fmadd_pd(p, L, _mm512_sub_pd(q, p));
    __m512d t = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(k, zero, _CMP_EQ_OQ), direct, near);
    t = _mm512_mask_mov_pd(t, _mm512_cmp_pd_mask(q, zero, _CMP_EQ_OQ), _mm512_set1_pd(HUGE_VAL));
    return _mm512_mask_mov_pd(t, _mm512_cmp_pd_mask(p, zero, _CMP_EQ_OQ), q);
}

/*
 * The float32 rows' KL term (v4 tier; kl_fused_kl_f32).  Their result is
 * rounded to float32 (2^-24 = 6e-8 relative), so a term needs ~1e-9
 * relative accuracy, not 1e-15.  With every entry 0 or in [2^-125, 2^126]
 * (the loop's domain test):
 *
 *   kk from the float32 bits b(x) = 2^23 (e + 127 + f) for x = 2^e (1 + f):
 *       kk = (b(q) - b(p) + 2^22) >> 23 rounds log2(q/p) on that scale
 *       (off by at most 0.0861 from log2 itself), and pk = p 2^kk has the
 *       bits b(p) + kk 2^23 (exact: q/pk lies in [2/3, 3/2], so pk is
 *       normal for q in the domain).  No rcp14, vgetexppd or vscalefpd;
 *   s = (pk - q)/(pk + q), |s| <= 1/5; pk - q and pk + q are exact in double;
 *   log(pk/q) = 2s + s R(s^2), R(z) = z P(z), P the 4-coefficient minimax
 *       polynomial (relative error of R <= 5.9e-9 on [0, 1/25]; derived and
 *       checked by benchmarks/f32_poly.py --nc 4 --smax 0.2), Horner;
 *   kk = 0: pk = p = w(1+s)/2, q = w(1-s)/2, num = pk - q = ws, and the
 *       term p (2s + sR) - num = s (num + pk R), with no cancellation (R's
 *       part is ~s/3 of it: relative error <= 0.07 x R's);
 *   kk != 0: p (log(pk/q) - kk ln 2) + (q - p), where |log(p/q)| >= 0.287
 *       and so the term is >= 0.0375 p, while R's error moves it by at most
 *       p (2/3)|s|^3 5.9e-9 <= p 3.1e-11: <= 8.3e-10 relative.
 *
 * Measured (C, 3.2e7 terms of random float32 pairs at ratios 1 +- 1e-6 ..
 * e^+-20 and one ulp apart, against __float128): relative error <= 8.2e-10,
 * at p/q = 1.3336 (kk = -1, |s| = 0.2).  The one-pass forms amplify a term
 * error at most 9-fold in the normalised KL (T/sp + g is kept only where
 * |g| <= CANCEL x; fin_kl's second passes use the scalar float64 terms);
 * in the unnormalised KL the absolute error, <= p (2/3) 0.2^3 5.9e-9 =
 * 3.1e-11 p per term, against T + sp + sq <= 256 |D| (else fin_kl sums the
 * scalar terms), is <= 8e-9 relative.  With the final float32 rounding
 * (6e-8): within 1e-7 (tests/test_float32_lanes.py checks adversarial rows,
 * some built to amplify ~7-fold, against mpmath; the 3-coefficient
 * polynomial fails it).  Not bit-identical to the float64 lanes.
 */
/* P of the float32 terms (kl_v8term_kl_f32, kl_v8term_js_f32): the
   4-coefficient minimax polynomial, R(s) = z P(z), z = s^2, within 5.9e-9
   relative for |s| <= 1/5 (benchmarks/f32_poly.py --nc 4 --smax 0.2), by
   Horner */
static inline __attribute__((always_inline)) __m512d kl_v8_P4(__m512d z)
{
    const double c1 = 0.6666666627520986, c2 = 0.4000031214765201,
                 c3 = 0.28532684783201956, c4 = 0.23748346201243428;
    __m512d P = _mm512_fmadd_pd(z, _mm512_set1_pd(c4), _mm512_set1_pd(c3));
    P = _mm512_fmadd_pd(z, P, _mm512_set1_pd(c2));
    return _mm512_fmadd_pd(z, P, _mm512_set1_pd(c1));
}

static inline __attribute__((always_inline)) __m512d kl_v8term_kl_f32(__m256i pb, __m256i qb,
                                                                      __m512d p, __m512d q)
{
    __m256i kk = _mm256_srai_epi32(
        _mm256_add_epi32(_mm256_sub_epi32(qb, pb), _mm256_set1_epi32(0x400000)), 23);
    __m512d pk = _mm512_cvtps_pd(_mm256_castsi256_ps(
        _mm256_add_epi32(pb, _mm256_slli_epi32(kk, 23))));
    __m512d num = _mm512_sub_pd(pk, q);
    __m512d s = _mm512_div_pd(num, _mm512_add_pd(pk, q));
    __m512d z = _mm512_mul_pd(s, s);
    __m512d R = _mm512_mul_pd(z, kl_v8_P4(z));
    /* k = 0: pk = p = w(1+s)/2, q = w(1-s)/2, num = ws, so
       p log(p/q) - p + q = p (2s + sR) - num = s (num + pk R) */
    __m512d near = _mm512_mul_pd(s, _mm512_fmadd_pd(pk, R, num));
    __m512d L = _mm512_fmadd_pd(s, R, _mm512_add_pd(s, s));
    L = _mm512_fnmadd_pd(_mm512_cvtepi32_pd(kk), _mm512_set1_pd(0.6931471805599453), L);
    __m512d direct = _mm512_fmadd_pd(p, L, _mm512_sub_pd(q, p));
    const __m256i zero = _mm256_setzero_si256();
    __m512d t = _mm512_mask_blend_pd(_mm256_cmpeq_epi32_mask(kk, zero), direct, near);
    t = _mm512_mask_mov_pd(t, _mm256_cmpeq_epi32_mask(qb, zero), _mm512_set1_pd(HUGE_VAL));
    return _mm512_mask_mov_pd(t, _mm256_cmpeq_epi32_mask(pb, zero), q);
}
#else
#define KL_V8 0
#endif

/* The KL terms of x[j], y[j] for j < 8 (every entry in the domain of
   kl_vterm_kl): acc[j] += term (kl_vadd_kl8) or out[j] = term
   (kl_vset_kl8).  Every KL term of the vector paths goes through these or
   kl_fused_kl*, so that a tier computes each term one way only. */
static inline __attribute__((always_inline)) void kl_vadd_kl8(const double *x, const double *y,
                                                              double *acc)
{
#if KL_V8
    _mm512_storeu_pd(acc, _mm512_add_pd(_mm512_loadu_pd(acc),
                                        kl_v8term_kl(_mm512_loadu_pd(x), _mm512_loadu_pd(y))));
#else
    for (int j = 0; j < 8; j++)
        acc[j] += kl_vterm_kl(x[j], y[j]);
#endif
}

static inline __attribute__((always_inline)) void kl_vset_kl8(const double *x, const double *y,
                                                              double *out)
{
#if KL_V8
    _mm512_storeu_pd(out, kl_v8term_kl(_mm512_loadu_pd(x), _mm512_loadu_pd(y)));
#else
    for (int j = 0; j < 8; j++)
        out[j] = kl_vterm_kl(x[j], y[j]);
#endif
}

#if KL_V8
/* The JS element term J(x, y) = x log(2x/w) + y log(2y/w), w = x + y (as
   kl_vterm_js), on 8 lanes with AVX-512 intrinsics (and on 4 and 2 with
   AVX-512VL, for src/_short.h): two divisions instead of three, and no
   cancellation near x = y.  With hi = max(x, y), lo = min(x, y) (so that
   J is symmetric in x, y bit for bit), a = 2 hi/w in [1, 2] and
   b = 2 lo/w = 2 - a in [0, 1]: from eb = sqrt(2) b to 14 bits (a 14-bit
   reciprocal of w), kb = floor(log2(eb)) <= 0 and ka = 1 where
   eb <= 2 sqrt(2) - 2 (a >= sqrt(2)), else 0 (one estimate serves both);
   a 2^-ka = 2 hi/wa with wa = w 2^ka (exact), sa = (2 hi - wa)/(2 hi + wa),
   |sa| <= 0.1716 (to 2^-14), log a = ka ln 2 + 2 sa + sa R(sa^2) (R as in
   kl_v8term_kl); likewise b.  Where ka = 0, sa = (hi - lo)/(3 hi + lo),
   and where also kb = 0 (|x - y| <= 0.29 w, so lo/2 <= hi <= 2 lo and
   hi - lo is exact), since hi sa + lo sb = -w sa sb exactly,
   J = -2 w sa sb + hi sa Ra + lo sb Rb: every part of the sign of the
   whole but the last two, which are ~|r|^4 w against J ~ r^2 w/2
   (r = (x - y)/w).  Elsewhere J = hi log a + lo log b, which cancels by at
   most ~7x.  J = hi ln 2 where lo = 0 (0 at x = y = 0).
   Evaluated with few multiplies (issue 14: the long rows' loop is bound by
   the FMA/multiply pipes, the compares and the divisions, which share
   them; the adds, getexp and scalef run on the other two): R = z P(z),
   z = s^2, P by kl_v8_P7; La = (sa za) Pa + ca, Lb = (sb zb) Pb + cb and
   J = hi La + (lo Lb + B), with ca = ka ln 2 + 2 sa, cb = kb ln 2 + 2 sb,
   B = 0 (direct), or ca = cb = 0, B = -2 w sa sb (near; zero-masked
   operations, no blends).  Measured (C, 1.2e7 terms, log(x/y) up to +-300
   and down to 1e-12, against __float128 with the series of J near x = y):
   relative error <= 2.8e-15, at x/y ~ 0.54 (direct, kb = -1: La and Lb
   are rounded before the cancellation); 2.4e-15 for the previous
   evaluation, B + (hi sa za) Pa + (lo sb zb) Pb with B = hi ca + lo cb,
   which with kl_v8_P and an estimate of a took 38 multiplies and FMAs
   per 8 lanes in the loop, against 30 (the term loop of a C driver, min
   CPU time: 1.99 -> 1.72 ns per element). */
#define KL_VJS_DEF(NAME, VT, P, PF)                                            \
static inline __attribute__((always_inline)) VT NAME(VT x, VT y)                \
{                                                                               \
    const VT zero = P##_setzero_pd();                                           \
    const VT ln2 = P##_set1_pd(0.6931471805599453);                             \
    VT hi = P##_max_pd(x, y), lo = P##_min_pd(x, y);                            \
    VT w = P##_add_pd(hi, lo);                                                  \
    /* eb ~ sqrt(2) b (14 bits); ka = 1 (a = 2 - b >= sqrt(2)) iff            \
       eb <= 2 sqrt(2) - 2: no estimate of a needed */                          \
    VT eb = P##_mul_pd(P##_mul_pd(lo, P##_set1_pd(2.8284271247461903)),         \
                       P##_rcp14_pd(w));                                        \
    __mmask8 one = P##_cmp_pd_mask(eb, P##_set1_pd(0.8284271247461903),         \
                                   _CMP_LE_OQ);                                 \
    VT kb = P##_getexp_pd(eb);  /* (garbage at lo = 0) */                       \
    VT h2 = P##_add_pd(hi, hi), l2 = P##_add_pd(lo, lo);                        \
    VT wa = P##_mask_add_pd(w, one, w, w), wb = P##_scalef_pd(w, kb);           \
    VT d = P##_sub_pd(hi, lo);                                                  \
    __mmask8 zb = P##_cmp_pd_mask(kb, zero, _CMP_EQ_OQ);                        \
    __mmask8 nr = zb & (__mmask8)~one, dr = (__mmask8)~nr;                      \
    VT na = P##_mask_blend_pd(one, d, P##_sub_pd(h2, wa));                      \
    VT nb = P##_mask_blend_pd(zb, P##_sub_pd(l2, wb), P##_sub_pd(zero, d));     \
    VT sa = P##_div_pd(na, P##_add_pd(h2, wa));                                 \
    VT sb = P##_div_pd(nb, P##_add_pd(l2, wb));                                 \
    VT za = P##_mul_pd(sa, sa), zb2 = P##_mul_pd(sb, sb);                       \
    /* direct: ca = ka ln 2 + 2 sa, cb = kb ln 2 + 2 sb, base 0; near: 0, 0   \
       and base -2 w sa sb (zero-masked operations) */                          \
    VT ca = P##_maskz_add_pd(dr, sa, sa);                                       \
    ca = P##_mask_add_pd(ca, one, ca, ln2);                                     \
    VT cb = P##_maskz_fmadd_pd(dr, kb, ln2, P##_add_pd(sb, sb));                \
    VT base = P##_maskz_fnmadd_pd(nr, P##_add_pd(w, w), P##_mul_pd(sa, sb), zero); \
    VT La = P##_fmadd_pd(P##_mul_pd(sa, za), PF(za), ca);                       \
    VT Lb = P##_fmadd_pd(P##_mul_pd(sb, zb2), PF(zb2), cb);                     \
    VT t = P##_fmadd_pd(hi, La, P##_fmadd_pd(lo, Lb, base));                    \
    return P##_mask_mul_pd(t, P##_cmp_pd_mask(lo, zero, _CMP_EQ_OQ), hi, ln2);  \
}
/* P of the JS term: Lg1 + Lg2 z + ... + Lg7 z^6 as
   (Lg1 + Lg2 z) + z^2 ((Lg3 + Lg4 z) + z^2 ((Lg5 + Lg6 z) + Lg7 z^2)):
   7 operations (kl_v8_P's Estrin form takes 8, one of them z^4), a
   dependent chain of 4 after z */
#define KL_VP7_DEF(NAME, VT, P)                                                \
static inline __attribute__((always_inline)) VT NAME(VT z)                      \
{                                                                               \
    KL_LG_COEFFS;                                                              \
    VT z2 = P##_mul_pd(z, z);                                                   \
    VT a = P##_fmadd_pd(z, P##_set1_pd(Lg2), P##_set1_pd(Lg1));                 \
    VT b = P##_fmadd_pd(z, P##_set1_pd(Lg4), P##_set1_pd(Lg3));                 \
    VT c = P##_fmadd_pd(z, P##_set1_pd(Lg6), P##_set1_pd(Lg5));                 \
    c = P##_fmadd_pd(z2, P##_set1_pd(Lg7), c);                                  \
    return P##_fmadd_pd(z2, P##_fmadd_pd(z2, c, b), a);                         \
}
KL_VP7_DEF(kl_v8_P7, __m512d, _mm512)
KL_VP7_DEF(kl_v4_P7, __m256d, _mm256)
KL_VP7_DEF(kl_v2_P7, __m128d, _mm)
KL_VJS_DEF(kl_v8term_js, __m512d, _mm512, kl_v8_P7)
KL_VJS_DEF(kl_v4term_js, __m256d, _mm256, kl_v4_P7)
KL_VJS_DEF(kl_v2term_js, __m128d, _mm, kl_v2_P7)

/* The float32 rows' JS term (kl_fused_js_f32; the rows' result is rounded
   to float32, so a term needs ~1e-8 relative accuracy): J(x, y) as in
   kl_v8term_js, with hi = max, lo = min, w = hi + lo, but the reductions
   from the float64 bits as kl_v8term_kl_f32's from the float32 ones
   (b(v) = 2^52 (e + 1023 + f) for v = 2^e (1 + f); x, y 0 or in the
   loops' domain [2^-500, 2^500]), no rcp14, vgetexppd or vscalefpd, and
   no near form:
     ea = (b(2 hi) - b(w) + 2^51) rounded down to a multiple of 2^52, so
       ea = ka 2^52, ka in {0, 1} the rounded log2(2 hi/w) on that scale
       (off by at most 0.0861 from log2), wa = w 2^ka with the bits
       b(w) + ea (exact); eb = kb 2^52 likewise for 2 lo, kb <= 0;
     sa = (2 hi - wa)/(2 hi + wa), sb = (2 lo - wb)/(2 lo + wb), |s| <= 1/5
       (2 hi/wa in [2/3, 3/2]); la = log(2 hi/w) = ka ln 2 + sa (2 + za Pa),
       za = sa^2, Pa the 4-coefficient polynomial of kl_v8term_kl_f32
       (relative error of R = z P <= 5.9e-9 for |s| <= 1/5); lb likewise;
     J = hi la + lo lb, which cancels by at most 6.8x where lo/hi <= 0.556
       (R's error then moves a term by <= ~2.2e-10 of J), and by ~1/r,
       r = (hi - lo)/w, near hi = lo: there each product's rounding is
       ~2^-53 w r against J ~ w r^2/2.  That is enough for the float32 rows:
       unnormalised, x and y are the float32 entries (mp = mq = c = 1), so
       r = 0 (J = 0 exactly) or |r| >= 2^-25, and a term is within
       ~2.5 2^-53/|r| <= 1e-8 (measured: 9.0e-9 at r = 3e-8, 1-ulp pairs,
       C against __float128 with J's series near r = 0); normalised, a JS
       below 2^-11 is recomputed exactly (pair_exact; the chunked path's
       near terms likewise) and above it the terms' absolute errors,
       <= ~2.5 2^-53 w each, are <= 2^-40 of JS.  With the final float32
       rounding (6e-8): within 1e-7 (tests/test_float32_lanes.py).
   J = hi ln 2 where lo = 0 (0 at x = y = 0).  Terms are >= 0.  The loop
   over a 512-entry block (KL_JS_PAIR_F32, CPU time of a C driver): 1.77
   ns/element with kl_v8term_js and a 4-coefficient P, 1.46 with these
   reductions, 1.42 with la = sa (2 + za Pa) + ka ln 2, 1.35 with one
   product per pair, 1.16 without the near form (its masks, blends and
   products). */
static inline __attribute__((always_inline)) __m512d kl_v8term_js_f32(__m512d x, __m512d y)
{
    const __m512i half = _mm512_set1_epi64(1LL << 51),
                  emask = _mm512_set1_epi64((long long)0xFFF0000000000000ULL);
    const __m512d ln2e = _mm512_set1_pd(0.6931471805599453 / 4503599627370496.0);
    __m512d hi = _mm512_max_pd(x, y), lo = _mm512_min_pd(x, y);
    __m512d w = _mm512_add_pd(hi, lo);
    __m512d h2 = _mm512_add_pd(hi, hi), l2 = _mm512_add_pd(lo, lo);
    __m512i wb_ = _mm512_castpd_si512(w);
    __m512i ea = _mm512_and_si512(
        _mm512_add_epi64(_mm512_sub_epi64(_mm512_castpd_si512(h2), wb_), half), emask);
    __m512i eb = _mm512_and_si512(
        _mm512_add_epi64(_mm512_sub_epi64(_mm512_castpd_si512(l2), wb_), half), emask);
    __m512d wa = _mm512_castsi512_pd(_mm512_add_epi64(wb_, ea));
    __m512d wb = _mm512_castsi512_pd(_mm512_add_epi64(wb_, eb));
    __m512d sa = _mm512_div_pd(_mm512_sub_pd(h2, wa), _mm512_add_pd(h2, wa));
    __m512d sb = _mm512_div_pd(_mm512_sub_pd(l2, wb), _mm512_add_pd(l2, wb));
    __m512d za = _mm512_mul_pd(sa, sa), zb = _mm512_mul_pd(sb, sb);
    __m512d Pa = kl_v8_P4(za), Pb = kl_v8_P4(zb);
    const __m512d two = _mm512_set1_pd(2.0);
    __m512d la = _mm512_fmadd_pd(sa, _mm512_fmadd_pd(za, Pa, two),
                                 _mm512_mul_pd(_mm512_cvtepi64_pd(ea), ln2e));
    __m512d lb = _mm512_fmadd_pd(sb, _mm512_fmadd_pd(zb, Pb, two),
                                 _mm512_mul_pd(_mm512_cvtepi64_pd(eb), ln2e));
    __m512d t = _mm512_fmadd_pd(hi, la, _mm512_mul_pd(lo, lb));
    return _mm512_mask_mov_pd(t, _mm512_cmp_pd_mask(lo, _mm512_setzero_pd(), _CMP_EQ_OQ),
                              _mm512_mul_pd(hi, _mm512_set1_pd(0.6931471805599453)));
}

/* The Jeffreys element term (x - y) log(x/y) (as kl_vterm_jeffreys) on 8
   lanes with AVX-512 intrinsics (4 and 2 with AVX-512VL, as the JS term):
   one division instead of three.  With hi = max(x, y), lo = min(x, y) (so
   that the term is symmetric in x, y bit for bit) it is
   (hi - lo) log(hi/lo), both factors >= 0: k = floor(log2(sqrt(2) lo/hi))
   <= 0 from a 14-bit reciprocal of hi (as kl_v8term_kl), hk = hi 2^k
   (exact), s = (hk - lo)/(hk + lo) (hk - lo exact, Sterbenz),
   |s| <= 0.1716 (to 2^-14), log(hi/lo) = -k ln 2 + s (2 + R(s^2)) (R as
   kl_v8term_kl).  Where k = 0 the log is s (2 + R), with no cancellation;
   elsewhere -k ln 2 >= ln 2 against |s (2 + R)| <= 0.35, a cancellation of
   2x at most.  0 at x = y = 0, +inf where exactly one of x, y is 0.
   For a short dependent chain, the log is (-k ln 2 + 2s) + (s z) P(z)
   (z = s^2, P as in the JS term), the base formed while P is evaluated.
   Measured (C, 1.6e7 terms with log(x/y) up to +-300, against
   __float128): relative error <= 5.0e-16 (4e6 terms, also near-equal
   down to 1e-12: <= 4.4e-16); 2.1x fewer cycles than kl_vterm_jeffreys's
   loop. */
#define KL_VJEFFREYS_DEF(NAME, VT, P, PF)                                      \
static inline __attribute__((always_inline)) VT NAME(VT x, VT y)                \
{                                                                               \
    const VT zero = P##_setzero_pd();                                           \
    const double ln2_hi = 6.93147180369123816490e-01;                           \
    const double ln2_lo = 1.90821492927058770002e-10;                           \
    VT hi = P##_max_pd(x, y), lo = P##_min_pd(x, y);                            \
    VT est = P##_mul_pd(P##_mul_pd(lo, P##_set1_pd(1.4142135623730951)),       \
                        P##_rcp14_pd(hi));                                      \
    VT k = P##_getexp_pd(est);   /* <= 0; garbage at lo = 0 */                   \
    VT hk = P##_scalef_pd(hi, k);                                               \
    VT s = P##_div_pd(P##_sub_pd(hk, lo), P##_add_pd(hk, lo));                  \
    VT z = P##_mul_pd(s, s);                                                    \
    VT base = P##_fnmadd_pd(k, P##_set1_pd(ln2_lo), P##_add_pd(s, s));          \
    base = P##_fnmadd_pd(k, P##_set1_pd(ln2_hi), base);                         \
    VT L = P##_fmadd_pd(P##_mul_pd(s, z), PF(z), base);                         \
    VT t = P##_mul_pd(P##_sub_pd(hi, lo), L);                                   \
    t = P##_mask_mov_pd(t, P##_cmp_pd_mask(lo, zero, _CMP_EQ_OQ), P##_set1_pd(HUGE_VAL)); \
    return P##_mask_mov_pd(t, P##_cmp_pd_mask(hi, zero, _CMP_EQ_OQ), zero);     \
}
KL_VJEFFREYS_DEF(kl_v8term_jeffreys, __m512d, _mm512, kl_v8_P)
KL_VJEFFREYS_DEF(kl_v4term_jeffreys, __m256d, _mm256, kl_v4_P)
KL_VJEFFREYS_DEF(kl_v2term_jeffreys, __m128d, _mm, kl_v2_P)
#endif

static inline __attribute__((always_inline)) double kl_vterm_js(double x, double y);

/* The JS terms J(x[j] mq, y[j] mp) for j < 8 (every product in the
   domain of kl_vterm_js): acc[j] += J (kl_vadd_js8); out[j] = J(x[j], y[j])
   (kl_vset_js8, out may be y).  As kl_vadd_kl8: one way per tier. */
static inline __attribute__((always_inline)) void kl_vadd_js8(const double *x, const double *y,
                                                              double mp, double mq, double *acc)
{
#if KL_V8
    __m512d u = _mm512_mul_pd(_mm512_loadu_pd(x), _mm512_set1_pd(mq));
    __m512d v = _mm512_mul_pd(_mm512_loadu_pd(y), _mm512_set1_pd(mp));
    _mm512_storeu_pd(acc, _mm512_add_pd(_mm512_loadu_pd(acc), kl_v8term_js(u, v)));
#else
    for (int j = 0; j < 8; j++)
        acc[j] += kl_vterm_js(x[j] * mq, y[j] * mp);
#endif
}

static inline __attribute__((always_inline)) void kl_vset_js8(const double *x, const double *y,
                                                              double *out)
{
#if KL_V8
    _mm512_storeu_pd(out, kl_v8term_js(_mm512_loadu_pd(x), _mm512_loadu_pd(y)));
#else
    double t[8];
    for (int j = 0; j < 8; j++)
        t[j] = kl_vterm_js(x[j], y[j]);
    memcpy(out, t, sizeof t);
#endif
}

static inline __attribute__((always_inline)) double kl_vterm_jeffreys(double x, double y);

/* The Jeffreys terms of x[j] mq, y[j] mp for j < 8, as kl_vadd_js8 */
static inline __attribute__((always_inline)) void kl_vadd_jeffreys8(const double *x,
                                                                    const double *y,
                                                                    double mp, double mq,
                                                                    double *acc)
{
#if KL_V8
    __m512d u = _mm512_mul_pd(_mm512_loadu_pd(x), _mm512_set1_pd(mq));
    __m512d v = _mm512_mul_pd(_mm512_loadu_pd(y), _mm512_set1_pd(mp));
    _mm512_storeu_pd(acc, _mm512_add_pd(_mm512_loadu_pd(acc), kl_v8term_jeffreys(u, v)));
#else
    for (int j = 0; j < 8; j++)
        acc[j] += kl_vterm_jeffreys(x[j] * mq, y[j] * mp);
#endif
}

static inline __attribute__((always_inline)) void kl_vset_jeffreys8(const double *x,
                                                                    const double *y,
                                                                    double *out)
{
#if KL_V8
    _mm512_storeu_pd(out, kl_v8term_jeffreys(_mm512_loadu_pd(x), _mm512_loadu_pd(y)));
#else
    double t[8];
    for (int j = 0; j < 8; j++)
        t[j] = kl_vterm_jeffreys(x[j], y[j]);
    memcpy(out, t, sizeof t);
#endif
}

/* log(b/a) - (b - a)/a = log1p(d) - d, d = (b - a)/a, for a, b in
   [2^-500, 2^500] (the normalised KL's correction for the two sums, see
   fin_kl): near a = b (|d| <= 1/4) the remainder of the log1p polynomial at
   f = d, free of cancellation; elsewhere log(b/a) - d.  Called per row, in
   vector loops over many rows' sums as well as alone, with the same
   result. */
static inline __attribute__((always_inline)) double kl_vlog1pmx_ratio(double a, double b)
{
    double ia = 1.0 / a;
    double d = (b - a) * ia;
    double ratio = b * ia;
    int near = (d <= 0.25) & (d >= -0.25);
    double f, k, rem;
    kl_vreduce((ratio > 0.0) & (ratio < 1e308) ? ratio : 1.0, &f, &k);
    f = near ? d : f;
    k = near ? 0.0 : k;
    double l = kl_vlog_core(f, k, &rem);
    return near ? rem : l - d;
}

/* The pair scales of JS and TV for row sums sp, sq in [2^-500, 2^500]:
   mp = sp 2^-e, mq = sq 2^-e with 2^(e-1) <= max(sp, sq) < 2^e (frexp's
   exponent, read off the bits; the scaling is exact), k = sp mq. */
static inline __attribute__((always_inline)) void kl_pair_scales(double sp, double sq,
                                                                 double *mp, double *mq,
                                                                 double *k)
{
    uint64_t e = (kl_as_u64(sp > sq ? sp : sq) >> 52) & 0x7FF;
    double s = kl_as_f64((2045 - e) << 52);
    *mp = sp * s;
    *mq = sq * s;
    *k = sp * *mq;
}

/* log s for a row sum: kl_vlog where it is valid, 0 elsewhere (the caller
   then does not use it) */
static inline __attribute__((always_inline)) double kl_vlog_sum(double s)
{
    return kl_vlog((s >= 2.2250738585072014e-308) & (s <= 1.7976931348623157e308) ? s : 1.0);
}

/* x log x, 0 at x = 0 */
static inline __attribute__((always_inline)) double kl_vterm_xlogx(double x)
{
    double l = kl_vlog(x);  /* garbage at x = 0, not selected */
    return (x == 0.0) ? 0.0 : x * l;
}

/* p log q: 0 at p = 0 (whatever q), -inf at p > 0 = q */
static inline __attribute__((always_inline)) double kl_vterm_xlogy(double p, double q)
{
    double l = kl_vlog(q);  /* garbage at q = 0, not selected */
    double t = (q == 0.0) ? -HUGE_VAL : p * l;
    return (p == 0.0) ? 0.0 : t;
}

/* The two logarithms of the JS and Jeffreys terms: la = log(2x/w),
   lb = log(2y/w), w = x + y, r = (x - y)/w.  Near x = y (|r| <= 1/8)
   they are log1p(r) and log1p(-r) from the log polynomial at f = +-r
   (da, db: their remainders log1p(+-r) -/+ r, free of cancellation).
   w = 0 makes every output NaN (the callers select); x = 0 (w > 0) gives
   a = 0, whose reduction is finite (log ~ -709), and likewise y = 0. */
static inline __attribute__((always_inline)) void kl_vjs_logs(double x, double y, double *w,
                                                              double *r, double *la,
                                                              double *lb, double *da,
                                                              double *db)
{
    *w = x + y;
    double iw = 1.0 / *w;
    *r = (x - y) * iw;
    double fa, ka, fb, kb;
    kl_vreduce(2.0 * x * iw, &fa, &ka);
    kl_vreduce(2.0 * y * iw, &fb, &kb);
    /* near lanes: 2x/w and 2y/w lie in [7/8, 9/8], where ka = kb = 0 */
    int near = kl_vnear_js(*r);
    fa = near ? *r : fa;
    fb = near ? -*r : fb;
    *la = kl_vlog_core(fa, ka, da);
    *lb = kl_vlog_core(fb, kb, db);
}

/* J(x, y) = x log(2x/(x+y)) + y log(2y/(x+y)) >= 0 (twice one element's
   Jensen-Shannon contribution) from the outputs of kl_vjs_logs, 0 at
   x = y = 0.  Near x = y (|r| <= 1/8, r = (x - y)/(x + y)):
   J = (w/2) ((1+r) log1p(r) + (1-r) log1p(-r))
   = (w/2) (2 r^2 + (Da + Db) + r (Da - Db)), Da = log1p(r) - r,
   Db = log1p(-r) + r.  x * la = 0 at x = 0 needs no select (la is
   finite), nor does y = 0. */
static inline __attribute__((always_inline)) double kl_vjs_from_logs(double x, double y,
                                                                     double w, double r,
                                                                     double la, double lb,
                                                                     double da, double db)
{
    double direct = x * la + y * lb;  /* symmetric in x, y: no FMA */
    double series = (0.5 * w) * (KL_FMA(r, da - db, 2.0 * (r * r) + (da + db)));
    double t = kl_vnear_js(r) ? series : direct;
    return (w == 0.0) ? 0.0 : t;
}

/* (x - y) log(x/y) >= 0, the Jeffreys divergence's element term
   (rel_entr(x, y) + rel_entr(y, x)), from the outputs of kl_vjs_logs: 0 at
   x = y = 0, +inf where exactly one of x, y is 0.  log(x/y) = la - lb;
   near x = y they are log1p(+-r), ~+-r each, so their difference ~2r keeps
   full relative accuracy, and x - y is exact there (Sterbenz).  Symmetric
   in x, y bit for bit (both factors change sign). */
static inline __attribute__((always_inline)) double kl_vjeffreys_from_logs(double x, double y,
                                                                           double w, double la,
                                                                           double lb)
{
    double t = (x - y) * (la - lb);
    t = ((x == 0.0) != (y == 0.0)) ? HUGE_VAL : t;
    return (w == 0.0) ? 0.0 : t;
}

static inline __attribute__((always_inline)) double kl_vterm_js(double x, double y)
{
    double w, r, la, lb, da, db;
    kl_vjs_logs(x, y, &w, &r, &la, &lb, &da, &db);
    return kl_vjs_from_logs(x, y, w, r, la, lb, da, db);
}

static inline __attribute__((always_inline)) double kl_vterm_jeffreys(double x, double y)
{
    double w, r, la, lb, da, db;
    kl_vjs_logs(x, y, &w, &r, &la, &lb, &da, &db);
    return kl_vjeffreys_from_logs(x, y, w, la, lb);
}

/* (sqrt x - sqrt y)^2, the Hellinger distance's element term, formed as
   d^2 with d = (x - y)/(sqrt x + sqrt y): no cancellation when x ~ y (x - y
   is exact there, while sqrt x - sqrt y would lose ~eps/|r| relative).
   Exactly x where y = 0 and y where x = 0 (so disjoint rows give H = 1;
   also 0/0 at x = y = 0 is replaced).  Valid for every x, y >= 0,
   subnormal or huge (no domain test); NaN propagates.  Symmetric in x, y. */
static inline __attribute__((always_inline)) double kl_vterm_hellinger(double x, double y)
{
    double d = (x - y) / (sqrt(x) + sqrt(y));
    double t = (y == 0.0) ? x : d * d;
    return (x == 0.0) ? y : t;
}

/* 1 if kl_vterm_js takes its near-equal branch: |r| <= 1/8 for
   r = (x - y)/(x + y) (false for x = y = 0, where r is NaN) */
static inline __attribute__((always_inline)) int kl_vnear_js(double r)
{
    return fabs(r) <= 0.125;
}


/* 1 if v is 0 or in [2^-500, 2^500] (the vector terms' domain); NaN, inf,
   negatives and extreme magnitudes give 0 and take the scalar path */
static inline __attribute__((always_inline)) int kl_vdomain(double v)
{
    return (v == 0.0) | ((v >= 3.054936363499605e-151) & (v <= 3.273390607896142e+150));
}

/*
 * Whole-block tests, so that a block of clean data runs its term loops with
 * no per-group branch.  Plain loops over 64-bit integers (or doubles) with an
 * OR / sum reduction and no early exit, which GCC vectorises at -O3.
 */

/* The 8-lane sum of e[0..n) in exactly the order of the kernels' lanes:
   lane j adds e[j], e[j + 8], ... (from 0.0), then the pairwise fold
   ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)).  Reads e[0..n+7]
   (the caller's buffer has 8 doubles of slack; lanes past n are masked to
   +0.0 whatever they hold).  GCC vector extensions: one 8-wide vector,
   lowered to the target's registers. */
typedef double kl_v8d __attribute__((vector_size(64)));
typedef int64_t kl_v8l __attribute__((vector_size(64)));

static inline __attribute__((always_inline)) double kl_seg_total(const double *e, ptrdiff_t n)
{
    const kl_v8l lane = {0, 1, 2, 3, 4, 5, 6, 7};
    kl_v8d a = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    for (ptrdiff_t g = 0; g < n; g += 8) {
        kl_v8d v;
        memcpy(&v, e + g, sizeof v);
        kl_v8l keep = lane < (int64_t)(n - g);
        a = a + (kl_v8d)((kl_v8l)v & keep);
    }
    kl_v8d b = a + __builtin_shuffle(a, (kl_v8l){1, 0, 3, 2, 5, 4, 7, 6});
    kl_v8d c = b + __builtin_shuffle(b, (kl_v8l){2, 3, 0, 1, 6, 7, 4, 5});
    return c[0] + c[4];
}

/* bit patterns of 2^-500 and 2^500: a double v >= +0 lies in
   [2^-500, 2^500] iff its bits u do, as unsigned integers */
#define KL_ULO 0x20B0000000000000ULL
#define KL_UHI 0x5F30000000000000ULL

/* 1 if v lies outside kl_vdomain (-0.0, NaN, inf, negatives and extreme
   magnitudes count as outside), from its bits: the integer form of the
   test, which GCC vectorises in the block loops below */
static inline __attribute__((always_inline)) uint64_t kl_vbad(double v)
{
    uint64_t u = kl_as_u64(v);
    return (uint64_t)((u != 0) & ((u - KL_ULO) > (KL_UHI - KL_ULO)));
}

/* 1 if a nonzero entry a, scaled to u = a * m, underflowed to 0.  0 is in
   kl_vdomain, so the test above passes such a product, and Jeffreys's
   vector term then sees a zero that the row does not have: +inf where
   both entries are positive, 0 where the other entry is 0 and the exact
   term is +inf.  Jeffreys's tested loops add this test (its scalar term,
   jeffreys_term_scaled, takes such groups from the unscaled entries);
   JS, TV and Hellinger terms are bounded by the scaled entries, so a
   product below 2^-1074 changes them by less than that. */
static inline __attribute__((always_inline)) uint64_t kl_vzero_uf(double a, double u)
{
    return (uint64_t)((u == 0.0) & (a != 0.0));
}

#if defined(__AVX2__)
/* nonzero if some x[i] or y[i] (i < m) lies outside kl_vdomain */
static inline __attribute__((always_inline)) uint64_t
kl_vbad_block(const double *x, const double *y, ptrdiff_t m)
{
    uint64_t acc = 0;
    for (ptrdiff_t i = 0; i < m; i++)
        acc |= kl_vbad(x[i]) | kl_vbad(y[i]);
    return acc;
}

/* nonzero if some x[i] * mq or y[i] * mp (i < m) lies outside kl_vdomain */
static inline __attribute__((always_inline)) uint64_t
kl_vbad_block_scaled(const double *x, const double *y, ptrdiff_t m, double mp, double mq)
{
    uint64_t acc = 0;
    for (ptrdiff_t i = 0; i < m; i++)
        acc |= kl_vbad(x[i] * mq) | kl_vbad(y[i] * mp);
    return acc;
}
#else
/* The baseline build (SSE2 on x86-64, NEON on aarch64, ...): SSE2 has no
   64-bit integer compare, so GCC leaves kl_vbad's loop above scalar.  The
   same test as double compares, counted in two double lanes, which GCC
   vectorises with 128-bit vectors (cmppd / fcmge; a 64-bit integer mask
   accumulated in a GCC vector type is lowered through scalar registers by
   GCC 12).  It differs from kl_vbad only at -0.0, which is in kl_vdomain
   and so takes the same vector terms either way. */
static inline __attribute__((always_inline)) double kl_vout2(double x, double y)
{
    return (kl_vdomain(x) & kl_vdomain(y)) ? 0.0 : 1.0;
}

/* nonzero if some x[i] * mq or y[i] * mp (i < m) lies outside kl_vdomain */
static inline __attribute__((always_inline)) uint64_t
kl_vbad_block_scaled(const double *x, const double *y, ptrdiff_t m, double mp, double mq)
{
    double acc[2] = {0.0, 0.0};  /* counts of bad pairs, exact */
    ptrdiff_t m2 = m - (m & 1);
    for (ptrdiff_t i = 0; i < m2; i += 2)
        for (int j = 0; j < 2; j++)
            acc[j] += kl_vout2(x[i + j] * mq, y[i + j] * mp);
    if (m2 < m)
        acc[0] += kl_vout2(x[m2] * mq, y[m2] * mp);
    return (acc[0] + acc[1]) != 0.0;
}

/* nonzero if some x[i] or y[i] (i < m) lies outside kl_vdomain */
static inline __attribute__((always_inline)) uint64_t
kl_vbad_block(const double *x, const double *y, ptrdiff_t m)
{
    return kl_vbad_block_scaled(x, y, m, 1.0, 1.0);
}
#endif

#if KL_V8
/* The v4 loops' domain test (kl_vbad, OR-ed over a block) as two running
   unsigned extremes of the bits u of the entries: max u (> KL_UHI for
   +-inf, NaN, every negative, -0.0 included, and magnitudes above 2^500)
   and min (u - 1) (< KL_ULO - 1 for a positive below 2^-500; 0 wraps to
   the top and drops out).  Three instructions per pair of vectors and no
   mask registers, against nine for the compares: -5 % for KL. */
#define KL_V8_BAD_INIT                                                         \
    __m512i bmx_ = _mm512_setzero_si512(), bmn_ = _mm512_set1_epi64(-1);        \
    const __m512i bone_ = _mm512_set1_epi64(1)
#define KL_V8_BAD_ADD(u8, v8)                                                  \
    do {                                                                        \
        __m512i ub_ = _mm512_castpd_si512(u8), vb_ = _mm512_castpd_si512(v8);   \
        bmx_ = _mm512_max_epu64(bmx_, _mm512_max_epu64(ub_, vb_));              \
        bmn_ = _mm512_min_epu64(bmn_, _mm512_min_epu64(_mm512_sub_epi64(ub_, bone_), \
                                                       _mm512_sub_epi64(vb_, bone_))); \
    } while (0)
/* KL_V8_BAD_ADD plus kl_vzero_uf of the entries a8, b8 (Jeffreys): the
   bits of a product that underflowed to 0 from a nonzero entry get their
   lowest bit set, so that (u - 1) is 0 and fails the lower bound; a zero
   entry's product stays 0 and drops out, and setting the lowest bit of a
   product >= 2^-500 keeps it there (two instructions per vector) */
#define KL_V8_BAD_ADDZ(a8, u8, b8, v8)                                         \
    do {                                                                        \
        __m512i ub_ = _mm512_castpd_si512(u8), vb_ = _mm512_castpd_si512(v8);   \
        __m512i uz_ = _mm512_or_si512(ub_, _mm512_min_epu64(_mm512_castpd_si512(a8), bone_)); \
        __m512i vz_ = _mm512_or_si512(vb_, _mm512_min_epu64(_mm512_castpd_si512(b8), bone_)); \
        bmx_ = _mm512_max_epu64(bmx_, _mm512_max_epu64(ub_, vb_));              \
        bmn_ = _mm512_min_epu64(bmn_, _mm512_min_epu64(_mm512_sub_epi64(uz_, bone_), \
                                                       _mm512_sub_epi64(vz_, bone_))); \
    } while (0)
/* (two compares into mask registers: shorter than two reductions across
   the lanes, which matters on the short rows' path) */
#define KL_V8_BAD_ANY                                                          \
    ((int64_t)((_mm512_cmpgt_epu64_mask(bmx_, _mm512_set1_epi64(KL_UHI))        \
                | _mm512_cmplt_epu64_mask(bmn_, _mm512_set1_epi64(KL_ULO - 1))) != 0))
#endif

/* The pair measures' clean rows (v4 only, KL_PAIR_CLEAN 1): if the first
   pass found every entry 0 or in [2^-436, 2^500] (bits in
   [KL_ULO_CLEAN, KL_UHI]) and both pair scales mp, mq are >= 2^-64 (they
   are < 1, see kl_pair_scales), every product x mq, y mp lies in
   [2^-500, 2^500] or is 0 (the rounding is monotone and 2^-500 a double),
   so the second pass needs no domain test (kl_fused_*_clean): -5 % of
   its time */
#define KL_ULO_CLEAN 0x24B0000000000000ULL
#define KL_PAIR_CLEAN KL_V8

/* sp[j] += x[i + j], sq[j] += y[i + j] over the groups of 8 of x[0..m),
   y[0..m) (m a multiple of 8; the kernels' lane sums, in their order), and
   in the same pass the test of kl_vbad_block: bit 0 of the result is set
   if some entry lies outside kl_vdomain; in v4, bit 1 if some nonzero
   entry is below 2^-436 (not a clean block, see KL_PAIR_CLEAN). */
static inline __attribute__((always_inline)) int64_t
kl_lane_sums_bad(const double *x, const double *y, ptrdiff_t m, double *sp, double *sq)
{
#if KL_V8
    /* v4: the running bit extremes of the fused loops (KL_V8_BAD_*):
       three integer operations per pair of vectors instead of nine
       compare and mask-register operations */
    kl_v8d a, b;
    KL_V8_BAD_INIT;
    memcpy(&a, sp, sizeof a);
    memcpy(&b, sq, sizeof b);
    for (ptrdiff_t i = 0; i < m; i += 8) {
        __m512d u8 = _mm512_loadu_pd(x + i), v8 = _mm512_loadu_pd(y + i);
        a = a + (kl_v8d)u8;
        b = b + (kl_v8d)v8;
        KL_V8_BAD_ADD(u8, v8);
    }
    memcpy(sp, &a, sizeof a);
    memcpy(sq, &b, sizeof b);
    /* bit 1: some nonzero entry below 2^-436 (see KL_PAIR_CLEAN) */
    return KL_V8_BAD_ANY
           | ((int64_t)(_mm512_cmplt_epu64_mask(bmn_, _mm512_set1_epi64(KL_ULO_CLEAN - 1)) != 0)
              << 1);
#elif defined(__AVX512F__)
    /* one pass with 8-wide GCC vector types; signed compares (a negative
       double is a negative integer, below KL_ULO) */
    const int64_t L = (int64_t)KL_ULO, H = (int64_t)KL_UHI;
    const kl_v8l lo = {L, L, L, L, L, L, L, L};
    const kl_v8l hi = {H, H, H, H, H, H, H, H};
    const kl_v8l zero = {0, 0, 0, 0, 0, 0, 0, 0};
    kl_v8d a, b;
    kl_v8l bad = zero;
    memcpy(&a, sp, sizeof a);
    memcpy(&b, sq, sizeof b);
    for (ptrdiff_t i = 0; i < m; i += 8) {
        kl_v8d u, v;
        memcpy(&u, x + i, sizeof u);
        memcpy(&v, y + i, sizeof v);
        a = a + u;
        b = b + v;
        kl_v8l ui = (kl_v8l)u, vi = (kl_v8l)v;
        bad |= (ui != zero) & ((ui < lo) | (ui > hi));
        bad |= (vi != zero) & ((vi < lo) | (vi > hi));
    }
    memcpy(sp, &a, sizeof a);
    memcpy(sq, &b, sizeof b);
    int64_t any = 0;
    for (int j = 0; j < 8; j++)
        any |= bad[j];
    return any;
#else
    /* narrower targets lower the 8-wide types 3x slower (AVX2): two plain
       loops, which GCC vectorises */
    double la[8], lb[8];  /* locals: sp, sq might alias x, y for GCC */
    for (int j = 0; j < 8; j++) {
        la[j] = sp[j];
        lb[j] = sq[j];
    }
    for (ptrdiff_t i = 0; i < m; i += 8)
        for (int j = 0; j < 8; j++) {
            la[j] += x[i + j];
            lb[j] += y[i + j];
        }
    for (int j = 0; j < 8; j++) {
        sp[j] = la[j];
        sq[j] = lb[j];
    }
    return (int64_t)kl_vbad_block(x, y, m);
#endif
}

/* The per-lane domain test of the fused loops below: kl_vbad's integer
   form, OR-ed, where AVX2 has 64-bit integer compares; elsewhere (the
   baseline build: SSE2, NEON) kl_vout2's double compares, counted in
   doubles, which GCC vectorises at 128 bits (see kl_vbad_block_scaled) */
#if defined(__AVX2__)
typedef uint64_t kl_bad_t;
#define KL_BAD2(u, v) (kl_vbad(u) | kl_vbad(v))
#define KL_BAD_ADD(a, b) ((a) |= (b))
/* kl_vzero_uf of both entries (Jeffreys's loops) */
/* KL_BAD2 plus kl_vzero_uf of the entries a, b (Jeffreys's loops), on the
   bits as kl_vbad (a -0.0 entry's product is flagged by kl_vbad already) */
#define KL_BAD2Z(a, u, b, v)                                                   \
    (kl_vbad(u) | kl_vbad(v)                                                    \
     | (uint64_t)((kl_as_u64(u) == 0) & (kl_as_u64(a) != 0))                    \
     | (uint64_t)((kl_as_u64(v) == 0) & (kl_as_u64(b) != 0)))
#else
typedef double kl_bad_t;
#define KL_BAD2(u, v) kl_vout2((u), (v))
#define KL_BAD_ADD(a, b) ((a) += (b))
/* KL_BAD2 plus kl_vzero_uf of a, b: one select of double compares, as
   kl_vout2 (two separate counts kept GCC 12 from vectorising the loop:
   a 10-element Jeffreys call took 273 ns instead of 193) */
#define KL_BAD2Z(a, u, b, v)                                                   \
    ((kl_vdomain(u) & kl_vdomain(v) & (((u) != 0.0) | ((a) == 0.0))             \
      & (((v) != 0.0) | ((b) == 0.0))) ? 0.0 : 1.0)
#endif

/*
 * Fused block loops of the one-pass measures: in one pass over x[0..m),
 * y[0..m) (m a multiple of 8) the lane sums sp[j] += x[i + j],
 * sq[j] += y[i + j] (as kl_lane_sums_bad), the domain test, and the lane
 * sums of the element term st[j] += term(x[i + j], y[i + j]).  The term
 * sums are kept only if every entry lies inside kl_vdomain (the return
 * value is then 0); otherwise st is left unchanged and the caller redoes
 * the block's terms group by group.  The same additions in the same order
 * as the separate passes they replace, so the same results bit for bit;
 * one read of the block instead of two, and the sums' additions hide in
 * the terms' latency.  T is double or float (float entries are widened
 * exactly).  Plain loops with per-lane accumulators, which GCC vectorises.
 */
#define KL_FUSED_BLOCK(NAME, T, TERM)                                          \
static inline __attribute__((always_inline)) int64_t                            \
NAME(const T *x, const T *y, ptrdiff_t m, double *sp, double *sq, double *st)   \
{                                                                               \
    double la[8], lb[8], lt[8];                                                 \
    kl_bad_t lbad[8];                                                           \
    for (int j = 0; j < 8; j++) {                                               \
        la[j] = sp[j];                                                          \
        lb[j] = sq[j];                                                          \
        lt[j] = st[j];                                                          \
        lbad[j] = 0;                                                            \
    }                                                                           \
    for (ptrdiff_t i = 0; i < m; i += 8)                                        \
        for (int j = 0; j < 8; j++) {                                           \
            double u = (double)x[i + j], v = (double)y[i + j];                  \
            la[j] += u;                                                         \
            lb[j] += v;                                                         \
            KL_BAD_ADD(lbad[j], KL_BAD2(u, v));                                 \
            lt[j] += TERM;                                                      \
        }                                                                       \
    kl_bad_t bad = 0;                                                           \
    for (int j = 0; j < 8; j++) {                                               \
        sp[j] = la[j];                                                          \
        sq[j] = lb[j];                                                          \
        KL_BAD_ADD(bad, lbad[j]);                                                    \
    }                                                                           \
    if (!bad)                                                                   \
        for (int j = 0; j < 8; j++)                                             \
            st[j] = lt[j];                                                      \
    return (int64_t)(bad != 0);                                                 \
}

/* entropy: y is x; sq receives the same sums as sp */
#define KL_FUSED_BLOCK1(NAME, T, TERM)                                         \
static inline __attribute__((always_inline)) int64_t                            \
NAME(const T *x, ptrdiff_t m, double *sp, double *sq, double *st)               \
{                                                                               \
    double la[8], lt[8];                                                        \
    kl_bad_t lbad[8];                                                           \
    for (int j = 0; j < 8; j++) {                                               \
        la[j] = sp[j];                                                          \
        lt[j] = st[j];                                                          \
        lbad[j] = 0;                                                            \
    }                                                                           \
    for (ptrdiff_t i = 0; i < m; i += 8)                                        \
        for (int j = 0; j < 8; j++) {                                           \
            double u = (double)x[i + j];                                        \
            la[j] += u;                                                         \
            KL_BAD_ADD(lbad[j], KL_BAD2(u, u));                                 \
            lt[j] += TERM;                                                      \
        }                                                                       \
    kl_bad_t bad = 0;                                                           \
    for (int j = 0; j < 8; j++) {                                               \
        sp[j] = la[j];                                                          \
        sq[j] = la[j];                                                          \
        KL_BAD_ADD(bad, lbad[j]);                                                    \
    }                                                                           \
    if (!bad)                                                                   \
        for (int j = 0; j < 8; j++)                                             \
            st[j] = lt[j];                                                      \
    return (int64_t)(bad != 0);                                                 \
}

#if KL_V8

/* The v4 tier's KL loops: KL_FUSED_BLOCK's sums, test and return value
   (as kl_lane_sums_bad's AVX-512 branch computes them), with the
   intrinsic term kl_v8term_kl.  LOAD8 reads 8 entries as doubles. */
#define KL_FUSED_KL_V8(NAME, T, LOAD8)                                         \
static inline __attribute__((always_inline)) int64_t                            \
NAME(const T *x, const T *y, ptrdiff_t m, double *sp, double *sq, double *st)   \
{                                                                               \
    kl_v8d a, b, c;                                                             \
    KL_V8_BAD_INIT;                                                             \
    memcpy(&a, sp, sizeof a);                                                   \
    memcpy(&b, sq, sizeof b);                                                   \
    memcpy(&c, st, sizeof c);                                                   \
    for (ptrdiff_t i = 0; i < m; i += 8) {                                      \
        __m512d u8 = LOAD8(x + i), v8 = LOAD8(y + i);                           \
        a = a + (kl_v8d)u8;                                                     \
        b = b + (kl_v8d)v8;                                                     \
        KL_V8_BAD_ADD(u8, v8);                                                  \
        c = c + (kl_v8d)kl_v8term_kl(u8, v8);                                   \
    }                                                                           \
    memcpy(sp, &a, sizeof a);                                                   \
    memcpy(sq, &b, sizeof b);                                                   \
    int64_t any = KL_V8_BAD_ANY;                                                \
    if (!any)                                                                   \
        memcpy(st, &c, sizeof c);                                               \
    return any;                                                                 \
}
#define KL_LOAD8_F64(p) _mm512_loadu_pd(p)
#define KL_LOAD8_F32(p) _mm512_cvtps_pd(_mm256_loadu_ps(p))
KL_FUSED_KL_V8(kl_fused_kl, double, KL_LOAD8_F64)
#else
KL_FUSED_BLOCK(kl_fused_kl, double, kl_vterm_kl(u, v))
#endif
KL_FUSED_BLOCK(kl_fused_xlogy, double, kl_vterm_xlogy(u, v))
KL_FUSED_BLOCK1(kl_fused_xlogx, double, kl_vterm_xlogx(u))
/*
 * float32 rows, read in place (no float64 copy of the block).  Every
 * finite float32 >= +0 lies in kl_vdomain once widened (2^-149 > 2^-500,
 * FLT_MAX < 2^500), so the domain test is one compare of the float bits:
 * NaN, +-inf and every negative (-0.0 included, as kl_vbad counts it)
 * have bits >= 0x7F800000 or < 0 as int32 (tested on whole float vectors,
 * so that the float64 lanes stay in full-width registers).  The widened entries take
 * the same terms and sums as a float64 copy of the block would, bit for bit.
 */
/* 1 where the kernels read float32 blocks in place (AVX2 and AVX-512
   builds); the baseline build (SSE2, NEON) lowers these 8-wide float and
   double vectors through memory and measured slower than its float64 copy
   of the block (callgrind, KL: 91 against 67 instructions per element),
   so it keeps the copy */
#if defined(__AVX2__)
#define KL_F32_INPLACE 1
#else
#define KL_F32_INPLACE 0
#endif

typedef float kl_v8f __attribute__((vector_size(32)));
typedef int32_t kl_v8i __attribute__((vector_size(32)));

/* KL_WIDEN8(a): 8 floats widened to double, one vcvtps2pd ymm -> zmm with
   AVX-512 (GCC 12 splits __builtin_convertvector there into two halves and
   an insert), the GCC vector conversion elsewhere */
#if defined(__AVX512F__)
#include <immintrin.h>
static inline __attribute__((always_inline)) kl_v8d kl_widen8(kl_v8f a)
{
    __m512d d = _mm512_cvtps_pd((__m256)a);
    kl_v8d r;
    memcpy(&r, &d, sizeof r);
    return r;
}
#define KL_WIDEN8(a) kl_widen8(a)
#else
#define KL_WIDEN8(a) __builtin_convertvector((a), kl_v8d)
#endif

#define KL_FUSED_BLOCK_F32(NAME, TERM)                                         \
static inline __attribute__((always_inline)) int64_t                            \
NAME(const float *x, const float *y, ptrdiff_t m, double *sp, double *sq,       \
     double *st)                                                                \
{                                                                               \
    double la[8], lb[8], lt[8];                                                 \
    const kl_v8i top = {0x7F800000, 0x7F800000, 0x7F800000, 0x7F800000,        \
                        0x7F800000, 0x7F800000, 0x7F800000, 0x7F800000};        \
    kl_v8i bad = {0, 0, 0, 0, 0, 0, 0, 0};                                      \
    for (int j = 0; j < 8; j++) {                                               \
        la[j] = sp[j];                                                          \
        lb[j] = sq[j];                                                          \
        lt[j] = st[j];                                                          \
    }                                                                           \
    for (ptrdiff_t i = 0; i < m; i += 8) {                                      \
        kl_v8f a, b;                                                            \
        double xd[8], yd[8];                                                    \
        memcpy(&a, x + i, sizeof a);                                            \
        memcpy(&b, y + i, sizeof b);                                            \
        /* signed: negatives are below 0, NaN and +inf at or above top */       \
        bad |= ((kl_v8i)a >= top) | ((kl_v8i)a < 0)                             \
               | ((kl_v8i)b >= top) | ((kl_v8i)b < 0);                          \
        kl_v8d ad = KL_WIDEN8(a);                                               \
        kl_v8d bd = KL_WIDEN8(b);                                               \
        memcpy(xd, &ad, sizeof xd);                                             \
        memcpy(yd, &bd, sizeof yd);                                             \
        for (int j = 0; j < 8; j++) {                                           \
            double u = xd[j], v = yd[j];                                        \
            la[j] += u;                                                         \
            lb[j] += v;                                                         \
            lt[j] += TERM;                                                      \
        }                                                                       \
    }                                                                           \
    int32_t any = 0;                                                            \
    for (int j = 0; j < 8; j++) {                                               \
        sp[j] = la[j];                                                          \
        sq[j] = lb[j];                                                          \
        any |= bad[j];                                                          \
    }                                                                           \
    if (!any)                                                                   \
        for (int j = 0; j < 8; j++)                                             \
            st[j] = lt[j];                                                      \
    return (int64_t)(any != 0);                                                 \
}

#if KL_V8
/* float32 blocks in the v4 tier: KL_FUSED_KL_V8's sums, with the float32
   term kl_v8term_kl_f32 and its domain, 0 or [2^-125, 2^126], tested on
   the float bits (as two running extremes: max b <= 0x7E800000, which
   also fails NaN, inf and every negative, -0.0 included, and min (b - 1)
   >= 0x00FFFFFF, where 0 wraps to the top).  A block outside it (float32
   subnormals, magnitudes beyond 2^+-125) returns nonzero, as every fused
   loop does, and the caller redoes it with the float64 terms. */
static inline __attribute__((always_inline)) int64_t
kl_fused_kl_f32(const float *x, const float *y, ptrdiff_t m, double *sp, double *sq, double *st)
{
    kl_v8d a, b, c;
    const __m256i one = _mm256_set1_epi32(1);
    const __m256i hi = _mm256_set1_epi32(0x7E800000), lo = _mm256_set1_epi32(0x00FFFFFF);
    __m256i bmx = _mm256_setzero_si256(), bmn = _mm256_set1_epi32(-1);
    memcpy(&a, sp, sizeof a);
    memcpy(&b, sq, sizeof b);
    memcpy(&c, st, sizeof c);
    for (ptrdiff_t i = 0; i < m; i += 8) {
        __m256 xf = _mm256_loadu_ps(x + i), yf = _mm256_loadu_ps(y + i);
        __m256i xb = _mm256_castps_si256(xf), yb = _mm256_castps_si256(yf);
        bmx = _mm256_max_epu32(bmx, _mm256_max_epu32(xb, yb));
        bmn = _mm256_min_epu32(bmn, _mm256_min_epu32(_mm256_sub_epi32(xb, one),
                                                     _mm256_sub_epi32(yb, one)));
        __m512d u8 = _mm512_cvtps_pd(xf), v8 = _mm512_cvtps_pd(yf);
        a = a + (kl_v8d)u8;
        b = b + (kl_v8d)v8;
        c = c + (kl_v8d)kl_v8term_kl_f32(xb, yb, u8, v8);
    }
    memcpy(sp, &a, sizeof a);
    memcpy(sq, &b, sizeof b);
    /* all lanes good iff max(bmx, hi) == hi and min(bmn, lo) == lo */
    int64_t any = (_mm256_movemask_epi8(_mm256_cmpeq_epi32(_mm256_max_epu32(bmx, hi), hi))
                   & _mm256_movemask_epi8(_mm256_cmpeq_epi32(_mm256_min_epu32(bmn, lo), lo)))
                  != -1;
    if (!any)
        memcpy(st, &c, sizeof c);
    return any;
}
#else
KL_FUSED_BLOCK_F32(kl_fused_kl_f32, kl_vterm_kl(u, v))
#endif
KL_FUSED_BLOCK_F32(kl_fused_xlogy_f32, kl_vterm_xlogy(u, v))
/* entropy (y is x: its sums are computed twice, bit for bit the same) */
KL_FUSED_BLOCK_F32(kl_fused_xlogx_f32, kl_vterm_xlogx(u))
#if KL_V8
/* the pair measures' first pass over float32 blocks in the v4 tier: the
   lane sums of KL_FUSED_BLOCK_F32 (the same additions in the same order)
   and its test (some entry negative, -0.0 included, NaN or +inf: the
   unsigned maximum of the bits reaches 0x7F800000), st untouched; one
   running maximum instead of four compares and three ORs per 8 entries,
   and no term (KL_FUSED_BLOCK_F32 added 0.0 per lane): -0.2 ns/element
   for JS */
static inline __attribute__((always_inline)) int64_t
kl_sums_bad_f32(const float *x, const float *y, ptrdiff_t m, double *sp, double *sq, double *st)
{
    kl_v8d a, b;
    __m256i bmx = _mm256_setzero_si256();
    const __m256i top = _mm256_set1_epi32(0x7F7FFFFF);
    (void)st;
    memcpy(&a, sp, sizeof a);
    memcpy(&b, sq, sizeof b);
    for (ptrdiff_t i = 0; i < m; i += 8) {
        __m256 xf = _mm256_loadu_ps(x + i), yf = _mm256_loadu_ps(y + i);
        bmx = _mm256_max_epu32(bmx, _mm256_max_epu32(_mm256_castps_si256(xf),
                                                     _mm256_castps_si256(yf)));
        a = a + (kl_v8d)_mm512_cvtps_pd(xf);
        b = b + (kl_v8d)_mm512_cvtps_pd(yf);
    }
    memcpy(sp, &a, sizeof a);
    memcpy(sq, &b, sizeof b);
    return _mm256_movemask_epi8(_mm256_cmpeq_epi32(_mm256_max_epu32(bmx, top), top)) != -1;
}
#else
/* the pair measures' first pass: sums and test only (the term is 0) */
KL_FUSED_BLOCK_F32(kl_sums_bad_f32, 0.0)
#endif

/*
 * The pair pass's fused block loop for JS and Jeffreys: x = x0[i] * mq and
 * y = y0[i] * mp (T = double or float, widened exactly), their domain test
 * and the term lane sums st[j] += TERM in one pass; as KL_FUSED_BLOCK, st
 * is updated only if the whole block passes (return 0), otherwise the
 * caller redoes the block group by group.  The same products and terms as
 * kl_vbad_block_scaled followed by the term loop, bit for bit.
 */
#define KL_FUSED_PAIR(NAME, T, TERM, ZC)                                       \
static inline __attribute__((always_inline)) int64_t                            \
NAME(const T *x0, const T *y0, ptrdiff_t m, double mp, double mq, double *st)   \
{                                                                               \
    double lt[8];                                                               \
    kl_bad_t lbad[8];                                                           \
    for (int j = 0; j < 8; j++) {                                               \
        lt[j] = st[j];                                                          \
        lbad[j] = 0;                                                            \
    }                                                                           \
    for (ptrdiff_t i = 0; i < m; i += 8)                                        \
        for (int j = 0; j < 8; j++) {                                           \
            double u = (double)x0[i + j] * mq, v = (double)y0[i + j] * mp;      \
            KL_BAD_ADD(lbad[j], (ZC) ? KL_BAD2Z((double)x0[i + j], u,           \
                                                (double)y0[i + j], v)           \
                                     : KL_BAD2(u, v));                          \
            lt[j] += TERM;                                                      \
        }                                                                       \
    kl_bad_t bad = 0;                                                           \
    for (int j = 0; j < 8; j++)                                                 \
        KL_BAD_ADD(bad, lbad[j]);                                                    \
    if (!bad)                                                                   \
        for (int j = 0; j < 8; j++)                                             \
            st[j] = lt[j];                                                      \
    return (int64_t)(bad != 0);                                                 \
}

#if KL_V8
/* The v4 tier's JS and Jeffreys pair loops: the products, test and sums
   of KL_FUSED_PAIR with the intrinsic term TERM8 (kl_v8term_js or
   kl_v8term_jeffreys) */
#define KL_FUSED_PAIR_V8(NAME, T, LOAD8, TERM8, ZC)                            \
static inline __attribute__((always_inline)) int64_t                            \
NAME(const T *x0, const T *y0, ptrdiff_t m, double mp, double mq, double *st)   \
{                                                                               \
    const __m512d vmp = _mm512_set1_pd(mp), vmq = _mm512_set1_pd(mq);           \
    kl_v8d c;                                                                   \
    KL_V8_BAD_INIT;                                                             \
    memcpy(&c, st, sizeof c);                                                   \
    for (ptrdiff_t i = 0; i < m; i += 8) {                                      \
        __m512d a8 = LOAD8(x0 + i), b8 = LOAD8(y0 + i);                         \
        __m512d u8 = _mm512_mul_pd(a8, vmq);                                    \
        __m512d v8 = _mm512_mul_pd(b8, vmp);                                    \
        if (ZC)                                                                 \
            KL_V8_BAD_ADDZ(a8, u8, b8, v8);                                     \
        else                                                                    \
            KL_V8_BAD_ADD(u8, v8);                                              \
        c = c + (kl_v8d)TERM8(u8, v8);                                          \
    }                                                                           \
    int64_t any = KL_V8_BAD_ANY;                                                \
    if (!any)                                                                   \
        memcpy(st, &c, sizeof c);                                               \
    return any;                                                                 \
}
KL_FUSED_PAIR_V8(kl_fused_js, double, KL_LOAD8_F64, kl_v8term_js, 0)
KL_FUSED_PAIR_V8(kl_fused_jeffreys, double, KL_LOAD8_F64, kl_v8term_jeffreys, 1)
/* the same loops without the domain test, for the clean rows of
   KL_PAIR_CLEAN (every product in the domain): the same terms and sums;
   returns 0 */
#define KL_CLEAN_PAIR_V8(NAME, T, LOAD8, TERM8)                                 \
static inline __attribute__((always_inline)) int64_t                            \
NAME(const T *x0, const T *y0, ptrdiff_t m, double mp, double mq,               \
     double *st)                                                                \
{                                                                               \
    const __m512d vmp = _mm512_set1_pd(mp), vmq = _mm512_set1_pd(mq);           \
    kl_v8d c;                                                                   \
    memcpy(&c, st, sizeof c);                                                   \
    for (ptrdiff_t i = 0; i < m; i += 8) {                                      \
        __m512d u8 = _mm512_mul_pd(LOAD8(x0 + i), vmq);                         \
        __m512d v8 = _mm512_mul_pd(LOAD8(y0 + i), vmp);                         \
        c = c + (kl_v8d)TERM8(u8, v8);                                          \
    }                                                                           \
    memcpy(st, &c, sizeof c);                                                   \
    return 0;                                                                   \
}
KL_CLEAN_PAIR_V8(kl_fused_js_clean, double, KL_LOAD8_F64, kl_v8term_js)
KL_CLEAN_PAIR_V8(kl_fused_jeffreys_clean, double, KL_LOAD8_F64, kl_v8term_jeffreys)
#else
KL_FUSED_PAIR(kl_fused_js, double, kl_vterm_js(u, v), 0)
KL_FUSED_PAIR(kl_fused_jeffreys, double, kl_vterm_jeffreys(u, v), 1)
/* never called where KL_PAIR_CLEAN is 0: the tested loops */
#define kl_fused_js_clean kl_fused_js
#define kl_fused_jeffreys_clean kl_fused_jeffreys
#endif

/* float32 rows: the entries widened by one vector conversion per 8 (as in
   KL_FUSED_BLOCK_F32), then the same products, test and terms */
#define KL_FUSED_PAIR_F32(NAME, TERM)                                          \
static inline __attribute__((always_inline)) int64_t                            \
NAME(const float *x0, const float *y0, ptrdiff_t m, double mp, double mq,       \
     double *st)                                                                \
{                                                                               \
    double lt[8];                                                               \
    kl_bad_t lbad[8];                                                           \
    for (int j = 0; j < 8; j++) {                                               \
        lt[j] = st[j];                                                          \
        lbad[j] = 0;                                                            \
    }                                                                           \
    for (ptrdiff_t i = 0; i < m; i += 8) {                                      \
        kl_v8f a, b;                                                            \
        double xd[8], yd[8];                                                    \
        memcpy(&a, x0 + i, sizeof a);                                           \
        memcpy(&b, y0 + i, sizeof b);                                           \
        kl_v8d ad = KL_WIDEN8(a);                                               \
        kl_v8d bd = KL_WIDEN8(b);                                               \
        memcpy(xd, &ad, sizeof xd);                                             \
        memcpy(yd, &bd, sizeof yd);                                             \
        for (int j = 0; j < 8; j++) {                                           \
            double u = xd[j] * mq, v = yd[j] * mp;                              \
            KL_BAD_ADD(lbad[j], KL_BAD2(u, v));                                 \
            lt[j] += TERM;                                                      \
        }                                                                       \
    }                                                                           \
    kl_bad_t bad = 0;                                                           \
    for (int j = 0; j < 8; j++)                                                 \
        KL_BAD_ADD(bad, lbad[j]);                                                    \
    if (!bad)                                                                   \
        for (int j = 0; j < 8; j++)                                             \
            st[j] = lt[j];                                                      \
    return (int64_t)(bad != 0);                                                 \
}

#if KL_V8
/* The v4 tier's float32 JS pair loops: J is homogeneous of degree 1, so
   J(x0 mq, y0 mp) = mq J(x0, y0 c) with c = mp/mq: the terms of the
   widened entries x0 and the products y0 c (one multiplication per pair
   instead of two: -5 % for the loop), their lane sums times mq added to
   st.  c is within 2^-53 of mp/mq, as each product was; mq = 1 = c
   unnormalised.  TEST: with the domain test of KL_FUSED_PAIR_V8 (x0, y0 c
   in [2^-500, 2^500] or 0); without it (clean rows, see
   KL_CLEAN_PAIR_V8 below) it returns 0. */
#define KL_JS_PAIR_F32(NAME, TEST)                                             \
static inline __attribute__((always_inline)) int64_t                            \
NAME(const float *x0, const float *y0, ptrdiff_t m, double mp, double mq,       \
     double *st)                                                                \
{                                                                               \
    const __m512d vc = _mm512_set1_pd(mp / mq);                                 \
    kl_v8d c = {0, 0, 0, 0, 0, 0, 0, 0}, s;                                     \
    KL_V8_BAD_INIT;                                                             \
    for (ptrdiff_t i = 0; i < m; i += 8) {                                      \
        __m512d u8 = KL_LOAD8_F32(x0 + i);                                      \
        __m512d v8 = _mm512_mul_pd(KL_LOAD8_F32(y0 + i), vc);                   \
        if (TEST)                                                               \
            KL_V8_BAD_ADD(u8, v8);                                              \
        c = c + (kl_v8d)kl_v8term_js_f32(u8, v8);                               \
    }                                                                           \
    int64_t any = (TEST) ? KL_V8_BAD_ANY : 0;                                   \
    (void)bmx_;                                                                 \
    (void)bmn_;                                                                 \
    (void)bone_;                                                                \
    if (!any) {                                                                 \
        memcpy(&s, st, sizeof s);                                               \
        s = s + c * mq;                                                         \
        memcpy(st, &s, sizeof s);                                               \
    }                                                                           \
    return any;                                                                 \
}
KL_JS_PAIR_F32(kl_fused_js_f32, 1)
KL_JS_PAIR_F32(kl_fused_js_f32_clean, 0)
/* (no underflow test: float32 row sums differ by less than 2^280, so a
   nonzero float32 entry, >= 2^-149, scales to >= 2^-430) */
KL_FUSED_PAIR_V8(kl_fused_jeffreys_f32, float, KL_LOAD8_F32, kl_v8term_jeffreys, 0)
/* the Jeffreys loop without the domain test for a clean float32 row (and
   JS's, kl_fused_js_f32_clean above): every entry finite and >= 0 (the
   first pass's test) and mp, mq in [2^-64, 1) (row_pair's clean), so every
   product is 0 or in [2^-213, 2^128] (JS: y0 c in [2^-213, 2^192]),
   inside the terms' domain; KL_CLEAN_PAIR_V8 on float32 loads */
KL_CLEAN_PAIR_V8(kl_fused_jeffreys_f32_clean, float, KL_LOAD8_F32, kl_v8term_jeffreys)
#else
KL_FUSED_PAIR_F32(kl_fused_js_f32, kl_vterm_js(u, v))
KL_FUSED_PAIR_F32(kl_fused_jeffreys_f32, kl_vterm_jeffreys(u, v))
/* never called where KL_PAIR_CLEAN is 0: the tested loops */
#define kl_fused_js_f32_clean kl_fused_js_f32
#define kl_fused_jeffreys_f32_clean kl_fused_jeffreys_f32
#endif


/* Sum2 of Ogita, Rump and Oishi ("Accurate sum and dot product", SIAM J.
   Sci. Comput. 26, 2005, Alg. 4.4) in 8 lanes: after the call s[j] + c[j]
   is lane j's running sum plus x[j], x[j + 8], ... (m a multiple of 8),
   c[j] collecting the exact error of every addition (Knuth's TwoSum), so
   the pair is as accurate as a sum in twice the working precision.  The
   kernels' near-p = q path uses it for the row sums (its double-double
   normalisation). */
static inline __attribute__((always_inline)) void
kl_sum2_lanes(const double *x, ptrdiff_t m, double *s, double *c)
{
    /* GCC vectors for the running sums: the same arithmetic lane by lane
       as a loop over j < 8, which GCC left scalar (1.6 ns per element on
       v4 against 0.7): one 8-wide vector with AVX-512, two 4-wide ones
       elsewhere (an 8-wide type lowered to AVX2 went through memory) */
#if defined(__AVX512F__)
    kl_v8d ls, lc;
    memcpy(&ls, s, sizeof ls);
    memcpy(&lc, c, sizeof lc);
    for (ptrdiff_t i = 0; i < m; i += 8) {
        kl_v8d b;
        memcpy(&b, x + i, sizeof b);
        kl_v8d t = ls + b;
        kl_v8d z = t - ls;
        lc += (ls - (t - z)) + (b - z);
        ls = t;
    }
    memcpy(s, &ls, sizeof ls);
    memcpy(c, &lc, sizeof lc);
#else
    typedef double kl_v4d __attribute__((vector_size(32)));
    kl_v4d ls0, ls1, lc0, lc1;
    memcpy(&ls0, s, sizeof ls0);
    memcpy(&ls1, s + 4, sizeof ls1);
    memcpy(&lc0, c, sizeof lc0);
    memcpy(&lc1, c + 4, sizeof lc1);
    for (ptrdiff_t i = 0; i < m; i += 8) {
        kl_v4d b0, b1;
        memcpy(&b0, x + i, sizeof b0);
        memcpy(&b1, x + i + 4, sizeof b1);
        kl_v4d t0 = ls0 + b0, t1 = ls1 + b1;
        kl_v4d z0 = t0 - ls0, z1 = t1 - ls1;
        lc0 += (ls0 - (t0 - z0)) + (b0 - z0);
        lc1 += (ls1 - (t1 - z1)) + (b1 - z1);
        ls0 = t0;
        ls1 = t1;
    }
    memcpy(s, &ls0, sizeof ls0);
    memcpy(s + 4, &ls1, sizeof ls1);
    memcpy(c, &lc0, sizeof lc0);
    memcpy(c + 4, &lc1, sizeof lc1);
#endif
}

#endif
