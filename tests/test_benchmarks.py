"""Tests of benchmarks/run.py: a ``--quick`` run's JSON schema and facts that could fail.

The quick run (tiny sizes, 2 repeats) is a smoke test of the harness, so no
assertion here compares timings with each other; they check that every row is
there, that the derived fields are the arithmetic they claim to be, and facts
known independently of the harness (jax.nn.elu's residuals, the bytes an
elementwise pass must move, the compiled temp memory ordering).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jax
import jax.ad_checkpoint
import jax.numpy as jnp
import pytest

import jelu
from script_loader import load_script

REPO = Path(__file__).resolve().parent.parent
RUN = REPO / "benchmarks" / "run.py"
SIZES = (1024, 4096)  # elements per elementwise call in the quick run, ascending
N_ARG = "4096, 1024"  # the same sizes as written on the command line (out of order on purpose)
N = max(SIZES)  # the size of the residual rows
ITEMSIZE = {"float32": 4, "bfloat16": 2}
FUNCTIONS = ("elu", "selu", "celu", "celu(0.3)")
MODES = ("fwd", "fwd+bwd")


def _load_run_module() -> Any:
    return load_script("run", "benchmarks_run")


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run ``benchmarks/run.py --quick`` once; return its JSON, markdown and stdout."""
    out = tmp_path_factory.mktemp("bench") / "results.json"
    proc = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--n", N_ARG, "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    return {
        "json": json.loads(out.read_text()),
        "md": out.with_suffix(".md").read_text(),
        "stdout": proc.stdout,
    }


def _torch_expected() -> bool:
    return importlib.util.find_spec("torch") is not None and jax.default_backend() == "cpu"


def test_meta_describes_this_run(quick: dict[str, Any]) -> None:
    meta = quick["json"]["meta"]
    assert quick["json"]["schema_version"] == 2
    assert meta["sizes"] == list(SIZES) and meta["residual_n"] == N and meta["quick"] is True
    assert meta["repeats"] >= 1 and meta["mlp_repeats"] >= 1
    assert meta["platform"] == jax.default_backend()
    assert meta["device_kind"] == jax.devices()[0].device_kind
    assert meta["versions"]["jax"] == jax.__version__
    assert meta["versions"]["jelu"] == jelu.__version__
    assert meta["cpu_model"] and meta["date"][:2] == "20"
    assert meta["total_seconds"] > 0


def test_every_elementwise_row_present_once(quick: dict[str, Any]) -> None:
    rows = quick["json"]["elementwise"]
    keys = [(r["n"], r["dtype"], r["mode"], r["impl"], r["function"]) for r in rows]
    impls = ["jelu", "jax.nn"] + (["torch"] if _torch_expected() else [])
    expected = set()
    for n in SIZES:
        for dtype in ITEMSIZE:
            expected |= {(n, dtype, "fwd", "floor", "x*2"), (n, dtype, "fwd+bwd", "floor", "x*g")}
            for mode in MODES:
                expected |= {(n, dtype, mode, impl, fn) for impl in impls for fn in FUNCTIONS}
    assert len(keys) == len(set(keys))
    assert set(keys) == expected


def test_elementwise_derived_fields_are_consistent(quick: dict[str, Any]) -> None:
    rows = quick["json"]["elementwise"]
    index = {(r["n"], r["dtype"], r["mode"], r["impl"], r["function"]): r for r in rows}
    for r in rows:
        n = r["n"]
        assert 0 < r["min_time_s"] <= r["time_s"] < 10
        floor = index[(n, r["dtype"], r["mode"], "floor", "x*2" if r["mode"] == "fwd" else "x*g")]
        assert r["ratio_to_floor"] == pytest.approx(r["time_s"] / floor["time_s"], rel=1e-12)
        if r["impl"] == "floor":
            assert r["ratio_to_jax_nn"] is None
        else:
            ref = index[(n, r["dtype"], r["mode"], "jax.nn", r["function"])]
            assert r["ratio_to_jax_nn"] == pytest.approx(r["time_s"] / ref["time_s"], rel=1e-12)
        # fwd reads x and writes y; the gradient reads x and g and writes dx.
        arrays = 2 if r["mode"] == "fwd" else 3
        assert r["bytes_moved"] == arrays * n * ITEMSIZE[r["dtype"]]
        assert r["bandwidth_GBps"] == pytest.approx(r["bytes_moved"] / r["time_s"] / 1e9, rel=1e-12)
        copy = index[(n, r["dtype"], "fwd", "floor", "x*2")]
        copy_bw = 2 * n * ITEMSIZE[r["dtype"]] / copy["time_s"]
        assert r["fraction_of_copy_bandwidth"] == pytest.approx(
            r["bytes_moved"] / r["time_s"] / copy_bw, rel=1e-12)
    assert all(index[(n, d, "fwd", "floor", "x*2")]["fraction_of_copy_bandwidth"] == pytest.approx(1.0)
               for n in SIZES for d in ITEMSIZE)


