"""Synthetic multi-modal token sequences for expected-value ("meaningful") losses.

Vocabulary layout (COMPONENTS.md "Expected-value losses"): special ids PAD, BOS, EOS, SEP,
MISS = 0..4, then the image range, the scalar range and ``spectrum_groups`` spectrum
ranges (all sharing one spectrum codebook), each ``[lo, lo + V)``.

A sequence is ``BOS, image tokens, SEP, scalar tokens, SEP, spectrum tokens, EOS`` then PAD
up to ``sequence_length``; spectrum token j belongs to group ``j * G // n_spectrum``.
Tokens come from the codebooks so that their continuous values carry structure:

- image: a random walk ``z_0 ~ N(0, I_D)``, ``z_{j+1} = z_j + 0.3 * e_j``; token j is the
  image-codebook row nearest to ``z_j`` (Euclidean);
- scalar: one value ``s ~ N(0, 1)`` per sequence; token j is the bin centre nearest to
  ``s + 0.2 * e_j``, replaced by MISS with probability ``missing``;
- spectrum: a random walk as for the image, on the spectrum codebook.

Besides ``tokens``, every position has a modality id ``types`` (i64, the seed's
``n_types`` embedding input; ``TYPES``): 0 special (PAD, BOS, EOS, SEP), 1 image, 2 scalar
(also where the value is MISS), ``3 + g`` spectrum group g (3 with one group); so a type
embedding needs ``n_types >= 3 + spectrum_groups``. ``attn_mask`` (bool) is False exactly
on PAD positions.

So neighbouring tokens are close in codebook space and a model's expected codebook vector
is a meaningful prediction. Row i of a split uses row i of
``default_rng([seed, split index, 0]).standard_normal((n, M))`` (normals) and of
``default_rng([seed, split index, 1]).random((n, n_scalar))`` (MISS draws).
"""

from __future__ import annotations

import os

import numpy as np
from scipy import special

from specc.runtime import checks
from specc.runtime.data.sources import SPLITS, Source, check_sizes, register, split_generator

SPECIAL = {"PAD": 0, "BOS": 1, "EOS": 2, "SEP": 3, "MISS": 4}
CODEBOOK_KEYS = {
    "image": ("image_codebook", "centroids", "codebook", "centers"),
    "scalar": ("scalar_centers", "bin_centers", "centers", "quantile_centers"),
    "spectrum": ("spectrum_codebook", "centroids", "codebook", "centers"),
}
WALK_STEP, SCALAR_JITTER = 0.3, 0.2
TYPES = {"special": 0, "image": 1, "scalar": 2, "spectrum": 3}  # spectrum group g: 3 + g


PICKLES = (".joblib", ".pkl", ".pickle")  # files whose loading runs code stored in them


def _load_array(path: str, keys, who: str = "synthetic_tokens", trusted: bool = False) -> np.ndarray:
    """The array of a codebook file: ``.npy``; ``.npz`` (the first of ``keys`` it holds, or its
    only array); a pickle (``.joblib``, ``.pkl``: only when ``trusted``, as loading runs code
    stored in the file) holding an array, a mapping with one of ``keys``, or an object with
    one of ``keys`` (or scikit-learn's ``cluster_centers_``) as an attribute. ``who`` names
    the source or loss term in messages."""
    if not os.path.exists(path):
        raise ValueError(f"{who}: no such codebook file: {path}")
    if path.endswith(".npy"):
        return np.load(path)
    if path.endswith(PICKLES):
        return _unpickled(path, keys, who, trusted)
    with np.load(path) as contents:
        for key in keys:
            if key in contents.files:
                return contents[key]
        if len(contents.files) == 1:
            return contents[contents.files[0]]
        found = ", ".join(contents.files)
    raise ValueError(f"{who}: {path} has none of the keys {', '.join(keys)} (it has {found})")


