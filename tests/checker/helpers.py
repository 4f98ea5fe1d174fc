"""Shared helpers of the checker tests: in-memory specs and rendered diagnostics."""

from __future__ import annotations

from specc.dsl.diagnostics import render_text
from specc.compiler.pipeline import check

DIGITS = """\
spec digits_small
let hidden = 32

data digits {
  batch_size = 16
}

model mlp(x: f32[B, 64]) -> f32[B, 10] {
  return linear(relu(linear(x, hidden)), 10)
}

objective classification {
  model = mlp
  target = data.y
}

optimizer adam { lr = 1e-3 }

train {
  max_steps = 20
  eval_every = 10
  checkpoint { every = 10, keep = 2, monitor = "val/accuracy", mode = max }
}

eval {
  metrics = [accuracy]
}
"""

FLOW = """\
spec ksin_small
let k = 2

data ksin {
  k = k
  signal_length = 16
  sizes = [64, 16, 16]
  batch_size = 8
}

model field(x: f32[B, 2 * k], t: f32[B], signal: f32[B, 16]) -> f32[B, 2 * k] {
  c = linear(signal, 8) + sinusoidal(t, 8)
  return linear(gelu(linear(x, 8) + c), 2 * k)
}

objective flow_matching {
  model = field
  target = data.params
  cfg_dropout = 0.1
}

optimizer adamw { lr = 1e-3 }
schedule warmup_cosine { warmup = 5 }

train {
  max_steps = 20
  eval_every = 10
}

eval {
  sampler = euler(steps = 4)
  metrics = [chamfer(params_per_token = 2)]
}
"""

ADVERSARIAL = """\
spec gan_small

data synthetic_audio {
  sizes = [32, 8, 8]
  length = 64
  batch_size = 4
}

model generator_net(x: f32[B, 64]) -> f32[B, 64] {
  return linear(tanh(linear(x, 32)), 64)
}

model critic(x: f32[B, 64]) -> f32[B, 1] {
  return linear(x, 1)
}

objective adversarial {
  generator = generator_net
  discriminator = critic
  target = data.audio
}

optimizer generator: adam { lr = 1e-4 }
optimizer discriminator: adam { lr = 1e-4 }

train {
  max_steps = 10
}
"""


def memory_reader(files: dict[str, str]):
    def read(path: str) -> bytes:
        if path in files:
            return files[path].encode("utf-8")
        raise FileNotFoundError(path)

    return read


def run(text: str, overrides=(), backend=None, files=None):
    sources = {"spec.mf": text, **(files or {})}
    return check("spec.mf", memory_reader(sources), tuple(overrides), backend)


def edit(text: str, old: str, new: str) -> str:
    assert old in text, f"{old!r} not in the base spec"
    return text.replace(old, new, 1)


def rendered(result) -> list[str]:
    return [render_text(diagnostic, result.sources) for diagnostic in result.diagnostics]


def codes(result) -> list[str]:
    return [diagnostic.code for diagnostic in result.diagnostics]
