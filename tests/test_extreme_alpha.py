"""Extreme alphas: elu for alpha in [1e-30, 1e30], celu for alpha in [1e-6, 1e30].

The value and the first two x-derivatives are within 1 ULP for every
bfloat16 and float16 input and on a float32 sample, wherever the true result
is a normal float, for alphas spread over those ranges and for random alphas
(what benchmarks/error_budget.py derives for every alpha in the range). References: jelu.testing.correctly_rounded_any_alpha
(float64 with a bound that accounts for the rounding of x / alpha, mpmath
where it cannot decide), with alpha as jelu computes with it (rounded to
float32 for 16- and 32-bit inputs).

Where the correctly rounded result overflows (e.g. float16 elu with alpha =
1e15), the result must be an infinity or the largest finite float of the right
sign, never NaN. Subnormal inputs and results (and results that round to the
smallest normal, whose true value may be subnormal) are left out of the ULP
checks (XLA flushes subnormals to zero on CPU); there the result must be the
reference, 0 or subnormal, never NaN.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from jax_compat import enable_x64
import jelu

from jelu.testing import all_bit_patterns, derivative, ulp_distance
from jelu.testing import as_alpha, correctly_rounded_any_alpha

ELU_ALPHAS = [1e-30, 1e-6, 1e-3, 0.3, 1.7, 13.7, 65519.0, 1e15, 1e30]
CELU_ALPHAS = [1e-6, 1e-3, 0.3, 1.7, 13.7, 65519.0, 1e15, 1e30]
RANGES = {"elu": (1e-30, 1e30), "celu": (1e-6, 1e30)}
N_RANDOM = 20
SIXTEEN = {"bfloat16": ml_dtypes.bfloat16, "float16": np.float16}


def random_alphas(name: str) -> list[float]:
    """N_RANDOM alphas log-uniform over the function's range (fixed seed)."""
    lo, hi = RANGES[name]
    rng = np.random.default_rng(1234 if name == "elu" else 4321)
    return [float(a) for a in np.exp(rng.uniform(np.log(lo), np.log(hi), N_RANDOM))]


def check(name: str, alpha: float, order: int, x: np.ndarray, y, dtype, max_ulp: int) -> list[str]:
    """Failures (as strings) of y = d^order f(x, alpha) / dx^order against the correctly rounded reference."""
    dtype = np.dtype(dtype)
    finfo = ml_dtypes.finfo(dtype)
    tiny, fmax = float(finfo.tiny), float(finfo.max)
    y = np.asarray(y).astype(np.float64)
    ref = correctly_rounded_any_alpha(name, order, x, dtype, as_alpha(alpha, dtype))
    x_ok = (np.abs(x) >= tiny) | (x == 0)
    # |ref| == tiny is left to the subnormal region: the true value may be just below it.
    normal = x_ok & np.isfinite(ref) & ((np.abs(ref) > tiny) | (ref == 0))
    over = x_ok & np.isinf(ref)
    sub = ~normal & ~over
    out = []
    label = f"{name}(alpha={alpha:g}) {dtype.name} order {order}"
    if np.isnan(y[~np.isnan(ref)]).any():
        k = np.nonzero(np.isnan(y) & ~np.isnan(ref))[0][:3]
        out.append(f"{label}: {int(np.isnan(y[~np.isnan(ref)]).sum())} NaN results, e.g. x={x[k]}, reference {ref[k]}")
    u = ulp_distance(y[normal], ref[normal], dtype)
    if u.size and u.max() > max_ulp:
        w = int(u.argmax())
        out.append(f"{label}: {int((u > max_ulp).sum())} of {u.size} results over {max_ulp} ULP, worst "
                   f"{u.max():.0f} ULP at x={x[normal][w]!r}: got {y[normal][w]!r}, want {ref[normal][w]!r}")
    bad_over = over & ~((np.sign(y) == np.sign(ref)) & (np.abs(y) >= fmax))
    if bad_over.any():
        k = np.nonzero(bad_over)[0][:3]
        out.append(f"{label}: {int(bad_over.sum())} overflowing results not +-inf/max, e.g. x={x[k]}: {y[k]}")
    bad_sub = sub & ~((y == ref) | (np.abs(y) < tiny) | (np.abs(x) < tiny))
    if bad_sub.any():
        k = np.nonzero(bad_sub)[0][:3]
        out.append(f"{label}: {int(bad_sub.sum())} subnormal-region results wrong, e.g. x={x[k]}: {y[k]} vs {ref[k]}")
    return out


def fn(name: str, alpha=None):
    f = getattr(jelu, name)
    return (lambda x: f(x, alpha)) if alpha is not None else f


# --------------------------------------------------------------------------
# Every 16-bit input


FAST_16BIT = {("elu", 1e-30, "bfloat16"), ("celu", 1e30, "float16")}


@pytest.mark.parametrize("name,alpha,dtype_name", [
    pytest.param(n, a, d, marks=() if (n, a, d) in FAST_16BIT else pytest.mark.slow, id=f"{n}-{a:g}-{d}")
    for d in SIXTEEN for n, alphas in (("elu", ELU_ALPHAS), ("celu", CELU_ALPHAS)) for a in alphas])
