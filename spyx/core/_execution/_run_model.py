"""`run_model`, the `run` of both front ends: the zero state, the checks,
the strategy (`_strategy`) and its runner (`_runners` for a chain,
`_graph_run` for a graph, `time_scan` for a model stepped as a whole); and
burn-in, the first steps run without gradient."""

from collections.abc import Callable
from typing import Any, cast

import jax
import jax.numpy as jnp
from jax import Array

from .._checks import (
    Container,
    GraphContainer,
    check_sequential_state,
    is_stateful,
    sequential_batch_ndim,
)
from .._scans import initial_state_of, state_dtype, time_scan
from ._graph_plan import current_plan
from ._graph_run import (
    check_graph_state,
    graph_batch_ndim,
    graph_row_keys,
    run_graph_layerwise,
    step_graph,
)
from ._keys import layer_keys, row_keys, takes_key
from ._record import Selection
from ._runners import in_chunks, run_chunked, run_layerwise, step_layers
from ._strategy import Execution

__all__ = ["check_burnin", "run_model", "with_burnin"]


def run_model(
    model: Callable[..., tuple[Any, Any]],
    xs: Array,
    state: Any,
    *,
    layer: str,
    batch_size: int | None,
    execution: Execution | None = None,
    sequential: bool = False,
    apply_rows: Callable[..., Callable[[Array], Array]] | None = None,
    key: Any = None,
    check: Callable[[int, Array], None] | None = None,
    differentiated: bool = True,
    default_batch_ndim: int = 0,
    record: Selection | None = None,
) -> tuple[Any, Any]:
    """The `run` of both front ends.

    With ``state=None`` the model's zero state for `batch_size` (``None``:
    one example) is built in `state_dtype` of `xs`'s dtype (float32 for
    bfloat16 data); a model without one is a clear `TypeError` naming
    `layer`. For a `sequential` model (a front end's `Sequential`, whose
    ``layers`` run one after the other), the state is checked against its
    layers, and `execution` picks the strategy (`Execution.plan`): layer by
    layer (`run_layerwise`), in chunks (`run_chunked`), or `model` stepped
    by `time_scan`, which is the only strategy for any other model.

    With a PRNG `key`, the layers that take one get their keys as
    `spyx.core.row_keys` derives them (the same for every strategy); a
    model stepped as a whole is called as ``model(x_t, state, key=k_t)`` if
    it takes a key. `check` is passed to the layer-wise runners (a
    `Sequential` checks its layers' inputs itself when stepped).
    `differentiated` is false for an inference-only run (see
    `under_differentiation`), and `default_batch_ndim` the number of batch
    axes of a step's input when no layer's state says (a chain of stateless
    layers). With `record` (a chain's indices or a graph's node names, as
    `record_selection` checks them), the outputs are ``(outputs, kept)``:
    `kept` maps each recorded layer to its ``(outputs, states)`` over time,
    the same on every strategy.

    Example: ``outs, final = run_model(neuron, xs, None, layer="run", batch_size=B)``.
    """
    if not callable(model):
        raise TypeError(f"{layer}: `model` must be callable as model(x_t, state).")
    ex = (execution or Execution()).check(layer)
    if state is None:
        if not is_stateful(model):
            raise TypeError(
                f"{layer}: no `state` was given and the model has no "
                f"initial_state(batch_size). Pass state=... explicitly, or wrap "
                f"the model in a Sequential together with a stateful layer."
            )
        state = initial_state_of(model, batch_size, state_dtype(xs.dtype))
    layers, batch_ndim = None, 0
    graph = isinstance(model, GraphContainer)
    if sequential:
        chain = cast(Container, model)  # a front end's Sequential
        check_sequential_state(chain.layers, state)
        layers = chain.layers
        batch_ndim = sequential_batch_ndim(layers, state, default_batch_ndim)
    elif graph:
        plan = current_plan(model)
        check_graph_state(plan, model.nodes, state)
        layers = [model.nodes[n] for n in plan.names]
        batch_ndim = graph_batch_ndim(plan, model.nodes, state, default_batch_ndim)
    strategy, chunk = ex.plan(
        layer, tuple(xs.shape), layers, batch_ndim, differentiated
    )
    if record is not None and layers is None:
        raise TypeError(
            f"{layer}: `record` needs the layers of a Sequential or a Graph, and "
            f"this model runs as one step function (its layers share a variable, "
            f"e.g. one nnx.Rngs); record without sharing, or use nnx.capture."
        )
    if strategy != "stepwise" and graph:
        return _run_graph(
            model,
            xs,
            state,
            strategy,
            chunk,
            batch_ndim,
            apply_rows,
            ex,
            key,
            check,
            record,
        )
    if strategy != "stepwise":
        chain = cast(Container, model)  # only a chain or a graph runs by layers
        shared = {
            "batch_ndim": batch_ndim,
            "apply_rows": apply_rows or (lambda layer: layer),
            "unroll": ex.unroll,
            "keys": None
            if key is None
            else row_keys(key, chain.layers, xs.shape[0], xs.shape[1 : 1 + batch_ndim]),
            "check": check,
            "record": record,
        }
        if strategy == "chunked":
            return run_chunked(chain.layers, xs, state, chunk=chunk, **shared)
        return run_layerwise(
            chain.layers, xs, state, checkpoint=ex.checkpoint, **shared
        )
    if record is not None:
        model = _recording_step(model, graph, batch_ndim, apply_rows, record)
    if key is None or not takes_key(model):
        return time_scan(model, xs, state, unroll=ex.unroll, checkpoint=ex.checkpoint)
    return time_scan(
        lambda xk, s: model(xk[0], s, key=xk[1]),
        (xs, jax.random.split(key, xs.shape[0])),
        state,
        unroll=ex.unroll,
        checkpoint=ex.checkpoint,
    )


