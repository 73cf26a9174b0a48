"""`Sequential`, the stateful chain of layers, and the time-major `run`."""

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
from flax import nnx
from jax import Array

from .. import core
from ..core import _frontend as frontend

__all__ = ["Sequential", "run"]


class Sequential(nnx.Sequential):
    """A chain of layers that threads each stateful layer's state.

    Stateful layers (those with `initial_state`) are called as
    ``layer(x, state) -> (x, state)``; stateless ones (`nnx.Linear`,
    `nnx.Conv`, `Flatten`, plain functions, ...) as ``layer(x) -> x``.
    The state is a list with one entry per layer, ``None`` for stateless ones.

    Example:

    ```python
    model = spyx.nn.Sequential(
        nnx.Linear(8, 16, rngs=nnx.Rngs(0)), spyx.nn.LIF((16,), beta=0.9)
    )
    state = model.initial_state(4)                 # [None, zeros((4, 16))]
    out, state = model(jnp.ones((4, 8)), state)    # one step
    ```
    """

    layers: list[core.StatefulLayer | Callable[..., Any]]

    def initial_state(self, batch_size: int | None, dtype: Any = None) -> list[Any]:
        """One entry per layer: its `initial_state`, or ``None``."""
        return [
            frontend.initial_state_of(layer, batch_size, dtype) for layer in self.layers
        ]

    def __call__(self, x: Array, state: Sequence[Any]) -> tuple[Array, list[Any]]:  # type: ignore[override]
        """Apply every layer in order; returns ``(out, new_state)``."""
        frontend.check_sequential_state(self.layers, state)
        return frontend.step_layers(
            self.layers,
            x,
            state,
            batch_ndim=frontend.sequential_batch_ndim(self.layers, state),
            apply_rows=_as_is,
            check=frontend.check_chain_inputs(self.layers, describe),
        )


def run(
    model: core.StatefulLayer,
    x: Array,
    state: Any = None,
    *,
    batch_major: bool = False,
    layerwise: bool | None = None,
    chunk: int | None = None,
    unroll: int | bool = 1,
    checkpoint: int | None = None,
    burnin: int = 0,
) -> tuple[Array, Any]:
    """Run a stateful model over a time-major sequence.

    A `Sequential` runs layer by layer: stateless layers (`nnx.Linear`,
    `nnx.Conv`, `Flatten`, ...) see all ``T * B`` rows at once, each stateful
    layer is scanned over time on its own, and `PSU_LIF` runs its parallel
    path; or in chunks of steps (`chunk`); or step by step with
    `jax.lax.scan`, as any other model is. Left open, the choice follows
    the shape. All give the same outputs, final state and gradients.

    Args:
        model: a callable ``(x_t, state) -> (out_t, state)``, such as a
            neuron or a `Sequential`. A plain stateless module does not fit: wrap
            it in a `Sequential` with a stateful layer, or `jax.vmap` it over time.
        x: input of shape ``[Time, Batch, ...]``.
        state: the state before the first step; ``None`` asks
            ``model.initial_state(batch_size)``, with neuron states in `x`'s dtype.
        batch_major: `x` is ``[Batch, Time, ...]`` and the outputs come back
            ``[Batch, Time, ...]`` (spyx 1.0's keyword): the same as transposing,
            running time-major and transposing back. The final state is as usual.
        layerwise: run a `Sequential` layer by layer (``True``) or step by
            step (``False``). Default (``None``): chosen by the model, the
            shape of `x` and whether the run is differentiated (a training
            step) or not (inference), among layer by layer, in chunks and
            step by step (see the performance page); step by step when
            `checkpoint` is set (only the step-by-step scan bounds the
            memory).
        chunk: run a `Sequential` layer by layer within chunks of this many
            steps, carrying the states from chunk to chunk (the same results;
            a working set of ``chunk * batch`` rows).
        unroll: time steps per loop iteration of the scans.
        checkpoint: memory-bounded backpropagation through time: remat blocks
            of this many steps (see `spyx.core.time_scan`).
        burnin: the first `burnin` steps run without gradient (their outputs
            and the state they reach are cut from it) and training continues
            from that state: the outputs of all steps come back, equal to a
            run without burn-in.

    Returns:
        ``(outputs, final_state)``, outputs time-major
            ``[Time, Batch, ...]``.

    Example:

    ```python
    model = spyx.nn.Sequential(
        nnx.Linear(8, 16, rngs=nnx.Rngs(0)), spyx.nn.LIF((16,), beta=0.9)
    )
    x = jnp.ones((100, 4, 8))  # [T, B, features]
    outs, final = spyx.nn.run(model, x)  # layer by layer: outs [100, 4, 16]
    outs, final = spyx.nn.run(model, x, checkpoint=25)  # bounded memory
    ```
    """
    label = f"run({type(model).__name__})"
    execution = frontend.Execution(layerwise, chunk, unroll, checkpoint).check(label)
    if burnin != 0:
        again = dict(layerwise=layerwise, chunk=chunk, unroll=unroll)
        return frontend.with_burnin(
            label,
            lambda x, s, _: run(
                model, x, s, batch_major=batch_major, checkpoint=checkpoint, **again
            ),
            x,
            state,
            burnin,
            batch_major,
        )
    options = (batch_major, execution)
    if not isinstance(model, nnx.Module):  # a plain callable: nothing to cache
        return _run(model, x, state, *options)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    if frontend.under_transformation((params, rest, x, state)) or not _hashable(
        graphdef
    ):
        return _run(model, x, state, *options)  # traced inline by the caller
    debug = core.debug_checks_enabled()
    outs, final, rest_after = _compiled_run(
        graphdef, params, rest, x, state, *options, debug
    )
    if jax.tree.leaves(rest):  # e.g. the RNG counters of a dropout layer
        nnx.update(model, rest_after)
    return outs, final


