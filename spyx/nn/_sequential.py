"""`Sequential`, the stateful chain of layers, and the time-major `run`."""

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any, overload

import jax
import jax.numpy as jnp
from flax import nnx
from flax.nnx import graphlib
from jax import Array

from .. import core
from ..core import _frontend as frontend
from ._rows import as_is
from ._threaded import (
    Captured,
    Threaded,
    capturing,
    holds_variables,
    share_variables,
    thread,
    unthread,
)

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
        frontend.batch_shape("Sequential", batch_size)  # a positive int or None
        return [
            frontend.initial_state_of(layer, batch_size, dtype) for layer in self.layers
        ]

    def __call__(self, x: Array, state: Sequence[Any]) -> tuple[Array, list[Any]]:  # type: ignore[override]
        """Apply every layer in order; returns ``(out, new_state)``."""
        return _step_chain(self.layers, x, state, self.layers)


def _step_chain(
    layers: Sequence[Any], x: Array, state: Sequence[Any], named: Sequence[Any]
) -> tuple[Array, list[Any]]:
    """One step of a chain (`named`: the layers the checks' messages name).
    `x` has one batch axis unless a layer's state says otherwise."""
    frontend.check_sequential_state(layers, state)
    return frontend.step_layers(
        layers,
        x,
        state,
        batch_ndim=frontend.sequential_batch_ndim(layers, state, 1),
        apply_rows=as_is,
        check=frontend.check_chain_inputs(named, describe),
    )


@overload
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
    record: None = None,
) -> tuple[Array, Any]: ...


@overload
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
    record: int | str | Sequence[int] | Sequence[str],
) -> tuple[Array, Any, dict[Any, core.Record]]: ...


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
    record: int | str | Sequence[int] | Sequence[str] | None = None,
) -> tuple[Array, Any] | tuple[Array, Any, dict[Any, core.Record]]:
    """Run a stateful model over a time-major sequence.

    A `Sequential` runs layer by layer: stateless layers that treat each
    example on its own (`nnx.Linear`, `nnx.Conv`, `nnx.LayerNorm`, `Flatten`,
    activations, ...) see all ``T * B`` rows at once (a plain function or a
    module of another kind sees one step's examples at a time, as when
    stepping, so one that works across the batch is right too), each stateful
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
        record: layers whose values to keep at every step: ``"all"``, an
            index or a list of indices of a `Sequential`'s layers (negative
            ones count from the end), or a name or a list of names of a
            `Graph`'s nodes. Recorded on every execution (a recorded neuron
            keeps its sequence kernel; its states come from a scan beside
            it).

    `run` compiles once per model structure and input shape, as `nnx.jit`
    does: a layer's plain Python attributes (not `nnx.Variable`s, arrays or
    numbers) are part of that structure; change one in place (an object's
    field) and the next call may reuse the program compiled before. Assign
    a new value, or hold what changes in an `nnx.Variable`.

    Returns:
        ``(outputs, final_state)``, outputs time-major
            ``[Time, Batch, ...]``; with `record`, ``(outputs, final_state,
            records)``: `records` maps each chosen index or name to a
            `spyx.core.Record`, its ``output`` (``[Time, Batch, ...]``, a
            neuron's spikes), its ``state`` after each step (``None`` for a
            stateless layer) and, for a neuron, its ``parts`` by name and
            ``membrane``. They are what stepping the model by hand gives,
            and differentiable: a loss may use them (a per-layer
            regulariser on the spikes).

    Example:

    ```python
    model = spyx.nn.Sequential(
        nnx.Linear(8, 16, rngs=nnx.Rngs(0)), spyx.nn.LIF((16,), beta=0.9)
    )
    x = jnp.ones((100, 4, 8))  # [T, B, features]
    outs, final = spyx.nn.run(model, x)  # layer by layer: outs [100, 4, 16]
    outs, final = spyx.nn.run(model, x, checkpoint=25)  # bounded memory
    outs, final, records = spyx.nn.run(model, x, record=[1])
    records[1].output.shape  # the LIF's spikes (100, 4, 16)
    records[1].membrane.shape  # and its membrane (100, 4, 16)
    ```
    """
    label = f"run({type(model).__name__})"
    execution = frontend.Execution(layerwise, chunk, unroll, checkpoint).check(label)
    capture = capturing(model)  # (a capture runs burn-in in one go)

    def once(x: Array, state: Any, _: Any, selection: Any) -> tuple:
        options = (batch_major, execution, selection)
        if not isinstance(model, nnx.Module) or capture:
            # a plain callable: nothing to cache; inside nnx.capture: inline
            return _run(model, x, state, *options, burnin=burnin if capture else 0)
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        if frontend.under_transformation((params, rest, x, state)) or not _hashable(
            graphdef
        ):
            return _run(model, x, state, *options)  # traced inline by the caller
        debug = core.debug_checks_enabled()
        outs, final, records, rest_after = _compiled_run(
            graphdef, params, rest, x, state, *options, debug
        )
        if jax.tree.leaves(rest):  # e.g. the RNG counters of a dropout layer
            nnx.update(model, rest_after)
        return outs, final, records

    return frontend.run_front(
        label,
        model,
        x,
        state,
        burnin=0 if capture else burnin,
        batch_major=batch_major,
        key=None,
        record=record,
        run_once=once,
    )


