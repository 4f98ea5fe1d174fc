"""Token streams: flat arrays of token ids on disk (nanoGPT's ``train.bin`` / ``val.bin``),
read through memory maps, served as windows of ``block_size + 1`` tokens.

Files: ``path`` is a folder; split s reads ``s.bin`` (raw ids of ``dtype``, nanoGPT's
layout) or ``s.npy`` (a 1-D integer array), or every ``*.bin`` / ``*.npy`` of a sub-folder
``s/`` in name order (shards: a window never crosses from one file into the next). Only
``train`` is required; a missing split has no windows.

Windows: a window is ``L = block_size + 1`` consecutive ids (the model reads the first
``block_size``, the language-model objective predicts the last ``block_size``).

- Training draws ``batch_size`` windows per batch, uniformly and with replacement among
  every start of every file (``0 .. n_f - L``), from the batch's own generator
  ``default_rng([seed, stream, epoch, batch index, 2])`` (``Loader.window_generator``):
  a batch is a pure function of (seed, epoch, batch index), so a resumed run draws the
  windows the uninterrupted run would have drawn, on every backend (the draw is numpy).
  An epoch is ``sum_f n_f // L`` batches' worth of windows: as many as fit end to end.
- Evaluation (``val``, ``test``, ``train_eval``; and ``train`` read in order) reads fixed
  windows: with ``eval_windows`` unset, every non-overlapping window ``[k L, (k + 1) L)`` of
  each file in order; with ``eval_windows = N``, N windows whose starts are drawn once from
  ``default_rng([seed, split index, 2])``, the same windows at every evaluation (nanoGPT's
  ``eval_iters`` as a fixed sample: losses of successive evaluations compare).
  ``train_eval`` (``eval { on_train = true }``) is the train files evaluated so: its
  ``eval_windows`` draw is keyed ``[seed, 0, 2]`` (train's index), which no training draw
  uses (those are ``[seed, 0, epoch, batch, 2]``). ``train`` itself keeps its size (the
  epoch's windows end to end), so training never changes with the option.

Vocabulary: ``vocab_size`` (or ``meta``, a JSON file ``{"vocab_size": N}``) bounds every
id: the stream is checked once at load. Pickle metadata (nanoGPT's ``meta.pkl``) is refused:
loading a pickle runs code from the file.
"""

from __future__ import annotations

import json
import os

import numpy as np

from specc.runtime import checks
from specc.runtime.data.sources import SPLITS, TRAIN_EVALUATION, Source, register, split_generator

STREAM_DTYPES = ("uint8", "uint16", "uint32", "int32", "int64")
WINDOW_STREAM = 2  # last entry of the window draws' generator keys
EXTENSIONS = (".bin", ".npy")
PICKLE_EXTENSIONS = (".pkl", ".pickle")
CHUNK = 1 << 24  # ids compared at once by the vocabulary check


def read_metadata(path: str) -> int:
    """``vocab_size`` of a JSON metadata file ``{"vocab_size": N}``; ValueError naming the file."""
    if path.endswith(PICKLE_EXTENSIONS):
        raise ValueError(
            f"token_stream: {path} is a pickle, which is not read (loading one runs code from the file); "
            'write its vocabulary size as JSON: {"vocab_size": N}'
        )
    try:
        with open(path, encoding="utf-8") as handle:
            contents = json.load(handle)
    except FileNotFoundError:
        raise ValueError(f"token_stream: no such metadata file: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"token_stream: {path} is not a JSON file: {error}") from None
    size = contents.get("vocab_size") if isinstance(contents, dict) else None
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f'token_stream: {path} has no "vocab_size": a positive integer')
    return size


def open_stream(path: str, dtype: str) -> np.ndarray:
    """A read-only memory map of one file of ids: ``.bin`` (raw ``dtype``) or ``.npy`` (1-D,
    integer); ValueError naming the file."""
    try:
        if path.endswith(".npy"):
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        else:
            size = os.path.getsize(path)
            itemsize = np.dtype(dtype).itemsize
            if size % itemsize:
                raise ValueError(f"its {size} bytes are not a whole number of {dtype} ids")
            array = np.memmap(path, dtype=dtype, mode="r") if size else np.zeros(0, dtype)
    except (OSError, ValueError) as error:
        raise ValueError(f"token_stream: {path} cannot be read as token ids: {error}") from None
    if array.ndim != 1 or array.dtype.kind not in "iu":
        shown = f"{array.dtype}{list(array.shape)}"
        raise ValueError(f"token_stream: {path} holds {shown}; a token stream is a 1-D integer array")
    return array


def split_files(path: str, split: str) -> list[str]:
    """The files of one split: ``<split>.bin`` / ``<split>.npy``, or the ``.bin`` / ``.npy``
    files of ``<split>/`` in name order (empty when the split has none)."""
    found = [os.path.join(path, split + extension) for extension in EXTENSIONS]
    found = [name for name in found if os.path.isfile(name)]
    folder = os.path.join(path, split)
    if os.path.isdir(folder):
        found += [os.path.join(folder, name) for name in sorted(os.listdir(folder)) if name.endswith(EXTENSIONS)]
    return found


