"""Data sources: fields and dtypes, formulas, purity of items, file round trips, check_fields."""

from __future__ import annotations

import math
import wave

import numpy as np
import pytest

from specc.runtime.data import SOURCES, check_fields, ksin_signal, make_source

SMALL = (40, 12, 10)


def build(kind, tmp_path):
    """A small instance of every registered source (file sources on files written here)."""
    if kind == "npz":
        np.savez(tmp_path / "data.npz", x=np.ones((30, 3)), y=np.arange(30))
        return make_source("npz", path=str(tmp_path / "data.npz"))
    if kind == "npy":
        np.save(tmp_path / "x.npy", np.ones((30, 2, 2), dtype=np.float32))
        return make_source("npy", path=str(tmp_path))
    if kind == "hdf5":
        import h5py

        with h5py.File(tmp_path / "data.h5", "w") as handle:
            handle["x"] = np.ones((30, 5))
        return make_source("hdf5", path=str(tmp_path / "data.h5"))
    if kind == "token_stream":
        for split, count in zip(("train", "val", "test"), SMALL):
            np.arange(count * 3, dtype=np.uint16).tofile(tmp_path / f"{split}.bin")
        return make_source("token_stream", path=str(tmp_path), block_size=2)
    if kind == "wav_folder":
        for label in ("a", "b"):
            for index in range(5):
                write_wav(tmp_path / label / f"{index}.wav", np.zeros(100, dtype=np.int16), 8000)
        return make_source("wav_folder", path=str(tmp_path), length=80)
    if kind == "python":  # a class of the user's (runtime/data/user_source.py; tests/data/test_user_source.py)
        (tmp_path / "points.py").write_text(
            "import numpy as np\n\n\nclass Points:\n    def __init__(self, split, sizes):\n"
            "        self.count = sizes[['train', 'val', 'test'].index(split)]\n\n"
            "    def __len__(self):\n        return self.count\n\n"
            "    def __getitem__(self, index):\n        return {'x': np.full(3, index / 2), 'y': index % 4}\n",
            encoding="utf-8",
        )
        return make_source("python", file=str(tmp_path / "points.py"), name="Points", arguments={"sizes": SMALL})
    arguments = {
        "ksin": {"k": 3, "signal_length": 64, "sizes": SMALL},
        "digits": {},
        "synthetic_regression": {"num_features": 5, "num_outputs": 2, "sizes": SMALL},
        "synthetic_audio": {"sample_rate": 4000, "length": 256, "num_classes": 3, "sizes": SMALL},
        "synthetic_tokens": {"sequence_length": 48, "sizes": SMALL},
    }[kind]
    return make_source(kind, **arguments)


