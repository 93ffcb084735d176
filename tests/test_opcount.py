"""Tests of ``python -m benchmarks.opcount``: the HLO op counter, its command line, and jelu's op budget.

The budget test compiles jelu's 54 cases (about 10 s on 2 cores: the slow tier)
and fails when one needs more per-element ops than the committed
``benchmarks/results/opcount-cpu.json``; the ``vg`` pass of the traced rows is
a learnable alpha's step (value and gradient in x and a per-element alpha).
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from benchmarks import opcount

BUDGET = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "opcount-cpu.json"
N = opcount.N


def _count(f, *args) -> tuple[int, int]:
    return opcount.count_ops(jax.jit(f).lower(*args).compile().as_text(), N)


def test_value_and_grad_pass_takes_a_per_element_alpha():
    """The traced rows' vg pass differentiates in x and an alpha of x's shape: alpha's own work counts per element."""
    assert opcount.FUNCTIONS["elu(alpha=traced)"][2] and opcount.FUNCTIONS["celu(alpha=traced)"][2]
    text = opcount._hlo(lambda x, a: x * a, "float32", "vg", True)
    assert "entry_computation_layout={(f32[4096]{0}, f32[4096]{0})->(f32[], f32[4096]{0}, f32[4096]{0})}" in text
    # sum(2 x) and its gradient, a constant 2 broadcast: one multiply per element (the sum's reduce
    # and its add are not n-shaped; how many scalar ops they take depends on the XLA release)
    assert opcount.count_ops(opcount._hlo(lambda x: x * 2, "float32", "vg", False), N)[0] == 1


def test_count_ops_on_compiled_jax():
    x = jnp.ones(N, jnp.float32)
    assert _count(lambda x: x * 2 + 1, x) == (2, 0)  # one fusion: multiply and add, constants free
    assert _count(jnp.expm1, x) == (1, 0)  # a transcendental is one op
    assert _count(lambda x: x, x) == (0, 0)
    assert _count(lambda x: x.reshape(64, 64) + 1, x) == (1, 0)  # n elements in any shape
    assert _count(lambda x, a: x * (a * 3 + 1), x, jnp.float32(2)) == (1, 2)  # alpha math once per call


HANDWRITTEN = """\
HloModule m, entry_computation_layout={(f32[4096]{0}, f32[])->(f32[4096]{0}, s32[4096]{0})}

%fused (p0: f32[4096], p1: f32[]) -> f32[4096] {
  %p0 = f32[4096]{0} parameter(0)
  %p1 = f32[] parameter(1)
  %neg = f32[] negate(%p1)
  %b = f32[4096]{0} broadcast(%neg), dimensions={}
  ROOT %m = f32[4096]{0} multiply(%p0, %b), metadata={op_name="jit(f)/mul" stack_frame_id=2}
}

%bits (q0: f32[4096]) -> s32[4096] {
  %q0 = f32[4096]{0} parameter(0)
  %r = f32[64,64]{1,0} bitcast(%q0)
  %s = f32[4096]{0} bitcast(%r)
  ROOT %i = s32[4096]{0} bitcast-convert(%s)
}

ENTRY %main (x: f32[4096], a: f32[]) -> (f32[4096], s32[4096]) {
  %x = f32[4096]{0} parameter(0)
  %a = f32[] parameter(1)
  %f1 = f32[4096]{0} fusion(%x, %a), kind=kLoop, calls=%fused, metadata={op_name="a(b)=c, d"}
  %f2 = f32[4096]{0} fusion(%f1, %a), kind=kLoop, calls=%fused
  %c = f32[4096]{0} copy(%f2)
  %e = f32[4096]{0} exponential-minus-one(%c)
  %g = s32[4096]{0} fusion(%e), kind=kLoop, calls=%bits
  %h = f32[8]{0} add(%c, %c)
  ROOT %t = (f32[4096]{0}, s32[4096]{0}) tuple(%e, %g)
}
"""


def test_count_ops_on_handwritten_hlo():
    # %fused called twice (2 multiplies, 2 negates), expm1; bitcast-convert, bitcast and copy free;
    # the f32[8] add is not n-shaped: a "scalar" op.
    assert opcount.count_ops(HANDWRITTEN, N) == (3, 3)
    assert opcount.count_ops(HANDWRITTEN, 8) == (1, 5)
    with pytest.raises(ValueError, match="ENTRY"):
        opcount.count_ops(HANDWRITTEN.replace("ENTRY ", ""), N)


