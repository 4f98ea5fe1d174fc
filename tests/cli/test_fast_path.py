"""`specc lint` / `specc fmt` without typer (``cli.main``'s fast path): the same output and
exit status as the typer application, typer left unimported, and anything unusual handed
to typer."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from specc.compiler.cli import main as cli
from tests.checker.helpers import DIGITS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    (tmp_path / "good.mf").write_text(DIGITS)
    (tmp_path / "bad.mf").write_text(
        DIGITS.replace("lr = 1e-3", "lrr = 1e-3").replace("batch_size = 16", "batch_size = 0")
    )
    (tmp_path / "messy.mf").write_text(DIGITS.replace("optimizer adam { lr = 1e-3 }", "optimizer adam {lr=1e-3}"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "arguments, expected",
    [
        (["lint", "a.mf"], ("lint", {"paths": ["a.mf"], "output_format": "text", "strict": False, "set_": [], "backend": None})),
        (
            ["lint", "a.mf", "-f", "json", "--set", "k=1", "--set=train.max_steps=2", "--strict", "b"],
            (
                "lint",
                {"paths": ["a.mf", "b"], "output_format": "json", "strict": True, "set_": ["k=1", "train.max_steps=2"], "backend": None},
            ),
        ),
        (
            ["lint", "--format=sarif", "--", "--odd.mf"],
            ("lint", {"paths": ["--odd.mf"], "output_format": "sarif", "strict": False, "set_": [], "backend": None}),
        ),
        (
            ["lint", "a.mf", "--backend", "mlx"],
            ("lint", {"paths": ["a.mf"], "output_format": "text", "strict": False, "set_": [], "backend": "mlx"}),
        ),
        (
            ["lint", "-b", "jax", "a.mf"],
            ("lint", {"paths": ["a.mf"], "output_format": "text", "strict": False, "set_": [], "backend": "jax"}),
        ),
        (["fmt", "--check", "specs/"], ("fmt", {"paths": ["specs/"], "check_only": True})),
    ],
)
def test_plain_command_lines_take_the_fast_path(arguments, expected):
    assert cli.fast_arguments(arguments) == expected


@pytest.mark.parametrize(
    "arguments",
    [
        [],
        ["compile", "a.mf", "-b", "jax"],
        ["lint"],  # no path: typer's "Missing argument"
        ["lint", "--help"],
        ["lint", "a.mf", "-h"],
        ["lint", "a.mf", "--format"],  # value missing
        ["lint", "a.mf", "--format", "--strict"],  # a value that looks like an option
        ["lint", "a.mf", "-fjson"],
        ["lint", "a.mf", "-f=json"],
        ["lint", "a.mf", "--strict=yes"],
        ["lint", "a.mf", "-f", "json", "--format", "text"],  # repeated single option
        ["lint", "a.mf", "--sett", "k=1"],
        ["lint", "a.mf", "-b=jax"],
        ["lint", "a.mf", "-b", "jax", "--backend", "mlx"],  # repeated single option
        ["fmt", "a.mf", "--strict"],
    ],
)
def test_anything_else_goes_to_typer(arguments):
    assert cli.fast_arguments(arguments) is None


def _fast(monkeypatch, capsys, arguments):
    monkeypatch.setattr(sys, "argv", ["specc", *arguments])
    monkeypatch.setitem(sys.modules, "regex", sys.modules.get("regex"))  # main() may block it
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    captured = capsys.readouterr()
    return stopped.value.code, captured.out, captured.err


def _typer(arguments):
    result = CliRunner().invoke(cli.app, arguments)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "arguments",
    [
        ["lint", "."],
        ["lint", "good.mf"],
        ["lint", "bad.mf", "nowhere.mf", "--format", "json"],
        ["lint", "bad.mf", "-f", "github", "--strict"],
        ["lint", "bad.mf", "--format=sarif"],
        ["lint", "good.mf", "--set", "train.max_stepz=3"],
        ["lint", "good.mf", "--format", "yaml"],
        ["lint", "good.mf", "--backend", "mlx"],
        ["lint", "good.mf", "bad.mf", "-b", "jax", "--strict"],
        ["lint", "good.mf", "--backend", "tpu"],
        ["lint", "good.mf", "--set", "train.precision=fp16"],
        ["lint", "good.mf", "--set", "train.precision=fp16", "--strict"],
        ["lint", "good.mf", "--set", "train.precision=fp16", "--backend", "lightning"],
        ["lint", "good.mf", "--set", "train.precision=fp16", "-b", "mlx"],
        ["fmt", "messy.mf", "good.mf", "nowhere.mf", "--check"],
    ],
)
def test_fast_path_output_equals_typer(workspace, monkeypatch, capsys, arguments):
    assert cli.fast_arguments(arguments) is not None
    assert _fast(monkeypatch, capsys, arguments) == _typer(arguments)


def test_fmt_writes_on_the_fast_path(workspace, monkeypatch, capsys):
    assert _fast(monkeypatch, capsys, ["fmt", "messy.mf"]) == (0, "", "reformatted messy.mf\n")
    assert _fast(monkeypatch, capsys, ["fmt", "messy.mf", "--check"]) == (0, "", "")


def test_python_dash_m_specc_lints_without_importing_typer():
    code = (
        "import runpy, sys\n"
        "sys.argv = ['specc', 'lint', 'specs/digits_mlp.mf']\n"
        "try:\n"
        "    runpy.run_module('specc', run_name='__main__')\n"
        "except SystemExit as stop:\n"
        "    print(stop.code, sorted({name.split('.')[0] for name in sys.modules} & {'typer', 'click', 'rich'}))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=os.environ)
    assert completed.stdout == "0 []\n", completed.stderr
    assert completed.stderr == "1 file(s) checked, no problems\n"


def test_python_dash_m_specc_shows_typer_help():
    completed = subprocess.run(
        [sys.executable, "-m", "specc", "lint", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert completed.returncode == 0 and "Example: specc lint specs/ --format github" in completed.stdout
