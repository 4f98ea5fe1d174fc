"""Model graphs: lower every ``model`` of a program to an ``ir.ModelGraph``.

``build_models(modules, constants, diagnostics)`` is the entry point (INTERFACES.md). It
collects the blocks of every module (one namespace), then builds each model in source
order: a ``model f(...) -> ... { }`` graph, or ``model f = some_block(hyper = ...)`` (the
block instantiated as a model: its tensor inputs become the model's inputs). Blocks are
monomorphised (``graphs_calls.instantiate``); class names are CamelCase of the block, model
or repeat owner, unique across the whole program (``FilmMlp``, ``FilmMlp2``,
``VectorFieldRepeat0``), so that two graphs listing the same class list the same ModuleDef.

Parameter names are dotted paths of attributes: a layer is ``<kind>_<n>`` (n counts the
calls of that kind in its scope, from 0, in source order, ``for`` iterations included), a
block instance ``<block>_<n>``, a repeat ``repeat_<n>`` whose repetitions are ``.0.``,
``.1.``...: ``repeat_0.3.film_mlp_0.linear_1.weight``. User mistakes are diagnostics
(E06xx, docs/diagnostics/graphs.md), never exceptions; a model with an error is left out
of the result. Blocks no model uses get the checks that need no shapes (``graphs_lint``).
"""

from __future__ import annotations

from typing import Mapping, Sequence

from specc.compiler import ir
from specc.compiler.vocabulary import layers
from specc.dsl.diagnostics import Diagnostic, did_you_mean
from specc.compiler.graphs.arithmetic import dim_value
from specc.compiler.graphs.blocks import Built, bind_dims, evaluate_hyperparameters, instantiate
from specc.compiler.graphs.calls import bind_arguments
from specc.compiler.graphs.externs import collect_externs, graph_externs
from specc.compiler.graphs.unused_blocks import check_unused_blocks
from specc.compiler.graphs.scope import Scope
from specc.compiler.vocabulary.shape_rules import TensorInfo
from specc.compiler.graphs.values import GraphError, origin
from specc.dsl import ast


class Program:
    """What every scope of one ``build_models`` call shares."""

    def __init__(self, blocks: dict, constants: Mapping, diagnostics: list, externs: dict | None = None):
        self.blocks = blocks
        self.externs = externs or {}  # name -> ast.Extern: the user's functions (externs.py)
        self.constants = dict(constants)
        self.diagnostics = diagnostics
        self.instances: dict = {}  # instantiation key -> Built | None
        self.modules: dict[str, ir.ModuleDef] = {}
        self.class_names: set[str] = set()
        self.next_index: dict[str, int] = {}  # class_name(): suffixes below it are taken
        self.stack: list[str] = []  # blocks being instantiated, for recursion
        self.scope_type = Scope
        self.draws_allowed = False  # the random primitives (E0720): a time sampler's body only

    def class_name(self, base: str) -> str:
        """``base``, else ``base2``, ``base3``... (the search resumes where the last ended)."""
        index = self.next_index.get(base, 1)
        name = f"{base}{index}" if index > 1 else base
        while name in self.class_names:
            index += 1
            name = f"{base}{index}"
        self.next_index[base] = index
        self.class_names.add(name)
        return name

    def add_module(self, module: ir.ModuleDef) -> None:
        self.modules[module.name] = module

    def top_scope(self, hypers: dict) -> Scope:
        """A scope seeing only the constants and ``hypers`` (for defaults and model arguments)."""
        scope = Scope(self, "", "")
        for name, value in hypers.items():
            scope.env[name], scope.roles[name] = value, "hyper"
        return scope


