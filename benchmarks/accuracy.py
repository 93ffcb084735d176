"""ULP accuracy of jelu and jax.nn against correctly rounded references.

Run from the repository root::

    python -m benchmarks.accuracy [--out DIR]

For each function and dtype: the largest distance in ULPs from the correctly
rounded value, and how many results are not correctly rounded, for the value
and the first and second derivatives. bfloat16 and float16: all 65,536 inputs;
float32: the >10^6-point sample ``jelu.testing.float32_sample``; float64: 600
points against mpmath. References: :mod:`jelu.testing`. Subnormal inputs and
results are left out (XLA flushes them to zero on CPU). Prints the table as it
goes and writes it to ``benchmarks/results/accuracy-<kind>.md`` (``--out DIR``
for another folder).
"""

from __future__ import annotations

import sys

import jax
import ml_dtypes
import numpy as np

import jelu
from benchmarks import _common
from jelu.testing import CASES, all_bit_patterns, float32_sample, measure

SCRIPT = "accuracy"

JAX_NN = {"elu": jax.nn.elu, "selu": jax.nn.selu, "celu": jax.nn.celu}


def implementations(case):
    """jelu's and jax.nn's function of a ``jelu.testing.CASES`` key, as ``f(x)``."""
    _, _, name, kw = CASES[case]
    return {
        "jelu": lambda x: getattr(jelu, name)(x, **kw),
        "jax.nn": lambda x: JAX_NN[name](x, **kw),
    }


def float64_sample() -> np.ndarray:
    """600 float64 points: log-spaced negatives, the hard regions, and some positives."""
    rng = np.random.default_rng(1)
    return np.concatenate([
        -np.exp(rng.uniform(np.log(1e-300), np.log(750.0), 400)),
        -rng.uniform(0.0, 1e-3, 50),
        -rng.uniform(36.0, 38.5, 50),
        -rng.uniform(700.0, 746.0, 50),
        rng.uniform(0.0, 1e3, 50),
    ])


def main(argv=None) -> int:
    """Measure every case, dtype and implementation; print and write the table."""
    parser = _common.parser(SCRIPT, __doc__.splitlines()[0])
    _common.add_out_argument(parser, f"{SCRIPT}-<kind>.md")
    args = parser.parse_args(argv)
    out = _common.result_path(_common.out_dir(parser, args.out), SCRIPT, ".md")
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
    _common.write_atomic(out, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
