"""``weight_decay_on = matrices``: the weight decay applies to the parameters of rank >= 2
(linear, convolution and embedding weights), not to biases and norm scales (nanoGPT's choice);
``all`` (the default) decays every parameter.

One step with known gradients, on every backend and optimizer: the optimizer each generated
script builds (its own expression, evaluated in the script's namespace) takes one step from
zero gradients, where only the decay moves a parameter: AdamW, Lion and SGD give
``p * (1 - lr * wd)`` exactly where the decay applies, Adam's coupled decay
``p - lr * g / (|g| + eps)`` with ``g = wd * p``; every other parameter stays where it was.
End to end (slow): a one-step run with ``matrices`` differs from one with ``all`` by exactly
``lr * wd * p0`` on the rank-1 parameters and not at all on the others; the three backends
agree on five steps' losses; a resumed run ends where the straight one does.
"""

from __future__ import annotations

import ast
import importlib.util
import itertools
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from specc.compiler import pipeline
from specc.compiler.emit import render as emit
from specc.runtime import training
from tests.backends.runner import run_script

BACKENDS = ("jax", "lightning", "mlx")
KINDS = ("adam", "adamw", "sgd", "lion")
LR, DECAY, EPS = 0.01, 0.5, 1e-8

SPEC = """\
spec decay_groups

data digits {
  batch_size = 16
}

model mlp(x: f32[B, 64]) -> f32[B, 10] {
  h = layernorm(relu(linear(x, 16)))
  return linear(h, 10)
}

objective classification {
  model = mlp
  target = data.y
}

optimizer %(kind)s {
  lr = %(lr)r
  weight_decay = %(decay)r
  weight_decay_on = %(on)s
}

train {
  max_steps = %(steps)d
  log_every = 1
  precision = fp32
  checkpoint { every = %(steps)d }
}
"""


def compiled(tmp_path, backend: str, kind: str = "adamw", on: str = "matrices", steps: int = 1) -> Path:
    """The script of SPEC for ``backend``, written to ``tmp_path``."""
    spec = tmp_path / f"decay_{kind}_{on}.mf"
    spec.write_text(SPEC % {"kind": kind, "lr": LR, "decay": DECAY, "on": on, "steps": steps})
    result = pipeline.check(str(spec), lambda name: Path(name).read_bytes(), backend=backend)
    assert not result.errors, [diagnostic.message for diagnostic in result.errors]
    script = tmp_path / f"train_{kind}_{on}_{backend}.py"
    script.write_text(emit.render(result.program, backend))
    return script


def load_module(script: Path) -> types.ModuleType:
    """The generated script as a module (its module level only: ``main`` is not run)."""
    name = f"decay_groups_{script.stem}"
    specification = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(specification)
    sys.modules[name] = module
    specification.loader.exec_module(module)
    return module


def optimizer_expression(script: Path) -> str:
    """The source of the script's ``optimizer = ...`` assignment's value."""
    text = script.read_text()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Assign) and [getattr(target, "id", None) for target in node.targets] == ["optimizer"]:
            return ast.get_source_segment(text, node.value)
    raise AssertionError(f"{script.name} builds no `optimizer`")


def initial_parameters() -> dict[str, np.ndarray]:
    """A matrix, a bias and a norm scale (the three kinds of parameter), float32."""
    generator = np.random.default_rng(0)
    return {
        "linear.weight": generator.uniform(-1, 1, (3, 4)).astype(np.float32),
        "linear.bias": generator.uniform(-1, 1, (3,)).astype(np.float32),
        "norm.weight": generator.uniform(0.5, 1.5, (3,)).astype(np.float32),
    }


def expected_step(kind: str, on: str, value: np.ndarray) -> np.ndarray:
    """One step from zero gradients: only the decay moves a parameter (module docstring)."""
    if on == "matrices" and value.ndim < 2:
        return value
    if kind == "adam":  # coupled: g = wd * p, then Adam's first (bias-corrected) step
        gradient = DECAY * value.astype(np.float64)
        return value - LR * gradient / (np.abs(gradient) + EPS)
    return value * (1 - LR * DECAY)


def zero_gradients() -> list[dict[str, np.ndarray]]:
    return [{name: np.zeros_like(value) for name, value in initial_parameters().items()}]