def build_models(modules: Sequence[ast.Module], constants: Mapping, diagnostics: list[Diagnostic]) -> dict[str, ir.ModelGraph]:
    """Every model of the program as an ``ir.ModelGraph``, by model name. Appends E06xx
    diagnostics to ``diagnostics``; models with errors are left out."""
    blocks = _collect_blocks(modules, diagnostics)
    program = Program(blocks, constants, diagnostics, collect_externs(modules, blocks, constants, diagnostics))
    graphs: dict[str, ir.ModelGraph] = {}
    first: dict[str, ast.Node] = {}
    for module in modules:
        for item in module.items if module is not None else ():
            if not isinstance(item, (ast.Model, ast.ModelInstance)):
                continue
            if item.name in first:
                diagnostics.append(_duplicate("model", item.name, item.name_span, first[item.name]))
                graphs.pop(item.name, None)
                continue
            first[item.name] = item
            built = _build_model(program, item)
            if built is not None and _not_too_large(program, item, built):
                graphs[item.name] = _graph(program, item.name, built)
    check_unused_blocks(program)
    return graphs


MAX_MODULE_INSTANCES = 100_000  # layers, block instances and repetitions in one model


def module_instances(modules: Mapping[str, ir.ModuleDef], class_name: str, counted: dict) -> int:
    """How many sub-module instances a ``class_name`` holds, all levels down (what its
    parameter names enumerate): nested repeats multiply. Each class is counted once."""
    if class_name not in counted:
        total = 0
        for submodule in modules[class_name].submodules:
            if isinstance(submodule, ir.Layer):
                total += 1
            elif isinstance(submodule, ir.Instance):
                total += 1 + module_instances(modules, submodule.module, counted)
            else:
                total += submodule.count * (1 + module_instances(modules, submodule.module, counted))
        counted[class_name] = total
    return counted[class_name]


def _not_too_large(program: Program, item, built: Built) -> bool:
    """E0611 for a model whose nested repeats make more instances than MAX_MODULE_INSTANCES
    (each repeat is within its own limit, but `repeat 2` nested 40 deep makes 2 ** 40)."""
    count = module_instances(program.modules, built.class_name, {})
    if count <= MAX_MODULE_INSTANCES:
        return True
    program.diagnostics.append(Diagnostic(
        "E0611", f"model `{item.name}` has {count:,} layer, block and repetition instances, more than the limit of "
        f"{MAX_MODULE_INSTANCES:,}", item.name_span, help="nested `repeat`s multiply: make the counts smaller"))
    return False


def _duplicate(kind: str, name: str, span, previous) -> Diagnostic:
    return Diagnostic("E0606", f"{kind} `{name}` is defined twice", span,
                      notes=(f"first defined at {origin(previous.span)}",))


def _collect_blocks(modules, diagnostics) -> dict[str, ast.Block]:
    blocks: dict[str, ast.Block] = {}
    for module in modules:
        for item in module.items if module is not None else ():
            if isinstance(item, (ast.Block, ast.Model)):
                _check_parameters(item, diagnostics)
            if not isinstance(item, ast.Block):
                continue
            if layers.lookup(item.name) is not None:
                diagnostics.append(Diagnostic("E0606", f"block `{item.name}` has the name of a built-in layer",
                                              item.name_span, help="rename the block"))
            elif item.name in blocks:
                diagnostics.append(_duplicate("block", item.name, item.name_span, blocks[item.name]))
            else:
                blocks[item.name] = item
    return blocks


def _check_parameters(definition, diagnostics) -> None:
    seen: set[str] = set()
    for parameter in definition.parameters:
        if parameter.name in seen:
            diagnostics.append(Diagnostic("E0606", f"parameter `{parameter.name}` of `{definition.name}` is declared twice",
                                          parameter.span))
        seen.add(parameter.name)


