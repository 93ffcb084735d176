"""Tests of examples/input_pipeline.py: loading, checking, splitting, standardizing, feeding the devices."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest

import input_pipeline
from common import InputError
from input_pipeline import prepare_data, stratified_split
from trainer_helpers import TINY, make_blobs, run_main, write_npz


def test_stratified_split_is_seeded_and_stratified():
    y = np.repeat(np.arange(3), [100, 40, 20])
    train_idx, val_idx, test_idx = stratified_split(y, seed=7)
    together = np.concatenate([train_idx, val_idx, test_idx])
    assert sorted(together.tolist()) == list(range(len(y)))  # a partition
    for c, n in enumerate([100, 40, 20]):
        assert np.sum(y[test_idx] == c) == round(0.15 * n)
        assert np.sum(y[val_idx] == c) == round(0.15 * n)
    again = stratified_split(y, seed=7)
    other = stratified_split(y, seed=8)
    assert all(np.array_equal(a, b) for a, b in zip(again, (train_idx, val_idx, test_idx)))
    assert not np.array_equal(other[2], test_idx)


def test_standardized_with_training_statistics_only(tmp_path: Path):
    x, y = make_blobs()
    d = prepare_data(str(write_npz(tmp_path / "b.npz", x=x, y=y)), seed=0)
    train_idx, val_idx, _ = stratified_split(np.unique(y, return_inverse=True)[1], seed=0)
    mean, std = x[train_idx].mean(axis=0), x[train_idx].std(axis=0)
    np.testing.assert_allclose(d.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(d.std, std, rtol=1e-12)
    np.testing.assert_allclose(d.x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(d.x_val, (x[val_idx] - mean) / std, rtol=1e-6, atol=1e-6)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int32
    assert d.classes == [10, 20, 30] and sorted(set(d.y_train.tolist())) == [0, 1, 2]


@pytest.mark.parametrize("scale", [1e20, 3e38 / 40])
def test_huge_features_standardize_in_float64(scale: float, tmp_path: Path):
    """Features near 1e20 (their squares overflow float32) and up to 3e38 give the same
    standardized data as the unscaled features."""
    x, y = make_blobs()
    assert np.abs(x).max() < 40
    a = prepare_data(str(write_npz(tmp_path / "a.npz", x=x, y=y)), seed=0)
    b = prepare_data(str(write_npz(tmp_path / "b.npz", x=(x * scale).astype(np.float32), y=y)), 0)
    np.testing.assert_allclose(b.x_train, a.x_train, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(b.x_test, a.x_test, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_huge_features_train_above_chance(tmp_path: Path):
    x, y = make_blobs()
    x[:, 0] *= 1e20
    x[:, 1] *= 3e38 / np.abs(x[:, 1]).max()
    path = write_npz(tmp_path / "huge.npz", x=x, y=y)
    assert run_main(["--data", path, "--out", tmp_path / "out", "--epochs", "3", "--lr", "0.03",
                     *TINY]) == 0
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["test_accuracy"] > 0.9


def _csv(tmp_path: Path, text: str, name: str = "d.csv") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return str(path)


def test_csv_with_header_reads_like_npz(tmp_path: Path):
    x, y = make_blobs()
    lines = [",".join(f"f{i}" for i in range(x.shape[1])) + ",label"]
    lines += [",".join(repr(float(v)) for v in row) + f",{label}" for row, label in zip(x, y)]
    a = prepare_data(_csv(tmp_path, "\n".join(lines) + "\n"), seed=0)
    b = prepare_data(str(write_npz(tmp_path / "b.npz", x=x, y=y)), seed=0)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert a.sha256 == b.sha256


def test_csv_without_header_keeps_every_row_even_after_a_byte_order_mark(tmp_path: Path):
    rows = "1,2,0\n3,4,1\n5,6,0\n"
    for text in (rows, "\ufeff" + rows, "\ufeffa,b,label\n" + rows, "\r\n".join(rows.split("\n"))):
        x, y = input_pipeline.load_data(_csv(tmp_path, text))
        np.testing.assert_array_equal(x, [[1, 2], [3, 4], [5, 6]])
        np.testing.assert_array_equal(y, [0, 1, 0])


@pytest.mark.parametrize("text,fragment", [
    ("1,2x,0\n3,4,1\n", "line 1 mixes numbers and text ('2x' in column 2)"),
    ("a,b,c\n1,1_0,0\n", "line 2 column 2: '1_0' is not a number"),
    ("1,2,0\n3,0x10,1\n", "line 2 column 2: '0x10' is not a number"),
    ("1,2,0\n3,4\n", "line 2 has 2 columns, expected 3"),
    ("a,b,c\n", "has no data rows"),
    ("", "has no data rows"),
    ("1\n2\n", "needs at least one feature column and a label column"),
])
def test_bad_csv_is_one_clear_error(text: str, fragment: str, tmp_path: Path):
    with pytest.raises(InputError) as info:
        input_pipeline.load_data(_csv(tmp_path, text))
    assert fragment in str(info.value)


@pytest.mark.parametrize("labels,fragment", [
    ([1e19] * 90 + [2e19] * 90, "row 0 has 1e+19"),
    ([0] * 179 + [2**31], "row 179 has 2147483648"),
    (np.array([0] * 179 + [2**64 - 1], np.uint64), "row 179 has 18446744073709551615"),
    ([0.5] * 180, "row 0 has 0.5"),
    ([np.nan] * 180, "row 0 has nan"),
])
def test_labels_must_be_exact_int32_integers(labels, fragment: str):
    x, _ = make_blobs()
    with pytest.raises(InputError) as info:
        input_pipeline.validate_data(x, np.asarray(labels))
    assert "labels must be integers in [-2147483648, 2147483647]" in str(info.value)
    assert fragment in str(info.value)


def test_big_distinct_labels_stay_distinct():
    x, _ = make_blobs()
    y = np.repeat([-(2**31), 2**31 - 1, 7], 60).astype(np.float64)
    _, index, classes = input_pipeline.validate_data(x, y)
    assert classes == [-(2**31), 7, 2**31 - 1]
    np.testing.assert_array_equal(np.bincount(index), [60, 60, 60])


def test_features_beyond_float32_are_named(tmp_path: Path):
    x, y = make_blobs()
    x[7, 3] = 4e38
    with pytest.raises(InputError, match=r"row 7, column 3 is 4e\+38"):
        input_pipeline.validate_data(x, y)


def test_npy_renamed_npz_is_one_line(tmp_path: Path):
    path = tmp_path / "x.npz"
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    (tmp_path / "x.npy").rename(path)
    with pytest.raises(InputError, match="single .npy array, not an .npz archive"):
        input_pipeline.load_data(str(path))


def test_status_lines_for_big_files(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(input_pipeline, "STATUS_BYTES", 10)
    lines: list[str] = []
    x, y = input_pipeline.load_data(_csv(tmp_path, "1,2,0\n3,4,1\n"), log=lines.append)
    assert len(lines) == 2 and lines[0].startswith("loading ") and "loaded 2 rows x 2 features" in lines[1]


def test_put_rows_pads_and_shards_on_rows():
    mesh = input_pipeline.make_mesh()
    a = np.arange(10, dtype=np.float32).reshape(5, 2)
    placed = input_pipeline.put_rows(a, mesh)
    n = jax.device_count()
    assert placed.shape[0] == 5 + (-5) % n and placed.sharding.spec == input_pipeline.PartitionSpec("data")
    np.testing.assert_array_equal(np.asarray(placed)[:5], a)


def test_prefetcher_yields_every_chunk_in_order():
    mesh = input_pipeline.make_mesh()
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20, dtype=np.int32)
    order = np.random.default_rng(0).permutation(20)[:18].reshape(9, 2)
    feed = input_pipeline.Prefetcher(x, y, order, 4, mesh)
    chunks = list(feed)
    feed.close()
    assert [len(c[0]) for c in chunks] == [4, 4, 1]
    np.testing.assert_array_equal(np.concatenate([np.asarray(c[1]) for c in chunks]), order)
    np.testing.assert_array_equal(np.asarray(chunks[0][0]), x[order[:4]])


def test_prefetcher_hands_errors_to_the_loop():
    mesh = input_pipeline.make_mesh()
    x = np.zeros((4, 2), np.float32)
    feed = input_pipeline.Prefetcher(x, np.zeros(4, np.int32), np.array([[0, 9]]), 1, mesh)
    with pytest.raises(IndexError):
        list(feed)
    feed.close()


def test_fits_on_devices():
    mesh = input_pipeline.make_mesh()
    assert input_pipeline.fits_on_devices(1000, mesh)
    assert not input_pipeline.fits_on_devices(2**60, mesh)
