"""What the sequence kernels share: the surrogate, the reductions, the
forward loop and the fallback for spike functions without a known surrogate.
"""

from collections.abc import Callable, Mapping
from typing import Any, TypeGuard

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from ...axn import SpikeFunction
from ._scan import time_scan

__all__ = [
    "accumulation_dtype",
    "has_surrogate",
    "kernel_inputs",
    "scan_states",
    "scanned_step",
    "sum_to",
    "surrogate",
    "weight_gradient",
]


def has_surrogate(spike: Callable[[Array], Array]) -> TypeGuard[SpikeFunction]:
    """Whether the kernels may use `spike`'s surrogate derivative directly:
    a `spyx.axn.SpikeFunction`, whose backward pass is ``incoming * g(x)``
    (linear in the incoming gradient, elementwise). Any other callable makes
    the kernels scan the step and differentiate it with autodiff."""
    return isinstance(spike, SpikeFunction)


def surrogate(spike: SpikeFunction, u: Array) -> Array:
    """The surrogate derivative ``H'(u)`` of `spike`, elementwise."""
    return spike.derivative(u)


def accumulation_dtype(dtype: Any) -> Any:
    """The dtype reductions run in: float32, or wider if `dtype` is."""
    return jnp.promote_types(dtype, jnp.float32)


def sum_to(g: Array, p: Array) -> Array:
    """Sum the leading (time and batch) axes of a per-element gradient `g`
    down to the shape of the parameter `p` (every axis for a scalar), in
    float32 or wider whatever `g`'s dtype."""
    g = g.astype(accumulation_dtype(g.dtype))
    if not p.ndim:
        return g.sum()
    return g.sum(axis=tuple(range(g.ndim - p.ndim)))


def weight_gradient(spikes: Array, d_u: Array, W: Array) -> Array:
    """``dL/dW = S^T dU`` for a feedback ``s_t W``: one matmul over all
    ``T * batch`` rows of the spikes and of the gradient w.r.t. what the
    feedback is added to, accumulated in float32 or wider."""
    acc = accumulation_dtype(jnp.result_type(spikes, d_u))
    rows = spikes.reshape(-1, spikes.shape[-1]).astype(acc)
    return (rows.T @ d_u.reshape(-1, d_u.shape[-1]).astype(acc)).astype(W.dtype)


def kernel_inputs(
    decays: Mapping[str, ArrayLike], threshold: ArrayLike, dtype: Any
) -> tuple[dict[str, Array], Array]:
    """What every kernel does with its arguments before the scan: the decays
    as float arrays, and the threshold as a constant of the state's dtype
    (it is not trained, so no gradient reaches it)."""
    arrays = {d: jnp.asarray(v, jnp.result_type(float)) for d, v in decays.items()}
    return arrays, jax.lax.stop_gradient(jnp.asarray(threshold, dtype))


def scanned_step(
    step: Callable[..., tuple[Array, Array]],
    x: Array,
    state: Array,
    unroll: int | bool,
    **kwargs: Any,
) -> tuple[Array, Array]:
    """`step` scanned over `x` and differentiated by autodiff: what a kernel
    does for a spike function without a known surrogate (`has_surrogate`)."""
    return time_scan(lambda x_t, st: step(x_t, st, **kwargs), x, state, unroll=unroll)


def scan_states(
    step: Callable[[Array, Array], tuple[Array, Array]],
    state0: Array,
    x: Array,
    keep_trace: bool,
    spikes_of: Callable[[Array], Array],
    unroll: int | bool = 1,
) -> tuple[Array, Array, Array | None]:
    """Scan ``step(x_t, state) -> (s_t, state')`` over `x`; returns
    ``(spikes, final_state, trace)``. The loop writes one array per step:
    the spikes, or, with `keep_trace` (for the backward pass), the state
    entering each step, from which `spikes_of` reads the spikes for all
    steps at once after the loop (``trace`` is ``None`` otherwise)."""

    def body(state: Array, x_t: Array) -> tuple[Array, Array]:
        s, new = step(x_t, state)
        return new, state if keep_trace else s

    final, out = jax.lax.scan(body, state0, x, unroll=unroll)
    if not keep_trace:
        return out, final, None
    return spikes_of(out).astype(x.dtype), final, out
