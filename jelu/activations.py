# Copyright 2026 The jelu Authors. Licensed under the Apache License 2.0.
"""ELU, SELU, CELU and ELU + 1 as accurate, memory-lean ``jax.custom_jvp`` functions.

The plain definition of ELU is ten lines of ``jnp`` (README, "How it works"):
a ``custom_jvp`` whose value is ``alpha * expm1(x)`` below 0 and whose
derivative is ``alpha * exp(x)``. This module is that definition with three
things added, each in a module of its own:

* the kernel (``jelu._kernel``): ``expm1`` and ``exp`` for ``x <= 0`` from
  IEEE additions, multiplications and comparisons alone, within 1 ULP of the
  correctly rounded result whatever the compiler fuses, built from the
  double-word arithmetic of ``jelu._double_word`` and the multipliers
  (constants and alpha as ``m * 2^e``) of ``jelu._multiplier``; for
  bfloat16 and float16 x, the float32 kernel of ``jelu._kernel16``, proven
  correctly rounded for the default alphas and within 1 ULP for the others;
* one ``custom_jvp`` per activation that returns the value *and* its
  derivatives, ``(f(x), f'(x), ...)``: the JVP rule multiplies the tangent by
  the derivatives it already has (``jelu._jvp``), so reverse mode keeps one
  residual the size of ``x``, and it calls the function itself for the next
  order, so every derivative comes from the same kernel and none is NaN or inf
  where the math is finite. ELU's, SELU's and ELU + 1's rules are here, beside
  their public functions; CELU's, with its derivatives in alpha, is in
  ``jelu._celu``;
* argument and type checks in Python (``jelu._checks``), so that a bad Python
  or NumPy ``alpha`` raises even under an outer ``jax.jit``, then one jitted
  call, like ``jax.nn``.

Imports: ``jax``, ``numpy`` and jelu's private modules.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jelu import _kernel16 as kernel16
from jelu._celu import celu_with_derivatives
from jelu._checks import ALPHA_RANGE, as_weak_type, check_alpha, check_x, output_type
from jelu._constants import (
    SELU_SCALE_ALPHA_DIGITS,
    SELU_SCALE_DIGITS,
    compute_dtype,
    format_of,
)
from jelu._double_word import opaque, split, unfolded
from jelu._jvp import is_zero, materialize, tangent
from jelu._kernel import UP, elu_lowest, exp_times, expm1_times, reduce_range
from jelu._multiplier import StaticAlpha, alpha_multiplier, constant_multiplier, elu_alpha_multiplier

__all__ = ["elu", "selu", "celu", "elu_plus_one", "ALPHA_RANGE"]

Array = jax.Array


def _alpha16(alpha: Array | StaticAlpha | None) -> Array | float | None:
    """alpha as ``jelu._kernel16`` takes it: a static alpha as its Python float."""
    return alpha.value if isinstance(alpha, StaticAlpha) else alpha


@jax.custom_jvp
def _elu(x: Array, alpha: Array | None) -> tuple[Array, Array]:
    """``(elu(x, alpha), d elu / dx)``, both in x's dtype; ``alpha=None`` means 1."""
    x, alpha = unfolded(x, alpha)  # a constant x is computed at run time, as any other
    if x.dtype in kernel16.DTYPES:  # bfloat16, float16: the 16-bit kernel
        return kernel16.elu(x, _alpha16(alpha))
    ct = compute_dtype(x.dtype)
    traced = alpha is not None and not isinstance(alpha, StaticAlpha)  # static alphas are finite
    # A traced alpha = +-inf as +-2^(2 bias + UP): every product by it overflows to the
    # limit, -+inf for x < 0 (subnormal x too) and +-inf for f', instead of inf * 0 = NaN.
    c = (elu_alpha_multiplier(alpha.astype(ct), 2 * format_of(ct).bias + UP) if traced
         else None if alpha is None else alpha_multiplier(alpha, ct))
    lowest = None if c is None else elu_lowest(c, ct)
    parts = reduce_range(x.astype(ct), lowest=lowest)
    value = expm1_times(parts, c, x.dtype)
    deriv = exp_times(parts, c, x.dtype)
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
    value, deriv = materialize(_elu(x, alpha))
    pos = x > 0
    expm1_x = exp_x = None
    if alpha is not None and not is_zero(alpha_dot):
        # expm1(x) and exp(x) for x <= 0, in the compute dtype: a 16-bit output's
        # tangent is rounded once, and the cotangent of alpha sums in float32.
        if x.dtype in kernel16.DTYPES:  # from the 16-bit kernel's own reduction (0 for x > 0)
            expm1_x, exp_x = kernel16.elu_alpha_partials(x, _alpha16(alpha))
        else:
            expm1_x, exp_x = _elu(x.astype(compute_dtype(x.dtype)), None)
            expm1_x, exp_x = jnp.where(pos, 0, expm1_x), jnp.where(pos, 0, exp_x)
    return (value, deriv), (
        tangent(value, (deriv, x_dot), (expm1_x, alpha_dot)),
        tangent(deriv, (jnp.where(pos, 0, deriv), x_dot), (exp_x, alpha_dot)),
    )


_elu.defjvp(_elu_jvp, symbolic_zeros=True)


