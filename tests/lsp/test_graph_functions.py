"""The language server offers the graph language's new names inside a graph: `cast` and
`where` (registry ops, with their signatures) and the compile-time functions, `zip` among
them; hover names a comparison by its operator."""

from __future__ import annotations

from specc.compiler.lsp.completion import complete
from specc.compiler.lsp.hover import ARITHMETIC


def test_graph_completion_lists_cast_where_and_zip():
    text = "block b(x: [B, D]) -> [B, D] {\n  h = \n}\n"
    items = {item.label: item for item in complete(text, text.index("h = ") + 4, {})}
    assert items["cast"].detail == "cast(x, dtype)"
    assert items["where"].detail == "where(condition, a, b)"
    assert {"zip", "range", "len", "min", "max"} <= set(items)
    assert items["zip"].detail == "compile-time function"


def test_hover_names_comparisons_and_logic_by_their_operators():
    assert [ARITHMETIC[name] for name in ("eq", "ne", "lt", "le", "gt", "ge")] == ["==", "!=", "<", "<=", ">", ">="]
    assert [ARITHMETIC[name] for name in ("logical_and", "logical_or", "logical_not")] == ["and", "or", "not"]
