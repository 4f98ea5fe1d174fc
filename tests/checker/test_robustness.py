"""The checker answers every mutated spec with diagnostics, never with an exception."""

import re

import pytest

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


@pytest.mark.parametrize(
    "loss, message",
    [
        ("cross_entropy(label_smoothing = 1.5)", "E0403 15:42 `label_smoothing` must be < 1, found 1.5"),
        ("cross_entropy(ignore_index = 1.5)", "E0402 15:39 `ignore_index` expects an integer, found float `1.5`"),
    ],
)
@pytest.mark.parametrize("backend", [None, "jax", "lightning", "mlx"])
def test_an_invalid_loss_term_argument_is_one_positioned_diagnostic(loss, message, backend):
    """A loss term whose argument fails validation is reported once, at the argument, by lint
    and compile alike; the later checks (loss terms, backend capabilities) see the default."""
    text = DIGITS.replace("  target = data.y\n", f"  target = data.y\n  loss = {loss}\n")
    result = run(text, backend=backend)
    assert result.program is None
    [error] = result.errors
    assert f"{error.code} {error.span.line}:{error.span.column} {error.message}" == message
