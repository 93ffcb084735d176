"""The README's Quickstart runs as written, as a script, and prints what the README shows."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", README.read_text(), flags=re.S)


def test_quickstart_prints_what_the_readme_shows(tmp_path):
    code, shown = _blocks("python")[0], _blocks("text")[0]
    script = tmp_path / "quickstart.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == shown.split(), out.stdout


def _definition() -> dict:
    """The plain definition of ELU that opens the README's "How it works", executed."""
    (code,) = [b for b in _blocks("python") if "jax.custom_jvp" in b and "def elu(" in b]
    namespace: dict = {}
    exec(compile(code, "README.md (How it works)", "exec"), namespace)  # noqa: S102 - the README's own code
    return namespace


def test_the_plain_definition_is_jax_nn_elu_and_jelu_agrees_with_it():
    import jax
    import jax.numpy as jnp
    import numpy as np

    import jelu
    from jelu.testing import ulp_distance, x_sized_residuals

    elu = _definition()["elu"]
    x = jnp.asarray(np.concatenate([np.linspace(-17.0, 10.0, 4001), [-0.0, 0.0]]), jnp.float32)
    for alpha in (1.0, 0.5):
        plain = np.asarray(elu(x, alpha))
        # Its value is jax.nn.elu's, to the bit.
        np.testing.assert_array_equal(plain, np.asarray(jax.nn.elu(x, alpha)))
        # jelu is within 1 ULP of the correctly rounded value and XLA's expm1 and exp
        # within 6.5 on CPU: on ordinary inputs the two agree within 8 floats.
        grad = jax.vmap(jax.grad(elu), in_axes=(0, None))(x, alpha)
        jgrad = jax.vmap(jax.grad(jelu.elu), in_axes=(0, None))(x, alpha)
        for ours, theirs in ((jelu.elu(x, alpha), plain), (jgrad, grad)):
            dist = ulp_distance(np.asarray(ours, np.float64), np.asarray(theirs, np.float64), np.float32)
            assert dist.max() <= 8, float(dist.max())
    # Reverse mode keeps one array the size of x, as jelu does.
    lines, _ = x_sized_residuals(lambda v: elu(v, 1.0), (x,), x.shape)
    assert len(lines) == 1, lines
