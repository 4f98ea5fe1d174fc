"""What a hostile or unlucky user can feed the front end ends in a positioned diagnostic:
never a traceback, a hang, unbounded memory or unbounded output (issue 13).

Every test goes through a real entry point: ``compiler.pipeline.check`` with the command
line's own ``read``, or ``specc lint`` / ``fmt`` / ``compile`` themselves."""

from __future__ import annotations

import json
import os
import sys

import pytest
from typer.testing import CliRunner

from specc.compiler import pipeline
from specc.compiler.cli.main import app, read, run_fmt, run_lint
from specc.dsl import parser
from specc.dsl.diagnostics import render_text
from specc.dsl.source import MAX_FILE_BYTES, Unreadable
from tests.checker.helpers import DIGITS


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def checked(text: str, overrides=(), name: str = "spec.mf"):
    with open(name, "w", encoding="utf-8") as handle:
        handle.write(text)
    return pipeline.check(name, read, tuple(overrides))


def shown(result, code: str | None = None) -> list[str]:
    return [render_text(d, result.sources) for d in result.diagnostics if code is None or d.code == code]


# ------------------------------------------------------------------ constant folding


def test_zero_to_a_negative_power_is_a_positioned_diagnostic_in_a_section_value(folder):
    result = checked(DIGITS.replace("lr = 1e-3", "lr = 0 ** -1"))
    assert shown(result) == [
        "spec.mf:17:23: error[E0305]: zero cannot be raised to a negative power\n"
        "   |\n"
        "17 | optimizer adam { lr = 0 ** -1 }\n"
        "   |                       ^^^^^^^"
    ]


def test_zero_to_a_negative_power_is_a_positioned_diagnostic_in_a_let(folder):
    result = checked(DIGITS.replace("let hidden = 32\n", "let hidden = 32\nlet rate = 0 ** -1\n"))
    assert shown(result) == [
        "spec.mf:3:12: error[E0305]: zero cannot be raised to a negative power\n"
        "  |\n"
        "3 | let rate = 0 ** -1\n"
        "  |            ^^^^^^^"
    ]


def test_zero_to_a_negative_power_is_a_positioned_diagnostic_in_an_override(folder):
    result = checked(DIGITS, ["optimizer.lr=0 ** -1"])
    assert shown(result) == [
        "--set:1:14: error[E0305]: zero cannot be raised to a negative power\n"
        "  |\n"
        "1 | optimizer.lr=0 ** -1\n"
        "  |              ^^^^^^^"
    ]


INTEGER_RANGE = "out of range: integers are at most 2**63 in size"
FLOAT_RANGE = "out of range: floats are at most about 1.8e308"
FOLDING = [
    ("1 / 0", "division by zero in a constant expression"),
    ("7 // 0.0", "division by zero in a constant expression"),
    ("1.5 % 0", "division by zero in a constant expression"),
    ("0.0 ** -2", "zero cannot be raised to a negative power"),
    ("10 ** 10 ** 10", f"the result of `**` is {INTEGER_RANGE}"),
    ("2 ** 64", f"the result of `**` is {INTEGER_RANGE}"),
    ("3 ** 40", f"the result of `**` is {INTEGER_RANGE}"),
    ("2 ** 62 * 4", f"the result of `*` is {INTEGER_RANGE}"),
    ("1e300 * 1e300", f"the result of `*` is {FLOAT_RANGE}"),
    ("1e308 + 1e308", f"the result of `+` is {FLOAT_RANGE}"),
    ("2.0 ** 10000", f"the result of `**` is {FLOAT_RANGE}"),
    ("1" + "0" * 400 + " / 3", f"the result of `/` is {FLOAT_RANGE}"),
    ("1" + "0" * 400 + " * 1.5", f"the result of `*` is {FLOAT_RANGE}"),
    ("1" + "0" * 400 + " // 1.5", f"the result of `//` is {FLOAT_RANGE}"),
    ("2.0 ** -" + "1" * 400, f"the result of `**` is {FLOAT_RANGE}"),
    ("(-8) ** 0.5", "the result of `**` is not a real number"),
]


@pytest.mark.parametrize("expression, message", FOLDING)
def test_every_folding_failure_is_one_positioned_diagnostic(folder, expression, message):
    """The class: every operation whose result a spec cannot use, in a `let`, a section value
    and an override alike (`10 ** 10 ** 10` is refused before it is computed)."""
    spec = DIGITS.replace("let hidden = 32\n", f"let hidden = 32\nlet rate = {expression}\n")
    [error] = checked(spec).errors
    assert (error.code, error.span.line, error.span.column, error.message) == ("E0305", 3, 12, message)
    [error] = checked(DIGITS.replace("lr = 1e-3", f"lr = {expression}")).errors
    assert (error.code, error.span.line, error.span.column, error.message) == ("E0305", 17, 23, message)
    [error] = checked(DIGITS, [f"optimizer.lr={expression}"]).errors
    assert (error.code, error.span.file, error.span.column, error.message) == ("E0305", "--set", 14, message)


