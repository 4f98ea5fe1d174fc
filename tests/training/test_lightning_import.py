"""``specc import-checkpoint`` / ``specc.lightning_import.import_checkpoint``: the weights of a
plain Lightning checkpoint (a hand-written ``LightningModule`` of the same architecture) become
a specc checkpoint, paired with the spec's parameters by position and shape, read with
``weights_only`` (no code in the file runs). It loads into torch, JAX and MLX with the plain
module's outputs, warm-starts a run, is refused for ``--resume`` in one line, and every
mismatch is one message naming both sides."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import specc  # noqa: E402
from specc.lightning_import import import_checkpoint  # noqa: E402
from specc.describe import describe_checkpoint, format_description  # noqa: E402
from specc.load import CheckpointError  # noqa: E402

from tests.backends.runner import run_script  # noqa: E402

SPEC = """\
spec net
data digits { batch_size = 32 }
model mlp(x: f32[B, 64]) -> f32[B, 10] {
  return linear(relu(linear(x, 32)), 10)
}
objective classification { target = data.y }
optimizer adam { lr = 1e-2 }
train { max_steps = 20 }
"""


class Net(torch.nn.Module):
    def __init__(self, hidden: int = 32):
        super().__init__()
        self.fc1 = torch.nn.Linear(64, hidden)
        self.fc2 = torch.nn.Linear(hidden, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def plain_checkpoint(folder, networks: dict, step: int = 7) -> tuple:
    """A file as Lightning's ``save_checkpoint`` writes it (state_dict, global_step, epoch and
    the loops' plain data) for a module holding ``networks`` as attributes."""
    torch.manual_seed(0)
    state = {}
    for attribute, network in networks.items():
        state.update({f"{attribute}.{key}": value for key, value in network.state_dict().items()})
    path = folder / "plain.ckpt"
    torch.save({"state_dict": state, "global_step": step, "epoch": 1, "pytorch-lightning_version": "2.6.0",
                "hyper_parameters": {"lr": 0.01}, "optimizer_states": []}, path)
    return path


def spec_file(folder, text: str = SPEC):
    path = folder / "net.mf"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_weights_load_into_every_backend_with_the_plain_modules_outputs(tmp_path):
    torch.manual_seed(0)
    network = Net()
    written = import_checkpoint(plain_checkpoint(tmp_path, {"model": network}), spec_file(tmp_path), tmp_path / "run")
    assert written == tmp_path / "run" / "checkpoints" / "step-000007"
    inputs = np.random.default_rng(0).standard_normal((5, 64)).astype(np.float32)
    expected = network(torch.from_numpy(inputs)).detach().numpy()
    jnp = pytest.importorskip("jax.numpy")
    mx = pytest.importorskip("mlx.core")
    found = {
        "torch": specc.load_model(tmp_path / "run", "torch")(torch.from_numpy(inputs)).detach().numpy(),
        "jax": np.asarray(specc.load_model(tmp_path / "run", "jax")(jnp.asarray(inputs))),
        "mlx": np.array(specc.load_model(tmp_path / "run", "mlx")(mx.array(inputs))),
    }
    for backend, outputs in found.items():
        np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-5, err_msg=backend)
    description = describe_checkpoint(tmp_path / "run")
    assert description["step"] == 7 and description["imported_from"] == str((tmp_path / "plain.ckpt").resolve())
    assert f"imported    from {(tmp_path / 'plain.ckpt').resolve()} (weights only: warm-starts, does not resume)" in (
        format_description(description)
    )


def test_a_module_of_several_networks_is_read_under_a_prefix(tmp_path):
    torch.manual_seed(0)
    plain = plain_checkpoint(tmp_path, {"generator": Net(), "critic": Net(16)})
    with pytest.raises(CheckpointError) as refused:
        import_checkpoint(plain, spec_file(tmp_path), tmp_path / "run")
    assert str(refused.value) == (
        f"checkpoint {str(plain)!r} has 8 tensors under 'its root', model 'mlp' has 4 parameters: not the same "
        "architecture (or the module holds several networks: give the prefix of this one's keys, --prefix "
        'generator. / prefix="generator.")'
    )
    import_checkpoint(plain, spec_file(tmp_path), tmp_path / "run", prefix="generator.")
    assert specc.load_model(tmp_path / "run", "torch").linear_0.weight.shape == (32, 64)


