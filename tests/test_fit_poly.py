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
