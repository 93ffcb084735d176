"""One command that checks jelu on whatever ``jax.devices()[0]`` is.

Run from the repository root::

    python -m benchmarks.device_check            # full run (81 s on an H200)
    python -m benchmarks.device_check --quick    # small CPU run (CI)

Needs no install step and no network: jax, jaxlib, numpy, ml_dtypes, mpmath
(references), optax and scikit-learn (the trainer), plus this checkout. It
writes ``device_check-<kind>.json`` and ``.md`` (kind: cpu, gpu or tpu) to
``--out DIR`` (default ``benchmarks/results``) and exits 1 if an accuracy or
consistency check fails (or a section cannot run), 2 on bad command-line
input (one line on stderr).

Sections:

1. ``accuracy``: ULP errors against the correctly rounded references of
   :mod:`jelu.testing` (float64 with a proven error bound, mpmath where the
   bound cannot decide the rounding). Every finite bfloat16 and float16 input
   for elu (alpha 1 and 1.7), selu and celu (alpha 0.3): value, f' and f''
   correctly rounded for elu and selu (the default alphas), within 1 ULP for
   the others. float32: random negative normal bit patterns
   (the whole negative range, uniform per bit pattern) plus the dense sample
   ``jelu.testing.float32_sample``; each order within ``FLOAT32_MAX_ULP``.
   Subnormal inputs and results are counted apart (XLA flushes them).
2. ``consistency``: the same inputs jitted on the device and on
   ``jax.devices("cpu")[0]``, compared bit for bit; mismatches per function,
   dtype and order (those involving a subnormal input or result apart).
   Target and check: no mismatch outside subnormals. On a CPU-only machine
   this compares the CPU with itself.
3. ``speed``: a device-to-device copy of n float32 (the faster of jitted
   ``jnp.copy`` and ``x * 2``) as the floor in bytes per second, then jelu
   and ``jax.nn`` forward and forward+backward (``jax.vjp``, gradient only)
   of elu, selu, celu in float32 and bfloat16: median time, fraction of the
   copy bandwidth (minimal bytes: fwd reads x, writes y; fwd+bwd reads x, g,
   writes dx) and ratio to ``jax.nn``.
4. ``mlp``: the synthetic MLP train step of ``benchmarks.run`` (8 x 1024, batch 4096) in
   float32 and bfloat16 with jelu.elu, jax.nn.elu and jax.nn.relu: median
   step time and compiled temp memory, as ratios to relu's.
5. ``trainer``: ``python examples/train.py`` on its defaults (``--epochs 1``
   with ``--quick``) as a subprocess, writing to a temporary folder: its
   final line and wall time.

Timing is ``benchmarks._common``'s, as in ``benchmarks.run``: compiled
ahead, warm-up calls, interleaved repeats in a shuffled order, medians,
``block_until_ready``. Speed and MLP targets are reported, not enforced.
Nothing here needs float64 on the device (references are host numpy). The
markdown report is rendered by ``benchmarks._device_check_report``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np

import jelu
from benchmarks import _common
from benchmarks._device_check_report import markdown
from jelu.testing import CASES, all_bit_patterns, compare, correctly_rounded, derivative, float32_sample

SCRIPT = "device_check"
SCHEMA_VERSION = 1
SECTIONS = ("accuracy", "consistency", "speed", "mlp", "trainer")
ORDERS = (0, 1, 2)
ORDER_NAMES = {0: "value", 1: "f'", 2: "f''"}
# Keys of jelu.testing.CASES: elu (alpha 1 and 1.7), selu, celu (alpha 0.3).
ACCURACY_CASES = ("elu", "elu(alpha=1.7)", "selu", "celu(alpha=0.3)")
SIXTEEN_BIT = {"bfloat16": ml_dtypes.bfloat16, "float16": np.float16}
# Pass criteria of section 1, the README's claims: 16-bit correctly rounded for
# the default alphas (enumerated), within 1 ULP for others (derived); float32
# within 1 ULP.
CORRECTLY_ROUNDED_CASES = ("elu", "selu")
SIXTEEN_BIT_NOT_CR_ALLOWED = 0
MAX_ULP = 1
FLOAT32_MAX_ULP = MAX_ULP
# Negative normal float32 bit patterns: [-FLT_MIN bits, -inf bits).
NEG_NORMAL_F32_BITS = (0x80800000, 0xFF800000)
SPEED_FUNCTIONS = ("elu", "selu", "celu")
SPEED_DTYPES = ("float32", "bfloat16")
SPEED_MODES = ("fwd", "fwd+bwd")
ARRAYS_MOVED = {"fwd": 2, "fwd+bwd": 3}  # arrays of n read + written, minimal
COPY_FLOORS = ("jnp.copy", "x*2")
MLP_ACTIVATIONS = _common.COMPARED_ACTIVATIONS
MLP_DTYPES = ("float32", "bfloat16")
# Targets of sections 3-4 (reported, not enforced).
TARGET_COPY_FRACTION = 0.85
TARGET_RATIO_TO_JAX_NN = 1.0
TARGET_STEP_RATIO_TO_RELU = 1.02
TARGET_TEMP_RATIO_TO_RELU = 1.0
TRAINER = _common.REPO_ROOT / "examples" / "train.py"
EXIT_FAILED = 1


@dataclass(frozen=True)
class Sizes:
    """Problem sizes of one run."""

    f32_random: int  # random negative normal float32 bit patterns
    f32_dense: int | None  # points drawn from the tests' dense sample (None: all of it)
    speed_n: int  # elements per elementwise call
    speed_repeats: int
    mlp_repeats: int
    trainer_epochs: int | None  # None: the trainer's default
    trainer_timeout_s: int


# Full run: 81 s on one H200 with 16 host CPUs (references on the host CPU).
FULL = Sizes(f32_random=2**24, f32_dense=None, speed_n=2**28, speed_repeats=20,
             mlp_repeats=20, trainer_epochs=None, trainer_timeout_s=240)
QUICK = Sizes(f32_random=2**15, f32_dense=2**15, speed_n=2**20, speed_repeats=3,
              mlp_repeats=3, trainer_epochs=1, trainer_timeout_s=120)


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def _sections(text: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    bad = [s for s in names if s not in SECTIONS]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"unknown section(s) {', '.join(bad) or repr(text)}; choose from {','.join(SECTIONS)}")
    return tuple(s for s in SECTIONS if s in names)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse and validate the command line; exit 2 with one line on bad input."""
    parser = _common.parser(SCRIPT, "Accuracy, CPU consistency, speed and training of jelu on jax.devices()[0].")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (a CPU smoke run of every section, < 60 s)")
    _common.add_out_argument(parser, f"{SCRIPT}-<kind>.json and .md")
    parser.add_argument("--sections", type=_sections, default=SECTIONS,
                        help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)")
    args = parser.parse_args(argv)
    args.out = _common.out_dir(parser, args.out)
    return args


