"""The objective tables of the registry: objectives, their losses, and the flows' paths,
time samplers and samplers.

Data only, as ``components.py``: one ``ComponentDef`` per component, with its documented,
typed parameters (names and defaults are the runtime's) and, for objectives, the contract
the checker holds the models and data against. Which backends implement a component is
stated once, in the backend tables (``specc.compiler.backends.<name>``), not here.
"""

from __future__ import annotations

from specc.compiler.vocabulary.types import (
    REQUIRED,
    ComponentDef,
    Contract,
    graph_component,
    parameter,
    python_component,
)

# ----------------------------------------------------------------------- objectives

_MODEL = parameter("model", "model?", None, "the model trained (default: the only model)")
_TARGET = parameter("target", "field?", None, "the data field predicted or generated")
_INPUTS = parameter("inputs", "inputs", (), "model inputs bound to data fields: { signal = data.signal }")
_CONDITION_DROPOUT = parameter(
    "cfg_dropout", "float", 0.0, "probability of dropping the condition (classifier-free guidance)", "[0,1)"
)
_FLOW = (("x", "sample"), ("t", "time"), ("h", "time"))
_FLOW_LOSS = parameter(
    "loss",
    "loss?",
    None,
    "the user's regression of the prediction on its target: python(...) or graph(...) (default: the weighted L2 or MSE)",
)

# the reconstruction terms of the objectives that train a generator (adversarial, vae)
_RECONSTRUCTION = ("l1", "mae", "mse", "multi_resolution_stft")

OBJECTIVES = (
    ComponentDef(
        "objective",
        "classification",
        "Cross-entropy over class logits [B, C] and integer labels.",
        (_MODEL, _TARGET, _INPUTS, parameter("loss", "terms", "cross_entropy", "the loss: cross_entropy(...)")),
        contract=Contract(output="logits", target_dtype="int", losses=("cross_entropy", "python", "graph"), single_loss=True),
    ),
    ComponentDef(
        "objective",
        "regression",
        "A model predicting a float field.",
        (_MODEL, _TARGET, _INPUTS, parameter("loss", "terms", "mse", "the loss: mse")),
        contract=Contract(losses=("mse", "python", "graph"), single_loss=True),
    ),
    ComponentDef(
        "objective",
        "flow_matching",
        "Conditional flow matching: f(x_t, t, cond) regresses the path's velocity.",
        (
            _MODEL,
            _TARGET,
            _INPUTS,
            parameter("path", "path", "linear", "interpolation between data (t = 0) and noise (t = 1)"),
            parameter("time", "time", "uniform", "distribution of t"),
            parameter("weighted", "bool", True, "adaptive weighted L2 instead of MSE"),
            _CONDITION_DROPOUT,
            _FLOW_LOSS,
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
            parameter("path", "path", "uniform", "interpolation between data and noise (MeanFlowLoss's noise schedule)"),
            parameter("time", "time", "mean_flow", "distribution of (t, r)"),
            parameter("gamma", "float", 0.5, "adaptive weight exponent: p = 1 - gamma", "[0,1]"),
            parameter("c", "float", 1e-3, "stability constant of the adaptive weight", ">0"),
            _CONDITION_DROPOUT,
            _FLOW_LOSS,
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
            parameter("path", "path", "linear", "interpolation between data and noise"),
            parameter("time", "time", "mean_flow", "distribution of (t, r)"),
            parameter("weighted", "bool", True, "adaptive weighted L2 instead of MSE"),
            _CONDITION_DROPOUT,
            _FLOW_LOSS,
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
            parameter("loss", "terms", "cross_entropy", "cross_entropy plus weighted expected-value terms"),
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
            parameter("generator", "model", REQUIRED, "the generator (e.g. a VAE)"),
            parameter("discriminator", "model?", None, "the discriminator (required when use_adversarial)"),
            _TARGET,
            _INPUTS,
            parameter("loss", "terms", "l1", "reconstruction terms of the generator"),
            parameter("adversarial_weight", "float", 1.0, "weight of the generator's hinge term", ">=0"),
            parameter("feature_matching_weight", "float", 10.0, "weight of feature matching", ">=0"),
            parameter("adversarial_warmup", "int", 0, "steps before the adversarial terms start", ">=0"),
            parameter("kl_weight", "float", 0.0, "weight of the VAE's KL term (0: no KL)", ">=0"),
            parameter("use_adversarial", "bool", True, "false: the generator alone (reconstruction + KL), no discriminator"),
        ),
        contract=Contract(
            models=("generator", "discriminator"),
            optimizers=("generator", "discriminator"),
            losses=_RECONSTRUCTION,
        ),
    ),
    ComponentDef(
        "objective",
        "vae",
        "A VAE (or autoencoder) trained alone: reconstruction terms + kl_weight * KL(q(z|x) || N(0, I)); "
        "the model takes the target and returns (reconstruction, [mean, logvar]) when kl_weight > 0.",
        (
            _MODEL,
            _TARGET,
            _INPUTS,
            parameter("loss", "terms", "l1", "reconstruction terms: l1, mae, mse, multi_resolution_stft"),
            parameter("kl_weight", "float", 0.0, "weight of the KL term (0: no KL, a plain autoencoder)", ">=0"),
        ),
        contract=Contract(supplies=(("x", "sample"),), losses=_RECONSTRUCTION),
    ),
)

# ----------------------------------------------------------------------- losses

