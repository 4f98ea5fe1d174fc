"""Losses written in the spec's graph language: ``loss = graph("smooth_l1", arguments = {
beta = 0.5 })`` names a parameter-free ``block`` of the spec (docs/language.md, "Losses in the
graph language").

The block is built (``specc.compiler.graphs.functions.build_function``) with the types the
objective supplies: the model's output and the target field (``[B, ...]``) for
classification and regression; for the flows, the velocity and its target, both shaped like
the target field (f32). Every shape error of its body is the usual positioned E06xx, a type
the block's inputs do not accept is E0608 (E0617 for a dtype) at the loss, and its
hyperparameters bind from ``arguments`` (E0602, E0609). Then the block must create no
parameters and call no layer module, block or extern (E0718, at the call), and return one
``f32[]`` (E0719, at the declared output).

A flow's ``path = graph("exponential")`` is checked the same way with the inputs ``x0``,
``x1`` (shaped like the target field, f32) and ``t`` (``[B, 1, ..., 1]``), and must return
``(x_t, v)``, each shaped like ``x0`` (E0719).

A ``flow_matching`` objective's ``time = graph("beta_time")`` takes no tensors: its body
names the batch ``B`` and calls the random primitives (``uniform``, ``normal``, ``beta``,
``logit_normal``; E0720 anywhere else), and returns one ``f32[B]`` or ``f32[B, 1]`` (E0719).

:func:`check_graph_losses` returns the built module of each ``graph`` loss by the
position of its term (0 for a flow's one loss), of a ``graph`` path under ``"path"`` and of
a ``graph`` time sampler under ``"time"``, for lowering; the ones with errors are left out.
"""

from __future__ import annotations

import dataclasses
import re

from specc.compiler.vocabulary.words import with_article
from specc.compiler import ir
from specc.compiler.check.cross_field import Facts
from specc.dsl.diagnostics import Span

FLOWS = ("flow_matching", "mean_flow", "improved_mean_flow")
_VERSION = re.compile(r"_\d+$")


def graph_loss_locations(facts: Facts) -> list[tuple[int, tuple, dict]]:
    """``(term position, location of the component under "objective", its values)`` of each
    ``graph`` loss."""
    loss = facts.value("objective", "loss")
    if isinstance(loss, dict):  # a flow's one loss
        return [(0, ("loss", "graph"), loss)] if loss.get("kind") == "graph" else []
    found = []
    for index, term in enumerate(loss if isinstance(loss, (list, tuple)) else ()):
        if isinstance(term, dict) and isinstance(term.get("term"), dict) and term["term"].get("kind") == "graph":
            found.append((index, ("loss", index, "term", "graph"), term["term"]))
    return found


def check_graph_losses(facts: Facts, modules, constants, graphs: dict, checker) -> dict:
    """E0601-E0619, E0718, E0719 on each ``graph`` loss (module docstring) and on a flow's
    ``graph`` path; the built modules by term position, and the path's under ``"path"``."""
    built: dict = {}
    locations = graph_loss_locations(facts)
    types = _supplied_types(facts, graphs, checker) if locations else None
    for position, location, values in locations if types is not None else ():
        result = _build(facts, modules, constants, location, values, types, "a loss takes 2: the model's output and the target")
        if result is not None and _is_loss(facts, *result):
            built[position] = dataclasses.replace(result[1], name=result[1].source)
    path = facts.value("objective", "path")
    target = _target_type(checker)
    if facts.objective_kind() in FLOWS and isinstance(path, dict) and path.get("kind") == "graph" and target is not None:
        time = ir.TensorType("f32", ("B",) + (1,) * (len(target.shape) - 1))
        sample = ir.TensorType("f32", target.shape)
        role = "a path takes 3: x0 (the data), x1 (the noise) and t"
        result = _build(facts, modules, constants, ("path", "graph"), path, (sample, sample, time), role)
        if result is not None and _is_path(facts, *result, sample):
            built["path"] = dataclasses.replace(result[1], name=result[1].source)
    time = facts.value("objective", "time")
    if facts.objective_kind() == "flow_matching" and isinstance(time, dict) and time.get("kind") == "graph":
        role = "a time sampler takes none: it draws t with the random primitives"
        result = _build(facts, modules, constants, ("time", "graph"), time, (), role, draws=True)
        if result is not None and _is_time_sampler(facts, *result):
            built["time"] = dataclasses.replace(result[1], name=result[1].source)
    return built


