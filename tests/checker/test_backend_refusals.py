"""What a backend's template does not render for an objective is E0801 at the value that asks
for it (the backend tables' ``refusals``), found by ``specc lint --backend`` / ``compile``."""

from __future__ import annotations

import pytest

from specc.dsl.diagnostics import render_text
from tests.specs.helpers import check

CASES = [
    ("lightning", "train.precision=fp16", "fp16 (dynamic loss scaling in the generator loop)", 17),
    ("mlx", "train.parallel=sharded", "sharded parameters and optimizer state (train.parallel = sharded)", 16),
]


@pytest.mark.parametrize(("backend", "override", "feature", "column"), CASES)
def test_refused_setting_is_positioned_e0801(backend, override, feature, column):
    result = check("audio_vae_gan", [override], backend)
    [diagnostic] = result.errors
    assert render_text(diagnostic, result.sources).splitlines()[0] == (
        f"--set:1:{column}: error[E0801]: {feature} with objective `adversarial` is not implemented by "
        f"backend `{backend}` yet"
    )


def test_settings_a_backend_renders_are_not_refused():
    assert check("audio_vae_gan", ["train.accumulate=2"], "mlx").errors == []
    assert check("audio_vae_gan", ['train.checkpoint.filename="{step}"'], "lightning").errors == []
    assert check("digits_mlp", ["train.ema=0.999"], "jax").errors == []
    for backend in ("jax", "lightning", "mlx"):  # the generator loop's, lifted (tests/backends/test_generator_loop_options.py)
        assert check("audio_vae_gan", ["train.ema=0.999", "train.accumulate=2", "train.checkpoint.last=false"], backend).errors == []
    assert check("audio_vae_gan", ['train.checkpoint.filename="{step}"', "train.parallel=sharded"], "jax").errors == []
