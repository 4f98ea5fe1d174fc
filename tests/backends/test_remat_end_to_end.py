"""``train.remat`` (activation checkpointing of each pass of a ``repeat``): the same losses
with and without it (fp32, 1e-5) on every backend; dropout included where the backend
replays its draws (JAX's ``nnx.remat``, ``torch.utils.checkpoint``); MLX refuses it with
dropout (E0586, tests/checker/test_codes.py) and is checked without."""

from __future__ import annotations

import pytest
from specc.compiler import pipeline
from specc.runtime import training

from tests.backends.runner import run_script, write_script
from tests.checker.helpers import memory_reader

pytestmark = pytest.mark.slow

SPEC = """\
spec remat_small
language 1

data digits {
  batch_size = 32
}

block residual(x: [B, D], rate: float) -> [B, D] {
  return x + dropout(relu(linear(layernorm(x), D)), rate)
}

model net(x: f32[B, 64]) -> f32[B, 10] {
  h = linear(x, 32)
  repeat 3 {
    h = residual(h, RATE)
  }
  return linear(h, 10)
}

objective classification {
  model = net
  target = data.y
  inputs = { x = data.x }
}

optimizer adam {
  lr = 1e-2
}

train {
  max_steps = 5
  log_every = 1
  eval_every = 5
  checkpoint { enable = false }
}
"""


def train_losses(tmp_path, backend: str, rate: float, remat: bool) -> list[float]:
    text = SPEC.replace("RATE", str(rate))
    result = pipeline.check("spec.mf", memory_reader({"spec.mf": text}), (f"train.remat={str(remat).lower()}",), backend)
    assert result.program is not None, [diagnostic.message for diagnostic in result.diagnostics]
    folder = tmp_path / f"{backend}_{rate}_{remat}"
    folder.mkdir()
    script = write_script(result.program, backend, folder)
    assert ("checkpointed(module, h)" in script.read_text()) == remat
    run_script(script, "--out-dir", folder / "run", check=True)
    rows = training.read_metrics(folder / "run" / "metrics.csv")
    return [row["value"] for row in rows if row["split"] == "train" and row["name"] == "loss"]


@pytest.mark.parametrize(
    ("backend", "rate"),
    [("jax", 0.1), ("lightning", 0.1), ("mlx", 0.0)],
)
def test_remat_gives_the_same_losses(tmp_path, backend, rate):
    pytest.importorskip({"jax": "flax", "lightning": "lightning", "mlx": "mlx.core"}[backend])
    plain = train_losses(tmp_path, backend, rate, remat=False)
    checkpointed = train_losses(tmp_path, backend, rate, remat=True)
    assert len(plain) == 5
    assert checkpointed == pytest.approx(plain, rel=1e-5, abs=1e-5)
    assert len(set(plain)) > 1  # the weights moved: the gradients went through the passes
