"""Seed 004's debugging options: ``fake = true`` (random examples of the declared fields in
place of a file source's files: ``specc.runtime.data.fake``) and ``repeat_first_batch``
(every training batch holds the first batch's examples: ``Loader``), and what the checker
says about them (E0560; no missing-file warning for the files fake data replaces)."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from specc.compiler.cli.main import read as cli_read
from specc.compiler.emit import render as emit
from specc.compiler.pipeline import check
from specc.runtime.data import Loader, check_source, loader_options, make_source
from specc.runtime.data.fake import FAKE_SIZES, FILE_SOURCES, FakeSource
from tests.checker.helpers import DIGITS, codes, edit, run

EXPECTED = {"x": ("f32", (4, 3)), "y": ("i64", (), 5), "mask": ("bool", (6,)), "ids": ("i32", (2,))}


def fake(kind: str = "npz", seed: int = 0) -> FakeSource:
    source = make_source(kind, path="/no/such/data.npz", fake=True, seed=seed)
    check_source(source, EXPECTED)
    return source


def test_fake_data_serves_the_declared_fields_without_opening_the_files():
    source = fake()
    assert isinstance(source, FakeSource) and source.description == "npz (fake data)"
    assert source.fields == {"ids": ("i32", (2,)), "mask": ("bool", (6,)), "x": ("f32", (4, 3)), "y": ("i64", ())}
    assert [source.size(split) for split in ("train", "val", "test")] == [FAKE_SIZES[s] for s in ("train", "val", "test")]
    batch = source.get("train", np.arange(64))
    assert batch["x"].dtype == np.float32 and batch["x"].shape == (64, 4, 3)
    assert batch["mask"].dtype == np.bool_ and 0 < batch["mask"].mean() < 1
    assert batch["y"].dtype == np.int64 and set(np.unique(batch["y"])) <= set(range(5)) and len(np.unique(batch["y"])) > 1
    assert batch["ids"].dtype == np.int32 and not batch["ids"].any()  # no range given: 0, a valid index
    assert abs(float(batch["x"].mean())) < 0.2 and 0.8 < float(batch["x"].std()) < 1.2


def test_fake_examples_are_a_pure_function_of_seed_split_and_index():
    first, second = fake(seed=1), fake(seed=1)
    rows = np.array([5, 0, 500])
    for name, values in first.get("train", rows).items():
        np.testing.assert_array_equal(values, second.get("train", rows)[name])
        np.testing.assert_array_equal(values[0], first.get("train", [5])[name][0])  # alone or in a batch
    assert not np.array_equal(first.get("val", rows)["x"], first.get("train", rows)["x"])
    assert not np.array_equal(fake(seed=2).get("train", rows)["x"], first.get("train", rows)["x"])
    np.testing.assert_array_equal(first.field_values("val", "y"), first.get("val", np.arange(FAKE_SIZES["val"]))["y"])
    copied = pickle.loads(pickle.dumps(first))  # process workers
    np.testing.assert_array_equal(copied.get("test", rows)["x"], first.get("test", rows)["x"])


@pytest.mark.parametrize("kind", FILE_SOURCES)
def test_every_file_source_can_be_faked(kind):
    assert fake(kind).description == f"{kind} (fake data)"


@pytest.mark.parametrize("kind", ["ksin", "digits", "synthetic_regression", "synthetic_audio", "synthetic_tokens"])
def test_fake_is_refused_where_there_are_no_files(kind):
    with pytest.raises(ValueError, match=f"^fake: `fake = true` replaces the files of a file source .*; `{kind}` reads no files$"):
        make_source(kind, fake=True)


def test_fake_data_needs_concrete_declared_sizes():
    source = make_source("npz", path="x.npz", fake=True)
    with pytest.raises(ValueError, match="needs concrete sizes"):
        check_source(source, {"x": ("f32", ("T", 3))})


# ----------------------------------------------------------------------------- repeat_first_batch


def draws(batch, rng):
    return {**batch, "noise": rng.standard_normal(len(batch["x"]))}


def loader(repeat: bool, **keywords) -> Loader:
    source = make_source("synthetic_regression", num_features=3, sizes=(64, 16, 16))
    options = loader_options({"repeat_first_batch": repeat, "transforms": ("gaussian_noise",)}, "train")
    return Loader(source, "train", 8, 0, transform=draws, **options, **keywords)


def test_repeat_first_batch_repeats_the_examples_and_draws_new_noise():
    plain, repeated = loader(False), loader(True)
    first = plain.batch(0, 0)
    batches = [batch for _, batch in zip(range(20), repeated.forever())]  # 2.5 epochs
    for index, batch in enumerate(batches):
        np.testing.assert_array_equal(batch["x"], first["x"])  # after the augmentation, drawn once
        np.testing.assert_array_equal(batch["y"], first["y"])
        np.testing.assert_array_equal(batch["noise"], plain.batch(index // 8, index % 8)["noise"])
    assert not np.array_equal(batches[0]["noise"], batches[1]["noise"])
    assert not np.array_equal(plain.batch(0, 1)["x"], first["x"])
    assert repeated.batches_per_epoch == plain.batches_per_epoch == 8


def test_repeat_first_batch_resumes_exactly_and_leaves_evaluation_alone():
    straight = loader(True)
    expected = [batch for _, batch in zip(range(12), straight.forever())]
    first = loader(True)
    head = [batch for _, batch in zip(range(5), first.forever())]
    resumed = loader(True)
    resumed.load_state_dict(first.state_dict())
    tail = [batch for _, batch in zip(range(7), resumed.forever())]
    for got, want in zip(head + tail, expected):
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])
    assert loader_options({"repeat_first_batch": True}, "val")["repeat_first_batch"] is False
    assert loader_options({"repeat_first_batch": True}, "train")["repeat_first_batch"] is True
    assert "fake" not in loader_options({"fake": True}, "train")  # make_source reads it, not the Loader


# ----------------------------------------------------------------------------- checker and scripts

FILE_SPEC = edit(DIGITS, "data digits {", 'data npz {\n  path = "data/missing.npz"\n  fields = { x = "f32[64]", y = "i64[]" }')


def test_fake_on_a_file_source_compiles_and_reaches_make_source_on_every_backend():
    result = run(FILE_SPEC, ("data.fake=true", "data.repeat_first_batch=true"))
    assert result.diagnostics == []
    for backend in ("jax", "lightning", "mlx"):
        script = emit.render(result.program, backend)
        assert '"fake": True' in script or "fake=fake" in script, backend
        assert "repeat_first_batch" in script, backend


def test_a_fake_source_path_need_not_exist(tmp_path, monkeypatch):
    (tmp_path / "spec.mf").write_text(FILE_SPEC)
    monkeypatch.chdir(tmp_path)
    warned = check("spec.mf", cli_read, (), "jax", base=str(tmp_path), exists=os.path.exists)
    assert codes(warned) == ["E0527"]
    faked = check("spec.mf", cli_read, ("data.fake=true",), "jax", base=str(tmp_path), exists=os.path.exists)
    assert faked.diagnostics == []


def test_fake_on_a_generated_source_is_e0560():
    assert codes(run(DIGITS, ("data.fake=true",))) == ["E0560"]
    assert codes(run(DIGITS, ("data.fake=false",))) == []
