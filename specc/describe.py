"""What a checkpoint holds, for ``specc inspect`` and ``specc.describe_checkpoint``.

``describe_checkpoint(path)`` reads the manifest and re-checks the embedded spec
(:func:`specc.load.check_checkpoint`), then lists, per model, the block it calls with its
hyperparameters, its input and output types, its layers by kind, and its parameters and
buffers counted from the checkpoint's arrays. ``format_description`` prints that as
``specc inspect``'s text. Nothing here builds a model or imports a framework.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np

from specc.load import SPEC_FILE, CheckedCheckpoint, check_checkpoint, model_shapes
from specc.runtime.parameters import is_buffer


def _plain(value):
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def model_calls(checked: CheckedCheckpoint) -> dict[str, tuple[str, str, dict]]:
    """``{model: (definition, block, hyperparameters)}``: ``"instance"`` with the block a
    ``model f = block(...)`` calls and every hyperparameter's value (given or default), or
    ``"graph"`` for a ``model f(...) { }`` (its own block; hyperparameters from defaults)."""
    from specc.compiler.graphs import build as graphs
    from specc.compiler.graphs.blocks import evaluate_hyperparameters
    from specc.compiler.graphs.calls import bind_arguments
    from specc.compiler.pipeline import graph_constants
    from specc.compiler.check.validate import validate_sections
    from specc.dsl import ast
    from specc.dsl.parser import parse

    module, _ = parse(checked.result.sources[SPEC_FILE], SPEC_FILE)
    resolution = checked.result.resolution
    blocks = {item.name: item for item in module.items if isinstance(item, ast.Block)}
    constants = graph_constants(resolution, validate_sections(resolution))
    scope = graphs.Program(blocks, constants, []).top_scope({})
    calls = {}
    for item in module.items:
        if isinstance(item, ast.ModelInstance):
            block = blocks[item.call.function]
            hyper = [(parameter.name, parameter.default is None) for parameter in block.parameters if parameter.tensor is None]
            bound = bind_arguments(block.name, hyper, item.call)
            calls[item.name] = ("instance", block.name, evaluate_hyperparameters(scope, block, bound, block.name))
        elif isinstance(item, ast.Model):
            calls[item.name] = ("graph", item.name, evaluate_hyperparameters(scope, item, {}, item.name))
    return calls


def _type_text(kind) -> str:
    return f"{kind.dtype}[{', '.join(str(dim) for dim in kind.shape)}]"


def _layer_counts(graph) -> dict[str, int]:
    """Layers of a model by kind, every instance counted (repeats included)."""
    from specc.compiler import ir

    modules = {module.name: module for module in graph.modules}
    counts: Counter = Counter()

    def visit(class_name: str, times: int) -> None:
        for submodule in modules[class_name].submodules:
            if isinstance(submodule, ir.Layer):
                counts[submodule.kind] += times
            elif isinstance(submodule, ir.Instance):
                visit(submodule.module, times)
            else:
                visit(submodule.module, times * submodule.count)

    visit(graph.root, 1)
    return dict(sorted(counts.items()))


def describe_checkpoint(path) -> dict:
    """What a checkpoint holds, from its manifest and its re-checked spec: ``spec_name``,
    ``spec_hash``, ``step``, ``epoch``, ``backend`` and ``specc_version`` that wrote it,
    ``overrides``, ``metrics`` and, per model, its ``definition`` (``instance`` of a block or
    its own ``graph``), the ``block`` called with its ``arguments`` (hyperparameters),
    ``inputs``/``outputs`` types, ``layers`` by kind, ``parameter_count`` (scalars in
    the checkpoint under that model's keys) and ``buffer_count`` (of them, the buffers'). Plain JSON-serialisable values."""
    checked = check_checkpoint(path)
    calls = model_calls(checked)
    models = []
    for graph in checked.program.models:
        definition, block, arguments = calls[graph.name]
        shapes = model_shapes(checked, graph.name)
        models.append(
            {
                "name": graph.name,
                "definition": definition,
                "block": block,
                "arguments": {key: _plain(value) for key, value in arguments.items()},
                "inputs": {name: _type_text(kind) for name, kind in graph.inputs},
                "outputs": [_type_text(kind) for kind in graph.outputs],
                "layers": _layer_counts(graph),
                **_counts(shapes),
            }
        )
    manifest = checked.manifest
    return {
        "checkpoint": str(checked.path),
        "spec_name": checked.program.spec_name,
        "spec_hash": manifest.get("spec_hash"),
        "step": manifest.get("step"),
        "epoch": manifest.get("epoch"),
        "backend": manifest.get("backend"),
        "specc_version": manifest.get("specc_version"),
        "imported_from": manifest.get("imported_from"),  # specc import-checkpoint: a plain Lightning .ckpt
        "overrides": list(checked.overrides),
        "metrics": manifest.get("metrics") or {},
        "models": models,
    }


def _counts(shapes: dict) -> dict:
    """``parameter_tensors`` / ``parameter_count`` (trainable arrays) and ``buffer_tensors`` /
    ``buffer_count`` (buffers: ``running_mean``...) of a model's checkpoint arrays."""
    counts = {"parameter_tensors": 0, "parameter_count": 0, "buffer_tensors": 0, "buffer_count": 0}
    for name, shape in shapes.items():
        kind = "buffer" if is_buffer(name) else "parameter"
        counts[f"{kind}_tensors"] += 1
        counts[f"{kind}_count"] += int(np.prod(shape, dtype=np.int64))
    return counts


def _outputs_text(outputs: list[str], shown: int = 4) -> str:
    """Output types, the first ``shown`` of a long list followed by how many there are."""
    if len(outputs) <= shown:
        return ", ".join(outputs)
    return f"{', '.join(outputs[:shown])}, ... ({len(outputs)} outputs)"


def format_description(description: dict) -> str:
    """``specc inspect``'s text: one header block, then one block per model."""
    lines = [
        f"checkpoint  {description['checkpoint']}",
        f"spec        {description['spec_name']} (sha256 {description['spec_hash']})",
        f"step        {description['step']} (epoch {description['epoch']})",
        f"written by  {description['backend']} backend, specc {description['specc_version']}",
    ]
    if description.get("imported_from"):
        lines.append(f"imported    from {description['imported_from']} (weights only: warm-starts, does not resume)")
    lines += [f"override    {override}" for override in description["overrides"]]
    for name, value in sorted(description["metrics"].items()):
        lines.append(f"metric      {name} = {value}")
    for model in description["models"]:
        arguments = ", ".join(f"{key}={json.dumps(value)}" for key, value in model["arguments"].items())
        inputs = ", ".join(f"{name}: {kind}" for name, kind in model["inputs"].items())
        layers = ", ".join(f"{kind} x{count}" for kind, count in model["layers"].items())
        if model["definition"] == "instance":
            heading = f"model {model['name']} = {model['block']}({arguments})"
        else:
            heading = f"model {model['name']}: its own graph" + (f" ({arguments})" if arguments else "")
        lines += [
            "",
            heading,
            f"  inputs      {inputs}",
            f"  outputs     {_outputs_text(model['outputs'])}",
            f"  layers      {layers}",
            f"  parameters  {model['parameter_count']:,} in {model['parameter_tensors']} tensors",
        ]
        if model.get("buffer_tensors"):  # not trained: updated in training steps (running statistics)
            lines.append(f"  buffers     {model['buffer_count']:,} in {model['buffer_tensors']} tensors (not trained)")
    return "\n".join(lines) + "\n"
