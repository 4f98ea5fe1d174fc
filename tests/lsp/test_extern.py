"""The language server on a spec with ``extern`` functions (specs/examples/user_function.mf):
no diagnostics, the shapes of a line calling one, go-to-definition of a call, the externs
offered where a graph calls something, and hover on the declaration answers without failing."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.lsp.client import Client, position, text_position

pytest.importorskip("pygls", reason="the language server needs the `editor` extra (pygls)")

EXAMPLES = Path(__file__).resolve().parents[2] / "specs" / "examples"


@pytest.fixture(scope="module")
def opened(tmp_path_factory):
    folder = tmp_path_factory.mktemp("externs")
    for name in ("user_function.mf", "user_function.py"):
        shutil.copy(EXAMPLES / name, folder / name)
    client = Client([sys.executable, "-m", "specc", "lsp"], cwd=str(folder))
    client.initialize(folder)
    path = folder / "user_function.mf"
    uri = client.open(path)
    yield client, uri, path.read_text(encoding="utf-8").split("\n")
    if client.process.poll() is None:
        client.process.kill()
        client.process.wait()


def _line(lines, text: str) -> int:
    return next(number for number, line in enumerate(lines) if text in line)


def test_a_spec_calling_externs_has_no_diagnostics_and_shows_the_shapes(opened):
    client, uri, lines = opened
    assert client.diagnostics(uri) == []
    line = _line(lines, "h = gelu_tanh(linear(x, 128))")
    shown = client.result("textDocument/hover", text_position(uri, line, 2))["contents"]["value"]
    assert shown == f"**Shapes** (line {line + 1})\n\n- `linear(…)`: f32[B, 128]\n- `h`: f32[B, 128]"


def test_definition_of_an_extern_call_is_its_declaration(opened):
    client, uri, lines = opened
    call = _line(lines, "h = gelu_tanh(linear(x, 128))")
    found = client.result("textDocument/definition", text_position(uri, call, lines[call].index("gelu_tanh") + 1))
    declaration = _line(lines, "extern gelu_tanh(")
    assert found == {"uri": uri, "range": {"start": position(declaration, 7), "end": position(declaration, 16)}}


def test_hover_and_completion_on_an_extern_declaration_answer(opened):
    client, uri, lines = opened
    declaration = _line(lines, "extern mix(")
    for column in (2, 9, lines[declaration].index("python") + 2):
        client.result("textDocument/hover", text_position(uri, declaration, column))  # answers: no error
    body = _line(lines, "return linear(h, 10)")
    items = {item["label"] for item in client.result("textDocument/completion", text_position(uri, body, 9))["items"]}
    assert {"gelu_tanh", "mix", "linear"} <= items
