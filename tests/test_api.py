"""The public API of jelu: drop-in signatures, custom_jvp structure, dtypes, alpha handling, errors.

Numerical references are closed-form float64 NumPy formulas; jax.nn is used only where
the spec asks for "the same as jax.nn" (dtype promotion) or where it is accurate
(moderate x in float64).
"""

from __future__ import annotations

import re

import jax
import jax.export
import jax.numpy as jnp
import numpy as np
import pytest

from jax_compat import enable_x64
import jelu

from jelu.testing import SELU_ALPHA, SELU_SCALE
FUNCS = {"elu": jelu.elu, "selu": jelu.selu, "celu": jelu.celu}
JAX_NN = {"elu": jax.nn.elu, "selu": jax.nn.selu, "celu": jax.nn.celu}
by_name = pytest.mark.parametrize("name", list(FUNCS))
with_alpha = pytest.mark.parametrize("name", ["elu", "celu"])


def ref(name: str, x, alpha: float = 1.0) -> np.ndarray:
    """float64 closed form of the activation."""
    x = np.asarray(x, np.float64)
    neg = np.minimum(x, 0.0)
    if name == "elu":
        return np.where(x > 0, x, alpha * np.expm1(neg))
    if name == "celu":
        return np.where(x > 0, x, alpha * np.expm1(neg / alpha))
    return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(neg))


def dalpha_ref(name: str, x, alpha) -> np.ndarray:
    """float64 d f / d alpha: expm1(x) (elu) or exp(x/a)(1 - x/a) - 1 (celu) for x <= 0."""
    x = np.asarray(x, np.float64)
    z = np.minimum(x, 0.0) / (alpha if name == "celu" else 1.0)
    neg = np.expm1(z) if name == "elu" else np.exp(z) * (1.0 - z) - 1.0
    return np.where(x > 0, 0.0, neg)


def dx_ref(name: str, x, alpha) -> np.ndarray:
    x = np.asarray(x, np.float64)
    neg = np.minimum(x, 0.0)
    d = alpha * np.exp(neg) if name == "elu" else np.exp(neg / alpha)
    return np.where(x > 0, 1.0, d)


X = np.array([-4.0, -1.5, -0.25, 0.0, 0.75, 3.0], np.float32)


# --------------------------------------------------------------------------------------
# Package surface
# --------------------------------------------------------------------------------------
def test_version_and_exports():
    assert isinstance(jelu.__version__, str)
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", jelu.__version__)
    assert {"elu", "selu", "celu"} <= set(jelu.__all__)


@by_name
def test_docstring_has_formula_and_doctest(name):
    doc = FUNCS[name].__doc__ or ""
    assert ">>>" in doc, "docstring needs a doctest"
    assert "exp" in doc and "alpha" in doc.lower()


@pytest.mark.parametrize("name", ["celu"] + [pytest.param(n, marks=pytest.mark.slow) for n in ("elu", "selu")])
def test_built_on_custom_jvp(name):
    """The traced graph contains a custom_jvp_call, for Python and for traced alpha."""
    x = jnp.asarray(X)
    fn = FUNCS[name]
    assert "custom_jvp_call" in str(jax.make_jaxpr(fn)(x))
    if name != "selu":
        assert "custom_jvp_call" in str(jax.make_jaxpr(lambda x: fn(x, 0.5))(x))
        assert "custom_jvp_call" in str(jax.make_jaxpr(fn)(x, jnp.float32(0.5)))


@pytest.mark.parametrize("name", ["elu", pytest.param("celu", marks=pytest.mark.slow)])
def test_alpha_positional_keyword_and_default(name):
    fn = FUNCS[name]
    x = jnp.asarray(X)
    np.testing.assert_array_equal(fn(x, 0.5), fn(x, alpha=0.5))
    np.testing.assert_array_equal(fn(x), fn(x, alpha=1.0))
    np.testing.assert_allclose(fn(x, alpha=0.5), ref(name, X, 0.5), rtol=1e-6, atol=0)


