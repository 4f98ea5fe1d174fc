"""The registry: every component and section a spec can name, declared once, as data.

Validation (``schema.py``, ``validate.py``), did-you-mean, ``specc schema``, docs and the
backends all read these tables: the components are in ``components.py`` and
``objectives.py``, the sections here. Adding a component is one entry there (plus its
runtime implementation per backend).

Parameter types (``Param.type``), a small closed vocabulary:

- ``int``, ``float``, ``bool``, ``str``; a trailing ``?`` allows ``none`` (the default);
- ``enum`` with ``choices``; ``int|enum``: an integer in the range or one of the words of
  ``choices`` (``keep = all``); ``list[int]``, ``list[float]``, ``list[str]``, ``pair[float]``;
- ``model`` / ``list[model]``: the name of a ``model`` of the spec;
- ``field``: a data field reference (``data.signal``); ``inputs``: a mapping from model
  input names to data fields (``{ signal = data.signal }``);
- ``tensors``: a mapping from field names to tensor types written as strings
  (``{ x = "f32[64]", y = "i64[]" }``) for file data sources;
- a component kind (``path``, ``time``, ``sampler``, ``metric``, ``logger``, ``callback``,
  ``loss``): a bare name or a call (``linear(noise_min = 0.0)``); ``list[<kind>]``;
  ``terms``: a weighted sum of losses (``cross_entropy + 0.1 * expected_scalar(...)``).

Ranges are written as strings: ``">0"``, ``">=1"``, ``"[0,1)"``, ``"(0,1]"``.
"""

from __future__ import annotations

from specc.compiler.vocabulary.components import (  # noqa: F401 (the tables, re-exported)
    CALLBACKS,
    COMPONENTS,
    DATA,
    LOGGERS,
    LOSSES,
    METRICS,
    OBJECTIVES,
    OPTIMIZERS,
    PATHS,
    PENALTIES,
    PRECISIONS,
    RENDERERS,
    SAMPLERS,
    SCHEDULES,
    TIMES,
    TRANSFORMS,
)
from specc.compiler.backends import BACKEND_NAMES, implementing
from specc.compiler.vocabulary.types import (  # noqa: F401 (re-exported)
    REQUIRED,
    ComponentDef,
    Contract,
    FieldDecl,
    Param,
    Range,
    SectionDef,
    field_dims,
    parameter,
    parse_range,
)

DATA_KEYS = (
    parameter("batch_size", "int", REQUIRED, "examples per batch", ">=1"),
    parameter("coupling", "enum", "none", "minibatch coupling of noise and data (ot: exact OT)", choices=("none", "ot")),
    parameter("eval_batch_size", "int?", None, "batch size of evaluation (default: batch_size)", ">=1"),
    # loader keys (runtime/data/loader.py loader_options; docs/runtime.md "Loader options")
    parameter("num_workers", "int", 0, "threads producing batches ahead (0: one when prefetching)", ">=0"),
    parameter("prefetch_factor", "int?", None, "batches loaded ahead per worker (default: 0 for in-memory rows, else 2)", ">=0"),
    parameter("persistent_workers", "bool", False, "keep the workers (threads or processes) between epochs"),
    parameter("pin_memory", "bool", True, "page-locked batches, copied to a CUDA GPU while the step before runs (Lightning on CUDA, nothing pinned on the CPU; `false` refused on JAX and MLX, which pin nothing)"),
    parameter("worker_type", "enum", "thread", "how workers run: threads, or spawned processes", choices=("thread", "process")),
    parameter("drop_last", "bool", True, "drop the incomplete last training batch (evaluation keeps it)"),
    parameter("shuffle", "bool", True, "a new order of the training examples each epoch (false: the source's order)"),
    parameter("transforms", "list[transform]", (), "per-example transforms: [normalize, clip(minimum = -1)]"),
    # debugging keys (seed 004's SurgeDataModule; docs/runtime.md "Fake data and a repeated batch")
    parameter("repeat_first_batch", "bool", False, "every training batch holds the first batch's examples "
              "(the objective's noise and times are still drawn per step)"),
    parameter("fake", "bool", False, "random examples of the declared fields instead of the source's files "
              "(file sources: npz, npy, hdf5, wav_folder, token_stream, python)"),
    # seed 004's LogSpectralDistance(synth_fn) on a file source (docs/language.md "Signals from parameters: `render`")
    # seed 004's SurgeDataModule(predict_file=...) (docs/language.md "Predict mode: `predict`")
    parameter("predict", "str?", None, "a file of inputs (.npz, .h5) for `python train.py --predict`: the model's "
              "outputs for every row, written to <run>/predictions/<file>.npz"),
    parameter("render", "renderer?", None, "how parameters become signals for log_spectral_distance: "
              "ksin(signal_length = 1024) or python(\"synth.py\", \"render\")"),
)

