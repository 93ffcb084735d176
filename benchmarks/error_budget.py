"""A derived (not measured) error bound, in ULPs, for each path of jelu's kernel.

Run from the repository root::

    python -m benchmarks.error_budget [--out DIR] [--pieces N]

prints a markdown report and writes it to
``benchmarks/results/error_budget-<kind>.md`` (``--out DIR`` for another
folder; the bounds do not depend on the machine, the name follows the
folder's convention); ``bounds()`` returns ``{(path, dtype): bound}`` (paths: ``PATHS``).

What is bounded. For each path and compute dtype (float32: p = 24, u = 2^-24;
float64: p = 53, u = 2^-53): ``E = |z - f|``, z the kernel's result before its
final rounding and f the exact function; then ``|RN(z) - f| <= E + ulp(f)/2``,
valid when E < ulp(f) (asserted): a z in a higher binade than f is within E <
ulp(f) of the power of two between them and rounds to it; in a lower one, ulp(z)
is smaller.
ULPs are those of the exact f: exact where its binade is known (2^k e^r), else
the worst case ``ulp(c y) >= 2^-p |c y|`` for a multiplier c (paths b, d).

How. ``u = k ln2 + r``. For each k (one by one near 0, in groups below, a group
taking its largest |k| where |k| matters) and each piece of the computed r, the
kernel is re-traced operation by operation on ``V(x, e)``: x an mpmath.iv
interval enclosing the *ideal* value (exact arithmetic on exact inputs), e a
bound on |computed - ideal|, kept per term so that the report names the
dominant ones. Rules (``rnd``), M >= |z|, z the exact result of the operation
on its computed inputs (ulp is nondecreasing in |z|):

* rn: ``|RN(z) - z| <= ulp(M)/2``;
* op: ``_opaque`` of a rounded product, ``<= 1.5 ulp(RN(z)) <= 1.5 ulp(M (1 + u))``;
* clr: ``_opaque`` of a float (lowest bit cleared), ``<= 1 ulp(M)``;
* rn, op, clr: also ``<= |z|`` (+ ulp(M)/2 for op): the result lies between 0 and RN(z);
* exact, with the reason at the call: power-of-two scaling; products of split
  halves (12 + 12 <= 24 bits, 26 + 26 <= 53); Sterbenz; Fast2Sum error terms
  (precondition checked on each piece); k ln2_hi and u - k ln2_hi (``checks``);
* underflow: where |z| may be below 2^emin, ``min(M, 2^emin)`` (flush to zero
  or gradual underflow);
* propagation: ``|a'b' - ab| <= |a| e_b + |b| e_a + e_a e_b``; sums add errors.

exp and expm1 of a piece come from its end points (monotone; iv.exp, or Taylor
with remainder near 0). The polynomial's error, ``|r + r^2/2 + r^3 p(r) -
expm1(r)| <= B |expm1(r)|``, is fit_poly.rigorous_bound over the reach R of r
(``reach``; over |r| <= 2^-(p+2) near 0, where it is ~r^2).

Tiny x: the k = 0 pieces are binades (in 8 or 2 pieces) down to 2^-(p+2), then
8 binades at a time down to 2^emin, and the underflow rule covers r^2 or r_err r
underflowing (both far below ulp(r); elu(x) = x below |x| ~ 2^-(p+2), correctly
rounded). celu selects x where |x/alpha| < 2^-(p+1): then |f - x| <= |x| |u|/2,
below a quarter of the spacing around x: correctly rounded. Subnormal inputs
or results are outside the claim; a 16-bit result is in it wherever its
float32 result is normal (float16 subnormals included).
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from decimal import Decimal
from fractions import Fraction
from typing import Any, NamedTuple

import mpmath
import numpy as np
from mpmath import iv

from benchmarks import _common, fit_poly
from jelu import _constants as consts
from jelu import _multiplier as mult
from jelu.activations import ALPHA_RANGE

SCRIPT = "error_budget"
mpf = mpmath.mpf


@contextlib.contextmanager
def precision():
    """mp.prec 400 > iv.prec 160 (interval end points convert exactly), restored after."""
    saved = mpmath.mp.prec, iv.prec
    mpmath.mp.prec, iv.prec = 400, 160
    try:
        yield
    finally:
        mpmath.mp.prec, iv.prec = saved


with precision():
    ZERO, LN2 = iv.mpf(0), iv.log(2)
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


class Fmt(NamedTuple):
    name: str
    p: int  # precision, implicit bit included
    emin: int  # smallest normal exponent
    beta: float  # _split: |lo| <= beta |v|, |hi| <= (1 + beta) |v| (12-bit truncation; 26-bit rounding)
    k: Any  # the kernel's constants

    @property
    def u(self):
        return mpf(2) ** -self.p

    def hu(self, M):  # ulp(M)/2, at least half the subnormal spacing (0 for M = 0)
        return mpf(0) if M == 0 else mpmath.ldexp(1, max(mpmath.frexp(M)[1] - 1, self.emin) - self.p)

    def fx(self, v) -> float:  # v as the kernel rounds it (exact as a Python float)
        return float(np.asarray(v, self.k.dtype))


F32 = Fmt("float32", 24, -126, 2.0**-11, consts.F32)
F64 = Fmt("float64", 53, -1022, 2.0**-26, consts.F64)


def up(x) -> float:
    """A float >= x (an mpf, or an interval's upper end) + 2^-100 relative: the bounds' few
    hundred non-interval mpf operations (400 bits, to nearest) cost far less."""
    return fit_poly._float_up(mpf(x.b if hasattr(x, "b") else x) * (1 + mpf(2) ** -100))


def ivq(q: Fraction):  # an interval enclosing the rational q
    return iv.mpf(q.numerator) / iv.mpf(q.denominator)


def lohi(x):
    return mpf(x.a), mpf(x.b)


def mag(x):  # sup |x|
    a, b = lohi(x)
    return max(-a, b)


def mig(x):  # inf |x|
    a, b = lohi(x)
    return mpf(0) if a <= 0 <= b else min(abs(a), abs(b))


def merge(*es: dict, scale=None) -> dict:
    out: dict = {}
    for e in es:
        for key, v in e.items():
            out[key] = out.get(key, ZERO) + (v if scale is None else v * scale)
    return out


def total(e: dict):
    return sum(e.values(), ZERO)


class V(NamedTuple):
    x: Any  # interval enclosing the ideal value over the piece
    e: dict  # term -> its part of the bound on |computed - ideal|


def var(x, e=None) -> V:
    return V(iv.mpf(x), e or {})


def rnd(F: Fmt, kind: str, M, low):
    """Bound on one operation's error (the rules above); |z| in [low, M]."""
    err = {"exact": mpf(0), "rn": F.hu(M), "op": 3 * F.hu(M * (1 + F.u)), "clr": 2 * F.hu(M)}[kind]
    if kind != "exact":
        err = min(err, M + (F.hu(M) if kind == "op" else 0))
    if low < mpmath.ldexp(1, F.emin):
        err = max(err, min(M, mpmath.ldexp(1, F.emin)))
    return iv.mpf(err)


def op(F, kind: str, label: str, a: V, b: V | None = None, how: str = "+") -> V:
    """a + b, a * b (how) or a alone (clr), rounded by ``kind``, its error put under ``label``."""
    if b is None:
        x, prop = a.x, a.e
    elif how == "+":
        x, prop = a.x + b.x, merge(a.e, b.e)
    else:
        x = a.x * b.x
        prop = merge(merge(b.e, scale=iv.mpf(mag(a.x))), merge(a.e, scale=iv.mpf(mag(b.x))),
                     {"2nd order": total(a.e) * total(b.e)})
    ep = mag(total(prop))
    return V(x, merge(prop, {label: rnd(F, kind, mag(x) + ep, max(mig(x) - ep, 0))}))


def expm1_iv(a, b):  # expm1 is increasing; near 0 by Taylor: t + t^2/2 + t^3/6 + t^4/24 e^xi
    def at(t):
        if abs(t) >= mpf(2) ** -8:
            return iv.exp(iv.mpf(t)) - 1
        x = iv.mpf(t)
        return x + x * x / 2 + x**3 / 6 + iv.mpf([0, 1]) * x**4 / 24 * iv.exp(iv.mpf(max(t, 0)))
    return iv.mpf([at(a).a, at(b).b])


def exp_iv(a, b):
    return iv.mpf([iv.exp(iv.mpf(a)).a, iv.exp(iv.mpf(b)).b])


# ---- constants: the reach of r, celu's argument, the multipliers ------------------
def u_max(F):  # |u| at the clamps: elu's xmin - 101 ln2 (largest alpha), celu's celu_min
    return max(abs(F.k.xmin) + 101 * math.log(2), abs(F.k.celu_min))


def ln2_lo_err(F):  # |ln2_lo - (ln2 - ln2_hi)|
    return mag(LN2 - iv.mpf(F.fx(F.k.ln2_hi)) - iv.mpf(F.fx(F.k.ln2_lo)))


def residual_err(F, um, am, dm):
    """_residual(x, u, split(a)) = (((x - u1 a1) - u1 a2) - u2 a1) - u2 a2 for |u| <= um,
    1 <= a <= am, |x - u a| <= dm: products of split halves exact, x - u1 a1 exact
    (Sterbenz, ``checks``); the other three bounded as rounded (exactness is not proved)."""
    b, u = F.beta, F.u
    e2 = u * (b * um * am * (1 + b) + b * um * b * am + dm)  # |u2 a1 + u2 a2 + d|
    e3 = u * (b * um * b * am + dm + e2)
    return e2 + e3 + u * (dm + e2 + e3)


class Arg(NamedTuple):  # |x/alpha - (u + u_lo)| <= eta |v| + tiny; |u_lo| <= ulo |v| + tiny
    eta: Any
    ulo: Any
    tiny: Any


@functools.lru_cache(maxsize=None)
def celu_arg(F) -> Arg:
    """_celu_arg: y = x 2^-e (exact where |u| >= 2^-(p+1)), v = y/m. inv.hi = RN(2/m), d1
    covering a static float32 alpha's double rounding through float64; u = opaque(RN(y inv.hi)
    / 2): |u - v| <= gam |v|; u_lo = opaque(d inv.hi / 2), d = y - u m (residual_err)."""
    u = F.u
    d1 = u + (mpf(2) ** -53 if F.p == 24 else 0)
    gam = (1 + d1) * (1 + u) * (1 + 2 * u) - 1
    tau = residual_err(F, 1 + gam, 2, 2 * gam)  # relative to |v| (m < 2)
    op3 = 3 * u * (1 + u)
    eta = tau * (1 + d1) + gam * d1 + op3 * (gam + tau) * (1 + d1)
    return Arg(eta, (gam + tau) * (1 + d1) * (1 + op3), mpmath.ldexp(1, F.emin + 3))


@functools.lru_cache(maxsize=None)
def reach(F) -> float:
    """R >= |r|, |r_true|: k = round(t), t = opaque(u INV_LN2) (1.5 ulp; INV_LN2 rounded), so
    |u - k ln2| <= ln2/2 + ln2 |t - u/ln2|; plus celu's u_lo, r's rounding, lo's error."""
    um, inv = u_max(F), iv.mpf(F.fx(consts.INV_LN2))
    t_err = um * abs(inv - 1 / LN2) + 3 * F.hu(um * mag(inv) * (1 + F.u))
    kabs = math.ceil(um / math.log(2)) + 1
    extra = (celu_arg(F).ulo * abs(F.k.celu_min) + 2 * F.hu(0.5)
             + kabs * ln2_lo_err(F) + 3 * F.hu(kabs * F.k.ln2_lo * 2))
    return fit_poly._float_up(mag(LN2 / 2 + LN2 * t_err + extra))


def dw_mul_eta(F, kap, kap2, rest, hi, c1):
    """Relative error of _dw_mul(a, c, rounded=True) = a1 c1 + (a2 c1 + (opaque(a_hi rest) +
    opaque(a_lo c.hi))) before its final rounding; a1 c1, a2 c1 exact (split halves),
    |a2| <= beta |a_hi|, |a_lo| <= u |a_hi| (Fast2Sum outputs), rest = c2 (+ c.lo, rounded).
    Relative to C: kap = |C - c1 - rest| (a_hi's multiplier), kap2 = |C - c.hi| (a_lo's),
    rest, hi, c1 = bounds on |rest|, |c.hi|, |c1|."""
    u, op3 = F.u, 3 * F.u * (1 + F.u)
    t = rest + u * hi  # |P1| + |P2| <= (1 + op3) t |A C| / (1 - u)
    return ((kap + u * kap2) + op3 * t + u * (1 + op3) * t + u * (F.beta * c1 + (1 + u) * (1 + op3) * t)) / (1 - u)


@functools.lru_cache(maxsize=None)
def mults(F) -> dict:
    u, b = F.u, F.beta
    out = {"alpha": dw_mul_eta(F, 0, 0, b, 1, 1 + b)}  # C = m = c1 + c2 exactly (lo None)
    c = mult.constant_multiplier(consts.SELU_SCALE_ALPHA_DIGITS, F.k.dtype)  # selu: the kernel's hi, lo, halves, rest
    C = Fraction(Decimal(consts.SELU_SCALE_ALPHA_DIGITS))  # the 32 digits, taken as exact
    hi, lo, c1 = (Fraction(float(v)) for v in (c.hi, c.lo, c.parts[0]))
    rest = Fraction(float(np.asarray(c.parts[1] + c.lo, F.k.dtype)))
    rel = [abs(q) / C for q in (C - c1 - rest, C - hi, rest, hi, c1)]
    out["selu"] = dw_mul_eta(F, *(mag(ivq(q)) for q in rel))
    # 1/alpha: C = 2/m in (1, 2]; |inv.hi - C| <= d1 C; inv.lo = RN(residual(2, inv.hi) / m), or
    # a Fraction rounded (d1: double rounding); rest = RN(c2 + lo).
    d1 = u + mpf(2) ** -53
    tau = residual_err(F, 2 * (1 + d1), 2, 2 * d1)
    lo_max = (d1 + tau) * (1 + d1)
    kap = d1 * lo_max + tau + u * (b * (1 + d1) + lo_max)
    out["inv"] = dw_mul_eta(F, kap, d1 / (1 - d1), (b * (1 + d1) + lo_max) * (1 + u), 1 + d1, (1 + b) * (1 + d1))
    return out


def checks(F, kmin):
    """Asserted: k ln2_hi is exact (bits); for k != 0, |u| > 1/4 so u and k ln2_hi are multiples
    of 2^-(p+1) and |hi| < 1/2: hi = u - k ln2_hi is exact; the shifter 1.5 2^(p-1) rounds
    |t| < 2^(p-2); _residual's x - u1 a1 is a Sterbenz subtraction (celu's u, and 1/alpha)."""
    hi = Fraction(F.fx(F.k.ln2_hi))
    assert hi.numerator.bit_length() + (-kmin).bit_length() <= F.p and hi.denominator <= 2 ** (F.p + 1)
    assert reach(F) + (-kmin) * F.fx(F.k.ln2_lo) * 1.01 < 0.5 and math.log(2) / 2 - 1e-4 > 0.25
    assert u_max(F) * 1.45 < 2 ** (F.p - 2)
    for gam in (2 * F.u + 2 * celu_arg(F).ulo, F.u + 2.0**-52):  # |u a / x - 1| <= gam
        assert 0.5 < (1 - F.beta) ** 2 * (1 - gam) and (1 + F.beta) ** 2 * (1 + gam) < 2


# ---- the kernel, re-traced ---------------------------------------------------------
class Red(NamedTuple):
    sq: V  # _reduce's square, ideal r^2 (1/2 + r p(r))
    small: V | None  # small, ideal r_err (1 + r); None where it is 0 exactly
    model: dict  # |ideal square + small - (expm1(r_true) - r)|, by term
    rho: Any  # |r_true - r|
    delta: Any  # celu: |x/alpha - (u + u_lo)|


@functools.lru_cache(maxsize=None)
def poly_bound(F, r_max: float) -> float:
    return fit_poly.rigorous_bound(F.k.poly, F.name, r_max)


@functools.lru_cache(maxsize=None)
def square(F, a, b) -> tuple[V, Any]:
    """_reduce's square for r in [a, b], and the polynomial's error (fit_poly) as a bound."""
    r = var([a, b])
    q = var(F.fx(F.k.poly[0]))  # Horner: q = opaque(q r) + coef
    for c in F.k.poly[1:]:
        q = op(F, "rn", "horner", op(F, "op", "horner", q, r, "*"), var(F.fx(c)))
    h = op(F, "rn", "square", var(0.5), op(F, "op", "square", r, q, "*"))  # 1/2 + opaque(r q)
    sq = op(F, "rn", "square", op(F, "rn", "square", r, r, "*"), h, "*")  # (r r) h
    B = poly_bound(F, reach(F) if max(-a, b) > 2.0 ** -(F.p + 2) else 2.0 ** -(F.p + 2))
    return sq, iv.mpf(B * mag(expm1_iv(a, b)))


@functools.lru_cache(maxsize=None)
def reduction(F, a, b, kabs: int, arg: Arg | None) -> Red:
    """_reduce for |k| <= kabs and computed r in [a, b]; r_true = u (+ u_lo) - k ln2.
    k = 0 without u_lo: hi = u, lo = 0, r = u, r_err = 0, small = 0, all exactly."""
    R, rmax = iv.mpf([a, b]), max(-a, b)
    r = V(R, {})
    sq, poly = square(F, a, b)
    model = {"poly (fit_poly)": poly}
    vmax = kabs * mag(LN2) + rmax
    delta = 0 if arg is None else arg.eta * vmax + arg.tiny
    if kabs == 0 and arg is None:
        return Red(sq, None, model, mpf(0), delta)
    hr = F.hu(rmax)  # r = RN(hi - lo), so r_err (exactly hi - lo - r) is at most ulp(r)/2
    lo_max = kabs * F.fx(F.k.ln2_lo) * (1 + 4 * F.u)
    # lo = opaque(k ln2_lo): |lo - k (ln2 - ln2_hi)| <= |k| |ln2_lo's error| + 1.5 ulp (op)
    lam = kabs * ln2_lo_err(F) + 3 * F.hu(lo_max) if kabs else mpf(0)
    if arg is not None:  # lo - u_lo: rounded (0 - u_lo, exact, for k = 0)
        ulo = arg.ulo * vmax + arg.tiny
        lam, lo_max = lam + (F.hu(lo_max + ulo) if kabs else 0), lo_max + ulo
    # r, r_err = Fast2Sum(hi, -lo): r_err is exact if |hi| >= |lo| (|hi| >= |r| - |r_err| - |lo|),
    # else RN(hi - r) and RN(. - lo) round (|hi - r| <= |lo| + |r_err|)
    fs = 0 if mig(R) - hr >= 2 * lo_max else F.hu(lo_max + hr) + F.hu(hr + F.hu(lo_max + hr))
    rho = hr + lam
    r_err = var([-hr, hr], {"reduction": iv.mpf(fs)})
    small = op(F, "rn", "reduction", r_err, op(F, "op", "reduction", r_err, r, "*"))  # r_err + opaque(r_err r)
    # expm1(r + rho) - expm1(r) - r_err (1 + r) = lam' (1 + r) + rho (e^r - 1 - r) + e^r (e^rho - 1 - rho),
    # rho = r_err + lam', |lam'| <= lam; |e^t - 1 - t| <= t^2/2 e^max(t, 0)
    er = mag(exp_iv(a, b))
    model["reduction"] = iv.mpf(lam * (1 + rmax) + rho * rmax**2 / 2 * max(er, 1) + er * rho**2 / 2 * mpmath.e**rho)
    return Red(sq, small, model, rho, delta)


def tail(F, red: Red) -> V:  # _Parts.tail = opaque(square) + small (+ 0, exactly, for small = 0)
    t = op(F, "clr", "opaque(square)", red.sq)
    return t if red.small is None else op(F, "rn", "tail sum", t, red.small)


def finish(F, E: dict, f, exact_ulp: bool, mult=None, low_a=None):
    """(bound, terms) in ULPs from E (|z - f| by term) and f's enclosure; a multiplier adds
    its relative error (and 4 partial products' underflow, relative to |A| >= low_a)."""
    if mult is not None:
        E = merge(E, {"dw_mul": iv.mpf(mult) * (iv.mpf(mag(f)) + total(E)),
                      "underflow": iv.mpf(4 * mpmath.ldexp(1, F.emin) / low_a * mag(f))})
    U = 2 * F.hu(mig(f)) if exact_ulp else mig(f) * F.u
    Et = mag(total(E))
    assert 0 < U and Et < U, (F.name, Et, U)
    return up(mpf(up(iv.mpf(Et) / U)) + 0.5), {key: float(mag(v) / U) for key, v in E.items() if mag(v) > 0}


def s_iv(F, kg):  # s = 2^max(k, emin) for k in kg = (kmin, kmax)
    return iv.mpf([mpmath.ldexp(1, max(kg[0], F.emin)), mpmath.ldexp(1, kg[1])])


def f_em1(R, kg, w):  # 2^k e^r - 1 for k in kg, r within w of R (increasing in both)
    a, b = lohi(R)
    if kg == (0, 0):
        return expm1_iv(a - w, b + w)
    lo = iv.mpf(mpmath.ldexp(1, kg[0])) * exp_iv(a - w, a - w) - 1
    return iv.mpf([lo.a, (iv.mpf(mpmath.ldexp(1, kg[1])) * exp_iv(b + w, b + w) - 1).b])


def a_value(F, R, kg):
    """expm1_fast = s (r + tail) + (s - 1), s = 2^k, -p <= k <= 0: k = 0, RN(r + tail) is
    the final rounding; else t1 = RN(r + tail), s t1 a power of two times t1, s - 1 exact
    (p bits), and RN(s t1 + (s - 1)) the final rounding."""
    red = reduction(F, *lohi(R), -kg[0], None)
    t = tail(F, red)
    if kg == (0, 0):
        return finish(F, merge(t.e, red.model), expm1_iv(*lohi(R)), True)
    assert kg[0] >= -F.p
    s = s_iv(F, kg)
    st1 = op(F, "exact", "underflow", var(s), op(F, "rn", "t1 = r + tail", var(R), t), "*")
    return finish(F, merge(st1.e, merge(red.model, scale=iv.mpf(mag(s)))), f_em1(R, kg, red.rho), True)


def a_value_deep(F):
    """k <= -(p+1): s - 1 = RN(2^k - 1) = -1 (a tie to even at k = -(p+1)) and |s t1| <= 2^-(p+1)
    (e^R - 1) < 2^-(p+2), a quarter of the spacing beyond -1: the result is -1 exactly, f =
    -1 + 2^k e^r_true, an error 2^k e^r_true <= 2^-(p+1) e^R, in ulps 2^-p (|f| in (1/2, 1))."""
    assert math.exp(reach(F)) - 1 < 0.5
    return up(iv.exp(iv.mpf(reach(F))) / 2), {"-1 exactly": 0.0}


def fprime(F, R, kabs, arg=None, mult=None):
    """exp(): g, g_err = Fast2Sum(1, r) (exact: |r| < 1); w = RN(g_err + tail); (hi, lo) =
    Fast2Sum(g, w), |g| >= |w| checked; hi + lo - e^r_true = w - g_err - (e^r_true - 1 - r).
    mult None: hi = RN(g + w) is the final rounding (then 2^k 2^e exactly); else _dw_mul."""
    a, b = lohi(R)
    red = reduction(F, a, b, kabs, arg)
    w = op(F, "rn", "w = g_err + tail", var([-F.hu(1 + b), F.hu(1 + b)]), tail(F, red))
    assert mig(1 + R) - F.hu(2) >= mag(w.x) + mag(total(w.e))
    E, f = merge(w.e, red.model), exp_iv(a - red.rho - red.delta, b + red.rho + red.delta)
    if arg is not None:  # exp at u + u_lo, not x/alpha
        E["argument x/alpha"] = iv.mpf(mag(f) * mpmath.expm1(red.delta * (1 + F.u)))
    return finish(F, E, f, mult is None, mult, mig(f))


def value_dw(F, R, kg, arg=None, mult=None):
    """expm1(): a, a_err = Fast2Sum(-1, s) (a + a_err = s - 1; a_err = 0 for k >= -p);
    hi, err = Fast2Sum(a, s r) (a = 0 for k = 0, else |a| >= 1/2 > |s r|); t = RN(s square +
    RN(s small + RN(err + a_err))) (s x exact, + 0 exact); Fast2Sum(hi, t) (|hi| >= |t| checked);
    hi + t - expm1(v) = t - err - a_err - s (expm1(r_true) - r). Then 2^64 (exact) and
    _dw_mul(rounded=True) by C; mult None: hi's RN(hi + t) (not a kernel path: the proposed fix)."""
    kmin, kmax = kg
    red = reduction(F, *lohi(R), -kmin, arg)
    s = s_iv(F, kg)
    a_err = F.hu(mag(s - 1)) if kmin < -F.p else 0
    sr = op(F, "exact", "underflow", var(s), var(R), "*")
    hi_x, sr_e = s - 1 + sr.x, mag(total(sr.e))
    assert kg == (0, 0) or mig(s - 1) - a_err >= mag(sr.x) + sr_e
    t = None
    if kmin < 0:
        err = F.hu(mag(hi_x) + a_err + sr_e)
        t = op(F, "rn", "dw sums", var([-err, err]), var([-a_err, a_err]))
    for part in (red.small, red.sq):
        if part is not None:
            sp = op(F, "exact", "underflow", var(s), part, "*")
            t = sp if t is None else op(F, "rn", "dw sums", sp, t)
    assert mig(hi_x) - a_err - sr_e - F.hu(mag(hi_x) + a_err) >= mag(t.x) + mag(total(t.e))
    E, f = merge(t.e, merge(red.model, scale=iv.mpf(mag(s)))), f_em1(R, kg, red.rho + red.delta)
    if kmin < F.emin:  # s = 2^emin, not 2^k: both give -1 + (below 2^emin e^r)
        E["clamp of s"] = iv.mpf(mpmath.ldexp(1, F.emin + 1))
    if arg is not None:  # expm1 at u + u_lo: |v e^v| <= |expm1(v)| for v <= 0
        E["argument x/alpha"] = iv.mpf(mag(f) * arg.eta * mpmath.e**red.delta)
    return finish(F, E, f, mult is None, mult, mig(f) * mpf(2) ** 64)


def c_value(F):
    """selu, x > 0: x1 c1 + ((x1 - x)(-c1) + opaque(x rest)), lambda ~ c1 + c2 + lo, rest =
    RN(c2 + lo): x1 - x = -x2 exact (the split's low part), x2 c1 and x1 c1 exact (halves),
    the inner sum rn, the outer sum the final rounding; tiny x scaled by 2^64 and back exactly."""
    c, lam = mult.constant_multiplier(consts.SELU_SCALE_DIGITS, F.k.dtype), Fraction(Decimal(consts.SELU_SCALE_DIGITS))
    c1 = Fraction(float(c.parts[0]))
    rest = Fraction(float(np.asarray(c.parts[1] + c.lo, F.k.dtype)))
    kap, rr, cr = (mag(ivq(abs(q) / lam)) for q in (lam - c1 - rest, rest, c1))
    op3 = 3 * F.u * (1 + F.u)
    terms = {"constant": kap, "opaque(x rest)": op3 * rr, "inner sum": F.u * (F.beta * cr + rr * (1 + op3))}
    return up(up(sum(terms.values()) * 2**F.p) + mpf(0.5)), {key: float(v * 2**F.p) for key, v in terms.items()}


# ---- pieces of r, groups of k, the report --------------------------------------------
def pieces(F, R, kind: str, n: int):
    """'all': [-R, R] in n equal pieces; 'neg': [-R, 0]; 'value': [-R, -1/4] in n/4, each binade
    down to 2^-(p+2) in 8 (2 below 2^-8), then 8 binades at a time down to 2^emin; 'celu':
    the same down to 2^-(p+2)."""
    def split(a, b, m):
        return [a + (b - a) * i / m for i in range(m)]
    if kind in ("all", "neg"):
        top = R if kind == "all" else 0.0
        ends = split(-R, top, n) + [top]
    else:
        ends = split(-R, -0.25, max(n // 4, 1))
        for e in range(-2, -(F.p + 2), -1):
            ends += split(-(2.0**e), -(2.0 ** (e - 1)), 8 if e > -8 else 2)
        ends.append(-(2.0 ** -(F.p + 2)))
        if kind == "value":
            ends += [-(2.0**e) for e in range(-(F.p + 2) - 8, F.emin, -8)] + [-(2.0**F.emin)]
    return [iv.mpf([a, b]) for a, b in zip(ends, ends[1:])]


def worst(fn, ps, refine: int = 40):
    """(bound, terms, piece): the max of fn over the pieces; the worst piece is bisected while
    that lowers the max (every piece's bound is a bound, so the max over a cover is one)."""
    res = [(fn(P), P) for P in ps]
    for _ in range(refine):
        i = max(range(len(res)), key=lambda j: res[j][0][0])
        a, b = lohi(res[i][1])
        m = mpf(float((a + b) / 2))
        kids = [(fn(Q), Q) for Q in (iv.mpf([a, m]), iv.mpf([m, b]))] if a < m < b else []
        if not kids or max(kd[0][0] for kd in kids) >= res[i][0][0] * (1 - 1e-4):
            break
        res[i:i + 1] = kids
    (bound, terms), P = max(res, key=lambda t: t[0][0])
    return bound, terms, P


def groups(k_first: int, k_last: int):
    """k one by one from 0 to k_first, then [-(2^(j+1) - 1), -2^j] (clipped) down to k_last."""
    g, j = [(k, k) for k in range(0, k_first - 1, -1)], max(-k_first, 0).bit_length()
    while -(2**j) >= k_last:
        g.append((max(1 - 2 ** (j + 1), k_last), -(2**j)))
        j += 1
    return g


def analyse(F: Fmt, n: int) -> dict:
    """{path: (bound, where, terms)}, "_byk": {path: [(k's, bound)]}, for one compute dtype."""
    ln2 = math.log(2)
    kmin = -math.ceil(u_max(F) / ln2 + 0.5 + 1e-3)  # the clamps' k
    kcel = -math.ceil(abs(F.k.celu_min) / ln2 + 0.5 + 1e-3)
    kf2 = F.emin - math.ceil(-math.log2(ALPHA_RANGE["celu"][0])) - 1  # f'' normal (alpha >= 1e-6)
    checks(F, kmin)
    arg, M, out, R = celu_arg(F), mults(F), {"_byk": {p: [] for p in PATHS}}, reach(F)

    def vpieces(kg, top="value"):  # the pieces of r for a value at k in kg
        return pieces(F, R, top if kg[1] == 0 else "all", n)

    def keep(path, kg, res, note=""):
        bound, terms, P = res
        ks = f"k = {kg[0]}" if kg[0] == kg[1] else f"k in [{kg[0]}, {kg[1]}]"
        out["_byk"][path].append((ks, bound))
        if path not in out or bound > out[path][0]:
            out[path] = (bound, f"{ks}, r in [{float(P.a):.4g}, {float(P.b):.4g}]{note}", terms)

    for kg in groups(-7, -F.p):  # (a) value; below -p the result is -1 exactly
        keep("a.value", kg, worst(lambda P: a_value(F, P, kg), vpieces(kg)))
    deep = a_value_deep(F)
    keep("a.value", (kmin, -F.p - 1), (*deep, iv.mpf([-R, R])), " (the result is -1)")
    assert max(b for _, b in out["_byk"]["a.value"][:-1]) > deep[0]  # (the table's "-" never hides the max)
    for kg in groups(-7, -F.p - 1) + [(kmin, -F.p - 2)]:  # (b), (d) values
        for name in ("alpha", "selu"):
            keep("b.value", kg, worst(lambda P: value_dw(F, P, kg, None, M[name]), vpieces(kg)), f" ({name})")
        kgc = (max(kg[0], kcel), kg[1])
        keep("d.value", kgc, worst(lambda P: value_dw(F, P, kgc, arg, M["alpha"]), vpieces(kg, "celu")))
    for kg in groups(0, kmin):  # derivatives: exact in 2^k, but |k| enters the reduction
        ps = vpieces(kg, "neg")
        keep("a.fprime", kg, worst(lambda P: fprime(F, P, -kg[0]), ps))
        for name in ("alpha", "selu"):
            keep("b.fprime", kg, worst(lambda P: fprime(F, P, -kg[0], None, M[name]), ps), f" ({name})")
        if kg[1] >= max(F.emin - 1, kcel):  # below, f' = e^v is subnormal
            kgc = (max(kg[0], F.emin - 1, kcel), kg[1])
            keep("d.fprime", kgc, worst(lambda P: fprime(F, P, -kgc[0], arg), ps))
        if kg[1] >= max(kcel, kf2):  # below, f'' is subnormal
            kgc = (max(kg[0], kcel, kf2), kg[1])
            keep("d.fsecond", kgc, worst(lambda P: fprime(F, P, -kgc[0], arg, M["inv"]), ps))
    out["c.value"] = (*c_value(F)[:1], "x > 0", c_value(F)[1])
    # What-if, not the kernel: elu's value as expm1()'s double word rounded once.
    out["_proposed"] = max(worst(lambda P: value_dw(F, P, kg), vpieces(kg))[0]
                           for kg in groups(-7, -F.p - 1) + [(kmin, -F.p - 2)])
    return out


P16 = {"bfloat16": 8, "float16": 11}


@functools.lru_cache(maxsize=None)
def run(n: int = 16) -> dict:
    t0 = time.perf_counter()
    with precision():
        res = {F.name: analyse(F, n) for F in (F32, F64)}
    for name, p16 in P16.items():  # RN16(RN32(f)): 1/2 + B32 2^-(24 - p16), B32 after RN32
        res[name] = {path: (0.5 + res["float32"][path][0] * 2.0 ** -(24 - p16),) for path in PATHS}
    res["_seconds"] = time.perf_counter() - t0
    return res


def bounds(n: int = 16) -> dict:
    """{(path, dtype): derived bound in ULPs}; n: pieces of r per k (fewer: faster, still bounds)."""
    res = run(n)
    return {(path, dt): res[dt][path][0] for dt in ("float32", "float64", *P16) for path in PATHS}


def report(n: int = 16) -> str:
    res = run(n)
    out = ["# Derived error budget of jelu's kernel", "",
           "Written by `python -m benchmarks.error_budget`; the derivation is in its docstring and comments.",
           "Fractional ULPs of the exact result f: *before rounding* bounds |z - f|, z the kernel's result",
           "before its final rounding; *total* adds that rounding (1/2). Total < 1: faithful. Before rounding",
           "< 3/4 (total < 5/4): at most one float from the correctly rounded result (`ulp_distance` <= 1 of",
           "`jelu.testing`), as [f - E, f + E] then holds no two rounding midpoints on one side of f",
           "(below a power of two they are ulp(f)/2 apart). Paths b and d count in the worst case",
           "ulp(c y) >= 2^-p |c y|. Subnormal inputs or results are not covered.", ""]
    for dt in ("float32", "float64"):
        F = F32 if dt == "float32" else F64
        out += [f"## {dt}", "", f"|r| <= ln2/2 + {reach(F) - math.log(2) / 2:.3g} (the reach); polynomial "
                f"<= 2^{math.log2(poly_bound(F, reach(F))):.2f} (fit_poly.rigorous_bound over it)", "",
                "| path | before rounding | total (ULP) | attained at | dominant terms (ULP) |",
                "|---|---|---|---|---|"]
        for path in PATHS:
            bd, where, terms = res[dt][path]
            top = sorted(terms.items(), key=lambda kv: -kv[1])[:3]
            pre = "-" if "result is -1" in where else f"{bd - 0.5:.4f}"
            out.append(f"| {path} | {pre} | {bd:.4f} | {where} | " + ", ".join(f"{k} {v:.3f}" for k, v in top) + " |")
        out += ["", "By k:", ""]
        for path in PATHS:
            prof: dict = {}
            for ks, bd in res[dt]["_byk"][path]:
                prof[ks] = max(prof.get(ks, 0), bd)
            if prof:
                out.append(f"* {path}: " + "; ".join(f"{ks}: {bd:.3f}" for ks, bd in prof.items()))
        out.append("")
    out += ["## 16-bit outputs", "",
            "Computed in float32 (bound B32 above, its rounding included), then converted once:",
            "|y16 - f| <= ulp16/2 + B32 ulp32, i.e. 1/2 + B32 2^-(24 - p16) ULP (p16 = 8, 11). Below 1:",
            "faithful. Correct rounding is not derived (f must not lie within B32 ulp32 of a 16-bit",
            "midpoint); the enumeration of every 16-bit input checks it.", "",
            "| path | bfloat16 | float16 |", "|---|---|---|"]
    out += [f"| {p} | {res['bfloat16'][p][0]:.6f} | {res['float16'][p][0]:.6f} |" for p in PATHS]
    out += ["", "## Summary", ""]
    for path, what in PATHS.items():
        b32, b64 = res["float32"][path][0], res["float64"][path][0]
        flag = (" -- above 1 ULP: faithful rounding is not derived (at most one float from the correctly"
                " rounded result is); see the dominant terms" if max(b32, b64) >= 1 else "")
        out.append(f"* ({path}) {what}: within {b32:.3f} ULP (float32), {b64:.3f} ULP (float64) (derived){flag}")
    out += ["* selu, x > 0: f' = lambda rounded once (0.5 ULP), f'' = 0. celu, |x/alpha| < 2^-(p+1): x itself,"
            " correctly rounded.",
            f"* Proposed (not the kernel): elu's value as expm1()'s double word rounded once would be within "
            f"{res['float32']['_proposed']:.3f} ULP (float32), {res['float64']['_proposed']:.3f} ULP (float64).",
            "", f"Run time: {res['_seconds']:.1f} s ({n} pieces of r per k)."]
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    """Derive the bounds, print the report and write it; 2 on bad command-line input."""
    ap = _common.parser(SCRIPT, __doc__.splitlines()[0])
    _common.add_out_argument(ap, f"{SCRIPT}-<kind>.md")
    ap.add_argument("--pieces", type=_common.positive_int, default=16, help="pieces of r per k (default 16)")
    args = ap.parse_args(argv)
    out = _common.result_path(_common.out_dir(ap, args.out), SCRIPT, ".md")
    text = report(args.pieces)
    print(text, end="")
    _common.write_atomic(out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
