"""Seed 003 trains on stereo audio (`in_channels: 2`): std/vae.mf's `multichannel_audio_vae`
and std/discriminators.mf's `multichannel_encodec_discriminator` take audio of `channels`
channels `[B, length, channels]` (the mono `audio_vae` and `encodec_discriminator` stay as
they are). specs/audio_vae_gan.mf written with them over `synthetic_audio { channels = 2 }`
lints, builds the shapes the seed's modules have, and trains with the same losses on jax,
lightning and mlx."""

from __future__ import annotations

import pytest
from specc.compiler import pipeline
from specc.compiler.emit import render as emit

from tests.backends.test_spec_parity import run_backends_together, train_losses, worst_relative_difference
from tests.specs.helpers import read, spec_path

BACKENDS = ("jax", "lightning", "mlx")
REDUCED = [
    "length=1024", "base_channels=4", "latent_dim=4", "stages=[[1,2],[2,4]]", "dilations=[1]", "stft_resolutions=[128,64]",
    "stft_filters=4", "n_ffts=[128]", "msd_scales=[1]", "mpd_periods=[2]", "mpd_stages=[[4,3],[8,1]]",
    "msd_layers=[[4,15,1,1,7],[8,41,4,4,20],[8,5,1,1,2]]", "data.sizes=[32,8,8]", "data.batch_size=4",
    "train.max_steps=6", "train.eval_every=3", "train.log_every=1", "train.checkpoint.every=3", "train.precision=fp32",
    "sample_latent=false",
]


def stereo_text() -> str:
    """specs/audio_vae_gan.mf over two channels, with the multichannel blocks."""
    text = read(spec_path("audio_vae_gan")).decode("utf-8")
    if "multichannel_audio_vae(" in text:  # the example is stereo already
        return text
    for old, new in (
        ("  batch_size = 8\n}", "  batch_size = 8\n  channels = 2\n}"),
        ("model vae = audio_vae(\n  length = length,", "model vae = multichannel_audio_vae(\n  length = length,\n  channels = 2,"),
        ("model discriminator = encodec_discriminator(\n  length = length,",
         "model discriminator = multichannel_encodec_discriminator(\n  length = length,\n  channels = 2,"),
    ):
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def check(overrides=()):
    path = spec_path("audio_vae_gan").replace("audio_vae_gan.mf", "audio_vae_stereo.mf")
    text = stereo_text()
    return pipeline.check(path, lambda name: text.encode("utf-8") if name == path else read(name), tuple(overrides))


def test_the_stereo_models_take_and_return_two_channels():
    result = check(REDUCED)
    assert [diagnostic.message for diagnostic in result.diagnostics] == []
    vae, discriminator = (next(graph for graph in result.program.models if graph.name == name) for name in ("vae", "discriminator"))
    assert [(name, kind.shape) for name, kind in vae.inputs] == [("x", ("B", 1024, 2))]
    assert vae.outputs[0].shape == ("B", 1024, 2)
    assert [(name, kind.shape) for name, kind in discriminator.inputs] == [("x", ("B", 1024, 2))]
    first = dict(vae.parameters)
    assert any(shape[1:2] == (2,) for shape in (parameter.shape for parameter in first.values()))  # the first conv reads 2 channels


@pytest.mark.slow
def test_the_stereo_gan_trains_alike_on_every_backend(tmp_path):
    program = check(REDUCED).program
    run_backends_together({backend: emit.render(program, backend) for backend in BACKENDS}, tmp_path)
    series = {backend: train_losses(tmp_path / f"run_{backend}") for backend in BACKENDS}
    assert all(sorted(losses) == list(range(1, 7)) for losses in series.values()), series
    worst, where = worst_relative_difference(series)
    assert worst <= 1e-4, f"{worst:.3e} at {where}"
