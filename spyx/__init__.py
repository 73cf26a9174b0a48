"""spyx: spiking neural networks in JAX.

Submodules load on first use, so ``import spyx.core`` or ``import spyx.axn``
does not pull in Flax, and ``import spyx_eqx`` stays free of it.

- `spyx.core`: the framework-free neuron equations and time scans.
- `spyx.axn`: surrogate-gradient spike functions.
- `spyx.nn`: the neurons and containers on Flax NNX.
- `spyx.experimental`: supported entry point of experimental neurons.
- `spyx.optimize`: training loops with spyx 1.0's names (NNX and Equinox).
"""

import importlib
from types import ModuleType

__version__ = "0.1.0"

_SUBMODULES = (
    "axn",
    "bench",
    "checkpoint",
    "core",
    "data",
    "experimental",
    "fn",
    "nir",
    "nn",
    "optimize",
    "sharding",
)

__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'spyx' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