@pytest.fixture(scope="module")
def counts() -> dict:
    return opcount.measure(reference=False)


@pytest.mark.slow
def test_jelu_within_committed_op_budget(counts):
    report = json.loads(BUDGET.read_text())
    if jax.__version__ != report["jax"]:  # XLA's passes differ by a few ops between releases
        pytest.skip(f"the op budget is counted with jax {report['jax']}; this is jax {jax.__version__}")
    budget = report["counts"]
    assert set(counts) == set(budget), "the cases measured differ from benchmarks/results/opcount-cpu.json"
    over = [
        f"{key}: jelu needs {c['jelu']} per-element ops, budget {budget[key]['jelu']}"
        for key, c in counts.items()
        if c["jelu"] > budget[key]["jelu"]
    ]
    assert not over, (
        "jelu's kernel grew:\n  " + "\n  ".join(over) + "\nIf the increase is intended, rerun "
        "`python -m benchmarks.opcount` and commit benchmarks/results/opcount-cpu.{json,md}."
    )


def test_committed_report_schema():
    report = json.loads(BUDGET.read_text())
    assert {"machine", "jax", "counts"} <= set(report)
    traced = sum(1 for _, _, t in opcount.FUNCTIONS.values() if t)
    assert len(report["counts"]) == len(opcount.DTYPES) * (
        len(opcount.FUNCTIONS) * len(opcount.PASSES) + traced * len(opcount.CHANNEL_PASSES))
    for key, c in report["counts"].items():
        assert len(key.split("|")) == 3 and set(c) == {"jelu", "jax.nn", "jelu_scalar"}, key
        assert all(isinstance(v, int) and v >= 0 for v in c.values()), key


def test_check_mode(tmp_path, monkeypatch, capsys):
    """--check against a budget, on the committed counts (measure() is replaced: no compiling)."""
    counts = {k: {"jelu": c["jelu"], "jelu_scalar": c["jelu_scalar"]}
              for k, c in json.loads(BUDGET.read_text())["counts"].items()}
    monkeypatch.setattr(opcount, "measure", lambda reference=True: counts)
    budget = {k: {"jelu": c["jelu"], "jax.nn": 0, "jelu_scalar": 0} for k, c in counts.items()}
    path = tmp_path / "budget.json"
    path.write_text(json.dumps({"counts": budget}))
    assert opcount.main(["--check", str(path)]) == 0
    assert capsys.readouterr().out == ""

    key = "selu|float32|fwd"
    budget[key]["jelu"] -= 1
    del budget["elu|float16|fwd"]
    path.write_text(json.dumps({"counts": budget}))
    assert opcount.main(["--check", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"elu|float16|fwd: jelu {counts['elu|float16|fwd']['jelu']} ops, no budget for this key",
        f"{key}: jelu {counts[key]['jelu']} ops > budget {budget[key]['jelu']}",
    ]


@pytest.mark.parametrize(
    "argv",
    [["--bogus"], ["--check"], ["--check", "/nonexistent/budget.json"], ["--check", "LIST"], ["--out", "FILE"]],
)
def test_bad_arguments(argv, tmp_path, capsys):
    (tmp_path / "LIST").write_text("[1, 2]")
    (tmp_path / "FILE").write_text("")
    argv = [str(tmp_path / a) if a in ("LIST", "FILE") else a for a in argv]
    with pytest.raises(SystemExit) as exit_:
        opcount.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m benchmarks.opcount: error: ") and err.count("\n") == 1, err


def test_writes_its_reports_to_out(tmp_path, monkeypatch, capsys):
    counts = json.loads(BUDGET.read_text())["counts"]
    monkeypatch.setattr(opcount, "measure", lambda reference=True: counts)
    assert opcount.main(["--out", str(tmp_path / "new")]) == 0
    written = json.loads((tmp_path / "new" / "opcount-cpu.json").read_text())
    assert written["counts"] == counts
    assert (tmp_path / "new" / "opcount-cpu.md").read_text() == capsys.readouterr().out
    assert opcount.report_paths(opcount._common.RESULTS_DIR)[1] == BUDGET
