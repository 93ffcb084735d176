"""jelu.elu_plus_one, phi(x) = elu(x) + 1: jelu.elu's contract, exactness and positivity.

phi(x) = x + 1 for x > 0 and exp(x) for x <= 0; phi'(x) = 1 and exp(x); phi''(x) = 0 and
exp(x). The references are independent of the code under test: float64 NumPy formulas for
the transformations, ``jelu.testing.correctly_rounded`` (float64 with a proven bound, mpmath
where it cannot decide) for exp(x), and exact rational arithmetic (``fractions.Fraction``)
for x + 1.

* Types: the dtype and weak type of ``jax.nn.elu(x) + 1`` for every form of x (Python
  float, int and bool; NumPy scalars and arrays; JAX arrays weak and strong; integers,
  bool), plain and under jit, and under x64. A float x keeps its dtype.
* Errors: None, str, complex and longdouble raise TypeError naming jelu.elu_plus_one and x.
* Every transformation (jit, vmap, grad, grad of grad, jvp, vjp, linearize, jacfwd, jacrev,
  hessian, checkpoint, scan, jax.export, NamedSharding over 8 CPU devices), one residual
  the size of x in reverse mode, derivatives up to order 4 finite and right.
* The same bits jitted and op by op, plainly called and jitted, vmapped or not; for x <= 0
  the same bits as jelu.elu's derivative (so its float32 bound is elu's: derived, path
  a.fprime of ``benchmarks/results/error_budget-cpu.md``, 0.757 ULP; enumerated for every
  float32 x <= 0 by ``python -m benchmarks.sweep --sign negative``).
* Exactness: value, phi' and phi'' correctly rounded on every bfloat16 and float16 input;
  float32 within 1 ULP on over 10^6 points (x <= 0) and correctly rounded for x > 0 (one
  IEEE addition); float64 within 1 ULP on a sample against mpmath.
* Positivity: phi(x) > 0 for every x with exp(x) >= the dtype's smallest normal number
  (x >= ln(tiny): -87.34 in bfloat16 and float32, -9.70 in float16, -708.40 in float64),
  every 16-bit input and the float32/float64 boundary checked; float16 keeps its subnormal
  results, positive down to x = -17.328125 (exp(x) >= 2^-25); never negative, never NaN
  for a non-NaN x. ``jax.nn.elu(x) + 1`` is 0 from x = -6.25 down in bfloat16.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from fractions import Fraction

import jax
import jax.export
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from jax import lax
from jax.test_util import check_grads

import jelu
from jelu.testing import (all_bit_patterns, compare, correctly_rounded, derivative, float32_sample,
                          x_sized_residuals)
from test_consistency import assert_same_bits, bit_check_sample, reverse_derivative
from test_vs_jax_nn import _type, _x_forms

if hasattr(jax, "enable_x64"):
    enable_x64 = jax.enable_x64
else:  # JAX < 0.8
    from jax.experimental import enable_x64

phi = jelu.elu_plus_one
SIXTEEN = {"bfloat16": ml_dtypes.bfloat16, "float16": np.float16}
UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}
RTOL = 1e-5  # float32 against float64 formulas: catches a wrong formula, not the last bit


def jax_nn_phi(x):
    """The definition jelu.elu_plus_one replaces."""
    return jax.nn.elu(x) + 1


# --------------------------------------------------------------------------
# Independent references


def phi_ref(x, order: int = 0) -> np.ndarray:
    """float64 phi (order 0) or its order-th derivative; at x = 0 the x <= 0 side."""
    x = np.asarray(x, np.float64)
    neg = np.exp(np.minimum(x, 0.0))
    if order == 0:
        return np.where(x > 0, x + 1.0, neg)
    return np.where(x > 0, 1.0 if order == 1 else 0.0, neg)


def plus_one_correctly_rounded(x: np.ndarray, dtype) -> np.ndarray:
    """x + 1 correctly rounded to dtype (round half to even), for finite x > 0 given as float64.

    The float64 sum, rounded to dtype, is within one float of the answer; the nearest of it and
    its two neighbours to the exact rational x + 1 is the answer (a tie: the even bit pattern).
    """
    dtype = np.dtype(dtype)
    uint = UINT[dtype.itemsize]
    approx = np.asarray(x + 1.0, np.float64).astype(dtype).view(uint)
    out = np.empty(x.size, np.float64)
    for i, (xi, c) in enumerate(zip(x.tolist(), approx.tolist())):
        exact = Fraction(xi) + 1
        cands = [np.array(c + d, uint).view(dtype) for d in (-1, 0, 1)]
        cands = [(abs(Fraction(float(v)) - exact), int(b) & 1, float(v))
                 for v, b in zip(cands, (c - 1, c, c + 1)) if np.isfinite(float(v))]
        out[i] = min(cands)[2]
    return out


def reference(order: int, x: np.ndarray, dtype) -> np.ndarray:
    """The correctly rounded phi (order 0), phi' or phi'' at the dtype points x, as float64.

    x <= 0: exp(x), which is elu's first and second derivative (alpha 1) in jelu.testing.
    """
    x = np.asarray(x, np.float64)
    pos = x > 0
    out = np.empty_like(x)
    out[~pos] = correctly_rounded("elu", max(order, 1), x[~pos], dtype)
    if order == 0:
        out[pos] = plus_one_correctly_rounded(x[pos], dtype)
    else:
        out[pos] = 1.0 if order == 1 else 0.0
    return out


def test_references_on_known_values():
    """The references themselves, on values whose answer is known exactly."""
    x = np.array([1.0, 2.0**-8, 3 * 2.0**-8, 2.0**-8 + 2.0**-15, 255.0, 256.0, 512.0])
    # bfloat16 has 8 significant bits (spacing 2^-7 above 1): 1 + 2^-8 ties to even 1,
    # 1 + 3 2^-8 ties to even 1 + 2^-6, 1 + 2^-8 + 2^-15 rounds up; 256 + 1 ties to even 256
    # (spacing 2); 512 + 1 rounds down (spacing 4).
    want = [2.0, 1.0, 1.0 + 2.0**-6, 1.0 + 2.0**-7, 256.0, 256.0, 512.0]
    assert plus_one_correctly_rounded(x, ml_dtypes.bfloat16).tolist() == want
    assert reference(1, np.array([-1.0]), np.float32)[0] == float(np.float32(math.exp(-1.0)))
    assert reference(0, np.array([0.0, -0.0]), np.float16).tolist() == [1.0, 1.0]


# --------------------------------------------------------------------------
# Surface, types and errors


def test_exported_documented_and_built_on_custom_jvp():
    assert "elu_plus_one" in jelu.__all__
    doc = phi.__doc__
    assert ">>>" in doc and "exp" in doc and "Katharopoulos" in doc
    x = jnp.linspace(-3, 3, 8, dtype=jnp.float32)
    names = [eqn.primitive.name for eqn in jax.make_jaxpr(phi)(x).jaxpr.eqns]
    assert "custom_jvp_call" not in names and sum(n in ("jit", "pjit") for n in names) == 1, names
    assert "custom_jvp_call" in str(jax.make_jaxpr(phi)(x))


X_FORMS = _x_forms()


@pytest.mark.parametrize("label", list(X_FORMS))
def test_dtype_and_weak_type_match_jax_nn_elu_plus_one(label):
    """jax.eval_shape of the plain call and under jit: (dtype, weak_type) of jax.nn.elu(x) + 1."""
    x = X_FORMS[label]()
    for wrap in (lambda f: f, jax.jit):
        ours, theirs = jax.eval_shape(wrap(phi), x), jax.eval_shape(wrap(jax_nn_phi), x)
        assert _type(ours) == _type(theirs), f"{label}: jelu {_type(ours)}, jax.nn.elu(x) + 1 {_type(theirs)}"


@pytest.mark.slow
@pytest.mark.parametrize("label", ["python float", "python int", "python bool", "np float64 array",
                                   "np int64 scalar", "jnp int32 array"])
def test_dtype_and_weak_type_in_x64_mode_and_concrete(label):
    with enable_x64(True):
        x = X_FORMS[label]()
        assert _type(phi(x)) == _type(jax_nn_phi(x)), label
    x = X_FORMS[label]()
    assert _type(phi(x)) == _type(jax_nn_phi(x)), label


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float32])
def test_float_x_keeps_its_dtype_and_scalars_stay_weak(dtype):
    x = jnp.array([-2.0, 1.0], dtype)
    assert phi(x).dtype == dtype and jax.jit(phi)(x).dtype == dtype
    assert (phi(-2.0) * jnp.ones(3, dtype)).dtype == dtype  # a weakly typed result
    assert (phi(-2) * jnp.ones(3, dtype)).dtype == dtype


BAD_X = {"None": None, "str": "a", "python complex": 1 + 2j, "complex array": np.array([1j, -1.0]),
         "longdouble": np.array([-1.0], np.longdouble)}


@pytest.mark.parametrize("label", list(BAD_X))
def test_bad_x_raises_one_line_naming_function_and_argument(label):
    for call in (lambda: phi(BAD_X[label]), lambda: jax.jit(lambda t: phi(BAD_X[label]) + t)(1.0)):
        with pytest.raises(TypeError) as info:
            call()
        message = str(info.value)
        assert message.startswith("jelu.elu_plus_one: ") and " x " in message and "\n" not in message, message


def test_jet_raises_naming_nested_jvp():
    from jax.experimental import jet

    x = jnp.array([-1.0, 0.5])
    with pytest.raises(NotImplementedError, match=r"^jelu\.elu_plus_one: jax\.experimental\.jet .*jax\.jvp"):
        jet.jet(phi, (x,), ((jnp.ones_like(x), jnp.zeros_like(x)),))


# --------------------------------------------------------------------------
# Transformations, against float64 formulas

X = np.array([-60.0, -20.0, -6.5, -2.5, -1.0, -1e-3, 0.0, 1e-3, 0.5, 2.0, 7.5], np.float32)


def close(actual, expected, rtol=RTOL):
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=rtol, atol=1e-30)


def test_jit_vmap_grad_and_grad_of_grad():
    close(jax.jit(phi)(X), phi_ref(X))
    xs = np.stack([X, -X, 0.5 * X])
    close(jax.vmap(phi)(xs), phi_ref(xs))
    close(jax.grad(lambda x: phi(x).sum())(X), phi_ref(X, 1))
    close(jax.vmap(jax.grad(jax.grad(phi)))(X), phi_ref(X, 2))
    close(jax.grad(phi)(jnp.float32(0.0)), 1.0)  # the x <= 0 side: exp(0)
    v, g = jax.value_and_grad(lambda x: phi(x).sum())(X)
    close(v, phi_ref(X).sum())
    close(g, phi_ref(X, 1))


def test_jvp_vjp_and_linearize():
    t = np.linspace(-2, 3, X.size).astype(np.float32)
    y, ty = jax.jvp(phi, (X,), (t,))
    close(y, phi_ref(X))
    close(ty, phi_ref(X, 1) * t)
    y, pullback = jax.vjp(phi, X)
    close(pullback(t)[0], phi_ref(X, 1) * t)
    y, f_jvp = jax.linearize(phi, X)
    close(f_jvp(t), phi_ref(X, 1) * t)


@pytest.mark.parametrize("jac", [jax.jacfwd, jax.jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian_and_hessian(jac):
    close(jac(phi)(X), np.diag(phi_ref(X, 1)))  # off-diagonal entries exactly 0
    close(jax.hessian(lambda x: phi(x).sum())(X), np.diag(phi_ref(X, 2)))


def test_checkpoint_and_scan():
    """Gradients through jax.checkpoint and a lax.scan recurrence h <- phi(h + x_t) - 1.5."""
    rng = np.random.default_rng(2)
    h0 = rng.normal(size=(5,)).astype(np.float32)
    xs = rng.normal(size=(6, 5)).astype(np.float32)

    def loss(h0, xs):
        h, _ = lax.scan(lambda h, x_t: (phi(h + x_t) - 1.5, None), h0, xs)
        return h.sum()

    h, zs = h0.astype(np.float64), []
    for x_t in xs.astype(np.float64):
        zs.append(h + x_t)
        h = phi_ref(zs[-1]) - 1.5
    assert min(np.abs(z).min() for z in zs) > 1e-4  # no rounding can cross the kink
    g = np.ones(5)
    for z in reversed(zs):
        g = g * phi_ref(z, 1)
    value, g_h0 = jax.value_and_grad(jax.checkpoint(loss))(h0, xs)
    close(value, h.sum())
    close(g_h0, g)


def test_export_for_cpu_cuda_tpu():
    def value_and_derivative(x):
        return phi(x), jax.grad(lambda v: phi(v).sum())(x)

    spec = jax.ShapeDtypeStruct(X.shape, jnp.float32)
    exported = jax.export.export(jax.jit(value_and_derivative), platforms=("cpu", "cuda", "tpu"))(spec)
    y, g = jax.export.deserialize(exported.serialize()).call(X)
    close(y, phi_ref(X))
    close(g, phi_ref(X, 1))


def test_reverse_pass_keeps_one_x_sized_array():
    x = jnp.linspace(-3, 3, 91, dtype=jnp.float32).reshape(7, 13)
    lines, leaves = x_sized_residuals(phi, (x,), x.shape)
    assert len(lines) <= 1 and len(leaves) <= 1, "\n".join(lines)
    lines, _ = x_sized_residuals(jax_nn_phi, (x,), x.shape)
    assert len(lines) >= 2, lines  # the control: the counter can fail


@pytest.mark.parametrize("dtype", ["float32", pytest.param("float64", marks=pytest.mark.slow)])
def test_derivatives_up_to_order_4_finite_and_right(dtype):
    """Orders 0..4 by nested grad under vmap, from the far tails to the kink; NaN propagates."""
    grid = [0.0, -0.0, 1e-30, -1e-30, 1e4, -1e4, 88.0, -80.0, -104.0, -20.0, -40.0, 3.0, -3.0]
    with enable_x64(dtype == "float64"):
        x = np.array(grid + ([-700.0, -745.0] if dtype == "float64" else []), dtype)
        f = phi
        for order in range(5):
            out = np.asarray(jax.jit(jax.vmap(f))(x))
            assert out.dtype == np.dtype(dtype) and np.all(np.isfinite(out)), (order, out)
            np.testing.assert_allclose(out, phi_ref(x, order), rtol=RTOL, atol=float(np.finfo(dtype).tiny))
            assert np.isnan(np.asarray(jax.jit(f)(np.array(np.nan, dtype))))
            f = jax.grad(f)


def test_infinities():
    x = jnp.array([-np.inf, np.inf], jnp.float32)
    for order, want in enumerate(([0.0, np.inf], [0.0, 1.0], [0.0, 0.0])):
        got = jax.jit(jax.vmap(derivative(phi, order)))(x)
        np.testing.assert_array_equal(got, np.array(want, np.float32))


@pytest.mark.slow
def test_check_grads_order_2_in_float64():
    rng = np.random.default_rng(3)
    with enable_x64(True):
        x = jnp.asarray(rng.uniform(0.1, 3.0, 12) * rng.choice([-1.0, 1.0], 12))
        check_grads(phi, (x,), order=2, modes=("fwd", "rev"))


_SHARDING_SCRIPT = textwrap.dedent("""
    import numpy as np
    import jax, jax.numpy as jnp
    from jax.sharding import NamedSharding, PartitionSpec as P
    import jelu

    assert jax.device_count() == 8, jax.devices()
    mesh = jax.make_mesh((4, 2), ("batch", "model"))
    x_host = (np.random.default_rng(0).normal(size=(16, 8)) * 5).astype(np.float32)
    x = jax.device_put(x_host, NamedSharding(mesh, P("batch", "model")))
    grad = jax.grad(lambda v: jnp.sum(jelu.elu_plus_one(v)))
    for label, y in (("jit", jax.jit(jelu.elu_plus_one)(x)), ("eager", jelu.elu_plus_one(x))):
        assert y.sharding.is_equivalent_to(x.sharding, x.ndim), (label, y.sharding)
        np.testing.assert_array_equal(np.asarray(y), np.asarray(jax.jit(jelu.elu_plus_one)(x_host)))
    g = jax.jit(grad)(x)
    assert g.sharding.is_equivalent_to(x.sharding, x.ndim), g.sharding
    np.testing.assert_array_equal(np.asarray(g), np.asarray(jax.jit(grad)(x_host)))
    print("SHARDING OK")