@register("token_stream")
class TokenStream(Source):
    """Windows ``tokens`` i64[block_size + 1] of the token files under ``path`` (module
    docstring): random with replacement for training (``draw``), fixed for evaluation."""

    def __init__(
        self,
        path: str,
        block_size: int,
        dtype: str = "uint16",
        vocab_size: int | None = None,
        meta: str | None = None,
        eval_windows: int | None = None,
        seed: int = 0,
    ):
        super().__init__()
        checks.check_positive("token_stream", "block_size", block_size)
        checks.check_choice("token_stream", "dtype", dtype, STREAM_DTYPES)
        if not os.path.isdir(path):
            raise ValueError(f"token_stream: no such folder: {path}")
        self.path, self.window, self.seed = path, int(block_size) + 1, int(seed)
        self.eval_windows = None if eval_windows is None else int(eval_windows)
        self.files = {split: split_files(path, split) for split in SPLITS}
        if not self.files["train"]:
            raise ValueError(f"token_stream: {path} has no train.bin, train.npy or train/ folder of token files")
        self.streams = {split: [open_stream(name, dtype) for name in self.files[split]] for split in SPLITS}
        self.vocab_size = self._vocabulary(vocab_size, meta)
        for split in SPLITS:
            self._check_split(split)

    @property
    def description(self) -> str:
        return f"token_stream: {self.path}"

    @property
    def fields(self):
        return {"tokens": ("i64", (self.window,))}

    def _vocabulary(self, vocab_size, meta) -> int | None:
        if meta is None:
            return None if vocab_size is None else int(vocab_size)
        stated = read_metadata(meta)
        if vocab_size is not None and int(vocab_size) != stated:
            raise ValueError(f"token_stream: vocab_size = {vocab_size} but {meta} gives {stated}")
        return stated

    def _check_split(self, split: str) -> None:
        for name, stream in zip(self.files[split], self.streams[split]):
            if split == "train" and len(stream) < self.window and len(self.files[split]) == 1:
                raise ValueError(
                    f"token_stream: {name} holds {len(stream)} tokens, fewer than block_size + 1 = {self.window}"
                )
            if self.vocab_size is None:
                continue
            for start in range(0, len(stream), CHUNK):
                chunk = np.asarray(stream[start : start + CHUNK])
                outside = np.flatnonzero((chunk < 0) | (chunk >= self.vocab_size))
                if outside.size:
                    offset = start + int(outside[0])
                    raise ValueError(
                        f"token_stream: {name} holds token {int(stream[offset])} at offset {offset}, outside "
                        f"[0, {self.vocab_size}) for vocab_size = {self.vocab_size}"
                    )
        if split == "train" and not self.starts_count(split):
            raise ValueError(f"token_stream: no train file holds block_size + 1 = {self.window} tokens")

    def starts_count(self, split: str) -> int:
        """How many windows start in ``split``: ``sum_f max(0, n_f - L + 1)``."""
        return sum(max(0, len(stream) - self.window + 1) for stream in self.streams[split])

    def _windows(self, split: str, starts: np.ndarray) -> np.ndarray:
        """The windows at global start numbers ``starts`` (counting every start of every file
        in order): ``[len(starts), L]`` int64."""
        counts = np.asarray([max(0, len(stream) - self.window + 1) for stream in self.streams[split]])
        bounds = np.cumsum(counts)
        starts = np.asarray(starts, dtype=np.int64)
        rows = np.empty((len(starts), self.window), dtype=np.int64)
        files = np.searchsorted(bounds, starts, side="right")
        for file in np.unique(files):
            chosen = files == file
            offsets = starts[chosen] - (bounds[file] - counts[file])
            rows[chosen] = self.streams[split][file][offsets[:, None] + np.arange(self.window)]
        return rows

    def examples_of(self, split: str) -> str:
        """Every split serves its own windows: ``train_eval`` its fixed windows of the train
        files (``fixed_starts``), not the epoch's windows of ``train``."""
        return split

    @staticmethod
    def files_of(split: str) -> str:
        """The split whose files ``split`` reads (``train_eval``: the train files)."""
        return "train" if split == TRAIN_EVALUATION else split

    def fixed_starts(self, split: str) -> np.ndarray:
        """Global start numbers of the fixed windows of ``split`` (module docstring)."""
        files = self.files_of(split)

        def build():
            if self.eval_windows is not None and split != "train":
                total = self.starts_count(files)
                if total == 0:
                    return np.zeros(0, dtype=np.int64)
                return split_generator(self.seed, files, WINDOW_STREAM).integers(0, total, self.eval_windows)
            starts, first = [], 0
            for stream in self.streams[files]:
                count = max(0, len(stream) - self.window + 1)
                starts.append(first + np.arange(len(stream) // self.window) * self.window)
                first += count
            return np.concatenate(starts).astype(np.int64) if starts else np.zeros(0, dtype=np.int64)

        return self.cached(("starts", split), build)

    def _size(self, split: str) -> int:
        return len(self.fixed_starts(split))

    def _get(self, split: str, indices: np.ndarray) -> dict[str, np.ndarray]:
        return {"tokens": self._windows(self.files_of(split), self.fixed_starts(split)[indices])}

    def draw(self, split: str, count: int, generator: np.random.Generator) -> dict[str, np.ndarray]:
        """``count`` windows of ``split`` with starts uniform over every start of every file,
        with replacement: ``generator.integers(0, starts_count, count)``."""
        starts = generator.integers(0, self.starts_count(split), int(count))
        return {"tokens": self._windows(split, starts)}

    def label_values(self, split: str, name: str) -> np.ndarray:
        """Every id of ``split`` (its files end to end): the label check reads the stream once,
        not each window, and reads the ids no fixed window covers too."""
        streams = self.streams[split]
        if len(streams) == 1:
            return streams[0]
        return np.concatenate(streams) if streams else np.zeros(0, dtype=np.int64)
