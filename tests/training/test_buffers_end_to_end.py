"""Buffers end to end: a small classifier with ``batch_norm``, ``running_statistics`` and a
step counter written in the graph (``buffer`` and ``update``) trained 6 steps by the jax,
lightning and mlx scripts.

The per-step losses, the evaluation (which normalises with the running values) and the
final buffers agree across backends (fp32, 1e-5); the buffers are saved under the model's
names in ``model.safetensors`` and listed in the manifest's ``buffer_names``; a run stopped
at step 3 and resumed ends with exactly the uninterrupted run's arrays; evaluating every
step leaves them where evaluating twice does (evaluation does not update them);
``specc.load_model`` restores them on torch, jax and mlx from every backend's checkpoint;
``specc inspect`` counts them apart from the parameters.
"""

from __future__ import annotations

import csv
import importlib
from pathlib import Path

import numpy as np
import pytest
from specc.compiler import pipeline
from specc.compiler.cli.app import app
from specc.runtime.training.checkpoints import read_checkpoint
from typer.testing import CliRunner

import specc
from tests.backends.runner import run_script, write_script

SCRIPTS = ("jax", "lightning", "mlx")
BUFFERS = ["batch_norm_0.running_mean", "batch_norm_0.running_var",
           "running_statistics_0.running_mean", "running_statistics_0.running_std", "seen_0.buffer"]
SPEC = """\
spec buffers_small
language 1
data digits {
  batch_size = 16
}

model mlp(x: f32[B, 64]) -> f32[B, 10] {
  h = relu(batch_norm(linear(x, 32, bias = false), momentum = 0.2))
  h = running_statistics(h, momentum = 0.1)
  seen = buffer([1])
  seen = update(seen, seen + 1)  # training steps taken (evaluation does not count)
  return linear(h, 10)
}

objective classification {
  model = mlp
  target = data.y
  inputs = { x = data.x }
}

optimizer adam {
  lr = 1e-2
}

train {
  max_steps = 6
  eval_every = 3
  log_every = 1
  checkpoint {
    every = 3
  }
}

eval {
  metrics = [accuracy]
}
"""
pytestmark = pytest.mark.slow


def _program(directory: Path, overrides=()):
    path = directory / "buffers_small.mf"
    path.write_text(SPEC, encoding="utf-8")
    result = pipeline.check(str(path), lambda name: Path(name).read_bytes(), tuple(overrides))
    assert result.program is not None, [diagnostic.message for diagnostic in result.errors]
    return result.program


def _train(directory: Path, backend: str, out: str, *arguments, overrides=()) -> Path:
    script = write_script(_program(directory, overrides), backend, directory)
    run_script(script, "--out-dir", out, *arguments, check=True, env={"OMP_NUM_THREADS": "1"})
    return directory / out


def _metrics(run: Path, split: str) -> dict:
    with open(run / "metrics.csv", encoding="utf-8") as handle:
        return {(int(row["step"]), row["name"]): float(row["value"]) for row in csv.DictReader(handle)
                if row["split"] == split and row["name"] in ("loss", "grad_norm")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``{(backend, kind): run directory}``: ``full`` (6 steps), ``resumed`` (3, then
    ``--resume auto`` to 6)."""
    found = {}
    for backend in SCRIPTS:
        directory = tmp_path_factory.mktemp(backend)
        found[backend, "full"] = _train(directory, backend, "full")
        _train(directory, backend, "resumed", "--max-steps", "3")
        found[backend, "resumed"] = _train(directory, backend, "resumed", "--resume", "auto")
    return found


def _arrays(run: Path) -> dict:
    return read_checkpoint(run / "checkpoints" / "last").model


def test_backends_agree_on_losses_evaluation_and_buffers(runs):
    reference = runs["jax", "full"]
    for backend in ("lightning", "mlx"):
        for split in ("train", "val"):
            expected, found = _metrics(reference, split), _metrics(runs[backend, "full"], split)
            assert sorted(found) == sorted(expected) and len(expected) >= (12 if split == "train" else 2)
            for key, value in expected.items():
                assert found[key] == pytest.approx(value, abs=1e-5), (backend, split, key)
        expected, found = _arrays(reference), _arrays(runs[backend, "full"])
        assert sorted(found) == sorted(expected)
        for name in expected:
            np.testing.assert_allclose(found[name], expected[name], atol=1e-5, err_msg=f"{backend} {name}")
    moved = _arrays(reference)
    assert not np.allclose(moved["batch_norm_0.running_mean"], 0.0)  # training moved them
    assert not np.allclose(moved["running_statistics_0.running_std"], 1.0)
    for backend in SCRIPTS:  # six training steps, two evaluations: the graph's own counter
        assert _arrays(runs[backend, "full"])["seen_0.buffer"].tolist() == [6.0]
        assert _arrays(runs[backend, "resumed"])["seen_0.buffer"].tolist() == [6.0]


def test_buffers_are_saved_and_listed_in_the_manifest(runs):
    for backend in SCRIPTS:
        checkpoint = read_checkpoint(runs[backend, "full"] / "checkpoints" / "last")
        assert checkpoint.manifest["buffer_names"] == BUFFERS
        assert set(BUFFERS) <= set(checkpoint.model) and set(checkpoint.manifest["parameter_names"]) == set(checkpoint.model)
        assert not any(name.startswith("optimizer.") and "running" in name for name in checkpoint.optimizer)


def test_resume_restores_the_buffers_exactly(runs):
    for backend in SCRIPTS:
        full, resumed = _arrays(runs[backend, "full"]), _arrays(runs[backend, "resumed"])
        assert sorted(full) == sorted(resumed)
        for name in full:
            assert np.array_equal(full[name], resumed[name]), (backend, name)


def test_evaluation_does_not_move_the_buffers(runs, tmp_path):
    evaluated_often = _train(tmp_path, "lightning", "often", overrides=("train.eval_every=1",))
    assert len({step for step, _ in _metrics(evaluated_often, "val")}) == 6
    often, twice = _arrays(evaluated_often), _arrays(runs["lightning", "full"])
    for name in BUFFERS:
        assert np.array_equal(often[name], twice[name]), name


@pytest.mark.parametrize("loader", ["torch", "jax", "mlx"])
def test_load_model_restores_the_buffers(runs, loader):
    state = importlib.import_module(f"specc.runtime.{loader}.state")
    for backend in SCRIPTS:
        checkpoint = runs[backend, "full"] / "checkpoints" / "last"
        arrays = _arrays(runs[backend, "full"])
        loaded = state.state_dict(specc.load_model(checkpoint, loader))
        assert sorted(loaded) == sorted(arrays)
        for name in BUFFERS:
            assert np.array_equal(loaded[name], arrays[name]), (backend, loader, name)


def test_inspect_counts_buffers_apart(runs):
    checkpoint = runs["mlx", "full"] / "checkpoints" / "last"
    (model,) = specc.describe_checkpoint(checkpoint)["models"]
    parameters = 64 * 32 + 2 * 32 + 32 * 10 + 10
    assert (model["parameter_tensors"], model["parameter_count"]) == (5, parameters)
    assert (model["buffer_tensors"], model["buffer_count"]) == (5, 4 * 32 + 1)
    result = CliRunner().invoke(app, ["inspect", str(checkpoint)])
    assert result.exit_code == 0, result.output
    assert f"  parameters  {parameters:,} in 5 tensors\n  buffers     129 in 5 tensors (not trained)\n" in result.output
