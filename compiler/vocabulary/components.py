"""The component tables of the registry: data sources, objectives, losses, optimizers,
schedules, paths, time samplers, samplers, metrics, loggers, callbacks and precisions.

Data only: one ``ComponentDef`` per component, with its documented, typed parameters
(names and defaults are the runtime's), its fields (data sources), its contract
(objectives). Which backends implement a component is stated once, in the backend tables
(``specc.compiler.backends.<name>``), not here.
"""

from __future__ import annotations

from specc.compiler.vocabulary.types import REQUIRED, ComponentDef, Contract, FieldDecl, Param

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
_CHANNELS = P("channels", "int", 1, "audio channels: 1 mono [length], C > 1 gives [length, C]", ">=1")
_AUDIO = "samples [length], or [length, channels] when channels > 1"

# Parameters are the runtime constructors' (specc.runtime.data), with the same names and
# defaults; ``fields`` of file sources is the spec's declaration of what the file holds.
DATA = (
    ComponentDef(
        "data",
        "ksin",
        "Sums of k sinusoids: parameters [f_1..f_k, a_1..a_k] and the signal.",
        (
            P("k", "int", REQUIRED, "number of sinusoids", ">=1"),
            P("signal_length", "int", 1024, "samples per signal", ">=1"),
            P("sizes", "list[int]", (100_000, 10_000, 10_000), "train, val and test sizes"),
            _SEED,
            P("sort_frequencies", "bool", False, "sort the frequencies ascending"),
            P("break_symmetry", "bool", False, "shift frequency i into its own band"),
            P("shift_test_distribution", "bool", False, "draw test frequencies from a shifted normal"),
            P("split_seeds", "list[int]?", None, "train, val and test seeds, each split's own (then `seed` is unused)"),
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
            P("num_features", "int", REQUIRED, "input features", ">=1"),
            P("num_outputs", "int", 1, "output dimensions", ">=1"),
            _SIZES,
            P("noise", "float", 0.1, "standard deviation of the noise", ">=0"),
            _SEED,
        ),
        fields=(FieldDecl("x", "f32", ("num_features",)), FieldDecl("y", "f32", ("num_outputs",))),
    ),
    ComponentDef(
        "data",
        "npz",
        "Arrays of a .npz file (or a folder of train/val/test .npz); fields declared in the spec.",
        (P("path", "str", REQUIRED, "the .npz file or folder"), _DECLARED) + _splits(0.1) + (_SEED,),
    ),
    ComponentDef(
        "data",
        "npy",
        "A folder of .npy files, one per field (or train/val/test sub-folders); fields declared.",
        (P("path", "str", REQUIRED, "the folder"), _DECLARED) + _splits(0.1) + (_SEED,),
    ),
    ComponentDef(
        "data",
        "hdf5",
        "Datasets of an HDF5 file; fields declared in the spec.",
        (P("path", "str", REQUIRED, "the .h5 file"), _DECLARED) + _splits(0.1) + (_SEED,),
    ),
    ComponentDef(
        "data",
        "synthetic_audio",
        "Labelled synthetic tones, one frequency band per class.",
        (
            P("sample_rate", "int", 8000, "samples per second", ">=1"),
            P("length", "int", 2000, "samples per clip", ">=1"),
            P("num_classes", "int", 4, "number of classes", ">=1"),
            _SIZES,
            _SEED,
            P("noise", "float", 0.1, "standard deviation of added noise", ">=0"),
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
            P("path", "str", REQUIRED, "the folder"),
            P("length", "int", REQUIRED, "samples per clip", ">=1"),
        )
        + _splits(0.15)
        + (_SEED, P("sample_rate", "int?", None, "required sample rate of every file (no resampling)", ">=1"))
        + (_CHANNELS,),
        fields=(FieldDecl("audio", "f32", ("length", "channels?"), _AUDIO), FieldDecl("label", "i64", ())),
    ),
    ComponentDef(
        "data",
        "synthetic_tokens",
        "Multi-modal token sequences (image, scalar, spectrum ranges) with codebooks.",
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
            P("codebooks", "str?", None, "a .npz of image_codebook, scalar_centers, spectrum_codebook (default: generated)"),
            _SIZES,
            _SEED,
        ),
        fields=(
            FieldDecl("tokens", "i64", ("sequence_length",)),
            FieldDecl("types", "i64", ("sequence_length",), "modality: 0 special, 1 image, 2 scalar, 3 + g spectrum"),
            FieldDecl("attn_mask", "bool", ("sequence_length",), "False on PAD positions"),
        ),
    ),
)

