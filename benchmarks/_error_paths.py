"""Part of ``python -m benchmarks.error_budget``: jelu's kernel re-traced, path by path.

First the kernel's constants as bounds: the reach R of the reduced argument r
(:func:`reach`), celu's argument x/alpha (:func:`celu_argument`) and the
relative errors of the double-word multipliers (:func:`multipliers`), with
the facts that make some operations exact asserted (:func:`checks`). Then
the kernel, operation by operation on :class:`~benchmarks._error_rules.Traced`
values, for each path of :data:`PATHS`: each function returns ``(bound,
terms)`` in ULPs of the exact result for one piece of r and one range of k.
The derivation is in ``error_budget``'s module docstring; ``F`` is a
:class:`~benchmarks._error_rules.Format`.
"""

from __future__ import annotations

import functools
import math
from decimal import Decimal
from fractions import Fraction
from typing import Any, NamedTuple

import mpmath
import numpy as np
from mpmath import iv

from benchmarks import fit_poly
from benchmarks._error_rules import (LN2, Format, Traced, endpoints, exp_enclosure, expm1_enclosure, magnitude,
                                     merge, mignitude, mpf, operation, rational_interval, round_up, total,
                                     traced)
from jelu import _constants as consts
from jelu import _multiplier as mult

PATHS = {
    "a.value": "elu, alpha 1 or a static power of two (celu too): value by expm1_fast",
    "a.fprime": "elu, alpha 1 or 2^e: f' (and f'') = exp() rounded, times 2^k 2^e",
    "b.value": "elu alpha, selu lambda*alpha: c expm1(x), expm1() double word, _dw_mul",
    "b.fprime": "elu alpha, selu: f' = c exp(x), exp() double word, _dw_mul, 2^k",
    "c.value": "selu, x > 0: lambda x (_selu_positive)",
    "d.value": "celu, alpha not a power of two: alpha expm1(x/alpha)",
    "d.fprime": "celu: f' = exp(x/alpha), exp() rounded",
    "d.fsecond": "celu: f'' = exp(x/alpha)/alpha, exp() double word, _dw_mul by 1/alpha",
}


# ---- constants: the reach of r, celu's argument, the multipliers ------------------
def u_max(F: Format):
    """|u| at the clamps: elu's xmin - 101 ln2 (largest alpha), celu's celu_min."""
    return max(abs(F.constants.xmin) + 101 * math.log(2), abs(F.constants.celu_min))


def ln2_lo_error(F: Format):
    """|ln2_lo - (ln2 - ln2_hi)|."""
    return magnitude(LN2 - iv.mpf(F.kernel_float(F.constants.ln2_hi)) - iv.mpf(F.kernel_float(F.constants.ln2_lo)))


def residual_error(F: Format, u_bound, a_bound, d_bound):
    """_residual(x, u, split(a)) = (((x - u1 a1) - u1 a2) - u2 a1) - u2 a2 for |u| <= u_bound,
    1 <= a <= a_bound, |x - u a| <= d_bound: products of split halves exact, x - u1 a1 exact
    (Sterbenz, ``checks``); the other three bounded as rounded (exactness is not proved)."""
    b, u = F.beta, F.u
    error2 = u * (b * u_bound * a_bound * (1 + b) + b * u_bound * b * a_bound + d_bound)  # |u2 a1 + u2 a2 + d|
    error3 = u * (b * u_bound * b * a_bound + d_bound + error2)
    return error2 + error3 + u * (d_bound + error2 + error3)


class CeluArgument(NamedTuple):
    """|x/alpha - (u + u_lo)| <= eta |v| + tiny; |u_lo| <= u_lo |v| + tiny."""

    eta: Any
    u_lo: Any
    tiny: Any


