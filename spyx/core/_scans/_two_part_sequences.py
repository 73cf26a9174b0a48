"""The two-part states' whole-sequence kernels: ALIF (membrane and
adaptive threshold) and CuBaLIF (membrane and synaptic current), with
hand-written backward passes as `lif_sequence`'s (`_sequences`)."""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from .._checks import join_halves, split_halves
from .._equations import (
    Reset,
    ResetMode,
    alif_step,
    clip01,
    cuba_lif_step,
    reset_mode,
)
from ._kernel_parts import (
    has_surrogate,
    kernel_inputs,
    scan_states,
    scanned_step,
    sum_to,
    surrogate,
    weight_gradient,
)

__all__ = ["alif_sequence", "cuba_lif_sequence"]


def alif_sequence(
    x: Array,
    VT0: Array,
    *,
    beta: ArrayLike,
    gamma: ArrayLike,
    threshold: ArrayLike,
    spike: Callable[[Array], Array],
    reset: Reset | ResetMode = "subtract",
    unroll: int | bool = 1,
) -> tuple[Array, Array]:
    """`alif_step` over a whole time-major sequence, with a custom VJP.

    Forward: ``th_t = th + T_t``, ``s_t = H(V_t - th_t)``, ``V_{t+1} =
    r(b, V_t, s_t, th_t) + x_t`` with ``r`` the reset mode's rule (as in
    `lif_sequence`), and ``T_{t+1} = g T_t + (1 - g) s_t``. Backward, with
    ``h_t = H'(V_t - th_t)`` the surrogate and ``l_t``, ``m_t`` the
    gradients w.r.t. ``V_t`` and ``T_t``:

        e_t = dL/ds_t + m_{t+1} (1 - g) + l_{t+1} dr/ds,     q_t = e_t h_t,
        l_t = l_{t+1} dr/dV + q_t,    m_t = m_{t+1} g - q_t + l_{t+1} dr/dth,
        dL/dx_t = l_{t+1},   dL/db = sum_t l_{t+1} dr/db,
        dL/dg = sum_t m_{t+1} (T_t - s_t).

    Only the state trace is kept; the decay gradients are reduced once,
    after the reverse scan.

    Args:
        x: input current ``[T, *batch, *hidden]``.
        VT0: the start state, ``[V, T]`` side by side on the last axis.
        beta: membrane decay, a scalar or ``hidden``-shaped.
        gamma: threshold-adaptation decay, a scalar or ``hidden``-shaped.
        threshold: as in `lif_sequence`.
        spike: as in `lif_sequence`.
        reset: as in `lif_sequence`.

    Returns:
        ``(spikes [T, ...], VT_T)``.

    Example:

    ```python
    x, VT0 = jnp.ones((100, 4, 16)), jnp.zeros((4, 32))  # VT0: [V, T]
    spikes, VT = alif_sequence(
        x, VT0, beta=0.9, gamma=0.8, threshold=1.0, spike=spyx.axn.superspike()
    )
    ```
    """
    mode = reset_mode("alif_sequence", reset)
    if not has_surrogate(spike):
        return scanned_step(
            alif_step,
            x,
            VT0,
            unroll,
            beta=beta,
            gamma=gamma,
            threshold=threshold,
            spike=spike,
            reset=reset,
        )
    decays, threshold = kernel_inputs(
        {"beta": beta, "gamma": gamma}, threshold, VT0.dtype
    )
    beta, gamma, x_dtype = decays["beta"], decays["gamma"], x.dtype

    def forward(
        x: Array, VT0: Array, beta: Array, gamma: Array, th: Array, keep_trace: bool
    ) -> tuple:
        def step(x_t: Array, VT: Array) -> tuple[Array, Array]:
            return alif_step(
                x_t, VT, beta=beta, gamma=gamma, threshold=th, spike=spike, reset=reset
            )

        def spikes_of(trace: Array) -> Array:
            V, T = split_halves(trace)
            # (th + T) as alif_step rounds it, so the spikes are the step's
            return spike(V - (th + T))

        return scan_states(step, VT0, x, keep_trace, spikes_of, unroll)

    @jax.custom_vjp
    def sequence(x: Array, VT0: Array, beta: Array, gamma: Array, th: Array) -> tuple:
        spikes, VT_T, _ = forward(x, VT0, beta, gamma, th, False)
        return spikes, VT_T

    def sequence_fwd(
        x: Array, VT0: Array, beta: Array, gamma: Array, th: Array
    ) -> tuple:
        spikes, VT_T, trace = forward(x, VT0, beta, gamma, th, True)
        return (spikes, VT_T), (trace, beta, gamma, th)

    def sequence_bwd(res: Any, cts: Any) -> tuple:
        trace, beta, gamma, th = res
        d_spikes, d_VT = cts
        b, b_vjp = jax.vjp(clip01, beta)
        g, g_vjp = jax.vjp(clip01, gamma)
        Vs, Ts = split_halves(trace)

        def body(carry: Any, inputs: Any) -> tuple[Any, Any]:
            lam, mu = carry
            V, T, d_s = inputs
            th_t = th + T
            u = V - th_t
            h = surrogate(spike, u)
            dr = mode.partials(b, V, spike(u), th_t)
            e = d_s + mu * (1.0 - g) + lam * dr.s
            lam_prev = lam * dr.V
            mu_prev = mu * g + lam * dr.th
            q = e * h
            lam_prev = (lam_prev + q).astype(V.dtype)
            mu_prev = (mu_prev - q).astype(T.dtype)
            return (lam_prev, mu_prev), (lam, mu)

        lam_T, mu_T = split_halves(d_VT)
        (lam0, mu0), (d_x, d_T) = jax.lax.scan(
            body, (lam_T, mu_T), (Vs, Ts, d_spikes), reverse=True, unroll=unroll
        )
        th_ts = th + Ts
        S = spike(Vs - th_ts)
        d_b = d_x * mode.partials(b, Vs, S, th_ts).b
        d_g = d_T * (Ts - S)
        (d_beta,) = b_vjp(sum_to(d_b, b).astype(b.dtype))
        (d_gamma,) = g_vjp(sum_to(d_g, g).astype(g.dtype))
        return (
            d_x.astype(x_dtype),
            join_halves(lam0, mu0),
            d_beta,
            d_gamma,
            jnp.zeros_like(th),
        )

    sequence.defvjp(sequence_fwd, sequence_bwd)
    return sequence(x, VT0, beta, gamma, threshold)


