"""Seed 004's data options, checked at lint (E0560-E0562):

- E0560, ``fake = true`` on a source that reads no files (``ksin``, ``digits``, the synthetic
  ones): it generates its own data already, so the key would have no effect;
- E0561, a transform's ``field`` that names no float field of the data, and
  ``normalize(statistics = ...)`` without ``field`` (saved statistics describe one field);
- E0562, the statistics file of ``normalize(statistics = "stats.npz")`` read at lint: an
  ``.npz`` whose arrays ``mean`` and ``var`` are numbers of one shape that fits the field
  (its per-example shape, its last axis, or single values). Only the arrays' headers are
  read (``numpy.lib.format``), never their data and never a pickle; a file absent at lint is
  warning E0527 (``data_paths``), and the script checks it again when it starts.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np

from specc.compiler.check.cross_field import Facts
from specc.compiler.check.data_paths import spec_relative_reader
from specc.dsl.diagnostics import printable
from specc.dsl.source import Unreadable
from specc.runtime.checks import format_shape

# as specc.runtime.data.fake.FILE_SOURCES and transforms.STATISTICS_ARRAYS (the runtime's data
# package imports scipy: the checker does not load it; tests/data/test_data_options.py pins them)
FILE_SOURCES = ("npz", "npy", "hdf5", "wav_folder", "token_stream", "python")
STATISTICS_ARRAYS = ("mean", "var")
READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, Unreadable)
STATISTICS_HELP = "save them with numpy.savez(path, mean = ..., var = ...) of the field's shape or of its last axis"


def check_fake(facts: Facts) -> None:
    """E0560: ``fake`` on a source that reads no files."""
    kind = facts.value("data", "component")
    if facts.value("data", "fake") and kind is not None and kind not in FILE_SOURCES:
        facts.error(
            "E0560",
            f"`fake` has no effect: `{kind}` reads no files (it generates or bundles its data)",
            facts.span("data", "fake"),
            f"remove `fake`: it serves random examples in place of a file source's ({', '.join(FILE_SOURCES)})",
        )


def check_transforms(facts: Facts, fields: dict | None, read) -> None:
    """E0561 and E0562 on every data transform (module docstring)."""
    transforms = facts.value("data", "transforms")
    if not isinstance(transforms, list) or fields is None:
        return
    for index, transform in enumerate(transforms):
        if not isinstance(transform, dict):
            continue
        kind, field = transform.get("kind"), transform.get("field")
        where = ("transforms", index, kind)
        if field is not None and not _float_field(fields, field):
            floats = ", ".join(name for name in fields if fields[name].dtype == "f32") or "none"
            facts.error(
                "E0561",
                f"{kind}: `field` names `{printable(field)}`, which is no float field of the data",
                facts.span("data", *where, "field"),
                f"float fields: {floats}",
            )
            continue
        statistics = transform.get("statistics")
        if statistics is None:
            continue
        if field is None:
            facts.error(
                "E0561",
                f"{kind}: `statistics` describe one field, and `field` is not given",
                facts.span("data", *where, "statistics"),
                f"name the field they describe: {kind}(field = \"x\", statistics = ...)",
            )
            continue
        reader = spec_relative_reader(facts, read, "data", *where, "statistics")
        problem = statistics_problem(statistics, reader, tuple(fields[field].shape), field)
        if problem is not None:
            facts.error("E0562", problem, facts.span("data", *where, "statistics"), STATISTICS_HELP)


def statistics_shape_fits(shape, example_shape) -> bool:
    """As ``specc.runtime.data.transforms.statistics_shape_fits``: the example's shape, its
    last axis, or a single value."""
    shape, example_shape = tuple(shape), tuple(example_shape)
    return shape in ((), example_shape) or (len(example_shape) > 0 and shape == example_shape[-1:])


def _float_field(fields: dict, name: str) -> bool:
    return name in fields and fields[name].dtype == "f32"


def statistics_problem(path: str, read, field_shape: tuple, field: str) -> str | None:
    """What is wrong with the statistics file at ``path`` for a field of ``field_shape``,
    or None (fine, or absent or unreadable here: E0527 and the script's own check)."""
    shown = f"`{printable(path)}`"
    headers, problem = npz_headers(read, path, "statistics")
    if headers is None:
        return problem
    missing = [name for name in STATISTICS_ARRAYS if name not in headers]
    if missing:
        found = ", ".join(sorted(headers)) or "none"
        return f"{shown} has no array `{missing[0]}` (arrays: {found}); statistics are arrays mean and var"
    shapes = {}
    for name in STATISTICS_ARRAYS:
        shape, dtype = headers[name]
        if dtype.kind not in "fiu":
            what = "Python objects (a pickle, which specc does not load)" if dtype.kind == "O" else f"dtype {dtype}"
            return f"{shown}: array `{name}` holds {what}; statistics are numbers"
        shapes[name] = shape
    if shapes["mean"] != shapes["var"]:
        return f"{shown}: mean has shape {format_shape(shapes['mean'])} but var has {format_shape(shapes['var'])}"
    if not statistics_shape_fits(shapes["mean"], field_shape):
        expected = format_shape(field_shape) + (f" or {format_shape(field_shape[-1:])}" if len(field_shape) > 1 else "")
        return (
            f"{shown} holds statistics of shape {format_shape(shapes['mean'])}, but field `{field}` is "
            f"f32{format_shape(field_shape)} per example (expected {expected}, or single values)"
        )
    return None


def npz_headers(read, path: str, role: str) -> tuple[dict | None, str | None]:
    """(the array headers of the ``.npz`` at ``path``, None), or (None, what is wrong with it
    as ``role``), or (None, None) when it is absent or unreadable here (E0527 and the
    script's own check say so)."""
    try:
        data = read(path)
    except READ_ERRORS:
        return None, None
    try:
        return array_headers(data), None
    except ValueError as error:
        return None, f"`{printable(path)}` cannot serve as {role}: {error}"


def array_headers(data: bytes) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """``{name: (shape, dtype)}`` of the arrays of an ``.npz`` held in ``data``, from their
    ``.npy`` headers alone; ``ValueError`` with the reason for anything else."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise ValueError("it is not an .npz archive (a zip of .npy arrays, as numpy.savez writes)") from None
    headers = {}
    with archive:
        for member in archive.namelist():
            if not member.endswith(".npy"):
                continue
            try:
                with archive.open(member) as stream:
                    version = np.lib.format.read_magic(stream)
                    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                    shape, _, dtype = reader(stream)
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
                raise ValueError(f"array `{member[:-4]}` is damaged ({error})") from None
            headers[member[:-4]] = (tuple(int(size) for size in shape), np.dtype(dtype))
    return headers