def random_gradients(steps: int = 3) -> list[dict[str, np.ndarray]]:
    generator = np.random.default_rng(1)
    return [
        {name: generator.normal(size=value.shape).astype(np.float32) for name, value in initial_parameters().items()}
        for _ in range(steps)
    ]


def jax_steps(script: Path, gradients: list) -> dict[str, np.ndarray]:
    jnp = pytest.importorskip("jax.numpy")
    module = load_module(script)
    optimizer = eval(optimizer_expression(script), vars(module))  # the script's own call
    parameters = {name: jnp.asarray(value) for name, value in initial_parameters().items()}
    state = optimizer.init(parameters)
    for step in gradients:
        updates, state = optimizer.update({name: jnp.asarray(value) for name, value in step.items()}, state, parameters)
        parameters = {name: parameters[name] + updates[name] for name in parameters}
    return {name: np.asarray(value) for name, value in parameters.items()}


def mlx_steps(script: Path, gradients: list) -> dict[str, np.ndarray]:
    mx = pytest.importorskip("mlx.core")
    module = load_module(script)
    optimizer = eval(optimizer_expression(script), vars(module))
    parameters = {name: mx.array(value) for name, value in initial_parameters().items()}
    for step in gradients:
        parameters = optimizer.apply_gradients({name: mx.array(value) for name, value in step.items()}, parameters)
    return {name: np.array(value) for name, value in parameters.items()}


def lightning_steps(script: Path, gradients: list) -> dict[str, np.ndarray]:
    torch = pytest.importorskip("torch")
    module = load_module(script)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 3)
            self.norm = torch.nn.LayerNorm(3)

    model = Model()
    parameters = {name: value for name, value in model.named_parameters() if name in initial_parameters()}
    with torch.no_grad():
        for name, value in parameters.items():
            value.copy_(torch.from_numpy(initial_parameters()[name]))
    objective = next(value for value in vars(module).values() if isinstance(value, type) and "configure_optimizers" in vars(value))
    optimizer = objective.configure_optimizers(types.SimpleNamespace(model=model))  # the script's configure_optimizers
    for step in gradients:
        for parameter in model.parameters():
            parameter.grad = torch.zeros_like(parameter)
        for name, value in parameters.items():
            value.grad = torch.from_numpy(step[name])
        optimizer.step()
    return {name: value.detach().numpy() for name, value in parameters.items()}


STEPS = {"jax": jax_steps, "lightning": lightning_steps, "mlx": mlx_steps}


