"""What correct rounding in float32 through float64 would cost: accuracy and speed.

Run from the repository root::

    python -m benchmarks.f64_route                       # stride 1021, n = 2^16 ... 2^24
    python -m benchmarks.f64_route --stride 4099 --sizes 16,20 --repeats 5 --out /tmp/f64

A float32 result is correctly rounded when the value it is rounded from is
within less than its distance to the nearest midpoint between two float32s.
Some 2^28 float32 inputs of elu do not round trivially, so that distance gets
as small as about 2^-52 relative: deciding every rounding takes about 53 bits,
float64 or a float32 double word, on every element. This script measures the
two float64 routes next to jelu's float32 kernel and ``jax.nn.elu``:

- ``XLA float64 expm1``: ``x`` converted to float64, XLA's ``expm1`` (and
  ``exp`` for f'), alpha times it, rounded to float32;
- ``jelu float64 kernel``: ``jelu.elu`` on the float64 ``x``, rounded to
  float32.

Accuracy: elu with alpha 1 and 0.3, value and f', on every ``--stride``-th
negative float32 bit pattern, against jelu.testing's correctly rounded
references (as ``benchmarks.sweep``). A sample can show a route is not
correctly rounded, never that it is. Speed: jitted forward and
``value_and_grad`` of the sum, each at n = 2^s for s in ``--sizes``, medians
of ``--repeats`` interleaved repeats, ratios to ``jax.nn.elu`` in the same
run. Prints a markdown report and writes it to
``benchmarks/results/f64_route-<kind>.md`` (``--out DIR`` for another
folder). Bad command-line input: one line on stderr, exit 2.
"""

from __future__ import annotations

import datetime
import platform
import statistics
import sys
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

try:
    from jax import enable_x64  # JAX >= 0.8
except ImportError:  # JAX < 0.8 has it in jax.experimental
    from jax.experimental import enable_x64

import jelu
from benchmarks import _common
from jelu.testing import compare, correctly_rounded

SCRIPT = "f64_route"

# As jelu computes with them for float32 inputs: alpha rounded to float32
# (the routes and the references all use this value).
ALPHAS = (1.0, float(np.float32(0.3)))
ORDERS = {0: "value", 1: "f'"}
NEGATIVE_BITS = (0x80000000, 0xFF800000)  # -0.0 ... -inf (exclusive)


def _order(g: Callable[[jax.Array], jax.Array], order: int) -> Callable[[jax.Array], jax.Array]:
    """g itself (order 0) or its elementwise derivative (order 1)."""
    return jax.vmap(jax.grad(g)) if order == 1 else g


def _in_float64(g: Callable[[jax.Array], jax.Array]) -> Callable[[jax.Array], jax.Array]:
    """g applied to x converted to float64, its result rounded back to x's dtype."""
    def f(x: jax.Array) -> jax.Array:
        with enable_x64(True):
            return g(x.astype(jnp.float64)).astype(x.dtype)
    return f


def _xla64(order: int, alpha: float) -> Callable[[jax.Array], jax.Array]:
    def g(xd: jax.Array) -> jax.Array:  # d/dx written out: XLA's exp, not a derivative of expm1
        neg = alpha * (jnp.expm1(xd) if order == 0 else jnp.exp(xd))
        return jnp.where(xd > 0, xd if order == 0 else 1.0, neg)
    return _in_float64(g)


def _jelu64(order: int, alpha: float) -> Callable[[jax.Array], jax.Array]:
    return _in_float64(_order(lambda v: jelu.elu(v, alpha), order))


def _jelu32(order: int, alpha: float) -> Callable[[jax.Array], jax.Array]:
    return _order(lambda v: jelu.elu(v, alpha), order)


def _jax_nn(order: int, alpha: float) -> Callable[[jax.Array], jax.Array]:
    return _order(lambda v: jax.nn.elu(v, alpha), order)


ROUTES: dict[str, Callable[[int, float], Callable[[jax.Array], jax.Array]]] = {
    "jax.nn.elu": _jax_nn,
    "jelu.elu (float32 kernel)": _jelu32,
    "XLA float64 expm1": _xla64,
    "jelu float64 kernel": _jelu64,
}


