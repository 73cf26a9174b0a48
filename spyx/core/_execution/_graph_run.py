"""Running a planned graph (`_graph_plan`): its zero state, one step
(`step_graph`), the whole sequence node by node where it can
(`run_graph_layerwise`), and `GraphBase`, the framework-free half of both
front ends' `Graph`."""

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import jax.numpy as jnp
from jax import Array

from .._checks import batch_shape, is_stateful, layer_checker, state_batch_ndim
from .._scans import initial_state_of, scan_layer, time_scan
from ._graph_plan import (
    INPUT,
    OUTPUT,
    GraphPlan,
    current_plan,
    graph_nodes,
    plan_graph,
    previous_key,
)
from ._keys import example_keys, layer_keys, row_keys
from ._record import scan_traced
from ._rows import apply_stateless

__all__ = [
    "GraphBase",
    "check_graph_state",
    "graph_batch_ndim",
    "graph_initial_state",
    "graph_row_keys",
    "run_graph_layerwise",
    "step_graph",
]


class GraphBase:
    """The framework-free half of a front end's `Graph`.

    A front end's class sets `_describe` (its input shapes of stateless
    layers, as `expected_input` takes them) and `_apply_rows` (how a
    stateless node runs on rows), stores the nodes its own way
    (`_store_nodes`) and calls `_setup` from its constructor and `_step`
    from its ``__call__``; the checks, the plan, the zero state and the
    step exist once, here."""

    nodes: Any
    plan: "GraphPlan"
    _default_batch_ndim = 0  # batch axes of `x` when no node's state says

    if TYPE_CHECKING:  # each front end's class defines its step

        def __call__(self, x: Any, state: Any) -> tuple[Any, Any]: ...

    @staticmethod
    def _describe(layer: Any) -> tuple | None:
        raise NotImplementedError

    @staticmethod
    def _apply_rows(layer: Any, keys: Any = None) -> Callable[[Array], Array]:
        raise NotImplementedError

    def _store_nodes(self, nodes: dict[str, Any]) -> Any:
        return nodes

    def _setup(
        self, nodes: Any, edges: Any, delayed: Any, spikes_after_update: bool
    ) -> None:
        """Check and store the nodes, and plan the graph (`plan_graph`)."""
        checked = graph_nodes("Graph", nodes)
        self.nodes = self._store_nodes(checked)
        self.plan = plan_graph(
            "Graph",
            checked,
            edges,
            delayed,
            spikes_after_update=spikes_after_update,
            describe=self._describe,
        )

    def initial_state(self, batch_size: int | None = None, dtype: Any = None) -> dict:
        """The zero state: a dict with one entry per node.

        Each node's `initial_state` (``None`` for a stateless one), and zeros
        for each delayed edge's source output (``"<name>@t-1"``)."""
        return graph_initial_state(current_plan(self), self.nodes, batch_size, dtype)

    def state_batch_ndim(self, state: Any) -> int | None:
        """The number of batch axes of `state` (see `graph_batch_ndim`),
        ``None`` when no node says."""
        return graph_batch_ndim(current_plan(self), self.nodes, state, default=None)

    def _step(self, x: Array, state: Any, key: Array | None = None) -> tuple:
        return step_graph(
            current_plan(self),
            self.nodes,
            x,
            state,
            apply_rows=self._apply_rows,
            key=key,
            check=layer_checker(self, self._describe, "Graph"),
            default_batch_ndim=self._default_batch_ndim,
        )


# ------------------------------------------------------------------ state


def graph_initial_state(
    plan: GraphPlan,
    layers: Mapping[str, Any],
    batch_size: int | None,
    dtype: Any = None,
) -> dict[str, Any]:
    """One entry per node (its `initial_state`, ``None`` if stateless), and
    zeros for each delayed source's previous output (``"<name>@t-1"``)."""
    batch = () if batch_size is None else batch_shape(plan.label, batch_size)
    state = {n: initial_state_of(layers[n], batch_size, dtype) for n in plan.names}
    for source, shape in plan.out_shapes:
        state[previous_key(source)] = jnp.zeros(
            (*batch, *shape), jnp.float32 if dtype is None else dtype
        )
    return state