def _build_model(program: Program, item) -> Built | None:
    scope = program.top_scope({})
    before = len(program.diagnostics)
    try:
        if isinstance(item, ast.Model):
            definition = item
            for parameter in item.parameters:
                if parameter.tensor is None and parameter.default is None:
                    raise GraphError("E0602", f"hyperparameter `{parameter.name}` of model `{item.name}` needs a default",
                                     parameter.span, "a model is not called by anyone: give every hyperparameter a value")
            hypers = evaluate_hyperparameters(scope, item, {}, item.name)
        else:
            definition = _instance_block(program, item)
            tensors = {p.name for p in definition.parameters if p.tensor is not None}
            for keyword in item.call.kwargs:
                if keyword.name in tensors:
                    raise GraphError("E0609", f"{definition.name}: the tensor input `{keyword.name}` of a model is fed "
                                     "by the objective and cannot be given here", keyword.span)
            # positional arguments are the hyperparameters, in order
            bound = bind_arguments(definition.name, [(p.name, p.default is None) for p in definition.parameters
                                                     if p.tensor is None], item.call)
            hypers = evaluate_hyperparameters(scope, definition, bound, definition.name)
        inputs = [p for p in definition.parameters if p.tensor is not None]
        for declared in [p.tensor for p in inputs] + [o for o in definition.outputs if isinstance(o, ast.TensorType)]:
            _check_dtype(declared)
        infos = [TensorInfo(p.tensor.dtype or "f32", tuple(dim_value(scope, d, hypers, symbols=True) for d in p.tensor.dims))
                 for p in inputs]
        dims = bind_dims(scope, definition, hypers, [(info, p.span) for info, p in zip(infos, inputs)], definition.name)
        built = instantiate(program, definition, hypers, dims, infos, item.span)
    except GraphError as error:
        scope.report(error)
        return None
    return built if len(program.diagnostics) == before or built is not None else None


DTYPES = ("f32", "i32", "i64", "bool")


def _check_dtype(declared: ast.TensorType) -> None:
    if declared.dtype is not None and declared.dtype not in DTYPES:
        raise GraphError("E0617", f"unknown dtype `{declared.dtype}`", declared.span,
                         did_you_mean(declared.dtype, DTYPES) or f"dtypes: {', '.join(DTYPES)}")


def _instance_block(program: Program, item: ast.ModelInstance) -> ast.Block:
    block = program.blocks.get(item.call.function)
    if block is None:
        help = did_you_mean(item.call.function, program.blocks) or "a model instance names a block: `model f = my_block(...)`"
        raise GraphError("E0601", f"unknown block `{item.call.function}`", item.call.function_span, help)
    return block


def _graph(program: Program, name: str, built: Built) -> ir.ModelGraph:
    order: list[ir.ModuleDef] = []
    seen: set[str] = set()

    def visit(class_name: str) -> None:
        if class_name in seen:
            return
        seen.add(class_name)
        module = program.modules[class_name]
        for submodule in module.submodules:
            if isinstance(submodule, (ir.Instance, ir.ModuleList)):
                visit(submodule.module)
        order.append(module)

    visit(built.class_name)
    root = program.modules[built.class_name]
    return ir.ModelGraph(
        name=name, root=root.name, modules=tuple(order), parameters=tuple(full_parameters(program.modules, root.name)),
        inputs=root.inputs, outputs=tuple(tensor for _, tensor in root.outputs), output_structure=built.structure,
        externs=graph_externs(program.externs, order), fixed=tuple(fixed_layers(program.modules, root.name)))


def layers_under(modules: Mapping[str, ir.ModuleDef], class_name: str):
    """(dotted prefix of the layer's module, layer) of every layer under ``class_name``, in
    module order (instances and repeated modules walked; ``repeat`` copies numbered)."""
    for submodule in modules[class_name].submodules:
        if isinstance(submodule, ir.Layer):
            yield "", submodule
        elif isinstance(submodule, ir.Instance):
            yield from ((f"{submodule.attribute}.{prefix}", layer) for prefix, layer in layers_under(modules, submodule.module))
        else:
            for index in range(submodule.count):
                yield from ((f"{submodule.attribute}.{index}.{prefix}", layer)
                            for prefix, layer in layers_under(modules, submodule.module))


def fixed_layers(modules: Mapping[str, ir.ModuleDef], class_name: str) -> list[str]:
    """The dotted path of every layer under ``class_name`` written ``trainable = false``, sorted."""
    return sorted(f"{prefix}{layer.attribute}" for prefix, layer in layers_under(modules, class_name) if not layer.trainable)


def full_parameters(modules: Mapping[str, ir.ModuleDef], class_name: str) -> list[tuple[str, ir.Parameter]]:
    """(full dotted name, parameter) of every parameter under ``class_name``, sorted by name."""
    found = [(f"{prefix}{layer.attribute}.{parameter.name}", parameter)
             for prefix, layer in layers_under(modules, class_name) for parameter in layer.parameters]
    return sorted(found, key=lambda item: item[0])
