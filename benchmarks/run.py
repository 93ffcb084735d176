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

PyTorch is optional: it runs on CPU when JAX runs on CPU (with as many intra-op
threads as CPUs available to this process, which is what XLA's CPU thread pool
uses), on CUDA when JAX runs on a GPU and ``torch.cuda.is_available()``, and is
skipped otherwise. Bad command-line input: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

#: Hidden flag: run only the trainer-step timing, pinned to the given CPU, and
#: print its figures as one JSON line (used by :func:`pinned_trainer_benchmark`).
PINNED_CHILD_FLAG = "--pinned-trainer-child"


def _pin_before_jax(argv: Sequence[str]) -> None:
    """In the pinned child, restrict this process to one CPU before jax is imported.

    XLA's CPU client sizes its thread pool from the affinity mask when it is
    created, so the pinning must precede it. A malformed flag is left for
    :func:`parse_args` to report; a failed pinning is caught by the child's
    own check of its CPU count.
    """
    if PINNED_CHILD_FLAG not in argv:
        return
    try:
        os.sched_setaffinity(0, {int(argv[list(argv).index(PINNED_CHILD_FLAG) + 1])})
    except (IndexError, ValueError, OSError, AttributeError):
        pass


if __name__ == "__main__":
    _pin_before_jax(sys.argv[1:])

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jelu  # noqa: E402
from benchmarks import _common  # noqa: E402

SCRIPT = "run"
SCHEMA_VERSION = 3
#: Row name -> (function name in jelu / jax.nn / torch.nn.functional, alpha or None).
#: celu with alpha = 1 is elu, so celu gets a non-trivial alpha: 0.5 is a power
#: of two (jelu's cheaper exact path), 0.3 is not (its general path).
FUNCTION_SPECS: dict[str, tuple[str, float | None]] = {
    "elu": ("elu", None),
    "selu": ("selu", None),
    "celu": ("celu", 0.5),
    "celu(0.3)": ("celu", 0.3),
}
FUNCTIONS = tuple(FUNCTION_SPECS)
DEFAULT_SIZES = (2**16, 2**20, 2**22, 2**24)
QUICK_SIZES = (2**14,)
DTYPES = ("float32", "bfloat16")
MODES = ("fwd", "fwd+bwd")
IMPLS = ("floor", "jelu", "jax.nn", "torch")
# Arrays read + written by the JAX candidate and its floor, in units of n.
ARRAYS_MOVED = {"fwd": 2, "fwd+bwd": 3}
MLP_ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    **_common.COMPARED_ACTIVATIONS, "identity": lambda h: h}
#: The trainer-step rows: activation (jelu's elu against jax.nn's elu and relu) x dtype.
TRAINER_ACTIVATIONS = _common.COMPARED_ACTIVATIONS
TRAINER_DTYPES = ("float32", "bfloat16")
TRAINER_BATCH = 64
TRAINER_LEARNING_RATE = 1e-3
#: Steps in one timed sample (one lax.scan): a step takes a few hundred µs on 2 CPU cores.
TRAINER_STEPS = 100
QUICK_TRAINER_STEPS = 10


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


def n_label(n: int) -> str:
    """``2**k`` for a power of two from 2 on, else the decimal number."""
    return f"2**{n.bit_length() - 1}" if n >= 2 and n & (n - 1) == 0 else str(n)


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
                        help="skip the trainer-step rows (examples/mlp.py)")
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
# Elementwise benchmark
# --------------------------------------------------------------------------


def _with_alpha(f: Callable[..., Any], alpha: float | None) -> Callable[[Any], Any]:
    return f if alpha is None else (lambda x: f(x, alpha))


def _jax_fn(impl: str, name: str) -> Callable[[jax.Array], jax.Array]:
    """The row ``name`` of :data:`FUNCTION_SPECS` from jelu or jax.nn, as ``f(x)``."""
    base, alpha = FUNCTION_SPECS[name]
    return _with_alpha(getattr(jelu if impl == "jelu" else jax.nn, base), alpha)


