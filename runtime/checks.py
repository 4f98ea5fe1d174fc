"""Argument checks shared by every backend of the runtime.

They work on shapes (tuples of ints) and plain values, never on arrays, so the reference
and the jax, torch and mlx runtimes raise exactly the same message for the same mistake.
Append new checks at the end of this file; keep each one a small pure function.
"""

from __future__ import annotations


def format_shape(shape) -> str:
    """``(4, 8)`` -> ``[4, 8]``: shapes in messages are written as in the spec language."""
    return "[" + ", ".join(str(int(size)) for size in shape) + "]"


def check_same_shape(function: str, first_name: str, first_shape, second_name: str, second_shape) -> None:
    """Raise ``ValueError`` naming both shapes when they differ."""
    if tuple(first_shape) != tuple(second_shape):
        raise ValueError(
            f"{function}: {first_name} has shape {format_shape(first_shape)} but "
            f"{second_name} has shape {format_shape(second_shape)}; they must be equal"
        )


def check_rank(function: str, name: str, shape, rank: int) -> None:
    """Raise ``ValueError`` when ``shape`` does not have exactly ``rank`` axes."""
    if len(shape) != rank:
        raise ValueError(f"{function}: {name} must have {rank} axes, got shape {format_shape(shape)}")


def check_min_rank(function: str, name: str, shape, rank: int) -> None:
    """Raise ``ValueError`` when ``shape`` has fewer than ``rank`` axes."""
    if len(shape) < rank:
        raise ValueError(
            f"{function}: {name} must have at least {rank} axes, got shape {format_shape(shape)}"
        )


def check_divisible(function: str, name: str, size: int, divisor_name: str, divisor: int) -> None:
    """Raise ``ValueError`` when ``divisor`` does not divide ``size``."""
    if divisor <= 0 or size % divisor != 0:
        raise ValueError(
            f"{function}: {divisor_name} = {divisor} does not divide {name} of size {size}"
        )


def check_positive(function: str, name: str, value) -> None:
    """Raise ``ValueError`` unless ``value > 0``."""
    if not value > 0:
        raise ValueError(f"{function}: {name} must be positive, got {value}")


def check_choice(function: str, name: str, value, choices) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        allowed = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{function}: {name} must be one of {allowed}, got {value!r}")


def check_time_shape(function: str, name: str, time_shape, data_shape) -> None:
    """Raise ``ValueError`` unless a time array has shape ``[B]`` for data of shape ``[B, ...]``."""
    if len(data_shape) < 1 or tuple(time_shape) != (int(data_shape[0]),):
        raise ValueError(
            f"{function}: {name} has shape {format_shape(time_shape)} but must have shape "
            f"[B] = {format_shape(tuple(data_shape)[:1])} for data of shape {format_shape(data_shape)}"
        )


def check_even(function: str, name: str, value: int) -> None:
    """Raise ``ValueError`` unless ``value`` is a positive even integer."""
    if int(value) != value or value <= 0 or int(value) % 2 != 0:
        raise ValueError(f"{function}: {name} must be a positive even integer, got {value}")


def check_unit_interval(function: str, name: str, value) -> None:
    """Raise ``ValueError`` unless ``0 <= value <= 1``."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{function}: {name} must lie in [0, 1], got {value}")


def check_positive_int(function: str, name: str, value) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer >= 1."""
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{function}: {name} must be a positive integer, got {value}")


def check_vocabulary_range(function: str, lo: int, size: int, logits_shape) -> None:
    """Raise ``ValueError`` unless the id range ``[lo, lo + size)`` fits in the logits' last axis."""
    vocabulary = int(logits_shape[-1]) if len(logits_shape) else 0
    if lo < 0 or lo + size > vocabulary:
        raise ValueError(
            f"{function}: the id range [{lo}, {lo + size}) does not fit in logits of shape "
            f"{format_shape(logits_shape)} (vocabulary size {vocabulary})"
        )


