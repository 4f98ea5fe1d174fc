"""The standard library (specs/std/*.mf): every file loads clean, every block is used by a
seed spec, and block variants not reachable with --set lower with the expected counts."""

from __future__ import annotations

import math

import pytest

from specc.dsl.diagnostics import render_text
from specc.compiler.graphs.build import build_models
from specc.compiler.pipeline import std_root
from specc.dsl.imports import load_program
from tests.specs import counts
from tests.specs.helpers import SPECS, check_ok, module_sources, read
from tests.specs.test_seed_specs import MEANFLOW_SMALL

STD_FILES = sorted(path.name for path in (SPECS / "std").glob("*.mf"))

# one reduced configuration per seed spec (and per meanflow architecture): together they
# instantiate every block of the standard library
PROGRAMS = [
    ("meanflow_audio", MEANFLOW_SMALL + [f'architecture="{name}"']) for name in ("mlp", "conv", "mixer")
] + [
    ("astro_lm", ["d_model=16", "n_layers=1", "n_heads=2", "d_ff=32"]),
    ("audio_classifier", ["length=1920", "n_fft=256", "hop=128", "n_mels=16"]),
    ("audio_vae_gan", ["length=2048", "base_channels=4", "latent_dim=3", "stft_filters=4"]),
    ("ksin_flow_transformer", ["k=2", "signal_length=64", "num_layers=1", "d_model=16", "conditioning_dim=8",
                               "num_heads=2", "d_ff=32", "num_tokens=4", "d_enc=8"]),
]


def test_std_files_exist():
    assert STD_FILES == ["classifier.mf", "convnext.mf", "discriminators.mf", "flow_mlp.mf", "losses.mf",
                         "mixer.mf", "times.mf", "transformer.mf", "vae.mf"]


@pytest.mark.parametrize("name", STD_FILES)
def test_std_file_loads_without_diagnostics(name):
    loaded = load_program(str(SPECS / "std" / name), read, std_root())
    assert loaded.diagnostics == []
    assert loaded.modules[-1].spec_name is None  # a library: no `spec` line


def test_every_std_block_is_used_by_a_seed_spec():
    defined = set()
    for name in STD_FILES:
        module = load_program(str(SPECS / "std" / name), read, std_root()).modules[-1]
        defined |= {item.name for item in module.items if type(item).__name__ == "Block"}
    used = set()
    for spec, overrides in PROGRAMS:
        used |= module_sources(check_ok(spec, overrides))
    assert len(defined) == 33
    # transformer_block (unmasked, optionally bidirectional) is the general block; the seed's
    # LM uses its masked form. It is exercised on its own below. The losses of std/losses.mf
    # are for user specs (loss = graph("huber")): tests/graphs/test_graph_losses.py runs them;
    # so are the time samplers of std/times.mf (tests/graphs/test_graph_time_samplers.py).
    # audio_vae_gan is stereo (seed 003's in_channels = 2): the mono audio_vae and
    # encodec_discriminator ([B, length]) are built below
    # (test_mono_vae_and_discriminator_lower_with_the_seeds_counts), and the VAE also by
    # tests/graphs/test_sampling_parameters.py and tests/graphs/test_layer_features.py.
    assert defined - used == {"transformer_block", "smooth_l1", "huber", "pseudo_huber", "focal", "beta_time",
                              "logit_normal_time", "shifted_time", "audio_vae", "encodec_discriminator"}


def build(text: str) -> dict:
    sources = {"variants.mf": text}

    def reader(path: str) -> bytes:
        return sources[path].encode() if path in sources else read(path)

    loaded = load_program("variants.mf", reader, std_root())
    diagnostics = list(loaded.diagnostics)
    graphs = build_models(loaded.modules, {}, diagnostics)
    assert not diagnostics, "\n".join(render_text(d, loaded.sources) for d in diagnostics)
    return graphs


def count(graph) -> int:
    return sum(math.prod(parameter.shape) for _, parameter in graph.parameters)


def layer_kinds(graph) -> set[str]:
    return {statement.function for module in graph.modules for statement in module.body}


SMALL = "num_params = 8, signal_length = 64, d_model = 16, conditioning_dim = 8, num_heads = 2, d_ff = 32, " \
        "num_tokens = 4, d_enc = 8"


