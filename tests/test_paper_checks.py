"""Plumbing tests of examples/paper_checks.py (and its paper_experiments.py and
paper_report.py) with tiny settings.

The scientific outcome (does ELU learn faster, does SELU self-normalize) is reported by the
script, not asserted here. These tests check that the outputs exist and have the documented
shape, that every seed starts all activations from the same weights, and that the reported
statistics agree with independent numpy recomputations.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("optax")

import loop
import paper_checks  # examples/ is on pytest's pythonpath (pyproject.toml)
import paper_experiments
import paper_report
from jelu.testing import SELU_ALPHA
from jelu.testing import SELU_SCALE as SELU_LAMBDA

SEEDS, EPOCHS = 2, 2
E1_DEPTH, E1_WIDTH, ACT_SUBSET = 3, 16, 50
E2_SEEDS, E2_DEPTH, E2_WIDTH = 2, 4, 32
E3_SEEDS, E3_RATE = 2, 0.3
TINY = [
    "--seeds", str(SEEDS), "--epochs", str(EPOCHS),
    "--e1-depth", str(E1_DEPTH), "--e1-width", str(E1_WIDTH), "--act-subset", str(ACT_SUBSET),
    "--e2-seeds", str(E2_SEEDS), "--e2-depth", str(E2_DEPTH), "--e2-width", str(E2_WIDTH),
    "--e3-seeds", str(E3_SEEDS), "--e3-rates", str(E3_RATE),
    "--quiet",
]  # fmt: skip
OUTPUTS = ("paper_checks.md", "paper_checks.json", "e1_learning_behaviour.png", "e2_self_normalization.png",
           "e3_alpha_dropout.png")


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("paper_checks") / "run"
    assert paper_checks.main([*TINY, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def record(out_dir: Path) -> dict[str, Any]:
    return json.loads((out_dir / "paper_checks.json").read_text())


def _np_forward(params: dict[str, Any], x: np.ndarray, act: Any) -> list[np.ndarray]:
    """Hidden activations of the MLP in float64 numpy (independent of mlp.forward)."""
    hidden, h = [], x.astype(np.float64)
    for layer in params["layers"][:-1]:
        h = act(h @ np.asarray(layer["w"], np.float64) + np.asarray(layer["b"], np.float64))
        hidden.append(h)
    return hidden


NP_ACT = {
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.1 * z),
    "selu": lambda z: SELU_LAMBDA * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0))),
}


pytestmark = pytest.mark.slow  # one small run of every experiment, shared by the tests


def test_all_outputs_written_atomically(out_dir: Path) -> None:
    for name in OUTPUTS:
        assert (out_dir / name).stat().st_size > 0, name
    for name in OUTPUTS[2:]:
        assert (out_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(OUTPUTS)  # no temp files left


def test_json_keys_shapes_and_finiteness(record: dict[str, Any]) -> None:
    assert set(record["e1"]) == {"elu", "relu", "leaky_relu"}
    for entry in record["e1"].values():
        for key in ("train_loss", "val_loss", "median_activation"):
            values = np.asarray(entry[key], dtype=float)
            assert values.shape == (SEEDS, EPOCHS + 1), key
            assert np.isfinite(values).all(), key
        assert len(entry["init_fingerprint"]) == SEEDS
    assert set(record["e1_bf16"]) == {"jelu_elu", "jax_nn_elu"}
    for entry in record["e1_bf16"].values():  # bfloat16 runs from E1's initial weights
        assert entry["init_fingerprint"] == record["e1"]["elu"]["init_fingerprint"]
        values = np.asarray(entry["train_loss"], dtype=float)
        assert values.shape == (SEEDS, EPOCHS + 1) and np.isfinite(values).all()
        np.testing.assert_allclose(values[:, 0], np.asarray(record["e1"]["elu"]["train_loss"])[:, 0],
                                   rtol=2e-2)  # the same network at epoch 0, in bfloat16
    assert set(record["e2"]) == {"selu_lecun", "relu_he", "elu_lecun"}
    for entry in record["e2"].values():
        assert np.asarray(entry["mean"], dtype=float).shape == (E2_SEEDS,)
        assert (np.asarray(entry["var"], dtype=float) > 0).all()
        assert np.asarray(entry["layer_var"], dtype=float).shape == (E2_SEEDS, E2_DEPTH)
        assert entry["mean"] == [row[-1] for row in entry["layer_mean"]]
    assert set(record["e3"]) == {"rates", "none", "alpha", "ordinary"} and record["e3"]["rates"] == [E3_RATE]
    for entry in [record["e3"]["none"], *record["e3"]["alpha"], *record["e3"]["ordinary"]]:
        assert np.asarray(entry["layer_var"], dtype=float).shape == (E3_SEEDS, E2_DEPTH)
        assert np.isfinite(np.asarray(entry["layer_mean"], dtype=float)).all()
        assert entry["var"] == [row[-1] for row in entry["layer_var"]]
    assert record["config"]["seeds"] == SEEDS and record["config"]["e2_depth"] == E2_DEPTH
    assert record["config"]["e3_rates"] == [E3_RATE]
    assert record["meta"]["epochs"] == list(range(EPOCHS + 1))


def test_e1_seeds_are_paired_and_start_from_the_seeds_weights(record: dict[str, Any]) -> None:
    """Every activation of a seed starts from init_params(e1_keys(seed)); seeds differ."""
    x_tr, y_tr, x_val, y_val = paper_experiments.load_digits_e1()
    sizes = [x_tr.shape[1]] + [E1_WIDTH] * E1_DEPTH + [10]
    fingerprints = {name: entry["init_fingerprint"] for name, entry in record["e1"].items()}
    assert len({tuple(f) for f in fingerprints.values()}) == 1
    assert len(set(fingerprints["elu"])) == SEEDS
    for seed in range(SEEDS):
        params = loop.init_params(paper_experiments.e1_keys(seed)[0], sizes, init="he")
        assert fingerprints["elu"][seed] == paper_experiments.params_fingerprint(params)
        for name, entry in record["e1"].items():
            act = paper_experiments.e1_activation(name)
            # epoch 0 is measured on the weights the run actually started from
            train_loss = float(paper_experiments.loss(params, x_tr, y_tr, act))
            val_loss = float(paper_experiments.loss(params, x_val, y_val, act))
            assert entry["train_loss"][seed][0] == pytest.approx(train_loss, rel=1e-5)
            assert entry["val_loss"][seed][0] == pytest.approx(val_loss, rel=1e-5)
            hidden = _np_forward(params, x_tr[:ACT_SUBSET], NP_ACT[name])
            median = float(np.median(np.concatenate([h.mean(axis=0) for h in hidden])))
            assert entry["median_activation"][seed][0] == pytest.approx(median, rel=1e-4, abs=1e-6)
    # training moved the losses away from the initial ones
    assert all(entry["train_loss"][0][-1] != entry["train_loss"][0][0] for entry in record["e1"].values())


def _standardized_digits() -> np.ndarray:
    from sklearn.datasets import load_digits

    x = load_digits().data.astype(np.float64)
    x = x[:, x.std(axis=0) > 0]
    return (x - x.mean(axis=0)) / x.std(axis=0)


@pytest.mark.parametrize(
    ("config", "act", "init"),
    [("selu_lecun", "selu", "lecun"), ("relu_he", "relu", "he"), ("elu_lecun", "elu", "lecun")],
)
def test_e2_statistics_match_numpy(record: dict[str, Any], config: str, act: str, init: str) -> None:
    x = _standardized_digits()
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-12)
    seed = 1
    sizes = [x.shape[1]] + [E2_WIDTH] * E2_DEPTH + [10]
    params = loop.init_params(paper_experiments.e2_key(seed), sizes, init=init)
    hidden = _np_forward(params, x, NP_ACT[act])
    entry = record["e2"][config]
    np.testing.assert_allclose(entry["layer_mean"][seed], [h.mean() for h in hidden], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(entry["layer_var"][seed], [h.var() for h in hidden], rtol=1e-4)
    assert entry["var"][seed] == pytest.approx(hidden[-1].var(), rel=1e-4)


@pytest.mark.parametrize("kind", ["none", "alpha", "ordinary"])
def test_e3_statistics_match_numpy(record: dict[str, Any], kind: str) -> None:
    """E3 recomputed in float64 NumPy: E2's weights, the documented masks
    (jax.random.bernoulli(fold_in(e3_key(seed), layer), 1 - rate, shape)), the paper's
    alpha-dropout map with a and b from its closed form, or inverted dropout."""
    x = _standardized_digits()
    seed, rate, q = 1, E3_RATE, 1 - E3_RATE
    sizes = [x.shape[1]] + [E2_WIDTH] * E2_DEPTH + [10]
    params = loop.init_params(paper_experiments.e2_key(seed), sizes, init="lecun")
    alpha_prime = -SELU_LAMBDA * SELU_ALPHA
    a = (q + alpha_prime**2 * q * (1 - q)) ** -0.5
    b = -a * (1 - q) * alpha_prime
    h, means, variances = x, [], []
    for i, layer in enumerate(params["layers"][:-1]):
        h = NP_ACT["selu"](h @ np.asarray(layer["w"], np.float64) + np.asarray(layer["b"], np.float64))
        keep = np.asarray(jax.random.bernoulli(jax.random.fold_in(paper_experiments.e3_key(seed), i), q, h.shape))
        if kind == "alpha":
            h = np.where(keep, a * h + b, a * alpha_prime + b)
        elif kind == "ordinary":
            h = np.where(keep, h / q, 0.0)
        means.append(h.mean())
        variances.append(h.var())
    entry = record["e3"][kind] if kind == "none" else record["e3"][kind][0]
    np.testing.assert_allclose(entry["layer_mean"][seed], means, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(entry["layer_var"][seed], variances, rtol=1e-4)
    if kind == "none":  # E3 without dropout is E2's SELU network
        np.testing.assert_allclose(entry["layer_var"][seed], record["e2"]["selu_lecun"]["layer_var"][seed],
                                   rtol=1e-6)


def test_markdown_tables_match_json(out_dir: Path, record: dict[str, Any]) -> None:
    md = (out_dir / "paper_checks.md").read_text()
    assert "## E1" in md and "## E2" in md and "## E3" in md
    assert "![E1](e1_learning_behaviour.png)" in md and "![E2](e2_self_normalization.png)" in md
    assert "![E3](e3_alpha_dropout.png)" in md
    e1 = record["e1"]
    for epoch in range(EPOCHS + 1):
        elu = [row[epoch] for row in e1["elu"]["train_loss"]]
        below_relu = sum(a < b[epoch] for a, b in zip(elu, e1["relu"]["train_loss"]))
        below_leaky = sum(a < b[epoch] for a, b in zip(elu, e1["leaky_relu"]["train_loss"]))
        assert re.search(rf"^\| {epoch} \| {below_relu}/{SEEDS} \| {below_leaky}/{SEEDS} \|", md, re.M), epoch
        median_train = [f"{np.median([row[epoch] for row in e1[n]['train_loss']]):.4f}" for n in e1]
        assert f"| {epoch} | " + " | ".join(median_train) + " |" in md
    e2 = record["e2"]
    for seed in range(E2_SEEDS):
        cells = " | ".join(f"{e2[n]['mean'][seed]:.4f} | {e2[n]['var'][seed]:.4f}" for n in e2)
        assert f"| {seed} | {cells} |" in md
    e3 = record["e3"]
    for kind, label in (("alpha", "alpha dropout"), ("ordinary", "ordinary (inverted) dropout")):
        means = np.median(e3[kind][0]["layer_mean"], axis=0)
        variances = np.median(e3[kind][0]["layer_var"], axis=0)
        row = (f"| {E3_RATE:g} | {label} | {means[-1]:.4f} | {variances[-1]:.4f} | "
               f"{np.abs(means).max():.4f} | {variances.min():.4f}..{variances.max():.4f} |")
        assert row in md, row


def test_format_ranges() -> None:
    assert paper_report.format_ranges([1, 2, 3, 5, 7, 8]) == "1-3, 5, 7-8"
    assert paper_report.format_ranges([4]) == "4"
    assert paper_report.format_ranges([]) == "none"


@pytest.mark.parametrize(
    "bad",
    [
        ["--seeds", "0"],
        ["--epochs", "two"],
        ["--lr", "-0.1"],
        ["--lr", "nan"],
        ["--batch-size", "5000"],
        ["--act-subset", "100000"],
        ["--e3-rates", "1"],
        ["--e3-rates", "0.1,x"],
        ["--e3-seeds", "0"],
        ["--no-such-flag"],
    ],
)
def test_bad_arguments_exit_2_with_one_line_and_write_nothing(
    bad: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        paper_checks.main([*bad, "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err and "Traceback" not in err
    assert not out.exists()


def test_out_that_is_a_file_is_refused_and_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "taken"
    target.write_text("keep me")
    with pytest.raises(SystemExit) as exc:
        paper_checks.main(["--out", str(target)])
    assert exc.value.code == 2
    assert "not a directory" in capsys.readouterr().err
    assert target.read_text() == "keep me"
