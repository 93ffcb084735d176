"""``python -m benchmarks.f64_route``: a small run has every route and size, the float64
routes round correctly on its sample, and bad input is one line, exit 2."""

from __future__ import annotations

import jax
import pytest

from benchmarks import f64_route as script

# The routes switch to 64-bit inside a traced function: jax.enable_x64 (public from jax 0.8)
# does; the jax.experimental context manager of older releases leaves a float32 constant
# in the float64 graph, which does not lower.
needs_public_enable_x64 = pytest.mark.skipif(
    not hasattr(jax, "enable_x64"), reason="benchmarks.f64_route needs jax.enable_x64 (jax >= 0.8)")


@pytest.mark.slow
@needs_public_enable_x64
def test_small_run(tmp_path, capsys):
    argv = ["--stride", str(2**23 + 9), "--sizes", "4", "--repeats", "1", "--out", str(tmp_path)]
    assert script.main(argv) == 0
    out = tmp_path / f"f64_route-{jax.default_backend()}.md"
    assert [p.name for p in tmp_path.iterdir()] == [out.name]
    report = out.read_text()
    assert report == capsys.readouterr().out
    assert f"Command: `python -m benchmarks.f64_route {' '.join(argv)}`." in report
    rows = {line.split(" | ")[0].lstrip("| "): line for line in report.splitlines() if line.startswith("| ")}
    for route in script.ROUTES:
        assert route in rows
    assert "| 2^4 |" in report


@pytest.mark.slow
@needs_public_enable_x64
def test_float64_routes_round_correctly_on_a_sample():
    acc = script.accuracy(2**20 + 7)
    assert len(acc) == len(script.ROUTES) * len(script.ALPHAS) * len(script.ORDERS)
    for row in acc:
        assert row["points"] > 1000
        if "float64" in row["route"]:  # rounded once from a float64 result: correct on this sample
            assert row["max_ulp"] == 0, row
        if row["route"] == "jax.nn.elu" and row["order"] == "f'":
            # jax.nn's derivative expm1(x) + 1 is 0 below x = -17.3, where alpha exp(x) is not
            assert row["max_ulp"] > 1000, row


@pytest.mark.parametrize("argv", [["--sizes", "3"], ["--sizes", "a,b"], ["--stride", "0"], ["--repeats", "x"]])
def test_bad_input_is_one_line_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        script.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m benchmarks.f64_route: error: ")
