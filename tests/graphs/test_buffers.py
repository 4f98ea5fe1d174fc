"""Layers that own buffers in the graph language: ``batch_norm`` and ``running_statistics``
lower to layers whose buffers (``running_mean``, ``running_var``, ``running_std``) sit beside
their parameters in the IR, marked ``Parameter.buffer``, exactly as the runtime's
``layer_parameters`` lists them; summaries count them apart from the parameters."""

from __future__ import annotations

from specc.compiler import ir
from specc.compiler.analysis.summary import summarize
from specc.runtime import init
from specc.runtime.parameters import BUFFER_NAMES, is_buffer

from tests.checker.helpers import DIGITS, run
from tests.graphs.helpers import build_ok

MODEL = """
model m(x: f32[B, T, 8]) -> f32[B, T, 8] {
  h = batch_norm(x, momentum = 0.2, eps = 1e-3)
  return running_statistics(h)
}
"""


def _layers(graph):
    return [item for module in graph.modules for item in module.submodules if isinstance(item, ir.Layer)]


def test_buffers_lower_beside_the_parameters():
    graph = build_ok(MODEL)["m"]
    batch_norm, statistics = _layers(graph)
    assert (batch_norm.kind, dict(batch_norm.arguments)) == (
        "BatchNorm", {"num_features": 8, "momentum": 0.2, "eps": 1e-3, "affine": True})
    assert [(p.name, p.shape, p.init, p.buffer) for p in batch_norm.parameters] == [
        ("weight", (8,), "ones", False), ("bias", (8,), "zeros", False),
        ("running_mean", (8,), "zeros", True), ("running_var", (8,), "ones", True)]
    assert [(p.name, p.init, p.buffer) for p in statistics.parameters] == [
        ("running_mean", "zeros", True), ("running_std", "ones", True)]
    assert dict(statistics.arguments) == {"num_features": 8, "momentum": 0.01}
    for layer in (batch_norm, statistics):  # the runtime builds the same arrays
        expected = init.layer_parameters(layer.kind, **dict(layer.arguments))
        assert [(p.name, tuple(p.shape), p.init) for p in expected] == [(p.name, p.shape, p.init) for p in layer.parameters]
    assert [name for name, parameter in graph.parameters if parameter.buffer] == [
        "batch_norm_0.running_mean", "batch_norm_0.running_var",
        "running_statistics_0.running_mean", "running_statistics_0.running_std"]


def test_buffer_names_are_no_parameter_names():
    assert is_buffer("vae.batch_norm_0.running_var") and not is_buffer("batch_norm_0.weight")
    for kind, arguments in (("Linear", {"in_features": 3, "out_features": 2}), ("LayerNorm", {"dim": 4}),
                            ("MultiHeadAttention", {"dim": 4, "num_heads": 2}), ("Embedding", {"num_embeddings": 3, "dim": 2})):
        assert not {p.name.rpartition(".")[2] for p in init.layer_parameters(kind, **arguments)} & set(BUFFER_NAMES)


def _spec(model_line: str) -> str:
    return DIGITS.replace("return linear(relu(linear(x, hidden)), 10)", model_line)


def test_batch_norm_without_parameters_cannot_be_frozen():
    result = run(_spec("return linear(batch_norm(linear(x, hidden), affine = false, trainable = false), 10)"))
    assert [(d.code, d.message) for d in result.diagnostics] == [
        ("E0609", "batch_norm: `trainable = false` has no effect: this layer has no parameters of its own")]


def test_running_statistics_takes_no_trainable():
    result = run(_spec("return linear(running_statistics(linear(x, hidden), trainable = false), 10)"))
    assert [(d.code, d.message) for d in result.diagnostics] == [
        ("E0602", "running_statistics has no argument `trainable`")]


def test_a_buffer_is_not_a_weight_to_tie():
    result = run(_spec("h = batch_norm(linear(x, hidden))\n  return linear(h, hidden, weight = h.running_var)"))
    assert [(d.code, d.message) for d in result.diagnostics] == [
        ("E0603", "linear: the batch_norm that returned `h` has no parameter `running_var` (its parameters: bias, weight)")]


def test_batch_norm_of_an_integer_input_is_refused():
    result = run(_spec("m = batch_norm(cast(x, i64))\n  return linear(relu(linear(x, hidden)), 10)"))
    assert [(d.code, d.message) for d in result.diagnostics] == [("E0617", "batch_norm: x must be f32, got i64[B, 64]")]


