"""A list-valued `let` reaches the model graphs as a compile-time list (a `for` over it
unrolls), and `--set` can replace it."""

from specc.compiler import pipeline

SPEC = b"""\
spec widths
let widths = [16, 8]

data digits { batch_size = 8 }

model mlp(x: f32[B, 64]) -> f32[B, 10] {
  h = x
  for w in widths {
    h = relu(linear(h, w))
  }
  return linear(h, 10)
}

objective classification {
  model = mlp
  target = data.y
  inputs = { x = data.x }
}

optimizer adam { lr = 1e-3 }
schedule constant {}
train { max_steps = 20 }
"""


def weight_shapes(overrides=()):
    result = pipeline.check("widths.mf", lambda name: SPEC, overrides)
    assert result.program is not None, [f"{d.code} {d.message}" for d in result.diagnostics]
    (model,) = result.program.models
    return {name: parameter.shape for name, parameter in model.parameters if name.endswith("weight")}


def test_a_list_let_unrolls_a_for_loop():
    assert weight_shapes() == {"linear_0.weight": (16, 64), "linear_1.weight": (8, 16), "linear_2.weight": (10, 8)}


def test_set_replaces_a_list_let():
    shapes = weight_shapes(("widths=[32, 16, 4]",))
    assert shapes == {
        "linear_0.weight": (32, 64),
        "linear_1.weight": (16, 32),
        "linear_2.weight": (4, 16),
        "linear_3.weight": (10, 4),
    }
