"""The registry: every component and section a spec can name, declared once, as data.

Validation (``schema.py``, ``validate.py``), did-you-mean, ``specc schema``, docs and the
backends all read these tables. Adding a component is one entry here (plus its runtime
implementation per backend).

Parameter types (``Param.type``), a small closed vocabulary:

- ``int``, ``float``, ``bool``, ``str``; a trailing ``?`` allows ``none`` (the default);
- ``enum`` with ``choices``; ``list[int]``, ``list[float]``, ``list[str]``, ``pair[float]``;
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

from dataclasses import dataclass

BACKENDS = ("jax", "lightning", "mlx")
ALL_BACKENDS = frozenset(BACKENDS)


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: object = REQUIRED
    doc: str = ""
    range: str = ""
    choices: tuple[str, ...] = ()
    derived: str = ""  # where an unset default comes from: "optimizer.lr", "train.max_steps"

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class FieldDecl:
    """A per-example field of a data source. ``dims`` are ints or parameter expressions
    (``"2*k"``, ``"signal_length"``) evaluated against the source's resolved parameters."""

    name: str
    dtype: str
    dims: tuple[object, ...]
    doc: str = ""


@dataclass(frozen=True)
class Contract:
    """What an objective needs from its models and data.

    ``models``: keys naming the models it trains. ``supplies``: model inputs the
    objective feeds itself, with their role (``sample``: shaped like the target; ``time``:
    [B]). ``h``: "none" (never fed), "optional" (fed zeros when declared) or "required".
    ``output``: ``like_target``, ``logits`` ([B, C]) or ``sequence_logits`` ([B, T, V]).
    ``target_dtype``: ``float`` or ``int``. ``optimizers``: names of the optimizers it needs.
    """

    models: tuple[str, ...] = ("model",)
    supplies: tuple[tuple[str, str], ...] = ()
    h: str = "none"
    output: str = "like_target"
    target_dtype: str = "float"
    optimizers: tuple[str, ...] = ()
    sampler: bool = False  # evaluates by sampling (generative)


@dataclass(frozen=True)
class ComponentDef:
    kind: str
    name: str
    doc: str
    params: tuple[Param, ...] = ()
    backends: frozenset = ALL_BACKENDS
    fields: tuple[FieldDecl, ...] = ()
    contract: Contract | None = None
    needs: tuple[str, ...] = ()  # metric: objective families it applies to
    classes: object = None  # data source: number of classes of its label (an int or a parameter name)

    def param(self, name: str) -> Param | None:
        for parameter in self.params:
            if parameter.name == name:
                return parameter
        return None


@dataclass(frozen=True)
class SectionDef:
    """A top-level (or nested) section: ``data ksin { .. }``, ``train { .. }``."""

    kind: str
    doc: str
    component_kind: str | None = None  # the registry kind named after the keyword
    keys: tuple[Param, ...] = ()
    children: tuple[str, ...] = ()
    named: bool = False  # ``optimizer generator: adam { .. }``
    required: bool = False
    parent: str | None = None
    reserved: bool = False


P = Param

# ----------------------------------------------------------------------- data sources

def _splits(fraction: float):
    return (
        P("val_fraction", "float", fraction, "fraction of the examples held out for validation", "[0,1)"),
        P("test_fraction", "float", fraction, "fraction of the examples held out for testing", "[0,1)"),
    )


_SEED = P("seed", "int", 0, "seed of the examples and of the split (each split derives its own)", ">=0")
_SIZES = P("sizes", "list[int]", (1000, 200, 200), "train, val and test sizes")
_DECLARED = P("fields", "tensors", REQUIRED, 'field types (spec only): { x = "f32[64]", y = "i64[]" }')

