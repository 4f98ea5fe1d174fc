"""The networks of the seed systems written in the graph language lower with the shapes
the original code gives (discriminators, ConvNeXt, MLP-Mixer, a causal transformer, a VAE)."""

import numpy as np

from tests.graphs.helpers import build_ok, module, parameter_table
from tests.graphs.interpreter import run

DISCRIMINATORS = """\
block period_discriminator(x: [B, T], period: int) -> ([B, N], list) {
  extra = (period - T % period) % period
  h = reshape(pad(x, 0, extra, mode = reflect), [-1, (T + extra) // period, period, 1])
  feats = []
  for channels in [32, 128, 512, 1024] {
    h = leaky_relu(conv2d(h, channels, [5, 1], stride = [3, 1], padding = [2, 0], weight_norm = true), 0.1)
    feats = feats + [h]
  }
  h = leaky_relu(conv2d(h, 1024, [5, 1], padding = [2, 0], weight_norm = true), 0.1)
  h = conv2d(h, 1, [3, 1], padding = [1, 0], weight_norm = true)
  return flatten(h), feats + [h]
}

block scale_discriminator(x: [B, T, 1]) -> ([B, N], list) {
  h = x
  feats = []
  for layer in [[16, 15, 1, 1], [64, 41, 4, 4], [256, 41, 4, 16], [256, 41, 4, 64], [512, 41, 4, 256], [512, 5, 1, 1]] {
    channels, kernel, stride, groups = layer
    h = leaky_relu(conv1d(h, channels, kernel, stride = stride, groups = groups, padding = (kernel - 1) // 2,
                          weight_norm = true), 0.1)
    feats = feats + [h]
  }
  h = conv1d(h, 1, 3, padding = 1, weight_norm = true)
  return flatten(h), feats + [h]
}

block stft_discriminator(x: [B, T], n_fft: int) -> ([B, N], list) {
  h = stft(x, n_fft, n_fft // 4)
  h = leaky_relu(conv2d(h, 32, [3, 9], padding = [1, 4], weight_norm = true), 0.2)
  feats = [h]
  for dilation in [1, 2, 4] {
    h = leaky_relu(conv2d(h, 32, [3, 9], stride = [1, 2], dilation = [dilation, 1], padding = [dilation, 4],
                          weight_norm = true), 0.2)
    feats = feats + [h]
  }
  h = conv2d(h, 1, [3, 3], padding = [1, 1], weight_norm = true)
  return flatten(h), feats + [h]
}

model discriminator(audio: f32[B, 8192]) -> (list, list) {
  logits = []
  feats = []
  for period in [2, 3, 5, 7, 11] {
    logit, maps = period_discriminator(audio, period)
    logits = logits + [logit]
    feats = feats + maps
  }
  signal = reshape(audio, [-1, 8192, 1])
  for scale in [1, 2, 4] {
    if scale > 1 { signal = avg_pool1d(signal, 4, stride = 2, padding = 2) }
    logit, maps = scale_discriminator(signal)
    logits = logits + [logit]
    feats = feats + maps
  }
  for n_fft in [1024, 2048, 512] {
    logit, maps = stft_discriminator(audio, n_fft)
    logits = logits + [logit]
    feats = feats + maps
  }
  return logits, feats
}
"""


def test_audio_discriminators():
    graph = build_ok(DISCRIMINATORS)["discriminator"]
    assert graph.output_structure == (11, 5 * 5 + 3 * 7 + 3 * 5)
    logits = [t.shape for t in graph.outputs[:11]]
    # period 3: pad 8192 to 8193, [B, 2731, 3, 1]; four stride-3 convs: 911, 304, 102, 34; flatten 34 * 3
    # scale 2: avg-pool to 4097, strides 4, 4, 4, 4: 1025, 257, 65, 17
    # n_fft 1024: 33 frames, 513 bins; three stride-2 convs on the bins: 257, 129, 65; 33 * 65
    assert logits == [("B", n) for n in (102, 102, 105, 105, 110, 32, 17, 9, 2145, 2193, 2145)]
    period = module(graph, "PeriodDiscriminator")
    first = period.submodules[0]
    assert dict(first.arguments)["kernel_size"] == (5, 1) and [p.name for p in first.parameters] == [
        "weight_g", "weight_v", "bias"]
    assert first.parameters[0].shape == (32, 1, 1, 1)
    table = parameter_table(graph)
    assert table["scale_discriminator_0.conv1d_3.weight_v"][0] == (256, 4, 41)  # grouped: in / groups = 256 / 64
    stft_feature = next(t for t in graph.outputs[11:] if len(t.shape) == 4 and t.shape[-2] == 513)
    assert stft_feature.shape == ("B", 33, 513, 32)


