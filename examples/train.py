"""Train a plain-JAX MLP with jelu activations: data parallel, resumable, exportable.

Run ``python examples/train.py`` (after ``pip install -e ".[examples]"``) to
train a small MLP with :func:`jelu.elu` on scikit-learn's bundled digits data
set; ``--help`` lists every flag with its default.

The file reads top to bottom:

1. activations and the model: pure functions over plain pytrees
   (:func:`get_activation`, :func:`init_params`, :func:`forward`,
   :func:`apply`, :func:`loss`, :func:`accuracy`, :func:`evaluate`);
2. the optimizer and the one jit-compiled, data-parallel :func:`train_step`;
3. data: digits, ``.npz`` or ``.csv``; a seeded stratified split; standardizing;
4. files: atomic writes, the checkpoint format, ``jax.export``, the plot;
5. the command line (:func:`main`).

Other scripts may ``from train import ...`` after putting ``examples/`` on
``sys.path``; nothing runs at import time.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import math
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import jelu

PROG = "train.py"
CHECKPOINT_FORMAT = "jelu-train-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_NAME = "checkpoint.npz"
METRICS_NAME = "metrics.jsonl"
SUMMARY_NAME = "summary.json"
PLOT_NAME = "curves.png"
EXPORT_PLATFORMS = ("cpu", "cuda", "tpu")
VAL_FRACTION = 0.15
TEST_FRACTION = 0.15
DATA_AXIS = "data"

Params = dict[str, Any]
Activation = Callable[..., jax.Array]


class InputError(Exception):
    """Bad input from the user: reported as one line on stderr with exit code 2."""


class TrainingDiverged(Exception):
    """The loss became NaN or infinite: reported as one line with exit code 1."""


# --------------------------------------------------------------------------
# 1. Activations and the model
# --------------------------------------------------------------------------


def _elu(x: jax.Array, alpha: jax.Array | None = None) -> jax.Array:
    return jelu.elu(x) if alpha is None else jelu.elu(x, alpha)


def _celu(x: jax.Array, alpha: jax.Array | None = None) -> jax.Array:
    return jelu.celu(x) if alpha is None else jelu.celu(x, alpha)


def _selu(x: jax.Array, alpha: jax.Array | None = None) -> jax.Array:
    del alpha  # SELU's alpha is a fixed constant
    return jelu.selu(x)


def _relu(x: jax.Array, alpha: jax.Array | None = None) -> jax.Array:
    del alpha
    return jax.nn.relu(x)


def _jax_elu(x: jax.Array, alpha: jax.Array | None = None) -> jax.Array:
    return jax.nn.elu(x) if alpha is None else jax.nn.elu(x, alpha)


# name -> (function, takes a learnable alpha, initialization)
ACTIVATIONS: dict[str, tuple[Activation, bool, str]] = {
    "elu": (_elu, True, "he"),
    "selu": (_selu, False, "lecun"),
    "celu": (_celu, True, "he"),
    "relu": (_relu, False, "he"),
    "jax-elu": (_jax_elu, True, "he"),
}


def get_activation(name: str) -> Activation:
    """Return the activation ``f(x, alpha=None)`` called ``name``.

    "elu", "selu" and "celu" are jelu's; "relu" is ``jax.nn.relu`` and
    "jax-elu" is ``jax.nn.elu`` (for comparison). ``alpha`` is used by
    elu, celu and jax-elu only.
    """
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name][0]


def init_for(activation_name: str) -> str:
    """The initialization that suits an activation: "lecun" for selu, else "he"."""
    get_activation(activation_name)  # validates the name
    return ACTIVATIONS[activation_name][2]


def init_params(
    key: jax.Array, layer_sizes: Sequence[int], *, init: str = "he", learn_alpha: bool = False
) -> Params:
    """Initialize an MLP with the given layer sizes (input, hidden..., output).

    Weights are normal with std ``sqrt(2 / fan_in)`` ("he") or
    ``sqrt(1 / fan_in)`` ("lecun"); biases are zero. With ``learn_alpha`` the
    result also holds ``"alpha"``: one log-alpha vector per hidden layer,
    zero so that every unit starts at alpha = 1.
    """
    gains = {"he": 2.0, "lecun": 1.0}
    if init not in gains:
        raise ValueError(f"unknown init {init!r}; valid: {', '.join(gains)}")
    keys = jax.random.split(key, len(layer_sizes) - 1)
    layers = []
    for k, d_in, d_out in zip(keys, layer_sizes[:-1], layer_sizes[1:]):
        std = math.sqrt(gains[init] / d_in)
        layers.append(
            {
                "w": std * jax.random.normal(k, (d_in, d_out), jnp.float32),
                "b": jnp.zeros((d_out,), jnp.float32),
            }
        )
    params: Params = {"layers": layers}
    if learn_alpha:
        params["alpha"] = [jnp.zeros((d,), jnp.float32) for d in layer_sizes[1:-1]]
    return params


def forward(
    params: Params, x: jax.Array, activation: Activation
) -> tuple[jax.Array, list[jax.Array]]:
    """Return the logits and the post-activation output of every hidden layer.

    A learned alpha is stored as log-alpha and enters as ``exp(log_alpha)``,
    which keeps it positive.
    """
    hidden = []
    h = x
    *hidden_layers, last = params["layers"]
    for i, layer in enumerate(hidden_layers):
        alpha = jnp.exp(params["alpha"][i]) if "alpha" in params else None
        h = activation(h @ layer["w"] + layer["b"], alpha)
        hidden.append(h)
    return h @ last["w"] + last["b"], hidden


def apply(params: Params, x: jax.Array, activation: Activation) -> jax.Array:
    """Return the logits of the MLP."""
    return forward(params, x, activation)[0]


def loss(params: Params, x: jax.Array, y: jax.Array, activation: Activation) -> jax.Array:
    """Mean softmax cross-entropy of the logits against integer labels ``y``."""
    logits = apply(params, x, activation)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def accuracy(logits: jax.Array, y: jax.Array) -> jax.Array:
    """Fraction of rows whose largest logit is at the label."""
    return jnp.mean(jnp.argmax(logits, axis=-1) == y)


def evaluate(
    params: Params, x: jax.Array, y: jax.Array, activation: Activation
) -> tuple[jax.Array, jax.Array]:
    """Return (mean loss, accuracy) of the model on ``x``, ``y``."""
    logits = apply(params, x, activation)
    value = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return value, accuracy(logits, y)


def alpha_stats(params: Params) -> dict[str, Any] | None:
    """Mean and range of the learned alphas (overall and per hidden layer)."""
    if "alpha" not in params:
        return None
    per_layer = [np.exp(np.asarray(a, np.float64)) for a in params["alpha"]]
    every = np.concatenate(per_layer)

    def stats(a: np.ndarray) -> dict[str, float]:
        return {"mean": float(a.mean()), "min": float(a.min()), "max": float(a.max())}

    return {**stats(every), "per_layer": [stats(a) for a in per_layer]}


# --------------------------------------------------------------------------
# 2. The optimizer and the train step
# --------------------------------------------------------------------------

OPTIMIZERS = ("adam", "sgd", "momentum", "adamw")


def make_optimizer(name: str, lr: float) -> optax.GradientTransformation:
    """Return the optax optimizer ``name`` (adam, sgd, momentum 0.9, adamw 1e-4)."""
    if name == "adam":
        return optax.adam(lr)
    if name == "sgd":
        return optax.sgd(lr)
    if name == "momentum":
        return optax.sgd(lr, momentum=0.9)
    if name == "adamw":
        return optax.adamw(lr, weight_decay=1e-4)
    raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")


def train_step(
    params: Params,
    opt_state: optax.OptState,
    x: jax.Array,
    y: jax.Array,
    *,
    activation: Activation,
    optimizer: optax.GradientTransformation,
) -> tuple[Params, optax.OptState, jax.Array, jax.Array]:
    """One optimizer step; returns new params and state, batch loss and accuracy."""

    def objective(p: Params) -> tuple[jax.Array, jax.Array]:
        logits = apply(p, x, activation)
        value = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return value, logits

    (value, logits), grads = jax.value_and_grad(objective, has_aux=True)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, value, accuracy(logits, y)


def make_mesh() -> Mesh:
    """A one-axis mesh over every device JAX sees (all hosts)."""
    return Mesh(np.array(jax.devices()), (DATA_AXIS,))


def make_train_step(
    activation: Activation, optimizer: optax.GradientTransformation, mesh: Mesh
) -> Callable[..., tuple[Params, optax.OptState, jax.Array, jax.Array]]:
    """jit-compile :func:`train_step` for data parallelism over ``mesh``.

    The batch is split along the mesh's data axis; parameters, optimizer state
    and the returned metrics are replicated. XLA adds the gradient all-reduce.
    """
    replicated = NamedSharding(mesh, PartitionSpec())
    batch = NamedSharding(mesh, PartitionSpec(DATA_AXIS))

    def step(params, opt_state, x, y):
        return train_step(params, opt_state, x, y, activation=activation, optimizer=optimizer)

    return jax.jit(
        step,
        in_shardings=(replicated, replicated, batch, batch),
        out_shardings=replicated,
        donate_argnums=(0, 1),
    )


def make_evaluate(
    activation: Activation, mesh: Mesh
) -> Callable[..., tuple[jax.Array, jax.Array]]:
    """jit-compile :func:`evaluate` with everything replicated over ``mesh``."""
    replicated = NamedSharding(mesh, PartitionSpec())
    return jax.jit(
        lambda p, x, y: evaluate(p, x, y, activation),
        in_shardings=replicated,
        out_shardings=replicated,
    )


def to_global(tree: Any, sharding: NamedSharding) -> Any:
    """Place host arrays (identical on every process) as global arrays.

    Each process supplies the shards of its own devices, so this works on one
    host and on many.
    """

    def place(a: Any) -> jax.Array:
        a = np.asarray(a)
        return jax.make_array_from_callback(a.shape, sharding, lambda index: a[index])

    return jax.tree_util.tree_map(place, tree)


# --------------------------------------------------------------------------
# 3. Data
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Standardized splits plus what is needed to reproduce them."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    classes: list[int]
    sha256: str


def load_data(spec: str) -> tuple[np.ndarray, np.ndarray]:
    """Load ``spec`` ("digits", ``PATH.npz`` or ``PATH.csv``) as raw (x, y).

    Raises :class:`InputError` for anything unreadable; the arrays are checked
    by :func:`validate_data`.
    """
    if spec == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return np.asarray(bunch.data), np.asarray(bunch.target)
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".csv"):
        raise InputError(f"--data must be 'digits', a .npz file or a .csv file, not {spec!r}")
    if not path.exists():
        raise InputError(f"data file not found: {spec}")
    if not path.is_file():
        raise InputError(f"data file is not a regular file: {spec}")
    return _load_npz(path) if suffix == ".npz" else _load_csv(path)


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in ("x", "y") if k not in archive.files]
            if missing:
                raise InputError(f"{path} has no array named {' or '.join(map(repr, missing))}")
            return archive["x"], archive["y"]
    except InputError:
        raise
    except AttributeError:  # np.load gave a plain array: a .npy, not an archive
        raise InputError(f"cannot read {path}: not an .npz archive") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise InputError(f"cannot read {path}: {_one_line(e)}") from None


def _load_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Numeric columns, the last one the label; the first row is a header if
    any of its cells is not a number."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = [(n, row) for n, row in enumerate(csv.reader(f), start=1) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"cannot read {path}: {_one_line(e)}") from None
    if rows and not all(_is_number(cell) for cell in rows[0][1]):
        rows = rows[1:]  # header
    if not rows:
        raise InputError(f"{path} has no data rows")
    width = len(rows[0][1])
    if width < 2:
        raise InputError(f"{path} needs at least one feature column and a label column")
    values = np.empty((len(rows), width), np.float64)
    for i, (line, row) in enumerate(rows):
        if len(row) != width:
            raise InputError(f"{path} line {line} has {len(row)} columns, expected {width}")
        for j, cell in enumerate(row):
            if not _is_number(cell):
                raise InputError(f"{path} line {line} column {j + 1}: {cell!r} is not a number")
            values[i, j] = float(cell)
    return values[:, :-1], values[:, -1]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def validate_data(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Check raw arrays; return float32 features, labels mapped to 0..K-1, and
    the original label values. Raises :class:`InputError`."""
    if x.ndim != 2:
        raise InputError(f"x must be 2-D [N, D], got shape {x.shape}")
    if y.ndim != 1:
        raise InputError(f"y must be 1-D [N], got shape {y.shape}")
    if len(x) != len(y):
        raise InputError(f"x has {len(x)} rows but y has {len(y)} labels")
    if x.dtype.kind not in "biuf":
        raise InputError(f"x must be numeric, got dtype {x.dtype}")
    if x.shape[1] == 0:
        raise InputError("x has no feature columns")
    features = x.astype(np.float32)
    if not np.isfinite(features).all():
        bad = np.argwhere(~np.isfinite(features))[0]
        raise InputError(
            f"features must be finite (NaN/inf, or beyond float32) at row {bad[0]}, column {bad[1]}"
        )
    if y.dtype.kind in "iu":
        labels = y.astype(np.int64)
    elif y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all():
        labels = y.astype(np.int64)
    else:
        raise InputError(f"labels must be integers, got dtype {y.dtype} with non-integer values")
    classes, index = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise InputError(f"labels must have at least 2 classes, got {len(classes)}")
    return features, index.astype(np.int32), [int(c) for c in classes]


