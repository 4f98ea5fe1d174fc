"""Model classes as template views: every ``ir.ModuleDef`` becomes one class whose
constructor lines come from its sub-modules and whose forward lines come from its
statements. Every spec value goes through :mod:`specc.compiler.emit.filters`.
"""

from __future__ import annotations

from specc.compiler import ir
from specc.compiler.emit import forward
from specc.compiler.emit.configuration import USER_CODE
from specc.compiler.emit.filters import EmitError, identifier, literal, operand_literal

INFIX = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "truediv": "/",
    "floordiv": "//",
    "mod": "%",
    "pow": "**",
    "matmul": "@",
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
    "logical_and": "&",
    "logical_or": "|",
}
PREFIX = {"neg": "-", "pos": "+", "logical_not": "~"}

# Names a generated forward method uses itself: a spec value with one of these names is
# renamed (``layers`` -> ``layers_``) so it cannot shadow them.
RESERVED = frozenset(
    {"self", "layers", "preprocess", "module", "jax", "jnp", "nnx", "np", "torch", "nn", "mx", "F",
     "rng", "numpy_draws", "numpy_layers"}
)


def operand(value: ir.Operand, names: dict, inline: dict, parent: int = forward.LOOSEST, right: bool = False) -> str:
    """An operand as code: a literal, a name, or the expression of an inlined value (in
    parentheses where an operator of precedence ``parent`` needs them: ``(a + b) * c``)."""
    if value.parameter is not None:  # another layer's parameter (weight tying)
        return "self." + ".".join(identifier(part) for part in value.parameter.split("."))
    if value.ref is None:
        return operand_literal(value.literal)
    if value.ref not in inline:
        return names[value.ref] if value.ref in names else identifier(value.ref)
    return inline.pop(value.ref).as_operand(parent, right)


def call_arguments(statement: ir.Statement, names: dict, inline: dict) -> str:
    positional = [operand(item, names, inline) for item in statement.inputs]
    keywords = [f"{identifier(key)}={literal(value)}" for key, value in statement.arguments]
    return ", ".join(positional + keywords)


def expression(statement: ir.Statement, names: dict, inline: dict, namespaces=None) -> forward.Expression:
    """The right-hand side of one (non-repeat) statement; inlined operands are consumed.
    ``namespaces``: the script's name of a runtime module (``{"layers": "numpy_layers"}`` in a
    time sampler, which runs on the host)."""
    if statement.call == "layer":
        return forward.Expression(f"self.{identifier(statement.attribute)}({call_arguments(statement, names, inline)})")
    if statement.call == "extern":  # the user's function, bound at module level (extern_bindings)
        return forward.Expression(f"{identifier(statement.function)}({', '.join(['ops', call_arguments(statement, names, inline)])})")
    if statement.call != "op":
        raise EmitError(f"unknown statement call {statement.call!r}")
    function = statement.function
    if function in INFIX:
        precedence = forward.PRECEDENCE[function]
        first, second = statement.inputs
        left = operand(first, names, inline, precedence)
        right = operand(second, names, inline, precedence, right=True)
        return forward.Expression(f"{left} {INFIX[function]} {right}", precedence)
    if function in PREFIX:
        (single,) = statement.inputs
        precedence = forward.PRECEDENCE[function]
        return forward.Expression(f"{PREFIX[function]}{operand(single, names, inline, precedence)}", precedence)
    module = runtime_module(function)
    module = (namespaces or {}).get(module, module)
    if module == "draws":
        return forward.Expression(draw_code(statement))
    if takes_tensor_list(function):
        tensors = "[" + ", ".join(operand(item, names, inline) for item in statement.inputs) + "]"
        keywords = [f"{identifier(key)}={literal(value)}" for key, value in statement.arguments]
        return forward.Expression(f"{module}.{identifier(function)}({', '.join([tensors] + keywords)})")
    return forward.Expression(f"{module}.{identifier(function)}({call_arguments(statement, names, inline)})")


def draw_code(statement: ir.Statement) -> str:
    """A random primitive of a time sampler: ``numpy_draws.beta(rng, (B,), alpha=2.0, beta=5.0)``,
    the generator first, the shape's batch size the sampler's ``B``, the numbers the spec set
    (the defaults left out)."""
    from specc.compiler.vocabulary import layers as registry

    arguments = dict(statement.arguments)
    shape = tuple(arguments.pop("shape"))
    sizes = [str(size) if isinstance(size, int) else "B" for size in shape]
    shape_code = "(" + ", ".join(sizes) + ("," if len(sizes) == 1 else "") + ")"
    defaults = {argument.name: argument.default for argument in registry.lookup(statement.function).arguments}
    keywords = [f"{identifier(key)}={literal(value)}" for key, value in arguments.items() if value != defaults.get(key)]
    return f"numpy_draws.{identifier(statement.function)}({', '.join(['rng', shape_code, *keywords])})"


