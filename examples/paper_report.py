"""What ``paper_checks.py`` writes from its experiments' records: the markdown tables and
sentences of ``paper_checks.md`` (:func:`render_markdown`) and the three figures (PNG bytes).

Every number comes from the records of ``paper_experiments.py`` (the JSON); medians and
ranges are over seeds.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import asdict
from typing import Any

import numpy as np

from paper_experiments import E1_ACTIVATIONS, E1_BF16_ACTIVATIONS, E2_CONFIGS, E3_KINDS, Config

# --------------------------------------------------------------------------- tables


def report_epochs(n_epochs: int) -> list[int]:
    """Epochs shown in the E1 median table: all of them up to 25, else a readable selection."""
    if n_epochs <= 25:
        return list(range(n_epochs + 1))
    picks = {0, 1, 2, 3, 5, n_epochs} | set(range(10, n_epochs + 1, 5))
    return sorted(picks)


def _fmt(value: float, digits: int = 4) -> str:
    return "nan" if not math.isfinite(value) else f"{value:.{digits}f}"


def e1_tables(e1: dict[str, Any], n_seeds: int) -> str:
    """Markdown for E1: medians over seeds, then per-epoch seed counts of ELU beating the others."""
    names = list(E1_ACTIVATIONS)
    keys = ("train_loss", "val_loss", "median_activation")
    arr = {n: {k: np.asarray(e1[n][k]) for k in keys} for n in names}
    n_epochs = arr[names[0]]["train_loss"].shape[1] - 1
    lines = [
        "### Medians over seeds",
        "",
        "| epoch | " + " | ".join(f"train CE {n}" for n in names) + " | "
        + " | ".join(f"val CE {n}" for n in names) + " | "
        + " | ".join(f"median act. {n}" for n in names) + " |",
        "|" + "---:|" * (1 + 3 * len(names)),
    ]
    for ep in report_epochs(n_epochs):
        cells = [str(ep)]
        for key in ("train_loss", "val_loss", "median_activation"):
            cells += [_fmt(float(np.median(arr[n][key][:, ep]))) for n in names]
        lines.append("| " + " | ".join(cells) + " |")

    others = [n for n in names if n != "elu"]
    lines += [
        "",
        f"### Per-seed counts: in how many of the {n_seeds} seeds ELU's loss is below the other's",
        "",
        "| epoch | " + " | ".join(f"train: ELU < {n}" for n in others) + " | "
        + " | ".join(f"val: ELU < {n}" for n in others) + " |",
        "|" + "---:|" * (1 + 2 * len(others)),
    ]
    for ep in range(n_epochs + 1):
        cells = [str(ep)]
        for key in ("train_loss", "val_loss"):
            cells += [
                f"{int(np.sum(arr['elu'][key][:, ep] < arr[n][key][:, ep]))}/{n_seeds}" for n in others
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def e1_summary(e1: dict[str, Any], n_seeds: int) -> list[str]:
    """Plain sentences: at which epochs (1..E) ELU's training loss is below ReLU's / leaky ReLU's."""
    out = []
    elu = np.asarray(e1["elu"]["train_loss"])
    for other in (n for n in E1_ACTIVATIONS if n != "elu"):
        below = np.sum(elu[:, 1:] < np.asarray(e1[other]["train_loss"])[:, 1:], axis=0)
        n_epochs = len(below)
        every = [ep + 1 for ep, c in enumerate(below) if c == n_seeds]
        most = [ep + 1 for ep, c in enumerate(below) if c > n_seeds / 2]
        out.append(
            f"- ELU's training loss is below {other}'s in all {n_seeds} seeds at {len(every)} of "
            f"{n_epochs} epochs ({format_ranges(every)}), and in a majority of seeds at {len(most)} of "
            f"{n_epochs} epochs ({format_ranges(most)})."
        )
    return out


