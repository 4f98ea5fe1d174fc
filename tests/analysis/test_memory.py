"""The memory ``specc summary`` estimates against a measured PyTorch training step on CPU.

Each measurement runs in a fresh process (``tests/analysis/measure_memory.py``): the growth
of its peak resident memory over one step (forward, cross-entropy, backward, Adam update),
against ``ProgramSummary.memory(batch)``. The estimate holds within a factor of
``FACTOR`` either way; measured on the development machine: digits 0.9x, astro_lm 1.15x.

Shapes: digits_mlp as specified with a batch of 65,536 (so that the step's memory, about
150 MB, stands far above the allocator's noise); astro_lm's transformer at its sequence
length (T = 1023) and vocabulary (4,101 tokens) with 2 layers of width 128 instead of 12 of
768 (a full-size step would take minutes on CPU), in fp32 (the CPU step does not use the
bf16 working copy the estimate counts for mixed precision).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
FACTOR = 2.0
CASES = {
    "digits": ("specs/digits_mlp.mf", 65_536, ()),
    "astro_lm": (
        "specs/astro_lm.mf",
        2,
        ("n_layers=2", "d_model=128", "n_heads=4", "d_ff=512", "train.precision=fp32"),
    ),
}


def measure(spec: str, batch: int, overrides: tuple[str, ...]) -> dict:
    arguments = [sys.executable, "-m", "tests.analysis.measure_memory", spec, str(batch)]
    for override in overrides:
        arguments += ["--set", override]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    finished = subprocess.run(arguments, check=False, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_estimated_peak_memory_is_within_the_stated_factor_of_a_measured_step(case):
    found = measure(*CASES[case])
    ratio = found["measured"] / found["estimated"]
    assert 1 / FACTOR <= ratio <= FACTOR, (case, found, ratio)