def _hashable(graphdef: Any) -> bool:
    """Whether a model's structure can key the compile cache (a layer holding
    a list, say, cannot)."""
    try:
        hash(graphdef)
    except TypeError:
        return False
    return True


@functools.partial(jax.jit, static_argnums=(0, 5, 6, 7, 8))
def _compiled_run(
    graphdef: Any,
    params: Any,
    rest: Any,
    x: Array,
    state: Any,
    batch_major: bool,
    execution: frontend.Execution,
    selection: Any,
    debug: bool,
) -> tuple[Array, Any, Any, Any]:
    """`run`, compiled once per model structure (`graphdef`), input shape and
    options and reused, so that eager calls cost about what a jitted one
    does (under the user's own `jit`, `vmap` or `grad`, `run` is traced
    inline instead).
    `debug` (whether `spyx.core.debug_checks` is on) is part of the cache
    key. Variables other than parameters (RNG counters, ...) that the run
    changes come back, to be written into the model."""
    model = nnx.merge(graphdef, params, rest)
    with core.debug_checks(debug):
        outs, final, records = _run(model, x, state, batch_major, execution, selection)
    return outs, final, records, nnx.state(model, nnx.Not(nnx.Param))


def _run(
    model: Any,
    x: Array,
    state: Any,
    batch_major: bool,
    execution: frontend.Execution,
    selection: Any = None,
    burnin: int = 0,
) -> tuple[Array, Any, Any]:
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
    frontend.check_model_input(layer, model, x, describe, "[Time, Batch, ...]")
    if want is not None and state is not None:
        frontend.batch_from_input(layer, model, x, state, want, None)
    differentiated = frontend.under_differentiation((_param_values(model), x, state))
    if capturing(model):  # inside nnx.capture: step by step, sown values stacked
        if selection is not None:
            raise TypeError(
                f"{layer}: `record` cannot run inside nnx.capture (which steps the "
                f"model as a whole); sow what you need there, or record outside it."
            )
        if state is None:
            state = frontend.initial_state_of(
                model, x.shape[1], core.state_dtype(x.dtype)
            )
        outs, final = _captured_run(layer, model, x, state, execution, burnin)
        return frontend.from_time_major(outs, batch_major), final, None
    runnable, state, finish = _threaded(model, x, state)
    outs, final = frontend.run_model(
        runnable,
        x,
        state,
        layer=layer,
        batch_size=x.shape[1],
        sequential=isinstance(runnable, Sequential | _ChainView),
        apply_rows=as_is,
        execution=execution,
        differentiated=differentiated,
        check=frontend.layer_checker(model, describe, f"{layer}:"),
        default_batch_ndim=1,
        record=selection,
    )
    outs, records = frontend.split_records(
        outs, selection, model, batch_major, lambda k, s: _inner(runnable, k, s)
    )
    return outs, finish(final), records


def _inner(runnable: Any, position: Any, state: Any) -> Any:
    """A recorded layer's state without what its `Threaded` twin carries."""
    members = getattr(runnable, "layers", None) or getattr(runnable, "nodes", {})
    return state[0] if isinstance(members[position], Threaded) else state


def _param_values(model: Any) -> list[Any]:
    """A model's parameter arrays, flat (under `nnx.capture` its state mixes
    string and integer keys, which a pytree cannot sort)."""
    if not isinstance(model, nnx.Module):
        return []
    flat = graphlib.flatten(model)[1]
    return [var.get_value() for _, var in flat if isinstance(var, nnx.Param)]


