"""The draw of `specc sample` (specc/sample.py): greedy, top-k, temperature, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from specc.compiler import pipeline
from specc.load import CheckpointError
from specc.sample import context_length, next_token
from tests.specs.helpers import read, SPECS


def test_temperature_zero_is_the_argmax():
    logits = np.array([0.1, 2.5, -1.0, 2.4])
    assert next_token(logits, 0, None, np.random.default_rng(0)) == 1


def test_top_one_is_the_argmax_at_any_temperature():
    logits = np.array([0.1, 2.5, -1.0, 2.4])
    assert {next_token(logits, 5.0, 1, np.random.default_rng(seed)) for seed in range(20)} == {1}


def test_top_k_draws_only_among_the_k_largest_and_follows_the_softmax():
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    generator = np.random.default_rng(0)
    draws = np.array([next_token(logits, 1.0, 2, generator) for _ in range(4000)])
    assert set(draws) == {0, 1}
    assert np.mean(draws == 0) == pytest.approx(0.5 / 0.8, abs=0.03)


def test_a_seed_gives_the_same_tokens():
    logits = np.linspace(-1, 1, 50)
    first = [next_token(logits, 1.0, None, generator) for generator in [np.random.default_rng(3)] for _ in range(10)]
    second = [next_token(logits, 1.0, None, generator) for generator in [np.random.default_rng(3)] for _ in range(10)]
    assert first == second


def test_a_checkpoint_that_is_not_a_language_model_is_refused():
    program = pipeline.check(str(SPECS / "digits_mlp.mf"), read, (), None).program
    with pytest.raises(CheckpointError, match="draws tokens from a language model; this checkpoint's objective is `classification`"):
        context_length(program, program.models[0].name)


def test_the_context_length_and_its_context():
    program = pipeline.check(str(SPECS / "astro_lm.mf"), read, (), None).program
    with pytest.raises(CheckpointError, match="feeds a model one input of token ids; model `lm` takes tokens: i64, types: i64"):
        context_length(program, "lm")



def test_the_context_is_the_declared_sequence_length():
    from tests.data.test_token_stream_end_to_end import SPEC

    from tests.checker.helpers import memory_reader

    result = pipeline.check("lm.mf", memory_reader({"lm.mf": SPEC.format(vocab=20)}), (), None)
    assert not result.errors, result.diagnostics
    program = result.program
    assert context_length(program, "lm") == 16
