"""Objective ``adversarial`` with ``use_adversarial = false`` (gap 17, seed 003): the VAE
trains alone on reconstruction + KL; the spec has no discriminator and no discriminator
optimizer. The diagnostics (E0713, E0711) and reduced runs on the backends that render it."""

from __future__ import annotations

import numpy as np
import pytest

from specc.compiler import pipeline
from specc.compiler.emit import render as emit
from specc.dsl.diagnostics import render_text
from specc.runtime import init, training
from tests.backends.runner import run_script
from tests.specs.helpers import read, spec_path

STEPS, EVAL = 20, 10
# the audio_vae_gan reduction of test_objectives_jax.py without the discriminator's keys
REDUCED = [
    "length=1024", "base_channels=4", "latent_dim=4", "stages=[[1,2],[2,4]]", "dilations=[1]",
    "stft_resolutions=[128,64]", "data.sizes=[32,8,8]", "data.batch_size=4", f"train.max_steps={STEPS}",
    f"train.eval_every={EVAL}", "train.log_every=5", "train.checkpoint.every=10", "optimizer.generator.lr=1e-3",
]
# the discriminator's reduction (test_objectives_jax.py), for the spec that still has one
DISCRIMINATOR = [
    "stft_filters=4", "n_ffts=[128]", "msd_scales=[1]", "mpd_periods=[2]", "mpd_stages=[[4,3],[8,1]]",
    "msd_layers=[[4,15,1,1,7],[8,41,4,4,20],[8,5,1,1,2]]",
]
TRAIN_VALUES = {"loss", "reconstruction", "l1", "multi_resolution_stft", "kl", "grad_norm", "lr", "steps_per_s"}
VAL_VALUES = {"loss", "reconstruction", "l1", "multi_resolution_stft", "kl"}
ALONE = "audio_vae_alone.mf"


def without_discriminator(text: str) -> str:
    """audio_vae_gan.mf with ``use_adversarial = false`` and no discriminator (model, key,
    optimizer): the seed's VAE trained alone."""
    start = text.index("model discriminator = ")
    text = text[:start] + text[text.index("# AdversarialLossCalculator") :]
    text = text.replace("  discriminator = discriminator\n", "  use_adversarial = false\n", 1)
    start = text.index("optimizer discriminator: adam {")
    return text[:start] + text[text.index("train {") :]


def check(text: str, overrides=(), backend=None):
    """Check ``text`` as a spec next to the seed specs (so its imports resolve)."""
    path = spec_path("audio_vae_gan").replace("audio_vae_gan.mf", ALONE)

    def read_alone(name: str) -> bytes:
        return text.encode("utf-8") if name == path else read(name)

    return pipeline.check(path, read_alone, tuple(overrides), backend)


def rendered(result) -> list[str]:
    return [render_text(diagnostic, result.sources) for diagnostic in result.diagnostics]


def alone_text() -> str:
    return without_discriminator(read(spec_path("audio_vae_gan")).decode("utf-8"))


# ----------------------------------------------------------------------------- diagnostics


def test_use_adversarial_false_compiles_to_the_generator_alone():
    result = check(alone_text(), REDUCED)
    assert rendered(result) == []
    assert result.program.objective.models == ("vae",)
    assert [plan.name for plan in result.program.optimizers] == ["generator"]


def test_missing_discriminator_with_use_adversarial_is_e0713():
    text = alone_text().replace("  use_adversarial = false\n", "", 1)
    path = spec_path("audio_vae_gan").replace("audio_vae_gan.mf", ALONE)
    assert rendered(check(text, REDUCED)) == [
        f"{path}:50:11: error[E0711]: objective `adversarial` needs an optimizer named `discriminator`\n"
        "   |\n"
        "50 | objective adversarial {\n"
        "   |           ^^^^^^^^^^^\n"
        "help: add `optimizer discriminator: adam { lr = 1e-4 }`",
        f"{path}:50:11: error[E0713]: objective `adversarial` needs `discriminator = <model>` when "
        "use_adversarial = true\n"
        "   |\n"
        "50 | objective adversarial {\n"
        "   |           ^^^^^^^^^^^\n"
        "help: name the discriminator, or set `use_adversarial = false` to train the generator alone",
    ]


