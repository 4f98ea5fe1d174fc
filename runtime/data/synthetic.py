"""Generated regression and audio-classification data, and class folders of .wav files."""

from __future__ import annotations

import math
import os

import numpy as np

from specc.runtime import checks
from specc.runtime.data.sources import SPLITS, Source, check_sizes, register, seeded_split, split_generator

WEIGHT_STREAM = 7  # generator stream of the fixed regression weights (shared by all splits)


@register("synthetic_regression")
class SyntheticRegression(Source):
    """Noisy linear regression: ``x`` f32[F] ~ N(0, I), ``y`` f32[O] = ``x @ W + b + noise * e``.

    ``W ~ N(0, 1) / sqrt(F)`` [F, O] and ``b ~ N(0, 1)`` [O] come from
    ``default_rng([seed, 7])`` (the same for every split); row i of a split is row i of
    ``default_rng([seed, split index]).standard_normal((n, F + O))`` = ``[x, e]``.
    """

    def __init__(
        self,
        num_features: int,
        num_outputs: int = 1,
        sizes=(1000, 200, 200),
        noise: float = 0.1,
        seed: int = 0,
    ):
        super().__init__()
        checks.check_positive("synthetic_regression", "num_features", num_features)
        checks.check_positive("synthetic_regression", "num_outputs", num_outputs)
        checks.check_non_negative("synthetic_regression", "noise", noise)
        self.num_features, self.num_outputs = int(num_features), int(num_outputs)
        self.sizes = dict(zip(SPLITS, check_sizes("synthetic_regression", sizes)))
        self.noise, self.seed = float(noise), int(seed)
        generator = np.random.default_rng([self.seed, WEIGHT_STREAM])
        self.weight = generator.standard_normal((self.num_features, self.num_outputs)) / math.sqrt(self.num_features)
        self.bias = generator.standard_normal(self.num_outputs)

    @property
    def fields(self):
        return {"x": ("f32", (self.num_features,)), "y": ("f32", (self.num_outputs,))}

    def _size(self, split):
        return self.sizes[split]

    def _rows(self, split):
        draws = split_generator(self.seed, split).standard_normal(
            (self.sizes[split], self.num_features + self.num_outputs)
        )
        x = draws[:, : self.num_features]
        y = x @ self.weight + self.bias + self.noise * draws[:, self.num_features :]
        return x.astype(np.float32), y.astype(np.float32)

    def _get(self, split, indices):
        x, y = self.cached(split, lambda: self._rows(split))
        return {"x": x[indices], "y": y[indices]}

    def memory_arrays(self, split):
        """The split's table (generated once, on first use): a batch is its rows."""
        split = self.examples_of(split)
        if self.sizes[split] == 0:
            return None
        x, y = self.cached(split, lambda: self._rows(split))
        return {"x": x, "y": y}, None


@register("synthetic_audio")
class SyntheticAudio(Source):
    """Labelled tones in noise: ``audio`` f32[length], ``label`` i64[].

    Class c owns the frequency band ``[f_c, f_c * sqrt(r))`` with ``f_c = 100 * r^c`` Hz and
    ``r = (0.4 * sample_rate / 100)^(1 / num_classes)`` (disjoint bands up to 0.4 sr).
    Row i draws ``u = default_rng([seed, split index]).random((n, 4))[i]``: label
    ``floor(u0 * C)``, frequency ``f_c * r^(u1 / 2)``, phase ``2 pi u2``, amplitude
    ``0.5 + 0.5 u3``; ``audio[n] = amp * sin(2 pi f n / sr + phase) + noise * e[n]`` with
    ``e ~ N(0, 1)`` from ``default_rng([seed, split index, i])``.

    With ``channels = C > 1`` the field is ``audio`` f32[length, C]: channel 0 is the mono
    signal above; channel c >= 1 is ``g_c * tone + noise * e_c`` where
    ``default_rng([seed, split index, i, c])`` draws ``g_c ~ U[0.5, 1)`` then ``e_c``
    (the same tone at another level, independent noise: a stereo image).
    """

    def __init__(
        self,
        sample_rate: int = 8000,
        length: int = 2000,
        num_classes: int = 4,
        sizes=(1000, 200, 200),
        seed: int = 0,
        noise: float = 0.1,
        channels: int = 1,
    ):
        super().__init__()
        checks.check_positive("synthetic_audio", "channels", channels)
        checks.check_positive("synthetic_audio", "sample_rate", sample_rate)
        checks.check_positive("synthetic_audio", "length", length)
        checks.check_positive("synthetic_audio", "num_classes", num_classes)
        checks.check_non_negative("synthetic_audio", "noise", noise)
        if sample_rate * 0.4 <= 100:
            raise ValueError(f"synthetic_audio: sample_rate must exceed 250 Hz, got {sample_rate}")
        self.sample_rate, self.length, self.num_classes = int(sample_rate), int(length), int(num_classes)
        self.sizes = dict(zip(SPLITS, check_sizes("synthetic_audio", sizes)))
        self.seed, self.noise, self.channels = int(seed), float(noise), int(channels)
        self.ratio = (0.4 * self.sample_rate / 100.0) ** (1.0 / self.num_classes)

    @property
    def fields(self):
        return {"audio": ("f32", audio_shape(self.length, self.channels)), "label": ("i64", ())}

    def _size(self, split):
        return self.sizes[split]

    def _rows(self, split):
        draws = split_generator(self.seed, split).random((self.sizes[split], 4))
        label = np.minimum((draws[:, 0] * self.num_classes).astype(np.int64), self.num_classes - 1)
        frequency = 100.0 * self.ratio ** (label + 0.5 * draws[:, 1])
        return label, frequency, 2 * np.pi * draws[:, 2], 0.5 + 0.5 * draws[:, 3]

    def _get(self, split, indices):
        label, frequency, phase, amplitude = self.cached(split, lambda: self._rows(split))
        time = np.arange(self.length) / self.sample_rate
        tone = amplitude[indices, None] * np.sin(2 * np.pi * frequency[indices, None] * time + phase[indices, None])
        noise = np.stack([split_generator(self.seed, split, index).standard_normal(self.length) for index in indices])
        audio = tone + self.noise * noise.reshape(len(indices), self.length)
        if self.channels > 1:
            audio = np.stack([audio] + [self._channel(split, indices, tone, c) for c in range(1, self.channels)], -1)
        return {"audio": audio.astype(np.float32), "label": label[indices]}

    def field_values(self, split, name):
        if name == "label":  # without rendering the audio
            return self.cached(split, lambda: self._rows(split))[0]
        return super().field_values(split, name)

    def _channel(self, split, indices, tone, channel):
        """Channel ``c >= 1``: ``g_c * tone + noise * e_c`` from ``default_rng([seed, split, i, c])``."""
        rows = []
        for row, index in enumerate(indices):
            generator = split_generator(self.seed, split, index, channel)
            gain = generator.uniform(0.5, 1.0)
            rows.append(gain * tone[row] + self.noise * generator.standard_normal(self.length))
        return np.stack(rows) if rows else np.zeros((0, self.length))


