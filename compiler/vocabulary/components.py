"""The component tables of the registry: data sources, optimizers, schedules, metrics,
loggers, transforms, callbacks, precisions and penalties; the objectives, losses, paths,
time samplers and samplers are in ``objectives.py``. ``COMPONENTS`` gathers them all.

Data only: one ``ComponentDef`` per component, with its documented, typed parameters
(names and defaults are the runtime's), its fields (data sources). Which backends implement
a component is stated once, in the backend tables (``specc.compiler.backends.<name>``), not
here.
"""

from __future__ import annotations

from specc.compiler.vocabulary.objectives import LOSSES, OBJECTIVES, PATHS, SAMPLERS, TIMES
from specc.compiler.vocabulary.types import REQUIRED, ComponentDef, FieldDecl, graph_component, parameter, python_component

# ----------------------------------------------------------------------- data sources


def _splits(fraction: float):
    return (
        parameter("val_fraction", "float", fraction, "fraction of the examples held out for validation", "[0,1)"),
        parameter("test_fraction", "float", fraction, "fraction of the examples held out for testing", "[0,1)"),
    )


_SEED = parameter("seed", "int", 0, "seed of the examples and of the split (each split derives its own)", ">=0")
_SIZES = parameter("sizes", "list[int]", (1000, 200, 200), "train, val and test sizes")
_DECLARED = parameter("fields", "tensors", REQUIRED, 'field types (spec only): { x = "f32[64]", y = "i64[]" }')
_CHANNELS = parameter("channels", "int", 1, "audio channels: 1 mono [length], C > 1 gives [length, C]", ">=1")
_AUDIO = "samples [length], or [length, channels] when channels > 1"

