"""The token_stream source (runtime/data/streams.py): windows of block_size + 1 ids from flat
token files, random with replacement for training (seeded by (seed, epoch, batch), resumable),
fixed for evaluation; the vocabulary from a JSON metadata file; one line per bad file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from specc.runtime import data

BLOCK = 8
WINDOW = BLOCK + 1


def stream_folder(tmp_path, train=1000, val=300, dtype=np.uint16, test=None):
    """A folder whose ids count up: a window's first id is its start (modulo 60000)."""
    np.arange(train, dtype=dtype).tofile(tmp_path / "train.bin")
    np.arange(val, dtype=dtype).tofile(tmp_path / "val.bin")
    if test is not None:
        np.save(tmp_path / "test.npy", np.arange(test, dtype=np.int64))
    return tmp_path


def source(path, **arguments):
    return data.make_source("token_stream", path=str(path), block_size=BLOCK, **arguments)


def test_training_windows_are_contiguous_in_range_and_drawn_with_replacement(tmp_path):
    stream = source(stream_folder(tmp_path, train=50))
    loader = data.Loader(stream, "train", 16, seed=3)
    batches = [batch["tokens"] for batch, _ in zip(loader.forever(), range(20))]
    windows = np.concatenate(batches)
    assert windows.shape == (320, WINDOW) and windows.dtype == np.int64
    starts = windows[:, 0]
    assert np.array_equal(windows, starts[:, None] + np.arange(WINDOW))  # contiguous
    assert starts.min() >= 0 and starts.max() <= 50 - WINDOW  # every start of the file
    assert set(starts) == set(range(50 - WINDOW + 1))  # 42 starts, 320 draws: all of them
    assert len(set(batches[0][:, 0])) < 16 or len(set(starts)) < len(starts)  # with replacement
    assert stream.size("train") == 50 // WINDOW  # an epoch: the windows that fit end to end


def test_the_draw_is_keyed_by_seed_epoch_and_batch(tmp_path):
    stream = source(stream_folder(tmp_path))
    loader = data.Loader(stream, "train", 4, seed=7)
    generator = np.random.default_rng([7, 0, 0, 1, 2])  # seed, train stream, epoch, batch, windows
    expected = generator.integers(0, 1000 - WINDOW + 1, 4)
    assert np.array_equal(loader.batch(0, 1)["tokens"][:, 0], expected)
    assert not np.array_equal(loader.batch(1, 1)["tokens"], loader.batch(0, 1)["tokens"])
    other = data.Loader(stream, "train", 4, seed=8)
    assert not np.array_equal(other.batch(0, 1)["tokens"], loader.batch(0, 1)["tokens"])


def test_stopping_and_resuming_draws_the_same_windows(tmp_path):
    stream = source(stream_folder(tmp_path, train=100))  # 11 windows a batch of 4: 2 per epoch
    uninterrupted = data.Loader(stream, "train", 4, seed=1)
    expected = [batch["tokens"] for batch, _ in zip(uninterrupted.forever(), range(9))]
    first = data.Loader(stream, "train", 4, seed=1)
    batches = first.forever()
    consumed = [next(batches)["tokens"] for _ in range(5)]
    state = first.state_dict()
    assert state == {"epoch": 2, "batch_index": 1}
    resumed = data.Loader(stream, "train", 4, seed=1)
    resumed.load_state_dict(state)
    batches = resumed.forever()
    rest = [next(batches)["tokens"] for _ in range(4)]
    for got, want in zip(consumed + rest, expected):
        assert np.array_equal(got, want)


def test_the_windows_do_not_depend_on_workers_or_prefetching(tmp_path):
    stream = source(stream_folder(tmp_path))
    plain = data.Loader(stream, "train", 4, seed=2, prefetch=0)
    threaded = data.Loader(stream, "train", 4, seed=2, workers=2, prefetch=3)
    for (one, two), _ in zip(zip(plain.forever(), threaded.forever()), range(6)):
        assert np.array_equal(one["tokens"], two["tokens"])


