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

`plan_graph` checks the structure once (here); `step_graph` is one step
and `run_graph_layerwise` runs the whole sequence node by node where it
can (`_graph_run`).
"""

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from .._checks import expected_input, output_shape, show_shape
from .._neurons import NEURONS
from ._graph_order import Edge, components, order_within_step

__all__ = [
    "INPUT",
    "OUTPUT",
    "Edge",
    "GraphPlan",
    "current_plan",
    "graph_nodes",
    "node_kinds",
    "output_from_state",
    "plan_graph",
    "previous_key",
]

INPUT = "input"
OUTPUT = "output"

_BUILT_IN = set(NEURONS)  # their flag is tested against their steps


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
        first = component[0]
        return len(component) > 1 or (first, first) in self.edges


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
    order = order_within_step(
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
        components=tuple(components(names, edge_list)),
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
        known = [(a, s) for a, b in edges if b == dst and (s := gives.get(a))]
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
