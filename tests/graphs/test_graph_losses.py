"""Losses and flow paths written in the spec's graph language: ``loss = graph("block",
arguments = {...})``, ``path = graph("block")``.

The block is built with the types the objective supplies (the model's output and the target;
for the flows, the velocity twice), so its shape errors are the usual positioned E06xx; it
creates no parameters (E0718) and returns one ``f32[]`` (E0719). The script prints it as a
module-level function (``def smooth_l1(prediction, target)``) that the objective calls; the
standard library's losses (specs/std/losses.mf) compute their textbook formulas. A path is a
block ``(x0, x1, t) -> (x_t, v)`` the flow's runtime loss calls. The examples
(specs/examples/graph_loss.mf, graph_path.mf) train with the same losses on jax, lightning
and mlx.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import numpy as np
import pytest
from specc.compiler import pipeline
from specc.compiler.emit import render as emit
from specc.dsl.diagnostics import render_text
from specc.runtime.reference import layers as reference_layers

from tests.backends.runner import REPOSITORY, compile_spec
from tests.backends.test_spec_parity import (
    run_backends_together,
    train_losses,
    worst_relative_difference,
)

BACKENDS = ("jax", "lightning", "mlx")

REGRESSION = """\
spec graph_loss_small
import "std/losses.mf"

data synthetic_regression {
  num_features = 8
  num_outputs = 2
  sizes = [64, 16, 16]
  batch_size = 8
}

block smooth(prediction: f32[B, D], target: f32[B, D], beta: float = 1.0) -> f32[] {
  difference = abs(prediction - target)
  return mean(where(difference < beta, 0.5 * difference * difference / beta, difference - 0.5 * beta), axis = [0, 1])
}

model net(x: f32[B, 8]) -> f32[B, 2] {
  return linear(relu(linear(x, 16)), 2)
}

objective regression {
  target = data.y
  loss = graph("smooth", arguments = { beta = 0.5 })
}

optimizer adam { lr = 1e-3 }

train {
  max_steps = 20
}

eval {
  metrics = [mae]
}
"""

CLASSIFICATION = """\
spec focal_small
import "std/losses.mf"

data digits { batch_size = 16 }

model mlp(x: f32[B, 64]) -> f32[B, 10] {
  return linear(relu(linear(x, 32)), 10)
}

objective classification {
  target = data.y
  loss = graph("focal", arguments = { gamma = 2.0 })
}

optimizer adam { lr = 1e-3 }

