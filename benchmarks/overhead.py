"""Call overhead of jelu against jax.nn: un-jitted calls, tracing and compiling.

    python benchmarks/overhead.py [--layers 100] [--repeats 7] [--out PATH.json]

Three measurements, each jelu next to ``jax.nn`` in the same run, interleaved:

1. an un-jitted call on 1,024 float32 (what eager code and ``jax.disable_jit``
   users pay per call), median over repeats of a loop of calls;
2. tracing and compiling ``jax.jit(jax.grad(loss))`` of an MLP with
   ``--layers`` layers of width 16 (fresh functions each time, so that no cache
   helps either side);
3. the jaxpr equation count of one forward call, and of its gradient, counted
   recursively into nested jaxprs (what tracing and lowering walk).

Prints a markdown table; ``--out`` also writes JSON. Timings depend on the
machine: only the ratios within one run mean anything.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
from jax.extend.core import ClosedJaxpr, Jaxpr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import jelu  # noqa: E402

FUNCS = {
    "elu": (jelu.elu, jax.nn.elu),
    "selu": (jelu.selu, jax.nn.selu),
    "celu(alpha=0.5)": (lambda x: jelu.celu(x, 0.5), lambda x: jax.nn.celu(x, 0.5)),
}


def count_eqns(jaxpr) -> int:
    """Equations of a (closed) jaxpr, including those of every nested jaxpr."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    n = 0
    for eqn in jaxpr.eqns:
        n += 1
        for param in eqn.params.values():
            for sub in param if isinstance(param, (list, tuple)) else (param,):
                if isinstance(sub, (Jaxpr, ClosedJaxpr)):
                    n += count_eqns(sub)
    return n


def eager_call_seconds(f, x, calls: int = 200) -> float:
    f(x).block_until_ready()
    t = time.perf_counter()
    for _ in range(calls):
        out = f(x)
    out.block_until_ready()
    return (time.perf_counter() - t) / calls


def mlp_compile_seconds(act, layers: int, width: int = 16) -> float:
    keys = jax.random.split(jax.random.key(0), layers)
    params = [jax.random.normal(k, (width, width)) / 4 for k in keys]
    x = jnp.ones((8, width))

    def loss(params, x):  # a fresh function: nothing cached from a previous repeat
        for w in params:
            x = act(x @ w)
        return jnp.sum(x)

    t = time.perf_counter()
    jax.jit(jax.grad(loss)).lower(params, x).compile()
    return time.perf_counter() - t


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    x = jnp.linspace(-5.0, 5.0, 1024, dtype=jnp.float32)
    rows = []
    for name, (mine, theirs) in FUNCS.items():
        call = {"jelu": [], "jax.nn": []}
        comp = {"jelu": [], "jax.nn": []}
        for _ in range(args.repeats):
            for impl, f in (("jelu", mine), ("jax.nn", theirs)):
                call[impl].append(eager_call_seconds(f, x))
                comp[impl].append(mlp_compile_seconds(f, args.layers))
        eqns = {impl: count_eqns(jax.make_jaxpr(f)(x)) for impl, f in (("jelu", mine), ("jax.nn", theirs))}
        grad_eqns = {
            impl: count_eqns(jax.make_jaxpr(jax.grad(lambda t, f=f: jnp.sum(f(t))))(x))
            for impl, f in (("jelu", mine), ("jax.nn", theirs))
        }
        row = {
            "function": name,
            "eager_call_us": {k: statistics.median(v) * 1e6 for k, v in call.items()},
            "mlp_grad_compile_s": {k: statistics.median(v) for k, v in comp.items()},
            "jaxpr_eqns": eqns,
            "grad_jaxpr_eqns": grad_eqns,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    lines = [
        f"| function | un-jitted call, 1,024 float32: jelu / jax.nn (ratio) | jit(grad) of a {args.layers}-layer MLP, trace + compile: jelu / jax.nn (ratio) | jaxpr eqns, forward: jelu / jax.nn | jaxpr eqns, grad: jelu / jax.nn |",
        "|---|--:|--:|--:|--:|",
    ]
    for r in rows:
        c, m = r["eager_call_us"], r["mlp_grad_compile_s"]
        lines.append(
            f"| {r['function']} | {c['jelu']:.1f} µs / {c['jax.nn']:.1f} µs ({c['jelu'] / c['jax.nn']:.2f}x) "
            f"| {m['jelu']:.2f} s / {m['jax.nn']:.2f} s ({m['jelu'] / m['jax.nn']:.2f}x) "
            f"| {r['jaxpr_eqns']['jelu']} / {r['jaxpr_eqns']['jax.nn']} "
            f"| {r['grad_jaxpr_eqns']['jelu']} / {r['grad_jaxpr_eqns']['jax.nn']} |"
        )
    print("\n".join(lines))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"device": str(jax.devices()[0].device_kind), "jax": jax.__version__,
                       "layers": args.layers, "rows": rows, "table": lines}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
