"""Tests of ``python -m benchmarks.overhead``: a tiny run's report, its parts, and bad input.

No timing is compared: the run is a smoke test of the harness. What could fail:
every function and dtype has its row; the HLO instruction counter counts what
it says; the reference ``plain elu`` is the README's definition as written
there; bad ``--dtypes`` is one line on stderr, exit 2, and nothing written.
"""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import overhead

REPO = Path(__file__).resolve().parent.parent


def test_a_tiny_run_reports_every_function_and_dtype(tmp_path, capsys):
    assert overhead.main(["--layers", "2", "--repeats", "1", "--dtypes", "bfloat16,float32",
                          "--out", str(tmp_path)]) == 0
    (path,) = tmp_path.iterdir()
    assert path.name == f"overhead-{jax.default_backend()}.json"
    report = json.loads(path.read_text())
    assert report["dtypes"] == ["bfloat16", "float32"] and report["layers"] == 2
    assert [r["function"] for r in report["rows"]] == list(overhead.FUNCS)
    for row in report["rows"]:
        for dt in ("bfloat16", "float32"):
            assert set(row["mlp_grad_compile_s"][dt]) == {"jelu", "jax.nn"}
            assert all(v > 0 for v in row["mlp_grad_compile_s"][dt].values())
            # Two layers' worth of HLO and the loss: at least a dot and an activation a layer.
            assert all(v >= 2 for v in row["mlp_grad_hlo_per_layer"][dt].values())
    assert len(report["table"]) == 2 + len(overhead.FUNCS)
    assert report["table"][0] in capsys.readouterr().out


def test_hlo_instructions_counts_value_definitions_in_every_computation():
    text = """HloModule m

%fused (p: f32[4]) -> f32[4] {
  %p = f32[4]{0} parameter(0)
  ROOT %n = f32[4]{0} negate(%p)
}

ENTRY %main (a: f32[4]) -> f32[4] {
  %a = f32[4]{0} parameter(0)
  // a comment = not an instruction
  ROOT %f = f32[4]{0} fusion(%a), kind=kLoop, calls=%fused
}
"""
    assert overhead.hlo_instructions(text) == 4


def test_more_layers_more_instructions():
    _, two = overhead.mlp_compile(jax.nn.elu, 2)
    _, four = overhead.mlp_compile(jax.nn.elu, 4)
    assert four > two


def _body(source: str) -> str:
    """Source with docstrings and decorators dropped and white space collapsed."""
    source = re.sub(r'""".*?"""', "", source, flags=re.S)
    source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("@"))
    return re.sub(r"\s+", " ", source).strip()


def test_plain_elu_is_the_readme_definition():
    """The reference row's function: the README's "How it works" block, line for line."""
    readme = (REPO / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S)
                if "jax.custom_jvp" in b and "def elu(" in b]
    readme_value = block[block.index("def elu("):block.index("@elu.defjvp")]
    readme_rule = block[block.index("def elu_jvp("):]
    mine_value = inspect.getsource(overhead.plain_elu.fun)
    mine_rule = inspect.getsource(overhead.plain_elu_jvp)
    assert _body(readme_value.replace("elu(", "plain_elu(")) == _body(mine_value)
    rule = _body(readme_rule.replace("elu_jvp(", "plain_elu_jvp(").replace("return elu(", "return plain_elu("))
    assert rule == _body(mine_rule)
    x = jnp.linspace(-20.0, 5.0, 101, dtype=jnp.float32)
    np.testing.assert_array_equal(overhead.plain_elu(x), jax.nn.elu(x))


def test_bad_dtypes_one_line_exit_2_nothing_written(tmp_path):
    for bad in ("float16", "float32,float32", ""):
        proc = subprocess.run([sys.executable, "-m", "benchmarks.overhead", "--dtypes", bad, "--out", str(tmp_path)],
                              capture_output=True, text=True, cwd=REPO, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "--dtypes" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []
