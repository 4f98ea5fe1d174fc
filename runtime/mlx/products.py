"""``x @ weight^T`` for weights in the canonical (PyTorch) layout ``[out, in]``, with every
matrix product of the forward and backward pass in the layout MLX's CPU multiplies fastest.

A row-major product ``a @ b`` reaches the BLAS that MLX links as one of four layouts: both
operands as stored (``a @ b``), the second transposed (``a @ b.T``), the first transposed
(``a.T @ b``) or both. The Linux CPU wheel (``mlx[cpu]``) links the reference BLAS, on which
the second-transposed product takes over twice the time of the others (one thread,
``[2048, 256] @ [256, 1024]``: 177 ms as stored, 176 ms first transposed, 388 ms second
transposed, 1,536 ms both; ``benchmarks/mlx_products.py``). The plain ``x @ weight.T`` that
``mlx.nn.Linear`` computes is that slow case in its forward pass. Here the forward product
runs on a contiguous copy of ``weight.T`` (a copy of the weight, not of the activations), and
the backward pass is given as

    dx = g @ weight            (both as stored)
    dweight = g^T @ x          (first transposed)

so no product of a step is a second-transposed one. Same values: each product sums the same
terms in the same order. ``mx.jvp`` passes through (``x_t @ weight^T + x @ weight_t^T``).

On the CPU a convolution without groups is the same product over the input's patches
(``convolution_by_patches``): 1.5x to 3.6x faster than ``mx.conv_general`` forward and
backward on the shapes of ``benchmarks/mlx_products.py``, at the cost of holding the patches
(kernel size times the padded input) for the backward pass. The GPU keeps
``mx.conv_general``.
"""

from __future__ import annotations

import itertools

import mlx.core as mx


def _forward(x, weight):
    return x @ mx.contiguous(weight.T)


@mx.custom_function
def transposed_product(x, weight):
    """``x @ weight^T``: ``x [..., in]``, ``weight [out, in]`` -> ``[..., out]``.

    MLX still walks the primitives inside a custom function when it computes a JVP, so the
    forward runs on ``stop_gradient`` copies of the inputs (as the runtime's convolutions)."""
    return _forward(mx.stop_gradient(x), mx.stop_gradient(weight))


@transposed_product.vjp
def _transposed_product_vjp(primals, cotangent, output):
    """``(g @ weight, g^T @ x)`` over the rows of every leading axis."""
    x, weight = primals
    rows = cotangent.reshape(-1, cotangent.shape[-1])
    weight_gradient = rows.T @ x.reshape(-1, x.shape[-1])
    return cotangent @ weight, weight_gradient


def bilinear_tangent(product, primals, tangents):
    """The JVP of a product bilinear in ``(x, weight)``: ``product(x_t, weight) +
    product(x, weight_t)``; a missing tangent (None) is 0."""
    (x, weight), (x_tangent, weight_tangent) = primals, tangents
    terms = []
    if x_tangent is not None:
        terms.append(product(x_tangent, weight))
    if weight_tangent is not None:
        terms.append(product(x, weight_tangent))
    return terms[0] if len(terms) == 1 else terms[0] + terms[1]


@transposed_product.jvp
def _transposed_product_jvp(primals, tangents):
    """``x_t @ weight^T + x @ weight_t^T``."""
    return bilinear_tangent(_forward, primals, tangents)


def patches_are_faster() -> bool:
    """Convolutions by patches on MLX's CPU (its BLAS products), ``mx.conv_general`` on a GPU."""
    return mx.default_device() == mx.cpu


def convolution_by_patches(x, weight, stride, before, after, dilation):
    """A convolution without groups as a product: ``x [B, *spatial, in]``, ``weight
    [out, *kernel, in]`` (MLX's layout) -> ``[B, *spatial', out]``,

        y[b, p, o] = sum_{k, c} x_padded[b, p * stride + k * dilation, c] * weight[o, k, c]

    i.e. ``patches(x) @ weight.reshape(out, -1)^T`` by ``transposed_product``. The patches
    stack one strided slice of the zero-padded input per kernel offset, in the order of the
    weight's ``(*kernel, in)`` axes."""
    padded = mx.pad(x, [(0, 0), *zip(before, after), (0, 0)])
    kernel = weight.shape[1:-1]
    outputs = [
        (size - rate * (window - 1) - 1) // step + 1
        for size, window, step, rate in zip(padded.shape[1:-1], kernel, stride, dilation)
    ]
    pieces = []
    for offsets in itertools.product(*(range(window) for window in kernel)):
        window_slices = tuple(
            slice(offset * rate, offset * rate + step * (count - 1) + 1, step)
            for offset, rate, step, count in zip(offsets, dilation, stride, outputs)
        )
        pieces.append(padded[(slice(None), *window_slices, slice(None))])
    stacked = mx.stack(pieces, axis=-2)  # [B, *spatial', kernel positions, in]
    columns = stacked.reshape(*stacked.shape[:-2], -1)
    return transposed_product(columns, weight.reshape(weight.shape[0], -1))
