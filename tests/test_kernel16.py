"""The 16-bit kernel (``jelu/_kernel16.py``): proven correctly rounded, within 1 ULP elsewhere, the same bits everywhere.

* ``python -m benchmarks.prove16 --quick``: every fused/unfused plan on every
  61st input, no misses, the JAX kernel equal to one plan (the full run is
  the slow tier's, and its report is committed).
* The prover's fused multiply-add rounds once: against exact rational
  arithmetic (``fractions.Fraction``), ties included.
* Special inputs and alphas give what the definitions say (written out
  here, not computed by the kernel).
* Within 1 ULP for adversarial (x, alpha) pairs: alpha chosen so that the
  true result lies within about 2^-24 of a 16-bit rounding boundary
  (references: ``jelu.testing.correctly_rounded_any_alpha``).
* Jitted (where XLA fuses) and op by op: the same bits, every input.
"""

from __future__ import annotations

import math
from fractions import Fraction

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from benchmarks import prove16
from jelu import _kernel16 as k16
from jelu._constants import SELU_SCALE_ALPHA_DIGITS, SELU_SCALE_DIGITS
from jelu.testing import all_bit_patterns, correctly_rounded_any_alpha, ulp_distance

DTYPES = {"bfloat16": ml_dtypes.bfloat16, "float16": np.float16}
INF, NAN = np.inf, np.nan


def test_prove16_quick_has_no_misses_and_the_emulation_is_the_kernel():
    rows, alpha_rows = prove16.run(prove16.QUICK_STRIDE)
    assert not prove16.failures(rows, alpha_rows)
    assert all(r["plans"] >= 2**6 for r in rows), "the kernel has fewer fused/unfused sites than it should"
    assert all(r["checked"] > 900 for r in rows)


def _round_f32_exact(v: Fraction) -> np.float32:
    """The float32 nearest to v (ties to even), by exact comparison."""
    c = np.float32(float(v))
    cands = [np.nextafter(c, np.float32(-INF)), c, np.nextafter(c, np.float32(INF))]
    return min(cands, key=lambda y: (abs(Fraction(float(y)) - v), int(np.asarray(y).view(np.int32)) & 1))


def test_emulated_fused_multiply_add_rounds_once():
    rng = np.random.default_rng(5)
    a = rng.standard_normal(400).astype(np.float32)
    b = rng.standard_normal(400).astype(np.float32)
    c = np.concatenate([(-(a[:200].astype(np.float64) * b[:200])).astype(np.float32),  # cancellation
                        rng.standard_normal(200).astype(np.float32) * np.float32(2.0**-30)])
    # ties of the float64 sum: 1 + 2^-23 + 2^-24 -+ 2^-64 and 1 + 2^-24 -+ 2^-64
    e = np.float32(1 + 2.0**-20)
    a = np.concatenate([a, [e, e, e, e]]).astype(np.float32)
    b = np.concatenate([b, np.array([1, -1, 1, -1]) * np.float32((1 - 2.0**-20) * 2.0**-24)]).astype(np.float32)
    c = np.concatenate([c, [1 + 2.0**-23, 1 + 2.0**-23 + 2.0**-22, 1, 1 + 2.0**-22]]).astype(np.float32)
    got = prove16.EmuOps.fused(a, b, c)
    want = [_round_f32_exact(Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z))) for x, y, z in zip(a, b, c)]
    assert np.array_equal(got, np.array(want, np.float32))
    assert got[-4] == np.float32(1 + 2.0**-23)  # a float64 tie that the exact sum breaks downwards


def _bits(v) -> np.ndarray:
    return np.asarray(v).view(np.uint16)


X_SPECIAL = np.array([0.0, -0.0, 2.0, INF, -INF, NAN, -1.0])


