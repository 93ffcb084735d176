"""Reproduce the central claims of the ELU and SELU papers with jelu, on scikit-learn's digits.

E1 -- Clevert, Unterthiner & Hochreiter, "Fast and Accurate Deep Network Learning by
Exponential Linear Units (ELUs)", ICLR 2016, section 4.1 (learning behaviour, Figure 2):
8 hidden layers of 128 units, He-normal weights, plain SGD (learning rate 0.01, minibatch 64),
inputs scaled to [0, 1]; ELU (alpha 1) against ReLU and leaky ReLU (slope 0.1). Every seed
starts all three activations from the same initial weights and sees the same minibatch order
(paired seeds). Recorded after every epoch (epoch 0 = the initial weights): cross-entropy on the
full training set, cross-entropy on the validation set, and the "bias shift" statistic: the
median, over all hidden units of all hidden layers, of each unit's mean activation on a fixed
training subset.

E2 -- Klambauer, Unterthiner, Mayr & Hochreiter, "Self-Normalizing Neural Networks", NeurIPS
2017, Theorem 1: standardized inputs through an untrained 32-layer, 256-wide SELU network with
LeCun-normal weights and zero biases; the mean and variance (over units and samples) of the last
hidden layer's activations, per seed. Negative controls: ReLU with He init, ELU with LeCun init.

E3 -- the same paper, section "New Dropout Technique": the E2 SELU network (same weights) with
dropout after every hidden layer, alpha dropout (``jelu.alpha_dropout``) against ordinary
(inverted) dropout at several rates; the mean and variance of every hidden layer's output (after
dropout: what the next layer receives). Alpha dropout should keep them near (0, 1) at every depth;
ordinary dropout moves them to another fixed point.

Outputs under ``--out`` (default ``runs/paper_checks``), each written atomically:
``paper_checks.md`` (tables), ``paper_checks.json`` (every number, keyed ``"e1"``, ``"e2"`` and
``"e3"``), ``e1_learning_behaviour.png``, ``e2_self_normalization.png`` and
``e3_alpha_dropout.png`` (figures).

Run ``python examples/paper_checks.py --help`` for the flags. The network code (initialization,
forward pass, loss) is the tiny trainer's, ``examples/mlp.py``; the activations and ordinary
dropout are the full trainer's (``examples/loop.py``); the command-line and file helpers are
``examples/common.py``'s.

E1 in bfloat16: E1's ELU network, same seeds and initial weights, trained in bfloat16 (mixed
precision, ``mlp.forward(dtype=jnp.bfloat16)``) with jelu.elu and with jax.nn.elu, whose
derivative expm1(x) + 1 rounds to 0 below x = -6.25 in bfloat16 where jelu's is exp(x) > 0:
does that tail gradient change training? (``"e1_bf16"`` in the JSON.)
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jelu
from common import OneLineParser, positive_float, positive_int, write_bytes_atomic
import mlp
from loop import get_activation, init_params, inverted_dropout

Activation = Callable[..., jax.Array]
Params = dict[str, Any]

#: Validation share of the digits data set for E1 (a fixed, stratified split).
VAL_FRACTION = 0.2
#: Seed of the fixed train/validation split (independent of the training seeds).
SPLIT_SEED = 0
#: Number of output classes of the digits data set.
N_CLASSES = 10

#: E1 activations: name -> display label.
E1_ACTIVATIONS: dict[str, str] = {
    "elu": "ELU (alpha 1)",
    "relu": "ReLU",
    "leaky_relu": "leaky ReLU (0.1)",
}
#: E1 in bfloat16: name -> (activation, display label); both from the same initial weights.
E1_BF16_ACTIVATIONS: dict[str, tuple[Activation, str]] = {
    "jelu_elu": (jelu.elu, "jelu.elu, bfloat16"),
    "jax_nn_elu": (jax.nn.elu, "jax.nn.elu, bfloat16"),
}
#: E2 configurations: name -> (activation name, init, display label).
E2_CONFIGS: dict[str, tuple[str, str, str]] = {
    "selu_lecun": ("selu", "lecun", "SELU, LeCun init"),
    "relu_he": ("relu", "he", "ReLU, He init (control)"),
    "elu_lecun": ("elu", "lecun", "ELU, LeCun init (control)"),
}
#: E3 dropouts: name -> (f(key, x, rate), display label); "none" is the E2 network unchanged.
E3_KINDS: dict[str, tuple[Callable[..., jax.Array] | None, str]] = {
    "none": (None, "no dropout"),
    "alpha": (jelu.alpha_dropout, "alpha dropout"),
    "ordinary": (inverted_dropout, "ordinary (inverted) dropout"),
}


@dataclass(frozen=True)
class Config:
    """All settings of one run (recorded verbatim in the JSON output)."""

    seeds: int = 10
    epochs: int = 30
    lr: float = 0.01
    batch_size: int = 64
    e1_depth: int = 8
    e1_width: int = 128
    act_subset: int = 500
    e2_seeds: int = 20
    e2_depth: int = 32
    e2_width: int = 256
    e3_seeds: int = 10
    e3_rates: tuple[float, ...] = (0.05, 0.1, 0.2)


# --------------------------------------------------------------------------- data


def load_digits_e1() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The E1 data: digits pixels scaled to [0, 1] (divided by 16), fixed stratified split.

    Returns ``(x_train, y_train, x_val, y_val)`` as float32 / int32 numpy arrays.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    y = y.astype(np.int32)
    x_tr, x_val, y_tr, y_val = train_test_split(
        x, y, test_size=VAL_FRACTION, random_state=SPLIT_SEED, stratify=y
    )
    return x_tr, y_tr, x_val, y_val


def load_digits_e2() -> np.ndarray:
    """The E2 inputs: all 1797 digits, each pixel standardized to mean 0 and variance 1.

    Pixels that are constant over the data set (variance 0) cannot be standardized and are
    dropped, so that every input feature has exactly mean 0 and variance 1.
    """
    from sklearn.datasets import load_digits

    x, _ = load_digits(return_X_y=True)
    std = x.std(axis=0)
    keep = std > 0
    return ((x[:, keep] - x[:, keep].mean(axis=0)) / std[keep]).astype(np.float32)


# --------------------------------------------------------------------------- seeds and keys


def e1_keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """``(init_key, shuffle_key)`` of E1 seed ``seed``; shared by every activation (pairing)."""
    init_key, shuffle_key = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 1))
    return init_key, shuffle_key


def e2_key(seed: int) -> jax.Array:
    """Initialization key of E2 seed ``seed`` (the same for SELU and both controls)."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), 2)


