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
from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "axn",
    "bench",
    "checkpoint",
    "core",
    "data",
    "experimental",
    "fn",
    "metrics",
    "nir",
    "nn",
    "optimize",
    "sharding",
]
_SUBMODULES = frozenset(__all__) - {"__version__"}

if TYPE_CHECKING:  # what type checkers see of the submodules loaded on first use
    from . import (
        axn,
        bench,
        checkpoint,
        core,
        data,
        experimental,
        fn,
        metrics,
        nir,
        nn,
        optimize,
        sharding,
    )


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'spyx' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
