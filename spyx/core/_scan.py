"""The time scans: the sequential one behind every ``run``, and the leaky
associative scan behind ``PSU_LIF.parallel``.

Data is time-major: a sequence is ``[Time, *batch, *features]``.
"""

from collections.abc import Callable
from typing import Any, Literal, TypeVar

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from ._neurons import clip01, li_step

__all__ = ["LeakyScanMethod", "leaky_scan", "time_scan"]

State = TypeVar("State")
LeakyScanMethod = Literal["auto", "associative", "sequential"]


def time_scan(
    step: Callable[[Any, State], tuple[Any, State]],
    xs: Any,
    state: State,
    *,
    unroll: int | bool = 1,
) -> tuple[Any, State]:
    """Apply ``step(x_t, state) -> (out_t, state)`` along axis 0 of `xs`.

    **Arguments:**

    - `step`: one time step; its new state must match `state` in structure,
      shape and dtype.
    - `xs`: a pytree of time-major arrays ``[T, ...]``.
    - `state`: the state before the first step.
    - `unroll`: time steps per loop iteration (see `jax.lax.scan`).

    **Returns:** ``(outs, final_state)`` with `outs` stacked on axis 0.
    """

    def body(carry: State, x_t: Any) -> tuple[State, Any]:
        out, new = step(x_t, carry)
        return new, out

    final, outs = jax.lax.scan(body, state, xs, unroll=unroll)
    return outs, final


def _leaky_combine(
    left: tuple[Array, Array], right: tuple[Array, Array]
) -> tuple[Array, Array]:
    # Compose two affine maps v -> a v + u: first `left`, then `right`.
    a_l, u_l = left
    a_r, u_r = right
    return a_l * a_r, a_r * u_l + u_r


def _default_method() -> Literal["associative", "sequential"]:
    # On a CPU the O(T log T) work of the associative scan outweighs its
    # O(log T) depth; accelerators have the parallel width to profit.
    return "sequential" if jax.default_backend() == "cpu" else "associative"


def leaky_scan(
    x: ArrayLike,
    beta: ArrayLike,
    *,
    method: LeakyScanMethod = "auto",
) -> Array:
    """The membrane trace of a reset-free leaky integrator over time.

    ``V_t = b V_{t-1} + x_t`` with ``V_{-1} = 0`` and ``b = clip(beta, 0, 1)``.

    **Arguments:**

    - `x`: time-major input ``[T, *batch, *hidden]``.
    - `beta`: decay, a scalar or an array broadcastable to ``x.shape[1:]``.
    - `method`: ``"associative"`` uses `jax.lax.associative_scan`
      (``O(log T)`` depth, ``O(T log T)`` work), ``"sequential"`` a
      `jax.lax.scan` (``O(T)`` depth and work), ``"auto"`` picks the faster
      for the default backend (sequential on CPU, associative elsewhere).
      All give the same trace to float tolerance.

    **Returns:** ``V`` with the shape and dtype of `x`.
    """
    x = jnp.asarray(x)
    b = clip01(beta).astype(x.dtype)
    if method == "auto":
        method = _default_method()
    if method == "associative":
        a = jnp.broadcast_to(b, x.shape)
        _, V = jax.lax.associative_scan(_leaky_combine, (a, x), axis=0)
        return V
    if method == "sequential":
        V0 = jnp.zeros(jnp.broadcast_shapes(x.shape[1:], b.shape), x.dtype)
        V, _ = time_scan(lambda x_t, v: li_step(x_t, v, beta=b), x, V0)
        return V
    raise ValueError(
        f"leaky_scan: `method` must be 'auto', 'associative' or 'sequential', "
        f"got {method!r}."
    )
