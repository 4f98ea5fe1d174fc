"""Every accepted key has an effect, or a positioned refusal.

For every parameter of every registry component, a spec using the component is compiled for
each backend twice: with the parameter at its default and at a valid non-default value. The
parameter passes on a backend when the two scripts differ (beyond the header docstring, the
embedded resolved spec, the spec hash and the provenance comments) or when the checker refuses
the non-default value with a positioned E08xx diagnostic (a backend table's refusal).

Render only (no training); each (spec, overrides, backend) is rendered once.
"""

from __future__ import annotations

import functools
import re

import pytest

from specc.compiler.backends import BACKEND_NAMES
from specc.compiler.vocabulary import registry
from tests.checker.helpers import DIGITS, FLOW, edit, run

# ----------------------------------------------------------------------------- host specs


def _edits(text: str, *pairs) -> str:
    for old, new in pairs:
        text = edit(text, old, new)
    return text


REGRESSION = """\
spec regression_small

data synthetic_regression {
  num_features = 8
  sizes = [64, 16, 16]
  batch_size = 8
}

model net(x: f32[B, 8]) -> f32[B, 1] {
  return linear(relu(linear(x, 16)), 1)
}

objective regression {
  model = net
  target = data.y
}

optimizer adam { lr = 1e-3 }

train {
  max_steps = 20
}
"""

AUDIO = """\
spec audio_small

data synthetic_audio {
  sizes = [32, 8, 8]
  length = 64
  batch_size = 4
}

model net(audio: f32[B, 64]) -> f32[B, 4] {
  return linear(relu(linear(audio, 16)), 4)
}

objective classification {
  model = net
  target = data.label
}

optimizer adam { lr = 1e-3 }

train {
  max_steps = 20
}
"""

LANGUAGE = """\
spec tokens_small

data synthetic_tokens {
  sequence_length = 16
  sizes = [32, 8, 8]
  batch_size = 4
}

model lm(tokens: i64[B, T]) -> f32[B, T, 64] {
  return linear(embedding(tokens, 64, 16), 64)
}

objective language_model {
  model = lm
  target = data.tokens
}

optimizer adam { lr = 1e-3 }

train {
  max_steps = 20
}
"""

GAN = """\
spec gan_small

data synthetic_audio {
  sizes = [32, 8, 8]
  length = 64
  batch_size = 4
}

block vae(x: [B, 64]) -> ([B, 64], list) {
  h = tanh(linear(x, 32))
  mean = linear(h, 8)
  logvar = linear(h, 8)
  return linear(mean, 64), [mean, logvar]
}

block critic(x: [B, 64]) -> (list, list) {
  h = gelu(linear(x, 32))
  return [linear(h, 1)], [h]
}

model generator_net = vae()
model discriminator_net = critic()

objective adversarial {
  generator = generator_net
  discriminator = discriminator_net
  target = data.audio
}

optimizer generator: adam { lr = 1e-4 }
optimizer discriminator: adam { lr = 1e-4 }

train {
  max_steps = 10
}
"""

# objective vae: GAN's generator trained alone (one model, one unnamed optimizer)
VAE = _edits(
    GAN,
    ("block critic(x: [B, 64]) -> (list, list) {\n  h = gelu(linear(x, 32))\n  return [linear(h, 1)], [h]\n}\n\n", ""),
    ("model discriminator_net = critic()\n", ""),
    ("objective adversarial {\n  generator = generator_net\n  discriminator = discriminator_net\n",
     "objective vae {\n  model = generator_net\n"),
    ("optimizer generator: adam { lr = 1e-4 }\noptimizer discriminator: adam { lr = 1e-4 }\n", "optimizer adam { lr = 1e-4 }\n"),
)

MEAN_FLOW = _edits(
    FLOW,
    ("t: f32[B], signal", "t: f32[B], h: f32[B], signal"),
    ("objective flow_matching", "objective mean_flow"),
)
IMPROVED_MEAN_FLOW = edit(MEAN_FLOW, "objective mean_flow", "objective improved_mean_flow")
FILE_DATA = 'data {kind} {{\n  path = "data.{kind}"\n  fields = {{ x = "f32[64]", y = "i64[]" }}'

HOSTS = {
    "digits": DIGITS,
    "flow": FLOW,
    "regression": REGRESSION,
    "audio": AUDIO,
    "wav": edit(AUDIO, "data synthetic_audio {\n  sizes = [32, 8, 8]\n", 'data wav_folder {\n  path = "audio/"\n'),
    "language": LANGUAGE,
    "stream": edit(LANGUAGE, "data synthetic_tokens {\n  sequence_length = 16\n  sizes = [32, 8, 8]\n",
                   'data token_stream {\n  path = "tokens/"\n  block_size = 16\n'),
    "gan": GAN,
    "vae": VAE,
    "mean_flow": MEAN_FLOW,
    "improved_mean_flow": IMPROVED_MEAN_FLOW,
    "npz": edit(DIGITS, "data digits {", FILE_DATA.format(kind="npz")),
    "npy": edit(DIGITS, "data digits {", FILE_DATA.format(kind="npy")),
    "hdf5": edit(DIGITS, "data digits {", FILE_DATA.format(kind="hdf5")),
    "user_data": edit(
        DIGITS, "data digits {", 'data python {\n  file = "user.py"\n  name = "Points"\n  fields = { x = "f32[64]", y = "i64[]" }'
    ),
    # log_spectral_distance: the host of data.render (the ksin source renders itself without it)
    "lsd": edit(FLOW, "metrics = [chamfer(params_per_token = 2)]", "metrics = [log_spectral_distance]"),
}

