"""Parameter state of flax.nnx models as canonical numpy arrays under dotted names.

The JAX runtime layers store ``nnx.Param`` arrays in the canonical (PyTorch) layout, so
no array is transposed here. Names join the nnx paths with dots; ``nnx.List`` items give
``attr.3.weight``. The state is the parameters and the buffers (``nnx.BatchStat``:
``batch_norm``'s running mean and variance), which are saved and loaded with them but
are not counted as parameters.
"""

from __future__ import annotations

import zlib

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from specc.runtime import checks
from specc.runtime.jax import processes
from specc.runtime.training import failures, size


def _flat_parameters(model, kinds=(nnx.Param,)):
    state = nnx.state(model, kinds)
    return state, {
        ".".join(str(part) for part in path): variable
        for path, variable in nnx.to_flat_state(state)
    }


_SAVED = (nnx.Param, nnx.BatchStat)  # what a checkpoint holds: parameters and buffers


def state_dict(model) -> dict[str, np.ndarray]:
    """``{dotted name: float array}`` of the parameters and buffers, sorted by name. Arrays
    split over several processes (``train.parallel = sharded``) are gathered whole
    (``processes.host_arrays``: a collective, every process calls it)."""
    _, flat = _flat_parameters(model, _SAVED)
    values = processes.host_arrays({name: flat[name][...] for name in flat})
    return {name: np.array(values[name]) for name in sorted(values)}


def load_state_dict(model, arrays) -> None:
    """Replace the model's parameters and buffers by ``arrays``; every name must match exactly
    (``CheckpointMismatch``, a ``ValueError``, naming the missing, unknown or mis-shaped name
    and the shapes, and the checkpoint when ``arrays`` came from one)."""
    state, flat = _flat_parameters(model, _SAVED)
    try:
        checks.check_state_arrays(
            {name: tuple(variable[...].shape) for name, variable in flat.items()},
            {name: np.shape(array) for name, array in arrays.items()},
        )
    except ValueError as error:  # a checkpoint of another model
        raise failures.mismatch(arrays, error) from None
    for name, variable in flat.items():
        variable[...] = jnp.asarray(np.asarray(arrays[name]), dtype=variable[...].dtype)
    nnx.update(model, state)


def parameter_count(model) -> int:
    """Number of scalar parameters."""
    _, flat = _flat_parameters(model)
    return int(
        np.sum([variable[...].size for variable in flat.values()], dtype=np.int64)
    )


def print_size(model, freeze=()):
    """Print the model's parameter count, total and trainable (``freeze`` prefixes), at
    start-up as nanoGPT does (``training.size``); ``model`` may be ``{name: model}``.
    Returns ``model``."""
    sizes = {}
    for prefix, network in size.named_models(model).items():
        _, flat = _flat_parameters(network)
        sizes.update({f"{prefix}.{name}" if prefix else name: variable[...].size for name, variable in flat.items()})
    size.print_size(sizes, freeze)
    return model


def seed_dropout(model, seed: int) -> None:
    """Give every random module of the model (``Dropout``, ``GaussianSample``) the key
    ``fold_in(key(seed), crc32(path))`` and count 0. The keys live in the module state
    (``nnx.RngState``): a jitted pure step over ``nnx.split`` state advances them, and
    checkpointing that state makes resume exact.
    """
    from specc.runtime.jax.layers import Dropout, GaussianSample

    root = jax.random.key(int(seed))
    for path, module in nnx.iter_graph(model):
        if isinstance(module, (Dropout, GaussianSample)):
            name = ".".join(str(part) for part in path)
            module.rngs.key[...] = jax.random.fold_in(
                root, zlib.crc32(name.encode("utf-8"))
            )
            module.rngs.count[...] = jnp.zeros((), jnp.uint32)
