"""Lowering of whole models: the DESIGN.md ksin model, a digits MLP, naming, structure."""

from specc.compiler import ir

from tests.graphs.helpers import build_ok, module, parameter_table, rendered

KSIN = """\
spec ksin_flow
let k = 4

block film_mlp(x: [B, D], c: [B, C], hidden: int = 1024) -> [B, D] {
  scale, shift = split(linear(c, 2 * D), 2)
  h = layernorm(x, affine = false) * (1 + scale) + shift
  return x + linear(gelu(linear(h, hidden)), D)
}

model vector_field(x: f32[B, 2 * k], t: f32[B], signal: f32[B, 1024]) -> f32[B, 2 * k] {
  c = linear(signal, 256) + sinusoidal(t, 256)
  h = linear(x, 512)
  repeat 6 { h = film_mlp(h, c) }
  return linear(layernorm(h), 2 * k)
}
"""


def test_ksin_vector_field_modules_and_signature():
    graph = build_ok(KSIN, {"k": 4})["vector_field"]
    assert [m.name for m in graph.modules] == ["FilmMlp", "VectorFieldRepeat0", "VectorField"]
    assert graph.root == "VectorField"
    f32 = lambda *shape: ir.TensorType("f32", shape)  # noqa: E731
    assert graph.inputs == (("x", f32("B", 8)), ("t", f32("B")), ("signal", f32("B", 1024)))
    assert graph.outputs == (f32("B", 8),)
    assert graph.output_structure == (None,)
    root = module(graph, "VectorField")
    assert [type(s).__name__ + ":" + s.attribute for s in root.submodules] == [
        "Layer:linear_0", "Layer:linear_1", "ModuleList:repeat_0", "Layer:layernorm_0", "Layer:linear_2"]
    assert root.submodules[2] == ir.ModuleList("repeat_0", "VectorFieldRepeat0", 6)
    repeat = next(s for s in root.body if s.call == "repeat")
    assert repeat.function == "VectorFieldRepeat0" and repeat.attribute == "repeat_0"
    assert [o.ref for o in repeat.inputs] == ["h", "c"]  # updated value first, then what it reads
    assert repeat.origin == "m.mf:13:3"


def test_ksin_film_block_lowering():
    graph = build_ok(KSIN, {"k": 4})["vector_field"]
    film = module(graph, "FilmMlp")
    assert film.source == "film_mlp"
    assert film.inputs == (("x", ir.TensorType("f32", ("B", 512))), ("c", ir.TensorType("f32", ("B", 256))))
    first = film.submodules[0]
    assert first == ir.Layer(
        "linear_0", "Linear", (("bias", True), ("in_features", 256), ("out_features", 1024)),
        (ir.Parameter("weight", (1024, 256), "uniform_fan_in", 256), ir.Parameter("bias", (1024,), "uniform_fan_in", 256)))
    norm = film.submodules[1]
    assert norm.kind == "LayerNorm" and norm.parameters == () and dict(norm.arguments)["affine"] is False
    calls = [(s.call, s.function) for s in film.body]
    assert calls == [("layer", "Linear"), ("op", "split"), ("layer", "LayerNorm"), ("op", "add"), ("op", "mul"),
                     ("op", "add"), ("layer", "Linear"), ("op", "gelu"), ("layer", "Linear"), ("op", "add")]
    split = film.body[1]
    assert split.targets == ("scale", "shift") and split.arguments == (("axis", -1), ("sections", 2))
    one_plus = film.body[3]
    assert one_plus.inputs == (ir.Operand(literal=1), ir.Operand(ref="scale"))
    assert film.body[-1].types == (ir.TensorType("f32", ("B", 512)),)
    assert film.body[0].origin == "m.mf:5:24"


def test_ksin_parameter_names_are_dotted_paths():
    table = parameter_table(build_ok(KSIN, {"k": 4})["vector_field"])
    assert len(table) == 8 + 6 * 6
    assert table["repeat_0.3.film_mlp_0.linear_1.weight"] == ((1024, 512), "uniform_fan_in", 512)
    assert table["repeat_0.5.film_mlp_0.linear_2.bias"] == ((512,), "uniform_fan_in", 1024)
    assert table["layernorm_0.weight"] == ((512,), "ones", 1)
    assert table["layernorm_0.bias"] == ((512,), "zeros", 1)
    assert table["linear_2.weight"] == ((8, 512), "uniform_fan_in", 512)
    names = [name for name, _ in build_ok(KSIN, {"k": 4})["vector_field"].parameters]
    assert names == sorted(names)


