"""Hypothesis properties of jelu.elu / selu / celu in float32.

Each example is a fixed-shape float32 array (so the jitted functions compile once) and
alpha is passed traced.  Subnormals are left out: XLA's CPU backend flushes them to zero,
which is platform behaviour, not jelu's.  Tolerances are given in ULPs of the exact result
with the reasoning next to each; equality is exact where the math makes it exact.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import jelu

from jelu.testing import SELU_ALPHA, SELU_SCALE
F32_MAX = float(np.finfo(np.float32).max)
F32_TINY = float(np.finfo(np.float32).tiny)  # smallest normal, 2**-126
N = 48  # elements per example

# max_examples comes from the profile tests/conftest.py loads: 100 in the full suite, 10 in the fast tier.
PROPERTY_SETTINGS = settings(deadline=None, derandomize=True, database=None)

_elu = jax.jit(jelu.elu)
_celu = jax.jit(jelu.celu)
_selu = jax.jit(jelu.selu)
# name -> (f(x, alpha), lowest value as a function of alpha, Lipschitz constant(alpha))
FUNCS = {
    "elu": (_elu, lambda a: a, lambda a: max(1.0, a)),
    "celu": (_celu, lambda a: a, lambda a: 1.0),
    "selu": (lambda x, a: _selu(x), lambda a: SELU_SCALE * SELU_ALPHA,
             lambda a: SELU_SCALE * SELU_ALPHA),
}


def floats32(lo: float = -F32_MAX, hi: float = F32_MAX, **kw) -> st.SearchStrategy:
    lo, hi = float(np.float32(lo)), float(np.float32(hi))  # bounds must be float32 values
    return st.floats(lo, hi, width=32, allow_nan=False, allow_infinity=False,
                     allow_subnormal=False, **kw)


def vec(elements: st.SearchStrategy) -> st.SearchStrategy:
    return arrays(np.float32, N, elements=elements)


alphas = floats32(0.05, 20.0)
names = st.sampled_from(sorted(FUNCS))


def ulp32(exact) -> np.ndarray:
    """ULP of float32 at the exact value (the spacing of its binade), at least 2**-149."""
    exact = np.abs(np.asarray(exact, np.float64))
    with np.errstate(divide="ignore"):
        e = np.floor(np.log2(np.where(exact > 0, exact, 1.0)))
    return np.maximum(np.exp2(e - 23), 2.0**-149)


def run(name: str, x: np.ndarray, alpha: float) -> np.ndarray:
    return np.asarray(FUNCS[name][0](x, np.float32(alpha)))


# --------------------------------------------------------------------------------------
@PROPERTY_SETTINGS
@given(name=names, x=vec(floats32()), alpha=alphas)
def test_monotonic_non_decreasing(name, x, alpha):
    """Sorted inputs, with each point's float32 neighbours, give non-decreasing outputs."""
    with np.errstate(over="ignore"):
        x = np.concatenate([x, np.nextafter(x, np.float32(np.inf)),
                            np.nextafter(x, np.float32(-np.inf))])
    # The neighbour of the largest float is inf: clipped back (not dropped), so that every
    # example has the same shape and the jitted function compiles once.
    x = np.sort(np.clip(x, np.float32(-F32_MAX), np.float32(F32_MAX)))
    # Subnormal results count as 0: XLA's CPU backend flushes them in some code paths
    # and not in others (a thread setting), and subnormals are outside every claim.
    y = run(name, x, alpha)
    y = np.where(np.abs(y) < F32_TINY, np.float32(0), y)
    bad = np.nonzero(~(y[1:] >= y[:-1]))[0]
    assert bad.size == 0, [(x[i], x[i + 1], y[i], y[i + 1]) for i in bad[:5]]


@PROPERTY_SETTINGS
@given(name=names, x=vec(floats32(-1e-3, 1e-3)), alpha=alphas)
def test_continuous_at_zero(name, x, alpha):
    """f(0) = 0 and |f(x) - f(0)| <= L |x| near 0 (L = the largest slope).

    Slack: 1 ULP of the result (rounding) plus the smallest normal (a subnormal result may
    be flushed to zero).
    """
    _, _, lipschitz = FUNCS[name]
    a = float(np.float32(alpha))
    zeros = run(name, np.array([0.0, -0.0], np.float32), alpha)
    assert np.all(zeros == 0.0), zeros
    y = run(name, x, alpha).astype(np.float64)
    bound = lipschitz(a) * np.abs(x.astype(np.float64)) * (1 + 2**-22) + ulp32(y) + F32_TINY
    assert np.all(np.abs(y) <= bound), (x[np.abs(y) > bound], y[np.abs(y) > bound])
    assert np.all(np.sign(y) == np.sign(x) * (np.abs(y) > 0)), "sign must follow x"