# Parameters are the runtime constructors' (specc.runtime.data), with the same names and
# defaults; ``fields`` of file sources is the spec's declaration of what the file holds.
DATA = (
    ComponentDef(
        "data",
        "ksin",
        "Sums of k sinusoids: parameters [f_1..f_k, a_1..a_k] and the signal.",
        (
            parameter("k", "int", REQUIRED, "number of sinusoids", ">=1"),
            parameter("signal_length", "int", 1024, "samples per signal", ">=1"),
            parameter("sizes", "list[int]", (100_000, 10_000, 10_000), "train, val and test sizes"),
            _SEED,
            parameter("sort_frequencies", "bool", False, "sort the frequencies ascending"),
            parameter("break_symmetry", "bool", False, "shift frequency i into its own band"),
            parameter("shift_test_distribution", "bool", False, "draw test frequencies from a shifted normal"),
            parameter("split_seeds", "list[int]?", None, "train, val and test seeds, each split's own (then `seed` is unused)"),
        ),
        fields=(
            FieldDecl("params", "f32", ("2*k",), "frequencies then amplitudes"),
            FieldDecl("signal", "f32", ("signal_length",), "the rendered signal"),
        ),
        provides=("signals",),  # renders signals from generated parameters (log_spectral_distance)
    ),
    ComponentDef(
        "data",
        "digits",
        "scikit-learn's bundled 8x8 digits: 1797 images of 10 classes.",
        _splits(0.15) + (_SEED,),
        fields=(FieldDecl("x", "f32", (64,), "pixels scaled to [0, 1]"), FieldDecl("y", "i64", (), "class 0..9")),
        classes=10,
    ),
    ComponentDef(
        "data",
        "synthetic_regression",
        "y = x W + b + noise * e with a fixed random W and b.",
        (
            parameter("num_features", "int", REQUIRED, "input features", ">=1"),
            parameter("num_outputs", "int", 1, "output dimensions", ">=1"),
            _SIZES,
            parameter("noise", "float", 0.1, "standard deviation of the noise", ">=0"),
            _SEED,
        ),
        fields=(FieldDecl("x", "f32", ("num_features",)), FieldDecl("y", "f32", ("num_outputs",))),
    ),
    ComponentDef(
        "data",
        "npz",
        "Arrays of a .npz file (or a folder of train/val/test .npz); fields declared in the spec.",
        (parameter("path", "str", REQUIRED, "the .npz file or folder"), _DECLARED) + _splits(0.1) + (_SEED,),
    ),
    ComponentDef(
        "data",
        "npy",
        "A folder of .npy files, one per field (or train/val/test sub-folders); fields declared.",
        (parameter("path", "str", REQUIRED, "the folder"), _DECLARED) + _splits(0.1) + (_SEED,),
    ),
    ComponentDef(
        "data",
        "hdf5",
        "Datasets of an HDF5 file; fields declared in the spec.",
        (parameter("path", "str", REQUIRED, "the .h5 file"), _DECLARED) + _splits(0.1) + (_SEED,),
    ),
    ComponentDef(
        "data",
        "synthetic_audio",
        "Labelled synthetic tones, one frequency band per class.",
        (
            parameter("sample_rate", "int", 8000, "samples per second", ">=1"),
            parameter("length", "int", 2000, "samples per clip", ">=1"),
            parameter("num_classes", "int", 4, "number of classes", ">=1"),
            _SIZES,
            _SEED,
            parameter("noise", "float", 0.1, "standard deviation of added noise", ">=0"),
            _CHANNELS,
        ),
        fields=(FieldDecl("audio", "f32", ("length", "channels?"), _AUDIO), FieldDecl("label", "i64", ())),
        classes="num_classes",
    ),
    ComponentDef(
        "data",
        "wav_folder",
        "WAV files in class sub-folders, cut or padded to length (mixed to mono unless channels > 1).",
        (
            parameter("path", "str", REQUIRED, "the folder"),
            parameter("length", "int", REQUIRED, "samples per clip", ">=1"),
        )
        + _splits(0.15)
        + (_SEED, parameter("sample_rate", "int?", None, "required sample rate of every file (no resampling)", ">=1"))
        + (_CHANNELS,),
        fields=(FieldDecl("audio", "f32", ("length", "channels?"), _AUDIO), FieldDecl("label", "i64", ())),
    ),
    ComponentDef(
        "data",
        "token_stream",
        "Windows of block_size + 1 ids from flat token files (nanoGPT's train.bin / val.bin), memory-mapped: "
        "random with replacement for training, fixed for evaluation.",
        (
            parameter("path", "str", REQUIRED, "folder of train / val / test .bin or .npy files (or sub-folders of shards)"),
            parameter("block_size", "int", REQUIRED, "tokens the model reads; each window holds block_size + 1", ">=1"),
            parameter("dtype", "enum", "uint16", "id type of the .bin files", choices=("uint8", "uint16", "uint32", "int32", "int64")),
            parameter("vocab_size", "int?", None, "every id is below it (checked at load; the model's logits at lint)", ">=1"),
            parameter("meta", "str?", None, 'a JSON file {"vocab_size": N} (read at lint when it exists; no pickle)'),
            parameter("eval_windows", "int?", None, "random windows per evaluation split, the same at every evaluation "
                      "(default: every non-overlapping window)", ">=1"),
            _SEED,
        ),
        fields=(FieldDecl("tokens", "i64", ("block_size+1",), "a window of consecutive ids"),),
    ),
    ComponentDef(
        "data",
        "synthetic_tokens",
        "Multi-modal token sequences (image, scalar, spectrum ranges) with codebooks.",
        (
            parameter("sequence_length", "int", 64, "tokens per sequence (T)", ">=2"),
            parameter("image_tokens", "int", 16, "image tokens per sequence", ">=0"),
            parameter("scalar_tokens", "int", 8, "scalar tokens per sequence", ">=0"),
            parameter("spectrum_tokens", "int", 16, "spectrum tokens per sequence", ">=0"),
            parameter("image_vocabulary", "int?", None, "size of the image token range", ">=1"),
            parameter("scalar_vocabulary", "int?", None, "size of the scalar token range", ">=1"),
            parameter("spectrum_vocabulary", "int?", None, "size of the spectrum token range", ">=1"),
            parameter("spectrum_groups", "int", 1, "spectrum ranges sharing one codebook", ">=1"),
            parameter("embedding_dim", "int", 4, "dimension of the codebook vectors", ">=1"),
            parameter("missing", "float", 0.1, "fraction of missing modalities", "[0,1]"),
            parameter("codebooks", "str?", None, "a .npz of image_codebook, scalar_centers, spectrum_codebook (default: generated)"),
            _SIZES,
            _SEED,
        ),
        fields=(
            FieldDecl("tokens", "i64", ("sequence_length",)),
            FieldDecl("types", "i64", ("sequence_length",), "modality: 0 special, 1 image, 2 scalar, 3 + g spectrum"),
            FieldDecl("attn_mask", "bool", ("sequence_length",), "False on PAD positions"),
        ),
    ),
    python_component(
        "data",
        "A class of the user's: Name(split, **arguments) with __len__ and __getitem__(index) -> {field: "
        "numpy array}; fields declared in the spec (docs/language.md \"Extending specc\").",
        (
            _DECLARED,
            parameter("val_fraction", "float?", None, "split one pool, made with split \"all\", by fractions "
                      "(default: the class makes each split itself)", "[0,1)"),
            parameter("test_fraction", "float?", None, "fraction of the pool held out for testing (with "
                      "val_fraction; unset: 0)", "[0,1)"),
            parameter("seed", "int", 0, "seed of the pool's split (with val_fraction / test_fraction)", ">=0"),
        ),
    ),
)

