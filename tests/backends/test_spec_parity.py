"""Parity of the real example specs: specs/digits_mlp.mf, specs/ksin_flow.mf,
specs/astro_lm.mf and specs/audio_vae_gan.mf, compiled
through the whole pipeline (parse, check, lower, render) for jax, lightning and mlx in fp32,
give per-step training losses that agree to 1e-4 (maximum pairwise relative difference)
over the first 20 steps. Only `--set` overrides shrink the run; the models are the specs'
own (the ksin vector field at its full width)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import pytest

from specc.compiler.emit import render as emit
from specc.runtime import training
from tests.backends.runner import compile_spec

pytestmark = pytest.mark.slow

BACKENDS = ("jax", "lightning", "mlx")
STEPS = 20
TOLERANCE = 1e-4
COMMON = (f"train.max_steps={STEPS}", "train.log_every=1", f"train.eval_every={STEPS}", "train.precision=fp32")
OVERRIDES = {
    "specs/digits_mlp.mf": COMMON + (f"train.checkpoint.every={STEPS}",),
    "specs/ksin_flow.mf": COMMON
    + (
        "data.sizes=[256, 64, 64]",
        "data.batch_size=32",
        "schedule.warmup=5",
        "eval.sampler=euler(steps = 2)",
        f"train.checkpoint.every={STEPS}",
    ),
    # seed 001 at a tiny size, dropout off (dropout masks differ between backends by design);
    # every expected-value term on sampled positions
    "specs/astro_lm.mf": COMMON
    + (
        "d_model=32", "n_layers=2", "n_heads=2", "d_ff=64", "max_len=64", "dropout=0.0",
        "image_vocabulary=32", "scalar_vocabulary=16", "spectrum_vocabulary=32",
        "data.sequence_length=48", "data.image_tokens=16", "data.scalar_tokens=8", "data.spectrum_tokens=16",
        "data.sizes=[512, 64, 64]", "data.batch_size=16", "sample_k=64", "schedule.warmup=5",
        "optimizer.lr=1e-3", f"train.checkpoint.every={STEPS}",
    ),
    # seed 003 at a tiny size, decoding the mean (gaussian_sample draws from each backend's
    # own generator); the generator and the discriminator losses are both compared
    "specs/audio_vae_gan.mf": COMMON
    + (
        "sample_latent=false", "length=1024", "base_channels=4", "latent_dim=4", "stages=[[1, 2], [2, 4]]",
        "dilations=[1]", "stft_filters=4", "n_ffts=[128]", "msd_scales=[1]", "mpd_periods=[2]",
        "mpd_stages=[[4, 3], [8, 1]]", "msd_layers=[[4, 15, 1, 1, 7], [8, 41, 4, 4, 20], [8, 5, 1, 1, 2]]",
        "stft_resolutions=[128, 64]", "data.sizes=[32, 8, 8]", "data.batch_size=4", f"train.checkpoint.every={STEPS}",
    ),
}
COMPARED = ("loss", "discriminator_loss")


def train_losses(run_dir, name: str = "loss") -> dict[int, float]:
    return {
        row["step"]: row["value"]
        for row in training.read_metrics(run_dir / "metrics.csv")
        if row["split"] == "train" and row["name"] == name
    }


def worst_relative_difference(series: dict) -> tuple[float, str]:
    worst, where = 0.0, ""
    for (first, a), (second, b) in itertools.combinations(series.items(), 2):
        assert a.keys() == b.keys(), f"{first} logged steps {sorted(a)}, {second} logged {sorted(b)}"
        for step in a:
            difference = abs(a[step] - b[step]) / max(abs(a[step]), abs(b[step]), 1e-12)
            if difference > worst:
                worst, where = difference, f"{first} vs {second} at step {step}"
    return worst, where


def run_backends_together(sources: dict, folder, check: bool = True) -> dict[str, tuple[int, str, str]]:
    """Write each backend's script (``{backend: source}``) to ``folder/train_<backend>.py`` and
    run them at the same time, one thread each, into ``folder/run_<backend>``: ``{backend:
    (exit code, stdout, stderr)}``; with ``check`` each must exit 0."""
    environment = dict(os.environ, JAX_PLATFORMS="cpu", OMP_NUM_THREADS="1")
    processes = {}
    for backend, source in sources.items():
        script = folder / f"train_{backend}.py"
        script.write_text(source, encoding="utf-8")
        processes[backend] = subprocess.Popen(
            [sys.executable, str(script), "--out-dir", str(folder / f"run_{backend}")],
            cwd=str(folder), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
        )
    results = {}
    for backend, process in processes.items():
        out, err = process.communicate(timeout=600)
        assert not check or process.returncode == 0, f"{backend} failed:\n{out[-2000:]}\n{err[-4000:]}"
        results[backend] = (process.returncode, out, err)
    return results


@pytest.mark.parametrize("spec", sorted(OVERRIDES))
def test_real_spec_losses_agree_across_backends(spec, tmp_path):
    program = compile_spec(spec, OVERRIDES[spec])
    assert program is not None, f"{spec} does not compile with {OVERRIDES[spec]}"
    run_backends_together({backend: emit.render(program, backend) for backend in BACKENDS}, tmp_path)
    for name in COMPARED:
        series = {backend: train_losses(tmp_path / f"run_{backend}", name) for backend in BACKENDS}
        if name != "loss" and not any(series.values()):
            continue  # a value only some objectives log
        assert all(len(losses) == STEPS for losses in series.values()), {b: len(s) for b, s in series.items()}
        worst, where = worst_relative_difference(series)
        print(f"\n{spec}: worst per-step relative {name} difference {worst:.3e} ({where})")
        assert worst <= TOLERANCE, f"{name}: {worst:.3e} at {where}"