def e1_bf16_table(e1_bf16: dict[str, Any], n_epochs: int) -> str:
    """Markdown: median training and validation loss over seeds, per reported epoch."""
    names = list(E1_BF16_ACTIVATIONS)
    labels = [E1_BF16_ACTIVATIONS[n][1] for n in names]
    lines = ["| epoch | " + " | ".join(f"train CE {l}" for l in labels) + " | "
             + " | ".join(f"val CE {l}" for l in labels) + " |", "|" + "---:|" * (1 + 2 * len(names))]
    for ep in report_epochs(n_epochs):
        cells = [str(ep)]
        for key in ("train_loss", "val_loss"):
            cells += [_fmt(float(np.median(np.asarray(e1_bf16[n][key])[:, ep]))) for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def e1_bf16_summary(e1_bf16: dict[str, Any], n_seeds: int) -> list[str]:
    """Plain sentences: how far apart the two bfloat16 runs end, and which is lower how often."""
    ours, theirs = (np.asarray(e1_bf16[n]["train_loss"]) for n in E1_BF16_ACTIVATIONS)
    val_ours, val_theirs = (np.asarray(e1_bf16[n]["val_loss"]) for n in E1_BF16_ACTIVATIONS)
    below = int(np.sum(ours[:, -1] < theirs[:, -1]))
    rel = np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-30)
    return [
        f"- Final training loss, median over seeds: {_fmt(float(np.median(ours[:, -1])))} (jelu.elu) "
        f"vs {_fmt(float(np.median(theirs[:, -1])))} (jax.nn.elu); jelu.elu's is lower in {below} "
        f"of {n_seeds} seeds. Final validation loss: {_fmt(float(np.median(val_ours[:, -1])))} vs "
        f"{_fmt(float(np.median(val_theirs[:, -1])))}.",
        f"- Largest relative difference of the training-loss curves over all seeds and epochs: "
        f"{float(rel.max()):.3g}; identical curves: {int(np.sum(np.all(ours == theirs, axis=1)))} "
        f"of {n_seeds} seeds.",
    ]


def format_ranges(epochs: list[int]) -> str:
    """Compress a sorted list of integers into '1-5, 8, 10-12' ('none' when empty)."""
    if not epochs:
        return "none"
    parts, start, prev = [], epochs[0], epochs[0]
    for e in epochs[1:] + [None]:  # type: ignore[list-item]
        if e is not None and e == prev + 1:
            prev = e
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if e is not None:
            start = prev = e
    return ", ".join(parts)


