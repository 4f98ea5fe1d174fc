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
