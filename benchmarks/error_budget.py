"""A derived (not measured) error bound, in ULPs, for each path of jelu's kernel.

Run from the repository root::

    python -m benchmarks.error_budget [--out DIR] [--pieces N]

prints a markdown report and writes it to
``benchmarks/results/error_budget-<kind>.md`` (``--out DIR`` for another
folder; the bounds do not depend on the machine, the name follows the
folder's convention); ``bounds()`` returns ``{(path, dtype): bound}`` (paths: ``PATHS``).

What is bounded. For each path and compute dtype (float32: p = 24, u = 2^-24;
float64: p = 53, u = 2^-53): ``E = |z - f|``, z the kernel's result before its
final rounding and f the exact function; then ``|RN(z) - f| <= E + ulp(f)/2``,
valid when E < ulp(f) (asserted): a z in a higher binade than f is within E <
ulp(f) of the power of two between them and rounds to it; in a lower one, ulp(z)
is smaller.
ULPs are those of the exact f: exact where its binade is known (2^k e^r), else
the worst case ``ulp(c y) >= 2^-p |c y|`` for a multiplier c (paths b, d).

How. ``u = k ln2 + r``. For each k (one by one near 0, in groups below, a group
taking its largest |k| where |k| matters) and each piece of the computed r, the
kernel is re-traced operation by operation on ``Traced(ideal, errors)``: ideal
an mpmath.iv interval enclosing the *ideal* value (exact arithmetic on exact
inputs), errors a bound on |computed - ideal|, kept per term so that the report
names the dominant ones. Rules (``rounding_error``), M >= |z|, z the exact
result of the operation on its computed inputs (ulp is nondecreasing in |z|):

* nearest: ``|RN(z) - z| <= ulp(M)/2``;
* opaque: ``_opaque`` of a rounded product, ``<= 1.5 ulp(RN(z)) <= 1.5 ulp(M (1 + u))``;
* cleared: ``_opaque`` of a float (lowest bit cleared), ``<= 1 ulp(M)``;
* nearest, opaque, cleared: also ``<= |z|`` (+ ulp(M)/2 for opaque): the result
  lies between 0 and RN(z);
* exact, with the reason at the call: power-of-two scaling; products of split
  halves (12 + 12 <= 24 bits, 26 + 26 <= 53); Sterbenz; Fast2Sum error terms
  (precondition checked on each piece); k ln2_hi and u - k ln2_hi (``checks``);
* underflow: where |z| may be below 2^emin, ``min(M, 2^emin)`` (flush to zero
  or gradual underflow);
* propagation: ``|a'b' - ab| <= |a| e_b + |b| e_a + e_a e_b``; sums add errors.

exp and expm1 of a piece come from its end points (monotone; iv.exp, or Taylor
with remainder near 0). The polynomial's error, ``|r + r^2/2 + r^3 p(r) -
expm1(r)| <= B |expm1(r)|``, is fit_poly.rigorous_bound over the reach R of r
(``reach``; over |r| <= 2^-(p+2) near 0, where it is ~r^2).

Tiny x: the k = 0 pieces are binades (in 8 or 2 pieces) down to 2^-(p+2), then
8 binades at a time down to 2^emin, and the underflow rule covers r^2 or r_err r
underflowing (both far below ulp(r); elu(x) = x below |x| ~ 2^-(p+2), correctly
rounded). celu selects x where |x/alpha| < 2^-(p+1): then |f - x| <= |x| |u|/2,
below a quarter of the spacing around x: correctly rounded. Subnormal inputs
or results are outside the claim; a 16-bit result is in it wherever its
float32 result is normal (float16 subnormals included).

The rules and the traced values are in ``benchmarks._error_rules``, the kernel
re-traced path by path in ``benchmarks._error_paths``; this module covers r
and k with pieces, takes the worst bound and writes the report.
"""

from __future__ import annotations

import functools
import math
import time

from mpmath import iv

from benchmarks import _common
from benchmarks._error_paths import (PATHS, a_value, a_value_deep, c_value, celu_argument, checks, fprime,
                                     multipliers, polynomial_bound, reach, u_max, value_double_word)
from benchmarks._error_rules import F32, F64, Format, endpoints, mpf, precision
from jelu.activations import ALPHA_RANGE

