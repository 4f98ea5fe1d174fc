"""The checker answers every mutated spec with diagnostics, never with an exception."""

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.checker.helpers import ADVERSARIAL, DIGITS, FLOW, run

VALUES = [
    "data",
    "k",
    "0",
    "-1",
    "1.5",
    '"x"',
    "true",
    "data.k",
    "data.x",
    "[1, 2]",
    "{ a = 1 }",
    "rk4(steps = 2)",
    "linear",
    "adam",
    "1e-3",
    "train.max_steps",
    "k * 2",
    "ot",
    "min",
    "cross_entropy + 0.1 * mse",
    "model",
    "1 / 0",
    "hidden",
    "mlp(1)",
    "[accuracy, chamfer]",
]
OVERRIDES = [(), ("k=3",), ("train.max_steps=x",), ("data.k=data.k",), ("optimizer.lr=[1]",), ("eval.metrics=[mse]",)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from([DIGITS, FLOW, ADVERSARIAL]),
    data=st.data(),
    overrides=st.sampled_from(OVERRIDES),
    backend=st.sampled_from([None, "jax", "mlx"]),
)
def test_mutated_specs_give_diagnostics_not_exceptions(base, data, overrides, backend):
    words = re.split(r"(\s+)", base)
    positions = [index for index, word in enumerate(words) if word.strip()]
    for index in data.draw(st.lists(st.sampled_from(positions), min_size=1, max_size=4)):
        words[index] = data.draw(st.sampled_from(VALUES))
    result = run("".join(words), overrides, backend)
    assert (result.program is None) == any(d.severity == "error" for d in result.diagnostics)
    assert result.diagnostics == sorted(result.diagnostics, key=lambda d: d.sort_key())
