"""MLX resume of models holding modules without parameters (``dropout`` inside a block,
``specs/astro_lm.mf``): the restored optimizer state keeps their empty entries, so the
first step after ``--resume`` does not fail with ``KeyError: 'dropout_0'``, and it is the
step the uninterrupted run takes."""

from __future__ import annotations

import numpy as np
import pytest

mx = pytest.importorskip("mlx.core")

import mlx.nn as nn  # noqa: E402
import mlx.optimizers as optim  # noqa: E402
from mlx.utils import tree_flatten  # noqa: E402

from specc.runtime.mlx import layers, state  # noqa: E402
from specc.runtime.mlx import training as mlx_training  # noqa: E402


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear_0 = layers.Linear(in_features=4, out_features=4, bias=True)
        self.dropout_0 = layers.Dropout(rate=0.0)

    def __call__(self, x):
        return self.dropout_0(self.linear_0(x))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.block_0 = Block()
        self.dropout_0 = layers.Dropout(rate=0.0)
        self.layers = [layers.Dropout(rate=0.0), Block(), layers.Dropout(rate=0.0)]

    def __call__(self, x):
        h = self.dropout_0(self.block_0(x))
        for layer in self.layers:
            h = layer(h)
        return h


def build():
    model = Model()
    generator = np.random.default_rng(0)
    state.load_state_dict(
        model, {name: generator.standard_normal(array.shape) for name, array in state.state_dict(model).items()}
    )
    optimizer = optim.Adam(learning_rate=1e-2)
    optimizer.init(model.trainable_parameters())
    return model, optimizer


def train(model, optimizer, steps):
    step = mlx_training.make_train_step(model, optimizer, lambda model, batch: (mx.mean(model(batch["x"]) ** 2), {}))
    x = mx.array(np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4))
    for _ in range(steps):
        step([{"x": x}])
        mx.eval(model.parameters(), optimizer.state)


def test_a_model_with_dropout_resumes_where_it_stopped():
    uninterrupted, uninterrupted_optimizer = build()
    train(uninterrupted, uninterrupted_optimizer, 3)

    model, optimizer = build()
    train(model, optimizer, 2)
    saved_model = state.state_dict(model)
    saved_optimizer = mlx_training.optimizer_arrays(optimizer)

    resumed, resumed_optimizer = build()
    state.load_state_dict(resumed, saved_model)
    mlx_training.load_optimizer_arrays(resumed_optimizer, resumed, saved_optimizer)
    assert resumed_optimizer.state["block_0"]["dropout_0"] == {}  # the empty entry is kept
    train(resumed, resumed_optimizer, 1)
    for name, array in state.state_dict(uninterrupted).items():
        np.testing.assert_array_equal(state.state_dict(resumed)[name], array, err_msg=name)
    expected = dict(tree_flatten(uninterrupted_optimizer.state))
    for name, array in tree_flatten(resumed_optimizer.state):
        np.testing.assert_array_equal(np.array(array), np.array(expected[name]), err_msg=name)


DROPOUT_SPEC = """spec dropout_block
language 1

data digits {
  batch_size = 16
}

block hidden(x: [B, D], width: int, rate: float) -> [B, width] {
  return dropout(relu(linear(x, width)), rate)
}

model mlp(x: f32[B, 64]) -> f32[B, 10] {
  h = hidden(x, 16, 0.2)
  return linear(dropout(h, 0.1), 10)
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
  log_every = 1
  eval_every = 3
  checkpoint {
    every = 3
    keep = 2
    monitor = "val/loss"
    mode = min
  }
}
"""


def values(run_dir) -> list[tuple]:
    from specc.runtime import training

    rows = training.read_metrics(run_dir / "metrics.csv")
    return [(row["step"], row["split"], row["name"], row["value"]) for row in rows if row["name"] != "steps_per_s"]


@pytest.mark.slow
def test_the_mlx_script_of_a_spec_with_dropout_in_a_block_resumes(tmp_path):
    from specc.compiler import pipeline
    from specc.compiler.emit import render as emit
    from tests.backends.runner import run_script
    from tests.specs.helpers import read

    path = tmp_path / "dropout_block.mf"
    path.write_text(DROPOUT_SPEC)
    result = pipeline.check(str(path), read, (), "mlx")
    assert not result.errors, result.diagnostics
    script = tmp_path / "train_dropout_block.py"
    script.write_text(emit.render(result.program, "mlx"))
    run_script(script, "--out-dir", tmp_path / "whole", check=True)
    run_script(script, "--out-dir", tmp_path / "resumed", "--max-steps", "3", check=True)
    resumed = run_script(script, "--out-dir", tmp_path / "resumed", "--resume", "auto")
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert values(tmp_path / "resumed") == values(tmp_path / "whole")
