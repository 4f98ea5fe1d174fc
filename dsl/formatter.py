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
"""

from __future__ import annotations

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
    printer.module(module)
    return printer.text()


def quote(value: str) -> str:
    """A string literal that reads back as ``value``."""
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


class _Printer:
    """Writes lines; places comments and blank lines by the source lines of the elements."""

    def __init__(self, comments):
        self.lines: list[str] = []
        self.current = ""
        self.indent = 0
        self.pending = list(comments)
        self.previous_end: int | None = None
        self.starts: list[tuple[int, int]] = []  # (first output line, indent) of open elements

    def text(self) -> str:
        self.flush_before(float("inf"))
        while self.lines and not self.lines[-1]:
            self.lines.pop()
        return "\n".join(self.lines) + "\n"

    # ------------------------------------------------------------ lines and comments

    def gap(self, line: int) -> None:
        if self.previous_end is not None and line > self.previous_end + 1:
            self.lines.append("")

    def flush_before(self, line) -> None:
        """Own-line comments that come before source line ``line``."""
        while self.pending and self.pending[0].span.line < line:
            comment = self.pending.pop(0)
            self.gap(comment.span.line)
            self.lines.append(INDENT * self.indent + comment.text)
            self.previous_end = comment.span.line

    def begin(self, span) -> None:
        """Start a line-level element: comments before it, a kept blank line, the indent."""
        self.flush_before(span.line)
        self.gap(span.line)
        self.starts.append((len(self.lines), self.indent))
        self.current = INDENT * self.indent

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
                    self.current += "  " + self.pending.pop(index).text
                    break
        self.lines.append(self.current)
        self.current = ""
        self.previous_end = line
        first_line, indent = self.starts.pop()
        inside = 0
        while inside < len(self.pending) and self.pending[inside].span.line < line:
            inside += 1
        if inside:
            moved = [INDENT * indent + comment.text for comment in self.pending[:inside]]
            del self.pending[:inside]
            self.lines[first_line:first_line] = moved

    def open(self, text: str, open_line: int, first_child_line: int | None) -> None:
        """End a line with an opening bracket; keep a comment that trailed that bracket."""
        self.current += text
        if self.pending and self.pending[0].span.line == open_line:
            if first_child_line is None or first_child_line > open_line:
                self.current += "  " + self.pending.pop(0).text
        self.lines.append(self.current)
        self.current = ""
        self.previous_end = None
        self.indent += 1

    def close(self, text: str, close_line: int) -> None:
        """Comments left inside the brackets, then the closing bracket's line."""
        self.flush_before(close_line)
        self.indent -= 1
        self.current = INDENT * self.indent + text

    def write(self, text: str) -> None:
        self.current += text

    # ------------------------------------------------------------ top level

    def module(self, module: ast.Module) -> None:
        elements = []
        if module.spec_name is not None:
            elements.append(("spec", module.spec_span))
        if module.language is not None:
            elements.append(("language", module.language_span))
        elements += [(item, item.span) for item in module.imports + module.items]
        for kind, span in elements:
            self.begin(span)
            if kind == "spec":
                self.write(f"spec {module.spec_name}")
            elif kind == "language":
                self.write(f"language {module.language}")
            else:
                self.item(kind)
            self.end(span, None, None)

    def item(self, item) -> None:
        if isinstance(item, ast.Import):
            self.write(f"import {quote(item.path)}")
        elif isinstance(item, ast.Let):
            self.write(f"let {item.name} = ")
            self.expression(item.value)
        elif isinstance(item, ast.Section):
            self.section(item)
        elif isinstance(item, ast.ModelInstance):
            self.write(f"model {item.name} = ")
            self.expression(item.call)
        else:
            self.graph(item)

    def section(self, section: ast.Section) -> None:
        head = section.kind
        if section.name is not None:
            head += f" {section.name}:"
        if section.component is not None:
            head += f" {section.component}"
        self.body(head + " {", section.span, section.body, self.section_element)

    def section_element(self, element) -> None:
        if isinstance(element, ast.Section):
            self.section(element)
        else:
            self.write(f"{element.key} = ")
            self.expression(element.value)

    def body(self, header: str, span, elements, write_element, close_line: int | None = None) -> None:
        """``header`` then one element per line and ``}``; ``header}`` when empty."""
        close_line = span.end_line if close_line is None else close_line
        if not elements:
            self.write(header + "}")
            return
        self.open(header, span.line, elements[0].span.line)
        for index, element in enumerate(elements):
            self.begin(element.span)
            write_element(element)
            self.end(element.span, close_line, _next_start(elements, index))
        self.close("}", close_line)

    # ------------------------------------------------------------ blocks, models, statements

    def graph(self, graph) -> None:
        keyword = "block" if isinstance(graph, ast.Block) else "model"
        self.write(f"{keyword} {graph.name}")
        parameters = graph.parameters
        spread = any(p.span.line != graph.span.line for p in parameters)
        close_line = parameters[-1].span.end_line + 1 if parameters else graph.span.line
        self.sequence("(", parameters, ")", self.parameter, spread, graph.span.line, close_line)
        self.write(" -> ")
        if len(graph.outputs) == 1:
            self.output(graph.outputs[0])
        else:
            self.write("(")
            for index, output in enumerate(graph.outputs):
                self.write(", " if index else "")
                self.output(output)
            self.write(")")
        self.body(" {", graph.span, graph.body, self.statement)

    def parameter(self, parameter: ast.Parameter) -> None:
        self.write(f"{parameter.name}: ")
        if parameter.tensor is not None:
            self.output(parameter.tensor)
        else:
            self.write(parameter.scalar)
        if parameter.default is not None:
            self.write(" = ")
            self.expression(parameter.default)

    def output(self, output) -> None:
        if isinstance(output, ast.TensorList):
            self.write("list")
            return
        self.write(output.dtype or "")
        self.write("[")
        for index, dim in enumerate(output.dims):
            self.write(", " if index else "")
            self.expression(dim)
        self.write("]")

    def statement(self, statement) -> None:
        if isinstance(statement, ast.Assign):
            self.write(", ".join(statement.targets) + " = ")
            self.expression(statement.value)
        elif isinstance(statement, ast.Return):
            self.write("return ")
            self.expressions(statement.values)
        elif isinstance(statement, ast.Repeat):
            self.write("repeat ")
            self.expression(statement.count)
            self.body(" {", statement.span, statement.body, self.statement)
        elif isinstance(statement, ast.For):
            self.write(f"for {statement.variable} in ")
            self.expression(statement.iterable)
            self.body(" {", statement.span, statement.body, self.statement)
        else:
            self.conditional(statement)

    def conditional(self, statement: ast.If) -> None:
        """``if c { } else if d { } else { }``."""
        self.write("if ")
        self.expression(statement.condition)
        if statement.else_span is None:
            self.body(" {", statement.span, statement.body, self.statement)
            return
        orelse, else_line = statement.orelse, statement.else_span.line
        self.body(" {", statement.span, statement.body, self.statement, close_line=else_line)
        self.write(" else ")
        if len(orelse) == 1 and isinstance(orelse[0], ast.If) and orelse[0].span.line == else_line:
            self.conditional(orelse[0])
        else:
            self.body("{", statement.else_span, orelse, self.statement, close_line=statement.span.end_line)

    # ------------------------------------------------------------ expressions

    def expressions(self, values) -> None:
        for index, value in enumerate(values):
            self.write(", " if index else "")
            self.expression(value)

    def expression(self, node) -> None:
        kind = type(node)
        if kind is ast.Number:
            self.write(node.text)
        elif kind is ast.String:
            self.write(quote(node.value))
        elif kind is ast.Bool:
            self.write("true" if node.value else "false")
        elif kind is ast.Name:
            self.write(node.name)
        elif kind is ast.Attribute:
            self.operand(node.base, precedence(node.base) < _ATOM)
            self.write(f".{node.name}")
        elif kind is ast.BinaryOp:
            self.binary(node)
        elif kind is ast.UnaryOp:
            self.unary(node)
        elif kind is ast.Call:
            self.call(node)
        elif kind is ast.List:
            self.sequence(
                "[", node.items, "]", self.expression, _multiline(node), node.span.line, node.span.end_line
            )
        else:
            self.mapping(node)

    def operand(self, node, wrap: bool) -> None:
        self.write("(" if wrap else "")
        self.expression(node)
        self.write(")" if wrap else "")

    def binary(self, node: ast.BinaryOp) -> None:
        strength = _PRECEDENCE[node.op]
        left, right = precedence(node.left), precedence(node.right)
        if node.op == "**":
            wrap_left, wrap_right = left < _ATOM, right < _PRECEDENCE["unary"]
        elif strength == _COMPARISON:
            wrap_left, wrap_right = left <= strength, right <= strength
        else:
            wrap_left, wrap_right = left < strength, right <= strength
        self.operand(node.left, wrap_left)
        self.write(f" {node.op} ")
        self.operand(node.right, wrap_right)

    def unary(self, node: ast.UnaryOp) -> None:
        if node.op == "not":
            self.write("not ")
            self.operand(node.operand, precedence(node.operand) < _PRECEDENCE["not"])
            return
        nested_sign = isinstance(node.operand, ast.UnaryOp) and node.operand.op != "not"
        self.write(node.op + (" " if nested_sign else ""))  # `- -x`: no parentheses, no `--`
        self.operand(node.operand, precedence(node.operand) < _PRECEDENCE["unary"])

    def call(self, node: ast.Call) -> None:
        self.write(node.function)
        arguments = node.args + node.kwargs
        self.sequence(
            "(", arguments, ")", self.argument, _multiline(node), node.span.line, node.span.end_line
        )

    def argument(self, argument) -> None:
        if isinstance(argument, ast.Keyword):
            self.write(f"{argument.name} = ")
            argument = argument.value
        self.expression(argument)

    def mapping(self, node: ast.Mapping) -> None:
        if not node.entries:
            self.write("{}")
        elif not _multiline(node):
            self.write("{ ")
            for index, entry in enumerate(node.entries):
                self.write(", " if index else "")
                self.section_element(entry)
            self.write(" }")
        else:
            self.body("{", node.span, node.entries, self.section_element)

    def sequence(self, opening, items, closing, write_item, spread, open_line, close_line) -> None:
        """``(a, b)`` on one line, or one item per line with trailing commas."""
        if not spread or not items:
            self.write(opening)
            for index, item in enumerate(items):
                self.write(", " if index else "")
                write_item(item)
            self.write(closing)
            return
        self.open(opening, open_line, items[0].span.line)
        for index, item in enumerate(items):
            self.begin(item.span)
            write_item(item)
            self.write(",")
            self.end(item.span, close_line, _next_start(items, index))
        self.close(closing, close_line)
