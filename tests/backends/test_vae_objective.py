"""Objective ``vae`` (issue 15, "Generative VAE contract"): a VAE trained alone on
reconstruction + kl_weight * KL, one model, one unnamed optimizer and schedule
(specs/examples/audio_vae.mf). Its contract is checked at lint with positions (E0701, E0703,
E0704, E0714, E0716), the generator loop's backend refusals apply to it (E0801), the scripts
speak of a VAE, and it is the same computation as ``adversarial { use_adversarial = false }``:
the same per-step losses on jax, lightning and mlx, and checkpoints that ``specc.load_model``
loads."""

from __future__ import annotations

import numpy as np
import pytest

import specc
from specc.compiler import pipeline
from specc.compiler.emit import render as emit
from specc.dsl.diagnostics import render_text
from specc.runtime import training
from tests.backends.runner import REPOSITORY
from tests.backends.test_spec_parity import run_backends_together, train_losses, worst_relative_difference

SPEC = str(REPOSITORY / "specs" / "examples" / "audio_vae.mf")
BACKENDS = ("jax", "lightning", "mlx")
STEPS = 12
# fp32, the mean decoded (gaussian_sample draws from each backend's own generator), every step logged
PARITY = (
    "sample_latent=false", f"train.max_steps={STEPS}", "train.log_every=1", f"train.eval_every={STEPS}",
    f"train.checkpoint.every={STEPS}",
)
AUTOENCODER = (
    'import "std/vae.mf"\n',
    'import "std/vae.mf"\n\nblock autoencoder(x: [B, length], length: int) -> [B, length] {\n'
    "  return tanh(linear(x, length))\n}\n",
)


def spec_text() -> str:
    with open(SPEC, encoding="utf-8") as handle:
        return handle.read()


def edited(*pairs) -> str:
    text = spec_text()
    for old, new in pairs:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def check(text: str, overrides=(), backend=None):
    """Check ``text`` in place of specs/examples/audio_vae.mf (its imports resolve)."""

    def read(name: str) -> bytes:
        if name == SPEC:
            return text.encode("utf-8")
        with open(name, "rb") as handle:
            return handle.read()

    return pipeline.check(SPEC, read, tuple(overrides), backend)


def rendered(result) -> list[str]:
    return [render_text(diagnostic, result.sources) for diagnostic in result.diagnostics]


def adversarial_alone() -> str:
    """The same spec written the old way: ``adversarial { use_adversarial = false }`` with an
    optimizer and a schedule named ``generator``."""
    return edited(
        ("objective vae {\n  model = vae  # the default: the spec's only model\n",
         "objective adversarial {\n  generator = vae\n  use_adversarial = false\n"),
        ("optimizer adam {", "optimizer generator: adam {"),
        ("schedule constant {}", "schedule generator: constant {}"),
    )


# ----------------------------------------------------------------------------- lint and lowering


@pytest.mark.parametrize("backend", (None,) + BACKENDS)
def test_example_lints_and_lowers_to_one_model_and_one_unnamed_optimizer(backend):
    result = check(spec_text(), (), backend)
    assert rendered(result) == []
    plan = result.program.objective
    assert (plan.kind, plan.models, plan.target) == ("vae", ("vae",), "audio")
    assert dict(plan.arguments) == {"kl_weight": 1e-4}
    assert [term.loss.kind for term in plan.terms] == ["l1", "multi_resolution_stft"]
    assert [(item.name, item.models, item.schedule.kind) for item in result.program.optimizers] == [("", ("vae",), "constant")]


@pytest.mark.parametrize("backend", BACKENDS)
def test_script_speaks_of_a_vae_and_never_of_a_discriminator(backend):
    source = emit.render(check(spec_text(), (), backend).program, backend)
    code = "\n".join(line for line in source.splitlines() if not line.startswith("RESOLVED_SPEC"))
    assert code.splitlines()[0].endswith(": a VAE trained on reconstruction + KL."), code.splitlines()[0]
    assert "discriminator" not in code.lower()
    assert "use_adversarial" not in code
    assert "(objective vae)" in code


