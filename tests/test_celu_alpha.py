"""celu's alpha: checked when concrete, NaN when traced and invalid, and accurate derivatives in it.

* A concrete alpha (Python number, numpy value or array, concrete jax Array)
  that is 0, negative or not finite raises ValueError under every
  transformation, before it can become a tracer; a bad element of an array
  alpha is named by its index and value.
* A traced alpha <= 0 gives NaN (or the formula alpha (exp(x/alpha) - 1)
  itself) where x <= 0, never another number.
* d celu / d alpha = exp(u)(1 - u) - 1 and d^2 celu / d alpha^2 =
  exp(u) u^2 / alpha (u = x / alpha) against correctly rounded references
  (jelu.testing: float64 with a proven bound, mpmath where that
  cannot decide), over a sample with [-1e-3, 0) dense, where the textbook
  formula cancels.
* For 16-bit x the alpha-derivatives are computed at float32 precision, not
  with alpha rounded to x's dtype.
* Every partial derivative up to order 3 in x and alpha, mixed too, is finite
  where the math is, including x = +-inf and x = -3e38.
* celu with alpha > 1 on the smallest normal inputs, where x / alpha is
  subnormal, is x (to within 1 ULP), not 0.

Points whose input or correctly rounded result is subnormal are left out of the
ULP checks: XLA flushes subnormals to zero on CPU.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from jax import lax

from jax_compat import enable_x64
import jelu

from jelu.testing import all_bit_patterns, ulp_distance
from jelu.testing import (
    as_alpha,
    celu_alpha_derivative,
    celu_partial,
    correctly_rounded_any_alpha,
    f64_celu_dalpha1,
)

X4 = np.array([-2.0, -0.5, 0.0, 1.0], np.float32)


# --------------------------------------------------------------------------
# (a) A concrete bad alpha raises ValueError on every call path

BAD_CONCRETE = {
    "0.0": 0.0,
    "-0.0": -0.0,
    "-1.0": -1.0,
    "int 0": 0,
    "int -1": -1,
    "nan": float("nan"),
    "inf": float("inf"),
    "-inf": -float("inf"),
    "np.float32(-1)": np.float32(-1.0),
    "np.float64(nan)": np.float64("nan"),
    "np array, one element 0": np.array([1.0, 0.0, 2.0, 0.5], np.float32),
}

CONTEXTS = {
    "eager": lambda f, x: f(x),
    "jit": lambda f, x: jax.jit(f)(x),
    "scan": lambda f, x: lax.scan(lambda c, t: (c, f(t)), 0.0, x)[1],
    "checkpoint": lambda f, x: jax.checkpoint(f)(x),
    "vmap over x": lambda f, x: jax.vmap(f)(x),
    "jit of vmap": lambda f, x: jax.jit(jax.vmap(f))(x),
    "grad": lambda f, x: jax.grad(lambda t: jnp.sum(f(t)))(x),
    "jit of grad": lambda f, x: jax.jit(jax.grad(lambda t: jnp.sum(f(t))))(x),
}


def fast_if(keep: bool) -> tuple:
    """The marks of a parameter: none in the fast tier, slow otherwise."""
    return () if keep else (pytest.mark.slow,)


def _bad(label):
    return BAD_CONCRETE[label]


@pytest.mark.parametrize("context,label", [  # the fast tier: each label once, the contexts in turn
    pytest.param(c, lab, marks=fast_if(i % len(CONTEXTS) == j and i % 2 == 0), id=f"{c}-{lab}")
    for i, lab in enumerate(BAD_CONCRETE) for j, c in enumerate(CONTEXTS)])
def test_concrete_bad_alpha_raises_on_every_call_path(context, label):
    """A Python or NumPy alpha that is 0, < 0 or not finite raises ValueError naming alpha.

    Under jit, scan and checkpoint the alpha closed over is still concrete at
    trace time: it must be checked before it is turned into a JAX value.
    (Array alphas broadcast against x of shape (4,); under vmap x is a scalar,
    so array alphas are only used where x keeps its shape.)
    """
    alpha = _bad(label)
    if np.ndim(alpha) and context in ("vmap over x", "jit of vmap"):
        pytest.skip("an alpha of shape (4,) does not broadcast against vmap's scalar x")
    f = lambda t: jelu.celu(t, alpha)  # noqa: E731
    with pytest.raises(ValueError) as info:
        out = CONTEXTS[context](f, jnp.asarray(X4))
        jax.block_until_ready(out)
    message = str(info.value)
    assert "alpha" in message and "celu" in message, message


@pytest.mark.parametrize("context", [pytest.param(c, marks=fast_if(c == "jit of grad")) for c in CONTEXTS])
def test_jax_array_alpha_is_not_inspected_and_gives_nan_where_bad(context):
    """A JAX array alpha, concrete or traced, is never read on the host (that
    would sync with the device): where it is not finite and positive the result
    is NaN for x <= 0, the same on every call path."""
    alpha = jnp.array([1.0, -1.0, 2.0, 0.5], jnp.float32)
    if context in ("vmap over x", "jit of vmap", "scan"):
        pytest.skip("x is a scalar per step here: alpha of shape (4,) would broadcast it")
    x = jnp.asarray(np.array([-1.0, -1.0, -1.0, -1.0], np.float32))
    out = np.asarray(CONTEXTS[context](lambda t: jelu.celu(t, alpha), x))
    assert np.isnan(out[1]) and np.all(np.isfinite(out[[0, 2, 3]])), out


@pytest.mark.parametrize("context,shape,index,value", [
    pytest.param(c, sh, ix, v,
                 marks=fast_if((c, v, len(sh)) in {("eager", 0.0, 2), ("jit", -2.5, 1)}),
                 id=f"{c}-{len(sh)}d-{v!r}")
    for c in ("eager", "jit") for sh, ix in (((1000,), (737,)), ((4, 250), (2, 237)))
    for v in (0.0, -2.5, float("nan"), float("inf"))])
def test_array_alpha_error_names_the_bad_element(context, shape, index, value):
    """The message for a bad array alpha says which element is bad and what it is.

    The array is large enough that numpy's repr would elide the element, so a
    message that only prints the array cannot pass. The index may be given as
    the flat index (737) or the multi-index ((2, 237) / [2, 237]).
    """
    alpha = np.ones(shape, np.float32)
    alpha[index] = value
    x = np.full(shape, -1.0, np.float32)
    call = (lambda: jelu.celu(x, alpha)) if context == "eager" else (lambda: jax.jit(lambda t: jelu.celu(t, alpha))(x))
    with pytest.raises(ValueError) as info:
        jax.block_until_ready(call())
    message = str(info.value)
    assert re.search(r"\b737\b|[(\[]\s*2\s*,\s*237\s*[)\]]", message), message
    expected = {"0.0": r"\b0(\.0*)?\b", "-2.5": r"-2\.5", "nan": r"\bnan\b", "inf": r"\binf\b"}[repr(value)]
    assert re.search(expected, message.split("got", 1)[-1] if "got" in message else message, re.I), message


# --------------------------------------------------------------------------
# (b) A traced alpha <= 0 gives NaN (or the formula), never another number

X_B = np.array([-np.inf, -3.0, -0.5, -1e-30, -0.0, 0.0, 0.5, np.inf], np.float32)


def _nan_or(y: np.ndarray, formula: np.ndarray, rtol: float = 1e-5) -> np.ndarray:
    """Elementwise: y is NaN, or y equals the float64 formula (to rtol; infinities exactly)."""
    y = np.asarray(y, np.float64)
    with np.errstate(invalid="ignore"):
        same = (y == formula) | (np.abs(y - formula) <= rtol * np.abs(formula))
    return np.isnan(y) | same


@pytest.mark.parametrize("alpha", [pytest.param(a, marks=fast_if(a == -np.inf), id=repr(a))
                                   for a in (-1.0, -0.5, -1e-3, 0.0, -0.0, -np.inf)])
def test_traced_nonpositive_alpha_gives_nan_or_the_formula(alpha):
    """jit(celu)(x, alpha) with alpha <= 0 as a traced argument: NaN or alpha expm1(x/alpha) for x <= 0.

    So is each first derivative (d/dx = exp(x/alpha), d/dalpha =
    exp(u)(1 - u) - 1). x > 0 still gives x. A finite number that is neither
    (celu(0, -1) = 1, say) is a silent wrong answer.
    """
    x = jnp.asarray(X_B)
    a = jnp.float32(alpha)
    x64, a64 = X_B.astype(np.float64), float(np.float32(alpha))
    with np.errstate(all="ignore"):
        u = x64 / a64
        # the formulas as float32 can hold them (+-inf past its range)
        value, d_x, d_alpha = (v.astype(np.float32).astype(np.float64)
                               for v in (a64 * np.expm1(u), np.exp(u), np.exp(u) * (1 - u) - 1))
    y = jax.jit(jelu.celu)(x, a)
    gx = jax.jit(lambda x, a: jax.jvp(lambda t: jelu.celu(t, a), (x,), (jnp.ones_like(x),))[1])(x, a)
    ga = jax.jit(lambda x, a: jax.jvp(lambda b: jelu.celu(x, b), (a,), (jnp.ones_like(a),))[1])(x, a)
    neg = X_B <= 0
    for label, got, want in (("value", y, value), ("d/dx", gx, d_x), ("d/dalpha", ga, d_alpha)):
        got = np.asarray(got)
        ok = _nan_or(got[neg], want[neg])
        assert ok.all(), f"{label}: x={X_B[neg][~ok]} gave {got[neg][~ok]}, formula {want[neg][~ok]}"
    np.testing.assert_array_equal(np.asarray(y)[~neg], X_B[~neg])


def test_traced_per_element_alpha_bad_only_where_alpha_is_bad():
    """A traced alpha array with some entries <= 0: NaN/formula there, within 1 ULP of the value elsewhere."""
    x = np.array([-2.0, -2.0, 0.0, 0.0, -0.5, -0.5], np.float32)
    alpha = np.array([-1.0, 0.7, -1.0, 0.7, 0.0, 2.0], np.float32)
    y = np.asarray(jax.jit(jelu.celu)(x, alpha)).astype(np.float64)
    good = alpha > 0
    ref = np.array([correctly_rounded_any_alpha("celu", 0, np.array([xi]), np.float32, float(ai))[0]
                    for xi, ai in zip(x[good], alpha[good])])
    assert ulp_distance(y[good], ref, np.float32).max() <= 1, (y[good], ref)
    with np.errstate(all="ignore"):
        formula = alpha[~good].astype(np.float64) * np.expm1(x[~good] / alpha[~good].astype(np.float64))
        formula = formula.astype(np.float32).astype(np.float64)
    assert _nan_or(y[~good], formula).all(), (x[~good], alpha[~good], y[~good], formula)


# --------------------------------------------------------------------------
# (c), (d) Derivatives in alpha against correctly rounded references

ALPHAS = [0.3, 0.7, 2.0]
# alpha is traced: every alpha shares one compiled program, the fast tier takes one.
TIERED_ALPHAS = [pytest.param(a, marks=fast_if(a == 0.3)) for a in ALPHAS]


def nonpositive_sample(n: int = 120_000, seed: int = 0) -> np.ndarray:
    """float32 x <= 0 (as float64): log-uniform over the whole negative range,
    [-1e-3, 0) densely, [-1, 0] and [-150, 0] uniformly (u = x/alpha from 0
    to past the underflow of exp), and -0.0, 0, -inf."""
    rng = np.random.default_rng(seed)
    q = n // 8
    parts = [
        -np.exp(rng.uniform(np.log(1e-37), np.log(3e38), 3 * q)),
        -rng.uniform(0.0, 1e-3, 3 * q),
        -rng.uniform(0.0, 1.0, q),
        -rng.uniform(0.0, 150.0, q),
        np.array([-0.0, 0.0, -np.inf]),
    ]
    return np.concatenate(parts).astype(np.float32).astype(np.float64)


@pytest.fixture(scope="module")
def xs():
    x = nonpositive_sample()
    assert x.size >= 100_000 and ((x >= -1e-3) & (x < 0)).sum() >= 40_000
    return x


def alpha_derivative(order: int):
    """x, alpha -> d^order celu(x, alpha) / d alpha^order elementwise, by nested forward mode."""
    def f(x, a):
        g = lambda b: jelu.celu(x, b)  # noqa: E731
        for _ in range(order):
            g = (lambda h: lambda b: jax.jvp(h, (b,), (jnp.ones_like(b),))[1])(g)
        return g(a)
    return jax.jit(f)


def ulp_report(y: np.ndarray, ref: np.ndarray, x: np.ndarray, dtype) -> dict:
    """Max ULP distance over the points whose input and reference are normal (or 0).

    Elsewhere the result must be the reference, 0 or subnormal (XLA flushes
    subnormals to zero on CPU).
    """
    tiny = float(ml_dtypes.finfo(dtype).tiny)
    y = np.asarray(y).astype(np.float64)
    # |ref| == tiny counts as subnormal: the true value may be just below the normal range.
    normal = ((np.abs(x) >= tiny) | (x == 0)) & ((np.abs(ref) > tiny) | (ref == 0)) & np.isfinite(ref)
    u = ulp_distance(y[normal], ref[normal], dtype)
    sub = ~normal & np.isfinite(ref)
    sub_ok = np.all((y[sub] == ref[sub]) | (np.abs(y[sub]) < tiny) | (np.abs(x[sub]) < tiny))
    worst = int(u.argmax()) if u.size else 0
    return {
        "max_ulp": float(u.max()) if u.size else 0.0,
        "points": int(u.size),
        "worst_x": float(x[normal][worst]) if u.size else None,
        "got": float(y[normal][worst]) if u.size else None,
        "want": float(ref[normal][worst]) if u.size else None,
        "over_1_ulp": int((u > 1).sum()),
        "subnormal_ok": bool(sub_ok),
    }


@pytest.mark.parametrize("alpha", TIERED_ALPHAS)
def test_dcelu_dalpha_float32_within_2_ulp(xs, alpha):
    """d celu / d alpha within 2 ULP of the correctly rounded exp(u)(1 - u) - 1, float32."""
    a = as_alpha(alpha, np.float32)
    y = alpha_derivative(1)(jnp.asarray(xs, jnp.float32), jnp.float32(a))
    m = ulp_report(y, celu_alpha_derivative(1, xs, a, np.float32), xs, np.float32)
    assert m["max_ulp"] <= 2, m
    assert m["subnormal_ok"], m


@pytest.mark.parametrize("alpha", TIERED_ALPHAS)
def test_d2celu_dalpha2_float32_within_4_ulp(xs, alpha):
    """d^2 celu / d alpha^2 within 4 ULP of the correctly rounded exp(u) u^2 / alpha, float32.

    Covers u < -40 (where exp(u) u^2 / alpha is tiny but positive) and
    exp(u) subnormal with exp(u) u^2 / alpha normal (u near -90).
    """
    a = as_alpha(alpha, np.float32)
    y = alpha_derivative(2)(jnp.asarray(xs, jnp.float32), jnp.float32(a))
    m = ulp_report(y, celu_alpha_derivative(2, xs, a, np.float32), xs, np.float32)
    assert m["max_ulp"] <= 4, m
    assert m["subnormal_ok"], m


@pytest.mark.parametrize("alpha", TIERED_ALPHAS)
def test_dcelu_dalpha_reverse_mode_matches_forward_accuracy(xs, alpha):
    """Reverse mode (vmap of grad in alpha) is within 2 ULP too, on a subsample."""
    a = as_alpha(alpha, np.float32)
    x = xs[:: max(1, xs.size // 8192)]
    g = jax.jit(jax.vmap(jax.grad(lambda t, b: jelu.celu(t, b), argnums=1), in_axes=(0, None)))
    y = g(jnp.asarray(x, jnp.float32), jnp.float32(a))
    m = ulp_report(y, celu_alpha_derivative(1, x, a, np.float32), x, np.float32)
    assert m["max_ulp"] <= 2, m


def _float64_subsample(xs: np.ndarray) -> np.ndarray:
    """~1,500 points of the float32 sample (every kind of region), as float64 inputs."""
    rng = np.random.default_rng(7)
    x = rng.choice(xs[np.isfinite(xs)], 1200, replace=False)
    extra = -np.exp(rng.uniform(np.log(1e-300), np.log(1e300), 300))
    return np.concatenate([x, extra, [0.0, -1e-3, -0.01, -1e-6]])


@pytest.mark.parametrize("order,bound", [(1, 2), pytest.param(2, 4, marks=pytest.mark.slow)],
                         ids=["d_dalpha", "d2_dalpha2"])
@pytest.mark.parametrize("alpha", TIERED_ALPHAS)
def test_alpha_derivatives_float64(xs, alpha, order, bound):
    """In float64 (x64 mode): d/dalpha within 2 ULP and d^2/dalpha^2 within 4 ULP (mpmath at every point)."""
    x = _float64_subsample(xs)
    ref = celu_alpha_derivative(order, x, alpha, np.float64)
    with enable_x64(True):
        y = np.asarray(alpha_derivative(order)(jnp.asarray(x, jnp.float64), jnp.float64(alpha)))
    m = ulp_report(y, ref, x, np.float64)
    assert m["max_ulp"] <= bound, m


def test_dcelu_dalpha_near_zero_spot_values():
    """The points where the cancellation in f/alpha - u f' is worst, as plain numbers."""
    a = as_alpha(0.7, np.float32)
    x = np.array([-0.01, -1e-3, -1e-6, -1e-12, -1e-18], np.float32).astype(np.float64)
    y = alpha_derivative(1)(jnp.asarray(x, jnp.float32), jnp.float32(a))
    ref = celu_alpha_derivative(1, x, a, np.float32)
    u = ulp_distance(np.asarray(y).astype(np.float64), ref, np.float32)
    assert u.max() <= 2, dict(zip(x, zip(np.asarray(y), ref, u)))


