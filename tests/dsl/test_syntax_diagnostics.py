"""Every syntax diagnostic (E00xx, E01xx) with its exact rendered text and position."""

from __future__ import annotations

import pytest

import specc
from specc.dsl.parser import parse
from tests.dsl.support import rendered

CASES = {
    "E0003_empty": (
        "  \n\n",
        [
            "t.mf:1:1: error[E0003]: empty spec: the file holds nothing\n  |\n1 |   \n  | ^\nhelp: a spec starts with `spec NAME`; see docs/language.md"
        ],
    ),
    "E0101_colon": (
        "data x { lr: 3 }",
        [
            "t.mf:1:12: error[E0101]: expected `=`, `{` or a name after `lr`, found `:`\n  |\n1 | data x { lr: 3 }\n  |            ^\nhelp: entries and keyword arguments are written `key = value`"
        ],
    ),
    "E0101_eof": (
        "data ksin {\n  k = 4\n",
        [
            "t.mf:2:8: error[E0101]: expected `,`, `}` or a name after `4`, found end of file\n  |\n2 |   k = 4\n  |        ^\nhelp: add `}` to close the `{` opened at line 1, column 11"
        ],
    ),
    "E0101_list": (
        "let b = [1, 2\nlet c = 4",
        ["t.mf:2:1: error[E0101]: expected `,` or `]` after `2`, found `let`\n  |\n2 | let c = 4\n  | ^^^"],
    ),
    "E0101_compare_eq": (
        "block f(x: [B]) -> [B] {\n  if a = b { }\n}",
        [
            "t.mf:2:8: error[E0101]: expected an operator, `(`, `[` or `{` after `a`, found `=`\n  |\n2 |   if a = b { }\n  |        ^\nhelp: to compare two values, write `==`"
        ],
    ),
    "E0101_chain": (
        "let a = 1 < 2 < 3",
        [
            "t.mf:1:15: error[E0101]: comparisons do not chain: `<` and then `<`\n  |\n1 | let a = 1 < 2 < 3\n  |               ^\nhelp: write `a < b and b < c`"
        ],
    ),
    "E0101_not": (
        "let a = 1 * not b",
        [
            "t.mf:1:13: error[E0101]: expected an expression after `*`, found `not`\n  |\n1 | let a = 1 * not b\n  |             ^^^\nhelp: put `not ...` in parentheses"
        ],
    ),
    "E0101_top": (
        "let a = 1\n= 2",
        [
            "t.mf:2:1: error[E0101]: expected a top-level item (`let`, `block`, `model`, `import` or a section), an operator, `[` or end of file after `1`, found `=`\n  |\n2 | = 2\n  | ^"
        ],
    ),
    "E0101_wrong_closer": (
        "train { checkpoint { every = 3 ) }",
        [
            "t.mf:1:32: error[E0101]: expected `,`, `}` or a name after `3`, found `)`\n  |\n1 | train { checkpoint { every = 3 ) }\n  |                                ^\nhelp: add `}` to close the `{` opened at line 1, column 20"
        ],
    ),
    "E0102": (
        "let x = 1 @ 2",
        ["t.mf:1:11: error[E0102]: unexpected character `@`\n  |\n1 | let x = 1 @ 2\n  |           ^"],
    ),
    "E0102_quote": (
        "let x = 'a'",
        [
            "t.mf:1:9: error[E0102]: unexpected character `'`\n  |\n1 | let x = 'a'\n  |         ^\nhelp: strings are written in double quotes: \"...\"",
            "t.mf:1:11: error[E0102]: unexpected character `'`\n  |\n1 | let x = 'a'\n  |           ^\nhelp: strings are written in double quotes: \"...\"",
        ],
    ),
    "E0103": (
        'let x = "abc\nlet y = 2',
        [
            't.mf:1:9: error[E0103]: unterminated string\n  |\n1 | let x = "abc\n  |         ^^^^\nhelp: close it with `"` on the same line; write a line break inside a string as \\n and a quote as \\"'
        ],
    ),
    "E0104": (
        'let x = "a\\qb"',
        [
            't.mf:1:11: error[E0104]: invalid escape sequence `\\q` in a string\n  |\n1 | let x = "a\\qb"\n  |           ^^\nhelp: escapes are \\" \\\\ \\n \\t \\r and \\u{...} (a hexadecimal code point); write a backslash as \\\\'
        ],
    ),
    "E0106": (
        "let x = 1__0",
        [
            "t.mf:1:9: error[E0106]: malformed number `1__0`\n  |\n1 | let x = 1__0\n  |         ^^^^\nhelp: `_` may only stand between two digits, as in `100_000`"
        ],
    ),
    "E0106_big": (
        "let x = 1e999",
        [
            "t.mf:1:9: error[E0106]: number `1e999` is too large\n  |\n1 | let x = 1e999\n  |         ^^^^^\nhelp: the largest float is about 1.8e308"
        ],
    ),
    "E0107": (
        "let x = f(a = 1, 2)",
        [
            "t.mf:1:18: error[E0107]: positional argument after a keyword argument\n  |\n1 | let x = f(a = 1, 2)\n  |                  ^\nhelp: put positional arguments first"
        ],
    ),
    "E0108": (
        "let x = f(a = 1, a = 2)",
        [
            "t.mf:1:18: error[E0108]: keyword argument `a` given twice\n  |\n1 | let x = f(a = 1, a = 2)\n  |                  ^^^^^"
        ],
    ),
    "E0109": (
        "optimizer g: adam {\n  lr = 1\n  lr = 2\n}",
        [
            "t.mf:3:3: error[E0109]: `lr` is given twice in `optimizer g: adam`\n  |\n3 |   lr = 2\n  |   ^^\nhelp: remove one: the first is at line 2, column 3"
        ],
    ),
    "E0110": (
        "let class = 1",
        [
            "t.mf:1:5: error[E0110]: `class` cannot be used as a name: it is a Python keyword\n  |\n1 | let class = 1\n  |     ^^^^^\nhelp: choose another name"
        ],
    ),
    "E0110_dunder": (
        "data d { __init__ = 1 }",
        [
            "t.mf:1:10: error[E0110]: `__init__` cannot be used as a name: names starting with `__` are reserved\n  |\n1 | data d { __init__ = 1 }\n  |          ^^^^^^^^\nhelp: choose another name"
        ],
    ),
    "E0110_none": (
        "let x = None",
        [
            "t.mf:1:9: error[E0110]: `None` cannot be used as a name: it is a Python keyword\n  |\n1 | let x = None\n  |         ^^^^\nhelp: the language has no null value: leave the key out to get its default"
        ],
    ),
    "E0111": (
        'let a = 1\nimport "b.mf"',
        [
            't.mf:2:1: error[E0111]: `import` must come before the first item\n  |\n2 | import "b.mf"\n  | ^^^^^^^^^^^^^'
        ],
    ),
    "E0111_spec": (
        "let a = 1\nspec late",
        [
            "t.mf:2:1: error[E0111]: `spec NAME` must be the first line, and appear once\n  |\n2 | spec late\n  | ^^^^^^^^^"
        ],
    ),
    "E0112": (
        "spec s\nlanguage 2",
        [
            "t.mf:2:10: error[E0112]: this spec is written for language 2; this specc understands language 1 at most\n  |\n2 | language 2\n  |          ^\nhelp: upgrade specc (this is specc 0.1.0)"
        ],
    ),
    "E0112_zero": (
        "language 0",
        [
            "t.mf:1:10: error[E0112]: invalid language version `0`\n  |\n1 | language 0\n  |          ^\nhelp: write `language 1`"
        ],
    ),
    "E0113": (
        "block b(x: tensor) -> [B] { return x }",
        [
            "t.mf:1:12: error[E0113]: unknown parameter type `tensor`\n  |\n1 | block b(x: tensor) -> [B] { return x }\n  |            ^^^^^^\nhelp: a parameter is a tensor (`[B, D]`, `f32[B, T, C]`) or one of `int`, `float`, `bool`, `str`, `list`"
        ],
    ),
    "E0113_out": (
        "block b(x: [B]) -> [B], dict { return x }",
        [
            "t.mf:1:25: error[E0113]: unknown output type `dict`\n  |\n1 | block b(x: [B]) -> [B], dict { return x }\n  |                         ^^^^\nhelp: an output is a tensor (`[B, D]`, `f32[B, 10]`) or `list` (a list of tensors)"
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rendered_text(name):
    text, expected = CASES[name]
    assert rendered(text) == [e.replace("specc 0.1.0", f"specc {specc.__version__}") for e in expected]


def test_nesting_too_deep_is_reported_where_it_gets_too_deep():
    text = "let x = " + "[" * 300 + "]" * 300
    column = 8 + 100  # the 100th bracket opens a list 201 levels deep (the first too deep)
    # the 608-column line is shown as a 120-column window from 40 columns before the span
    window = "..." + text[column - 1 - 40 : column - 1 - 40 + 120] + "..."
    caret = " " * (3 + 40) + "^" * (120 - 40)
    assert rendered(text) == [
        "t.mf:1:108: error[E0105]: expression nested more than 200 levels deep\n"
        f"  |\n1 | {window}\n  | {caret}\n"
        "help: split it into several steps (`let` constants, intermediate values, blocks)"
    ]


def test_all_recoverable_problems_are_reported_at_once_and_the_module_kept():
    text = 'let class = "a\\q"\nlet __x = f(b = 1, 2)\ndata d { lr = 1, lr = 2 }'
    module, diagnostics = parse(text, "t.mf")
    assert module is not None and len(module.items) == 3
    assert [(d.code, d.span.line, d.span.column) for d in diagnostics] == [
        ("E0110", 1, 5),
        ("E0104", 1, 15),
        ("E0110", 2, 5),
        ("E0107", 2, 20),
        ("E0109", 3, 18),
    ]


def test_stray_characters_on_several_lines_are_all_reported():
    text = "let a = 1 $\nlet b = 2\nlet c = ~3"
    module, diagnostics = parse(text, "t.mf")
    assert module is not None
    assert [(d.code, d.span.line, d.span.column) for d in diagnostics] == [("E0102", 1, 11), ("E0102", 3, 9)]


def test_a_syntax_error_after_a_stray_character_on_the_same_line_is_not_repeated():
    module, diagnostics = parse("let a = 1 @ 2", "t.mf")
    assert module is None and [d.code for d in diagnostics] == ["E0102"]


def test_diagnostics_render_without_python_tracebacks_for_odd_tokens():
    (text,) = rendered("let x = " + '"' + "a" * 40 + '" "b"')
    assert 'after `"aaaaaaaaaaaaaaaaaaaa...`' in text


def test_a_number_too_long_for_python_is_a_diagnostic():
    module, diagnostics = parse("let n = " + "9" * 5000, "t.mf")
    assert module is not None
    assert [(d.code, d.message) for d in diagnostics] == [("E0106", "number with 5000 digits is too long")]


def test_parsing_restarts_at_the_next_top_level_item_to_report_later_errors():
    text = (
        "data x {\nlr: 3\nbatch = 4\n}\n"  # the restart skips the rest of this section
        "let a = = 2\n"
        "optimizer adam {\n  lr = 1e-3\n  wd: 3\n}\n"
        'let s = "abc\n'
        "let ok = 1\n"
        "let q = [1 2]\n"
    )
    module, diagnostics = parse(text, "t.mf")
    assert module is None
    assert [(d.code, d.span.line, d.span.column) for d in diagnostics] == [
        ("E0101", 2, 3),
        ("E0101", 5, 9),
        ("E0101", 8, 5),
        ("E0103", 10, 9),
        ("E0101", 12, 12),
    ]
    assert diagnostics[1].help is None


def test_no_restart_inside_unbalanced_brackets():
    module, diagnostics = parse("data x {\n  lr = 3\n\nlet a = = 2\n", "t.mf")
    assert [(d.code, d.span.line) for d in diagnostics] == [("E0101", 4)]


def test_at_most_ten_syntax_errors():
    _, diagnostics = parse("let a = = 1\n" * 30, "t.mf")
    assert len(diagnostics) == 10