def _unpickled(path: str, keys, who: str, trusted: bool) -> np.ndarray:
    if not trusted:
        raise ValueError(
            f"{who}: {path} is a pickle: loading it runs code stored in the file; the spec must say "
            "`trusted = true` to load it"
        )
    import joblib  # scikit-learn's dependency: reads .joblib and plain pickles

    stored = joblib.load(path)
    if isinstance(stored, dict):
        stored = next((stored[key] for key in keys if key in stored), stored)
    elif not isinstance(stored, np.ndarray):
        names = tuple(keys) + ("cluster_centers_",)
        stored = next((getattr(stored, name) for name in names if hasattr(stored, name)), stored)
    if not isinstance(stored, np.ndarray):
        raise ValueError(
            f"{who}: {path} holds an object of type {type(stored).__name__}: not an array, nor a mapping or "
            f"object with one of {', '.join(keys)}"
        )
    return stored


def load_codebooks(codebooks) -> dict[str, np.ndarray]:
    """Codebooks from one ``.npz`` (keys ``image_codebook``, ``scalar_centers``,
    ``spectrum_codebook``) or a mapping ``{"image": path, "scalar": path, "spectrum": path}``
    of ``.npy`` / ``.npz`` files."""
    if isinstance(codebooks, (str, os.PathLike)):
        codebooks = {modality: os.fspath(codebooks) for modality in CODEBOOK_KEYS}
        keys = {modality: names[:1] for modality, names in CODEBOOK_KEYS.items()}
    else:
        keys = CODEBOOK_KEYS
    missing = sorted(set(CODEBOOK_KEYS) - set(codebooks))
    if missing:
        raise ValueError(f"synthetic_tokens: codebooks lack {', '.join(missing)}")
    loaded = {
        modality: np.asarray(_load_array(os.fspath(codebooks[modality]), keys[modality]), dtype=np.float32)
        for modality in CODEBOOK_KEYS
    }
    for modality, rank in (("image", 2), ("scalar", 1), ("spectrum", 2)):
        checks.check_rank("synthetic_tokens", f"the {modality} codebook", loaded[modality].shape, rank)
    return loaded


def generate_codebooks(
    seed, image_vocabulary, scalar_vocabulary, spectrum_vocabulary, embedding_dim
) -> dict[str, np.ndarray]:
    """Image and spectrum codebooks ~ N(0, 1) from ``default_rng([seed, 11])`` / ``[seed, 12]``;
    scalar centres at the normal quantiles ``ndtri((j + 0.5) / V)``."""
    return {
        "image": np.random.default_rng([seed, 11])
        .standard_normal((image_vocabulary, embedding_dim))
        .astype(np.float32),
        "scalar": special.ndtri((np.arange(scalar_vocabulary) + 0.5) / scalar_vocabulary).astype(np.float32),
        "spectrum": np.random.default_rng([seed, 12])
        .standard_normal((spectrum_vocabulary, embedding_dim))
        .astype(np.float32),
    }


