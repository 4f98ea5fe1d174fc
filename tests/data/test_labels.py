"""Class labels outside ``[0, classes)`` stop the script before step 1 with one message naming
the field, the split, the value and its index (``check_source`` / ``check_labels``), on every
source; ``Source.field_values`` (what the check reads) serves what ``get`` serves."""

from __future__ import annotations

import numpy as np
import pytest

from specc.runtime.data import SOURCES, SPLITS, check_labels, check_source, label_ranges, make_source
from tests.data.test_sources import build, write_wav


def message(source, expected) -> str:
    with pytest.raises(ValueError) as error:
        check_source(source, expected)
    return str(error.value)


def split_file(tmp_path, train_labels, val_labels=(0, 1)):
    path = tmp_path / "labels.npz"
    np.savez(
        path,
        train_x=np.zeros((len(train_labels), 3), np.float32),
        train_y=np.asarray(train_labels),
        val_x=np.zeros((len(val_labels), 3), np.float32),
        val_y=np.asarray(val_labels),
    )
    return make_source("npz", path=str(path)), str(path)


def test_a_label_above_the_classes_names_field_split_value_and_index(tmp_path):
    source, path = split_file(tmp_path, [0, 1, 2, 3, 12, 4])
    assert message(source, {"x": ("f32", (3,)), "y": ("i64", (), 10)}) == (
        f"npz: {path}: data field 'y' of the train split holds label 12 at index 4, outside [0, 10) "
        "for the model's 10 classes"
    )


def test_a_negative_label_is_refused_and_the_count_is_given(tmp_path):
    source, path = split_file(tmp_path, [0, 1, 2, 3], val_labels=[1, -1, 0, -3])
    assert message(source, {"y": ("i64", (), 4)}) == (
        f"npz: {path}: data field 'y' of the val split holds label -1 at index 1, outside [0, 4) "
        "for the model's 4 classes; 2 labels of the split are outside"
    )


def test_labels_in_range_pass_and_fields_without_classes_are_not_read(tmp_path):
    source, _ = split_file(tmp_path, [0, 1, 2, 3], val_labels=[3, 0])
    check_source(source, {"x": ("f32", (3,)), "y": ("i64", (), 4)})
    check_source(source, {"y": ("i64", ())})  # no class count: a plain integer field


def test_a_pooled_file_names_the_stored_row_too(tmp_path):
    labels = np.zeros(50, dtype=np.int64)
    labels[37] = 7
    np.savez(tmp_path / "pool.npz", x=np.zeros((50, 2), np.float32), y=labels)
    source = make_source("npz", path=str(tmp_path / "pool.npz"), val_fraction=0.2, test_fraction=0.2, seed=0)
    split = next(split for split in SPLITS if 37 in source.selections[split])
    index = int(np.flatnonzero(source.selections[split] == 37)[0])
    assert message(source, {"y": ("i64", (), 3)}) == (
        f"npz: {tmp_path / 'pool.npz'}: data field 'y' of the {split} split holds label 7 at index {index} "
        "(row 37 of the stored arrays), outside [0, 3) for the model's 3 classes"
    )


def test_token_sequences_name_the_position_and_skip_the_ignored_label(tmp_path):
    np.savez(tmp_path / "tokens.npz", train_tokens=np.array([[0, 1, 2], [3, -100, 4], [5, 6, 9]]))
    source = make_source("npz", path=str(tmp_path / "tokens.npz"))
    assert message(source, {"tokens": ("i64", (3,), 9)}) == (
        f"npz: {tmp_path / 'tokens.npz'}: data field 'tokens' of the train split holds label -100 at index 1, "
        "position 1, outside [0, 9) for the model's 9 classes; 2 labels of the split are outside"
    )
    assert message(source, {"tokens": ("i64", (3,), 9, -100)}).endswith(
        "holds label 9 at index 2, position 2, outside [0, 9) for the model's 9 classes"
    )
    check_source(source, {"tokens": ("i64", (3,), 10, -100)})


def test_digits_has_ten_classes():
    source = make_source("digits")
    check_source(source, {"x": ("f32", (64,)), "y": ("i64", (), 10)})
    assert message(source, {"y": ("i64", (), 9)}).startswith("digits: data field 'y' of the train split holds label 9 at")


def test_wav_folder_labels_are_checked_without_reading_the_audio(tmp_path):
    for label in ("a", "b", "c"):
        for index in range(4):
            write_wav(tmp_path / label / f"{index}.wav", np.zeros(10, dtype=np.int16), 8000)
    source = make_source("wav_folder", path=str(tmp_path), length=8)
    for file in tmp_path.glob("*/*.wav"):
        file.unlink()  # reading a file now would fail: the labels come from the folder names
    check_labels(source, {"label": 3})
    with pytest.raises(ValueError, match="holds label 2 at index"):
        check_labels(source, {"label": 2})


def test_label_ranges_reads_the_class_count_and_the_ignored_label():
    expected = {"x": ("f32", (3,)), "y": ("i64", (), 10), "tokens": ("i64", (8,), 50, -100), "z": ("i64", (), None)}
    assert label_ranges(expected) == {"y": (10, None), "tokens": (50, -100)}


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_field_values_serve_what_get_serves(kind, tmp_path):
    source = build(kind, tmp_path)
    for split in SPLITS:
        everything = source.get(split, np.arange(source.size(split)))
        for name, (dtype, shape) in source.fields.items():
            values = source.field_values(split, name)
            assert values.shape == (source.size(split), *shape)
            np.testing.assert_array_equal(values, everything[name], err_msg=f"{kind} {split} {name}")
