"""The forward method of a model class as a hand-writer would write it.

The IR's body is single-assignment: every value has its own name (``linear``, ``h``,
``linear_1``, ``h_1``...). Printed as is, a three-layer MLP reads
``linear = self.linear_0(x); h = layers.relu(linear); linear_1 = self.linear_1(h); ...``.
Two rewrites make it read like hand-written code, without changing what is computed or in
which order:

- **inlining**: a value the compiler named after the call that made it (``linear``,
  ``add``: the spec gave it no name), used exactly once and by the very next statement, is
  written inside that statement: ``h = layers.relu(self.linear_0(x))``. Only the next
  statement, so evaluation order (and with it any random draw of dropout) is unchanged;
- **reuse of names**: a new version of a spec name (``h_1`` after ``h``) takes the name back
  when the previous version is not read again: ``h = layers.relu(self.linear_1(h))``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from specc.compiler import ir

# a version suffix the graph builder adds to keep names single-assignment (``h_1``)
VERSION = re.compile(r"^(?P<base>.+)_(?P<index>\d+)$")
LONGEST_INLINED = 60  # characters: a longer expression keeps its own line


# Python's binding strength of the operators a graph can print; calls and names bind tightest
PRECEDENCE = {"add": 1, "sub": 1, "mul": 2, "truediv": 2, "floordiv": 2, "mod": 2, "matmul": 2, "neg": 3, "pos": 3, "pow": 4,
              "logical_not": 3, "logical_and": 0, "logical_or": -1,
              "eq": -2, "ne": -2, "lt": -2, "le": -2, "gt": -2, "ge": -2}
COMPARISON = -2  # Python chains comparisons (`a < b == c`): a comparison operand of one is parenthesised
ATOMIC = 5
LOOSEST = -10  # a call argument or a right-hand side: no operator around it


@dataclass
class Expression:
    """The right-hand side of one statement and how strongly it binds (``PRECEDENCE``)."""

    text: str
    precedence: int = ATOMIC

    def as_operand(self, parent: int, right: bool = False) -> str:
        """The text as an operand of an operator of precedence ``parent``: in parentheses
        when it binds more loosely (or as loosely, on the right: ``a - (b - c)``; ``**``
        groups to the right, so its left operand needs them instead)."""
        looser = self.precedence < parent or (self.precedence == parent and right != (parent == PRECEDENCE["pow"]))
        looser = looser or self.precedence == parent == COMPARISON
        return f"({self.text})" if looser else self.text


def base_name(ref: str, known: set[str]) -> str:
    """``h`` for ``h_1`` when ``h`` is a value of the same module, else ``ref`` itself."""
    match = VERSION.match(ref)
    if match and match.group("base") in known:
        return base_name(match.group("base"), known)
    return ref


def last_uses(module: ir.ModuleDef) -> dict[str, int]:
    """ref -> index of the last statement reading it (``len(body)`` for the returned values)."""
    found: dict[str, int] = {}
    for index, statement in enumerate(module.body):
        for operand in statement.inputs:
            if operand.ref is not None:
                found[operand.ref] = index
    for name, _ in module.outputs:
        found[name] = len(module.body)
    return found


def use_counts(module: ir.ModuleDef) -> dict[str, int]:
    counts: dict[str, int] = {}
    for statement in module.body:
        for operand in statement.inputs:
            if operand.ref is not None:
                counts[operand.ref] = counts.get(operand.ref, 0) + 1
    for name, _ in module.outputs:
        counts[name] = counts.get(name, 0) + 2  # a returned value always keeps its name
    return counts


def generated(statement: ir.Statement, target: str, known: set[str]) -> bool:
    """The graph builder named ``target`` after its call (the spec named no variable)."""
    base = base_name(target, known)
    if statement.call == "layer" and statement.attribute is not None:
        return base == VERSION.sub(r"\g<base>", statement.attribute) or base == statement.attribute
    return statement.call in ("op", "extern") and base == statement.function


def returned_expression(module: ir.ModuleDef, known_inlined: set[str]) -> str | None:
    """The one returned value when the last statement computes it under a generated name
    read nowhere else: ``return x + h`` instead of ``add = x + h; return add``."""
    if len(module.outputs) != 1 or not module.body:
        return None
    last = module.body[-1]
    (name, _), known = module.outputs[0], {n for n, _ in module.inputs} | {t for s in module.body for t in s.targets}
    if last.call == "repeat" or last.targets != (name,) or name in {n for n, _ in module.inputs}:
        return None
    read = any(operand.ref == name for statement in module.body for operand in statement.inputs)
    return name if not read and generated(last, name, known) else None


def inlined_refs(module: ir.ModuleDef) -> set[str]:
    """Targets written inside the statement that follows them."""
    counts = use_counts(module)
    known = {name for name, _ in module.inputs} | {t for s in module.body for t in s.targets}
    found = set()
    for index, statement in enumerate(module.body[:-1]):
        if statement.call == "repeat" or len(statement.targets) != 1:
            continue
        (target,) = statement.targets
        following = module.body[index + 1]
        if following.call == "repeat" or counts.get(target) != 1:
            continue
        if any(operand.ref == target for operand in following.inputs) and generated(statement, target, known):
            found.add(target)
    return found


def local_names(module: ir.ModuleDef, reserved: frozenset[str], identifier) -> dict[str, str]:
    """ref -> the Python name it is written as: a later version of a spec name takes the
    name back once the earlier version is dead; no name shadows ``reserved`` ones."""
    known = {name for name, _ in module.inputs} | {t for s in module.body for t in s.targets}
    last = last_uses(module)
    names: dict[str, str] = {}
    holder: dict[str, str] = {}  # python name -> the ref it currently holds

    def assign(ref: str, index: int, looped=frozenset()) -> None:
        if ref in names:  # assigned again (a repeat updating its input): the same variable
            return
        wanted = identifier(base_name(ref, known))
        while wanted in reserved:
            wanted += "_"
        candidate, suffix = wanted, 0
        while candidate in holder and (last.get(holder[candidate], -1) > index or holder[candidate] in looped):
            suffix += 1
            candidate = f"{wanted}_{suffix}"
        names[ref] = candidate
        holder[candidate] = ref

    for name, _ in module.inputs:
        assign(name, -1)
    for index, statement in enumerate(module.body):
        looped = set()  # a repeat reads these on every pass: its targets must not take their names
        if statement.call == "repeat":
            looped = {operand.ref for operand in statement.inputs[len(statement.targets):]}
        for target in statement.targets:
            assign(target, index, looped)
    return names