def report_paths(out: Path) -> tuple[Path, Path]:
    """The JSON and markdown reports in the folder ``out``."""
    return _common.result_path(out, SCRIPT, ".json"), _common.result_path(out, SCRIPT, ".md")


def _log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------
# Inputs and evaluation
# --------------------------------------------------------------------------


def float32_inputs(sizes: Sizes) -> np.ndarray:
    """Random negative normal float32 bit patterns plus jelu.testing's dense sample, as float64."""
    rng = np.random.default_rng(0)
    lo, hi = NEG_NORMAL_F32_BITS
    bits = rng.integers(lo, hi, sizes.f32_random, dtype=np.uint64).astype(np.uint32)
    dense = float32_sample()
    if sizes.f32_dense is not None and sizes.f32_dense < dense.size:
        dense = rng.choice(dense, sizes.f32_dense, replace=False)
    return np.concatenate([bits.view(np.float32).astype(np.float64), dense])


def inputs(sizes: Sizes) -> dict[str, tuple[Any, np.ndarray]]:
    """dtype name -> (dtype, inputs as float64)."""
    out: dict[str, tuple[Any, np.ndarray]] = {
        name: (dtype, all_bit_patterns(dtype)) for name, dtype in SIXTEEN_BIT.items()}
    out["float32"] = (np.float32, float32_inputs(sizes))
    return out


