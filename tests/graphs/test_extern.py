"""``extern``: a user function declared with a block's signature and called in graphs.

A call binds the declared dimension names from its arguments' shapes as a block call does
(E0608 at the argument), checks the hyperparameters (E0609) and gives the declared outputs;
the checker reads the Python function (E0530-E0534); the script calls it with the backend's
array operations (``h = gelu_tanh(ops, self.linear_0(x))``) through a module-level
``extensions.Reference(...).function(...)`` that checks the returned shapes. The example
(specs/examples/user_function.mf) trains with the same losses on jax, lightning and mlx.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from specc.compiler import ir, pipeline
from specc.compiler.analysis.graph import model_picture
from specc.compiler.analysis.report import model_table
from specc.compiler.analysis.summary import summarize
from specc.compiler.emit import render as emit
from specc.compiler.emit.standalone import render_models
from specc.dsl.formatter import format_source
from specc.runtime import extensions
from specc.runtime.training.failures import RunError

from tests.backends.runner import REPOSITORY
from tests.backends.test_spec_parity import (
    run_backends_together,
    train_losses,
    worst_relative_difference,
)
from tests.checker.helpers import DIGITS, edit, run
from tests.checker.helpers import rendered as rendered_result
from tests.graphs.helpers import build_ok, rendered

EXAMPLES = REPOSITORY / "specs" / "examples"
BACKENDS = ("jax", "lightning", "mlx")

DECLARATIONS = """\
extern gelu_tanh(x: f32[B, D]) -> f32[B, D] = python("f.py", "gelu_tanh")
extern pair_sum(a: f32[B, N], b: f32[B, N], scale: float = 1.0) -> f32[B] = python("f.py", "pair_sum")
"""

FUNCTIONS = """\
def gelu_tanh(ops, x):
    return x * ops.sigmoid(1.5957691216057308 * (x + 0.044715 * x * x * x))


def pair_sum(ops, a, b, scale=1.0):
    return ops.sum(a + b, axis=-1) * scale