def cuba_lif_sequence(
    x: Array,
    VI0: Array,
    *,
    alpha: ArrayLike,
    beta: ArrayLike,
    threshold: ArrayLike,
    spike: Callable[[Array], Array],
    weights: Array | None = None,
    reset: Reset | ResetMode = "subtract",
    unroll: int | bool = 1,
) -> tuple[Array, Array]:
    """`cuba_lif_step` over a whole sequence, with a hand-written VJP.

    `cuba_lif_step` over a whole time-major sequence, with a custom VJP
    (also for the recurrent `rcuba_lif_step`, given `weights`).

    Forward: ``s_t = H(V_t - th)``, ``I_{t+1} = a I_t + x_t + s_t W``,
    ``V_{t+1} = r(b, V_t, s_t, th) + I_{t+1}`` with ``r`` the reset mode's
    rule with the reset before the leak (``b (V - s th)`` for
    ``"subtract"``). Backward, with ``h_t = H'(V_t - th)``, ``l_t`` and
    ``m_t`` the gradients w.r.t. ``V_t`` and ``I_t``, and ``n_t = l_{t+1} +
    m_{t+1}`` the gradient w.r.t. ``I_{t+1}``:

        e_t = dL/ds_t + l_{t+1} dr/ds + n_t W^T,      q_t = e_t h_t,
        l_t = l_{t+1} dr/dV + q_t,    m_t = a n_t,    dL/dx_t = n_t,
        dL/da = sum_t n_t I_t,   dL/db = sum_t l_{t+1} dr/db,   dL/dW = S^T N.

    Only ``n_t W^T`` stays in the loop; the decay and weight gradients are
    reduced once, after the reverse scan.

    Args:
        x: input current ``[T, *batch, *hidden]``.
        VI0: the start state, ``[V, I]`` side by side on the last axis.
        alpha: synaptic-current decay, a scalar or ``hidden``-shaped.
        beta: membrane decay, a scalar or ``hidden``-shaped.
        threshold: as in `lif_sequence`.
        spike: as in `lif_sequence`.
        reset: as in `lif_sequence`.
        weights: recurrent weights ``(H, H)`` (RCuBaLIF) or ``None``.

    Returns:
        ``(spikes [T, ...], VI_T)``.

    Example:

    ```python
    x, VI0 = jnp.ones((100, 4, 16)), jnp.zeros((4, 32))  # VI0: [V, I]
    spikes, VI = cuba_lif_sequence(
        x, VI0, alpha=0.8, beta=0.9, threshold=1.0, spike=spyx.axn.superspike()
    )
    ```
    """
    mode = reset_mode("cuba_lif_sequence", reset)
    if not has_surrogate(spike):
        return scanned_step(
            cuba_lif_step,
            x,
            VI0,
            unroll,
            alpha=alpha,
            beta=beta,
            threshold=threshold,
            spike=spike,
            weights=weights,
            reset=reset,
        )
    decays, threshold = kernel_inputs(
        {"alpha": alpha, "beta": beta}, threshold, VI0.dtype
    )
    alpha, beta, x_dtype = decays["alpha"], decays["beta"], x.dtype

    def forward(
        x: Array,
        VI0: Array,
        alpha: Array,
        beta: Array,
        W: Any,
        th: Array,
        keep_trace: bool,
    ) -> tuple:
        def step(x_t: Array, VI: Array) -> tuple[Array, Array]:
            return cuba_lif_step(
                x_t,
                VI,
                alpha=alpha,
                beta=beta,
                threshold=th,
                spike=spike,
                weights=W,
                reset=reset,
            )

        def spikes_of(trace: Array) -> Array:
            return spike(split_halves(trace)[0] - th)

        return scan_states(step, VI0, x, keep_trace, spikes_of, unroll)

    @jax.custom_vjp
    def sequence(
        x: Array, VI0: Array, alpha: Array, beta: Array, W: Any, th: Array
    ) -> tuple:
        spikes, VI_T, _ = forward(x, VI0, alpha, beta, W, th, False)
        return spikes, VI_T

    def sequence_fwd(
        x: Array, VI0: Array, alpha: Array, beta: Array, W: Any, th: Array
    ) -> tuple:
        spikes, VI_T, trace = forward(x, VI0, alpha, beta, W, th, True)
        return (spikes, VI_T), (trace, alpha, beta, W, th)

    def sequence_bwd(res: Any, cts: Any) -> tuple:
        trace, alpha, beta, W, th = res
        d_spikes, d_VI = cts
        a, a_vjp = jax.vjp(clip01, alpha)
        b, b_vjp = jax.vjp(clip01, beta)
        Vs, Is = split_halves(trace)

        def body(carry: Any, inputs: Any) -> tuple[Any, Any]:
            lam, mu = carry
            V, d_s = inputs
            u = V - th
            h = surrogate(spike, u)
            n = lam + mu
            e = d_s if W is None else d_s + (n @ W.T).astype(d_s.dtype)
            dr = mode.partials(b, V, spike(u), th, leak_the_reset=True)
            e = e + lam * dr.s
            lam_prev = (lam * dr.V + e * h).astype(V.dtype)
            mu_prev = (a * n).astype(mu.dtype)
            return (lam_prev, mu_prev), (n, lam)

        lam_T, mu_T = split_halves(d_VI)
        (lam0, mu0), (d_x, lams) = jax.lax.scan(
            body, (lam_T, mu_T), (Vs, d_spikes), reverse=True, unroll=unroll
        )
        S = spike(Vs - th)
        dr_db = mode.partials(b, Vs, S, th, leak_the_reset=True).b
        (d_alpha,) = a_vjp(sum_to(d_x * Is, a).astype(a.dtype))
        (d_beta,) = b_vjp(sum_to(lams * dr_db, b).astype(b.dtype))
        d_W = None if W is None else weight_gradient(S, d_x, W)
        return (
            d_x.astype(x_dtype),
            join_halves(lam0, mu0),
            d_alpha,
            d_beta,
            d_W,
            jnp.zeros_like(th),
        )

    sequence.defvjp(sequence_fwd, sequence_bwd)
    return sequence(x, VI0, alpha, beta, weights, threshold)
