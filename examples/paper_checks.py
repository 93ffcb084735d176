"""Reproduce the central claims of the ELU and SELU papers with jelu, on scikit-learn's digits.

E1 -- the ELU paper's learning behaviour (section 4.1, Figure 2): ELU against ReLU and leaky
ReLU, paired seeds, and E1's ELU network again in bfloat16 with jelu.elu and jax.nn.elu.
E2 -- the SELU paper's Theorem 1: an untrained 32-layer SELU network keeps mean 0, variance 1.
E3 -- the SELU paper's alpha dropout against ordinary (inverted) dropout.
``paper_experiments.py`` says exactly what each experiment runs and measures.

Outputs under ``--out`` (default ``runs/paper_checks``), each written atomically:
``paper_checks.md`` (tables), ``paper_checks.json`` (every number, keyed ``"e1"``, ``"e2"`` and
``"e3"``), ``e1_learning_behaviour.png``, ``e2_self_normalization.png`` and
``e3_alpha_dropout.png`` (figures).

Run ``python examples/paper_checks.py --help`` for the flags. This file is the command line;
the experiments are ``paper_experiments.py``'s, the tables and figures ``paper_report.py``'s,
the command-line and file helpers ``examples/common.py``'s.

References:
    Clevert, Unterthiner & Hochreiter, "Fast and Accurate Deep Network Learning by Exponential
    Linear Units (ELUs)", ICLR 2016. Klambauer, Unterthiner, Mayr & Hochreiter,
    "Self-Normalizing Neural Networks", NeurIPS 2017.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import jax

import jelu
from common import OneLineParser, positive_float, positive_int, write_bytes_atomic
from paper_experiments import VAL_FRACTION, Config, load_digits_e1, load_digits_e2, run_e1, run_e2, run_e3
from paper_report import figure_e1, figure_e2, figure_e3, render_markdown


# --------------------------------------------------------------------------- output


def _json_safe(value: Any) -> Any:
    """Replace non-finite floats by None so that the JSON is strict."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


# --------------------------------------------------------------------------- CLI


def rates(text: str) -> tuple[float, ...]:
    """argparse type: comma-separated dropout rates, each in (0, 1)."""
    try:
        values = tuple(float(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated rates in (0, 1), got {text!r}") from None
    if not all(0 < v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated rates in (0, 1), got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    d = Config()
    p = OneLineParser(
        prog="paper_checks.py",
        description="Reproduce the ELU paper's learning-behaviour experiment (E1), the SELU paper's "
        "Theorem 1 (E2) and its alpha dropout (E3) with jelu on scikit-learn's digits; write tables, "
        "figures and JSON to --out.",
    )
    p.add_argument("--out", default="runs/paper_checks", help="output directory (default: %(default)s)")
    flags: list[tuple[str, Any, Any, str]] = [
        ("--seeds", positive_int, d.seeds, "E1: number of paired seeds, 0..N-1"),
        ("--epochs", positive_int, d.epochs, "E1: training epochs"),
        ("--lr", positive_float, d.lr, "E1: SGD learning rate"),
        ("--batch-size", positive_int, d.batch_size, "E1: minibatch size"),
        ("--e1-depth", positive_int, d.e1_depth, "E1: hidden layers"),
        ("--e1-width", positive_int, d.e1_width, "E1: units per hidden layer"),
        ("--act-subset", positive_int, d.act_subset, "E1: training images for the mean unit activations"),
        ("--e2-seeds", positive_int, d.e2_seeds, "E2: number of seeds, 0..N-1"),
        ("--e2-depth", positive_int, d.e2_depth, "E2: hidden layers"),
        ("--e2-width", positive_int, d.e2_width, "E2: units per hidden layer"),
        ("--e3-seeds", positive_int, d.e3_seeds, "E3: number of seeds, 0..N-1"),
    ]
    for flag, kind, default, text in flags:
        p.add_argument(flag, type=kind, default=default, help=f"{text} (default: %(default)s)")
    p.add_argument("--e3-rates", type=rates, default=d.e3_rates, metavar="R[,R...]",
                   help="E3: dropout rates, comma-separated, each in (0, 1) (default: "
                   f"{','.join(f'{r:g}' for r in d.e3_rates)})")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


def parse_config(argv: Sequence[str] | None) -> tuple[Config, Path, bool]:
    """Parse and validate the command line; exits with status 2 and one line on bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    n_train = 1797 - math.ceil(1797 * VAL_FRACTION)  # sklearn's split sets ceil(0.2 * 1797) = 360 aside
    if args.batch_size > n_train:
        parser.error(f"--batch-size must be at most the {n_train} training images, got {args.batch_size}")
    if args.act_subset > n_train:
        parser.error(f"--act-subset must be at most the {n_train} training images, got {args.act_subset}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        parser.error(f"--out {str(out)!r} exists and is not a directory")
    cfg = Config(
        seeds=args.seeds, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
        e1_depth=args.e1_depth, e1_width=args.e1_width, act_subset=args.act_subset,
        e2_seeds=args.e2_seeds, e2_depth=args.e2_depth, e2_width=args.e2_width,
        e3_seeds=args.e3_seeds, e3_rates=args.e3_rates,
    )
    return cfg, out, args.quiet


def run(cfg: Config, out: Path, log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Run the three experiments and write every output file under ``out``; return the JSON record."""
    start = time.perf_counter()
    e1 = run_e1(cfg, log)
    e1_bf16 = e1.pop("bfloat16")
    e1_wall = time.perf_counter() - start
    e2 = run_e2(cfg, log)
    e2_wall = time.perf_counter() - start - e1_wall
    e3 = run_e3(cfg, log)
    wall = time.perf_counter() - start
    x_tr, _, x_val, _ = load_digits_e1()
    x_e2 = load_digits_e2()
    meta = {
        "jelu_version": jelu.__version__,
        "jax_version": jax.__version__,
        "backend": jax.default_backend(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "n_train": len(x_tr),
        "n_val": len(x_val),
        "n_e2": len(x_e2),
        "e2_in": x_e2.shape[1],
        "epochs": list(range(cfg.epochs + 1)),
        "wall_s": wall,
        "e1_wall_s": e1_wall,
        "e2_wall_s": e2_wall,
        "e3_wall_s": wall - e1_wall - e2_wall,
    }
    record = {"config": asdict(cfg), "meta": meta, "e1": e1, "e1_bf16": e1_bf16, "e2": e2, "e3": e3}

    out.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out / "e1_learning_behaviour.png", figure_e1(e1, cfg))
    write_bytes_atomic(out / "e2_self_normalization.png", figure_e2(e2, cfg))
    write_bytes_atomic(out / "e3_alpha_dropout.png", figure_e3(e3, cfg))
    write_bytes_atomic(out / "paper_checks.md", render_markdown(cfg, e1, e2, meta, e3, e1_bf16).encode())
    text = json.dumps(_json_safe(record), indent=1, allow_nan=False)
    write_bytes_atomic(out / "paper_checks.json", text.encode())
    log(f"wrote the tables, JSON and 3 figures to {out} ({time.perf_counter() - start:.0f} s)")
    return record


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    cfg, out, quiet = parse_config(argv)
    log = (lambda _: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    run(cfg, out, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
