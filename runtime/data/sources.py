"""The common interface of data sources, their registry, and shared helpers.

A source serves three splits (``train``, ``val``, ``test``), and ``train_eval``: the training
examples as evaluation reads them (``eval { on_train = true }``), which is ``train`` itself
for every source but a token stream (its fixed windows; ``streams.py``). ``fields`` maps each field
name to ``(dtype, per-example shape)`` with dtype ``"f32"``, ``"i32"``, ``"i64"`` or ``"bool"``;
``get(split, indices)`` returns a batch ``{name: array [len(indices), *shape]}`` in float32 /
int32 / int64 / bool.
Item ``i`` of a split is a pure function of ``(split seed, i)`` for the generated sources,
and of the file contents for the file sources: the same index always gives the same item.
"""

from __future__ import annotations

import threading

import numpy as np

from specc.runtime import checks

SPLITS = ("train", "val", "test")
TRAIN_EVALUATION = "train_eval"  # the training examples, evaluated (eval.on_train)
READ_SPLITS = SPLITS + (TRAIN_EVALUATION,)  # what size / get / Loader accept
DTYPES = {"f32": np.float32, "i32": np.int32, "i64": np.int64, "bool": np.bool_}
SOURCES: dict[str, type] = {}
FIELD_CHUNK = 4096  # items per ``get`` when ``Source.field_values`` has no cheaper way


def register(kind: str):
    """Class decorator: make a ``Source`` subclass available as ``make_source(kind, ...)``."""

    def decorate(cls):
        cls.kind = kind
        SOURCES[kind] = cls
        return cls

    return decorate


# keys of the data section that are no source constructor's: the Loader's
# (``loader.LOADER_OPTIONS``), ``fake``, which ``make_source`` reads itself, and ``render``
LOADER_KEYS = (
    "num_workers",
    "prefetch_factor",
    "persistent_workers",
    "pin_memory",
    "drop_last",
    "shuffle",
    "worker_type",
    "transforms",
    "repeat_first_batch",
    "fake",
    "render",  # how parameters become signals (render.py): read by the evaluation, not the source
    "predict",  # a file of inputs (predict.py): read by --predict, not the source
)


def make_source(kind: str, **arguments) -> "Source":
    """Build the data source ``kind`` (``ksin``, ``digits``, ``npz``, ...) from its arguments;
    the loader keys (``LOADER_KEYS``: see ``loader_options``) are not the source's and are
    left out. With ``fake = True`` a file source opens nothing: random examples of the
    declared fields (``fake.FakeSource``, seeded by the source's ``seed``)."""
    checks.check_choice("make_source", "kind", kind, tuple(sorted(SOURCES)))
    if arguments.get("fake"):
        from specc.runtime.data.fake import FakeSource  # fake.py builds on this module

        return FakeSource(kind, seed=arguments.get("seed") or 0)
    return SOURCES[kind](**{name: value for name, value in arguments.items() if name not in LOADER_KEYS})


def split_seed(seed: int, split: str) -> list[int]:
    """The seed of one split: ``[seed, index of split in (train, val, test)]``."""
    return [int(seed), SPLITS.index(split)]


def split_generator(seed: int, split: str, *stream: int) -> np.random.Generator:
    """``np.random.default_rng([seed, split index, *stream])``."""
    return np.random.default_rng(split_seed(seed, split) + [int(value) for value in stream])


def dtype_name(array, function: str, name: str) -> str:
    """``"f32"`` for floating arrays, ``"bool"`` for boolean ones, ``"i64"`` for integer ones."""
    kind = np.dtype(array.dtype).kind
    if kind == "f":
        return "f32"
    if kind == "b":
        return "bool"
    if kind in "iu":
        return "i64"
    raise ValueError(
        f"{function}: field '{name}' has dtype {array.dtype}; only float, integer and bool arrays are supported"
    )


def seeded_split(
    count: int, val_fraction: float, test_fraction: float, seed: int, labels=None
) -> dict[str, np.ndarray]:
    """Split ``range(count)`` into train / val / test index arrays (each sorted).

    With ``labels`` the split is stratified: each class (in sorted order) is permuted by
    ``default_rng(seed)`` and its first ``round(test_fraction * n_c)`` items go to test, the
    next ``round(val_fraction * n_c)`` to val, the rest to train.
    """
    checks.check_fraction("split", "val_fraction", val_fraction)
    checks.check_fraction("split", "test_fraction", test_fraction)
    if val_fraction + test_fraction >= 1:
        raise ValueError(f"split: val_fraction + test_fraction must be below 1, got {val_fraction + test_fraction}")
    labels = np.zeros(count, dtype=np.int64) if labels is None else np.asarray(labels)
    generator = np.random.default_rng(seed)
    parts = {split: [] for split in SPLITS}
    for label in np.unique(labels):
        members = generator.permutation(np.flatnonzero(labels == label))
        test_count = int(round(test_fraction * len(members)))
        val_count = int(round(val_fraction * len(members)))
        parts["test"].append(members[:test_count])
        parts["val"].append(members[test_count : test_count + val_count])
        parts["train"].append(members[test_count + val_count :])
    return {split: np.sort(np.concatenate(parts[split])).astype(np.int64) for split in SPLITS}


def check_split_seeds(function: str, split_seeds) -> tuple[int, int, int] | None:
    """``split_seeds = (train, val, test)``, each a non-negative integer, or None (absent)."""
    if split_seeds is None:
        return None
    split_seeds = tuple(int(seed) for seed in split_seeds)
    if len(split_seeds) != 3:
        raise ValueError(f"{function}: split_seeds must be (train, val, test), got {split_seeds}")
    for split, seed in zip(SPLITS, split_seeds):
        checks.check_non_negative(function, f"{split} seed", seed)
    return split_seeds


