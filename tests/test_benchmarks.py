"""Tests of ``python -m benchmarks.run``: a ``--quick`` run's JSON schema and facts that could fail.

The quick run (tiny sizes, 2 repeats) is a smoke test of the harness, so no
assertion here compares timings with each other; they check that every row is
there, that the derived fields are the arithmetic they claim to be, and facts
known independently of the harness (jax.nn.elu's residuals, the bytes an
elementwise pass must move, the compiled temp memory ordering). The quick run
spends most of its time compiling the trainer's steps, twice (once in the
pinned child), so the tests that read it are in the slow tier; the fast tier
checks the command line, the residuals and the trainer table's arithmetic.
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
from benchmarks import _common, _run_elementwise, _run_learnable, _run_trainer, run

REPO = Path(__file__).resolve().parent.parent
SIZES = (1024, 4096)  # elements per elementwise call in the quick run, ascending
N_ARG = "4096, 1024"  # the same sizes as written on the command line (out of order on purpose)
N = max(SIZES)  # the size of the residual rows
ITEMSIZE = {"float32": 4, "bfloat16": 2}
FUNCTIONS = ("elu", "selu", "celu", "celu(0.3)", "elu+1")
MODES = ("fwd", "fwd+bwd")
KIND = jax.default_backend()
TRAINER_KEYS = {(d, a) for d in ("float32", "bfloat16") for a in ("jelu.elu", "jax.nn.elu", "jax.nn.relu")}
# The quick run compares jelu.elu with relu only (jax.nn.elu's rows cost two more compilations each side).
QUICK_TRAINER_KEYS = {(d, a) for d in ("float32", "bfloat16") for a in ("jelu.elu", "jax.nn.relu")}


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run ``python -m benchmarks.run --quick`` once; return its JSON, markdown and stdout."""
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--n", N_ARG, "--out", str(out),
         "--trainer-activations", "jelu.elu"],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"run-{KIND}.json", f"run-{KIND}.md"]
    return {
        "json": json.loads((out / f"run-{KIND}.json").read_text()),
        "md": (out / f"run-{KIND}.md").read_text(),
        "stdout": proc.stdout,
        "out": out,
    }


def _torch_expected() -> bool:
    return importlib.util.find_spec("torch") is not None and jax.default_backend() == "cpu"


@pytest.mark.slow
def test_meta_describes_this_run(quick: dict[str, Any]) -> None:
    meta = quick["json"]["meta"]
    assert quick["json"]["schema_version"] == 4
    assert meta["command"] == (f"python -m benchmarks.run --quick --n '{N_ARG}' --out {quick['out']} "
                               "--trainer-activations jelu.elu")
    assert meta["sizes"] == list(SIZES) and meta["residual_n"] == N and meta["quick"] is True
    assert meta["repeats"] >= 1 and meta["mlp_repeats"] >= 1
    assert meta["platform"] == meta["kind"] == KIND
    assert meta["device_kind"] == jax.devices()[0].device_kind
    assert meta["versions"]["jax"] == jax.__version__
    assert meta["versions"]["jelu"] == jelu.__version__
    assert meta["cpu_model"] and meta["date"][:2] == "20"
    assert meta["total_seconds"] > 0


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


def test_celu_functions_use_both_alphas() -> None:
    """celu is alpha = 0.5 (a power of two), celu(0.3) the general path."""
    assert _run_elementwise.FUNCTION_SPECS["celu"] == ("celu", 0.5)
    assert _run_elementwise.FUNCTION_SPECS["celu(0.3)"] == ("celu", 0.3)
    x = jnp.linspace(-3.0, 1.0, 9)
    for impl in ("jelu", "jax.nn"):
        for name, alpha in (("celu", 0.5), ("celu(0.3)", 0.3)):
            assert jnp.allclose(_run_elementwise.jax_fn(impl, name)(x), jax.nn.celu(x, alpha), rtol=1e-6, atol=1e-7)


