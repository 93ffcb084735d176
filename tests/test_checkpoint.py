"""Tests of examples/checkpoint.py: the output directory and its lock, checkpoints, export."""

from __future__ import annotations

import errno
import json
import os
import shutil
import struct
from pathlib import Path

import jax
import jax.export
import numpy as np
import pytest

import checkpoint
import loop
import mlp
from common import EnvironmentFailure, InputError
from input_pipeline import prepare_data
from trainer_helpers import TINY, make_blobs, run_main, snapshot, write_npz


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> tuple[Path, Path]:
    """One finished 2-epoch run (width 16) to resume from."""
    base = tmp_path_factory.mktemp("trained")
    x, y = make_blobs()
    data = write_npz(base / "blobs.npz", x=x, y=y)
    assert run_main(["--data", data, "--out", base / "out", "--epochs", "2", *TINY]) == 0
    return data, base / "out"


def _copy(trained_run, tmp_path: Path) -> tuple[Path, Path]:
    data, source = trained_run
    out = tmp_path / "out"
    shutil.copytree(source, out)
    return data, out


def test_checkpoint_names_parameters_and_round_trips(trained_run):
    _, out = trained_run
    header, arrays = checkpoint.read_checkpoint(out / "checkpoint.npz")
    assert header["format"] == "jelu-train-checkpoint" and header["version"] == 2
    assert header["epoch"] == 2 and header["classes"] == [10, 20, 30]
    assert {"param.layers.0.w", "param.layers.0.b", "param.layers.1.w", "data_key"} <= set(arrays)
    params, _, mean, std = checkpoint.load_params(out / "checkpoint.npz")
    assert [layer["w"].shape for layer in params["layers"]] == [(6, 16), (16, 3)]
    assert mean.dtype == std.dtype == np.float64


