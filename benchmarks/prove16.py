"""Prove the 16-bit kernel correctly rounded, fused or not, by enumerating every input and every fusion.

Run from the repository root::

    python -m benchmarks.prove16              # every input; writes benchmarks/results/prove16-cpu.md
    python -m benchmarks.prove16 --quick      # one input in 61 (a smoke test, as the tests run it)

The kernel (``jelu/_kernel16.py``) is written once against an ``ops`` object.
Here it runs on NumPy float32 arrays (:class:`EmuOps`) where every
``ops.madd(a, b, c)`` that XLA may contract into a fused multiply-add is
evaluated either unfused, ``fl(fl(a b) + c)``, or fused, ``fl(a b + c)``
rounded once (``a b`` is exact in float64; where the float64 sum is a float32
midpoint and not exact, its TwoSum error decides the direction). Each run
takes one *plan*, the fused/unfused choice of every site, and every one of the
2^sites plans is run on all 65,536 inputs of each 16-bit dtype. A madd marked
exact (its product is exact) is evaluated both ways in every plan and must
agree; it is not a site.

For each correctly-rounded claim (elu, selu, celu with the default alphas:
value, f' and celu's f'') and dtype the report gives: the inputs checked (not
subnormal, result not subnormal), the misses (results of any plan, rounded to
the dtype, that differ from the correctly rounded reference of
:func:`jelu.testing.correctly_rounded`), and the smallest margin: the distance
of any plan's float32 result from the nearest 16-bit rounding boundary, in
ULPs of the result (0.5 is a result exactly on a 16-bit value). It then runs
the JAX kernel on the same inputs, jitted (where XLA's CPU backend fuses) and
op by op (where it does not), and counts the inputs whose 16-bit result is
not that of some plan: the emulation is the kernel only if that is 0 (inputs
where either result is subnormal are left out: XLA flushes subnormals).

A second table runs every plan for the other alphas the tests name and gives
the largest error in ULPs against :func:`jelu.testing.correctly_rounded_any_alpha`
(the claim there is within 1 ULP, derived in the kernel's docstring).
Exit status 1 if any claim fails.
"""

from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np

from benchmarks import _common
from jelu import _kernel16 as k16
from jelu.testing import (
    all_bit_patterns,
    as_alpha,
    correctly_rounded,
    correctly_rounded_any_alpha,
    ulp_distance,
)

SCRIPT = "prove16"
KIND = "cpu"
QUICK_STRIDE = 61
F32, F64 = np.float32, np.float64
DTYPES = {"bfloat16": np.dtype(ml_dtypes.bfloat16), "float16": np.dtype(np.float16)}
# Other alphas (the within-1-ULP claim): every plan, every input.
ELU_ALPHAS = (0.3, 1.7, -2.5, 1e-30, 65519.0, 1e30)
CELU_ALPHAS = (0.5, 0.3, 1.7, 1e-6, 65519.0, 1e30)