def write_wav(path, samples, sample_rate, channels=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(channels)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(np.asarray(samples, dtype="<i2").tobytes())


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_every_source_serves_its_declared_fields(kind, tmp_path):
    source = build(kind, tmp_path)
    for split in ("train", "val", "test"):
        size = source.size(split)
        assert size > 0, split
        indices = np.arange(min(size, 4))[::-1]
        batch = source.get(split, indices)
        assert set(batch) == set(source.fields)
        for name, (dtype, shape) in source.fields.items():
            assert batch[name].dtype == {"f32": np.float32, "i64": np.int64, "bool": np.bool_}[dtype], name
            assert batch[name].shape == (len(indices), *shape), name
        # an item is the same whatever batch it is fetched in
        single = source.get(split, indices[1:2])
        for name in source.fields:
            np.testing.assert_array_equal(single[name][0], batch[name][1])


def test_make_source_rejects_unknown_kind():
    with pytest.raises(ValueError, match="make_source: kind must be one of 'digits', .*got 'mnist'"):
        make_source("mnist")


def test_out_of_range_index_and_bad_split():
    source = make_source("synthetic_regression", num_features=2, sizes=(5, 5, 5))
    with pytest.raises(ValueError, match="index 5 is out of range for the val split of 5 examples"):
        source.get("val", [0, 5])
    with pytest.raises(ValueError, match="split must be one of 'train', 'val', 'test', 'train_eval', got 'dev'"):
        source.size("dev")


# ----------------------------------------------------------------------------- ksin
def test_ksin_signal_matches_direct_sum():
    params = np.array([[0.5, -0.25, 0.1, -0.9]])
    signal = ksin_signal(params, 16)
    for n in range(16):
        expected = sum(
            (params[0, 2 + i] + 1) / 2 * math.sin(math.pi * (params[0, i] + 1) / 2 * n) for i in range(2)
        )
        assert signal[0, n] == pytest.approx(expected, abs=1e-6)
    broken = ksin_signal(params, 16, break_symmetry=True)
    for n in range(16):
        angular = [i * math.pi / 2 + math.pi * (params[0, i] + 1) / 2 / 2 for i in range(2)]
        expected = sum((params[0, 2 + i] + 1) / 2 * math.sin(angular[i] * n) for i in range(2))
        assert broken[0, n] == pytest.approx(expected, abs=1e-6)


def test_ksin_items_are_functions_of_split_seed_and_index():
    small = make_source("ksin", k=2, signal_length=32, sizes=(10, 5, 5), seed=3)
    large = make_source("ksin", k=2, signal_length=32, sizes=(100, 5, 5), seed=3)
    np.testing.assert_array_equal(
        small.get("train", np.arange(10))["params"], large.get("train", np.arange(10))["params"]
    )
    other_seed = make_source("ksin", k=2, signal_length=32, sizes=(10, 5, 5), seed=4)
    assert not np.array_equal(small.get("train", [0])["params"], other_seed.get("train", [0])["params"])
    assert not np.array_equal(small.get("train", [0])["params"], small.get("val", [0])["params"])
    batch = small.get("train", np.arange(10))
    np.testing.assert_array_equal(batch["signal"], ksin_signal(batch["params"], 32))
    assert np.all(np.abs(batch["params"]) <= 1)


def test_ksin_sorting_and_shifted_test_distribution():
    sorted_source = make_source("ksin", k=4, signal_length=8, sizes=(200, 10, 10), sort_frequencies=True)
    unsorted = make_source("ksin", k=4, signal_length=8, sizes=(200, 10, 10))
    params, raw = (
        sorted_source.get("train", np.arange(200))["params"],
        unsorted.get("train", np.arange(200))["params"],
    )
    assert np.all(np.diff(params[:, :4], axis=1) >= 0)
    order = np.argsort(raw[:, :4], axis=1, kind="stable")
    np.testing.assert_array_equal(params[:, 4:], np.take_along_axis(raw[:, 4:], order, axis=1))  # pairs kept
    shifted = make_source("ksin", k=4, signal_length=8, sizes=(2000, 10, 2000), shift_test_distribution=True)
    train, test = (
        shifted.get("train", np.arange(2000))["params"],
        shifted.get("test", np.arange(2000))["params"],
    )
    assert np.all(np.abs(train) <= 1) and np.all(np.abs(test) <= 1)
    assert train[:, :4].mean() < -0.2 and test[:, :4].mean() > 0.2  # means -1/3 and +1/3, truncated
    assert abs(train[:, 4:].mean()) < 0.05  # amplitudes stay uniform


def test_ksin_shift_with_break_symmetry_is_an_error():
    with pytest.raises(
        ValueError, match="ksin: shift_test_distribution cannot be combined with break_symmetry"
    ):
        make_source("ksin", k=2, signal_length=8, shift_test_distribution=True, break_symmetry=True)


# ----------------------------------------------------------------------------- bundled and generated
def test_digits_loads_offline_with_a_stratified_split():
    source = make_source("digits", val_fraction=0.15, test_fraction=0.15, seed=0)
    sizes = [source.size(split) for split in ("train", "val", "test")]
    assert sum(sizes) == 1797 and abs(sizes[1] - 0.15 * 1797) < 12
    batch = source.get("test", np.arange(sizes[2]))
    assert batch["x"].min() >= 0 and batch["x"].max() <= 1
    assert set(np.unique(batch["y"])) == set(range(10))  # every class in every split


def test_synthetic_regression_follows_its_linear_model():
    source = make_source(
        "synthetic_regression", num_features=3, num_outputs=1, sizes=(500, 10, 10), noise=0.0
    )
    batch = source.get("train", np.arange(500))
    design = np.concatenate([batch["x"], np.ones((500, 1))], axis=1)
    _, residual, *_ = np.linalg.lstsq(design, batch["y"], rcond=None)
    assert residual[0] < 1e-8  # noise-free: exactly linear


def test_synthetic_audio_classes_are_separable_by_frequency():
    source = make_source(
        "synthetic_audio", sample_rate=4000, length=512, num_classes=3, sizes=(60, 5, 5), noise=0.05
    )
    batch = source.get("train", np.arange(60))
    peak = np.abs(np.fft.rfft(batch["audio"], axis=1)).argmax(axis=1)
    for low, high in zip(range(3), range(1, 3)):
        assert peak[batch["label"] == low].max() < peak[batch["label"] == high].min()


def test_synthetic_tokens_layout_and_codebook_structure(tmp_path):
    source = make_source(
        "synthetic_tokens",
        sequence_length=50,
        image_tokens=10,
        scalar_tokens=5,
        spectrum_tokens=8,
        spectrum_groups=2,
        sizes=(200, 4, 4),
    )
    layout = source.vocabulary
    tokens = source.get("train", np.arange(200))["tokens"]
    assert tokens.max() < layout["size"] and tokens[:, 0].tolist() == [1] * 200
    image_low, image_size = layout["image"]
    image = tokens[:, 1:11]
    assert np.all((image >= image_low) & (image < image_low + image_size))
    assert np.all(tokens[:, 27:] == 0)  # EOS at 26, PAD after it
    (first_low, size), (second_low, _) = layout["spectrum"]
    assert np.all((tokens[:, 18:22] >= first_low) & (tokens[:, 18:22] < first_low + size))
    assert np.all((tokens[:, 22:26] >= second_low) & (tokens[:, 22:26] < second_low + size))
    # random-walk structure: consecutive image codes are closer than random pairs of codes
    codes = source.codebooks["image"][image - image_low]
    neighbour = np.linalg.norm(codes[:, 1:] - codes[:, :-1], axis=-1).mean()
    shuffled = np.linalg.norm(codes[:, 1:] - codes[::-1, :-1], axis=-1).mean()
    assert neighbour < 0.8 * shuffled
    # codebooks from a file
    np.savez(
        tmp_path / "books.npz",
        image_codebook=np.eye(6),
        scalar_centers=np.linspace(-1, 1, 7),
        spectrum_codebook=np.ones((3, 2)),
    )
    loaded = make_source("synthetic_tokens", codebooks=str(tmp_path / "books.npz"), sizes=(5, 5, 5))
    assert (
        loaded.vocabulary["image"] == (5, 6)
        and loaded.vocabulary["scalar"] == (11, 7)
        and loaded.vocabulary["size"] == 21
    )


# ----------------------------------------------------------------------------- files
def test_npz_round_trip_with_split_prefixes_and_per_split_files(tmp_path):
    arrays = {
        f"{split}_{name}": np.random.default_rng(0).standard_normal((n, 3))
        for split, n in (("train", 8), ("val", 4), ("test", 2))
        for name in ("x",)
    }
    arrays.update({f"{split}_y": np.arange(n) for split, n in (("train", 8), ("val", 4), ("test", 2))})
    np.savez(tmp_path / "all.npz", **arrays)
    source = make_source("npz", path=str(tmp_path / "all.npz"))
    assert source.fields == {"x": ("f32", (3,)), "y": ("i64", ())}
    np.testing.assert_allclose(source.get("val", [3, 1])["x"], arrays["val_x"][[3, 1]].astype(np.float32))
    folder = tmp_path / "splits"
    folder.mkdir()
    for split in ("train", "val"):
        np.savez(folder / f"{split}.npz", x=arrays[f"{split}_x"], y=arrays[f"{split}_y"])
    per_file = make_source("npz", path=str(folder))
    assert per_file.size("test") == 0 and per_file.size("train") == 8
    np.testing.assert_array_equal(per_file.get("train", [7, 0])["y"], [7, 0])


def test_npz_pool_is_split_by_seed(tmp_path):
    np.savez(tmp_path / "pool.npz", x=np.arange(100.0)[:, None])
    source = make_source("npz", path=str(tmp_path / "pool.npz"), val_fraction=0.2, test_fraction=0.1, seed=1)
    seen = np.concatenate(
        [source.get(split, np.arange(source.size(split)))["x"][:, 0] for split in ("train", "val", "test")]
    )
    assert sorted(seen.tolist()) == list(range(100))  # a partition
    assert (source.size("train"), source.size("val"), source.size("test")) == (70, 20, 10)


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "mixed.npz", train_x=np.ones((3, 1)), x=np.ones((3, 1)))
    with pytest.raises(ValueError, match="mixes split-prefixed keys with plain keys"):
        make_source("npz", path=str(tmp_path / "mixed.npz"))
    np.savez(tmp_path / "ragged.npz", x=np.ones((3, 1)), y=np.ones(4))
    with pytest.raises(ValueError, match="different numbers of examples"):
        make_source("npz", path=str(tmp_path / "ragged.npz"))
    with pytest.raises(ValueError, match="npz: no such file or directory"):
        make_source("npz", path=str(tmp_path / "absent.npz"))