def audio_shape(length: int, channels: int) -> tuple[int, ...]:
    """Per-example shape of an audio field: ``(length,)`` for mono, ``(length, channels)``."""
    return (int(length),) if channels == 1 else (int(length), int(channels))


def read_wav(path: str, mix: bool = True) -> tuple[int, np.ndarray]:
    """``(sample_rate, float64 samples in [-1, 1])`` via scipy.io.wavfile: ``[n]`` mono
    (several channels averaged) with ``mix``, else ``[n, channels]`` (mono files: ``[n, 1]``).

    Integer PCM is scaled by its full range (int16 / 32768, int32 / 2^31, uint8 centred at
    128).
    """
    from scipy.io import wavfile

    sample_rate, samples = wavfile.read(path)
    if samples.dtype.kind == "u":
        samples = (samples.astype(np.float64) - 128.0) / 128.0
    elif samples.dtype.kind == "i":
        samples = samples.astype(np.float64) / float(2 ** (8 * samples.dtype.itemsize - 1))
    samples = np.asarray(samples, dtype=np.float64)
    if not mix:
        return int(sample_rate), samples if samples.ndim == 2 else samples[:, None]
    return int(sample_rate), samples.mean(axis=1) if samples.ndim == 2 else samples


@register("wav_folder")
class WavFolder(Source):
    """Class sub-folders of ``.wav`` files: ``audio`` f32[length], ``label`` i64[].

    Labels are the sub-folder names in sorted order (``self.classes``); files are read on
    demand, mixed to mono, cut or zero-padded at the end to ``length``. With ``channels =
    C > 1`` the field is ``audio`` f32[length, C]: a file with C channels keeps them, a mono
    file is copied to every channel, any other count is an error naming the file. The split is
    stratified by class with ``seeded_split``. ``sample_rate``, when given, must match every
    file (no resampling).
    """

    def __init__(
        self,
        path,
        length: int,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        seed: int = 0,
        sample_rate: int | None = None,
        channels: int = 1,
    ):
        super().__init__()
        path = os.fspath(path)
        checks.check_positive("wav_folder", "length", length)
        checks.check_positive("wav_folder", "channels", channels)
        self.channels = int(channels)
        if not os.path.isdir(path):
            raise ValueError(f"wav_folder: no such directory: {path}")
        self.length, self.sample_rate = int(length), sample_rate
        self.classes = sorted(name for name in os.listdir(path) if os.path.isdir(os.path.join(path, name)))
        files, labels = [], []
        for label, name in enumerate(self.classes):
            folder = os.path.join(path, name)
            for file in sorted(entry for entry in os.listdir(folder) if entry.lower().endswith(".wav")):
                files.append(os.path.join(folder, file))
                labels.append(label)
        if not files:
            raise ValueError(f"wav_folder: {path} has no class sub-folders with .wav files")
        self.files, self.labels = files, np.asarray(labels, dtype=np.int64)
        self.selections = seeded_split(len(files), val_fraction, test_fraction, seed, self.labels)

    @property
    def fields(self):
        return {"audio": ("f32", audio_shape(self.length, self.channels)), "label": ("i64", ())}

    def _size(self, split):
        return len(self.selections[split])

    def _load(self, file):
        sample_rate, samples = read_wav(file, mix=self.channels == 1)
        if self.sample_rate is not None and sample_rate != self.sample_rate:
            raise ValueError(f"wav_folder: {file} has sample rate {sample_rate}, expected {self.sample_rate}")
        if self.channels > 1:
            if samples.shape[1] == 1:
                samples = np.repeat(samples, self.channels, axis=1)
            elif samples.shape[1] != self.channels:
                raise ValueError(f"wav_folder: {file} has {samples.shape[1]} channels, expected {self.channels} (or 1)")
        audio = np.zeros(audio_shape(self.length, self.channels))
        audio[: min(self.length, len(samples))] = samples[: self.length]
        return audio

    def field_values(self, split, name):
        if name == "label":  # without reading the files
            return self.labels[self.selections[split]]
        return super().field_values(split, name)

    def _get(self, split, indices):
        rows = self.selections[split][indices]
        audio = (
            np.stack([self._load(self.files[row]) for row in rows])
            if len(rows)
            else np.zeros((0,) + audio_shape(self.length, self.channels))
        )
        return {"audio": audio, "label": self.labels[rows]}
