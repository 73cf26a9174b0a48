"""Networks beyond a chain: named nodes, edges that sum, feedback.

A graph's nodes are layers; an edge ``(a, b)`` adds ``a``'s output to
``b``'s input (a node with several inputs sums them, as NIR does). The
reserved names ``"input"`` and ``"output"`` are the graph's input and
output.

**Timing.** Within step ``t`` a spiking neuron's output is computed from its
state before the step (``s = H(V - th)``), so it is known before any input
of step ``t`` arrives: an edge leaving it, forward or back to an earlier
node, carries that same-step output with no extra delay, as RLIF's own
``s @ recurrent_w`` does. Every other node (a linear layer, `LI`, a
pooling) needs its inputs of step ``t`` first, so a cycle through such
nodes only has no order to compute in; it is refused unless one of its
edges is *delayed*: a delayed edge carries its source's output of step
``t - 1`` (zeros at the first step), kept in the graph's state.

With ``spikes_after_update=True`` (NIR's and snnTorch's discrete-time
convention, what `spyx.nir.from_nir` builds for a graph) a spiking node
instead gives the spike of its membrane *after* the step's update; its
output then needs its inputs, so a cycle through it needs a delayed edge.

`plan_graph` checks the structure once; `step_graph` is one step;
`run_graph_layerwise` runs the whole sequence node by node where it can.
"""

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array

from ._inputs import expected_input, layer_checker, output_shape, show_shape
from ._keys import example_keys, layer_keys, row_keys
from ._protocols import is_stateful
from ._rows import apply_stateless
from ._scan import initial_state_of, scan_layer, time_scan
from ._shapes import batch_shape, state_batch_ndim
from ._table import NEURONS

_BUILT_IN = set(NEURONS)  # their flag is tested against their steps

__all__ = [
    "INPUT",
    "OUTPUT",
    "GraphBase",
    "GraphPlan",
    "check_graph_state",
    "current_plan",
    "node_kinds",
    "graph_batch_ndim",
    "graph_initial_state",
    "graph_nodes",
    "graph_row_keys",
    "output_from_state",
    "plan_graph",
    "previous_key",
    "run_graph_layerwise",
    "step_graph",
]

INPUT = "input"
OUTPUT = "output"

Edge = tuple[str, str]


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


def previous_key(source: str) -> str:
    """The state entry holding `source`'s output of the step before, kept
    for its delayed edges: ``"<source>@t-1"``."""
    return f"{source}@t-1"


def output_from_state(layer: Any) -> bool:
    """Whether a layer's output at a step is a function of its state before
    the step alone (a spiking neuron whose spec says `output_from_state`).

    A neuron of one's own that says so is tried once per spec: its step's
    output from one state must not change with the input, or a `ValueError`
    says so (the graph would feed back a wrong value)."""
    spec = getattr(layer, "spec", None)
    if not getattr(spec, "output_from_state", False):
        return False
    if getattr(layer, "spikes_after_update", False):  # its timing is NIR's
        return False
    if not hasattr(layer, "hidden_shape"):
        return False
    if spec not in _BUILT_IN and spec not in _TRIED:
        _try_output_from_state(layer)
        _TRIED.add(spec)
    return True


_TRIED: set = set()


def _try_output_from_state(layer: Any) -> None:
    shape, state_shape = tuple(layer.hidden_shape), tuple(layer.state_shape)
    keys = jax.random.split(jax.random.key(0), 2)
    try:
        with jax.ensure_compile_time_eval():
            state = 2.0 * jax.random.normal(keys[0], state_shape)
            a = layer(jnp.zeros(shape), state)[0]
            b = layer(3.0 * jax.random.normal(keys[1], shape), state)[0]
            same = bool(jnp.array_equal(a, b))
    except jax.errors.ConcretizationTypeError:  # built under a transformation
        return
    if not same:
        raise ValueError(
            f"{type(layer).__name__}: its spec {layer.spec.name!r} says "
            f"output_from_state=True, but its step's output changes with the input "
            f"(a graph would feed back a wrong value). Set output_from_state=False "
            f"in the spec, or take the spike from the state before the update."
        )