def test_elu_plus_one_is_compared_with_elu_plus_one_as_written() -> None:
    """jelu.elu_plus_one against jax.nn.elu(x) + 1, the map linear attention writes."""
    x = jnp.linspace(-3.0, 1.0, 9)
    for impl in ("jelu", "jax.nn"):
        assert jnp.allclose(_run_elementwise.jax_fn(impl, "elu+1")(x), jax.nn.elu(x) + 1, rtol=1e-6, atol=1e-7)
    assert _run_elementwise.jax_fn("jelu", "elu+1") is jelu.elu_plus_one


@pytest.mark.slow
def test_celu_rows_use_both_alphas(quick: dict[str, Any]) -> None:
    for n in SIZES:
        for mode in MODES:
            assert any((r["n"], r["mode"], r["impl"], r["function"]) == (n, mode, "jelu", "celu(0.3)")
                       for r in quick["json"]["elementwise"])
    assert {r["function"] for r in quick["json"]["residuals"]} == set(FUNCTIONS)
    assert all(r["n"] == N for r in quick["json"]["residuals"])
    assert "| float32 | fwd | 2**10 | celu(0.3) |" in quick["md"]
    assert "| bfloat16 | celu(0.3) |" in quick["md"]


@pytest.fixture(scope="module")
def residuals() -> list[dict[str, Any]]:
    """The residual rows at n = N (traced under jax.eval_shape: nothing is computed)."""
    return _run_elementwise.residual_benchmark(N)


@pytest.mark.parametrize("dtype", list(ITEMSIZE))
def test_jax_nn_elu_keeps_two_masks_and_two_float_arrays(residuals: list[dict[str, Any]], dtype: str) -> None:
    # Known fact for jax 0.10 (checked by hand with print_saved_residuals):
    # jax.nn.elu's VJP keeps two boolean masks and two float arrays of size n.
    row = next(r for r in residuals if (r["dtype"], r["impl"], r["function"]) == (dtype, "jax.nn", "elu"))
    assert row["count"] == row["full_size_count"] == 4
    assert sorted(row["arrays"]) == sorted([f"bool[{N}]"] * 2 + [f"{dtype}[{N}]"] * 2)
    assert row["bytes"] == 2 * N * 1 + 2 * N * ITEMSIZE[dtype]
    assert row["bytes_per_element"] == pytest.approx(row["bytes"] / N)