train {
  max_steps = 20
}
"""


def read(files: dict[str, str]):
    """``spec.mf`` from memory, everything else (the standard library) from disk."""
    return lambda path: files[path].encode("utf-8") if path in files else Path(path).read_bytes()


def check(text: str):
    return pipeline.check("spec.mf", read({"spec.mf": text}))


def messages(text: str) -> list[str]:
    result = check(text)
    assert result.program is None
    return [render_text(diagnostic, result.sources) for diagnostic in result.diagnostics]


def edited(text: str, *pairs) -> str:
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


# ----------------------------------------------------------------------------- diagnostics


def test_a_shape_error_in_the_loss_body_is_positioned_in_the_block():
    text = edited(REGRESSION, ("abs(prediction - target)", "abs(prediction - mean(target, axis = 1))"))
    assert messages(text) == [(
        "spec.mf:12:20: error[E0608]: sub: shapes [B, 2] and [B] do not broadcast\n"
        "   |\n"
        "12 |   difference = abs(prediction - mean(target, axis = 1))\n"
        "   |                    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^"
    )]


def test_the_loss_inputs_bind_the_model_output_and_the_target():
    text = edited(REGRESSION, ("smooth(prediction: f32[B, D]", "smooth(prediction: f32[B, 3]"))
    assert messages(text) == [(
        "spec.mf:22:10: error[E0608]: smooth: argument `prediction` has shape [B, 2], expected [B, 3] "
        "(`prediction: f32[B, 3]`)\n"
        "   |\n"
        '22 |   loss = graph("smooth", arguments = { beta = 0.5 })\n'
        "   |          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^"
    )]


def test_dropout_in_a_loss_is_refused_unless_its_rate_makes_it_the_identity():
    """``dropout(x, 0.0)`` creates no module (the identity, decided at compile time), so a loss
    may hold it; at any other rate it is a layer module, E0718."""
    text = edited(REGRESSION, ("abs(prediction - target)", "abs(dropout(prediction, 0.1) - target)"))
    assert messages(text) == [(
        "spec.mf:12:20: error[E0718]: loss `smooth` calls `dropout`, a layer module; a loss creates no modules\n"
        "   |\n"
        "12 |   difference = abs(dropout(prediction, 0.1) - target)\n"
        "   |                    ^^^^^^^\n"
        "help: a loss is a function of its inputs: compute it with operators and the functions without "
        "parameters (abs, exp, log, where, mean, ...)"
    )]
    identity = edited(REGRESSION, ("abs(prediction - target)", "abs(dropout(prediction, 0.0) - target)"))
    graphs = [check(spec).program.objective.terms[0].graph for spec in (identity, REGRESSION)]
    assert graphs[0].submodules == graphs[1].submodules == ()
    assert [(s.function, s.inputs) for s in graphs[0].body] == [(s.function, s.inputs) for s in graphs[1].body]


def test_a_missing_block_is_named_with_a_suggestion():
    text = edited(REGRESSION, ('graph("smooth"', 'graph("smoth"'))
    assert messages(text) == [(
        "spec.mf:22:16: error[E0601]: unknown block `smoth`\n"
        "   |\n"
        '22 |   loss = graph("smoth", arguments = { beta = 0.5 })\n'
        "   |                ^^^^^^^\n"
        "help: did you mean `smooth`?"
    )]


def test_a_block_creating_parameters_is_refused_at_the_layer():
    text = edited(REGRESSION, ("abs(prediction - target)", "abs(linear(prediction, 2) - target)"))
    assert messages(text) == [(
        "spec.mf:12:20: error[E0718]: loss `smooth` calls `linear`, which creates parameters; a loss has none\n"
        "   |\n"
        "12 |   difference = abs(linear(prediction, 2) - target)\n"
        "   |                    ^^^^^^\n"
        "help: a loss is a function of its inputs: compute it with operators and the functions without "
        "parameters (abs, exp, log, where, mean, ...)"
    )]


def test_a_loss_returning_more_than_a_scalar_is_refused_at_its_output():
    text = edited(REGRESSION, ("-> f32[] {", "-> f32[B] {"), ("axis = [0, 1])\n}", "axis = 1)\n}"))
    assert messages(text) == [(
        "spec.mf:11:78: error[E0719]: loss `smooth` returns f32[B]; a loss returns one scalar `f32[]`\n"
        "   |\n"
        "11 | block smooth(prediction: f32[B, D], target: f32[B, D], beta: float = 1.0) -> f32[B] {\n"
        "   |" + " " * 78 + "^^^^^^\n"
        "help: reduce over every axis: `mean(x, axis = [0, 1])`"
    )]


def test_arguments_bind_like_a_block_call():
    unknown = edited(REGRESSION, ("{ beta = 0.5 }", "{ betta = 0.5 }"))
    assert [line.splitlines()[0] for line in messages(unknown)] == [
        "spec.mf:22:48: error[E0602]: smooth: unknown argument `betta`"
    ]
    wrong = edited(REGRESSION, ("{ beta = 0.5 }", '{ beta = "wide" }'))
    assert [line.splitlines()[0] for line in messages(wrong)] == [
        "spec.mf:22:47: error[E0609]: smooth: argument `beta` must be a number, got the word `wide`"
    ]


def test_a_flow_takes_a_graph_loss_but_refuses_the_keys_of_its_own():
    text = (REPOSITORY / "specs" / "examples" / "graph_loss.mf").read_text(encoding="utf-8")
    text = edited(text, ('arguments = { delta = 0.5 })', "arguments = { delta = 0.5 })\n  weighted = false"))
    assert [line.splitlines()[0] for line in messages(text)] == [
        "spec.mf:26:14: error[E0529]: `weighted` has no effect: the objective's loss is the user's (`loss = graph(...)`)"
    ]


PATH_EXAMPLE = "specs/examples/graph_path.mf"


def path_spec(*pairs) -> str:
    return edited((REPOSITORY / PATH_EXAMPLE).read_text(encoding="utf-8"), *pairs)


def test_a_path_returns_x_t_and_v_shaped_like_the_data():
    text = path_spec(("-> (f32[B, D], f32[B, D]) {", "-> f32[B, D] {"), ("return x_t, v", "return x_t"))
    assert messages(text) == [(
        "spec.mf:20:66: error[E0719]: path `exponential` returns f32[B, 4]; a path returns (x_t, v), each shaped "
        "like x0 f32[B, 4]\n"
        "   |\n"
        "20 | block exponential(x0: f32[B, D], x1: f32[B, D], t: f32[B, 1]) -> f32[B, D] {\n"
        "   |" + " " * 66 + "^^^^^^^^^\n"
        "help: declare `-> (f32[B, ...], f32[B, ...])` and return `x_t, v`"
    )]


def test_a_path_takes_the_data_the_noise_and_the_broadcast_times():
    creating = path_spec(("v = exp(t) * x1 - x0", "v = linear(x1, D) - x0"))
    assert [line.splitlines()[0] for line in messages(creating)] == [
        "spec.mf:22:7: error[E0718]: path `exponential` calls `linear`, which creates parameters; a path has none"
    ]
    times = path_spec(("t: f32[B, 1]", "t: f32[B]"))
    assert [line.splitlines()[0] for line in messages(times)] == [
        "spec.mf:33:10: error[E0608]: exponential: argument `t` has shape [B, 1], expected 1 axes (`t: f32[B]`)"
    ]


def test_the_path_is_a_function_the_flow_calls():
    program = compile_spec(PATH_EXAMPLE)
    assert program.objective.path_graph.name == "exponential"
    for backend in BACKENDS:
        script = emit.render(program, backend)
        assert "def exponential(x0, x1, t):\n" in script
        assert "    return x_t, v\n" in script
        assert "path=exponential" in script.replace("\n", "").replace(" ", "")


# ----------------------------------------------------------------------------- the script


def loss_function(program, backend: str = "jax"):
    """The module-level loss function of ``program``'s script, run over numpy
    (``specc.runtime.reference.layers``), and the script's text."""
    script = emit.render(program, backend)
    name = program.objective.terms[0].graph.name
    tree = ast.parse(script)
    (definition,) = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == name]
    namespace = {"layers": reference_layers}
    exec(compile(ast.Module([definition], []), "<loss>", "exec"), namespace)  # noqa: S102 - our own script
    return namespace[name], script


