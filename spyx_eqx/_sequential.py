"""`Sequential` and `run` on Equinox."""

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, overload

import equinox as eqx
import jax
from jax import Array

from spyx import core
from spyx.core import _frontend as frontend

from ._layers import ChannelsLast

__all__ = ["Sequential", "run"]


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

    def __init__(
        self,
        *layers: core.StatefulLayer
        | Callable[..., Any]
        | Sequence[core.StatefulLayer | Callable[..., Any]],
    ):
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
        frontend.batch_shape("Sequential", batch_size)  # a positive int or None
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
        refuse_eqx_state_layers("Sequential", dict(enumerate(self.layers)))
        frontend.check_sequential_state(self.layers, state)
        return frontend.step_layers(
            self.layers,
            x,
            state,
            batch_ndim=frontend.sequential_batch_ndim(self.layers, state),
            apply_rows=_apply_rows,
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


def refuse_eqx_state_layers(where: str, layers: Mapping[Any, Any]) -> None:
    """A layer that keeps its state in an `eqx.nn.State` (`eqx.nn.BatchNorm`)
    cannot run on a container's own list or dict state: say so by name."""
    for i, layer in layers.items():
        if _is_eqx_stateful(layer) and not core.is_stateful(layer):
            what = f"layer {i}" if isinstance(i, int) else f"node {i!r}"
            raise TypeError(
                f"{where} {what} ({type(layer).__name__}) keeps its state in an "
                f"eqx.nn.State: build the model with eqx.nn.make_with_state and "
                f"pass that state (inside jax.vmap(..., axis_name='batch') for "
                f"eqx.nn.BatchNorm)"
                + (
                    "; a Graph cannot hold it, use a Sequential."
                    if "Graph" in where
                    else "."
                )
            )


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


@overload
def run(
    model: core.StatefulLayer,
    x: Array,
    state: Any = None,
    *,
    key: Array | None = None,
    batch_major: bool = False,
    layerwise: bool | None = None,
    chunk: int | None = None,
    unroll: int | bool = 1,
    checkpoint: int | None = None,
    burnin: int = 0,
    record: None = None,
) -> tuple[Array, Any]: ...


@overload
def run(
    model: core.StatefulLayer,
    x: Array,
    state: Any = None,
    *,
    key: Array | None = None,
    batch_major: bool = False,
    layerwise: bool | None = None,
    chunk: int | None = None,
    unroll: int | bool = 1,
    checkpoint: int | None = None,
    burnin: int = 0,
    record: int | str | Sequence[int] | Sequence[str],
) -> tuple[Array, Any, dict[Any, core.Record]]: ...


def run(
    model: core.StatefulLayer,
    x: Array,
    state: Any = None,
    *,
    key: Array | None = None,
    batch_major: bool = False,
    layerwise: bool | None = None,
    chunk: int | None = None,
    unroll: int | bool = 1,
    checkpoint: int | None = None,
    burnin: int = 0,
    record: int | str | Sequence[int] | Sequence[str] | None = None,
) -> tuple[Array, Any] | tuple[Array, Any, dict[Any, core.Record]]:
    """Run a stateful model over a time-major sequence.

    As `spyx.nn.run`: a `Sequential` or `Graph` layer by layer, in chunks
    or step by step (chosen by shape unless asked), with the same results.

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
        key: a `jax.random` key for the layers that take one (such as
            `eqx.nn.Dropout`): step ``t`` gets ``split(key, T)[t]``, split further
            per layer and per example as `Sequential` does, on every
            execution. ``None``: no keys.
        batch_major: `x` and the outputs are ``[Batch, Time, ...]``, as in
            `spyx.nn.run`.
        layerwise: layer by layer (``True``), step by step (``False``), or
            chosen by shape (``None``), as in `spyx.nn.run`.
        chunk: layer by layer within chunks of this many steps, as in
            `spyx.nn.run`.
        unroll: time steps per loop iteration of the scans.
        checkpoint: memory-bounded backpropagation through time, as in
            `spyx.nn.run`.
        burnin: the first `burnin` steps run without gradient, as in
            `spyx.nn.run` (with a `key`, each part gets ``split(key)[i]``).
        record: layers to keep at every step, as in `spyx.nn.run` (not
            with an `eqx.nn.State`).

    Returns:
        ``(outputs, final_state)``, outputs time-major; with `record`, the
            records too, as `spyx.nn.run` returns them.

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
    _, _, rec = spyx_eqx.run(model, jnp.ones((100, 8)), record=1)  # the LIF's
    ```
    """
    label = f"run({type(model).__name__})"
    execution = frontend.Execution(layerwise, chunk, unroll, checkpoint).check(label)

    def once(x: Array, state: Any, key: Any, selection: Any) -> tuple:
        options = (batch_major, execution, selection)
        if frontend.under_transformation((model, x, state, key)):
            return _run(model, x, state, key, *options)  # traced inline by the caller
        debug = core.debug_checks_enabled()
        return _compiled_run(model, x, state, key, *options, debug)

    return frontend.run_front(
        label,
        model,
        x,
        state,
        burnin=burnin,
        batch_major=batch_major,
        key=key,
        record=record,
        run_once=once,
    )


@eqx.filter_jit
def _compiled_run(
    model: Any,
    x: Array,
    state: Any,
    key: Array | None,
    batch_major: bool,
    execution: frontend.Execution,
    selection: Any,
    debug: bool,
) -> tuple[Array, Any, Any]:
    """`run`, compiled once per model structure, input shape and options and
    reused, so that eager calls (a notebook, no `eqx.filter_jit`) cost about
    what a jitted one does (under the user's own `jit`, `vmap` or `grad`,
    `run` is traced inline instead).
    `debug` (whether `spyx.core.debug_checks` is on) is part of the cache key,
    so turning the checks on compiles them in."""
    with core.debug_checks(debug):
        return _run(model, x, state, key, batch_major, execution, selection)


def _run(
    model: Any,
    x: Array,
    state: Any,
    key: Array | None,
    batch_major: bool,
    execution: frontend.Execution,
    selection: Any = None,
) -> tuple[Array, Any, Any]:
    layer = f"run({type(model).__name__})"
    frontend.check_floating(layer, "x", x)
    batch = x.shape[0] if batch_major and x.ndim >= 2 else None
    x = frontend.to_time_major(layer, x, batch_major)
    if x.ndim < 1:
        raise ValueError(f"{layer}: `x` needs a leading time axis, got a scalar.")
    if isinstance(state, eqx.nn.State):  # Equinox's own state: step by step
        if selection is not None:
            raise TypeError(
                f"{layer}: `record` needs the model's own list or dict state "
                f"(model.initial_state()); with an eqx.nn.State the layers keep "
                f"their states there, out of the run's reach."
            )
        if execution.layerwise or execution.chunk is not None:
            members = getattr(model, "layers", None) or getattr(model, "nodes", {})
            if isinstance(members, dict):
                members = members.values()
            holders = [
                type(a).__name__
                for a in members
                if _is_eqx_stateful(a) and getattr(a, "spec", None) is None
            ]
            raise ValueError(
                f"{layer}: with an eqx.nn.State (held by "
                f"{', '.join(dict.fromkeys(holders)) or 'the model'}) the model runs "
                f"step by step, one example per call (for eqx.nn.BatchNorm: inside "
                f"jax.vmap(..., axis_name='batch')); leave `layerwise` and `chunk` "
                f"unset, or pass the array state (model.initial_state()) of a model "
                f"without Equinox stateful layers to run it layer-wise."
            )
        outs, final = frontend.run_model(
            model,
            x,
            state,
            layer=layer,
            batch_size=None,
            execution=dataclasses.replace(execution, layerwise=False),
            key=key,
        )
        return frontend.from_time_major(outs, batch_major), final, None
    if state is not None and x.ndim >= 2:
        core.check_time_major(layer, x, state)
    sequential = isinstance(model, Sequential)
    if sequential:
        refuse_eqx_state_layers(layer + ":", dict(enumerate(model.layers)))
    elif isinstance(model, frontend.GraphBase):
        refuse_eqx_state_layers(layer + ": Graph", dict(model.nodes))
    want = frontend.expected_input(model, describe)
    if want is not None:
        frontend.check_model_input(layer, model, x, describe, "[Time, (Batch,) ...]")
        batch = frontend.batch_from_input(layer, model, x, state, want, batch)
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
        execution=execution,
        differentiated=frontend.under_differentiation((model, x, state)),
        key=key,
        check=frontend.layer_checker(model, describe, f"{layer}:"),
        record=selection,
    )
    outs, records = frontend.split_records(outs, selection, model, batch_major)
    return outs, final, records
