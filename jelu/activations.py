# Copyright 2026 The jelu Authors. Licensed under the Apache License 2.0.
"""ELU, SELU and CELU as exact, memory-lean ``jax.custom_jvp`` functions.

Everything that makes jelu exact lives in this file, top to bottom:

1. ``_neg_branch`` and ``_Parts``: the one numerical kernel. For ``u <= 0`` it
   gives ``c * expm1(u)`` and ``d * exp(u)`` from a single shared range
   reduction (``u = k ln2 + r``), a minimax polynomial for ``expm1(r)`` and
   error-free transformations (Fast2Sum, Dekker's product), in float32 for 16-
   and 32-bit inputs and in float64 for float64 inputs: within 1 ULP, and
   correctly rounded for 16-bit outputs (round-to-odd before the conversion).
   No ``exp``/``expm1`` from XLA is used: XLA's CPU ``expm1`` is up to 5 ULP
   off in float32, and ``expm1(x) + 1`` (what ``jax.nn.elu`` differentiates
   through) is exactly 0 below x = -17.3 in float32.
2. One ``custom_jvp`` per activation that returns the value *and* its first
   derivative, ``(f(x), f'(x))``. The JVP rule multiplies the tangent by the
   already computed ``f'(x)``, so reverse mode keeps exactly one residual the
   size of ``x`` (``jax.nn.elu`` keeps two bool and two float arrays), and the
   rule calls the function itself for ``f''``, so every derivative order comes
   from the same kernel (the second within 1 ULP too) and none is NaN or inf
   where the math is finite.
3. The public ``elu``, ``selu`` and ``celu``: argument checks, dtype handling
   and the docstrings with the math.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.custom_derivatives import SymbolicZero
from jax.typing import ArrayLike

__all__ = ["elu", "selu", "celu"]

Array = jax.Array

# SELU's constants (Klambauer et al., 2017) to 32 significant digits.
_SELU_ALPHA = "1.6732632423543772848170429916717"
_SELU_SCALE = "1.0507009873554804934193349852946"
_SELU_SCALE_ALPHA = "1.7580993408473768599402175208123"  # their product


class _Consts(NamedTuple):
    """Per compute dtype constants of the kernel."""

    ln2_hi: float  # ln 2 with trailing zero bits, so k * ln2_hi is exact
    ln2_lo: float  # ln 2 - ln2_hi
    xmin: float  # exp(xmin) rounds to 0 and expm1(xmin) to -1 in this dtype
    bias: int  # exponent bias
    mant: int  # explicit mantissa bits
    int: type  # signed integer type of the same width, for building 2**k
    poly: tuple  # q(r) ~ (expm1(r) - r - r^2/2) / r^3, highest degree first


# The polynomials are Chebyshev fits of q on |r| <= 0.35 (mpmath, 60 digits).
# With coefficients rounded to the dtype, |p(r) / expm1(r) - 1| < 2**-30.5
# (float32, degree 5) and < 2**-59 (float64, degree 10), well under half an
# ULP. ln2_hi / ln2_lo are the Cody-Waite split used by fdlibm and musl.
_F32 = _Consts(
    ln2_hi=6.9314575195e-01,
    ln2_lo=1.4286067653e-06,
    xmin=-104.0,
    bias=127,
    mant=23,
    int=np.int32,
    poly=(
        2.4852277419995517e-05,
        0.00019891970441676676,
        0.0013888865942135453,
        0.00833331048488617,
        0.0416666679084301,
        0.1666666716337204,
    ),
)
_F64 = _Consts(
    ln2_hi=6.93147180369123816490e-01,
    ln2_lo=1.90821492927058770002e-10,
    xmin=-746.0,
    bias=1023,
    mant=52,
    int=np.int64,
    poly=(
        1.608482553369974e-10,
        2.0915433598076003e-09,
        2.5052076794862427e-08,
        2.755727183153613e-07,
        2.755731924091844e-06,
        2.480158732699005e-05,
        0.00019841269841266136,
        0.0013888888888883332,
        0.008333333333333333,
        0.04166666666666667,
        0.16666666666666666,
    ),
)
_INV_LN2 = 1.4426950408889634


def _consts(dtype) -> _Consts:
    """The kernel's constants for a compute dtype (float32 or float64)."""
    return _F64 if np.dtype(dtype) == np.float64 else _F32


