"""``specc.load_model`` / ``specc.describe_checkpoint`` / ``specc inspect``: a checkpoint
rebuilds its model on every backend from the checkpoint alone.

digits_mlp is trained for 3 steps by each backend's generated script; the checkpoint is
loaded on torch, jax and mlx and compared with the training script's own model (its
``build_model`` with the checkpoint's weights) on the same input. The two-model
audio_vae_gan checkpoint (``vae.`` / ``discriminator.`` keys) is written by hand at tiny
sizes (its adversarial training script is not used).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import specc
from specc.compiler import pipeline
from specc.compiler.cli.app import app
from specc.runtime import init
from specc.runtime.training.checkpoints import read_checkpoint, write_checkpoint
from tests.backends.runner import REPOSITORY, run_script, write_script

BACKENDS = ("torch", "jax", "mlx")
SCRIPT_BACKENDS = {"torch": "lightning", "jax": "jax", "mlx": "mlx"}  # loader name -> script backend
GAN_OVERRIDES = (
    "length=2048", "base_channels=8", "latent_dim=8", "stages=[[1,2],[2,4]]", "dilations=[1]",
    "stft_filters=8", "n_ffts=[256,128]", "msd_scales=[1,2]", "mpd_periods=[2,3]",
    "mpd_stages=[[8,3],[16,1]]", "msd_layers=[[8,15,1,1,7],[16,41,4,4,20],[16,5,1,1,2]]",
    "stft_resolutions=[256,128]",
)
DIGITS_PARAMETERS = 64 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10  # 26,122


def read(path: str) -> bytes:
    return Path(path if Path(path).is_absolute() else REPOSITORY / path).read_bytes()


def check(spec: str, overrides=()):
    result = pipeline.check(spec, read, tuple(overrides))
    assert result.program is not None, [diagnostic.message for diagnostic in result.errors]
    return result.program


def initial_arrays(graph, seed: int, prefix: str = "") -> dict[str, np.ndarray]:
    """The runtime's initial weights of one model graph, keys prefixed."""
    table = tuple(
        (name, init.Parameter(name.rpartition(".")[2], parameter.shape, parameter.init, parameter.fan_in))
        for name, parameter in graph.parameters
    )
    return {prefix + name: array for name, array in init.initialize(table, seed).items()}


def manifest_of(program, backend: str) -> dict:
    return {
        "spec": program.resolved_source, "spec_name": program.spec_name, "spec_hash": program.spec_hash,
        "backend": backend, "epoch": 0, "seed": 0, "metrics": {},
    }


# ----------------------------------------------------------------------------- forward per backend


def _inputs(x):
    """One input array or a tuple of them (a model with several inputs)."""
    return x if isinstance(x, tuple) else (x,)


def _forward_torch(model, x):
    import torch

    with torch.no_grad():
        output = model(*(torch.from_numpy(item) for item in _inputs(x)))
    return [np.asarray(item.numpy()) for item in (output if isinstance(output, tuple) else (output,))]


def _forward_jax(model, x):
    import jax.numpy as jnp

    output = model(*(jnp.asarray(item) for item in _inputs(x)))
    return [np.asarray(item) for item in (output if isinstance(output, tuple) else (output,))]


def _forward_mlx(model, x):
    import mlx.core as mx

    output = model(*(mx.array(item) for item in _inputs(x)))
    return [np.array(item) for item in (output if isinstance(output, tuple) else (output,))]


FORWARD = {"torch": _forward_torch, "lightning": _forward_torch, "jax": _forward_jax, "mlx": _forward_mlx}


def state_arrays(model, backend: str) -> dict[str, np.ndarray]:
    runtime = {"lightning": "torch"}.get(backend, backend)
    return importlib.import_module(f"specc.runtime.{runtime}.state").state_dict(model)


