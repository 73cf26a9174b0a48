"""Reading a NIR graph's structure: nested graphs inlined, then the chain
of nodes from the input to the output (with each neuron's feedback loop)."""

import nir

from .. import core

__all__ = ["NEURON_NODES", "back_edges", "chain_of", "inline_subgraphs", "is_chain"]


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
_WEIGHTED = (nir.Affine, nir.Linear)


def chain_of(nodes: dict, edges: list) -> list[tuple[str, str | None]]:
    """The nodes from input to output as ``(name, feedback_name_or_None)``."""
    succ: dict[str, list[str]] = {k: [] for k in nodes}
    pred: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in edges:
        if a not in nodes or b not in nodes:
            raise ValueError(f"from_nir: edge {a!r} -> {b!r} names an unknown node.")
        succ[a].append(b)
        pred[b].append(a)
    inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
    if len(inputs) != 1:
        raise ValueError(f"from_nir: expected one Input node, found {inputs}.")
    chain, current, seen = [], inputs[0], {inputs[0]}
    while not isinstance(nodes[current], nir.Output):
        nexts = succ[current]
        feedback = None
        if isinstance(nodes[current], NEURON_NODES):
            loops = [
                n
                for n in nexts
                if isinstance(nodes[n], _WEIGHTED)
                and succ[n] == [current]
                and pred[n] == [current]
            ]
            if loops:
                feedback = loops[0]
                nexts = [n for n in nexts if n != feedback]
        if current != inputs[0]:
            chain.append((current, feedback))
        if len(nexts) != 1:
            raise ValueError(
                f"from_nir: node {current!r} leads to {nexts}; only chains of layers "
                f"(with recurrent feedback loops) can be imported."
            )
        current = nexts[0]
        if current in seen:
            raise ValueError(
                f"from_nir: cycle through {current!r} that is not a "
                f"neuron's feedback loop."
            )
        seen.add(current)
    return chain


def is_chain(nodes: dict, edges: list) -> bool:
    """Whether `chain_of` can read the graph (a chain with neurons' own
    feedback loops), rather than a graph with skips or other feedback."""
    try:
        chain_of(nodes, edges)
    except ValueError as e:
        return "only chains" not in str(e) and "cycle through" not in str(e)
    return True


def back_edges(start: str, edges: list) -> list[tuple[str, str]]:
    """The edges a depth-first walk from `start` (edges taken in the order
    given) finds going back to a node on its path: the edges that close a
    cycle, which a forward simulation in that order reads from the step
    before."""
    succ: dict[str, list[str]] = {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
    back, on_path, done = [], set(), set()

    def visit(v: str) -> None:
        on_path.add(v)
        for w in succ.get(v, []):
            if w in on_path:
                back.append((v, w))
            elif w not in done:
                visit(w)
        on_path.discard(v)
        done.add(v)

    visit(start)
    return back
