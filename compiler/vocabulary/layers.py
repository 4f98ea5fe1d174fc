"""The registry of what a model graph can call: parametrised layers and unparametrised ops.

One ``Entry`` per language name. An entry holds its arguments (name, type, default, doc),
its runtime target (a class of ``specc.runtime.<backend>.layers`` for layers, a function of
``specc.runtime.<backend>.<module>`` for ops) and its *rule*:
a function of the input tensor types and the resolved argument values that returns the output
types, the runtime keyword arguments (constructor arguments for a layer: ``in_features`` is
derived from the input's last axis) and the parameters with their canonical shapes and init.
Adding a layer is adding one entry here. Which backends implement an entry is the backend
tables' fact (capability kind ``layer`` of ``specc.compiler.backends.<name>``; unlisted:
every backend): :func:`backends_of`.

Argument types (checked and converted before a rule runs, by ``graphs_lower``):
``tensor``, ``optional_tensor`` (a tensor or omitted), ``tensors`` (a list of tensors), ``int``, ``optional_int`` (int or omitted),
``ints`` (an int or a list of ints), ``float``, ``bool``, ``enum`` (one of ``choices``),
``padding`` (an int, a list of ints or ``same``), ``operand`` (a tensor or a number), ``shape`` (a list of dimensions, at most one
``-1``), ``initializer`` (a scheme of ``choices``, a word or a call with its arguments:
``initializers.Initializer``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from specc.compiler.vocabulary import initializers
from specc.compiler.vocabulary import shape_rules_signal as audio
from specc.compiler.vocabulary import shape_rules as rules
from specc.compiler.vocabulary import shape_rules_extensions as extended_rules
from specc.compiler.vocabulary import shape_rules_statistics as statistics
from specc.compiler.vocabulary.shape_rules import LayerError, Outcome, TensorInfo  # noqa: F401 (re-exported)

from specc.compiler.backends import implementing

REQUIRED = object()  # default of an argument that must be given


@dataclass(frozen=True)
class Argument:
    name: str
    type: str
    default: object = REQUIRED
    doc: str = ""
    choices: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Entry:
    """``kind``: ``layer`` (a runtime class with parameters or state, held as a sub-module)
    or ``op`` (a runtime function). ``runtime``: the class or function name; ``module``: the
    runtime module that defines it (``layers`` or ``preprocess``)."""

    name: str
    kind: str
    runtime: str
    arguments: tuple[Argument, ...]
    rule: Callable[[dict, dict], Outcome]
    doc: str
    shape: str
    parameters: str = ""
    module: str = "layers"
    returns_list: bool = False  # the op returns a list of tensors (``split``)
    # The sub-module attribute is named after the assigned value (``gamma = parameter(..)``
    # -> ``gamma_0``), so the parameter's dotted name reads like the spec.
    named_by_target: bool = False
    # A random primitive (``beta``, ``uniform``...): drawn on the host with numpy by a time
    # sampler written in the spec, and refused everywhere else (E0720).
    draws: bool = False
    # (argument, value): at that value the layer is the identity, decided at compile time: no
    # sub-module and no call (``dropout(x, 0.0)`` is ``x``), as a hand-writer leaves it out.
    identity_at: tuple[str, object] | None = None


def _input_tensor(doc: str = "input tensor") -> Argument:
    return Argument("x", "tensor", doc=doc)


_SCHEMES_DOC = ("uniform_fan_in (PyTorch's default), zeros, ones, normal(std = 1), truncated_normal(std = 1), "
                "xavier_uniform(gain = 1), xavier_normal(gain = 1), kaiming_uniform(gain = sqrt(2), mode = fan_in), "
                "kaiming_normal(gain = sqrt(2), mode = fan_in); see docs/models.md \"Initialisation\"")
_INIT = Argument("init", "initializer", extended_rules.DEFAULT_INIT,
                 "initial weight: " + _SCHEMES_DOC + "; `init = zeros` starts the layer at output 0",
                 initializers.WEIGHT_SCHEMES)
_BIAS_INIT = Argument("bias_init", "initializer", initializers.AUTO,
                      "initial bias: auto (uniform_fan_in with the default `init`, zeros otherwise), uniform_fan_in "
                      "(the weight's fan_in), zeros, ones, normal(std), truncated_normal(std)", initializers.BIAS_SCHEMES)
_CONV_COMMON = (
    Argument("stride", "ints", 1, "step of the window"),
    Argument("padding", "padding", 0, "zeros (or reflections) added on both sides; `same` keeps the length (stride 1)"),
    Argument("dilation", "ints", 1, "spacing of the kernel taps"),
    Argument("groups", "int", 1, "input and output channels split into this many groups"),
    Argument("bias", "bool", True, "add a learned bias"),
    Argument("padding_mode", "enum", "zeros", "what padding adds", ("zeros", "reflect")),
    Argument("weight_norm", "bool", False, "weight normalisation: `weight_g`, `weight_v` instead of `weight`"),
    _INIT,
    _BIAS_INIT,
)
_CONV_PARAMETERS = (
    "weight [out, in / groups, *kernel] (or weight_g [out, 1, ...] and weight_v), bias [out]; "
    "uniform_fan_in with fan_in = in / groups * prod(kernel) (or as `init` says)"
)
_NORM_AFFINE = Argument("affine", "bool", True, "learn a scale (and a bias)")


def _table_init() -> Argument:
    return Argument("init", "initializer", "normal", "initial table: normal(std = 1) (PyTorch's default) or another "
                    "scheme but uniform_fan_in, e.g. GPT-2's `normal(std = 0.02)`", initializers.TABLE_SCHEMES)


# Every layer that can hold parameters takes `trainable`: `false` keeps them at their
# (seeded) initial values, out of the optimizer on every backend (graphs/calls.py records it
# on the ir.Layer; lowering adds the layer to train.freeze). Its rule never sees it.
_TRAINABLE = Argument("trainable", "bool", True, "train this layer's own parameters; `false` keeps them at their "
                      "seeded initial values (out of the optimizer, saved in checkpoints), e.g. a fixed random "
                      "projection")


def _layer(name, runtime, arguments, rule, doc, shape, parameters, named_by_target=False, identity_at=None) -> Entry:
    arguments = tuple(arguments) + ((_TRAINABLE,) if parameters != "none" else ())
    return Entry(name, "layer", runtime, arguments, rule, doc, shape, parameters,
                 named_by_target=named_by_target, identity_at=identity_at)


def _op(name, arguments, rule, doc, shape, runtime=None, module="layers", returns_list=False) -> Entry:
    return Entry(name, "op", runtime or name, tuple(arguments), rule, doc, shape, "", module, returns_list)


_DRAW_SHAPE = Argument("shape", "shape", doc="the sizes drawn: `[B]`, `[B, 1]` (B the batch)")


def _draw(name, arguments, doc) -> Entry:
    """A random primitive of ``specc.runtime.reference.draws`` (time samplers only)."""
    return Entry(name, "op", name, (_DRAW_SHAPE, *arguments), extended_rules.draw, doc, "-> f32[shape]", "", "draws",
                 draws=True)


_LAYERS = [
    _layer("linear", "Linear", [_input_tensor(), Argument("out", "int", doc="output features"),
                                Argument("bias", "bool", True, "add a learned bias"), _INIT, _BIAS_INIT,
                                Argument("weight", "parameter", None, "another layer's weight [out, in] used instead of "
                                         "one of its own (weight tying): `weight = wte.weight`, `wte` the value a layer "
                                         "of the same model or block returned")],
           extended_rules.with_init(rules.linear), "Affine map of the last axis: `x W^T + b`.", "[..., in] -> [..., out]",
           "weight [out, in], bias [out]; uniform_fan_in with fan_in = in (or as `init` says)"),
    _layer("conv1d", "Conv1d", [_input_tensor("[B, T, C_in]"), Argument("channels", "int", doc="output channels"),
                                Argument("kernel", "int", doc="window length"), *_CONV_COMMON],
           extended_rules.with_init(rules.conv1d), "1-D convolution over the time axis (channels-last).",
           "[B, T, C_in] -> [B, (T + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1, channels]",
           _CONV_PARAMETERS),
    _layer("conv2d", "Conv2d", [_input_tensor("[B, H, W, C_in]"), Argument("channels", "int", doc="output channels"),
                                Argument("kernel", "ints", doc="window size: an int or [kh, kw]"), *_CONV_COMMON],
           extended_rules.with_init(rules.conv2d), "2-D convolution (channels-last); kernel, stride, padding, dilation may be pairs.",
           "[B, H, W, C_in] -> [B, H_out, W_out, channels], each axis as conv1d", _CONV_PARAMETERS),
    _layer("conv_transpose1d", "ConvTranspose1d",
           [_input_tensor("[B, T, C_in]"), Argument("channels", "int", doc="output channels"),
            Argument("kernel", "int", doc="window length"), Argument("stride", "int", 1, "upsampling factor"),
            Argument("padding", "int", 0, "removed from both ends"),
            Argument("output_padding", "int", 0, "added at the end (< stride or dilation)"),
            Argument("dilation", "int", 1, "spacing of the kernel taps"),
            Argument("groups", "int", 1, "channel groups"), Argument("bias", "bool", True, "add a learned bias"),
            Argument("weight_norm", "bool", False, "weight normalisation: `weight_g` [in, 1, 1], `weight_v`"),
            _INIT, _BIAS_INIT],
           extended_rules.with_init(rules.conv_transpose1d), "Transposed 1-D convolution (upsampling).",
           "[B, T, C_in] -> [B, (T - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1, channels]",
           "weight [in, out / groups, kernel] (or weight_g, weight_v), bias [out]; uniform_fan_in with fan_in = out / groups * kernel "
           "(or as `init` says)"),
    _layer("layernorm", "LayerNorm", [_input_tensor(), Argument("eps", "float", 1e-5, "added to the variance"), _NORM_AFFINE,
                                      Argument("bias", "bool", True, "learn a bias as well as the scale (when affine); "
                                               "`bias = false` is GPT-2 / nanoGPT's bias-free LayerNorm")],
           rules.layernorm, "Normalise the last axis to zero mean and unit variance.", "[..., D] -> [..., D]",
           "weight [D] (ones), bias [D] (zeros; none with `bias = false`) when affine"),
    _layer("groupnorm", "GroupNorm", [_input_tensor("[B, ..., C]"), Argument("groups", "int", doc="number of channel groups"),
                                      Argument("eps", "float", 1e-5, "added to the variance"), _NORM_AFFINE],
           rules.groupnorm, "Normalise each group of channels over the group and all non-batch axes.",
           "[B, ..., C] -> [B, ..., C] (C divisible by groups)", "weight [C] (ones), bias [C] (zeros) when affine"),
    _layer("rmsnorm", "RMSNorm", [_input_tensor(), Argument("eps", "float", 1e-6, "added to the mean square"), _NORM_AFFINE],
           rules.rmsnorm, "Divide the last axis by its root mean square.", "[..., D] -> [..., D]",
           "weight [D] (ones) when affine"),
    _layer("embedding", "Embedding", [Argument("ids", "tensor", doc="integer ids (i32 or i64)"),
                                      Argument("num", "int", doc="number of ids"),
                                      Argument("dim", "int", doc="embedding size"), _table_init()],
           extended_rules.with_table_init(rules.embedding), "Look up one learned vector per id.", "[...] (integer) -> [..., dim] (f32)",
           "weight [num, dim]; normal"),
    _layer("attention", "MultiHeadAttention",
           [_input_tensor("[B, T, D]"), Argument("heads", "int", doc="number of heads (divides D)"),
            Argument("causal", "bool", False, "mask future positions"),
            Argument("bias", "bool", True, "biases in the four projections"),
            Argument("context", "optional_tensor", None, "[B, S, D] attended to (cross-attention); default x"),
            Argument("mask", "optional_tensor", None,
                     "bool [B, S] key padding mask, True = attend (combined with `causal`); a query with no "
                     "key to attend outputs 0"),
            Argument("dropout", "float", 0.0, "probability of zeroing each attention weight (after the softmax) "
                     "in training, the rest scaled by 1 / (1 - dropout); nanoGPT's attn_dropout"),
            Argument("init", "initializer", extended_rules.DEFAULT_INIT,
                     "initial weights of the four projections (as linear's `init`)", initializers.WEIGHT_SCHEMES),
            Argument("out_init", "initializer", initializers.AUTO,
                     "initial weight of the output projection: auto (as `init`) or a scheme (GPT-2's residual "
                     "projections: `normal(std = 0.02 / sqrt(2 * n_layer))`)", initializers.OUT_SCHEMES),
            _BIAS_INIT],
           extended_rules.attention, "Multi-head attention with query, key, value and output projections "
           "(self-attention, or cross-attention to `context`); keys hidden by `causal` or `mask` get weight 0.",
           "[B, T, D] (context [B, S, D], mask bool[B, S]) -> [B, T, D]",
           "query / key / value / out . weight [D, D], . bias [D]; uniform_fan_in with fan_in = D"),
    _layer("dropout", "Dropout", [_input_tensor("input tensor (f32)"), Argument("rate", "float", doc="probability of zeroing an element")],
           rules.dropout, "Zero elements with probability `rate` in training (scaled by 1 / (1 - rate)); "
           "`rate = 0` is the identity and leaves no layer in the script.",
           "[...] -> [...]", "none", identity_at=("rate", 0.0)),
    _layer("positional_embedding", "PositionalEmbedding",
           [_input_tensor("[B, T, D] (f32)"), Argument("max_length", "int", doc="positions the table holds (T <= max_length)"),
            _table_init()],
           extended_rules.with_table_init(rules.positional_embedding), "Add one learned vector per position: `x + weight[:T]` (a symbolic T "
           "is checked at run time, a concrete T > max_length is E0618).",
           "[B, T, D] -> [B, T, D]", "weight [max_length, D]; normal"),
    _layer("parameter", "FreeParameter",
           [Argument("shape", "shape", doc="sizes of the array (positive integers, no batch axis)"),
            Argument("init", "initializer", "zeros", "initial value: zeros, ones, normal(std = 1) (N(0, std^2)), "
                     "truncated_normal(std = 1), or xavier / kaiming (fans as torch.nn.init: needs 2 axes or more)",
                     initializers.TABLE_SCHEMES)],
           extended_rules.free_parameter, "A learned tensor of its own (GRN's gamma and beta, a null condition): "
           "the sub-module is named after the assigned value, `gamma = parameter([1, 1, C])` gives the "
           "parameter `gamma_0.weight`; arithmetic broadcasts it.",
           "() -> f32[shape]", "weight [shape]; as `init` says", named_by_target=True),
    _layer("batch_norm", "BatchNorm",
           [_input_tensor("[B, ..., C] f32"),
            Argument("momentum", "float", 0.1, "weight of each training batch's statistics in the running ones: "
                     "`running = (1 - momentum) * running + momentum * batch` (PyTorch's convention)"),
            Argument("eps", "float", 1e-5, "added to the variance"), _NORM_AFFINE],
           statistics.batch_norm, "Batch normalisation over every axis but the last (channels-last): in training "
           "the batch's mean and (biased) variance, and the buffers `running_mean`, `running_var` (unbiased) move "
           "towards them; in evaluation the running values.", "[B, ..., C] -> [B, ..., C]",
           "weight [C] (ones), bias [C] (zeros) when affine; buffers running_mean [C] (zeros), running_var [C] "
           "(ones): updated in training steps, saved in checkpoints, not trained"),
    Entry("running_statistics", "layer", "RunningStatistics",
          (_input_tensor("[B, ..., C] f32"),
           Argument("momentum", "float", 0.01, "weight of each training batch's statistics in the running ones")),
          statistics.running_statistics, "Returns its input unchanged, tracking in training the mean and (biased) "
          "standard deviation of each channel (last axis) over the other axes in the buffers `running_mean` and "
          "`running_std` (a VAE's latent statistics: `z = running_statistics(mean)`).",
          "[B, ..., C] -> [B, ..., C]", "none; buffers running_mean [C] (zeros), running_std [C] (ones): updated "
          "in training steps, saved in checkpoints, not trained"),
    Entry("buffer", "layer", "Buffer",
          (Argument("shape", "shape", doc="sizes of the array (positive integers, no batch axis)"),
           Argument("init", "enum", "zeros", "initial value", ("zeros", "ones"))),
          statistics.buffer, "A buffer the graph updates itself: `b = buffer([C])` reads it, `b = update(b, value)` "
          "stores `value` (no gradient) in training steps and returns it, and returns the stored value in evaluation "
          "(`update` is not a layer: its first argument is a buffer's value, its second a tensor of the buffer's "
          "shape). The sub-module is named after the assigned value: `count = buffer([1])` gives `count_0.buffer`.",
          "() -> f32[shape]", "none; buffer [shape] (zeros or ones): updated in training steps, saved in "
          "checkpoints, not trained", named_by_target=True),
    _layer("gaussian_sample", "GaussianSample",
           [Argument("mean", "tensor", doc="f32 mean"), Argument("logvar", "tensor", doc="f32 log-variance, shape of mean")],
           extended_rules.gaussian_sample, "Reparameterised Gaussian draw (VAE): `mean + exp(logvar / 2) * eps`, "
           "eps ~ N(0, I) drawn fresh per call in training (gradients reach mean and logvar through the "
           "formula); `mean` in evaluation. The noise comes from the backend's random stream as "
           "dropout's does.", "[...] x [...] -> [...]", "none"),
]

_UNARY = {
    "relu": "max(x, 0)", "silu": "x * sigmoid(x)", "tanh": "tanh(x)", "sigmoid": "1 / (1 + exp(-x))",
    "exp": "exp(x)", "log": "natural logarithm", "sqrt": "square root", "abs": "|x|",
}

_OPS = [
    _op("gelu", [_input_tensor(), Argument("approximate", "enum", "none", "exact erf form or tanh approximation", ("none", "tanh"))],
        rules.same_shape, "Gaussian error linear unit.", "[...] -> [...]"),
    *[_op(name, [_input_tensor()], rules.same_shape, doc, "[...] -> [...]") for name, doc in _UNARY.items()],
    _op("leaky_relu", [_input_tensor(), Argument("negative_slope", "float", 0.01, "slope for x < 0")],
        rules.same_shape, "max(x, 0) + negative_slope * min(x, 0).", "[...] -> [...]"),
    _op("elu", [_input_tensor(), Argument("alpha", "float", 1.0, "value approached for x -> -inf is -alpha")],
        rules.same_shape, "Exponential linear unit: x for x > 0, alpha * (exp(x) - 1) otherwise.", "[...] -> [...]"),
    _op("softmax", [_input_tensor(), Argument("axis", "int", -1, "normalised axis")], rules.softmax,
        "exp(x) / sum(exp(x)) along an axis.", "[...] -> [...]"),
    _op("mean", [_input_tensor(), Argument("axis", "ints", -1, "reduced axis or axes"),
                 Argument("keepdims", "bool", False, "keep reduced axes with size 1")],
        rules.reduce, "Mean over axes.", "reduced axes removed (or 1 with keepdims)"),
    _op("sum", [_input_tensor(), Argument("axis", "ints", -1, "reduced axis or axes"),
                Argument("keepdims", "bool", False, "keep reduced axes with size 1")],
        rules.reduce, "Sum over axes.", "reduced axes removed (or 1 with keepdims)"),
    _op("matmul", [Argument("a", "tensor", doc="[..., n, k]"), Argument("b", "tensor", doc="[..., k, m]")],
        rules.matmul, "Matrix product over the last two axes, leading axes broadcast.", "[..., n, k] x [..., k, m] -> [..., n, m]"),
    _op("reshape", [_input_tensor(), Argument("shape", "shape", doc="full target shape, at most one -1")],
        extended_rules.reshape, "Same values, new shape (row-major). With more than one size unknown until run time, each "
        "symbolic size is one of the input's axes (`[B, T, heads, -1]` from `[B, T, D]`).", "[...] -> shape (same number of values)"),
    _op("transpose", [_input_tensor(), Argument("axes", "ints", doc="a permutation of all axes")],
        rules.transpose, "Permute axes.", "[d_0, ..., d_n] -> [d_axes[0], ..., d_axes[n]]"),
    _op("swapaxes", [_input_tensor(), Argument("axis1", "int", doc="first axis"), Argument("axis2", "int", doc="second axis")],
        rules.swapaxes, "Exchange two axes.", "axis1 and axis2 exchanged"),
    _op("concat", [Argument("tensors", "tensors", doc="list of tensors"), Argument("axis", "int", -1, "joined axis")],
        rules.concat, "Join tensors along an axis; other axes must match.", "sizes along `axis` add up"),
    _op("split", [_input_tensor(), Argument("sections", "int", doc="number of equal parts"),
                  Argument("axis", "int", -1, "cut axis")],
        rules.split, "Cut an axis into equal parts; returns that many tensors.",
        "[..., n * s] -> s tensors [..., n]", returns_list=True),
    _op("pad", [_input_tensor(), Argument("before", "int", doc="values added before"),
                Argument("after", "int", doc="values added after"), Argument("axis", "int", -1, "padded axis"),
                Argument("mode", "enum", "zeros", "zeros or reflection (edge not repeated)", ("zeros", "reflect"))],
        rules.pad, "Pad one axis.", "axis grows by before + after"),
    _op("avg_pool1d", [_input_tensor("[B, T, C]"), Argument("kernel", "int", doc="window"),
                       Argument("stride", "optional_int", None, "step (default: the window)"),
                       Argument("padding", "int", 0, "zeros on both sides (counted in the mean)")],
        rules.pool1d, "Mean over windows along T.", "[B, T, C] -> [B, (T + 2 * padding - kernel) // stride + 1, C]"),
    _op("max_pool1d", [_input_tensor("[B, T, C]"), Argument("kernel", "int", doc="window"),
                       Argument("stride", "optional_int", None, "step (default: the window)"),
                       Argument("padding", "int", 0, "-inf on both sides")],
        rules.pool1d, "Maximum over windows along T.", "as avg_pool1d"),
    _op("avg_pool2d", [_input_tensor("[B, H, W, C]"), Argument("kernel", "ints", doc="window: int or pair"),
                       Argument("stride", "ints", None, "step (default: the window)"),
                       Argument("padding", "ints", 0, "zeros on both sides")],
        rules.pool2d, "Mean over 2-D windows.", "[B, H, W, C] -> [B, H_out, W_out, C]"),
    _op("max_pool2d", [_input_tensor("[B, H, W, C]"), Argument("kernel", "ints", doc="window: int or pair"),
                       Argument("stride", "ints", None, "step (default: the window)"),
                       Argument("padding", "ints", 0, "-inf on both sides")],
        rules.pool2d, "Maximum over 2-D windows.", "as avg_pool2d"),
    _op("flatten", [_input_tensor(), Argument("start_axis", "int", 1, "first merged axis")],
        rules.flatten, "Merge the axes from start_axis on.", "[B, a, b] -> [B, a * b]"),
    _op("positions", [_input_tensor("any tensor with the counted axis"), Argument("axis", "int", 1, "the axis whose positions are counted"),
                      Argument("batched", "bool", False, "repeat the positions over the first axis")],
        extended_rules.positions, "Integer positions 0, 1, ..., n - 1 of an axis of length n (for fixed positional "
        "encodings: `x + sinusoidal(positions(x), D)`).", "[B, n, ...] -> i64[n] (batched: i64[B, n])"),
    _op("sinusoidal", [_input_tensor("[...] times or (integer) positions"), Argument("dim", "int", doc="embedding size (even)")],
        rules.sinusoidal, "concat(cos(x f), sin(x f)), f_i = exp(-ln(10000) i / (dim / 2)).", "[...] -> [..., dim]"),
    _op("stft", [_input_tensor("[B, T] signal"), Argument("n_fft", "int", doc="frame length"), Argument("hop", "int", doc="hop length"),
                 Argument("window", "enum", "hann", "periodic Hann or rectangular", ("hann", "rectangular"))],
        audio.stft, "One-sided centred STFT (reflect padding), [real, imag] last.",
        "[B, T] -> [B, 1 + (T + 2 * (n_fft // 2) - n_fft) // hop, n_fft // 2 + 1, 2]", module="preprocess"),
    _op("mel_spectrogram", [_input_tensor("[B, T] signal"), Argument("sample_rate", "int", doc="samples per second"),
                            Argument("n_fft", "int", doc="frame length"), Argument("hop", "int", doc="hop length"),
                            Argument("n_mels", "int", doc="mel bands"), Argument("f_min", "float", 0.0, "lowest frequency"),
                            Argument("f_max", "optional_float", None, "highest frequency (default sample_rate / 2)"),
                            Argument("log", "bool", True, "log(mel + 1e-6)")],
        audio.mel_spectrogram, "Power STFT through an HTK mel filterbank.", "[B, T] -> [B, frames, n_mels]",
        module="preprocess"),
    _op("complex_magnitude", [_input_tensor("[..., 2] real and imaginary parts"),
                              Argument("eps", "float", 0.0, "added under the square root")],
        audio.complex_magnitude, "sqrt(re^2 + im^2 + eps).", "[..., 2] -> [...]", module="preprocess"),
    _op("complex_power", [_input_tensor("[..., 2] real and imaginary parts")], audio.complex_power, "re^2 + im^2.",
        "[..., 2] -> [...]", module="preprocess"),
    _op("mdct", [_input_tensor("[B, T] signal"), Argument("window", "int", doc="hop N (frames of 2N samples)")],
        audio.mdct, "MDCT with a sine window, hop N, perfectly reconstructing.",
        "[B, T] -> [B, ceil(T / N) + 1, N]", module="preprocess"),
    _op("imdct", [_input_tensor("[B, F, N] coefficients"), Argument("length", "int", doc="samples of the signal")],
        audio.imdct, "Inverse of mdct: imdct(mdct(x), T) == x.", "[B, ceil(length / N) + 1, N] -> [B, length]",
        module="preprocess"),
    _op("reshape_patches", [_input_tensor("[B, T] signal"), Argument("patch", "int", doc="samples per patch")],
        audio.reshape_patches, "Right-pad with zeros to a multiple of patch and cut into patches.",
        "[B, T] -> [B, ceil(T / patch), patch]", module="preprocess"),
    _op("cast", [_input_tensor(), Argument("dtype", "enum", doc="the dtype of the result", choices=extended_rules.DTYPES)],
        extended_rules.cast, "The same values as another dtype: `cast(mask, f32)` is 1.0 where the mask is true, "
        "`cast(x, bool)` is true where x is not 0, a float cast to an integer is truncated toward 0.",
        "[...] -> dtype[...]"),
    _op("where", [Argument("condition", "tensor", doc="bool tensor: where to take `a`"),
                  Argument("a", "operand", doc="tensor or number taken where the condition is true"),
                  Argument("b", "operand", doc="tensor or number taken where it is false")],
        extended_rules.where, "Elementwise choice: `a` where the condition is true, `b` elsewhere; the three shapes "
        "broadcast as arithmetic does (`where(mask, scores, -1e9)`).",
        "bool[...] x [...] x [...] -> broadcast shape"),
    _op("merge_patches", [_input_tensor("[B, P, p] patches"), Argument("length", "int", doc="samples kept")],
        audio.merge_patches, "Inverse of reshape_patches.", "[B, P, p] -> [B, length] (length <= P * p)",
        module="preprocess"),
]

# The random primitives of time samplers written in the spec (docs/language.md, "Time
# samplers in the graph language"): numpy draws from the data pipeline's generator.
_DRAWS = [
    _draw("uniform", [Argument("low", "float", 0.0, "smallest value"), Argument("high", "float", 1.0, "bound (excluded)")],
          "low + (high - low) u, u ~ U[0, 1) (`uniform([B])` draws what `time = uniform` draws)."),
    _draw("normal", [Argument("mean", "float", 0.0, "location"), Argument("std", "float", 1.0, "scale (>= 0)")],
          "mean + std n, n ~ N(0, 1)."),
    _draw("beta", [Argument("alpha", "float", doc="first shape (> 0)"), Argument("beta", "float", doc="second shape (> 0)")],
          "t ~ Beta(alpha, beta) on [0, 1], density proportional to t^(alpha - 1) (1 - t)^(beta - 1)."),
    _draw("logit_normal", [Argument("mean", "float", 0.0, "location"), Argument("std", "float", 1.0, "scale (> 0)")],
          "sigmoid(mean + std n), n ~ N(0, 1) (`logit_normal([B], -0.4, 1.0)` draws what `time = logit_normal` draws)."),
]

ENTRIES: dict[str, Entry] = {entry.name: entry for entry in _LAYERS + _OPS + _DRAWS}

# Arithmetic written infix in the language, lowered to ``op`` statements with these names.
BINARY_OPERATORS = {"+": "add", "-": "sub", "*": "mul", "/": "truediv", "//": "floordiv", "%": "mod", "**": "pow"}
UNARY_OPERATORS = {"-": "neg"}
# Comparisons of tensors give bool tensors; `and`, `or`, `not` combine bool tensors.
COMPARISON_OPERATORS = {"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
LOGICAL_OPERATORS = {"and": "logical_and", "or": "logical_or"}


def lookup(name: str) -> Entry | None:
    return ENTRIES.get(name)


def names() -> list[str]:
    return sorted(ENTRIES)


def runtime_module(function: str) -> str:
    """The runtime module defining an op statement's ``function`` (``layers`` unless the
    entry says otherwise, e.g. ``stft`` lives in ``preprocess``)."""
    for entry in ENTRIES.values():
        if entry.kind == "op" and entry.runtime == function:
            return entry.module
    return "layers"


def takes_tensor_list(function: str) -> bool:
    """True for ops whose first runtime argument is a list of tensors (``concat``): an op
    statement's inputs are then passed as one list, ``F.concat([a, b], axis=-1)``."""
    entry = ENTRIES.get(function)
    return bool(entry and entry.arguments and entry.arguments[0].type == "tensors")


