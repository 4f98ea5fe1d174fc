"""Seed 004's options trained for a few steps on jax, lightning and mlx at once, with the same
per-step losses: saved normalisation statistics, fake data, a repeated first batch, and the
fixed (non-trainable) parameters-to-tokens projection of `ksin_flow_transformer`
(`learn_projection = false`), whose weights end where they started on every backend."""

from __future__ import annotations

import numpy as np
import pytest

from specc.compiler.cli.main import read as cli_read
from specc.compiler.emit import render as emit
from specc.compiler.pipeline import check
from specc.runtime import init, training
from tests.backends.runner import compile_spec
from tests.backends.test_spec_parity import run_backends_together, train_losses, worst_relative_difference

pytestmark = pytest.mark.slow

BACKENDS = ("jax", "lightning", "mlx")
STEPS = 6
TOLERANCE = 1e-4
SPEC = """\
spec seed004_options

data npz {
  path = "data.npz"
  fields = { x = "f32[16]", y = "i64[]" }
  batch_size = 8
}

model net(x: f32[B, 16]) -> f32[B, 4] {
  return linear(relu(linear(x, 32)), 4)
}

objective classification {
  model = net
  target = data.y
}

optimizer adam { lr = 1e-2 }

train {
  max_steps = 6
  log_every = 1
  eval_every = 6
  precision = fp32
}

eval {
  metrics = [accuracy]
}
"""


def train_everywhere(folder, overrides=(), text: str = SPEC) -> dict[str, dict[int, float]]:
    """Compile ``text`` (written to ``folder/spec.mf``) for every backend, train them together,
    and return each backend's per-step training losses (checked to agree)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.mf").write_text(text, encoding="utf-8")
    result = check(str(folder / "spec.mf"), cli_read, tuple(overrides))
    assert result.program is not None, [d.message for d in result.diagnostics]
    run_backends_together({backend: emit.render(result.program, backend) for backend in BACKENDS}, folder)
    series = {backend: train_losses(folder / f"run_{backend}") for backend in BACKENDS}
    assert all(sorted(losses) == list(range(1, STEPS + 1)) for losses in series.values()), series
    worst, where = worst_relative_difference(series)
    assert worst <= TOLERANCE, f"{worst:.3e} at {where}"
    return series


def test_saved_statistics_train_the_same_on_every_backend(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(96, 16)).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=x, y=(x[:, 0] > 3.0).astype(np.int64) + 2 * (x[:, 1] > 3.0))
    np.savez(tmp_path / "stats.npz", mean=x.mean(axis=0), var=x.var(axis=0))
    statistics = (f'data.transforms=[normalize(field = "x", statistics = "{tmp_path}/stats.npz")]',)
    text = SPEC.replace('"data.npz"', f'"{tmp_path}/data.npz"')
    saved = train_everywhere(tmp_path / "saved", statistics, text)
    own = check(str(tmp_path / "saved" / "spec.mf"), cli_read, ('data.transforms=[normalize(field = "x")]',)).program
    (tmp_path / "own").mkdir()
    run_backends_together({"jax": emit.render(own, "jax")}, tmp_path / "own")  # each example's own statistics
    assert saved["jax"][1] != pytest.approx(train_losses(tmp_path / "own" / "run_jax")[1], rel=1e-3)


@pytest.fixture(scope="module")
def fake_runs(tmp_path_factory):
    """Fake data (``data.npz`` does not exist), plainly and with ``repeat_first_batch``."""
    folder = tmp_path_factory.mktemp("fake")
    plain = train_everywhere(folder / "plain", ("data.fake=true",))
    repeated = train_everywhere(folder / "repeated", ("data.fake=true", "data.repeat_first_batch=true"))
    return plain, repeated


def test_fake_data_trains_the_same_on_every_backend(fake_runs):
    plain, _ = fake_runs
    assert all(np.isfinite(list(losses.values())).all() for losses in plain.values())


def test_a_repeated_first_batch_trains_the_same_on_every_backend(fake_runs):
    plain, repeated = fake_runs
    for backend in BACKENDS:
        assert repeated[backend][1] == pytest.approx(plain[backend][1], rel=1e-6)  # the same first batch
        assert all(repeated[backend][step] != pytest.approx(plain[backend][step], rel=1e-4) for step in range(2, STEPS + 1))
        assert repeated[backend][STEPS] < repeated[backend][1]  # fitting one batch


PROJECTION = (
    "d_model=16", "num_layers=1", "num_heads=2", "d_ff=16", "num_tokens=4", "d_enc=8", "conditioning_dim=8",
    "signal_length=32", "data.sizes=[64, 16, 16]", "data.batch_size=8", "schedule.warmup=1",
    "eval.sampler=euler(steps = 2)", "eval.test_sampler=euler(steps = 2)", f"train.max_steps={STEPS}",
    "train.log_every=1", f"train.eval_every={STEPS}", f"train.checkpoint.every={STEPS}", "train.precision=fp32",
)


def test_a_fixed_projection_keeps_its_initial_weights_on_every_backend(tmp_path):
    program = compile_spec("specs/ksin_flow_transformer.mf", PROJECTION)
    assert program is not None and program.train.freeze == ("linear_0",)
    run_backends_together({backend: emit.render(program, backend) for backend in BACKENDS}, tmp_path)
    series = {backend: train_losses(tmp_path / f"run_{backend}") for backend in BACKENDS}
    assert all(len(losses) == STEPS for losses in series.values())
    worst, where = worst_relative_difference(series)
    assert worst <= TOLERANCE, f"{worst:.3e} at {where}"
    graph = program.models[0]
    for backend in BACKENDS:
        checkpoint = training.read_checkpoint(tmp_path / f"run_{backend}" / "checkpoints" / "last")
        initial = init.initialize(graph.parameters, checkpoint.manifest["seed"])

        weights = checkpoint.model
        saved = {name: np.asarray(weights[name if name in weights else f"{graph.name}.{name}"]) for name in initial}
        for name in ("linear_0.weight", "linear_0.bias"):  # the projection: exactly as initialised
            np.testing.assert_array_equal(saved[name], initial[name], err_msg=f"{backend}: {name}")
        trained = [name for name in initial if not name.startswith("linear_0.")]
        assert all(not np.array_equal(saved[name], initial[name]) for name in ("linear_1.weight", "linear_2.weight"))
        assert sum(not np.array_equal(saved[name], initial[name]) for name in trained) > len(trained) // 2, backend