def _jax_candidates(mode: str, x: jax.Array, g: jax.Array) -> dict[tuple[str, str], Callable[[], Any]]:
    """Jitted JAX thunks of one mode and dtype, keyed by (impl, function)."""
    thunks: dict[tuple[str, str], Callable[[], Any]] = {}
    if mode == "fwd":
        thunks[("floor", "x*2")] = _common.blocking(jax.jit(lambda x: x * 2), x)
    else:
        thunks[("floor", "x*g")] = _common.blocking(jax.jit(lambda x, g: x * g), x, g)
    for impl in ("jelu", "jax.nn"):
        for name in FUNCTIONS:
            f = _jax_fn(impl, name)
            if mode == "fwd":
                thunks[(impl, name)] = _common.blocking(jax.jit(f), x)
            else:
                grad_only = jax.jit(lambda x, g, f=f: jax.vjp(f, x)[1](g)[0])
                thunks[(impl, name)] = _common.blocking(grad_only, x, g)
    return thunks


def _torch_candidates(
    torch: Any, device: str, mode: str, x: np.ndarray, g: np.ndarray, dtype: str
) -> dict[tuple[str, str], Callable[[], Any]]:
    """PyTorch thunks of one mode and dtype (inputs converted from float32 copies)."""
    tdtype = getattr(torch, dtype)
    x, g = x.copy(), g.copy()  # writable, as torch.from_numpy wants
    xt = torch.from_numpy(x).to(device=device, dtype=tdtype)
    gt = torch.from_numpy(g).to(device=device, dtype=tdtype)
    xt_grad = xt.detach().clone().requires_grad_(True)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    funcs = {name: _with_alpha(getattr(torch.nn.functional, base), alpha)
             for name, (base, alpha) in FUNCTION_SPECS.items()}
    thunks: dict[tuple[str, str], Callable[[], Any]] = {}
    for name, f in funcs.items():
        if mode == "fwd":
            def thunk(f: Callable[..., Any] = f) -> Any:
                with torch.no_grad():
                    out = f(xt)
                sync()
                return out
        else:
            def thunk(f: Callable[..., Any] = f) -> Any:
                (dx,) = torch.autograd.grad(f(xt_grad), xt_grad, gt)
                sync()
                return dx
        thunks[("torch", name)] = thunk
    return thunks


def elementwise_benchmark(
    sizes: Sequence[int], repeats: int, torch: Any, torch_device: str | None
) -> list[dict[str, Any]]:
    """Rows of every size in ``sizes``, measured one size at a time."""
    rows: list[dict[str, Any]] = []
    for n in sizes:
        rows += _elementwise_at(n, repeats, torch, torch_device)
    return rows


def _elementwise_at(
    n: int, repeats: int, torch: Any, torch_device: str | None
) -> list[dict[str, Any]]:
    """Time every (dtype, mode, impl, function) at size n in one interleaved round-robin."""
    x32 = jax.random.normal(jax.random.key(0), (n,), jnp.float32)
    g32 = jax.random.normal(jax.random.key(1), (n,), jnp.float32)
    x_host, g_host = np.asarray(x32), np.asarray(g32)  # float32, for PyTorch
    thunks: dict[tuple[str, str, str, str], Callable[[], Any]] = {}
    for dtype in DTYPES:
        x, g = x32.astype(dtype), g32.astype(dtype)
        for mode in MODES:
            group = _jax_candidates(mode, x, g)
            if torch is not None and torch_device is not None:
                group |= _torch_candidates(torch, torch_device, mode, x_host, g_host, dtype)
            for (impl, name), thunk in group.items():
                thunks[(dtype, mode, impl, name)] = thunk
    samples = _common.interleaved_times(thunks, repeats)
    medians = {key: statistics.median(times) for key, times in samples.items()}

    rows = []
    for (dtype, mode, impl, name), t in medians.items():
        floor_t = medians[(dtype, mode, "floor", "x*2" if mode == "fwd" else "x*g")]
        copy_t = medians[(dtype, "fwd", "floor", "x*2")]
        itemsize = jnp.dtype(dtype).itemsize
        nbytes = ARRAYS_MOVED[mode] * n * itemsize
        copy_bandwidth = ARRAYS_MOVED["fwd"] * n * itemsize / copy_t
        ref = medians.get((dtype, mode, "jax.nn", name))
        rows.append({
            "n": n,
            "dtype": dtype,
            "mode": mode,
            "impl": impl,
            "function": name,
            "time_s": t,
            "min_time_s": min(samples[(dtype, mode, impl, name)]),
            "ratio_to_floor": t / floor_t,
            "ratio_to_jax_nn": t / ref if ref is not None else None,
            "bytes_moved": nbytes,
            "bandwidth_GBps": nbytes / t / 1e9,
            "fraction_of_copy_bandwidth": nbytes / t / copy_bandwidth,
        })
    return rows


