"""`reshape` with several sizes unknown until run time (issue 16): a target whose symbolic
sizes are the input's own axes (`[B, T, heads, head_size]` from `[B, T, D]`) is accepted and
reads those axes from the tensor at run time (`from_input`); `-1` is still inferred; a target
whose number of values cannot be proven equal is E0609 at the target, with the exact text."""

from __future__ import annotations

import numpy as np
import pytest
from specc.runtime import checks
from specc.runtime.reference import layers as reference

from tests.graphs.helpers import build_ok, module, rendered

HEADS = "model m(x: f32[B, T, 8]) -> f32[B, 2, T, 4] {\n  return transpose(reshape(x, [B, T, 2, 4]), [0, 2, 1, 3])\n}\n"
MERGE = "model m(x: f32[B, 2, T, 4]) -> f32[B, T, 8] {\n  return reshape(transpose(x, [0, 2, 1, 3]), [B, T, -1])\n}\n"
REFUSED = "model m(x: f32[B, T, 8]) -> f32[B, T, 8] {\n  return reshape(x, %s)\n}\n"


def _reshape(text: str):
    (statement,) = [s for s in module(build_ok(text)["m"], "M").body if s.function == "reshape"]
    return statement


def test_symbols_of_the_input_are_carried_through():
    statement = _reshape(HEADS)
    assert dict(statement.arguments) == {"shape": (-1, -1, 2, 4), "from_input": ((0, 0), (1, 1))}
    assert statement.types[0].shape == ("B", "T", 2, 4)


def test_minus_one_is_still_inferred_next_to_carried_symbols():
    statement = _reshape(MERGE)
    assert dict(statement.arguments) == {"shape": (-1, -1, -1), "from_input": ((0, 0), (1, 1))}
    assert statement.types[0].shape == ("B", "T", 8)


def test_one_unknown_size_keeps_the_plain_minus_one():
    text = "model m(x: f32[B, 64]) -> f32[B, 8, 8] {\n  return reshape(x, [B, 8, 8])\n}\n"
    assert dict(_reshape(text).arguments) == {"shape": (-1, 8, 8)}


@pytest.mark.parametrize("target, message", [
    ("[B, T, 4, 3]", ("reshape: cannot prove that the target shape [B, T, 4, 3] holds as many values as the input "
                      "[B, T, 8]: 12 * B * T against 8 * B * T")),
    ("[B, T, 3, -1]", ("reshape: cannot prove that the target shape [B, T, 3, -1] holds as many values as the input "
                       "[B, T, 8]: 8 * B * T is not a multiple of 3 * B * T")),
    ("[B, T, -1, -1]", "reshape: the target shape [B, T, -1, -1] may hold at most one -1"),
    ("[B, T * 2, 4]", ("reshape: size 2 * T of the target shape [B, 2 * T, 4] is not an axis of the input [B, T, 8]; "
                       "with more than one size unknown until run time, each must be an axis of the input")),
])
def test_an_unprovable_target_is_a_positioned_e0609(target, message):
    line = f"  return reshape(x, {target})"
    assert rendered(REFUSED % target) == [
        f"m.mf:2:21: error[E0609]: {message}\n  |\n2 | {line}\n  |                     {'^' * len(target)}"]


def test_a_symbol_the_input_does_not_hold_is_refused():
    text = "model m(x: f32[B, T, 8], y: f32[B, S]) -> f32[B, S, 8] {\n  return reshape(x, [B, S, 8])\n}\n"
    assert rendered(text) == [(
        "m.mf:2:21: error[E0609]: reshape: size S of the target shape [B, S, 8] is not an axis of the input "
        "[B, T, 8]; with more than one size unknown until run time, each must be an axis of the input\n  |\n"
        "2 |   return reshape(x, [B, S, 8])\n  |                     ^^^^^^^^^")]


def test_the_runtime_reads_the_carried_axes_from_the_tensor():
    x = np.arange(3 * 5 * 8, dtype=np.float32).reshape(3, 5, 8)
    assert checks.reshape_target("reshape", x.shape, (-1, -1, 2, 4), ((0, 0), (1, 1))) == (3, 5, 2, 4)
    assert checks.reshape_target("reshape", x.shape, (-1, -1, -1), ((0, 0), (1, 1))) == (3, 5, 8)
    np.testing.assert_array_equal(reference.reshape(x, (-1, -1, 2, 4), ((0, 0), (1, 1))), x.reshape(3, 5, 2, 4))
