"""Parity of the runtime layers (jax, torch, mlx) with the numpy reference, and forward-mode
AD through convolutions and attention on every backend.

Inputs are rounded to float32 before the float64 reference sees them, so only the
backends' float32 arithmetic separates the two (rtol 1e-5, atol 1e-6 unless noted).
"""

from __future__ import annotations

import numpy as np
import pytest

from specc.runtime.init import layer_parameters
from specc.runtime.reference import layers as reference

SHAPES = [(2, 6, 4), (3, 9, 6)]


def f32(values):
    """Round to float32, keep float64 for the reference."""
    return np.asarray(values, np.float32).astype(np.float64)


def random_arrays(kind, rng, **arguments):
    """Random float32-representable arrays for every parameter ``kind(**arguments)`` creates,
    scaled like their init (std 1 / sqrt(fan_in)) so outputs stay of order one."""
    arrays = {}
    for parameter in layer_parameters(kind, **arguments):
        values = rng.normal(size=parameter.shape) / np.sqrt(parameter.fan_in)
        if parameter.init == "weight_norm_g":
            values = np.abs(values) + 0.5
        arrays[parameter.name] = f32(values)
    return arrays


def build(backend, kind, rng, **arguments):
    """A backend layer with random parameters loaded, and those parameters."""
    layer = getattr(backend.module("layers"), kind)(**arguments)
    arrays = random_arrays(kind, rng, **arguments)
    backend.module("state").load_state_dict(layer, arrays)
    return layer, arrays


