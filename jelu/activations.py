# Copyright 2026 The jelu Authors. Licensed under the Apache License 2.0.
"""ELU, SELU and CELU as accurate, memory-lean ``jax.custom_jvp`` functions.

Everything that makes jelu accurate lives in this file, top to bottom:

1. Bit-level and double-word helpers. A double word is an unevaluated sum
   ``hi + lo`` of two floats of the compute dtype (float32 for 16- and 32-bit
   inputs, float64 for float64 inputs).
2. The kernel, ``_reduce`` and ``_Parts``: for ``u <= 0`` it gives ``expm1(u)``
   and ``exp(u)`` as double words from one shared range reduction
   ``u = k ln2 + r``, a polynomial for ``expm1(r)`` and error-free additions.
   Constants and ``alpha`` enter as ``m * 2^e`` with ``1 <= |m| < 2``: the
   kernel multiplies by ``m`` and applies ``2^(k + e)`` once, at the end, so no
   alpha in ``[1e-30, 1e30]`` can overflow or underflow an intermediate.
3. One ``custom_jvp`` per activation that returns the value *and* its
   derivatives, ``(f(x), f'(x), ...)``. The JVP rule multiplies the tangent by
   the derivatives it already has, so reverse mode keeps one residual the size
   of ``x``, and it calls the function itself for the next order, so every
   derivative comes from the same kernel and none is NaN or inf where the math
   is finite.
4. The public ``elu``, ``selu`` and ``celu``: argument checks in Python (so a
   bad Python or NumPy ``alpha`` raises even under an outer ``jax.jit``), then
   one jitted call, like ``jax.nn``.

Why the bits do not depend on the compiler. XLA contracts ``a * b + c`` into a
fused multiply-add when it likes (its CPU backend does under ``jit`` but not
op by op; GPU backends do more). A fused and an unfused evaluation round
differently, so every product that meets an addition here is either *exact*
(a power of two times a float, or a product of two half-width pieces split off
by masking bits: ``_split``), or made *opaque* (``_opaque``: its lowest bit
cleared through an integer ``and``, which no compiler can fuse across). The
result is bit-identical jitted or not, fused or not, on every backend that
rounds IEEE operations correctly.

Accuracy, and how each statement is established (the README's claims table):

* Derived, for every alpha in ``ALPHA_RANGE``: ``benchmarks/error_budget.py``
  bounds every rounding of the kernel, term by term, over every reduced
  argument ``(k, r)`` the kernel can reach, with the polynomial's error
  bounded by interval arithmetic (``benchmarks/fit_poly.py``). Values and first
  and second derivatives are within 1 ULP of the correctly rounded result in
  float32 and float64 (fractional errors below 1.5 ULP; the largest, about
  1.16 ULP, is ``expm1_fast``'s, where ``r + tail`` is rounded before its
  power-of-two scaling). 16-bit outputs are the float32 result rounded once
  more: within 1 ULP (0.5 + B32 2^(p - 24) ULP for a p-bit significand).
* Enumerated, by commands whose reports are committed: every bfloat16 and
  float16 input of elu, selu and celu with the default alpha correctly
  rounded, value, f' and f'' (``benchmarks/accuracy.py``; two float16 inputs of
  selu's f', where the float32 result is a float16 midpoint, are patched:
  ``_SELU_DERIV_F16``); every float32 x <= 0 of elu and celu with alpha 1, 2
  and 0.3 and of selu within 1 ULP (``python -m benchmarks.sweep --sign negative``),
  and selu's lambda x for every x > 0.

Tiny x: where ``r^2 / 2`` underflows (|x| < 2^-63 in float32) the kernel's
result is ``c x`` rounded once, within 1 ULP of ``c x (1 + x / 2)``.

Constants, in hex where their bits matter (the rest are exact small integers
or powers of two): ``ln2_hi``, ``ln2_lo``, ``_INV_LN2`` and the polynomial
coefficients beside their definitions in ``_Fmt``; SELU's constants enter as
hi + lo pairs rounded from 32 decimal digits (``_const_scale_parts``):

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
bits of a sum; ``_UP = 64`` scales by 2**64 so that no partial product
underflows; the opaque mask ``-2`` (0x...fffe) clears one significand bit.
"""

from __future__ import annotations

import functools
import math
from decimal import Decimal
from fractions import Fraction
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.custom_derivatives import SymbolicZero
from jax.typing import ArrayLike

__all__ = ["elu", "selu", "celu", "elu_plus_one"]

Array = jax.Array

# SELU's constants (Klambauer et al., 2017) to 32 significant digits.
_SELU_ALPHA = "1.6732632423543772848170429916717"
_SELU_SCALE = "1.0507009873554804934193349852946"
_SELU_SCALE_ALPHA = "1.7580993408473768599402175208123"  # their product


