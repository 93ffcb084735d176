"""Correctly rounded references for ELU, SELU and CELU, for testing jelu (or any implementation).

``jelu.testing`` is what ``numpy.testing`` is to numpy: the references that
jelu's tests and benchmarks measure against, public so that users can measure
their own builds and platforms too. It never calls the code under test.

* :func:`correctly_rounded`: the value, f' or f'' of elu, selu or celu at
  given points, correctly rounded to bfloat16, float16, float32 or float64;
  :func:`correctly_rounded_any_alpha` for any alpha, and
  :func:`celu_alpha_derivative` / :func:`celu_partial` for derivatives in alpha.
* :func:`ulp_distance`, :func:`compare` and :func:`measure`: ULP errors of an
  implementation against those references.
* :func:`all_bit_patterns` (every finite 16-bit value) and
  :func:`float32_sample` (a dense float32 sample of the hard regions).

The NumPy-only rounding and counting (``round_to``, ``ulp_distance``, ...) live
in ``jelu._rounding`` and are re-exported here.

How a reference is made: the function is computed in float64 with a proven
bound on its relative error, then rounded once to the target dtype by integer
arithmetic (no double rounding through float32; for float32, numpy's cast,
checked to round half to even). Where the float64 interval
[v (1 - eps), v (1 + eps)] straddles a rounding boundary of the target, the
point is recomputed with mpmath at 50 digits or more, so every reference is
provably the correctly rounded value. float64 targets use mpmath directly.

Needs mpmath (``pip install "jelu[testing]"``); ``import jelu`` does not import
this module.
"""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np

try:
    import mpmath
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError('jelu.testing needs mpmath; install it with: pip install "jelu[testing]"') from e

from jelu._constants import SELU_ALPHA_DIGITS, SELU_SCALE_DIGITS
from jelu._rounding import (
    BITS,
    FORMATS,
    all_bit_patterns,
    from_ordinal,
    round_to,
    round_to_by_integers,
    to_ordinal,
    ulp_distance,
)

__all__ = [
    "SELU_ALPHA", "SELU_SCALE", "SELU_ALPHA_DIGITS", "SELU_SCALE_DIGITS", "F64_REL_ERR", "CASES", "FORMATS", "BITS",
    "all_bit_patterns", "as_alpha", "celu_alpha_derivative", "celu_partial", "compare",
    "correctly_rounded", "correctly_rounded_any_alpha", "derivative", "f64_celu_dalpha1",
    "f64_formula", "f64_rel_err", "float32_sample", "measure", "mp_formula", "round_exact",
    "round_to", "round_to_by_integers", "ulp_distance", "x_sized_residuals",
]

#: SELU's constants (Klambauer et al., 2017): ``*_DIGITS`` to 32 significant
#: digits (strings, for mpmath), the others the nearest float64.
SELU_ALPHA, SELU_SCALE = float(SELU_ALPHA_DIGITS), float(SELU_SCALE_DIGITS)


# float64 relative error bound of `f64_formula` (a few roundings of numpy's
# expm1/exp, which glibc computes to < 1 ULP, plus the constants): generous.
F64_REL_ERR = 64 * 2.0**-53


def mp_formula(name: str, order: int, x: float, alpha: float) -> mpmath.mpf:
    """The exact function (order 0), first or second derivative at x, in mpmath."""
    x = mpmath.mpf(x)
    a = mpmath.mpf(alpha)
    if name == "selu":
        lam, a = mpmath.mpf(SELU_SCALE_DIGITS), mpmath.mpf(SELU_ALPHA_DIGITS)
    else:
        lam = mpmath.mpf(1)
    if x > 0:
        return lam * x if order == 0 else (lam if order == 1 else mpmath.mpf(0))
    if name == "celu":
        u = x / a
        return [a * mpmath.expm1(u), mpmath.exp(u), mpmath.exp(u) / a][order]
    return lam * a * (mpmath.expm1(x) if order == 0 else mpmath.exp(x))


def f64_formula(name: str, order: int, x: np.ndarray, alpha: float) -> np.ndarray:
    """The same in float64 numpy (relative error well under F64_REL_ERR)."""
    x = np.asarray(x, np.float64)
    if name == "selu":
        lam, a = SELU_SCALE, SELU_ALPHA
    else:
        lam, a = 1.0, float(alpha)
    with np.errstate(over="ignore", invalid="ignore"):
        u = x / a if name == "celu" else x
        if order == 0:
            neg = lam * a * np.expm1(u)
            pos = lam * x
        else:
            neg = lam * a * np.exp(u) if name != "celu" else np.exp(u) / (a if order == 2 else 1.0)
            pos = np.full_like(x, lam if order == 1 else 0.0)
    return np.where(x > 0, pos, neg)