@pytest.mark.parametrize("on", ["matrices", "all"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_one_step_decays_exactly_the_chosen_parameters(backend, kind, on, tmp_path):
    stepped = STEPS[backend](compiled(tmp_path, backend, kind, on), zero_gradients())
    for name, value in initial_parameters().items():
        expected = expected_step(kind, on, value)
        np.testing.assert_allclose(stepped[name], expected, rtol=1e-6, atol=1e-7, err_msg=f"{backend} {kind} {on} {name}")
        if on == "matrices" and value.ndim < 2:
            np.testing.assert_array_equal(stepped[name], value, err_msg=f"{name} was decayed")
        else:
            assert np.all(stepped[name] != value), f"{name} was not decayed"


@pytest.mark.parametrize("kind", KINDS)
def test_backends_agree_over_steps_with_gradients(kind, tmp_path):
    """Three steps from the same random gradients: the moments, the decay and the groups'
    order agree between the three backends' optimizers under ``matrices``."""
    final = {backend: STEPS[backend](compiled(tmp_path, backend, kind), random_gradients()) for backend in BACKENDS}
    for first, second in itertools.combinations(BACKENDS, 2):
        for name in initial_parameters():
            np.testing.assert_allclose(final[first][name], final[second][name], rtol=1e-5, atol=1e-6, err_msg=f"{kind} {first} {second} {name}")


def test_scripts_name_the_groups_as_written_by_hand(tmp_path):
    """How each backend says it: optax's mask, nanoGPT's two parameter groups, the runtime's
    MatrixDecay optimizer; ``all`` leaves the scripts as they were."""
    assert "mask=jax_training.matrix_mask" in optimizer_expression(compiled(tmp_path, "jax", "adamw"))
    assert "optax.add_decayed_weights(weight_decay, mask=jax_training.matrix_mask)" in optimizer_expression(compiled(tmp_path, "jax", "sgd"))
    assert "torch_training.matrix_decay_groups(self.model.parameters())" in compiled(tmp_path, "lightning", "lion").read_text()
    assert optimizer_expression(compiled(tmp_path, "mlx", "sgd")).startswith("mlx_training.MatrixDecaySGD(")
    for backend in BACKENDS:
        text = compiled(tmp_path, backend, "adamw", "all").read_text()
        assert "matrix" not in text.lower(), backend


# ----------------------------------------------------------------------------- end to end


def checkpoint_arrays(run_dir: Path, file: str = "model") -> dict[str, np.ndarray]:
    checkpoint = training.read_checkpoint(run_dir / "checkpoints" / "last")
    return {name: np.asarray(value) for name, value in (checkpoint.model if file == "model" else checkpoint.optimizer).items()}


# Lightning's parameter groups and MLX's own optimizers; jax's optax mask is the one-step test's
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["lightning", "mlx"])
def test_one_step_run_differs_from_all_by_the_decay_of_the_vectors(backend, tmp_path):
    """From the same weights and batch the two runs' first gradients are equal: their weights
    after one AdamW step differ by ``lr * wd * p0`` exactly where ``matrices`` skips the decay."""
    runs = {}
    for on in ("all", "matrices"):
        script = compiled(tmp_path, backend, "adamw", on)
        run_script(script, "--out-dir", tmp_path / on, check=True, env={"OMP_NUM_THREADS": "1"})
        runs[on] = checkpoint_arrays(tmp_path / on)
    module = load_module(script)
    initial = module.state.state_dict(module.build_model(module.seed))
    assert sorted(initial) == sorted(runs["all"]) == sorted(runs["matrices"])
    ranks = {name: value.ndim for name, value in initial.items()}
    assert {1, 2} <= set(ranks.values())
    for name, value in initial.items():
        difference = runs["matrices"][name].astype(np.float64) - runs["all"][name]
        expected = LR * DECAY * value if value.ndim < 2 else np.zeros_like(value)
        np.testing.assert_allclose(difference, expected, rtol=0, atol=2e-6, err_msg=f"{backend} {name}")


@pytest.mark.slow
def test_backends_agree_on_the_losses_with_matrices(tmp_path):
    losses = {}
    for backend in BACKENDS:
        script = compiled(tmp_path, backend, "adamw", "matrices", steps=5)
        run_script(script, "--out-dir", tmp_path / backend, check=True, env={"OMP_NUM_THREADS": "1"})
        rows = training.read_metrics(tmp_path / backend / "metrics.csv")
        losses[backend] = {row["step"]: row["value"] for row in rows if row["split"] == "train" and row["name"] == "loss"}
    assert sorted(losses["jax"]) == [1, 2, 3, 4, 5]
    for first, second in itertools.combinations(BACKENDS, 2):
        assert losses[first].keys() == losses[second].keys()
        for step, value in losses[first].items():
            assert abs(value - losses[second][step]) <= 1e-4 * abs(value), (first, second, step)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_resumed_run_ends_where_the_straight_one_does(backend, tmp_path):
    script = compiled(tmp_path, backend, "adamw", "matrices", steps=4)
    environment = {"OMP_NUM_THREADS": "1"}
    run_script(script, "--out-dir", tmp_path / "straight", check=True, env=environment)
    run_script(script, "--out-dir", tmp_path / "split", "--max-steps", 2, check=True, env=environment)
    run_script(script, "--out-dir", tmp_path / "split", "--resume", "auto", check=True, env=environment)
    for file in ("model", "optimizer"):
        straight, resumed = checkpoint_arrays(tmp_path / "straight", file), checkpoint_arrays(tmp_path / "split", file)
        assert sorted(straight) == sorted(resumed), file
        for name, value in straight.items():
            if np.issubdtype(value.dtype, np.number):
                np.testing.assert_allclose(resumed[name], value, rtol=0, atol=1e-6, err_msg=f"{backend} {file} {name}")