CONVNEXT_MIXER = """\
block convnext(x: [B, T, C], expansion: int = 4) -> [B, T, C] {
  h = conv1d(x, C, 7, padding = 3, groups = C)
  h = linear(gelu(linear(layernorm(h, eps = 1e-6), expansion * C), approximate = tanh), C)
  return x + h
}

block mixer(x: [B, N, C], token_hidden: int = 32, channel_hidden: int = 64) -> [B, N, C] {
  tokens = swapaxes(layernorm(x), 1, 2)
  x = x + swapaxes(linear(gelu(linear(tokens, token_hidden)), N), 1, 2)
  return x + linear(gelu(linear(layernorm(x), channel_hidden)), C)
}

model flow(x: f32[B, 16, 8], t: f32[B]) -> f32[B, 16, 8] {
  h = linear(x, 32) + reshape(linear(sinusoidal(t, 32), 32), [-1, 1, 32])
  repeat 2 { h = convnext(h) }
  repeat 2 { h = mixer(h) }
  return linear(h, 8)
}
"""


def test_convnext_and_mixer_flow_runs_on_the_reference():
    graph = build_ok(CONVNEXT_MIXER)["flow"]
    assert parameter_table(graph)["repeat_0.1.convnext_0.conv1d_0.weight"][0] == (32, 1, 7)
    assert parameter_table(graph)["repeat_1.0.mixer_0.linear_1.weight"][0] == (16, 32)
    generator = np.random.default_rng(0)
    (output,) = run(graph, {"x": generator.normal(size=(2, 16, 8)), "t": generator.uniform(size=2)}, {"B": 2})
    assert output.shape == (2, 16, 8)


LANGUAGE_MODEL_AND_VAE = """\
block transformer(x: [B, T, D], heads: int, dropout_rate: float = 0.1) -> [B, T, D] {
  x = x + dropout(attention(layernorm(x), heads, causal = true), dropout_rate)
  return x + dropout(linear(gelu(linear(layernorm(x), 4 * D)), D), dropout_rate)
}

model language_model(tokens: i64[B, 32]) -> f32[B, 32, 100] {
  h = embedding(tokens, 100, 64)
  repeat 3 { h = transformer(h, heads = 4) }
  return linear(layernorm(h), 100)
}

model vae(x: f32[B, 256, 1], noise: f32[B, 32, 8]) -> (f32[B, 256, 1], f32[B, 32, 8], f32[B, 32, 8]) {
  h = x
  for channels in [16, 32, 64] { h = silu(groupnorm(conv1d(h, channels, 4, stride = 2, padding = 1), 8)) }
  mu, logvar = split(conv1d(h, 16, 3, padding = 1), 2)
  z = mu + exp(0.5 * logvar) * noise
  h = conv1d(z, 64, 3, padding = 1)
  for channels in [32, 16, 16] { h = silu(conv_transpose1d(h, channels, 4, stride = 2, padding = 1)) }
  return tanh(conv1d(h, 1, 7, padding = same)), mu, logvar
}
"""


def test_language_model_and_vae():
    graphs = build_ok(LANGUAGE_MODEL_AND_VAE)
    language = graphs["language_model"]
    assert module(language, "Transformer").submodules[1].kind == "MultiHeadAttention"
    assert parameter_table(language)["repeat_0.2.transformer_0.attention_0.query.weight"][0] == (64, 64)
    vae = graphs["vae"]
    assert vae.output_structure == (None, None, None)
    generator = np.random.default_rng(0)
    outputs = run(vae, {"x": generator.normal(size=(2, 256, 1)), "noise": generator.normal(size=(2, 32, 8))}, {"B": 2})
    assert [o.shape for o in outputs] == [(2, 256, 1), (2, 32, 8), (2, 32, 8)]
