"""spyx on Equinox: the same neurons as `spyx.nn`, as shape-typed modules.

Modules act on one example (batch with `jax.vmap`, or pass a batched state)
and check their array arguments with jaxtyping + beartype when traced.
Importing this package does not import Flax.
"""

from spyx import core

from ._checkpoint import describe, restore, save
from ._convert import from_nnx, to_nnx
from ._graph import Graph
from ._layers import (
    ActivityRegularization,
    ChannelsLast,
    Flatten,
    PopulationCode,
    SumPool,
    sum_pool,
)
from ._neuron import Neuron, SpikingNeuron, eqx_class
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
    "ChannelsLast",
    "CuBaLIF",
    "Graph",
    "Flatten",
    "Neuron",
    "PopulationCode",
    "RCuBaLIF",
    "Sequential",
    "SpikingNeuron",
    "StatefulLayer",
    "SumPool",
    "describe",
    "eqx_class",
    "from_nnx",
    "restore",
    "run",
    "save",
    "sum_pool",
    "to_nnx",
    "PARAM_KINDS",
    "param_labels",
    "param_mask",
]
