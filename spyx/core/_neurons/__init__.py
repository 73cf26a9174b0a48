"""The neuron table and what neuron layers share: `NEURONS` (one
`NeuronSpec` per neuron, linking its step, its kernel, its parameters and
its NIR mapping) and the logic of every neuron layer of both front ends
(`NeuronBase`, `neuron_step`, ...).

May use `_scans`, `_equations` and `_checks`.
"""

from ._layer import (
    NeuronBase,
    check_neuron_inputs,
    neuron_parallel,
    neuron_sequence,
    neuron_step,
    random_description,
    spikes_after_update,
    threshold_of,
)
from ._table import (
    ALIF,
    CUBA_LIF,
    IF,
    LI,
    LIF,
    NEURONS,
    PSU_LIF,
    RCUBA_LIF,
    RECURRENT_W,
    RIF,
    RLIF,
    THRESHOLD,
    NeuronSpec,
    NirMap,
)

__all__ = [
    "ALIF",
    "CUBA_LIF",
    "IF",
    "LI",
    "LIF",
    "NEURONS",
    "NeuronBase",
    "NeuronSpec",
    "NirMap",
    "PSU_LIF",
    "RCUBA_LIF",
    "RECURRENT_W",
    "RIF",
    "RLIF",
    "THRESHOLD",
    "check_neuron_inputs",
    "neuron_parallel",
    "neuron_sequence",
    "neuron_step",
    "random_description",
    "spikes_after_update",
    "threshold_of",
]
