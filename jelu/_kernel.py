# Copyright 2026 The jelu Authors. Licensed under the Apache License 2.0.
"""The kernel: ``expm1(u)`` and ``exp(u)`` for ``u <= 0``, times a multiplier, rounded once.

``reduce_range`` gives both from one shared range reduction ``u = k ln2 + r``,
a polynomial for ``expm1(r)`` and error-free additions (``Parts``);
``expm1_times`` and ``exp_times`` multiply by a constant or alpha and round
once to the output dtype.

Accuracy, and how each statement is established (the README's claims table):

* Derived, for every alpha in ``jelu._checks.ALPHA_RANGE``:
  ``benchmarks/error_budget.py`` bounds every rounding of the kernel, term by
  term, over every reduced argument ``(k, r)`` the kernel can reach, with the
  polynomial's error bounded by interval arithmetic
  (``benchmarks/fit_poly.py``). Values and first and second derivatives are
  within 1 ULP of the correctly rounded result in float32 and float64
  (fractional errors below 1.5 ULP; the largest, about 1.16 ULP, is
  ``expm1_fast``'s, where ``r + tail`` is rounded before its power-of-two
  scaling). Outputs in bfloat16 and float16 come from the 16-bit kernel of
  ``jelu._kernel16`` instead, with its own budget and enumeration (``python
  -m benchmarks.prove16``); celu's derivatives in alpha, float32 for 16-bit x,
  still come from here.
* Enumerated, by commands whose reports are committed: every float32 x <= 0
  of elu and celu with alpha 1, 2 and 0.3 and of selu within 1 ULP
  (``python -m benchmarks.sweep --sign negative``), and selu's lambda x for
  every x > 0.

Tiny x: where ``r^2 / 2`` underflows (|x| < 2^-63 in float32) the kernel's
result is ``c x`` rounded once, within 1 ULP of ``c x (1 + x / 2)``.

Imports: ``jax``, ``numpy``, ``jelu._constants``, ``jelu._double_word`` and
``jelu._multiplier``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jelu._constants import INV_LN2, format_of
from jelu._double_word import fast_two_sum, ldexp, opaque, pow2, to_bits
from jelu._multiplier import Multiplier, dw_mul, is_power_of_two

Array = jax.Array


class Parts(NamedTuple):
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
    one: Array  # an opaque 1.0; see reduce_range
    k_lo: int | None  # a static lower bound of k (from a static clamp), else None

    @property
    def tail(self) -> Array:
        return opaque(self.square) + self.small

    def expm1(self) -> tuple[Array, Array]:
        """``expm1(u)`` in [-1, 0] as a double word."""
        fmt = format_of(self.r.dtype)
        s = pow2(jnp.maximum(self.k, 1 - fmt.bias), fmt)  # below, expm1 is -1 anyway
        a, a_err = fast_two_sum(-self.one, s)  # s - 1, also where it is inexact (k < -24)
        hi, err = fast_two_sum(a, s * self.r)  # |s - 1| >= |s r|; s r is exact
        # s square and s small are exact: their order of rounding is the same fused or not.
        return fast_two_sum(hi, s * self.square + (s * self.small + (err + a_err)))

    def expm1_fast(self) -> Array:
        """``expm1(u)`` in 4 operations, within 0.8 ULP (the product is exact)."""
        fmt = format_of(self.r.dtype)
        s = pow2(jnp.maximum(self.k, 1 - fmt.bias), fmt)
        return s * (self.r + self.tail) + (s - self.one)

    def exp(self) -> tuple[Array, Array]:
        """``exp(u) 2^-k = 1 + r + tail``, in [0.7, 1.5), as a double word."""
        g, g_err = fast_two_sum(self.one, self.r)
        return fast_two_sum(g, g_err + self.tail)


def reduce_range(u: Array, u_lo: Array | None = None, lowest: Array | None = None) -> Parts:
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
    fmt = format_of(dt)
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
    k_int = to_bits(opaque(u * np.asarray(INV_LN2, dt)) + shifter) - shifter.view(fmt.int_dtype)
    k = k_int.astype(dt)
    hi = u - k * np.asarray(fmt.ln2_hi, dt)  # exact
    lo = opaque(k * np.asarray(fmt.ln2_lo, dt))
    if u_lo is not None:
        lo = lo - u_lo
    r = hi - lo
    r_err = (hi - r) - lo

    # expm1(r + r_err) = r + r^2/2 + r^3 q(r) + r_err (1 + O(r)).
    q = np.asarray(fmt.poly[0], dt)
    for coef in fmt.poly[1:]:
        q = opaque(q * r) + np.asarray(coef, dt)
    square = (r * r) * (np.asarray(0.5, dt) + opaque(r * q))
    small = r_err + opaque(r_err * r)
    k_lo = int(math.floor(float(lowest) * INV_LN2)) - 1 if isinstance(lowest, np.ndarray) else None
    return Parts(r, square, small, k_int.astype(np.int32), one, k_lo)


def round_scaled(dw: tuple[Array, Array], c: Multiplier | None, k: Array | None, dtype, e: int = 0,
            k_lo: int | None = None) -> Array:
    """``dw * c * 2^k * 2^e``, rounded once to ``dtype``.

    The powers of two come last, after the rounding decision, so that they are
    exact wherever the result is a normal float (and the low word, which only
    decides the rounding of 16-bit results, never underflows).
    """
    if c is None:
        return ldexp(dw[0], k, e, k_lo).astype(dtype)  # Fast2Sum left hi = fl(hi + lo)
    return ldexp(dw_mul(dw, c, rounded=True), k, c.e + e, k_lo).astype(dtype)


UP = 64  # expm1 in [-1, 0] is scaled by 2^64 before a product: no partial product underflows


def expm1_times(parts: Parts, c: Multiplier | None, dtype) -> Array:
    """``c * expm1(u)`` rounded to ``dtype``.

    32- and 64-bit results with alpha = 1 take the cheap ``expm1_fast``. An
    alpha that is 1 at run time selects the default path's value, so that
    ``elu(x, 1.0)`` and ``elu(x, jnp.float32(1))`` agree to the bit (the
    general product by 1 is exact, but its two roundings can differ from the
    default path's one in a tie).
    """
    if is_power_of_two(c):  # alpha = 2^e: the default path's bits, scaled exactly
        return ldexp(parts.expm1_fast(), None, c.e).astype(dtype)
    if c is not None and isinstance(c.e, int) and c.hi == 0:  # alpha = +-0: -+0 for every x < 0, as +-0 * expm1(x)
        return (parts.expm1_fast() * np.asarray(c.hi, parts.r.dtype)).astype(dtype)
    def unit() -> Array:  # the default path's result, built only where it is returned or selected
        return parts.expm1_fast().astype(dtype)

    if c is None:
        return unit()
    hi, lo = parts.expm1()
    up = np.asarray(2.0**UP, hi.dtype)
    out = round_scaled((hi * up, lo * up), c, None, dtype, -UP)
    return out if c.is_one is None else jnp.where(c.is_one, unit(), out)


def exp_times(parts: Parts, c: Multiplier | None, dtype) -> Array:
    """``c * exp(u)`` rounded to ``dtype``; as ``expm1_times``, an alpha that
    is 1 at run time selects the result of the default path."""
    if is_power_of_two(c):
        return round_scaled(parts.exp(), None, parts.k, dtype, c.e, parts.k_lo)

    def unit() -> Array:  # the default path's result, built only where it is returned or selected
        return round_scaled(parts.exp(), None, parts.k, dtype, 0, parts.k_lo)

    if c is None:
        return unit()
    out = round_scaled(parts.exp(), c, parts.k, dtype, 0, parts.k_lo)
    return out if c.is_one is None else jnp.where(c.is_one, unit(), out)


def _xmin(dtype) -> np.ndarray:
    return np.asarray(format_of(dtype).xmin, dtype)


def elu_lowest(c: Multiplier, ct) -> Array:
    """ELU's lower clamp of x for alpha = m 2^e: xmin - max(e + 1, 0) ln 2.

    Below it alpha exp(x) < 2^(e+1) exp(xmin) 2^-(e+1) = exp(xmin) rounds to 0
    even where subnormal results are kept (GPUs), and above it a large alpha
    keeps alpha exp(x) normal. e + 1 is capped at 101 (alpha < 2^101), so that
    |k| < 2^8 keeps k ln2_hi exact and k stays above -2 bias for ldexp.
    """
    clip = np.clip if isinstance(c.e, int) else jnp.clip
    steps = clip(c.e + 1, 0, 101).astype(ct)
    return _xmin(ct) - steps * np.asarray(np.log(2), ct)
