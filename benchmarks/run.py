"""Speed and memory of jelu against jax.nn, PyTorch and the memory-bound floor.

Run from the repository root; prints a markdown report and writes it, with the
same figures as JSON, to ``benchmarks/results/run-<kind>.{md,json}`` (kind:
cpu, gpu or tpu)::

    python -m benchmarks.run                        # n = 2**16,2**20,2**22,2**24 (default)
    python -m benchmarks.run --n 2**24,2**28        # e.g. on a GPU
    python -m benchmarks.run --quick --out /tmp/r   # tiny smoke run (n = 2**14), reports in /tmp/r
    python -m benchmarks.run --trainer-activations jelu.elu   # trainer rows: jelu.elu and relu only

What is measured (all times are medians over *interleaved* repeats: every
repeat calls each candidate once, in an order shuffled with a fixed seed, and
waits for the result; compilation and two warm-up calls are excluded):

* Elementwise, for each n of ``--n`` (one interleaved round-robin per n, so
  every ratio comes from one run), float32 and bfloat16, for elu, selu, celu
  (alpha = 0.5, a power of two, which jelu computes on a cheaper exact path)
  and celu(0.3) (a general alpha) from jelu, jax.nn and (when importable)
  torch.nn.functional:

  - ``fwd``: ``jax.jit(f)(x)``; PyTorch under ``torch.no_grad()``.
  - ``fwd+bwd``: ``jax.jit(lambda x, g: jax.vjp(f, x)[1](g)[0])``, i.e. the
    jitted VJP returning only the input gradient (XLA may drop whatever of
    the forward pass the gradient does not need). PyTorch: autograd forward
    then ``torch.autograd.grad`` (it also materialises the forward output).
  - the memory-bound floor: jitted ``x * 2`` (fwd) and ``x * g`` (fwd+bwd),
    which move the same bytes as the JAX candidates (read 1 / write 1 and
    read 2 / write 1 arrays).

  Each row gives the ratio to the floor and to jax.nn's same function, and
  the achieved bandwidth (those minimal bytes / time) as a fraction of the
  copy bandwidth measured by the ``x * 2`` floor at the same n and dtype.
  A summary table heads the report: per dtype, pass and function, the worst
  (largest) jelu/jax.nn ratio over the sizes, and the n where it occurred.
* Residuals kept for the reverse pass per call: the array leaves of the
  closure returned by ``jax.vjp(f, x)`` (a pytree whose leaves are exactly the
  saved residuals), obtained under ``jax.eval_shape`` so nothing is allocated;
  at the largest n only (the counts do not depend on n).
* MLP train step (8 hidden layers x 1024, batch 4096, float32, jitted
  ``value_and_grad`` of the mean softmax cross-entropy): time and compiled
  temp memory for jelu.elu, jax.nn.elu, jax.nn.relu and identity.
* Trainer step: the tiny trainer of ``examples/mlp.py`` (its ``SIZES``,
  adam 1e-3, batch 64 of scikit-learn's digits), one jitted ``lax.scan`` of
  ``mlp.train_step`` (gradient + optimizer update) per sample, with jelu.elu,
  jax.nn.elu and jax.nn.relu, in float32 and in bfloat16 mixed precision
  (``dtype=jnp.bfloat16``: float32 master weights, bfloat16 products and
  activations): time per step and compiled temp memory, side by side. The
  times are measured twice: with every CPU this process may use, and in a
  child process (this script with a hidden flag) pinned to one CPU with
  ``os.sched_setaffinity`` before it imports jax, so XLA's thread pool has one
  thread (skipped where ``sched_setaffinity`` is unavailable); the child
  compiles while this process does, and times after it.
  ``--trainer-activations`` picks the activations (jax.nn.relu, the
  reference of the ratios, is always measured).
* Learnable alpha: an MLP 64-128-128-128-10 vmapped over a batch of 256 with
  elu, celu with a learnable per-channel alpha and selu, adam; jelu's three
  functions against jax.nn's, float32 and bfloat16 mixed precision, time per
  step interleaved (``benchmarks._run_learnable``; skipped with ``--no-trainer``;
  float32 only with ``--quick``).

The elementwise and residual rows are measured in ``benchmarks._run_elementwise``,
the trainer rows (and the pinned child) in ``benchmarks._run_trainer``; this
module holds the command line, the synthetic MLP step and the report.

PyTorch is optional: it runs on CPU when JAX runs on CPU (with as many intra-op
threads as CPUs available to this process, which is what XLA's CPU thread pool
uses), on CUDA when JAX runs on a GPU and ``torch.cuda.is_available()``, and is
skipped otherwise. Bad command-line input: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from benchmarks._pinning import PINNED_CHILD_FLAG, pin_before_jax

if __name__ == "__main__":
    pin_before_jax(sys.argv[1:])

import jax  # noqa: E402

from benchmarks import _common, _report  # noqa: E402
from benchmarks._run_elementwise import (DTYPES, elementwise_benchmark, elementwise_table,  # noqa: E402
                                         n_label, residual_benchmark, residual_table, summarize,
                                         summary_table)
from benchmarks._run_learnable import QUICK_STEPS as QUICK_LEARNABLE_STEPS  # noqa: E402
from benchmarks._run_learnable import STEPS as LEARNABLE_STEPS  # noqa: E402
from benchmarks._run_learnable import learnable_benchmark, learnable_table  # noqa: E402
from benchmarks._run_trainer import (QUICK_TRAINER_STEPS, TRAINER_ACTIVATIONS, TRAINER_STEPS,  # noqa: E402
                                     pinned_trainer_child, trainer_benchmark, trainer_table)

SCRIPT = "run"
SCHEMA_VERSION = 4
DEFAULT_SIZES = (2**16, 2**20, 2**22, 2**24)
QUICK_SIZES = (2**14,)
MLP_ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    **_common.COMPARED_ACTIVATIONS, "identity": lambda h: h}


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Validated options of one run."""

    sizes: tuple[int, ...]  # ascending, distinct
    repeats: int
    mlp_repeats: int
    out: Path  # the folder of the reports
    quick: bool
    torch: bool
    trainer: bool
    mlp: _common.MlpConfig
    trainer_steps: int
    trainer_activations: tuple[str, ...]  # keys of TRAINER_ACTIVATIONS, jax.nn.relu included
    pinned_child: int | None = None  # the CPU of the pinned trainer child, else None

    @property
    def json_path(self) -> Path:
        return _common.result_path(self.out, SCRIPT, ".json")

    @property
    def md_path(self) -> Path:
        return _common.result_path(self.out, SCRIPT, ".md")