def test_discriminator_and_its_optimizer_without_adversarial_are_e0713():
    text = read(spec_path("audio_vae_gan")).decode("utf-8").replace(
        "  adversarial_warmup = 0\n", "  adversarial_warmup = 0\n  use_adversarial = false\n", 1
    )
    path = spec_path("audio_vae_gan").replace("audio_vae_gan.mf", ALONE)
    assert rendered(check(text, REDUCED + DISCRIMINATOR)) == [
        f"{path}:65:19: error[E0713]: use_adversarial = false trains no discriminator: "
        "`discriminator = discriminator` is unused\n"
        "   |\n"
        "65 |   discriminator = discriminator\n"
        "   |                   ^^^^^^^^^^^^^\n"
        "help: remove `discriminator`",
        f"{path}:80:1: error[E0713]: use_adversarial = false trains no discriminator: "
        "`optimizer discriminator` is unused\n"
        "   |\n"
        "80 | optimizer discriminator: adam {\n"
        "   | ^^^^^^^^^\n"
        "help: remove `optimizer discriminator`",
    ]


# ----------------------------------------------------------------------------- runs


def run_alone(tmp_path, backend: str):
    """The reduced VAE-alone run on ``backend``: (program, run directory, metrics rows)."""
    result = check(alone_text(), REDUCED, backend)
    assert rendered(result) == []
    script = tmp_path / f"train_audio_vae_alone_{backend}.py"
    script.write_text(emit.render(result.program, backend), encoding="utf-8")
    run_dir = tmp_path / "run"
    completed = run_script(script, "--out-dir", run_dir, timeout=600, env={"OMP_NUM_THREADS": "1"})
    assert completed.returncode == 0, completed.stderr[-3000:]
    return result.program, run_dir, training.read_metrics(run_dir / "metrics.csv")


def values(rows, split: str, name: str) -> list[float]:
    return [row["value"] for row in rows if row["split"] == split and row["name"] == name]


def check_run(program, run_dir, rows) -> None:
    """Only the generator's values are logged, the reconstruction falls, the loss is
    reconstruction + kl_weight * kl, and the checkpoint holds the VAE alone."""
    reconstruction = values(rows, "train", "reconstruction")
    print("use_adversarial = false: train reconstruction", reconstruction)
    assert len(reconstruction) == STEPS // 5
    assert reconstruction[-1] < reconstruction[0], reconstruction
    assert {row["name"] for row in rows if row["split"] == "train"} == TRAIN_VALUES
    assert {row["name"] for row in rows if row["split"] == "val"} == VAL_VALUES
    last = {name: values(rows, "val", name)[-1] for name in VAL_VALUES}
    assert last["loss"] == pytest.approx(last["reconstruction"] + 1e-4 * last["kl"], rel=1e-5)
    checkpoint = training.read_checkpoint(run_dir / "checkpoints" / "last")
    assert checkpoint.step == STEPS
    assert {name.split(".")[0] for name in checkpoint.model} == {"vae"}
    graph = next(graph for graph in program.models if graph.name == "vae")
    initial = init.initialize(graph.parameters, checkpoint.manifest["seed"])
    assert any(not np.array_equal(checkpoint.model[f"vae.{name}"], initial[name]) for name in initial)


@pytest.mark.slow
def test_vae_alone_learns_on_jax(tmp_path):
    check_run(*run_alone(tmp_path, "jax"))


@pytest.mark.slow
def test_vae_alone_learns_on_lightning(tmp_path):
    check_run(*run_alone(tmp_path, "lightning"))


@pytest.mark.slow
def test_vae_alone_learns_on_mlx(tmp_path):
    check_run(*run_alone(tmp_path, "mlx"))
