"""Tests of ``python -m benchmarks.accuracy``: JAX's ULP measure against its definition, and a ``--quick`` run.

The expected errors are worked out by hand from the definition on JAX's
"Numerical accuracy" page (ulp of the exact value's binade, flush to zero,
overflow at 2^(emax+1)); the quick run's two measures are checked against
each other and against facts known apart from the tool (jax.nn.elu's
derivative in bfloat16 is 0 at x = -8, while exp(-8) is not).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_dtypes
import mpmath
import numpy as np
import pytest

import jelu
from benchmarks import accuracy
from jelu.testing import all_bit_patterns, ulp_distance

pytestmark = pytest.mark.xdist_group("test_accuracy_tool")  # one quick run per session

BF16 = np.dtype(ml_dtypes.bfloat16)
F32_MAX = float(np.finfo(np.float32).max)

# (dtype, result y, exact f, error in ULPs), from the page's definition.
DEFINITION = [
    (np.float32, 1.0, 1 + 2.0**-24, 0.5),                  # ulp(f) = 2^-23: correctly rounded, a tie
    (np.float32, 1 - 2.0**-24, 1.0, 0.5),                  # the ulp of f's binade, not of y's
    (np.float32, 1.0, 1 - 2.0**-25, 0.5),                  # f in [1/2, 1): ulp 2^-24
    (np.float32, 2 + 2.0**-22, 2.0, 1.0),                  # one float up: ulp(2) = 2^-22
    (np.float32, 0.0, 2.0**-126, 1.0),                     # FTZ: 0 and 2^emin are neighbours
    (np.float32, 0.0, 2.0**-127, 0.0),                     # both below 2^emin
    (np.float32, -0.0, 1.5 * 2.0**-126, 2**22 + 1),        # the subnormal range contracted
    (np.float32, math.inf, 2.0**128, 0.0),                 # beyond the overflow threshold: inf
    (np.float32, F32_MAX, 2.0**128, 1.0),                  # inf placed at max + 1 ulp
    (np.float32, math.inf, F32_MAX, 1.0),
    (BF16, 0.0, math.exp(-8.0), math.exp(-8.0) * 2**19),   # exp(-8) in [2^-12, 2^-11): ulp 2^-19
    (np.float16, 65504.0, 65519.0, 0.46875),               # below the threshold 2^16 - 16: (65519 - 65504) / 32
    (np.float16, 65504.0, 65520.0, 1.0),                   # at it: inf, placed at 2^16
]


@pytest.mark.parametrize("dtype, y, f, want", DEFINITION)
def test_jax_error_follows_the_definition(dtype, y, f, want) -> None:
    got = accuracy.jax_error(np.array([y]), np.array([f]), dtype)[0]
    assert got == pytest.approx(want, rel=1e-12, abs=1e-12)
    with mpmath.workdps(50):
        assert accuracy.jax_error_mp(y, mpmath.mpf(f), dtype) == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_jax_error_in_float64_uses_the_exact_value() -> None:
    with mpmath.workdps(50):
        f = mpmath.mpf(1) + mpmath.mpf(2) ** -60
        assert accuracy.jax_error_mp(1.0, f, np.float64) == pytest.approx(2.0**-8)
        assert accuracy.jax_error_mp(1.0 + 2.0**-52, f, np.float64) == pytest.approx(1 - 2.0**-8)


def test_ulp_count_is_exact_in_every_dtype() -> None:
    assert list(accuracy.ulp_count(np.array([1.0, -2.0, -0.0]), np.array([np.nextafter(1.0, 2.0), 2.0, 0.0]),
                                   np.float64)) == [1, 2**63, 0]
    x = all_bit_patterns(BF16)
    y = np.random.default_rng(0).permutation(x)
    np.testing.assert_array_equal(accuracy.ulp_count(x, y, BF16).astype(np.float64), ulp_distance(x, y, BF16))


def test_jax_nn_bfloat16_derivative_cancels_at_minus_8() -> None:
    x = jnp.asarray(-8.0, jnp.bfloat16)
    ours, theirs = (float(jax.grad(f)(x)) for f in (jelu.elu, jax.nn.elu))
    f = np.array([math.exp(-8.0)])
    assert theirs == 0.0  # expm1(-8) + 1 rounds to 0 in bfloat16
    assert accuracy.jax_error(np.array([theirs]), f, BF16)[0] > 100
    assert accuracy.jax_error(np.array([ours]), f, BF16)[0] <= 0.5


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Run ``python -m benchmarks.accuracy --quick --plot`` once; its report's tables, parsed."""
    out = tmp_path_factory.mktemp("accuracy")
    png = out / "binades.png"
    assert accuracy.main(["--quick", "--out", str(out), "--plot", str(png)]) == 0
    text = (out / f"accuracy-{jax.default_backend()}.md").read_text()
    sections = {s.split("\n", 1)[0]: s for s in text.split("\n## ")[1:]}
    rows = lambda head: [[c.strip() for c in line.strip("|").split("|")]  # noqa: E731
                         for line in sections[head].splitlines() if line.startswith("| ") and "---" not in line][1:]
    jax_rows = {tuple(r[:3]): [float(c.replace(",", "")) for c in r[4:]]
                for r in rows(next(h for h in sections if h.startswith("JAX's measure")))}
    cell = re.compile(r"^([\d,]+) \(([\d,]+) of ([\d,]+)\)$")  # max ULP (not CR of points)
    cr_rows = {tuple(r[:3]): [tuple(int(n.replace(",", "")) for n in cell.match(c).groups()) for c in r[3:]]
               for r in rows(next(h for h in sections if h.startswith("ULPs from")))}
    binades = rows(next(h for h in sections if h.startswith("Per binade")))
    return {"jax": jax_rows, "cr": cr_rows, "binades": binades, "png": png}


