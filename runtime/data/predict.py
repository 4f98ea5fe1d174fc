"""Predict mode (seed 004's ``SurgeDataModule(predict_file=...)``): the model's outputs for
a file of inputs, written beside the run.

``data { predict = "predict.h5" }`` names a file holding the model's input fields (the
conditioning fields of a flow, the inputs of a classifier or regressor), one row per
example: an ``.npz`` of arrays or an HDF5 file of top-level datasets (``.h5`` / ``.hdf5``),
the first axis the row axis. ``python train.py --predict [FILE]`` loads the checkpoint as
``--eval-only`` does (``--resume``, default the latest) and calls :func:`write_predictions`:

- the rows are read in order, in batches of the evaluation batch size, each field checked
  against the spec's declaration (its per-example shape; floats are served as float32,
  integers and booleans as declared) and put through the data's deterministic transforms;
- the target field, which the file does not hold, is zeros of its declared shape (a flow
  reads only its shape: the noise it samples from is drawn like it);
- a flow's noise is drawn on the host from ``default_rng([seed, PREDICT_STREAM, batch])``
  (standard normal, float32), so every backend integrates from the same noise;
- ``predict(batch)`` (the script's: the objective's sampler for a flow, the model's forward
  pass otherwise) maps each batch to its outputs, which are written in order to
  ``<run>/predictions/<file stem>.npz`` as the array ``predictions`` (one row per input row;
  written to a temporary file and renamed, so a file there is whole).

Every problem with the file ends the script with one line naming it (no traceback).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from specc.runtime.data.files import READ_ERRORS, read_npz
from specc.runtime.data.sources import DTYPES
from specc.runtime.data.transforms import apply_transforms, build_transforms

PREDICT_STREAM = 4  # the noise generator's stream (the splits use 0..2)
EXTENSIONS = (".npz", ".h5", ".hdf5")
FOLDER = "predictions"


def read_inputs(path: str, fields: dict, inputs) -> dict[str, np.ndarray]:
    """The ``inputs`` fields of the file at ``path`` (``fields``: the spec's declaration,
    ``{name: (dtype, shape, ...)}``), checked and served as declared; ``ValueError`` naming
    the file and the field otherwise."""
    path = os.fspath(path)
    if not path.endswith(EXTENSIONS):
        raise ValueError(f"predict: {path} is neither an .npz nor an HDF5 file (.h5, .hdf5)")
    if not os.path.exists(path):
        raise ValueError(f"predict: {path} does not exist")
    arrays = read_npz(path) if path.endswith(".npz") else _read_hdf5(path)
    served, rows = {}, None
    for name in inputs:
        if name not in arrays:
            raise ValueError(f"predict: {path} has no field '{name}' (it holds: {', '.join(sorted(arrays)) or 'nothing'})")
        dtype, shape = fields[name][0], tuple(fields[name][1])
        array = np.asarray(arrays[name])
        if array.ndim == 0 or tuple(array.shape[1:]) != shape:
            raise ValueError(
                f"predict: {path}: field '{name}' has shape {tuple(array.shape)}, but the spec declares "
                f"{dtype}{list(shape)} per row"
            )
        if (np.dtype(array.dtype).kind == "f") != (dtype == "f32"):
            raise ValueError(f"predict: {path}: field '{name}' has dtype {array.dtype}, but the spec declares {dtype}")
        if rows is not None and len(array) != rows:
            raise ValueError(f"predict: {path}: field '{name}' has {len(array)} rows, the others {rows}")
        rows = len(array)
        served[name] = array.astype(DTYPES[dtype])
    return served


def _read_hdf5(path: str) -> dict[str, np.ndarray]:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            return {name: np.asarray(item) for name, item in handle.items() if isinstance(item, h5py.Dataset)}
    except READ_ERRORS as error:
        raise ValueError(f"predict: {path} is not a readable HDF5 file ({error})") from None


def prediction_batches(arrays: dict, fields: dict, target: str, batch_size: int, seed: int, noise: bool = False,
                       transforms=()):
    """The batches of the inputs, in order (module docstring): numpy dictionaries."""
    rows = len(next(iter(arrays.values()))) if arrays else 0
    deterministic = build_transforms(transforms, "test")
    dtype, shape = fields[target][0], tuple(fields[target][1])
    for index, begin in enumerate(range(0, rows, batch_size)):
        batch = {name: array[begin : begin + batch_size] for name, array in arrays.items()}
        count = len(next(iter(batch.values())))
        batch[target] = np.zeros((count, *shape), dtype=DTYPES[dtype])
        if deterministic:
            batch = apply_transforms(deterministic, batch, np.random.default_rng([int(seed), PREDICT_STREAM, index, 1]))
        if noise:
            rng = np.random.default_rng([int(seed), PREDICT_STREAM, index])
            batch["noise"] = rng.standard_normal((count, *shape)).astype(np.float32)
        yield batch


def write_predictions(run_dir, path, fields: dict, inputs, target: str, batch_size: int, seed: int, predict,
                      noise: bool = False, transforms=(), to_device=lambda array: array, to_host=np.asarray) -> Path:
    """Write ``predict``'s outputs for every row of the file at ``path`` to
    ``<run_dir>/predictions/<stem>.npz`` (module docstring) and return that path; a problem
    with the file ends the script with one line."""
    try:
        arrays = read_inputs(path, fields, inputs)
        outputs = []
        for batch in prediction_batches(arrays, fields, target, batch_size, seed, noise, transforms):
            outputs.append(np.asarray(to_host(predict({name: to_device(value) for name, value in batch.items()}))))
    except ValueError as error:
        sys.exit(str(error))
    shape = tuple(fields[target][1])
    predictions = np.concatenate(outputs) if outputs else np.zeros((0, *shape), dtype=np.float32)
    folder = Path(run_dir) / FOLDER
    destination = folder / (Path(os.fspath(path)).name.rsplit(".", 1)[0] + ".npz")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(destination.name + ".partial")
        with open(partial, "wb") as file:
            np.savez(file, predictions=predictions)
        os.replace(partial, destination)
    except OSError as error:
        sys.exit(f"predict: cannot write {destination}: {error.strerror or error}")
    print(f"predict: {len(predictions)} rows of {os.fspath(path)} -> {destination}")
    return destination
