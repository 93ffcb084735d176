"""What the benchmark scripts share: the command line, output paths, the machine, timing.

* :class:`OneLineParser`: bad command-line input is one line on stderr and
  exit code 2, never a usage dump or a traceback.
* Output convention: every script writes to one folder, ``--out DIR``
  (default :data:`RESULTS_DIR`, ``benchmarks/results/``), files named after
  the script and the machine kind: :func:`result_path` gives e.g.
  ``run-cpu.json`` or ``sweep-negative-cpu.md``. Files are written atomically
  (:func:`write_atomic`): a reader sees the old file or the new one, whole.
* :func:`describe_machine`: the machine and the versions, for each report;
  :func:`machine_kind` is ``jax.default_backend()`` (cpu, gpu, tpu).
* :func:`interleaved_times`: the timing every speed figure comes from.
* :class:`MlpConfig`, :func:`mlp_params`, :func:`mlp_loss`: the synthetic MLP
  whose train step ``run`` and ``device_check`` time.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import math
import os
import platform
import random
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import jelu

#: The activations every speed comparison times: jelu's elu against jax.nn's elu and relu.
COMPARED_ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "jelu.elu": jelu.elu,
    "jax.nn.elu": jax.nn.elu,
    "jax.nn.relu": jax.nn.relu,
}

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Where every script writes its reports unless told ``--out DIR``.
RESULTS_DIR = Path(__file__).resolve().parent / "results"
EXIT_USAGE = 2
#: Untimed calls of each thunk before the timed ones (compilation, allocator warm-up).
WARMUP_CALLS = 2


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr and exit code 2 (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {' '.join(message.split())}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_USAGE)


def parser(script: str, description: str) -> OneLineParser:
    """The parser of ``python -m benchmarks.<script>``."""
    return OneLineParser(prog=f"python -m benchmarks.{script}", description=description)


def add_out_argument(p: argparse.ArgumentParser, what: str) -> None:
    """``--out DIR``: the folder of the reports (default benchmarks/results)."""
    p.add_argument("--out", type=Path, default=RESULTS_DIR, metavar="DIR",
                   help=f"folder to write {what} to (default: benchmarks/results)")


def out_dir(p: argparse.ArgumentParser, path: Path) -> Path:
    """``path`` as an existing folder (created if missing); a one-line error if it cannot be."""
    if path.exists() and not path.is_dir():
        p.error(f"--out: {path} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        p.error(f"--out: cannot create {path}: {exc.strerror}")
    return path


def positive_int(text: str, limit: int | None = None) -> int:
    """argparse type: an integer from 1 (to ``limit``), written in decimal digits."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1 or (limit is not None and value > limit):
        upper = "" if limit is None else f" up to {limit}"
        raise argparse.ArgumentTypeError(f"expected an integer from 1{upper}, got {text!r}")
    return value


def positive_int_up_to(limit: int) -> Callable[[str], int]:
    """argparse type: :func:`positive_int` with an upper limit."""
    return lambda text: positive_int(text, limit)


def command(script: str, argv: Sequence[str]) -> str:
    """The command line of this run, as a user would type it from the repository root."""
    return shlex.join(["python", "-m", f"benchmarks.{script}", *argv])


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------


def machine_kind() -> str:
    """The kind of machine measured: ``jax.default_backend()`` (cpu, gpu or tpu)."""
    return jax.default_backend()


def result_path(directory: Path, script: str, suffix: str, *, tag: str = "", kind: str | None = None) -> Path:
    """``directory/<script>[-<tag>]-<kind><suffix>``, kind defaulting to :func:`machine_kind`."""
    stem = "-".join(part for part in (script, tag, kind or machine_kind()) if part)
    return Path(directory) / f"{stem}{suffix}"


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it and ``os.replace``.

    A reader sees the old file or the whole new one; if writing fails the old
    file is untouched and the temporary file removed.
    """
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo, else platform's guess)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpus_available() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def describe_machine(script: str, argv: Sequence[str]) -> dict[str, Any]:
    """Date, command, device, host CPU and versions of this run, for a report's ``meta``."""
    import jaxlib

    device = jax.devices()[0]
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command(script, argv),
        "platform": device.platform,
        "kind": machine_kind(),
        "device": str(device),
        "device_kind": device.device_kind,
        "device_count": jax.device_count(),
        "cpu_model": cpu_model(),
        "cpus_available": cpus_available(),
        "os": platform.platform(),
        "versions": {"python": platform.python_version(), "jax": jax.__version__,
                     "jaxlib": jaxlib.__version__, "numpy": np.__version__, "jelu": jelu.__version__},
    }


# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------


def interleaved_times(thunks: dict[Any, Callable[[], Any]], repeats: int, seed: int = 0) -> dict[Any, list[float]]:
    """Seconds of ``repeats`` calls of each thunk, round-robin, each round in a shuffled order.

    Every thunk must block until its result is ready. Each is first called
    :data:`WARMUP_CALLS` times untimed. Shuffling each round (with a fixed
    seed) keeps what one call leaves behind (caches, spinning thread pools)
    from favouring one candidate; interleaving makes a change in the
    machine's load hit every candidate alike.
    """
    for thunk in thunks.values():
        for _ in range(WARMUP_CALLS):
            thunk()
    order = list(thunks)
    rng = random.Random(seed)
    samples: dict[Any, list[float]] = {key: [] for key in thunks}
    for _ in range(repeats):
        rng.shuffle(order)
        for key in order:
            start = time.perf_counter()
            thunks[key]()
            samples[key].append(time.perf_counter() - start)
    return samples


def blocking(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    """A thunk calling ``fn(*args)`` and waiting for the result."""
    return lambda: jax.block_until_ready(fn(*args))


def compiled_thunk(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    """:func:`blocking` of ``fn`` jitted and compiled ahead for ``args``."""
    return blocking(jax.jit(fn).lower(*args).compile(), *args)


def scanned_steps(step: Callable[..., Any], params: Any, opt_state: Any, xs: jax.Array,
                  ys: jax.Array) -> tuple[Callable[[], Any], Any]:
    """A thunk that runs ``step(params, opt_state, x, y) -> (params, opt_state, loss)``
    over the batches ``(xs, ys)`` in one jitted ``lax.scan``, carrying (and donating)
    the state from call to call, and the compiled program."""
    def scanned(params: Any, opt_state: Any, xs: jax.Array, ys: jax.Array) -> Any:
        def body(carry: Any, batch: tuple[jax.Array, jax.Array]) -> Any:
            params, opt_state, loss = step(*carry, *batch)
            return (params, opt_state), loss
        carry, losses = jax.lax.scan(body, (params, opt_state), (xs, ys))
        return carry, losses[-1]

    compiled = jax.jit(scanned, donate_argnums=(0, 1)).lower(params, opt_state, xs, ys).compile()
    carried = (params, opt_state)

    def thunk() -> Any:
        nonlocal carried
        carried, loss = compiled(*carried, xs, ys)
        return jax.block_until_ready((carried, loss))

    return thunk, compiled


def temp_bytes(compiled: Any) -> int | None:
    """XLA's temporary memory of a compiled function (``memory_analysis``), None if not reported."""
    analysis = compiled.memory_analysis()
    return None if analysis is None else int(analysis.temp_size_in_bytes)


# --------------------------------------------------------------------------
# The synthetic MLP train step
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class MlpConfig:
    """Shape of the synthetic MLP: ``depth`` hidden layers of ``width``, softmax cross-entropy."""

    d_in: int
    width: int
    depth: int
    n_classes: int
    batch: int


FULL_MLP = MlpConfig(d_in=1024, width=1024, depth=8, n_classes=10, batch=4096)
QUICK_MLP = MlpConfig(d_in=32, width=64, depth=1, n_classes=10, batch=64)  # a smoke test: quick to compile


def mlp_params(key: jax.Array, cfg: MlpConfig) -> list[tuple[jax.Array, jax.Array]]:
    """He-initialized (weight, bias) pairs of every layer, float32."""
    sizes = [cfg.d_in] + [cfg.width] * cfg.depth + [cfg.n_classes]
    params = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = jax.random.normal(jax.random.fold_in(key, i), (fan_in, fan_out)) * math.sqrt(2 / fan_in)
        params.append((w, jnp.zeros((fan_out,))))
    return params


def mlp_loss(act: Callable[[jax.Array], jax.Array]) -> Callable[..., jax.Array]:
    """``loss(params, x, y)``: the mean softmax cross-entropy of the MLP with activation ``act``."""
    def loss(params: list[tuple[jax.Array, jax.Array]], x: jax.Array, y: jax.Array) -> jax.Array:
        h = x
        for w, b in params[:-1]:
            h = act(h @ w + b)
        w, b = params[-1]
        logp = jax.nn.log_softmax(h @ w + b)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    return loss