def _build(facts: Facts, modules, constants, location: tuple, values: dict, types, role: str, section="objective",
           draws: bool = False):
    """(block, module) of the ``graph`` component at ``location`` of ``section`` built for
    ``types`` (``draws``: a time sampler), or None."""
    from specc.compiler.graphs.functions import FunctionInput, build_function

    name, arguments = values.get("name"), values.get("arguments") or {}
    if not isinstance(name, str):
        return None
    span = facts.span(section, *location)
    argument_spans = {key: facts.span(section, *location, "arguments", key) for key in arguments}
    inputs = [FunctionInput(kind, span) for kind in types]
    return build_function(modules, constants, facts.diagnostics, name, facts.span(section, *location, "name"),
                          inputs, arguments, argument_spans, role, draws)


def check_graph_metrics(facts: Facts, modules, constants, graphs: dict, checker) -> dict:
    """Each ``eval.metrics`` entry ``graph("block")``: built as a loss is, with the model's
    output and the target (the metric's ``needs`` keeps it to classification and regression),
    and held to the same rules (E0718, E0719, read "metric"); the built modules under
    ``("metric", position)``."""
    metrics = facts.value("eval", "metrics") or []
    found = [(index, item) for index, item in enumerate(metrics) if isinstance(item, dict) and item.get("kind") == "graph"]
    types = _supplied_types(facts, graphs, checker) if found else None
    built = {}
    for index, values in found if types is not None else ():
        role = "a metric takes 2: the model's output and the target"
        result = _build(facts, modules, constants, ("metrics", index, "graph"), values, types, role, "eval")
        if result is not None and _is_loss(facts, *result, what="metric"):
            built[("metric", index)] = dataclasses.replace(result[1], name=result[1].source)
    return built


def _target_type(checker) -> ir.TensorType | None:
    """The target field's type, batched; None when unknown (another diagnostic says why)."""
    fields, target_name = checker.fields or {}, getattr(checker, "target_name", None)
    field = fields.get(target_name) if target_name else None
    return None if field is None else ir.TensorType(field.dtype, ("B",) + tuple(field.shape))


def _supplied_types(facts: Facts, graphs: dict, checker) -> tuple[ir.TensorType, ir.TensorType] | None:
    """(prediction, target) as the loss receives them, batched; None when the model or the
    target is unknown (another diagnostic says why)."""
    target = _target_type(checker)
    if target is None:
        return None
    kind = facts.objective_kind()
    if kind in FLOWS:
        velocity = ir.TensorType("f32", target.shape)
        return velocity, velocity
    name = facts.value("objective", "model") or (next(iter(graphs)) if len(graphs) == 1 else None)
    graph = graphs.get(name)
    if graph is None or not graph.outputs:
        return None
    return graph.outputs[0], target


def _creates_nothing(facts: Facts, block, module: ir.ModuleDef, what: str) -> bool:
    """E0718 for a layer module, block, repeat or extern in the body."""
    for statement in module.body:
        if statement.call in ("layer", "repeat", "extern"):
            facts.error("E0718", _refusal(statement, module, what),
                        _origin_span(statement.origin, _called(statement), block.name_span),
                        f"{with_article(what)} is a function of its inputs: compute it with operators and the functions without "
                        "parameters (abs, exp, log, where, mean, ...)")
            return False
    return True


