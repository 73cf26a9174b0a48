"""Reading a NIR graph's structure: nested graphs inlined, and which edges
of a cycle read the step before."""

from collections import deque
from typing import Any

import nir

from .. import core

__all__ = ["NEURON_NODES", "inline_subgraphs", "previous_step_edges"]


def inline_subgraphs(graph: nir.NIRGraph) -> tuple[dict, list]:
    """Flatten nested graphs (snnTorch writes recurrent layers as subgraphs)."""
    nodes, edges = {}, []
    entry, exit_ = {}, {}
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = inline_subgraphs(node)
            ins = [k for k, v in sub_nodes.items() if isinstance(v, nir.Input)]
            outs = [k for k, v in sub_nodes.items() if isinstance(v, nir.Output)]
            for k, v in sub_nodes.items():
                nodes[f"{name}.{k}"] = v
            edges += [(f"{name}.{a}", f"{name}.{b}") for a, b in sub_edges]
            entry[name] = [f"{name}.{k}" for k in ins]
            exit_[name] = [f"{name}.{k}" for k in outs]
        else:
            nodes[name] = node
    for a, b in graph.edges:
        for src in exit_.get(a, [a]):
            for dst in entry.get(b, [b]):
                edges.append((src, dst))
    # drop inner Input/Output nodes, connecting through them
    inner = [
        k
        for k, v in nodes.items()
        if "." in k and isinstance(v, nir.Input | nir.Output)
    ]
    for k in inner:
        preds = [a for a, b in edges if b == k]
        succs = [b for a, b in edges if a == k]
        edges = [(a, b) for a, b in edges if k not in (a, b)]
        edges += [(a, b) for a in preds for b in succs]
        del nodes[k]
    return nodes, edges


NEURON_NODES = tuple(
    getattr(nir, node) for node in sorted({s.nir.node for s in core.NEURONS if s.nir})
)


def previous_step_edges(
    nodes: Any, edges: list[tuple[str, str]], start: str, end: str
) -> set[tuple[str, str]]:
    """The edges whose source's output of the step before is read, as
    nirtorch 2.x (what snnTorch 1.0 imports with) orders a graph.

    Nodes are taken in name order (`nir.read` lists a file's nodes so,
    whatever order they were written in), the input first and the output
    last; a node waits until each of its inputs is computed, except that a
    node with several inputs reads an input it reaches itself (a cycle) from
    the step before. The answer does not depend on the order of the edges.

    Raises:
        ValueError: a cycle with no order (every node of it has one input,
            from inside it).
    """
    names = sorted(nodes)
    sources = {n: {a for a, b in edges if b == n} for n in names}
    succ = {n: {b for a, b in edges if a == n} for n in names}

    def reaches(a: str, b: str) -> bool:
        seen, todo = set(), [a]
        while todo:
            v = todo.pop()
            if v == b:
                return True
            if v not in seen:
                seen.add(v)
                todo += succ.get(v, ())
        return False

    queue = deque(names)
    done: set[str] = set()
    previous: set[tuple[str, str]] = set()
    waited = 0
    while queue:
        n = queue.popleft()
        if n == end and queue:
            queue.append(n)
            continue
        if (not done and n != start) or n == end:
            if n != end:
                queue.append(n)
            continue
        if n == start:
            done.add(n)
            continue
        inputs = sources[n]
        chosen = {
            (a, n)
            for a in inputs - done
            if len(inputs) > 1 and (a in succ[n] or reaches(n, a))
        }
        if len(inputs - done) > len(chosen):  # an input still to compute
            waited += 1
            if waited > len(queue) + 1:
                raise ValueError(
                    f"from_nir: the nodes {sorted(queue)} wait for each other: a "
                    f"cycle that no input enters has no order (give it a Delay)."
                )
            queue.append(n)
            continue
        waited = 0
        previous |= chosen
        done.add(n)
    return previous
