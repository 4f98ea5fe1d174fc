"""The ``specc`` command line: the entry point ``main()`` and the lint and fmt commands.

``main()`` runs the typer application (``specc.compiler.cli.app``: every command, ``--help``,
error messages); ``run_lint`` and ``run_fmt`` are the bodies of its ``lint`` and ``fmt``
commands. A hand-written fast path for lint and fmt that skipped typer saved about 35 ms of
CPU of a cold lint (0.306 against 0.341 s, docs/performance.md) and was removed: one parser,
one set of messages.

Heavy modules (pydantic, jinja2, black, frameworks) are imported inside the commands that
need them, so ``specc lint`` starts fast.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path

from specc.compiler.backends import BACKEND_NAMES as BACKENDS  # the one list of backends
from specc.compiler.backends import suggested_backend
from specc.dsl.source import MAX_FILE_BYTES, Unreadable

SET_HELP = "Override a value: --set train.max_steps=100 --set k=8 (the value is a spec expression)."
LINT_BACKEND_HELP = (
    "Run exactly the checks `specc compile --backend NAME` runs (capabilities, refusals). "
    "Without it: what every backend shares, with each backend's refusals as warnings."
)

def read(path: str) -> bytes:
    """The only way the checker reads files: a regular file (symbolic links followed) of at
    most ``MAX_FILE_BYTES``. Anything else raises what ``load_program`` turns into a
    diagnostic: ``Unreadable`` for a named pipe, a device, a socket (which could block or
    never end) or a file too large, ``OSError`` for the rest. The file is opened without
    blocking and read up to the limit, so a file swapped for a pipe or growing after the
    check cannot hang the reader or fill the memory."""
    if "\0" in path:
        raise Unreadable("E0205", "the path holds a NUL character")
    status = os.stat(path)
    if stat.S_ISDIR(status.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    _refuse_special(status)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    descriptor = os.open(path, flags)
    try:
        _refuse_special(os.fstat(descriptor))
        chunks, size = [], 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(descriptor, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(descriptor)
    if size > MAX_FILE_BYTES:
        raise _too_large()
    return b"".join(chunks)


_SPECIAL_FILES = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _refuse_special(status: os.stat_result) -> None:
    if not stat.S_ISREG(status.st_mode):
        kind = next((name for test, name in _SPECIAL_FILES if test(status.st_mode)), "a special file")
        help = "a spec is a regular file (a symbolic link to one is followed)"
        raise Unreadable("E0208", f"it is {kind}, not a regular file", help)
    if status.st_size > MAX_FILE_BYTES:
        raise _too_large()


def _too_large() -> Unreadable:
    return Unreadable(
        "E0209",
        f"it is larger than {MAX_FILE_BYTES // 2**20} MiB, the most a spec file may hold",
        "split it into several files that import each other",
    )


def say(text: str) -> None:
    """One line to stderr, flushed (what ``typer.echo(text, err=True)`` writes)."""
    write(sys.stderr, text + "\n")
    sys.stderr.flush()


def write(stream, text: str) -> None:
    """``stream.write(text)``; a character the stream cannot encode (a lone surrogate: a
    command-line argument or a file name that was not UTF-8) is written as a backslash
    escape instead of ending the command with a UnicodeEncodeError."""
    try:
        stream.write(text)
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "utf-8"
        stream.write(text.encode(encoding, "backslashreplace").decode(encoding))


def file_access() -> dict:
    """What ``pipeline.check`` may learn from the filesystem besides ``read``: the current
    folder (relative data paths become absolute in the script) and whether a data file exists."""
    return {"base": os.getcwd(), "exists": os.path.exists}


def unknown_backend(name: str) -> str:
    """The error line for ``--backend NAME`` naming no backend, with the backend a framework
    name means (``torch`` -> ``lightning``)."""
    suggestion = suggested_backend(name)
    hint = f"; did you mean `{suggestion}`?" if suggestion else ""
    return f"error: unknown backend `{name}` (choose one of {', '.join(BACKENDS)}){hint}"


def spec_files(paths: list[str]) -> tuple[list[str], list[str]]:
    """(files, missing): folders walked for *.mf in sorted order."""
    files, missing = [], []
    for path in paths:
        target = Path(path)
        if target.is_dir():
            files += sorted(str(found) for found in target.rglob("*.mf") if found.is_file())
        elif target.exists():
            files.append(path)
        else:
            missing.append(path)
    return files, missing


def run_lint(paths: list[str], output_format: str, strict: bool, set_: list[str], backend: str | None = None) -> int:
    """``specc lint``: diagnostics to stdout in ``output_format``; returns the exit status.

    With ``backend``, exactly the checks ``specc compile --backend`` runs; without, the
    checks every backend shares plus each backend's refusals as warnings (errors when every
    backend refuses)."""
    from specc.dsl.diagnostics import sort_diagnostics
    from specc.compiler.cli.formats import FORMATTERS
    from specc.compiler.pipeline import check

    if output_format not in FORMATTERS:
        say(f"error: unknown format `{output_format}` (choose one of {', '.join(FORMATTERS)})")
        return 2
    if backend is not None and backend not in BACKENDS:
        say(unknown_backend(backend))
        return 2
    files, missing = spec_files(paths)
    diagnostics = []
    sources: dict[str, str] = {}
    for file in files + missing:  # a missing path gets the loader's own diagnostic
        result = check(
            file, read, tuple(set_), backend, library_ok=True, backend_warnings=backend is None, **file_access()
        )
        diagnostics += result.diagnostics
        sources.update(result.sources)
    diagnostics = sort_diagnostics(diagnostics)
    write(sys.stdout, FORMATTERS[output_format](diagnostics, sources))
    failing = [d for d in diagnostics if d.severity == "error" or strict]
    sys.stdout.flush()
    if output_format == "text":
        summary = (
            f"{len(files)} file(s) checked, {len(failing)} problem(s)"
            if diagnostics
            else f"{len(files)} file(s) checked, no problems"
        )
        warnings = sum(1 for d in diagnostics if d.severity == "warning")
        if warnings and not strict:
            summary += f", {warnings} warning(s) (--strict fails on them)"
        say(summary)
    return 1 if failing else 0


def run_fmt(paths: list[str], check_only: bool) -> int:
    """``specc fmt``: rewrite (or with ``check_only`` only report) files not in canonical
    style; returns the exit status."""
    from specc.dsl.diagnostics import printable, render_all
    from specc.dsl.formatter import format_source
    from specc.dsl.imports import read_file
    from specc.dsl.source import decode

    files, missing = spec_files(paths)
    status = 0
    for path in missing:
        say(f"error: no such file or folder: {printable(path)}")
        status = 1
    for file in files:
        data, diagnostics = read_file(file, read)
        text = formatted = None
        if data is not None:
            text, diagnostics = decode(data, file)
        if text is not None:
            formatted, diagnostics = format_source(text, file)
        if formatted is None:
            shown = text if text is not None else (data or b"").decode("utf-8", "replace")
            write(sys.stderr, render_all(diagnostics, {file: shown} if data is not None else {}))
            status = 1
            continue
        if formatted != text:
            if check_only:
                say(f"would reformat {printable(file)}")
                status = 1
                continue
            try:
                Path(file).write_text(formatted, encoding="utf-8")
            except OSError as error:
                say(f"error: cannot write {printable(file)}: {error.strerror or error}")
                status = 1
                continue
            say(f"reformatted {printable(file)}")
    return status


def main() -> None:
    """The ``specc`` console script: the typer application (``specc.compiler.cli.app``)."""
    from specc.compiler.cli.app import app

    app()


def __getattr__(name: str):
    """``specc.compiler.cli.main.app`` (the typer application), imported on first use."""
    if name == "app":
        from specc.compiler.cli.app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    main()