def test_evaluation_reads_every_non_overlapping_window_in_order(tmp_path):
    stream = source(stream_folder(tmp_path, val=300))
    assert stream.size("val") == 300 // WINDOW
    loader = data.Loader(stream, "val", 5, seed=0, shuffle=False, drop_last=False)
    windows = np.concatenate([batch["tokens"] for batch in loader])
    assert np.array_equal(windows[:, 0], np.arange(300 // WINDOW) * WINDOW)
    assert np.array_equal(windows, windows[:, :1] + np.arange(WINDOW))
    assert stream.size("test") == 0  # no test file: no test windows


def test_eval_windows_is_a_fixed_random_sample(tmp_path):
    stream = source(stream_folder(tmp_path, val=300), eval_windows=12, seed=4)
    assert stream.size("val") == 12
    first = stream.get("val", np.arange(12))["tokens"]
    again = source(tmp_path, eval_windows=12, seed=4).get("val", np.arange(12))["tokens"]
    assert np.array_equal(first, again)  # the same windows at every evaluation and every run
    expected = np.random.default_rng([4, 1, 2]).integers(0, 300 - WINDOW + 1, 12)  # [seed, val, 2]
    assert np.array_equal(first[:, 0], expected)


def test_shards_of_a_split_folder_never_give_a_window_across_files(tmp_path):
    (tmp_path / "train").mkdir()
    np.full(20, 1, dtype=np.uint16).tofile(tmp_path / "train" / "a.bin")
    np.save(tmp_path / "train" / "b.npy", np.full(12, 2, dtype=np.int32))
    np.arange(30, dtype=np.uint16).tofile(tmp_path / "val.bin")
    stream = source(tmp_path)
    windows = stream.draw("train", 400, np.random.default_rng(0))["tokens"]
    assert set(np.unique(windows[:, 0])) == {1, 2}
    assert all(len(set(row)) == 1 for row in windows)  # one file per window
    counts = np.bincount(windows[:, 0])  # 12 starts in a.bin, 4 in b.bin
    assert counts[1] > counts[2]
    assert stream.size("train") == 20 // WINDOW + 12 // WINDOW


def test_npy_test_split_and_int64_ids(tmp_path):
    stream = source(stream_folder(tmp_path, test=40))
    assert stream.size("test") == 40 // WINDOW
    assert stream.get("test", [1])["tokens"].tolist() == [list(range(WINDOW, 2 * WINDOW))]


def test_the_vocabulary_comes_from_a_json_metadata_file(tmp_path):
    folder = stream_folder(tmp_path, train=100, val=50)
    (tmp_path / "meta.json").write_text(json.dumps({"vocab_size": 100}))
    assert source(folder, meta=str(tmp_path / "meta.json")).vocab_size == 100
    (tmp_path / "small.json").write_text(json.dumps({"vocab_size": 60}))
    with pytest.raises(ValueError) as error:
        source(folder, meta=str(tmp_path / "small.json"))
    assert str(error.value) == (
        f"token_stream: {tmp_path / 'train.bin'} holds token 60 at offset 60, outside [0, 60) for vocab_size = 60"
    )
    with pytest.raises(ValueError) as error:
        source(folder, meta=str(tmp_path / "meta.json"), vocab_size=99)
    assert str(error.value) == f"token_stream: vocab_size = 99 but {tmp_path / 'meta.json'} gives 100"


def test_pickle_metadata_is_refused_without_being_read(tmp_path):
    folder = stream_folder(tmp_path)
    (tmp_path / "meta.pkl").write_bytes(b"not read")
    with pytest.raises(ValueError) as error:
        source(folder, meta=str(tmp_path / "meta.pkl"))
    assert str(error.value) == (
        f"token_stream: {tmp_path / 'meta.pkl'} is a pickle, which is not read (loading one runs code from the "
        'file); write its vocabulary size as JSON: {"vocab_size": N}'
    )


@pytest.mark.parametrize(
    "write, message",
    [
        (lambda path: path.write_bytes(b"abc"), "cannot be read as token ids: its 3 bytes are not a whole number of uint16 ids"),
        (lambda path: None, None),
    ],
)
def test_a_bad_token_file_is_one_line_naming_it(tmp_path, write, message):
    stream_folder(tmp_path)
    if message is None:  # a file too short for one window
        np.arange(5, dtype=np.uint16).tofile(tmp_path / "train.bin")
        message = f"holds 5 tokens, fewer than block_size + 1 = {WINDOW}"
    else:
        write(tmp_path / "train.bin")
    with pytest.raises(ValueError) as error:
        source(tmp_path)
    assert str(error.value) == f"token_stream: {tmp_path / 'train.bin'} {message}"


def test_a_two_dimensional_npy_is_refused(tmp_path):
    np.save(tmp_path / "train.npy", np.zeros((4, 4), dtype=np.int64))
    with pytest.raises(ValueError) as error:
        source(tmp_path)
    assert str(error.value) == (
        f"token_stream: {tmp_path / 'train.npy'} holds int64[4, 4]; a token stream is a 1-D integer array"
    )


def test_a_folder_without_train_tokens_is_refused(tmp_path):
    with pytest.raises(ValueError) as error:
        source(tmp_path)
    assert str(error.value) == f"token_stream: {tmp_path} has no train.bin, train.npy or train/ folder of token files"


def test_the_label_check_reads_the_stream_once(tmp_path):
    stream = source(stream_folder(tmp_path, train=100, val=50))
    with pytest.raises(ValueError) as error:
        data.check_source(stream, {"tokens": ("i64", (WINDOW,), 64)})
    assert str(error.value) == (
        f"token_stream: {tmp_path}: data field 'tokens' of the train split holds label 64 at index 64, outside "
        "[0, 64) for the model's 64 classes; 36 labels of the split are outside"
    )
