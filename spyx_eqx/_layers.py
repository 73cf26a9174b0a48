"""Stateless layers, the activity counter, `Sequential` and `run` on Equinox."""

from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import equinox as eqx
import jax
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
    "Sequential",
    "SumPool",
    "run",
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
    def __call__(self, x: Float[AnyArray, "..."]) -> Float[AnyArray, "..."]:
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


def _apply_rows(layer: Any, keys: Array | None = None) -> Callable[[Array], Array]:
    """``[N, ...] -> [N, ...]``: a one-example layer mapped over rows (with
    one key per row when `keys` is given).

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
    if keys is not None:
        return lambda rows: jax.vmap(lambda r, k: layer(r, key=k))(rows, keys)
    return jax.vmap(layer)


def _vmap_n(fn: Callable, n: int) -> Callable:
    for _ in range(n):
        fn = jax.vmap(fn)
    return fn


class Sequential(eqx.nn.StatefulLayer):
    """A chain of layers that threads each stateful layer's state.

    Stateful layers (with `initial_state`) are called as
    ``layer(x, state) -> (x, state)``; stateless ones (`eqx.nn.Linear`,
    `eqx.nn.Conv`, `eqx.nn.Dropout`, `Flatten`, functions, ...) as
    ``layer(x) -> x``, mapped with `jax.vmap` over the batch axes the state
    carries, so that one-example layers work in a batched model too. The
    state is a list with one entry per layer, ``None`` for stateless ones.

    Built like `eqx.nn.Sequential`: ``Sequential([a, b])`` or
    ``Sequential(a, b)``; ``model[i]``, ``len(model)``, iteration, and
    slices (``model[1:]`` is a `Sequential`).

    **Equinox's state.** Called with an `eqx.nn.State` (from
    `eqx.nn.make_with_state`) instead of the list, it threads that through
    its layers as `eqx.nn.Sequential` does (every `eqx.nn.StatefulLayer`,
    `eqx.nn.BatchNorm` included, reads and writes its own entry), on one
    example; batch with `jax.vmap`.

    **Keys.** ``model(x, state, key=key)`` splits `key` over the layers
    (``jax.random.split(key, len(model))``) and gives its key to each layer
    whose call takes a `key` (`eqx.nn.Dropout`, your own layers; mapped over
    a batch, one key per example). ``key=None`` passes none, and
    `eqx.nn.inference_mode` switches dropout off.

    Example:

    ```python
    k1, k2 = jax.random.split(jax.random.key(0))
    model = spyx_eqx.Sequential(
        [
            eqx.nn.Linear(8, 16, key=k1),
            eqx.nn.Dropout(0.2),
            spyx_eqx.LIF((16,), beta=0.9),
        ]
    )
    out, state = model(jnp.ones(8), model.initial_state(), key=k2)
    ```
    """

    layers: tuple[Any, ...]

    def __init__(self, *layers: core.StatefulLayer | Callable[..., Any]):
        if len(layers) == 1 and isinstance(layers[0], list | tuple):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not callable(layer):
                raise TypeError(
                    f"Sequential: layer {i} is not callable, got "
                    f"{type(layer).__name__}; pass layers as Sequential(a, b, ...) "
                    f"or Sequential([a, b, ...])."
                )
        self.layers = tuple(layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.layers)

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return Sequential(*self.layers[i])
        return self.layers[i]

    def initial_state(self, batch_size: int | None = None, dtype: Any = None) -> list:
        """One entry per layer: its `initial_state`, or ``None``."""
        return [
            frontend.initial_state_of(layer, batch_size, dtype) for layer in self.layers
        ]

    def is_stateful(self) -> bool:
        """Whether any layer carries a state (`eqx.nn.StatefulLayer`)."""
        return any(_is_eqx_stateful(layer) for layer in self.layers)

    def __call__(
        self, x: Array, state: Sequence[Any] | eqx.nn.State, *, key: Array | None = None
    ) -> tuple[Array, list | eqx.nn.State]:
        """Apply every layer in order; returns ``(out, new_state)``."""
        if isinstance(state, eqx.nn.State):
            return self._call_with_state(x, state, key)
        frontend.check_sequential_state(self.layers, state)
        batch_ndim = frontend.sequential_batch_ndim(self.layers, state)
        batch = tuple(x.shape[:batch_ndim])

        def apply_stateless(layer: Any, key: Array | None = None) -> Callable:
            if key is None:
                return _vmap_n(layer, batch_ndim)
            keyed = _vmap_n(lambda x, k: layer(x, key=k), batch_ndim)
            return lambda x: keyed(x, frontend.example_keys(key, batch))

        return frontend.step_layers(
            self.layers,
            x,
            state,
            apply_stateless=apply_stateless,
            keys=frontend.layer_keys(key, self.layers),
            check=frontend.check_chain_inputs(self.layers, describe),
        )

    def _call_with_state(
        self, x: Array, state: eqx.nn.State, key: Array | None
    ) -> tuple[Array, eqx.nn.State]:
        check = frontend.check_chain_inputs(self.layers, describe)
        keys = frontend.layer_keys(key, self.layers)
        for i, (layer, k) in enumerate(zip(self.layers, keys, strict=True)):
            check(i, x)
            extra = {} if k is None else {"key": k}
            if _is_eqx_stateful(layer):
                x, state = layer(x, state, **extra)
            else:
                x = layer(x, **extra)
        return x, state


def _is_eqx_stateful(layer: Any) -> bool:
    return isinstance(layer, eqx.nn.StatefulLayer) and layer.is_stateful()


def describe(layer: Any) -> frontend.ExampleShape | None:
    """One example's input shape for an Equinox layer: ``(in_features,)``
    for `eqx.nn.Linear`, ``(in_channels, *, ...)`` (channels first) for
    `eqx.nn.Conv`, moved to the last axis under `ChannelsLast`; ``None``
    for any other layer (not checked)."""
    if isinstance(layer, eqx.nn.Linear):
        return () if layer.in_features == "scalar" else (layer.in_features,)
    if isinstance(layer, eqx.nn.Conv):
        return (layer.in_channels, *([None] * layer.num_spatial_dims))
    if isinstance(layer, ChannelsLast):
        inner = describe(layer.layer)
        return None if not inner else (*inner[1:], inner[0])
    return None


def run(
    model: core.StatefulLayer,
    x: Array,
    state: Any = None,
    *,
    key: Array | None = None,
    batch_major: bool = False,
    layerwise: bool | None = None,
    unroll: int | bool = 1,
    checkpoint: int | None = None,
) -> tuple[Array, Any]:
    """Run a stateful model over a time-major sequence.

    A `Sequential` runs layer by layer (`spyx.frontend.run_layerwise`): each
    stateless layer is mapped over all ``T * batch`` rows at once, each
    stateful layer is scanned over time on its own, and `PSU_LIF` runs its
    parallel path. Any other model, or ``layerwise=False``, is stepped through
    time as a whole with `jax.lax.scan`. Both give the same results.

    Args:
        model: a callable ``(x_t, state) -> (out_t, state)``, such as a
            neuron or a `Sequential`.
        x: ``[T, ...]`` for one example, or ``[T, B, ...]`` for a batch.
        state: the state before the first step: an array state, or an
            `eqx.nn.State` (from `eqx.nn.make_with_state`; then the model is
            stepped through time, one example per call). ``None`` builds the zero
            state: one example's, or, when `x` has one more axis than the model's
            first layer takes (``[T, B, ...]``), ``model.initial_state(B)``. (When
            the first layer does not say what it takes, `x` is one example.)
            `jax.vmap` over ``run`` works as well.
        key: a `jax.random` key for the layers that take one (such as
            `eqx.nn.Dropout`): step ``t`` gets ``split(key, T)[t]``, split further
            per layer and per example as `Sequential` does, the same layer-wise
            and step-wise. ``None``: no keys (deterministic).
        batch_major: `x` is ``[Batch, Time, ...]`` and the outputs come back
            ``[Batch, Time, ...]`` (spyx 1.0's keyword), as transposing, running
            time-major and transposing back; the final state is batched as usual.
        layerwise: run a `Sequential` layer by layer (``True``) or step by
            step (``False``). Default: layer by layer, unless `checkpoint` is set
            (layer-wise execution keeps every layer's whole sequence, so only the
            step-by-step scan bounds the memory).
        unroll: time steps per loop iteration of the scans.
        checkpoint: memory-bounded backpropagation through time: remat blocks
            of this many steps (see `spyx.core.time_scan`).

    Returns:
        ``(outputs, final_state)``, outputs time-major.

    Raises:
        ValueError: before anything runs, when `x` does not fit the model's
            first layer, or has a batch axis that the given `state` lacks
            (or the reverse).

    Example:

    ```python
    model = spyx_eqx.Sequential(
        [eqx.nn.Linear(8, 16, key=jax.random.key(0)), spyx_eqx.LIF((16,), beta=0.9)]
    )
    outs, final = spyx_eqx.run(model, jnp.ones((100, 8)))  # one example [T, 8]
    batched, _ = spyx_eqx.run(model, jnp.ones((100, 4, 8)))  # [T, B, 8]
    ```
    """
    options = (batch_major, layerwise, unroll, checkpoint)
    if frontend.under_transformation((model, x, state, key)):
        return _run(model, x, state, key, *options)  # traced inline by the caller
    return _compiled_run(model, x, state, key, *options, core.debug_checks_enabled())


@eqx.filter_jit
def _compiled_run(
    model: Any,
    x: Array,
    state: Any,
    key: Array | None,
    batch_major: bool,
    layerwise: bool | None,
    unroll: int | bool,
    checkpoint: int | None,
    debug: bool,
) -> tuple[Array, Any]:
    """`run`, compiled once per model structure, input shape and options and
    reused, so that eager calls (a notebook, no `eqx.filter_jit`) cost about
    what a jitted one does (under the user's own `jit`, `vmap` or `grad`,
    `run` is traced inline instead).
    `debug` (whether `spyx.core.debug_checks` is on) is part of the cache key,
    so turning the checks on compiles them in."""
    with core.debug_checks(debug):
        return _run(model, x, state, key, batch_major, layerwise, unroll, checkpoint)


def _run(
    model: Any,
    x: Array,
    state: Any,
    key: Array | None,
    batch_major: bool,
    layerwise: bool | None,
    unroll: int | bool,
    checkpoint: int | None,
) -> tuple[Array, Any]:
    layer = f"run({type(model).__name__})"
    frontend.check_floating(layer, "x", x)
    batch = x.shape[0] if batch_major and x.ndim >= 2 else None
    x = frontend.to_time_major(layer, x, batch_major)
    if x.ndim < 1:
        raise ValueError(f"{layer}: `x` needs a leading time axis, got a scalar.")
    if isinstance(state, eqx.nn.State):  # Equinox's own state: step by step
        if layerwise:
            raise ValueError(
                f"{layer}: with an eqx.nn.State the model runs step by step; pass "
                f"the array state (model.initial_state()) to run it layer-wise."
            )
        outs, final = frontend.run_model(
            model,
            x,
            state,
            layer=layer,
            batch_size=None,
            layerwise=False,
            unroll=unroll,
            checkpoint=checkpoint,
            key=key,
        )
        return frontend.from_time_major(outs, batch_major), final
    if state is not None and x.ndim >= 2:
        core.check_time_major(layer, x, state)
    sequential = isinstance(model, Sequential)
    want = frontend.expected_input(model, describe)
    if want is not None:
        if not sequential:
            frontend.check_layer_input(layer, x, want, lead="[Time, (Batch,) ...]")
        else:
            frontend.check_chain_inputs(model.layers, describe, f"{layer}:")(0, x)
        batch = frontend.batch_from_input(
            layer, model, x, state, want, batch, sequential
        )
    batch_axes = x.ndim - 1 - len(want) if want is not None else int(batch is not None)
    frontend.check_not_empty(layer, x, batch_axes)
    outs, final = frontend.run_model(
        model,
        x,
        state,
        layer=layer,
        batch_size=batch,
        sequential=sequential,
        apply_rows=_apply_rows,
        layerwise=layerwise,
        unroll=unroll,
        checkpoint=checkpoint,
        key=key,
        check=frontend.check_chain_inputs(model.layers, describe, f"{layer}:")
        if sequential
        else None,
    )
    return frontend.from_time_major(outs, batch_major), final