@functools.lru_cache(maxsize=None)
def celu_argument(F: Format) -> CeluArgument:
    """_celu_arg: y = x 2^-e (exact where |u| >= 2^-(p+1)), v = y/m. inv.hi = RN(2/m), d1
    covering a static float32 alpha's double rounding through float64; u = opaque(RN(y inv.hi)
    / 2): |u - v| <= gamma |v|; u_lo = opaque(d inv.hi / 2), d = y - u m (residual_error)."""
    u = F.u
    d1 = u + (mpf(2) ** -53 if F.p == 24 else 0)
    gamma = (1 + d1) * (1 + u) * (1 + 2 * u) - 1
    tau = residual_error(F, 1 + gamma, 2, 2 * gamma)  # relative to |v| (m < 2)
    opaque_error = 3 * u * (1 + u)
    eta = tau * (1 + d1) + gamma * d1 + opaque_error * (gamma + tau) * (1 + d1)
    return CeluArgument(eta, (gamma + tau) * (1 + d1) * (1 + opaque_error), mpmath.ldexp(1, F.emin + 3))


@functools.lru_cache(maxsize=None)
def reach(F: Format) -> float:
    """R >= |r|, |r_true|: k = round(t), t = opaque(u INV_LN2) (1.5 ulp; INV_LN2 rounded), so
    |u - k ln2| <= ln2/2 + ln2 |t - u/ln2|; plus celu's u_lo, r's rounding, lo's error."""
    u_bound, inv_ln2 = u_max(F), iv.mpf(F.kernel_float(consts.INV_LN2))
    t_error = u_bound * abs(inv_ln2 - 1 / LN2) + 3 * F.half_ulp(u_bound * magnitude(inv_ln2) * (1 + F.u))
    k_abs = math.ceil(u_bound / math.log(2)) + 1
    extra = (celu_argument(F).u_lo * abs(F.constants.celu_min) + 2 * F.half_ulp(0.5)
             + k_abs * ln2_lo_error(F) + 3 * F.half_ulp(k_abs * F.constants.ln2_lo * 2))
    return fit_poly.float_up(magnitude(LN2 / 2 + LN2 * t_error + extra))


def double_word_multiply_error(F: Format, kappa, kappa2, rest, hi, c1):
    """Relative error of _dw_mul(a, c, rounded=True) = a1 c1 + (a2 c1 + (opaque(a_hi rest) +
    opaque(a_lo c.hi))) before its final rounding; a1 c1, a2 c1 exact (split halves),
    |a2| <= beta |a_hi|, |a_lo| <= u |a_hi| (Fast2Sum outputs), rest = c2 (+ c.lo, rounded).
    Relative to C: kappa = |C - c1 - rest| (a_hi's multiplier), kappa2 = |C - c.hi| (a_lo's),
    rest, hi, c1 = bounds on |rest|, |c.hi|, |c1|."""
    u, opaque_error = F.u, 3 * F.u * (1 + F.u)
    t = rest + u * hi  # |P1| + |P2| <= (1 + opaque_error) t |A C| / (1 - u)
    return ((kappa + u * kappa2) + opaque_error * t + u * (1 + opaque_error) * t
            + u * (F.beta * c1 + (1 + u) * (1 + opaque_error) * t)) / (1 - u)


@functools.lru_cache(maxsize=None)
def multipliers(F: Format) -> dict:
    """The relative error of each double-word multiplier: by alpha, by selu's lambda alpha, by 1/alpha."""
    u, b = F.u, F.beta
    out = {"alpha": double_word_multiply_error(F, 0, 0, b, 1, 1 + b)}  # C = m = c1 + c2 exactly (lo None)
    # selu: the kernel's hi, lo, halves, rest
    c = mult.constant_multiplier(consts.SELU_SCALE_ALPHA_DIGITS, F.constants.dtype)
    C = Fraction(Decimal(consts.SELU_SCALE_ALPHA_DIGITS))  # the 32 digits, taken as exact
    hi, lo, c1 = (Fraction(float(v)) for v in (c.hi, c.lo, c.parts[0]))
    rest = Fraction(float(np.asarray(c.parts[1] + c.lo, F.constants.dtype)))
    relative = [abs(q) / C for q in (C - c1 - rest, C - hi, rest, hi, c1)]
    out["selu"] = double_word_multiply_error(F, *(magnitude(rational_interval(q)) for q in relative))
    # 1/alpha: C = 2/m in (1, 2]; |inv.hi - C| <= d1 C; inv.lo = RN(residual(2, inv.hi) / m), or
    # a Fraction rounded (d1: double rounding); rest = RN(c2 + lo).
    d1 = u + mpf(2) ** -53
    tau = residual_error(F, 2 * (1 + d1), 2, 2 * d1)
    lo_max = (d1 + tau) * (1 + d1)
    kappa = d1 * lo_max + tau + u * (b * (1 + d1) + lo_max)
    out["inv"] = double_word_multiply_error(F, kappa, d1 / (1 - d1), (b * (1 + d1) + lo_max) * (1 + u), 1 + d1,
                                            (1 + b) * (1 + d1))
    return out