OPTIMIZER_KEYS = (parameter("models", "list[model]", (), "models this optimizer updates (default: all)"),)

# ----------------------------------------------------------------------- sections

TRAIN_KEYS = (
    parameter("max_steps", "int?", None, "training steps (one batch and its updates each)", ">=1"),
    parameter("max_epochs", "int?", None, "training epochs", ">=1"),
    parameter("seed", "int", 0, "seed of initialisation and data order", ">=0"),
    parameter("precision", "enum", "fp32", "compute precision", choices=("fp32", "bf16", "fp16")),
    parameter(
        "compile",
        "bool",
        False,
        "Lightning: torch.compile the model (its first steps compile); JAX and MLX compile every step already",
    ),
    parameter(
        "tf32",
        "bool",
        True,
        "Lightning: TF32 matmuls and convolutions on GPUs that have them (Ampere and later); false: full fp32",
    ),
    parameter("log_every", "int", 50, "steps between train rows of metrics.csv", ">=1"),
    parameter("eval_every", "int?", None, "steps between evaluations (also at the end)", ">=1"),
    parameter(
        "val_check_interval",
        "float?",
        None,
        "fraction of an epoch between evaluations, counted within each epoch (Lightning's float form)",
        "(0,1]",
    ),
    parameter("grad_clip", "float?", None, "gradient clipping threshold", ">0"),
    parameter("grad_clip_mode", "enum", "norm", "clip the global norm or each value", choices=("norm", "value")),
    parameter("accumulate", "int", 1, "micro-batches averaged per step", ">=1"),
    parameter(
        "remat",
        "bool",
        False,
        "activation checkpointing: each pass of a model's `repeat` keeps only its inputs and is "
        "recomputed in the backward pass (memory for compute; E0585 without a repeat)",
    ),
    parameter(
        "limit_train_batches",
        "int?",
        None,
        "at most this many training batches an epoch: the epoch ends there (Lightning's int form)",
        ">=1",
    ),
    parameter(
        "parallel",
        "enum",
        "replicated",
        "state of a data-parallel run (--devices N): replicated on every device, or sharded along the "
        "data axis (JAX; docs/distributed.md)",
        choices=("replicated", "sharded"),
    ),
    parameter("ema", "float?", None, "decay of an exponential moving average of the weights", "(0,1)"),
    parameter("freeze", "list[str]", (), "parameter-name prefixes that are not trained"),
    parameter("penalties", "list[penalty]", (), 'penalties added to the training loss: [l2("pe", weight = 1e-3)]'),
    parameter(
        "metrics",
        "list[metric]",
        (),
        "metrics computed with the loss on every batch: logged as train/<name> in the training rows and "
        "val/<name> at each evaluation (classification: accuracy; regression: mse, mae)",
    ),
    parameter("warm_start", "str?", None, "checkpoint directory whose weights initialise the model"),
    parameter("loggers", "list[logger]", ("csv",), "loggers (csv is always on)"),
    parameter(
        "callbacks",
        "list[callback]",
        ("progress_bar", "lr_monitor", "grad_norm_monitor"),
        "what the run shows and logs besides the loss: a progress display, `lr` rows, `grad_norm` rows",
    ),
)

