"""jelu as a drop-in for jax.nn: the edges of the contract.

Signed zeros as IEEE, and the gradient of a learnable alpha over a 16-bit
batch summed at float32 precision. References: float64 NumPy sums (each term's
error is far below the tolerance), IEEE's expm1(-0) = -0.
"""

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import jelu

FLOATS = [jnp.bfloat16, jnp.float16, jnp.float32]


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name,kw", [("elu", {}), ("elu", {"alpha": 0.3}), ("selu", {}),
                                     ("celu", {}), ("celu", {"alpha": 0.3}), ("celu", {"alpha": 0.5})],
                         ids=["elu", "elu(0.3)", "selu", "celu", "celu(0.3)", "celu(0.5)"])
def test_signed_zeros(name, kw, dtype):
    """f(+-0) = +-0, jitted and op by op; f'(+-0) takes the x <= 0 side (alpha, lambda alpha or 1), positive."""
    f = lambda t: getattr(jelu, name)(t, **kw)  # noqa: E731
    x = jnp.asarray([-0.0, 0.0], dtype)
    for y in (jax.jit(f)(x), f(x)):
        y = np.asarray(y).astype(np.float64)
        assert y[0] == 0 and np.signbit(y[0]), y
        assert y[1] == 0 and not np.signbit(y[1]), y
    g = np.asarray(jax.vmap(jax.grad(f))(x)).astype(np.float64)
    assert np.all(g > 0) and g[0] == g[1], g


def test_elu_with_alpha_zero_is_minus_zero_for_every_negative_x():
    """alpha * expm1(x) with alpha = 0 is -0 for x < 0 (jax.nn.elu gives the same)."""
    x = jnp.asarray([-1e30, -30.0, -1.0, -1e-30], jnp.float32)
    for y in (jelu.elu(x, 0.0), jax.nn.elu(x, 0.0)):
        y = np.asarray(y)
        assert np.all(y == 0) and np.all(np.signbit(y)), y


def _alpha_grad_reference(name: str, x: np.ndarray, alpha: float) -> np.ndarray:
    """d/d alpha of sum(f(x, alpha)) in float64, per element (0 for x > 0)."""
    neg = x <= 0
    if name == "elu":
        return np.where(neg, np.expm1(np.minimum(x, 0)), 0.0)
    u = np.minimum(x, 0) / alpha
    return np.where(neg, np.exp(u) * (1 - u) - 1, 0.0)


@pytest.mark.parametrize("dtype", [ml_dtypes.bfloat16, np.float16], ids=["bfloat16", "float16"])
@pytest.mark.parametrize("name", ["elu", "celu"])
@pytest.mark.parametrize("alpha", [0.3, 1.7])
def test_learnable_alpha_gradient_over_a_16bit_batch(name, alpha, dtype):
    """The alpha gradient of a 16-bit batch (65,536 elements, scalar and per-channel
    alpha) within 1e-6 of float64: the per-element terms are summed in float32,
    not rounded to 16 bits first. The x tangent stays in x's dtype."""
    rng = np.random.default_rng(7)
    x = (rng.normal(size=(256, 256)) * 3).astype(dtype)
    xj = jnp.asarray(x)
    x64 = x.astype(np.float64)
    a32 = np.float32(alpha)
    f = getattr(jelu, name)
    terms = _alpha_grad_reference(name, x64, float(a32))

    g = jax.grad(lambda a: f(xj, a).astype(jnp.float32).sum())(jnp.float32(alpha))
    assert g.dtype == jnp.float32
    ref = terms.sum()
    assert abs(float(g) / ref - 1) < 1e-6, (float(g), ref)

    per_channel = jax.grad(lambda a: f(xj, a).astype(jnp.float32).sum())(jnp.full((256,), alpha, jnp.float32))
    ref_c = terms.sum(axis=0)
    np.testing.assert_allclose(np.asarray(per_channel, np.float64), ref_c, rtol=1e-6, atol=0)

    dx = jax.grad(lambda t: f(t, alpha).astype(jnp.float32).sum())(xj)
    assert dx.dtype == np.dtype(dtype)
