"""``load_program(path, read, std_root)``: a spec and everything it imports, each parsed once.

An import path is relative to the importing file (``import "blocks.mf"``,
``import "../shared/blocks.mf"``) or starts with ``std/`` for the standard library
(``import "std/transformer.mf"`` -> ``<std_root>/transformer.mf``). Paths are joined and
normalised (``a/./b/../c.mf`` -> ``a/c.mf``) but never made absolute: spans name files the
way the user wrote them. Modules come back in dependency order (every module after the
modules it imports, imports visited in source order), the root last. The filesystem is only
touched through ``read``; its OSErrors become diagnostics.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Callable

from specc.dsl.diagnostics import Diagnostic, Span
from specc.dsl import ast
from specc.dsl.parser import parse
from specc.dsl.source import decode

MAX_IMPORT_DEPTH = 64
_STD_PREFIX = "std/"


@dataclass
class LoadedProgram:
    modules: tuple[ast.Module, ...]  # dependency order, root last
    sources: dict[str, str]  # file -> decoded text, for rendering diagnostics
    diagnostics: list[Diagnostic] = field(default_factory=list)


def load_program(path: str, read: Callable[[str], bytes], std_root: str) -> LoadedProgram:
    """Read, decode and parse ``path`` and its imports, transitively."""
    loader = _Loader(read, std_root)
    loader.load(posixpath.normpath(path), None)
    return LoadedProgram(tuple(loader.modules), loader.sources, loader.diagnostics)


def resolve_import(importer: str, written: str, std_root: str) -> str:
    """The file an ``import`` names: ``std/...`` under std_root, others beside the importer."""
    if written.startswith(_STD_PREFIX):
        return posixpath.normpath(posixpath.join(std_root, written[len(_STD_PREFIX) :]))
    return posixpath.normpath(posixpath.join(posixpath.dirname(importer), written))


class _Loader:
    def __init__(self, read: Callable[[str], bytes], std_root: str):
        self.read = read
        self.std_root = std_root
        self.modules: list[ast.Module] = []
        self.sources: dict[str, str] = {}
        self.diagnostics: list[Diagnostic] = []
        self.finished: set[str] = set()
        self.stack: list[str] = []  # files being loaded, outermost first

    def load(self, path: str, via: ast.Import | None) -> None:
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
            for statement in module.imports:
                target = self._target(path, statement)
                if target is not None:
                    self.load(target, statement)
        self.stack.pop()
        self.finished.add(path)
        if module is not None:
            self.modules.append(module)

    def _parse(self, path: str, via: ast.Import | None) -> ast.Module | None:
        data = self._read(path, via)
        if data is None:
            return None
        text, problems = decode(data, path)
        if text is None:
            self.diagnostics.extend(problems)
            self.sources[path] = data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
            return None
        self.sources[path] = text
        module, problems = parse(text, path)
        self.diagnostics.extend(problems)
        return module

    def _read(self, path: str, via: ast.Import | None) -> bytes | None:
        try:
            return self.read(path)
        except FileNotFoundError:
            self._error("E0201", f"cannot find `{path}`", via, path)
        except IsADirectoryError:
            self._error("E0202", f"`{path}` is a directory, not a spec file", via, path)
        except OSError as error:
            reason = error.strerror or type(error).__name__
            self._error("E0205", f"cannot read `{path}`: {reason}", via, path)
        return None

    def _target(self, importer: str, statement: ast.Import) -> str | None:
        written = statement.path
        if not written.endswith(".mf"):
            self._error(
                "E0204", f"`{written}` is not a spec file: imports name `.mf` files", statement, importer
            )
            return None
        if written.startswith("/") or written.startswith("\\") or (len(written) > 1 and written[1] == ":"):
            self._error(
                "E0206",
                f"absolute import path `{written}`",
                statement,
                importer,
                "import paths are relative to the importing file, or start with `std/`",
            )
            return None
        return resolve_import(importer, written, self.std_root)

    def _cycle(self, path: str, via: ast.Import | None) -> None:
        chain = self.stack[self.stack.index(path) :] + [path]
        self._error(
            "E0203",
            "import cycle: " + " -> ".join(chain),
            via,
            path,
            "move what the files share into a third file that both import",
        )

    def _error(
        self, code: str, message: str, via: ast.Import | None, path: str, help: str | None = None
    ) -> None:
        span = via.span if via is not None else Span.point(path)
        self.diagnostics.append(Diagnostic(code, message, span, help=help))
