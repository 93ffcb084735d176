"""ULP accuracy of jelu and jax.nn against correctly rounded references.

    python benchmarks/accuracy.py [--out benchmarks/accuracy.md]

For each function and dtype: the largest distance in ULPs from the correctly
rounded value, and how many results are not correctly rounded, for the value
and the first and second derivatives. bfloat16 and float16: all 65,536 inputs;
float32: the >10^6-point sample of tests/test_numerics.py; float64: 600
points against mpmath. References: tests/reference.py. Subnormal inputs and
results are left out (XLA flushes them to zero on CPU).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import jax
import ml_dtypes
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

import jelu  # noqa: E402
from reference import CASES, all_bit_patterns, measure  # noqa: E402
from test_numerics import float32_sample  # noqa: E402

JAX_NN = {"elu": jax.nn.elu, "selu": jax.nn.selu, "celu": jax.nn.celu}


def implementations(case):
    _, _, name, kw = CASES[case]
    return {
        "jelu": lambda x: getattr(jelu, name)(x, **kw),
        "jax.nn": lambda x: JAX_NN[name](x, **kw),
    }


def float64_sample() -> np.ndarray:
    rng = np.random.default_rng(1)
    return np.concatenate([
        -np.exp(rng.uniform(np.log(1e-300), np.log(750.0), 400)),
        -rng.uniform(0.0, 1e-3, 50),
        -rng.uniform(36.0, 38.5, 50),
        -rng.uniform(700.0, 746.0, 50),
        rng.uniform(0.0, 1e3, 50),
    ])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "accuracy.md"),
                        help="markdown file to write (default: %(default)s)")
    args = parser.parse_args(argv)
    inputs = [
        ("bfloat16", ml_dtypes.bfloat16, all_bit_patterns(ml_dtypes.bfloat16)),
        ("float16", np.float16, all_bit_patterns(np.float16)),
        ("float32", np.float32, float32_sample()),
        ("float64", np.float64, float64_sample()),
    ]
    lines = [
        "| function | dtype | impl | value: max ULP (not CR) | f': max ULP (not CR) | f'': max ULP (not CR) |",
        "|---|---|---|--:|--:|--:|",
    ]
    for case in CASES:
        for dname, dtype, x in inputs:
            for impl, f in implementations(case).items():
                cells = []
                for order in range(3):
                    with jax.enable_x64(dtype == np.float64):
                        m = measure(f, case, order, x, dtype)
                    cells.append(f"{m['max_ulp']:,} ({m['not_correctly_rounded']:,} of {m['points']:,})")
                lines.append(f"| {case} | {dname} | {impl} | " + " | ".join(cells) + " |")
                print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(args.out)), suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
