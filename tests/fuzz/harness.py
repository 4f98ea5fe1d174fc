"""What must hold for every input of the front end (``exercise(case)``).

For one :class:`~tests.fuzz.grammar.Case`, in-process and in this order:

1. ``specc lint`` (``run_lint``, the command function both CLI paths run) with the case's
   output format, ``--set`` overrides and ``--backend``: exit status 0, 1 or 2, and stdout
   plus stderr at most ``MAX_OUTPUT`` bytes (the input is at most 20 KB);
2. ``specc fmt --check`` (``run_fmt``): exit status 0 or 1, bounded output;
3. ``format_source``: when the text formats, formatting is idempotent, the formatted text
   parses to the same tree apart from spans, and linting it gives the same diagnostic codes
   (so in particular the same diagnostics-free status);
4. where the spec checks, ``check(..., backend=B)`` then ``render(program, B)`` for every
   backend (render only; a script is rendered once per distinct program and backend).

Any exception that escapes is the failure (a note names the stage and the case); a broken
property raises :class:`FrontEndFailure`. Nothing here catches what the front end raises.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import tempfile
from pathlib import Path

from specc.compiler.backends import BACKEND_NAMES
from specc.dsl import ast
from specc.dsl.diagnostics import Span

MAX_OUTPUT = 200_000  # bytes of stdout + stderr for one command on an input of at most 20 KB
_RENDERED: dict[str, str] = {}  # sha256 of (IR JSON, backend) -> script: rendering is pure


class FrontEndFailure(AssertionError):
    """A property of the front end does not hold for a case."""


@dataclasses.dataclass
class Outcome:
    """What happened to one case (the long run counts these)."""

    lint_status: int = -1
    formatted: bool = False
    checks: bool = False
    rendered: tuple[str, ...] = ()


class Workspace:
    """A folder holding ``fuzz.mf`` (the case) and ``lib.mf`` (the library it may import)."""

    def __init__(self, folder: str | None = None):
        self._owned = None if folder else tempfile.TemporaryDirectory(prefix="specc-fuzz-")
        self.folder = Path(folder or self._owned.name)
        self.spec = str(self.folder / "fuzz.mf")

    def write(self, case) -> None:
        (self.folder / "lib.mf").write_bytes(case.library)
        Path(self.spec).write_bytes(case.source)

    def close(self) -> None:
        if self._owned is not None:
            self._owned.cleanup()


@contextlib.contextmanager
def stage(name: str, case):
    """Name the stage and the case on any exception that escapes it."""
    try:
        yield
    except BaseException as error:
        error.add_note(f"fuzz stage: {name}; case: {case.describe()}; source: {case.source[:2000]!r}")
        raise


def captured(function, *arguments) -> tuple[int, str, str]:
    """(return value, stdout, stderr) of a CLI command function run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = function(*arguments)
    return status, out.getvalue(), err.getvalue()


def bounded(what: str, case, *texts: str) -> None:
    size = sum(len(text.encode("utf-8", "surrogatepass")) for text in texts)
    if size > MAX_OUTPUT:
        raise FrontEndFailure(f"{what} printed {size} bytes for an input of {len(case.source)} bytes")


def exercise(case, workspace: Workspace) -> Outcome:
    from specc.compiler.cli.main import run_fmt, run_lint

    outcome = Outcome()
    workspace.write(case)
    with stage("lint", case):
        arguments = ([workspace.spec], case.output_format, False, list(case.overrides), case.backend)
        status, out, err = captured(run_lint, *arguments)
    if status not in (0, 1, 2):
        raise FrontEndFailure(f"lint exited {status}")
    bounded("lint", case, out, err)
    outcome.lint_status = status
    with stage("fmt --check", case):
        status, out, err = captured(run_fmt, [workspace.spec], True)
    if status not in (0, 1):
        raise FrontEndFailure(f"fmt --check exited {status}")
    bounded("fmt --check", case, out, err)
    outcome.formatted = formatting_holds(case, workspace)
    workspace.write(case)
    compile_every_backend(case, workspace, outcome)
    return outcome


def diagnostic_codes(workspace: Workspace, overrides) -> list[tuple[str, str]]:
    from specc.compiler.cli.main import read
    from specc.compiler.pipeline import check

    result = check(workspace.spec, read, tuple(overrides), None, library_ok=True, backend_warnings=True)
    return sorted((d.code, d.severity) for d in result.diagnostics)


def formatting_holds(case, workspace: Workspace) -> bool:
    """fmt is idempotent and keeps the tree and the diagnostics; False when not formatted."""
    from specc.dsl.formatter import format_source
    from specc.dsl.parser import parse
    from specc.dsl.source import decode

    with stage("fmt", case):
        text, _ = decode(case.source, workspace.spec)
        formatted = format_source(text, workspace.spec)[0] if text is not None else None
        if formatted is None:
            return False
        again = format_source(formatted, workspace.spec)[0]
    if again != formatted:
        raise FrontEndFailure(f"fmt is not idempotent:\n--- once\n{formatted}\n--- twice\n{again}")
    with stage("parse after fmt", case):
        before, after = parse(text, workspace.spec)[0], parse(formatted, workspace.spec)[0]
    if structure(before) != structure(after):
        raise FrontEndFailure(f"fmt changed the tree:\n--- formatted\n{formatted}")
    with stage("lint after fmt", case):
        codes = diagnostic_codes(workspace, case.overrides)
        Path(workspace.spec).write_text(formatted, encoding="utf-8")
        codes_after = diagnostic_codes(workspace, case.overrides)
    if codes != codes_after:
        raise FrontEndFailure(f"fmt changed the diagnostics: {codes} -> {codes_after}\n--- formatted\n{formatted}")
    return True


def compile_every_backend(case, workspace: Workspace, outcome: Outcome) -> None:
    from specc.compiler import ir
    from specc.compiler.cli.main import read
    from specc.compiler.emit.render import render
    from specc.compiler.pipeline import check

    for backend in BACKEND_NAMES:
        with stage(f"check --backend {backend}", case):
            result = check(workspace.spec, read, tuple(case.overrides), backend)
        if result.program is None:
            continue
        outcome.checks = True
        with stage(f"render {backend}", case):
            key = hashlib.sha256((ir.to_json(result.program) + backend).encode()).hexdigest()
            if key not in _RENDERED:
                if len(_RENDERED) > 256:
                    _RENDERED.clear()
                _RENDERED[key] = render(result.program, backend)
        outcome.rendered += (backend,)


def structure(module) -> list:
    """The tree as a flat list without spans (iterative: a flat chain of any length)."""
    flat, stack = [], [module]
    while stack:
        value = stack.pop()
        if isinstance(value, Span):
            continue
        if isinstance(value, ast.Node):
            flat.append(type(value).__name__)
            stack.extend(reversed([getattr(value, field.name) for field in dataclasses.fields(value)]))
        elif isinstance(value, (tuple, list)):
            flat.append(len(value))
            stack.extend(reversed(value))
        else:
            flat.append(value)
    return flat
