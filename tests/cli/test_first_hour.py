"""The command line a new user meets: usage lines, and `--backend torch` pointing at lightning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from specc.compiler.cli.main import app, run_lint
from tests.checker.helpers import DIGITS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("command", "usage"),
    [("compile", "specc compile [OPTIONS] SPEC"), ("lint", "specc lint [OPTIONS] PATHS..."),
     ("explain", "specc explain [OPTIONS] SPEC KEY"), ("plot", "specc plot [OPTIONS] RUNS..."),
     ("inspect", "specc inspect [OPTIONS] CHECKPOINT")],
)
def test_usage_lines_name_the_arguments_plainly(command, usage):
    result = CliRunner().invoke(app, [command, "--help"], prog_name="specc")
    assert result.output.splitlines()[0] == f"Usage: {usage}"


def test_a_missing_argument_names_it():
    result = CliRunner().invoke(app, ["compile"], prog_name="specc")
    assert result.exit_code == 2
    assert "Usage: specc compile [OPTIONS] SPEC" in result.output and "Missing argument 'SPEC'." in result.output


@pytest.mark.parametrize("name", ["torch", "pytorch", "PyTorch", "pytorch_lightning"])
def test_compile_with_a_framework_name_suggests_the_backend(tmp_path, name):
    (tmp_path / "spec.mf").write_text(DIGITS)
    result = subprocess.run([sys.executable, "-m", "specc", "compile", "spec.mf", "--backend", name],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == f"error: unknown backend `{name}` (choose one of jax, lightning, mlx); did you mean `lightning`?\n"


def test_lint_fast_path_suggests_it_too(tmp_path, capsys, monkeypatch):
    (tmp_path / "spec.mf").write_text(DIGITS)
    monkeypatch.chdir(tmp_path)
    assert run_lint(["spec.mf"], "text", False, [], "torch") == 2
    assert capsys.readouterr().err == "error: unknown backend `torch` (choose one of jax, lightning, mlx); did you mean `lightning`?\n"
    assert run_lint(["spec.mf"], "text", False, [], "tpu") == 2
    assert capsys.readouterr().err == "error: unknown backend `tpu` (choose one of jax, lightning, mlx)\n"


def test_the_checkpoint_loader_suggests_torch():
    from specc.load import loader_runtime

    with pytest.raises(ValueError) as raised:
        loader_runtime("pytorch")
    assert str(raised.value) == "unknown backend 'pytorch'; choose one of torch, jax, mlx; did you mean 'torch'?"
    with pytest.raises(ValueError) as raised:
        loader_runtime("tensorflow")
    assert str(raised.value) == "unknown backend 'tensorflow'; choose one of torch, jax, mlx"
