# Copyright 2026 The jelu Authors. Licensed under the Apache License 2.0.
"""Multipliers: constants, alpha and ``1 / alpha`` as ``(hi + lo) * 2^e``.

The kernel multiplies by ``hi`` (``1 <= |hi| < 2``, split into exact halves)
and applies ``2^e`` once, at the end, so that no alpha in ``[1e-30, 1e30]`` can
overflow or underflow an intermediate. A Python or NumPy alpha is static
(``StaticAlpha``, decomposed in NumPy at trace time); a JAX array alpha is
decomposed through its bits, once per alpha, not per element.

Imports: ``jax``, ``numpy``, ``jelu._constants`` and ``jelu._double_word``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jelu._constants import format_of
from jelu._double_word import (
    fast_two_sum,
    from_bits,
    opaque,
    remainder,
    split,
    split_constant,
    to_bits,
)

Array = jax.Array


class Multiplier(NamedTuple):
    """A multiplier ``(hi + lo) * 2^e``: a constant or alpha (``1 <= |hi| < 2``),
    ``1 / alpha`` (``1 < hi <= 2``) or a square ``u^2``."""

    hi: Array
    lo: Array | None
    parts: tuple[Array, Array]  # hi split (exactly) into halves
    e: Array | int  # integer exponent
    is_one: Array | None = None  # where alpha == 1 (None for constants)


def dw_mul(a: tuple[Array, Array], c: Multiplier, rounded: bool = False):
    """``(a_hi + a_lo) * (c.hi + c.lo)`` as a double word (without ``2^c.e``),
    or, with ``rounded=True``, that double word's sum rounded once.

    With ``a_hi = a1 + a2`` and ``c = c1 + rest`` (``c1`` the leading half of
    ``c.hi``): ``a1 c1`` and ``a2 c1`` are exact, and the rounded rest
    ``a_hi rest + a_lo c.hi`` is below 2^-10 of the result, so the double word
    is within 2^-33 (float32) or 2^-62 (float64) of the product, relative.
    """
    a_hi, a_lo = a
    a1, a2 = split(a_hi)
    c1, c2 = c.parts
    rest = c2 if c.lo is None else c2 + c.lo
    t = a2 * c1 + (opaque(a_hi * rest) + opaque(a_lo * c.hi))  # a2 c1 is exact
    if rounded:  # a1 c1 is exact, so a fused multiply-add would round the same
        return a1 * c1 + t
    return fast_two_sum(a1 * c1, t)  # |a1 c1| >= 2^10 |t|


def constant_parts(value: str, dtype) -> tuple[np.ndarray, np.ndarray]:
    """A decimal constant as an unevaluated sum hi + lo of two ``dtype`` floats."""
    hi = np.asarray(float(value), dtype)
    return hi, np.asarray(float(Decimal(value) - Decimal(float(hi))), dtype)


def constant_multiplier(value: str, dtype) -> Multiplier:
    """A decimal constant in [1, 2) as a double word."""
    hi, lo = constant_parts(value, dtype)
    assert 1 <= hi < 2
    return Multiplier(hi, lo, split_constant(hi, dtype), 0)


class StaticAlpha(NamedTuple):
    """A Python or NumPy scalar alpha, known when the function is traced.

    Registered as a pytree with no leaves (the value rides in the tree
    structure), so ``jax.jit`` specializes on it and ``custom_jvp`` treats it as
    a constant: everything that depends on alpha alone is computed in NumPy at
    trace time, and the kernel multiplies by constants. The tree structure
    carries the value's bits, so that 0.0 and -0.0 (equal as floats, and so
    one cache entry of ``jax.jit``) are two constants.
    """

    value: float


jax.tree_util.register_pytree_node(
    StaticAlpha, lambda c: ((), (c.value, math.copysign(1.0, c.value))), lambda aux, _: StaticAlpha(aux[0]))


def alpha_as_array(alpha: Array | StaticAlpha, dtype) -> Array:
    """alpha in ``dtype``: a NumPy scalar for a static alpha."""
    return np.asarray(alpha.value, dtype) if isinstance(alpha, StaticAlpha) else alpha.astype(dtype)


# Static alphas are those with 2^-_STATIC_E <= |alpha| < 2^_STATIC_E (and 0): then
# every power of two the kernel applies, 2^(e - 64) included, is a normal float32
# constant. Others take the traced path, whose powers of two XLA cannot fold into
# one constant that underflows.
_STATIC_E = 60


def static_alpha(alpha: float) -> Any:
    """``StaticAlpha(alpha)`` where alpha qualifies (see ``_STATIC_E``), else alpha itself."""
    if alpha == 0 or (math.isfinite(alpha) and 2.0**-_STATIC_E <= abs(alpha) < 2.0**_STATIC_E):
        return StaticAlpha(float(alpha))
    return alpha


def _static_multiplier(alpha: float, dtype) -> Multiplier:
    """``alpha = m 2^e`` for a static alpha, in NumPy: the same decomposition as
    ``traced_alpha_multiplier``, with a Python-int exponent (0 and e = 0 for alpha = 0)."""
    a = np.asarray(alpha, dtype)
    if a == 0:
        return Multiplier(a, None, (a, a), 0)
    m, e = np.frexp(a)  # 0.5 <= |m| < 1
    m = np.asarray(2 * m, dtype)
    return Multiplier(m, None, split_constant(m, dtype), int(e) - 1)


def alpha_multiplier(alpha: Array | StaticAlpha, dtype) -> Multiplier:
    """alpha as a scale: static (NumPy constants) or traced."""
    if isinstance(alpha, StaticAlpha):
        return _static_multiplier(alpha.value, dtype)
    return traced_alpha_multiplier(alpha.astype(dtype))


def traced_alpha_multiplier(alpha: Array) -> Multiplier:
    """``alpha = m 2^e`` with ``1 <= |m| < 2`` (alpha itself and e = 0 when
    alpha is 0, subnormal, inf or NaN: those propagate as they would)."""
    fmt = format_of(alpha.dtype)
    b = to_bits(alpha)
    expo = (b >> fmt.mant) & ((1 << (fmt.dtype.itemsize * 8 - 1 - fmt.mant)) - 1)
    normal = (expo > 0) & (expo < 2 * fmt.bias + 1)
    exponent_mask = np.asarray(((2 * fmt.bias + 1) << fmt.mant), fmt.int_dtype)
    m_bits = (b & ~exponent_mask) | np.asarray(fmt.bias << fmt.mant, fmt.int_dtype)
    m = jnp.where(normal, from_bits(m_bits, alpha.dtype), alpha)
    e = jnp.where(normal, expo - fmt.bias, 0).astype(np.int32)
    return Multiplier(m, None, split(m), e, alpha == 1)


def elu_alpha_multiplier(alpha: Array, big: int) -> Multiplier:
    """A traced alpha for ELU: ``m 2^e`` as ``traced_alpha_multiplier`` gives it for
    a normal alpha, and the limits in the same arithmetic for the others: +-inf
    as +-1 * 2^big, so that every product by it overflows to +-inf (not inf * 0
    = NaN); +-0 and subnormals as +-m * 2^-big, so that every product rounds to
    a zero of the sign of +-0 * v; NaN as NaN. m is alpha's bits with the
    exponent field replaced by the bias's (+-1 for +-inf and +-0), so no select
    on m is needed but NaN's."""
    fmt = format_of(alpha.dtype)
    b = to_bits(alpha)
    expo = (b >> fmt.mant) & ((1 << (fmt.dtype.itemsize * 8 - 1 - fmt.mant)) - 1)
    exponent_mask = np.asarray(((2 * fmt.bias + 1) << fmt.mant), fmt.int_dtype)
    m = from_bits((b & ~exponent_mask) | np.asarray(fmt.bias << fmt.mant, fmt.int_dtype), alpha.dtype)
    m = jnp.where(alpha == alpha, m, alpha)
    e = jnp.where(expo == 2 * fmt.bias + 1, big, jnp.where(expo == 0, -big, expo - fmt.bias)).astype(np.int32)
    return Multiplier(m, None, split(m), e, alpha == 1)


def inverse(c: Multiplier) -> Multiplier:
    """``1 / c`` as a scale, from one division per alpha (not per element)."""
    if isinstance(c.e, int):  # static: hi + lo is 2 / m to twice the precision
        dt = c.hi.dtype
        if c.hi == 1 and c.lo is None:  # alpha = 2^e
            return c._replace(e=-c.e)
        inv2 = np.asarray(2 / c.hi, dt)
        lo = np.asarray(float(Fraction(2) / Fraction(float(c.hi)) - Fraction(float(inv2))), dt)
        return Multiplier(inv2, lo, split_constant(inv2, dt), -c.e - 1)
    inv2 = 2 / c.hi  # in (1, 2]: 1 / alpha = inv2 2^(-e - 1)
    r = remainder(np.asarray(2, c.hi.dtype), inv2, c.parts)  # 2 - inv2 m, exactly
    return Multiplier(inv2, r / c.hi, split(inv2), -c.e - 1, c.is_one)


def is_power_of_two(c: Multiplier | None) -> bool:
    """Whether ``c`` is a static power of two, 2^e (m = 1)."""
    return c is not None and isinstance(c.e, int) and c.lo is None and c.hi == 1
