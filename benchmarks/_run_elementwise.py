"""Part of ``python -m benchmarks.run``: the elementwise calls and their residuals.

For each n, dtype and pass (``fwd``, ``fwd+bwd``), jelu's, jax.nn's and (when
importable) PyTorch's elu, selu, celu(0.5) and celu(0.3) are timed in one
interleaved round-robin with the memory-bound floor, and jelu's
``elu_plus_one`` against ``elu(x) + 1`` as jax.nn and PyTorch users write it (see ``run``'s module
docstring for what each pass computes); :func:`residual_benchmark` counts
the arrays ``jax.vjp`` keeps for the reverse pass. The ``*_table`` functions
render these rows for the report.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import jelu
from benchmarks import _common, _report

#: Row name -> (function name in jelu / jax.nn / torch.nn.functional, alpha or None).
#: celu with alpha = 1 is elu, so celu gets a non-trivial alpha: 0.5 is a power
#: of two (jelu's cheaper exact path), 0.3 is not (its general path).
FUNCTION_SPECS: dict[str, tuple[str, float | None]] = {
    "elu": ("elu", None),
    "selu": ("selu", None),
    "celu": ("celu", 0.5),
    "celu(0.3)": ("celu", 0.3),
    "elu+1": ("elu_plus_one", None),
}
FUNCTIONS = tuple(FUNCTION_SPECS)
DTYPES = ("float32", "bfloat16")
MODES = ("fwd", "fwd+bwd")
IMPLS = ("floor", "jelu", "jax.nn", "torch")
# Arrays read + written by the JAX candidate and its floor, in units of n.
ARRAYS_MOVED = {"fwd": 2, "fwd+bwd": 3}


def n_label(n: int) -> str:
    """``2**k`` for a power of two from 2 on, else the decimal number."""
    return f"2**{n.bit_length() - 1}" if n >= 2 and n & (n - 1) == 0 else str(n)


# --------------------------------------------------------------------------
# Elementwise benchmark
# --------------------------------------------------------------------------


def _with_alpha(f: Callable[..., Any], alpha: float | None) -> Callable[[Any], Any]:
    return f if alpha is None else (lambda x: f(x, alpha))


def _function(module: Any, base: str) -> Callable[..., Any]:
    """``module.base``; a library without ``elu_plus_one`` gets ``elu(x) + 1``, as its users write it."""
    if base == "elu_plus_one" and not hasattr(module, base):
        return lambda x, elu=module.elu: elu(x) + 1
    return getattr(module, base)


def jax_fn(impl: str, name: str) -> Callable[[jax.Array], jax.Array]:
    """The row ``name`` of :data:`FUNCTION_SPECS` from jelu or jax.nn, as ``f(x)``."""
    base, alpha = FUNCTION_SPECS[name]
    return _with_alpha(_function(jelu if impl == "jelu" else jax.nn, base), alpha)


def _jax_candidates(mode: str, x: jax.Array, g: jax.Array) -> dict[tuple[str, str], Callable[[], Any]]:
    """Jitted JAX thunks of one mode and dtype, keyed by (impl, function)."""
    thunks: dict[tuple[str, str], Callable[[], Any]] = {}
    if mode == "fwd":
        thunks[("floor", "x*2")] = _common.blocking(jax.jit(lambda x: x * 2), x)
    else:
        thunks[("floor", "x*g")] = _common.blocking(jax.jit(lambda x, g: x * g), x, g)
    for impl in ("jelu", "jax.nn"):
        for name in FUNCTIONS:
            f = jax_fn(impl, name)
            if mode == "fwd":
                thunks[(impl, name)] = _common.blocking(jax.jit(f), x)
            else:
                grad_only = jax.jit(lambda x, g, f=f: jax.vjp(f, x)[1](g)[0])
                thunks[(impl, name)] = _common.blocking(grad_only, x, g)
    return thunks


def _torch_candidates(
    torch: Any, device: str, mode: str, x: np.ndarray, g: np.ndarray, dtype: str
) -> dict[tuple[str, str], Callable[[], Any]]:
    """PyTorch thunks of one mode and dtype (inputs converted from float32 copies)."""
    tdtype = getattr(torch, dtype)
    x, g = x.copy(), g.copy()  # writable, as torch.from_numpy wants
    xt = torch.from_numpy(x).to(device=device, dtype=tdtype)
    gt = torch.from_numpy(g).to(device=device, dtype=tdtype)
    xt_grad = xt.detach().clone().requires_grad_(True)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    funcs = {name: _with_alpha(_function(torch.nn.functional, base), alpha)
             for name, (base, alpha) in FUNCTION_SPECS.items()}
    thunks: dict[tuple[str, str], Callable[[], Any]] = {}
    for name, f in funcs.items():
        if mode == "fwd":
            def thunk(f: Callable[..., Any] = f) -> Any:
                with torch.no_grad():
                    out = f(xt)
                sync()
                return out
        else:
            def thunk(f: Callable[..., Any] = f) -> Any:
                (dx,) = torch.autograd.grad(f(xt_grad), xt_grad, gt)
                sync()
                return dx
        thunks[("torch", name)] = thunk
    return thunks


def elementwise_benchmark(
    sizes: Sequence[int], repeats: int, torch: Any, torch_device: str | None
) -> list[dict[str, Any]]:
    """Rows of every size in ``sizes``, measured one size at a time."""
    rows: list[dict[str, Any]] = []
    for n in sizes:
        rows += _elementwise_at(n, repeats, torch, torch_device)
    return rows


def _elementwise_at(
    n: int, repeats: int, torch: Any, torch_device: str | None
) -> list[dict[str, Any]]:
    """Time every (dtype, mode, impl, function) at size n in one interleaved round-robin."""
    x32 = jax.random.normal(jax.random.key(0), (n,), jnp.float32)
    g32 = jax.random.normal(jax.random.key(1), (n,), jnp.float32)
    x_host, g_host = np.asarray(x32), np.asarray(g32)  # float32, for PyTorch
    thunks: dict[tuple[str, str, str, str], Callable[[], Any]] = {}
    for dtype in DTYPES:
        x, g = x32.astype(dtype), g32.astype(dtype)
        for mode in MODES:
            group = _jax_candidates(mode, x, g)
            if torch is not None and torch_device is not None:
                group |= _torch_candidates(torch, torch_device, mode, x_host, g_host, dtype)
            for (impl, name), thunk in group.items():
                thunks[(dtype, mode, impl, name)] = thunk
    samples = _common.interleaved_times(thunks, repeats)
    medians = {key: statistics.median(times) for key, times in samples.items()}

    rows = []
    for (dtype, mode, impl, name), t in medians.items():
        floor_t = medians[(dtype, mode, "floor", "x*2" if mode == "fwd" else "x*g")]
        copy_t = medians[(dtype, "fwd", "floor", "x*2")]
        itemsize = jnp.dtype(dtype).itemsize
        nbytes = ARRAYS_MOVED[mode] * n * itemsize
        copy_bandwidth = ARRAYS_MOVED["fwd"] * n * itemsize / copy_t
        ref = medians.get((dtype, mode, "jax.nn", name))
        rows.append({
            "n": n,
            "dtype": dtype,
            "mode": mode,
            "impl": impl,
            "function": name,
            "time_s": t,
            "min_time_s": min(samples[(dtype, mode, impl, name)]),
            "ratio_to_floor": t / floor_t,
            "ratio_to_jax_nn": t / ref if ref is not None else None,
            "bytes_moved": nbytes,
            "bandwidth_GBps": nbytes / t / 1e9,
            "fraction_of_copy_bandwidth": nbytes / t / copy_bandwidth,
        })
    return rows


def summarize(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (dtype, mode, function): the largest jelu/jax.nn ratio over the sizes, and its n."""
    worst: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in rows:
        if r["impl"] != "jelu" or r["ratio_to_jax_nn"] is None:
            continue
        key = (r["dtype"], r["mode"], r["function"])
        if key not in worst or r["ratio_to_jax_nn"] > worst[key]["max_ratio_to_jax_nn"]:
            worst[key] = {"dtype": r["dtype"], "mode": r["mode"], "function": r["function"],
                          "max_ratio_to_jax_nn": r["ratio_to_jax_nn"], "n": r["n"]}
    return [worst[(d, m, f)] for d in DTYPES for m in MODES for f in FUNCTIONS if (d, m, f) in worst]


