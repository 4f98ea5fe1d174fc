"""`train.compile` and `train.tf32` keep the losses (issue 12's speed options, on the CPU).

Tiny runs of the generated Lightning script: with ``compile = true`` torch.compile (inductor,
which runs on the CPU) compiles the model's forward and backward, and the training losses
equal those of the eager script to float32 rounding; ``tf32 = false`` changes nothing on the
CPU (TF32 is a GPU switch), so its losses are identical.
"""

from __future__ import annotations

import pytest

pytest.importorskip("lightning")

from specc.runtime import training

from tests.backends.runner import run_script, write_script
from tests.checker.helpers import DIGITS, edit, run

pytestmark = pytest.mark.slow

TINY = edit(
    edit(DIGITS, "  max_steps = 20\n  eval_every = 10\n", "  max_steps = 4\n  eval_every = 4\n  log_every = 1\n"),
    '  checkpoint { every = 10, keep = 2, monitor = "val/accuracy", mode = max }\n',
    "  checkpoint { every = 4 }\n",
)


def train_losses(tmp_path, name: str, overrides=()) -> dict[int, float]:
    """The train/loss rows of a 4-step run, by step."""
    program = run(TINY, overrides, "lightning").program
    assert program is not None
    folder = tmp_path / name
    folder.mkdir()
    script = write_script(program, "lightning", folder)
    run_script(script, "--out-dir", folder / "run", check=True, timeout=420, env={"OMP_NUM_THREADS": "1"})
    rows = training.read_metrics(folder / "run" / "metrics.csv")
    return {row["step"]: row["value"] for row in rows if (row["split"], row["name"]) == ("train", "loss")}


def test_compiled_model_gives_the_eager_losses(tmp_path):
    eager = train_losses(tmp_path, "eager")
    compiled = train_losses(tmp_path, "compiled", ("train.compile=true",))
    assert sorted(eager) == [1, 2, 3, 4]
    assert compiled == pytest.approx(eager, rel=1e-5, abs=1e-6)
    # model.compile() keeps the parameter names: the checkpoints of both runs hold the same keys
    eager_model = training.read_checkpoint(tmp_path / "eager" / "run" / "checkpoints" / "last").model
    compiled_model = training.read_checkpoint(tmp_path / "compiled" / "run" / "checkpoints" / "last").model
    assert sorted(compiled_model) == sorted(eager_model) == ["linear_0.bias", "linear_0.weight", "linear_1.bias", "linear_1.weight"]


def test_tf32_off_changes_nothing_on_the_cpu(tmp_path):
    assert train_losses(tmp_path, "full", ("train.tf32=false",)) == train_losses(tmp_path, "default")
