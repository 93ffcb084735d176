"""Part of ``python -m benchmarks.error_budget``: the rules that bound one operation's error.

A :class:`Format` is float32 or float64 as the kernel computes in it
(precision p, unit roundoff u = 2^-p, smallest normal exponent emin). A
:class:`Traced` value is an interval enclosing the *ideal* value (exact
arithmetic on exact inputs) with a bound on |computed - ideal|, kept per term
so that the report can name the dominant ones. :func:`operation` applies one
rounded operation to traced values; :func:`rounding_error` is the rule for
its own error, for each kind of rounding (the module docstring of
``error_budget`` states the rules):

* ``"nearest"``: round to nearest, ``|RN(z) - z| <= ulp(M)/2``;
* ``"opaque"``: ``_opaque`` of a rounded product, ``<= 1.5 ulp(M (1 + u))``;
* ``"cleared"``: ``_opaque`` of a float (lowest bit cleared), ``<= 1 ulp(M)``;
* ``"exact"``: no error (the reason is given where it is used).

Intervals are mpmath's ``iv`` at 160 bits, other numbers ``mpf`` at 400 bits
(:func:`precision`), so that an interval's end points convert exactly.
"""

from __future__ import annotations

import contextlib
from fractions import Fraction
from typing import Any, NamedTuple

import mpmath
import numpy as np
from mpmath import iv

from benchmarks import fit_poly
from jelu import _constants as consts

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


class Format(NamedTuple):
    """A compute dtype of the kernel: F below."""

    name: str
    p: int  # precision, implicit bit included
    emin: int  # smallest normal exponent
    beta: float  # _split: |lo| <= beta |v|, |hi| <= (1 + beta) |v| (12-bit truncation; 26-bit rounding)
    constants: Any  # the kernel's constants

    @property
    def u(self):
        """The unit roundoff 2^-p."""
        return mpf(2) ** -self.p

    def half_ulp(self, M):
        """ulp(M)/2, at least half the subnormal spacing (0 for M = 0)."""
        return mpf(0) if M == 0 else mpmath.ldexp(1, max(mpmath.frexp(M)[1] - 1, self.emin) - self.p)

    def kernel_float(self, v) -> float:
        """v as the kernel rounds it (exact as a Python float)."""
        return float(np.asarray(v, self.constants.dtype))


F32 = Format("float32", 24, -126, 2.0**-11, consts.F32)
F64 = Format("float64", 53, -1022, 2.0**-26, consts.F64)


def round_up(x) -> float:
    """A float >= x (an mpf, or an interval's upper end) + 2^-100 relative: the bounds' few
    hundred non-interval mpf operations (400 bits, to nearest) cost far less."""
    return fit_poly.float_up(mpf(x.b if hasattr(x, "b") else x) * (1 + mpf(2) ** -100))


def rational_interval(q: Fraction):
    """An interval enclosing the rational q."""
    return iv.mpf(q.numerator) / iv.mpf(q.denominator)


def endpoints(x):
    """(lower, upper) end of the interval x, as mpf."""
    return mpf(x.a), mpf(x.b)


def magnitude(x):
    """sup |x| over the interval x."""
    lower, upper = endpoints(x)
    return max(-lower, upper)


def mignitude(x):
    """inf |x| over the interval x (0 if it holds 0)."""
    lower, upper = endpoints(x)
    return mpf(0) if lower <= 0 <= upper else min(abs(lower), abs(upper))


def merge(*error_terms: dict, scale=None) -> dict:
    """The sum of error-term dicts, term by term (each term times ``scale`` if given)."""
    out: dict = {}
    for terms in error_terms:
        for key, value in terms.items():
            out[key] = out.get(key, ZERO) + (value if scale is None else value * scale)
    return out


def total(errors: dict):
    """The sum of every term's bound."""
    return sum(errors.values(), ZERO)


class Traced(NamedTuple):
    """A value of the kernel, re-traced over a piece of its input."""

    ideal: Any  # interval enclosing the ideal value over the piece
    errors: dict  # term -> its part of the bound on |computed - ideal|


def traced(ideal, errors=None) -> Traced:
    """A :class:`Traced` value: ``ideal`` (a number, [a, b] or an interval), no error unless given."""
    return Traced(iv.mpf(ideal), errors or {})


def rounding_error(F: Format, kind: str, M, low):
    """Bound on one operation's error (the rules above); |z| in [low, M]."""
    error = {"exact": mpf(0), "nearest": F.half_ulp(M), "opaque": 3 * F.half_ulp(M * (1 + F.u)),
             "cleared": 2 * F.half_ulp(M)}[kind]
    if kind != "exact":  # the result lies between 0 and RN(z)
        error = min(error, M + (F.half_ulp(M) if kind == "opaque" else 0))
    if low < mpmath.ldexp(1, F.emin):  # underflow: flush to zero or gradual
        error = max(error, min(M, mpmath.ldexp(1, F.emin)))
    return iv.mpf(error)


def operation(F: Format, kind: str, label: str, a: Traced, b: Traced | None = None, how: str = "+") -> Traced:
    """a + b, a * b (how) or a alone (cleared), rounded by ``kind``, its error put under ``label``.

    Propagation: ``|a'b' - ab| <= |a| e_b + |b| e_a + e_a e_b``; sums add errors.
    """
    if b is None:
        ideal, propagated = a.ideal, a.errors
    elif how == "+":
        ideal, propagated = a.ideal + b.ideal, merge(a.errors, b.errors)
    else:
        ideal = a.ideal * b.ideal
        propagated = merge(merge(b.errors, scale=iv.mpf(magnitude(a.ideal))),
                           merge(a.errors, scale=iv.mpf(magnitude(b.ideal))),
                           {"2nd order": total(a.errors) * total(b.errors)})
    spread = magnitude(total(propagated))
    own = rounding_error(F, kind, magnitude(ideal) + spread, max(mignitude(ideal) - spread, 0))
    return Traced(ideal, merge(propagated, {label: own}))


def expm1_enclosure(a, b):
    """An interval holding expm1 over [a, b]: expm1 is increasing; near 0 by Taylor,
    t + t^2/2 + t^3/6 + t^4/24 e^xi."""
    def at(t):
        if abs(t) >= mpf(2) ** -8:
            return iv.exp(iv.mpf(t)) - 1
        x = iv.mpf(t)
        return x + x * x / 2 + x**3 / 6 + iv.mpf([0, 1]) * x**4 / 24 * iv.exp(iv.mpf(max(t, 0)))
    return iv.mpf([at(a).a, at(b).b])


def exp_enclosure(a, b):
    """An interval holding exp over [a, b]."""
    return iv.mpf([iv.exp(iv.mpf(a)).a, iv.exp(iv.mpf(b)).b])
