"""The line every generated script prints at start-up: the model's parameter count, total and
trainable (nanoGPT prints ``number of parameters: 0.80M``).

``state.print_size(model, freeze)`` of each backend lists the parameters' sizes under their
dotted names (a dict of models, ``{name: model}``, names them ``<model>.<parameter>``) and
prints :func:`size_line` of them. A parameter is frozen when a ``train.freeze`` prefix names
whole parts of its dotted name, or of that name without its model (``<model>.``) for several
models: the rule of ``freeze`` on every backend (``tree.under_prefix``).
"""

from __future__ import annotations

import sys

from specc.runtime.training.tree import under_prefix


def frozen(name: str, freeze) -> bool:
    """``name`` is under one of the ``freeze`` prefixes (whole name parts)."""
    local = name.split(".", 1)[1] if "." in name else name
    return any(under_prefix(name, prefix) or under_prefix(local, prefix) for prefix in freeze if prefix)


def size_line(sizes: dict, freeze=()) -> str:
    """``"parameters: 816,512 (816,512 trainable)"`` for ``{dotted name: element count}``."""
    total = sum(int(size) for size in sizes.values())
    trainable = sum(int(size) for name, size in sizes.items() if not frozen(name, tuple(freeze)))
    return f"parameters: {total:,} ({trainable:,} trainable)"


def print_size(sizes: dict, freeze=(), stream=None) -> None:
    """Print :func:`size_line` (to ``stream``, default stdout)."""
    print(size_line(sizes, freeze), file=stream or sys.stdout, flush=True)


def named_models(model) -> dict:
    """``{prefix: model}``: ``{"": model}`` for one model, the dict itself for several (a
    plain dict: an MLX module is a dict too)."""
    return model if type(model) is dict else {"": model}
