"""Messages name kinds with the right article: never "a int", "a input", "a adversarial"."""

from __future__ import annotations

import pytest

from specc.compiler.vocabulary.words import type_phrase, with_article
from tests.checker.helpers import DIGITS, edit, run


@pytest.mark.parametrize(
    ("noun", "expected"),
    [("optimizer", "an optimizer"), ("input", "an input"), ("objective", "an objective"), ("loss", "a loss"),
     ("adversarial", "an adversarial"), ("uniform", "a uniform"), ("one_step", "a one_step"), ("hyperparameter", "a hyperparameter")],
)
def test_the_article_follows_the_sound_of_the_word(noun, expected):
    assert with_article(noun) == expected


def test_type_phrases():
    assert [type_phrase(kind) for kind in ("int", "float", "str", "bool", "enum")] == [
        "an integer", "a float", "a string", "true or false", "an enum"
    ]


def messages(text: str) -> list[str]:
    return [f"{d.code} {d.message}" for d in run(text).diagnostics]


def test_an_undefined_name_where_an_integer_is_expected():
    assert messages(edit(DIGITS, "batch_size = 16", "batch_size = sixteen")) == [
        "E0301 undefined name `sixteen` (expected an integer)"
    ]


def test_a_loop_variable_hiding_an_input():
    text = edit(DIGITS, "  return linear(relu(linear(x, hidden)), 10)", "  for x in [1] { }\n  return linear(x, 10)")
    assert messages(text) == ["E0605 the loop variable `x` hides an input of the same name"]


def test_no_message_puts_a_fixed_article_before_a_name():
    """`f"a {kind}"` says "a int", "a optimizer": messages use ``with_article`` instead."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(r"""[\s"'(]an? \{""")
    found = [
        f"{path.relative_to(root)}:{number}"
        for folder in ("compiler", "dsl", "runtime", "specc")
        for path in sorted((root / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line) and not line.lstrip().startswith("#")
    ]
    assert found == []