SCRIPT = "error_budget"


# ---- pieces of r, groups of k, the report --------------------------------------------
def pieces(F: Format, R, kind: str, n: int):
    """'all': [-R, R] in n equal pieces; 'neg': [-R, 0]; 'value': [-R, -1/4] in n/4, each binade
    down to 2^-(p+2) in 8 (2 below 2^-8), then 8 binades at a time down to 2^emin; 'celu':
    the same down to 2^-(p+2)."""
    def split(a, b, m):
        return [a + (b - a) * i / m for i in range(m)]
    if kind in ("all", "neg"):
        top = R if kind == "all" else 0.0
        ends = split(-R, top, n) + [top]
    else:
        ends = split(-R, -0.25, max(n // 4, 1))
        for e in range(-2, -(F.p + 2), -1):
            ends += split(-(2.0**e), -(2.0 ** (e - 1)), 8 if e > -8 else 2)
        ends.append(-(2.0 ** -(F.p + 2)))
        if kind == "value":
            ends += [-(2.0**e) for e in range(-(F.p + 2) - 8, F.emin, -8)] + [-(2.0**F.emin)]
    return [iv.mpf([a, b]) for a, b in zip(ends, ends[1:])]


def worst(bound_of, r_pieces, refine: int = 40):
    """(bound, terms, piece): the max of bound_of over the pieces; the worst piece is bisected
    while that lowers the max (every piece's bound is a bound, so the max over a cover is one)."""
    results = [(bound_of(piece), piece) for piece in r_pieces]
    for _ in range(refine):
        i = max(range(len(results)), key=lambda j: results[j][0][0])
        a, b = endpoints(results[i][1])
        middle = mpf(float((a + b) / 2))
        halves = ([(bound_of(half), half) for half in (iv.mpf([a, middle]), iv.mpf([middle, b]))]
                  if a < middle < b else [])
        if not halves or max(half[0][0] for half in halves) >= results[i][0][0] * (1 - 1e-4):
            break
        results[i:i + 1] = halves
    (bound, terms), piece = max(results, key=lambda t: t[0][0])
    return bound, terms, piece


def groups(k_first: int, k_last: int):
    """k one by one from 0 to k_first, then [-(2^(j+1) - 1), -2^j] (clipped) down to k_last."""
    g, j = [(k, k) for k in range(0, k_first - 1, -1)], max(-k_first, 0).bit_length()
    while -(2**j) >= k_last:
        g.append((max(1 - 2 ** (j + 1), k_last), -(2**j)))
        j += 1
    return g


def analyse(F: Format, n: int) -> dict:
    """{path: (bound, where, terms)}, "_byk": {path: [(k's, bound)]}, for one compute dtype."""
    ln2 = math.log(2)
    k_min = -math.ceil(u_max(F) / ln2 + 0.5 + 1e-3)  # the clamps' k
    k_celu = -math.ceil(abs(F.constants.celu_min) / ln2 + 0.5 + 1e-3)
    k_fsecond = F.emin - math.ceil(-math.log2(ALPHA_RANGE["celu"][0])) - 1  # f'' normal (alpha >= 1e-6)
    checks(F, k_min)
    argument, multiplier, out, R = celu_argument(F), multipliers(F), {"_byk": {p: [] for p in PATHS}}, reach(F)

    def value_pieces(k_range, top="value"):  # the pieces of r for a value at k in k_range
        return pieces(F, R, top if k_range[1] == 0 else "all", n)

    def keep(path, k_range, result, note=""):
        bound, terms, piece = result
        ks = f"k = {k_range[0]}" if k_range[0] == k_range[1] else f"k in [{k_range[0]}, {k_range[1]}]"
        out["_byk"][path].append((ks, bound))
        if path not in out or bound > out[path][0]:
            out[path] = (bound, f"{ks}, r in [{float(piece.a):.4g}, {float(piece.b):.4g}]{note}", terms)

    for k_range in groups(-7, -F.p):  # (a) value; below -p the result is -1 exactly
        keep("a.value", k_range, worst(lambda piece: a_value(F, piece, k_range), value_pieces(k_range)))
    deep = a_value_deep(F)
    keep("a.value", (k_min, -F.p - 1), (*deep, iv.mpf([-R, R])), " (the result is -1)")
    assert max(b for _, b in out["_byk"]["a.value"][:-1]) > deep[0]  # (the table's "-" never hides the max)
    for k_range in groups(-7, -F.p - 1) + [(k_min, -F.p - 2)]:  # (b), (d) values
        for name in ("alpha", "selu"):
            keep("b.value", k_range, worst(
                lambda piece: value_double_word(F, piece, k_range, None, multiplier[name]),
                value_pieces(k_range)), f" ({name})")
        k_range_celu = (max(k_range[0], k_celu), k_range[1])
        keep("d.value", k_range_celu, worst(
            lambda piece: value_double_word(F, piece, k_range_celu, argument, multiplier["alpha"]),
            value_pieces(k_range, "celu")))
    for k_range in groups(0, k_min):  # derivatives: exact in 2^k, but |k| enters the reduction
        r_pieces = value_pieces(k_range, "neg")
        keep("a.fprime", k_range, worst(lambda piece: fprime(F, piece, -k_range[0]), r_pieces))
        for name in ("alpha", "selu"):
            keep("b.fprime", k_range, worst(
                lambda piece: fprime(F, piece, -k_range[0], None, multiplier[name]), r_pieces), f" ({name})")
        if k_range[1] >= max(F.emin - 1, k_celu):  # below, f' = e^v is subnormal
            k_range_celu = (max(k_range[0], F.emin - 1, k_celu), k_range[1])
            keep("d.fprime", k_range_celu, worst(
                lambda piece: fprime(F, piece, -k_range_celu[0], argument), r_pieces))
        if k_range[1] >= max(k_celu, k_fsecond):  # below, f'' is subnormal
            k_range_celu = (max(k_range[0], k_celu, k_fsecond), k_range[1])
            keep("d.fsecond", k_range_celu,
                 worst(lambda piece: fprime(F, piece, -k_range_celu[0], argument, multiplier["inv"]), r_pieces))
    out["c.value"] = (*c_value(F)[:1], "x > 0", c_value(F)[1])
    # What-if, not the kernel: elu's value as expm1()'s double word rounded once.
    out["_proposed"] = max(worst(lambda piece: value_double_word(F, piece, k_range), value_pieces(k_range))[0]
                           for k_range in groups(-7, -F.p - 1) + [(k_min, -F.p - 2)])
    return out


#: Precision p16 of each 16-bit output dtype (implicit bit included).
SIXTEEN_BIT_PRECISION = {"bfloat16": 8, "float16": 11}


@functools.lru_cache(maxsize=None)
def run(n: int = 16) -> dict:
    """Every path's analysis per dtype (float32 and float64 derived, 16-bit from float32's)."""
    t0 = time.perf_counter()
    with precision():
        results = {F.name: analyse(F, n) for F in (F32, F64)}
    for name, p16 in SIXTEEN_BIT_PRECISION.items():  # RN16(RN32(f)): 1/2 + B32 2^-(24 - p16), B32 after RN32
        results[name] = {path: (0.5 + results["float32"][path][0] * 2.0 ** -(24 - p16),) for path in PATHS}
    results["_seconds"] = time.perf_counter() - t0
    return results


def bounds(n: int = 16) -> dict:
    """{(path, dtype): derived bound in ULPs}; n: pieces of r per k (fewer: faster, still bounds)."""
    results = run(n)
    return {(path, dtype): results[dtype][path][0]
            for dtype in ("float32", "float64", *SIXTEEN_BIT_PRECISION) for path in PATHS}


def report(n: int = 16) -> str:
    """The markdown report: per compute dtype the bound of each path, where it is attained and its
    dominant terms, the bound by k, the 16-bit outputs, and a summary."""
    results = run(n)
    out = ["# Derived error budget of jelu's kernel", "",
           "Written by `python -m benchmarks.error_budget`; the derivation is in its docstring and comments.",
           "Fractional ULPs of the exact result f: *before rounding* bounds |z - f|, z the kernel's result",
           "before its final rounding; *total* adds that rounding (1/2). Total < 1: faithful. Before rounding",
           "< 3/4 (total < 5/4): at most one float from the correctly rounded result (`ulp_distance` <= 1 of",
           "`jelu.testing`), as [f - E, f + E] then holds no two rounding midpoints on one side of f",
           "(below a power of two they are ulp(f)/2 apart). Paths b and d count in the worst case",
           "ulp(c y) >= 2^-p |c y|. Subnormal inputs or results are not covered.", ""]
    for dtype in ("float32", "float64"):
        out += _dtype_section(F32 if dtype == "float32" else F64, results[dtype])
    out += ["## 16-bit outputs", "",
            "jelu computes bfloat16 and float16 outputs with its 16-bit kernel, `jelu/_kernel16.py`, whose",
            "own error budget (its module docstring) gives within 0.502 ULP (bfloat16) and 0.504 ULP",
            "(float16) for every alpha, and whose correct rounding for the default alphas",
            "`python -m benchmarks.prove16` enumerates. For comparison, the kernel above rounded once more",
            "to 16 bits would give |y16 - f| <= ulp16/2 + B32 ulp32, i.e. 1/2 + B32 2^-(24 - p16) ULP",
            "(p16 = 8, 11):", "",
            "| path | bfloat16 | float16 |", "|---|---|---|"]
    out += [f"| {p} | {results['bfloat16'][p][0]:.6f} | {results['float16'][p][0]:.6f} |" for p in PATHS]
    out += ["", "## Summary", ""]
    for path, what in PATHS.items():
        bound32, bound64 = results["float32"][path][0], results["float64"][path][0]
        flag = (" -- above 1 ULP: faithful rounding is not derived (at most one float from the correctly"
                " rounded result is); see the dominant terms" if max(bound32, bound64) >= 1 else "")
        out.append(f"* ({path}) {what}: within {bound32:.3f} ULP (float32), {bound64:.3f} ULP (float64) "
                   f"(derived){flag}")
    out += ["* selu, x > 0: f' = lambda rounded once (0.5 ULP), f'' = 0. celu, |x/alpha| < 2^-(p+1): x itself,"
            " correctly rounded.",
            f"* Proposed (not the kernel): elu's value as expm1()'s double word rounded once would be within "
            f"{results['float32']['_proposed']:.3f} ULP (float32), {results['float64']['_proposed']:.3f} ULP "
            "(float64).",
            "", f"Run time: {results['_seconds']:.1f} s ({n} pieces of r per k)."]
    return "\n".join(out) + "\n"


def _dtype_section(F: Format, result: dict) -> list[str]:
    """The report's section of one compute dtype: the table of paths, then the bounds by k."""
    out = [f"## {F.name}", "", f"|r| <= ln2/2 + {reach(F) - math.log(2) / 2:.3g} (the reach); polynomial "
           f"<= 2^{math.log2(polynomial_bound(F, reach(F))):.2f} (fit_poly.rigorous_bound over it)", "",
           "| path | before rounding | total (ULP) | attained at | dominant terms (ULP) |",
           "|---|---|---|---|---|"]
    for path in PATHS:
        bound, where, terms = result[path]
        top = sorted(terms.items(), key=lambda kv: -kv[1])[:3]
        before = "-" if "result is -1" in where else f"{bound - 0.5:.4f}"
        out.append(f"| {path} | {before} | {bound:.4f} | {where} | "
                   + ", ".join(f"{k} {v:.3f}" for k, v in top) + " |")
    out += ["", "By k:", ""]
    for path in PATHS:
        by_k: dict = {}
        for ks, bound in result["_byk"][path]:
            by_k[ks] = max(by_k.get(ks, 0), bound)
        if by_k:
            out.append(f"* {path}: " + "; ".join(f"{ks}: {bound:.3f}" for ks, bound in by_k.items()))
    return out + [""]


def main(argv=None) -> int:
    """Derive the bounds, print the report and write it; 2 on bad command-line input."""
    parser = _common.parser(SCRIPT, __doc__.splitlines()[0])
    _common.add_out_argument(parser, f"{SCRIPT}-<kind>.md")
    parser.add_argument("--pieces", type=_common.positive_int, default=16, help="pieces of r per k (default 16)")
    args = parser.parse_args(argv)
    out = _common.result_path(_common.out_dir(parser, args.out), SCRIPT, ".md")
    text = report(args.pieces)
    print(text, end="")
    _common.write_atomic(out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
