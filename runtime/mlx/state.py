"""Parameter state of MLX models as canonical numpy arrays under dotted names.

The MLX runtime layers store their arrays in the canonical (PyTorch) layout, so no array
is transposed here; names come from ``mlx.utils.tree_flatten`` (``attr.3.weight``). The
state is ``parameters()``: the parameters and the buffers (frozen arrays named as
``parameters.BUFFER_NAMES``: ``batch_norm``'s running mean and variance), saved and loaded
together; buffers are not counted as parameters.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

from specc.runtime import checks
from specc.runtime.parameters import is_buffer
from specc.runtime.training import failures, size


def state_dict(model) -> dict[str, np.ndarray]:
    """``{dotted name: float array}``, sorted by name."""
    return {
        name: np.array(array)
        for name, array in sorted(tree_flatten(model.parameters()))
    }


def load_state_dict(model, arrays) -> None:
    """Replace the model's parameters by ``arrays``; every name must match exactly
    (``CheckpointMismatch``, a ``ValueError``, naming the missing, unknown or mis-shaped name
    and the shapes, and the checkpoint when ``arrays`` came from one)."""
    current = dict(tree_flatten(model.parameters()))
    try:
        checks.check_state_arrays(
            {name: tuple(array.shape) for name, array in current.items()},
            {name: np.shape(array) for name, array in arrays.items()},
        )
    except ValueError as error:  # a checkpoint of another model
        raise failures.mismatch(arrays, error) from None
    loaded = [
        (name, mx.array(np.asarray(arrays[name]), dtype=current[name].dtype))
        for name in sorted(current)
    ]
    model.update(tree_unflatten(loaded))
    mx.eval(model.parameters())


def parameter_count(model) -> int:
    """Number of scalar parameters (buffers not counted)."""
    return int(
        np.sum(
            [array.size for name, array in tree_flatten(model.parameters()) if not is_buffer(name)],
            dtype=np.int64,
        )
    )


def print_size(model, freeze=()):
    """Print the model's parameter count, total and trainable (``freeze`` prefixes), at
    start-up as nanoGPT does (``training.size``); ``model`` may be ``{name: model}``.
    Returns ``model``."""
    sizes = {}
    for prefix, network in size.named_models(model).items():
        flat = tree_flatten(network.parameters())
        sizes.update({f"{prefix}.{name}" if prefix else name: array.size for name, array in flat if not is_buffer(name)})
    size.print_size(sizes, freeze)
    return model


def seed_dropout(model, seed: int) -> None:
    """MLX's Dropout draws from the global generator: seed it. Checkpoint
    ``mx.random.state`` (and pass it through ``mx.compile`` as input and output)."""
    mx.random.seed(int(seed))


def random_key_words() -> list[int]:
    """The two uint32 words of MLX's global random key (``mx.random.state[0]``), as ints
    for a checkpoint manifest: dropout and ``GaussianSample`` draw from this generator."""
    return [int(word) for word in np.array(mx.random.state[0])]


def restore_random_key(words) -> None:
    """Set MLX's global random key back to ``words`` (from ``random_key_words``).
    ``mx.random.seed(s)`` makes the key ``[s >> 32, s & 0xFFFFFFFF]``, so reseeding with the
    key's own words restores it exactly (``mx.random.state`` cannot be assigned)."""
    high, low = (int(word) for word in words)
    mx.random.seed((high << 32) | low)