# the host of each section component (the spec already uses it: its parameters are --set)
DATA_HOSTS = {
    "ksin": "flow",
    "digits": "digits",
    "synthetic_regression": "regression",
    "npz": "npz",
    "npy": "npy",
    "hdf5": "hdf5",
    "synthetic_audio": "audio",
    "wav_folder": "wav",
    "synthetic_tokens": "language",
    "token_stream": "stream",
    "python": "user_data",
}
OBJECTIVE_HOSTS = {
    "classification": "digits",
    "regression": "regression",
    "flow_matching": "flow",
    "mean_flow": "mean_flow",
    "improved_mean_flow": "improved_mean_flow",
    "language_model": "language",
    "adversarial": "gan",
    "vae": "vae",
}
# nested components: (host, the key whose value is set, how the component is written there)
NESTED = {
    "loss": {
        "cross_entropy": ("digits", "objective.loss", "{call}"),
        "expected_codebook": ("language", "objective.loss", "cross_entropy + {call}"),
        "expected_scalar": ("language", "objective.loss", "cross_entropy + {call}"),
        "multi_resolution_stft": ("gan", "objective.loss", "l1 + {call}"),
        "python": ("regression", "objective.loss", "{call}"),
    },
    "path": {"linear": ("flow", "objective.path", "{call}"), "python": ("flow", "objective.path", "{call}")},
    "time": {
        "logit_normal": ("flow", "objective.time", "{call}"),
        "python": ("flow", "objective.time", "{call}"),
        "mean_flow": ("mean_flow", "objective.time", "{call}"),
    },
    "sampler": {
        "euler": ("flow", "eval.sampler", "{call}"),
        "heun": ("flow", "eval.sampler", "{call}"),
        "rk4": ("flow", "eval.sampler", "{call}"),
        "one_step": ("mean_flow", "eval.sampler", "{call}"),
    },
    "metric": {name: ("flow", "eval.metrics", "[{call}]") for name in registry.components("metric")},
    "logger": {name: ("digits", "train.loggers", "[csv, {call}]") for name in registry.components("logger")},
    "transform": {name: ("digits", "data.transforms", "[{call}]") for name in registry.components("transform")},
    "callback": {name: ("digits", "train.callbacks", "[{call}]") for name in registry.components("callback")},
    "penalty": {"l2": ("digits", "train.penalties", "[{call}]")},
    "renderer": {name: ("lsd", "data.render", "{call}") for name in registry.components("renderer")},
}
SECTION_SCHEDULE = "optimizer adam { lr = 1e-3 }"

# Parameters no spec can give another value without being another spec: they name a model or
# a data field of the spec (their effect is the binding itself, pinned by the E07xx tests), or
# belong to a component no objective takes.
NOT_EXERCISABLE = {
    ("objective", "*", "model"): "names the spec's model: another value is another model (E0701 tests)",
    ("objective", "*", "target"): "names a data field: another value is another target (E0705 tests)",
    ("objective", "*", "inputs"): "binds model inputs to data fields (E0709, E0703 tests)",
    ("objective", "adversarial", "generator"): "names the spec's generator model",
    ("objective", "adversarial", "discriminator"): "names the spec's discriminator model",
    ("loss", "weighted_l2", "*"): "no objective takes a weighted_l2 term (E0714); the flows' `weighted` uses it",
    ("objective", "classification", "loss"): "the objective takes one loss, cross_entropy (E0714, E0715)",
    ("objective", "regression", "loss"): "the objective takes one loss, mse (E0714, E0715)",
}
# Enum parameters with one choice have no other value to give (listed, as a check).
SINGLE_CHOICE = {("loss", "expected_scalar", "modality")}