@pytest.mark.parametrize("expression, message", FOLDING[3:])
def test_the_same_failures_in_a_model_graph_are_e0609(folder, expression, message):
    message = message.replace("division by zero in a constant expression", "division by zero in `//`")
    result = checked(DIGITS.replace("linear(x, hidden)", f"linear(x, {expression})"))
    assert [(d.code, d.span.line, d.span.column, d.message) for d in result.errors] == [("E0609", 9, 32, message)]


def test_a_string_or_a_loss_doubled_by_lets_is_refused_not_built(folder):
    doubling = "".join(f"let s{i + 1} = s{i} + s{i}\n" for i in range(40))
    result = checked(DIGITS.replace("let hidden = 32\n", 'let hidden = 32\nlet s0 = "' + "x" * 64 + '"\n' + doubling))
    [error] = result.errors
    assert (error.code, error.span.line, error.message) == (
        "E0305",
        17,  # s14: 64 * 2 ** 14 characters
        "the result of `+` is out of range: strings are at most 1,000,000 characters",
    )
    losses = "".join(f"let l{i + 1} = l{i} + l{i}\n" for i in range(40))
    result = checked(DIGITS.replace("let hidden = 32\n", "let hidden = 32\nlet l0 = cross_entropy\n" + losses))
    [error] = result.errors
    assert (error.code, error.span.line, error.message) == (
        "E0305",
        13,  # l10: 1,024 terms
        "the result of `+` is out of range: a loss is a sum of at most 1,000 terms",
    )


# ------------------------------------------------------------------ reading files


def import_spec(path: str) -> str:
    return DIGITS.replace("let hidden = 32\n", f'import "{path}"\nlet hidden = 32\n')


def import_error(result) -> str:
    [error] = result.errors
    return render_text(error, result.sources)


def caret_under_import(path: str) -> str:
    line = f'import "{path}"'
    return f"  |\n2 | {line}\n  | {'^' * len(line)}"


def test_importing_a_named_pipe_is_refused_without_blocking(folder):
    os.mkfifo("pipe.mf")
    assert import_error(checked(import_spec("pipe.mf"))) == (
        "spec.mf:2:1: error[E0208]: cannot read `pipe.mf`: it is a named pipe (FIFO), not a regular file\n"
        + caret_under_import("pipe.mf")
        + "\nhelp: a spec is a regular file (a symbolic link to one is followed)"
    )


def test_importing_a_link_to_dev_zero_is_refused_without_reading(folder):
    os.symlink("/dev/zero", "zero.mf")
    assert import_error(checked(import_spec("zero.mf"))) == (
        "spec.mf:2:1: error[E0208]: cannot read `zero.mf`: it is a character device, not a regular file\n"
        + caret_under_import("zero.mf")
        + "\nhelp: a spec is a regular file (a symbolic link to one is followed)"
    )


def test_importing_a_directory(folder):
    os.mkdir("blocks.mf")
    assert import_error(checked(import_spec("blocks.mf"))) == (
        "spec.mf:2:1: error[E0202]: `blocks.mf` is a directory, not a spec file\n" + caret_under_import("blocks.mf")
    )


def test_importing_a_file_larger_than_the_limit(folder):
    with open("big.mf", "wb") as handle:
        handle.write(b"let a = 1\n" + b"#" * MAX_FILE_BYTES)
    assert import_error(checked(import_spec("big.mf"))) == (
        "spec.mf:2:1: error[E0209]: cannot read `big.mf`: it is larger than 16 MiB, the most a spec file may hold\n"
        + caret_under_import("big.mf")
        + "\nhelp: split it into several files that import each other"
    )


def test_the_reader_takes_exactly_the_limit_and_refuses_one_byte_more(folder):
    with open("limit.mf", "wb") as handle:
        handle.write(b"#" * MAX_FILE_BYTES)
    assert len(read("limit.mf")) == MAX_FILE_BYTES == 16 * 1024 * 1024
    with open("limit.mf", "ab") as handle:
        handle.write(b"#")
    with pytest.raises(Unreadable) as refusal:
        read("limit.mf")
    assert refusal.value.code == "E0209"