class _Fmt(NamedTuple):
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
_F32 = _Fmt(
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
_F64 = _Fmt(
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
_INV_LN2 = 1.4426950408889634  # 0x1.71547652b82fep+0
# |u| up to which d celu / d alpha = expm1(u) - u exp(u) comes from its Taylor
# series: above it the two terms cancel at most 2 bits (a factor 3.8 at u = -1).
_SERIES_BELOW = 1.0


def _fmt(dtype) -> _Fmt:
    return _F64 if np.dtype(dtype) == np.float64 else _F32


def _xmin(dtype) -> np.ndarray:
    return np.asarray(_fmt(dtype).xmin, dtype)


def _compute_dtype(dtype) -> np.dtype:
    """float64 math for float64 inputs, float32 math for every narrower float."""
    return _fmt(dtype).dtype


# --------------------------------------------------------------------------
# 1. Bits and double words


def _bits(v: Array) -> Array:
    return lax.bitcast_convert_type(v, _fmt(v.dtype).int_dtype)


def _from_bits(b: Array, dtype) -> Array:
    return lax.bitcast_convert_type(b, dtype)


def _opaque(v: Array) -> Array:
    """``v`` with its lowest significand bit cleared, through the integer unit.

    For a rounded product that meets an addition: no compiler can contract
    ``_opaque(a * b) + c`` into a fused multiply-add, so the sum rounds the same
    everywhere. The cleared bit costs at most one unit in the last place of
    a term that is itself far below the result's last place.
    """
    return _from_bits(_bits(v) & np.asarray(-2, _fmt(v.dtype).int_dtype), v.dtype)


def _split(v: Array) -> tuple[Array, Array]:
    """``v = hi + lo`` exactly, each half as wide, by masking bits (not by a product).

    float32: ``hi`` keeps the leading 12 significant bits and ``lo`` the other
    12, so that ``hi * hi'``, ``hi * lo'`` and ``lo * lo'`` are exact for two
    split numbers. float64 (53 bits, odd): ``hi`` is ``v`` rounded to 26 bits
    and ``lo`` the signed rest (26 bits); callers keep ``|v| < 2^1023`` so that
    rounding up cannot overflow.
    """
    fmt = _fmt(v.dtype)
    b = _bits(v)
    if fmt is _F32:
        hi = _from_bits(b & np.asarray(-(1 << 12), np.int32), v.dtype)
    else:
        hi = _from_bits((b + np.asarray(1 << 26, np.int64)) & np.asarray(-(1 << 27), np.int64), v.dtype)
    return hi, v - hi


def _fast2sum(a: Array, b: Array) -> tuple[Array, Array]:
    """``a + b`` exactly as (hi, lo), for |a| >= |b| or a = 0 (Dekker)."""
    s = a + b
    return s, b - (s - a)


def _two_prod(a: Array, b: tuple[Array, Array]) -> tuple[Array, Array]:
    """``a * b`` as a double word from exact partial products.

    ``b`` is given split, as ``_split(b)`` or ``_split_const`` returns it.
    The four partial products are exact; the double word is within 2**-33
    (float32) or 2**-62 (float64) of ``a * b`` relative, as long as no partial
    product underflows (callers keep ``|a * b| > 2**-60``).
    """
    a1, a2 = _split(a)
    b1, b2 = b
    hi, lo = _fast2sum(a1 * b1, a1 * b2 + a2 * b1)  # |a1 b1| >= 2^10 |a1 b2 + a2 b1|
    return hi, lo + a2 * b2


class _Scale(NamedTuple):
    """A multiplier ``(hi + lo) * 2^e``: a constant or alpha (``1 <= |hi| < 2``),
    ``1 / alpha`` (``1 < hi <= 2``) or a square ``u^2``."""

    hi: Array
    lo: Array | None
    parts: tuple[Array, Array]  # hi split (exactly) into halves
    e: Array | int  # integer exponent
    is_one: Array | None = None  # where alpha == 1 (None for constants)


def _dw_mul(a: tuple[Array, Array], c: _Scale, rounded: bool = False):
    """``(a_hi + a_lo) * (c.hi + c.lo)`` as a double word (without ``2^c.e``),
    or, with ``rounded=True``, that double word's sum rounded once.

    With ``a_hi = a1 + a2`` and ``c = c1 + rest`` (``c1`` the leading half of
    ``c.hi``): ``a1 c1`` and ``a2 c1`` are exact, and the rounded rest
    ``a_hi rest + a_lo c.hi`` is below 2^-10 of the result, so the double word
    is within 2^-33 (float32) or 2^-62 (float64) of the product, relative.
    """
    a_hi, a_lo = a
    a1, a2 = _split(a_hi)
    c1, c2 = c.parts
    rest = c2 if c.lo is None else c2 + c.lo
    t = a2 * c1 + (_opaque(a_hi * rest) + _opaque(a_lo * c.hi))  # a2 c1 is exact
    if rounded:  # a1 c1 is exact, so a fused multiply-add would round the same
        return a1 * c1 + t
    return _fast2sum(a1 * c1, t)  # |a1 c1| >= 2^10 |t|


def _split_const(value: float, dtype) -> tuple[np.ndarray, np.ndarray]:
    """A constant's halves for ``_two_prod``, split once in NumPy."""
    v = np.asarray(value, dtype)
    if np.dtype(dtype) == np.float32:
        hi = (v.view(np.int32) & np.int32(-(1 << 12))).view(np.float32)
    else:  # Veltkamp: 26 + 26 bits, the low half signed
        t = v * np.float64(134217729.0)
        hi = t - (t - v)
    return np.asarray(hi, dtype), np.asarray(v - hi, dtype)


def _const_scale_parts(value: str, dtype) -> tuple[np.ndarray, np.ndarray]:
    """A decimal constant as an unevaluated sum hi + lo of two ``dtype`` floats."""
    hi = np.asarray(float(value), dtype)
    return hi, np.asarray(float(Decimal(value) - Decimal(float(hi))), dtype)


def _const_scale(value: str, dtype) -> _Scale:
    """A decimal constant in [1, 2) as a double word."""
    hi, lo = _const_scale_parts(value, dtype)
    assert 1 <= hi < 2
    return _Scale(hi, lo, _split_const(hi, dtype), 0)


class _Static(NamedTuple):
    """A Python or NumPy scalar alpha, known when the function is traced.

    Registered as a pytree with no leaves (the value rides in the tree
    structure), so ``jax.jit`` specializes on it and ``custom_jvp`` treats it as
    a constant: everything that depends on alpha alone is computed in NumPy at
    trace time, and the kernel multiplies by constants.
    """

    value: float


jax.tree_util.register_pytree_node(_Static, lambda c: ((), c.value), lambda value, _: _Static(value))


def _alpha_array(alpha: Array | _Static, dtype) -> Array:
    """alpha in ``dtype``: a NumPy scalar for a static alpha."""
    return np.asarray(alpha.value, dtype) if isinstance(alpha, _Static) else alpha.astype(dtype)


# Static alphas are those with 2^-_STATIC_E <= |alpha| < 2^_STATIC_E (and 0): then
# every power of two the kernel applies, 2^(e - 64) included, is a normal float32
# constant. Others take the traced path, whose powers of two XLA cannot fold into
# one constant that underflows.
_STATIC_E = 60


def _static(alpha: float) -> Any:
    """``_Static(alpha)`` where alpha qualifies (see ``_STATIC_E``), else alpha itself."""
    if alpha == 0 or (math.isfinite(alpha) and 2.0**-_STATIC_E <= abs(alpha) < 2.0**_STATIC_E):
        return _Static(float(alpha))
    return alpha


def _static_scale(alpha: float, dtype) -> _Scale:
    """``alpha = m 2^e`` for a static alpha, in NumPy: the same decomposition as
    ``_alpha_scale``, with a Python-int exponent (0 and e = 0 for alpha = 0)."""
    a = np.asarray(alpha, dtype)
    if a == 0:
        return _Scale(a, None, (a, a), 0)
    m, e = np.frexp(a)  # 0.5 <= |m| < 1
    m = np.asarray(2 * m, dtype)
    return _Scale(m, None, _split_const(m, dtype), int(e) - 1)


def _scale(alpha: Array | _Static, dtype) -> _Scale:
    """alpha as a scale: static (NumPy constants) or traced."""
    if isinstance(alpha, _Static):
        return _static_scale(alpha.value, dtype)
    return _alpha_scale(alpha.astype(dtype))


def _alpha_scale(alpha: Array) -> _Scale:
    """``alpha = m 2^e`` with ``1 <= |m| < 2`` (alpha itself and e = 0 when
    alpha is 0, subnormal, inf or NaN: those propagate as they would)."""
    fmt = _fmt(alpha.dtype)
    b = _bits(alpha)
    expo = (b >> fmt.mant) & ((1 << (fmt.dtype.itemsize * 8 - 1 - fmt.mant)) - 1)
    normal = (expo > 0) & (expo < 2 * fmt.bias + 1)
    exponent_mask = np.asarray(((2 * fmt.bias + 1) << fmt.mant), fmt.int_dtype)
    m_bits = (b & ~exponent_mask) | np.asarray(fmt.bias << fmt.mant, fmt.int_dtype)
    m = jnp.where(normal, _from_bits(m_bits, alpha.dtype), alpha)
    e = jnp.where(normal, expo - fmt.bias, 0).astype(np.int32)
    return _Scale(m, None, _split(m), e, alpha == 1)


def _inverse(c: _Scale) -> _Scale:
    """``1 / c`` as a scale, from one division per alpha (not per element)."""
    if isinstance(c.e, int):  # static: hi + lo is 2 / m to twice the precision
        dt = c.hi.dtype
        if c.hi == 1 and c.lo is None:  # alpha = 2^e
            return c._replace(e=-c.e)
        inv2 = np.asarray(2 / c.hi, dt)
        lo = np.asarray(float(Fraction(2) / Fraction(float(c.hi)) - Fraction(float(inv2))), dt)
        return _Scale(inv2, lo, _split_const(inv2, dt), -c.e - 1)
    inv2 = 2 / c.hi  # in (1, 2]: 1 / alpha = inv2 2^(-e - 1)
    r = _residual(np.asarray(2, c.hi.dtype), inv2, c.parts)  # 2 - inv2 m, exactly
    return _Scale(inv2, r / c.hi, _split(inv2), -c.e - 1, c.is_one)


def _residual(x: Array, u: Array, a: tuple[Array, Array]) -> Array:
    """``x - u * a`` exactly, for ``x ~= u * a`` (within a few ULPs), ``a`` split.

    Each partial product is exact and each subtraction cancels exactly
    (Sterbenz), largest first (Dekker 1971, mul12's error term)."""
    u1, u2 = _split(u)
    a1, a2 = a
    return (((x - u1 * a1) - u1 * a2) - u2 * a1) - u2 * a2


def _pow2(k: Array, fmt: _Fmt) -> Array:
    """2**k, exactly, for an integer array k with ``1 - bias <= k <= bias``."""
    return _from_bits((k.astype(fmt.int_dtype) + fmt.bias) << fmt.mant, fmt.dtype)


def _ldexp(v: Array, k: Array | None = None, e: Array | int = 0, k_lo: int | None = None) -> Array:
    """``v * 2^k * 2^e`` rounded once: ``k`` is the kernel's per-element
    exponent (``-2 bias < k <= 0``) or None, ``e`` an exponent per alpha.

    Every factor is a normal power of two, and they are applied largest
    intermediate first (``2^e`` before ``2^k``, as ``k <= 0``), so that an
    intermediate underflows only where the result does. The two powers of a
    traced ``e`` are computed once per alpha, not per element; they pass an
    optimization barrier so that XLA's simplifier cannot fold them into one
    constant ``2^e``, which would underflow for a constant alpha below 2^-62.
    """
    fmt = _fmt(v.dtype)
    if isinstance(e, int) and k is not None and k_lo is not None and k_lo + 64 >= 1 - fmt.bias <= e - 64:
        # k >= k_lo (the clamp's), so 2^(k + 64) is normal, and a static 2^e folds
        # into the constant 2^(e - 64): two products, the second rounding once.
        return v * _pow2(k + 64, fmt) * np.asarray(2.0 ** (e - 64), v.dtype)
    if isinstance(e, int):  # a static exponent (_STATIC_E keeps it a normal power)
        assert 1 - fmt.bias <= e <= fmt.bias, e
        v = v * np.asarray(2.0**e, v.dtype) if e else v
    else:
        e = jnp.clip(e, -2 * (fmt.bias - 1), 2 * fmt.bias)
        half = e >> 1
        p1, p2 = lax.optimization_barrier((_pow2(half, fmt), _pow2(e - half, fmt)))
        v = v * p1 * p2
    if k is None:
        return v
    half = k >> 1
    return v * _pow2(half, fmt) * _pow2(k - half, fmt)


# --------------------------------------------------------------------------
# 2. The kernel


class _Parts(NamedTuple):
    """``exp(u) = 2^k (1 + r + square + small)``: ``r + square + small`` is
    ``expm1(r)`` (see ``benchmarks/error_budget.py`` for its error).

    ``square = r^2 (1/2 + r q(r))`` is a rounded product that must not meet an
    addition before it is scaled by a power of two (a fused multiply-add
    would round it differently); ``tail`` is the same sum with ``square`` made
    opaque, for the callers that add it at once.
    """

    r: Array
    square: Array
    small: Array  # r_err (1 + r): the reduction's rounding error, to first order
    k: Array  # int32
    one: Array  # an opaque 1.0; see _reduce
    k_lo: int | None  # a static lower bound of k (from a static clamp), else None

    @property
    def tail(self) -> Array:
        return _opaque(self.square) + self.small

    def expm1(self) -> tuple[Array, Array]:
        """``expm1(u)`` in [-1, 0] as a double word."""
        fmt = _fmt(self.r.dtype)
        s = _pow2(jnp.maximum(self.k, 1 - fmt.bias), fmt)  # below, expm1 is -1 anyway
        a, a_err = _fast2sum(-self.one, s)  # s - 1, also where it is inexact (k < -24)
        hi, err = _fast2sum(a, s * self.r)  # |s - 1| >= |s r|; s r is exact
        # s square and s small are exact: their order of rounding is the same fused or not.
        return _fast2sum(hi, s * self.square + (s * self.small + (err + a_err)))

    def expm1_fast(self) -> Array:
        """``expm1(u)`` in 4 operations, within 0.8 ULP (the product is exact)."""
        fmt = _fmt(self.r.dtype)
        s = _pow2(jnp.maximum(self.k, 1 - fmt.bias), fmt)
        return s * (self.r + self.tail) + (s - self.one)

    def exp(self) -> tuple[Array, Array]:
        """``exp(u) 2^-k = 1 + r + tail``, in [0.7, 1.5), as a double word."""
        g, g_err = _fast2sum(self.one, self.r)
        return _fast2sum(g, g_err + self.tail)


def _reduce(u: Array, u_lo: Array | None = None, lowest: Array | None = None) -> _Parts:
    """Range reduction and polynomial of ``expm1`` and ``exp`` for ``u <= 0``.

    ``u`` is float32 or float64 and is clamped below at ``xmin`` (-inf gives
    -1 and 0, NaN stays NaN); what it gives for ``u > 0`` is meaningless and
    every caller selects something else there. ``u_lo`` is an optional small
    correction to the argument; ``lowest`` replaces ``xmin`` as the clamp where
    a large alpha keeps ``alpha exp(u)`` normal below ``xmin``.

    Method: ``u = k ln2 + r`` with ``|r| <= ln2 / 2`` (Cody-Waite, keeping the
    rounding error of r in ``r_err``); ``expm1(r) = r + tail`` with
    ``tail = r^2 (1/2 + r q(r)) + r_err (1 + r)`` and the polynomial q.
    """
    dt = u.dtype
    fmt = _fmt(dt)
    # XLA's algebraic simplifier rewrites (a + 1) - 1 into a, which would erase
    # the rounding errors that Fast2Sum recovers; a 1 it cannot see through
    # (the barrier is removed after simplification) keeps them.
    one = lax.optimization_barrier(np.asarray(1.0, dt))
    # Only the lower clamp: callers select x itself where x > 0. A compare and
    # select keep NaN, and cost less than a NaN-aware min or max.
    lowest = np.asarray(fmt.xmin, dt) if lowest is None else lowest
    u = jnp.where(u < lowest, lowest, u)

    # k = round(u / ln2): adding 1.5 * 2^mant leaves k in the low bits of the sum
    # (XLA's CPU float-to-int conversion is slow); k as a float comes back from
    # the integer, which no simplifier can undo.
    shifter = np.asarray(1.5 * 2.0**fmt.mant, dt)
    k_int = _bits(_opaque(u * np.asarray(_INV_LN2, dt)) + shifter) - shifter.view(fmt.int_dtype)
    k = k_int.astype(dt)
    hi = u - k * np.asarray(fmt.ln2_hi, dt)  # exact
    lo = _opaque(k * np.asarray(fmt.ln2_lo, dt))
    if u_lo is not None:
        lo = lo - u_lo
    r = hi - lo
    r_err = (hi - r) - lo

    # expm1(r + r_err) = r + r^2/2 + r^3 q(r) + r_err (1 + O(r)).
    q = np.asarray(fmt.poly[0], dt)
    for coef in fmt.poly[1:]:
        q = _opaque(q * r) + np.asarray(coef, dt)
    square = (r * r) * (np.asarray(0.5, dt) + _opaque(r * q))
    small = r_err + _opaque(r_err * r)
    k_lo = int(math.floor(float(lowest) * _INV_LN2)) - 1 if isinstance(lowest, np.ndarray) else None
    return _Parts(r, square, small, k_int.astype(np.int32), one, k_lo)


def _scaled(dw: tuple[Array, Array], c: _Scale | None, k: Array | None, dtype, e: int = 0,
            k_lo: int | None = None) -> Array:
    """``dw * c * 2^k * 2^e``, rounded once to ``dtype``.

    The powers of two come last, after the rounding decision, so that they are
    exact wherever the result is a normal float (and the low word, which only
    decides the rounding of 16-bit results, never underflows).
    """
    if c is None:
        return _ldexp(dw[0], k, e, k_lo).astype(dtype)  # Fast2Sum left hi = fl(hi + lo)
    return _ldexp(_dw_mul(dw, c, rounded=True), k, c.e + e, k_lo).astype(dtype)


_UP = 64  # expm1 in [-1, 0] is scaled by 2^64 before a product: no partial product underflows


def _is_pow2(c: _Scale | None) -> bool:
    """Whether ``c`` is a static power of two, 2^e (m = 1)."""
    return c is not None and isinstance(c.e, int) and c.lo is None and c.hi == 1


def _expm1_times(parts: _Parts, c: _Scale | None, dtype) -> Array:
    """``c * expm1(u)`` rounded to ``dtype``.

    32- and 64-bit results with alpha = 1 take the cheap ``expm1_fast``. An
    alpha that is 1 at run time selects the default path's value, so that
    ``elu(x, 1.0)`` and ``elu(x, jnp.float32(1))`` agree to the bit (the
    general product by 1 is exact, but its two roundings can differ from the
    default path's one in a tie).
    """
    if _is_pow2(c):  # alpha = 2^e: the default path's bits, scaled exactly
        return _ldexp(parts.expm1_fast(), None, c.e).astype(dtype)
    if c is not None and isinstance(c.e, int) and c.hi == 0:  # alpha = 0: -0 for every x < 0, as 0 * expm1(x)
        return (parts.expm1_fast() * np.asarray(0, parts.r.dtype)).astype(dtype)
    unit = parts.expm1_fast().astype(dtype)
    if c is None:
        return unit
    hi, lo = parts.expm1()
    up = np.asarray(2.0**_UP, hi.dtype)
    out = _scaled((hi * up, lo * up), c, None, dtype, -_UP)
    return out if c.is_one is None else jnp.where(c.is_one, unit, out)


def _exp_times(parts: _Parts, c: _Scale | None, dtype) -> Array:
    """``c * exp(u)`` rounded to ``dtype``; as ``_expm1_times``, an alpha that
    is 1 at run time selects the result of the default path."""
    if _is_pow2(c):
        return _scaled(parts.exp(), None, parts.k, dtype, c.e, parts.k_lo)
    unit = _scaled(parts.exp(), None, parts.k, dtype, 0, parts.k_lo)
    if c is None:
        return unit
    out = _scaled(parts.exp(), c, parts.k, dtype, 0, parts.k_lo)
    return out if c.is_one is None else jnp.where(c.is_one, unit, out)


# --------------------------------------------------------------------------
# 3. The activations


def _is_zero(t) -> bool:
    return isinstance(t, (SymbolicZero, _Static))


def _tangent(like: Array, *terms) -> Array:
    """Sum the (coefficient, tangent) products that are not zero, in ``like``'s dtype and shape.

    A tangent of ``like``'s dtype (that of x) is multiplied in that dtype, so
    that reverse mode keeps its coefficient (f') as an array of x's dtype. A
    tangent of alpha (the compute dtype) is multiplied in the compute dtype and
    then rounded, so that a 16-bit output's derivative in alpha is rounded
    once, and the transpose sums its cotangents in the compute dtype.
    """
    out = None
    for coef, dot in terms:
        if dot is None or _is_zero(dot):
            continue
        if dot.dtype == like.dtype:
            term = coef.astype(like.dtype) * dot
        else:
            term = (coef.astype(dot.dtype) * dot).astype(like.dtype)
        out = term if out is None else out + term
    if out is None:
        return jnp.zeros_like(like)
    return jnp.broadcast_to(out, like.shape)


# ---- ELU


def _residuals(outs: tuple[Array, ...]) -> tuple[Array, ...]:
    """The kernel's outputs; 16-bit ones materialized where the JVP rule computes them.

    Without the barrier XLA may move part of the kernel into the backward pass
    and keep a float32 intermediate alive in place of a 16-bit derivative: XLA
    GPU did, 256 MiB of temp memory for a bfloat16 MLP step where 160 MiB do
    (benchmarks/device_check.py). For 32- and 64-bit inputs that intermediate is
    no larger than the derivative, and the barrier would cost a gradient-only
    pass (``jax.vjp`` without the value) one write of the value.
    """
    if outs[0].dtype.itemsize != 2:
        return outs
    return lax.optimization_barrier(outs)


def _elu_lowest(c: _Scale, ct) -> Array:
    """ELU's lower clamp of x for alpha = m 2^e: xmin - max(e + 1, 0) ln 2.

    Below it alpha exp(x) < 2^(e+1) exp(xmin) 2^-(e+1) = exp(xmin) rounds to 0
    even where subnormal results are kept (GPUs), and above it a large alpha
    keeps alpha exp(x) normal. e + 1 is capped at 101 (alpha < 2^101), so that
    |k| < 2^8 keeps k ln2_hi exact and k stays above -2 bias for _ldexp.
    """
    clip = np.clip if isinstance(c.e, int) else jnp.clip
    steps = clip(c.e + 1, 0, 101).astype(ct)
    return _xmin(ct) - steps * np.asarray(np.log(2), ct)


@jax.custom_jvp
def _elu(x: Array, alpha: Array | None) -> tuple[Array, Array]:
    """``(elu(x, alpha), d elu / dx)``, both in x's dtype; ``alpha=None`` means 1."""
    ct = _compute_dtype(x.dtype)
    c = None if alpha is None else _scale(alpha, ct)
    traced = c is not None and not isinstance(c.e, int)  # static alphas are finite
    if traced:
        # alpha = +-inf as +-2^(2 bias + _UP): every product by it overflows to the limit,
        # -+inf for x < 0 (subnormal x too) and +-inf for f', instead of inf * 0 = NaN.
        inf = jnp.isinf(c.hi)
        m = jnp.where(inf, jnp.sign(c.hi), c.hi)
        c = c._replace(hi=m, parts=_split(m), e=jnp.where(inf, 2 * _fmt(ct).bias + _UP, c.e))
    lowest = None if c is None else _elu_lowest(c, ct)
    parts = _reduce(x.astype(ct), lowest=lowest)
    value = _expm1_times(parts, c, x.dtype)
    deriv = _exp_times(parts, c, x.dtype)
    # f(+-0) = +-0 (x itself), as IEEE expm1 gives; f'(0) takes the x <= 0 side.
    value, deriv = jnp.where(x >= 0, x, value), jnp.where(x > 0, np.asarray(1, x.dtype), deriv)
    if traced:  # f'(-inf) = alpha exp(-inf) = +-0 for every alpha (the clamp makes it +-inf for +-inf)
        deriv = jnp.where(x == -np.inf, (c.hi * 0).astype(x.dtype), deriv)
    return value, deriv


def _elu_jvp(primals, tangents):
    # d f = f' dx + [x <= 0] expm1(x) d alpha;  d f' = [x <= 0] f' dx + [x <= 0] exp(x) d alpha.
    # (x > 0 selects the zeros, so that NaN propagates into every derivative.)
    x, alpha = primals
    x_dot, alpha_dot = tangents
    value, deriv = _residuals(_elu(x, alpha))
    pos = x > 0
    expm1_x = exp_x = None
    if alpha is not None and not _is_zero(alpha_dot):
        # expm1(x) and exp(x) for x <= 0, in the compute dtype: a 16-bit output's
        # tangent is rounded once, and the cotangent of alpha sums in float32.
        expm1_x, exp_x = _elu(x.astype(_compute_dtype(x.dtype)), None)
        expm1_x, exp_x = jnp.where(pos, 0, expm1_x), jnp.where(pos, 0, exp_x)
    return (value, deriv), (
        _tangent(value, (deriv, x_dot), (expm1_x, alpha_dot)),
        _tangent(deriv, (jnp.where(pos, 0, deriv), x_dot), (exp_x, alpha_dot)),
    )


_elu.defjvp(_elu_jvp, symbolic_zeros=True)


# ---- SELU


def _selu_positive(x: Array, dtype) -> Array:
    """``lambda * x`` for ``x > 0``, rounded once to ``dtype`` from a double word.

    With ``x = x1 + x2`` (12-bit halves) and ``lambda = c1 + rest`` (``c1``
    its leading 12 bits): ``x1 c1`` and ``x2 c1`` are exact and ``x rest`` is
    below 2^-11 of the result, so the sum is within half an ULP plus 2^-34,
    relative, of ``lambda x``, and it rounds the same fused or not (the
    products that meet an addition are exact or opaque). One product by
    lambda rounded to float32 would be off by up to 1.06 ULP.
    """
    lam = _const_scale(_SELU_SCALE, x.dtype)
    c1, c2 = lam.parts
    rest = np.asarray(c2 + lam.lo, x.dtype)
    # Tiny x: scale up so that no partial product underflows (exact both ways).
    tiny = x < np.asarray(2.0**-60, x.dtype)
    xs = x * jnp.where(tiny, np.asarray(2.0**64, x.dtype), np.asarray(1, x.dtype))
    x1, x2 = _split(xs)
    # x2 c1 as (x1 - xs)(-c1): the same product, but -0 for x = -0, so selu(-0) = -0.
    out = x1 * c1 + ((x1 - xs) * -c1 + _opaque(xs * rest))
    out = out * jnp.where(tiny, np.asarray(2.0**-64, x.dtype), np.asarray(1, x.dtype))
    # x = +inf: x2 = inf - inf is NaN; lambda x is +inf.
    return jnp.where(x < np.inf, out, x).astype(dtype)


# The float16 inputs at which selu's derivative, lambda alpha exp(x) rounded
# first to float32, would round to float16 wrongly: there the float32 result
# is a float16 midpoint and the true value lies just beyond it. Found by
# enumerating every 16-bit input (python -m benchmarks.accuracy); the only ones for
# the default alphas. Bits of x -> bits of the correctly rounded result.
_SELU_DERIV_F16 = ((0xAFEE, 0x3E37), (0xBD43, 0x378D))  # x = -0.1239, -1.315


def _patch(x: Array, out: Array, table) -> Array:
    """``out`` with the listed inputs' results replaced (bit patterns)."""
    xb = lax.bitcast_convert_type(x, np.uint16)
    for xv, yv in table:
        out = jnp.where(xb == np.uint16(xv), lax.bitcast_convert_type(np.uint16(yv), out.dtype), out)
    return out


@jax.custom_jvp
def _selu(x: Array) -> tuple[Array, Array]:
    """``(selu(x), d selu / dx)``, both in x's dtype."""
    ct = _compute_dtype(x.dtype)
    xc = x.astype(ct)
    c = _const_scale(_SELU_SCALE_ALPHA, ct)
    parts = _reduce(xc, lowest=_elu_lowest(c, ct))
    value = _expm1_times(parts, c, x.dtype)
    deriv = _exp_times(parts, c, x.dtype)
    if x.dtype == np.float16:
        deriv = _patch(x, deriv, _SELU_DERIV_F16)
    return (  # selu(+-0) = +-0 (lambda x), selu'(0) the x <= 0 side
        jnp.where(x >= 0, _selu_positive(xc, x.dtype), value),
        jnp.where(x > 0, np.asarray(float(_SELU_SCALE), x.dtype), deriv),
    )


def _selu_jvp(primals, tangents):
    # d f = f' dx;  d f' = [x <= 0] f' dx.
    (x,), (x_dot,) = primals, tangents
    value, deriv = _residuals(_selu(x))
    return (value, deriv), (deriv * x_dot, jnp.where(x > 0, 0, deriv) * x_dot)


_selu.defjvp(_selu_jvp)


# ---- ELU + 1


@jax.custom_jvp
def _elu_plus_one(x: Array) -> tuple[Array, Array]:
    """``(elu(x) + 1, its derivative)``, both in x's dtype: ``x + 1`` and 1 for
    ``x > 0``, ``exp(x)`` twice for ``x <= 0`` (elu's derivative, alpha = 1)."""
    deriv = _elu(x, None)[1]
    return jnp.where(x > 0, x + np.asarray(1, x.dtype), deriv), deriv


def _elu_plus_one_jvp(primals, tangents):
    # d f = f' dx;  d f' = [x <= 0] f' dx.
    (x,), (x_dot,) = primals, tangents
    value, deriv = _residuals(_elu_plus_one(x))
    return (value, deriv), (deriv * x_dot, jnp.where(x > 0, 0, deriv) * x_dot)


_elu_plus_one.defjvp(_elu_plus_one_jvp)


# ---- CELU


def _celu_arg(x: Array, c: _Scale, inv: _Scale) -> tuple[Array, Array]:
    """``u + u_lo = min(x, 0) / alpha`` to about twice the working precision.

    ``y = x 2^-e`` is exact (where ``|u| >= 2^-25``, the only place u matters),
    ``u = y / m`` comes from one multiplication by ``1 / m`` and ``u_lo`` from
    the exact residual ``y - u m``.
    """
    fmt = _fmt(x.dtype)
    y = _ldexp(jnp.where(x > 0, np.asarray(0, x.dtype), x), None, -c.e)
    lowest = c.hi * np.asarray(fmt.celu_min, x.dtype)  # keeps u in the kernel's range
    y = jnp.where(y < lowest, lowest, y)
    if _is_pow2(c):  # alpha = 2^e: u = x 2^-e exactly
        return y, None
    half = np.asarray(0.5, x.dtype)
    u = _opaque(y * inv.hi * half)  # inv.hi / 2 = 1 / m
    return u, _opaque(_residual(y, u, c.parts) * (inv.hi * half))


def _square(u: tuple[Array, Array]) -> _Scale:
    """``(u_hi + u_lo)^2 2^64`` as a scale (the 2^64 keeps tiny squares from underflowing)."""
    hi, lo = u
    up = hi * np.asarray(2.0**32, hi.dtype)
    s_hi, s_lo = _two_prod(up, _split(up))
    s_lo = s_lo + _opaque(up * (lo * np.asarray(2.0**33, hi.dtype)))  # + 2 u_hi u_lo
    return _Scale(s_hi, s_lo, _split(s_hi), -64)


def _g_series(u: Array, u_lo: Array, square: _Scale) -> tuple[Array, Array]:
    """``(expm1(u) - u exp(u)) 2^64 = -u^2 (1/2 + u/3 + u^2/8 + u^3 q(u)) 2^64`` for |u| <= 1.

    ``1/2 + u/3 + u^2/8`` is summed exactly (``u/3`` and ``u^2/8`` as double
    words, the latter from ``square`` = ``u^2 2^64``), so only the small
    ``u^3 q(u)`` (at most 1/30 + ...) carries rounding errors. ``u_lo``
    enters to first order, through the derivative ``1/3 + u/4 + u^2/10 + ...``.
    """
    fmt = _fmt(u.dtype)
    q = np.asarray(fmt.gser[0], u.dtype)
    for coef in fmt.gser[1:-3]:
        q = _opaque(q * u) + np.asarray(coef, u.dtype)
    third_hi, third_lo = _const_scale_parts("0.33333333333333333333333333333333333", u.dtype)
    t_hi, t_lo = _two_prod(u, _split_const(third_hi, u.dtype))
    eighth = np.asarray(2.0**-67, u.dtype)  # u^2 / 8 = square 2^-67, exactly
    s_hi, s_lo = _fast2sum(np.asarray(0.5, u.dtype), t_hi)  # |u / 3| <= 1/3
    s_hi, s_err = _fast2sum(s_hi, square.hi * eighth)  # 1/2 + u/3 >= 1/6 > u^2 / 8
    cube = _opaque(_opaque(u * u) * _opaque(u * q))
    slope = np.asarray(1 / 3, u.dtype) + _opaque(u * (np.asarray(0.25, u.dtype) + _opaque(u * np.asarray(0.1, u.dtype))))
    rest = (s_lo + s_err) + (t_lo + _opaque(u * third_lo)) + (square.lo * eighth + cube) + _opaque(u_lo * slope)
    hi, lo = _dw_mul((s_hi, rest), square)
    return -hi, -lo


@jax.custom_jvp
def _celu(x: Array, alpha: Array) -> tuple[Array, ...]:
    """CELU and its derivatives, with ``u = x / alpha``:

    ``(f, f', f'', d f / d alpha, d^2 f / d alpha^2)`` =
    ``(alpha expm1(u), exp(u), exp(u) / alpha, exp(u)(1 - u) - 1, u^2 exp(u) / alpha)``
    for ``x <= 0``, and ``(x, 1, 0, 0, 0)`` for ``x > 0``; the first three in
    x's dtype, the derivatives in alpha in the compute dtype. A traced alpha
    that is not finite and positive gives NaN for ``x <= 0``.
    """
    dt = x.dtype
    ct = _compute_dtype(dt)
    xc = x.astype(ct)
    c = _scale(alpha, ct)
    inv = _inverse(c)
    u, u_lo = _celu_arg(xc, c, inv)
    parts = _reduce(u, u_lo, lowest=np.asarray(_fmt(ct).celu_min, ct))
    u_lo = jnp.zeros_like(u) if u_lo is None else u_lo
    value = _expm1_times(parts, c, dt)
    deriv = _exp_times(parts, None, dt)
    deriv2 = _exp_times(parts, inv, dt)
    # d f / d alpha = expm1(u) - u exp(u), without cancellation: a Taylor series
    # for |u| <= 1, else the double words (cancelling at most 2 bits).
    exp_dw = parts.exp()
    ue = _dw_mul(exp_dw, _Scale(u, u_lo, _split(u), 0))
    up = np.asarray(2.0**64, ct)
    ue = (_ldexp(ue[0], parts.k, 64, parts.k_lo), _ldexp(ue[1], parts.k, 64, parts.k_lo))
    expm1_dw = parts.expm1()
    d_hi, d_err = _fast2sum(expm1_dw[0] * up, -ue[0])  # |expm1(u)| >= |u exp(u)|
    by_parts = _fast2sum(d_hi, d_err + (expm1_dw[1] * up - ue[1]))
    square = _square((u, u_lo))
    by_series = _g_series(u, u_lo, square)
    small = jnp.abs(u) <= np.asarray(_SERIES_BELOW, ct)
    # The alpha derivatives stay in the compute dtype (float32 for 16-bit x): the
    # cotangent of alpha is a sum over elements, and it sums in float32.
    d_alpha = _scaled(tuple(jnp.where(small, s, p) for s, p in zip(by_series, by_parts)), None, None, ct, -64)
    # d^2 f / d alpha^2 = u^2 exp(u) / alpha.
    d_alpha2 = _scaled(_dw_mul(exp_dw, square), inv, parts.k, ct, square.e, parts.k_lo)

    pos = x > 0
    a = _alpha_array(alpha, ct)
    bad = ~((a > 0) & (a < np.inf))
    nan = np.asarray(np.nan, dt)
    # |u| < 2^-(mant + 2): alpha expm1(u) = x (1 + u/2 + ...) rounds to x (u may
    # have underflowed there); x = -0 gives -0, as IEEE expm1 does.
    tiny_u = jnp.abs(u) < np.asarray(2.0 ** -(_fmt(ct).mant + 2), ct)
    value = jnp.where(tiny_u, x, value)

    def sel(on_pos, v):
        return jnp.where(pos, np.asarray(on_pos, v.dtype), jnp.where(bad, np.asarray(np.nan, v.dtype), v))

    value = jnp.where(pos, x, jnp.where(bad, nan, value))
    return value, sel(1, deriv), sel(0, deriv2), sel(0, d_alpha), sel(0, d_alpha2)


def _celu_jvp(primals, tangents):
    # With u = x / alpha, f'' = exp(u) / alpha, f_a = d f / d alpha and
    # f_aa = d^2 f / d alpha^2, for x <= 0 (all zero in alpha for x > 0):
    #   d f    = f' dx + f_a d alpha
    #   d f'   = f'' dx - u f'' d alpha
    #   d f''  = (f'' / alpha) dx - (1 + u) (f'' / alpha) d alpha
    #   d f_a  = -u f'' dx + f_aa d alpha
    #   d f_aa = (2 + u) u (f'' / alpha) dx - (3 + u) (f_aa / alpha) d alpha
    # u is clamped where exp(u) is 0 anyway, so that no inf meets a 0.
    x, alpha = primals
    x_dot, alpha_dot = tangents
    outs = _residuals(_celu(x, alpha))
    value, deriv, deriv2, d_alpha, d_alpha2 = outs
    ct = _compute_dtype(x.dtype)
    a = _alpha_array(alpha, ct)
    xc = x.astype(ct)
    pos = x > 0
    # Clamp x, not x / alpha: the tangent of x / alpha at x = -inf would be inf * 0.
    lowest = a * np.asarray(_fmt(ct).celu_min, ct)
    u = jnp.where(pos, 0, jnp.where(xc < lowest, lowest, xc)) / a  # x = +inf: no inf / a either
    deriv2_ct, d_alpha2_ct = deriv2.astype(ct), d_alpha2.astype(ct)  # in the compute dtype
    deriv2_per_alpha = deriv2_ct / a
    return outs, (
        _tangent(value, (deriv, x_dot), (d_alpha, alpha_dot)),
        _tangent(deriv, (deriv2, x_dot), (-u * deriv2_ct, alpha_dot)),
        _tangent(deriv2, (deriv2_per_alpha, x_dot), (-(1 + u) * deriv2_per_alpha, alpha_dot)),
        _tangent(d_alpha, (-u * deriv2_ct, x_dot), (d_alpha2, alpha_dot)),
        _tangent(d_alpha2, ((2 + u) * u * deriv2_per_alpha, x_dot), (-(3 + u) * d_alpha2_ct / a, alpha_dot)),
    )


_celu.defjvp(_celu_jvp, symbolic_zeros=True)


# --------------------------------------------------------------------------
# 4. The public functions: checks in Python, then one jitted call.


def _weak(out: Array, weak: bool) -> Array:
    """Mark ``out`` weakly typed, as ``jax.nn`` returns it for weak or integer inputs."""
    if not weak:
        return out
    try:
        from jax._src.lax.lax import _convert_element_type
    except ImportError:  # pragma: no cover - a JAX without the private helper
        return out
    return _convert_element_type(out, out.dtype, weak_type=True)


def _result_type(x: Array, alpha: Any, atype: Any) -> tuple[np.dtype, bool]:
    """The result's dtype and weak type, for ``x`` traced inside the jitted call.

    jax.nn's: the promotion of x, alpha and a Python float (jax.nn.elu computes
    ``alpha * expm1(where(x > 0, 0., x))``), for an integer, bool or weakly typed
    x. A strongly typed float x keeps its dtype whatever alpha's (a documented
    difference: jax.nn promotes bfloat16 x with a float32 alpha to float32).
    ``atype`` is alpha's type where the call does not get alpha as an array (see
    ``_alpha_type``), else None (the traced alpha carries its own).
    """
    if jnp.issubdtype(x.dtype, jnp.floating) and not jax.typeof(x).weak_type:
        return x.dtype, False
    dt, weak = jax.dtypes.result_type(x, alpha if atype is None else atype, float, return_weak_type_flag=True)
    return np.dtype(dt), bool(weak)


def _alpha_type(alpha: Any) -> Any:
    """The type jax.nn's promotion sees for a Python or NumPy scalar alpha, which a
    ``_Static`` (or None, for alpha = 1) does not carry: ``float`` or ``int`` for a
    weakly typed Python number, else its canonical NumPy dtype (float64 is
    float32 unless x64 is enabled). Hashable: a static argument of the jitted call."""
    if isinstance(alpha, (np.ndarray, np.generic)):  # (result_type would warn about float64)
        return np.dtype(jax.dtypes.canonicalize_dtype(alpha.dtype))
    dt, weak = jax.dtypes.result_type(alpha, return_weak_type_flag=True)
    if weak:
        return float if jnp.issubdtype(dt, jnp.floating) else int
    return np.dtype(dt)


_X_DTYPES = "bfloat16, float16, float32, float64, or an integer or bool dtype (promoted to a float as by jax.nn)"

# The dtypes of x checked cheaply (un-jitted calls pay for every check).
_COMMON_DTYPES = frozenset(
    np.dtype(d) for d in (jnp.bfloat16, np.float16, np.float32, np.float64, np.int8, np.int16, np.int32,
                          np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.bool_)
)
_JAX_DTYPES: dict = {}  # dtype -> whether JAX has arrays of it (longdouble, object, str: no)


def _jax_dtype(dt: np.dtype) -> bool:
    ok = _JAX_DTYPES.get(dt)
    if ok is None:
        import warnings

        try:
            with warnings.catch_warnings():  # (float64 without x64: JAX has it, and warns)
                warnings.simplefilter("ignore")
                jax.dtypes.result_type(dt)
            ok = True
        except (TypeError, ValueError):
            ok = False
        _JAX_DTYPES[dt] = ok
    return ok


def _dtype_name(dt: np.dtype) -> str:
    """``longdouble (float128)``, ``float32``: the NumPy type's name, and the dtype's where they differ."""
    name = getattr(dt.type, "__name__", str(dt))
    return name if name == dt.name else f"{name} ({dt.name})"


def _jet_traced(v: Any) -> bool:
    """Whether ``v`` is a jax.experimental.jet tracer (only possible once jet is imported)."""
    import sys

    jet = sys.modules.get("jax.experimental.jet")
    return jet is not None and isinstance(v, getattr(jet, "JetTracer", ()))


def _jet_error(name: str) -> NotImplementedError:
    return NotImplementedError(
        f"jelu.{name}: jax.experimental.jet is not supported (jet ignores custom_jvp rules and cannot "
        "differentiate jelu's bit-level kernel; it fails on jax.nn.relu too); for Taylor coefficients "
        "nest jax.jvp (or use jax.jacfwd / jax.hessian), which use jelu's exact derivatives"
    )


def _check_x(x: Any, name: str) -> Any:
    """Check ``x`` in Python; returns it, an object with ``__jax_array__`` converted."""
    if isinstance(x, jax.Array):
        if _jet_traced(x):
            raise _jet_error(name)
        dt = x.dtype
    elif isinstance(x, (np.ndarray, np.generic)):
        dt = x.dtype
    elif hasattr(x, "__jax_array__"):  # as jnp functions accept them (jax.nn's jit no longer does)
        return _check_x(x.__jax_array__(), name)
    elif x is None or isinstance(x, (str, bytes)):
        raise TypeError(f"jelu.{name}: x must be an array or a number of a real dtype, got {type(x).__name__}")
    else:
        try:
            dt = np.dtype(jax.dtypes.result_type(x))
        except (TypeError, ValueError):
            raise TypeError(
                f"jelu.{name}: x must be an array or a number of a real dtype, got {type(x).__name__}"
            ) from None
    if dt in _COMMON_DTYPES:
        return x
    if jnp.issubdtype(dt, jnp.complexfloating):
        raise TypeError(
            f"jelu.{name}: complex input (dtype {dt}) is not supported; x must be real: {_X_DTYPES}"
        )
    if not (jnp.issubdtype(dt, jnp.floating) or jnp.issubdtype(dt, jnp.integer)) or not _jax_dtype(dt):
        raise TypeError(f"jelu.{name}: x of dtype {_dtype_name(dt)} is not supported; x must be {_X_DTYPES}")
    return x


# The alphas the accuracy claims cover (benchmarks/error_budget.py); a Python or
# NumPy alpha outside them raises ValueError. elu: 0, +-inf (the limits), or |alpha|
# in the range (either sign); celu: alpha in the range.
ALPHA_RANGE = {"elu": (1e-30, 1e30), "celu": (1e-6, 1e30)}


def _alpha_error(name: str, what: str) -> ValueError:
    lo, hi = ALPHA_RANGE[name]
    valid = f"0, +-inf, or {lo:g} <= |alpha| <= {hi:g}" if name == "elu" else f"{lo:g} <= alpha <= {hi:g}"
    return ValueError(f"jelu.{name}: {what} is outside the supported range; alpha must be {valid}")


def _in_range(values: np.ndarray, name: str) -> np.ndarray:
    lo, hi = ALPHA_RANGE[name]
    if name == "elu":
        return (values == 0) | np.isinf(values) | ((np.abs(values) >= lo) & (np.abs(values) <= hi))
    return (values >= lo) & (values <= hi)


def _alpha_type_error(name: str, what: str) -> TypeError:
    return TypeError(
        f"jelu.{name}: alpha {what}; alpha must be a real number (float or integer) or an array of a "
        "float or integer dtype broadcastable against x"
    )


def _check_alpha(alpha: Any, x: Any, name: str) -> tuple[Any, Any]:
    """Check ``alpha`` in Python. Returns what the jitted call takes for it, and its type:

    * None for the default 1 (the cheapest path), a ``_Static`` for another
      Python or NumPy scalar the kernel specializes on (a float, for one it does
      not, such as +-inf), else the array itself;
    * for a scalar, the type jax.nn's promotion sees (``_alpha_type``); None for
      an array, whose type travels with it into the jitted call.
    """
    if type(alpha) in (float, int):  # the common case, checked cheaply
        atype = type(alpha)
        if alpha == 1:
            return None, atype
        lo, hi = ALPHA_RANGE[name]
        if not (lo <= abs(alpha) <= hi and (alpha > 0 or name == "elu")) and not (
            name == "elu" and (alpha == 0 or abs(alpha) == math.inf)
        ):
            raise _alpha_error(name, f"alpha={alpha!r}")
        return _static(float(alpha)), atype
    if isinstance(alpha, jax.Array):
        if _jet_traced(alpha):
            raise _jet_error(name)
    elif not isinstance(alpha, (np.ndarray, np.generic, int, float)):
        if hasattr(alpha, "__jax_array__"):  # as jnp functions accept them (jax.nn's jit no longer does)
            return _check_alpha(alpha.__jax_array__(), x, name)
        raise _alpha_type_error(name, f"of type {type(alpha).__name__} is not supported")
    try:
        dt = np.dtype(alpha.dtype if hasattr(alpha, "dtype") else jax.dtypes.result_type(alpha))
    except (TypeError, ValueError):
        raise _alpha_type_error(name, f"of type {type(alpha).__name__} is not supported") from None
    if dt == np.bool_:  # jax.nn treats True as 1; a bool alpha is almost certainly a mistake
        raise _alpha_type_error(name, "of dtype bool is not supported (pass 1.0 for True)")
    if not (jnp.issubdtype(dt, jnp.floating) or jnp.issubdtype(dt, jnp.integer)) or not _jax_dtype(dt):
        raise _alpha_type_error(name, f"of dtype {_dtype_name(dt)} is not supported")
    x_shape, a_shape = np.shape(x), np.shape(alpha)
    try:
        jnp.broadcast_shapes(x_shape, a_shape)
    except ValueError:
        raise ValueError(
            f"jelu.{name}: alpha of shape {a_shape} does not broadcast against x of "
            f"shape {x_shape}; pass a scalar or an array broadcastable to {x_shape} "
            f"(e.g. per-channel alpha of shape ({x_shape[-1] if x_shape else 1},))"
        ) from None
    if isinstance(alpha, jax.Array):
        return alpha, None  # concrete or traced, never inspected here: that would sync with the device
    values = np.asarray(alpha, np.float64)
    bad = ~_in_range(values, name)
    if bad.any():
        where = np.argwhere(bad)[0]
        what = f"alpha={float(values[tuple(where)])!r}" if values.ndim == 0 else (
            f"alpha[{', '.join(map(str, where))}]={float(values[tuple(where)])!r}"
        )
        raise _alpha_error(name, what)
    if values.ndim == 0:
        return (None if values == 1 else _static(float(values))), _alpha_type(alpha)
    return alpha, None


# The kernels, jitted apart from the typing around them (and inlined into it): one
# trace per x dtype and alpha as the kernel takes it, whatever type alpha came in.
@jax.jit
def _elu_value(x: Array, alpha: Array | _Static | None) -> Array:
    return _elu(x, alpha)[0]


@jax.jit
def _celu_value(x: Array, alpha: Array | _Static) -> Array:
    return _celu(x, alpha)[0]


@functools.partial(jax.jit, static_argnames="atype")
def _elu_call(x: Array, alpha: Array | _Static | None, atype: Any) -> Array:
    dt, weak = _result_type(x, alpha, atype)
    x = x.astype(dt)
    if alpha is not None and not isinstance(alpha, _Static):
        alpha = jnp.asarray(alpha).astype(_compute_dtype(dt))
    return _weak(_elu_value(x, alpha), weak)


@jax.jit
def _selu_call(x: Array) -> Array:
    dt, weak = _result_type(x, None, float)
    return _weak(_selu(x.astype(dt))[0], weak)


@jax.jit
def _elu_plus_one_call(x: Array) -> Array:
    dt, weak = _result_type(x, None, float)
    return _weak(_elu_plus_one(x.astype(dt))[0], weak)


@functools.partial(jax.jit, static_argnames="atype")
def _celu_call(x: Array, alpha: Array | _Static, atype: Any) -> Array:
    dt, weak = _result_type(x, alpha, atype)
    x = x.astype(dt)
    if not isinstance(alpha, _Static):
        alpha = jnp.asarray(alpha).astype(_compute_dtype(dt))
    return _weak(_celu_value(x, alpha), weak)


def elu(x: ArrayLike, alpha: ArrayLike = 1.0) -> Array:
    r"""Exponential linear unit, within 1 ULP, with exact-tailed derivatives.

    Computes the element-wise function

    .. math::
      \mathrm{elu}(x) = \begin{cases}
        x, & x > 0\\
        \alpha \left(\exp(x) - 1\right), & x \le 0
      \end{cases}
      \qquad
      \frac{\partial\,\mathrm{elu}}{\partial x} = \begin{cases}
        1, & x > 0\\
        \alpha \exp(x), & x \le 0
      \end{cases}
      \qquad
      \frac{\partial\,\mathrm{elu}}{\partial \alpha} = \begin{cases}
        0, & x > 0\\
        \exp(x) - 1, & x \le 0
      \end{cases}

    A drop-in for :func:`jax.nn.elu`. The value and its first and second
    derivatives are within 1 ULP of the correctly rounded result for every
    alpha (derived: ``benchmarks/error_budget.py``), and correctly rounded for
    every bfloat16 and float16 input with alpha = 1 (enumerated:
    ``benchmarks/accuracy.py``); every
    derivative is free of NaN and inf where the math is finite, the derivative
    keeps its tail ``alpha * exp(x)`` instead of flushing to 0 below x = -17.3
    (float32), and reverse mode keeps one array the size of ``x`` instead of
    four. The bits are the same jitted or not, on every call path.

    Args:
      x: input array or number: bfloat16, float16, float32 or float64, or an
        integer or bool (promoted to a float as by :func:`jax.nn.elu`).
        Other dtypes (complex, longdouble) raise ``TypeError``.
      alpha: float or integer scalar, or array broadcastable against ``x``
        (e.g. one alpha per channel); may be traced and differentiated, and
        is used at float32 precision (float64 for float64 ``x``). A Python or
        NumPy alpha must be 0, +-inf (the limits: ``-inf`` for x < 0 and
        ``x`` for x >= 0 with alpha = +inf) or have ``1e-30 <= |alpha| <=
        1e30``, else ``ValueError``; a bool raises ``TypeError``. Default 1.

    Returns:
      An array of the broadcast shape of ``x`` and ``alpha``, with
      :func:`jax.nn.elu`'s dtype and weak type, except that a strongly typed
      float ``x`` keeps its dtype whatever alpha's (jax.nn promotes bfloat16
      with a float32 alpha to float32).

    Examples:
      >>> import jax, jax.numpy as jnp, jelu
      >>> jelu.elu(jnp.array([-1.0, 0.0, 2.0]))
      Array([-0.63212055,  0.        ,  2.        ], dtype=float32)
      >>> jax.grad(jelu.elu)(-20.0)  # jax.nn.elu gives 0.0 here
      Array(2.0611537e-09, dtype=float32, weak_type=True)

    References:
      Clevert, Unterthiner, Hochreiter, "Fast and Accurate Deep Network Learning
      by Exponential Linear Units (ELUs)", ICLR 2016. https://arxiv.org/abs/1511.07289
    """
    x = _check_x(x, "elu")
    return _elu_call(x, *_check_alpha(alpha, x, "elu"))


def selu(x: ArrayLike) -> Array:
    r"""Scaled exponential linear unit, within 1 ULP, with exact-tailed derivatives.

    Computes the element-wise function

    .. math::
      \mathrm{selu}(x) = \lambda \begin{cases}
        x, & x > 0\\
        \alpha \left(\exp(x) - 1\right), & x \le 0
      \end{cases}
      \qquad
      \frac{\partial\,\mathrm{selu}}{\partial x} = \lambda \begin{cases}
        1, & x > 0\\
        \alpha \exp(x), & x \le 0
      \end{cases}

    with :math:`\alpha = 1.6732632423543772848170429916717` and
    :math:`\lambda = 1.0507009873554804934193349852946`. The constants enter at
    full precision (as unevaluated sums of two floats), never rounded to the
    input's dtype first, so the result is correctly rounded for 16-bit floats
    and within 1 ULP for float32/float64, and ``lambda * alpha * exp(x)`` does not
    underflow before the true derivative does.

    Args:
      x: input array or number: bfloat16, float16, float32 or float64, or an
        integer or bool (promoted to a float as by :func:`jax.nn.selu`).

    Returns:
      An array of ``x``'s shape, with :func:`jax.nn.selu`'s dtype and weak type.

    Examples:
      >>> import jax.numpy as jnp, jelu
      >>> jelu.selu(jnp.array([-1.0, 0.0, 2.0]))
      Array([-1.1113307,  0.       ,  2.101402 ], dtype=float32)

    References:
      Klambauer, Unterthiner, Mayr, Hochreiter, "Self-Normalizing Neural
      Networks", NeurIPS 2017. https://arxiv.org/abs/1706.02515
    """
    return _selu_call(_check_x(x, "selu"))


def celu(x: ArrayLike, alpha: ArrayLike = 1.0) -> Array:
    r"""Continuously-differentiable exponential linear unit, within 1 ULP.

    Computes the element-wise function

    .. math::
      \mathrm{celu}(x) = \begin{cases}
        x, & x > 0\\
        \alpha \left(\exp(x / \alpha) - 1\right), & x \le 0
      \end{cases}
      \qquad
      \frac{\partial\,\mathrm{celu}}{\partial x} = \begin{cases}
        1, & x > 0\\
        \exp(x / \alpha), & x \le 0
      \end{cases}

    and, for :math:`x \le 0` with :math:`u = x / \alpha`,
    :math:`\partial\,\mathrm{celu} / \partial\alpha = e^u (1 - u) - 1` and
    :math:`\partial^2 \mathrm{celu} / \partial\alpha^2 = u^2 e^u / \alpha`
    (0 for :math:`x > 0`), each computed without cancellation. ``x / alpha``
    is carried to twice the working precision, so the result is within 1 ULP
    for any alpha, not only powers of two.

    Args:
      x: input array or number: bfloat16, float16, float32 or float64, or an
        integer or bool (promoted to a float as by :func:`jax.nn.celu`).
      alpha: float or integer scalar, or array broadcastable against ``x``,
        used at float32 precision (float64 for float64 ``x``). A Python or
        NumPy alpha outside ``1e-6 <= alpha <= 1e30`` (0, negative, inf, NaN)
        raises ``ValueError``, also under ``jax.jit``; a bool raises
        ``TypeError``. A JAX array alpha is not inspected: where it is not
        finite and positive the result is NaN for ``x <= 0``. Default 1.

    Returns:
      An array of the broadcast shape of ``x`` and ``alpha``, with
      :func:`jax.nn.celu`'s dtype and weak type, except that a strongly typed
      float ``x`` keeps its dtype whatever alpha's.

    Examples:
      >>> import jax.numpy as jnp, jelu
      >>> jelu.celu(jnp.array([-1.0, 0.0, 2.0]), alpha=0.5)
      Array([-0.43233237,  0.        ,  2.        ], dtype=float32)

    References:
      Barron, "Continuously Differentiable Exponential Linear Units", 2017.
      https://arxiv.org/abs/1704.07483
    """
    x = _check_x(x, "celu")
    alpha, atype = _check_alpha(alpha, x, "celu")
    if alpha is None:  # celu(x, 1) is elu(x, 1), derivatives included
        return _elu_call(x, None, atype)
    return _celu_call(x, alpha, atype)


def elu_plus_one(x: ArrayLike) -> Array:
    r"""``elu(x) + 1`` without cancellation: the positive feature map of linear attention.

    Computes the element-wise function

    .. math::
      \phi(x) = \mathrm{elu}(x) + 1 = \begin{cases}
        x + 1, & x > 0\\
        \exp(x), & x \le 0
      \end{cases}
      \qquad
      \phi'(x) = \begin{cases}
        1, & x > 0\\
        \exp(x), & x \le 0
      \end{cases}

    Written as ``jax.nn.elu(x) + 1``, the negative side is ``expm1(x) + 1``, a
    difference that loses every bit of ``exp(x)`` once ``exp(x)`` is below half
    an ULP of 1: in bfloat16 it is 0 from x = -6.25 down, and so is its
    derivative, while a linear-attention normalizer divides by sums of these
    features. Here ``exp(x)`` comes from jelu's kernel directly (the derivative
    of :func:`elu`), so it is positive wherever ``exp(x)`` does not underflow
    the dtype, and reverse mode keeps one array the size of ``x``.

    Args:
      x: input array or number: bfloat16, float16, float32 or float64, or an
        integer or bool (promoted to a float as ``jax.nn.elu(x) + 1`` would be).

    Returns:
      An array of ``x``'s shape, with the dtype and weak type of
      ``jax.nn.elu(x) + 1``.

    Examples:
      >>> import jax.numpy as jnp, jelu
      >>> jelu.elu_plus_one(jnp.array([-20.0, 0.0, 2.0]))
      Array([2.0611537e-09, 1.0000000e+00, 3.0000000e+00], dtype=float32)

    References:
      Katharopoulos, Vyas, Pappas, Fleuret, "Transformers are RNNs: Fast
      Autoregressive Transformers with Linear Attention", ICML 2020.
      https://arxiv.org/abs/2006.16236
    """
    return _elu_plus_one_call(_check_x(x, "elu_plus_one"))