DIGITS = """\
model classifier(x: f32[B, 64]) -> f32[B, 10] {
  h = relu(linear(x, 128))
  h = dropout(h, 0.1)
  return linear(h, 10)
}
"""


def test_digits_mlp():
    graph = build_ok(DIGITS)["classifier"]
    assert [m.name for m in graph.modules] == ["Classifier"]
    assert parameter_table(graph) == {
        "linear_0.bias": ((128,), "uniform_fan_in", 64), "linear_0.weight": ((128, 64), "uniform_fan_in", 64),
        "linear_1.bias": ((10,), "uniform_fan_in", 128), "linear_1.weight": ((10, 128), "uniform_fan_in", 128)}
    root = graph.modules[0]
    assert root.submodules[1] == ir.Layer("dropout_0", "Dropout", (("rate", 0.1),), ())
    assert [s.targets for s in root.body] == [("linear",), ("h",), ("h_1",), ("linear_1",)]
    assert root.outputs == (("linear_1", ir.TensorType("f32", ("B", 10))),)


def test_dropout_at_rate_zero_is_the_identity_and_leaves_no_layer():
    """``dropout(h, 0.0)`` (a block's default rate) is decided at compile time: no sub-module,
    no call, the next layer reads ``h`` itself; an integer 0 counts as 0.0, and the rate and
    the input's dtype are still checked first (an integer input failed at run time before)."""
    for rate in ("0.0", "0"):
        graph = build_ok(DIGITS.replace("dropout(h, 0.1)", f"dropout(h, {rate})"))["classifier"]
        root = graph.modules[0]
        assert [layer.attribute for layer in root.submodules] == ["linear_0", "linear_1"]
        assert [s.targets for s in root.body] == [("linear",), ("h",), ("linear_1",)]
        assert root.body[-1].inputs[0].ref == "h"
    assert rendered(DIGITS.replace("dropout(h, 0.1)", "dropout(h, 1.0)")) == [
        "m.mf:3:18: error[E0609]: dropout: `rate` must be in [0, 1), got 1.0\n"
        "  |\n"
        "3 |   h = dropout(h, 1.0)\n"
        "  |                  ^^^"
    ]
    for rate in ("0.1", "0.0"):  # the input is checked at rate 0 too, where the layer disappears
        assert rendered(DIGITS.replace("dropout(h, 0.1)", f"dropout(cast(h, i64), {rate})")) == [
            "m.mf:3:15: error[E0617]: dropout: x must be f32, got i64[B, 128]\n"
            "  |\n"
            f"3 |   h = dropout(cast(h, i64), {rate})\n"
            "  |               ^^^^^^^^^^^^"
        ]


def test_lowering_is_deterministic():
    first = ir.to_data(build_ok(KSIN, {"k": 4})["vector_field"])
    second = ir.to_data(build_ok(KSIN, {"k": 4})["vector_field"])
    assert first == second


MONO = """\
block mlp(x: [B, D], hidden: int = 32) -> [B, D] {
  return x + linear(relu(linear(x, hidden)), D)
}
model net(x: f32[B, 16]) -> f32[B, 16] {
  a = mlp(x)
  b = mlp(a, hidden = 64)
  c = mlp(b)
  repeat 6 { c = mlp(c, 64) }
  return c
}
"""


def test_monomorphisation_one_class_per_instantiation():
    graph = build_ok(MONO)["net"]
    assert [m.name for m in graph.modules] == ["Mlp", "Mlp2", "NetRepeat0", "Net"]
    root = module(graph, "Net")
    assert [(s.attribute, s.module) for s in root.submodules if isinstance(s, ir.Instance)] == [
        ("mlp_0", "Mlp"), ("mlp_1", "Mlp2"), ("mlp_2", "Mlp")]
    assert module(graph, "Mlp2").submodules[0].parameters[0].shape == (64, 16)
    assert module(graph, "NetRepeat0").submodules == (ir.Instance("mlp_0", "Mlp2"),)
    assert root.submodules[-1] == ir.ModuleList("repeat_0", "NetRepeat0", 6)
    table = parameter_table(graph)
    assert table["repeat_0.5.mlp_0.linear_0.weight"] == ((64, 16), "uniform_fan_in", 16)
    assert table["mlp_2.linear_1.weight"] == ((16, 32), "uniform_fan_in", 32)


UNROLL = """\
let widths = [8, 16, 8]
model net(x: f32[B, 4], use_norm: bool = true) -> f32[B, 8] {
  h = x
  for width in widths { h = gelu(linear(h, width)) }
  if use_norm { h = layernorm(h) } else { h = h * 2 }
  if not use_norm { h = rmsnorm(h) }
  return h
}
"""