def checks(F: Format, k_min: int) -> None:
    """Asserted: k ln2_hi is exact (bits); for k != 0, |u| > 1/4 so u and k ln2_hi are multiples
    of 2^-(p+1) and |hi| < 1/2: hi = u - k ln2_hi is exact; the shifter 1.5 2^(p-1) rounds
    |t| < 2^(p-2); _residual's x - u1 a1 is a Sterbenz subtraction (celu's u, and 1/alpha)."""
    hi = Fraction(F.kernel_float(F.constants.ln2_hi))
    assert hi.numerator.bit_length() + (-k_min).bit_length() <= F.p and hi.denominator <= 2 ** (F.p + 1)
    assert reach(F) + (-k_min) * F.kernel_float(F.constants.ln2_lo) * 1.01 < 0.5
    assert math.log(2) / 2 - 1e-4 > 0.25
    assert u_max(F) * 1.45 < 2 ** (F.p - 2)
    for gamma in (2 * F.u + 2 * celu_argument(F).u_lo, F.u + 2.0**-52):  # |u a / x - 1| <= gamma
        assert 0.5 < (1 - F.beta) ** 2 * (1 - gamma) and (1 + F.beta) ** 2 * (1 + gamma) < 2


# ---- the kernel, re-traced ---------------------------------------------------------
class Reduction(NamedTuple):
    """_reduce's outputs over a piece of r, and how far its model is from expm1."""

    square: Traced  # _reduce's square, ideal r^2 (1/2 + r p(r))
    small: Traced | None  # small, ideal r_err (1 + r); None where it is 0 exactly
    model: dict  # |ideal square + small - (expm1(r_true) - r)|, by term
    rho: Any  # |r_true - r|
    delta: Any  # celu: |x/alpha - (u + u_lo)|


@functools.lru_cache(maxsize=None)
def polynomial_bound(F: Format, r_max: float) -> float:
    """fit_poly's rigorous bound B on the polynomial's relative error over |r| <= r_max."""
    return fit_poly.rigorous_bound(F.constants.poly, F.name, r_max)


@functools.lru_cache(maxsize=None)
def polynomial_square(F: Format, a, b) -> tuple[Traced, Any]:
    """_reduce's square for r in [a, b], and the polynomial's error (fit_poly) as a bound."""
    r = traced([a, b])
    q = traced(F.kernel_float(F.constants.poly[0]))  # Horner: q = opaque(q r) + coef
    for coefficient in F.constants.poly[1:]:
        q = operation(F, "nearest", "horner", operation(F, "opaque", "horner", q, r, "*"),
                      traced(F.kernel_float(coefficient)))
    h = operation(F, "nearest", "square", traced(0.5),
                  operation(F, "opaque", "square", r, q, "*"))  # 1/2 + opaque(r q)
    square = operation(F, "nearest", "square", operation(F, "nearest", "square", r, r, "*"), h, "*")  # (r r) h
    B = polynomial_bound(F, reach(F) if max(-a, b) > 2.0 ** -(F.p + 2) else 2.0 ** -(F.p + 2))
    return square, iv.mpf(B * magnitude(expm1_enclosure(a, b)))


