"""Supported entry point of the experimental neurons.

Experimental means the API may change without a deprecation cycle.

- `PSU_LIF`: the reset-free parallel-spiking LIF, the same class as
  `spyx.nn.PSU_LIF`.
- `AssociativeLIF`: `PSU_LIF` under spyx 1.0's name for snnTorch users,
  with conversions of snnTorch's ``beta`` (`spyx.nn.AssociativeLIF`).
"""

from .nn import PSU_LIF, AssociativeLIF

__all__ = ["AssociativeLIF", "PSU_LIF"]
