"""Causal linear attention in bfloat16 with jelu.elu_plus_one, against jax.nn.elu(x) + 1.

    python examples/linear_attention.py [--steps 400] [--seed 0] [--out runs/linear_attention]

Linear attention (Katharopoulos et al., 2020) replaces softmax(q . k) by phi(q) . phi(k) with
the positive feature map phi(x) = elu(x) + 1, so causal attention is two running sums:

    S_t = sum_{s <= t} phi(k_s) v_s^T,   z_t = sum_{s <= t} phi(k_s),
    out_t = phi(q_t)^T S_t / phi(q_t)^T z_t.

Written as ``jax.nn.elu(x) + 1``, the negative side is expm1(x) + 1: exp(x) as a difference,
which in bfloat16 is 0 from x = -6.25 down (and so is its derivative). ``jelu.elu_plus_one``
is exp(x) itself, positive down to x = -87.3.

The task is associative recall: each sequence has its own random dictionary of N_KEYS keys to
N_VALUES values; position t shows a key (the query) and the previous position's key and value
(the pair to store), and the target is the value of the query's key, scored where that key has
been stored before. One layer of causal linear attention solves it by making phi(q) . phi(k)
large for matching keys and small for the others, which drives q and k pre-activations negative.
The model: one-hot inputs, an embedding, one linear-attention layer (H heads, no epsilon in the
normalizer, as in the paper's equations), a residual, a readout; LeCun-normal weights, adam.

Both feature maps train from the same initial weights on the same batches, in bfloat16 (float32
master weights, one cast per step, float32 loss), with ``optax.apply_if_finite``: a step whose
gradient is not finite is skipped and counted. At checkpoints, on a fixed evaluation batch: the
loss, the share of features phi(q), phi(k) that are exactly 0, the most negative pre-activation,
and the relative error ||g - g64|| / ||g64|| of the parameter gradient against the same step in
float64 (exact features exp(x) and x + 1). Writes OUT/linear_attention.md and
OUT/linear_attention.png; ``--out docs`` gives the committed ``docs/linear_attention.md``.

References:
  Katharopoulos, Vyas, Pappas, Fleuret, "Transformers are RNNs: Fast Autoregressive
  Transformers with Linear Attention", ICML 2020. https://arxiv.org/abs/2006.16236
"""

from __future__ import annotations

import io
import math
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jelu
from common import EXIT_ENVIRONMENT, OneLineParser, fail, positive_int, write_bytes_atomic

if hasattr(jax, "enable_x64"):
    enable_x64 = jax.enable_x64
else:  # JAX < 0.8
    from jax.experimental import enable_x64

N_KEYS, N_VALUES, LENGTH = 16, 16, 64  # the task
WIDTH, HEADS, HEAD_DIM = 64, 4, 16  # the model
BATCH, LEARNING_RATE = 16, 3e-3  # the evaluation batch is a batch too (one compile)

FEATURE_MAPS: dict[str, Callable] = {
    "jelu.elu_plus_one": jelu.elu_plus_one,
    "jax.nn.elu(x) + 1": lambda x: jax.nn.elu(x) + 1,
}


def exact_phi(x):
    """elu(x) + 1 without cancellation in plain jnp: the float64 reference's feature map."""
    return jnp.where(x > 0, x + 1, jnp.exp(jnp.minimum(x, 0)))


def recall_batch(rng: np.random.Generator, size: int):
    """(inputs [size, LENGTH, 2 N_KEYS + N_VALUES], targets [size, LENGTH], mask [size, LENGTH])."""
    table = rng.integers(0, N_VALUES, (size, N_KEYS))  # each sequence's dictionary
    keys = rng.integers(0, N_KEYS, (size, LENGTH))
    values = np.take_along_axis(table, keys, 1)

    def previous(onehot):  # position t shows position t - 1's pair (nothing at t = 0)
        return np.concatenate([np.zeros_like(onehot[:, :1]), onehot[:, :-1]], 1)

    key_1h, value_1h = np.eye(N_KEYS, dtype=np.float32)[keys], np.eye(N_VALUES, dtype=np.float32)[values]
    inputs = np.concatenate([key_1h, previous(key_1h), previous(value_1h)], -1)
    stored = np.cumsum(key_1h, 1) - key_1h  # times each key was stored before t (shown at t' <= t)
    mask = np.take_along_axis(stored, keys[..., None], 2)[..., 0] > 0
    return inputs, values.astype(np.int32), mask.astype(np.float32)


