"""Shape rules of the layer registry that wrap or extend ``graphs_rules``: layer
initialisers (``init = zeros``), the key mask of attention and integer positions.

Same contract as ``graphs_rules``: ``rule(name, tensors, values) -> Outcome`` or a
``LayerError`` (E0608 shapes, E0609 argument values, E0617 dtypes).
"""

from __future__ import annotations

from dataclasses import replace

from specc.compiler import graphs_rules as rules
from specc.compiler.graphs_rules import LayerError, Outcome, TensorInfo
from specc.compiler.shapes import format_shape

DEFAULT_INIT = "uniform_fan_in"
LAYER_INITS = (DEFAULT_INIT, "zeros", "ones")  # = specc.runtime.init.LAYER_INITS


def with_init(rule):
    """``rule`` of a linear or convolution layer, extended with its ``init`` argument.

    ``init = uniform_fan_in`` (the default) keeps the rule's parameters. ``zeros`` or ``ones``
    sets the weight to that init and the bias to zeros (so ``init = zeros`` starts the layer
    at the constant 0: AdaLN-zero modulation, zero-initialised output layers, GRN's gamma and
    beta); the runtime constructor then gets ``init`` too (``layer_parameters`` agrees).
    Weight normalisation divides by ``||v||`` and cannot start from a constant weight."""

    def extended(name, tensors, values) -> Outcome:
        init = values["init"]
        outcome = rule(name, tensors, {key: value for key, value in values.items() if key != "init"})
        if init == DEFAULT_INIT:
            return outcome
        if values.get("weight_norm"):
            raise LayerError("E0609", f"{name}: `init = {init}` cannot be combined with `weight_norm = true` "
                             "(the weight is normalised by its norm)", "init")
        parameters = tuple(replace(parameter, init=init if parameter.name == "weight" else "zeros")
                           for parameter in outcome.parameters)
        return Outcome(outcome.outputs, {**outcome.arguments, "init": init}, parameters)

    return extended


def attention(name, tensors, values) -> Outcome:
    """``graphs_rules.attention`` plus the key mask: ``mask`` must be ``bool[B, S]`` with S the
    length of the attended sequence (``context``'s, else ``x``'s)."""
    outcome = rules.attention(name, tensors, values)
    mask = tensors.get("mask")
    if mask is None:
        return outcome
    x = tensors["x"]
    source = tensors.get("context") or x
    expected = (x.shape[0], source.shape[1])
    if mask.dtype != "bool":
        raise LayerError("E0617", f"{name}: mask must be bool (True = attend), got {mask.dtype}{format_shape(mask.shape)}",
                         "mask")
    if tuple(mask.shape) != expected:
        keys = "context" if tensors.get("context") else "x"
        raise LayerError("E0608", f"{name}: mask {format_shape(mask.shape)} does not fit the keys: expected "
                         f"{format_shape(expected)} (batch and length of `{keys}`)", "mask")
    return outcome


def positions(name, tensors, values) -> Outcome:
    """``positions(x, axis = 1)``: the integer positions ``0 .. n - 1`` of ``x``'s axis as
    ``i64[n]`` (``batched = false``) or ``i64[B, n]`` repeated over the first axis."""
    x = tensors["x"]
    axis = rules.axis_index(name, x, values["axis"])
    if values["batched"]:
        if axis == 0:
            raise LayerError("E0609", f"{name}: `batched = true` repeats the positions over axis 0, so `axis` "
                             "must name another axis", "axis")
        shape = (x.shape[0], x.shape[axis])
    else:
        shape = (x.shape[axis],)
    return Outcome((TensorInfo("i64", shape),), {"axis": values["axis"], "batched": values["batched"]})

