"""The generator loop (objectives ``adversarial`` and ``vae``) takes the training options of
the main loop on every backend (issue 15, seed 003): EMA of weights, gradient accumulation,
the epoch keys (``val_check_interval``, checkpoint ``every_n_epochs`` and ``filename``,
``early_stopping.verbose``), ``parallel = sharded`` on JAX, and ``checkpoint.last = false``
(every objective: no ``last`` link, ``--resume auto`` finds the newest checkpoint).

Each option was refused (E0801) on some backend; it now lints and renders there, and a tiny
run gives the same per-step losses as the backends that had it (fp32, 1e-4 as
tests/backends/test_spec_parity.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from specc.compiler import pipeline
from specc.compiler.emit import render as emit
from specc.dsl.diagnostics import render_text
from specc.describe import describe_checkpoint
from specc.load import checkpoint_directory
from specc.runtime import training
from specc.runtime.training import checkpoints
from tests.backends.test_spec_parity import run_backends_together, train_losses, worst_relative_difference

BACKENDS = ("jax", "lightning", "mlx")
TOLERANCE = 1e-4
SPEC_PATH = "gan_small.mf"

# a generator (returning its latent statistics) against a critic returning (logits, features);
# 32 training rows of batch 4: 8 batches an epoch
GAN = """\
spec gan_small

data synthetic_audio {
  sizes = [32, 8, 8]
  length = 64
  batch_size = 4
}

block vae(x: [B, 64]) -> ([B, 64], list) {
  h = tanh(linear(x, 32))
  mean = linear(h, 8)
  logvar = linear(h, 8)
  return linear(mean, 64), [mean, logvar]
}

block critic(x: [B, 64]) -> (list, list) {
  h = gelu(linear(x, 32))
  return [linear(h, 1)], [h]
}

model generator_net = vae()
model discriminator_net = critic()

objective adversarial {
  generator = generator_net
  discriminator = discriminator_net
  target = data.audio
  loss = l1
  kl_weight = 1e-2
  adversarial_warmup = 1
}

optimizer generator: adam { lr = 1e-3 }
optimizer discriminator: adam { lr = 1e-3 }

