"""A data source of the user's: ``data python { file = "my_data.py", name = "Digits", ... }``.

The protocol (docs/language.md "Extending specc"): the file defines a class ``Name`` with

- ``__init__(self, split, **arguments)``: ``split`` is ``"train"``, ``"val"`` or ``"test"``
  (one object per split); with ``val_fraction`` / ``test_fraction`` in the spec the class
  is made once with ``split = "all"`` and its examples are split like an npz pool
  (``seeded_split(len, val_fraction, test_fraction, seed)``);
- ``__len__(self)``: the number of examples (a split may have 0);
- ``__getitem__(self, index) -> {field: value}``: example ``index`` (``0 <= index < len``),
  each declared field a numpy array (or anything ``numpy.asarray`` takes: a Python number
  is a scalar field) of the declared per-example shape; other keys are ignored;
- optionally ``num_classes``: when given, it must equal the classes of the model's logits.

:class:`UserSource` adapts it to :class:`~specc.runtime.data.sources.Source`, so the
``Loader`` gives it the seeded order, the resumable position, the transforms and the thread
or process workers of every source. It holds a :class:`~specc.runtime.extensions.Reference`
(three plain values): the user's objects are made in each process that reads (a spawned
worker imports the file itself) and are never pickled.

Before step 1 (``check_source``: ``serve_declared``) the first example of every split is
held against the declared fields: a missing field, another shape or a dtype that cannot be
served as declared is a ``ValueError`` naming the field, the declared and the returned
type. Every example read later is held to the same types (a ``UserCodeError`` naming the
index and the field). An exception in the user's ``__init__``, ``__len__`` or
``__getitem__`` is a ``UserCodeError`` naming the user's file and line.
"""

from __future__ import annotations

import threading

import numpy as np

from specc.runtime import checks
from specc.runtime.data.sources import DTYPES, SPLITS, Source, dtype_name, register, seeded_split
from specc.runtime.extensions import Reference, UserCodeError

POOL = "all"  # the split a pool is made with (val_fraction / test_fraction)
CONVERTIBLE = ("i32", "i64", "bool")  # returned integer and boolean values serve as any of these