def unpacks_list(statement: ir.Statement) -> bool:
    """A one-part ``split`` returns a list whose only tensor the statement unpacks: it keeps
    its own line (``part, = layers.split(...)``)."""
    return statement.call == "op" and len(statement.targets) == 1 and returns_list(statement.function)


def statement_lines(statement: ir.Statement, names: dict, inline: dict, namespaces=None, checkpoint: str = "") -> list[str]:
    """The forward lines of one statement (without indentation of the method body);
    ``checkpoint``: the function that recomputes each pass of a repeat (``train.remat``)."""
    if statement.call == "repeat":
        return repeat_lines(statement, names, inline, checkpoint)
    targets = ", ".join(names[target] for target in statement.targets)
    if unpacks_list(statement):
        targets += ","  # a one-part split still returns a list: unpack its only tensor
    return [f"{targets} = {expression(statement, names, inline, namespaces).text}"]


RUNTIME_MODULES = ("layers", "preprocess", "draws")


def runtime_module(function: str) -> str:
    """``layers`` or ``preprocess``: the runtime module of an op (the graph registry says)."""
    try:
        from specc.compiler.vocabulary import layers as registry
    except ImportError:
        return "layers"
    module = registry.runtime_module(function)
    if module not in RUNTIME_MODULES:
        raise EmitError(f"op {function!r} lives in unknown runtime module {module!r}")
    return module


def takes_tensor_list(function: str) -> bool:
    """Ops whose first argument is a list of tensors (``concat``) get the inputs as one list."""
    try:
        from specc.compiler.vocabulary import layers as registry
    except ImportError:
        return function == "concat"
    return registry.takes_tensor_list(function)


def returns_list(function: str) -> bool:
    """Ops returning a list of tensors (``split``), however many parts it has."""
    from specc.compiler.vocabulary import layers as registry

    entry = registry.lookup(function)
    return entry is not None and entry.returns_list


def repeat_lines(statement: ir.Statement, names: dict, inline: dict, checkpoint: str = "") -> list[str]:
    """``for module in self.<attribute>``: targets are fed back as the first inputs; with
    ``checkpoint`` (``train.remat``) each pass is ``checkpoint(module, inputs...)``."""
    count = len(statement.targets)
    targets = [names[target] for target in statement.targets]
    entry = [operand(item, names, inline) for item in statement.inputs[:count]]
    rest = [operand(item, names, inline) for item in statement.inputs[count:]]
    lines = []
    if targets != entry:
        lines.append(f"{', '.join(targets)} = {', '.join(entry)}")
    arguments = ", ".join(targets + rest)
    lines.append(f"for module in self.{identifier(statement.attribute)}:")
    call = f"{checkpoint}(module, {arguments})" if checkpoint else f"module({arguments})"
    lines.append(f"    {', '.join(targets)} = {call}")
    return lines


def submodule_line(submodule, module_list: str) -> str:
    """The constructor line of one sub-module."""
    attribute = "self." + identifier(submodule.attribute)
    if isinstance(submodule, ir.Layer):
        arguments = ", ".join(f"{identifier(key)}={literal(value)}" for key, value in submodule.arguments)
        return f"{attribute} = layers.{identifier(submodule.kind)}({arguments})"
    if isinstance(submodule, ir.Instance):
        return f"{attribute} = {identifier(submodule.module)}()"
    if isinstance(submodule, ir.ModuleList):
        items = f"[{identifier(submodule.module)}() for _ in range({literal(int(submodule.count))})]"
        return f"{attribute} = {module_list}({items})" if module_list else f"{attribute} = {items}"
    raise EmitError(f"unknown sub-module {submodule!r}")


def module_view(module: ir.ModuleDef, module_list: str, namespaces=None, checkpoint: str = "") -> dict:
    """Template view of one class: name, docstring text, inputs, constructor and body lines
    (values inlined and names reused as :mod:`specc.compiler.emit.forward` decides);
    ``namespaces`` as for :func:`expression`."""
    names = forward.local_names(module, RESERVED | called_externs(module), identifier)
    inlined = forward.inlined_refs(module)
    inline: dict[str, forward.Expression] = {}
    returned = forward.returned_expression(module, inlined)
    counts = forward.use_counts(module)
    body, returns = [], ", ".join(names[name] for name, _ in module.outputs)
    for statement in module.body:
        if returned is not None and statement.targets == (returned,):
            returns = expression(statement, names, inline, namespaces).text
            continue
        if statement.call == "layer" and len(statement.targets) == 1 and not counts.get(statement.targets[0]):
            body.append(expression(statement, names, inline, namespaces).text)  # run for its effect (a buffer's update)
            continue
        if statement.targets and statement.targets[0] in inlined and not unpacks_list(statement):
            value = expression(statement, names, inline, namespaces)
            if len(value.text) <= forward.LONGEST_INLINED:
                inline[statement.targets[0]] = value
                continue
            body.append(f"{names[statement.targets[0]]} = {value.text}")
            continue
        body.extend(statement_lines(statement, names, inline, namespaces, checkpoint))
    return {
        "name": identifier(module.name),
        "source": module.source,
        "origin": module.origin,
        "inputs": [names[name] for name, _ in module.inputs],
        "input_types": [(name, type_text(kind)) for name, kind in module.inputs],
        "constructor": [submodule_line(item, module_list) for item in module.submodules],
        "body": body,
        "returns": returns,
    }


