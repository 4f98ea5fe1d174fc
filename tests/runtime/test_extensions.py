"""runtime/extensions.py: the user's code in a generated script, loaded by path, pickled as
a reference, and its failures reported as one line naming the user's file and line; the
user path and time sampler as the flows and the data pipeline call them."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from specc.runtime import extensions
from specc.runtime.composites import flows
from specc.runtime.data import draws
from specc.runtime.reference import ops as numpy_ops

CODE = '''\
import numpy as np


class Path:
    def __init__(self, scale=1.0):
        self.scale = scale

    def interpolate(self, ops, x0, x1, t):
        return (1.0 - t) * x0 + ops.exp(t) * x1 * self.scale

    def target(self, ops, x0, x1, t):
        return x1 - x0


class Wide(Path):
    def target(self, ops, x0, x1, t):
        return ops.concatenate([x1, x0], axis=-1)


class Time:
    def __init__(self, returns="t"):
        self.returns = returns

    def sample(self, rng, size):
        t = rng.random(size)
        if self.returns == "column":
            return t[:, None]
        if self.returns == "pair":
            return t, t * 0.5
        if self.returns == "wide":
            return rng.random(size + 1)
        return t + 2.0 if self.returns == "outside" else t


def mean_loss(ops, prediction, target):
    return ops.mean(ops.abs(prediction - target)), {"error": ops.mean(prediction - target)}


def vector_loss(ops, prediction, target):
    return ops.abs(prediction - target)


def failing_loss(ops, prediction, target):
    return prediction / 0 if False else 1 / 0
'''


@pytest.fixture()
def user_file(tmp_path):
    path = tmp_path / "user_code.py"
    path.write_text(CODE, encoding="utf-8")
    return str(path)


def test_a_reference_creates_the_object_once_and_pickles_as_plain_values(user_file):
    reference = extensions.Reference(user_file, "Path", {"scale": 2.0})
    first = reference.create()
    assert first is reference.create() and first.scale == 2.0
    copy = pickle.loads(pickle.dumps(reference))
    assert copy == reference and copy.create() is first
    assert extensions.load_module(user_file).__name__ == extensions.module_name(user_file)




def test_user_path_in_path_sample(user_file):
    x, noise, t = np.ones((3, 4)), np.full((3, 4), 2.0), np.array([0.0, 0.5, 1.0])
    path = extensions.Reference(user_file, "Path").create()
    x_t, target = flows.path_sample(numpy_ops, x, noise, t, path)
    expected = (1 - t[:, None]) * x + np.exp(t[:, None]) * noise
    np.testing.assert_allclose(x_t, expected)
    np.testing.assert_allclose(target, noise - x)
    wide = extensions.Reference(user_file, "Wide").create()
    line = CODE.splitlines().index("class Wide(Path):") + 2
    with pytest.raises(extensions.UserCodeError) as raised:
        flows.path_sample(numpy_ops, x, noise, t, wide)
    assert str(raised.value) == f"{user_file}:{line}: Wide.target returned shape (3, 8), but x has shape (3, 4)"


def test_an_exception_in_a_user_path_names_its_file_and_line(user_file):
    line = CODE.splitlines().index("    def interpolate(self, ops, x0, x1, t):") + 2
    path = extensions.Reference(user_file, "Path", {"scale": "not a number"}).create()
    with pytest.raises(extensions.UserCodeError) as raised:
        flows.path_sample(numpy_ops, np.ones((3, 4)), np.ones((3, 4)), np.zeros(3), path)
    assert str(raised.value).startswith(f"{user_file}:{line}: Path.interpolate: UFuncTypeError: ")


@pytest.mark.parametrize(
    ("returns", "message"),
    [
        ("outside", r"Time: sample returned t outside \[0, 1\]"),
        ("wide", r"Time: sample returned t of shape \(9,\); it must be \[8\] \(the batch\)"),
        ("pair", r"Time: sample returned 2 values; it returns the times t, one array \[8\]"),
    ],
)
def test_a_user_time_sampler_is_checked(user_file, returns, message):
    reference = extensions.Reference(user_file, "Time", {"returns": returns})
    with pytest.raises(extensions.UserCodeError, match=message):
        draws.draw_time(reference, {}, np.random.default_rng(0), 8)


def test_a_user_time_sampler_draws_from_the_pipeline_generator(user_file):
    column = draws.draw_time(extensions.Reference(user_file, "Time", {"returns": "column"}), {}, np.random.default_rng(3), 8)
    plain = draws.draw_time(extensions.Reference(user_file, "Time"), {}, np.random.default_rng(3), 8)
    np.testing.assert_array_equal(column["t"], plain["t"])
    assert plain["t"].dtype == np.float32 and plain["t"].shape == (8,)
    transform = draws.flow_draws("x", time=extensions.Reference(user_file, "Time"))
    batch = transform({"x": np.zeros((8, 2), np.float32)}, np.random.default_rng(3))
    assert set(batch) == {"x", "noise", "t"}


def test_a_user_loss_gives_the_values_and_refuses_what_it_cannot_log(user_file):
    prediction, target = np.array([1.0, 2.0]), np.array([0.0, 0.0])
    values = extensions.Reference(user_file, "mean_loss").loss()(numpy_ops, prediction, target)
    assert values == {"loss": 1.5, "error": 1.5}
    with pytest.raises(extensions.UserCodeError, match=r"vector_loss: returned a loss of shape \(2,\); it must be a scalar"):
        extensions.Reference(user_file, "vector_loss").loss()(numpy_ops, prediction, target)


def test_an_exception_in_user_code_names_the_file_and_line(user_file):
    line = CODE.splitlines().index("    return prediction / 0 if False else 1 / 0") + 1
    with pytest.raises(extensions.UserCodeError) as raised:
        extensions.Reference(user_file, "failing_loss").loss()(numpy_ops, np.zeros(2), np.zeros(2))
    assert str(raised.value) == (
        f"{user_file}:{line}: failing_loss: computing the loss: ZeroDivisionError: division by zero"
    )


def test_a_file_that_fails_on_import_names_its_line(tmp_path):
    path = tmp_path / "broken_import.py"
    path.write_text("import numpy\n\nvalue = {}['missing']\n", encoding="utf-8")
    with pytest.raises(extensions.UserCodeError, match=rf"^{path}:3: importing it: KeyError: 'missing'$"):
        extensions.load_module(str(path))


# --------------------------------------------------------------------------- on every backend


class ExponentialPath:
    def interpolate(self, ops, x0, x1, t):
        return (1.0 - t) * x0 + ops.exp(t) * x1

    def target(self, ops, x0, x1, t):
        return x1 - x0


def pseudo_huber(ops, prediction, target):
    scaled = (prediction - target) / 0.5
    return {"loss": ops.mean(0.25 * (ops.sqrt(1.0 + scaled * scaled) - 1.0))}


def test_a_user_path_and_loss_agree_with_the_reference_on_every_backend(backend, rng):
    """The same user code through each backend's ops gives the float64 reference's numbers."""
    from specc.runtime.reference import losses as reference_losses

    x, noise, t = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), rng.uniform(size=4)
    weights = rng.normal(size=(3, 3))

    def reference_model(x_t, time):
        return x_t @ weights + time[:, None]

    def backend_model(x_t, time):
        return x_t @ backend.array(weights) + time[:, None]

    expected = reference_losses.flow_matching_loss(
        reference_model, x, noise, t, ExponentialPath(), loss=pseudo_huber
    )
    losses = backend.module("losses")
    found = losses.flow_matching_loss(
        backend_model, backend.array(x), backend.array(noise), backend.array(t), ExponentialPath(), loss=pseudo_huber
    )
    for value, reference_value in zip(found, expected):
        np.testing.assert_allclose(backend.numpy(value), reference_value, rtol=1e-5, atol=1e-6)