# non-default values a type rule cannot guess (spec expressions)
VALUES = {
    **{(kind, "python", "file"): '"other.py"' for kind in ("path", "time", "loss", "callback", "renderer")},
    **{("objective", flow, "loss"): 'python("user.py", "loss")' for flow in ("flow_matching", "mean_flow", "improved_mean_flow")},
    ("logger", "wandb", "config"): "{ lr = 1e-4, batch_size = 32 }",
    ("logger", "wandb", "name"): '"experiment-1"',
    ("logger", "mlflow", "run_name"): '"run-1"',
    ("logger", "tensorboard", "log_dir"): '"tb_logs"',
    ("logger", "tensorboard", "name"): '"experiment-1"',
    ("path", "python", "name"): '"Other"',
    ("time", "python", "name"): '"Other"',
    ("loss", "python", "name"): '"other"',
    ("callback", "python", "name"): '"OtherHooks"',
    ("renderer", "python", "name"): '"other_render"',
    **{(kind, "python", "arguments"): "{ scale = 2.0 }" for kind in ("path", "time", "loss", "callback", "renderer")},
    ("data", "python", "file"): '"other.py"',
    ("data", "python", "name"): '"Others"',
    ("data", "python", "arguments"): "{ scale = 2.0 }",
    ("data", "ksin", "k"): "3",
    ("data", "ksin", "sizes"): "[64, 8, 8]",
    ("data", "ksin", "signal_length"): "32",
    ("data", "ksin", "split_seeds"): "[1, 2, 3]",
    ("data", "synthetic_regression", "num_features"): "4",
    ("data", "synthetic_regression", "num_outputs"): "1",
    ("data", "synthetic_audio", "length"): "32",
    ("data", "synthetic_audio", "channels"): "1",
    ("data", "synthetic_audio", "num_classes"): "6",
    ("data", "wav_folder", "length"): "32",
    ("data", "wav_folder", "channels"): "1",
    ("data", "synthetic_tokens", "sequence_length"): "24",
    ("data", "synthetic_tokens", "codebooks"): '"codebooks.npz"',
    ("data", "token_stream", "path"): '"other/"',
    ("data", "token_stream", "block_size"): "24",
    ("data", "token_stream", "vocab_size"): "64",
    ("data", "token_stream", "meta"): '"tokens/meta.json"',
    ("data", "npz", "path"): '"other.npz"',
    ("data", "npy", "path"): '"other.npy"',
    ("data", "hdf5", "path"): '"other.hdf5"',
    ("data", "wav_folder", "path"): '"other/"',
    ("loss", "cross_entropy", "ignore_index"): "0",
    ("objective", "flow_matching", "path"): "uniform",
    ("objective", "flow_matching", "time"): "logit_normal",
    ("objective", "mean_flow", "path"): "linear",
    ("objective", "mean_flow", "time"): "mean_flow(std = 0.5)",
    ("objective", "improved_mean_flow", "path"): "uniform",
    ("objective", "improved_mean_flow", "time"): "mean_flow(std = 0.5)",
    ("objective", "language_model", "loss"): "cross_entropy + expected_scalar",
    ("objective", "adversarial", "loss"): "mse",
    ("objective", "vae", "loss"): "mse",
    ("loss", "expected_codebook", "codebook"): '"codebook.npy"',
    ("loss", "expected_codebook", "modality"): "spectrum",
    ("loss", "expected_scalar", "centers"): '"centers.npy"',
    ("loss", "multi_resolution_stft", "n_ffts"): "[32, 16]",
    ("schedule", "warmup_cosine", "warmup"): "5",
    ("schedule", "warmup_cosine", "total"): "15",
    ("schedule", "warmup_linear", "warmup"): "5",
    ("schedule", "warmup_linear", "total"): "15",
    ("metric", "chamfer", "params_per_token"): "1",
    ("metric", "linear_assignment", "params_per_token"): "1",
    ("transform", "normalize", "field"): '"x"',
    ("transform", "clip", "field"): '"x"',
    ("transform", "scale", "field"): '"x"',
    ("transform", "random_gain", "field"): '"x"',
    ("transform", "time_shift", "field"): '"x"',
    ("transform", "gaussian_noise", "field"): '"x"',
    ("penalty", "l2", "prefix"): '"linear_1"',
}
# values of required parameters in the baseline (and of the others' requirements)
# the user code python(...) components name (rendered only, never run): user.py and other.py
_USER_CODE = """\
class Path:
    def __init__(self, scale=1.0):
        self.scale = scale

    def interpolate(self, ops, x0, x1, t):
        return (1 - t) * x0 + t * x1

    def target(self, ops, x0, x1, t):
        return x1 - x0


class Other(Path):
    def sample(self, rng, size):
        return rng.random(size)


class Time:
    def __init__(self, scale=1.0):
        self.scale = scale

    def sample(self, rng, size):
        return rng.random(size)


def loss(ops, prediction, target, scale=1.0):
    return scale * ops.mean(ops.abs(prediction - target))


def other(ops, prediction, target, scale=1.0):
    return ops.mean(ops.abs(prediction - target))


class Hooks:
    def __init__(self, scale=1.0):
        self.scale = scale

    def on_step_end(self, step, values):
        return None


class OtherHooks(Hooks):
    pass


def render(params, scale=1.0):
    return scale * params


def other_render(params, scale=1.0):
    return params
"""
_USER_DATA = """\


class Points:
    def __init__(self, split, scale=1.0):
        self.split, self.scale = split, scale

    def __len__(self):
        return 64

    def __getitem__(self, index):
        return {"x": [0.0] * 64, "y": 0}


class Others(Points):
    pass
"""
USER_FILES = {"user.py": _USER_CODE + _USER_DATA, "other.py": _USER_CODE + _USER_DATA}