class Evaluator:
    """Jitted derivatives of jelu's functions, one compiled function per (case, order)."""

    def __init__(self) -> None:
        self._fns: dict[tuple[str, int], Callable[[jax.Array], jax.Array]] = {}

    def __call__(self, case: str, order: int, x: np.ndarray, dtype: Any, device: Any) -> np.ndarray:
        """Results (in ``dtype``) of the order-th derivative at x, computed on ``device``."""
        key = (case, order)
        if key not in self._fns:
            _, _, name, kw = CASES[case]
            f = getattr(jelu, name)
            self._fns[key] = jax.jit(derivative(lambda v, f=f, kw=kw: f(v, **kw), order))
        arg = jax.device_put(x.astype(dtype), device)
        return np.asarray(self._fns[key](arg))


# --------------------------------------------------------------------------
# Section 1: accuracy
# --------------------------------------------------------------------------


def accuracy_section(data: dict[str, tuple[Any, np.ndarray]], evaluate: Evaluator, device: Any) -> dict[str, Any]:
    """ULP figures of every case, dtype and order on ``device``, with pass flags."""
    rows = []
    for dname, (dtype, x) in data.items():
        for case in ACCURACY_CASES:
            name, alpha, _, _ = CASES[case]
            cells = []
            for order in ORDERS:
                ref = correctly_rounded(name, order, x, dtype, alpha)
                y = evaluate(case, order, x, dtype, device).astype(np.float64)
                m = compare(x, y, ref, dtype)
                if dname == "float32" or case not in CORRECTLY_ROUNDED_CASES:
                    ok = m["max_ulp"] <= MAX_ULP
                else:
                    ok = m["not_correctly_rounded"] <= SIXTEEN_BIT_NOT_CR_ALLOWED
                ok = ok and m["subnormal_ok"]
                m |= {"case": case, "function": name, "alpha": alpha, "dtype": dname,
                      "order": ORDER_NAMES[order],
                      "share_not_correctly_rounded": m["not_correctly_rounded"] / max(m["points"], 1),
                      "pass": bool(ok)}
                rows.append(m)
                cells.append(f"{ORDER_NAMES[order]} {m['max_ulp']} ULP/{m['not_correctly_rounded']} not CR")
            _log(f"  accuracy {dname:8s} {case:16s} {x.size:>10,} points: " + ", ".join(cells)
                 + ("" if all(r["pass"] for r in rows[-3:]) else "  FAIL"))
    return {"status": "pass" if all(r["pass"] for r in rows) else "fail",
            "criteria": {"bfloat16/float16": f"not correctly rounded <= {SIXTEEN_BIT_NOT_CR_ALLOWED} for "
                                             f"{', '.join(CORRECTLY_ROUNDED_CASES)}; max ULP <= {MAX_ULP} otherwise",
                         "float32": f"max ULP <= {FLOAT32_MAX_ULP}",
                         "all": "subnormal inputs/results excluded; there 0 or the reference is accepted"},
            "points": {d: int(x.size) for d, (_, x) in data.items()},
            "rows": rows}


# --------------------------------------------------------------------------
# Section 2: consistency with the CPU
# --------------------------------------------------------------------------


def bit_mismatches(a: np.ndarray, b: np.ndarray, x: np.ndarray, dtype: Any) -> tuple[int, int]:
    """(all mismatching bit patterns, those where the input or a result is subnormal)."""
    dtype = np.dtype(dtype)
    uint = {2: np.uint16, 4: np.uint32, 8: np.uint64}[dtype.itemsize]
    a, b = np.asarray(a, dtype), np.asarray(b, dtype)
    differ = a.view(uint) != b.view(uint)
    tiny = float(ml_dtypes.finfo(dtype).tiny)

    def subnormal(v: np.ndarray) -> np.ndarray:
        v = np.abs(np.asarray(v, np.float64))
        return (v > 0) & (v < tiny)

    sub = subnormal(x) | subnormal(a) | subnormal(b)
    return int(differ.sum()), int((differ & sub).sum())


