"""Synthetic k-sinusoid data (``ksin``): parameters ``[f_1..f_k, a_1..a_k]`` and the signal
they synthesise. COMPONENTS.md, "Synthetic k-sinusoid data"."""

from __future__ import annotations

import numpy as np
from scipy import special

from specc.runtime import checks
from specc.runtime.data.sources import SPLITS, Source, check_sizes, check_split_seeds, register, split_generator

SHIFT_STD = 1.0 / 3.0
SHIFT_MEANS = {"train": -1.0 / 3.0, "val": -1.0 / 3.0, "test": 1.0 / 3.0}


def ksin_signal(params, signal_length: int, break_symmetry: bool = False) -> np.ndarray:
    """Synthesise signals from parameters: [..., 2k] -> [..., L] float32 (computed in float64).

    ``w_i = pi * (f_i + 1) / 2`` rad/sample; with ``break_symmetry``
    ``w_i <- i * pi / k + w_i / k`` (i = 0..k-1); ``amp_i = (a_i + 1) / 2``;
    ``x[n] = sum_i amp_i * sin(w_i * n)``, n = 0..L-1.
    """
    params = np.asarray(params, dtype=np.float64)
    checks.check_min_rank("ksin_signal", "params", params.shape, 1)
    checks.check_divisible("ksin_signal", "the last axis of params", params.shape[-1], "2", 2)
    checks.check_positive("ksin_signal", "signal_length", signal_length)
    k = params.shape[-1] // 2
    angular = np.pi * (params[..., :k] + 1.0) / 2.0
    if break_symmetry:
        angular = np.arange(k) * np.pi / k + angular / k
    amplitude = (params[..., k:] + 1.0) / 2.0
    phases = angular[..., None] * np.arange(signal_length)
    return np.einsum("...k,...kn->...n", amplitude, np.sin(phases)).astype(np.float32)


def truncated_normal(uniform, mean: float, std: float, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Inverse-CDF draw of a normal truncated to [low, high] from uniforms in [0, 1)."""
    lower = special.ndtr((low - mean) / std)
    upper = special.ndtr((high - mean) / std)
    return np.clip(mean + std * special.ndtri(lower + uniform * (upper - lower)), low, high)


@register("ksin")
class KSin(Source):
    """k-sinusoid parameter estimation data: fields ``params`` f32[2k], ``signal`` f32[L].

    Row i of a split comes from row i of ``default_rng([seed, split index]).random((n, 2k))``,
    or, with ``split_seeds = (s_train, s_val, s_test)``, of
    ``default_rng(s_split).random((n, 2k))`` (``seed`` is then unused); row-major, so it does
    not depend on n: ``f = 2u - 1`` (or, with
    ``shift_test_distribution``, a normal with std 1/3 and mean -1/3 for train / val,
    +1/3 for test, truncated to [-1, 1] by inverse CDF), ``a = 2u - 1``; ``sort_frequencies``
    sorts the f's ascending, amplitudes keep their pairing. Parameters are stored in
    float32 and the signal is ``ksin_signal(params)``.
    """

    def __init__(
        self,
        k: int,
        signal_length: int,
        sizes=(100_000, 10_000, 10_000),
        seed: int = 0,
        sort_frequencies: bool = False,
        break_symmetry: bool = False,
        shift_test_distribution: bool = False,
        split_seeds=None,
    ):
        super().__init__()
        checks.check_positive("ksin", "k", k)
        checks.check_positive("ksin", "signal_length", signal_length)
        if shift_test_distribution and break_symmetry:
            raise ValueError("ksin: shift_test_distribution cannot be combined with break_symmetry")
        self.k, self.signal_length, self.seed = int(k), int(signal_length), int(seed)
        self.sizes = dict(zip(SPLITS, check_sizes("ksin", sizes)))
        self.split_seeds = check_split_seeds("ksin", split_seeds)
        self.sort_frequencies = bool(sort_frequencies)
        self.break_symmetry = bool(break_symmetry)
        self.shift_test_distribution = bool(shift_test_distribution)

    @property
    def fields(self):
        return {"params": ("f32", (2 * self.k,)), "signal": ("f32", (self.signal_length,))}

    def _size(self, split):
        return self.sizes[split]

    def parameters(self, split: str) -> np.ndarray:
        """All parameters of a split, [n, 2k] float32 (generated once, on first use)."""
        return self.cached(("params", split), lambda: self._generate(split))

    def generator(self, split: str) -> np.random.Generator:
        """``default_rng(split_seeds[split index])`` when given, else ``split_generator(seed, split)``."""
        if self.split_seeds is None:
            return split_generator(self.seed, split)
        return np.random.default_rng(self.split_seeds[SPLITS.index(split)])

    def _generate(self, split):
        uniform = self.generator(split).random((self.sizes[split], 2 * self.k))
        if self.shift_test_distribution:
            frequencies = truncated_normal(uniform[:, : self.k], SHIFT_MEANS[split], SHIFT_STD)
        else:
            frequencies = 2.0 * uniform[:, : self.k] - 1.0
        amplitudes = 2.0 * uniform[:, self.k :] - 1.0
        if self.sort_frequencies:
            order = np.argsort(frequencies, axis=1, kind="stable")
            frequencies = np.take_along_axis(frequencies, order, axis=1)
            amplitudes = np.take_along_axis(amplitudes, order, axis=1)
        return np.concatenate([frequencies, amplitudes], axis=1).astype(np.float32)

    def _get(self, split, indices):
        params = self.parameters(split)[indices]
        return {"params": params, "signal": ksin_signal(params, self.signal_length, self.break_symmetry)}
