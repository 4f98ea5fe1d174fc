"""``summarize(program)``: what a spec costs before it is trained.

Per model: a layer table (every parametrised layer, block instance and repeat, nested, with
its output shape, parameter count and forward FLOPs per example), the exact parameter count
(the IR's parameters plus what the training script adds to the model: the learned null
condition of classifier-free guidance), forward FLOPs and saved activation bytes per
example. Per program: FLOPs per training step, memory of parameters, of their 16-bit working
copy under mixed precision, of gradients and of optimizer state, and the memory of a batch.
The formulas are in :mod:`specc.compiler.analysis.costs` and docs/tools.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from specc.compiler import ir
from specc.compiler.analysis import costs

# bytes of one element: floating values at the compute precision, the others as stored
FLOAT_WIDTH = {"fp32": 4, "bf16": 2, "fp16": 2}
OTHER_WIDTH = {"i64": 8, "i32": 4, "bool": 1}
MASTER_WIDTH = 4  # parameters, gradients and optimizer state stay fp32 (mixed precision)
# optimizer state values per parameter; sgd keeps a momentum buffer only with momentum > 0
OPTIMIZER_STATES = {"adam": 2, "adamw": 2, "lion": 1, "sgd": 1}
# objectives that call a model more than once per example and step
SEVERAL_CALLS = {
    "adversarial": "the discriminator runs on real and generated examples, and again in the generator's step",
    "mean_flow": "the model's Jacobian-vector product adds about one forward pass",
    "improved_mean_flow": "the model's Jacobian-vector product adds about one forward pass",
}


@dataclass(frozen=True)
class Row:
    """One line of the layer table. ``parameters`` is None for a layer called again (its
    parameters are on its first row); ``flops`` are forward FLOPs per example, every
    repetition included (None: unknown, a user function's); ``depth`` 0 is the model's own
    body."""

    path: str
    kind: str
    output: str
    parameters: int | None
    flops: int | None
    depth: int


@dataclass(frozen=True)
class ModelSummary:
    name: str
    inputs: tuple[tuple[str, ir.TensorType], ...]
    rows: tuple[Row, ...]
    parameters: int
    forward_flops: int  # per example
    activation_bytes: int  # saved for the backward pass, per example
    dimensions: tuple[tuple[str, int], ...]  # symbolic axes and the lengths the data gives them
    unbound: tuple[str, ...] = ()  # symbolic axes no data field sets (taken as 1)


@dataclass(frozen=True)
class OptimizerMemory:
    name: str
    kind: str
    states: int  # fp32 values per parameter
    parameters: int


@dataclass(frozen=True)
class ProgramSummary:
    spec_name: str
    models: tuple[ModelSummary, ...]
    precision: str
    batch_size: int
    accumulate: int
    optimizers: tuple[OptimizerMemory, ...]
    ema: bool
    note: str = ""  # why the FLOPs are a lower bound, when they are

    @property
    def parameters(self) -> int:
        return sum(model.parameters for model in self.models)

    @property
    def flops_per_step(self) -> int:
        """Forward + backward of every model for every example of a step (micro-batches
        included): ``3 x forward FLOPs per example x batch_size x accumulate``."""
        forward = sum(model.forward_flops for model in self.models)
        return costs.TRAINING_FLOPS_FACTOR * forward * self.batch_size * self.accumulate

    @property
    def activation_bytes(self) -> int:
        """Saved activations per example, every model together."""
        return sum(model.activation_bytes for model in self.models)

    @property
    def parameter_bytes(self) -> int:
        return MASTER_WIDTH * self.parameters

    @property
    def working_copy_bytes(self) -> int:
        """The 16-bit copy of the weights mixed precision computes with (0 at fp32)."""
        return 0 if self.precision == "fp32" else FLOAT_WIDTH[self.precision] * self.parameters

    @property
    def gradient_bytes(self) -> int:
        return MASTER_WIDTH * self.parameters

    @property
    def optimizer_bytes(self) -> int:
        return sum(MASTER_WIDTH * item.states * item.parameters for item in self.optimizers)

    @property
    def ema_bytes(self) -> int:
        return MASTER_WIDTH * self.parameters if self.ema else 0

    @property
    def static_bytes(self) -> int:
        """Memory that does not grow with the batch."""
        return self.parameter_bytes + self.working_copy_bytes + self.gradient_bytes + self.optimizer_bytes + self.ema_bytes

    def memory(self, batch_size: int | None = None) -> int:
        """Estimated peak memory of a training step with ``batch_size`` examples (default:
        the spec's)."""
        return self.static_bytes + self.activation_bytes * (self.batch_size if batch_size is None else batch_size)

    def largest_batch(self, memory_bytes: int) -> int:
        """The largest batch whose estimated step fits in ``memory_bytes`` (0: none does)."""
        free = memory_bytes - self.static_bytes
        if free <= 0:
            return 0
        return free // max(self.activation_bytes, 1)


# ----------------------------------------------------------------------------- shapes


def shape_text(tensor_type: ir.TensorType) -> str:
    return "[" + ", ".join(str(dim) for dim in tensor_type.shape) + "]"


def per_example(tensor_type: ir.TensorType, dimensions: dict) -> tuple[int, ...]:
    """The shape of one example: the leading batch axis dropped, symbolic axes bound."""
    shape = tuple(tensor_type.shape)
    if shape and shape[0] == "B":
        shape = shape[1:]
    return tuple(dimensions.get(dim, 1) if isinstance(dim, str) else int(dim) for dim in shape)


def _input_sources(program: ir.Program, graph: ir.ModelGraph) -> dict[str, tuple]:
    """Model input -> the per-example shape the training script feeds it."""
    from specc.compiler.emit.objectives import language_model_view

    fields = {field.name: tuple(field.type.shape) for field in program.data.fields}
    bindings = dict(program.objective.inputs)
    names = [name for name, _ in graph.inputs]
    shifted = ()
    if program.objective.kind == "language_model":
        shifted = language_model_view(program, {"inputs": names})["shifted_inputs"]
    shapes = {}
    for name in names:
        source = bindings.get(f"{graph.name}.{name}", bindings.get(name, f"data.{name}"))
        scope, _, field = source.partition(".")
        if scope == "objective":
            field = program.objective.target if field == "x" else ""
        shape = fields.get(field)
        if shape is not None and field in shifted:
            shape = (shape[0] - 1, *shape[1:])
        shapes[name] = shape
    return shapes


def bind_dimensions(program: ir.Program, graph: ir.ModelGraph) -> tuple[dict[str, int], tuple[str, ...]]:
    """Symbolic axes of the model's inputs (``T``) bound to the data's lengths; the
    symbolic axes no input binds."""
    dimensions: dict[str, int] = {}
    symbols: set[str] = set()
    sources = _input_sources(program, graph)
    for name, tensor_type in graph.inputs:
        shape = tuple(tensor_type.shape)
        axes = shape[1:] if shape and shape[0] == "B" else shape
        symbols.update(dim for dim in axes if isinstance(dim, str))
        given = sources.get(name)
        if given is not None and len(given) == len(axes):
            dimensions.update({dim: int(size) for dim, size in zip(axes, given) if isinstance(dim, str)})
    return dimensions, tuple(sorted(symbols - set(dimensions)))


# ----------------------------------------------------------------------------- walking


def repeated_block(module: ir.ModuleDef) -> str:
    """What a repeat's body is: the block it calls when that is all it does, else its class."""
    instances = [item for item in module.submodules if isinstance(item, ir.Instance)]
    calls = [statement for statement in module.body if statement.call == "layer"]
    if len(calls) == 1 and len(instances) == 1 and len(module.submodules) == 1:
        return instances[0].module
    return module.name


class ModelWalker:
    """Costs and rows of one model graph's modules (memoised per module)."""

    def __init__(self, graph: ir.ModelGraph, dimensions: dict, precision: str):
        self.modules = {module.name: module for module in graph.modules}
        self.dimensions = dimensions
        self.float_width = FLOAT_WIDTH[precision]
        self.costs: dict[str, tuple[int, int]] = {}
        self.parameter_counts: dict[str, int] = {}

    def width(self, tensor_type: ir.TensorType) -> int:
        return OTHER_WIDTH.get(tensor_type.dtype, self.float_width)

    def bytes_of(self, tensor_type: ir.TensorType) -> int:
        return math.prod(per_example(tensor_type, self.dimensions)) * self.width(tensor_type)

    def submodule_parameters(self, submodule) -> int:
        if isinstance(submodule, ir.Layer):
            return sum(math.prod(parameter.shape) for parameter in submodule.parameters if not parameter.buffer)
        count = submodule.count if isinstance(submodule, ir.ModuleList) else 1
        return count * self.module_parameters(submodule.module)

    def module_parameters(self, name: str) -> int:
        if name not in self.parameter_counts:
            module = self.modules[name]
            self.parameter_counts[name] = sum(self.submodule_parameters(item) for item in module.submodules)
        return self.parameter_counts[name]

    def statement_cost(self, module: ir.ModuleDef, statement: ir.Statement, types: dict) -> tuple[int, int]:
        """(forward FLOPs, saved activation bytes) of one statement for one example."""
        inputs = [per_example(types[item.ref], self.dimensions) if item.ref in types else None for item in statement.inputs]
        outputs = [per_example(kind, self.dimensions) for kind in statement.types]
        own_outputs = sum(self.bytes_of(kind) for kind in statement.types)
        if statement.call == "extern":  # the user's function: no parameters, FLOPs unknown (not counted)
            return 0, own_outputs
        if statement.call == "op":
            return costs.op_flops(statement.function, inputs, outputs), own_outputs
        submodule = {item.attribute: item for item in module.submodules}[statement.attribute]
        if isinstance(submodule, ir.Layer):
            extra = costs.layer_extra_activations(submodule, inputs) * self.float_width
            return costs.layer_flops(submodule, inputs, outputs), own_outputs + extra
        flops, saved = self.module_cost(submodule.module)
        count = submodule.count if isinstance(submodule, ir.ModuleList) else 1
        return flops * count, saved * count

    def module_cost(self, name: str) -> tuple[int, int]:
        """(forward FLOPs, saved activation bytes) of one call of module ``name``."""
        if name not in self.costs:
            module = self.modules[name]
            types = dict(module.inputs)
            flops = saved = 0
            for statement in module.body:
                statement_flops, statement_saved = self.statement_cost(module, statement, types)
                flops, saved = flops + statement_flops, saved + statement_saved
                types.update(zip(statement.targets, statement.types))
            self.costs[name] = (flops, saved)
        return self.costs[name]

    def rows(self, name: str, prefix: str = "", depth: int = 0) -> list[Row]:
        """The layer table of module ``name``: one row per call of a sub-module, then its
        own rows one level deeper; sub-modules never called last."""
        module = self.modules[name]
        submodules = {item.attribute: item for item in module.submodules}
        types, seen, rows = dict(module.inputs), set(), []
        for statement in module.body:
            if statement.call == "extern":
                output = ", ".join(shape_text(kind) for kind in statement.types)
                rows.append(Row(prefix + statement.function, f"extern {statement.function}", output, 0, None, depth))
            elif statement.call != "op":
                submodule = submodules[statement.attribute]
                flops, _ = self.statement_cost(module, statement, types)
                first = statement.attribute not in seen
                seen.add(statement.attribute)
                output = ", ".join(shape_text(kind) for kind in statement.types)
                rows += self._submodule_rows(submodule, prefix, depth, output, flops, first)
            types.update(zip(statement.targets, statement.types))
        for attribute, submodule in submodules.items():
            if attribute not in seen:
                rows += self._submodule_rows(submodule, prefix, depth, "(not called)", 0, True)
        return rows

    def _submodule_rows(self, submodule, prefix, depth, output, flops, first) -> list[Row]:
        parameters = self.submodule_parameters(submodule) if first else None
        path = prefix + submodule.attribute
        if isinstance(submodule, ir.Layer):
            return [Row(path, submodule.kind, output, parameters, flops, depth)]
        if isinstance(submodule, ir.ModuleList):
            kind = f"{submodule.count} x {repeated_block(self.modules[submodule.module])}"
            inner = self.rows(submodule.module, f"{path}.*.", depth + 1) if first else []
            return [Row(path, kind, output, parameters, flops, depth), *inner]
        inner = self.rows(submodule.module, f"{path}.", depth + 1) if first else []
        return [Row(path, submodule.module, output, parameters, flops, depth), *inner]


def _null_conditions(program: ir.Program, graph: ir.ModelGraph) -> list[tuple[str, tuple]]:
    """(parameter, shape) of the learned null conditions the training script adds to
    ``graph`` (classifier-free guidance), as the emitter decides them."""
    from specc.compiler.emit.render import objective_view

    if not program.objective.models or program.objective.models[0] != graph.name:
        return []
    nulls = objective_view(program, {"inputs": [name for name, _ in graph.inputs]})["nulls"]
    return [(null["parameter"], tuple(null["shape"])) for null in nulls]


def summarize_model(program: ir.Program, graph: ir.ModelGraph) -> ModelSummary:
    dimensions, unbound = bind_dimensions(program, graph)
    walker = ModelWalker(graph, dimensions, program.train.precision)
    rows = walker.rows(graph.root)
    flops, saved = walker.module_cost(graph.root)
    for name, shape in _null_conditions(program, graph):
        rows.append(Row(name, "null condition (guidance)", shape_text(ir.TensorType("f32", shape)), math.prod(shape), 0, 0))
    saved += sum(walker.bytes_of(kind) for _, kind in graph.inputs)
    saved += sum(walker.bytes_of(kind) for kind in graph.outputs)  # the loss keeps e.g. log-softmax
    parameters = sum(math.prod(parameter.shape) for _, parameter in graph.parameters if not parameter.buffer)
    parameters += sum(row.parameters for row in rows if row.kind == "null condition (guidance)")
    return ModelSummary(
        graph.name, graph.inputs, tuple(rows), parameters, flops, saved, tuple(sorted(dimensions.items())), unbound
    )


def optimizer_states(component: ir.Component) -> int:
    arguments = dict(component.arguments)
    if component.kind == "sgd" and not arguments.get("momentum"):
        return 0
    return OPTIMIZER_STATES.get(component.kind, 2)


def summarize(program: ir.Program) -> ProgramSummary:
    """The whole program's summary (every model, the training step's costs)."""
    models = tuple(summarize_model(program, graph) for graph in program.models)
    counts = {model.name: model.parameters for model in models}
    optimizers = tuple(
        OptimizerMemory(
            plan.name,
            plan.optimizer.kind,
            optimizer_states(plan.optimizer),
            sum(counts[name] for name in (plan.models or tuple(counts))),
        )
        for plan in program.optimizers
    )
    return ProgramSummary(
        spec_name=program.spec_name,
        models=models,
        precision=program.train.precision,
        batch_size=program.data.batch_size,
        accumulate=max(program.train.accumulate, 1),
        optimizers=optimizers,
        ema=program.train.ema is not None,
        note="; ".join(note for note in (SEVERAL_CALLS.get(program.objective.kind, ""), _extern_note(program)) if note),
    )


def _extern_note(program: ir.Program) -> str:
    """Why the FLOPs leave something out when a model calls user functions."""
    names = sorted({extern.name for graph in program.models for extern in graph.externs})
    if not names:
        return ""
    return f"the FLOPs of the user function{'s' * (len(names) > 1)} {', '.join(names)} (extern) are unknown and not counted"