# Parameters are the runtime constructors' (specc.runtime.data), with the same names and
# defaults; ``fields`` of file sources is the spec's declaration of what the file holds.
DATA = (
    ComponentDef(
        "data", "ksin", "Sums of k sinusoids: parameters [f_1..f_k, a_1..a_k] and the signal.",
        (
            P("k", "int", REQUIRED, "number of sinusoids", ">=1"),
            P("signal_length", "int", 1024, "samples per signal", ">=1"),
            P("sizes", "list[int]", (100_000, 10_000, 10_000), "train, val and test sizes"),
            _SEED,
            P("sort_frequencies", "bool", False, "sort the frequencies ascending"),
            P("break_symmetry", "bool", False, "shift frequency i into its own band"),
            P("shift_test_distribution", "bool", False, "draw test frequencies from a shifted normal"),
        ),
        fields=(
            FieldDecl("params", "f32", ("2*k",), "frequencies then amplitudes"),
            FieldDecl("signal", "f32", ("signal_length",), "the rendered signal"),
        ),
    ),
    ComponentDef(
        "data", "digits", "scikit-learn's bundled 8x8 digits: 1797 images of 10 classes.",
        _splits(0.15) + (_SEED,),
        fields=(FieldDecl("x", "f32", (64,), "pixels scaled to [0, 1]"), FieldDecl("y", "i64", (), "class 0..9")),
        classes=10,
    ),
    ComponentDef(
        "data", "synthetic_regression", "y = x W + b + noise * e with a fixed random W and b.",
        (
            P("num_features", "int", REQUIRED, "input features", ">=1"),
            P("num_outputs", "int", 1, "output dimensions", ">=1"),
            _SIZES,
            P("noise", "float", 0.1, "standard deviation of the noise", ">=0"),
            _SEED,
        ),
        fields=(FieldDecl("x", "f32", ("num_features",)), FieldDecl("y", "f32", ("num_outputs",))),
    ),
    ComponentDef(
        "data", "npz", "Arrays of a .npz file (or a folder of train/val/test .npz); fields declared in the spec.",
        (P("path", "str", REQUIRED, "the .npz file or folder"), _DECLARED) + _splits(0.1) + (_SEED,),
    ),
    ComponentDef(
        "data", "npy", "A folder of .npy files, one per field (or train/val/test sub-folders); fields declared.",
        (P("path", "str", REQUIRED, "the folder"), _DECLARED) + _splits(0.1) + (_SEED,),
    ),
    ComponentDef(
        "data", "hdf5", "Datasets of an HDF5 file; fields declared in the spec.",
        (P("path", "str", REQUIRED, "the .h5 file"), _DECLARED) + _splits(0.1) + (_SEED,),
    ),
    ComponentDef(
        "data", "synthetic_audio", "Labelled synthetic tones, one frequency band per class.",
        (
            P("sample_rate", "int", 8000, "samples per second", ">=1"),
            P("length", "int", 2000, "samples per clip", ">=1"),
            P("num_classes", "int", 4, "number of classes", ">=1"),
            _SIZES,
            _SEED,
            P("noise", "float", 0.1, "standard deviation of added noise", ">=0"),
        ),
        fields=(FieldDecl("audio", "f32", ("length",)), FieldDecl("label", "i64", ())),
        classes="num_classes",
    ),
    ComponentDef(
        "data", "wav_folder", "WAV files in class sub-folders, mixed to mono, cut or padded to length.",
        (
            P("path", "str", REQUIRED, "the folder"),
            P("length", "int", REQUIRED, "samples per clip", ">=1"),
        )
        + _splits(0.15)
        + (_SEED, P("sample_rate", "int?", None, "required sample rate of every file (no resampling)", ">=1")),
        fields=(FieldDecl("audio", "f32", ("length",)), FieldDecl("label", "i64", ())),
    ),
    ComponentDef(
        "data", "synthetic_tokens", "Multi-modal token sequences (image, scalar, spectrum ranges) with codebooks.",
        (
            P("sequence_length", "int", 64, "tokens per sequence (T)", ">=2"),
            P("image_tokens", "int", 16, "image tokens per sequence", ">=0"),
            P("scalar_tokens", "int", 8, "scalar tokens per sequence", ">=0"),
            P("spectrum_tokens", "int", 16, "spectrum tokens per sequence", ">=0"),
            P("image_vocabulary", "int?", None, "size of the image token range", ">=1"),
            P("scalar_vocabulary", "int?", None, "size of the scalar token range", ">=1"),
            P("spectrum_vocabulary", "int?", None, "size of the spectrum token range", ">=1"),
            P("spectrum_groups", "int", 1, "spectrum ranges sharing one codebook", ">=1"),
            P("embedding_dim", "int", 4, "dimension of the codebook vectors", ">=1"),
            P("missing", "float", 0.1, "fraction of missing modalities", "[0,1]"),
            _SIZES,
            _SEED,
        ),
        fields=(FieldDecl("tokens", "i64", ("sequence_length",)),),
    ),
)

