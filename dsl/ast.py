"""AST of the spec language. Every node carries the ``Span`` of the text it came from.

Nodes are frozen dataclasses; sequences are tuples. The parser (``dsl/parser.py``) builds
them; the formatter prints them back; the checker (``compiler/``) reads them.

A file is a ``Module``: an optional ``spec NAME`` line, an optional ``language N`` line,
an optional ``extends "base.mf"`` line, imports, then top-level items in source order::

    Let        let k = 4
    Section    data ksin { ... }  /  optimizer generator: adam { ... }  /  train { checkpoint { ... } }
    Block      block film_mlp(x: [B, D], hidden: int = 1024) -> [B, D] { ... }
    Model      model f(x: f32[B, 8]) -> f32[B, 8] { ... }
    ModelInstance  model flow = mlp_flow(latent_dim = 128)
    Extern     extern gelu(x: f32[B, D]) -> f32[B, D] = python("functions.py", "gelu")
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Union

from specc.dsl.diagnostics import Span


@dataclass(frozen=True)
class Node:
    span: Span


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Number(Node):
    value: int | float
    text: str  # as written (``100_000``, ``1e-4``), for the formatter


@dataclass(frozen=True)
class String(Node):
    value: str  # escapes already decoded


@dataclass(frozen=True)
class Bool(Node):
    value: bool


@dataclass(frozen=True)
class Name(Node):
    """A bare word: a constant, a value in a graph, an enum word (``ot``, ``min``) or a
    component (``linear``, ``uniform``); which one is decided by the slot it stands in."""

    name: str


@dataclass(frozen=True)
class Attribute(Node):
    """``data.k``, ``data.signal``: a reference into another section."""

    base: "Expr"
    name: str


@dataclass(frozen=True)
class Index(Node):
    """``channels[i]``, ``features[-1]``: an element of a list known at compile time."""

    base: "Expr"
    index: "Expr"


@dataclass(frozen=True)
class BinaryOp(Node):
    op: str  # "+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "and", "or"
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True)
class UnaryOp(Node):
    op: str  # "-", "+", "not"
    operand: "Expr"


@dataclass(frozen=True)
class Keyword(Node):
    name: str
    value: "Expr"


@dataclass(frozen=True)
class Call(Node):
    """``linear(c, 2 * D)``, ``rk4(steps = 50)``, ``film_mlp(h, c)``."""

    function: str
    function_span: Span
    args: tuple["Expr", ...]
    kwargs: tuple[Keyword, ...]


@dataclass(frozen=True)
class List(Node):
    items: tuple["Expr", ...]


@dataclass(frozen=True)
class Mapping(Node):
    """``{ signal = data.signal, x = data.x }``."""

    entries: tuple["Entry", ...]


Expr = Union[Number, String, Bool, Name, Attribute, Index, BinaryOp, UnaryOp, Call, List, Mapping]


# ---------------------------------------------------------------- types


@dataclass(frozen=True)
class TensorType(Node):
    """``f32[B, 2 * k]``; ``dtype`` None when written without one (``[B, D]``: f32)."""

    dtype: str | None
    dims: tuple[Expr, ...]


@dataclass(frozen=True)
class TensorList(Node):
    """A block/model output that is a list of tensors of any shapes, written ``list``
    (``-> ([B, 1], list)``: a discriminator's logits and its feature maps). Added by the
    dsl helper; the graph builder gives the list its length and shapes."""


@dataclass(frozen=True)
class Parameter(Node):
    """A block/model parameter: a tensor input (``x: [B, D]``) or a hyperparameter
    (``hidden: int = 1024``; scalar types: int, float, bool, str, list)."""

    name: str
    tensor: TensorType | None
    scalar: str | None
    default: Expr | None


# ---------------------------------------------------------------- graph statements


@dataclass(frozen=True)
class Assign(Node):
    targets: tuple[str, ...]  # ``scale, shift = split(...)`` has two
    target_spans: tuple[Span, ...]
    value: Expr


@dataclass(frozen=True)
class Return(Node):
    values: tuple[Expr, ...]


@dataclass(frozen=True)
class Repeat(Node):
    count: Expr
    body: tuple["Statement", ...]


@dataclass(frozen=True)
class For(Node):
    variable: str  # the first of ``variables``
    iterable: Expr
    body: tuple["Statement", ...]
    variables: tuple[str, ...] = ()  # ``for c, s in zip(channels, strides)`` has two


@dataclass(frozen=True)
class If(Node):
    condition: Expr
    body: tuple["Statement", ...]
    orelse: tuple["Statement", ...]
    else_span: Span | None = None  # added by the dsl helper: the `else` keyword, if any


Statement = Union[Assign, Return, Repeat, For, If]


# ---------------------------------------------------------------- top level


@dataclass(frozen=True)
class Entry(Node):
    """``key = value`` inside a section or a mapping."""

    key: str
    key_span: Span
    value: Expr


@dataclass(frozen=True)
class Section(Node):
    """``kind [name:] [component] { entries and nested sections }``.

    ``data ksin {..}``: kind "data", component "ksin". ``optimizer generator: adam {..}``:
    kind "optimizer", name "generator", component "adam". ``train {..}``: no component.
    ``checkpoint {..}`` nested in ``train``: kind "checkpoint".
    """

    kind: str
    name: str | None
    component: str | None
    component_span: Span | None
    body: tuple[Union[Entry, "Section"], ...]


@dataclass(frozen=True)
class Block(Node):
    name: str
    name_span: Span
    parameters: tuple[Parameter, ...]
    outputs: tuple[TensorType | TensorList, ...]
    body: tuple[Statement, ...]


@dataclass(frozen=True)
class Model(Node):
    """A model written as a graph: same shape as a block; its tensor inputs are fed by the
    objective."""

    name: str
    name_span: Span
    parameters: tuple[Parameter, ...]
    outputs: tuple[TensorType | TensorList, ...]
    body: tuple[Statement, ...]


@dataclass(frozen=True)
class ModelInstance(Node):
    """``model flow = mlp_flow(latent_dim = 128)``: a model made from a block."""

    name: str
    name_span: Span
    call: Call


@dataclass(frozen=True)
class Extern(Node):
    """``extern gelu(x: f32[B, D]) -> f32[B, D] = python("functions.py", "gelu")``: a function
    of the user's, called in graphs like a block; parameters and outputs are written as a
    block's. ``value`` is the expression after ``=`` as written (the graphs check that it is a
    ``python(file, name)`` call)."""

    name: str
    name_span: Span
    parameters: tuple[Parameter, ...]
    outputs: tuple[TensorType | TensorList, ...]
    value: Expr


@dataclass(frozen=True)
class Let(Node):
    name: str
    name_span: Span
    value: Expr


@dataclass(frozen=True)
class Import(Node):
    path: str  # as written: "blocks.mf", "../x.mf" or "std/transformer.mf"


@dataclass(frozen=True)
class Extends(Node):
    """``extends "base.mf"``: the file is the base spec with its own items over it
    (``dsl/compose.py``). ``path`` as written, like an import's."""

    path: str