# --------------------------------------------------------------------------
# (e) 16-bit x: alpha-derivatives at float32 precision

SIXTEEN = [ml_dtypes.bfloat16, np.float16]


@pytest.mark.parametrize("dtype", [ml_dtypes.bfloat16, pytest.param(np.float16, marks=pytest.mark.slow)],
                         ids=["bfloat16", "float16"])
def test_summed_alpha_gradient_of_16bit_activations(dtype):
    """d/dalpha of sum(celu(x, alpha)) over 65,536 N(0,1) 16-bit x, float32 alpha 0.3: within 1e-4 of float64.

    Rounding alpha to x's dtype (0.3 -> 0.30078125 in bfloat16) biases the
    sum by about -0.3%; per-element rounding of the 16-bit tangents averages out.
    """
    rng = np.random.default_rng(11)
    x = rng.standard_normal(65_536).astype(dtype)
    a = as_alpha(0.3, np.float32)
    g = jax.jit(jax.grad(lambda b: jnp.sum(jelu.celu(jnp.asarray(x), b))))(jnp.float32(a))
    x64 = x.astype(np.float64)
    want = f64_celu_dalpha1(np.minimum(x64, 0.0) / a).sum()  # relative error < 2**-45 per term
    rel = abs(float(g) - want) / abs(want)
    assert rel <= 1e-4, (float(g), want, rel)


