"""The kernel's bit-level and double-word helpers against exact rational arithmetic.

Each helper in ``jelu._double_word`` and ``jelu._multiplier`` states a postcondition (exact, or within
a stated relative bound); these tests check it with ``fractions.Fraction`` on
random operands spread over many binades, in float32 and float64, jitted and
op by op (the helpers must not depend on XLA fusing multiply-adds).
"""

from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_compat import enable_x64
from jelu import _double_word as dw
from jelu import _multiplier as mult

DTYPES = [np.float32, np.float64]
N = 2000


def _random(dtype, n=N, lo=-30, hi=30, seed=0, positive=False):
    rng = np.random.default_rng(seed)
    v = rng.uniform(1, 2, n) * 2.0 ** rng.integers(lo, hi, n)
    if not positive:
        v *= rng.choice([-1, 1], n)
    return v.astype(dtype)


def F(v) -> list[Fraction]:
    return [Fraction(float(t)) for t in np.asarray(v, np.float64).ravel()]


def _significant_bits(v: float) -> int:
    if v == 0:
        return 0
    m = Fraction(abs(v))
    while m.denominator != 1:
        m *= 2
    n = m.numerator
    while n % 2 == 0:
        n //= 2
    return n.bit_length()


def _run(fn, *args, jit=True):
    if jit:
        return jax.jit(fn)(*args)
    with jax.disable_jit():
        return fn(*args)


@pytest.fixture(params=[np.float32, pytest.param(np.float64, marks=pytest.mark.slow)], ids=["float32", "float64"])
def dtype(request):
    with enable_x64(request.param == np.float64):
        yield np.dtype(request.param)


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "eager"])
def test_split_is_exact_and_half_width(dtype, jit):
    """``split(v)``: hi + lo == v exactly; hi and lo fit in half the significand
    (12 + 12 bits in float32, 26 + 26 in float64), so products of halves are exact."""
    v = _random(dtype)
    hi, lo = _run(dw.split, jnp.asarray(v), jit=jit)
    half = 12 if dtype == np.float32 else 26
    for vi, h, l in zip(F(v), F(hi), F(lo)):
        assert h + l == vi
        assert _significant_bits(float(h)) <= half and _significant_bits(float(l)) <= half


def test_split_const_halves(dtype):
    for value in [1 / 3, 1.0507009873554805, 1.7580993408473768, np.pi / 2]:
        hi, lo = dw.split_constant(value, dtype)
        assert Fraction(float(hi)) + Fraction(float(lo)) == Fraction(float(np.asarray(value, dtype)))
        half = 12 if dtype == np.float32 else 26
        assert _significant_bits(float(hi)) <= half and _significant_bits(float(lo)) <= half


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "eager"])
def test_fast2sum_is_exact(dtype, jit):
    """``fast_two_sum(a, b)`` with |a| >= |b|: s + e == a + b exactly and s = fl(a + b)."""
    a, b = _random(dtype, seed=1), _random(dtype, seed=2, lo=-60, hi=0)
    big = np.abs(a) >= np.abs(b)
    a, b = np.where(big, a, b), np.where(big, b, a)
    s, e = _run(dw.fast_two_sum, jnp.asarray(a), jnp.asarray(b), jit=jit)
    for ai, bi, si, ei, s_np in zip(F(a), F(b), F(s), F(e), F(a + b)):
        assert si + ei == ai + bi
        assert si == s_np


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "eager"])
def test_two_prod_bound(dtype, jit):
    """``two_prod(a, split(b))``: hi + lo within 2^-33 (float32) or 2^-62 (float64)
    of a * b relative, and the same bits jitted and op by op."""
    a, b = _random(dtype, seed=3), _random(dtype, seed=4)
    hi, lo = _run(lambda a, b: dw.two_prod(a, dw.split(b)), jnp.asarray(a), jnp.asarray(b), jit=jit)
    bound = Fraction(1, 2**33) if dtype == np.float32 else Fraction(1, 2**62)
    for ai, bi, h, l in zip(F(a), F(b), F(hi), F(lo)):
        exact = ai * bi
        assert abs(h + l - exact) <= bound * abs(exact)


