"""Tests of ``python -m benchmarks.sweep``: a strided float32 sweep of every case, and its bookkeeping.

The strided run is a small form of the exhaustive sweep: the same code on
every ``STRIDE``-th float32 bit pattern (a prime, so every low mantissa
residue occurs), all 21 cases. It asserts the float32 bar, at most 1 ULP, and
reports how many results are not correctly rounded without asserting 0. CI's
denser sweep is ``python -m benchmarks.sweep --stride 1021``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
import pytest

from benchmarks import sweep
from jelu.testing import F64_REL_ERR, f64_formula, f64_rel_err

REPO = Path(__file__).resolve().parent.parent
STRIDE = 65521  # ~65,500 bit patterns per case; a few seconds for all cases on 2 cores
SWEEP_TIMEOUT_S = 300
MAX_ULP = 1
ALPHAS = (1.0, 2.0, float(np.float32(0.3)))
N_CASES = (2 * len(ALPHAS) + 1) * 3  # elu and celu per alpha, selu; 3 orders each


@pytest.fixture(scope="module")
def strided(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("sweep")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.sweep", "--stride", str(STRIDE), "--out", str(out)],
                          capture_output=True, text=True, timeout=SWEEP_TIMEOUT_S, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    name = f"sweep-stride{STRIDE}-cpu"
    assert sorted(p.name for p in out.iterdir()) == [f"{name}.json", f"{name}.md"]
    return {"json": json.loads((out / f"{name}.json").read_text()), "md": (out / f"{name}.md").read_text(),
            "stdout": proc.stdout, "stderr": proc.stderr}


@pytest.mark.slow
def test_every_case_swept_with_consistent_counts(strided: dict[str, Any]) -> None:
    result = strided["json"]
    meta, rows = result["meta"], result["cases"]
    assert len(rows) == N_CASES
    assert {(r["function"], r["alpha"], r["order"]) for r in rows} == (
        {(f, a, o) for f in ("elu", "celu") for a in ALPHAS for o in range(3)}
        | {("selu", None, o) for o in range(3)})
    patterns = (2**32 - 1) // STRIDE + 1
    k = np.arange(patterns, dtype=np.uint64) * STRIDE
    non_finite = int((~np.isfinite(k.astype(np.uint32).view(np.float32))).sum())
    subnormal_inputs = int(((k & 0x7FFFFFFF) < 0x00800000).sum() - ((k & 0x7FFFFFFF) == 0).sum())
    assert meta["patterns_per_case"] == patterns
    for r in rows:
        assert r["patterns"] == patterns and r["non_finite_skipped"] == non_finite
        assert r["subnormal_inputs"] == subnormal_inputs
        assert r["points"] + r["subnormal_inputs"] + r["subnormal_results"] == patterns - non_finite
        assert 0 <= r["not_correctly_rounded"] <= r["points"]
        assert (r["max_ulp"] == 0) == (r["not_correctly_rounded"] == 0)
        assert r["subnormal_ok"], r["label"]
    assert meta["estimated_stride1_seconds_per_case"] > 0
    assert "| function | order | points |" in strided["stdout"] and strided["md"] in strided["stdout"]
    assert meta["command"] == f"python -m benchmarks.sweep --stride {STRIDE} --out {meta['command'].split()[-1]}"
    assert "ETA" in strided["stderr"] or meta["total_seconds"] < 10  # progress lines every 10 s


@pytest.mark.slow
@pytest.mark.parametrize("index", range(N_CASES))
def test_float32_within_one_ulp(strided: dict[str, Any], index: int) -> None:
    """Every case within 1 ULP, celu with alpha > 1 in the lowest binades of x included
    (where x / alpha is subnormal and would be flushed to 0 if the kernel used it)."""
    row = strided["json"]["cases"][index]
    assert row["max_ulp"] <= MAX_ULP, row


def test_a_wrong_kernel_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = sweep.Kernel.__call__

    def one_ulp_up(self, x32):
        with np.errstate(over="ignore"):
            return np.nextafter(original(self, x32), np.float32(np.inf))

    case = sweep.Case("elu", 1.0, 0)
    bits = np.arange(0xBF800000, 0xBF800000 + 4096, dtype=np.uint32)  # x from -1 downwards
    honest = sweep.new_totals()
    sweep.sweep_chunk(case, sweep.Kernel(case, bits.size), bits, honest)
    monkeypatch.setattr(sweep.Kernel, "__call__", one_ulp_up)
    totals = sweep.new_totals()
    sweep.sweep_chunk(case, sweep.Kernel(case, bits.size), bits, totals)
    assert totals["points"] == honest["points"] == bits.size
    # Every result that was correctly rounded is now one ULP off.
    assert totals["not_correctly_rounded"] >= bits.size - honest["not_correctly_rounded"]
    assert totals["max_ulp"] >= 1 and -2 < totals["worst_x"] <= -1


def test_blocks_merge_to_the_whole_range() -> None:
    case = sweep.Case("celu", 2.0, 0)
    first, last, stride, chunk = 0x80000000, 0xFFFFFFFF, 2**19 + 1, 256  # includes the lowest binades
    n = sweep.pattern_count(first, last, stride)
    whole, _ = sweep.sweep_block(case, first, last, stride, chunk, 0, n)
    merged = sweep.new_totals()
    for start, stop in ((0, n // 3), (n // 3, n - 5), (n - 5, n)):
        sweep.merge_totals(merged, sweep.sweep_block(case, first, last, stride, chunk, start, stop)[0])
    assert merged == whole and whole["patterns"] == n


@pytest.mark.slow
def test_worker_processes_give_the_same_counts() -> None:
    """Blocks spread over 2 worker processes merge to the counts of one process."""
    cases = sweep.cases(("elu", "celu"), (2.0,), (0,))
    first, last = sweep.SIGN_RANGES["all"]
    rows = []
    for jobs in (1, 2):  # stride 65537, chunk 1024: 4 blocks of 16 chunks per case
        result = sweep.run_sweep(cases, first, last, 65537, 1024, quiet=True, jobs=jobs)
        rows.append([{k: v for k, v in r.items() if k != "seconds"} for r in result])
    assert rows[0] == rows[1] and len(rows[0]) == 2
    assert rows[0][0]["patterns"] == sweep.pattern_count(first, last, 65537)


def test_alphas_are_swept_as_float32() -> None:
    cases = sweep.cases(("celu", "selu"), (0.3, float(np.float32(0.3)), 2.0), (2, 0))
    assert [(c.function, c.alpha, c.order) for c in cases] == [
        ("selu", 1.0, 0), ("selu", 1.0, 2),
        ("celu", float(np.float32(0.3)), 0), ("celu", float(np.float32(0.3)), 2),
        ("celu", 2.0, 0), ("celu", 2.0, 2)]


def test_bit_patterns_cover_the_range_with_stride() -> None:
    chunks = list(sweep.bit_patterns(10, 1000, 7, chunk=32))
    got = np.concatenate(chunks)
    assert np.array_equal(got, np.arange(10, 1001, 7, dtype=np.uint32))
    assert all(c.size <= 32 for c in chunks) and sweep.pattern_count(10, 1000, 7) == got.size


def test_float64_bound_holds_where_celu_divides() -> None:
    """The reference's float64 error bound, checked against mpmath where x / alpha is large
    (exp amplifies the rounding of the quotient) and near 0."""
    rng = np.random.default_rng(3)
    alpha = float(np.float32(0.3))
    x = np.concatenate([-rng.uniform(18.0, 26.0, 300), -rng.uniform(0.0, 1.0, 100)])
    x = x.astype(np.float32).astype(np.float64)
    mpmath.mp.dps = 40
    for order in (0, 1, 2):
        v = f64_formula("celu", order, x, alpha)
        bound = np.broadcast_to(f64_rel_err("celu", order, x, alpha), x.shape)
        for xi, vi, bi in zip(x, v, bound):
            u = mpmath.mpf(xi) / mpmath.mpf(alpha)
            exact = [alpha * mpmath.expm1(u), mpmath.exp(u), mpmath.exp(u) / alpha][order]
            assert abs(mpmath.mpf(vi) - exact) <= bi * abs(exact), (order, xi)
    # Where the quotient is large the bound grows past the generic one.
    assert np.all(f64_rel_err("celu", 1, np.array([-26.0]), alpha) > F64_REL_ERR)


@pytest.mark.parametrize("bad", [["--stride", "0"], ["--stride", "x"], ["--alphas", "0"],
                                 ["--alphas", "nan"], ["--orders", "3"], ["--functions", "gelu"],
                                 ["--sign", "both"], ["--max-ulp", "-1"], ["--out", "{tmp}/a_file"],
                                 ["--jobs", "0"]])
def test_bad_input_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: list[str]) -> None:
    (tmp_path / "a_file").write_text("kept")
    with pytest.raises(SystemExit) as exc:
        sweep.main([arg.format(tmp=tmp_path) for arg in bad])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("python -m benchmarks.sweep: error: ")
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


@pytest.mark.parametrize(("argv", "name"), [
    ([], "sweep-cpu"), (["--sign", "negative"], "sweep-negative-cpu"),
    (["--functions", "selu", "--sign", "positive", "--orders", "0"], "sweep-selu-positive-cpu"),
    (["--functions", "celu,elu", "--stride", "7"], "sweep-elu+celu-stride7-cpu")])
def test_report_names(argv: list[str], name: str) -> None:
    """The default reports are named for what was swept: the committed ones have these names."""
    args = sweep.parse_args(argv)
    assert args.out == REPO / "benchmarks" / "results"
    tag = sweep.report_tag(args.functions, args.sign, args.stride)
    assert sweep._common.result_path(args.out, "sweep", ".md", tag=tag, kind="cpu").name == f"{name}.md"
