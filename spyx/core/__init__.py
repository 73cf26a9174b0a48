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

Inside, the core is six rooms, each a subpackage with one job, listed in
`_ROOMS` from the bottom up; a room imports only rooms below it (a test
holds every import to that): `_checks` (protocols, shapes, input checks),
`_equations` (steps, reset modes, initialisers), `_scans` (scans, sequence
kernels, adjoint), `_neurons` (the neuron table, what neuron layers share),
`_execution` (`run`'s strategies, graphs, keys) and `_frontend` (what
`spyx.nn` and `spyx_eqx` share).
"""

from ._checks import (
    NeuronLayer,
    SequenceLayer,
    Shape,
    StatefulLayer,
    check_finite,
    check_input,
    check_sequence,
    check_state,
    check_time_major,
    debug_checks,
    debug_checks_enabled,
    is_stateful,
    join_halves,
    split_halves,
    state_shape,
)
from ._equations import (
    RESET_MODES,
    RESETS,
    Reset,
    ResetMode,
    alif_step,
    beta_from_snntorch,
    clip01,
    cuba_lif_step,
    decay_init,
    decay_value,
    if_step,
    li_step,
    lif_step,
    psu_lif_step,
    rcuba_lif_step,
    recurrent_init,
    reset_mode,
    rif_step,
    rlif_step,
    snntorch_beta_from_beta,
)
from ._execution import Record
from ._neurons import (
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
from ._scans import (
    LeakyScanMethod,
    adjoint_sequence,
    alif_sequence,
    cuba_lif_sequence,
    if_sequence,
    leaky_combine,
    leaky_scan,
    lif_sequence,
    psu_lif_sequence,
    state_dtype,
    states_over_time,
    time_scan,
)

_ROOMS: tuple[str, ...] = (
    "_checks",
    "_equations",
    "_scans",
    "_neurons",
    "_execution",
    "_frontend",
)
"""The core's subpackages from the bottom up: each may import only those
before it."""

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
    "Record",
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
