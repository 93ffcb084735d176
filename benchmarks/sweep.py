"""Exhaustive float32 accuracy sweep of jelu against correctly rounded references.

Run from the repository root::

    python -m benchmarks.sweep                          # all 2^32 bit patterns, every case
    python -m benchmarks.sweep --sign negative          # x <= 0 only (-0.0 and the negatives)
    python -m benchmarks.sweep --stride 4099            # every 4099th bit pattern (CI)
    python -m benchmarks.sweep --functions celu --alphas 0.3 --orders 1,2 --out /tmp/celu
    python -m benchmarks.sweep --jobs 16                # on a 16-core machine

Accelerators are covered by ``python -m benchmarks.device_check``, which
compares their results with the CPU's bit for bit.

For each function (elu and celu with every ``--alphas`` value, selu), alpha
and order (0 = value, 1 = f', 2 = f''), every ``--stride``-th float32 bit
pattern of the chosen sign range is evaluated by jitted jelu on the CPU in
chunks (``--jobs N`` spreads blocks of them over N processes) and compared
with the correctly rounded float32 result of :mod:`jelu.testing`: a float64
formula with a proven relative error bound, recomputed in mpmath at 50
digits wherever that bound cannot decide the rounding.

Per case it counts the points checked, results not correctly rounded (round to
nearest even), the largest distance in ULPs and the x where it occurs. Points
whose input or correctly rounded result is subnormal are outside the claim
(XLA flushes subnormals on CPU) and are counted apart, as are non-finite bit
patterns (skipped). It prints a markdown table and writes it, with the
figures as JSON, to ``benchmarks/results/sweep[-<tag>]-cpu.{md,json}`` (the
sweep runs on the CPU; ``--out DIR`` for another folder; the tag names the functions swept when not
all, the sign when not all and the stride when not 1, e.g.
``sweep-negative-cpu.md``, ``sweep-selu-positive-cpu.json``), shows progress with an ETA on stderr, and estimates how long a stride-1 sweep
of the same range would take. ``--max-ulp K`` makes the exit code 1 if any
case is worse than K ULP (``--max-ulp 0``: the correct-rounding bar). Bad
command-line input: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import jax
import numpy as np

import jelu
from benchmarks import _common
from jelu.testing import compare, correctly_rounded, derivative

SCRIPT = "sweep"
SCHEMA_VERSION = 1
FUNCTIONS = ("elu", "selu", "celu")
ALPHA_FUNCTIONS = ("elu", "celu")  # selu has fixed constants
DEFAULT_ALPHAS = (1.0, 2.0, 0.3)
ORDER_NAMES = {0: "value", 1: "f'", 2: "f''"}
# Bit-pattern ranges [first, last] of float32 by sign; "negative" includes -0.0.
SIGN_RANGES = {
    "all": (0x00000000, 0xFFFFFFFF),
    "negative": (0x80000000, 0xFFFFFFFF),
    "positive": (0x00000000, 0x7FFFFFFF),
}
DEFAULT_CHUNK = 2**20  # bit patterns per jitted call and reference batch (fastest measured)
CHUNKS_PER_BLOCK = 16  # chunks per unit of work (and of progress)
MAX_CHUNK = 2**26
PROGRESS_INTERVAL_S = 10.0
FLOAT32_TINY = float(np.finfo(np.float32).tiny)
EXIT_WORSE_THAN_MAX_ULP = 1


@dataclass(frozen=True)
class Case:
    """One swept function, alpha (as the float32 the kernel uses) and derivative order."""

    function: str
    alpha: float
    order: int

    @property
    def label(self) -> str:
        alpha = "" if self.function == "selu" else f"(alpha={self.alpha:.9g})"
        return f"{self.function}{alpha} {ORDER_NAMES[self.order]}"


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def _csv(kind: Callable[[str], Any], what: str) -> Callable[[str], tuple]:
    def parse(text: str) -> tuple:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {what}, got {text!r}")
        return tuple(kind(t) for t in items)

    return parse


def _function(text: str) -> str:
    if text not in FUNCTIONS:
        raise argparse.ArgumentTypeError(f"unknown function {text!r}; choose from {','.join(FUNCTIONS)}")
    return text


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"alpha must be a number, got {text!r}") from None
    a32 = float(np.float32(value)) if math.isfinite(value) else value
    if not (math.isfinite(a32) and a32 > 0):
        raise argparse.ArgumentTypeError(f"alpha must be finite and > 0 in float32, got {text!r}")
    return a32


def _order(text: str) -> int:
    if text not in ("0", "1", "2"):
        raise argparse.ArgumentTypeError(f"order must be 0, 1 or 2, got {text!r}")
    return int(text)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse and validate the command line; exit 2 with one line on bad input."""
    parser = _common.parser(SCRIPT, "Exhaustive (or strided) float32 sweep of jelu against correctly "
                                    "rounded references.")
    parser.add_argument("--functions", type=_csv(_function, "functions"), default=FUNCTIONS,
                        help="comma-separated subset of elu,selu,celu (default: all)")
    parser.add_argument("--alphas", type=_csv(_alpha, "alphas"), default=DEFAULT_ALPHAS,
                        help="alphas of elu and celu, each rounded to float32 (default: 1,2,0.3)")
    parser.add_argument("--orders", type=_csv(_order, "orders"), default=(0, 1, 2),
                        help="derivative orders: 0 value, 1 f', 2 f'' (default: 0,1,2)")
    parser.add_argument("--sign", choices=tuple(SIGN_RANGES), default="all",
                        help="bit patterns swept: all, negative (x <= 0) or positive (default: all)")
    parser.add_argument("--stride", type=_common.positive_int_up_to(2**32), default=1,
                        help="take every STRIDE-th bit pattern (default: 1, every one)")
    parser.add_argument("--chunk", type=_common.positive_int_up_to(MAX_CHUNK), default=DEFAULT_CHUNK,
                        help=f"bit patterns per batch (default: {DEFAULT_CHUNK})")
    parser.add_argument("--jobs", type=_common.positive_int_up_to(1024), default=1,
                        help="worker processes (default: 1; e.g. the number of CPU cores)")
    parser.add_argument("--max-ulp", type=int, default=None,
                        help="exit 1 if any case is more than this many ULP off (default: no check)")
    _common.add_out_argument(parser, f"{SCRIPT}[-<tag>]-cpu.md and .json")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if args.max_ulp is not None and args.max_ulp < 0:
        parser.error(f"--max-ulp: must be >= 0, got {args.max_ulp}")
    args.out = _common.out_dir(parser, args.out)
    return args


