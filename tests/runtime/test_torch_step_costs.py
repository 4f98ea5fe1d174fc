"""The torch runtime's per-step pieces do what a hand-written step does (issue 12: generated
Lightning scripts at least as fast as hand-written ones): the values stay the composites'
(same losses), and the work is counted, never timed: fused cross-entropy without a mask, one
matmul for the query, key and value of self-attention, one ``_foreach_norm`` for the logged
gradient norm, the non-finite flag updated in place, TF32 switched only on GPUs that have it.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from specc.runtime.composites import losses as composite
from specc.runtime.torch import layers, losses, ops
from specc.runtime.torch import objectives as torch_objectives
from specc.runtime.torch import training as torch_training
from torch.nn import functional as F


class Counting:
    """Wraps a function of a module, counting its calls (monkeypatch restores it)."""

    def __init__(self, monkeypatch, owner, name):
        self.calls = 0
        original = getattr(owner, name)

        def counted(*arguments, **keywords):
            self.calls += 1
            return original(*arguments, **keywords)

        monkeypatch.setattr(owner, name, counted)


# ----------------------------------------------------------------------------- cross-entropy


@pytest.mark.parametrize("shape", [(64, 10), (4, 7, 93)])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cross_entropy_without_ignored_label_is_the_composite_value(shape, smoothing, dtype):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(*shape, generator=generator).to(dtype)
    labels = torch.randint(0, shape[-1], shape[:-1], generator=generator)
    value = losses.cross_entropy(logits, labels, label_smoothing=smoothing)
    expected = composite.cross_entropy(ops, logits, labels, label_smoothing=smoothing)
    assert value.dtype == torch.float32 and value.shape == ()
    assert float(value) == pytest.approx(float(expected), rel=1e-6, abs=1e-6)


def test_cross_entropy_without_ignored_label_is_one_fused_call(monkeypatch):
    fused = Counting(monkeypatch, losses.F, "cross_entropy")
    log_softmax = Counting(monkeypatch, ops, "log_softmax")
    logits = torch.randn(8, 5, requires_grad=True)
    losses.cross_entropy(logits, torch.arange(8) % 5).backward()
    assert (fused.calls, log_softmax.calls) == (1, 0)
    assert logits.grad is not None


def test_cross_entropy_with_ignored_label_keeps_the_masked_mean(monkeypatch):
    fused = Counting(monkeypatch, losses.F, "cross_entropy")
    logits = torch.randn(2, 6, 9)
    labels = torch.tensor([[1, 2, -1, 3, -1, 0], [-1, -1, 4, 5, 6, 7]])
    value = losses.cross_entropy(logits, labels, ignore_index=-1, label_smoothing=0.1)
    expected = composite.cross_entropy(ops, logits, labels, ignore_index=-1, label_smoothing=0.1)
    assert float(value) == pytest.approx(float(expected), rel=1e-6)
    assert fused.calls == 0
    everything_ignored = losses.cross_entropy(logits, torch.full((2, 6), -1), ignore_index=-1)
    assert float(everything_ignored) == 0.0  # torch's own mean would be NaN


def test_cross_entropy_keeps_the_composites_errors():
    with pytest.raises(ValueError, match=r"cross_entropy: logits without the class axis has shape \[4\]"):
        losses.cross_entropy(torch.zeros(4, 3), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"cross_entropy: label_smoothing must be in \[0, 1\), got 1.0"):
        losses.cross_entropy(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), label_smoothing=1.0)


# ----------------------------------------------------------------------------- attention


def filled_attention(**options):
    layer = layers.MultiHeadAttention(16, 4, **options)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return layer


def written_out(layer, x, context=None):
    """The attention with three separate projections (the layer before the fused qkv)."""
    source = x if context is None else context
    return layer.out(layers.attention(layer.query(x), layer.key(source), layer.value(source), layer.num_heads, layer.causal))


@pytest.mark.parametrize("cross", [False, True])
def test_attention_projects_with_one_matmul_per_input(monkeypatch, cross):
    layer = filled_attention(causal=not cross)
    x = torch.randn(2, 5, 16, requires_grad=True)
    context = torch.randn(2, 3, 16) if cross else None
    expected = written_out(layer, x, context)
    counted = Counting(monkeypatch, F, "linear")
    value = layer(x, context)
    # self-attention: qkv + out; cross-attention: query, key-value, out
    assert counted.calls == (3 if cross else 2)
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)
    value.sum().backward()
    assert all(parameter.grad is not None for parameter in layer.parameters())


def test_attention_keeps_parameter_names_and_gradients():
    layer = filled_attention(causal=True)
    reference = filled_attention(causal=True)
    assert list(layer.state_dict()) == [
        f"{name}.{kind}" for name in ("query", "key", "value", "out") for kind in ("weight", "bias")
    ]
    x = torch.randn(3, 4, 16)
    layer(x).square().mean().backward()
    written_out(reference, x).square().mean().backward()
    for (name, parameter), other in zip(layer.named_parameters(), reference.parameters()):
        torch.testing.assert_close(parameter.grad, other.grad, rtol=1e-5, atol=1e-6, msg=name)


def test_attention_without_bias_projects_once():
    layer = filled_attention(bias=False)
    x = torch.randn(2, 3, 16)
    torch.testing.assert_close(layer(x), written_out(layer, x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="Linear: expected 16 channels on the last axis, got input of shape"):
        layer(torch.randn(2, 3, 8))


# ----------------------------------------------------------------------------- step bookkeeping


def test_gradient_norm_is_one_foreach_call(monkeypatch):
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    gradients = []
    for index, parameter in enumerate(model.parameters()):
        parameter.grad = torch.full(parameter.shape, float(index + 1))
        gradients.append(parameter.grad)
    counted = Counting(monkeypatch, torch, "_foreach_norm")
    value = torch_objectives.gradient_norm(model.parameters())
    assert counted.calls == 1
    expected = math.sqrt(sum(float(gradient.double().square().sum()) for gradient in gradients))
    assert float(value) == pytest.approx(expected, rel=1e-6)
    assert value.dtype == torch.float32


def test_gradient_norm_of_half_gradients_does_not_overflow():
    parameter = torch.nn.Parameter(torch.zeros(100, dtype=torch.float16))
    parameter.grad = torch.full((100,), 1000.0, dtype=torch.float16)  # squares beyond fp16's range
    assert float(torch_objectives.gradient_norm([parameter])) == pytest.approx(10000.0)
    assert float(torch_objectives.gradient_norm([torch.nn.Parameter(torch.zeros(2))])) == 0.0  # no gradient


def test_non_finite_flag_is_updated_in_place_and_keeps_the_first_step():
    flag = torch.tensor(-1)
    assert torch_training.note_non_finite(flag, torch.tensor(2.0), 1) is flag
    assert int(flag) == -1
    torch_training.note_non_finite(flag, torch.tensor(float("nan")), 2)
    torch_training.note_non_finite(flag, torch.tensor(float("inf")), 3)
    torch_training.note_non_finite(flag, torch.tensor(1.0), 4)
    assert int(flag) == 2


# ----------------------------------------------------------------------------- TF32


@pytest.fixture
def tf32_flags():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def pretend_gpu(monkeypatch, capability):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)


def test_tf32_changes_nothing_on_the_cpu(tf32_flags):
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    assert torch_training.use_tf32("cpu") is False
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (False, False)


@pytest.mark.parametrize(
    ("capability", "enabled", "expected"),
    [((8, 0), True, True), ((9, 0), True, True), ((7, 5), True, False), ((8, 6), False, False)],
)
def test_tf32_on_gpus_that_have_it_unless_switched_off(monkeypatch, tf32_flags, capability, enabled, expected):
    pretend_gpu(monkeypatch, capability)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = not expected
    assert torch_training.use_tf32("gpu", enabled) is expected
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (expected, expected)


# ----------------------------------------------------------------------------- the loop around the step


class StandInLibrary:
    """A C library that records ``mallopt`` calls (``glibc``: has ``gnu_get_libc_version``)."""

    def __init__(self, glibc=True):
        self.calls = []
        if glibc:
            self.gnu_get_libc_version = lambda: b"2.36"

    def mallopt(self, parameter, value):
        self.calls.append((parameter, value))
        return 1


def test_glibc_keeps_the_memory_a_step_frees_unless_the_user_set_its_variables(monkeypatch):
    from specc.runtime.torch import allocator

    monkeypatch.setattr(allocator.sys, "platform", "linux")
    library = StandInLibrary()
    assert allocator.keep_freed_memory({}, library) is True
    assert library.calls == [(-3, 64 * 2**20), (-1, 256 * 2**20)]  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
    for variable in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"):
        untouched = StandInLibrary()
        assert allocator.keep_freed_memory({variable: "131072"}, untouched) is False and untouched.calls == []
    other = StandInLibrary(glibc=False)  # musl, or jemalloc's mallopt-less symbols
    assert allocator.keep_freed_memory({}, other) is False and other.calls == []
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.keep_freed_memory({}, StandInLibrary()) is False


def test_cpu_values_are_summed_on_the_host_in_float64():
    sums = torch_training.RunningSums()
    for value in (0.1, 0.2, 0.4):
        sums.add({"loss": torch.tensor(value, dtype=torch.float32), "grad_norm": torch.tensor(2 * value)})
    means = sums.means()
    assert set(means) == {"loss", "grad_norm"} and all(mean.dtype == torch.float64 for mean in means.values())
    expected = sum(float(torch.tensor(value, dtype=torch.float32)) for value in (0.1, 0.2, 0.4)) / 3
    assert float(means["loss"]) == expected
    assert sums.means() == {} and sums.totals == {}


def test_fused_optimizers_unless_mixed_precision_clips():
    """``fused=True`` for Adam, AdamW and SGD; not with bf16 / fp16 and grad_clip together
    (Lightning refuses clipping with an optimizer that unscales inside its step)."""
    from specc.compiler.emit import render

    from tests.specs.helpers import check_ok

    def optimizer_call(*overrides):
        text = render.render(check_ok("digits_mlp", overrides, "lightning"), "lightning")
        start = text.index("torch.optim.")
        return text[start : text.index("\n        )", start)]

    assert "fused=True" in optimizer_call()
    assert "fused=True" in optimizer_call("train.precision=bf16")
    assert "fused=True" in optimizer_call("train.grad_clip=1.0")
    assert "fused=True" not in optimizer_call("train.precision=bf16", "train.grad_clip=1.0")


def test_norm_clipping_clips_by_the_logged_norm():
    """With ``train.grad_clip`` (norm) the script clips in ``on_before_optimizer_step`` by the
    norm it logs there (one pass over the gradients a step; the Trainer's clipping computed the
    norm again), and the gradients are those ``clip_grad_norm_`` (the Trainer's) gives. Value
    clipping stays the Trainer's."""
    from specc.compiler.emit import render

    from tests.specs.helpers import check_ok

    def script(*overrides):
        return render.render(check_ok("digits_mlp", overrides, "lightning"), "lightning")

    by_norm = script("train.grad_clip=1.0")
    assert "gradient_clip_val" not in by_norm
    assert "torch.nn.utils.clip_grads_with_norm_(self.model.parameters(), grad_clip, norm)" in by_norm
    assert by_norm.count("gradient_norm(") == 1
    by_value = script("train.grad_clip=1.0", "train.grad_clip_mode=value")
    assert "gradient_clip_val=grad_clip" in by_value and "clip_grads_with_norm_" not in by_value

    torch.manual_seed(0)
    ours, trainers = (torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Linear(7, 3)) for _ in range(2))
    trainers.load_state_dict(ours.state_dict())
    inputs = torch.randn(16, 5) * 30.0
    for model in (ours, trainers):
        model(inputs).square().sum().backward()
    norm = torch_training.gradient_norm(ours.parameters())
    assert float(norm) > 0.5  # the clipping acts
    torch.nn.utils.clip_grads_with_norm_(ours.parameters(), 0.5, norm)
    torch.nn.utils.clip_grad_norm_(trainers.parameters(), 0.5)
    for mine, theirs in zip(ours.parameters(), trainers.parameters()):
        assert torch.equal(mine.grad, theirs.grad)