# ----------------------------------------------------------------------- objectives

_MODEL = P("model", "model?", None, "the model trained (default: the only model)")
_TARGET = P("target", "field?", None, "the data field predicted or generated")
_INPUTS = P("inputs", "inputs", (), "model inputs bound to data fields: { signal = data.signal }")
_CFG = P("cfg_dropout", "float", 0.0, "probability of dropping the condition (classifier-free guidance)", "[0,1)")
_FLOW = (("x", "sample"), ("t", "time"), ("h", "time"))

OBJECTIVES = (
    ComponentDef(
        "objective",
        "classification",
        "Cross-entropy over class logits [B, C] and integer labels.",
        (_MODEL, _TARGET, _INPUTS, P("loss", "terms", "cross_entropy", "the loss: cross_entropy(...)")),
        contract=Contract(output="logits", target_dtype="int", losses=("cross_entropy",), single_loss=True),
    ),
    ComponentDef(
        "objective",
        "regression",
        "A model predicting a float field.",
        (_MODEL, _TARGET, _INPUTS, P("loss", "terms", "mse", "the loss: mse")),
        contract=Contract(losses=("mse",), single_loss=True),
    ),
    ComponentDef(
        "objective",
        "flow_matching",
        "Conditional flow matching: f(x_t, t, cond) regresses the path's velocity.",
        (
            _MODEL,
            _TARGET,
            _INPUTS,
            P("path", "path", "linear", "interpolation between data (t = 0) and noise (t = 1)"),
            P("time", "time", "uniform", "distribution of t"),
            P("weighted", "bool", True, "adaptive weighted L2 instead of MSE"),
            _CFG,
        ),
        contract=Contract(supplies=_FLOW, h="optional", sampler=True),
    ),
    ComponentDef(
        "objective",
        "mean_flow",
        "MeanFlow: the average velocity u(z, t, r) through a JVP.",
        (
            _MODEL,
            _TARGET,
            _INPUTS,
            P("path", "path", "uniform", "interpolation between data and noise (MeanFlowLoss's noise schedule)"),
            P("time", "time", "mean_flow", "distribution of (t, r)"),
            P("gamma", "float", 0.5, "adaptive weight exponent: p = 1 - gamma", "[0,1]"),
            P("c", "float", 1e-3, "stability constant of the adaptive weight", ">0"),
            _CFG,
        ),
        contract=Contract(supplies=_FLOW, h="required", sampler=True),
    ),
    ComponentDef(
        "objective",
        "improved_mean_flow",
        "Improved MeanFlow: a network-independent target.",
        (
            _MODEL,
            _TARGET,
            _INPUTS,
            P("path", "path", "linear", "interpolation between data and noise"),
            P("time", "time", "mean_flow", "distribution of (t, r)"),
            P("weighted", "bool", True, "adaptive weighted L2 instead of MSE"),
            _CFG,
        ),
        contract=Contract(supplies=_FLOW, h="required", sampler=True),
    ),
    ComponentDef(
        "objective",
        "language_model",
        "Next-token prediction over a token field: logits [B, T, V].",
        (
            _MODEL,
            _TARGET,
            _INPUTS,
            P("loss", "terms", "cross_entropy", "cross_entropy plus weighted expected-value terms"),
        ),
        contract=Contract(
            output="sequence_logits",
            target_dtype="int",
            losses=("cross_entropy", "expected_codebook", "expected_scalar"),
            once=("cross_entropy",),
        ),
    ),
    ComponentDef(
        "objective",
        "adversarial",
        "Reconstruction plus hinge GAN and feature matching (two models).",
        (
            P("generator", "model", REQUIRED, "the generator (e.g. a VAE)"),
            P("discriminator", "model?", None, "the discriminator (required when use_adversarial)"),
            _TARGET,
            _INPUTS,
            P("loss", "terms", "l1", "reconstruction terms of the generator"),
            P("adversarial_weight", "float", 1.0, "weight of the generator's hinge term", ">=0"),
            P("feature_matching_weight", "float", 10.0, "weight of feature matching", ">=0"),
            P("adversarial_warmup", "int", 0, "steps before the adversarial terms start", ">=0"),
            P("kl_weight", "float", 0.0, "weight of the VAE's KL term (0: no KL)", ">=0"),
            P("use_adversarial", "bool", True, "false: the generator alone (reconstruction + KL), no discriminator"),
        ),
        contract=Contract(
            models=("generator", "discriminator"),
            optimizers=("generator", "discriminator"),
            losses=("l1", "mae", "mse", "multi_resolution_stft"),
        ),
    ),
)

