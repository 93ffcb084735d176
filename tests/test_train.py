"""End-to-end and unit tests of examples/train.py (the MLP trainer).

Most runs call ``train.main(argv)`` in-process on a tiny synthetic data set;
subprocesses are used only where the process itself matters: the default
command exactly as a user types it, 1 vs 8 devices, and "no traceback".
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "train.py"
sys.path.insert(0, str(ROOT / "examples"))
if str(ROOT) not in sys.path:  # jelu from this checkout when it is not installed
    sys.path.append(str(ROOT))

import train  # noqa: E402

# Tiny settings shared by the end-to-end runs: batch 16 divides 1, 2, 4 and 8 devices.
TINY = ["--depth", "1", "--width", "16", "--batch-size", "16", "--no-progress"]


def make_blobs(seed: int = 0, per_class: int = 60, classes: int = 3, dim: int = 6):
    """Well separated Gaussian blobs; labels 10, 20, 30 (remapped by the trainer)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(classes, dim))
    x = np.concatenate([c + rng.normal(size=(per_class, dim)) for c in centers])
    y = np.repeat(np.arange(1, classes + 1) * 10, per_class)
    return x.astype(np.float64) * 3.0 + 5.0, y.astype(np.int64)


@pytest.fixture
def blobs_npz(tmp_path: Path) -> Path:
    x, y = make_blobs()
    path = tmp_path / "blobs.npz"
    np.savez(path, x=x, y=y)
    return path


def run_main(argv: list[str]) -> int:
    return train.main([str(a) for a in argv])


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def subprocess_env(devices: int | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.pop("XLA_FLAGS", None)
    if devices is not None:
        env["JAX_PLATFORMS"] = "cpu"
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return env


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
        got = np.asarray(train.get_activation(name)(jnp.asarray(x)))
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-7, err_msg=name)
    # A per-unit alpha: elu(x) = alpha * expm1(x) for x < 0; celu uses expm1(x / alpha).
    alpha = np.array([0.5, 2.0], np.float32)
    z = np.array([[-1.0, -1.0]], np.float32)
    np.testing.assert_allclose(train.get_activation("elu")(z, alpha), alpha * np.expm1(z), rtol=1e-6)
    np.testing.assert_allclose(
        train.get_activation("celu")(z, alpha), alpha * np.expm1(z / alpha), rtol=1e-6
    )
    with pytest.raises(ValueError, match="elu, selu, celu, relu, jax-elu"):
        train.get_activation("gelu")


@pytest.mark.parametrize("init,gain", [("he", 2.0), ("lecun", 1.0)])
def test_init_params_shapes_and_scale(init: str, gain: float):
    params = train.init_params(jax.random.key(1), [400, 300, 200, 10], init=init, learn_alpha=True)
    shapes = [(layer["w"].shape, layer["b"].shape) for layer in params["layers"]]
    assert shapes == [((400, 300), (300,)), ((300, 200), (200,)), ((200, 10), (10,))]
    assert [a.shape for a in params["alpha"]] == [(300,), (200,)]
    for layer, fan_in in zip(params["layers"][:2], (400, 300)):
        assert float(jnp.std(layer["w"])) == pytest.approx(math.sqrt(gain / fan_in), rel=0.03)
        assert not np.any(np.asarray(layer["b"]))
    assert "alpha" not in train.init_params(jax.random.key(1), [4, 3, 2])
    assert train.init_for("selu") == "lecun" and train.init_for("elu") == "he"


def test_loss_and_accuracy_match_numpy():
    key_p, key_x = jax.random.split(jax.random.key(2))
    params = train.init_params(key_p, [5, 7, 4])
    x = np.asarray(jax.random.normal(key_x, (32, 5)))
    y = np.arange(32) % 4
    relu = train.get_activation("relu")
    w0, b0 = (np.asarray(params["layers"][0][k], np.float64) for k in "wb")
    w1, b1 = (np.asarray(params["layers"][1][k], np.float64) for k in "wb")
    logits = np.maximum(x @ w0 + b0, 0) @ w1 + b1
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    want_loss = -log_probs[np.arange(32), y].mean()
    assert float(train.loss(params, x, y, relu)) == pytest.approx(want_loss, rel=1e-5)
    got_logits, hidden = train.forward(params, x, relu)
    np.testing.assert_allclose(got_logits, logits, rtol=1e-5, atol=1e-5)
    assert len(hidden) == 1 and hidden[0].shape == (32, 7)
    assert float(train.accuracy(got_logits, y)) == pytest.approx(np.mean(logits.argmax(1) == y))
    value, acc = train.evaluate(params, x, y, relu)
    assert float(value) == pytest.approx(want_loss, rel=1e-5) and float(acc) == float(
        train.accuracy(got_logits, y)
    )


