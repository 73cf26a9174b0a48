"""`to_nir` for a `spyx.nn.Graph`: its nodes, edges and delays."""

import warnings
from typing import Any

import nir
import numpy as np
from flax import nnx

from .. import nn as snn
from ..core import _frontend as frontend
from ._import_graph import GRAPH_TIMING
from ._mapping import SPYX

__all__ = ["graph_to_nir"]


def graph_to_nir(
    model: snn.Graph,
    input_shape: tuple[int, ...],
    output_shape: tuple[int, ...] | None,
    dt: float,
    neuron_nodes: Any,
    linear_node: Any,
) -> nir.NIRGraph:
    """The NIR graph of `model` (see `to_nir`): a node per node (a neuron's
    feedback weights as ``"<name>_rec"``), an edge per edge, and a ``Delay``
    node of one step (``dt``) on each delayed edge, named
    ``"<source>_to_<destination>_delay"``; the graph's timing is recorded in
    its metadata, which `from_nir` reads back. `neuron_nodes` and
    `linear_node` are `to_nir`'s own writers of those layers."""
    plan = model.plan
    nodes: dict[str, Any] = {
        "input": nir.Input(input_type={"input": np.array(input_shape)})
    }
    edges: list[tuple[str, str]] = []
    gives: dict[str, tuple[int, ...]] = {"input": tuple(input_shape)}
    for name in plan.names:
        layer = model.nodes[name]
        if isinstance(layer, snn.Neuron) and not layer.spec.parallel:
            parts = neuron_nodes(layer, layer.hidden_shape, dt)
            nodes[name] = parts[""]
            if "rec" in parts:
                nodes[f"{name}_rec"] = parts["rec"]
                edges += [(name, f"{name}_rec"), (f"{name}_rec", name)]
        elif isinstance(layer, nnx.Linear):
            nodes[name] = linear_node(layer)
        else:
            raise TypeError(
                f"to_nir: graph node {name!r} ({type(layer).__name__}) has no NIR "
                f"form spyx reads back in a graph; a Graph exports neurons (but "
                f"PSU_LIF) and Linear layers."
            )
        gives[name] = tuple(frontend.output_shape(layer))
    delayed = set(plan.delayed)
    for a, b in plan.edges:
        if (a, b) in delayed:
            delay = f"{a}_to_{b}_delay"
            nodes[delay] = nir.Delay(delay=np.full(gives[a], dt, np.float32))
            edges += [(a, delay), (delay, b)]
        else:
            edges.append((a, b))
    out = gives[next(a for a, _ in plan.sources("output"))]
    if output_shape is not None and tuple(output_shape) != out:
        raise ValueError(
            f"to_nir: `output_shape` is {tuple(output_shape)}, but the graph gives "
            f"{out}."
        )
    nodes["output"] = nir.Output(output_type={"output": np.array(out)})
    if plan.early:
        warnings.warn(
            f"to_nir: in this Graph the spiking node(s) {list(plan.early)} give "
            f"the spike of their membrane before the step (spikes_after_update="
            f"False); NIR tools (and from_nir for graphs spyx did not write) "
            f"simulate spikes after the update, so paths through these nodes run "
            f"one step earlier there. spyx records the timing and reads it back. "
            f"Build the Graph with spikes_after_update=True for a graph that "
            f"means the same everywhere.",
            stacklevel=3,
        )
    metadata = {SPYX: {GRAPH_TIMING: plan.spikes_after_update}}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=False)