def test_the_script_prints_the_loss_as_a_function_the_objective_calls():
    program = check(REGRESSION).program
    assert program is not None
    script = emit.render(program, "jax")
    assert "def smooth(prediction, target):\n" in script
    assert "    difference = layers.abs(prediction - target)\n" in script
    assert '    values = smooth(prediction, batch["y"])\n' in script
    assert "losses" not in script.split("# ---")[0]  # no runtime loss is imported
    for backend in BACKENDS:
        assert "def smooth(prediction, target):" in emit.render(program, backend)


def test_a_loss_named_like_a_name_of_the_script_is_renamed():
    text = REGRESSION.replace("smooth", "loss_fn")
    program = check(text).program
    script = emit.render(program, "jax")
    assert "def loss_fn_(prediction, target):" in script
    assert 'values = loss_fn_(prediction, batch["y"])' in script


def test_the_scripts_are_ruff_clean(tmp_path):
    from tests.backends.test_generated_code import RUFF

    programs = {"regression": check(REGRESSION).program, "focal": check(CLASSIFICATION).program,
                "flow": compile_spec("specs/examples/graph_loss.mf"), "path": compile_spec(PATH_EXAMPLE)}
    for name, program in programs.items():
        for backend in BACKENDS:
            script = tmp_path / f"{name}_{backend}.py"
            script.write_text(emit.render(program, backend), encoding="utf-8")
    result = subprocess.run([RUFF, "check", "--isolated", "--no-cache", "--output-format", "concise", "."],
                            check=False, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


STD_REGRESSION = {
    "smooth_l1": ("beta", lambda d, beta: np.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)),
    "huber": ("delta", lambda d, delta: np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))),
    "pseudo_huber": ("delta", lambda d, delta: delta * delta * (np.sqrt(1.0 + (d / delta) ** 2) - 1.0)),
}