# ----------------------------------------------------------------------- losses

LOSSES = (
    ComponentDef(
        "loss",
        "cross_entropy",
        "Cross-entropy over integer labels.",
        (
            P("ignore_index", "int?", None, "label excluded from the mean"),
            P("label_smoothing", "float", 0.0, "label smoothing", "[0,1)"),
        ),
    ),
    ComponentDef("loss", "mse", "Mean squared error."),
    ComponentDef("loss", "mae", "Mean absolute error."),
    ComponentDef("loss", "l1", "Mean absolute error of a reconstruction."),
    ComponentDef(
        "loss",
        "weighted_l2",
        "Adaptive weighted L2: mean_b(sg(1 / (S_b + c)^p) * S_b).",
        (
            P("p", "float", 1.0, "weight exponent", ">=0"),
            P("c", "float", 1e-3, "stability constant", ">0"),
            P("reduce", "enum", "sum", "reduction over non-batch axes", choices=("sum", "mean")),
        ),
    ),
    ComponentDef(
        "loss",
        "expected_codebook",
        "MSE between softmax-expected and true codebook vectors.",
        (
            P("codebook", "str?", None, "a .npy / .npz codebook [V, D] (default: the data source's)"),
            P("modality", "enum", "image", "which codebook of the data source", choices=("image", "spectrum")),
            P("start", "int?", None, "first token id of the range (default: the source's layout)", ">=0"),
            P("sample_k", "int?", None, "at most k positions per batch", ">=1"),
        ),
    ),
    ComponentDef(
        "loss",
        "expected_scalar",
        "MSE between softmax-expected and true bin centres.",
        (
            P("centers", "str?", None, "a .npy / .npz of bin centres [V] (default: the data source's)"),
            P("modality", "enum", "scalar", "which codebook of the data source", choices=("scalar",)),
            P("start", "int?", None, "first token id of the range (default: the source's layout)", ">=0"),
            P("sample_k", "int?", None, "at most k positions per batch", ">=1"),
        ),
    ),
    ComponentDef(
        "loss",
        "multi_resolution_stft",
        "Spectral convergence + log-magnitude L1 over resolutions.",
        (P("n_ffts", "list[int]", (2048, 1024, 512), "FFT sizes (hop n_fft / 4)"),),
    ),
)

# ----------------------------------------------------------------------- optimizers, schedules