def consistency_section(data: dict[str, tuple[Any, np.ndarray]], evaluate: Evaluator,
                        device: Any, cpu: Any) -> dict[str, Any]:
    """Bit-for-bit comparison of the device's results with the CPU's."""
    rows = []
    for dname, (dtype, x) in data.items():
        for case in ACCURACY_CASES:
            counts = []
            for order in ORDERS:
                y_dev = evaluate(case, order, x, dtype, device)
                y_cpu = evaluate(case, order, x, dtype, cpu)
                total, sub = bit_mismatches(y_dev, y_cpu, x, dtype)
                rows.append({"case": case, "dtype": dname, "order": ORDER_NAMES[order],
                             "points": int(x.size), "mismatches": total,
                             "mismatches_subnormal": sub, "pass": total - sub == 0})
                counts.append(f"{ORDER_NAMES[order]} {total}")
            _log(f"  consistency {dname:8s} {case:16s} mismatches: " + ", ".join(counts))
    return {"status": "pass" if all(r["pass"] for r in rows) else "fail",
            "device": str(device), "cpu": str(cpu), "same_device": device == cpu,
            "criteria": "no bit mismatch outside subnormal inputs/results", "rows": rows}


# --------------------------------------------------------------------------
# Section 3: speed at the memory limit
# --------------------------------------------------------------------------


def speed_section(n: int, repeats: int, device: Any) -> dict[str, Any]:
    """Copy floor, then jelu vs jax.nn fwd and fwd+bwd, all interleaved."""
    x32 = jax.device_put(jax.random.normal(jax.random.key(0), (n,), jnp.float32), device)
    g32 = jax.device_put(jax.random.normal(jax.random.key(1), (n,), jnp.float32), device)
    thunks: dict[tuple[str, str, str, str], Callable[[], Any]] = {
        ("float32", "copy", "floor", "jnp.copy"): _common.compiled_thunk(jnp.copy, x32),
        ("float32", "copy", "floor", "x*2"): _common.compiled_thunk(lambda x: x * 2, x32),
    }
    for dtype in SPEED_DTYPES:
        x, g = x32.astype(dtype), g32.astype(dtype)
        for impl, module in (("jelu", jelu), ("jax.nn", jax.nn)):
            for name in SPEED_FUNCTIONS:
                f = getattr(module, name)
                thunks[(dtype, "fwd", impl, name)] = _common.compiled_thunk(f, x)
                thunks[(dtype, "fwd+bwd", impl, name)] = _common.compiled_thunk(
                    lambda x, g, f=f: jax.vjp(f, x)[1](g)[0], x, g)
    _log(f"  speed: {len(thunks)} compiled calls at n = {n:,}, {repeats} interleaved repeats")
    samples = _common.interleaved_times(thunks, repeats)
    median = {k: statistics.median(v) for k, v in samples.items()}
    copy_bytes = ARRAYS_MOVED["fwd"] * n * 4
    floors = {k[3]: {"time_s": t, "bandwidth_Bps": copy_bytes / t} for k, t in median.items() if k[2] == "floor"}
    copy_bw = max(f["bandwidth_Bps"] for f in floors.values())
    rows = []
    for (dtype, mode, impl, name), t in median.items():
        if impl == "floor":
            continue
        nbytes = ARRAYS_MOVED[mode] * n * jnp.dtype(dtype).itemsize
        ref = median[(dtype, mode, "jax.nn", name)]
        rows.append({"dtype": dtype, "mode": mode, "impl": impl, "function": name,
                     "time_s": t, "min_time_s": min(samples[(dtype, mode, impl, name)]),
                     "bytes_moved": nbytes, "bandwidth_Bps": nbytes / t,
                     "fraction_of_copy_bandwidth": nbytes / t / copy_bw,
                     "ratio_to_jax_nn": t / ref})
    jelu_rows = [r for r in rows if r["impl"] == "jelu"]
    targets = {
        f"jelu >= {TARGET_COPY_FRACTION:.0%} of copy bandwidth": all(
            r["fraction_of_copy_bandwidth"] >= TARGET_COPY_FRACTION for r in jelu_rows),
        f"jelu/jax.nn <= {TARGET_RATIO_TO_JAX_NN}": all(
            r["ratio_to_jax_nn"] <= TARGET_RATIO_TO_JAX_NN for r in jelu_rows),
    }
    for dtype in SPEED_DTYPES:
        for mode in SPEED_MODES:
            cells = [f"{r['function']} {r['time_s'] * 1e3:.3f} ms {r['fraction_of_copy_bandwidth']:.0%} "
                     f"{r['ratio_to_jax_nn']:.2f}x" for r in jelu_rows if (r["dtype"], r["mode"]) == (dtype, mode)]
            _log(f"  speed {dtype:8s} {mode:7s} jelu: " + ", ".join(cells))
    return {"status": "ok", "n": n, "repeats": repeats, "copy_bytes": copy_bytes,
            "copy_floors": floors, "copy_bandwidth_Bps": copy_bw, "rows": rows, "targets": targets}