REQUIRED_VALUES = {
    ("data", "python", "file"): '"user.py"',
    ("data", "python", "name"): '"Points"',
    ("path", "python", "file"): '"user.py"',
    ("path", "python", "name"): '"Path"',
    ("time", "python", "file"): '"user.py"',
    ("time", "python", "name"): '"Time"',
    ("loss", "python", "file"): '"user.py"',
    ("loss", "python", "name"): '"loss"',
    ("callback", "python", "file"): '"user.py"',
    ("callback", "python", "name"): '"Hooks"',
    ("renderer", "python", "file"): '"user.py"',
    ("renderer", "python", "name"): '"render"',
    ("data", "token_stream", "path"): '"tokens/"',
    ("data", "token_stream", "block_size"): "16",
    ("schedule", "step", "step_size"): "5",
    ("schedule", "exponential", "decay_rate"): "0.9",
    ("metric", "chamfer", "params_per_token"): "2",
    ("metric", "linear_assignment", "params_per_token"): "2",
    ("penalty", "l2", "prefix"): '"linear_0"',
    ("penalty", "l2", "weight"): "0.1",
}


def _pair(host: str, edits=(), base_overrides=(), overrides=()):
    """(baseline, variant) of a parameter whose other value needs the model edited too."""
    return (HOSTS[host], tuple(base_overrides)), (_edits(HOSTS[host], *edits), tuple(overrides))


_FIELDS = '{ x = "f32[64]", y = "i64[]" }'
_MORE_FIELDS = '{ x = "f32[64]", y = "i64[]", w = "f32[3]" }'
def _term_pair(term: str, base: str, changed: str):
    """A language-model loss term written with ``base`` and then ``changed`` arguments."""
    line = "objective.loss=cross_entropy + 0.1 * {term}({arguments})"
    return (
        (HOSTS["language"], (line.format(term=term, arguments=base),)),
        (HOSTS["language"], (line.format(term=term, arguments=changed),)),
    )


# two losses written in the graph language (`graph("name")`), on the regression host
_GRAPH_BLOCKS = (
    "block l1(p: f32[B, D], q: f32[B, D], scale: float = 1.0) -> f32[] {\n  return scale * mean(abs(p - q), axis = [0, 1])\n}\n\n"
    "block other(p: f32[B, D], q: f32[B, D], scale: float = 1.0) -> f32[] {\n  return mean(abs(p - q), axis = [0, 1]) / scale\n}\n\n"
)


def _graph_loss(call: str):
    text = _edits(REGRESSION, ("objective regression {", _GRAPH_BLOCKS + "objective regression {"),
                  ("target = data.y", f"target = data.y\n  loss = {call}"))
    return text, ()


# two paths written in the graph language (`graph("name")`), on the flow host
_GRAPH_PATHS = (
    "block mix(x0: f32[B, D], x1: f32[B, D], t: f32[B, 1], rate: float = 1.0) -> (f32[B, D], f32[B, D]) {\n"
    "  return (1.0 - t) * x0 + rate * t * x1, rate * x1 - x0\n}\n\n"
    "block swap(x0: f32[B, D], x1: f32[B, D], t: f32[B, 1], rate: float = 1.0) -> (f32[B, D], f32[B, D]) {\n"
    "  return t * x0 + (1.0 - t) * x1, x0 - x1\n}\n\n"
)


def _graph_path(call: str):
    text = _edits(FLOW, ("objective flow_matching {", _GRAPH_PATHS + "objective flow_matching {"),
                  ("target = data.params", f"target = data.params\n  path = {call}"))
    return text, ()


# two time samplers written in the graph language (`time = graph("name")`), on the flow host
_GRAPH_TIMES = (
    "block early(rate: float = 2.0) -> f32[B] {\n  return beta([B], 1.0, rate)\n}\n\n"
    "block late(rate: float = 2.0) -> f32[B] {\n  return beta([B], rate, 1.0)\n}\n\n"
)


def _graph_time(call: str):
    text = _edits(FLOW, ("objective flow_matching {", _GRAPH_TIMES + "objective flow_matching {"),
                  ("target = data.params", f"target = data.params\n  time = {call}"))
    return text, ()


# a regression spec with two metrics written in the graph language (graph("block") metrics)
_GRAPH_METRICS = (
    REGRESSION
    + """
block rmse(prediction: f32[B, D], target: f32[B, D], scale: float = 1.0) -> f32[] {
  difference = prediction - target
  return scale * sqrt(mean(difference * difference, axis = [0, 1]))
}

block mean_error(prediction: f32[B, D], target: f32[B, D]) -> f32[] {
  return mean(abs(prediction - target), axis = [0, 1])
}

eval { metrics = [mae] }
"""
)


def _metric_pair(base: str, changed: str):
    return ((_GRAPH_METRICS, (f"eval.metrics=[{base}]",)), (_GRAPH_METRICS, (f"eval.metrics=[{changed}]",)))


