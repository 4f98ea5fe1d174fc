"""What one call of a layer or op costs for ONE example: forward FLOPs and saved activations.

Conventions (docs/tools.md):

- a multiply-add is 2 FLOPs; only matrix products and convolutions are counted (they are
  nearly all of a network's arithmetic): bias additions, activations, normalisations,
  softmax, pooling, elementwise arithmetic and the signal transforms (STFT, MDCT) count 0;
- shapes are per example: the batch axis ``B`` is dropped, other symbolic axes (``T``) take
  the length the data gives them (:mod:`specc.compiler.analysis.summary`);
- ``linear``: ``2 * in * out`` per position (``prod`` of the axes before the last);
- ``conv1d``: ``2 * (in / groups) * kernel * out * T_out``; ``conv2d``:
  ``2 * (in / groups) * kh * kw * out * H_out * W_out``; ``conv_transpose1d``:
  ``2 * in * kernel * (out / groups) * T_in``;
- ``attention`` with queries ``[T, d]`` and keys/values ``[S, d]`` (``S = T`` without a
  context): the four projections ``2 * T * d * d + 2 * 2 * S * d * d + 2 * T * d * d`` plus
  the scores ``q k^T`` and the weighted sum ``2 * T * S * d`` each, so
  ``4 * T * d^2 + 4 * S * d^2 + 4 * T * S * d``; a causal mask does not reduce it (the
  runtime computes the full score matrix);
- ``matmul`` ``[..., n, k] @ [..., k, m]``: ``2 * k * prod(output)``.

A backward pass costs twice the forward (the gradients of the inputs and of the weights),
so a training step is ``3 x`` the forward FLOPs (:data:`TRAINING_FLOPS_FACTOR`).

Saved activations: every value a statement computes is kept for the backward pass; an
attention layer also keeps its queries, keys, values and mixed values and three score-sized
tensors per head (``scores``, ``softmax`` and the masked weights: ``3 * heads * T * S``).
"""

from __future__ import annotations

import math

TRAINING_FLOPS_FACTOR = 3  # forward + backward (2 x forward)
ATTENTION_SCORE_COPIES = 3  # scores, softmax weights, masked weights, each [heads, T, S]

Shape = tuple[int, ...]


def linear_flops(in_features: int, out_features: int, positions: int = 1) -> int:
    """``2 * in * out`` per position."""
    return 2 * in_features * out_features * positions


def attention_flops(dim: int, query_steps: int, key_steps: int) -> int:
    """``4 T d^2 + 4 S d^2 + 4 T S d``: projections, scores and the weighted sum."""
    projections = linear_flops(dim, dim, query_steps) * 2 + linear_flops(dim, dim, key_steps) * 2
    return projections + 2 * 2 * query_steps * key_steps * dim


def _arguments(layer) -> dict:
    return dict(layer.arguments)


def _pair(value) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[-1])
    return int(value), int(value)


def _attention_steps(inputs: list[Shape | None]) -> tuple[int, int]:
    """(T, S): the queries' length and the keys' (the context when there is one)."""
    query = inputs[0] or (1, 1)
    context = inputs[1] if len(inputs) > 1 and inputs[1] else query
    return query[0] if len(query) > 1 else 1, context[0] if len(context) > 1 else 1


def layer_flops(layer, inputs: list[Shape | None], outputs: list[Shape]) -> int:
    """Forward FLOPs of one call of ``layer`` (an ``ir.Layer``) for one example."""
    arguments = _arguments(layer)
    output = outputs[0] if outputs else ()
    if layer.kind == "Linear":
        return linear_flops(arguments["in_features"], arguments["out_features"], math.prod(output[:-1]))
    if layer.kind in ("Conv1d", "Conv2d"):
        kernel = math.prod(_pair(arguments["kernel_size"])) if layer.kind == "Conv2d" else arguments["kernel_size"]
        per_output = 2 * (arguments["in_channels"] // arguments["groups"]) * kernel
        return per_output * math.prod(output)
    if layer.kind == "ConvTranspose1d":
        steps = (inputs[0] or (1,))[0]
        per_input = 2 * arguments["in_channels"] * arguments["kernel_size"] * (arguments["out_channels"] // arguments["groups"])
        return per_input * steps
    if layer.kind == "MultiHeadAttention":
        query_steps, key_steps = _attention_steps(inputs)
        return attention_flops(arguments["dim"], query_steps, key_steps)
    return 0


def op_flops(function: str, inputs: list[Shape | None], outputs: list[Shape]) -> int:
    """Forward FLOPs of one parameter-free op for one example (``matmul`` only)."""
    if function == "matmul" and inputs and inputs[0] and outputs:
        return 2 * inputs[0][-1] * math.prod(outputs[0])
    return 0


def layer_extra_activations(layer, inputs: list[Shape | None]) -> int:
    """Elements a layer keeps besides its outputs (attention: q, k, v, mixed values and the
    score-sized tensors)."""
    if layer.kind != "MultiHeadAttention":
        return 0
    arguments = _arguments(layer)
    query_steps, key_steps = _attention_steps(inputs)
    dim = arguments["dim"]
    projections = 2 * query_steps * dim + 2 * key_steps * dim
    return projections + ATTENTION_SCORE_COPIES * arguments["num_heads"] * query_steps * key_steps
