"""``parse(text, file)``: spec text -> ``ast.Module`` and diagnostics. Never raises for bad input.

The LALR parser is built once, on first use, from ``grammar.lark`` (lark caches the grammar
analysis on disk, so a cold process loads it in a few milliseconds) and shared: it builds the
AST while it reduces (``dsl/build.py``), so no parse tree is made and nothing recurses.
Tokens come from ``dsl/lexer.py`` (one compiled regular expression, contextual keywords).
lark's ``propagate_positions`` is not used: it only fills ``Tree.meta``, and no tree is
built; every node's span is computed from its first and last token instead.
"""

from __future__ import annotations

import gc
import threading
from pathlib import Path

from lark import Lark
from lark.exceptions import UnexpectedInput, UnexpectedToken

import specc
from specc.dsl.diagnostics import Diagnostic, Span
from specc.dsl import ast
from specc.dsl.build import MAX_DEPTH, AstBuilder, Header, NestingTooDeep
from specc.dsl.errors import token_error, unterminated_error
from specc.dsl.lexer import SpecLexer, Unterminated, master_pattern, punctuation_and_keywords
from specc.dsl.recovery import tail_from, top_level_lines

_GRAMMAR = Path(__file__).with_name("grammar.lark")
_lock = threading.Lock()
_parser: Lark | None = None
_builder: AstBuilder | None = None


def _shared_parser() -> tuple[Lark, AstBuilder]:
    """The LALR parser and its AST builder, built on first use."""
    global _parser, _builder
    if _parser is None:
        builder = AstBuilder()
        SpecLexer.builder = builder
        _parser = Lark(
            _GRAMMAR.read_text(encoding="utf-8"),
            parser="lalr",
            lexer=SpecLexer,
            keep_all_tokens=True,
            maybe_placeholders=False,
            transformer=builder,
            cache=True,
        )
        _builder = builder
    return _parser, _builder


def parse(text: str, file: str) -> tuple[ast.Module | None, list[Diagnostic]]:
    """Parse decoded spec text. The module is None only when the text could not be parsed;
    problems that leave the structure intact (a reserved name, a bad escape) come back as
    diagnostics beside the module, so every one of them is reported at once. After a
    syntax error the parse restarts at the next top-level item (``dsl/recovery.py``) to
    report later errors too (up to MAX_SYNTAX_ERRORS)."""
    if not text.strip():
        return None, [_empty(file)]
    items, comments, diagnostics, failure = _parse_once(text, file)
    if failure is None:
        return _module(items, comments, text, file, diagnostics), diagnostics
    _record(failure, text, file, diagnostics)
    restarts = None
    while isinstance(failure, (UnexpectedToken, Unterminated)) and failure.line > 0:
        if sum(d.code in _STOPPING for d in diagnostics) >= MAX_SYNTAX_ERRORS:
            break
        if restarts is None:
            restarts = top_level_lines(text, _pattern())
        later = [line for line in restarts if line > failure.line]
        if not later:
            break
        tail = tail_from(text, later[0])
        _, _, more, failure = _parse_once(tail, file)
        diagnostics.extend(more)
        if failure is None:
            break
        _record(failure, tail, file, diagnostics)
    return None, diagnostics


MAX_SYNTAX_ERRORS = 10
_STOPPING = ("E0101", "E0103")


def _parse_once(text: str, file: str):
    """(items, comments, diagnostics, the exception that stopped the parse or None)."""
    with _lock:
        parser, builder = _shared_parser()
        builder.reset(file)
        collecting = gc.isenabled()
        gc.disable()  # the parse allocates many objects that all live: skip needless collections
        try:
            items, failure = parser.parse(text), None
        except (UnexpectedInput, NestingTooDeep, Unterminated) as error:
            items, failure = None, error
        finally:
            if collecting:
                gc.enable()
        diagnostics, comments = builder.diagnostics, tuple(builder.comments)
        builder.reset(file)
    return items, comments, diagnostics, failure


def _pattern():
    parser, _ = _shared_parser()
    return master_pattern(punctuation_and_keywords(parser.terminals)[0])