@dataclasses.dataclass(frozen=True)
class GraphPlan:
    """A graph's checked structure and the order to compute it in.

    Attributes:
        label: the container's name, for messages.
        names: the nodes, in the order given.
        edges: every edge ``(source, destination)``.
        delayed: the edges that carry their source's previous output.
        early: the nodes whose output is known from their state before a
            step (spiking neurons, unless `spikes_after_update`).
        after: the spiking nodes that give the spike after their update
            (only with `spikes_after_update`).
        order: the other nodes, each after the nodes it needs within a step.
        components: the nodes grouped into strongly connected components
            (over every edge), in an order where each group's inputs come
            from groups before it: a group of one without a loop runs over
            the whole sequence at once, a cyclic group step by step.
        out_shapes: each delayed source's output shape (one example).
        spikes_after_update: as given to `plan_graph`.
        kinds: what the plan read off each node (`node_kinds`); a graph
            whose nodes no longer fit it is planned again (`current_plan`).
    """

    label: str
    names: tuple[str, ...]
    edges: tuple[Edge, ...]
    delayed: tuple[Edge, ...]
    early: tuple[str, ...]
    after: tuple[str, ...]
    order: tuple[str, ...]
    components: tuple[tuple[str, ...], ...]
    out_shapes: tuple[tuple[str, tuple[int, ...]], ...]
    spikes_after_update: bool = False
    kinds: tuple = ()

    def sources(self, name: str) -> tuple[tuple[str, bool], ...]:
        """``(source, delayed)`` for each edge into `name`, in edge order."""
        delayed = set(self.delayed)
        return tuple((a, (a, b) in delayed) for a, b in self.edges if b == name)

    @property
    def delay_sources(self) -> tuple[str, ...]:
        """The nodes with a delayed edge leaving them, in node order."""
        sources = {a for a, _ in self.delayed}
        return tuple(n for n in self.names if n in sources)

    def cyclic(self, component: tuple[str, ...]) -> bool:
        """Whether a component holds a cycle (more than one node, or a loop)."""
        return len(component) > 1 or (component[0], component[0]) in self.edges


def graph_nodes(label: str, nodes: Any) -> dict[str, Any]:
    """`nodes` as a dict of callables, or a `TypeError` naming the fault."""
    if not isinstance(nodes, Mapping):
        raise TypeError(
            f"{label}: `nodes` must be a dict of layers by name, got "
            f"{type(nodes).__name__}."
        )
    for name, layer in nodes.items():
        if not callable(layer):
            raise TypeError(
                f"{label}: node {name!r} is not callable, got {type(layer).__name__}."
            )
    return dict(nodes)


def _check_names(label: str, names: Sequence[Any]) -> None:
    for name in names:
        if not isinstance(name, str) or not name:
            raise TypeError(f"{label}: node names must be strings, got {name!r}.")
        if name in (INPUT, OUTPUT):
            raise ValueError(
                f"{label}: {name!r} is reserved for the graph's {name}; give the "
                f"node another name."
            )
        if name.endswith("@t-1"):
            raise ValueError(
                f"{label}: node name {name!r} ends in '@t-1', which names a "
                f"delayed output in the state; give the node another name."
            )


def _check_edges(label: str, names: Sequence[str], edges: Any, what: str) -> list:
    known = {*names, INPUT, OUTPUT}
    if isinstance(edges, str | bytes) or not isinstance(edges, Sequence | set):
        raise TypeError(
            f"{label}: `{what}` must be a list of (source, destination) pairs, got "
            f"{type(edges).__name__}."
        )
    out = []
    for edge in edges:
        if (
            not isinstance(edge, Sequence)
            or isinstance(edge, str)
            or len(edge) != 2
            or not all(isinstance(e, str) for e in edge)
        ):
            raise TypeError(
                f"{label}: each of `{what}` must be a (source, destination) pair of "
                f"node names, got {edge!r}."
            )
        a, b = edge
        for end in (a, b):
            if end not in known:
                raise ValueError(
                    f"{label}: edge {a!r} -> {b!r} names an unknown node {end!r}; "
                    f"the nodes are {sorted(names)} (and 'input', 'output')."
                )
        if b == INPUT or a == OUTPUT:
            raise ValueError(
                f"{label}: edge {a!r} -> {b!r}: nothing flows into 'input' or out "
                f"of 'output'."
            )
        if (a, b) in out:
            raise ValueError(f"{label}: edge {a!r} -> {b!r} is given twice.")
        out.append((a, b))
    return out