def e3_key(seed: int) -> jax.Array:
    """Dropout key of E3 seed ``seed`` (alpha and ordinary dropout draw the same masks);
    hidden layer ``i`` uses ``fold_in(e3_key(seed), i)``."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), 3)


def params_fingerprint(params: Params) -> str:
    """A short SHA-256 of the layer weights and biases, to show which weights a run started from."""
    digest = hashlib.sha256()
    for layer in params["layers"]:
        for name in ("w", "b"):
            digest.update(np.ascontiguousarray(np.asarray(layer[name], dtype=np.float32)).tobytes())
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------- activations


def e1_activation(name: str) -> Activation:
    """The E1 activation called ``name``: jelu's ELU, ReLU, or leaky ReLU with slope 0.1."""
    if name == "leaky_relu":
        return lambda x, alpha=None: jax.nn.leaky_relu(x, negative_slope=0.1)
    return get_activation(name)


# --------------------------------------------------------------------------- E1


def loss(params: Params, x: jax.Array, y: jax.Array, activation: Activation,
         dtype: Any = jnp.float32) -> jax.Array:
    """Mean softmax cross-entropy (float32), the network computing in ``dtype``."""
    return mlp.cross_entropy(params, x, y, activation, dtype=dtype)[0]


def median_unit_activation(params: Params, x: jax.Array, activation: Activation,
                           dtype: Any = jnp.float32) -> jax.Array:
    """Median over all hidden units (all hidden layers pooled) of each unit's mean activation on x."""
    _, hidden = mlp.forward(params, x, activation, dtype=dtype)
    hidden = [h.astype(jnp.float32) for h in hidden]
    unit_means = jnp.concatenate([h.mean(axis=0) for h in hidden])
    return jnp.median(unit_means)


def make_e1_runner(activation: Activation, cfg: Config, n_train: int,
                   dtype: Any = jnp.float32) -> Callable[..., Any]:
    """A jitted function training all seeds at once with plain SGD for ``cfg.epochs`` epochs.

    The returned function takes ``(params, shuffle_keys, x_tr, y_tr, x_val, y_val, x_sub)``,
    where ``params`` and ``shuffle_keys`` carry a leading seed axis, and returns three arrays of
    shape ``(seeds, epochs + 1)``: training loss, validation loss, median unit activation, with
    column 0 measured at the initial weights. Each epoch visits a fresh permutation of the
    training set in ``n_train // batch_size`` full minibatches (the remainder is dropped).
    """
    steps = n_train // cfg.batch_size
    lr = cfg.lr

    def metrics(params: Params, x_tr, y_tr, x_val, y_val, x_sub) -> jax.Array:
        return jnp.stack(
            [
                loss(params, x_tr, y_tr, activation, dtype),
                loss(params, x_val, y_val, activation, dtype),
                median_unit_activation(params, x_sub, activation, dtype),
            ]
        )

    def train_one_seed(params: Params, shuffle_key, x_tr, y_tr, x_val, y_val, x_sub):
        grad_fn = jax.grad(lambda p, xb, yb: loss(p, xb, yb, activation, dtype))

        def sgd_step(p: Params, batch_idx: jax.Array) -> tuple[Params, None]:
            g = grad_fn(p, x_tr[batch_idx], y_tr[batch_idx])
            return jax.tree_util.tree_map(lambda w, dw: w - lr * dw, p, g), None

        def epoch(p: Params, epoch_index: jax.Array) -> tuple[Params, jax.Array]:
            order = jax.random.permutation(jax.random.fold_in(shuffle_key, epoch_index), n_train)
            batches = order[: steps * cfg.batch_size].reshape(steps, cfg.batch_size)
            p, _ = jax.lax.scan(sgd_step, p, batches)
            return p, metrics(p, x_tr, y_tr, x_val, y_val, x_sub)

        initial = metrics(params, x_tr, y_tr, x_val, y_val, x_sub)
        _, per_epoch = jax.lax.scan(epoch, params, jnp.arange(cfg.epochs))
        return jnp.concatenate([initial[None, :], per_epoch], axis=0).T  # (3, epochs + 1)

    batched = jax.vmap(train_one_seed, in_axes=(0, 0, None, None, None, None, None))
    return jax.jit(batched)