@pytest.mark.parametrize("backend", BACKENDS)
def test_without_kl_the_script_speaks_of_an_autoencoder(backend):
    text = edited(AUTOENCODER, ("model = vae  #", "model = ae  #"), ("model vae = audio_vae(", "model ae = autoencoder(length = length)\nmodel vae = audio_vae("))
    result = check(text, ("kl_weight=0.0",), backend)
    assert rendered(result) == []
    source = emit.render(result.program, backend)
    assert source.splitlines()[0].endswith(": an autoencoder trained on reconstruction.")


# ----------------------------------------------------------------------------- diagnostics


def test_kl_weight_needs_a_model_returning_its_statistics_e0716():
    text = edited(AUTOENCODER, ("model = vae  #", "model = ae  #"), ("model vae = audio_vae(", "model ae = autoencoder(length = length)\nmodel vae = audio_vae("))
    assert rendered(check(text)) == [
        f"{SPEC}:47:15: error[E0716]: kl_weight > 0 needs a model returning (reconstruction, [mean, logvar]); "
        "model `ae` returns 1 value\n"
        "   |\n"
        "47 |   kl_weight = kl_weight\n"
        "   |               ^^^^^^^^^\n"
        "help: return the statistics too: `return reconstruction, [mean, logvar]`, or set kl_weight = 0"
    ]


def test_model_takes_and_returns_the_targets_shape_e0703_e0704():
    text = edited(("  length = length\n  sizes", "  length = 2048\n  sizes"))
    assert rendered(check(text)) == [
        f"{SPEC}:39:11: error[E0703]: model `vae` declares input `x` as f32[B, 1024], but objective.x is f32[B, 2048]\n"
        "   |\n"
        "39 |   model = vae  # the default: the spec's only model\n"
        "   |           ^^^",
        f"{SPEC}:39:11: error[E0704]: objective `vae` needs an output shaped like the target f32[B, 2048]; "
        "model `vae` returns f32[B, 1024]\n"
        "   |\n"
        "39 |   model = vae  # the default: the spec's only model\n"
        "   |           ^^^",
    ]


def test_two_models_without_model_key_counts_the_instances_e0701():
    text = edited(
        AUTOENCODER,
        ("  model = vae  # the default: the spec's only model\n", ""),
        ("model vae = audio_vae(", "model ae = autoencoder(length = length)\nmodel vae = audio_vae("),
    )
    assert rendered(check(text)) == [
        f"{SPEC}:43:11: error[E0701]: objective `vae` needs `model = <name>`: the spec has 2 models\n"
        "   |\n"
        "43 | objective vae {\n"
        "   |           ^^^"
    ]


def test_only_reconstruction_terms_e0714():
    text = edited(("  loss = l1 +", "  loss = cross_entropy +"))
    assert rendered(check(text)) == [
        f"{SPEC}:41:10: error[E0714]: objective `vae` does not take loss `cross_entropy`\n"
        "   |\n"
        "41 |   loss = cross_entropy + multi_resolution_stft(n_ffts = [128, 64])\n"
        "   |          ^^^^^^^^^^^^^\n"
        "help: losses of `vae`: l1, mae, mse, multi_resolution_stft"
    ]


def test_a_vae_has_no_discriminator_key_e0401():
    text = edited(("  target = data.audio\n", "  target = data.audio\n  discriminator = vae\n"))
    assert rendered(check(text)) == [
        f"{SPEC}:41:3: error[E0401]: unknown key `discriminator` in objective vae\n"
        "   |\n"
        "41 |   discriminator = vae\n"
        "   |   ^^^^^^^^^^^^^"
    ]


