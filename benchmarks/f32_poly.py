"""Derive the short log polynomials of the float32 KL and JS lanes (src/_vmath.h).

The float32 lanes widen their entries to float64 and take the float64
reduction of kl_v8term_kl / kl_v8term_js: log((1+s)/(1-s)) = 2s + s R(s^2),
|s| <= S_MAX.  Their result is rounded to float32, so R needs ~1e-11
relative accuracy, not fdlibm's 2^-58: R(z) = z P(z) with P a polynomial of
NC coefficients, minimax in *relative* error of P (= of R) on
[0, S_MAX^2], found by the Remez exchange below (mpmath, 50 digits), then
rounded to doubles; the error of the rounded polynomial, evaluated in
float64 in the kernel's order (Horner, FMA steps), is measured on a dense grid against
mpmath, and the bound it gives on a KL or JS term is printed.

Run:  python benchmarks/f32_poly.py --nc 4 --smax 0.2      (KL: kl_v8term_kl_f32)
      (JS, kl_v8term_js_f32, takes the same polynomial: its reductions from
      the float64 bits have the same range, |s| <= 1/5)
      python benchmarks/f32_poly.py --nc 3 --smax 0.2      (one coefficient fewer:
                                                            the test's mutant)
"""

import argparse

import mpmath as mp
import numpy as np

mp.mp.dps = 50


def P_exact(z):
    """P(z) = (log((1+s)/(1-s)) / s - 2) / z, z = s^2 (its series at z = 0)."""
    z = mp.mpf(z)
    if z == 0:
        return mp.mpf(2) / 3
    s = mp.sqrt(z)
    return (mp.log((1 + s) / (1 - s)) / s - 2) / z


def remez(nc, zmax, iters=30):
    """Coefficients c[0..nc) of P(z) ~ sum c[j] z^j, minimax relative error on [0, zmax]."""
    n = nc + 1  # reference points
    # start: Chebyshev extrema mapped to [0, zmax]
    ref = [zmax * (1 - mp.cos(mp.pi * i / (n - 1))) / 2 for i in range(n)]
    grid = [zmax * mp.mpf(i) / 4000 for i in range(4001)]
    fg = [P_exact(z) for z in grid]
    c = None
    for _ in range(iters):
        A = mp.matrix(n, n)
        b = mp.matrix(n, 1)
        for i, z in enumerate(ref):
            f = P_exact(z)
            for j in range(nc):
                A[i, j] = z ** j
            A[i, nc] = (-1) ** i * f
            b[i] = f
        sol = mp.lu_solve(A, b)
        c = [sol[j] for j in range(nc)]
        err = [(mp.polyval(c[::-1], z) - f) / f for z, f in zip(grid, fg)]
        # new reference: the extremum of each run of one sign
        ext, run = [], [0]
        for i in range(1, len(grid)):
            if (err[i] >= 0) == (err[run[0]] >= 0):
                run.append(i)
            else:
                ext.append(max(run, key=lambda k: abs(err[k])))
                run = [i]
        ext.append(max(run, key=lambda k: abs(err[k])))
        if len(ext) < n:
            break
        while len(ext) > n:  # drop the smaller end
            ext.pop(0 if abs(err[ext[0]]) < abs(err[ext[-1]]) else -1)
        ref = [grid[k] for k in ext]
    return c, max(abs(e) for e in err)


def horner(c, z):
    """P(z) in float64 in the kernel's order (Horner; each step rounded once, as an FMA)."""
    acc = mp.mpf(float(c[-1]))
    for v in reversed(c[:-1]):
        acc = mp.mpf(float(acc * z + mp.mpf(float(v))))  # one rounding per step
    return np.float64(float(acc))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nc", type=int, default=5)
    ap.add_argument("--smax", type=float, default=0.2)
    a = ap.parse_args()
    zmax = mp.mpf(a.smax) ** 2
    c, e = remez(a.nc, zmax)
    cd = [float(v) for v in c]
    print(f"NC = {a.nc}, |s| <= {a.smax}: minimax relative error of P (exact coefficients) {float(e):.3e}")
    for j, v in enumerate(cd):
        print(f"  c{j + 1} = {v!r}")
    # the rounded coefficients, evaluated in float64, against mpmath
    zs = np.linspace(0, float(zmax), 20001)
    worst = 0.0
    for z in zs:
        got = horner(cd, mp.mpf(float(z)))
        worst = max(worst, abs(float((mp.mpf(float(got)) - P_exact(z)) / P_exact(z))))
    print(f"  rounded coefficients, float64 evaluation: max relative error of R {worst:.3e}")
    # a relative error d of R moves the KL term by at most |s|(1+|s|)/3 d in
    # the near form (k = 0; R(1+s)/2 against s) and by p|s R| d / term in the
    # direct form, which the reduction keeps to |log(p/q)| >= 0.28 (the term
    # there is >= |p L + q - p| / 14): at most 14 (2/3) s^3 / 0.28 d
    s = a.smax
    print(f"  KL term: near <= {s * (1 + s) / 3 * worst:.2e}, direct <= "
          f"{14 * (2 / 3) * s ** 3 / 0.28 * worst:.2e} relative (plus a few ulp of rounding)")


if __name__ == "__main__":
    main()