train {
  max_epochs = 2
  log_every = 1
}
"""

# the same generator trained alone (objective vae: one model, one unnamed optimizer)
VAE = (
    GAN.replace("block critic(x: [B, 64]) -> (list, list) {\n  h = gelu(linear(x, 32))\n  return [linear(h, 1)], [h]\n}\n\n", "")
    .replace("model discriminator_net = critic()\n", "")
    .replace("objective adversarial {\n  generator = generator_net\n  discriminator = discriminator_net\n", "objective vae {\n  model = generator_net\n")
    .replace("  adversarial_warmup = 1\n", "")
    .replace("optimizer generator: adam { lr = 1e-3 }\noptimizer discriminator: adam { lr = 1e-3 }\n", "optimizer adam { lr = 1e-3 }\n")
)

EPOCH_KEYS = (
    "train.val_check_interval=0.5",
    "train.checkpoint.every_n_epochs=1",
    'train.checkpoint.filename="{epoch}-{step}"',
    "train.checkpoint.keep=all",
    'train.early_stopping.monitor="val/loss"',
    "train.early_stopping.patience=1",
    "train.early_stopping.min_delta=10.0",
    "train.early_stopping.verbose=true",
)

# (backend, override) refused by the generator loop's tables before this change
LIFTED = [
    ("jax", "train.ema=0.9"),
    ("lightning", "train.ema=0.9"),
    ("mlx", "train.ema=0.9"),
    ("jax", "train.accumulate=2"),
    ("lightning", "train.accumulate=2"),
    ("jax", "train.parallel=sharded"),
    *[(backend, override) for backend in ("jax", "mlx") for override in EPOCH_KEYS[:3]],
    ("jax", "train.early_stopping.verbose=true"),
    ("mlx", "train.early_stopping.verbose=true"),
    *[(backend, "train.checkpoint.last=false") for backend in BACKENDS],
]


def check(text: str, overrides=(), backend=None):
    return pipeline.check(SPEC_PATH, lambda name: text.encode("utf-8"), tuple(overrides), backend)


def script(text: str, overrides, backend: str) -> str:
    result = check(text, overrides, backend)
    assert [render_text(diagnostic, result.sources) for diagnostic in result.diagnostics] == []
    return emit.render(result.program, backend)


def scripts(text: str, overrides, backends=BACKENDS) -> dict[str, str]:
    return {backend: script(text, overrides, backend) for backend in backends}


def rows(run_dir, split: str, name: str) -> dict[int, float]:
    return {row["step"]: row["value"] for row in training.read_metrics(run_dir / "metrics.csv") if row["split"] == split and row["name"] == name}


def assert_agree(folder, names=("loss", "discriminator_loss"), runs=BACKENDS, steps=None) -> None:
    """Every per-step train value of ``names`` and the val loss agree across ``runs``."""
    for split, name in [("train", name) for name in names] + [("val", "loss")]:
        series = {run: rows(folder / f"run_{run}", split, name) for run in runs}
        if split == "train" and steps is not None:
            assert all(len(values) == steps for values in series.values()), {run: sorted(values) for run, values in series.items()}
        assert all(series.values()), f"{split}/{name} not logged: {series}"
        worst, where = worst_relative_difference(series)
        print(f"{split}/{name}: worst relative difference {worst:.3e} ({where})")
        assert worst <= TOLERANCE, f"{split}/{name}: {worst:.3e} at {where}"


def model_arrays(run_dir) -> dict:
    return dict(training.read_checkpoint(checkpoints.newest_checkpoint(run_dir)).model)


# ----------------------------------------------------------------------------- lint and render


@pytest.mark.parametrize(("backend", "override"), LIFTED)
def test_lifted_option_lints_and_renders_on_its_backend(backend, override):
    """What was E0801 for the generator loop is accepted by lint and compile alike, and the
    option reaches the script."""
    context = ("train.eval_every=4", 'train.early_stopping.monitor="val/loss"') if "early_stopping" in override else ()
    for text in (GAN, VAE):
        assert script(text, (*context, override), backend) != script(text, context, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_last_false_renders_on_the_main_loop_too(backend):
    """``checkpoint.last = false`` with a one-model objective: the script keeps no ``last``."""
    text = (
        "spec regression_small\n\ndata synthetic_regression {\n  num_features = 8\n  sizes = [64, 16, 16]\n"
        "  batch_size = 8\n}\n\nmodel net(x: f32[B, 8]) -> f32[B, 1] {\n  return linear(relu(linear(x, 16)), 1)\n}\n\n"
        "objective regression {\n  model = net\n  target = data.y\n}\n\noptimizer adam { lr = 1e-3 }\n\n"
        "train {\n  max_steps = 20\n}\n"
    )
    source = script(text, ("train.checkpoint.last=false",), backend)
    assert "last=False" in source


def test_newest_checkpoint_without_last_link(tmp_path):
    """No ``last`` link: the newest complete checkpoint by manifest step (whatever the folder
    names); a ``last`` link wins; pruning with ``last=False`` keeps the top-k alone."""
    for step, name, loss in ((2, "b-2", 0.5), (4, "a-4", 0.9), (6, "c-6", 0.7)):
        checkpoints.write_checkpoint(tmp_path, step, {"w": np.zeros(2)}, {}, {"metrics": {"val/loss": loss}}, name, last=False)
    assert not (tmp_path / "checkpoints" / "last").is_symlink()
    assert checkpoints.latest_checkpoint(tmp_path) is None
    assert checkpoints.newest_checkpoint(tmp_path).name == "c-6"
    assert checkpoint_directory(tmp_path).name == "c-6"
    kept = checkpoints.prune_checkpoints(tmp_path, 1, "val/loss", "min", last=False)
    assert [path.name for path in kept] == ["b-2"]
    assert checkpoints.newest_checkpoint(tmp_path).name == "b-2"
    checkpoints.write_checkpoint(tmp_path, 8, {"w": np.zeros(2)}, {}, {"metrics": {"val/loss": 0.1}}, "d-8")
    assert checkpoints.newest_checkpoint(tmp_path).name == "d-8"
    assert [path.name for path in checkpoints.prune_checkpoints(tmp_path, 1, "val/loss", "min")] == ["d-8"]


# ----------------------------------------------------------------------------- runs


@pytest.mark.slow
def test_ema_and_accumulation_agree_across_backends(tmp_path):
    """EMA (every model's weights averaged) and accumulation over 2 micro-batches with a
    discriminator: the per-step losses, the evaluations (of the averaged generator) and the
    averaged weights of both models agree on jax, lightning and mlx, and JAX's generator loop
    with ``parallel = sharded`` gives the same losses."""
    overrides = ("train.ema=0.9", "train.accumulate=2", "train.max_epochs=1", "train.checkpoint.every=2", "train.eval_every=2")
    sources = scripts(GAN, overrides)
    sources["jax_sharded"] = script(GAN, overrides + ("train.parallel=sharded",), "jax")
    run_backends_together(sources, tmp_path)
    assert_agree(tmp_path, runs=tuple(sources), steps=4)  # 8 batches, 2 a step
    arrays = {backend: model_arrays(tmp_path / f"run_{backend}") for backend in BACKENDS}
    assert {name.split(".")[0] for name in arrays["jax"]} == {"generator_net", "discriminator_net"}
    for backend in ("lightning", "mlx"):
        assert sorted(arrays[backend]) == sorted(arrays["jax"])
        for name, value in arrays["jax"].items():
            np.testing.assert_allclose(arrays[backend][name], value, rtol=1e-4, atol=1e-6, err_msg=f"{backend}: {name}")
    raw = training.read_checkpoint(checkpoints.newest_checkpoint(tmp_path / "run_mlx")).optimizer
    assert any(not np.allclose(raw[f"params.{name}"], value) for name, value in arrays["mlx"].items())  # averaged, not raw
    manifests = {backend: training.read_checkpoint(checkpoints.newest_checkpoint(tmp_path / f"run_{backend}")).manifest for backend in BACKENDS}
    assert {manifest["step"] for manifest in manifests.values()} == {4}
    positions = {backend: (manifest["data"]["epoch"], manifest["data"]["batch_index"]) for backend, manifest in manifests.items()}
    assert len(set(positions.values())) == 1, positions  # 8 micro-batches consumed on each


@pytest.mark.slow
def test_vae_with_ema_and_accumulation_agrees_across_backends(tmp_path):
    """``objective vae`` (the generator alone) with EMA and 2 micro-batches a step."""
    overrides = ("train.ema=0.9", "train.accumulate=2", "train.max_epochs=1", "train.eval_every=2")
    run_backends_together(scripts(VAE, overrides), tmp_path)
    assert_agree(tmp_path, names=("loss", "kl"), steps=4)


@pytest.mark.slow
def test_epoch_keys_agree_with_lightning(tmp_path):
    """val_check_interval 0.5, end-of-epoch checkpoints named ``{epoch}-{step}``, verbose
    early stopping: jax and mlx evaluate, save, name and stop as Lightning does."""
    results = run_backends_together(scripts(GAN, EPOCH_KEYS), tmp_path)
    assert_agree(tmp_path)
    evaluated = {backend: sorted(rows(tmp_path / f"run_{backend}", "val", "loss")) for backend in BACKENDS}
    assert evaluated["jax"] == evaluated["lightning"] == evaluated["mlx"] == [4, 8], evaluated
    folders = {backend: sorted(path.name for path in checkpoints.list_checkpoints(tmp_path / f"run_{backend}")) for backend in BACKENDS}
    assert folders["jax"] == folders["lightning"] == folders["mlx"] == ["0-8"], folders  # stopped at step 8
    for backend, (_, out, err) in results.items():
        assert "did not improve in the last 1 records" in out + err, backend


def resume_runs(tmp_path, text: str, overrides) -> None:
    """Per backend: one straight run, and one stopped at step 4 and resumed with --resume auto."""
    environment = dict(os.environ, JAX_PLATFORMS="cpu", OMP_NUM_THREADS="1")
    sources = scripts(text, overrides)
    run_backends_together(sources, tmp_path)  # the straight runs: run_<backend>

    def run_all(*arguments):
        processes = {
            backend: subprocess.Popen(
                [sys.executable, str(tmp_path / f"train_{backend}.py"), "--out-dir", str(tmp_path / f"split_{backend}"), *arguments],
                cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
            )
            for backend in BACKENDS
        }
        for backend, process in processes.items():
            out, err = process.communicate(timeout=600)
            assert process.returncode == 0, f"{backend} {arguments}:\n{out[-2000:]}\n{err[-3000:]}"

    run_all("--max-steps", "4")
    run_all("--resume", "auto")


@pytest.mark.slow
def test_last_false_resumes_with_resume_auto_on_every_backend(tmp_path):
    """``checkpoint.last = false`` (with EMA and 2 micro-batches a step in the generator
    loop): no ``last`` link on any backend, the top-k alone kept; a run stopped at step 4
    resumes with ``--resume auto`` from its newest checkpoint (EMA, raw weights and the data
    position restored) and logs the straight run's losses; ``load_model``'s
    ``checkpoint_directory`` and ``describe_checkpoint`` of the run directory find it."""
    overrides = (
        "train.ema=0.9", "train.accumulate=2", "train.checkpoint.last=false", "train.checkpoint.every=2",
        "train.checkpoint.keep=2", "train.eval_every=4",
    )
    resume_runs(tmp_path, GAN, overrides)
    for backend in BACKENDS:
        straight, split = tmp_path / f"run_{backend}", tmp_path / f"split_{backend}"
        for run_dir in (straight, split):
            assert not (run_dir / "checkpoints" / "last").exists() and not (run_dir / "checkpoints" / "last").is_symlink()
        assert [checkpoints.manifest_step(path) for path in checkpoints.list_checkpoints(straight)] == [6, 8], backend
        expected, resumed = train_losses(straight), train_losses(split)
        assert sorted(resumed) == list(range(1, 9)), (backend, sorted(resumed))
        worst, where = worst_relative_difference({"straight": expected, "resumed": resumed})
        assert worst <= 1e-6, f"{backend}: {worst:.3e} at {where}"
        assert checkpoint_directory(split).name == "step-000008"
        assert describe_checkpoint(split)
    assert_agree(tmp_path)
