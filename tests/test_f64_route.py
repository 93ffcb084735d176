"""benchmarks/f64_route.py: a small run has every route and size, the float64
routes round correctly on its sample, and bad input is one line, exit 2."""

from __future__ import annotations

import pytest

from script_loader import load_script


@pytest.fixture(scope="module")
def script():
    return load_script("f64_route")


def test_small_run(script, tmp_path, capsys):
    out = tmp_path / "f64.md"
    assert script.main(["--stride", str(2**20 + 7), "--sizes", "4,6", "--repeats", "1", "--out", str(out)]) == 0
    report = out.read_text()
    assert report == capsys.readouterr().out
    rows = {line.split(" | ")[0].lstrip("| "): line for line in report.splitlines() if line.startswith("| ")}
    for route in script.ROUTES:
        assert route in rows
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
def test_bad_input_is_one_line_exit_2(script, argv, capsys):
    with pytest.raises(SystemExit) as info:
        script.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err
