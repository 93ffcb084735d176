"""Per-element op counts of jelu and jax.nn in XLA's optimized HLO: a portable cost proxy.

Run from the repository root::

    python -m benchmarks.opcount                      # print the table, write the reports
    python -m benchmarks.opcount --out DIR            # write the reports to DIR instead
    python -m benchmarks.opcount --check benchmarks/results/opcount-cpu.json
                                                      # exit 1 if a jelu count exceeds the budget's

The reports are ``benchmarks/results/opcount-cpu.{md,json}`` (the HLO is the
CPU backend's on any machine); the JSON is also jelu's op budget, which
``tests/test_opcount.py`` holds the kernel to.

For each function (elu, elu with alpha 0.3, elu with a traced float32 alpha,
selu, celu with alpha 0.5, celu with a traced alpha), dtype (float32,
bfloat16, float16) and pass (``fwd``: ``jax.jit(f)(x)``; ``fwd+bwd``: the
jitted ``jax.vjp(f, x)[1](g)[0]``; ``vg``: the jitted ``jax.value_and_grad``
of ``sum(f(x))`` in x, and for the traced rows of ``sum(f(x, alpha))`` in x
and a float32 alpha *per element* (alpha of x's shape: a learnable alpha's
value, f' and derivative in alpha, with alpha's own work counted per element);
and for the traced rows only, ``vg/channel``: the same with x of shape
(64, 64) and one alpha per channel (of shape (64,), as a model learns it),
where the work XLA does once per alpha counts as scalar ops),
the function is compiled for the CPU backend on n = 4096 elements and its optimized HLO
(``jax.jit(...).lower(...).compile().as_text()``) is counted:

* a *per-element op* is any HLO instruction, at top level or inside a called
  computation (followed recursively from the entry: fusions, calls, ...),
  whose result has exactly n elements, except ``parameter``, ``constant``,
  ``broadcast``, ``bitcast`` (the free reshape), ``bitcast-convert`` (a
  reinterpretation of the same bits, which compiles to no instruction),
  ``tuple``, ``get-tuple-element``, ``copy`` and ``fusion`` itself (its
  insides count instead);
* a *scalar op* is any other such instruction whose result is not n-shaped
  (work on alpha that is done once per call, not per element).

Every instruction counts as one op whatever it costs: a transcendental such as
``exponential``, ``exponential-minus-one`` or ``log`` is one op, like an
``add`` or a ``convert``. The counts are a proxy for accelerator cost (an
elementwise kernel is usually bound by memory, then by instruction count),
not a timing; they depend on the XLA version, so the JSON records it. Two
consequences: jax.nn's one ``exponential-minus-one`` becomes a polynomial of
its own in the backend's code generator, so the ratios overstate jelu's cost
(jelu has no per-element transcendental or division); and ``fwd+bwd``
returns only the gradient, so XLA drops the value's computation and it can
count less than ``fwd``.
"""

from __future__ import annotations

import json
import math
import platform
import re
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

import jelu
from benchmarks import _common

SCRIPT = "opcount"
#: The HLO counted is the CPU backend's whatever the machine, so the reports are named for it.
KIND = "cpu"

N = 4096
DTYPES = ("float32", "bfloat16", "float16")
PASSES = ("fwd", "fwd+bwd", "vg")
#: Passes of the traced rows only: value_and_grad with one alpha per channel of x, shaped (N // CHANNELS, CHANNELS).
CHANNEL_PASSES = ("vg/channel",)
CHANNELS = 64
FREE = {"parameter", "constant", "broadcast", "bitcast", "bitcast-convert", "tuple", "get-tuple-element", "copy", "fusion"}
# name: (jelu, jax.nn, traced): f(x), or f(x, alpha) with alpha a float32 argument of the jitted function
# (cast to x's dtype for jax.nn, which would otherwise promote a 16-bit x to a float32 result).
FUNCTIONS = {
    "elu": (jelu.elu, jax.nn.elu, False),
    "elu(alpha=0.3)": (lambda x: jelu.elu(x, 0.3), lambda x: jax.nn.elu(x, 0.3), False),
    "elu(alpha=traced)": (jelu.elu, lambda x, a: jax.nn.elu(x, a.astype(x.dtype)), True),
    "selu": (jelu.selu, jax.nn.selu, False),
    "celu(alpha=0.5)": (lambda x: jelu.celu(x, 0.5), lambda x: jax.nn.celu(x, 0.5), False),
    "celu(alpha=traced)": (jelu.celu, lambda x, a: jax.nn.celu(x, a.astype(x.dtype)), True),
}

