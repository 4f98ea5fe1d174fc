"""The shapes both attention benchmarks time (``torch_attention.py``, ``mlx_attention.py``) and
the identity ``dropout`` that makes ``attention`` take its written-out path."""

# name -> (batch, steps, dim, heads); causal everywhere
SHAPES = {
    "astro_lm-like (B=16, T=128, D=256, 4 heads)": (16, 128, 256, 4),
    "nanoGPT char (B=32, T=64, D=128, 4 heads)": (32, 64, 128, 4),
}


def identity(weights):
    return weights
