"""`specc lint --backend B` and `specc compile --backend B` agree on every spec of the corpus.

The corpus: every ``specs/*.mf``, every case of ``tests/checker/cases.py`` (one small spec per
diagnostic code) and the variant specs of ``test_every_key_has_an_effect.py``. For each
backend, lint and compile both accept or both refuse, with the same diagnostics; a compile
that fails after the checker accepted (an emitter error: unpositioned, unseen by lint) is a
failure of this test.

The example specs and the cases run through the CLI's own command functions
(``run_lint``, ``compile``) on files; the variants (many) through ``pipeline.check`` and
``emit.render.render`` exactly as those commands call them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

import specc.specs
from specc.compiler.backends import BACKEND_NAMES
from specc.compiler.cli import app as cli_app
from specc.compiler.cli.main import run_lint
from tests.checker.cases import CASES, build
from tests.checker.helpers import memory_reader, rendered

SPECS = sorted(Path(specc.specs.__file__).parent.glob("*.mf"))


def _lint(path: str, overrides, backend: str, capsys) -> tuple[int, str]:
    capsys.readouterr()
    status = run_lint([path], "text", False, list(overrides), backend)
    return status, capsys.readouterr().out


def _compile(path: str, overrides, backend: str, output: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    try:
        cli_app.compile(spec=path, backend=backend, output=str(output), set_=list(overrides), check_only=False)
        status = 0
    except typer.Exit as stop:
        status = stop.exit_code
    errors = capsys.readouterr().err
    lines = [line for line in errors.splitlines(keepends=True) if not line.startswith("wrote ")]
    return status, "".join(lines)


def _agree(path: str, overrides, backend: str, tmp_path: Path, capsys) -> None:
    lint_status, lint_text = _lint(path, overrides, backend, capsys)
    compile_status, compile_text = _compile(path, overrides, backend, tmp_path / "train.py", capsys)
    assert compile_text == lint_text, f"compile --backend {backend} said more than lint:\n{compile_text}"
    assert compile_status == lint_status, f"lint exit {lint_status}, compile exit {compile_status}"
    if compile_status == 0:
        assert (tmp_path / "train.py").is_file()


@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize("spec", SPECS, ids=lambda path: path.stem)
def test_example_specs(spec, backend, tmp_path, capsys):
    _agree(str(spec), (), backend, tmp_path, capsys)


@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_checker_cases(name, backend, tmp_path, capsys, monkeypatch):
    text, overrides, _ = build(name)
    (tmp_path / "spec.mf").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    _agree("spec.mf", overrides, backend, tmp_path, capsys)


def _variant_items():
    from tests.checker.test_every_key_has_an_effect import variants

    seen = set()
    for label, text, overrides in variants():
        if (text, overrides) not in seen:
            seen.add((text, overrides))
            yield pytest.param(text, overrides, id=label)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize(("text", "overrides"), list(_variant_items()))
def test_every_key_variants(text, overrides, backend):
    from specc.compiler import pipeline
    from specc.compiler.emit.render import render
    from tests.checker.test_every_key_has_an_effect import USER_FILES

    read = memory_reader({"spec.mf": text, **USER_FILES})
    linted = pipeline.check("spec.mf", read, tuple(overrides), backend, library_ok=True)
    compiled = pipeline.check("spec.mf", read, tuple(overrides), backend)
    assert rendered(compiled) == rendered(linted)
    assert (compiled.program is None) == (linted.program is None)
    if compiled.program is not None:
        assert render(compiled.program, backend)  # raises nothing after the checker accepted
