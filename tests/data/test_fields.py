"""Fields added for the seeds: synthetic_tokens ``types`` / ``attn_mask`` (seed 001) and
multi-channel audio (seed 003), in the runtime and in the compiler's field table."""

from __future__ import annotations

import numpy as np
import pytest

from specc.compiler import pipeline
from specc.compiler.emit import render as emit
from specc.runtime.data import check_fields, make_source
from tests.data.test_sources import write_wav


def test_token_types_follow_the_layout_and_the_mask_is_false_on_pad():
    source = make_source(
        "synthetic_tokens",
        sequence_length=14,
        image_tokens=2,
        scalar_tokens=2,
        spectrum_tokens=4,
        spectrum_groups=2,
        missing=0.5,
        sizes=(6, 2, 2),
        seed=3,
    )
    assert source.fields == {"tokens": ("i64", (14,)), "types": ("i64", (14,)), "attn_mask": ("bool", (14,))}
    batch = source.get("train", np.arange(6))
    # BOS, image x2, SEP, scalar x2, SEP, spectrum group 0 x2, group 1 x2, EOS, PAD x2
    row = [0, 1, 1, 0, 2, 2, 0, 3, 3, 4, 4, 0, 0, 0]
    np.testing.assert_array_equal(batch["types"], np.tile(row, (6, 1)))
    assert batch["types"].dtype == np.int64 and batch["attn_mask"].dtype == np.bool_
    np.testing.assert_array_equal(batch["attn_mask"], batch["tokens"] != 0)
    np.testing.assert_array_equal(batch["attn_mask"][0], [True] * 12 + [False] * 2)
    missing = batch["tokens"][:, 4:6] == 4  # MISS keeps the scalar type
    assert missing.any() and np.all(batch["types"][:, 4:6][missing] == 2)


def test_stereo_synthetic_audio_extends_the_mono_signal():
    mono = make_source("synthetic_audio", length=64, sizes=(6, 2, 2), seed=2)
    stereo = make_source("synthetic_audio", length=64, sizes=(6, 2, 2), seed=2, channels=2)
    assert mono.fields["audio"] == ("f32", (64,)) and stereo.fields["audio"] == ("f32", (64, 2))
    left, right = mono.get("train", [1, 4])["audio"], stereo.get("train", [1, 4])["audio"]
    np.testing.assert_array_equal(right[..., 0], left)  # channel 0 is the mono signal
    # channel 1 of example i: g * tone + noise * e with g, e from default_rng([seed, 0, i, 1])
    label, frequency, phase, amplitude = stereo._rows("train")
    time = np.arange(64) / stereo.sample_rate
    for row, index in enumerate([1, 4]):
        tone = amplitude[index] * np.sin(2 * np.pi * frequency[index] * time + phase[index])
        generator = np.random.default_rng([2, 0, index, 1])
        gain = generator.uniform(0.5, 1.0)
        expected = gain * tone + 0.1 * generator.standard_normal(64)
        np.testing.assert_allclose(right[row, :, 1], expected.astype(np.float32), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="synthetic_audio: channels must be positive, got 0"):
        make_source("synthetic_audio", channels=0)


def test_wav_folder_keeps_channels_when_asked(tmp_path):
    tone = (np.sin(np.arange(100) * 0.2) * 16000).astype(np.int16)
    for index in range(3):
        write_wav(tmp_path / "a" / f"{index}.wav", np.stack([tone, -tone], axis=1).reshape(-1), 8000, channels=2)
        write_wav(tmp_path / "b" / f"{index}.wav", tone, 8000)
    source = make_source("wav_folder", path=str(tmp_path), length=120, channels=2, val_fraction=0.0, test_fraction=0.0)
    assert source.fields["audio"] == ("f32", (120, 2))
    batch = source.get("train", np.arange(6))
    assert batch["audio"].shape == (6, 120, 2)
    expected = tone / 32768.0
    stereo, mono = batch["audio"][batch["label"] == 0], batch["audio"][batch["label"] == 1]
    np.testing.assert_allclose(stereo[:, :100, 0], np.tile(expected, (3, 1)), atol=1e-6)
    np.testing.assert_allclose(stereo[:, :100, 1], -np.tile(expected, (3, 1)), atol=1e-6)
    np.testing.assert_allclose(mono[:, :100, 1], np.tile(expected, (3, 1)), atol=1e-6)  # mono copied
    assert np.all(batch["audio"][:, 100:] == 0)
    write_wav(tmp_path / "b" / "odd.wav", np.zeros(300, np.int16), 8000, channels=3)
    three = make_source("wav_folder", path=str(tmp_path), length=120, channels=2, val_fraction=0.0, test_fraction=0.0)
    with pytest.raises(ValueError, match="odd.wav has 3 channels, expected 2 \\(or 1\\)"):
        three.get("train", np.arange(three.size("train")))


