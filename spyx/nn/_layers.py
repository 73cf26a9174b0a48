"""Stateless layers and the activity counter on Flax NNX."""

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
from flax import nnx
from jax import Array

from .. import core
from ..core import _frontend as frontend

__all__ = ["ActivityRegularization", "Flatten", "PopulationCode", "SumPool", "sum_pool"]

ShapeLike = int | Sequence[int]


class ActivityRegularization(nnx.Module):
    """Counts spikes per neuron, threaded through `run` as a state.

    A step returns ``(spikes, count + spikes)``: the spikes pass through
    unchanged. The final count is this layer's entry in `run`'s final state,
    ready for `spyx.fn.silence_reg` / `spyx.fn.sparsity_reg`.

    Args:
        hidden_shape: per-neuron shape of the spikes.
        batch_size: default batch size of `initial_state`.
        dtype: dtype of the count.

    Example: put ``ActivityRegularization((128,))`` after a neuron in a
    `Sequential`; ``run(model, x)[1][i]`` is then the ``(B, 128)`` count.
    """

    def __init__(
        self, hidden_shape: ShapeLike, batch_size: int = 1, dtype: Any = jnp.float32
    ):
        self.hidden_shape = frontend.normalize_shape(
            "ActivityRegularization", "hidden_shape", hidden_shape
        )
        frontend.batch_shape("ActivityRegularization", batch_size)
        self.batch_size = batch_size
        self.dtype = dtype

    def initial_state(self, batch_size: int | None = None, dtype: Any = None) -> Array:
        """Zero count of shape ``(batch_size, *hidden_shape)``."""
        batch = frontend.batch_shape(
            "ActivityRegularization",
            self.batch_size if batch_size is None else batch_size,
        )
        return jnp.zeros((*batch, *self.hidden_shape), dtype or self.dtype)

    def __call__(self, spikes: Array, spike_count: Array) -> tuple[Array, Array]:
        """Pass `spikes` through; return them with ``spike_count + spikes``."""
        layer = "ActivityRegularization"
        batch = core.check_input(layer, spikes, self.hidden_shape)
        core.check_state(layer, spike_count, batch, self.hidden_shape)
        return spikes, spike_count + spikes.astype(spike_count.dtype)

    @property
    def state_shape(self) -> core.Shape:
        """Per-example shape of the count: `hidden_shape`."""
        return self.hidden_shape


class Flatten(nnx.Module):
    """Flatten every axis but the first: ``(B, ...) -> (B, prod(...))``.

    Stateless (no `initial_state`), so `Sequential` calls it as ``f(x)``.

    Example: ``Flatten()(jnp.ones((4, 8, 8, 3))).shape == (4, 192)``.
    """

    def __call__(self, x: Array) -> Array:
        frontend.check_floating("Flatten", "x", x)
        if x.ndim < 1:
            raise ValueError("Flatten: `x` needs a batch axis, got a scalar.")
        return x.reshape(x.shape[0], -1)


def _spatial_axes(layer: str, ndim: int, channel_axis: int | None) -> list[int]:
    if channel_axis is None:
        return list(range(1, ndim))
    if not -ndim <= channel_axis < ndim:
        raise ValueError(
            f"{layer}: `channel_axis` {channel_axis} is out of range for an input "
            f"with {ndim} axes."
        )
    channel = channel_axis % ndim
    if channel == 0:
        raise ValueError(f"{layer}: `channel_axis` cannot be the batch axis 0.")
    return [a for a in range(1, ndim) if a != channel]


def sum_pool(
    value: Array,
    window_shape: int | Sequence[int],
    strides: int | Sequence[int] | None,
    padding: str,
    channel_axis: int | None = -1,
) -> Array:
    """Windowed sum over the spatial axes of a batched input.

    Axis 0 is the batch and `channel_axis` the channels (``None``: no channel
    axis); every other axis is spatial. An int `window_shape` or `strides`
    applies to every spatial axis; a tuple gives one entry per spatial axis
    (or per array axis). `padding` is ``"SAME"`` or ``"VALID"``.

    Example: ``sum_pool(x, 2, 2, "VALID")`` maps ``(B, 28, 28, C)`` to
    ``(B, 14, 14, C)``.
    """
    frontend.check_floating("sum_pool", "value", value)
    spatial = _spatial_axes("sum_pool", value.ndim, channel_axis)
    return frontend.sum_pool_axes(value, window_shape, strides, padding, spatial)


class SumPool(nnx.Module):
    """Stateless sum pooling; see `sum_pool`.

    Args:
        window_shape: window size, int or per spatial axis.
        strides: step between windows; ``None`` means `window_shape`.
        padding: ``"SAME"`` or ``"VALID"``.
        channel_axis: axis of the channels, ``None`` if there is none.

    Example: ``SumPool(2)(jnp.ones((4, 8, 8, 3))).shape == (4, 4, 4, 3)``.
    """

    def __init__(
        self,
        window_shape: int | Sequence[int],
        strides: int | Sequence[int] | None = None,
        padding: str = "VALID",
        channel_axis: int | None = -1,
    ):
        if padding not in ("SAME", "VALID"):
            raise ValueError(
                f"SumPool: `padding` must be 'SAME' or 'VALID', got {padding!r}."
            )
        self.window_shape = (
            window_shape if isinstance(window_shape, int) else tuple(window_shape)
        )
        self.strides = (
            strides if strides is None or isinstance(strides, int) else (tuple(strides))
        )
        self.padding = padding
        self.channel_axis = channel_axis

    def __call__(self, x: Array) -> Array:
        return sum_pool(
            x, self.window_shape, self.strides, self.padding, self.channel_axis
        )


class PopulationCode(nnx.Module):
    """Sum groups of output neurons into class scores.

    ``(..., N) -> (..., num_classes)``: neuron ``i`` votes for class
    ``i // (N // num_classes)``. `N` must be a multiple of `num_classes`.

    Example: ``PopulationCode(2)(jnp.array([[1., 2., 3., 4.]]))`` is ``[[3., 7.]]``.
    """

    def __init__(self, num_classes: int):
        (self.num_classes,) = frontend.normalize_shape(
            "PopulationCode", "num_classes", num_classes
        )

    def __call__(self, x: Array) -> Array:
        frontend.check_floating("PopulationCode", "x", x)
        return frontend.population_code(x, self.num_classes)
