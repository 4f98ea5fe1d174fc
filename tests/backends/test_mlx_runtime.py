"""specc.runtime.mlx.training in process: the optimizers the scripts build against torch's,
clipping, the compiled step with accumulation, optimizer state round trip, freezing."""

from __future__ import annotations

import numpy as np
import pytest

mx = pytest.importorskip("mlx.core")
torch = pytest.importorskip("torch")

import mlx.nn as nn  # noqa: E402
import mlx.optimizers as optim  # noqa: E402

from specc.runtime.mlx import training  # noqa: E402
from specc.runtime.mlx import layers  # noqa: E402


def adam(learning_rate):
    """Adam as the scripts build it: bias correction on (MLX's default is off)."""
    return optim.Adam(learning_rate, betas=[0.9, 0.999], eps=1e-8, bias_correction=True)


def adamw(learning_rate):
    return optim.AdamW(learning_rate, betas=[0.9, 0.999], eps=1e-8, weight_decay=0.01, bias_correction=True)


def torch_steps(make, start, gradients):
    parameter = torch.nn.Parameter(torch.tensor(start))
    optimizer = make([parameter])
    for gradient in gradients:
        parameter.grad = torch.tensor(gradient)
        optimizer.step()
    return parameter.detach().numpy()


def torch_lion(parameters):
    from specc.runtime.torch import training as torch_training

    return torch_training.Lion(parameters, lr=0.1, betas=(0.9, 0.99), weight_decay=0.1)


# the direct calls of the generated MLX and Lightning scripts, with the same spec arguments
OPTIMIZER_PAIRS = {
    "adam": (
        lambda: adam(0.1),
        lambda p: torch.optim.Adam(p, lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
    ),
    "adam_coupled_decay": (
        lambda: training.CoupledAdam(0.1, [0.9, 0.999], 1e-8, 0.1),
        lambda p: torch.optim.Adam(p, lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
    ),
    "adamw": (
        lambda: optim.AdamW(0.1, betas=[0.9, 0.999], eps=1e-8, weight_decay=0.1, bias_correction=True),
        lambda p: torch.optim.AdamW(p, lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
    ),
    "sgd": (
        lambda: optim.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.01, dampening=0.0),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.0, nesterov=True, weight_decay=0.01),
    ),
    "lion": (lambda: optim.Lion(0.1, betas=[0.9, 0.99], weight_decay=0.1), torch_lion),
}


@pytest.mark.parametrize("kind", sorted(OPTIMIZER_PAIRS))
def test_optimizers_match_torch(kind):
    """Bias-corrected Adam (MLX's default is off), coupled / decoupled decay, torch's SGD."""
    start = [1.0, -2.0, 0.5]
    gradients = [[0.3, -0.1, 0.2], [-0.2, 0.4, 1.0], [0.05, 0.05, -0.3]]
    make_mlx, make_torch = OPTIMIZER_PAIRS[kind]
    optimizer = make_mlx()
    parameters = {"w": mx.array(start)}
    for gradient in gradients:
        parameters = optimizer.apply_gradients({"w": mx.array(gradient)}, parameters)
    np.testing.assert_allclose(np.array(parameters["w"]), torch_steps(make_torch, start, gradients), rtol=1e-5, atol=1e-6)


def test_clipping_by_norm_and_by_value():
    gradients = {"a": mx.array([3.0, 0.0]), "b": mx.array([4.0])}
    clipped, norm = training.clip_gradients(gradients, 1.0, "norm")
    assert float(norm) == pytest.approx(5.0)
    np.testing.assert_allclose(np.array(clipped["a"]), [3.0 / (5.0 + 1e-6), 0.0], rtol=1e-6)
    clipped, _ = training.clip_gradients(gradients, 2.0, "value")
    np.testing.assert_array_equal(np.array(clipped["b"]), [2.0])
    unchanged, _ = training.clip_gradients(gradients, None)
    assert unchanged is gradients


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear_0 = layers.Linear(in_features=3, out_features=2)
        self.linear_1 = layers.Linear(in_features=2, out_features=1)

    def __call__(self, x):
        return self.linear_1(layers.relu(self.linear_0(x)))


def tiny_loss(model, batch):
    loss = mx.mean((model(batch["x"]) - batch["y"]) ** 2)
    return loss, {"loss": loss}


def tiny_model():
    model = Tiny()
    generator = np.random.default_rng(0)
    from mlx.utils import tree_flatten, tree_unflatten

    model.update(tree_unflatten([(name, mx.array(generator.normal(size=value.shape).astype(np.float32))) for name, value in tree_flatten(model.parameters())]))
    return model


def batches(count, size=4):
    generator = np.random.default_rng(1)
    return [{"x": mx.array(generator.normal(size=(size, 3)).astype(np.float32)), "y": mx.array(generator.normal(size=(size, 1)).astype(np.float32))} for _ in range(count)]


def test_accumulation_averages_gradients():
    """Two micro-batches of 4 give the update of one batch of 8 (a mean loss over rows)."""
    parts = batches(2)
    whole = {name: mx.concatenate([parts[0][name], parts[1][name]]) for name in parts[0]}
    results = []
    for micro_batches in (parts, [whole]):
        model = tiny_model()
        optimizer = optim.SGD(0.1)
        step = training.make_train_step(model, optimizer, tiny_loss, clip=1.0)
        values = step(micro_batches)
        mx.eval(model.state, optimizer.state)
        results.append((np.array(model.linear_0.weight), float(values["loss"]), float(values["grad_norm"])))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5, atol=1e-6)
    assert results[0][1] == pytest.approx(results[1][1], rel=1e-5)
    assert results[0][2] == pytest.approx(results[1][2], rel=1e-5)


