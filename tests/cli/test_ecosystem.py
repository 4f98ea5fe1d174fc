"""specc in the tools a project already uses: pre-commit hooks, GitHub Actions annotations,
JSON Schema for JSON/YAML tooling, shell completion (docs/tools.md "Fitting the ecosystem")."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.checker.helpers import DIGITS

yaml = pytest.importorskip("yaml")  # PyYAML comes with lightning (the `torch` extra)

ROOT = Path(__file__).resolve().parents[2]
SPECC = shutil.which("specc") or str(Path(sys.executable).with_name("specc"))
EXAMPLE = re.compile(r"<!-- example: (?P<name>[\w.-]+) -->\n```\w*\n(?P<text>.*?)\n```", re.S)
# a GitHub Actions workflow command: ::error file=F,line=L,col=C[,endLine=..,endColumn=..][,title=..]::message
WORKFLOW_COMMAND = re.compile(
    r"::(error|warning) file=[^,:]+,line=\d+,col=\d+(,endLine=\d+,endColumn=\d+)?(,title=E\d{4})?::[^\n\r]+"
)


def tools_examples() -> dict[str, str]:
    return {match["name"]: match["text"] for match in EXAMPLE.finditer((ROOT / "docs" / "tools.md").read_text())}


@pytest.fixture
def specs(tmp_path):
    (tmp_path / "good.mf").write_text(DIGITS)
    (tmp_path / "bad.mf").write_text(DIGITS.replace("lr = 1e-3", "lrr = 1e-3").replace("batch_size = 16", "batch_size = 0"))
    (tmp_path / "ugly.mf").write_text(DIGITS.replace("optimizer adam { lr = 1e-3 }", "optimizer adam {lr=1e-3}"))
    return tmp_path


def hooks() -> dict[str, dict]:
    document = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    return {hook["id"]: hook for hook in document}


def run_hook(hook: dict, files: list[str], cwd: Path):
    """What pre-commit runs: the entry, the hook's args, then the staged files that match."""
    entry = shlex.split(hook["entry"])
    entry[0] = SPECC if entry[0] == "specc" else entry[0]
    chosen = [name for name in files if re.search(hook["files"], name)]
    return subprocess.run([*entry, *hook.get("args", []), *chosen], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_pre_commit_hooks_parse_and_name_the_real_commands():
    found = hooks()
    assert sorted(found) == ["specc-fmt", "specc-lint"]
    for hook in found.values():
        assert hook["language"] == "python" and hook["entry"].split()[0] == "specc"
        assert {"id", "name", "entry", "language", "files"} <= set(hook)
        assert re.search(hook["files"], "specs/std/blocks.mf") and not re.search(hook["files"], "train.py")


def test_the_lint_hook_fails_on_errors_only(specs):
    hook = hooks()["specc-lint"]
    assert run_hook(hook, ["good.mf", "ugly.mf", "notes.txt"], specs).returncode == 0
    failed = run_hook(hook, ["good.mf", "bad.mf"], specs)
    assert failed.returncode == 1 and "bad.mf:" in failed.stdout and "error[E" in failed.stdout


def test_the_fmt_hook_rewrites_what_is_not_canonical(specs):
    hook = hooks()["specc-fmt"]
    before = (specs / "ugly.mf").read_text()
    result = run_hook(hook, ["ugly.mf", "notes.txt"], specs)
    assert result.returncode == 0 and result.stderr == "reformatted ugly.mf\n"
    assert (specs / "ugly.mf").read_text() != before and "lr = 1e-3" in (specs / "ugly.mf").read_text()
    assert run_hook(hook, ["ugly.mf"], specs).stderr == ""  # formatted: nothing more to do


def test_lint_format_github_prints_workflow_commands(specs):
    (specs / "warn.mf").write_text(DIGITS.replace("data digits {", 'data npz {\n  path = "absent.npz"\n  fields = { x = "f32[64]", y = "i64[]" }'))
    result = subprocess.run([SPECC, "lint", "bad.mf", "warn.mf", "--format", "github"], cwd=specs,
                            capture_output=True, text=True, timeout=120)
    lines = result.stdout.splitlines()
    assert result.returncode == 1 and lines
    assert all(WORKFLOW_COMMAND.fullmatch(line) for line in lines), lines
    assert any(line.startswith("::error file=bad.mf,line=") for line in lines)
    assert any(line.startswith("::warning file=warn.mf,line=5,col=10,") and "title=E0527::" in line for line in lines)


def test_the_documented_github_actions_step_runs_lint_with_the_github_format():
    step = yaml.safe_load(tools_examples()["github-actions"])
    assert step[0]["name"] and "specc lint specs/ --format github" in step[0]["run"].splitlines()


def test_the_schema_is_for_json_and_yaml_documents_of_the_sections():
    import jsonschema

    result = subprocess.run([SPECC, "schema"], capture_output=True, text=True, timeout=120)
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "urn:specc:schema:spec:language-1" and schema["title"] == "specc spec"
    assert "A .mf file is not JSON" in schema["description"]
    assert all(definition.get("description") for definition in schema["properties"].values())
    assert schema["$defs"]["DataNpzSection"]["properties"]["path"]["description"] == "the .npz file or folder"
    examples = tools_examples()
    settings = json.loads(examples["vscode-settings"])
    assert settings["json.schemas"][0]["url"] == "./specc.schema.json"
    validator = jsonschema.Draft202012Validator(schema)
    document = yaml.safe_load(examples["digits.specc.yaml"])
    assert list(validator.iter_errors(document)) == []
    document["train"]["max_stepz"] = 10
    assert [error.message for error in validator.iter_errors(document)] == [
        "Additional properties are not allowed ('max_stepz' was unexpected)"
    ]


def test_shell_completion(tmp_path):
    # typer detects the shell from the parent processes; its test switch names it instead
    named = dict(os.environ, _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    shown = subprocess.run([SPECC, "--show-completion", "bash"], env=named, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "_specc_completion()" in shown.stdout and "complete " in shown.stdout
    zsh = subprocess.run([SPECC, "--show-completion", "zsh"], env=named, capture_output=True, text=True, timeout=120)
    assert zsh.returncode == 0 and "#compdef specc" in zsh.stdout
    environment = dict(os.environ, _SPECC_COMPLETE="complete_bash", COMP_WORDS="specc compile spec.mf --backend l",
                       COMP_CWORD="4")
    completed = subprocess.run([SPECC], env=environment, capture_output=True, text=True, timeout=120)
    assert completed.stdout.split() == ["lightning"]
    environment.update(COMP_WORDS="specc li", COMP_CWORD="1")
    assert subprocess.run([SPECC], env=environment, capture_output=True, text=True, timeout=120).stdout.split() == [
        "lint"
    ]
