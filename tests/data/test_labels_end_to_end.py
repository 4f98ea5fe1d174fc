"""End to end on every backend: a classification script whose npz file holds a label outside
``[0, classes)`` stops before step 1 with one line naming the file, the field, the split, the
value and its index (no traceback, no run directory content, exit code non-zero); MLX no longer
crashes in native code, Lightning no longer raises deep in the step, JAX and MLX no longer
train on negative labels."""

from __future__ import annotations

import numpy as np
import pytest

from specc.compiler import pipeline
from specc.compiler.emit import render as emit
from tests.backends.runner import run_script
from tests.specs.helpers import read

pytestmark = pytest.mark.slow

BACKENDS = ("jax", "lightning", "mlx")

SPEC = """spec npz_labels
language 1

data npz {{
  path = "{path}"
  fields = {{ x = "f32[4]", y = "i64[]" }}
  batch_size = 4
}}

model mlp(x: f32[B, 4]) -> f32[B, 3] {{
  return linear(x, 3)
}}

objective classification {{
  model = mlp
  target = data.y
  inputs = {{ x = data.x }}
}}

optimizer adam {{
  lr = 1e-2
}}

train {{
  max_steps = 2
  log_every = 1
  eval_every = 2
}}
"""


def labelled_file(path, train_labels):
    labels = np.asarray(train_labels, dtype=np.int64)
    generator = np.random.default_rng(0)
    np.savez(
        path,
        train_x=generator.standard_normal((len(labels), 4)).astype(np.float32),
        train_y=labels,
        val_x=generator.standard_normal((4, 4)).astype(np.float32),
        val_y=np.array([0, 1, 2, 0]),
    )


def script_for(tmp_path, backend: str, data):
    spec = tmp_path / "npz_labels.mf"
    spec.write_text(SPEC.format(path=data))
    result = pipeline.check(str(spec), read, (), backend)
    assert not result.errors, result.diagnostics
    script = tmp_path / f"train_npz_labels_{backend}.py"
    script.write_text(emit.render(result.program, backend))
    return script


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("value, index", [(3, 5), (-1, 2)])
def test_an_out_of_range_label_stops_the_script_with_one_line(tmp_path, backend, value, index):
    data = tmp_path / "labels.npz"
    labels = [0, 1, 2, 0, 1, 2, 0, 1]
    labels[index] = value
    labelled_file(data, labels)
    result = run_script(script_for(tmp_path, backend, data), "--out-dir", tmp_path / "run", env={"OMP_NUM_THREADS": "1"})
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    expected = (
        f"npz: {data}: data field 'y' of the train split holds label {value} at index {index}, outside [0, 3) "
        "for the model's 3 classes"
    )
    assert expected in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "run" / "metrics.csv").exists()


def test_labels_in_range_train(tmp_path):
    data = tmp_path / "labels.npz"
    labelled_file(data, [0, 1, 2, 0, 1, 2, 0, 1])
    result = run_script(script_for(tmp_path, "mlx", data), "--out-dir", tmp_path / "run")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_damaged_npz_file_stops_the_script_with_one_line(tmp_path, backend):
    data = tmp_path / "labels.npz"
    data.write_bytes(b"")
    result = run_script(script_for(tmp_path, backend, data), "--out-dir", tmp_path / "run", env={"OMP_NUM_THREADS": "1"})
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"npz_labels: npz: {data} is empty (0 bytes); expected an .npz archive of arrays"
    )
