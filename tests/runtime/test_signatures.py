"""One public API per runtime module, whatever the backend.

Every module that exists on several backends (``specc.runtime.<backend>.<module>``) has the
same public functions and classes, with the same signatures (parameter names, kinds and
defaults), on jax, torch and mlx, and on the numpy reference where it has the module.

A module's public names are its ``__all__`` when it declares one, else the functions and
classes defined in it whose names do not start with ``_``. The few names that only some
implementations have are listed in ``ONLY_ON`` with the reason; anything else that differs
fails here.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

pytest.importorskip("jax")
pytest.importorskip("torch")
pytest.importorskip("mlx.core")

BACKENDS = ("jax", "torch", "mlx")
IMPLEMENTATIONS = ("reference",) + BACKENDS
MODULES = ("ops", "flows", "losses", "metrics", "schedules", "preprocess", "layers", "state", "objectives")

# The reference's layers are the functional oracles of the backends' layer classes.
REFERENCE_LAYER_FORMS = {
    "conv1d": "Conv1d",
    "conv2d": "Conv2d",
    "conv_transpose1d": "ConvTranspose1d",
    "dropout": "Dropout",
    "embedding": "Embedding",
    "free_parameter": "FreeParameter",
    "gaussian_sample": "GaussianSample",
    "group_norm": "GroupNorm",
    "layer_norm": "LayerNorm",
    "linear": "Linear",
    "multi_head_attention": "MultiHeadAttention",
    "positional_embedding": "PositionalEmbedding",
    "rms_norm": "RMSNorm",
    "weight_norm": None,  # the reparametrisation behind Conv1d(weight_norm=True)
    "batch_norm": "BatchNorm",  # layers owning buffers (reference/statistics.py)
    "running_statistics": "RunningStatistics",
    "buffer": "Buffer",
}

# (module, name) -> the implementations that have it, when not every one with the module.
ONLY_ON = {
    # LambdaLR needs a ratio per step; optax and mlx.optimizers take the schedule itself.
    ("schedules", "lambda_lr"): {"torch"},
    # MLX's global random key cannot be assigned: it is saved and re-seeded by these two;
    # jax keeps its keys in the module state, torch checkpoints torch.get_rng_state().
    ("state", "random_key_words"): {"mlx"},
    ("state", "restore_random_key"): {"mlx"},
    # Freezing several models by prefix; jax freezes through optax masks
    # (specc.runtime.jax.training.frozen_masks) instead of flags on the parameters.
    ("objectives", "freeze_models"): {"torch", "mlx"},
    # Lightning runs the step: what it does not do (the norm it logs, an uncounted step).
    ("objectives", "gradient_norm"): {"torch"},
    ("objectives", "step_uncounted"): {"torch"},
    # The MLX scripts' compiled adversarial step; the JAX scripts write theirs out and
    # Lightning's is a LightningModule.
    ("objectives", "regroup"): {"mlx"},
    ("objectives", "computing_in"): {"mlx"},
    ("objectives", "mixed_precision_models"): {"mlx"},
    ("objectives", "make_adversarial_step"): {"mlx"},
    **{("layers", name): {"reference"} for name in REFERENCE_LAYER_FORMS},
    **{("layers", name): set(BACKENDS) for name in REFERENCE_LAYER_FORMS.values() if name},
}

# Helpers of the training scripts that every backend has, with one signature.
SHARED_TRAINING = {
    "ema_update": set(BACKENDS),
    "parameter_penalty": set(BACKENDS),
    "freeze_parameters": {"torch", "mlx"},  # jax: frozen_mask (optax masks)
    "with_penalties": {"mlx"},  # jax adds the penalty in its step, torch in its LightningModule
}


def load(implementation: str, module: str):
    """``specc.runtime.<implementation>.<module>``, or None when it does not exist."""
    name = f"specc.runtime.{implementation}.{module}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name == name:
            return None
        raise


def public_names(module) -> list[str]:
    """``__all__``'s callables, else the public functions and classes ``module`` defines or
    takes from a sibling module of the same implementation (not from shared modules such as
    ``specc.runtime.init``)."""
    if hasattr(module, "__all__"):
        return [name for name in module.__all__ if callable(getattr(module, name))]
    package = module.__name__.rpartition(".")[0] + "."
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__.startswith(package)
    ]


def describe(value) -> tuple:
    """Parameter names, kinds and defaults (not annotations) of a function or constructor."""
    if inspect.isclass(value):
        parameters = list(inspect.signature(value.__init__).parameters.values())[1:]
    else:
        parameters = list(inspect.signature(value).parameters.values())
    return tuple((p.name, p.kind.name, repr(p.default)) for p in parameters)


def implementations_of(module: str) -> dict:
    loaded = {name: load(name, module) for name in IMPLEMENTATIONS}
    return {name: value for name, value in loaded.items() if value is not None}


@pytest.mark.parametrize("module", MODULES)
def test_every_backend_has_the_module(module):
    missing = [backend for backend in BACKENDS if load(backend, module) is None]
    assert not missing, f"specc.runtime.<backend>.{module} is missing on {missing}"


@pytest.mark.parametrize("module", MODULES)
def test_public_names_are_the_same_everywhere(module):
    modules = implementations_of(module)
    names = {implementation: set(public_names(value)) for implementation, value in modules.items()}
    for name in sorted(set().union(*names.values())):
        holders = {implementation for implementation in names if name in names[implementation]}
        expected = ONLY_ON.get((module, name), set(modules))
        assert holders == expected, f"{module}.{name} is on {sorted(holders)}, expected on {sorted(expected)}"


@pytest.mark.parametrize("module", MODULES)
def test_signatures_are_the_same_everywhere(module):
    modules = implementations_of(module)
    signatures: dict[str, dict[str, tuple]] = {}
    for implementation, value in modules.items():
        for name in public_names(value):
            signatures.setdefault(name, {})[implementation] = describe(getattr(value, name))
    for name, by_implementation in sorted(signatures.items()):
        distinct = set(by_implementation.values())
        assert len(distinct) == 1, f"{module}.{name} has different signatures: {by_implementation}"


def test_reference_layer_forms_name_the_backend_classes():
    classes = set(public_names(load("jax", "layers")))
    for form, layer_class in REFERENCE_LAYER_FORMS.items():
        assert layer_class is None or layer_class in classes, (form, layer_class)
        expected = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", layer_class or form).lower()
        assert expected == form


@pytest.mark.parametrize("module", MODULES)
def test_all_lists_every_public_function(module):
    """A module that declares ``__all__`` lists every public function it defines (or binds
    from ``specc.runtime.composites``)."""
    for value in implementations_of(module).values():
        if not hasattr(value, "__all__"):
            continue
        missing = [name for name in value.__all__ if not hasattr(value, name)]
        assert not missing, f"{value.__name__}.__all__ names missing attributes {missing}"
        undeclared = [
            name
            for name, member in vars(value).items()
            if not name.startswith("_")
            and inspect.isfunction(member)
            and member.__module__ in (value.__name__, f"specc.runtime.composites.{module}")
            and name not in value.__all__
        ]
        assert not undeclared, f"{value.__name__} defines public functions outside __all__: {undeclared}"


def template_text() -> str:
    import specc.templates

    root = Path(specc.templates.__path__[0])
    return "\n".join(path.read_text() for path in sorted(root.rglob("*.j2")))


def emitter_text() -> str:
    import specc.compiler.emit

    root = Path(specc.compiler.emit.__path__[0])
    return "\n".join(path.read_text() for path in sorted(root.glob("*.py")))


def test_training_helpers_share_names_and_signatures():
    modules = {backend: load(backend, "training") for backend in BACKENDS}
    for name, holders in SHARED_TRAINING.items():
        assert {backend for backend in BACKENDS if hasattr(modules[backend], name)} >= holders, name
        signatures = {backend: describe(getattr(modules[backend], name)) for backend in holders}
        assert len(set(signatures.values())) == 1, f"training.{name}: {signatures}"


def test_every_training_helper_a_script_calls_is_in_its_training_module():
    """``<backend>_training.X`` in the templates and the emitters names an attribute of
    ``specc.runtime.<backend>.training`` (defined there or re-exported from a sibling)."""
    aliases = {"jax_training": "jax", "torch_training": "torch", "mlx_training": "mlx"}
    called = re.findall(r"\b(jax_training|torch_training|mlx_training)\.([A-Za-z_]\w*)", template_text() + emitter_text())
    assert called, "no training helper call found in the templates"
    missing = sorted({f"{alias}.{name}" for alias, name in called if not hasattr(load(aliases[alias], "training"), name)})
    assert not missing, f"called by the scripts but missing from the training modules: {missing}"