SPECIAL = {
    # the stored target signals instead of the rendered targets: a float field of the data (E0564)
    **{
        ("renderer", kind, "signal_field"): (
            (HOSTS["lsd"], (f"data.render={call}",)),
            (HOSTS["lsd"], (f"data.render={call[:-1]}, signal_field = \"signal\")",)),
        )
        for kind, call in (("ksin", "ksin(signal_length = 16)"), ("python", 'python("user.py", "render")'))
    },
    ("metric", "graph", "name"): _metric_pair('graph("rmse")', 'graph("mean_error")'),
    ("metric", "graph", "arguments"): _metric_pair('graph("rmse")', 'graph("rmse", arguments = { scale = 2.0 })'),
    ("path", "graph", "name"): (_graph_path('graph("mix")'), _graph_path('graph("swap")')),
    ("time", "graph", "name"): (_graph_time('graph("early")'), _graph_time('graph("late")')),
    ("time", "graph", "arguments"): (_graph_time('graph("early")'), _graph_time('graph("early", arguments = { rate = 3.0 })')),
    ("path", "graph", "arguments"): (_graph_path('graph("mix")'), _graph_path('graph("mix", arguments = { rate = 2.0 })')),
    ("loss", "graph", "name"): (_graph_loss('graph("l1")'), _graph_loss('graph("other")')),
    ("loss", "graph", "arguments"): (_graph_loss('graph("l1")'), _graph_loss('graph("l1", arguments = { scale = 2.0 })')),
    # a codebook file's array key; a pickle is loaded only when trusted (E0540 without it, so
    # the trusted variant names a .joblib and the baseline an .npz)
    **{
        ("loss", kind, "key"): _term_pair(kind, f'{array} = "cb.npz"', f'{array} = "cb.npz", key = "centroids"')
        for kind, array in (("expected_codebook", "codebook"), ("expected_scalar", "centers"))
    },
    **{
        ("loss", kind, "trusted"): _term_pair(kind, f'{array} = "cb.npz"', f'{array} = "cb.joblib", trusted = true')
        for kind, array in (("expected_codebook", "codebook"), ("expected_scalar", "centers"))
    },
    ("data", "ksin", "k"): _pair("flow", (), ("k=2",), ("k=3",)),
    ("data", "ksin", "signal_length"): _pair(
        "flow", [("signal_length = 16", "signal_length = 32"), ("signal: f32[B, 16]", "signal: f32[B, 32]")]
    ),
    ("data", "synthetic_regression", "num_features"): _pair(
        "regression", [("num_features = 8", "num_features = 4"), ("x: f32[B, 8]", "x: f32[B, 4]")]
    ),
    ("data", "synthetic_regression", "num_outputs"): _pair(
        "regression", [("f32[B, 1]", "f32[B, 2]"), ("16)), 1)", "16)), 2)")], (), ("data.num_outputs=2",)
    ),
    ("data", "synthetic_audio", "length"): _pair(
        "audio", [("length = 64", "length = 32"), ("audio: f32[B, 64]", "audio: f32[B, 32]")]
    ),
    ("data", "synthetic_audio", "num_classes"): _pair(
        "audio", [("-> f32[B, 4]", "-> f32[B, 6]"), ("16)), 4)", "16)), 6)")], (), ("data.num_classes=6",)
    ),
    ("data", "synthetic_audio", "channels"): _pair(
        "audio",
        [("audio: f32[B, 64])", "audio: f32[B, 64, 2])"), ("linear(relu(linear(audio, 16)), 4)", "linear(flatten(audio), 4)")],
        (),
        ("data.channels=2",),
    ),
    ("data", "wav_folder", "length"): _pair(
        "wav", [("length = 64", "length = 32"), ("audio: f32[B, 64]", "audio: f32[B, 32]")]
    ),
    ("data", "wav_folder", "channels"): _pair(
        "wav",
        [("audio: f32[B, 64])", "audio: f32[B, 64, 2])"), ("linear(relu(linear(audio, 16)), 4)", "linear(flatten(audio), 4)")],
        (),
        ("data.channels=2",),
    ),
    **{
        ("data", kind, "fields"): _pair(kind, [(_FIELDS, _MORE_FIELDS)])
        for kind in ("npz", "npy", "hdf5")
    },
    ("data", "python", "fields"): _pair("user_data", [(_FIELDS, _MORE_FIELDS)]),
    # the seed orders the split of one pool: without a fraction it has no effect (E0536)
    ("data", "python", "seed"): _pair("user_data", (), ("data.val_fraction=0.2",), ("data.val_fraction=0.2", "data.seed=3")),
    **{
        ("data", kind, "path"): _pair(kind, (), (), (f'data.path="other.{kind}"',))
        for kind in ("npz", "npy", "hdf5")
    },
    ("data", "wav_folder", "path"): _pair("wav", (), (), ('data.path="other/"',)),
    # weight_decay_on chooses what a weight decay applies to: exercised with one set (E0528 without)
    **{
        ("optimizer", kind, "weight_decay_on"): tuple(
            (edit(DIGITS, SECTION_SCHEDULE, f"optimizer {kind} {{ lr = 1e-3 }}"), ("optimizer.weight_decay=0.1", f"optimizer.weight_decay_on={on}"))
            for on in ("all", "matrices")
        )
        for kind in ("adam", "sgd", "lion")
    },
    # saved statistics describe one field (E0561 without it): the baseline names the field too
    ("transform", "normalize", "statistics"): (
        (HOSTS["digits"], ('data.transforms=[normalize(field = "x")]',)),
        (HOSTS["digits"], ('data.transforms=[normalize(field = "x", statistics = "stats.npz")]',)),
    ),
    ("objective", "adversarial", "use_adversarial"): _pair(
        "gan",
        [
            ("  discriminator = discriminator_net\n", "  use_adversarial = false\n"),
            ("optimizer discriminator: adam { lr = 1e-4 }\n", ""),
        ],
    ),
}


