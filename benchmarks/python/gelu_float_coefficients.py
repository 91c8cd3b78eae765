#!/usr/bin/env python3
"""Prints the float coefficient tables of the single-precision exact-GELU kernel (src/Lru/Layers/GeluKernels.cs,
`ErfcxTableSingle`, `ExpSingle*`, `TailSingle*`) and the worst error of each fit, measured at 50 digits.

    /usr/bin/python3 benchmarks/python/gelu_float_coefficients.py     # needs mpmath (Debian: python3-mpmath)

erfcx(z) = exp(z^2) erfc(z) on the sixteen intervals [k/2, k/2 + 1/2), k = 0..15: a degree-8 Chebyshev interpolant in
h = z - k/2 (so erfcx(0) = 1 exactly); for z >= 8, z erfcx(z) = S(w) with w = 1/z^2, degree 4 in w - TAIL_CENTRE
(z up to 10.61, where the kernel clamps |x| at 15); exp(r) for |r| <= ln(2)/2 (+ margin), degree 6. Every fit is a
Chebyshev interpolant at 50 digits converted to the monomial basis, then rounded to float.
"""
from mpmath import mp, mpf, erfc, exp, cos, pi, sqrt, log
import struct

mp.dps = 50


def f32(v):
    return struct.unpack("f", struct.pack("f", float(v)))[0]


def erfcx(z):
    z = mpf(z)
    return exp(z * z) * erfc(z)


def cheb_monomial(fn, lo, hi, degree, origin):
    """Chebyshev interpolant of fn on [lo, hi] as monomial coefficients in (x - origin)."""
    n = degree + 1
    nodes = [(mpf(lo) + mpf(hi)) / 2 + (mpf(hi) - mpf(lo)) / 2 * cos(pi * (2 * j + 1) / (2 * n)) for j in range(n)]
    values = [fn(t) for t in nodes]
    # Newton divided differences in u = x - origin, then expand to monomials.
    us = [t - mpf(origin) for t in nodes]
    coef = list(values)
    for level in range(1, n):
        for i in range(n - 1, level - 1, -1):
            coef[i] = (coef[i] - coef[i - 1]) / (us[i] - us[i - level])
    mono = [mpf(0)] * n
    for i in range(n - 1, -1, -1):
        # mono = mono * (u - us[i]) + coef[i]
        shifted = [mpf(0)] + mono[:-1]
        mono = [shifted[j] - us[i] * mono[j] for j in range(n)]
        mono[0] += coef[i]
    return mono


def horner32(coefs, u):
    p = mpf(coefs[-1])
    for c in reversed(coefs[:-1]):
        p = mpf(f32(p * u + mpf(c)))  # one rounding per fused multiply-add
    return p


def worst(fn, coefs, lo, hi, origin, points=4000):
    w = 0
    for i in range(points + 1):
        x = mpf(lo) + (mpf(hi) - mpf(lo)) * i / points
        exact = fn(x)
        approx = horner32(coefs, mpf(f32(x - mpf(origin))))
        w = max(w, abs(approx - exact) / abs(exact))
    return float(w) / 2.0**-24  # in float ulps (relative to 2^-24)


rows = []
for k in range(16):
    lo = mpf(k) / 2
    c = [f32(v) for v in cheb_monomial(erfcx, lo, lo + mpf(1) / 2, 8, lo)]
    if k == 0:
        c[0] = 1.0
    rows.append(c)
    print(f"// erfcx interval {k}: worst {worst(erfcx, c, lo, lo + mpf(1) / 2, lo, 800):.3f} float ulps")

TAIL_CENTRE = f32((1 / mpf(64) + 1 / mpf(10.7) ** 2) / 2)
tail_fn = lambda w: (1 / sqrt(w)) * erfcx(1 / sqrt(w))
tail = [f32(v) for v in cheb_monomial(tail_fn, 1 / mpf(10.7) ** 2, 1 / mpf(64), 4, TAIL_CENTRE)]
print(f"// tail: worst {worst(tail_fn, tail, 1 / mpf(10.7) ** 2, 1 / mpf(64), TAIL_CENTRE, 800):.3f} float ulps")

R = log(2) / 2 * mpf("1.01")
expc = [f32(v) for v in cheb_monomial(exp, -R, R, 6, 0)]
expc[0] = 1.0
print(f"// exp: worst {worst(exp, expc, -R, R, 0, 2000):.3f} float ulps")

print("private const float TailCentreSingle = %rf;" % TAIL_CENTRE)
for j, c in enumerate(tail):
    print(f"private const float TailSingle{j} = {c!r}f;")
for j, c in enumerate(expc):
    print(f"private const float ExpSingle{j} = {c!r}f;")
print("private static ReadOnlySpan<float> ErfcxTableSingle =>\n[")
for j in range(9):
    print(f"    // h^{j}")
    vals = [repr(rows[k][j]) + "f" for k in range(16)]
    print("    " + ", ".join(vals[:8]) + ",")
    print("    " + ", ".join(vals[8:]) + ",")
print("];")