def _selu_positive(x: Array, dtype) -> Array:
    """``lambda * x`` for ``x > 0``, rounded once to ``dtype`` from a double word.

    With ``x = x1 + x2`` (12-bit halves) and ``lambda = c1 + rest`` (``c1``
    its leading 12 bits): ``x1 c1`` and ``x2 c1`` are exact and ``x rest`` is
    below 2^-11 of the result, so the sum is within half an ULP plus 2^-34,
    relative, of ``lambda x``, and it rounds the same fused or not (the
    products that meet an addition are exact or opaque). One product by
    lambda rounded to float32 would be off by up to 1.06 ULP.
    """
    lam = constant_multiplier(SELU_SCALE_DIGITS, x.dtype)
    c1, c2 = lam.parts
    rest = np.asarray(c2 + lam.lo, x.dtype)
    # Tiny x: scale up so that no partial product underflows (exact both ways).
    tiny = x < np.asarray(2.0**-60, x.dtype)
    xs = x * jnp.where(tiny, np.asarray(2.0**64, x.dtype), np.asarray(1, x.dtype))
    x1, x2 = split(xs)
    # x2 c1 as (x1 - xs)(-c1): the same product, but -0 for x = -0, so selu(-0) = -0.
    out = x1 * c1 + ((x1 - xs) * -c1 + opaque(xs * rest))
    out = out * jnp.where(tiny, np.asarray(2.0**-64, x.dtype), np.asarray(1, x.dtype))
    # x = +inf: x2 = inf - inf is NaN; lambda x is +inf.
    return jnp.where(x < np.inf, out, x).astype(dtype)


@jax.custom_jvp
def _selu(x: Array) -> tuple[Array, Array]:
    """``(selu(x), d selu / dx)``, both in x's dtype."""
    (x,) = unfolded(x)  # a constant x is computed at run time, as any other
    if x.dtype in kernel16.DTYPES:  # bfloat16, float16: the 16-bit kernel
        return kernel16.selu(x)
    ct = compute_dtype(x.dtype)
    xc = x.astype(ct)
    c = constant_multiplier(SELU_SCALE_ALPHA_DIGITS, ct)
    parts = reduce_range(xc, lowest=elu_lowest(c, ct))
    value = expm1_times(parts, c, x.dtype)
    deriv = exp_times(parts, c, x.dtype)
    return (  # selu(+-0) = +-0 (lambda x), selu'(0) the x <= 0 side
        jnp.where(x >= 0, _selu_positive(xc, x.dtype), value),
        jnp.where(x > 0, np.asarray(float(SELU_SCALE_DIGITS), x.dtype), deriv),
    )


def _selu_jvp(primals, tangents):
    # d f = f' dx;  d f' = [x <= 0] f' dx.
    (x,), (x_dot,) = primals, tangents
    value, deriv = materialize(_selu(x))
    return (value, deriv), (deriv * x_dot, jnp.where(x > 0, 0, deriv) * x_dot)


_selu.defjvp(_selu_jvp)


@jax.custom_jvp
def _elu_plus_one(x: Array) -> tuple[Array, Array]:
    """``(elu(x) + 1, its derivative)``, both in x's dtype: ``x + 1`` and 1 for
    ``x > 0``, ``exp(x)`` twice for ``x <= 0`` (elu's derivative, alpha = 1)."""
    deriv = _elu(x, None)[1]
    return jnp.where(x > 0, x + np.asarray(1, x.dtype), deriv), deriv


def _elu_plus_one_jvp(primals, tangents):
    # d f = f' dx;  d f' = [x <= 0] f' dx.
    (x,), (x_dot,) = primals, tangents
    value, deriv = materialize(_elu_plus_one(x))
    return (value, deriv), (deriv * x_dot, jnp.where(x > 0, 0, deriv) * x_dot)


_elu_plus_one.defjvp(_elu_plus_one_jvp)


# The kernels, jitted apart from the typing around them (and inlined into it): one
# trace per x dtype and alpha as the kernel takes it, whatever type alpha came in.
@jax.jit
def _elu_value(x: Array, alpha: Array | StaticAlpha | None) -> Array:
    return _elu(x, alpha)[0]


@jax.jit
def _celu_value(x: Array, alpha: Array | StaticAlpha) -> Array:
    return celu_with_derivatives(x, alpha)[0]


@functools.partial(jax.jit, static_argnames="atype")
def _elu_call(x: Array, alpha: Array | StaticAlpha | None, atype: Any) -> Array:
    dt, weak = output_type(x, alpha, atype)
    x = x.astype(dt)
    if alpha is not None and not isinstance(alpha, StaticAlpha):
        alpha = jnp.asarray(alpha).astype(compute_dtype(dt))
    return as_weak_type(_elu_value(x, alpha), weak)


@jax.jit
def _selu_call(x: Array) -> Array:
    dt, weak = output_type(x, None, float)
    return as_weak_type(_selu(x.astype(dt))[0], weak)


@jax.jit
def _elu_plus_one_call(x: Array) -> Array:
    dt, weak = output_type(x, None, float)
    return as_weak_type(_elu_plus_one(x.astype(dt))[0], weak)


@functools.partial(jax.jit, static_argnames="atype")
def _celu_call(x: Array, alpha: Array | StaticAlpha, atype: Any) -> Array:
    dt, weak = output_type(x, alpha, atype)
    x = x.astype(dt)
    if not isinstance(alpha, StaticAlpha):
        alpha = jnp.asarray(alpha).astype(compute_dtype(dt))
    return as_weak_type(_celu_value(x, alpha), weak)


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
    x = check_x(x, "elu")
    return _elu_call(x, *check_alpha(alpha, x, "elu"))


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
    return _selu_call(check_x(x, "selu"))


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
    x = check_x(x, "celu")
    alpha, atype = check_alpha(alpha, x, "celu")
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
    return _elu_plus_one_call(check_x(x, "elu_plus_one"))