DATA_KEYS = (
    P("batch_size", "int", REQUIRED, "examples per batch", ">=1"),
    P("coupling", "enum", "none", "minibatch coupling of noise and data (ot: exact OT)", choices=("none", "ot")),
    P("eval_batch_size", "int?", None, "batch size of evaluation (default: batch_size)", ">=1"),
)

# ----------------------------------------------------------------------- objectives

_MODEL = P("model", "model?", None, "the model trained (default: the only model)")
_TARGET = P("target", "field?", None, "the data field predicted or generated")
_INPUTS = P("inputs", "inputs", (), "model inputs bound to data fields: { signal = data.signal }")
_CFG = P("cfg_dropout", "float", 0.0, "probability of dropping the condition (classifier-free guidance)", "[0,1)")
_FLOW = (("x", "sample"), ("t", "time"), ("h", "time"))

OBJECTIVES = (
    ComponentDef(
        "objective", "classification", "Cross-entropy over class logits [B, C] and integer labels.",
        (_MODEL, _TARGET, _INPUTS, P("loss", "terms", "cross_entropy", "loss terms")),
        contract=Contract(output="logits", target_dtype="int"),
    ),
    ComponentDef(
        "objective", "regression", "A model predicting a float field.",
        (_MODEL, _TARGET, _INPUTS, P("loss", "terms", "mse", "loss terms")),
        contract=Contract(),
    ),
    ComponentDef(
        "objective", "flow_matching", "Conditional flow matching: f(x_t, t, cond) regresses the path's velocity.",
        (
            _MODEL, _TARGET, _INPUTS,
            P("path", "path", "linear", "interpolation between data (t = 0) and noise (t = 1)"),
            P("time", "time", "uniform", "distribution of t"),
            P("weighted", "bool", True, "adaptive weighted L2 instead of MSE"),
            _CFG,
        ),
        contract=Contract(supplies=_FLOW, h="optional", sampler=True),
    ),
    ComponentDef(
        "objective", "mean_flow", "MeanFlow: the average velocity u(z, t, r) through a JVP.",
        (
            _MODEL, _TARGET, _INPUTS,
            P("time", "time", "mean_flow", "distribution of (t, r)"),
            P("gamma", "float", 0.5, "adaptive weight exponent: p = 1 - gamma", "[0,1]"),
            P("c", "float", 1e-3, "stability constant of the adaptive weight", ">0"),
            _CFG,
        ),
        contract=Contract(supplies=_FLOW, h="required", sampler=True),
    ),
    ComponentDef(
        "objective", "improved_mean_flow", "Improved MeanFlow: a network-independent target.",
        (
            _MODEL, _TARGET, _INPUTS,
            P("path", "path", "linear", "interpolation between data and noise"),
            P("time", "time", "mean_flow", "distribution of (t, r)"),
            P("weighted", "bool", True, "adaptive weighted L2 instead of MSE"),
            _CFG,
        ),
        contract=Contract(supplies=_FLOW, h="required", sampler=True),
    ),
    ComponentDef(
        "objective", "language_model", "Next-token prediction over a token field: logits [B, T, V].",
        (
            _MODEL, _TARGET, _INPUTS,
            P("loss", "terms", "cross_entropy", "cross_entropy plus weighted expected-value terms"),
        ),
        contract=Contract(output="sequence_logits", target_dtype="int"),
    ),
    ComponentDef(
        "objective", "adversarial", "Reconstruction plus hinge GAN and feature matching (two models).",
        (
            P("generator", "model", REQUIRED, "the generator (e.g. a VAE)"),
            P("discriminator", "model", REQUIRED, "the discriminator"),
            _TARGET, _INPUTS,
            P("loss", "terms", "l1", "reconstruction terms of the generator"),
            P("adversarial_weight", "float", 1.0, "weight of the generator's hinge term", ">=0"),
            P("feature_matching_weight", "float", 10.0, "weight of feature matching", ">=0"),
            P("adversarial_warmup", "int", 0, "steps before the adversarial terms start", ">=0"),
            P("kl_weight", "float", 0.0, "weight of the VAE's KL term (0: no KL)", ">=0"),
        ),
        contract=Contract(models=("generator", "discriminator"), optimizers=("generator", "discriminator")),
    ),
)