def init_params(key):
    """LeCun-normal weights (std 1 / sqrt(fan_in)), no biases."""
    shapes = {"embed": (2 * N_KEYS + N_VALUES, WIDTH), "wq": (WIDTH, HEADS * HEAD_DIM),
              "wk": (WIDTH, HEADS * HEAD_DIM), "wv": (WIDTH, HEADS * HEAD_DIM),
              "wo": (HEADS * HEAD_DIM, WIDTH), "readout": (WIDTH, N_VALUES)}
    keys = jax.random.split(key, len(shapes))
    return {name: jax.random.normal(k, s) / math.sqrt(s[0]) for k, (name, s) in zip(keys, shapes.items())}


def causal_linear_attention(q, k, v, phi):
    """(out, normalizer): out_t = phi(q_t)^T S_t / phi(q_t)^T z_t, with the running sums S_t and
    z_t over s <= t; the normalizer is phi(q_t)^T z_t, with no epsilon added.

    q, k: [batch, time, heads, d]; v: [batch, time, heads, e].
    """
    fq, fk = phi(q), phi(k)
    s = jnp.cumsum(fk[..., :, None] * v[..., None, :], axis=1)  # [batch, time, heads, d, e]
    z = jnp.cumsum(fk, axis=1)
    normalizer = jnp.einsum("bthd,bthd->bth", fq, z)
    return jnp.einsum("bthd,bthde->bthe", fq, s) / normalizer[..., None], normalizer


def forward(params, x, phi, dtype):
    """(float32 logits [batch, time, N_VALUES], (q, k, normalizer)), computed in ``dtype``."""
    p = jax.tree.map(lambda a: a.astype(dtype), params)  # the one cast per step
    h = x.astype(dtype) @ p["embed"]
    heads = lambda a: a.reshape(*a.shape[:-1], HEADS, HEAD_DIM)  # noqa: E731
    q, k, v = heads(h @ p["wq"]), heads(h @ p["wk"]), heads(h @ p["wv"])
    attended, normalizer = causal_linear_attention(q, k, v, phi)
    h = h + attended.reshape(*h.shape[:-1], HEADS * HEAD_DIM) @ p["wo"]
    return (h @ p["readout"]).astype(jnp.float32), (q, k, normalizer)


def loss_fn(params, x, y, mask, phi, dtype):
    """(masked mean cross-entropy, (logits, (q, k, normalizer)))."""
    logits, inner = forward(params, x, phi, dtype)
    per_position = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    return (per_position * mask).sum() / mask.sum(), (logits, inner)


@partial(jax.jit, static_argnames=("phi", "dtype"))
def evaluate(params, x, y, mask, phi, dtype=jnp.bfloat16) -> dict:
    """The loss, its gradient (in the parameters' dtype), whether both are finite, the accuracy,
    the share of features phi(q), phi(k) exactly 0, the lowest q or k pre-activation and the
    smallest normalizer."""
    value_and_grad = jax.value_and_grad(loss_fn, has_aux=True)
    (loss, (logits, (q, k, normalizer))), grads = value_and_grad(params, x, y, mask, phi, dtype)
    finite = jnp.isfinite(loss) & jnp.all(jnp.array([jnp.isfinite(g).all() for g in jax.tree.leaves(grads)]))
    return {"loss": loss, "grads": grads, "finite": finite,
            "accuracy": ((logits.argmax(-1) == y) * mask).sum() / mask.sum(),
            "zeros": ((phi(q) == 0).sum() + (phi(k) == 0).sum()) / (q.size + k.size),
            "lowest": jnp.minimum(q.min(), k.min()), "normalizer": normalizer.min()}


