"""`attention(..., dropout = p)`: the constructor gets the rate (only when it is not 0), a
rate outside [0, 1) is E0609 at the argument, and a model whose attention drops weights
seeds and checkpoints MLX's global generator like one holding a `dropout` layer."""

from __future__ import annotations

from pathlib import Path

from specc.compiler import pipeline
from specc.compiler.emit import models as emit_models
from specc.compiler.emit import render as emit

from tests.graphs.helpers import build_ok, module, rendered

ATTEND = "model m(x: f32[B, T, 8]) -> f32[B, T, 8] {\n  return attention(x, 2, causal = true%s)\n}\n"


def _line(text: str) -> str:
    (line,) = [emit_models.submodule_line(sub, "nn.ModuleList") for sub in module(build_ok(text)["m"], "M").submodules]
    return line


def test_the_rate_reaches_the_constructor_only_when_set():
    assert _line(ATTEND % ", dropout = 0.1") == (
        "self.attention_0 = layers.MultiHeadAttention(bias=True, causal=True, dim=8, dropout=0.1, num_heads=2)")
    assert _line(ATTEND % "") == "self.attention_0 = layers.MultiHeadAttention(bias=True, causal=True, dim=8, num_heads=2)"


def test_a_rate_outside_zero_one_is_a_positioned_diagnostic():
    assert rendered(ATTEND % ", dropout = 1") == [
        "m.mf:2:51: error[E0609]: attention: `dropout` must be in [0, 1), got 1.0\n  |\n"
        "2 |   return attention(x, 2, causal = true, dropout = 1)\n  |                                                   ^"]


SPEC = """\
spec attend
language 1

data digits {
  batch_size = 16
}

model mlp(x: f32[B, 64]) -> f32[B, 10] {
  h = attention(reshape(x, [B, 8, 8]), 2%s)
  return linear(flatten(h), 10)
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


def _mlx_script(tmp_path, rate: str) -> str:
    path = tmp_path / "attend.mf"
    path.write_text(SPEC % rate)
    result = pipeline.check(str(path), lambda name: Path(name).read_bytes(), backend="mlx")
    assert not result.errors, [diagnostic.message for diagnostic in result.errors]
    return emit.render(result.program, "mlx")


def test_mlx_seeds_its_generator_for_attention_dropout(tmp_path):
    assert "mx.random.seed(run_seed)" in _mlx_script(tmp_path, ", dropout = 0.2")
    assert "mx.random.seed(run_seed)" not in _mlx_script(tmp_path, "")
