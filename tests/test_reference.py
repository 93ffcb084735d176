"""Tests of jelu.testing's rounding, against exact rational arithmetic."""

from __future__ import annotations

from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from jelu.testing import FORMATS, round_to, round_to_by_integers, ulp_distance

N_RANDOM = 2**18
N_EXACT = 3000


def _adversarial(rng: np.random.Generator) -> np.ndarray:
    """float64 values around float32: random bits, every exponent, exact ties, subnormals, overflow."""
    a = rng.standard_normal(N_RANDOM).astype(np.float32)
    b = np.nextafter(a, np.float32(np.inf))
    ties = (a.astype(np.float64) + b.astype(np.float64)) / 2  # exact midpoints
    sub = rng.integers(1, 2**23, 4096).astype(np.float64) * 2.0**-149
    return np.concatenate([
        rng.integers(0, 2**64, N_RANDOM, dtype=np.uint64).view(np.float64),
        rng.uniform(-1, 1, N_RANDOM) * 2.0 ** rng.integers(-160, 130, N_RANDOM),
        ties, np.nextafter(ties, np.inf), np.nextafter(ties, -np.inf),
        sub, sub + 2.0**-150, -sub - 2.0**-150,  # subnormal ties
        [3.4028235677973366e38, 3.4028235677973362e38, np.inf, -np.inf, np.nan, 0.0, -0.0],
    ])


def test_float32_cast_path_equals_integer_path() -> None:
    v = _adversarial(np.random.default_rng(0))
    with np.errstate(all="ignore"):
        fast, slow = round_to(v, np.float32), round_to_by_integers(v, np.float32)
    both_nan = np.isnan(fast) & np.isnan(slow)
    assert np.all((fast == slow) | both_nan)
    assert np.array_equal(np.signbit(fast[~both_nan]), np.signbit(slow[~both_nan]))


def _round_exactly(v: float, dtype) -> float:
    """Round to nearest, ties to even, with Fractions: the value of the format nearest v."""
    p, emin, fmax = FORMATS[np.dtype(dtype)]
    q = Fraction(v)
    if q == 0:
        return v
    e = max(abs(q).numerator.bit_length() - abs(q).denominator.bit_length(), emin)
    while Fraction(2) ** e > abs(q):
        e -= 1
    while Fraction(2) ** (e + 1) <= abs(q):
        e += 1
    quantum = Fraction(2) ** (max(e, emin) - (p - 1))
    n = q / quantum
    k = round(n)  # Python's round on a Fraction: half to even
    out = k * quantum
    return float("inf") * np.sign(v) if abs(out) > fmax else float(out)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, ml_dtypes.bfloat16],
                         ids=["float32", "float16", "bfloat16"])
def test_round_to_matches_fractions(dtype) -> None:
    p, emin, fmax = FORMATS[np.dtype(dtype)]
    rng = np.random.default_rng(1)
    v = rng.uniform(-1, 1, N_EXACT) * 2.0 ** rng.integers(emin - p - 2, int(np.log2(fmax)) + 2, N_EXACT)
    grid = rng.uniform(-1, 1, N_EXACT).astype(dtype).astype(np.float64)
    v = np.concatenate([v, grid, (grid + np.nextafter(grid.astype(dtype), dtype(np.inf)).astype(np.float64)) / 2])
    v = v[np.isfinite(v)]
    with np.errstate(all="ignore"):
        got = round_to(v, dtype)
    want = np.array([_round_exactly(float(x), dtype) for x in v])
    assert np.array_equal(got, want)


FAST_REFERENCE = {("elu", 2.0, 0), ("selu", 1.0, 2), ("celu", float(np.float32(0.3)), 1)}


@pytest.mark.parametrize("name,alpha,order", [
    pytest.param(n, a, o, marks=() if (n, a, o) in FAST_REFERENCE else pytest.mark.slow, id=f"{o}-{n}-{a}")
    for n, a in [("elu", 1.0), ("elu", 2.0), ("selu", 1.0), ("celu", float(np.float32(0.3))), ("celu", 2.0)]
    for o in (0, 1, 2)])
def test_float32_reference_equals_mpmath_rounding(name: str, alpha: float, order: int) -> None:
    """The fast path (float64 bound, mpmath only where undecided) against mpmath at every point."""
    import mpmath

    from jelu.testing import mp_formula, round_exact, correctly_rounded

    rng = np.random.default_rng(4)
    x = np.concatenate([
        -np.exp(rng.uniform(np.log(1e-37), np.log(110.0), 150)),
        -rng.uniform(15.0, 31.0, 50),  # where exp(x / 0.3) nears the smallest normal
        np.exp(rng.uniform(np.log(1e-37), np.log(3e38), 30)),
    ]).astype(np.float32).astype(np.float64)
    got = correctly_rounded(name, order, x, np.float32, alpha)
    mpmath.mp.dps = 50
    want = np.array([round_exact(mp_formula(name, order, xi, alpha), np.float32) for xi in x])
    assert np.array_equal(got, want)


def test_ulp_distance_counts_float64_neighbours_exactly():
    one = 1.0
    up = np.nextafter(one, 2.0)
    down = np.nextafter(one, 0.0)
    got = ulp_distance(np.array([up, down, up, one, -up]), np.array([one, one, down, one, up]), np.float64)
    np.testing.assert_array_equal(got[:4], [1, 1, 2, 0])
    assert got[4] == float(2 * 0x3FF0000000000001)  # across 0: both magnitudes counted
    # float32 counts are unchanged: 2^23 floats between 1 and 2.
    assert ulp_distance(np.array([2.0]), np.array([1.0]), np.float32)[0] == 2**23
