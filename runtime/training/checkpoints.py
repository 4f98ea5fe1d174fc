"""Checkpoint directories: ``<run>/checkpoints/step-000123/`` with ``model.safetensors``,
``optimizer.safetensors`` and ``manifest.json``; a ``last`` symlink updated atomically;
top-k retention by a monitored metric. The checkpoint ``filename`` pattern renames the
folders (``{epoch}-{step}-{val/loss:.3f}``, :func:`checkpoint_name`); folders are ordered
and pruned by the step their manifest records, whatever their name.

A checkpoint is written to a temporary directory and renamed into place, then ``last`` is
re-pointed with ``os.replace`` on a fresh symlink: a process killed at any moment leaves
``last`` pointing at a complete checkpoint. Arrays are numpy (``safetensors.numpy``), so a
checkpoint written by one backend loads in every other.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

import specc

CHECKPOINTS = "checkpoints"
LAST = "last"
MANIFEST = "manifest.json"
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
TEMPORARY_PREFIX = ".tmp-"


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


def write_checkpoint(
    run_dir, step: int, model: dict, optimizer: dict, manifest: dict, filename: str | None = None
) -> Path:
    """Write ``checkpoints/step-<step>/`` (or the folder ``filename`` names, formatted with
    the manifest's ``epoch`` and ``metrics``) atomically and point ``last`` at it.

    ``manifest`` gets ``step``, ``specc_version`` and ``parameter_names`` filled in.
    """
    root = Path(run_dir) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    name = checkpoint_name(filename, step, manifest.get("epoch") or 0, manifest.get("metrics"))
    temporary = root / f"{TEMPORARY_PREFIX}{name}-{os.getpid()}"
    if temporary.exists():
        shutil.rmtree(temporary)
    temporary.mkdir()
    model_arrays = _contiguous(model)
    save_file(model_arrays, str(temporary / MODEL_FILE))
    save_file(_contiguous(optimizer), str(temporary / OPTIMIZER_FILE))
    full_manifest = dict(manifest)
    full_manifest.update(step=int(step), specc_version=specc.__version__, parameter_names=sorted(model_arrays))
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
    point_last(root, name)
    return final


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"manifest value of type {type(value).__name__} is not JSON")


def point_last(root: Path, name: str) -> None:
    """Re-point ``root/last`` at ``name`` atomically (a new symlink renamed over the old)."""
    temporary = root / f"{TEMPORARY_PREFIX}last-{os.getpid()}"
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    os.symlink(name, temporary)
    os.replace(temporary, root / LAST)
    _fsync_directory(root)


def read_checkpoint(path) -> Checkpoint:
    """Load a checkpoint directory (or the ``last`` link); ``ValueError`` naming what is missing."""
    directory = Path(path)
    if not directory.is_dir():
        raise ValueError(f"checkpoint {str(path)!r} is not a directory")
    for file_name in (MANIFEST, MODEL_FILE, OPTIMIZER_FILE):
        if not (directory / file_name).is_file():
            raise ValueError(f"checkpoint {str(path)!r} has no {file_name}; it is incomplete")
    with open(directory / MANIFEST, encoding="utf-8") as handle:
        manifest = json.load(handle)
    return Checkpoint(
        path=directory.resolve(),
        model=load_file(str(directory / MODEL_FILE)),
        optimizer=load_file(str(directory / OPTIMIZER_FILE)),
        manifest=manifest,
    )


def latest_checkpoint(run_dir) -> Path | None:
    """The directory ``last`` points at, or None when the run has no complete checkpoint."""
    last = Path(run_dir) / CHECKPOINTS / LAST
    if last.is_symlink() and last.resolve().is_dir() and (last.resolve() / MANIFEST).is_file():
        return last.resolve()
    return None


def manifest_step(directory: Path) -> int:
    with open(Path(directory) / MANIFEST, encoding="utf-8") as handle:
        return int(json.load(handle)["step"])


def list_checkpoints(run_dir) -> list[Path]:
    """Complete checkpoint directories (any name but ``last`` and ``.tmp-*``), oldest step first."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [
        path
        for path in root.iterdir()
        if not path.name.startswith(TEMPORARY_PREFIX) and not path.is_symlink() and (path / MANIFEST).is_file()
    ]
    return sorted(found, key=lambda path: (manifest_step(path), path.name))


def checkpoint_at_step(run_dir, step: int) -> Path | None:
    """The complete checkpoint directory of ``step`` (whatever its name), or None."""
    for path in list_checkpoints(run_dir):
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


def retained(entries: list[tuple[int, float | None]], keep: int, mode: str) -> set[int]:
    """Steps to keep: the ``keep`` best by value (ties keep the older; missing values rank
    last) plus the newest. ``entries``: ``(step, value)``; value None without a monitor
    means "keep the newest ``keep``"."""
    if not entries:
        return set()
    newest = max(step for step, _ in entries)
    if all(value is None for _, value in entries):
        ranked = sorted((step for step, _ in entries), reverse=True)
    else:
        sign = 1.0 if mode == "min" else -1.0

        def rank(item):
            step, value = item
            return (value is None, sign * value if value is not None else 0.0, step)

        ranked = [step for step, _ in sorted(entries, key=rank)]
    return set(ranked[: max(0, int(keep))]) | {newest}


def prune_checkpoints(run_dir, keep: int, monitor: str | None, mode: str) -> list[Path]:
    """Delete checkpoints outside top-``keep`` by ``monitor`` (plus last); return the kept."""
    directories = list_checkpoints(run_dir)
    entries = []
    for directory in directories:
        with open(directory / MANIFEST, encoding="utf-8") as handle:
            manifest = json.load(handle)
        entries.append((int(manifest["step"]), monitored_value(manifest, monitor)))
    keep_steps = retained(entries, keep, mode)
    last = latest_checkpoint(run_dir)
    kept = []
    for directory, (step, _) in zip(directories, entries):
        if step in keep_steps or (last is not None and directory.resolve() == last):
            kept.append(directory)
        else:
            shutil.rmtree(directory)
    return kept