def import_script(path: Path):
    """A generated training script as a module (its ``main()`` does not run)."""
    spec = importlib.util.spec_from_file_location(f"loaded_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- digits, trained


@pytest.fixture(scope="module")
def digits_program():
    return check("specs/digits_mlp.mf")


@pytest.fixture(scope="module", params=BACKENDS)
def trained(request, digits_program, tmp_path_factory):
    """(training backend, checkpoint dir, the training script's model with the checkpoint's
    weights): digits_mlp trained 3 steps by that backend's generated script."""
    backend = SCRIPT_BACKENDS[request.param]
    folder = tmp_path_factory.mktemp(f"digits_{backend}")
    script = write_script(digits_program, backend, folder)
    run_script(script, "--out-dir", folder / "run", "--max-steps", "3", "--seed", "7", check=True, timeout=300,
               env={"OMP_NUM_THREADS": "1"})
    checkpoint = folder / "run" / "checkpoints" / "step-000003"
    module = import_script(script)
    reference = module.build_model(7)
    initial = state_arrays(reference, backend)
    module.state.load_state_dict(reference, read_checkpoint(checkpoint).model)
    return backend, checkpoint, reference, initial


@pytest.mark.slow
def test_trained_checkpoint_has_moved_from_its_initial_weights(trained):
    backend, checkpoint, reference, initial = trained
    weights = read_checkpoint(checkpoint).model
    assert sorted(weights) == sorted(initial)
    assert max(float(np.max(np.abs(weights[name] - initial[name]))) for name in weights) > 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("loader", BACKENDS)
def test_digits_loads_on_every_backend_with_the_training_backends_outputs(trained, loader):
    backend, checkpoint, reference, _ = trained
    x = np.random.default_rng(11).standard_normal((5, 64)).astype(np.float32)
    (expected,) = FORWARD[backend](reference, x)
    model = specc.load_model(checkpoint, backend=loader)
    (output,) = FORWARD[loader](model, x)
    assert output.shape == (5, 10)
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-6)
    loaded = state_arrays(model, loader)
    for name, array in read_checkpoint(checkpoint).model.items():
        np.testing.assert_array_equal(loaded[name], array)


