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
 * below 1 ulp (tests/test_vmath.py compares with mpmath).
 */
#ifndef KL_EXT_VMATH_H
#define KL_EXT_VMATH_H

#include <stdint.h>
#include <string.h>
#include <math.h>

/* thread count for the OpenMP builds; 1 (and no OpenMP symbol) otherwise */
#ifdef _OPENMP
#include <omp.h>
static inline int kl_max_threads(void) { return omp_get_max_threads(); }
static inline int kl_openmp_enabled(void) { return 1; }
#else
static inline int kl_max_threads(void) { return 1; }
static inline int kl_openmp_enabled(void) { return 0; }
#endif

#ifndef KL_EXT_VECTOR
#define KL_EXT_VECTOR 0
#endif

/* Horner steps: a fused multiply-add in the builds whose ISA has one (the
   v3/v4 tiers), where it is both faster and more accurate; a multiply and
   an add elsewhere.  Used only inside the polynomials below, so results
   that must be exact (e.g. p*mq - q*mp for equal rows) never see an FMA. */
#if defined(__FMA__)
#define KL_FMA(a, b, c) __builtin_fma((a), (b), (c))
#else
#define KL_FMA(a, b, c) ((a) * (b) + (c))
#endif

static inline uint64_t kl_as_u64(double x) { uint64_t u; memcpy(&u, &x, 8); return u; }
static inline double kl_as_f64(uint64_t u) { double x; memcpy(&x, &u, 8); return x; }

static inline double kl_vlog(double x)
{
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    const double Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01,
                 Lg3 = 2.857142874366239149e-01, Lg4 = 2.222219843214978396e-01,
                 Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01,
                 Lg7 = 1.479819860511658591e-01;
    /* x = 2^k0 * m0 with m0 in [1, 2); mantissas above sqrt(2) are halved
       (k0 + 1).  Selects on doubles only, so even SSE2 vectorises it. */
    uint64_t u = kl_as_u64(x);
    double m0 = kl_as_f64((u & 0x000FFFFFFFFFFFFFULL) | 0x3FF0000000000000ULL);
    /* k0 converted exactly through the 2^52 magic number (no int64 ->
       double instruction needed) */
    double k0 = kl_as_f64((u >> 52) | 0x4330000000000000ULL)
                - (4503599627370496.0 + 1023.0);
    int big = m0 > 1.4142135623730951;
    double m = big ? 0.5 * m0 : m0;
    double k = big ? k0 + 1.0 : k0;
    double f = m - 1.0;
    double hfsq = 0.5 * f * f;
    double s = f / (2.0 + f);
    double z = s * s;
    double w = z * z;
    double t1 = w * KL_FMA(w, KL_FMA(w, Lg6, Lg4), Lg2);
    double t2 = z * KL_FMA(w, KL_FMA(w, KL_FMA(w, Lg7, Lg5), Lg3), Lg1);
    double R = t2 + t1;
    return k * ln2_hi - ((hfsq - (s * (hfsq + R) + k * ln2_lo)) - f);
}


/*
 * Element terms for the vectorised loops.  Each computes every branch and
 * selects, so a loop over it has no control flow.  Domain (checked by the
 * caller per group of lanes): p, q, x, y are 0 or in [2^-500, 2^500].
 */

static inline int kl_vnear_kl(double p, double q);
static inline int kl_vnear_js(double x, double y);

/* (1 + r) log1p(r) - r, divided by r^2: series for |r| <= 1/16
   (sum_{k>=2} (-1)^k r^(k-2) / (k (k-1)), truncation < 2^-58 relative) */
static inline double kl_series_f(double r)
{
    double t = KL_FMA(r, 0.005494505494505495, -0.00641025641025641);
    t = KL_FMA(t, r, 0.007575757575757576);
    t = KL_FMA(t, r, -0.00909090909090909);
    t = KL_FMA(t, r, 0.011111111111111112);
    t = KL_FMA(t, r, -0.013888888888888888);
    t = KL_FMA(t, r, 0.017857142857142856);
    t = KL_FMA(t, r, -0.023809523809523808);
    t = KL_FMA(t, r, 0.03333333333333333);
    t = KL_FMA(t, r, -0.05);
    t = KL_FMA(t, r, 0.08333333333333333);
    t = KL_FMA(t, r, -0.16666666666666666);
    return KL_FMA(t, r, 0.5);
}

/* kl_div(p, q) = p log(p/q) - p + q >= 0; q at p = 0, +inf at p > 0 = q */
static inline double kl_vterm_kl(double p, double q)
{
    double inv = 1.0 / q;
    double r = (p - q) * inv;
    double ratio = p * inv;
    double lr = kl_vlog((ratio > 0.0) & (ratio < 1e308) ? ratio : 1.0);
    double direct = (p * lr - p) + q;
    double series = q * (r * r) * kl_series_f(r);
    double t = kl_vnear_kl(p, q) ? series : direct;
    t = (q == 0.0) ? HUGE_VAL : t;
    return (p == 0.0) ? q : t;
}

