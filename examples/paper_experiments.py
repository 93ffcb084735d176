"""The experiments of ``paper_checks.py``: the ELU and SELU papers' claims, checked with jelu
on scikit-learn's digits.

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

E1 in bfloat16: E1's ELU network, same seeds and initial weights, trained in bfloat16 (mixed
precision, ``mlp.forward(dtype=jnp.bfloat16)``) with jelu.elu and with jax.nn.elu, whose
derivative expm1(x) + 1 rounds to 0 below x = -6.25 in bfloat16 where jelu's is exp(x) > 0:
does that tail gradient change training? (``"e1_bf16"`` in the JSON.)

The network code (initialization, forward pass, loss) is the tiny trainer's, ``mlp.py``; the
activations and ordinary dropout are the full trainer's (``loop.py``). Each ``run_e*`` returns
the JSON-ready record of its experiment.

References:
    Clevert, Unterthiner & Hochreiter, "Fast and Accurate Deep Network Learning by Exponential
    Linear Units (ELUs)", ICLR 2016. Klambauer, Unterthiner, Mayr & Hochreiter,
    "Self-Normalizing Neural Networks", NeurIPS 2017.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jelu
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
    """Run E1 for every activation over seeds ``0 .. cfg.seeds - 1``, then E1 in bfloat16 (under
    ``"bfloat16"``); return the JSON-ready record."""
    x_tr, y_tr, x_val, y_val = load_digits_e1()
    sizes = [x_tr.shape[1]] + [cfg.e1_width] * cfg.e1_depth + [N_CLASSES]
    keys = [e1_keys(s) for s in range(cfg.seeds)]
    initial = [init_params(k_init, sizes, init="he") for k_init, _ in keys]
    fingerprints = [params_fingerprint(p) for p in initial]
    params = stack_trees(initial)  # one set of initial weights per seed, reused by every activation
    shuffle_keys = jnp.stack([k_shuffle for _, k_shuffle in keys])
    x_sub = x_tr[: cfg.act_subset]

    def curves(activation: Activation, dtype: Any, what: str) -> dict[str, list]:
        start = time.perf_counter()
        runner = make_e1_runner(activation, cfg, n_train=len(x_tr), dtype=dtype)
        out = np.asarray(runner(params, shuffle_keys, x_tr, y_tr, x_val, y_val, x_sub), np.float64)
        log(f"E1 {what}: {time.perf_counter() - start:.1f} s")
        return {
            "train_loss": out[:, 0, :].tolist(),
            "val_loss": out[:, 1, :].tolist(),
            "median_activation": out[:, 2, :].tolist(),
            "init_fingerprint": list(fingerprints),
        }

    record: dict[str, Any] = {name: curves(e1_activation(name), jnp.float32, name) for name in E1_ACTIVATIONS}
    record["bfloat16"] = {name: curves(activation, jnp.bfloat16, f"bfloat16 {name}")
                          for name, (activation, _) in E1_BF16_ACTIVATIONS.items()}
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

