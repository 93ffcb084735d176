# Copyright 2026 The jelu Authors. Licensed under the Apache License 2.0.
"""Bit-level helpers and double-word arithmetic, and why their bits do not depend on the compiler.

A double word is an unevaluated sum ``hi + lo`` of two floats of the compute
dtype. XLA contracts ``a * b + c`` into a fused multiply-add when it likes
(its CPU backend does under ``jit`` but not op by op; GPU backends do more). A
fused and an unfused evaluation round differently, so every product here that
meets an addition is either *exact* (a power of two times a float, or a
product of two half-width pieces split off by masking bits: ``split``), or
made *opaque* (``opaque``: its lowest bit cleared through an integer ``and``,
which no compiler can fuse across). The results are bit-identical jitted or
not, fused or not, on every backend that rounds IEEE operations correctly.

References: Dekker, "A floating-point technique for extending the available
precision", Numerische Mathematik 18, 1971.

Imports: ``jax``, ``numpy`` and ``jelu._constants``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jelu._constants import F32, Format, format_of

Array = jax.Array


def to_bits(v: Array) -> Array:
    return lax.bitcast_convert_type(v, format_of(v.dtype).int_dtype)


def from_bits(b: Array, dtype) -> Array:
    return lax.bitcast_convert_type(b, dtype)


def opaque(v: Array) -> Array:
    """``v`` with its lowest significand bit cleared, through the integer unit.

    For a rounded product that meets an addition: no compiler can contract
    ``opaque(a * b) + c`` into a fused multiply-add, so the sum rounds the same
    everywhere. The cleared bit costs at most one unit in the last place of
    a term that is itself far below the result's last place.
    """
    return from_bits(to_bits(v) & np.asarray(-2, format_of(v.dtype).int_dtype), v.dtype)


def unfolded(*values):
    """``values`` unchanged, behind an optimization barrier that XLA's simplifier cannot see through.

    XLA evaluates what it knows at compile time (an ``x`` captured as a constant
    under ``jit``) with its algebraic simplifier, which reassociates sums of
    constants (``a + (b - c)`` into ``(a + b) - c``) and so changes the bits:
    ``expm1_fast`` of a constant tiny x became ``(x + 1) - 1 = 0``. Behind the
    barrier, which XLA removes after simplification, a constant input is
    computed by the kernel's own operations at run time, as any other input.
    """
    return lax.optimization_barrier(values)


def split(v: Array) -> tuple[Array, Array]:
    """``v = hi + lo`` exactly, each half as wide, by masking bits (not by a product).

    float32: ``hi`` keeps the leading 12 significant bits and ``lo`` the other
    12, so that ``hi * hi'``, ``hi * lo'`` and ``lo * lo'`` are exact for two
    split numbers. float64 (53 bits, odd): ``hi`` is ``v`` rounded to 26 bits
    and ``lo`` the signed rest (26 bits); callers keep ``|v| < 2^1023`` so that
    rounding up cannot overflow.
    """
    fmt = format_of(v.dtype)
    b = to_bits(v)
    if fmt is F32:
        hi = from_bits(b & np.asarray(-(1 << 12), np.int32), v.dtype)
    else:
        hi = from_bits((b + np.asarray(1 << 26, np.int64)) & np.asarray(-(1 << 27), np.int64), v.dtype)
    return hi, v - hi


def fast_two_sum(a: Array, b: Array) -> tuple[Array, Array]:
    """``a + b`` exactly as (hi, lo), for |a| >= |b| or a = 0 (Dekker)."""
    s = a + b
    return s, b - (s - a)


def two_prod(a: Array, b: tuple[Array, Array]) -> tuple[Array, Array]:
    """``a * b`` as a double word from exact partial products.

    ``b`` is given split, as ``split(b)`` or ``split_constant`` returns it.
    The four partial products are exact; the double word is within 2**-33
    (float32) or 2**-62 (float64) of ``a * b`` relative, as long as no partial
    product underflows (callers keep ``|a * b| > 2**-60``).
    """
    a1, a2 = split(a)
    b1, b2 = b
    hi, lo = fast_two_sum(a1 * b1, a1 * b2 + a2 * b1)  # |a1 b1| >= 2^10 |a1 b2 + a2 b1|
    return hi, lo + a2 * b2


def split_constant(value: float, dtype) -> tuple[np.ndarray, np.ndarray]:
    """A constant's halves for ``two_prod``, split once in NumPy."""
    v = np.asarray(value, dtype)
    if np.dtype(dtype) == np.float32:
        hi = (v.view(np.int32) & np.int32(-(1 << 12))).view(np.float32)
    else:  # Veltkamp: 26 + 26 bits, the low half signed
        t = v * np.float64(134217729.0)
        hi = t - (t - v)
    return np.asarray(hi, dtype), np.asarray(v - hi, dtype)


def remainder(x: Array, u: Array, a: tuple[Array, Array]) -> Array:
    """``x - u * a`` exactly, for ``x ~= u * a`` (within a few ULPs), ``a`` split.

    Each partial product is exact and each subtraction cancels exactly
    (Sterbenz), largest first (Dekker 1971, mul12's error term)."""
    u1, u2 = split(u)
    a1, a2 = a
    return (((x - u1 * a1) - u1 * a2) - u2 * a1) - u2 * a2


def pow2(k: Array, fmt: Format) -> Array:
    """2**k, exactly, for an integer array k with ``1 - bias <= k <= bias``."""
    return from_bits((k.astype(fmt.int_dtype) + fmt.bias) << fmt.mant, fmt.dtype)


def ldexp(v: Array, k: Array | None = None, e: Array | int = 0, k_lo: int | None = None) -> Array:
    """``v * 2^k * 2^e`` rounded once: ``k`` is the kernel's per-element
    exponent (``-2 bias < k <= 0``) or None, ``e`` an exponent per alpha.

    Every factor is a normal power of two, and they are applied largest
    intermediate first (``2^e`` before ``2^k``, as ``k <= 0``), so that an
    intermediate underflows only where the result does. The two powers of a
    traced ``e`` are computed once per alpha, not per element; they pass an
    optimization barrier so that XLA's simplifier cannot fold them into one
    constant ``2^e``, which would underflow for a constant alpha below 2^-62.
    """
    fmt = format_of(v.dtype)
    if isinstance(e, int) and k is not None and k_lo is not None and k_lo + 64 >= 1 - fmt.bias <= e - 64:
        # k >= k_lo (the clamp's), so 2^(k + 64) is normal, and a static 2^e folds
        # into the constant 2^(e - 64): two products, the second rounding once.
        return v * pow2(k + 64, fmt) * np.asarray(2.0 ** (e - 64), v.dtype)
    if isinstance(e, int):  # a static exponent (jelu._multiplier keeps it a normal power)
        assert 1 - fmt.bias <= e <= fmt.bias, e
        v = v * np.asarray(2.0**e, v.dtype) if e else v
    else:
        e = jnp.clip(e, -2 * (fmt.bias - 1), 2 * fmt.bias)
        half = e >> 1
        p1, p2 = lax.optimization_barrier((pow2(half, fmt), pow2(e - half, fmt)))
        v = v * p1 * p2
    if k is None:
        return v
    half = k >> 1
    return v * pow2(half, fmt) * pow2(k - half, fmt)