def test_two_prod_jit_equals_eager(dtype):
    a, b = jnp.asarray(_random(dtype, seed=5)), jnp.asarray(_random(dtype, seed=6))
    f = lambda a, b: dw.two_prod(a, dw.split(b))  # noqa: E731
    for x, y in zip(_run(f, a, b, jit=True), _run(f, a, b, jit=False)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_dw_mul_bound(dtype):
    """``dw_mul((hi, lo), c)`` is within 2^-31 (float32) / 2^-60 (float64) of the exact product."""
    hi = _random(dtype, seed=7, lo=-5, hi=5)
    lo = (hi * _random(dtype, seed=8, lo=-30, hi=-25)).astype(dtype)
    c = _random(dtype, seed=9, lo=0, hi=1, positive=True)  # in [1, 2)
    out = jax.jit(lambda h, l, c: mult.dw_mul((h, l), mult.Multiplier(c, None, dw.split(c), 0)))(
        jnp.asarray(hi), jnp.asarray(lo), jnp.asarray(c))
    bound = Fraction(1, 2**31) if dtype == np.float32 else Fraction(1, 2**60)
    for h, l, ci, o1, o2 in zip(F(hi), F(lo), F(c), F(out[0]), F(out[1])):
        exact = (h + l) * ci
        assert abs(o1 + o2 - exact) <= bound * abs(exact)


def test_opaque_clears_only_the_lowest_bit(dtype):
    v = _random(dtype, seed=10)
    out = np.asarray(jax.jit(dw.opaque)(jnp.asarray(v)))
    ibits = {np.float32: np.int32, np.float64: np.int64}[dtype.type]
    np.testing.assert_array_equal(out.view(ibits), v.view(ibits) & ~ibits(1))


def test_residual_is_exact(dtype):
    """``_residual(x, u, split(a))`` = x - u a exactly when u ~ x / a."""
    x, a = _random(dtype, seed=11), _random(dtype, seed=12, lo=0, hi=1, positive=True)
    u = (x / a).astype(dtype)
    r = jax.jit(lambda x, u, a: dw.remainder(x, u, dw.split(a)))(jnp.asarray(x), jnp.asarray(u), jnp.asarray(a))
    for xi, ui, ai, ri in zip(F(x), F(u), F(a), F(r)):
        assert ri == xi - ui * ai


def test_alpha_scale_is_exact(dtype):
    """``traced_alpha_multiplier(alpha)``: alpha == m 2^e exactly with 1 <= |m| < 2."""
    alpha = _random(dtype, seed=13, lo=-120, hi=120)
    c = jax.jit(mult.traced_alpha_multiplier)(jnp.asarray(alpha))
    for al, m, e in zip(F(alpha), F(c.hi), np.asarray(c.e)):
        assert 1 <= abs(m) < 2
        assert m * Fraction(2) ** int(e) == al


def test_inverse_bound(dtype):
    """``_inverse(c)``: (hi + lo) 2^e within 2^-40 (float32) / 2^-90 (float64) of 1 / alpha."""
    alpha = _random(dtype, seed=14, lo=-60, hi=60, positive=True)
    inv = jax.jit(lambda a: mult.inverse(mult.traced_alpha_multiplier(a)))(jnp.asarray(alpha))
    bound = Fraction(1, 2**40) if dtype == np.float32 else Fraction(1, 2**90)
    for al, h, l, e in zip(F(alpha), F(inv.hi), F(inv.lo), np.asarray(inv.e)):
        got = (h + l) * Fraction(2) ** int(e)
        assert abs(got * al - 1) <= bound


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "eager"])
def test_ldexp_rounds_once(dtype, jit):
    """``ldexp(v, k, e)`` = v 2^(k + e) exactly wherever the result is normal,
    for the kernel's k in [-250, 0] and alpha's e in [-100, 100]."""
    rng = np.random.default_rng(15)
    v = _random(dtype, seed=16, lo=0, hi=2, positive=True)
    k = rng.integers(-250, 1, v.size).astype(np.int32)
    e = rng.integers(-100, 101, v.size).astype(np.int32)
    out = _run(lambda v, k, e: dw.ldexp(v, k, e), jnp.asarray(v), jnp.asarray(k), jnp.asarray(e), jit=jit)
    tiny = Fraction(float(np.finfo(dtype).tiny))
    checked = 0
    for vi, ki, ei, o in zip(F(v), k, e, F(out)):
        exact = vi * Fraction(2) ** int(ki + ei)
        if tiny <= exact <= Fraction(float(np.finfo(dtype).max)):
            assert o == exact
            checked += 1
    assert checked > N // 4


def test_ldexp_with_a_constant_tiny_alpha_is_not_folded_to_zero():
    """A constant alpha below 2^-62: XLA must not fold 2^e1 * 2^e2 into one
    (underflowing) constant."""
    e = jnp.int32(-100)
    out = jax.jit(lambda v: dw.ldexp(v, None, e - 64))(jnp.float32(2.0**70))
    assert float(out) == 2.0**-94
