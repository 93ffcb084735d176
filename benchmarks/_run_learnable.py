"""Part of ``python -m benchmarks.run``: a model with a learnable alpha, jelu against jax.nn.

The model: an MLP 64-128-128-128-10 written for one example and vmapped over
a batch of 256, whose hidden layers are elu, celu with a learnable alpha per
channel (a float32 parameter of 128, as in PELU and CELU with trained alpha)
and selu; softmax cross-entropy, adam 1e-3. The same code runs with jelu's
three functions and with jax.nn's (``jax.nn.celu(x, alpha)``, alpha cast to x's dtype so that
a bfloat16 layer stays bfloat16). One timed
sample is one jitted ``lax.scan`` of :data:`STEPS` train steps (gradient in
the weights and alpha, adam update), float32 and bfloat16 mixed precision
(float32 weights and alpha, bfloat16 products and activations); the two
implementations of a dtype are interleaved in one run, and the ratio is the
ratio of medians. The inputs are synthetic (standard normal, random labels):
the time of a step does not depend on the data.
"""

from __future__ import annotations

import statistics
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import jelu
from benchmarks import _common, _report

SIZES = (64, 128, 128, 128, 10)
BATCH = 256
LEARNING_RATE = 1e-3
DTYPES = ("float32", "bfloat16")
#: Steps in one timed sample (one lax.scan).
STEPS = 20
QUICK_STEPS = 2
#: The three hidden activations, elu, celu(x, alpha) and selu, of each implementation.
IMPLEMENTATIONS: dict[str, tuple[Callable[..., jax.Array], ...]] = {
    "jelu": (jelu.elu, jelu.celu, jelu.selu),
    # alpha cast to x's dtype: jax.nn.celu would otherwise promote a bfloat16 layer to float32.
    "jax.nn": (jax.nn.elu, lambda x, alpha: jax.nn.celu(x, alpha.astype(x.dtype)), jax.nn.selu),
}


def init_params(key: jax.Array) -> dict[str, Any]:
    """He-normal weights, zero biases, and alpha = 1 for each of the celu layer's channels."""
    keys = jax.random.split(key, len(SIZES) - 1)
    layers = [{"w": jax.random.normal(k, (m, n)) * np.sqrt(2.0 / m), "b": jnp.zeros(n)}
              for k, m, n in zip(keys, SIZES[:-1], SIZES[1:])]
    return {"layers": layers, "alpha": jnp.ones(SIZES[2])}


def forward(params: dict[str, Any], x: jax.Array, acts: tuple[Callable[..., jax.Array], ...],
            dtype: Any) -> jax.Array:
    """Float32 logits of one example ``x`` (64 features), computed in ``dtype``; alpha stays float32."""
    elu, celu, selu = acts
    layers = jax.tree.map(lambda p: p.astype(dtype), params["layers"])
    h = x.astype(dtype)
    h = elu(h @ layers[0]["w"] + layers[0]["b"])
    h = celu(h @ layers[1]["w"] + layers[1]["b"], params["alpha"])
    h = selu(h @ layers[2]["w"] + layers[2]["b"])
    return (h @ layers[3]["w"] + layers[3]["b"]).astype(jnp.float32)


def learnable_steps(steps: int, dtypes: Sequence[str] = DTYPES) -> tuple[dict[tuple[str, str], Callable[[], Any]],
                                                                         dict[str, Any]]:
    """Thunks of ``steps`` train steps in one jitted ``lax.scan``, per (dtype, implementation),
    and the description of the step; ``({}, {"status": "skipped", "note": why})`` without optax."""
    try:
        import optax
    except ImportError as exc:
        return {}, {"status": "skipped", "note": f"optax unusable: {type(exc).__name__}: {exc}"}
    optimizer = optax.adam(LEARNING_RATE)
    kx, ky = jax.random.split(jax.random.key(5))
    xs = jax.random.normal(kx, (steps, BATCH, SIZES[0]))
    ys = jax.random.randint(ky, (steps, BATCH), 0, SIZES[-1])

    def make(acts: tuple[Callable[..., jax.Array], ...], dtype: Any) -> Callable[[], Any]:
        def loss(params: dict[str, Any], x: jax.Array, y: jax.Array) -> jax.Array:
            logits = jax.vmap(forward, in_axes=(None, 0, None, None))(params, x, acts, dtype)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        def step(params: Any, opt_state: Any, x: jax.Array, y: jax.Array) -> Any:
            value, grads = jax.value_and_grad(loss)(params, x, y)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, value

        params = init_params(jax.random.key(0))
        return _common.scanned_steps(step, params, optimizer.init(params), xs, ys)[0]

    thunks = {(dtype, impl): make(acts, jnp.dtype(dtype))
              for dtype in dtypes for impl, acts in IMPLEMENTATIONS.items()}
    return thunks, {
        "status": "ok",
        "description": (f"layers {'x'.join(map(str, SIZES))} vmapped over a batch of {BATCH}, hidden "
                        f"activations elu, celu(x, alpha) with alpha learned per channel, selu; "
                        f"adam {LEARNING_RATE:g}"),
        "layer_sizes": list(SIZES), "batch_size": BATCH, "dtypes": list(dtypes),
        "implementations": list(IMPLEMENTATIONS), "steps_per_sample": steps,
    }


def learnable_rows(medians: dict[tuple[str, str], float], steps: int) -> list[dict[str, Any]]:
    """Per (dtype, implementation): time per step and its ratio to jax.nn's in the same dtype."""
    per_step = {key: t / steps for key, t in medians.items()}
    return [{"dtype": dtype, "implementation": impl, "step_time_s": per_step[(dtype, impl)],
             "ratio_to_jax_nn_time": per_step[(dtype, impl)] / per_step[(dtype, "jax.nn")]}
            for dtype in DTYPES for impl in IMPLEMENTATIONS if (dtype, impl) in per_step]


def learnable_benchmark(repeats: int, steps: int, quick: bool = False) -> dict[str, Any]:
    """Time per step of the model per (dtype, implementation), interleaved, medians
    (``quick``: float32 only, a smoke test)."""
    thunks, info = learnable_steps(steps, DTYPES[:1] if quick else DTYPES)
    if info["status"] != "ok":
        return info
    samples = _common.interleaved_times(thunks, repeats, seed=3)
    medians = {key: statistics.median(t) for key, t in samples.items()}
    return info | {"cpus": _common.cpus_available(), "rows": learnable_rows(medians, steps)}


def learnable_table(result: dict[str, Any]) -> list[str]:
    """The "learnable alpha" rows: step time and the ratio to jax.nn's, per dtype."""
    if result["status"] != "ok":
        return [f"\nLearnable alpha: skipped ({result['note']})."]
    lines = ["", f"Learnable alpha ({result['description']}): one train step (gradient in the weights and "
             f"alpha + adam update) in a jitted `lax.scan` of {result['steps_per_sample']} steps, medians "
             f"of interleaved samples on {result['cpus']} CPUs; bfloat16 is mixed precision (float32 weights "
             "and alpha, bfloat16 products and activations). `x jax.nn`: against the same model with "
             "jax.nn.elu, jax.nn.celu(x, alpha) and jax.nn.selu in the same dtype.", "",
             *_report.table(["dtype", "implementation", "step µs", "x jax.nn"], "llrr")]
    for r in result["rows"]:
        lines.append(_report.row([r["dtype"], r["implementation"], f"{r['step_time_s'] * 1e6:.0f}",
                                  _report.ratio(r["ratio_to_jax_nn_time"])]))
    return lines