def _cycle_through(start: str, deps: Mapping[str, list[str]]) -> list[str]:
    """A cycle among `deps` (node -> the nodes it needs) through `start`."""
    path, seen = [start], {start}
    node = start
    while True:
        node = next(d for d in deps[node] if d in deps)
        if node in seen:
            return [*path[path.index(node) :], node]
        path.append(node)
        seen.add(node)


def _order(
    label: str, names: Sequence[str], deps: Mapping[str, list[str]], after: bool
) -> list:
    """Kahn's order of `names` where each comes after its `deps`; a cycle is
    refused, naming it (`after`: the graph's `spikes_after_update`)."""
    pending = {n: {d for d in deps[n] if d in deps} for n in names}
    order: list[str] = []
    while pending:
        ready = [n for n in names if n in pending and not pending[n]]
        if not ready:
            left = [n for n in names if n in pending]
            stuck = {n: [d for d in deps[n] if d in pending] for n in left}
            cycle = _cycle_through(left[0], stuck)
            path = " -> ".join(repr(n) for n in reversed(cycle))
            why = (
                "with spikes_after_update=True every node of it needs its input "
                "of the same step"
                if after
                else "it passes through no spiking neuron (whose output at step t "
                "is known from its state before the step)"
            )
            raise ValueError(
                f"{label}: the cycle {path} has no order to compute in: {why}. "
                f"Mark one of its edges as delayed by one step, e.g. "
                f"delayed=[({cycle[1]!r}, {cycle[0]!r})]."
            )
        for n in ready:
            order.append(n)
            del pending[n]
            for rest in pending.values():
                rest.discard(n)
    return order


