"""Accuracy of jelu against correctly rounded references (jelu.testing).

The bar: for the default alphas (elu, selu, celu with alpha 1), correctly
rounded for every bfloat16 and float16 input; for other alphas within 1 ULP
there (what benchmarks/error_budget.py derives); at most 1 ULP for float32 (a
dense sample of over 10^6 points) and float64 (a sample); the same for the
first and second derivatives, over the whole range including the far tail.
"""

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from jax_compat import enable_x64
import jelu
from jelu.testing import CASES, all_bit_patterns, float32_sample, correctly_rounded, derivative, measure

ORDERS = (0, 1, 2)
ORDER_NAMES = {0: "value", 1: "first derivative", 2: "second derivative"}
# The cases enumerated correctly rounded on every 16-bit input (the default alphas).
CORRECTLY_ROUNDED = {"elu", "selu", "celu"}


def tiered(params, fast) -> list:
    """pytest parameters: those in ``fast`` run in the fast tier, the rest are marked slow."""
    return [pytest.param(*p, marks=() if p in fast else pytest.mark.slow,
                         id="-".join(str(getattr(v, "__name__", v)) for v in p)) for p in params]


SIXTEEN = {"bfloat16": ml_dtypes.bfloat16, "float16": np.float16}


def fn(case):
    _, _, name, kw = CASES[case]
    f = getattr(jelu, name)
    return lambda x: f(x, **kw)


@pytest.mark.parametrize("dtype_name,case,order", tiered(
    [(d, c, o) for d in SIXTEEN for c in CASES for o in ORDERS],
    {("float16", "selu", 0), ("bfloat16", "elu(alpha=1.7)", 1), ("bfloat16", "celu", 2)}))
def test_16bit_every_input(dtype_name, case, order):
    dtype = SIXTEEN[dtype_name]
    m = measure(fn(case), case, order, all_bit_patterns(dtype), dtype)
    assert m["max_ulp"] <= (0 if case in CORRECTLY_ROUNDED else 1), m
    assert m["subnormal_ok"], m


@pytest.fixture(scope="module")
def x32():
    return float32_sample()


@pytest.mark.parametrize("case,order", tiered([(c, o) for c in CASES for o in ORDERS],
                                              {("celu(alpha=0.3)", 1)}))
def test_float32_dense_sample(x32, case, order):
    assert x32.size >= 1_000_000
    m = measure(fn(case), case, order, x32, np.float32)
    assert m["max_ulp"] <= 1, m
    assert m["subnormal_ok"], m


@pytest.mark.parametrize("case,order", tiered([(c, o) for c in CASES for o in ORDERS],
                                              {("elu", 2)}))
def test_float64_sample(case, order):
    rng = np.random.default_rng(1)
    x = np.concatenate([
        -np.exp(rng.uniform(np.log(1e-300), np.log(750.0), 400)),
        -rng.uniform(0.0, 1e-3, 50),
        -rng.uniform(36.0, 38.5, 50),  # expm1 saturates near -37.4 in float64
        -rng.uniform(700.0, 746.0, 50),
        rng.uniform(0.0, 1e3, 50),
    ])
    with enable_x64(True):
        m = measure(fn(case), case, order, x, np.float64)
    assert m["max_ulp"] <= 1, m


DTYPES = [jnp.bfloat16, jnp.float16, jnp.float32]


@pytest.mark.parametrize("dtype,case,order", tiered(
    [(d, c, o) for d in DTYPES for c in CASES for o in ORDERS],
    {(jnp.float32, "elu(alpha=1.7)", 2), (jnp.float16, "celu(alpha=0.3)", 1), (jnp.bfloat16, "selu", 0)}))
def test_special_values(dtype, case, order):
    # -inf: the limit (-alpha, times lambda for selu; 0 for derivatives); +inf:
    # +inf, then the slope (1 or lambda), then 0; NaN: NaN; +-0: the x <= 0 side.
    name, alpha, _, _ = CASES[case]
    y = np.asarray(jax.jit(derivative(fn(case), order))(jnp.asarray([-jnp.inf, jnp.inf, jnp.nan, -0.0, 0.0], dtype)))
    y = y.astype(np.float64)
    ref = lambda v: correctly_rounded(name, order, np.array([v]), dtype, alpha)[0]  # noqa: E731
    assert y[0] == (ref(-1e4) if order == 0 else 0.0)  # expm1(-1e4) is -1 in every dtype
    assert y[1] == (np.inf if order == 0 else ref(1.0))
    assert np.isnan(y[2]), "NaN in gives NaN out"
    assert y[3] == ref(0.0) and y[4] == ref(0.0)


@pytest.mark.slow
def test_no_overflow_or_nan_in_derivatives_up_to_order_4():
    x = jnp.asarray([-1e30, -1e4, -104.0, -88.0, -17.3, -1.0, -1e-30, 0.0, 1e-30, 1.0, 1e4, 3e38])
    for case in CASES:
        for order in range(5):
            y = jax.jit(derivative(fn(case), order))(x)
            assert np.all(np.isfinite(np.asarray(y))), (case, order, y)


def test_far_tail_of_the_derivative_is_not_flushed():
    # jax.nn.elu's derivative expm1(x) + 1 is exactly 0 below -17.3 (float32),
    # -6.25 (bfloat16); the true derivative is exp(x).
    for dtype, x in [(jnp.float32, -20.0), (jnp.bfloat16, -8.0), (jnp.float16, -9.0)]:
        g = jax.grad(lambda v: jelu.elu(v))(jnp.asarray(x, dtype))
        assert float(g) == correctly_rounded("elu", 1, np.array([x]), dtype)[0] > 0
    # selu's derivative scale*alpha*exp(x) is still a normal float32 at x = -87.5
    # although exp(-87.5) alone is not.
    g = jax.grad(jelu.selu)(jnp.float32(-87.5))
    assert float(g) == correctly_rounded("selu", 1, np.array([-87.5]), np.float32)[0] >= np.finfo(np.float32).tiny
