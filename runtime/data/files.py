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
served as float32, boolean ones as bool, integer ones as int64; a field the spec declares
(``fields = { attn_mask = "bool[16]", ids = "i32[16]" }``) is served in its declared dtype
when it holds integers or booleans and the declared dtype is i32, i64 or bool (an integer
is true when it is not 0).
"""

from __future__ import annotations

import os
import zipfile
import zlib

import numpy as np

from specc.runtime.data.sources import DTYPES, SPLITS, Source, dtype_name, register, seeded_split

# what numpy and zipfile raise on a damaged, truncated or foreign file
READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error)
ZIP_MAGIC = b"PK\x03\x04"
EXACT = ("i32", "i64", "bool")  # served dtypes that integer and boolean arrays convert between
NPY_MAGIC = b"\x93NUMPY"


def _read_rows(array, rows: np.ndarray) -> np.ndarray:
    """``array[rows]`` for numpy arrays, memory maps and HDF5 datasets (which need increasing,
    unique indices)."""
    if isinstance(array, np.ndarray):
        return array[rows]
    unique, inverse = np.unique(rows, return_inverse=True)
    return np.asarray(array[unique])[inverse]


class ArraySource(Source):
    """Serve per-split dictionaries of arrays; ``selections[split]`` (optional) maps a
    split's item i to a row of its arrays (pool mode). ``path`` (the file or folder) is
    named in every message."""

    def __init__(self, arrays: dict, selections: dict | None = None, path: str | None = None):
        super().__init__()
        self.arrays = arrays
        self.selections = selections or {}
        self.path = path
        self._fields = self._collect_fields()

    @property
    def description(self) -> str:
        return f"{self.kind}: {self.path}" if self.path else self.kind

    def _collect_fields(self):
        fields = None
        for split in SPLITS:
            if split not in self.arrays:
                continue
            for name, array in self.arrays[split].items():
                if len(array.shape) == 0:
                    raise ValueError(
                        f"{self.description}: field '{name}' is a single value; every array needs the "
                        "example axis first"
                    )
            lengths = {name: len(array) for name, array in self.arrays[split].items()}
            if len(set(lengths.values())) > 1:
                raise ValueError(
                    f"{self.description}: the fields of the {split} split have different numbers of examples: "
                    f"{lengths}"
                )
            found = {
                name: (dtype_name(array, self.description, name), tuple(int(size) for size in array.shape[1:]))
                for name, array in sorted(self.arrays[split].items())
            }
            if fields is not None and found != fields:
                raise ValueError(
                    f"{self.description}: the {split} split has fields {found} but the train split has {fields}"
                )
            fields = found
        if not fields:
            raise ValueError(f"{self.description}: no arrays found")
        return fields

    @property
    def fields(self):
        return dict(self._fields)

    def serve_declared(self, expected) -> None:
        """An integer or boolean field the spec declares i32, i64 or bool is served so."""
        for name, (dtype, *_) in expected.items():
            if name in self._fields and self._fields[name][0] in EXACT and dtype in EXACT:
                self._fields[name] = (dtype, self._fields[name][1])

    def field_values(self, split, name):
        if self.size(split) == 0:
            return super().field_values(split, name)
        array = self.arrays[split][name]
        values = np.asarray(array) if split not in self.selections else _read_rows(array, self.selections[split])
        return np.asarray(values, dtype=DTYPES[self._fields[name][0]])

    def memory_arrays(self, split):
        """The split's arrays when every one is an in-memory numpy array (not a memory map
        or an HDF5 dataset) stored in its served dtype; ``rows``: the pool's selection."""
        split = self.examples_of(split)
        arrays = self.arrays.get(split)
        if not arrays or self.size(split) == 0:
            return None
        served = {}
        for name, (dtype, _) in self._fields.items():
            array = arrays.get(name)
            if type(array) is not np.ndarray or array.dtype != DTYPES[dtype]:
                return None
            served[name] = array
        return served, self.selections.get(split)

    def stored_row(self, split, index):
        return int(self.selections[split][index]) if split in self.selections else None

    def _size(self, split):
        if split in self.selections:
            return len(self.selections[split])
        arrays = self.arrays.get(split)
        return len(next(iter(arrays.values()))) if arrays else 0

    def _get(self, split, indices):
        rows = self.selections[split][indices] if split in self.selections else indices
        return {name: _read_rows(array, rows) for name, array in self.arrays[split].items()}


def _pool(arrays: dict, val_fraction, test_fraction, seed, labels=None):
    """(arrays per split, selections) for one pool split by seed (not split when there is
    no array or a single value: the source then reports it)."""
    if not arrays or any(len(array.shape) == 0 for array in arrays.values()):
        return ({"train": arrays} if arrays else {}), {}
    count = len(next(iter(arrays.values())))
    selections = seeded_split(count, val_fraction, test_fraction, seed, labels)
    return {split: arrays for split in SPLITS}, selections


def _missing(kind: str, path: str):
    return ValueError(f"{kind}: no such file or directory: {path}")


def _damaged(kind: str, path: str, error: BaseException) -> ValueError:
    reason = str(error) or type(error).__name__
    return ValueError(f"{kind}: cannot read {path}: {reason}")


