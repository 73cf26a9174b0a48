"""Supported entry point of the experimental neurons.

Experimental means the API may change without a deprecation cycle.

- `PSU_LIF`: the reset-free parallel-spiking LIF, the same class as
  `spyx.nn.PSU_LIF`.
"""

from .nn import PSU_LIF

__all__ = ["PSU_LIF"]