# --------------------------------------------------------------------------
# Residuals
# --------------------------------------------------------------------------


def residual_arrays(f: Callable[[jax.Array], jax.Array], n: int, dtype: str) -> list[Any]:
    """Shapes/dtypes of the residuals that ``jax.vjp(f, x)`` keeps for the reverse pass.

    The VJP closure is a pytree (``jax.tree_util.Partial``) whose array leaves
    are the saved residuals (the input itself included, when it is kept).
    Tracing under ``jax.eval_shape`` gives their shapes without allocating.
    """
    def leaves(x: jax.Array) -> list[jax.Array]:
        return jax.tree_util.tree_leaves(jax.vjp(f, x)[1])

    return jax.eval_shape(leaves, jax.ShapeDtypeStruct((n,), dtype))


def residual_benchmark(n: int) -> list[dict[str, Any]]:
    """Count and size the residuals of every function, implementation and dtype."""
    rows = []
    for dtype in DTYPES:
        for impl in ("jelu", "jax.nn"):
            for name in FUNCTIONS:
                arrays = residual_arrays(jax_fn(impl, name), n, dtype)
                nbytes = sum(math.prod(a.shape) * a.dtype.itemsize for a in arrays)
                rows.append({
                    "n": n,
                    "dtype": dtype,
                    "impl": impl,
                    "function": name,
                    "count": len(arrays),
                    "full_size_count": sum(a.shape == (n,) for a in arrays),
                    "bytes": nbytes,
                    "bytes_per_element": nbytes / n,
                    "arrays": [f"{a.dtype}{list(a.shape)}" for a in arrays],
                })
    return rows


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------


