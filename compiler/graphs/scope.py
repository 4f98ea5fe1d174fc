"""Lowering of graph statements and expressions inside one ModuleDef (a ``Scope``).

A scope is the body of one monomorphised block, model or repeat body. It binds names to
values (``graphs_values``), emits single-assignment ``ir.Statement``s, and counts the
sub-modules it creates (``linear_0``, ``film_mlp_0``, ``repeat_0``). A repeat body is a child
scope: tensors it reads from the enclosing scope become its inputs (*captures*), those it
assigns and that existed before are fed back from one repetition to the next.
"""

from __future__ import annotations

import builtins
import keyword

from specc.compiler import ir
from specc.dsl.diagnostics import did_you_mean
from specc.compiler.graphs.arithmetic import binary, unary
from specc.compiler.graphs.blocks import lower_repeat
from specc.compiler.graphs.calls import MAX_REPEAT, call
from specc.compiler.vocabulary.shape_rules import ParameterReference, TensorInfo
from specc.compiler.graphs.values import (
    MISSING, POISON, RESERVED, GraphError, Several, Tensor, TensorList, Unavailable, assigned_names, describe, ir_type,
    origin,
)
from specc.dsl import ast

_AVOID = RESERVED | frozenset(dir(builtins)) | frozenset(keyword.kwlist)


