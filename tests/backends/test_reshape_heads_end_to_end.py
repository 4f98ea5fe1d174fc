"""A language model with a symbolic length whose attention is written per head with
`reshape`/`transpose` (`[B, T, 2, 4]`, back with `[B, T, -1]`) trains 2 steps on jax,
lightning and mlx: the generated `from_input` reads B and T from the tensor at run time
(issue 16). The same data and initial parameters give the same first losses on each backend."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from specc.compiler import pipeline
from specc.compiler.emit import render as emit
from specc.runtime import training

from tests.backends.runner import run_script

pytestmark = pytest.mark.slow

SPEC = """\
spec heads
language 1

data synthetic_tokens {
  sequence_length = 16
  image_tokens = 4
  scalar_tokens = 2
  spectrum_tokens = 4
  image_vocabulary = 8
  scalar_vocabulary = 8
  spectrum_vocabulary = 8
  embedding_dim = 4
  sizes = [64, 16, 16]
  batch_size = 4
}

model lm(tokens: i64[B, T]) -> f32[B, T, 29] {
  h = embedding(tokens, 29, 8)
  q = transpose(reshape(linear(h, 8), [B, T, 2, 4]), [0, 2, 1, 3])
  k = transpose(reshape(linear(h, 8), [B, T, 2, 4]), [0, 2, 3, 1])
  v = transpose(reshape(linear(h, 8), [B, T, 2, 4]), [0, 2, 1, 3])
  weights = softmax(matmul(q, k) / 2, -1)
  a = reshape(transpose(matmul(weights, v), [0, 2, 1, 3]), [B, T, -1])
  return linear(h + linear(a, 8), 29)
}

objective language_model {
  model = lm
  target = data.tokens
  loss = cross_entropy()
}

optimizer adamw {
  lr = 1e-3
}

train {
  max_steps = 2
  eval_every = 2
  log_every = 1
}
"""


@pytest.mark.parametrize("backend", ["jax", "lightning", "mlx"])
def test_per_head_attention_with_symbolic_reshape_trains(backend, tmp_path):
    spec = tmp_path / "heads.mf"
    spec.write_text(SPEC)
    result = pipeline.check(str(spec), lambda name: Path(name).read_bytes(), backend=backend)
    assert not result.errors, [diagnostic.message for diagnostic in result.errors]
    text = emit.render(result.program, backend)
    assert "from_input=((0, 0), (1, 1)), shape=(-1, -1, 2, 4)" in text
    script = tmp_path / f"train_heads_{backend}.py"
    script.write_text(text)
    run_script(script, "--out-dir", tmp_path / "run", check=True, env={"OMP_NUM_THREADS": "1"})
    rows = training.read_metrics(tmp_path / "run" / "metrics.csv")
    train = [row["value"] for row in rows if row["name"] == "loss" and row["split"] == "train"]
    assert len(train) == 2 and all(math.isfinite(value) for value in train)
    assert train[0] == pytest.approx(3.603, abs=5e-3)  # log(29) = 3.37 plus the untrained head's spread
    assert [row["step"] for row in rows if row["name"] == "loss" and row["split"] == "val"] == [2]
