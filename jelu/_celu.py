# Copyright 2026 The jelu Authors. Licensed under the Apache License 2.0.
"""CELU with its derivatives in x and in alpha, as one ``custom_jvp``.

With ``u = x / alpha`` carried to twice the working precision
(``_celu_arg``), the value and derivatives in x come from the kernel; the
derivative in alpha, ``expm1(u) - u exp(u)``, comes without cancellation from
a Taylor series for ``|u| <= 1`` (``_g_series``) and from double words above,
and the second derivative in alpha, ``u^2 exp(u) / alpha``, from the square
of ``u`` as a double word. The public :func:`jelu.celu` is in
``jelu.activations``.

Imports: ``jax``, ``numpy`` and jelu's private modules below
``jelu.activations``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jelu import _kernel16 as kernel16
from jelu._constants import compute_dtype, format_of
from jelu._double_word import (
    fast_two_sum,
    ldexp,
    opaque,
    remainder,
    split,
    split_constant,
    two_prod,
    unfolded,
)
from jelu._jvp import materialize, tangent
from jelu._kernel import Parts, exp_times, expm1_times, reduce_range, round_scaled
from jelu._multiplier import (
    Multiplier,
    StaticAlpha,
    alpha_as_array,
    alpha_multiplier,
    constant_parts,
    dw_mul,
    inverse,
    is_power_of_two,
)

Array = jax.Array


# |u| up to which d celu / d alpha = expm1(u) - u exp(u) comes from its Taylor
# series: above it the two terms cancel at most 2 bits (a factor 3.8 at u = -1).
_SERIES_BELOW = 1.0


def _celu_arg(x: Array, c: Multiplier, inv: Multiplier) -> tuple[Array, Array]:
    """``u + u_lo = min(x, 0) / alpha`` to about twice the working precision.

    ``y = x 2^-e`` is exact (where ``|u| >= 2^-25``, the only place u matters),
    ``u = y / m`` comes from one multiplication by ``1 / m`` and ``u_lo`` from
    the exact residual ``y - u m``.
    """
    fmt = format_of(x.dtype)
    y = ldexp(jnp.where(x > 0, np.asarray(0, x.dtype), x), None, -c.e)
    lowest = c.hi * np.asarray(fmt.celu_min, x.dtype)  # keeps u in the kernel's range
    y = jnp.where(y < lowest, lowest, y)
    if is_power_of_two(c):  # alpha = 2^e: u = x 2^-e exactly
        return y, None
    half = np.asarray(0.5, x.dtype)
    u = opaque(y * inv.hi * half)  # inv.hi / 2 = 1 / m
    return u, opaque(remainder(y, u, c.parts) * (inv.hi * half))


def _square(u: tuple[Array, Array]) -> Multiplier:
    """``(u_hi + u_lo)^2 2^64`` as a scale (the 2^64 keeps tiny squares from underflowing)."""
    hi, lo = u
    up = hi * np.asarray(2.0**32, hi.dtype)
    s_hi, s_lo = two_prod(up, split(up))
    s_lo = s_lo + opaque(up * (lo * np.asarray(2.0**33, hi.dtype)))  # + 2 u_hi u_lo
    return Multiplier(s_hi, s_lo, split(s_hi), -64)


def _g_series(u: Array, u_lo: Array, square: Multiplier) -> tuple[Array, Array]:
    """``(expm1(u) - u exp(u)) 2^64 = -u^2 (1/2 + u/3 + u^2/8 + u^3 q(u)) 2^64`` for |u| <= 1.

    ``1/2 + u/3 + u^2/8`` is summed exactly (``u/3`` and ``u^2/8`` as double
    words, the latter from ``square`` = ``u^2 2^64``), so only the small
    ``u^3 q(u)`` (at most 1/30 + ...) carries rounding errors. ``u_lo``
    enters to first order, through the derivative ``1/3 + u/4 + u^2/10 + ...``.
    """
    fmt = format_of(u.dtype)
    q = np.asarray(fmt.gser[0], u.dtype)
    for coef in fmt.gser[1:-3]:
        q = opaque(q * u) + np.asarray(coef, u.dtype)
    third_hi, third_lo = constant_parts("0.33333333333333333333333333333333333", u.dtype)
    t_hi, t_lo = two_prod(u, split_constant(third_hi, u.dtype))
    eighth = np.asarray(2.0**-67, u.dtype)  # u^2 / 8 = square 2^-67, exactly
    s_hi, s_lo = fast_two_sum(np.asarray(0.5, u.dtype), t_hi)  # |u / 3| <= 1/3
    s_hi, s_err = fast_two_sum(s_hi, square.hi * eighth)  # 1/2 + u/3 >= 1/6 > u^2 / 8
    cube = opaque(opaque(u * u) * opaque(u * q))
    slope = np.asarray(1 / 3, u.dtype) + opaque(u * (np.asarray(0.25, u.dtype) + opaque(u * np.asarray(0.1, u.dtype))))
    rest = (s_lo + s_err) + (t_lo + opaque(u * third_lo)) + (square.lo * eighth + cube) + opaque(u_lo * slope)
    hi, lo = dw_mul((s_hi, rest), square)
    return -hi, -lo


def _alpha_derivatives(parts: Parts, u: Array, u_lo: Array, inv: Multiplier) -> tuple[Array, Array]:
    """``(d f / d alpha, d^2 f / d alpha^2)`` for ``x <= 0``, in the compute dtype.

    d f / d alpha = expm1(u) - u exp(u), without cancellation: a Taylor series
    for |u| <= 1, else the double words (cancelling at most 2 bits); d^2 f / d
    alpha^2 = u^2 exp(u) / alpha.
    """
    ct = u.dtype
    exp_dw = parts.exp()
    ue = dw_mul(exp_dw, Multiplier(u, u_lo, split(u), 0))
    up = np.asarray(2.0**64, ct)
    ue = (ldexp(ue[0], parts.k, 64, parts.k_lo), ldexp(ue[1], parts.k, 64, parts.k_lo))
    expm1_dw = parts.expm1()
    d_hi, d_err = fast_two_sum(expm1_dw[0] * up, -ue[0])  # |expm1(u)| >= |u exp(u)|
    by_parts = fast_two_sum(d_hi, d_err + (expm1_dw[1] * up - ue[1]))
    square = _square((u, u_lo))
    by_series = _g_series(u, u_lo, square)
    small = jnp.abs(u) <= np.asarray(_SERIES_BELOW, ct)
    d_alpha = round_scaled(tuple(jnp.where(small, s, p) for s, p in zip(by_series, by_parts)), None, None, ct, -64)
    d_alpha2 = round_scaled(dw_mul(exp_dw, square), inv, parts.k, ct, square.e, parts.k_lo)
    return d_alpha, d_alpha2


class CeluOutputs(NamedTuple):
    """CELU and its derivatives at ``(x, alpha)``, with ``u = x / alpha``; for ``x <= 0``:"""

    value: Array  # f = alpha expm1(u), in x's dtype (x for x > 0)
    deriv: Array  # f' = exp(u), in x's dtype (1 for x > 0)
    deriv2: Array  # f'' = exp(u) / alpha, in x's dtype (0 for x > 0)
    # The derivatives in alpha, None for a static alpha (no tangent can reach them):
    d_alpha: Array | None  # d f / d alpha = exp(u)(1 - u) - 1, in the compute dtype (0 for x > 0)
    d_alpha2: Array | None  # d^2 f / d alpha^2 = u^2 exp(u) / alpha, in the compute dtype (0 for x > 0)


@jax.custom_jvp
def celu_with_derivatives(x: Array, alpha: Array | StaticAlpha) -> CeluOutputs:
    """CELU and its derivatives (``CeluOutputs``). The derivatives in alpha stay
    in the compute dtype, so that the cotangent of alpha sums in float32 over a
    16-bit batch, and are computed only for a traced alpha. A traced alpha
    that is not finite and positive gives NaN for ``x <= 0``.

    Only what the call can use is traced: a static alpha needs no derivative
    in alpha, and a 16-bit x takes its value and derivatives in x from the
    16-bit kernel (so with a static alpha the float32 kernel is not built).
    """
    x, alpha = unfolded(x, alpha)  # a constant x or alpha is computed at run time, as any other
    dt = x.dtype
    ct = compute_dtype(dt)
    static = isinstance(alpha, StaticAlpha)
    if dt in kernel16.DTYPES and static:  # bfloat16, float16: the 16-bit kernel alone
        return CeluOutputs(*kernel16.celu(x, alpha.value), None, None)
    pos = x > 0
    a = alpha_as_array(alpha, ct)
    bad = ~((a > 0) & (a < np.inf))

    def sel(on_pos, v):
        return jnp.where(pos, np.asarray(on_pos, v.dtype), jnp.where(bad, np.asarray(np.nan, v.dtype), v))

    xc = x.astype(ct)
    c = alpha_multiplier(alpha, ct)
    inv = inverse(c)
    u, u_lo = _celu_arg(xc, c, inv)
    parts = reduce_range(u, u_lo, lowest=np.asarray(format_of(ct).celu_min, ct))
    d_alpha = d_alpha2 = None
    if not static:
        d_alpha, d_alpha2 = (sel(0, d) for d in _alpha_derivatives(
            parts, u, jnp.zeros_like(u) if u_lo is None else u_lo, inv))
    if dt in kernel16.DTYPES:  # bfloat16, float16: value, f' and f'' from the 16-bit kernel
        return CeluOutputs(*kernel16.celu(x, alpha), d_alpha, d_alpha2)
    value = expm1_times(parts, c, dt)
    deriv = exp_times(parts, None, dt)
    deriv2 = exp_times(parts, inv, dt)
    # |u| < 2^-(mant + 2): alpha expm1(u) = x (1 + u/2 + ...) rounds to x (u may
    # have underflowed there); x = -0 gives -0, as IEEE expm1 does.
    tiny_u = jnp.abs(u) < np.asarray(2.0 ** -(format_of(ct).mant + 2), ct)
    value = jnp.where(tiny_u, x, value)
    value = jnp.where(pos, x, jnp.where(bad, np.asarray(np.nan, dt), value))
    return CeluOutputs(value, sel(1, deriv), sel(0, deriv2), d_alpha, d_alpha2)


def _celu_jvp(primals, tangents):
    # With u = x / alpha, f'' = exp(u) / alpha, f_a = d f / d alpha and
    # f_aa = d^2 f / d alpha^2, for x <= 0 (all zero in alpha for x > 0):
    #   d f    = f' dx + f_a d alpha
    #   d f'   = f'' dx - u f'' d alpha
    #   d f''  = (f'' / alpha) dx - (1 + u) (f'' / alpha) d alpha
    #   d f_a  = -u f'' dx + f_aa d alpha
    #   d f_aa = (2 + u) u (f'' / alpha) dx - (3 + u) (f_aa / alpha) d alpha
    # u is clamped where exp(u) is 0 anyway, so that no inf meets a 0. With a
    # static alpha there is no d alpha, f_a or f_aa, and u is not needed.
    x, alpha = primals
    x_dot, alpha_dot = tangents
    outs = materialize(celu_with_derivatives(x, alpha))
    value, deriv, deriv2, d_alpha, d_alpha2 = outs
    ct = compute_dtype(x.dtype)
    a = alpha_as_array(alpha, ct)
    deriv2_per_alpha = deriv2.astype(ct) / a  # in the compute dtype
    if d_alpha is None:  # a static alpha
        return outs, CeluOutputs(
            tangent(value, (deriv, x_dot)),
            tangent(deriv, (deriv2, x_dot)),
            tangent(deriv2, (deriv2_per_alpha, x_dot)),
            None, None,
        )
    # Clamp x, not x / alpha: the tangent of x / alpha at x = -inf would be inf * 0.
    lowest = a * np.asarray(format_of(ct).celu_min, ct)
    xc = x.astype(ct)
    u = jnp.where(x > 0, 0, jnp.where(xc < lowest, lowest, xc)) / a  # x = +inf: no inf / a either
    u_deriv2 = u * deriv2.astype(ct)
    return outs, CeluOutputs(
        tangent(value, (deriv, x_dot), (d_alpha, alpha_dot)),
        tangent(deriv, (deriv2, x_dot), (-u_deriv2, alpha_dot)),
        tangent(deriv2, (deriv2_per_alpha, x_dot), (-(1 + u) * deriv2_per_alpha, alpha_dot)),
        tangent(d_alpha, (-u_deriv2, x_dot), (d_alpha2, alpha_dot)),
        tangent(d_alpha2, ((2 + u) * u * deriv2_per_alpha, x_dot), (-(3 + u) * d_alpha2 / a, alpha_dot)),
    )


celu_with_derivatives.defjvp(_celu_jvp, symbolic_zeros=True)
