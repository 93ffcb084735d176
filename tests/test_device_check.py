"""Tests of ``python -m benchmarks.device_check``: a ``--quick`` run, and that its checks can fail.

The quick run goes through the same code as a GPU run at small sizes, so the
script cannot rot between GPU runs. Timings are not compared with each other;
the tests check that every section is there and passes or runs, that derived
figures are the arithmetic they claim, that the accuracy figures agree with
``jelu.testing.measure``, and that wrong results make the run fail. The quick
run takes about half a minute on 2 cores (the trainer section starts
examples/train.py), so the tests that read it are in the slow tier.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jax
import ml_dtypes
import numpy as np
import pytest

import jelu
from benchmarks import device_check as dc
from jelu.testing import CASES, all_bit_patterns, measure

REPO = Path(__file__).resolve().parent.parent
KIND = jax.default_backend()
QUICK_TIMEOUT_S = 240  # the quick run takes ~15 s alone on 2 cores; slack for a busy machine
SECTIONS = ("accuracy", "consistency", "speed", "mlp", "trainer")
CHECK_CASES = ("elu", "elu(alpha=1.7)", "selu", "celu(alpha=0.3)")
DTYPES = ("bfloat16", "float16", "float32")
ORDERS = ("value", "f'", "f''")


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run ``python -m benchmarks.device_check --quick`` once, as CI would."""
    out = tmp_path_factory.mktemp("device_check")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.device_check", "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=QUICK_TIMEOUT_S, cwd=REPO)
    return {"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr, "out": out,
            "json": json.loads((out / f"device_check-{KIND}.json").read_text()),
            "md": (out / f"device_check-{KIND}.md").read_text()}


@pytest.mark.slow
def test_quick_run_passes_and_has_every_section(quick: dict[str, Any]) -> None:
    assert quick["rc"] == 0, quick["stderr"][-2000:]
    result = quick["json"]
    assert result["passed"] is True
    assert tuple(result["sections"]) == SECTIONS
    for name, section in result["sections"].items():
        assert section["status"] in ("pass", "ok"), (name, section.get("error"))
        assert section["seconds"] > 0
    assert result["sections"]["accuracy"]["status"] == "pass"
    assert result["sections"]["consistency"]["status"] == "pass"
    meta = result["meta"]
    assert meta["quick"] is True and meta["versions"]["jelu"] == jelu.__version__
    assert meta["device_kind"] and meta["platform"] and meta["total_seconds"] > 0
    assert meta["command"] == f"python -m benchmarks.device_check --quick --out {quick['out']}"
    # The reports and nothing else: the trainer writes to a temporary folder.
    assert sorted(p.name for p in quick["out"].iterdir()) == [f"device_check-{KIND}.json",
                                                               f"device_check-{KIND}.md"]


@pytest.mark.slow
def test_progress_and_markdown(quick: dict[str, Any]) -> None:
    stdout = quick["stdout"]
    for number, name in enumerate(SECTIONS, 1):
        assert f"[{number}/5] {name}: " in stdout
    assert quick["md"] in stdout and stdout.rstrip().endswith("PASS.")
    for header in ("## 1. Accuracy", "## 2. Same bits as the CPU", "## 3. Speed",
                   "## 4. MLP train step", "## 5. Trainer"):
        assert header in quick["md"]


@pytest.mark.slow
def test_accuracy_rows_cover_every_case_and_match_measure(quick: dict[str, Any]) -> None:
    rows = quick["json"]["sections"]["accuracy"]["rows"]
    keys = [(r["case"], r["dtype"], r["order"]) for r in rows]
    assert sorted(keys) == sorted((c, d, o) for c in CHECK_CASES for d in DTYPES for o in ORDERS)
    finite = {"bfloat16": all_bit_patterns(ml_dtypes.bfloat16).size,
              "float16": all_bit_patterns(np.float16).size}
    for r in rows:
        if r["dtype"] in finite:  # every finite 16-bit input: correctly rounded for the default alphas
            assert r["points"] + r["subnormal_points"] == finite[r["dtype"]]
            assert r["pass"] and r["max_ulp"] <= 1
            if r["case"] in ("elu", "selu"):
                assert r["not_correctly_rounded"] == 0
        else:
            assert r["points"] > 2**15 and r["max_ulp"] <= 1
        assert r["share_not_correctly_rounded"] == pytest.approx(r["not_correctly_rounded"] / r["points"])
    # The script's figures are those of jelu.testing.measure on the same inputs.
    case = "celu(alpha=0.3)"
    _, _, name, kw = CASES[case]
    expected = measure(lambda x: getattr(jelu, name)(x, **kw), case, 2,
                       all_bit_patterns(np.float16), np.float16)
    got = next(r for r in rows if (r["case"], r["dtype"], r["order"]) == (case, "float16", "f''"))
    assert {k: got[k] for k in expected} == expected


@pytest.mark.slow
def test_consistency_rows(quick: dict[str, Any]) -> None:
    section = quick["json"]["sections"]["consistency"]
    assert len(section["rows"]) == len(CHECK_CASES) * len(DTYPES) * len(ORDERS)
    for r in section["rows"]:
        assert r["mismatches"] - r["mismatches_subnormal"] == 0 and r["pass"]