class Scope:
    """The body of one ModuleDef being lowered: bindings, statements, sub-modules."""

    def __init__(self, program, class_name: str, source: str, parent: "Scope | None" = None):
        self.program = program
        self.class_name = class_name
        self.source = source
        self.parent = parent
        self.env: dict = {}
        self.roles: dict[str, str] = {}  # input, hyper, dim, loop, local
        self.used: set[str] = set()
        self.next_suffix: dict[str, int] = {}  # fresh(): suffixes below it are all taken
        self.loop_runs = 1  # how many times the enclosing `for` loops run what is being lowered
        self.counters: dict[str, int] = {}
        self.submodules: list = []
        self.body: list[ir.Statement] = []
        self.inputs: list[tuple[str, TensorInfo]] = []
        self.captures: list[tuple[str, Tensor]] = []  # (input ref, tensor of the parent)
        # value ref -> (attribute, layer name, {parameter: shape}) of the layer that returned it
        self.layer_outputs: dict[str, tuple[str, str, dict]] = {}
        self.all_assigned: set[str] = set(parent.all_assigned) if parent else set()
        self.returns: list | None = None
        self.failed = False

    # ------------------------------------------------------------------ bookkeeping

    def report(self, error: GraphError) -> None:
        if error.diagnostic is not None:
            self.program.diagnostics.append(error.diagnostic)
        self.mark_failed()

    def mark_failed(self) -> None:
        scope = self
        while scope is not None:
            scope.failed = True
            scope = scope.parent

    def fresh(self, base: str) -> str:
        """A value name not used yet in this scope: ``base``, ``base_1``, ``base_2``...

        Names are never released, so the search for ``base`` resumes where the last one
        ended: a graph that assigns ``h`` n times costs n steps, not n * n / 2."""
        index = self.next_suffix.get(base, 0)
        name = f"{base}_{index}" if index else base
        while name in self.used or name in _AVOID:
            index += 1
            name = f"{base}_{index}"
        self.next_suffix[base] = index
        self.used.add(name)
        return name

    def attribute(self, kind: str) -> str:
        index = self.counters.get(kind, 0)
        self.counters[kind] = index + 1
        return f"{kind}_{index}"

    def add_input(self, name: str, info: TensorInfo, role: str = "input") -> Tensor:
        """A tensor input keeps its spec name (it is the module's interface)."""
        if name in self.used or name in RESERVED:
            ref = self.fresh(name)
        else:
            ref = name
            self.used.add(name)
        tensor = Tensor(ref, info)
        self.inputs.append((tensor.ref, info))
        self.env[name] = tensor
        self.roles[name] = role
        return tensor

    def emit(self, call: str, function: str, inputs, infos, hints, span, arguments=(), attribute=None) -> list[Tensor]:
        tensors = [Tensor(self.fresh(hint), info) for hint, info in zip(hints, infos)]
        self.body.append(ir.Statement(
            targets=tuple(t.ref for t in tensors), call=call, function=function, inputs=tuple(inputs),
            arguments=tuple(sorted(arguments)), attribute=attribute,
            types=tuple(ir_type(info) for info in infos), origin=origin(span)))
        return tensors

    # ------------------------------------------------------------------ names

    def find(self, name: str):
        """The value of ``name`` here or in an enclosing scope (a tensor of the enclosing
        scope becomes an input of this one), or MISSING."""
        if name in self.env:
            return self.env[name]
        if self.parent is not None:
            value = self.parent.find(name)
            if isinstance(value, Tensor):
                value = self._capture(name, value)
            elif isinstance(value, TensorList):
                value = TensorList(tuple(self._capture(f"{name}_{index}", item) for index, item in enumerate(value.items)))
            else:
                return value
            self.env[name] = value
            self.roles[name] = "input"
            return value
        return self.program.constants.get(name, MISSING)

    def _capture(self, name: str, tensor: Tensor) -> Tensor:
        """A tensor of the enclosing scope, made an input of this one."""
        captured = Tensor(self.fresh(name), tensor.info)
        self.captures.append((captured.ref, tensor))
        self.inputs.append((captured.ref, tensor.info))
        return captured

    def role(self, name: str) -> str | None:
        scope = self
        while scope is not None:
            if name in scope.roles:
                return scope.roles[name]
            scope = scope.parent
        return None

    def lookup(self, name: str, span):
        value = self.find(name)
        if value is not MISSING:
            return value
        if name in self.all_assigned:
            raise GraphError("E0604", f"`{name}` is used before it is assigned", span)
        raise GraphError("E0603", f"undefined name `{name}`", span, did_you_mean(name, self.visible_names()))

    def visible_names(self) -> set[str]:
        names = {name for name in self.program.constants if "." not in name}
        scope = self
        while scope is not None:
            names.update(scope.env)
            scope = scope.parent
        return names

    def bind(self, name: str, value, span) -> None:
        role = self.role(name)
        if role in ("hyper", "dim", "loop"):
            word = {"hyper": "hyperparameter", "dim": "dimension", "loop": "loop variable"}[role]
            raise GraphError("E0605", f"cannot assign to the {word} `{name}`", span,
                             "hyperparameters, dimensions and loop variables are fixed at compile time; use a new name")
        self.env[name] = value
        self.roles[name] = "local"

    # ------------------------------------------------------------------ statements

    def lower(self, statements) -> None:
        for statement in statements:
            if self.returns is not None:
                self.report(GraphError("E0613", "unreachable statement after `return`", statement.span))
                return
            try:
                self.statement(statement)
            except GraphError as error:
                self.report(error)
                for name in assigned_names([statement]):
                    if self.role(name) not in ("hyper", "dim", "loop"):
                        self.env[name] = POISON

    def statement(self, statement) -> None:
        if isinstance(statement, ast.Assign):
            self.assign(statement)
        elif isinstance(statement, ast.Return):
            self.return_(statement)
        elif isinstance(statement, ast.Repeat):
            lower_repeat(self, statement)
        elif isinstance(statement, ast.For):
            self.for_(statement)
        elif isinstance(statement, ast.If):
            self.if_(statement)

    def assign(self, statement: ast.Assign) -> None:
        value = self.evaluate(statement.value, statement.targets)
        targets = statement.targets
        if len(targets) == 1:
            if isinstance(value, Several):
                raise GraphError("E0615", f"the call returns {len(value.values)} values; unpack them into as many names",
                                 statement.span)
            self.bind(targets[0], value, statement.target_spans[0])
            return
        if value is POISON:
            items = (POISON,) * len(targets)
        elif isinstance(value, (Several, TensorList, tuple)):
            items = value.values if isinstance(value, Several) else value.items if isinstance(value, TensorList) else value
        else:
            raise GraphError("E0615", f"cannot unpack {describe(value)} into {len(targets)} names", statement.span)
        if len(items) != len(targets):
            raise GraphError("E0615", f"cannot unpack {len(items)} values into {len(targets)} names", statement.span)
        for name, item, span in zip(targets, items, statement.target_spans):
            self.bind(name, item, span)

    def return_(self, statement: ast.Return) -> None:
        if self.parent is not None:
            raise GraphError("E0613", "`return` inside a repeat body", statement.span,
                             "a repeat body updates the names it assigns; return after the repeat")
        returns = []
        for expr in statement.values:
            value = self.evaluate(expr)
            returns.extend((item, expr) for item in (value.values if isinstance(value, Several) else (value,)))
        self.returns = returns  # ``return block_with_two_outputs(x)`` returns both

    def for_(self, statement: ast.For) -> None:
        iterable = self.evaluate(statement.iterable)
        if iterable is POISON:
            return
        if not isinstance(iterable, (tuple, TensorList)):
            raise GraphError("E0612", f"`for` needs a list known at compile time, got {describe(iterable)}",
                             statement.iterable.span)
        variables = statement.variables or (statement.variable,)
        for variable in variables:
            if self.role(variable) in ("hyper", "dim", "input"):
                hidden = {"hyper": "a hyperparameter", "dim": "a dimension", "input": "an input"}[self.role(variable)]
                raise GraphError("E0605", f"the loop variable `{variable}` hides {hidden} "
                                 "of the same name", statement.span)
        items = iterable.items if isinstance(iterable, TensorList) else iterable
        if len(variables) > 1:
            items = [self._unpacked(item, len(variables), statement.iterable.span) for item in items]
        enclosing = self.loop_runs
        if enclosing * len(items) > MAX_REPEAT:
            raise GraphError("E0611", f"nested `for` loops run this body {enclosing * len(items):,} times, more than "
                             f"the limit of {MAX_REPEAT:,}", statement.span, "a `for` is unrolled: use `repeat` for many copies")
        previous = {variable: (self.env.get(variable, MISSING), self.roles.get(variable)) for variable in variables}
        self.loop_runs = enclosing * len(items)
        try:
            for item in items:
                for variable, value in zip(variables, item if len(variables) > 1 else (item,)):
                    self.env[variable] = value
                    self.roles[variable] = "loop"
                self.lower(statement.body)
        finally:
            self.loop_runs = enclosing
        for variable, (value, role) in previous.items():
            if value is MISSING:
                self.env.pop(variable, None)
                self.roles.pop(variable, None)
            else:
                self.env[variable], self.roles[variable] = value, role

    @staticmethod
    def _unpacked(item, count: int, span) -> tuple:
        """One element of a ``for a, b in ...`` list: a list (a ``zip`` pair) of ``count`` items."""
        values = item.items if isinstance(item, TensorList) else item
        if not isinstance(values, tuple):
            raise GraphError("E0615", f"`for` cannot unpack {describe(item)} into {count} names", span)
        if len(values) != count:
            raise GraphError("E0615", f"`for` cannot unpack {len(values)} values into {count} names", span)
        return values

    def if_(self, statement: ast.If) -> None:
        condition = self.evaluate(statement.condition)
        if condition is POISON:
            return
        if not isinstance(condition, bool):
            raise GraphError("E0612", f"the condition of `if` must be a boolean known at compile time, got {describe(condition)}",
                             statement.condition.span)
        self.lower(statement.body if condition else statement.orelse)

    # ------------------------------------------------------------------ expressions

    def evaluate(self, expr, hints=None):
        if isinstance(expr, (ast.Number, ast.String, ast.Bool)):
            return expr.value
        if isinstance(expr, ast.Name):
            return self.lookup(expr.name, expr.span)
        if isinstance(expr, ast.Attribute):
            return self.reference(expr)
        if isinstance(expr, ast.List):
            return self.list_(expr)
        if isinstance(expr, ast.Index):
            return self.index(expr)
        if isinstance(expr, ast.BinaryOp):
            return binary(self, expr, hints)
        if isinstance(expr, ast.UnaryOp):
            return unary(self, expr, hints)
        if isinstance(expr, ast.Call):
            return call(self, expr, hints)
        raise GraphError("E0609", "a mapping cannot be used in a graph", expr.span)

    def word(self, expr):
        """Evaluate an expression in a slot that takes a word: an unbound bare name is
        the word itself (``padding_mode = reflect``)."""
        if isinstance(expr, ast.Name) and self.find(expr.name) is MISSING:
            return expr.name
        return self.evaluate(expr)

    def reference(self, expr: ast.Attribute):
        parts = []
        node = expr
        while isinstance(node, ast.Attribute):
            parts.append(node.name)
            node = node.base
        if not isinstance(node, ast.Name):
            raise GraphError("E0609", "only references to constants (`data.k`) can use `.`", expr.span)
        key = ".".join([node.name] + list(reversed(parts)))
        if key in self.program.constants:
            value = self.program.constants[key]
            if isinstance(value, Unavailable):
                raise GraphError("E0603", f"`{key}` is not known at compile time: {value.reason}", expr.span)
            return value
        raise GraphError("E0603", f"unknown reference `{key}`", expr.span,
                         did_you_mean(key, [name for name in self.program.constants if "." in name]))

    def parameter_reference(self, expr, function: str, name: str) -> ParameterReference:
        """``wte.weight``: a parameter of the layer of this scope whose output ``wte`` is."""
        parts, node = [], expr
        while isinstance(node, ast.Attribute):
            parts.append(node.name)
            node = node.base
        example = f"`{name} = wte.weight`, `wte` the value a layer call returned"
        if not parts or not isinstance(node, ast.Name):
            raise GraphError("E0609", f"{function}: argument `{name}` must be a layer's parameter: {example}", expr.span)
        local, text = ".".join(reversed(parts)), ".".join([node.name] + list(reversed(parts)))
        value = self.env.get(node.name)
        produced = self.layer_outputs.get(value.ref) if isinstance(value, Tensor) else None
        if produced is None:
            raise GraphError("E0609", f"{function}: `{node.name}` is not the output of a layer called in this "
                             f"{'repeat body' if self.parent else 'model or block'}, so `{text}` names no parameter ({example})",
                             expr.span)
        attribute, layer, parameters = produced
        if local not in parameters:
            known = ", ".join(sorted(parameters)) or "none"
            raise GraphError("E0603", f"{function}: the {layer} that returned `{node.name}` has no parameter `{local}` "
                             f"(its parameters: {known})", expr.span, did_you_mean(local, sorted(parameters)))
        return ParameterReference(attribute, local, tuple(parameters[local]), text)

    def index(self, expr: ast.Index):
        """``channels[i]``: an element of a list known at compile time (of values or of
        tensors), the index an integer known at compile time; negative from the end."""
        base, position = self.evaluate(expr.base), self.evaluate(expr.index)
        if base is POISON or position is POISON:
            return POISON
        if not isinstance(base, (tuple, TensorList)):
            raise GraphError("E0609", f"cannot index {describe(base)}: `[i]` picks an element of a list", expr.base.span)
        if isinstance(position, bool) or not isinstance(position, int):
            raise GraphError("E0609", f"a list index must be an integer known at compile time, got {describe(position)}",
                             expr.index.span)
        items = base.items if isinstance(base, TensorList) else base
        if not -len(items) <= position < len(items):
            valid = f"0 to {len(items) - 1} or -{len(items)} to -1" if items else "none: the list is empty"
            raise GraphError("E0609", f"index {position} is out of range for a list of {len(items)} "
                             f"item{'s' * (len(items) != 1)} (valid: {valid})", expr.index.span)
        return items[position]

    def list_(self, expr: ast.List):
        items = tuple(self.word(item) for item in expr.items)
        if any(item is POISON for item in items):
            return POISON
        tensors = [isinstance(item, Tensor) for item in items]
        if items and all(tensors):
            return TensorList(items)
        if any(tensors) or any(isinstance(item, (TensorList, Several)) for item in items):
            raise GraphError("E0609", "a list holds either tensors or values known at compile time, not both", expr.span)
        return items