_ARRAY_KEY = parameter("key", "str?", None, "the array's key in an .npz (or a pickled mapping or object)")
_TRUSTED = parameter("trusted", "bool", False, "load a .joblib / .pkl file: unpickling runs code stored in it")
LOSSES = (
    ComponentDef(
        "loss",
        "cross_entropy",
        "Cross-entropy over integer labels.",
        (
            parameter("ignore_index", "int?", None, "label excluded from the mean"),
            parameter("label_smoothing", "float", 0.0, "label smoothing", "[0,1)"),
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
            parameter("p", "float", 1.0, "weight exponent", ">=0"),
            parameter("c", "float", 1e-3, "stability constant", ">0"),
            parameter("reduce", "enum", "sum", "reduction over non-batch axes", choices=("sum", "mean")),
        ),
    ),
    ComponentDef(
        "loss",
        "expected_codebook",
        "MSE between softmax-expected and true codebook vectors.",
        (
            parameter("codebook", "str?", None, "a .npy / .npz / .joblib codebook [V, D] (default: the data source's)"),
            _ARRAY_KEY,
            _TRUSTED,
            parameter("modality", "enum", "image", "which codebook of the data source", choices=("image", "spectrum")),
            parameter("start", "int?", None, "first token id of the range (default: the source's layout)", ">=0"),
            parameter("sample_k", "int?", None, "at most k positions per batch", ">=1"),
        ),
    ),
    ComponentDef(
        "loss",
        "expected_scalar",
        "MSE between softmax-expected and true bin centres.",
        (
            parameter("centers", "str?", None, "a .npy / .npz / .joblib of bin centres [V] (default: the data source's)"),
            _ARRAY_KEY,
            _TRUSTED,
            parameter("modality", "enum", "scalar", "which codebook of the data source", choices=("scalar",)),
            parameter("start", "int?", None, "first token id of the range (default: the source's layout)", ">=0"),
            parameter("sample_k", "int?", None, "at most k positions per batch", ">=1"),
        ),
    ),
    ComponentDef(
        "loss",
        "multi_resolution_stft",
        "Spectral convergence + log-magnitude L1 over resolutions.",
        (parameter("n_ffts", "list[int]", (2048, 1024, 512), "FFT sizes (hop n_fft / 4)"),),
    ),
    graph_component(
        "loss",
        "A parameter-free block of the spec: block(prediction, target, hyperparameters...) -> f32[].",
        "two tensor inputs (prediction, target), one f32[] output",
        "{ beta = 0.5 }",
    ),
    python_component(
        "loss",
        "A function of the user's: loss(ops, prediction, target, **arguments) -> a scalar, or "
        "(scalar, { name: scalar }) to log more values beside the loss.",
    ),
)

# ----------------------------------------------------------------------- flows, sampling

PATHS = (
    ComponentDef(
        "path",
        "linear",
        "x_t = (1 - t) x + (noise_min + noise_max t) e; v = noise_max e - x.",
        (
            parameter("noise_min", "float", 0.001, "noise at t = 0", "[0,1]"),
            parameter("noise_max", "float", 0.999, "noise scale at t = 1", "(0,1]"),
        ),
    ),
    ComponentDef("path", "uniform", "x_t = (1 - t) x + t e; v = e - x."),
    graph_component(
        "path",
        "A parameter-free block of the spec: block(x0, x1, t, hyperparameters...) -> (x_t, v) "
        "(x0 data, x1 noise, t [B, 1, ..]).",
        "three tensor inputs (x0, x1, t), two outputs shaped like x0",
        "{ rate = 2.0 }",
    ),
    python_component(
        "path",
        "A class of the user's: interpolate(ops, x0, x1, t) -> x_t and target(ops, x0, x1, t) -> v "
        "(x0 data, x1 noise, t [B, 1, ..]).",
    ),
)

TIMES = (
    ComponentDef("time", "uniform", "t ~ U[0, 1)."),
    ComponentDef(
        "time",
        "logit_normal",
        "t = sigmoid(mean + std n).",
        (parameter("mean", "float", -0.4, "location"), parameter("std", "float", 1.0, "scale", ">0")),
    ),
    ComponentDef(
        "time",
        "mean_flow",
        "(t, r) = (max, min) of two logit-normal draws; r = t for a fraction.",
        (
            parameter("mean", "float", -0.4, "location"),
            parameter("std", "float", 1.0, "scale", ">0"),
            parameter("data_proportion", "float", 0.5, "fraction of rows with r = t", "[0,1]"),
        ),
    ),
    graph_component(
        "time",
        "A parameter-free block of the spec without tensor inputs: block(hyperparameters...) -> f32[B] "
        "(or f32[B, 1]), drawn with the random primitives uniform, normal, beta and logit_normal (flow_matching).",
        "no tensor inputs, one output f32[B] or f32[B, 1]",
        "{ alpha = 2.0, beta = 5.0 }",
    ),
    python_component(
        "time",
        "A class of the user's: sample(rng, size) -> t [B] in [0, 1], drawn with numpy on the host (flow_matching).",
    ),
)

_STEPS = parameter("steps", "int", 50, "integration steps from t = 1 to t = 0", ">=1")
_GUIDANCE_SCALE = parameter("cfg_scale", "float", 1.0, "guidance: v = (1 - s) v_uncond + s v_cond", ">=0")
SAMPLERS = (
    ComponentDef("sampler", "euler", "Euler steps over t_k = 1 - k / steps.", (_STEPS, _GUIDANCE_SCALE)),
    ComponentDef("sampler", "heun", "Heun (2nd order) steps.", (_STEPS, _GUIDANCE_SCALE)),
    ComponentDef("sampler", "rk4", "Classical Runge-Kutta steps.", (_STEPS, _GUIDANCE_SCALE)),
    ComponentDef("sampler", "one_step", "x_0 = x_1 - u(x_1, t = 1, r = 0) (mean-flow models).", (_GUIDANCE_SCALE,)),
)
