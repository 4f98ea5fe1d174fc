"""``format_source(text, file)``: the one canonical layout of a spec (``specc fmt``).

The style: 2-space indent; a section's entries and a graph's statements one per line; one
space around binary operators and around ``=``; numbers exactly as written; strings
re-escaped canonically; parentheses only where precedence needs them; at most one blank line
kept wherever the source had blank lines (never right after ``{`` or before ``}``). A list,
mapping, call or parameter list written across several lines is printed one element per line
with trailing commas (mapping entries without commas); one written on one line stays on one
line. Comments stay where they were: an own-line comment before the element that followed
it, a trailing comment after the element it followed. A comment inside an expression that is
printed on one line moves to its own line just before that element.

Guarantees (tested): ``format(format(x)) == format(x)`` and ``parse(format(x))`` equals
``parse(x)`` apart from spans. Text with errors is not formatted: the diagnostics come back.

Linear time, no recursion: each construct is turned into a list of *parts* (text to write,
an expression to expand, or a ``(method, *arguments)`` step that returns more parts), and
one loop (``_Printer.run``) works through them with an explicit stack. A flat chain
``1 + 2 + ... + n`` (a left-deep tree of any depth) therefore prints without Python
recursion, and every node is expanded exactly once. Each output line is collected as a list
of pieces and joined once (``str +=`` on an attribute copies the line every time: a
one-line list of n elements would cost n * n / 2).
"""

from __future__ import annotations

import gc
from collections import deque

from specc.dsl.diagnostics import Diagnostic
from specc.dsl import ast
from specc.dsl.parser import parse

INDENT = "  "

# Binding strength, loosest first; atoms (names, calls, literals) bind tightest.
_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "not": 3,
    "==": 4,
    "!=": 4,
    "<": 4,
    "<=": 4,
    ">": 4,
    ">=": 4,
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
    "//": 6,
    "%": 6,
    "unary": 7,
    "**": 8,
}
_ATOM = 9
_COMPARISON = 4
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def format_source(text: str, file: str) -> tuple[str | None, list[Diagnostic]]:
    """The canonical text of a spec, or None and the diagnostics that prevent formatting."""
    module, diagnostics = parse(text, file)
    if module is None or any(d.severity == "error" for d in diagnostics):
        return None, diagnostics
    return format_module(module), diagnostics


def format_module(module: ast.Module) -> str:
    printer = _Printer(module.comments)
    collecting = gc.isenabled()
    gc.disable()  # the parts are short-lived and make no cycles: skip needless collections
    try:
        printer.run(printer.module(module))
    finally:
        if collecting:
            gc.enable()
    return printer.text()


def quote(value: str) -> str:
    """A string literal that reads back as ``value``."""
    if value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    parts = []
    for character in value:
        if character in _ESCAPES:
            parts.append(_ESCAPES[character])
        elif not character.isprintable():
            parts.append(f"\\u{{{ord(character):x}}}")
        else:
            parts.append(character)
    return '"' + "".join(parts) + '"'


def precedence(node) -> int:
    if isinstance(node, ast.BinaryOp):
        return _PRECEDENCE[node.op]
    if isinstance(node, ast.UnaryOp):
        return _PRECEDENCE["not"] if node.op == "not" else _PRECEDENCE["unary"]
    return _ATOM


def _multiline(node) -> bool:
    return node.span.end_line != node.span.line


def _next_start(siblings, index: int) -> int | None:
    return siblings[index + 1].span.line if index + 1 < len(siblings) else None


def _separated(items, separator: str = ", ") -> list:
    """``items`` with ``separator`` between them (parts for the printer)."""
    parts = []
    for index, item in enumerate(items):
        if index:
            parts.append(separator)
        parts.append(item)
    return parts


def _wrapped(node, wrap: bool) -> list:
    return ["(", node, ")"] if wrap else [node]


