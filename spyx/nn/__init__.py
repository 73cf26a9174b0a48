"""Spiking neurons, containers and the time-major `run` on Flax NNX.

Every neuron is a short declaration over `Neuron`, which reads the neuron's
row of `spyx.core.NEURONS` and calls the core for the equations. A stateful
layer exposes ``initial_state(batch_size)`` and a step ``__call__(x, state)
-> (out, new_state)``; `run` scans a model over a time-major sequence
``[T, B, ...]``.

Example:

```python
import jax.numpy as jnp
from flax import nnx
import spyx.nn as snn

model = snn.Sequential(
    nnx.Linear(16, 32, rngs=nnx.Rngs(0)),
    snn.LIF((32,), rngs=nnx.Rngs(1)),
    nnx.Linear(32, 4, rngs=nnx.Rngs(2)),
    snn.LI((4,)),
)
x = jnp.ones((100, 8, 16))            # [Time, Batch, features]
traces, final_state = snn.run(model, x)  # traces: [100, 8, 4]
```
"""

from .. import core
from ._graph import Graph
from ._layers import ActivityRegularization, Flatten, PopulationCode, SumPool, sum_pool
from ._neuron import Neuron, nnx_class
from ._neurons import (
    ALIF,
    IF,
    LI,
    LIF,
    PSU_LIF,
    RIF,
    RLIF,
    AssociativeLIF,
    CuBaLIF,
    RCuBaLIF,
)
from ._params import PARAM_KINDS, param_labels, param_mask
from ._sequential import Sequential, run

StatefulLayer = core.StatefulLayer

# spyx 1.0 kept the combine step of PSU_LIF's associative scan here, and its
# tests and notebooks call it: (A_i, b_i), (A_j, b_j) -> (A_j A_i, A_j b_i + b_j).
_leaky_associative_op = core.leaky_combine

__all__ = [
    "ALIF",
    "IF",
    "LI",
    "LIF",
    "PSU_LIF",
    "RIF",
    "RLIF",
    "ActivityRegularization",
    "AssociativeLIF",
    "CuBaLIF",
    "Graph",
    "Flatten",
    "Neuron",
    "PopulationCode",
    "RCuBaLIF",
    "Sequential",
    "StatefulLayer",
    "SumPool",
    "nnx_class",
    "run",
    "sum_pool",
    "PARAM_KINDS",
    "param_labels",
    "param_mask",
]
