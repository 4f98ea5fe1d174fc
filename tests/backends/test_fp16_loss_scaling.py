"""``train.precision = fp16``: float16 compute, float32 master weights and dynamic loss
scaling (torch's ``GradScaler`` scheme) on jax, mlx and Lightning (CPU included).

- the scaler's functions: an overflow skips the step and halves the scale, 2000 (here 3)
  finite steps double it, identically in ``specc.runtime.{jax,mlx}.precision`` and
  ``torch.amp.GradScaler``;
- MLX's compiled step with a scaler leaves parameters and optimizer state untouched on an
  overflow;
- generated scripts: the fp16 run's training losses track the fp32 run's; ``--resume``
  continues with the saved scale (set in the checkpoint to an overflowing 2^24, it is
  halved at once, and the skipped steps are counted the same on every backend).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from specc.compiler import ir

from tests.backends import fixtures
from tests.backends.runner import run_script, write_script

jnp = pytest.importorskip("jax.numpy")
mx = pytest.importorskip("mlx.core")
torch = pytest.importorskip("torch")

from specc.runtime.jax import precision as jax_precision
from specc.runtime.mlx import precision as mlx_precision

BACKENDS = ("jax", "mlx", "lightning")
# measured: the fp16 runs' logged training losses equal the fp32 runs' to within 5e-5
# relative on every backend (digits MLP, 30 steps, adam 1e-3)
LOSS_TOLERANCE = 5e-4
OVERFLOWING_SCALE = 2.0**24


def jax_state(scale=65536.0, good=0, skipped=0):
    state = jax_precision.initial_state(scale)
    return dict(state, good_steps=jnp.asarray(good, jnp.int32), skipped=jnp.asarray(skipped, jnp.int32))


def mlx_state(scale=65536.0, good=0, skipped=0):
    state = mlx_precision.initial_state(scale)
    return dict(state, good_steps=mx.array(good, dtype=mx.int32), skipped=mx.array(skipped, dtype=mx.int32))


def as_numbers(state) -> tuple:
    return float(np.asarray(state["scale"])), int(np.asarray(state["good_steps"])), int(np.asarray(state["skipped"]))


def torch_scaler_after(gradient_rows, growth_interval=2000):
    """torch's GradScaler on the CPU after one step per row of ``gradient_rows`` (the
    unscaled gradient of a two-element parameter): (scale, parameter, skipped steps)."""
    parameter = torch.nn.Parameter(torch.ones(2))
    optimizer = torch.optim.SGD([parameter], lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=65536.0, growth_interval=growth_interval)
    skipped = 0
    for row in gradient_rows:
        optimizer.zero_grad()
        loss = (parameter * torch.tensor(row, dtype=torch.float32)).sum()
        before = scaler.get_scale()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        skipped += scaler.get_scale() < before
    return scaler.get_scale(), parameter.detach().numpy(), skipped


def test_an_overflow_skips_and_halves_the_scale_identically_on_jax_mlx_and_torch():
    gradient = [1.0, math.inf]
    _, jax_finite = jax_precision.unscale(jax_state(), {"w": jnp.asarray(gradient) * 65536.0})
    _, mlx_finite = mlx_precision.unscale(mlx_state(), {"w": mx.array(gradient) * 65536.0})
    assert not bool(jax_finite) and not bool(mlx_finite.item())
    assert as_numbers(jax_precision.update(jax_state(good=5), jax_finite)) == (32768.0, 0, 1)
    assert as_numbers(mlx_precision.update(mlx_state(good=5), mlx_finite)) == (32768.0, 0, 1)
    scale, parameter, skipped = torch_scaler_after([gradient])
    assert (scale, skipped) == (32768.0, 1)
    np.testing.assert_array_equal(parameter, [1.0, 1.0])  # the update was skipped


def test_a_skipped_step_keeps_the_previous_values_leaf_by_leaf():
    updated, previous = {"a": jnp.asarray([2.0]), "b": jnp.asarray(3.0)}, {"a": jnp.asarray([1.0]), "b": jnp.asarray(0.0)}
    kept = jax_precision.keep_if_finite(jnp.asarray(False), updated, previous)
    assert float(kept["a"][0]) == 1.0 and float(kept["b"]) == 0.0
    kept = mlx_precision.keep_if_finite(mx.array(True), {"a": mx.array([2.0])}, {"a": mx.array([1.0])})
    assert kept["a"].tolist() == [2.0]


def test_finite_steps_unscale_exactly_and_grow_the_scale_after_the_interval_on_every_backend():
    gradient = np.array([0.25, -3.0], np.float32)
    jax_state_now, mlx_state_now = jax_state(), mlx_state()
    for _ in range(3):
        grads, finite = jax_precision.unscale(jax_state_now, {"w": jnp.asarray(gradient) * jax_state_now["scale"]})
        np.testing.assert_array_equal(np.asarray(grads["w"]), gradient)
        jax_state_now = jax_precision.update(jax_state_now, finite, growth_interval=3)
        grads, finite = mlx_precision.unscale(mlx_state_now, {"w": mx.array(gradient) * mlx_state_now["scale"]})
        np.testing.assert_array_equal(np.array(grads["w"]), gradient)
        mlx_state_now = mlx_precision.update(mlx_state_now, finite, growth_interval=3)
    assert as_numbers(jax_state_now) == as_numbers(mlx_state_now) == (131072.0, 0, 0)
    assert torch_scaler_after([gradient.tolist()] * 3, growth_interval=3)[0] == 131072.0


def test_the_mlx_compiled_step_skips_an_overflowing_update_and_halves_the_scale():
    import mlx.optimizers as optim
    from mlx import nn
    from mlx.utils import tree_flatten
    from specc.runtime.mlx import training

    model = nn.Linear(4, 1)
    model.update({"weight": mx.ones((1, 4)), "bias": mx.zeros((1,))})
    optimizer = optim.Adam(learning_rate=0.1)
    optimizer.init(model.trainable_parameters())
    scaler = mlx_precision.initial_state(2.0**100)  # s * gradient overflows float32 too

    def loss_function(model, batch):
        loss = mx.mean(mx.square(model(batch["x"])))
        return loss, {"loss": loss}

    step = training.make_train_step(model, optimizer, training.mixed_precision(loss_function, mx.float16), scaler=scaler)
    before = {name: np.array(value) for name, value in tree_flatten(model.parameters())}
    values = step([{"x": mx.ones((2, 4))}])
    mx.eval(model.state, optimizer.state, scaler)
    for name, value in tree_flatten(model.parameters()):
        np.testing.assert_array_equal(np.array(value), before[name])
    assert int(optimizer.state["step"].item()) == 0  # the schedule did not advance either
    assert as_numbers(scaler) == (2.0**99, 0, 1)
    assert math.isfinite(float(values["loss"].item()))  # the loss itself is the unscaled one
    scaler["scale"] = mx.array(1024.0)  # a scale that fits: the next step updates
    step([{"x": mx.ones((2, 4))}])
    mx.eval(model.state, optimizer.state, scaler)
    assert int(optimizer.state["step"].item()) == 1 and as_numbers(scaler) == (1024.0, 1, 1)


# ----------------------------------------------------------------------------- checker

EXAMPLES = sorted(path.name for path in (Path(__file__).resolve().parents[2] / "specs").glob("*.mf"))
GENERATOR_LOOP_SPECS = {"audio_vae_gan.mf"}  # objective vae / adversarial


def diagnostics_with(spec: str, precision: str, backend: str) -> list[tuple[str, str]]:
    from specc.compiler import pipeline

    root = Path(__file__).resolve().parents[2]
    result = pipeline.check(
        f"specs/{spec}", lambda name: (root / name).read_bytes(), (f"train.precision={precision}",), backend
    )
    return [(diagnostic.code, diagnostic.message) for diagnostic in result.diagnostics if diagnostic.severity == "error"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("spec", EXAMPLES)
def test_bf16_is_accepted_by_every_example_on_every_backend(spec, backend):
    assert diagnostics_with(spec, "bf16", backend) == []


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("spec", EXAMPLES)
def test_fp16_is_accepted_on_every_backend_but_in_the_generator_loop(spec, backend):
    found = diagnostics_with(spec, "fp16", backend)
    if spec in GENERATOR_LOOP_SPECS:
        assert [code for code, _ in found] == ["E0801"] and "fp16" in found[0][1], found
    else:
        assert found == []


# ----------------------------------------------------------------------------- scripts


def digits(precision: str, **train) -> ir.Program:
    program = fixtures.digits_program()
    checkpoint = ir.CheckpointPlan(every=10, keep=3, monitor=None, mode="min")
    options = {"precision": precision, "max_epochs": None, "max_steps": 30, "log_every": 10, "eval_every": 30, "checkpoint": checkpoint}
    return dataclasses.replace(program, train=dataclasses.replace(program.train, **{**options, **train}))


def train_rows(run_dir: Path) -> dict[tuple[int, str], float]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return {(int(row["step"]), row["name"]): float(row["value"]) for row in csv.DictReader(handle) if row["split"] == "train"}


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_fp16_training_losses_track_fp32(backend, tmp_path):
    runs = {}
    for precision in ("fp32", "fp16"):
        (tmp_path / precision).mkdir()
        script = write_script(digits(precision), backend, tmp_path / precision)
        run_script(script, "--out-dir", tmp_path / precision / "run", check=True, env={"OMP_NUM_THREADS": "1"})
        runs[precision] = train_rows(tmp_path / precision / "run")
    losses = {precision: np.array([rows[step, "loss"] for step in (10, 20, 30)]) for precision, rows in runs.items()}
    np.testing.assert_allclose(losses["fp16"], losses["fp32"], rtol=LOSS_TOLERANCE)
    assert [runs["fp16"][step, "loss_scale"] for step in (10, 20, 30)] == [65536.0] * 3
    assert runs["fp16"][30, "skipped_steps"] == 0.0
    assert (30, "loss_scale") not in runs["fp32"]


def set_saved_scale(checkpoint: Path, backend: str, scale: float) -> None:
    """Write ``scale`` as the loss scale saved in ``checkpoint`` (its checksum updated)."""
    manifest_path = checkpoint / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    if backend == "lightning":
        manifest["lightning"]["__dict__"]["MixedPrecision"]["__dict__"]["scale"] = scale
        manifest["lightning"]["__dict__"]["loss_scale"]["__dict__"]["previous"] = scale
    else:
        from safetensors.numpy import load_file, save_file

        path = checkpoint / "optimizer.safetensors"
        arrays = load_file(str(path))
        names = [name for name in arrays if name.startswith("scaler.") and name.endswith("scale")]
        assert len(names) == 1, sorted(arrays)
        arrays[names[0]] = np.asarray(scale, np.float32)
        save_file(arrays, str(path))
        manifest["checksums"][path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))


@pytest.mark.slow
def test_resume_continues_with_the_saved_scale_and_an_overflow_halves_it_on_every_backend(tmp_path):
    skipped = {}
    for backend in BACKENDS:
        run_dir = tmp_path / backend / "run"
        (tmp_path / backend).mkdir()
        script = write_script(digits("fp16"), backend, tmp_path / backend)
        environment = {"OMP_NUM_THREADS": "1"}
        run_script(script, "--out-dir", run_dir, "--max-steps", "20", check=True, env=environment)
        set_saved_scale(run_dir / "checkpoints" / "step-000020", backend, OVERFLOWING_SCALE)
        run_script(script, "--out-dir", run_dir, "--resume", "auto", check=True, env=environment)
        rows = train_rows(run_dir)
        skipped[backend] = rows[30, "skipped_steps"]
        assert skipped[backend] >= 1, backend  # 2^24 overflows float16 at once
        assert rows[30, "loss_scale"] == OVERFLOWING_SCALE / 2.0 ** skipped[backend], backend
        assert math.isfinite(rows[30, "loss"])
    assert len(set(skipped.values())) == 1, skipped
