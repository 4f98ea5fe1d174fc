"""specs/examples/prepare_chars.py: nanoGPT's character-level prepare.py as a standalone
script. The token files decode back to the text, split 90/10 as nanoGPT splits, and their
meta.json is read by the token-stream source (which reads only ``vocab_size``)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
from specc.runtime.data.streams import TokenStream, read_metadata

from tests.backends.runner import REPOSITORY

SCRIPT = REPOSITORY / "specs" / "examples" / "prepare_chars.py"
TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll: Speak, speak. — ½ → 💡\n"


def load_script():
    specification = importlib.util.spec_from_file_location("prepare_chars", SCRIPT)
    module = importlib.util.module_from_spec(specification)
    specification.loader.exec_module(module)
    return module


prepare_chars = load_script()


def written(folder) -> tuple[np.ndarray, np.ndarray, dict]:
    train = np.fromfile(folder / "train.bin", dtype=np.uint16)
    val = np.fromfile(folder / "val.bin", dtype=np.uint16)
    return train, val, json.loads((folder / "meta.json").read_text(encoding="utf-8"))


def test_the_ids_decode_back_to_the_text_split_ninety_ten(tmp_path):
    counts = prepare_chars.prepare(TEXT, tmp_path / "chars")
    train, val, meta = written(tmp_path / "chars")
    cut = int(len(TEXT) * 0.9)
    assert (len(train), len(val)) == (cut, len(TEXT) - cut)
    assert prepare_chars.decode(train, meta["itos"]) == TEXT[:cut]
    assert prepare_chars.decode(val, meta["itos"]) == TEXT[cut:]
    assert counts == {
        "characters": len(TEXT),
        "alphabet": "".join(sorted(set(TEXT))),
        "vocab_size": len(set(TEXT)),
        "train": cut,
        "val": len(TEXT) - cut,
    }


def test_meta_holds_the_sorted_vocabulary_both_ways_and_the_stream_reads_it(tmp_path):
    prepare_chars.prepare(TEXT, tmp_path)
    train, val, meta = written(tmp_path)
    characters = sorted(set(TEXT))
    assert meta["vocab_size"] == len(characters)
    assert meta["itos"] == {str(index): character for index, character in enumerate(characters)}
    assert meta["stoi"] == {character: index for index, character in enumerate(characters)}
    assert int(max(train.max(), val.max())) == len(characters) - 1
    assert read_metadata(str(tmp_path / "meta.json")) == len(characters)
    stream = TokenStream(str(tmp_path), block_size=8, meta=str(tmp_path / "meta.json"))
    assert stream.vocab_size == len(characters)


def test_from_docs_tokenizes_the_repository_docs_in_sorted_order(tmp_path):
    finished = subprocess.run(
        [sys.executable, str(SCRIPT), "--from-docs", str(tmp_path / "docs")],
        check=False, capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    text = "".join(path.read_text(encoding="utf-8") for path in sorted((REPOSITORY / "docs").glob("*.md")))
    train, val, meta = written(tmp_path / "docs")
    assert prepare_chars.decode(np.concatenate([train, val]), meta["itos"]) == text
    lines = finished.stdout.splitlines()
    assert lines[0] == f"length of dataset in characters: {len(text):,}"
    assert lines[-3:] == [
        f"vocab size: {len(set(text)):,}",
        f"train has {len(train):,} tokens",
        f"val has {len(val):,} tokens",
    ]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["missing.txt", "out"], "prepare_chars: no such file: missing.txt\n"),
        (["empty.txt", "out"], "prepare_chars: the text is empty: there is nothing to tokenize\n"),
        (["latin1.txt", "out"], "prepare_chars: latin1.txt is not UTF-8 text: "),
    ],
)
def test_a_bad_input_is_one_line_and_exit_status_one(tmp_path, arguments, message):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
    finished = subprocess.run(
        [sys.executable, str(SCRIPT), *arguments], check=False, capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert finished.returncode == 1
    assert finished.stderr.startswith(message) and finished.stderr.count("\n") == 1
    assert not (tmp_path / "out" / "train.bin").exists()


def test_more_characters_than_uint16_ids_hold_are_refused(tmp_path):
    text = "".join(chr(point) for point in range(70_000) if not 0xD800 <= point < 0xE000)
    with pytest.raises(ValueError, match="67,952 distinct characters; uint16 ids hold at most 65,536"):
        prepare_chars.prepare(text, tmp_path)
    assert not (tmp_path / "train.bin").exists()