AUDIO_SPEC = """\
spec stereo
data synthetic_audio {{
  length = 64
  channels = {channels}
  num_classes = 3
  batch_size = 8
  num_workers = 2
  prefetch_factor = 4
  persistent_workers = true
  pin_memory = true
  drop_last = false
  transforms = [normalize, clip(minimum = -2.0), random_gain(max_db = 3.0), time_shift(max_shift = 4)]
}}
model m(audio: f32[B, {shape}]) -> f32[B, 3] {{
  return linear(flatten(audio), 3)
}}
objective classification {{
  target = data.label
  inputs = {{ audio = data.audio }}
}}
optimizer adam {{ lr = 1e-3 }}
train {{ max_steps = 4, loggers = [csv, mlflow, wandb] }}
"""


def check(text: str, backend: str | None = None):
    return pipeline.check("spec.mf", lambda name: text.encode(), (), backend)


@pytest.mark.parametrize("channels,shape", [(1, "64"), (2, "64, 2")])
def test_audio_fields_and_loader_keys_compile(channels, shape):
    result = check(AUDIO_SPEC.format(channels=channels, shape=shape), "jax")
    assert result.program is not None, [f"{d.code} {d.message}" for d in result.diagnostics]
    fields = {field.name: tuple(field.type.shape) for field in result.program.data.fields}
    assert fields["audio"] == ((64,) if channels == 1 else (64, 2))
    arguments = dict(result.program.data.source.arguments)
    assert (arguments["num_workers"], arguments["prefetch_factor"], arguments["drop_last"]) == (2, 4, False)
    kinds = [dict(item)["kind"] for item in arguments["transforms"]]
    assert kinds == ["normalize", "clip", "random_gain", "time_shift"]
    source = make_source("synthetic_audio", **emit.source_arguments(result.program.data))  # as the script does
    check_fields(source.fields, {"audio": ("f32", fields["audio"]), "label": ("i64", ())})


def test_a_mono_model_on_stereo_data_is_a_shape_error():
    result = check(AUDIO_SPEC.format(channels=2, shape="64"))
    assert result.program is None
    assert [(d.code, d.message) for d in result.diagnostics] == [
        ("E0703", "model `m` declares input `audio` as f32[B, 64], but data.audio is f32[B, 64, 2]")
    ]


@pytest.mark.parametrize(
    "replace,code,text",
    [
        ("normalize,", "E0306", "unknown transform `flip`"),
        ("num_workers = 2", "E0403", "`num_workers` must be >= 0, found -1"),
        ("persistent_workers = true", "E0401", "unknown key `persistent` in data"),
    ],
)
def test_data_key_errors(replace, code, text):
    spec = AUDIO_SPEC.format(channels=1, shape="64")
    spec = spec.replace(
        replace,
        {
            "normalize,": "flip,",
            "num_workers = 2": "num_workers = -1",
            "persistent_workers = true": "persistent = true",
        }[replace],
    )
    diagnostics = check(spec).diagnostics
    assert any(d.code == code and text in d.message for d in diagnostics), [
        f"{d.code} {d.message}" for d in diagnostics
    ]


def test_worker_type_process_is_accepted_and_others_are_rejected_with_the_choices():
    spec = AUDIO_SPEC.format(channels=1, shape="64").replace("num_workers = 2", "num_workers = 2, worker_type = process")
    assert check(spec).diagnostics == []
    spec = AUDIO_SPEC.format(channels=1, shape="64").replace("num_workers = 2", "worker_type = fork")
    diagnostics = check(spec).diagnostics
    assert [(d.code, d.message) for d in diagnostics] == [
        ("E0406", "`worker_type` must be one of thread, process; found `fork`")
    ]


TOKENS_SPEC = b"""\
spec tokens
data synthetic_tokens {
  sequence_length = 32
  image_tokens = 4
  scalar_tokens = 2
  spectrum_tokens = 4
  batch_size = 4
}
model lm(tokens: i64[B, T], types: i64[B, T], attn_mask: bool[B, T]) -> f32[B, T, 96] {
  h = embedding(tokens, 96, 16) + embedding(types, 4, 16)
  h = h + attention(layernorm(h), 2, causal = true, mask = attn_mask)
  return linear(h, 96)
}
objective language_model {
  model = lm
  target = data.tokens
  inputs = { types = data.types, attn_mask = data.attn_mask }
}
optimizer adam { lr = 1e-3 }
train { max_steps = 4 }
"""


def test_token_types_and_mask_are_data_fields_of_the_spec():
    result = pipeline.check("tokens.mf", lambda name: TOKENS_SPEC, ())
    assert result.program is not None, [f"{d.code} {d.message}" for d in result.diagnostics]
    fields = {field.name: (field.type.dtype, tuple(field.type.shape)) for field in result.program.data.fields}
    assert fields == {"tokens": ("i64", (32,)), "types": ("i64", (32,)), "attn_mask": ("bool", (32,))}
    assert dict(result.program.objective.inputs) == {
        "tokens": "data.tokens",
        "types": "data.types",
        "attn_mask": "data.attn_mask",
    }