_HEADER = re.compile(r"^(ENTRY\s+)?%?([\w.\-]+)\s*\(.*\{\s*$")
_INSTR = re.compile(r"^\s+(?:ROOT\s+)?%?[\w.\-]+\s*=\s*(\(.*?\)|\S+)\s+([a-z][\w\-]*)\((.*)$")
_CALLED = re.compile(r"\b(?:calls|to_apply|body|condition|branch_computations)=(\{[^}]*\}|%?[\w.\-]+)")


def count_ops(hlo_text: str, n: int) -> tuple[int, int]:
    """``(per-element ops, scalar ops)`` of an HLO module's text, as the module docstring defines them."""
    comps: dict[str, list[tuple[str, str, str]]] = {}
    entry, body = None, None
    for line in hlo_text.splitlines():
        if (m := _HEADER.match(line)) and not line[:1].isspace():
            body = comps.setdefault(m.group(2), [])
            entry = m.group(2) if m.group(1) else entry
        elif line.startswith("}"):
            body = None
        elif body is not None and (m := _INSTR.match(line)):
            body.append(m.groups())
    if entry is None:
        raise ValueError("no ENTRY computation in the HLO text")

    def walk(name: str) -> tuple[int, int]:
        per_element = scalar = 0
        for shape, opcode, rest in comps[name]:
            for called in _CALLED.findall(rest):
                for sub in called.strip("{}").replace("%", "").split(","):
                    p, s = walk(sub.strip())
                    per_element, scalar = per_element + p, scalar + s
            if opcode in FREE:
                continue
            dims = re.fullmatch(r"\w+\[([\d,]*)\](\{.*\})?", shape)
            size = math.prod(int(d) for d in dims.group(1).split(",") if d) if dims else None
            per_element, scalar = per_element + (size == n), scalar + (size != n)
        return per_element, scalar

    return walk(entry)


