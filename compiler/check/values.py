"""Resolved values of a spec: what ``resolve`` produces and ``validate`` / ``plan`` read.

Every value keeps the span it was written at and where it came from (``origin``:
``"file.mf:31"``, ``"--set"`` or ``"default"``), so that diagnostics point at it and
``specc explain`` can say where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from specc.dsl.diagnostics import Span


@dataclass(frozen=True)
class Word:
    """A bare word that is not a constant: an enum word (``ot``), a component (``linear``)
    or a model name; the slot it stands in decides which."""

    name: str


@dataclass(frozen=True)
class FieldRef:
    """``data.signal``: a per-example field of the data source."""

    name: str


@dataclass(frozen=True)
class ComponentCall:
    """``rk4(steps = 50)``: a component with arguments (positional ones kept in order)."""

    name: str
    name_span: Span
    args: tuple["RValue", ...]
    kwargs: tuple[tuple[str, "RValue", Span], ...]  # (key, value, key span)


@dataclass(frozen=True)
class Terms:
    """A weighted sum of components: ``cross_entropy + 0.1 * expected_scalar(...)``."""

    terms: tuple[tuple[float, "RValue"], ...]  # (weight, Word or ComponentCall value)


@dataclass(frozen=True)
class RValue:
    value: object  # int | float | str | bool | None | list | dict | Word | FieldRef | ComponentCall | Terms
    span: Span
    origin: str
    chain: tuple[str, ...] = ()
    via: tuple[str, ...] = ()  # constants and references followed to get the value


@dataclass
class ResolvedSection:
    kind: str
    name: str | None
    component: str | None
    component_span: Span | None
    span: Span
    file: str
    entries: dict[str, RValue] = field(default_factory=dict)
    key_spans: dict[str, Span] = field(default_factory=dict)
    children: dict[str, "ResolvedSection"] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.kind}.{self.name}" if self.name else self.kind


def plain(value: RValue | object):
    """The Python value without spans: lists, dicts, scalars; words as their name."""
    inner = value.value if isinstance(value, RValue) else value
    if isinstance(inner, list):
        return [plain(item) for item in inner]
    if isinstance(inner, dict):
        return {key: plain(item) for key, item in inner.items()}
    if isinstance(inner, Word):
        return inner.name
    if isinstance(inner, FieldRef):
        return f"data.{inner.name}"
    return inner


def describe(value: RValue | object) -> str:
    """Spec-like text of a value for messages and ``specc explain``."""
    inner = value.value if isinstance(value, RValue) else value
    if isinstance(inner, bool):
        return "true" if inner else "false"
    if inner is None:
        return "none"
    if isinstance(inner, str):
        return '"' + inner.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(inner, list):
        return "[" + ", ".join(describe(item) for item in inner) + "]"
    if isinstance(inner, dict):
        return "{ " + ", ".join(f"{key} = {describe(item)}" for key, item in inner.items()) + " }"
    if isinstance(inner, Word):
        return inner.name
    if isinstance(inner, FieldRef):
        return f"data.{inner.name}"
    if isinstance(inner, ComponentCall):
        parts = [describe(item) for item in inner.args]
        parts += [f"{key} = {describe(item)}" for key, item, _ in inner.kwargs]
        return f"{inner.name}({', '.join(parts)})"
    if isinstance(inner, Terms):
        return " + ".join(
            describe(term) if weight == 1 else f"{describe(weight)} * {describe(term)}" for weight, term in inner.terms
        )
    return repr(inner)


def type_name(value: RValue | object) -> str:
    """The spec-level type of a value for messages: int, float, string, bool, list, ..."""
    inner = value.value if isinstance(value, RValue) else value
    names = {bool: "bool", int: "int", float: "float", str: "string", list: "list", dict: "mapping"}
    if type(inner) in names:
        return names[type(inner)]
    if inner is None:
        return "none"
    if isinstance(inner, Word):
        return "name"
    if isinstance(inner, FieldRef):
        return "data field"
    if isinstance(inner, ComponentCall):
        return "call"
    if isinstance(inner, Terms):
        return "sum of terms"
    return type(inner).__name__
