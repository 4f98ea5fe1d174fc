"""The five seed specs lint clean and lower to IR with the parameter counts of the seeds'
architectures (counted by hand in ``counts.py``) at reduced ``--set`` sizes."""

from __future__ import annotations

import pytest

from tests.specs import counts
from tests.specs.helpers import SEED_SPECS, check, check_ok, module_sources, parameter_count


@pytest.mark.parametrize("name", SEED_SPECS)
def test_seed_spec_is_clean_at_real_size(name):
    result = check(name)
    assert result.diagnostics == []
    assert result.program.spec_name == name


MEANFLOW_SMALL = [
    "window=48", "patch_length=4", "mdct_window=8", "latent_dimension=8", "condition_dimension=4", "mlp_blocks=2",
    "conv_channels=8", "conv_blocks=2", "mixer_blocks=2", "token_mix_dim=6", "channel_mix_dim=10",
    "num_channels=5", "num_latent_tokens=3", "data.batch_size=4",
]


# token domain of each pipeline at window = 48: MDCT with N = 8 gives ceil(48 / 8) + 1 = 7
# frames of 8 (56 values); patches of 4 give 12 x 4 (48 values)
TOKENS = {"mdct": (7, 8, "mdct", "imdct"), "reshape": (12, 4, "reshape_patches", "merge_patches")}
ARCHITECTURES = {
    "mlp": (lambda count, width: counts.mlp_flow(count * width, 8, 2, 4), {"mlp_flow", "film_residual"}),
    "conv": (lambda count, width: counts.conv_flow(width, 8, 2, 4), {"conv_flow", "convnext_block", "grn"}),
    "mixer": (lambda count, width: counts.mixer_flow(count * width, 8, 2, 4, 6, 10, 5, 3), {"mixer_flow", "mixer_block"}),
}


@pytest.mark.parametrize("tokenization", TOKENS)
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_meanflow_architectures_and_pipelines(architecture, tokenization):
    overrides = [f'architecture="{architecture}"', f'tokenization="{tokenization}"']
    program = check_ok("meanflow_audio", MEANFLOW_SMALL + overrides)
    count, width, forward, inverse = TOKENS[tokenization]
    expected, blocks = ARCHITECTURES[architecture]
    assert parameter_count(program, "flow") == expected(count, width)
    assert blocks | {"time_condition"} <= module_sources(program)
    graph = program.models[0]
    assert [name for name, _ in graph.inputs] == ["x", "t", "h"]
    assert graph.outputs[0].shape == ("B", 48)
    functions = [statement.function for module in graph.modules for statement in module.body]
    assert forward in functions and inverse in functions


TIMES = {
    "uniform": (("kind", "uniform"),),
    "logit_normal(mean = -0.5, std = 0.8)": (("kind", "logit_normal"), ("mean", -0.5), ("std", 0.8)),
    "mean_flow(data_proportion = 0.7)": (("data_proportion", 0.7), ("kind", "mean_flow"), ("mean", -0.4), ("std", 1.0)),
}
PATHS = {
    "uniform": (("kind", "uniform"),),
    "linear(noise_min = 0.01, noise_max = 0.99)": (("kind", "linear"), ("noise_max", 0.99), ("noise_min", 0.01)),
}


MEAN_FLOW_TIME = "mean_flow(data_proportion = 0.7)"


@pytest.mark.parametrize("time", TIMES)
@pytest.mark.parametrize("path", PATHS)
def test_meanflow_schedules_and_time_samplers_are_selectable(path, time):
    """Every path goes with the mean-flow time sampler; the other time samplers draw no r,
    so the mean-flow objectives refuse them with a positioned diagnostic (E0712)."""
    overrides = MEANFLOW_SMALL + [f"objective.path={path}", f"objective.time={time}"]
    if time != MEAN_FLOW_TIME:
        result = check("meanflow_audio", overrides)
        assert [(d.code, d.span.file) for d in result.errors] == [("E0712", "--set")]
        return
    program = check_ok("meanflow_audio", overrides)
    arguments = dict(program.objective.arguments)
    assert program.objective.kind == "improved_mean_flow"
    assert tuple(sorted(arguments["time"])) == TIMES[time]
    assert tuple(sorted(arguments["path"])) == PATHS[path]


def test_meanflow_default_schedule_is_the_seeds():
    arguments = dict(check_ok("meanflow_audio", MEANFLOW_SMALL).objective.arguments)
    assert tuple(sorted(arguments["path"])) == (("kind", "linear"), ("noise_max", 0.999), ("noise_min", 0.001))
    assert tuple(sorted(arguments["time"])) == (("data_proportion", 0.5), ("kind", "mean_flow"), ("mean", -0.4),
                                                ("std", 1.0))