def assert_close(actual, expected, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(
        np.asarray(actual, np.float64), expected, rtol=rtol, atol=atol
    )


def compiled(backend, function):
    """``jax.jit(function)`` on jax (one compiled program per test instead of one per
    primitive, as the generated scripts run it); ``function`` elsewhere."""
    if backend.name == "jax":
        import jax

        return jax.jit(function)
    return function


def run(backend, layer, *inputs):
    return backend.numpy(
        compiled(backend, lambda *values: layer(*values))(
            *[backend.array(value) for value in inputs]
        )
    )


# ----------------------------------------------------------------------------- functions


def positive(rng, shape):
    return [f32(np.abs(rng.normal(size=shape)) + 0.1)]


def normal(rng, shape):
    return [f32(rng.normal(size=shape))]


def pair(rng, shape):
    return [
        f32(rng.normal(size=shape)),
        f32(rng.normal(size=shape[:-2] + (shape[-1], 5))),
    ]


def image(rng, shape):
    return [f32(rng.normal(size=shape + (3,)))]


def times(rng, shape):
    return [f32(rng.uniform(0.0, 1.0, size=shape[:1]))]


FUNCTION_CASES = {
    "gelu": (normal, lambda F, x: F.gelu(x)),
    "gelu_tanh": (normal, lambda F, x: F.gelu(x, approximate="tanh")),
    "relu": (normal, lambda F, x: F.relu(x)),
    "silu": (normal, lambda F, x: F.silu(x)),
    "leaky_relu": (normal, lambda F, x: F.leaky_relu(x, negative_slope=0.2)),
    "elu": (normal, lambda F, x: F.elu(x)),
    "elu_alpha": (normal, lambda F, x: F.elu(3.0 * x, alpha=0.5)),
    "tanh": (normal, lambda F, x: F.tanh(x)),
    "sigmoid": (normal, lambda F, x: F.sigmoid(x)),
    "softmax": (normal, lambda F, x: F.softmax(x, axis=1)),
    "exp": (normal, lambda F, x: F.exp(x)),
    "log": (positive, lambda F, x: F.log(x)),
    "sqrt": (positive, lambda F, x: F.sqrt(x)),
    "abs": (normal, lambda F, x: F.abs(x)),
    "mean": (normal, lambda F, x: F.mean(x, axis=1, keepdims=True)),
    "sum": (normal, lambda F, x: F.sum(x, axis=(1, 2))),
    "matmul": (pair, lambda F, a, b: F.matmul(a, b)),
    "reshape": (normal, lambda F, x: F.reshape(x, (-1, 2, x.shape[-1] // 2))),
    "transpose": (normal, lambda F, x: F.transpose(x, (2, 0, 1))),
    "swapaxes": (normal, lambda F, x: F.swapaxes(x, 0, 2)),
    "concat": (normal, lambda F, x: F.concat([x, 2 * x], axis=1)),
    "split": (normal, lambda F, x: F.split(x, 2)),
    "split_axis": (normal, lambda F, x: F.split(x, 3, axis=1)),
    "pad_zeros": (normal, lambda F, x: F.pad(x, 1, 2, axis=1)),
    "pad_reflect": (normal, lambda F, x: F.pad(x, 2, 3, axis=1, mode="reflect")),
    "avg_pool1d": (normal, lambda F, x: F.avg_pool1d(x, 3, stride=2, padding=1)),
    "avg_pool1d_default": (normal, lambda F, x: F.avg_pool1d(x, 2)),
    "max_pool1d": (normal, lambda F, x: F.max_pool1d(x, 3, stride=2, padding=1)),
    "avg_pool2d": (
        image,
        lambda F, x: F.avg_pool2d(x, (3, 2), stride=(2, 1), padding=(1, 0)),
    ),
    "max_pool2d": (
        image,
        lambda F, x: F.max_pool2d(x, (3, 2), stride=(2, 1), padding=(1, 0)),
    ),
    "max_pool2d_default": (image, lambda F, x: F.max_pool2d(x, 2)),
    "flatten": (normal, lambda F, x: F.flatten(x)),
    "sinusoidal": (times, lambda F, x: F.sinusoidal(x, 8)),
}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("case", sorted(FUNCTION_CASES))
def test_functions_match_reference(backend, case, shape):
    make_inputs, call = FUNCTION_CASES[case]
    inputs = make_inputs(np.random.default_rng(1), shape)
    expected = call(reference, *inputs)
    layers = backend.module("layers")
    actual = compiled(backend, lambda *values: call(layers, *values))(
        *[backend.array(value) for value in inputs]
    )
    if isinstance(expected, list):
        assert len(actual) == len(expected)
        for part, expected_part in zip(actual, expected):
            assert_close(backend.numpy(part), expected_part)
    else:
        assert_close(backend.numpy(actual), expected)


def test_split_error_names_the_size(backend):
    x = backend.array(np.zeros((2, 5)))
    with pytest.raises(
        ValueError, match=r"^split: sections = 2 does not divide axis 1 of size 5$"
    ):
        backend.module("layers").split(x, 2)


def test_reshape_error_names_both_shapes(backend):
    x = backend.array(np.zeros((2, 6)))
    with pytest.raises(
        ValueError,
        match=r"reshape: cannot reshape an input of shape \[2, 6\] \(12 values\) to \[5, -1\]",
    ):
        backend.module("layers").reshape(x, (5, -1))


# ----------------------------------------------------------------------------- layers


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_linear(backend, rng, shape, bias):
    layer, arrays = build(
        backend, "Linear", rng, in_features=shape[-1], out_features=5, bias=bias
    )
    x = f32(rng.normal(size=shape))
    assert_close(
        run(backend, layer, x),
        reference.linear(x, arrays["weight"], arrays.get("bias")),
    )


@pytest.mark.parametrize("bias", [True, False])
def test_a_tied_linear_uses_the_weight_it_is_given(backend, rng, bias):
    """``Linear(tied=True)`` owns no weight (only its bias) and multiplies by the one each
    call passes; called without it, or an untied layer called with one, is a ValueError."""
    layer, arrays = build(backend, "Linear", rng, in_features=4, out_features=6, bias=bias, tied=True)
    assert sorted(arrays) == (["bias"] if bias else [])
    weight, x = f32(rng.normal(size=(6, 4))), f32(rng.normal(size=(2, 3, 4)))
    assert_close(run(backend, layer, x, weight), reference.linear(x, weight, arrays.get("bias")))
    with pytest.raises(ValueError, match="^Linear: this layer needs the weight it is tied to$"):
        layer(backend.array(x))
    untied, _ = build(backend, "Linear", rng, in_features=4, out_features=6)
    with pytest.raises(ValueError, match="^Linear: this layer has its own weight and takes none$"):
        untied(backend.array(x), backend.array(weight))


def convolution_reference(kind, arrays, arguments, x):
    weight = arrays.get("weight")
    if weight is None:
        weight = reference.weight_norm(arrays["weight_g"], arrays["weight_v"])
    options = {
        key: value
        for key, value in arguments.items()
        if key
        not in ("in_channels", "out_channels", "kernel_size", "bias", "weight_norm")
    }
    function = {
        "Conv1d": reference.conv1d,
        "Conv2d": reference.conv2d,
        "ConvTranspose1d": reference.conv_transpose1d,
    }[kind]
    return function(x, weight, arrays.get("bias"), **options)


CONV1D_CASES = {
    "plain": dict(in_channels=4, out_channels=6, kernel_size=3),
    "stride_padding": dict(
        in_channels=4, out_channels=5, kernel_size=3, stride=2, padding=1
    ),
    "dilation_same": dict(
        in_channels=4, out_channels=6, kernel_size=3, dilation=2, padding="same"
    ),
    "even_kernel_same": dict(
        in_channels=4, out_channels=6, kernel_size=4, padding="same"
    ),
    "groups": dict(
        in_channels=4, out_channels=6, kernel_size=3, groups=2, padding=1, bias=False
    ),
    "depthwise": dict(in_channels=4, out_channels=4, kernel_size=3, groups=4),
    "reflect": dict(
        in_channels=4, out_channels=6, kernel_size=5, padding=2, padding_mode="reflect"
    ),
    "weight_norm": dict(
        in_channels=4, out_channels=6, kernel_size=3, stride=2, weight_norm=True
    ),
}


@pytest.mark.parametrize("steps", [9, 12])
@pytest.mark.parametrize("case", sorted(CONV1D_CASES))
def test_conv1d(backend, rng, case, steps):
    arguments = CONV1D_CASES[case]
    layer, arrays = build(backend, "Conv1d", rng, **arguments)
    x = f32(rng.normal(size=(2, steps, arguments["in_channels"])))
    assert_close(
        run(backend, layer, x), convolution_reference("Conv1d", arrays, arguments, x)
    )


CONV2D_CASES = {
    "plain": dict(in_channels=2, out_channels=4, kernel_size=3),
    "pairs": dict(
        in_channels=2, out_channels=4, kernel_size=(5, 1), stride=(3, 1), padding=(2, 0)
    ),
    "dilation_same": dict(
        in_channels=2,
        out_channels=3,
        kernel_size=(3, 3),
        dilation=(1, 2),
        padding="same",
    ),
    "groups_weight_norm": dict(
        in_channels=4, out_channels=4, kernel_size=(3, 2), groups=2, weight_norm=True
    ),
    "reflect": dict(
        in_channels=2, out_channels=3, kernel_size=3, padding=1, padding_mode="reflect"
    ),
}


@pytest.mark.parametrize("size", [(7, 6), (9, 5)], ids=str)
@pytest.mark.parametrize("case", sorted(CONV2D_CASES))
def test_conv2d(backend, rng, case, size):
    arguments = CONV2D_CASES[case]
    layer, arrays = build(backend, "Conv2d", rng, **arguments)
    x = f32(rng.normal(size=(2,) + size + (arguments["in_channels"],)))
    assert_close(
        run(backend, layer, x), convolution_reference("Conv2d", arrays, arguments, x)
    )


# (case, expected output length for an input of length 7: torch's formula
#  (T - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1)
TRANSPOSED_CASES = {
    "plain": (dict(in_channels=4, out_channels=6, kernel_size=3), 9),
    "upsample": (
        dict(in_channels=4, out_channels=6, kernel_size=4, stride=2, padding=1),
        14,
    ),
    "output_padding_groups": (
        dict(
            in_channels=4,
            out_channels=6,
            kernel_size=3,
            stride=2,
            padding=1,
            output_padding=1,
            groups=2,
        ),
        14,
    ),
    "dilation_large_padding": (
        dict(
            in_channels=4,
            out_channels=3,
            kernel_size=3,
            stride=3,
            padding=5,
            dilation=2,
        ),
        13,
    ),
    "weight_norm": (
        dict(
            in_channels=4,
            out_channels=6,
            kernel_size=5,
            stride=3,
            weight_norm=True,
            bias=False,
        ),
        23,
    ),
}


@pytest.mark.parametrize("case", sorted(TRANSPOSED_CASES))
def test_conv_transpose1d(backend, rng, case):
    arguments, length = TRANSPOSED_CASES[case]
    layer, arrays = build(backend, "ConvTranspose1d", rng, **arguments)
    x = f32(rng.normal(size=(2, 7, arguments["in_channels"])))
    expected = convolution_reference("ConvTranspose1d", arrays, arguments, x)
    assert expected.shape == (2, length, arguments["out_channels"])
    assert_close(run(backend, layer, x), expected)


def test_reference_conv_transpose_is_the_adjoint_of_conv(rng):
    """<conv(x, w), y> == <x, conv_transpose(y, w)>: the reference's own consistency."""
    weight = rng.normal(size=(6, 2, 3))
    x = rng.normal(size=(2, 11, 4))
    y = rng.normal(size=(2, 6, 6))
    forward = reference.conv1d(x, weight, stride=2, padding=1, groups=2)
    backward = reference.conv_transpose1d(y, weight, stride=2, padding=1, groups=2)
    assert forward.shape == y.shape and backward.shape == x.shape
    assert np.isclose(np.sum(forward * y), np.sum(x * backward))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("affine", [True, False])
def test_norms(backend, rng, shape, affine):
    x = f32(rng.normal(size=shape) * 3 + 1)
    dim = shape[-1]
    layer, arrays = build(backend, "LayerNorm", rng, dim=dim, affine=affine)
    assert_close(
        run(backend, layer, x),
        reference.layer_norm(x, arrays.get("weight"), arrays.get("bias")),
    )
    layer, arrays = build(
        backend,
        "GroupNorm",
        rng,
        num_groups=2,
        num_channels=dim,
        eps=1e-3,
        affine=affine,
    )
    assert_close(
        run(backend, layer, x),
        reference.group_norm(x, 2, arrays.get("weight"), arrays.get("bias"), eps=1e-3),
    )
    layer, arrays = build(backend, "RMSNorm", rng, dim=dim, affine=affine)
    assert_close(run(backend, layer, x), reference.rms_norm(x, arrays.get("weight")))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_layer_norm_without_bias(backend, rng, shape):
    """``LayerNorm(dim, bias=False)`` (GPT-2 / nanoGPT): a scale and no bias, as the reference."""
    x = f32(rng.normal(size=shape) * 3 + 1)
    layer, arrays = build(backend, "LayerNorm", rng, dim=shape[-1], bias=False)
    assert sorted(arrays) == ["weight"]
    assert sorted(backend.module("state").state_dict(layer)) == ["weight"]
    assert_close(run(backend, layer, x), reference.layer_norm(x, arrays["weight"], None))


def test_group_norm_on_images(backend, rng):
    x = f32(rng.normal(size=(2, 4, 3, 6)))
    layer, arrays = build(backend, "GroupNorm", rng, num_groups=3, num_channels=6)
    assert_close(
        run(backend, layer, x),
        reference.group_norm(x, 3, arrays["weight"], arrays["bias"]),
    )


@pytest.mark.parametrize("shape", [(2, 5), (3, 2, 4)], ids=str)
def test_embedding(backend, rng, shape):
    layer, arrays = build(backend, "Embedding", rng, num_embeddings=10, dim=3)
    ids = rng.integers(0, 10, size=shape)
    actual = backend.numpy(layer(backend.array(ids, dtype=np.int32)))
    assert_close(actual, reference.embedding(ids, arrays["weight"]))


ATTENTION_CASES = {
    "self": dict(dim=8, num_heads=2),
    "causal": dict(dim=8, num_heads=4, causal=True),
    "no_bias": dict(dim=6, num_heads=3, bias=False),
}


@pytest.mark.parametrize("steps", [5, 7])
@pytest.mark.parametrize("case", sorted(ATTENTION_CASES))
def test_multi_head_attention(backend, rng, case, steps):
    arguments = ATTENTION_CASES[case]
    layer, arrays = build(backend, "MultiHeadAttention", rng, **arguments)
    x = f32(rng.normal(size=(2, steps, arguments["dim"])))
    expected = reference.multi_head_attention(
        x, arrays, arguments["num_heads"], arguments.get("causal", False)
    )
    assert_close(run(backend, layer, x), expected)


def test_causal_mask_hides_the_future(backend, rng):
    """Changing the last step leaves the outputs at earlier steps unchanged."""
    layer, _ = build(
        backend, "MultiHeadAttention", rng, dim=4, num_heads=2, causal=True
    )
    x = f32(rng.normal(size=(1, 6, 4)))
    changed = x.copy()
    changed[:, -1] += 5.0
    first, second = run(backend, layer, x), run(backend, layer, changed)
    np.testing.assert_array_equal(first[:, :-1], second[:, :-1])
    assert not np.allclose(first[:, -1], second[:, -1])


def test_cross_attention(backend, rng):
    layer, arrays = build(backend, "MultiHeadAttention", rng, dim=4, num_heads=2)
    x, context = f32(rng.normal(size=(2, 3, 4))), f32(rng.normal(size=(2, 7, 4)))
    actual = backend.numpy(layer(backend.array(x), context=backend.array(context)))
    assert_close(actual, reference.multi_head_attention(x, arrays, 2, context=context))


LAYER_ARGUMENTS = {
    "Linear": dict(in_features=3, out_features=4),
    "Conv1d": dict(
        in_channels=4, out_channels=6, kernel_size=3, groups=2, weight_norm=True
    ),
    "Conv2d": dict(in_channels=2, out_channels=3, kernel_size=(3, 1)),
    "ConvTranspose1d": dict(in_channels=4, out_channels=6, kernel_size=3, groups=2),
    "LayerNorm": dict(dim=5),
    "LayerNorm_no_bias": dict(dim=5, bias=False),
    "GroupNorm": dict(num_groups=2, num_channels=4, affine=False),
    "RMSNorm": dict(dim=5),
    "Embedding": dict(num_embeddings=7, dim=3),
    "MultiHeadAttention": dict(dim=4, num_heads=2, bias=False),
    "Dropout": dict(rate=0.1),
}


@pytest.mark.parametrize("kind", sorted(LAYER_ARGUMENTS))
def test_constructors_build_the_table_zero_filled(backend, kind):
    """Every class creates exactly the parameters ``layer_parameters`` lists, zero-filled."""
    layer_kind = kind.partition("_")[0]
    layer = getattr(backend.module("layers"), layer_kind)(**LAYER_ARGUMENTS[kind])
    arrays = backend.module("state").state_dict(layer)
    table = layer_parameters(layer_kind, **LAYER_ARGUMENTS[kind])
    assert {name: array.shape for name, array in arrays.items()} == {
        parameter.name: parameter.shape for parameter in table
    }
    assert all(
        array.dtype == np.float32 and not array.any() for array in arrays.values()
    )


def test_constructor_errors_are_identical(backend):
    layers = backend.module("layers")
    with pytest.raises(
        ValueError, match=r"^Conv1d: groups = 4 does not divide out_channels of size 6$"
    ):
        layers.Conv1d(4, 6, 3, groups=4)
    with pytest.raises(
        ValueError,
        match=r"^Conv2d: padding = 'same' needs stride 1, got stride \(2, 2\)$",
    ):
        layers.Conv2d(4, 6, 3, stride=2, padding="same")
    with pytest.raises(
        ValueError,
        match=r"^Conv1d: padding_mode must be one of 'zeros', 'reflect', got 'circular'$",
    ):
        layers.Conv1d(4, 6, 3, padding_mode="circular")
    with pytest.raises(
        ValueError,
        match=r"^Linear: expected 3 channels on the last axis, got input of shape \[2, 4\]$",
    ):
        layers.Linear(3, 2)(backend.array(np.zeros((2, 4))))


# ----------------------------------------------------------------------------- dropout


def test_dropout_is_the_identity_in_eval_mode(backend, rng):
    layer = backend.module("layers").Dropout(0.5)
    layer.eval()
    x = f32(rng.normal(size=(4, 8)))
    np.testing.assert_array_equal(run(backend, layer, x), x.astype(np.float32))


def test_dropout_in_training_masks_and_rescales(backend):
    layer = backend.module("layers").Dropout(0.25)
    layer.train()
    state = backend.module("state")
    state.seed_dropout(layer, 7)
    first = backend.numpy(layer(backend.array(np.ones((64, 64)))))
    second = backend.numpy(layer(backend.array(np.ones((64, 64)))))
    state.seed_dropout(layer, 7)
    again = backend.numpy(layer(backend.array(np.ones((64, 64)))))
    assert set(np.unique(first)) <= {0.0, np.float32(1 / 0.75)}
    assert abs(np.mean(first == 0) - 0.25) < 0.03  # 4096 draws: 5 standard deviations
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, again)


# ----------------------------------------------------------------------------- forward-mode AD


def jvp(backend, function, primals, tangents):
    """``(function(*primals), d function . tangents)`` with the backend's own forward mode."""
    primals = tuple(backend.array(value) for value in primals)
    tangents = tuple(backend.array(value) for value in tangents)
    if backend.name == "jax":
        import jax

        # One compiled program: eager jvp compiles every primitive separately (slow).
        output, tangent = jax.jit(lambda p, t: jax.jvp(function, p, t))(
            primals, tangents
        )
    elif backend.name == "torch":
        import torch.func

        output, tangent = torch.func.jvp(function, primals, tangents)
    else:
        import mlx.core as mx

        (output,), (tangent,) = mx.jvp(function, list(primals), list(tangents))
    return backend.numpy(output), backend.numpy(tangent)


def finite_difference(function, primals, tangents, step=1e-4):
    """Central difference in float64: ``(f(p + h t) - f(p - h t)) / 2h``."""
    plus = function(*[p + step * t for p, t in zip(primals, tangents)])
    minus = function(*[p - step * t for p, t in zip(primals, tangents)])
    return (plus - minus) / (2 * step)


def conv_stack(backend, rng):
    """Conv1d (weight norm, reflect) -> gelu -> ConvTranspose1d -> Conv2d on [B, T, C, 1]."""
    layers = backend.module("layers")
    first, first_arrays = build(
        backend,
        "Conv1d",
        rng,
        in_channels=3,
        out_channels=4,
        kernel_size=3,
        padding=1,
        padding_mode="reflect",
        weight_norm=True,
    )
    second, second_arrays = build(
        backend,
        "ConvTranspose1d",
        rng,
        in_channels=4,
        out_channels=2,
        kernel_size=4,
        stride=2,
        padding=1,
        groups=2,
    )
    third, third_arrays = build(
        backend,
        "Conv2d",
        rng,
        in_channels=1,
        out_channels=2,
        kernel_size=(3, 2),
        padding=(1, 0),
    )

    def model(x):
        h = second(layers.gelu(first(x)))
        return third(layers.reshape(h, (h.shape[0], h.shape[1], h.shape[2], 1)))

    def expected(x):
        g = (
            first_arrays["weight_g"]
            * first_arrays["weight_v"]
            / np.sqrt(np.sum(first_arrays["weight_v"] ** 2, axis=(1, 2), keepdims=True))
        )
        h = reference.conv1d(
            x, g, first_arrays["bias"], padding=1, padding_mode="reflect"
        )
        h = reference.conv_transpose1d(
            reference.gelu(h),
            second_arrays["weight"],
            second_arrays["bias"],
            2,
            1,
            groups=2,
        )
        return reference.conv2d(
            h[..., None], third_arrays["weight"], third_arrays["bias"], padding=(1, 0)
        )

    return model, expected, (2, 6, 3)


def attention_stack(backend, rng):
    """Causal MultiHeadAttention -> LayerNorm -> gelu(tanh), residual."""
    layers = backend.module("layers")
    attend, attend_arrays = build(
        backend, "MultiHeadAttention", rng, dim=4, num_heads=2, causal=True
    )
    norm, norm_arrays = build(backend, "LayerNorm", rng, dim=4)

    def model(x):
        return x + layers.gelu(norm(attend(x)), approximate="tanh")

    def expected(x):
        h = reference.multi_head_attention(x, attend_arrays, 2, causal=True)
        return x + reference.gelu(
            reference.layer_norm(h, norm_arrays["weight"], norm_arrays["bias"]),
            approximate="tanh",
        )

    return model, expected, (2, 5, 4)


@pytest.mark.parametrize(
    "stack", [conv_stack, attention_stack], ids=["conv", "attention"]
)
def test_jvp_matches_finite_differences(backend, rng, stack):
    model, expected, shape = stack(backend, rng)
    x, tangent = f32(rng.normal(size=shape)), f32(rng.normal(size=shape))
    output, output_tangent = jvp(backend, model, (x,), (tangent,))
    assert_close(output, expected(x))
    # JVP tolerance: float32 forward mode against a float64 central difference.
    assert_close(
        output_tangent,
        finite_difference(expected, (x,), (tangent,)),
        rtol=1e-4,
        atol=1e-5,
    )


def test_mlx_convolution_jvp_covers_weight_tangents_and_grad_of_jvp(rng):
    """The custom JVP rule carries weight tangents, and reverse mode passes through it."""
    mx = pytest.importorskip("mlx.core")
    from specc.runtime.mlx import layers

    x, x_tangent = f32(rng.normal(size=(2, 7, 4))), f32(rng.normal(size=(2, 7, 4)))
    weight, weight_tangent = f32(rng.normal(size=(6, 2, 3))), f32(
        rng.normal(size=(6, 2, 3))
    )
    layer = layers.Conv1d(4, 6, 3, stride=2, groups=2, bias=False)

    def apply(inputs, kernel):
        layer.weight = kernel
        return layer(inputs)

    def expected(inputs, kernel):
        return reference.conv1d(inputs, kernel, stride=2, groups=2)

    primals, tangents = [mx.array(x), mx.array(weight)], [
        mx.array(x_tangent),
        mx.array(weight_tangent),
    ]
    _, (tangent,) = mx.jvp(apply, primals, tangents)
    assert_close(
        np.array(tangent),
        finite_difference(expected, (x, weight), (x_tangent, weight_tangent)),
        rtol=1e-4,
        atol=1e-5,
    )

    def tangent_sum(kernel):
        return mx.sum(
            mx.jvp(lambda inputs: apply(inputs, kernel), [primals[0]], [tangents[0]])[
                1
            ][0]
            ** 2
        )

    gradient = np.array(mx.grad(tangent_sum)(mx.array(weight)))

    def expected_sum(kernel):
        return np.sum(
            expected(x_tangent, kernel) ** 2
        )  # the x-tangent of conv(x, w) is conv(dx, w)

    directional = finite_difference(expected_sum, (weight,), (weight_tangent,))
    assert np.isclose(np.sum(gradient * weight_tangent), directional, rtol=1e-4)


RUNTIME_ERRORS = {
    "short_input": (
        lambda layers: layers.Conv1d(2, 2, 5, dilation=2),
        (1, 6, 2),
        r"^Conv1d: input of length 6 \(padded to 6\) is shorter than the dilated kernel of length 9$",
    ),
    "reflect_too_wide": (
        lambda layers: layers.Conv2d(2, 2, 5, padding=(1, 3), padding_mode="reflect"),
        (1, 8, 3, 2),
        r"^Conv2d: reflect padding of 3 needs an axis longer than that, got size 3$",
    ),
    "short_reflect": (
        lambda layers: layers.Conv1d(2, 2, 7, padding=1, padding_mode="reflect"),
        (1, 4, 2),
        r"^Conv1d: input of length 4 \(padded to 6\) is shorter than the dilated kernel of length 7$",
    ),
    "channels": (
        lambda layers: layers.ConvTranspose1d(3, 2, 3),
        (1, 4, 2),
        r"^ConvTranspose1d: expected 3 channels on the last axis, got input of shape \[1, 4, 2\]$",
    ),
    "rank": (
        lambda layers: layers.Conv2d(2, 2, 3),
        (1, 8, 2),
        r"^Conv2d: input must have 4 axes, got shape \[1, 8, 2\]$",
    ),
}


@pytest.mark.parametrize("case", sorted(RUNTIME_ERRORS))
def test_call_errors_are_identical(backend, case):
    make, shape, message = RUNTIME_ERRORS[case]
    layer = make(backend.module("layers"))
    with pytest.raises(ValueError, match=message):
        layer(backend.array(np.zeros(shape)))


CLASSES = sorted({kind.partition("_")[0] for kind in LAYER_ARGUMENTS})
FUNCTIONS = sorted(
    "gelu relu silu leaky_relu elu tanh sigmoid softmax exp log sqrt abs mean sum matmul reshape "
    "transpose swapaxes concat split pad avg_pool1d max_pool1d avg_pool2d max_pool2d flatten "
    "sinusoidal positions attention".split()
)


def test_signatures_are_identical_across_backends():
    """Same class and function names, parameter names and defaults everywhere; the reference
    has the same unparametrised functions."""
    import inspect

    from .conftest import BACKENDS, _load

    def signature(function):
        return [
            (name, parameter.default)
            for name, parameter in inspect.signature(function).parameters.items()
        ]

    modules = {name: _load(name).module("layers") for name in BACKENDS}
    for name in FUNCTIONS:
        expected = signature(getattr(reference, name))
        for backend_name, module in modules.items():
            assert signature(getattr(module, name)) == expected, (backend_name, name)
    for name in CLASSES:
        expected = signature(getattr(modules["torch"], name).__init__)
        for backend_name, module in modules.items():
            assert signature(getattr(module, name).__init__) == expected, (
                backend_name,
                name,
            )