def measure(params, batch, phi) -> dict:
    """``evaluate`` in bfloat16 on ``batch``, and the gradient's relative error against float64."""
    out = evaluate(params, *batch, phi)
    with enable_x64(True):
        x, y, mask = batch
        p64 = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
        g64 = evaluate(p64, x.astype(np.float64), y, mask.astype(np.float64), exact_phi, jnp.float64)["grads"]
        g, g64 = (np.concatenate([np.ravel(a).astype(np.float64) for a in jax.tree.leaves(t)])
                  for t in (out["grads"], g64))
    summary = {name: float(out[name]) for name in ("loss", "accuracy", "zeros", "lowest", "normalizer")}
    return summary | {"grad_error": float(np.linalg.norm(g - g64) / np.linalg.norm(g64))}


def train(phi, steps: int, seed: int, eval_batch) -> dict:
    """Train with ``phi``; the per-step losses and zero shares, NaN steps, the checkpoints."""
    optimizer = optax.apply_if_finite(optax.adam(LEARNING_RATE), max_consecutive_errors=steps)

    @jax.jit
    def update(params, opt_state, grads):  # optax.apply_if_finite: no change if grads are not finite
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    params = init_params(jax.random.key(seed))
    opt_state, rng = optimizer.init(params), np.random.default_rng(seed)
    marks = sorted({round(i * steps / 4) for i in range(5)})
    record = {"loss": [], "zeros": [], "nan_steps": 0, "checkpoints": {}}
    for i in range(steps + 1):
        if i in marks:
            record["checkpoints"][i] = measure(params, eval_batch, phi)
        if i == steps:
            break
        out = evaluate(params, *recall_batch(rng, BATCH), phi)
        params, opt_state = update(params, opt_state, out["grads"])
        record["loss"].append(float(out["loss"]))
        record["zeros"].append(float(out["zeros"]))
        record["nan_steps"] += int(not out["finite"])
    return record


def tail_check(seed: int, mean: float = -7.0, std: float = 0.5) -> dict:
    """One head (d = e = HEAD_DIM) over LENGTH positions with q, k ~ N(mean, std), v ~ N(0, 1), in
    bfloat16: per feature map, the share of NaN outputs and of NaN entries of d(sum out)/d(q, k, v),
    and the largest error of the finite outputs against float64 with exact features, relative to
    the largest float64 output."""
    rng = np.random.default_rng([seed, 2])
    q, k = (rng.normal(mean, std, (1, LENGTH, 1, HEAD_DIM)) for _ in range(2))
    v = rng.normal(0.0, 1.0, (1, LENGTH, 1, HEAD_DIM))
    with enable_x64(True):
        want = np.asarray(causal_linear_attention(q, k, v, exact_phi)[0])
    result = {}
    for name, phi in FEATURE_MAPS.items():
        total = lambda *a: causal_linear_attention(*a, phi)[0].astype(jnp.float32).sum()  # noqa: E731
        args = [jnp.asarray(a, jnp.bfloat16) for a in (q, k, v)]
        out = np.asarray(causal_linear_attention(*args, phi)[0], np.float64)
        grads = np.concatenate([np.ravel(g) for g in jax.grad(total, argnums=(0, 1, 2))(*args)])
        finite = np.isfinite(out)
        result[name] = {"nan_outputs": float(np.isnan(out).mean()),
                        "nan_gradient": float(np.isnan(grads).mean()),
                        "error": float(np.abs(out - want)[finite].max() / np.abs(want).max())}
    return result