def check_same_length(function: str, first_name: str, first, second_name: str, second) -> None:
    """Raise ``ValueError`` when two lists of arrays differ in length (or one is empty)."""
    if len(first) != len(second) or len(first) == 0:
        raise ValueError(
            f"{function}: {first_name} has {len(first)} entries and {second_name} has "
            f"{len(second)}; they must have the same, non-zero number of entries"
        )


def check_stft_length(function: str, name: str, shape, n_fft: int) -> None:
    """Raise ``ValueError`` when a signal is too short for reflect padding of ``n_fft // 2``."""
    if int(shape[-1]) <= n_fft // 2:
        raise ValueError(
            f"{function}: {name} of shape {format_shape(shape)} is too short for n_fft = {n_fft}: "
            f"reflect padding needs more than {n_fft // 2} samples"
        )


def check_non_negative(function: str, name: str, value) -> None:
    """Raise ``ValueError`` unless ``value >= 0``."""
    if not value >= 0:
        raise ValueError(f"{function}: {name} must be non-negative, got {value}")


def check_fraction(function: str, name: str, value) -> None:
    """Raise ``ValueError`` unless ``0 <= value < 1``."""
    if not 0 <= value < 1:
        raise ValueError(f"{function}: {name} must be in [0, 1), got {value}")


def check_longer_than(function: str, name: str, size: int, minimum_name: str, minimum: int) -> None:
    """Raise ``ValueError`` unless ``size > minimum`` (e.g. reflect padding needs more samples)."""
    if not size > minimum:
        raise ValueError(f"{function}: {name} of size {size} must be greater than {minimum_name} = {minimum}")


# --- layers (runtime/*/layers.py, runtime/*/state.py, runtime/init.py) ---------------------


def normalize_tuple(function: str, name: str, value, rank: int) -> tuple[int, ...]:
    """``3`` -> ``(3,) * rank``; a sequence must have exactly ``rank`` integers."""
    if isinstance(value, (list, tuple)):
        if len(value) != rank:
            raise ValueError(f"{function}: {name} must be an int or {rank} ints, got {tuple(value)}")
        return tuple(int(item) for item in value)
    return (int(value),) * rank


def normalize_axis(function: str, axis: int, rank: int) -> int:
    """A possibly negative axis -> its index in ``range(rank)``."""
    if not -rank <= axis < rank:
        raise ValueError(f"{function}: axis {axis} is out of range for an input with {rank} axes")
    return axis % rank


