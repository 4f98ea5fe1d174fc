"""Sample tokens from a trained language model: ``specc sample CHECKPOINT``.

The model is rebuilt from the checkpoint alone (``load_model``) on the chosen backend. Each
new token is drawn from the model's last-position logits, in numpy and float64::

    p = softmax(logits[-1] / temperature)   restricted to the top_k largest logits
    token ~ Categorical(p)                   numpy.random.default_rng(seed)

so the draws are the same on every backend whenever the backends' logits agree (they start
from the same weights and compute the same functions; a logit that differs in its last bits
can still flip a draw that sits on a boundary, which greedy decoding, ``temperature = 0``,
never does). The context is the last ``context`` tokens: the model's declared sequence
length, or its positional capacity when the length is symbolic.
"""

from __future__ import annotations

import numpy as np

from specc.load import CheckpointError, check_checkpoint, choose_model, load_model, loader_runtime

def _forward_torch(model, ids: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(ids)).float().numpy()


def _forward_jax(model, ids: np.ndarray) -> np.ndarray:
    import jax.numpy as jnp

    return np.asarray(model(jnp.asarray(ids)), dtype=np.float32)


def _forward_mlx(model, ids: np.ndarray) -> np.ndarray:
    import mlx.core as mx

    return np.array(model(mx.array(ids)).astype(mx.float32))


FORWARD = {"torch": _forward_torch, "jax": _forward_jax, "mlx": _forward_mlx}  # by runtime


def next_token(logits: np.ndarray, temperature: float, top_k: int | None, generator) -> int:
    """One token from a vector of logits: the argmax when ``temperature`` is 0, else a draw
    from ``softmax(logits / temperature)`` over the ``top_k`` largest (all when None)."""
    logits = logits.astype(np.float64)
    if temperature == 0:
        return int(np.argmax(logits))
    scaled = logits / temperature
    if top_k is not None and top_k < scaled.size:
        threshold = np.sort(scaled)[-top_k]
        scaled = np.where(scaled >= threshold, scaled, -np.inf)
    weights = np.exp(scaled - scaled.max())
    return int(generator.choice(scaled.size, p=weights / weights.sum()))


def context_length(program, name: str) -> int | None:
    """How many tokens model ``name`` reads at once (None: unbounded); a model that is not a
    language model over one integer input is refused."""
    if program.objective.kind != "language_model":
        raise CheckpointError(
            f"specc sample draws tokens from a language model; this checkpoint's objective is "
            f"`{program.objective.kind}`"
        )
    graph = next(graph for graph in program.models if graph.name == name)
    if len(graph.inputs) != 1 or not graph.inputs[0][1].dtype.startswith("i"):
        described = ", ".join(f"{input_name}: {kind.dtype}" for input_name, kind in graph.inputs)
        raise CheckpointError(
            f"specc sample feeds a model one input of token ids; model `{name}` takes {described}"
        )
    shape = graph.inputs[0][1].shape
    length = shape[1] if len(shape) > 1 and isinstance(shape[1], int) else None
    return length if length is not None else positional_capacity(graph)


def positional_capacity(graph) -> int | None:
    """The smallest ``max_length`` of the model's positional embeddings (None: no limit)."""
    capacities = [
        dict(layer.arguments).get("max_length")
        for module in graph.modules
        for layer in module.submodules
        if getattr(layer, "kind", None) == "PositionalEmbedding"
    ]
    capacities = [value for value in capacities if isinstance(value, int)]
    return min(capacities) if capacities else None


def sample(
    checkpoint,
    prompt: list[int],
    count: int,
    backend: str = "jax",
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int = 0,
    model: str | None = None,
) -> list[int]:
    """``prompt`` followed by ``count`` tokens drawn from the checkpoint's language model."""
    if not prompt:
        raise CheckpointError("the prompt needs at least one token")
    if temperature < 0:
        raise CheckpointError(f"temperature must be 0 (greedy) or more, got {temperature}")
    if top_k is not None and top_k < 1:
        raise CheckpointError(f"top_k must be at least 1, got {top_k}")
    checked = check_checkpoint(checkpoint)
    name = choose_model(checked, model)
    context = context_length(checked.program, name)
    graph = next(graph for graph in checked.program.models if graph.name == name)
    vocabulary = graph.outputs[0].shape[-1]
    outside = [token for token in prompt if isinstance(vocabulary, int) and not 0 <= token < vocabulary]
    if outside:
        raise CheckpointError(f"prompt token {outside[0]} is outside the vocabulary [0, {vocabulary})")
    network = load_model(checkpoint, backend=backend, model=name)
    forward = FORWARD[loader_runtime(backend)]
    generator = np.random.default_rng(seed)
    tokens = list(prompt)
    for _ in range(count):
        window = tokens[-context:] if context else tokens
        logits = forward(network, np.asarray([window], dtype=np.int64))
        tokens.append(next_token(logits[0, -1], temperature, top_k, generator))
    return tokens