def test_npy_round_trip_with_split_folders(tmp_path):
    for split, n in (("train", 6), ("val", 3), ("test", 3)):
        (tmp_path / split).mkdir()
        np.save(tmp_path / split / "audio.npy", np.full((n, 4), n, dtype=np.float64))
        np.save(tmp_path / split / "label.npy", np.arange(n, dtype=np.int32))
    source = make_source("npy", path=str(tmp_path))
    assert source.fields == {"audio": ("f32", (4,)), "label": ("i64", ())}
    batch = source.get("val", [2, 0])
    np.testing.assert_array_equal(batch["label"], [2, 0])
    assert batch["audio"].dtype == np.float32 and np.all(batch["audio"] == 3)


def test_hdf5_round_trip_with_groups_and_split_files(tmp_path):
    import h5py

    data = np.random.default_rng(1).standard_normal((9, 2, 3))
    with h5py.File(tmp_path / "grouped.h5", "w") as handle:
        for split in ("train", "val", "test"):
            handle[f"{split}/x"] = data
            handle[f"{split}/label"] = np.arange(9)
    source = make_source("hdf5", path=str(tmp_path / "grouped.h5"))
    batch = source.get("test", [5, 2, 5])  # unsorted, repeated indices
    np.testing.assert_allclose(batch["x"], data[[5, 2, 5]].astype(np.float32))
    np.testing.assert_array_equal(batch["label"], [5, 2, 5])
    folder = tmp_path / "files"
    folder.mkdir()
    for split in ("train", "val", "test"):
        with h5py.File(folder / f"{split}.h5", "w") as handle:
            handle["x"] = data[:4]
    assert make_source("hdf5", path=str(folder)).fields == {"x": ("f32", (2, 3))}