def _hashable(graphdef: Any) -> bool:
    """Whether a model's structure can key the compile cache (a layer holding
    a list, say, cannot)."""
    try:
        hash(graphdef)
    except TypeError:
        return False
    return True


@functools.partial(jax.jit, static_argnums=(0, 5, 6, 7))
def _compiled_run(
    graphdef: Any,
    params: Any,
    rest: Any,
    x: Array,
    state: Any,
    batch_major: bool,
    execution: frontend.Execution,
    debug: bool,
) -> tuple[Array, Any, Any]:
    """`run`, compiled once per model structure (`graphdef`), input shape and
    options and reused, so that eager calls cost about what a jitted one
    does (under the user's own `jit`, `vmap` or `grad`, `run` is traced
    inline instead).
    `debug` (whether `spyx.core.debug_checks` is on) is part of the cache
    key. Variables other than parameters (RNG counters, ...) that the run
    changes come back, to be written into the model."""
    model = nnx.merge(graphdef, params, rest)
    with core.debug_checks(debug):
        outs, final = _run(model, x, state, batch_major, execution)
    return outs, final, nnx.state(model, nnx.Not(nnx.Param))


def _run(
    model: Any,
    x: Array,
    state: Any,
    batch_major: bool,
    execution: frontend.Execution,
) -> tuple[Array, Any]:
    layer = f"run({type(model).__name__})"
    x = frontend.to_time_major(layer, x, batch_major)
    core.check_time_major(layer, x, state)
    frontend.check_not_empty(layer, x, 1)
    want = frontend.expected_input(model, describe)
    if state is None and want is not None and x.ndim < 2 + len(want):
        raise ValueError(
            f"{layer}: `x` must be time-major [Time, Batch, ...] with examples of "
            f"shape {frontend.show_shape(want)}, got {tuple(x.shape)}: there is no "
            f"batch axis. For one example pass x[:, None]."
        )
    sequential = isinstance(model, Sequential)
    frontend.check_model_input(layer, model, x, describe, "[Time, Batch, ...]")
    if want is not None and state is not None:
        frontend.batch_from_input(layer, model, x, state, want, None)
    outs, final = frontend.run_model(
        model,
        x,
        state,
        layer=layer,
        batch_size=x.shape[1],
        sequential=sequential,
        apply_rows=_as_is,
        execution=execution,
        chunkable=_chunkable(model),
        differentiated=frontend.under_differentiation(
            (nnx.state(model) if isinstance(model, nnx.Module) else None, x, state)
        ),
        check=frontend.layer_checker(model, describe, f"{layer}:"),
    )
    return frontend.from_time_major(outs, batch_major), final


def _chunkable(model: Any) -> bool:
    """NNX random state (a dropout's `rngs`) advances in place, which a loop
    over chunks cannot carry; a plain function has none."""
    if not isinstance(model, nnx.Module):
        return True
    return not jax.tree.leaves(nnx.state(model, nnx.RngState))


def describe(layer: Any) -> frontend.ExampleShape | None:
    """The per-example input shape of a Flax layer: ``(in_features,)`` for
    `nnx.Linear`, ``(*, ..., in_features)`` (channels last) for `nnx.Conv`;
    ``None`` for any other layer (not checked)."""
    if isinstance(layer, nnx.Linear):
        return (layer.in_features,)
    if isinstance(layer, nnx.Conv):
        return (*([None] * len(layer.kernel_size)), layer.in_features)
    return None


def _as_is(layer: Any) -> Any:
    """NNX layers take any leading batch axes: apply them unchanged."""
    return layer
