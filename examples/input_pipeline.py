"""The trainer's input pipeline: load, check, split, standardize, and feed the devices.

* :func:`load_data` reads ``digits`` (scikit-learn's bundled set), ``PATH.npz``
  (arrays ``x`` [N, D] and ``y`` [N]) or ``PATH.csv`` (numbers only, the last
  column the integer label, an optional header row of names).
* :func:`prepare_data` checks the arrays, makes a seeded stratified
  70/15/15 split and standardizes the features with training statistics
  computed in float64.
* :func:`put_rows` places a host array on the devices once, sharded on the
  row axis; :class:`Prefetcher` is the streaming path: host batches built and
  transferred in a background thread while the devices compute.

Every problem with the input raises :class:`common.InputError` with one line
naming the file, the row and what is valid.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import importlib.util
import json
import os
import queue
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from common import InputError, one_line

DATA_AXIS = "data"
VAL_FRACTION = 0.15
TEST_FRACTION = 0.15
LABEL_RANGE = (-(2**31), 2**31 - 1)  # labels travel as int32 (exported predict returns them)
STATUS_BYTES = 64 * 2**20  # files larger than this get a status line while loading
CHUNK_BYTES = 2**24  # float64 bytes per block of rows when checking and standardizing

# A number as the trainer accepts it in a CSV cell: decimal, optional exponent
# (no "1_0", no hex, no Unicode digits); "nan"/"inf" parse but fail the finiteness check.
NUMBER = re.compile(r"\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|nan|inf(?:inity)?)\s*", re.I)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Standardized float32 splits, labels 0..K-1, and what reproduces them."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    mean: np.ndarray  # float64 training mean of every raw feature
    std: np.ndarray  # float64 training standard deviation (1 where it is 0)
    classes: list[int]  # the original label of class k is classes[k]
    sha256: str  # of the checked features, labels and classes


def load_data(spec: str, log: Callable[[str], None] = lambda _: None) -> tuple[np.ndarray, np.ndarray]:
    """Load ``spec`` ("digits", ``PATH.npz`` or ``PATH.csv``) as raw (x, y).

    Raises :class:`InputError` for anything unreadable. ``log`` gets a status
    line before and after reading a file larger than 64 MiB.
    """
    if spec == "digits":
        return _load_digits()
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".csv"):
        raise InputError(f"--data must be 'digits', a .npz file or a .csv file, not {spec!r}")
    if not path.exists():
        raise InputError(f"data file not found: {spec}")
    if not path.is_file():
        raise InputError(f"data file is not a regular file: {spec}")
    size = path.stat().st_size
    start = time.perf_counter()
    if size > STATUS_BYTES:
        log(f"loading {path} ({size / 2**20:.0f} MiB) ...")
    x, y = _load_npz(path) if suffix == ".npz" else _load_csv(path)
    if size > STATUS_BYTES:
        log(f"loaded {len(y)} rows x {x.shape[1] if x.ndim == 2 else '?'} features "
            f"in {time.perf_counter() - start:.1f} s")
    return x, y


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits, read from its file without importing scikit-learn
    (which costs most of a second); ``load_digits`` if the file is not where expected."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        raise InputError("--data digits needs scikit-learn (pip install scikit-learn)")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return np.asarray(bunch.data), np.asarray(bunch.target)
    values = np.loadtxt(path, delimiter=",")
    return values[:, :-1], values[:, -1].astype(np.int64)


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open("rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        raise InputError(f"{path} is a single .npy array, not an .npz archive: "
                         "save the data with np.savez(path, x=features, y=labels)")
    if magic[:2] != b"PK":
        raise InputError(f"cannot read {path}: not an .npz (zip) archive")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in ("x", "y") if k not in archive.files]
            if missing:
                raise InputError(f"{path} has no array named {' or '.join(map(repr, missing))}")
            return archive["x"], archive["y"]
    except InputError:
        raise
    except Exception as e:  # zip, pickle and format errors of every kind
        raise InputError(f"cannot read {path}: {one_line(e)}") from None


def _load_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Numbers only, the last column the label. The first row is a header if
    none of its cells is a number; a first row mixing both is an error."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            first = next((row for row in csv.reader(f) if row), None)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"cannot read {path}: {one_line(e)}") from None
    if first is None:
        raise InputError(f"{path} has no data rows")
    numeric = [bool(NUMBER.fullmatch(cell)) for cell in first]
    if not all(numeric) and any(numeric):
        bad = first[numeric.index(False)]
        raise InputError(
            f"{path} line 1 mixes numbers and text ({bad!r} in column {numeric.index(False) + 1}): "
            "a header row must have no numbers and a data row only numbers")
    header = not any(numeric)
    try:
        values = _read_numbers(path, header)
    except ValueError as e:
        raise InputError(_find_csv_error(path, header) or f"cannot read {path}: {one_line(e)}") from None
    if len(values) == 0:
        raise InputError(f"{path} has no data rows")
    if values.shape[1] < 2:
        raise InputError(f"{path} needs at least one feature column and a label column")
    return values[:, :-1], values[:, -1]


def _read_numbers(path: Path, header: bool) -> np.ndarray:
    """The CSV's rows as float64, parsed by ``np.loadtxt`` a few MiB at a time into
    one preallocated array (so that the peak memory is the result plus a chunk)."""
    with path.open("rb") as f:
        lines = sum(block.count(b"\n") for block in iter(lambda: f.read(2**24), b"")) + 1
    values, filled = None, 0
    with path.open(encoding="utf-8-sig", newline="") as f, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "input contained no data": checked later
        if header:
            next(line for line in f if line.strip())
        while chunk := f.readlines(2**22):
            block = np.loadtxt(chunk, delimiter=",", dtype=np.float64, ndmin=2, comments=None,
                               quotechar='"')
            if block.size == 0:
                continue
            if values is None:
                values = np.empty((lines, block.shape[1]), np.float64)
            if block.shape[1] != values.shape[1]:
                raise ValueError("the number of columns changed")
            values[filled : filled + len(block)] = block
            filled += len(block)
    return np.empty((0, 0)) if values is None else values[:filled]


def _find_csv_error(path: Path, header: bool) -> str | None:
    """The first bad cell or ragged row of a CSV, as a message (slow; error path only)."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = ((n, row) for n, row in enumerate(csv.reader(f), start=1) if row)
        width = None
        for n, row in rows:
            if header and width is None:
                width = len(row)
                continue
            width = len(row) if width is None else width
            if len(row) != width:
                return f"{path} line {n} has {len(row)} columns, expected {width}"
            for j, cell in enumerate(row):
                if not NUMBER.fullmatch(cell):
                    return (f"{path} line {n} column {j + 1}: {cell!r} is not a number "
                            "(decimal digits, optional sign, point and exponent)")
    return None