_LR = P("lr", "float", 1e-3, "learning rate", ">0")
_WD = "decoupled weight decay"
OPTIMIZERS = (
    ComponentDef(
        "optimizer",
        "adam",
        "Adam with bias correction.",
        (
            _LR,
            P("betas", "pair[float]", (0.9, 0.999), "moment decay rates", "[0,1)"),
            P("eps", "float", 1e-8, "denominator epsilon", ">0"),
            P("weight_decay", "float", 0.0, "coupled L2 weight decay", ">=0"),
        ),
    ),
    ComponentDef(
        "optimizer",
        "adamw",
        "Adam with decoupled weight decay.",
        (
            _LR,
            P("betas", "pair[float]", (0.9, 0.999), "moment decay rates", "[0,1)"),
            P("eps", "float", 1e-8, "denominator epsilon", ">0"),
            P("weight_decay", "float", 0.01, _WD, ">=0"),
        ),
    ),
    ComponentDef(
        "optimizer",
        "sgd",
        "SGD with torch's semantics (coupled L2, momentum without dampening).",
        (
            P("lr", "float", 1e-2, "learning rate", ">0"),
            P("momentum", "float", 0.0, "momentum", "[0,1)"),
            P("nesterov", "bool", False, "Nesterov momentum"),
            P("weight_decay", "float", 0.0, "coupled L2 weight decay", ">=0"),
        ),
    ),
    ComponentDef(
        "optimizer",
        "lion",
        "Lion (sign of interpolated momentum), decoupled decay as in optax.",
        (
            P("lr", "float", 1e-4, "learning rate", ">0"),
            P("betas", "pair[float]", (0.9, 0.99), "interpolation and decay rates", "[0,1)"),
            P("weight_decay", "float", 0.0, _WD, ">=0"),
        ),
    ),
)


_PEAK = P("peak", "float?", None, "peak learning rate", ">0", derived="optimizer.lr")
_INITIAL = P("initial", "float?", None, "initial learning rate", ">0", derived="optimizer.lr")
_TOTAL = P("total", "int?", None, "total steps", ">=1", derived="train.max_steps")
_WARMUP = P("warmup", "int", 0, "linear warm-up steps from 0", ">=0")
SCHEDULES = (
    ComponentDef("schedule", "constant", "The optimizer's learning rate at every step."),
    ComponentDef(
        "schedule",
        "warmup_cosine",
        "Linear warm-up, then cosine decay to min_ratio * peak.",
        (_PEAK, _WARMUP, _TOTAL, P("min_ratio", "float", 0.0, "final lr over peak", "[0,1]")),
    ),
    ComponentDef(
        "schedule", "warmup_linear", "Linear warm-up, then linear decay to 0 at total.", (_PEAK, _WARMUP, _TOTAL)
    ),
    ComponentDef(
        "schedule",
        "step",
        "initial * gamma^(k // step_size).",
        (
            _INITIAL,
            P("step_size", "int", REQUIRED, "steps between decays", ">=1"),
            P("gamma", "float", 0.1, "decay factor", ">0"),
        ),
    ),
    ComponentDef(
        "schedule",
        "exponential",
        "initial * decay_rate^k.",
        (_INITIAL, P("decay_rate", "float", REQUIRED, "decay per step", "(0,1]")),
    ),
)

# ----------------------------------------------------------------------- flows, sampling

PATHS = (
    ComponentDef(
        "path",
        "linear",
        "x_t = (1 - t) x + (noise_min + noise_max t) e; v = noise_max e - x.",
        (
            P("noise_min", "float", 0.001, "noise at t = 0", "[0,1]"),
            P("noise_max", "float", 0.999, "noise scale at t = 1", "(0,1]"),
        ),
    ),
    ComponentDef("path", "uniform", "x_t = (1 - t) x + t e; v = e - x."),
)

