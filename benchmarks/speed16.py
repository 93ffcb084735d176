"""Per-element ops and speed of the 16-bit kernel (``jelu/_kernel16.py``) against jax.nn.

Run from the repository root::

    python -m benchmarks.speed16              # ops and times; writes benchmarks/results/speed16-cpu.md
    python -m benchmarks.speed16 --ops-only   # the op counts alone (seconds)
    python -m benchmarks.speed16 --repeats 5  # fewer timed calls

The kernel is wrapped in a small ``jax.custom_jvp`` per function, as jelu
wraps its kernels (the JVP multiplies the tangent by the derivative the kernel
returns; a traced alpha's tangent by the kernel's float32 derivatives in
alpha; the 16-bit outputs pass an optimization barrier, as jelu's residuals do).
Op counts: ``benchmarks.opcount.count_ops`` on the optimized CPU HLO of the
jitted forward pass and of ``jax.value_and_grad`` of the sum (in x, and in x
and alpha for a per-element alpha), n = 4096, for the kernel and jax.nn
(``python -m benchmarks.opcount`` counts jelu's public functions). Times:
bfloat16, 2^20 and 2^22 elements, forward (the value) and forward+backward
(``value_and_grad`` in x), the median of interleaved calls
(:func:`benchmarks._common.interleaved_times`), and the kernel's time over
jax.nn's. The load average is recorded: other work on a shared machine slows
interleaved candidates alike only on average.
"""

from __future__ import annotations

import os
import statistics
import sys

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import _common
from benchmarks.opcount import count_ops
from jelu import _kernel16 as k16

SCRIPT = "speed16"
KIND = "cpu"
N_OPS = 4096
SIZES = (2**20, 2**22)


def _barrier(outs):
    return jax.lax.optimization_barrier(outs)


def elu_wrapper(alpha=None):
    """``f(x)``: elu with a static alpha (None is 1) as a custom_jvp over the kernel."""
    @jax.custom_jvp
    def kernel(x):
        return k16.elu(x, alpha)

    @kernel.defjvp
    def _jvp(primals, tangents):
        (x,), (dx,) = primals, tangents
        value, deriv = _barrier(kernel(x))
        return (value, deriv), (deriv * dx, jnp.where(x > 0, 0, deriv) * dx)

    return lambda x: kernel(x)[0]


def elu_traced_wrapper():
    """``f(x, alpha)``: elu with a traced float32 alpha, differentiable in both."""
    @jax.custom_jvp
    def kernel(x, alpha):
        return k16.elu(x, alpha)

    @kernel.defjvp
    def _jvp(primals, tangents):
        (x, alpha), (dx, dalpha) = primals, tangents
        value, deriv, d_value, d_deriv = k16.elu(x, alpha, partials=True)
        value, deriv = _barrier((value, deriv))
        dt = x.dtype
        return (value, deriv), (deriv * dx + (d_value * dalpha).astype(dt),
                                jnp.where(x > 0, 0, deriv) * dx + (d_deriv * dalpha).astype(dt))

    return lambda x, alpha: kernel(x, alpha)[0]


def selu_wrapper():
    """``f(x)``: selu as a custom_jvp over the kernel."""
    @jax.custom_jvp
    def kernel(x):
        return k16.selu(x)

    @kernel.defjvp
    def _jvp(primals, tangents):
        (x,), (dx,) = primals, tangents
        value, deriv = _barrier(kernel(x))
        return (value, deriv), (deriv * dx, jnp.where(x > 0, 0, deriv) * dx)

    return lambda x: kernel(x)[0]


def celu_wrapper(alpha: float):
    """``f(x)``: celu with a static alpha as a custom_jvp over the kernel (value, f', f'')."""
    @jax.custom_jvp
    def kernel(x):
        return k16.celu(x, alpha)

    @kernel.defjvp
    def _jvp(primals, tangents):
        (x,), (dx,) = primals, tangents
        value, deriv, deriv2 = _barrier(kernel(x))
        third = jnp.where(x > 0, 0, deriv2 / np.asarray(alpha, x.dtype))
        return (value, deriv, deriv2), (deriv * dx, deriv2 * dx, third * dx)

    return lambda x: kernel(x)[0]


