"""Rendering: filters, determinism, formatter stability, parseability of every backend's output."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest
from specc.compiler.backends import available_backends, get_backend
from specc.compiler.emit import render as emit
from specc.compiler.emit.filters import EmitError, comment, identifier, literal

from tests.backends import fixtures

BACKENDS = [name for name in available_backends() if (emit.template_root() / get_backend(name).template).is_file()]


@pytest.mark.parametrize("value", [None, True, 0, -3, 1.5, -0.0, 1e-300, float("inf"), "a'b\"c\n\\", (1,), (1, "x"), [1, 2], {"b": 1, "a": (2,)}])
def test_literal_round_trips(value):
    assert eval(literal(value), {}) == value  # noqa: S307 - evaluating our own literal


def test_literal_refuses_other_types():
    with pytest.raises(EmitError):
        literal(object())
    with pytest.raises(EmitError):
        literal({1: 2})


@pytest.mark.parametrize("name", ["class", "__import__", "__x", "a-b", "1a", "a b", "а", "x\n", "", None])
def test_identifier_refuses(name):
    with pytest.raises(EmitError):
        identifier(name)


def test_identifier_accepts_plain_and_soft_keywords():
    assert identifier("linear_0") == "linear_0"
    assert identifier("match") == "match"


def test_comment_cannot_break_out():
    text = comment('a\nimport os  """ \\ \u202e é')
    assert "\n" not in text and '"' not in text and "\\" not in text
    assert text.isascii()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["digits_mlp", "ksin_flow", "regression"])
def test_render_is_deterministic_parses_and_format_stable(backend, name):
    first = emit.render(fixtures.program(name), backend)
    second = emit.render(fixtures.program(name), backend)
    assert first == second
    ast.parse(first)
    assert emit.format_source(first) == first


def test_the_format_ignores_the_configuration_of_the_working_folder(tmp_path, monkeypatch):
    """A user's ruff settings (line length, quotes) do not change a generated script."""
    (tmp_path / "pyproject.toml").write_text('[tool.ruff]\nline-length = 40\n[tool.ruff.format]\nquote-style = "single"\n')
    expected = emit.render(fixtures.program("digits_mlp"), "jax")
    monkeypatch.chdir(tmp_path)
    assert emit.render(fixtures.program("digits_mlp"), "jax") == expected


def test_a_missing_formatter_is_an_installation_error_not_a_traceback(monkeypatch):
    def missing():
        raise FileNotFoundError("/venv/bin/ruff")

    monkeypatch.setattr(emit, "formatter", missing)
    with pytest.raises(EmitError, match=r"^cannot run the ruff formatter \(/venv/bin/ruff\): reinstall specc \(pip install specc\) to get ruff$"):
        emit.format_source("x = 1\n")


def test_code_that_does_not_parse_is_named_a_compiler_bug():
    with pytest.raises(EmitError, match=r"generated code does not parse \(a specc bug\): .*"):
        emit.format_source("def broken(:\n")


def test_render_does_not_depend_on_hash_seed():
    code = (
        "import sys; from specc.compiler.emit import render as emit; from tests.backends import fixtures;"
        "sys.stdout.write(emit.render(fixtures.program('ksin_flow'), 'jax'))"
    )
    outputs = set()
    for seed in ("0", "1", "12345"):
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONHASHSEED": seed, "PATH": ""},
            cwd=str(fixtures_root()), check=True,
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1


def fixtures_root():
    from tests.backends.runner import REPOSITORY

    return REPOSITORY


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown backend 'tensorflow'; known backends: jax, lightning, mlx"):
        emit.render(fixtures.program("digits_mlp"), "tensorflow")


def test_model_classes_follow_the_ir():
    text = emit.render(fixtures.program("ksin_flow"), "jax")
    assert "class FilmMlp(nnx.Module):" in text
    assert "self.repeat_0 = nnx.List([FilmMlp() for _ in range(2)])" in text
    assert "scale, shift = layers.split(film, sections=2)" in text
    assert "one_plus = 1 + scale" in text
    assert "for module in self.repeat_0:\n            h = module(h, c)" in text
    assert "lr = 0.001  # ksin_flow.mf:31" in text
