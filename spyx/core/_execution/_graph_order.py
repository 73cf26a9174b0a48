"""The order a graph computes in: Kahn's order within a step, and the
strongly connected components (Tarjan) that decide what runs over the whole
sequence at once and what steps together."""

from collections.abc import Mapping, Sequence

__all__ = ["Edge", "components", "order_within_step"]

Edge = tuple[str, str]


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


def order_within_step(
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


def components(names: Sequence[str], edges: Sequence[Edge]) -> list[tuple]:
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
