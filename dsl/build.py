"""Builds AST nodes while the LALR parser reduces (lark's inline ``transformer=``).

The parser never builds a parse tree: each rule's callback below receives the rule's
children (tokens — every token is kept, punctuation included, so spans cover the whole
construct — and nodes already built) and returns an AST node. Nothing here recurses, so a
deeply nested input cannot overflow Python's stack; instead every node's nesting depth is
tracked and a node deeper than ``MAX_DEPTH`` stops the parse with ``NestingTooDeep``.

Problems that do not break the structure (a reserved name, a bad escape, a malformed
number) are recorded as diagnostics and the parse goes on, so all of them are reported.
"""

from __future__ import annotations

import dataclasses
import keyword

from lark import Token

from specc.dsl.diagnostics import Diagnostic, Span
from specc.dsl import ast
from specc.dsl.errors import stray_error
from specc.dsl.literals import read_number, read_string

MAX_DEPTH = 200
SCALAR_TYPES = ("int", "float", "bool", "str", "list")

# Binding strength (loosest first) and grouping of binary operators; prefix operators.
_BINARY = {
    "or": (1, "left"),
    "and": (2, "left"),
    "+": (5, "left"),
    "-": (5, "left"),
    "*": (6, "left"),
    "/": (6, "left"),
    "//": (6, "left"),
    "%": (6, "left"),
    "**": (8, "right"),
}
_BINARY.update({op: (4, "none") for op in ("==", "!=", "<", "<=", ">", ">=")})
_PREFIX = {"not": 3, "-": 7, "+": 7}
_NAME_HELP = {
    "True": "booleans are written `true` and `false`",
    "False": "booleans are written `true` and `false`",
    "None": "the language has no null value: leave the key out to get its default",
}


def _strength(operator, prefix: bool) -> int:
    return _PREFIX[str(operator)] if prefix else _BINARY[str(operator)][0]


def _continues_chain(left, operator: str) -> bool:
    """``left`` is the chain ``operator`` continues: ``(a + b) - c``, ``a * b / c`` (same
    binding strength, grouping to the left). Such a chain is flat however long it is."""
    strength, grouping = _BINARY[operator]
    return grouping == "left" and isinstance(left, ast.BinaryOp) and _BINARY[left.op][0] == strength


class NestingTooDeep(Exception):
    """Raised inside the parse when a node is nested more than MAX_DEPTH levels deep."""

    def __init__(self, span: Span, what: str):
        super().__init__(what)
        self.span = span
        self.what = what


class Header:
    """A ``spec``, ``language``, ``extends`` or ``import`` line before it is placed in the Module."""

    def __init__(self, kind: str, value, span: Span, value_span: Span):
        self.kind = kind
        self.value = value
        self.span = span
        self.value_span = value_span


class ElseClause:
    """The ``else`` part of an ``if`` (its statements, the ``else`` keyword's span)."""

    def __init__(self, body: tuple, span: Span, keyword: Span):
        self.body = body
        self.span = span
        self.keyword = keyword


def token_span(file: str, token: Token) -> Span:
    return Span(file, token.line, token.column, token.end_line, token.end_column)


def _start(item) -> tuple[int, int]:
    if isinstance(item, Token):
        return item.line, item.column
    return item.span.line, item.span.column


def _end(item) -> tuple[int, int]:
    if isinstance(item, Token):
        return item.end_line, item.end_column
    return item.span.end_line, item.span.end_column


def _nodes(children) -> list:
    return [child for child in children if not isinstance(child, Token)]


def _is_token(child, text: str) -> bool:
    return isinstance(child, Token) and child == text


def _between(children, opening: str, closing: str) -> list:
    """The nodes after the first ``opening`` token and before the last ``closing`` one."""
    start = next(i for i, c in enumerate(children) if isinstance(c, Token) and c == opening)
    stop = max(i for i, c in enumerate(children) if isinstance(c, Token) and c == closing)
    return _nodes(children[start + 1 : stop])


