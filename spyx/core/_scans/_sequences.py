"""Whole-sequence kernels with a hand-written backward pass.

Autodiff of a `jax.lax.scan` over `lif_step` keeps several arrays per step
for the backward pass. The adjoint of the LIF recurrence needs only the
membrane trace, so `lif_sequence` stores that alone and runs one fused
reverse scan (in every reset mode): about a quarter less time for a LIF
layer's forward + backward on a CPU (`benchmarks/training_step.py`).
Layer-wise `run` uses it for `IF` and `LIF`; gradients equal autodiff's to
float rounding (tested). `alif_sequence` and `cuba_lif_sequence`
(`_two_part_sequences`) do the same for the two-part states, and the
recurrent neurons reuse these kernels.

Under differentiation the forward loop emits only the state trace (one
array per step) and the spikes are read off it afterwards, for all steps
at once; without differentiation it emits the spikes. Either way the loop
writes one array per step, which on a CPU costs more than the arithmetic.
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from .._equations import (
    Reset,
    ResetMode,
    clip01,
    lif_step,
    reset_mode,
)
from ._kernel_parts import (
    accumulation_dtype,
    has_surrogate,
    kernel_inputs,
    scan_states,
    scanned_step,
    sum_to,
    surrogate,
    weight_gradient,
)

__all__ = ["if_sequence", "lif_sequence"]


def lif_sequence(
    x: Array,
    V0: Array,
    *,
    beta: ArrayLike,
    threshold: ArrayLike,
    spike: Callable[[Array], Array],
    weights: Array | None = None,
    reset: Reset | ResetMode = "subtract",
    unroll: int | bool = 1,
) -> tuple[Array, Array]:
    """`lif_step` over a whole sequence, with a hand-written VJP.

    `lif_step` over a whole time-major sequence, with a custom VJP (also
    for the recurrent `rlif_step`, given `weights`: ``V_{t+1}`` then adds
    ``s_t W``, the backward adds ``(l_{t+1} W^T) g_t`` to ``l_t``, and
    ``dL/dW = S^T L`` is one matmul after the reverse scan).

    Forward: ``s_t = H(V_t - th)``, ``V_{t+1} = r(b, V_t, s_t, th) + x_t``
    with ``r`` the reset mode's rule (`ResetMode`: ``b V - s th`` for
    ``"subtract"``, ``b (1 - s) V`` for ``"zero"``, ``b V`` for ``"none"``).
    Backward, with ``g_t = H'(V_t - th)`` the surrogate, ``l_t`` the
    gradient w.r.t. ``V_t`` and ``dr/d.`` the rule's partial derivatives
    (`ResetMode.partials`):

        l_t = (dL/ds_t + l_{t+1} dr/ds) g_t + l_{t+1} dr/dV,
        dL/dx_t = l_{t+1},   dL/db = sum_t l_{t+1} dr/db,   dL/dV_0 = l_0.

    Args:
        x: input current ``[T, *batch, *hidden]``.
        V0: membrane before the first step, ``[*batch, *hidden]``.
        beta: decay, a scalar or ``hidden``-shaped (``1`` for IF).
        threshold: a number or scalar array (no gradient flows to it).
        spike: a spike function; its backward pass must be linear in the
            incoming gradient, as every `spyx.axn` function's is.
        reset: ``"subtract"``, ``"zero"``, ``"none"`` or a `ResetMode`.
        weights: recurrent weights ``(H, H)`` (RIF, RLIF) or ``None``.

    Returns:
        ``(spikes [T, ...], V_T)``.

    Example:

    ```python
    x, V0 = jnp.ones((100, 4, 16)), jnp.zeros((4, 16))  # [T, B, H], [B, H]
    spike = spyx.axn.superspike()
    spikes, V_T = lif_sequence(x, V0, beta=0.9, threshold=1.0, spike=spike)
    ```
    """
    mode = reset_mode("lif_sequence", reset)
    if not has_surrogate(spike):
        return scanned_step(
            lif_step,
            x,
            V0,
            unroll,
            beta=beta,
            threshold=threshold,
            spike=spike,
            weights=weights,
            reset=reset,
        )
    decays, threshold = kernel_inputs({"beta": beta}, threshold, V0.dtype)
    beta, x_dtype = decays["beta"], x.dtype

    def forward(
        x: Array, V0: Array, beta: Array, W: Any, threshold: Array, keep_trace: bool
    ) -> tuple[Array, Array, Array | None]:
        def step(x_t: Array, V: Array) -> tuple[Array, Array]:
            return lif_step(
                x_t,
                V,
                beta=beta,
                threshold=threshold,
                spike=spike,
                weights=W,
                reset=reset,
            )

        return scan_states(
            step, V0, x, keep_trace, lambda V: spike(V - threshold), unroll
        )

    @jax.custom_vjp
    def sequence(
        x: Array, V0: Array, beta: Array, W: Any, threshold: Array
    ) -> tuple[Array, Array]:
        spikes, V_T, _ = forward(x, V0, beta, W, threshold, False)
        return spikes, V_T

    def sequence_fwd(
        x: Array, V0: Array, beta: Array, W: Any, threshold: Array
    ) -> tuple[Any, Any]:
        spikes, V_T, trace = forward(x, V0, beta, W, threshold, True)
        return (spikes, V_T), (trace, beta, W, threshold)

    def sequence_bwd(res: Any, cts: Any) -> tuple:
        trace, beta, W, threshold = res
        d_spikes, d_VT = cts
        b, clip_vjp = jax.vjp(clip01, beta)

        def body(lam: Array, inputs: Any) -> tuple[Array, Array]:
            V, d_s = inputs
            u = V - threshold
            g = surrogate(spike, u)
            dr = mode.partials(b, V, spike(u), threshold)
            if W is not None:  # the feedback s W carries l_{t+1} back to s_t
                d_s = d_s + (lam @ W.T).astype(d_s.dtype)
            lam_prev = ((d_s + lam * dr.s) * g + lam * dr.V).astype(V.dtype)
            return lam_prev, lam

        lam0, d_x = jax.lax.scan(
            body, d_VT, (trace, d_spikes), reverse=True, unroll=unroll
        )
        # dL/db = sum_t l_{t+1} dr/db, reduced once over all T * batch rows
        # after the scan (a tree reduction, not a running sum in the carry).
        dr_db = mode.partials(b, trace, spike(trace - threshold), threshold).b
        d_b = d_x.astype(accumulation_dtype(d_x.dtype)) * dr_db
        (d_beta,) = clip_vjp(sum_to(d_b, b).astype(b.dtype))
        d_W = None
        if W is not None:
            d_W = weight_gradient(spike(trace - threshold), d_x, W)
        # the threshold is not trained: no gradient flows to it
        return (
            d_x.astype(x_dtype),
            lam0,
            d_beta,
            d_W,
            jnp.zeros_like(threshold),
        )

    sequence.defvjp(sequence_fwd, sequence_bwd)
    return sequence(x, V0, beta, weights, threshold)


def if_sequence(
    x: Array,
    V0: Array,
    *,
    threshold: ArrayLike,
    spike: Callable[[Array], Array],
    weights: Array | None = None,
    reset: Reset | ResetMode = "subtract",
    unroll: int | bool = 1,
) -> tuple[Array, Array]:
    """`if_step` over a whole sequence, with a hand-written VJP.

    `if_step` (or, with `weights`, `rif_step`) over a whole sequence:
    `lif_sequence` with ``beta = 1``.

    Example:

    ```python
    x, V0 = jnp.ones((100, 4, 16)), jnp.zeros((4, 16))  # [T, B, H], [B, H]
    spike = spyx.axn.superspike()
    spikes, V_T = if_sequence(x, V0, threshold=1.0, spike=spike)
    ```
    """
    return lif_sequence(
        x,
        V0,
        beta=1.0,
        threshold=threshold,
        spike=spike,
        weights=weights,
        reset=reset,
        unroll=unroll,
    )
