"""Shape rules of the preprocessing ops a graph can call (``stft``, ``mel_spectrogram``,
``mdct``, ``imdct``, patches, complex magnitudes): the functions of
``specc.runtime.<backend>.preprocess``. Same contract as ``graphs_rules``."""

from __future__ import annotations

from specc.compiler.vocabulary import dimensions
from specc.compiler.vocabulary.shape_rules import LayerError, Outcome, TensorInfo, concrete, positive, rank
from specc.compiler.vocabulary.dimensions import format_shape


def _frames(name, x, n_fft, hop):
    rank(name, x, 2, "[B, T]")
    length = x.shape[1]
    if isinstance(length, int) and length <= n_fft // 2:
        raise LayerError("E0608", f"{name}: a signal {format_shape(x.shape)} is too short for n_fft = {n_fft} (reflect padding of {n_fft // 2})")
    return dimensions.add(dimensions.floor_divide(dimensions.add(length, 2 * (n_fft // 2) - n_fft), hop), 1)


def stft(name, tensors, values) -> Outcome:
    x = tensors["x"]
    n_fft, hop = positive(name, values, "n_fft"), positive(name, values, "hop")
    frames = _frames(name, x, n_fft, hop)
    return Outcome((TensorInfo("f32", (x.shape[0], frames, n_fft // 2 + 1, 2)),), dict(values))


def mel_spectrogram(name, tensors, values) -> Outcome:
    x = tensors["x"]
    for key in ("sample_rate", "n_fft", "hop", "n_mels"):
        positive(name, values, key)
    frames = _frames(name, x, values["n_fft"], values["hop"])
    return Outcome((TensorInfo("f32", (x.shape[0], frames, values["n_mels"])),), dict(values))


def complex_magnitude(name, tensors, values) -> Outcome:
    x = tensors["x"]
    if not x.shape or x.shape[-1] != 2:
        raise LayerError("E0608", f"{name}: expected [..., 2] (real, imaginary), got {format_shape(x.shape)}")
    return Outcome((TensorInfo(x.dtype, x.shape[:-1]),), dict(values))


def complex_power(name, tensors, values) -> Outcome:
    return complex_magnitude(name, tensors, values)


def _ceil_divide(size, divisor):
    return dimensions.negate(dimensions.floor_divide(dimensions.negate(size), divisor))


def mdct(name, tensors, values) -> Outcome:
    x = tensors["x"]
    rank(name, x, 2, "[B, T]")
    window = positive(name, values, "window")
    frames = dimensions.add(_ceil_divide(x.shape[1], window), 1)
    return Outcome((TensorInfo("f32", (x.shape[0], frames, window)),), dict(values))


def imdct(name, tensors, values) -> Outcome:
    x = tensors["x"]
    rank(name, x, 3, "[B, F, N]")
    length = positive(name, values, "length")
    window = concrete(name, x, -1, "last (window)")
    expected = -(-length // window) + 1
    if x.shape[1] != expected:
        raise LayerError("E0608", f"{name}: {format_shape(x.shape)} has {dimensions.render(x.shape[1])} frames, but a signal of "
                         f"length {length} with window {window} has {expected}")
    return Outcome((TensorInfo("f32", (x.shape[0], length)),), dict(values))


def reshape_patches(name, tensors, values) -> Outcome:
    x = tensors["x"]
    rank(name, x, 2, "[B, T]")
    patch = positive(name, values, "patch")
    return Outcome((TensorInfo(x.dtype, (x.shape[0], _ceil_divide(x.shape[1], patch), patch)),), dict(values))


def merge_patches(name, tensors, values) -> Outcome:
    x = tensors["x"]
    rank(name, x, 3, "[B, P, p]")
    length = positive(name, values, "length")
    total = dimensions.multiply(x.shape[1], x.shape[2])
    if isinstance(total, int) and total < length:
        raise LayerError("E0608", f"{name}: {format_shape(x.shape)} holds {total} samples, fewer than length = {length}")
    return Outcome((TensorInfo(x.dtype, (x.shape[0], length)),), dict(values))
