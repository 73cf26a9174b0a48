"""The NIR mapping both directions share: time constants, layouts, and which
row of the neuron table (`spyx.core.NEURONS`) a NIR node stands for."""

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import core

__all__ = [
    "GRAPH_TIMING",
    "LEAKY_NODES",
    "MODE_OF_NIR_NAME",
    "NIR_RESET",
    "NODE_TIMING",
    "SPIKING_NODES",
    "SPYX",
    "check_dt",
    "decay_to_nir",
    "flatten_perm",
    "from_layout",
    "from_nir_layout",
    "has_threshold_twin",
    "nir_to_decay",
    "out_shape",
    "per_unit",
    "same_pads",
    "spec_for_node",
    "to_nir_layout",
]

SPYX = "spyx"  # metadata key marking nodes written by spyx
GRAPH_TIMING = "spikes_after_update"  # under a graph's metadata["spyx"]
NODE_TIMING = "spikes_after_update"  # under a neuron node's metadata["spyx"]

# The reset mode of each name spyx writes in a node's metadata
# (`ResetMode.nir_name`; files written before reset modes existed say
# "subtractive").
MODE_OF_NIR_NAME = {m.nir_name: name for name, m in core.RESET_MODES.items()}
# The mode NIR's own spiking nodes mean (a reset to v_reset = 0).
NIR_RESET = next(name for name, m in core.RESET_MODES.items() if m.nir_native)

SPIKING_NODES = ("IF", "LIF", "CubaLIF")  # NIR nodes with a threshold and reset
LEAKY_NODES = ("LIF", "LI", "CubaLIF")  # NIR nodes with a v_leak


def check_dt(where: str, dt: Any) -> float:
    """`dt` as a float, refused unless a finite number greater than 0."""
    try:
        value = float(dt)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: `dt` must be a number, got {dt!r}.") from None
    if isinstance(dt, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"{where}: `dt` must be a finite time step greater than 0, got {dt!r}."
        )
    return value


def decay_to_nir(decay: Any, dt: float, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(tau, r)`` of a decay: ``tau = dt / (1 - d)``, ``r = tau / dt``."""
    d = np.clip(np.asarray(decay, np.float64), 0.0, 1.0)
    if np.any(d >= 1.0):
        raise ValueError(
            f"to_nir: {name} = 1 (no leak) has no finite NIR time constant; use "
            f"an IF neuron for a non-leaky integrator."
        )
    tau = dt / (1.0 - d)
    return tau, tau / dt


def nir_to_decay(tau: Any, dt: float, node: str) -> np.ndarray:
    """``d = 1 - dt / tau``; refuses ``tau < dt`` (unstable under Euler)."""
    tau = np.asarray(tau, np.float64)
    if np.any(tau < dt):
        raise ValueError(
            f"from_nir: node {node!r} has tau {tau.min():.3g} < dt={dt:g}; forward "
            f"Euler is unstable there. Pass the dt the graph was written with."
        )
    return 1.0 - dt / tau


def to_nir_layout(a: np.ndarray) -> np.ndarray:
    """spyx per-example ``(..., C)`` to NIR ``(C, ...)``."""
    return np.moveaxis(a, -1, 0) if a.ndim >= 2 else a


def from_nir_layout(a: np.ndarray) -> np.ndarray:
    """NIR per-example ``(C, ...)`` to spyx ``(..., C)``."""
    return np.moveaxis(a, 0, -1) if a.ndim >= 2 else a


def flatten_perm(shape: tuple[int, ...]) -> np.ndarray:
    """``nir_vector = spyx_vector[perm]`` for a flattened feature map."""
    idx = np.arange(int(np.prod(shape))).reshape(shape)
    return to_nir_layout(idx).reshape(-1)


def per_unit(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A scalar or per-unit spyx value as a per-unit array in NIR layout."""
    return to_nir_layout(np.broadcast_to(np.asarray(value, np.float32), shape).copy())


def from_layout(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A NIR per-unit (or single) value as a spyx array of `shape`."""
    a = np.asarray(value, np.float32)
    if a.size == 1:
        return np.full(shape, a.reshape(()), np.float32)
    a = from_nir_layout(a) if a.ndim >= 2 else a
    return np.broadcast_to(a.reshape(-1) if len(shape) == 1 else a, shape).copy()


def out_shape(layer: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """One example's output shape of a stateless `layer` (batch of one)."""
    x = jax.ShapeDtypeStruct((1, *shape), jnp.float32)
    return tuple(jax.eval_shape(layer, x).shape[1:])


def spec_for_node(
    node_type: str, *, recurrent: bool, threshold_node: bool, node: str
) -> core.NeuronSpec:
    """The neuron whose NIR mapping is `node_type` (``"LIF"``, ...) with or
    without a feedback loop and a following `Threshold` node."""
    for spec in core.NEURONS:
        m = spec.nir
        if (
            m is not None
            and m.node == node_type
            and spec.recurrent == recurrent
            and m.threshold_node == threshold_node
        ):
            return spec
    what = " with a recurrent feedback loop" if recurrent else ""
    raise ValueError(f"from_nir: node {node!r} ({node_type}{what}) has no spyx neuron.")


def has_threshold_twin(node_type: str) -> bool:
    """Whether some neuron is written as `node_type` followed by `Threshold`."""
    return any(
        s.nir is not None and s.nir.node == node_type and s.nir.threshold_node
        for s in core.NEURONS
    )


def same_pads(
    size: tuple[int, ...], window: tuple[int, ...], stride: tuple[int, ...]
) -> list[tuple[int, int]]:
    """XLA's ``"SAME"`` padding ``(low, high)`` per spatial axis: the output
    has ``ceil(size / stride)`` positions, the extra input split with the
    larger half after."""
    pads = []
    for n, k, s in zip(size, window, stride, strict=True):
        total = max((-(-n // s) - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return pads
