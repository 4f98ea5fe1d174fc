"""Property tests: random valid specs round-trip through the formatter; random damage to
any spec only ever produces diagnostics, never an exception. Plus the size limits."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specc.dsl.formatter import format_source, quote
from specc.dsl.parser import parse
from specc.dsl.source import decode
from tests.dsl.support import without_spans

SETTINGS = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

names = st.sampled_from(
    ["k", "data", "lr", "x", "h2", "ot", "min", "linear", "B", "D", "_tmp", "signal_length"]
)
separators = st.sampled_from([" ", "  ", "\n", "\n\n", "\t", " \n  "])
numbers = st.one_of(
    st.integers(0, 10**12).map(str),
    st.sampled_from(["100_000", "1e-4", "2.5", "3E+2", "0.0", "1_0.5_0"]),
)
strings = st.text(max_size=12).map(quote)
atoms = st.one_of(numbers, strings, names, st.sampled_from(["true", "false", "data.k", "a.b.c"]))


def _compound(children):
    operators = st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "and", "or", "==", "<"])
    arguments = st.lists(children, max_size=3)
    return st.one_of(
        st.tuples(children, operators, children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        children.map(lambda c: f"-({c})"),
        children.map(lambda c: f"(not ({c}))"),
        arguments.map(lambda items: "[" + ", ".join(items) + "]"),
        st.tuples(names, arguments, st.lists(st.tuples(names, children), max_size=2)).map(
            lambda t: t[0] + "(" + ", ".join(t[1] + [f"{k} = {v}" for k, v in _unique(t[2])]) + ")"
        ),
        st.lists(st.tuples(names, children), max_size=3).map(
            lambda pairs: "{" + ", ".join(f"{k} = {v}" for k, v in _unique(pairs)) + "}"
        ),
    )


def _unique(pairs):
    return list(dict(pairs).items())


expressions = st.recursive(atoms, _compound, max_leaves=8)
comments = st.one_of(st.just(""), st.text(alphabet='abc #"\\', max_size=8).map(lambda t: "  # " + t))


@st.composite
def sections(draw, depth=0):
    kind = draw(names)
    head = draw(st.sampled_from(["", " adam", " generator: adam"]))
    entries = draw(st.lists(st.tuples(names, expressions, comments), max_size=4, unique_by=lambda e: e[0]))
    body = [f"{key} = {value}{comment}\n" for key, value, comment in entries]
    if depth < 2 and draw(st.booleans()):
        body.append(draw(sections(depth + 1)) + "\n")
    separator = draw(separators)
    return f"{kind}{head} {{" + separator + separator.join(body) + "}"


@st.composite
def statements(draw, depth=0):
    kind = draw(
        st.sampled_from(["assign", "unpack", "repeat", "for", "if"] if depth < 2 else ["assign", "unpack"])
    )
    if kind == "assign":
        return f"{draw(names)} = {draw(expressions)}{draw(comments)}\n"
    if kind == "unpack":
        return f"a, b = split({draw(expressions)}, 2)\n"
    inner = "".join(draw(st.lists(statements(depth + 1), max_size=2)))
    if kind == "repeat":
        return f"repeat {draw(expressions)} {{\n{inner}}}\n"
    if kind == "for":
        return f"for p in {draw(expressions)} {{{inner}}}\n"
    other = "".join(draw(st.lists(statements(depth + 1), max_size=2)))
    return f"if {draw(expressions)} {{\n{inner}}} else {{{other}}}\n"


@st.composite
def graphs(draw):
    keyword = draw(st.sampled_from(["block", "model"]))
    dims = draw(st.lists(expressions, min_size=1, max_size=3))
    tensor = draw(st.sampled_from(["", "f32", "bf16"])) + "[" + ", ".join(dims) + "]"
    outputs = draw(st.sampled_from(["[B, D]", "([B, 1], list)", "f32[B], list"]))
    body = "".join(draw(st.lists(statements(), max_size=3)))
    return f"{keyword} g(x: {tensor}, n: int = {draw(numbers)}) -> {outputs} {{\n{body}return x, x\n}}"


@st.composite
def specs(draw):
    items = draw(
        st.lists(
            st.one_of(
                st.tuples(names, expressions).map(lambda t: f"let {t[0]} = {t[1]}"),
                sections(),
                graphs(),
                st.just("model flow = mlp_flow(latent_dim = 128)"),
            ),
            min_size=1,
            max_size=5,
        )
    )
    header = draw(st.sampled_from(["", "spec s\n", 'spec s\nlanguage 1\nimport "b.mf"\n']))
    gaps = draw(
        st.lists(
            st.sampled_from(["\n", "\n\n", "\n# note\n", "\n\n\n"]), min_size=len(items), max_size=len(items)
        )
    )
    return header + "".join(item + gap for item, gap in zip(items, gaps))


@SETTINGS
@given(specs())
def test_random_valid_specs_round_trip(text):
    module, diagnostics = parse(text, "r.mf")
    assert diagnostics == [] and module is not None, (text, diagnostics)
    once, problems = format_source(text, "r.mf")
    assert problems == [] and once is not None
    again, _ = format_source(once, "r.mf")
    assert again == once
    assert without_spans(parse(once, "r.mf")[0]) == without_spans(module)


TOKENS = [
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    "=",
    ":",
    "->",
    '"',
    "#",
    "\n",
    "let",
    "model",
    "block",
    "repeat",
    "for",
    "in",
    "if",
    "else",
    "return",
    "not",
    "**",
    ".",
    "1e",
    "_",
    "\\",
    "class",
    "__x",
]


@st.composite
def damaged(draw):
    data = bytearray(draw(specs()).encode())
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "delete", "insert", "bytes"]))
        position = draw(st.integers(0, len(data)))
        if action == "flip" and position < len(data):
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "delete":
            del data[position : position + draw(st.integers(1, 5))]
        elif action == "insert":
            data[position:position] = draw(st.sampled_from(TOKENS)).encode()
        else:
            data[position:position] = draw(st.binary(max_size=4))
    return bytes(data)


@SETTINGS
@given(damaged())
def test_damaged_specs_only_ever_give_diagnostics(data):
    text, diagnostics = decode(data, "d.mf")
    if text is None:
        assert diagnostics
        return
    module, diagnostics = parse(text, "d.mf")
    assert module is not None or diagnostics
    for diagnostic in diagnostics:
        assert diagnostic.code.startswith(("E00", "E01")) and diagnostic.span.line >= 1
    formatted, _ = format_source(text, "d.mf")
    if formatted is not None:
        assert format_source(formatted, "d.mf")[0] == formatted


def test_ten_thousand_levels_of_nesting_are_a_diagnostic_not_a_crash():
    deep = {
        "parentheses": "let x = " + "(" * 10_000 + "1" + ")" * 10_000,
        "lists": "let x = " + "[" * 10_000 + "]" * 10_000,
        "calls": "let x = " + "f(" * 10_000 + ")" * 10_000,
        "signs": "let x = " + "-" * 10_000 + "1",
        "power": "let x = 2" + " ** 2" * 10_000,
        "mappings": "let x = " + "{a = " * 10_000 + "1" + "}" * 10_000,
        "sections": "a {" * 10_000 + "}" * 10_000,
        "statements": "block b(x: [B]) -> [B] {" + "repeat 2 {" * 10_000 + "}" * 10_001,
    }
    for name, text in deep.items():
        module, diagnostics = parse(text, "d.mf")
        assert module is None, name
        assert [d.code for d in diagnostics] == ["E0105"], name
        assert format_source(text, "d.mf")[0] is None


def test_a_flat_chain_of_ten_thousand_operators_is_not_nesting():
    """`1 + 1 + ...` is one level, however long: only real nesting counts toward E0105."""
    for operator in ("+", "-", "*", "and", "//"):
        text = "let x = " + f" {operator} ".join(["1"] * 10_000)
        module, diagnostics = parse(text, "d.mf")
        assert diagnostics == [] and module is not None, operator
    formatted, _ = format_source("let x = " + " + ".join(["1"] * 10_000), "d.mf")
    assert formatted is not None and format_source(formatted, "d.mf")[0] == formatted


def test_nesting_just_under_the_limit_parses_and_formats_without_recursion_errors():
    depth = 199
    cases = {
        "lists": "let x = " + "[" * depth + "]" * depth,
        "multi-line lists": "let x = " + "[\n" * depth + "]\n" * depth,
        "sum": "let x = " + " + ".join(["1"] * depth),
        "power": "let x = 2" + " ** 2" * (depth - 1),
        "calls": "let x = " + "f(" * (depth - 1) + ")" * (depth - 1),
        "signs": "let x = " + "-" * (depth - 1) + "1",
        "sections": "a {" * depth + "}" * depth,
        "statements": "block b(x: [B]) -> [B] {" + "repeat 2 {" * (depth - 2) + "}" * (depth - 1),
        "else if": "block b(x: [B]) -> [B] {\nif a { x = 1 }" + " else if a { x = 1 }" * (depth - 3) + "\n}",
    }
    for name, text in cases.items():
        module, diagnostics = parse(text, "d.mf")
        assert diagnostics == [] and module is not None, name
        once, _ = format_source(text, "d.mf")
        assert once is not None and format_source(once, "d.mf")[0] == once, name
        assert without_spans(parse(once, "d.mf")[0]) == without_spans(module), name


def test_a_one_megabyte_spec_parses(spec_paths):
    with open([p for p in spec_paths if p.endswith("ksin_flow.mf")][0], encoding="utf-8") as handle:
        base = handle.read().replace("spec ksin_flow", "")
    copies = 1_000_000 // len(base) + 1
    text = "".join(base.replace("data ksin", f"data ksin_{i}") for i in range(copies))
    assert len(text) >= 1_000_000
    started = time.process_time()
    module, diagnostics = parse(text, "big.mf")
    elapsed = time.process_time() - started
    assert diagnostics == [] and len(module.items) == 14 * copies  # 6 lets and 8 sections per copy
    print(f"1 MB parse: {elapsed:.2f} s CPU")  # measured in benchmarks/parse_speed.py


def test_depths_of_separate_expressions_do_not_add_up():
    text = "".join(
        f"let a{i} = " + "(" * 150 + "x" + ")" * 150 + f"\nlet b{i} = " + "[" * 100 + "y" + "]" * 100 + "\n"
        for i in range(20)
    )
    module, diagnostics = parse(text, "d.mf")
    assert diagnostics == [] and len(module.items) == 40


FRAGMENTS = list("abkx_19 .e+-*/%<=>!()[]{},:#\"\\\n\t") + [
    "let ", "model ", "block ", "->", "if ", "else ", "repeat ", "for ", " in ", "return ", "data d {",
]


@SETTINGS
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join))
def test_random_text_only_ever_gives_diagnostics(text):
    module, diagnostics = parse(text, "r.mf")
    assert module is not None or diagnostics
    formatted, _ = format_source(text, "r.mf")
    if formatted is not None:
        assert format_source(formatted, "r.mf")[0] == formatted
