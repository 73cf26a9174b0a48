"""Stateless layers and the activity counter on Equinox."""

from collections.abc import Sequence
from typing import Any, ClassVar

import equinox as eqx
import jax.numpy as jnp
from jax import Array
from jaxtyping import Float

from spyx import core
from spyx.core import _frontend as frontend

from ._custom_types import AnyArray, input_checked, typechecked
from ._state import stateful_call

__all__ = [
    "ActivityRegularization",
    "ChannelsLast",
    "Flatten",
    "PopulationCode",
    "SumPool",
    "sum_pool",
]


def _check_count(
    layer: Any, spikes: Any, count: Any, *, sequence: bool, label: str
) -> None:
    name = type(layer).__name__ + label
    batch = core.check_input(name, spikes, layer.hidden_shape)
    core.check_state(name, count, batch, layer.hidden_shape)


class ActivityRegularization(eqx.nn.StatefulLayer):
    """Counts spikes per neuron, threaded through `run` as a state.

    A step returns ``(spikes, count + spikes)``; the final count is this
    layer's entry in `run`'s final state, for `spyx.fn.silence_reg` and
    `spyx.fn.sparsity_reg`.

    Args:
        hidden_shape: per-neuron shape of the spikes.
        batch_size: kept for parity with `spyx.nn` (and conversions);
            `initial_state(batch_size=None)` is one example's count, as everywhere
            in `spyx_eqx`.
        dtype: dtype of the count.

    Example: ``spyx_eqx.ActivityRegularization((128,))`` after a neuron in a
    `Sequential`; the final state holds its count.
    """

    hidden_shape: tuple[int, ...] = eqx.field(static=True)
    batch_size: int | None = eqx.field(static=True)
    dtype: Any = eqx.field(static=True)
    state_index: eqx.nn.StateIndex
    _takes_key: ClassVar[bool] = False

    def __init__(
        self,
        hidden_shape: int | Sequence[int],
        batch_size: int | None = None,
        dtype: Any = jnp.float32,
    ):
        layer = "ActivityRegularization"
        self.hidden_shape = frontend.normalize_shape(
            layer, "hidden_shape", hidden_shape
        )
        frontend.batch_shape(layer, batch_size)
        self.batch_size = batch_size
        self.dtype = dtype
        self.state_index = eqx.nn.StateIndex(self.initial_state())

    @property
    def n(self) -> int:
        return self.hidden_shape[-1]

    @property
    def state_shape(self) -> tuple[int, ...]:
        return self.hidden_shape

    def initial_state(self, batch_size: int | None = None, dtype: Any = None) -> Array:
        """Zero count: ``hidden_shape``, or ``(batch_size, *hidden_shape)``."""
        batch = frontend.batch_shape("ActivityRegularization", batch_size)
        return jnp.zeros((*batch, *self.hidden_shape), dtype or self.dtype)

    def __call__(
        self,
        spikes: Float[AnyArray, "*batch {self.n}"],
        state: Float[AnyArray, "*batch {self.n}"] | eqx.nn.State,
        *,
        key: Array | None = None,
    ) -> tuple[
        Float[AnyArray, "*batch {self.n}"],
        Float[AnyArray, "*batch {self.n}"] | eqx.nn.State,
    ]:
        """Pass `spikes` through and add them to the count `state`.

        `state` is an array, or an `eqx.nn.State` holding this layer's
        count; `key` is accepted for `eqx.nn.Sequential` and unused.
        """
        return stateful_call(self, self._step, spikes, state)

    @input_checked(check=_check_count)
    def _step(
        self,
        spikes: Float[AnyArray, "*batch {self.n}"],
        spike_count: Float[AnyArray, "*batch {self.n}"],
    ) -> tuple[Float[AnyArray, "*batch {self.n}"], Float[AnyArray, "*batch {self.n}"]]:
        return spikes, spike_count + spikes.astype(spike_count.dtype)


class Flatten(eqx.Module):
    """Flatten one example to a vector: ``(...) -> (prod(...),)``.

    Inside `Sequential` it is mapped over the batch axes automatically.

    Example: ``Flatten()(jnp.ones((8, 8, 3))).shape == (192,)``.
    """

    @typechecked
    def __call__(self, x: Float[AnyArray, "..."]) -> Float[AnyArray, "..."]:
        return jnp.reshape(x, (-1,))