@pytest.mark.parametrize("dtype,order", [
    pytest.param(d, o, marks=fast_if((n, o) == ("float16", 1)), id=f"{n}-{o}")
    for d, n in zip(SIXTEEN, ("bfloat16", "float16")) for o in (1, 2)])
def test_16bit_alpha_derivatives_every_input(dtype, order):
    """Every 16-bit x <= 0, float32 alpha 0.3: d^order/dalpha^order within 1 ULP of the correctly rounded value.

    A float32 computation rounded once to x's dtype is within 1/2 ULP plus a
    double rounding; alpha rounded to the 16-bit dtype first is 10% off at x = -0.01.
    """
    x = all_bit_patterns(dtype)
    x = x[x <= 0]
    a = as_alpha(0.3, np.float32)
    y = alpha_derivative(order)(jnp.asarray(x.astype(dtype)), jnp.float32(a))
    assert y.dtype == np.dtype(dtype)
    m = ulp_report(y, celu_alpha_derivative(order, x, a, dtype), x, dtype)
    assert m["max_ulp"] <= 1, m
    assert m["subnormal_ok"], m


# --------------------------------------------------------------------------
# (f) Every partial derivative up to order 3 finite where the math is

GRID_ALPHAS = [1e-6, 1e-3, 0.3, 1.7, 13.7, 65519.0, 1e15, 1e30]
GRID_X32 = [-np.inf, -3e38, -1e4, -7.0, -0.5, -1e-30, -0.0, 0.0, 1.5, 3e38, np.inf]
GRID_X64 = GRID_X32 + [-1.7e308, -1e-300, 1.7e308]
ORDERS = [(i, j) for n in range(4) for i in range(n + 1) for j in [n - i]]


