"""Tests of examples/mlp.py and loop.py: the model, the loss, mixed precision, the jitted
data-parallel steps, the epoch loop; and end-to-end runs of train.py.

Most runs are in-process on a tiny synthetic data set; subprocesses are used
only where the process itself matters: the default command exactly as a user
types it, and 1 vs 8 devices.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import jax
import jax.export
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import checkpoint
import jelu
import loop
import mlp
from input_pipeline import make_mesh, prepare_data, put_eval_set, put_replicated, put_rows
from trainer_helpers import PYTHON, SCRIPT, TINY, make_blobs, run_main, snapshot, subprocess_env


@pytest.fixture
def blobs_npz(tmp_path: Path) -> Path:
    x, y = make_blobs()
    path = tmp_path / "blobs.npz"
    np.savez(path, x=x, y=y)
    return path


# ---------------------------------------------------------------- the model


def test_activations_match_formulas():
    x = np.linspace(-6, 4, 101, dtype=np.float32)
    expm1 = np.expm1(x.astype(np.float64))
    lam, alp = 1.0507009873554805, 1.6732632423543772  # SELU constants (Klambauer et al.)
    expected = {
        "elu": np.where(x > 0, x, expm1),
        "jax-elu": np.where(x > 0, x, expm1),
        "celu": np.where(x > 0, x, expm1),
        "selu": lam * np.where(x > 0, x, alp * expm1),
        "relu": np.maximum(x, 0),
    }
    for name, want in expected.items():
        got = np.asarray(loop.get_activation(name)(jnp.asarray(x)))
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-7, err_msg=name)
    # A per-unit alpha: elu(x) = alpha * expm1(x) for x < 0; celu uses expm1(x / alpha).
    alpha = np.array([0.5, 2.0], np.float32)
    z = np.array([[-1.0, -1.0]], np.float32)
    np.testing.assert_allclose(loop.get_activation("elu")(z, alpha), alpha * np.expm1(z), rtol=1e-6)
    np.testing.assert_allclose(
        loop.get_activation("celu")(z, alpha), alpha * np.expm1(z / alpha), rtol=1e-6
    )
    with pytest.raises(ValueError, match="elu, selu, celu, relu, jax-elu"):
        loop.get_activation("gelu")


@pytest.mark.parametrize("init,gain", [("he", 2.0), ("lecun", 1.0)])
def test_init_params_shapes_and_scale(init: str, gain: float):
    params = loop.init_params(jax.random.key(1), [400, 300, 200, 10], init=init, learn_alpha=True)
    shapes = [(layer["w"].shape, layer["b"].shape) for layer in params["layers"]]
    assert shapes == [((400, 300), (300,)), ((300, 200), (200,)), ((200, 10), (10,))]
    assert [a.shape for a in params["alpha"]] == [(300,), (200,)]
    for layer, fan_in in zip(params["layers"][:2], (400, 300)):
        assert float(jnp.std(layer["w"])) == pytest.approx(math.sqrt(gain / fan_in), rel=0.03)
        assert not np.any(np.asarray(layer["b"]))
    assert "alpha" not in loop.init_params(jax.random.key(1), [4, 3, 2])
    assert loop.init_for("selu") == "lecun" and loop.init_for("elu") == "he"


def test_loss_and_accuracy_match_numpy():
    key_p, key_x = jax.random.split(jax.random.key(2))
    params = loop.init_params(key_p, [5, 7, 4])
    x = np.asarray(jax.random.normal(key_x, (32, 5)))
    y = np.arange(32) % 4
    relu = loop.get_activation("relu")
    w0, b0 = (np.asarray(params["layers"][0][k], np.float64) for k in "wb")
    w1, b1 = (np.asarray(params["layers"][1][k], np.float64) for k in "wb")
    logits = np.maximum(x @ w0 + b0, 0) @ w1 + b1
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    want_loss = -log_probs[np.arange(32), y].mean()
    assert float(mlp.cross_entropy(params, x, y, relu)[0]) == pytest.approx(want_loss, rel=1e-5)
    got_logits, hidden = mlp.forward(params, x, relu)
    np.testing.assert_allclose(got_logits, logits, rtol=1e-5, atol=1e-5)
    assert len(hidden) == 1 and hidden[0].shape == (32, 7)
    assert float(mlp.accuracy(got_logits, y)) == pytest.approx(np.mean(logits.argmax(1) == y))
    value, ce_logits = mlp.cross_entropy(params, x, y, relu)
    assert float(value) == pytest.approx(want_loss, rel=1e-5)
    np.testing.assert_array_equal(ce_logits, got_logits)
    # Weighted rows (padding weighted 0) count as if absent.
    weights = (np.arange(32) < 20).astype(np.float32)
    per_row = -log_probs[np.arange(32), y]
    value, _ = mlp.cross_entropy(params, x, y, relu, weights=weights)
    assert float(value) == pytest.approx(per_row[:20].mean(), rel=1e-5)
    hits = logits.argmax(1) == y
    assert float(mlp.accuracy(got_logits, y, weights)) == pytest.approx(hits[:20].mean())
    evaluate = loop.make_evaluate(relu, make_mesh())
    value, acc = evaluate(params, *put_eval_set(x[:20], y[:20], make_mesh()))
    assert float(value) == pytest.approx(per_row[:20].mean(), rel=1e-5)
    assert float(acc) == pytest.approx(hits[:20].mean())


def test_learned_alpha_is_positive_and_gets_a_gradient():
    params = loop.init_params(jax.random.key(3), [3, 4, 2], learn_alpha=True)
    params["alpha"] = [jnp.full((4,), math.log(2.0))]
    elu = loop.get_activation("elu")
    x = -np.ones((1, 3), np.float32)
    params["layers"][0]["w"] = jnp.ones((3, 4))  # pre-activation -3 in every unit
    _, (h,) = mlp.forward(params, x, elu)
    np.testing.assert_allclose(h, 2.0 * np.expm1(-3.0) * np.ones((1, 4)), rtol=1e-6)
    # d loss / d log_alpha against a central difference: exercises jelu's alpha derivative.
    x = np.asarray(jax.random.normal(jax.random.key(4), (16, 3))) * 2
    y = np.arange(16) % 2
    params = loop.init_params(jax.random.key(5), [3, 4, 2], learn_alpha=True)
    objective = jax.jit(lambda p: mlp.cross_entropy(p, x, y, elu)[0])
    grad = np.asarray(jax.grad(objective)(params)["alpha"][0])
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)
    direction = np.array([1.0, -0.5, 0.25, 2.0], np.float32)
    eps = 1e-2

    def at(t: float) -> float:
        shifted = {**params, "alpha": [params["alpha"][0] + t * direction]}
        return float(objective(shifted))

    assert (at(eps) - at(-eps)) / (2 * eps) == pytest.approx(grad @ direction, rel=2e-2, abs=1e-5)


# ------------------------------------------------------- steps and the loop


@pytest.mark.slow
def test_scanned_steps_equal_single_steps_and_streaming():
    """k steps in one lax.scan (data on the device, rows gathered there) equal k
    separate train_step calls on host-built batches, and the streamed scan."""
    x, y = make_blobs()
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    y = (y // 10 - 1).astype(np.int32)
    mesh = make_mesh()
    elu, opt = loop.get_activation("elu"), optax.adam(1e-2)
    params = loop.init_params(jax.random.key(0), [6, 8, 3])
    rows = np.random.default_rng(0).integers(0, len(y), (5, 16)).astype(np.int32)

    p, s, losses = params, opt.init(params), []
    for r in rows:
        p, s, value, _ = mlp.train_step(p, s, x[r], y[r], activation=elu, optimizer=opt)
        losses.append(float(value))

    on_device, streamed = loop.make_steps(elu, opt, mesh)
    carried = put_replicated((params, opt.init(params)), mesh)
    p1, _, loss_sum, acc_sum = on_device(*carried, put_rows(x, mesh), put_rows(y, mesh),
                                         put_replicated(rows, mesh), 1, k=4)
    carried = put_replicated((params, opt.init(params)), mesh)
    p2, _, loss_sum2, _ = streamed(*carried, x[rows[1:]], y[rows[1:]])
    # the scan started at row block 1: redo the reference from there
    q, t = params, opt.init(params)
    for r in rows[1:]:
        q, t, _, _ = mlp.train_step(q, t, x[r], y[r], activation=elu, optimizer=opt)
    for a, b, c in zip(*(jax.tree_util.tree_leaves(t) for t in (q, p1, p2))):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(b, c)  # same loop body: bit for bit
    assert float(loss_sum) == pytest.approx(float(loss_sum2), rel=1e-7)
    assert 0 <= float(acc_sum) <= 4
    assert losses[1] != losses[0]


def test_make_dropout_alpha_after_selu_inverted_otherwise():
    key, rate = jax.random.key(5), 0.25
    h = jax.random.normal(jax.random.key(6), (64, 32))
    keep = np.asarray(jax.random.bernoulli(key, 1 - rate, h.shape))
    np.testing.assert_array_equal(loop.make_dropout("selu", rate)(key, h),
                                  jelu.alpha_dropout(key, h, rate))
    for name in ("elu", "relu", "celu", "jax-elu"):
        got = np.asarray(loop.make_dropout(name, rate)(key, h))
        np.testing.assert_allclose(got, np.where(keep, np.asarray(h) / (1 - rate), 0), rtol=1e-6)
    assert loop.make_dropout("selu", 0.0) is None and loop.make_dropout("elu", 0) is None
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="dropout rate must be in"):
            loop.make_dropout("elu", bad)
    # the dropout root is stream 2 of the seed: not the initialization's (0) or the data order's (1)
    seed_key = jax.random.key(np.uint32(3))
    streams = [np.asarray(jax.random.key_data(k)) for k in jax.random.split(seed_key, 2)]
    root = loop.dropout_key(3)
    assert root.dtype == np.uint32 and not any(np.array_equal(root, s) for s in streams)
    np.testing.assert_array_equal(root, jax.random.key_data(jax.random.fold_in(seed_key, 2)))


def test_forward_with_dropout_masks_every_hidden_layer_with_its_own_key():
    params = loop.init_params(jax.random.key(0), [6, 16, 16, 3], init="lecun")
    x = np.asarray(jax.random.normal(jax.random.key(1), (32, 6)))
    selu, drop = loop.get_activation("selu"), loop.make_dropout("selu", 0.5)
    key = jax.random.key(2)
    logits, hidden = mlp.forward(params, x, selu, dropout=drop, key=key)
    h = x
    for i, layer in enumerate(params["layers"][:-1]):
        h = jelu.alpha_dropout(jax.random.fold_in(key, i), selu(h @ layer["w"] + layer["b"]), 0.5)
        np.testing.assert_array_equal(hidden[i], h)
    np.testing.assert_array_equal(logits, h @ params["layers"][-1]["w"] + params["layers"][-1]["b"])
    assert not np.array_equal(mlp.forward(params, x, selu)[0], logits)


@pytest.mark.slow
def test_scanned_steps_with_dropout_draw_from_seed_and_global_step():
    """Step s of a scan uses fold_in(root, s): the same as single steps with those keys,
    whether the call starts at step 0 or 7, on the devices or streamed."""
    x, y = make_blobs()
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    y = (y // 10 - 1).astype(np.int32)
    mesh = make_mesh()
    selu, opt, drop = loop.get_activation("selu"), optax.adam(1e-2), loop.make_dropout("selu", 0.2)
    params = loop.init_params(jax.random.key(0), [6, 8, 3], init="lecun")
    rows = np.random.default_rng(0).integers(0, len(y), (4, 16)).astype(np.int32)
    root_data = loop.dropout_key(0)
    root = jax.random.wrap_key_data(root_data)

    q, t = params, opt.init(params)
    for i, r in enumerate(rows):
        q, t, _, _ = mlp.train_step(q, t, x[r], y[r], activation=selu, optimizer=opt, dropout=drop,
                                      key=jax.random.fold_in(root, 7 + i))
    on_device, streamed = loop.make_steps(selu, opt, mesh, drop)
    carried = put_replicated((params, opt.init(params)), mesh)
    p1, *_ = on_device(*carried, put_rows(x, mesh), put_rows(y, mesh), put_replicated(rows, mesh), 0,
                       root_data, np.uint32(7), k=4)
    carried = put_replicated((params, opt.init(params)), mesh)
    p2, *_ = streamed(*carried, x[rows], y[rows], root_data, np.uint32(7))
    carried = put_replicated((params, opt.init(params)), mesh)
    p3, *_ = streamed(*carried, x[rows], y[rows], root_data, np.uint32(0))  # other steps, other masks
    for a, b, c, d in zip(*(jax.tree_util.tree_leaves(v) for v in (q, p1, p2, p3))):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(b, c)
    assert any(not np.array_equal(b, d) for b, d in zip(jax.tree_util.tree_leaves(p1),
                                                       jax.tree_util.tree_leaves(p3)))


def test_epoch_order_is_a_seeded_permutation():
    mesh = make_mesh()
    order = loop.make_epoch_order(50, 3, 16, mesh)
    key = np.asarray(jax.random.key_data(jax.random.key(7)))
    a, b, c = (np.asarray(order(key, e)) for e in (0, 0, 1))
    assert a.shape == (3, 16) and len(set(a.ravel().tolist())) == 48 and a.max() < 50
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.slow
def test_fit_streaming_and_device_input_give_the_same_run(blobs_npz: Path):
    data = prepare_data(str(blobs_npz), 0)
    opt = loop.make_optimizer("adam", 1e-2)
    mesh = make_mesh()
    finals = []
    for stream in (False, True):
        params = loop.init_params(jax.random.key(1), [6, 16, 3])
        key = np.asarray(jax.random.key_data(jax.random.key(2)))
        start = loop.TrainState(params, opt.init(params), key, 0, 0, [])
        seen, steps = [], []
        state, _ = loop.fit(start, data, activation=loop.get_activation("elu"), optimizer=opt,
                             batch_size=16, epochs=2, mesh=mesh, stream=stream,
                             on_epoch=lambda s: seen.append(s.epoch), progress=steps.append)
        assert seen == [1, 2] and sum(steps) == 2 * (126 // 16) and state.step == 14
        finals.append(state)
    a, b = finals
    for u, v in zip(jax.tree_util.tree_leaves(a.params), jax.tree_util.tree_leaves(b.params)):
        np.testing.assert_array_equal(u, v)
    assert [r["train_loss"] for r in a.history] == [r["train_loss"] for r in b.history]
    assert a.history[1]["train_loss"] < a.history[0]["train_loss"]


# ------------------------------------------------------------- bfloat16


def test_bfloat16_is_mixed_precision():
    """Products and activations in bfloat16; logits, loss, parameters, learned alphas and
    their gradients in float32; the bfloat16 network is the float32 one, cast."""
    params = loop.init_params(jax.random.key(0), [6, 16, 16, 3], learn_alpha=True)
    params["alpha"] = [a + 0.3 for a in params["alpha"]]
    x = jax.random.normal(jax.random.key(1), (32, 6))
    y = jnp.arange(32) % 3
    logits, hidden = mlp.forward(params, x, jelu.elu, dtype=jnp.bfloat16)
    assert logits.dtype == jnp.float32 and all(h.dtype == jnp.bfloat16 for h in hidden)
    h = x.astype(jnp.bfloat16)
    for i, layer in enumerate(params["layers"][:-1]):
        w, b = layer["w"].astype(jnp.bfloat16), layer["b"].astype(jnp.bfloat16)
        h = jelu.elu(h @ w + b, jnp.exp(params["alpha"][i]))
        np.testing.assert_array_equal(hidden[i], h)
    value, grads = jax.jit(jax.value_and_grad(lambda p: mlp.cross_entropy(
        p, x, y, jelu.elu, dtype=jnp.bfloat16)[0]))(params)
    assert value.dtype == jnp.float32
    assert all(g.dtype == jnp.float32 for g in jax.tree_util.tree_leaves(grads))
    assert all(float(jnp.abs(g).max()) > 0 for g in grads["alpha"])
    f32 = mlp.cross_entropy(params, x, y, jelu.elu)[0]
    assert float(value) == pytest.approx(float(f32), rel=0.05) and float(value) != float(f32)


def test_bfloat16_export_computes_in_bfloat16_and_says_so(tmp_path: Path, blobs_npz: Path):
    out, blob = tmp_path / "out", tmp_path / "model.jax"
    assert run_main(["--data", blobs_npz, *TINY, "--epochs", "2", "--dtype", "bfloat16",
                     "--out", out, "--export", blob]) == 0
    meta = json.loads((tmp_path / "model.jax.json").read_text())
    assert meta["compute_dtype"] == "bfloat16" and meta["config"]["dtype"] == "bfloat16"
    params, header, mean, std = checkpoint.load_params(out / "checkpoint.npz")
    x_raw = make_blobs(seed=5)[0][:20].astype(np.float32)
    exported = jax.export.deserialize(blob.read_bytes())
    assert "xbf16>" in exported.mlir_module()  # its products and activations are bfloat16
    logits, _ = exported.call(x_raw)
    scale, shift = (1.0 / std).astype(np.float32), (mean / std).astype(np.float32)
    want = jax.jit(lambda p, x: mlp.forward(p, x, jelu.elu, dtype=jnp.bfloat16)[0])(
        params, x_raw * scale - shift)
    np.testing.assert_allclose(logits, want, rtol=2e-2, atol=2e-2)


@pytest.mark.slow
@pytest.mark.parametrize("learn_alpha", [[], ["--learn-alpha"]])
def test_bfloat16_reaches_float32_accuracy_on_digits(learn_alpha: list, tmp_path: Path):
    """The defaults on digits: bfloat16 within 0.01 of float32's test accuracy, and >= 0.95."""
    acc = {}
    for dtype in ("float32", "bfloat16"):
        out = tmp_path / dtype
        assert run_main([*learn_alpha, "--dtype", dtype, "--out", out, "--quiet"]) == 0
        acc[dtype] = json.loads((out / "summary.json").read_text())["test_accuracy"]
    assert acc["bfloat16"] >= 0.95 and abs(acc["bfloat16"] - acc["float32"]) <= 0.01, acc


