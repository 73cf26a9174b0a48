"""`Graph`: layers connected by named edges (skip, feedback, several inputs)."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flax import nnx
from jax import Array

from .. import core
from ..core import _frontend as frontend
from ._rows import as_is
from ._sequential import describe

__all__ = ["Graph"]


class Graph(frontend.GraphBase, nnx.Module):
    """Layers connected by edges: skip, feedback and several-input connections.

    Each node is a layer (a neuron, `nnx.Linear`, a `Sequential`, ...); an
    edge ``(a, b)`` adds node ``a``'s output to node ``b``'s input, so a node
    with several inputs sums them (as NIR does). ``"input"`` and
    ``"output"`` name the graph's input and output. The state is a dict
    with one entry per node (``None`` for a stateless one).

    **Timing.** A spiking neuron's output at step ``t`` comes from its
    state before the step (``s = H(V - th)``), so it is known before any
    input of step ``t``: an edge from a later spiking layer back to an
    earlier one carries that same-step output with no extra delay, as
    RLIF's ``s @ recurrent_w`` does. A cycle through non-spiking nodes only
    (`LI`, `nnx.Linear`, pooling) has no such break and is refused, unless
    one of its edges is in `delayed`: a delayed edge carries its source's
    output of the step before (zeros at first), kept in the state under
    ``"<source>@t-1"``.

    ```text
    step t:   s1 = H(V1)    s2 = H(V2)          (from the states before t)
              V1' = f(V1, W_in x_t + W_fb s2)   (feedback: s2 of this step)
              V2' = f(V2, W_12 s1)
    ```

    A spike thus takes one step per spiking layer it crosses; the how-to
    "Networks beyond a chain" draws both timings.

    Args:
        nodes: the layers by name (not ``"input"`` or ``"output"``).
        edges: ``(source, destination)`` pairs of node names.
        delayed: edges (among `edges`) that carry their source's output of
            the step before; the source must be a neuron or a linear layer.
        spikes_after_update: spiking nodes give the spike of their membrane
            after the step's update instead (NIR's and snnTorch's
            discrete-time convention; `spyx.nir.from_nir` builds graphs so);
            a cycle through them then needs a delayed edge.

    Shapes are checked as the graph is built, where the layers say them
    (neurons, `nnx.Linear`): the error names the edge and both shapes.
    `run` takes a graph as it takes a `Sequential`; a node in no cycle
    then runs over the whole sequence at once, a cycle step by step.

    Example (a residual block and a feedback connection):

    ```python
    rngs = nnx.Rngs(0)
    model = spyx.nn.Graph(
        nodes={
            "fc1": nnx.Linear(8, 16, rngs=rngs),
            "lif1": spyx.nn.LIF((16,), beta=0.9),
            "fc2": nnx.Linear(16, 16, rngs=rngs),
            "lif2": spyx.nn.LIF((16,), beta=0.9),
            "back": nnx.Linear(16, 16, rngs=rngs),
        },
        edges=[
            ("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"),
            ("fc2", "lif2"), ("lif1", "lif2"),  # skip: lif2 sums both
            ("lif2", "back"), ("back", "lif1"),  # feedback
            ("lif2", "output"),
        ],
    )
    outs, final = spyx.nn.run(model, jnp.ones((100, 4, 8)))  # [100, 4, 16]
    ```
    """

    _describe = staticmethod(describe)
    _apply_rows = staticmethod(as_is)
    _default_batch_ndim = 1

    def __init__(
        self,
        nodes: Mapping[str, core.StatefulLayer | Callable[..., Any]],
        edges: Sequence[tuple[str, str]],
        *,
        delayed: Sequence[tuple[str, str]] = (),
        spikes_after_update: bool = False,
    ):
        self._setup(nodes, edges, delayed, spikes_after_update)

    def _store_nodes(self, nodes: dict[str, Any]) -> nnx.Dict:
        return nnx.Dict(nodes)

    def __call__(self, x: Array, state: Mapping[str, Any]) -> tuple[Array, dict]:
        """One step of every node; returns ``(out, new_state)``."""
        return self._step(x, state)