class EmuOps:
    """The kernel's operations on NumPy float32 arrays, each madd fused or not as ``plan`` says."""

    def __init__(self, plan: int = 0, live: np.ndarray | bool = True):
        self.plan = plan
        self.live = live  # the elements whose results are used (x <= 0): exactness is checked there
        self.sites = 0  # madds that may round differently fused; counted as the kernel runs
        self.exact_failures = 0  # elements where a madd marked exact rounds differently fused

    @staticmethod
    def fused(a, b, c) -> np.ndarray:
        """``a * b + c`` rounded once to float32.

        ``a b`` is exact in float64 and the sum ``s`` rounds at most once; that
        second rounding can change the float32 result only where ``s`` is halfway
        between two float32s (its float64 bits end in 1 followed by 28 zeros) and
        inexact: there the TwoSum error of ``s`` says which way the exact sum lies.
        """
        p = np.asarray(a, F64) * np.asarray(b, F64)
        c = np.broadcast_to(np.asarray(c, F64), p.shape)
        s = p + c
        tie = np.nonzero((s.view(np.uint64) & np.uint64(0x1FFFFFFF)) == np.uint64(0x10000000))[0]
        if tie.size:
            st, pt, ct = s[tie], p[tie], c[tie]
            p_part = st - ct
            err = (pt - p_part) + (ct - (st - p_part))  # TwoSum: st + err = pt + ct exactly
            s[tie] = np.where(np.isfinite(st) & (err != 0), np.nextafter(st, np.copysign(np.inf, err)), st)
        return s.astype(F32)

    def madd(self, a, b, c, exact: bool = False):
        unfused = (np.asarray(a, F32) * np.asarray(b, F32)).astype(F32) + np.asarray(c, F32)
        if exact:
            f = self.fused(a, b, c)
            self.exact_failures += int(np.sum(self.live & ~((f == unfused) | (np.isnan(f) & np.isnan(unfused)))))
            return unfused
        site = self.sites
        self.sites += 1
        return self.fused(a, b, c) if (self.plan >> site) & 1 else unfused

    mul = staticmethod(lambda a, b: np.asarray(np.asarray(a, F32) * np.asarray(b, F32), F32))
    div = staticmethod(lambda a, b: np.asarray(np.asarray(a, F32) / np.asarray(b, F32), F32))
    add = staticmethod(lambda a, b: np.asarray(np.asarray(a, F32) + np.asarray(b, F32), F32))
    sub = staticmethod(lambda a, b: np.asarray(np.asarray(a, F32) - np.asarray(b, F32), F32))
    maximum = staticmethod(lambda a, b: np.maximum(np.asarray(a, F32), F32(b)))  # NaN propagates, as XLA's
    where = staticmethod(np.where)
    isnan = staticmethod(np.isnan)
    opaque = staticmethod(lambda c: c)
    bits = staticmethod(lambda v: np.ascontiguousarray(v, F32).view(np.int32))
    from_bits = staticmethod(lambda b: np.ascontiguousarray(b, np.int32).view(F32))

    @staticmethod
    def _u(a):
        return np.ascontiguousarray(a, np.int32).view(np.uint32)

    @classmethod
    def shl23(cls, b):
        return (cls._u(b) << np.uint32(23)).view(np.int32)

    @classmethod
    def iadd(cls, a, b):
        b = np.uint32(b & 0xFFFFFFFF) if isinstance(b, int) else cls._u(b)
        return (cls._u(a) + b).view(np.int32)

    iand = staticmethod(lambda a, m: np.asarray(a, np.int32) & np.int32(m))
    ior = staticmethod(lambda a, m: np.asarray(a, np.int32) | np.int32(m))
    imax0 = staticmethod(lambda a: np.maximum(a, np.int32(0)))
    imin = staticmethod(lambda a, m: np.minimum(a, np.int32(m)))

    @classmethod
    def ule(cls, a, m):
        return cls._u(a) <= np.uint32(m)


# name -> (kernel on (ops, float32 x), the JAX function, [(output index, reference name, order)])
CLAIMS = {
    "elu": (lambda ops, x: k16.elu_core(ops, x), k16.elu, [(0, "elu", 0), (1, "elu", 1)]),
    "selu": (k16.selu_core, k16.selu, [(0, "selu", 0), (1, "selu", 1)]),
    # celu(x, 1) is elu's kernel; its f'' is elu's f' where x <= 0, and 0 where x > 0.
    "celu": (lambda ops, x: _celu_one(ops, x), lambda x: k16.celu(x, 1.0), [(2, "celu", 2)]),
}
# (name, output index) -> the kernel's table of patched results, by dtype name
PATCHES = {("selu", 1): k16.SELU_DERIV_PATCH}
ORDER_NAMES = ("value", "f'", "f''")


def _celu_one(ops, x):
    """celu with alpha 1: elu's kernel, with f'' = f' where x <= 0 and 0 where x > 0."""
    value, deriv = k16.elu_core(ops, x)
    return value, deriv, ops.where(x > 0, F32(0), deriv)


