"""The markdown report of ``python -m benchmarks.device_check``: the machine, then one part
per section run (accuracy, consistency, speed, MLP step, trainer).

:func:`markdown` renders the result that ``device_check`` writes as JSON; a
section that could not run shows its error instead of its table.
"""

from __future__ import annotations

from typing import Any, Callable

from benchmarks import _report


def markdown(result: dict[str, Any]) -> str:
    """The report as markdown: the machine, then one table per section run."""
    meta = result["meta"]
    versions = _report.versions(meta["versions"], ("jax", "jaxlib", "numpy", "jelu"))
    lines = [
        f"# jelu device check: {meta['device_kind']} ({meta['platform']})",
        "",
        f"Device `{meta['device']}`, {meta['device_count']} device(s); host CPU {meta['cpu_model']}, "
        f"{meta['cpus_available']} CPUs; {versions}; {meta['date']}.",
        f"Command: `{meta['command']}`; {meta['total_seconds']:.0f} s in all. "
        f"Checks: **{'PASS' if result['passed'] else 'FAIL'}**"
        + ("." if result.get("complete", True) else " so far (run incomplete: later sections missing)."),
    ]
    sections = result["sections"]
    for name, render in RENDERERS.items():
        if name in sections:
            lines += render(sections[name])
    return _report.document(lines)


def _order_cells(rows: list[dict[str, Any]],
                 fmt: Callable[[dict[str, Any]], str]) -> dict[tuple[str, str], list[str]]:
    """(case, dtype) -> the cells of its rows (one per derivative order), in the rows' order."""
    table: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        table.setdefault((r["case"], r["dtype"]), []).append(fmt(r))
    return table


def _error(section: dict[str, Any]) -> list[str]:
    """The line of a section that could not run."""
    return [f"Error: {section.get('error')}"]


def accuracy(s: dict[str, Any]) -> list[str]:
    """Section 1: max ULP and results not correctly rounded, per case, dtype and order."""
    lines = ["", f"## 1. Accuracy ({s['status']}, {s['seconds']:.0f} s)", ""]
    if "rows" not in s:
        return lines + _error(s)
    points = ", ".join(f"{d} {n:,}" for d, n in s["points"].items())
    lines += [f"Correctly rounded references (jelu.testing); inputs: {points}. "
              "Cell: max ULP / results not correctly rounded (share). Subnormal inputs "
              f"and results are left out. Pass: {s['criteria']['bfloat16/float16']} in "
              f"16-bit, {s['criteria']['float32']} in float32.", "",
              *_report.table(["function", "dtype", "value", "f'", "f''", "pass"], "llllll")]
    cells = _order_cells(s["rows"], lambda r: f"{r['max_ulp']} / {r['not_correctly_rounded']:,} "
                                              f"({r['share_not_correctly_rounded']:.3%})")
    passed = _order_cells(s["rows"], lambda r: "yes" if r["pass"] else "**no**")
    for (case, dtype), c in cells.items():
        lines.append(_report.row([case, dtype, *c, min(passed[(case, dtype)])]))
    return lines


def consistency(s: dict[str, Any]) -> list[str]:
    """Section 2: results whose bits differ from the CPU's, per case, dtype and order."""
    lines = ["", f"## 2. Same bits as the CPU ({s['status']}, {s['seconds']:.0f} s)", ""]
    if "rows" not in s:
        return lines + _error(s)
    same = " (the same device: a CPU-only machine)" if s["same_device"] else ""
    lines += [f"`{s['device']}` against `{s['cpu']}`{same}, the inputs of section 1. "
              "Cell: results whose bits differ (of them, with a subnormal input or result).", "",
              *_report.table(["function", "dtype", "value", "f'", "f''"], "lllll")]
    cells = _order_cells(s["rows"], lambda r: f"{r['mismatches']:,} ({r['mismatches_subnormal']:,})")
    for (case, dtype), c in cells.items():
        lines.append(_report.row([case, dtype, *c]))
    return lines


def speed(s: dict[str, Any]) -> list[str]:
    """Section 3: the copy floor, then jelu's and jax.nn's times and bandwidths side by side."""
    lines = ["", f"## 3. Speed at the memory limit ({s['seconds']:.0f} s)", ""]
    if "rows" not in s:
        return lines + _error(s)
    floors = "; ".join(f"`{k}` {f['time_s'] * 1e3:.3f} ms = {f['bandwidth_Bps'] / 1e9:.0f} GB/s"
                       for k, f in s["copy_floors"].items())
    lines += [f"n = {s['n']:,}; medians of {s['repeats']} interleaved repeats. Copy floor "
              f"(float32, {s['copy_bytes'] / 2**30:.2f} GiB moved): {floors}; the faster is the floor. "
              "%copy = minimal bytes (fwd: x, y; fwd+bwd: x, g, dx) / time / floor bandwidth.", "",
              *_report.table(["dtype", "mode", "fn", "jelu ms", "jax.nn ms", "jelu/jax.nn", "jelu %copy",
                              "jax.nn %copy"], "lllrrrrr")]
    index = {(r["dtype"], r["mode"], r["impl"], r["function"]): r for r in s["rows"]}
    in_order = {key: list(dict.fromkeys(r[key] for r in s["rows"])) for key in ("dtype", "mode", "function")}
    for dtype in in_order["dtype"]:
        for mode in in_order["mode"]:
            for name in in_order["function"]:
                ours, theirs = index[(dtype, mode, "jelu", name)], index[(dtype, mode, "jax.nn", name)]
                lines.append(_report.row([
                    dtype, mode, name, _report.ms(ours["time_s"], 3), _report.ms(theirs["time_s"], 3),
                    _report.ratio(ours["ratio_to_jax_nn"]), _report.percent(ours["fraction_of_copy_bandwidth"]),
                    _report.percent(theirs["fraction_of_copy_bandwidth"])]))
    return lines + ["", _report.targets(s["targets"])]


def mlp(s: dict[str, Any]) -> list[str]:
    """Section 4: the synthetic MLP's step time and temp memory, and their ratios to relu's."""
    lines = ["", f"## 4. MLP train step ({s['seconds']:.0f} s)", ""]
    if "rows" not in s:
        return lines + _error(s)
    c = s["config"]
    lines += [f"{c['depth']} hidden layers x {c['width']}, input {c['d_in']}, {c['n_classes']} classes, "
              f"batch {c['batch']}, `{c['step']}`; medians of {s['repeats']} interleaved repeats.", "",
              *_report.table(["dtype", "activation", "step ms", "x relu time", "temp MiB", "x relu temp"],
                             "llrrrr")]
    for r in s["rows"]:
        lines.append(_report.row([r["dtype"], r["activation"], _report.ms(r["time_s"], 3),
                                  _report.ratio(r["ratio_to_relu_time"], 3), _report.mib(r["temp_bytes"], ".4g"),
                                  _report.ratio(r["ratio_to_relu_temp"], 3)]))
    return lines + ["", _report.targets(s["targets"])]


def trainer(s: dict[str, Any]) -> list[str]:
    """Section 5: the trainer's command, its final line and wall time."""
    lines = ["", f"## 5. Trainer ({s['status']}, {s['seconds']:.0f} s)", "", f"`{s.get('command', '')}`", ""]
    if s["status"] != "ok":
        return lines + _error(s)
    return lines + [f"Final line: `{s['final_line']}`; wall time {s['wall_s']:.1f} s."]


#: Section name -> its renderer, in the report's order.
RENDERERS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "accuracy": accuracy, "consistency": consistency, "speed": speed, "mlp": mlp, "trainer": trainer}
