"""The checker on language models over a token stream: the shift is the checker's (the model
reads ``T - 1`` of a ``T``-token field, E0703 says so) and the vocabulary of ``data.meta`` /
``data.vocab_size`` is held against the logits (E0526)."""

from __future__ import annotations

import json

from tests.checker.helpers import codes, edit, rendered, run

STREAM = """\
spec stream_lm
let vocab_size = 65

data token_stream {
  path = "tok"
  block_size = 64
  batch_size = 4
}

model lm(tokens: i64[B, 64]) -> f32[B, 64, vocab_size] {
  h = positional_embedding(embedding(tokens, vocab_size, 16), 64)
  return linear(layernorm(h), vocab_size)
}

objective language_model {
  model = lm
  target = data.tokens
}

optimizer adamw { lr = 1e-3 }

train { max_steps = 10 }
"""


def with_meta(text: str, meta: str = "tok/meta.json") -> str:
    return edit(text, "  block_size = 64\n", f'  block_size = 64\n  meta = "{meta}"\n')


def test_the_model_declares_the_length_it_reads():
    result = run(STREAM)
    assert result.errors == [] and result.program is not None
    assert [field.type.shape for field in result.program.data.fields] == [(65,)]


def test_declaring_the_unshifted_length_names_the_shift():
    text = edit(edit(STREAM, "tokens: i64[B, 64]", "tokens: i64[B, 65]"), "16), 64)", "16), 65)")
    text = edit(text, "f32[B, 64, vocab_size]", "f32[B, 65, vocab_size]")
    assert rendered(run(text)) == [
        "spec.mf:16:11: error[E0703]: model `lm` declares input `tokens` as i64[B, 65], but data.tokens[:, :-1] "
        "is i64[B, 64]\n"
        "   |\n"
        "16 |   model = lm\n"
        "   |           ^^\n"
        "help: objective `language_model` feeds every position but the last (data.tokens[:, :-1]) and predicts "
        "data.tokens[:, 1:]: declare i64[B, 64]"
    ]


def test_a_symbolic_length_is_accepted():
    text = edit(edit(STREAM, "tokens: i64[B, 64]", "tokens: i64[B, T]"), "f32[B, 64, vocab_size]", "f32[B, T, vocab_size]")
    assert run(text).errors == []


def test_positional_capacity_is_held_against_the_shifted_length():
    text = edit(STREAM, "16), 64)", "16), 63)")
    assert rendered(run(text)) == [
        "spec.mf:11:63: error[E0618]: positional_embedding: the input [B, 64, 16] has 64 positions but "
        "`max_length` is 63\n"
        "   |\n"
        "11 |   h = positional_embedding(embedding(tokens, vocab_size, 16), 63)\n"
        "   |                                                               ^^"
    ]


def test_a_metadata_file_that_agrees_is_accepted():
    result = run(with_meta(STREAM), files={"tok/meta.json": json.dumps({"vocab_size": 65})})
    assert result.errors == []


def test_an_absent_metadata_file_is_the_scripts_question():
    assert run(with_meta(STREAM)).errors == []


def test_the_metadata_vocabulary_is_held_against_the_logits():
    result = run(with_meta(STREAM), files={"tok/meta.json": json.dumps({"vocab_size": 66})})
    assert rendered(result) == [
        "spec.mf:7:10: error[E0526]: `tok/meta.json` gives vocab_size = 66, but model `lm` returns 65 logits per token\n"
        "  |\n"
        '7 |   meta = "tok/meta.json"\n'
        "  |          ^^^^^^^^^^^^^^^\n"
        "help: the model's last axis is the vocabulary: 66"
    ]


def test_a_written_vocab_size_is_held_against_the_logits():
    text = edit(STREAM, "  block_size = 64\n", "  block_size = 64\n  vocab_size = 64\n")
    assert rendered(run(text)) == [
        "spec.mf:7:16: error[E0526]: data.vocab_size is 64, but model `lm` returns 65 logits per token\n"
        "  |\n"
        "7 |   vocab_size = 64\n"
        "  |                ^^\n"
        "help: the model's last axis is the vocabulary: 64"
    ]


def test_a_written_vocab_size_is_held_against_the_metadata():
    text = edit(with_meta(STREAM), "  block_size = 64\n", "  block_size = 64\n  vocab_size = 64\n")
    result = run(text, files={"tok/meta.json": json.dumps({"vocab_size": 65})})
    assert rendered(result) == [
        "spec.mf:7:16: error[E0526]: data.vocab_size is 64 but `tok/meta.json` gives vocab_size = 65\n"
        "  |\n"
        "7 |   vocab_size = 64\n"
        "  |                ^^"
    ]


