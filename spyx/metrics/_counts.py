"""The counts behind the metrics, as functions of one layer's sequences.

Every function takes time-major sequences ``[T, *batch, ...]`` (`batch_ndim`
batch axes) and returns totals over all steps and examples, as Python
ints; the report divides by the number of examples.
"""

import math
from collections.abc import Callable
from typing import Any

import numpy as np

Rows = Callable[[np.ndarray], Any]

__all__ = [
    "activation_counts",
    "is_spiking",
    "membrane_updates",
    "synaptic_counts",
    "weight_counts",
]


def is_spiking(xs: Any) -> np.ndarray:
    """Per step, whether the input holds spikes: ``[T]`` booleans, true
    where every entry of the step (all examples) is 0, 1 or -1 (NeuroBench's
    test for accumulate-only operations)."""
    xs = np.asarray(xs)
    binary = (xs == 0) | (xs == 1) | (xs == -1)
    return binary.reshape(xs.shape[0], -1).all(axis=1)


def _ops_per_step(apply: Rows, xs: np.ndarray, lead: int) -> np.ndarray:
    """``[T]`` sums of `apply` over each step's rows, exact in int64 (every
    output entry is a small whole number)."""
    rows = xs.reshape(-1, *xs.shape[lead:])
    out = np.asarray(apply(rows))
    per_row = out.reshape(out.shape[0], -1).astype(np.int64).sum(axis=1)
    return per_row.reshape(xs.shape[0], -1).sum(axis=1)


def synaptic_counts(
    effective: Rows, dense: Rows, xs: Any, batch_ndim: int
) -> tuple[int, int, int]:
    """``(ACs, MACs, dense)`` of one connection over a sequence.

    With ``b(x) = 1[x != 0]`` and the layer's binary copies (`effective`:
    weights ``1[w != 0]``; `dense`: all weights 1; no bias), a step's
    effective operations are ``sum(effective(b(x_t)))``: each nonzero input
    times its nonzero synapses. They are ACs when the step `is_spiking`,
    MACs otherwise; the dense count is ``sum(dense(1))``, every input and
    synapse, at every step.

    Args:
        effective: rows ``[R, *example] -> [R, ...]`` with binary weights.
        dense: the same with all-ones weights.
        xs: the layer's input, ``[T, *batch, *example]``.
        batch_ndim: number of batch axes of `xs`.

    Returns:
        ``(ACs, MACs, dense)`` summed over steps and examples.
    """
    xs = np.asarray(xs)
    lead = 1 + batch_ndim
    steps, examples = xs.shape[0], math.prod(xs.shape[1:lead])
    ops = _ops_per_step(effective, (xs != 0).astype(np.float32), lead)
    spiking = is_spiking(xs)
    one = np.ones((1, *xs.shape[lead:]), np.float32)
    per_example = int(_ops_per_step(dense, one, 1)[0])
    acs = int(ops[spiking].sum())
    macs = int(ops[~spiking].sum())
    return acs, macs, per_example * steps * examples


def activation_counts(outputs: Any) -> tuple[int, int]:
    """``(zeros, entries)`` of a neuron's outputs over all steps and
    examples; activation sparsity is their ratio."""
    outputs = np.asarray(outputs)
    return int(np.sum(outputs == 0)), int(outputs.size)


def membrane_updates(membrane: Any) -> int:
    """Membrane updates of one neuron layer, NeuroBench's way.

    Every neuron counts once at the first step; after that, a neuron counts
    at each step its membrane changes: ``N + sum_{t>0} 1[V_t != V_{t-1}]``,
    over all examples.

    Args:
        membrane: ``V`` after each step, ``[T, *batch, *hidden]``.

    Returns:
        The number of updates, over all steps and examples.
    """
    membrane = np.asarray(membrane)
    changed = int(np.sum(membrane[1:] != membrane[:-1]))
    return int(membrane[0].size) + changed


def weight_counts(weights: list[Any]) -> tuple[int, int]:
    """``(zeros, entries)`` of synaptic weights; connection sparsity is
    their ratio."""
    arrays = [np.asarray(w) for w in weights]
    return sum(int(np.sum(w == 0)) for w in arrays), sum(w.size for w in arrays)
