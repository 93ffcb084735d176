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
SIGNED_ZERO_CASES = [("elu", {}), ("elu", {"alpha": 0.3}), ("selu", {}), ("celu", {}), ("celu", {"alpha": 0.3}),
                     ("celu", {"alpha": 0.5})]


def _signed_zero_params() -> list:
    """Every case in every dtype; the fast tier takes each case once, the dtypes in turn."""
    out = []
    for i, (name, kw) in enumerate(SIGNED_ZERO_CASES):
        for j, dtype in enumerate(FLOATS):
            label = name + (f"({kw['alpha']})" if kw else "")
            fast = i % len(FLOATS) == j and i % 2 == 0
            out.append(pytest.param(name, kw, dtype, marks=() if fast else pytest.mark.slow,
                                    id=f"{label}-{np.dtype(dtype).name}"))
    return out


@pytest.mark.parametrize("name,kw,dtype", _signed_zero_params())
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


@pytest.mark.slow
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


# --------------------------------------------------------------------------
# An infinite alpha for elu: the mathematical limits (jax.nn.elu gives them where
# inf * 0 does not meet them; tests/test_vs_jax_nn.py compares the two).

INF_ALPHAS = {
    "python": lambda s: s * float("inf"),
    "np.float32": lambda s: np.float32(s * np.inf),
    "np.float16": lambda s: np.float16(s * np.inf),
    "jnp.float32": lambda s: jnp.float32(s * np.inf),
    "np per-channel": lambda s: np.array([s * np.inf, 0.5]),
}
SPECIAL_X = [-np.inf, -1e30, -200.0, -20.0, -1.0, -1e-30, -0.0, 0.0, 1.0, np.inf, np.nan]


FAST_INF = {(1, "jnp.float32", jnp.float32), (-1, "np per-channel", jnp.float16)}


@pytest.mark.parametrize("sign,form,dtype", [
    pytest.param(s, f, d, marks=() if (s, f, d) in FAST_INF else pytest.mark.slow,
                 id=f"{'+' if s > 0 else '-'}inf-{f}-{np.dtype(d).name}")
    for s in (1, -1) for f in INF_ALPHAS for d in FLOATS])
def test_elu_infinite_alpha_gives_the_limits(sign, form, dtype):
    """elu(x, +inf) = -inf for x < 0, x for x >= 0 (-0 stays -0), NaN for NaN; d/dx = +inf for
    finite x <= 0, 0 at x = -inf, 1 for x > 0; d2/dx2 as d/dx for x <= 0; d/dalpha = expm1(x).
    For -inf the signs flip. Jitted and not."""
    alpha = INF_ALPHAS[form](sign)
    per_channel = np.ndim(alpha) == 1
    with np.errstate(over="ignore"):  # -1e30 is -inf and -1e-30 is -0 in float16
        x64 = np.array(SPECIAL_X).astype(dtype).astype(np.float64)
    x = jnp.asarray(np.stack([x64, x64], axis=1) if per_channel else x64, dtype)
    i_neg0, i_pos0 = len(SPECIAL_X) - 5, len(SPECIAL_X) - 4  # -0.0, 0.0
    f = lambda t: jelu.elu(t, alpha)  # noqa: E731
    col = (lambda v: np.asarray(v, np.float64)[:, 0]) if per_channel else (lambda v: np.asarray(v, np.float64))
    inf = sign * np.inf
    want = np.where(x64 < 0, -inf, x64)
    d1 = np.where(x64 > 0, 1.0, np.where(x64 == -np.inf, 0.0, inf))
    d1[np.isnan(x64)] = np.nan
    d2 = np.where(x64 > 0, 0.0, np.where(x64 == -np.inf, 0.0, inf))
    d2[np.isnan(x64)] = np.nan
    for y in (f(x), jax.jit(f)(x)):
        assert y.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(col(y), want)
        assert np.signbit(col(y)[i_neg0]) and not np.signbit(col(y)[i_pos0])
    if form in ("np.float32", "np.float16"):
        return  # the same traced path as a Python inf: only the types differ
    if per_channel:
        g = jax.jit(jax.vmap(jax.vmap(jax.grad(jelu.elu)), (0, None)))(x, jnp.asarray(alpha, jnp.float32))
        np.testing.assert_array_equal(col(g), d1)
        return

    @jax.jit
    def derivatives(x):
        out = {"d1 grad": jax.vmap(jax.grad(f))(x), "d1 jvp": jax.jvp(f, (x,), (jnp.ones_like(x),))[1],
               "d2 jacfwd(grad)": jax.vmap(jax.jacfwd(jax.grad(f)))(x)}  # (grad of grad: the xfail below)
        if np.dtype(dtype).itemsize == 4:
            out["d2 grad(grad)"] = jax.vmap(jax.grad(jax.grad(f)))(x)
        if form == "jnp.float32":
            out["dalpha"] = jax.vmap(jax.grad(jelu.elu, argnums=1), (0, None))(x, alpha)
        return out

    out = derivatives(x)
    for key, v in out.items():
        if key != "dalpha":
            np.testing.assert_array_equal(col(v), d1 if key.startswith("d1") else d2, err_msg=key)
    if form == "jnp.float32":
        with np.errstate(invalid="ignore"):
            want_da = np.where(x64 > 0, 0.0, np.expm1(np.where(x64 > 0, 0.0, x64)))
        np.testing.assert_allclose(np.asarray(out["dalpha"], np.float64), want_da, rtol=2e-7, atol=0)


