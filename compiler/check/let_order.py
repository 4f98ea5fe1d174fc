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
    it names; names outside ``lets`` are ignored. A `let` on a cycle, or naming one that leads
    to a cycle, is left out: those fold in sorted order as before, so the cycle is reported
    (E0304) where it always was. Roots are taken in sorted order: the order is deterministic."""
    order: list[str] = []
    state: dict[str, str] = {}
    cyclic: set[str] = set()
    path: set[str] = set()  # the names open now: the path from the root to the current one
    for root in sorted(lets):
        work = [(root, False)]
        while work:
            name, children_done = work.pop()
            if children_done:
                path.discard(name)
                state[name] = "done"
                order.append(name)
                continue
            if name in state:
                continue
            state[name] = "open"
            path.add(name)
            work.append((name, True))
            for used in reversed(names_in(lets[name])):
                if used in lets and used not in state:
                    work.append((used, False))
                elif used in path:  # a cycle closes: it runs along the path
                    cyclic.update(path)
    for name in order:  # dependencies come first, so one pass spreads the mark
        if any(used in cyclic for used in names_in(lets[name])):
            cyclic.add(name)
    return [name for name in order if name not in cyclic]
