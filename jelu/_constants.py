# Copyright 2026 The jelu Authors. Licensed under the Apache License 2.0.
"""The constants of the kernel, per compute dtype, and SELU's constants.

A 16- or 32-bit input computes in float32 (``F32``), a float64 input in float64
(``F64``). Constants, in hex where their bits matter (the rest are exact small
integers or powers of two): ``ln2_hi``, ``ln2_lo``, ``INV_LN2`` and the
polynomial coefficients beside their definitions below; SELU's constants enter
as hi + lo pairs rounded from 32 decimal digits
(``jelu._multiplier.constant_parts``):

=====================  ==========================  ==========================
constant               float32 hi / lo             float64 hi / lo
=====================  ==========================  ==========================
lambda                 0x1.0cfabep+0 /             0x1.0cfabd6a91132p+0 /
                       -0x1.2adddap-25             0x1.6fc7d272f2695p-55
lambda * alpha         0x1.c212ccp+0 /             0x1.c212cc640f031p+0 /
                       0x1.903c0cp-26              0x1.05161b045a1f7p-56
=====================  ==========================  ==========================

The clamps ``xmin`` (-104 = -0x1.ap+6 in float32, -746 = -0x1.75p+9 in
float64) and ``celu_min`` (-128, -752) are integers; the shifter
``1.5 * 2^mant`` (0x1.8p+23, 0x1.8p+52) puts ``round(u / ln2)`` in the low
bits of a sum; ``jelu._kernel.UP = 64`` scales by 2**64 so that no partial
product underflows; the opaque mask ``-2`` (0x...fffe) clears one significand
bit.

Imports: ``numpy`` only.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

# SELU's constants (Klambauer et al., 2017) to 32 significant digits.
SELU_ALPHA_DIGITS = "1.6732632423543772848170429916717"


SELU_SCALE_DIGITS = "1.0507009873554804934193349852946"


SELU_SCALE_ALPHA_DIGITS = "1.7580993408473768599402175208123"  # their product


class Format(NamedTuple):
    """Per compute dtype constants of the kernel."""

    dtype: Any
    int_dtype: Any  # signed integer of the same width, for bit manipulation
    bias: int  # exponent bias
    mant: int  # explicit mantissa bits
    ln2_hi: float  # ln 2 with trailing zero bits, so that k * ln2_hi is exact
    ln2_lo: float  # ln 2 - ln2_hi, rounded
    xmin: float  # exp(xmin) rounds to 0 and expm1(xmin) to -1 in this dtype
    celu_min: float  # CELU's clamp of u = x / alpha: exp(u) / alpha and u^2 exp(u) / alpha
    # are 0 below it for alpha >= 1e-6 (a factor up to 2^34 on exp(u))
    poly: tuple  # q(r) ~ (expm1(r) - r - r^2/2) / r^3, highest degree first
    gser: tuple  # (expm1(u) - u exp(u)) / -u^2 = sum (n-1) u^(n-2) / n!, highest first


def _gser(n: int) -> tuple:
    """Taylor coefficients (n-1)/n! of -(expm1(u) - u exp(u)) / u^2, degree n-2 first."""
    from math import factorial

    return tuple((k - 1) / factorial(k) for k in range(n, 1, -1))


# The polynomials interpolate q at the Chebyshev nodes of |r| <= ln2/2
# (benchmarks/fit_poly.py, mpmath). With coefficients rounded to the dtype,
# they alone make expm1 off by < 2**-29.1 relative (float32, degree 4: below
# the 2**-26.5 of evaluating the tail in float32) and < 2**-59.3 (float64,
# degree 10). ln2_hi / ln2_lo are
# the Cody-Waite split used by fdlibm and musl: 0x1.62e4p-1 has 16 significant
# bits, so k * ln2_hi is exact for |k| < 2**8; 0x1.62e42feep-1 has 32.
F32 = Format(
    dtype=np.dtype(np.float32),
    int_dtype=np.dtype(np.int32),
    bias=127,
    mant=23,
    ln2_hi=0.693145751953125,  # 0x1.62e400p-1
    ln2_lo=1.428606765330187e-06,  # 0x1.7f7d1cp-20
    xmin=-104.0,
    celu_min=-128.0,
    poly=(  # python -m benchmarks.fit_poly --dtype float32 --degree 4
        0.00019882690685335547,  # 0x1.a0f862p-13
        0.0013926175888627768,  # 0x1.6d10fcp-10
        0.00833332072943449,  # 0x1.1110f6p-7
        0.041666556149721146,  # 0x1.55551ap-5
        0.1666666716337204,  # 0x1.555556p-3
    ),
    # |u| <= 1: the first omitted term, 14 u^13 / 15!, is below 2**-34 of the sum.
    gser=_gser(14),
)


F64 = Format(
    dtype=np.dtype(np.float64),
    int_dtype=np.dtype(np.int64),
    bias=1023,
    mant=52,
    ln2_hi=6.93147180369123816490e-01,  # 0x1.62e42feep-1
    ln2_lo=1.90821492927058770002e-10,  # 0x1.a39ef35793c76p-33
    xmin=-746.0,
    celu_min=-752.0,  # 2^(k + 64) stays normal for k >= -1086
    poly=(  # python -m benchmarks.fit_poly --dtype float64 --degree 10
        1.608432296998589e-10,  # 0x1.61b2b04c863c0p-33
        2.0914679595617734e-09,  # 0x1.1f72fca58cc92p-29
        2.5052078014135157e-08,  # 0x1.ae64344d656dap-26
        2.7557273660822466e-07,  # 0x1.27e4db679bec4p-22
        2.7557319239947792e-06,  # 0x1.71de3a5904975p-19
        2.480158732553378e-05,  # 0x1.a01a01a6d7883p-16
        0.00019841269841266418,  # 0x1.a01a01a019b2bp-13
        0.0013888888888883752,  # 0x1.6c16c16c162d6p-10
        0.008333333333333333,  # 0x1.1111111111111p-7
        0.04166666666666667,  # 0x1.5555555555556p-5
        0.16666666666666666,  # 0x1.5555555555555p-3
    ),
    gser=_gser(22),  # |u| <= 1: the first omitted term, 22 u^21 / 23!, is below 2**-64 of the sum
)


INV_LN2 = 1.4426950408889634  # 0x1.71547652b82fep+0


def format_of(dtype) -> Format:
    return F64 if np.dtype(dtype) == np.float64 else F32


def compute_dtype(dtype) -> np.dtype:
    """float64 math for float64 inputs, float32 math for every narrower float."""
    return format_of(dtype).dtype
