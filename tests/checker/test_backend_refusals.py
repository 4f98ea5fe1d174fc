"""What a backend's template does not render for an objective is E0801 at the value that asks
for it (the backend tables' ``refusals``), found by ``specc lint --backend`` / ``compile``."""

from __future__ import annotations

import pytest

from specc.dsl.diagnostics import render_text
from tests.specs.helpers import check

CASES = [
    ("jax", "train.ema=0.999", "EMA of weights (train.ema)", 11),
    ("lightning", "train.ema=0.999", "EMA of weights (train.ema)", 11),
    ("mlx", "train.ema=0.999", "EMA of weights (train.ema)", 11),
    ("jax", "train.accumulate=2", "gradient accumulation (train.accumulate > 1)", 18),
    ("lightning", "train.accumulate=2", "gradient accumulation (train.accumulate > 1)", 18),
    ("lightning", "train.precision=fp16", "fp16 (gradient scaling with two optimizers)", 17),
    ("jax", 'train.checkpoint.filename="{step}"', "checkpoint.filename", 27),
    ("mlx", 'train.checkpoint.filename="{step}"', "checkpoint.filename", 27),
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
