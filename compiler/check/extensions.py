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

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from specc.compiler.check.data_paths import spec_relative_reader
from specc.compiler.check.python_source import Definition, Signature, read_definitions
from specc.compiler.vocabulary import registry
from specc.compiler.vocabulary.words import with_article
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
    positional arguments each receives; ``any_method``: hooks (a callback's): at least one of
    them, each with exactly those arguments, and no other method named ``on_*`` (a typo).
    ``created_with``: the positional arguments a class's ``__init__`` receives before
    ``arguments`` (a data source's ``split``).
    """

    definition: str
    passed: tuple[str, ...] = ()
    methods: dict[str, tuple[str, ...]] = field(default_factory=dict)
    any_method: dict[str, tuple[str, ...]] = field(default_factory=dict)
    what: str = ""
    created_with: tuple[str, ...] = ()
    logs: bool = False  # a function whose return may add named values: read them (E0535)


ROLES: dict[str, Role] = {
    "path": Role(
        "class",
        methods={"interpolate": ("ops", "x0", "x1", "t"), "target": ("ops", "x0", "x1", "t")},
        what="a probability path",
    ),
    "time": Role("class", methods={"sample": ("rng", "size")}, what="a time sampler"),
    "renderer": Role("function", passed=("params",), what="a renderer"),  # data { render = python(...) }
    "loss": Role("function", passed=("ops", "prediction", "target"), what="a loss", logs=True),
    "data": Role(
        "class",
        methods={"__len__": (), "__getitem__": ("index",)},
        what="a data source",
        created_with=("split",),
    ),
    # an `extern` of a graph (compiler/check/externs.py): the tensors after `ops` are the
    # extern's inputs, its hyperparameters are the keyword arguments
    "extern": Role("function", passed=("ops",), what="an extern"),
    "callback": Role(  # runtime/training/user_callbacks.py calls them; other on_* names are typos
        "class",
        any_method={
            "on_train_start": ("info",),
            "on_step_end": ("step", "values"),
            "on_evaluation_end": ("step", "metrics"),
            "on_checkpoint_saved": ("step", "path"),
            "on_train_end": ("info",),
        },
        what="a callback",
    ),
}


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
    """E0530-E0535 on every ``python`` component (module docstring), then a flow objective's
    user loss (:func:`check_flow_loss`)."""
    cache: dict[str, dict[str, Definition] | None] = {}
    for key, location, role_kind, values in python_components(facts):
        role = ROLES.get(role_kind)
        if role is None or not isinstance(values.get("file"), str) or not isinstance(values.get("name"), str):
            continue
        if key == "data" and not location and facts.value("data", "fake") and _absent(facts, read, values["file"]):
            continue  # fake data: the script never imports the class, so its file may be absent
        definitions = _definitions(facts, read, key, location, values["file"], cache)
        if definitions is not None:
            _check_use(facts, key, location, role, values, definitions)
    check_flow_loss(facts)
    check_user_source_seed(facts)


# the flow objectives' keys that choose their built-in loss
FLOW_LOSS_KEYS = {"flow_matching": ("weighted",), "mean_flow": ("gamma", "c"), "improved_mean_flow": ("weighted",)}


def check_flow_loss(facts: Facts) -> None:
    """A flow objective's ``loss`` is the user's, ``python(...)`` or ``graph(...)`` (E0714 for a
    built-in name); a Python one returns the loss alone (E0535: the flows log their ``mse``
    beside it); the keys of the built-in loss it replaces are then not written (E0529)."""
    kind = facts.value("objective", "component")
    loss = facts.value("objective", "loss")
    if kind not in FLOW_LOSS_KEYS or not isinstance(loss, dict):
        return
    span = facts.span("objective", "loss")
    if loss.get("kind") not in ("python", "graph"):
        facts.error(
            "E0714",
            f"objective `{kind}` does not take loss `{loss.get('kind')}`",
            span,
            f"a flow objective's `loss` is the user's, `python(\"file.py\", \"name\")`; its own is chosen by "
            f"`{'` and `'.join(FLOW_LOSS_KEYS[kind])}`",
        )
        return
    if loss.get("logs"):
        facts.error(
            "E0535",
            f"`{loss['name']}` returns named values ({', '.join(loss['logs'])}), but a flow objective's loss "
            "returns the loss alone",
            facts.span("objective", "loss", "python", "name"),
            "return the loss only: flow objectives log their `mse` beside it",
        )
    written = facts.resolution.sections["objective"].entries
    for key in FLOW_LOSS_KEYS[kind]:
        if key in written:
            facts.error(
                "E0529",
                f"`{key}` has no effect: the objective's loss is the user's (`loss = {loss['kind']}(...)`)",
                facts.span("objective", key),
                f"remove `{key}`, or the user loss",
            )


def _absent(facts, read, file: str) -> bool:
    """Whether the data section's Python file ``file`` cannot be found (``data python`` with
    ``fake = true`` then needs none; a file that is there is checked as always)."""
    try:
        spec_relative_reader(facts, read, "data", "file")(file)
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False
    return False


def _definitions(facts, read, key, location, file: str, cache) -> dict[str, Definition] | None:
    span = facts.span(key, *location, "file")
    reader = spec_relative_reader(facts, read, key, *location, "file")
    return python_definitions(facts, span, reader, file, cache)


def python_definitions(facts, span, reader, file: str, cache) -> dict[str, Definition] | None:
    """What the Python file ``file`` (as written at ``span``, read with ``reader``) defines,
    or None after E0530 / E0531 at ``span``; ``cache`` keeps each file's answer."""
    if (span.file, file) in cache:
        return cache[(span.file, file)]
    cache[(span.file, file)] = None
    if not file.endswith(".py"):
        facts.error("E0530", f"`{printable(file)}` is not a Python file (.py)", span)
        return None
    try:
        data = reader(file)
    except (OSError, ValueError) as error:
        reason = "it does not exist" if isinstance(error, FileNotFoundError) else getattr(error, "strerror", None) or str(error)
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
            f"`{name}` ({printable(file)}:{definition.line}) is {with_article(definition.definition)}, but "
            f"{role.what} is {with_article(role.definition)}",
            name_span,
            _role_help(role),
        )
        return
    if role.definition == "class":
        _check_methods(facts, name_span, role, definition, file)
        signature, passed = definition.signature, role.created_with
        _check_created(facts, name_span, role, definition, file)
    else:
        signature, passed = definition.signature, role.passed
        _check_passed(facts, name_span, f"`{name}`", signature, passed, definition, file)
    if signature is not None or not definition.inherits:
        _check_arguments(facts, key, location, values, signature, passed, definition, file)
    if role.logs:
        _read_logged(facts, name_span, values, definition, file)