def test_importing_a_file_that_cannot_be_opened(folder, monkeypatch):
    with open("secret.mf", "w", encoding="utf-8") as handle:
        handle.write("let a = 1\n")
    real_open = os.open

    def denying_open(path, *arguments, **keywords):  # permissions do not stop root: refuse here
        if os.fspath(path).endswith("secret.mf"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *arguments, **keywords)

    monkeypatch.setattr(os, "open", denying_open)
    assert import_error(checked(import_spec("secret.mf"))) == (
        "spec.mf:2:1: error[E0205]: cannot read `secret.mf`: Permission denied\n" + caret_under_import("secret.mf")
    )


def test_importing_a_path_holding_a_nul_character(folder):
    assert import_error(checked(import_spec("a\\u{0}b.mf"))) == (
        "spec.mf:2:1: error[E0205]: cannot read `a\\u{0}b.mf`: the path holds a NUL character\n"
        + caret_under_import("a\\u{0}b.mf")
    )


def test_importing_a_file_that_is_not_utf8_names_the_import(folder):
    with open("latin.mf", "wb") as handle:
        handle.write(b'let name = "caf\xe9"\n')
    assert import_error(checked(import_spec("latin.mf"))) == (
        "latin.mf:1:16: error[E0001]: the file is not valid UTF-8: byte 0xe9 at offset 15\n"
        "  |\n"
        '1 | let name = "caf\ufffd"\n'
        "  |                ^\n"
        "help: save the file as UTF-8\n"
        "note: imported at spec.mf:2:1"
    )


def link_to_dev_zero(path: str) -> None:
    os.symlink("/dev/zero", path)


@pytest.mark.parametrize(
    "make, message",
    [
        (os.mkfifo, "pipe.mf:1:1: error[E0208]: cannot read `pipe.mf`: it is a named pipe (FIFO), not a regular file"),
        (link_to_dev_zero, "pipe.mf:1:1: error[E0208]: cannot read `pipe.mf`: it is a character device, not a regular file"),
    ],
)
def test_the_spec_named_on_the_command_line_gets_the_same_treatment(folder, capsys, make, message):
    make("pipe.mf")
    help = "help: a spec is a regular file (a symbolic link to one is followed)"
    assert run_lint(["pipe.mf"], "text", False, []) == 1
    output = capsys.readouterr()
    assert output.out == f"{message}\n{help}\n"
    assert run_fmt(["pipe.mf"], False) == 1
    assert capsys.readouterr().err == f"{message}\n{help}\n"
    result = CliRunner().invoke(app, ["compile", "pipe.mf", "--backend", "jax"])
    assert result.exit_code == 1
    assert result.output == f"{message}\n{help}\n"


# ------------------------------------------------------------------ the standard library


def test_a_std_import_cannot_leave_the_standard_library_folder(folder):
    for written in ("std/../../x.mf", "std/../pipeline.mf", "std/a/../../b.mf"):
        line = f'import "{written}"'
        assert import_error(checked(import_spec(written))) == (
            f"spec.mf:2:1: error[E0210]: `{written}` leaves the standard library folder\n"
            f"  |\n2 | {line}\n  | {'^' * len(line)}\n"
            "help: a `std/` import names a file of specc's standard library (specs/std)"
        )


def test_a_std_file_that_links_out_of_the_folder_is_refused(folder, monkeypatch):
    library = folder / "std"
    library.mkdir()
    (library / "inside.mf").write_text("let a = 1\n")
    (folder / "outside.mf").write_text("let b = 2\n")
    os.symlink(folder / "outside.mf", library / "link.mf")
    monkeypatch.setattr(pipeline, "std_root", lambda: str(library))
    assert checked(import_spec("std/inside.mf")).errors == []
    assert import_error(checked(import_spec("std/link.mf"))) == (
        "spec.mf:2:1: error[E0210]: cannot read `<std>/link.mf`: it leads out of the standard library folder\n"
        + caret_under_import("std/link.mf")
        + "\nhelp: a `std/` import names a file of specc's standard library (specs/std)"
    )


# ------------------------------------------------------------------ file names that are not UTF-8

LATIN = os.fsdecode(b"caf\xe9.mf")  # a lone surrogate stands for the byte 0xe9


@pytest.fixture
def latin_name(folder):
    if sys.getfilesystemencoding().lower() not in ("utf-8", "utf8"):  # pragma: no cover
        pytest.fail("these tests need a UTF-8 file system encoding (Linux, macOS)")
    return LATIN


