"""Shape rules of the layer registry that wrap or extend ``graphs_rules``: layer
initialisers (``init = zeros``), the key mask of attention, integer positions, free
parameters (``parameter([1, 1, C], init = zeros)``) and the reparameterised Gaussian draw.

Same contract as ``graphs_rules``: ``rule(name, tensors, values) -> Outcome`` or a
``LayerError`` (E0608 shapes, E0609 argument values, E0617 dtypes).
"""

from __future__ import annotations

from dataclasses import replace

from specc.compiler.vocabulary import shape_rules as rules
from specc.compiler.vocabulary.shape_rules import LayerError, Outcome, TensorInfo
from specc.compiler.vocabulary.dimensions import format_shape

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

FREE_PARAMETER_INITS = ("zeros", "ones", "normal")  # = specc.runtime.init.FREE_PARAMETER_INITS


def free_parameter(name, tensors, values) -> Outcome:
    """``parameter(shape, init = zeros | ones | normal | normal(std))``: one learned f32 array
    of exactly ``shape`` (every size a positive integer known at compile time: no batch
    axis), broadcast by arithmetic like any tensor. ``init`` arrives as a word or as
    ``(word, std)`` from the ``initializer`` argument type; ``normal`` draws N(0, std^2)."""
    shape = values["shape"]
    init, std = (values["init"], 1.0) if isinstance(values["init"], str) else values["init"]
    if not all(isinstance(size, int) and size >= 1 for size in shape):
        raise LayerError("E0609", f"{name}: every size of `shape` must be a positive integer known at compile "
                         f"time (a parameter has no batch axis), got {format_shape(shape)}", "shape")
    arguments = {"shape": tuple(shape), "init": init, **({"std": std} if init == "normal" else {})}
    parameter = rules.parameter("weight", shape, init)
    return Outcome((TensorInfo("f32", tuple(shape)),), arguments, (replace(parameter, std=float(std)),))


def gaussian_sample(name, tensors, values) -> Outcome:
    """``gaussian_sample(mean, logvar)``: ``mean + exp(logvar / 2) * eps``, eps ~ N(0, I), in
    training; ``mean`` in evaluation. Both f32 of one shape; the output has that shape."""
    mean, logvar = tensors["mean"], tensors["logvar"]
    for argument, tensor in (("mean", mean), ("logvar", logvar)):
        if tensor.dtype != "f32":
            raise LayerError("E0617", f"{name}: {argument} must be f32, got {tensor.dtype}{format_shape(tensor.shape)}",
                             argument)
    if tuple(logvar.shape) != tuple(mean.shape):
        raise LayerError("E0608", f"{name}: logvar {format_shape(logvar.shape)} must have the shape of mean "
                         f"{format_shape(mean.shape)} (one log-variance per mean)", "logvar")
    return Outcome((mean,), {})
