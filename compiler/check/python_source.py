"""What a Python file defines, read with ``ast`` and never run: its top-level functions and
classes, their signatures, and the names a function's ``return`` statements log beside a
scalar. ``compiler/check/extensions.py`` holds the user code a spec names against it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Signature:
    """Parameters of a Python function: ``positional`` (in order, ``self`` dropped for
    methods), ``keywords`` (every name a keyword argument may use), ``required`` (no default),
    and whether ``*args`` / ``**kwargs`` take the rest."""

    positional: tuple[str, ...]
    keywords: tuple[str, ...]
    required: frozenset[str]
    variable_positional: bool
    variable_keywords: bool


@dataclass(frozen=True)
class Definition:
    name: str
    definition: str  # "function" or "class"
    line: int
    signature: Signature | None  # a function's; a class's __init__ (None: none written)
    methods: dict[str, Signature]
    inherits: bool  # a class with bases: methods may come from them
    logged: tuple[str, ...] | None = ()  # a function's: the names of the dict it returns beside a scalar
    method_lines: dict[str, int] = field(default_factory=dict)  # a class's: where each method starts


def read_definitions(text: str, file: str) -> dict[str, Definition]:
    """The top-level functions and classes of a Python source; ``SyntaxError`` when it does
    not parse."""
    tree = ast.parse(text, filename=file)
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            signature = _signature(node.args, False)
            found[node.name] = Definition(node.name, "function", node.lineno, signature, {}, False, _logged(node))
        elif isinstance(node, ast.ClassDef):
            methods = {
                item.name: _signature(item.args, True)
                for item in node.body
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
            }
            inherits = any(not (isinstance(base, ast.Name) and base.id == "object") for base in node.bases)
            lines = {item.name: item.lineno for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))}
            found[node.name] = Definition(
                node.name, "class", node.lineno, methods.get("__init__"), methods, inherits, method_lines=lines
            )
    return found


def _logged(function: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, ...] | None:
    """The names a function logs beside its scalar: every ``return`` gives ``value`` (none)
    or ``(value, {"name": ..., ...})`` with the same string keys; None when they cannot be
    read from the source (another form, or returns that disagree)."""
    found: list[tuple[str, ...] | None] = []
    pending = list(function.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue  # their returns are not this function's
        if isinstance(node, ast.Return):
            found.append(_returned_names(node.value))
        pending.extend(ast.iter_child_nodes(node))
    kinds = set(found)
    if None in kinds or len(kinds) > 1:
        return None
    return kinds.pop() if kinds else ()


def _returned_names(value: ast.expr | None) -> tuple[str, ...] | None:
    if not isinstance(value, ast.Tuple):
        return ()
    if len(value.elts) != 2 or not isinstance(value.elts[1], ast.Dict):
        return None
    keys = value.elts[1].keys
    if not all(isinstance(key, ast.Constant) and isinstance(key.value, str) for key in keys):
        return None
    return tuple(key.value for key in keys)


def _signature(arguments: ast.arguments, method: bool) -> Signature:
    positional = [item.arg for item in arguments.posonlyargs + arguments.args]
    defaulted = set(positional[len(positional) - len(arguments.defaults) :]) if arguments.defaults else set()
    keyword_only = [item.arg for item in arguments.kwonlyargs]
    defaulted |= {item.arg for item, default in zip(arguments.kwonlyargs, arguments.kw_defaults) if default is not None}
    if method and positional:
        positional = positional[1:]  # self
    keywords = tuple(name for name in positional if name not in {item.arg for item in arguments.posonlyargs})
    names = positional + keyword_only
    return Signature(
        tuple(positional),
        keywords + tuple(keyword_only),
        frozenset(name for name in names if name not in defaulted),
        arguments.vararg is not None,
        arguments.kwarg is not None,
    )