def describe(layer: Any) -> frontend.ExampleShape | None:
    """The per-example input shape of a Flax layer: ``(in_features,)`` for
    `nnx.Linear`, ``(*, ..., in_features)`` (channels last) for `nnx.Conv`;
    ``None`` for any other layer (not checked)."""
    if isinstance(layer, Threaded):
        return frontend.expected_input(layer.layer, describe)
    if isinstance(layer, nnx.Linear):
        return (layer.in_features,)
    if isinstance(layer, nnx.Conv):
        return (*([None] * len(layer.kernel_size)), layer.in_features)
    return None


class _ChainView:
    """A `Sequential`'s chain with its `Threaded` layers, as `run` steps it."""

    def __init__(self, layers: list[Any], named: Sequence[Any]):
        self.layers, self.named = layers, named

    def __call__(self, x: Array, state: Sequence[Any]) -> tuple[Array, list[Any]]:
        return _step_chain(self.layers, x, state, self.named)


class _GraphView(frontend.GraphBase):
    """A `Graph`'s nodes with its `Threaded` layers, as `run` steps it."""

    _describe = staticmethod(describe)
    _apply_rows = staticmethod(as_is)
    _default_batch_ndim = 1

    def __init__(self, plan: frontend.GraphPlan, nodes: dict[str, Any], named: Any):
        # the plan of the graph it stands for, as the plan of these nodes
        kinds = frontend.node_kinds({n: nodes[n] for n in plan.names})
        self.plan = dataclasses.replace(plan, kinds=kinds)
        self.nodes, self.named = nodes, named

    def __call__(self, x: Array, state: Any) -> tuple[Array, dict]:
        return frontend.step_graph(
            self.plan,
            self.nodes,
            x,
            state,
            apply_rows=as_is,
            check=frontend.layer_checker(self.named, describe, "Graph"),
            default_batch_ndim=1,
        )


def _threaded(model: Any, x: Array, state: Any) -> tuple[Any, Any, Callable]:
    """The model as `run` hands it to the core: layers that hold variables
    other than parameters (`nnx.Dropout`'s RNG state, `nnx.BatchNorm`'s
    statistics, ...) become `Threaded` twins that carry them in the state.
    Returns ``(runnable, state, finish)``; ``finish(final_state)`` gives the
    user's final state and writes the variables back into the layers."""
    chain = isinstance(model, Sequential)
    graph = isinstance(model, frontend.GraphBase)
    parts = list(model.layers) if chain else dict(model.nodes) if graph else None
    members = parts.values() if isinstance(parts, dict) else parts or ()
    if not any(holds_variables(layer) for layer in members):
        if parts is not None or not holds_variables(model):
            return model, state, lambda final: final
    if state is None:
        state = frontend.initial_state_of(model, x.shape[1], core.state_dtype(x.dtype))
    if parts is not None and share_variables(members):
        parts = None  # the layers share a variable: step the whole model
    if parts is None:
        twin = Threaded(model)
        return twin, (state, twin.variables), lambda final: unthread([twin], [final])[0]
    twins, state = thread(parts, state)
    if chain:
        view: Any = _ChainView(twins, model.layers)
    else:
        view = _GraphView(frontend.current_plan(model), twins, model)
    return view, state, lambda final: unthread(twins, final)


def _captured_run(
    layer: str,
    model: Any,
    x: Array,
    state: Any,
    execution: frontend.Execution,
    burnin: int,
) -> tuple[Array, Any]:
    """`model` stepped over time-major `x` inside `nnx.capture`: what it
    sows comes back stacked over all T steps (burn-in included, its first
    steps cut from the gradient), written into the captures once."""
    frontend.check_burnin(layer, burnin, x.shape[0])
    captured = Captured(model)

    def scan(xs: Array, carry: Any) -> tuple[Any, Any]:
        return core.time_scan(
            captured,
            xs,
            carry,
            unroll=execution.unroll,
            checkpoint=execution.checkpoint,
        )

    carry = (state, captured.values)
    parts = []
    if burnin:
        first, carry = jax.lax.stop_gradient(scan(x[:burnin], carry))
        parts.append(first)
    if burnin < x.shape[0]:
        rest, carry = scan(x[burnin:], carry)
        parts.append(rest)
    outs, sown = jax.tree.map(lambda *a: jnp.concatenate(a), *parts)
    final, values = carry
    captured.write_back(sown, values)
    return outs, final