@pytest.mark.parametrize("name", sorted(STD_REGRESSION))
def test_the_standard_regression_losses_compute_their_formulas(name):
    hyperparameter, formula = STD_REGRESSION[name]
    text = edited(REGRESSION, ('graph("smooth", arguments = { beta = 0.5 })',
                               f'graph("{name}", arguments = {{ {hyperparameter} = 0.7 }})'))
    function, _ = loss_function(check(text).program)
    generator = np.random.default_rng(0)
    prediction, target = generator.normal(size=(8, 2)), generator.normal(size=(8, 2))
    expected = np.mean(formula(np.abs(prediction - target), 0.7))
    assert function(prediction, target)["loss"] == pytest.approx(expected, rel=1e-12)


def test_the_standard_focal_loss_computes_its_formula():
    function, _ = loss_function(check(CLASSIFICATION).program)
    generator = np.random.default_rng(1)
    logits, labels = generator.normal(size=(16, 10)), generator.integers(0, 10, size=16)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    p = probabilities[np.arange(16), labels]
    expected = np.mean(-((1.0 - p) ** 2.0) * np.log(p))
    assert function(logits, labels)["loss"] == pytest.approx(expected, rel=1e-10)


def test_the_focal_loss_with_gamma_zero_is_the_cross_entropy():
    function, _ = loss_function(check(CLASSIFICATION.replace("gamma = 2.0", "gamma = 0.0")).program)
    generator = np.random.default_rng(2)
    logits, labels = generator.normal(size=(16, 10)), generator.integers(0, 10, size=16)
    log_probabilities = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -np.mean(log_probabilities[np.arange(16), labels])
    assert function(logits, labels)["loss"] == pytest.approx(expected, rel=1e-10)


# ----------------------------------------------------------------------------- training


@pytest.mark.parametrize("spec", ["specs/examples/graph_loss.mf", PATH_EXAMPLE])
def test_the_examples_lint_clean(spec):
    result = pipeline.check(spec, lambda name: (REPOSITORY / name).read_bytes()
                            if not Path(name).is_absolute() else Path(name).read_bytes())
    assert result.diagnostics == []
    assert result.program.objective.terms[0].graph.name == "pseudo_huber"


STEPS = 20
PARITY = (f"train.max_steps={STEPS}", "train.log_every=1", f"train.eval_every={STEPS}", "train.precision=fp32")


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["specs/examples/graph_loss.mf", PATH_EXAMPLE, "focal"])
def test_graph_losses_train_alike_on_every_backend(spec, tmp_path):
    if spec == "focal":
        program = pipeline.check("spec.mf", read({"spec.mf": CLASSIFICATION}), PARITY).program
    else:
        program = compile_spec(spec, PARITY)
    assert program is not None
    run_backends_together({backend: emit.render(program, backend) for backend in BACKENDS}, tmp_path)
    series = {backend: train_losses(tmp_path / f"run_{backend}") for backend in BACKENDS}
    assert all(len(losses) == STEPS for losses in series.values()), {b: len(s) for b, s in series.items()}
    worst, where = worst_relative_difference(series)
    assert worst <= 1e-4, f"{worst:.3e} at {where}"