@pytest.mark.parametrize("name", ["selu"] + [pytest.param(n, marks=pytest.mark.slow) for n in ("elu", "celu")])
def test_drop_in_for_jax_nn_in_float64(name):
    """Where jax.nn is accurate (float64, |x| <= 5), jelu agrees with it to ~1e-14."""
    x = np.linspace(-5, 5, 101)
    with enable_x64(True):
        args = () if name == "selu" else (0.8,)
        ours = FUNCS[name](jnp.asarray(x), *args)
        theirs = JAX_NN[name](jnp.asarray(x), *args)
        assert ours.dtype == theirs.dtype == jnp.float64
        np.testing.assert_allclose(ours, theirs, rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("name", ["elu"] + [pytest.param(n, marks=pytest.mark.slow) for n in ("selu", "celu")])
def test_python_scalar_input(name):
    fn = FUNCS[name]
    for x in (-1.0, 2.0, 0.0, -3):
        y = fn(x)
        assert y.shape == ()
        assert y.dtype == JAX_NN[name](x).dtype
        np.testing.assert_allclose(float(y), ref(name, x), rtol=1e-6)


# --------------------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,dtype", [  # the fast tier: each function once, the dtypes in turn
    pytest.param(n, d, marks=() if i == j < 2 else pytest.mark.slow, id=f"{n}-{np.dtype(d).name}")
    for i, n in enumerate(FUNCS) for j, d in enumerate([jnp.bfloat16, jnp.float16, jnp.float32])])
def test_output_and_gradient_keep_float_dtype(name, dtype):
    fn = FUNCS[name]
    x = jnp.asarray(X, dtype)
    y = fn(x)
    assert y.dtype == dtype
    assert jax.grad(lambda x: jnp.sum(fn(x)))(x).dtype == dtype
    if name != "selu":
        assert fn(x, 0.3).dtype == dtype  # Python alpha never promotes
        assert fn(x, jnp.asarray(0.3, dtype)).dtype == dtype
        g = jax.grad(lambda a: jnp.sum(fn(x, a)))(jnp.asarray(0.3, dtype))
        assert g.dtype == dtype
    # bfloat16 has 8 significant bits, float16 11: a loose check that values are sane.
    np.testing.assert_allclose(np.asarray(y, np.float64), ref(name, np.asarray(x, np.float64)),
                               rtol=float(jnp.finfo(dtype).eps), atol=0)


@pytest.mark.parametrize("name", ["celu"] + [pytest.param(n, marks=pytest.mark.slow) for n in ("elu", "selu")])
def test_float64_keeps_dtype_in_x64_mode(name):
    fn = FUNCS[name]
    with enable_x64(True):
        x = jnp.asarray(X, jnp.float64)
        y = fn(x)
        assert y.dtype == jnp.float64
        assert jax.grad(lambda x: jnp.sum(fn(x)))(x).dtype == jnp.float64
        np.testing.assert_allclose(y, ref(name, X), rtol=1e-15, atol=0)


@pytest.mark.parametrize("name,dtype", [
    pytest.param(n, d, marks=() if (i, j) in {(0, 0), (1, 3), (2, 2)} else pytest.mark.slow,
                 id=f"{n}-{np.dtype(d).name}")
    for i, n in enumerate(FUNCS) for j, d in enumerate([jnp.int8, jnp.int32, jnp.uint8, jnp.bool_])])
def test_integer_and_bool_promote_like_jax_nn(name, dtype):
    fn = FUNCS[name]
    x = jnp.asarray([-3, -1, 0, 1, 2] if dtype not in (jnp.uint8, jnp.bool_) else [0, 1, 2, 1],
                    dtype)
    y = fn(x)
    assert y.dtype == JAX_NN[name](x).dtype
    assert jnp.issubdtype(y.dtype, jnp.floating)
    np.testing.assert_allclose(y, ref(name, np.asarray(x, np.float64)), rtol=1e-6)