def partial(i: int, j: int, mode: str):
    """(x, alpha) -> d^i/dx^i d^j/dalpha^j celu elementwise; forward (nested jvp) or reverse (vmap of grads)."""
    if mode == "fwd":
        def f(x, a):
            g = lambda s, b: jelu.celu(s, b)  # noqa: E731
            for _ in range(i):
                g = (lambda h: lambda s, b: jax.jvp(lambda t: h(t, b), (s,), (jnp.ones_like(s),))[1])(g)
            for _ in range(j):
                g = (lambda h: lambda s, b: jax.jvp(lambda c: h(s, c), (b,), (jnp.ones_like(b),))[1])(g)
            return g(x, a)
        return jax.jit(f)
    g = lambda s, b: jelu.celu(s, b)  # noqa: E731
    for _ in range(i):
        g = jax.grad(g, argnums=0)
    for _ in range(j):
        g = jax.grad(g, argnums=1)
    return jax.jit(jax.vmap(g))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["fwd", "rev"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_partial_up_to_order_3_finite_where_the_math_is(dtype, mode):
    """All d^i/dx^i d^j/dalpha^j, i + j <= 3, on x in {+-inf, -3e38, ..., -1e-30, +-0, ...} x alpha in [1e-6, 1e30].

    Finite wherever the exact value (jelu.testing.celu_partial) is
    finite, and within 1e-4 relative of it (plus 1e-30 absolute, 1e-290 in
    float64, for results that underflow).
    """
    grid_x = GRID_X64 if dtype == "float64" else GRID_X32
    xg, ag = (g.ravel() for g in np.meshgrid(np.array(grid_x), np.array(GRID_ALPHAS), indexing="ij"))
    with enable_x64(dtype == "float64"):
        xg = xg.astype(dtype).astype(np.float64)
        ag = ag.astype(dtype).astype(np.float64)
        atol = 1e-30 if dtype == "float32" else 1e-290
        failures = []
        for i, j in ORDERS:
            y = np.asarray(partial(i, j, mode)(jnp.asarray(xg, dtype), jnp.asarray(ag, dtype))).astype(np.float64)
            want = np.array([float(celu_partial(i, j, xv, av)) for xv, av in zip(xg, ag)])
            with np.errstate(over="ignore"):
                want = want.astype(dtype).astype(np.float64)  # what the dtype can hold (+-inf past its range)
            finite = np.isfinite(want)
            bad = finite & ~np.isfinite(y)
            with np.errstate(invalid="ignore"):
                wrong = finite & ~bad & (np.abs(y - want) > 1e-4 * np.abs(want) + atol)
            wrong |= ~finite & (y != want)
            for k in np.nonzero(bad | wrong)[0]:
                failures.append(f"d^{i}x d^{j}a at x={xg[k]:g}, alpha={ag[k]:g}: {y[k]!r}, exact {want[k]!r}")
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:40])


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_hessian_in_alpha_with_infinite_x(dtype):
    """jax.hessian of sum(celu(x, alpha)) in alpha, x holding +-inf and -3e38: finite and right."""
    x_host = [-np.inf, np.inf, -3e38, -1.0, 0.0, -0.25]
    with enable_x64(dtype == "float64"):
        x = jnp.asarray(x_host, dtype)
        for alpha in (0.3, 1.7):
            a = float(np.asarray(alpha, dtype))
            h = jax.hessian(lambda b: jnp.sum(jelu.celu(x, b)))(jnp.asarray(a, dtype))
            want = float(sum(celu_partial(0, 2, float(v), a) for v in np.asarray(x, np.float64)))
            assert np.isfinite(float(h)), (alpha, h)
            np.testing.assert_allclose(float(h), want, rtol=1e-5)
            # forward-over-forward as well
            hf = partial(0, 2, "fwd")(x, jnp.full_like(x, a))
            assert np.all(np.isfinite(np.asarray(hf))), (alpha, hf)