def stack_trees(trees: Sequence[Params]) -> Params:
    """Stack a list of identically shaped pytrees along a new leading (seed) axis."""
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *trees)


def run_e1(cfg: Config, log: Callable[[str], None]) -> dict[str, Any]:
    """Run E1 for every activation over seeds ``0 .. cfg.seeds - 1``; return the JSON-ready record."""
    x_tr, y_tr, x_val, y_val = load_digits_e1()
    sizes = [x_tr.shape[1]] + [cfg.e1_width] * cfg.e1_depth + [N_CLASSES]
    keys = [e1_keys(s) for s in range(cfg.seeds)]
    initial = [init_params(k_init, sizes, init="he") for k_init, _ in keys]
    fingerprints = [params_fingerprint(p) for p in initial]
    params = stack_trees(initial)  # one set of initial weights per seed, reused by every activation
    shuffle_keys = jnp.stack([k_shuffle for _, k_shuffle in keys])
    x_sub = x_tr[: cfg.act_subset]

    record: dict[str, Any] = {}
    for name in E1_ACTIVATIONS:
        start = time.perf_counter()
        runner = make_e1_runner(e1_activation(name), cfg, n_train=len(x_tr))
        out = np.asarray(runner(params, shuffle_keys, x_tr, y_tr, x_val, y_val, x_sub), np.float64)
        log(f"E1 {name}: {time.perf_counter() - start:.1f} s")
        record[name] = {
            "train_loss": out[:, 0, :].tolist(),
            "val_loss": out[:, 1, :].tolist(),
            "median_activation": out[:, 2, :].tolist(),
            "init_fingerprint": list(fingerprints),
        }
    for name, (activation, _) in E1_BF16_ACTIVATIONS.items():
        start = time.perf_counter()
        runner = make_e1_runner(activation, cfg, n_train=len(x_tr), dtype=jnp.bfloat16)
        out = np.asarray(runner(params, shuffle_keys, x_tr, y_tr, x_val, y_val, x_sub), np.float64)
        log(f"E1 bfloat16 {name}: {time.perf_counter() - start:.1f} s")
        record.setdefault("bfloat16", {})[name] = {
            "train_loss": out[:, 0, :].tolist(),
            "val_loss": out[:, 1, :].tolist(),
            "median_activation": out[:, 2, :].tolist(),
            "init_fingerprint": list(fingerprints),
        }
    return record


# --------------------------------------------------------------------------- E2


