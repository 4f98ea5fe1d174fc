"""Parameter counts of the seeds' architectures, computed by hand from the layer formulas.

Independent of the compiler: each function follows the seed's architecture as documented in
specs/std/*.mf and counts weights and biases layer by layer. Layer norms of the meanflow
blocks have no affine parameters (COMPONENTS.md), so they count nothing there.
"""

from __future__ import annotations

import math


def linear(inputs: int, outputs: int) -> int:
    """weight [out, in] + bias [out]."""
    return inputs * outputs + outputs


def norm(width: int) -> int:
    """LayerNorm with affine: scale and shift."""
    return 2 * width


def attention(width: int) -> int:
    """query, key, value and output projections, each [D, D] + [D]."""
    return 4 * linear(width, width)


def conv(inputs: int, outputs: int, kernel, groups: int = 1, weight_norm: bool = False) -> int:
    """weight [out, in / groups, *kernel] + bias [out] (+ weight_g [out, 1, ...])."""
    size = math.prod(kernel) if isinstance(kernel, (tuple, list)) else kernel
    return outputs * (inputs // groups) * size + outputs + (outputs if weight_norm else 0)


def conv_transpose(inputs: int, outputs: int, kernel: int) -> int:
    """weight [in, out, kernel] + bias [out]."""
    return inputs * outputs * kernel + outputs


# ----------------------------------------------------------------------- transformers


def feed_forward(width: int, hidden: int) -> int:
    return linear(width, hidden) + linear(hidden, width)


def causal_lm(vocab: int, width: int, layers: int, d_ff: int, max_len: int, types: int = 20) -> int:
    block = norm(width) + attention(width) + norm(width) + feed_forward(width, d_ff)
    positions = max_len * width
    return (vocab + types) * width + positions + layers * block + norm(width) + linear(width, vocab)


def approx_equiv_transformer(params: int, signal: int, layers: int, width: int, conditioning: int,
                             d_ff: int, tokens: int, d_enc: int, time_encoding: str = "scalar",
                             pe_type: str | None = None) -> int:
    projection = linear(params, tokens * width)
    positions = {None: 0, "initial": tokens * width, "layerwise": layers * tokens * width}[pe_type]
    time = linear(1, d_enc) if time_encoding == "scalar" else 0
    condition = linear(signal, conditioning) + linear(d_enc, conditioning) + linear(conditioning, conditioning)
    block = linear(conditioning, 6 * width) + attention(width) + feed_forward(width, d_ff)
    final = linear(conditioning, 2 * width) + linear(tokens * width, params)
    return projection + positions + time + condition + layers * block + final


# ----------------------------------------------------------------------- flows (seed 000)


def time_condition(dim: int) -> int:
    return linear(2 * dim, dim) + linear(dim, dim)


def mlp_flow(noise: int, latent: int, blocks: int, condition: int) -> int:
    block = linear(condition, 2 * latent) + linear(latent, 4 * latent) + linear(4 * latent, latent)
    return time_condition(condition) + linear(noise, latent) + blocks * block + linear(latent, noise)


def conv_flow(patch: int, channels: int, blocks: int, condition: int, kernel: int = 7, expansion: int = 4) -> int:
    hidden = expansion * channels
    grn = conv(hidden, hidden, 1, groups=hidden)
    block = (conv(channels, channels, kernel, groups=channels) + linear(condition, 2 * channels)
             + linear(channels, hidden) + grn + linear(hidden, channels))
    return time_condition(condition) + linear(patch, channels) + blocks * block + linear(channels, patch)


def mixer_flow(noise: int, latent: int, blocks: int, condition: int, token_mix: int, channel_mix: int,
               channels: int, tokens: int) -> int:
    block = (linear(condition, 6 * channels) + linear(tokens, token_mix) + linear(token_mix, tokens)
             + linear(channels, channel_mix) + linear(channel_mix, channels))
    return (time_condition(condition) + linear(noise, latent) + linear(latent, tokens * channels) + blocks * block
            + linear(condition, 2 * channels) + linear(tokens * channels, noise))


# ----------------------------------------------------------------------- audio (seeds 002, 003)


def mel_classifier(length: int, hop: int, mels: int, channels: list[int], classes: int) -> int:
    height, width, inputs, total = 1 + length // hop, mels, 1, 0
    for outputs in channels:
        total += conv(inputs, outputs, (3, 3))
        height, width, inputs = (height - 2) // 2, (width - 2) // 2, outputs
    return total + linear(inputs * height * width, classes)


def residual_unit(channels: int, kernel: int) -> int:
    return conv(channels, channels // 2, kernel) + conv(channels // 2, channels, 1)


def audio_vae(base: int, stages: list, latent: int, kernel: int, dilations: list, audio_channels: int = 1) -> int:
    """std/vae.mf's audio_vae (mono), or multichannel_audio_vae over ``audio_channels``."""
    encoder, channels = conv(audio_channels, base, kernel), base
    for mult, stride in stages:
        encoder += len(dilations) * residual_unit(channels, kernel)
        encoder += conv(channels, base * mult * 2, 2 * stride)
        channels = base * mult * 2
    encoder += conv(channels, 2 * latent, kernel)
    decoder = conv(latent, channels, kernel)
    for mult, stride in reversed(stages):
        decoder += conv_transpose(channels, base * mult, 2 * stride)
        channels = base * mult
        decoder += len(dilations) * residual_unit(channels, kernel)
    return encoder + decoder + conv(channels, audio_channels, kernel)


# COMPONENTS.md: channels 16/64/256/256/512/512, kernels 15/41/41/41/41/5, strides 1/4/4/4/4/1,
# groups 1/4/16/64/256/1 (padding kernel // 2)
MSD_LAYERS = [[16, 15, 1, 1, 7], [64, 41, 4, 4, 20], [256, 41, 4, 16, 20], [256, 41, 4, 64, 20],
              [512, 41, 4, 256, 20], [512, 5, 1, 1, 2]]
MPD_STAGES = [[32, 3], [128, 3], [512, 3], [1024, 3], [1024, 1]]


def stft_discriminator(filters: int, dilations: int = 3, channels: int = 1) -> int:
    return (conv(2 * channels, filters, (3, 9), weight_norm=True)
            + dilations * conv(filters, filters, (3, 9), weight_norm=True)
            + conv(filters, filters, (3, 3), weight_norm=True) + conv(filters, 1, (3, 3), weight_norm=True))


def scale_discriminator(layers=MSD_LAYERS, channels: int = 1) -> int:
    total, inputs = 0, channels
    for outputs, kernel, _stride, groups, _padding in layers:
        total += conv(inputs, outputs, kernel, groups, weight_norm=True)
        inputs = outputs
    return total + conv(inputs, 1, 3, weight_norm=True)


def period_discriminator(stages=MPD_STAGES, channels: int = 1) -> int:
    total, inputs = 0, channels
    for outputs, _stride in stages:
        total += conv(inputs, outputs, (5, 1), weight_norm=True)
        inputs = outputs
    return total + conv(inputs, 1, (3, 1), weight_norm=True)


def encodec_discriminator(filters: int, n_ffts: int, msd_scales: int, mpd_periods: int, channels: int = 1) -> int:
    """std/discriminators.mf's encodec_discriminator (mono), or its multichannel form."""
    return (n_ffts * stft_discriminator(filters, channels=channels) + msd_scales * scale_discriminator(channels=channels)
            + mpd_periods * period_discriminator(channels=channels))