@pytest.mark.parametrize("impl", ["jelu", "jax.nn"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_residual_count_matches_print_saved_residuals(
    residuals: list[dict[str, Any]], impl: str, name: str
) -> None:
    """The harness's method (VJP closure leaves) agrees with JAX's own report."""
    f = _run_elementwise.jax_fn(impl, name)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        jax.ad_checkpoint.print_saved_residuals(f, jnp.ones((N,), jnp.float32))
    reported = [line for line in buffer.getvalue().splitlines() if line.strip()]
    row = next(r for r in residuals if (r["dtype"], r["impl"], r["function"]) == ("float32", impl, name))
    assert row["count"] == len(reported)
    assert sum(line.split()[0].endswith(f"[{N}]") for line in reported) == row["full_size_count"]


@pytest.mark.slow
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


def _check_trainer_rows(rows: list[dict[str, Any]], with_temp: bool, keys: set[tuple[str, str]]) -> None:
    """Every (dtype, activation) of ``keys`` once; the ratios are the arithmetic they claim."""
    index = {(r["dtype"], r["activation"]): r for r in rows}
    assert len(index) == len(rows) and set(index) == keys
    for (dtype, name), r in index.items():
        relu, f32 = index[(dtype, "jax.nn.relu")], index[("float32", name)]
        assert r["step_time_s"] > 0
        assert r["ratio_to_relu_time"] == pytest.approx(r["step_time_s"] / relu["step_time_s"], rel=1e-12)
        assert r["ratio_to_float32_time"] == pytest.approx(r["step_time_s"] / f32["step_time_s"], rel=1e-12)
        if with_temp:
            assert isinstance(r["temp_bytes"], int) and r["temp_bytes"] > 0
            assert r["ratio_to_relu_temp"] == pytest.approx(r["temp_bytes"] / relu["temp_bytes"], rel=1e-12)
            assert r["ratio_to_float32_temp"] == pytest.approx(r["temp_bytes"] / f32["temp_bytes"], rel=1e-12)
        else:
            assert "temp_bytes" not in r


@pytest.mark.slow
def test_trainer_rows_run_when_the_trainer_can(quick: dict[str, Any]) -> None:
    trainer = quick["json"]["trainer"]
    runnable = all(importlib.util.find_spec(m) is not None for m in ("optax", "sklearn"))
    assert trainer["status"] == ("ok" if runnable else "skipped"), trainer.get("note")
    if not runnable:
        assert trainer["note"]
        return
    from examples import mlp

    assert trainer["layer_sizes"] == list(mlp.SIZES) and trainer["batch_size"] == 64
    assert trainer["steps_per_sample"] == _run_trainer.QUICK_TRAINER_STEPS
    assert trainer["cpus"] == quick["json"]["meta"]["cpus_available"]
    assert trainer["activations"] == ["jelu.elu", "jax.nn.relu"]
    _check_trainer_rows(trainer["rows"], with_temp=True, keys=QUICK_TRAINER_KEYS)
    md = quick["md"]
    for dtype, name in QUICK_TRAINER_KEYS:
        assert md.count(f"| {dtype} | {name} | ") == 1, (dtype, name)
    assert "temp KiB" in md and "mixed precision" in md


@pytest.mark.slow
def test_trainer_pinned_column_present_or_skipped(quick: dict[str, Any]) -> None:
    trainer = quick["json"]["trainer"]
    if trainer["status"] != "ok":
        pytest.skip(f"trainer skipped: {trainer['note']}")
    pinned = trainer["pinned"]
    assert "| 1 CPU (pinned): step µs |" in quick["md"]
    if hasattr(os, "sched_setaffinity"):
        assert pinned["status"] == "ok", pinned.get("note")
        assert pinned["cpus"] == 1 and pinned["cpu"] in os.sched_getaffinity(0)
        _check_trainer_rows(pinned["rows"], with_temp=False, keys=QUICK_TRAINER_KEYS)
        assert "ParallelTaskAssigner" in quick["md"]
    else:
        assert pinned["status"] == "skipped" and pinned["note"]
        assert "1 CPU (pinned): skipped" in quick["md"]


def test_trainer_rows_arithmetic_and_table() -> None:
    """The per-step rows from sample medians, and their table, on made-up figures."""
    steps = 10
    medians = {key: (i + 1) * 1e-3 for i, key in enumerate(sorted(TRAINER_KEYS))}
    temp = {f"{d}|{a}": 1024 * (i + 1) for i, (d, a) in enumerate(sorted(TRAINER_KEYS))}
    rows = _run_trainer.trainer_rows(medians, steps, temp)
    _check_trainer_rows(rows, with_temp=True, keys=TRAINER_KEYS)
    _check_trainer_rows(_run_trainer.trainer_rows(medians, steps), with_temp=False, keys=TRAINER_KEYS)
    assert {(r["dtype"], r["activation"]): r["step_time_s"] for r in rows} == pytest.approx(
        {key: t / steps for key, t in medians.items()})
    pinned = {"status": "ok", "cpu": 0, "cpus": 1, "rows": _run_trainer.trainer_rows(medians, steps)}
    trainer = {"status": "ok", "description": "d", "steps_per_sample": steps, "cpus": 2, "rows": rows,
               "pinned": pinned}
    r = next(r for r in rows if (r["dtype"], r["activation"]) == ("bfloat16", "jelu.elu"))
    step, to_relu, to_f32 = f"{r['step_time_s'] * 1e6:.0f}", f"{r['ratio_to_relu_time']:.2f}x", \
        f"{r['ratio_to_float32_time']:.2f}x"
    table = [line for line in _run_trainer.trainer_table(trainer) if line.startswith("| bfloat16 | jelu.elu |")]
    assert table == [f"| bfloat16 | jelu.elu | {step} | {to_relu} | {to_f32} | {step} | {to_relu} | {to_f32} "
                     f"| {r['temp_bytes'] / 1024:.0f} | {r['ratio_to_relu_temp']:.2f}x |"]
    skipped = _run_trainer.trainer_table(trainer | {"pinned": {"status": "skipped", "note": "why"}})
    assert "1 CPU (pinned): skipped (why)." in skipped


@pytest.mark.slow
def test_learnable_alpha_rows_run_when_optax_can(quick: dict[str, Any]) -> None:
    learnable = quick["json"]["learnable"]
    if importlib.util.find_spec("optax") is None:
        assert learnable["status"] == "skipped" and learnable["note"]
        return
    assert learnable["status"] == "ok", learnable.get("note")
    assert learnable["layer_sizes"] == [64, 128, 128, 128, 10] and learnable["batch_size"] == 256
    assert learnable["steps_per_sample"] == _run_learnable.QUICK_STEPS and learnable["dtypes"] == ["float32"]
    rows = {(r["dtype"], r["implementation"]): r for r in learnable["rows"]}
    assert set(rows) == {("float32", "jelu"), ("float32", "jax.nn")}
    assert rows[("float32", "jelu")]["ratio_to_jax_nn_time"] == pytest.approx(
        rows[("float32", "jelu")]["step_time_s"] / rows[("float32", "jax.nn")]["step_time_s"], rel=1e-12)
    assert quick["md"].count("| float32 | jelu | ") == 1 and "Learnable alpha (" in quick["md"]


def test_learnable_alpha_rows_arithmetic_and_table() -> None:
    """Per-step times and ratios from sample medians, and their table, on made-up figures."""
    medians = {("float32", "jelu"): 3e-3, ("float32", "jax.nn"): 2e-3,
               ("bfloat16", "jelu"): 4e-3, ("bfloat16", "jax.nn"): 5e-3}
    rows = _run_learnable.learnable_rows(medians, 10)
    assert [(r["dtype"], r["implementation"]) for r in rows] == list(
        (d, i) for d in ("float32", "bfloat16") for i in ("jelu", "jax.nn"))
    assert [r["step_time_s"] for r in rows] == pytest.approx([3e-4, 2e-4, 4e-4, 5e-4])
    assert [r["ratio_to_jax_nn_time"] for r in rows] == pytest.approx([1.5, 1.0, 0.8, 1.0])
    table = _run_learnable.learnable_table({"status": "ok", "description": "d", "steps_per_sample": 10,
                                            "cpus": 2, "rows": rows})
    assert "| float32 | jelu | 300 | 1.50x |" in table and "| bfloat16 | jelu | 400 | 0.80x |" in table
    assert _run_learnable.learnable_table({"status": "skipped", "note": "why"}) == [
        "\nLearnable alpha: skipped (why)."]


def test_learnable_alpha_models_agree() -> None:
    """jelu's and jax.nn's models are the same function: their float32 logits agree closely."""
    params = _run_learnable.init_params(jax.random.key(0))
    params["alpha"] = jnp.linspace(0.3, 2.0, params["alpha"].shape[0])
    x = jax.random.normal(jax.random.key(1), (_run_learnable.SIZES[0],))
    ours, theirs = (_run_learnable.forward(params, x, acts, jnp.float32)
                    for acts in _run_learnable.IMPLEMENTATIONS.values())
    assert ours.shape == (_run_learnable.SIZES[-1],)
    assert jnp.allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_pinned_trainer_skipped_without_sched_setaffinity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(_run_trainer.os, "sched_setaffinity", raising=False)
    pinned = _run_trainer.pinned_trainer_benchmark(1, True, ["jelu.elu", "jax.nn.relu"])
    assert pinned["status"] == "skipped" and "sched_setaffinity" in pinned["note"]


@pytest.mark.slow
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
     ["--out", "{tmp}/a_file"], ["--quick", "--frobnicate"], ["--trainer-activations", "gelu"],
     ["--trainer-activations", ","]],
)
def test_bad_input_one_line_exit_2_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: list[str]
) -> None:
    existing = tmp_path / "a_file"
    existing.write_text("kept")
    argv = [arg.format(tmp=tmp_path) for arg in bad]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path)]
    with pytest.raises(SystemExit) as exc:
        run.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("python -m benchmarks.run: error: ")
    assert "Traceback" not in err
    assert existing.read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_parse_n_accepts_powers(tmp_path: Path) -> None:
    assert run._parse_n("2**24") == run._parse_n("2^24") == run._parse_n("16777216") == 2**24
    assert all(math.log2(n).is_integer() for n in run.parse_args(["--quick", "--out", str(tmp_path)]).sizes)


