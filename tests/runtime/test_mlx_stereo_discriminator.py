"""A stereo (2-channel) MS-STFT discriminator on MLX: ``split`` of the channels inside the
compiled adversarial step (update the discriminator, then differentiate the generator's loss
through it) used to crash ``mx.compile`` with ``IndexError: _Map_base::at``; the
discriminator's outputs agree with the numpy reference for 2 channels."""

from __future__ import annotations

import numpy as np
import pytest

mx = pytest.importorskip("mlx.core")

import mlx.nn as nn  # noqa: E402
import mlx.optimizers as optim  # noqa: E402

from specc.compiler import pipeline  # noqa: E402
from specc.compiler.emit import render as emit  # noqa: E402
from specc.runtime import training  # noqa: E402
from specc.runtime.mlx import layers, objectives, state  # noqa: E402
from specc.runtime.reference import layers as reference  # noqa: E402
from specc.runtime.reference import preprocess as reference_preprocess  # noqa: E402
from tests.backends.runner import run_script  # noqa: E402
from tests.specs.helpers import read  # noqa: E402

LENGTH, N_FFT, FILTERS, DILATIONS = 256, 64, 4, (1, 2, 4)

STEREO_SPEC = f"""spec stereo_gan
language 1
import "std/discriminators.mf"

data synthetic_audio {{
  sample_rate = 8000
  length = {LENGTH}
  channels = 2
  sizes = [8, 4, 4]
  batch_size = 4
}}

model generator(x: f32[B, {LENGTH}, 2]) -> f32[B, {LENGTH}, 2] {{
  return tanh(conv1d(x, 2, 3, padding = same))
}}

model discriminator(x: f32[B, {LENGTH}, 2]) -> (list, list) {{
  scores, maps = stft_discriminator(x, {N_FFT}, {FILTERS})
  return scores, maps
}}

objective adversarial {{
  generator = generator
  discriminator = discriminator
  target = data.audio
  loss = l1
}}

optimizer generator: adam {{
  lr = 1e-3
  models = [generator]
}}
optimizer discriminator: adam {{
  lr = 1e-3
  models = [discriminator]
}}

train {{
  max_steps = 2
  log_every = 2
  eval_every = 2
}}
"""


@pytest.fixture(scope="module")
def stereo_models(tmp_path_factory):
    """The stereo spec's MLX generator and discriminator, with the runtime's initial parameters."""
    path = tmp_path_factory.mktemp("stereo") / "stereo_gan.mf"
    path.write_text(STEREO_SPEC)
    result = pipeline.check(str(path), read, (), "mlx")
    assert not result.errors, result.diagnostics
    namespace = {"__name__": "stereo_gan"}
    exec(compile(emit.render(result.program, "mlx"), str(path.with_suffix(".py")), "exec"), namespace)
    models = namespace["build_models"](0)
    return models["generator"], models["discriminator"]


def audio(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (2, LENGTH, 2)).astype(np.float32)