def test_summary_counts_parameters_without_buffers():
    result = run(_spec("return linear(running_statistics(batch_norm(linear(x, hidden, bias = false))), 10)"))
    assert result.program is not None, [d.message for d in result.diagnostics]
    (model,) = summarize(result.program).models
    assert model.parameters == 64 * 32 + 2 * 32 + 32 * 10 + 10
    rows = {row.kind: row.parameters for row in model.rows}
    assert rows["BatchNorm"] == 64 and rows["RunningStatistics"] == 0


def test_freezing_a_buffer_is_refused():
    text = _spec("return linear(batch_norm(linear(x, hidden)), 10)").replace(
        "max_steps = 20", 'max_steps = 20\n  freeze = ["batch_norm_0.running_mean"]')
    result = run(text)
    assert [(d.code, d.message) for d in result.diagnostics] == [
        ("E0513", "freeze `batch_norm_0.running_mean` matches no parameter")]
    assert run(text.replace("batch_norm_0.running_mean", "batch_norm_0.weight")).program is not None


def test_scripts_with_buffers_carry_them_and_are_ruff_clean(tmp_path):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from specc.compiler.emit import render

    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = run(_spec("return linear(running_statistics(batch_norm(linear(x, hidden, bias = false))), 10)"))
    for backend in ("jax", "lightning", "mlx"):
        text = render.render(result.program, backend)
        assert "layers.BatchNorm(affine=True, eps=1e-05, momentum=0.1, num_features=32)" in text
        assert '"batch_norm_0.running_var", ' in text and '(32,), "ones", 1)' in text  # initial values in the table
        if backend == "jax":  # the jitted step takes and returns the buffers (nnx state beside the parameters)
            assert "def train_step(params, rest, opt_state" in text
        script = tmp_path / f"train_{backend}.py"
        script.write_text(text, encoding="utf-8")
        checked = subprocess.run([ruff, "check", "--isolated", "--no-cache", "--output-format", "concise", script.name],
                                 cwd=tmp_path, capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr


COUNTER = """
model m(x: f32[B, 4]) -> f32[B, 4] {
  seen = buffer([1])
  seen = update(seen, seen + 1)
  center = buffer([4], init = ones)
  center = update(center, 0.5 * center + 0.5 * mean(x, axis = 0))
  return x - center
}
"""


def test_a_graph_buffer_is_one_layer_read_and_updated():
    graph = build_ok(COUNTER)["m"]
    (module,) = graph.modules
    assert [(item.attribute, item.kind, dict(item.arguments)) for item in module.submodules] == [
        ("seen_0", "Buffer", {"shape": (1,), "init": "zeros"}), ("center_0", "Buffer", {"shape": (4,), "init": "ones"})]
    assert [(name, parameter.init, parameter.buffer) for name, parameter in graph.parameters] == [
        ("center_0.buffer", "ones", True), ("seen_0.buffer", "zeros", True)]
    calls = [(statement.attribute, len(statement.inputs)) for statement in module.body if statement.call == "layer"]
    assert calls == [("seen_0", 0), ("seen_0", 1), ("center_0", 0), ("center_0", 1)]  # read, then update


def test_a_graph_buffer_renders_its_update_as_a_call(tmp_path):
    from specc.compiler.emit.models import module_view

    (module,) = build_ok(COUNTER)["m"].modules
    body = module_view(module, "nn.ModuleList")["body"]
    assert body[0] == "self.seen_0(self.seen_0() + 1)"  # read nowhere: run for its effect, no unused name


def _update_error(lines: str):
    result = run(_spec(lines + "\n  return linear(relu(linear(x, hidden)), 10)"))
    return [(d.code, d.message) for d in result.diagnostics]


def test_update_misuse_is_positioned():
    assert _update_error("h = linear(x, 4)\n  h = update(h, h)") == [
        ("E0609", "update: the first argument must be the value of a `buffer(...)`, got a tensor [B, 4]")]
    assert _update_error("b = buffer([4])\n  b = update(b, linear(x, 4))") == [
        ("E0608", "update: the new value [B, 4] must have the buffer's shape [4]")]
    assert _update_error("b = buffer([4])\n  b = update(b, cast(b, i64))") == [
        ("E0617", "update: the new value must be f32, got i64[4]")]
    assert _update_error("b = buffer([4])\n  b = update(b)") == [
        ("E0602", "update takes 2 positional arguments (a buffer's value, its new value)")]
    assert _update_error("b = buffer([B, 4])") == [
        ("E0609", ("buffer: every size of `shape` must be a positive integer known at compile time (a buffer has no "
                   "batch axis), got [B, 4]"))]
