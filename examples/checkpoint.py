"""The trainer's files: the output directory and its lock, checkpoints, metrics, export, plot.

A checkpoint is one uncompressed ``.npz`` (no orbax, nothing unpickled):

* ``header``: UTF-8 JSON as uint8: format name and version, model and run
  configuration, original class labels, epoch, step, metrics history;
* ``data_key``: the data-order key (uint32 key data);
* ``x_mean``, ``x_std``: the float64 standardization statistics;
* ``param.<path>``: each parameter, named by its place in the pytree
  (``param.layers.0.w``, ``param.alpha.1``);
* ``opt_NNNN``: the optimizer state's leaves in ``jax.tree_util`` order;
* ``sha256``: a digest of all the others, so that any damage is detected.

Every file is written atomically (:func:`common.atomic_write`).
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.export
import jax.numpy as jnp
import numpy as np

import jelu
from common import InputError, atomic_write, one_line, remove_stale_temp_files, write_bytes_atomic
from loop import TrainState

FORMAT = "jelu-train-checkpoint"
VERSION = 2
CHECKPOINT_NAME = "checkpoint.npz"
METRICS_NAME = "metrics.jsonl"
SUMMARY_NAME = "summary.json"
PLOT_NAME = "curves.png"
LOCK_NAME = ".lock"
RESULTS = (CHECKPOINT_NAME, METRICS_NAME, SUMMARY_NAME, PLOT_NAME)
EXPORT_PLATFORMS = ("cpu", "cuda", "tpu")


# --------------------------------------------------------------------------
# The output directory
# --------------------------------------------------------------------------


def check_output_dir(out: Path) -> None:
    """Fail early, before anything is written, if ``out`` cannot be a directory."""
    if out.exists():
        if not out.is_dir():
            raise InputError(f"--out {out} exists and is not a directory")
        if not os.access(out, os.W_OK | os.X_OK):
            raise InputError(f"--out {out} is not writable")
        return
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"--out {out} cannot be created: {parent} is not a writable directory")


def create_output_dir(out: Path) -> None:
    """Create ``out`` and prove it writable; on failure leave nothing behind."""
    missing = [p for p in (out, *out.parents) if not p.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        for p in missing:  # innermost first
            try:
                p.rmdir()
            except OSError:
                pass
        raise InputError(f"--out {out} cannot be written: {one_line(e)}") from None


class OutputLock:
    """An exclusive lock on ``out`` (``flock`` on ``out/.lock``, released when the
    process ends, even by ``kill -9``). The lock file names the holder."""

    def __init__(self, out: Path):
        self.path = out / LOCK_NAME
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise InputError(f"--out {out} cannot be locked: {one_line(e)}") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(self._fd, 200, 0).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            raise InputError(f"--out {out} is in use by another trainer ({holder}); wait for it "
                             "to finish or choose another --out") from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)

    def release(self) -> None:
        os.close(self._fd)


def existing_results(out: Path) -> list[str]:
    """The names of another run's result files in ``out``."""
    return [name for name in RESULTS if (out / name).exists()]


def clear_results(out: Path) -> None:
    """Delete another run's results (``--overwrite``) and killed writes' temporary files."""
    for name in existing_results(out):
        (out / name).unlink()
    remove_stale_temp_files(out)


# --------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------


def _path_name(path: tuple[Any, ...]) -> str:
    return ".".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)


def save_checkpoint(path: Path, state: TrainState, config: dict[str, Any], classes: list[int],
                    mean: np.ndarray, std: np.ndarray) -> None:
    """Write the checkpoint atomically (see the module docstring for the format)."""
    named = jax.tree_util.tree_flatten_with_path(state.params)[0]
    opt_leaves = jax.tree_util.tree_leaves(state.opt_state)
    header = {
        "format": FORMAT, "version": VERSION, "config": config, "classes": classes,
        "epoch": state.epoch, "step": state.step, "history": state.history,
        "num_opt_leaves": len(opt_leaves),
        "jelu_version": jelu.__version__, "jax_version": jax.__version__,
    }
    arrays = {
        "header": np.frombuffer(json.dumps(header).encode(), np.uint8),
        "data_key": np.asarray(state.data_key),
        "x_mean": np.asarray(mean, np.float64),
        "x_std": np.asarray(std, np.float64),
    }
    arrays |= {f"param.{_path_name(p)}": np.asarray(a) for p, a in named}
    arrays |= {f"opt_{i:04d}": np.asarray(a) for i, a in enumerate(opt_leaves)}
    arrays["sha256"] = digest(arrays)
    atomic_write(path, lambda f: np.savez(f, **arrays))


