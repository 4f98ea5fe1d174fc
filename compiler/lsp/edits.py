"""The checker's diagnostics as LSP diagnostics, the did-you-mean quick fixes, and
formatting as one edit (``specc fmt``'s output).

LSP diagnostics carry the checker's code, its message, then ``help:`` and ``note:`` lines as
``specc lint`` prints them under the source line; ``data`` keeps help and notes apart.
"""

from __future__ import annotations

import re

from lsprotocol import types

from specc.compiler.lsp.documents import Lines
from specc.dsl.diagnostics import Diagnostic
from specc.dsl.formatter import format_source

SOURCE = "specc"
_SUGGESTION = re.compile(r"did you mean `([^`]+)`\?")
_QUOTED = re.compile(r"`([^`]+)`")


def lsp_range(lines: Lines, span) -> types.Range:
    (start_line, start_character), (end_line, end_character) = lines.span_range(span)
    return types.Range(types.Position(start_line, start_character), types.Position(end_line, end_character))


def lsp_diagnostic(diagnostic: Diagnostic, lines: Lines) -> types.Diagnostic:
    message = diagnostic.message
    if diagnostic.help:
        message += f"\nhelp: {diagnostic.help}"
    for note in diagnostic.notes:
        message += f"\nnote: {note}"
    severity = types.DiagnosticSeverity.Error if diagnostic.severity == "error" else types.DiagnosticSeverity.Warning
    return types.Diagnostic(
        range=lsp_range(lines, diagnostic.span),
        message=message,
        severity=severity,
        code=diagnostic.code,
        source=SOURCE,
        data={"help": diagnostic.help, "notes": list(diagnostic.notes)},
    )


def replacement(diagnostic: Diagnostic, source_lines: list[str]) -> tuple[int, int, str, str] | None:
    """(line, column, misspelt, suggested) of a did-you-mean diagnostic: the word named in
    backquotes by the message that is written inside the diagnostic's span (0-based line,
    0-based column of the word), or None."""
    suggestion = _SUGGESTION.search(diagnostic.help or "")
    span = diagnostic.span
    if suggestion is None or not 1 <= span.line <= len(source_lines):
        return None
    text = source_lines[span.line - 1]
    end = span.end_column - 1 if span.end_line == span.line else len(text)
    written = text[span.column - 1 : end]
    for quoted in _QUOTED.findall(diagnostic.message):
        for match in re.finditer(rf"(?<![\w.]){re.escape(quoted)}(?!\w)", written):
            return span.line - 1, span.column - 1 + match.start(), quoted, suggestion.group(1)
    return None


def quick_fixes(uri: str, diagnostics: list[Diagnostic], lines: Lines, wanted: types.Range) -> list[types.CodeAction]:
    """One "Replace `x` with `y`" action per did-you-mean diagnostic touching ``wanted``."""
    actions = []
    for diagnostic in diagnostics:
        shown = lsp_diagnostic(diagnostic, lines)
        if not _touches(shown.range, wanted):
            continue
        found = replacement(diagnostic, lines.lines)
        if found is None:
            continue
        line, column, misspelt, suggested = found
        start = types.Position(*lines.to_client(line, column))
        end = types.Position(*lines.to_client(line, column + len(misspelt)))
        edit = types.TextEdit(range=types.Range(start, end), new_text=suggested)
        actions.append(
            types.CodeAction(
                title=f"Replace `{misspelt}` with `{suggested}`",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[shown],
                edit=types.WorkspaceEdit(changes={uri: [edit]}),
                is_preferred=True,
            )
        )
    return actions


def _touches(found: types.Range, wanted: types.Range) -> bool:
    start = (found.start.line, found.start.character)
    end = (found.end.line, found.end.character)
    return start <= (wanted.end.line, wanted.end.character) and (wanted.start.line, wanted.start.character) <= end


def formatting_edits(text: str, file: str, lines: Lines) -> list[types.TextEdit]:
    """The whole document replaced by ``specc fmt``'s output; no edit when it is already
    formatted or does not parse (the diagnostics say why)."""
    formatted, _ = format_source(text.replace("\r\n", "\n").replace("\r", "\n"), file)
    if formatted is None or formatted == text:
        return []
    end = types.Position(*lines.end())
    return [types.TextEdit(range=types.Range(types.Position(0, 0), end), new_text=formatted)]