def f64_rel_err(name: str, order: int, x: np.ndarray, alpha: float) -> np.ndarray | float:
    """A bound on the relative error of ``f64_formula`` at x.

    F64_REL_ERR covers the roundings of the formula and of numpy's expm1/exp.
    CELU's derivatives are exp(u) at u = fl(x / alpha), and exp turns the
    rounding |u - x / alpha| <= |u| 2^-53 into a relative error of up to
    about |u| 2^-53, more than F64_REL_ERR once |u| nears 64; twice that is
    added. (CELU's value alpha expm1(u) is not affected: there the factor is
    |u exp(u) / expm1(u)| <= 1 for u <= 0. The elu/selu arguments are exact.)
    """
    if name == "celu" and order > 0:
        x = np.asarray(x, np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            u = np.abs(np.minimum(x, 0.0) / alpha)  # x > 0: the derivatives are exact constants
        return np.where(np.isfinite(u), F64_REL_ERR + 2 * u * 2.0**-53, F64_REL_ERR)
    return F64_REL_ERR


def correctly_rounded(name: str, order: int, x: np.ndarray, dtype, alpha: float = 1.0,
                      stats: dict | None = None) -> np.ndarray:
    """The correctly rounded ``dtype`` reference (as float64) at the ``dtype`` points x.

    If ``stats`` is given, ``stats["mpmath_points"]`` is increased by the
    number of points the float64 bound could not decide (recomputed in mpmath).
    """
    x = np.asarray(x, np.float64)
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        mpmath.mp.dps = 50
        return np.array([float(mp_formula(name, order, xi, alpha)) if np.isfinite(xi) else np.nan for xi in x])
    v = f64_formula(name, order, x, alpha)
    err = f64_rel_err(name, order, x, alpha)
    lo = round_to(v * (1 - err), dtype)
    hi = round_to(v * (1 + err), dtype)
    out = round_to(v, dtype)
    unsure = np.nonzero((lo != hi) & np.isfinite(v))[0]
    if stats is not None:
        stats["mpmath_points"] = stats.get("mpmath_points", 0) + int(unsure.size)
    if unsure.size:
        mpmath.mp.dps = 50
        for i in unsure:
            out[i] = round_exact(mp_formula(name, order, x[i], alpha), dtype)
    return out


def round_exact(exact: mpmath.mpf, dtype) -> float:
    """Round an mpmath value to ``dtype``: the nearest of three candidates."""
    c = to_ordinal(round_to(np.array([float(exact)]), dtype), dtype)[0]
    cands = from_ordinal(np.array([c - 1, c, c + 1]), dtype)
    errs = [abs(mpmath.mpf(float(v)) - exact) for v in cands]
    best = min(range(3), key=lambda k: errs[k])
    if errs[best] == errs[1]:  # an exact tie (only at trivial points): keep half-even
        best = 1
    return float(cands[best])


def float32_sample(seed: int = 0) -> np.ndarray:
    """Over 10^6 float32 points (as float64): log-uniform over the whole negative
    range, all of [-1e-3, 0) densely, the saturation of expm1 around -17.3, the
    underflow of exp around -87.3 to -104, and positive inputs."""
    rng = np.random.default_rng(seed)
    parts = [
        -np.exp(rng.uniform(np.log(1e-37), np.log(110.0), 500_000)),
        -rng.uniform(0.0, 1e-3, 250_000),
        -rng.uniform(16.0, 18.5, 150_000),
        -rng.uniform(85.0, 105.0, 50_000),
        -rng.uniform(0.0, 2.0, 50_000),
        np.exp(rng.uniform(np.log(1e-37), np.log(3e38), 50_000)),
    ]
    return np.concatenate(parts).astype(np.float32).astype(np.float64)


# --------------------------------------------------------------------------
# Measuring an implementation against the reference.

ALPHA = float(np.float32(1.7))  # a non-trivial alpha, exact in every dtype's compute type
CELU_ALPHA = float(np.float32(0.3))

# name -> (reference name, alpha, jelu function name, keyword arguments)
CASES = {
    "elu": ("elu", 1.0, "elu", {}),
    "elu(alpha=1.7)": ("elu", ALPHA, "elu", {"alpha": ALPHA}),
    "selu": ("selu", 1.0, "selu", {}),
    "celu": ("celu", 1.0, "celu", {}),
    "celu(alpha=0.3)": ("celu", CELU_ALPHA, "celu", {"alpha": CELU_ALPHA}),
}


def derivative(f, order: int):
    """The ``order``-th derivative of an elementwise f, by nested forward mode."""
    import jax
    import jax.numpy as jnp

    for _ in range(order):
        f = (lambda g: lambda x: jax.jvp(g, (x,), (jnp.ones_like(x),))[1])(f)
    return f


def measure(f, case: str, order: int, x: np.ndarray, dtype) -> dict:
    """ULP errors of ``derivative(f, order)`` on x (given as float64) in ``dtype``.

    Points whose input or correctly rounded result is subnormal are left out of
    the ULP figures and reported apart: XLA flushes subnormals to zero on CPU
    (and by default on GPU), so there a result of 0 is what the hardware gives.
    """
    import jax
    import jax.numpy as jnp

    name, alpha, _, _ = CASES[case]
    dtype = np.dtype(dtype)
    ref = correctly_rounded(name, order, x, dtype, alpha)
    y = np.asarray(jax.jit(derivative(f, order))(jnp.asarray(x.astype(dtype)))).astype(np.float64)
    return compare(x, y, ref, dtype)


def x_sized_residuals(f, args: tuple, shape: tuple) -> tuple[list[str], list]:
    """The arrays of ``shape`` that reverse mode through ``f(*args)`` keeps, counted two ways.

    1. ``jax.ad_checkpoint.print_saved_residuals`` prints one line per residual
       (e.g. ``f32[7,13] output of ...``): the lines whose shape is ``shape``.
    2. ``jax.vjp`` returns the pullback as a pytree whose leaves are the saved
       residuals: the leaves of that shape.

    Returns ``(lines, leaves)``; pick a ``shape`` no other residual can have.
    """
    import contextlib
    import io
    import re

    import jax
    from jax.ad_checkpoint import print_saved_residuals

    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        print_saved_residuals(f, *args)
    pattern = re.compile(r"^\s*\w+\[" + ",".join(map(str, shape)) + r"\]")
    lines = [line for line in text.getvalue().splitlines() if pattern.match(line)]
    _, pullback = jax.vjp(f, *args)
    leaves = [leaf for leaf in jax.tree_util.tree_leaves(pullback) if np.shape(leaf) == tuple(shape)]
    return lines, leaves


def compare(x: np.ndarray, y: np.ndarray, ref: np.ndarray, dtype) -> dict:
    """ULP figures of results y against correctly rounded ref at inputs x (all float64).

    The summary ``measure`` returns; subnormal inputs and results are left out
    of the ULP figures and counted apart (see ``measure``).
    """
    dtype = np.dtype(dtype)
    tiny = float(ml_dtypes.finfo(dtype).tiny)
    x, y, ref = (np.asarray(a, np.float64) for a in (x, y, ref))
    normal = ((np.abs(x) >= tiny) | (x == 0)) & ((np.abs(ref) >= tiny) | (ref == 0))
    u = ulp_distance(y[normal], ref[normal], dtype)
    sub = ~normal
    return {
        "max_ulp": int(u.max()) if u.size else 0,
        "not_correctly_rounded": int((u > 0).sum()),
        "points": int(u.size),
        "worst_x": float(x[normal][u.argmax()]) if u.size else None,
        "subnormal_points": int(sub.sum()),
        "subnormal_ok": bool(np.all((y[sub] == ref[sub]) | (y[sub] == 0) | (np.abs(y[sub]) < tiny) | (np.abs(x[sub]) < tiny))),
    }


# --------------------------------------------------------------------------
# Any alpha, and derivatives in alpha.
#
# ``correctly_rounded_any_alpha``: the value and first two x-derivatives of elu
# and celu for any alpha, with a per-point float64 error bound that accounts for
# the rounding of u = x / alpha (exp(u) amplifies it by |u|);
# ``celu_alpha_derivative``: d celu / d alpha = exp(u)(1 - u) - 1 and
# d^2 celu / d alpha^2 = exp(u) u^2 / alpha, without the cancellation of the
# textbook formula near x = 0; ``celu_partial``: any mixed partial derivative
# d^i/dx^i d^j/dalpha^j of celu in mpmath, from closed forms.

U53 = 2.0**-53


def as_alpha(alpha: float, dtype) -> float:
    """alpha as jelu computes with it: float32 for 16/32-bit x, float64 for float64 x."""
    return float(alpha) if np.dtype(dtype) == np.float64 else float(np.float32(alpha))


def _finish(v: np.ndarray, eps: np.ndarray, dtype, exact) -> np.ndarray:
    """Round float64 values ``v`` (relative error <= eps) to dtype; mpmath where unsure."""
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return np.array([float(exact(i)) for i in range(v.size)])
    with np.errstate(over="ignore", invalid="ignore"):
        lo = round_to(v * (1 - eps), dtype)
        hi = round_to(v * (1 + eps), dtype)
    out = round_to(v, dtype)
    unsure = np.nonzero((lo != hi) & np.isfinite(v))[0]
    for i in unsure:
        out[i] = round_exact(exact(i), dtype)
    return out


# --------------------------------------------------------------------------
# Value and x-derivatives for any alpha


def correctly_rounded_any_alpha(name: str, order: int, x: np.ndarray, dtype, alpha: float) -> np.ndarray:
    """The correctly rounded ``order``-th x-derivative of elu/celu at x, in ``dtype``.

    ``alpha`` is taken exactly as given (pass ``as_alpha(alpha, dtype)``).
    float64 error bound: 64 ULP for the library calls and products (as in
    :data:`F64_REL_ERR`) plus |u| * 2 ULP, since exp(u) turns the rounding of
    u = x / alpha into a relative error of |u| times it; |u| is capped at 800,
    beyond which exp(u) is 0 and expm1(u) is -1 in float64 and every target.
    Results beyond the largest finite value come back as +-inf.
    """
    assert name in ("elu", "celu")
    x = np.asarray(x, np.float64)
    a = float(alpha)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        u = x / a if name == "celu" else x
        neg = np.minimum(u, 0.0)
        if order == 0:
            v = np.where(x > 0, x, a * np.expm1(neg))
        elif name == "elu":
            v = np.where(x > 0, 1.0 if order == 1 else 0.0, a * np.exp(neg))
        else:
            v = np.where(x > 0, 1.0 if order == 1 else 0.0, np.exp(neg) / (a if order == 2 else 1.0))
        eps = 64 * U53 + 2 * U53 * np.minimum(np.abs(np.where(np.isfinite(u), u, 800.0)), 800.0)

    def exact(i):
        mpmath.mp.dps = 50
        return mp_formula(name, order, x[i], a)

    return _finish(v, eps, dtype, exact)


# --------------------------------------------------------------------------
# Derivatives of celu in alpha


def _mp_dps_for(u: mpmath.mpf) -> int:
    """Digits enough for exp(u)(1 - u) - 1 ~ -u^2/2 computed directly at small |u|."""
    if u == 0:
        return 30
    return 40 + max(0, int(-2 * float(mpmath.log10(abs(u)))))


def _mp_celu_dalpha(order: int, x: float, alpha: float) -> mpmath.mpf:
    """Exact d^order celu / d alpha^order (order 1 or 2) at x <= 0, in mpmath."""
    if x > 0:
        return mpmath.mpf(0)
    if math.isinf(x):
        return mpmath.mpf(-1 if order == 1 else 0)
    mpmath.mp.dps = 50
    u = mpmath.mpf(x) / mpmath.mpf(alpha)
    with mpmath.workdps(_mp_dps_for(u)):
        u = mpmath.mpf(x) / mpmath.mpf(alpha)
        if order == 1:
            r = mpmath.exp(u) * (1 - u) - 1
        else:
            r = mpmath.exp(u) * u * u / mpmath.mpf(alpha)
        return +r


# Taylor coefficients of (exp(u)(1 - u) - 1) / (-u^2) = sum_k (k + 1) / (k + 2)! u^k.
_SERIES = [(k + 1) / math.factorial(k + 2) for k in range(21)]


def f64_celu_dalpha1(u: np.ndarray) -> np.ndarray:
    """exp(u)(1 - u) - 1 for u <= 0 in float64, relative error < 2**-45.

    |u| <= 1/2: -u^2 p(u) with the series p above, by Horner (21 terms; the
    first omitted term is < 2**-80 p). The terms alternate and shrink, so
    p(u) >= 1/2 - |u|/3 >= 1/3 while sum |c_k u^k| <= 0.71: Horner's error is
    <= 42 * 0.71 / (1/3) ULP ~ 90 ULP; the two final products add 2, and the
    rounding of u itself (1 ULP) is amplified by u g'(u) / g(u) <= 3.
    |u| > 1/2: p = exp(u)(1 - u) <= 0.91 has error <= 6 ULP (exp within 4),
    and p - 1 <= -0.09 amplifies that by at most 0.91 / 0.09 ~ 10: < 70 ULP,
    plus at most 1.7 ULP from u. Both are far below 2**-45.
    """
    u = np.asarray(u, np.float64)
    small = np.abs(u) <= 0.5
    us = np.where(small, u, 0.0)
    p = np.full_like(us, _SERIES[-1])
    for c in reversed(_SERIES[:-1]):
        p = p * us + c
    with np.errstate(under="ignore"):
        series = -(us * us) * p
        direct = np.exp(np.where(small, -1.0, u)) * (1.0 - u) - 1.0
    return np.where(small, series, direct)


def celu_alpha_derivative(order: int, x: np.ndarray, alpha: float, dtype) -> np.ndarray:
    """Correctly rounded d^order celu / d alpha^order (order 1 or 2) at x, in dtype.

    ``alpha`` exactly as given. 0 for x > 0; -1 (order 1) and 0 (order 2) at
    x = -inf. Order 2 is exp(u) u^2 / alpha: products only, float64 error
    <= 10 ULP plus |u + 2| ULP from the rounding of u; the bound used,
    2**-40 (order 1) and 2**-40 + 4 |u| ULP (order 2), is generous.
    float64 targets use mpmath at every point.
    """
    assert order in (1, 2)
    x = np.asarray(x, np.float64)
    a = float(alpha)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        u = np.where(x > 0, 0.0, x / a)
        if order == 1:
            v = f64_celu_dalpha1(np.where(np.isfinite(u), u, -1e4))
            v = np.where(np.isneginf(u), -1.0, v)
            eps = np.full_like(v, 2.0**-40)
        else:
            ue = np.where(np.isfinite(u), u, -1e4)
            v = np.exp(ue) * ue * ue / a
            eps = 2.0**-40 + 4 * U53 * np.minimum(np.abs(ue), 1e4)
        v = np.where(x > 0, 0.0, v)

    def exact(i):
        return _mp_celu_dalpha(order, x[i], a)

    return _finish(v, eps, dtype, exact)


# --------------------------------------------------------------------------
# Any mixed partial derivative of celu, in mpmath


def _alpha_derivative_terms(power: int, j: int) -> dict:
    """d^j/dalpha^j of alpha^power exp(x/alpha) as {(m, n): c}: sum c alpha^m x^n exp(x/alpha).

    Uses d/dalpha [alpha^m x^n e^(x/alpha)] = (m alpha^(m-1) x^n - alpha^(m-2) x^(n+1)) e^(x/alpha).
    """
    terms = {(power, 0): 1}
    for _ in range(j):
        new: dict = {}
        for (m, n), c in terms.items():
            if m != 0:
                new[(m - 1, n)] = new.get((m - 1, n), 0) + c * m
            new[(m - 2, n + 1)] = new.get((m - 2, n + 1), 0) - c
        terms = {k: c for k, c in new.items() if c != 0}
    return terms


def celu_partial(i: int, j: int, x: float, alpha: float) -> mpmath.mpf:
    """d^i/dx^i d^j/dalpha^j celu(x, alpha), exact, as an mpmath number (may be +inf).

    For x <= 0, celu = alpha exp(x/alpha) - alpha and d^i/dx^i of it is
    alpha^(1-i) exp(x/alpha) for i >= 1; its alpha-derivatives come from
    ``_alpha_derivative_terms``. At x = 0 this is the x <= 0 side, as jelu and
    jax.nn take it. At x = -inf every exp term vanishes (exp beats any
    polynomial): the value is -alpha, d/dalpha is -1, the rest 0. For x > 0
    the function is x: 1 for (i, j) = (1, 0), 0 for other (i, j) != (0, 0).
    """
    if x > 0:
        if (i, j) == (0, 0):
            return mpmath.mpf(x)  # mpf(inf) is +inf
        return mpmath.mpf(1 if (i, j) == (1, 0) else 0)
    const = {(0, 0): -alpha, (0, 1): -1.0}.get((i, j), 0.0) if i == 0 else 0.0
    if math.isinf(x):
        return mpmath.mpf(const)
    mpmath.mp.dps = 50
    xa = mpmath.mpf(x)
    aa = mpmath.mpf(alpha)
    u = xa / aa
    with mpmath.workdps(_mp_dps_for(u) + 20):
        xa, aa = mpmath.mpf(x), mpmath.mpf(alpha)
        e = mpmath.exp(xa / aa)
        total = mpmath.mpf(const)
        for (m, n), c in _alpha_derivative_terms(1 - i, j).items():
            total += c * aa**m * xa**n * e
        return +total
