"""Check the seed specs through the real pipeline (lint, IR, emit)."""

from __future__ import annotations

import math
from pathlib import Path

import specc.specs
from specc.compiler import pipeline
from specc.dsl.diagnostics import render_text

SPECS = Path(specc.specs.__file__).parent
SEED_SPECS = ("meanflow_audio", "astro_lm", "audio_classifier", "audio_vae_gan", "ksin_flow_transformer")
BACKENDS = ("jax", "lightning", "mlx")


def read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def spec_path(name: str) -> str:
    return str(SPECS / f"{name}.mf")


def check(name: str, overrides=(), backend=None):
    return pipeline.check(spec_path(name), read, tuple(overrides), backend)


def check_ok(name: str, overrides=(), backend=None):
    """The checked program; fails with every diagnostic rendered when there is an error."""
    result = check(name, overrides, backend)
    assert not result.errors, "\n".join(render_text(d, result.sources) for d in result.diagnostics)
    return result.program


def parameter_count(program, model: str) -> int:
    graph = next(graph for graph in program.models if graph.name == model)
    return sum(math.prod(parameter.shape) for _, parameter in graph.parameters)


def module_sources(program) -> set[str]:
    """The block (or model) names every model of the program instantiates."""
    return {module.source for graph in program.models for module in graph.modules}