def test_quick_run_16_bit_elu_is_correctly_rounded_in_jax_measure(quick) -> None:
    for dtype in ("bfloat16", "float16"):
        assert max(quick["jax"][("elu", dtype, "jelu")]) <= 0.5
    assert min(quick["jax"][("elu", "bfloat16", "jax.nn")][1:]) > 100  # the cancelling derivative


def test_quick_run_two_measures_agree(quick) -> None:
    """Not correctly rounded somewhere <=> an error above 0.5 ULP (one float off is at least 0.5)."""
    assert quick["jax"].keys() == quick["cr"].keys()
    assert {k[1] for k in quick["jax"]} == {"bfloat16", "float16", "float32", "float64"}
    for key, errs in quick["jax"].items():
        for err, (max_ulp, not_cr, points) in zip(errs, quick["cr"][key]):
            assert points > 0
            assert (not_cr == 0) == (max_ulp == 0), key
            if max_ulp == 0:
                assert err <= 0.5, key
            else:
                assert err >= 0.4999, key
            if err > 0.5:
                assert not_cr > 0, key


def test_quick_run_binade_table_and_picture(quick) -> None:
    lo, hi = accuracy.WINDOW
    assert [int(r[0]) for r in quick["binades"]] == list(range(lo, hi + 1))
    by_e = {int(r[0]): r[1:] for r in quick["binades"]}
    assert all(len(cells) == 8 for cells in by_e.values())
    # columns: bfloat16 value jelu, jax.nn, f' jelu, jax.nn, then float32 alike
    assert all(float(cells[c]) <= 0.5 for cells in by_e.values() for c in (0, 2))  # every bfloat16 input
    assert by_e[4][7].endswith("0!") and float(by_e[4][7].split()[0]) >= 2**23  # f' 0 where exp(x) > 0
    assert not any(c.endswith("0!") for cells in by_e.values() for c in (cells[2], cells[6]))
    png = Path(quick["png"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_plot_must_be_a_png(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        accuracy.main(["--quick", "--plot", "picture.txt"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--plot" in err