def _components(names: Sequence[str], edges: Sequence[Edge]) -> list[tuple]:
    """Strongly connected components (Tarjan), sources first."""
    succ: dict[str, list[str]] = {n: [] for n in names}
    for a, b in edges:
        if a in succ and b in succ:
            succ[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[tuple] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            found.append(tuple(n for n in names if n in group))

    for n in names:
        if n not in index:
            visit(n)
    return found[::-1]  # Tarjan finds sinks first


def plan_graph(
    label: str,
    layers: Mapping[str, Any],
    edges: Any,
    delayed: Any = (),
    *,
    spikes_after_update: bool = False,
    describe: Callable[[Any], tuple | None] | None = None,
) -> GraphPlan:
    """Check a graph's structure and plan its computation.

    Args:
        label: the container's name for messages (``"Graph"``).
        layers: the nodes by name.
        edges: ``(source, destination)`` pairs; ``"input"`` and ``"output"``
            name the graph's input and output.
        delayed: the edges (among `edges`) that carry their source's output
            of the step before.
        spikes_after_update: spiking nodes give the spike after their update
            (see the module doc).
        describe: the front end's ``layer -> one example's input shape or
            None`` for its stateless layers (see `expected_input`); with
            the neurons' shapes and `output_shape`, each edge's shapes are
            checked (``None`` entries: any size).

    Raises:
        ValueError / TypeError: naming the edge or the cycle at fault, for
            unknown names, duplicate edges, a node without input, a graph
            without output, a cycle with no spiking node and no delayed
            edge, edges whose shapes disagree, or a delayed edge whose
            source's output shape is unknown.
    """
    names = list(layers)
    _check_names(label, names)
    edge_list = _check_edges(label, names, edges, "edges")
    delayed_list = _check_edges(label, names, delayed, "delayed")
    for a, b in delayed_list:
        if (a, b) not in edge_list:
            raise ValueError(
                f"{label}: delayed edge {a!r} -> {b!r} is not among the edges; "
                f"list it in `edges` too."
            )
        if a == INPUT:
            raise ValueError(
                f"{label}: delayed edge {a!r} -> {b!r}: the graph's input cannot be "
                f"delayed; delay an edge leaving a node."
            )
    for n in [*names, OUTPUT]:
        if not any(b == n for _, b in edge_list):
            raise ValueError(
                f"{label}: node {n!r} has no incoming edge; connect it, e.g. "
                f"('input', {n!r})."
            )
    spiking = [n for n in names if output_from_state(layers[n])]
    early = [] if spikes_after_update else spiking
    after = spiking if spikes_after_update else []
    deps = {
        n: [a for a, b in edge_list if b == n and a in layers and a not in early]
        for n in names
        if n not in early
    }
    for n in deps:
        deps[n] = [a for a in deps[n] if (a, n) not in delayed_list]
    order = _order(
        label, [n for n in names if n not in early], deps, spikes_after_update
    )
    out_shapes = []
    for source in dict.fromkeys(a for a, _ in delayed_list):
        shape = output_shape(layers[source])
        if shape is None or any(d is None for d in shape):
            raise ValueError(
                f"{label}: a delayed edge leaves {source!r} "
                f"({type(layers[source]).__name__}), whose output shape is not "
                f"known before it runs; delay an edge that leaves a neuron or a "
                f"linear layer instead."
            )
        out_shapes.append((source, tuple(shape)))
    _check_shapes(
        label,
        layers,
        edge_list,
        lambda layer: expected_input(layer, describe or (lambda _: None)),
    )
    return GraphPlan(
        label=label,
        names=tuple(names),
        edges=tuple(edge_list),
        delayed=tuple(delayed_list),
        early=tuple(early),
        after=tuple(after),
        order=tuple(order),
        components=tuple(_components(names, edge_list)),
        out_shapes=tuple(out_shapes),
        spikes_after_update=bool(spikes_after_update),
        kinds=node_kinds(layers),
    )


def node_kinds(layers: Mapping[str, Any]) -> tuple:
    """What a plan depends on, per node: its type, whether its output comes
    from its state (`output_from_state`) and its output shape."""
    return tuple(
        (n, type(layer), output_from_state(layer), output_shape(layer))
        for n, layer in layers.items()
    )


def current_plan(graph: Any) -> GraphPlan:
    """A graph's plan for the nodes it holds now.

    The plan a graph was built with, or, after its nodes were swapped (an
    `eqx.tree_at`, an assignment to ``graph.nodes[name]``) for nodes of
    another kind, a new plan for the same edges, checked as when built (a
    swap that leaves a cycle without order, or edges whose shapes no longer
    fit, is refused naming the edge)."""
    plan = graph.plan
    nodes = {n: graph.nodes[n] for n in plan.names}
    if node_kinds(nodes) == plan.kinds:
        return plan
    return plan_graph(
        plan.label,
        nodes,
        plan.edges,
        plan.delayed,
        spikes_after_update=plan.spikes_after_update,
        describe=getattr(graph, "_describe", None),
    )


def _fits(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(
        x is None or y is None or x == y for x, y in zip(a, b, strict=True)
    )


def _check_shapes(
    label: str,
    layers: Mapping[str, Any],
    edges: Sequence[Edge],
    input_shape: Callable[[Any], tuple | None],
) -> None:
    """Each edge's source gives what its destination takes, and the inputs
    a node sums agree with each other."""
    gives = {n: output_shape(layer) for n, layer in layers.items()}
    for dst in [*layers, OUTPUT]:
        takes = input_shape(layers[dst]) if dst in layers else None
        known = [(a, gives[a]) for a, b in edges if b == dst and gives.get(a)]
        for a, shape in known:
            if takes is not None and not _fits(tuple(shape), tuple(takes)):
                raise ValueError(
                    f"{label}: edge {a!r} -> {dst!r}: {a!r} gives examples of shape "
                    f"{show_shape(tuple(shape))}, {dst!r} takes "
                    f"{show_shape(tuple(takes))}."
                )
        for (a, sa), (b, sb) in zip(known, known[1:], strict=False):
            if not _fits(tuple(sa), tuple(sb)):
                raise ValueError(
                    f"{label}: node {dst!r} sums its inputs, but {a!r} gives "
                    f"examples of shape {show_shape(tuple(sa))} and {b!r} "
                    f"{show_shape(tuple(sb))}."
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

    def apply(self, name: str, x: Array, state: Any, key: Any, lead: int) -> tuple:
        """Node `name` on `x` with `lead` row axes (batch; time and batch)."""
        if self.check is not None:
            self.check(name, x)
        layer = self.layers[name]
        if state is None:
            return apply_stateless(self.apply_rows, layer, x, lead, key), None
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

        lead = self.batch_ndim
        for n in (*(m for m in plan.order if m in inside), *plan.early):
            if n not in inside:
                continue
            out, new[n] = self.apply(n, input_of(n), state[n], keys.get(n), lead)
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
) -> tuple[Array, dict[str, Any]]:
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
            ``"output"``.
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
    return _total(plan.label, OUTPUT, parts), {**state, **new}


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
) -> tuple[Array, dict[str, Any]]:
    """A graph over a whole time-major sequence, one group of nodes at a time.

    The nodes are taken in `plan.components`: a node in no cycle runs over
    the whole sequence at once, as `run_layerwise` runs a chain's layer (a
    stateless one on all ``T * batch`` rows, a neuron through its sequence
    kernel); the nodes of a cycle run together step by step (`time_scan`),
    with their inputs from outside the cycle known for every step. The
    result equals stepping the whole graph (`step_graph`) through time,
    with `keys` from `graph_row_keys` (the keys the step-wise run draws).

    Returns:
        ``(outputs [T, *batch, ...], final_state)``.
    """
    runner = _Runner(plan, layers, batch_ndim, apply_rows, check, xs.dtype)
    keys = {n: k for n, k in (keys or {}).items() if k is not None}
    seqs: dict[str, Array] = {}
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
            seqs[n], new[n] = _whole_sequence(
                runner, n, x, state[n], keys.get(n), unroll, checkpoint
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

        # only what leaves the cycle is stacked over time
        leaving = {a for a, b in plan.edges if a in inside and b not in inside}

        def body(inputs: Any, carry: Any, group: tuple = group, keep=leaving) -> tuple:
            ext_t, keys_t = inputs
            outs, changed = runner.step(
                group, {n: [("outside", v)] for n, v in ext_t.items()}, carry, keys_t
            )
            return {n: outs[n] for n in keep}, {**carry, **changed}

        outs, carry = time_scan(
            body, (external, group_keys), carry, unroll=unroll, checkpoint=checkpoint
        )
        seqs.update(outs)
        new.update(carry)
    for a in plan.delay_sources:
        if not plan.cyclic(next(g for g in plan.components if a in g)):
            old = state[previous_key(a)]
            new[previous_key(a)] = seqs[a][-1].astype(old.dtype)
    out = _total(plan.label, OUTPUT, outside(OUTPUT, set()))
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
) -> tuple[Array, Any]:
    """One node in no cycle over the whole sequence."""
    layer = runner.layers[n]
    if state is None:
        return runner.apply(n, x, None, key, 1 + runner.batch_ndim)
    if runner.check is not None:
        runner.check(n, x)
    out, state = scan_layer(
        layer, x, state, keys=key, unroll=unroll, checkpoint=checkpoint
    )
    if n in runner.plan.after:  # the spike after step t is the next step's
        last = _emit(layer, state, x.dtype)[None]
        out = jnp.concatenate([out[1:], last])
    return out, state
