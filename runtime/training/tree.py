"""Nested optimizer / EMA state <-> flat named numpy arrays for ``optimizer.safetensors``."""

from __future__ import annotations

import numpy as np


def flatten(tree, prefix: str = "") -> dict[str, np.ndarray]:
    """``{"adam": {"mu": {"w": a}}, "count": c}`` -> ``{"adam.mu.w": a, "count": c}``.

    Nested dicts, lists and tuples are walked (list items by index); leaves become arrays.
    """
    flat: dict[str, np.ndarray] = {}
    if isinstance(tree, dict):
        items = [(str(key), value) for key, value in tree.items()]
    elif isinstance(tree, (list, tuple)):
        items = [(str(index), value) for index, value in enumerate(tree)]
    else:
        flat[prefix] = np.asarray(tree)
        return flat
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else key))
    return flat


def subtree(flat: dict, prefix: str) -> dict[str, np.ndarray]:
    """Entries under ``prefix.`` with the prefix removed."""
    start = prefix + "."
    entries = {name[len(start):]: value for name, value in flat.items() if name.startswith(start)}
    source = getattr(flat, "source", None)
    if source is None:
        return entries
    from specc.runtime.training.failures import NamedArrays

    return NamedArrays(entries, source)


def under_prefix(name: str, prefix: str) -> bool:
    """``prefix`` names whole dotted parts of ``name``: ``pe`` covers ``pe`` and
    ``pe.weight``, not ``pe2.weight``; the empty prefix covers every name. The one rule of
    ``freeze`` prefixes and ``penalties`` on every backend."""
    return not prefix or name == prefix or name.startswith(prefix + ".")
