"""``load_program(path, read, std_root)``: a spec and everything it imports, each parsed once.

An import path is relative to the importing file (``import "blocks.mf"``,
``import "../shared/blocks.mf"``) or starts with ``std/`` for the standard library
(``import "std/transformer.mf"`` -> ``<std_root>/transformer.mf``). Paths are joined and
normalised (``a/./b/../c.mf`` -> ``a/c.mf``) but never made absolute: spans name files the
way the user wrote them. Modules come back in dependency order (every module after the
modules it imports, imports visited in source order), the root last. The filesystem is only
touched through ``read``; every way it can fail becomes a diagnostic at the ``import``
statement (for the root file, at the file itself), never an exception: an ``OSError``
(E0201 missing, E0202 a directory, E0205 anything else), a ``ValueError`` (a path the
operating system cannot take, such as one holding a NUL character: E0205) or ``Unreadable``,
which a ``read`` raises for a file it refuses (E0208 not a regular file, E0209 larger than
``MAX_FILE_BYTES``, E0210 a standard-library file that leads out of the library folder).
A ``std/`` import whose path leaves the library folder (``std/../x.mf``) is E0210 before
anything is read.

An ``extends "base.mf"`` line names its file as an import does and fails the same ways, at
the ``extends`` line (a cycle through it is E0211). Once every file is loaded, each file that
extends a base is composed with it (``dsl/compose.py``): the base's module is replaced by the
composed one, at the extending file's place.
"""

from __future__ import annotations

import dataclasses
import posixpath
from dataclasses import dataclass, field
from typing import Callable

from specc.dsl.diagnostics import Diagnostic, Span, printable
from specc.dsl import ast
from specc.dsl.parser import parse
from specc.dsl.source import MAX_FILE_BYTES, Unreadable, decode  # noqa: F401 (MAX_FILE_BYTES: re-exported)

MAX_IMPORT_DEPTH = 64
_STD_PREFIX = "std/"
_STD_HELP = "a `std/` import names a file of specc's standard library (specs/std)"


@dataclass
class LoadedProgram:
    modules: tuple[ast.Module, ...]  # dependency order, root last
    sources: dict[str, str]  # file -> decoded text, for rendering diagnostics
    diagnostics: list[Diagnostic] = field(default_factory=list)


def load_program(path: str, read: Callable[[str], bytes], std_root: str) -> LoadedProgram:
    """Read, decode and parse ``path`` and its imports, transitively."""
    from specc.dsl.compose import compose

    loader = _Loader(read, std_root)
    loader.load(posixpath.normpath(path), None)
    modules, problems = compose(loader.modules, std_root)
    return LoadedProgram(tuple(modules), loader.sources, loader.diagnostics + problems)


def resolve_import(importer: str, written: str, std_root: str) -> str:
    """The file an ``import`` names: ``std/...`` under std_root, others beside the importer."""
    if written.startswith(_STD_PREFIX):
        return posixpath.normpath(posixpath.join(std_root, written[len(_STD_PREFIX) :]))
    return posixpath.normpath(posixpath.join(posixpath.dirname(importer), written))


def read_file(path: str, read: Callable[[str], bytes], at: Span | None = None) -> tuple[bytes | None, list[Diagnostic]]:
    """``read(path)``, or None and the diagnostic (at ``at``, else at the file) saying why not."""
    shown = printable(path)
    try:
        return read(path), []
    except Unreadable as refusal:
        code, message, help = refusal.code, f"cannot read `{shown}`: {refusal.reason}", refusal.help
    except FileNotFoundError:
        code, message, help = "E0201", f"cannot find `{shown}`", None
    except IsADirectoryError:
        code, message, help = "E0202", f"`{shown}` is a directory, not a spec file", None
    except OSError as error:
        code, message, help = "E0205", f"cannot read `{shown}`: {error.strerror or type(error).__name__}", None
    except ValueError as error:  # a NUL character, a name the file system cannot encode
        reason = "the path holds a NUL character" if "\0" in path else str(error)
        code, message, help = "E0205", f"cannot read `{shown}`: {reason}", None
    return None, [Diagnostic(code, message, at if at is not None else Span.point(path), help=help)]


