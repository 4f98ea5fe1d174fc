"""Backend tables: everything that differs between the generated scripts of two backends.

Each backend module (``specc.compiler.backends.<name>``) defines ``BACKEND``, a
:class:`Backend` value. ``specc.compiler.emit.render`` renders every backend through the same code
path and reads only this table; backend-only template fields come from ``Backend.context``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

BACKEND_NAMES = ("jax", "lightning", "mlx")
"""The backends, in order: the one list every other part of specc reads (the vocabulary, the
checker, the CLI, the checkpoint loader). Each name has a table module here."""

BACKEND_ALIASES = {
    "torch": "lightning",
    "pytorch": "lightning",
    "pytorch_lightning": "lightning",
    "pytorch-lightning": "lightning",
    "pl": "lightning",
    "flax": "jax",
}
"""Names people type for a backend (the framework rather than the backend): the CLI suggests
the backend (``--backend torch``: "did you mean `lightning`?")."""


def suggested_backend(name: str, choices=BACKEND_NAMES) -> str | None:
    """The choice a mistyped backend ``name`` most likely means: itself lower-cased, its
    alias (``pytorch`` -> ``lightning``; ``torch`` when ``choices`` has it, as the checkpoint
    loader's do), or None."""
    lowered = name.strip().lower()
    for candidate in (lowered, BACKEND_ALIASES.get(lowered)):
        if candidate in choices:
            return candidate
    if lowered in BACKEND_ALIASES and "torch" in choices and BACKEND_ALIASES[lowered] == "lightning":
        return "torch"
    return None


@dataclass(frozen=True)
class Refusal:
    """A setting the backend's template for ``objective`` does not render: when the value at
    ``path`` (``("train", "ema")``, ``("train", "checkpoint", "filename")``) makes ``applies``
    true, the checker reports E0801 at that value, naming ``feature`` and the backend.
    ``objective`` None: with every objective."""

    objective: str | None
    path: tuple[str, ...]
    feature: str
    applies: Callable[[object], bool] = bool


@dataclass(frozen=True)
class ParameterRefusal:
    """A parameter of a registry component the backend does not implement: when a spec gives
    ``parameter`` of component ``component`` (of registry kind ``kind``: ``loss``, ``metric``,
    ``callback``...) a value other than the registry's default, the checker reports E0803 at
    that value: "`label_smoothing` of `cross_entropy` is not implemented by backend `mlx`".
    ``objective``: only with that objective (None: with every objective)."""

    kind: str
    component: str
    parameter: str
    objective: str | None = None


@dataclass(frozen=True)
class Backend:
    """What one backend renders differently.

    - ``template``: path of the script template under ``templates/`` (``jax/train.py.j2``).
    - ``imports``: import lines written at the top of the script, in order.
    - ``runtime``: the runtime package the scripts import (``specc.runtime.<runtime>``).
    - ``model_imports``: what model classes alone need (the checkpoint loader's module).
    - ``runtime``: the runtime package the scripts and the checkpoint loader use
      (``specc.runtime.<runtime>``: ``jax``, ``torch``, ``mlx``).
    - ``module_base``: base class of every generated model class (``nnx.Module``).
    - ``forward_name``: name of the forward method (``__call__`` / ``forward``).
    - ``module_list``: container wrapping a ``repeat``'s modules (``nnx.List``,
      ``nn.ModuleList``) or ``""`` for a plain Python list.
    - ``call_super_init``: whether ``__init__`` starts with ``super().__init__()``.
    - ``capabilities``: for each capability kind (``precision``, ``objective``,
      ``optimizer``, ``schedule``, ``sampler``, ``metric``, ``logger``) the set of
      values this backend implements; the checker turns a miss into an E08xx diagnostic.
      This is the ONE statement of what a backend implements: the registry's components carry
      no backend list (``implementing`` answers "which backends have it"). A kind the table
      does not list (``layer``, ``metric``, ``callback``...) is unrestricted.
    - ``objective_templates``: objective kind -> a template used instead of ``template``
      (an objective whose loop differs, e.g. ``adversarial``'s two alternating optimizers).
    - ``refusals``: :class:`Refusal` settings the checker reports (E0801, positioned), and
      :class:`ParameterRefusal` component parameters it does not implement (E0803).
    - ``discriminator_outputs``: how many values the ``adversarial`` template needs the
      discriminator to return (2: ``(logits, features)``); 0 when any structure renders.
    """

    name: str
    template: str
    imports: tuple[str, ...]
    runtime: str
    model_imports: tuple[str, ...]
    module_base: str
    forward_name: str
    module_list: str
    call_super_init: bool
    capabilities: Mapping[str, frozenset[str]] = field(default_factory=dict)
    objective_templates: Mapping[str, str] = field(default_factory=dict)
    refusals: tuple[Refusal | ParameterRefusal, ...] = ()
    discriminator_outputs: int = 0

    def supports(self, kind: str, value: str) -> bool:
        """True when this backend implements ``value`` of capability ``kind``.

        A kind the table does not list is unrestricted.
        """
        allowed = self.capabilities.get(kind)
        return allowed is None or value in allowed


def get_backend(name: str) -> Backend:
    """The table of backend ``name``; ``ValueError`` naming the known backends otherwise."""
    if name not in BACKEND_NAMES:
        known = ", ".join(BACKEND_NAMES)
        raise ValueError(f"unknown backend {name!r}; known backends: {known}")
    module = importlib.import_module(f"specc.compiler.backends.{name}")
    return module.BACKEND


def implementing(kind: str, value: str) -> tuple[str, ...]:
    """The backends whose table implements ``value`` of capability ``kind``, in order."""
    return tuple(name for name in BACKEND_NAMES if get_backend(name).supports(kind, value))


def table_for(backend: str) -> Backend:
    """The table of a script backend (``lightning``) or of the runtime it runs on (``torch``);
    ``ValueError`` naming the choices otherwise."""
    return get_backend(script_name(backend))


def script_name(backend: str) -> str:
    """``lightning`` for ``torch`` (the checkpoint loader speaks of runtimes), else the name."""
    for name in BACKEND_NAMES:
        if backend in (name, get_backend(name).runtime):
            return name
    runtimes = ", ".join(get_backend(name).runtime for name in BACKEND_NAMES)
    raise ValueError(f"unknown backend {backend!r}; choose one of {runtimes}")


def runtime_name(backend: str) -> str:
    """The runtime package (``torch``, ``jax``, ``mlx``) of a backend, or of a runtime name
    itself (the checkpoint loader accepts ``torch`` for ``lightning``); ``ValueError`` naming
    the choices otherwise."""
    runtimes = {get_backend(name).runtime: name for name in BACKEND_NAMES}
    if backend in runtimes:
        return backend
    if backend in BACKEND_NAMES:
        return get_backend(backend).runtime
    choices = ", ".join(sorted(set(runtimes) | set(BACKEND_NAMES)))
    raise ValueError(f"unknown backend {backend!r}; choose one of {choices}")


def available_backends() -> tuple[str, ...]:
    """Names of the backends whose table module exists (in the order of BACKEND_NAMES)."""
    names = []
    for name in BACKEND_NAMES:
        try:
            importlib.import_module(f"specc.compiler.backends.{name}")
        except ModuleNotFoundError:
            continue
        names.append(name)
    return tuple(names)


def is_set(value) -> bool:
    """A written optional setting (``None`` and ``False`` mean absent)."""
    return value is not None and value is not False


GENERATOR_OBJECTIVES = ("adversarial", "vae")
"""The objectives rendered by the generator loop (each backend's ``objective_templates``):
``adversarial`` (a generator against a discriminator, or alone with ``use_adversarial =
false``) and ``vae`` (the model alone on reconstruction + KL: the same loop). Their
checkpoints name every array ``<model>.<parameter>``, one model or two."""


def generator_loop_refusals(*refusals: Refusal) -> tuple[Refusal, ...]:
    """Each refusal of the generator loop, once per objective it renders (``adversarial``
    and ``vae``): what the loop does not do is refused for both."""
    return tuple(replace(refusal, objective=name) for refusal in refusals for name in GENERATOR_OBJECTIVES)


# fp16's dynamic loss scale is built in the one-model step only (specc.runtime.<backend>.precision)
ADVERSARIAL_FP16 = Refusal(
    "adversarial", ("train", "precision"), "fp16 (dynamic loss scaling in the generator loop)", lambda value: value == "fp16"
)
# parameters and optimizer state sharded along the data axis: built in every backend's main
# template (JAX: a sharded mesh; Lightning: fsdp; MLX: optimizer state split over the ranks),
# and in JAX's generator loop, not yet in the others'
SHARDED_STATE = "sharded parameters and optimizer state (train.parallel = sharded)"
ADVERSARIAL_SHARDED = Refusal("adversarial", ("train", "parallel"), SHARDED_STATE, lambda value: value == "sharded")
