"""Issue 13: the resolved spec (spec.resolved.mf, written to every run directory and
checkpoint) lists the ``--set`` overrides in its header, one ``# --set key=value`` line each.
Whatever an override's text holds (line breaks, ``#`` comments, strings with quotes,
backslashes, line breaks or unicode, nested lists, negative numbers, expressions), the
value is listed canonically on one line, so the resolved spec checks again with its listed
overrides (as ``specc inspect`` and ``load_model`` check it) and resolves to the same values.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specc.compiler import pipeline
from specc.compiler.check.values import plain
from specc.dsl.formatter import quote
from specc.load import embedded_overrides
from tests.checker.helpers import DIGITS, memory_reader, rendered

SETTINGS = settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# a spec whose lets `count`, `ratio`, `label`, `items` and `flag` nothing reads: any value of
# the right kind is accepted, so the property exercises the printing, not the checker
SPEC = DIGITS.replace(
    "spec digits_small\nlet hidden = 32\n",
    'spec overrides_small\nlet count = 1\nlet ratio = 0.5\nlet label = "a"\nlet items = [1, 2]\nlet flag = true\nlet hidden = 8\n',
)


def check(text: str, overrides, file: str = "spec.mf"):
    return pipeline.check(file, memory_reader({file: text}), tuple(overrides))


def resolved_values(result) -> dict:
    """What the overrides can change: every let and every section's values."""
    resolution = result.resolution
    constants = {name: plain(value) for name, value in resolution.constants.items()}
    program = result.program
    return {"constants": constants, "train": program.train, "optimizers": program.optimizers}


def recheck(result):
    """The resolved spec checked again with the overrides its header lists (what
    specc.load does with a checkpoint's embedded spec)."""
    text = result.program.resolved_source
    return check(text, embedded_overrides(text), "spec.resolved.mf")


# ----------------------------------------------------------------------------- strategies

# ways to write the same value: in parentheses across lines, with comments, with spaces
def decorated(value: st.SearchStrategy) -> st.SearchStrategy:
    comments = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=8)
    return st.one_of(
        value,
        value.map(lambda text: f"({text}\n)"),
        value.map(lambda text: f"(\n  {text}  # the value\n)"),
        st.tuples(value, comments).map(lambda pair: f"{pair[0]}  # {pair[1]}"),
        st.tuples(value, comments).map(lambda pair: f"(  {pair[0]} # {pair[1]}\n)\n"),
        value.map(lambda text: f" \t{text}\n"),
    )


integers = st.one_of(
    st.integers(-10**9, 10**9).map(str),
    st.integers(0, 10**6).map(lambda number: f"{number:_}"),
    st.tuples(st.integers(-50, 50), st.sampled_from(["+", "-", "*"]), st.integers(-50, 50)).map(
        lambda t: f"{t[0]} {t[1]} ({t[2]})"
    ),
    st.integers(-9, 9).map(lambda number: f"-(\n{number}\n)"),
    st.sampled_from(["hidden * 2", "-hidden", "hidden - 3 * 2", "(hidden\n+\n1)"]),
)
floats = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False).map(repr),
    st.sampled_from(["1e-3", "-2.5E+2", "0.0", "-(1e-3) * -1", "hidden / 2", "1_0.5"]),
)
strings = st.text(max_size=16).map(quote)  # quotes, backslashes, line breaks, unicode: escaped


def lists(children):
    return st.lists(children, max_size=4).map(lambda items: "[" + ",\n ".join(items) + "]")


nested_lists = st.recursive(st.integers(-5, 5).map(str), lists, max_leaves=8).filter(lambda text: text.startswith("["))
booleans = st.sampled_from(["true", "false", "not true", "(false\n)"])

overrides = st.tuples(
    decorated(integers).map(lambda text: f"count={text}"),
    decorated(floats).map(lambda text: f"ratio={text}"),
    decorated(strings).map(lambda text: f"label={text}"),
    decorated(nested_lists).map(lambda text: f"items={text}"),
    decorated(booleans).map(lambda text: f"flag={text}"),
    decorated(st.integers(10, 10**6).map(str)).map(lambda text: f"train.max_steps={text}"),
    decorated(st.sampled_from(['"val/loss"', '"val/accuracy"'])).map(lambda text: f"train.checkpoint.monitor={text}"),
)


@SETTINGS
@given(overrides)
def test_the_resolved_spec_lists_every_override_so_that_it_checks_to_the_same_values(values):
    first = check(SPEC, values)
    assert rendered(first) == []
    again = recheck(first)
    assert rendered(again) == []
    assert resolved_values(again) == resolved_values(first)


def test_an_override_with_a_line_break_is_listed_on_one_line():
    overrides = ["train.max_steps=(4\n)", 'label="x\\ny" # a comment\n', "items=[1,\n [2, -3]]", "count=2 # kept"]
    first = check(SPEC, overrides)
    assert rendered(first) == []
    header = first.program.resolved_source.split("\n")[:5]
    assert header == [
        "# resolved from spec.mf",
        "# --set train.max_steps=4",
        '# --set label="x\\ny"',
        "# --set items=[1, [2, -3]]",
        "# --set count=2 # kept",  # one line already: listed as written
    ]
    again = recheck(first)
    assert rendered(again) == []
    assert again.program.train.max_steps == 4
    assert resolved_values(again) == resolved_values(first)


def test_a_diagnostic_after_an_override_with_a_line_break_points_at_its_own_line():
    result = check(SPEC, ["train.max_steps=(4\n)", "train.max_stepz=5"])
    assert rendered(result) == [
        (
            "--set:3:1: error[E0307]: unknown override path `train.max_stepz`\n"
            "  |\n"
            "3 | train.max_stepz=5\n"
            "  | ^^^^^^^^^^^^^^^\n"
            "help: did you mean `train.max_steps`?"
        )
    ]


def test_a_file_name_with_a_line_break_stays_in_the_header_comment():
    first = check(SPEC, ["count=2"], file="odd\nname.mf")
    assert rendered(first) == []
    assert first.program.resolved_source.split("\n")[:2] == ["# resolved from odd\\u{a}name.mf", "# --set count=2"]
    assert rendered(recheck(first)) == []