# ----------------------------------------------------------------------- optimizers, schedules

_LEARNING_RATE = parameter("lr", "float", 1e-3, "learning rate", ">0")
_DECOUPLED_DECAY = "decoupled weight decay"
_DECAY_ON = parameter(
    "weight_decay_on",
    "enum",
    "all",
    "the parameters weight_decay applies to: all, or matrices (rank >= 2: linear, convolution and embedding "
    "weights; not biases and norm scales, as nanoGPT)",
    choices=("all", "matrices"),
)
OPTIMIZERS = (
    ComponentDef(
        "optimizer",
        "adam",
        "Adam with bias correction.",
        (
            _LEARNING_RATE,
            parameter("betas", "pair[float]", (0.9, 0.999), "moment decay rates", "[0,1)"),
            parameter("eps", "float", 1e-8, "denominator epsilon", ">0"),
            parameter("weight_decay", "float", 0.0, "coupled L2 weight decay", ">=0"),
            _DECAY_ON,
        ),
    ),
    ComponentDef(
        "optimizer",
        "adamw",
        "Adam with decoupled weight decay.",
        (
            _LEARNING_RATE,
            parameter("betas", "pair[float]", (0.9, 0.999), "moment decay rates", "[0,1)"),
            parameter("eps", "float", 1e-8, "denominator epsilon", ">0"),
            parameter("weight_decay", "float", 0.01, _DECOUPLED_DECAY, ">=0"),
            _DECAY_ON,
        ),
    ),
    ComponentDef(
        "optimizer",
        "sgd",
        "SGD with torch's semantics (coupled L2, momentum without dampening).",
        (
            parameter("lr", "float", 1e-2, "learning rate", ">0"),
            parameter("momentum", "float", 0.0, "momentum", "[0,1)"),
            parameter("nesterov", "bool", False, "Nesterov momentum"),
            parameter("weight_decay", "float", 0.0, "coupled L2 weight decay", ">=0"),
            _DECAY_ON,
        ),
    ),
    ComponentDef(
        "optimizer",
        "lion",
        "Lion (sign of interpolated momentum), decoupled decay as in optax.",
        (
            parameter("lr", "float", 1e-4, "learning rate", ">0"),
            parameter("betas", "pair[float]", (0.9, 0.99), "interpolation and decay rates", "[0,1)"),
            parameter("weight_decay", "float", 0.0, _DECOUPLED_DECAY, ">=0"),
            _DECAY_ON,
        ),
    ),
)


_PEAK = parameter("peak", "float?", None, "peak learning rate", ">0", derived="optimizer.lr")
_INITIAL = parameter("initial", "float?", None, "initial learning rate", ">0", derived="optimizer.lr")
_TOTAL = parameter("total", "int?", None, "total steps", ">=1", derived="train.max_steps")
_WARMUP = parameter("warmup", "int", 0, "linear warm-up steps", ">=0")
_WARMUP_FROM = parameter(
    "warmup_from",
    "enum",
    "one",
    "warm-up update k at peak * (k + 1) / (warmup + 1) (one: nanoGPT) or peak * k / warmup (zero: the first at lr 0)",
    choices=("one", "zero"),
)
SCHEDULES = (
    ComponentDef("schedule", "constant", "The optimizer's learning rate at every step."),
    ComponentDef(
        "schedule",
        "warmup_cosine",
        "Linear warm-up, then cosine decay to min_ratio * peak.",
        (_PEAK, _WARMUP, _TOTAL, parameter("min_ratio", "float", 0.0, "final lr over peak", "[0,1]"), _WARMUP_FROM),
    ),
    ComponentDef(
        "schedule", "warmup_linear", "Linear warm-up, then linear decay to 0 at total.", (_PEAK, _WARMUP, _TOTAL, _WARMUP_FROM)
    ),
    ComponentDef(
        "schedule",
        "step",
        "initial * gamma^(k // step_size).",
        (
            _INITIAL,
            parameter("step_size", "int", REQUIRED, "steps between decays", ">=1"),
            parameter("gamma", "float", 0.1, "decay factor", ">0"),
        ),
    ),
    ComponentDef(
        "schedule",
        "exponential",
        "initial * decay_rate^k.",
        (_INITIAL, parameter("decay_rate", "float", REQUIRED, "decay per step", "(0,1]")),
    ),
)