class SumPool(eqx.Module):
    """Windowed sum over the spatial axes of one example.

    Channels first by default, ``(C, H, W)`` as `eqx.nn.Conv2d` returns
    (`channel_axis=0`); ``channel_axis=-1`` for channels-last data (as after
    `ChannelsLast` or `nnx.Conv`), ``None`` for no channel axis. Every other
    axis is spatial. To pass leading batch axes directly, give
    `num_spatial_dims`; inside `Sequential` the layer is mapped over the
    batch and needs none.

    Args:
        window_shape: int (every spatial axis) or one entry per spatial axis.
        strides: likewise; ``None`` means `window_shape`.
        padding: ``"SAME"`` or ``"VALID"``.
        channel_axis: ``0`` (channels first, the default), ``-1`` (channels
            last) or ``None``.
        num_spatial_dims: number of spatial axes; ``None``: all but the
            channel axis.

    Example: ``SumPool(2)(jnp.ones((3, 8, 8))).shape == (3, 4, 4)``.
    """

    window_shape: int | tuple[int, ...] = eqx.field(static=True)
    strides: int | tuple[int, ...] | None = eqx.field(static=True)
    padding: str = eqx.field(static=True)
    channel_axis: int | None = eqx.field(static=True)
    num_spatial_dims: int | None = eqx.field(static=True)

    def __init__(
        self,
        window_shape: int | Sequence[int],
        strides: int | Sequence[int] | None = None,
        padding: str = "VALID",
        channel_axis: int | None = 0,
        num_spatial_dims: int | None = None,
    ):
        self.window_shape = (
            window_shape if isinstance(window_shape, int) else tuple(window_shape)
        )
        self.strides = (
            strides if strides is None or isinstance(strides, int) else tuple(strides)
        )
        self.padding = padding
        self.channel_axis = channel_axis
        self.num_spatial_dims = num_spatial_dims

    def __check_init__(self) -> None:
        if self.padding not in ("SAME", "VALID"):
            raise ValueError(
                f"SumPool: `padding` must be 'SAME' or 'VALID', got {self.padding!r}."
            )
        if self.channel_axis not in (None, 0, -1):
            raise ValueError(
                f"SumPool: `channel_axis` must be -1, 0 or None, got "
                f"{self.channel_axis!r}."
            )

    @typechecked
    def __call__(self, x: Float[AnyArray, "..."]) -> Float[Array, "..."]:
        has_channel = self.channel_axis is not None
        n_spatial = self.num_spatial_dims
        if n_spatial is None:
            n_spatial = x.ndim - has_channel
        example = n_spatial + has_channel
        if n_spatial < 1 or x.ndim < example:
            raise ValueError(
                f"SumPool: `x` must have at least {max(example, 1 + has_channel)} "
                f"axes (spatial + channel), got {tuple(x.shape)}."
            )
        start = x.ndim - example + (self.channel_axis == 0)
        spatial = list(range(start, start + n_spatial))
        return frontend.sum_pool_axes(
            x, self.window_shape, self.strides, self.padding, spatial, "SumPool"
        )


def sum_pool(
    x: Array,
    window_shape: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: str = "VALID",
    channel_axis: int | None = 0,
) -> Array:
    """`SumPool` as a function on one example (channels first by default).

    Example: ``sum_pool(jnp.ones((3, 8, 8)), 2).shape == (3, 4, 4)``.
    """
    return SumPool(window_shape, strides, padding, channel_axis)(x)


class PopulationCode(eqx.Module):
    """Sum groups of output neurons into class scores.

    ``(..., N) -> (..., num_classes)``; neuron ``i`` votes for class
    ``i // (N // num_classes)``.

    Example: ``PopulationCode(2)(jnp.array([1., 2., 3., 4.]))`` is ``[3., 7.]``.
    """

    num_classes: int = eqx.field(static=True)

    def __init__(self, num_classes: int):
        (self.num_classes,) = frontend.normalize_shape(
            "PopulationCode", "num_classes", num_classes
        )

    @typechecked
    def __call__(self, x: Float[AnyArray, "..."]) -> Float[AnyArray, "..."]:
        return frontend.population_code(x, self.num_classes)


class ChannelsLast(eqx.Module):
    """Run a channels-first layer (such as `eqx.nn.Conv`) on channels-last data.

    ``(..., H, W, C) -> layer((C, H, W)) -> (..., H', W', C')``: the layout of
    `nnx.Conv`, so that converted models see the same data. Acts on one
    example.

    Example: ``ChannelsLast(eqx.nn.Conv2d(3, 8, 3, key=key))(jnp.ones((32, 32, 3)))``
    has shape ``(30, 30, 8)``.
    """

    layer: Any

    def __call__(self, x: Array) -> Array:
        return jnp.moveaxis(self.layer(jnp.moveaxis(x, -1, 0)), 0, -1)