def _compute_dtype(dtype) -> np.dtype:
    """float64 math for float64 inputs, float32 math for every narrower float."""
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)


def _const(value: str, dtype) -> tuple[np.ndarray, np.ndarray]:
    """A decimal constant as an unevaluated sum hi + lo of two ``dtype`` floats."""
    hi = np.asarray(float(value), dtype)
    lo = np.asarray(float(Decimal(value) - Decimal(float(hi))), dtype)
    return hi, lo


# --------------------------------------------------------------------------
# Double-word arithmetic: a value is a pair (hi, lo) with hi = fl(hi + lo).
# Every helper is immune to XLA contracting a * b + c into a fused
# multiply-add: the only products that meet an add are exact.


def _fast2sum(a: Array, b: Array) -> tuple[Array, Array]:
    """``a + b`` exactly as (hi, lo), for |a| >= |b| or a = 0 (Dekker)."""
    s = a + b
    return s, b - (s - a)


def _halves(v: Array) -> tuple[Array, Array]:
    """Veltkamp's split: v = hi + lo with hi, lo half as wide, so their products are exact."""
    t = v * np.asarray(4097.0 if v.dtype == np.float32 else 134217729.0, v.dtype)
    hi = t - (t - v)
    return hi, v - hi


def _residual(x: Array, u: Array, a: Array) -> Array:
    """``x - u * a`` for ``x ~= u * a``, to working precision (Dekker)."""
    u1, u2 = _halves(u)
    a1, a2 = _halves(a)
    return ((x - u1 * a1) - (u1 * a2 + u2 * a1)) - u2 * a2


def _scale_up_tiny(v: Array, below: float = 2.0**-60, by: float = 2.0**64) -> tuple[Array, Array]:
    """Powers of two ``(up, 1 / up)``: ``by`` where ``|v| < below``, else 1.

    Scaling tiny operands up keeps the partial products of Dekker's algorithms
    from flushing to zero; multiplying by ``1 / up`` undoes it exactly.
    """
    tiny = jnp.abs(v) < below
    one = np.asarray(1, v.dtype)
    return jnp.where(tiny, np.asarray(by, v.dtype), one), jnp.where(tiny, np.asarray(1 / by, v.dtype), one)


def _dw_mul(a, b_hi, b_lo=None, exact=False):
    """``(a_hi + a_lo) * (b_hi + b_lo)`` as a double word.

    With ``exact`` the product's own rounding error is kept too (callers keep
    the operands far from the underflow threshold, so that it does not flush).
    """
    a_hi, a_lo = a
    if b_hi is None:
        return a
    p = a_hi * b_hi
    t = a_lo * b_hi
    if b_lo is not None:
        t = t + a_hi * b_lo
    if not exact:
        return _fast2sum(p, t)
    return _fast2sum(p, t - _residual(p, a_hi, b_hi))  # adds a_hi * b_hi - p


def _dw_div(a, d):
    """``(a_hi + a_lo) / d`` as a double word."""
    a_hi, a_lo = a
    q = a_hi / d
    return _fast2sum(q, (_residual(a_hi, q, d) + a_lo) / d)