def report_tag(functions: Sequence[str], sign: str, stride: int) -> str:
    """The part of the report's name that says what was swept: the functions when
    not all, the sign when not all, the stride when not 1 (e.g. ``selu-positive``)."""
    parts = []
    if set(functions) != set(FUNCTIONS):
        parts.append("+".join(f for f in FUNCTIONS if f in functions))
    if sign != "all":
        parts.append(sign)
    if stride != 1:
        parts.append(f"stride{stride}")
    return "-".join(parts)


def cases(functions: Sequence[str], alphas: Sequence[float], orders: Sequence[int]) -> list[Case]:
    """Every (function, alpha, order) to sweep, selu once (it has no alpha).

    Each alpha is rounded to float32 first: the kernel computes with alpha in
    x's dtype, so that is the alpha whose function the reference must be.
    """
    alphas = tuple(dict.fromkeys(float(np.float32(a)) for a in alphas))
    out = []
    for name in FUNCTIONS:
        if name not in functions:
            continue
        for alpha in (alphas if name in ALPHA_FUNCTIONS else (1.0,)):
            out += [Case(name, alpha, order) for order in sorted(set(orders))]
    return out


# --------------------------------------------------------------------------
# Sweeping
# --------------------------------------------------------------------------


def bit_patterns(first: int, last: int, stride: int, chunk: int, start: int = 0, stop: int | None = None):
    """Yield the float32 bit patterns first + k stride <= last, for k in [start, stop), ``chunk`` at a time."""
    count = pattern_count(first, last, stride)
    stop = count if stop is None else min(stop, count)
    for k0 in range(start, stop, chunk):
        k = np.arange(k0, min(k0 + chunk, stop), dtype=np.uint64)
        yield (first + k * stride).astype(np.uint32)


