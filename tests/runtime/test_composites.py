"""The composites (``specc.runtime.composites``) evaluated in float64 on the numpy ``ops``
table agree with the independent numpy reference to ~1e-12: the formulas the jax, torch and
mlx runtimes share are the reference's, not merely within fp32 noise of it. The fp32 parity
of each backend (its ``ops`` table) with the reference is tested module by module
(test_flows, test_losses, test_metrics).
"""

from __future__ import annotations

import numpy as np
import pytest
from specc.runtime.composites import binder
from specc.runtime.composites import flows as composite_flows
from specc.runtime.composites import losses as composite_losses
from specc.runtime.composites import metrics as composite_metrics
from specc.runtime.composites import objectives as composite_objectives
from specc.runtime.reference import flows, losses, metrics, ops

RTOL, ATOL = 1e-10, 1e-12
# Composites that compute in float32 by definition (the expected-value losses' softmax, the
# Welch window, the host-side matching's result) agree to float32 rounding only.
FLOAT32_RTOL = 1e-6
FLOAT32_CASES = {
    "expected_codebook", "expected_scalar", "expected_codebook_grouped", "spectral_distribution_distance",
    "linear_assignment",
}
bind = binder(ops, __name__)


def same(got, expected, rtol=RTOL):
    if isinstance(expected, tuple):
        for part, wanted in zip(got, expected):
            same(part, wanted, rtol)
        return
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=rtol, atol=ATOL)


def tolerance(case):
    return FLOAT32_RTOL if case in FLOAT32_CASES else RTOL


def model(z, t, h):
    """A smooth nonlinear average-velocity model of ``[B, 3]`` data."""
    return np.tanh(z * (1.0 + t[:, None]) + np.sin(3.0 * h)[:, None])


@pytest.fixture
def data(rng):
    return {
        "x": rng.normal(size=(4, 3)),
        "noise": rng.normal(size=(4, 3)),
        "t": np.array([0.0, 1.0, 0.4, 0.8]),
        "r": np.array([0.0, 0.3, 0.4, 0.1]),
        "normal": rng.normal(size=4),
        "logits": rng.normal(size=(3, 6, 14)) * 2,
        "labels": rng.integers(0, 14, size=(3, 6)),
        "mask": rng.random(size=(3, 6)) < 0.7,
        "codebook": rng.normal(size=(4, 3)),
        "centers": rng.normal(size=4),
        "signal": rng.normal(size=(2, 64)),
        "other": rng.normal(size=(2, 64)),
        "tokens": rng.normal(size=(3, 8)),
    }


FLOW_CALLS = {
    "path_sample linear": lambda m, d: m.path_sample(d["x"], d["noise"], d["t"], "linear", 0.01, 0.98),
    "path_sample uniform": lambda m, d: m.path_sample(d["x"], d["noise"], d["t"], "uniform"),
    "logit_normal_time": lambda m, d: m.logit_normal_time(d["normal"], 0.2, 1.5),
    "mean_flow_time": lambda m, d: m.mean_flow_time(d["normal"], d["normal"][::-1], 0.1, 0.9, 0.5),
    "sinusoidal": lambda m, d: m.sinusoidal(d["t"], 6),
    "cfg_combine": lambda m, d: m.cfg_combine(d["x"], d["noise"], 2.5),
    "rk4": lambda m, d: m.rk4(lambda x, t: -x * t[:, None], d["x"], 5),
    "mean_flow_sample": lambda m, d: m.mean_flow_sample(model, d["x"]),
}