def inputs(dtype, stride: int = 1) -> np.ndarray:
    """Every finite value of the dtype (as float64), every ``stride``-th with a stride."""
    return all_bit_patterns(dtype)[::stride]


def plans(kernel, x32: np.ndarray):
    """Yield ``(plan, outputs, ops)`` for every fused/unfused plan of the kernel's sites."""
    live = ~(x32 > 0)  # where x > 0 every output is selected from elsewhere
    probe = EmuOps(0, live)
    with np.errstate(all="ignore"):
        kernel(probe, x32)
    for plan in range(2**probe.sites):
        ops = EmuOps(plan, live)
        with np.errstate(all="ignore"):
            outs = kernel(ops, x32)
        yield plan, [np.asarray(o, F32) for o in outs], ops


def neighbours(ref: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray]:
    """The representable values of ``dtype`` just below and above ``ref`` (float64)."""
    nbits = 16
    b = ref.astype(dtype).view(np.uint16).astype(np.int64)
    mag = b & 0x7FFF
    key = np.where(b >> (nbits - 1) == 1, -mag, mag)

    def back(k):
        bits = np.where(k < 0, 0x8000 | -k, k).astype(np.uint16)
        with np.errstate(invalid="ignore"):
            return bits.view(dtype).astype(F64)

    below, above = back(key - 1), back(key + 1)
    with np.errstate(invalid="ignore"):  # past the largest finite value: its mirror image
        return np.where(np.isinf(below), 2 * ref - above, below), np.where(np.isinf(above), 2 * ref - below, above)


def margins(y32: np.ndarray, ref: np.ndarray, dtype) -> np.ndarray:
    """Distance of y32 from the nearest rounding boundary around ref, in ULPs (negative: beyond it)."""
    y = y32.astype(F64)
    below, above = neighbours(ref, dtype)
    with np.errstate(all="ignore"):
        lo = (y - (below + ref) / 2) / (ref - below)
        hi = ((above + ref) / 2 - y) / (above - ref)
        m = np.minimum(lo, hi)
    return np.where(y == ref, 0.5, m)


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Equal 16-bit results (bits), NaN equal to NaN."""
    fa, fb = a.astype(F64), b.astype(F64)
    return (a.view(np.uint16) == b.view(np.uint16)) | (np.isnan(fa) & np.isnan(fb))


def jax_outputs(fn, x: np.ndarray, dtype) -> dict[str, list[np.ndarray]]:
    """The JAX kernel's 16-bit outputs on x, jitted and op by op."""
    xj = jnp.asarray(x.astype(dtype))
    jitted = [np.asarray(o) for o in jax.jit(fn)(xj)]
    with jax.disable_jit():
        eager = [np.asarray(o) for o in fn(xj)]
    return {"jit": jitted, "op by op": eager}


def patch(y16: np.ndarray, x: np.ndarray, table) -> np.ndarray:
    """``y16`` with the table's inputs (bits of x) given the table's results (bits)."""
    xb = x.astype(y16.dtype).view(np.uint16)
    out = y16.view(np.uint16).copy()
    for xv, yv in table:
        out[xb == xv] = yv
    return out.view(y16.dtype)