def test_learned_alpha_is_positive_and_gets_a_gradient():
    params = train.init_params(jax.random.key(3), [3, 4, 2], learn_alpha=True)
    params["alpha"] = [jnp.full((4,), math.log(2.0))]
    elu = train.get_activation("elu")
    x = -np.ones((1, 3), np.float32)
    params["layers"][0]["w"] = jnp.ones((3, 4))  # pre-activation -3 in every unit
    _, (h,) = train.forward(params, x, elu)
    np.testing.assert_allclose(h, 2.0 * np.expm1(-3.0) * np.ones((1, 4)), rtol=1e-6)
    # d loss / d log_alpha against a central difference: exercises jelu's alpha derivative.
    x = np.asarray(jax.random.normal(jax.random.key(4), (16, 3))) * 2
    y = np.arange(16) % 2
    params = train.init_params(jax.random.key(5), [3, 4, 2], learn_alpha=True)
    objective = jax.jit(lambda p: train.loss(p, x, y, elu))
    grad = np.asarray(jax.grad(objective)(params)["alpha"][0])
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)
    direction = np.array([1.0, -0.5, 0.25, 2.0], np.float32)
    eps = 1e-2

    def at(t: float) -> float:
        shifted = {**params, "alpha": [params["alpha"][0] + t * direction]}
        return float(objective(shifted))

    assert (at(eps) - at(-eps)) / (2 * eps) == pytest.approx(grad @ direction, rel=2e-2, abs=1e-5)


# ----------------------------------------------------------------- the data


def test_stratified_split_is_seeded_and_stratified():
    y = np.repeat(np.arange(3), [100, 40, 20])
    train_idx, val_idx, test_idx = train.stratified_split(y, seed=7)
    together = np.concatenate([train_idx, val_idx, test_idx])
    assert sorted(together.tolist()) == list(range(len(y)))  # a partition
    for c, n in enumerate([100, 40, 20]):
        assert np.sum(y[test_idx] == c) == round(0.15 * n)
        assert np.sum(y[val_idx] == c) == round(0.15 * n)
    again = train.stratified_split(y, seed=7)
    other = train.stratified_split(y, seed=8)
    assert all(np.array_equal(a, b) for a, b in zip(again, (train_idx, val_idx, test_idx)))
    assert not np.array_equal(other[2], test_idx)


def test_standardized_with_training_statistics_only(blobs_npz: Path):
    x, y = make_blobs()
    data = train.prepare_data(str(blobs_npz), seed=0)
    train_idx, val_idx, _ = train.stratified_split(np.unique(y, return_inverse=True)[1], seed=0)
    mean = x[train_idx].mean(axis=0)
    std = x[train_idx].std(axis=0)
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(data.x_train.std(axis=0), 1, rtol=1e-4)
    np.testing.assert_allclose(data.x_val, (x[val_idx] - mean) / std, rtol=1e-4, atol=1e-5)
    assert data.classes == [10, 20, 30]
    assert sorted(set(data.y_train.tolist())) == [0, 1, 2]


def test_csv_with_header_reads_like_npz(tmp_path: Path, blobs_npz: Path):
    x, y = make_blobs()
    csv_path = tmp_path / "blobs.csv"
    lines = [",".join(f"f{i}" for i in range(x.shape[1])) + ",label"]
    lines += [",".join(repr(float(v)) for v in row) + f",{label}" for row, label in zip(x, y)]
    csv_path.write_text("\n".join(lines) + "\n")
    a = train.prepare_data(str(csv_path), seed=0)
    b = train.prepare_data(str(blobs_npz), seed=0)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert a.sha256 == b.sha256