# --------------------------------------------------------------------------
# (g) alpha > 1 where x / alpha is subnormal

BIG_ALPHAS = [float(np.nextafter(np.float32(1), np.float32(2))), 1.7, 5.0, 65519.0, 1e15, 1e30]


@pytest.mark.slow
@pytest.mark.parametrize("alpha", BIG_ALPHAS + [0.3], ids=lambda a: f"{a:g}")
def test_celu_on_the_lowest_normal_float32_binade_is_x(alpha):
    """Every float32 x with 2^-126 < |x| < 2^-125, x < 0: celu(x, alpha) is x within 1 ULP.

    alpha (exp(x/alpha) - 1) = x (1 + x / (2 alpha) + ...) and the correction
    is ~1e-38 relative: the correctly rounded value is x. With alpha > 1,
    x / alpha is subnormal and must not be flushed to a result of 0. (At
    x = -2^-126 itself the true value is just above -2^-126, a subnormal, so
    that one input is left out.)
    """
    bits = np.arange(1, 2**23, dtype=np.uint32) | np.uint32((1 << 31) | (1 << 23))  # sign, exponent 1
    x = bits.view(np.float32)
    y = np.asarray(jax.jit(lambda t: jelu.celu(t, alpha))(jnp.asarray(x)))
    u = ulp_distance(y.astype(np.float64), x.astype(np.float64), np.float32)
    assert u.max() <= 1, f"{(u > 1).sum()} inputs off, e.g. x={x[u.argmax()]!r} -> {y[u.argmax()]!r}"


