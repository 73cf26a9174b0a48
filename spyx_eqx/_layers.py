"""Stateless layers, the activity counter, `Sequential` and `run` on Equinox."""

from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array

from spyx import core

from ._custom_types import AnyFloat, Hidden, typechecked

__all__ = [
    "ActivityRegularization",
    "ChannelsLast",
    "Flatten",
    "PopulationCode",
    "Sequential",
    "SumPool",
    "run",
]


class ActivityRegularization(eqx.Module):
    """Counts spikes per neuron, threaded through `run` as a state.

    A step returns ``(spikes, count + spikes)``; the final count is this
    layer's entry in `run`'s final state, for `spyx.fn.silence_reg` and
    `spyx.fn.sparsity_reg`.

    **Arguments:**

    - `hidden_shape`: per-neuron shape of the spikes.
    - `batch_size`: kept for parity with `spyx.nn` (and conversions);
      `initial_state(batch_size=None)` is one example's count, as everywhere
      in `spyx_eqx`.
    - `dtype`: dtype of the count.

    Example: ``spyx_eqx.ActivityRegularization((128,))`` after a neuron in a
    `Sequential`; the final state holds its count.
    """

    hidden_shape: tuple[int, ...] = eqx.field(static=True)
    batch_size: int | None = eqx.field(static=True)
    dtype: Any = eqx.field(static=True)

    def __init__(
        self,
        hidden_shape: int | Sequence[int],
        batch_size: int | None = None,
        dtype: Any = jnp.float32,
    ):
        layer = "ActivityRegularization"
        self.hidden_shape = core.normalize_shape(layer, "hidden_shape", hidden_shape)
        core.batch_shape(layer, batch_size)
        self.batch_size = batch_size
        self.dtype = dtype

    @property
    def n(self) -> int:
        return self.hidden_shape[-1]

    @property
    def state_shape(self) -> tuple[int, ...]:
        return self.hidden_shape

    def initial_state(self, batch_size: int | None = None, dtype: Any = None) -> Array:
        """Zero count: ``hidden_shape``, or ``(batch_size, *hidden_shape)``."""
        batch = core.batch_shape("ActivityRegularization", batch_size)
        return jnp.zeros((*batch, *self.hidden_shape), dtype or self.dtype)

    @typechecked
    def __call__(self, spikes: Hidden, spike_count: Hidden) -> tuple[Hidden, Hidden]:
        layer = "ActivityRegularization"
        batch = core.check_input(layer, spikes, self.hidden_shape)
        core.check_state(layer, spike_count, batch, self.hidden_shape)
        return spikes, spike_count + spikes.astype(spike_count.dtype)


class Flatten(eqx.Module):
    """Flatten one example to a vector: ``(...) -> (prod(...),)``.

    Inside `Sequential` it is mapped over the batch axes automatically.

    Example: ``Flatten()(jnp.ones((8, 8, 3))).shape == (192,)``.
    """

    @typechecked
    def __call__(self, x: AnyFloat) -> AnyFloat:
        return jnp.reshape(x, (-1,))