def make_e2_stats(activation: Activation) -> Callable[[Params, jax.Array], tuple[jax.Array, jax.Array]]:
    """A jitted function: (params, x) -> (mean, variance) of every hidden layer over units and samples."""

    def stats(params: Params, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        _, hidden = mlp.forward(params, x, activation)
        means = jnp.stack([h.mean() for h in hidden])
        variances = jnp.stack([h.var() for h in hidden])
        return means, variances

    return jax.jit(stats)


def run_e2(cfg: Config, log: Callable[[str], None]) -> dict[str, Any]:
    """Run E2 for SELU and both controls over seeds ``0 .. cfg.e2_seeds - 1``."""
    x = jnp.asarray(load_digits_e2())
    sizes = [x.shape[1]] + [cfg.e2_width] * cfg.e2_depth + [N_CLASSES]
    record: dict[str, Any] = {}
    for name, (act_name, init, _) in E2_CONFIGS.items():
        start = time.perf_counter()
        stats = make_e2_stats(get_activation(act_name))
        layer_means, layer_vars = [], []
        for seed in range(cfg.e2_seeds):
            m, v = stats(init_params(e2_key(seed), sizes, init=init), x)
            layer_means.append(np.asarray(m, np.float64))
            layer_vars.append(np.asarray(v, np.float64))
        log(f"E2 {name}: {time.perf_counter() - start:.1f} s")
        record[name] = {
            "mean": [float(m[-1]) for m in layer_means],
            "var": [float(v[-1]) for v in layer_vars],
            "layer_mean": [m.tolist() for m in layer_means],
            "layer_var": [v.tolist() for v in layer_vars],
        }
    return record


# --------------------------------------------------------------------------- E3


def make_e3_stats(dropout: Callable[..., jax.Array] | None) -> Callable[..., tuple[jax.Array, jax.Array]]:
    """A jitted function: (params, x, keys), params and keys with a leading seed axis ->
    (mean, variance) of every hidden layer's output after dropout, shape (seeds, depth)."""
    selu = get_activation("selu")

    def stats(params: Params, x: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        _, hidden = mlp.forward(params, x, selu, dropout=dropout, key=key)
        return jnp.stack([h.mean() for h in hidden]), jnp.stack([h.var() for h in hidden])

    return jax.jit(jax.vmap(stats, in_axes=(0, None, 0)))


def run_e3(cfg: Config, log: Callable[[str], None]) -> dict[str, Any]:
    """Run E3 over seeds ``0 .. cfg.e3_seeds - 1`` (E2's weights for those seeds) and every rate."""
    x = jnp.asarray(load_digits_e2())
    sizes = [x.shape[1]] + [cfg.e2_width] * cfg.e2_depth + [N_CLASSES]
    params = stack_trees([init_params(e2_key(s), sizes, init="lecun") for s in range(cfg.e3_seeds)])
    keys = jnp.stack([e3_key(s) for s in range(cfg.e3_seeds)])
    record: dict[str, Any] = {"rates": list(cfg.e3_rates)}
    for kind, (fn, _) in E3_KINDS.items():
        start = time.perf_counter()
        entries = []
        for rate in ([None] if fn is None else cfg.e3_rates):
            drop = None if fn is None or rate == 0 else partial(fn, rate=rate)
            means, variances = (np.asarray(a, np.float64) for a in make_e3_stats(drop)(params, x, keys))
            entries.append({
                "mean": means[:, -1].tolist(), "var": variances[:, -1].tolist(),
                "layer_mean": means.tolist(), "layer_var": variances.tolist(),
            })
        log(f"E3 {kind}: {time.perf_counter() - start:.1f} s")
        record[kind] = entries[0] if fn is None else entries
    return record


# --------------------------------------------------------------------------- tables


def report_epochs(n_epochs: int) -> list[int]:
    """Epochs shown in the E1 median table: all of them up to 25, else a readable selection."""
    if n_epochs <= 25:
        return list(range(n_epochs + 1))
    picks = {0, 1, 2, 3, 5, n_epochs} | set(range(10, n_epochs + 1, 5))
    return sorted(picks)


def _fmt(value: float, digits: int = 4) -> str:
    return "nan" if not math.isfinite(value) else f"{value:.{digits}f}"


def e1_tables(e1: dict[str, Any], n_seeds: int) -> str:
    """Markdown for E1: medians over seeds, then per-epoch seed counts of ELU beating the others."""
    names = list(E1_ACTIVATIONS)
    keys = ("train_loss", "val_loss", "median_activation")
    arr = {n: {k: np.asarray(e1[n][k]) for k in keys} for n in names}
    n_epochs = arr[names[0]]["train_loss"].shape[1] - 1
    lines = [
        "### Medians over seeds",
        "",
        "| epoch | " + " | ".join(f"train CE {n}" for n in names) + " | "
        + " | ".join(f"val CE {n}" for n in names) + " | "
        + " | ".join(f"median act. {n}" for n in names) + " |",
        "|" + "---:|" * (1 + 3 * len(names)),
    ]
    for ep in report_epochs(n_epochs):
        cells = [str(ep)]
        for key in ("train_loss", "val_loss", "median_activation"):
            cells += [_fmt(float(np.median(arr[n][key][:, ep]))) for n in names]
        lines.append("| " + " | ".join(cells) + " |")

    others = [n for n in names if n != "elu"]
    lines += [
        "",
        f"### Per-seed counts: in how many of the {n_seeds} seeds ELU's loss is below the other's",
        "",
        "| epoch | " + " | ".join(f"train: ELU < {n}" for n in others) + " | "
        + " | ".join(f"val: ELU < {n}" for n in others) + " |",
        "|" + "---:|" * (1 + 2 * len(others)),
    ]
    for ep in range(n_epochs + 1):
        cells = [str(ep)]
        for key in ("train_loss", "val_loss"):
            cells += [
                f"{int(np.sum(arr['elu'][key][:, ep] < arr[n][key][:, ep]))}/{n_seeds}" for n in others
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def e1_summary(e1: dict[str, Any], n_seeds: int) -> list[str]:
    """Plain sentences: at which epochs (1..E) ELU's training loss is below ReLU's / leaky ReLU's."""
    out = []
    elu = np.asarray(e1["elu"]["train_loss"])
    for other in (n for n in E1_ACTIVATIONS if n != "elu"):
        below = np.sum(elu[:, 1:] < np.asarray(e1[other]["train_loss"])[:, 1:], axis=0)
        n_epochs = len(below)
        every = [ep + 1 for ep, c in enumerate(below) if c == n_seeds]
        most = [ep + 1 for ep, c in enumerate(below) if c > n_seeds / 2]
        out.append(
            f"- ELU's training loss is below {other}'s in all {n_seeds} seeds at {len(every)} of "
            f"{n_epochs} epochs ({format_ranges(every)}), and in a majority of seeds at {len(most)} of "
            f"{n_epochs} epochs ({format_ranges(most)})."
        )
    return out


def e1_bf16_table(e1_bf16: dict[str, Any], n_epochs: int) -> str:
    """Markdown: median training and validation loss over seeds, per reported epoch."""
    names = list(E1_BF16_ACTIVATIONS)
    labels = [E1_BF16_ACTIVATIONS[n][1] for n in names]
    lines = ["| epoch | " + " | ".join(f"train CE {l}" for l in labels) + " | "
             + " | ".join(f"val CE {l}" for l in labels) + " |", "|" + "---:|" * (1 + 2 * len(names))]
    for ep in report_epochs(n_epochs):
        cells = [str(ep)]
        for key in ("train_loss", "val_loss"):
            cells += [_fmt(float(np.median(np.asarray(e1_bf16[n][key])[:, ep]))) for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def e1_bf16_summary(e1_bf16: dict[str, Any], n_seeds: int) -> list[str]:
    """Plain sentences: how far apart the two bfloat16 runs end, and which is lower how often."""
    ours, theirs = (np.asarray(e1_bf16[n]["train_loss"]) for n in E1_BF16_ACTIVATIONS)
    val_ours, val_theirs = (np.asarray(e1_bf16[n]["val_loss"]) for n in E1_BF16_ACTIVATIONS)
    below = int(np.sum(ours[:, -1] < theirs[:, -1]))
    rel = np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-30)
    return [
        f"- Final training loss, median over seeds: {_fmt(float(np.median(ours[:, -1])))} (jelu.elu) "
        f"vs {_fmt(float(np.median(theirs[:, -1])))} (jax.nn.elu); jelu.elu's is lower in {below} "
        f"of {n_seeds} seeds. Final validation loss: {_fmt(float(np.median(val_ours[:, -1])))} vs "
        f"{_fmt(float(np.median(val_theirs[:, -1])))}.",
        f"- Largest relative difference of the training-loss curves over all seeds and epochs: "
        f"{float(rel.max()):.3g}; identical curves: {int(np.sum(np.all(ours == theirs, axis=1)))} "
        f"of {n_seeds} seeds.",
    ]


def format_ranges(epochs: list[int]) -> str:
    """Compress a sorted list of integers into '1-5, 8, 10-12' ('none' when empty)."""
    if not epochs:
        return "none"
    parts, start, prev = [], epochs[0], epochs[0]
    for e in epochs[1:] + [None]:  # type: ignore[list-item]
        if e is not None and e == prev + 1:
            prev = e
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if e is not None:
            start = prev = e
    return ", ".join(parts)


def e2_table(e2: dict[str, Any]) -> str:
    """Markdown for E2: final-layer mean and variance per seed, per configuration, plus medians."""
    names = list(E2_CONFIGS)
    n_seeds = len(e2[names[0]]["mean"])
    lines = [
        "| seed | " + " | ".join(f"{n} mean | {n} var" for n in names) + " |",
        "|" + "---:|" * (1 + 2 * len(names)),
    ]
    for s in range(n_seeds):
        cells = [str(s)] + [f"{_fmt(e2[n]['mean'][s])} | {_fmt(e2[n]['var'][s])}" for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    cells = ["**median**"] + [
        f"**{_fmt(float(np.median(e2[n]['mean'])))}** | **{_fmt(float(np.median(e2[n]['var'])))}**"
        for n in names
    ]
    lines.append("| " + " | ".join(cells) + " |")
    cells = ["min..max"] + [
        f"{_fmt(min(e2[n]['mean']))}..{_fmt(max(e2[n]['mean']))} | "
        f"{_fmt(min(e2[n]['var']))}..{_fmt(max(e2[n]['var']))}"
        for n in names
    ]
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def e3_rows(e3: dict[str, Any]) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(rate, kind, median mean per layer, median variance per layer), medians over seeds."""
    rows = [("0", "none", np.median(e3["none"]["layer_mean"], axis=0),
             np.median(e3["none"]["layer_var"], axis=0))]
    for i, rate in enumerate(e3["rates"]):
        for kind in ("alpha", "ordinary"):
            entry = e3[kind][i]
            rows.append((f"{rate:g}", kind, np.median(entry["layer_mean"], axis=0),
                         np.median(entry["layer_var"], axis=0)))
    return rows


def e3_table(e3: dict[str, Any]) -> str:
    """Markdown for E3: per rate and dropout, the medians over seeds at the last layer and their
    extremes over all layers."""
    depth = len(e3["none"]["layer_mean"][0])
    lines = [
        f"| rate | dropout | mean at layer {depth} | variance at layer {depth} | "
        f"largest \\|mean\\| over layers 1-{depth} | variance over layers 1-{depth} |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for rate, kind, m, v in e3_rows(e3):
        lines.append(f"| {rate} | {E3_KINDS[kind][1]} | {_fmt(float(m[-1]))} | {_fmt(float(v[-1]))} | "
                     f"{_fmt(float(np.abs(m).max()))} | {_fmt(float(v.min()))}..{_fmt(float(v.max()))} |")
    return "\n".join(lines)


def e3_summary(e3: dict[str, Any]) -> list[str]:
    """Plain sentences: where alpha dropout keeps (0, 1) and where ordinary dropout ends."""
    rows = e3_rows(e3)
    alpha = [r for r in rows if r[1] == "alpha"]
    ordinary = [r for r in rows if r[1] == "ordinary"]
    depth = len(rows[0][2])
    out = []
    if alpha:
        worst_m = max(float(np.abs(m).max()) for _, _, m, _ in alpha)
        worst_v = max(float(np.abs(v - 1).max()) for _, _, _, v in alpha)
        out.append(f"- Alpha dropout, every rate ({', '.join(r[0] for r in alpha)}): at every layer 1-{depth} "
                   f"the median mean is within {worst_m:.4f} of 0 and the median variance within "
                   f"{worst_v:.4f} of 1.")
    for rate, _, m, v in ordinary:
        out.append(f"- Ordinary dropout, rate {rate}: at layer {depth} mean {_fmt(float(m[-1]))} and variance "
                   f"{_fmt(float(v[-1]))}; the largest |mean| over the layers is {_fmt(float(np.abs(m).max()))}.")
    return out


def render_markdown(cfg: Config, e1: dict[str, Any], e2: dict[str, Any], meta: dict[str, Any],
                    e3: dict[str, Any] | None = None, e1_bf16: dict[str, Any] | None = None) -> str:
    """The whole ``paper_checks.md``."""
    return "\n".join(
        [
            "# Paper checks: ELU (Clevert et al. 2016) and SELU (Klambauer et al. 2017) with jelu",
            "",
            f"jelu {meta['jelu_version']}, jax {meta['jax_version']}, backend {meta['backend']}; "
            f"wall time {meta['wall_s']:.0f} s (E1 {meta['e1_wall_s']:.0f} s, E2 {meta['e2_wall_s']:.0f} s, "
            f"E3 {meta.get('e3_wall_s', 0):.0f} s). `python examples/paper_checks.py` writes this file.",
            f"Settings: `{json.dumps(asdict(cfg))}`",
            "",
            "## E1: learning behaviour (ELU paper, section 4.1, Figure 2)",
            "",
            f"Digits (pixels / 16, so in [0, 1]), fixed stratified split: {meta['n_train']} training, "
            f"{meta['n_val']} validation images. {cfg.e1_depth} hidden layers x {cfg.e1_width} units, "
            f"He-normal weights, zero biases, plain SGD, learning rate {cfg.lr}, minibatch "
            f"{cfg.batch_size} ({meta['n_train'] // cfg.batch_size} steps per epoch), {cfg.epochs} "
            f"epochs, seeds 0..{cfg.seeds - 1}. Each seed starts ELU, ReLU and leaky ReLU (0.1) from "
            "the same initial weights and feeds them the same minibatch order. Epoch 0 is the initial "
            "network. CE = mean cross-entropy on the full training / validation set. \"median act.\" = "
            "median over all hidden units of all hidden layers (pooled) of each unit's mean activation "
            f"on a fixed subset (the first {cfg.act_subset} training images).",
            "",
            "![E1](e1_learning_behaviour.png)",
            "",
            *e1_summary(e1, cfg.seeds),
            "",
            e1_tables(e1, cfg.seeds),
            "",
            *([] if e1_bf16 is None else [
                "### E1 in bfloat16: jelu.elu against jax.nn.elu",
                "",
                "The ELU network above, the same seeds, initial weights and minibatch order, trained "
                "in bfloat16 (mixed precision: float32 weights cast once per step, products and "
                "activations in bfloat16, float32 loss). jax.nn.elu's derivative expm1(x) + 1 is 0 "
                "below x = -6.25 in bfloat16; jelu.elu's is exp(x), correctly rounded.",
                "",
                *e1_bf16_summary(e1_bf16, cfg.seeds),
                "",
                e1_bf16_table(e1_bf16, cfg.epochs),
                "",
            ]),
            "## E2: self-normalization (SELU paper, Theorem 1)",
            "",
            f"All {meta['n_e2']} digits, each pixel standardized to mean 0, variance 1 (constant pixels "
            f"dropped: {meta['e2_in']} inputs). Untrained {cfg.e2_depth} hidden layers x {cfg.e2_width} "
            f"units, zero biases, seeds 0..{cfg.e2_seeds - 1}. Mean and variance of the last hidden "
            "layer's activations, over all units and samples. Theorem 1's fixed point is mean 0, "
            "variance 1.",
            "",
            "![E2](e2_self_normalization.png)",
            "",
            e2_table(e2),
            "",
            *([] if e3 is None else [
                "## E3: alpha dropout (SELU paper, section \"New Dropout Technique\")",
                "",
                f"E2's SELU network (the same data, {cfg.e2_depth} hidden layers x {cfg.e2_width} units, "
                f"LeCun-normal weights of seeds 0..{cfg.e3_seeds - 1}) with dropout after every hidden "
                "layer: alpha dropout (`jelu.alpha_dropout`: a dropped unit set to -lambda alpha, then "
                "a x + b) against ordinary inverted dropout (a dropped unit set to 0, the kept ones "
                "scaled by 1 / (1 - rate)), each seed and layer drawing the same masks for both. Mean "
                "and variance, over all units and samples, of each hidden layer's output after dropout "
                "(what the next layer receives); medians over seeds.",
                "",
                "![E3](e3_alpha_dropout.png)",
                "",
                *e3_summary(e3),
                "",
                e3_table(e3),
                "",
            ]),
        ]
    )


# --------------------------------------------------------------------------- figures


def _band(ax: Any, x: np.ndarray, runs: np.ndarray, label: str | None, color: str, style: str = "-") -> None:
    """Median across seeds as a line, min..max across seeds as a shaded band."""
    ax.plot(x, np.median(runs, axis=0), style, color=color, label=label)
    ax.fill_between(x, runs.min(axis=0), runs.max(axis=0), color=color, alpha=0.15, linewidth=0)


def figure_e1(e1: dict[str, Any], cfg: Config) -> bytes:
    """The ELU paper's Figure 2 layout: (a) median unit activation, (b) train/val cross-entropy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = dict(zip(E1_ACTIVATIONS, ("tab:blue", "tab:red", "tab:green")))
    for name, label in E1_ACTIVATIONS.items():
        act = np.asarray(e1[name]["median_activation"])
        epochs = np.arange(act.shape[1])
        _band(ax_a, epochs, act, label, colors[name])
        _band(ax_b, epochs, np.asarray(e1[name]["train_loss"]), f"{label}, train", colors[name])
        _band(ax_b, epochs, np.asarray(e1[name]["val_loss"]), f"{label}, validation", colors[name], ":")
    ax_a.set(xlabel="epoch", ylabel="median of the units' mean activation", title="(a) bias shift")
    ax_b.set(xlabel="epoch", ylabel="cross-entropy", yscale="log", title="(b) training / validation loss")
    for ax in (ax_a, ax_b):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"E1, digits, {cfg.e1_depth}x{cfg.e1_width}, SGD lr {cfg.lr}, {cfg.seeds} seeds: "
        "line = median over seeds, band = min..max over seeds",
        fontsize=10,
    )
    fig.tight_layout()
    return _png(fig)


def figure_e2(e2: dict[str, Any], cfg: Config) -> bytes:
    """Mean and variance of each hidden layer's activations against depth, per configuration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_m, ax_v) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = dict(zip(E2_CONFIGS, ("tab:blue", "tab:red", "tab:green")))
    for name, (_, _, label) in E2_CONFIGS.items():
        means, variances = np.asarray(e2[name]["layer_mean"]), np.asarray(e2[name]["layer_var"])
        layers = np.arange(1, means.shape[1] + 1)
        _band(ax_m, layers, means, label, colors[name])
        _band(ax_v, layers, variances, label, colors[name])
    ax_m.axhline(0.0, color="0.3", lw=0.8, ls="--", zorder=0)  # Theorem 1's fixed point
    ax_v.axhline(1.0, color="0.3", lw=0.8, ls="--", zorder=0)
    ax_m.set(xlabel="hidden layer", ylabel="mean over units and samples", title="(a) mean")
    ax_v.set(
        xlabel="hidden layer", ylabel="variance over units and samples", title="(b) variance", yscale="log"
    )
    for ax in (ax_m, ax_v):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"E2, untrained {cfg.e2_depth}x{cfg.e2_width}, standardized digits, {cfg.e2_seeds} seeds: "
        "line = median over seeds, band = min..max",
        fontsize=10,
    )
    fig.tight_layout()
    return _png(fig)


def figure_e3(e3: dict[str, Any], cfg: Config) -> bytes:
    """Mean and variance of each hidden layer's output against depth: alpha dropout (solid) and
    ordinary dropout (dashed) per rate, no dropout in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_m, ax_v) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = ("tab:blue", "tab:red", "tab:green", "tab:purple", "tab:orange", "tab:brown")
    curves = [(np.asarray(e3["none"]["layer_mean"]), np.asarray(e3["none"]["layer_var"]), "no dropout",
               "0.4", "-")]
    for i, rate in enumerate(e3["rates"]):
        for kind, style in (("alpha", "-"), ("ordinary", "--")):
            entry = e3[kind][i]
            curves.append((np.asarray(entry["layer_mean"]), np.asarray(entry["layer_var"]),
                           f"{E3_KINDS[kind][1]}, rate {rate:g}", colors[i % len(colors)], style))
    for means, variances, label, color, style in curves:
        layers = np.arange(1, means.shape[1] + 1)
        _band(ax_m, layers, means, label, color, style)
        _band(ax_v, layers, variances, label, color, style)
    ax_m.axhline(0.0, color="0.3", lw=0.8, ls=":", zorder=0)
    ax_v.axhline(1.0, color="0.3", lw=0.8, ls=":", zorder=0)
    ax_m.set(xlabel="hidden layer", ylabel="mean over units and samples", title="(a) mean")
    ax_v.set(xlabel="hidden layer", ylabel="variance over units and samples", title="(b) variance")
    for ax in (ax_m, ax_v):
        ax.grid(alpha=0.3)
    ax_v.legend(fontsize=7, ncol=1)
    fig.suptitle(
        f"E3, untrained SELU {cfg.e2_depth}x{cfg.e2_width}, dropout after every hidden layer, "
        f"{cfg.e3_seeds} seeds: line = median over seeds, band = min..max",
        fontsize=10,
    )
    fig.tight_layout()
    return _png(fig)


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()


# --------------------------------------------------------------------------- output


def _json_safe(value: Any) -> Any:
    """Replace non-finite floats by None so that the JSON is strict."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


# --------------------------------------------------------------------------- CLI


def rates(text: str) -> tuple[float, ...]:
    """argparse type: comma-separated dropout rates, each in (0, 1)."""
    try:
        values = tuple(float(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated rates in (0, 1), got {text!r}") from None
    if not all(0 < v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated rates in (0, 1), got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    d = Config()
    p = OneLineParser(
        prog="paper_checks.py",
        description="Reproduce the ELU paper's learning-behaviour experiment (E1), the SELU paper's "
        "Theorem 1 (E2) and its alpha dropout (E3) with jelu on scikit-learn's digits; write tables, "
        "figures and JSON to --out.",
    )
    p.add_argument("--out", default="runs/paper_checks", help="output directory (default: %(default)s)")
    flags: list[tuple[str, Any, Any, str]] = [
        ("--seeds", positive_int, d.seeds, "E1: number of paired seeds, 0..N-1"),
        ("--epochs", positive_int, d.epochs, "E1: training epochs"),
        ("--lr", positive_float, d.lr, "E1: SGD learning rate"),
        ("--batch-size", positive_int, d.batch_size, "E1: minibatch size"),
        ("--e1-depth", positive_int, d.e1_depth, "E1: hidden layers"),
        ("--e1-width", positive_int, d.e1_width, "E1: units per hidden layer"),
        ("--act-subset", positive_int, d.act_subset, "E1: training images for the mean unit activations"),
        ("--e2-seeds", positive_int, d.e2_seeds, "E2: number of seeds, 0..N-1"),
        ("--e2-depth", positive_int, d.e2_depth, "E2: hidden layers"),
        ("--e2-width", positive_int, d.e2_width, "E2: units per hidden layer"),
        ("--e3-seeds", positive_int, d.e3_seeds, "E3: number of seeds, 0..N-1"),
    ]
    for flag, kind, default, text in flags:
        p.add_argument(flag, type=kind, default=default, help=f"{text} (default: %(default)s)")
    p.add_argument("--e3-rates", type=rates, default=d.e3_rates, metavar="R[,R...]",
                   help="E3: dropout rates, comma-separated, each in (0, 1) (default: "
                   f"{','.join(f'{r:g}' for r in d.e3_rates)})")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


def parse_config(argv: Sequence[str] | None) -> tuple[Config, Path, bool]:
    """Parse and validate the command line; exits with status 2 and one line on bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    n_train = 1797 - math.ceil(1797 * VAL_FRACTION)  # sklearn's split sets ceil(0.2 * 1797) = 360 aside
    if args.batch_size > n_train:
        parser.error(f"--batch-size must be at most the {n_train} training images, got {args.batch_size}")
    if args.act_subset > n_train:
        parser.error(f"--act-subset must be at most the {n_train} training images, got {args.act_subset}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        parser.error(f"--out {str(out)!r} exists and is not a directory")
    cfg = Config(
        seeds=args.seeds, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
        e1_depth=args.e1_depth, e1_width=args.e1_width, act_subset=args.act_subset,
        e2_seeds=args.e2_seeds, e2_depth=args.e2_depth, e2_width=args.e2_width,
        e3_seeds=args.e3_seeds, e3_rates=args.e3_rates,
    )
    return cfg, out, args.quiet


def run(cfg: Config, out: Path, log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Run the three experiments and write every output file under ``out``; return the JSON record."""
    start = time.perf_counter()
    e1 = run_e1(cfg, log)
    e1_bf16 = e1.pop("bfloat16")
    e1_wall = time.perf_counter() - start
    e2 = run_e2(cfg, log)
    e2_wall = time.perf_counter() - start - e1_wall
    e3 = run_e3(cfg, log)
    wall = time.perf_counter() - start
    x_tr, _, x_val, _ = load_digits_e1()
    x_e2 = load_digits_e2()
    meta = {
        "jelu_version": jelu.__version__,
        "jax_version": jax.__version__,
        "backend": jax.default_backend(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "n_train": len(x_tr),
        "n_val": len(x_val),
        "n_e2": len(x_e2),
        "e2_in": x_e2.shape[1],
        "epochs": list(range(cfg.epochs + 1)),
        "wall_s": wall,
        "e1_wall_s": e1_wall,
        "e2_wall_s": e2_wall,
        "e3_wall_s": wall - e1_wall - e2_wall,
    }
    record = {"config": asdict(cfg), "meta": meta, "e1": e1, "e1_bf16": e1_bf16, "e2": e2, "e3": e3}

    out.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out / "e1_learning_behaviour.png", figure_e1(e1, cfg))
    write_bytes_atomic(out / "e2_self_normalization.png", figure_e2(e2, cfg))
    write_bytes_atomic(out / "e3_alpha_dropout.png", figure_e3(e3, cfg))
    write_bytes_atomic(out / "paper_checks.md", render_markdown(cfg, e1, e2, meta, e3, e1_bf16).encode())
    text = json.dumps(_json_safe(record), indent=1, allow_nan=False)
    write_bytes_atomic(out / "paper_checks.json", text.encode())
    log(f"wrote the tables, JSON and 3 figures to {out} ({time.perf_counter() - start:.0f} s)")
    return record


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    cfg, out, quiet = parse_config(argv)
    log = (lambda _: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    run(cfg, out, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
