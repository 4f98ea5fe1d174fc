"""Every way a data file can be unusable is one ``ValueError`` line naming the file (the
generated scripts print it and exit before step 1), never a numpy or zipfile exception."""

from __future__ import annotations

import numpy as np
import pytest

from specc.runtime.data import check_source, make_source


def good_npz(path):
    np.savez(path, x=np.zeros((20, 3), np.float32), y=np.arange(20))
    return path


def refusal(kind: str, path) -> str:
    with pytest.raises(ValueError) as error:
        make_source(kind, path=str(path))
    text = str(error.value)
    assert "\n" not in text
    return text


def test_an_archive_with_no_arrays(tmp_path):
    np.savez(tmp_path / "empty.npz")
    assert refusal("npz", tmp_path / "empty.npz") == f"npz: {tmp_path / 'empty.npz'} holds no arrays"


def test_a_zero_byte_file(tmp_path):
    (tmp_path / "zero.npz").write_bytes(b"")
    assert refusal("npz", tmp_path / "zero.npz") == (
        f"npz: {tmp_path / 'zero.npz'} is empty (0 bytes); expected an .npz archive of arrays"
    )


def test_a_truncated_archive(tmp_path):
    data = good_npz(tmp_path / "data.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    assert refusal("npz", tmp_path / "cut.npz") == (
        f"npz: {tmp_path / 'cut.npz'} is truncated or damaged (File is not a zip file)"
    )


def test_a_damaged_member(tmp_path):
    data = bytearray(good_npz(tmp_path / "data.npz").read_bytes())
    data[data.find(b"x.npy") + 200] ^= 0xFF  # inside x's stored bytes: its CRC no longer matches
    (tmp_path / "crc.npz").write_bytes(bytes(data))
    assert refusal("npz", tmp_path / "crc.npz") == (
        f"npz: {tmp_path / 'crc.npz'}: array 'x' cannot be read (Bad CRC-32 for file 'x.npy'); the file is damaged"
    )


def test_a_file_that_is_not_an_archive(tmp_path):
    (tmp_path / "text.npz").write_text("x,y\n1,2\n")
    assert refusal("npz", tmp_path / "text.npz") == (
        f"npz: {tmp_path / 'text.npz'} is not an .npz archive (a zip of .npy arrays, as numpy.savez writes)"
    )
    np.save(tmp_path / "single.npy", np.zeros(3))
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")
    assert refusal("npz", tmp_path / "single.npz") == (
        f"npz: {tmp_path / 'single.npz'} holds a single .npy array, not an .npz archive of named arrays"
    )


def test_a_missing_file(tmp_path):
    assert refusal("npz", tmp_path / "absent.npz") == f"npz: no such file or directory: {tmp_path / 'absent.npz'}"


def test_a_damaged_split_file_in_a_folder_is_named(tmp_path):
    good_npz(tmp_path / "train.npz")
    (tmp_path / "val.npz").write_bytes(b"")
    assert refusal("npz", tmp_path) == (
        f"npz: {tmp_path / 'val.npz'} is empty (0 bytes); expected an .npz archive of arrays"
    )


def test_arrays_of_objects_strings_or_single_values(tmp_path):
    np.savez(tmp_path / "objects.npz", x=np.array([{}, {}], dtype=object))
    assert refusal("npz", tmp_path / "objects.npz") == (
        f"npz: {tmp_path / 'objects.npz'}: array 'x' holds Python objects; only float, integer and bool arrays "
        "are supported"
    )
    np.savez(tmp_path / "strings.npz", x=np.array(["a", "b"]))
    assert refusal("npz", tmp_path / "strings.npz") == (
        f"npz: {tmp_path / 'strings.npz'}: field 'x' has dtype <U1; only float, integer and bool arrays are supported"
    )
    np.savez(tmp_path / "scalar.npz", x=np.float32(3.0), y=np.arange(4))
    assert refusal("npz", tmp_path / "scalar.npz") == (
        f"npz: {tmp_path / 'scalar.npz'}: field 'x' is a single value; every array needs the example axis first"
    )


def test_a_missing_field_and_a_wrong_dtype_or_shape_name_the_file(tmp_path):
    source = make_source("npz", path=str(good_npz(tmp_path / "data.npz")))
    prefix = f"npz: {tmp_path / 'data.npz'}: "
    cases = {
        "z": (("f32", (3,)), "data field 'z' is missing: the data source provides x, y"),
        "y": (("f32", ()), "data field 'y' has dtype i64 but the spec expects f32"),
        "x": (("f32", (4,)), "data field 'x' has shape [3] per example in the data but the spec expects [4]"),
    }
    for name, (entry, text) in cases.items():
        with pytest.raises(ValueError) as error:
            check_source(source, {name: entry})
        assert str(error.value) == prefix + text


def test_bad_npy_files(tmp_path):
    (tmp_path / "zero").mkdir()
    (tmp_path / "zero" / "x.npy").write_bytes(b"")
    assert refusal("npy", tmp_path / "zero") == f"npy: {tmp_path / 'zero' / 'x.npy'} is empty (0 bytes); expected a .npy array"
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "x.npy").write_text("not an array")
    assert refusal("npy", tmp_path / "text") == f"npy: {tmp_path / 'text' / 'x.npy'} is not a .npy array (as numpy.save writes)"
    (tmp_path / "cut").mkdir()
    np.save(tmp_path / "cut" / "x.npy", np.zeros((100, 3)))
    data = (tmp_path / "cut" / "x.npy").read_bytes()
    (tmp_path / "cut" / "x.npy").write_bytes(data[:300])
    assert refusal("npy", tmp_path / "cut").startswith(f"npy: {tmp_path / 'cut' / 'x.npy'} is truncated or damaged (")
    (tmp_path / "objects").mkdir()
    np.save(tmp_path / "objects" / "x.npy", np.array([{}, {}], dtype=object))
    assert refusal("npy", tmp_path / "objects") == (
        f"npy: {tmp_path / 'objects' / 'x.npy'} holds Python objects; only float, integer and bool arrays are supported"
    )


def test_bad_hdf5_files(tmp_path):
    pytest.importorskip("h5py")
    (tmp_path / "zero.h5").write_bytes(b"")
    assert refusal("hdf5", tmp_path / "zero.h5") == f"hdf5: {tmp_path / 'zero.h5'} is empty (0 bytes); expected an HDF5 file"
    (tmp_path / "text.h5").write_text("not hdf5")
    assert refusal("hdf5", tmp_path / "text.h5").startswith(f"hdf5: cannot read {tmp_path / 'text.h5'}: ")