def pattern_count(first: int, last: int, stride: int) -> int:
    return (last - first) // stride + 1


class Kernel:
    """Jitted ``derivative(jelu f, order)`` on the CPU at a fixed chunk size (padded), one compile per case."""

    def __init__(self, case: Case, chunk: int) -> None:
        f = getattr(jelu, case.function)
        kw = {} if case.function == "selu" else {"alpha": case.alpha}
        self.chunk = chunk
        self.device = jax.devices("cpu")[0]
        self.fn = jax.jit(derivative(lambda v: f(v, **kw), case.order))

    def __call__(self, x32: np.ndarray) -> np.ndarray:
        n = x32.size
        padded = np.zeros(self.chunk, np.float32)
        padded[:n] = x32
        return np.asarray(self.fn(jax.device_put(padded, self.device)))[:n]


def new_totals() -> dict[str, Any]:
    return {"patterns": 0, "non_finite_skipped": 0, "points": 0, "not_correctly_rounded": 0,
            "max_ulp": 0, "worst_x": None, "subnormal_inputs": 0, "subnormal_results": 0,
            "subnormal_ok": True, "mpmath_points": 0}


def sweep_chunk(case: Case, kernel: Kernel, bits: np.ndarray, totals: dict[str, Any]) -> None:
    """Check one chunk of bit patterns and add its counts to ``totals``."""
    x32 = bits.view(np.float32)
    finite = np.isfinite(x32)
    totals["patterns"] += int(bits.size)
    totals["non_finite_skipped"] += int(bits.size - finite.sum())
    x32 = x32[finite]
    if not x32.size:
        return
    x = x32.astype(np.float64)
    y = kernel(x32).astype(np.float64)
    stats: dict[str, int] = {}
    ref = correctly_rounded(case.function, case.order, x, np.float32, case.alpha, stats=stats)
    m = compare(x, y, ref, np.float32)
    sub_in = (np.abs(x) < FLOAT32_TINY) & (x != 0)
    totals["subnormal_inputs"] += int(sub_in.sum())
    totals["subnormal_results"] += m["subnormal_points"] - int(sub_in.sum())
    totals["subnormal_ok"] &= m["subnormal_ok"]
    totals["points"] += m["points"]
    totals["not_correctly_rounded"] += m["not_correctly_rounded"]
    totals["mpmath_points"] += stats.get("mpmath_points", 0)
    if m["points"] and (totals["worst_x"] is None or m["max_ulp"] > totals["max_ulp"]):
        totals["max_ulp"], totals["worst_x"] = m["max_ulp"], m["worst_x"]


def merge_totals(totals: dict[str, Any], part: dict[str, Any]) -> None:
    """Add the counts of ``part`` (another range of the same case) to ``totals``."""
    for key in ("patterns", "non_finite_skipped", "points", "not_correctly_rounded",
                "subnormal_inputs", "subnormal_results", "mpmath_points"):
        totals[key] += part[key]
    totals["subnormal_ok"] &= part["subnormal_ok"]
    if part["worst_x"] is not None and (totals["worst_x"] is None or part["max_ulp"] > totals["max_ulp"]):
        totals["max_ulp"], totals["worst_x"] = part["max_ulp"], part["worst_x"]


_KERNELS: dict[tuple[Case, int], Kernel] = {}  # per process: one compiled kernel per case


def _kernel(case: Case, chunk: int) -> Kernel:
    """The compiled kernel of ``case`` in this process (compiled and run once on first use)."""
    if (case, chunk) not in _KERNELS:
        kernel = Kernel(case, chunk)
        kernel(np.zeros(1, np.float32))  # compile now, outside the timed sweep
        _KERNELS[(case, chunk)] = kernel
    return _KERNELS[(case, chunk)]


def sweep_block(case: Case, first: int, last: int, stride: int, chunk: int,
                start: int, stop: int) -> tuple[dict[str, Any], float]:
    """Totals of one case over the patterns first + k stride, k in [start, stop), and the
    seconds they took (compilation excluded)."""
    kernel = _kernel(case, min(chunk, pattern_count(first, last, stride)))
    totals = new_totals()
    t0 = time.perf_counter()
    for bits in bit_patterns(first, last, stride, chunk, start, stop):
        sweep_chunk(case, kernel, bits, totals)
    return totals, time.perf_counter() - t0


