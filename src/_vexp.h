/*
 * Branch-free, vectorisable exponentials for the logit kernels
 * (src/_logits.pyx).  Every function only selects between computed values
 * (no control flow), so GCC vectorises loops over them when the loop body
 * has independent lanes.  No fast-math is needed or allowed.
 *
 *   kl_vexp(x)     exp(x) for any double x; results below the subnormal
 *                  range are 0 (x <= -746, also x = -inf), x >= 709.79
 *                  gives the largest range end (callers only pass x <= 0).
 *                  NaN input gives 0: the callers detect NaN themselves.
 *                  Error < 1.5 ulp (Cody-Waite reduction, degree-13 Taylor
 *                  polynomial on |r| <= ln2/2, two-step scaling so that
 *                  subnormal results are rounded once).
 *   kl_vphis(d)    phi(d)/d^2 for |d| <= 1, phi(d) = 1 + (d - 1) e^d
 *                  = sum_{k>=2} (k-1) d^k / k!  (the KL term q*phi(d) with
 *                  d = log(p/q)).
 */
#ifndef KL_EXT_VEXP_H
#define KL_EXT_VEXP_H

#include <stdint.h>
#include <string.h>

static inline uint64_t kl_e_as_u64(double x) { uint64_t u; memcpy(&u, &x, 8); return u; }
static inline double kl_e_as_f64(uint64_t u) { double x; memcpy(&x, &u, 8); return x; }

static inline double kl_vexp(double x)
{
    const double log2e = 1.4426950408889634;
    const double ln2_hi = 6.93147180369123816490e-01;  /* n*ln2_hi exact */
    const double ln2_lo = 1.90821492927058770002e-10;
    const double magic = 6755399441055744.0;            /* 1.5 * 2^52 */
    double xc = x > -746.0 ? x : -746.0;                /* NaN, -inf -> -746 */
    xc = xc < 709.78 ? xc : 709.78;
    double t = xc * log2e + magic;                      /* round to nearest */
    double n = t - magic;
    double r = (xc - n * ln2_hi) - n * ln2_lo;          /* |r| <= 0.3466 */
    double p = 1.0 + r * (1.0 + r * (0.5 + r * (0.16666666666666666
             + r * (0.041666666666666664 + r * (0.008333333333333333
             + r * (0.001388888888888889 + r * (0.0001984126984126984
             + r * (2.48015873015873e-05 + r * (2.7557319223985893e-06
             + r * (2.755731922398589e-07 + r * (2.505210838544172e-08
             + r * (2.08767569878681e-09 + r * 1.6059043836821613e-10))))))))))));
    /* 2^n as 2^h * 2^(n-h), h = round(n/2): both factors normal for
       n in [-1077, 1024], so only the final product rounds */
    double th = n * 0.5 + magic;
    int64_t hi = (int64_t)(kl_e_as_u64(th) - 0x4338000000000000ULL);
    int64_t ni = (int64_t)(kl_e_as_u64(t) - 0x4338000000000000ULL);
    double s1 = kl_e_as_f64((uint64_t)(hi + 1023) << 52);
    double s2 = kl_e_as_f64((uint64_t)(ni - hi + 1023) << 52);
    return (p * s1) * s2;
}

static inline double kl_vphis(double d)
{
    return 0.5 + d * (0.3333333333333333 + d * (0.125 + d * (0.03333333333333333
         + d * (0.006944444444444444 + d * (0.0011904761904761906
         + d * (0.00017361111111111112 + d * (2.2045855379188714e-05
         + d * (2.48015873015873e-06 + d * (2.505210838544172e-07
         + d * (2.296443268665491e-08 + d * (1.9270852604185937e-09
         + d * (1.4911969277048643e-10 + d * (1.0706029224547743e-11
         + d * (7.169215998581078e-13 + d * (4.498331606952833e-14
         + d * (2.6552651846596585e-15 + d * (1.4797143443923793e-16
         + d * 7.809603484293113e-18)))))))))))))))));
}

#endif