@functools.lru_cache(maxsize=None)
def reduction(F: Format, a, b, k_abs: int, argument: CeluArgument | None) -> Reduction:
    """_reduce for |k| <= k_abs and computed r in [a, b]; r_true = u (+ u_lo) - k ln2.
    k = 0 without u_lo: hi = u, lo = 0, r = u, r_err = 0, small = 0, all exactly."""
    r_interval, r_max = iv.mpf([a, b]), max(-a, b)
    r = Traced(r_interval, {})
    square, polynomial_error = polynomial_square(F, a, b)
    model = {"poly (fit_poly)": polynomial_error}
    v_max = k_abs * magnitude(LN2) + r_max
    delta = 0 if argument is None else argument.eta * v_max + argument.tiny
    if k_abs == 0 and argument is None:
        return Reduction(square, None, model, mpf(0), delta)
    r_half_ulp = F.half_ulp(r_max)  # r = RN(hi - lo), so r_err (exactly hi - lo - r) is at most ulp(r)/2
    lo_max = k_abs * F.kernel_float(F.constants.ln2_lo) * (1 + 4 * F.u)
    # lo = opaque(k ln2_lo): |lo - k (ln2 - ln2_hi)| <= |k| |ln2_lo's error| + 1.5 ulp (opaque)
    lam = k_abs * ln2_lo_error(F) + 3 * F.half_ulp(lo_max) if k_abs else mpf(0)
    if argument is not None:  # lo - u_lo: rounded (0 - u_lo, exact, for k = 0)
        u_lo = argument.u_lo * v_max + argument.tiny
        lam, lo_max = lam + (F.half_ulp(lo_max + u_lo) if k_abs else 0), lo_max + u_lo
    # r, r_err = Fast2Sum(hi, -lo): r_err is exact if |hi| >= |lo| (|hi| >= |r| - |r_err| - |lo|),
    # else RN(hi - r) and RN(. - lo) round (|hi - r| <= |lo| + |r_err|)
    fast2sum_error = (0 if mignitude(r_interval) - r_half_ulp >= 2 * lo_max else
                      F.half_ulp(lo_max + r_half_ulp) + F.half_ulp(r_half_ulp + F.half_ulp(lo_max + r_half_ulp)))
    rho = r_half_ulp + lam
    r_err = traced([-r_half_ulp, r_half_ulp], {"reduction": iv.mpf(fast2sum_error)})
    small = operation(F, "nearest", "reduction", r_err,
                      operation(F, "opaque", "reduction", r_err, r, "*"))  # r_err + opaque(r_err r)
    # expm1(r + rho) - expm1(r) - r_err (1 + r) = lam' (1 + r) + rho (e^r - 1 - r) + e^r (e^rho - 1 - rho),
    # rho = r_err + lam', |lam'| <= lam; |e^t - 1 - t| <= t^2/2 e^max(t, 0)
    exp_r = magnitude(exp_enclosure(a, b))
    model["reduction"] = iv.mpf(lam * (1 + r_max) + rho * r_max**2 / 2 * max(exp_r, 1)
                                + exp_r * rho**2 / 2 * mpmath.e**rho)
    return Reduction(square, small, model, rho, delta)


def tail(F: Format, reduced: Reduction) -> Traced:
    """_Parts.tail = opaque(square) + small (+ 0, exactly, for small = 0)."""
    t = operation(F, "cleared", "opaque(square)", reduced.square)
    return t if reduced.small is None else operation(F, "nearest", "tail sum", t, reduced.small)


def finish(F: Format, errors: dict, f, exact_ulp: bool, multiplier_error=None, low_a=None):
    """(bound, terms) in ULPs from ``errors`` (|z - f| by term) and f's enclosure; a multiplier
    adds its relative error (and 4 partial products' underflow, relative to |A| >= low_a)."""
    if multiplier_error is not None:
        errors = merge(errors, {
            "dw_mul": iv.mpf(multiplier_error) * (iv.mpf(magnitude(f)) + total(errors)),
            "underflow": iv.mpf(4 * mpmath.ldexp(1, F.emin) / low_a * magnitude(f))})
    ulp_f = 2 * F.half_ulp(mignitude(f)) if exact_ulp else mignitude(f) * F.u
    error_total = magnitude(total(errors))
    assert 0 < ulp_f and error_total < ulp_f, (F.name, error_total, ulp_f)
    return (round_up(mpf(round_up(iv.mpf(error_total) / ulp_f)) + 0.5),
            {key: float(magnitude(v) / ulp_f) for key, v in errors.items() if magnitude(v) > 0})