def _read_logged(facts, span, values: dict, definition: Definition, file: str) -> None:
    """Record the names the function logs in its values (``logs``: every backend logs them as
    ``train/<name>`` and ``val/<name>``, monitors may name them), or E0535."""
    logged = definition.logged
    problem = None
    if logged is None:
        problem = "its `return` statements do not show one set of names for the values it returns"
    elif "loss" in logged or len(set(logged)) != len(logged):
        problem = "it returns a value named `loss` or a name twice"
    if problem is not None:
        facts.error(
            "E0535",
            f"`{definition.name}` ({printable(file)}:{definition.line}): {problem}",
            span,
            'every `return` gives the loss alone, or `(loss, {"name": value, ...})` with the same names written '
            "as strings: the names are logged and may be monitored, so they are read before anything runs",
        )
        return
    values["logs"] = list(logged)


def _check_methods(facts, span, role: Role, definition: Definition, file: str) -> None:
    if role.any_method:
        _check_hooks(facts, span, role, definition, file)
    for method, passed in role.methods.items():
        signature = definition.methods.get(method)
        if signature is None:
            if not definition.inherits:
                facts.error(
                    "E0534",
                    f"class `{definition.name}` ({printable(file)}:{definition.line}) has no method `{method}`, "
                    f"which {role.what} needs",
                    span,
                    did_you_mean(method, [name for name in definition.methods if name not in ("__init__", *role.methods)])
                    or _role_help(role),
                )
            continue
        _check_passed(facts, span, f"`{definition.name}.{method}`", signature, passed, definition, file)


