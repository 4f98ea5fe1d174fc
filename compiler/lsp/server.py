"""``specc lsp``: the language server (pygls, JSON-RPC over stdin/stdout).

Diagnostics as you type (the checker's, exactly what ``specc lint`` reports for the file,
checked from the editor's unsaved text: on open at once, on change after a short pause),
completion, hover, go to definition, formatting and did-you-mean quick fixes. The command
line hands in its ``read`` (``serve(read)``), the one way the checker reads files.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path

import specc
from specc.compiler.lsp.completion import complete
from specc.compiler.lsp.documents import Analysis, Lines, analyze, normalized, overlay_reader, real_path
from specc.compiler.lsp.edits import formatting_edits, lsp_diagnostic, lsp_range, quick_fixes
from specc.compiler.lsp.hover import hover_text
from specc.compiler.lsp.navigation import definition
from specc.dsl import ast
from specc.dsl.source import Unreadable

DEBOUNCE_SECONDS = 0.2  # the pause after a change before the document is checked again
TRIGGERS = ["(", "[", "=", ",", " "]


class SpecServer(LanguageServer):
    def __init__(self, read: Callable[[str], bytes]):
        super().__init__("specc", specc.__version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.read = read
        self.generation = 0  # bumped by every open, change and close: a cached analysis is stale
        self.cache: dict[str, tuple[int, Analysis]] = {}
        self.published: dict[str, set[str]] = {}  # document uri -> uris it published diagnostics to
        self.pending: dict[str, asyncio.Task] = {}

    def open_texts(self) -> dict[str, str]:
        return {
            normalized(document.path): document.source
            for document in self.workspace.text_documents.values()
            if document.path is not None
        }

    def lines(self, text: str) -> Lines:
        return Lines(text, self.workspace.position_codec.client_num_units)

    def analysis(self, uri: str) -> Analysis | None:
        cached = self.cache.get(uri)
        if cached is not None and cached[0] == self.generation:
            return cached[1]
        document = self.workspace.get_text_document(uri)
        if document.path is None:
            return None
        reader = overlay_reader(self.read, self.open_texts())
        found = analyze(normalized(document.path), document.source, reader)
        self.cache[uri] = (self.generation, found)
        return found

    def publish(self, uri: str) -> None:
        """Send the document's diagnostics, grouped by the file each is in (an imported file's
        problem is shown in that file), and clear the files that have none left."""
        found = self.analysis(uri)
        if found is None:
            return
        by_file: dict[str, list] = {uri: []}
        for diagnostic in found.result.diagnostics:
            path = real_path(diagnostic.span.file)
            target = uri if normalized(path) == found.path else from_fs_path(path)
            if target is None:
                continue
            by_file.setdefault(target, []).append(diagnostic)
        for target in self.published.get(uri, set()) - set(by_file):
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=target, diagnostics=[]))
        for target, diagnostics in by_file.items():
            source = found.text if target == uri else found.result.sources.get(diagnostics[0].span.file, "")
            lines = self.lines(source)
            shown = [lsp_diagnostic(diagnostic, lines) for diagnostic in diagnostics]
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=target, diagnostics=shown))
        self.published[uri] = set(by_file)

    def schedule(self, uri: str) -> None:
        """Check ``uri`` again once the edits pause for ``DEBOUNCE_SECONDS``."""
        previous = self.pending.pop(uri, None)
        if previous is not None:
            previous.cancel()
        self.pending[uri] = asyncio.get_running_loop().create_task(self._publish_later(uri))

    async def _publish_later(self, uri: str) -> None:
        await asyncio.sleep(DEBOUNCE_SECONDS)
        self.pending.pop(uri, None)
        if uri in self.workspace.text_documents:
            self.publish(uri)

    def position(self, uri: str, position: types.Position) -> tuple[Analysis, int, int] | None:
        found = self.analysis(uri)
        if found is None:
            return None
        line, character = self.lines(found.text).from_client(position.line, position.character)
        return found, line, character


def build_server(read: Callable[[str], bytes]) -> SpecServer:
    server = SpecServer(read)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: SpecServer, params: types.DidOpenTextDocumentParams):
        ls.generation += 1
        ls.publish(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: SpecServer, params: types.DidChangeTextDocumentParams):
        ls.generation += 1
        ls.schedule(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: SpecServer, params: types.DidSaveTextDocumentParams):
        ls.generation += 1
        ls.publish(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: SpecServer, params: types.DidCloseTextDocumentParams):
        ls.generation += 1
        uri = params.text_document.uri
        ls.cache.pop(uri, None)
        for target in ls.published.pop(uri, set()):
            ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=target, diagnostics=[]))

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=TRIGGERS))
    def completion(ls: SpecServer, params: types.CompletionParams):
        found = ls.position(params.text_document.uri, params.position)
        if found is None:
            return None
        analysis, line, character = found
        lines = ls.lines(analysis.text)
        names = _names(analysis)
        return types.CompletionList(is_incomplete=False, items=complete("\n".join(lines.lines), lines.offset(line, character), names))

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: SpecServer, params: types.HoverParams):
        found = ls.position(params.text_document.uri, params.position)
        text = hover_text(*found) if found is not None else None
        if text is None:
            return None
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text))

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def goto_definition(ls: SpecServer, params: types.DefinitionParams):
        found = ls.position(params.text_document.uri, params.position)
        target = definition(*found) if found is not None else None
        if target is None:
            return None
        file, span = target
        uri = params.text_document.uri if normalized(file) == found[0].path else from_fs_path(file)
        source = found[0].text if uri == params.text_document.uri else _source(ls, file)
        return types.Location(uri=uri, range=lsp_range(ls.lines(source), span))

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls: SpecServer, params: types.DocumentFormattingParams):
        document = ls.workspace.get_text_document(params.text_document.uri)
        return formatting_edits(document.source, document.path or document.uri, ls.lines(document.source))

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix])
    )
    def code_action(ls: SpecServer, params: types.CodeActionParams):
        found = ls.analysis(params.text_document.uri)
        if found is None:
            return None
        here = [diagnostic for diagnostic in found.result.diagnostics if normalized(real_path(diagnostic.span.file)) == found.path]
        return quick_fixes(params.text_document.uri, here, ls.lines(found.text), params.range)

    return server


def _names(analysis: Analysis) -> dict[str, list[str]]:
    names: dict[str, list[str]] = {"model": [], "block": []}
    for module in analysis.modules:
        for item in module.items:
            if isinstance(item, (ast.Model, ast.ModelInstance)):
                names["model"].append(item.name)
            elif isinstance(item, (ast.Block, ast.Extern)):  # an extern is called like a block
                names["block"].append(item.name)
    return names


def _source(ls: SpecServer, path: str) -> str:
    texts = ls.open_texts()
    if normalized(path) in texts:
        return texts[normalized(path)]
    try:
        return ls.read(path).decode("utf-8", "replace")
    except (OSError, ValueError, Unreadable):  # gone or refused now: the location still points at the file's start
        return ""


def serve(read: Callable[[str], bytes]) -> None:
    """Run the server on stdin/stdout until the client says exit."""
    build_server(read).start_io()


__all__ = ["SpecServer", "build_server", "serve"]
