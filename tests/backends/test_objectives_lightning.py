"""Objectives ``language_model`` (astro_lm) and ``adversarial`` (audio_vae_gan) on
PyTorch Lightning: the seed specs shrunk with ``--set``, compiled, run in a subprocess; the
loss falls, every value and metric is in metrics.csv, the GAN resumes exactly, and a frozen
encoder keeps its initial weights. Fast unit checks of the runtime pieces come first."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from specc.compiler.emit import render as emit
from specc.compiler.emit.objectives import adversarial_view
from specc.runtime.torch import losses, objectives
from specc.runtime.training import read_metrics
from tests.backends.runner import run_script
from tests.specs.helpers import check_ok

pytest.importorskip("lightning")

BACKEND = "lightning"
ENVIRONMENT = {"OMP_NUM_THREADS": "1"}

LANGUAGE_MODEL = (
    "d_model=32", "n_layers=2", "n_heads=2", "d_ff=64", "max_len=64", "image_vocabulary=32",
    "scalar_vocabulary=16", "spectrum_vocabulary=32", "data.sequence_length=48", "data.image_tokens=16",
    "data.scalar_tokens=8", "data.spectrum_tokens=16", "data.sizes=[512,64,64]", "data.batch_size=16",
    "sample_k=64", "train.max_steps=40", "schedule.warmup=5", "train.eval_every=20", "train.log_every=10",
    "train.checkpoint.every=20",
)
LANGUAGE_MODEL_VALUES = {"loss", "cross_entropy", "expected_codebook_image", "expected_scalar", "expected_codebook_spectrum"}

GAN_STEPS = 30
GAN = (
    "length=2048", "base_channels=8", "latent_dim=8", "stages=[[1,2],[2,4]]", "dilations=[1]", "stft_filters=8",
    "n_ffts=[256,128]", "msd_scales=[1,2]", "mpd_periods=[2,3]", "mpd_stages=[[8,3],[16,1]]",
    "msd_layers=[[8,15,1,1,7],[16,41,4,4,20],[16,5,1,1,2]]", "stft_resolutions=[256,128]", "data.sizes=[64,16,16]",
    "data.batch_size=4", f"train.max_steps={GAN_STEPS}", "train.eval_every=15", "train.log_every=5",
    "train.checkpoint.every=15",
)
GAN_GENERATOR_VALUES = {"loss", "reconstruction", "l1", "multi_resolution_stft", "kl", "adversarial", "feature_matching", "grad_norm"}
GAN_EVAL_VALUES = {"l1", "multi_resolution_stft", "reconstruction", "kl", "loss"}


def compile_script(spec, overrides, folder, name):
    """``folder/<name>.py``: the spec compiled for Lightning with ``overrides``."""
    program = check_ok(spec, overrides, BACKEND)
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / f"{name}.py"
    script.write_text(emit.render(program, BACKEND), encoding="utf-8")
    return script


def run(script, run_dir, *arguments):
    result = run_script(script, "--out-dir", run_dir, *arguments, timeout=600, env=ENVIRONMENT)
    assert result.returncode == 0, f"{script} exited {result.returncode}:\n{result.stderr[-3000:]}"
    return read_metrics(run_dir / "metrics.csv")


def series(rows, split, name):
    return [row["value"] for row in rows if row["split"] == split and row["name"] == name]


def steps_of(rows, split, name):
    return [row["step"] for row in rows if row["split"] == split and row["name"] == name]


def last_checkpoint(run_dir):
    return load_file(str(run_dir / "checkpoints" / "last" / "model.safetensors"))


def load_script(script):
    """The generated script as a module (``build_model`` gives the initial weights)."""
    spec = importlib.util.spec_from_file_location(script.stem, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- runtime pieces


def test_expected_value_term_picks_the_runtime_term():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 12, generator=generator)
    labels = torch.tensor([[5, 6, 9, 10, 0], [7, 8, 11, 3, 5]])
    codebook = torch.randn(3, 4, generator=generator)
    centers = torch.tensor([-1.0, 0.0, 1.0])
    mask = torch.ones(2, 5, dtype=torch.bool)
    single = objectives.expected_value_term("expected_codebook", logits, labels, codebook, (5,), mask)
    assert float(single) == pytest.approx(float(losses.expected_codebook(logits, labels, codebook, 5, mask)))
    grouped = objectives.expected_value_term("expected_codebook", logits, labels, codebook, (5, 9), mask)
    assert float(grouped) == pytest.approx(float(losses.expected_codebook_grouped(logits, labels, codebook, (5, 9), mask)))
    scalar = objectives.expected_value_term("expected_scalar", logits, labels, centers, (5,), mask)
    assert float(scalar) == pytest.approx(float(losses.expected_scalar(logits, labels, centers, 5, mask)))
    with pytest.raises(ValueError, match="expected_scalar takes one vocabulary range; got 2 starts"):
        objectives.expected_value_term("expected_scalar", logits, labels, centers, (5, 9), mask)


def test_freeze_model_parameters_takes_names_with_or_without_the_model():
    models = torch.nn.Module()
    models.vae = torch.nn.Module()
    models.vae.encoder = torch.nn.Linear(2, 2)
    models.vae.decoder = torch.nn.Linear(2, 2)
    models.discriminator = torch.nn.Module()
    models.discriminator.encoder = torch.nn.Linear(2, 2)
    objectives.freeze_models(models, ["vae.decoder"])
    frozen = sorted(name for name, parameter in models.named_parameters() if not parameter.requires_grad)
    assert frozen == ["vae.decoder.bias", "vae.decoder.weight"]
    objectives.freeze_models(models, ["encoder"])  # in every model
    frozen = sorted(name for name, parameter in models.named_parameters() if not parameter.requires_grad)
    assert frozen == [
        "discriminator.encoder.bias", "discriminator.encoder.weight", "vae.decoder.bias", "vae.decoder.weight",
        "vae.encoder.bias", "vae.encoder.weight",
    ]
    with pytest.raises(ValueError, match="freeze: no parameter name starts with 'head'"):
        objectives.freeze_models(models, ["head"])


@pytest.mark.parametrize("option, message", [
    ("train.precision=fp16", r"fp16 \(dynamic loss scaling in the generator loop\) with objective `adversarial` is not implemented"),
])
def test_adversarial_refuses_what_its_loop_does_not_do(option, message):
    # the checker refuses these with a position (tests/checker/test_backend_refusals.py); the
    # emitter keeps the same refusals for programs rendered without the checker
    program = check_ok("audio_vae_gan", GAN + (option,))
    with pytest.raises(emit.EmitError, match=message):
        emit.render(program, BACKEND)


def test_adversarial_script_regroups_the_discriminator_outputs():
    program = check_ok("audio_vae_gan", GAN, BACKEND)
    models = {graph.name: {"inputs": [name for name, _ in graph.inputs]} for graph in program.models}
    assert adversarial_view(program, models)["discriminator_structure"] == (6, 26)
    text = emit.render(program, BACKEND)
    assert "return list(outputs[:6]), [list(outputs[6:])]" in text
    assert "self.automatic_optimization = False" in text
    assert text == emit.render(program, BACKEND)  # byte-identical


# ----------------------------------------------------------------------------- language model


@pytest.fixture(scope="module")
def language_model_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("astro_lm")
    script = compile_script("astro_lm", LANGUAGE_MODEL + ("train.precision=fp32",), folder, "train_astro_lm")
    return script, folder / "run", run(script, folder / "run")


def test_language_model_loss_falls_and_every_value_is_logged(language_model_run):
    _, _, rows = language_model_run
    losses_logged = series(rows, "train", "loss")
    assert steps_of(rows, "train", "loss") == [10, 20, 30, 40]
    assert losses_logged[-1] < losses_logged[0], losses_logged
    assert {row["name"] for row in rows if row["split"] == "train"} == LANGUAGE_MODEL_VALUES | {"grad_norm", "lr", "steps_per_s"}
    assert {row["name"] for row in rows if row["split"] == "val"} == LANGUAGE_MODEL_VALUES | {"perplexity", "accuracy"}
    for name in LANGUAGE_MODEL_VALUES | {"perplexity", "accuracy"}:
        assert steps_of(rows, "val", name) == [20, 40], name
    assert all(math.isfinite(row["value"]) for row in rows)
    # loss = CE + 0.1 * (sum of the three terms); per batch, so the means agree too
    for split in ("train", "val"):
        total = np.array(series(rows, split, "cross_entropy")) + 0.1 * sum(
            np.array(series(rows, split, name)) for name in LANGUAGE_MODEL_VALUES - {"loss", "cross_entropy"}
        )
        np.testing.assert_allclose(series(rows, split, "loss"), total, rtol=1e-5)
    # perplexity is the mean over batches of exp(CE): at least exp(mean CE) (Jensen), close to it
    for perplexity, cross_entropy in zip(series(rows, "val", "perplexity"), series(rows, "val", "cross_entropy")):
        assert math.exp(cross_entropy) <= perplexity < 1.01 * math.exp(cross_entropy)
    assert all(0.0 <= value <= 1.0 for value in series(rows, "val", "accuracy"))


def test_language_model_resume_with_dropout_is_exact(language_model_run, tmp_path):
    """20 steps, then ``--resume auto`` to 40: astro_lm has dropout 0.1, whose masks come from
    torch's global generator (checkpointed), so the resumed run logs the same values."""
    script, straight_dir, straight_rows = language_model_run
    run_dir = tmp_path / "run"
    run(script, run_dir, "--max-steps", 20)
    resumed_rows = run(script, run_dir, "--resume", "auto")
    straight = {(row["step"], row["split"], row["name"]): row["value"] for row in straight_rows if row["name"] != "steps_per_s"}
    again = {(row["step"], row["split"], row["name"]): row["value"] for row in resumed_rows if row["name"] != "steps_per_s"}
    assert set(again) == set(straight)
    for key, value in straight.items():
        assert again[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
    expected, resumed = last_checkpoint(straight_dir), last_checkpoint(run_dir)
    for name, value in expected.items():
        np.testing.assert_allclose(resumed[name], value, rtol=0, atol=1e-6, err_msg=name)


def test_language_model_bf16_with_accumulation(tmp_path):
    script = compile_script(
        "astro_lm", LANGUAGE_MODEL + ("train.precision=bf16", "train.accumulate=2"), tmp_path, "train_astro_lm_bf16"
    )
    rows = run(script, tmp_path / "run")
    losses_logged = series(rows, "train", "loss")
    assert steps_of(rows, "train", "loss") == [10, 20, 30, 40]
    assert all(math.isfinite(value) for value in losses_logged)
    assert losses_logged[-1] < losses_logged[0], losses_logged
    assert steps_of(rows, "val", "perplexity") == [20, 40]


# ----------------------------------------------------------------------------- adversarial


@pytest.fixture(scope="module")
def gan_straight(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio_vae_gan")
    script = compile_script("audio_vae_gan", GAN, folder, "train_audio_vae_gan")
    return script, folder / "run", run(script, folder / "run")


def test_adversarial_reconstruction_falls_and_every_value_is_logged(gan_straight):
    _, run_dir, rows = gan_straight
    reconstruction = series(rows, "train", "reconstruction")
    assert steps_of(rows, "train", "reconstruction") == [5, 10, 15, 20, 25, 30]
    assert reconstruction[-1] < reconstruction[0], reconstruction
    train_names = {row["name"] for row in rows if row["split"] == "train"}
    assert train_names == GAN_GENERATOR_VALUES | {"discriminator_loss", "discriminator_grad_norm", "lr", "steps_per_s"}
    assert {row["name"] for row in rows if row["split"] == "val"} == GAN_EVAL_VALUES
    for name in GAN_EVAL_VALUES:
        assert steps_of(rows, "val", name) == [15, 30], name
    # eval loss = reconstruction + kl_weight * kl; reconstruction = l1 + multi_resolution_stft
    for split in ("val",):
        loss, kl = np.array(series(rows, split, "loss")), np.array(series(rows, split, "kl"))
        recon = np.array(series(rows, split, "reconstruction"))
        np.testing.assert_allclose(loss, recon + 1e-4 * kl, rtol=1e-6)
        np.testing.assert_allclose(recon, np.array(series(rows, split, "l1")) + series(rows, split, "multi_resolution_stft"), rtol=1e-6)
    weights = last_checkpoint(run_dir)
    assert "vae.vae_encoder_0.conv1d_0.weight" in weights
    assert any(name.startswith("discriminator.stft_discriminator_0.") for name in weights)
    assert {name.split(".")[0] for name in weights} == {"vae", "discriminator"}
    optimizer = load_file(str(run_dir / "checkpoints" / "last" / "optimizer.safetensors"))
    assert any(key.startswith("lightning.optimizer_states.0.") for key in optimizer)
    assert any(key.startswith("lightning.optimizer_states.1.") for key in optimizer)


def test_adversarial_resume_is_exact(gan_straight, tmp_path):
    """15 steps, then ``--resume auto`` to 30: the same weights and the same logged values.
    CPU float32 with the same operations in the same order is deterministic, so the runs agree
    bit for bit; the tolerance (1e-6) only leaves room for a BLAS that is not."""
    script, straight_dir, straight_rows = gan_straight
    run_dir = tmp_path / "run"
    run(script, run_dir, "--max-steps", GAN_STEPS // 2)
    assert (run_dir / "checkpoints" / "last").resolve().name == "step-000015"
    resumed_rows = run(script, run_dir, "--resume", "auto")
    expected, resumed = last_checkpoint(straight_dir), last_checkpoint(run_dir)
    assert set(resumed) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(resumed[name], value, rtol=0, atol=1e-6, err_msg=name)
    straight = {(row["step"], row["split"], row["name"]): row["value"] for row in straight_rows if row["name"] != "steps_per_s"}
    again = {(row["step"], row["split"], row["name"]): row["value"] for row in resumed_rows if row["name"] != "steps_per_s"}
    assert set(again) == set(straight)
    for key, value in straight.items():
        assert again[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key


def test_a_frozen_encoder_keeps_its_initial_weights(tmp_path):
    script = compile_script(
        "audio_vae_gan",
        GAN + ("train.max_steps=4", "train.eval_every=4", "train.checkpoint.every=4", 'train.freeze=["vae.vae_encoder_0"]'),
        tmp_path,
        "train_audio_vae_gan_frozen",
    )
    run(script, tmp_path / "run")
    initial = {name: parameter.detach().numpy() for name, parameter in load_script(script).build_model(0).named_parameters()}
    trained = last_checkpoint(tmp_path / "run")
    encoder = [name for name in trained if name.startswith("vae.vae_encoder_0.")]
    assert encoder
    for name in encoder:
        np.testing.assert_array_equal(trained[name], initial[name], err_msg=name)
    decoder = [name for name in trained if name.startswith("vae.vae_decoder_0.")]
    assert any(not np.array_equal(trained[name], initial[name]) for name in decoder)
    assert any(not np.array_equal(trained[name], initial[name]) for name in trained if name.startswith("discriminator."))


def test_adversarial_warmup_keeps_the_discriminator_still(tmp_path):
    """``adversarial_warmup = 2``: updates 1 and 2 leave the discriminator alone (grad norm
    logged as 0) and the generator's loss is reconstruction + kl_weight * kl; from update 3
    on the discriminator trains and the adversarial terms count."""
    script = compile_script(
        "audio_vae_gan",
        GAN + ("objective.adversarial_warmup=2", "train.max_steps=4", "train.log_every=1", "train.eval_every=4", "train.checkpoint.every=4"),
        tmp_path,
        "train_audio_vae_gan_warmup",
    )
    rows = run(script, tmp_path / "run")
    assert steps_of(rows, "train", "discriminator_grad_norm") == [1, 2, 3, 4]
    norms = series(rows, "train", "discriminator_grad_norm")
    assert norms[:2] == [0.0, 0.0] and min(norms[2:]) > 0.0
    loss, kl = series(rows, "train", "loss"), series(rows, "train", "kl")
    reconstruction = series(rows, "train", "reconstruction")
    adversarial, matching = series(rows, "train", "adversarial"), series(rows, "train", "feature_matching")
    for step in range(4):
        expected = reconstruction[step] + 1e-4 * kl[step]
        if step >= 2:
            expected += adversarial[step] + 10.0 * matching[step]
        assert loss[step] == pytest.approx(expected, rel=1e-5), step