LOSS_CALLS = {
    "weighted_l2": lambda m, d: m.weighted_l2(d["x"], d["noise"], 0.5, 1e-3, "mean"),
    "mse": lambda m, d: m.mse(d["x"], d["noise"]),
    "l1": lambda m, d: m.l1(d["x"], d["noise"]),
    "flow_matching_loss": lambda m, d: m.flow_matching_loss(
        lambda z, t: model(z, t, t * 0), d["x"], d["noise"], d["t"], "linear", 0.01, 0.98
    ),
    "mean_flow_loss": lambda m, d: m.mean_flow_loss(model, d["x"], d["noise"], d["t"], d["r"], 0.5, 1e-3),
    "improved_mean_flow_loss": lambda m, d: m.improved_mean_flow_loss(model, d["x"], d["noise"], d["t"], d["r"]),
    "cross_entropy": lambda m, d: m.cross_entropy(d["logits"], d["labels"], 3, 0.15),
    "expected_codebook": lambda m, d: m.expected_codebook(d["logits"], d["labels"], d["codebook"], 5, d["mask"]),
    "expected_scalar": lambda m, d: m.expected_scalar(d["logits"], d["labels"], d["centers"], 2),
    "expected_codebook_grouped": lambda m, d: m.expected_codebook_grouped(
        d["logits"], d["labels"], d["codebook"], (2, 9), d["mask"]
    ),
    "combined_token_loss": lambda m, d: m.combined_token_loss(d["logits"], d["labels"], [(0.5, 2.0)], 1),
    "hinge_discriminator_loss": lambda m, d: m.hinge_discriminator_loss([d["x"], d["t"]], [d["noise"], d["r"]]),
    "hinge_generator_loss": lambda m, d: m.hinge_generator_loss([d["x"], d["t"]]),
    "feature_matching_loss": lambda m, d: m.feature_matching_loss([[d["x"], d["t"]]], [[d["noise"], d["r"]]]),
    "kl_divergence": lambda m, d: m.kl_divergence(d["x"], d["noise"]),
    "stft_magnitude": lambda m, d: m.stft_magnitude(d["signal"], 16),
    "multi_resolution_stft_loss": lambda m, d: m.multi_resolution_stft_loss(d["signal"], d["other"], [8, 16]),
}

METRIC_CALLS = {
    "accuracy": lambda m, d: m.accuracy(d["logits"], d["labels"], 3),
    "mse": lambda m, d: m.mse(d["x"], d["noise"]),
    "mae": lambda m, d: m.mae(d["x"], d["noise"]),
    "perplexity": lambda m, d: m.perplexity(d["logits"], d["labels"]),
    "log_spectral_distance": lambda m, d: m.log_spectral_distance(d["signal"], d["other"]),
    "chamfer": lambda m, d: m.chamfer(d["tokens"], d["tokens"][::-1], 2),
    "linear_assignment": lambda m, d: m.linear_assignment(d["tokens"], d["tokens"][::-1], 2),
    "spectral_distribution_distance": lambda m, d: m.spectral_distribution_distance(d["signal"], d["other"], 16),
}


def bound(composite_module, names):
    """The composites of ``names`` bound to the numpy ops, as a namespace like a backend module."""
    namespace = type("Bound", (), {})()
    for name in names:
        setattr(namespace, name, bind(getattr(composite_module, name)))
    return namespace


@pytest.mark.parametrize("case", list(FLOW_CALLS))
def test_flow_composites_are_the_reference(data, case):
    names = ["path_sample", "logit_normal_time", "mean_flow_time", "sinusoidal", "cfg_combine"]
    shared = bound(composite_flows, names)
    samplers = composite_flows.samplers(ops)
    shared.rk4, shared.mean_flow_sample = samplers.rk4, samplers.mean_flow_sample
    same(FLOW_CALLS[case](shared, data), FLOW_CALLS[case](flows, data))


@pytest.mark.parametrize("case", list(LOSS_CALLS))
def test_loss_composites_are_the_reference(data, case):
    shared = bound(composite_losses, LOSS_CALLS)
    same(LOSS_CALLS[case](shared, data), LOSS_CALLS[case](losses, data), tolerance(case))


@pytest.mark.parametrize("case", list(METRIC_CALLS))
def test_metric_composites_are_the_reference(data, case):
    shared = bound(composite_metrics, METRIC_CALLS)
    same(METRIC_CALLS[case](shared, data), METRIC_CALLS[case](metrics, data), tolerance(case))


@pytest.mark.parametrize(
    "function, array, starts, expected",
    [
        ("expected_codebook", "codebook", (5,), lambda d: losses.expected_codebook(
            d["logits"], d["labels"], d["codebook"], 5, d["mask"])),
        ("expected_codebook", "codebook", (2, 9), lambda d: losses.expected_codebook_grouped(
            d["logits"], d["labels"], d["codebook"], (2, 9), d["mask"])),
        ("expected_scalar", "centers", (2,), lambda d: losses.expected_scalar(
            d["logits"], d["labels"], d["centers"], 2, d["mask"])),
    ],
)
def test_expected_value_term_dispatches_to_the_losses(data, function, array, starts, expected):
    term = bind(composite_objectives.expected_value_term)
    got = term(function, data["logits"], data["labels"], data[array], starts, data["mask"])
    same(got, expected(data), FLOAT32_RTOL)


def test_expected_value_term_refuses_several_ranges_of_bin_centres(data):
    term = bind(composite_objectives.expected_value_term)
    with pytest.raises(ValueError, match="expected_scalar takes one vocabulary range; got 2 starts"):
        term("expected_scalar", data["logits"], data["labels"], data["centers"], (2, 9), data["mask"])
