"""Train an MLP with jelu activations on every device JAX sees: the full trainer's command line.

``python examples/train.py`` trains on scikit-learn's digits; ``--help`` lists
the flags; ``examples/README.md`` documents them, the files written and the exit codes:
0 done, 1 the loss diverged, 2 bad input (flags, data, checkpoint, a busy or
used ``--out``), 3 the environment failed (no such device, disk full, lost
contact with another process), 130 interrupted (Ctrl-C).

The model and its step are ``mlp.py``'s (the tiny trainer), the data-parallel
loop ``loop.py``'s; this file checks the flags, prepares the data and the state,
runs the loop, and writes the results (``checkpoint.py``); ``hosts.py`` handles
many hosts.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

import checkpoint as ckpt
import hosts
import jelu
import loop
from common import (EXIT_DIVERGED, EXIT_ENVIRONMENT, EXIT_INPUT, EXIT_INTERRUPTED,
                    EnvironmentFailure, InputError, OneLineParser, fail, positive_float,
                    positive_int)
from input_pipeline import fits_on_devices, make_mesh, prepare_data
from mlp import forward

PROG = "train.py"


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = OneLineParser(
        prog=PROG,
        description="Train an MLP with jelu activations (plain JAX + optax), data parallel "
        "over every device, with atomic checkpoints, --resume and jax.export.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data", default="digits",
                   help="'digits' (scikit-learn's bundled set), PATH.npz (arrays x [N, D] and "
                   "integer y [N]) or PATH.csv (numbers only, the last column the integer label, "
                   "an optional header row of names)")
    p.add_argument("--activation", default="elu", choices=list(loop.ACTIVATIONS),
                   help="elu/selu/celu are jelu's; relu is jax.nn.relu; jax-elu is jax.nn.elu")
    p.add_argument("--depth", type=positive_int, default=2, help="number of hidden layers")
    p.add_argument("--width", type=positive_int, default=128, help="units per hidden layer")
    p.add_argument("--epochs", type=positive_int, default=25,
                   help="total epochs (with --resume: the total including those already done)")
    p.add_argument("--batch-size", type=positive_int, default=64,
                   help="global batch size; must divide by the number of devices; the last "
                   "partial batch of each epoch is dropped")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="learning rate")
    p.add_argument("--optimizer", default="adam", choices=list(loop.OPTIMIZERS),
                   help="optax optimizer (momentum: sgd with momentum 0.9; adamw: weight "
                   "decay 1e-4)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the split, the initialization, the data order and the dropout masks")
    p.add_argument("--dropout", type=dropout_rate, default=0.0, metavar="RATE",
                   help="dropout after every hidden layer in training, off at evaluation: alpha "
                   "dropout (jelu.alpha_dropout) with selu, inverted dropout otherwise; RATE in [0, 1)")
    p.add_argument("--dtype", default="float32", choices=list(loop.DTYPES),
                   help="compute dtype of the matrix products and activations; bfloat16 is mixed "
                   "precision: parameters, optimizer state, alphas and the loss stay float32")
    p.add_argument("--learn-alpha", action="store_true",
                   help="learn a positive per-unit alpha (elu, celu, jax-elu)")
    p.add_argument("--input", default="auto", choices=["auto", "device", "stream"],
                   help="device: the training set goes to the devices once and each epoch runs "
                   "there; stream: host batches prefetched a chunk ahead; auto: device when the "
                   "training set takes at most a quarter of each device's memory")
    p.add_argument("--out", default="runs/train",
                   help="output directory (on a filesystem every host shares): metrics.jsonl, "
                   "summary.json, checkpoint.npz, curves.png")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.npz (same configuration required)")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh in an --out that holds another run's results, deleting them")
    p.add_argument("--plot", action="store_true", help="write OUT/curves.png")
    p.add_argument("--export", metavar="PATH", default=None,
                   help="write the trained predict function (raw float32 features -> logits and "
                   "the data's own labels), serialized with jax.export for cpu, cuda and tpu")
    p.add_argument("--no-progress", action="store_true",
                   help="one short line per epoch on stderr instead of the progress bar")
    p.add_argument("--quiet", action="store_true", help="nothing on stderr but errors")
    p.add_argument("--coordinator-address", default=env("JAX_COORDINATOR_ADDRESS"),
                   help="many hosts: HOST:PORT of process 0 (or $JAX_COORDINATOR_ADDRESS)")
    p.add_argument("--num-processes", type=positive_int, default=env("JAX_NUM_PROCESSES"),
                   help="many hosts: number of processes (or $JAX_NUM_PROCESSES)")
    p.add_argument("--process-id", type=int, default=env("JAX_PROCESS_ID"),
                   help="many hosts: this process's id, 0..N-1 (or $JAX_PROCESS_ID)")
    return p


def dropout_rate(text: str) -> float:
    """argparse type: a dropout rate in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a rate in [0, 1), got {text!r}") from None
    if not 0 <= value < 1:  # NaN fails too
        raise argparse.ArgumentTypeError(f"expected a rate in [0, 1), got {text!r}")
    return value