@pytest.mark.slow
def test_speed_figures_are_their_arithmetic(quick: dict[str, Any]) -> None:
    s = quick["json"]["sections"]["speed"]
    n = s["n"]
    assert s["copy_bytes"] == 2 * n * 4
    assert s["copy_bandwidth_Bps"] == max(f["bandwidth_Bps"] for f in s["copy_floors"].values())
    for f in s["copy_floors"].values():
        assert f["bandwidth_Bps"] == pytest.approx(s["copy_bytes"] / f["time_s"], rel=1e-12)
    idx = {(r["dtype"], r["mode"], r["impl"], r["function"]): r for r in s["rows"]}
    assert len(idx) == len(s["rows"]) == 2 * 2 * 2 * 3
    itemsize = {"float32": 4, "bfloat16": 2}
    for (dtype, mode, impl, fn), r in idx.items():
        assert 0 < r["min_time_s"] <= r["time_s"]
        assert r["bytes_moved"] == (2 if mode == "fwd" else 3) * n * itemsize[dtype]
        assert r["fraction_of_copy_bandwidth"] == pytest.approx(
            r["bytes_moved"] / r["time_s"] / s["copy_bandwidth_Bps"], rel=1e-12)
        assert r["ratio_to_jax_nn"] == pytest.approx(
            r["time_s"] / idx[(dtype, mode, "jax.nn", fn)]["time_s"], rel=1e-12)
    assert set(s["targets"]) and all(isinstance(v, bool) for v in s["targets"].values())


@pytest.mark.slow
def test_mlp_rows(quick: dict[str, Any]) -> None:
    s = quick["json"]["sections"]["mlp"]
    rows = {(r["dtype"], r["activation"]): r for r in s["rows"]}
    assert set(rows) == {(d, a) for d in ("float32", "bfloat16")
                         for a in ("jelu.elu", "jax.nn.elu", "jax.nn.relu")}
    for (dtype, _), r in rows.items():
        relu = rows[(dtype, "jax.nn.relu")]
        assert r["time_s"] > 0 and isinstance(r["temp_bytes"], int)
        assert r["ratio_to_relu_time"] == pytest.approx(r["time_s"] / relu["time_s"], rel=1e-12)
        assert r["ratio_to_relu_temp"] == pytest.approx(r["temp_bytes"] / relu["temp_bytes"], rel=1e-12)


@pytest.mark.slow
def test_trainer_ran_through_its_command_line(quick: dict[str, Any]) -> None:
    s = quick["json"]["sections"]["trainer"]
    assert s["returncode"] == 0 and s["wall_s"] > 0
    assert "--no-progress" in s["command"] and "--epochs 1" in s["command"]
    assert s["final_line"].startswith("test_accuracy=")
    assert 0.0 <= float(s["fields"]["test_accuracy"]) <= 1.0


def test_bit_mismatches_counts_subnormals_apart() -> None:
    tiny = float(np.finfo(np.float32).tiny)
    x = np.array([-1.0, -2.0, -3.0, -tiny / 4, -4.0])
    a = np.array([1.0, 0.0, 2.0, 0.0, tiny / 2], np.float32)
    b = np.array([1.0, -0.0, np.nextafter(np.float32(2), np.float32(3)), tiny / 8, 0.0], np.float32)
    # -0.0 vs 0.0 and one ULP apart count; a subnormal input or result is counted apart.
    assert dc.bit_mismatches(a, b, x, np.float32) == (4, 2)
    assert dc.bit_mismatches(a, a.copy(), x, np.float32) == (0, 0)


def test_wrong_results_fail_both_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Results one ULP off on every other evaluation: accuracy and consistency must fail."""
    calls = {"n": 0}
    original = dc.Evaluator.__call__

    def off_by_one_ulp_every_other_call(self, case, order, x, dtype, device):
        y = original(self, case, order, x, dtype, device)
        calls["n"] += 1
        if calls["n"] % 2 == 0:  # in the consistency loop: the CPU call of each pair
            with np.errstate(over="ignore"):  # the largest finite value steps to inf
                y = np.nextafter(y, np.array(np.inf, y.dtype))
        return y

    monkeypatch.setattr(dc.Evaluator, "__call__", off_by_one_ulp_every_other_call)
    # One case and one 16-bit dtype (with float32) keep the run short; the checks are the same.
    monkeypatch.setattr(dc, "ACCURACY_CASES", ("celu(alpha=0.3)",))
    monkeypatch.setattr(dc, "SIXTEEN_BIT", {"float16": np.float16})
    monkeypatch.setattr(dc, "QUICK", dc.Sizes(f32_random=2**10, f32_dense=2**10, speed_n=2**10,
                                              speed_repeats=1, mlp_repeats=1, trainer_epochs=1,
                                              trainer_timeout_s=60))
    code = dc.main(["--quick", "--sections", "accuracy,consistency", "--out", str(tmp_path)])
    result = json.loads((tmp_path / f"device_check-{KIND}.json").read_text())
    assert code == 1 and result["passed"] is False
    assert result["sections"]["accuracy"]["status"] == "fail"
    assert result["sections"]["consistency"]["status"] == "fail"
    assert any(r["max_ulp"] >= 1 and not r["pass"] for r in result["sections"]["accuracy"]["rows"])
    assert all(r["mismatches"] > 0 for r in result["sections"]["consistency"]["rows"])


@pytest.mark.parametrize("bad", [["--sections", "accuracy,bogus"], ["--sections", ""],
                                 ["--out", "{file}"], ["--quick", "--frobnicate"]])
def test_bad_input_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: list[str]) -> None:
    file = tmp_path / "a_file"
    file.write_text("x")
    argv = [arg.format(file=file) for arg in bad]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exc:
        dc.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("python -m benchmarks.device_check: error: ")
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_default_reports_follow_the_results_convention() -> None:
    json_path, md_path = dc.report_paths(dc.parse_args([]).out)
    assert json_path == REPO / "benchmarks" / "results" / f"device_check-{KIND}.json"
    assert md_path == json_path.with_suffix(".md")
