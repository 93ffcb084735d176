"""Correctly rounded references for arbitrary alpha and for derivatives in alpha.

Extends tests/reference.py (whose rounding helpers it reuses) with

* ``correctly_rounded_any_alpha``: the value and first two x-derivatives of elu
  and celu for any alpha, with a per-point float64 error bound that accounts
  for the rounding of ``u = x / alpha`` (exp(u) amplifies it by |u|);
* ``celu_alpha_derivative``: d celu / d alpha = exp(u)(1 - u) - 1 and
  d^2 celu / d alpha^2 = exp(u) u^2 / alpha, u = x / alpha, correctly rounded
  to bfloat16, float16, float32 or float64, without the cancellation of the
  textbook formula near x = 0;
* ``celu_partial``: any mixed partial derivative d^i/dx^i d^j/dalpha^j of celu
  in mpmath, from closed forms (limits at x = -inf and x = +inf included).

Every reference is computed in float64 with a proven relative error bound and
rounded once to the target dtype; points where the float64 interval
straddles a rounding boundary are recomputed with mpmath at a precision high
enough for the cancellation at that point. The code under test is never used.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np

from reference import _mp_formula, _round_exact, round_to

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
        out[i] = _round_exact(exact(i), dtype)
    return out


# --------------------------------------------------------------------------
# Value and x-derivatives for any alpha


def correctly_rounded_any_alpha(name: str, order: int, x: np.ndarray, dtype, alpha: float) -> np.ndarray:
    """The correctly rounded ``order``-th x-derivative of elu/celu at x, in ``dtype``.

    ``alpha`` is taken exactly as given (pass ``as_alpha(alpha, dtype)``).
    float64 error bound: 64 ULP for the library calls and products (as in
    reference.py) plus |u| * 2 ULP, since exp(u) turns the rounding of
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
        return _mp_formula(name, order, x[i], a)

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


__all__ = [
    "as_alpha",
    "celu_alpha_derivative",
    "celu_partial",
    "correctly_rounded_any_alpha",
    "f64_celu_dalpha1",
]
