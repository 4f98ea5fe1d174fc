"""Checkpoint directories: ``<run>/checkpoints/step-000123/`` with ``model.safetensors``,
``optimizer.safetensors`` and ``manifest.json``; a ``last`` symlink updated atomically;
top-k retention by a monitored metric. The checkpoint ``filename`` pattern renames the
folders (``{epoch}-{step}-{val/loss:.3f}``, :func:`checkpoint_name`); folders are ordered
and pruned by the step their manifest records, whatever their name.

A checkpoint is written to a temporary directory (every file fsynced) and renamed into
place, then ``last`` is re-pointed with ``os.replace`` on a fresh symlink: a process killed
at any moment leaves ``last`` pointing at a complete checkpoint. The manifest records the
sha256 of each array file (``checksums``); :func:`read_checkpoint` verifies them and raises
``DamagedCheckpoint`` naming what is wrong. An ``OSError`` while writing (disk full,
read-only) raises a ``RunError`` and leaves ``last`` where it was. Arrays are numpy
(``safetensors.numpy``), so a checkpoint written by one backend loads in every other.

``train.checkpoint.last = false`` (Lightning's ``save_last=False``): no ``last`` link is kept
(``write_checkpoint(..., last=False)``) and pruning keeps the top-k alone, not also the newest
(``prune_checkpoints(..., last=False)``); :func:`newest_checkpoint` (``--resume auto``,
``specc inspect`` / ``load_model`` of a run directory) then finds the newest complete
checkpoint by the step its manifest records.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load, save

from specc.runtime.parameters import is_buffer
from specc.runtime.training.distributed import is_main_process
from specc.runtime.training.failures import DamagedCheckpoint, NamedArrays, storage_failure
from specc.runtime.training.version import installed_version

CHECKPOINTS = "checkpoints"
LAST = "last"
MANIFEST = "manifest.json"
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
TEMPORARY_PREFIX = ".tmp-"
KEEP_ALL = "all"  # train.checkpoint.keep = all: no checkpoint is pruned


def step_directory_name(step: int) -> str:
    return f"step-{int(step):06d}"


def pattern_fields(pattern: str) -> list[tuple[str, str]]:
    """``(field, format_spec)`` of every replacement field of ``pattern``, in order."""
    return [(name, spec or "") for _, name, spec, _ in string.Formatter().parse(pattern) if name is not None]


def checkpoint_name(pattern: str | None, step: int, epoch: int, metrics: dict | None = None) -> str:
    """The folder name of a checkpoint: ``step-000123`` without a pattern, else ``pattern``
    formatted with ``step``, ``epoch`` and the latest metrics (``val/loss``, also spelt
    ``val_loss``). As in Lightning, a metric not logged yet formats as 0 and no
    ``name=`` is inserted: ``"{epoch}-{step}-{val/loss:.3f}"`` gives ``"2-300-0.412"``."""
    if not pattern:
        return step_directory_name(step)
    values: dict = {"step": int(step), "epoch": int(epoch)}
    for name, value in (metrics or {}).items():
        values[name] = float(value)
        values[name.replace("/", "_")] = float(value)
    for field, _ in pattern_fields(pattern):
        values.setdefault(field, 0.0)
    name = pattern.format_map(values)
    if not name or "/" in name or name.startswith(".") or name == LAST:
        raise ValueError(f"checkpoint filename {pattern!r} gives the folder name {name!r}, which cannot be used")
    return name


def trained_epoch(manifest: dict) -> int:
    """The epoch of the last batch trained, which a checkpoint's ``{epoch}`` names (0-indexed,
    as Lightning's ``current_epoch``): the manifest's ``epoch`` is the data stream's next
    batch's, one more at the end of an epoch (``batch_index`` 0)."""
    epoch = int(manifest.get("epoch") or 0)
    data = manifest.get("data") or {}
    return epoch - 1 if epoch > 0 and data.get("batch_index") == 0 else epoch


