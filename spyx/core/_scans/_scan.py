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

from .._checks import Container, GraphContainer, SequenceLayer, is_stateful
from .._equations import clip01, li_step

__all__ = [
    "LeakyScanMethod",
    "leaky_combine",
    "leaky_scan",
    "psu_lif_sequence",
    "from_time_major",
    "initial_state_of",
    "state_dtype",
    "to_time_major",
    "time_scan",
]

State = TypeVar("State")
LeakyScanMethod = Literal["auto", "associative", "sequential"]


def time_scan(
    step: Callable[[Any, State], tuple[Any, State]],
    xs: Any,
    state: State,
    *,
    unroll: int | bool = 1,
    checkpoint: int | None = None,
) -> tuple[Any, State]:
    """Apply ``step(x_t, state) -> (out_t, state)`` along axis 0 of `xs`.

    Args:
        step: one time step; its new state must match `state` in structure,
            shape and dtype.
        xs: a pytree of time-major arrays ``[T, ...]``.
        state: the state before the first step.
        unroll: time steps per loop iteration (see `jax.lax.scan`).
        checkpoint: if given, memory-bounded backpropagation through time:
            the steps are grouped in blocks of this many, and each block is
            rematerialised on the backward pass (`jax.checkpoint`), so only the
            state at block boundaries is stored, not every step's intermediates.
            Costs about one extra forward pass. A last partial block is allowed.

    Returns:
        ``(outs, final_state)`` with `outs` stacked on axis 0.

    Example: ``outs, final = time_scan(layer, xs, layer.initial_state(B))``.
    """

    def body(carry: State, x_t: Any) -> tuple[State, Any]:
        out, new = step(x_t, carry)
        return new, out

    if checkpoint is None:
        final, outs = jax.lax.scan(body, state, xs, unroll=unroll)
        return outs, final
    if (
        isinstance(checkpoint, bool)
        or not isinstance(checkpoint, int)
        or checkpoint < 1
    ):
        raise ValueError(
            f"time_scan: `checkpoint` must be a positive number of steps, got "
            f"{checkpoint!r}."
        )
    T = jax.tree.leaves(xs)[0].shape[0]
    k = min(checkpoint, T)
    n_blocks, rest = divmod(T, k)

    @jax.checkpoint
    def block(carry: State, xs_block: Any) -> tuple[State, Any]:
        return jax.lax.scan(body, carry, xs_block, unroll=unroll)

    head = jax.tree.map(
        lambda a: a[: n_blocks * k].reshape(n_blocks, k, *a.shape[1:]), xs
    )
    state, outs = jax.lax.scan(block, state, head)
    outs = jax.tree.map(lambda a: a.reshape(n_blocks * k, *a.shape[2:]), outs)
    if rest:
        tail = jax.tree.map(lambda a: a[n_blocks * k :], xs)
        state, tail_outs = block(state, tail)
        outs = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), outs, tail_outs)
    return outs, state


def states_over_time(
    model: Callable[[Any, Any], tuple[Any, Any]], xs: Any, state: Any
) -> tuple[Any, Any]:
    """Step `model` over `xs` and keep every step's state, not only the last.

    Returns:
        ``(outputs, states)``, both time-major: each leaf of
            `states` is the state after the step, with a leading time axis, in the
            structure of `state` (``None`` entries of stateless layers stay ``None``).

    Example: ``outs, states = states_over_time(model, xs, model.initial_state(B))``.
    """

    def step(x_t: Any, s: Any) -> tuple[Any, Any]:
        out, new = model(x_t, s)
        return (out, new), new

    return time_scan(step, xs, state)[0]


def leaky_combine(
    left: tuple[Array, Array], right: tuple[Array, Array]
) -> tuple[Array, Array]:
    """The associative combine of the leaky scan.

    Compose two affine maps ``v -> a v + u``, first `left` then `right`:
    the associative combine of `leaky_scan` (``jax.lax.associative_scan``).

    Example: ``leaky_combine((0.5, 1.0), (0.5, 2.0))`` is ``(0.25, 2.5)``.
    """
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
    unroll: int | bool = 1,
) -> Array:
    """The membrane trace of a reset-free leaky integrator over time.

    ``V_t = b V_{t-1} + x_t`` with ``V_{-1} = 0`` and ``b = clip(beta, 0, 1)``.

    Args:
        x: time-major input ``[T, *batch, *hidden]``.
        beta: decay, a scalar or an array broadcastable to ``x.shape[1:]``.
        method: ``"associative"`` uses `jax.lax.associative_scan`
            (``O(log T)`` depth, ``O(T log T)`` work), ``"sequential"`` a
            `jax.lax.scan` (``O(T)`` depth and work), ``"auto"`` picks the faster
            for the default backend (sequential on CPU, associative elsewhere).
            All give the same trace to float tolerance.
        unroll: time steps per loop iteration of the sequential scan. It has
            no loop to unroll in the associative scan: ``"auto"`` then picks
            the sequential scan, and ``"associative"`` refuses it.

    Returns:
        ``V`` with the shape and dtype of `x`.

    Example: ``leaky_scan(jnp.ones((4, 1)), 0.5)[:, 0]`` is ``[1, 1.5, 1.75, 1.875]``.
    """
    x = jnp.asarray(x)
    b = clip01(beta).astype(x.dtype)
    unrolled = unroll is not True and unroll != 1
    if method == "auto":
        method = "sequential" if unrolled else _default_method()
    if method == "associative":
        if unrolled:
            raise ValueError(
                f"leaky_scan: `unroll` ({unroll!r}) has no effect on the "
                f"associative scan, which has no loop; use method='sequential' or "
                f"leave `unroll` at 1."
            )
        a = jnp.broadcast_to(b, x.shape)
        _, V = jax.lax.associative_scan(leaky_combine, (a, x), axis=0)
        return V
    if method == "sequential":
        V0 = jnp.zeros(jnp.broadcast_shapes(x.shape[1:], b.shape), x.dtype)
        V, _ = time_scan(lambda x_t, v: li_step(x_t, v, beta=b), x, V0, unroll=unroll)
        return V
    raise ValueError(
        f"leaky_scan: `method` must be 'auto', 'associative' or 'sequential', "
        f"got {method!r}."
    )