def _is_path(facts: Facts, block, module: ir.ModuleDef, sample: ir.TensorType) -> bool:
    """E0718 as for a loss; E0719 unless it returns two tensors shaped like ``x0``."""
    return _returns(facts, block, module, "path", lambda outputs: len(outputs) == 2 and all(kind == sample for kind in outputs),
                    f"a path returns (x_t, v), each shaped like x0 {_shown([sample])}",
                    "declare `-> (f32[B, ...], f32[B, ...])` and return `x_t, v`")


def _is_time_sampler(facts: Facts, block, module: ir.ModuleDef) -> bool:
    """E0718 as for a loss; E0719 unless it returns one f32 ``[B]`` or ``[B, 1]``."""
    wanted = (ir.TensorType("f32", ("B",)), ir.TensorType("f32", ("B", 1)))
    return _returns(facts, block, module, "time sampler", lambda outputs: len(outputs) == 1 and outputs[0] in wanted,
                    "a time sampler returns t, one f32[B] (or f32[B, 1]), a time per row of the batch",
                    "declare `-> f32[B]` and draw with the batch's shape: `beta([B], 2.0, 5.0)`")


def _is_loss(facts: Facts, block, module: ir.ModuleDef, what: str = "loss") -> bool:
    """E0718 for a layer module, block, repeat or extern in the body; E0719 for a result that
    is not one ``f32[]`` (``what``: a loss or a metric)."""
    scalar = ir.TensorType("f32", ())
    return _returns(facts, block, module, what, lambda outputs: [kind.dtype for kind in outputs] == ["f32"]
                    and tuple(outputs[0].shape) == (), f"{with_article(what)} returns one scalar `{_shown([scalar])}`",
                    "reduce over every axis: `mean(x, axis = [0, 1])`")


def _returns(facts: Facts, block, module: ir.ModuleDef, what: str, fits, wanted: str, hint: str) -> bool:
    """E0718 unless the block creates nothing; E0719 (at its declared output) unless
    ``fits(outputs)``: ``<what> `name` returns <outputs>; <wanted>``."""
    if not _creates_nothing(facts, block, module, what):
        return False
    outputs = [kind for _, kind in module.outputs]
    if fits(outputs):
        return True
    span = block.outputs[0].span if block.outputs else block.name_span
    facts.error("E0719", f"{what} `{block.name}` returns {_shown(outputs)}; {wanted}", span, hint)
    return False


def _shown(types) -> str:
    return ", ".join(f"{kind.dtype}[{', '.join(str(dim) for dim in kind.shape)}]" for kind in types)


def _called(statement: ir.Statement) -> str:
    """The spec's name of what ``statement`` calls (``linear`` for ``linear_0``)."""
    if statement.call == "extern":
        return statement.function
    return _VERSION.sub("", statement.attribute or statement.function)


def _refusal(statement: ir.Statement, module: ir.ModuleDef, what: str) -> str:
    called, owner = _called(statement), f"{what} `{module.source}`"
    if statement.call == "extern":
        return f"{owner} calls the extern `{called}`; {with_article(what)}'s body is written in the graph language alone"
    if statement.call == "repeat":
        return f"{owner} has a `repeat`, which makes a module; {with_article(what)} creates no modules"
    submodule = next((item for item in module.submodules if item.attribute == statement.attribute), None)
    if isinstance(submodule, ir.Instance):
        return f"{owner} calls the block `{called}`; {with_article(what)}'s body calls no blocks"
    if isinstance(submodule, ir.Layer) and not submodule.parameters:
        return f"{owner} calls `{called}`, a layer module; {with_article(what)} creates no modules"
    return f"{owner} calls `{called}`, which creates parameters; {with_article(what)} has none"


def _origin_span(origin: str, name: str, fallback: Span) -> Span:
    """The span of ``name`` at a statement's origin ``file:line:column``."""
    parts = origin.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        return fallback
    line, column = int(parts[1]), int(parts[2])
    return Span(parts[0], line, column, line, column + len(name))
