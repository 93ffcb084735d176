"""``python -m benchmarks.fit_poly`` regenerates the kernel's polynomial coefficients exactly,
the bound it prints for them is below what the kernel's error budget assumes,
and that bound is a bound: at least the error anywhere on a dense grid, yet
close to it."""

import math

import mpmath
import numpy as np
import pytest

from benchmarks import fit_poly
from jelu import _constants as consts


def _fit_poly():
    return fit_poly


# The budgets are the figures the module docstring of jelu/_kernel.py quotes.
@pytest.mark.parametrize("dtype,fmt,bound", [(np.float32, consts.F32, -29.1), (np.float64, consts.F64, -59.3)],
                         ids=["float32", "float64"])
def test_coefficients_are_the_scripts(dtype, fmt, bound):
    fp = _fit_poly()
    coefs, log2_err = fp.fit(len(fmt.poly) - 1, np.dtype(dtype))
    assert [float(np.asarray(c, dtype)) for c in fmt.poly] == coefs
    assert log2_err < bound
    assert fp.rigorous_bound(coefs, np.dtype(dtype).name) < 2.0**bound


def _dense_grid_max(coeffs, r_max, points=4001):
    """max |r^3 p(r) + r + r^2/2 - expm1(r)| / |expm1(r)| on a grid of [-r_max, r_max]
    (end points included), mpmath at 50 digits: independent of the script's q()."""
    with mpmath.workdps(50):
        c = [mpmath.mpf(float(v)) for v in coeffs]
        R = mpmath.mpf(r_max)
        worst = mpmath.mpf(0)
        for i in range(points):
            r = R * (2 * i - (points - 1)) / (points - 1)
            if r == 0:
                continue
            p = mpmath.mpf(0)
            for v in c:
                p = p * r + v
            e = mpmath.expm1(r)
            worst = max(worst, abs(r**3 * p + r + r * r / 2 - e) / abs(e))
        return float(worst)


def _check_brackets(fp, coeffs, dtype_name, r_max):
    bound = fp.rigorous_bound(coeffs, dtype_name, r_max)
    grid = _dense_grid_max(coeffs, fp.kernel_r_max() if r_max is None else r_max)
    assert grid <= bound <= 1.1 * grid, (dtype_name, r_max, math.log2(grid), math.log2(bound))
    return bound


@pytest.mark.parametrize("dtype,fmt,r_max", [(np.float32, consts.F32, None), (np.float64, consts.F64, None),
                                             (np.float32, consts.F32, 0.25)],
                         ids=["float32", "float64", "float32-interior-max"])
def test_rigorous_bound_is_a_tight_bound(dtype, fmt, r_max):
    """bound >= the error at each of 4,001 points, and <= 1.1x their max; at
    r_max = 0.25 the maximum is inside, not at the end points."""
    _check_brackets(_fit_poly(), list(fmt.poly), np.dtype(dtype).name, r_max)


@pytest.mark.parametrize("dtype,fmt,power", [(np.float32, consts.F32, 0), (np.float64, consts.F64, 5)],
                         ids=["float32-r^0", "float64-r^5"])
def test_rigorous_bound_grows_with_a_perturbed_coefficient(dtype, fmt, power):
    """Coefficient of r^power times (1 + 1e-4): the bound still brackets the grid
    maximum, and lies between |delta| R^power w(-R) -/+ the unperturbed bound,
    w(r) = |r^3/expm1(r)| (largest at -R), by the triangle inequality at r = -R."""
    fp = _fit_poly()
    name = np.dtype(dtype).name
    coeffs = [float(np.asarray(c, dtype)) for c in fmt.poly]
    base = fp.rigorous_bound(coeffs, name)
    i = len(coeffs) - 1 - power
    new = float(np.asarray(coeffs[i] * (1 + 1e-4), dtype))
    delta = abs(new - coeffs[i])
    assert delta > 0.9e-4 * abs(coeffs[i])
    coeffs[i] = new
    bound = _check_brackets(fp, coeffs, name, None)
    R = mpmath.mpf(fp.kernel_r_max())
    grown = float(delta * R**power * R**3 / abs(mpmath.expm1(-R)))
    assert grown - base <= bound <= 1.01 * (grown + base)
    assert bound > 1e3 * base


def test_rigorous_bound_rejects_bad_r_max(capsys):
    fp = _fit_poly()
    with pytest.raises(ValueError):
        fp.rigorous_bound(list(consts.F32.poly), "float32", 3.0)
    with pytest.raises(SystemExit) as info:
        fp.main(["--r-max", "0"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--r-max" in err and err.count("\n") == 1


def test_bad_degree_is_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        _fit_poly().main(["--degree", "0"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m benchmarks.fit_poly: error: --degree") and err.count("\n") == 1


def test_hex_constants_in_the_module_docstring_are_the_kernels():
    """Every hex float the module docstring quotes for a constant is the value
    the kernel uses (SELU's hi/lo pairs, the clamps, the shifters)."""
    import re
    from decimal import Decimal

    doc = consts.__doc__

    def short_hex(v: float) -> str:  # float.hex without the trailing zero digits
        return re.sub(r"\.?0+p", "p", float(v).hex())

    for name in ("SELU_SCALE_DIGITS", "SELU_SCALE_ALPHA_DIGITS"):
        value = getattr(consts, name)
        for dtype in (np.float32, np.float64):
            hi = float(np.asarray(float(value), dtype))
            lo = float(np.asarray(float(Decimal(value) - Decimal(hi)), dtype))
            for part in (hi, lo):
                text = short_hex(part)
                assert text in doc, f"{name} {dtype.__name__}: {text} not in the docstring"
    for fmt in (consts.F32, consts.F64):
        assert short_hex(fmt.xmin) in doc
        assert short_hex(1.5 * 2.0**fmt.mant) in doc
    for text in re.findall(r"-?0x[0-9a-f.]+p[+-]\d+", doc):
        assert float.fromhex(text) != 0