def test_another_architecture_is_refused_naming_both_tensors(tmp_path):
    plain = plain_checkpoint(tmp_path, {"model": Net(16)})
    with pytest.raises(CheckpointError) as refused:
        import_checkpoint(plain, spec_file(tmp_path), tmp_path / "run")
    assert str(refused.value) == (
        f"checkpoint {str(plain)!r}: tensor 1 of 4, 'model.fc1.weight' [16, 64], pairs with 'linear_0.weight' "
        "[32, 64] of model 'mlp': the layers differ (or are registered in another order)"
    )
    assert not (tmp_path / "run" / "checkpoints").exists()


class Opaque:
    """An object only unpickling can rebuild (as a module's pickled hyperparameters)."""


def test_a_file_that_needs_code_to_load_is_refused(tmp_path):
    path = tmp_path / "pickled.ckpt"
    torch.save({"state_dict": {"model.fc1.weight": torch.zeros(2)}, "object": Opaque()}, path)
    with pytest.raises(CheckpointError, match=r"cannot be read as weights only \(UnpicklingError: .*specc never "
                                              r"unpickles code from a checkpoint$"):
        import_checkpoint(path, spec_file(tmp_path), tmp_path / "run")


def test_a_model_the_spec_lacks_is_named(tmp_path):
    with pytest.raises(CheckpointError) as refused:
        import_checkpoint(plain_checkpoint(tmp_path, {"model": Net()}), spec_file(tmp_path), tmp_path / "run", model="vae")
    assert str(refused.value) == f"spec {str(tmp_path / 'net.mf')!r} has no model 'vae' (its models: mlp)"


def test_the_command_writes_the_checkpoint_or_one_error_line(tmp_path):
    plain = plain_checkpoint(tmp_path, {"model": Net()})
    command = [sys.executable, "-m", "specc.compiler.cli", "import-checkpoint", str(plain), str(spec_file(tmp_path))]
    done = subprocess.run([*command, "--out", str(tmp_path / "run")], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout) == (0, f"wrote {tmp_path / 'run' / 'checkpoints' / 'step-000007'}\n"), done.stderr
    refused = subprocess.run([*command, "--out", str(tmp_path / "other"), "--prefix", "model.fc1."], capture_output=True,
                             text=True, check=False)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and refused.stderr.startswith("error: checkpoint ")


@pytest.mark.slow
def test_a_run_warm_starts_from_it_and_resume_is_refused_in_one_line(tmp_path):
    pytest.importorskip("jax")
    from specc.compiler import pipeline
    from specc.compiler.emit import render as emit

    torch.manual_seed(0)
    checkpoint = import_checkpoint(plain_checkpoint(tmp_path, {"model": Net()}), spec_file(tmp_path), tmp_path / "run")
    warm = pipeline.check(str(tmp_path / "net.mf"), lambda name: open(name, "rb").read(),
                          (f'train.warm_start="{checkpoint}"',)).program
    script = tmp_path / "train_warm.py"
    script.write_text(emit.render(warm, "jax"), encoding="utf-8")
    run_script(script, "--out-dir", tmp_path / "warm", "--max-steps", 1, check=True)
    plain = pipeline.check(str(tmp_path / "net.mf"), lambda name: open(name, "rb").read()).program
    script = tmp_path / "train_plain.py"
    script.write_text(emit.render(plain, "jax"), encoding="utf-8")
    refused = run_script(script, "--out-dir", tmp_path / "resumed", "--resume", checkpoint, check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1] == (
        f"--resume {checkpoint}: checkpoint {str(checkpoint)!r} holds weights imported from "
        f"{str((tmp_path / 'plain.ckpt').resolve())!r}, without the optimizer and data state a resume continues; start "
        f"from its weights with train.warm_start = {str(checkpoint)!r}"
    )