def e2_table(e2: dict[str, Any]) -> str:
    """Markdown for E2: final-layer mean and variance per seed, per configuration, plus medians."""
    names = list(E2_CONFIGS)
    n_seeds = len(e2[names[0]]["mean"])
    lines = [
        "| seed | " + " | ".join(f"{n} mean | {n} var" for n in names) + " |",
        "|" + "---:|" * (1 + 2 * len(names)),
    ]
    for s in range(n_seeds):
        cells = [str(s)] + [f"{_fmt(e2[n]['mean'][s])} | {_fmt(e2[n]['var'][s])}" for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    cells = ["**median**"] + [
        f"**{_fmt(float(np.median(e2[n]['mean'])))}** | **{_fmt(float(np.median(e2[n]['var'])))}**"
        for n in names
    ]
    lines.append("| " + " | ".join(cells) + " |")
    cells = ["min..max"] + [
        f"{_fmt(min(e2[n]['mean']))}..{_fmt(max(e2[n]['mean']))} | "
        f"{_fmt(min(e2[n]['var']))}..{_fmt(max(e2[n]['var']))}"
        for n in names
    ]
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def e3_rows(e3: dict[str, Any]) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(rate, kind, median mean per layer, median variance per layer), medians over seeds."""
    rows = [("0", "none", np.median(e3["none"]["layer_mean"], axis=0),
             np.median(e3["none"]["layer_var"], axis=0))]
    for i, rate in enumerate(e3["rates"]):
        for kind in ("alpha", "ordinary"):
            entry = e3[kind][i]
            rows.append((f"{rate:g}", kind, np.median(entry["layer_mean"], axis=0),
                         np.median(entry["layer_var"], axis=0)))
    return rows


def e3_table(e3: dict[str, Any]) -> str:
    """Markdown for E3: per rate and dropout, the medians over seeds at the last layer and their
    extremes over all layers."""
    depth = len(e3["none"]["layer_mean"][0])
    lines = [
        f"| rate | dropout | mean at layer {depth} | variance at layer {depth} | "
        f"largest \\|mean\\| over layers 1-{depth} | variance over layers 1-{depth} |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for rate, kind, m, v in e3_rows(e3):
        lines.append(f"| {rate} | {E3_KINDS[kind][1]} | {_fmt(float(m[-1]))} | {_fmt(float(v[-1]))} | "
                     f"{_fmt(float(np.abs(m).max()))} | {_fmt(float(v.min()))}..{_fmt(float(v.max()))} |")
    return "\n".join(lines)


def e3_summary(e3: dict[str, Any]) -> list[str]:
    """Plain sentences: where alpha dropout keeps (0, 1) and where ordinary dropout ends."""
    rows = e3_rows(e3)
    alpha = [r for r in rows if r[1] == "alpha"]
    ordinary = [r for r in rows if r[1] == "ordinary"]
    depth = len(rows[0][2])
    out = []
    if alpha:
        worst_m = max(float(np.abs(m).max()) for _, _, m, _ in alpha)
        worst_v = max(float(np.abs(v - 1).max()) for _, _, _, v in alpha)
        out.append(f"- Alpha dropout, every rate ({', '.join(r[0] for r in alpha)}): at every layer 1-{depth} "
                   f"the median mean is within {worst_m:.4f} of 0 and the median variance within "
                   f"{worst_v:.4f} of 1.")
    for rate, _, m, v in ordinary:
        out.append(f"- Ordinary dropout, rate {rate}: at layer {depth} mean {_fmt(float(m[-1]))} and variance "
                   f"{_fmt(float(v[-1]))}; the largest |mean| over the layers is {_fmt(float(np.abs(m).max()))}.")
    return out


def render_markdown(cfg: Config, e1: dict[str, Any], e2: dict[str, Any], meta: dict[str, Any],
                    e3: dict[str, Any] | None = None, e1_bf16: dict[str, Any] | None = None) -> str:
    """The whole ``paper_checks.md``."""
    return "\n".join(
        [
            "# Paper checks: ELU (Clevert et al. 2016) and SELU (Klambauer et al. 2017) with jelu",
            "",
            f"jelu {meta['jelu_version']}, jax {meta['jax_version']}, backend {meta['backend']}; "
            f"wall time {meta['wall_s']:.0f} s (E1 {meta['e1_wall_s']:.0f} s, E2 {meta['e2_wall_s']:.0f} s, "
            f"E3 {meta.get('e3_wall_s', 0):.0f} s). `python examples/paper_checks.py` writes this file.",
            f"Settings: `{json.dumps(asdict(cfg))}`",
            "",
            *e1_section(cfg, e1, meta),
            *([] if e1_bf16 is None else e1_bf16_section(cfg, e1_bf16)),
            *e2_section(cfg, e2, meta),
            *([] if e3 is None else e3_section(cfg, e3)),
        ]
    )


def e1_section(cfg: Config, e1: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    """E1's part of the markdown: the setup, the figure, the sentences and the tables."""
    return [
        "## E1: learning behaviour (ELU paper, section 4.1, Figure 2)",
        "",
        f"Digits (pixels / 16, so in [0, 1]), fixed stratified split: {meta['n_train']} training, "
        f"{meta['n_val']} validation images. {cfg.e1_depth} hidden layers x {cfg.e1_width} units, "
        f"He-normal weights, zero biases, plain SGD, learning rate {cfg.lr}, minibatch "
        f"{cfg.batch_size} ({meta['n_train'] // cfg.batch_size} steps per epoch), {cfg.epochs} "
        f"epochs, seeds 0..{cfg.seeds - 1}. Each seed starts ELU, ReLU and leaky ReLU (0.1) from "
        "the same initial weights and feeds them the same minibatch order. Epoch 0 is the initial "
        "network. CE = mean cross-entropy on the full training / validation set. \"median act.\" = "
        "median over all hidden units of all hidden layers (pooled) of each unit's mean activation "
        f"on a fixed subset (the first {cfg.act_subset} training images).",
        "",
        "![E1](e1_learning_behaviour.png)",
        "",
        *e1_summary(e1, cfg.seeds),
        "",
        e1_tables(e1, cfg.seeds),
        "",
    ]


def e1_bf16_section(cfg: Config, e1_bf16: dict[str, Any]) -> list[str]:
    """E1 in bfloat16's part of the markdown: jelu.elu against jax.nn.elu."""
    return [
        "### E1 in bfloat16: jelu.elu against jax.nn.elu",
        "",
        "The ELU network above, the same seeds, initial weights and minibatch order, trained "
        "in bfloat16 (mixed precision: float32 weights cast once per step, products and "
        "activations in bfloat16, float32 loss). jax.nn.elu's derivative expm1(x) + 1 is 0 "
        "below x = -6.25 in bfloat16; jelu.elu's is exp(x), correctly rounded.",
        "",
        *e1_bf16_summary(e1_bf16, cfg.seeds),
        "",
        e1_bf16_table(e1_bf16, cfg.epochs),
        "",
    ]


def e2_section(cfg: Config, e2: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    """E2's part of the markdown: the setup, the figure and the per-seed table."""
    return [
        "## E2: self-normalization (SELU paper, Theorem 1)",
        "",
        f"All {meta['n_e2']} digits, each pixel standardized to mean 0, variance 1 (constant pixels "
        f"dropped: {meta['e2_in']} inputs). Untrained {cfg.e2_depth} hidden layers x {cfg.e2_width} "
        f"units, zero biases, seeds 0..{cfg.e2_seeds - 1}. Mean and variance of the last hidden "
        "layer's activations, over all units and samples. Theorem 1's fixed point is mean 0, "
        "variance 1.",
        "",
        "![E2](e2_self_normalization.png)",
        "",
        e2_table(e2),
        "",
    ]


def e3_section(cfg: Config, e3: dict[str, Any]) -> list[str]:
    """E3's part of the markdown: the setup, the figure, the sentences and the table."""
    return [
        "## E3: alpha dropout (SELU paper, section \"New Dropout Technique\")",
        "",
        f"E2's SELU network (the same data, {cfg.e2_depth} hidden layers x {cfg.e2_width} units, "
        f"LeCun-normal weights of seeds 0..{cfg.e3_seeds - 1}) with dropout after every hidden "
        "layer: alpha dropout (`jelu.alpha_dropout`: a dropped unit set to -lambda alpha, then "
        "a x + b) against ordinary inverted dropout (a dropped unit set to 0, the kept ones "
        "scaled by 1 / (1 - rate)), each seed and layer drawing the same masks for both. Mean "
        "and variance, over all units and samples, of each hidden layer's output after dropout "
        "(what the next layer receives); medians over seeds.",
        "",
        "![E3](e3_alpha_dropout.png)",
        "",
        *e3_summary(e3),
        "",
        e3_table(e3),
        "",
    ]


# --------------------------------------------------------------------------- figures


def _band(ax: Any, x: np.ndarray, runs: np.ndarray, label: str | None, color: str, style: str = "-") -> None:
    """Median across seeds as a line, min..max across seeds as a shaded band."""
    ax.plot(x, np.median(runs, axis=0), style, color=color, label=label)
    ax.fill_between(x, runs.min(axis=0), runs.max(axis=0), color=color, alpha=0.15, linewidth=0)


def figure_e1(e1: dict[str, Any], cfg: Config) -> bytes:
    """The ELU paper's Figure 2 layout: (a) median unit activation, (b) train/val cross-entropy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = dict(zip(E1_ACTIVATIONS, ("tab:blue", "tab:red", "tab:green")))
    for name, label in E1_ACTIVATIONS.items():
        act = np.asarray(e1[name]["median_activation"])
        epochs = np.arange(act.shape[1])
        _band(ax_a, epochs, act, label, colors[name])
        _band(ax_b, epochs, np.asarray(e1[name]["train_loss"]), f"{label}, train", colors[name])
        _band(ax_b, epochs, np.asarray(e1[name]["val_loss"]), f"{label}, validation", colors[name], ":")
    ax_a.set(xlabel="epoch", ylabel="median of the units' mean activation", title="(a) bias shift")
    ax_b.set(xlabel="epoch", ylabel="cross-entropy", yscale="log", title="(b) training / validation loss")
    for ax in (ax_a, ax_b):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"E1, digits, {cfg.e1_depth}x{cfg.e1_width}, SGD lr {cfg.lr}, {cfg.seeds} seeds: "
        "line = median over seeds, band = min..max over seeds",
        fontsize=10,
    )
    fig.tight_layout()
    return _png(fig)


def figure_e2(e2: dict[str, Any], cfg: Config) -> bytes:
    """Mean and variance of each hidden layer's activations against depth, per configuration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_m, ax_v) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = dict(zip(E2_CONFIGS, ("tab:blue", "tab:red", "tab:green")))
    for name, (_, _, label) in E2_CONFIGS.items():
        means, variances = np.asarray(e2[name]["layer_mean"]), np.asarray(e2[name]["layer_var"])
        layers = np.arange(1, means.shape[1] + 1)
        _band(ax_m, layers, means, label, colors[name])
        _band(ax_v, layers, variances, label, colors[name])
    ax_m.axhline(0.0, color="0.3", lw=0.8, ls="--", zorder=0)  # Theorem 1's fixed point
    ax_v.axhline(1.0, color="0.3", lw=0.8, ls="--", zorder=0)
    ax_m.set(xlabel="hidden layer", ylabel="mean over units and samples", title="(a) mean")
    ax_v.set(
        xlabel="hidden layer", ylabel="variance over units and samples", title="(b) variance", yscale="log"
    )
    for ax in (ax_m, ax_v):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"E2, untrained {cfg.e2_depth}x{cfg.e2_width}, standardized digits, {cfg.e2_seeds} seeds: "
        "line = median over seeds, band = min..max",
        fontsize=10,
    )
    fig.tight_layout()
    return _png(fig)


def figure_e3(e3: dict[str, Any], cfg: Config) -> bytes:
    """Mean and variance of each hidden layer's output against depth: alpha dropout (solid) and
    ordinary dropout (dashed) per rate, no dropout in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_m, ax_v) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = ("tab:blue", "tab:red", "tab:green", "tab:purple", "tab:orange", "tab:brown")
    curves = [(np.asarray(e3["none"]["layer_mean"]), np.asarray(e3["none"]["layer_var"]), "no dropout",
               "0.4", "-")]
    for i, rate in enumerate(e3["rates"]):
        for kind, style in (("alpha", "-"), ("ordinary", "--")):
            entry = e3[kind][i]
            curves.append((np.asarray(entry["layer_mean"]), np.asarray(entry["layer_var"]),
                           f"{E3_KINDS[kind][1]}, rate {rate:g}", colors[i % len(colors)], style))
    for means, variances, label, color, style in curves:
        layers = np.arange(1, means.shape[1] + 1)
        _band(ax_m, layers, means, label, color, style)
        _band(ax_v, layers, variances, label, color, style)
    ax_m.axhline(0.0, color="0.3", lw=0.8, ls=":", zorder=0)
    ax_v.axhline(1.0, color="0.3", lw=0.8, ls=":", zorder=0)
    ax_m.set(xlabel="hidden layer", ylabel="mean over units and samples", title="(a) mean")
    ax_v.set(xlabel="hidden layer", ylabel="variance over units and samples", title="(b) variance")
    for ax in (ax_m, ax_v):
        ax.grid(alpha=0.3)
    ax_v.legend(fontsize=7, ncol=1)
    fig.suptitle(
        f"E3, untrained SELU {cfg.e2_depth}x{cfg.e2_width}, dropout after every hidden layer, "
        f"{cfg.e3_seeds} seeds: line = median over seeds, band = min..max",
        fontsize=10,
    )
    fig.tight_layout()
    return _png(fig)


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()
