"""The ``specc`` command line: the entry point ``main()`` and the lint and fmt commands.

The typer application (``app``: every command, ``--help``, error messages) lives in
``specc.compiler.cli.app`` and is imported only when needed. ``main()`` first tries a fast
path for the commands a user runs most, ``specc lint`` and ``specc fmt``: when the command
line is a plain, well-formed one (the options below, no ``--help``), it runs the very same
command function without importing typer (typer, click, rich and the pydantic adapters
typer builds for its options are about a tenth of a cold lint; docs/performance.md).
Anything else, including every malformed command line, goes to typer, so help and error
messages are typer's own.

Heavy modules (pydantic, jinja2, black, frameworks) are imported inside the commands that
need them, so ``specc lint`` starts fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from specc.compiler.backends import BACKEND_NAMES as BACKENDS  # the one list of backends

SET_HELP = "Override a value: --set train.max_steps=100 --set k=8 (the value is a spec expression)."
LINT_BACKEND_HELP = (
    "Run exactly the checks `specc compile --backend NAME` runs (capabilities, refusals). "
    "Without it: what every backend shares, with each backend's refusals as warnings."
)

# fast-path options per command: option spelling -> (parameter, takes a value, repeatable)
FAST_OPTIONS = {
    "lint": {
        "--format": ("output_format", True, False),
        "-f": ("output_format", True, False),
        "--strict": ("strict", False, False),
        "--set": ("set_", True, True),
        "--backend": ("backend", True, False),
        "-b": ("backend", True, False),
    },
    "fmt": {"--check": ("check_only", False, False)},
}
FAST_DEFAULTS = {
    "lint": {"output_format": "text", "strict": False, "set_": [], "backend": None},
    "fmt": {"check_only": False},
}


def read(path: str) -> bytes:
    """The only way the checker reads files (directories and missing files raise OSError)."""
    return Path(path).read_bytes()


def say(text: str) -> None:
    """One line to stderr, flushed (what ``typer.echo(text, err=True)`` writes)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


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
        say(f"error: unknown backend `{backend}` (choose one of {', '.join(BACKENDS)})")
        return 2
    files, missing = spec_files(paths)
    diagnostics = []
    sources: dict[str, str] = {}
    for file in files + missing:  # a missing path gets the loader's own diagnostic
        result = check(file, read, tuple(set_), backend, library_ok=True, backend_warnings=backend is None)
        diagnostics += result.diagnostics
        sources.update(result.sources)
    diagnostics = sort_diagnostics(diagnostics)
    sys.stdout.write(FORMATTERS[output_format](diagnostics, sources))
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
    from specc.dsl.diagnostics import render_all
    from specc.dsl.formatter import format_source
    from specc.dsl.source import decode

    files, missing = spec_files(paths)
    status = 0
    for path in missing:
        say(f"error: no such file or folder: {path}")
        status = 1
    for file in files:
        text, diagnostics = decode(read(file), file)
        formatted = None
        if text is not None:
            formatted, diagnostics = format_source(text, file)
        if formatted is None:
            sys.stderr.write(render_all(diagnostics, {file: text or ""}))
            status = 1
            continue
        if formatted != text:
            if check_only:
                say(f"would reformat {file}")
                status = 1
            else:
                Path(file).write_text(formatted, encoding="utf-8")
                say(f"reformatted {file}")
    return status


def fast_arguments(arguments: list[str]) -> tuple[str, dict] | None:
    """(command, keyword arguments) when ``arguments`` is a plain ``lint`` or ``fmt`` command
    line that typer would parse the same way; None for anything else (typer handles it).

    Accepted: paths, ``--option VALUE``, ``--option=VALUE``, ``-f VALUE``, flags, ``--``.
    Refused: ``--help``, unknown options, a missing value or one starting with ``-``,
    a repeated single-valued option, no path at all."""
    if not arguments or arguments[0] not in FAST_OPTIONS:
        return None
    command, options = arguments[0], FAST_OPTIONS[arguments[0]]
    values = {key: (list(value) if isinstance(value, list) else value) for key, value in FAST_DEFAULTS[command].items()}
    paths, seen, rest, only_paths = [], set(), list(arguments[1:]), False
    while rest:
        token = rest.pop(0)
        if only_paths or not token.startswith("-") or token == "-":
            paths.append(token)
            continue
        if token == "--":
            only_paths = True
            continue
        name, equals, inline = token.partition("=")
        if name not in options:
            return None
        parameter, takes_value, repeatable = options[name]
        if parameter in seen and not repeatable:
            return None
        seen.add(parameter)
        if not takes_value:
            if equals:
                return None
            values[parameter] = True
            continue
        if not equals:
            if not rest or rest[0].startswith("-"):
                return None
            inline = rest.pop(0)
        elif name in ("-f", "-b") or inline.startswith("-"):
            return None
        if repeatable:
            values[parameter].append(inline)
        else:
            values[parameter] = inline
    if not paths:
        return None
    return command, {"paths": paths, **values}


def _run_fast(command: str, keywords: dict) -> int:
    """Run a fast-path command as click's standalone mode would: Ctrl-C prints `Aborted!`
    and exits 1, a closed stdout pipe exits 1 quietly."""
    runner = run_lint if command == "lint" else run_fmt
    try:
        return runner(**keywords)
    except (EOFError, KeyboardInterrupt):
        sys.stderr.write("\nAborted!\n")
        return 1
    except BrokenPipeError:  # e.g. `specc lint specs/ | head`: drop what is left unwritten
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def main() -> None:
    """The ``specc`` console script."""
    fast = fast_arguments(sys.argv[1:])
    if fast is not None:
        # lark imports the optional `regex` package when it is installed (about 5% of a
        # cold lint) but uses it only for Lark(regex=True), which specc does not use; this
        # process runs nothing but lint or fmt, so lark is loaded here without it.
        if "lark" not in sys.modules:
            sys.modules.setdefault("regex", None)
        sys.exit(_run_fast(*fast))
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
