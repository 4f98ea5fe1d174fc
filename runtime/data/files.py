"""Sources backed by arrays: scikit-learn's bundled digits, ``.npz`` / ``.npy`` files, HDF5.

Split conventions, the same for npz, npy and hdf5:

- separate storage per split: a directory holding ``train.npz`` / ``val.npz`` /
  ``test.npz`` (npz), sub-directories ``train/`` ``val/`` ``test/`` of ``<field>.npy``
  files (npy), ``train.h5`` / ``val.h5`` / ``test.h5`` (hdf5, ``.hdf5`` also accepted), or
  one HDF5 file with groups ``train`` / ``val`` / ``test``. Only ``train`` is required; a
  missing split has 0 examples.
- one ``.npz`` file whose keys carry prefixes ``train_`` / ``val_`` / ``test_``
  (``train_x``, ``val_x``, ...): the field names are the keys without the prefix.
- one pool without split markers (plain keys, ``<field>.npy`` files directly in the
  directory, top-level HDF5 datasets): split by ``seeded_split(n, val_fraction,
  test_fraction, seed)``.

In every case the first axis of every array is the example axis. Floating arrays are
served as float32, integer and boolean ones as int64.
"""

from __future__ import annotations

import os

import numpy as np

from specc.runtime.data.sources import SPLITS, Source, dtype_name, register, seeded_split


def _read_rows(array, rows: np.ndarray) -> np.ndarray:
    """``array[rows]`` for numpy arrays, memory maps and HDF5 datasets (which need increasing,
    unique indices)."""
    if isinstance(array, np.ndarray):
        return array[rows]
    unique, inverse = np.unique(rows, return_inverse=True)
    return np.asarray(array[unique])[inverse]


class ArraySource(Source):
    """Serve per-split dictionaries of arrays; ``selections[split]`` (optional) maps a
    split's item i to a row of its arrays (pool mode)."""

    def __init__(self, arrays: dict, selections: dict | None = None):
        super().__init__()
        self.arrays = arrays
        self.selections = selections or {}
        self._fields = self._collect_fields()

    def _collect_fields(self):
        fields = None
        for split in SPLITS:
            if split not in self.arrays:
                continue
            lengths = {name: len(array) for name, array in self.arrays[split].items()}
            if len(set(lengths.values())) > 1:
                raise ValueError(
                    f"{self.kind}: the fields of the {split} split have different numbers of examples: {lengths}"
                )
            found = {
                name: (dtype_name(array, self.kind, name), tuple(int(size) for size in array.shape[1:]))
                for name, array in sorted(self.arrays[split].items())
            }
            if fields is not None and found != fields:
                raise ValueError(
                    f"{self.kind}: the {split} split has fields {found} but the train split has {fields}"
                )
            fields = found
        if not fields:
            raise ValueError(f"{self.kind}: no arrays found")
        return fields

    @property
    def fields(self):
        return dict(self._fields)

    def _size(self, split):
        if split in self.selections:
            return len(self.selections[split])
        arrays = self.arrays.get(split)
        return len(next(iter(arrays.values()))) if arrays else 0

    def _get(self, split, indices):
        rows = self.selections[split][indices] if split in self.selections else indices
        return {name: _read_rows(array, rows) for name, array in self.arrays[split].items()}


def _pool(arrays: dict, val_fraction, test_fraction, seed, labels=None):
    """(arrays per split, selections) for one pool split by seed."""
    count = len(next(iter(arrays.values())))
    selections = seeded_split(count, val_fraction, test_fraction, seed, labels)
    return {split: arrays for split in SPLITS}, selections


def _missing(kind: str, path: str):
    return ValueError(f"{kind}: no such file or directory: {path}")


@register("digits")
class Digits(ArraySource):
    """scikit-learn's bundled 8x8 digits (``load_digits``, no download): ``x`` f32[64] in
    [0, 1] (pixel / 16), ``y`` i64[]; split stratified by class with ``seeded_split``."""

    def __init__(self, val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0):
        from sklearn.datasets import load_digits

        digits = load_digits()
        pool = {"x": (digits.data / 16.0).astype(np.float32), "y": digits.target.astype(np.int64)}
        super().__init__(*_pool(pool, val_fraction, test_fraction, seed, labels=pool["y"]))


@register("npz")
class Npz(ArraySource):
    """Arrays from ``.npz`` files (see the module docstring for the split conventions)."""

    def __init__(self, path, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0):
        path = os.fspath(path)
        if os.path.isdir(path):
            arrays = {}
            for split in SPLITS:
                file = os.path.join(path, f"{split}.npz")
                if os.path.exists(file):
                    with np.load(file) as contents:
                        arrays[split] = {name: contents[name] for name in contents.files}
            if "train" not in arrays:
                raise ValueError(f"npz: directory {path} has no train.npz")
            super().__init__(arrays)
            return
        if not os.path.exists(path):
            raise _missing("npz", path)
        with np.load(path) as contents:
            loaded = {name: contents[name] for name in contents.files}
        prefixed = {name for name in loaded if name.split("_", 1)[0] in SPLITS and "_" in name}
        if prefixed and prefixed != set(loaded):
            plain = ", ".join(sorted(set(loaded) - prefixed))
            raise ValueError(f"npz: {path} mixes split-prefixed keys with plain keys ({plain})")
        if prefixed:
            arrays = {}
            for name, array in loaded.items():
                split, field = name.split("_", 1)
                arrays.setdefault(split, {})[field] = array
            super().__init__(arrays)
        else:
            super().__init__(*_pool(loaded, val_fraction, test_fraction, seed))


@register("npy")
class Npy(ArraySource):
    """Arrays from ``<field>.npy`` files, memory-mapped (see the module docstring)."""

    def __init__(self, path, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0):
        path = os.fspath(path)
        if not os.path.isdir(path):
            raise _missing("npy", path)

        def load_folder(folder):
            names = sorted(name for name in os.listdir(folder) if name.endswith(".npy"))
            return {name[:-4]: np.load(os.path.join(folder, name), mmap_mode="r") for name in names}

        split_folders = [split for split in SPLITS if os.path.isdir(os.path.join(path, split))]
        if split_folders:
            super().__init__({split: load_folder(os.path.join(path, split)) for split in split_folders})
        else:
            super().__init__(*_pool(load_folder(path), val_fraction, test_fraction, seed))


@register("hdf5")
class Hdf5(ArraySource):
    """Datasets of HDF5 files, read lazily with h5py (see the module docstring)."""

    def __init__(self, path, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0):
        import h5py

        path = os.fspath(path)
        self.files = []

        def open_file(file):
            handle = h5py.File(file, "r")
            self.files.append(handle)
            return handle

        def datasets(group):
            return {name: item for name, item in group.items() if isinstance(item, h5py.Dataset)}

        if os.path.isdir(path):
            arrays = {}
            for split in SPLITS:
                for extension in (".h5", ".hdf5"):
                    file = os.path.join(path, split + extension)
                    if os.path.exists(file) and split not in arrays:
                        arrays[split] = datasets(open_file(file))
            if "train" not in arrays:
                raise ValueError(f"hdf5: directory {path} has no train.h5")
            super().__init__(arrays)
            return
        if not os.path.exists(path):
            raise _missing("hdf5", path)
        handle = open_file(path)
        groups = [split for split in SPLITS if split in handle and isinstance(handle[split], h5py.Group)]
        if groups:
            super().__init__({split: datasets(handle[split]) for split in groups})
        else:
            super().__init__(*_pool(datasets(handle), val_fraction, test_fraction, seed))

    def close(self):
        for handle in self.files:
            handle.close()
