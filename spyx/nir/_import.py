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
from flax import nnx

from .. import core
from .. import nn as snn
from ._graph import NEURON_NODES, inline_subgraphs, previous_step_edges
from ._import_neurons import (
    NeuronImport,
    conv_from_nir,
    linear_from_nir,
    scale_outputs,
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
_SHAPE_ONLY = (nir.Flatten, nir.SumPool2d, nir.AvgPool2d)  # commute with a scalar


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


class _Import(NeuronImport):
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
        """Remove node `n`, connecting its inputs to its outputs."""
        before, after = self.preds(n), self.succs(n)
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
            self._drop(name)
            self.delayed |= {(sources[0], b) for b in targets}

    def _fuse(self) -> None:
        """A neuron's own feedback loop into its recurrent twin; an ``LI``
        followed by a ``Threshold`` into one `PSU_LIF`."""
        for n in sorted(self.nodes):
            node = self.nodes.get(n)
            if not isinstance(node, NEURON_NODES):
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
                self.feedback[n] = self.nodes[loops[0]]
                self.edges = [e for e in self.edges if loops[0] not in e]
                del self.nodes[loops[0]]
            after = self.succs(n)
            if (
                has_threshold_twin(type(node).__name__)
                and len(after) == 1
                and isinstance(self.nodes[after[0]], nir.Threshold)
                and self.preds(after[0]) == [n]
                and (n, after[0]) not in self.delayed
            ):
                self.threshold[n] = self.nodes[after[0]]
                self.delayed = {(n if a == after[0] else a, b) for a, b in self.delayed}
                self._drop(after[0])

    def _order_cycles(self) -> None:
        """For a graph another tool wrote: the edges nirtorch reads from the
        step before, each moved in front of the ``Affine``/``Linear`` nodes
        with one input it leaves (so that their bias enters at t = 0)."""
        same_step = [e for e in self.edges if e not in self.delayed]
        for a, b in sorted(
            previous_step_edges(self.nodes, same_step, self.start, self.end)
        ):
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
        self._fuse()
        if not self.written:
            self._order_cycles()
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
        if any(p is not None for p in perms) and not all(
            p is not None and np.array_equal(p, perms[0]) for p in perms
        ):
            raise ValueError(
                f"from_nir: node {n!r} sums inputs in different layouts (a Flatten's "
                f"and another); spyx cannot reorder them to NIR's."
            )
        return shape, (perms[0] if perms else None)

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

    # ------------------------------------------------------------ folding

    def _weighted_layer(self, n: str) -> Any:
        layer = self.layers.get(n)
        return layer if isinstance(layer, nnx.Linear | nnx.Conv) else None

    def _fold_forward(self, n: str, factor: float, why: str) -> None:
        """A scalar factor on node `n`'s output, folded into the weights of
        the layers after it (through Flatten and pooling, which commute)."""
        for b in self.succs(n):
            node = self.nodes.get(b)
            if self.preds(b) != [n] or (b, n) in self.delayed:
                raise ValueError(
                    f"from_nir: {why} node {n!r} feeds {b!r}, which has other "
                    f"inputs; its factor cannot be folded into {b!r}'s weights."
                )
            if isinstance(node, _WEIGHTED + (nir.Conv1d, nir.Conv2d)):
                self.pending[b] = self.pending.get(b, 1.0) * factor
            elif isinstance(node, _SHAPE_ONLY):
                self._fold_forward(b, factor, why)
            else:
                raise ValueError(
                    f"from_nir: {why} node {n!r} is followed by {b!r} "
                    f"({type(node).__name__}), not by a weighted layer to fold its "
                    f"factor into."
                )

    def _fold_scale(self, n: str, node: Any) -> None:
        scale = np.asarray(node.scale, np.float32)
        before = self.preds(n)
        source = self._weighted_layer(before[0]) if len(before) == 1 else None
        if source is not None and self.succs(before[0]) == [n]:
            scale_outputs(source, scale, n, "Scale")
        elif scale.size == 1 or np.allclose(scale, scale.reshape(-1)[0]):
            self._fold_forward(n, float(scale.reshape(-1)[0]), "Scale")
        else:
            raise ValueError(
                f"from_nir: Scale node {n!r} follows no weighted layer that feeds "
                f"only it and is per-unit; it cannot be folded."
            )
        self.shapes[n], self.perms[n] = self._inputs_of(n)
        self._drop(n)

    def _fold_gain(self, n: str, gain: np.ndarray, what: str) -> None:
        """A neuron's input gain (NIR scales the sum of its inputs) folded
        into every weighted layer that feeds it and nothing else."""
        if np.allclose(gain, 1.0, rtol=1e-6, atol=1e-7):
            return
        for source in self.preds(n):
            layer = self._weighted_layer(source)
            if layer is None or self.succs(source) != [n]:
                raise ValueError(
                    f"from_nir: node {n!r} scales its input by {what} != 1, which spyx "
                    f"folds into the weighted layers (Affine, Linear, Conv) that feed "
                    f"it; {source!r} is no such layer or feeds other nodes too."
                )
            scale_outputs(layer, gain, n, what)
        warnings.warn(
            f"from_nir: node {n!r} scales its input by {what} = "
            f"{np.unique(np.round(gain, 6))[:4]} (dt r / tau != 1); folded exactly "
            f"into the weights of the layer(s) that feed it.",
            stacklevel=5,
        )

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
        rename = lambda k: ends.get(k, k)  # noqa: E731
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