@pytest.mark.parametrize("clip, mode", [(None, "norm"), (0.5, "norm"), (0.05, "value")])
def test_a_step_without_grad_norm_updates_the_same_and_logs_no_norm(clip, mode):
    """``grad_norm=False`` (no grad_norm_monitor): the same update, no ``grad_norm`` value."""
    results = []
    for grad_norm in (True, False):
        model = tiny_model()
        optimizer = optim.SGD(0.1)
        step = training.make_train_step(model, optimizer, tiny_loss, clip=clip, clip_mode=mode, grad_norm=grad_norm)
        values = step(batches(1))
        mx.eval(model.state, optimizer.state)
        assert ("grad_norm" in values) == grad_norm
        results.append(np.array(model.linear_0.weight))
    np.testing.assert_array_equal(results[0], results[1])


def test_optimizer_arrays_take_a_prefix():
    optimizer = adam(0.1)
    optimizer.init(tiny_model().trainable_parameters())
    plain, prefixed = training.optimizer_arrays(optimizer), training.optimizer_arrays(optimizer, prefix="optimizer.")
    assert sorted(prefixed) == sorted(f"optimizer.{name}" for name in plain)


def test_optimizer_state_round_trip_is_bitwise():
    data = batches(6)
    reference, optimizer = tiny_model(), adamw(0.01)
    step = training.make_train_step(reference, optimizer, tiny_loss)
    for batch in data[:3]:
        step([batch])
        mx.eval(reference.state, optimizer.state)
    arrays = training.optimizer_arrays(optimizer)
    from specc.runtime.mlx import state

    weights = state.state_dict(reference)
    for batch in data[3:]:
        step([batch])
        mx.eval(reference.state, optimizer.state)
    resumed, resumed_optimizer = tiny_model(), adamw(0.01)
    state.load_state_dict(resumed, weights)
    training.load_optimizer_arrays(resumed_optimizer, resumed, arrays)
    resumed_step = training.make_train_step(resumed, resumed_optimizer, tiny_loss)
    for batch in data[3:]:
        resumed_step([batch])
        mx.eval(resumed.state, resumed_optimizer.state)
    for name, value in state.state_dict(reference).items():
        np.testing.assert_array_equal(state.state_dict(resumed)[name], value)


def test_freeze_stops_updates_and_names_a_bad_prefix():
    model = tiny_model()
    before = np.array(model.linear_0.weight)
    training.freeze_parameters(model, ["linear_0"])
    optimizer = adam(0.1)
    step = training.make_train_step(model, optimizer, tiny_loss)
    step(batches(1))
    mx.eval(model.state, optimizer.state)
    np.testing.assert_array_equal(np.array(model.linear_0.weight), before)
    with pytest.raises(ValueError, match="freeze: no parameter name starts with 'linear_9'"):
        training.freeze_parameters(tiny_model(), ["linear_9"])


def test_non_finite_flag_names_the_first_bad_step():
    flag = training.NonFiniteFlag()
    flag.update(mx.array(1.0), 1)
    assert flag.first_bad() is None
    flag.update(mx.array(float("nan")), 2)
    flag.update(mx.array(float("inf")), 3)
    assert flag.first_bad() == 2


def test_step_totals_inside_the_compiled_step_sum_what_the_returned_values_sum():
    """``totals=``: the compiled step adds its values itself; the means are the ones the
    returned values give, and ``step`` returns nothing (no op outside the compiled step)."""
    returned_model, totals_model = tiny_model(), tiny_model()
    returned_optimizer, totals_optimizer = adam(0.1), adam(0.1)
    returned = training.make_train_step(returned_model, returned_optimizer, tiny_loss, random=False)
    totals = training.StepTotals(("loss", "grad_norm"), first_step=10)
    summed = training.make_train_step(totals_model, totals_optimizer, tiny_loss, totals=totals, random=False)
    sums = training.RunningSums()
    for batch in batches(3):
        sums.add(returned([batch]))
        assert summed([batch]) is None
        mx.eval(returned_model.state, returned_optimizer.state, totals_model.state, totals_optimizer.state, totals.state)
    expected = sums.means()
    means = totals.means()
    assert set(means) == {"loss", "grad_norm"}
    for name in means:
        assert means[name] == pytest.approx(expected[name], rel=1e-6)
    assert totals.first_bad() is None
    assert totals.means() == {}  # the window just read is empty
    summed(batches(1))
    mx.eval(totals.state)
    assert set(totals.means()) == {"loss", "grad_norm"}  # one step since the last read


def test_step_totals_name_the_first_non_finite_step_counted_from_the_first_step():
    totals = training.StepTotals(("loss",), first_step=7)
    for value in (1.0, float("nan"), float("inf"), 2.0):
        totals.add({"loss": mx.array(value)})
    mx.eval(totals.state)
    assert totals.first_bad() == 9  # steps 8, 9, 10, 11: step 9 was the first not finite
    with pytest.raises(ValueError, match=r"StepTotals: the step's values \['mse'\] are not the logged \['loss'\]"):
        totals.add({"mse": mx.array(1.0)})


def test_one_step_ahead_waits_for_the_step_before():
    """``OneStepAhead.submit`` starts a step's arrays and waits for the previous ones: after two
    submissions the first step's arrays are computed, and the values are those of ``mx.eval``."""
    from specc.runtime.mlx.steps_ahead import OneStepAhead

    ahead = OneStepAhead()
    first = {"w": mx.arange(4.0) * 2}
    ahead.submit(first)
    second = {"w": first["w"] + 1}
    ahead.submit(second)
    assert ahead.pending[0] is second["w"]
    assert np.array(second["w"]).tolist() == [1.0, 3.0, 5.0, 7.0]