@pytest.mark.parametrize(
    "backend, override, column, feature",
    [
        ("lightning", "train.precision=fp16", 17, "fp16 (dynamic loss scaling in the generator loop)"),
        ("lightning", "train.parallel=sharded", 16, "sharded parameters and optimizer state (train.parallel = sharded)"),
        ("mlx", "train.parallel=sharded", 16, "sharded parameters and optimizer state (train.parallel = sharded)"),
    ],
)
def test_the_generator_loops_refusals_apply_to_vae_e0801(backend, override, column, feature):
    """What the generator loop does not render is refused for ``vae`` as for ``adversarial``, by
    lint and compile alike (the backend table's data)."""
    result = check(spec_text(), (override,), backend)
    value = override.split("=", 1)[1]
    assert rendered(result) == [
        f"--set:1:{column}: error[E0801]: {feature} with objective `vae` is not implemented by backend `{backend}` yet\n"
        "  |\n"
        f"1 | {override}\n"
        f"  | {' ' * (column - 1)}{'^' * len(value)}"
    ]
    assert result.program is None
    unchecked = check(spec_text(), (override,), None)
    if unchecked.program is not None:  # checked without a backend: compile refuses it the same way
        with pytest.raises(emit.NotImplementedByBackend, match=f"with objective `vae` is not implemented by the {backend}"):
            emit.render(unchecked.program, backend)


# ----------------------------------------------------------------------------- runs


def scripts(text: str, overrides) -> dict[str, str]:
    sources = {}
    for backend in BACKENDS:
        result = check(text, overrides, backend)
        assert rendered(result) == []
        sources[backend] = emit.render(result.program, backend)
    return sources


@pytest.mark.slow
def test_vae_losses_agree_across_backends_and_with_adversarial_alone(tmp_path):
    """fp32, the mean decoded: the per-step losses of the three backends agree to 1e-4, each
    equals the ``adversarial { use_adversarial = false }`` spec's, the loss is reconstruction
    + kl_weight * kl, and every checkpoint loads with ``specc.load_model``."""
    (tmp_path / "vae").mkdir()
    (tmp_path / "adversarial").mkdir()
    run_backends_together(scripts(spec_text(), PARITY + ("optimizer.lr=1e-4",)), tmp_path / "vae")
    run_backends_together(scripts(adversarial_alone(), PARITY + ("optimizer.generator.lr=1e-4",)), tmp_path / "adversarial")
    series = {backend: train_losses(tmp_path / "vae" / f"run_{backend}") for backend in BACKENDS}
    assert all(len(losses) == STEPS for losses in series.values()), {b: len(s) for b, s in series.items()}
    worst, where = worst_relative_difference(series)
    print(f"\nobjective vae: worst per-step relative loss difference {worst:.3e} ({where})")
    assert worst <= 1e-4, f"{worst:.3e} at {where}"
    for backend in BACKENDS:
        old = train_losses(tmp_path / "adversarial" / f"run_{backend}")
        worst, where = worst_relative_difference({"vae": series[backend], "adversarial": old})
        assert worst <= 1e-6, f"{backend}: {worst:.3e} at {where}"
        rows = training.read_metrics(tmp_path / "vae" / f"run_{backend}" / "metrics.csv")
        last = {row["name"]: row["value"] for row in rows if row["split"] == "val"}
        assert last["loss"] == pytest.approx(last["reconstruction"] + 1e-4 * last["kl"], rel=1e-5)
        assert not any("discriminator" in row["name"] or "adversarial" in row["name"] for row in rows)
    for backend in BACKENDS:
        run = tmp_path / "vae" / f"run_{backend}"
        arrays = training.read_checkpoint(run / "checkpoints" / "last").model
        assert arrays and all(name.startswith("vae.") for name in arrays)
        for loader in ("torch", "mlx"):
            model = specc.load_model(run, loader)
            loaded = loaded_arrays(model, loader)
            assert sorted(loaded) == sorted(name[len("vae.") :] for name in arrays)
            for name, value in loaded.items():
                np.testing.assert_array_equal(value, arrays[f"vae.{name}"], err_msg=f"{backend} -> {loader}: {name}")


def loaded_arrays(model, loader: str) -> dict[str, np.ndarray]:
    import importlib

    state = importlib.import_module(f"specc.runtime.{loader}.state")
    return {name: np.asarray(value) for name, value in state.state_dict(model).items()}