def test_a_spec_whose_name_is_not_utf8_lints_and_compiles(latin_name, capsys):
    with open(latin_name, "w", encoding="utf-8") as handle:
        handle.write(DIGITS)
    result = pipeline.check(latin_name, read)
    assert result.errors == [] and len(result.program.spec_hash) == 64
    assert run_lint([latin_name], "text", False, []) == 0
    assert capsys.readouterr().err == "1 file(s) checked, no problems\n"
    compiled = CliRunner().invoke(app, ["compile", latin_name, "--backend", "jax", "-o", "train.py"])
    assert compiled.exit_code == 0, compiled.output


@pytest.mark.parametrize("output_format", ["text", "json", "github", "sarif"])
def test_diagnostics_print_a_name_that_is_not_utf8(latin_name, capsys, output_format):
    with open(latin_name, "w", encoding="utf-8") as handle:
        handle.write(DIGITS.replace("lr = 1e-3", "lrr = 1e-3"))
    assert run_lint([latin_name], output_format, False, []) == 1
    out = capsys.readouterr().out
    if output_format == "text":
        assert out.startswith("caf\\xe9.mf:17:18: error[E0401]: unknown key `lrr` in optimizer adam\n")
    elif output_format == "json":
        assert json.loads(out)[0]["file"] == "caf\\xe9.mf"
    elif output_format == "github":
        assert out.startswith("::error file=caf\\xe9.mf,line=17,col=18,")
    else:
        assert json.loads(out)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"] == {
            "uri": "caf\\xe9.mf"
        }


def test_an_override_that_is_not_utf8_is_printed_not_a_crash(folder, capsys):
    with open("spec.mf", "w", encoding="utf-8") as handle:
        handle.write(DIGITS)
    override = "optimizer.lr=1" + os.fsdecode(b"\xff")
    assert run_lint(["spec.mf"], "text", False, [override]) == 1
    assert capsys.readouterr().out == (
        "--set:1:15: error[E0102]: unexpected character `\\u{dcff}`\n"
        "  |\n"
        "1 | optimizer.lr=1\\udcff\n"
        "  |               ^\n"
    )


# ------------------------------------------------------------------ keywords as keys

KEYWORDS = ["spec", "language", "extends", "import", "let", "block", "model", "extern", "return", "repeat", "for", "in",
            "if", "else", "not", "or", "and", "true", "false"]
ENDINGS = {"call": "f()", "list": "[1]", "number": "1", "string": '"s"', "name": "x", "mapping": "{ a = 1 }",
           "reference": "a.b", "parentheses": "(1)", "call with keywords": "f(a = 1)", "sum": "x + 1"}


def test_the_keywords_are_the_ones_the_grammar_has():
    parse_table, _ = parser._shared_parser()
    from specc.dsl.lexer import punctuation_and_keywords

    assert sorted(punctuation_and_keywords(parse_table.terminals)[1]) == sorted(KEYWORDS)


@pytest.mark.parametrize("keyword", KEYWORDS)
def test_every_keyword_is_a_key_after_every_kind_of_value(keyword):
    """A keyword written as a key parses the same wherever it stands: first, after an entry
    (whatever its value ends with), after a nested section, in a mapping, as a keyword
    argument. Those that are Python keywords are E0110 (a reserved name) everywhere alike."""
    alone, expected = parser.parse(f"train {{\n  {keyword} = 1\n}}\n", "t.mf")
    assert alone is not None and alone.items[0].body[0].key == keyword
    expected = [d.code for d in expected]
    assert expected in ([], ["E0110"])
    for ending, value in ENDINGS.items():
        texts = [
            f"train {{\n  a = {value}\n  {keyword} = 1\n}}\n",
            f"train {{ a = {value}, {keyword} = 1 }}\n",
            f"train {{\n  a = {{ b = {value}\n  {keyword} = 1 }}\n}}\n",
            f"train {{ a = f(b = {value}, {keyword} = 1) }}\n",
        ]
        for text in texts:
            module, diagnostics = parser.parse(text, "t.mf")
            assert module is not None and [d.code for d in diagnostics] == expected, (ending, text)
    module, diagnostics = parser.parse(f"train {{\n  checkpoint {{ every = 1 }}\n  {keyword} = 1\n}}\n", "t.mf")
    assert module is not None and [d.code for d in diagnostics] == expected


def test_an_objective_lists_model_after_a_loss_call(folder):
    """The issue's own example: `model = mlp` on the line after `loss = cross_entropy()`."""
    spec = DIGITS.replace("  model = mlp\n", "  loss = cross_entropy()\n  model = mlp\n")
    result = checked(spec)
    assert result.diagnostics == [] and result.program is not None