# --------------------------------------------------------------------------
# Section 4: MLP train step
# --------------------------------------------------------------------------


def mlp_section(cfg: Any, repeats: int, device: Any) -> dict[str, Any]:
    """Step time and compiled temp memory of the synthetic MLP, per dtype and activation."""
    with jax.default_device(device):
        params32 = _common.mlp_params(jax.random.key(2), cfg)
        x32 = jax.random.normal(jax.random.key(3), (cfg.batch, cfg.d_in))
        y = jax.random.randint(jax.random.key(4), (cfg.batch,), 0, cfg.n_classes)
    thunks: dict[tuple[str, str], Callable[[], Any]] = {}
    temp: dict[tuple[str, str], int | None] = {}
    for dtype in MLP_DTYPES:
        params = jax.tree_util.tree_map(lambda a, dtype=dtype: a.astype(dtype), params32)
        x = x32.astype(dtype)
        for name, act in MLP_ACTIVATIONS.items():
            compiled = jax.jit(jax.value_and_grad(_common.mlp_loss(act))).lower(params, x, y).compile()
            temp[(dtype, name)] = _common.temp_bytes(compiled)
            thunks[(dtype, name)] = (lambda c=compiled, p=params, x=x: jax.block_until_ready(c(p, x, y)))
    _log(f"  mlp: {len(thunks)} compiled steps, {repeats} interleaved repeats")
    samples = _common.interleaved_times(thunks, repeats, seed=1)
    median = {k: statistics.median(v) for k, v in samples.items()}
    rows = []
    for (dtype, name), t in median.items():
        relu_t, relu_temp, mine = median[(dtype, "jax.nn.relu")], temp[(dtype, "jax.nn.relu")], temp[(dtype, name)]
        rows.append({"dtype": dtype, "activation": name, "time_s": t,
                     "ratio_to_relu_time": t / relu_t, "temp_bytes": mine,
                     "ratio_to_relu_temp": mine / relu_temp if mine is not None and relu_temp else None})
        _log(f"  mlp {dtype:8s} {name:11s} {t * 1e3:8.3f} ms ({t / relu_t:.3f}x relu), temp "
             f"{'-' if mine is None else f'{mine / 2**20:.4g} MiB'}")
    jelu_rows = [r for r in rows if r["activation"] == "jelu.elu"]
    targets = {
        f"jelu step <= {TARGET_STEP_RATIO_TO_RELU}x relu": all(
            r["ratio_to_relu_time"] <= TARGET_STEP_RATIO_TO_RELU for r in jelu_rows),
        "jelu temp memory == relu": all(
            r["ratio_to_relu_temp"] is not None and r["ratio_to_relu_temp"] <= TARGET_TEMP_RATIO_TO_RELU
            for r in jelu_rows),
        "jelu temp memory <= jax.nn.elu": all(
            r["temp_bytes"] is not None and r["temp_bytes"] <= temp[(r["dtype"], "jax.nn.elu")]
            for r in jelu_rows),
    }
    return {"status": "ok", "config": asdict(cfg) | {"loss": "mean softmax cross-entropy",
                                                     "step": "jax.jit(jax.value_and_grad(loss))"},
            "repeats": repeats, "rows": rows, "targets": targets}


# --------------------------------------------------------------------------
# Section 5: the trainer
# --------------------------------------------------------------------------


