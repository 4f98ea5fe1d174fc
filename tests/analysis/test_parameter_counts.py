"""``specc summary``'s parameter counts equal what every backend instantiates.

For every example spec and every runtime, the model classes a training script defines
(rendered alone, as the checkpoint loader does) are instantiated without allocating their
arrays (torch's ``meta`` device, ``nnx.eval_shape``, MLX's lazy arrays), the parameters the
training script adds to a model are attached as ``build_model`` does (the learned null
condition of classifier-free guidance), and the backend's own ``state.parameter_count``
counts them.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import pytest

from specc.compiler.analysis.summary import summarize
from specc.compiler.emit.standalone import render_models
from specc.compiler.pipeline import check
from specc.load import ATTACH_PARAMETER, execute_models

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted(path.name for path in (ROOT / "specs").glob("*.mf"))
RUNTIMES = ("torch", "jax", "mlx")


def program_of(spec: str):
    result = check(str(ROOT / "specs" / spec), lambda path: Path(path).read_bytes())
    assert result.program is not None, result.diagnostics
    return result.program


def instantiate(runtime: str, model_class, nulls):
    """An instance whose arrays are never allocated, with the script's extra parameters."""
    if runtime == "torch":
        import torch

        with torch.device("meta"):
            instance = model_class()
            for name, shape in nulls:
                ATTACH_PARAMETER[runtime](instance, name, shape)
        return instance
    if runtime == "jax":
        from flax import nnx

        def build():
            instance = model_class()
            for name, shape in nulls:
                ATTACH_PARAMETER[runtime](instance, name, shape)
            return instance

        return nnx.eval_shape(build)
    instance = model_class()  # MLX arrays are lazy: zeros are not computed until evaluated
    for name, shape in nulls:
        ATTACH_PARAMETER[runtime](instance, name, shape)
    return instance


def parameter_count(runtime: str, instance) -> int:
    """The backend's ``state.parameter_count``; for JAX the same variables (``nnx.Param``)
    counted from their abstract shapes (``parameter_count`` reads values)."""
    if runtime == "jax":
        import jax
        from flax import nnx

        return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(nnx.state(instance, nnx.Param)))
    return importlib.import_module(f"specc.runtime.{runtime}.state").parameter_count(instance)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("spec", SPECS)
def test_summary_counts_what_each_backend_instantiates(spec, runtime):
    program = program_of(spec)
    rendered = render_models(program, runtime)
    namespace = execute_models(rendered.source, program.spec_name, runtime)
    for model in summarize(program).models:
        model_class = getattr(namespace, rendered.roots[model.name])
        instance = instantiate(runtime, model_class, rendered.nulls.get(model.name, ()))
        assert parameter_count(runtime, instance) == model.parameters, (spec, runtime, model.name)


def test_the_layer_table_adds_up_to_the_total():
    """The model's own rows (depth 0) hold every parameter exactly once."""
    for spec in SPECS:
        for model in summarize(program_of(spec)).models:
            top = [row.parameters for row in model.rows if row.depth == 0 and row.parameters is not None]
            assert sum(top) == model.parameters, (spec, model.name)