@pytest.mark.parametrize(
    ("arguments", "layers", "time_encoding", "pe_type"),
    [
        ("num_layers = 2, time_encoding = sinusoidal", 2, "sinusoidal", None),
        ("num_layers = 2, norm = rms, outer_residual = true", 2, "scalar", None),
        ("num_layers = 3, skip_first_norm = true", 3, "scalar", None),
        ("num_layers = 1, skip_first_norm = true", 1, "scalar", None),
        ("num_layers = 2, learn_pe = true", 2, "scalar", "initial"),
        ("num_layers = 3, learn_pe = true, pe_type = layerwise", 3, "scalar", "layerwise"),
        ("num_layers = 2, learn_pe = true, pe_type = layerwise, skip_first_norm = true", 2, "scalar", "layerwise"),
        ("num_layers = 2, learn_pe = false, pe_type = layerwise", 2, "scalar", None),
    ],
)
def test_approx_equiv_transformer_variants(arguments, layers, time_encoding, pe_type):
    graphs = build(f'import "std/transformer.mf"\nmodel vf = approx_equiv_transformer({SMALL}, {arguments})\n')
    graph = graphs["vf"]
    assert count(graph) == counts.approx_equiv_transformer(8, 64, layers, 16, 8, 32, 4, 8, time_encoding, pe_type)
    assert ("PositionalEmbedding" in layer_kinds(graph)) == (pe_type is not None)
    assert graph.outputs[0].shape == ("B", 8)
    if "rms" in arguments:
        assert "RMSNorm" in layer_kinds(graph) and "LayerNorm" not in layer_kinds(graph)
    if "sinusoidal" in arguments:
        assert "sinusoidal" in layer_kinds(graph)


def test_mono_vae_and_discriminator_lower_with_the_seeds_counts():
    """The mono blocks, which no seed spec uses since audio_vae_gan is stereo: audio [B, length]
    in and out, one channel where the multichannel blocks have `channels`."""
    graphs = build('import "std/vae.mf"\nimport "std/discriminators.mf"\n'
                   "model vae = audio_vae(length = 2048, base_channels = 4, latent_dim = 3)\n"
                   "model critic = encodec_discriminator(length = 2048, stft_filters = 4)\n")
    vae, critic = graphs["vae"], graphs["critic"]
    assert [(name, kind.shape) for name, kind in vae.inputs] == [("x", ("B", 2048))]
    assert vae.outputs[0].shape == ("B", 2048)
    assert count(vae) == counts.audio_vae(4, [[1, 2], [2, 4], [4, 4], [8, 8]], 3, 7, [1, 3, 9])
    assert [(name, kind.shape) for name, kind in critic.inputs] == [("x", ("B", 2048))]
    assert count(critic) == counts.encodec_discriminator(4, 5, 3, 5)
    stereo = counts.audio_vae(4, [[1, 2], [2, 4], [4, 4], [8, 8]], 3, 7, [1, 3, 9], audio_channels=2)
    assert count(vae) < stereo  # the first and last convolutions have one channel


def test_transformer_block_is_causal_by_default_and_can_be_bidirectional():
    graphs = build('import "std/transformer.mf"\n'
                   "model a(x: f32[B, T, 16]) -> f32[B, T, 16] { return transformer_block(x, 2, 32) }\n"
                   "model b(x: f32[B, T, 16]) -> f32[B, T, 16] { return transformer_block(x, 2, 32, causal = false) }\n")
    expected = 2 * counts.norm(16) + counts.attention(16) + counts.feed_forward(16, 32)
    for name, causal in (("a", True), ("b", False)):
        assert count(graphs[name]) == expected
        layers = [layer for module in graphs[name].modules for layer in module.submodules
                  if getattr(layer, "kind", "") == "MultiHeadAttention"]
        assert dict(layers[0].arguments)["causal"] is causal


def test_period_discriminator_pads_to_a_multiple_of_the_period():
    graphs = build('import "std/discriminators.mf"\n'
                   "model d(x: f32[B, 100, 1]) -> (list, list) { return period_discriminator(x, 3, [[4, 3], [8, 1]]) }\n")
    graph = graphs["d"]
    assert count(graph) == counts.period_discriminator([[4, 3], [8, 1]])
    pads = [s for module in graph.modules for s in module.body if s.function == "pad"]
    assert [dict(s.arguments)["after"] for s in pads] == [2]  # 100 -> 102 = 34 * 3
    assert graph.output_structure == (1, 3)
