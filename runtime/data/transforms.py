"""Per-example data transforms the ``Loader`` applies to a batch (numpy only).

A transform maps a batch ``{field: array [B, ...]}`` to a new batch; it acts on each
example independently (statistics are per example, never across the batch) and on the
float fields only (all of them, or the one named by ``field``). Random transforms draw from
the batch's transform generator ``default_rng([seed, stream, epoch, batch index, 1])``
(``Loader.transform_generator``): a batch stays a pure function of (seed, split, epoch,
batch index), so resume is exact, and the objective's own draws (stream ``[..., b]``) do
not move when an augmentation is added.

| kind | parameters | per example x | splits |
|---|---|---|---|
| ``normalize`` | ``eps = 1e-8`` | ``(x - mean(x)) / (std(x) + eps)`` | all |
| ``normalize`` | ``statistics = "stats.npz"``, ``field`` | ``(x - mean) / (sqrt(var) + eps)`` | all |
| ``clip`` | ``minimum = -1``, ``maximum = 1`` | ``min(max(x, minimum), maximum)`` | all |
| ``scale`` | ``factor = 1`` | ``factor * x`` | all |
| ``random_gain`` | ``min_db = -6``, ``max_db = 6`` | ``10^(g / 20) x``, ``g ~ U[min_db, max_db)`` | train |
| ``time_shift`` | ``max_shift = 100`` | ``roll(x, s, axis 0)``, ``s ~ U{-max_shift..max_shift}`` | train |
| ``gaussian_noise`` | ``std = 0.01`` | ``x + std * e``, ``e ~ N(0, 1)`` | train |

mean and std (population) are over every axis of one example; with ``statistics`` (seed
004's ``use_saved_mean_and_variance``) they are saved ones instead: the ``.npz`` holds
float arrays ``mean`` and ``var`` of the field's per-example shape, or of its last axis
(per feature, broadcast over the others), or single values; it is read once, without
pickles (``read_statistics``), and ``field`` must name the one field they describe. ``time_shift`` rolls the
first axis of the example (time for ``[T]`` and ``[T, C]`` audio) circularly. The random
ones are augmentations: ``build_transforms(specs, split)`` keeps them for ``train`` only,
so evaluation sees the same (deterministically transformed) data at every evaluation.
Draw order inside one batch follows the list: each random transform draws its ``[B]``
values from the shared generator in turn.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import numpy as np

from specc.runtime import checks


def _normalize(x: np.ndarray, rng, eps: float = 1e-8, statistics=None) -> np.ndarray:
    if statistics is not None:  # (mean, std) read by read_statistics
        mean, std = statistics
        check_statistics_shape("normalize", mean.shape, x.shape[1:])
        return (x - mean) / (std + eps)
    axes = tuple(range(1, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True)
    return (x - mean) / (std + eps)


STATISTICS_ARRAYS = ("mean", "var")


def statistics_shape_fits(shape, example_shape) -> bool:
    """Saved statistics of ``shape`` describe examples of ``example_shape``: the same shape,
    the last axis alone (per feature), or a single value."""
    shape, example_shape = tuple(shape), tuple(example_shape)
    return shape in ((), example_shape) or (len(example_shape) > 0 and shape == example_shape[-1:])


def check_statistics_shape(function: str, shape, example_shape) -> None:
    if not statistics_shape_fits(shape, example_shape):
        raise ValueError(
            f"{function}: the saved statistics have shape {checks.format_shape(shape)} but the field's examples "
            f"are {checks.format_shape(example_shape)} (expected that shape, its last axis, or single values)"
        )


def read_statistics(path: str) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)`` of a statistics ``.npz`` (arrays ``mean`` and ``var`` of one shape,
    float or integer, ``var >= 0``); every problem is one ``ValueError`` naming the file."""
    from specc.runtime.data.files import read_npz  # files.py reads every array file of the runtime

    try:
        arrays = read_npz(str(path))
    except ValueError as error:
        raise ValueError(f"normalize: statistics {error}") from None
    missing = [name for name in STATISTICS_ARRAYS if name not in arrays]
    if missing:
        found = ", ".join(sorted(arrays))
        raise ValueError(f"normalize: statistics {path} has no array '{missing[0]}' (arrays: {found}; expected mean and var)")
    mean, variance = (np.asarray(arrays[name]) for name in STATISTICS_ARRAYS)
    for name, array in zip(STATISTICS_ARRAYS, (mean, variance)):
        if array.dtype.kind not in "fiu":
            raise ValueError(f"normalize: statistics {path}: '{name}' has dtype {array.dtype}; expected numbers")
    if mean.shape != variance.shape:
        raise ValueError(
            f"normalize: statistics {path}: mean has shape {checks.format_shape(mean.shape)} but var has "
            f"{checks.format_shape(variance.shape)}"
        )
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(variance)) and np.all(variance >= 0)):
        raise ValueError(f"normalize: statistics {path}: mean and var must be finite and var must not be negative")
    return mean.astype(np.float64), np.sqrt(variance.astype(np.float64))