def check_graph_state(plan: GraphPlan, layers: Mapping[str, Any], state: Any) -> None:
    """A graph's state is a dict with the entries `graph_initial_state`
    builds: ``None`` exactly for the stateless nodes."""
    want = [*plan.names, *(previous_key(s) for s, _ in plan.out_shapes)]
    if not isinstance(state, Mapping) or set(state) != set(want):
        got = (
            f"a dict with keys {sorted(state)}"
            if isinstance(state, Mapping)
            else type(state).__name__
        )
        raise TypeError(
            f"{plan.label}: `state` must be a dict with the keys {sorted(want)}, got "
            f"{got}. Build it with model.initial_state(batch_size)."
        )
    for n in plan.names:
        stateful, s = is_stateful(layers[n]), state[n]
        if stateful and s is None:
            raise TypeError(
                f"{plan.label}: node {n!r} ({type(layers[n]).__name__}) is stateful "
                f"but its state entry is None."
            )
        if not stateful and s is not None:
            raise TypeError(
                f"{plan.label}: node {n!r} ({type(layers[n]).__name__}) is stateless, "
                f"so its state entry must be None, got {type(s).__name__}."
            )


def graph_batch_ndim(
    plan: GraphPlan, layers: Mapping[str, Any], state: Any, default: Any = 0
) -> Any:
    """The number of batch axes of a graph's state; `default` when no node
    says (a graph of stateless layers: the front end's convention)."""
    for n in plan.names:
        ndim = state_batch_ndim(layers[n], state[n])
        if ndim is not None:
            return ndim
    for source, shape in plan.out_shapes:
        return state[previous_key(source)].ndim - len(shape)
    return default


# ------------------------------------------------------------------- steps


def _emit(layer: Any, state: Array, dtype: Any) -> Array:
    """A spiking neuron's output from `state` alone: its step with a zero
    input (its output does not depend on the input)."""
    batch = state.shape[: state.ndim - len(layer.state_shape)]
    return layer(jnp.zeros((*batch, *layer.hidden_shape), dtype), state)[0]


def _total(label: str, node: str, parts: Sequence[tuple[str, Array]]) -> Array:
    """The sum of a node's inputs, which must have one shape (no silent
    broadcasting)."""
    shapes = {tuple(v.shape) for _, v in parts}
    if len(shapes) > 1:
        listed = ", ".join(f"{a!r} {tuple(v.shape)}" for a, v in parts)
        raise ValueError(
            f"{label}: node {node!r} sums inputs of different shapes: {listed}."
        )
    total = parts[0][1]
    for _, v in parts[1:]:
        total = total + v
    return total


class _Runner:
    """What a graph's step and its layer-wise run share: the layers, how a
    stateless one runs on rows, the input checks."""

    def __init__(
        self,
        plan: GraphPlan,
        layers: Mapping[str, Any],
        batch_ndim: int,
        apply_rows: Callable[..., Callable[[Array], Array]],
        check: Callable[[str, Array], None] | None,
        dtype: Any,
    ):
        self.plan, self.layers, self.batch_ndim = plan, layers, batch_ndim
        self.apply_rows, self.check, self.dtype = apply_rows, check, dtype

    def apply(
        self, name: str, x: Array, state: Any, key: Any, over_time: bool = False
    ) -> tuple:
        """Node `name` on one step's `x`, or, `over_time`, on the whole
        sequence's (a stateless node only)."""
        if self.check is not None:
            self.check(name, x)
        layer = self.layers[name]
        if state is None:
            return (
                apply_stateless(
                    self.apply_rows, layer, x, self.batch_ndim, key, over_time=over_time
                ),
                None,
            )
        if key is None:
            return layer(x, state)
        return layer(x, state, key=key)

    def step(
        self,
        members: Sequence[str],
        external: Mapping[str, list[tuple[str, Array]]],
        state: Mapping[str, Any],
        keys: Mapping[str, Any],
    ) -> tuple[dict[str, Array], dict[str, Any]]:
        """One step of the nodes `members`; `external` holds, per member,
        its inputs from outside them (the graph's input, other groups)."""
        plan, inside = self.plan, set(members)
        outs: dict[str, Array] = {}
        new: dict[str, Any] = {}
        for n in plan.early:
            if n in inside:
                outs[n] = _emit(self.layers[n], state[n], self.dtype)

        def input_of(n: str) -> Array:
            parts = list(external.get(n, ()))
            for a, delayed in plan.sources(n):
                if a in inside:
                    value = (
                        state[previous_key(a)].astype(self.dtype) if delayed else None
                    )
                    parts.append((a, outs[a] if value is None else value))
            return _total(plan.label, n, parts)

        for n in (*(m for m in plan.order if m in inside), *plan.early):
            if n not in inside:
                continue
            out, new[n] = self.apply(n, input_of(n), state[n], keys.get(n))
            if n not in outs:
                outs[n] = (
                    _emit(self.layers[n], new[n], self.dtype)
                    if n in plan.after
                    else out
                )
        for a in plan.delay_sources:
            if a in inside:
                old = state[previous_key(a)]
                new[previous_key(a)] = outs[a].astype(old.dtype)
        return outs, new