def test_elu_infinite_alpha_agrees_with_jax_nn_where_it_is_right():
    """jax.nn.elu is right for x != 0 values and for d/dx where exp(x) has not underflowed."""
    x = jnp.array([-1e30, -20.0, -1.0, -1e-3, 0.5, np.inf, -np.inf], jnp.float32)
    for a in (np.inf, -np.inf):
        np.testing.assert_array_equal(jelu.elu(x, a), jax.nn.elu(x, a))
        xs = jnp.array([-10.0, -1.0, -1e-3, 0.0, -0.0, 0.5], jnp.float32)  # (-20: jax.nn's is NaN)
        np.testing.assert_array_equal(jax.vmap(jax.grad(lambda t: jelu.elu(t, a)))(xs),
                                      jax.vmap(jax.grad(lambda t: jax.nn.elu(t, a)))(xs))


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [ml_dtypes.bfloat16, np.float16], ids=["bfloat16", "float16"])
def test_elu_infinite_alpha_second_derivative_16bit_every_mode(dtype):
    """f'' = alpha exp(x) = +inf for x <= 0 with alpha = +inf, by grad of grad too.

    For 16-bit x reverse mode keeps the kernel's outputs behind an optimization
    barrier; were the tangents behind it as well, grad of grad would meet an
    instantiated zero cotangent times inf = NaN."""
    x = jnp.array([-1.0, -0.0, 0.5], dtype)
    f = lambda t: jelu.elu(t, np.inf)  # noqa: E731
    for d2 in (jax.vmap(jax.grad(jax.grad(f)))(x), jax.vmap(jax.jacfwd(jax.grad(f)))(x),
               jax.vmap(lambda t: jax.jvp(lambda s: jax.jvp(f, (s,), (jnp.ones_like(s),))[1], (t,),
                                          (jnp.ones_like(t),))[1])(x)):
        np.testing.assert_array_equal(np.asarray(d2, np.float64), [np.inf, np.inf, 0.0])


def test_celu_infinite_alpha_raises():
    """celu divides by alpha: an infinite Python or NumPy alpha keeps raising ValueError."""
    x = jnp.array([-1.0, 1.0])
    for alpha in (float("inf"), -float("inf"), np.float16(np.inf), np.array([1.0, np.inf])):
        with pytest.raises(ValueError, match=r"jelu\.celu: alpha.*=-?inf is outside the supported range; "
                                             r"alpha must be 1e-06 <= alpha <= 1e\+30"):
            jelu.celu(x, alpha)


def test_elu_range_message_names_infinity():
    with pytest.raises(ValueError, match=r"alpha must be 0, \+-inf, or 1e-30 <= \|alpha\| <= 1e\+30"):
        jelu.elu(jnp.array([-1.0]), 1e31)
    with pytest.raises(ValueError, match=r"alpha must be 0, \+-inf, or"):
        jelu.elu(jnp.array([-1.0]), float("nan"))
