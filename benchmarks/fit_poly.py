"""Fit the kernel's polynomial for expm1 and print its coefficients and a rigorous error bound.

Run from the repository root::

    python -m benchmarks.fit_poly --dtype float32 --degree 4
    python -m benchmarks.fit_poly --dtype float64 --degree 10
    python -m benchmarks.fit_poly --dtype float32 --r-max 0.35

The kernel (``jelu/activations.py``, ``_reduce``) evaluates
``expm1(r) = r + r^2/2 + r^3 q(r)`` on ``|r| <= ln2/2`` (plus a little, see
``KERNEL_R_EXCESS``) with a polynomial p for

    q(r) = (expm1(r) - r - r^2/2) / r^3 = sum_{n>=3} r^(n-3)/n! = 1/6 + r/24 + r^2/120 + ...

This script interpolates q at the Chebyshev nodes of ``[-ln2/2 - 1e-6,
ln2/2 + 1e-6]`` (``degree + 1`` nodes, mpmath at 80 digits) and rounds the
coefficients to the dtype. It prints them highest degree first, in decimal
and in hex, as ``_Fmt.poly`` lists them, and then the relative error that the
rounded polynomial alone causes in expm1,

    E = sup_{|r| <= R} |r^3 (p(r) - q(r))| / |expm1(r)|,

twice: as a rigorous upper bound (``rigorous_bound``: exact coefficients,
analytic series remainder, interval arithmetic with adaptive bisection) and
as the maximum over a grid (a lower estimate). R is ``--r-max``, by default
the kernel's reach ``ln2/2 + KERNEL_R_EXCESS``.

The evaluation's own rounding errors (of ``tail`` in float32 about 2^-26.5
relative to expm1) come on top; the ULP figures of the whole kernel are
measured by ``benchmarks.accuracy`` and ``benchmarks.sweep``. Prints only (the
kernel's coefficients are in ``jelu/activations.py``); bad command-line input
is one line on stderr, exit 2.
"""

from __future__ import annotations

import contextlib
import heapq
import math
import sys
import time
from fractions import Fraction

import mpmath
import numpy as np
from mpmath import iv

from benchmarks import _common

mpmath.mp.dps = 80

# The fit interpolates on |r| <= ln2/2 + FIT_PAD. Changing it changes the
# kernel's coefficients, which tests/test_fit_poly.py pins to the script's.
FIT_PAD = "1e-6"

# The largest |r| the kernel reaches exceeds ln2/2 by this much: |r| <=
# ln2/2 + (the rounding of u/ln2 to k, which grows with |u| up to the clamps,
# and celu's u_lo, up to about 4 ulp(u) at |u| = 128). benchmarks.error_budget
# derives 4.88e-5 (float32); if the kernel changes, change it here or pass --r-max.
KERNEL_R_EXCESS = "5e-5"

# Working precision (bits) of the interval arithmetic in rigorous_bound.
_IV_PREC = 256


@contextlib.contextmanager
def _iv_prec(bits: int = _IV_PREC):
    """iv's working precision set to ``bits`` (iv has no workprec)."""
    saved = iv.prec
    iv.prec = bits
    try:
        yield
    finally:
        iv.prec = saved


def kernel_r_max() -> float:
    """ln2/2 + KERNEL_R_EXCESS, rounded up to a float."""
    with _iv_prec():
        return float_up((iv.log(iv.mpf(2)) / 2 + iv.mpf(KERNEL_R_EXCESS)).b)


def float_up(x) -> float:
    """The smallest float >= x (x an mpf or a degenerate interval)."""
    x = mpmath.mpf(x) if not isinstance(x, iv.mpf) else mpmath.mpf(x.b)
    f = float(x)
    return f if mpmath.mpf(f) >= x else math.nextafter(f, math.inf)


def q(r: mpmath.mpf) -> mpmath.mpf:
    """(expm1(r) - r - r^2/2) / r^3, by its Taylor series near 0."""
    if abs(r) < mpmath.mpf("1e-3"):
        return mpmath.fsum(r**k / mpmath.factorial(k + 3) for k in range(30))
    return (mpmath.expm1(r) - r - r * r / 2) / r**3


def grid_max(coeffs, r_max, points: int = 2001) -> float:
    """max |r^3 (p(r) - q(r)) / expm1(r)| over ``points`` equally spaced r in
    [-r_max, r_max] (r = 0 skipped), mpmath at 80 digits; coeffs highest
    degree first. A lower estimate of E, not a bound."""
    c = [mpmath.mpf(float(v)) for v in coeffs]
    half = mpmath.mpf(r_max)
    worst = mpmath.mpf(0)
    for i in range(points):
        r = -half + 2 * half * i / (points - 1)
        if r == 0:
            continue
        p = mpmath.mpf(0)
        for v in c:
            p = p * r + v
        worst = max(worst, abs(r**3 * (p - q(r)) / mpmath.expm1(r)))
    return float(worst)