# ----------------------------------------------------------------------- losses

LOSSES = (
    ComponentDef("loss", "cross_entropy", "Cross-entropy over integer labels.",
                 (P("ignore_index", "int?", None, "label excluded from the mean"),
                  P("label_smoothing", "float", 0.0, "label smoothing", "[0,1)"))),
    ComponentDef("loss", "mse", "Mean squared error."),
    ComponentDef("loss", "mae", "Mean absolute error."),
    ComponentDef("loss", "l1", "Mean absolute error of a reconstruction."),
    ComponentDef("loss", "weighted_l2", "Adaptive weighted L2: mean_b(sg(1 / (S_b + c)^p) * S_b).",
                 (P("p", "float", 1.0, "weight exponent", ">=0"), P("c", "float", 1e-3, "stability constant", ">0"),
                  P("reduce", "enum", "sum", "reduction over non-batch axes", choices=("sum", "mean")))),
    ComponentDef("loss", "expected_codebook", "MSE between softmax-expected and true codebook vectors.",
                 (P("codebook", "str", REQUIRED, "the .npy file of the codebook [V, D]"),
                  P("start", "int", REQUIRED, "first token id of the range", ">=0"),
                  P("sample_k", "int?", None, "at most k positions per batch", ">=1"))),
    ComponentDef("loss", "expected_scalar", "MSE between softmax-expected and true bin centres.",
                 (P("centers", "str", REQUIRED, "the .npy file of the bin centres [V]"),
                  P("start", "int", REQUIRED, "first token id of the range", ">=0"),
                  P("sample_k", "int?", None, "at most k positions per batch", ">=1"))),
    ComponentDef("loss", "multi_resolution_stft", "Spectral convergence + log-magnitude L1 over resolutions.",
                 (P("n_ffts", "list[int]", (2048, 1024, 512), "FFT sizes (hop n_fft / 4)"),)),
)

# ----------------------------------------------------------------------- optimizers, schedules

_LR = P("lr", "float", 1e-3, "learning rate", ">0")
_WD = "decoupled weight decay"
OPTIMIZERS = (
    ComponentDef("optimizer", "adam", "Adam with bias correction.",
                 (_LR, P("betas", "pair[float]", (0.9, 0.999), "moment decay rates", "[0,1)"),
                  P("eps", "float", 1e-8, "denominator epsilon", ">0"),
                  P("weight_decay", "float", 0.0, "coupled L2 weight decay", ">=0"))),
    ComponentDef("optimizer", "adamw", "Adam with decoupled weight decay.",
                 (_LR, P("betas", "pair[float]", (0.9, 0.999), "moment decay rates", "[0,1)"),
                  P("eps", "float", 1e-8, "denominator epsilon", ">0"),
                  P("weight_decay", "float", 0.01, _WD, ">=0"))),
    ComponentDef("optimizer", "sgd", "SGD with torch's semantics (coupled L2, momentum without dampening).",
                 (P("lr", "float", 1e-2, "learning rate", ">0"), P("momentum", "float", 0.0, "momentum", "[0,1)"),
                  P("nesterov", "bool", False, "Nesterov momentum"),
                  P("weight_decay", "float", 0.0, "coupled L2 weight decay", ">=0"))),
    ComponentDef("optimizer", "lion", "Lion (sign of interpolated momentum), decoupled decay as in optax.",
                 (P("lr", "float", 1e-4, "learning rate", ">0"),
                  P("betas", "pair[float]", (0.9, 0.99), "interpolation and decay rates", "[0,1)"),
                  P("weight_decay", "float", 0.0, _WD, ">=0"))),
)

