"""Part of ``python -m benchmarks.run``: the train step of the tiny trainer, examples/mlp.py.

One jitted ``lax.scan`` of :data:`TRAINER_STEPS` ``mlp.train_step`` calls
(gradient + adam update, batch 64 of digits) per sample, for each activation
and dtype (float32, bfloat16 mixed precision): time per step and compiled
temp memory. The times are measured twice: with every CPU this process may
use, and in a child process (``run`` with the hidden flag of
``benchmarks._pinning``) pinned to one CPU, so that XLA's thread pool has one
thread (:data:`PINNED_NOTE` says why); the child compiles while this process
does, and times after it.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from functools import partial
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import _common, _report
from benchmarks._pinning import PINNED_CHILD_FLAG

#: The script that starts the pinned child, and that the child runs.
SCRIPT = "run"
#: The trainer-step rows: activation (jelu's elu against jax.nn's elu and relu) x dtype.
TRAINER_ACTIVATIONS = _common.COMPARED_ACTIVATIONS
TRAINER_DTYPES = ("float32", "bfloat16")
TRAINER_BATCH = 64
TRAINER_LEARNING_RATE = 1e-3
#: Steps in one timed sample (one lax.scan): a step takes a few hundred µs on 2 CPU cores.
TRAINER_STEPS = 100
QUICK_TRAINER_STEPS = 10


def trainer_steps(steps: int, activations: Sequence[str]) -> tuple[dict[tuple[str, str], Callable[[], Any]],
                                                                  dict[str, Any]]:
    """Thunks of ``steps`` train steps of examples/mlp.py in one jitted lax.scan, per (dtype, activation).

    Each thunk runs the compiled scan once; parameters and optimizer state are
    donated and carried from call to call, as training does. Returns the
    thunks and the description of the step, with the compiled temp memory
    of each in ``"temp_bytes"``; or ``({}, {"status": "skipped", "note": why})``
    when examples/mlp.py, optax or scikit-learn is missing.
    """
    try:
        import optax

        from examples import mlp

        x_train, y_train, _, _ = mlp.digits()
    except Exception as exc:  # noqa: BLE001 - report any missing piece as a skip
        return {}, {"status": "skipped", "note": f"examples/mlp.py unusable: {type(exc).__name__}: {exc}"}
    optimizer = optax.adam(TRAINER_LEARNING_RATE)
    rows = np.random.default_rng(0).integers(0, len(y_train), (steps, TRAINER_BATCH))
    xs, ys = jnp.asarray(x_train[rows]), jnp.asarray(y_train[rows])  # (steps, batch, 64), (steps, batch)

    def make(activation: Callable[[jax.Array], jax.Array], dtype: str) -> tuple[Callable[[], Any], int | None]:
        step = partial(mlp.train_step, optimizer=optimizer, activation=activation, dtype=jnp.dtype(dtype))
        params = mlp.init_params(jax.random.key(0))
        thunk, compiled = _common.scanned_steps(lambda *args: step(*args)[:3], params, optimizer.init(params), xs, ys)
        return thunk, _common.temp_bytes(compiled)

    thunks: dict[tuple[str, str], Callable[[], Any]] = {}
    temp: dict[str, int | None] = {}
    for dtype in TRAINER_DTYPES:
        for name in activations:
            thunks[(dtype, name)], temp[f"{dtype}|{name}"] = make(TRAINER_ACTIVATIONS[name], dtype)
    sizes = "x".join(str(s) for s in mlp.SIZES)
    return thunks, {
        "status": "ok",
        "description": f"digits, layers {sizes}, batch {TRAINER_BATCH}, adam {TRAINER_LEARNING_RATE:g}",
        "layer_sizes": list(mlp.SIZES), "batch_size": TRAINER_BATCH, "optimizer": "adam",
        "learning_rate": TRAINER_LEARNING_RATE, "dtypes": list(TRAINER_DTYPES),
        "activations": list(activations), "steps_per_sample": steps,
        "step": f"jax.jit of a lax.scan of {steps} examples/mlp.py train_step calls "
                "(value_and_grad + adam update); bfloat16: mixed precision (float32 master weights)",
        "temp_bytes": temp,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def trainer_rows(medians: dict[tuple[str, str], float], steps: int,
                 temp: dict[str, int | None] | None = None) -> list[dict[str, Any]]:
    """Per (dtype, activation): time per step (sample median / steps), its ratio to relu's in
    the same dtype and to its own float32 time; with ``temp``, the temp memory and its ratio to relu's."""
    per_step = {key: t / steps for key, t in medians.items()}
    rows = []
    for dtype in TRAINER_DTYPES:
        for name in TRAINER_ACTIVATIONS:
            if (dtype, name) not in per_step:
                continue
            t = per_step[(dtype, name)]
            row = {"dtype": dtype, "activation": name, "step_time_s": t,
                   "ratio_to_relu_time": t / per_step[(dtype, "jax.nn.relu")],
                   "ratio_to_float32_time": t / per_step[("float32", name)]}
            if temp is not None:
                mine, relu = temp[f"{dtype}|{name}"], temp[f"{dtype}|jax.nn.relu"]
                row |= {"temp_bytes": mine, "ratio_to_relu_temp": _ratio(mine, relu),
                        "ratio_to_float32_temp": _ratio(mine, temp[f"float32|{name}"])}
            rows.append(row)
    return rows