def test_keywords_still_start_items_and_statements_after_a_value():
    text = (
        "let a = f()\nmodel m(x: f32[B, 4]) -> f32[B, 4] {\n  h = f(x)\n  if true { h = x }\n"
        "  for c in [1] { h = x }\n  repeat 2 { h = x }\n  return h\n}\n"
        "let b = [1]\nblock b(x: [B]) -> [B] { return x }\n"
    )
    module, diagnostics = parser.parse(text, "t.mf")
    assert diagnostics == [] and [type(item).__name__ for item in module.items] == ["Let", "Model", "Let", "Block"]


# ------------------------------------------------------------------ nesting and long chains


def test_a_flat_sum_of_300_terms_is_not_nesting(folder):
    result = checked(DIGITS.replace("let hidden = 32", "let hidden = " + " + ".join(["2"] * 300) + " - 568"))
    assert result.diagnostics == [] and result.resolution.constants["hidden"].value == 32


@pytest.mark.parametrize(
    "where", ["let", "section value", "override", "graph argument", "graph tensors", "dimension"]
)
def test_a_flat_sum_of_100k_terms_folds_without_recursion(folder, where):
    terms = 100_000 if where != "override" else 10_000  # a command-line argument holds at most 128 KiB
    zeros = " + ".join(["0"] * terms)
    spec, overrides = DIGITS, []
    if where == "let":
        spec = DIGITS.replace("let hidden = 32", f"let hidden = 32 + {zeros}")
    elif where == "section value":
        spec = DIGITS.replace("max_steps = 20", f"max_steps = 20 + {zeros}")
    elif where == "override":
        overrides = [f"train.max_steps=20 + {zeros}"]
    elif where == "graph argument":
        spec = DIGITS.replace("linear(x, hidden)", f"linear(x, hidden + {zeros})")
    elif where == "graph tensors":
        spec = DIGITS.replace("return linear(", "x = x + " + " + ".join(["x"] * terms) + "\n  return linear(")
    else:
        spec = DIGITS.replace("x: f32[B, 64]", f"x: f32[B, 64 + {zeros}]")
    result = checked(spec, overrides)
    assert result.diagnostics == [] and result.program is not None


def test_real_nesting_past_the_limit_is_still_a_positioned_diagnostic(folder):
    deep = "(" * 150 + "1 + [" * 60 + "1" + "]" * 60 + ")" * 150
    result = checked(DIGITS.replace("let hidden = 32\n", f"let hidden = 32\nlet deep = {deep}\n"))
    [error] = result.errors
    assert (error.code, error.span.line, error.message) == ("E0105", 3, "expression nested more than 200 levels deep")


# ------------------------------------------------------------------ size of the output


def test_four_thousand_errors_on_one_line_print_a_bounded_output(folder, capsys):
    keys = ", ".join(f"unknown_key_{index} = 1" for index in range(4000))
    with open("spec.mf", "w", encoding="utf-8") as handle:
        handle.write(DIGITS.replace("eval {", f"eval {{ {keys},", 1))
    assert run_lint(["spec.mf"], "text", False, []) == 1
    output = capsys.readouterr()
    assert len(output.out) < 16_000
    assert output.out.rstrip("\n").split("\n")[-1] == (
        "spec.mf: 3,950 more diagnostics not shown (`specc lint --format json` lists every one)"
    )
    assert output.out.count("error[E0401]") == 50
    assert max(len(line) for line in output.out.split("\n")) < 140
    assert output.err == "1 file(s) checked, 4000 problem(s)\n"
    assert run_lint(["spec.mf"], "json", False, []) == 1
    assert len(json.loads(capsys.readouterr().out)) == 4000  # the machine formats are complete


def test_a_long_line_is_shown_as_a_window_with_the_caret_under_the_span(folder):
    before = ", ".join(f"k{index} = {index}" for index in range(20))
    after = ", ".join(f"k{index} = {index}" for index in range(20, 40))
    line = f"eval {{ {before}, lrr = 1, {after},"
    result = checked(DIGITS.replace("eval {", line, 1))
    [error] = [d for d in result.errors if d.message == "unknown key `lrr` in eval"]
    column = line.index("lrr") + 1
    start = column - 1 - 40  # a 120-column window, from a third of its width before the span
    assert render_text(error, result.sources) == (
        f"spec.mf:25:{column}: error[E0401]: unknown key `lrr` in eval\n"
        "   |\n"
        f"25 | ...{line[start:start + 120]}...\n"
        f"   | {' ' * (3 + 40)}^^^"
    )