@pytest.mark.parametrize("dtype_name", list(DTYPES))
def test_special_inputs(dtype_name):
    """f(+-0) = +-0, f'(0) = alpha (x <= 0 side), x > 0 passes, NaN propagates, -inf gives -alpha and 0."""
    dt = DTYPES[dtype_name]
    x = jnp.asarray(X_SPECIAL.astype(dt))
    r = lambda v: np.asarray(np.float32(v)).astype(dt)  # v rounded once to dt
    e1 = float(np.expm1(-1.0))
    for alpha, kind in ((None, "one"), (0.3, "static"), (jnp.float32(0.3), "traced"), (-2.5, "static")):
        a = 1.0 if alpha is None else float(alpha)
        value, deriv = (np.asarray(v) for v in jax.jit(lambda t, a=alpha: k16.elu(t, a))(x))
        want_v = [0.0, -0.0, 2.0, INF, -a, NAN, a * e1]
        want_d = [a, a, 1.0, 1.0, a * 0.0, NAN, a * math.exp(-1)]
        assert np.array_equal(_bits(value), _bits(np.array([r(v) for v in want_v]))), (kind, value)
        assert np.array_equal(_bits(deriv), _bits(np.array([r(v) for v in want_d]))), (kind, deriv)
    lam, la = float(SELU_SCALE_DIGITS), float(SELU_SCALE_ALPHA_DIGITS)
    value, deriv = (np.asarray(v) for v in jax.jit(k16.selu)(x))
    assert np.array_equal(_bits(value[:5]), _bits(np.array([r(v) for v in (0.0, -0.0, 2 * lam, INF, -la)])))
    assert np.array_equal(_bits(deriv[:5]), _bits(np.array([r(v) for v in (la, la, lam, lam, 0.0)])))
    assert np.isnan(value[5]) and np.isnan(deriv[5])
    for alpha in (0.5, jnp.float32(0.5)):
        outs = [np.asarray(v) for v in jax.jit(lambda t, a=alpha: k16.celu(t, a))(x)]
        want = ([0.0, -0.0, 2.0, INF, -0.5], [1.0, 1.0, 1.0, 1.0, 0.0], [2.0, 2.0, 0.0, 0.0, 0.0])
        for got, w in zip(outs, want):
            assert np.array_equal(_bits(got[:5]), _bits(np.array([r(v) for v in w]))) and np.isnan(got[5])


@pytest.mark.parametrize("dtype_name", list(DTYPES))
def test_special_traced_alphas(dtype_name):
    """elu: alpha = +-inf gives -+inf and +-inf (0 at x = -inf), alpha = 0 gives -0 and 0, NaN gives NaN
    (x <= 0); celu: an alpha that is not finite and positive gives NaN for x <= 0 and x for x > 0."""
    dt = DTYPES[dtype_name]
    x = jnp.asarray(np.array([-1.0, -0.0, -INF, -60000.0, 2.0]).astype(dt))
    elu = jax.jit(lambda t, a: k16.elu(t, a))
    for a, want_v, want_d in ((INF, [-INF, -0.0, -INF, -INF, 2.0], [INF, INF, 0.0, INF, 1.0]),
                              (-INF, [INF, -0.0, INF, INF, 2.0], [-INF, -INF, -0.0, -INF, 1.0]),
                              (0.0, [-0.0, -0.0, -0.0, -0.0, 2.0], [0.0, 0.0, 0.0, 0.0, 1.0])):
        value, deriv = (np.asarray(v).astype(np.float64) for v in elu(x, jnp.float32(a)))
        assert np.array_equal(value, want_v) and np.array_equal(np.signbit(value), np.signbit(want_v)), (a, value)
        assert np.array_equal(deriv, want_d) and np.array_equal(np.signbit(deriv), np.signbit(want_d)), (a, deriv)
    value, deriv = (np.asarray(v).astype(np.float64) for v in elu(x, jnp.float32(NAN)))
    assert np.isnan(value[[0, 2, 3]]).all() and np.isnan(deriv[:4]).all() and value[4] == 2 and deriv[4] == 1
    assert value[1] == 0 and np.signbit(value[1])  # f(-0) = -0 whatever alpha
    for a in (-1.0, 0.0, INF, NAN):
        outs = [np.asarray(v).astype(np.float64) for v in jax.jit(lambda t, b: k16.celu(t, b))(x, jnp.float32(a))]
        assert all(np.isnan(o[:4]).all() for o in outs), (a, outs)
        assert [o[4] for o in outs] == [2.0, 1.0, 0.0]


