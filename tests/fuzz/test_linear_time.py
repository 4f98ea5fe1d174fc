"""lint and fmt do work linear in the input: counted, not timed.

For each shape of a big spec, the work of ``check`` (what ``specc lint`` runs) and of
``format_source`` (``specc fmt``) is counted at sizes n, 2n and 4n: lines of Python executed
(``sys.settrace``, every loop iteration included) plus C functions called (``sys.setprofile``). Linear work grows by
the same amount from 2n to 4n as twice the growth from n to 2n (a ratio of 1); work that is
quadratic in the shape's size gives 2. The constant part (grammar, registry) cancels out.

What counting cannot see is work inside one C call (a ``str.split`` or a ``str +=`` copying a
long string); ``benchmarks/lint_throughput.py`` shows those as MB/s per size.
"""

from __future__ import annotations

import sys

import pytest
from specc.compiler.pipeline import check
from specc.dsl.formatter import format_source

HEADER = "spec big\n"
GRAPH = "model m(x: f32[B, 8]) -> f32[B, 8] {{\n  h = linear(x, 8)\n{body}  return h\n}}\n"


def one_line_list(n: int) -> str:
    return HEADER + "let values = [" + ", ".join(str(index) for index in range(n)) + "]\n"


def commented_list(n: int) -> str:
    return HEADER + "let values = [\n" + "".join(f"  {index},  # item {index}\n" for index in range(n)) + "]\n"


def many_lets(n: int) -> str:
    lines = [f"let a{index} = {index} * 2 + 1  # constant {index}" for index in range(n)]
    return HEADER + "\n".join(lines) + "\n"


def long_graph(n: int) -> str:
    """One model assigning ``h`` n times: every assignment makes a new value name."""
    return HEADER + GRAPH.format(body="".join("  h = relu(h) * 2 + 1\n" for _ in range(n)))


def many_layers(n: int) -> str:
    """One model with n linear layers (each a sub-module with parameters), unrolled by a `for`."""
    return HEADER + GRAPH.format(body=f"  for i in range({n}) {{\n    h = linear(h, 8)\n  }}\n")


def flat_sum(n: int) -> str:
    return HEADER + "let total = " + " + ".join("1" for _ in range(n)) + "\n"


def many_sections(n: int) -> str:
    """Section after section (each after the first a duplicate: one diagnostic each)."""
    return HEADER + "".join(f"train {{\n  max_steps = {index}  # run {index}\n}}\n" for index in range(n))


def keyword_call(n: int) -> str:
    return HEADER + "let c = f(" + ", ".join(f"a{index} = {index}" for index in range(n)) + ")\n"


def work(function) -> int:
    """Lines of Python executed plus C functions called while ``function`` runs."""
    count = 0

    def local(frame, event, argument):
        nonlocal count
        count += 1
        return local

    def calls(frame, event, argument):
        nonlocal count
        if event == "c_call":
            count += 1

    sys.setprofile(calls)
    sys.settrace(lambda frame, event, argument: local)
    try:
        function()
    finally:
        sys.settrace(None)
        sys.setprofile(None)
    return count


def lint(text: str) -> None:
    data = text.encode()
    check("big.mf", lambda path: data, library_ok=True, backend_warnings=True)


def fmt(text: str) -> None:
    format_source(text, "big.mf")


def growth(shape, command, n: int) -> float:
    """(work(4n) - work(2n)) / (2 * (work(2n) - work(n))): 1 when linear, 2 when quadratic."""
    command(shape(8))  # warm caches (grammar, registry, pydantic adapters)
    texts = [shape(size) for size in (n, 2 * n, 4 * n)]
    done = [work(lambda text=text: command(text)) for text in texts]
    assert done[1] > done[0], done
    return (done[2] - done[1]) / (2 * (done[1] - done[0]))


SHAPES = [  # (shape, n, what it is run through)
    (one_line_list, 2000, "lint fmt"),
    (commented_list, 1000, "lint fmt"),
    (many_lets, 300, "lint fmt"),
    (long_graph, 150, "lint fmt"),
    (many_layers, 150, "lint"),  # the text hardly grows: only the checker's work does
    (flat_sum, 1000, "lint fmt"),
    (many_sections, 150, "lint fmt"),
]
COMMANDS = {"lint": lint, "fmt": fmt}
CASES = [(shape, n, name) for shape, n, names in SHAPES for name in names.split()]


@pytest.mark.parametrize("shape, n, command", CASES, ids=[f"{shape.__name__}-{name}" for shape, _, name in CASES])
def test_work_grows_linearly(shape, n, command):
    assert growth(shape, COMMANDS[command], n) < 1.25


@pytest.mark.parametrize("command", [lint, fmt], ids=["lint", "fmt"])
def test_keyword_arguments_are_checked_in_linear_time(command):
    assert growth(keyword_call, command, 400) < 1.25


def test_the_measure_sees_quadratic_work():
    """The measure itself: a quadratic function gives about 2, a linear one about 1."""

    def quadratic(text: str) -> None:
        items = text.split(",")
        for index, item in enumerate(items):
            any(other == item for other in items[:index])

    assert 1.8 < growth(one_line_list, quadratic, 300) < 2.2
    assert 0.9 < growth(one_line_list, lambda text: [len(item) for item in text.split(",")], 300) < 1.1