TIMES = (
    ComponentDef("time", "uniform", "t ~ U[0, 1)."),
    ComponentDef(
        "time",
        "logit_normal",
        "t = sigmoid(mean + std n).",
        (P("mean", "float", -0.4, "location"), P("std", "float", 1.0, "scale", ">0")),
    ),
    ComponentDef(
        "time",
        "mean_flow",
        "(t, r) = (max, min) of two logit-normal draws; r = t for a fraction.",
        (
            P("mean", "float", -0.4, "location"),
            P("std", "float", 1.0, "scale", ">0"),
            P("data_proportion", "float", 0.5, "fraction of rows with r = t", "[0,1]"),
        ),
    ),
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
    ComponentDef(
        "metric",
        "accuracy",
        "Fraction of argmax predictions equal to the labels.",
        needs=("classification", "language_model"),
    ),
    ComponentDef("metric", "mse", "Mean squared error of predictions or samples."),
    ComponentDef("metric", "mae", "Mean absolute error of predictions or samples."),
    ComponentDef("metric", "perplexity", "exp of the mean token cross-entropy.", needs=("language_model",)),
    ComponentDef(
        "metric",
        "log_spectral_distance",
        "RMS difference of dB power spectra of signals.",
        (P("eps", "float", 1e-8, "power floor", ">0"),),
        needs=("sampler", "signals"),
    ),
    ComponentDef(
        "metric",
        "spectral_distribution_distance",
        "RMS dB difference of the mean (Welch) power spectra of generated and held-out audio.",
        (
            P("frame_length", "int", 256, "samples per Hann frame (even; hop is half of it)", ">=2"),
            P("eps", "float", 1e-10, "power floor", ">0"),
        ),
        needs=("sampler",),
    ),
    ComponentDef("metric", "chamfer", "Symmetric mean nearest-token squared distance.", (_PPT,), needs=("sampler",)),
    ComponentDef("metric", "linear_assignment", "Mean Hungarian-matched token distance.", (_PPT,), needs=("sampler",)),
)

LOGGERS = (
    ComponentDef("logger", "csv", "metrics.csv in the run directory (always on)."),
    ComponentDef("logger", "tensorboard", "TensorBoard event files under the run directory."),
    ComponentDef(
        "logger",
        "mlflow",
        "MLflow, offline (a file store under the run directory).",
        (P("experiment", "str", "specc", "experiment name"),),
    ),
    ComponentDef(
        "logger", "wandb", "Weights & Biases in offline mode.", (P("project", "str", "specc", "project name"),)
    ),
)

# Per-example data transforms (``data { transforms = [..] }``), runtime/data/transforms.py.
_FIELD = P("field", "str?", None, "the field transformed (default: every float field)")
TRANSFORMS = (
    ComponentDef(
        "transform",
        "normalize",
        "(x - mean(x)) / (std(x) + eps) per example.",
        (P("eps", "float", 1e-8, "added to the standard deviation", ">=0"), _FIELD),
    ),
    ComponentDef(
        "transform",
        "clip",
        "Clip to [minimum, maximum].",
        (P("minimum", "float", -1.0, "lower bound"), P("maximum", "float", 1.0, "upper bound"), _FIELD),
    ),
    ComponentDef("transform", "scale", "factor * x.", (P("factor", "float", 1.0, "multiplier"), _FIELD)),
    ComponentDef(
        "transform",
        "random_gain",
        "Training only: x * 10^(g / 20), g ~ U[min_db, max_db) per example.",
        (P("min_db", "float", -6.0, "lowest gain in dB"), P("max_db", "float", 6.0, "highest gain in dB"), _FIELD),
    ),
    ComponentDef(
        "transform",
        "time_shift",
        "Training only: circular shift of the first axis by s ~ U{-max_shift..max_shift}.",
        (P("max_shift", "int", 100, "largest shift in samples", ">=0"), _FIELD),
    ),
    ComponentDef(
        "transform",
        "gaussian_noise",
        "Training only: x + std * e, e ~ N(0, 1).",
        (P("std", "float", 0.01, "noise standard deviation", ">=0"), _FIELD),
    ),
)

CALLBACKS = (
    ComponentDef(
        "callback",
        "progress_bar",
        "A progress line on the terminal.",
        (P("refresh_rate", "int", 10, "steps between refreshes", ">=1"),),
    ),
    ComponentDef(
        "callback",
        "lr_monitor",
        "Logs the learning rate as `lr`.",
        (P("interval", "enum", "step", "when to log", choices=("step", "epoch")),),
    ),
    ComponentDef("callback", "grad_norm_monitor", "Logs the global gradient norm as `grad_norm`."),
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
            P("prefix", "str", REQUIRED, "dotted parameter-name prefix"),
            P("weight", "float", REQUIRED, "factor of the sum of squares", ">=0"),
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
    + CALLBACKS
    + PRECISIONS
    + PENALTIES
)