def digest(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """SHA-256 over the names, dtypes, shapes and bytes of every array but ``sha256``."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        if name != "sha256":
            a = np.ascontiguousarray(arrays[name])
            h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
            h.update(a.tobytes())
    return np.frombuffer(h.digest(), np.uint8)


def read_checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a checkpoint's header and arrays; never unpickles anything.

    Raises :class:`InputError` if the file is missing, damaged in any way, or not ours.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"no checkpoint to resume from at {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        if not np.array_equal(arrays.get("sha256"), digest(arrays)):
            raise ValueError("checksum mismatch")
        del arrays["sha256"]
        header = json.loads(arrays.pop("header").tobytes().decode())
    except Exception as e:  # a damaged zip fails in many ways (BadZipFile, RuntimeError, ...)
        raise InputError(f"checkpoint {path} is corrupt or unreadable ({one_line(e)}); "
                         "restore it from a copy or start afresh with --overwrite") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise InputError(f"{path} is not a {FORMAT} file")
    if header.get("version") != VERSION:
        raise InputError(f"checkpoint {path} has format version {header.get('version')!r}; "
                         f"this trainer reads version {VERSION}")
    return header, arrays


def _params_from(path: Path, arrays: dict[str, np.ndarray]) -> Any:
    """Rebuild the parameter pytree from its ``param.<path>`` arrays."""
    tree: dict[str, Any] = {}
    for name in sorted(n for n in arrays if n.startswith("param.")):
        *parents, leaf = name.split(".")[1:]
        node: Any = tree
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = arrays[name]

    def lists(node: Any) -> Any:  # {"0": a, "1": b} -> [a, b]
        if not isinstance(node, dict):
            return node
        if node and all(k.isdigit() for k in node):
            if sorted(map(int, node)) != list(range(len(node))):
                raise InputError(f"checkpoint {path} is corrupt: parameter list with gaps")
            return [lists(node[str(i)]) for i in range(len(node))]
        return {k: lists(v) for k, v in node.items()}

    return lists(tree)


def load_params(path: Path | str) -> tuple[Any, dict[str, Any], np.ndarray, np.ndarray]:
    """(params, header, x_mean, x_std) of a checkpoint (no optimizer state)."""
    path = Path(path)
    header, arrays = read_checkpoint(path)
    return _params_from(path, arrays), header, arrays["x_mean"], arrays["x_std"]


def restore_state(path: Path, config: dict[str, Any], like_params: Any, optimizer: Any) -> TrainState:
    """Load a checkpoint written with exactly this configuration; ``like_params``
    gives the shapes the model expects. Raises :class:`InputError` otherwise."""
    header, arrays = read_checkpoint(path)
    saved = header.get("config")
    if not isinstance(saved, dict):
        raise InputError(f"checkpoint {path} is corrupt: no configuration")
    differences = [f"{k} {saved.get(k)!r} (checkpoint) vs {config.get(k)!r} (now)"
                   for k in sorted(set(saved) | set(config)) if saved.get(k) != config.get(k)]
    if differences:
        raise InputError(f"checkpoint {path} is from another configuration: {'; '.join(differences)}")
    try:
        params = _params_from(path, arrays)
        fits = jax.tree_util.tree_map(
            lambda a, like: a.shape == like.shape and a.dtype == like.dtype, params, like_params)
        if not all(jax.tree_util.tree_leaves(fits)):
            raise ValueError("parameter shapes do not fit the model")
        like_opt, treedef = jax.tree_util.tree_flatten(jax.eval_shape(optimizer.init, like_params))
        opt = [arrays[f"opt_{i:04d}"] for i in range(len(like_opt))]
        if header["num_opt_leaves"] != len(like_opt) or any(
                a.shape != b.shape or a.dtype != b.dtype for a, b in zip(opt, like_opt)):
            raise ValueError("optimizer state does not fit the optimizer")
        state = TrainState(params, jax.tree_util.tree_unflatten(treedef, opt), arrays["data_key"],
                           int(header["epoch"]), int(header["step"]), list(header["history"]))
    except (KeyError, ValueError, TypeError) as e:
        raise InputError(f"checkpoint {path} is corrupt: {one_line(e)}") from None
    return state


# --------------------------------------------------------------------------
# Metrics, summary, plot, export
# --------------------------------------------------------------------------


def write_json(path: Path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2) + "\n").encode())


def write_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    """Rewrite ``metrics.jsonl`` atomically: one JSON object per epoch."""
    write_bytes_atomic(path, "".join(json.dumps(row) + "\n" for row in history).encode())


def plot_curves(history: list[dict[str, Any]]) -> bytes:
    """PNG bytes of the train/validation loss and accuracy per epoch."""
    from matplotlib.figure import Figure  # the object API needs no backend

    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    for ax, metric in zip(fig.subplots(1, 2), ("loss", "accuracy")):
        ax.plot(epochs, [row[f"train_{metric}"] for row in history], label="train")
        ax.plot(epochs, [row[f"val_{metric}"] for row in history], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def check_export_path(path: Path, out: Path) -> None:
    """Before training: the export file's directory must be ``--out`` or a writable directory."""
    if path.is_dir():
        raise InputError(f"--export {path} is a directory")
    parent = path.absolute().parent
    if parent == out.absolute() and not parent.exists():
        return  # created with --out, whose checks cover it
    if not parent.is_dir():
        raise InputError(f"--export {path}: directory {parent} does not exist")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as e:
        raise InputError(f"--export {path}: cannot write in {parent} ({one_line(e)})") from None


def export_metadata_path(path: Path) -> Path:
    """Where the metadata of an exported model goes: ``PATH.json`` beside ``PATH``."""
    return path.with_name(path.name + ".json")


def export_metadata(dtype: str, config: dict[str, Any], classes: list[int]) -> dict[str, Any]:
    """What an exported model is: its compute dtype (the precision it was trained
    in), input and output, configuration and versions."""
    return {"format": "jelu-train-export", "compute_dtype": dtype,
            "input": f"float32 [batch, {config['input_dim']}] raw features",
            "outputs": ["float32 logits [batch, classes]", "int32 labels [batch]"],
            "classes": classes, "platforms": list(EXPORT_PLATFORMS), "config": config,
            "jelu_version": jelu.__version__, "jax_version": jax.__version__}


def export_predict(logits_fn: Callable[[Any, jax.Array], jax.Array], params: Any,
                   mean: np.ndarray, std: np.ndarray, classes: list[int]) -> bytes:
    """Serialize ``x_raw -> (logits, labels)`` with ``jax.export`` (standardization
    included; ``labels`` are the data's own int32 labels of the largest logits).

    The batch dimension is symbolic; the artifact runs on cpu, cuda and tpu.
    Load it with ``jax.export.deserialize(blob).call(x)``.
    """
    params = jax.tree_util.tree_map(np.asarray, params)
    scale = (1.0 / std).astype(np.float32)  # x * scale - shift never overflows float32
    shift = (mean / std).astype(np.float32)
    labels = np.asarray(classes, np.int32)

    def predict(x: jax.Array) -> tuple[jax.Array, jax.Array]:
        logits = logits_fn(params, x * scale - shift)
        return logits, jnp.asarray(labels)[jnp.argmax(logits, axis=-1)]

    shape = jax.export.symbolic_shape(f"batch, {len(mean)}")
    exported = jax.export.export(jax.jit(predict), platforms=EXPORT_PLATFORMS)(
        jax.ShapeDtypeStruct(shape, jnp.float32))
    return bytes(exported.serialize())
