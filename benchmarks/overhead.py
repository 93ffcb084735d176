"""Call overhead of jelu against jax.nn: un-jitted calls, tracing and compiling.

Run from the repository root::

    python -m benchmarks.overhead [--layers 100] [--repeats 7] [--out DIR]

Three measurements, each jelu next to ``jax.nn`` in the same run, interleaved:

1. an un-jitted call on 1,024 float32 (what eager code and ``jax.disable_jit``
   users pay per call), median over repeats of a loop of calls;
2. tracing and compiling ``jax.jit(jax.grad(loss))`` of an MLP with
   ``--layers`` layers of width 16 (fresh functions each time, so that no cache
   helps either side);
3. the jaxpr equation count of one forward call, and of its gradient, counted
   recursively into nested jaxprs (what tracing and lowering walk).

Prints a markdown table and writes the figures, with the table, as JSON to
``benchmarks/results/overhead-<kind>.json`` (``--out DIR`` for another
folder). Timings depend on the machine: only the ratios within one run mean
anything.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import jax
import jax.numpy as jnp
from jax.extend.core import ClosedJaxpr, Jaxpr

import jelu
from benchmarks import _common

SCRIPT = "overhead"

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
    """Mean seconds of one un-jitted call of f(x) over ``calls`` back-to-back calls."""
    f(x).block_until_ready()
    t = time.perf_counter()
    for _ in range(calls):
        out = f(x)
    out.block_until_ready()
    return (time.perf_counter() - t) / calls


def mlp_compile_seconds(act, layers: int, width: int = 16) -> float:
    """Seconds to trace, lower and compile jit(grad) of a fresh ``layers``-deep MLP with ``act``."""
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
    """Measure every function, print the table, write the JSON report."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _common.parser(SCRIPT, __doc__.splitlines()[0])
    parser.add_argument("--layers", type=_common.positive_int, default=100,
                        help="layers of the MLP compiled (default 100)")
    parser.add_argument("--repeats", type=_common.positive_int, default=7,
                        help="interleaved repeats (default 7)")
    _common.add_out_argument(parser, f"{SCRIPT}-<kind>.json")
    args = parser.parse_args(argv)
    out = _common.result_path(_common.out_dir(parser, args.out), SCRIPT, ".json")
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
    report = {"device": str(jax.devices()[0].device_kind), "jax": jax.__version__,
              "command": _common.command(SCRIPT, argv), "layers": args.layers, "rows": rows, "table": lines}
    _common.write_atomic(out, json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
