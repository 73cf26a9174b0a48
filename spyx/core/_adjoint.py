"""A whole-sequence kernel with a hand-written backward pass for any neuron
step: `adjoint_sequence`.

Autodiff of a `jax.lax.scan` over a step keeps every intermediate array of
every step for the backward pass, and differentiates the recurrent product
``s @ W`` inside the loop (one ``[H, B] x [B, H]`` matmul per step for the
gradient of ``W``). The kernel keeps only the state before each step, and
its reverse scan recomputes one step's elementwise work to get that step's
vector-Jacobian product. Only what truly depends on the next step stays in
the loop: for a recurrent neuron, the product ``du_t @ W.T`` that carries
the gradient back through the feedback. The gradient of ``W`` is one matmul
over all ``T * batch`` rows after the scan, ``dW = S^T dU``; the gradients
of the decays are accumulated per element and reduced over the batch once,
at the end.

It relies on the feedback entering the state additively, where the input
``x`` does (``V' = ... + x + s @ W``, ``I' = ... + x + s @ W``), so that a
step's Jacobian does not depend on its input, and the input need not be
kept. Every built-in recurrent neuron has that form.
"""

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array

from ._sequences import kernel_inputs, scan_states, sum_to, weight_gradient

__all__ = ["adjoint_sequence"]


def adjoint_sequence(
    step: Callable[..., tuple[Array, Array]],
    decays: tuple[str, ...],
    recurrent: bool,
) -> Callable[..., tuple[Array, Array]]:
    """The whole-sequence kernel of `step`, with a hand-written VJP.

    Args:
        step: the core step, ``step(x, state, **decays, threshold, spike[,
            reset][, weights])`` (`reset` is passed on only when given).
        decays: the names of its decay keywords (``("alpha", "beta")``).
        recurrent: the step takes ``weights=W``, added as ``s @ W`` where
            `x` is added.

    Returns:
        ``sequence(x [T, ...], state, **step keywords) -> (outs
        [T, ...], final_state)``, equal to scanning `step` (values and
        gradients, to float rounding); the threshold gets no gradient.

    Example:

    ```python
    my_alif = adjoint_sequence(alif_step, ("beta", "gamma"), False)
    x, VT0 = jnp.ones((100, 4, 16)), jnp.zeros((4, 32))  # VT0: [V, T]
    spikes, VT = my_alif(
        x, VT0, beta=0.9, gamma=0.8, threshold=1.0, spike=spyx.axn.superspike()
    )
    ```
    """

    def sequence(
        x: Array,
        state: Array,
        *,
        threshold: Any,
        spike: Callable[[Array], Array],
        reset: str | None = None,
        weights: Array | None = None,
        **values: Any,
    ) -> tuple[Array, Array]:
        if sorted(values) != sorted(decays):
            raise TypeError(
                f"{step.__name__} sequence: expected the decays {list(decays)}, got "
                f"{sorted(values)}."
            )
        if recurrent and weights is None:
            raise TypeError(f"{step.__name__} sequence: `weights` is required.")
        params, th = kernel_inputs(
            {d: values[d] for d in decays}, threshold, state.dtype
        )
        kernel = _kernel(step, spike, reset, recurrent, x.shape[1:], x.dtype)
        return kernel(x, state, params, weights if recurrent else None, th)

    sequence.__name__ = f"{step.__name__.removesuffix('_step')}_sequence"
    sequence.__qualname__ = sequence.__name__
    return sequence


def _kernel(
    step: Callable[..., tuple[Array, Array]],
    spike: Callable[[Array], Array],
    reset: str | None,
    recurrent: bool,
    x_shape: tuple[int, ...],
    x_dtype: Any,
) -> Callable[..., tuple[Array, Array]]:
    """The custom-VJP function for one step, spike function and reset mode,
    on inputs of one step's shape `x_shape` and dtype `x_dtype`."""

    def run_step(
        x_t: Array, st: Array, params: Mapping[str, Array], W: Any, th: Array
    ) -> tuple[Array, Array]:
        kwargs = dict(params, threshold=th, spike=spike)
        if reset is not None:  # steps without a reset mode take no `reset`
            kwargs["reset"] = reset
        if recurrent:
            kwargs["weights"] = W
        return step(x_t, st, **kwargs)

    def forward(
        x: Array, state: Array, params: Any, W: Any, th: Array, keep_trace: bool
    ) -> tuple:
        def step_t(x_t: Array, st: Array) -> tuple[Array, Array]:
            return run_step(x_t, st, params, W, th)

        def outs_of(trace: Array) -> Array:  # every step's output at once
            return jax.vmap(lambda x_t, st: step_t(x_t, st)[0])(x, trace)

        return scan_states(step_t, state, x, keep_trace, outs_of)

    @jax.custom_vjp
    def kernel(x: Array, state: Array, params: Any, W: Any, th: Array) -> tuple:
        outs, final, _ = forward(x, state, params, W, th, False)
        return outs, final

    def kernel_fwd(x: Array, state: Array, params: Any, W: Any, th: Array) -> tuple:
        outs, final, trace = forward(x, state, params, W, th, True)
        return (outs, final), (trace, params, W, th)

    def kernel_bwd(res: Any, cts: Any) -> tuple:
        trace, params, W, th = res
        d_outs, d_final = cts
        x0 = jnp.zeros(x_shape, x_dtype)  # the Jacobian does not depend on x
        # per-element decays, so that each step's gradient needs no reduction
        wide = {d: jnp.broadcast_to(p, x_shape) for d, p in params.items()}

        def elementwise(x_t: Array, st: Array, p: Any) -> tuple[Array, Array]:
            return run_step(x_t, st, p, None, th)  # the feedback enters as x

        def body(carry: Any, inputs: Any) -> tuple[Any, Any]:
            lam, acc = carry
            st, d_s = inputs
            (s, _), vjp = jax.vjp(elementwise, x0, st, wide)
            if recurrent:
                du = vjp((jnp.zeros_like(s), lam))[0]
                d_s = d_s + (du @ W.T).astype(d_s.dtype)
            dx, d_st, dp = vjp((d_s.astype(s.dtype), lam))
            acc = {d: acc[d] + dp[d] for d in acc}
            out = (dx.astype(x_dtype), s if recurrent else None)
            return (d_st.astype(lam.dtype), acc), out

        acc0 = {d: jnp.zeros_like(w) for d, w in wide.items()}
        (lam0, acc), (d_x, spikes) = jax.lax.scan(
            body, (d_final, acc0), (trace, d_outs), reverse=True
        )
        d_params = {d: sum_to(acc[d], params[d]).astype(params[d].dtype) for d in acc}
        d_W = weight_gradient(spikes, d_x, W) if recurrent else None
        return d_x, lam0, d_params, d_W, jnp.zeros_like(th)

    kernel.defvjp(kernel_fwd, kernel_bwd)
    return kernel