def called_externs(module: ir.ModuleDef) -> frozenset[str]:
    """The user functions ``module`` calls and ``ops`` (what they take first): names its
    forward method reads from the module level, which no local may shadow."""
    called = frozenset(identifier(s.function) for s in module.body if s.call == "extern")
    return called | {"ops"} if called else called


def extern_bindings(graphs) -> list[tuple[str, str, str]]:
    """``(name, code, origin)`` of the module-level line binding each user function the
    models call, once per name::

        gelu_tanh = extensions.Reference("/abs/functions.py", "gelu_tanh").function(
            inputs=(("B", "D"),), outputs=(("B", "D"),)
        )
    """
    found: dict[str, tuple[str, str, str]] = {}
    for graph in graphs:
        for extern in graph.externs:
            reference = f"extensions.Reference({literal(extern.file)}, {literal(extern.function)})"
            code = f"{reference}.function(inputs={literal(extern.inputs)}, outputs={literal(extern.outputs)})"
            found.setdefault(extern.name, (identifier(extern.name), code, extern.origin))
    return list(found.values())


def bind_externs(block, program: ir.Program) -> None:
    """The module-level lines of the user functions the models call, in the user-code group
    of the script's configuration block (``block.add_code``)."""
    for name, code, origin in extern_bindings(program.models):
        if name in block.names:  # a configuration value of that name: bound twice, names.py renames the extern
            block.groups[USER_CODE].append({"name": name, "code": code, "origin": origin, "user": True})
        else:
            block.add_code(name, code, origin)


def type_text(kind: ir.TensorType) -> str:
    """``f32[B, 64]``: a tensor type as written in the spec (for docstrings)."""
    dims = ", ".join(str(dim) for dim in kind.shape)
    return f"{kind.dtype}[{dims}]"


def model_view(graph: ir.ModelGraph, module_list: str, checkpoint: str = "") -> dict:
    """Template view of one model: its classes (dependencies first) and its signature;
    ``checkpoint``: the runtime function each pass of a repeat goes through (``train.remat``)."""
    return {
        "name": graph.name,
        "variable": identifier(graph.name),
        "root": identifier(graph.root),
        "classes": [module_view(module, module_list, checkpoint=checkpoint) for module in graph.modules],
        "inputs": [name for name, _ in graph.inputs],
        "input_shapes": [tuple(kind.shape) for _, kind in graph.inputs],
        "input_dtypes": [kind.dtype for _, kind in graph.inputs],
        "parameters": [
            {"name": name, "shape": tuple(parameter.shape), "init": parameter.init, "fan_in": parameter.fan_in,
             "std": None if parameter.std == 1.0 else parameter.std}
            for name, parameter in graph.parameters
        ],
    }


# layers drawing from the framework's global generator (MLX): their key is seeded and checkpointed
RANDOM_LAYERS = frozenset({"Dropout", "GaussianSample"})


def uses_random_layers(program: ir.Program) -> bool:
    """Does a model hold a layer drawing from the global generator (dropout, gaussian sample)?"""
    return any(
        _draws(submodule) for graph in program.models for module in graph.modules for submodule in module.submodules
    )


def _draws(submodule) -> bool:
    """A random layer, or attention holding a Dropout of its weights (``dropout > 0``)."""
    kind = getattr(submodule, "kind", None)
    return kind in RANDOM_LAYERS or (kind == "MultiHeadAttention" and dict(submodule.arguments).get("dropout", 0.0) > 0.0)


def _owns_buffers(submodule) -> bool:
    """A layer with buffers (``batch_norm``, ``running_statistics``): state it updates itself."""
    return any(parameter.buffer for parameter in getattr(submodule, "parameters", ()))


def carries_state(program: ir.Program) -> bool:
    """Does a model hold state besides its parameters that a training step advances: a random
    layer's generator key, or a layer's buffers? (JAX carries ``rest`` through its step.)"""
    return uses_random_layers(program) or any(
        _owns_buffers(submodule) for graph in program.models for module in graph.modules for submodule in module.submodules
    )