def spec_value(value, type_: str = "") -> str:
    """A Python default as spec text."""
    if isinstance(value, str) and type_.rstrip("?") == "str":
        return f'"{value}"'
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if type_ == "arguments":  # keyword arguments of user code: a mapping
        return "{" + ", ".join(f"{key} = {spec_value(item)}" for key, item in dict(value).items()) + "}"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(spec_value(item) for item in value) + "]"
    return repr(value)


def other_value(kind: str, name: str, parameter) -> str:
    """A valid value other than the default (spec text)."""
    key = (kind, name, parameter.name)
    if key in VALUES:
        return VALUES[key]
    if parameter.choices:
        return next(choice for choice in parameter.choices if choice != parameter.default)
    base = parameter.type.rstrip("?")
    default = parameter.default
    bounds = registry.parse_range(parameter.range)
    if base == "bool":
        return spec_value(not default)
    if base == "int":
        number = 2 if default is None or parameter.required else default + 1
        if bounds.maximum is not None and not bounds.contains(number):
            number = default - 1
        return str(number)
    if base == "float":
        for number in ([0.5] if default is None or parameter.required else [default * 0.5, default + 0.05, 0.5]):
            if number != default and bounds.contains(number):
                return repr(number)
    if base == "str":
        return '"other"'
    if base == "pair[float]":
        return "[0.8, 0.95]"
    if base == "list[int]":
        return "[48, 8, 8]"
    raise AssertionError(f"no non-default value for {key}: add one to VALUES")


def default_value(kind: str, name: str, parameter) -> str:
    if parameter.required:
        return REQUIRED_VALUES[(kind, name, parameter.name)]
    return spec_value(parameter.default, parameter.type)


def call(kind: str, name: str, arguments: dict) -> str:
    component = registry.lookup(kind, name)
    written = {p.name: REQUIRED_VALUES[(kind, name, p.name)] for p in component.params if p.required}
    written.update(arguments)
    if not written:
        return name
    return f"{name}(" + ", ".join(f"{key} = {value}" for key, value in written.items()) + ")"


def variant(kind: str, name: str, parameter: str, value: str) -> tuple[str, tuple[str, ...]]:
    """(spec text, overrides) using component ``name`` with ``parameter = value``."""
    if kind in ("data", "objective"):
        host = (DATA_HOSTS if kind == "data" else OBJECTIVE_HOSTS)[name]
        return HOSTS[host], (f"{kind}.{parameter}={value}",)
    if kind == "optimizer":
        text = edit(DIGITS, SECTION_SCHEDULE, f"optimizer {name} {{ lr = 1e-3 }}")
        return text, (f"optimizer.{parameter}={value}",)
    if kind == "schedule":
        required = {p.name: REQUIRED_VALUES[(kind, name, p.name)] for p in registry.lookup(kind, name).params if p.required}
        body = ", ".join(f"{key} = {text}" for key, text in required.items())
        text = edit(DIGITS, SECTION_SCHEDULE, f"{SECTION_SCHEDULE}\nschedule {name} {{ {body} }}")
        return text, (f"schedule.{parameter}={value}",)
    host, key, form = NESTED[kind][name]
    return HOSTS[host], (f"{key}={form.format(call=call(kind, name, {parameter: value}))}",)


def exercised():
    """(kind, component, parameter) of every registry parameter, but the NOT_EXERCISABLE ones."""
    for kind in registry.COMPONENT_KINDS:
        for name, component in registry.components(kind).items():
            for parameter in component.params:
                if any(
                    (k, n, p) == (kind, name if n != "*" else "*", parameter.name if p != "*" else "*")
                    for (k, n, p) in NOT_EXERCISABLE
                ):
                    continue
                if parameter.choices and set(parameter.choices) <= {parameter.default}:
                    continue  # a single choice: there is no other valid value (SINGLE_CHOICE)
                yield kind, name, parameter


def pair(kind: str, name: str, parameter):
    """((text, overrides) of the baseline, (text, overrides) with a non-default value)."""
    special = SPECIAL.get((kind, name, parameter.name))
    if special is not None:
        return special
    baseline = variant(kind, name, parameter.name, default_value(kind, name, parameter))
    return baseline, variant(kind, name, parameter.name, other_value(kind, name, parameter))


def variants():
    """Every (label, spec text, overrides) the effect tests compile (baseline and variant)."""
    for kind, name, parameter in exercised():
        baseline, changed = pair(kind, name, parameter)
        yield f"{kind}.{name}.{parameter.name}:default", *baseline
        yield f"{kind}.{name}.{parameter.name}:changed", *changed
    yield from section_variants()


# ----------------------------------------------------------------------------- scripts

_HEADER = re.compile(r'\A\s*(?:#![^\n]*\n)?(?:"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\')\n')
_EMBEDDED = re.compile(r"^(RESOLVED_SPEC|SPEC_HASH)\s*=\s*(?:\(\n[\s\S]*?^\)|[^\n]*)$", re.MULTILINE)
_COMMENT = re.compile(r"[ \t]+#[^\n\"']*$", re.MULTILINE)


