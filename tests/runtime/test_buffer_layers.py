"""The layers that own buffers (``BatchNorm``, ``RunningStatistics``) on jax, torch and mlx:
the numpy reference's outputs and buffer updates in training, the running values and no
update in evaluation; buffers are in the saved state (``state.state_dict``) but not among
the parameters each framework trains (no gradient, not in the optimizer) nor counted."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from specc.runtime import init
from specc.runtime.reference import statistics as reference

BACKENDS = ("jax", "torch", "mlx")
GENERATOR = np.random.default_rng(3)
X = GENERATOR.normal(1.0, 2.0, size=(4, 3, 5)).astype(np.float32)
WEIGHT, BIAS = GENERATOR.normal(size=5).astype(np.float32), GENERATOR.normal(size=5).astype(np.float32)


def _runtime(backend):
    return (importlib.import_module(f"specc.runtime.{backend}.layers"),
            importlib.import_module(f"specc.runtime.{backend}.state"))


def _array(backend, x):
    if backend == "torch":
        import torch

        return torch.from_numpy(x)
    if backend == "jax":
        import jax.numpy as jnp

        return jnp.asarray(x)
    import mlx.core as mx

    return mx.array(x)


def _numpy(backend, y):
    return y.detach().numpy() if backend == "torch" else np.array(y)


def _initialised(backend, kind, **arguments):
    layers, state = _runtime(backend)
    layer = getattr(layers, kind)(**arguments)
    table = [(p.name, p) for p in init.layer_parameters(kind, **arguments)]
    arrays = init.initialize(table, 0)
    if "weight" in arrays:
        arrays.update(weight=WEIGHT, bias=BIAS)
    state.load_state_dict(layer, arrays)
    return layer, state


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_norm_matches_the_reference_in_training_and_evaluation(backend):
    layer, state = _initialised(backend, "BatchNorm", num_features=5, momentum=0.3, eps=1e-3)
    mean, variance = np.zeros(5), np.ones(5)
    for step in range(2):  # two training steps move the buffers twice
        x = X + step
        expected, mean, variance = reference.batch_norm(x, mean, variance, WEIGHT, BIAS, 0.3, 1e-3)
        np.testing.assert_allclose(_numpy(backend, layer(_array(backend, x))), expected, atol=1e-5)
    saved = state.state_dict(layer)
    assert sorted(saved) == ["bias", "running_mean", "running_var", "weight"]
    np.testing.assert_allclose(saved["running_mean"], mean, atol=1e-6)
    np.testing.assert_allclose(saved["running_var"], variance, atol=1e-5)
    layer.eval()
    expected, _, _ = reference.batch_norm(X, mean, variance, WEIGHT, BIAS, 0.3, 1e-3, training=False)
    np.testing.assert_allclose(_numpy(backend, layer(_array(backend, X))), expected, atol=1e-5)
    after = state.state_dict(layer)  # evaluation does not move them
    assert all(np.array_equal(after[name], saved[name]) for name in saved)
    assert state.parameter_count(layer) == 10  # weight and bias; the buffers are not parameters


@pytest.mark.parametrize("backend", BACKENDS)
def test_running_statistics_returns_its_input_and_tracks_it(backend):
    layer, state = _initialised(backend, "RunningStatistics", num_features=5, momentum=0.5)
    y = _numpy(backend, layer(_array(backend, X)))
    _, mean, std = reference.running_statistics(X, np.zeros(5), np.ones(5), 0.5)
    assert np.array_equal(y, X)
    saved = state.state_dict(layer)
    np.testing.assert_allclose(saved["running_mean"], mean, atol=1e-6)
    np.testing.assert_allclose(saved["running_std"], std, atol=1e-6)
    layer.eval()
    layer(_array(backend, X + 10))
    assert np.array_equal(state.state_dict(layer)["running_mean"], saved["running_mean"])
    assert state.parameter_count(layer) == 0


def test_buffers_are_not_trained_parameters():
    import mlx.utils
    from flax import nnx

    jax_layer, _ = _initialised("jax", "BatchNorm", num_features=5)
    _, params, rest = nnx.split(jax_layer, nnx.Param, ...)
    assert sorted(".".join(map(str, path)) for path, _ in nnx.to_flat_state(params)) == ["bias", "weight"]
    assert sorted(".".join(map(str, path)) for path, _ in nnx.to_flat_state(rest)) == ["running_mean", "running_var"]
    torch_layer, _ = _initialised("torch", "BatchNorm", num_features=5)
    assert sorted(name for name, _ in torch_layer.named_parameters()) == ["bias", "weight"]
    assert sorted(name for name, _ in torch_layer.named_buffers()) == ["running_mean", "running_var"]
    mlx_layer, _ = _initialised("mlx", "BatchNorm", num_features=5)
    assert sorted(name for name, _ in mlx.utils.tree_flatten(mlx_layer.trainable_parameters())) == ["bias", "weight"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_loading_needs_the_buffers(backend):
    layer, state = _initialised(backend, "BatchNorm", num_features=5)
    arrays = state.state_dict(layer)
    del arrays["running_var"]
    with pytest.raises(ValueError, match="running_var"):
        state.load_state_dict(layer, arrays)


def test_mlx_averages_and_casts_keep_the_buffers_current():
    """MLX keeps buffers among ``parameters()``: an EMA of the weights and the bf16 forward
    pass (master weights put back afterwards) must neither average nor undo them."""
    import mlx.core as mx
    from mlx.utils import tree_flatten, tree_map
    from specc.runtime.mlx import statistics, training

    layer, _ = _initialised("mlx", "BatchNorm", num_features=5)
    before = layer.parameters()
    master = tree_map(lambda value: value, before)
    layer.update(tree_map(lambda value: value.astype(mx.bfloat16), master))
    layer(mx.array(X).astype(mx.bfloat16))
    layer.update(statistics.with_current_buffers(master, layer))
    flat = dict(tree_flatten(layer.parameters()))
    assert flat["running_mean"].dtype == mx.float32 and float(mx.abs(flat["running_mean"]).max()) > 0.01
    assert np.array_equal(np.array(flat["weight"]), WEIGHT)  # the master weight is back
    average = training.ema_update(before, layer.parameters(), 0.5)
    averaged = dict(tree_flatten(average))
    assert np.array_equal(np.array(averaged["running_mean"]), np.array(flat["running_mean"]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_graph_buffer_is_read_and_written_in_training_only(backend):
    layer, state = _initialised(backend, "Buffer", shape=(2, 3), init="ones")
    assert np.array_equal(_numpy(backend, layer()), np.ones((2, 3)))
    value = X[0, :2, :3]
    expected, stored = reference.buffer(np.ones((2, 3)), value)
    assert np.array_equal(_numpy(backend, layer(_array(backend, value))), expected)
    assert np.array_equal(state.state_dict(layer)["buffer"], stored)
    layer.eval()
    assert np.array_equal(_numpy(backend, layer(_array(backend, value + 1))), stored)  # evaluation: unchanged
    assert np.array_equal(state.state_dict(layer)["buffer"], stored) and state.parameter_count(layer) == 0