OPTIMIZER_KEYS = (P("models", "list[model]", (), "models this optimizer updates (default: all)"),)

_PEAK = P("peak", "float?", None, "peak learning rate", ">0", derived="optimizer.lr")
_INITIAL = P("initial", "float?", None, "initial learning rate", ">0", derived="optimizer.lr")
_TOTAL = P("total", "int?", None, "total steps", ">=1", derived="train.max_steps")
_WARMUP = P("warmup", "int", 0, "linear warm-up steps from 0", ">=0")
SCHEDULES = (
    ComponentDef("schedule", "constant", "The optimizer's learning rate at every step."),
    ComponentDef("schedule", "warmup_cosine", "Linear warm-up, then cosine decay to min_ratio * peak.",
                 (_PEAK, _WARMUP, _TOTAL, P("min_ratio", "float", 0.0, "final lr over peak", "[0,1]"))),
    ComponentDef("schedule", "warmup_linear", "Linear warm-up, then linear decay to 0 at total.",
                 (_PEAK, _WARMUP, _TOTAL)),
    ComponentDef("schedule", "step", "initial * gamma^(k // step_size).",
                 (_INITIAL, P("step_size", "int", REQUIRED, "steps between decays", ">=1"),
                  P("gamma", "float", 0.1, "decay factor", ">0"))),
    ComponentDef("schedule", "exponential", "initial * decay_rate^k.",
                 (_INITIAL, P("decay_rate", "float", REQUIRED, "decay per step", "(0,1]"))),
)

# ----------------------------------------------------------------------- flows, sampling

PATHS = (
    ComponentDef("path", "linear", "x_t = (1 - t) x + (noise_min + noise_max t) e; v = noise_max e - x.",
                 (P("noise_min", "float", 0.001, "noise at t = 0", "[0,1]"),
                  P("noise_max", "float", 0.999, "noise scale at t = 1", "(0,1]"))),
    ComponentDef("path", "uniform", "x_t = (1 - t) x + t e; v = e - x."),
)

TIMES = (
    ComponentDef("time", "uniform", "t ~ U[0, 1)."),
    ComponentDef("time", "logit_normal", "t = sigmoid(mean + std n).",
                 (P("mean", "float", -0.4, "location"), P("std", "float", 1.0, "scale", ">0"))),
    ComponentDef("time", "mean_flow", "(t, r) = (max, min) of two logit-normal draws; r = t for a fraction.",
                 (P("mean", "float", -0.4, "location"), P("std", "float", 1.0, "scale", ">0"),
                  P("data_proportion", "float", 0.5, "fraction of rows with r = t", "[0,1]"))),
)

_STEPS = P("steps", "int", 50, "integration steps from t = 1 to t = 0", ">=1")
_SCALE = P("cfg_scale", "float", 1.0, "guidance: v = (1 - s) v_uncond + s v_cond", ">=0")
SAMPLERS = (
    ComponentDef("sampler", "euler", "Euler steps over t_k = 1 - k / steps.", (_STEPS, _SCALE)),
    ComponentDef("sampler", "heun", "Heun (2nd order) steps.", (_STEPS, _SCALE)),
    ComponentDef("sampler", "rk4", "Classical Runge-Kutta steps.", (_STEPS, _SCALE)),
    ComponentDef("sampler", "one_step", "x_0 = x_1 - u(x_1, t = 1, r = 0) (mean-flow models).", (_SCALE,)),
)

# ----------------------------------------------------------------------- metrics, logging

