"""A whole-sequence kernel with a hand-written backward pass for any neuron
step: `adjoint_sequence`.

Autodiff of a `jax.lax.scan` over a step keeps every intermediate array of
every step for the backward pass, and differentiates the recurrent product
``s @ W`` inside the loop (one ``[H, B] x [B, H]`` matmul per step for the
gradient of ``W``). The kernel keeps only the state before each step (and
the input, which the caller holds anyway), and its reverse scan recomputes
one step at a time to get that step's vector-Jacobian product, so its
gradients are autodiff's for any step and any spike function. Only what
truly depends on the next step stays in the loop: for a recurrent neuron,
the product ``du_t @ W.T`` that carries the gradient back through the
feedback. The gradient of ``W`` is one matmul over all ``T * batch`` rows
after the scan, ``dW = S^T dU``; the gradients of the decays are
accumulated per element and reduced over the batch once, at the end.

A recurrent step must take its feedback where it takes its input:
``step(x, state, weights=W)`` must equal ``step(x + out @ W, state,
weights=None)``, with ``out`` the step's own output (as in every built-in
recurrent neuron: ``V' = ... + x + s @ W``). The kernel checks this on a
small random probe when it is traced and refuses a step that fails it.
"""

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from ._kernel_parts import (
    accumulation_dtype,
    kernel_inputs,
    scan_states,
    sum_to,
    weight_gradient,
)

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
        recurrent: the step takes ``weights=W``; it must add ``out @ W``
            where it adds `x`, and accept ``weights=None`` (checked when the
            kernel is traced, see the module notes).

    Returns:
        ``sequence(x [T, ...], state, **step keywords, unroll=1) -> (outs
            [T, ...], final_state)``, equal to scanning `step` (values and
            gradients, to float rounding, whatever the step does with `x` and
            whatever the spike function's backward pass); the threshold gets no
            gradient.

    Raises:
        ValueError: (when traced) a recurrent step that does not take its
            feedback where it takes `x`.

    Example:

    ```python
    my_alif = adjoint_sequence(alif_step, ("beta", "gamma"), False)
    x, VT0 = jnp.ones((100, 4, 16)), jnp.zeros((4, 32))  # VT0: [V, T]
    spikes, VT = my_alif(
        x, VT0, beta=0.9, gamma=0.8, threshold=1.0, spike=spyx.axn.superspike()
    )
    ```
    """
    name = f"{step.__name__.removesuffix('_step')}_sequence"

    def sequence(
        x: Array,
        state: Array,
        *,
        threshold: Any,
        spike: Callable[[Array], Array],
        reset: str | None = None,
        weights: Array | None = None,
        unroll: int | bool = 1,
        **values: Any,
    ) -> tuple[Array, Array]:
        if sorted(values) != sorted(decays):
            raise TypeError(
                f"{name}: expected the decays {list(decays)}, got {sorted(values)}."
            )
        if recurrent and weights is None:
            raise TypeError(f"{name}: `weights` is required.")
        params, th = kernel_inputs(
            {d: values[d] for d in decays}, threshold, state.dtype
        )
        run_step = _stepper(step, spike, reset, recurrent)
        if recurrent:
            _check_feedback_enters_as_input(name, run_step, x, state, decays)
        kernel = _kernel(run_step, recurrent, unroll)
        return kernel(x, state, params, weights if recurrent else None, th)

    sequence.__name__ = sequence.__qualname__ = name
    return sequence


def _stepper(
    step: Callable[..., tuple[Array, Array]],
    spike: Callable[[Array], Array],
    reset: str | None,
    recurrent: bool,
) -> Callable[..., tuple[Array, Array]]:
    """``run_step(x_t, state, params, W, th)``: `step` with its keywords."""

    def run_step(
        x_t: Array, st: Array, params: Mapping[str, Array], W: Any, th: Array
    ) -> tuple[Array, Array]:
        kwargs: dict[str, Any] = dict(params, threshold=th, spike=spike)
        if reset is not None:  # steps without a reset mode take no `reset`
            kwargs["reset"] = reset
        if recurrent:
            kwargs["weights"] = W
        return step(x_t, st, **kwargs)

    return run_step


def _check_feedback_enters_as_input(
    name: str,
    run_step: Callable[..., tuple[Array, Array]],
    x: Array,
    state: Array,
    decays: tuple[str, ...],
) -> None:
    """Refuse a recurrent step whose feedback does not enter where `x` does:
    ``step(x, st, W)`` must equal ``step(x + out @ W, st, None)``. Checked on
    random values of one step's shapes (16 times as many rows, so that some
    units fire), with decays 0.5 and threshold 1."""
    rng = np.random.default_rng(0)
    n = x.shape[-1]
    with jax.ensure_compile_time_eval():
        x_t = jnp.asarray(rng.normal(0.5, 1.0, (16, *x.shape[1:])), jnp.float32)
        st = jnp.asarray(rng.uniform(-0.5, 2.5, (16, *state.shape)), jnp.float32)
        W = jnp.asarray(rng.normal(0.0, 1.0, (n, n)), jnp.float32)
        params = {d: jnp.float32(0.5) for d in decays}
        th = jnp.float32(1.0)
        out, new = run_step(x_t, st, params, W, th)
        try:
            out_in, new_in = run_step(x_t + out @ W, st, params, None, th)
        except Exception as err:
            raise TypeError(
                f"{name}: a recurrent step must accept weights=None (no feedback); "
                f"calling it so failed with {type(err).__name__}: {err}"
            ) from err
        same = np.allclose(out, out_in, rtol=1e-5, atol=1e-5) and np.allclose(
            new, new_in, rtol=1e-5, atol=1e-5
        )
    if not same:
        raise ValueError(
            f"{name}: the step does not take its feedback where it takes its input "
            f"(step(x, state, weights=W) differs from step(x + out @ W, state, "
            f"weights=None) on a random probe), so the kernel's backward pass would "
            f"be wrong. Scan the step instead (leave NeuronSpec.sequence as None)."
        )


def _kernel(
    run_step: Callable[..., tuple[Array, Array]],
    recurrent: bool,
    unroll: int | bool,
) -> Callable[..., tuple[Array, Array]]:
    """The custom-VJP function for one step (spike function and reset mode
    bound in `run_step`)."""

    def forward(
        x: Array, state: Array, params: Any, W: Any, th: Array, keep_trace: bool
    ) -> tuple:
        def step_t(x_t: Array, st: Array) -> tuple[Array, Array]:
            return run_step(x_t, st, params, W, th)

        def outs_of(trace: Array) -> Array:  # every step's output at once
            return jax.vmap(lambda x_t, st: step_t(x_t, st)[0])(x, trace)

        return scan_states(step_t, state, x, keep_trace, outs_of, unroll)

    @jax.custom_vjp
    def kernel(x: Array, state: Array, params: Any, W: Any, th: Array) -> tuple:
        outs, final, _ = forward(x, state, params, W, th, False)
        return outs, final

    def kernel_fwd(x: Array, state: Array, params: Any, W: Any, th: Array) -> tuple:
        (outs, final, trace) = forward(x, state, params, W, th, True)
        return (outs, final), (x, outs, trace, params, W, th)

    def kernel_bwd(res: Any, cts: Any) -> tuple:
        x, outs, trace, params, W, th = res
        d_outs, d_final = cts
        x_shape = x.shape[1:]
        # what each step adds to its state: the input, plus the feedback
        u = x if not recurrent else x + outs @ W
        # per-element decays, so that each step's gradient needs no reduction
        acc_dtype = accumulation_dtype(trace.dtype)
        wide = {d: jnp.broadcast_to(p, x_shape) for d, p in params.items()}

        def elementwise(u_t: Array, st: Array, p: Any) -> tuple[Array, Array]:
            return run_step(u_t, st, p, None, th)  # the feedback is in u_t

        def body(carry: Any, inputs: Any) -> tuple[Any, Any]:
            lam, acc = carry
            u_t, st, d_s = inputs
            (s, _), vjp = jax.vjp(elementwise, u_t, st, wide)
            if recurrent:
                du = vjp((jnp.zeros_like(s), lam))[0]
                d_s = d_s + (du @ W.T).astype(d_s.dtype)
            dx, d_st, dp = vjp((d_s.astype(s.dtype), lam))
            acc = {d: acc[d] + dp[d].astype(acc_dtype) for d in acc}
            return (d_st.astype(lam.dtype), acc), dx

        acc0 = {d: jnp.zeros(x_shape, acc_dtype) for d in wide}
        (lam0, acc), d_u = jax.lax.scan(
            body, (d_final, acc0), (u, trace, d_outs), reverse=True, unroll=unroll
        )
        d_params = {d: sum_to(acc[d], params[d]).astype(params[d].dtype) for d in acc}
        d_W = weight_gradient(outs, d_u, W) if recurrent else None
        return d_u.astype(x.dtype), lam0, d_params, d_W, jnp.zeros_like(th)

    kernel.defvjp(kernel_fwd, kernel_bwd)
    return kernel
