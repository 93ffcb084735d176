# Copyright 2026 The jelu Authors. Licensed under the Apache License 2.0.
"""ELU, SELU and CELU for bfloat16 and float16 inputs: one float32 pass, one final rounding.

A 16-bit result needs no double word. Computed in plain float32 with a
relative error of D units of u = 2^-24 and rounded once to the p-bit format
(p = 8 for bfloat16, 11 for float16), it is within ``0.5 + D 2^(p - 24)``
ULPs of the true value: within 1 ULP (faithful) for any D below 2^(23 - p).
It is correctly rounded wherever the float32 result lies on the same side of
every 16-bit rounding boundary as the true value: ``python -m
benchmarks.prove16`` enumerates that for every 16-bit input of elu, selu and
celu with their default alphas (value, f' and celu's f''), for every way XLA
may fuse the arithmetic (see below). Two float16 inputs of selu's f' round
wrongly however the float32 result is reached (it is a float16 midpoint and
the true value lies just beyond it): ``SELU_DERIV_PATCH`` gives their results.

Method, for ``u <= 0`` (u = x, or ``x (1 / alpha)`` for celu), in float32:

* u is clamped below at ``lowest`` (NaN passes: XLA's maximum propagates it).
  ``t = u / ln2 + (1.5 2^23 + offset)`` holds ``k + offset`` in its low bits,
  k = round(u / ln2); ``k = t - shifter`` exactly; ``r = (u - k ln2_hi) - k
  ln2_lo`` with ``ln2_hi`` of 15 bits, so that ``k ln2_hi`` and the first
  difference are exact (Sterbenz), and ``|r| <= ln2/2 + 2^-15``.
* ``q = r + r^2 P(r)`` approximates ``expm1(r)``, ``P(r) = 1/2 + r p(r)`` with
  the cubic p of ``python -m benchmarks.fit_poly --dtype float32 --degree 3``.
* ``t << 23`` is ``(k + offset) << 23`` (the shifter's leading bits shift
  out): the bits of ``2^(k + offset - 127)``. The clamp keeps its exponent
  field in ``[0, 254]``, so the power is normal, or exactly 0 at the clamp,
  below which every result is 0, -alpha or subnormal (a traced alpha has one
  clamp for all alphas and an integer ``max(., 0)`` instead).
* ``expm1(u) = s q + (s - 1)`` with ``s = 2^k`` (the product is exact, and so
  is ``s - 1`` for k >= -24; below, it is -1 and ``s q`` is below half an ULP
  of float32), ``exp(u) = s (1 + q)``.
* A factor gamma of exp (alpha, lambda alpha, 1 / alpha) enters as ``gamma =
  c 2^e`` with ``0.5 <= |c| < 1`` (or c = +-1 for a power of two): ``gamma
  exp(u) = (c (1 + q)) 2^(k + e)``, whose first factor is below 2 in
  magnitude, so the power of two is normal wherever the result is. The value
  is ``alpha * expm1(u)``, in ``[-|alpha|, 0]``.

Error budget of the float32 results, in units of u = 2^-24 relative (each
rounding 0.5 u): r is off by at most 2^-25 |r| (its rounding) + 2^-36 (``k
ln2_lo``'s rounding and ln2_hi + ln2_lo - ln2, for |k| <= 228), 0.18 u on exp
(|r| <= 0.3467); p alone costs 0.81 u of expm1(r) (``benchmarks.fit_poly``'s
rigorous bound); the Horner steps, r^2 and ``r^2 P`` (fused or not) cost at
most 1.7 u of ``r^2 P``, which is at most 0.23 of |q|, and q's own rounding
0.5 u: q is within 2.31 u of expm1(r) (with r's error, 0.6 u of it). Hence
exp: ``0.18 + (0.81 + 0.4 + 0.5) 0.293 / 0.707 + 0.5 (1 + q) + 0.5 (c (1 +
q))`` < 1.9 u; expm1: 2.31 u where k = 0 (``w = q``), else ``0.71 x 2.31 +
0.5`` < 2.2 u (``s |q| / |expm1(u)| <= 0.71``); alpha times either: one more
rounding, < 2.9 u. celu's u carries two roundings (``1 / alpha`` and the
product), which exp turns into ``|u| u`` relative: |u| <= 101.2 where a
bfloat16 f'' is normal (alpha >= 1e-6), 23.5 for float16, and at most 1 u on
the value (``|u e^u| <= |expm1(u)|``). Worst, celu's bfloat16 f'': D < 103.1,
``0.5 + 103.1 2^-16`` < 0.502 ULP; float16: D < 25.4, < 0.504 ULP. Every
result is within 1 ULP wherever it is normal.

Fused or not. XLA may contract any ``a * b + c`` into a fused multiply-add
(its CPU backend does under jit, not op by op; GPU backends more). Every such
expression here is an ``ops.madd``, so that the same code runs on JAX arrays
(:class:`JaxOps`) and, in ``benchmarks/prove16.py``, on NumPy arrays with each
madd fused or not, in every combination (``exact=True`` marks products that
are exact, which the prover checks instead of branching on). No other product
meets an addition, and no constant multiplies a constant product (XLA folds
the two constants into one).

Specials: ``f(+-0) = +-0``, ``f'(0)`` is the x <= 0 side, x > 0 passes x
through, NaN propagates, ``x = -inf`` gives ``-alpha`` and 0. Subnormal inputs
and results are outside every claim (XLA's CPU backend flushes them): they
give 0 or a subnormal, never NaN.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jelu import _constants

__all__ = ["DTYPES", "JaxOps", "celu", "elu", "elu_alpha_partials", "selu"]

F32 = np.float32
DTYPES = (np.dtype(jnp.bfloat16), np.dtype(np.float16))

# The float32 kernel's constants (jelu._constants), rounded to float32:
INV_LN2 = F32(_constants.INV_LN2)  # 0x1.715476p+0
SHIFTER = F32(1.5 * 2.0**_constants.F32.mant)  # 0x1.8p+23
LN2_HI = F32(_constants.F32.ln2_hi)  # 0x1.62e4p-1: 15 bits, k ln2_hi exact for |k| < 512
LN2_LO = F32(_constants.F32.ln2_lo)  # 0x1.7f7d1cp-20
# P(r) = 1/2 + r p(r), highest degree first: p is `python -m benchmarks.fit_poly --dtype float32
# --degree 3` (alone under 2^-24.3 relative on |r| <= 0.3467).
POLY = tuple(F32(c) for c in (
    0.001391871366649866,  # 0x1.6cdee8p-10
    0.008357199840247631,  # 0x1.11d946p-7
    0.04166662320494652,  # 0x1.55553ep-5
    0.16666631400585175,  # 0x1.555526p-3
    0.5,
))
ONE = F32(1.0)
EXP_MASK = 0x7F800000  # a float32's exponent field
HALF_BITS = 126 << 23  # 0.5
LOWEST_TRACED = F32(-158.0)  # k >= -228, so that k << 23 and k + E + 127 fit an int32
# celu: |u| below it (or u flushed to 0): alpha expm1(u) = x (1 + u/2 + ...) rounds to x.
TINY_U = F32(2.0**-40)

# The inputs where selu's f' in float32 is a float16 midpoint (ties go to even) and
# the true value lies just beyond it, with their correctly rounded results, as bits:
# the only misses of every plan on every input (python -m benchmarks.prove16).
SELU_DERIV_PATCH = {"float16": ((0xAFEE, 0x3E37), (0xBD43, 0x378D))}  # x = -0.1239, -1.315


class JaxOps:
    """The float32 and int32 operations of the kernel on JAX arrays.

    ``benchmarks/prove16.py`` gives the same methods on NumPy arrays; only
    ``madd`` may round differently there (fused or not), as XLA may.
    """

    @staticmethod
    def madd(a, b, c, exact: bool = False):
        """``a * b + c``, which XLA may contract into a fused multiply-add."""
        del exact  # the prover checks that such a product is exact
        return a * b + c

    mul = staticmethod(lambda a, b: a * b)
    div = staticmethod(lambda a, b: a / b)
    add = staticmethod(lambda a, b: a + b)
    sub = staticmethod(lambda a, b: a - b)
    maximum = staticmethod(jnp.maximum)
    isnan = staticmethod(jnp.isnan)
    where = staticmethod(jnp.where)
    # A constant XLA's simplifier cannot see (it folds (a + C) - C into a).
    opaque = staticmethod(lax.optimization_barrier)
    bits = staticmethod(lambda v: lax.bitcast_convert_type(v, jnp.int32))
    from_bits = staticmethod(lambda b: lax.bitcast_convert_type(b, jnp.float32))
    shl23 = staticmethod(lambda b: lax.shift_left(b, np.int32(23)))
    iadd = staticmethod(lambda a, b: a + np.int32(b) if isinstance(b, int) else a + b)
    iand = staticmethod(lambda a, m: a & np.int32(m))
    ior = staticmethod(lambda a, m: a | np.int32(m))
    imax0 = staticmethod(lambda a: jnp.maximum(a, np.int32(0)))
    imin = staticmethod(lambda a, m: jnp.minimum(a, np.int32(m)))

    @staticmethod
    def ule(a, m: int):
        """``a <= m`` with a read as unsigned."""
        return lax.bitcast_convert_type(a, jnp.uint32) <= np.uint32(m)


def _i32(v: int) -> int:
    """A 32-bit pattern as a signed int (what ``np.int32`` takes)."""
    return v - (1 << 32) if v >= 1 << 31 else v


class Scale(NamedTuple):
    """A factor ``gamma = c 2^e`` of ``exp``, static (NumPy c, int e) or traced.

    Traced, ``e`` is the int32 array ``e << 23``: added to the bits of ``2^k``
    it gives those of ``2^(k + e)``.
    """

    c: Any  # 0.5 <= |c| < 1, or +-1; 0, +-inf or NaN for those gammas
    e: Any


def static_scale(gamma: float) -> Scale:
    """``gamma = c 2^e`` in Python, c rounded to float32 (exact for a float32 gamma)."""
    g = F32(gamma)
    if g == 0:  # c keeps the sign of zero: f'(x) = -0 for alpha = -0, as alpha exp(x)
        return Scale(g, 0)
    m, e = math.frexp(float(g))  # 0.5 <= |m| < 1
    if abs(m) == 0.5:  # a power of two: c = +-1, so 1 + q is not multiplied
        m, e = 2 * m, e - 1
    assert -126 <= e <= 127, gamma
    return Scale(F32(m), e)


def traced_scale(ops, gamma) -> Scale:
    """``gamma = c 2^e`` from the bits of a float32 array, once per element of gamma.

    c takes gamma's sign and significand with the exponent of 0.5, so e is
    gamma's biased exponent minus 126. Where gamma is 0, subnormal, inf or
    NaN, c is gamma itself (the product is 0, inf or NaN); e is capped at 128,
    so that ``2^(k + e)`` is finite for k < 0.
    """
    b = ops.bits(gamma)
    ebits = ops.iand(b, EXP_MASK)
    normal = ops.ule(ops.iadd(ebits, -(1 << 23)), 253 << 23)
    c = ops.where(normal, ops.from_bits(ops.ior(ops.iand(b, _i32(~EXP_MASK & 0xFFFFFFFF)), HALF_BITS)), gamma)
    return Scale(c, ops.iadd(ops.imin(ebits, 254 << 23), -(126 << 23)))


class Reduced(NamedTuple):
    """``exp(u) = 2^k (1 + q)``, and the bits ``(k + offset) << 23`` of ``2^(k + offset - 127)``."""

    q: Any
    pbits: Any


def reduce(ops, u, lowest, offset: int) -> Reduced:
    """Range reduction and polynomial: ``q ~ expm1(r)``, ``u = k ln2 + r``, u clamped at ``lowest``.

    The shifter carries ``offset`` in its low bits, so that ``t << 23`` (the
    shifter's leading bits shift out) is already ``(k + offset) << 23``.
    """
    u = ops.maximum(u, lowest)
    shifter = F32(SHIFTER + offset)
    t = ops.madd(u, INV_LN2, shifter)
    k = ops.sub(t, ops.opaque(shifter))  # exact: an integer
    r = ops.madd(k, -LN2_HI, u, exact=True)
    r = ops.madd(k, -LN2_LO, r)
    p = POLY[0]
    for coef in POLY[1:]:
        p = ops.madd(p, r, coef)
    q = ops.madd(ops.mul(r, r), p, r)
    return Reduced(q, ops.shl23(ops.bits(t)))


def static_lowest(e_hi: int) -> np.float32:
    """The clamp at which ``k = -127 - e_hi``: there ``2^(k + e_hi)`` is 0."""
    k = -127 - e_hi
    lowest = F32(k * math.log(2))
    assert round(float(lowest) / math.log(2)) == k
    return lowest


def static_reduce(ops, u, scales: tuple) -> tuple:
    """``(Reduced, 2^k, 2^(k + e) for each static scale)``.

    One power comes from the bits, at the largest exponent ``e_hi`` (the clamp
    makes it 0 at the bottom); the others are exact products, which underflow
    to 0 where their result is not normal anyway.
    """
    e_hi = max([0] + [sc.e for sc in scales])
    red = reduce(ops, u, static_lowest(e_hi), 127 + e_hi)
    base = ops.from_bits(red.pbits)
    return (red,) + tuple(base if e == e_hi else ops.mul(base, F32(2.0 ** (e - e_hi)))
                          for e in [0] + [sc.e for sc in scales])


def traced_reduce(ops, u, scale: Scale) -> tuple:
    """``(Reduced, 2^k, 2^(k + e))`` for a traced scale: each power from the bits, 0 below the normal range."""
    red = reduce(ops, u, LOWEST_TRACED, 127)
    return (red, ops.from_bits(ops.imax0(red.pbits)), ops.from_bits(ops.imax0(ops.iadd(red.pbits, scale.e))))


def expm1_from(ops, red: Reduced, s):
    """``expm1(u) = s q + (s - 1)``, one rounding (s q is exact)."""
    return ops.madd(s, red.q, ops.sub(s, ONE), exact=True)


def exp_times(ops, e1, scale: Scale, power):
    """``gamma exp(u) = (c (1 + q)) 2^(k + e)``; ``e1 = 1 + q``."""
    if isinstance(scale.c, np.floating) and scale.c == 1:
        return ops.mul(e1, power)
    return ops.mul(ops.mul(scale.c, e1), power)


def _alpha_kind(alpha) -> str:
    """'one' (None: alpha = 1), 'static' (a Python or NumPy scalar) or 'traced' (an array)."""
    if alpha is None:
        return "one"
    return "static" if isinstance(alpha, (float, int, np.floating, np.integer)) else "traced"


def _traced_zero(ops, gamma):
    """``gamma exp(-inf)``: +-0 with gamma's sign, NaN for a NaN gamma."""
    signed_zero = ops.from_bits(ops.iand(ops.bits(gamma), _i32(0x80000000)))
    return ops.where(ops.isnan(gamma), gamma, signed_zero)


def elu_core(ops, x, alpha=None, partials: bool = False):
    """``(elu(x), elu'(x))`` in float32 for float32 x holding 16-bit values.

    alpha: None (1), a Python float (static: 0 or 1e-30 <= |alpha| <= 1e30) or
    a float32 array broadcast against x (traced; +-inf gives -+inf and +-inf,
    0 gives -0 and 0, NaN gives NaN, for x <= 0). ``partials=True`` also
    returns the derivatives in alpha, ``expm1(x)`` and ``exp(x)`` for x <= 0
    and 0 for x > 0, in float32 (relative errors under 2.2 and 2.1 units of 2^-24).
    """
    kind = _alpha_kind(alpha)
    if kind == "traced":
        scale = traced_scale(ops, alpha)
        red, s, power = traced_reduce(ops, x, scale)
    else:
        scale = Scale(ONE, 0) if kind == "one" else static_scale(float(alpha))
        red, s, power = static_reduce(ops, x, (scale,))
    w = expm1_from(ops, red, s)
    value = w if kind == "one" else ops.mul(alpha if kind == "traced" else F32(alpha), w)
    deriv = exp_times(ops, ops.add(ONE, red.q), scale, power)
    if kind == "traced":  # the clamp keeps 2^(k + e) > 0 for an infinite alpha
        deriv = ops.where(x == -np.inf, _traced_zero(ops, alpha), deriv)
    out = (ops.where(x >= 0, x, value), ops.where(x > 0, ONE, deriv))
    if not partials:
        return out
    zero = F32(0)
    return out + (ops.where(x > 0, zero, w), ops.where(x > 0, zero, ops.mul(ops.add(ONE, red.q), s)))


def selu_core(ops, x):
    """``(selu(x), selu'(x))`` in float32 for float32 x holding 16-bit values."""
    lam, lam_alpha = F32(_constants.SELU_SCALE_DIGITS), F32(_constants.SELU_SCALE_ALPHA_DIGITS)
    scale = static_scale(lam_alpha)
    red, s, power = static_reduce(ops, x, (scale,))
    value = ops.mul(lam_alpha, expm1_from(ops, red, s))
    deriv = exp_times(ops, ops.add(ONE, red.q), scale, power)
    return ops.where(x >= 0, ops.mul(x, lam), value), ops.where(x > 0, lam, deriv)


def celu_core(ops, x, alpha):
    """``(celu, celu', celu'')`` in float32 for float32 x holding 16-bit values.

    alpha: a Python float (1e-6..1e30) or a float32 array (traced; where it is
    not finite and positive, every result is NaN for x <= 0).
    """
    pos = x > 0
    if _alpha_kind(alpha) == "static":
        a = F32(alpha)
        inv = F32(1 / float(a))
        scale = static_scale(float(inv))
        u = ops.mul(x, inv)
        red, s, power = static_reduce(ops, u, (scale,))
        value = ops.where(u > -TINY_U, x, ops.mul(a, expm1_from(ops, red, s)))
    else:
        a = ops.where((alpha > 0) & (alpha < np.inf), alpha, F32(np.nan))
        inv = ops.div(ONE, a)
        scale = traced_scale(ops, inv)
        u = ops.mul(x, inv)
        red, s, power = traced_reduce(ops, u, scale)
        value = ops.where(pos, x, ops.where(u > -TINY_U, x, ops.mul(a, expm1_from(ops, red, s))))
    e1 = ops.add(ONE, red.q)
    return (value, ops.where(pos, ONE, ops.mul(e1, s)),
            ops.where(pos, F32(0), exp_times(ops, e1, scale, power)))


# --------------------------------------------------------------------------
# On JAX arrays


def _check(x) -> None:
    if x.dtype not in DTYPES:
        raise TypeError(f"jelu._kernel16: x must be bfloat16 or float16, got {x.dtype}")


def elu(x, alpha=None, partials: bool = False):
    """``(elu(x, alpha), d elu / dx)`` in x's 16-bit dtype; alpha as ``elu_core`` takes it.

    ``partials=True`` adds the derivatives in alpha of both, in float32.
    """
    _check(x)
    out = elu_core(JaxOps, x.astype(jnp.float32), alpha, partials)
    return tuple(v.astype(x.dtype) for v in out[:2]) + tuple(out[2:])


@jax.custom_jvp
def elu_alpha_partials(x, alpha):
    """``(expm1(x), exp(x))`` in float32 for x <= 0, 0 for x > 0: the derivatives in
    alpha of elu and of its derivative, from the same reduction as ``elu(x, alpha)``
    (XLA computes it once for both). Differentiable in x: both derivatives are exp(x)."""
    return elu(x, alpha, partials=True)[2:]


@elu_alpha_partials.defjvp
def _elu_alpha_partials_jvp(primals, tangents):
    (x, alpha), (x_dot, _) = primals, tangents  # neither depends on alpha
    outs = elu_alpha_partials(x, alpha)
    step = outs[1] * x_dot.astype(jnp.float32)
    return outs, (step, step)


def selu(x):
    """``(selu(x), d selu / dx)`` in x's 16-bit dtype (with ``SELU_DERIV_PATCH`` for float16)."""
    _check(x)
    value, deriv = (v.astype(x.dtype) for v in selu_core(JaxOps, x.astype(jnp.float32)))
    xb = lax.bitcast_convert_type(x, jnp.uint16)
    for xv, yv in SELU_DERIV_PATCH.get(np.dtype(x.dtype).name, ()):
        deriv = jnp.where(xb == np.uint16(xv), lax.bitcast_convert_type(np.uint16(yv), x.dtype), deriv)
    return value, deriv


def celu(x, alpha):
    """``(celu(x, alpha), d celu / dx, d^2 celu / dx^2)`` in x's 16-bit dtype.

    alpha = 1 (static) is elu's kernel, whose derivative is also the second.
    """
    _check(x)
    if _alpha_kind(alpha) == "static" and float(alpha) == 1:
        value, deriv = elu(x)
        return value, deriv, jnp.where(x > 0, jnp.zeros_like(deriv), deriv)
    return tuple(v.astype(x.dtype) for v in celu_core(JaxOps, x.astype(jnp.float32), alpha))
