"""The Python names of what a spec names, so that a generated script cannot shadow itself.

A model or block of the spec becomes a class of the script (``model mlp`` -> ``class Mlp``),
and an adversarial objective's models name their parameter tables (``VAE_PARAMETERS``). The
script has names of its own: its globals (``PARAMETERS``, ``PACKAGES``, ``Objective``,
``Models``), its imports (``F``, ``nn``), the locals of its functions and Python's builtins
(``ValueError``). A spec name equal to one of them would rebind it and crash the script at
start-up, so :func:`render_without_shadowing` decides every such name once: it renders the
script, reads back (with :mod:`ast`) every name the text binds, and gives each spec-made name
bound anywhere else, or equal to a keyword or a builtin, the suffix ``_`` (``Objective_``,
``PARAMETERS_``; again until it is free), then renders again. A spec whose names collide with
nothing renders exactly as before: one pass, names unchanged.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import keyword
from collections import Counter
from collections.abc import Callable, Iterable

from specc.compiler import ir
from specc.compiler.emit.filters import EmitError

SUFFIX = "_"
# names no spec-made identifier may take, whatever the script holds: Python's own
PYTHON_NAMES = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins))
PASSES = 4  # renders at most: each pass renames every collision it found, so two suffice


def class_names(program: ir.Program) -> list[str]:
    """Every class name of the program's models, in a fixed order (first use)."""
    names: dict[str, None] = {}
    for graph in program.models:
        for module in graph.modules:
            names.setdefault(module.name, None)
    return list(names)


def extern_names(program: ir.Program) -> list[str]:
    """The module-level names of the user functions the models call (``extern``), in a fixed
    order: renamed like class names when the script binds them elsewhere."""
    names: dict[str, None] = {}
    for graph in program.models:
        for extern in graph.externs:
            names.setdefault(extern.name, None)
    return list(names)


def loss_function_names(program: ir.Program) -> list[str]:
    """The module-level names of the losses and the path written in the spec (``graph("name")``)."""
    path = program.objective.path_graph
    return [term.graph.name for term in program.objective.terms if term.graph is not None] + ([path.name] if path else [])


def free_name(name: str, taken: Iterable[str]) -> str:
    """``name`` with the suffix added until it is neither taken nor a Python name."""
    taken = set(taken)
    while name in taken or name in PYTHON_NAMES:
        name += SUFFIX
    return name


def renamed(program: ir.Program, mapping: dict[str, str]) -> ir.Program:
    """``program`` with its classes renamed (module names, the modules instances and lists
    refer to, each graph's root); the identity mapping returns ``program`` itself."""
    if all(old == new for old, new in mapping.items()):
        return program

    def submodule(item):
        if isinstance(item, (ir.Instance, ir.ModuleList)):
            return dataclasses.replace(item, module=mapping.get(item.module, item.module))
        return item

    def statement(item: ir.Statement) -> ir.Statement:
        if item.call == "extern":  # a user function, called by its module-level name
            return dataclasses.replace(item, function=mapping.get(item.function, item.function))
        return item

    def module(definition: ir.ModuleDef) -> ir.ModuleDef:
        return dataclasses.replace(
            definition,
            name=mapping.get(definition.name, definition.name),
            submodules=tuple(submodule(item) for item in definition.submodules),
            body=tuple(statement(item) for item in definition.body),
        )

    def extern(item: ir.Extern) -> ir.Extern:
        return dataclasses.replace(item, name=mapping.get(item.name, item.name))

    graphs = tuple(
        dataclasses.replace(
            graph,
            root=mapping.get(graph.root, graph.root),
            modules=tuple(module(item) for item in graph.modules),
            externs=tuple(extern(item) for item in graph.externs),
        )
        for graph in program.models
    )
    terms = tuple(
        dataclasses.replace(term, graph=dataclasses.replace(term.graph, name=mapping.get(term.graph.name, term.graph.name)))
        if term.graph is not None else term
        for term in program.objective.terms
    )
    path = program.objective.path_graph
    if path is not None:
        path = dataclasses.replace(path, name=mapping.get(path.name, path.name))
    objective = dataclasses.replace(program.objective, terms=terms, path_graph=path)
    return dataclasses.replace(program, models=graphs, objective=objective)


def bindings(source: str) -> Counter:
    """How many times ``source`` binds each name, in any scope: definitions, assignments,
    parameters, imports, loop and ``except``/``with`` targets. Identical top-level classes
    count once (a class two models share is printed with each of them)."""
    tree = ast.parse(source)
    found: Counter = Counter()
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    repeated = {name for name, count in Counter(node.name for node in classes).items() if count > 1}
    printed, definitions = {id(node) for node in classes}, set()
    for node in classes:
        definition = (node.name, ast.dump(node) if node.name in repeated else "")
        if definition not in definitions:
            definitions.add(definition)
            found[node.name] += 1
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and id(node) not in printed:
            found[node.name] += 1
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            found[node.id] += 1
        elif isinstance(node, ast.arg):
            found[node.arg] += 1
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                found[alias.asname or alias.name.split(".")[0]] += 1
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found[node.name] += 1
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            found.update(node.names)
    return found


def shadowed(source: str, names: Iterable[str]) -> set[str]:
    """The spec-made ``names`` that ``source`` binds more than once (each defines its class
    or table once at most) or that are Python names."""
    counts = bindings(source)
    return {name for name in names if counts[name] > 1 or name in PYTHON_NAMES}


def render_without_shadowing(
    program: ir.Program, render: Callable[[ir.Program], str], extra: Callable[[ir.Program], list[str]] = lambda _: []
) -> str:
    """``render(program)`` with every class name the script would rebind renamed (see the
    module docstring). ``extra(program)``: further spec-made names the text must bind once at
    most (parameter tables); they are made unique by the caller, and checked here."""
    classes = class_names(program)
    originals = classes + [name for name in extern_names(program) if name not in classes]
    originals += [name for name in loss_function_names(program) if name not in originals]
    mapping = {name: free_name(name, set(originals) - {name}) for name in originals}
    for _ in range(PASSES):
        current = renamed(program, mapping)
        source = render(current)
        counts = bindings(source)
        clashes = [old for old, new in mapping.items() if counts[new] > 1]
        if not clashes:
            unsafe = shadowed(source, extra(current))
            if unsafe:
                raise EmitError(f"generated names bound more than once (a specc bug): {', '.join(sorted(unsafe))}")
            return source
        taken = set(counts) | set(mapping.values())
        for old in clashes:
            mapping[old] = free_name(mapping[old] + SUFFIX, taken)
            taken.add(mapping[old])
    raise EmitError(f"class names still shadowed after {PASSES} renderings (a specc bug)")
