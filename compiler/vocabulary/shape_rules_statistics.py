"""Shape rules of the layers that own buffers: ``batch_norm`` and ``running_statistics``.

A buffer is an array a layer updates itself in training steps (not the optimizer): it gets no
gradient, no optimizer state and no weight decay, is saved in checkpoints beside the
parameters and restored with them. The rules list the buffers after the parameters, as
``specc.runtime.init.layer_parameters`` does; ``ir.Parameter.buffer`` tells them apart (by
their local names, ``specc.runtime.parameters.BUFFER_NAMES``).

Diagnostics: E0621 (``momentum`` outside (0, 1]), E0622 (an input without a batch axis
beside its channels), E0623 (one value per channel: no batch statistics), E0617 (not f32).
``buffer(shape, init)`` declares a buffer the graph itself updates (``update(b, value)``,
``specc.compiler.graphs.calls``).
"""

from __future__ import annotations

import math

from specc.compiler.vocabulary import shape_rules as rules
from specc.compiler.vocabulary.dimensions import format_shape
from specc.compiler.vocabulary.shape_rules import LayerError, Outcome, TensorInfo


def _momentum(name: str, values: dict) -> float:
    momentum = values["momentum"]
    if not 0.0 < momentum <= 1.0:
        raise LayerError("E0621", f"{name}: `momentum` must be in (0, 1] (the weight of each training batch's "
                         f"statistics in the running values), got {momentum}", "momentum")
    return momentum


def _channels(name: str, x: TensorInfo) -> int:
    """The channel (last) axis of an f32 input that has a batch axis before it."""
    rules.f32_input(name, x)
    if len(x.shape) < 2:
        raise LayerError("E0622", f"{name}: the input {format_shape(x.shape)} needs a batch axis and a channel axis: "
                         "the statistics of each channel (the last axis) are taken over the other axes", "x")
    others = x.shape[:-1]
    if all(isinstance(size, int) for size in others) and math.prod(others) == 1:
        raise LayerError("E0623", f"{name}: the input {format_shape(x.shape)} has one value per channel: batch "
                         "statistics need more than one", "x")
    return rules.concrete(name, x, -1, "channel (last)")


def _eps(name: str, values: dict) -> float:
    if values["eps"] <= 0:
        raise LayerError("E0609", f"{name}: `eps` must be positive, got {values['eps']}", "eps")
    return values["eps"]


def _affine(channels: int, affine: bool) -> tuple:
    if not affine:
        return ()
    return (rules.parameter("weight", (channels,), "ones"), rules.parameter("bias", (channels,), "zeros"))


def _buffers(channels: int, spread: str) -> tuple:
    return (rules.parameter("running_mean", (channels,), "zeros"), rules.parameter(spread, (channels,), "ones"))


def batch_norm(name, tensors, values) -> Outcome:
    """``batch_norm(x, momentum = 0.1, eps = 1e-5, affine = true)``: ``[B, ..., C] -> [B, ..., C]``;
    parameters ``weight``, ``bias`` [C] when affine; buffers ``running_mean``, ``running_var`` [C]."""
    x = tensors["x"]
    channels = _channels(name, x)
    arguments = {"num_features": channels, "momentum": _momentum(name, values),
                 "eps": _eps(name, values), "affine": values["affine"]}
    parameters = _affine(channels, values["affine"]) + _buffers(channels, "running_var")
    return Outcome((x,), arguments, parameters)


def running_statistics(name, tensors, values) -> Outcome:
    """``running_statistics(x, momentum = 0.01)``: ``x`` unchanged; buffers ``running_mean``,
    ``running_std`` [C]."""
    x = tensors["x"]
    channels = _channels(name, x)
    arguments = {"num_features": channels, "momentum": _momentum(name, values)}
    return Outcome((x,), arguments, _buffers(channels, "running_std"))


def buffer(name, tensors, values) -> Outcome:
    """``b = buffer(shape, init = zeros)``: one f32 buffer ``buffer`` of exactly ``shape`` (sizes
    known at compile time, no batch axis), read as ``b`` and written by ``update(b, value)``."""
    shape = values["shape"]
    if not all(isinstance(size, int) and size >= 1 for size in shape):
        raise LayerError("E0609", f"{name}: every size of `shape` must be a positive integer known at compile "
                         f"time (a buffer has no batch axis), got {format_shape(shape)}", "shape")
    init = values["init"]
    return Outcome((TensorInfo("f32", tuple(shape)),), {"shape": tuple(shape), "init": init},
                   (rules.parameter("buffer", shape, init),))
