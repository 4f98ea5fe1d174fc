"""Data file paths are relative to the spec file that writes them, like imports.

A data source's ``path`` (``npz``, ``npy``, ``hdf5``, ``wav_folder``, ``token_stream``), its
``codebooks`` and ``meta``, the ``codebook`` / ``centers`` files of the expected-value loss
terms and the ``statistics`` of a ``normalize`` transform are read by the generated script.
A relative one is joined to the folder of the file that writes it (the ``--set`` command
line: the current folder); ``base`` (the CLI passes the current folder) makes the result
absolute, so the script opens the same file from any folder. An absolute path is kept as
written. ``train.warm_start`` is not a data file: like ``--out-dir`` and run directories it
stays relative to the folder the script runs in.

When the caller can tell whether a path exists (``exists``, the CLI's ``os.path.exists``), a
data file that does not exist is warning E0527 at the value: the file may be made before
the run, so compiling still succeeds (``specc lint --strict`` fails on it).

Pure apart from ``exists``.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Callable

from specc.dsl.diagnostics import Diagnostic, printable
from specc.compiler.check.external_names import string_entries

if TYPE_CHECKING:
    from specc.compiler.check.cross_field import Facts

# (section or component kind, key) of the data files a script reads
DATA_FILES = frozenset(
    {
        ("data", "path"),
        ("data", "predict"),
        ("data", "codebooks"),
        ("data", "meta"),
        ("expected_codebook", "codebook"),
        ("expected_scalar", "centers"),
        ("python", "file"),
        ("normalize", "statistics"),
    }
)
COMMAND_LINE = "--set"  # the span file of a value given with --set


def resolve_data_paths(facts: Facts, base: str | None = None, exists: Callable[[str], bool] | None = None) -> None:
    """Rewrite every relative data file path in the validated values (module docstring) and,
    with ``exists``, warn (E0527) about each one that does not exist (not the source's
    files when the data is ``fake``: the script does not open them)."""
    fake = bool(facts.value("data", "fake"))
    for key, checked in facts.checked.sections.items():
        resolved = facts.resolution.sections.get(key)
        kind = resolved.kind if resolved is not None else key
        top = {kind, checked.values.get("component")}
        for container, name, owner, location in string_entries(checked.values, kind):
            owners = top if len(location) == 1 else {owner}
            if not any((item, name) in DATA_FILES for item in owners) or not container[name]:
                continue
            span = facts.span(key, *location)
            written, folder = container[name], _folder(span.file, facts.resolution.root_file)
            container[name] = located(written, folder, base)
            unread = fake and key == "data" and len(location) == 1 and name != "predict"  # fake data: the source's own files
            if exists is not None and "python" not in owners and not unread and not exists(container[name]):  # python: E0530
                facts.diagnostics.append(_missing(name, written, located(written, folder, None), span))


def spec_relative_reader(facts: Facts, read: Callable[[str], bytes], key: str, *location) -> Callable[[str], bytes]:
    """``read`` for a file the spec names at ``key.location`` (``data.meta``), as written:
    the path is read from the folder of the spec file writing it (messages keep the text as
    written, so a check reading the file runs before :func:`resolve_data_paths`)."""
    folder = _folder(facts.span(key, *location).file, facts.resolution.root_file)

    def read_relative(path: str) -> bytes:
        return read(located(path, folder, None))

    return read_relative


def located(path: str, folder: str, base: str | None) -> str:
    """``path`` (as written) as the script opens it: absolute paths unchanged, relative ones
    joined to ``folder`` (the writing file's folder) and ``base``."""
    if posixpath.isabs(path) or _is_windows_absolute(path):
        return path
    joined = posixpath.join(base or "", folder, path)
    return posixpath.normpath(joined) if joined else path


def _folder(file: str, root_file: str) -> str:
    """The folder relative paths of a value written in ``file`` start from."""
    if file == COMMAND_LINE:
        return ""
    if file.startswith("<") or not file:  # the standard library (<std>/x.mf): the spec's folder
        file = root_file if not root_file.startswith("<") else ""
    return posixpath.dirname(file)


def _is_windows_absolute(path: str) -> bool:
    return len(path) > 2 and path[1] == ":" and path[2] in "/\\"


def _missing(key: str, written: str, opened: str, span) -> Diagnostic:
    where = "" if written == opened else f" (the script opens `{printable(opened)}`)"
    return Diagnostic(
        "E0527",
        f"`{key}` names `{printable(written)}`, which does not exist{where}",
        span,
        severity="warning",
        help="create the file before running the script, or fix the path: a relative path starts at the "
        "folder of the spec file that writes it, like an import",
    )