def fit(degree: int, dtype, r_max=None) -> tuple[list[float], float]:
    """Coefficients (highest degree first, rounded to dtype) and log2 of
    ``grid_max`` over |r| <= r_max (default ``kernel_r_max()``)."""
    half = mpmath.log(2) / 2 + mpmath.mpf(FIT_PAD)
    n = degree + 1
    nodes = [half * mpmath.cos(mpmath.pi * (2 * k + 1) / (2 * n)) for k in range(n)]
    vander = mpmath.matrix([[x**j for j in range(n)] for x in nodes])
    c = mpmath.lu_solve(vander, mpmath.matrix([q(x) for x in nodes]))
    rounded = [float(np.asarray(float(c[j]), dtype)) for j in range(n)][::-1]
    worst = grid_max(rounded, kernel_r_max() if r_max is None else r_max)
    return rounded, math.log2(worst) if worst > 0 else -math.inf


# --- the rigorous bound -------------------------------------------------------
#
# With p(r) = sum_{j<=d} p_j r^j (p_j exactly the dtype's values) and
# q(r) = sum_{n>=3} r^(n-3)/n!, cut the series after n = N:
#
#     p(r) - q(r) = e(r) - t_N(r),   e(r) = sum_{j=0}^{N-3} e_j r^j,
#     e_j = p_j - 1/(j+3)!  (p_j = 0 for j > d),   t_N(r) = sum_{n>N} r^(n-3)/n!.
#
# Remainder: the terms of t_N are r^(N-2+k)/(N+1+k)!, k >= 0, and
# (N+1+k)! >= (N+1)! (N+2)^k, so for |r| < N+2
#
#     |t_N(r)| <= |r|^(N-2)/(N+1)! * sum_k (|r|/(N+2))^k
#               = |r|^(N-2)/(N+1)! / (1 - |r|/(N+2)),                  (1)
#
# increasing in |r|. N = d + 3 + 30 makes (1) negligible for |r| <= 2.
#
# Weight: |r^3/expm1(r)| = r^2 h(r), h(r) = r/expm1(r) (h(0) = 1) > 0.
# h'(r) has the sign of e^r (1 - r) - 1 < 0 (r != 0, as e^-r > 1 - r), so h
# decreases. Hence for r <= 0, r^2 h(r) increases as r decreases. For r > 0,
# d/dr log(r^2 h) = 3/r - e^r/(e^r - 1), which has the sign of
# phi(r) = e^r (3 - r) - 3; phi(0) = 0 and phi'(r) = e^r (2 - r) > 0 on (0, 2),
# so r^2 h increases on [0, 2]. On [a, b] within [-2, 2] the weight's sup is
# therefore max(w(a), w(b)), w(t) = |t^3/expm1(t)| (w(0) = 0), which is
# evaluated in interval arithmetic at the two (exact) end points.
#
# e on X = [a, b]: the mean value form e(X) in e(m) + e'(X) (X - m),
# m = (a + b)/2, with e(m) and e'(X) by Horner in interval arithmetic and the
# e_j enclosed from the exact rationals Fraction(p_j) - 1/(j+3)!.
#
# On X:  E_X <= max(w(a), w(b)) * (sup |e(X)| + (1) at max(|a|, |b|)),
# all upper ends of intervals (outward rounded, 256 bits). The sup over
# [-R, R] is at most the max of E_X over a cover of [-R, R]; the cover starts
# as M equal pieces and the piece with the largest E_X is bisected until that
# largest E_X is within a factor 1 + rtol of the best point value seen
# (|r^3 e(m)/expm1(m)| at the midpoints), so the bound is also within
# 1 + rtol of the true sup (up to the negligible remainder).

_SERIES_EXTRA = 30


def _weight_up(t: mpmath.mpf):
    """Interval enclosing |t^3 / expm1(t)| (t an exact mpf)."""
    if t == 0:
        return iv.mpf(0)
    x = iv.mpf(t)
    return abs(x**3 / (iv.exp(x) - 1))


def _up(x) -> mpmath.mpf:
    """The upper end of the interval x, as an mpf (exact: mp.prec > _IV_PREC)."""
    return mpmath.mpf(x.b)


def _horner(coefs, x):
    acc = iv.mpf(0)
    for c in reversed(coefs):  # coefs lowest degree first
        acc = acc * x + c
    return acc