def _parse_n(text: str) -> int:
    """Parse an element count written as ``16777216``, ``2**24`` or ``2^24``."""
    text = text.strip()
    match = re.fullmatch(r"(\d+)\s*(?:\*\*|\^)\s*(\d+)", text)
    if match:
        base, exp = int(match.group(1)), int(match.group(2))
        if exp > 40:
            raise argparse.ArgumentTypeError(f"{text!r} is too large")
        value = base**exp
    elif re.fullmatch(r"\d+", text):
        value = int(text)
    else:
        raise argparse.ArgumentTypeError(
            f"expected an integer such as 16777216 or 2**24, got {text!r}"
        )
    if not 1 <= value <= 2**34:
        raise argparse.ArgumentTypeError(f"must be between 1 and 2**34, got {value}")
    return value


def _parse_sizes(text: str) -> tuple[int, ...]:
    """Parse a comma-separated list of element counts (see :func:`_parse_n`).

    Returns the distinct sizes in ascending order, e.g. ``"2**20, 2**16"`` ->
    ``(65536, 1048576)``.
    """
    items = text.split(",")
    if any(not item.strip() for item in items):
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list such as 2**16,2**20, got {text!r}")
    return tuple(sorted({_parse_n(item) for item in items}))


def _parse_trainer_activations(text: str) -> tuple[str, ...]:
    """Parse a comma-separated subset of TRAINER_ACTIVATIONS; jax.nn.relu (the reference) is always added."""
    names = {item.strip() for item in text.split(",") if item.strip()}
    unknown = sorted(names - set(TRAINER_ACTIVATIONS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown activation(s) {', '.join(unknown) or repr(text)}; choose from {','.join(TRAINER_ACTIVATIONS)}")
    return tuple(name for name in TRAINER_ACTIVATIONS if name in names | {"jax.nn.relu"})



def parse_args(argv: Sequence[str] | None) -> Settings:
    """Parse and validate the command line; exit 2 with one line on bad input."""
    parser = _common.parser(SCRIPT, "Benchmark jelu against jax.nn, PyTorch and the memory-bound floor.")
    parser.add_argument("--n", type=_parse_sizes, default=None,
                        help="comma-separated elements per elementwise call, each an integer or 2**k "
                             "(default 2**16,2**20,2**22,2**24; 2**14 with --quick)")
    parser.add_argument("--repeats", type=_common.positive_int, default=None,
                        help="interleaved repeats of the elementwise calls (default 30; 2 with --quick)")
    parser.add_argument("--mlp-repeats", type=_common.positive_int, default=None,
                        help="interleaved repeats of the MLP and trainer steps (default 8; 2 with --quick)")
    _common.add_out_argument(parser, f"{SCRIPT}-<kind>.json and .md")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and 2 repeats: a smoke test, not a measurement")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    parser.add_argument("--no-trainer", action="store_true",
                        help="skip the trainer-step rows (examples/mlp.py) and the learnable-alpha rows")
    parser.add_argument("--trainer-activations", type=_parse_trainer_activations, default=tuple(TRAINER_ACTIVATIONS),
                        help=f"comma-separated activations of the trainer rows (default: {','.join(TRAINER_ACTIVATIONS)}; "
                             "jax.nn.relu, the reference, is always measured)")
    parser.add_argument(PINNED_CHILD_FLAG, type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    return Settings(
        sizes=args.n if args.n is not None else (QUICK_SIZES if quick else DEFAULT_SIZES),
        repeats=args.repeats if args.repeats is not None else (2 if quick else 30),
        mlp_repeats=args.mlp_repeats if args.mlp_repeats is not None else (2 if quick else 8),
        out=args.out if args.pinned_trainer_child is not None else _common.out_dir(parser, args.out),
        quick=quick,
        torch=not args.no_torch,
        trainer=not args.no_trainer,
        mlp=_common.QUICK_MLP if quick else _common.FULL_MLP,
        trainer_steps=QUICK_TRAINER_STEPS if quick else TRAINER_STEPS,
        trainer_activations=args.trainer_activations,
        pinned_child=args.pinned_trainer_child,
    )


# --------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------


def _import_torch(platform_name: str) -> tuple[Any, str | None, str]:
    """Return (torch module or None, torch device or None, note)."""
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        return None, None, "PyTorch not installed: torch rows skipped"
    cpus = _common.cpus_available()
    if platform_name == "cpu":
        torch.set_num_threads(cpus)
        return torch, "cpu", f"PyTorch on CPU with torch.set_num_threads({cpus})"
    if platform_name == "gpu" and torch.cuda.is_available():
        return torch, "cuda", "PyTorch on CUDA"
    return None, None, f"PyTorch skipped: no PyTorch device matching JAX platform {platform_name!r}"


def environment(settings: Settings, argv: Sequence[str], torch: Any) -> dict[str, Any]:
    """Describe the machine, the software versions and the sizes of this run."""
    meta = _common.describe_machine(SCRIPT, argv)
    meta["versions"]["torch"] = torch.__version__ if torch is not None else None
    return meta | {
        "sizes": list(settings.sizes),
        "residual_n": max(settings.sizes),
        "dtypes": list(DTYPES),
        "repeats": settings.repeats,
        "mlp_repeats": settings.mlp_repeats,
        "quick": settings.quick,
    }




# --------------------------------------------------------------------------
# MLP train step
# --------------------------------------------------------------------------


def mlp_benchmark(cfg: _common.MlpConfig, repeats: int) -> dict[str, Any]:
    """Time the jitted value_and_grad step of the synthetic MLP and read its compiled temp memory."""
    params = _common.mlp_params(jax.random.key(2), cfg)
    x = jax.random.normal(jax.random.key(3), (cfg.batch, cfg.d_in))
    y = jax.random.randint(jax.random.key(4), (cfg.batch,), 0, cfg.n_classes)
    thunks: dict[str, Callable[[], Any]] = {}
    temp: dict[str, int | None] = {}
    for name, act in MLP_ACTIVATIONS.items():
        compiled = jax.jit(jax.value_and_grad(_common.mlp_loss(act))).lower(params, x, y).compile()
        temp[name] = _common.temp_bytes(compiled)
        thunks[name] = _common.blocking(compiled, params, x, y)
    samples = _common.interleaved_times(thunks, repeats, seed=1)
    medians = {key: statistics.median(times) for key, times in samples.items()}
    relu_t, relu_temp = medians["jax.nn.relu"], temp["jax.nn.relu"]
    rows = []
    for name in MLP_ACTIVATIONS:
        rows.append({
            "activation": name,
            "time_s": medians[name],
            "ratio_to_relu_time": medians[name] / relu_t,
            "temp_bytes": temp[name],
            "ratio_to_relu_temp": (temp[name] / relu_temp
                                   if temp[name] is not None and relu_temp else None),
        })
    return {"config": vars(cfg) | {"dtype": "float32", "loss": "mean softmax cross-entropy",
                                   "step": "jax.jit(jax.value_and_grad(loss))"},
            "rows": rows}



def mlp_table(mlp: dict[str, Any]) -> list[str]:
    """The synthetic MLP's rows: step time and temp memory, and their ratios to relu's."""
    cfg = mlp["config"]
    lines = [f"MLP train step: {cfg['depth']} hidden layers x {cfg['width']}, input {cfg['d_in']}, "
             f"{cfg['n_classes']} classes, batch {cfg['batch']}, float32, `{cfg['step']}`.", "",
             *_report.table(["activation", "step ms", "x relu time", "temp MiB", "x relu temp"], "lrrrr")]
    for r in mlp["rows"]:
        lines.append(_report.row([r["activation"], _report.ms(r["time_s"]), _report.ratio(r["ratio_to_relu_time"]),
                                  _report.mib(r["temp_bytes"]), _report.ratio(r["ratio_to_relu_temp"])]))
    return lines


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def markdown(result: dict[str, Any]) -> str:
    """Render the result as markdown tables with the machine they came from."""
    meta = result["meta"]
    sizes = ", ".join(n_label(n) for n in meta["sizes"])
    return _report.document([
        f"Machine: {meta['device_kind']} ({meta['platform']}), CPU {meta['cpu_model']}, "
        f"{meta['cpus_available']} CPUs; "
        f"{_report.versions(meta['versions'], ('jax', 'jaxlib', 'numpy', 'torch', 'jelu'))}; {meta['date']}.",
        f"Command: `{meta['command']}` (n = {sizes}; {meta['repeats']} interleaved repeats "
        f"per n, median; MLP and trainer {meta['mlp_repeats']} repeats).",
        "", *summary_table(result),
        "", *elementwise_table(result),
        "", *residual_table(result),
        "", *mlp_table(result["mlp"]),
        *trainer_table(result["trainer"]),
        *learnable_table(result["learnable"]),
        "", *(f"- {note}" for note in result["notes"]),
    ])


def main(argv: Sequence[str] | None = None) -> int:
    """Run all benchmarks, print the markdown report, write JSON and markdown."""
    argv = list(sys.argv[1:] if argv is None else argv)
    settings = parse_args(argv)
    if settings.pinned_child is not None:
        return pinned_trainer_child(settings.mlp_repeats, settings.trainer_steps, settings.trainer_activations)
    start = time.perf_counter()
    torch, torch_device, torch_note = (None, None, "PyTorch disabled with --no-torch")
    if settings.torch:
        torch, torch_device, torch_note = _import_torch(jax.default_backend())
    result: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "meta": environment(settings, argv, torch)}
    result["elementwise"] = elementwise_benchmark(settings.sizes, settings.repeats, torch, torch_device)
    result["summary"] = summarize(result["elementwise"])
    result["residuals"] = residual_benchmark(max(settings.sizes))
    result["mlp"] = mlp_benchmark(settings.mlp, settings.mlp_repeats)
    result["trainer"] = (trainer_benchmark(settings.mlp_repeats, settings.trainer_steps, settings.quick,
                                           settings.trainer_activations)
                         if settings.trainer else {"status": "skipped", "note": "disabled with --no-trainer"})
    result["learnable"] = (learnable_benchmark(settings.mlp_repeats,
                                               QUICK_LEARNABLE_STEPS if settings.quick else LEARNABLE_STEPS, settings.quick)
                           if settings.trainer else {"status": "skipped", "note": "disabled with --no-trainer"})
    result["notes"] = [
        torch_note,
        "Times are medians over interleaved repeats (shuffled round-robin, blocking on each "
        "result); compilation and warm-up calls excluded. Each n is its own round-robin: compare "
        "ratios within one n of one run only.",
        "Inputs: x, g ~ N(0, 1) drawn in float32 (then cast), so about half of x is negative; "
        "celu with alpha = 0.5 (a power of two: jelu's cheaper exact path) and celu(0.3) "
        "(alpha = 0.3: jelu's general path).",
        "Bandwidth = minimal bytes (fwd: read x + write y; fwd+bwd: read x, g + write dx) / time.",
    ]
    if settings.quick:
        result["notes"].append("--quick: tiny sizes, a smoke test; these numbers mean nothing.")
    result["meta"]["total_seconds"] = time.perf_counter() - start
    report = markdown(result)
    _common.write_atomic(settings.json_path, json.dumps(result, indent=2) + "\n")
    _common.write_atomic(settings.md_path, report)
    print(report, end="")
    print(f"Wrote {settings.json_path} and {settings.md_path} in {result['meta']['total_seconds']:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