@pytest.mark.slow
def test_digits_loaded_model_computes_the_mlp_in_numpy(trained):
    """The loaded torch model is relu(relu(x W0^T + b0) W1^T + b1) W2^T + b2 of the file's arrays."""
    _, checkpoint, _, _ = trained
    weights = read_checkpoint(checkpoint).model
    x = np.random.default_rng(5).standard_normal((3, 64))
    hidden = x
    for index in range(3):
        hidden = hidden @ weights[f"linear_{index}.weight"].astype(np.float64).T + weights[f"linear_{index}.bias"]
        hidden = np.maximum(hidden, 0.0) if index < 2 else hidden
    (output,) = _forward_torch(specc.load_model(checkpoint, "torch"), x.astype(np.float32))
    np.testing.assert_allclose(output, hidden, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_describe_trained_checkpoint(trained):
    backend, checkpoint, _, _ = trained
    description = specc.describe_checkpoint(checkpoint.parent.parent)  # the run directory: checkpoints/last
    assert description["checkpoint"] == str(checkpoint.resolve())
    assert (description["spec_name"], description["step"], description["backend"]) == ("digits_mlp", 3, backend)
    assert description["specc_version"] == specc.__version__
    assert description["overrides"] == []
    assert set(description["metrics"]) == {"val/accuracy", "val/loss"}
    assert description["models"] == [
        {
            "name": "mlp", "definition": "graph", "block": "mlp", "arguments": {},
            "inputs": {"x": "f32[B, 64]"}, "outputs": ["f32[B, 10]"], "layers": {"Linear": 3},
            "parameter_tensors": 6, "parameter_count": DIGITS_PARAMETERS, "buffer_tensors": 0, "buffer_count": 0,
        }
    ]


@pytest.mark.slow
def test_loaded_models_are_in_eval_mode(trained):
    _, checkpoint, _, _ = trained
    assert specc.load_model(checkpoint, "torch").training is False
    assert specc.load_model(checkpoint, "mlx").training is False


# ----------------------------------------------------------------------------- two models


@pytest.fixture(scope="module")
def gan(tmp_path_factory):
    """A hand-written audio_vae_gan checkpoint at tiny sizes: ``vae.*`` and ``discriminator.*``."""
    program = check("specs/audio_vae_gan.mf", GAN_OVERRIDES)
    arrays = {}
    for seed, graph in enumerate(program.models):
        arrays.update(initial_arrays(graph, seed, f"{graph.name}."))
    directory = write_checkpoint(tmp_path_factory.mktemp("gan"), 4, arrays, {}, manifest_of(program, "lightning"))
    return program, directory, arrays


def test_gan_describes_both_models_with_their_block_arguments(gan):
    program, directory, arrays = gan
    description = specc.describe_checkpoint(directory)
    assert description["overrides"] == list(GAN_OVERRIDES)
    assert (description["step"], description["backend"]) == (4, "lightning")
    vae, discriminator = description["models"]
    assert (vae["name"], vae["definition"], vae["block"]) == ("vae", "instance", "multichannel_audio_vae")
    assert vae["arguments"] == {
        "length": 2048, "channels": 2, "base_channels": 8, "stages": [[1, 2], [2, 4]], "latent_dim": 8, "kernel_size": 7,
        "dilations": [1], "sample_latent": True,
    }
    assert vae["inputs"] == {"x": "f32[B, 2048, 2]"}  # stereo, as the seed trains
    assert vae["outputs"] == ["f32[B, 2048, 2]", "f32[B, 256, 8]", "f32[B, 256, 8]"]
    assert (discriminator["name"], discriminator["block"]) == ("discriminator", "multichannel_encodec_discriminator")
    assert discriminator["inputs"] == {"x": "f32[B, 2048, 2]"}
    assert discriminator["arguments"]["mpd_periods"] == [2, 3]
    assert discriminator["arguments"]["msd_layers"] == [[8, 15, 1, 1, 7], [16, 41, 4, 4, 20], [16, 5, 1, 1, 2]]
    assert discriminator["arguments"]["use_msd"] is True
    for model in (vae, discriminator):
        keys = [key for key in arrays if key.startswith(model["name"] + ".")]
        assert model["parameter_tensors"] == len(keys)
        assert model["parameter_count"] == sum(arrays[key].size for key in keys)


@pytest.mark.parametrize("loader", BACKENDS)
def test_gan_models_load_with_their_prefixed_weights(gan, loader):
    _, directory, arrays = gan
    for name in ("vae", "discriminator"):
        loaded = state_arrays(specc.load_model(directory, loader, model=name), loader)
        expected = {key[len(name) + 1 :]: value for key, value in arrays.items() if key.startswith(name + ".")}
        assert sorted(loaded) == sorted(expected)
        for key, value in expected.items():
            np.testing.assert_array_equal(loaded[key], value)


@pytest.mark.parametrize("loader", ("jax", "mlx"))
def test_gan_vae_outputs_agree_with_torch(gan, loader):
    _, directory, _ = gan
    x = np.random.default_rng(3).standard_normal((2, 2048, 2)).astype(np.float32)
    expected = _forward_torch(specc.load_model(directory, "torch", model="vae"), x)
    outputs = FORWARD[loader](specc.load_model(directory, loader, model="vae"), x)
    assert [item.shape for item in outputs] == [(2, 2048, 2), (2, 256, 8), (2, 256, 8)]
    for output, reference in zip(outputs, expected):
        np.testing.assert_allclose(output, reference, rtol=1e-5, atol=1e-5)


def test_gan_discriminator_outputs_agree_between_torch_and_mlx(gan):
    """The discriminator's 32 outputs (logit maps, then feature maps). JAX is left out only
    for time: its eager STFT convolutions take over 30 s here."""
    _, directory, _ = gan
    x = np.random.default_rng(4).standard_normal((2, 2048, 2)).astype(np.float32)
    expected = _forward_torch(specc.load_model(directory, "torch", model="discriminator"), x)
    outputs = _forward_mlx(specc.load_model(directory, "mlx", model="discriminator"), x)
    assert len(outputs) == len(expected) == 32
    for output, reference in zip(outputs, expected):
        np.testing.assert_allclose(output, reference, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- null conditions


def test_guided_flow_loads_its_null_condition(tmp_path):
    program = check("specs/ksin_flow.mf")
    arrays = initial_arrays(program.models[0], 0)
    arrays["null_condition"] = np.linspace(-1.0, 1.0, 1024, dtype=np.float32)
    directory = write_checkpoint(tmp_path, 1, arrays, {}, manifest_of(program, "jax"))
    for loader in ("torch", "mlx"):
        loaded = state_arrays(specc.load_model(directory, loader), loader)
        np.testing.assert_array_equal(loaded["null_condition"], arrays["null_condition"])
        assert sorted(loaded) == sorted(arrays)


LM_OVERRIDES = (
    "image_vocabulary=16", "scalar_vocabulary=8", "spectrum_vocabulary=8", "d_model=16", "n_layers=1",
    "n_heads=2", "d_ff=32", "max_len=1024", "sample_k=8",  # max_len: the 1023 positions the model reads (E0717)
)


def test_dropout_is_off_in_the_loaded_models(tmp_path):
    """astro_lm has dropout 0.1: the loaded models (eval mode) agree on every backend and
    repeat themselves; the torch model switched back to train mode does not."""
    import torch

    program = check("specs/astro_lm.mf", LM_OVERRIDES)
    directory = write_checkpoint(tmp_path, 1, initial_arrays(program.models[0], 0), {}, manifest_of(program, "jax"))
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 37, (2, 12)).astype(np.int32)
    types = rng.integers(0, 4, (2, 12)).astype(np.int32)
    keep = np.ones((2, 12), bool)
    keep[1, 9:] = False  # padding at the end of the second row
    wide = (tokens.astype(np.int64), types.astype(np.int64), keep)
    torch_model = specc.load_model(directory, "torch")
    (expected,) = _forward_torch(torch_model, wide)
    assert expected.shape == (2, 12, 37)
    for loader in ("jax", "mlx"):
        model = specc.load_model(directory, loader)
        inputs = (tokens, types, keep)
        first, second = FORWARD[loader](model, inputs)[0], FORWARD[loader](model, inputs)[0]
        np.testing.assert_array_equal(first, second)
        np.testing.assert_allclose(first, expected, rtol=1e-5, atol=1e-5)
    torch_model.train()
    torch.manual_seed(0)
    (training_output,) = _forward_torch(torch_model, wide)
    assert float(np.max(np.abs(training_output - expected))) > 1e-3


# ----------------------------------------------------------------------------- errors


@pytest.fixture()
def digits_checkpoint(digits_program, tmp_path):
    arrays = initial_arrays(digits_program.models[0], 0)
    return write_checkpoint(tmp_path / "run", 2, arrays, {}, manifest_of(digits_program, "mlx")), arrays


def rewrite_manifest(directory: Path, **changes) -> None:
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            manifest.pop(key, None)
        else:
            manifest[key] = value
    path.write_text(json.dumps(manifest), encoding="utf-8")


def error_of(*arguments, **keywords) -> str:
    with pytest.raises(specc.CheckpointError) as raised:
        specc.load_model(*arguments, **keywords)
    return str(raised.value)


def test_missing_checkpoint(tmp_path):
    missing = tmp_path / "nowhere"
    assert error_of(missing) == f"checkpoint {str(missing)!r} does not exist"
    with pytest.raises(specc.CheckpointError) as raised:
        specc.describe_checkpoint(missing)
    assert str(raised.value) == f"checkpoint {str(missing)!r} does not exist"


def test_directory_without_manifest(tmp_path):
    assert error_of(tmp_path) == (
        f"checkpoint {str(tmp_path)!r} has no manifest.json; it is not a specc checkpoint or is incomplete"
    )


def test_manifest_without_spec(digits_checkpoint):
    directory, _ = digits_checkpoint
    rewrite_manifest(directory, spec=None)
    assert error_of(directory) == (
        f"checkpoint {str(directory)!r}: manifest.json has no \"spec\" (the resolved spec text), so the model "
        "cannot be rebuilt; only checkpoints written by a specc training script describe themselves"
    )


def test_spec_that_no_longer_checks(digits_checkpoint):
    directory, _ = digits_checkpoint
    spec = json.loads((directory / "manifest.json").read_text())["spec"]
    rewrite_manifest(directory, spec=spec.replace("h = relu(linear(x, hidden))", "h = relux(linear(x, hidden))"),
                     specc_version="0.0.1")
    message = error_of(directory)
    assert message.startswith(
        f"checkpoint {str(directory)!r}: its spec (written by specc 0.0.1) no longer checks with "
        f"specc {specc.__version__}:\nspec.resolved.mf:11:7: error[E0601]: unknown layer or block `relux`"
    )
    assert "did you mean `relu`?" in message


def test_unknown_model_name(digits_checkpoint, gan):
    directory, _ = digits_checkpoint
    assert error_of(directory, model="generator") == (
        f"checkpoint {str(directory)!r} has no model 'generator'; its models: mlp"
    )
    _, gan_directory, _ = gan
    assert error_of(gan_directory) == (
        f"checkpoint {str(gan_directory)!r} holds 2 models (vae, discriminator); choose one with model=..."
    )


def test_missing_and_extra_weights(digits_program, tmp_path):
    arrays = initial_arrays(digits_program.models[0], 0)
    del arrays["linear_1.bias"]
    arrays["linear_3.weight"] = np.zeros((2, 2), np.float32)
    directory = write_checkpoint(tmp_path, 1, arrays, {}, manifest_of(digits_program, "jax"))
    assert error_of(directory, "mlx") == (
        f"checkpoint {str(directory)!r}: the weights do not match model 'mlp': missing linear_1.bias; "
        "unexpected linear_3.weight"
    )


def test_misshaped_weights(digits_program, tmp_path):
    arrays = initial_arrays(digits_program.models[0], 0)
    arrays["linear_2.bias"] = np.zeros((11,), np.float32)
    directory = write_checkpoint(tmp_path, 1, arrays, {}, manifest_of(digits_program, "jax"))
    assert error_of(directory, "mlx") == (
        f"checkpoint {str(directory)!r}: the weights do not match model 'mlp': wrong shape "
        "linear_2.bias [11] (the model has [10])"
    )


def test_gan_weights_without_model_prefix(gan, tmp_path):
    program, _, arrays = gan
    unprefixed = {key.partition(".")[2] if key.startswith("vae.") else key: value for key, value in arrays.items()}
    directory = write_checkpoint(tmp_path, 1, unprefixed, {}, manifest_of(program, "lightning"))
    assert error_of(directory, "mlx", model="vae") == (
        f"checkpoint {str(directory)!r} has no weights of model 'vae': the spec has several models, so their "
        "weights are named '<model>.<parameter>' and none starts with 'vae.'"
    )


def test_gan_weight_missing_from_one_model(gan, tmp_path):
    program, _, arrays = gan
    dropped = sorted(key for key in arrays if key.startswith("discriminator."))[0]
    kept = {key: value for key, value in arrays.items() if key != dropped}
    directory = write_checkpoint(tmp_path, 1, kept, {}, manifest_of(program, "lightning"))
    assert specc.load_model(directory, "mlx", model="vae").training is False
    assert error_of(directory, "mlx", model="discriminator") == (
        f"checkpoint {str(directory)!r}: the weights do not match model 'discriminator': missing {dropped}"
    )


def test_unknown_backend(digits_checkpoint):
    directory, _ = digits_checkpoint
    with pytest.raises(ValueError) as raised:
        specc.load_model(directory, backend="tensorflow")
    assert str(raised.value) == "unknown backend 'tensorflow'; choose one of torch, jax, mlx"


# ----------------------------------------------------------------------------- the CLI


def test_cli_inspect(digits_checkpoint):
    directory, _ = digits_checkpoint
    result = CliRunner().invoke(app, ["inspect", str(directory)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"checkpoint  {directory.resolve()}"
    assert lines[2:4] == ["step        2 (epoch 0)", f"written by  mlx backend, specc {specc.__version__}"]
    assert lines[-5:] == [
        "model mlp: its own graph",
        "  inputs      x: f32[B, 64]",
        "  outputs     f32[B, 10]",
        "  layers      Linear x3",
        "  parameters  26,122 in 6 tensors",
    ]
    as_json = CliRunner().invoke(app, ["inspect", "--json", str(directory)])
    assert json.loads(as_json.stdout)["models"][0]["parameter_count"] == DIGITS_PARAMETERS


def test_cli_inspect_gan_heading(gan):
    _, directory, _ = gan
    result = CliRunner().invoke(app, ["inspect", str(directory)])
    assert result.exit_code == 0, result.output
    assert "override    stages=[[1,2],[2,4]]" in result.output.splitlines()
    assert (
        'model vae = multichannel_audio_vae(length=2048, channels=2, base_channels=8, stages=[[1, 2], [2, 4]], '
        'latent_dim=8, '
        "kernel_size=7, dilations=[1], sample_latent=true)"
    ) in result.output.splitlines()
    outputs = specc.describe_checkpoint(directory)["models"][1]["outputs"]
    assert f"  outputs     {', '.join(outputs[:4])}, ... ({len(outputs)} outputs)" in result.output.splitlines()


def test_cli_inspect_error(tmp_path):
    result = CliRunner().invoke(app, ["inspect", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert f"error: checkpoint {str(tmp_path / 'nowhere')!r} does not exist" in result.output


def test_cli_inspect_help_has_an_example():
    result = CliRunner().invoke(app, ["inspect", "--help"])
    assert result.exit_code == 0
    assert "Example: specc inspect runs/digits_mlp/checkpoints/last" in result.output


def test_backend_whose_framework_is_missing(digits_checkpoint, monkeypatch):
    import dataclasses

    from specc.compiler.backends import mlx as mlx_table

    directory, _ = digits_checkpoint
    missing = dataclasses.replace(mlx_table.BACKEND, model_imports=("import specc_missing_framework",))
    monkeypatch.setattr(mlx_table, "BACKEND", missing)
    assert error_of(directory, "mlx") == (
        "backend 'mlx' needs the Python package 'specc_missing_framework', which is not installed "
        "(pip install 'specc[mlx]')"
    )


def test_strict_false_keeps_the_starting_values_of_missing_weights_and_ignores_extra_ones(digits_program, tmp_path):
    """torch's load_state_dict(strict=False): what the checkpoint lacks keeps the run's initial
    value (the runtime's initialisation with the manifest's seed); what the model lacks is
    ignored; a wrong shape is still refused."""
    trained = {name: value + 1.0 for name, value in initial_arrays(digits_program.models[0], 0).items()}
    del trained["linear_1.bias"]
    trained["linear_3.weight"] = np.zeros((2, 2), np.float32)
    directory = write_checkpoint(tmp_path, 1, trained, {}, manifest_of(digits_program, "jax"))
    start = initial_arrays(digits_program.models[0], 0)
    for backend in BACKENDS:
        model = specc.load_model(directory, backend, strict=False)
        loaded = importlib.import_module(f"specc.runtime.{backend}.state").state_dict(model)
        np.testing.assert_array_equal(loaded["linear_1.bias"], start["linear_1.bias"])
        np.testing.assert_array_equal(loaded["linear_0.weight"], trained["linear_0.weight"])
    trained["linear_2.bias"] = np.zeros((11,), np.float32)
    misshaped = write_checkpoint(tmp_path / "misshaped", 1, trained, {}, manifest_of(digits_program, "jax"))
    with pytest.raises(specc.CheckpointError, match=r"wrong shape linear_2.bias \[11\] \(the model has \[10\]\)"):
        specc.load_model(misshaped, "mlx", strict=False)


def test_map_location_moves_the_torch_module_and_is_refused_elsewhere(digits_checkpoint):
    directory, _ = digits_checkpoint
    model = specc.load_model(directory, "torch", map_location="cpu")
    assert {parameter.device.type for parameter in model.parameters()} == {"cpu"}
    with pytest.raises(specc.CheckpointError) as raised:
        specc.load_model(directory, "jax", map_location="cuda:0")
    assert str(raised.value) == (
        "map_location='cuda:0' is a torch device; the jax runtime places arrays on its default device"
    )