class AstBuilder:
    """The lark inline transformer. ``reset`` before every parse (the parser is shared)."""

    def __init__(self):
        self.reset("<input>")

    def reset(self, file: str) -> None:
        self.file = file
        self.diagnostics: list[Diagnostic] = []
        self.comments: list[ast.Comment] = []
        # id(node) -> (depth, node); holding the node keeps its id from being reused
        self._depth: dict[int, tuple[int, object]] = {}

    # ------------------------------------------------------------ helpers

    def span(self, children) -> Span:
        (line, column), (end_line, end_column) = _start(children[0]), _end(children[-1])
        return Span(self.file, line, column, end_line, end_column)

    def error(self, code: str, message: str, span: Span, help: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, message, span, help=help))

    def nested(self, node, inner, what: str, chained=None):
        """Record ``node``'s depth (1 + the deepest of ``inner``, and at least the depth of
        ``chained``: the left operand of a left-associative chain such as ``a + b + c``,
        which continues the chain instead of nesting in it); stop past MAX_DEPTH."""
        depth = 1 + max((self.depth(child) for child in inner), default=0)
        if chained is not None:
            depth = max(depth, self.depth(chained))
        if depth > 1:
            if depth > MAX_DEPTH:
                raise NestingTooDeep(node.span, what)
            self._depth[id(node)] = (depth, node)
        return node

    def depth(self, node) -> int:
        known = self._depth.get(id(node))
        return 1 if known is None else known[0]

    # ------------------------------------------------------------ lexer callbacks

    def check_name(self, token: Token) -> Token:
        name = str(token)
        if keyword.iskeyword(name) or name.startswith("__"):
            reason = (
                "it is a Python keyword"
                if keyword.iskeyword(name)
                else "names starting with `__` are reserved"
            )
            self.error(
                "E0110",
                f"`{name}` cannot be used as a name: {reason}",
                token_span(self.file, token),
                _NAME_HELP.get(name, "choose another name"),
            )
        return token

    def stray(self, character: str, line: int, column: int) -> None:
        self.diagnostics.append(stray_error(character, self.file, line, column))

    def comment(self, token: Token) -> Token:
        text = str(token).rstrip()
        self.comments.append(ast.Comment(token_span(self.file, token), text))
        return token

    # ------------------------------------------------------------ top level

    def start(self, children):
        return children

    def spec_line(self, children):
        return Header("spec", str(children[1]), self.span(children), token_span(self.file, children[1]))

    def language_line(self, children):
        number = self.number([children[1]])
        return Header("language", number.value, self.span(children), number.span)

    def import_stmt(self, children):
        path = self.string([children[1]])
        return Header("import", path.value, self.span(children), path.span)

    def extends_stmt(self, children):
        path = self.string([children[1]])
        return Header("extends", path.value, self.span(children), path.span)

    def let_stmt(self, children):
        name, value = children[1], children[3]
        node = ast.Let(self.span(children), str(name), token_span(self.file, name), value)
        return self.nested(node, [value], "expression")

    def section(self, children):
        head = children[: next(i for i, c in enumerate(children) if c == "{")]
        label = str(head[1]) if len(head) >= 3 and head[2] == ":" else None
        component = head[-1] if len(head) in (2, 4) else None
        body = tuple(_between(children, "{", "}"))
        where = " ".join(str(word) for word in head).replace(" :", ":")
        self._unique_keys(body, f"`{where}`")
        node = ast.Section(
            self.span(children),
            kind=str(head[0]),
            name=label,
            component=str(component) if component is not None else None,
            component_span=token_span(self.file, component) if component is not None else None,
            body=body,
        )
        return self.nested(node, body, "section")

    def entry(self, children):
        key, value = children[0], children[2]
        node = ast.Entry(self.span(children), str(key), token_span(self.file, key), value)
        return self.nested(node, [value], "expression")

    def _unique_keys(self, body, where: str) -> None:
        first: dict[str, ast.Entry] = {}
        for element in body:
            if not isinstance(element, ast.Entry):
                continue
            if element.key in first:
                earlier = first[element.key].key_span
                self.error(
                    "E0109",
                    f"`{element.key}` is given twice in {where}",
                    element.key_span,
                    f"remove one: the first is at line {earlier.line}, column {earlier.column}",
                )
            else:
                first[element.key] = element

    # ------------------------------------------------------------ blocks and models

    def _graph(self, node_class, children):
        name = children[1]
        closing = children.index(")")
        arrow = children.index("->")
        brace = next(i for i in range(arrow, len(children)) if children[i] == "{")
        parameters = tuple(_nodes(children[3:closing]))
        outputs = tuple(_nodes(children[arrow + 1 : brace]))
        body = tuple(_nodes(children[brace + 1 : -1]))
        node = node_class(
            self.span(children), str(name), token_span(self.file, name), parameters, outputs, body
        )
        return self.nested(node, body, "statement")

    def block(self, children):
        return self._graph(ast.Block, children)

    def model(self, children):
        return self._graph(ast.Model, children)

    def model_instance(self, children):
        name = children[1]
        call = self.call(children[3:]) if len(children) > 4 else self._bare_call(children[3])
        node = ast.ModelInstance(self.span(children), str(name), token_span(self.file, name), call)
        return self.nested(node, [call], "expression")

    def extern(self, children):
        name = children[1]
        closing = children.index(")")
        arrow = children.index("->")
        equals = max(index for index, child in enumerate(children) if _is_token(child, "="))
        parameters = tuple(_nodes(children[3:closing]))
        outputs = tuple(_nodes(children[arrow + 1 : equals]))
        value = children[-1]
        node = ast.Extern(self.span(children), str(name), token_span(self.file, name), parameters, outputs, value)
        return self.nested(node, parameters + (value,), "expression")

    def _bare_call(self, token: Token) -> ast.Call:
        span = token_span(self.file, token)
        return ast.Call(span, str(token), span, (), ())

    def parameter(self, children):
        name, kind = children[0], children[2]
        default = children[4] if len(children) > 4 else None
        tensor = kind if isinstance(kind, ast.TensorType) else None
        scalar = None if tensor is not None else str(kind)
        if scalar is not None and scalar not in SCALAR_TYPES:
            choices = ", ".join(f"`{t}`" for t in SCALAR_TYPES)
            self.error(
                "E0113",
                f"unknown parameter type `{scalar}`",
                token_span(self.file, kind),
                f"a parameter is a tensor (`[B, D]`, `f32[B, T, C]`) or one of {choices}",
            )
        node = ast.Parameter(self.span(children), str(name), tensor, scalar, default)
        return self.nested(node, [tensor, default] if default is not None else [tensor], "expression")

    def list_output(self, children):
        token = children[0]
        span = token_span(self.file, token)
        if token != "list":
            self.error(
                "E0113",
                f"unknown output type `{token}`",
                span,
                "an output is a tensor (`[B, D]`, `f32[B, 10]`) or `list` (a list of tensors)",
            )
        return ast.TensorList(span)

    def tensor_type(self, children):
        dtype = str(children[0]) if children[0] != "[" else None
        dims = tuple(_between(children, "[", "]"))
        return self.nested(ast.TensorType(self.span(children), dtype, dims), dims, "expression")

    # ------------------------------------------------------------ statements

    def assign(self, children):
        targets = [c for c in children[:-2] if c != ","]
        value = children[-1]
        node = ast.Assign(
            self.span(children),
            tuple(str(t) for t in targets),
            tuple(token_span(self.file, t) for t in targets),
            value,
        )
        return self.nested(node, [value], "expression")

    def return_stmt(self, children):
        values = tuple(_nodes(children))
        return self.nested(ast.Return(self.span(children), values), values, "expression")

    def repeat_stmt(self, children):
        count, body = children[1], tuple(_between(children, "{", "}"))
        node = ast.Repeat(self.span(children), count, body)
        return self.nested(node, (count,) + body, "statement")

    def for_stmt(self, children):
        position = next(index for index, child in enumerate(children) if _is_token(child, "in"))
        variables = tuple(str(child) for child in children[1:position] if not _is_token(child, ","))
        iterable = children[position + 1]
        body = tuple(_between(children, "{", "}"))
        node = ast.For(self.span(children), variables[0], iterable, body, variables)
        return self.nested(node, (iterable,) + body, "statement")

    def if_stmt(self, children):
        condition, otherwise = children[1], children[-1]
        if isinstance(otherwise, ElseClause):
            body = tuple(_between(children[:-1], "{", "}"))
            node = ast.If(self.span(children), condition, body, otherwise.body, otherwise.keyword)
        else:
            body = tuple(_between(children, "{", "}"))
            node = ast.If(self.span(children), condition, body, ())
        return self.nested(node, (condition,) + body + node.orelse, "statement")

    def else_clause(self, children):
        keyword = token_span(self.file, children[0])
        if isinstance(children[1], ast.If):
            return ElseClause((children[1],), self.span(children), keyword)
        return ElseClause(tuple(_between(children, "{", "}")), self.span(children), keyword)

    # ------------------------------------------------------------ expressions

    def expr(self, children):
        """Prefix operators, operands and binary operators in a row -> one tree, by
        precedence (shunting-yard, no recursion). ``**`` groups to the right, comparisons do
        not chain, ``not`` cannot follow an operator that binds tighter than it."""
        operands: list = []
        operators: list[tuple[Token, bool]] = []  # (operator, is prefix)
        expect_operand, previous = True, None
        for child in children:
            if not isinstance(child, Token):
                operands.append(child)
                expect_operand = False
            elif expect_operand:
                if child == "not" and previous is not None and previous not in ("and", "or", "not"):
                    self.error(
                        "E0101",
                        f"expected an expression after `{previous}`, found `not`",
                        token_span(self.file, child),
                        "put `not ...` in parentheses",
                    )
                operators.append((child, True))
                previous = child
            else:
                self._reduce_before(child, operands, operators)
                operators.append((child, False))
                expect_operand, previous = True, child
        while operators:
            self._apply(operands, operators.pop())
        return operands[0]

    def _reduce_before(self, operator: Token, operands: list, operators: list) -> None:
        strength, grouping = _BINARY[str(operator)]
        while operators:
            top, prefix = operators[-1]
            top_strength = _strength(top, prefix)
            if top_strength == strength and grouping == "none" and not prefix:
                self.error(
                    "E0101",
                    f"comparisons do not chain: `{top}` and then `{operator}`",
                    token_span(self.file, operator),
                    "write `a < b and b < c`",
                )
            if top_strength > strength or (top_strength == strength and grouping != "right"):
                self._apply(operands, operators.pop())
            else:
                return

    def _apply(self, operands: list, operator: tuple[Token, bool]) -> None:
        token, prefix = operator
        right = operands.pop()
        if prefix:
            span = Span(self.file, token.line, token.column, right.span.end_line, right.span.end_column)
            node = ast.UnaryOp(span, str(token), right)
            operands.append(self.nested(node, (right,), "expression"))
            return
        left = operands.pop()
        span = Span(self.file, left.span.line, left.span.column, right.span.end_line, right.span.end_column)
        node = ast.BinaryOp(span, str(token), left, right)
        if _continues_chain(left, str(token)):
            operands.append(self.nested(node, (right,), "expression", chained=left))
        else:
            operands.append(self.nested(node, (left, right), "expression"))

    def attribute(self, children):
        base, name = children[0], children[2]
        node = ast.Attribute(self.span(children), base, str(name))
        return self.nested(node, (base,), "expression")

    def index(self, children):
        base, index = children[0], children[2]
        node = ast.Index(self.span(children), base, index)
        return self.nested(node, (base, index), "expression")

    def call(self, children):
        function = children[0]
        arguments = _between(children, "(", ")") if len(children) > 3 else []
        args, kwargs, keyword_names = [], [], set()
        for argument in arguments:
            if isinstance(argument, ast.Keyword):
                if argument.name in keyword_names:
                    self.error("E0108", f"keyword argument `{argument.name}` given twice", argument.span)
                keyword_names.add(argument.name)
                kwargs.append(argument)
            elif kwargs:
                self.error(
                    "E0107",
                    "positional argument after a keyword argument",
                    argument.span,
                    "put positional arguments first",
                )
            else:
                args.append(argument)
        node = ast.Call(
            self.span(children), str(function), token_span(self.file, function), tuple(args), tuple(kwargs)
        )
        return self.nested(node, args + kwargs, "expression")

    def keyword(self, children):
        name, value = children[0], children[2]
        return self.nested(ast.Keyword(self.span(children), str(name), value), (value,), "expression")

    def number(self, children):
        number, problems = read_number(children[0], self.file)
        self.diagnostics.extend(problems)
        return number

    def string(self, children):
        string, problems = read_string(children[0], self.file)
        self.diagnostics.extend(problems)
        return string

    def true(self, children):
        return ast.Bool(token_span(self.file, children[0]), True)

    def false(self, children):
        return ast.Bool(token_span(self.file, children[0]), False)

    def name(self, children):
        return ast.Name(token_span(self.file, children[0]), str(children[0]))

    def list(self, children):
        items = tuple(_nodes(children))
        return self.nested(ast.List(self.span(children), items), items, "expression")

    def mapping(self, children):
        entries = tuple(_nodes(children))
        self._unique_keys(entries, "this mapping")
        return self.nested(ast.Mapping(self.span(children), entries), entries, "expression")

    def parenthesized(self, children):
        """``( expr )``: the inner node, its span widened to the parentheses, one level deeper."""
        inner = children[1]
        depth = self.depth(inner) + 1
        node = dataclasses.replace(inner, span=self.span(children))
        if depth > MAX_DEPTH:
            raise NestingTooDeep(node.span, "expression")
        self._depth[id(node)] = (depth, node)
        return node