@register("python")
class UserSource(Source):
    """The user's class ``name`` of ``file``, made with ``(split, **arguments)``."""

    def __init__(
        self,
        file: str,
        name: str,
        arguments=(),  # a mapping: the spec's `arguments = { ... }` (the registry's default: none)
        val_fraction: float | None = None,
        test_fraction: float | None = None,
        seed: int = 0,
    ):
        super().__init__()
        self.reference = Reference(file, name, dict(arguments or {}))
        self.pooled = val_fraction is not None or test_fraction is not None
        self.fractions = (float(val_fraction or 0.0), float(test_fraction or 0.0))
        self.seed = int(seed)
        checks.check_non_negative(self.kind, "seed", self.seed)
        self.declared: dict[str, tuple[str, tuple[int, ...]]] | None = None
        self._objects: dict[str, object] = {}
        self._objects_lock = threading.Lock()  # not the cache's: a pool's split is cached while made

    def __getstate__(self) -> dict:
        """The reference, not the user's objects: each process makes its own."""
        state = super().__getstate__()
        state["_objects"] = {}
        del state["_objects_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._objects_lock = threading.Lock()

    @property
    def description(self) -> str:
        return f"python: {self.reference.file}: {self.reference.name}"

    # ------------------------------------------------------------------ the user's objects

    def dataset(self, split: str):
        """The user's object serving ``split`` (``all`` for a pool), made once per process."""
        made = self._objects.get(split)
        if made is None:
            with self._objects_lock:
                if split not in self._objects:
                    cls = self.reference.load()
                    action = f"creating the {split} split"
                    self._objects[split] = self.reference.call(cls, action, split, **self.reference.arguments)
                made = self._objects[split]
        return made

    def length(self, split: str) -> int:
        dataset = self.dataset(split)
        count = self.reference.call(type(dataset).__len__, f"__len__ of the {split} split", dataset)
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise UserCodeError(
                f"{self.description}: __len__ of the {split} split returned {count!r}, not a number of examples (an "
                "integer >= 0)"
            )
        return int(count)

    def selections(self) -> dict[str, np.ndarray]:
        """A pool's rows per split (``seeded_split``), computed once."""
        val_fraction, test_fraction = self.fractions
        return self.cached(
            "selections", lambda: seeded_split(self.length(POOL), val_fraction, test_fraction, self.seed)
        )

    def locate(self, split: str, index: int) -> tuple[str, int]:
        """(the user's split, its index) of item ``index`` of ``split``."""
        if self.pooled:
            return POOL, int(self.selections()[split][index])
        return split, int(index)

    def getitem(self, split: str, index: int) -> str:
        """``__getitem__(i) of the <split> split``: the user's call serving item ``index``."""
        own_split, own_index = self.locate(split, index)
        return f"__getitem__({own_index}) of the {own_split} split"

    def example(self, split: str, index: int) -> dict:
        """``__getitem__(index)`` of item ``index`` of ``split``, as the user returned it."""
        own_split, own_index = self.locate(split, index)
        dataset = self.dataset(own_split)
        item = self.reference.call(dataset.__getitem__, self.getitem(split, index), own_index)
        if not isinstance(item, dict):
            raise UserCodeError(
                f"{self.description}: {self.getitem(split, index)} returned {type(item).__name__}, not a dict "
                "{field: numpy array}"
            )
        return item

    # ------------------------------------------------------------------ Source

    @property
    def fields(self):
        if self.declared is None:  # not checked against the spec yet: what the first example holds
            split = next((split for split in SPLITS if self.size(split)), None)
            if split is None:
                raise ValueError(f"{self.description}: every split has 0 examples")
            return {name: returned_type(value) for name, value in self.example(split, 0).items() if served(value)}
        return dict(self.declared)

    def serve_declared(self, expected) -> None:
        """Hold the first example of every split to the declared fields, then serve them."""
        declared = {name: (dtype, tuple(int(size) for size in shape)) for name, (dtype, shape, *_) in expected.items()}
        for split in SPLITS:
            if self.size(split):
                problem = mismatch(self.example(split, 0), declared)
                if problem:
                    raise ValueError(f"{self.getitem(split, 0)}: {problem}")
        self.check_classes(expected)
        self.declared = declared

    def check_classes(self, expected) -> None:
        """The user's ``num_classes`` (when the class has one) against the model's classes."""
        classes = {entry[2] for entry in expected.values() if len(entry) > 2 and entry[2] is not None}
        dataset = self.dataset(POOL if self.pooled else "train")
        own = getattr(dataset, "num_classes", None)
        if own is not None and classes and int(own) not in classes:
            raise ValueError(
                f"num_classes is {own}, but the model's logits have {', '.join(str(item) for item in sorted(classes))} "
                "classes"
            )

    def _size(self, split: str) -> int:
        if self.pooled:
            return len(self.selections()[split])
        return self.length(split)

    def _get(self, split: str, indices: np.ndarray) -> dict:
        fields = self.fields
        rows = {name: [] for name in fields}
        for index in indices:
            item = self.example(split, int(index))
            problem = mismatch(item, fields)
            if problem:
                raise UserCodeError(f"{self.description}: {self.getitem(split, int(index))}: {problem}")
            for name in fields:
                rows[name].append(np.asarray(item[name]))
        return {
            name: np.stack(values) if values else np.zeros((0, *shape), DTYPES[dtype])
            for (name, values), (dtype, shape) in zip(rows.items(), fields.values())
        }


def served(value) -> bool:
    """A value a field can hold: a float, integer or bool array (or number)."""
    try:
        return np.asarray(value).dtype.kind in "fbiu"
    except (TypeError, ValueError):  # ragged lists and the like
        return False


def returned_type(value) -> tuple[str, tuple[int, ...]]:
    """``(dtype, shape)`` of a value ``__getitem__`` returned."""
    array = np.asarray(value)
    return dtype_name(array, "__getitem__", "value"), tuple(int(size) for size in array.shape)


def mismatch(item: dict, declared: dict) -> str:
    """What of one example does not fit the declared fields ("" when it fits)."""
    for name, (dtype, shape) in declared.items():
        if name not in item:
            returned = ", ".join(sorted(str(key) for key in item)) or "none"
            return f"__getitem__ returns no field '{name}' (it returns: {returned})"
        try:
            returned_dtype, returned_shape = returned_type(item[name])
        except ValueError:
            return f"field '{name}' is {type(item[name]).__name__}, not a float, integer or bool array"
        same_dtype = returned_dtype == dtype or (returned_dtype in CONVERTIBLE and dtype in CONVERTIBLE)
        if returned_shape != shape or not same_dtype:
            return (
                f"field '{name}' is {_show(returned_dtype, returned_shape)}, but the spec declares "
                f"{_show(dtype, shape)}"
            )
    return ""


def _show(dtype: str, shape) -> str:
    return f"{dtype}[{', '.join(str(size) for size in shape)}]"
