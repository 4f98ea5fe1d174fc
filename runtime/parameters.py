"""What the compiler and the runtime share: the description of one array of a model (a
trainable parameter or a buffer) and the version of the interface between generated scripts
and this runtime.

The compiler builds ``Parameter`` values into its IR; a generated script lists them and
hands them to :func:`specc.runtime.init.initialize`. Living in the runtime, they let a
generated script run without importing the compiler.
"""

from __future__ import annotations

from dataclasses import dataclass

# Version of the contract between a generated script and the runtime it calls: a script
# generated for another version refuses to start (``training.check_runtime``).
IR_VERSION = 1

# The local names of buffers: state a layer updates in training steps (not by the optimizer:
# no gradient, no optimizer state, no weight decay), saved in checkpoints beside the
# parameters and restored with them (``batch_norm``'s running mean and variance,
# ``running_statistics``' mean and standard deviation, the array of a ``buffer(...)`` the
# graph updates with ``update(b, value)``). No parameter has these names.
BUFFER_NAMES = ("running_mean", "running_var", "running_std", "buffer")


def is_buffer(name: str) -> bool:
    """Is the array ``name`` (local, ``running_mean``, or dotted, ``vae.batch_norm_0.running_mean``)
    a buffer rather than a trainable parameter?"""
    return name.rpartition(".")[2] in BUFFER_NAMES


@dataclass(frozen=True)
class Parameter:
    """One array of a layer: a trainable parameter, or a buffer when its name is one of
    ``BUFFER_NAMES`` (``buffer``). ``name`` is local to its layer (``weight``, ``bias``,
    ``weight_g``, ``running_mean``); the full name is the layer's path + ``.`` + name.

    ``init`` is one of: ``uniform_fan_in`` (U(-1/sqrt(fan_in), 1/sqrt(fan_in))),
    ``normal`` (N(0, std^2); std 1 unless the spec's ``init`` says otherwise),
    ``truncated_normal`` (N(0, std^2) redrawn beyond 2 std), ``uniform`` (U(-sqrt(3) std,
    sqrt(3) std)), ``ones``, ``zeros``, ``weight_norm_g`` (the norm of the sibling
    ``weight_v`` over all axes but the first). The compiler turns xavier and kaiming schemes
    into ``normal`` or ``uniform`` with their std computed from the fans.
    """

    name: str
    shape: tuple[int, ...]
    init: str
    fan_in: int = 1
    std: float = 1.0

    @property
    def buffer(self) -> bool:
        """A buffer (updated by its layer in training steps), not a trainable parameter."""
        return is_buffer(self.name)
