"""Tests of examples/common.py: one-line argument errors, number parsing, atomic writes."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from common import (OneLineParser, atomic_write, positive_float, positive_int,
                    remove_stale_temp_files, write_bytes_atomic)


def test_one_line_parser_errors(capsys):
    p = OneLineParser(prog="prog.py")
    p.add_argument("--n", type=positive_int, default=1)
    p.add_argument("--lr", type=positive_float, default=1.0)
    for argv, fragment in ((["--n", "0"], "expected a positive integer, got '0'"),
                           (["--n", "1.5"], "expected a positive integer, got '1.5'"),
                           (["--lr", "nan"], "expected a positive finite number, got 'nan'"),
                           (["--lr", "x"], "expected a positive number, got 'x'"),
                           (["--what"], "unrecognized arguments: --what")):
        with pytest.raises(SystemExit) as info:
            p.parse_args(argv)
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("prog.py: error: ") and fragment in err
    assert p.parse_args(["--n", "3", "--lr", "1e-3"]) == argparse.Namespace(n=3, lr=1e-3)


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path: Path):
    target = tmp_path / "f.txt"
    write_bytes_atomic(target, b"first")

    def half(f):
        f.write(b"sec")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(target, half)
    assert target.read_bytes() == b"first" and sorted(tmp_path.iterdir()) == [target]
    write_bytes_atomic(target, b"second")
    assert target.read_bytes() == b"second"


def test_remove_stale_temp_files_only_removes_ours(tmp_path: Path):
    for name in (".a.npz.x1.tmp", ".b.json.y.tmp", "keep.tmp", ".keep", "data.npz"):
        (tmp_path / name).write_bytes(b"")
    removed = remove_stale_temp_files(tmp_path)
    assert sorted(p.name for p in removed) == [".a.npz.x1.tmp", ".b.json.y.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".keep", "data.npz", "keep.tmp"]
