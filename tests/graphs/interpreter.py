"""Run an ir.ModelGraph with the numpy reference runtime, checking every statement's
inferred type against the array it produces (symbolic sizes evaluated with ``sizes``)."""

from __future__ import annotations

import numpy as np

from specc.compiler import ir
from specc.compiler.vocabulary import layers
from specc.runtime import init
from specc.runtime.reference import layers as R
from specc.runtime.reference import preprocess as P

_ARITHMETIC = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.divide,
               "floordiv": np.floor_divide, "mod": np.mod, "pow": np.power,
               "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
               "ge": np.greater_equal, "logical_and": np.logical_and, "logical_or": np.logical_or}


def concrete(shape, sizes: dict) -> tuple[int, ...]:
    return tuple(dim if isinstance(dim, int) else eval(dim, {"__builtins__": {}}, dict(sizes)) for dim in shape)


def _layer(kind: str, arguments: dict, parameters: dict, inputs):
    weight = parameters.get("weight")
    if kind == "FreeParameter":
        return R.free_parameter(weight)
    if kind == "GaussianSample":  # evaluation mode: the mean
        return R.gaussian_sample(*inputs)
    x = inputs[0]
    if kind in ("Conv1d", "Conv2d", "ConvTranspose1d") and arguments.get("weight_norm"):
        weight = R.weight_norm(parameters["weight_g"], parameters["weight_v"])
    common = {key: arguments[key] for key in ("stride", "padding", "dilation", "groups") if key in arguments}
    if kind == "Linear":
        return R.linear(x, weight, parameters.get("bias"))
    if kind == "Conv1d":
        return R.conv1d(x, weight, parameters.get("bias"), padding_mode=arguments["padding_mode"], **common)
    if kind == "Conv2d":
        return R.conv2d(x, weight, parameters.get("bias"), padding_mode=arguments["padding_mode"], **common)
    if kind == "ConvTranspose1d":
        return R.conv_transpose1d(x, weight, parameters.get("bias"), output_padding=arguments["output_padding"], **common)
    if kind == "LayerNorm":
        return R.layer_norm(x, weight, parameters.get("bias"), eps=arguments["eps"])
    if kind == "GroupNorm":
        return R.group_norm(x, arguments["num_groups"], weight, parameters.get("bias"), eps=arguments["eps"])
    if kind == "RMSNorm":
        return R.rms_norm(x, weight, eps=arguments["eps"])
    if kind == "Embedding":
        return R.embedding(x, weight)
    if kind == "MultiHeadAttention":
        context, mask = (list(inputs[1:]) + [None, None])[:2]
        return R.multi_head_attention(x, parameters, arguments["num_heads"], arguments["causal"], context, mask)
    if kind == "Dropout":
        return R.dropout(x, arguments["rate"])
    raise AssertionError(kind)


def _op(statement: ir.Statement, inputs):
    arguments = dict(statement.arguments)
    if statement.function in _ARITHMETIC:
        return _ARITHMETIC[statement.function](*inputs)
    if statement.function == "neg":
        return -inputs[0]
    if statement.function == "logical_not":
        return np.logical_not(inputs[0])
    module = P if layers.runtime_module(statement.function) == "preprocess" else R
    function = getattr(module, statement.function)
    if layers.takes_tensor_list(statement.function):
        return function(list(inputs), **arguments)
    return function(*inputs, **arguments)


def run(graph: ir.ModelGraph, inputs: dict, sizes: dict, seed: int = 0):
    """The root's outputs for ``inputs`` (name -> array); asserts every inferred type."""
    modules = {module.name: module for module in graph.modules}
    arrays = init.initialize(graph.parameters, seed)
    return _run(modules, graph.root, "", [inputs[name] for name, _ in graph.inputs], arrays, sizes)


def _local(arrays: dict, prefix: str) -> dict:
    return {name[len(prefix):]: value for name, value in arrays.items() if name.startswith(prefix)}


def _run(modules, class_name: str, prefix: str, inputs, arrays, sizes):
    module = modules[class_name]
    values = {name: value for (name, _), value in zip(module.inputs, inputs)}
    submodules = {sub.attribute: sub for sub in module.submodules}
    for statement in module.body:
        operands = [values[o.ref] if o.ref is not None else o.literal for o in statement.inputs]
        path = f"{prefix}{statement.attribute}."
        if statement.call == "op":
            result = _op(statement, operands)
        elif statement.call == "repeat":
            count = submodules[statement.attribute].count
            state = operands
            for index in range(count):
                produced = _run(modules, statement.function, f"{path}{index}.", state, arrays, sizes)
                state = list(produced) + state[len(produced):]
            result = state[:len(statement.targets)]
        elif isinstance(submodules[statement.attribute], ir.Layer):
            layer = submodules[statement.attribute]
            result = _layer(layer.kind, dict(layer.arguments), _local(arrays, path), operands)
        else:
            result = _run(modules, statement.function, path, operands, arrays, sizes)
        results = list(result) if len(statement.targets) != 1 or isinstance(result, list) else [result]
        assert len(results) == len(statement.targets), statement
        for target, value, expected in zip(statement.targets, results, statement.types):
            assert np.shape(value) == concrete(expected.shape, sizes), (statement.origin, np.shape(value), expected)
            values[target] = value
    return [values[name] for name, _ in module.outputs]
