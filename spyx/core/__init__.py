"""The framework-free core: neuron equations, time scans and shape checks.

Plain functions on JAX arrays. Nothing here imports Flax or Equinox; both
front ends (`spyx.nn` and `spyx_eqx`) hold parameters and call these.
"""

from ._checks import check_finite, debug_checks, debug_checks_enabled
from ._init import decay_init, decay_value, recurrent_init
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
from ._scan import (
    LeakyScanMethod,
    leaky_scan,
    psu_lif_sequence,
    run_layerwise,
    run_model,
    step_layers,
    time_scan,
)
from ._sequences import lif_sequence
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

__all__ = [
    "LeakyScanMethod",
    "Shape",
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
    "debug_checks_enabled",
    "decay_init",
    "decay_value",
    "if_step",
    "join_halves",
    "leaky_scan",
    "li_step",
    "lif_sequence",
    "lif_step",
    "normalize_shape",
    "population_code",
    "psu_lif_sequence",
    "psu_lif_step",
    "rcuba_lif_step",
    "recurrent_init",
    "rif_step",
    "rlif_step",
    "sequential_batch_ndim",
    "run_layerwise",
    "run_model",
    "split_halves",
    "state_shape",
    "step_layers",
    "sum_pool_axes",
    "threshold_value",
    "time_scan",
]