@dataclass
class Checkpoint:
    """A loaded checkpoint: canonical model arrays, flattened optimizer state, manifest."""

    path: Path
    model: dict[str, np.ndarray]
    optimizer: dict[str, np.ndarray]
    manifest: dict

    @property
    def step(self) -> int:
        return int(self.manifest["step"])


def _contiguous(arrays: dict) -> dict[str, np.ndarray]:
    return {str(name): np.asarray(value, order="C") for name, value in sorted(arrays.items())}


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def save_file(arrays: dict, path) -> str:
    """Write ``arrays`` as a safetensors file, fsynced; return its sha256 (hex)."""
    data = save(arrays)
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return hashlib.sha256(data).hexdigest()


def file_digest(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checkpoint(
    run_dir,
    step: int,
    model: dict,
    optimizer: dict,
    manifest: dict,
    filename: str | None = None,
    last: bool = True,
    folder: str = CHECKPOINTS,
) -> Path:
    """Write ``checkpoints/step-<step>/`` (or the folder ``filename`` names, formatted with
    the manifest's ``epoch`` and ``metrics``) atomically and point ``last`` at it (unless
    ``last`` is False: the caller points it later with :func:`point_last`). ``folder``: the
    checkpoints' folder under ``run_dir`` (Lightning's ``SpeccCheckpointIO`` passes the
    parent and the name of its ``dirpath``).

    ``manifest`` gets ``step``, ``specc_version``, ``parameter_names`` (every array of
    ``model``), ``buffer_names`` (those of them that are buffers, ``parameters.is_buffer``)
    and ``checksums`` (sha256 of each array file) filled in. An ``OSError`` (disk full, read-only) removes
    the partial folder, leaves ``last`` where it was and raises a ``RunError`` saying so.
    In a data-parallel run only the main process writes (the state is replicated).
    """
    root = Path(run_dir) / folder
    name = checkpoint_name(filename, step, trained_epoch(manifest), manifest.get("metrics"))
    if not is_main_process():
        return root / name
    temporary = root / f"{TEMPORARY_PREFIX}{name}-{os.getpid()}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        final = _write_folder(root, temporary, name, step, model, optimizer, manifest)
        if last:
            point_last(root, name)
    except OSError as error:
        shutil.rmtree(temporary, ignore_errors=True)
        previous = latest_checkpoint(run_dir, folder)
        kept = f"the last complete checkpoint is {str(previous)!r}" if previous else "no checkpoint was written"
        raise storage_failure(error, f"writing checkpoint {str(root / name)!r}", kept) from error
    return final


def _write_folder(root: Path, temporary: Path, name: str, step: int, model: dict, optimizer: dict, manifest: dict) -> Path:
    if temporary.exists():
        shutil.rmtree(temporary)
    temporary.mkdir()
    model_arrays = _contiguous(model)
    checksums = {
        MODEL_FILE: save_file(model_arrays, str(temporary / MODEL_FILE)),
        OPTIMIZER_FILE: save_file(_contiguous(optimizer), str(temporary / OPTIMIZER_FILE)),
    }
    full_manifest = dict(manifest)
    full_manifest.update(
        step=int(step), specc_version=installed_version(), parameter_names=sorted(model_arrays), checksums=checksums
    )
    full_manifest["buffer_names"] = sorted(name for name in model_arrays if is_buffer(name))  # not trained
    with open(temporary / MANIFEST, "w", encoding="utf-8") as handle:
        json.dump(full_manifest, handle, indent=2, sort_keys=True, default=_json_default)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    _fsync_directory(temporary)
    final = root / name
    if final.exists():
        trash = root / f"{TEMPORARY_PREFIX}old-{name}-{os.getpid()}"
        os.replace(final, trash)
        os.replace(temporary, final)
        shutil.rmtree(trash)
    else:
        os.replace(temporary, final)
    return final


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"manifest value of type {type(value).__name__} is not JSON")