def _verb(via: ast.Import | ast.Extends) -> str:
    return "extended" if isinstance(via, ast.Extends) else "imported"


def _inside(path: str, folder: str) -> bool:
    folder = posixpath.normpath(folder)
    return path.startswith(folder.rstrip("/") + "/")


class _Loader:
    def __init__(self, read: Callable[[str], bytes], std_root: str):
        self.read = read
        self.std_root = std_root
        self.modules: list[ast.Module] = []
        self.sources: dict[str, str] = {}
        self.diagnostics: list[Diagnostic] = []
        self.finished: set[str] = set()
        self.stack: list[str] = []  # files being loaded, outermost first

    def load(self, path: str, via: ast.Import | ast.Extends | None) -> None:
        if path in self.finished:
            return
        if path in self.stack:
            self._cycle(path, via)
            return
        if len(self.stack) >= MAX_IMPORT_DEPTH:
            self._error("E0207", f"imports nested more than {MAX_IMPORT_DEPTH} files deep", via, path)
            return
        self.stack.append(path)
        module = self._parse(path, via)
        if module is not None:
            for statement in ((module.extends,) if module.extends is not None else ()) + module.imports:
                target = self._target(path, statement)
                if target is not None:
                    self.load(target, statement)
        self.stack.pop()
        self.finished.add(path)
        if module is not None:
            self.modules.append(module)

    def _parse(self, path: str, via: ast.Import | ast.Extends | None) -> ast.Module | None:
        data = self._read(path, via)
        if data is None:
            return None
        text, problems = decode(data, path)
        if text is None:
            if via is not None:  # the problem is in the imported file; say where it was imported
                note = f"{_verb(via)} at {via.span.location()}"
                problems = [dataclasses.replace(problem, notes=problem.notes + (note,)) for problem in problems]
            self.diagnostics.extend(problems)
            self.sources[path] = data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
            return None
        self.sources[path] = text
        module, problems = parse(text, path)
        self.diagnostics.extend(problems)
        return module

    def _read(self, path: str, via: ast.Import | ast.Extends | None) -> bytes | None:
        data, problems = read_file(path, self.read, via.span if via is not None else None)
        self.diagnostics.extend(problems)
        return data

    def _target(self, importer: str, statement: ast.Import | ast.Extends) -> str | None:
        written = statement.path
        extends = isinstance(statement, ast.Extends)
        if not written.endswith(".mf"):
            self._error(
                "E0204",
                f"`{printable(written)}` is not a spec file: "
                + ("`extends` names a `.mf` file" if extends else "imports name `.mf` files"),
                statement,
                importer,
            )
            return None
        if written.startswith("/") or written.startswith("\\") or (len(written) > 1 and written[1] == ":"):
            self._error(
                "E0206",
                f"absolute {'`extends`' if extends else 'import'} path `{printable(written)}`",
                statement,
                importer,
                f"{'`extends`' if extends else 'import'} paths are relative to the importing file, or start with `std/`",
            )
            return None
        target = resolve_import(importer, written, self.std_root)
        if written.startswith(_STD_PREFIX) and not _inside(target, self.std_root):
            self._error(
                "E0210", f"`{printable(written)}` leaves the standard library folder", statement, importer, _STD_HELP
            )
            return None
        return target

    def _cycle(self, path: str, via: ast.Import | ast.Extends | None) -> None:
        chain = " -> ".join(printable(file) for file in self.stack[self.stack.index(path) :] + [path])
        if isinstance(via, ast.Extends):
            help = "a file cannot be its own base: extend a file that neither extends nor imports this one"
            self._error("E0211", f"`extends` cycle: {chain}", via, path, help)
            return
        self._error("E0203", f"import cycle: {chain}", via, path, "move what the files share into a third file that both import")

    def _error(
        self, code: str, message: str, via: ast.Import | ast.Extends | None, path: str, help: str | None = None
    ) -> None:
        span = via.span if via is not None else Span.point(path)
        self.diagnostics.append(Diagnostic(code, message, span, help=help))
