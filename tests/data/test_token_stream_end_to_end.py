"""End to end: a language model trained on a token stream made from a text file, on every
backend. The windows are drawn in the shared numpy runtime, so every backend sees the same
windows (and starts from the same numpy initialisation): the per-step training losses agree;
a run stopped and resumed draws the windows the uninterrupted run drew; every script prints
its parameter count first."""

from __future__ import annotations

import csv
import subprocess
import sys
import json

import numpy as np
import pytest

from specc.compiler import pipeline
from specc.compiler.emit import render as emit
from tests.backends.runner import REPOSITORY, run_script
from tests.specs.helpers import read

pytestmark = pytest.mark.slow

BACKENDS = ("jax", "lightning", "mlx")

SPEC = """spec stream_lm
language 1

let vocab_size = {vocab}
let block_size = 16

data token_stream {{
  path = "tok"
  block_size = block_size
  meta = "tok/meta.json"
  eval_windows = 8
  batch_size = 4
}}

model lm(tokens: i64[B, block_size]) -> f32[B, block_size, vocab_size] {{
  h = positional_embedding(embedding(tokens, vocab_size, 16), block_size)
  h = h + attention(layernorm(h), 2, causal = true)
  return linear(layernorm(h), vocab_size)
}}

objective language_model {{
  model = lm
  target = data.tokens
}}

optimizer adamw {{ lr = 1e-2 }}

train {{
  max_steps = 4
  log_every = 1
  eval_every = 4
  callbacks = []
}}
"""


def token_folder(folder, characters_read: int = 20000) -> int:
    """train.bin / val.bin (uint16) and meta.json from the first ``characters_read``
    characters of a text file; returns the vocabulary size."""
    text = (REPOSITORY / "docs" / "architecture.md").read_text(encoding="utf-8")[:characters_read]
    characters = sorted(set(text))
    ids = np.asarray([characters.index(character) for character in text], dtype=np.uint16)
    folder.mkdir()
    cut = int(len(ids) * 0.9)
    ids[:cut].tofile(folder / "train.bin")
    ids[cut:].tofile(folder / "val.bin")
    (folder / "meta.json").write_text(json.dumps({"vocab_size": len(characters)}))
    return len(characters)


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream")
    vocab = token_folder(folder / "tok")
    spec = folder / "stream_lm.mf"
    spec.write_text(SPEC.format(vocab=vocab))
    made = {}
    for backend in BACKENDS:
        result = pipeline.check(str(spec), read, (), backend)
        assert not result.errors, result.diagnostics
        made[backend] = folder / f"train_stream_lm_{backend}.py"
        made[backend].write_text(emit.render(result.program, backend))
    return made


def losses(run_directory) -> dict[tuple[str, int], float]:
    with open(run_directory / "metrics.csv", newline="") as handle:
        return {
            (row["split"], int(row["step"])): float(row["value"])
            for row in csv.DictReader(handle)
            if row["name"] == "loss"
        }


def test_every_backend_trains_on_the_same_windows(scripts):
    found = {}
    vocab = json.loads((next(iter(scripts.values())).parent / "tok" / "meta.json").read_text())["vocab_size"]
    # embedding, positions, two layer norms, attention (4 projections with bias), the head
    count = vocab * 16 + 16 * 16 + 2 * 2 * 16 + 4 * (16 * 16 + 16) + 16 * vocab + vocab
    for backend, script in scripts.items():
        run = script.parent / f"run_{backend}"
        result = run_script(script, "--out-dir", run, env={"OMP_NUM_THREADS": "1"})
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[0] == f"parameters: {count:,} ({count:,} trainable)", backend
        found[backend] = losses(run)
    reference = found["jax"]
    assert sorted(reference) == [("train", 1), ("train", 2), ("train", 3), ("train", 4), ("val", 4)]
    for backend in ("lightning", "mlx"):
        for key, value in reference.items():
            assert found[backend][key] == pytest.approx(value, abs=2e-4), (backend, key)


def test_a_resumed_run_draws_the_windows_of_the_uninterrupted_run(scripts):
    script = scripts["jax"]
    whole, parts = script.parent / "whole", script.parent / "parts"
    run_script(script, "--out-dir", whole, check=True)
    run_script(script, "--out-dir", parts, "--max-steps", "2", check=True)
    run_script(script, "--out-dir", parts, "--resume", "auto", check=True)
    expected, resumed = losses(whole), losses(parts)
    for step in (3, 4):
        assert resumed[("train", step)] == pytest.approx(expected[("train", step)], abs=1e-6)


def test_sampling_draws_the_same_tokens_on_every_backend(scripts):
    """`specc sample`: the checkpoint's model rebuilt on each backend, the draws made in numpy
    from the last position's logits, so a seed gives the same tokens everywhere."""
    from specc.sample import sample

    run = scripts["jax"].parent / "sampled"
    run_script(scripts["jax"], "--out-dir", run, env={"OMP_NUM_THREADS": "1"}, check=True)
    prompt = [3, 1, 4, 1, 5]
    greedy = {backend: sample(run, prompt, 12, backend, temperature=0) for backend in ("jax", "torch", "mlx")}
    drawn = {backend: sample(run, prompt, 12, backend, temperature=0.9, top_k=8, seed=7) for backend in ("jax", "torch", "mlx")}
    assert greedy["torch"] == greedy["mlx"] == greedy["jax"]
    assert drawn["torch"] == drawn["mlx"] == drawn["jax"]
    assert drawn["jax"][:5] == prompt and len(drawn["jax"]) == 17
    assert sample(run, prompt, 12, "jax", temperature=0.9, top_k=8, seed=7) == drawn["jax"]
    command = subprocess.run(
        [sys.executable, "-m", "specc", "sample", str(run), "--prompt", "3,1,4,1,5", "-n", "12", "-t", "0.9", "-k", "8", "--seed", "7"],
        capture_output=True, text=True, timeout=240,
    )
    assert command.returncode == 0, command.stderr
    assert command.stdout == " ".join(map(str, drawn["jax"])) + "\n"
    refused = subprocess.run(
        [sys.executable, "-m", "specc", "sample", str(run), "--prompt", "3,99999"], capture_output=True, text=True, timeout=240
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: prompt token 99999 is outside the vocabulary [0, ")