_PPT = P("params_per_token", "int", REQUIRED, "parameters per token (the last axis is split)", ">=1")
METRICS = (
    ComponentDef("metric", "accuracy", "Fraction of argmax predictions equal to the labels.",
                 needs=("classification", "language_model")),
    ComponentDef("metric", "mse", "Mean squared error of predictions or samples."),
    ComponentDef("metric", "mae", "Mean absolute error of predictions or samples."),
    ComponentDef("metric", "perplexity", "exp of the mean token cross-entropy.", needs=("language_model",)),
    ComponentDef("metric", "log_spectral_distance", "RMS difference of dB power spectra of signals.",
                 (P("eps", "float", 1e-8, "power floor", ">0"),), needs=("sampler",)),
    ComponentDef("metric", "chamfer", "Symmetric mean nearest-token squared distance.", (_PPT,), needs=("sampler",)),
    ComponentDef("metric", "linear_assignment", "Mean Hungarian-matched token distance.", (_PPT,), needs=("sampler",)),
)

LOGGERS = (
    ComponentDef("logger", "csv", "metrics.csv in the run directory (always on)."),
    ComponentDef("logger", "tensorboard", "TensorBoard event files under the run directory."),
    ComponentDef("logger", "mlflow", "MLflow, offline (a file store under the run directory).",
                 (P("experiment", "str", "specc", "experiment name"),)),
    ComponentDef("logger", "wandb", "Weights & Biases in offline mode.", (P("project", "str", "specc", "project name"),)),
)

CALLBACKS = (
    ComponentDef("callback", "progress_bar", "A progress line on the terminal.",
                 (P("refresh_rate", "int", 10, "steps between refreshes", ">=1"),)),
    ComponentDef("callback", "lr_monitor", "Logs the learning rate as `lr`.",
                 (P("interval", "enum", "step", "when to log", choices=("step", "epoch")),)),
    ComponentDef("callback", "grad_norm_monitor", "Logs the global gradient norm as `grad_norm`."),
)

PRECISIONS = (
    ComponentDef("precision", "fp32", "float32 everywhere."),
    ComponentDef("precision", "bf16", "bfloat16 compute, float32 parameters."),
    ComponentDef("precision", "fp16", "float16 compute with loss scaling (MLX has no loss scaler).",
                 backends=frozenset({"jax", "lightning"})),
)

COMPONENTS = DATA + OBJECTIVES + LOSSES + OPTIMIZERS + SCHEDULES + PATHS + TIMES + SAMPLERS + METRICS + LOGGERS + CALLBACKS + PRECISIONS

# ----------------------------------------------------------------------- sections

TRAIN_KEYS = (
    P("max_steps", "int?", None, "training steps (one batch and its updates each)", ">=1"),
    P("max_epochs", "int?", None, "training epochs", ">=1"),
    P("seed", "int", 0, "seed of initialisation and data order", ">=0"),
    P("precision", "enum", "fp32", "compute precision", choices=("fp32", "bf16", "fp16")),
    P("log_every", "int", 50, "steps between train rows of metrics.csv", ">=1"),
    P("eval_every", "int?", None, "steps between evaluations (also at the end)", ">=1"),
    P("grad_clip", "float?", None, "gradient clipping threshold", ">0"),
    P("grad_clip_mode", "enum", "norm", "clip the global norm or each value", choices=("norm", "value")),
    P("accumulate", "int", 1, "micro-batches averaged per step", ">=1"),
    P("ema", "float?", None, "decay of an exponential moving average of the weights", "(0,1)"),
    P("freeze", "list[str]", (), "parameter-name prefixes that are not trained"),
    P("warm_start", "str?", None, "checkpoint directory whose weights initialise the model"),
    P("loggers", "list[logger]", ("csv",), "loggers (csv is always on)"),
    P("callbacks", "list[callback]", (), "callbacks"),
)

CHECKPOINT_KEYS = (
    P("every", "int?", None, "steps between checkpoints (also at the end)", ">=1"),
    P("keep", "int", 1, "best checkpoints kept (plus last)", ">=1"),
    P("monitor", "str?", None, "metric ranking checkpoints: split/name"),
    P("mode", "enum", "min", "direction of improvement", choices=("min", "max")),
    P("last", "bool", True, "keep a `last` pointer"),
)

EARLY_STOPPING_KEYS = (
    P("monitor", "str", "val/loss", "metric watched: split/name"),
    P("patience", "int", 10, "evaluations without improvement before stopping", ">=1"),
    P("mode", "enum", "min", "direction of improvement", choices=("min", "max")),
    P("min_delta", "float", 0.0, "smallest change counted as improvement", ">=0"),
)

