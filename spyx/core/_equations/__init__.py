"""The neuron model: each neuron's one-step update equation (`lif_step`,
...), the reset modes (`RESET_MODES`) and the parameter initialisers.

May use `_checks` only.
"""

from ._init import (
    beta_from_snntorch,
    decay_init,
    decay_value,
    recurrent_init,
    snntorch_beta_from_beta,
)
from ._resets import RESET_MODES, RESETS, Reset, ResetMode, reset_mode
from ._steps import (
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

__all__ = [
    "RESETS",
    "RESET_MODES",
    "Reset",
    "ResetMode",
    "alif_step",
    "beta_from_snntorch",
    "clip01",
    "cuba_lif_step",
    "decay_init",
    "decay_value",
    "if_step",
    "li_step",
    "lif_step",
    "psu_lif_step",
    "rcuba_lif_step",
    "recurrent_init",
    "reset_mode",
    "rif_step",
    "rlif_step",
    "snntorch_beta_from_beta",
]
