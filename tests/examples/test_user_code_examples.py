"""The user-code examples of seeds 000 and 002 (specs/examples/seed000_custom.mf: an
exponential path and a beta time sampler; seed002_quick.mf: a compute_loss returning an
accuracy) train on jax, lightning and mlx with the same per-step values, and user code that
fails stops the run with one line naming the user's file and line."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from specc.compiler import pipeline
from specc.compiler.emit import render as emit
from tests.backends.runner import REPOSITORY
from tests.backends.test_spec_parity import run_backends_together, train_losses, worst_relative_difference

EXAMPLES = REPOSITORY / "specs" / "examples"
BACKENDS = ("jax", "lightning", "mlx")
SHORT = ("train.max_steps=20", "train.log_every=1", "train.eval_every=20")


PYTHON_FILES = {"seed000_custom": "seed000_extensions.py", "seed002_quick": "seed002_quick.py"}


def program_of(folder, spec: str, overrides=SHORT, copy=True):
    """The example copied into ``folder`` with its Python file (``copy``), compiled there."""
    if copy:
        for name in (f"{spec}.mf", PYTHON_FILES[spec]):
            shutil.copy(EXAMPLES / name, folder / name)
    path = str(folder / f"{spec}.mf")
    result = pipeline.check(path, lambda name: open(name, "rb").read(), overrides, base=str(folder))
    assert result.program is not None, [d.message for d in result.diagnostics]
    return result.program


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "names"), [("seed000_custom", ("loss", "mse")), ("seed002_quick", ("loss", "accuracy"))])
def test_user_code_example_agrees_across_backends(spec, names, tmp_path):
    program = program_of(tmp_path, spec)
    run_backends_together({backend: emit.render(program, backend) for backend in BACKENDS}, tmp_path)
    for name in names:
        series = {backend: train_losses(tmp_path / f"run_{backend}", name) for backend in BACKENDS}
        assert sorted(series["jax"]) == list(range(1, 21)), name
        worst, where = worst_relative_difference(series)
        assert worst < 1e-4, f"{name}: {worst:.2e} ({where})"


def test_the_examples_lint_clean():
    for spec in ("seed000_custom", "seed002_quick"):
        result = pipeline.check(str(EXAMPLES / f"{spec}.mf"), lambda name: open(name, "rb").read())
        assert result.diagnostics == [], spec


@pytest.mark.slow
def test_a_user_loss_that_raises_names_its_file_and_line(tmp_path):
    program_of(tmp_path, "seed002_quick")
    module = tmp_path / "seed002_quick.py"
    text = module.read_text(encoding="utf-8")
    module.write_text(text.replace("    loss = losses", "    raise ValueError('labels out of range')\n    loss = losses"), encoding="utf-8")
    line = 1 + module.read_text(encoding="utf-8").splitlines().index("    raise ValueError('labels out of range')")
    program = program_of(tmp_path, "seed002_quick", copy=False)
    script = tmp_path / "train_mlx.py"
    script.write_text(emit.render(program, "mlx"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script), "--out-dir", str(tmp_path / "run")], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{module}:{line}: compute_loss: computing the loss: ValueError: labels out of range" in result.stderr