# name -> (kernel16, jax.nn, alpha is a per-element argument)
CASES = {
    "elu": (elu_wrapper(), jax.nn.elu, False),
    "selu": (selu_wrapper(), jax.nn.selu, False),
    "celu(alpha=0.5)": (celu_wrapper(0.5), lambda x: jax.nn.celu(x, 0.5), False),
    "elu(alpha=0.3)": (elu_wrapper(0.3), lambda x: jax.nn.elu(x, 0.3), False),
    "elu(alpha=per-element)": (elu_traced_wrapper(), lambda x, a: jax.nn.elu(x, a.astype(x.dtype)), True),
}


def programs(f, per_element: bool):
    """The forward pass and value_and_grad of the sum (in x, and alpha when it is an argument)."""
    argnums = (0, 1) if per_element else 0
    total = lambda *a: jnp.sum(f(*a).astype(jnp.float32))
    return f, jax.value_and_grad(total, argnums=argnums)


def args_for(n: int, dtype, per_element: bool, concrete: bool = False):
    if not concrete:
        x = jax.ShapeDtypeStruct((n,), jnp.dtype(dtype))
        return (x, jax.ShapeDtypeStruct((n,), jnp.float32)) if per_element else (x,)
    x = jax.random.normal(jax.random.key(0), (n,), jnp.float32) * 3
    args = (x.astype(dtype),)
    return args + (jnp.full((n,), 0.7, jnp.float32),) if per_element else args


def op_counts() -> dict:
    """``{(case, dtype): {impl: (fwd, value_and_grad)}}``."""
    out = {}
    for name, (ours, nn, per_element) in CASES.items():
        for dtype in ("bfloat16", "float16"):
            args = args_for(N_OPS, dtype, per_element)
            row = {}
            for impl, f in (("kernel16", ours), ("jax.nn", nn)):
                row[impl] = tuple(count_ops(jax.jit(p).lower(*args).compile().as_text(), N_OPS)[0]
                                  for p in programs(f, per_element))
            out[(name, dtype)] = row
    return out


def timings(repeats: int) -> dict:
    """``{(case, n, pass): {impl: median seconds}}`` in bfloat16."""
    out = {}
    for name, (ours, nn, per_element) in CASES.items():
        for n in SIZES:
            args = args_for(n, jnp.bfloat16, per_element, concrete=True)
            for i, pass_ in enumerate(("fwd", "fwd+bwd")):
                thunks = {impl: _common.compiled_thunk(programs(f, False)[i], *args)
                          for impl, f in (("kernel16", ours), ("jax.nn", nn))}
                samples = _common.interleaved_times(thunks, repeats)
                out[(name, n, pass_)] = {k: statistics.median(v) for k, v in samples.items()}
    return out


def markdown(counts: dict, times: dict | None, load: tuple) -> str:
    """The report."""
    lines = [(f"The 16-bit kernel against jax.nn (`python -m benchmarks.speed16`; jax {jax.__version__}, "
             f"{_common.cpu_model()}, {_common.cpus_available()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} "
             "at the start and end)."), "",
             "Per-element ops in the optimized CPU HLO, n = 4096, forward / value_and_grad:", "",
             "| function | dtype | kernel16 | jax.nn |", "|---|---|--:|--:|"]
    for (name, dtype), row in counts.items():
        lines.append(f"| {name} | {dtype} | " + " | ".join(f"{a} / {b}" for a, b in row.values()) + " |")
    if times:
        lines += ["", "bfloat16, median time (ms) of interleaved calls:", "",
                  "| function | n | pass | kernel16 | jax.nn | kernel16 / jax.nn |", "|---|--:|---|--:|--:|--:|"]
        for (name, n, pass_), t in times.items():
            lines.append(f"| {name} | 2^{n.bit_length() - 1} | {pass_} | {t['kernel16'] * 1e3:.2f} | "
                         f"{t['jax.nn'] * 1e3:.2f} | {t['kernel16'] / t['jax.nn']:.2f}x |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Count, time, print and write the report."""
    parser = _common.parser(SCRIPT, __doc__.splitlines()[0])
    _common.add_out_argument(parser, f"{SCRIPT}-{KIND}.md")
    parser.add_argument("--ops-only", action="store_true", help="count ops only (no timing, no report)")
    parser.add_argument("--repeats", type=_common.positive_int, default=21, help="timed calls per candidate")
    args = parser.parse_args(argv)
    start_load = os.getloadavg()
    counts = op_counts()
    times = None if args.ops_only else timings(args.repeats)
    text = markdown(counts, times, (start_load[0], os.getloadavg()[0]))
    print(text, end="")
    if not args.ops_only:
        path = _common.result_path(_common.out_dir(parser, args.out), SCRIPT, ".md", kind=KIND)
        _common.write_atomic(path, text)
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
