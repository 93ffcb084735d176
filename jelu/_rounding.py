# Copyright 2026 The jelu Authors. Licensed under the Apache License 2.0.
"""Rounding to a float format by integer arithmetic, and counting the floats between two values.

The NumPy half of :mod:`jelu.testing`, which re-exports its public names:
``round_to`` rounds float64 values correctly (half to even) to bfloat16,
float16 or float32 with no double rounding; ``to_ordinal`` numbers the values
of a format in order, so that ``ulp_distance`` counts the representable values
between two numbers; ``all_bit_patterns`` lists every finite 16-bit value.

Imports: ``numpy`` and ``ml_dtypes`` only (no jax, no mpmath).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

# (mantissa bits incl. the implicit one, minimum normal exponent, max finite)
FORMATS = {
    np.dtype(ml_dtypes.bfloat16): (8, -126, float(ml_dtypes.finfo(ml_dtypes.bfloat16).max)),
    np.dtype(np.float16): (11, -14, 65504.0),
    np.dtype(np.float32): (24, -126, float(np.finfo(np.float32).max)),
}
BITS = {2: np.uint16, 4: np.uint32, 8: np.uint64}


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
    return round_to_by_integers(v, dtype)


def round_to_by_integers(v: np.ndarray, dtype) -> np.ndarray:
    """``round_to`` by integer arithmetic on the scaled significand (any format)."""
    p, emin, fmax = FORMATS[np.dtype(dtype)]
    with np.errstate(invalid="ignore", over="ignore"):
        _, e = np.frexp(v)  # v = m 2^e, 0.5 <= |m| < 1
        e = np.maximum(e, emin + 1)  # subnormals share the smallest exponent
        scaled = np.ldexp(v, p - e)  # exact: a power-of-two scaling
        out = np.ldexp(np.rint(scaled), e - p)
        out = np.where(np.abs(out) > fmax, np.copysign(np.inf, v), out)
    return np.where(np.isfinite(v), out, v)


def to_ordinal(a: np.ndarray, dtype) -> np.ndarray:
    """Map ``dtype`` values to integers that count representable values (0 -> 0)."""
    dtype = np.dtype(dtype)
    nbits = 8 * dtype.itemsize
    bits = np.asarray(a, np.float64).astype(dtype).view(BITS[dtype.itemsize]).astype(np.int64)
    mag = bits & ((1 << (nbits - 1)) - 1)
    return np.where((bits >> (nbits - 1)) & 1 == 1, -mag, mag)


def from_ordinal(k: np.ndarray, dtype) -> np.ndarray:
    """Inverse of ``to_ordinal``, as float64."""
    dtype = np.dtype(dtype)
    nbits = 8 * dtype.itemsize
    word = BITS[dtype.itemsize]
    mag = np.abs(np.asarray(k, np.int64)).astype(word)
    bits = np.where(np.asarray(k) < 0, mag | word(1 << (nbits - 1)), mag).astype(word)
    return bits.view(dtype).astype(np.float64)


def ulp_distance(y: np.ndarray, ref: np.ndarray, dtype) -> np.ndarray:
    """Number of representable ``dtype`` values between y and ref (0 = equal).

    Works for bfloat16, float16, float32 and float64, and returns float64
    counts: exact below 2^53, which covers every distance between two values
    of the same sign up to 2^53 apart (the difference is taken in int64, where
    it cannot overflow for two ordinals of the same sign).
    """
    a, b = to_ordinal(y, dtype), to_ordinal(ref, dtype)
    same_sign = (a >= 0) == (b >= 0)
    with np.errstate(over="ignore"):  # opposite signs may wrap here; they take the other branch
        near = np.abs(a - b).astype(np.float64)
    far = np.abs(a).astype(np.float64) + np.abs(b).astype(np.float64)
    return np.where(same_sign, near, far)


def all_bit_patterns(dtype) -> np.ndarray:
    """Every finite value of a 16-bit dtype, as float64."""
    dtype = np.dtype(dtype)
    with np.errstate(invalid="ignore"):  # bfloat16 NaN patterns warn when cast
        values = np.arange(2**16, dtype=np.uint16).view(dtype).astype(np.float64)
    return values[np.isfinite(values)]
