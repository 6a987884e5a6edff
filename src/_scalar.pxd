# Inline scalar helpers shared by the kl_ext kernels.
#
# Every helper takes and returns double, is branch-per-edge-case, never
# raises and never touches a Python object.  Callers guarantee that the
# arguments are >= 0 (negative input is rejected before any result is used);
# NaN arguments propagate to a NaN result, +inf arguments are handled by the
# callers' non-finite fallback and need not give meaningful results here.

from libc.math cimport log, log1p, fabs, sqrt, INFINITY

cdef extern from "float.h":
    double DBL_MAX
    double DBL_MIN


cdef inline double kahan_add(double* s, double* c, double x) noexcept nogil:
    # Neumaier's compensated summation: s + c is the running total.
    cdef double t = s[0] + x
    if fabs(s[0]) >= fabs(x):
        c[0] += (s[0] - t) + x
    else:
        c[0] += (x - t) + s[0]
    s[0] = t
    return t


cdef inline double kahan_total(double s, double c) noexcept nogil:
    # The compensated total; an infinite or NaN running sum makes the
    # compensation meaningless (inf - inf), so it is returned as it is.
    if s - s != 0.0:
        return s
    return s + c


cdef inline double log_ratio(double a, double b) noexcept nogil:
    # log(a / b) for a, b > 0, exact in range even when a / b over- or
    # underflows (then log(a) - log(b)).  Near a ratio of 1, log(a / b)
    # would take the rounding of a / b as a relative error of
    # eps / |a/b - 1|; there a - b is exact (Sterbenz) and log1p is used,
    # as in scipy.special.rel_entr (scipy/scipy#20710).
    cdef double r = a / b
    if r > 0.5 and r < 2.0:
        return log1p((a - b) / b)
    if r > DBL_MAX or r < DBL_MIN:
        return log(a) - log(b)
    return log(r)


cdef inline double scaled_log_ratio(double p, double q, double mp,
                                    double mq) noexcept nogil:
    # log(x/y) for x = p*mq, y = q*mp with p, q > 0, from the unscaled values
    # (log(p/q) + log(mq/mp), each by log_ratio): where a product underflows
    # to 0 or to a subnormal (digits lost) the ratio x/y is not available.
    return log_ratio(p, q) + log_ratio(mq, mp)


cdef inline bint underflowed(double p, double q, double x, double y) noexcept nogil:
    # 1 if p, q > 0 and x or y (their scaled values) fell below the normal
    # range: x/y is then off (0, inf, or a subnormal's few digits)
    return p > 0.0 and q > 0.0 and (x < DBL_MIN or y < DBL_MIN)


cdef inline double xlogy_ratio_series(double r) noexcept nogil:
    # f(r) / r**2 where f(r) = (1 + r) log1p(r) - r
    #   = sum_{k>=2} (-1)^k r^(k-2) / (k (k-1)),  for |r| <= 1/16
    # (truncation error < 2**-58 relative).
    return (0.5 + r * (-0.16666666666666666 + r * (0.08333333333333333
            + r * (-0.05 + r * (0.03333333333333333 + r * (-0.023809523809523808
            + r * (0.017857142857142856 + r * (-0.013888888888888888
            + r * (0.011111111111111112 + r * (-0.00909090909090909
            + r * (0.007575757575757576 + r * (-0.00641025641025641
            + r * 0.005494505494505495))))))))))))


cdef inline double kl_term(double p, double q) noexcept nogil:
    # kl_div(p, q) = p log(p/q) - p + q >= 0 for finite p, q >= 0
    # (scipy.special.kl_div).  0 at p = q; q at p = 0; +inf at p > 0, q = 0.
    # Near p = q the term is q f(r) with r = (p - q)/q, summed as a series,
    # so drift-sized differences keep full relative accuracy.
    cdef double r
    if p == 0.0:
        return q
    if q == 0.0:
        return INFINITY
    r = (p - q) / q
    if fabs(r) <= 0.0625:
        return q * (r * r) * xlogy_ratio_series(r)
    return (p * log_ratio(p, q) - p) + q


cdef inline double log1pmx_series(double d) noexcept nogil:
    # -(log1p(d) - d) / d**2 = sum_{k>=2} (-1)^k d^(k-2) / k, for |d| <= 1/16.
    return (0.5 + d * (-0.3333333333333333 + d * (0.25 + d * (-0.2
            + d * (0.16666666666666666 + d * (-0.14285714285714285
            + d * (0.125 + d * (-0.1111111111111111 + d * (0.1
            + d * (-0.09090909090909091 + d * (0.08333333333333333
            + d * (-0.07692307692307693 + d * (0.07142857142857142
            + d * -0.06666666666666667)))))))))))))


