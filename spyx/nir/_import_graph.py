"""`from_nir` for a graph that is no chain: a `spyx.nn.Graph`.

Every node becomes a node of the same name (``Input`` and ``Output``
become ``"input"`` and ``"output"``): ``Affine``/``Linear`` an
`nnx.Linear`, a neuron node its spyx neuron, a ``Delay`` of one time step a
delayed edge. The timing is NIR's forward simulation: a spiking node gives
the spike of its membrane after the step's update (``spikes_after_update``),
the nodes run in the order of the edges, and an edge that closes a cycle
carries its source's output of the step before (a delayed edge). A graph
spyx wrote keeps the timing it was built with (recorded in its metadata).
"""

import warnings
from typing import Any

import nir
import numpy as np
from flax import nnx

from .. import nn as snn
from ._graph import NEURON_NODES, back_edges
from ._import import _Builder, _neuron, linear_from_nir, warn_foreign_resets
from ._mapping import SPYX, spec_for_node

__all__ = ["GRAPH_TIMING", "build_graph"]

GRAPH_TIMING = "spikes_after_update"
"""The key under the graph's ``metadata["spyx"]`` recording its timing."""


def _linear(name: str, n: Any) -> nnx.Linear:
    if np.asarray(n.weight).ndim != 2:
        raise ValueError(
            f"from_nir: node {name!r} has a weight of shape "
            f"{np.asarray(n.weight).shape}; a graph imports 2-D weights only."
        )
    return linear_from_nir(n)


def _without_delays(
    nodes: dict, edges: list, dt: float
) -> tuple[dict, list, list[tuple[str, str]]]:
    """Each one-step ``Delay`` node replaced by delayed edges from its
    source to its destinations."""
    delayed: list[tuple[str, str]] = []
    for name in [k for k, v in nodes.items() if isinstance(v, nir.Delay)]:
        steps = np.asarray(nodes[name].delay, np.float64) / dt
        if not np.allclose(steps, 1.0):
            raise ValueError(
                f"from_nir: Delay node {name!r} delays by {np.unique(steps)[:4]} time "
                f"steps; spyx graphs delay an edge by exactly one step (dt)."
            )
        sources = [a for a, b in edges if b == name]
        targets = [b for a, b in edges if a == name]
        if len(sources) != 1:
            raise ValueError(
                f"from_nir: Delay node {name!r} has {len(sources)} inputs; one "
                f"is supported."
            )
        edges = [(a, b) for a, b in edges if name not in (a, b)]
        edges += [(sources[0], b) for b in targets]
        delayed += [(sources[0], b) for b in targets]
        del nodes[name]
    return nodes, edges, delayed


def build_graph(
    graph: nir.NIRGraph, nodes: dict, edges: list, dt: float, reset: str | None
) -> snn.Graph:
    """A `spyx.nn.Graph` for an inlined NIR graph (see the module doc)."""
    nodes, edges, delayed = _without_delays(dict(nodes), list(edges), dt)
    ends = {}
    for kind, name in ((nir.Input, "input"), (nir.Output, "output")):
        found = [k for k, v in nodes.items() if isinstance(v, kind)]
        if len(found) != 1:
            raise ValueError(
                f"from_nir: expected one {kind.__name__} node, found {found}."
            )
        ends[found[0]] = name
    clash = [k for k in nodes if k in ("input", "output") and k not in ends]
    if clash:
        raise ValueError(
            f"from_nir: node {clash[0]!r} is no {clash[0].capitalize()} node but "
            f"has its name, which spyx's Graph reserves."
        )
    rename = lambda k: ends.get(k, k)  # noqa: E731
    edges = [(rename(a), rename(b)) for a, b in edges]
    delayed = [(rename(a), rename(b)) for a, b in delayed]
    body = {k: v for k, v in nodes.items() if k not in ends}
    layers: dict[str, Any] = {}
    for name, n in body.items():
        if isinstance(n, nir.Affine | nir.Linear):
            layers[name] = _linear(name, n)
        elif not isinstance(n, NEURON_NODES):
            raise ValueError(
                f"from_nir: node {name!r} ({type(n).__name__}) in a graph that is no "
                f"chain; spyx imports such graphs with Affine, Linear, Delay and "
                f"neuron nodes (LIF, CubaLIF, IF, LI)."
            )
    foreign: list[str] = []
    for name, n in body.items():
        if name not in layers:
            layers[name] = _graph_neuron(name, n, edges, layers, dt, reset, foreign)
    warn_foreign_resets(foreign)
    recorded = graph.metadata.get(SPYX, {}).get(GRAPH_TIMING)
    after = True if recorded is None else bool(recorded)
    if after:
        same_step = [e for e in edges if e not in delayed]
        delayed += [e for e in back_edges("input", same_step) if e not in delayed]
    ordered = {k: layers[k] for k in body}
    return snn.Graph(ordered, edges, delayed=delayed, spikes_after_update=after)


def _graph_neuron(
    name: str,
    n: Any,
    edges: list,
    layers: dict,
    dt: float,
    reset: str | None,
    foreign: list[str],
) -> Any:
    """A neuron node of a graph; NIR's gain on its summed input is folded
    into each Affine/Linear node that feeds it, where those feed nothing
    else."""
    spec_for_node(type(n).__name__, recurrent=False, threshold_node=False, node=name)

    def fold(gain: np.ndarray, node: str, _: Any, what: str) -> None:
        if np.allclose(gain, 1.0, rtol=1e-6, atol=1e-7):
            return
        for source in [a for a, b in edges if b == node]:
            layer = layers.get(source)
            feeds = [b for a, b in edges if a == source]
            if not isinstance(layer, nnx.Linear) or feeds != [node]:
                raise ValueError(
                    f"from_nir: node {node!r} scales its summed input by {what} != 1, "
                    f"which spyx folds into the Affine/Linear nodes that feed it; "
                    f"{source!r} is no such node or feeds other nodes too."
                )
            one = _Builder(None)
            one.layers = [layer]
            one.fold_into_previous(gain, node, what)
        warnings.warn(
            f"from_nir: node {node!r} scales its input by {what} = "
            f"{np.unique(np.round(gain, 6))[:4]} (dt r / tau != 1); folded exactly "
            f"into the weights of the layers that feed it.",
            stacklevel=6,
        )

    b = _Builder(None)
    layer = _neuron(name, n, None, b, dt, None, reset, fold=fold)
    foreign += b.foreign_resets
    return layer
