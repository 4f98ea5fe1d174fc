"""The jax backend on objectives ``language_model`` (astro_lm) and ``adversarial``
(audio_vae_gan): shrunk with ``--set``, rendered, run in a subprocess, read back from
metrics.csv and the checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from specc.compiler.emit import render as emit
from specc.runtime import init, training
from specc.runtime.jax import training as jax_training
from tests.backends.runner import run_script
from tests.specs.helpers import check_ok

pytestmark = pytest.mark.slow

LM_STEPS, LM_EVAL = 40, 20
ASTRO_LM = [
    "d_model=32", "n_layers=2", "n_heads=2", "d_ff=64", "max_len=64", "image_vocabulary=32",
    "scalar_vocabulary=16", "spectrum_vocabulary=32", "data.sequence_length=48", "data.image_tokens=16",
    "data.scalar_tokens=8", "data.spectrum_tokens=16", "data.sizes=[512,64,64]", "data.batch_size=16",
    "sample_k=64", f"train.max_steps={LM_STEPS}", "schedule.warmup=5", f"train.eval_every={LM_EVAL}",
    "train.log_every=10", "train.checkpoint.every=20", "optimizer.lr=1e-3",
]
LM_VALUES = ["loss", "cross_entropy", "expected_codebook_image", "expected_codebook_spectrum", "expected_scalar"]

GAN_STEPS, GAN_EVAL = 20, 10
FROZEN = "vae.vae_encoder_0"
# smaller than the brief's sizes (length 1024, one STFT / scale / period sub-discriminator):
# every run compiles the GAN step, which dominates the time on 2 shared cores
AUDIO_VAE_GAN = [
    "length=1024", "base_channels=4", "latent_dim=4", "stages=[[1,2],[2,4]]", "dilations=[1]", "stft_filters=4",
    "n_ffts=[128]", "msd_scales=[1]", "mpd_periods=[2]", "mpd_stages=[[4,3],[8,1]]",
    "msd_layers=[[4,15,1,1,7],[8,41,4,4,20],[8,5,1,1,2]]", "stft_resolutions=[128,64]", "data.sizes=[32,8,8]",
    "data.batch_size=4", f"train.max_steps={GAN_STEPS}", f"train.eval_every={GAN_EVAL}", "train.log_every=5",
    "train.checkpoint.every=10", f'train.freeze=["{FROZEN}"]', "optimizer.generator.lr=1e-3",
]
GAN_TRAIN_VALUES = {
    "loss", "reconstruction", "l1", "multi_resolution_stft", "kl", "adversarial", "feature_matching", "grad_norm",
    "discriminator_loss", "discriminator_grad_norm", "lr", "steps_per_s",
}
GAN_VAL_VALUES = {"loss", "reconstruction", "l1", "multi_resolution_stft", "kl"}


def values(rows, split: str, name: str) -> list[float]:
    return [row["value"] for row in rows if row["split"] == split and row["name"] == name]


def write(tmp_path, spec: str, overrides):
    program = check_ok(spec, overrides, "jax")
    script = tmp_path / f"train_{spec}_jax.py"
    script.write_text(emit.render(program, "jax"), encoding="utf-8")
    return program, script


def run(script, *arguments):
    result = run_script(script, *arguments, timeout=300, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, f"{script} exited {result.returncode}:\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def gan(tmp_path_factory):
    """The reduced GAN run straight to GAN_STEPS: (program, script, run directory)."""
    folder = tmp_path_factory.mktemp("audio_vae_gan_jax")
    program, script = write(folder, "audio_vae_gan", AUDIO_VAE_GAN)
    run(script, "--out-dir", folder / "straight")
    return program, script, folder / "straight"


# ----------------------------------------------------------------------------- language_model


def test_language_model_learns_and_logs_every_value(tmp_path):
    _, script = write(tmp_path, "astro_lm", ASTRO_LM + ["train.precision=fp32"])
    run(script, "--out-dir", tmp_path / "run")
    rows = training.read_metrics(tmp_path / "run" / "metrics.csv")
    losses = values(rows, "train", "loss")
    print("astro_lm fp32 train loss", losses)
    assert len(losses) == LM_STEPS // 10
    assert losses[-1] < losses[0] - 0.3, losses
    for name in LM_VALUES + ["grad_norm", "lr"]:
        assert len(values(rows, "train", name)) == LM_STEPS // 10, name
    for name in LM_VALUES + ["perplexity", "accuracy"]:
        steps = [row["step"] for row in rows if row["split"] == "val" and row["name"] == name]
        assert steps == [LM_EVAL, LM_STEPS], (name, steps)
    # perplexity is exp(cross-entropy) over the same non-PAD positions, per batch: its mean over
    # the batches is at least exp(mean cross-entropy) (Jensen) and close to it
    perplexity, bound = values(rows, "val", "perplexity")[-1], np.exp(values(rows, "val", "cross_entropy")[-1])
    assert bound * (1 - 1e-6) <= perplexity <= bound * 1.05, (perplexity, bound)
    # the loss is the weighted sum of its terms (weights 1 and 0.1)
    last = {name: values(rows, "val", name)[-1] for name in LM_VALUES}
    terms = sum(last[name] for name in LM_VALUES[2:])
    assert last["loss"] == pytest.approx(last["cross_entropy"] + 0.1 * terms, rel=1e-5)


def test_language_model_trains_in_bf16_with_accumulation(tmp_path):
    _, script = write(tmp_path, "astro_lm", ASTRO_LM + ["train.precision=bf16", "train.accumulate=2"])
    run(script, "--out-dir", tmp_path / "run")
    rows = training.read_metrics(tmp_path / "run" / "metrics.csv")
    losses = values(rows, "train", "loss")
    print("astro_lm bf16 accumulate=2 train loss", losses)
    assert all(np.isfinite(losses)) and losses[-1] < losses[0] - 0.3, losses
    assert len(values(rows, "val", "perplexity")) == 2


# ----------------------------------------------------------------------------- adversarial


def test_adversarial_learns_and_logs_every_value(gan):
    _, _, run_dir = gan
    rows = training.read_metrics(run_dir / "metrics.csv")
    reconstruction = values(rows, "train", "reconstruction")
    print("audio_vae_gan train reconstruction", reconstruction)
    assert len(reconstruction) == GAN_STEPS // 5
    assert reconstruction[-1] < reconstruction[0], reconstruction
    assert {row["name"] for row in rows if row["split"] == "train"} == GAN_TRAIN_VALUES
    assert {row["name"] for row in rows if row["split"] == "val"} == GAN_VAL_VALUES
    for name in GAN_VAL_VALUES:
        assert [row["step"] for row in rows if row["split"] == "val" and row["name"] == name] == [GAN_EVAL, GAN_STEPS]
    last = {name: values(rows, "val", name)[-1] for name in GAN_VAL_VALUES}
    assert last["reconstruction"] == pytest.approx(last["l1"] + last["multi_resolution_stft"], rel=1e-5)
    assert last["loss"] == pytest.approx(last["reconstruction"] + 1e-4 * last["kl"], rel=1e-6)
    # adversarial_warmup = 0: the discriminator is updated from the first step
    assert min(values(rows, "train", "discriminator_grad_norm")) > 0


def test_adversarial_checkpoint_holds_both_models_and_frozen_encoder_is_unchanged(gan):
    program, _, run_dir = gan
    checkpoint = training.read_checkpoint(run_dir / "checkpoints" / "last")
    assert checkpoint.step == GAN_STEPS
    prefixes = {name.split(".")[0] for name in checkpoint.model}
    assert prefixes == {"vae", "discriminator"}
    assert {name.split(".")[1] for name in checkpoint.optimizer if name.startswith("optimizer.")} == prefixes
    assert checkpoint.manifest["spec"].startswith("# resolved from")
    graph = next(graph for graph in program.models if graph.name == "vae")
    initial = init.initialize(graph.parameters, checkpoint.manifest["seed"])
    frozen = [name for name in initial if name.startswith("vae_encoder_0.")]
    assert frozen
    for name in frozen:
        np.testing.assert_array_equal(checkpoint.model[f"vae.{name}"], initial[name], err_msg=name)
    decoder = [name for name in initial if name.startswith("vae_decoder_0.")]
    assert any(not np.array_equal(checkpoint.model[f"vae.{name}"], initial[name]) for name in decoder)


def test_adversarial_resume_is_exact(gan, tmp_path):
    """GAN_STEPS straight against GAN_STEPS / 2, then ``--resume auto``: tolerance 0 (same
    XLA programs on the same CPU, every state restored bit for bit from the checkpoint)."""
    _, script, straight = gan
    resumed = tmp_path / "resumed"
    run(script, "--out-dir", resumed, "--max-steps", GAN_STEPS // 2)
    run(script, "--out-dir", resumed, "--resume", "auto")
    first = training.read_checkpoint(straight / "checkpoints" / "last")
    second = training.read_checkpoint(resumed / "checkpoints" / "last")
    assert second.step == GAN_STEPS
    assert sorted(first.model) == sorted(second.model) and sorted(first.optimizer) == sorted(second.optimizer)
    for name in first.model:
        np.testing.assert_array_equal(first.model[name], second.model[name], err_msg=name)
    for name in first.optimizer:
        np.testing.assert_array_equal(first.optimizer[name], second.optimizer[name], err_msg=name)
    keep = lambda rows: [(r["step"], r["split"], r["name"], r["value"]) for r in rows if r["name"] != "steps_per_s"]  # noqa: E731
    assert keep(training.read_metrics(resumed / "metrics.csv")) == keep(training.read_metrics(straight / "metrics.csv"))


def test_adversarial_warmup_holds_the_discriminator_and_the_adversarial_terms(tmp_path):
    """adversarial_warmup = 5: updates k = 0..4 leave the discriminator alone (its logged
    grad norm is 0) and the loss is reconstruction + kl_weight * KL."""
    overrides = AUDIO_VAE_GAN + ["objective.adversarial_warmup=5", "train.max_steps=10"]
    _, script = write(tmp_path, "audio_vae_gan", overrides)
    run(script, "--out-dir", tmp_path / "run")
    rows = training.read_metrics(tmp_path / "run" / "metrics.csv")
    norms = values(rows, "train", "discriminator_grad_norm")
    assert norms[0] == 0 and norms[1] > 0, norms
    loss, reconstruction, kl = (values(rows, "train", name)[0] for name in ("loss", "reconstruction", "kl"))
    assert loss == pytest.approx(reconstruction + 1e-4 * kl, rel=1e-6)
    assert values(rows, "train", "adversarial")[0] != 0  # logged, left out of the loss


# ----------------------------------------------------------------------------- pieces


def test_frozen_masks_accept_model_prefixed_and_bare_names():
    trees = {"vae": {"encoder": {"w": np.zeros(2)}, "decoder": {"w": np.zeros(2)}}, "critic": {"encoder": {"w": np.zeros(1)}}}
    masks = jax_training.frozen_masks(trees, ["vae.encoder"])
    assert masks["vae"] == {"encoder": {"w": True}, "decoder": {"w": False}} and masks["critic"] is None
    masks = jax_training.frozen_masks(trees, ["encoder"])
    assert masks["vae"]["encoder"]["w"] and masks["critic"] == {"encoder": {"w": True}}
    with pytest.raises(ValueError, match="freeze: no parameter name starts with 'vae.enc'"):
        jax_training.frozen_masks(trees, ["vae.enc"])


def test_adversarial_with_ema_averages_both_models():
    # runs: tests/backends/test_generator_loop_options.py
    program = check_ok("audio_vae_gan", AUDIO_VAE_GAN + ["train.ema=0.999"])
    text = emit.render(program, "jax")
    assert "generator_ema = jax_training.ema_update(generator_ema, generator_params, ema)" in text
    assert "discriminator_ema = jax_training.ema_update(discriminator_ema, discriminator_params, ema)" in text
