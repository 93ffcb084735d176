"""examples/linear_attention.py: the layer against a direct float64 sum, the task's data, the
tail check's finding, and a two-step run that writes the report and the figure.

The training outcome (zero features, NaN steps, gradient errors) is the script's report
(docs/linear_attention.md), not asserted here; what is asserted could fail: the running sums
equal the quadratic form, the mask marks exactly the positions whose key was stored before,
jelu's features are positive where jax.nn's are 0 on the same pre-activations, and the
bfloat16 gradient is close to the float64 one at initialization.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("optax")
pytest.importorskip("matplotlib")

import linear_attention as la  # examples/ is on pytest's pythonpath (pyproject.toml)

JELU, JAX_NN = la.FEATURE_MAPS


def test_running_sums_equal_the_quadratic_form_in_float64():
    """out_t = sum_{s <= t} phi(q_t).phi(k_s) v_s / sum_{s <= t} phi(q_t).phi(k_s), by loops."""
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(0, 2, (2, 7, 3, 4)) for _ in range(3))
    with la.enable_x64(True):
        out, normalizer = (np.asarray(a) for a in la.causal_linear_attention(q, k, v, la.exact_phi))
    f = lambda x: np.where(x > 0, x + 1, np.exp(np.minimum(x, 0)))  # noqa: E731
    for b in range(2):
        for h in range(3):
            for t in range(7):
                w = np.array([f(q[b, t, h]) @ f(k[b, s, h]) for s in range(t + 1)])
                np.testing.assert_allclose(out[b, t, h], w @ v[b, : t + 1, h] / w.sum(), rtol=1e-12)
                np.testing.assert_allclose(normalizer[b, t, h], w.sum(), rtol=1e-12)


def test_recall_batch_targets_and_mask():
    x, y, mask = la.recall_batch(np.random.default_rng(3), 4)
    assert x.shape == (4, la.LENGTH, 2 * la.N_KEYS + la.N_VALUES) and y.shape == mask.shape == (4, la.LENGTH)
    keys = x[..., : la.N_KEYS].argmax(-1)
    for b in range(4):
        stored = {}  # key -> value, from the pairs shown at positions 1..t
        for t in range(la.LENGTH):
            if t > 0:
                pair = x[b, t, la.N_KEYS:]
                stored[int(pair[: la.N_KEYS].argmax())] = int(pair[la.N_KEYS:].argmax())
                assert pair.sum() == 2
            else:
                assert x[b, 0, la.N_KEYS:].sum() == 0
            assert mask[b, t] == (keys[b, t] in stored)
            if mask[b, t]:
                assert y[b, t] == stored[int(keys[b, t])]  # one dictionary per sequence
    assert 0.5 < mask.mean() < 1


def test_jelu_features_are_positive_where_jax_nns_are_zero():
    q = jnp.asarray(np.random.default_rng(1).normal(-7, 0.5, 4096), jnp.bfloat16)
    ours, theirs = np.asarray(la.FEATURE_MAPS[JELU](q)), np.asarray(la.FEATURE_MAPS[JAX_NN](q))
    assert (theirs == 0).mean() > 0.5 and (ours > 0).all()
    np.testing.assert_allclose(ours.astype(np.float64), np.exp(np.asarray(q, np.float64)), rtol=2.0**-8)


def test_tail_check_nan_for_jax_nn_and_finite_for_jelu():
    """The README's figures: q, k ~ N(-7, 0.5) in bfloat16 give NaN outputs and gradients with
    jax.nn.elu(x) + 1; jelu's outputs are finite and within 2% of float64."""
    result = la.tail_check(seed=0)
    assert result[JELU]["nan_outputs"] == 0 and result[JELU]["nan_gradient"] == 0
    assert result[JELU]["error"] < 2e-2
    assert result[JAX_NN]["nan_outputs"] > 0.1 and result[JAX_NN]["nan_gradient"] > 0.1


def test_bfloat16_gradient_close_to_float64_at_initialization():
    batch = la.recall_batch(np.random.default_rng(4), la.BATCH)
    params = la.init_params(jax.random.key(0))
    for phi in la.FEATURE_MAPS.values():
        m = la.measure(params, batch, phi)
        assert m["zeros"] == 0 and 1e-4 < m["grad_error"] < 3e-2, m
        assert m["loss"] == pytest.approx(np.log(la.N_VALUES), rel=0.2)


def test_two_steps_write_the_report_and_the_figure(tmp_path, capsys):
    out = tmp_path / "report"
    assert la.main(["--steps", "2", "--seed", "3", "--out", str(out)]) == 0
    text = (out / "linear_attention.md").read_text()
    assert (out / "linear_attention.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"--steps 2 --seed 3 --out {out}`" in text and text == capsys.readouterr().out
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    for name in la.FEATURE_MAPS:
        assert sum(f"`{name}`" in r for r in rows) == 3 + 1 + 1, rows  # checkpoints 0, 1, 2; summary; tail


@pytest.mark.parametrize("argv,message", [
    (["--steps", "0"], "--steps: expected a positive integer"),
    (["--steps", "x"], "--steps: expected a positive integer"),
    (["--seed", "-1"], "--seed must be >= 0"),
    (["--seed", "1.5"], "--seed"),
    (["--bogus"], "unrecognized arguments"),
])
def test_bad_flags_exit_2_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        la.main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_out_that_is_a_file_exits_2(tmp_path, capsys):
    (tmp_path / "f").write_text("")
    with pytest.raises(SystemExit) as info:
        la.main(["--out", str(tmp_path / "f")])
    assert info.value.code == 2 and "is not a directory" in capsys.readouterr().err