def _round(a, dtype) -> Array:
    """Round a double word to ``dtype`` once.

    For 16-bit outputs the float32 ``hi`` is first rounded to odd (moved one
    ULP towards ``lo`` when inexact and even), which makes the float32 -> 16-bit
    conversion round correctly: no double rounding (Boldo & Melquiond, 2008).
    """
    hi, lo = a
    if np.dtype(dtype).itemsize == 2:
        bits = lax.bitcast_convert_type(hi, np.int32)
        step = jnp.where((lo > 0) == (hi > 0), 1, -1)
        inexact = (lo != 0) & (hi != 0) & jnp.isfinite(hi)
        bits = jnp.where(inexact & ((bits & 1) == 0), bits + step, bits)
        hi = lax.bitcast_convert_type(bits, np.float32)
    return hi.astype(dtype)


def _pow2(k: Array, c: _Consts, dtype) -> Array:
    """2**k, exactly, for an integer array k with ``1 - bias <= k <= bias``."""
    return lax.bitcast_convert_type((k + c.bias) << c.mant, dtype)


# --------------------------------------------------------------------------
# The kernel


class _Parts(NamedTuple):
    """``expm1(u) = (2^k - 1) + 2^k (r + tail)`` and ``exp(u) = 2^k (1 + r + tail)``.

    ``r + tail`` is ``expm1(r)`` as an unevaluated sum, good to about 2**-30
    (float32) or 2**-59 (float64) relative. The two methods finish the sums:
    with ``exact`` they return a double word whose low part keeps every
    rounding error (for the round-to-odd of 16-bit results), otherwise the
    cheapest sum that stays well within 1 ULP.
    """

    r: Array
    tail: Array
    k: Array  # an integer array
    one: Array  # an opaque 1.0; see _neg_branch

    def expm1(self, c=(None, None), exact=False):
        """``c * expm1(u)`` as a double word; ``c = (hi, lo)``, None for 1 or no lo."""
        r, tail, one = self.r, self.tail, self.one
        cst = _consts(r.dtype)
        s = _pow2(jnp.maximum(self.k, 1 - cst.bias), cst, r.dtype)  # below, expm1 is -1 anyway
        if not exact and c[0] is None:  # 4 operations, within 0.8 ULP
            return s * (r + tail) + (s - one), None
        if not exact:  # keep expm1 as a double word, so that c * expm1 stays within 1 ULP
            hi1, err1 = _fast2sum(s - one, s * r)  # s - 1 and s * r are exact here
            return _dw_mul((hi1, s * tail + err1), *c)
        a, a_err = _fast2sum(-one, s)  # s - 1, also where it is inexact (k < -24)
        hi1, err1 = _fast2sum(a, s * r)
        em1_hi, em1_lo = _fast2sum(hi1, s * tail + (err1 + a_err))
        # |expm1| <= 1: scaled by 2^64, no partial product of c * expm1 flushes;
        # the low word is then only a sticky bit for _round (its sign and
        # whether it is 0 are exact).
        up = np.asarray(2.0**64, r.dtype)
        hi, lo = _dw_mul((em1_hi * up, em1_lo * up), *c, exact=True)
        return hi * np.asarray(2.0**-64, r.dtype), lo

    def exp(self, scale=(None, None), div=None, exact=False):
        """``scale * exp(u) [/ div]`` as a double word.

        The constants enter before the power of two, applied as ``2^(k + m) 2^-m``
        so that the result does not underflow before the true value does.
        """
        cst = _consts(self.r.dtype)
        m = 512 if cst is _F64 else 64  # 2^(xmin / ln 2 + m) is normal
        big = _pow2(self.k + m, cst, self.r.dtype)  # normal for every k >= xmin / ln 2
        g_hi, g_err = _fast2sum(self.one, self.r)
        hi, lo = _dw_mul(_fast2sum(g_hi, g_err + self.tail), *scale, exact=exact)
        if div is not None:
            hi, lo = _dw_div((hi, lo), div)
        tiny = np.asarray(2.0**-m, hi.dtype)
        # With ``exact``, lo is a sticky bit for _round: keep it from flushing.
        return hi * big * tiny, lo if exact else lo * big * tiny


def _neg_branch(u: Array, u_lo: Array | None = None) -> _Parts:
    """Range reduction and polynomial of ``expm1`` and ``exp`` for ``u <= 0``.

    ``u`` is float32 or float64 and is clamped below at ``xmin`` (-inf gives
    -1 and 0, NaN stays NaN); what it gives for ``u > 0`` is meaningless and
    every caller selects something else there. ``u_lo`` is an optional small
    correction to the argument.

    Method: ``u = k ln2 + r`` with ``|r| <= ln2 / 2`` (Cody-Waite, keeping the
    rounding error of r in ``r_err``); ``expm1(r) = r + tail`` with
    ``tail = r^2 (1/2 + r q(r)) + r_err`` and a minimax polynomial q. The
    ``_Parts`` methods scale by ``2^k`` and sum, largest term first.
    """
    dt = u.dtype
    cst = _consts(dt)
    # XLA's algebraic simplifier rewrites (a + 1) - 1 into a, which would erase
    # the rounding errors that Fast2Sum recovers; a 1 it cannot see through
    # (the barrier is removed after simplification) keeps them.
    one = lax.optimization_barrier(np.asarray(1.0, dt))
    # Only the lower clamp: callers select x itself where x > 0, so what the
    # kernel computes there is never used. A compare and select keep NaN, and
    # cost less than lax.clamp's NaN- and signed-zero-aware min and max.
    u = jnp.where(u < cst.xmin, np.asarray(cst.xmin, dt), u)

    # Range reduction: u = k ln2 + r + r_err. Adding 1.5 * 2^mant rounds u / ln2
    # to an integer k and leaves k in the low bits of the sum, so that 2^k needs
    # no float-to-int conversion (which XLA's CPU backend makes slow); k as a
    # float comes back from the integer, which no simplifier can undo.
    shifter = np.asarray(1.5 * 2.0**cst.mant, dt)
    k_int = lax.bitcast_convert_type(u * np.asarray(_INV_LN2, dt) + shifter, cst.int) - shifter.view(cst.int)
    k = k_int.astype(dt)
    hi = u - k * np.asarray(cst.ln2_hi, dt)  # exact
    lo = k * np.asarray(cst.ln2_lo, dt)
    if u_lo is not None:
        lo = lo - u_lo
    r = hi - lo
    r_err = (hi - r) - lo

    # expm1(r + r_err) = r + r^2/2 + r^3 q(r) + r_err (1 + O(r)).
    q = np.asarray(cst.poly[0], dt)
    for coef in cst.poly[1:]:
        q = q * r + np.asarray(coef, dt)
    tail = (r * r) * (0.5 + r * q) + (r_err + r_err * r)
    return _Parts(r, tail, k_int, one)


# --------------------------------------------------------------------------
# Helpers shared by the three activations.


def _is_zero(t) -> bool:
    return isinstance(t, SymbolicZero)


def _sum_tangents(like: Array, *terms) -> Array:
    """Sum the non-zero tangent terms, in ``like``'s dtype and shape."""
    out = None
    for term in terms:
        if term is not None:
            out = term if out is None else out + term
    if out is None:
        return jnp.zeros_like(like)
    return jnp.broadcast_to(out, like.shape).astype(like.dtype)


def _as_float(x: ArrayLike, name: str) -> Array:
    """``x`` as a JAX array of a real floating dtype (ints promote like jax.nn)."""
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise TypeError(
            f"jelu.{name}: complex input (dtype {x.dtype}) is not supported; "
            "x must be real: bfloat16, float16, float32, float64, or an integer or bool"
        )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))  # the default float dtype, as jax.nn does
    return x


