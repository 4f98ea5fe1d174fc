"""Initialisation schemes a spec may name (``linear(h, d, init = normal(std = 0.02))``).

A scheme is a word with optional arguments, written ``word`` or ``word(...)``: its value in
the graph builder is an :class:`Initializer`. :func:`apply` turns it into the parameter's
``init`` kind and standard deviation for ``specc.runtime.init``, computing every fan and
gain here, so the runtime only draws from zero-mean distributions of a known ``std``:

- ``uniform_fan_in``: PyTorch's default for linear and convolution layers, U(+-1/sqrt(fan_in));
- ``zeros``, ``ones``;
- ``normal(std = 1)``: N(0, std^2); ``truncated_normal(std = 1)``: N(0, std^2) redrawn
  outside +-2 std;
- ``xavier_uniform(gain = 1)``, ``xavier_normal(gain = 1)``: std = gain * sqrt(2 / (fan_in + fan_out));
- ``kaiming_uniform(gain = sqrt(2), mode = fan_in)``, ``kaiming_normal(...)``: std = gain / sqrt(fan)
  (``mode = fan_out`` uses fan_out);

uniform variants draw U(-sqrt(3) std, sqrt(3) std). Fans follow ``torch.nn.init``: for an
array of shape ``[a, b, *k]`` (PyTorch layout), fan_in = b * prod(k), fan_out = a * prod(k).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from specc.compiler import ir

# word -> its arguments (name, default) in positional order
SCHEMES: dict[str, tuple[tuple[str, object], ...]] = {
    "uniform_fan_in": (),
    "zeros": (),
    "ones": (),
    "normal": (("std", 1.0),),
    "truncated_normal": (("std", 1.0),),
    "xavier_uniform": (("gain", 1.0),),
    "xavier_normal": (("gain", 1.0),),
    "kaiming_uniform": (("gain", math.sqrt(2.0)), ("mode", "fan_in")),
    "kaiming_normal": (("gain", math.sqrt(2.0)), ("mode", "fan_in")),
}
MODES = ("fan_in", "fan_out")
# Schemes that need a fan_out, hence an array of at least two axes.
FAN_SCHEMES = ("xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal")
# The slot's own default, resolved by the layer: the bias follows the weight's init
# (PyTorch's uniform_fan_in with it, zeros otherwise); attention's output projection follows `init`.
AUTO = "auto"

WEIGHT_SCHEMES = tuple(SCHEMES)
BIAS_SCHEMES = (AUTO, "uniform_fan_in", "zeros", "ones", "normal", "truncated_normal")
OUT_SCHEMES = (AUTO,) + WEIGHT_SCHEMES
TABLE_SCHEMES = tuple(word for word in SCHEMES if word != "uniform_fan_in")  # embeddings, free parameters
# Other names users know these schemes by: refused with the name to use.
SYNONYMS = {
    "glorot_uniform": "xavier_uniform", "glorot_normal": "xavier_normal",
    "he_uniform": "kaiming_uniform", "he_normal": "kaiming_normal",
    "default": "uniform_fan_in", "pytorch": "uniform_fan_in", "trunc_normal": "truncated_normal",
}


@dataclass(frozen=True)
class Initializer:
    """One scheme with every argument filled: ``Initializer("normal", (("std", 0.02),))``."""

    word: str
    arguments: tuple[tuple[str, object], ...] = ()

    def value(self, name: str):
        return dict(self.arguments)[name]

    def text(self) -> str:
        """As a spec would write it: ``normal(std = 0.02)``, ``zeros``."""
        if not self.arguments:
            return self.word
        return f"{self.word}({', '.join(f'{key} = {value}' for key, value in self.arguments)})"


def of(value) -> Initializer:
    """An Initializer from a slot value: an Initializer, or a word (a registry default)."""
    if isinstance(value, Initializer):
        return value
    return Initializer(value, tuple(SCHEMES.get(value, ())))


def fans(shape) -> tuple[int, int]:
    """``torch.nn.init``'s fans of an array in PyTorch layout ``[out, in, *kernel]``."""
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


class InitializerError(ValueError):
    """A scheme that cannot initialise this parameter; the message names both."""


def apply(initializer: Initializer, parameter: ir.Parameter, fan_in: int | None = None) -> ir.Parameter:
    """``parameter`` with the init kind and std of ``initializer``. ``fan_in``: the layer's
    fan-in for ``uniform_fan_in`` (a bias takes its weight's); default the parameter's own."""
    word = initializer.word
    if word in ("zeros", "ones"):
        return replace(parameter, init=word, std=1.0)
    if word == "uniform_fan_in":
        return replace(parameter, init=word, fan_in=int(fan_in or parameter.fan_in), std=1.0)
    if word in ("normal", "truncated_normal"):
        return replace(parameter, init=word, std=float(initializer.value("std")))
    shape = tuple(parameter.shape)
    if len(shape) < 2:
        raise InitializerError(f"`{word}` needs an array of at least 2 axes to know its fans, got the shape "
                               f"[{', '.join(map(str, shape))}]")
    fan_in_size, fan_out_size = fans(shape)
    gain = float(initializer.value("gain"))
    if word.startswith("xavier"):
        std = gain * math.sqrt(2.0 / (fan_in_size + fan_out_size))
    else:
        std = gain / math.sqrt(fan_in_size if initializer.value("mode") == "fan_in" else fan_out_size)
    return replace(parameter, init="normal" if word.endswith("normal") else "uniform", std=std)