def pinned_trainer_child(repeats: int, steps: int, activations: Sequence[str]) -> int:
    """Body of the pinned child: compile the trainer thunks, wait for the parent, time them,
    print one JSON line.

    :func:`benchmarks._pinning.pin_before_jax` has already restricted this process to one CPU. The
    child compiles while the parent compiles its own, then waits for a line on
    its stdin (:func:`pinned_child_figures` sends it once the parent's timing
    is done), so the two never time at once.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) != 1:
        print(f"{PINNED_CHILD_FLAG}: not pinned to one CPU (affinity {cpus})", file=sys.stderr)
        return 3
    thunks, info = trainer_steps(steps, activations)
    sys.stdin.readline()  # the parent's go (or end of input)
    if info["status"] == "ok":
        samples = _common.interleaved_times(thunks, repeats, seed=1)
        medians = {key: statistics.median(t) for key, t in samples.items()}
        info = {"status": "ok", "cpu": cpus[0], "cpus": 1, "rows": trainer_rows(medians, steps)}
    print(json.dumps(info))
    return 0


PINNED_TIMEOUT_S = 1800


def start_pinned_child(repeats: int, quick: bool, activations: Sequence[str]) -> subprocess.Popen | dict[str, Any]:
    """Start ``python -m benchmarks.run`` with the hidden flag, pinned to one CPU, from the
    repository root; or return ``{"status": "skipped", "note": why}`` where
    ``os.sched_setaffinity`` is unavailable or the process cannot start."""
    if not (hasattr(os, "sched_setaffinity") and hasattr(os, "sched_getaffinity")):
        return {"status": "skipped", "note": "os.sched_setaffinity is unavailable on this platform"}
    cpu = max(os.sched_getaffinity(0))
    command = [sys.executable, "-m", f"benchmarks.{SCRIPT}", PINNED_CHILD_FLAG, str(cpu),
               "--mlp-repeats", str(repeats), "--no-torch", "--trainer-activations", ",".join(activations),
               *(["--quick"] if quick else [])]
    try:
        return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=_common.REPO_ROOT)
    except OSError as exc:
        return {"status": "skipped", "note": f"pinned child failed: {type(exc).__name__}: {exc}"}


def pinned_child_figures(child: subprocess.Popen | dict[str, Any]) -> dict[str, Any]:
    """Let the child time its steps (one line on its stdin) and return its figures with
    ``"status": "ok"``, or ``"status": "skipped"`` with a note if it fails."""
    if isinstance(child, dict):
        return child
    try:
        stdout, stderr = child.communicate("go\n", timeout=PINNED_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        return {"status": "skipped", "note": f"pinned child failed: timed out after {PINNED_TIMEOUT_S} s"}
    lines = stdout.strip().splitlines()
    if child.returncode != 0 or not lines:
        why = (stderr.strip().splitlines() or [f"exit code {child.returncode}"])[-1]
        return {"status": "skipped", "note": f"pinned child failed: {why}"}
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError:
        return {"status": "skipped", "note": f"pinned child printed no JSON: {lines[-1][:200]}"}
    if result.get("status") != "ok":
        return {"status": "skipped", "note": f"pinned child: {result.get('note', 'no figures')}"}
    return result


def pinned_trainer_benchmark(repeats: int, quick: bool, activations: Sequence[str]) -> dict[str, Any]:
    """The trainer thunks in a child process pinned to one CPU (see the module doc)."""
    return pinned_child_figures(start_pinned_child(repeats, quick, activations))


def trainer_benchmark(repeats: int, steps: int, quick: bool, activations: Sequence[str]) -> dict[str, Any]:
    """Time and temp memory of the trainer step per (dtype, activation), all CPUs and pinned.

    The pinned child compiles its steps while this process compiles its own;
    it times them after this process has timed its own.
    """
    child = start_pinned_child(repeats, quick, activations)
    thunks, info = trainer_steps(steps, activations)
    if info["status"] != "ok":
        pinned_child_figures(child)  # let the child finish
        return info
    samples = _common.interleaved_times(thunks, repeats, seed=1)
    medians = {key: statistics.median(t) for key, t in samples.items()}
    temp = info.pop("temp_bytes")
    return info | {"cpus": _common.cpus_available(), "rows": trainer_rows(medians, steps, temp),
                   "pinned": pinned_child_figures(child)}


#: Why the pinned trainer column exists (shown under the trainer table).
PINNED_NOTE = (
    "Why a pinned column: XLA's CPU backend (ParallelTaskAssigner, "
    "xla/service/cpu/parallel_task_assignment.cc) splits a loop fusion across its thread pool "
    "when its HLO cost model counts the fusion compute-bound (more flop-ops than bytes per "
    "element; transcendentals such as jax.nn.elu's expm1 do not count as flops) and the "
    "estimated cost (flops + 10 bytes) x n exceeds 100,000 per partition. jelu's kernel is "
    "~45 arithmetic ops per element, so a 64x128 activation is split in two, which pays only "
    "if the second core is free (jax.nn.elu's fusion, counted memory-bound, is not split). "
    "The all-CPU column shows that split under this machine's load at the time; pinned to "
    "one CPU, every fusion runs on one thread, as on a machine whose other cores are busy."
)


def trainer_table(trainer: dict[str, Any]) -> list[str]:
    """The examples/mlp.py rows: float32 and bfloat16, all CPUs and pinned to one CPU, and temp memory."""
    if trainer["status"] != "ok":
        return [f"\nTrainer step (examples/mlp.py): skipped ({trainer['note']})."]
    pinned = trainer["pinned"]
    pinned_rows = ({(r["dtype"], r["activation"]): r for r in pinned["rows"]}
                   if pinned["status"] == "ok" else {})
    all_cpus = f"{trainer['cpus']} CPU{'s' if trainer['cpus'] != 1 else ''}"
    lines = ["", f"Trainer step, examples/mlp.py ({trainer['description']}): one train step "
             f"(gradient + adam update) in a jitted `lax.scan` of {trainer['steps_per_sample']} steps, "
             "medians of the samples; bfloat16 is mixed precision (`dtype=jnp.bfloat16`: float32 master "
             "weights, bfloat16 products and activations, float32 loss and gradients). `x relu`: against "
             "jax.nn.relu in the same dtype; `x f32`: against the same activation in float32; temp: XLA's "
             "compiled temporary memory of the scan.", "",
             *_report.table(["dtype", "activation", f"{all_cpus}: step µs", "x relu", "x f32",
                             "1 CPU (pinned): step µs", "x relu", "x f32", "temp KiB", "x relu temp"],
                            "ll" + "r" * 8)]
    for r in trainer["rows"]:
        p = pinned_rows.get((r["dtype"], r["activation"]))
        pinned_cells = ([f"{p['step_time_s'] * 1e6:.0f}", _report.ratio(p["ratio_to_relu_time"]),
                         _report.ratio(p["ratio_to_float32_time"])] if p else ["-", "-", "-"])
        lines.append(_report.row([
            r["dtype"], r["activation"], f"{r['step_time_s'] * 1e6:.0f}", _report.ratio(r["ratio_to_relu_time"]),
            _report.ratio(r["ratio_to_float32_time"]), *pinned_cells, _report.kib(r["temp_bytes"]),
            _report.ratio(r["ratio_to_relu_temp"])]))
    lines.append("")
    if pinned["status"] == "ok":
        lines.append(f"1 CPU (pinned): the same steps in a child process pinned to CPU {pinned['cpu']} "
                     "with `os.sched_setaffinity` before it imported jax. " + PINNED_NOTE)
    else:
        lines.append(f"1 CPU (pinned): skipped ({pinned['note']}).")
    return lines
