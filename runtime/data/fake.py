"""Fake data for smoke-testing a spec without its files: ``data npz { fake = true ... }``.

``make_source(kind, fake=True, ...)`` of a source that reads files (``FILE_SOURCES``: npz,
npy, hdf5, wav_folder, token_stream and the user's python class) returns a
:class:`FakeSource` instead, which opens nothing. It learns its fields from the spec's
declaration when the script checks the source (``check_source`` calls
``serve_declared(expected)``), and serves random examples of exactly those dtypes and
shapes:

- ``f32``: standard normal values;
- ``bool``: true or false with probability 1/2;
- ``i32`` / ``i64``: a class label in ``[0, classes)`` when the spec gives the field's range
  (a classification target, a language model's tokens), else 0 (always a valid index).

Example ``i`` of a split is a pure function of ``(seed, split, i)``: each field draws from
``default_rng([seed, split index, i, field index])`` (fields in name order), the same
numbers in every process and on every backend (host numpy), so resume and process workers
see the same data. The splits hold ``FAKE_SIZES`` examples (train, val, test).
"""

from __future__ import annotations

import numpy as np

from specc.runtime.data.sources import DTYPES, SPLITS, Source

FILE_SOURCES = ("npz", "npy", "hdf5", "wav_folder", "token_stream", "python")
FAKE_SIZES = {"train": 4096, "val": 512, "test": 512}


class FakeSource(Source):
    """Random examples in place of ``kind``'s files (module docstring)."""

    def __init__(self, kind: str, seed: int = 0):
        super().__init__()
        if kind not in FILE_SOURCES:
            raise ValueError(
                f"fake: `fake = true` replaces the files of a file source ({', '.join(FILE_SOURCES)}); "
                f"`{kind}` reads no files"
            )
        self.kind, self.seed = kind, int(seed)
        self.declared: dict[str, tuple] = {}

    @property
    def description(self) -> str:
        return f"{self.kind} (fake data)"

    def serve_declared(self, expected) -> None:
        """Serve exactly the declared fields: ``{name: (dtype, shape[, classes[, ignored]])}``."""
        declared = {}
        for name, (dtype, shape, *rest) in sorted(expected.items()):
            if dtype not in DTYPES:
                raise ValueError(f"fake data: field '{name}' has dtype {dtype}; expected one of {', '.join(DTYPES)}")
            if not all(isinstance(size, int) and not isinstance(size, bool) and size >= 0 for size in shape):
                raise ValueError(f"fake data: field '{name}' needs concrete sizes, got {tuple(shape)}")
            classes = rest[0] if rest and rest[0] is not None else None
            declared[name] = (dtype, tuple(int(size) for size in shape), classes)
        self.declared = declared

    @property
    def fields(self):
        return {name: (dtype, shape) for name, (dtype, shape, _) in self.declared.items()}

    def _size(self, split: str) -> int:
        return FAKE_SIZES[split]

    def example_field(self, split: str, index: int, name: str) -> np.ndarray:
        """Field ``name`` of example ``index``: a pure function of (seed, split, index, name)."""
        dtype, shape, classes = self.declared[name]
        position = sorted(self.declared).index(name)
        rng = np.random.default_rng([self.seed, SPLITS.index(split), int(index), position])
        if dtype == "f32":
            return rng.standard_normal(shape).astype(np.float32)
        if dtype == "bool":
            return rng.random(shape) < 0.5
        if classes is not None:
            return rng.integers(0, int(classes), size=shape).astype(DTYPES[dtype])
        return np.zeros(shape, dtype=DTYPES[dtype])

    def field_values(self, split: str, name: str) -> np.ndarray:
        size = self.size(split)
        dtype, shape, _ = self.declared[name]
        split = self.examples_of(split)
        values = [self.example_field(split, index, name) for index in range(size)]
        return np.stack(values) if values else np.zeros((0, *shape), dtype=DTYPES[dtype])

    def _get(self, split: str, indices: np.ndarray) -> dict[str, np.ndarray]:
        batch = {}
        for name, (dtype, shape, _) in self.declared.items():
            rows = [self.example_field(split, int(index), name) for index in indices]
            batch[name] = np.stack(rows) if rows else np.zeros((0, *shape), dtype=DTYPES[dtype])
        return batch
