"""Call overhead of jelu against jax.nn: un-jitted calls, tracing and compiling.

Run from the repository root::

    python -m benchmarks.overhead [--layers 100] [--repeats 7] [--dtypes float32,bfloat16] [--out DIR]

Four measurements, each jelu next to ``jax.nn`` in the same run, interleaved:

1. an un-jitted call on 1,024 float32 (what eager code and ``jax.disable_jit``
   users pay per call), median over repeats of a loop of calls;
2. tracing and compiling ``jax.jit(jax.grad(loss))`` of an MLP with
   ``--layers`` layers of width 16, in each of ``--dtypes`` (fresh functions
   each time, so that no cache helps either side), median over repeats;
3. the instructions of that MLP's optimized HLO per layer (every instruction
   of every computation, fused ones included): XLA's compile time grows with
   them, about linearly;
4. the jaxpr equation count of one forward call, and of its gradient, counted
   recursively into nested jaxprs (what tracing and lowering walk).

Beside jelu's functions, ``plain elu`` is the README's ten-line ``custom_jvp``
definition (``jnp.expm1`` below 0, derivative ``jnp.exp``): what a custom rule
with ELU's exact derivative costs before any of jelu's accuracy work.

Prints a markdown table and writes the figures, with the table, as JSON to
``benchmarks/results/overhead-<kind>.json`` (``--out DIR`` for another
folder). Timings depend on the machine: only the ratios within one run mean
anything.
"""

from __future__ import annotations

import functools
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
DTYPES = ("float32", "bfloat16")


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def plain_elu(x, alpha=1.0):
    """The README's plain definition of ELU ("How it works"), as written there."""
    return jnp.where(x > 0, x, alpha * jnp.expm1(jnp.minimum(x, 0.0)))


@plain_elu.defjvp
def plain_elu_jvp(alpha, primals, tangents):
    (x,), (x_dot,) = primals, tangents
    deriv = jnp.where(x > 0, 1.0, alpha * jnp.exp(jnp.minimum(x, 0.0)))
    return plain_elu(x, alpha), deriv * x_dot


