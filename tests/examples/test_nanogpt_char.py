"""specs/examples/nanogpt_char.mf: nanoGPT's GPT written the natural way. Its size is
nanoGPT's formula for the configuration (tied head, position embeddings counted), its initial
parameters follow GPT-2's scheme, and on a token stream made here from a text file it trains
on all three backends with the same per-step losses; the tied table is one tensor in the
checkpoint and both uses update it."""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file

from specc.compiler import pipeline
from specc.compiler.emit import render as emit
from specc.runtime import init
from tests.backends.runner import REPOSITORY, run_script
from tests.specs.helpers import read

EXAMPLES = REPOSITORY / "specs" / "examples"
SPEC = EXAMPLES / "nanogpt_char.mf"
TEXT = (REPOSITORY / "docs" / "architecture.md").read_text(encoding="utf-8")[:30000]
UNSEEN = 8  # ids of the vocabulary that no window holds: only the tied head reaches their rows


def load_prepare():
    specification = importlib.util.spec_from_file_location("prepare_chars", EXAMPLES / "prepare_chars.py")
    module = importlib.util.module_from_spec(specification)
    specification.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The example spec beside its data (chars/ from a text file), vocabulary widened by UNSEEN."""
    folder = tmp_path_factory.mktemp("nanogpt")
    shutil.copy(SPEC, folder / SPEC.name)
    counts = load_prepare().prepare(TEXT, folder / "chars")
    meta = json.loads((folder / "chars" / "meta.json").read_text())
    meta["vocab_size"] = counts["vocab_size"] + UNSEEN
    (folder / "chars" / "meta.json").write_text(json.dumps(meta))
    return folder, meta["vocab_size"]


def check(folder, overrides=(), backend=None):
    result = pipeline.check(str(folder / SPEC.name), read, tuple(overrides), backend)
    assert not result.errors, [diagnostic.message for diagnostic in result.errors]
    return result.program


def nanogpt_parameters(vocab_size, bias, n_layer=4, n_embd=128, block_size=64) -> int:
    """nanoGPT's GPT.get_num_params(non_embedding=False) for this configuration: wte (shared
    with lm_head), wpe, per block ln_1, c_attn, c_proj, ln_2, c_fc, mlp.c_proj, then ln_f."""
    d = n_embd
    norm = d + d * bias
    block = norm + (3 * d * d + 3 * d * bias) + (d * d + d * bias) + norm + (4 * d * d + 4 * d * bias) + (4 * d * d + d * bias)
    return vocab_size * d + block_size * d + n_layer * block + norm


def parameter_table(program) -> dict:
    (graph,) = program.models.values() if isinstance(program.models, dict) else program.models
    return dict(graph.parameters)


def test_the_spec_is_short():
    assert len(SPEC.read_text(encoding="utf-8").splitlines()) < 60


@pytest.mark.parametrize("bias", [False, True])
def test_the_parameter_count_is_nanogpts(example, bias):
    folder, vocab_size = example
    table = parameter_table(check(folder, [f"bias={str(bias).lower()}"]))
    assert sum(int(np.prod(parameter.shape)) for parameter in table.values()) == nanogpt_parameters(vocab_size, bias)
    assert "linear_0.weight" not in table and table["embedding_0.weight"].shape == (vocab_size, 128)


def test_the_initial_parameters_follow_gpt2(example):
    folder, _ = example
    table = parameter_table(check(folder))
    parameters = tuple((name, init.Parameter(name.rpartition(".")[2], tuple(p.shape), p.init, p.fan_in, p.std))
                       for name, p in sorted(table.items()))
    arrays = init.initialize(parameters, 0)
    residual = 0.02 / (2 * 4) ** 0.5
    groups = {"wte": [], "wpe": [], "weights": [], "residual": [], "norms": []}
    for name, values in arrays.items():
        if name.startswith("embedding_0"):
            groups["wte"].append(values)
        elif name.startswith("positional_embedding_0"):
            groups["wpe"].append(values)
        elif "layernorm" in name:
            groups["norms"].append(values)
        elif name.endswith(("attention_0.out.weight", "mlp_0.linear_1.weight")):
            groups["residual"].append(values)
        else:
            groups["weights"].append(values)
    assert len(groups["residual"]) == 8 and len(groups["weights"]) == 4 * 4  # query, key, value, c_fc per block
    expected = {"wte": 0.02, "wpe": 0.02, "weights": 0.02, "residual": residual}
    for group, std in expected.items():
        values = np.concatenate([array.ravel() for array in groups[group]])
        assert abs(values.mean()) < 0.05 * std, group
        assert values.std() == pytest.approx(std, rel=0.02), group
    assert all(np.all(values == 1.0) for values in groups["norms"])  # bias = false: scales only
    assert not any(name.endswith(".bias") for name in arrays)


def metrics(run) -> dict:
    with open(run / "metrics.csv", newline="") as handle:
        return {int(row["step"]): float(row["value"]) for row in csv.DictReader(handle)
                if row["split"] == "train" and row["name"] == "loss"}


# A test-sized run of the same model: 20 fp32 steps of 4 windows, a loss row per step.
SMALL = ("data.batch_size=4", "data.eval_windows=4", "train.log_every=1", "train.max_steps=20", "train.eval_every=20")


@pytest.mark.slow
def test_every_backend_trains_the_same_steps_and_the_tied_table_is_one_tensor(example):
    folder, vocab_size = example
    found, tables = {}, {}
    for backend in ("jax", "lightning", "mlx"):
        script = folder / f"nanogpt_{backend}.py"
        script.write_text(emit.render(check(folder, SMALL, backend), backend))
        run = folder / f"run_{backend}"
        result = run_script(script, "--out-dir", run, env={"OMP_NUM_THREADS": "1"}, timeout=400)
        assert result.returncode == 0, result.stderr[-2000:]
        count = nanogpt_parameters(vocab_size, False)
        assert result.stdout.splitlines()[0] == f"parameters: {count:,} ({count:,} trainable)"
        found[backend] = metrics(run)
        tables[backend] = load_file(run / "checkpoints" / "last" / "model.safetensors")
    assert sorted(found["jax"]) == list(range(1, 21))
    for backend in ("lightning", "mlx"):
        for step, value in found["jax"].items():
            assert found[backend][step] == pytest.approx(value, abs=1e-4), (backend, step)
    table = tables["jax"]
    assert "embedding_0.weight" in table and not any(name.startswith("linear_") for name in table)
    # Rows of ids no input holds change only through the head that shares the table (weight
    # decay alone would move them by less than lr * wd * |w| per step: about 2e-6 here).
    parameters = tuple((name, init.Parameter(name.rpartition(".")[2], tuple(p.shape), p.init, p.fan_in, p.std))
                       for name, p in sorted(parameter_table(check(folder)).items()))
    start = init.initialize(parameters, 0)["embedding_0.weight"]
    moved = np.abs(table["embedding_0.weight"] - start)[-UNSEEN:]
    assert moved.mean() > 1e-4
    for backend in ("lightning", "mlx"):
        np.testing.assert_allclose(tables[backend]["embedding_0.weight"], table["embedding_0.weight"], atol=1e-4)