def _as_alpha(alpha: ArrayLike, x: Array, name: str, positive: bool = False) -> Array:
    """alpha in the compute dtype of ``x``, checked against x's shape."""
    a = jnp.asarray(alpha)
    if jnp.issubdtype(a.dtype, jnp.complexfloating):
        raise TypeError(f"jelu.{name}: alpha must be real, got dtype {a.dtype}")
    try:
        jnp.broadcast_shapes(x.shape, a.shape)
    except ValueError:
        raise ValueError(
            f"jelu.{name}: alpha of shape {a.shape} does not broadcast against x of "
            f"shape {x.shape}; pass a scalar or an array broadcastable to {x.shape} "
            f"(e.g. per-channel alpha of shape ({x.shape[-1] if x.ndim else 1},))"
        ) from None
    if positive and not isinstance(a, jax.core.Tracer):
        values = np.asarray(a, dtype=np.float64)
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError(
                f"jelu.{name}: alpha must be finite and > 0, got {alpha!r}; "
                "CELU divides by alpha (jax.nn.celu silently returns NaN for alpha=0)"
            )
    return a.astype(_compute_dtype(x.dtype))


# --------------------------------------------------------------------------
# ELU


@jax.custom_jvp
def _elu(x: Array, alpha: Array) -> tuple[Array, Array]:
    """``(elu(x, alpha), d elu / dx)``, both in x's dtype; ``alpha=None`` means 1."""
    exact = x.dtype.itemsize == 2  # 16-bit results need the exact low word
    parts = _neg_branch(x.astype(_compute_dtype(x.dtype)))
    value = _round(parts.expm1((alpha, None), exact=exact), x.dtype)
    deriv = _round(parts.exp((alpha, None), exact=exact), x.dtype)
    pos = x > 0
    return jnp.where(pos, x, value), jnp.where(pos, np.asarray(1, x.dtype), deriv)


@_elu.defjvp
def _elu_jvp(primals, tangents):
    # d f = f' dx + [x <= 0] expm1(x) d alpha;  d f' = [x <= 0] f' dx + [x <= 0] exp(x) d alpha.
    # (x > 0 selects the zeros, so that NaN propagates into every derivative.)
    x, alpha = primals
    x_dot, alpha_dot = tangents
    f, g = _elu(x, alpha)
    pos = x > 0
    by_x = by_alpha = (None, None)
    if not _is_zero(x_dot):
        by_x = (g * x_dot, jnp.where(pos, 0, g) * x_dot)
    if alpha is not None and not _is_zero(alpha_dot):
        em1, e = _elu(x, None)  # expm1(x) and exp(x) for x <= 0
        by_alpha = (jnp.where(pos, 0, em1) * alpha_dot, jnp.where(pos, 0, e) * alpha_dot)
    return (f, g), tuple(map(_sum_tangents, (f, g), by_x, by_alpha))


_elu.defjvp(_elu_jvp, symbolic_zeros=True)