def check_args(args: argparse.Namespace) -> None:
    """Checks argparse cannot express. Raises :class:`InputError`."""
    if not 0 <= args.seed < 2**32:
        raise InputError(f"--seed must be in [0, 2**32), got {args.seed}")
    if args.learn_alpha and not loop.ACTIVATIONS[args.activation][1]:
        raise InputError(f"--learn-alpha needs elu, celu or jax-elu, not {args.activation}")
    if args.resume and args.overwrite:
        raise InputError("--resume continues the run in --out and --overwrite deletes it: "
                         "give one of them")
    many = (args.coordinator_address, args.num_processes, args.process_id)
    if any(v is not None for v in many) and None in many:
        raise InputError("many hosts need --coordinator-address, --num-processes and "
                         "--process-id together")
    if args.num_processes is not None and not 0 <= int(args.process_id) < int(args.num_processes):
        raise InputError(f"--process-id must be in [0, {args.num_processes}), got {args.process_id}")


class Reporter:
    """What the user sees on stderr: a progress bar, one line per epoch, or nothing."""

    def __init__(self, args: argparse.Namespace, total: int, done: int, show: bool):
        self.lines = show and args.no_progress and not args.quiet
        self.epochs = args.epochs
        self.bar = None
        if show and not (args.no_progress or args.quiet):
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=done, unit="step", dynamic_ncols=True)

    def steps(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def epoch(self, row: dict[str, Any]) -> None:
        text = (f"epoch {row['epoch']}/{self.epochs} loss={row['train_loss']:.4f} "
                f"acc={row['train_accuracy']:.3f} val_acc={row['val_accuracy']:.3f} "
                f"{row['seconds']:.1f}s")
        if self.bar is not None:
            self.bar.set_description(text.split(" loss")[0])
            self.bar.set_postfix(loss=f"{row['train_loss']:.4f}", val_acc=f"{row['val_accuracy']:.3f}")
        elif self.lines:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def alpha_stats(params: dict[str, Any]) -> dict[str, Any] | None:
    """Mean and range of the learned alphas (overall and per hidden layer)."""
    if "alpha" not in params:
        return None
    per_layer = [np.exp(np.asarray(a, np.float64)) for a in params["alpha"]]
    every = np.concatenate(per_layer)

    def stats(a: np.ndarray) -> dict[str, float]:
        return {"mean": float(a.mean()), "min": float(a.min()), "max": float(a.max())}

    return {**stats(every), "per_layer": [stats(a) for a in per_layer]}


class Progress:
    """The run's lock on --out, which epoch the checkpoint there holds (for Ctrl-C and
    a lost host), and on many hosts the watchdog."""

    out: Path | None = None
    kept: int | None = None
    lock: ckpt.OutputLock | None = None
    watchdog: hosts.Watchdog | None = None

    def agree(self, error: Exception | None, fingerprint: str = "") -> None:
        """:func:`hosts.agree`; an error that every process raises ends the watching."""
        try:
            hosts.agree(error, fingerprint)
        except Exception:
            self.done()
            raise

    def done(self) -> None:
        if self.watchdog is not None:
            self.watchdog.done()

    def lost_host_message(self, lost: str) -> str:
        return lost_host_message(lost, self.out, self.kept)


def lost_host_message(lost: str, out: Path, kept: int | None) -> str:
    """The last line of a many-host run that lost ``lost`` (a process)."""
    if kept:
        hint = (f"{out / ckpt.CHECKPOINT_NAME} holds epoch {kept}: restart every process "
                "with --resume")
    else:
        hint = "no checkpoint was written; restart every process"
    return f"{PROG}: error: lost contact with {lost}, stopping; {hint}"


def checkpoint_epoch(out: Path) -> int | None:
    """The epoch of ``out``'s checkpoint, None if there is none or it cannot be read."""
    try:
        return int(ckpt.read_checkpoint(out / ckpt.CHECKPOINT_NAME)[0]["epoch"]) or None
    except (InputError, OSError, KeyError, ValueError, TypeError):
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the trainer; exit codes as in the module docstring."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = build_parser().parse_args(argv)
    progress = Progress()
    try:
        check_args(args)
        if args.num_processes is not None and int(args.num_processes) > 1 and not hosts.is_supervised():
            out = Path(args.out)  # one process of many: see hosts.supervise
            return hosts.supervise([sys.executable, str(Path(__file__).resolve()), *argv],
                                   lambda lost: lost_host_message(lost, out, checkpoint_epoch(out)))
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                return run(args, progress)
            except Exception:
                if progress.watchdog is not None:  # was it a lost process? (then this ends here)
                    progress.watchdog.wait_for_loss()
                raise
    except InputError as e:
        fail(PROG, str(e), EXIT_INPUT)
    except EnvironmentFailure as e:
        fail(PROG, str(e), EXIT_ENVIRONMENT)
    except loop.TrainingDiverged as e:
        fail(PROG, str(e), EXIT_DIVERGED)
    except KeyboardInterrupt:
        if progress.kept:
            kept = (f"{progress.out / ckpt.CHECKPOINT_NAME} holds epoch {progress.kept}; "
                    "continue with --resume")
        else:
            kept = "no checkpoint was written"
        fail(PROG, f"interrupted; {kept}", EXIT_INTERRUPTED)
    finally:
        if progress.lock is not None:
            progress.lock.release()


def run(args: argparse.Namespace, progress: Progress) -> int:
    """Check everything, then train, evaluate and write the outputs."""
    start = time.perf_counter()
    writer = start_processes(args, progress)
    out = Path(args.out)
    data, config, state, optimizer = prepare(args, progress, writer)
    if writer:
        open_output_dir(args, out, progress)
    progress.out, progress.kept = out, state.epoch or None
    mesh = make_mesh()
    stream = args.input == "stream" or (
        args.input == "auto" and not fits_on_devices(data.x_train.nbytes, mesh))
    state, params = train(args, progress, writer, data, config, state, optimizer, mesh, stream)
    summary = summarize(args, state, params, data, config, mesh, stream)
    write_outputs(args, progress, writer, state, data, config, summary, start)
    progress.done()
    if writer:
        print(f"test_accuracy={summary['test_accuracy']:.4f} train_loss={summary['train_loss']:.4f} "
              f"steps={state.step} seconds={summary['seconds']:.1f} devices={summary['devices']} "
              f"input={summary['input']} activation={args.activation} dtype={args.dtype} out={out}",
              flush=True)
    return 0


def start_processes(args: argparse.Namespace, progress: Progress) -> bool:
    """Start JAX (many hosts: join the others, start the watchdog); True if this process writes files."""
    check_args(args)
    hosts.start_jax(args.coordinator_address, args.num_processes, args.process_id)
    progress.out = Path(args.out)
    if args.num_processes is not None and int(args.num_processes) > 1:
        progress.watchdog = hosts.Watchdog(args.coordinator_address.rsplit(":", 1)[0],
                                           int(args.process_id), int(args.num_processes),
                                           progress.lost_host_message)
    return jax.process_index() == 0


def prepare(args: argparse.Namespace, progress: Progress, writer: bool):
    """(data, config, state to start from, optimizer), once every process's input checks passed."""
    error: Exception | None = None
    data = None
    try:
        if writer:
            check_output(args, progress)
        quiet = args.quiet or not writer
        data = train_data(args, log=lambda s: quiet or print(f"{PROG}: {s}", file=sys.stderr))
        config, state, optimizer = initial_state(args, data, Path(args.out))
    except (InputError, EnvironmentFailure) as e:
        error = e
    progress.agree(error, data.sha256 if data is not None else "")
    return data, config, state, optimizer


def check_output(args: argparse.Namespace, progress: Progress) -> None:
    """The writer's checks of --out (locked if it exists) and --export, before anything is written."""
    out = Path(args.out)
    ckpt.check_output_dir(out)
    if args.export:
        ckpt.check_export_path(Path(args.export), out)
    if out.is_dir():
        progress.lock = ckpt.OutputLock(out)
        found = ckpt.existing_results(out)
        if found and not (args.resume or args.overwrite):
            raise InputError(f"--out {out} holds another run's results ({', '.join(found)}): "
                             "continue it with --resume, start afresh with --overwrite, "
                             "or choose another --out")


def open_output_dir(args: argparse.Namespace, out: Path, progress: Progress) -> None:
    """The first write, once every check passed: --out created, locked, cleared or tidied."""
    ckpt.create_output_dir(out)
    progress.lock = progress.lock or ckpt.OutputLock(out)
    if args.overwrite:
        ckpt.clear_results(out)
    else:
        ckpt.remove_stale_temp_files(out)


def train(args: argparse.Namespace, progress: Progress, writer: bool, data: Any,
          config: dict[str, Any], state: loop.TrainState, optimizer: Any, mesh: Any,
          stream: bool) -> tuple[loop.TrainState, Any]:
    """Run the epochs (``loop.fit``), checkpointing each; (final host state, device parameters)."""
    out = Path(args.out)
    steps = len(data.y_train) // args.batch_size
    report = Reporter(args, args.epochs * steps, state.epoch * steps, show=writer)
    dropout = loop.make_dropout(args.activation, args.dropout)
    dropout_key = loop.dropout_key(args.seed) if dropout is not None else None

    def on_epoch(s: loop.TrainState) -> None:
        failure = None
        if writer:
            try:
                ckpt.save_checkpoint(out / ckpt.CHECKPOINT_NAME, s, config, data.classes,
                                     data.mean, data.std)
                ckpt.write_metrics(out / ckpt.METRICS_NAME, s.history)
            except EnvironmentFailure as e:
                failure = e
        progress.agree(failure)
        progress.kept = s.epoch
        report.epoch(s.history[-1])

    try:
        state, params = loop.fit(
            state, data, activation=loop.get_activation(args.activation), optimizer=optimizer,
            batch_size=args.batch_size, epochs=args.epochs, mesh=mesh, stream=stream,
            on_epoch=on_epoch, progress=report.steps, dropout=dropout, dropout_key=dropout_key,
            dtype=loop.DTYPES[args.dtype])
    except loop.TrainingDiverged:  # every process sees the same (replicated) loss
        progress.done()
        raise
    finally:
        report.close()
    if args.resume and writer:
        ckpt.write_metrics(out / ckpt.METRICS_NAME, state.history)  # drop rows beyond the checkpoint
    return state, params


def summarize(args: argparse.Namespace, state: loop.TrainState, params: Any, data: Any,
              config: dict[str, Any], mesh: Any, stream: bool) -> dict[str, Any]:
    """summary.json's contents: test loss and accuracy, last epoch, config, versions (seconds: 0)."""
    test_loss, test_acc = loop.evaluate_set(params, data.x_test, data.y_test,
                                            activation=loop.get_activation(args.activation),
                                            mesh=mesh, dtype=loop.DTYPES[args.dtype])
    last = state.history[-1]
    return {
        "test_accuracy": test_acc, "test_loss": test_loss,
        "train_loss": last["train_loss"], "train_accuracy": last["train_accuracy"],
        "val_accuracy": last["val_accuracy"], "steps": state.step, "epochs": state.epoch,
        "seconds": 0.0, "activation": args.activation, "devices": jax.device_count(),
        "processes": jax.process_count(), "input": "stream" if stream else "device",
        "seed": args.seed, "learned_alpha": alpha_stats(state.params), "config": config,
        "classes": data.classes,
        "sizes": {"train": len(data.y_train), "val": len(data.y_val), "test": len(data.y_test)},
        "dtype": args.dtype, "platform": jax.devices()[0].platform,
        "jelu_version": jelu.__version__,
        "jax_version": jax.__version__,
    }


def write_outputs(args: argparse.Namespace, progress: Progress, writer: bool,
                  state: loop.TrainState, data: Any, config: dict[str, Any],
                  summary: dict[str, Any], start: float) -> None:
    """The writer writes the plot, the export and summary.json; every process agrees it worked."""
    failure = None
    if writer:
        out = Path(args.out)
        try:
            if args.plot:
                ckpt.write_bytes_atomic(out / ckpt.PLOT_NAME, ckpt.plot_curves(state.history))
            if args.export:
                write_export(args, Path(args.export), state, data, config)
            summary["seconds"] = time.perf_counter() - start
            ckpt.write_json(out / ckpt.SUMMARY_NAME, summary)
        except EnvironmentFailure as e:
            failure = e
    progress.agree(failure)


def write_export(args: argparse.Namespace, path: Path, state: loop.TrainState, data: Any,
                 config: dict[str, Any]) -> None:
    """The trained predict function (jax.export) at ``path``, and its metadata beside it."""
    activation, dtype = loop.get_activation(args.activation), loop.DTYPES[args.dtype]
    blob = ckpt.export_predict(lambda p, x: forward(p, x, activation, dtype=dtype)[0],
                               state.params, data.mean, data.std, data.classes)
    ckpt.write_bytes_atomic(path, blob)
    ckpt.write_json(ckpt.export_metadata_path(path),
                    ckpt.export_metadata(args.dtype, config, data.classes))


def train_data(args: argparse.Namespace, log) -> Any:
    """The prepared data set, checked against the flags and the devices."""
    data = prepare_data(args.data, args.seed, log)
    n_train, n_devices = len(data.y_train), jax.device_count()
    if args.batch_size > n_train:
        raise InputError(f"--batch-size {args.batch_size} is larger than the training set "
                         f"({n_train} rows)")
    if args.batch_size % n_devices:
        raise InputError(f"--batch-size {args.batch_size} does not divide by the {n_devices} "
                         f"devices; use a multiple of {n_devices}")
    return data


def initial_state(args: argparse.Namespace, data: Any, out: Path):
    """(config, the state to start from, optimizer): fresh, or restored with --resume."""
    optimizer = loop.make_optimizer(args.optimizer, args.lr)
    config = {
        "activation": args.activation, "depth": args.depth, "width": args.width,
        "init": loop.init_for(args.activation), "learn_alpha": args.learn_alpha,
        "optimizer": args.optimizer, "lr": args.lr, "batch_size": args.batch_size,
        "seed": args.seed, "input_dim": int(data.x_train.shape[1]),
        "num_classes": len(data.classes), "data_sha256": data.sha256,
    }
    if args.dropout:  # absent means 0, so that checkpoints without the key still resume
        config["dropout"] = args.dropout
    if args.dtype != "float32":  # absent means float32, likewise
        config["dtype"] = args.dtype
    sizes = [config["input_dim"], *[args.width] * args.depth, config["num_classes"]]
    if args.resume:
        like = jax.eval_shape(lambda k: loop.init_params(
            k, sizes, init=config["init"], learn_alpha=args.learn_alpha), jax.random.key(0))
        state = ckpt.restore_state(out / ckpt.CHECKPOINT_NAME, config, like, optimizer)
        if state.epoch > args.epochs:
            raise InputError(f"checkpoint is at epoch {state.epoch}, beyond --epochs {args.epochs}")
        return config, state, optimizer
    @jax.jit  # one compiled call: keys, parameters, optimizer state
    def fresh(seed):
        init_key, data_key = jax.random.split(jax.random.key(seed))
        params = loop.init_params(init_key, sizes, init=config["init"], learn_alpha=args.learn_alpha)
        return params, optimizer.init(params), jax.random.key_data(data_key)

    params, opt_state, data_key = fresh(np.uint32(args.seed))
    return config, loop.TrainState(params, opt_state, np.asarray(data_key), 0, 0, []), optimizer


if __name__ == "__main__":
    sys.exit(main())

