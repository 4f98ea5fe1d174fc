"""The intermediate representation: what the checker hands to the backends.

The IR is the contract between the front half of specc (parse, resolve, validate, lower)
and the back half (emit per backend, render). It is:

- frozen: every node is a frozen dataclass; collections are tuples;
- fully resolved: no references, no imports, no symbolic constants except tensor
  dimensions that stay symbolic at run time (the batch axis ``B``, a sequence axis ``T``);
- deterministic: the same spec gives the same IR, whose JSON (``to_json``) is
  byte-identical across runs and PYTHONHASHSEED values (keys sorted, tuples in source order).

Model graphs are *monomorphised*: every distinct instantiation of a block (same block,
same resolved hyperparameters, same concrete input dimensions) becomes one ``ModuleDef``;
a model is a ``ModuleDef`` too. A ``ModuleDef`` lists its sub-modules (layers with
parameters, instances of other ``ModuleDef`` and ``ModuleList`` repeats) and a body of
single-assignment statements. Backends render every ``ModuleDef`` as one class, in the
order of ``ModelGraph.modules`` (dependencies first).

Parameter names are dotted paths (``repeat_0.3.film_mlp_0.linear_1.weight``) and
identical on every backend. Canonical layout of parameter arrays is PyTorch's (linear
weight ``[out, in]``, conv weight ``[out, in / groups, *kernel]``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Union

from specc.runtime.parameters import IR_VERSION, Parameter

# A value of the configuration: JSON scalars and tuples of them. Mappings are written as
# tuples of (key, value) pairs sorted by key, so that every IR node stays hashable.
Scalar = Union[int, float, str, bool, None]
Value = Union[Scalar, tuple]
Dim = Union[int, str]  # a concrete size, or a symbolic run-time axis such as "B"



@dataclass(frozen=True)
class TensorType:
    """dtype in {"f32", "i32", "i64", "bool"}; shape with concrete or symbolic dims."""

    dtype: str
    shape: tuple[Dim, ...]


@dataclass(frozen=True)
class Layer:
    """A parametrised runtime layer held by a module: ``self.<attribute> = Kind(**arguments)``.

    ``kind`` is the runtime class name (``Linear``, ``Conv1d``, ``LayerNorm``, ...) present
    with the same constructor in ``specc.runtime.{jax,torch,mlx}.layers``. ``arguments``
    are the constructor's keyword arguments, sorted by name.
    """

    attribute: str
    kind: str
    arguments: tuple[tuple[str, Value], ...]
    parameters: tuple[Parameter, ...]
    trainable: bool = True  # False: `trainable = false`, its parameters stay at their initial values


@dataclass(frozen=True)
class Instance:
    """``self.<attribute> = <module>()``: one instance of another ModuleDef."""

    attribute: str
    module: str


@dataclass(frozen=True)
class ModuleList:
    """``self.<attribute> = [<module>() for _ in range(count)]`` (a ``repeat n { }``):
    every element has its own parameters, named ``<attribute>.<index>.<...>``."""

    attribute: str
    module: str
    count: int


Submodule = Union[Layer, Instance, ModuleList]


@dataclass(frozen=True)
class Operand:
    """An argument of a statement: a value name (``ref``), a literal (``literal``), or a
    parameter of another layer of the same module (``parameter``: its dotted path,
    ``embedding_0.weight``, passed as ``self.embedding_0.weight``: weight tying)."""

    ref: str | None = None
    literal: Value = None
    parameter: str | None = None


@dataclass(frozen=True)
class Statement:
    """``targets = <call>``.

    ``call`` selects what is called:
      - ``"layer"``: ``self.<attribute>(*inputs)`` for a Layer or Instance sub-module;
      - ``"repeat"``: ``for m in self.<attribute>: <targets> = m(*inputs)``; the targets are
        fed back as the first inputs of the next repetition (the repeat body's outputs
        replace the values it updates); ``inputs`` are the values at entry;
      - ``"extern"``: the user's function ``<function>(ops, *inputs, **arguments)``, a
        module-level name the script binds to the graph's ``Extern`` of that name (the
        backend's array operations first, then the tensors, then the hyperparameters);
      - ``"op"``: an unparametrised runtime function ``F.<function>(*inputs, **arguments)``
        from ``specc.runtime.<backend>.layers`` (``gelu``, ``split``, ``concat``,
        ``reshape``, ``sinusoidal``, ...) or an arithmetic operator ``add``, ``sub``,
        ``mul``, ``truediv``, ``floordiv``, ``mod``, ``pow``, ``neg`` rendered infix.
        Two exceptions, both read from the layer registry (added by the graphs helper):
        ``specc.compiler.vocabulary.layers.takes_tensor_list(function)`` (``concat``) means the inputs
        are passed as ONE list, ``F.concat([a, b], axis=-1)``; and
        ``specc.compiler.vocabulary.layers.runtime_module(function)`` names the runtime module that
        defines the function when it is not ``layers`` (``stft``, ``mdct``: ``preprocess``).
    """

    targets: tuple[str, ...]
    call: str
    function: str
    inputs: tuple[Operand, ...]
    arguments: tuple[tuple[str, Value], ...] = ()
    attribute: str | None = None
    types: tuple[TensorType, ...] = ()
    origin: str = ""  # "file.mf:line:col" of the spec expression this comes from


@dataclass(frozen=True)
class ModuleDef:
    """One monomorphised block, repeat body or model, rendered as one class."""

    name: str  # class name, CamelCase and unique in the graph
    source: str  # block / model name in the spec
    inputs: tuple[tuple[str, TensorType], ...]
    outputs: tuple[tuple[str, TensorType], ...]  # returned value names in order
    submodules: tuple[Submodule, ...]
    body: tuple[Statement, ...]
    origin: str = ""


@dataclass(frozen=True)
class Extern:
    """``extern gelu(x: [B, D]) -> [B, D] = python("functions.py", "gelu")``: a function of
    the user's that statements with ``call == "extern"`` call by ``name``. ``file`` is
    absolute (relative to the spec file that writes it), ``function`` the name in it.
    ``inputs`` / ``outputs``: the declared dimensions of each tensor, as written (``"B"``,
    ``"64"``, ``"2 * D"``), which the script checks the returned shapes against."""

    name: str
    file: str
    function: str
    inputs: tuple[tuple[str, ...], ...] = ()
    outputs: tuple[tuple[str, ...], ...] = ()
    origin: str = ""


@dataclass(frozen=True)
class ModelGraph:
    """A named model of the spec (``model vector_field ...``)."""

    name: str
    root: str  # name of the root ModuleDef
    modules: tuple[ModuleDef, ...]  # dependencies first, root last
    parameters: tuple[tuple[str, Parameter], ...]  # (full dotted name, parameter), sorted
    inputs: tuple[tuple[str, TensorType], ...]
    outputs: tuple[TensorType, ...]
    # One entry per value of the model's ``return``: None for a tensor, n for a list of n
    # tensors (``-> ([B, 1], list)``); ``outputs`` (and the root's ModuleDef.outputs) are the
    # flat sequence. Added by the graphs helper; () means every output is a tensor.
    output_structure: tuple = ()
    externs: tuple[Extern, ...] = ()  # the user functions its statements call, by name
    fixed: tuple[str, ...] = ()  # dotted paths of its layers written `trainable = false`, sorted


@dataclass(frozen=True)
class Component:
    """A registry component with resolved arguments: an optimizer, schedule, sampler,
    metric, loss term, logger, callback, data source, path or time sampler."""

    kind: str
    arguments: tuple[tuple[str, Value], ...]
    name: str = ""  # the spec's name for it where it has one (``optimizer generator: adam``)


@dataclass(frozen=True)
class Field:
    name: str
    type: TensorType


@dataclass(frozen=True)
class DataPlan:
    source: Component  # kind = registry data source (ksin, digits, npz, ...)
    fields: tuple[Field, ...]  # per-example fields (no batch axis)
    batch_size: int


@dataclass(frozen=True)
class LossTerm:
    """``weight * loss``; ``graph``: the built block of a ``graph("name")`` loss (no
    parameters, inputs (prediction, target), one ``f32[]`` output; its name is the block's),
    printed as a module-level function of the script."""

    weight: float
    loss: Component
    graph: ModuleDef | None = None


@dataclass(frozen=True)
class ObjectivePlan:
    """``kind``: classification, regression, flow_matching, mean_flow,
    improved_mean_flow, language_model, adversarial, ...

    ``inputs`` binds each model input to a data field or to a quantity the objective
    supplies (``x``, ``t``, ``h`` for flows): pairs (model input, source), where a source
    is ``data.<field>`` or ``objective.<name>``.
    """

    kind: str
    models: tuple[str, ...]
    target: str | None  # data field
    inputs: tuple[tuple[str, str], ...]
    arguments: tuple[tuple[str, Value], ...]
    terms: tuple[LossTerm, ...] = ()
    # a flow's ``path = graph("name")``: the built block (inputs x0, x1, t; outputs x_t, v; no
    # parameters; its name is the block's), printed as a module-level function of the script
    path_graph: ModuleDef | None = None
    # flow_matching's ``time = graph("name")``: the built block (no inputs; the random
    # primitives draw t [B] or [B, 1]), printed as a numpy function the data pipeline calls
    time_graph: ModuleDef | None = None


@dataclass(frozen=True)
class OptimizerPlan:
    name: str  # "" for the single unnamed optimizer
    optimizer: Component
    models: tuple[str, ...]
    schedule: Component | None


@dataclass(frozen=True)
class CheckpointPlan:
    every: int | None  # steps between checkpoints (with every_n_epochs: both)
    keep: int | str  # checkpoints kept by top-k, or "all": none pruned
    monitor: str | None
    mode: str  # "min" | "max"
    last: bool = True
    every_n_epochs: int | None = None
    filename: str | None = None  # folder name pattern; None: step-000123
    enable: bool = True  # False: the run writes no checkpoint
    dirpath: str = "checkpoints"  # their folder: relative to the run directory, or absolute


@dataclass(frozen=True)
class EarlyStoppingPlan:
    monitor: str
    patience: int
    mode: str
    min_delta: float
    verbose: bool = False


@dataclass(frozen=True)
class TrainPlan:
    max_steps: int | None
    max_epochs: int | None
    seed: int
    precision: str  # fp32 | bf16 | fp16
    log_every: int
    eval_every: int | None
    grad_clip: float | None
    grad_clip_mode: str  # norm | value
    accumulate: int
    ema: float | None
    freeze: tuple[str, ...]
    warm_start: str | None
    checkpoint: CheckpointPlan
    early_stopping: EarlyStoppingPlan | None
    loggers: tuple[Component, ...]
    callbacks: tuple[Component, ...]
    val_check_interval: float | None = None  # fraction of an epoch between evaluations
    penalties: tuple[Component, ...] = ()  # l2(prefix, weight) added to the training loss
    parallel: str = "replicated"  # replicated | sharded: parameters and optimizer state over the data axis
    limit_train_batches: int | None = None  # at most this many training batches an epoch
    metrics: tuple[Component, ...] = ()  # computed with the loss on every batch (train/<name>, val/<name>)
    remat: bool = False  # each pass of a `repeat` recomputed in the backward pass (activation checkpointing)
    compile: bool = False  # Lightning: torch.compile of the model (train.compile)
    tf32: bool = True  # Lightning: TF32 matmuls and convolutions on GPUs that have them (train.tf32)


@dataclass(frozen=True)
class EvalPlan:
    sampler: Component | None
    metrics: tuple[Component, ...]
    batch_size: int | None
    test_sampler: Component | None = None  # the test split's sampler (None: ``sampler``)
    on_train: bool = False  # each evaluation also evaluates the training examples (``train_eval``)
    metric_graphs: tuple = ()  # (metric position, ModuleDef) of each graph("block") metric


@dataclass(frozen=True)
class Provenance:
    """Where a resolved configuration value came from, for comments and ``specc explain``.

    ``key`` is the dotted spec path (``optimizer.lr``), ``origin`` one of
    ``"file.mf:31"``, ``"--set"``, ``"default"``; ``chain`` the import chain.
    """

    key: str
    origin: str
    chain: tuple[str, ...] = ()


@dataclass(frozen=True)
class Program:
    """The whole checked spec: the root of the IR."""

    spec_name: str
    spec_path: str  # as given on the command line, never made absolute
    spec_hash: str  # sha256 of the resolved spec text
    language_version: int
    data: DataPlan
    models: tuple[ModelGraph, ...]
    objective: ObjectivePlan
    optimizers: tuple[OptimizerPlan, ...]
    train: TrainPlan
    evaluation: EvalPlan
    provenance: tuple[Provenance, ...]
    # The spec after imports and overrides, formatted: written to the run directory as
    # spec.resolved.mf and into every checkpoint manifest.
    resolved_source: str = ""
    ir_version: int = IR_VERSION


def to_data(node):
    """The IR as plain JSON data (dicts, lists, scalars), with a ``"node"`` tag per object."""
    if dataclasses.is_dataclass(node):
        data = {"node": type(node).__name__}
        for field in dataclasses.fields(node):
            data[field.name] = to_data(getattr(node, field.name))
        return data
    if isinstance(node, tuple):
        return [to_data(item) for item in node]
    return node


def to_json(program: Program) -> str:
    """Canonical JSON: sorted keys, two-space indent, trailing newline."""
    return json.dumps(to_data(program), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
