"""`Graph` on Equinox: layers connected by named edges."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
from jax import Array

from spyx import core
from spyx.core import _frontend as frontend

from ._sequential import _apply_rows, describe

__all__ = ["Graph"]


class Graph(eqx.nn.StatefulLayer):
    """Layers connected by edges: skip, feedback and several-input connections.

    The Equinox twin of `spyx.nn.Graph`, with the same edges, timing and
    checks (see there): an edge ``(a, b)`` adds node ``a``'s output to node
    ``b``'s input, ``"input"`` and ``"output"`` name the graph's ends, a
    spiking neuron's same-step output may feed back to an earlier node, and
    a cycle through non-spiking nodes only needs an edge in `delayed`.

    Stateless nodes (`eqx.nn.Linear`, `eqx.nn.Conv`, functions) take one
    example and are mapped over the batch axes the state carries, as in
    `Sequential`. ``graph(x, state, key=key)`` gives each node that takes
    a key ``split(key, len(nodes))[i]`` (per example for a stateless one).

    Example:

    ```python
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    model = spyx_eqx.Graph(
        nodes={
            "fc": eqx.nn.Linear(8, 16, key=k1),
            "lif": spyx_eqx.LIF((16,), beta=0.9),
            "li": spyx_eqx.LI((16,)),
            "back": eqx.nn.Linear(16, 16, key=k2),
        },
        edges=[
            ("input", "fc"), ("fc", "lif"), ("lif", "li"),
            ("fc", "li"),  # a skip: li sums lif's spikes and fc's output
            ("li", "back"), ("back", "lif"),  # LI's output feeds back
            ("li", "output"),
        ],
        delayed=[("li", "back")],  # the cycle lif -> li -> back -> lif
    )
    outs, final = spyx_eqx.run(model, jnp.ones((100, 8)))  # one example
    ```
    """

    nodes: dict[str, Any]
    plan: frontend.GraphPlan = eqx.field(static=True)

    def __init__(
        self,
        nodes: Mapping[str, core.StatefulLayer | Callable[..., Any]],
        edges: Sequence[tuple[str, str]],
        *,
        delayed: Sequence[tuple[str, str]] = (),
        spikes_after_update: bool = False,
    ):
        self.nodes = frontend.graph_nodes("Graph", nodes)
        self.plan = frontend.plan_graph(
            "Graph",
            self.nodes,
            edges,
            delayed,
            spikes_after_update=spikes_after_update,
            describe=describe,
        )

    def initial_state(self, batch_size: int | None = None, dtype: Any = None) -> dict:
        """The zero state: a dict with one entry per node.

        Each node's `initial_state` (``None`` for a stateless one), and zeros
        for each delayed edge's source output (``"<name>@t-1"``)."""
        return frontend.graph_initial_state(self.plan, self.nodes, batch_size, dtype)

    def __call__(
        self, x: Array, state: Mapping[str, Any], *, key: Array | None = None
    ) -> tuple[Array, dict]:
        """One step of every node; returns ``(out, new_state)``."""
        if isinstance(state, eqx.nn.State):
            raise TypeError(
                "Graph: takes its own dict state (model.initial_state()), not an "
                "eqx.nn.State."
            )
        return frontend.step_graph(
            self.plan,
            self.nodes,
            x,
            state,
            apply_rows=_apply_rows,
            key=key,
            check=frontend.layer_checker(self, describe, "Graph"),
        )