@pytest.mark.parametrize(
    ("text", "sizes"),
    [("2**20", (2**20,)), ("16,2**4", (16,)), ("2**20, 65536 ,2^12", (2**12, 2**16, 2**20)),
     ("1000,10", (10, 1000))],
)
def test_n_list_parses_sorted_and_distinct(text: str, sizes: tuple[int, ...], tmp_path: Path) -> None:
    assert run.parse_args(["--n", text, "--out", str(tmp_path)]).sizes == sizes


def test_n_list_defaults(tmp_path: Path) -> None:
    assert run.parse_args(["--out", str(tmp_path)]).sizes == (2**16, 2**20, 2**22, 2**24)
    assert run.parse_args(["--quick", "--out", str(tmp_path)]).sizes == (2**14,)
    assert _run_elementwise.n_label(2**24) == "2**24" and _run_elementwise.n_label(1000) == "1000"


@pytest.mark.parametrize(("text", "names"), [
    ("jelu.elu", ("jelu.elu", "jax.nn.relu")), ("jax.nn.relu", ("jax.nn.relu",)),
    ("jax.nn.elu, jelu.elu", ("jelu.elu", "jax.nn.elu", "jax.nn.relu"))])
def test_trainer_activations_always_include_relu(text: str, names: tuple[str, ...], tmp_path: Path) -> None:
    assert run.parse_args(["--trainer-activations", text, "--out", str(tmp_path)]).trainer_activations == names
    assert run.parse_args(["--out", str(tmp_path)]).trainer_activations == ("jelu.elu", "jax.nn.elu", "jax.nn.relu")