def point_last(root: Path, name: str) -> None:
    """Re-point ``root/last`` at ``name`` atomically (a new symlink renamed over the old)."""
    replace_symlink(root / LAST, name)


def replace_symlink(link: Path, target: str) -> None:
    """Point the symbolic link ``link`` at ``target`` atomically: a new link renamed over
    the old one (its folder fsynced)."""
    temporary = link.parent / f"{TEMPORARY_PREFIX}{link.name}-{os.getpid()}"
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    os.symlink(target, temporary)
    os.replace(temporary, link)
    _fsync_directory(link.parent)


def read_manifest(directory) -> dict:
    """The manifest of a checkpoint folder; ``DamagedCheckpoint`` when it is missing, not
    JSON (truncated) or has no integer ``step``."""
    path = Path(directory) / MANIFEST
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except FileNotFoundError as error:
        raise DamagedCheckpoint(f"checkpoint {str(directory)!r} has no {MANIFEST}; it is incomplete") from error
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise DamagedCheckpoint(
            f"checkpoint {str(directory)!r}: {MANIFEST} is not readable JSON (truncated or overwritten: {error})"
        ) from error
    if not isinstance(manifest, dict) or not isinstance(manifest.get("step"), int):
        raise DamagedCheckpoint(f"checkpoint {str(directory)!r}: {MANIFEST} has no integer \"step\"; it is damaged")
    return manifest


def _read_arrays(directory: Path, file_name: str, manifest: dict) -> dict[str, np.ndarray]:
    path = directory / file_name
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise DamagedCheckpoint(f"checkpoint {str(directory)!r} has no {file_name}; it is incomplete") from error
    except OSError as error:
        raise DamagedCheckpoint(f"checkpoint {str(directory)!r}: {file_name} cannot be read ({error})") from error
    expected = (manifest.get("checksums") or {}).get(file_name)
    if expected is not None and hashlib.sha256(data).hexdigest() != expected:
        raise DamagedCheckpoint(
            f"checkpoint {str(directory)!r}: {file_name} does not match the sha256 in {MANIFEST} "
            f"({len(data)} bytes; truncated or overwritten)"
        )
    try:
        return load(data)
    except Exception as error:  # safetensors raises its own error types for a bad header
        raise DamagedCheckpoint(
            f"checkpoint {str(directory)!r}: {file_name} is not a readable safetensors file ({error})"
        ) from error


def read_checkpoint(path) -> Checkpoint:
    """Load and verify a checkpoint directory (or the ``last`` link): every file present,
    the manifest readable, each array file matching its sha256. ``DamagedCheckpoint`` (a
    ``ValueError``) names the checkpoint and what is wrong."""
    directory = Path(path)
    if not directory.is_dir():
        raise DamagedCheckpoint(f"checkpoint {str(path)!r} is not a directory")
    manifest = read_manifest(directory)
    model = NamedArrays(_read_arrays(directory, MODEL_FILE, manifest), str(path))
    optimizer = NamedArrays(_read_arrays(directory, OPTIMIZER_FILE, manifest), str(path))
    return Checkpoint(path=directory.resolve(), model=model, optimizer=optimizer, manifest=manifest)


def latest_checkpoint(run_dir, folder: str = CHECKPOINTS) -> Path | None:
    """The directory ``last`` points at, or None when the run has no complete checkpoint."""
    last = Path(run_dir) / folder / LAST
    if last.is_symlink() and last.resolve().is_dir() and (last.resolve() / MANIFEST).is_file():
        return last.resolve()
    return None


def newest_checkpoint(run_dir, folder: str = CHECKPOINTS) -> Path | None:
    """The directory ``last`` points at; without a ``last`` link (``checkpoint.last =
    false``) the complete checkpoint whose manifest records the highest step; None when the
    run has none."""
    latest = latest_checkpoint(run_dir, folder)
    if latest is not None or (Path(run_dir) / folder / LAST).is_symlink():
        return latest
    found = list_checkpoints(run_dir, folder)
    return found[-1].resolve() if found else None