def _recording_step(
    model: Any, graph: bool, batch_ndim: int, apply_rows: Any, record: Selection
) -> Callable[..., tuple[Any, Any]]:
    """A chain's or a graph's step that also gives the recorded layers'
    ``(output, new_state)`` (`step_layers`, `step_graph`), keys split among
    the layers as the model's own call splits them."""
    rows = apply_rows or (lambda f: f)

    def step(x: Array, state: Any, key: Any = None) -> tuple[Any, Any]:
        if graph:
            return step_graph(
                current_plan(model),
                model.nodes,
                x,
                state,
                apply_rows=rows,
                key=key,
                default_batch_ndim=batch_ndim,
                record=cast(tuple[str, ...], record),  # a graph's node names
            )
        return step_layers(
            model.layers,
            x,
            state,
            batch_ndim=batch_ndim,
            apply_rows=rows,
            keys=layer_keys(key, model.layers),
            record=cast(tuple[int, ...], record),  # a chain's indices
        )

    return step


def check_burnin(layer: str, burnin: Any, T: int) -> None:
    """`burnin` is a number of steps from 0 to the sequence's `T`."""
    if isinstance(burnin, bool) or not isinstance(burnin, int) or not 0 <= burnin <= T:
        raise ValueError(
            f"{layer}: `burnin` must be a number of steps from 0 to the sequence's "
            f"{T}, got {burnin!r}."
        )


def with_burnin(
    layer: str,
    run: Callable[[Array, Any, Any], tuple[Array, Any]],
    xs: Array,
    state: Any,
    burnin: int,
    batch_major: bool = False,
    key: Any = None,
) -> tuple[Array, Any]:
    """`run` over `xs` whose first `burnin` steps carry no gradient.

    ``run(x, state, key) -> (outs, final)`` runs the first `burnin` steps,
    both its outputs and the state it reaches are cut from the gradient
    (`jax.lax.stop_gradient`), and the rest of the sequence runs on from
    that state. The outputs of all steps come back, so the values equal a
    run without burn-in (without a key); a training loss sees gradients
    only through the steps after it. With a `key`, each part gets a key of
    its own (``split(key)``). `xs` is time-major, or batch-major with
    `batch_major`.
    """
    axis = 1 if batch_major else 0
    T = xs.shape[axis] if xs.ndim > axis else 0
    check_burnin(layer, burnin, T)
    keys = (None, None) if key is None else tuple(jax.random.split(key))
    if burnin == 0:
        return run(xs, state, key)
    first, rest = jnp.split(xs, [burnin], axis=axis)
    outs, state = jax.lax.stop_gradient(run(first, state, keys[0]))
    if burnin == T:
        return outs, state
    later, state = run(rest, state, keys[1])
    both = jax.tree.map(lambda a, b: jnp.concatenate([a, b], axis=axis), outs, later)
    return both, state


def _run_graph(
    model: Any,
    xs: Array,
    state: Any,
    strategy: str,
    chunk: int,
    batch_ndim: int,
    apply_rows: Any,
    ex: Execution,
    key: Any,
    check: Any,
    record: Selection | None,
) -> tuple[Any, Any]:
    """A graph layer-wise (`run_graph_layerwise`) or in chunks."""
    plan, nodes = current_plan(model), model.nodes
    batch = tuple(xs.shape[1 : 1 + batch_ndim])
    keys = None if key is None else graph_row_keys(key, plan, nodes, len(xs), batch)
    options = {
        "batch_ndim": batch_ndim,
        "apply_rows": apply_rows or (lambda f: f),
        "record": record,
    }

    def run(x: Array, state: Any, keys: Any, check: Any = None) -> Any:
        return run_graph_layerwise(
            plan, nodes, x, state, unroll=ex.unroll, keys=keys, check=check, **options
        )

    if strategy == "chunked":
        return in_chunks(run, xs, dict(state), keys, chunk, check)
    return run_graph_layerwise(
        plan,
        nodes,
        xs,
        state,
        unroll=ex.unroll,
        checkpoint=ex.checkpoint,
        keys=keys,
        check=check,
        **options,
    )