def scale_interval(F: Format, k_range):
    """s = 2^max(k, emin) for k in k_range = (k_min, k_max)."""
    return iv.mpf([mpmath.ldexp(1, max(k_range[0], F.emin)), mpmath.ldexp(1, k_range[1])])


def scaled_expm1(r_interval, k_range, widen):
    """2^k e^r - 1 for k in k_range, r within ``widen`` of r_interval (increasing in both)."""
    a, b = endpoints(r_interval)
    if k_range == (0, 0):
        return expm1_enclosure(a - widen, b + widen)
    lower = iv.mpf(mpmath.ldexp(1, k_range[0])) * exp_enclosure(a - widen, a - widen) - 1
    return iv.mpf([lower.a, (iv.mpf(mpmath.ldexp(1, k_range[1])) * exp_enclosure(b + widen, b + widen) - 1).b])


def a_value(F: Format, r_interval, k_range):
    """expm1_fast = s (r + tail) + (s - 1), s = 2^k, -p <= k <= 0: k = 0, RN(r + tail) is
    the final rounding; else t1 = RN(r + tail), s t1 a power of two times t1, s - 1 exact
    (p bits), and RN(s t1 + (s - 1)) the final rounding."""
    reduced = reduction(F, *endpoints(r_interval), -k_range[0], None)
    t = tail(F, reduced)
    if k_range == (0, 0):
        return finish(F, merge(t.errors, reduced.model), expm1_enclosure(*endpoints(r_interval)), True)
    assert k_range[0] >= -F.p
    s = scale_interval(F, k_range)
    s_t1 = operation(F, "exact", "underflow", traced(s),
                     operation(F, "nearest", "t1 = r + tail", traced(r_interval), t), "*")
    return finish(F, merge(s_t1.errors, merge(reduced.model, scale=iv.mpf(magnitude(s)))),
                  scaled_expm1(r_interval, k_range, reduced.rho), True)


def a_value_deep(F: Format):
    """k <= -(p+1): s - 1 = RN(2^k - 1) = -1 (a tie to even at k = -(p+1)) and |s t1| <= 2^-(p+1)
    (e^R - 1) < 2^-(p+2), a quarter of the spacing beyond -1: the result is -1 exactly, f =
    -1 + 2^k e^r_true, an error 2^k e^r_true <= 2^-(p+1) e^R, in ulps 2^-p (|f| in (1/2, 1))."""
    assert math.exp(reach(F)) - 1 < 0.5
    return round_up(iv.exp(iv.mpf(reach(F))) / 2), {"-1 exactly": 0.0}


def fprime(F: Format, r_interval, k_abs, argument=None, multiplier_error=None):
    """exp(): g, g_err = Fast2Sum(1, r) (exact: |r| < 1); w = RN(g_err + tail); (hi, lo) =
    Fast2Sum(g, w), |g| >= |w| checked; hi + lo - e^r_true = w - g_err - (e^r_true - 1 - r).
    No multiplier: hi = RN(g + w) is the final rounding (then 2^k 2^e exactly); else _dw_mul."""
    a, b = endpoints(r_interval)
    reduced = reduction(F, a, b, k_abs, argument)
    w = operation(F, "nearest", "w = g_err + tail", traced([-F.half_ulp(1 + b), F.half_ulp(1 + b)]),
                  tail(F, reduced))
    assert mignitude(1 + r_interval) - F.half_ulp(2) >= magnitude(w.ideal) + magnitude(total(w.errors))
    errors = merge(w.errors, reduced.model)
    f = exp_enclosure(a - reduced.rho - reduced.delta, b + reduced.rho + reduced.delta)
    if argument is not None:  # exp at u + u_lo, not x/alpha
        errors["argument x/alpha"] = iv.mpf(magnitude(f) * mpmath.expm1(reduced.delta * (1 + F.u)))
    return finish(F, errors, f, multiplier_error is None, multiplier_error, mignitude(f))