# ----------------------------------------------------------------------- metrics, logging

_PARAMETERS_PER_TOKEN = parameter("params_per_token", "int", REQUIRED, "parameters per token (the last axis is split)", ">=1")
METRICS = (
    ComponentDef(
        "metric",
        "accuracy",
        "Fraction of argmax predictions equal to the labels.",
        needs=("classification", "language_model"),
    ),
    ComponentDef("metric", "mse", "Mean squared error of predictions or samples."),
    graph_component(
        "metric",
        "A metric written in the spec's graph language: a parameter-free block (prediction, target) -> f32[], "
        "the mean over each evaluation's batches (weighted by their rows), logged as val/<block>.",
        "two tensor inputs (prediction, target), one f32[] output",
        "{ scale = 2.0 }",
        needs=("classification", "regression"),
    ),
    ComponentDef("metric", "mae", "Mean absolute error of predictions or samples."),
    ComponentDef("metric", "perplexity", "exp of the mean token cross-entropy.", needs=("language_model",)),
    ComponentDef(
        "metric",
        "log_spectral_distance",
        "RMS difference of dB power spectra of signals.",
        (parameter("eps", "float", 1e-8, "power floor", ">0"),),
        needs=("sampler", "signals"),
    ),
    ComponentDef(
        "metric",
        "spectral_distribution_distance",
        "RMS dB difference of the mean (Welch) power spectra of generated and held-out audio.",
        (
            parameter("frame_length", "int", 256, "samples per Hann frame (even; hop is half of it)", ">=2"),
            parameter("eps", "float", 1e-10, "power floor", ">0"),
        ),
        needs=("sampler",),
    ),
    ComponentDef("metric", "chamfer", "Symmetric mean nearest-token squared distance.", (_PARAMETERS_PER_TOKEN,), needs=("sampler",)),
    ComponentDef("metric", "linear_assignment", "Mean Hungarian-matched token distance.", (_PARAMETERS_PER_TOKEN,), needs=("sampler",)),
)

LOGGERS = (
    ComponentDef("logger", "csv", "metrics.csv in the run directory (always on)."),
    ComponentDef(
        "logger",
        "tensorboard",
        "TensorBoard event files in log_dir/name (default: the run directory's tensorboard/).",
        (
            parameter("log_dir", "str?", None, "the folder of the logs (default: the run directory); relative to where "
                      "the script runs, like --out-dir"),
            parameter("name", "str", "tensorboard", "the subfolder of log_dir holding this run's event files"),
        ),
    ),
    ComponentDef(
        "logger",
        "mlflow",
        "MLflow, offline (a file store under the run directory).",
        (
            parameter("experiment", "str", "specc", "experiment name"),
            parameter("run_name", "str?", None, "the MLflow run's name (default: the run directory's name)"),
        ),
    ),
    ComponentDef(
        "logger",
        "wandb",
        "Weights & Biases, offline by default (`wandb sync` uploads the run).",
        (
            parameter("project", "str", "specc", "project name"),
            parameter("name", "str?", None, "the W&B run's name (default: the run directory's name)"),
            parameter("config", "arguments", (), "values recorded as the run's config: { lr = 1e-4, batch_size = 32 }"),
            parameter("mode", "enum", "offline", "offline (synced later) or online (needs a W&B login and network)",
                      choices=("offline", "online")),
        ),
    ),
)