def test_16bit_every_input_within_1_ulp(name, alpha, dtype_name):
    """All finite 16-bit x, alpha a Python float: f, f', f'' within 1 ULP where normal."""
    dtype = SIXTEEN[dtype_name]
    x = all_bit_patterns(dtype)
    xj = jnp.asarray(x.astype(dtype))
    failures = []
    for order in range(3):
        y = jax.jit(derivative(fn(name, alpha), order))(xj)
        assert y.dtype == np.dtype(dtype)
        failures += check(name, alpha, order, x, y, dtype, 1)
    assert not failures, "\n".join(failures)


@pytest.mark.slow
@pytest.mark.parametrize("dtype_name", list(SIXTEEN))
@pytest.mark.parametrize("name", ["elu", "celu"])
def test_16bit_every_input_random_alphas(name, dtype_name):
    """The same for N_RANDOM random alphas (log-uniform over the range), alpha a traced float32."""
    dtype = SIXTEEN[dtype_name]
    x = all_bit_patterns(dtype)
    xj = jnp.asarray(x.astype(dtype))
    f = getattr(jelu, name)
    programs = [jax.jit(lambda t, a, o=o: derivative(lambda s: f(s, a), o)(t)) for o in range(3)]
    failures = []
    for alpha in random_alphas(name):
        for order in range(3):
            y = programs[order](xj, jnp.float32(alpha))
            failures += check(name, alpha, order, x, y, dtype, 1)
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:30])


# --------------------------------------------------------------------------
# float32 sample


def alpha_sample(name: str, alpha: float, n: int = 2**16) -> np.ndarray:
    """n float32 x: half log-uniform over the whole negative range, a quarter
    where exp(x / alpha) goes from 1 to underflow, an eighth in [-1e-3, 0),
    an eighth positive."""
    rng = np.random.default_rng(99)
    scale = as_alpha(alpha, np.float32) if name == "celu" else 1.0
    parts = [
        -np.exp(rng.uniform(np.log(1e-38), np.log(3.4e38), n // 2)),
        -scale * rng.uniform(0.0, 110.0, n // 4),
        -rng.uniform(0.0, 1e-3, n // 8),
        np.exp(rng.uniform(np.log(1e-38), np.log(3.4e38), n - n // 2 - n // 4 - n // 8)),
    ]
    with np.errstate(over="ignore"):
        x = np.concatenate(parts).astype(np.float32)
    return x[np.isfinite(x)].astype(np.float64)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["elu", "celu"])
def test_float32_within_1_ulp_for_extreme_and_random_alphas(name):
    """2^16 float32 points per alpha (the named alphas as Python floats, random ones traced):
    f, f', f'' within 1 ULP where normal."""
    f = getattr(jelu, name)
    named = ELU_ALPHAS if name == "elu" else CELU_ALPHAS
    traced = [jax.jit(lambda t, a, o=o: derivative(lambda s: f(s, a), o)(t)) for o in range(3)]
    failures = []
    for alpha in named + random_alphas(name):
        x = alpha_sample(name, alpha)
        xj = jnp.asarray(x, jnp.float32)
        for order in range(3):
            if alpha in named:
                y = jax.jit(derivative(fn(name, alpha), order))(xj)
            else:
                y = traced[order](xj, jnp.float32(alpha))
            failures += check(name, alpha, order, x, y, np.float32, 1)
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:30])


def test_extreme_alpha_spot_values():
    """Plain numbers from the sweep: finite where the math is, at alpha = 1e30 (float32 and bfloat16)."""
    x32 = jnp.asarray([-1.0, -50.0, -200.0], jnp.float32)
    g = jax.jit(jax.vmap(jax.grad(lambda t: jelu.elu(t, 1e30))))(x32)
    assert np.all(np.isfinite(np.asarray(g))), g  # alpha exp(x): 3.7e29, 1.9e8, 0
    xb = jnp.asarray([-1.0, -50.0, -200.0], jnp.bfloat16)
    v = jelu.elu(xb, 1e30)
    assert np.all(np.isfinite(np.asarray(v, np.float64))), v  # about -6.3e29, -1e30, -1e30
    c = jax.jit(lambda t: jelu.celu(t, 1e30))(jnp.asarray([-1e31, -1e32], jnp.float32))
    assert np.all(np.isfinite(np.asarray(c))), c


@pytest.mark.parametrize("dtype", [np.float32, pytest.param(np.float64, marks=pytest.mark.slow)])
def test_elu_clamp_rounds_to_zero_where_subnormals_are_kept(dtype):
    """Below ELU's lower clamp the true alpha exp(x) is under half the smallest
    subnormal, so clamping gives 0 even on backends that keep subnormals (GPUs),
    for the largest alpha of every exponent (mpmath, 60 digits)."""
    import mpmath

    from jelu._kernel import elu_lowest
    from jelu._multiplier import traced_alpha_multiplier

    info = np.finfo(dtype)
    half_tiniest = mpmath.mpf(2) ** (info.minexp - info.nmant - 1)
    exps = np.arange(info.minexp, 100)
    alphas = np.nextafter(np.ldexp(np.ones(exps.size, dtype), exps + 1), dtype(0)).astype(dtype)
    with enable_x64(dtype == np.float64):
        lowest = np.asarray(jax.vmap(lambda a: elu_lowest(traced_alpha_multiplier(a), a.dtype))(jnp.asarray(alphas)))
    assert lowest.dtype == dtype
    with mpmath.workdps(60):
        worst = max(mpmath.mpf(float(a)) * mpmath.exp(mpmath.mpf(float(lo))) / half_tiniest
                    for a, lo in zip(alphas, lowest))
    assert worst < 1, f"alpha exp(lowest) is {float(worst):.3f} x half the smallest subnormal"