def _record(error: Exception, text: str, file: str, diagnostics: list[Diagnostic]) -> None:
    if isinstance(error, NestingTooDeep):
        diagnostics.append(_too_deep(error))
    elif isinstance(error, Unterminated):
        diagnostics.append(unterminated_error(text, file, error.position, error.line, error.column))
    elif isinstance(error, UnexpectedToken):
        if any(d.code == "E0102" and d.span.line == error.line for d in diagnostics):
            return  # a stray character on the same line already explains it
        parser, _ = _shared_parser()
        diagnostics.append(token_error(error, text, file, parser, _pattern()))
    else:  # pragma: no cover - the parser raises only the errors above
        diagnostics.append(Diagnostic("E0101", str(error).splitlines()[0], Span.point(file)))


def _empty(file: str) -> Diagnostic:
    return Diagnostic(
        "E0003",
        "empty spec: the file holds nothing",
        Span.point(file),
        help="a spec starts with `spec NAME`; see docs/language.md",
    )


def _too_deep(error: NestingTooDeep) -> Diagnostic:
    return Diagnostic(
        "E0105",
        f"{error.what} nested more than {MAX_DEPTH} levels deep",
        error.span,
        help="split it into several steps (`let` constants, intermediate values, blocks)",
    )


def _module(items, comments, text: str, file: str, diagnostics: list[Diagnostic]) -> ast.Module:
    spec_name, language, imports, body = None, None, [], []
    spec_span = language_span = extends = None
    for index, item in enumerate(items):
        if not isinstance(item, Header):
            body.append(item)
        elif item.kind == "spec":
            if spec_name is not None or index > 0:
                diagnostics.append(_misplaced(item, "`spec NAME` must be the first line, and appear once"))
            if spec_name is None:
                spec_name, spec_span = item.value, item.span
        elif item.kind == "language":
            if language is not None or imports or body or extends is not None:
                diagnostics.append(
                    _misplaced(item, "`language N` must come before `extends`, imports and items, and appear once")
                )
            if language_span is None:
                language, language_span = _language(item, diagnostics), item.span
        elif item.kind == "extends":
            if extends is not None:
                diagnostics.append(_twice(item, extends))
            elif imports or body:
                diagnostics.append(_extends_late(item))
            if extends is None:
                extends = ast.Extends(item.span, item.value)
        else:
            if body:
                diagnostics.append(_misplaced(item, "`import` must come before the first item"))
            imports.append(ast.Import(item.span, item.value))
    return ast.Module(
        _whole(text, file),
        file,
        spec_name,
        language,
        tuple(imports),
        tuple(body),
        comments,
        spec_span=spec_span,
        language_span=language_span,
        extends=extends,
    )


def _misplaced(item: Header, message: str) -> Diagnostic:
    return Diagnostic("E0111", message, item.span)


def _twice(item: Header, first: ast.Extends) -> Diagnostic:
    return Diagnostic(
        "E0114",
        "a file extends one base: `extends` is written twice",
        item.span,
        notes=(f"the first `extends` is at {first.span.location()}",),
        help="to build on several files, extend one and import the others (an import adds, it cannot override)",
    )


def _extends_late(item: Header) -> Diagnostic:
    return Diagnostic(
        "E0115",
        "`extends` must come before imports and items",
        item.span,
        help="write it right after the `spec` and `language` lines",
    )


def _language(item: Header, diagnostics: list[Diagnostic]) -> int | None:
    value = item.value
    if not isinstance(value, int) or value < 1:
        diagnostics.append(
            Diagnostic(
                "E0112",
                f"invalid language version `{value}`",
                item.value_span,
                help=f"write `language {specc.LANGUAGE_VERSION}`",
            )
        )
        return None
    if value > specc.LANGUAGE_VERSION:
        diagnostics.append(
            Diagnostic(
                "E0112",
                f"this spec is written for language {value}; this specc understands "
                f"language {specc.LANGUAGE_VERSION} at most",
                item.value_span,
                help=f"upgrade specc (this is specc {specc.__version__})",
            )
        )
    return value


def _whole(text: str, file: str) -> Span:
    lines = text.split("\n")
    return Span(file, 1, 1, len(lines), len(lines[-1]) + 1)
