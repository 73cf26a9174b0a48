"""`from_nir`: a NIR graph as a `spyx.nn.Sequential` (a chain) or `Graph`.

One path for every graph. Nested graphs are inlined and one-step ``Delay``
nodes become delayed edges; a neuron's own feedback loop (a neuron and an
``Affine``/``Linear`` node that only feed each other) becomes its recurrent
twin (`RLIF`, ...), an ``LI`` followed by a ``Threshold`` a `PSU_LIF`;
``Scale`` nodes, the ``1/k`` of ``AvgPool2d`` and a neuron's input gain
are folded exactly into neighbouring weighted layers, and a ``Flatten``'s
layout into the weights after it. What is left is a chain (a `Sequential`)
or a `Graph`, whichever it is.

**Timing.** A graph spyx did not write runs as NIR (and snnTorch, Norse)
simulate it: each spiking neuron gives the spike of its membrane after the
step's update (``spikes_after_update=True``), and where a cycle needs an
order, the edges nirtorch 2.x reads from the step before do so (nodes in
name order; see `previous_step_edges`), moved in front of an ``Affine`` on
the way so that its bias enters at every step, the first included. A graph
spyx wrote keeps the timing recorded in its nodes.
"""

import warnings
from typing import Any

import jax.numpy as jnp
import nir
import numpy as np

from .. import core
from .. import nn as snn
from ._graph import NEURON_NODES, inline_subgraphs, previous_step_edges
from ._import_folds import FoldImport
from ._import_neurons import (
    NeuronImport,
    conv_from_nir,
    linear_from_nir,
)
from ._mapping import (
    GRAPH_TIMING,
    NODE_TIMING,
    SPYX,
    check_dt,
    flatten_perm,
    from_nir_layout,
    has_threshold_twin,
    out_shape,
    same_pads,
)

__all__ = ["from_nir"]

_WEIGHTED = (nir.Affine, nir.Linear)


def from_nir(
    graph: nir.NIRGraph,
    input_data: Any = None,
    dt: float = 1.0,
    *,
    reset: str | None = None,
    return_all_states: bool = False,
    rngs: Any = None,
) -> Any:
    """Build a `spyx.nn.Sequential` or `spyx.nn.Graph` from a NIR graph.

    Args:
        graph: a `nir.NIRGraph` (e.g. from `nir.read`); nested subgraphs are
            inlined. A graph that is a chain once neurons' feedback loops
            and ``LI -> Threshold`` pairs are read as one neuron becomes a
            `Sequential`, any other a `Graph` (see the module doc for the
            timing: a graph from another tool spikes as that tool runs it).
        input_data: optional time-major data ``[T, B, ...]`` (spyx 1.0's
            form): the model is also run on it.
        dt: the time step to discretise with; match the exporter's.
        reset: the reset mode of the imported spiking neurons. ``None``
            (default): the mode spyx recorded in a node it wrote, else
            ``"zero"``, NIR's own reset to ``v_reset = 0`` (faithful), with one
            warning per graph that names ``reset="subtract"`` for graphs
            exported by snnTorch (which writes ``v_reset = 0`` for its
            subtractive neurons). ``"zero"``, ``"subtract"`` or ``"none"`` force
            a mode (silently); forcing one other than the mode spyx recorded in
            a node warns, naming the node. A ``v_reset != 0`` is refused in
            every mode.
        return_all_states: with `input_data`, also return the state after
            every step.
        rngs: accepted for spyx 1.0 scripts and unused (every parameter comes
            from the graph).

    Returns:
        the model; with `input_data`, ``(model, outputs)``, or
            ``(model, (outputs, states))`` with `return_all_states`, where `states`
            mirrors ``model.initial_state(B)`` with a leading time axis on each
            entry. What is rescaled (with a warning) or refused is listed in the
            `spyx.nir` module doc.

    Example: ``model = spyx.nir.from_nir(nir.read("model.nir"), dt=1e-3)``.
    """
    del rngs
    check_dt("from_nir", dt)
    if reset is not None:
        reset = core.reset_mode("from_nir", reset).name
    model = _Import(graph, dt, reset).model()
    if input_data is None:
        return model
    x = jnp.asarray(input_data)
    if not return_all_states:
        return model, snn.run(model, x)[0]
    core.check_time_major("from_nir", x)
    return model, core.states_over_time(model, x, model.initial_state(x.shape[1]))