def check_sizes(function: str, sizes) -> tuple[int, int, int]:
    """``sizes = (train, val, test)``, each a non-negative integer."""
    sizes = tuple(int(size) for size in sizes)
    if len(sizes) != 3:
        raise ValueError(f"{function}: sizes must be (train, val, test), got {sizes}")
    for split, size in zip(SPLITS, sizes):
        checks.check_non_negative(function, f"{split} size", size)
    return sizes


class Source:
    """Base class of every data source. Subclasses implement ``fields``, ``_size`` and ``_get``."""

    kind = "source"

    def __init__(self):
        self._lock = threading.Lock()
        self._cache: dict = {}

    def __getstate__(self) -> dict:
        """Picklable (process workers receive the source): the lock stays behind."""
        return {name: value for name, value in self.__dict__.items() if name != "_lock"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def fields(self) -> dict[str, tuple[str, tuple[int, ...]]]:
        raise NotImplementedError

    @property
    def description(self) -> str:
        """What messages name: the kind, and the file or folder for the file sources."""
        return self.kind

    def serve_declared(self, expected) -> None:
        """Serve fields as the spec declares them (``expected``: name -> ``(dtype, shape,
        ...)``) where the stored values allow it; by default a source serves what it has."""

    def field_values(self, split: str, name: str) -> np.ndarray:
        """Every item of one field of ``split``, ``[size, *shape]`` in the served dtype (the
        label checks read it once at load). Subclasses with a cheaper way override it."""
        size = self.size(split)
        dtype, shape = self.fields[name]
        chunks = [
            self.get(split, np.arange(start, min(start + FIELD_CHUNK, size)))[name]
            for start in range(0, size, FIELD_CHUNK)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, *shape), dtype=DTYPES[dtype])

    def label_values(self, split: str, name: str) -> np.ndarray:
        """What the label check reads of one field (``labels.check_labels``): ``field_values``,
        unless the source holds every value in a more complete form (a token stream: its
        ids end to end, tails that no fixed window covers included)."""
        return self.field_values(split, name)

    def stored_row(self, split: str, index: int) -> int | None:
        """The row of the stored arrays that item ``index`` of ``split`` is, when the source
        splits one pool of rows (None when the split's own rows are served in order)."""
        return None

    def memory_arrays(self, split: str) -> tuple[dict, np.ndarray | None] | None:
        """``(arrays, rows)`` when a batch of ``split`` is nothing but rows of arrays already in
        memory, stored in their served dtypes: ``get(split, indices)`` equals ``{name:
        arrays[name][rows[indices]]}`` (``rows`` None: ``indices`` themselves), fields in
        ``fields`` order. None (the default) when a batch takes work: generating examples,
        reading files (memory maps, HDF5), converting dtypes, per-example Python code. The
        ``Loader`` builds the batches of such sources in the consumer's thread (``loader.py``)."""
        return None

    def examples_of(self, split: str) -> str:
        """The split whose examples ``split`` serves: ``train_eval`` serves the training
        examples (``train``); a source with its own evaluation set of them overrides it."""
        return "train" if split == TRAIN_EVALUATION else split

    def size(self, split: str) -> int:
        """Number of examples in ``split``."""
        checks.check_choice(self.kind, "split", split, READ_SPLITS)
        return int(self._size(self.examples_of(split)))

    def get(self, split: str, indices) -> dict[str, np.ndarray]:
        """The examples ``indices`` of ``split`` as a batch ``{field: [len(indices), *shape]}``."""
        size = self.size(split)
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        outside = indices[(indices < 0) | (indices >= size)]
        if outside.size:
            raise ValueError(
                f"{self.kind}: index {int(outside[0])} is out of range for the {split} split of {size} examples"
            )
        batch = self._get(self.examples_of(split), indices)
        return {name: np.asarray(batch[name], dtype=DTYPES[dtype]) for name, (dtype, _) in self.fields.items()}

    def cached(self, key, build):
        """``build()`` once per ``key`` (thread-safe): lazily generated per-split tables."""
        with self._lock:
            if key not in self._cache:
                self._cache[key] = build()
            return self._cache[key]

    def _size(self, split: str) -> int:
        raise NotImplementedError

    def _get(self, split: str, indices: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError


def check_fields(source_fields, expected) -> None:
    """Check a source's fields against what the model and objective expect, before step 1.

    ``expected`` maps field name to ``(dtype, shape)`` (further entries, the label range of
    ``check_source``, are not read here); a shape entry that is a string (a
    symbolic axis such as ``"T"``) matches any size, but the same name must have the same
    size everywhere. Raises ``ValueError`` naming the field and both shapes.
    """
    bound: dict[str, int] = {}
    for name, (dtype, shape, *_) in expected.items():
        if name not in source_fields:
            available = ", ".join(sorted(source_fields)) or "none"
            raise ValueError(f"data field '{name}' is missing: the data source provides {available}")
        actual_dtype, actual_shape = source_fields[name]
        if actual_dtype != dtype:
            raise ValueError(f"data field '{name}' has dtype {actual_dtype} but the spec expects {dtype}")
        matches = len(actual_shape) == len(shape)
        for axis, size in zip(actual_shape, shape) if matches else ():
            if isinstance(size, str):
                size = bound.setdefault(size, axis)
            matches = matches and int(size) == int(axis)
        if not matches:
            shown = "[" + ", ".join(f"{size} = {bound[size]}" if size in bound else str(size) for size in shape) + "]"
            raise ValueError(
                f"data field '{name}' has shape {checks.format_shape(actual_shape)} per example in the data "
                f"but the spec expects {shown}"
            )