class Progress:
    """Progress lines with an ETA on stderr, at most every PROGRESS_INTERVAL_S seconds."""

    def __init__(self, total_patterns: int, quiet: bool) -> None:
        self.total, self.done, self.quiet = total_patterns, 0, quiet
        self.start = self.last = time.perf_counter()

    def update(self, patterns: int, label: str) -> None:
        self.done += patterns
        now = time.perf_counter()
        if self.quiet or now - self.last < PROGRESS_INTERVAL_S:
            return
        self.last = now
        elapsed = now - self.start
        eta = elapsed / self.done * (self.total - self.done)
        sys.stderr.write(f"  {label}: {self.done / self.total:6.1%} of {self.total:,} patterns, "
                         f"{elapsed:.0f} s elapsed, ETA {eta:.0f} s\n")
        sys.stderr.flush()


def _blocks(per_case: int, chunk: int) -> list[tuple[int, int]]:
    size = chunk * CHUNKS_PER_BLOCK
    return [(k, min(k + size, per_case)) for k in range(0, per_case, size)]


def run_sweep(all_cases: list[Case], first: int, last: int, stride: int, chunk: int,
              quiet: bool, jobs: int = 1) -> list[dict[str, Any]]:
    """Sweep every case in blocks of patterns (in ``jobs`` worker processes if > 1);
    one result row per case, with the seconds its blocks took (summed over workers,
    compilation excluded)."""
    per_case = pattern_count(first, last, stride)
    blocks = _blocks(per_case, chunk)
    progress = Progress(per_case * len(all_cases), quiet)
    totals = {case: new_totals() for case in all_cases}
    seconds = {case: 0.0 for case in all_cases}
    parts: dict[Case, dict[int, dict[str, Any]]] = {case: {} for case in all_cases}
    tasks = [(case, i) for case in all_cases for i in range(len(blocks))]

    def record(case: Case, i: int, part: dict[str, Any], took: float) -> None:
        parts[case][i] = part
        seconds[case] += took
        progress.update(blocks[i][1] - blocks[i][0], case.label)
        if len(parts[case]) == len(blocks):  # merged in block order: the same worst x for any --jobs
            for j in range(len(blocks)):
                merge_totals(totals[case], parts[case].pop(j))
            if not quiet:
                r = totals[case]
                sys.stderr.write(f"  done {case.label}: {r['points']:,} points, max {r['max_ulp']} ULP, "
                                 f"{r['not_correctly_rounded']:,} not correctly rounded\n")
                sys.stderr.flush()

    if jobs == 1:
        for case, i in tasks:
            record(case, i, *sweep_block(case, first, last, stride, chunk, *blocks[i]))
    else:
        with _worker_pool(jobs) as pool:
            futures = {pool.submit(sweep_block, case, first, last, stride, chunk, *blocks[i]): (case, i)
                       for case, i in tasks}
            for future in concurrent.futures.as_completed(futures):
                record(*futures[future], *future.result())
    rows = []
    for case in all_cases:
        t = totals[case]
        rows.append({"function": case.function, "alpha": case.alpha if case.function != "selu" else None,
                     "order": case.order, "order_name": ORDER_NAMES[case.order], "label": case.label,
                     **t,
                     "share_not_correctly_rounded": t["not_correctly_rounded"] / max(t["points"], 1),
                     "seconds": seconds[case]})
    return rows


