"""A spec using every initialisation scheme (and a bias-free LayerNorm) compiles for jax,
lightning and mlx to the same parameter table, and each backend's generated `build_model`
starts from exactly the arrays `specc.runtime.init.initialize` draws for that table."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
from specc.compiler import pipeline
from specc.compiler.emit import render as emit
from specc.runtime import init

STATE_MODULES = {"jax": "specc.runtime.jax.state", "lightning": "specc.runtime.torch.state",
                 "mlx": "specc.runtime.mlx.state"}

SPEC = """\
spec every_init
language 1

let n_layer = 2
let residual_std = 0.02 / (2 * n_layer) ** 0.5

data digits {
  batch_size = 16
}

model mlp(x: f32[B, 64]) -> f32[B, 10] {
  h = reshape(linear(x, 64, init = normal(std = 0.02)), [B, 8, 8])
  h = h + attention(layernorm(h, bias = false), 2, causal = true, init = normal(0.02), out_init = normal(std = residual_std))
  h = h + conv1d(h, 8, 3, padding = same, init = kaiming_normal(mode = fan_out), bias_init = normal(0.1))
  h = h * parameter([1, 8, 8], init = truncated_normal(0.5))
  h = flatten(h)
  h = relu(linear(h, 32, init = xavier_uniform(gain = 2), bias = false))
  h = relu(linear(h, 32, init = xavier_normal, bias_init = truncated_normal(0.01)))
  h = relu(linear(h, 32, init = kaiming_uniform, bias_init = ones))
  return linear(h, 10, init = zeros)
}

objective classification {
  model = mlp
  target = data.y
  inputs = { x = data.x }
}

optimizer adam {
  lr = 1e-3
}

train {
  max_steps = 1
}
"""


def _script_namespace(backend: str, tmp_path):
    path = tmp_path / "every_init.mf"
    path.write_text(SPEC)
    result = pipeline.check(str(path), lambda name: Path(name).read_bytes(), backend=backend)
    assert not result.errors, [diagnostic.message for diagnostic in result.errors]
    script = tmp_path / f"train_every_init_{backend}.py"
    script.write_text(emit.render(result.program, backend))
    namespace = {"__name__": f"every_init_{backend}", "__file__": str(script)}
    exec(compile(script.read_text(), str(script), "exec"), namespace)  # defines, does not run main
    return result.program, namespace


def _row(row):
    """``(name, Parameter)``, from that or the MLX table's ``(name, shape, init, fan_in[, std])``."""
    if len(row) == 2:
        return row
    name, *fields = row
    return name, init.Parameter(name.rpartition(".")[2], *fields)


@pytest.mark.slow
def test_every_backend_starts_from_the_same_arrays(tmp_path):
    tables, starts = {}, {}
    for backend in STATE_MODULES:
        program, namespace = _script_namespace(backend, tmp_path)
        tables[backend] = [_row(row) for row in namespace["PARAMETERS"]]
        model = namespace["build_model"](program.train.seed)
        starts[backend] = {name: np.asarray(array)
                           for name, array in importlib.import_module(STATE_MODULES[backend]).state_dict(model).items()}
    assert tables["jax"] == tables["lightning"] == tables["mlx"]
    kinds = {parameter.init for _, parameter in tables["jax"]}
    assert kinds == {"normal", "truncated_normal", "uniform", "zeros", "ones"}
    assert "layernorm_0.bias" not in dict(tables["jax"]) and "layernorm_0.weight" in dict(tables["jax"])
    expected = init.initialize(tables["jax"], seed=0)
    for backend, arrays in starts.items():
        assert sorted(arrays) == sorted(expected), backend
        for name, array in arrays.items():
            np.testing.assert_array_equal(array, expected[name], err_msg=f"{backend}: {name}")