def check_claim(name: str, dtype_name: str, stride: int) -> list[dict]:
    """Every plan on every input of one claim and dtype: one row per output."""
    kernel, fn, outputs = CLAIMS[name]
    dtype = DTYPES[dtype_name]
    tiny = float(ml_dtypes.finfo(dtype).tiny)
    x = inputs(dtype, stride)
    x32 = x.astype(F32)
    refs = {i: correctly_rounded(ref_name, order, x, dtype) for i, ref_name, order in outputs}
    xs_ok = (np.abs(x) >= tiny) | (x == 0)
    got = jax_outputs(fn, x, dtype)
    tables = {i: PATCHES.get((name, i), {}).get(dtype_name, ()) for i, _, _ in outputs}
    patched = {i: np.isin(x.astype(dtype).view(np.uint16), [xv for xv, _ in t]) for i, t in tables.items()}
    rows = {i: {"claim": name, "output": ORDER_NAMES[order], "dtype": dtype_name, "worst": np.inf,
                "patches": len(tables[i]),
                "misses": set(), "matched": {k: np.zeros(x.size, bool) for k in got}}
            for i, _, order in outputs}
    first: dict[int, np.ndarray] = {}
    n_plans = exact_failures = 0
    for _, outs, ops in plans(kernel, x32):
        n_plans += 1
        exact_failures += ops.exact_failures
        for i, row in rows.items():
            ref, y32 = refs[i], outs[i]
            with np.errstate(over="ignore"):  # a float32 beyond the 16-bit range rounds to inf
                y16 = patch(y32.astype(dtype), x, tables[i])
            checked = xs_ok & ((np.abs(ref) >= tiny) | (ref == 0))
            wrong = checked & ~_same(y16, np.asarray(ref).astype(dtype))
            row["misses"].update(np.nonzero(wrong)[0].tolist())
            ok = checked & np.isfinite(ref) & ~wrong
            m = np.where(patched[i], 0.5, margins(y32, ref, dtype))  # a patched result is exact
            if ok.any() and m[ok].min() < row["worst"]:
                j = np.nonzero(ok)[0][np.argmin(m[ok])]
                row["worst"], row["worst_x"] = float(m[j]), float(x[j])
            if i in first:
                row["varies"] |= ~((first[i] == y32) | (np.isnan(first[i]) & np.isnan(y32)))
            else:
                first[i], row["varies"] = y32, np.zeros(x.size, bool)
            for kind, outs_jax in got.items():
                sub = (np.abs(y16.astype(F64)) < tiny) & (y16.astype(F64) != 0)
                sub |= (np.abs(outs_jax[i].astype(F64)) < tiny) & (outs_jax[i].astype(F64) != 0)
                row["matched"][kind] |= _same(y16, outs_jax[i]) | sub | ~xs_ok
            row["checked"], row["checked_mask"] = int(checked.sum()), checked
    result = []
    for i, row in rows.items():
        row.update(plans=n_plans, exact_failures=exact_failures, misses=sorted(row["misses"]),
                   miss_x=[float(x[j]) for j in sorted(row["misses"])[:5]],
                   unmatched={k: int((~v).sum()) for k, v in row["matched"].items()},
                   varies=int((row["varies"] & row["checked_mask"]).sum()))
        del row["matched"], row["checked_mask"]
        result.append(row)
    return result


def check_alpha(name: str, alpha: float, dtype_name: str, stride: int) -> dict:
    """Every plan on every input: the largest ULP error for a non-default alpha (value, f', f'')."""
    dtype = DTYPES[dtype_name]
    finfo = ml_dtypes.finfo(dtype)
    tiny, fmax = float(finfo.tiny), float(finfo.max)
    core = k16.elu_core if name == "elu" else k16.celu_core
    x = inputs(dtype, stride)
    a = as_alpha(alpha, dtype)
    refs = [correctly_rounded_any_alpha(name, order, x, dtype, a) for order in range(2 if name == "elu" else 3)]
    worst = [0.0] * len(refs)
    n_plans = 0
    for _, outs, _ in plans(lambda ops, t: core(ops, t, alpha), x.astype(F32)):
        n_plans += 1
        for i, ref in enumerate(refs):
            with np.errstate(over="ignore"):
                y = outs[i].astype(dtype).astype(F64)
            normal = ((np.abs(x) >= tiny) | (x == 0)) & np.isfinite(ref) & ((np.abs(ref) > tiny) | (ref == 0))
            normal &= np.abs(ref) < fmax  # beyond it the reference may be inf
            if np.isnan(y[normal]).any():
                worst[i] = np.inf
            u = ulp_distance(y[normal], ref[normal], dtype)
            worst[i] = max(worst[i], float(u.max()) if u.size else 0.0)
    return {"function": f"{name}(alpha={alpha:g})", "dtype": dtype_name, "plans": n_plans, "worst": worst}