def test_default_reports_follow_the_results_convention() -> None:
    settings = run.parse_args([])
    assert settings.out == _common.RESULTS_DIR == REPO / "benchmarks" / "results"
    assert settings.json_path == REPO / "benchmarks" / "results" / f"run-{KIND}.json"
    assert settings.md_path == settings.json_path.with_suffix(".md")
    assert _common.result_path(Path("d"), "sweep", ".md", tag="selu-positive", kind="cpu") == \
        Path("d") / "sweep-selu-positive-cpu.md"


def test_report_pieces() -> None:
    """The shared markdown pieces of run's and device_check's reports."""
    from benchmarks import _report

    assert _report.table(["fn", "ms"], "lr") == ["| fn | ms |", "|---|--:|"]
    assert _report.row(["elu", 1.5]) == "| elu | 1.5 |"
    with pytest.raises(ValueError, match="one of l, r per column"):
        _report.table(["fn", "ms"], "l")
    assert [_report.ms(0.00123), _report.ms(0.00123, 3), _report.ms(None)] == ["1.23", "1.230", "-"]
    assert [_report.ratio(1.005, 3), _report.ratio(None)] == ["1.005x", "-"]
    assert [_report.percent(0.875), _report.mib(3 * 2**19), _report.kib(None)] == ["88%", "1.5", "-"]
    assert _report.versions({"jax": "0.4", "torch": None}, ("jax", "torch")) == "jax 0.4, torch absent"
    assert _report.targets({"a": True, "b": False}) == "Targets: a: met; b: not met"
    assert _report.document(["x", "y"]) == "x\ny\n"