def test_for_unrolls_and_if_chooses_at_compile_time():
    graph = build_ok(UNROLL, {"widths": (8, 16, 8)})["net"]
    root = graph.modules[0]
    assert [(s.attribute, dict(s.arguments)["out_features"]) for s in root.submodules if s.kind == "Linear"] == [
        ("linear_0", 8), ("linear_1", 16), ("linear_2", 8)]
    assert [s.attribute for s in root.submodules][-1] == "layernorm_0"
    assert not any(s.kind == "RMSNorm" for s in root.submodules)


MULTI = """\
block disc(x: [B, T, C], channels: list) -> ([B, 1], list) {
  feats = []
  h = x
  for c in channels {
    h = leaky_relu(conv1d(h, c, 3, stride = 2, padding = 1), negative_slope = 0.2)
    feats = feats + [h]
  }
  return mean(flatten(h), keepdims = true), feats
}
model discriminators(x: f32[B, 32, 1]) -> (list, list) {
  logits = []
  feats = []
  for widths in [[4, 8], [4]] {
    logit, maps = disc(x, widths)
    logits = logits + [logit]
    feats = feats + maps
  }
  return logits, feats
}
"""


def test_blocks_and_models_returning_lists_of_tensors():
    graph = build_ok(MULTI)["discriminators"]
    assert graph.output_structure == (2, 3)
    assert [t.shape for t in graph.outputs] == [("B", 1), ("B", 1), ("B", 16, 4), ("B", 8, 8), ("B", 16, 4)]
    first = module(graph, "Disc")
    assert [name for name, _ in first.outputs] == ["mean", "h", "h_1"]  # `h = x` only aliases
    root = module(graph, "Discriminators")
    assert [s.targets for s in root.body] == [("logit", "maps_0", "maps_1"), ("logit_1", "maps_0_1")]
    assert [name for name, _ in root.outputs] == ["logit", "logit_1", "maps_0", "maps_1", "maps_0_1"]
    assert "disc_1.conv1d_0.weight" in parameter_table(graph)


INSTANCE = """\
block mlp_flow(x: [B, latent_dim], t: [B], latent_dim: int = 16, num_blocks: int = 2) -> [B, latent_dim] {
  h = linear(x, 32) + linear(sinusoidal(t, 32), 32)
  repeat num_blocks { h = h + linear(silu(h), 32) }
  a, b = split(h, 2)
  return linear(concat([a, b, a * b]), latent_dim)
}
model flow = mlp_flow(latent_dim = 8, num_blocks = 3)
model small = mlp_flow
"""


def test_model_instantiated_from_a_block():
    graphs = build_ok(INSTANCE)
    flow, small = graphs["flow"], graphs["small"]
    assert flow.root == "MlpFlow" and small.root == "MlpFlow2"
    assert flow.inputs == (("x", ir.TensorType("f32", ("B", 8))), ("t", ir.TensorType("f32", ("B",))))
    assert small.inputs[0][1].shape == ("B", 16)
    root = module(flow, "MlpFlow")
    concat = next(s for s in root.body if s.function == "concat")
    assert [o.ref for o in concat.inputs] == ["a", "b", "mul"] and concat.types[0].shape == ("B", 48)
    assert "repeat_0.2.linear_0.weight" in parameter_table(flow)
    assert "repeat_0.2.linear_0.weight" not in parameter_table(small)


SYMBOLIC = """\
model net(x: f32[B, T, 3]) -> f32[B, (T - 2) // 2 + 1, 8] {
  h = conv1d(x, 8, 3, padding = same, padding_mode = reflect)
  return conv1d(h, 8, 4, stride = 2, padding = 1)
}
"""


def test_symbolic_time_axis_through_convolutions():
    graph = build_ok(SYMBOLIC)["net"]
    assert graph.outputs == (ir.TensorType("f32", ("B", "(T - 2) // 2 + 1", 8)),)
    first = graph.modules[0].submodules[0]
    assert dict(first.arguments)["padding"] == "same"
    assert first.parameters[0] == ir.Parameter("weight", (8, 3, 3), "uniform_fan_in", 9)


NESTED = """\
block cell(x: [B, D], c: [B, D]) -> [B, D] {
  return x + linear(x * c, D)
}
model nested(x: f32[B, 4], c: f32[B, 4]) -> f32[B, 4] {
  h = x
  repeat 2 {
    g = layernorm(h)
    repeat 3 { h = cell(h, g) + c }
  }
  return h
}
"""