def stratified_split(
    y: np.ndarray, seed: int, val_fraction: float = VAL_FRACTION, test_fraction: float = TEST_FRACTION
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded split of row indices into train/val/test, class by class.

    Each class gives round(n * fraction) rows to validation and to test and
    the rest to training; indices come back sorted.
    """
    rng = np.random.default_rng(seed)
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        n_test = round(len(rows) * test_fraction)
        n_val = round(len(rows) * val_fraction)
        parts[2].append(rows[:n_test])
        parts[1].append(rows[n_test : n_test + n_val])
        parts[0].append(rows[n_test + n_val :])
    train, val, test = (np.sort(np.concatenate(p)) for p in parts)
    return train, val, test


def prepare_data(spec: str, seed: int) -> Dataset:
    """Load, check, split and standardize (with training statistics only)."""
    raw_x, raw_y = load_data(spec)
    x, y, classes = validate_data(raw_x, raw_y)
    train, val, test = stratified_split(y, seed)
    if len(val) == 0 or len(test) == 0 or len(train) == 0:
        raise InputError(f"data set too small to split: {len(y)} rows")
    mean = x[train].mean(axis=0)
    std = x[train].std(axis=0)
    std = np.where(std > 0, std, 1.0).astype(np.float32)

    def standardize(rows: np.ndarray) -> np.ndarray:
        return ((x[rows] - mean) / std).astype(np.float32)

    digest = hashlib.sha256(x.tobytes() + y.tobytes() + json.dumps(classes).encode())
    return Dataset(
        standardize(train), y[train], standardize(val), y[val], standardize(test), y[test],
        mean.astype(np.float32), std, classes, digest.hexdigest(),
    )


# --------------------------------------------------------------------------
# 4. Files: atomic writes, checkpoints, export, plot
# --------------------------------------------------------------------------


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` via a temporary file in the same directory and ``os.replace``.

    Readers see the old file or the complete new one, never a mix; if
    ``write`` fails the old file is untouched and the temporary file removed.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (POSIX)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, lambda f: f.write((json.dumps(obj, indent=2) + "\n").encode()))


def write_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    """Rewrite ``metrics.jsonl`` atomically: one JSON object per epoch."""
    text = "".join(json.dumps(row) + "\n" for row in history)
    atomic_write(path, lambda f: f.write(text.encode()))


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


@dataclasses.dataclass
class TrainState:
    """Everything a resumed run needs to continue bit for bit."""

    params: Params
    opt_state: optax.OptState
    data_key: jax.Array  # epoch e's data order is permutation(fold_in(data_key, e))
    epoch: int  # completed epochs
    step: int  # completed steps
    history: list[dict[str, Any]]  # metrics rows of the completed epochs


def save_checkpoint(
    path: Path, state: TrainState, config: dict[str, Any], data: Dataset
) -> None:
    """Write the checkpoint atomically as one uncompressed ``.npz``.

    Arrays: ``header`` (UTF-8 JSON as uint8: format, version, model and run
    configuration, epoch, step, metrics history), ``data_key``, ``x_mean``,
    ``x_std``, the flattened leaves ``param_NNNN`` and ``opt_NNNN``, and
    ``sha256``: a digest of all the others, so that any damage is detected.
    """
    param_leaves = jax.tree_util.tree_leaves(state.params)
    opt_leaves = jax.tree_util.tree_leaves(state.opt_state)
    header = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": config,
        "classes": data.classes,
        "epoch": state.epoch,
        "step": state.step,
        "history": state.history,
        "num_param_leaves": len(param_leaves),
        "num_opt_leaves": len(opt_leaves),
        "jelu_version": jelu.__version__,
        "jax_version": jax.__version__,
    }
    arrays = {
        "header": np.frombuffer(json.dumps(header).encode(), np.uint8),
        "data_key": np.asarray(jax.random.key_data(state.data_key)),
        "x_mean": data.mean,
        "x_std": data.std,
    }
    arrays |= {f"param_{i:04d}": np.asarray(a) for i, a in enumerate(param_leaves)}
    arrays |= {f"opt_{i:04d}": np.asarray(a) for i, a in enumerate(opt_leaves)}
    arrays["sha256"] = _digest(arrays)
    atomic_write(path, lambda f: np.savez(f, **arrays))


def _digest(arrays: dict[str, np.ndarray]) -> np.ndarray:
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

    Raises :class:`InputError` if the file is missing, corrupt or not ours.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        if not np.array_equal(arrays.get("sha256"), _digest(arrays)):
            raise ValueError("checksum mismatch")
        del arrays["sha256"]
        header = json.loads(arrays.pop("header").tobytes().decode())
    except FileNotFoundError:
        raise InputError(f"no checkpoint to resume from at {path}") from None
    except (OSError, ValueError, KeyError, EOFError, AttributeError, TypeError,
            UnicodeDecodeError, zipfile.BadZipFile) as e:
        raise InputError(f"checkpoint {path} is corrupt or unreadable: {_one_line(e)}") from None
    if not isinstance(header, dict) or header.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{path} is not a {CHECKPOINT_FORMAT} file")
    if header.get("version") != CHECKPOINT_VERSION:
        raise InputError(
            f"checkpoint {path} has format version {header.get('version')!r}; "
            f"this trainer reads version {CHECKPOINT_VERSION}"
        )
    return header, arrays


def _unflatten(
    path: Path, like: Any, arrays: dict[str, np.ndarray], prefix: str, count: Any
) -> Any:
    """Rebuild the pytree shaped like ``like`` from ``prefix_NNNN`` arrays."""
    leaves, treedef = jax.tree_util.tree_flatten(like)
    names = sorted(n for n in arrays if n.startswith(prefix + "_"))
    if count != len(leaves) or len(names) != len(leaves):
        raise InputError(f"checkpoint {path} is corrupt: wrong number of {prefix} arrays")
    restored = []
    for i, leaf in enumerate(leaves):
        a = arrays.get(f"{prefix}_{i:04d}")
        if a is None or a.shape != leaf.shape or a.dtype != leaf.dtype:
            raise InputError(f"checkpoint {path} is corrupt: {prefix} array {i} does not fit")
        restored.append(a)
    return jax.tree_util.tree_unflatten(treedef, restored)


def load_params(path: Path | str) -> tuple[Params, dict[str, Any], np.ndarray, np.ndarray]:
    """Load (params, header, x_mean, x_std) from a checkpoint (no optimizer state)."""
    path = Path(path)
    header, arrays = read_checkpoint(path)
    like = _abstract_params(header["config"])
    params = _unflatten(path, like, arrays, "param", header["num_param_leaves"])
    return params, header, arrays["x_mean"], arrays["x_std"]


def _layer_sizes(config: dict[str, Any]) -> list[int]:
    return [config["input_dim"], *[config["width"]] * config["depth"], config["num_classes"]]


def _abstract_params(config: dict[str, Any]) -> Params:
    return jax.eval_shape(
        lambda k: init_params(
            k, _layer_sizes(config), init=config["init"], learn_alpha=config["learn_alpha"]
        ),
        jax.random.key(0),
    )


def restore_state(
    path: Path, config: dict[str, Any], optimizer: optax.GradientTransformation
) -> TrainState:
    """Load a checkpoint written with exactly this configuration.

    Raises :class:`InputError` if it is corrupt or from another configuration.
    """
    header, arrays = read_checkpoint(path)
    saved = header.get("config")
    if not isinstance(saved, dict):
        raise InputError(f"checkpoint {path} is corrupt: no configuration")
    differences = [
        f"{k} {saved.get(k)!r} (checkpoint) vs {config.get(k)!r} (now)"
        for k in sorted(set(saved) | set(config))
        if saved.get(k) != config.get(k)
    ]
    if differences:
        raise InputError(
            f"checkpoint {path} is from another configuration: {'; '.join(differences)}"
        )
    try:
        like_params = _abstract_params(config)
        params = _unflatten(path, like_params, arrays, "param", header["num_param_leaves"])
        like_opt = jax.eval_shape(optimizer.init, like_params)
        opt_state = _unflatten(path, like_opt, arrays, "opt", header["num_opt_leaves"])
        data_key = jax.random.wrap_key_data(arrays["data_key"])
        epoch, step, history = int(header["epoch"]), int(header["step"]), list(header["history"])
    except (KeyError, ValueError, TypeError) as e:
        raise InputError(f"checkpoint {path} is corrupt: {_one_line(e)}") from None
    return TrainState(params, opt_state, data_key, epoch, step, history)


def export_predict(params: Params, data: Dataset, activation: Activation) -> bytes:
    """Serialize ``x_raw -> logits`` (standardization included) with ``jax.export``.

    The batch dimension is symbolic; the artifact runs on cpu, cuda and tpu.
    Load it with ``jax.export.deserialize(blob).call(x)``.
    """
    host_params = jax.tree_util.tree_map(np.asarray, params)
    mean, std = data.mean, data.std

    def predict(x: jax.Array) -> jax.Array:
        return apply(host_params, (x - mean) / std, activation)

    shape = jax.export.symbolic_shape(f"batch, {data.x_train.shape[1]}")
    exported = jax.export.export(jax.jit(predict), platforms=EXPORT_PLATFORMS)(
        jax.ShapeDtypeStruct(shape, jnp.float32)
    )
    return bytes(exported.serialize())


def plot_curves(history: list[dict[str, Any]]) -> bytes:
    """PNG bytes of the train/validation loss and accuracy per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

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


# --------------------------------------------------------------------------
# 5. Command line
# --------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        _fail(message, 2)


def _fail(message: str, code: int) -> NoReturn:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(code)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Train an MLP with jelu activations (plain JAX + optax), data parallel "
        "over every device, with atomic checkpoints, --resume and jax.export.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data", default="digits",
                   help="'digits' (scikit-learn's bundled set), PATH.npz (arrays x [N, D] and "
                   "integer y [N]) or PATH.csv (numeric columns, last one the integer label, "
                   "optional header row)")
    p.add_argument("--activation", default="elu", choices=list(ACTIVATIONS),
                   help="elu/selu/celu are jelu's; relu is jax.nn.relu; jax-elu is jax.nn.elu")
    p.add_argument("--depth", type=int, default=2, help="number of hidden layers")
    p.add_argument("--width", type=int, default=128, help="units per hidden layer")
    p.add_argument("--epochs", type=int, default=25,
                   help="total epochs (with --resume: the total including those already done)")
    p.add_argument("--batch-size", type=int, default=64,
                   help="global batch size; must divide by the number of devices; the last "
                   "partial batch of each epoch is dropped")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    p.add_argument("--optimizer", default="adam", choices=OPTIMIZERS,
                   help="optax optimizer (momentum: sgd with momentum 0.9; adamw: weight "
                   "decay 1e-4)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the split, the initialization and the data order")
    p.add_argument("--learn-alpha", action="store_true",
                   help="learn a positive per-unit alpha (elu, celu, jax-elu)")
    p.add_argument("--out", default="runs/train",
                   help="output directory: metrics.jsonl, summary.json, checkpoint.npz, "
                   "curves.png")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.npz (same configuration required)")
    p.add_argument("--plot", action="store_true", help="write OUT/curves.png")
    p.add_argument("--export", metavar="PATH", default=None,
                   help="write the trained predict function (raw features -> logits), "
                   "serialized with jax.export for cpu, cuda and tpu")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def check_args(args: argparse.Namespace) -> None:
    """Range checks argparse cannot express. Raises :class:`InputError`."""
    for flag, value in (("--depth", args.depth), ("--width", args.width),
                        ("--epochs", args.epochs), ("--batch-size", args.batch_size)):
        if value <= 0:
            raise InputError(f"{flag} must be a positive integer, got {value}")
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise InputError(f"--lr must be a positive finite number, got {args.lr}")
    if not 0 <= args.seed < 2**32:
        raise InputError(f"--seed must be in [0, 2**32), got {args.seed}")
    if args.learn_alpha and not ACTIVATIONS[args.activation][1]:
        raise InputError(f"--learn-alpha needs elu, celu or jax-elu, not {args.activation}")


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
            with contextlib.suppress(OSError):
                p.rmdir()
        raise InputError(f"--out {out} cannot be written: {_one_line(e)}") from None


