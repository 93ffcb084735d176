"""A tiny MLP with jelu.elu, trained on scikit-learn's digits: plain JAX and optax.

    python examples/mlp.py [--dtype bfloat16]

The whole recipe, top to bottom: parameters as a plain pytree, the forward pass
with :func:`jelu.elu`, the loss, one jitted optax step, the loop, the test
accuracy. With ``dtype=jnp.bfloat16`` it is mixed precision: the float32
parameters (the master weights) are cast once per step, the matrix products
and activations run in bfloat16, the logits, loss and gradients come back in
float32. ``train.py`` (sharding, checkpoints, many hosts, export) builds on
these functions, as do ``paper_checks.py`` and ``benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jelu

SIZES = (64, 128, 128, 10)  # digits: 8x8 pixels in, 2 hidden layers of 128, 10 classes out


def init_params(key, sizes=SIZES, *, gain=2.0, learn_alpha=False):
    """Normal weights with std sqrt(gain / fan_in) (2: He, 1: LeCun), zero biases, and
    with ``learn_alpha`` a log-alpha per hidden unit (0: every alpha starts at 1)."""
    keys = jax.random.split(key, len(sizes) - 1)
    params = {"layers": [{"w": jax.random.normal(k, (m, n)) * math.sqrt(gain / m), "b": jnp.zeros(n)}
                         for k, m, n in zip(keys, sizes[:-1], sizes[1:])]}
    if learn_alpha:
        params["alpha"] = [jnp.zeros(n) for n in sizes[1:-1]]
    return params


def forward(params, x, activation: Callable = jelu.elu, *, dtype=jnp.float32, dropout=None, key=None):
    """(float32 logits, [every hidden layer's output]), computed in ``dtype``.

    A learned alpha enters as exp(log_alpha) in float32 (jelu keeps h's dtype).
    ``dropout(key, h)``, in training only, acts on hidden layer i with fold_in(key, i).
    """
    layers = jax.tree.map(lambda p: p.astype(dtype), params["layers"])  # the one cast per step
    h, hidden = x.astype(dtype), []
    for i, layer in enumerate(layers[:-1]):
        z = h @ layer["w"] + layer["b"]
        h = activation(z) if "alpha" not in params else activation(z, jnp.exp(params["alpha"][i]))
        if dropout is not None:
            h = dropout(jax.random.fold_in(key, i), h)
        hidden.append(h)
    return (h @ layers[-1]["w"] + layers[-1]["b"]).astype(jnp.float32), hidden


def cross_entropy(params, x, y, activation: Callable = jelu.elu, *, dtype=jnp.float32,
                  weights=None, dropout=None, key=None):
    """(mean softmax cross-entropy in float32, logits); rows weighted by ``weights`` if given."""
    logits, _ = forward(params, x, activation, dtype=dtype, dropout=dropout, key=key)
    per_row = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    if weights is None:
        return per_row.mean(), logits
    return (per_row * weights).sum() / weights.sum(), logits


def accuracy(logits, y, weights=None):
    """The (weighted) fraction of rows whose largest logit is at the label."""
    hits = (jnp.argmax(logits, axis=-1) == y).astype(jnp.float32)
    return hits.mean() if weights is None else (hits * weights).sum() / weights.sum()


def train_step(params, opt_state, x, y, *, optimizer, activation: Callable = jelu.elu,
               dtype=jnp.float32, dropout=None, key=None):
    """One optax step: (params, opt_state, loss, accuracy of this batch)."""
    (value, logits), grads = jax.value_and_grad(cross_entropy, has_aux=True)(
        params, x, y, activation, dtype=dtype, dropout=dropout, key=key)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, value, accuracy(logits, y)


def digits(seed=0):
    """scikit-learn's digits: (x_train, y_train, x_test, y_test), a shuffled 80/20 split,
    standardized with the training statistics."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    rows = np.random.default_rng(seed).permutation(len(y))
    x, y = x[rows], y[rows].astype(np.int32)
    cut = int(0.8 * len(y))
    mean, std = x[:cut].mean(0), x[:cut].std(0) + 1e-6
    x = ((x - mean) / std).astype(np.float32)
    return x[:cut], y[:cut], x[cut:], y[cut:]


def main(dtype=jnp.float32, epochs=20, batch_size=64, seed=0):
    x_train, y_train, x_test, y_test = digits(seed)
    optimizer = optax.adam(1e-3)
    params = init_params(jax.random.key(seed))
    opt_state = optimizer.init(params)
    step = jax.jit(partial(train_step, optimizer=optimizer, dtype=dtype), donate_argnums=(0, 1))
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        order = rng.permutation(len(y_train))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            rows = order[start : start + batch_size]
            params, opt_state, loss, _ = step(params, opt_state, x_train[rows], y_train[rows])
        logits, _ = forward(params, x_test, dtype=dtype)
        print(f"epoch {epoch + 1:2d}  train loss {float(loss):.4f}  "
              f"test accuracy {float(accuracy(logits, y_test)):.4f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Train a tiny MLP with jelu.elu on digits.")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    main(jnp.dtype(args.dtype), args.epochs)