"""


def test_a_call_binds_the_dimensions_and_gives_the_declared_outputs():
    graphs = build_ok(DECLARATIONS + "model m(x: f32[B, 64]) -> f32[B] {\n"
                      "  h = gelu_tanh(linear(x, 128))\n  return pair_sum(h, h, scale = 2)\n}\n")
    body = graphs["m"].modules[-1].body
    assert [(s.call, s.function, s.arguments, s.types) for s in body[1:]] == [
        ("extern", "gelu_tanh", (), (ir.TensorType("f32", ("B", 128)),)),
        ("extern", "pair_sum", (("scale", 2.0),), (ir.TensorType("f32", ("B",)),)),
    ]
    assert graphs["m"].externs == (
        ir.Extern("gelu_tanh", "f.py", "gelu_tanh", (("B", "D"),), (("B", "D"),), "m.mf:1:1"),
        ir.Extern("pair_sum", "f.py", "pair_sum", (("B", "N"), ("B", "N")), (("B",),), "m.mf:2:1"),
    )


def test_a_shape_that_contradicts_the_declared_signature_is_positioned_at_the_argument():
    text = DECLARATIONS + "model m(x: f32[B, 64]) -> f32[B] {\n  return pair_sum(x, linear(x, 32))\n}\n"
    assert rendered(text) == [
        "m.mf:4:22: error[E0608]: pair_sum: argument `b` has shape [B, 32], expected [B, 64] (`b: f32[B, N]`)\n"
        "  |\n"
        "4 |   return pair_sum(x, linear(x, 32))\n"
        "  |                      ^^^^^^^^^^^^^"
    ]


def test_a_rank_or_dtype_that_contradicts_the_signature_is_positioned_too():
    text = DECLARATIONS + "model m(x: f32[B, 4, 8], ids: i64[B, 8]) -> f32[B, 8] {\n  return gelu_tanh(x) + gelu_tanh(ids)\n}\n"
    assert rendered(text) == [
        "m.mf:4:20: error[E0608]: gelu_tanh: argument `x` has shape [B, 4, 8], expected 2 axes (`x: f32[B, D]`)\n"
        "  |\n"
        "4 |   return gelu_tanh(x) + gelu_tanh(ids)\n"
        "  |                    ^"
    ]
    text = DECLARATIONS + "model m(ids: i64[B, 8]) -> f32[B, 8] {\n  return gelu_tanh(ids)\n}\n"
    assert rendered(text)[0].startswith(
        "m.mf:4:20: error[E0617]: gelu_tanh: argument `x` is i64[B, 8], expected f32 (`x: f32[B, D]`)"
    )


def test_an_output_dimension_no_input_binds_is_positioned_at_the_declaration():
    text = ('extern widen(x: f32[B, D]) -> f32[B, K] = python("f.py", "widen")\n'
            "model m(x: f32[B, 4]) -> f32[B, 4] {\n  return x\n}\n")
    assert rendered(text) == [
        "m.mf:1:38: error[E0603]: extern `widen`: the output dimension `K` is bound by no input\n"
        "  |\n"
        '1 | extern widen(x: f32[B, D]) -> f32[B, K] = python("f.py", "widen")\n'
        "  |                                      ^\n"
        "help: an extern's outputs are sized by its inputs' dimension names, its hyperparameters and constants\n"
        "note: the inputs bind: B, D"
    ]


def test_a_hyperparameter_sizes_an_output_and_is_checked_at_the_call():
    declaration = 'extern widen(x: f32[B, D], k: int = 2) -> f32[B, k] = python("f.py", "widen")\n'
    graphs = build_ok(declaration + "model m(x: f32[B, 4]) -> f32[B, 3] {\n  return widen(x, k = 3)\n}\n")
    assert graphs["m"].modules[-1].body[0].types == (ir.TensorType("f32", ("B", 3)),)
    text = declaration + "model m(x: f32[B, 4]) -> f32[B, 3] {\n  return widen(x, k = 1.5)\n}\n"
    assert rendered(text) == [
        "m.mf:3:23: error[E0609]: widen: argument `k` must be an integer, got the number 1.5\n"
        "  |\n"
        "3 |   return widen(x, k = 1.5)\n"
        "  |                       ^^^"
    ]


def test_an_extern_that_names_no_python_function_is_positioned():
    text = "extern act(x: f32[B, D]) -> f32[B, D] = relu\nmodel m(x: f32[B, 4]) -> f32[B, 4] {\n  return act(x)\n}\n"
    assert rendered(text)[0] == (
        "m.mf:1:41: error[E0619]: extern `act` must name a Python function, not `relu`\n"
        "  |\n"
        "1 | extern act(x: f32[B, D]) -> f32[B, D] = relu\n"
        "  |                                         ^^^^\n"
        'help: an extern is a function of a Python file beside the spec: `= python("functions.py", "name")`'
    )


def test_an_extern_named_like_a_layer_or_a_block_is_refused():
    text = ('extern linear(x: f32[B, D]) -> f32[B, D] = python("f.py", "linear")\n'
            "block b(x: [B, D]) -> [B, D] { return x }\n"
            'extern b(x: f32[B, D]) -> f32[B, D] = python("f.py", "b")\n')
    assert [line.split("\n")[0] for line in rendered(text)] == [
        "m.mf:1:8: error[E0606]: extern `linear` has the name of a built-in layer",
        "m.mf:3:8: error[E0606]: `b` is defined twice",
    ]


def test_extern_is_a_contextual_keyword_and_formats_back():
    text = ("extern act(\n  x: f32[B, D],\n  scale: float = 1.0,\n) -> (f32[B, D], f32[B]) = "
            'python("f.py", "act")  # two outputs\nlet extern = 3\ndata digits { batch_size = extern }\n')
    formatted, diagnostics = format_source(text, "m.mf")
    assert diagnostics == [] and format_source(formatted, "m.mf")[0] == formatted
    assert formatted.startswith('extern act(\n  x: f32[B, D],\n  scale: float = 1.0,\n) -> (f32[B, D], f32[B]) = python("f.py", "act")')


# ----------------------------------------------------------------------------- the checker


def _spec(model_body: str = "return linear(gelu_tanh(linear(x, hidden)), 10)") -> str:
    text = edit(DIGITS, "data digits {", DECLARATIONS + "\ndata digits {")
    return edit(text, "return linear(relu(linear(x, hidden)), 10)", model_body)


def test_the_checker_reads_the_python_function_and_makes_its_file_absolute():
    result = run(_spec(), files={"f.py": FUNCTIONS})
    assert result.diagnostics == []
    assert result.program.models[0].externs[0].file == "f.py"  # no base given: relative to the spec's folder
    result = pipeline.check("spec.mf", lambda path: {"spec.mf": _spec(), "f.py": FUNCTIONS}[path].encode(), base="/work")
    assert result.program.models[0].externs[0].file == "/work/f.py"


@pytest.mark.parametrize(
    ("functions", "expected"),
    [
        (
            "def gelu(ops, x):\n    return x\n",
            "spec.mf:4:62: error[E0532]: `f.py` defines no function `gelu_tanh` (an extern is a top-level function; it "
            "defines: `gelu`)\n  |\n4 | extern gelu_tanh(x: f32[B, D]) -> f32[B, D] = python(\"f.py\", \"gelu_tanh\")\n"
            "  |                                                              ^^^^^^^^^^^\nhelp: did you mean `gelu`?",
        ),
        (
            "def gelu_tanh(x):\n    return x\n",
            "spec.mf:4:62: error[E0534]: `gelu_tanh` (f.py:1) takes 1 positional argument(s), but the script passes 2: "
            "(ops, x)\n  |\n4 | extern gelu_tanh(x: f32[B, D]) -> f32[B, D] = python(\"f.py\", \"gelu_tanh\")\n"
            "  |                                                              ^^^^^^^^^^^",
        ),
        (
            "def gelu_tanh(ops, x, beta):\n    return x\n",
            "spec.mf:4:62: error[E0533]: `gelu_tanh` (f.py:1) needs the argument(s) `beta`, which `extern gelu_tanh` does "
            "not declare\n  |\n4 | extern gelu_tanh(x: f32[B, D]) -> f32[B, D] = python(\"f.py\", \"gelu_tanh\")\n"
            "  |                                                              ^^^^^^^^^^^\nhelp: declare them as "
            "hyperparameters of the extern (`beta: float = ...`), or give them defaults in the function",
        ),
    ],
    ids=["E0532", "E0534", "E0533_missing"],
)
def test_a_wrong_python_target_is_positioned_at_the_name(functions, expected):
    text = edit(_spec(), 'extern pair_sum(a: f32[B, N], b: f32[B, N], scale: float = 1.0) -> f32[B] = python("f.py", "pair_sum")\n', "")
    result = run(text, files={"f.py": functions})
    assert rendered_result(result) == [expected]


def test_a_hyperparameter_the_function_does_not_take_is_positioned_at_it():
    result = run(_spec(), files={"f.py": FUNCTIONS.replace("scale=1.0", "weight=1.0")})
    assert rendered_result(result) == [
        "spec.mf:5:45: error[E0533]: `pair_sum` (f.py:5) takes no argument `scale` (it takes: weight)\n"
        "  |\n"
        '5 | extern pair_sum(a: f32[B, N], b: f32[B, N], scale: float = 1.0) -> f32[B] = python("f.py", "pair_sum")\n'
        "  |                                             ^^^^^^^^^^^^^^^^^^"
    ]


def test_a_missing_python_file_is_e0530_at_the_file():
    result = run(_spec())
    assert [d.code for d in result.diagnostics] == ["E0530"]
    assert result.diagnostics[0].message == "cannot read the Python file `f.py`: it does not exist"
    assert (result.diagnostics[0].span.line, result.diagnostics[0].span.column) == (4, 54)


# ----------------------------------------------------------------------------- emission and analysis


def _program(folder):
    (folder / "f.py").write_text(FUNCTIONS, encoding="utf-8")
    (folder / "spec.mf").write_text(_spec(), encoding="utf-8")
    result = pipeline.check(str(folder / "spec.mf"), lambda path: open(path, "rb").read(), base=str(folder))
    assert result.program is not None, [d.message for d in result.diagnostics]
    return result.program


def test_the_forward_line_calls_the_function_with_ops_bound_once_at_module_level(tmp_path):
    program = _program(tmp_path)
    for backend in BACKENDS:
        script = emit.render(program, backend)
        assert "return self.linear_1(gelu_tanh(ops, self.linear_0(x)))" in script, backend
        assert script.count("gelu_tanh = extensions.Reference(") == 1 and f'"{tmp_path}/f.py"' in script
        assert "pair_sum" not in script.split("RESOLVED_SPEC")[0]  # declared, never called
        assert "from specc.runtime import extensions, init, training" in script
    standalone = render_models(program, "torch").source
    assert "from specc.runtime.torch import layers, ops, preprocess" in standalone
    assert "gelu_tanh = extensions.Reference(" in standalone and f'"{tmp_path}/f.py"' in standalone


def test_scripts_without_externs_import_as_before(tmp_path):
    result = run(DIGITS)
    for backend in BACKENDS:
        script = emit.render(result.program, backend)
        assert "extensions" not in script and "ops," not in script.split("\n\n\n")[0], backend


def test_analysis_counts_no_parameters_and_says_the_flops_are_unknown(tmp_path):
    program = _program(tmp_path)
    summary = summarize(program)
    table = model_table(summary.models[0], 1)
    assert [line.split() for line in table if "gelu_tanh" in line] == [["gelu_tanh", "extern", "gelu_tanh", "[B,", "32]", "0", "unknown"]]
    assert "the FLOPs of the user function gelu_tanh (extern) are unknown" in summary.note
    labels = [node.lines for node in model_picture(program, program.models[0]).nodes]
    assert ("extern gelu_tanh",) in labels


def test_the_function_wrapper_checks_the_returned_shapes(tmp_path):
    (tmp_path / "f.py").write_text("def wrong(ops, x):\n    return x[:, :3]\n\n\ndef fails(ops, x):\n    return 1 / 0\n")
    function = extensions.Reference(str(tmp_path / "f.py"), "wrong").function(inputs=(("B", "D"),), outputs=(("B", "D"),))
    with pytest.raises(RunError) as caught:
        function(None, np.zeros((2, 4), np.float32))
    assert str(caught.value) == f"{tmp_path}/f.py:1: wrong: returned shape (2, 3), but the spec declares [B=2, D=4]"
    fails = extensions.Reference(str(tmp_path / "f.py"), "fails").function(inputs=(("B", "D"),), outputs=(("B", "D"),))
    with pytest.raises(RunError) as caught:
        fails(None, np.zeros((2, 4), np.float32))
    assert str(caught.value) == f"{tmp_path}/f.py:6: fails: called by the model: ZeroDivisionError: division by zero"
    right = extensions.Reference(str(tmp_path / "f.py"), "wrong").function(inputs=(("B", "D"),), outputs=(("B", "3"),))
    assert right(None, np.zeros((2, 4), np.float32)).shape == (2, 3)


# ----------------------------------------------------------------------------- the example


def test_the_example_lints_clean():
    result = pipeline.check(str(EXAMPLES / "user_function.mf"), lambda name: open(name, "rb").read())
    assert result.diagnostics == []


def _example(folder, overrides=("train.max_steps=20", "train.log_every=1", "train.eval_every=20")):
    for name in ("user_function.mf", "user_function.py"):
        shutil.copy(EXAMPLES / name, folder / name)
    path = str(folder / "user_function.mf")
    result = pipeline.check(path, lambda name: open(name, "rb").read(), overrides, base=str(folder))
    assert result.program is not None, [d.message for d in result.diagnostics]
    return result.program


@pytest.mark.slow
def test_the_example_agrees_across_backends(tmp_path):
    program = _example(tmp_path)
    run_backends_together({backend: emit.render(program, backend) for backend in BACKENDS}, tmp_path)
    series = {backend: train_losses(tmp_path / f"run_{backend}") for backend in BACKENDS}
    assert sorted(series["jax"]) == list(range(1, 21))
    worst, where = worst_relative_difference(series)
    assert worst < 1e-4, f"{worst:.2e} ({where})"


@pytest.mark.slow
def test_a_function_returning_a_wrong_shape_stops_with_one_line(tmp_path):
    program = _example(tmp_path, ("train.max_steps=2",))
    module = tmp_path / "user_function.py"
    module.write_text(module.read_text(encoding="utf-8").replace("return a + scale * b", "return (a + scale * b)[:, :5]"))
    script = tmp_path / "train_mlx.py"
    script.write_text(emit.render(program, "mlx"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script), "--out-dir", str(tmp_path / "run")], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    line = 1 + module.read_text(encoding="utf-8").splitlines().index("def mix(ops, a, b, scale=1.0):")
    assert f"{module}:{line}: mix: returned shape (64, 5), but the spec declares [B=64, D=128]" in result.stderr


# ----------------------------------------------------------------------------- checkpoints


def test_a_checkpoint_rebuilds_the_model_where_the_file_is_and_refuses_in_one_line_elsewhere(tmp_path, monkeypatch):
    import torch
    from specc.runtime.training.checkpoints import write_checkpoint

    import specc
    from specc.load import CheckpointError
    from tests.training.test_load_model import initial_arrays, manifest_of

    (tmp_path / "spec").mkdir()
    program = _example(tmp_path / "spec")
    directory = write_checkpoint(tmp_path / "run", 1, initial_arrays(program.models[0], 0), {}, manifest_of(program, "jax"))
    monkeypatch.chdir(tmp_path / "spec")  # the embedded spec's relative path leads to the file from here
    model = specc.load_model(directory, "torch")
    with torch.no_grad():
        assert tuple(model(torch.zeros(2, 64)).shape) == (2, 10)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError) as caught:
        specc.load_model(directory, "torch")
    assert str(caught.value) == (
        f"checkpoint {str(directory)!r}: its spec names user code that cannot be read from here (cannot read the "
        "Python file `user_function.py`: it does not exist); a relative path starts at the folder of the spec file it "
        "was trained from: load the checkpoint from that folder, or write the path absolute in the spec"
    )


def test_the_codes_and_the_example_are_documented():
    graphs_codes = (REPOSITORY / "docs" / "diagnostics" / "graphs.md").read_text(encoding="utf-8")
    assert "| E0619 |" in graphs_codes
    chapter = (REPOSITORY / "docs" / "language.md").read_text(encoding="utf-8")
    example = (EXAMPLES / "user_function.py").read_text(encoding="utf-8")
    assert example.split('"""\n\n', 1)[1] in chapter  # the file as the chapter shows it (without its docstring)
    assert "h = mix(ops, h, gelu_tanh(ops, self.linear_1(h)), scale=0.5)" in chapter


@pytest.mark.slow
def test_a_function_that_raises_names_its_file_and_line_inside_jit(tmp_path):
    program = _example(tmp_path, ("train.max_steps=2",))
    module = tmp_path / "user_function.py"
    module.write_text(module.read_text(encoding="utf-8").replace("return a + scale * b", "return a + scale * b / missing"))
    line = 1 + module.read_text(encoding="utf-8").splitlines().index("    return a + scale * b / missing")
    script = tmp_path / "train_jax.py"
    script.write_text(emit.render(program, "jax"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script), "--out-dir", str(tmp_path / "run")], capture_output=True, text=True, timeout=300,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"{module}:{line}: mix: called by the model: NameError: name 'missing' is not defined"
