"""How busy does examples/train.py keep the device? Steps/s of the trainer against a pure on-device loop.

For each model (the trainer's defaults, and ``--batch-size 1024 --width 512
--depth 4``) on a synthetic float32 set (200,000 x 784, 10 classes by default):

* trainer: ``loop.fit`` exactly as ``train.py`` runs it (on-device shuffle,
  scanned steps, per-epoch evaluation, checkpoint and metrics written to a
  temporary directory), timed per epoch from one epoch's end to the next;
* stream: the same with ``stream=True`` (host batches, prefetched);
* bound: one jitted ``lax.scan`` of the same number of the same train steps
  over batches already laid out on the device in order: no shuffle, no
  evaluation, no checkpoint.

The three run interleaved in one process (bound after each trainer epoch) so
that other load on the machine hits them alike; the first epoch (compilation)
is dropped; reported are the medians of the rest and the median of the
per-epoch ratios (bound time / trainer time, each bound run right after the
trainer epoch it is paired with). ``--digits`` adds the default
digits model's step time with elu, jax-elu and relu in the scanned loop, and
the wall time of ``python examples/train.py``; ``--csv`` and ``--npz`` the load
time and peak RSS of a 34,000 x 785 CSV against ``np.loadtxt`` and of a
200,000 x 784 float32 ``.npz`` against ``np.load``.

    python examples/throughput.py [--rows 200000] [--epochs 4] [--digits] [--csv] [--npz]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

import checkpoint
import loop
import train
from common import OneLineParser, positive_int
from input_pipeline import Dataset, make_mesh, prepare_data, put_replicated, put_rows

EXAMPLES = Path(__file__).resolve().parent

MODELS = {"defaults": (2, 128, 64), "1024x512x4": (4, 512, 1024)}  # depth, width, batch


def synthetic(rows: int, dim: int = 784, classes: int = 10, seed: int = 0) -> Dataset:
    """Standardized-looking float32 rows whose labels a linear map decides."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, dim), dtype=np.float32)
    y = np.argmax(x[:, :classes] + 0.5 * rng.standard_normal((rows, classes), dtype=np.float32),
                  axis=1).astype(np.int32)
    n_eval = rows // 20
    return Dataset(x, y, x[:n_eval], y[:n_eval], x[:n_eval], y[:n_eval], np.zeros(dim),
                   np.ones(dim), list(range(classes)), "synthetic")


def measure_model(data: Dataset, depth: int, width: int, batch: int, epochs: int,
                  activation: str = "elu") -> dict:
    mesh = make_mesh()
    act, opt = loop.get_activation(activation), loop.make_optimizer("adam", 1e-3)
    sizes = [data.x_train.shape[1], *[width] * depth, len(data.classes)]
    steps = len(data.y_train) // batch

    def fresh():
        params = loop.init_params(jax.random.key(0), sizes)
        key = np.asarray(jax.random.key_data(jax.random.key(1)))
        return loop.TrainState(params, opt.init(params), key, 0, 0, [])

    # The bound: the same steps over batches already on the device, in order.
    xb = jax.device_put(data.x_train[: steps * batch].reshape(steps, batch, -1))
    yb = jax.device_put(data.y_train[: steps * batch].reshape(steps, batch))
    _, streamed = loop.make_steps(act, opt, mesh)
    carried = put_replicated((fresh().params, fresh().opt_state), mesh)

    def bound() -> float:
        nonlocal carried
        start = time.perf_counter()
        params, opt_state, value, _ = streamed(*carried, xb, yb)
        jax.block_until_ready(value)
        carried = (params, opt_state)
        return time.perf_counter() - start

    bound()  # compile
    result = {"depth": depth, "width": width, "batch": batch, "steps_per_epoch": steps}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for name, stream in (("trainer", False), ("stream", True)):
            times, bounds, mark = [], [], [time.perf_counter()]

            def on_epoch(state):
                checkpoint.save_checkpoint(out / "checkpoint.npz", state, {}, data.classes,
                                           data.mean, data.std)
                checkpoint.write_metrics(out / "metrics.jsonl", state.history)
                times.append(time.perf_counter() - mark[0])
                bounds.append(bound())
                mark[0] = time.perf_counter()

            loop.fit(fresh(), data, activation=act, optimizer=opt, batch_size=batch,
                      epochs=epochs, mesh=mesh, stream=stream, on_epoch=on_epoch)
            pairs = [b / t for t, b in zip(times[1:], bounds[1:])]  # bound ran right after
            result[name] = {"epoch_s": times, "bound_epoch_s": bounds,
                            "steps_per_s": steps / statistics.median(times[1:]),
                            "bound_steps_per_s": steps / statistics.median(bounds[1:]),
                            "fraction_of_bound": statistics.median(pairs)}
    return result


def digits_step_times(repeats: int = 15, steps: int = 100) -> dict:
    """Median step time of the default digits model in the scanned loop, per activation."""
    args = train.build_parser().parse_args([])
    d = prepare_data("digits", 0)
    mesh = make_mesh()
    opt = loop.make_optimizer(args.optimizer, args.lr)
    x, y = put_rows(d.x_train, mesh), put_rows(d.y_train, mesh)
    rows = np.random.default_rng(0).integers(0, len(d.y_train), (steps, args.batch_size))
    order = put_replicated(rows.astype(np.int32), mesh)
    sizes = [d.x_train.shape[1], *[args.width] * args.depth, len(d.classes)]
    runners = {}
    for name in ("elu", "jax-elu", "relu"):
        on_device, _ = loop.make_steps(loop.get_activation(name), opt, mesh)
        params = loop.init_params(jax.random.key(0), sizes, init=loop.init_for(name))
        runners[name] = [on_device, put_replicated((params, opt.init(params)), mesh)]
    times = {name: [] for name in runners}
    for r in range(repeats + 1):
        for name, runner in runners.items():
            fn, carried = runner
            start = time.perf_counter()
            p, s, value, _ = fn(*carried, x, y, order, 0, k=steps)
            jax.block_until_ready(value)
            runner[1] = (p, s)
            if r:
                times[name].append((time.perf_counter() - start) / steps)
    return {name: statistics.median(t) for name, t in times.items()}


