"""Spec strings and names that try to break out of the generated code."""

from __future__ import annotations

import ast
import dataclasses

import pytest

from specc.compiler import ir
from specc.compiler.emit import render as emit
from specc.compiler.emit.filters import EmitError
from tests.backends import fixtures
from tests.backends.test_emit import BACKENDS

HOSTILE = [
    "x'); __import__('os').system('echo pwned') #",
    'x"""; __import__("os").system("echo pwned"); """',
    "line\n__import__('os').system('echo pwned')",
    "# comment\r\nimport os",
    "\\",
    "\u202e__import__('os')",
    "\u0430ttack",  # Cyrillic a
    "{{ 7 * 7 }}{% raw %}",
]


def hostile_program(text: str) -> ir.Program:
    program = fixtures.digits_program()
    data = dataclasses.replace(
        program.data, source=ir.Component("digits", (("path_note", text), ("val_fraction", 0.1)))
    )
    checkpoint = dataclasses.replace(program.train.checkpoint, monitor=text)
    train = dataclasses.replace(program.train, checkpoint=checkpoint, freeze=(text,))
    module = program.models[0].modules[0]
    module = dataclasses.replace(module, source=text, origin=text)
    graph = dataclasses.replace(program.models[0], modules=(module,))
    return dataclasses.replace(
        program,
        spec_name=text,
        spec_path=text,
        spec_hash=text,
        resolved_source=text,
        data=data,
        train=train,
        models=(graph,),
        provenance=(ir.Provenance("optimizer.lr", text), ir.Provenance("data.batch_size", text)),
    )


def names_in_code(tree) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
    return found


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_stay_data(backend, text, capfd):
    source = emit.render(hostile_program(text), backend)
    tree = ast.parse(source)
    names = names_in_code(tree)
    assert "__import__" not in names and "system" not in names
    constants = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)]
    assert text in constants  # the string survives exactly, as a string
    namespace = {"__name__": "generated_script", "__file__": "generated_script.py"}
    exec(compile(tree, "generated_script.py", "exec"), namespace)  # noqa: S102 - defining, not running main
    assert namespace["SPEC_NAME"] == text
    assert "pwned" not in capfd.readouterr().out


@pytest.mark.parametrize(
    "name", ["__import__", "os.system", "x; y", "class", "\u0430", "a\nb", "__dict__", "x)", "1x"]
)
def test_hostile_names_are_refused(name):
    program = fixtures.digits_program()
    module = program.models[0].modules[0]
    layer = dataclasses.replace(module.submodules[0], attribute=name)
    hostile_module = dataclasses.replace(module, submodules=(layer,) + module.submodules[1:])
    graph = dataclasses.replace(program.models[0], modules=(hostile_module,))
    with pytest.raises(EmitError):
        emit.render(dataclasses.replace(program, models=(graph,)), "jax")


def test_hostile_value_names_and_functions_are_refused():
    program = fixtures.digits_program()
    module = program.models[0].modules[0]
    for statement in (
        fixtures.op("h_1", "__import__", "h"),
        fixtures.op("__builtins__", "relu", "h"),
        fixtures.op("h_1", "relu", "h; import os"),
    ):
        body = (module.body[0], statement) + module.body[2:]
        graph = dataclasses.replace(program.models[0], modules=(dataclasses.replace(module, body=body),))
        with pytest.raises(EmitError):
            emit.render(dataclasses.replace(program, models=(graph,)), "jax")


def test_value_names_shadowing_the_script_are_renamed():
    program = fixtures.digits_program()
    module = program.models[0].modules[0]
    body = (
        fixtures.layer_call("layers", "linear_0", "x"),
        fixtures.op("self", "relu", "layers"),
    ) + module.body[2:]
    body = body[:2] + (dataclasses.replace(body[2], inputs=(fixtures.ref("self"),)),) + body[3:]
    graph = dataclasses.replace(program.models[0], modules=(dataclasses.replace(module, body=body),))
    source = emit.render(dataclasses.replace(program, models=(graph,)), "jax")
    assert "layers_ = self.linear_0(x)" in source and "self_ = layers.relu(layers_)" in source
