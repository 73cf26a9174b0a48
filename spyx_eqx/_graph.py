"""`Graph` on Equinox: layers connected by named edges."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
from jax import Array

from spyx import core
from spyx.core import _frontend as frontend

from ._sequential import _apply_rows, describe, refuse_eqx_state_layers

__all__ = ["Graph"]


class Graph(frontend.GraphBase, eqx.nn.StatefulLayer):
    """Layers connected by edges: skip, feedback and several-input connections.

    The twin of `spyx.nn.Graph` (same edges, timing and checks; see there).
    Stateless nodes take one example and are mapped over the batch axes the
    state carries, as in `Sequential`, and ``graph(x, state, key=key)``
    gives a key to each node that takes one.

    Example (LIF -> LI, a skip into LI, and a delayed loop back to LIF):

    ```python
    k1, k2 = jax.random.split(jax.random.key(0))
    model = spyx_eqx.Graph(
        nodes={
            "fc": eqx.nn.Linear(8, 16, key=k1),
            "lif": spyx_eqx.LIF((16,), beta=0.9),
            "li": spyx_eqx.LI((16,)),
            "back": eqx.nn.Linear(16, 16, key=k2),
        },
        edges=[
            ("input", "fc"), ("fc", "lif"), ("lif", "li"), ("fc", "li"),
            ("li", "back"), ("back", "lif"), ("li", "output"),
        ],
        delayed=[("li", "back")],
    )
    outs, final = spyx_eqx.run(model, jnp.ones((100, 8)))  # one example
    ```
    """

    nodes: dict[str, Any]
    plan: frontend.GraphPlan = eqx.field(static=True)

    _describe = staticmethod(describe)
    _apply_rows = staticmethod(_apply_rows)

    def __init__(
        self,
        nodes: Mapping[str, core.StatefulLayer | Callable[..., Any]],
        edges: Sequence[tuple[str, str]],
        *,
        delayed: Sequence[tuple[str, str]] = (),
        spikes_after_update: bool = False,
    ):
        self._setup(nodes, edges, delayed, spikes_after_update)

    def __call__(
        self, x: Array, state: Mapping[str, Any], *, key: Array | None = None
    ) -> tuple[Array, dict]:
        """One step of every node; returns ``(out, new_state)``."""
        if isinstance(state, eqx.nn.State):
            raise TypeError(
                "Graph: takes its own dict state (model.initial_state()), not an "
                "eqx.nn.State."
            )
        refuse_eqx_state_layers("Graph", self.nodes)
        return self._step(x, state, key)