def accuracy(stride: int) -> list[dict[str, Any]]:
    """Max ULP and results not correctly rounded per route, alpha and order."""
    bits = np.arange(*NEGATIVE_BITS, stride, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    x64 = x.astype(np.float64)
    rows = []
    for alpha in ALPHAS:
        for order, oname in ORDERS.items():
            ref = correctly_rounded("elu", order, x64, np.float32, alpha)
            for route, make in ROUTES.items():
                y = np.asarray(jax.jit(make(order, alpha))(jnp.asarray(x))).astype(np.float64)
                m = compare(x64, y, ref, np.float32)
                rows.append({"route": route, "alpha": alpha, "order": oname, "points": m["points"],
                             "max_ulp": m["max_ulp"], "not_correctly_rounded": m["not_correctly_rounded"]})
    return rows


def speed(sizes: Sequence[int], repeats: int) -> list[dict[str, Any]]:
    """Median seconds and ratio to jax.nn.elu per size, pass and route."""
    thunks: dict[tuple[int, str, str], Callable[[], Any]] = {}
    for s in sizes:
        x = jax.random.normal(jax.random.key(s), (2**s,), jnp.float32) * 3
        for route, make in ROUTES.items():
            f = make(0, 1.0)
            fwd = jax.jit(f).lower(x).compile()
            vg = jax.jit(jax.value_and_grad(lambda v, f=f: f(v).sum())).lower(x).compile()
            thunks[(s, "forward", route)] = lambda c=fwd, x=x: jax.block_until_ready(c(x))
            thunks[(s, "value_and_grad", route)] = lambda c=vg, x=x: jax.block_until_ready(c(x))
    samples = _common.interleaved_times(thunks, repeats, seed=0)
    med = {k: statistics.median(v) for k, v in samples.items()}
    return [{"log2_n": s, "pass": p, "route": r, "seconds": t, "ratio": t / med[(s, p, "jax.nn.elu")]}
            for (s, p, r), t in med.items()]


def markdown(acc: list[dict[str, Any]], spd: list[dict[str, Any]], stride: int, repeats: int,
             command: str) -> str:
    """The report: the machine and command, the accuracy table, the speed table."""
    dev = jax.devices()[0]
    lines = [
        "# Correct rounding through float64: accuracy and speed",
        "",
        f"{dev.device_kind} ({dev.platform}); host CPU {_common.cpu_model()}, {len(jax.devices())} device(s); "
        f"jax {jax.__version__}, Python {platform.python_version()}; "
        f"{datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}.",
        f"Command: `{command}`.",
        "",
        f"## Accuracy: elu, every {stride}th negative float32 bit pattern",
        "",
        "Cell: max ULP / results not correctly rounded. Subnormal inputs and results left out.",
        "",
        "| route | " + " | ".join(f"alpha {a:.8g}, {o}" for a in ALPHAS for o in ORDERS.values()) + " |",
        "|---|" + "--:|" * (len(ALPHAS) * len(ORDERS)),
    ]
    for route in ROUTES:
        cells = [f"{r['max_ulp']} / {r['not_correctly_rounded']:,}" for a in ALPHAS for o in ORDERS.values()
                 for r in acc if r["route"] == route and r["alpha"] == a and r["order"] == o]
        lines.append(f"| {route} | " + " | ".join(cells) + " |")
    points = {r["points"] for r in acc}
    lines += ["", f"Points per cell: {', '.join(f'{p:,}' for p in sorted(points))}.", "",
              f"## Speed: float32 elu, ratio to jax.nn.elu (median of {repeats} interleaved repeats)", "",
              "| route | pass | " + " | ".join(f"2^{s}" for s in sorted({r['log2_n'] for r in spd})) + " |",
              "|---|---|" + "--:|" * len({r["log2_n"] for r in spd})]
    for route in ROUTES:
        for p in ("forward", "value_and_grad"):
            cells = [f"{r['ratio']:.2f}x" for r in sorted(spd, key=lambda r: r["log2_n"])
                     if r["route"] == route and r["pass"] == p]
            lines.append(f"| {route} | {p} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(t) for t in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or any(not 4 <= s <= 28 for s in sizes):
        raise ValueError(f"expected comma-separated exponents from 4 to 28, got {text!r}")
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print the markdown report and write it; 2 on bad command-line input."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _common.parser(SCRIPT, __doc__.splitlines()[0])
    parser.add_argument("--stride", type=_common.positive_int, default=1021,
                        help="every STRIDE-th bit pattern (default 1021)")
    parser.add_argument("--sizes", default="16,20,22,24", help="log2 of the speed sizes (default 16,20,22,24)")
    parser.add_argument("--repeats", type=_common.positive_int, default=15,
                        help="interleaved repeats of the speed figures (default 15)")
    _common.add_out_argument(parser, f"{SCRIPT}-<kind>.md")
    args = parser.parse_args(argv)
    try:
        sizes = _sizes(args.sizes)
    except ValueError as exc:
        parser.error(f"--sizes: {exc}")
    out = _common.result_path(_common.out_dir(parser, args.out), SCRIPT, ".md")
    report = markdown(accuracy(args.stride), speed(sizes, args.repeats), args.stride, args.repeats,
                      _common.command(SCRIPT, argv))
    print(report, end="")
    _common.write_atomic(out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