@pytest.mark.parametrize("alpha", [pytest.param(a, marks=fast_if(a == 1e30), id=f"{a:g}") for a in BIG_ALPHAS])
def test_celu_small_normal_x_with_large_alpha_float32(alpha):
    """x log-uniform in [-1e-3, -2^-126] (x / alpha subnormal for |x| < alpha 2^-126): value and
    first two x-derivatives within 1 ULP of the correctly rounded result."""
    rng = np.random.default_rng(3)
    x = -np.exp(rng.uniform(np.log(2.0**-126), np.log(1e-3), 20_000)).astype(np.float32).astype(np.float64)
    a = as_alpha(alpha, np.float32)
    for order in range(3):
        f = lambda t: jelu.celu(t, alpha)  # noqa: E731
        for _ in range(order):
            f = (lambda h: lambda t: jax.jvp(h, (t,), (jnp.ones_like(t),))[1])(f)
        y = jax.jit(f)(jnp.asarray(x, jnp.float32))
        m = ulp_report(y, correctly_rounded_any_alpha("celu", order, x, np.float32, a), x, np.float32)
        assert m["max_ulp"] <= 1, (order, m)


@pytest.mark.parametrize("dtype,order", [
    pytest.param(d, o, marks=fast_if((n, o) == ("bfloat16", 2)), id=f"{n}-{o}")
    for d, n in zip(SIXTEEN, ("bfloat16", "float16")) for o in (0, 1, 2)])
def test_celu_alpha_5_every_16bit_input_within_1_ulp(dtype, order):
    """All 16-bit inputs, alpha 5: value and first two derivatives within 1 ULP (normal results)."""
    x = all_bit_patterns(dtype)
    f = lambda t: jelu.celu(t, 5.0)  # noqa: E731
    for _ in range(order):
        f = (lambda h: lambda t: jax.jvp(h, (t,), (jnp.ones_like(t),))[1])(f)
    y = jax.jit(f)(jnp.asarray(x.astype(dtype)))
    m = ulp_report(y, correctly_rounded_any_alpha("celu", order, x, dtype, 5.0), x, dtype)
    assert m["max_ulp"] <= 1, m
    assert m["subnormal_ok"], m