def _hlo(f, dtype: str, pass_: str, traced_alpha: bool) -> str:
    """Optimized CPU HLO of ``f`` (fwd), of its VJP (fwd+bwd) or of value_and_grad (vg, vg/channel) on n
    elements of ``dtype``."""
    cpu = jax.sharding.SingleDeviceSharding(jax.devices("cpu")[0])
    x = jax.ShapeDtypeStruct((N,), jnp.dtype(dtype), sharding=cpu)
    alpha = (jax.ShapeDtypeStruct((), jnp.float32, sharding=cpu),) if traced_alpha else ()
    if pass_ == "fwd":
        return jax.jit(f).lower(x, *alpha).compile().as_text()
    if pass_ == "vg/channel":  # in x and one alpha per channel (the last axis)
        x = jax.ShapeDtypeStruct((N // CHANNELS, CHANNELS), jnp.dtype(dtype), sharding=cpu)
        alpha = (jax.ShapeDtypeStruct((CHANNELS,), jnp.float32, sharding=cpu),)
    elif pass_ == "vg":  # in x and, if traced, a per-element alpha
        alpha = (jax.ShapeDtypeStruct((N,), jnp.float32, sharding=cpu),) if traced_alpha else ()
    if pass_ in ("vg", "vg/channel"):
        loss = lambda *args: f(*args).astype(jnp.float32).sum()  # noqa: E731
        vg = jax.value_and_grad(loss, argnums=tuple(range(1 + len(alpha))))
        return jax.jit(vg).lower(x, *alpha).compile().as_text()
    vjp = lambda x, g, *a: jax.vjp(lambda x: f(x, *a), x)[1](g)[0]  # noqa: E731
    return jax.jit(vjp).lower(x, x, *alpha).compile().as_text()


def measure(reference: bool = True) -> dict:
    """``{"<fn>|<dtype>|<pass>": {"jelu": int, "jax.nn": int, "jelu_scalar": int}}`` (no jax.nn without reference)."""
    counts = {}
    for name, (ours, theirs, traced) in FUNCTIONS.items():
        for dtype in DTYPES:
            for pass_ in PASSES + (CHANNEL_PASSES if traced else ()):
                per_element, scalar = count_ops(_hlo(ours, dtype, pass_, traced), N)
                row = {"jelu": per_element}
                if reference:
                    row["jax.nn"] = count_ops(_hlo(theirs, dtype, pass_, traced), N)[0]
                counts[f"{name}|{dtype}|{pass_}"] = {**row, "jelu_scalar": scalar}
    return counts


def report_paths(out: Path) -> tuple[Path, Path]:
    """The markdown and JSON reports in the folder ``out``."""
    return (_common.result_path(out, SCRIPT, ".md", kind=KIND),
            _common.result_path(out, SCRIPT, ".json", kind=KIND))


def markdown(report: dict) -> str:
    """The table of every count, with the ratio jelu / jax.nn."""
    lines = [
        f"Per-element ops in XLA's optimized CPU HLO, n = {N} (`python -m benchmarks.opcount`; "
        f"jax {report['jax']}, {report['machine']}). Scalar ops: per call, not per element.",
        "",
        "| function | dtype | pass | jelu | jax.nn | ratio | jelu scalar ops |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for key, c in report["counts"].items():
        ratio = f"{c['jelu'] / c['jax.nn']:.1f}x" if c["jax.nn"] else "-"
        lines.append(f"| {' | '.join(key.split('|'))} | {c['jelu']} | {c['jax.nn']} | {ratio} | {c['jelu_scalar']} |")
    return "\n".join(lines) + "\n"


def check(counts: dict, budget: dict) -> list[str]:
    """One message per jelu count above (or missing from) the budget's ``counts``."""
    problems = []
    for key, c in counts.items():
        allowed = budget.get(key, {}).get("jelu")
        if allowed is None:
            problems.append(f"{key}: jelu {c['jelu']} ops, no budget for this key")
        elif c["jelu"] > allowed:
            problems.append(f"{key}: jelu {c['jelu']} ops > budget {allowed}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Count and write the reports, or with ``--check`` compare with a budget; 2 on bad input."""
    parser = _common.parser(SCRIPT, __doc__.splitlines()[0])
    _common.add_out_argument(parser, f"{SCRIPT}-{KIND}.md and .json")
    parser.add_argument("--check", type=Path, metavar="BUDGET.json", help="compare jelu with a budget, write nothing")
    args = parser.parse_args(argv)
    if args.check is not None:
        try:
            budget = json.loads(args.check.read_text())["counts"]
            if not all(isinstance(c, dict) for c in budget.values()):
                raise TypeError("counts must map keys to objects")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            parser.error(f"cannot read a budget from {args.check}: {type(e).__name__}: {e}")
        problems = check(measure(reference=False), budget)
        for p in problems:
            print(p)
        return 1 if problems else 0
    md_path, json_path = report_paths(_common.out_dir(parser, args.out))
    start = time.perf_counter()
    report = {
        "machine": f"{platform.machine()} {platform.system()}, XLA CPU backend",
        "jax": jax.__version__,
        "counts": measure(),
    }
    text = markdown(report)
    print(text, end="")
    _common.write_atomic(md_path, text)
    _common.write_atomic(json_path, json.dumps(report, indent=1) + "\n")
    print(f"wrote {md_path} and {json_path} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