def test_failed_checkpoint_write_keeps_the_previous_one(trained_run, tmp_path: Path, monkeypatch):
    data_path, out = _copy(trained_run, tmp_path)
    before = snapshot(out)
    config = checkpoint.read_checkpoint(out / "checkpoint.npz")[0]["config"]
    like = jax.eval_shape(lambda k: loop.init_params(k, [6, 16, 3]), jax.random.key(0))
    state = checkpoint.restore_state(out / "checkpoint.npz", config, like,
                                     loop.make_optimizer("adam", 1e-3))
    d = prepare_data(str(data_path), 0)

    def crash_mid_write(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk on fire")

    monkeypatch.setattr(checkpoint.np, "savez", crash_mid_write)
    state.epoch += 1
    with pytest.raises(OSError, match="disk on fire"):
        checkpoint.save_checkpoint(out / "checkpoint.npz", state, config, d.classes, d.mean, d.std)
    monkeypatch.undo()
    assert snapshot(out) == before  # old checkpoint intact, no temporary file left
    assert checkpoint.read_checkpoint(out / "checkpoint.npz")[0]["epoch"] == 2


def test_full_disk_is_one_line_naming_the_space_and_keeps_the_last_checkpoint(
        trained_run, tmp_path: Path, monkeypatch, capsys):
    data, out = _copy(trained_run, tmp_path)
    size = (out / "checkpoint.npz").stat().st_size
    real_savez, calls = np.savez, []

    def savez_then_full(f, **arrays):
        calls.append(1)
        if len(calls) >= 2:  # epoch 3 saves, epoch 4 finds the disk full
            f.write(b"x" * 100)
            raise OSError(errno.ENOSPC, "No space left on device")
        real_savez(f, **arrays)

    monkeypatch.setattr(checkpoint.np, "savez", savez_then_full)
    with pytest.raises(SystemExit) as info:
        run_main(["--data", data, "--out", out, "--epochs", "5", *TINY, "--resume"])
    assert info.value.code == 3
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "no space left on the device writing" in lines[0], lines
    assert f"free at least {size / 2**20:.1f} MiB" in lines[0]
    assert checkpoint.read_checkpoint(out / "checkpoint.npz")[0]["epoch"] == 3
    assert not list(out.glob(".*.tmp"))


@pytest.mark.slow
def test_zip_directory_bit_flips_are_one_clear_error(trained_run, tmp_path: Path):
    """A bit flipped anywhere in the zip's central directory and end record either
    reads back the very same arrays or raises InputError; never anything else."""
    _, out = _copy(trained_run, tmp_path)
    path = out / "checkpoint.npz"
    blob = path.read_bytes()
    _, good = checkpoint.read_checkpoint(path)
    start = blob.rfind(b"PK\x05\x06")
    directory = struct.unpack("<I", blob[start + 16 : start + 20])[0]
    assert 0 < directory < start
    errors = 0
    for i in range(directory, len(blob)):
        bad = bytearray(blob)
        bad[i] ^= 1 << (i % 8)
        path.write_bytes(bytes(bad))
        try:
            _, arrays = checkpoint.read_checkpoint(path)
        except InputError as e:
            assert "corrupt or unreadable" in str(e) or "not a jelu" in str(e)
            errors += 1
        else:
            assert all(np.array_equal(arrays[k], good[k]) for k in good)
    assert errors > (len(blob) - directory) // 4


def test_lock_names_its_holder(tmp_path: Path):
    lock = checkpoint.OutputLock(tmp_path)
    with pytest.raises(InputError, match=rf"in use by another trainer \(pid {os.getpid()} on "):
        checkpoint.OutputLock(tmp_path)
    lock.release()
    checkpoint.OutputLock(tmp_path).release()  # free again


def test_second_trainer_on_the_same_out_exits_2(trained_run, tmp_path: Path, capsys):
    data, out = _copy(trained_run, tmp_path)
    before = snapshot(out)
    lock = checkpoint.OutputLock(out)  # another trainer holds it
    try:
        with pytest.raises(SystemExit) as info:
            run_main(["--data", data, "--out", out, "--epochs", "3", *TINY, "--resume"])
    finally:
        lock.release()
    assert info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"--out {out} is in use by another trainer (pid {os.getpid()}" in lines[0]
    assert snapshot(out) == before


def test_fresh_run_into_used_out_refuses_unless_overwrite(trained_run, tmp_path: Path, capsys):
    data, out = _copy(trained_run, tmp_path)
    before = snapshot(out)
    with pytest.raises(SystemExit) as info:
        run_main(["--data", data, "--out", out, "--epochs", "1", *TINY])
    assert info.value.code == 2
    line = capsys.readouterr().err.strip()
    assert "holds another run's results (checkpoint.npz, metrics.jsonl, summary.json)" in line
    assert "--overwrite" in line and snapshot(out) == before
    (out / ".checkpoint.npz.killed.tmp").write_bytes(b"left by kill -9")
    assert run_main(["--data", data, "--out", out, "--epochs", "1", *TINY, "--overwrite"]) == 0
    assert json.loads((out / "summary.json").read_text())["epochs"] == 1
    assert sorted(p.name for p in out.iterdir()) == [
        ".lock", "checkpoint.npz", "metrics.jsonl", "summary.json"]


def test_leftover_temp_files_are_removed_at_the_next_start(trained_run, tmp_path: Path):
    data, out = _copy(trained_run, tmp_path)
    for name in (".checkpoint.npz.abc123.tmp", ".metrics.jsonl.x.tmp"):
        (out / name).write_bytes(b"half")
    assert run_main(["--data", data, "--out", out, "--epochs", "3", *TINY, "--resume"]) == 0
    assert not list(out.glob(".*.tmp"))


def test_export_returns_logits_and_the_data_s_own_labels(tmp_path: Path):
    x, y = make_blobs()
    data = write_npz(tmp_path / "blobs.npz", x=x, y=y)
    out, blob = tmp_path / "out", tmp_path / "out" / "predict.jax"
    assert run_main(["--data", data, "--out", out, "--epochs", "2", *TINY, "--export", blob]) == 0
    exported = jax.export.deserialize(bytearray(blob.read_bytes()))
    assert tuple(exported.platforms) == ("cpu", "cuda", "tpu")
    params, header, mean, std = checkpoint.load_params(out / "checkpoint.npz")
    activation = loop.get_activation(header["config"]["activation"])
    x_new, _ = make_blobs(seed=1)
    for rows in (slice(0, 5), slice(0, 37)):  # the batch dimension is symbolic
        raw = x_new[rows].astype(np.float32)
        want = np.asarray(mlp.forward(params, ((raw - mean) / std).astype(np.float32), activation)[0])
        logits, labels = exported.call(raw)
        np.testing.assert_allclose(logits, want, rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(labels, np.array([10, 20, 30])[want.argmax(1)])


def test_export_into_an_unwritable_place_fails_before_training(tmp_path: Path, capsys):
    x, y = make_blobs()
    data = write_npz(tmp_path / "blobs.npz", x=x, y=y)
    out = tmp_path / "out"
    for target, fragment in ((tmp_path / "nodir" / "m.jax", "does not exist"),
                             (tmp_path, "is a directory")):
        with pytest.raises(SystemExit) as info:
            run_main(["--data", data, "--out", out, *TINY, "--export", target])
        assert info.value.code == 2
        line = capsys.readouterr().err.strip()
        assert "\n" not in line and f"--export {target}" in line and fragment in line
        assert not out.exists()
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "ro"
        locked.mkdir(mode=0o500)
        with pytest.raises(SystemExit):
            run_main(["--data", data, "--out", out, *TINY, "--export", locked / "m.jax"])
        assert "cannot write in" in capsys.readouterr().err and not out.exists()


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_byte(path: Path) -> None:
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))


def _foreign_npz(path: Path) -> None:
    arrays = {"header": np.frombuffer(b'{"format": "something else"}', np.uint8)}
    np.savez(path, **arrays, sha256=checkpoint.digest(arrays))


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
    data, out = _copy(trained_run, tmp_path)
    damage, extra, fragment = BAD_RESUMES[case]
    if damage == "other-data":
        x, y = make_blobs(seed=9)
        data = write_npz(tmp_path / "other.npz", x=x, y=y)
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


def test_full_disk_message_of_atomic_write(tmp_path: Path):
    from common import atomic_write

    target = tmp_path / "f.bin"
    target.write_bytes(b"o" * 3 * 2**20)

    def full(f):
        f.write(b"n" * 2**20)
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(EnvironmentFailure, match=r"free at least 3\.0 MiB .*current one, 3\.0 MiB"):
        atomic_write(target, full)
    assert target.read_bytes() == b"o" * 3 * 2**20 and sorted(tmp_path.iterdir()) == [target]