def render(records: dict, tail: dict, steps: int, seed: int, out: Path, wall: float) -> str:
    """The markdown report."""
    lines = [
        "# Linear attention in bfloat16: `jelu.elu_plus_one` against `jax.nn.elu(x) + 1`", "",
        f"`python examples/linear_attention.py --steps {steps} --seed {seed} --out {out}` wrote this file "
        f"(jelu {jelu.__version__}, jax {jax.__version__}, {jax.default_backend()}, {wall:.0f} s).", "",
        "## Training", "",
        f"Associative recall ({N_KEYS} keys, {N_VALUES} values, sequences of {LENGTH}); one causal "
        f"linear-attention layer ({HEADS} heads of {HEAD_DIM}, width {WIDTH}, no epsilon in the normalizer), "
        f"LeCun-normal weights, adam {LEARNING_RATE:g}, batch {BATCH}, {steps} steps, bfloat16 compute with "
        "float32 master weights; both runs start from the same weights and see the same batches. A step "
        "whose gradient is not finite is skipped (`optax.apply_if_finite`) and counted as a NaN step. "
        f"Checkpoints are measured on a fixed evaluation batch of {BATCH} sequences: zero features = "
        "share of phi(q), phi(k) entries exactly 0; lowest = the most negative q or k pre-activation; "
        "normalizer = the smallest phi(q_t)^T z_t; gradient error = ||g - g64|| / ||g64|| over every "
        "parameter, g64 the same step in float64 with exact features.", "",
        "![loss curves](linear_attention.png)", "",
        "| step | feature map | loss | accuracy | zero features | lowest | normalizer | gradient error |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for i in next(iter(records.values()))["checkpoints"]:
        for name, r in records.items():
            c = r["checkpoints"][i]
            lines.append(f"| {i} | `{name}` | {c['loss']:.4f} | {c['accuracy']:.4f} | {c['zeros']:.2%} | "
                         f"{c['lowest']:.2f} | {c['normalizer']:.3g} | {c['grad_error']:.2e} |")
    lines += ["", "| feature map | NaN steps | final training loss (mean of the last 10% of steps) | "
              "most zero features in a training batch |", "|---|---:|---:|---:|"]
    for name, r in records.items():
        lines.append(f"| `{name}` | {r['nan_steps']} | {np.mean(r['loss'][-max(1, steps // 10):]):.4f} | "
                     f"{max(r['zeros']):.2%} |")
    lines += ["", "## Pre-activations in the tail", "",
              f"One head of {HEAD_DIM} over {LENGTH} positions, q, k ~ N(-7, 0.5), v ~ N(0, 1), bfloat16 "
              "(`tail_check`): the share of NaN outputs and of NaN gradient entries "
              "(d sum(out) / d(q, k, v)), and the largest error of the finite outputs against float64 "
              "with exact features, relative to the largest output.", "",
              "| feature map | NaN outputs | NaN gradient entries | error of the finite outputs |",
              "|---|---:|---:|---:|"]
    for name, t in tail.items():
        lines.append(f"| `{name}` | {t['nan_outputs']:.1%} | {t['nan_gradient']:.1%} | {t['error']:.2e} |")
    return "\n".join(lines) + "\n"


def figure(records: dict) -> bytes:
    """Training loss and share of zero features per step, gradient error per checkpoint, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_zero, ax_grad) = plt.subplots(1, 3, figsize=(15, 4))
    for (name, r), style in zip(records.items(), ({"lw": 2.5, "alpha": 0.6}, {"lw": 1, "ls": "--"})):
        ax_loss.plot(r["loss"], label=name, **style)
        ax_zero.plot(r["zeros"], label=name, **style)
        steps = list(r["checkpoints"])
        errors = [r["checkpoints"][i]["grad_error"] for i in steps]
        ax_grad.plot(steps, errors, marker="o", label=name, **style)
    ax_loss.set(yscale="log", xlabel="step", ylabel="training loss (bfloat16)")
    ax_zero.set(xlabel="step", ylabel="share of phi(q), phi(k) exactly 0 (training batch)")
    ax_grad.set(yscale="log", xlabel="step", ylabel="||g - g64|| / ||g64|| (evaluation batch)")
    for ax in (ax_loss, ax_zero, ax_grad):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="linear_attention.py", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=positive_int, default=400,
                        help="training steps (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="initialization and data seed (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("runs/linear_attention"), help="output directory")
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {str(args.out)!r} exists and is not a directory")
    start = time.perf_counter()
    eval_batch = recall_batch(np.random.default_rng([args.seed, 1]), BATCH)
    records = {name: train(phi, args.steps, args.seed, eval_batch) for name, phi in FEATURE_MAPS.items()}
    tail = tail_check(args.seed)
    text = render(records, tail, args.steps, args.seed, args.out, time.perf_counter() - start)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(args.out / "linear_attention.png", figure(records))
        write_bytes_atomic(args.out / "linear_attention.md", text.encode())
    except OSError as e:
        fail(parser.prog, f"cannot write to {args.out}: {e}", EXIT_ENVIRONMENT)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