# ------------------------------------------------------------- end to end


@pytest.mark.slow
def test_default_command_out_of_the_box(tmp_path: Path):
    """`python examples/train.py` with no arguments: digits, elu, >= 0.95."""
    proc = subprocess.run(
        [PYTHON, str(SCRIPT)], cwd=tmp_path, env=subprocess_env(),
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("test_accuracy=")
    out = tmp_path / "runs" / "train"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_accuracy"] >= 0.95
    assert summary["activation"] == "elu" and summary["seed"] == 0
    assert summary["devices"] >= 1 and summary["seconds"] > 0
    assert summary["sizes"]["test"] + summary["sizes"]["val"] + summary["sizes"]["train"] == 1797
    assert f"test_accuracy={summary['test_accuracy']:.4f}" in lines[0]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, 26))
    assert set(rows[0]) == {"epoch", "step", "train_loss", "train_accuracy", "val_loss",
                            "val_accuracy", "seconds"}
    assert rows[-1]["step"] == summary["steps"] and rows[-1]["train_loss"] == summary["train_loss"]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] / 10
    assert "step/s" in proc.stderr or "s/step" in proc.stderr  # the tqdm progress bar
    assert summary["input"] == "device" and "input=device" in lines[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_one_and_eight_devices_agree(tmp_path: Path, blobs_npz: Path):
    """The same seed on 1 and 8 devices, with the data on the devices and streamed."""
    results = {}
    for devices, source in ((1, "device"), (8, "device"), (8, "stream")):
        out = tmp_path / f"d{devices}{source}"
        proc = subprocess.run(
            [PYTHON, str(SCRIPT), "--data", str(blobs_npz), "--out", str(out),
             "--epochs", "3", *TINY, "--input", source],
            env=subprocess_env(devices), capture_output=True, text=True, timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        summary = json.loads((out / "summary.json").read_text())
        assert (summary["devices"], summary["input"]) == (devices, source)
        results[devices, source] = (summary, checkpoint.load_params(out / "checkpoint.npz")[0])
    s1, p1 = results[1, "device"]
    for key in ((8, "device"), (8, "stream")):
        s8, p8 = results[key]
        assert s1["steps"] == s8["steps"] == 3 * (126 // 16)
        assert s8["train_loss"] == pytest.approx(s1["train_loss"], rel=1e-4)
        assert s8["test_loss"] == pytest.approx(s1["test_loss"], rel=1e-4)
        assert abs(s8["test_accuracy"] - s1["test_accuracy"]) <= 1 / s1["sizes"]["test"] + 1e-9
        for a, b in zip(jax.tree_util.tree_leaves(p1), jax.tree_util.tree_leaves(p8)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # On the same 8 devices, both inputs run the same steps on the same batches.
    assert results[8, "device"][0]["train_loss"] == results[8, "stream"][0]["train_loss"]


@pytest.mark.parametrize("dtype", [pytest.param("float32", marks=pytest.mark.slow), "bfloat16"])
def test_resume_is_bit_for_bit(dtype: str, tmp_path: Path, blobs_npz: Path):
    common = ["--data", blobs_npz, *TINY, "--optimizer", "adamw", "--learn-alpha", "--dtype", dtype]
    resumed, straight = tmp_path / "resumed", tmp_path / "straight"
    assert run_main([*common, "--out", resumed, "--epochs", "2"]) == 0
    assert json.loads((resumed / "summary.json").read_text())["epochs"] == 2
    assert run_main([*common, "--out", resumed, "--epochs", "4", "--resume"]) == 0
    assert run_main([*common, "--out", straight, "--epochs", "4"]) == 0

    _, a = checkpoint.read_checkpoint(resumed / "checkpoint.npz")
    _, b = checkpoint.read_checkpoint(straight / "checkpoint.npz")
    assert sorted(a) == sorted(b) and any(k.startswith("opt_") for k in a) and "param.layers.0.w" in a
    for name in a:
        assert a[name].dtype == b[name].dtype
        assert a[name].tobytes() == b[name].tobytes(), name  # bit for bit
    sa = json.loads((resumed / "summary.json").read_text())
    sb = json.loads((straight / "summary.json").read_text())
    assert sa["train_loss"] == sb["train_loss"] and sa["steps"] == sb["steps"] == 4 * 7
    assert sa["test_accuracy"] == sb["test_accuracy"]
    rows_a = [json.loads(r) for r in (resumed / "metrics.jsonl").read_text().splitlines()]
    rows_b = [json.loads(r) for r in (straight / "metrics.jsonl").read_text().splitlines()]
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in rows_a]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in rows_b]
    assert [r["epoch"] for r in rows_a] == [1, 2, 3, 4]
    assert sa["dtype"] == dtype and a["param.layers.0.w"].dtype == np.float32  # master weights


@pytest.mark.slow
def test_resume_with_dropout_is_bit_for_bit(tmp_path: Path, blobs_npz: Path):
    """The masks depend on (seed, step) alone: a run stopped after 2 epochs and resumed to 4
    equals an uninterrupted 4-epoch run, and dropout changed the run."""
    common = ["--data", blobs_npz, *TINY, "--activation", "selu", "--dropout", "0.2"]
    resumed, straight, plain = tmp_path / "resumed", tmp_path / "straight", tmp_path / "plain"
    assert run_main([*common, "--out", resumed, "--epochs", "2"]) == 0
    assert run_main([*common, "--out", resumed, "--epochs", "4", "--resume"]) == 0
    assert run_main([*common, "--out", straight, "--epochs", "4"]) == 0
    assert run_main([*common[:-2], "--out", plain, "--epochs", "4"]) == 0
    _, a = checkpoint.read_checkpoint(resumed / "checkpoint.npz")
    _, b = checkpoint.read_checkpoint(straight / "checkpoint.npz")
    _, c = checkpoint.read_checkpoint(plain / "checkpoint.npz")
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].tobytes() == b[name].tobytes(), name
    assert a["param.layers.0.w"].tobytes() != c["param.layers.0.w"].tobytes()
    sa = json.loads((resumed / "summary.json").read_text())
    sb = json.loads((straight / "summary.json").read_text())
    assert sa["config"]["dropout"] == 0.2 and sa["test_loss"] == sb["test_loss"]


@pytest.mark.slow
def test_dropout_is_off_at_evaluation_and_the_same_streamed(blobs_npz: Path):
    data = prepare_data(str(blobs_npz), 0)
    opt, mesh = loop.make_optimizer("adam", 1e-2), make_mesh()
    selu, drop = loop.get_activation("selu"), loop.make_dropout("selu", 0.3)
    finals = []
    for stream in (False, True):
        params = loop.init_params(jax.random.key(1), [6, 16, 3], init="lecun")
        key = np.asarray(jax.random.key_data(jax.random.key(2)))
        start = loop.TrainState(params, opt.init(params), key, 0, 0, [])
        state, device_params = loop.fit(start, data, activation=selu, optimizer=opt, batch_size=16,
                                         epochs=2, mesh=mesh, stream=stream, dropout=drop,
                                         dropout_key=loop.dropout_key(0))
        finals.append(state)
    a, b = finals
    for u, v in zip(jax.tree_util.tree_leaves(a.params), jax.tree_util.tree_leaves(b.params)):
        np.testing.assert_array_equal(u, v)
    # the recorded validation loss is the model's without dropout
    val_loss = mlp.cross_entropy(a.params, data.x_val, data.y_val, selu)[0]
    assert a.history[-1]["val_loss"] == pytest.approx(float(val_loss), rel=1e-6)
    with pytest.raises(ValueError, match="dropout needs a dropout_key"):
        loop.fit(start, data, activation=selu, optimizer=opt, batch_size=16, epochs=1, mesh=mesh,
                  dropout=drop)


@pytest.mark.slow
def test_dropout_on_one_and_eight_devices_agree(tmp_path: Path, blobs_npz: Path):
    """The masks do not depend on how the batch is sharded (jax_threefry_partitionable)."""
    results = {}
    for devices, source in ((1, "device"), (8, "stream")):
        out = tmp_path / f"d{devices}{source}"
        proc = subprocess.run(
            [PYTHON, str(SCRIPT), "--data", str(blobs_npz), "--out", str(out), "--epochs", "2", *TINY,
             "--input", source, "--activation", "selu", "--dropout", "0.2"],
            env=subprocess_env(devices), capture_output=True, text=True, timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        results[devices] = checkpoint.load_params(out / "checkpoint.npz")[0]
    for a, b in zip(jax.tree_util.tree_leaves(results[1]), jax.tree_util.tree_leaves(results[8])):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, blobs_npz: Path, monkeypatch, capsys
):
    steps_per_epoch = len(prepare_data(str(blobs_npz), 0).y_train) // 16

    def poisoned(name: str, lr: float) -> optax.GradientTransformation:
        """SGD whose updates turn NaN after two epochs."""
        base = optax.sgd(lr)

        def init(params):
            return {"count": jnp.zeros([], jnp.int32), "base": base.init(params)}

        def update(grads, state, params=None):
            updates, inner = base.update(grads, state["base"], params)
            scale = jnp.where(state["count"] >= 2 * steps_per_epoch, jnp.nan, 1.0)
            updates = jax.tree_util.tree_map(lambda u: u * scale, updates)
            return updates, {"count": state["count"] + 1, "base": inner}

        return optax.GradientTransformation(init, update)

    monkeypatch.setattr(loop, "make_optimizer", poisoned)
    out = tmp_path / "out"
    common = ["--data", blobs_npz, "--out", out, *TINY]
    assert run_main([*common, "--epochs", "2"]) == 0
    before = snapshot(out)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        run_main([*common, "--epochs", "4", "--resume"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "loss became nan in epoch 3" in err[0]
    assert "last good checkpoint: epoch 2" in err[0]
    assert snapshot(out) == before  # checkpoint, metrics and summary untouched


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_tiny_trainer_runs_as_written(dtype: str):
    """`python examples/mlp.py`: one line per epoch, and it learns digits."""
    proc = subprocess.run([PYTHON, str(SCRIPT.parent / "mlp.py"), "--dtype", dtype, "--epochs", "3"],
                          env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert [line.split()[:2] for line in lines] == [["epoch", str(e)] for e in (1, 2, 3)]
    assert float(lines[-1].split("test accuracy ")[1]) >= 0.9