def test_astro_lm_counts_and_vocabulary_layout():
    overrides = ["d_model=16", "n_layers=2", "n_heads=2", "d_ff=32", "image_vocabulary=20", "scalar_vocabulary=10",
                 "spectrum_vocabulary=12", "data.sequence_length=40", "data.image_tokens=8", "data.scalar_tokens=4",
                 "data.spectrum_tokens=8", "data.batch_size=2", "max_len=64"]
    program = check_ok("astro_lm", overrides)
    vocabulary = 5 + 20 + 10 + 12
    assert parameter_count(program, "lm") == counts.causal_lm(vocabulary, 16, 2, 32, 64)
    assert program.models[0].outputs[0].shape == ("B", "T", vocabulary)
    modalities = [dict(term.loss.arguments)["modality"] for term in program.objective.terms[1:]]
    assert modalities == ["image", "scalar", "spectrum"]
    # the terms read the data source's layout: ranges start at 5, 5 + 20, 5 + 20 + 10
    from specc.runtime import data as specc_data

    arguments = {key: value for key, value in dict(program.data.source.arguments).items() if key != "coupling"}
    source = specc_data.make_source("synthetic_tokens", **arguments)
    starts = [specc_data.expected_value_term(source, modality)[1] for modality in modalities]
    assert starts == [(5,), (25,), (35,)]
    assert [term.weight for term in program.objective.terms] == [1.0, 0.1, 0.1, 0.1]
    assert {"causal_lm", "masked_transformer_block", "feed_forward"} <= module_sources(program)


def test_audio_classifier_counts_at_the_seeds_size():
    program = check_ok("audio_classifier")
    # the seed's fc(64 * 6 * 6): a 32 x 32 log-mel image
    assert parameter_count(program, "classifier") == counts.mel_classifier(15872, 512, 32, [32, 64], 10)
    assert counts.mel_classifier(15872, 512, 32, [32, 64], 10) - counts.linear(64 * 6 * 6, 10) == 320 + 18496


def test_audio_classifier_counts_reduced():
    overrides = ["length=1920", "n_fft=256", "hop=128", "n_mels=16", "num_classes=4", "data.batch_size=4"]
    program = check_ok("audio_classifier", overrides)
    assert parameter_count(program, "classifier") == counts.mel_classifier(1920, 128, 16, [32, 64], 4)
    assert "mel_classifier" in module_sources(program)


@pytest.mark.parametrize(("use_msd", "use_mpd"), [(True, True), (False, True), (True, False), (False, False)])
def test_audio_vae_gan_counts(use_msd, use_mpd):
    overrides = ["length=2048", "base_channels=4", "latent_dim=3", "stft_filters=4", "data.batch_size=2",
                 f"use_msd={str(use_msd).lower()}", f"use_mpd={str(use_mpd).lower()}"]
    program = check_ok("audio_vae_gan", overrides)
    stages = [[1, 2], [2, 4], [4, 4], [8, 8]]
    # stereo (in_channels = 2): the first convolutions read two channels, the decoder returns two
    assert parameter_count(program, "vae") == counts.audio_vae(4, stages, 3, 7, [1, 3, 9], audio_channels=2)
    expected = counts.encodec_discriminator(4, 5, 3 if use_msd else 0, 5 if use_mpd else 0, channels=2)
    assert parameter_count(program, "discriminator") == expected
    discriminator = next(graph for graph in program.models if graph.name == "discriminator")
    sub_discriminators = 5 + 3 * use_msd + 5 * use_mpd
    assert len(discriminator.output_structure) == 2
    assert discriminator.output_structure[0] == sub_discriminators
    # MS-STFT: 6 feature maps each; MSD: 7; MPD: 6
    assert discriminator.output_structure[1] == 5 * 6 + 3 * 7 * use_msd + 5 * 6 * use_mpd
    wanted = {"multichannel_audio_vae", "vae_encoder", "vae_decoder", "residual_unit",
              "multichannel_encodec_discriminator", "stft_discriminator"}
    wanted |= {"scale_discriminator"} if use_msd else set()
    wanted |= {"period_discriminator"} if use_mpd else set()
    assert wanted <= module_sources(program)


def test_audio_vae_gan_encoder_can_be_frozen():
    program = check_ok("audio_vae_gan", ["length=2048", "base_channels=4", "latent_dim=3", "stft_filters=4",
                                         'train.freeze=["vae.vae_encoder_0"]'])
    assert program.train.freeze == ("vae.vae_encoder_0",)
    vae = next(graph for graph in program.models if graph.name == "vae")
    frozen = [name for name, _ in vae.parameters if name.startswith("vae_encoder_0.")]
    assert len(frozen) == 2 * (1 + 4 * 3 * 2 + 4 + 1)  # weight and bias of 30 convolutions


def test_ksin_flow_transformer_counts():
    overrides = ["k=2", "signal_length=64", "num_layers=2", "d_model=16", "conditioning_dim=8", "num_heads=2",
                 "d_ff=32", "num_tokens=4", "d_enc=8", "data.batch_size=4", "data.sizes=[64, 16, 16]"]
    program = check_ok("ksin_flow_transformer", overrides)
    assert parameter_count(program, "vector_field") == counts.approx_equiv_transformer(4, 64, 2, 16, 8, 32, 4, 8)
    assert {"approx_equiv_transformer", "adaln_transformer_block", "plain_norm", "feed_forward"} <= module_sources(program)
