"""The mlx backend's ``language_model`` (astro_lm) and ``adversarial`` (audio_vae_gan)
objectives end to end: compile the seed spec shrunk with ``--set``, run the script in a
subprocess, read metrics.csv and the checkpoints. Plus the runtime helpers the two
templates call (``specc.runtime.mlx.objectives``).

MLX compiles its fused CPU kernels once per machine (cached on disk): the first run of a
graph is slow, later runs are fast.
"""

from __future__ import annotations

import importlib.util
import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from mlx.utils import tree_flatten

from specc.compiler.emit import render as emit
from specc.runtime import training
from specc.runtime.mlx import losses, objectives, state
from tests.backends.runner import run_script
from tests.specs.helpers import check_ok

ENVIRONMENT = {"OMP_NUM_THREADS": "1"}

# ----------------------------------------------------------------------------- helpers


def render(spec: str, overrides, folder, name: str):
    program = check_ok(spec, overrides, "mlx")
    script = folder / f"{name}.py"
    script.write_text(emit.render(program, "mlx"), encoding="utf-8")
    return script


def run(script, *arguments):
    result = run_script(script, *arguments, timeout=400, env=ENVIRONMENT)
    assert result.returncode == 0, f"{script} exited {result.returncode}:\n{result.stderr[-3000:]}"
    return result


def series(rows, split: str, name: str) -> list[float]:
    return [row["value"] for row in rows if row["split"] == split and row["name"] == name]


def names(rows, split: str) -> set[str]:
    return {row["name"] for row in rows if row["split"] == split}


def steps(rows, split: str, name: str) -> list[int]:
    return [row["step"] for row in rows if row["split"] == split and row["name"] == name]


# ----------------------------------------------------------------------------- language_model

LANGUAGE_MODEL = [
    "d_model=32", "n_layers=2", "n_heads=2", "d_ff=64", "max_len=64", "image_vocabulary=32",
    "scalar_vocabulary=16", "spectrum_vocabulary=32", "data.sequence_length=48", "data.image_tokens=16",
    "data.scalar_tokens=8", "data.spectrum_tokens=16", "data.sizes=[512,64,64]", "data.batch_size=16",
    "sample_k=64", "schedule.warmup=5", "train.log_every=10",
]
TOKEN_TERMS = {"expected_codebook_image", "expected_scalar", "expected_codebook_spectrum"}
TOKEN_VALUES = {"loss", "cross_entropy"} | TOKEN_TERMS


@pytest.mark.slow
def test_language_model_fp32_learns_and_logs_every_value(tmp_path):
    overrides = LANGUAGE_MODEL + [
        "train.max_steps=40", "train.eval_every=20", "train.checkpoint.every=20", "train.precision=fp32",
        "optimizer.lr=1e-3",
    ]
    script = render("astro_lm", overrides, tmp_path, "astro_lm_fp32")
    run(script, "--out-dir", tmp_path / "run")
    rows = training.read_metrics(tmp_path / "run" / "metrics.csv")
    assert names(rows, "train") == TOKEN_VALUES | {"grad_norm", "lr", "steps_per_s"}
    loss = series(rows, "train", "loss")
    assert len(loss) == 4 and all(math.isfinite(value) for value in loss), loss
    assert loss[-1] < loss[0], f"train loss did not fall: {loss}"
    # loss = CE + 0.1 * (sum of the expected-value terms), per step and so in the means
    expected = [
        ce + 0.1 * sum(series(rows, "train", term)[index] for term in TOKEN_TERMS)
        for index, ce in enumerate(series(rows, "train", "cross_entropy"))
    ]
    assert loss == pytest.approx(expected, rel=1e-3)
    assert names(rows, "val") == TOKEN_VALUES | {"perplexity", "accuracy"}
    for name in TOKEN_VALUES | {"perplexity", "accuracy"}:
        assert steps(rows, "val", name) == [20, 40], name
    # perplexity is the mean over batches of exp(CE): at least exp(mean CE) (Jensen), and far
    # below the vocabulary size (117) once trained; accuracy is a fraction
    for perplexity, cross_entropy in zip(series(rows, "val", "perplexity"), series(rows, "val", "cross_entropy")):
        assert math.exp(cross_entropy) * (1 - 1e-5) <= perplexity < 117
    assert all(0.0 <= value <= 1.0 for value in series(rows, "val", "accuracy"))
    # the expected-value terms are computed on drawn positions of the val batches too
    assert all(0.0 < value for term in TOKEN_TERMS for value in series(rows, "val", term))
    print("astro_lm fp32 train loss", loss, "val loss", series(rows, "val", "loss"))


