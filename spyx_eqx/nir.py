"""NIR export and import for Equinox models.

The same mapping as `spyx.nir` (see its documentation for the time-constant
conversion and what is rescaled or refused), reached through the model
conversions `to_nnx` / `from_nnx`, so the two APIs share one implementation.
Importing this module imports Flax.
"""

from typing import Any

import nir

from spyx import nir as _nir

from ._convert import from_nnx, to_nnx

__all__ = ["from_nir", "to_nir"]


def to_nir(model: Any, input_shape: Any, *, dt: float = 1.0) -> nir.NIRGraph:
    """Write a `spyx_eqx` model (a `Sequential` or a neuron) as a NIR graph.

    `input_shape` is one example's shape, channels last (``(H, W, C)``).
    """
    return _nir.to_nir(to_nnx(model), input_shape, dt=dt)


def from_nir(graph: nir.NIRGraph, *, dt: float = 1.0, reset: str | None = None) -> Any:
    """Build a `spyx_eqx.Sequential` from a NIR graph (see `spyx.nir.from_nir`,
    also for `reset`)."""
    return from_nnx(_nir.from_nir(graph, dt=dt, reset=reset))