# ------------------------------------------------------------- end to end


def test_default_command_out_of_the_box(tmp_path: Path):
    """`python examples/train.py` with no arguments: digits, elu, >= 0.95."""
    proc = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=tmp_path, env=subprocess_env(),
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
    assert "Traceback" not in proc.stderr


def test_one_and_eight_devices_agree(tmp_path: Path, blobs_npz: Path):
    results = {}
    for devices in (1, 8):
        out = tmp_path / f"d{devices}"
        proc = subprocess.run(
            [sys.executable, str(SCRIPT), "--data", str(blobs_npz), "--out", str(out),
             "--epochs", "3", *TINY],
            env=subprocess_env(devices), capture_output=True, text=True, timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        summary = json.loads((out / "summary.json").read_text())
        assert summary["devices"] == devices
        results[devices] = (summary, train.load_params(out / "checkpoint.npz")[0])
    (s1, p1), (s8, p8) = results[1], results[8]
    assert s1["steps"] == s8["steps"] == 3 * (126 // 16)
    assert s8["train_loss"] == pytest.approx(s1["train_loss"], rel=1e-4)
    assert s8["test_loss"] == pytest.approx(s1["test_loss"], rel=1e-4)
    assert abs(s8["test_accuracy"] - s1["test_accuracy"]) <= 1 / s1["sizes"]["test"] + 1e-9
    for a, b in zip(jax.tree_util.tree_leaves(p1), jax.tree_util.tree_leaves(p8)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_batch_not_divisible_by_devices_fails_cleanly(tmp_path: Path, blobs_npz: Path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(blobs_npz), "--out", str(out),
         "--batch-size", "12", "--no-progress"],
        env=subprocess_env(8), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "train.py: error: --batch-size 12 does not divide by the 8 devices; use a multiple of 8"
    ]
    assert proc.stdout == "" and not out.exists()


def test_bad_input_in_a_subprocess_has_no_traceback(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(tmp_path / "missing.csv"),
         "--out", str(tmp_path / "out")],
        env=subprocess_env(), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"train.py: error: data file not found: {tmp_path / 'missing.csv'}"
    ]
    assert not (tmp_path / "out").exists()


def test_resume_is_bit_for_bit(tmp_path: Path, blobs_npz: Path):
    common = ["--data", blobs_npz, *TINY, "--optimizer", "adamw", "--learn-alpha"]
    resumed, straight = tmp_path / "resumed", tmp_path / "straight"
    assert run_main([*common, "--out", resumed, "--epochs", "2"]) == 0
    assert json.loads((resumed / "summary.json").read_text())["epochs"] == 2
    assert run_main([*common, "--out", resumed, "--epochs", "4", "--resume"]) == 0
    assert run_main([*common, "--out", straight, "--epochs", "4"]) == 0

    _, a = train.read_checkpoint(resumed / "checkpoint.npz")
    _, b = train.read_checkpoint(straight / "checkpoint.npz")
    assert sorted(a) == sorted(b) and any(k.startswith("opt_") for k in a)
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


def test_export_reproduces_apply(tmp_path: Path, blobs_npz: Path):
    out, blob = tmp_path / "out", tmp_path / "out" / "predict.jax"
    assert run_main(["--data", blobs_npz, "--out", out, "--epochs", "2", *TINY,
                     "--export", blob]) == 0
    exported = jax.export.deserialize(bytearray(blob.read_bytes()))
    assert tuple(exported.platforms) == ("cpu", "cuda", "tpu")
    params, header, mean, std = train.load_params(out / "checkpoint.npz")
    activation = train.get_activation(header["config"]["activation"])
    x, _ = make_blobs(seed=1)
    for rows in (x[:5], x[:37]):  # the batch dimension is symbolic
        raw = rows.astype(np.float32)
        want = train.apply(params, (raw - mean) / std, activation)
        np.testing.assert_allclose(exported.call(raw), want, rtol=1e-5, atol=1e-5)


def test_learn_alpha_summary_and_plot(tmp_path: Path, blobs_npz: Path):
    out = tmp_path / "out"
    assert run_main(["--data", blobs_npz, "--out", out, "--epochs", "2", *TINY,
                     "--activation", "celu", "--learn-alpha", "--lr", "0.05", "--plot"]) == 0
    learned = json.loads((out / "summary.json").read_text())["learned_alpha"]
    params = train.load_params(out / "checkpoint.npz")[0]
    alphas = np.exp(np.asarray(params["alpha"][0], np.float64))
    assert learned["mean"] == pytest.approx(alphas.mean())
    assert learned["min"] == pytest.approx(alphas.min()) and learned["min"] > 0
    assert learned["max"] == pytest.approx(alphas.max())
    assert learned["max"] - learned["min"] > 1e-3  # the alphas were trained, not left at 1
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_help_documents_every_flag_with_its_default(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for action in train.build_parser()._actions:
        if action.dest == "help":
            continue
        assert action.option_strings[0] in text
        assert f"(default: {action.default})" in text, action.dest


# --------------------------------------------- divergence and atomic writes


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, blobs_npz: Path, monkeypatch, capsys
):
    steps_per_epoch = len(train.prepare_data(str(blobs_npz), 0).y_train) // 16

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

    monkeypatch.setattr(train, "make_optimizer", poisoned)
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


def test_failed_checkpoint_write_keeps_the_previous_one(
    tmp_path: Path, blobs_npz: Path, monkeypatch
):
    out = tmp_path / "out"
    assert run_main(["--data", blobs_npz, "--out", out, "--epochs", "1", *TINY]) == 0
    before = snapshot(out)
    config = train.read_checkpoint(out / "checkpoint.npz")[0]["config"]
    state = train.restore_state(out / "checkpoint.npz", config, train.make_optimizer("adam", 1e-3))
    data = train.prepare_data(str(blobs_npz), 0)

    def crash_mid_write(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(train.np, "savez", crash_mid_write)
    state.epoch += 1
    with pytest.raises(OSError, match="disk full"):
        train.save_checkpoint(out / "checkpoint.npz", state, config, data)
    monkeypatch.undo()
    assert snapshot(out) == before  # old checkpoint intact, no temporary file left
    assert train.read_checkpoint(out / "checkpoint.npz")[0]["epoch"] == 1


# ---------------------------------------------------------------- bad input


def _write(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


X, Y = make_blobs()


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _bytes(path: Path, blob: bytes) -> Path:
    path.write_bytes(blob)
    return path


BAD_INPUTS = {
    # name: (setup(tmp) -> extra argv, expected message fragment)
    "missing file": (lambda t: ["--data", t / "nope.npz"], "data file not found"),
    "unreadable npz": (
        lambda t: ["--data", _csv(t / "junk.npz", "not a zip archive")], "cannot read"),
    "unreadable csv": (lambda t: ["--data", _bytes(t / "d.csv", b"\xff\xfe1,2\n")], "cannot read"),
    "npz without x": (lambda t: ["--data", _write(t / "d.npz", features=X, y=Y)], "no array named 'x'"),
    "npz without y": (lambda t: ["--data", _write(t / "d.npz", x=X)], "no array named 'y'"),
    "x of rank 1": (lambda t: ["--data", _write(t / "d.npz", x=X[:, 0], y=Y)], "x must be 2-D"),
    "y of rank 2": (lambda t: ["--data", _write(t / "d.npz", x=X, y=Y[:, None])], "y must be 1-D"),
    "mismatched lengths": (
        lambda t: ["--data", _write(t / "d.npz", x=X, y=Y[:-1])], "180 rows but y has 179"),
    "non-numeric csv cell": (
        lambda t: ["--data", _csv(t / "d.csv", "a,b,label\n1,2,0\n3,x7,1\n")],
        "line 3 column 2: 'x7' is not a number"),
    "nan feature": (
        lambda t: ["--data", _write(t / "d.npz", x=np.where(np.arange(180)[:, None] == 5, np.nan, X), y=Y)],
        "features must be finite"),
    "inf feature": (
        lambda t: ["--data", _csv(t / "d.csv", "1,2,0\n3,inf,1\n5,6,1\n")], "features must be finite"),
    "non-integer labels": (
        lambda t: ["--data", _write(t / "d.npz", x=X, y=Y + 0.5)], "labels must be integers"),
    "one class": (
        lambda t: ["--data", _write(t / "d.npz", x=X, y=np.zeros(180, int))], "at least 2 classes"),
    "batch larger than training set": (
        lambda t: ["--data", _write(t / "d.npz", x=X, y=Y), "--batch-size", "128"],
        "larger than the training set (126 rows)"),
    "depth 0": (lambda t: ["--depth", "0"], "--depth must be a positive integer"),
    "width 0": (lambda t: ["--width", "0"], "--width must be a positive integer"),
    "negative width": (lambda t: ["--width", "-3"], "--width must be a positive integer"),
    "unknown activation": (lambda t: ["--activation", "gelu"], "invalid choice: 'gelu'"),
    "unknown optimizer": (lambda t: ["--optimizer", "rmsprop"], "invalid choice: 'rmsprop'"),
    "learn-alpha with relu": (
        lambda t: ["--activation", "relu", "--learn-alpha"], "--learn-alpha needs elu"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line(case: str, tmp_path: Path, capsys):
    setup, fragment = BAD_INPUTS[case]
    argv = setup(tmp_path)
    if "--data" not in argv:
        argv += ["--data", _write(tmp_path / "ok.npz", x=X, y=Y)]
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        run_main([*TINY, *argv, "--out", out, "--export", out / "m.jax", "--plot"])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train.py: error: "), captured.err
    assert fragment in lines[0]
    assert captured.out == "" and not out.exists()


@pytest.mark.parametrize("where", ["parent is a file", "out is a file"])
def test_unwritable_out_exits_2_and_writes_nothing(where: str, tmp_path: Path, capsys, blobs_npz):
    blocker = tmp_path / "blocker"
    blocker.write_text("keep me")
    out = blocker / "sub" if where == "parent is a file" else blocker
    with pytest.raises(SystemExit) as exit_info:
        run_main(["--data", blobs_npz, "--out", out, *TINY])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"--out {out}" in lines[0]
    assert blocker.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blobs.npz", "blocker"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> tuple[Path, Path]:
    """One finished 2-epoch run (width 16) to resume from."""
    base = tmp_path_factory.mktemp("trained")
    x, y = make_blobs()
    data = base / "blobs.npz"
    np.savez(data, x=x, y=y)
    assert run_main(["--data", data, "--out", base / "out", "--epochs", "2", *TINY]) == 0
    return data, base / "out"


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_byte(path: Path) -> None:
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))


def _foreign_npz(path: Path) -> None:
    arrays = {"header": np.frombuffer(b'{"format": "something else"}', np.uint8)}
    np.savez(path, **arrays, sha256=train._digest(arrays))


BAD_RESUMES = {
    "other width": (None, ["--width", "32"], "another configuration: width 16 (checkpoint) vs 32"),
    "other activation": (None, ["--activation", "selu"], "activation 'elu' (checkpoint) vs 'selu'"),
    "other data": ("other-data", [], "data_sha256"),
    "truncated": (_truncate, [], "corrupt or unreadable"),
    "flipped byte": (_flip_byte, [], "corrupt or unreadable"),
    "not our format": (_foreign_npz, [], "is not a jelu-train-checkpoint file"),
    "missing": (lambda p: p.unlink(), [], "no checkpoint to resume from"),
    "epochs below checkpoint": (None, ["--epochs", "1"], "checkpoint is at epoch 2, beyond --epochs 1"),
}


@pytest.mark.parametrize("case", list(BAD_RESUMES))
def test_bad_resume_exits_2_and_changes_nothing(case: str, trained_run, tmp_path: Path, capsys):
    data, source = trained_run
    out = tmp_path / "out"
    shutil.copytree(source, out)
    damage, extra, fragment = BAD_RESUMES[case]
    if damage == "other-data":
        x, y = make_blobs(seed=9)
        data = _write(tmp_path / "other.npz", x=x, y=y)
    elif damage is not None:
        damage(out / "checkpoint.npz")
    before = snapshot(out)
    argv = ["--data", data, "--out", out, "--epochs", "3", *TINY, *extra, "--resume"]
    with pytest.raises(SystemExit) as exit_info:
        run_main(argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train.py: error: ")
    assert fragment in lines[0], lines[0]
    assert snapshot(out) == before
