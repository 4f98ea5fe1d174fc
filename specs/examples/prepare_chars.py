"""Character-level token files from a text file: nanoGPT's data/shakespeare_char/prepare.py
for any text, standalone (numpy only), with the vocabulary written as JSON instead of a pickle.

    python specs/examples/prepare_chars.py INPUT.txt OUT_DIR
    python specs/examples/prepare_chars.py --from-docs OUT_DIR   # or just OUT_DIR

The vocabulary is the sorted set of the text's characters (by code point); token i is its
i-th character. It writes

- ``OUT_DIR/train.bin``: the ids of the first 90% of the characters, ``uint16``;
- ``OUT_DIR/val.bin``: the ids of the last 10%, ``uint16`` (nanoGPT's layout: raw ids);
- ``OUT_DIR/meta.json``: ``{"vocab_size": N, "itos": {"0": "\\n", ...}, "stoi": {"\\n": 0, ...}}``
  (``specs/examples/nanogpt_char.mf`` reads ``vocab_size``; the rest decodes samples).

``--from-docs`` (or no INPUT) reads the concatenation of this repository's ``docs/*.md`` in
sorted order: a text that needs no download, for users and CI. The input is read as UTF-8.
A failure (no such file, not UTF-8, an empty text, more than 65,536 characters) is one line
on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[2]
TRAIN_FRACTION = 0.9
DTYPE = np.uint16  # nanoGPT's token files: at most 65,536 distinct characters


def docs_text(repository: Path = REPOSITORY) -> str:
    """The repository's ``docs/*.md`` concatenated in sorted order of their names."""
    paths = sorted((repository / "docs").glob("*.md"))
    if not paths:
        raise ValueError(f"no docs/*.md under {repository}")
    return "".join(path.read_text(encoding="utf-8") for path in paths)


def read_text(path: str) -> str:
    """The UTF-8 text of ``path``; ValueError naming the file when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"no such file: {path}") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 text: {error}") from None
    except OSError as error:
        raise ValueError(f"{path} cannot be read: {error.strerror or error}") from None


def code_points(text: str) -> np.ndarray:
    """The text's characters as ``uint32`` code points, one per character."""
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")


def vocabulary(text: str) -> list[str]:
    """The distinct characters of ``text`` in code-point order (``sorted(set(text))``)."""
    return [chr(point) for point in np.unique(code_points(text))]


def encode(text: str, characters: list[str]) -> np.ndarray:
    """The ids of ``text``'s characters in ``characters`` (sorted, covering the text), ``uint16``."""
    alphabet = np.asarray([ord(character) for character in characters], dtype=np.uint32)
    return np.searchsorted(alphabet, code_points(text)).astype(DTYPE)


def decode(ids, itos: dict) -> str:
    """The text of ``ids`` with ``itos`` as in meta.json (keys are the ids as strings)."""
    return "".join(itos[str(int(token))] for token in ids)


def metadata(characters: list[str]) -> dict:
    """meta.json: the vocabulary size and both directions of the character table."""
    return {
        "vocab_size": len(characters),
        "itos": {str(index): character for index, character in enumerate(characters)},
        "stoi": {character: index for index, character in enumerate(characters)},
    }


def prepare(text: str, out_dir) -> dict:
    """Write train.bin, val.bin and meta.json of ``text`` under ``out_dir`` (made if absent);
    returns the counts printed by :func:`main` (``characters``, ``vocab_size``, ``train``,
    ``val``) and the vocabulary (``alphabet``)."""
    if not text:
        raise ValueError("the text is empty: there is nothing to tokenize")
    characters = vocabulary(text)
    if len(characters) > np.iinfo(DTYPE).max + 1:
        raise ValueError(f"the text has {len(characters):,} distinct characters; uint16 ids hold at most 65,536")
    ids = encode(text, characters)
    cut = int(len(ids) * TRAIN_FRACTION)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    ids[:cut].tofile(folder / "train.bin")
    ids[cut:].tofile(folder / "val.bin")
    (folder / "meta.json").write_text(json.dumps(metadata(characters), indent=1) + "\n", encoding="utf-8")
    return {
        "characters": len(text),
        "alphabet": "".join(characters),
        "vocab_size": len(characters),
        "train": cut,
        "val": len(ids) - cut,
    }


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], usage="%(prog)s INPUT OUT_DIR | %(prog)s [--from-docs] OUT_DIR"
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="INPUT (a text file) and OUT_DIR, or OUT_DIR alone")
    parser.add_argument("--from-docs", action="store_true", help="read this repository's docs/*.md instead of INPUT")
    arguments = parser.parse_args(argv)
    if len(arguments.paths) > 2 or (arguments.from_docs and len(arguments.paths) != 1):
        parser.error("expected INPUT OUT_DIR, or --from-docs OUT_DIR")
    if len(arguments.paths) == 1 and Path(arguments.paths[0]).is_file():
        parser.error(f"{arguments.paths[0]} is a file: give the output folder too (INPUT OUT_DIR)")
    arguments.input = arguments.paths[0] if len(arguments.paths) == 2 else None
    arguments.out_dir = arguments.paths[-1]
    return arguments


def main(argv=None) -> int:
    arguments = parse_arguments(argv)
    sys.stdout.reconfigure(errors="backslashreplace")  # the alphabet on a terminal that is not UTF-8
    try:
        text = docs_text() if arguments.input is None else read_text(arguments.input)
        counts = prepare(text, arguments.out_dir)
    except (OSError, ValueError) as error:
        print(f"prepare_chars: {error}", file=sys.stderr)
        return 1
    print(f"length of dataset in characters: {counts['characters']:,}")
    print(f"all the unique characters: {counts['alphabet']}")
    print(f"vocab size: {counts['vocab_size']:,}")
    print(f"train has {counts['train']:,} tokens")
    print(f"val has {counts['val']:,} tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