# Per-example data transforms (``data { transforms = [..] }``), runtime/data/transforms.py.
_FIELD = parameter("field", "str?", None, "the field transformed (default: every float field)")
TRANSFORMS = (
    ComponentDef(
        "transform",
        "normalize",
        "(x - mean(x)) / (std(x) + eps) per example; with statistics, (x - mean) / (sqrt(var) + eps) with saved "
        "mean and var.",
        (
            parameter("eps", "float", 1e-8, "added to the standard deviation", ">=0"),
            _FIELD,
            parameter("statistics", "str?", None, "an .npz of arrays mean and var (the field's shape or its last "
                      "axis) used instead of each example's own, e.g. the training set's (needs field)"),
        ),
    ),
    ComponentDef(
        "transform",
        "clip",
        "Clip to [minimum, maximum].",
        (parameter("minimum", "float", -1.0, "lower bound"), parameter("maximum", "float", 1.0, "upper bound"), _FIELD),
    ),
    ComponentDef("transform", "scale", "factor * x.", (parameter("factor", "float", 1.0, "multiplier"), _FIELD)),
    ComponentDef(
        "transform",
        "random_gain",
        "Training only: x * 10^(g / 20), g ~ U[min_db, max_db) per example.",
        (parameter("min_db", "float", -6.0, "lowest gain in dB"), parameter("max_db", "float", 6.0, "highest gain in dB"), _FIELD),
    ),
    ComponentDef(
        "transform",
        "time_shift",
        "Training only: circular shift of the first axis by s ~ U{-max_shift..max_shift}.",
        (parameter("max_shift", "int", 100, "largest shift in samples", ">=0"), _FIELD),
    ),
    ComponentDef(
        "transform",
        "gaussian_noise",
        "Training only: x + std * e, e ~ N(0, 1).",
        (parameter("std", "float", 0.01, "noise standard deviation", ">=0"), _FIELD),
    ),
)

# How a data source renders parameters to signals (``data { render = ksin(...) }``) for the
# metrics on signals (log_spectral_distance), runtime/data/render.py.
_SIGNAL_FIELD = parameter("signal_field", "str?", None, "the float field holding the target signals (default: the "
                          "target parameters rendered too)")
RENDERERS = (
    ComponentDef(
        "renderer",
        "ksin",
        "Sums of k sinusoids from parameters [f_1..f_k, a_1..a_k] (the ksin source's own synthesis).",
        (
            parameter("signal_length", "int", 1024, "samples per signal", ">=1"),
            parameter("break_symmetry", "bool", False, "shift frequency i into its own band"),
            _SIGNAL_FIELD,
        ),
    ),
    python_component(
        "renderer",
        "A function of the user's: render(params, **arguments) -> signals, numpy float arrays [B, P] -> [B, ...] "
        "(docs/language.md \"Signals from parameters: `render`\").",
        (_SIGNAL_FIELD,),
    ),
)

CALLBACKS = (
    ComponentDef(
        "callback",
        "progress_bar",
        "A progress line on the terminal.",
        (parameter("refresh_rate", "int", 10, "steps between refreshes", ">=1"),),
    ),
    ComponentDef(
        "callback",
        "lr_monitor",
        "Logs the learning rate as `lr`.",
        (parameter("interval", "enum", "step", "when to log", choices=("step", "epoch")),),
    ),
    ComponentDef("callback", "grad_norm_monitor", "Logs the global gradient norm as `grad_norm`."),
    python_component(
        "callback",
        "A class of the user's with any of on_train_start(info), on_step_end(step, values), "
        "on_evaluation_end(step, metrics), on_checkpoint_saved(step, path), on_train_end(info); "
        "on_step_end and on_evaluation_end return \"stop\" to end the run after that step.",
    ),
)

PRECISIONS = (
    ComponentDef("precision", "fp32", "float32 everywhere."),
    ComponentDef("precision", "bf16", "bfloat16 compute, float32 parameters."),
    ComponentDef(
        "precision",
        "fp16",
        "float16 compute with loss scaling (MLX has no loss scaler).",
    ),
)


# Parameter penalties added to the training loss (seed 004's pe_penalty / projection_penalty)
PENALTIES = (
    ComponentDef(
        "penalty",
        "l2",
        "weight * sum of the squares of the parameters whose dotted name starts with prefix "
        "(whole name parts; `vector_field.x` or the model-relative `x`); logged as train/penalty.",
        (
            parameter("prefix", "str", REQUIRED, "dotted parameter-name prefix"),
            parameter("weight", "float", REQUIRED, "factor of the sum of squares", ">=0"),
        ),
    ),
)

COMPONENTS = (
    DATA
    + OBJECTIVES
    + LOSSES
    + OPTIMIZERS
    + SCHEDULES
    + PATHS
    + TIMES
    + SAMPLERS
    + METRICS
    + LOGGERS
    + TRANSFORMS
    + RENDERERS
    + CALLBACKS
    + PRECISIONS
    + PENALTIES
)