class _Import(NeuronImport, FoldImport):
    """One NIR graph on its way to spyx layers (see the module doc)."""

    def __init__(self, graph: nir.NIRGraph, dt: float, reset: str | None):
        self.dt, self.reset = dt, reset
        nodes, edges = inline_subgraphs(graph)
        self.nodes: dict[str, Any] = dict(nodes)
        self.edges: list[tuple[str, str]] = []
        for a, b in edges:
            if a not in nodes or b not in nodes:
                raise ValueError(
                    f"from_nir: edge {a!r} -> {b!r} names an unknown node."
                )
            if (a, b) not in self.edges:
                self.edges.append((a, b))
        self.delayed: set[tuple[str, str]] = set()
        self.start = self._end(nir.Input)
        self.end = self._end(nir.Output)
        self._remove_delays()
        meta = graph.metadata.get(SPYX, {})
        self.graph_timing = meta.get(GRAPH_TIMING)
        self.written = SPYX in graph.metadata or any(
            SPYX in getattr(n, "metadata", {}) for n in self.nodes.values()
        )
        self.layers: dict[str, Any] = {}
        self.shapes: dict[str, tuple[int, ...] | None] = {}
        self.perms: dict[str, np.ndarray | None] = {}
        self.feedback: dict[str, Any] = {}
        self.threshold: dict[str, Any] = {}
        self.foreign_resets: list[str] = []
        # folded once every layer exists: a scalar on a weighted layer's
        # input, a neuron's input gain, a feedback loop's bias
        self.pending: dict[str, float] = {}
        self.gains: dict[str, tuple[np.ndarray, str]] = {}
        self.loop_bias: dict[str, np.ndarray] = {}

    # --------------------------------------------------------- structure

    def _end(self, kind: type) -> str:
        found = [k for k, v in self.nodes.items() if isinstance(v, kind)]
        if len(found) != 1:
            raise ValueError(
                f"from_nir: expected one {kind.__name__} node, found {found}."
            )
        return found[0]

    def preds(self, n: str) -> list[str]:
        return [a for a, b in self.edges if b == n]

    def succs(self, n: str) -> list[str]:
        return [b for a, b in self.edges if a == n]

    def _drop(self, n: str) -> None:
        """Remove node `n`, connecting its inputs to its outputs (each pair
        once: a pair already connected is refused, as is a node on a
        delayed edge, which would leave the delay nowhere)."""
        if any(n in e for e in self.delayed):
            raise ValueError(
                f"from_nir: node {n!r} ({type(self.nodes[n]).__name__}) is next to a "
                f"Delay; spyx folds it away and would have nowhere to keep the "
                f"delay. Put the Delay after a weighted layer or a neuron."
            )
        before, after = self.preds(n), self.succs(n)
        twice = [(a, b) for a in before for b in after if (a, b) in self.edges]
        if twice:
            a, b = twice[0]
            raise ValueError(
                f"from_nir: {a!r} reaches {b!r} both directly and through {n!r} "
                f"({type(self.nodes[n]).__name__}); spyx keeps one edge per pair of "
                f"nodes. Put a layer (e.g. an identity Linear) on one of the paths."
            )
        self.edges = [(a, b) for a, b in self.edges if n not in (a, b)]
        for a in before:
            for b in after:
                if (a, b) not in self.edges:
                    self.edges.append((a, b))
        del self.nodes[n]

    def _remove_delays(self) -> None:
        """Each one-step ``Delay`` node as delayed edges from its source."""
        for name in sorted(
            k for k, v in self.nodes.items() if isinstance(v, nir.Delay)
        ):
            steps = np.asarray(self.nodes[name].delay, np.float64) / self.dt
            if not np.allclose(steps, 1.0):
                raise ValueError(
                    f"from_nir: Delay node {name!r} delays by {np.unique(steps)[:4]} "
                    f"time steps; spyx delays an edge by exactly one step (dt)."
                )
            sources, targets = self.preds(name), self.succs(name)
            if len(sources) != 1 or sources[0] == self.start:
                raise ValueError(
                    f"from_nir: Delay node {name!r} has inputs {sources}; spyx delays "
                    f"the output of one node (not the graph's input)."
                )
            series = [b for b in targets if isinstance(self.nodes[b], nir.Delay)]
            if series:
                raise ValueError(
                    f"from_nir: Delay nodes {name!r} and {series[0]!r} in series delay "
                    f"by two steps; spyx delays an edge by exactly one step (dt)."
                )
            self._drop(name)
            self.delayed |= {(sources[0], b) for b in targets}

    def _fuse_loops(self, previous: set[tuple[str, str]]) -> None:
        """A neuron's own feedback loop (a neuron and an Affine/Linear node
        that only feed each other) into its recurrent twin. In another
        tool's graph nirtorch reads the loop's edge into the neuron from the
        step before (`previous`); the twin reads its own spikes of the step
        before, with the loop's bias at every step (the delay moved in
        front of the Affine)."""
        for n in sorted(self.nodes):
            if not isinstance(self.nodes.get(n), NEURON_NODES):
                continue
            loops = [
                w
                for w in self.succs(n)
                if isinstance(self.nodes[w], _WEIGHTED)
                and self.succs(w) == [n]
                and self.preds(w) == [n]
                and not {(n, w), (w, n)} & self.delayed
            ]
            if loops:
                w = loops[0]
                self.feedback[n] = self.nodes[w]
                self.edges = [e for e in self.edges if w not in e]
                previous.discard((w, n))
                del self.nodes[w]

    def _fuse_thresholds(self, previous: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """An ``LI`` followed by a ``Threshold`` into one `PSU_LIF`; returns
        `previous` with the Threshold's edges now leaving the neuron."""
        for n in sorted(self.nodes):
            node = self.nodes.get(n)
            after = self.succs(n)
            if not (
                isinstance(node, NEURON_NODES)
                and has_threshold_twin(type(node).__name__)
                and len(after) == 1
                and isinstance(self.nodes[after[0]], nir.Threshold)
                and self.preds(after[0]) == [n]
                and (n, after[0]) not in self.delayed
            ):
                continue
            self.threshold[n] = self.nodes[after[0]]
            self.delayed = {(n if a == after[0] else a, b) for a, b in self.delayed}
            previous = {(n if a == after[0] else a, b) for a, b in previous}
            self._drop(after[0])
        return previous

    def _previous_step(self) -> set[tuple[str, str]]:
        """For a graph another tool wrote: the edges nirtorch reads from the
        step before, on the graph as written (before any node is fused)."""
        if self.written:
            return set()
        same_step = [e for e in self.edges if e not in self.delayed]
        return previous_step_edges(self.nodes, same_step, self.start, self.end)

    def _move_delays(self, previous: set[tuple[str, str]]) -> None:
        """Each edge read from the step before, moved in front of the
        ``Affine``/``Linear`` nodes with one input it leaves (so that their
        bias enters at t = 0), as a delayed edge."""
        for a, b in sorted(previous):
            while (
                isinstance(self.nodes[a], _WEIGHTED)
                and self.succs(a) == [b]
                and len(self.preds(a)) == 1
                and self.preds(a)[0] != self.start
                and (self.preds(a)[0], a) not in self.delayed
            ):
                a, b = self.preds(a)[0], a
            self.delayed.add((a, b))

    # ------------------------------------------------------------ layers

    def model(self) -> Any:
        previous = self._previous_step()
        self._fuse_loops(previous)
        previous = self._fuse_thresholds(previous)
        self._move_delays(previous)
        self._build_layers()
        _warn_foreign_resets(self.foreign_resets)
        chain = self._chain()
        if chain is not None:
            return snn.Sequential(*(self.layers[n] for n in chain))
        return self._graph()

    def _timing(self, node: Any) -> bool:
        """A neuron node's timing: what spyx recorded in it, else NIR's."""
        meta = getattr(node, "metadata", {}).get(SPYX)
        if meta is None:
            return True
        if NODE_TIMING in meta:
            return bool(meta[NODE_TIMING])
        return bool(self.graph_timing)  # written before the timing was per node

    def _input_shape(self) -> tuple[int, ...] | None:
        in_type = next(iter(self.nodes[self.start].input_type.values()), None)
        if in_type is None or not np.asarray(in_type).size:
            return None
        nir_shape = tuple(int(d) for d in np.asarray(in_type).reshape(-1))
        return tuple(from_nir_layout(np.empty(nir_shape)).shape)

    def _build_layers(self) -> None:
        """Each node's spyx layer, in an order where a node's inputs come
        first where they can (shapes and layouts flow along the edges)."""
        self.shapes[self.start] = self._input_shape()
        self.perms[self.start] = None
        todo = [n for n in sorted(self.nodes) if n not in (self.start, self.end)]
        while todo:
            ready = [n for n in todo if all(a in self.shapes for a in self.preds(n))]
            n = (ready or todo)[0]  # a cycle: its first node in name order
            todo.remove(n)
            self._build(n)
        self._finish()

    def _inputs_of(self, n: str) -> tuple[tuple[int, ...] | None, np.ndarray | None]:
        """The shape and flatten layout of what node `n` takes (the first
        known among its inputs, which must agree)."""
        known = [a for a in self.preds(n) if a in self.shapes]
        shape = next((self.shapes[a] for a in known if self.shapes[a]), None)
        perms = [self.perms.get(a) for a in known]
        first = perms[0] if perms else None
        if any(p is not None for p in perms) and not (
            first is not None
            and all(p is not None and np.array_equal(p, first) for p in perms)
        ):
            raise ValueError(
                f"from_nir: node {n!r} sums inputs in different layouts (a Flatten's "
                f"and another); spyx cannot reorder them to NIR's."
            )
        return shape, first

    def _build(self, n: str) -> None:
        node = self.nodes[n]
        shape, perm = self._inputs_of(n)
        out_perm = None
        if isinstance(node, NEURON_NODES):
            layer = self._neuron(n, node, shape, perm)
            shape, out_perm = tuple(layer.hidden_shape), perm
        elif isinstance(node, _WEIGHTED):
            layer = linear_from_nir(node, perm)
            shape = (layer.out_features,)
        elif isinstance(node, nir.Conv1d | nir.Conv2d):
            self._no_layout(n, perm)
            layer = conv_from_nir(node)
            shape = None if shape is None else out_shape(layer, shape)
        elif isinstance(node, nir.Flatten):
            self._no_layout(n, perm)
            layer, shape, out_perm = self._flatten(n, node)
        elif isinstance(node, nir.SumPool2d | nir.AvgPool2d):
            self._no_layout(n, perm)
            layer = self._pool(n, node, shape)
            shape = None if shape is None else out_shape(layer, shape)
        elif isinstance(node, nir.Scale):
            self._fold_scale(n, node)
            return
        else:
            raise ValueError(
                f"from_nir: node {n!r} ({type(node).__name__}) has no spyx equivalent."
            )
        self.layers[n], self.shapes[n], self.perms[n] = layer, shape, out_perm

    def _no_layout(self, n: str, perm: np.ndarray | None) -> None:
        if perm is not None:
            raise ValueError(
                f"from_nir: node {n!r} takes a flattened vector in NIR's order, "
                f"which spyx lays out differently; only Linear/Affine layers and "
                f"neurons may follow a Flatten."
            )

    def _flatten(self, n: str, node: Any) -> tuple[Any, tuple[int, ...], Any]:
        in_shape = tuple(
            int(d) for d in np.asarray(next(iter(node.input_type.values()))).reshape(-1)
        )
        if node.start_dim not in (0, -len(in_shape)) or node.end_dim not in (
            -1,
            len(in_shape) - 1,
        ):
            raise ValueError(
                f"from_nir: Flatten node {n!r} flattens axes {node.start_dim}.."
                f"{node.end_dim}; only whole examples (start_dim=0, end_dim=-1) are "
                f"supported."
            )
        spyx_shape = tuple(from_nir_layout(np.empty(in_shape)).shape)
        perm = flatten_perm(spyx_shape) if len(spyx_shape) >= 2 else None
        return snn.Flatten(), (int(np.prod(in_shape)),), perm

    def _pool(self, n: str, node: Any, shape: tuple[int, ...] | None) -> snn.SumPool:
        k = tuple(int(v) for v in np.broadcast_to(np.asarray(node.kernel_size), (2,)))
        s = tuple(int(v) for v in np.broadcast_to(np.asarray(node.stride), (2,)))
        pad = tuple(int(v) for v in np.broadcast_to(np.asarray(node.padding), (2,)))
        padding = "VALID"
        if any(pad):
            if shape is None or same_pads(shape[:2], k, s) != [(p, p) for p in pad]:
                raise ValueError(
                    f"from_nir: pooling node {n!r} pads by {pad}, which is not the "
                    f"'SAME' padding of its input {shape}; spyx pools with 'SAME' "
                    f"or 'VALID' padding."
                )
            padding = "SAME"
        if isinstance(node, nir.AvgPool2d):
            self._fold_forward(n, 1.0 / float(np.prod(k)), "AvgPool2d")
        return snn.SumPool(k, s, padding=padding)

    # ---------------------------------------------------------- the model

    def _finish(self) -> None:
        """The folds that need every layer built, then the output's layout."""
        for n, bias in self.loop_bias.items():
            self._add_loop_bias(n, bias)
        for n, (gain, what) in self.gains.items():
            self._fold_gain(n, gain, what)
        for n, factor in self.pending.items():
            layer = self.layers[n]
            layer.kernel[...] = layer.kernel[...] * jnp.float32(factor)
        for a in self.preds(self.end):
            if self.perms.get(a) is not None:
                raise ValueError(
                    f"from_nir: the output comes from {a!r} in a Flatten's layout, "
                    f"which spyx orders differently from NIR; add a Linear after it."
                )

    def _chain(self) -> list[str] | None:
        """The nodes from input to output if they form one path."""
        if self.delayed:
            return None
        path, n = [], self.start
        while n != self.end:
            after = self.succs(n)
            if len(after) != 1 or len(self.preds(after[0])) != 1:
                return None
            n = after[0]
            if n != self.end:
                path.append(n)
        return path if len(path) == len(self.layers) else None

    def _graph(self) -> snn.Graph:
        ends = {self.start: "input", self.end: "output"}
        clash = [k for k in self.layers if k in ("input", "output")]
        if clash:
            raise ValueError(
                f"from_nir: node {clash[0]!r} is no {clash[0].capitalize()} node but "
                f"has its name, which spyx's Graph reserves."
            )

        def rename(k: str) -> str:
            return ends.get(k, k)

        return snn.Graph(
            {n: self.layers[n] for n in sorted(self.layers)},
            [(rename(a), rename(b)) for a, b in self.edges],
            delayed=sorted((rename(a), rename(b)) for a, b in self.delayed),
        )


def _warn_foreign_resets(names: list[str]) -> None:
    """Say once per graph which spiking nodes spyx did not write, and so
    imports with NIR's reset to 0."""
    if names:
        warnings.warn(
            f"from_nir: the spiking node(s) {names} reset to v_reset = 0 "
            f"after a spike, as NIR defines it, and are imported with "
            f"reset='zero'. Graphs exported by snnTorch write v_reset = 0 for its "
            f"default subtractive reset: import those with reset='subtract'.",
            stacklevel=4,
        )