""")


@pytest.mark.slow
def test_named_sharding_over_8_cpu_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", _SHARDING_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0 and "SHARDING OK" in proc.stdout, proc.stderr[-4000:]


# --------------------------------------------------------------------------
# The same bits on every call path


DTYPES = {**SIXTEEN, "float32": np.float32}


def inputs(dtype_name: str) -> np.ndarray:
    """Every finite 16-bit value, or test_consistency's float32 sample of 2^18 + points."""
    if dtype_name == "float32":
        return bit_check_sample()
    return all_bit_patterns(DTYPES[dtype_name]).astype(DTYPES[dtype_name])


@pytest.mark.parametrize("dtype_name", ["bfloat16"] + [pytest.param(d, marks=pytest.mark.slow)
                                                      for d in ("float16", "float32")])
def test_op_by_op_plain_and_vmapped_match_jit_bit_for_bit(dtype_name):
    """Value, phi' and phi'' by nested jvp and vmap(grad(grad)): jax.disable_jit() == jax.jit;
    the plain call == jax.jit of it; vmap over rows == one flat call."""
    x = jnp.asarray(inputs(dtype_name))
    for order, label, d in [(0, "value", derivative), (1, "jvp", derivative), (2, "jvp", derivative),
                            (1, "grad", reverse_derivative), (2, "grad", reverse_derivative)]:
        want = jax.jit(d(phi, order))(x)
        with jax.disable_jit():
            assert_same_bits(d(phi, order)(x), want, x, f"{dtype_name} order {order} ({label}) op by op")
        if order == 0:
            assert_same_bits(phi(x), want, x, f"{dtype_name} plain call")
            rows = x[: x.size // 64 * 64].reshape(64, -1)
            assert_same_bits(jax.vmap(phi)(rows), np.asarray(want)[: rows.size].reshape(64, -1), rows,
                             f"{dtype_name} vmap")


@pytest.mark.parametrize("dtype_name", ["float32"] + [pytest.param(d, marks=pytest.mark.slow)
                                                     for d in SIXTEEN])
def test_negative_side_is_elu_derivative_bit_for_bit(dtype_name):
    """For x <= 0, phi(x), phi'(x) and phi''(x) are jelu.elu's derivative exp(x), every bit: so
    elu's float32 bounds (derived and enumerated) are phi's."""
    x = inputs(dtype_name)
    x = jnp.asarray(x[~(x.astype(np.float64) > 0)])
    elu_prime = jax.jit(reverse_derivative(jelu.elu, 1))(x)
    for order in range(3):
        assert_same_bits(jax.jit(derivative(phi, order))(x), elu_prime, x, f"{dtype_name} order {order}")


# --------------------------------------------------------------------------
# Exactness


@pytest.mark.parametrize("dtype_name", list(SIXTEEN))
def test_16bit_every_input_correctly_rounded(dtype_name):
    """phi, phi' and phi'' on every finite bfloat16 and float16 input: 0 ULP (subnormal inputs
    and results apart, as everywhere: XLA flushes them on CPU)."""
    dtype = SIXTEEN[dtype_name]
    x = all_bit_patterns(dtype)
    assert x.size == {"bfloat16": 65280, "float16": 63488}[dtype_name]  # 2^16 less NaN and inf
    for order in range(3):
        y = np.asarray(jax.jit(derivative(phi, order))(jnp.asarray(x.astype(dtype)))).astype(np.float64)
        m = compare(x, y, reference(order, x, dtype), dtype)
        assert m["max_ulp"] == 0 and m["subnormal_ok"], (order, m)


def _measure(x: np.ndarray, dtype, order: int = 0) -> dict:
    y = np.asarray(jax.jit(derivative(phi, order))(jnp.asarray(x.astype(dtype)))).astype(np.float64)
    return compare(x, y, reference(order, x, dtype), dtype)


@pytest.mark.parametrize("stride", [pytest.param(1, marks=pytest.mark.slow), 16])
def test_float32_within_1_ulp_and_correctly_rounded_above_0(stride):
    """float32_sample (over 10^6 points: the whole negative range, dense near 0, -17.3 and the
    underflow near -87.3; every stride-th in the fast tier): x <= 0 within 1 ULP, x > 0 (one IEEE
    addition) correctly rounded."""
    x = float32_sample()[::stride]
    neg, pos = x[x <= 0], x[x > 0]
    assert neg.size >= 10**6 // stride and pos.size >= 50_000 // stride
    m = _measure(neg, np.float32)
    assert m["max_ulp"] <= 1 and m["subnormal_ok"], m
    m = _measure(pos, np.float32)
    assert m["max_ulp"] == 0, m


@pytest.mark.parametrize("order", [0] + [pytest.param(o, marks=pytest.mark.slow) for o in (1, 2)])
def test_float64_sample_within_1_ulp_against_mpmath(order):
    rng = np.random.default_rng(1)
    x = np.concatenate([-np.exp(rng.uniform(np.log(1e-300), np.log(708.0), 300)),
                        -rng.uniform(0.0, 1e-3, 50), -rng.uniform(700.0, 708.39, 50),
                        np.exp(rng.uniform(np.log(1e-300), np.log(1e300), 100))])
    with enable_x64(True):
        m = _measure(x, np.float64, order)
    assert m["max_ulp"] <= 1, m
    assert m["points"] == x.size, m


# --------------------------------------------------------------------------
# Positivity, and what jax.nn.elu(x) + 1 does instead

NORMAL_FROM = {name: math.log(float(ml_dtypes.finfo(d).tiny)) for name, d in
               {**SIXTEEN, "float32": np.float32, "float64": np.float64}.items()}


@pytest.mark.parametrize("dtype_name", list(SIXTEEN))
def test_16bit_positive_wherever_exp_is_normal(dtype_name):
    """Every 16-bit x: phi(x) > 0 for x >= ln(tiny); 0 <= phi(x) < tiny below (subnormal or 0);
    never negative, never NaN. float16 keeps subnormal results: positive down to -17.328125."""
    dtype = SIXTEEN[dtype_name]
    x = all_bit_patterns(dtype)
    y = np.asarray(jax.jit(phi)(jnp.asarray(x.astype(dtype)))).astype(np.float64)
    tiny = float(ml_dtypes.finfo(dtype).tiny)
    assert not np.isnan(y).any() and (y >= 0).all()
    assert (y[x >= NORMAL_FROM[dtype_name]] > 0).all()
    assert (y[x < NORMAL_FROM[dtype_name]] < tiny).all()
    lowest_positive = {"bfloat16": -87.0, "float16": -17.328125}[dtype_name]
    assert x[y > 0].min() == lowest_positive


@pytest.mark.parametrize("dtype", [np.float32, pytest.param(np.float64, marks=pytest.mark.slow)])
def test_float32_and_float64_positive_exactly_from_ln_tiny(dtype):
    """phi > 0 at the float just above ln(tiny) and on a grid up to 0; 0 at the float below."""
    name = np.dtype(dtype).name
    edge = np.asarray(NORMAL_FROM[name], dtype)  # within an ULP of ln(tiny)
    above = edge if float(edge) >= NORMAL_FROM[name] else np.nextafter(edge, dtype(0))
    below = np.nextafter(above, dtype(-np.inf))
    grid = np.concatenate([np.linspace(above, 0, 100_001, dtype=dtype), [above, below]])
    with enable_x64(dtype == np.float64):
        y = np.asarray(jax.jit(phi)(jnp.asarray(grid)))
    assert (y[:-1] > 0).all() and y[-1] == 0, (above, y[-2:])


def test_jax_nn_elu_plus_one_cancels_where_jelu_does_not():
    """The README's numbers: in bfloat16, jax.nn.elu(x) + 1 at x = -3, -4, -5, -6 gives 0.0508,
    0.0195, 0.00781, 0.00391 (exp(x): 0.0498, 0.0183, 0.00674, 0.00248), and 0 with a 0
    derivative from -6.25 down; jelu's value and derivative are exp(x) correctly rounded."""
    xs = np.array([-3.0, -4.0, -5.0, -6.0, -6.25, -7.0, -20.0, -80.0])
    x = jnp.asarray(xs, jnp.bfloat16)
    theirs = np.asarray(jax_nn_phi(x)).astype(np.float64)
    np.testing.assert_array_equal(theirs[:4], [0.05078125, 0.01953125, 0.0078125, 0.00390625])
    assert (theirs[4:] == 0).all() and (np.asarray(jax.vmap(jax.grad(jax_nn_phi))(x))[4:] == 0).all()
    want = reference(0, xs, ml_dtypes.bfloat16)
    assert (want > 0).all()
    np.testing.assert_array_equal(np.asarray(phi(x)).astype(np.float64), want)
    np.testing.assert_array_equal(np.asarray(jax.vmap(jax.grad(phi))(x)).astype(np.float64), want)
    np.testing.assert_allclose(want[:4], np.exp(xs[:4]), rtol=2.0**-8)  # the README's true values


@pytest.mark.parametrize("dtype_name", list(SIXTEEN))
def test_positive_side_is_jax_nn_elu_plus_one_bit_for_bit(dtype_name):
    """For x > 0 both are the one IEEE addition x + 1: the same bits."""
    dtype = SIXTEEN[dtype_name]
    x = all_bit_patterns(dtype)
    x = jnp.asarray(x[x > 0].astype(dtype))
    assert_same_bits(jax.jit(phi)(x), jax.jit(jax_nn_phi)(x), x, dtype_name)
