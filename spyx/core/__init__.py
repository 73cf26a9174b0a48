"""The framework-free core: neuron table, equations, kernels, scans, checks.

Plain functions on JAX arrays. Nothing here imports Flax or Equinox; both
front ends (`spyx.nn` and `spyx_eqx`) hold parameters and call these.

- The neuron table (`NEURONS`, one `NeuronSpec` per neuron) describes each
  neuron once: its step and sequence kernel, parameters and defaults, state
  layout and NIR mapping.
- The reset modes (`RESET_MODES`, one `ResetMode` each) hold each mode's
  rule once; steps, kernels and NIR read it.
- The steps (`lif_step`, ...) are the single home of the equations; the
  sequence kernels (`lif_sequence`, ..., `adjoint_sequence` for a step of
  one's own) run them over a whole sequence with a hand-written backward
  pass.
- The scans (`time_scan`, `leaky_scan`) and the checks (`check_input`, ...)
  are what a neuron or layer of one's own needs besides.
"""

from ._adjoint import adjoint_sequence
from ._checks import check_finite, debug_checks, debug_checks_enabled
from ._init import (
    beta_from_snntorch,
    decay_init,
    decay_value,
    recurrent_init,
    snntorch_beta_from_beta,
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
from ._protocols import NeuronLayer, SequenceLayer, StatefulLayer, is_stateful
from ._resets import RESET_MODES, RESETS, Reset, ResetMode, reset_mode
from ._scan import (
    LeakyScanMethod,
    leaky_combine,
    leaky_scan,
    psu_lif_sequence,
    state_dtype,
    states_over_time,
    time_scan,
)
from ._sequences import alif_sequence, cuba_lif_sequence, if_sequence, lif_sequence
from ._shapes import (
    Shape,
    check_input,
    check_sequence,
    check_state,
    check_time_major,
    join_halves,
    split_halves,
    state_shape,
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
    # the neuron table
    "ALIF",
    "CUBA_LIF",
    "IF",
    "LI",
    "LIF",
    "NEURONS",
    "PSU_LIF",
    "RCUBA_LIF",
    "RECURRENT_W",
    "RIF",
    "RLIF",
    "THRESHOLD",
    "NeuronSpec",
    "NirMap",
    # reset modes
    "RESETS",
    "RESET_MODES",
    "Reset",
    "ResetMode",
    "reset_mode",
    # steps and parameters
    "alif_step",
    "clip01",
    "cuba_lif_step",
    "if_step",
    "li_step",
    "lif_step",
    "psu_lif_step",
    "rcuba_lif_step",
    "rif_step",
    "rlif_step",
    "beta_from_snntorch",
    "decay_init",
    "decay_value",
    "recurrent_init",
    "snntorch_beta_from_beta",
    # sequence kernels and scans
    "adjoint_sequence",
    "alif_sequence",
    "cuba_lif_sequence",
    "if_sequence",
    "lif_sequence",
    "psu_lif_sequence",
    "LeakyScanMethod",
    "leaky_combine",
    "leaky_scan",
    "state_dtype",
    "states_over_time",
    "time_scan",
    # checks, shapes and layer protocols
    "NeuronLayer",
    "SequenceLayer",
    "Shape",
    "StatefulLayer",
    "check_finite",
    "check_input",
    "check_sequence",
    "check_state",
    "check_time_major",
    "debug_checks",
    "debug_checks_enabled",
    "is_stateful",
    "join_halves",
    "split_halves",
    "state_shape",
]