def step_graph(
    plan: GraphPlan,
    layers: Mapping[str, Any],
    x: Array,
    state: Mapping[str, Any],
    *,
    apply_rows: Callable[..., Callable[[Array], Array]],
    key: Array | None = None,
    check: Callable[[str, Array], None] | None = None,
    default_batch_ndim: int = 0,
    record: Collection[str] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """One time step of a graph (a `Graph`'s call), its state checked first.

    Spiking nodes give their output from their state first; the other nodes
    follow in `plan.order`, each on the sum of its inputs; then the spiking
    nodes take their inputs and update. A delayed edge reads its source's
    previous output from the state. With `key`, the nodes that take one get
    ``split(key, len(nodes))[i]`` (per example for a stateless one), as
    `Sequential` does. `default_batch_ndim` is the number of batch axes of
    `x` when no node's state says (a graph of stateless layers).

    Returns:
        ``(out, new_state)``: `out` is the sum of the edges into
            ``"output"``; with `record` (node names), ``(out, kept)``,
            `kept` mapping each recorded node to its ``(output, new_state)``.
    """
    check_graph_state(plan, layers, state)
    batch_ndim = graph_batch_ndim(plan, layers, state, default_batch_ndim)
    names = plan.names
    node_keys = layer_keys(key, [layers[n] for n in names])
    batch = tuple(x.shape[:batch_ndim])
    keys = {
        n: k if k is None or state[n] is not None else example_keys(k, batch)
        for n, k in zip(names, node_keys, strict=True)
    }
    runner = _Runner(plan, layers, batch_ndim, apply_rows, check, x.dtype)
    external = {b: [(INPUT, x)] for a, b in plan.edges if a == INPUT}
    outs, new = runner.step(names, external, state, keys)
    parts = []
    for a, delayed in plan.sources(OUTPUT):
        if a == INPUT:
            parts.append((a, x))
        else:
            parts.append(
                (a, state[previous_key(a)].astype(x.dtype) if delayed else outs[a])
            )
    out = _total(plan.label, OUTPUT, parts)
    if record is not None:
        out = (out, {n: (outs[n], new[n]) for n in record})
    return out, {**state, **new}


def run_graph_layerwise(
    plan: GraphPlan,
    layers: Mapping[str, Any],
    xs: Array,
    state: Mapping[str, Any],
    *,
    batch_ndim: int,
    apply_rows: Callable[..., Callable[[Array], Array]],
    unroll: int | bool = 1,
    checkpoint: int | None = None,
    keys: Mapping[str, Any] | None = None,
    check: Callable[[str, Array], None] | None = None,
    record: Collection[str] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """A graph over a whole time-major sequence, one group of nodes at a time.

    The nodes are taken in `plan.components`: a node in no cycle runs over
    the whole sequence at once, as `run_layerwise` runs a chain's layer (a
    stateless one on all ``T * batch`` rows, a neuron through its sequence
    kernel); the nodes of a cycle run together step by step (`time_scan`),
    with their inputs from outside the cycle known for every step. The
    result equals stepping the whole graph (`step_graph`) through time,
    with `keys` from `graph_row_keys` (the keys the step-wise run draws).

    Returns:
        ``(outputs [T, *batch, ...], final_state)``; with `record` (node
            names), the outputs are ``(outputs, kept)``, `kept` mapping each
            recorded node to its ``(outputs, states)`` over time.
    """
    runner = _Runner(plan, layers, batch_ndim, apply_rows, check, xs.dtype)
    keys = {n: k for n, k in (keys or {}).items() if k is not None}
    seqs: dict[str, Array] = {}
    traces: dict[str, Any] = {}
    recorded = set(record or ())
    new = dict(state)

    def outside(n: str, inside: set) -> list[tuple[str, Array]]:
        parts = []
        for a, delayed in plan.sources(n):
            if a in inside:
                continue
            value = xs if a == INPUT else seqs[a]
            if delayed:
                first = state[previous_key(a)].astype(xs.dtype)[None]
                value = jnp.concatenate([first, value[:-1]])
            parts.append((a, value))
        return parts

    for group in plan.components:
        inside = set(group)
        if not plan.cyclic(group):
            (n,) = group
            x = _total(plan.label, n, outside(n, inside))
            seqs[n], new[n], traces[n] = _whole_sequence(
                runner, n, x, state[n], keys.get(n), unroll, checkpoint, n in recorded
            )
            continue
        external = {}
        for n in group:
            parts = outside(n, inside)
            if parts:
                external[n] = _total(plan.label, n, parts)
        carry = {n: state[n] for n in group}
        carry |= {
            previous_key(a): state[previous_key(a)]
            for a in plan.delay_sources
            if a in inside
        }
        group_keys = {n: keys[n] for n in group if n in keys}

        # only what leaves the cycle (and what is recorded) is stacked over time
        leaving = {a for a, b in plan.edges if a in inside and b not in inside}
        watched = recorded & inside

        def body(
            inputs: Any,
            carry: Any,
            group: tuple = group,
            keep: set = leaving | watched,
            watched: set = watched,
        ) -> tuple:
            ext_t, keys_t = inputs
            outs, changed = runner.step(
                group, {n: [("outside", v)] for n, v in ext_t.items()}, carry, keys_t
            )
            kept = {n: outs[n] for n in keep}
            return (kept, {n: changed[n] for n in watched}), {**carry, **changed}

        (outs, states), carry = time_scan(
            body, (external, group_keys), carry, unroll=unroll, checkpoint=checkpoint
        )
        seqs.update(outs)
        traces.update(states)
        new.update(carry)
    for a in plan.delay_sources:
        if not plan.cyclic(next(g for g in plan.components if a in g)):
            old = state[previous_key(a)]
            new[previous_key(a)] = seqs[a][-1].astype(old.dtype)
    out = _total(plan.label, OUTPUT, outside(OUTPUT, set()))
    if record is not None:
        out = (out, {n: (seqs[n], traces[n]) for n in record})
    return out, new


def graph_row_keys(
    key: Array, plan: GraphPlan, layers: Mapping[str, Any], T: int, batch: tuple
) -> dict[str, Any]:
    """The keys of a layer-wise run of a graph, by node: what each node gets
    at every step of a step-wise run (`row_keys` over the nodes in order)."""
    found = row_keys(key, [layers[n] for n in plan.names], T, batch)
    return dict(zip(plan.names, found, strict=True))


def _whole_sequence(
    runner: _Runner,
    n: str,
    x: Array,
    state: Any,
    key: Any,
    unroll: int | bool,
    checkpoint: int | None,
    traced: bool = False,
) -> tuple[Array, Any, Any]:
    """One node in no cycle over the whole sequence: ``(outputs, final,
    states)``, the states after every step only if `traced` (else ``None``)."""
    layer = runner.layers[n]
    if state is None:
        return (*runner.apply(n, x, None, key, over_time=True), None)
    if runner.check is not None:
        runner.check(n, x)
    options = {"keys": key, "unroll": unroll, "checkpoint": checkpoint}
    trace = None
    if traced:
        out, state, trace = scan_traced(layer, x, state, **options)
    else:
        out, state = scan_layer(layer, x, state, **options)
    if n in runner.plan.after:  # the spike after step t is the next step's
        last = _emit(layer, state, x.dtype)[None]
        out = jnp.concatenate([out[1:], last])
    return out, state, trace