def psu_lif_sequence(
    x: Array,
    V0: Array | None,
    *,
    beta: ArrayLike,
    threshold: ArrayLike,
    spike: Callable[[Array], Array],
    method: LeakyScanMethod = "auto",
    unroll: int | bool = 1,
) -> tuple[Array, Array]:
    """A whole sequence of the reset-free `psu_lif_step`, via `leaky_scan`.

    ``V_t = b V_{t-1} + x_t`` from ``V_{-1} = V0`` (zero when ``None``), and
    ``s_t = H(V_t - th)``. A non-zero start folds into the first input:
    ``x_0 + b V0``. The membrane is computed in `V0`'s dtype (float32, or
    wider if the data is, when `V0` is ``None``), the spikes are returned in
    `x`'s. `method` and `unroll` are `leaky_scan`'s.

    Returns:
        ``(spikes [T, ...], V_{T-1})``.

    Example:

    ```python
    x = jnp.ones((100, 4, 16))  # [T, B, H]; None: start from V = 0
    spike = spyx.axn.superspike()
    spikes, V_T = psu_lif_sequence(x, None, beta=0.9, threshold=1.0, spike=spike)
    ```
    """
    dtype = state_dtype(x.dtype) if V0 is None else V0.dtype
    u = x.astype(dtype)
    if V0 is not None:
        u = u.at[0].add((clip01(beta) * V0).astype(dtype))
    V = leaky_scan(u, beta, method=method, unroll=unroll)
    return spike(V - threshold).astype(x.dtype), V[-1]


def to_time_major(layer: str, x: Any, batch_major: bool) -> Any:
    """``[Batch, Time, ...] -> [Time, Batch, ...]`` when `batch_major`.

    Example: ``to_time_major("run", jnp.ones((8, 100, 3)), True).shape`` is
    ``(100, 8, 3)``.
    """
    if not batch_major:
        return x
    if getattr(x, "ndim", 0) < 2:
        raise ValueError(
            f"{layer}: with batch_major=True, `x` must have shape "
            f"[Batch, Time, ...], got {tuple(getattr(x, 'shape', ()))}."
        )
    return jnp.swapaxes(x, 0, 1)


def from_time_major(outputs: Any, batch_major: bool) -> Any:
    """The inverse of `to_time_major` on every array of `outputs`."""
    if not batch_major:
        return outputs
    return jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), outputs)


def state_dtype(data_dtype: Any) -> Any:
    """The dtype of a neuron state built for data of a dtype.

    The dtype of a neuron state built for data of `data_dtype`: float32,
    or the data's dtype if it is wider (float64 under x64). bfloat16 and
    float16 data keep a float32 state, so that small inputs are not lost
    when added to a large membrane.

    Example: ``state_dtype(jnp.bfloat16)`` is ``float32``.
    """
    return jnp.promote_types(data_dtype, jnp.float32)


def scan_layer(
    layer: Any,
    xs: Any,
    state: Any,
    *,
    keys: Any = None,
    unroll: int | bool = 1,
    checkpoint: int | None = None,
) -> tuple[Any, Any]:
    """A stateful layer over a whole time-major sequence.

    Its ``run_sequence`` (a neuron's sequence kernel) where it has one and
    no `checkpoint` is asked, else `time_scan` of its step; with per-step
    `keys` ``[T, ...]``, the step is called as ``layer(x_t, state,
    key=k_t)``. Returns ``(outs, final_state)``."""
    if keys is not None:
        return time_scan(
            lambda xk, s: layer(xk[0], s, key=xk[1]),
            (xs, keys),
            state,
            unroll=unroll,
            checkpoint=checkpoint,
        )
    if checkpoint is None and isinstance(layer, SequenceLayer):
        return layer.run_sequence(xs, state, unroll=unroll)
    return time_scan(layer, xs, state, unroll=unroll, checkpoint=checkpoint)


def initial_state_of(layer: Any, batch_size: int | None, dtype: Any = None) -> Any:
    """A layer's zero state inside a chain.

    A layer's zero state inside a chain: ``None`` for a stateless layer,
    else ``layer.initial_state(batch_size)``, passing `dtype` to neurons and
    chains (an activity count keeps its own dtype, so that long counts stay
    exact).

    Example: ``[initial_state_of(l, 4) for l in model.layers]``.
    """
    if not is_stateful(layer):
        return None
    if dtype is not None and _takes_dtype(layer):
        return layer.initial_state(batch_size, dtype)
    return layer.initial_state(batch_size)


def _takes_dtype(layer: Any) -> bool:
    # neurons (whole-sequence layers) and chains build their state in the
    # data's dtype; other stateful layers keep their own.
    return isinstance(layer, SequenceLayer | Container | GraphContainer)
