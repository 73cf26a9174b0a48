"""The time machinery: scans over time (`time_scan`, `leaky_scan`), the
sequence kernels with their hand-written backward passes (`lif_sequence`,
...) and the adjoint for a step of one's own (`adjoint_sequence`).

May use `_equations` and `_checks`.
"""

from ._adjoint import adjoint_sequence
from ._scan import (
    LeakyScanMethod,
    from_time_major,
    initial_state_of,
    leaky_combine,
    leaky_scan,
    psu_lif_sequence,
    scan_layer,
    state_dtype,
    states_over_time,
    time_scan,
    to_time_major,
)
from ._sequences import if_sequence, lif_sequence
from ._two_part_sequences import alif_sequence, cuba_lif_sequence

__all__ = [
    "LeakyScanMethod",
    "adjoint_sequence",
    "alif_sequence",
    "cuba_lif_sequence",
    "from_time_major",
    "if_sequence",
    "initial_state_of",
    "leaky_combine",
    "leaky_scan",
    "lif_sequence",
    "psu_lif_sequence",
    "scan_layer",
    "state_dtype",
    "states_over_time",
    "time_scan",
    "to_time_major",
]
