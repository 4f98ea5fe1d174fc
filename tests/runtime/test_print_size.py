"""The start-up line of every generated script: the model's parameter count, total and
trainable (``state.print_size`` on every backend over ``training.size``)."""

from __future__ import annotations

import importlib

import pytest

from specc.runtime.training import size

BACKENDS = ("jax", "torch", "mlx")


def test_size_line_counts_and_groups_digits():
    sizes = {"embedding_0.weight": 65 * 128, "linear_0.weight": 65 * 128, "linear_0.bias": 65}
    assert size.size_line(sizes) == "parameters: 16,705 (16,705 trainable)"
    assert size.size_line(sizes, ("embedding_0",)) == "parameters: 16,705 (8,385 trainable)"


def test_freeze_prefixes_match_whole_name_parts_with_or_without_the_model():
    sizes = {"vae.encoder.weight": 10, "vae.encoder2.weight": 5, "critic.head.bias": 1}
    assert size.size_line(sizes, ("encoder",)) == "parameters: 16 (6 trainable)"  # model-relative
    assert size.size_line(sizes, ("vae.encoder",)) == "parameters: 16 (6 trainable)"
    assert size.size_line(sizes, ("vae",)) == "parameters: 16 (1 trainable)"


def model_of(backend: str):
    """A model of each backend's runtime layers: Linear(4 -> 3), Linear(3 -> 2) and a list
    holding Linear(2 -> 1): 26 parameters."""
    layers = importlib.import_module(f"specc.runtime.{backend}.layers")
    if backend == "jax":
        from flax import nnx

        class Net(nnx.Module):
            def __init__(self):
                self.first = layers.Linear(4, 3)
                self.second = layers.Linear(3, 2)

    elif backend == "torch":
        import torch

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.first = layers.Linear(4, 3)
                self.second = layers.Linear(3, 2)

    else:
        import mlx.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.first = layers.Linear(4, 3)
                self.second = layers.Linear(3, 2)

    net = Net()
    if backend == "mlx":  # an MLX module is a dict: its children must not be taken for models
        net.extra = [layers.Linear(2, 1)]
    elif backend == "jax":
        from flax import nnx

        net.extra = nnx.List([layers.Linear(2, 1)])
    else:
        import torch

        net.extra = torch.nn.ModuleList([layers.Linear(2, 1)])
    return net


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_prints_the_same_line(backend, capsys):
    state = importlib.import_module(f"specc.runtime.{backend}.state")
    model = model_of(backend)
    assert state.print_size(model) is model
    assert state.print_size(model, ("first",)) is model
    networks = {"generator": model_of(backend), "critic": model_of(backend)}
    assert state.print_size(networks, ("critic",)) is networks
    assert capsys.readouterr().out.splitlines() == [
        "parameters: 26 (26 trainable)",
        "parameters: 26 (11 trainable)",
        "parameters: 52 (26 trainable)",
    ]