@pytest.mark.slow
def test_language_model_bf16_with_accumulation(tmp_path):
    overrides = LANGUAGE_MODEL + [
        "train.max_steps=20", "train.eval_every=20", "train.checkpoint.every=20", "train.accumulate=2",
        "optimizer.lr=1e-3", "train.precision=bf16",
    ]
    program = check_ok("astro_lm", overrides, "mlx")
    assert program.train.precision == "bf16" and program.train.accumulate == 2
    script = render("astro_lm", overrides, tmp_path, "astro_lm_bf16")
    run(script, "--out-dir", tmp_path / "run")
    rows = training.read_metrics(tmp_path / "run" / "metrics.csv")
    loss = series(rows, "train", "loss")
    assert len(loss) == 2 and all(math.isfinite(value) for value in loss), loss
    assert loss[-1] < loss[0], f"train loss did not fall: {loss}"
    assert names(rows, "val") == TOKEN_VALUES | {"perplexity", "accuracy"}
    checkpoint = training.read_checkpoint(tmp_path / "run" / "checkpoints" / "last")
    assert checkpoint.step == 20
    assert all(array.dtype == np.float32 for array in checkpoint.model.values())  # float32 master weights
    print("astro_lm bf16 accumulate=2 train loss", loss)


# ----------------------------------------------------------------------------- adversarial

# smaller than the brief's sizes (length 1024, one STFT, one scale and one period
# sub-discriminator) so the three runs below stay short on a CPU shared by several jobs; the
# same overrides as tests/backends/test_objectives_jax.py, so the numbers can be compared
ADVERSARIAL = [
    "length=1024", "base_channels=4", "latent_dim=4", "stages=[[1,2],[2,4]]", "dilations=[1]", "stft_filters=4",
    "n_ffts=[128]", "msd_scales=[1]", "mpd_periods=[2]", "mpd_stages=[[4,3],[8,1]]",
    "msd_layers=[[4,15,1,1,7],[8,41,4,4,20],[8,5,1,1,2]]", "stft_resolutions=[128,64]", "data.sizes=[32,8,8]",
    "data.batch_size=4", "train.max_steps=20", "train.eval_every=10", "train.log_every=5",
    "train.checkpoint.every=10", 'train.freeze=["vae.vae_encoder_0"]', "optimizer.generator.lr=1e-3",
]
GENERATOR_VALUES = {
    "loss", "reconstruction", "l1", "multi_resolution_stft", "kl", "adversarial", "feature_matching", "grad_norm",
}
DISCRIMINATOR_VALUES = {"discriminator_loss", "discriminator_grad_norm"}
EVAL_VALUES = {"l1", "multi_resolution_stft", "reconstruction", "kl", "loss"}


@pytest.fixture(scope="module")
def adversarial_runs(tmp_path_factory):
    """One straight 20-step run, and 10 steps (``--max-steps 10``) then ``--resume auto``."""
    folder = tmp_path_factory.mktemp("audio_vae_gan_mlx")
    script = render("audio_vae_gan", ADVERSARIAL, folder, "audio_vae_gan")
    run(script, "--out-dir", folder / "straight")
    run(script, "--out-dir", folder / "resumed", "--max-steps", "10")
    first_half = training.read_checkpoint(folder / "resumed" / "checkpoints" / "last")
    run(script, "--out-dir", folder / "resumed", "--resume", "auto")
    return {"folder": folder, "script": script, "first_half_step": first_half.step}


@pytest.mark.slow
def test_adversarial_reconstruction_falls_and_logs_values(adversarial_runs):
    rows = training.read_metrics(adversarial_runs["folder"] / "straight" / "metrics.csv")
    assert names(rows, "train") == GENERATOR_VALUES | DISCRIMINATOR_VALUES | {"lr", "steps_per_s"}
    reconstruction = series(rows, "train", "reconstruction")
    assert len(reconstruction) == 4
    assert reconstruction[-1] < reconstruction[0], f"reconstruction did not fall: {reconstruction}"
    # adversarial_warmup = 0: the adversarial terms count from the first step
    for index, total in enumerate(series(rows, "train", "loss")):
        value = lambda name: series(rows, "train", name)[index]  # noqa: E731
        expected = value("reconstruction") + 1e-4 * value("kl") + value("adversarial") + 10.0 * value("feature_matching")
        assert total == pytest.approx(expected, rel=1e-3)
    assert names(rows, "val") == EVAL_VALUES
    for name in EVAL_VALUES:
        assert steps(rows, "val", name) == [10, 20], name
    for loss, reconstruction_value, kl in zip(
        series(rows, "val", "loss"), series(rows, "val", "reconstruction"), series(rows, "val", "kl")
    ):
        assert loss == pytest.approx(reconstruction_value + 1e-4 * kl, rel=1e-5)
    print("audio_vae_gan train reconstruction", reconstruction, "val loss", series(rows, "val", "loss"))


