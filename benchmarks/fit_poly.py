"""Fit the kernel's polynomial for expm1 and print its coefficients and error bound.

    python benchmarks/fit_poly.py --dtype float32 --degree 4
    python benchmarks/fit_poly.py --dtype float64 --degree 10

The kernel (``jelu/activations.py``, ``_reduce``) evaluates
``expm1(r) = r + r^2/2 + r^3 q(r)`` on ``|r| <= ln2/2`` with a polynomial for

    q(r) = (expm1(r) - r - r^2/2) / r^3 = 1/6 + r/24 + r^2/120 + ...

This script interpolates q at the Chebyshev nodes of ``[-ln2/2 - 1e-6,
ln2/2 + 1e-6]`` (``degree + 1`` nodes, mpmath at 80 digits), rounds the
coefficients to the dtype, and measures on a dense grid (mpmath) the relative
error that the rounded polynomial alone causes in expm1,
``max |r^3 (p(r) - q(r)) / expm1(r)|``. It prints the coefficients highest
degree first, in decimal and in hex, as ``_Fmt.poly`` lists them.

The evaluation's own rounding errors (of ``tail`` in float32 about 2^-26.5
relative to expm1) come on top; the ULP figures of the whole kernel are
measured by ``benchmarks/accuracy.py`` and ``benchmarks/sweep.py``.
"""

from __future__ import annotations

import argparse
import sys

import mpmath
import numpy as np

mpmath.mp.dps = 80


def q(r: mpmath.mpf) -> mpmath.mpf:
    """(expm1(r) - r - r^2/2) / r^3, by its Taylor series near 0."""
    if abs(r) < mpmath.mpf("1e-3"):
        return mpmath.fsum(r**k / mpmath.factorial(k + 3) for k in range(30))
    return (mpmath.expm1(r) - r - r * r / 2) / r**3


def fit(degree: int, dtype) -> tuple[list[float], float]:
    """Coefficients (highest degree first, rounded to dtype) and log2 of the error bound."""
    half = mpmath.log(2) / 2 + mpmath.mpf("1e-6")
    n = degree + 1
    nodes = [half * mpmath.cos(mpmath.pi * (2 * k + 1) / (2 * n)) for k in range(n)]
    vander = mpmath.matrix([[x**j for j in range(n)] for x in nodes])
    c = mpmath.lu_solve(vander, mpmath.matrix([q(x) for x in nodes]))
    rounded = [float(np.asarray(float(c[j]), dtype)) for j in range(n)]
    worst = mpmath.mpf(0)
    for i in range(2001):
        r = -half + 2 * half * i / 2000
        if r == 0:
            continue
        p = mpmath.fsum(mpmath.mpf(rounded[j]) * r**j for j in range(n))
        worst = max(worst, abs(r**3 * (p - q(r)) / mpmath.expm1(r)))
    return rounded[::-1], float(mpmath.log(worst, 2))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--degree", type=int, default=None, help="default: 4 (float32), 10 (float64)")
    args = parser.parse_args(argv)
    degree = args.degree if args.degree is not None else (4 if args.dtype == "float32" else 10)
    if not 1 <= degree <= 20:
        parser.error(f"--degree must be between 1 and 20, got {degree}")
    dtype = np.dtype(args.dtype)
    coefs, log2_err = fit(degree, dtype)
    print(f"q(r) ~ (expm1(r) - r - r^2/2) / r^3 on |r| <= ln2/2, degree {degree}, {dtype.name} coefficients:")
    for v in coefs:
        hexv = float(np.asarray(v, dtype)).hex()
        print(f"    {v!r},  # {hexv}")
    print(f"max |r^3 (p - q) / expm1(r)| = 2^{log2_err:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
