"""``specc summary``: the layer table, the training step's costs, ``--memory``, ``--json``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from specc.compiler.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def invoke(*arguments):
    return runner.invoke(app, [str(argument) for argument in arguments])


def test_summary_prints_the_layer_table_and_the_step():
    result = invoke("summary", ROOT / "specs" / "digits_mlp.mf")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "model mlp(x: f32[B, 64])" in lines
    assert "linear_0  Linear  [B, 128]       8,320                 16,384" in lines
    assert "total                           26,122                 51,712" in lines
    assert "  FLOPs per step          9.93 MFLOP (3 x forward FLOPs x 64 examples)" in lines
    assert "  optimizer adam          209 kB (2 fp32 values per parameter)" in lines
    assert "largest batch" not in result.stdout


def test_summary_with_a_memory_budget_gives_the_largest_batch():
    result = invoke("summary", ROOT / "specs" / "astro_lm.mf", "--memory", "80GB")
    assert result.exit_code == 0, result.output
    assert "model lm(tokens: i64[B, T], types: i64[B, T], attn_mask: bool[B, T]), T = 1023" in result.stdout
    assert "  fp16 working copy       186 MB" in result.stdout
    assert "  largest batch in 80 GB: 56 (estimated 79.1 GB)" in result.stdout


def test_summary_depth_shows_nested_blocks():
    shallow = invoke("summary", ROOT / "specs" / "astro_lm.mf").stdout
    deep = invoke("summary", ROOT / "specs" / "astro_lm.mf", "--depth", "3").stdout
    assert "masked_transformer_block_0" not in shallow
    rows = {line.split()[0]: line.split()[1:] for line in deep.splitlines() if line.strip()}
    assert rows["repeat_0.*.masked_transformer_block_0"][:2] == ["MaskedTransformerBlock", "[B,"]
    assert rows["repeat_0.*.masked_transformer_block_0.attention_0"][:1] == ["MultiHeadAttention"]
    steps, dim = 1023, 768
    attention_flops = 8 * steps * dim**2 + 4 * steps**2 * dim
    assert rows["repeat_0.*.masked_transformer_block_0.attention_0"][-2:] == [f"{4 * (dim * dim + dim):,}", f"{attention_flops:,}"]
    assert rows["repeat_0"][:3] == ["12", "x", "MaskedTransformerBlock"]


def test_summary_json_matches_the_text():
    result = invoke("summary", ROOT / "specs" / "audio_vae_gan.mf", "--json", "--model", "vae", "--memory", "24GiB")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [model["name"] for model in data["models"]] == ["vae"]
    assert data["models"][0]["parameters"] == 114_061_570  # stereo: the first and last convolutions have 2 channels
    assert data["parameters"] == 114_061_570 + 45_881_978  # the step trains both models
    assert data["memory_budget_bytes"] == 24 * 2**30
    assert data["largest_batch"] == (24 * 2**30 - data["memory_bytes"] + 8 * data["activation_bytes_per_example"]) // data[
        "activation_bytes_per_example"
    ]


def test_summary_of_one_model_says_the_step_counts_every_model():
    result = invoke("summary", ROOT / "specs" / "audio_vae_gan.mf", "--model", "discriminator")
    assert result.exit_code == 0, result.output
    assert "model vae(" not in result.stdout
    assert "the training step counts every model: vae, discriminator" in result.stdout
    assert "a lower bound: the discriminator runs on real and generated examples" in result.stdout


def test_summary_refuses_a_bad_memory_size_and_an_unknown_model():
    bad_memory = invoke("summary", ROOT / "specs" / "digits_mlp.mf", "--memory", "lots")
    assert bad_memory.exit_code == 2
    assert "error: cannot read the memory size 'lots': write a number and a unit, like 80GB, 24GiB or 512MB" in bad_memory.output
    unknown = invoke("summary", ROOT / "specs" / "digits_mlp.mf", "--model", "net")
    assert unknown.exit_code == 2
    assert "error: the spec has no model `net` (its models: mlp)" in unknown.output


def test_summary_applies_overrides():
    result = invoke("summary", ROOT / "specs" / "astro_lm.mf", "--set", "n_layers=2", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["parameters"] == 92_947_461 - 10 * 7_087_872


def test_the_commands_have_help_with_an_example():
    for command in ("graph", "plot", "summary"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Example: specc " + command in result.output
