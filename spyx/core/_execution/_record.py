"""Recording inside a run: what the chosen layers of a `Sequential` (or nodes
of a `Graph`) output and hold at every step.

`run(model, x, record=...)` names the layers (``"all"``, indices of a
chain, names of a graph's nodes); each comes back as a `Record` of
time-major sequences, equal on every execution to stepping the model and
keeping every step's values, and differentiable like the outputs.
"""

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from .._checks import Container, GraphContainer, SequenceLayer, split_halves
from .._scans import time_scan
from ._graph_plan import current_plan

__all__ = ["Record", "record_selection", "records_of", "scan_traced"]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Record:
    """One layer's values at every step of a run, time-major.

    Attributes:
        output: what the layer gave at each step, ``[T, *batch, ...]``
            (``[*batch, T, ...]`` with ``batch_major=True``): a neuron's
            spikes, a linear layer's currents.
        state: the layer's state after each step, stacked over time as
            the output is (``[T, *batch, *state_shape]`` for a neuron,
            ``[*batch, T, ...]`` with ``batch_major=True``; a nested
            container's list or dict of them); ``None`` for a stateless
            layer.
        part_names: the names of a neuron's state parts (``("V",)``,
            ``("V", "I")``, ...), side by side on the state's last axis;
            empty for any other layer.

    Example:

    ```python
    model = spyx.nn.Sequential(
        nnx.Linear(8, 16, rngs=nnx.Rngs(0)), spyx.nn.LIF((16,), beta=0.9)
    )
    outs, final, records = spyx.nn.run(model, jnp.ones((100, 4, 8)), record="all")
    records[1].output.shape  # spikes (100, 4, 16)
    records[1].membrane.shape  # (100, 4, 16)
    ```
    """

    output: Any
    state: Any
    part_names: tuple[str, ...] = dataclasses.field(
        default=(), metadata={"static": True}
    )

    @property
    def parts(self) -> dict[str, Array]:
        """A neuron's state parts by name.

        ``{"V": ...}``, ``{"V": ..., "I": ...}``, ..., each with the shape
        of the layer's output; empty for any other layer."""
        names = self.part_names
        if not names:
            return {}
        if len(names) == 1:
            return {names[0]: self.state}
        if len(names) == 2:
            return dict(zip(names, split_halves(self.state), strict=True))
        return dict(zip(names, jnp.split(self.state, len(names), -1), strict=True))

    @property
    def membrane(self) -> Array:
        """A neuron's membrane ``V`` at every step (after the step's update)."""
        parts = self.parts
        if "V" not in parts:
            raise AttributeError(
                f"this record has no membrane: its layer is no neuron with a "
                f"state part 'V' (parts: {list(parts) or 'none'})."
            )
        return parts["V"]


Selection = tuple[int, ...] | tuple[str, ...]


def record_selection(label: str, record: Any, model: Any) -> Selection | None:
    """The layers `record` names, checked against the model: ``None`` for
    no recording; ``"all"`` (or ``True``) for every layer of a chain or
    node of a graph; an index or a list of indices of a chain's layers
    (negative ones count from the end); a name or a list of names of a
    graph's nodes. Anything else is a `ValueError` or `TypeError` naming
    `label` and what the model has."""
    if record is None:
        return None
    if isinstance(model, GraphContainer):
        names: tuple = current_plan(model).names
        kind, what = str, f"node names {list(names)}"
    elif isinstance(model, Container):
        names = tuple(range(len(model.layers)))
        kind, what = int, f"layer indices 0 to {len(names) - 1}"
    else:
        raise TypeError(
            f"{label}: `record` names layers of a Sequential or nodes of a Graph, "
            f"not of a {type(model).__name__}; for one layer's states use "
            f"spyx.core.states_over_time."
        )
    if record is True or (isinstance(record, str) and record == "all"):
        return names
    if isinstance(record, np.ndarray | jax.Array) and record.ndim == 1:
        record = list(record)  # indices from np.argsort, jnp.arange, ...
    single = isinstance(record, int | str | np.integer) or (
        isinstance(record, jax.Array) and record.ndim == 0
    )
    wanted = [record] if single else record
    if not isinstance(wanted, Sequence) or isinstance(wanted, str):
        raise TypeError(
            f"{label}: `record` must be 'all' or {what}, got {type(record).__name__}."
        )
    chosen: list = []
    for item in wanted:
        if kind is int and not isinstance(item, bool):
            item = _index(item)
        if kind is int and isinstance(item, int) and not isinstance(item, bool):
            item = item + len(names) if -len(names) <= item < 0 else item
        if isinstance(item, bool) or not isinstance(item, kind) or item not in names:
            raise ValueError(
                f"{label}: `record` names {item!r}, which is none of the model's "
                f"{what} (or 'all')."
            )
        if item not in chosen:
            chosen.append(item)
    return tuple(chosen)


def _index(item: Any) -> Any:
    """An integer of NumPy's or a scalar JAX integer as a Python int (what
    `np.argsort` or `jnp.arange` give); anything else as it is."""
    if isinstance(item, np.integer) or (
        isinstance(item, jax.Array)
        and item.ndim == 0
        and jnp.issubdtype(item.dtype, jnp.integer)
    ):
        return int(item)
    return item


def records_of(layers: Any, raw: dict[Any, tuple[Any, Any]]) -> dict[Any, Record]:
    """`Record`s of the ``position -> (outputs, states)`` a runner kept,
    with each neuron's part names (its spec's `state_parts`)."""
    found = {}
    for position, (output, state) in raw.items():
        spec = getattr(layers[position], "spec", None)
        parts = tuple(getattr(spec, "state_parts", ())) if state is not None else ()
        found[position] = Record(output, state, parts)
    return found


def scan_traced(
    layer: Any,
    xs: Array,
    state: Any,
    *,
    keys: Any = None,
    unroll: int | bool = 1,
    checkpoint: int | None = None,
) -> tuple[Array, Any, Any]:
    """A stateful layer over a whole sequence, keeping the state after every
    step: ``(outs, final, states)``.

    The outputs and the final state are `scan_layer`'s (a neuron's sequence
    kernel where it has one); the states come from a `time_scan` of its
    step beside it, whose backward pass only runs where a loss uses them.
    Stepping it alone (keys, `checkpoint`, a layer without a kernel), one
    scan gives all three."""

    def step(inputs: Any, s: Any) -> tuple[Any, Any]:
        x, key = inputs
        out, new = layer(x, s) if key is None else layer(x, s, key=key)
        return (out, new), new

    if keys is None and checkpoint is None and isinstance(layer, SequenceLayer):
        outs, final = layer.run_sequence(xs, state, unroll=unroll)
        step_states = lambda x, s: (layer(x, s)[1],) * 2  # noqa: E731
        states = time_scan(step_states, xs, state, unroll=unroll)[0]
        return outs, final, states
    (outs, states), final = time_scan(
        step, (xs, keys), state, unroll=unroll, checkpoint=checkpoint
    )
    return outs, final, states
