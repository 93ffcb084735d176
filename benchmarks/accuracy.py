"""Accuracy of jelu and jax.nn in two measures: JAX's (|y - f| / ulp) and ULPs from the correctly rounded value.

Run from the repository root::

    python -m benchmarks.accuracy [--out DIR] [--plot PNG] [--quick]

For each function, dtype and order (value, f', f''), over the same points:

* **JAX's measure**, as the JAX documentation's "Numerical accuracy" page
  (``docs/accuracy.md``, reviewed 2026-09-18) defines it: the largest
  ``|y - f| / ulp(f)``, f the exact value, where for a format of p significand
  bits and normal exponents [emin, emax]
  ``ulp(f) = 2^(min(max(floor(log2 |f|), emin), emax) - (p - 1))``.
  0.5 is correctly rounded. As there, with flush to zero: a pair with
  |y| and |f| both below 2^emin has error 0, and a distance that crosses the
  subnormal range counts 2^emin and 0 one ULP apart (``[-(2^emin - q), 2^emin - q]``
  contracted to 0, q = 2^(emin - p + 1)); an f at or beyond the overflow
  threshold 2^(emax+1) - 2^(emax-p) is +-inf, placed at +-2^(emax+1).
* **ULPs from the correctly rounded value**: the most floats between y and
  the correctly rounded f, and how many results are not correctly rounded
  (:func:`ulp_count`, in integers).

The exact f: float64 (``jelu.testing.f64_formula``, relative error at most
``f64_rel_err``) for 16- and 32-bit outputs, mpmath at 50 digits for float64
outputs and for the points whose float64 value lies too near a power of two
to be sure of its binade. The report gives the largest error this leaves in a
JAX-measure figure (its resolution). Points: bfloat16 and float16 every input;
float32 ``jelu.testing.float32_sample`` (over 10^6 points); float64 600 points
(``float64_sample``). Inputs or correctly rounded results that are subnormal
are left out of both measures (XLA flushes subnormals on CPU), as in
``jelu.testing.measure``.

Per binade of x (elu's value and f' for x <= 0, bfloat16 and float32): the
largest error in JAX's measure among the x in [-2^(e+1), -2^e), every
bfloat16 input and :data:`PER_BINADE` random float32 significands (and the
binade's ends) per binade. ``--plot PNG`` draws it (needs matplotlib).
``--quick``: elu only, fewer float32/float64 points and 64 per binade (a
smoke test). Writes ``benchmarks/results/accuracy-<kind>.md`` (``--out DIR``
for another folder).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_dtypes
import mpmath
import numpy as np

try:
    from jax import enable_x64  # JAX >= 0.8
except ImportError:  # JAX < 0.8 has it in jax.experimental
    from jax.experimental import enable_x64

import jelu
from benchmarks import _common
from jelu.testing import (CASES, all_bit_patterns, compare, correctly_rounded, derivative, f64_formula,
                          f64_rel_err, float32_sample, mp_formula)

SCRIPT = "accuracy"
JAX_NN = {"elu": jax.nn.elu, "selu": jax.nn.selu, "celu": jax.nn.celu}
ORDERS = ("value", "f'", "f''")
BF16 = np.dtype(ml_dtypes.bfloat16)
#: float32 inputs per binade of x in the binade section (``--quick``: 64).
PER_BINADE = 1 << 14
#: The binades e of x in [-2^(e+1), -2^e) the binade table and picture show.
WINDOW = (-30, 6)
#: jax.lax.expm1's (so jax.nn.elu's value's) largest error on CPU, JAX's "Numerical accuracy" page (2026-09-18).
PUBLISHED_CPU = {"float32": 6.5}


def implementations(case):
    """jelu's and jax.nn's function of a ``jelu.testing.CASES`` key, as ``f(x)``."""
    _, _, name, kw = CASES[case]
    return {
        "jelu": lambda x: getattr(jelu, name)(x, **kw),
        "jax.nn": lambda x: JAX_NN[name](x, **kw),
    }


def float64_sample() -> np.ndarray:
    """600 float64 points: log-spaced negatives, the hard regions, and some positives."""
    rng = np.random.default_rng(1)
    return np.concatenate([
        -np.exp(rng.uniform(np.log(1e-300), np.log(750.0), 400)),
        -rng.uniform(0.0, 1e-3, 50),
        -rng.uniform(36.0, 38.5, 50),
        -rng.uniform(700.0, 746.0, 50),
        rng.uniform(0.0, 1e3, 50),
    ])


# --------------------------------------------------------------------------
# JAX's measure


def fmt(dtype) -> tuple[int, int, int]:
    """(p, emin, emax): significand bits (the implicit one included), normal exponent range."""
    fi = ml_dtypes.finfo(dtype)
    return fi.nmant + 1, fi.minexp, fi.maxexp - 1


def jax_ulp(r: np.ndarray, dtype) -> np.ndarray:
    """ulp(r) = 2^(min(max(floor(log2|r|), emin), emax) - (p - 1)), for 16- and 32-bit formats."""
    p, emin, emax = fmt(dtype)
    r = np.abs(np.asarray(r, np.float64))
    _, e = np.frexp(r)  # r = m 2^e with 1/2 <= m < 1, so floor(log2 r) = e - 1
    e = np.where(r == 0, emin, e - 1)
    return np.ldexp(1.0, np.clip(e, emin, emax) - (p - 1))


def jax_error(y: np.ndarray, f: np.ndarray, dtype) -> np.ndarray:
    """|y - f| / ulp(f) with JAX's flush-to-zero and overflow rules (module docstring), in float64.

    For 16- and 32-bit formats, y the results and f the exact values (float64
    arrays). Away from 2^emin the contraction shifts y and f alike, so the
    difference is y - f; float64 resolves it far below an ULP of the format.
    """
    p, emin, emax = fmt(dtype)
    tiny, q, top = 2.0**emin, 2.0 ** (emin - p + 1), 2.0 ** (emax + 1)
    y, f = (np.asarray(a, np.float64) for a in (y, f))
    f = np.where(np.abs(f) >= top - 2.0 ** (emax - p), np.copysign(top, f), f)
    y = np.copysign(np.minimum(np.abs(y), top), y)
    line = lambda v: np.copysign(np.maximum(np.abs(v) - (tiny - q), 0.0), v)  # noqa: E731
    with np.errstate(invalid="ignore"):
        err = np.abs(line(y) - line(f)) / jax_ulp(f, dtype)
    return np.where((np.abs(y) < tiny) & (np.abs(f) < tiny), 0.0, err)


def jax_error_mp(y: float, f: mpmath.mpf, dtype) -> float:
    """:func:`jax_error` of one result y against an exact mpmath f, in any format (float64 too)."""
    p, emin, emax = fmt(dtype)
    two = mpmath.mpf(2)
    tiny, q, top = two**emin, two ** (emin - p + 1), two ** (emax + 1)
    if np.isnan(y) or mpmath.isnan(f):
        return float("nan")
    if abs(f) >= top - two ** (emax - p):
        f = mpmath.sign(f) * top
    y = mpmath.sign(y) * min(abs(mpmath.mpf(y)), top)
    if abs(y) < tiny and abs(f) < tiny:
        return 0.0
    e = emin if f == 0 else mpmath.frexp(f)[1] - 1
    ulp = two ** (min(max(e, emin), emax) - (p - 1))
    line = lambda v: mpmath.sign(v) * max(abs(v) - (tiny - q), 0)  # noqa: E731
    return float(abs(line(y) - line(f)) / ulp)


def exact_errors(case: str, order: int, x: np.ndarray, ys: list[np.ndarray], dtype) -> tuple[list, float]:
    """JAX-measure errors of each results array in ``ys`` at x, and their resolution (ULP).

    float64 outputs: f from mpmath at 50 digits (resolution 0). Otherwise f is
    float64 within relative eps (``f64_rel_err``); its error in ULPs is at most
    eps |f| / ulp(f) (the resolution, the largest over x). Where f lies within
    2 eps of a power of two its binade is uncertain: there the smaller of the
    two ulps is taken (an upper bound on the error), and a point whose bound
    exceeds 1/4 ULP is measured against mpmath instead, as is one within 2 eps
    of 2^emin (where the flush-to-zero rule starts).
    """
    name, alpha, _, _ = CASES[case]
    dtype = np.dtype(dtype)
    with mpmath.workdps(50):
        if dtype == np.float64:
            exact = [mp_formula(name, order, xi, alpha) for xi in x]
            return [np.array([jax_error_mp(yi, fi, dtype) for yi, fi in zip(y, exact)]) for y in ys], 0.0
        f = f64_formula(name, order, x, alpha)
        eps = np.broadcast_to(f64_rel_err(name, order, x, alpha), f.shape)
        edge = np.minimum(jax_ulp(f * (1 - 2 * eps), dtype), jax_ulp(f * (1 + 2 * eps), dtype))
        unsure = edge < jax_ulp(f, dtype)
        errs = [jax_error(y, f, dtype) for y in ys]
        for err, y in zip(errs, ys):
            err[unsure] *= jax_ulp(f[unsure], dtype) / edge[unsure]
        near_tiny = np.abs(np.abs(f) - 2.0 ** fmt(dtype)[1]) <= 2 * eps * np.abs(f)  # the FTZ rule's edge
        for i in np.nonzero(near_tiny | (unsure & np.any([err > 0.25 for err in errs], axis=0)))[0]:
            fi = mp_formula(name, order, x[i], alpha)
            for err, y in zip(errs, ys):
                err[i] = jax_error_mp(y[i], fi, dtype)
    with np.errstate(invalid="ignore"):
        res = eps * np.abs(f) / jax_ulp(f, dtype)
    return errs, float(np.max(res, initial=0.0))


# --------------------------------------------------------------------------
# Measuring


def evaluate(f, order: int, x: np.ndarray, dtype) -> np.ndarray:
    """``derivative(f, order)`` jitted at x (given as float64) in ``dtype``, as float64."""
    dtype = np.dtype(dtype)
    with enable_x64(dtype == np.float64):
        y = jax.jit(derivative(f, order))(jnp.asarray(x.astype(dtype)))
        return np.asarray(y).astype(np.float64)


def ulp_count(y: np.ndarray, ref: np.ndarray, dtype) -> np.ndarray:
    """Floats of ``dtype`` between y and ref (0 = equal), counted in exact unsigned integers.

    ``jelu.testing.ulp_distance`` passes its counts through float64, which for
    float64 values cannot hold them (two neighbours of 1.0 count 0); here the
    sign-magnitude bit patterns are compared as integers.
    """
    dtype = np.dtype(dtype)
    n = 8 * dtype.itemsize
    ints = {2: np.int16, 4: np.int32, 8: np.int64}[dtype.itemsize]

    def split(a):
        bits = np.asarray(a, np.float64).astype(dtype).view(ints).astype(np.int64)
        return bits < 0, (bits & ((1 << (n - 1)) - 1)).astype(np.uint64)

    (sy, my), (sr, mr) = split(y), split(ref)
    return np.where(sy == sr, np.maximum(my, mr) - np.minimum(my, mr), my + mr)


def normal_points(x: np.ndarray, ref: np.ndarray, dtype) -> np.ndarray:
    """The points both measures count: input and correctly rounded result normal or zero."""
    tiny = float(ml_dtypes.finfo(dtype).tiny)
    return ((np.abs(x) >= tiny) | (x == 0)) & ((np.abs(ref) >= tiny) | (ref == 0))


def measure_case(case: str, order: int, x: np.ndarray, dtype) -> dict[str, dict]:
    """Both measures of jelu and jax.nn for one case, order and dtype: ``{impl: figures}``.

    Figures: ``jax_max`` and ``jax_worst_x`` (JAX's measure), ``resolution``,
    and ``jelu.testing.compare``'s ``points``, with ``max_ulp`` and
    ``not_correctly_rounded`` from :func:`ulp_count`.
    """
    name, alpha, _, _ = CASES[case]
    ref = correctly_rounded(name, order, x, dtype, alpha)
    keep = normal_points(x, ref, dtype)
    impls = implementations(case)
    ys = {impl: evaluate(f, order, x, dtype) for impl, f in impls.items()}
    errs, res = exact_errors(case, order, x[keep], [ys[i][keep] for i in impls], dtype)
    out = {}
    for impl, err in zip(impls, errs):
        fig = compare(x, ys[impl], ref, dtype)
        count = ulp_count(ys[impl][keep], ref[keep], dtype)
        fig.update(max_ulp=int(count.max(initial=0)), not_correctly_rounded=int((count > 0).sum()))
        worst = int(np.argmax(err)) if err.size else None
        fig.update(jax_max=float(err[worst]) if err.size else 0.0, resolution=res,
                   jax_worst_x=float(x[keep][worst]) if err.size else None)
        out[impl] = fig
    return out


def accuracy_rows(cases, inputs) -> list[dict]:
    """One row per case, dtype and implementation: ``{case, dtype, impl, orders: [figures]}``.

    ``inputs``: ``(dtype name, dtype, x)`` triples. Prints a line per row.
    """
    rows = []
    for case in cases:
        for dname, dtype, x in inputs:
            per_order = [measure_case(case, order, x, dtype) for order in range(3)]
            for impl in ("jelu", "jax.nn"):
                rows.append({"case": case, "dtype": dname, "impl": impl, "orders": [m[impl] for m in per_order]})
                cells = " | ".join(f"{fmt_err(m['jax_max'])} ({m['max_ulp']:,})" for m in rows[-1]["orders"])
                print(f"{case} {dname} {impl}: {cells}", flush=True)
    return rows


def fmt_err(v: float) -> str:
    """A JAX-measure figure: 4 decimals below 10 (6 where one above 0.5 would print as 0.5000),
    1 below 10^6, else 4 significant digits."""
    if not np.isfinite(v):
        return str(v)
    if v < 10:
        text = f"{v:.4f}"
        return f"{v:.6f}" if text == "0.5000" and v > 0.5 + 1e-6 else text
    return f"{v:,.1f}" if v < 1e6 else f"{v:.3e}"


def accuracy_tables(rows: list[dict]) -> list[str]:
    """The two markdown tables of the report."""
    lines = ["## JAX's measure: max |y - f| / ulp(f) (0.5 = correctly rounded)", "",
             "| function | dtype | impl | points (value) | value | f' | f'' |", "|---|---|---|--:|--:|--:|--:|"]
    for r in rows:
        cells = " | ".join(fmt_err(m["jax_max"]) for m in r["orders"])
        lines.append(f"| {r['case']} | {r['dtype']} | {r['impl']} | {r['orders'][0]['points']:,} | {cells} |")
    lines += ["", "## ULPs from the correctly rounded value: max (results not correctly rounded, of points)", "",
              "| function | dtype | impl | value | f' | f'' |", "|---|---|---|--:|--:|--:|"]
    for r in rows:
        cells = " | ".join(f"{m['max_ulp']:,} ({m['not_correctly_rounded']:,} of {m['points']:,})"
                           for m in r["orders"])
        lines.append(f"| {r['case']} | {r['dtype']} | {r['impl']} | {cells} |")
    res = max(m["resolution"] for r in rows for m in r["orders"])
    worst = [f"{r['case']} {r['dtype']} {ORDERS[k]}: {m['jax_worst_x']:.9g}"
             for r in rows if r["impl"] == "jelu" for k, m in enumerate(r["orders"])
             if r["dtype"] in ("float32", "float64") and m["jax_worst_x"] is not None]
    lines += ["", f"Resolution: every JAX-measure figure is within {res:.1e} ULP of the exact error "
              "(the float64 references' error bound in ULPs of the output).", "",
              "Where jelu's JAX-measure maximum is, float32 and float64 (x): " + "; ".join(worst) + "."]
    return lines


# --------------------------------------------------------------------------
# Per binade of x


def binade_inputs(dtype, per_binade: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Negative normal x and their binades e (x in [-2^(e+1), -2^e)), as float64 and int arrays.

    16-bit: every such input. float32: ``per_binade`` random significands in
    each binade, its two ends among them.
    """
    dtype = np.dtype(dtype)
    p, emin, emax = fmt(dtype)
    if dtype.itemsize == 2:
        x = all_bit_patterns(dtype)
        x = x[(x < 0) & (x <= -(2.0**emin))]
    else:
        rng = np.random.default_rng(seed)
        e = np.repeat(np.arange(emin, emax + 1), per_binade)
        m = rng.integers(0, 2 ** (p - 1), e.size)
        m[::per_binade], m[per_binade - 1::per_binade] = 0, 2 ** (p - 1) - 1
        x = -np.ldexp(1.0 + m / 2.0 ** (p - 1), e)
    return x, np.frexp(-x)[1] - 1


def binade_maxima(dtype, per_binade: int) -> dict:
    """Per binade of x, elu's value and f' for jelu and jax.nn in ``dtype``: JAX-measure maxima.

    Returns ``{"e": binades, (order, impl): maxima, ("zero", order, impl):
    whether some result in the binade is 0 where f is not}``; NaN maxima where
    a binade has no counted point (a subnormal f').
    """
    x, e = binade_inputs(dtype, per_binade)
    _, emin, emax = fmt(dtype)
    bins = np.arange(emin, emax + 1)
    out: dict = {"e": bins}
    for order in (0, 1):
        ref = correctly_rounded("elu", order, x, dtype, 1.0)
        keep = normal_points(x, ref, dtype)
        impls = implementations("elu")
        ys = {impl: evaluate(f, order, x[keep], dtype) for impl, f in impls.items()}
        errs, _ = exact_errors("elu", order, x[keep], list(ys.values()), dtype)
        for (impl, y), err in zip(ys.items(), errs):
            top = np.full(bins.size, -np.inf)
            np.maximum.at(top, e[keep] - emin, err)
            out[(order, impl)] = np.where(np.isfinite(top), top, np.nan)
            zero = np.zeros(bins.size, bool)
            np.logical_or.at(zero, e[keep] - emin, (y == 0) & (ref[keep] != 0))
            out[("zero", order, impl)] = zero
    return out


def binade_table(data: dict[str, dict]) -> list[str]:
    """Markdown: one row per binade in :data:`WINDOW`, columns dtype x order x impl; the rest summed up."""
    cols = [(d, o, i) for d in data for o in (0, 1) for i in ("jelu", "jax.nn")]
    head = " | ".join(f"{d} {ORDERS[o]} {i}" for d, o, i in cols)
    lines = ["## Per binade of x: elu, x <= 0, JAX's measure", "",
             "Largest |y - f| / ulp(f) over x in [-2^(e+1), -2^e); `0!`: a result is 0 where f is not. "
             "bfloat16: every input; float32: a sample (see the docstring).", "",
             f"| e | {head} |", "|--:|" + "--:|" * len(cols)]
    for e in range(WINDOW[0], WINDOW[1] + 1):
        cells = []
        for d, o, i in cols:
            k = e - int(data[d]["e"][0])
            v = data[d][(o, i)][k]
            cells.append("-" if np.isnan(v) else fmt_err(v) + (" 0!" if data[d][("zero", o, i)][k] else ""))
        lines.append(f"| {e} | " + " | ".join(cells) + " |")
    outside = []
    for d, o, i in cols:
        e = data[d]["e"]
        v = data[d][(o, i)][(e < WINDOW[0]) | (e > WINDOW[1])]
        outside.append(f"{d} {ORDERS[o]} {i} {fmt_err(float(np.nanmax(v)))}")
    lines += ["", f"Outside e = {WINDOW[0]}..{WINDOW[1]} (the other normal binades), the largest: "
              + "; ".join(outside) + "."]
    return lines


def plot_binades(data: dict[str, dict], path: Path) -> None:
    """Draw :func:`binade_maxima` over :data:`WINDOW` (rows value and f', a column per dtype) to a PNG."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 7.4), layout="constrained")
    axes = fig.subplots(2, len(data), sharex=True, squeeze=False)
    style = {"jax.nn": dict(color="tab:red", marker="s", ms=4, lw=1.2, zorder=2),
             "jelu": dict(color="tab:blue", marker="o", ms=3, lw=1.2, zorder=3)}
    floor = 1e-3
    for col, (d, b) in enumerate(data.items()):
        sel = (b["e"] >= WINDOW[0]) & (b["e"] <= WINDOW[1])
        xs = 2.0 ** b["e"][sel]
        for row, order in enumerate((0, 1)):
            ax = axes[row][col]
            for impl in ("jax.nn", "jelu"):
                v = np.maximum(b[(order, impl)][sel], floor)
                ax.plot(xs, v, label=impl, **style[impl])
                z = b[("zero", order, impl)][sel]
                if z.any():
                    ax.plot(xs[z], v[z], ls="none", marker="x", ms=9, mew=1.5, color="k", zorder=4,
                            label=f"{impl} returns 0, f is not: error f / ulp(f)")
            ax.axhline(0.5, color="gray", ls="--", lw=0.8)
            ax.text(xs[-1], 0.3, "0.5 = correctly rounded", color="gray", fontsize=8, va="top", ha="right")
            if order == 0 and d in PUBLISHED_CPU:
                ax.axhline(PUBLISHED_CPU[d], color="tab:red", ls=":", lw=0.8)
                ax.text(xs[0], PUBLISHED_CPU[d] * 1.12, f"{PUBLISHED_CPU[d]}: jax.lax.expm1 on CPU, JAX's page",
                        color="tab:red", fontsize=8, va="bottom")
            ax.set_xscale("log", base=2)
            ax.set(yscale="log", ylim=(floor * 0.7, 1e8))
            ax.set_title(f"elu {ORDERS[order]}, {d}", fontsize=10)
            ax.grid(True, which="major", alpha=0.3)
            if col == 0:
                ax.set_ylabel("largest |y - f| / ulp(f) in the binade")
            if row == 1:
                ax.set_xlabel("|x|: the binade [2^e, 2^(e+1)) of -x, drawn at 2^e")
            ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("jelu and jax.nn: elu for x <= 0, the largest error per binade of x in JAX's ULP measure, on a CPU\n"
                 f"bfloat16: every input; float32: {PER_BINADE:,} per binade; errors below {floor:g} drawn at {floor:g}",
                 fontsize=10)
    fig.savefig(path, dpi=100)


# --------------------------------------------------------------------------


def main(argv=None) -> int:
    """Measure every case, dtype and implementation; print and write the report (and the picture)."""
    parser = _common.parser(SCRIPT, __doc__.splitlines()[0])
    _common.add_out_argument(parser, f"{SCRIPT}-<kind>.md")
    parser.add_argument("--plot", type=Path, default=None, metavar="PNG",
                        help="also draw the per-binade errors to this PNG file (needs matplotlib)")
    parser.add_argument("--quick", action="store_true", help="elu only, fewer float32/float64 points (smoke test)")
    args = parser.parse_args(argv)
    if args.plot is not None:
        if args.plot.suffix.lower() != ".png":
            parser.error(f"--plot: expected a .png file name, got {str(args.plot)!r}")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error("--plot needs matplotlib: pip install matplotlib")
    out = _common.result_path(_common.out_dir(parser, args.out), SCRIPT, ".md")
    start = time.perf_counter()
    meta = _common.describe_machine(SCRIPT, sys.argv[1:] if argv is None else argv)
    inputs = [
        ("bfloat16", BF16, all_bit_patterns(BF16)),
        ("float16", np.float16, all_bit_patterns(np.float16)),
        ("float32", np.float32, float32_sample()[::50 if args.quick else 1]),
        ("float64", np.float64, float64_sample()[::10 if args.quick else 1]),
    ]
    rows = accuracy_rows(["elu"] if args.quick else list(CASES), inputs)
    per_binade = 64 if args.quick else PER_BINADE
    binades = {"bfloat16": binade_maxima(BF16, per_binade), "float32": binade_maxima(np.float32, per_binade)}
    v = meta["versions"]
    lines = [f"# Accuracy of jelu and jax.nn ({meta['kind']})", "",
             f"`{meta['command']}` on {meta['device_kind']} ({meta['cpu_model']}); jax {v['jax']}, "
             f"jelu {v['jelu']}; {meta['date']}; {time.perf_counter() - start:.0f} s.", "",
             "f: the exact value; ulp as JAX's \"Numerical accuracy\" page (reviewed 2026-09-18) defines it, "
             "2^(min(max(floor(log2|f|), emin), emax) - (p - 1)). Points: bfloat16, float16 every input; "
             "float32 `jelu.testing.float32_sample`; float64 600 points; subnormal inputs and correctly "
             "rounded results left out. Definitions: the module docstring.", ""]
    lines += accuracy_tables(rows) + [""] + binade_table(binades)
    _common.write_atomic(out, "\n".join(lines) + "\n")
    print(f"wrote {out}", flush=True)
    if args.plot is not None:
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        plot_binades(binades, args.plot)
        print(f"wrote {args.plot}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