@dataclass(frozen=True)
class Comment(Node):
    text: str  # including the leading '#'


Item = Union[Let, Section, Block, Model, ModelInstance, Extern]


@dataclass(frozen=True)
class Module(Node):
    file: str
    spec_name: str | None
    language: int | None
    imports: tuple[Import, ...]
    items: tuple[Item, ...]
    comments: tuple[Comment, ...]
    # added by the dsl helper: where the `spec NAME` and `language N` lines are
    spec_span: Span | None = None
    language_span: Span | None = None
    extends: Extends | None = None
    # set by composition (dsl/compose.py) on a module that extends another: the parsed files
    # it was composed of, the furthest base first and this file last (its items are then the
    # base's items with this file's over them); empty for a file that extends nothing
    composed_from: tuple["Module", ...] = ()


def map_spans(root, move):
    """A copy of ``root`` (a node, or a tuple of nodes) with ``move(span)`` in place of every
    ``Span`` in it. The tree is walked with an explicit stack, so an expression of any depth
    (a flat ``1 + 1 + ...`` of 100k terms is 100k levels of ``BinaryOp``) is copied without
    recursion."""
    copies: dict[int, object] = {}

    def copied(value):
        if isinstance(value, Span):
            return move(value)
        return copies[id(value)] if isinstance(value, (Node, tuple)) else value

    work = [(root, False)]
    while work:
        item, parts_done = work.pop()
        if id(item) in copies:
            continue
        parts = item if isinstance(item, tuple) else [getattr(item, name) for name in item.__dataclass_fields__]
        if not parts_done:
            work.append((item, True))
            work.extend((part, False) for part in parts if isinstance(part, (Node, tuple)))
        elif isinstance(item, tuple):
            copies[id(item)] = tuple(copied(part) for part in parts)
        else:
            fields = {name: copied(getattr(item, name)) for name in item.__dataclass_fields__}
            copies[id(item)] = replace(item, **fields)
    return copies[id(root)]
