# Copyright 2026 The jelu Authors. Licensed under the Apache License 2.0.
"""What the JVP rules share: sums of coefficient-tangent products, and the outputs they keep.

Every rule in ``jelu.activations`` and ``jelu._celu`` calls its function for
the value and derivatives, keeps them (``materialize``), and multiplies the
tangents by them (``tangent``), skipping symbolic zeros and static alphas.

Imports: ``jax``, ``numpy`` and ``jelu._multiplier``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from jelu._multiplier import StaticAlpha

Array = jax.Array


def is_zero(t) -> bool:
    return isinstance(t, (SymbolicZero, StaticAlpha))


def tangent(like: Array, *terms) -> Array:
    """Sum the (coefficient, tangent) products that are not zero, in ``like``'s dtype and shape.

    A tangent of ``like``'s dtype (that of x) is multiplied in that dtype, so
    that reverse mode keeps its coefficient (f') as an array of x's dtype. A
    tangent of alpha (the compute dtype) is multiplied in the compute dtype and
    then rounded, so that a 16-bit output's derivative in alpha is rounded
    once, and the transpose sums its cotangents in the compute dtype.
    """
    out = None
    for coef, dot in terms:
        if dot is None or is_zero(dot):
            continue
        if dot.dtype == like.dtype:
            term = coef.astype(like.dtype) * dot
        else:
            term = (coef.astype(dot.dtype) * dot).astype(like.dtype)
        out = term if out is None else out + term
    if out is None:
        return jnp.zeros_like(like)
    return jnp.broadcast_to(out, like.shape)


def materialize(outs: tuple[Array, ...]) -> tuple[Array, ...]:
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
    return _barrier(outs)


@jax.custom_jvp
def _barrier(outs: tuple[Array, ...]) -> tuple[Array, ...]:
    """``lax.optimization_barrier`` on the values; tangents pass through unchanged.

    The barrier's own JVP puts the tangents behind it too, so that in reverse
    over reverse its transpose instantiates a zero cotangent for every output;
    a zero meeting an infinite coefficient (f' with alpha = +-inf) is NaN. The
    values alone need the barrier (they are the residuals it keeps lean).
    """
    return lax.optimization_barrier(outs)


@_barrier.defjvp
def _barrier_jvp(primals, tangents):
    (outs,), (outs_dot,) = primals, tangents
    return _barrier(outs), outs_dot
