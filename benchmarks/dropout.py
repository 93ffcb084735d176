"""Alpha dropout's time against ordinary (inverted) dropout of the same shape and dtype.

Run from the repository root::

    python -m benchmarks.dropout [--n 1048576,16777216] [--rate 0.1] [--repeats 21] [--out DIR]

Both functions are jitted, take the same key (a fresh ``jax.random.fold_in`` of
one base key for every call, the same sequence for both) and draw their mask the
same way, ``jax.random.bernoulli(key, 1 - rate, x.shape)``:

* inverted dropout: ``where(keep, x * (1 / (1 - rate)), 0)`` in ``x``'s dtype
  (what Flax's ``nn.Dropout`` computes, with a multiplication);
* ``jelu.alpha_dropout``: ``where(keep, a x + b, a alpha' + b)``, in float32
  for bfloat16 ``x``, rounded once.

Each repeat times both, in alternating order (interleaved, so that a change in
the machine's load hits both), each over enough back-to-back calls to last
about 20 ms; the table gives the median time per call of each and the median
over repeats of the per-repeat ratio alpha / inverted. Prints the markdown
table and writes it, with the machine and the command, to
``benchmarks/results/dropout-<kind>.md`` (``--out DIR`` for another folder).
Bad command-line input: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp

import jelu
from benchmarks import _common

SCRIPT = "dropout"

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
BUDGET = 1.1  # the target: alpha dropout at most 1.1x inverted dropout


def inverted_dropout(key: jax.Array, x: jax.Array, rate: float) -> jax.Array:
    """Ordinary dropout as Flax computes it: keep with probability q, scale the kept by 1 / q."""
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x * (1.0 / (1.0 - rate)), jnp.zeros((), x.dtype))


def per_call_seconds(fn, keys, x, calls: int) -> float:
    """Mean seconds of one call of fn over ``calls`` back-to-back calls (after one untimed call)."""
    fn(keys[0], x).block_until_ready()
    start = time.perf_counter()
    for i in range(calls):
        out = fn(keys[i % len(keys)], x)
    out.block_until_ready()
    return (time.perf_counter() - start) / calls


def measure(n: int, dtype, rate: float, repeats: int) -> dict:
    """Median ms per call of both dropouts at size n, and the median per-repeat ratio."""
    alpha = jax.jit(lambda k, x: jelu.alpha_dropout(k, x, rate))
    inverted = jax.jit(lambda k, x: inverted_dropout(k, x, rate))
    x = jelu.selu(jax.random.normal(jax.random.key(0), (n,), jnp.float32)).astype(dtype)
    base = jax.random.key(1)
    keys = [jax.random.fold_in(base, i) for i in range(16)]
    once = min(per_call_seconds(f, keys, x, 1) for f in (alpha, inverted) for _ in range(2))
    calls = max(1, round(0.02 / max(once, 1e-6)))
    t_alpha, t_inv, ratios = [], [], []
    for r in range(repeats):
        order = [(alpha, t_alpha), (inverted, t_inv)]
        for fn, times in order if r % 2 == 0 else order[::-1]:
            times.append(per_call_seconds(fn, keys, x, calls))
        ratios.append(t_alpha[-1] / t_inv[-1])
    return {"inverted_ms": 1e3 * statistics.median(t_inv), "alpha_ms": 1e3 * statistics.median(t_alpha),
            "ratio": statistics.median(ratios), "calls": calls}


def parse_sizes(text: str) -> list[int]:
    """argparse type: comma-separated positive integers."""
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return sizes


def main(argv=None) -> int:
    """Time both dropouts at every size and dtype; print the table and write the report."""
    argv = list(sys.argv[1:] if argv is None else argv)
    p = _common.parser(SCRIPT, __doc__.split("\n\n")[0])
    p.add_argument("--n", type=parse_sizes, default=[2**20, 2**24],
                   help="elements per call, comma-separated (default: 1048576,16777216)")
    p.add_argument("--rate", type=float, default=0.1, help="dropout rate (default: 0.1)")
    p.add_argument("--repeats", type=_common.positive_int, default=21, help="interleaved repeats (default: 21)")
    _common.add_out_argument(p, f"{SCRIPT}-<kind>.md")
    args = p.parse_args(argv)
    if not 0 < args.rate < 1:
        p.error(f"--rate must be in (0, 1), got {args.rate}")
    out = _common.result_path(_common.out_dir(p, args.out), SCRIPT, ".md")

    rows = ["| dtype | n | inverted dropout (ms) | alpha dropout (ms) | alpha / inverted |",
            "|---|---:|---:|---:|---:|"]
    worst = 0.0
    for name, dtype in DTYPES.items():
        for n in args.n:
            m = measure(n, dtype, args.rate, args.repeats)
            worst = max(worst, m["ratio"])
            exp = n.bit_length() - 1
            size = f"2^{exp}" if n == 2**exp else str(n)
            rows.append(f"| {name} | {size} | {m['inverted_ms']:.3f} | {m['alpha_ms']:.3f} | {m['ratio']:.3f} |")
            print(f"{name} n={n}: {m['calls']} calls per timing", file=sys.stderr, flush=True)
    table = "\n".join(rows)
    device = jax.devices()[0]
    kind = _common.cpu_model() if device.platform == "cpu" else device.device_kind
    command = _common.command(SCRIPT, argv)
    report = "\n".join([
        "# Alpha dropout against inverted dropout",
        "",
        f"`{command}` on "
        f"{device.platform} ({kind}; {platform.machine()}, {os.cpu_count()} cores, {jax.device_count()} device(s)), "
        f"jax {jax.__version__}, jelu {jelu.__version__}, {datetime.date.today().isoformat()}.",
        f"Rate {args.rate}; both jitted, the same keys, one `jax.random.bernoulli` draw per element; "
        f"median time per call over {args.repeats} interleaved repeats, ratio = median of the "
        f"per-repeat ratios. Largest ratio: {worst:.3f} (the bar: {BUDGET}).",
        "",
        table,
        "",
    ])
    _common.write_atomic(out, report)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
