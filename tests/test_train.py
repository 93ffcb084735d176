"""Tests of examples/train.py and hosts.py: flags, one-line errors with their exit codes,
faults, many hosts, a lost host.

In-process runs call ``train.main(argv)``; subprocesses are used where the process
itself matters: no traceback, 8 devices, a missing GPU platform, Ctrl-C, and
2 processes joined by jax.distributed.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import checkpoint
import train
from trainer_helpers import (PYTHON, SCRIPT, TINY, make_blobs, run_main, subprocess_env,
                             write_npz)

X, Y = make_blobs()


@pytest.fixture
def blobs_npz(tmp_path: Path) -> Path:
    return write_npz(tmp_path / "blobs.npz", x=X, y=Y)


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
        lambda t: ["--data", _csv(t / "junk.npz", "not a zip archive")], "not an .npz (zip) archive"),
    "npy renamed npz": (
        lambda t: ["--data", _bytes(t / "d.npz", b"\x93NUMPY\x01\x00rest")], "single .npy array"),
    "unreadable csv": (lambda t: ["--data", _bytes(t / "d.csv", b"\xff\xfe1,2\n")], "cannot read"),
    "npz without x": (lambda t: ["--data", write_npz(t / "d.npz", features=X, y=Y)], "no array named 'x'"),
    "npz without y": (lambda t: ["--data", write_npz(t / "d.npz", x=X)], "no array named 'y'"),
    "x of rank 1": (lambda t: ["--data", write_npz(t / "d.npz", x=X[:, 0], y=Y)], "x must be 2-D"),
    "y of rank 2": (lambda t: ["--data", write_npz(t / "d.npz", x=X, y=Y[:, None])], "y must be 1-D"),
    "mismatched lengths": (
        lambda t: ["--data", write_npz(t / "d.npz", x=X, y=Y[:-1])], "180 rows but y has 179"),
    "non-numeric csv cell": (
        lambda t: ["--data", _csv(t / "d.csv", "a,b,label\n1,2,0\n3,x7,1\n")],
        "line 3 column 2: 'x7' is not a number"),
    "typo in the first data row": (
        lambda t: ["--data", _csv(t / "d.csv", "1,2o,0\n3,4,1\n1,2,0\n")],
        "line 1 mixes numbers and text ('2o' in column 2)"),
    "underscore in a number": (
        lambda t: ["--data", _csv(t / "d.csv", "1,2,0\n3,1_0,1\n")], "'1_0' is not a number"),
    "nan feature": (
        lambda t: ["--data", write_npz(t / "d.npz", x=np.where(np.arange(180)[:, None] == 5, np.nan, X), y=Y)],
        "features must be finite"),
    "inf feature": (
        lambda t: ["--data", _csv(t / "d.csv", "1,2,0\n3,inf,1\n5,6,1\n")], "features must be finite"),
    "feature beyond float32": (
        lambda t: ["--data", _csv(t / "d.csv", "1,2,0\n3,1e39,1\n5,6,1\n")], "within float32's range"),
    "non-integer labels": (
        lambda t: ["--data", write_npz(t / "d.npz", x=X, y=Y + 0.5)], "labels must be integers"),
    "labels 1e19 and 2e19": (
        lambda t: ["--data", write_npz(t / "d.npz", x=X, y=np.repeat([1e19, 2e19], 90))],
        "labels must be integers in [-2147483648, 2147483647]: row 0 has 1e+19"),
    "one class": (
        lambda t: ["--data", write_npz(t / "d.npz", x=X, y=np.zeros(180, int))], "at least 2 classes"),
    "batch larger than training set": (
        lambda t: ["--data", write_npz(t / "d.npz", x=X, y=Y), "--batch-size", "128"],
        "larger than the training set (126 rows)"),
    "depth 0": (lambda t: ["--depth", "0"], "argument --depth: expected a positive integer, got '0'"),
    "width 0": (lambda t: ["--width", "0"], "argument --width: expected a positive integer"),
    "negative width": (lambda t: ["--width", "-3"], "argument --width: expected a positive integer"),
    "zero lr": (lambda t: ["--lr", "0"], "argument --lr: expected a positive finite number"),
    "negative seed": (lambda t: ["--seed", "-1"], "--seed must be in [0, 2**32)"),
    "unknown activation": (lambda t: ["--activation", "gelu"], "invalid choice: 'gelu'"),
    "unknown optimizer": (lambda t: ["--optimizer", "rmsprop"], "invalid choice: 'rmsprop'"),
    "dropout 1": (lambda t: ["--dropout", "1"], "argument --dropout: expected a rate in [0, 1), got '1'"),
    "negative dropout": (lambda t: ["--dropout", "-0.1"], "argument --dropout: expected a rate in [0, 1)"),
    "nan dropout": (lambda t: ["--dropout", "nan"], "argument --dropout: expected a rate in [0, 1)"),
    "learn-alpha with relu": (
        lambda t: ["--activation", "relu", "--learn-alpha"], "--learn-alpha needs elu"),
    "resume and overwrite": (lambda t: ["--resume", "--overwrite"], "give one of them"),
    "half the multi-host flags": (
        lambda t: ["--num-processes", "2"], "need --coordinator-address, --num-processes and --process-id"),
    "process id out of range": (
        lambda t: ["--coordinator-address", "127.0.0.1:1", "--num-processes", "2", "--process-id", "2"],
        "--process-id must be in [0, 2), got 2"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line(case: str, tmp_path: Path, capsys):
    setup, fragment = BAD_INPUTS[case]
    argv = setup(tmp_path)
    if "--data" not in argv:
        argv += ["--data", write_npz(tmp_path / "ok.npz", x=X, y=Y)]
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


def test_no_progress_prints_one_short_line_per_epoch(tmp_path: Path, blobs_npz: Path, capsys):
    argv = ["--data", blobs_npz, "--out", tmp_path / "out", "--epochs", "3", "--depth", "1",
            "--width", "16", "--batch-size", "16", "--no-progress"]
    assert run_main(argv) == 0
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert [line.split()[0:2] for line in lines] == [["epoch", f"{e}/3"] for e in (1, 2, 3)]
    assert all("loss=" in line and "val_acc=" in line and len(line) < 80 for line in lines)
    assert captured.out.startswith("test_accuracy=")


@pytest.mark.slow
def test_learn_alpha_summary_and_plot(tmp_path: Path, blobs_npz: Path):
    out = tmp_path / "out"
    assert run_main(["--data", blobs_npz, "--out", out, "--epochs", "2", *TINY,
                     "--activation", "celu", "--learn-alpha", "--lr", "0.05", "--plot"]) == 0
    learned = json.loads((out / "summary.json").read_text())["learned_alpha"]
    params = checkpoint.load_params(out / "checkpoint.npz")[0]
    alphas = np.exp(np.asarray(params["alpha"][0], np.float64))
    assert learned["mean"] == pytest.approx(alphas.mean())
    assert learned["min"] == pytest.approx(alphas.min()) and learned["min"] > 0
    assert learned["max"] == pytest.approx(alphas.max())
    assert learned["max"] - learned["min"] > 1e-3  # the alphas were trained, not left at 1
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_dropout_is_part_of_the_configuration(tmp_path: Path, blobs_npz: Path, capsys):
    """A run without --dropout resumes without it (its config has no "dropout": checkpoints
    written before the flag existed resume too); resuming it with --dropout is refused."""
    out = tmp_path / "out"
    common = ["--data", blobs_npz, "--out", out, *TINY]
    assert run_main([*common, "--epochs", "1"]) == 0
    header = checkpoint.read_checkpoint(out / "checkpoint.npz")[0]
    assert "dropout" not in header["config"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        run_main([*common, "--epochs", "2", "--resume", "--dropout", "0.1"])
    assert exit_info.value.code == 2
    assert "dropout None (checkpoint) vs 0.1 (now)" in capsys.readouterr().err
    assert run_main([*common, "--epochs", "2", "--resume", "--dropout", "0"]) == 0
    assert run_main([*common, "--epochs", "1", "--overwrite", "--dropout", "0.1"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["dropout"] == 0.1


@pytest.mark.slow
def test_ctrl_c_names_the_kept_checkpoint(tmp_path: Path, blobs_npz: Path, monkeypatch, capsys):
    real, saved = checkpoint.save_checkpoint, []

    def save_then_interrupt(*args, **kwargs):
        if len(saved) == 2:
            raise KeyboardInterrupt  # Ctrl-C during epoch 3's checkpoint write
        saved.append(1)
        real(*args, **kwargs)

    monkeypatch.setattr(checkpoint, "save_checkpoint", save_then_interrupt)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        run_main(["--data", blobs_npz, "--out", out, "--epochs", "5", *TINY])
    assert info.value.code == 130
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"train.py: error: interrupted; {out / 'checkpoint.npz'} holds epoch 2; "
                     "continue with --resume"]
    assert checkpoint.read_checkpoint(out / "checkpoint.npz")[0]["epoch"] == 2
    monkeypatch.undo()
    assert run_main(["--data", blobs_npz, "--out", out, "--epochs", "3", *TINY, "--resume"]) == 0


# ------------------------------------------------------------- subprocesses


def _run(argv: list, devices: int | None = None, **env) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, str(SCRIPT), *map(str, argv)],
                          env=subprocess_env(devices) | env, capture_output=True, text=True,
                          timeout=120)


def test_bad_input_in_a_subprocess_is_one_line_without_warnings(tmp_path: Path):
    data = _csv(tmp_path / "d.csv", "1,3e38,0\n3,-3e38,1\n5,nan,1\n")
    proc = _run(["--data", data, "--out", tmp_path / "out"])
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "train.py: error: features must be finite numbers within float32's range (|x| <= "
        "3.4e38): row 2, column 1 is nan"]
    assert not (tmp_path / "out").exists()


def test_batch_not_divisible_by_devices_fails_cleanly(tmp_path: Path, blobs_npz: Path):
    out = tmp_path / "out"
    proc = _run(["--data", blobs_npz, "--out", out, "--batch-size", "12", "--no-progress"], 8)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "train.py: error: --batch-size 12 does not divide by the 8 devices; use a multiple of 8"]
    assert proc.stdout == "" and not out.exists()


def test_missing_gpu_platform_is_one_line(tmp_path: Path):
    proc = _run(["--out", tmp_path / "out"], JAX_PLATFORMS="cuda")
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "train.py: error: JAX could not start with JAX_PLATFORMS=cuda: "), lines
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_sigint_stops_with_one_line_and_keeps_the_checkpoint(tmp_path: Path, blobs_npz: Path):
    out = tmp_path / "out"
    argv = [PYTHON, str(SCRIPT), "--data", blobs_npz, "--out", out, "--epochs", "100000",
            "--depth", "1", "--width", "16", "--batch-size", "16", "--no-progress"]
    # A shell starts background jobs with SIGINT ignored, and an ignored SIGINT
    # is inherited (Python then leaves it ignored, as a Unix program should):
    # the trainer is started with SIGINT handled, as from a terminal.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen([str(a) for a in argv], env=subprocess_env(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        for line in proc.stderr:
            if line.startswith("epoch 3/"):
                break
        proc.send_signal(signal.SIGINT)
        try:
            _, rest = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired as e:  # name what the trainer said besides its epochs
            said = [s for s in (e.stderr or b"").decode(errors="replace").splitlines()
                    if not s.startswith("epoch ")]
            pytest.fail(f"still training 60 s after SIGINT; stderr besides epoch lines: {said[-20:]}")
    finally:
        proc.kill()
    assert proc.returncode == 130
    last = rest.strip().splitlines()[-1]
    assert last.startswith(f"train.py: error: interrupted; {out / 'checkpoint.npz'} holds epoch ")
    kept = int(last.split("holds epoch ")[1].split(";")[0])
    assert kept >= 3 and "Traceback" not in rest
    assert checkpoint.read_checkpoint(out / "checkpoint.npz")[0]["epoch"] == kept


# ------------------------------------------------------------- many hosts


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_processes(argvs: list[list], timeout: int = 120) -> list[subprocess.CompletedProcess]:
    address = f"127.0.0.1:{_free_port()}"
    procs = [subprocess.Popen(
        [PYTHON, str(SCRIPT), *map(str, argv), "--coordinator-address", address,
         "--num-processes", "2", "--process-id", str(i)],
        env=subprocess_env(2), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for i, argv in enumerate(argvs)]
    results = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            results.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    finally:
        for p in procs:
            p.kill()
    return results


@pytest.mark.slow
def test_two_processes_match_one_process_and_only_process_0_writes(tmp_path: Path, blobs_npz: Path):
    common = ["--data", blobs_npz, "--epochs", "2", *TINY]
    single = _run([*common, "--out", tmp_path / "single"], 4)
    assert single.returncode == 0, single.stderr
    p0, p1 = _two_processes([[*common, "--out", tmp_path / "p0"], [*common, "--out", tmp_path / "p1"]])
    assert p0.returncode == 0 and p1.returncode == 0, (p0.stderr, p1.stderr)
    # gloo itself reports its connections on stdout ("[Gloo] Rank 0 is connected to 3 peer
    # ranks. ..."), from C++, so its lines may arrive split around ours.
    gloo = re.compile(r"\[Gloo\]|is connected to \d+ peer ranks|Expected number of connected peer ranks")
    summary = [line for line in p0.stdout.splitlines() if "test_accuracy=" in line]
    assert len(summary) == 1 and "test_accuracy=" not in p1.stdout, (p0.stdout, p1.stdout)
    others = [line for p in (p0, p1) for line in p.stdout.splitlines()
              if line.strip() and "test_accuracy=" not in line and not gloo.search(line)]
    assert others == [], others
    assert p0.stderr == p1.stderr == ""
    assert not (tmp_path / "p1").exists()  # process 1 writes nothing
    a = json.loads((tmp_path / "single" / "summary.json").read_text())
    b = json.loads((tmp_path / "p0" / "summary.json").read_text())
    assert (a["devices"], a["processes"], b["devices"], b["processes"]) == (4, 1, 4, 2)
    assert b["test_accuracy"] == a["test_accuracy"]
    assert b["test_loss"] == pytest.approx(a["test_loss"], rel=1e-5)
    pa = checkpoint.load_params(tmp_path / "single" / "checkpoint.npz")[0]
    pb = checkpoint.load_params(tmp_path / "p0" / "checkpoint.npz")[0]
    for u, v in zip(pa["layers"], pb["layers"]):
        np.testing.assert_allclose(v["w"], u["w"], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_an_input_error_on_one_host_stops_every_host(tmp_path: Path, blobs_npz: Path):
    common = ["--epochs", "2", *TINY, "--out", tmp_path / "out"]
    p0, p1 = _two_processes([["--data", blobs_npz, *common],
                             ["--data", tmp_path / "missing.npz", *common]], timeout=90)
    assert (p0.returncode, p1.returncode) == (2, 2)
    assert p1.stderr.strip().splitlines() == [
        f"train.py: error: data file not found: {tmp_path / 'missing.npz'}"]
    assert p0.stderr.strip().splitlines() == [
        "train.py: error: process 1 stopped with an error (see its message); stopping too"]
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_resume_without_a_checkpoint_on_one_host_stops_every_host(tmp_path: Path, blobs_npz: Path):
    """--out should be shared; where it is not, the host without the checkpoint says so."""
    common = ["--data", blobs_npz, *TINY]
    assert run_main([*common, "--epochs", "2", "--out", tmp_path / "p0"]) == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "p0").iterdir() if p.name != ".lock"}
    p0, p1 = _two_processes([[*common, "--epochs", "3", "--resume", "--out", tmp_path / "p0"],
                             [*common, "--epochs", "3", "--resume", "--out", tmp_path / "p1"]],
                            timeout=90)
    assert (p0.returncode, p1.returncode) == (2, 2)
    assert p1.stderr.strip().splitlines() == [
        f"train.py: error: no checkpoint to resume from at {tmp_path / 'p1' / 'checkpoint.npz'}"]
    assert p0.stderr.strip().splitlines() == [
        "train.py: error: process 1 stopped with an error (see its message); stopping too"]
    after = {p.name: p.read_bytes() for p in (tmp_path / "p0").iterdir() if p.name != ".lock"}
    assert after == before


@pytest.mark.slow
@pytest.mark.parametrize("killed", [1, 0])
def test_a_lost_process_ends_every_other_within_60_s_with_one_line(
        killed: int, tmp_path: Path, blobs_npz: Path):
    """SIGKILL one of two processes mid-training: the other exits 3 with one line naming
    it and the checkpoint to --resume from, no stack trace, well within 60 s."""
    address = f"127.0.0.1:{_free_port()}"
    argv = ["--data", blobs_npz, "--epochs", "100000", "--depth", "1", "--width", "16",
            "--batch-size", "16", "--no-progress", "--out", tmp_path / "out"]
    procs = [subprocess.Popen(
        [PYTHON, str(SCRIPT), *map(str, argv), "--coordinator-address", address,
         "--num-processes", "2", "--process-id", str(i)],
        env=subprocess_env(2), text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for i in range(2)]
    survivor = procs[1 - killed]
    try:
        for line in procs[0].stderr:  # process 0 reports the epochs
            if line.startswith("epoch 3/"):
                break
        procs[killed].kill()
        start = time.monotonic()
        _, err = survivor.communicate(timeout=60)
        elapsed = time.monotonic() - start
    finally:
        for p in procs:
            p.kill()
            p.communicate()
    lines = [s for s in err.strip().splitlines() if not s.startswith("epoch ")]
    assert survivor.returncode == 3 and elapsed < 60, (survivor.returncode, elapsed, lines)
    assert len(lines) == 1 and "Traceback" not in err, lines
    assert lines[0].startswith(f"train.py: error: lost contact with process {killed}, stopping; "), lines
    if killed == 1:  # the survivor is process 0, which writes the checkpoint
        kept = int(lines[0].split("holds epoch ")[1].split(":")[0])
        assert kept >= 3 and lines[0].endswith("restart every process with --resume"), lines
        assert checkpoint.read_checkpoint(tmp_path / "out" / "checkpoint.npz")[0]["epoch"] >= kept