def normalized(script: str, spec_hash: str) -> str:
    """The script without what every spec edit changes: the header docstring, the embedded
    resolved spec and hash, and the provenance comments."""
    script = _HEADER.sub("", script, count=1)
    script = _EMBEDDED.sub("", script)
    script = script.replace(spec_hash, "<hash>")
    return _COMMENT.sub("", script)


pytestmark = pytest.mark.slow  # a few hundred renders: about two minutes of one core


@functools.lru_cache(maxsize=None)
def compiled(text: str, overrides: tuple[str, ...], backend: str):
    """(script or None, error codes and rendered diagnostics) of one compile, as the CLI does."""
    from specc.compiler.emit.render import render
    from tests.checker.helpers import rendered

    result = run(text, overrides, backend, USER_FILES)
    if result.program is None:
        return None, tuple((d.code, d.span) for d in result.errors), tuple(rendered(result))
    return normalized(render(result.program, backend), result.program.spec_hash), (), ()


CASES = [
    pytest.param(kind, name, parameter.name, backend, id=f"{kind}.{name}.{parameter.name}-{backend}")
    for kind, name, parameter in exercised()
    for backend in BACKEND_NAMES
]


def test_not_exercisable_parameters_are_few():
    assert len(NOT_EXERCISABLE) <= 8
    single = {
        (kind, name, parameter.name)
        for kind in registry.COMPONENT_KINDS
        for name, component in registry.components(kind).items()
        for parameter in component.params
        if parameter.choices and set(parameter.choices) <= {parameter.default}
    }
    assert single == SINGLE_CHOICE


@pytest.mark.parametrize(("kind", "name", "parameter", "backend"), CASES)
def test_parameter_has_an_effect_or_a_refusal(kind, name, parameter, backend):
    (base_text, base_overrides), (text, overrides) = pair(kind, name, registry.lookup(kind, name).param(parameter))
    baseline, base_errors, base_rendered = compiled(base_text, base_overrides, backend)
    assert baseline is not None, "the baseline spec must compile:\n" + "\n".join(base_rendered)
    script, errors, messages = compiled(text, overrides, backend)
    if script is None:
        refusals = [(code, span) for code, span in errors if code.startswith("E08") and span.line > 0]
        assert refusals and len(refusals) == len(errors), "refused, but not by a backend:\n" + "\n".join(messages)
        return
    assert script != baseline, f"`{parameter}` of {kind} `{name}` has no effect on backend `{backend}`"


# ----------------------------------------------------------------------------- section keys

