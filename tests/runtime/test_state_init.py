"""Parameter state (state_dict / load_state_dict) on every backend, numpy initialisation,
and the same initialised arrays giving the same outputs on jax, torch and mlx."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from specc.compiler.ir import Parameter
from specc.runtime.init import initialize, layer_parameters
from specc.runtime.reference import layers as reference

from .conftest import BACKENDS, _load


def container(backend, **children):
    """A bare module of the backend holding ``children``; a list becomes a list of
    sub-modules (``nnx.List`` on jax, ``nn.ModuleList`` on torch, a plain list on mlx).
    """
    if backend.name == "jax":
        from flax import nnx

        module = nnx.Module()
        wrap = nnx.List
    elif backend.name == "torch":
        from torch import nn

        module = nn.Module()
        wrap = nn.ModuleList
    else:
        from mlx import nn

        module = nn.Module()
        wrap = list
    for name, child in children.items():
        setattr(module, name, wrap(child) if isinstance(child, list) else child)
    return module


def named_parameters(prefix_to_layer):
    """``(full name, Parameter)`` for layers given as ``{prefix: (kind, arguments)}``."""
    return [
        (f"{prefix}.{parameter.name}", parameter)
        for prefix, (kind, arguments) in prefix_to_layer.items()
        for parameter in layer_parameters(kind, **arguments)
    ]


# ----------------------------------------------------------------------------- state


def small_model(backend):
    layers = backend.module("layers")
    return container(
        backend,
        blocks=[layers.Linear(3, 3), layers.Linear(3, 3, bias=False)],
        norm=layers.LayerNorm(3),
        conv=layers.Conv1d(3, 2, 3, weight_norm=True),
        attention=layers.MultiHeadAttention(4, 2),
        dropout=layers.Dropout(0.1),
    )


EXPECTED_SHAPES = {
    "attention.key.bias": (4,),
    "attention.key.weight": (4, 4),
    "attention.out.bias": (4,),
    "attention.out.weight": (4, 4),
    "attention.query.bias": (4,),
    "attention.query.weight": (4, 4),
    "attention.value.bias": (4,),
    "attention.value.weight": (4, 4),
    "blocks.0.bias": (3,),
    "blocks.0.weight": (3, 3),
    "blocks.1.weight": (3, 3),
    "conv.bias": (2,),
    "conv.weight_g": (2, 1, 1),
    "conv.weight_v": (2, 3, 3),
    "norm.bias": (3,),
    "norm.weight": (3,),
}


def test_state_dict_names_shapes_and_round_trip(backend, rng):
    state = backend.module("state")
    model = small_model(backend)
    arrays = state.state_dict(model)
    assert list(arrays) == sorted(EXPECTED_SHAPES)
    assert {name: array.shape for name, array in arrays.items()} == EXPECTED_SHAPES
    assert state.parameter_count(model) == sum(
        int(np.prod(shape)) for shape in EXPECTED_SHAPES.values()
    )
    new = {
        name: rng.normal(size=shape).astype(np.float32)
        for name, shape in EXPECTED_SHAPES.items()
    }
    state.load_state_dict(model, new)
    loaded = state.state_dict(model)
    for name in EXPECTED_SHAPES:
        np.testing.assert_array_equal(loaded[name], new[name])
    fresh = small_model(backend)
    state.load_state_dict(fresh, loaded)
    x = backend.array(rng.normal(size=(2, 3)))
    np.testing.assert_array_equal(
        backend.numpy(fresh.blocks[1](x)), backend.numpy(model.blocks[1](x))
    )


LOAD_ERRORS = [
    (
        "missing",
        lambda arrays: arrays.pop("norm.bias"),
        r"^load_state_dict: parameter 'norm.bias' of shape \[3\] is missing from the given arrays$",
    ),
    (
        "unknown",
        lambda arrays: arrays.update({"norm.scale": np.zeros(3)}),
        r"^load_state_dict: unknown parameter 'norm.scale' of shape \[3\]; the model has no parameter of that name$",
    ),
    (
        "shape",
        lambda arrays: arrays.update({"blocks.1.weight": np.zeros((3, 4))}),
        r"^load_state_dict: parameter 'blocks.1.weight' has shape \[3, 3\] in the model but \[3, 4\] in the given arrays$",
    ),
]


@pytest.mark.parametrize("case", LOAD_ERRORS, ids=[case[0] for case in LOAD_ERRORS])
def test_load_state_dict_errors_name_the_parameter_and_shapes(backend, case):
    _, change, message = case
    state = backend.module("state")
    model = small_model(backend)
    arrays = {
        name: np.ones(shape, np.float32) for name, shape in EXPECTED_SHAPES.items()
    }
    change(arrays)
    with pytest.raises(ValueError, match=message):
        state.load_state_dict(model, arrays)
    assert not state.state_dict(model)["blocks.0.weight"].any()  # nothing was loaded


def test_jax_dropout_rng_lives_in_the_split_state():
    """A jitted pure step over ``nnx.split`` state advances the dropout key, and reseeding
    reproduces the masks."""
    jax = pytest.importorskip("jax")
    from flax import nnx

    from specc.runtime.jax import layers, state

    model = container(_load("jax"), dropout=layers.Dropout(0.5))
    graph, variables = nnx.split(model)

    @jax.jit
    def step(variables, x):
        module = nnx.merge(graph, variables)
        y = module.dropout(x)
        return nnx.state(module), y

    x = jax.numpy.ones((4, 16))
    state.seed_dropout(model, 3)
    graph, variables = nnx.split(model)
    variables, first = step(variables, x)
    variables, second = step(variables, x)
    state.seed_dropout(model, 3)
    _, variables = nnx.split(model)
    _, again = step(variables, x)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, again)


# ----------------------------------------------------------------------------- init


PARAMETERS = named_parameters(
    {
        "encoder.linear": ("Linear", dict(in_features=16, out_features=32)),
        "encoder.conv": (
            "Conv1d",
            dict(
                in_channels=4, out_channels=8, kernel_size=5, groups=2, weight_norm=True
            ),
        ),
        "encoder.norm": ("LayerNorm", dict(dim=32)),
        "embed": ("Embedding", dict(num_embeddings=50, dim=8)),
        "up": (
            "ConvTranspose1d",
            dict(in_channels=8, out_channels=4, kernel_size=4, stride=2),
        ),
    }
)


def test_initialize_is_deterministic_and_keyed_by_name():
    first = initialize(PARAMETERS, seed=5)
    assert list(first) == sorted(name for name, _ in PARAMETERS)
    again = initialize(reversed(PARAMETERS), seed=5)
    other = initialize(PARAMETERS, seed=6)
    extended = initialize(
        PARAMETERS + [("extra.weight", Parameter("weight", (3, 3), "normal"))], seed=5
    )
    for name, array in first.items():
        assert array.dtype == np.float32
        np.testing.assert_array_equal(array, again[name])
        np.testing.assert_array_equal(array, extended[name])
        if name.endswith(("weight", "weight_v")) and "norm" not in name:
            assert not np.array_equal(array, other[name])


def test_initialize_values():
    arrays = initialize(PARAMETERS, seed=0)
    weight = arrays["encoder.linear.weight"]
    bound = 1 / np.sqrt(16)
    assert np.all(np.abs(weight) <= bound) and np.abs(weight).max() > 0.95 * bound
    assert (
        abs(weight.mean()) < 0.1 * bound
        and abs(weight.std() - bound / np.sqrt(3)) < 0.1 * bound
    )
    conv_bound = 1 / np.sqrt(2 * 5)  # fan_in = in / groups * kernel
    assert np.all(np.abs(arrays["encoder.conv.weight_v"]) <= conv_bound)
    assert np.all(np.abs(arrays["encoder.conv.bias"]) <= conv_bound)
    up_bound = 1 / np.sqrt(4 * 4)  # transposed: fan_in = out / groups * kernel (torch)
    assert (
        np.all(np.abs(arrays["up.weight"]) <= up_bound)
        and np.abs(arrays["up.weight"]).max() > 0.9 * up_bound
    )
    embedding = arrays["embed.weight"]
    assert abs(embedding.mean()) < 0.1 and abs(embedding.std() - 1) < 0.1
    np.testing.assert_array_equal(
        arrays["encoder.norm.weight"], np.ones(32, np.float32)
    )
    np.testing.assert_array_equal(arrays["encoder.norm.bias"], np.zeros(32, np.float32))
    v = arrays["encoder.conv.weight_v"].astype(np.float64)
    norms = np.sqrt(np.sum(v**2, axis=(1, 2), keepdims=True))
    np.testing.assert_allclose(arrays["encoder.conv.weight_g"], norms, rtol=1e-6)
    effective = reference.weight_norm(
        arrays["encoder.conv.weight_g"], arrays["encoder.conv.weight_v"]
    )
    np.testing.assert_allclose(effective, arrays["encoder.conv.weight_v"], rtol=1e-6)


def test_initialize_uses_the_documented_generator():
    """The draw of one parameter is reproducible outside specc from (seed, crc32(name))."""
    name, parameter = "embed.weight", dict(PARAMETERS)["embed.weight"]
    generator = np.random.default_rng([9, zlib.crc32(name.encode())])
    expected = generator.standard_normal(parameter.shape).astype(np.float32)
    np.testing.assert_array_equal(
        initialize([(name, parameter)], seed=9)[name], expected
    )


def test_initialize_errors():
    with pytest.raises(
        ValueError,
        match=r"initialize: init of 'a.weight' must be one of .*got 'xavier'",
    ):
        initialize([("a.weight", Parameter("weight", (2,), "xavier"))], 0)
    with pytest.raises(
        ValueError,
        match=r"initialize: 'a.weight_g' \(weight_norm_g\) needs a sibling parameter 'a.weight_v'",
    ):
        initialize([("a.weight_g", Parameter("weight_g", (2, 1), "weight_norm_g"))], 0)
    with pytest.raises(
        ValueError, match=r"initialize: seed must not be negative, got -1"
    ):
        initialize([("a.weight", Parameter("weight", (2,), "normal"))], -1)


def test_layer_parameters_table():
    assert layer_parameters("Linear", in_features=3, out_features=4) == (
        Parameter("weight", (4, 3), "uniform_fan_in", 3),
        Parameter("bias", (4,), "uniform_fan_in", 3),
    )
    assert layer_parameters(
        "Conv2d",
        in_channels=4,
        out_channels=6,
        kernel_size=(3, 1),
        groups=2,
        weight_norm=True,
        bias=False,
    ) == (
        Parameter("weight_g", (6, 1, 1, 1), "weight_norm_g", 6),
        Parameter("weight_v", (6, 2, 3, 1), "uniform_fan_in", 6),
    )
    assert layer_parameters("LayerNorm", dim=5, affine=False) == ()
    assert layer_parameters("RMSNorm", dim=5) == (Parameter("weight", (5,), "ones"),)
    names = [
        parameter.name
        for parameter in layer_parameters("MultiHeadAttention", dim=4, num_heads=2)
    ]
    assert names == [
        f"{layer}.{local}"
        for layer in ("query", "key", "value", "out")
        for local in ("weight", "bias")
    ]
    with pytest.raises(
        ValueError, match=r"layer_parameters: kind must be one of .*got 'Dense'"
    ):
        layer_parameters("Dense")


# ----------------------------------------------------------------------------- cross-backend

MLP_LAYERS = {
    "first": ("Linear", dict(in_features=6, out_features=8)),
    "norm": ("LayerNorm", dict(dim=8)),
    "last": ("Linear", dict(in_features=8, out_features=3)),
}


def mlp_forward(F, call, x):
    return call("last", F.gelu(call("norm", call("first", x))))


def mlp_reference(arrays, x):
    h = reference.linear(x, arrays["first.weight"], arrays["first.bias"])
    h = reference.gelu(
        reference.layer_norm(h, arrays["norm.weight"], arrays["norm.bias"])
    )
    return reference.linear(h, arrays["last.weight"], arrays["last.bias"])


CONV_LAYERS = {
    "first": (
        "Conv1d",
        dict(
            in_channels=3,
            out_channels=4,
            kernel_size=5,
            padding=2,
            padding_mode="reflect",
            weight_norm=True,
        ),
    ),
    "norm": ("GroupNorm", dict(num_groups=2, num_channels=4)),
    "down": (
        "Conv1d",
        dict(in_channels=4, out_channels=4, kernel_size=3, stride=2, groups=2),
    ),
    "up": (
        "ConvTranspose1d",
        dict(in_channels=4, out_channels=2, kernel_size=4, stride=2, padding=1),
    ),
}


def conv_forward(F, call, x):
    h = F.leaky_relu(call("norm", call("first", x)), 0.1)
    return call("up", F.silu(call("down", h)))


def conv_reference(arrays, x):
    weight = reference.weight_norm(arrays["first.weight_g"], arrays["first.weight_v"])
    h = reference.conv1d(
        x, weight, arrays["first.bias"], padding=2, padding_mode="reflect"
    )
    h = reference.leaky_relu(
        reference.group_norm(h, 2, arrays["norm.weight"], arrays["norm.bias"]), 0.1
    )
    h = reference.silu(
        reference.conv1d(
            h, arrays["down.weight"], arrays["down.bias"], stride=2, groups=2
        )
    )
    return reference.conv_transpose1d(
        h, arrays["up.weight"], arrays["up.bias"], stride=2, padding=1
    )


STACKS = {
    "linear_layernorm_gelu": (MLP_LAYERS, mlp_forward, mlp_reference, (4, 6)),
    "conv": (CONV_LAYERS, conv_forward, conv_reference, (2, 11, 3)),
}


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_initialised_arrays_give_the_same_output_on_every_backend(stack):
    table, forward, expected_forward, shape = STACKS[stack]
    x = np.random.default_rng(3).normal(size=shape).astype(np.float32)
    arrays = initialize(named_parameters(table), seed=11)
    expected = expected_forward(
        {name: array.astype(np.float64) for name, array in arrays.items()},
        x.astype(np.float64),
    )
    outputs = {}
    for name in BACKENDS:
        backend = _load(name)
        layers = backend.module("layers")
        modules = {
            prefix: getattr(layers, kind)(**arguments)
            for prefix, (kind, arguments) in table.items()
        }
        backend.module("state").load_state_dict(container(backend, **modules), arrays)
        output = forward(
            layers, lambda prefix, value: modules[prefix](value), backend.array(x)
        )
        outputs[name] = backend.numpy(output)
        np.testing.assert_allclose(outputs[name], expected, rtol=1e-5, atol=1e-6)
    for name in BACKENDS[1:]:
        np.testing.assert_allclose(
            outputs[name], outputs[BACKENDS[0]], rtol=1e-5, atol=1e-6
        )


ATTENTION_LAYERS = {
    "attend": ("MultiHeadAttention", dict(dim=4, num_heads=2, causal=True)),
    "norm": ("LayerNorm", dict(dim=4)),
}


def attention_forward(F, call, x):
    return x + F.gelu(call("norm", call("attend", x)), approximate="tanh")


def jvp_loss_gradients(backend, model, forward, x, tangent):
    """Gradients by parameter name of ``sum(f(x)) + sum(jvp(f, x, tangent)^2)``: the shape
    of a mean-flow loss, which differentiates through a forward-mode derivative."""
    x, tangent = backend.array(x), backend.array(tangent)
    if backend.name == "jax":
        import jax
        from flax import nnx

        graph, parameters = nnx.split(model)

        def loss(parameters):
            module = nnx.merge(graph, parameters)
            output, output_tangent = jax.jvp(
                lambda value: forward(module, value), (x,), (tangent,)
            )
            return jax.numpy.sum(output) + jax.numpy.sum(output_tangent**2)

        # One compiled program: eager second-order AD compiles every primitive separately.
        gradients = nnx.to_flat_state(jax.jit(jax.grad(loss))(parameters))
        return {
            ".".join(map(str, path)): np.asarray(value[...])
            for path, value in gradients
        }
    if backend.name == "torch":
        import torch.func

        output, output_tangent = torch.func.jvp(
            lambda value: forward(model, value), (x,), (tangent,)
        )
        (output.sum() + (output_tangent**2).sum()).backward()
        return {
            name: parameter.grad.numpy() for name, parameter in model.named_parameters()
        }
    import mlx.core as mx
    from mlx import nn
    from mlx.utils import tree_flatten

    def loss(module):
        (output,), (output_tangent,) = mx.jvp(
            lambda value: forward(module, value), [x], [tangent]
        )
        return mx.sum(output) + mx.sum(output_tangent**2)

    _, gradients = nn.value_and_grad(model, loss)(model)
    return {name: np.array(value) for name, value in tree_flatten(gradients)}


@pytest.mark.parametrize("stack", ["conv", "attention"])
def test_gradient_through_jvp_agrees_across_backends(stack):
    table, forward, shape = {
        "conv": (CONV_LAYERS, conv_forward, (2, 11, 3)),
        "attention": (ATTENTION_LAYERS, attention_forward, (2, 5, 4)),
    }[stack]
    rng = np.random.default_rng(4)
    x, tangent = rng.normal(size=shape).astype(np.float32), rng.normal(
        size=shape
    ).astype(np.float32)
    arrays = initialize(named_parameters(table), seed=2)
    gradients = {}
    for name in BACKENDS:
        backend = _load(name)
        layers = backend.module("layers")
        model = container(
            backend,
            **{
                prefix: getattr(layers, kind)(**arguments)
                for prefix, (kind, arguments) in table.items()
            },
        )
        backend.module("state").load_state_dict(model, arrays)

        def apply(module, value, layers=layers):
            return forward(
                layers, lambda prefix, inner: getattr(module, prefix)(inner), value
            )

        gradients[name] = jvp_loss_gradients(backend, model, apply, x, tangent)
    assert sorted(gradients["jax"]) == sorted(arrays)
    for name in BACKENDS[1:]:
        assert sorted(gradients[name]) == sorted(arrays)
        for parameter in arrays:
            # second-order float32 derivatives of a few-layer stack: looser than the default.
            np.testing.assert_allclose(
                gradients[name][parameter],
                gradients["jax"][parameter],
                rtol=1e-4,
                atol=1e-5,
                err_msg=f"{name} {parameter}",
            )


def torch_native_cases(torch, layers):
    """(specc torch layer, plain torch module with the same arguments, input shape,
    whether the plain module wants channels first)."""
    nn = torch.nn
    return {
        "linear": (layers.Linear(5, 3), nn.Linear(5, 3), (2, 5), False),
        "conv1d": (
            layers.Conv1d(
                4, 6, 3, stride=2, padding=1, groups=2, padding_mode="reflect"
            ),
            nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2, padding_mode="reflect"),
            (2, 9, 4),
            True,
        ),
        "conv1d_weight_norm": (
            layers.Conv1d(3, 4, 3, dilation=2, weight_norm=True),
            nn.utils.weight_norm(nn.Conv1d(3, 4, 3, dilation=2)),
            (2, 9, 3),
            True,
        ),
        "conv2d": (
            layers.Conv2d(2, 3, (3, 2), dilation=(2, 1)),
            nn.Conv2d(2, 3, (3, 2), dilation=(2, 1)),
            (2, 8, 5, 2),
            True,
        ),
        "conv_transpose1d": (
            layers.ConvTranspose1d(
                4, 6, 3, stride=2, padding=1, output_padding=1, groups=2
            ),
            nn.ConvTranspose1d(
                4, 6, 3, stride=2, padding=1, output_padding=1, groups=2
            ),
            (2, 7, 4),
            True,
        ),
        "layer_norm": (layers.LayerNorm(5), nn.LayerNorm(5), (2, 3, 5), False),
        "group_norm": (layers.GroupNorm(2, 4), nn.GroupNorm(2, 4), (2, 6, 4), True),
        "rms_norm": (layers.RMSNorm(5), nn.RMSNorm(5, eps=1e-6), (2, 5), False),
    }


def test_canonical_arrays_load_into_plain_torch_modules():
    """The canonical layout is PyTorch's: the same arrays under the same names load into
    torch.nn's own modules (strict) and give the same outputs."""
    torch = pytest.importorskip("torch")
    import warnings

    from specc.runtime.torch import layers, state

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.nn.utils.weight_norm
        cases = torch_native_cases(torch, layers)
    rng = np.random.default_rng(5)
    for case, (ours, native, shape, channels_first) in cases.items():
        arrays = {
            name: rng.normal(size=array.shape).astype(np.float32)
            for name, array in state.state_dict(ours).items()
        }
        state.load_state_dict(ours, arrays)
        native.load_state_dict(
            {name: torch.from_numpy(array) for name, array in arrays.items()},
            strict=True,
        )
        x = torch.from_numpy(rng.normal(size=shape).astype(np.float32))
        with torch.no_grad():
            expected = native(torch.movedim(x, -1, 1)) if channels_first else native(x)
            expected = torch.movedim(expected, 1, -1) if channels_first else expected
            np.testing.assert_allclose(
                ours(x).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6, err_msg=case
            )