def _worker_pool(jobs: int) -> concurrent.futures.ProcessPoolExecutor:
    """Fresh processes (JAX is not fork-safe) that see only the CPU, one XLA thread each."""
    saved = {k: os.environ.get(k) for k in ("JAX_PLATFORMS", "XLA_FLAGS")}
    os.environ["JAX_PLATFORMS"] = "cpu"
    os.environ["XLA_FLAGS"] = " ".join(filter(None, [saved["XLA_FLAGS"], "--xla_cpu_multi_thread_eigen=false",
                                                      "intra_op_parallelism_threads=1"]))
    try:
        pool = concurrent.futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"))
        pool.submit(int).result()  # start the workers while the environment is set
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return pool


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def markdown(result: dict[str, Any]) -> str:
    """The table of every case, with the run's command and machine, and the stride-1 estimate."""
    meta = result["meta"]
    lines = [
        f"float32 sweep: `{meta['command']}`; sign {meta['sign']}, stride {meta['stride']} "
        f"({meta['patterns_per_case']:,} bit patterns per case), jelu on the CPU, {meta['jobs']} process(es), "
        f"jax {meta['versions']['jax']}, jelu {meta['versions']['jelu']}; {meta['date']}; "
        f"{meta['total_seconds']:.0f} s.",
        "",
        "| function | order | points | not CR | share not CR | max ULP | worst x | subnormal in / out "
        "| mpmath | s |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in result["cases"]:
        name = r["function"] if r["alpha"] is None else f"{r['function']} (alpha {r['alpha']:.9g})"
        worst = "-" if r["worst_x"] is None or r["max_ulp"] == 0 else f"{r['worst_x']:.9g}"
        lines.append(
            f"| {name} | {r['order_name']} | {r['points']:,} | {r['not_correctly_rounded']:,} "
            f"| {r['share_not_correctly_rounded']:.4%} | {r['max_ulp']} | {worst} "
            f"| {r['subnormal_inputs']:,} / {r['subnormal_results']:,}{'' if r['subnormal_ok'] else ' (!)'} "
            f"| {r['mpmath_points']:,} | {r['seconds']:.1f} |")
    lines += [
        "",
        "Points: finite inputs whose input and correctly rounded result are normal or zero. "
        "Subnormal inputs/results are outside the claim (XLA flushes them; there 0 or the reference "
        "is accepted, `(!)` if not). mpmath: points the float64 bound could not decide.",
        f"Estimated stride-1 sweep of the same range: {meta['estimated_stride1_seconds_per_case'] / 60:.1f} "
        f"min per case in one process, {meta['estimated_stride1_seconds_total'] / 3600:.2f} h for all "
        f"{len(result['cases'])} cases with --jobs {meta['jobs']} (this machine, extrapolated from "
        "this run's rate per process).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sweep, print the table, write markdown and JSON; the exit code reflects ``--max-ulp``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    first, last = SIGN_RANGES[args.sign]
    all_cases = cases(args.functions, args.alphas, args.orders)
    per_case = pattern_count(first, last, args.stride)
    if not args.quiet:
        sys.stderr.write(f"sweep: {len(all_cases)} cases x {per_case:,} bit patterns "
                         f"(sign {args.sign}, stride {args.stride})\n")
    start = time.perf_counter()
    rows = run_sweep(all_cases, first, last, args.stride, args.chunk, args.quiet, args.jobs)
    total = time.perf_counter() - start
    full_patterns = pattern_count(first, last, 1)
    rate = sum(r["patterns"] for r in rows) / max(sum(r["seconds"] for r in rows), 1e-9)  # patterns per second
    machine = _common.describe_machine(SCRIPT, argv)
    result = {
        "schema_version": SCHEMA_VERSION,
        "meta": {
            "date": machine["date"],
            "command": machine["command"],
            "sign": args.sign, "stride": args.stride, "chunk": args.chunk,
            "first_pattern": first, "last_pattern": last, "patterns_per_case": per_case,
            "cpu": machine["cpu_model"],
            "os": machine["os"],
            "versions": machine["versions"],
            "total_seconds": total,
            "estimated_stride1_seconds_per_case": full_patterns / rate,
            "estimated_stride1_seconds_total": full_patterns / rate * len(rows) / args.jobs,
            "jobs": args.jobs,
            "max_ulp_allowed": args.max_ulp,
        },
        "cases": rows,
    }
    report = markdown(result)
    tag = report_tag(args.functions, args.sign, args.stride)
    _common.write_atomic(_common.result_path(args.out, SCRIPT, ".json", tag=tag, kind="cpu"),
                         json.dumps(result, indent=2) + "\n")
    _common.write_atomic(_common.result_path(args.out, SCRIPT, ".md", tag=tag, kind="cpu"), report)
    print(report, end="")
    if args.max_ulp is not None and any(r["max_ulp"] > args.max_ulp for r in rows):
        return EXIT_WORSE_THAN_MAX_ULP
    return 0


if __name__ == "__main__":
    sys.exit(main())