def elu(x: ArrayLike, alpha: ArrayLike = 1.0) -> Array:
    r"""Exponential linear unit, exact to the last bit.

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
    derivatives are within 1 ULP (correctly rounded for 16-bit floats), every
    derivative is free of NaN and inf where the math is finite, the derivative keeps its tail
    ``alpha * exp(x)`` instead of flushing to 0 below x = -17.3 (float32), and
    reverse mode keeps one array the size of ``x`` instead of four.

    Args:
      x: input array. bfloat16, float16, float32 and float64 keep their dtype;
        integers and bools promote to the default float dtype.
      alpha: scalar or array broadcastable against ``x`` (e.g. one alpha per
        channel); may be traced and differentiated. Default 1.

    Returns:
      An array of ``x``'s dtype and the broadcast shape of ``x`` and ``alpha``.

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
    x = _as_float(x, "elu")
    if isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and alpha == 1:
        return _elu(x, None)[0]  # the default: no multiply, and no alpha tangent
    return _elu(x, _as_alpha(alpha, x, "elu"))[0]


# --------------------------------------------------------------------------
# SELU


def _finite(x: Array) -> Array:
    """x with +inf replaced by the largest float, so that a low-order term
    ``x * lo`` cannot meet ``inf * hi`` as -inf + inf (NaN stays NaN in x * hi)."""
    big = np.asarray(np.finfo(x.dtype).max, x.dtype)
    return jnp.where(x < big, x, big)


def _times_const(x: Array, value: str, exact: bool):
    """``x * value`` for a decimal constant, as a double word.

    For 16-bit inputs (at most 11 significant bits) the constant is cut into
    12-bit pieces, so that the two leading products are exact.
    """
    ct = x.dtype
    if not exact:
        hi, lo = _const(value, ct)
        return _fast2sum(x * hi, _finite(x) * lo)
    rest, pieces = Decimal(value), []
    for _ in range(2):
        piece = float(rest)
        m, e = np.frexp(piece)
        piece = float(np.ldexp(np.round(np.ldexp(m, 12)), e - 12))
        pieces.append(np.asarray(piece, ct))
        rest -= Decimal(piece)
    up, down = _scale_up_tiny(x)
    x = x * up
    x_finite = _finite(x)
    hi, lo = _fast2sum(x * pieces[0], x_finite * pieces[1] + x_finite * np.asarray(float(rest), ct))
    return hi * down, lo  # lo: a sticky bit for _round


@jax.custom_jvp
def _selu(x: Array) -> tuple[Array, Array]:
    """``(selu(x), d selu / dx)``, both in x's dtype."""
    ct = _compute_dtype(x.dtype)
    exact = x.dtype.itemsize == 2
    xc = x.astype(ct)
    scale_alpha = _const(_SELU_SCALE_ALPHA, ct)
    parts = _neg_branch(xc)
    value = _round(parts.expm1(scale_alpha, exact=exact), x.dtype)
    deriv = _round(parts.exp(scale_alpha, exact=exact), x.dtype)
    pos = x > 0
    return (
        jnp.where(pos, _round(_times_const(xc, _SELU_SCALE, exact), x.dtype), value),
        jnp.where(pos, np.asarray(float(_SELU_SCALE), x.dtype), deriv),
    )


@_selu.defjvp
def _selu_jvp(primals, tangents):
    # d f = f' dx;  d f' = [x <= 0] f' dx.
    (x,), (x_dot,) = primals, tangents
    f, g = _selu(x)
    return (f, g), (g * x_dot, jnp.where(x > 0, 0, g) * x_dot)


def selu(x: ArrayLike) -> Array:
    r"""Scaled exponential linear unit, exact to the last bit.

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
      x: input array; bfloat16, float16, float32 and float64 keep their dtype.

    Returns:
      An array of ``x``'s shape and dtype.

    Examples:
      >>> import jax.numpy as jnp, jelu
      >>> jelu.selu(jnp.array([-1.0, 0.0, 2.0]))
      Array([-1.1113307,  0.       ,  2.101402 ], dtype=float32)

    References:
      Klambauer, Unterthiner, Mayr, Hochreiter, "Self-Normalizing Neural
      Networks", NeurIPS 2017. https://arxiv.org/abs/1706.02515
    """
    return _selu(_as_float(x, "selu"))[0]


# --------------------------------------------------------------------------
# CELU


def _celu_arg(x: Array, alpha: Array) -> tuple[Array, Array]:
    """``u + u_lo = min(x, 0) / alpha`` to about twice the working precision.

    ``u`` need not be correctly rounded: ``u_lo`` is computed from the exact
    residual ``x - u alpha``. Multiplying by ``1 / alpha`` (one division per
    alpha, not per element) is what keeps CELU as fast as ELU.
    """
    xmin = np.asarray(_consts(x.dtype).xmin, x.dtype)
    inv = 1 / alpha
    lowest = alpha * xmin  # keeps u in the kernel's range; compare-and-select keeps NaN
    xn = jnp.where(x > 0, np.asarray(0, x.dtype), x)
    xn = jnp.where(xn < lowest, lowest, xn)
    u = xn * inv
    up, down = _scale_up_tiny(xn, 2.0**-40, 2.0**50)
    return u, _residual(xn * up, u * up, alpha) * (inv * down)