class SumPool(eqx.Module):
    """Windowed sum over the spatial axes of one example.

    The example has a channel axis unless `channel_axis` is ``None`` (default
    last, ``(H, W, C)`` as after `nnx.Conv`); every other axis is spatial.
    To pass leading batch axes directly, give `num_spatial_dims`; inside
    `Sequential` the layer is mapped over the batch and needs none.

    **Arguments:**

    - `window_shape`: int (every spatial axis) or one entry per spatial axis.
    - `strides`: likewise; ``None`` means `window_shape`.
    - `padding`: ``"SAME"`` or ``"VALID"``.
    - `channel_axis`: ``-1`` (channels last), ``0`` (channels first) or
      ``None``.
    - `num_spatial_dims`: number of spatial axes; ``None``: all but the
      channel axis.

    Example: ``SumPool(2)(jnp.ones((8, 8, 3))).shape == (4, 4, 3)``.
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
        channel_axis: int | None = -1,
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
    def __call__(self, x: AnyFloat) -> AnyFloat:
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
        return core.sum_pool_axes(
            x, self.window_shape, self.strides, self.padding, spatial, "SumPool"
        )


class PopulationCode(eqx.Module):
    """Sum groups of output neurons into class scores.

    ``(..., N) -> (..., num_classes)``; neuron ``i`` votes for class
    ``i // (N // num_classes)``.

    Example: ``PopulationCode(2)(jnp.array([1., 2., 3., 4.]))`` is ``[3., 7.]``.
    """

    num_classes: int = eqx.field(static=True)

    def __init__(self, num_classes: int):
        (self.num_classes,) = core.normalize_shape(
            "PopulationCode", "num_classes", num_classes
        )

    @typechecked
    def __call__(self, x: AnyFloat) -> AnyFloat:
        return core.population_code(x, self.num_classes)


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


def _apply_rows(layer: Any) -> Callable[[Array], Array]:
    """``[N, ...] -> [N, ...]``: a one-example layer mapped over rows.

    `eqx.nn.Linear` becomes one matmul, ``X @ K + b`` with ``K = W.T`` laid
    out as `nnx.Linear`'s kernel, the same operation `nnx.Linear` performs,
    so both APIs round alike. (The barrier keeps XLA from folding the
    transpose into the matmul, whose transposed form sums in another order
    on some CPUs.)
    """
    if isinstance(layer, eqx.nn.Linear) and "scalar" not in (
        layer.in_features,
        layer.out_features,
    ):
        kernel = jax.lax.optimization_barrier(layer.weight.T)
        if layer.bias is None:
            return lambda rows: rows @ kernel
        return lambda rows: rows @ kernel + layer.bias
    return jax.vmap(layer)


def _vmap_n(fn: Callable, n: int) -> Callable:
    for _ in range(n):
        fn = jax.vmap(fn)
    return fn


class Sequential(eqx.Module):
    """A chain of layers that threads each stateful layer's state.

    Stateful layers (with `initial_state`) are called as
    ``layer(x, state) -> (x, state)``; stateless ones (`eqx.nn.Linear`,
    `eqx.nn.Conv`, `Flatten`, functions, ...) as ``layer(x) -> x``, mapped
    with `jax.vmap` over the batch axes the state carries, so that one-example
    layers such as `eqx.nn.Linear` work in a batched model too.
    The state is a list with one entry per layer, ``None`` for stateless ones.

    Example:

    ```python
    key = jax.random.key(0)
    model = spyx_eqx.Sequential(
        eqx.nn.Linear(8, 16, key=key), spyx_eqx.LIF((16,), beta=0.9)
    )
    out, state = model(jnp.ones(8), model.initial_state())
    ```
    """

    layers: tuple[Any, ...]

    def __init__(self, *layers: core.StatefulLayer | Callable[..., Any]):
        self.layers = tuple(layers)

    def initial_state(self, batch_size: int | None = None, dtype: Any = None) -> list:
        """One entry per layer: its `initial_state`, or ``None``."""
        return [
            core.initial_state_of(layer, batch_size, dtype) for layer in self.layers
        ]

    def __call__(self, x: Array, state: Sequence[Any]) -> tuple[Array, list]:
        """Apply every layer in order; returns ``(out, new_state)``."""
        core.check_sequential_state(self.layers, state)
        batch_ndim = core.sequential_batch_ndim(self.layers, state)
        return core.step_layers(
            self.layers,
            x,
            state,
            apply_stateless=lambda layer: _vmap_n(layer, batch_ndim),
        )


def run(
    model: core.StatefulLayer,
    x: Array,
    state: Any = None,
    *,
    batch_major: bool = False,
    layerwise: bool | None = None,
    unroll: int | bool = 1,
    checkpoint: int | None = None,
) -> tuple[Array, Any]:
    """Run a stateful model over a time-major sequence.

    A `Sequential` runs layer by layer (`spyx.core.run_layerwise`): each
    stateless layer is mapped over all ``T * batch`` rows at once, each
    stateful layer is scanned over time on its own, and `PSU_LIF` runs its
    parallel path. Any other model, or ``layerwise=False``, is stepped through
    time as a whole with `jax.lax.scan`. Both give the same results.

    **Arguments:**

    - `model`: a callable ``(x_t, state) -> (out_t, state)``, such as a
      neuron or a `Sequential`.
    - `x`: ``[T, ...]`` for one example, or ``[T, B, ...]`` with a batched
      `state`.
    - `state`: the state before the first step; ``None`` asks
      ``model.initial_state()`` for one example's state (with `batch_major`,
      ``model.initial_state(B)``). For a time-major batch, pass
      ``model.initial_state(batch_size)`` or `jax.vmap` over ``run``.
    - `batch_major`: `x` is ``[Batch, Time, ...]`` and the outputs come back
      ``[Batch, Time, ...]`` (spyx 1.0's keyword), as transposing, running
      time-major and transposing back; the final state is batched as usual.
    - `layerwise`: run a `Sequential` layer by layer (``True``) or step by
      step (``False``). Default: layer by layer, unless `checkpoint` is set
      (layer-wise execution keeps every layer's whole sequence, so only the
      step-by-step scan bounds the memory).
    - `unroll`: time steps per loop iteration of the scans.
    - `checkpoint`: memory-bounded backpropagation through time: remat blocks
      of this many steps (see `spyx.core.time_scan`).

    **Returns:** ``(outputs, final_state)``, outputs time-major.

    Example:

    ```python
    model = spyx_eqx.Sequential(
        eqx.nn.Linear(8, 16, key=jax.random.key(0)), spyx_eqx.LIF((16,), beta=0.9)
    )
    outs, final = spyx_eqx.run(model, jnp.ones((100, 8)))  # one example [T, 8]
    xs = jnp.ones((100, 4, 8))  # [T, B, 8]
    run_one = lambda s: spyx_eqx.run(model, s)  # noqa: E731
    batched, _ = jax.vmap(run_one, in_axes=1, out_axes=(1, 0))(xs)
    ```
    """
    layer = f"run({type(model).__name__})"
    core.check_floating(layer, "x", x)
    batch = x.shape[0] if batch_major and x.ndim >= 2 else None
    x = core.to_time_major(layer, x, batch_major)
    if x.ndim < 1:
        raise ValueError(f"{layer}: `x` needs a leading time axis, got a scalar.")
    if state is not None and x.ndim >= 2:
        core.check_time_major(layer, x, state)
    outs, final = core.run_model(
        model,
        x,
        state,
        layer=layer,
        batch_size=batch,
        sequential=isinstance(model, Sequential),
        apply_rows=_apply_rows,
        layerwise=layerwise,
        unroll=unroll,
        checkpoint=checkpoint,
    )
    return core.from_time_major(outs, batch_major), final