def digits_wall(repeats: int = 3) -> dict:
    """Wall time of ``python examples/train.py`` (defaults) and its own ``seconds``."""
    walls, inside = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            subprocess.run([sys.executable, str(EXAMPLES / "train.py"), "--out", tmp,
                            "--quiet"], check=True, capture_output=True)
            walls.append(time.perf_counter() - start)
            inside.append(json.loads((Path(tmp) / "summary.json").read_text())["seconds"])
    return {"wall_s": walls, "seconds_in_summary": inside}


CSV_CHILD = """
import sys, time
import numpy as np
import input_pipeline as data  # the child runs in examples/


def status(field):  # /proc, not getrusage: ru_maxrss survives exec, VmHWM does not
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))


before = status("VmRSS")
start = time.perf_counter()
if sys.argv[1] == "loadtxt":
    np.loadtxt(sys.argv[2], delimiter=",", skiprows=1)
elif sys.argv[1] == "np.load":
    with np.load(sys.argv[2]) as archive:
        archive["x"], archive["y"]
elif sys.argv[1] == "load_data":
    data.load_data(sys.argv[2])
else:
    data.prepare_data(sys.argv[2], 0)
print(time.perf_counter() - start, status("VmHWM"), before)
"""


def _load_in_children(path: Path, loaders: tuple[str, ...]) -> dict:
    """Seconds and memory of each CSV_CHILD loader reading ``path``, each in a fresh process."""
    result = {}
    for which in loaders:
        out = subprocess.run([sys.executable, "-c", CSV_CHILD, which, str(path)], check=True,
                             cwd=EXAMPLES, capture_output=True, text=True).stdout.split()
        result[which] = {"seconds": float(out[0]), "peak_rss_bytes": int(out[1]),
                         "rss_after_imports_bytes": int(out[2])}
    return result


def csv_load(rows: int = 34000, cols: int = 784) -> dict:
    """Seconds and peak RSS of loading a CSV (pixel-like values with 6 significant digits, like
    a standardized export): np.loadtxt alone vs the trainer's load_data and prepare_data
    (load, check, split, standardize), each in a fresh process after importing numpy and jax."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        rng = np.random.default_rng(0)
        with path.open("w") as f:
            f.write(",".join(f"f{i}" for i in range(cols)) + ",label\n")
            for start in range(0, rows, 2000):
                n = min(2000, rows - start)
                block = rng.standard_normal((n, cols)) * 64 + 128
                labels = rng.integers(0, 10, n)
                f.write("\n".join(",".join(f"{v:.6g}" for v in r) + f",{c}"
                                  for r, c in zip(block.tolist(), labels.tolist())) + "\n")
        result = {"rows": rows, "columns": cols + 1, "file_bytes": path.stat().st_size,
                  "float32_bytes": rows * cols * 4}
        return result | _load_in_children(path, ("loadtxt", "load_data", "prepare_data"))


def npz_load(rows: int = 200_000, cols: int = 784) -> dict:
    """Seconds and peak RSS of loading a float32 .npz: np.load alone vs the trainer's
    load_data and prepare_data, each in a fresh process after importing numpy and jax."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.npz"
        d = synthetic(rows, cols)
        np.savez(path, x=d.x_train, y=d.y_train)
        del d
        result = {"rows": rows, "columns": cols, "file_bytes": path.stat().st_size}
        return result | _load_in_children(path, ("np.load", "load_data", "prepare_data"))


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="examples/throughput.py", description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=positive_int, default=200_000, help="synthetic rows (200000)")
    p.add_argument("--epochs", type=positive_int, default=4,
                   help="epochs per model and path; the first is dropped (4)")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ", ".join(MODELS))
    p.add_argument("--digits", action="store_true", help="also digits step times and wall time")
    p.add_argument("--csv", action="store_true", help="also CSV load time and peak RSS")
    p.add_argument("--npz", action="store_true", help="also .npz load time and peak RSS")
    args = p.parse_args(argv)
    if args.epochs < 2:
        p.error("--epochs must be at least 2 (the first is dropped)")
    report: dict = {"devices": [str(d) for d in jax.devices()], "jax": jax.__version__,
                    "rows": args.rows}
    models = [name for name in args.models.split(",") if name]
    for name in models:
        if name not in MODELS:
            p.error(f"--models: unknown {name!r}; valid: {', '.join(MODELS)}")
    data = synthetic(args.rows) if models else None
    for name in models:
        report[name] = measure_model(data, *MODELS[name], epochs=args.epochs)
        print(json.dumps({name: report[name]}), file=sys.stderr, flush=True)
    if args.digits:
        report["digits_step_s"] = digits_step_times()
        report["digits_wall"] = digits_wall()
    if args.csv:
        report["csv"] = csv_load()
    if args.npz:
        report["npz"] = npz_load()
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