@PROPERTY_SETTINGS
@given(x=vec(floats32(F32_TINY, F32_MAX)), alpha=alphas)
def test_identity_for_positive_x(x, alpha):
    """elu(x, a) == x and celu(x, a) == x, bit for bit, for every x > 0."""
    np.testing.assert_array_equal(run("elu", x, alpha), x)
    np.testing.assert_array_equal(run("celu", x, alpha), x)
    np.testing.assert_array_equal(np.asarray(jelu.elu(x)), x)  # default alpha, eager


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16], ids=str)
def test_identity_for_every_positive_16bit_float(dtype):
    """Exhaustively: all positive normal finite bfloat16 / float16 values map to themselves.

    (bfloat16 subnormals are float32 subnormals, which XLA's CPU backend flushes to zero.)
    """
    first, end = (0x0400, 0x7C00) if dtype == jnp.float16 else (0x0080, 0x7F80)
    bits = np.arange(first, end, dtype=np.uint16)
    x = jnp.asarray(bits.view(jnp.dtype(dtype)))
    for y in (jelu.elu(x, 0.5), jelu.celu(x, 1.5), jelu.elu(x)):
        assert y.dtype == dtype
        np.testing.assert_array_equal(np.asarray(y).view(np.uint16), bits)


@PROPERTY_SETTINGS
@given(x=vec(floats32()))
def test_celu_with_alpha_one_is_elu(x):
    expected = np.asarray(jelu.elu(x))
    np.testing.assert_array_equal(np.asarray(jelu.celu(x, 1.0)), expected)
    np.testing.assert_array_equal(np.asarray(jelu.celu(x)), expected)
    np.testing.assert_array_equal(run("celu", x, 1.0), run("elu", x, 1.0))


magnitudes = st.one_of(st.just(0.0), floats32(2.0**-60, 2.0**60))


@PROPERTY_SETTINGS
@given(x=vec(magnitudes), signs=arrays(np.bool_, N), alpha=floats32(2.0**-8, 2.0**8),
       k=st.integers(-10, 10))
def test_celu_scaling(x, signs, alpha, k):
    """celu(c x, c a) == c celu(x, a) exactly for c = 2**k.

    Exact in floating point: c x, c a and c * celu(...) only shift exponents (all stay
    normal for these ranges), and (c x) / (c a) == x / a bit for bit, so any implementation
    that depends on x and a only through x / a and a (or is correctly rounded) satisfies it.
    """
    x = np.where(signs, -x, x).astype(np.float32)
    c = np.float32(2.0**k)
    lhs = run("celu", x * c, alpha * c)
    rhs = run("celu", x, alpha) * c
    np.testing.assert_array_equal(lhs, rhs)


@PROPERTY_SETTINGS
@given(x=vec(floats32(F32_TINY, 3e38)))
def test_selu_is_scale_times_x_for_positive_x(x):
    """selu(x) = scale * x within 1 ULP (exact product computed in float64: error < 2**-52)."""
    y = np.asarray(_selu(x)).astype(np.float64)
    exact = SELU_SCALE * x.astype(np.float64)
    err = np.abs(y - exact) / ulp32(exact)
    assert err.max() <= 1.0, (x[err.argmax()], err.max())


@PROPERTY_SETTINGS
@given(x=vec(st.one_of(st.just(0.0), floats32(-F32_MAX, -(2.0**-120)))), alpha=alphas)
def test_elu_is_linear_in_alpha_for_nonpositive_x(x, alpha):
    """elu(x, a) == a * elu(x, 1) for x <= 0, within the sum of the two roundings.

    With E the exact expm1(x) and both calls within 1 ULP:
    |elu(x, a) - a E| <= ulp(a E) and |a elu(x, 1) - a E| <= a ulp(E), so the tolerance is
    ulp(a e1) + a ulp(e1) (at most 3 ULPs of the result, 1.5 if both are correctly rounded).
    x >= -2**-120 is left out so that a * x stays a normal float32.
    """
    a = np.float64(np.float32(alpha))
    y = run("elu", x, alpha).astype(np.float64)
    e1 = run("elu", x, 1.0).astype(np.float64)
    target = a * e1
    tol = ulp32(target) + a * ulp32(e1)
    err = np.abs(y - target)
    assert np.all(err <= tol), (x[err.argmax()], y[err.argmax()], target[err.argmax()])
    assert np.all(y[x == 0] == 0)


@PROPERTY_SETTINGS
@given(name=names, x=vec(floats32(-F32_MAX, 0.0)), alpha=alphas)
def test_range_for_nonpositive_x(name, x, alpha):
    """-low <= f(x) <= 0 for x <= 0, and f(x) > -low where -low is still resolvable.

    Mathematically f(x) > -low for every finite x, but in float32 a * expm1(x) rounds to
    -a once a exp(x) < ulp(a) / 2 (x < -16.6), so the lower bound is closed there. For
    x >= -15 (celu: x / a >= -15) the gap a exp(x) >= 2.5 ULP(a), which no
    1-ULP-accurate result can close.
    """
    _, low_of, _ = FUNCS[name]
    low = np.float32(-low_of(float(np.float32(alpha))))  # the float32 saturation value
    y = run(name, x, alpha)
    assert np.all(y <= 0), x[y > 0]
    assert np.all(y >= low), (low, x[y < low], y[y < low])
    with np.errstate(over="ignore"):  # x / alpha may overflow to -inf: not "near"
        near = (x / np.float32(alpha) if name == "celu" else x) >= -15
    assert np.all(y[near] > low), (low, x[near][y[near] <= low])
