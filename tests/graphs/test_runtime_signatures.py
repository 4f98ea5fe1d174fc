"""Every layer the graphs lower to constructs with its IR arguments, and every op binds its
IR inputs and keyword arguments, in each backend's runtime (jax, torch, mlx)."""

import importlib
import inspect

import pytest

from specc.compiler import ir
from specc.compiler.vocabulary import layers

from tests.graphs.helpers import build_ok
from tests.graphs.test_reference_shapes import EVERY_LAYER, EVERY_OP
from tests.graphs.test_seeds import DISCRIMINATORS


def _statements_and_layers():
    graphs = [build_ok(EVERY_LAYER)["layers_model"], build_ok(EVERY_OP)["ops"], build_ok(DISCRIMINATORS)["discriminator"]]
    statements, submodules = [], []
    for graph in graphs:
        for module in graph.modules:
            statements.extend(s for s in module.body if s.call == "op")
            submodules.extend(s for s in module.submodules if isinstance(s, ir.Layer))
    return statements, submodules


@pytest.mark.parametrize("backend", ["jax", "torch", "mlx"])
def test_runtime_accepts_the_ir(backend):
    runtime = {name: importlib.import_module(f"specc.runtime.{backend}.{name}") for name in ("layers", "preprocess")}
    statements, submodules = _statements_and_layers()
    for layer in submodules:
        getattr(runtime["layers"], layer.kind)(**dict(layer.arguments))
    checked = set()
    for statement in statements:
        infix = {**layers.BINARY_OPERATORS, **layers.COMPARISON_OPERATORS, **layers.LOGICAL_OPERATORS}.values()
        if statement.function in infix or statement.function in ("neg", "logical_not"):
            continue
        function = getattr(runtime[layers.runtime_module(statement.function)], statement.function)
        inputs = [object()] * len(statement.inputs)
        if layers.takes_tensor_list(statement.function):
            inputs = [inputs]
        inspect.signature(function).bind(*inputs, **dict(statement.arguments))
        checked.add(statement.function)
    # every registry op is exercised (the random primitives of time samplers run in numpy on
    # the host: tests/graphs/test_graph_time_samplers.py binds them)
    ops = {entry.runtime for entry in layers.ENTRIES.values() if entry.kind == "op" and not entry.draws}
    assert ops <= checked, sorted(ops - checked)