@jax.custom_jvp
def _celu(x: Array, alpha: Array) -> tuple[Array, Array, Array]:
    """``(celu(x, alpha), d celu / dx, d^2 celu / dx^2)``, all in x's dtype.

    The second derivative ``exp(x / alpha) / alpha`` comes from the kernel too:
    dividing the rounded ``exp(x / alpha)`` would flush to 0 early for alpha < 1.
    """
    exact = x.dtype.itemsize == 2
    parts = _neg_branch(*_celu_arg(x.astype(_compute_dtype(x.dtype)), alpha))
    value = _round(parts.expm1((alpha, None), exact=exact), x.dtype)
    deriv = _round(parts.exp(exact=exact), x.dtype)
    deriv2 = _round(parts.exp(div=alpha), x.dtype)
    pos = x > 0
    return (
        jnp.where(pos, x, value),
        jnp.where(pos, np.asarray(1, x.dtype), deriv),
        jnp.where(pos, np.asarray(0, x.dtype), deriv2),
    )


@_celu.defjvp
def _celu_jvp(primals, tangents):
    # With u = x / alpha, for x <= 0 (all three are 0 in alpha for x > 0):
    #   f = alpha expm1(u),  f' = exp(u),  f'' = exp(u) / alpha,
    #   d f / d alpha = exp(u) (1 - u) - 1 = expm1(u) - u f',
    #   d f' / d alpha = -u f'',  d f'' / dx = f'' / alpha,  d f'' / d alpha = -(1 + u) f'' / alpha.
    x, alpha = primals
    x_dot, alpha_dot = tangents
    f, g, h = _celu(x, alpha)
    a = alpha.astype(x.dtype)
    by_x = by_alpha = (None, None, None)
    if not _is_zero(x_dot):
        by_x = (g * x_dot, h * x_dot, h / a * x_dot)
    if not _is_zero(alpha_dot):
        pos = x > 0
        # u only ever meets f' and f'', which are 0 below xmin: clamping keeps -inf * 0 out.
        xmin = _consts(x.dtype).xmin
        u = jnp.where(pos, 0, jnp.maximum(x / a, xmin))
        terms = (jnp.where(pos, 0, f / a - u * g), -u * h, -(1 + u) * h / a)
        by_alpha = tuple(t * alpha_dot for t in terms)
    return (f, g, h), tuple(map(_sum_tangents, (f, g, h), by_x, by_alpha))


_celu.defjvp(_celu_jvp, symbolic_zeros=True)


def celu(x: ArrayLike, alpha: ArrayLike = 1.0) -> Array:
    r"""Continuously-differentiable exponential linear unit, exact to the last bit.

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

    and, for :math:`x \le 0`, :math:`\partial\,\mathrm{celu} / \partial\alpha =
    \exp(x/\alpha)(1 - x/\alpha) - 1` (0 for :math:`x > 0`). ``x / alpha`` is
    carried to twice the working precision, so the result is within 1 ULP for
    any alpha, not only powers of two.

    Args:
      x: input array; bfloat16, float16, float32 and float64 keep their dtype.
      alpha: scalar or array broadcastable against ``x``, > 0. A concrete alpha
        that is 0, negative or not finite raises ``ValueError``. Default 1.

    Returns:
      An array of ``x``'s dtype and the broadcast shape of ``x`` and ``alpha``.

    Examples:
      >>> import jax.numpy as jnp, jelu
      >>> jelu.celu(jnp.array([-1.0, 0.0, 2.0]), alpha=0.5)
      Array([-0.43233237,  0.        ,  2.        ], dtype=float32)

    References:
      Barron, "Continuously Differentiable Exponential Linear Units", 2017.
      https://arxiv.org/abs/1704.07483
    """
    x = _as_float(x, "celu")
    if isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and alpha == 1:
        return _elu(x, None)[0]  # celu(x, 1) is elu(x, 1), derivatives included
    return _celu(x, _as_alpha(alpha, x, "celu", positive=True))[0]
