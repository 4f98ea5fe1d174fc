"""The VS Code extension's TextMate grammar against the example specs: every token of every
spec gets a scope of its own (never only the root) and none is `invalid`; the manifest
points at the grammar and the language configuration."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from specc.compiler.vocabulary import registry
from tests.lsp.textmate import Grammar

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "editors" / "vscode"
GRAMMAR = EXTENSION / "syntaxes" / "specc.tmLanguage.json"
EXAMPLES = sorted((ROOT / "specs").glob("*.mf")) + sorted((ROOT / "specs" / "std").glob("*.mf"))


@pytest.fixture(scope="module")
def grammar() -> Grammar:
    return Grammar(GRAMMAR)


def unscoped(grammar: Grammar, text: str) -> list[str]:
    """``line: token scopes`` of each non-blank token that has only the root scope or an
    ``invalid`` one."""
    found = []
    for number, tokens in enumerate(grammar.tokenize(text), 1):
        for token in tokens:
            if not token.text.strip():
                continue
            if len(token.scopes) == 1 or any(scope.startswith("invalid") for scope in token.scopes):
                found.append(f"{number}: {token.text!r} {token.scopes}")
    return found


def test_the_examples_are_all_there():
    assert len(EXAMPLES) >= 10 and any(path.parent.name == "std" for path in EXAMPLES)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_token_of_an_example_spec_has_a_scope(grammar, path):
    assert unscoped(grammar, path.read_text(encoding="utf-8")) == []


def test_the_check_flags_a_character_the_grammar_does_not_know(grammar):
    assert unscoped(grammar, "let x = 1 @ 2") == ["1: '@' ('source.specc', 'invalid.illegal.character.specc')"]


def _scopes(grammar: Grammar, line: str) -> dict[str, str]:
    return {token.text: token.scopes[-1] for token in grammar.tokenize(line)[0] if token.text.strip()}


def test_the_grammar_tells_the_parts_of_a_spec_apart(grammar):
    assert _scopes(grammar, "optimizer generator: adam { lr = 1e-4 }  # note") == {
        "optimizer": "storage.type.section.specc",
        "generator": "entity.name.section.specc",
        ":": "punctuation.separator.colon.specc",
        "adam": "support.class.component.specc",
        "{": "punctuation.section.braces.specc",
        "lr": "variable.other.property.specc",
        "=": "keyword.operator.specc",
        "1e-4": "constant.numeric.specc",
        "}": "punctuation.section.braces.specc",
        "# note": "comment.line.number-sign.specc",
    }
    assert _scopes(grammar, 'block film(x: f32[B, D]) -> [B, D] { return linear(x, "a\\"b") }') == {
        "block": "storage.type.block.specc",
        "film": "entity.name.function.specc",
        "(": "punctuation.section.parens.specc",
        "x": "variable.other.specc",
        ":": "punctuation.separator.colon.specc",
        "f32": "support.type.specc",
        "[": "punctuation.section.brackets.specc",
        "B": "variable.other.specc",
        ",": "punctuation.separator.comma.specc",
        "D": "variable.other.specc",
        "]": "punctuation.section.brackets.specc",
        ")": "punctuation.section.parens.specc",
        "->": "keyword.operator.arrow.specc",
        "{": "punctuation.section.braces.specc",
        "return": "keyword.control.specc",
        "linear": "entity.name.function.call.specc",
        '"': "punctuation.definition.string.end.specc",
        "a": "string.quoted.double.specc",
        '\\"': "constant.character.escape.specc",
        "b": "string.quoted.double.specc",
        "}": "punctuation.section.braces.specc",
    }


def test_every_section_of_the_registry_is_coloured_as_a_section(grammar):
    pattern = json.loads(GRAMMAR.read_text())["repository"]["section"]["match"]
    named = set(re.search(r"\(([a-z_|]+)\)", pattern).group(1).split("|"))
    assert named == set(registry.SECTIONS)


def test_the_manifest_wires_the_grammar_the_configuration_and_the_client():
    manifest = json.loads((EXTENSION / "package.json").read_text())
    language = manifest["contributes"]["languages"][0]
    assert language["extensions"] == [".mf"]
    assert (EXTENSION / language["configuration"]).is_file()
    grammar_entry = manifest["contributes"]["grammars"][0]
    assert (EXTENSION / grammar_entry["path"]).resolve() == GRAMMAR
    assert grammar_entry["scopeName"] == json.loads(GRAMMAR.read_text())["scopeName"]
    assert manifest["contributes"]["configuration"]["properties"]["specc.command"]["default"] == ["specc", "lsp"]
    client = (EXTENSION / manifest["main"]).read_text()
    assert 'require("vscode-languageclient/node")' in client
    assert 'getConfiguration("specc").get("command", ["specc", "lsp"])' in client
    configuration = json.loads((EXTENSION / "language-configuration.json").read_text())
    assert configuration["comments"] == {"lineComment": "#"}