def trainer_section(epochs: int | None, timeout_s: int) -> dict[str, Any]:
    """Run examples/train.py through its command line, writing to a temporary folder;
    its final line and wall time."""
    with tempfile.TemporaryDirectory(prefix="jelu-device-check-") as tmp:
        cmd = [sys.executable, str(TRAINER), "--no-progress", "--out", str(Path(tmp) / "train")]
        if epochs is not None:
            cmd += ["--epochs", str(epochs)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_common.REPO_ROOT), env.get("PYTHONPATH")]))
        # This process may hold most of an accelerator's memory (JAX preallocates
        # it); the small trainer allocates on demand from what is left.
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
        shown = " ".join(["python", str(TRAINER.relative_to(_common.REPO_ROOT)), *cmd[2:]])
        _log(f"  trainer: {shown}")
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env,
                                  cwd=_common.REPO_ROOT)
        except subprocess.TimeoutExpired:
            return {"status": "error", "command": shown, "error": f"timed out after {timeout_s} s"}
        wall = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    final = lines[-1] if lines else ""
    fields = dict(item.split("=", 1) for item in final.split() if "=" in item)
    _log(f"  trainer: {final or '(no output)'} [{wall:.1f} s]")
    result = {"status": "ok" if proc.returncode == 0 else "error", "command": shown,
              "returncode": proc.returncode, "final_line": final, "fields": fields, "wall_s": wall}
    if proc.returncode != 0:
        result["error"] = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
    return result


# --------------------------------------------------------------------------
# Report (rendered by benchmarks._device_check_report)
# --------------------------------------------------------------------------


def environment(argv: Sequence[str], quick: bool, sizes: Sizes) -> dict[str, Any]:
    """The machine and versions (``_common.describe_machine``), and this run's sizes."""
    import mpmath

    meta = _common.describe_machine(SCRIPT, argv)
    meta["versions"] |= {"ml_dtypes": ml_dtypes.__version__, "mpmath": mpmath.__version__}
    return meta | {"quick": quick, "sizes": asdict(sizes)}


def _write(result: dict[str, Any], out: Path, start: float) -> str:
    """Set the pass flag and run time, write JSON and markdown to the folder ``out``, return the markdown."""
    result["passed"] = all(s["status"] in ("pass", "ok") for s in result["sections"].values())
    result["meta"]["total_seconds"] = time.perf_counter() - start
    report = markdown(result)
    json_path, md_path = report_paths(out)
    _common.write_atomic(json_path, json.dumps(result, indent=2) + "\n")
    _common.write_atomic(md_path, report)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected sections, write JSON and markdown, return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    mlp_cfg = _common.QUICK_MLP if args.quick else _common.FULL_MLP
    start = time.perf_counter()
    device = jax.devices()[0]
    result: dict[str, Any] = {"schema_version": SCHEMA_VERSION,
                              "meta": environment(argv, args.quick, sizes), "sections": {}}
    _log(f"device_check: {device.device_kind} ({device.platform}), jax {jax.__version__}, "
         f"sections {','.join(args.sections)}{' (quick)' if args.quick else ''}")
    evaluate = Evaluator()
    data: dict[str, tuple[Any, np.ndarray]] | None = None
    for number, name in enumerate(SECTIONS, 1):
        if name not in args.sections:
            continue
        _log(f"[{number}/{len(SECTIONS)}] {name} ...")
        t0 = time.perf_counter()
        try:
            if name in ("accuracy", "consistency") and data is None:
                data = inputs(sizes)
            if name == "accuracy":
                out = accuracy_section(data, evaluate, device)
            elif name == "consistency":
                out = consistency_section(data, evaluate, device, jax.devices("cpu")[0])
            elif name == "speed":
                out = speed_section(sizes.speed_n, sizes.speed_repeats, device)
            elif name == "mlp":
                out = mlp_section(mlp_cfg, sizes.mlp_repeats, device)
            else:
                out = trainer_section(sizes.trainer_epochs, sizes.trainer_timeout_s)
        except Exception as exc:  # noqa: BLE001 - a section that cannot run is reported and fails the run
            out = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
        out["seconds"] = time.perf_counter() - t0
        result["sections"][name] = out
        _log(f"[{number}/{len(SECTIONS)}] {name}: {out['status']} in {out['seconds']:.1f} s "
             f"(elapsed {time.perf_counter() - start:.1f} s)")
        # Written after every section, so a run cut short still leaves its finished sections.
        result["complete"] = False
        report = _write(result, args.out, start)
    result["complete"] = True
    report = _write(result, args.out, start)
    print(report, end="")
    print(f"Wrote {' and '.join(map(str, report_paths(args.out)))} "
          f"in {result['meta']['total_seconds']:.0f} s: {'PASS' if result['passed'] else 'FAIL'}.")
    return 0 if result["passed"] else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