@pytest.mark.slow
def test_adversarial_checkpoint_holds_both_models_and_optimizers(adversarial_runs):
    checkpoint = training.read_checkpoint(adversarial_runs["folder"] / "straight" / "checkpoints" / "last")
    assert checkpoint.step == 20
    assert {name.split(".")[0] for name in checkpoint.model} == {"vae", "discriminator"}
    assert "vae.vae_encoder_0.conv1d_0.weight" in checkpoint.model
    assert {".".join(name.split(".")[:2]) for name in checkpoint.optimizer} == {
        "optimizer.vae", "optimizer.discriminator",
    }
    assert checkpoint.manifest["backend"] == "mlx" and checkpoint.manifest["spec_name"] == "audio_vae_gan"
    assert "spec audio_vae_gan" in checkpoint.manifest["spec"]
    assert set(checkpoint.manifest["metrics"]) == {f"val/{name}" for name in EVAL_VALUES}


@pytest.mark.slow
def test_adversarial_resume_is_exact(adversarial_runs):
    """Bitwise: the data order is a function of (seed, epoch, batch), every weight and
    optimizer array is restored exactly, and the same compiled graph runs, so the resumed
    run repeats the straight run's float operations."""
    folder = adversarial_runs["folder"]
    assert adversarial_runs["first_half_step"] == 10
    straight = training.read_checkpoint(folder / "straight" / "checkpoints" / "last")
    resumed = training.read_checkpoint(folder / "resumed" / "checkpoints" / "last")
    assert resumed.step == straight.step == 20
    assert sorted(resumed.model) == sorted(straight.model)
    assert sorted(resumed.optimizer) == sorted(straight.optimizer)
    for name, array in straight.model.items():
        np.testing.assert_array_equal(resumed.model[name], array, err_msg=name)
    for name, array in straight.optimizer.items():
        np.testing.assert_array_equal(resumed.optimizer[name], array, err_msg=name)
    straight_rows = training.read_metrics(folder / "straight" / "metrics.csv")
    resumed_rows = training.read_metrics(folder / "resumed" / "metrics.csv")
    for name in GENERATOR_VALUES | DISCRIMINATOR_VALUES:
        assert series(resumed_rows, "train", name) == series(straight_rows, "train", name), name
    for name in EVAL_VALUES:
        assert series(resumed_rows, "val", name) == series(straight_rows, "val", name), name


@pytest.mark.slow
def test_adversarial_freeze_keeps_the_encoder(adversarial_runs):
    specification = importlib.util.spec_from_file_location("generated_audio_vae_gan", adversarial_runs["script"])
    module = importlib.util.module_from_spec(specification)
    specification.loader.exec_module(module)
    initial = {
        f"{name}.{key}": value
        for name, model in module.build_models(0).items()
        for key, value in state.state_dict(model).items()
    }
    trained = training.read_checkpoint(adversarial_runs["folder"] / "straight" / "checkpoints" / "last").model
    assert sorted(initial) == sorted(trained)
    encoder = [name for name in initial if name.startswith("vae.vae_encoder_0.")]
    assert encoder
    for name in encoder:
        np.testing.assert_array_equal(trained[name], initial[name], err_msg=name)
    for prefix in ("vae.vae_decoder_0.", "discriminator."):
        changed = [name for name in initial if name.startswith(prefix) and not np.array_equal(trained[name], initial[name])]
        assert changed, f"no parameter under {prefix} was trained"
    optimizer = training.read_checkpoint(adversarial_runs["folder"] / "straight" / "checkpoints" / "last").optimizer
    assert not any(name.startswith("optimizer.vae.vae_encoder_0.") for name in optimizer)
    assert any(name.startswith("optimizer.vae.vae_decoder_0.") for name in optimizer)


