"""Correctly rounded references for ELU, SELU, CELU and their derivatives.

The reference for a target dtype T (bfloat16, float16, float32) is computed in
float64 with a bound on its relative error, then rounded once to T by integer
arithmetic (no double rounding through float32; for T = float32, numpy's cast,
checked to round half to even). Where the float64 interval
[v (1 - eps), v (1 + eps)] straddles a rounding boundary of T, the point is
recomputed with mpmath at 50 digits, so every reference is provably the
correctly rounded value. float64 targets use mpmath directly.

Used by tests/test_numerics.py, benchmarks/accuracy.py,
benchmarks/device_check.py and benchmarks/sweep.py.
"""

from __future__ import annotations

import mpmath
import ml_dtypes
import numpy as np

SELU_ALPHA = "1.6732632423543772848170429916717"
SELU_SCALE = "1.0507009873554804934193349852946"

# (mantissa bits incl. the implicit one, minimum normal exponent, max finite)
FORMATS = {
    np.dtype(ml_dtypes.bfloat16): (8, -126, float(ml_dtypes.finfo(ml_dtypes.bfloat16).max)),
    np.dtype(np.float16): (11, -14, 65504.0),
    np.dtype(np.float32): (24, -126, float(np.finfo(np.float32).max)),
}
BITS = {2: np.uint16, 4: np.uint32, 8: np.uint64}

# float64 relative error bound of `_f64_formula` (a few roundings of numpy's
# expm1/exp, which glibc computes to < 1 ULP, plus the constants): generous.
F64_REL_ERR = 64 * 2.0**-53


def _cast_rounds_to_nearest_even() -> bool:
    """Whether numpy's float64 -> float32 cast rounds half to even, keeps subnormals
    and overflows to inf here (IEEE 754 defaults; not so under flush-to-zero)."""
    v = np.array([1 + 2.0**-24, 1 + 3 * 2.0**-24, 2.0**-149, 3 * 2.0**-150, 2.0**128, -(2.0**-126) * 1.5])
    want = np.array([1.0, 1 + 2.0**-22, 2.0**-149, 2.0**-148, np.inf, -(2.0**-126) * 1.5])
    with np.errstate(over="ignore"):
        return bool(np.array_equal(v.astype(np.float32).astype(np.float64), want))


def round_to(v: np.ndarray, dtype) -> np.ndarray:
    """Round float64 ``v`` to ``dtype`` correctly (half to even), as float64."""
    v = np.asarray(v, np.float64)
    if np.dtype(dtype) == np.float32 and _cast_rounds_to_nearest_even():
        with np.errstate(over="ignore", invalid="ignore"):  # the same rounding, in one pass
            return v.astype(np.float32).astype(np.float64)
    return _round_to_by_integers(v, dtype)


def _round_to_by_integers(v: np.ndarray, dtype) -> np.ndarray:
    """``round_to`` by integer arithmetic on the scaled significand (any format)."""
    p, emin, fmax = FORMATS[np.dtype(dtype)]
    with np.errstate(invalid="ignore", over="ignore"):
        _, e = np.frexp(v)  # v = m 2^e, 0.5 <= |m| < 1
        e = np.maximum(e, emin + 1)  # subnormals share the smallest exponent
        scaled = np.ldexp(v, p - e)  # exact: a power-of-two scaling
        out = np.ldexp(np.rint(scaled), e - p)
        out = np.where(np.abs(out) > fmax, np.copysign(np.inf, v), out)
    return np.where(np.isfinite(v), out, v)


def _mp_formula(name: str, order: int, x: float, alpha: float) -> mpmath.mpf:
    """The exact function (order 0), first or second derivative at x, in mpmath."""
    x = mpmath.mpf(x)
    a = mpmath.mpf(alpha)
    if name == "selu":
        lam, a = mpmath.mpf(SELU_SCALE), mpmath.mpf(SELU_ALPHA)
    else:
        lam = mpmath.mpf(1)
    if x > 0:
        return lam * x if order == 0 else (lam if order == 1 else mpmath.mpf(0))
    if name == "celu":
        u = x / a
        return [a * mpmath.expm1(u), mpmath.exp(u), mpmath.exp(u) / a][order]
    return lam * a * (mpmath.expm1(x) if order == 0 else mpmath.exp(x))


def _f64_formula(name: str, order: int, x: np.ndarray, alpha: float) -> np.ndarray:
    """The same in float64 numpy (relative error well under F64_REL_ERR)."""
    x = np.asarray(x, np.float64)
    if name == "selu":
        lam, a = float(SELU_SCALE), float(SELU_ALPHA)
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
    """A bound on the relative error of ``_f64_formula`` at x.

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
        return np.array([float(_mp_formula(name, order, xi, alpha)) if np.isfinite(xi) else np.nan for xi in x])
    v = _f64_formula(name, order, x, alpha)
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
            out[i] = _round_exact(_mp_formula(name, order, x[i], alpha), dtype)
    return out


def _round_exact(exact: mpmath.mpf, dtype) -> float:
    """Round an mpmath value to ``dtype``: the nearest of three candidates."""
    c = _ordered(round_to(np.array([float(exact)]), dtype), dtype)[0]
    cands = _unordered(np.array([c - 1, c, c + 1]), dtype)
    errs = [abs(mpmath.mpf(float(v)) - exact) for v in cands]
    best = min(range(3), key=lambda k: errs[k])
    if errs[best] == errs[1]:  # an exact tie (only at trivial points): keep half-even
        best = 1
    return float(cands[best])


def _ordered(a: np.ndarray, dtype) -> np.ndarray:
    """Map ``dtype`` values to integers that count representable values (0 -> 0)."""
    dtype = np.dtype(dtype)
    nbits = 8 * dtype.itemsize
    bits = np.asarray(a, np.float64).astype(dtype).view(BITS[dtype.itemsize]).astype(np.int64)
    mag = bits & ((1 << (nbits - 1)) - 1)
    return np.where(bits >> (nbits - 1) == 1, -mag, mag)


def _unordered(k: np.ndarray, dtype) -> np.ndarray:
    """Inverse of ``_ordered``, as float64."""
    dtype = np.dtype(dtype)
    nbits = 8 * dtype.itemsize
    bits = np.where(k < 0, (1 << (nbits - 1)) | -k, k).astype(BITS[dtype.itemsize])
    return bits.view(dtype).astype(np.float64)


def ulp_distance(y: np.ndarray, ref: np.ndarray, dtype) -> np.ndarray:
    """Number of representable ``dtype`` values between y and ref (0 = equal).

    Works for bfloat16, float16, float32 and float64 (as float64 counts).
    """
    return np.abs(_ordered(y, dtype).astype(np.float64) - _ordered(ref, dtype).astype(np.float64))


def all_bit_patterns(dtype) -> np.ndarray:
    """Every finite value of a 16-bit dtype, as float64."""
    dtype = np.dtype(dtype)
    with np.errstate(invalid="ignore"):  # bfloat16 NaN patterns warn when cast
        values = np.arange(2**16, dtype=np.uint16).view(dtype).astype(np.float64)
    return values[np.isfinite(values)]


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

