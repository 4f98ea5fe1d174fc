"""specc: a compiler from declarative training specs to standalone training scripts.

``specc.load_model(checkpoint, backend="torch", model=None)`` rebuilds a trained model from
a checkpoint alone and ``specc.describe_checkpoint(path)`` lists what it holds
(docs/checkpoints.md). They live in :mod:`specc.load` and :mod:`specc.describe` and are
imported on first use, so ``import specc`` (which every generated script does) stays light.
"""

__version__ = "0.1.0"
LANGUAGE_VERSION = 1

_LAZY = {"load_model": "load", "describe_checkpoint": "describe", "CheckpointError": "load"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"specc.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'specc' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