@pytest.mark.parametrize("name", ["elu"] + [pytest.param(n, marks=pytest.mark.slow) for n in ("selu", "celu")])
def test_integer_promotes_like_jax_nn_in_x64_mode(name):
    with enable_x64(True):
        x = jnp.asarray([-2, 0, 3], jnp.int64)
        assert FUNCS[name](x).dtype == JAX_NN[name](x).dtype == jnp.float64


@pytest.mark.parametrize("name", ["selu"] + [pytest.param(n, marks=pytest.mark.slow) for n in ("elu", "celu")])
@pytest.mark.parametrize("dtype", [jnp.complex64], ids=str)
def test_complex_input_raises_type_error_naming_dtype(name, dtype):
    x = jnp.asarray([1 + 1j, -1 - 2j], dtype)
    with pytest.raises(TypeError, match="complex64"):
        FUNCS[name](x)
    with pytest.raises(TypeError, match="complex64"):
        jax.jit(FUNCS[name])(x)


# --------------------------------------------------------------------------------------
# alpha: per-channel, traced, validated
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [pytest.param("elu", marks=pytest.mark.slow), "celu"])
def test_per_channel_alpha(name):
    """alpha of shape (C,) against x of shape (N, C): values, d/dx, and d/dalpha of shape (C,)."""
    fn = FUNCS[name]
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(6, 4)) * 2).astype(np.float32)
    x[0, :] = 0.0  # the kink, on every channel
    alpha = np.array([0.25, 0.9, 1.0, 3.0], np.float32)
    a64 = alpha.astype(np.float64)

    y = fn(x, alpha)
    assert y.shape == x.shape and y.dtype == jnp.float32
    np.testing.assert_allclose(y, ref(name, x, a64), rtol=1e-6, atol=1e-30)

    gx, ga = jax.grad(lambda x, a: jnp.sum(fn(x, a)), argnums=(0, 1))(x, alpha)
    assert gx.shape == x.shape and ga.shape == alpha.shape
    np.testing.assert_allclose(gx, dx_ref(name, x, a64), rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(ga, dalpha_ref(name, x, a64).sum(axis=0), rtol=1e-5, atol=1e-6)

    # the same with alpha traced under jit
    gx_jit, ga_jit = jax.jit(jax.grad(lambda x, a: jnp.sum(fn(x, a)), argnums=(0, 1)))(x, alpha)
    np.testing.assert_allclose(jax.jit(fn)(x, alpha), y, rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(gx_jit, gx, rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(ga_jit, ga, rtol=1e-5, atol=1e-6)


@with_alpha
def test_traced_scalar_alpha_under_jit(name):
    fn = FUNCS[name]
    jitted = jax.jit(fn)
    for a in (0.5, 1.0, 2.0):
        np.testing.assert_allclose(jitted(X, jnp.float32(a)), ref(name, X, a), rtol=1e-6, atol=1e-30)
    grad_alpha = jax.jit(jax.grad(lambda a: jnp.sum(fn(X, a))))
    np.testing.assert_allclose(grad_alpha(jnp.float32(0.7)), dalpha_ref(name, X, 0.7).sum(),
                               rtol=1e-5)


def test_elu_alpha_zero_is_allowed_and_gives_relu():
    """Only celu divides by alpha; elu with alpha = 0 is well defined (max(x, 0))."""
    np.testing.assert_array_equal(jelu.elu(X, 0.0), np.maximum(X, 0.0))


BAD_ALPHAS = [0.0, -0.0, float("nan"), float("inf"), -float("inf"), np.float32(0.0),
              np.float64("nan"), 0]


@pytest.mark.parametrize("alpha", [pytest.param(a, marks=() if i in (2, 5) else pytest.mark.slow, id=repr(a))
                                   for i, a in enumerate(BAD_ALPHAS)])
def test_celu_rejects_zero_or_nonfinite_concrete_alpha(alpha):
    """jax.nn.celu silently returns NaN here; jelu raises a ValueError naming alpha and the valid range."""
    with pytest.raises(ValueError) as info:
        jelu.celu(X, alpha)
    message = str(info.value)
    assert message.startswith("jelu.celu: alpha=") and "1e-06 <= alpha <= 1e+30" in message, message


@pytest.mark.parametrize("name,alpha", [
    pytest.param(n, a, marks=() if (n, a) in {("elu", 1e31), ("celu", 1e-7)} else pytest.mark.slow, id=f"{n}-{a!r}")
    for n, a in [("elu", 1e31), ("elu", -2e30), ("elu", 1e-31), ("elu", 1e-40), ("elu", np.float64("nan")),
                 ("celu", 1e-7), ("celu", 1e-40), ("celu", 1e39)]])
def test_alpha_outside_the_claimed_range_raises(name, alpha):
    """Python and NumPy alphas outside the range the error bound covers raise, also under jit."""
    fn = FUNCS[name]
    for call in (lambda: fn(X, alpha), lambda: jax.jit(lambda t: fn(t, alpha))(X),
                 lambda: fn(X[:2], np.array([1.0, alpha]))):
        with pytest.raises(ValueError, match=r"outside the supported range; alpha must be"):
            call()


@pytest.mark.parametrize("name,alpha", [
    pytest.param(n, a, marks=() if (n, a) in {("elu", -1e30), ("celu", 1e-6)} else pytest.mark.slow, id=f"{n}-{a!r}")
    for n, a in [("elu", 1e30), ("elu", -1e30), ("elu", 1e-30), ("elu", -3.5), ("celu", 1e-6), ("celu", 1e30)]])
def test_alpha_at_the_ends_of_the_range_is_accepted(name, alpha):
    out = np.asarray(FUNCS[name](X, alpha))
    assert np.all(np.isfinite(out)), out


def test_celu_bad_array_alpha_numpy_raises_jax_gives_nan():
    """A NumPy per-channel alpha with one bad entry raises, naming the entry; a JAX
    array alpha is never inspected (that would sync with the device) and gives
    NaN in that channel for x <= 0, the same jitted or not."""
    with pytest.raises(ValueError, match=r"alpha\[1\]=inf"):
        jelu.celu(np.zeros((2, 3), np.float32), np.array([1.0, np.inf, 2.0]))
    x = np.array([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]], np.float32)
    alpha = jnp.array([1.0, 0.0, 2.0])
    for out in (jelu.celu(x, alpha), jax.jit(jelu.celu)(x, alpha)):
        out = np.asarray(out)
        assert np.isnan(out[0, 1]) and np.all(np.isfinite(out[0, [0, 2]])), out
        np.testing.assert_array_equal(out[1], 1.0)


@with_alpha
def test_alpha_shape_not_broadcastable_raises_clear_error(name):
    fn = FUNCS[name]
    x = np.zeros((4, 5), np.float32)
    alpha = np.ones((3,), np.float32)
    calls = {
        "eager": lambda: fn(x, alpha),
        "jit, traced alpha": lambda: jax.jit(fn)(x, alpha),
        "jit, closed-over alpha": lambda: jax.jit(lambda x: fn(x, alpha))(x),
        "grad": lambda: jax.grad(lambda a: jnp.sum(fn(x, a)))(alpha),
    }
    for label, call in calls.items():
        with pytest.raises((ValueError, TypeError)) as info:
            call()
        message = str(info.value)
        assert "(3,)" in message and "(4, 5)" in message, f"{label}: {message}"


@pytest.mark.parametrize("name", [pytest.param("elu", marks=pytest.mark.slow), pytest.param("selu", marks=pytest.mark.slow),
                                  "celu"])
def test_export_with_a_symbolic_batch_dimension(name):
    """Shape checks work on symbolic shapes (jax.export with a polymorphic batch)."""
    f = {"elu": lambda t: jelu.elu(t, 0.5), "selu": jelu.selu, "celu": lambda t: jelu.celu(t, np.ones(4, np.float32))}[name]
    spec = jax.ShapeDtypeStruct(jax.export.symbolic_shape("b, 4"), jnp.float32)
    exported = jax.export.export(jax.jit(f))(spec)
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(np.asarray(exported.call(x)), np.asarray(f(x)))