@pytest.mark.parametrize("dtype_name", list(DTYPES))
def test_subnormal_inputs_and_results_are_never_nan_or_inf(dtype_name):
    """Subnormal x, and x where the result is subnormal or 0 (for float16, or alpha small): finite."""
    dt = DTYPES[dtype_name]
    x = all_bit_patterns(dt)
    tiny = float(ml_dtypes.finfo(dt).tiny)
    sub = x[(np.abs(x) < tiny) & (x != 0)]
    deep = x[(x < -9) & np.isfinite(x)]  # results subnormal for float16; bfloat16 below -87
    xs = jnp.asarray(np.concatenate([sub, deep]).astype(dt))
    for outs in (k16.elu(xs), k16.elu(xs, 1e-30), k16.elu(xs, 1e-3), k16.selu(xs), k16.celu(xs, 1e-3),
                 k16.celu(xs, 0.3), k16.elu(xs, jnp.float32(3e-30)), k16.celu(xs, jnp.float32(1e-3))):
        assert all(np.isfinite(np.asarray(o, np.float64)).all() for o in outs)


def _adversarial_pairs(dtype, order: int, rng, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """(x, alpha): alpha expm1(x) (order 0) or alpha exp(x) (order 1) within ~2^-24 of a 16-bit midpoint."""
    x = all_bit_patterns(dtype)
    tiny = float(ml_dtypes.finfo(dtype).tiny)
    x = x[(x < -tiny) & (x > -9)]
    x = rng.choice(x, n)
    base = np.expm1(x) if order == 0 else np.exp(x)
    target = base * np.exp(rng.uniform(np.log(1e-3), np.log(1e3), n))  # alpha base, spread over 6 decades
    y = target.astype(dtype).astype(np.float64)
    step = (np.asarray(y.astype(dtype)).view(np.uint16) + 1).view(dtype).astype(np.float64) - y
    mid = y + step / 2
    alpha = (mid / base).astype(np.float32).astype(np.float64)
    return x, alpha


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("dtype_name", list(DTYPES))
def test_elu_within_1_ulp_near_rounding_boundaries(dtype_name, order):
    """A per-element traced alpha puts alpha expm1(x) or alpha exp(x) on a 16-bit midpoint (to float32)."""
    dt = DTYPES[dtype_name]
    x, alpha = _adversarial_pairs(dt, order, np.random.default_rng(order))
    y = np.asarray(jax.jit(lambda t, a: k16.elu(t, a)[order])(jnp.asarray(x.astype(dt)), jnp.asarray(alpha, jnp.float32)))
    ref = np.array([correctly_rounded_any_alpha("elu", order, np.array([xi]), dt, ai)[0] for xi, ai in zip(x, alpha)])
    normal = np.abs(ref) > float(ml_dtypes.finfo(dt).tiny)
    assert normal.sum() > 300
    x, alpha, y, ref = x[normal], alpha[normal], y[normal], ref[normal]
    u = ulp_distance(y.astype(np.float64), ref, dt)
    assert u.max() <= 1, (x[u.argmax()], alpha[u.argmax()], y[u.argmax()], ref[u.argmax()])


@pytest.mark.parametrize("dtype_name", list(DTYPES))
def test_celu_within_1_ulp_near_rounding_boundaries(dtype_name):
    """celu's f' = exp(x / alpha) on a 16-bit midpoint: alpha = x / log(midpoint), rounded to float32."""
    dt = DTYPES[dtype_name]
    rng = np.random.default_rng(7)
    x = all_bit_patterns(dt)
    x = rng.choice(x[(x < -0.01) & (x > -1000)], 300)
    y0 = np.exp(rng.uniform(np.log(2.0**-12), 0, 300)).astype(dt).astype(np.float64)
    step = y0 - (np.asarray(y0.astype(dt)).view(np.uint16) - 1).view(dt).astype(np.float64)
    alpha = (x / np.log(y0 - step / 2)).astype(np.float32).astype(np.float64)
    keep = (alpha >= 1e-6) & (alpha <= 1e30)
    x, alpha = x[keep], alpha[keep]
    outs = jax.jit(lambda t, a: k16.celu(t, a))(jnp.asarray(x.astype(dt)), jnp.asarray(alpha, jnp.float32))
    for order, y in enumerate(outs):
        ref = np.array([correctly_rounded_any_alpha("celu", order, np.array([xi]), dt, ai)[0]
                        for xi, ai in zip(x, alpha)])
        tiny = float(ml_dtypes.finfo(dt).tiny)
        normal = np.abs(ref) > tiny
        u = ulp_distance(np.asarray(y).astype(np.float64)[normal], ref[normal], dt)
        assert u.max() <= 1, (order, x[normal][u.argmax()], alpha[normal][u.argmax()])


@pytest.mark.parametrize("dtype_name", list(DTYPES))
def test_jitted_and_op_by_op_give_the_same_bits(dtype_name):
    dt = DTYPES[dtype_name]
    x = jnp.asarray(all_bit_patterns(dt).astype(dt))
    calls = {"elu": lambda t: k16.elu(t), "elu(0.3)": lambda t: k16.elu(t, 0.3), "selu": k16.selu,
             "celu(0.3)": lambda t: k16.celu(t, 0.3), "elu(traced)": lambda t: k16.elu(t, jnp.float32(1.7)),
             "celu(traced)": lambda t: k16.celu(t, jnp.float32(1e-3))}
    for name, f in calls.items():
        jitted = jax.jit(f)(x)
        with jax.disable_jit():
            eager = f(x)
        for a, b in zip(jitted, eager):
            assert np.array_equal(_bits(a), _bits(b)), name


def test_alpha_partials_are_float32_expm1_and_exp():
    x = all_bit_patterns(ml_dtypes.bfloat16)
    x = x[((x <= -float(ml_dtypes.finfo(ml_dtypes.bfloat16).tiny)) | (x == 0)) & (x > -80)]
    _, _, d_value, d_deriv = k16.elu(jnp.asarray(x.astype(ml_dtypes.bfloat16)), jnp.float32(2.0), partials=True)
    for got, want in ((d_value, np.expm1(x)), (d_deriv, np.exp(x))):
        assert np.asarray(got).dtype == np.float32
        assert ulp_distance(np.asarray(got, np.float64), want.astype(np.float32).astype(np.float64), np.float32).max() <= 3


def test_alpha_partials_differentiate_to_exp():
    """``elu_alpha_partials`` is a custom_jvp: d/dx of expm1(x) and of exp(x) is exp(x) (0 for x > 0)."""
    x = jnp.asarray(np.array([-3.0, -0.5, -0.0, 0.75, -np.inf]), jnp.bfloat16)
    a = jnp.float32(0.3)
    outs, steps = jax.jvp(lambda t: k16.elu_alpha_partials(t, a), (x,), (jnp.ones_like(x),))
    want = np.where(np.asarray(x, np.float64) > 0, 0.0, np.exp(np.asarray(x, np.float64)))
    for step in steps:
        assert step.dtype == np.float32
        np.testing.assert_allclose(np.asarray(step, np.float64), want, rtol=2**-21)
    second = jax.jvp(lambda t: jax.jvp(lambda s: k16.elu_alpha_partials(s, a), (t,), (jnp.ones_like(t),))[1][0],
                     (x,), (jnp.ones_like(x),))[1]
    np.testing.assert_allclose(np.asarray(second, np.float64), want, rtol=2**-21)


@pytest.mark.parametrize("name,budget", [("elu", (30, 60)), ("selu", (34, 68)), ("celu(alpha=0.5)", (34, 68)),
                                         ("elu(alpha=0.3)", (34, 68)), ("elu(alpha=traced)", (44, 110))])
def test_op_counts_within_budget(name, budget):
    """jelu's per-element ops on 16-bit x (forward, value_and_grad), as ``python -m benchmarks.opcount`` counts them."""
    from benchmarks import opcount

    ours, _, traced = opcount.FUNCTIONS[name]
    for dtype in ("bfloat16", "float16"):
        counts = [opcount.count_ops(opcount._hlo(ours, dtype, p, traced), opcount.N)[0] for p in ("fwd", "vg")]
        assert all(c <= b for c, b in zip(counts, budget)), (dtype, counts)


@pytest.mark.slow
@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("claim", list(prove16.CLAIMS))
def test_prove16_every_input(claim, dtype_name):
    rows = prove16.check_claim(claim, dtype_name, 1)
    assert not prove16.failures(rows, [])
