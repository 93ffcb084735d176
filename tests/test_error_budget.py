"""``python -m benchmarks.error_budget``: the derived bounds are finite, below 1 ULP for 16-bit
outputs, below 1.25 ULP for float32/float64 (0.75 before the final rounding: at most
one float from the correctly rounded result), and never below an error jelu actually
makes: a float32 sample of over 300k points per case against a float64 reference with
a proven error bound, and a float64 sample against mpmath."""

import functools
import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest

from jax_compat import enable_x64
import jelu
from benchmarks import error_budget
from jelu.testing import f64_formula, mp_formula, derivative, f64_rel_err

# alphas exact in float32, so that jelu (which rounds alpha to the compute dtype) and the
# reference compute the same function; 0.5 is a power of two (path a), 0.3 and 1.7 are not
A3, A17 = float(np.float32(0.3)), float(np.float32(1.7))

# case -> (function, alpha, keyword arguments, the budget's path for orders 0, 1, 2 at x <= 0)
CASES = {
    "elu": ("elu", 1.0, {}, ("a.value", "a.fprime", "a.fprime")),
    "elu(0.3)": ("elu", A3, {"alpha": A3}, ("b.value", "b.fprime", "b.fprime")),
    "elu(1.7)": ("elu", A17, {"alpha": A17}, ("b.value", "b.fprime", "b.fprime")),
    "selu": ("selu", 1.0, {}, ("b.value", "b.fprime", "b.fprime")),
    "celu(0.3)": ("celu", A3, {"alpha": A3}, ("d.value", "d.fprime", "d.fsecond")),
    "celu(0.5)": ("celu", 0.5, {"alpha": 0.5}, ("a.value", "a.fprime", "a.fprime")),
}
# selu for x > 0: lambda x (path c), f' = lambda rounded once, f'' = 0
SELU_POSITIVE = ("c.value", 0.5, 0.0)


# Every test here compares with the derived bounds, which take ~10 s to derive on 2 cores.
pytestmark = pytest.mark.slow
# Pieces of r per k: 4 instead of the report's 16 halves the time; coarser pieces give
# bounds at least as large (still bounds), here within 1e-5 ULP of the report's.
PIECES = 4


@functools.lru_cache(maxsize=None)
def _bounds():
    """The script's bounds at PIECES pieces of r per k."""
    return error_budget.bounds(PIECES)


def test_bounds_are_finite_and_16bit_below_one_ulp():
    b = _bounds()
    paths = {path for path, _ in b}
    assert len(paths) == 8 and {dt for _, dt in b} == {"float32", "float64", "bfloat16", "float16"}
    for (path, dt), v in b.items():
        assert math.isfinite(v) and v >= 0.5, (path, dt, v)
        assert v < (1 if dt in ("bfloat16", "float16") else 1.25), (path, dt, v)


def _bound(path, dt):
    return path if isinstance(path, float) else _bounds()[(path, dt)]


def _float32_sample(scale: float) -> np.ndarray:
    """200k points log-spaced over [-104, -1e-30], [-1e-3, 0) densely, the slices where
    the bounds peak (r near -0.27 at k = 0, near 0.33 at k = -1), and 41 points around
    every boundary (k - 1/2) ln 2 between two values of k; all times scale (celu's alpha)."""
    rng = np.random.default_rng(0)
    ks = np.arange(1, 151)
    edges = (-(ks - 0.5) * np.log(2))[:, None] * (1 + np.linspace(-3e-6, 3e-6, 41))[None, :]
    x = np.concatenate([-np.geomspace(1e-30, 104, 200_000), -rng.uniform(0, 1e-3, 20_000),
                        -rng.uniform(0.24, 0.30, 40_000), -rng.uniform(0.33, 0.37, 40_000), edges.ravel()])
    return np.unique((x * scale).astype(np.float32)).astype(np.float64)


def _measured_f32(name, order, x, y, alpha):
    """Upper bounds on |y - f| / ulp(f) (float32 ulps of the exact f): the float64 reference
    v with |v - f| <= e |v| (jelu.testing) gives |y - f| <= |y - v| + e |v| and
    ulp(f) >= ulp(|v| (1 - e)). Subnormal inputs and results are left out (outside the claim)."""
    v = f64_formula(name, order, x, alpha)
    e = f64_rel_err(name, order, x, alpha)
    keep = np.isfinite(v) & (np.abs(v) >= 2.0**-126) & (np.abs(x) >= 2.0**-126)
    low = np.where(keep, np.abs(v) * (1 - e), 1.0)
    ulp = 2.0 ** (np.floor(np.log2(low)) - 23)
    return np.where(keep, (np.abs(y - v) + e * np.abs(v)) / ulp, 0.0)


@pytest.mark.parametrize("order", [0, 1, 2])
@pytest.mark.parametrize("case", CASES)
def test_float32_errors_never_exceed_the_derived_bound(case, order):
    name, alpha, kw, paths = CASES[case]
    x = _float32_sample(alpha if name == "celu" else 1.0)
    if name == "selu":
        x = np.concatenate([x, np.geomspace(1e-30, 1e30, 20_000).astype(np.float32).astype(np.float64)])
    f = getattr(jelu, name)
    y = np.asarray(jax.jit(derivative(lambda t: f(t, **kw), order))(jnp.asarray(x, jnp.float32)), np.float64)
    err = _measured_f32(name, order, x, y, alpha)
    neg = x <= 0
    bound = _bound(paths[order], "float32")
    assert err[neg].max() <= bound, (case, order, err[neg].max(), x[neg][err[neg].argmax()], bound)
    if name == "selu":  # x > 0; f' = lambda is a rounded constant (0.5 + the reference's 2^-23)
        pos_bound = _bound(SELU_POSITIVE[order], "float32") + 2.0**-20
        assert err[~neg].max() <= pos_bound, (case, order, err[~neg].max(), pos_bound)


def _float64_sample() -> np.ndarray:
    rng = np.random.default_rng(1)
    return np.concatenate([-np.geomspace(1e-300, 700, 120), -rng.uniform(0.24, 0.30, 60),
                           -rng.uniform(0.33, 0.37, 60), -(rng.integers(1, 1000, 40) - 0.5) * math.log(2)])


@pytest.mark.parametrize("case", CASES)
def test_float64_errors_never_exceed_the_derived_bound(case):
    name, alpha, kw, paths = CASES[case]
    x = _float64_sample() * (alpha if name == "celu" else 1.0)
    f = getattr(jelu, name)
    with enable_x64(True):
        ys = [np.asarray(jax.jit(derivative(lambda t: f(t, **kw), order))(jnp.asarray(x, jnp.float64)))
              for order in (0, 1, 2)]
    with mpmath.workdps(40):
        for order, y in enumerate(ys):
            worst = 0.0
            for xi, yi in zip(x, y):
                v = mp_formula(name, order, float(xi), alpha)
                if abs(v) < mpmath.mpf(2) ** -1022:
                    continue  # subnormal: outside the claim
                ulp = mpmath.mpf(2) ** (mpmath.floor(mpmath.log(abs(v), 2)) - 52)
                worst = max(worst, float(abs(mpmath.mpf(float(yi)) - v) / ulp))
            assert worst <= _bound(paths[order], "float64"), (case, order, worst)
