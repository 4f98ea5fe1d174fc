"""Checks of a data source against the spec before step 1: its fields (``check_fields``) and
the range of its class labels (``check_labels``), once per source, over every split.

A label outside ``[0, classes)`` is an out-of-bounds gather in the loss: MLX reads outside
the logits in native code, torch raises deep in the step, JAX and MLX silently train on
negative labels. ``check_labels`` reads each label field once per split (vectorised numpy,
``Source.field_values``) and raises one ``ValueError`` naming the field, the split, the
first offending value and its index.
"""

from __future__ import annotations

import numpy as np

from specc.runtime import checks
from specc.runtime.data.sources import SPLITS, check_fields

CHUNK = 1 << 22  # labels compared at once: bounds the temporary masks of long token splits


def label_ranges(expected) -> dict[str, tuple[int, int | None]]:
    """``{field: (classes, ignored label or None)}`` from ``expected`` entries
    ``(dtype, shape[, classes[, ignored label]])``: the fields that hold class labels."""
    ranges = {}
    for name, entry in expected.items():
        if len(entry) > 2 and entry[2] is not None:
            ignored = entry[3] if len(entry) > 3 else None
            ranges[name] = (int(entry[2]), None if ignored is None else int(ignored))
    return ranges


def check_labels(source, ranges) -> None:
    """Every label of every split of ``source`` in ``[0, classes)`` (or equal to the ignored
    label): ``ranges`` maps field name to ``classes`` or ``(classes, ignored label or
    None)``. Raises ``ValueError`` naming the field, the split, the first offending value
    and its index."""
    for name, limits in ranges.items():
        classes, ignored = limits if isinstance(limits, tuple) else (limits, None)
        checks.check_positive("check_labels", f"classes of '{name}'", classes)
        for split in SPLITS:
            if source.size(split):
                _check_split(source, split, name, int(classes), ignored)


def _check_split(source, split: str, name: str, classes: int, ignored) -> None:
    values = source.label_values(split, name)
    step = max(1, CHUNK // max(1, int(np.prod(values.shape[1:]))))  # items per comparison
    count, first = 0, None
    for start in range(0, len(values), step):
        chunk = values[start : start + step]
        outside = (chunk < 0) | (chunk >= classes)
        if ignored is not None:
            outside &= chunk != ignored
        found = int(np.count_nonzero(outside))
        if found and first is None:
            position = np.argwhere(outside)[0]
            first = (start + int(position[0]), *(int(part) for part in position[1:]))
        count += found
    if count:
        row = source.stored_row(split, first[0])
        checks.check_label_range(name, split, classes, count, values[first], first, row)


def check_source(source, expected) -> None:
    """``source.serve_declared(expected)``, ``check_fields(source.fields, expected)`` then ``check_labels`` for the entries with a
    class count (``(dtype, shape, classes[, ignored label])``); every message starts with the
    source's description (its kind, and its file for the file sources)."""
    try:
        source.serve_declared(expected)
        check_fields(source.fields, expected)
        check_labels(source, label_ranges(expected))
    except ValueError as error:
        raise ValueError(f"{source.description}: {error}") from None
