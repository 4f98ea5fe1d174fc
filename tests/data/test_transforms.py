"""Per-example data transforms: the formulas of runtime/data/transforms.py, their generator,
which splits get them, and how the Loader applies them."""

from __future__ import annotations

import numpy as np
import pytest

from specc.runtime.data import Loader, Transform, build_transforms, flow_draws, make_source
from specc.runtime.data.transforms import TRANSFORMS, parse_transform

BATCH = {
    "audio": np.array([[1.0, 2.0, 3.0, 6.0], [0.0, -4.0, 4.0, 0.0]], dtype=np.float32),
    "label": np.array([1, 2], dtype=np.int64),
}


def generator():
    return np.random.default_rng([9, 9])


def test_normalize_is_per_example_zero_mean_unit_std():
    out = Transform("normalize", eps=0.0)(BATCH, generator())
    # example 0: mean 3, population std sqrt(((-2)^2 + (-1)^2 + 0 + 3^2) / 4) = sqrt(3.5)
    np.testing.assert_allclose(out["audio"][0], np.array([-2.0, -1.0, 0.0, 3.0]) / np.sqrt(3.5), rtol=1e-6)
    np.testing.assert_allclose(out["audio"][1], np.array([0.0, -4.0, 4.0, 0.0]) / np.sqrt(8.0), rtol=1e-6)
    assert out["audio"].dtype == np.float32
    np.testing.assert_array_equal(out["label"], BATCH["label"])  # integer fields are untouched


def test_clip_and_scale():
    out = Transform("clip", minimum=-1.0, maximum=2.5)(BATCH, generator())
    np.testing.assert_array_equal(out["audio"], [[1.0, 2.0, 2.5, 2.5], [0.0, -1.0, 2.5, 0.0]])
    out = Transform("scale", factor=0.5)(BATCH, generator())
    np.testing.assert_array_equal(out["audio"], [[0.5, 1.0, 1.5, 3.0], [0.0, -2.0, 2.0, 0.0]])


def test_random_gain_draws_one_decibel_value_per_example():
    out = Transform("random_gain", min_db=-6.0, max_db=6.0)(BATCH, generator())
    decibels = generator().uniform(-6.0, 6.0, size=2)
    expected = BATCH["audio"] * (10.0 ** (decibels / 20.0))[:, None]
    np.testing.assert_allclose(out["audio"], expected, rtol=1e-6)


def test_time_shift_rolls_each_example_along_its_first_axis():
    out = Transform("time_shift", max_shift=2)(BATCH, generator())
    shifts = generator().integers(-2, 3, size=2)
    for row in range(2):
        np.testing.assert_array_equal(out["audio"][row], np.roll(BATCH["audio"][row], shifts[row]))
    stereo = {"audio": np.arange(12, dtype=np.float32).reshape(1, 6, 2)}
    shifted = Transform("time_shift", max_shift=3)(stereo, generator())["audio"][0]
    shift = int(generator().integers(-3, 4, size=1)[0])
    np.testing.assert_array_equal(shifted, np.roll(stereo["audio"][0], shift, axis=0))  # channels move together


def test_gaussian_noise_and_a_named_field():
    batch = {**BATCH, "other": np.ones((2, 3), dtype=np.float32)}
    out = Transform("gaussian_noise", std=0.5, field="other")(batch, generator())
    np.testing.assert_allclose(out["other"], 1.0 + 0.5 * generator().standard_normal((2, 3)), rtol=1e-6)
    np.testing.assert_array_equal(out["audio"], BATCH["audio"])


def test_spec_forms_and_defaults():
    assert parse_transform("clip").arguments == {}
    clip = parse_transform({"kind": "clip", "field": None, "minimum": -2.0, "maximum": None})
    assert (clip.kind, clip.field, clip.arguments) == ("clip", None, {"minimum": -2.0})
    assert parse_transform(("scale", {"factor": 3.0})).arguments == {"factor": 3.0}
    assert repr(parse_transform({"kind": "normalize", "field": "audio"})) == "Transform('normalize', field='audio')"


def test_random_transforms_are_for_training_only():
    specifications = ["normalize", "random_gain", "time_shift", "clip", "gaussian_noise"]
    assert [t.kind for t in build_transforms(specifications, "train")] == specifications
    assert [t.kind for t in build_transforms(specifications, "val")] == ["normalize", "clip"]
    assert [t.kind for t in build_transforms(specifications, "test")] == ["normalize", "clip"]
    assert {kind for kind, entry in TRANSFORMS.items() if entry.random} == {
        "random_gain",
        "time_shift",
        "gaussian_noise",
    }


def test_transform_errors_name_the_problem():
    with pytest.raises(ValueError, match="transform: kind must be one of"):
        Transform("flip")
    with pytest.raises(ValueError, match="clip: minimum = 2.0 is above maximum = 1.0"):
        Transform("clip", minimum=2.0)
    with pytest.raises(ValueError, match="random_gain: min_db = 3.0 is above max_db = 1.0"):
        Transform("random_gain", min_db=3.0, max_db=1.0)
    with pytest.raises(ValueError, match="scale: unknown argument .gain. \\(it takes factor and field\\)"):
        Transform("scale", gain=2.0)
    with pytest.raises(ValueError, match="time_shift: max_shift must be non-negative"):
        Transform("time_shift", max_shift=-1)
    with pytest.raises(ValueError, match="transform clip: the batch has no field 'x' \\(fields: audio, label\\)"):
        Transform("clip", field="x")(BATCH, generator())
    with pytest.raises(ValueError, match="transform clip: field 'label' is not a float field"):
        Transform("clip", field="label")(BATCH, generator())
    with pytest.raises(ValueError, match="time_shift: the field has no time axis"):
        Transform("time_shift")({"x": np.zeros(3, np.float32)}, generator())


def audio_source():
    return make_source("synthetic_audio", length=32, sizes=(24, 8, 8), seed=1)


def test_loader_applies_transforms_with_their_own_generator():
    transforms = ["normalize", "random_gain", "clip"]
    loader = Loader(audio_source(), "train", 8, seed=4, transforms=transforms)
    batch = loader.batch(1, 2)
    raw = Loader(audio_source(), "train", 8, seed=4).batch(1, 2)
    rng = np.random.default_rng([4, 0, 1, 2, 1])  # [seed, stream, epoch, batch, 1]
    expected = raw
    for transform in build_transforms(transforms, "train"):
        expected = transform(expected, rng)
    np.testing.assert_array_equal(batch["audio"], expected["audio"])
    assert np.abs(batch["audio"]).max() <= 1.0
    again = Loader(audio_source(), "train", 8, seed=4, transforms=transforms, workers=2).batch(1, 2)
    np.testing.assert_array_equal(batch["audio"], again["audio"])


def test_an_augmentation_does_not_move_the_objectives_draws():
    draws = flow_draws("audio", (), time="uniform")
    plain = Loader(audio_source(), "train", 8, seed=4, transform=draws).batch(0, 1)
    augmented = Loader(audio_source(), "train", 8, seed=4, transform=draws, transforms=["random_gain"]).batch(0, 1)
    np.testing.assert_array_equal(plain["t"], augmented["t"])
    np.testing.assert_array_equal(plain["noise"], augmented["noise"])
    assert not np.array_equal(plain["audio"], augmented["audio"])
