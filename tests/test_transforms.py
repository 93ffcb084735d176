"""Every JAX transformation applied to jelu.elu / selu / celu, plus memory and NaN/inf checks.

References are computed independently in float64 NumPy from the closed-form formulas
(never from jelu itself), so a wrong derivative rule, a lost alpha gradient or a
transformation that drops the custom rule shows up as a mismatch.  The float32 results
are compared with rtol=1e-5 (about 80 float32 ULPs): loose enough to be insensitive to
last-bit rounding (tests/test_numerics.py owns ULP accuracy), tight enough
to catch any wrong formula, wrong side at the kink or a zeroed tail derivative.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import subprocess
import sys
import textwrap
from typing import Callable

import jax
import jax.export
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.test_util import check_grads

from jax_compat import enable_x64
import jelu

from jelu.testing import SELU_ALPHA, SELU_SCALE, x_sized_residuals
RTOL = 1e-5


# --------------------------------------------------------------------------------------
# Independent float64 references
# --------------------------------------------------------------------------------------
def _neg(x: np.ndarray) -> np.ndarray:
    """x clipped to (-inf, 0], so exp never overflows on the (unused) positive branch."""
    return np.minimum(np.asarray(x, np.float64), 0.0)


def elu_ref(x, a):
    x = np.asarray(x, np.float64)
    return np.where(x > 0, x, a * np.expm1(_neg(x)))


def elu_d(x, a, order=1):
    """order-th derivative in x (order >= 1); at x == 0 the x <= 0 side is taken."""
    x = np.asarray(x, np.float64)
    return np.where(x > 0, 1.0 if order == 1 else 0.0, a * np.exp(_neg(x)))


def elu_dalpha(x):
    x = np.asarray(x, np.float64)
    return np.where(x > 0, 0.0, np.expm1(_neg(x)))


def celu_ref(x, a):
    x = np.asarray(x, np.float64)
    return np.where(x > 0, x, a * np.expm1(_neg(x) / a))


def celu_d(x, a, order=1):
    x = np.asarray(x, np.float64)
    return np.where(x > 0, 1.0 if order == 1 else 0.0, np.exp(_neg(x) / a) / a ** (order - 1))


def celu_dalpha(x, a):
    x = np.asarray(x, np.float64)
    z = _neg(x) / a
    return np.where(x > 0, 0.0, np.exp(z) * (1.0 - z) - 1.0)


@dataclasses.dataclass(frozen=True)
class Case:
    """One activation with fixed alpha, with its float64 reference and derivatives."""

    name: str
    fn: Callable  # x -> y, via jelu
    value: Callable  # x -> float64 reference
    deriv: Callable  # (x, order) -> float64 order-th derivative
    low: float  # f(-inf), i.e. minus the saturation value

    def __repr__(self) -> str:
        return self.name


CASES = [
    Case("elu(a=0.7)", lambda x: jelu.elu(x, 0.7), lambda x: elu_ref(x, 0.7),
         lambda x, k=1: elu_d(x, 0.7, k), -0.7),
    Case("selu", jelu.selu, lambda x: SELU_SCALE * elu_ref(x, SELU_ALPHA),
         lambda x, k=1: SELU_SCALE * elu_d(x, SELU_ALPHA, k), -SELU_SCALE * SELU_ALPHA),
    Case("celu(a=0.6)", lambda x: jelu.celu(x, 0.6), lambda x: celu_ref(x, 0.6),
         lambda x, k=1: celu_d(x, 0.6, k), -0.6),
]
_FAST_CASE = itertools.count()  # the fast tier's case of each case_param() test, in turn


def case_param():
    """Parametrize over CASES; the fast tier runs one case per test, the cases in turn down the file."""
    fast = next(_FAST_CASE) % len(CASES)
    return pytest.mark.parametrize("case", [pytest.param(c, marks=() if i == fast else pytest.mark.slow, id=c.name)
                                            for i, c in enumerate(CASES)])

# Moderate points on both sides of the kink, and the kink itself (derivative: x <= 0 side).
X = np.array([-6.0, -2.5, -1.0, -0.3, -1e-3, 0.0, 1e-3, 0.5, 2.0, 7.5], np.float32)


def close(actual, expected, rtol=RTOL, atol=1e-30):
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=rtol, atol=atol)


def sum_of(fn):
    return lambda x: jnp.sum(fn(x))


# --------------------------------------------------------------------------------------
# The transformations, one test each
# --------------------------------------------------------------------------------------
@case_param()
def test_jit(case):
    y = jax.jit(case.fn)(X)
    assert y.dtype == jnp.float32 and y.shape == X.shape
    close(y, case.value(X))


@case_param()
def test_vmap_over_x(case):
    xs = np.stack([X, -X, 0.5 * X])
    ys = jax.vmap(case.fn)(xs)
    close(ys, case.value(xs))


@pytest.mark.parametrize("name", [pytest.param("elu", marks=pytest.mark.slow), "celu"])
def test_vmap_over_alpha(name):
    """Per-example alpha: vmap maps alpha and x together, or alpha alone."""
    fn, ref = (jelu.elu, elu_ref) if name == "elu" else (jelu.celu, celu_ref)
    dalpha = (lambda x, a: elu_dalpha(x)) if name == "elu" else celu_dalpha
    alphas = np.array([0.5, 1.0, 2.5], np.float32)
    xs = np.stack([X, 2 * X, -X])
    a64 = alphas.astype(np.float64)[:, None]

    close(jax.vmap(fn)(xs, alphas), ref(xs, a64))
    close(jax.vmap(lambda a: fn(X, a))(alphas), ref(X[None, :], a64))
    grads = jax.vmap(jax.grad(lambda a, x: jnp.sum(fn(x, a))))(alphas, xs)
    assert grads.shape == alphas.shape
    close(grads, dalpha(xs, a64).sum(axis=1))


@case_param()
def test_grad(case):
    g = jax.grad(sum_of(case.fn))(X)
    close(g, case.deriv(X))


@case_param()
def test_grad_at_zero_takes_left_side(case):
    g = jax.grad(case.fn)(jnp.float32(0.0))
    expected = {"elu(a=0.7)": 0.7, "selu": SELU_SCALE * SELU_ALPHA, "celu(a=0.6)": 1.0}[case.name]
    close(g, expected)


@case_param()
def test_value_and_grad(case):
    v, g = jax.value_and_grad(sum_of(case.fn))(X)
    close(v, case.value(X).sum(), atol=1e-6)
    close(g, case.deriv(X))


@case_param()
def test_jvp(case):
    t = np.linspace(-2, 3, X.size).astype(np.float32)
    y, ty = jax.jvp(case.fn, (X,), (t,))
    close(y, case.value(X))
    close(ty, case.deriv(X) * t)


@case_param()
def test_vjp(case):
    ct = np.linspace(3, -1, X.size).astype(np.float32)
    y, pullback = jax.vjp(case.fn, X)
    (gx,) = pullback(ct)
    close(y, case.value(X))
    close(gx, case.deriv(X) * ct)


@case_param()
def test_linearize(case):
    y, f_jvp = jax.linearize(case.fn, X)
    close(y, case.value(X))
    for t in (np.ones_like(X), np.arange(X.size, dtype=np.float32) - 4):
        close(f_jvp(t), case.deriv(X) * t)


@case_param()
@pytest.mark.parametrize("jac", [jax.jacfwd, jax.jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian(case, jac):
    J = jac(case.fn)(X)
    assert J.shape == (X.size, X.size)
    close(J, np.diag(case.deriv(X)))  # off-diagonal entries must be exactly 0


@case_param()
def test_hessian(case):
    H = jax.hessian(sum_of(case.fn))(X)
    close(H, np.diag(case.deriv(X, 2)))


def _mlp_setup():
    rng = np.random.default_rng(1)
    w1 = rng.normal(size=(5, 6)).astype(np.float32)
    w2 = rng.normal(size=(4, 5)).astype(np.float32)
    x = rng.normal(size=(6,)).astype(np.float32)
    return w1, w2, x


def _mlp_ref_grad(case, w1, w2, x):
    """Hand-written float64 backprop through act(w2 @ act(w1 @ x)), summed."""
    w1, w2, x = (np.asarray(a, np.float64) for a in (w1, w2, x))
    z1 = w1 @ x
    z2 = w2 @ case.value(z1)
    assert np.abs(z1).min() > 1e-2 and np.abs(z2).min() > 1e-2  # away from the kink
    dz2 = case.deriv(z2)
    dz1 = (w2.T @ dz2) * case.deriv(z1)
    return w1.T @ dz1


@case_param()
@pytest.mark.parametrize(
    "policy",
    [None, pytest.param(jax.checkpoint_policies.nothing_saveable, marks=pytest.mark.slow),
     pytest.param(jax.checkpoint_policies.dots_saveable, marks=pytest.mark.slow)],
    ids=["default", "nothing_saveable", "dots_saveable"],
)
def test_checkpoint(case, policy):
    w1, w2, x = _mlp_setup()

    def loss(x):
        return jnp.sum(case.fn(w2 @ case.fn(w1 @ x)))

    remat = jax.checkpoint(loss) if policy is None else jax.checkpoint(loss, policy=policy)
    close(jax.jit(jax.grad(remat))(x), _mlp_ref_grad(case, w1, w2, x))
    close(jax.grad(remat)(x), _mlp_ref_grad(case, w1, w2, x))


@case_param()
def test_scan(case):
    """h_{t+1} = act(h_t + x_t) inside lax.scan; gradients of sum(h_T) w.r.t. h_0 and xs."""
    rng = np.random.default_rng(2)
    h0 = rng.normal(size=(5,)).astype(np.float32)
    xs = rng.normal(size=(6, 5)).astype(np.float32)

    def loss(h0, xs):
        h_final, _ = lax.scan(lambda h, x_t: (case.fn(h + x_t), None), h0, xs)
        return jnp.sum(h_final)

    # float64 reference: forward pass, then the chain rule backwards.
    h, zs = h0.astype(np.float64), []
    for x_t in xs.astype(np.float64):
        zs.append(h + x_t)
        h = case.value(zs[-1])
    assert min(np.abs(z).min() for z in zs) > 1e-4  # float32 rounding cannot cross 0
    g = np.ones(5)
    g_xs = np.zeros((6, 5))
    for t in reversed(range(6)):
        g = g * case.deriv(zs[t])
        g_xs[t] = g

    value, (g_h0, g_xs_jax) = jax.value_and_grad(loss, argnums=(0, 1))(h0, xs)
    close(value, h.sum())
    close(g_h0, g)
    close(g_xs_jax, g_xs)


@case_param()
def test_export_for_cpu_cuda_tpu(case):
    """Lower for three platforms on this CPU-only machine; the artifact round-trips and runs."""

    def value_and_derivative(x):
        return case.fn(x), jax.grad(sum_of(case.fn))(x)

    jitted = jax.jit(value_and_derivative)
    spec = jax.ShapeDtypeStruct(X.shape, jnp.float32)
    exported = jax.export.export(jitted, platforms=("cpu", "cuda", "tpu"))(spec)
    assert tuple(exported.platforms) == ("cpu", "cuda", "tpu")
    restored = jax.export.deserialize(exported.serialize())
    y, g = restored.call(X)
    y_direct, g_direct = jitted(X)
    np.testing.assert_array_equal(y, y_direct)
    np.testing.assert_array_equal(g, g_direct)
    close(y, case.value(X))
    close(g, case.deriv(X))


_SHARDING_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import jax, jax.numpy as jnp
    from jax.sharding import NamedSharding, PartitionSpec as P
    import jelu

    assert jax.device_count() == 8, jax.devices()
    mesh = jax.make_mesh((4, 2), ("batch", "model"))
    x_host = (np.random.default_rng(0).normal(size=(16, 8)) * 3).astype(np.float32)
    x = jax.device_put(x_host, NamedSharding(mesh, P("batch", "model")))
    alpha_host = np.linspace(0.5, 2.0, 8).astype(np.float32)
    alpha = jax.device_put(alpha_host, NamedSharding(mesh, P("model")))
    cases = {
        "elu": lambda x, a: jelu.elu(x, 0.7),
        "selu": lambda x, a: jelu.selu(x),
        "celu": lambda x, a: jelu.celu(x, 0.6),
        "elu_per_channel": lambda x, a: jelu.elu(x, a),
        "celu_per_channel": lambda x, a: jelu.celu(x, a),
    }
    for name, fn in cases.items():
        grad_fn = jax.grad(lambda x, a: jnp.sum(fn(x, a)), argnums=(0, 1))
        y_ref = np.asarray(jax.jit(fn)(x_host, alpha_host))  # unsharded, one device
        gx_ref, ga_ref = (np.asarray(g) for g in jax.jit(grad_fn)(x_host, alpha_host))
        for label, y in (("jit", jax.jit(fn)(x, alpha)), ("eager", fn(x, alpha))):
            assert y.sharding.is_equivalent_to(x.sharding, x.ndim), (name, label, y.sharding)
            np.testing.assert_allclose(np.asarray(y), y_ref, rtol=1e-6, atol=0, err_msg=name)
        gx, ga = jax.jit(grad_fn)(x, alpha)
        assert gx.sharding.is_equivalent_to(x.sharding, x.ndim), (name, gx.sharding)
        np.testing.assert_allclose(np.asarray(gx), gx_ref, rtol=1e-6, atol=0, err_msg=name)
        np.testing.assert_allclose(np.asarray(ga), ga_ref, rtol=1e-5, atol=1e-6, err_msg=name)
    print("SHARDING OK")
    """
)