def manifest_step(directory: Path) -> int | None:
    """The step a checkpoint folder's manifest records; None when it is unreadable."""
    try:
        return int(read_manifest(directory)["step"])
    except DamagedCheckpoint:
        return None


def checkpoint_directories(run_dir, folder: str = CHECKPOINTS) -> list[Path]:
    """Every checkpoint folder, complete or damaged (any name but ``last`` and ``.tmp-*``)."""
    root = Path(run_dir) / folder
    if not root.is_dir():
        return []
    return sorted(
        path
        for path in root.iterdir()
        if not path.name.startswith(TEMPORARY_PREFIX) and not path.is_symlink() and path.is_dir()
    )


def list_checkpoints(run_dir, folder: str = CHECKPOINTS) -> list[Path]:
    """Checkpoint folders whose manifest is readable, oldest step first."""
    found = [(manifest_step(path), path) for path in checkpoint_directories(run_dir, folder)]
    return [path for step, path in sorted(item for item in found if item[0] is not None)]


def checkpoint_at_step(run_dir, step: int, folder: str = CHECKPOINTS) -> Path | None:
    """The complete checkpoint directory of ``step`` (whatever its name), or None."""
    for path in list_checkpoints(run_dir, folder):
        if manifest_step(path) == int(step):
            return path
    return None


def remove_temporaries(run_dir) -> None:
    """Delete what a killed writer left behind (``.tmp-*``)."""
    root = Path(run_dir) / CHECKPOINTS
    if root.is_dir():
        for path in root.iterdir():
            if path.name.startswith(TEMPORARY_PREFIX):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()


def monitored_value(manifest: dict, monitor: str | None):
    value = (manifest.get("metrics") or {}).get(monitor) if monitor else None
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


def retained(entries: list[tuple[int, float | None]], keep: int | str, mode: str, newest: bool = True) -> set[int]:
    """Steps to keep: the ``keep`` best by value (ties keep the older; missing values rank
    last) plus the newest (unless ``newest`` is False: ``checkpoint.last = false``); every
    step when ``keep`` is ``"all"``. ``entries``: ``(step, value)``; value None without a
    monitor means "keep the newest ``keep``"."""
    if not entries:
        return set()
    if keep == KEEP_ALL:
        return {step for step, _ in entries}
    latest = max(step for step, _ in entries)
    if all(value is None for _, value in entries):
        ranked = sorted((step for step, _ in entries), reverse=True)
    else:
        sign = 1.0 if mode == "min" else -1.0

        def rank(item):
            step, value = item
            return (value is None, sign * value if value is not None else 0.0, step)

        ranked = [step for step, _ in sorted(entries, key=rank)]
    return set(ranked[: max(0, int(keep))]) | ({latest} if newest else set())


def prune_checkpoints(run_dir, keep: int | str, monitor: str | None, mode: str, last: bool = True) -> list[Path]:
    """Delete checkpoints outside top-``keep`` by ``monitor`` (plus the newest and the one
    ``last`` points at; with ``last`` False, ``checkpoint.last = false``, the top-``keep``
    alone); return the kept. ``keep = "all"`` deletes none and reads no manifest (every
    folder is returned). Only the main process of a data-parallel run deletes."""
    if keep == KEEP_ALL:
        return checkpoint_directories(run_dir)
    directories = list_checkpoints(run_dir)
    if not is_main_process():
        return directories
    entries = []
    for directory in directories:
        manifest = read_manifest(directory)
        entries.append((int(manifest["step"]), monitored_value(manifest, monitor)))
    keep_steps = retained(entries, keep, mode, newest=last)
    pointed = latest_checkpoint(run_dir)
    kept = []
    for directory, (step, _) in zip(directories, entries):
        if step in keep_steps or (pointed is not None and directory.resolve() == pointed):
            kept.append(directory)
        else:
            shutil.rmtree(directory)
    return kept