def conv_padding(function: str, padding, kernel_size, stride, dilation) -> tuple[tuple[int, int], ...]:
    """Padding ``(before, after)`` per spatial axis. ``"same"`` (stride 1 only) puts
    ``total // 2`` before and the rest after, ``total = dilation * (kernel - 1)`` (torch)."""
    rank = len(kernel_size)
    if isinstance(padding, str):
        check_choice(function, "padding", padding, ("same",))
        if any(step != 1 for step in stride):
            raise ValueError(f"{function}: padding = 'same' needs stride 1, got stride {tuple(stride)}")
        totals = [rate * (size - 1) for size, rate in zip(kernel_size, dilation)]
        return tuple((total // 2, total - total // 2) for total in totals)
    sizes = normalize_tuple(function, "padding", padding, rank)
    if any(size < 0 for size in sizes):
        raise ValueError(f"{function}: padding must not be negative, got {padding}")
    return tuple((size, size) for size in sizes)


def conv_output_length(function: str, size: int, kernel: int, stride: int, dilation: int, before: int, after: int) -> int:
    """``floor((size + before + after - dilation * (kernel - 1) - 1) / stride) + 1``, at least 1."""
    span = dilation * (kernel - 1) + 1
    if size + before + after < span:
        raise ValueError(
            f"{function}: input of length {size} (padded to {size + before + after}) is shorter "
            f"than the dilated kernel of length {span}"
        )
    return (size + before + after - span) // stride + 1


def check_channels(function: str, shape, expected: int) -> None:
    """Raise ``ValueError`` when the last (channel) axis of ``shape`` is not ``expected``."""
    if len(shape) == 0 or shape[-1] != expected:
        raise ValueError(
            f"{function}: expected {expected} channels on the last axis, got input of shape {format_shape(shape)}"
        )


def check_tied_weight(function: str, tied: bool, given: bool) -> None:
    """A tied layer is called with another layer's weight; an untied one never is."""
    if tied != given:
        wanted = "needs the weight it is tied to" if tied else "has its own weight and takes none"
        raise ValueError(f"{function}: this layer {wanted}")


def check_reflect_padding(function: str, size: int, before: int, after: int) -> None:
    """Reflect padding needs ``before, after < size`` (the edge value is not repeated)."""
    if max(before, after) >= size:
        raise ValueError(
            f"{function}: reflect padding of {max(before, after)} needs an axis longer than that, got size {size}"
        )


def check_output_padding(function: str, output_padding: int, stride: int, dilation: int) -> None:
    """Transposed convolutions need ``output_padding < max(stride, dilation)`` (torch's rule)."""
    if not 0 <= output_padding < max(stride, dilation):
        raise ValueError(
            f"{function}: output_padding must be smaller than stride or dilation, "
            f"got output_padding = {output_padding}, stride = {stride}, dilation = {dilation}"
        )


def reshape_target(function: str, shape, target, from_input=()) -> tuple[int, ...]:
    """Resolve at most one ``-1`` in ``target`` against the size of ``shape``; each
    ``(position, axis)`` of ``from_input`` first sets ``target[position]`` to ``shape[axis]``
    (a run-time axis such as ``B`` or ``T`` carried through the reshape)."""
    target = [int(size) for size in target]
    for position, axis in from_input:
        target[position] = int(shape[axis])
    target = tuple(target)
    total = 1
    for size in shape:
        total *= int(size)
    if sum(size == -1 for size in target) > 1 or any(size < -1 for size in target):
        raise ValueError(f"{function}: target shape {list(target)} may hold at most one -1 and no other negative size")
    known = 1
    for size in target:
        known *= size if size != -1 else 1
    if -1 in target and known > 0 and total % known == 0:
        target = tuple(total // known if size == -1 else size for size in target)
    if known == 0 or total != _product(target):
        raise ValueError(
            f"{function}: cannot reshape an input of shape {format_shape(shape)} ({total} values) "
            f"to {list(target)}"
        )
    return target


def _product(sizes) -> int:
    result = 1
    for size in sizes:
        result *= size
    return result


def check_permutation(function: str, axes, rank: int) -> tuple[int, ...]:
    """``axes`` must be a permutation of ``range(rank)``."""
    axes = tuple(int(axis) for axis in axes)
    if sorted(axes) != list(range(rank)):
        raise ValueError(f"{function}: axes {list(axes)} are not a permutation of the {rank} input axes")
    return axes


def pool_arguments(function: str, kernel_size, stride, padding, rank: int):
    """Pooling window, stride (default: the window) and padding per spatial axis;
    padding may be at most half the window (torch's rule)."""
    kernel = normalize_tuple(function, "kernel_size", kernel_size, rank)
    stride = kernel if stride is None else normalize_tuple(function, "stride", stride, rank)
    padding = normalize_tuple(function, "padding", padding, rank)
    for size, pad in zip(kernel, padding):
        if size <= 0 or not 0 <= pad <= size // 2:
            raise ValueError(f"{function}: padding must be between 0 and half the kernel size, got padding {padding} for kernel {kernel}")
    return kernel, stride, padding


def pool_tiles(shape, kernel):
    """Windows that tile ``shape`` ``[B, S1, S2, ..., C]`` (stride = kernel, no padding): the
    index of the rows they cover (past the last whole window dropped), the shape
    ``[B, L1, k1, L2, k2, ..., C]`` those rows reshape to, and the ``k`` axes to reduce."""
    lengths = [size // window for size, window in zip(shape[1:-1], kernel)]
    covered = (slice(None),) + tuple(slice(0, length * window) for length, window in zip(lengths, kernel))
    tiled = [shape[0]]
    for length, window in zip(lengths, kernel):
        tiled += [length, window]
    return covered, (*tiled, shape[-1]), tuple(range(2, 2 * len(kernel) + 1, 2))


def check_state_arrays(expected, given) -> None:
    """``expected`` and ``given`` map parameter names to shapes; raise ``ValueError`` on the
    first missing, unknown or mis-shaped name (sorted order), naming it and the shapes."""
    for name in sorted(set(expected) | set(given)):
        if name not in given:
            raise ValueError(
                f"load_state_dict: parameter '{name}' of shape {format_shape(expected[name])} "
                f"is missing from the given arrays"
            )
        if name not in expected:
            raise ValueError(
                f"load_state_dict: unknown parameter '{name}' of shape {format_shape(given[name])}; "
                f"the model has no parameter of that name"
            )
        if tuple(expected[name]) != tuple(given[name]):
            raise ValueError(
                f"load_state_dict: parameter '{name}' has shape {format_shape(expected[name])} in the "
                f"model but {format_shape(given[name])} in the given arrays"
            )


def check_not_empty(function: str, name: str, sequence) -> None:
    """Raise ``ValueError`` when a list argument (of arrays, sizes, ...) has no entries."""
    if len(sequence) == 0:
        raise ValueError(f"{function}: {name} must have at least one entry")


def check_max_length(function: str, shape, max_length: int) -> None:
    """Raise ``ValueError`` when a ``[B, T, D]`` input has more positions (``T``) than a
    positional table of ``max_length`` rows covers."""
    if int(shape[1]) > max_length:
        raise ValueError(
            f"{function}: input of shape {format_shape(shape)} has {int(shape[1])} positions "
            f"but max_length is {max_length}"
        )


def check_attention_mask(function: str, shape, batch: int, key_steps: int) -> None:
    """A key mask of attention is boolean ``[B, Tk]``: one flag per batch row and key."""
    if tuple(shape) != (batch, key_steps):
        raise ValueError(
            f"{function}: mask must have shape [batch, keys] = {format_shape((batch, key_steps))}, "
            f"got {format_shape(shape)}"
        )


def positions_axis(function: str, axis: int, rank: int, batched: bool) -> int:
    """The counted axis of ``positions`` (normalised); ``batched`` repeats over axis 0, so the
    counted axis must be another one."""
    axis = normalize_axis(function, axis, rank)
    if batched and axis == 0:
        raise ValueError(f"{function}: batched = True repeats the positions over axis 0, so axis must name another axis")
    return axis


def check_positional_input(function: str, shape, max_length: int, dim: int) -> None:
    """A positional table ``[max_length, dim]`` takes inputs ``[B, T, dim]`` with ``T <= max_length``."""
    check_rank(function, "input", shape, 3)
    check_channels(function, shape, dim)
    check_max_length(function, shape, max_length)


def check_at_least(function: str, name: str, size: int, minimum_name: str, minimum: int) -> None:
    """Raise ``ValueError`` unless ``size >= minimum`` (e.g. a signal holds at least one frame)."""
    if not size >= minimum:
        raise ValueError(f"{function}: {name} of size {size} must be at least {minimum_name} = {minimum}")


def check_label_range(field: str, split: str, classes: int, outside: int, value: int, index, row=None) -> None:
    """Raise ``ValueError`` when ``outside`` labels of one split are not in ``[0, classes)``,
    naming the field, the split, the first such ``value`` and its ``index`` (``(item,)`` or
    ``(item, *position)`` for sequences of labels); ``row`` is the item's row of the stored
    arrays when that differs from its index in the split."""
    if not outside:
        return
    item, *position = (int(part) for part in index)
    where = f"index {item}" + (f" (row {int(row)} of the stored arrays)" if row is not None else "")
    if position:
        where += f", position {position[0] if len(position) == 1 else tuple(position)}"
    others = f"; {outside} labels of the split are outside" if outside > 1 else ""
    raise ValueError(
        f"data field '{field}' of the {split} split holds label {int(value)} at {where}, outside "
        f"[0, {int(classes)}) for the model's {int(classes)} classes{others}"
    )