TRAIN_HOST = edit(
    DIGITS,
    '  checkpoint { every = 10, keep = 2, monitor = "val/accuracy", mode = max }\n',
    '  checkpoint { every = 10, keep = 2, monitor = "val/accuracy", mode = max }\n'
    '  early_stopping { monitor = "val/loss" }\n',
)
CHECKPOINT_LINE = 'checkpoint { every = 10, keep = 2, monitor = "val/accuracy", mode = max }'
SECTION_PATHS = {
    "data": "data",
    "train": "train",
    "checkpoint": "train.checkpoint",
    "early_stopping": "train.early_stopping",
    "eval": "eval",
    "optimizer": "optimizer",
}
SECTION_HOSTS = {"eval": FLOW}
# keys that name the spec's models
SECTION_NOT_EXERCISABLE = {("optimizer", "models"): "names the spec's models (E0512 tests)"}
SECTION_VALUES = {
    ("data", "batch_size"): ("16", "8"),
    ("train", "max_steps"): ("20", "30"),
    ("train", "eval_every"): ("10", "5"),
    ("train", "freeze"): ("[]", '["linear_0"]'),
    ("train", "penalties"): ("[]", '[l2(prefix = "linear_0", weight = 0.1)]'),
    ("train", "metrics"): ("[]", "[accuracy]"),
    ("train", "warm_start"): ("none", '"runs/other"'),
    ("train", "loggers"): ("[csv]", "[csv, tensorboard]"),
    ("train", "callbacks"): ("[progress_bar, lr_monitor, grad_norm_monitor]", "[progress_bar]"),
    ("data", "transforms"): ("[]", "[normalize]"),
    ("checkpoint", "monitor"): ('"val/accuracy"', '"val/loss"'),
    ("checkpoint", "filename"): ("none", '"{step}"'),
    ("early_stopping", "monitor"): ('"val/loss"', '"val/accuracy"'),
    ("eval", "sampler"): ("euler(steps = 4)", "heun(steps = 4)"),
    ("eval", "test_sampler"): ("none", "rk4(steps = 8)"),
    ("eval", "metrics"): ("[chamfer(params_per_token = 2)]", "[chamfer(params_per_token = 2), linear_assignment(params_per_token = 2)]"),
}
# the MLP's hidden layer as two passes of a residual block: a `repeat` for train.remat
REPEATED_HOST = _edits(
    TRAIN_HOST,
    ("model mlp(", "block residual(x: [B, D]) -> [B, D] {\n  return x + relu(linear(x, D))\n}\n\nmodel mlp("),
    ("return linear(relu(linear(x, hidden)), 10)", "h = linear(x, hidden)\n  repeat 2 {\n    h = residual(h)\n  }\n  return linear(h, 10)"),
)
SECTION_SPECIAL = {
    # remat checkpoints the passes of a repeat (E0585 without one)
    ("train", "remat"): ((REPEATED_HOST, ("train.remat=false",)), (REPEATED_HOST, ("train.remat=true",))),
    # grad_clip_mode says how `grad_clip` clips: exercised with a threshold set
    ("train", "grad_clip_mode"): (
        (TRAIN_HOST, ("train.grad_clip=1.0", "train.grad_clip_mode=norm")),
        (TRAIN_HOST, ("train.grad_clip=1.0", "train.grad_clip_mode=value")),
    ),
    ("data", "coupling"): ((FLOW, ("data.coupling=none",)), (FLOW, ("data.coupling=ot",))),
    # a file of inputs for --predict (E0566 for an objective without a predict mode)
    ("data", "predict"): ((FLOW, ("data.predict=none",)), (FLOW, ('data.predict="inputs.npz"',))),
    # how parameters become signals for log_spectral_distance (E0563 without that metric)
    ("data", "render"): ((HOSTS["lsd"], ("data.render=none",)), (HOSTS["lsd"], ("data.render=ksin(signal_length = 16)",))),
    # fake data replaces a file source's files (E0560 on a generated source such as digits)
    ("data", "fake"): ((HOSTS["npz"], ("data.fake=false",)), (HOSTS["npz"], ("data.fake=true",))),
    ("train", "max_epochs"): (
        (TRAIN_HOST, ()),
        (edit(TRAIN_HOST, "  max_steps = 20\n", ""), ("train.max_epochs=2",)),
    ),
    ("train", "val_check_interval"): (
        (TRAIN_HOST, ()),
        (edit(TRAIN_HOST, "  eval_every = 10\n", ""), ("train.val_check_interval=0.5",)),
    ),
    ("checkpoint", "every_n_epochs"): (
        (TRAIN_HOST, ()),
        (edit(TRAIN_HOST, "checkpoint { every = 10, ", "checkpoint { "), ("train.checkpoint.every_n_epochs=1",)),
    ),
    # keep = all ranks nothing (a monitor beside it is E0543); enable = false stands alone (E0543)
    ("checkpoint", "keep"): (
        (edit(TRAIN_HOST, CHECKPOINT_LINE, "checkpoint { every = 10 }"), ("train.checkpoint.keep=1",)),
        (edit(TRAIN_HOST, CHECKPOINT_LINE, "checkpoint { every = 10 }"), ("train.checkpoint.keep=all",)),
    ),
    ("checkpoint", "enable"): (
        (edit(TRAIN_HOST, CHECKPOINT_LINE, "checkpoint { enable = true }"), ()),
        (edit(TRAIN_HOST, CHECKPOINT_LINE, "checkpoint { enable = false }"), ()),
    ),
}


def section_keys():
    for kind, section in registry.SECTIONS.items():
        for parameter in section.keys:
            if (kind, parameter.name) in SECTION_NOT_EXERCISABLE:
                continue
            if parameter.choices and set(parameter.choices) <= {parameter.default}:
                continue  # a key with a single choice
            yield kind, parameter


def section_pair(kind: str, parameter):
    """((text, overrides) with the default, (text, overrides) with another valid value)."""
    special = SECTION_SPECIAL.get((kind, parameter.name))
    if special is not None:
        return special
    host = SECTION_HOSTS.get(kind, TRAIN_HOST)
    key = f"{SECTION_PATHS[kind]}.{parameter.name}"
    if (kind, parameter.name) in SECTION_VALUES:
        default, other = SECTION_VALUES[(kind, parameter.name)]
    else:
        default, other = spec_value(parameter.default, parameter.type), other_value("section", kind, parameter)
    return (host, (f"{key}={default}",)), (host, (f"{key}={other}",))


def section_variants():
    for kind, parameter in section_keys():
        baseline, changed = section_pair(kind, parameter)
        yield f"{kind}.{parameter.name}:default", *baseline
        yield f"{kind}.{parameter.name}:changed", *changed


SECTION_CASES = [
    pytest.param(kind, parameter.name, backend, id=f"{kind}.{parameter.name}-{backend}")
    for kind, parameter in section_keys()
    for backend in BACKEND_NAMES
]


@pytest.mark.parametrize(("kind", "key", "backend"), SECTION_CASES)
def test_section_key_has_an_effect_or_a_refusal(kind, key, backend):
    parameter = next(p for p in registry.SECTIONS[kind].keys if p.name == key)
    (base_text, base_overrides), (text, overrides) = section_pair(kind, parameter)
    baseline, _, base_rendered = compiled(base_text, base_overrides, backend)
    assert baseline is not None, "the baseline spec must compile:\n" + "\n".join(base_rendered)
    script, errors, messages = compiled(text, overrides, backend)
    if script is None:
        refusals = [(code, span) for code, span in errors if code.startswith("E08") and span.line > 0]
        assert refusals and len(refusals) == len(errors), "refused, but not by a backend:\n" + "\n".join(messages)
        return
    assert script != baseline, f"`{kind}.{key}` has no effect on backend `{backend}`"
