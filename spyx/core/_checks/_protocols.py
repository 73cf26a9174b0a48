"""What the core expects from the layers it runs, as `typing.Protocol`s.

The scans and checks in `spyx.core` only rely on these; any object with the
right methods fits, whichever front end (or user code) made it.
"""

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

__all__ = [
    "Container",
    "GraphContainer",
    "NeuronLayer",
    "SequenceLayer",
    "StatefulLayer",
    "is_stateful",
]


@runtime_checkable
class StatefulLayer(Protocol):
    """A layer that carries a state through time.

    ``initial_state(batch_size)`` builds the zero state and a step
    ``layer(x, state) -> (out, new_state)`` keeps its structure, shape and
    dtype. Every spyx neuron, `ActivityRegularization` and `Sequential` is
    one; `nnx.Linear` is not.
    """

    def initial_state(self, batch_size: int | None) -> Any: ...

    def __call__(self, x: Any, state: Any) -> tuple[Any, Any]: ...


@runtime_checkable
class SequenceLayer(StatefulLayer, Protocol):
    """A stateful layer that also runs a whole time-major sequence at once.

    `state_shape` is one example's state shape (so that the batch axes of a
    state can be counted); ``run_sequence(xs, state, unroll=...)`` equals
    scanning the step over ``xs`` and returns ``(outs, final_state)``.
    Layer-wise `run` uses it.
    """

    @property
    def state_shape(self) -> tuple[int, ...]: ...

    def run_sequence(
        self, x: Any, state: Any, *, unroll: int | bool = 1
    ) -> tuple[Any, Any]: ...


@runtime_checkable
class Container(Protocol):
    """A chain of layers (a `Sequential`), whose state is one entry per layer."""

    layers: Sequence[Any]


@runtime_checkable
class GraphContainer(Protocol):
    """A graph of named layers (a `Graph`): `nodes` by name and the `plan`
    (`plan_graph`) that says how to compute them; its state is a dict."""

    nodes: Any
    plan: Any


@runtime_checkable
class NeuronLayer(SequenceLayer, Protocol):
    """A front end's neuron: what `neuron_step` and `neuron_sequence` read.

    `spec` is its row of the neuron table (a `NeuronSpec`) and
    `hidden_shape` its checked shape; a spiking neuron also has `threshold`
    and `spike`, and one that resets its `reset` mode. Its parameters
    are passed separately, as arrays.
    """

    spec: ClassVar[Any]  # declared on the class: ``spec = core.LIF``

    @property
    def hidden_shape(self) -> tuple[int, ...]: ...


def is_stateful(layer: Any) -> bool:
    """Whether a layer carries a state.

    Whether `layer` carries a state (a `StatefulLayer`): a `Sequential`
    gives it an entry in its state and calls it as ``layer(x, state)``."""
    return isinstance(layer, StatefulLayer)
