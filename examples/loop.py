"""The full trainer's loop: the jitted, data-parallel steps, evaluation, and the epoch loop.

The model, loss and optimizer step are :mod:`mlp`'s (the tiny trainer); this
module runs them over every device JAX sees: :func:`make_steps` compiles
``k`` steps as one ``lax.scan`` with the batch sharded on the mesh's data axis
and the parameters replicated (XLA adds the gradient all-reduce), and
:func:`fit` runs the epochs from a :class:`TrainState`, which is all a resumed
run needs to continue bit for bit. ``train.py`` is the command line around it;
``input_pipeline.py`` feeds it, ``checkpoint.py`` saves its state.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from functools import cache, partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import jelu
import mlp
from input_pipeline import DATA_AXIS, Dataset, Prefetcher, put_eval_set, put_replicated, put_rows

Params = dict[str, Any]
Activation = Callable[..., jax.Array]
Dropout = Callable[[jax.Array, jax.Array], jax.Array]  # (key, h) -> h, training only
STEPS_PER_CALL = 256  # steps run by one jitted call (one lax.scan)


class TrainingDiverged(Exception):
    """The loss became NaN or infinite: one line on stderr, exit code 1."""


@dataclasses.dataclass
class TrainState:
    """Everything a resumed run needs to continue bit for bit."""

    params: Any  # float32 (the master weights, whatever --dtype computes in)
    opt_state: Any
    data_key: np.ndarray  # uint32 key data; epoch e's order comes from (data_key, e)
    epoch: int  # completed epochs
    step: int  # completed steps
    history: list[dict[str, Any]]  # metrics rows of the completed epochs


# 1. What the command line chooses ------------------------------------------

# name -> (f(x) or f(x, alpha), takes a learnable alpha, initialization)
ACTIVATIONS: dict[str, tuple[Activation, bool, str]] = {
    "elu": (jelu.elu, True, "he"),
    "selu": (jelu.selu, False, "lecun"),  # alpha is a fixed constant; LeCun init, as SELU needs
    "celu": (jelu.celu, True, "he"),
    "relu": (jax.nn.relu, False, "he"),
    "jax-elu": (jax.nn.elu, True, "he"),  # for comparison
}
GAINS = {"he": 2.0, "lecun": 1.0}  # weights ~ normal(0, gain / fan_in)
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}  # the compute dtype (--dtype)


def get_activation(name: str) -> Activation:
    """The activation called ``name`` (see :data:`ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name][0]


def init_for(activation_name: str) -> str:
    """The initialization that suits an activation: "lecun" for selu, else "he"."""
    get_activation(activation_name)  # validates the name
    return ACTIVATIONS[activation_name][2]


def init_params(key: jax.Array, sizes, init: str = "he", learn_alpha: bool = False) -> Params:
    """:func:`mlp.init_params` with the gain of ``init`` ("he" or "lecun")."""
    if init not in GAINS:
        raise ValueError(f"unknown init {init!r}; valid: {', '.join(GAINS)}")
    return mlp.init_params(key, tuple(sizes), gain=GAINS[init], learn_alpha=learn_alpha)


def inverted_dropout(key: jax.Array, x: jax.Array, rate: float) -> jax.Array:
    """Ordinary dropout: each element kept with probability ``q = 1 - rate`` and
    scaled by ``1 / q`` (so the mean is kept), else 0. The mask is
    ``jax.random.bernoulli(key, q, x.shape)``, as for :func:`jelu.alpha_dropout`."""
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x * (1.0 / (1.0 - rate)), jnp.zeros((), x.dtype))


def make_dropout(activation_name: str, rate: float) -> Dropout | None:
    """``(key, h) -> h`` dropping with probability ``rate``: :func:`jelu.alpha_dropout`
    after selu (it keeps SELU's mean 0 and variance 1), :func:`inverted_dropout`
    after any other activation; None for ``rate == 0``."""
    get_activation(activation_name)  # validates the name
    if not 0 <= rate < 1:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
    if rate == 0:
        return None
    if activation_name == "selu":
        return partial(jelu.alpha_dropout, rate=float(rate))
    return partial(inverted_dropout, rate=float(rate))


def dropout_key(seed: int) -> np.ndarray:
    """The root of the dropout masks (uint32 key data): stream 2 of ``jax.random.key(seed)``
    (streams 0 and 1 are the initialization and the data order). Step ``s`` uses
    ``fold_in(root, s)``, hidden layer ``i`` of it ``fold_in(fold_in(root, s), i)``:
    the masks depend on (seed, step, layer) alone, so a resumed run draws the same ones."""
    return np.asarray(jax.random.key_data(jax.random.fold_in(jax.random.key(np.uint32(seed)), 2)))


OPTIMIZERS = {
    "adam": lambda lr: optax.adam(lr),
    "sgd": lambda lr: optax.sgd(lr),
    "momentum": lambda lr: optax.sgd(lr, momentum=0.9),
    "adamw": lambda lr: optax.adamw(lr, weight_decay=1e-4),
}


def make_optimizer(name: str, lr: float) -> optax.GradientTransformation:
    """The optax optimizer ``name`` (adam, sgd, momentum 0.9, adamw with decay 1e-4)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](lr)


# 2. The jitted, data-parallel steps --------------------------------------


def make_steps(activation: Activation, optimizer: optax.GradientTransformation, mesh: Mesh,
               dropout: Dropout | None = None, dtype: Any = jnp.float32):
    """Two jitted loops of ``k`` steps of :func:`mlp.train_step` (computing in ``dtype``)
    as one ``lax.scan``, returning
    (params, opt_state, summed loss, summed accuracy):

    * ``on_device(params, opt_state, x, y, order, start, key_data, first_step, k=k)``:
      the data is on the devices; step ``i`` trains on rows ``order[start + i]`` of ``x``, ``y``;
    * ``streamed(params, opt_state, xs, ys, key_data, first_step)``: batches
      ``xs[i]``, ``ys[i]`` from the host.

    With ``dropout``, step ``i`` of the call is global step ``first_step + i``
    and draws its masks from ``fold_in(wrap_key_data(key_data), first_step + i)``
    (see :func:`dropout_key`); without, ``key_data`` and ``first_step`` may be
    left out. Every batch is sharded on the mesh's data axis; parameters and
    optimizer state are replicated (XLA adds the gradient all-reduce) and donated.
    """
    rows = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
    replicated = NamedSharding(mesh, PartitionSpec())
    step = partial(mlp.train_step, activation=activation, optimizer=optimizer, dropout=dropout,
                   dtype=dtype)

    def scan(params, opt_state, batches, get_batch, key_data, first_step):
        root = None if dropout is None else jax.random.wrap_key_data(key_data)

        def body(carry, inputs):
            batch, step_number = inputs
            xb, yb = (jax.lax.with_sharding_constraint(a, rows) for a in get_batch(batch))
            key = None if root is None else jax.random.fold_in(root, step_number)
            params, opt_state, value, acc = step(*carry, xb, yb, key=key)
            return (params, opt_state), (value, acc)

        k = jax.tree_util.tree_leaves(batches)[0].shape[0]
        step_numbers = jnp.asarray(first_step, jnp.uint32) + jnp.arange(k, dtype=jnp.uint32)
        (params, opt_state), (values, accs) = jax.lax.scan(
            body, (params, opt_state), (batches, step_numbers))
        return params, opt_state, values.sum(), accs.sum()

    @partial(jax.jit, static_argnames="k", donate_argnums=(0, 1), out_shardings=replicated)
    def on_device(params, opt_state, x, y, order, start, key_data=None, first_step=0, *, k):
        idx = jax.lax.dynamic_slice_in_dim(order, start, k)
        return scan(params, opt_state, idx, lambda i: (x[i], y[i]), key_data, first_step)

    @partial(jax.jit, donate_argnums=(0, 1), out_shardings=replicated)
    def streamed(params, opt_state, xs, ys, key_data=None, first_step=0):
        return scan(params, opt_state, (xs, ys), lambda batch: batch, key_data, first_step)

    return on_device, streamed


@cache  # one compiled evaluation for validation and test
def make_evaluate(activation: Activation, mesh: Mesh, dtype: Any = jnp.float32):
    """jit ``(params, x, y, weights) -> (mean loss, accuracy)`` computing in ``dtype``,
    rows sharded, padding weighted 0."""

    @partial(jax.jit, out_shardings=NamedSharding(mesh, PartitionSpec()))
    def evaluate(params, x, y, weights):
        value, logits = mlp.cross_entropy(params, x, y, activation, dtype=dtype, weights=weights)
        return value, mlp.accuracy(logits, y, weights)

    return evaluate


def evaluate_set(params: Params, x: np.ndarray, y: np.ndarray, *, activation: Activation,
                 mesh: Mesh, dtype: Any = jnp.float32) -> tuple[float, float]:
    """(mean loss, accuracy) of a whole host data set (validation or test), on the devices."""
    value, acc = make_evaluate(activation, mesh, dtype)(params, *put_eval_set(x, y, mesh))
    return float(value), float(acc)


def make_epoch_order(n: int, steps: int, batch: int, mesh: Mesh):
    """jit ``(data_key, epoch) -> rows [steps, batch]`` of every step of the epoch: a
    permutation drawn on the devices from (data_key, epoch) alone, so that a resumed
    run sees the same order."""

    @partial(jax.jit, out_shardings=NamedSharding(mesh, PartitionSpec()))
    def order(key_data, epoch):
        key = jax.random.fold_in(jax.random.wrap_key_data(key_data), epoch)
        return jax.random.permutation(key, n)[: steps * batch].reshape(steps, batch)

    return lambda key_data, epoch: order(key_data, np.int32(epoch))


# 3. The epoch loop -------------------------------------------------------


def fit(
    state: TrainState, data: Dataset, *, activation: Activation,
    optimizer: optax.GradientTransformation, batch_size: int, epochs: int, mesh: Mesh,
    stream: bool = False, on_epoch: Callable[[TrainState], None] = lambda s: None,
    progress: Callable[[int], None] = lambda steps: None,
    dropout: Dropout | None = None, dropout_key: np.ndarray | None = None, dtype: Any = jnp.float32,
) -> tuple[TrainState, Params]:
    """Train from ``state`` until ``epochs`` epochs are complete.

    With ``stream=False`` the training set goes to the devices once and every
    epoch runs as jitted ``lax.scan`` calls of up to :data:`STEPS_PER_CALL`
    steps with no host work between them; with ``stream=True`` a background
    thread feeds host batches a chunk ahead. Both give the same result.
    ``on_epoch`` gets the host state after each epoch (to checkpoint it);
    ``progress`` the number of steps dispatched. ``dropout`` (see
    :func:`make_dropout`) acts in training steps only, never in evaluation;
    step ``s`` draws its masks from ``dropout_key`` (see :func:`dropout_key`) and
    ``s`` alone. ``dtype`` is the compute dtype (bfloat16: mixed precision, see
    :func:`mlp.forward`); the state stays float32. Returns the final host state and
    the final (device) parameters.
    """
    if dropout is not None and dropout_key is None:
        raise ValueError("fit: dropout needs a dropout_key (loop.dropout_key(seed))")
    key_data = None if dropout is None else np.asarray(dropout_key, np.uint32)
    n = len(data.y_train)
    steps = n // batch_size
    chunk = min(steps, STEPS_PER_CALL)
    on_device, streamed = make_steps(activation, optimizer, mesh, dropout, dtype)
    evaluate = make_evaluate(activation, mesh, dtype)
    epoch_order = make_epoch_order(n, steps, batch_size, mesh)
    params, opt_state = put_replicated((state.params, state.opt_state), mesh)
    if not stream:
        x, y = put_rows(data.x_train, mesh), put_rows(data.y_train, mesh)
    val = put_eval_set(data.x_val, data.y_val, mesh)
    for epoch in range(state.epoch, epochs):
        start_time = time.perf_counter()
        order = epoch_order(state.data_key, epoch)
        sums = []  # (summed loss, summed accuracy) per call, fetched at the epoch's end
        if stream:
            feed = Prefetcher(data.x_train, data.y_train, np.asarray(order), chunk, mesh)
            try:
                done = 0
                for xs, ys in feed:
                    params, opt_state, value, acc = streamed(
                        params, opt_state, xs, ys, key_data, np.uint32(state.step + done))
                    sums.append((value, acc))
                    done += len(xs)
                    progress(len(xs))
            finally:
                feed.close()
        else:
            for first in range(0, steps, chunk):
                k = min(chunk, steps - first)
                params, opt_state, value, acc = on_device(
                    params, opt_state, x, y, order, first, key_data, np.uint32(state.step + first), k=k)
                sums.append((value, acc))
                progress(k)
        train_loss, train_acc = (sum(float(s[i]) for s in sums) / steps for i in (0, 1))
        val_loss, val_acc = (float(v) for v in evaluate(params, *val))
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            kept = f"epoch {state.epoch}" if state.epoch else "none"
            bad = train_loss if not math.isfinite(train_loss) else val_loss
            raise TrainingDiverged(f"loss became {bad} in epoch {epoch + 1}; stopped (try a "
                                   f"smaller --lr); last good checkpoint: {kept}")
        row = {"epoch": epoch + 1, "step": state.step + steps, "train_loss": train_loss,
               "train_accuracy": train_acc, "val_loss": val_loss, "val_accuracy": val_acc,
               "seconds": time.perf_counter() - start_time}
        state = TrainState(jax.device_get(params), jax.device_get(opt_state), state.data_key,
                           epoch + 1, row["step"], [*state.history, row])
        on_epoch(state)
    return state, params