EVAL_KEYS = (
    P("sampler", "sampler?", None, "ODE sampler of generative objectives"),
    P("metrics", "list[metric]", (), "metrics computed on val and test, logged as val/<name>"),
)

SECTIONS = {
    section.kind: section
    for section in (
        SectionDef("data", "the data source and batching", "data", DATA_KEYS, required=True),
        SectionDef("objective", "what is learned and how the models are fed", "objective", required=True),
        SectionDef("optimizer", "an optimizer; name it for several (`optimizer generator: adam`)", "optimizer",
                   OPTIMIZER_KEYS, named=True, required=True),
        SectionDef("schedule", "learning-rate schedule of the optimizer with the same name", "schedule", named=True),
        SectionDef("train", "training policy", None, TRAIN_KEYS, children=("checkpoint", "early_stopping"),
                   required=True),
        SectionDef("checkpoint", "checkpointing", None, CHECKPOINT_KEYS, parent="train"),
        SectionDef("early_stopping", "early stopping", None, EARLY_STOPPING_KEYS, parent="train"),
        SectionDef("eval", "evaluation", None, EVAL_KEYS),
        SectionDef("distributed", "reserved for scale-out (a later version)", None, reserved=True),
    )
}

TOP_LEVEL_SECTIONS = tuple(kind for kind, section in SECTIONS.items() if section.parent is None)
COMPONENT_KINDS = ("data", "objective", "loss", "optimizer", "schedule", "path", "time", "sampler", "metric",
                   "logger", "callback", "precision")

_BY_KIND: dict[str, dict[str, ComponentDef]] = {}
for _component in COMPONENTS:
    _BY_KIND.setdefault(_component.kind, {})[_component.name] = _component


def components(kind: str) -> dict[str, ComponentDef]:
    """The components of one kind, by name (insertion order is the table's)."""
    return _BY_KIND.get(kind, {})


def lookup(kind: str, name: str) -> ComponentDef | None:
    return _BY_KIND.get(kind, {}).get(name)


@dataclass(frozen=True)
class Range:
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    text: str = ""

    def contains(self, value: float) -> bool:
        if self.minimum is not None:
            if value < self.minimum or (self.exclusive_minimum and value == self.minimum):
                return False
        if self.maximum is not None:
            if value > self.maximum or (self.exclusive_maximum and value == self.maximum):
                return False
        return True


def parse_range(text: str) -> Range:
    """``">0"``, ``">=1"``, ``"<1"``, ``"[0,1)"`` -> Range."""
    text = text.replace(" ", "")
    if not text:
        return Range()
    for prefix, exclusive in ((">=", False), (">", True)):
        if text.startswith(prefix):
            return Range(float(text[len(prefix):]), None, exclusive, False, text)
    for prefix, exclusive in (("<=", False), ("<", True)):
        if text.startswith(prefix):
            return Range(None, float(text[len(prefix):]), False, exclusive, text)
    low, high = text[1:-1].split(",")
    return Range(float(low), float(high), text[0] == "(", text[-1] == ")", text)


def field_dims(field_decl: FieldDecl, arguments: dict) -> tuple[int, ...] | None:
    """Concrete dims of a data field from the source's arguments (``"2*k"`` -> 8); None when an
    argument is missing or not an integer."""
    dims = []
    for dim in field_decl.dims:
        if isinstance(dim, int):
            dims.append(dim)
            continue
        value = 1
        for factor in str(dim).split("*"):
            factor = factor.strip()
            number = int(factor) if factor.isdigit() else arguments.get(factor)
            if not isinstance(number, int) or isinstance(number, bool):
                return None
            value *= number
        dims.append(value)
    return tuple(dims)


__all__ = [
    "ALL_BACKENDS", "BACKENDS", "COMPONENTS", "COMPONENT_KINDS", "ComponentDef", "Contract", "FieldDecl", "Param",
    "REQUIRED", "Range", "SECTIONS", "SectionDef", "TOP_LEVEL_SECTIONS", "components", "field_dims", "lookup",
    "parse_range",
]
