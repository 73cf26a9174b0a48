"""Windowed sum pooling over chosen spatial axes."""

from collections.abc import Sequence
from typing import overload

import jax
import numpy as np
from jax import Array

__all__ = ["population_code", "sum_pool_axes"]

_PADDINGS = ("SAME", "VALID")


def _per_axis(
    layer: str, name: str, value: int | Sequence[int], ndim: int, spatial: Sequence[int]
) -> tuple[int, ...]:
    """Expand an int or per-spatial-axis tuple into one entry per array axis."""
    if isinstance(value, int):
        sizes = [value] * len(spatial)
    else:
        sizes = list(value)
        if len(sizes) == ndim and len(sizes) != len(spatial):
            spatial = range(ndim)
        elif len(sizes) != len(spatial):
            raise ValueError(
                f"{layer}: `{name}` must be an int, one entry per spatial axis "
                f"({len(spatial)}), or one per array axis ({ndim}); got {tuple(value)}."
            )
    full = [1] * ndim
    for axis, size in zip(spatial, sizes, strict=True):
        full[axis] = int(size)
    if any(v <= 0 for v in full):
        raise ValueError(f"{layer}: `{name}` entries must be positive, got {value!r}.")
    return tuple(full)


def sum_pool_axes(
    value: Array | np.ndarray,
    window_shape: int | Sequence[int],
    strides: int | Sequence[int] | None,
    padding: str,
    spatial_axes: Sequence[int],
    layer: str = "sum_pool",
) -> Array:
    """Sum of `value` over sliding windows on `spatial_axes`.

    `window_shape` and `strides` are an int (every spatial axis), one entry
    per spatial axis, or one entry per array axis. `strides=None` means the
    window. `padding` is ``"SAME"`` or ``"VALID"``.

    Example:

    ```python
    sum_pool_axes(jnp.ones((4, 8, 8, 3)), 2, None, "VALID", [1, 2])  # (4, 4, 4, 3)
    ```
    """
    if padding not in _PADDINGS:
        raise ValueError(
            f"{layer}: `padding` must be 'SAME' or 'VALID', got {padding!r}."
        )
    ndim = value.ndim
    window = _per_axis(layer, "window_shape", window_shape, ndim, spatial_axes)
    stride = (
        window
        if strides is None
        else _per_axis(layer, "strides", strides, ndim, spatial_axes)
    )
    return jax.lax.reduce_window(
        value, np.array(0, value.dtype), jax.lax.add, window, stride, padding
    )


@overload
def population_code(x: Array, num_classes: int, layer: str = ...) -> Array: ...


@overload
def population_code(
    x: np.ndarray, num_classes: int, layer: str = ...
) -> np.ndarray: ...


def population_code(
    x: Array | np.ndarray, num_classes: int, layer: str = "PopulationCode"
) -> Array | np.ndarray:
    """Sum groups of neurons into class scores: ``(..., N) -> (..., num_classes)``.

    Neuron ``i`` votes for class ``i // (N // num_classes)``; `N` must be a
    positive multiple of `num_classes`.

    Example: ``population_code(jnp.array([1., 2., 3., 4.]), 2)`` is ``[3., 7.]``.
    """
    n = x.shape[-1] if x.ndim else 0
    if n == 0 or n % num_classes:
        raise ValueError(
            f"{layer}: the last axis of `x` ({n}) must be a positive multiple of "
            f"num_classes={num_classes}; got shape {tuple(x.shape)}."
        )
    return x.reshape(*x.shape[:-1], num_classes, n // num_classes).sum(axis=-1)