def test_metadata_that_is_not_json_or_lacks_the_size_is_positioned():
    result = run(with_meta(STREAM), files={"tok/meta.json": "{vocab_size: 65}"})
    assert codes(result) == ["E0526"]
    assert result.diagnostics[0].message.startswith("`tok/meta.json` is not JSON: Expecting property name")
    result = run(with_meta(STREAM), files={"tok/meta.json": json.dumps({"stoi": {}})})
    assert rendered(result) == [
        'spec.mf:7:10: error[E0526]: `tok/meta.json` has no "vocab_size" (a positive integer)\n'
        "  |\n"
        '7 |   meta = "tok/meta.json"\n'
        "  |          ^^^^^^^^^^^^^^^\n"
        'help: write the vocabulary size as JSON: {"vocab_size": N}'
    ]


def test_pickle_metadata_is_refused_even_when_absent():
    result = run(with_meta(STREAM, "tok/meta.pkl"))
    assert codes(result) == ["E0526"]
    assert result.diagnostics[0].message == (
        "`tok/meta.pkl` is a pickle, which specc does not read (loading one runs code from the file)"
    )


def test_positions_inside_a_library_block_are_checked_once_per_layer():
    """astro_lm's causal_lm (std/transformer.mf) reads tokens, types and attn_mask, all
    shifted: one E0717 at the block's positional_embedding, not one per input."""
    from pathlib import Path

    from specc.compiler.pipeline import check

    root = Path(__file__).resolve().parents[2]
    result = check("specs/astro_lm.mf", lambda path: (root / path).read_bytes(), ("max_len=64",))
    assert [(diagnostic.code, diagnostic.span.file, diagnostic.span.line) for diagnostic in result.errors] == [
        ("E0717", "<std>/transformer.mf", 44)
    ]
    assert result.errors[0].message == (
        "positional_embedding holds 64 positions, but objective `language_model` feeds model `lm` 1023 "
        "(T = 1023: data.tokens[:, :-1])"
    )


FROM_META = STREAM.replace("let vocab_size = 65\n", "").replace("vocab_size", "data.vocab_size")


def test_the_model_may_take_its_vocabulary_from_the_metadata_file():
    result = run(with_meta(FROM_META), files={"tok/meta.json": json.dumps({"vocab_size": 70, "itos": {}})})
    assert result.errors == [] and result.program is not None
    (graph,) = result.program.models.values() if isinstance(result.program.models, dict) else result.program.models
    assert graph.outputs[0].shape[-1] == 70


def test_a_vocabulary_left_to_an_unreadable_file_is_named_where_it_is_used():
    lines = [text.splitlines()[0] for text in rendered(run(with_meta(FROM_META)))]
    assert lines == [
        "spec.mf:11:46: error[E0603]: `data.vocab_size` is not known at compile time: it is the \"vocab_size\" of "
        "`tok/meta.json`, which cannot be read here (or has none)",
        "spec.mf:12:31: error[E0603]: `data.vocab_size` is not known at compile time: it is the \"vocab_size\" of "
        "`tok/meta.json`, which cannot be read here (or has none)",
    ]


def test_a_vocabulary_named_without_meta_or_vocab_size_says_so():
    lines = [text.splitlines()[0] for text in rendered(run(FROM_META))]
    assert lines[0] == ("spec.mf:10:46: error[E0603]: `data.vocab_size` is not known at compile time: the token_stream "
                        "source sets neither `vocab_size` nor `meta`")


def test_a_pickled_metadata_file_is_reported_once():
    result = run(with_meta(FROM_META, "tok/meta.pkl"), files={"tok/meta.pkl": b"\x80\x04"})
    assert codes(result).count("E0526") == 1


def test_a_language_models_one_input_reads_the_target_whatever_its_name():
    """nanoGPT's forward(idx): the one input of a language model is fed the target's
    positions but the last, named `idx` or anything else."""
    text = edit(edit(STREAM, "model lm(tokens: i64[B, 64])", "model lm(idx: i64[B, 64])"),
                "embedding(tokens,", "embedding(idx,")
    result = run(text)
    assert result.errors == [] and result.program is not None
    text = edit(text, "model lm(idx: i64[B, 64])", "model lm(idx: i64[B, 64], other: i64[B, 64])")
    assert codes(run(text)) == ["E0702", "E0702"]  # two inputs: each must be bound