@pytest.mark.slow
def test_named_sharding_over_8_cpu_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", _SHARDING_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "SHARDING OK" in proc.stdout


# --------------------------------------------------------------------------------------
# check_grads: finite differences against the custom rules
# --------------------------------------------------------------------------------------
def _away_from_kink(rng, n):
    """Random points in [-3, 3] with |x| >= 0.1, so a finite-difference stencil never straddles 0."""
    x = rng.uniform(0.1, 3.0, size=n) * rng.choice([-1.0, 1.0], size=n)
    return x


@pytest.mark.slow
@case_param()
def test_check_grads_order2_in_x(case):
    rng = np.random.default_rng(3)
    with enable_x64(True):  # float64 so finite differences are accurate to ~1e-8
        x = jnp.asarray(_away_from_kink(rng, 12))
        check_grads(case.fn, (x,), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("fn", [jelu.elu, pytest.param(jelu.celu, marks=pytest.mark.slow)], ids=["elu", "celu"])
def test_check_grads_order1_in_alpha(fn):
    """The fast tier's version of the next test: first order, one scalar alpha."""
    rng = np.random.default_rng(4)
    with enable_x64(True):
        x = jnp.asarray(_away_from_kink(rng, 12))
        check_grads(fn, (x, jnp.float64(0.6)), order=1, modes=("fwd", "rev"))


@pytest.mark.slow
@pytest.mark.parametrize("fn", [jelu.elu, jelu.celu], ids=["elu", "celu"])
def test_check_grads_order2_in_alpha(fn):
    """Order 2 in alpha, and in x and alpha jointly. Each alpha is an array of x's
    shape (constant 0.6, constant 1.7, random per element), so that the three share
    one set of compiled derivatives; a scalar alpha is the fast test's above."""
    rng = np.random.default_rng(4)
    with enable_x64(True):
        x = jnp.asarray(_away_from_kink(rng, 12))
        for alpha in (jnp.full(12, 0.6), jnp.full(12, 1.7), jnp.asarray(rng.uniform(0.4, 2.0, 12))):
            check_grads(lambda a: fn(x, a), (alpha,), order=2, modes=("fwd", "rev"))
            check_grads(fn, (x, alpha), order=2, modes=("fwd", "rev"))


# --------------------------------------------------------------------------------------
# No NaN / inf where the math is finite; NaN propagates
# --------------------------------------------------------------------------------------
@pytest.mark.slow
@case_param()
def test_check_grads_order4_far_out(case):
    """check_grads at x = +1e4 and -1e4, float32 and float64: order 4 in forward
    mode, order 3 in reverse (order 4 in reverse costs 30-40 s a case to compile;
    test_numerics checks every derivative up to order 4 for NaN and inf)."""
    # At 1e4 float32 spacing is ~1e-3, so the default eps=1e-4 would be a zero step;
    # eps=1 is exact for a function that is linear (x > 0) or flat (x << 0) there.
    x = jnp.array([1e4, -1e4], jnp.float32)
    check_grads(case.fn, (x,), order=4, modes=("fwd",), eps=1.0)
    check_grads(case.fn, (x,), order=3, modes=("rev",), eps=1.0)
    with enable_x64(True):
        check_grads(case.fn, (x.astype(jnp.float64),), order=4, modes=("fwd",))
        check_grads(case.fn, (x.astype(jnp.float64),), order=3, modes=("rev",))


GRID32 = [0.0, 1e-30, -1e-30, 1e4, -1e4, 88.0, -88.0, -104.0, -20.0, -40.0, 3.0, -3.0]
GRID64 = GRID32 + [-745.0, -700.0, -300.0]


def _nth_derivative(fn, n):
    for _ in range(n):
        fn = jax.grad(fn)
    return jax.jit(jax.vmap(fn))


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_derivatives_up_to_order4_finite_and_right(case, dtype):
    """Orders 0..4 on a grid from the tails to the kink: finite, and equal to the formula.

    The reference is compared with rtol=1e-5 and atol = smallest normal of the dtype, so a
    subnormal (or flushed-to-zero) true value may come out as 0, but a derivative that is
    wrongly 0 where the truth is a normal number (e.g. exp(-20) computed as expm1(x) + 1)
    fails.
    """
    with enable_x64(dtype == "float64"):
        grid = np.array(GRID64 if dtype == "float64" else GRID32, dtype)
        tiny = float(np.finfo(dtype).tiny)
        for order in range(5):
            out = np.asarray(_nth_derivative(case.fn, order)(jnp.asarray(grid)))
            assert out.dtype == np.dtype(dtype)
            assert np.all(np.isfinite(out)), (order, dict(zip(grid, out)))
            expected = case.value(grid) if order == 0 else case.deriv(grid, order)
            np.testing.assert_allclose(out, expected, rtol=RTOL, atol=tiny,
                                       err_msg=f"order {order}")


@case_param()
def test_infinities(case):
    slope = SELU_SCALE if case.name == "selu" else 1.0
    f, d1, d2 = (_nth_derivative(case.fn, n) for n in range(3))
    x = jnp.array([-np.inf, np.inf], jnp.float32)
    np.testing.assert_array_equal(f(x), np.array([case.low, np.inf], np.float32))
    np.testing.assert_array_equal(d1(x), np.array([0.0, slope], np.float32))
    np.testing.assert_array_equal(d2(x), np.array([0.0, 0.0], np.float32))


@pytest.mark.parametrize("name", ["elu", "celu"])
def test_alpha_gradient_at_infinities(name):
    """d/dalpha at x=-inf is the limit -1 (celu: exp(z)(1-z)-1 -> -1, no 0*inf NaN); 0 at +inf."""
    fn = getattr(jelu, name)
    grad_alpha = jax.vmap(jax.grad(lambda x, a: fn(x, a), argnums=1), in_axes=(0, None))
    g = grad_alpha(jnp.array([-np.inf, -1e4, np.inf], jnp.float32), jnp.float32(0.8))
    np.testing.assert_array_equal(g, np.array([-1.0, -1.0, 0.0], np.float32))


@case_param()
def test_nan_propagates_to_value_and_every_derivative(case):
    x = jnp.array([np.nan], jnp.float32)
    for order in range(5):
        out = _nth_derivative(case.fn, order)(x)
        assert np.isnan(np.asarray(out)).all(), (order, out)


@pytest.mark.parametrize("name", ["elu", "celu"])
def test_nan_propagates_to_alpha_gradient(name):
    fn = getattr(jelu, name)
    g = jax.grad(lambda a: fn(jnp.float32(np.nan), a))(jnp.float32(0.8))
    assert np.isnan(g)


# --------------------------------------------------------------------------------------
# Memory: residuals kept for the reverse pass
# --------------------------------------------------------------------------------------
SHAPE = (7, 13)  # distinctive, so no other residual can be mistaken for an x-sized one


def test_residual_counter_sees_jax_nn_elu_keeping_four():
    """Control: the counter is able to fail; jax.nn.elu keeps 2 bool + 2 float arrays."""
    x = jnp.linspace(-3, 3, 91, dtype=jnp.float32).reshape(SHAPE)
    lines, leaves = x_sized_residuals(jax.nn.elu, (x,), x.shape)
    assert sorted(line.split("[")[0].strip() for line in lines) == ["bool", "bool", "f32", "f32"]
    assert sorted(str(leaf.dtype) for leaf in leaves) == ["bool", "bool", "float32", "float32"]


@case_param()
def test_reverse_pass_keeps_at_most_one_x_sized_array(case):
    x = jnp.linspace(-3, 3, 91, dtype=jnp.float32).reshape(SHAPE)
    lines, leaves = x_sized_residuals(case.fn, (x,), x.shape)
    assert len(lines) <= 1, "\n".join(lines)
    assert len(leaves) <= 1, [(leaf.dtype, leaf.shape) for leaf in leaves]
    # and the default-alpha entry points
    for fn in (jelu.elu, jelu.celu):
        lines, leaves = x_sized_residuals(fn, (x,), x.shape)
        assert len(lines) <= 1 and len(leaves) <= 1, "\n".join(lines)
