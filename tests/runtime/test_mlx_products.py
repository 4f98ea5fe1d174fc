"""The MLX runtime's products in the layouts its CPU multiplies fastest
(``specc.runtime.mlx.products``) give the values, gradients and JVPs of the plain
``x @ weight.T`` and of ``mx.conv_general``; ``Linear`` and the convolutions without groups
go through them on the CPU."""

from __future__ import annotations

import numpy as np
import pytest

mx = pytest.importorskip("mlx.core")

from specc.runtime.mlx import layers, products  # noqa: E402 - after the importorskip


def random(shape, seed):
    return mx.array(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


def assert_close(actual, expected, tolerance=1e-5):
    actual, expected = np.array(actual), np.array(expected)
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tolerance * scale)


@pytest.mark.parametrize("x_shape", [(7,), (5, 7), (2, 3, 7), (2, 3, 4, 7)])
def test_transposed_product_matches_the_plain_product_with_gradients(x_shape):
    x, weight = random(x_shape, 0), random((6, 7), 1)

    def plain(x, weight):
        return mx.sum(mx.sin(x @ weight.T))

    def ours(x, weight):
        return mx.sum(mx.sin(products.transposed_product(x, weight)))

    assert_close(products.transposed_product(x, weight), x @ weight.T)
    expected = mx.grad(plain, argnums=(0, 1))(x, weight)
    found = mx.compile(mx.grad(ours, argnums=(0, 1)))(x, weight)
    for gradient, reference in zip(found, expected):
        assert gradient.shape == reference.shape
        assert_close(gradient, reference)


def test_transposed_product_has_the_jvp_of_the_plain_product_and_its_gradient():
    x, weight = random((3, 4, 5), 2), random((6, 5), 3)
    tangents = [random((3, 4, 5), 4), random((6, 5), 5)]
    _, (expected,) = mx.jvp(lambda x, w: x @ w.T, [x, weight], tangents)
    _, (found,) = mx.jvp(products.transposed_product, [x, weight], tangents)
    assert_close(found, expected)

    def derivative_norm(weight, product):  # a mean-flow loss: the gradient of a JVP
        _, (derivative,) = mx.jvp(lambda x: mx.tanh(product(x, weight)), [x], [mx.ones_like(x)])
        return mx.sum(derivative**2)

    expected = mx.grad(derivative_norm)(weight, lambda x, w: x @ w.T)
    found = mx.grad(derivative_norm)(weight, products.transposed_product)
    assert_close(found, expected)


CONVOLUTIONS = [  # input shape, out channels, kernel, stride, dilation, padding before, after
    ((2, 11, 3), 4, (3,), (1,), (1,), (1,), (1,)),
    ((2, 16, 3), 5, (4,), (2,), (1,), (1,), (2,)),
    ((2, 16, 2), 3, (3,), (1,), (3,), (3,), (3,)),
    ((2, 9, 8, 3), 4, (3, 3), (1, 1), (1, 1), (0, 0), (0, 0)),
    ((2, 10, 9, 2), 3, (3, 2), (2, 1), (1, 2), (1, 0), (1, 1)),
]


@pytest.mark.parametrize("shape, out, kernel, stride, dilation, before, after", CONVOLUTIONS)
def test_convolution_by_patches_matches_mlx_convolution(shape, out, kernel, stride, dilation, before, after):
    x, weight = random(shape, 6), random((out, *kernel, shape[-1]), 7)

    def native(x, weight):
        return mx.conv_general(
            x, weight, stride=list(stride), padding=(list(before), list(after)), kernel_dilation=list(dilation)
        )

    def ours(x, weight):
        return products.convolution_by_patches(x, weight, stride, before, after, dilation)

    assert_close(ours(x, weight), native(x, weight))
    cotangent = random(native(x, weight).shape, 8)
    expected = mx.vjp(native, [x, weight], [cotangent])[1]
    found = mx.vjp(ours, [x, weight], [cotangent])[1]
    for gradient, reference in zip(found, expected):
        assert_close(gradient, reference)
    tangents = [random(shape, 9), random(weight.shape, 10)]
    bilinear = native(tangents[0], weight) + native(x, tangents[1])
    assert_close(mx.jvp(ours, [x, weight], tangents)[1][0], bilinear)


def test_the_layers_use_the_products_on_the_cpu(monkeypatch):
    calls = []
    original = products.convolution_by_patches

    def recorded(*arguments):
        calls.append(arguments[1].shape)
        return original(*arguments)

    monkeypatch.setattr(products, "convolution_by_patches", recorded)
    assert products.patches_are_faster()  # the default device of these tests is the CPU
    plain = layers.Conv2d(2, 4, 3)
    grouped = layers.Conv2d(2, 4, 3, groups=2)
    x = random((1, 6, 6, 2), 11)
    assert plain(x).shape == grouped(x).shape == (1, 4, 4, 4)
    assert calls == [(4, 3, 3, 2)]  # groups = 1 only: a grouped convolution keeps mx.conv_general

    linear_calls = []
    original_product = products.transposed_product

    def product(x, weight):
        linear_calls.append(weight.shape)
        return original_product(x, weight)

    monkeypatch.setattr(products, "transposed_product", product)
    assert layers.Linear(3, 5)(random((2, 3), 12)).shape == (2, 5)
    assert linear_calls == [(5, 3)]
