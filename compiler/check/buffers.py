"""Layers that own buffers (``batch_norm``, ``running_statistics``) where a training step
cannot update them: E0624 under an objective that differentiates the model forward-mode
(``mean_flow``, ``improved_mean_flow``: a buffer cannot be written inside ``jvp`` on JAX or
torch), E0625 inside a ``repeat`` with ``train.remat`` (each pass is run again in the
backward pass, which would update its buffers twice). Positioned at the layer's call.
"""

from __future__ import annotations

from collections.abc import Iterator

from specc.compiler import ir
from specc.compiler.check.cross_field import Facts
from specc.dsl.diagnostics import Span

# objectives whose loss differentiates the model with a jvp (the emitter's mean-flow loops)
FORWARD_MODE_OBJECTIVES = ("mean_flow", "improved_mean_flow")
CALLS = {"BatchNorm": "batch_norm", "RunningStatistics": "running_statistics"}


def _buffer_calls(modules: dict[str, ir.ModuleDef], name: str, seen: set) -> Iterator[tuple[str, str]]:
    """``(layer call, origin)`` of every layer owning buffers under module ``name``."""
    if name in seen:
        return
    seen.add(name)
    module = modules[name]
    owners = {item.attribute: item.kind for item in module.submodules
              if isinstance(item, ir.Layer) and any(parameter.buffer for parameter in item.parameters)}
    for statement in module.body:
        if statement.call == "layer" and statement.attribute in owners:
            yield CALLS.get(owners[statement.attribute], owners[statement.attribute]), statement.origin
    for item in module.submodules:
        if isinstance(item, (ir.Instance, ir.ModuleList)):
            yield from _buffer_calls(modules, item.module, seen)


def _repeated_buffer_calls(graph: ir.ModelGraph) -> Iterator[tuple[str, str]]:
    modules = {module.name: module for module in graph.modules}
    lists = {item.attribute: item.module for module in graph.modules for item in module.submodules
             if isinstance(item, ir.ModuleList)}
    for module in graph.modules:
        for statement in module.body:
            if statement.call == "repeat" and statement.attribute in lists:
                yield from _buffer_calls(modules, lists[statement.attribute], set())


def _span(origin: str, name: str, facts: Facts) -> Span:
    parts = origin.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        line, column = int(parts[1]), int(parts[2])
        return Span(parts[0], line, column, line, column + len(name))
    return Span.point(facts.resolution.root_file)


def check_buffers(facts: Facts, graphs: dict[str, ir.ModelGraph]) -> None:
    """E0624 and E0625 (module docstring), once per model."""
    kind = facts.objective_kind()
    for name, graph in sorted(graphs.items()):
        modules = {module.name: module for module in graph.modules}
        if kind in FORWARD_MODE_OBJECTIVES:
            for call, origin in list(_buffer_calls(modules, graph.root, set()))[:1]:
                facts.error(
                    "E0624",
                    f"`{call}` updates buffers in training steps, but objective `{kind}` differentiates model "
                    f"`{name}` forward-mode (a jvp), inside which JAX and torch cannot write them",
                    _span(origin, call, facts),
                    "normalise without running statistics (layernorm, groupnorm, rmsnorm), or train with flow_matching",
                )
        if facts.value("train", "remat") is True:
            for call, origin in list(_repeated_buffer_calls(graph))[:1]:
                facts.error(
                    "E0625",
                    f"`{call}` is in a `repeat` of model `{name}`, which train.remat runs again in the backward "
                    "pass: its buffers would be updated twice a step",
                    _span(origin, call, facts),
                    "move it out of the repeat, or remove train.remat",
                )