def _nearest(points: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """Index of the nearest codebook row for each point: [..., D] -> [...]."""
    if codebook.ndim == 1:
        return np.abs(points[..., None] - codebook).argmin(-1)
    # |p - c|^2 = |p|^2 - 2 p.c + |c|^2; |p|^2 does not change the argmin
    codebook = codebook.astype(np.float64)
    return ((codebook**2).sum(-1) - 2.0 * points @ codebook.T).argmin(-1)


@register("synthetic_tokens")
class SyntheticTokens(Source):
    """Token sequences ``tokens`` i64[sequence_length] over the layout in the module docstring,
    their modality ids ``types`` i64[sequence_length] and ``attn_mask`` bool[sequence_length].

    ``vocabulary`` gives the ranges (``{"image": (lo, V), "scalar": (lo, V), "spectrum":
    [(lo, V), ...], "special": SPECIAL, "size": total}``) and ``codebooks`` the float32
    arrays ``image`` [V, D], ``scalar`` [V], ``spectrum`` [V, D] the expected-value losses take.
    """

    def __init__(
        self,
        sequence_length: int = 64,
        image_tokens: int = 16,
        scalar_tokens: int = 8,
        spectrum_tokens: int = 16,
        image_vocabulary: int | None = None,
        scalar_vocabulary: int | None = None,
        spectrum_vocabulary: int | None = None,
        spectrum_groups: int = 1,
        embedding_dim: int = 4,
        missing: float = 0.1,
        codebooks=None,
        sizes=(1000, 200, 200),
        seed: int = 0,
    ):
        super().__init__()
        for name, value in (
            ("image_tokens", image_tokens),
            ("scalar_tokens", scalar_tokens),
            ("spectrum_tokens", spectrum_tokens),
        ):
            checks.check_non_negative("synthetic_tokens", name, value)
        checks.check_positive("synthetic_tokens", "spectrum_groups", spectrum_groups)
        checks.check_positive("synthetic_tokens", "embedding_dim", embedding_dim)
        checks.check_fraction("synthetic_tokens", "missing", missing)
        needed = image_tokens + scalar_tokens + spectrum_tokens + 4
        if sequence_length < needed:
            raise ValueError(
                f"synthetic_tokens: sequence_length = {sequence_length} is shorter than the {needed} tokens of a sequence"
            )
        self.sequence_length = int(sequence_length)
        self.counts = (int(image_tokens), int(scalar_tokens), int(spectrum_tokens))
        self.spectrum_groups, self.missing, self.seed = int(spectrum_groups), float(missing), int(seed)
        self.sizes = dict(zip(SPLITS, check_sizes("synthetic_tokens", sizes)))
        requested = {"image": image_vocabulary, "scalar": scalar_vocabulary, "spectrum": spectrum_vocabulary}
        if codebooks is None:
            vocabulary = {
                modality: requested[modality] or default
                for modality, default in (("image", 32), ("scalar", 16), ("spectrum", 32))
            }
            self.codebooks = generate_codebooks(
                self.seed, vocabulary["image"], vocabulary["scalar"], vocabulary["spectrum"], int(embedding_dim)
            )
        else:
            self.codebooks = load_codebooks(codebooks)
            for modality, size in requested.items():
                if size is not None and size != len(self.codebooks[modality]):
                    rows = len(self.codebooks[modality])
                    raise ValueError(
                        f"synthetic_tokens: {modality}_vocabulary = {size} but the {modality} codebook has {rows} rows"
                    )
        self.vocabulary = self._layout()

    def _layout(self):
        low = len(SPECIAL)
        layout = {"special": dict(SPECIAL)}
        for modality in ("image", "scalar"):
            layout[modality] = (low, len(self.codebooks[modality]))
            low += len(self.codebooks[modality])
        size = len(self.codebooks["spectrum"])
        layout["spectrum"] = [(low + group * size, size) for group in range(self.spectrum_groups)]
        layout["size"] = low + self.spectrum_groups * size
        return layout

    @property
    def fields(self):
        length = (self.sequence_length,)
        return {"tokens": ("i64", length), "types": ("i64", length), "attn_mask": ("bool", length)}

    def type_row(self) -> np.ndarray:
        """The modality id of each position (the same for every sequence): [sequence_length]."""
        image_count, scalar_count, spectrum_count = self.counts
        groups = np.arange(spectrum_count) * self.spectrum_groups // max(spectrum_count, 1)
        special = [TYPES["special"]]
        row = np.concatenate(
            [
                special,
                np.full(image_count, TYPES["image"]),
                special,
                np.full(scalar_count, TYPES["scalar"]),
                special,
                TYPES["spectrum"] + groups,
                special,
            ]
        )
        padding = np.full(self.sequence_length - len(row), TYPES["special"])
        return np.concatenate([row, padding]).astype(np.int64)

    def _size(self, split):
        return self.sizes[split]

    def _walk(self, normals: np.ndarray, steps: int, codebook: np.ndarray) -> np.ndarray:
        """Random walk ``z_j = z_0 + 0.3 * sum_{i<j} e_i`` -> nearest codebook indices [n, steps]."""
        dim = codebook.shape[1]
        start = normals[:, :dim]
        moves = normals[:, dim:].reshape(len(normals), steps, dim)
        offsets = np.cumsum(moves, axis=1) - moves  # exclusive cumulative sum
        return _nearest(start[:, None, :] + WALK_STEP * offsets, codebook)

    def _generate(self, split):
        count = self.sizes[split]
        image_count, scalar_count, spectrum_count = self.counts
        image_dim, spectrum_dim = self.codebooks["image"].shape[1], self.codebooks["spectrum"].shape[1]
        widths = [image_dim * (1 + image_count), 1 + scalar_count, spectrum_dim * (1 + spectrum_count)]
        normals = split_generator(self.seed, split, 0).standard_normal((count, sum(widths)))
        image_draws, scalar_draws, spectrum_draws = np.split(normals, np.cumsum(widths)[:-1], axis=1)
        image = self._walk(image_draws, image_count, self.codebooks["image"]) + self.vocabulary["image"][0]
        scalar = _nearest(scalar_draws[:, :1] + SCALAR_JITTER * scalar_draws[:, 1:], self.codebooks["scalar"])
        scalar = scalar + self.vocabulary["scalar"][0]
        absent = split_generator(self.seed, split, 1).random((count, scalar_count)) < self.missing
        scalar = np.where(absent, SPECIAL["MISS"], scalar)
        groups = np.arange(spectrum_count) * self.spectrum_groups // max(spectrum_count, 1)
        spectrum_low = np.asarray([low for low, _ in self.vocabulary["spectrum"]])[groups]
        spectrum = self._walk(spectrum_draws, spectrum_count, self.codebooks["spectrum"]) + spectrum_low
        column = lambda value: np.full((count, 1), SPECIAL[value])  # noqa: E731
        sequence = np.concatenate(
            [column("BOS"), image, column("SEP"), scalar, column("SEP"), spectrum, column("EOS")], 1
        )
        padding = np.full((count, self.sequence_length - sequence.shape[1]), SPECIAL["PAD"])
        return np.concatenate([sequence, padding], 1).astype(np.int64)

    def field_values(self, split, name):
        if name == "tokens":
            return self.cached(split, lambda: self._generate(split))
        return super().field_values(split, name)

    def _get(self, split, indices):
        tokens = self.cached(split, lambda: self._generate(split))[indices]
        types = np.broadcast_to(self.type_row(), tokens.shape)
        return {"tokens": tokens, "types": types, "attn_mask": tokens != SPECIAL["PAD"]}


def expected_value_term(
    source, modality: str, file: str | None = None, start: int | None = None, key: str | None = None,
    trusted: bool = False,
):
    """``(array, starts)`` of one expected-value loss term.

    ``array`` is the codebook ``[V, D]`` (or bin centres ``[V]``) as float32: loaded from
    ``file`` when given (``.npy``; ``.npz`` with the array ``key``, or by default the first of
    ``CODEBOOK_KEYS[modality]`` it holds; a ``.joblib`` / ``.pkl`` pickle only when
    ``trusted``, see :func:`_load_array`), else the data source's own codebook of ``modality``. ``starts`` are the first token ids
    of the term's ranges: ``(start,)`` when given, else the source's ranges of ``modality``
    (several for grouped spectra).
    """
    checks.check_choice("expected_value_term", "modality", modality, tuple(CODEBOOK_KEYS))
    if file is not None:
        keys = (key,) if key is not None else CODEBOOK_KEYS[modality]
        array = _load_array(file, keys, f"the {modality} codebook of the loss", trusted)
    else:
        codebooks = getattr(source, "codebooks", None)
        if codebooks is None:
            raise ValueError(
                f"expected_value_term: data source {type(source).__name__} has no codebooks; "
                f"give the {modality} codebook file"
            )
        array = codebooks[modality]
    if start is not None:
        starts = (int(start),)
    else:
        ranges = source.vocabulary[modality]
        ranges = ranges if isinstance(ranges, list) else [ranges]
        starts = tuple(int(low) for low, _ in ranges)
    return np.asarray(array, np.float32), starts
