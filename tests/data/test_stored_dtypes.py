"""File sources serve dtypes as stored (a bool array is a `bool` field, not i64) and a field
the spec declares i32, i64 or bool is served as declared when it holds integers or bools;
the script's check before step 1 (`check_source`) agrees."""

from __future__ import annotations

import numpy as np
import pytest

from specc.runtime.data import check_source, make_source


def _npz(tmp_path):
    mask = np.array([[True, True, False], [True, False, False], [True, True, True], [False, False, False]])
    np.savez(tmp_path / "data.npz", x=np.ones((4, 3)), ids=np.arange(12).reshape(4, 3), mask=mask,
             flags=mask.astype(np.int64) * 5)
    return make_source("npz", path=str(tmp_path / "data.npz"), val_fraction=0.0, test_fraction=0.0), mask


def test_a_bool_array_is_served_as_bool(tmp_path):
    source, mask = _npz(tmp_path)
    assert source.fields == {"flags": ("i64", (3,)), "ids": ("i64", (3,)), "mask": ("bool", (3,)), "x": ("f32", (3,))}
    batch = source.get("train", np.arange(4))
    rows = source.selections["train"] if "train" in source.selections else np.arange(4)
    assert batch["mask"].dtype == np.bool_ and batch["ids"].dtype == np.int64
    np.testing.assert_array_equal(batch["mask"], mask[rows])
    assert source.field_values("train", "mask").dtype == np.bool_


def test_declared_integer_and_bool_dtypes_are_served_as_declared(tmp_path):
    source, mask = _npz(tmp_path)
    check_source(source, {"ids": ("i32", (3,)), "flags": ("bool", (3,)), "mask": ("bool", (3,)), "x": ("f32", (3,))})
    assert source.fields["ids"] == ("i32", (3,)) and source.fields["flags"] == ("bool", (3,))
    batch = source.get("train", np.arange(4))
    rows = source.selections["train"] if "train" in source.selections else np.arange(4)
    assert batch["ids"].dtype == np.int32 and batch["flags"].dtype == np.bool_
    np.testing.assert_array_equal(batch["flags"], mask[rows])  # an integer is true when it is not 0
    assert source.field_values("train", "ids").dtype == np.int32


def test_a_float_array_is_not_served_as_an_integer(tmp_path):
    source, _ = _npz(tmp_path)
    with pytest.raises(ValueError, match=r"^npz: .*data\.npz: data field 'x' has dtype f32 but the spec expects i64$"):
        check_source(source, {"x": ("i64", (3,))})


def test_npy_and_hdf5_serve_bool_arrays_as_bool(tmp_path):
    import h5py

    folder = tmp_path / "arrays"
    folder.mkdir()
    np.save(folder / "keep.npy", np.ones((5, 2), dtype=bool))
    assert make_source("npy", path=str(folder)).fields == {"keep": ("bool", (2,))}
    with h5py.File(tmp_path / "data.h5", "w") as handle:
        handle["keep"] = np.zeros((5, 2), dtype=bool)
    source = make_source("hdf5", path=str(tmp_path / "data.h5"))
    assert source.fields == {"keep": ("bool", (2,))}
    assert source.get("train", np.arange(2))["keep"].dtype == np.bool_
