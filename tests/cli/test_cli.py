"""The `specc` command line, through typer's CliRunner (and one real subprocess)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from specc.compiler.cli.main import app
from tests.checker.helpers import DIGITS

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def invoke(*arguments, cwd=None):
    previous = os.getcwd()
    os.chdir(cwd or ROOT)
    try:
        return runner.invoke(app, list(arguments))
    finally:
        os.chdir(previous)


@pytest.fixture
def workspace(tmp_path):
    (tmp_path / "good.mf").write_text(DIGITS)
    (tmp_path / "bad.mf").write_text(
        DIGITS.replace("lr = 1e-3", "lrr = 1e-3").replace("batch_size = 16", "batch_size = 0")
    )
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.mf").write_text("let width = 8\n")
    return tmp_path


def test_lint_example_specs_is_clean():
    result = invoke("lint", "specs/")
    assert result.exit_code == 0, result.output
    assert "no problems" in result.output


def test_lint_text_reports_every_error_and_fails(workspace):
    result = invoke("lint", ".", cwd=workspace)
    assert result.exit_code == 1
    assert "bad.mf:5:16: error[E0403]: `batch_size` must be >= 1, found 0" in result.output
    assert "bad.mf:17:18: error[E0401]: unknown key `lrr` in optimizer adam" in result.output
    assert "help: did you mean `lr`?" in result.output
    assert "3 file(s) checked, 2 problem(s)" in result.output


def test_lint_json(workspace):
    result = invoke("lint", "bad.mf", "--format", "json", cwd=workspace)
    assert result.exit_code == 1
    records = json.loads(result.stdout)
    assert [(r["file"], r["line"], r["column"], r["code"]) for r in records] == [
        ("bad.mf", 5, 16, "E0403"),
        ("bad.mf", 17, 18, "E0401"),
    ]
    assert records[1]["help"] == "did you mean `lr`?" and records[1]["end_column"] == 21


def test_lint_github(workspace):
    result = invoke("lint", "bad.mf", "--format", "github", cwd=workspace)
    lines = result.stdout.splitlines()
    assert lines[1] == (
        "::error file=bad.mf,line=17,col=18,endLine=17,endColumn=21,title=E0401::"
        "unknown key `lrr` in optimizer adam%0Ahelp: did you mean `lr`?"
    )


def test_lint_sarif(workspace):
    result = invoke("lint", "bad.mf", "--format", "sarif", cwd=workspace)
    document = json.loads(result.stdout)
    assert document["version"] == "2.1.0"
    run = document["runs"][0]
    assert run["tool"]["driver"]["name"] == "specc"
    assert [rule["id"] for rule in run["tool"]["driver"]["rules"]] == ["E0401", "E0403"]
    first = run["results"][0]
    assert first["ruleId"] == "E0403" and first["level"] == "error"
    region = first["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 5, "startColumn": 16, "endLine": 5, "endColumn": 17}
    assert first["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "bad.mf"


def test_lint_clean_file_and_library_and_missing(workspace):
    assert invoke("lint", "good.mf", "lib", cwd=workspace).exit_code == 0
    result = invoke("lint", "nowhere.mf", cwd=workspace)
    assert result.exit_code == 1 and "error[E0201]: cannot find `nowhere.mf`" in result.output


def test_lint_with_override(workspace):
    result = invoke("lint", "good.mf", "--set", "train.max_stepz=3", "--format", "json", cwd=workspace)
    records = json.loads(result.stdout)
    assert [(r["file"], r["code"], r["help"]) for r in records] == [
        ("--set", "E0307", "did you mean `train.max_steps`?")
    ]


def test_fmt_check_and_write(workspace):
    messy = workspace / "messy.mf"
    messy.write_text(DIGITS.replace("optimizer adam { lr = 1e-3 }", "optimizer adam {lr=1e-3}"))
    result = invoke("fmt", "messy.mf", "--check", cwd=workspace)
    assert result.exit_code == 1 and "would reformat messy.mf" in result.output
    assert invoke("fmt", "messy.mf", cwd=workspace).exit_code == 0
    assert invoke("fmt", "messy.mf", "--check", cwd=workspace).exit_code == 0


def test_explain(workspace):
    result = invoke("explain", "good.mf", "train.max_steps", "--set", "train.max_steps=7", cwd=workspace)
    assert result.exit_code == 0
    assert result.stdout == "train.max_steps = 7\n  from: --set (command-line override)\n"
    result = invoke("explain", "good.mf", "train.max_stepz", cwd=workspace)
    assert result.exit_code == 1 and "did you mean `train.max_steps`?" in result.output


def test_schema_is_a_valid_json_schema_that_accepts_a_spec():
    import jsonschema

    result = invoke("schema")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(document)
    validator = jsonschema.Draft202012Validator(document)
    spec = {
        "data": {"component": "digits", "batch_size": 16},
        "objective": {"component": "classification", "model": "mlp"},
        "optimizer": {"": {"component": "adam", "lr": 0.001}},
        "train": {"max_steps": 20, "checkpoint": {"keep": 2}},
        "eval": {"metrics": [{"kind": "accuracy"}]},
    }
    assert list(validator.iter_errors(spec)) == []
    spec["optimizer"][""]["lrr"] = 1
    assert list(validator.iter_errors(spec))
    assert "x-specc-layers" in document


def test_ir_command_prints_canonical_json(workspace):
    result = invoke("ir", "good.mf", cwd=workspace)
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["node"] == "Program" and data["spec_name"] == "digits_small"
    assert invoke("ir", "bad.mf", cwd=workspace).exit_code == 1


def test_compile_check_detects_stale_output(workspace):
    target = workspace / "train.py"
    result = invoke("compile", "good.mf", "--backend", "jax", "-o", "train.py", cwd=workspace)
    if "rendering is not available yet" in result.output:
        pytest.fail("specc.compiler.emit.render is not importable")
    assert result.exit_code == 0, result.output
    assert invoke("compile", "good.mf", "--backend", "jax", "-o", "train.py", "--check", cwd=workspace).exit_code == 0
    target.write_text(target.read_text() + "# edited\n")
    result = invoke("compile", "good.mf", "--backend", "jax", "-o", "train.py", "--check", cwd=workspace)
    assert result.exit_code == 1 and "out of date" in result.output


def test_compile_refuses_a_capability_the_backend_lacks(workspace, monkeypatch):
    import dataclasses

    from specc.compiler.backends import mlx as mlx_table

    # every backend has fp16 today: the mlx table is narrowed to fp32 and bf16
    capabilities = dict(mlx_table.BACKEND.capabilities, precision=frozenset({"fp32", "bf16"}))
    monkeypatch.setattr(mlx_table, "BACKEND", dataclasses.replace(mlx_table.BACKEND, capabilities=capabilities))
    result = invoke("compile", "good.mf", "--backend", "mlx", "--set", "train.precision=fp16", cwd=workspace)
    assert result.exit_code == 1
    assert "error[E0801]: precision `fp16` is not available on backend `mlx`" in result.output


def test_every_command_has_help_with_an_example():
    for command in ("compile", "lint", "fmt", "explain", "schema", "ir"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Example: specc " + command in result.output


def test_console_script_runs_in_a_fresh_process():
    completed = subprocess.run(
        [sys.executable, "-m", "specc.compiler.cli.main", "lint", "specs/digits_mlp.mf"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr


def test_compile_to_an_unwritable_path_is_an_error_not_a_traceback(workspace):
    result = invoke("compile", "good.mf", "--backend", "jax", "-o", "missing/folder/train.py", cwd=workspace)
    assert result.exit_code == 1
    assert "error: cannot write missing/folder/train.py: No such file or directory" in result.output
    assert "Traceback" not in result.output
