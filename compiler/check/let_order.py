"""The order in which to fold a spec's constants: every `let` after the lets it names.

Folding a `let` folds the lets it names first (memoized), so a chain ``let a1 = a0 + 1``,
``let a2 = a1 + 1``, ... folded from its far end recursed once per link and hit Python's
recursion limit after about a thousand. Folded in dependency order, each `let` finds the
ones it names already folded, and the recursion is one level deep however long the chain.
Both walks here use explicit stacks.
"""

from __future__ import annotations

from collections.abc import Mapping

from specc.dsl import ast


def names_in(expression) -> list[str]:
    """Every bare name an expression mentions, in the order written."""
    names: list[str] = []
    work = [expression]
    while work:
        node = work.pop()
        if isinstance(node, ast.Name):
            names.append(node.name)
        elif isinstance(node, tuple):
            work.extend(reversed(node))
        elif isinstance(node, ast.Node):
            work.extend(
                reversed([getattr(node, field) for field in node.__dataclass_fields__ if field != "span"])
            )
    return names


def dependency_order(lets: Mapping[str, object]) -> list[str]:
    """The names of ``lets`` (name -> value expression) so that each comes after every `let`
    it names; names outside ``lets`` are ignored and a cycle is cut where it closes (folding
    reports it, E0304). Roots are taken in sorted order, so the order is deterministic."""
    order: list[str] = []
    state: dict[str, str] = {}
    for root in sorted(lets):
        work = [(root, False)]
        while work:
            name, children_done = work.pop()
            if children_done:
                state[name] = "done"
                order.append(name)
                continue
            if name in state:
                continue
            state[name] = "open"
            work.append((name, True))
            for used in reversed(names_in(lets[name])):
                if used in lets and used not in state:
                    work.append((used, False))
    return order