class _Printer:
    """Writes lines; places comments and blank lines by the source lines of the elements.

    The methods below the line-handling ones return parts (see the module docstring) instead
    of writing: ``run`` writes them in order."""

    def __init__(self, comments):
        self.lines: list[str] = []
        self.current: list[str] = []  # pieces of the line being written
        self.indent = 0
        self.pending = deque(comments)
        self.previous_end: int | None = None
        self.starts: list[tuple[int, int]] = []  # (first output line, indent) of open elements
        self.steps = 0  # parts processed: linear in the input (tests/fuzz/test_linear_time.py)

    def text(self) -> str:
        self.flush_before(float("inf"))
        while self.lines and not self.lines[-1]:
            self.lines.pop()
        return "\n".join(self.lines) + "\n"

    def run(self, parts: list) -> None:
        """Write ``parts`` in order: text is written, an expression node is expanded, a
        ``(method, *arguments)`` step is called and the parts it returns come next."""
        stack = parts[::-1]
        steps = 0
        while stack:
            part = stack.pop()
            steps += 1
            kind = type(part)
            if kind is str:
                self.current.append(part)
                continue
            more = part[0](*part[1:]) if kind is tuple else self.expression(part)
            if more:
                stack.extend(reversed(more))
        self.steps += steps

    # ------------------------------------------------------------ lines and comments

    def gap(self, line: int) -> None:
        if self.previous_end is not None and line > self.previous_end + 1:
            self.lines.append("")

    def flush_before(self, line) -> None:
        """Own-line comments that come before source line ``line``."""
        while self.pending and self.pending[0].span.line < line:
            comment = self.pending.popleft()
            self.gap(comment.span.line)
            self.lines.append(INDENT * self.indent + comment.text)
            self.previous_end = comment.span.line

    def begin(self, span) -> None:
        """Start a line-level element: comments before it, a kept blank line, the indent."""
        self.flush_before(span.line)
        self.gap(span.line)
        self.starts.append((len(self.lines), self.indent))
        self.current = [INDENT * self.indent]

    def end(self, span, parent_end: int | None, next_start: int | None) -> None:
        """Finish an element's last line, with the comment trailing it in the source (unless
        the next sibling or the parent's closing bracket shares that line: then it trails
        them). Comments from inside the element that nothing placed (it was printed on fewer
        lines than it was written on) go on their own lines just before the element."""
        line = span.end_line
        if parent_end != line and next_start != line:
            for index, comment in enumerate(self.pending):
                if comment.span.line > line:
                    break
                if comment.span.line == line:
                    del self.pending[index]
                    self.current.append("  " + comment.text)
                    break
        self.lines.append("".join(self.current))
        self.current = []
        self.previous_end = line
        first_line, indent = self.starts.pop()
        inside = 0
        for comment in self.pending:
            if comment.span.line >= line:
                break
            inside += 1
        if inside:
            moved = [INDENT * indent + self.pending.popleft().text for _ in range(inside)]
            self.lines[first_line:first_line] = moved

    def open(self, text: str, open_line: int, first_child_line: int | None) -> None:
        """End a line with an opening bracket; keep a comment that trailed that bracket."""
        self.current.append(text)
        trailing = self.pending and self.pending[0].span.line == open_line
        if trailing and (first_child_line is None or first_child_line > open_line):
            self.current.append("  " + self.pending.popleft().text)
        self.lines.append("".join(self.current))
        self.current = []
        self.previous_end = None
        self.indent += 1

    def close(self, text: str, close_line: int) -> None:
        """Comments left inside the brackets, then the closing bracket's line."""
        self.flush_before(close_line)
        self.indent -= 1
        self.current = [INDENT * self.indent + text]

    # ------------------------------------------------------------ top level

    def module(self, module: ast.Module) -> list:
        parts = []
        if module.spec_name is not None:
            parts += [(self.begin, module.spec_span), f"spec {module.spec_name}", (self.end, module.spec_span, None, None)]
        if module.language is not None:
            span = module.language_span
            parts += [(self.begin, span), f"language {module.language}", (self.end, span, None, None)]
        extends = (module.extends,) if module.extends is not None else ()
        for item in extends + module.imports + module.items:
            parts += [(self.begin, item.span), (self.item, item), (self.end, item.span, None, None)]
        return parts

    def item(self, item) -> list:
        if isinstance(item, ast.Import):
            return [f"import {quote(item.path)}"]
        if isinstance(item, ast.Extends):
            return [f"extends {quote(item.path)}"]
        if isinstance(item, ast.Let):
            return [f"let {item.name} = ", item.value]
        if isinstance(item, ast.Section):
            return self.section(item)
        if isinstance(item, ast.ModelInstance):
            return [f"model {item.name} = ", item.call]
        if isinstance(item, ast.Extern):
            return self.signature("extern", item) + [" = ", item.value]
        return self.graph(item)

    def section(self, section: ast.Section) -> list:
        head = section.kind
        if section.name is not None:
            head += f" {section.name}:"
        if section.component is not None:
            head += f" {section.component}"
        return self.body(head + " {", section.span, section.body, self.section_element)

    def section_element(self, element) -> list:
        if isinstance(element, ast.Section):
            return self.section(element)
        return [f"{element.key} = ", element.value]

    def body(self, header: str, span, elements, write_element, close_line: int | None = None) -> list:
        """``header`` then one element per line and ``}``; ``header}`` when empty."""
        close_line = span.end_line if close_line is None else close_line
        if not elements:
            return [header + "}"]
        parts: list = [(self.open, header, span.line, elements[0].span.line)]
        for index, element in enumerate(elements):
            parts += [
                (self.begin, element.span),
                (write_element, element),
                (self.end, element.span, close_line, _next_start(elements, index)),
            ]
        parts.append((self.close, "}", close_line))
        return parts

    # ------------------------------------------------------------ blocks, models, statements

    def graph(self, graph) -> list:
        keyword = "block" if isinstance(graph, ast.Block) else "model"
        return self.signature(keyword, graph) + self.body(" {", graph.span, graph.body, self.statement)

    def signature(self, keyword: str, graph) -> list:
        """``keyword name(parameters) -> outputs`` of a block, model or extern."""
        parameters = graph.parameters
        spread = any(p.span.line != graph.span.line for p in parameters)
        close_line = parameters[-1].span.end_line + 1 if parameters else graph.span.line
        parts: list = [f"{keyword} {graph.name}"]
        parts += self.sequence("(", parameters, ")", self.parameter, spread, graph.span.line, close_line)
        parts.append(" -> ")
        outputs = [(self.output, output) for output in graph.outputs]
        return parts + (outputs if len(outputs) == 1 else ["(", *_separated(outputs), ")"])

    def parameter(self, parameter: ast.Parameter) -> list:
        parts: list = [f"{parameter.name}: "]
        parts.append((self.output, parameter.tensor) if parameter.tensor is not None else parameter.scalar)
        if parameter.default is not None:
            parts += [" = ", parameter.default]
        return parts

    def output(self, output) -> list:
        if isinstance(output, ast.TensorList):
            return ["list"]
        return [output.dtype or "", "[", *_separated(output.dims), "]"]

    def statement(self, statement) -> list:
        if isinstance(statement, ast.Assign):
            return [", ".join(statement.targets) + " = ", statement.value]
        if isinstance(statement, ast.Return):
            return ["return ", *_separated(statement.values)]
        if isinstance(statement, ast.Repeat):
            return ["repeat ", statement.count, *self.body(" {", statement.span, statement.body, self.statement)]
        if isinstance(statement, ast.For):
            variables = ", ".join(statement.variables or (statement.variable,))
            head = [f"for {variables} in ", statement.iterable]
            return head + self.body(" {", statement.span, statement.body, self.statement)
        return self.conditional(statement)

    def conditional(self, statement: ast.If) -> list:
        """``if c { } else if d { } else { }``."""
        parts = ["if ", statement.condition]
        if statement.else_span is None:
            return parts + self.body(" {", statement.span, statement.body, self.statement)
        orelse, else_line = statement.orelse, statement.else_span.line
        parts += self.body(" {", statement.span, statement.body, self.statement, close_line=else_line)
        parts.append(" else ")
        if len(orelse) == 1 and isinstance(orelse[0], ast.If) and orelse[0].span.line == else_line:
            return parts + [(self.conditional, orelse[0])]
        return parts + self.body("{", statement.else_span, orelse, self.statement, close_line=statement.span.end_line)

    # ------------------------------------------------------------ expressions

    def expression(self, node) -> list:
        kind = type(node)
        if kind is ast.Number:
            return [node.text]
        if kind is ast.String:
            return [quote(node.value)]
        if kind is ast.Bool:
            return ["true" if node.value else "false"]
        if kind is ast.Name:
            return [node.name]
        if kind is ast.Attribute:
            return _wrapped(node.base, precedence(node.base) < _ATOM) + [f".{node.name}"]
        if kind is ast.Index:
            return _wrapped(node.base, precedence(node.base) < _ATOM) + ["[", node.index, "]"]
        if kind is ast.BinaryOp:
            return self.binary(node)
        if kind is ast.UnaryOp:
            return self.unary(node)
        if kind is ast.Call:
            arguments = node.args + node.kwargs
            spread = _multiline(node)
            return [node.function] + self.sequence(
                "(", arguments, ")", self.argument, spread, node.span.line, node.span.end_line
            )
        if kind is ast.List:
            return self.sequence("[", node.items, "]", None, _multiline(node), node.span.line, node.span.end_line)
        return self.mapping(node)

    def binary(self, node: ast.BinaryOp) -> list:
        strength = _PRECEDENCE[node.op]
        left, right = precedence(node.left), precedence(node.right)
        if node.op == "**":
            wrap_left, wrap_right = left < _ATOM, right < _PRECEDENCE["unary"]
        elif strength == _COMPARISON:
            wrap_left, wrap_right = left <= strength, right <= strength
        else:
            wrap_left, wrap_right = left < strength, right <= strength
        return _wrapped(node.left, wrap_left) + [f" {node.op} "] + _wrapped(node.right, wrap_right)

    def unary(self, node: ast.UnaryOp) -> list:
        if node.op == "not":
            return ["not "] + _wrapped(node.operand, precedence(node.operand) < _PRECEDENCE["not"])
        nested_sign = isinstance(node.operand, ast.UnaryOp) and node.operand.op != "not"
        sign = node.op + (" " if nested_sign else "")  # `- -x`: no parentheses, no `--`
        return [sign] + _wrapped(node.operand, precedence(node.operand) < _PRECEDENCE["unary"])

    def argument(self, argument) -> list:
        if isinstance(argument, ast.Keyword):
            return [f"{argument.name} = ", argument.value]
        return [argument]

    def mapping(self, node: ast.Mapping) -> list:
        if not node.entries:
            return ["{}"]
        if not _multiline(node):
            entries = [(self.section_element, entry) for entry in node.entries]
            return ["{ ", *_separated(entries), " }"]
        return self.body("{", node.span, node.entries, self.section_element)

    def sequence(self, opening, items, closing, write_item, spread, open_line, close_line) -> list:
        """``(a, b)`` on one line, or one item per line with trailing commas. ``write_item``
        None: the items are expressions."""
        written = list(items) if write_item is None else [(write_item, item) for item in items]
        if not spread or not items:
            return [opening, *_separated(written), closing]
        parts: list = [(self.open, opening, open_line, items[0].span.line)]
        for index, item in enumerate(items):
            parts += [
                (self.begin, item.span),
                written[index],
                ",",
                (self.end, item.span, close_line, _next_start(items, index)),
            ]
        parts.append((self.close, closing, close_line))
        return parts
