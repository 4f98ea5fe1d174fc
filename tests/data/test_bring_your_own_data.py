"""docs/language.md "Bringing your own data" runs as written: its script makes the files, its
three specs check clean against them (no E0527), and the runtime loads a batch of each with
the declared fields (npz, hdf5, token_stream with its window of block_size + 1 ids)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from specc.compiler.cli.main import read
from specc.compiler.emit.render import source_arguments
from specc.compiler.pipeline import check
from specc.runtime import data as specc_data

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = re.compile(r"<!-- example: (?P<name>[\w.]+) -->\n```\w*\n(?P<text>.*?)\n```", re.S)


def examples() -> dict[str, str]:
    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    return {match["name"]: match["text"] + "\n" for match in EXAMPLE.finditer(text)}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    pytest.importorskip("h5py")
    folder = tmp_path_factory.mktemp("byo")
    for name, text in examples().items():
        (folder / name).write_text(text, encoding="utf-8")
    made = subprocess.run([sys.executable, "make_data.py"], cwd=folder, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "9 characters"  # the vocab_size chars.mf states
    return folder


def test_the_section_has_its_four_examples():
    assert sorted(examples()) == ["chars.mf", "curves.mf", "make_data.py", "points.mf"]


@pytest.mark.parametrize(
    ("spec", "kind", "shapes"),
    [
        ("points.mf", "npz", {"x": (32, 2), "y": (32,)}),
        ("curves.mf", "hdf5", {"t": (32, 1), "value": (32, 1)}),
        ("chars.mf", "token_stream", {"tokens": (8, 17)}),
    ],
)
def test_each_example_checks_and_loads(folder, monkeypatch, tmp_path, spec, kind, shapes):
    monkeypatch.chdir(tmp_path)  # another folder: the paths are the spec file's
    result = check(str(folder / spec), read, (), "jax", base=str(tmp_path), exists=os.path.exists)
    assert result.diagnostics == []
    plan = result.program.data
    assert plan.source.kind == kind
    source = specc_data.make_source(kind, **source_arguments(plan))  # as the script's make_loaders
    fields = {item.name: (item.type.dtype, tuple(item.type.shape)) for item in plan.fields}
    specc_data.check_source(source, fields)
    batch = next(iter(specc_data.Loader(source, "train", plan.batch_size, 0)))
    assert {name: np.shape(value) for name, value in batch.items()} == shapes
    if kind == "token_stream":  # the window is block_size + 1 consecutive ids of the text
        window = batch["tokens"][0]
        assert window.dtype == np.int64 and window.max() < 9