cdef inline double log1pmx(double d) noexcept nogil:
    # log1p(d) - d, accurate also for small |d| (series there), d > -1.
    if fabs(d) <= 0.0625:
        return -(d * d) * log1pmx_series(d)
    return log1p(d) - d


cdef inline double log_twice_ratio(double a, double w) noexcept nogil:
    # log(2a/w) for 0 < a <= w: 2 * (a/w) is exact, so one rounding only.
    cdef double r = a / w
    if r < DBL_MIN:
        return (log(a) - log(w)) + 0.6931471805599453
    return log(2.0 * r)


cdef inline double js_series(double s) noexcept nogil:
    # g(r) / r**2 with s = r**2, g(r) = (1+r) log(1+r) + (1-r) log(1-r)
    #   = sum_{k even >= 2} 2 r^(k-2) / (k (k-1)),  for |r| <= 1/8.
    return 1.0 + s * (0.16666666666666666 + s * (0.06666666666666667
            + s * (0.03571428571428571 + s * (0.022222222222222223
            + s * (0.015151515151515152 + s * (0.01098901098901099
            + s * (0.008333333333333333 + s * 0.006535947712418301)))))))


cdef inline double js_term(double x, double y) noexcept nogil:
    # J(x, y) = x log(2x/(x+y)) + y log(2y/(x+y)) >= 0 for finite x, y >= 0,
    # i.e. twice the Jensen-Shannon contribution of one element.
    # With w = x + y and r = (x - y)/w, J = (w/2) g(r); near r = 0 the
    # series keeps full relative accuracy.  Ratios are formed from w, which
    # never underflows below max(x, y), so subnormal inputs are safe.
    cdef double w = x + y
    cdef double r, t
    if w == 0.0:
        return 0.0
    r = (x - y) / w
    if fabs(r) <= 0.125:
        return (0.5 * w) * (r * r) * js_series(r * r)
    t = 0.0
    if x > 0.0:
        t = x * log_twice_ratio(x, w)
    if y > 0.0:
        t += y * log_twice_ratio(y, w)
    return t


cdef inline double jeffreys_term(double x, double y) noexcept nogil:
    # (x - y) log(x/y) = rel_entr(x, y) + rel_entr(y, x) >= 0 for finite
    # x, y >= 0: 0 at x = y = 0, +inf where exactly one is 0, NaN for NaN.
    # With w = x + y and r = (x - y)/w, log(x/y) = log1p(r) - log1p(-r);
    # near r = 0 that form keeps full relative accuracy (each log1p ~ +-r,
    # x - y exact), elsewhere log(2x/w) - log(2y/w), formed from w as in
    # js_term (no underflow for subnormal inputs).  Symmetric in x, y.
    cdef double w = x + y
    cdef double r
    if w != w:
        return w
    if w == 0.0:
        return 0.0
    if x == 0.0 or y == 0.0:
        return INFINITY
    r = (x - y) / w
    if fabs(r) <= 0.125:
        return (x - y) * (log1p(r) - log1p(-r))
    return (x - y) * (log_twice_ratio(x, w) - log_twice_ratio(y, w))


cdef inline double hellinger_term(double x, double y) noexcept nogil:
    # (sqrt x - sqrt y)^2 as d^2, d = (x - y)/(sqrt x + sqrt y), for
    # x, y >= 0: no cancellation near x = y (x - y is exact there); exactly
    # y at x = 0 and x at y = 0; NaN propagates.  The same arithmetic as
    # kl_vterm_hellinger.
    cdef double d
    if x == 0.0:
        return y
    if y == 0.0:
        return x
    d = (x - y) / (sqrt(x) + sqrt(y))
    return d * d


cdef inline double jeffreys_term_scaled(double p, double q, double mp,
                                        double mq) noexcept nogil:
    # jeffreys_term(p*mq, q*mp), also where a scaled value underflows
    # (normalised rows whose sums are far apart: x or y can leave the double
    # range although the normalised entries p/sp, q/sq are both positive)
    cdef double x = p * mq
    cdef double y = q * mp
    if (p == 0.0 and q > 0.0) or (q == 0.0 and p > 0.0):
        return INFINITY  # exactly one entry 0, whatever its scaled partner
    if underflowed(p, q, x, y) and x < INFINITY and y < INFINITY:
        return (x - y) * scaled_log_ratio(p, q, mp, mq)
    return jeffreys_term(x, y)
