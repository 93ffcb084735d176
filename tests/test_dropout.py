"""jelu.alpha_dropout and jelu.feature_alpha_dropout: the paper's formula, statistics, keys,
transformations, dtypes, special rates and errors.

References are independent of the code under test: the affine correction and the moments
of SELU over a standard normal come from mpmath at 40 digits; the mask is the documented
``jax.random.bernoulli(key, 1 - rate, shape)``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest

from jax_compat import enable_x64
import jelu
from jelu import dropout as jd

mpmath.mp.dps = 40
LAMBDA = mpmath.mpf("1.0507009873554804934193349852946")
ALPHA = mpmath.mpf("1.6732632423543772848170429916717")
ALPHA_PRIME = -LAMBDA * ALPHA
RATES = (0.05, 0.1, 0.2)
FUNCS = {"alpha_dropout": jelu.alpha_dropout, "feature_alpha_dropout": jelu.feature_alpha_dropout}
by_name = pytest.mark.parametrize("name", list(FUNCS))


def paper_affine(rate: float) -> tuple[mpmath.mpf, mpmath.mpf, mpmath.mpf]:
    """(a, b, a alpha' + b) from the paper's closed form, in 40-digit arithmetic."""
    q = 1 - mpmath.mpf(rate)
    a = (q + ALPHA_PRIME**2 * q * (1 - q)) ** mpmath.mpf(-0.5)
    b = -a * (1 - q) * ALPHA_PRIME
    return a, b, a * ALPHA_PRIME + b


def selu_moment(k: int) -> mpmath.mpf:
    """E[selu(z)^k] for z ~ N(0, 1), by quadrature."""
    def f(z):
        s = LAMBDA * z if z > 0 else LAMBDA * ALPHA * mpmath.expm1(z)
        return s**k * mpmath.exp(-z * z / 2) / mpmath.sqrt(2 * mpmath.pi)
    return mpmath.quad(f, [-mpmath.inf, 0, mpmath.inf])


def keep_mask(key, rate: float, shape) -> np.ndarray:
    return np.asarray(jax.random.bernoulli(key, 1.0 - rate, shape))


X = np.linspace(-4, 4, 4097, dtype=np.float32)
KEY = jax.random.key(42)


# ---------------------------------------------------------------- the formula


@pytest.mark.parametrize("rate", [1e-9, 0.2, 1 - 1e-9]
                         + [pytest.param(r, marks=pytest.mark.slow) for r in (0.05, 0.1, 0.5, 0.9)])
def test_affine_correction_matches_the_papers_closed_form(rate):
    a, b, c = (float(v) for v in paper_affine(rate))
    got = jd.affine_correction(rate)
    np.testing.assert_allclose(got, (a, b, c), rtol=4e-16, atol=0)
    assert jd.ALPHA_PRIME == float(ALPHA_PRIME)


@pytest.mark.parametrize("rate", [RATES[0]] + [pytest.param(r, marks=pytest.mark.slow) for r in RATES[1:]])
def test_mean_0_variance_1_is_the_fixed_point_exactly(rate):
    """With SELU's exact moments: E[y] = 0 and E[y^2] = 1 to float64 precision of a, b."""
    a, b, c = (mpmath.mpf(v) for v in jd.affine_correction(rate))
    q = 1 - mpmath.mpf(rate)
    m1, m2 = selu_moment(1), selu_moment(2)
    mean = q * (a * m1 + b) + (1 - q) * c
    second = q * (a * a * m2 + 2 * a * b * m1 + b * b) + (1 - q) * c * c
    assert abs(mean) < 1e-15 and abs(second - 1) < 1e-15


@pytest.mark.parametrize("rate", [0.2] + [pytest.param(r, marks=pytest.mark.slow) for r in (0.05, 0.5)])
def test_values_are_the_formula_with_the_documented_mask(rate):
    a, b, c = (float(v) for v in paper_affine(rate))
    y = np.asarray(jelu.alpha_dropout(KEY, X, rate))
    keep = keep_mask(KEY, rate, X.shape)
    assert 0 < keep.sum() < keep.size
    x64 = X.astype(np.float64)
    want = np.where(keep, a * x64 + b, c)
    # float32 a, b and one rounding (or one fused multiply-add): within 2 ULPs of |a x| + |b|
    tol = 2 * 2.0**-24 * np.where(keep, np.abs(a * x64) + abs(b), abs(c))
    assert np.all(np.abs(y - want) <= tol)
    assert np.all(y[~keep] == np.float32(c))  # the dropped value, rounded once from float64


def test_float64_values_to_float64_precision():
    with enable_x64(True):
        x = jnp.asarray(X, jnp.float64)
        y = np.asarray(jelu.alpha_dropout(KEY, x, 0.1))
        assert y.dtype == np.float64
        keep = keep_mask(KEY, 0.1, X.shape)
    a, b, c = paper_affine(0.1)
    want = np.array([float(a * mpmath.mpf(float(v)) + b) if k else float(c) for v, k in zip(X, keep)])
    np.testing.assert_allclose(y, want, rtol=0, atol=4 * 2.0**-52 * 3)


# ------------------------------------------------------------- statistics


N_STAT = 2**20


@pytest.mark.slow
@pytest.mark.parametrize("rate", RATES)
def test_alpha_dropout_of_selu_keeps_mean_0_and_variance_1(rate):
    """y = alpha_dropout(selu(z)), z ~ N(0, 1), n = 2^20 iid samples.

    E[y] = 0 and Var[y] = 1 (test_mean_0_variance_1_is_the_fixed_point_exactly). The sample mean has standard error
    sd(y) / sqrt(n) = 1 / 1024; the sample variance sqrt((mu4 - 1) / n), with
    mu4 = E[y^4] from SELU's exact moments. Tolerance: 6 standard errors (a
    false failure has probability about 2e-9 per check).
    """
    z = jax.random.normal(jax.random.key(7), (N_STAT,), jnp.float32)
    y = np.asarray(jelu.alpha_dropout(jax.random.key(8), jelu.selu(z), rate), np.float64)
    a, b, c = paper_affine(rate)
    q = 1 - mpmath.mpf(rate)
    m = [selu_moment(k) for k in range(5)]
    kept4 = sum(mpmath.binomial(4, k) * a**k * b ** (4 - k) * m[k] for k in range(5))
    mu4 = float(q * kept4 + (1 - q) * c**4)
    se_mean, se_var = 1 / np.sqrt(N_STAT), np.sqrt((mu4 - 1) / N_STAT)
    assert abs(y.mean()) < 6 * se_mean, (y.mean(), se_mean)
    assert abs(y.var() - 1) < 6 * se_var, (y.var(), se_var)
    dropped = np.mean(y == np.float32(float(c)))
    assert abs(dropped - rate) < 6 * np.sqrt(rate * (1 - rate) / N_STAT)
    # the same test rejects ordinary (inverted) dropout, whose variance is 1 / (1 - rate)
    keep = keep_mask(jax.random.key(8), rate, (N_STAT,))
    ordinary = np.where(keep, np.asarray(jelu.selu(z), np.float64) / (1 - rate), 0.0)
    assert abs(ordinary.var() - 1) > 6 * se_var


# ---------------------------------------------------------------- keys


@by_name
def test_same_key_same_mask_different_keys_differ(name):
    fn = FUNCS[name]
    x = jnp.asarray(X.reshape(17, 241))
    a1, a2 = fn(KEY, x, 0.3), fn(KEY, x, 0.3)
    np.testing.assert_array_equal(a1, a2)
    b = fn(jax.random.key(43), x, 0.3)
    assert not np.array_equal(a1, b)
    # a legacy uint32 key is the same key
    legacy = jax.random.key_data(KEY)
    np.testing.assert_array_equal(fn(legacy, x, 0.3), a1)
    np.testing.assert_array_equal(fn(np.asarray(legacy), x, 0.3), a1)


def test_vmap_over_per_example_keys_equals_a_loop():
    keys = jax.random.split(KEY, 8)
    x = jnp.asarray(X[:8 * 64].reshape(8, 64))
    batched = jax.vmap(jelu.alpha_dropout, in_axes=(0, 0, None))(keys, x, 0.25)
    for i in range(8):
        np.testing.assert_array_equal(batched[i], jelu.alpha_dropout(keys[i], x[i], 0.25))
    c = np.float32(float(paper_affine(0.25)[2]))
    rows = {tuple(np.asarray(batched[i] == c)) for i in range(8)}
    assert len(rows) == 8  # every example its own mask
    # vmap over x only, one key: the same mask for every example
    shared = jax.vmap(jelu.alpha_dropout, in_axes=(None, 0, None))(KEY, x, 0.25)
    assert shared.shape == x.shape


# ---------------------------------------------------------- transformations


@pytest.mark.parametrize("name", ["alpha_dropout", pytest.param("feature_alpha_dropout", marks=pytest.mark.slow)])
def test_jit_equals_eager_bit_for_bit(name):
    fn = FUNCS[name]
    x = jnp.asarray(X.reshape(17, 241))
    np.testing.assert_array_equal(jax.jit(fn, static_argnums=2)(KEY, x, 0.2), fn(KEY, x, 0.2))
    np.testing.assert_array_equal(jax.jit(lambda k, x: fn(k, x, 0.2))(KEY, x), fn(KEY, x, 0.2))


@pytest.mark.parametrize("dtype", [pytest.param(jnp.float32, marks=pytest.mark.slow), jnp.bfloat16,
                                   pytest.param(jnp.float16, marks=pytest.mark.slow)], ids=str)
def test_gradient_is_the_mask_times_a(dtype):
    rate = 0.3
    x = jnp.asarray(X, dtype)
    a = np.float32(float(paper_affine(rate)[0]))
    keep = keep_mask(KEY, rate, X.shape)
    g = jax.grad(lambda x: jnp.sum(jelu.alpha_dropout(KEY, x, rate).astype(jnp.float32)))(x)
    assert g.dtype == dtype
    np.testing.assert_array_equal(np.asarray(g, np.float32), np.where(keep, a, 0).astype(dtype).astype(np.float32))
    # jvp: the tangent is scaled by the same mask times a
    t = jnp.ones_like(x)
    _, out_t = jax.jvp(lambda x: jelu.alpha_dropout(KEY, x, rate), (x,), (t,))
    np.testing.assert_array_equal(np.asarray(out_t, np.float32), np.asarray(g, np.float32))


def test_no_gradient_into_the_key():
    x = jnp.asarray(X)
    _, vjp = jax.vjp(lambda k, x: jelu.alpha_dropout(k, x, 0.1), KEY, x)
    key_ct, x_ct = vjp(jnp.ones_like(x))
    assert key_ct.dtype == jax.dtypes.float0
    assert x_ct.dtype == jnp.float32


@pytest.mark.slow
def test_checkpoint_gives_the_same_values_and_gradient():
    x = jnp.asarray(X)

    def f(x):
        h = jelu.alpha_dropout(jax.random.fold_in(KEY, 1), jelu.selu(x), 0.2)
        return jnp.sum(jelu.alpha_dropout(jax.random.fold_in(KEY, 2), jelu.selu(h), 0.2) ** 2)

    np.testing.assert_array_equal(jax.checkpoint(f)(x), f(x))
    np.testing.assert_array_equal(jax.jit(jax.grad(jax.checkpoint(f)))(x), jax.jit(jax.grad(f))(x))


_SHARDING_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import jax, jax.numpy as jnp
    from jax.sharding import NamedSharding, PartitionSpec as P
    import jelu

    assert jax.device_count() == 8, jax.devices()
    mesh = jax.make_mesh((4, 2), ("batch", "model"))
    x_host = np.random.default_rng(0).normal(size=(16, 6, 8)).astype(np.float32)
    x = jax.device_put(x_host, NamedSharding(mesh, P("batch", None, "model")))
    key = jax.random.key(3)
    cases = {
        "alpha": lambda k, x: jelu.alpha_dropout(k, x, 0.2),
        "feature": lambda k, x: jelu.feature_alpha_dropout(k, x, 0.2),
        "traced rate": lambda k, x: jelu.alpha_dropout(k, x, jnp.float32(0.2)),
    }
    for name, fn in cases.items():
        grad_fn = jax.grad(lambda x: jnp.sum(fn(key, x) ** 2))
        y_ref = np.asarray(jax.jit(fn)(key, x_host))  # one device
        for label, y in (("jit", jax.jit(fn)(key, x)), ("eager", fn(key, x))):
            assert y.sharding.is_equivalent_to(x.sharding, x.ndim), (name, label, y.sharding)
            np.testing.assert_array_equal(np.asarray(y), y_ref, err_msg=name)
        g = jax.jit(grad_fn)(x)
        assert g.sharding.is_equivalent_to(x.sharding, x.ndim), (name, g.sharding)
        np.testing.assert_array_equal(np.asarray(g), np.asarray(jax.jit(grad_fn)(x_host)))
    print("SHARDING OK")
    """
)


@pytest.mark.slow
def test_named_sharding_over_8_cpu_devices_gives_the_one_device_bits():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", _SHARDING_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "SHARDING OK" in proc.stdout


# ------------------------------------------------------------------ dtypes


@pytest.mark.parametrize("name,dtype", [
    pytest.param(n, d, marks=() if (n, d) in {("alpha_dropout", jnp.bfloat16)}
                 else pytest.mark.slow, id=f"{n}-{np.dtype(d).name}")
    for n in FUNCS for d in (jnp.bfloat16, jnp.float16, jnp.float32)])
def test_keeps_dtype_and_rounds_once_from_float32(name, dtype):
    fn = FUNCS[name]
    x = jnp.asarray(X.reshape(17, 241), dtype)
    for rate in (0.1, jnp.float32(0.1)):
        y = fn(KEY, x, rate)
        assert y.dtype == dtype and not jax.typeof(y).weak_type
    if name == "alpha_dropout" and dtype != jnp.float32:
        a, b, c = (float(v) for v in paper_affine(0.1))
        keep = keep_mask(KEY, 0.1, x.shape)
        exact = np.where(keep, a * np.asarray(x, np.float64) + b, c)
        # rounded once: within half an ULP of the dtype, after float32's few ULPs of |a x| + |b|
        info = jnp.finfo(dtype)
        half_ulp = np.maximum(np.abs(exact), float(info.smallest_normal)) * float(info.eps) / 2
        f32 = 2**-22 * np.where(keep, np.abs(a * np.asarray(x, np.float64)) + abs(b), abs(c))
        err = np.abs(np.asarray(y, np.float64) - exact)
        assert np.all(err <= half_ulp + f32), (err - half_ulp - f32).max()


@pytest.mark.slow
def test_float64_kept_in_x64_mode():
    with enable_x64(True):
        x = jnp.asarray(X, jnp.float64)
        assert jelu.alpha_dropout(KEY, x, 0.1).dtype == jnp.float64
        assert jelu.alpha_dropout(KEY, x, jnp.float64(0.1)).dtype == jnp.float64
        assert jax.grad(lambda x: jelu.alpha_dropout(KEY, x, 0.1).sum())(x).dtype == jnp.float64


def test_weak_type_as_jax_nn():
    """A weakly typed x (a Python float, or jnp.asarray of one) gives a weakly typed result, as
    jax.nn.relu does; a strongly typed one a strong result."""
    for x in (1.5, jnp.asarray(1.5)):
        y = jelu.alpha_dropout(KEY, x, 0.1)
        assert jax.typeof(y).weak_type == jax.typeof(jax.nn.relu(x)).weak_type == True  # noqa: E712
        assert y.dtype == jnp.float32 and y.shape == ()
        assert (jnp.bfloat16(1) * y).dtype == jnp.bfloat16  # weak: does not promote
    y = jelu.alpha_dropout(KEY, jnp.float32(1.5), 0.1)
    assert not jax.typeof(y).weak_type


# ------------------------------------------------------------- special rates


@pytest.mark.parametrize("name,dtype", [
    pytest.param(n, d, marks=() if (i, j) == (1, 1) else pytest.mark.slow, id=f"{n}-{np.dtype(d).name}")
    for i, n in enumerate(FUNCS) for j, d in enumerate((jnp.bfloat16, jnp.float32))])
def test_rate_0_and_deterministic_return_x_bit_for_bit(name, dtype):
    fn = FUNCS[name]
    x = jnp.asarray(np.concatenate([X, [-0.0, np.inf, -np.inf, np.nan]]).reshape(1, 4101), dtype)
    for kwargs in ({"rate": 0.0}, {"rate": 0, "deterministic": True}, {"rate": 0.5, "deterministic": True}):
        assert fn(KEY, x, **kwargs) is x
        assert fn(None, x, **kwargs) is x  # no key needed
    traced = jax.jit(fn)(KEY, x, jnp.float32(0.0))  # a traced rate of 0: a = 1, b = -0
    np.testing.assert_array_equal(np.asarray(traced).view(np.uint8), np.asarray(x).view(np.uint8))
    host = np.asarray(x)
    np.testing.assert_array_equal(np.asarray(fn(KEY, host, 0.0)).view(np.uint8), host.view(np.uint8))


@pytest.mark.parametrize("name,dtype", [
    pytest.param(n, d, marks=() if (i, j) == (1, 0) else pytest.mark.slow, id=f"{n}-{np.dtype(d).name}")
    for i, n in enumerate(FUNCS) for j, d in enumerate((jnp.bfloat16, jnp.float32))])
def test_rate_1_drops_everything_to_zero_without_nan(name, dtype):
    """Every element dropped: the limit of a alpha' + b = a alpha' q as q -> 0 is 0 (a diverges)."""
    fn = FUNCS[name]
    x = jnp.asarray(np.concatenate([X, [np.inf, -np.inf]]).reshape(1, -1), dtype)
    for rate in (1.0, 1, jnp.float32(1.0)):
        y = fn(KEY, x, rate)
        assert y.dtype == dtype
        np.testing.assert_array_equal(np.asarray(y, np.float32).view(np.uint32), 0)  # +0
        g = jax.grad(lambda x: fn(KEY, x, rate).astype(jnp.float32).sum())(x)
        np.testing.assert_array_equal(np.asarray(g, np.float32), 0)
    # near 1 the dropped value tends to 0 and nothing overflows
    y = np.asarray(fn(KEY, jnp.asarray(X, jnp.float32)[None], 1 - 1e-12))
    assert np.all(np.isfinite(y)) and np.max(np.abs(y)) < 1e-5


def test_traced_rate_matches_python_rate_and_gives_nan_outside():
    x = jnp.asarray(X)
    f = jax.jit(jelu.alpha_dropout)
    for rate in (0.05, 0.2, 0.5):
        np.testing.assert_allclose(f(KEY, x, jnp.float32(rate)), jelu.alpha_dropout(KEY, x, rate),
                                   rtol=3e-7, atol=3e-7)
    for rate in (-0.1, 1.5, np.nan):
        assert np.all(np.isnan(np.asarray(f(KEY, x, jnp.float32(rate)))))
    # differentiable in x, traced rate or not
    g = jax.grad(lambda x, r: jelu.alpha_dropout(KEY, x, r).sum())(x, jnp.float32(0.2))
    np.testing.assert_allclose(g, jax.grad(lambda x: jelu.alpha_dropout(KEY, x, 0.2).sum())(x), rtol=3e-7)


# ----------------------------------------------------------- feature dropout


@pytest.mark.slow
def test_feature_dropout_drops_whole_channels():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 5, 6, 16)), jnp.float32)
    c = np.float32(float(paper_affine(0.5)[2]))
    y = np.asarray(jelu.feature_alpha_dropout(KEY, x, 0.5))  # NHWC: shared along H, W
    dropped = y == c
    per_channel = dropped.reshape(4, 30, 16)
    assert np.all(per_channel.all(axis=1) | ~per_channel.any(axis=1))
    assert 0 < per_channel.all(axis=1).sum() < 64
    keep = keep_mask(KEY, 0.5, (4, 1, 1, 16))
    np.testing.assert_array_equal(~dropped, np.broadcast_to(keep, x.shape))
    # channels first (N, C, H, W) and negative axes name the same mask
    xt = jnp.transpose(x, (0, 3, 1, 2))
    np.testing.assert_array_equal(jelu.feature_alpha_dropout(KEY, xt, 0.5, broadcast_dims=(2, 3)),
                                  jelu.feature_alpha_dropout(KEY, xt, 0.5, broadcast_dims=(-1, -2)))
    # rank <= 2 with the default shares nothing: it is alpha_dropout
    x2 = jnp.asarray(X.reshape(17, 241))
    np.testing.assert_array_equal(jelu.feature_alpha_dropout(KEY, x2, 0.3), jelu.alpha_dropout(KEY, x2, 0.3))
    np.testing.assert_array_equal(jelu.feature_alpha_dropout(KEY, x, 0.3, broadcast_dims=()),
                                  jelu.alpha_dropout(KEY, x, 0.3))


# ------------------------------------------------------------------ errors


ERRORS = [
    # (kwargs, exception, fragment)
    ({"rate": -0.1}, ValueError, "rate must be in [0, 1], got -0.1"),
    ({"rate": 1.5}, ValueError, "rate must be in [0, 1], got 1.5"),
    ({"rate": float("nan")}, ValueError, "rate must be in [0, 1], got nan"),
    ({"rate": np.float32(2)}, ValueError, "rate must be in [0, 1], got 2.0"),
    ({"rate": "0.1"}, TypeError, "rate must be a number in [0, 1], got str"),
    ({"rate": True}, TypeError, "got the bool True"),
    ({"rate": jnp.array([0.1, 0.2])}, ValueError, "rate must be a scalar, got shape (2,)"),
    ({"x": np.arange(4)}, TypeError, "x must be a floating-point array"),
    ({"x": jnp.array([True])}, TypeError, "got dtype bool"),
    ({"x": jnp.array([1j])}, TypeError, "got dtype complex64"),
    ({"x": 3}, TypeError, "x must be a floating-point array, got int"),
    ({"x": [1.0, 2.0]}, TypeError, "x must be a floating-point array, got list"),
    ({"key": 0}, TypeError, "key must be a PRNG key, got int"),
    ({"key": None}, TypeError, "key must be a PRNG key, got NoneType"),
    ({"key": jnp.zeros(2)}, TypeError, "key must be a PRNG key, got ArrayImpl of dtype float32"),
    ({"key": np.zeros(3, np.uint32)}, TypeError, "not a key of the default PRNG"),
    ({"key": jax.random.split(KEY, 4)}, ValueError, "a single PRNG key, got 4 keys"),
    ({"key": jax.random.key_data(jax.random.split(KEY, 4))}, ValueError, "got 4 keys; for one mask per example use jax.vmap"),
    ({"deterministic": 1}, TypeError, "deterministic must be a Python bool, got int"),
]


@pytest.mark.parametrize("name,case", [  # the fast tier: every third error, the functions in turn
    pytest.param(n, k, marks=() if k % 3 == 0 and k % 2 == i else pytest.mark.slow, id=f"{n}-{k}")
    for i, n in enumerate(FUNCS) for k in range(len(ERRORS))])
def test_bad_arguments_raise_one_line_naming_the_function(name, case):
    kwargs, exc, fragment = ERRORS[case]
    args = {"key": KEY, "x": jnp.asarray(X), "rate": 0.1, **kwargs}
    fn = FUNCS[name]
    with pytest.raises(exc) as info:
        fn(args.pop("key"), args.pop("x"), args.pop("rate"), **args)
    message = str(info.value)
    assert message.startswith(f"jelu.{name}: ") and "\n" not in message, message
    assert fragment in message, message


def test_errors_also_raise_under_jit():
    with pytest.raises(TypeError, match="jelu.alpha_dropout: x must be a floating-point"):
        jax.jit(lambda x: jelu.alpha_dropout(KEY, x, 0.1))(jnp.arange(3))
    with pytest.raises(ValueError, match=r"jelu.alpha_dropout: rate must be in \[0, 1\]"):
        jax.jit(lambda x: jelu.alpha_dropout(KEY, x, 1.1))(jnp.asarray(X))
    with pytest.raises(TypeError, match="deterministic must be a Python bool"):
        jax.jit(lambda x, d: jelu.alpha_dropout(KEY, x, 0.1, deterministic=d))(jnp.asarray(X), True)


@pytest.mark.parametrize("dims,fragment", [((4,), "entry 4 is out of range for x of rank 4"),
                                           ((1, -3), "repeats an axis"), ((1.0,), "must be ints"),
                                           (3, "must be a sequence of ints")])
def test_bad_broadcast_dims(dims, fragment):
    with pytest.raises((ValueError, TypeError), match=fragment) as info:
        jelu.feature_alpha_dropout(KEY, jnp.zeros((2, 3, 3, 4)), 0.1, broadcast_dims=dims)
    assert str(info.value).startswith("jelu.feature_alpha_dropout: ")


# ------------------------------------------------------------- docs and the benchmark


@by_name
def test_docstrings(name):
    doc = FUNCS[name].__doc__
    for part in (".. math::", "Args:", "Returns:", ">>>", "References:", "Klambauer"):
        assert part in doc, part
    assert name in jelu.__all__


@pytest.mark.slow
def test_benchmark_script_runs_and_writes_its_table(tmp_path: Path):
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-m", "benchmarks.dropout", "--n", "1024", "--repeats", "3",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=300, cwd=root)
    assert proc.returncode == 0, proc.stderr
    reports = list(tmp_path.glob("dropout-*.md"))
    assert len(reports) == 1, reports
    text = reports[0].read_text()
    assert text.strip().endswith(proc.stdout.strip().splitlines()[-1])
    rows = [line for line in text.splitlines() if line.startswith("| float32") or line.startswith("| bfloat16")]
    assert len(rows) == 2
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        ordinary, alpha, ratio = float(cells[2]), float(cells[3]), float(cells[4])
        assert ordinary > 0 and alpha > 0 and ratio > 0