def _first_bytes(kind: str, path: str, count: int) -> bytes:
    """The first ``count`` bytes of a file (``ValueError`` naming it when it cannot be opened)."""
    try:
        with open(path, "rb") as file:
            return file.read(count)
    except OSError as error:
        raise _damaged(kind, path, error) from None


def read_npz(path: str) -> dict[str, np.ndarray]:
    """Every array of one ``.npz`` archive, read eagerly. Each way the file can fail (absent,
    empty, not a zip of ``.npy`` arrays, truncated or damaged, holding Python objects, holding
    no arrays) is one ``ValueError`` naming the file."""
    if not os.path.exists(path):
        raise _missing("npz", path)
    magic = _first_bytes("npz", path, len(ZIP_MAGIC))
    if not magic:
        raise ValueError(f"npz: {path} is empty (0 bytes); expected an .npz archive of arrays")
    try:
        contents = np.load(path, allow_pickle=False)
    except READ_ERRORS as error:
        if magic != ZIP_MAGIC:
            raise ValueError(f"npz: {path} is not an .npz archive (a zip of .npy arrays, as numpy.savez writes)") from None
        raise ValueError(f"npz: {path} is truncated or damaged ({error})") from None
    if not isinstance(contents, np.lib.npyio.NpzFile):
        raise ValueError(f"npz: {path} holds a single .npy array, not an .npz archive of named arrays")
    with contents:
        arrays = {}
        for name in contents.files:
            try:
                arrays[name] = contents[name]
            except READ_ERRORS as error:
                if "allow_pickle" in str(error):
                    raise ValueError(
                        f"npz: {path}: array '{name}' holds Python objects; only float, integer and bool "
                        "arrays are supported"
                    ) from None
                raise ValueError(f"npz: {path}: array '{name}' cannot be read ({error}); the file is damaged") from None
    if not arrays:
        raise ValueError(f"npz: {path} holds no arrays")
    return arrays


def read_npy(path: str) -> np.ndarray:
    """One ``.npy`` array, memory-mapped; a damaged or foreign file is a ``ValueError`` naming it."""
    magic = _first_bytes("npy", path, len(NPY_MAGIC))
    if not magic:
        raise ValueError(f"npy: {path} is empty (0 bytes); expected a .npy array")
    if magic != NPY_MAGIC:
        raise ValueError(f"npy: {path} is not a .npy array (as numpy.save writes)")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except READ_ERRORS as error:
        if "Python objects" in str(error):
            raise ValueError(
                f"npy: {path} holds Python objects; only float, integer and bool arrays are supported"
            ) from None
        raise ValueError(f"npy: {path} is truncated or damaged ({error})") from None


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
            files = {split: os.path.join(path, f"{split}.npz") for split in SPLITS}
            arrays = {split: read_npz(file) for split, file in files.items() if os.path.exists(file)}
            if "train" not in arrays:
                raise ValueError(f"npz: directory {path} has no train.npz")
            super().__init__(arrays, path=path)
            return
        loaded = read_npz(path)
        prefixed = {name for name in loaded if name.split("_", 1)[0] in SPLITS and "_" in name}
        if prefixed and prefixed != set(loaded):
            plain = ", ".join(sorted(set(loaded) - prefixed))
            raise ValueError(f"npz: {path} mixes split-prefixed keys with plain keys ({plain})")
        if prefixed:
            arrays = {}
            for name, array in loaded.items():
                split, field = name.split("_", 1)
                arrays.setdefault(split, {})[field] = array
            super().__init__(arrays, path=path)
        else:
            super().__init__(*_pool(loaded, val_fraction, test_fraction, seed), path=path)


@register("npy")
class Npy(ArraySource):
    """Arrays from ``<field>.npy`` files, memory-mapped (see the module docstring)."""

    def __init__(self, path, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0):
        path = os.fspath(path)
        if not os.path.isdir(path):
            raise _missing("npy", path)

        def load_folder(folder):
            names = sorted(name for name in os.listdir(folder) if name.endswith(".npy"))
            return {name[:-4]: read_npy(os.path.join(folder, name)) for name in names}

        split_folders = [split for split in SPLITS if os.path.isdir(os.path.join(path, split))]
        if split_folders:
            super().__init__({split: load_folder(os.path.join(path, split)) for split in split_folders}, path=path)
        else:
            super().__init__(*_pool(load_folder(path), val_fraction, test_fraction, seed), path=path)


@register("hdf5")
class Hdf5(ArraySource):
    """Datasets of HDF5 files, read lazily with h5py (see the module docstring)."""

    def __init__(self, path, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0):
        import h5py

        path = os.fspath(path)
        self.files = []

        def open_file(file):
            if not _first_bytes("hdf5", file, 1):
                raise ValueError(f"hdf5: {file} is empty (0 bytes); expected an HDF5 file")
            try:
                handle = h5py.File(file, "r")
            except READ_ERRORS as error:
                raise _damaged("hdf5", file, error) from None
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
            super().__init__(arrays, path=path)
            return
        if not os.path.exists(path):
            raise _missing("hdf5", path)
        handle = open_file(path)
        groups = [split for split in SPLITS if split in handle and isinstance(handle[split], h5py.Group)]
        if groups:
            super().__init__({split: datasets(handle[split]) for split in groups}, path=path)
        else:
            super().__init__(*_pool(datasets(handle), val_fraction, test_fraction, seed), path=path)

    def close(self):
        for handle in self.files:
            handle.close()
