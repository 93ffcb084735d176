"""Shared pieces of the trainer's tests (examples/): tiny data, running the CLI, snapshots."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

import train

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "train.py"

# Tiny settings shared by the end-to-end runs: batch 16 divides 1, 2, 4 and 8 devices.
TINY = ["--depth", "1", "--width", "16", "--batch-size", "16", "--quiet"]


def make_blobs(seed: int = 0, per_class: int = 60, classes: int = 3, dim: int = 6):
    """Well separated Gaussian blobs; labels 10, 20, 30 (remapped by the trainer)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(classes, dim))
    x = np.concatenate([c + rng.normal(size=(per_class, dim)) for c in centers])
    y = np.repeat(np.arange(1, classes + 1) * 10, per_class)
    return x.astype(np.float64) * 3.0 + 5.0, y.astype(np.int64)


def write_npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def run_main(argv: list) -> int:
    return train.main([str(a) for a in argv])


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file's bytes, except the lock file (which names its latest holder)."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.name != ".lock"}


def subprocess_env(devices: int | None = None) -> dict[str, str]:
    """The environment of a trainer subprocess: this checkout's jelu, ``devices`` CPU devices."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.pop("XLA_FLAGS", None)
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        env.pop(name, None)
    if devices is not None:
        env["JAX_PLATFORMS"] = "cpu"
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return env


PYTHON = sys.executable