def _block_rows(x: np.ndarray) -> int:
    return max(1, CHUNK_BYTES // (8 * max(1, x.shape[1])))


def _first_bad(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def validate_data(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Check raw arrays; return the features (float32 or float64), labels mapped
    to 0..K-1 (int32), and the original label values. Raises :class:`InputError`."""
    if x.ndim != 2:
        raise InputError(f"x must be 2-D [N, D], got shape {x.shape}")
    if y.ndim != 1:
        raise InputError(f"y must be 1-D [N], got shape {y.shape}")
    if len(x) != len(y):
        raise InputError(f"x has {len(x)} rows but y has {len(y)} labels")
    if x.dtype.kind not in "biuf":
        raise InputError(f"x must be numeric, got dtype {x.dtype}")
    if x.shape[1] == 0:
        raise InputError("x has no feature columns")
    if x.dtype.kind != "f" or x.dtype.itemsize < 4:
        x = x.astype(np.float64)
    limit = float(np.finfo(np.float32).max)
    rows = _block_rows(x)
    for start in range(0, len(x), rows):
        block = x[start : start + rows]
        with np.errstate(invalid="ignore"):
            bad = ~(np.abs(block) <= limit)  # NaN, inf, or beyond float32
        if bad.any():
            r, c = _first_bad(bad)
            raise InputError(f"features must be finite numbers within float32's range (|x| <= "
                             f"3.4e38): row {start + r}, column {c} is {block[r, c].item()!r}")
    if y.dtype.kind not in "biuf":
        raise InputError(f"labels must be integers, got dtype {y.dtype}")
    lo, hi = LABEL_RANGE
    with np.errstate(invalid="ignore"):
        bad = ~((y >= lo) & (y <= hi))
        if y.dtype.kind == "f":
            bad |= y != np.round(y)
    if bad.any():
        (r,) = _first_bad(bad)
        raise InputError(f"labels must be integers in [{lo}, {hi}]: row {r} has {y[r].item()!r}")
    classes, index = np.unique(y.astype(np.int64), return_inverse=True)
    if len(classes) < 2:
        raise InputError(f"labels must have at least 2 classes, got {len(classes)}")
    return x, index.astype(np.int32).reshape(-1), [int(c) for c in classes]


def stratified_split(
    y: np.ndarray, seed: int, val_fraction: float = VAL_FRACTION, test_fraction: float = TEST_FRACTION
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded split of row indices into train/val/test, class by class.

    Each class gives round(n * fraction) rows to validation and to test and
    the rest to training; indices come back sorted.
    """
    rng = np.random.default_rng(seed)
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        n_test = round(len(rows) * test_fraction)
        n_val = round(len(rows) * val_fraction)
        parts[2].append(rows[:n_test])
        parts[1].append(rows[n_test : n_test + n_val])
        parts[0].append(rows[n_test + n_val :])
    train, val, test = (np.sort(np.concatenate(p)) for p in parts)
    return train, val, test


def _standardize(x: np.ndarray, rows: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    out = np.empty((len(rows), x.shape[1]), np.float32)
    for start in range(0, len(rows), _block_rows(x)):
        part = rows[start : start + _block_rows(x)]
        out[start : start + len(part)] = (x[part] - mean) / std  # float64 arithmetic
    return out


def prepare_data(spec: str, seed: int, log: Callable[[str], None] = lambda _: None) -> Dataset:
    """Load, check, split and standardize (float64 statistics of the training rows only)."""
    raw_x, raw_y = load_data(spec, log)
    x, y, classes = validate_data(raw_x, raw_y)
    del raw_x
    train, val, test = stratified_split(y, seed)
    if len(val) == 0 or len(test) == 0 or len(train) == 0:
        raise InputError(f"data set too small to split: {len(y)} rows")
    mean = np.zeros(x.shape[1], np.float64)
    square = np.zeros(x.shape[1], np.float64)
    block = _block_rows(x)
    for start in range(0, len(train), block):
        mean += x[train[start : start + block]].sum(axis=0, dtype=np.float64)
    mean /= len(train)
    for start in range(0, len(train), block):
        square += np.square(x[train[start : start + block]] - mean).sum(axis=0)
    std = np.sqrt(square / len(train))
    std = np.where(std > 0, std, 1.0)
    digest = hashlib.sha256(f"{x.dtype.str}{x.shape}".encode())
    for start in range(0, len(x), block):  # row blocks: no full copy of a strided x
        digest.update(memoryview(np.ascontiguousarray(x[start : start + block])).cast("B"))
    digest.update(memoryview(np.ascontiguousarray(y)).cast("B"))
    digest.update(json.dumps(classes).encode())
    return Dataset(
        _standardize(x, train, mean, std), y[train], _standardize(x, val, mean, std), y[val],
        _standardize(x, test, mean, std), y[test], mean, std, classes, digest.hexdigest(),
    )


# --------------------------------------------------------------------------
# Feeding the devices
# --------------------------------------------------------------------------


def make_mesh() -> Mesh:
    """A one-axis mesh over every device JAX sees (all hosts)."""
    return Mesh(np.array(jax.devices()), (DATA_AXIS,))


def put_rows(a: np.ndarray, mesh: Mesh) -> jax.Array:
    """Place host rows on the devices once, sharded on the row axis.

    Rows are zero-padded to a multiple of the device count (padding is never
    read as data). Each process supplies the shards of its own devices, so this
    works on one host and on many (each host holds the same full array).
    """
    n = mesh.devices.size
    pad = (-len(a)) % n
    if pad:
        a = np.concatenate([a, np.zeros((pad, *a.shape[1:]), a.dtype)])
    sharding = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
    return jax.make_array_from_callback(a.shape, sharding, lambda index: a[index])


def put_replicated(tree: Any, mesh: Mesh) -> Any:
    """Place host arrays (identical on every process) replicated over ``mesh``."""
    sharding = NamedSharding(mesh, PartitionSpec())

    def place(a: Any) -> jax.Array:
        a = np.asarray(a)
        return jax.make_array_from_callback(a.shape, sharding, lambda index: a[index])

    return jax.tree_util.tree_map(place, tree)


def put_eval_set(x: np.ndarray, y: np.ndarray, mesh: Mesh) -> tuple[jax.Array, ...]:
    """(x, y, weights) sharded on rows over ``mesh``, padded rows weighted 0."""
    return put_rows(x, mesh), put_rows(y, mesh), put_rows(np.ones(len(y), np.float32), mesh)


def fits_on_devices(nbytes: int, mesh: Mesh, fraction: float = 0.25) -> bool:
    """Whether ``nbytes`` sharded over ``mesh`` takes at most ``fraction`` of each
    device's memory (of the host's memory for CPU devices, which report none)."""
    per_device = nbytes / mesh.devices.size
    stats = jax.local_devices()[0].memory_stats() or {}
    limit = stats.get("bytes_limit")
    if not limit:
        try:
            limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / mesh.devices.size
        except (ValueError, OSError, AttributeError):
            return True
    return per_device <= fraction * limit


class Prefetcher:
    """The streaming path: chunks of host batches, built and put on the devices
    in a background thread, ``depth`` chunks ahead of the training loop.

    ``order`` [steps, batch] holds the row indices of every step of the epoch;
    each item is ``(x [k, batch, D], y [k, batch])`` with the batch axis sharded
    over ``mesh``, for ``k`` = ``chunk`` steps (fewer at the end).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, order: np.ndarray, chunk: int, mesh: Mesh,
                 depth: int = 2):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        sharding = NamedSharding(mesh, PartitionSpec(None, DATA_AXIS))

        def put(a: np.ndarray) -> jax.Array:
            return jax.make_array_from_callback(a.shape, sharding, lambda index: a[index])

        def work() -> None:
            try:
                for start in range(0, len(order), chunk):
                    if self._stop.is_set():
                        return
                    rows = order[start : start + chunk]
                    self._queue.put((put(x[rows]), put(y[rows])))
            except BaseException as e:  # handed to the consumer
                self._queue.put(e)
            self._queue.put(None)

        self._thread = threading.Thread(target=work, daemon=True)
        self._thread.start()

    def __iter__(self) -> Iterator[tuple[jax.Array, jax.Array]]:
        while (item := self._queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.1)
            except queue.Empty:
                pass

