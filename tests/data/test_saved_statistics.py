"""Seed 004's ``use_saved_mean_and_variance``: ``normalize(field = "x", statistics = "stats.npz")``
normalises one field with a saved mean and variance instead of each example's own
(``specc.runtime.data.transforms``), checked at lint against the field's shape (E0561,
E0562: ``specc.compiler.check.data_options``) and relative to the spec file like every data
path (E0527 when absent)."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from specc.compiler.check import data_options
from specc.compiler.cli.main import read as cli_read
from specc.compiler.pipeline import check
from specc.runtime.data import Loader, loader_options, make_source, transforms
from specc.runtime.data.transforms import Transform, read_statistics
from tests.checker.helpers import DIGITS, edit, rendered

NPZ = edit(DIGITS, "data digits {", 'data npz {\n  path = "d.npz"\n  fields = { x = "f32[64]", y = "i64[]" }')
STATISTICS = edit(NPZ, "  batch_size = 16\n", '  batch_size = 16\n  transforms = [normalize(field = "x", statistics = "stats/x.npz")]\n')
DOC = Path(__file__).resolve().parents[2] / "docs" / "diagnostics" / "checker.md"


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def save(path, **arrays):
    path.write_bytes(npz_bytes(**arrays))
    return str(path)


def lint(text: str, files: dict):
    sources = {"spec.mf": text.encode("utf-8"), **files}

    def read(path: str) -> bytes:
        if path in sources:
            return sources[path]
        raise FileNotFoundError(path)

    return check("spec.mf", read, ())


# ----------------------------------------------------------------------------- runtime


def test_saved_statistics_normalise_per_feature(tmp_path):
    path = save(tmp_path / "s.npz", mean=np.array([1.0, 2.0, 3.0]), var=np.array([4.0, 1.0, 0.25]))
    batch = {"x": np.arange(12, dtype=np.float32).reshape(2, 2, 3), "y": np.zeros(2, np.int64)}
    result = Transform("normalize", field="x", statistics=path)(batch, np.random.default_rng(0))
    expected = (batch["x"] - np.array([1.0, 2.0, 3.0])) / (np.array([2.0, 1.0, 0.5]) + 1e-8)
    np.testing.assert_allclose(result["x"], expected, rtol=1e-6)
    assert result["x"].dtype == np.float32
    np.testing.assert_array_equal(result["y"], batch["y"])


def test_saved_statistics_of_the_whole_example_and_single_values(tmp_path):
    x = np.random.default_rng(1).normal(size=(4, 2, 3)).astype(np.float32)
    mean, variance = x.mean(axis=0), x.var(axis=0)
    whole = Transform("normalize", field="x", statistics=save(tmp_path / "w.npz", mean=mean, var=variance))
    np.testing.assert_allclose(whole({"x": x}, None)["x"], (x - mean) / (np.sqrt(variance) + 1e-8), rtol=1e-5)
    single = Transform("normalize", field="x", eps=0.0, statistics=save(tmp_path / "o.npz", mean=np.float64(2.0), var=np.float64(9.0)))
    np.testing.assert_allclose(single({"x": x}, None)["x"], (x - 2.0) / 3.0, rtol=1e-6)


def test_saved_statistics_differ_from_each_examples_own(tmp_path):
    x = np.random.default_rng(2).normal(3.0, 2.0, size=(4, 8)).astype(np.float32)
    own = Transform("normalize", field="x")({"x": x}, None)["x"]
    saved = Transform("normalize", field="x", statistics=save(tmp_path / "s.npz", mean=np.zeros(8), var=np.ones(8)))
    np.testing.assert_allclose(saved({"x": x}, None)["x"], x, rtol=1e-6)  # mean 0, var 1: unchanged
    assert not np.allclose(own, x)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"mean": np.zeros(3)}, "has no array 'var' (arrays: mean; expected mean and var)"),
        ({"mean": np.zeros(3), "var": -np.ones(3)}, "mean and var must be finite and var must not be negative"),
        ({"mean": np.zeros(3), "var": np.ones(4)}, "mean has shape [3] but var has [4]"),
        ({"mean": np.zeros(3), "var": np.array(["a", "b", "c"])}, "'var' has dtype <U1; expected numbers"),
    ],
)
def test_bad_statistics_are_one_line_naming_the_file(tmp_path, arrays, message):
    path = save(tmp_path / "s.npz", **arrays)
    with pytest.raises(ValueError) as error:
        read_statistics(path)
    assert str(error.value) == f"normalize: statistics {path}" + (" " if "has no" in message else ": ") + message


def test_a_missing_or_pickled_statistics_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"^normalize: statistics npz: no such file or directory: .*none\.npz$"):
        Transform("normalize", field="x", statistics=str(tmp_path / "none.npz"))
    path = save(tmp_path / "p.npz", mean=np.array([{"a": 1}], dtype=object), var=np.ones(1))
    with pytest.raises(ValueError, match="array 'mean' holds Python objects"):
        Transform("normalize", field="x", statistics=path)


def test_statistics_need_a_field_and_a_fitting_shape(tmp_path):
    path = save(tmp_path / "s.npz", mean=np.zeros(5), var=np.ones(5))
    with pytest.raises(ValueError, match="^normalize: statistics describe one field: give `field` too$"):
        Transform("normalize", statistics=path)
    with pytest.raises(ValueError, match=r"saved statistics have shape \[5\] but the field's examples are \[3\]"):
        Transform("normalize", field="x", statistics=path)({"x": np.zeros((2, 3), np.float32)}, None)


def test_saved_statistics_reach_the_loader_and_survive_process_workers(tmp_path):
    data = tmp_path / "d.npz"
    np.savez(data, x=np.random.default_rng(3).normal(size=(40, 4)).astype(np.float32), y=np.arange(40) % 3)
    stats = save(tmp_path / "s.npz", mean=np.full(4, 0.5), var=np.full(4, 4.0))
    arguments = {"path": str(data), "transforms": ({"kind": "normalize", "field": "x", "statistics": stats},)}
    source = make_source("npz", **arguments)
    options = loader_options(arguments, "val")
    loader = Loader(source, "val", 4, 0, **options)
    rows = source.get("val", np.arange(4))
    np.testing.assert_allclose(next(iter(loader))["x"], (rows["x"] - 0.5) / 2.0, rtol=1e-6)
    copied = pickle.loads(pickle.dumps(options["transforms"][0]))  # process workers receive the statistics read
    np.testing.assert_allclose(copied(rows, None)["x"], (rows["x"] - 0.5) / 2.0, rtol=1e-6)


def test_the_checker_and_the_runtime_agree_on_shapes_and_names():
    assert data_options.STATISTICS_ARRAYS == transforms.STATISTICS_ARRAYS
    from specc.runtime.data.fake import FILE_SOURCES

    assert data_options.FILE_SOURCES == FILE_SOURCES
    for shape, example in [((), (3,)), ((3,), (3,)), ((3,), (2, 3)), ((2, 3), (2, 3)), ((2,), (2, 3)), ((4,), ())]:
        assert data_options.statistics_shape_fits(shape, example) == transforms.statistics_shape_fits(shape, example)


# ----------------------------------------------------------------------------- checker

E0562_EXAMPLE = (
    "spec.mf:8:53: error[E0562]: `stats/x.npz` holds statistics of shape [8], but field `x` is f32[64] per example "
    "(expected [64], or single values)\n"
    "  |\n"
    '8 |   transforms = [normalize(field = "x", statistics = "stats/x.npz")]\n'
    "  |                                                     ^^^^^^^^^^^^^\n"
    "help: save them with numpy.savez(path, mean = ..., var = ...) of the field's shape or of its last axis"
)


def test_statistics_of_another_shape_are_e0562_at_the_path():
    result = lint(STATISTICS, {"stats/x.npz": npz_bytes(mean=np.zeros(8), var=np.ones(8))})
    assert rendered(result) == [E0562_EXAMPLE]
    assert result.program is None
    assert E0562_EXAMPLE in DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        (npz_bytes(mean=np.zeros(64)), "`stats/x.npz` has no array `var` (arrays: mean); statistics are arrays mean and var"),
        (npz_bytes(mean=np.zeros(64, dtype=object), var=np.ones(64)),
         "`stats/x.npz`: array `mean` holds Python objects (a pickle, which specc does not load); statistics are numbers"),
        (b"x,y\n1,2\n", "`stats/x.npz` cannot serve as statistics: it is not an .npz archive (a zip of .npy arrays, "
         "as numpy.savez writes)"),
        (npz_bytes(mean=np.zeros((1, 64)), var=np.ones(64)), "`stats/x.npz`: mean has shape [1, 64] but var has [64]"),
    ],
)
def test_every_unusable_statistics_file_is_e0562(contents, message):
    result = lint(STATISTICS, {"stats/x.npz": contents})
    assert [(d.code, d.message, d.span.line, d.span.column) for d in result.diagnostics] == [("E0562", message, 8, 53)]


@pytest.mark.parametrize("shape", [(64,), (), (1,)])
def test_statistics_that_fit_compile_with_the_path_made_absolute(shape):
    if shape == (1,):
        text = edit(STATISTICS, '"f32[64]"', '"f32[4, 16]"').replace("f32[B, 64]", "f32[B, 4, 16]")
        text = text.replace("linear(relu(linear(x, hidden)), 10)", "linear(flatten(relu(linear(x, hidden))), 10)")
        shape = (16,)  # the last axis of [4, 16]: per feature
    else:
        text = STATISTICS
    result = lint(text, {"stats/x.npz": npz_bytes(mean=np.zeros(shape), var=np.ones(shape))})
    assert result.diagnostics == []
    transform = dict(result.program.data.source.arguments)["transforms"][0]
    assert dict(transform)["statistics"] == "stats/x.npz"  # relative to the spec file's folder (here: none)


def test_a_missing_statistics_file_is_e0527_relative_to_the_spec_file(tmp_path, monkeypatch):
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "spec.mf").write_text(edit(STATISTICS, '"d.npz"', '"d.npz"\n  fake = true'))
    monkeypatch.chdir(tmp_path)
    result = check("specs/spec.mf", cli_read, (), "jax", base=str(tmp_path), exists=os.path.exists)
    assert [(d.code, d.severity, d.message) for d in result.diagnostics] == [
        ("E0527", "warning", "`statistics` names `stats/x.npz`, which does not exist (the script opens "
         "`specs/stats/x.npz`)")
    ]
    (tmp_path / "specs" / "stats").mkdir()
    save(tmp_path / "specs" / "stats" / "x.npz", mean=np.zeros(64), var=np.ones(64))
    result = check("specs/spec.mf", cli_read, (), "jax", base=str(tmp_path), exists=os.path.exists)
    assert result.diagnostics == []  # fake data: the source's own missing path is not warned about
    transform = dict(dict(result.program.data.source.arguments)["transforms"][0])
    assert transform["statistics"] == f"{tmp_path}/specs/stats/x.npz"