def _clip(x: np.ndarray, rng, minimum: float = -1.0, maximum: float = 1.0) -> np.ndarray:
    return np.clip(x, minimum, maximum)


def _scale(x: np.ndarray, rng, factor: float = 1.0) -> np.ndarray:
    return x * factor


def _per_example(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``[B]`` -> ``[B, 1, ..., 1]`` broadcasting against ``x``."""
    return values.reshape((len(x),) + (1,) * (x.ndim - 1))


def _random_gain(x: np.ndarray, rng, min_db: float = -6.0, max_db: float = 6.0) -> np.ndarray:
    decibels = rng.uniform(min_db, max_db, size=len(x))
    return x * _per_example(10.0 ** (decibels / 20.0), x)


def _time_shift(x: np.ndarray, rng, max_shift: int = 100) -> np.ndarray:
    if x.ndim < 2:
        raise ValueError(f"time_shift: the field has no time axis (per-example shape {x.shape[1:]})")
    shifts = rng.integers(-max_shift, max_shift + 1, size=len(x))
    return np.stack([np.roll(example, int(shift), axis=0) for example, shift in zip(x, shifts)]) if len(x) else x


def _gaussian_noise(x: np.ndarray, rng, std: float = 0.01) -> np.ndarray:
    return x + std * rng.standard_normal(x.shape)


@dataclass(frozen=True)
class TransformKind:
    """One row of the table: the function, its parameter checks, whether it draws, and a
    pair of parameters that must be ordered (``low <= high``)."""

    function: Callable
    checks: tuple[tuple[str, str], ...]  # (parameter, check name in specc.runtime.checks)
    random: bool
    ordered: tuple[str, str] | None = None

    def defaults(self) -> dict:
        """The function's keyword defaults: ``{"minimum": -1.0, "maximum": 1.0}``."""
        parameters = list(inspect.signature(self.function).parameters.values())[2:]
        return {parameter.name: parameter.default for parameter in parameters}


TRANSFORMS = {
    "normalize": TransformKind(_normalize, (("eps", "check_non_negative"),), False),
    "clip": TransformKind(_clip, (), False, ("minimum", "maximum")),
    "scale": TransformKind(_scale, (), False),
    "random_gain": TransformKind(_random_gain, (), True, ("min_db", "max_db")),
    "time_shift": TransformKind(_time_shift, (("max_shift", "check_non_negative"),), True),
    "gaussian_noise": TransformKind(_gaussian_noise, (("std", "check_non_negative"),), True),
}


class Transform:
    """A configured transform: ``Transform("clip", minimum=0.0)(batch, rng) -> batch``.

    ``field``: the one field transformed (default: every float field of the batch).
    ``normalize(statistics = path)`` reads the file here, once (``read_statistics``), and
    needs ``field``.
    """

    def __init__(self, kind: str, field: str | None = None, **arguments):
        checks.check_choice("transform", "kind", kind, tuple(TRANSFORMS))
        self.kind, self.field, self.arguments = kind, field, dict(arguments)
        entry = TRANSFORMS[kind]
        values = {**entry.defaults(), **self.arguments}
        unknown = sorted(set(self.arguments) - set(entry.defaults()))
        if unknown:
            takes = ", ".join(entry.defaults()) or "no arguments"
            raise ValueError(f"{kind}: unknown argument '{unknown[0]}' (it takes {takes} and field)")
        for name, check in entry.checks:
            getattr(checks, check)(kind, name, values[name])
        if entry.ordered and values[entry.ordered[0]] > values[entry.ordered[1]]:
            low, high = entry.ordered
            raise ValueError(f"{kind}: {low} = {values[low]} is above {high} = {values[high]}")
        self.random = entry.random
        self.function = entry.function
        self.prepared = dict(self.arguments)  # what the function receives: the statistics read
        if self.arguments.get("statistics") is not None:
            if field is None:
                raise ValueError(f"{kind}: statistics describe one field: give `field` too")
            self.prepared["statistics"] = read_statistics(self.arguments["statistics"])

    def __repr__(self) -> str:
        shown = ", ".join(f"{key}={value!r}" for key, value in sorted(self.arguments.items()))
        field = f", field={self.field!r}" if self.field else ""
        return f"Transform({self.kind!r}{field}{', ' + shown if shown else ''})"

    def targets(self, batch: dict) -> list[str]:
        """The fields transformed: ``field``, or every floating field in name order."""
        if self.field is not None:
            if self.field not in batch:
                available = ", ".join(sorted(batch))
                raise ValueError(f"transform {self.kind}: the batch has no field '{self.field}' (fields: {available})")
            if np.asarray(batch[self.field]).dtype.kind != "f":
                raise ValueError(f"transform {self.kind}: field '{self.field}' is not a float field")
            return [self.field]
        return [name for name in sorted(batch) if np.asarray(batch[name]).dtype.kind == "f"]

    def __call__(self, batch: dict, rng: np.random.Generator) -> dict:
        result = dict(batch)
        for name in self.targets(batch):
            value = np.asarray(batch[name])
            result[name] = np.asarray(self.function(value, rng, **self.prepared), dtype=value.dtype)
        return result


def parse_transform(specification) -> Transform:
    """A transform from its spec form: ``"normalize"``, ``{"kind": "clip", "minimum": 0.0}``
    (``None`` values mean the default), ``{"kind": .., "arguments": {..}}`` or ``(kind, {..})``."""
    if isinstance(specification, Transform):
        return specification
    if isinstance(specification, str):
        return Transform(specification)
    if isinstance(specification, (tuple, list)) and len(specification) == 2 and isinstance(specification[0], str):
        kind, arguments = specification[0], dict(specification[1] or {})
    elif isinstance(specification, dict) and "kind" in specification:
        kind = specification["kind"]
        arguments = (
            dict(specification.get("arguments") or {})
            if "arguments" in specification
            else {key: value for key, value in specification.items() if key != "kind"}
        )
    else:
        raise ValueError(f"transform: cannot read {specification!r}; write a kind or {{'kind': ..., <parameters>}}")
    return Transform(kind, **{key: value for key, value in arguments.items() if value is not None})


def build_transforms(specifications, split: str) -> tuple[Transform, ...]:
    """The transforms of one split, in order: all of them on ``train``, the deterministic
    ones (``random = False``) on ``val``, ``test`` and ``train_eval``."""
    transforms = tuple(parse_transform(item) for item in specifications or ())
    return transforms if split == "train" else tuple(item for item in transforms if not item.random)


def apply_transforms(transforms, batch: dict, rng: np.random.Generator) -> dict:
    """``transforms`` in order on ``batch``, sharing the batch's transform generator."""
    for transform in transforms:
        batch = transform(batch, rng)
    return batch
