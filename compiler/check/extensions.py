"""The user's own code a spec names, checked before anything runs (docs/language.md
"Extending specc").

``python("losses.py", "smooth_l1", arguments = { beta = 0.5 })`` names a function or class
of a Python file beside the spec; the generated script imports the file and calls it. The
checker reads the file with Python's ``ast`` module and never runs it (``specc lint``
imports nothing of the user's), and holds each use against what its role needs:

- the name is defined at the top level of the file, as a function or a class as the role
  asks (E0532, with did-you-mean);
- a class has the methods of its role, each taking the arguments the script passes (E0534);
- ``arguments`` name parameters of the function (after the ones the script passes) or of
  the class's ``__init__``, and every parameter without a default is given (E0533);
- the file exists, is UTF-8 Python (E0530) and parses (E0531, at the user's line).

What each role receives is :data:`ROLES`. Pure apart from ``read``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from specc.compiler.check.data_paths import spec_relative_reader
from specc.compiler.vocabulary import registry
from specc.dsl.diagnostics import did_you_mean, printable

if TYPE_CHECKING:
    from specc.compiler.check.cross_field import Facts

SOURCE_BYTES = 16 * 1024 * 1024  # as imports: larger files are not read


@dataclass(frozen=True)
class Role:
    """What the script does with user code of one component kind.

    ``definition``: ``"function"`` or ``"class"``. ``passed``: the positional arguments the
    script passes before ``arguments`` (a function's) or to each method (a class's, after
    ``self``), by name for messages. ``methods``: the methods a class must define, with the
    positional arguments each receives; ``any_method``: at least one of these instead.
    """

    definition: str
    passed: tuple[str, ...] = ()
    methods: dict[str, tuple[str, ...]] = field(default_factory=dict)
    any_method: dict[str, tuple[str, ...]] = field(default_factory=dict)
    what: str = ""


ROLES: dict[str, Role] = {
    "path": Role(
        "class",
        methods={"interpolate": ("ops", "x0", "x1", "t"), "target": ("ops", "x0", "x1", "t")},
        what="a probability path",
    ),
    "time": Role("class", methods={"sample": ("rng", "size")}, what="a time sampler"),
    "loss": Role("function", passed=("ops", "prediction", "target"), what="a loss"),
}


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


def read_definitions(text: str, file: str) -> dict[str, Definition]:
    """The top-level functions and classes of a Python source; ``SyntaxError`` when it does
    not parse."""
    tree = ast.parse(text, filename=file)
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found[node.name] = Definition(node.name, "function", node.lineno, _signature(node.args, False), {}, False)
        elif isinstance(node, ast.ClassDef):
            methods = {
                item.name: _signature(item.args, True)
                for item in node.body
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
            }
            inherits = any(not (isinstance(base, ast.Name) and base.id == "object") for base in node.bases)
            found[node.name] = Definition(node.name, "class", node.lineno, methods.get("__init__"), methods, inherits)
    return found


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


# ---------------------------------------------------------------------- the check


def python_components(facts: Facts):
    """``(key, location, role, values)`` of every ``python`` component of the spec: ``values``
    is its validated dict (``file``, ``name``, ``arguments``), ``location`` where the checker
    keeps the spans of its arguments."""
    for key, checked in facts.checked.sections.items():
        values = checked.values
        resolved = facts.resolution.sections.get(key)
        kind = resolved.kind if resolved is not None else key
        if values.get("component") == "python":
            yield key, (), registry.SECTIONS[kind].component_kind, values
        for name, value in values.items():
            role = _parameter_kind(kind, values.get("component"), name)
            for location, item in _components(value, (name,)):
                yield key, location + ("python",), role, item


def _components(value, location: tuple):
    if isinstance(value, dict) and value.get("kind") == "python":
        yield location, value
    elif isinstance(value, dict) and isinstance(value.get("term"), dict):
        yield from _components(value["term"], location + ("term",))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _components(item, location + (index,))


def _parameter_kind(kind: str, component: str | None, name: str) -> str:
    """The component kind a section key holds (``loss`` for ``terms``)."""
    section = registry.SECTIONS.get(kind)
    parameters = list(section.keys) if section else []
    if section and section.component_kind and component:
        definition = registry.lookup(section.component_kind, component)
        parameters += list(definition.params) if definition else []
    for parameter in parameters:
        if parameter.name == name:
            written = parameter.type.rstrip("?")
            written = written[5:-1] if written.startswith("list[") else written
            return "loss" if written == "terms" else written
    return name


def check_extensions(facts: Facts, read: Callable[[str], bytes]) -> None:
    """E0530-E0534 on every ``python`` component (module docstring)."""
    cache: dict[str, dict[str, Definition] | None] = {}
    for key, location, role_kind, values in python_components(facts):
        role = ROLES.get(role_kind)
        if role is None or not isinstance(values.get("file"), str) or not isinstance(values.get("name"), str):
            continue
        definitions = _definitions(facts, read, key, location, values["file"], cache)
        if definitions is not None:
            _check_use(facts, key, location, role, values, definitions)


def _definitions(facts, read, key, location, file: str, cache) -> dict[str, Definition] | None:
    span = facts.span(key, *location, "file")
    reader = spec_relative_reader(facts, read, key, *location, "file")
    if (span.file, file) in cache:
        return cache[(span.file, file)]
    cache[(span.file, file)] = None
    if not file.endswith(".py"):
        facts.error("E0530", f"`file` names `{printable(file)}`, which is not a Python file (.py)", span)
        return None
    try:
        data = reader(file)
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        facts.error(
            "E0530",
            f"cannot read the Python file `{printable(file)}`: {reason}",
            span,
            "a relative path starts at the folder of the spec file that writes it, like an import",
        )
        return None
    if len(data) > SOURCE_BYTES:
        facts.error("E0530", f"the Python file `{printable(file)}` is larger than 16 MiB", span)
        return None
    try:
        text = data.decode("utf-8")
        definitions = read_definitions(text, file)
    except UnicodeDecodeError as error:
        facts.error("E0530", f"the Python file `{printable(file)}` is not UTF-8 (byte {error.start})", span)
        return None
    except (SyntaxError, ValueError) as error:
        where = f"{printable(file)}:{getattr(error, 'lineno', 0) or 0}:{getattr(error, 'offset', 0) or 0}"
        message = getattr(error, "msg", None) or str(error)
        facts.error("E0531", f"the Python file does not parse: {where}: {message}", span)
        return None
    cache[(span.file, file)] = definitions
    return definitions


def _check_use(facts, key, location, role: Role, values: dict, definitions: dict[str, Definition]) -> None:
    name, file = values["name"], values["file"]
    name_span = facts.span(key, *location, "name")
    definition = definitions.get(name)
    if definition is None:
        defined = sorted(name for name, item in definitions.items() if item.definition == role.definition)
        listing = ", ".join(f"`{item}`" for item in defined) or "none"
        facts.error(
            "E0532",
            f"`{printable(file)}` defines no {role.definition} `{printable(name)}` ({role.what} is a top-level "
            f"{role.definition}; it defines: {listing})",
            name_span,
            did_you_mean(name, defined),
        )
        return
    if definition.definition != role.definition:
        facts.error(
            "E0532",
            f"`{name}` ({printable(file)}:{definition.line}) is a {definition.definition}, but {role.what} is a "
            f"{role.definition}",
            name_span,
            _role_help(role),
        )
        return
    if role.definition == "class":
        _check_methods(facts, name_span, role, definition, file)
        signature = definition.signature
        passed: tuple[str, ...] = ()
    else:
        signature, passed = definition.signature, role.passed
        _check_passed(facts, name_span, f"`{name}`", signature, passed, definition, file)
    if signature is not None or not definition.inherits:
        _check_arguments(facts, key, location, values, signature, passed, definition, file)


def _check_methods(facts, span, role: Role, definition: Definition, file: str) -> None:
    for method, passed in role.methods.items():
        signature = definition.methods.get(method)
        if signature is None:
            if not definition.inherits:
                facts.error(
                    "E0534",
                    f"class `{definition.name}` ({printable(file)}:{definition.line}) has no method `{method}`, "
                    f"which {role.what} needs",
                    span,
                    did_you_mean(method, list(definition.methods)) or _role_help(role),
                )
            continue
        _check_passed(facts, span, f"`{definition.name}.{method}`", signature, passed, definition, file)


def _check_passed(facts, span, what: str, signature: Signature | None, passed, definition, file: str) -> None:
    """The script passes ``passed`` by position: the function must take that many."""
    if signature is None or signature.variable_positional or len(signature.positional) >= len(passed):
        return
    facts.error(
        "E0534",
        f"{what} ({printable(file)}:{definition.line}) takes {len(signature.positional)} positional "
        f"argument(s), but the script passes {len(passed)}: ({', '.join(passed)})",
        span,
    )


def _check_arguments(facts, key, location, values, signature, passed, definition, file: str) -> None:
    arguments = values.get("arguments") or {}
    skipped = set(signature.positional[: len(passed)]) if signature is not None else set()
    takes = tuple(name for name in signature.keywords if name not in skipped) if signature is not None else ()
    open_keywords = signature is not None and signature.variable_keywords
    for argument in arguments:
        if argument in takes or open_keywords:
            continue
        facts.error(
            "E0533",
            f"`{definition.name}` ({printable(file)}:{definition.line}) takes no argument `{printable(argument)}`"
            + (f" (it takes: {', '.join(takes)})" if takes else " (it takes none)"),
            facts.span(key, *location, "arguments", argument),
            did_you_mean(argument, takes),
        )
    if signature is None:
        return
    missing = [name for name in takes if name in signature.required and name not in arguments]
    if missing:
        facts.error(
            "E0533",
            f"`{definition.name}` ({printable(file)}:{definition.line}) needs the argument(s) "
            f"{', '.join(f'`{name}`' for name in missing)}: give them in `arguments = {{ ... }}`",
            facts.span(key, *location, "name"),
        )


def _role_help(role: Role) -> str:
    if role.definition == "function":
        return f"write `def name({', '.join(role.passed)}, ...)`"
    methods = "; ".join(f"`def {method}(self, {', '.join(passed)})`" for method, passed in role.methods.items())
    return f"write a class with {methods}"
