"""The Python functions a spec's ``extern`` declarations name, read with ``ast`` and never run.

``extern pair_sum(a: f32[B, N], b: f32[B, N], scale: float = 1.0) -> f32[B] =
python("functions.py", "pair_sum")``: the script calls ``pair_sum(ops, a, b, scale=...)``
(``compiler/graphs/externs.py`` checks the shapes of every call). Here, against the file:

- it exists, is UTF-8 Python and parses (E0530, E0531 at the file's string);
- it defines a top-level function of that name (E0532 at the name's string);
- the function takes ``ops`` and the extern's tensor inputs by position (E0534);
- every hyperparameter of the extern is a keyword argument of the function, and every
  parameter of the function without a default is passed (E0533).

The file of every ``ir.Extern`` of the model graphs is then made absolute like a data file's:
relative to the folder of the spec file that writes it, and to ``base``. Pure apart from
``read``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from specc.compiler.check.data_paths import _folder, located
from specc.compiler.check.extensions import ROLES, _check_passed, python_definitions
from specc.compiler.graphs.externs import python_target
from specc.dsl import ast
from specc.dsl.diagnostics import did_you_mean, printable

if TYPE_CHECKING:
    from specc.compiler.check.cross_field import Facts


def check_externs(facts: Facts, read: Callable[[str], bytes], modules, graphs: dict, base: str | None = None) -> None:
    """E0530-E0534 on every extern's Python function (module docstring); the ``file`` of the
    externs in ``graphs`` (replaced in place) made absolute."""
    cache: dict = {}
    absolute: dict[str, str] = {}
    for module in modules:
        for item in module.items if module is not None else ():
            target = python_target(item) if isinstance(item, ast.Extern) else None
            if target is None:
                continue
            file, name = target
            file_span = item.value.args[0].span
            folder = _folder(file_span.file, facts.resolution.root_file)
            absolute.setdefault(item.name, located(file, folder, base))
            definitions = python_definitions(facts, file_span, _reader(read, folder), file, cache)
            if definitions is not None:
                _check_function(facts, item, file, name, definitions)
    for key, graph in list(graphs.items()):
        if graph.externs:
            externs = tuple(dataclasses.replace(extern, file=absolute.get(extern.name, extern.file)) for extern in graph.externs)
            graphs[key] = dataclasses.replace(graph, externs=externs)


def _reader(read: Callable[[str], bytes], folder: str) -> Callable[[str], bytes]:
    def read_relative(path: str) -> bytes:
        return read(located(path, folder, None))

    return read_relative


def _check_function(facts: Facts, item: ast.Extern, file: str, name: str, definitions: dict) -> None:
    role = ROLES["extern"]
    name_span = item.value.args[1].span
    definition = definitions.get(name)
    if definition is None:
        functions = sorted(key for key, value in definitions.items() if value.definition == "function")
        listing = ", ".join(f"`{function}`" for function in functions) or "none"
        facts.error(
            "E0532",
            f"`{printable(file)}` defines no function `{printable(name)}` ({role.what} is a top-level function; "
            f"it defines: {listing})",
            name_span,
            did_you_mean(name, functions),
        )
        return
    if definition.definition != "function":
        facts.error(
            "E0532",
            f"`{name}` ({printable(file)}:{definition.line}) is a class, but {role.what} is a function",
            name_span,
            f"write `def {name}(ops, {', '.join(p.name for p in item.parameters if p.tensor is not None)}, ...)`",
        )
        return
    tensors = tuple(parameter.name for parameter in item.parameters if parameter.tensor is not None)
    passed = role.passed + tensors
    signature = definition.signature
    _check_passed(facts, name_span, f"`{name}`", signature, passed, definition, file)
    if signature is None:
        return
    where = f"`{name}` ({printable(file)}:{definition.line})"
    skipped = set(signature.positional[: len(passed)])
    takes = tuple(keyword for keyword in signature.keywords if keyword not in skipped)
    hypers = [parameter for parameter in item.parameters if parameter.tensor is None]
    for parameter in hypers:
        if parameter.name not in takes and not signature.variable_keywords:
            facts.error(
                "E0533",
                f"{where} takes no argument `{parameter.name}`"
                + (f" (it takes: {', '.join(takes)})" if takes else " (it takes none)"),
                parameter.span,
                did_you_mean(parameter.name, takes),
            )
    given = {parameter.name for parameter in hypers}
    missing = [keyword for keyword in takes if keyword in signature.required and keyword not in given]
    if missing:
        listed = ", ".join(f"`{keyword}`" for keyword in missing)
        facts.error(
            "E0533",
            f"{where} needs the argument(s) {listed}, which `extern {item.name}` does not declare",
            name_span,
            f"declare them as hyperparameters of the extern (`{missing[0]}: float = ...`), or give them defaults "
            "in the function",
        )