def markdown(rows: list[dict], alpha_rows: list[dict], stride: int, seconds: float) -> str:
    """The report."""
    scope = "every input" if stride == 1 else f"one input in {stride}"
    lines = [
        (f"Every bfloat16 and float16 input ({scope}; subnormal inputs and results left out), every "
         "fused/unfused plan of the kernel's multiply-adds (`python -m benchmarks.prove16"
         f"{'' if stride == 1 else ' --quick'}`; jax {jax.__version__}, {seconds:.0f} s)."),
        "",
        ("Correctly rounded claims. Misses must be 0. Margin: the smallest distance of any plan's float32 "
         "result from a 16-bit rounding boundary, in ULPs. Varies: inputs whose float32 result depends on "
         "the plan. Unmatched: inputs whose JAX result is no plan's."),
        "",
        ("| function | output | dtype | inputs | plans | misses | patched | smallest margin (ULP) | at x | "
         "float32 result varies | unmatched, jit | unmatched, op by op |"),
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['claim']} | {r['output']} | {r['dtype']} | {r['checked']:,} | {r['plans']} | "
            f"{len(r['misses'])} | {r['patches']} | {r['worst']:.2e} | {r.get('worst_x', float('nan')):.6g} | "
            f"{r['varies']:,} | {r['unmatched']['jit']} | {r['unmatched']['op by op']} |")
    lines += ["", "Other alphas, within 1 ULP claimed (largest error of any plan, ULPs; value, f', f''):", "",
              "| function | dtype | plans | value | f' | f'' |", "|---|---|--:|--:|--:|--:|"]
    for r in alpha_rows:
        cells = [f"{w:.0f}" for w in r["worst"]] + ["-"] * (3 - len(r["worst"]))
        lines.append(f"| {r['function']} | {r['dtype']} | {r['plans']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def failures(rows: list[dict], alpha_rows: list[dict]) -> list[str]:
    """One line per failed claim."""
    out = []
    for r in rows:
        where = f"{r['claim']} {r['output']} {r['dtype']}"
        if r["misses"]:
            out.append(f"{where}: {len(r['misses'])} misses, e.g. x = {r['miss_x']}")
        if r["exact_failures"]:
            out.append(f"{where}: a madd marked exact rounds differently fused ({r['exact_failures']} elements)")
        for kind, n in r["unmatched"].items():
            if n:
                out.append(f"{where}: {n} JAX results ({kind}) are no plan's")
    for r in alpha_rows:
        if max(r["worst"]) > 1:
            out.append(f"{r['function']} {r['dtype']}: {max(r['worst'])} ULP")
    return out


def run(stride: int = 1) -> tuple[list[dict], list[dict]]:
    """Every claim and dtype (and the other alphas), on every ``stride``-th input."""
    rows = [row for name in CLAIMS for d in DTYPES for row in check_claim(name, d, stride)]
    alpha_rows = [check_alpha(name, a, d, stride) for name, alphas in (("elu", ELU_ALPHAS), ("celu", CELU_ALPHAS))
                  for a in alphas for d in DTYPES]
    return rows, alpha_rows


def main(argv: list[str] | None = None) -> int:
    """Run, print and write the report; 1 if a claim fails."""
    parser = _common.parser(SCRIPT, __doc__.splitlines()[0])
    _common.add_out_argument(parser, f"{SCRIPT}-{KIND}.md")
    parser.add_argument("--quick", action="store_true", help=f"one input in {QUICK_STRIDE} only (no report)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    stride = QUICK_STRIDE if args.quick else 1
    rows, alpha_rows = run(stride)
    text = markdown(rows, alpha_rows, stride, time.perf_counter() - start)
    print(text, end="")
    if not args.quick:
        path = _common.result_path(_common.out_dir(parser, args.out), SCRIPT, ".md", kind=KIND)
        _common.write_atomic(path, text)
        print(f"wrote {path}", file=sys.stderr)
    problems = failures(rows, alpha_rows)
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