def check_export_path(path: Path, out: Path) -> None:
    """The export file's directory must exist already or be ``--out``."""
    if path.is_dir():
        raise InputError(f"--export {path} is a directory")
    parent = path.absolute().parent
    if not parent.is_dir() and parent != out.absolute():
        raise InputError(f"--export {path}: directory {parent} does not exist")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the trainer; return 0, or raise SystemExit(2) on bad input and
    SystemExit(1) when the loss diverges."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except InputError as e:
        _fail(str(e), 2)
    except TrainingDiverged as e:
        _fail(str(e), 1)


def run(args: argparse.Namespace) -> int:
    """Validate everything, then train, evaluate and write the outputs."""
    start = time.perf_counter()
    check_args(args)
    data = prepare_data(args.data, args.seed)
    n_train = len(data.y_train)
    if args.batch_size > n_train:
        raise InputError(
            f"--batch-size {args.batch_size} is larger than the training set ({n_train} rows)"
        )
    n_devices = jax.device_count()
    if args.batch_size % n_devices:
        raise InputError(
            f"--batch-size {args.batch_size} does not divide by the {n_devices} devices; "
            f"use a multiple of {n_devices}"
        )
    out = Path(args.out)
    check_output_dir(out)
    export_path = Path(args.export) if args.export else None
    if export_path is not None:
        check_export_path(export_path, out)

    activation = get_activation(args.activation)
    optimizer = make_optimizer(args.optimizer, args.lr)
    config = {
        "activation": args.activation,
        "depth": args.depth,
        "width": args.width,
        "init": init_for(args.activation),
        "learn_alpha": args.learn_alpha,
        "optimizer": args.optimizer,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "input_dim": int(data.x_train.shape[1]),
        "num_classes": len(data.classes),
        "data_sha256": data.sha256,
    }
    checkpoint = out / CHECKPOINT_NAME
    if args.resume:
        state = restore_state(checkpoint, config, optimizer)
        if state.epoch > args.epochs:
            raise InputError(
                f"checkpoint is at epoch {state.epoch}, beyond --epochs {args.epochs}"
            )
    else:
        init_key, data_key = jax.random.split(jax.random.key(args.seed))
        params = init_params(
            init_key, _layer_sizes(config), init=config["init"], learn_alpha=args.learn_alpha
        )
        state = TrainState(params, optimizer.init(params), data_key, 0, 0, [])
    create_output_dir(out)  # the first write: every input check has passed

    mesh = make_mesh()
    replicated = NamedSharding(mesh, PartitionSpec())
    batch_sharding = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
    step_fn = make_train_step(activation, optimizer, mesh)
    eval_fn = make_evaluate(activation, mesh)
    params = to_global(state.params, replicated)
    opt_state = to_global(state.opt_state, replicated)
    val = to_global((data.x_val, data.y_val), replicated)
    steps_per_epoch = n_train // args.batch_size
    writer = jax.process_index() == 0  # on many hosts, only the first writes files

    from tqdm.auto import tqdm

    bar = tqdm(
        total=args.epochs * steps_per_epoch, initial=state.epoch * steps_per_epoch,
        unit="step", disable=args.no_progress or not writer, dynamic_ncols=True,
    )
    for epoch in range(state.epoch, args.epochs):
        bar.set_description(f"epoch {epoch + 1}/{args.epochs}")
        epoch_start = time.perf_counter()
        order = np.asarray(
            jax.random.permutation(jax.random.fold_in(state.data_key, epoch), n_train)
        )
        losses, accuracies = [], []
        for i in range(steps_per_epoch):
            rows = order[i * args.batch_size : (i + 1) * args.batch_size]
            xb, yb = to_global((data.x_train[rows], data.y_train[rows]), batch_sharding)
            params, opt_state, batch_loss, batch_acc = step_fn(params, opt_state, xb, yb)
            losses.append(batch_loss)
            accuracies.append(batch_acc)
            bar.update(1)
        train_loss = float(np.mean([float(v) for v in losses]))
        train_acc = float(np.mean([float(v) for v in accuracies]))
        val_loss, val_acc = (float(v) for v in eval_fn(params, *val))
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            bar.close()
            kept = f"epoch {state.epoch}" if state.epoch else "none"
            raise TrainingDiverged(
                f"loss became {train_loss if not math.isfinite(train_loss) else val_loss} in "
                f"epoch {epoch + 1}; stopped (try a smaller --lr); last good checkpoint: {kept}"
            )
        row = {
            "epoch": epoch + 1,
            "step": state.step + steps_per_epoch,
            "train_loss": train_loss,
            "train_accuracy": train_acc,
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "seconds": time.perf_counter() - epoch_start,
        }
        state = TrainState(
            jax.device_get(params), jax.device_get(opt_state), state.data_key,
            epoch + 1, row["step"], [*state.history, row],
        )
        if writer:
            save_checkpoint(checkpoint, state, config, data)
            write_metrics(out / METRICS_NAME, state.history)
        bar.set_postfix(loss=f"{train_loss:.4f}", acc=f"{train_acc:.3f}", val_acc=f"{val_acc:.3f}")
    bar.close()
    if args.resume and writer:
        write_metrics(out / METRICS_NAME, state.history)  # drop rows beyond the checkpoint

    test_loss, test_acc = (
        float(v) for v in eval_fn(params, *to_global((data.x_test, data.y_test), replicated))
    )
    last = state.history[-1]
    summary = {
        "test_accuracy": test_acc,
        "test_loss": test_loss,
        "train_loss": last["train_loss"],
        "train_accuracy": last["train_accuracy"],
        "val_accuracy": last["val_accuracy"],
        "steps": state.step,
        "epochs": state.epoch,
        "seconds": time.perf_counter() - start,
        "activation": args.activation,
        "devices": n_devices,
        "seed": args.seed,
        "learned_alpha": alpha_stats(state.params),
        "config": config,
        "classes": data.classes,
        "sizes": {"train": n_train, "val": len(data.y_val), "test": len(data.y_test)},
        "platform": jax.devices()[0].platform,
        "jelu_version": jelu.__version__,
        "jax_version": jax.__version__,
    }
    if writer:
        if args.plot:
            png = plot_curves(state.history)
            atomic_write(out / PLOT_NAME, lambda f: f.write(png))
        if export_path is not None:
            blob = export_predict(state.params, data, activation)
            atomic_write(export_path, lambda f: f.write(blob))
        summary["seconds"] = time.perf_counter() - start
        write_json(out / SUMMARY_NAME, summary)
        print(
            f"test_accuracy={test_acc:.4f} train_loss={summary['train_loss']:.4f} "
            f"steps={state.step} seconds={summary['seconds']:.1f} devices={n_devices} "
            f"activation={args.activation} out={out}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
