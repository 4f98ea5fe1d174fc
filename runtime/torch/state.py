"""Parameter state of torch models as canonical numpy arrays under dotted names.

torch's own parameter layout is the canonical one, so no array is transposed. The state is
the parameters and the buffers (``register_buffer`` arrays named as ``parameters.BUFFER_NAMES``:
``batch_norm``'s running mean and variance), saved and loaded with them but not counted as
parameters.
"""

from __future__ import annotations

import numpy as np
import torch

from specc.runtime import checks
from specc.runtime.parameters import is_buffer
from specc.runtime.training import failures, size


def _saved(model) -> dict:
    """The parameters and the buffers of ``model`` by dotted name."""
    arrays = dict(model.named_parameters())
    arrays.update((name, buffer) for name, buffer in model.named_buffers() if is_buffer(name))
    return arrays


def state_dict(model) -> dict[str, np.ndarray]:
    """``{dotted name: float array}`` of the parameters and buffers, sorted by name (lists of
    modules give ``attr.3.weight``)."""
    return {
        name: parameter.detach().cpu().numpy().copy()
        for name, parameter in sorted(_saved(model).items())
    }


def load_state_dict(model, arrays) -> None:
    """Copy ``arrays`` into the model's parameters and buffers in place; every name must match
    exactly (``CheckpointMismatch``, a ``ValueError``, naming the missing, unknown or mis-shaped
    name and the shapes, and the checkpoint when ``arrays`` came from one)."""
    parameters = _saved(model)
    try:
        checks.check_state_arrays(
            {name: tuple(parameter.shape) for name, parameter in parameters.items()},
            {name: np.shape(array) for name, array in arrays.items()},
        )
    except ValueError as error:  # a checkpoint of another model
        raise failures.mismatch(arrays, error) from None
    with torch.no_grad():
        for name, parameter in parameters.items():
            values = torch.from_numpy(np.ascontiguousarray(arrays[name]))
            parameter.copy_(values.to(dtype=parameter.dtype, device=parameter.device))


def parameter_count(model) -> int:
    """Number of scalar parameters."""
    return int(
        np.sum([parameter.numel() for parameter in model.parameters()], dtype=np.int64)
    )


def print_size(model, freeze=()):
    """Print the model's parameter count, total and trainable (``freeze`` prefixes), at
    start-up as nanoGPT does (``training.size``); ``model`` may be ``{name: model}``.
    Returns ``model``."""
    sizes = {}
    for prefix, network in size.named_models(model).items():
        sizes.update(
            {f"{prefix}.{name}" if prefix else name: parameter.numel() for name, parameter in network.named_parameters()}
        )
    size.print_size(sizes, freeze)
    return model


def seed_dropout(model, seed: int) -> None:
    """torch's Dropout draws from the global generator: seed it (Lightning's
    ``seed_everything(seed)`` does the same). Checkpoint it with ``torch.get_rng_state()``.
    """
    torch.manual_seed(int(seed))