/* 1 if kl_vterm_kl takes its series branch for (p, q) */
static inline int kl_vnear_kl(double p, double q)
{
    /* |r| <= 1/16 with r = (p - q)/q, without the division (0.0625 q is
       exact); the one test that every KL variant below selects by */
    double d = p - q;
    return (q > 0.0) & (d <= 0.0625 * q) & (d >= -0.0625 * q);
}

/* kl_vterm_kl for a group where every lane is near (series only) */
static inline double kl_vterm_kl_near(double p, double q)
{
    double r = (p - q) * (1.0 / q);
    return q * (r * r) * kl_series_f(r);
}

/* kl_vterm_kl for a group where no lane is near (no series) */
static inline double kl_vterm_kl_far(double p, double q)
{
    double inv = 1.0 / q;
    double ratio = p * inv;
    double lr = kl_vlog((ratio > 0.0) & (ratio < 1e308) ? ratio : 1.0);
    double t = (q == 0.0) ? HUGE_VAL : (p * lr - p) + q;
    return (p == 0.0) ? q : t;
}

/* x log x, 0 at x = 0 */
static inline double kl_vterm_xlogx(double x)
{
    double l = kl_vlog(x > 0.0 ? x : 1.0);
    return (x == 0.0) ? 0.0 : x * l;
}

/* p log q: 0 at p = 0 (whatever q), -inf at p > 0 = q */
static inline double kl_vterm_xlogy(double p, double q)
{
    double l = kl_vlog(q > 0.0 ? q : 1.0);
    double t = (q == 0.0) ? -HUGE_VAL : p * l;
    return (p == 0.0) ? 0.0 : t;
}

/* g(r)/r^2, g(r) = (1+r) log(1+r) + (1-r) log(1-r), s = r^2, |r| <= 1/8 */
static inline double kl_series_g(double s)
{
    double t = KL_FMA(s, 0.006535947712418301, 0.008333333333333333);
    t = KL_FMA(t, s, 0.01098901098901099);
    t = KL_FMA(t, s, 0.015151515151515152);
    t = KL_FMA(t, s, 0.022222222222222223);
    t = KL_FMA(t, s, 0.03571428571428571);
    t = KL_FMA(t, s, 0.06666666666666667);
    t = KL_FMA(t, s, 0.16666666666666666);
    return KL_FMA(t, s, 1.0);
}

/* J(x, y) = x log(2x/(x+y)) + y log(2y/(x+y)) >= 0 (twice one element's
   Jensen-Shannon contribution), 0 at x = y = 0 */
static inline double kl_vterm_js(double x, double y)
{
    double w = x + y;
    double iw = 1.0 / (w > 0.0 ? w : 1.0);
    double r = (x - y) * iw;
    double a = 2.0 * x * iw, b = 2.0 * y * iw;
    double la = kl_vlog(a > 0.0 ? a : 1.0);
    double lb = kl_vlog(b > 0.0 ? b : 1.0);
    double direct = (x > 0.0 ? x * la : 0.0) + (y > 0.0 ? y * lb : 0.0);
    double series = (0.5 * w) * (r * r) * kl_series_g(r * r);
    double t = kl_vnear_js(x, y) ? series : direct;
    return (w == 0.0) ? 0.0 : t;
}

/* 1 if kl_vterm_js takes its series branch for (x, y) */
static inline int kl_vnear_js(double x, double y)
{
    /* |r| <= 1/8 with r = (x - y)/(x + y), without the division; the one
       test that every JS variant below selects by */
    double w = x + y;
    double d = x - y;
    return (w > 0.0) & (d <= 0.125 * w) & (d >= -0.125 * w);
}

/* kl_vterm_js for a group where every lane is near (series only) */
static inline double kl_vterm_js_near(double x, double y)
{
    double w = x + y;
    double r = (x - y) * (1.0 / (w > 0.0 ? w : 1.0));
    return (0.5 * w) * (r * r) * kl_series_g(r * r);
}

/* kl_vterm_js for a group where no lane is near (no series) */
static inline double kl_vterm_js_far(double x, double y)
{
    double w = x + y;
    double iw = 1.0 / (w > 0.0 ? w : 1.0);
    double a = 2.0 * x * iw, b = 2.0 * y * iw;
    double la = kl_vlog(a > 0.0 ? a : 1.0);
    double lb = kl_vlog(b > 0.0 ? b : 1.0);
    return (x > 0.0 ? x * la : 0.0) + (y > 0.0 ? y * lb : 0.0);
}

/* 1 if v is 0 or in [2^-500, 2^500] (the vector terms' domain); NaN, inf,
   negatives and extreme magnitudes give 0 and take the scalar path */
static inline int kl_vdomain(double v)
{
    return (v == 0.0) | ((v >= 3.054936363499605e-151) & (v <= 3.273390607896142e+150));
}

#endif