def value_double_word(F: Format, r_interval, k_range, argument=None, multiplier_error=None):
    """expm1(): a, a_err = Fast2Sum(-1, s) (a + a_err = s - 1; a_err = 0 for k >= -p);
    hi, err = Fast2Sum(a, s r) (a = 0 for k = 0, else |a| >= 1/2 > |s r|); t = RN(s square +
    RN(s small + RN(err + a_err))) (s x exact, + 0 exact); Fast2Sum(hi, t) (|hi| >= |t| checked);
    hi + t - expm1(v) = t - err - a_err - s (expm1(r_true) - r). Then 2^64 (exact) and
    _dw_mul(rounded=True) by C; no multiplier: hi's RN(hi + t) (not a kernel path: the proposed fix)."""
    k_min = k_range[0]
    reduced = reduction(F, *endpoints(r_interval), -k_min, argument)
    s = scale_interval(F, k_range)
    a_err = F.half_ulp(magnitude(s - 1)) if k_min < -F.p else 0
    s_r = operation(F, "exact", "underflow", traced(s), traced(r_interval), "*")
    hi_ideal, s_r_error = s - 1 + s_r.ideal, magnitude(total(s_r.errors))
    assert k_range == (0, 0) or mignitude(s - 1) - a_err >= magnitude(s_r.ideal) + s_r_error
    t = None
    if k_min < 0:
        err = F.half_ulp(magnitude(hi_ideal) + a_err + s_r_error)
        t = operation(F, "nearest", "dw sums", traced([-err, err]), traced([-a_err, a_err]))
    for part in (reduced.small, reduced.square):
        if part is not None:
            scaled = operation(F, "exact", "underflow", traced(s), part, "*")
            t = scaled if t is None else operation(F, "nearest", "dw sums", scaled, t)
    assert (mignitude(hi_ideal) - a_err - s_r_error - F.half_ulp(magnitude(hi_ideal) + a_err)
            >= magnitude(t.ideal) + magnitude(total(t.errors)))
    errors = merge(t.errors, merge(reduced.model, scale=iv.mpf(magnitude(s))))
    f = scaled_expm1(r_interval, k_range, reduced.rho + reduced.delta)
    if k_min < F.emin:  # s = 2^emin, not 2^k: both give -1 + (below 2^emin e^r)
        errors["clamp of s"] = iv.mpf(mpmath.ldexp(1, F.emin + 1))
    if argument is not None:  # expm1 at u + u_lo: |v e^v| <= |expm1(v)| for v <= 0
        errors["argument x/alpha"] = iv.mpf(magnitude(f) * argument.eta * mpmath.e**reduced.delta)
    return finish(F, errors, f, multiplier_error is None, multiplier_error, mignitude(f) * mpf(2) ** 64)


def c_value(F: Format):
    """selu, x > 0: x1 c1 + ((x1 - x)(-c1) + opaque(x rest)), lambda ~ c1 + c2 + lo, rest =
    RN(c2 + lo): x1 - x = -x2 exact (the split's low part), x2 c1 and x1 c1 exact (halves),
    the inner sum rn, the outer sum the final rounding; tiny x scaled by 2^64 and back exactly."""
    c = mult.constant_multiplier(consts.SELU_SCALE_DIGITS, F.constants.dtype)
    lam = Fraction(Decimal(consts.SELU_SCALE_DIGITS))
    c1 = Fraction(float(c.parts[0]))
    rest = Fraction(float(np.asarray(c.parts[1] + c.lo, F.constants.dtype)))
    kappa, rest_relative, c1_relative = (magnitude(rational_interval(abs(q) / lam))
                                         for q in (lam - c1 - rest, rest, c1))
    opaque_error = 3 * F.u * (1 + F.u)
    terms = {"constant": kappa, "opaque(x rest)": opaque_error * rest_relative,
             "inner sum": F.u * (F.beta * c1_relative + rest_relative * (1 + opaque_error))}
    return (round_up(round_up(sum(terms.values()) * 2**F.p) + mpf(0.5)),
            {key: float(v * 2**F.p) for key, v in terms.items()})