def summary_table(result: dict[str, Any]) -> list[str]:
    """Per dtype, pass and function: the worst jelu/jax.nn ratio over the sizes, and its n."""
    size_list = ", ".join(n_label(n) for n in result["meta"]["sizes"])
    lines = [f"Summary: worst (largest) jelu/jax.nn median-time ratio over n = {size_list}, "
             "with the n where it occurred; below 1.00x jelu is faster at every n.", "",
             *_report.table(["dtype", "pass", *FUNCTIONS], "ll" + "r" * len(FUNCTIONS))]
    worst = {(r["dtype"], r["mode"], r["function"]): r for r in result["summary"]}
    for dtype in DTYPES:
        for mode in MODES:
            cells = [f"{_report.ratio(worst[key]['max_ratio_to_jax_nn'])} (n = {n_label(worst[key]['n'])})"
                     if (key := (dtype, mode, name)) in worst else "-" for name in FUNCTIONS]
            lines.append(_report.row([dtype, mode, *cells]))
    return lines


def elementwise_table(result: dict[str, Any]) -> list[str]:
    """Every elementwise row: median times, ratios to the floor and to jax.nn, jelu's %copy."""
    columns = ["dtype", "pass", "n", "fn", "floor ms", "jelu ms", "jax.nn ms", "torch ms", "jelu/floor",
               "jax.nn/floor", "torch/floor", "jelu/jax.nn", "torch/jax.nn", "jelu %copy"]
    lines = ["Elementwise: median ms; `/floor` = time / the jitted `x * 2` (fwd) or `x * g` (fwd+bwd) "
             "floor; `%copy` = jelu's achieved bandwidth as a fraction of the `x * 2` copy bandwidth.", "",
             *_report.table(columns, "llrl" + "r" * 10)]
    index = {(r["n"], r["dtype"], r["mode"], r["impl"], r["function"]): r for r in result["elementwise"]}
    for dtype in DTYPES:
        for mode in MODES:
            for n in result["meta"]["sizes"]:
                floor = index[(n, dtype, mode, "floor", "x*2" if mode == "fwd" else "x*g")]
                for name in FUNCTIONS:
                    found = {impl: index.get((n, dtype, mode, impl, name)) for impl in IMPLS[1:]}

                    def get(impl: str, key: str) -> Any:
                        return found[impl][key] if found[impl] else None

                    lines.append(_report.row([
                        dtype, mode, n_label(n), name, _report.ms(floor["time_s"]),
                        *(_report.ms(get(impl, "time_s")) for impl in ("jelu", "jax.nn", "torch")),
                        *(_report.ratio(get(impl, "ratio_to_floor")) for impl in ("jelu", "jax.nn", "torch")),
                        *(_report.ratio(get(impl, "ratio_to_jax_nn")) for impl in ("jelu", "torch")),
                        _report.percent(get("jelu", "fraction_of_copy_bandwidth"))]))
    return [*lines, "", "fwd+bwd: JAX = `jax.jit(lambda x, g: jax.vjp(f, x)[1](g)[0])` (gradient only); "
            "PyTorch = autograd forward + `torch.autograd.grad` (also writes the forward output)."]


def _residual_cell(row: dict[str, Any]) -> str:
    """E.g. ``4: 2 bool[n] + 2 float32[n] (10 B/elem)``."""
    kinds: dict[str, int] = {}
    for spec in row["arrays"]:
        kind = spec.replace(f"[{row['n']}]", "[n]")
        kinds[kind] = kinds.get(kind, 0) + 1
    parts = " + ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    return f"{row['count']}: {parts} ({row['bytes_per_element']:.4g} B/elem)"


def residual_table(result: dict[str, Any]) -> list[str]:
    """The residuals of jelu and jax.nn per dtype and function."""
    lines = ["Residuals kept for the reverse pass per call (leaves of the `jax.vjp(f, x)` closure, "
             f"traced with `jax.eval_shape` at n = {n_label(result['meta']['residual_n'])}): count: arrays "
             "by dtype and shape (bytes per input element).", "",
             *_report.table(["dtype", "fn", "jelu", "jax.nn"], "llll")]
    found = {(r["dtype"], r["impl"], r["function"]): r for r in result["residuals"]}
    for dtype in DTYPES:
        for name in FUNCTIONS:
            lines.append(_report.row([dtype, name, *(_residual_cell(found[(dtype, impl, name)])
                                                     for impl in ("jelu", "jax.nn"))]))
    return lines