CHECKPOINT_KEYS = (
    parameter("every", "int?", None, "steps between checkpoints (also at the end; with every_n_epochs: both)", ">=1"),
    parameter(
        "keep", "int|enum", 1, "best checkpoints kept (plus last); all: every checkpoint, none pruned", ">=1", choices=("all",)
    ),
    parameter("monitor", "str?", None, "metric ranking checkpoints: split/name"),
    parameter("mode", "enum", "min", "direction of improvement", choices=("min", "max")),
    parameter("last", "bool", True, "keep a `last` pointer to the newest checkpoint (false: none, the top-k alone kept)"),
    parameter("every_n_epochs", "int?", None, "epochs between checkpoints (also at the end; with every: both)", ">=1"),
    parameter("filename", "str?", None, 'checkpoint folder pattern: "{epoch}-{step}-{val/loss:.3f}" (default: step-000123)'),
    parameter(
        "enable",
        "bool",
        True,
        "write checkpoints; false: none at all (nothing to resume; Lightning's enable_checkpointing)",
    ),
    parameter(
        "dirpath",
        "str",
        "checkpoints",
        "folder of the checkpoints: relative to the run directory, or absolute (Lightning's ModelCheckpoint dirpath)",
    ),
)

EARLY_STOPPING_KEYS = (
    parameter("monitor", "str", "val/loss", "metric watched: split/name"),
    parameter("patience", "int", 10, "evaluations without improvement before stopping", ">=1"),
    parameter("mode", "enum", "min", "direction of improvement", choices=("min", "max")),
    parameter("min_delta", "float", 0.0, "smallest change counted as improvement", ">=0"),
    parameter("verbose", "bool", False, "print why training stopped"),
)

EVAL_KEYS = (
    parameter("sampler", "sampler?", None, "ODE sampler of generative objectives"),
    parameter("test_sampler", "sampler?", None, "sampler of the test split only (default: sampler)"),
    parameter("metrics", "list[metric]", (), "metrics computed on val and test, logged as val/<name>"),
    parameter(
        "on_train",
        "bool",
        False,
        "each evaluation also evaluates fixed training examples (no dropout), logged as train_eval/<name>",
    ),
)

SECTIONS = {
    section.kind: section
    for section in (
        SectionDef("data", "the data source and batching", "data", DATA_KEYS, required=True),
        SectionDef("objective", "what is learned and how the models are fed", "objective", required=True),
        SectionDef(
            "optimizer",
            "an optimizer; name it for several (`optimizer generator: adam`)",
            "optimizer",
            OPTIMIZER_KEYS,
            named=True,
            required=True,
        ),
        SectionDef("schedule", "learning-rate schedule of the optimizer with the same name", "schedule", named=True),
        SectionDef(
            "train", "training policy", None, TRAIN_KEYS, children=("checkpoint", "early_stopping"), required=True
        ),
        SectionDef("checkpoint", "checkpointing", None, CHECKPOINT_KEYS, parent="train"),
        SectionDef("early_stopping", "early stopping", None, EARLY_STOPPING_KEYS, parent="train"),
        SectionDef("eval", "evaluation", None, EVAL_KEYS),
        SectionDef("distributed", "reserved for scale-out (a later version)", None, reserved=True),
    )
}

TOP_LEVEL_SECTIONS = tuple(kind for kind, section in SECTIONS.items() if section.parent is None)
COMPONENT_KINDS = (
    "data",
    "objective",
    "loss",
    "optimizer",
    "schedule",
    "path",
    "time",
    "sampler",
    "metric",
    "logger",
    "transform",
    "renderer",
    "callback",
    "precision",
    "penalty",
)

_BY_KIND: dict[str, dict[str, ComponentDef]] = {}
for _component in COMPONENTS:
    _BY_KIND.setdefault(_component.kind, {})[_component.name] = _component


def components(kind: str) -> dict[str, ComponentDef]:
    """The components of one kind, by name (insertion order is the table's)."""
    return _BY_KIND.get(kind, {})


def lookup(kind: str, name: str) -> ComponentDef | None:
    return _BY_KIND.get(kind, {}).get(name)


def backends_of(kind: str, name: str) -> tuple[str, ...]:
    """The backends implementing component ``name`` of ``kind``: read from the backend tables
    (``specc.compiler.backends.<backend>.BACKEND.capabilities``), the one place it is stated."""
    return implementing(kind, name)


__all__ = [
    "BACKEND_NAMES",
    "COMPONENTS",
    "COMPONENT_KINDS",
    "ComponentDef",
    "Contract",
    "FieldDecl",
    "Param",
    "REQUIRED",
    "Range",
    "SECTIONS",
    "SectionDef",
    "TOP_LEVEL_SECTIONS",
    "backends_of",
    "components",
    "field_dims",
    "lookup",
    "parameter",
    "parse_range",
]
