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


def to_nir(
    model: Any, input_shape: Any, output_shape: Any = None, dt: float = 1.0
) -> nir.NIRGraph:
    """Write a `spyx_eqx` model (a `Sequential`, a `Graph` or a neuron) as NIR.

    `input_shape` is one example's shape in NIR's channels-first layout
    (``(C, H, W)`` for images), or ``{"input": shape}``; `output_shape` is
    optional and checked (see `spyx.nir.to_nir`).
    """
    return _nir.to_nir(to_nnx(model), input_shape, output_shape, dt)


def from_nir(
    graph: nir.NIRGraph,
    input_data: Any = None,
    dt: float = 1.0,
    *,
    reset: str | None = None,
    return_all_states: bool = False,
    key: Any = None,
) -> Any:
    """Build a `spyx_eqx.Sequential` or `spyx_eqx.Graph` from a NIR graph.

    A `Sequential` for a chain, a `Graph` for any other graph (see
    `spyx.nir.from_nir`, also for `reset` and the timing). With time-major
    `input_data` ``[T, B, ...]``, also run it: ``(model, outputs)``, or
    ``(model, (outputs, states))`` with `return_all_states` (each state
    entry with a leading time axis). The run
    is the one `spyx.nir.from_nir` makes (the two APIs agree to 1e-6); `key`
    is accepted for uniformity and unused."""
    del key
    result = _nir.from_nir(
        graph, input_data, dt, reset=reset, return_all_states=return_all_states
    )
    if input_data is None:
        return from_nnx(result)
    model, outputs = result
    return from_nnx(model), outputs
