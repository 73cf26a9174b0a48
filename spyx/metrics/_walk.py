"""Each layer's input, output and membrane over a run, by recording it.

`traces` runs a `Sequential` or `Graph` with ``record="all"`` and reads
each layer's input off the records: a chain's layer ``i`` takes ``x`` or
layer ``i - 1``'s output; a graph's node takes the sum of its sources'
outputs (a delayed edge's of the step before). A nested chain or graph is
run again on its own input, with its own part of the state.
"""

import dataclasses
from collections.abc import Callable
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from ._layers import CONTAINER, GRAPH, NEURON, framework, kind_of

__all__ = ["Trace", "runner", "traces"]

INPUT = "input"


@dataclasses.dataclass(frozen=True)
class Trace:
    """One leaf layer's sequences, time-major ``[T, *batch, ...]``.

    Attributes:
        path: the layer's place: indices and node names joined by dots.
        layer: the layer itself.
        inputs: what it took at each step.
        outputs: what it gave at each step.
        membrane: a neuron's ``V`` after each step, else ``None``.
    """

    path: str
    layer: Any
    inputs: Array | np.ndarray
    outputs: Array
    membrane: Array | None


def runner(model: Any) -> Callable[..., Any]:
    """The `run` of `model`'s API (`spyx.nn.run` or `spyx_eqx.run`)."""
    if framework(model) == "nnx":
        import spyx.nn

        return spyx.nn.run
    import spyx_eqx

    return spyx_eqx.run


def _shifted(seq: np.ndarray, first: Array | None) -> np.ndarray:
    """`seq` one step later: step ``t`` holds step ``t - 1``, and step 0
    `first` (zeros if ``None``)."""
    head = np.zeros_like(seq[:1]) if first is None else np.asarray(first)[None]
    return np.concatenate([head.astype(seq.dtype), seq[:-1]], axis=0)


def _membrane(layer: Any, record: Any) -> Array | None:
    if kind_of(layer) != NEURON:
        return None
    parts = record.parts
    return parts.get("V")


def traces(
    model: Any,
    x: Array | np.ndarray,
    state: Any,
    options: dict[str, Any],
    prefix: str = "",
) -> list[Trace]:
    """The `Trace` of every leaf layer of a `Sequential` or `Graph` run on
    `x` (``[T, *batch, ...]``) from `state` (``None``: the zero state).

    A nested container runs again on its recorded input, from the state it
    started from; its output must equal what the outer run recorded for it,
    or a `ValueError` says so (a layer inside it that draws random numbers,
    such as a dropout in training mode, would give other spikes)."""
    return _traces(model, x, state, options, prefix)[0]


def _traces(
    model: Any,
    x: Array | np.ndarray,
    state: Any,
    options: dict[str, Any],
    prefix: str,
) -> tuple[list[Trace], Any]:
    outs, _, records = runner(model)(model, x, state, record="all", **options)
    graph = kind_of(model) == GRAPH
    names = list(model.plan.names) if graph else list(range(len(model.layers)))
    found: list[Trace] = []
    for position, name in enumerate(names):
        layer = model.nodes[name] if graph else model.layers[name]
        if graph:
            inputs = _graph_input(model, cast(str, name), x, state, records)
        else:
            inputs = x if position == 0 else records[names[position - 1]].output
        path = f"{prefix}{name}"
        rec = records[name]
        if kind_of(layer) in (CONTAINER, GRAPH):
            # from the state it started from (zeros of the recorded states'
            # shape when none is given: the batch axes as the outer run had)
            own = state[name] if state is not None else _start(rec.state, options)
            if framework(layer) == "nnx":
                from flax import nnx

                layer = nnx.clone(layer)  # its variables stay as the run left them
            inner, again = _traces(layer, inputs, own, options, f"{path}.")
            if not np.allclose(np.asarray(again), np.asarray(rec.output), atol=1e-5):
                raise ValueError(
                    f"spyx.metrics: the nested {type(layer).__name__} at {path!r} "
                    f"gives other outputs when run again on its own input: a layer "
                    f"in it draws random numbers (a dropout in training mode). "
                    f"Count the model in inference mode (model.eval() in spyx.nn, "
                    f"eqx.nn.inference_mode in spyx_eqx), or flatten the nesting."
                )
            found += inner
            continue
        found.append(Trace(path, layer, inputs, rec.output, _membrane(layer, rec)))
    return found, outs


def _start(states: Any, options: dict[str, Any]) -> Any:
    """Zeros shaped as one step of recorded states (over time on the axis
    the run's layout puts it: 1 with ``batch_major``)."""
    axis = 1 if options.get("batch_major") else 0
    return jax.tree.map(lambda a: jnp.zeros_like(jnp.take(a, 0, axis)), states)


def _graph_input(
    model: Any, name: str, x: Array | np.ndarray, state: Any, records: Any
) -> np.ndarray:
    """A node's input at every step: the sum over its edges of the source's
    output (`x` for ``"input"``), a delayed edge's shifted by one step."""
    total = None
    for source, delayed in model.plan.sources(name):
        seq = np.asarray(x if source == INPUT else records[source].output)
        if delayed:
            first = None if state is None else state[f"{source}@t-1"]
            seq = _shifted(seq, first)
        total = seq if total is None else total + seq
    if total is None:
        raise ValueError(f"spyx.metrics: graph node {name!r} has no input edge.")
    return total
