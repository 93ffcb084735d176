"""A learnable (traced) alpha at its limits gives what a Python alpha and jax.nn give.

A traced alpha for elu is decomposed as ``m 2^e`` with its limits in the same
arithmetic (``jelu._multiplier.elu_alpha_multiplier``): +-inf as +-1 * 2^big,
+-0 as +-1 * 2^-big. The references are IEEE products computed by NumPy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jelu

X = np.array([-np.inf, -200.0, -3.0, -1e-3, -1e-30, -0.0, 0.0, 1e-30, 2.0, np.inf], np.float32)


def _signs_and_values(y) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    return np.signbit(y), np.nan_to_num(y, nan=7.0)


@pytest.mark.parametrize("alpha", [0.0, -0.0])
def test_traced_zero_alpha_is_a_signed_zero_product(alpha):
    """elu(x, +-0) for x < 0 is +-0 * expm1(x) (IEEE signs: -0 for alpha +0, +0 for alpha -0), x for x >= 0."""
    a = np.float32(alpha)
    want = np.where(X >= 0, X, a * np.expm1(np.clip(X, np.float32(-104), np.float32(0))))  # IEEE products
    for got in (jax.jit(jelu.elu)(X, jnp.float32(alpha)), jax.vmap(jelu.elu)(X, jnp.full(X.shape, alpha, jnp.float32))):
        np.testing.assert_array_equal(_signs_and_values(got), _signs_and_values(want))


def test_traced_zero_alpha_matches_python_zero_and_jax_nn():
    """A learnable alpha that reaches +0 gives the bits of elu(x, 0.0) and of jax.nn.elu(x, 0.0)."""
    traced = np.asarray(jax.jit(jelu.elu)(X, jnp.float32(0.0)))
    for other in (jelu.elu(X, 0.0), jax.nn.elu(X, 0.0)):
        other = np.asarray(other)
        finite = ~np.isnan(other)
        np.testing.assert_array_equal(traced[finite].view(np.uint32), other[finite].view(np.uint32))


@pytest.mark.parametrize("alpha", [np.inf, -np.inf])
def test_traced_infinite_alpha_gives_the_limits(alpha):
    """elu(x, +-inf) = -+inf for x < 0 (subnormal x too), x for x >= 0; d/dx = +-inf for finite x <= 0."""
    y = np.asarray(jax.jit(jelu.elu)(X, jnp.float32(alpha)))
    neg = X < 0
    np.testing.assert_array_equal(y[neg], np.full(neg.sum(), -alpha, np.float32))
    np.testing.assert_array_equal(y[~neg].view(np.uint32), X[~neg].view(np.uint32))
    d = np.asarray(jax.vmap(jax.grad(jelu.elu), in_axes=(0, None))(X, jnp.float32(alpha)))
    finite_nonpos = (X <= 0) & np.isfinite(X)
    np.testing.assert_array_equal(d[finite_nonpos], np.full(finite_nonpos.sum(), alpha, np.float32))


def test_traced_nan_alpha_gives_nan_below_zero():
    y = np.asarray(jax.jit(jelu.elu)(X, jnp.float32(np.nan)))
    assert np.isnan(y[X < 0]).all() and np.array_equal(y[X > 0], X[X > 0])


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_a_python_alpha_of_minus_zero_is_not_plus_zero(dtype):
    """elu(x, -0.0) for x < 0 is -0.0 * expm1(x) = +0, as IEEE and jax.nn.elu give, and
    elu(x, 0.0) is -0; the two alphas are separate constants of the compiled kernel
    (they are equal as floats, so one jit cache entry unless told apart)."""
    x = jnp.asarray([-3.0, -0.5], dtype)
    for alpha, sign in ((0.0, -1.0), (-0.0, 1.0), (0.0, -1.0)):
        out = np.asarray(jelu.elu(x, alpha)).astype(np.float64)
        assert (out == 0).all() and (np.copysign(1.0, out) == sign).all(), (alpha, out)
