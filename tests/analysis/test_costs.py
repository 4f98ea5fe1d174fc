"""FLOPs and memory of ``specc summary`` against their formulas (docs/tools.md).

Convention: a multiply-add is 2 FLOPs, per example, forward; a training step is 3 x the
forward (backward = 2 x forward) for every example of the step.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from specc.compiler.analysis import costs
from specc.compiler.analysis.report import format_summary, parse_memory
from specc.compiler.analysis.summary import summarize
from specc.compiler.pipeline import check

ROOT = Path(__file__).resolve().parents[2]

SPEC = """spec costs
language 1

data digits {{
  batch_size = 32
}}

model net(x: f32[B, 64]) -> f32[B, 10] {{
  h = linear(reshape(x, [B, 8, 8]), 16)
  c = linear(reshape(x, [B, 4, 16]), 16)
  a = attention(h, 4{context})
  return linear(flatten(a), 10)
}}

objective classification {{
  model = net
  target = data.y
  inputs = {{ x = data.x }}
}}

optimizer {optimizer}

train {{
  max_steps = 10
  precision = {precision}
}}
"""


def summary_of(tmp_path, context: str = "", optimizer: str = "adam {}", precision: str = "fp32"):
    path = tmp_path / "costs.mf"
    path.write_text(SPEC.format(context=context, optimizer=optimizer, precision=precision))
    result = check(str(path), lambda name: Path(name).read_bytes())
    assert result.program is not None, result.diagnostics
    return summarize(result.program)


def rows_by_path(summary):
    return {row.path: row for row in summary.models[0].rows}


def test_linear_flops_are_two_in_out_per_position(tmp_path):
    rows = rows_by_path(summary_of(tmp_path))
    assert rows["linear_0"].flops == 2 * 8 * 16 * 8  # [8, 8] -> [8, 16]: 8 positions
    assert rows["linear_2"].flops == 2 * (8 * 16) * 10  # flatten -> [128] -> [10]
    assert costs.linear_flops(64, 128) == 16_384


def test_self_attention_flops_follow_the_formula(tmp_path):
    rows = rows_by_path(summary_of(tmp_path))
    steps, dim = 8, 16
    formula = 4 * steps * dim**2 + 4 * steps * dim**2 + 4 * steps * steps * dim
    assert rows["attention_0"].flops == formula == 8 * steps * dim**2 + 4 * steps**2 * dim


def test_cross_attention_counts_the_context_length(tmp_path):
    rows = rows_by_path(summary_of(tmp_path, context=", context = c"))
    queries, keys, dim = 8, 4, 16
    assert rows["attention_0"].flops == 4 * queries * dim**2 + 4 * keys * dim**2 + 4 * queries * keys * dim


def test_a_training_step_is_three_forwards_of_every_example(tmp_path):
    summary = summary_of(tmp_path)
    forward = sum(row.flops for row in summary.models[0].rows)
    assert summary.models[0].forward_flops == forward
    assert summary.flops_per_step == 3 * forward * 32


@pytest.mark.parametrize(
    ("optimizer", "precision", "states", "copy_bytes"),
    [("adam {}", "fp32", 2, 0), ("sgd {}", "fp32", 0, 0), ("sgd { momentum = 0.9 }", "fp32", 1, 0),
     ("lion {}", "bf16", 1, 2)],
)
def test_parameter_memory_at_the_precision(tmp_path, optimizer, precision, states, copy_bytes):
    summary = summary_of(tmp_path, optimizer=optimizer, precision=precision)
    count = summary.parameters
    assert summary.parameter_bytes == summary.gradient_bytes == 4 * count
    assert summary.optimizer_bytes == 4 * states * count
    assert summary.working_copy_bytes == copy_bytes * count
    assert summary.static_bytes == (8 + 4 * states + copy_bytes) * count


def test_largest_batch_fits_and_one_more_does_not(tmp_path):
    summary = summary_of(tmp_path)
    budget = summary.static_bytes + 1000 * summary.activation_bytes + 5
    assert summary.largest_batch(budget) == 1000
    assert summary.memory(1000) <= budget < summary.memory(1001)
    assert summary.largest_batch(summary.static_bytes) == 0
    text = format_summary(summary, summary.static_bytes // 2)
    assert "none fits: the parameters, gradients and optimizer state alone need" in text


def test_activations_count_the_attention_scores(tmp_path):
    """Saved activations of one example: every statement's output, the inputs, the
    outputs again (the loss) and, for attention, q, k, v, mixed and 3 score tensors."""
    summary = summary_of(tmp_path)
    outputs = 8 * 8 + 8 * 16 + 4 * 16 + 4 * 16 + 8 * 16 + 8 * 16 + 10  # reshape, linear, reshape, linear, attention, flatten, linear
    attention = 4 * 8 * 16 + 3 * 4 * 8 * 8
    expected = 4 * (outputs + attention + 64 + 10)
    assert summary.models[0].activation_bytes == expected


def test_astro_lm_flops_match_the_transformer_formula():
    """astro_lm at its spec sizes: 12 layers of 4 linear projections, the feed-forward pair
    and attention, plus the output head, for T = 1023 tokens (the one-token shift)."""
    result = check(str(ROOT / "specs" / "astro_lm.mf"), lambda name: Path(name).read_bytes())
    model = summarize(result.program).models[0]
    steps, dim, hidden, layers, vocabulary = 1023, 768, 3072, 12, 4101
    per_layer = costs.attention_flops(dim, steps, steps) + 2 * costs.linear_flops(dim, hidden, steps)
    assert dict(model.dimensions) == {"T": steps}
    assert model.forward_flops == layers * per_layer + costs.linear_flops(dim, vocabulary, steps)


@pytest.mark.parametrize(("text", "size"), [("80GB", 80 * 10**9), ("24 GiB", 24 * 2**30), ("512MB", 512 * 10**6),
                                            ("1.5TB", 15 * 10**11), ("100", 100)])
def test_memory_sizes_are_read_with_their_unit(text, size):
    assert parse_memory(text) == size


@pytest.mark.parametrize("text", ["80 gigs", "GB", "-1GB", "0GB", ""])
def test_unreadable_memory_sizes_say_how_to_write_one(text):
    with pytest.raises(ValueError, match="memory size"):
        parse_memory(text)