def _check_hooks(facts, span, role: Role, definition: Definition, file: str) -> None:
    """A class of hooks (``any_method``): every ``on_*`` method is one of them, at least one
    is defined (unless a base class may define them), and each takes exactly the positional
    arguments the script passes."""
    hooks = list(role.any_method)
    listing = ", ".join(hooks)
    unknown = [name for name in definition.methods if name.startswith("on_") and name not in role.any_method]
    for name in unknown:
        facts.error(
            "E0534",
            f"`{definition.name}.{name}` ({printable(file)}:{definition.method_lines.get(name, definition.line)}) "
            f"is not a hook of {role.what}, "
            f"so it would never be called (the hooks: {listing})",
            span,
            did_you_mean(name, hooks) or "rename it, or give it a name that does not start with `on_`",
        )
    defined = [name for name in hooks if name in definition.methods]
    if not defined and not unknown and not definition.inherits:
        facts.error(
            "E0534",
            f"class `{definition.name}` ({printable(file)}:{definition.line}) defines none of the hooks of "
            f"{role.what}: {listing}",
            span,
            f"write at least one, e.g. `def on_step_end(self, {', '.join(role.any_method['on_step_end'])})`"
            if "on_step_end" in role.any_method
            else f"write at least one of {listing}",
        )
    for name in defined:
        signature, passed = definition.methods[name], role.any_method[name]
        what = f"`{definition.name}.{name}`"
        _check_passed(facts, span, what, signature, passed, definition, file)
        line = definition.method_lines.get(name, definition.line)
        extra = [item for item in signature.positional[len(passed) :] if item in signature.required]
        extra += [item for item in signature.keywords if item in signature.required and item not in signature.positional]
        if extra and (len(signature.positional) >= len(passed) or signature.variable_positional):
            facts.error(
                "E0534",
                f"{what} ({printable(file)}:{line}) needs {', '.join(f'`{item}`' for item in extra)}, "
                f"which the script does not pass (it passes: {', '.join(passed)})",
                span,
                f"write `def {name}({', '.join(('self',) + passed)})`",
            )


def _check_created(facts, span, role: Role, definition: Definition, file: str) -> None:
    """``Name(*created_with, **arguments)``: ``__init__`` takes ``created_with`` by position."""
    if not role.created_with:
        return
    if definition.signature is None and not definition.inherits:
        facts.error(
            "E0534",
            f"class `{definition.name}` ({printable(file)}:{definition.line}) has no `__init__`, but the script "
            f"makes {role.what} with ({', '.join(role.created_with)})",
            span,
            f"write `def __init__(self, {', '.join(role.created_with)}, ...)`",
        )
        return
    _check_passed(facts, span, f"`{definition.name}.__init__`", definition.signature, role.created_with, definition, file)


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
    if role.any_method:
        hooks = "; ".join(f"`def {method}({', '.join(('self',) + passed)})`" for method, passed in role.any_method.items())
        return f"write a class with any of {hooks}"
    methods = "; ".join(f"`def {method}({', '.join(('self',) + passed)})`" for method, passed in role.methods.items())
    return f"write a class with {methods}"


def check_user_source_seed(facts: Facts) -> None:
    """``data python``'s ``seed`` splits a pool (``val_fraction`` / ``test_fraction``); without
    one the class serves its own splits and a written ``seed`` would change nothing (E0536)."""
    section = facts.resolution.sections.get("data")
    if section is None or facts.value("data", "component") != "python" or "seed" not in section.entries:
        return
    if not {"val_fraction", "test_fraction"} & set(section.entries):
        facts.error(
            "E0536",
            "`seed` has no effect: the class serves each split itself (it splits a pool only with "
            "`val_fraction` or `test_fraction`)",
            facts.span("data", "seed"),
            "remove `seed`, or set `val_fraction` / `test_fraction` to split one pool of examples",
        )
