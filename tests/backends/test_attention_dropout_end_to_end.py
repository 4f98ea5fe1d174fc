"""A generated script whose attention drops weights (`attention(..., dropout = 0.2)`) trains
on jax, lightning and mlx: the nested Dropout is seeded, switched to evaluation and carried
through each backend's compiled step. The masks come from each framework's own generator (as
every dropout's do: docs/models.md), so the losses are not compared across backends."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from specc.compiler import pipeline
from specc.compiler.emit import render as emit
from specc.runtime import training

from tests.backends.runner import run_script
from tests.graphs.test_attention_dropout import SPEC

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("backend", ["jax", "lightning", "mlx"])
def test_attention_dropout_trains(backend, tmp_path):
    spec = tmp_path / "attend.mf"
    spec.write_text(SPEC % ", dropout = 0.2")
    result = pipeline.check(str(spec), lambda name: Path(name).read_bytes(), backend=backend)
    assert not result.errors, [diagnostic.message for diagnostic in result.errors]
    script = tmp_path / f"train_attend_{backend}.py"
    script.write_text(emit.render(result.program, backend))
    run_script(script, "--out-dir", tmp_path / "run", check=True, env={"OMP_NUM_THREADS": "1"})
    rows = training.read_metrics(tmp_path / "run" / "metrics.csv")
    losses = [row["value"] for row in rows if row["name"] == "loss"]
    assert {row["split"] for row in rows if row["name"] == "loss"} == {"train", "val"}
    assert losses and all(math.isfinite(value) for value in losses)
