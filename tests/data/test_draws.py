"""Objective draws: flow noise / times / CFG masks, OT coupling, sampled token positions."""

from __future__ import annotations

import numpy as np
import pytest

from specc.runtime.data import flow_draws, ot_coupling, token_positions


def batch(rows=16, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "params": rng.uniform(-1, 1, (rows, 6)).astype(np.float32),
        "signal": rng.standard_normal((rows, 5)).astype(np.float32),
        "label": np.arange(rows),
    }


def test_flow_draws_shapes_dtypes_and_order():
    transform = flow_draws(
        "params", ("signal",), time="logit_normal", time_arguments={"mean": 0.0}, cfg_dropout=0.5
    )
    result = transform(batch(), np.random.default_rng(4))
    assert result["noise"].shape == (16, 6) and result["noise"].dtype == np.float32
    assert result["t"].shape == (16,) and result["t"].dtype == np.float32
    assert result["drop"].dtype == bool and "r" not in result
    rng = np.random.default_rng(4)  # the documented order: noise, time normals, drop uniforms
    np.testing.assert_array_equal(result["noise"], rng.standard_normal((16, 6), dtype=np.float32))
    np.testing.assert_allclose(result["t"], 1 / (1 + np.exp(-rng.standard_normal(16))), rtol=1e-6)
    np.testing.assert_array_equal(result["drop"], rng.random(16) < 0.5)
    np.testing.assert_array_equal(result["params"], batch()["params"])  # no coupling: untouched


def test_uniform_time_and_no_drop_mask_without_cfg():
    result = flow_draws("params")(batch(rows=1000), np.random.default_rng(0))
    assert 0 <= result["t"].min() and result["t"].max() < 1 and abs(result["t"].mean() - 0.5) < 0.05
    assert "drop" not in result


def test_mean_flow_times():
    result = flow_draws("params", time="mean_flow", time_arguments={"data_proportion": 0.25})(
        batch(rows=20), np.random.default_rng(1)
    )
    assert np.all(result["r"] <= result["t"])
    np.testing.assert_array_equal(result["r"][:5], result["t"][:5])  # floor(20 * 0.25) rows
    assert np.all(result["r"][5:] < result["t"][5:])


def test_ot_coupling_is_a_permutation_that_reduces_transport_cost():
    rng = np.random.default_rng(7)
    noise, data = rng.standard_normal((64, 3)), rng.standard_normal((64, 3)) + 1.0
    permutation = ot_coupling(noise, data)
    assert sorted(permutation.tolist()) == list(range(64))
    cost = lambda order: np.linalg.norm(noise - data[order], axis=1).sum()  # noqa: E731
    assert cost(permutation) < cost(np.arange(64))
    for _ in range(20):  # no random permutation does better than the optimum
        assert cost(permutation) <= cost(rng.permutation(64)) + 1e-9


def test_ot_flow_draws_reorder_data_rows_together():
    original = batch(rows=32)
    result = flow_draws("params", ("signal",), coupling="ot")(dict(original), np.random.default_rng(3))
    permutation = ot_coupling(result["noise"], original["params"])
    for name in ("params", "signal", "label"):
        np.testing.assert_array_equal(result[name], original[name][permutation])


@pytest.mark.parametrize(
    "arguments, message",
    [
        (
            {"time": "beta"},
            "flow_draws: time must be one of 'uniform', 'logit_normal', 'mean_flow', got 'beta'",
        ),
        ({"coupling": "sinkhorn"}, "flow_draws: coupling must be one of None, 'ot', got 'sinkhorn'"),
        (
            {"time": "uniform", "time_arguments": {"mean": 1.0}},
            "flow_draws: time sampler uniform has no argument 'mean' (it takes no arguments)",
        ),
        (
            {"time": "mean_flow", "time_arguments": {"sigma": 1.0}},
            "flow_draws: time sampler mean_flow has no argument 'sigma' (it takes mean, std, data_proportion)",
        ),
        ({"cfg_dropout": 1.5}, "flow_draws: cfg_dropout must be in [0, 1), got 1.5"),
    ],
)
def test_flow_draws_argument_errors(arguments, message):
    with pytest.raises(ValueError) as error:
        flow_draws("params", **arguments)
    assert str(error.value) == message


def test_flow_draws_missing_field():
    with pytest.raises(
        ValueError, match="flow_draws: the batch has no field 'audio' \\(it has label, params, signal\\)"
    ):
        flow_draws("audio")(batch(), np.random.default_rng(0))


def test_token_positions_keep_at_most_k_per_term():
    tokens = np.random.default_rng(0).integers(0, 30, (8, 21))
    transform = token_positions({"image": (5, 10), "spectrum": [(15, 5), (20, 5)]}, k=12)
    result = transform({"tokens": tokens}, np.random.default_rng(1))
    targets = tokens[:, 1:]
    image, spectrum = result["positions_image"], result["positions_spectrum"]
    assert image.shape == (8, 20) and image.dtype == bool
    assert image.sum() == 12 and spectrum.sum() == 12
    assert np.all((targets[image] >= 5) & (targets[image] < 15))
    assert np.all((targets[spectrum] >= 15) & (targets[spectrum] < 25))
    everything = token_positions({"image": (5, 10)})({"tokens": tokens}, np.random.default_rng(1))
    np.testing.assert_array_equal(everything["positions_image"], (targets >= 5) & (targets < 15))
    again = transform({"tokens": tokens}, np.random.default_rng(1))
    np.testing.assert_array_equal(again["positions_image"], image)  # same generator, same positions