def test_wav_folder_round_trip(tmp_path):
    tone = (np.sin(np.arange(300) * 0.1) * 16000).astype(np.int16)
    for label in ("dog", "cat"):
        for index in range(4):
            write_wav(tmp_path / label / f"{index}.wav", tone, 8000)
    stereo = np.stack([tone, np.zeros_like(tone)], axis=1).reshape(-1)
    write_wav(tmp_path / "cat" / "stereo.wav", stereo, 8000, channels=2)
    source = make_source(
        "wav_folder",
        path=str(tmp_path),
        length=400,
        val_fraction=0.2,
        test_fraction=0.2,
        seed=0,
        sample_rate=8000,
    )
    assert source.classes == ["cat", "dog"]
    assert sum(source.size(split) for split in ("train", "val", "test")) == 9
    batch = source.get("train", np.arange(source.size("train")))
    assert batch["audio"].shape == (source.size("train"), 400)
    assert np.all(batch["audio"][:, 300:] == 0)  # zero-padded to length
    expected = tone / 32768.0
    matches = [
        np.allclose(row[:300], expected, atol=1e-6) or np.allclose(row[:300], expected / 2, atol=1e-6)
        for row in batch["audio"]
    ]
    assert all(matches)  # mono files as written, the stereo one averaged over channels
    with pytest.raises(ValueError, match="has sample rate 8000, expected 16000"):
        make_source("wav_folder", path=str(tmp_path), length=400, sample_rate=16000).get("train", [0])


# ----------------------------------------------------------------------------- check_fields
def test_check_fields_accepts_matching_and_symbolic_shapes():
    fields = {"signal": ("f32", (1024,)), "params": ("f32", (8,)), "tokens": ("i64", (64,))}
    check_fields(fields, {"signal": ("f32", (1024,)), "tokens": ("i64", ("T",))})


@pytest.mark.parametrize(
    "expected, message",
    [
        (
            {"signal": ("f32", (512,))},
            "data field 'signal' has shape [1024] per example in the data but the spec expects [512]",
        ),
        ({"audio": ("f32", (8,))}, "data field 'audio' is missing: the data source provides params, signal"),
        ({"params": ("i64", (8,))}, "data field 'params' has dtype f32 but the spec expects i64"),
        (
            {"signal": ("f32", ("T",)), "params": ("f32", ("T",))},
            "data field 'params' has shape [8] per example in the data but the spec expects [T = 1024]",
        ),
    ],
)
def test_check_fields_messages(expected, message):
    with pytest.raises(ValueError) as error:
        check_fields({"signal": ("f32", (1024,)), "params": ("f32", (8,))}, expected)
    assert str(error.value) == message


def test_synthetic_tokens_codebooks_from_separate_files(tmp_path):
    np.save(tmp_path / "image.npy", np.zeros((4, 3)))
    np.savez(tmp_path / "scalar.npz", bin_centers=np.arange(5.0))
    np.savez(tmp_path / "spectrum.npz", centroids=np.ones((6, 2)))
    paths = {
        name: str(tmp_path / file)
        for name, file in (("image", "image.npy"), ("scalar", "scalar.npz"), ("spectrum", "spectrum.npz"))
    }
    source = make_source("synthetic_tokens", codebooks=paths, sizes=(3, 3, 3))
    assert (
        source.codebooks["scalar"].tolist() == [0, 1, 2, 3, 4] and source.vocabulary["size"] == 5 + 4 + 5 + 6
    )
    with pytest.raises(ValueError, match="image_vocabulary = 8 but the image codebook has 4 rows"):
        make_source("synthetic_tokens", codebooks=paths, image_vocabulary=8)
    with pytest.raises(ValueError, match="sequence_length = 10 is shorter than the 44 tokens of a sequence"):
        make_source("synthetic_tokens", sequence_length=10)