def summarize(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (dtype, mode, function): the largest jelu/jax.nn ratio over the sizes, and its n."""
    worst: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in rows:
        if r["impl"] != "jelu" or r["ratio_to_jax_nn"] is None:
            continue
        key = (r["dtype"], r["mode"], r["function"])
        if key not in worst or r["ratio_to_jax_nn"] > worst[key]["max_ratio_to_jax_nn"]:
            worst[key] = {"dtype": r["dtype"], "mode": r["mode"], "function": r["function"],
                          "max_ratio_to_jax_nn": r["ratio_to_jax_nn"], "n": r["n"]}
    return [worst[(d, m, f)] for d in DTYPES for m in MODES for f in FUNCTIONS if (d, m, f) in worst]


# --------------------------------------------------------------------------
# Residuals
# --------------------------------------------------------------------------


def residual_arrays(f: Callable[[jax.Array], jax.Array], n: int, dtype: str) -> list[Any]:
    """Shapes/dtypes of the residuals that ``jax.vjp(f, x)`` keeps for the reverse pass.

    The VJP closure is a pytree (``jax.tree_util.Partial``) whose array leaves
    are the saved residuals (the input itself included, when it is kept).
    Tracing under ``jax.eval_shape`` gives their shapes without allocating.
    """
    def leaves(x: jax.Array) -> list[jax.Array]:
        return jax.tree_util.tree_leaves(jax.vjp(f, x)[1])

    return jax.eval_shape(leaves, jax.ShapeDtypeStruct((n,), dtype))


def residual_benchmark(n: int) -> list[dict[str, Any]]:
    """Count and size the residuals of every function, implementation and dtype."""
    rows = []
    for dtype in DTYPES:
        for impl in ("jelu", "jax.nn"):
            for name in FUNCTIONS:
                arrays = residual_arrays(_jax_fn(impl, name), n, dtype)
                nbytes = sum(math.prod(a.shape) * a.dtype.itemsize for a in arrays)
                rows.append({
                    "n": n,
                    "dtype": dtype,
                    "impl": impl,
                    "function": name,
                    "count": len(arrays),
                    "full_size_count": sum(a.shape == (n,) for a in arrays),
                    "bytes": nbytes,
                    "bytes_per_element": nbytes / n,
                    "arrays": [f"{a.dtype}{list(a.shape)}" for a in arrays],
                })
    return rows


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


# --------------------------------------------------------------------------
# Trainer step (examples/mlp.py)
# --------------------------------------------------------------------------


def _trainer_steps(steps: int, activations: Sequence[str]) -> tuple[dict[tuple[str, str], Callable[[], Any]],
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

        def scanned(params: Any, opt_state: Any, xs: jax.Array, ys: jax.Array) -> Any:
            def body(carry: Any, batch: tuple[jax.Array, jax.Array]) -> Any:
                params, opt_state, loss, _ = step(*carry, *batch)
                return (params, opt_state), loss
            carry, losses = jax.lax.scan(body, (params, opt_state), (xs, ys))
            return carry, losses[-1]

        params = mlp.init_params(jax.random.key(0))
        compiled = jax.jit(scanned, donate_argnums=(0, 1)).lower(params, optimizer.init(params), xs, ys).compile()
        carried = (params, optimizer.init(params))

        def thunk() -> Any:
            nonlocal carried
            carried, loss = compiled(*carried, xs, ys)
            return jax.block_until_ready((carried, loss))

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


def _trainer_rows(medians: dict[tuple[str, str], float], steps: int,
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

    :func:`_pin_before_jax` has already restricted this process to one CPU. The
    child compiles while the parent compiles its own, then waits for a line on
    its stdin (:func:`pinned_child_figures` sends it once the parent's timing
    is done), so the two never time at once.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) != 1:
        print(f"{PINNED_CHILD_FLAG}: not pinned to one CPU (affinity {cpus})", file=sys.stderr)
        return 3
    thunks, info = _trainer_steps(steps, activations)
    sys.stdin.readline()  # the parent's go (or end of input)
    if info["status"] == "ok":
        samples = _common.interleaved_times(thunks, repeats, seed=1)
        medians = {key: statistics.median(t) for key, t in samples.items()}
        info = {"status": "ok", "cpu": cpus[0], "cpus": 1, "rows": _trainer_rows(medians, steps)}
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
    thunks, info = _trainer_steps(steps, activations)
    if info["status"] != "ok":
        pinned_child_figures(child)  # let the child finish
        return info
    samples = _common.interleaved_times(thunks, repeats, seed=1)
    medians = {key: statistics.median(t) for key, t in samples.items()}
    temp = info.pop("temp_bytes")
    return info | {"cpus": _common.cpus_available(), "rows": _trainer_rows(medians, steps, temp),
                   "pinned": pinned_child_figures(child)}


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def _ms(t: float | None) -> str:
    return "-" if t is None else f"{t * 1e3:.2f}"


def _x(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def _mib(b: int | None) -> str:
    return "-" if b is None else f"{b / 2**20:.1f}"


def _kib(b: int | None) -> str:
    return "-" if b is None else f"{b / 2**10:.0f}"


def _residual_cell(row: dict[str, Any]) -> str:
    """E.g. ``4: 2 bool[n] + 2 float32[n] (10 B/elem)``."""
    kinds: dict[str, int] = {}
    for spec in row["arrays"]:
        kind = spec.replace(f"[{row['n']}]", "[n]")
        kinds[kind] = kinds.get(kind, 0) + 1
    parts = " + ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    return f"{row['count']}: {parts} ({row['bytes_per_element']:.4g} B/elem)"


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


def markdown(result: dict[str, Any]) -> str:
    """Render the result as markdown tables with the machine they came from."""
    meta = result["meta"]
    v = meta["versions"]
    sizes = meta["sizes"]
    size_list = ", ".join(n_label(n) for n in sizes)
    lines = [
        f"Machine: {meta['device_kind']} ({meta['platform']}), CPU {meta['cpu_model']}, "
        f"{meta['cpus_available']} CPUs; jax {v['jax']}, jaxlib {v['jaxlib']}, numpy {v['numpy']}, "
        f"torch {v['torch'] or 'absent'}, jelu {v['jelu']}; {meta['date']}.",
        f"Command: `{meta['command']}` (n = {size_list}; {meta['repeats']} interleaved repeats "
        f"per n, median; MLP and trainer {meta['mlp_repeats']} repeats).",
        "",
        f"Summary: worst (largest) jelu/jax.nn median-time ratio over n = {size_list}, "
        "with the n where it occurred; below 1.00x jelu is faster at every n.",
        "",
        "| dtype | pass | " + " | ".join(FUNCTIONS) + " |",
        "|---|---|" + "--:|" * len(FUNCTIONS),
    ]
    worst = {(r["dtype"], r["mode"], r["function"]): r for r in result["summary"]}
    for dtype in DTYPES:
        for mode in MODES:
            cells = [f"{_x(worst[key]['max_ratio_to_jax_nn'])} (n = {n_label(worst[key]['n'])})"
                     if (key := (dtype, mode, name)) in worst else "-" for name in FUNCTIONS]
            lines.append(f"| {dtype} | {mode} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Elementwise: median ms; `/floor` = time / the jitted `x * 2` (fwd) or `x * g` (fwd+bwd) "
        "floor; `%copy` = jelu's achieved bandwidth as a fraction of the `x * 2` copy bandwidth.",
        "",
        "| dtype | pass | n | fn | floor ms | jelu ms | jax.nn ms | torch ms | jelu/floor | jax.nn/floor "
        "| torch/floor | jelu/jax.nn | torch/jax.nn | jelu %copy |",
        "|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    index = {(r["n"], r["dtype"], r["mode"], r["impl"], r["function"]): r for r in result["elementwise"]}
    for dtype in DTYPES:
        for mode in MODES:
            for n in sizes:
                floor = index[(n, dtype, mode, "floor", "x*2" if mode == "fwd" else "x*g")]
                for name in FUNCTIONS:
                    row = {impl: index.get((n, dtype, mode, impl, name)) for impl in IMPLS[1:]}
                    get = lambda impl, key: row[impl][key] if row[impl] else None  # noqa: E731
                    frac = get("jelu", "fraction_of_copy_bandwidth")
                    lines.append(
                        f"| {dtype} | {mode} | {n_label(n)} | {name} | {_ms(floor['time_s'])} "
                        f"| {_ms(get('jelu', 'time_s'))} "
                        f"| {_ms(get('jax.nn', 'time_s'))} | {_ms(get('torch', 'time_s'))} "
                        f"| {_x(get('jelu', 'ratio_to_floor'))} | {_x(get('jax.nn', 'ratio_to_floor'))} "
                        f"| {_x(get('torch', 'ratio_to_floor'))} | {_x(get('jelu', 'ratio_to_jax_nn'))} "
                        f"| {_x(get('torch', 'ratio_to_jax_nn'))} | {'-' if frac is None else f'{frac:.0%}'} |"
                    )
    lines += [
        "",
        "fwd+bwd: JAX = `jax.jit(lambda x, g: jax.vjp(f, x)[1](g)[0])` (gradient only); "
        "PyTorch = autograd forward + `torch.autograd.grad` (also writes the forward output).",
        "",
        "Residuals kept for the reverse pass per call (leaves of the `jax.vjp(f, x)` closure, "
        f"traced with `jax.eval_shape` at n = {n_label(meta['residual_n'])}): count: arrays by dtype "
        "and shape (bytes per input element).",
        "",
        "| dtype | fn | jelu | jax.nn |",
        "|---|---|---|---|",
    ]
    res = {(r["dtype"], r["impl"], r["function"]): r for r in result["residuals"]}
    for dtype in DTYPES:
        for name in FUNCTIONS:
            cells = [_residual_cell(res[(dtype, impl, name)]) for impl in ("jelu", "jax.nn")]
            lines.append(f"| {dtype} | {name} | {cells[0]} | {cells[1]} |")
    mlp = result["mlp"]
    cfg = mlp["config"]
    lines += [
        "",
        f"MLP train step: {cfg['depth']} hidden layers x {cfg['width']}, input {cfg['d_in']}, "
        f"{cfg['n_classes']} classes, batch {cfg['batch']}, float32, `{cfg['step']}`.",
        "",
        "| activation | step ms | x relu time | temp MiB | x relu temp |",
        "|---|--:|--:|--:|--:|",
    ]
    for r in mlp["rows"]:
        lines.append(f"| {r['activation']} | {_ms(r['time_s'])} | {_x(r['ratio_to_relu_time'])} "
                     f"| {_mib(r['temp_bytes'])} | {_x(r['ratio_to_relu_temp'])} |")
    lines += _trainer_markdown(result["trainer"])
    lines += ["", *(f"- {note}" for note in result["notes"])]
    return "\n".join(lines) + "\n"


def _trainer_markdown(trainer: dict[str, Any]) -> list[str]:
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
             f"| dtype | activation | {all_cpus}: step µs | x relu | x f32 "
             "| 1 CPU (pinned): step µs | x relu | x f32 | temp KiB | x relu temp |",
             "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in trainer["rows"]:
        p = pinned_rows.get((r["dtype"], r["activation"]))
        pinned_cells = (f"{p['step_time_s'] * 1e6:.0f} | {_x(p['ratio_to_relu_time'])} "
                        f"| {_x(p['ratio_to_float32_time'])}") if p else "- | - | -"
        lines.append(f"| {r['dtype']} | {r['activation']} | {r['step_time_s'] * 1e6:.0f} "
                     f"| {_x(r['ratio_to_relu_time'])} | {_x(r['ratio_to_float32_time'])} | {pinned_cells} "
                     f"| {_kib(r['temp_bytes'])} | {_x(r['ratio_to_relu_temp'])} |")
    lines.append("")
    if pinned["status"] == "ok":
        lines.append(f"1 CPU (pinned): the same steps in a child process pinned to CPU {pinned['cpu']} "
                     "with `os.sched_setaffinity` before it imported jax. " + PINNED_NOTE)
    else:
        lines.append(f"1 CPU (pinned): skipped ({pinned['note']}).")
    return lines


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