def reference_discriminator(arrays: dict, x: np.ndarray):
    """std/discriminators.mf's ``stft_discriminator`` in float64 numpy: (logits, features)."""
    x = x.astype(np.float64)

    def convolution(h, index, **options):
        weight = reference.weight_norm(arrays[f"conv2d_{index}.weight_g"], arrays[f"conv2d_{index}.weight_v"])
        return reference.conv2d(h, weight, arrays[f"conv2d_{index}.bias"], **options)

    channels = reference.split(x, 2, axis=-1)
    spectra = [reference_preprocess.stft(channel.reshape(len(x), LENGTH), N_FFT, N_FFT // 4) for channel in channels]
    h = reference.leaky_relu(convolution(reference.concat(spectra), 0, padding=(1, 4)), 0.2)
    features = [h]
    for index, dilation in enumerate(DILATIONS, start=1):
        h = convolution(h, index, stride=(1, 2), dilation=(dilation, 1), padding=(dilation, 4))
        h = reference.leaky_relu(h, 0.2)
        features.append(h)
    h = reference.leaky_relu(convolution(h, 4, padding=(1, 1)), 0.2)
    logits = convolution(h, 5, padding=(1, 1))
    return [reference.flatten(logits)], features + [h, logits]


def test_the_stereo_discriminator_matches_the_reference(stereo_models):
    _, discriminator = stereo_models
    arrays = {
        name.removeprefix("stft_discriminator_0."): value.astype(np.float64)
        for name, value in state.state_dict(discriminator).items()
    }
    x = audio(1)
    outputs = [np.array(value) for value in discriminator(mx.array(x))]
    logits, features = reference_discriminator(arrays, x)
    expected = logits + features
    assert [output.shape for output in outputs] == [array.shape for array in expected]
    for index, (actual, wanted) in enumerate(zip(outputs, expected)):
        np.testing.assert_allclose(actual, wanted, rtol=1e-4, atol=1e-4, err_msg=f"output {index}")


@pytest.mark.slow
def test_the_stereo_adversarial_script_trains_on_mlx(tmp_path):
    """The compiled script of the stereo spec runs its adversarial steps to the end."""
    path = tmp_path / "stereo_gan.mf"
    path.write_text(STEREO_SPEC)
    result = pipeline.check(str(path), read, (), "mlx")
    assert not result.errors, result.diagnostics
    script = tmp_path / "train_stereo_gan.py"
    script.write_text(emit.render(result.program, "mlx"))
    run = run_script(script, "--out-dir", tmp_path / "run")
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert [row["step"] for row in training.read_metrics(tmp_path / "run" / "metrics.csv") if row["name"] == "discriminator_loss"] == [2]


def test_split_inside_a_compiled_step_that_updates_then_differentiates():
    """The smallest form of the crash: ``layers.split`` in a model updated and then
    differentiated through in one ``mx.compile``d function with state."""
    mx.random.seed(0)

    class Critic(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = layers.Conv2d(in_channels=2, out_channels=2, kernel_size=(3, 3), padding=(1, 1), bias=True)
            self.head = layers.Conv2d(in_channels=2, out_channels=1, kernel_size=(3, 3), padding=(1, 1), bias=True)

        def __call__(self, x):
            left, right = layers.split(x, 2, axis=-1)
            h = self.conv(layers.concat([left, right], axis=-1).reshape(x.shape[0], 8, 8, 2))
            return h.reshape(x.shape[0], -1), self.head(h).reshape(x.shape[0], -1)

    critic, maker = Critic(), layers.Linear(in_features=2, out_features=2, bias=True)
    for module in (critic, maker):
        state.load_state_dict(
            module, {name: np.random.default_rng(1).standard_normal(value.shape) for name, value in state.state_dict(module).items()}
        )
    critic_optimizer, maker_optimizer = optim.SGD(learning_rate=0.1), optim.SGD(learning_rate=0.1)
    critic_optimizer.init(critic.trainable_parameters())
    maker_optimizer.init(maker.trainable_parameters())

    def critic_loss(batch):
        loss = mx.maximum(1 - critic(batch["x"])[1], 0).mean() + mx.maximum(1 + critic(mx.stop_gradient(maker(batch["x"])))[1], 0).mean()
        return loss, {"critic": loss}

    def maker_loss(batch, active):
        fake = maker(batch["x"])
        real_features, fake_features = critic(batch["x"]), critic(fake)
        loss = -fake_features[1].mean() + mx.abs(real_features[0] - fake_features[0]).mean()
        return loss, {"maker": loss}

    step = objectives.make_adversarial_step(maker, critic, maker_optimizer, critic_optimizer, critic_loss, maker_loss)
    x = mx.array(np.random.default_rng(0).standard_normal((4, 64, 2)).astype(np.float32))
    values = step([{"x": x}], True)
    assert np.isfinite(float(values["maker"])) and np.isfinite(float(values["critic"]))