def test_nested_repeats_capture_outer_values_and_name_parameters():
    import numpy as np

    from specc.runtime import init
    from tests.graphs.interpreter import run

    graph = build_ok(NESTED)["nested"]
    assert [m.name for m in graph.modules] == ["Cell", "NestedRepeat0Repeat0", "NestedRepeat0", "Nested"]
    inner = module(graph, "NestedRepeat0Repeat0")
    assert [name for name, _ in inner.inputs] == ["h", "g", "c"]  # carried, then read: g local, c from the model
    outer = module(graph, "NestedRepeat0")
    assert [name for name, _ in outer.inputs] == ["h", "c"]
    table = parameter_table(graph)
    assert "repeat_0.1.repeat_0.2.cell_0.linear_0.weight" in table and len(table) == 2 * 2 + 2 * 3 * 2
    inputs = {"x": np.ones((3, 4)), "c": np.full((3, 4), 0.5)}
    (output,) = run(graph, inputs, {"B": 3})
    arrays = init.initialize(graph.parameters, 0)
    h = inputs["x"]
    for i in range(2):  # the same computation written out: each repetition its own parameters
        centred = h - h.mean(-1, keepdims=True)
        g = centred / np.sqrt((centred**2).mean(-1, keepdims=True) + 1e-5)
        g = g * arrays[f"repeat_0.{i}.layernorm_0.weight"] + arrays[f"repeat_0.{i}.layernorm_0.bias"]
        for j in range(3):
            prefix = f"repeat_0.{i}.repeat_0.{j}.cell_0.linear_0."
            h = h + (h * g) @ arrays[prefix + "weight"].T + arrays[prefix + "bias"] + inputs["c"]
    np.testing.assert_allclose(output, h, rtol=1e-6)


CHOICES = """\
block act(x: [B, D], kind: str = gelu) -> [B, D] {
  if kind == relu { x = relu(x) } else if kind == "tanh" { x = tanh(x) } else { x = gelu(x, approximate = tanh) }
  return x
}
model m(x: f32[B, 4]) -> f32[B, 4] {
  settings = [[8, relu], [4, tanh], [4, gelu]]
  for setting in settings {
    width, kind = setting
    x = act(linear(x, width), kind = kind)
  }
  return x
}
"""


def test_words_hyperparameters_and_else_if():
    graph = build_ok(CHOICES)["m"]
    functions = [[s.function for s in m.body] for m in graph.modules if m.source == "act"]
    assert functions == [["relu"], ["tanh"], ["gelu"]]
    assert [m.name for m in graph.modules] == ["Act", "Act2", "Act3", "M"]


def test_repeat_body_reads_a_list_of_tensors_from_outside():
    text = """\
model m(x: f32[B, 4]) -> f32[B, 4] {
  a, b = split(linear(x, 4), 2)
  parts = [a, b]
  repeat 2 { x = x + concat(parts, axis = -1) }
  return x
}
"""
    graph = build_ok(text)["m"]
    body = module(graph, "MRepeat0")
    assert [name for name, _ in body.inputs] == ["x", "parts_0", "parts_1"]
    repeat = next(s for s in module(graph, "M").body if s.call == "repeat")
    assert [o.ref for o in repeat.inputs] == ["x", "a", "b"]


def test_model_instance_positional_arguments_are_hyperparameters():
    graphs = build_ok(INSTANCE + "model positional = mlp_flow(8, 1)\n")
    assert graphs["positional"].inputs[0][1].shape == ("B", 8)
    assert "repeat_0.0.linear_0.weight" in parameter_table(graphs["positional"])
    assert "repeat_0.1.linear_0.weight" not in parameter_table(graphs["positional"])


def test_returning_a_several_valued_call_returns_every_value():
    text = """\
block pair(x: [B, D]) -> ([B, D], [B, 2]) { return x, linear(x, 2) }
model m(x: f32[B, 4]) -> (f32[B, 4], f32[B, 2]) { return pair(x) }
"""
    graph = build_ok(text)["m"]
    assert [t.shape for t in graph.outputs] == [("B", 4), ("B", 2)] and graph.output_structure == (None, None)


def test_compile_time_functions():
    text = """\
model m(x: f32[B, 4], widths: list = [8, 16]) -> f32[B, 4] {
  for index in range(len(widths)) { x = linear(x, max(widths) // (index + 1)) }
  for step in range(2, 8, 3) { x = linear(x, min(step, 3)) }
  return linear(x, 4)
}
"""
    root = build_ok(text)["m"].modules[0]
    assert [dict(s.arguments)["out_features"] for s in root.submodules] == [16, 8, 2, 3, 4]