def backends_of(name: str) -> tuple[str, ...]:
    """The backends implementing layer or op ``name`` (their tables' ``layer`` capability)."""
    return implementing("layer", name)


def describe() -> list[dict]:
    """The registry as JSON data for ``specc schema`` and the docs."""
    described = []
    for entry in ENTRIES.values():
        arguments = [
            {"name": a.name, "type": a.type, "required": a.required, "doc": a.doc,
             **({} if a.required else {"default": a.default}), **({"choices": list(a.choices)} if a.choices else {})}
            for a in entry.arguments
        ]
        described.append({
            "name": entry.name, "kind": entry.kind, "runtime": entry.runtime, "module": entry.module,
            "arguments": arguments, "doc": entry.doc, "shape": entry.shape, "parameters": entry.parameters,
            "backends": list(backends_of(entry.name)),
        })
    return described



def _default_text(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "none" if value is None else str(value)


def markdown_reference() -> str:
    """The "Layers and ops" reference of docs/models.md, generated from the registry."""
    lines = []
    for entry in ENTRIES.values():
        signature = ", ".join(a.name if a.required else f"{a.name} = {_default_text(a.default)}" for a in entry.arguments)
        runtime = f"`{entry.runtime}` class" if entry.kind == "layer" else f"`{entry.module}.{entry.runtime}` function"
        if entry.draws:
            runtime = f"`specc.runtime.reference.draws.{entry.runtime}` (numpy, on the host; time samplers only, E0720)"
        parameters = f" Parameters: {entry.parameters}." if entry.kind == "layer" else ""
        lines += [f"### `{entry.name}({signature})`", "",
                  f"{entry.doc} Shape: `{entry.shape}`. Runtime: {runtime}.{parameters}", ""]
        for argument in entry.arguments:
            choices = f" (one of {', '.join(argument.choices)})" if argument.choices else ""
            lines.append(f"- `{argument.name}` ({argument.type}{choices}): {argument.doc}")
        lines.append("")
    return "\n".join(lines)