def test_summary_is_the_worst_ratio_over_sizes(quick: dict[str, Any]) -> None:
    rows = [r for r in quick["json"]["elementwise"] if r["impl"] == "jelu"]
    summary = quick["json"]["summary"]
    keys = [(s["dtype"], s["mode"], s["function"]) for s in summary]
    assert keys == [(d, m, f) for d in ITEMSIZE for m in MODES for f in FUNCTIONS]
    for s in summary:
        ratios = {r["n"]: r["ratio_to_jax_nn"] for r in rows
                  if (r["dtype"], r["mode"], r["function"]) == (s["dtype"], s["mode"], s["function"])}
        assert set(ratios) == set(SIZES)
        assert s["max_ratio_to_jax_nn"] == max(ratios.values())
        assert ratios[s["n"]] == s["max_ratio_to_jax_nn"]


def test_celu_rows_use_both_alphas(quick: dict[str, Any]) -> None:
    """celu is alpha = 0.5 (a power of two), celu(0.3) the general path; both everywhere."""
    run = _load_run_module()
    assert run.FUNCTION_SPECS["celu"] == ("celu", 0.5)
    assert run.FUNCTION_SPECS["celu(0.3)"] == ("celu", 0.3)
    x = jnp.linspace(-3.0, 1.0, 9)
    for impl in ("jelu", "jax.nn"):
        for name, alpha in (("celu", 0.5), ("celu(0.3)", 0.3)):
            assert jnp.allclose(run._jax_fn(impl, name)(x), jax.nn.celu(x, alpha), rtol=1e-6, atol=1e-7)
    for n in SIZES:
        for mode in MODES:
            assert any((r["n"], r["mode"], r["impl"], r["function"]) == (n, mode, "jelu", "celu(0.3)")
                       for r in quick["json"]["elementwise"])
    assert {r["function"] for r in quick["json"]["residuals"]} == set(FUNCTIONS)
    assert all(r["n"] == N for r in quick["json"]["residuals"])
    assert "| float32 | fwd | 2**10 | celu(0.3) |" in quick["md"]
    assert "| bfloat16 | celu(0.3) |" in quick["md"]


@pytest.mark.parametrize("dtype", list(ITEMSIZE))
def test_jax_nn_elu_keeps_two_masks_and_two_float_arrays(quick: dict[str, Any], dtype: str) -> None:
    # Known fact for jax 0.10 (checked by hand with print_saved_residuals):
    # jax.nn.elu's VJP keeps two boolean masks and two float arrays of size n.
    row = next(r for r in quick["json"]["residuals"]
               if (r["dtype"], r["impl"], r["function"]) == (dtype, "jax.nn", "elu"))
    assert row["count"] == row["full_size_count"] == 4
    assert sorted(row["arrays"]) == sorted([f"bool[{N}]"] * 2 + [f"{dtype}[{N}]"] * 2)
    assert row["bytes"] == 2 * N * 1 + 2 * N * ITEMSIZE[dtype]
    assert row["bytes_per_element"] == pytest.approx(row["bytes"] / N)


