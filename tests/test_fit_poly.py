"""benchmarks/fit_poly.py regenerates the kernel's polynomial coefficients exactly,
and the bound it prints for them is below what the kernel's error budget assumes."""

import numpy as np
import pytest

from jelu import activations as A
from script_loader import load_script


def _fit_poly():
    return load_script("fit_poly")


@pytest.mark.parametrize("dtype,fmt,bound", [(np.float32, A._F32, -29.0), (np.float64, A._F64, -59.0)],
                         ids=["float32", "float64"])
def test_coefficients_are_the_scripts(dtype, fmt, bound):
    coefs, log2_err = _fit_poly().fit(len(fmt.poly) - 1, np.dtype(dtype))
    assert [float(np.asarray(c, dtype)) for c in fmt.poly] == coefs
    assert log2_err < bound


def test_bad_degree_is_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        _fit_poly().main(["--degree", "0"])
    assert info.value.code == 2
    assert "--degree" in capsys.readouterr().err


def test_hex_constants_in_the_module_docstring_are_the_kernels():
    """Every hex float the module docstring quotes for a constant is the value
    the kernel uses (SELU's hi/lo pairs, the clamps, the shifters)."""
    import re
    from decimal import Decimal

    doc = A.__doc__

    def short_hex(v: float) -> str:  # float.hex without the trailing zero digits
        return re.sub(r"\.?0+p", "p", float(v).hex())

    for name in ("_SELU_SCALE", "_SELU_SCALE_ALPHA"):
        value = getattr(A, name)
        for dtype in (np.float32, np.float64):
            hi = float(np.asarray(float(value), dtype))
            lo = float(np.asarray(float(Decimal(value) - Decimal(hi)), dtype))
            for part in (hi, lo):
                text = short_hex(part)
                assert text in doc, f"{name} {dtype.__name__}: {text} not in the docstring"
    for fmt in (A._F32, A._F64):
        assert short_hex(fmt.xmin) in doc
        assert short_hex(1.5 * 2.0**fmt.mant) in doc
    for text in re.findall(r"-?0x[0-9a-f.]+p[+-]\d+", doc):
        assert float.fromhex(text) != 0