FUNCS = {
    "elu": (jelu.elu, jax.nn.elu),
    "selu": (jelu.selu, jax.nn.selu),
    "celu(alpha=0.5)": (lambda x: jelu.celu(x, 0.5), lambda x: jax.nn.celu(x, 0.5)),
    "plain elu (README)": (plain_elu, jax.nn.elu),
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


def hlo_instructions(hlo_text: str) -> int:
    """Instructions of an HLO module's text: the lines that define a value, in every computation."""
    return sum(1 for line in hlo_text.splitlines() if " = " in line and not line.lstrip().startswith("//"))


def eager_call_seconds(f, x, calls: int = 200) -> float:
    """Mean seconds of one un-jitted call of f(x) over ``calls`` back-to-back calls."""
    f(x).block_until_ready()
    t = time.perf_counter()
    for _ in range(calls):
        out = f(x)
    out.block_until_ready()
    return (time.perf_counter() - t) / calls


def mlp_compile(act, layers: int, dtype: str = "float32", width: int = 16) -> tuple[float, int]:
    """Seconds to trace, lower and compile jit(grad) of a fresh ``layers``-deep MLP with
    ``act`` in ``dtype``, and the instruction count of its optimized HLO."""
    keys = jax.random.split(jax.random.key(0), layers)
    params = [(jax.random.normal(k, (width, width)) / 4).astype(dtype) for k in keys]
    x = jnp.ones((8, width), dtype)

    def loss(params, x):  # a fresh function: nothing cached from a previous repeat
        for w in params:
            x = act(x @ w)
        return jnp.sum(x.astype(jnp.float32))

    t = time.perf_counter()
    compiled = jax.jit(jax.grad(loss)).lower(params, x).compile()
    seconds = time.perf_counter() - t
    return seconds, hlo_instructions(compiled.as_text())


def measure_function(name: str, mine, theirs, layers: int, repeats: int, dtypes) -> dict:
    """One function's row: eager call (float32), compile and HLO size per dtype, jaxpr sizes."""
    pair = (("jelu", mine), ("jax.nn", theirs))
    x = jnp.linspace(-5.0, 5.0, 1024, dtype=jnp.float32)
    call = {impl: [] for impl, _ in pair}
    comp = {(dt, impl): [] for dt in dtypes for impl, _ in pair}
    hlo = {}
    for _ in range(repeats):
        for impl, f in pair:
            call[impl].append(eager_call_seconds(f, x))
            for dt in dtypes:
                seconds, hlo[(dt, impl)] = mlp_compile(f, layers, dt)
                comp[(dt, impl)].append(seconds)
    return {
        "function": name,
        "eager_call_us": {k: statistics.median(v) * 1e6 for k, v in call.items()},
        "mlp_grad_compile_s": {dt: {impl: statistics.median(comp[(dt, impl)]) for impl, _ in pair}
                               for dt in dtypes},
        "mlp_grad_hlo_per_layer": {dt: {impl: hlo[(dt, impl)] / layers for impl, _ in pair} for dt in dtypes},
        "jaxpr_eqns": {impl: count_eqns(jax.make_jaxpr(f)(x)) for impl, f in pair},
        "grad_jaxpr_eqns": {impl: count_eqns(jax.make_jaxpr(jax.grad(lambda t, f=f: jnp.sum(f(t))))(x))
                            for impl, f in pair},
    }


def table(rows: list[dict], layers: int, dtypes) -> list[str]:
    """The markdown table: one line per function, compile and HLO columns per dtype."""
    head = ["function", "un-jitted call, 1,024 float32: jelu / jax.nn"]
    for dt in dtypes:
        head += [f"jit(grad), {layers}-layer MLP, {dt}: trace + compile, jelu / jax.nn",
                 f"optimized HLO per layer, {dt}: jelu / jax.nn"]
    head += ["jaxpr eqns, forward: jelu / jax.nn", "jaxpr eqns, grad: jelu / jax.nn"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "--:|" * (len(head) - 1)]
    for r in rows:
        c = r["eager_call_us"]
        cells = [r["function"], f"{c['jelu']:.1f} µs / {c['jax.nn']:.1f} µs ({c['jelu'] / c['jax.nn']:.2f}x)"]
        for dt in dtypes:
            m, h = r["mlp_grad_compile_s"][dt], r["mlp_grad_hlo_per_layer"][dt]
            cells += [f"{m['jelu']:.2f} s / {m['jax.nn']:.2f} s ({m['jelu'] / m['jax.nn']:.2f}x)",
                      f"{h['jelu']:.0f} / {h['jax.nn']:.0f}"]
        cells += [f"{r['jaxpr_eqns']['jelu']} / {r['jaxpr_eqns']['jax.nn']}",
                  f"{r['grad_jaxpr_eqns']['jelu']} / {r['grad_jaxpr_eqns']['jax.nn']}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv=None) -> int:
    """Measure every function, print the table, write the JSON report."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _common.parser(SCRIPT, __doc__.splitlines()[0])
    parser.add_argument("--layers", type=_common.positive_int, default=100,
                        help="layers of the MLP compiled (default 100)")
    parser.add_argument("--repeats", type=_common.positive_int, default=7,
                        help="interleaved repeats (default 7)")
    parser.add_argument("--dtypes", default=",".join(DTYPES),
                        help=f"comma-separated dtypes of the compiled MLP, of {', '.join(DTYPES)} "
                             f"(default {','.join(DTYPES)})")
    _common.add_out_argument(parser, f"{SCRIPT}-<kind>.json")
    args = parser.parse_args(argv)
    dtypes = tuple(d.strip() for d in args.dtypes.split(","))
    if not dtypes or any(d not in DTYPES for d in dtypes) or len(set(dtypes)) < len(dtypes):
        parser.error(f"--dtypes {args.dtypes!r}: give distinct dtypes of {', '.join(DTYPES)}, comma-separated")
    out = _common.result_path(_common.out_dir(parser, args.out), SCRIPT, ".json")
    rows = []
    for name, (mine, theirs) in FUNCS.items():
        rows.append(measure_function(name, mine, theirs, args.layers, args.repeats, dtypes))
        print(json.dumps(rows[-1]), flush=True)
    lines = table(rows, args.layers, dtypes)
    print("\n".join(lines))
    report = {"device": str(jax.devices()[0].device_kind), "jax": jax.__version__,
              "command": _common.command(SCRIPT, argv), "layers": args.layers, "dtypes": list(dtypes),
              "cpus": _common.cpus_available(), "rows": rows, "table": lines}
    _common.write_atomic(out, json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