def rigorous_bound(coeffs, dtype_name: str, r_max=None, *, intervals: int = 128,
                   rtol: float = 1e-3, max_splits: int = 100_000) -> float:
    """A rigorous upper bound on E = sup_{|r| <= r_max} |r^3 (p(r) - q(r))| / |expm1(r)|.

    Returns the bound itself (not its log2), as a float rounded up.

    coeffs: p's coefficients highest degree first (as ``fit`` returns them and
    ``_Fmt.poly`` lists them), each rounded to ``dtype_name`` ("float32" or
    "float64") first; the bound is for those exact values, in exact arithmetic.
    r_max: a float (taken exactly), a decimal string (rounded up) or None for
    ``kernel_r_max()``; 0 < r_max <= 2. ``intervals``: initial number of
    pieces of [-r_max, r_max]; ``rtol``: bisect until the bound is within
    1 + rtol of the largest value found (``max_splits`` caps the work; the
    result is a bound either way). See the comment above for the method.
    """
    dtype = np.dtype(dtype_name)
    p = [Fraction(float(np.asarray(float(v), dtype))) for v in coeffs][::-1]  # lowest first
    if r_max is None:
        R = kernel_r_max()
    elif isinstance(r_max, str):
        with _iv_prec():
            R = float_up(iv.mpf(r_max).b)
    else:
        R = float(r_max)
    if not 0 < R <= 2:
        raise ValueError(f"r_max must be in (0, 2], got {r_max!r}")
    degree = len(p) - 1
    N = degree + 3 + _SERIES_EXTRA
    with _iv_prec():
        e = []
        for j in range(N - 2):  # e_j for j = 0 .. N-3
            exact = (p[j] if j <= degree else 0) - Fraction(1, math.factorial(j + 3))
            e.append(iv.mpf(exact.numerator) / iv.mpf(exact.denominator))
        de = [e[j] * j for j in range(1, len(e))]  # e'(r), lowest degree first
        fact = iv.mpf(math.factorial(N + 1))

        def remainder(t):  # (1) at |r| = t
            x = iv.mpf(t)
            return x ** (N - 2) / fact / (1 - x / (N + 2))

        def piece(a, b):
            """(upper bound of E on [a, b], point value at the midpoint)."""
            m = (a + b) / 2
            X, M = iv.mpf([a, b]), iv.mpf(m)
            em = _horner(e, M)
            eX = em + _horner(de, X) * (X - M)
            w = max(_up(_weight_up(a)), _up(_weight_up(b)))
            upper = iv.mpf(w) * (abs(eX) + remainder(max(abs(a), abs(b))))
            point = _weight_up(m).mid * abs(em).mid
            return _up(upper), _up(point)

        # End points are floats and their bisections: exact in mpf and in iv.
        ends = [mpmath.mpf(-R)] + [mpmath.mpf(float(R * (2 * i - intervals) / intervals))
                                   for i in range(1, intervals)] + [mpmath.mpf(R)]
        heap, best = [], mpmath.mpf(0)
        for a, b in zip(ends, ends[1:]):
            u, v = piece(a, b)
            best = max(best, v)
            heapq.heappush(heap, (-u, a, b))
        for _ in range(max_splits):
            u, a, b = heap[0]
            if -u <= best * (1 + rtol):
                break
            heapq.heappop(heap)
            m = (a + b) / 2
            for lo, hi in ((a, m), (m, b)):
                u, v = piece(lo, hi)
                best = max(best, v)
                heapq.heappush(heap, (-u, lo, hi))
        return float_up(-heap[0][0])


def _log2_up(x: float, digits: int = 2) -> float:
    """log2(x) rounded up to ``digits`` decimals (so 2**result >= x)."""
    return math.ceil(math.log2(x) * 10**digits) / 10**digits


def main(argv=None) -> int:
    """Fit, bound and print the polynomial; 2 on bad command-line input."""
    parser = _common.parser("fit_poly", __doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--degree", type=int, default=None, help="default: 4 (float32), 10 (float64)")
    parser.add_argument("--r-max", default=None,
                        help="bound the error on |r| <= R (a decimal); default: the kernel's "
                             f"reach ln2/2 + {KERNEL_R_EXCESS}")
    parser.add_argument("--grid", type=int, default=2001, help="points of the grid maximum (default 2001)")
    args = parser.parse_args(argv)
    degree = args.degree if args.degree is not None else (4 if args.dtype == "float32" else 10)
    if not 1 <= degree <= 20:
        parser.error(f"--degree must be between 1 and 20, got {degree}")
    if args.grid < 2:
        parser.error(f"--grid must be at least 2, got {args.grid}")
    try:
        with _iv_prec():
            R = kernel_r_max() if args.r_max is None else float_up(iv.mpf(args.r_max).b)
    except (ValueError, TypeError):
        parser.error(f"--r-max must be a decimal number, got {args.r_max!r}")
    if not 0 < R <= 2:
        parser.error(f"--r-max must be in (0, 2], got {args.r_max}")
    dtype = np.dtype(args.dtype)
    t0 = time.perf_counter()
    coefs, log2_grid = fit(degree, dtype, R)
    t1 = time.perf_counter()
    bound = rigorous_bound(coefs, dtype.name, R)
    t2 = time.perf_counter()
    print(f"q(r) ~ (expm1(r) - r - r^2/2) / r^3, fitted on |r| <= ln2/2 + {FIT_PAD}, "
          f"degree {degree}, {dtype.name} coefficients:")
    for v in coefs:
        hexv = float(np.asarray(v, dtype)).hex()
        print(f"    {v!r},  # {hexv}")
    print(f"sup |r^3 (p - q) / expm1(r)| over |r| <= R = {R!r} ({R.hex()}):")
    print(f"    rigorous bound  <= 2**{_log2_up(bound)}  ({bound:.6g}, {t2 - t1:.1f} s)")
    print(f"    grid max ({args.grid} points) = 2**{log2_grid:.2f}  ({2.0**log2_grid:.6g}, {t1 - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
