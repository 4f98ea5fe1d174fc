"""`data python { file, name, arguments, fields }`: a data source of the user's (issue 10).

Checked before anything runs: the declared fields against the model's inputs (the same
E0703 as the file sources), the class against the protocol (E0532-E0534, read with `ast`).
At run time (runtime/data/user_source.py): the first example of every split against the
declared fields before step 1, every later example too, the user's exceptions naming the
user's file and line; the Loader's seeded order, resume position and workers as for every
source. The example specs/examples/user_data.mf trains with the same losses on all three
backends.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from specc.compiler.cli.main import read
from specc.compiler.emit import render as emit
from specc.compiler.emit.render import source_arguments
from specc.compiler.pipeline import check
from specc.runtime import data as specc_data
from specc.runtime.data.sources import seeded_split
from specc.runtime.extensions import UserCodeError
from tests.checker.helpers import DIGITS, codes, edit, rendered, run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "specs" / "examples" / "user_data.mf"
SIZES = {"train": 40, "val": 12, "test": 9}

# a tiny source: split-dependent arrays, no download; `broken` selects what goes wrong
SOURCE = '''\
import numpy as np

SIZES = {"train": 40, "val": 12, "test": 9, "all": 61}


class Points:
    num_classes = 10

    def __init__(self, split, width=64, broken=""):
        self.split, self.width, self.broken = split, width, broken
        generator = np.random.default_rng(list(SIZES).index(split))
        self.x = generator.normal(size=(SIZES[split], width)).astype(np.float32)
        self.y = generator.integers(0, 10, size=SIZES[split])

    def __len__(self):
        return len(self.y)

    def __getitem__(self, index):
        if self.broken == "raise" and index == 3:
            raise KeyError("no such point")
        if self.broken == "short" and index == 5:
            return {"x": self.x[index][:-1], "y": self.y[index]}
        if self.broken == "list":
            return [self.x[index], self.y[index]]
        return {"x": self.x[index], "y": int(self.y[index]), "extra": "ignored"}
'''
RAISE_LINE = SOURCE.splitlines().index('            raise KeyError("no such point")') + 1

SPEC = edit(
    DIGITS,
    "data digits {\n  batch_size = 16\n}",
    'data python {\n  file = "points.py"\n  name = "Points"\n  fields = { x = "f32[64]", y = "i64[]" }\n'
    "  batch_size = 16\n}",
)
EXPECTED = {"x": ("f32", (64,)), "y": ("i64", (), 10)}
UNLABELLED = {"x": ("f32", (64,)), "y": ("i64", ())}  # no label check: it would read every example first


def checked(text: str = SPEC, source: str = SOURCE):
    return run(text, (), "jax", files={"points.py": source})


@pytest.fixture
def points(tmp_path):
    path = tmp_path / "points.py"
    path.write_text(SOURCE, encoding="utf-8")
    return str(path)


def make(file: str, **keywords):
    return specc_data.make_source("python", file=file, name="Points", **keywords)


# ----------------------------------------------------------------------------- the checker


def test_the_spec_checks_clean_and_lowers_to_a_python_source():
    result = checked()
    assert result.diagnostics == []
    plan = result.program.data
    assert plan.source.kind == "python"
    arguments = source_arguments(plan)
    assert {name: arguments[name] for name in ("file", "name", "arguments", "val_fraction", "test_fraction")} == {
        "file": "points.py", "name": "Points", "arguments": (), "val_fraction": None, "test_fraction": None
    }
    assert "fields" not in arguments  # the spec's declaration: checked, never passed to the class
    assert [(field.name, field.type.dtype, tuple(field.type.shape)) for field in plan.fields] == [
        ("x", "f32", (64,)),
        ("y", "i64", ()),
    ]


def test_declared_fields_that_disagree_with_the_model_input_name_both_shapes():
    result = checked(edit(SPEC, 'x = "f32[64]"', 'x = "f32[63]"'))
    assert rendered(result) == [
        "spec.mf:16:11: error[E0703]: model `mlp` declares input `x` as f32[B, 64], but data.x is f32[B, 63]\n"
        "   |\n"
        "16 |   model = mlp\n"
        "   |           ^^^"
    ]


def test_a_declared_target_of_the_wrong_dtype_is_the_objective_error():
    result = checked(edit(SPEC, 'y = "i64[]"', 'y = "f32[]"'))
    assert codes(result) == ["E0705"]
    assert "objective `classification` needs integer targets; `data.y` is f32[]" in rendered(result)[0]


def test_a_class_without_getitem_is_refused_before_anything_runs():
    result = checked(source=SOURCE.replace("def __getitem__(self, index):", "def get(self, index):"))
    assert rendered(result) == [
        "spec.mf:6:10: error[E0534]: class `Points` (points.py:6) has no method `__getitem__`, which a data "
        "source needs\n"
        "  |\n"
        '6 |   name = "Points"\n'
        "  |          ^^^^^^^^\n"
        "help: write a class with `def __len__(self)`; `def __getitem__(self, index)`"
    ]


def test_an_init_without_the_split_is_refused():
    source = SOURCE.replace("def __init__(self, split, width=64, broken=\"\"):", "def __init__(self):")
    assert rendered(checked(source=source))[0].startswith(
        "spec.mf:6:10: error[E0534]: `Points.__init__` (points.py:6) takes 0 positional argument(s), but the "
        "script passes 1: (split)"
    )


def test_a_class_without_init_is_refused():
    source = SOURCE.replace("    def __init__(self, split, width=64, broken=\"\"):", "    def setup(self, split):")
    expected = (
        "spec.mf:6:10: error[E0534]: class `Points` (points.py:6) has no `__init__`, but the script makes a data "
        "source with (split)\n"
        "  |\n"
        '6 |   name = "Points"\n'
        "  |          ^^^^^^^^\n"
        "help: write `def __init__(self, split, ...)`"
    )
    assert rendered(checked(source=source)) == [expected]
    documented = (ROOT / "docs" / "diagnostics" / "checker.md").read_text(encoding="utf-8")
    assert expected in documented


def test_arguments_are_held_to_init_after_the_split():
    good = edit(SPEC, '  name = "Points"\n', '  name = "Points"\n  arguments = { width = 64 }\n')
    assert checked(good).diagnostics == []
    result = checked(edit(good, "width = 64", "split = 64"))
    assert codes(result) == ["E0533"]
    assert "`Points` (points.py:6) takes no argument `split` (it takes: width, broken)" in rendered(result)[0]


def test_the_fractions_are_checked_like_the_file_sources():
    result = checked(edit(SPEC, "  batch_size = 16\n", "  batch_size = 16\n  val_fraction = 1.5\n"))
    assert rendered(result) == ["spec.mf:9:18: error[E0403]: `val_fraction` must be < 1, found 1.5\n"
                                "  |\n9 |   val_fraction = 1.5\n  |                  ^^^"]
    both = "  batch_size = 16\n  val_fraction = 0.6\n  test_fraction = 0.5\n"
    result = checked(edit(SPEC, "  batch_size = 16\n", both))
    assert rendered(result)[0].startswith("spec.mf:10:19: error[E0508]: val_fraction + test_fraction must be below 1, "
                                          "found 1.1")
    assert checked(edit(SPEC, "  batch_size = 16\n", "  batch_size = 16\n  test_fraction = 0.5\n")).diagnostics == []


# ----------------------------------------------------------------------------- the runtime source


def test_the_class_serves_each_split_with_the_declared_dtypes(points):
    source = make(points)
    specc_data.check_source(source, EXPECTED)
    assert [source.size(split) for split in ("train", "val", "test")] == [40, 12, 9]
    batch = source.get("val", [2, 0])
    assert sorted(batch) == ["x", "y"]  # the extra key is not served
    assert batch["x"].dtype == np.float32 and batch["x"].shape == (2, 64)
    assert batch["y"].dtype == np.int64 and batch["y"].shape == (2,)
    expected = np.random.default_rng(1).normal(size=(12, 64)).astype(np.float32)
    np.testing.assert_array_equal(batch["x"], expected[[2, 0]])


def test_a_wrong_shape_of_the_first_example_names_the_field_and_both_types(tmp_path):
    path = tmp_path / "points.py"
    path.write_text(SOURCE.replace("self.x[index], \"y\": int", "self.x[index][:63], \"y\": int"), encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        specc_data.check_source(make(str(path)), EXPECTED)
    assert str(caught.value) == (
        f"python: {path}: Points: __getitem__(0) of the train split: field 'x' is f32[63], but the spec "
        "declares f32[64]"
    )


def test_a_missing_field_and_a_wrong_dtype_are_named(tmp_path, points):
    with pytest.raises(ValueError, match=r"__getitem__\(0\) of the train split: __getitem__ returns no field 'z' "
                       r"\(it returns: extra, x, y\)$"):
        specc_data.check_source(make(points), {**EXPECTED, "z": ("f32", (1,))})
    with pytest.raises(ValueError, match=r"field 'y' is i64\[\], but the spec declares f32\[\]$"):
        specc_data.check_source(make(points), {"x": ("f32", (64,)), "y": ("f32", ())})


def test_an_integer_field_is_served_as_the_declared_integer_type(points):
    source = make(points)
    specc_data.check_source(source, {"x": ("f32", (64,)), "y": ("i32", (), 10)})
    assert source.get("train", [0, 1])["y"].dtype == np.int32


def test_a_wrong_shape_later_stops_naming_the_index_and_the_field(points):
    source = make(points, arguments={"broken": "short"})
    specc_data.check_source(source, UNLABELLED)
    with pytest.raises(UserCodeError) as caught:
        source.get("train", [4, 5])
    assert str(caught.value) == (
        f"python: {points}: Points: __getitem__(5) of the train split: field 'x' is f32[63], but the spec "
        "declares f32[64]"
    )


def test_with_a_label_field_every_example_is_read_before_step_1(points):
    """The label check (classes from the model) reads the label of every example once."""
    with pytest.raises(UserCodeError, match=r"Points: __getitem__\(5\) of the train split: field 'x' is f32\[63\]"):
        specc_data.check_source(make(points, arguments={"broken": "short"}), EXPECTED)


def test_an_exception_in_getitem_names_the_users_file_and_line(points):
    source = make(points, arguments={"broken": "raise"})
    specc_data.check_source(source, UNLABELLED)
    with pytest.raises(UserCodeError) as caught:
        source.get("val", [3])
    assert str(caught.value) == (
        f"{points}:{RAISE_LINE}: Points: __getitem__(3) of the val split: KeyError: 'no such point'"
    )


def test_an_exception_in_init_names_the_users_file_and_line(points):
    with pytest.raises(UserCodeError, match=rf"^{points}:\d+: Points: creating the train split: TypeError: "):
        make(points, arguments={"width": "wide"}).size("train")


def test_a_len_that_is_no_count_is_named(tmp_path):
    path = tmp_path / "points.py"
    path.write_text(SOURCE.replace("return len(self.y)", "return -len(self.y)"), encoding="utf-8")
    with pytest.raises(UserCodeError) as caught:
        make(str(path)).size("val")
    assert str(caught.value) == (
        f"python: {path}: Points: __len__ of the val split returned -12, not a number of examples (an integer >= 0)"
    )


def test_a_getitem_that_returns_no_dict_is_named(points):
    with pytest.raises(UserCodeError, match=r"Points: __getitem__\(0\) of the train split returned list, not a dict"):
        specc_data.check_source(make(points, arguments={"broken": "list"}), EXPECTED)


def test_num_classes_of_the_class_must_match_the_model(points):
    with pytest.raises(ValueError, match="num_classes is 10, but the model's logits have 12 classes$"):
        specc_data.check_source(make(points), {"x": ("f32", (64,)), "y": ("i64", (), 12)})


def test_a_pool_is_made_once_with_split_all_and_split_by_the_fractions(points):
    source = make(points, val_fraction=0.2, test_fraction=0.1, seed=3)
    specc_data.check_source(source, EXPECTED)
    rows = seeded_split(61, 0.2, 0.1, 3)
    assert [source.size(split) for split in ("train", "val", "test")] == [len(rows[split]) for split in rows]
    pool = np.random.default_rng(3).normal(size=(61, 64)).astype(np.float32)  # "all" is index 3 of SIZES
    np.testing.assert_array_equal(source.get("test", [0, 1])["x"], pool[rows["test"][[0, 1]]])
    assert sorted(source._objects) == ["all"]


# ----------------------------------------------------------------------------- the loader


def npz_twin(tmp_path) -> str:
    """The same examples as `Points` in one .npz file with split prefixes."""
    arrays = {}
    for index, split in enumerate(("train", "val", "test")):
        generator = np.random.default_rng(index)
        arrays[f"{split}_x"] = generator.normal(size=(SIZES[split], 64)).astype(np.float32)
        arrays[f"{split}_y"] = generator.integers(0, 10, size=SIZES[split])
    path = tmp_path / "points.npz"
    np.savez(path, **arrays)
    return str(path)


def batches(loader, count: int) -> list[dict]:
    iterator = loader.forever()
    return [next(iterator) for _ in range(count)]


def test_the_loader_gives_the_batches_of_the_equivalent_npz_source(tmp_path, points):
    user, files = make(points), specc_data.make_source("npz", path=npz_twin(tmp_path))
    for source in (user, files):
        specc_data.check_source(source, EXPECTED)
    transforms = [{"kind": "gaussian_noise", "field": "x", "std": 0.1}]
    for split, count in (("train", 7), ("val", 2)):  # 7 training batches cross an epoch of 40 // 8
        options = specc_data.loader_options({"transforms": transforms}, split)
        mine = batches(specc_data.Loader(user, split, 8, 5, **options), count)
        theirs = batches(specc_data.Loader(files, split, 8, 5, **options), count)
        for a, b in zip(mine, theirs):
            assert sorted(a) == sorted(b) == ["x", "y"]
            for name in a:
                np.testing.assert_array_equal(a[name], b[name])


def test_resuming_gives_the_batches_of_the_uninterrupted_run(points):
    source = make(points)
    specc_data.check_source(source, EXPECTED)
    whole = batches(specc_data.Loader(source, "train", 8, 1), 9)
    first = specc_data.Loader(source, "train", 8, 1)
    batches(first, 6)
    state = first.state_dict()
    assert state == {"epoch": 1, "batch_index": 1}
    again = make(points)  # a new process: a new source, checked as the script does
    specc_data.check_source(again, EXPECTED)
    resumed = specc_data.Loader(again, "train", 8, 1)
    resumed.load_state_dict(state)
    for a, b in zip(batches(resumed, 3), whole[6:]):
        np.testing.assert_array_equal(a["x"], b["x"])
        np.testing.assert_array_equal(a["y"], b["y"])


def test_thread_and_process_workers_give_the_same_batches(points):
    source = make(points)
    specc_data.check_source(source, EXPECTED)
    plain = batches(specc_data.Loader(source, "train", 8, 2, prefetch=0), 6)
    for worker_type in ("thread", "process"):
        loader = specc_data.Loader(source, "train", 8, 2, workers=2, worker_type=worker_type)
        try:
            for a, b in zip(batches(loader, 6), plain):
                np.testing.assert_array_equal(a["x"], b["x"])
                np.testing.assert_array_equal(a["y"], b["y"])
        finally:
            loader.close()


def test_an_exception_in_a_process_worker_still_names_the_users_file_and_line(points):
    source = make(points, arguments={"broken": "raise"})
    specc_data.check_source(source, UNLABELLED)
    loader = specc_data.Loader(source, "val", 4, 0, shuffle=False, drop_last=False, workers=1, worker_type="process")
    with pytest.raises(UserCodeError, match=rf"^{points}:{RAISE_LINE}: Points: __getitem__\(3\) of the val split"):
        batches(loader, 1)


# ----------------------------------------------------------------------------- scripts


def compiled(spec: Path, backend: str, overrides=()) -> str:
    result = check(str(spec), read, overrides, backend, base=str(ROOT), exists=os.path.exists)
    assert result.diagnostics == [], [str(item) for item in result.diagnostics]
    return emit.render(result.program, backend)


def run_script(folder: Path, source: str, *arguments: str) -> subprocess.CompletedProcess:
    script = folder / "train.py"
    script.write_text(source, encoding="utf-8")
    environment = dict(os.environ, JAX_PLATFORMS="cpu", OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, str(script), "--out-dir", str(folder / "run"), *arguments],
        cwd=folder, capture_output=True, text=True, timeout=300, env=environment,
    )


def broken_example(tmp_path: Path, old: str, new: str) -> Path:
    """specs/examples/user_data.* copied with the Python file edited."""
    text = (ROOT / "specs" / "examples" / "user_data.py").read_text(encoding="utf-8")
    assert old in text
    (tmp_path / "user_data.py").write_text(text.replace(old, new), encoding="utf-8")
    (tmp_path / "user_data.mf").write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path / "user_data.mf"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "lightning", "mlx"])
def test_a_getitem_returning_a_wrong_shape_stops_before_step_1_naming_the_field(tmp_path, backend):
    spec = broken_example(tmp_path, '"x": self.images[index]', '"x": self.images[index][:60]')
    finished = run_script(tmp_path, compiled(spec, backend))
    assert finished.returncode == 1
    assert finished.stderr.strip().splitlines() == [
        f"user_data: python: {tmp_path / 'user_data.py'}: Digits: __getitem__(0) of the train split: field 'x' is "
        "f32[60], but the spec declares f32[64]"
    ]
    assert "step 1" not in finished.stdout
    metrics = tmp_path / "run" / "metrics.csv"
    assert not metrics.exists() or "train" not in metrics.read_text(encoding="utf-8")


@pytest.mark.slow
def test_a_source_that_raises_stops_the_script_naming_the_users_file_and_line(tmp_path):
    spec = broken_example(tmp_path, "        return len(self.labels)", "        return len(self.labels) // 0")
    finished = run_script(tmp_path, compiled(spec, "jax"))
    assert finished.returncode == 1
    line = (tmp_path / "user_data.py").read_text(encoding="utf-8").splitlines().index(
        "        return len(self.labels) // 0"
    ) + 1
    assert finished.stderr.strip().splitlines() == [
        f"{tmp_path / 'user_data.py'}:{line}: Digits: __len__ of the train split: ZeroDivisionError: integer "
        "division or modulo by zero"
    ]


@pytest.mark.slow
def test_the_example_trains_with_the_same_losses_on_every_backend(tmp_path):
    from tests.backends.test_spec_parity import (
        BACKENDS, COMMON, TOLERANCE, run_backends_together, train_losses, worst_relative_difference,
    )

    overrides = COMMON + ("train.checkpoint.every=20", "data.num_workers=1", "data.worker_type=process")
    run_backends_together({backend: compiled(EXAMPLE, backend, overrides) for backend in BACKENDS}, tmp_path)
    series = {backend: train_losses(tmp_path / f"run_{backend}") for backend in BACKENDS}
    assert all(sorted(losses) == list(range(1, 21)) for losses in series.values()), series
    worst, where = worst_relative_difference(series)
    assert worst <= TOLERANCE, f"{worst:.3e} at {where}"
    assert series["jax"][20] < series["jax"][1]  # it learns