@pytest.mark.slow
def test_adversarial_warmup_holds_the_discriminator(tmp_path):
    """Updates k < adversarial_warmup = 5: loss = reconstruction + kl_weight * kl, the
    discriminator's loss is logged but it is not updated (grad norm 0, its optimizer counts
    only its own 5 updates)."""
    overrides = ADVERSARIAL + ["objective.adversarial_warmup=5", "train.max_steps=10", "train.eval_every=10"]
    script = render("audio_vae_gan", overrides, tmp_path, "audio_vae_gan_warmup")
    run(script, "--out-dir", tmp_path / "run")
    rows = training.read_metrics(tmp_path / "run" / "metrics.csv")
    value = lambda name, index: series(rows, "train", name)[index]  # noqa: E731
    assert steps(rows, "train", "loss") == [5, 10]
    assert value("loss", 0) == pytest.approx(value("reconstruction", 0) + 1e-4 * value("kl", 0), rel=1e-5)
    assert value("discriminator_grad_norm", 0) == 0.0 and value("discriminator_loss", 0) > 0.0
    assert value("discriminator_grad_norm", 1) > 0.0
    adversarial = value("adversarial", 1) + 10.0 * value("feature_matching", 1)
    assert value("loss", 1) == pytest.approx(value("reconstruction", 1) + 1e-4 * value("kl", 1) + adversarial, rel=1e-4)
    checkpoint = training.read_checkpoint(tmp_path / "run" / "checkpoints" / "last")
    assert int(checkpoint.optimizer["optimizer.vae.step"]) == 10
    assert int(checkpoint.optimizer["optimizer.discriminator.step"]) == 5


def test_adversarial_ema_averages_every_model():
    # runs: tests/backends/test_generator_loop_options.py
    program = check_ok("audio_vae_gan", ADVERSARIAL + ["train.ema=0.999"])
    text = emit.render(program, "mlx")
    assert "mlx_training.ema_update(ema_params[name], model.parameters(), ema)" in text
    assert "raw = swapped(models, ema_params)  # evaluated with the EMA weights" in text


# ----------------------------------------------------------------------------- runtime helpers


def test_regroup_follows_the_output_structure():
    flat = tuple(mx.array([float(index)]) for index in range(5))
    reconstruction, statistics = objectives.regroup(flat[:3], (None, 2))
    assert reconstruction.item() == 0.0 and [value.item() for value in statistics] == [1.0, 2.0]
    logits, features = objectives.regroup(flat, (2, 3))
    assert [value.item() for value in logits] == [0.0, 1.0] and len(features) == 3
    assert objectives.regroup(flat[0], ()) is flat[0]
    with pytest.raises(ValueError, match=r"regroup: output structure \(None, 2\) needs 3 outputs, got 5"):
        objectives.regroup(flat, (None, 2))


def test_expected_value_term_dispatches_on_starts():
    logits = mx.array(np.random.default_rng(0).normal(size=(2, 6, 12)).astype(np.float32))
    labels = mx.array([[3, 4, 5, 8, 9, 0], [4, 4, 9, 10, 1, 3]])
    codebook = mx.array(np.random.default_rng(1).normal(size=(3, 2)).astype(np.float32))
    single = objectives.expected_value_term("expected_codebook", logits, labels, codebook, (3,))
    assert single.item() == pytest.approx(losses.expected_codebook(logits, labels, codebook, 3).item())
    grouped = objectives.expected_value_term("expected_codebook", logits, labels, codebook, (3, 8))
    reference = (losses.expected_codebook(logits, labels, codebook, 3) + losses.expected_codebook(logits, labels, codebook, 8)) / 2
    assert grouped.item() == pytest.approx(reference.item(), rel=1e-6)
    centers = mx.array([0.5, 1.5, 2.5])
    scalar = objectives.expected_value_term("expected_scalar", logits, labels, centers, (8,))
    assert scalar.item() == pytest.approx(losses.expected_scalar(logits, labels, centers, 8).item())
    with pytest.raises(ValueError, match="expected_scalar takes one vocabulary range; got 2 starts"):
        objectives.expected_value_term("expected_scalar", logits, labels, centers, (3, 8))


class _Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(2, 2)
        self.decoder = nn.Linear(2, 2)


def test_freeze_models_reads_model_prefixes():
    models = {"vae": _Pair(), "critic": _Pair()}
    objectives.freeze_models(models, ["vae.encoder"])
    trainable = {name for name, _ in _flat(models["vae"].trainable_parameters())}
    assert trainable == {"decoder.weight", "decoder.bias"}
    assert len(_flat(models["critic"].trainable_parameters())) == 4
    objectives.freeze_models(models, ["decoder"])  # no model name: every model with it
    assert _flat(models["vae"].trainable_parameters()) == []
    assert {name for name, _ in _flat(models["critic"].trainable_parameters())} == {"encoder.weight", "encoder.bias"}
    with pytest.raises(ValueError, match="freeze: no parameter name starts with 'head'"):
        objectives.freeze_models(models, ["head"])


def _flat(tree):
    return tree_flatten(tree)


def test_generated_scripts_are_byte_stable(tmp_path):
    first = render("audio_vae_gan", ADVERSARIAL, tmp_path, "first").read_text()
    second = render("audio_vae_gan", ADVERSARIAL, tmp_path, "second").read_text()
    assert first == second