@pytest.mark.parametrize("impl", ["jelu", "jax.nn"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_residual_count_matches_print_saved_residuals(
    quick: dict[str, Any], impl: str, name: str
) -> None:
    """The harness's method (VJP closure leaves) agrees with JAX's own report."""
    f = _load_run_module()._jax_fn(impl, name)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        jax.ad_checkpoint.print_saved_residuals(f, jnp.ones((N,), jnp.float32))
    reported = [line for line in buffer.getvalue().splitlines() if line.strip()]
    row = next(r for r in quick["json"]["residuals"]
               if (r["dtype"], r["impl"], r["function"]) == ("float32", impl, name))
    assert row["count"] == len(reported)
    assert sum(line.split()[0].endswith(f"[{N}]") for line in reported) == row["full_size_count"]


def test_mlp_rows_memory_order_and_ratios(quick: dict[str, Any]) -> None:
    mlp = quick["json"]["mlp"]
    rows = {r["activation"]: r for r in mlp["rows"]}
    assert set(rows) == {"jelu.elu", "jax.nn.elu", "jax.nn.relu", "identity"}
    relu = rows["jax.nn.relu"]
    for r in rows.values():
        assert r["time_s"] > 0
        assert r["ratio_to_relu_time"] == pytest.approx(r["time_s"] / relu["time_s"], rel=1e-12)
        assert isinstance(r["temp_bytes"], int) and r["temp_bytes"] >= 0
        assert r["ratio_to_relu_temp"] == pytest.approx(r["temp_bytes"] / relu["temp_bytes"], rel=1e-12)
    # relu's backward needs only a mask of the pre-activations; elu's more.
    assert rows["identity"]["temp_bytes"] <= relu["temp_bytes"] <= rows["jax.nn.elu"]["temp_bytes"]


def _check_trainer_times(figures: dict[str, Any]) -> None:
    assert set(figures["step_time_s"]) == {"elu", "relu", "jax-elu"}
    for name, t in figures["step_time_s"].items():
        assert t > 0
        ratio = figures["ratio_to_relu_time"][name]
        assert ratio == pytest.approx(t / figures["step_time_s"]["relu"], rel=1e-12)


def test_trainer_row_runs_when_the_trainer_can(quick: dict[str, Any]) -> None:
    trainer = quick["json"]["mlp"]["trainer"]
    runnable = (REPO / "examples" / "train.py").is_file() and all(
        importlib.util.find_spec(m) is not None for m in ("optax", "sklearn"))
    assert trainer["status"] == ("ok" if runnable else "skipped"), trainer.get("note")
    if runnable:
        assert trainer["layer_sizes"][0] > 0
        assert trainer["cpus"] == quick["json"]["meta"]["cpus_available"]
        _check_trainer_times(trainer)
    else:
        assert trainer["note"]


def test_trainer_pinned_column_present_or_skipped(quick: dict[str, Any]) -> None:
    trainer = quick["json"]["mlp"]["trainer"]
    if trainer["status"] != "ok":
        pytest.skip(f"trainer skipped: {trainer['note']}")
    pinned = trainer["pinned"]
    assert "| 1 CPU (pinned): step µs |" in quick["md"]
    if hasattr(os, "sched_setaffinity"):
        assert pinned["status"] == "ok", pinned.get("note")
        assert pinned["cpus"] == 1 and pinned["cpu"] in os.sched_getaffinity(0)
        _check_trainer_times(pinned)
        assert "ParallelTaskAssigner" in quick["md"]
    else:
        assert pinned["status"] == "skipped" and pinned["note"]
        assert "1 CPU (pinned): skipped" in quick["md"]


def test_pinned_trainer_skipped_without_sched_setaffinity(monkeypatch: pytest.MonkeyPatch) -> None:
    run = _load_run_module()
    monkeypatch.delattr(run.os, "sched_setaffinity", raising=False)
    pinned = run.pinned_trainer_benchmark(1)
    assert pinned["status"] == "skipped" and "sched_setaffinity" in pinned["note"]


def test_markdown_is_printed_and_saved(quick: dict[str, Any]) -> None:
    assert quick["stdout"].startswith(quick["md"])
    md = quick["md"]
    summary_head = "| dtype | pass | " + " | ".join(FUNCTIONS) + " |"
    table_head = "| dtype | pass | n | fn | floor ms | jelu ms |"
    assert summary_head in md and table_head in md
    assert md.index(summary_head) < md.index(table_head)  # the summary comes first
    assert "over n = 2**10, 2**12" in md
    summary_rows = [line for line in md.splitlines() if line.startswith("| float32 | fwd | ")
                    and "(n = 2**" in line]
    assert len(summary_rows) == 1 and summary_rows[0].count("(n = 2**") == len(FUNCTIONS)
    # Per size, ascending: every function once.
    assert md.count("| float32 | fwd | 2**10 |") == md.count("| float32 | fwd | 2**12 |") == len(FUNCTIONS)
    assert md.index("| float32 | fwd | 2**10 |") < md.index("| float32 | fwd | 2**12 |")
    assert "| jax.nn.relu |" in md


@pytest.mark.parametrize(
    "bad",
    [["--n", "abc"], ["--n", "0"], ["--n", "2**16,"], ["--n", "2**16,,2**20"], ["--n", "2**16,abc"],
     ["--n", "2**16,2**99"], ["--n", ","], ["--repeats", "0"], ["--mlp-repeats", "x"],
     ["--out", "{tmp}/missing/results.json"], ["--out", "{tmp}"]],
)
def test_bad_input_one_line_exit_2_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: list[str]
) -> None:
    run = _load_run_module()
    out = tmp_path / "results.json"
    out.write_text("previous")
    argv = [arg.format(tmp=tmp_path) for arg in bad]
    if "--out" not in argv:
        argv += ["--out", str(out)]
    with pytest.raises(SystemExit) as exc:
        run.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "error" in err and "Traceback" not in err
    assert out.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_parse_n_accepts_powers() -> None:
    run = _load_run_module()
    assert run._parse_n("2**24") == run._parse_n("2^24") == run._parse_n("16777216") == 2**24
    assert all(math.log2(n).is_integer() for n in run.parse_args(["--quick"]).sizes)


@pytest.mark.parametrize(
    ("text", "sizes"),
    [("2**20", (2**20,)), ("16,2**4", (16,)), ("2**20, 65536 ,2^12", (2**12, 2**16, 2**20)),
     ("1000,10", (10, 1000))],
)
def test_n_list_parses_sorted_and_distinct(text: str, sizes: tuple[int, ...]) -> None:
    assert _load_run_module().parse_args(["--n", text]).sizes == sizes


def test_n_list_defaults() -> None:
    run = _load_run_module()
    assert run.parse_args([]).sizes == (2**16, 2**20, 2**22, 2**24)
    assert run.parse_args(["--quick"]).sizes == (2**14,)
    assert run.n_label(2**24) == "2**24" and run.n_label(1000) == "1000"
