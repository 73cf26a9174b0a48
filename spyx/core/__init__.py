"""The framework-free core: the neuron table, equations, time scans and checks.

Plain functions on JAX arrays. Nothing here imports Flax or Equinox; both
front ends (`spyx.nn` and `spyx_eqx`) hold parameters and call these.

- The neuron table (`NEURONS`, one `NeuronSpec` per neuron) describes each
  neuron once: its step and sequence kernel, parameters and defaults, state
  layout and NIR mapping.
- The steps (`lif_step`, ...) are the single home of the equations.
- The scans (`time_scan`, `leaky_scan`, `run_layerwise`) run them over time.
"""

from ._checks import check_finite, debug_checks
from ._init import decay_init, decay_value, recurrent_init
from ._layer import (
    NeuronBase,
    neuron_parallel,
    neuron_sequence,
    neuron_step,
    random_description,
)
from ._neurons import (
    alif_step,
    clip01,
    cuba_lif_step,
    if_step,
    li_step,
    lif_step,
    psu_lif_step,
    rcuba_lif_step,
    rif_step,
    rlif_step,
)
from ._pool import population_code, sum_pool_axes
from ._protocols import (
    Container,
    NeuronLayer,
    SequenceLayer,
    StatefulLayer,
    is_stateful,
)
from ._scan import (
    LeakyScanMethod,
    initial_state_of,
    leaky_scan,
    psu_lif_sequence,
    run_layerwise,
    run_model,
    step_layers,
    time_scan,
)
from ._sequences import if_sequence, lif_sequence
from ._shapes import (
    Shape,
    batch_shape,
    check_floating,
    check_input,
    check_recurrent_shape,
    check_sequence,
    check_sequential_state,
    check_state,
    check_time_major,
    join_halves,
    normalize_shape,
    sequential_batch_ndim,
    split_halves,
    state_shape,
    threshold_value,
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
    RIF,
    RLIF,
    THRESHOLD,
    NeuronSpec,
    NirMap,
    neuron_spec,
)

__all__ = [
    "ALIF",
    "CUBA_LIF",
    "IF",
    "LI",
    "LIF",
    "NEURONS",
    "PSU_LIF",
    "RCUBA_LIF",
    "RIF",
    "RLIF",
    "THRESHOLD",
    "Container",
    "LeakyScanMethod",
    "NeuronBase",
    "NeuronLayer",
    "NeuronSpec",
    "NirMap",
    "SequenceLayer",
    "Shape",
    "StatefulLayer",
    "alif_step",
    "batch_shape",
    "check_finite",
    "check_floating",
    "check_input",
    "check_recurrent_shape",
    "check_sequence",
    "check_sequential_state",
    "check_state",
    "check_time_major",
    "clip01",
    "cuba_lif_step",
    "debug_checks",
    "decay_init",
    "decay_value",
    "if_sequence",
    "if_step",
    "initial_state_of",
    "is_stateful",
    "join_halves",
    "leaky_scan",
    "li_step",
    "lif_sequence",
    "lif_step",
    "neuron_parallel",
    "neuron_sequence",
    "neuron_spec",
    "neuron_step",
    "normalize_shape",
    "population_code",
    "psu_lif_sequence",
    "psu_lif_step",
    "random_description",
    "rcuba_lif_step",
    "recurrent_init",
    "rif_step",
    "rlif_step",
    "run_layerwise",
    "run_model",
    "sequential_batch_ndim",
    "split_halves",
    "state_shape",
    "step_layers",
    "sum_pool_axes",
    "threshold_value",
    "time_scan",
]
