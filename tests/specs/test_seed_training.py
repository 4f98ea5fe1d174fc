"""End to end: every seed spec that compiles today, shrunk with ``--set`` (tiny data, a few
dozen steps, fp32, a two-step sampler), is rendered for each backend, run in a subprocess, and
must exit 0, write metrics.csv with train loss rows and a val row per evaluation for every
eval metric, and learn: the mean train loss of the last third of the logged rows is below the
mean of the first third (meanflow_audio: its train mse; its sample metric must also be lower
at the last evaluation than at the first). The long runs that record learning numbers are in
docs/systems.md.
"""

from __future__ import annotations

import dataclasses
import statistics

import pytest

from specc.compiler.emit import render as emit
from specc.runtime import training
from tests.backends.runner import run_script
from tests.specs.helpers import check_ok

pytestmark = pytest.mark.slow

MAX_STEPS = 30
LOG_EVERY = 5
EVAL_EVERY = 15
SHORT_RUN = [
    f"train.max_steps={MAX_STEPS}", f"train.log_every={LOG_EVERY}", f"train.eval_every={EVAL_EVERY}",
    "train.precision=fp32",
]
FLOW_METRICS = {"loss", "mse", "log_spectral_distance", "chamfer", "linear_assignment"}

# ksin_flow's vector field fixes the signal length (1024) and widths in its graph: only the
# data, the sampler and the optimizer shrink; lr 1e-3 with a short warmup so 30 steps learn.
KSIN_FLOW = [
    "k=2", "data.sizes=[256, 64, 64]", "data.batch_size=32", "eval.sampler=euler(steps = 2, cfg_scale = 2.0)",
    "optimizer.lr=1e-3", "schedule.warmup=5",
]
KSIN_FLOW_TRANSFORMER = [
    "k=2", "signal_length=64", "num_layers=1", "d_model=16", "conditioning_dim=8", "num_heads=2", "d_ff=32",
    "num_tokens=4", "d_enc=8", "data.sizes=[512, 64, 64]", "data.batch_size=64",
    "eval.sampler=euler(steps = 2, cfg_scale = 4.0)", "optimizer.lr=3e-3", "schedule.warmup=5",
]
# meanflow_audio (improved_mean_flow, one-step sampling) with a tiny mixer over 128-sample
# windows; frame_length of its metric follows the window (32 samples here).
MEANFLOW_AUDIO = [
    "window=128", "mdct_window=32", "latent_dimension=32", "condition_dimension=16", "mixer_blocks=1",
    "token_mix_dim=32", "channel_mix_dim=32", "num_channels=8", "num_latent_tokens=8", "data.sizes=[256, 64, 64]",
    "data.batch_size=32", "optimizer.lr=3e-3",
]
AUDIO_CLASSIFIER = [
    "length=1920", "n_fft=256", "hop=128", "n_mels=16", "data.sizes=[256, 64, 64]", "data.batch_size=32",
    "schedule.warmup=5", "schedule.total=30",
]


@dataclasses.dataclass(frozen=True)
class Case:
    """One reduced run: the spec, its overrides and the val metric names it must log."""

    spec: str
    overrides: tuple
    val_metrics: frozenset
    # train values besides the loss that must fall too: ksin_flow's weighted loss,
    # mean(S / (S + 1e-3)), moves in the third decimal while its mse drops five-fold
    extra_falling: tuple = ()
    # whether the train loss itself must fall: meanflow_audio's weighted loss is
    # 1 - 1e-3 / (S + 1e-3) with S ~ 160 (a row's summed squared error): it moves in the
    # seventh decimal, a few float32 ulps, so its mse is the value that must fall
    loss_falls: bool = True
    # val metrics (lower is better) that must be lower at the last evaluation than at the first
    improving: tuple = ()


SPECS = {
    "ksin_flow": Case("ksin_flow", tuple(KSIN_FLOW), frozenset(FLOW_METRICS), ("mse",)),
    "ksin_flow_transformer": Case(
        "ksin_flow_transformer", tuple(KSIN_FLOW_TRANSFORMER), frozenset(FLOW_METRICS), ("mse",)
    ),
    "audio_classifier": Case("audio_classifier", tuple(AUDIO_CLASSIFIER), frozenset({"loss", "accuracy"})),
    "meanflow_audio": Case(
        "meanflow_audio",
        tuple(MEANFLOW_AUDIO),
        frozenset({"loss", "mse", "spectral_distribution_distance"}),
        ("mse",),
        loss_falls=False,
        improving=("mse", "spectral_distribution_distance"),
    ),
}
BACKENDS = ("jax", "lightning", "mlx")
# MLX on this CPU runs ksin_flow's 8M-parameter MLP slowly: a smaller batch there
BACKEND_OVERRIDES = {("ksin_flow", "mlx"): ("data.batch_size=16",)}


def values(rows, split: str, name: str) -> list[float]:
    return [row["value"] for row in rows if row["split"] == split and row["name"] == name]


def falls(series: list[float]) -> bool:
    """Mean of the last third of the series below the mean of the first third."""
    third = max(1, len(series) // 3)
    return statistics.fmean(series[-third:]) < statistics.fmean(series[:third])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Compile, run and read one (spec, backend) case once per module."""
    done = {}

    def run_case(spec: str, backend: str):
        if (spec, backend) not in done:
            case = SPECS[spec]
            overrides = SHORT_RUN + list(case.overrides) + list(BACKEND_OVERRIDES.get((spec, backend), ()))
            program = check_ok(spec, overrides, backend)
            folder = tmp_path_factory.mktemp(f"{spec}_{backend}")
            script = folder / f"train_{spec}_{backend}.py"
            script.write_text(emit.render(program, backend), encoding="utf-8")
            result = run_script(script, "--out-dir", folder / "run", timeout=300, env={"OMP_NUM_THREADS": "1"})
            assert result.returncode == 0, f"{script} exited {result.returncode}:\n{result.stderr[-3000:]}"
            done[spec, backend] = training.read_metrics(folder / "run" / "metrics.csv")
        return done[spec, backend]

    return run_case


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("spec", sorted(SPECS))
def test_reduced_seed_run_learns_and_logs_metrics(run, spec, backend):
    rows = run(spec, backend)
    losses = values(rows, "train", "loss")
    assert len(losses) == MAX_STEPS // LOG_EVERY
    assert all(value == value for value in losses), losses  # no NaN
    assert not SPECS[spec].loss_falls or falls(losses), f"train loss did not fall: {losses}"
    for name in SPECS[spec].extra_falling:
        series = values(rows, "train", name)
        assert falls(series), f"train {name} did not fall: {series}"
    logged = {row["name"] for row in rows if row["split"] == "val"}
    assert logged == SPECS[spec].val_metrics
    for name in SPECS[spec].val_metrics:
        steps = [row["step"] for row in rows if row["split"] == "val" and row["name"] == name]
        assert steps == list(range(EVAL_EVERY, MAX_STEPS + 1, EVAL_EVERY)), (name, steps)
    for name in SPECS[spec].improving:
        series = values(rows, "val", name)
        assert series[-1] < series[0], f"val {name} did not improve: {series}"
