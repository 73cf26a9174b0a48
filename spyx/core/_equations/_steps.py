"""One pure step function per neuron: the single home of the equations.

Every step has the form ``step(x, state, *, params...) -> (out, new_state)``
where ``x`` has shape ``(*batch, *hidden_shape)`` and ``new_state`` has the
structure, shape and dtype of ``state``, so it can be carried through
``jax.lax.scan``. Any number of leading batch axes works (none included).

Notation: ``H`` is the spike function (Heaviside forward, surrogate
backward), ``th`` the threshold, and ``b = clip(beta, 0, 1)``,
``a = clip(alpha, 0, 1)``, ``g = clip(gamma, 0, 1)``: decay parameters are
clipped here, where they are used, never where they are stored.

Precision: the state keeps its own dtype (float32 by default, also under
bfloat16 or float16 data, so a long integration does not lose the input);
the output has the input's dtype (spikes are exact in any float type).

The spike is taken from the membrane *before* the update (except
`psu_lif_step`). Every spiking step but `psu_lif_step` takes ``reset``:
``"subtract"`` (default) removes ``s th`` from the membrane, ``"zero"``
clears a membrane that fired before it leaks, ``"none"`` has no reset term
(see `ResetMode`; a `ResetMode` object is accepted too).
"""

from collections.abc import Callable

import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from .._checks import join_halves, split_halves
from ._resets import Reset, ResetMode, reset_mode

__all__ = [
    "alif_step",
    "clip01",
    "cuba_lif_step",
    "if_step",
    "li_step",
    "lif_step",
    "psu_lif_step",
    "rcuba_lif_step",
    "rif_step",
    "rlif_step",
]

SpikeFn = Callable[[Array], Array]


def clip01(p: ArrayLike) -> Array:
    """Clip a decay parameter to ``[0, 1]``.

    Example:

    ```python
    clip01(jnp.array([-0.2, 0.5, 1.3]))  # [0., 0.5, 1.]
    ```
    """
    return jnp.clip(p, 0.0, 1.0)


def _feedback(s: Array, weights: Array | None) -> Array | float:
    return 0.0 if weights is None else s @ weights


def lif_step(
    x: Array,
    V: Array,
    *,
    beta: ArrayLike,
    threshold: ArrayLike,
    spike: SpikeFn,
    weights: Array | None = None,
    reset: Reset | ResetMode = "subtract",
) -> tuple[Array, Array]:
    """Leaky integrate-and-fire, optionally with recurrent weights.

    ``s = H(V - th)``;  ``V' = b V + x + s @ W - s th``;  out ``s``
    (``reset="subtract"``); ``V' = b (1 - s) V + x + s @ W`` (``"zero"``);
    ``V' = b V + x + s @ W`` (``"none"``).

    ``W`` is `weights` (shape ``(H, H)``); with ``weights=None`` the feedback
    term is absent.

    Example: ``s, V = lif_step(x, V, beta=0.9, threshold=1.0, spike=superspike())``.
    """
    r = reset_mode("lif_step", reset)
    s = spike(V - threshold)
    V_new = r(clip01(beta), V, s, threshold) + x + _feedback(s, weights)
    return s.astype(x.dtype), V_new.astype(V.dtype)


def if_step(
    x: Array,
    V: Array,
    *,
    threshold: ArrayLike,
    spike: SpikeFn,
    reset: Reset | ResetMode = "subtract",
) -> tuple[Array, Array]:
    """Integrate-and-fire: `lif_step` without leak.

    ``s = H(V - th)``;  ``V' = V + x - s th``;  out ``s`` (``"zero"``:
    ``V' = (1 - s) V + x``; ``"none"``: ``V' = V + x``).

    Example:

    ```python
    x, V = jnp.ones((4, 16)), jnp.zeros((4, 16))  # [B, H]
    s, V = if_step(x, V, threshold=1.0, spike=spyx.axn.superspike())
    ```
    """
    return lif_step(x, V, beta=1.0, threshold=threshold, spike=spike, reset=reset)


def rlif_step(
    x: Array,
    V: Array,
    *,
    beta: ArrayLike,
    weights: Array,
    threshold: ArrayLike,
    spike: SpikeFn,
    reset: Reset | ResetMode = "subtract",
) -> tuple[Array, Array]:
    """Recurrent leaky integrate-and-fire: one step.

    Recurrent LIF: ``s = H(V - th)``;  ``V' = b V + x + s @ W - s th``
    (other `reset` modes as in `lif_step`).

    Example:

    ```python
    x, V, W = jnp.ones((4, 16)), jnp.zeros((4, 16)), jnp.zeros((16, 16))
    spike = spyx.axn.superspike()
    s, V = rlif_step(x, V, beta=0.9, weights=W, threshold=1.0, spike=spike)
    ```
    """
    return lif_step(
        x, V, beta=beta, threshold=threshold, spike=spike, weights=weights, reset=reset
    )


def rif_step(
    x: Array,
    V: Array,
    *,
    weights: Array,
    threshold: ArrayLike,
    spike: SpikeFn,
    reset: Reset | ResetMode = "subtract",
) -> tuple[Array, Array]:
    """Recurrent integrate-and-fire: one step.

    Recurrent IF: ``s = H(V - th)``;  ``V' = V + x + s @ W - s th`` (other
    `reset` modes as in `if_step`).

    Example:

    ```python
    x, V, W = jnp.ones((4, 16)), jnp.zeros((4, 16)), jnp.zeros((16, 16))
    spike = spyx.axn.superspike()
    s, V = rif_step(x, V, weights=W, threshold=1.0, spike=spike)
    ```
    """
    return lif_step(
        x, V, beta=1.0, threshold=threshold, spike=spike, weights=weights, reset=reset
    )


def li_step(x: Array, V: Array, *, beta: ArrayLike) -> tuple[Array, Array]:
    """Leaky integrator (non-spiking readout): ``V' = b V + x``; out ``V'``.

    Example:

    ```python
    x, V = jnp.ones((4, 16)), jnp.zeros((4, 16))  # [B, H]
    out, V = li_step(x, V, beta=0.8)  # out is the new V
    ```
    """
    V_new = (clip01(beta) * V + x).astype(V.dtype)
    return V_new.astype(x.dtype), V_new


def alif_step(
    x: Array,
    VT: Array,
    *,
    beta: ArrayLike,
    gamma: ArrayLike,
    threshold: ArrayLike,
    spike: SpikeFn,
    reset: Reset | ResetMode = "subtract",
) -> tuple[Array, Array]:
    """Adaptive LIF (Bellec et al., 2018). State ``[V, T]`` on the last axis.

    ``th_t = th + T``;  ``s = H(V - th_t)``;  ``V' = b V + x - s th_t``;
    ``T' = g T + (1 - g) s``;  out ``s``. ``reset="zero"``:
    ``V' = b (1 - s) V + x``; ``"none"``: ``V' = b V + x`` (``T'`` as above).

    Example:

    ```python
    x, VT = jnp.ones((4, 16)), jnp.zeros((4, 32))  # VT: [V, T] on the last axis
    spike = spyx.axn.superspike()
    s, VT = alif_step(x, VT, beta=0.9, gamma=0.9, threshold=1.0, spike=spike)
    ```
    """
    r = reset_mode("alif_step", reset)
    V, T = split_halves(VT)
    g = clip01(gamma)
    th_t = threshold + T
    s = spike(V - th_t)
    V_new = r(clip01(beta), V, s, th_t) + x
    T_new = g * T + (1.0 - g) * s
    return s.astype(x.dtype), join_halves(V_new, T_new).astype(VT.dtype)


def cuba_lif_step(
    x: Array,
    VI: Array,
    *,
    alpha: ArrayLike,
    beta: ArrayLike,
    threshold: ArrayLike,
    spike: SpikeFn,
    weights: Array | None = None,
    reset: Reset | ResetMode = "subtract",
) -> tuple[Array, Array]:
    """Current-based LIF, optionally recurrent. State ``[V, I]`` on the last axis.

    ``s = H(V - th)``;  ``I' = a I + x + s @ W``;  ``V' = b (V - s th) + I'``;
    out ``s``. The reset is applied once, before the leak. ``reset="zero"``:
    ``V' = b (1 - s) V + I'``; ``"none"``: ``V' = b V + I'``.

    Example:

    ```python
    x, VI = jnp.ones((4, 16)), jnp.zeros((4, 32))  # VI: [V, I] on the last axis
    spike = spyx.axn.superspike()
    s, VI = cuba_lif_step(x, VI, alpha=0.8, beta=0.9, threshold=1.0, spike=spike)
    ```
    """
    r = reset_mode("cuba_lif_step", reset)
    V, I = split_halves(VI)
    s = spike(V - threshold)
    I_new = clip01(alpha) * I + x + _feedback(s, weights)
    V_new = r(clip01(beta), V, s, threshold, leak_the_reset=True) + I_new
    return s.astype(x.dtype), join_halves(V_new, I_new).astype(VI.dtype)


def rcuba_lif_step(
    x: Array,
    VI: Array,
    *,
    alpha: ArrayLike,
    beta: ArrayLike,
    weights: Array,
    threshold: ArrayLike,
    spike: SpikeFn,
    reset: Reset | ResetMode = "subtract",
) -> tuple[Array, Array]:
    """Recurrent current-based LIF: `cuba_lif_step` with ``s @ W`` into ``I``.

    Example:

    ```python
    x, VI, W = jnp.ones((4, 16)), jnp.zeros((4, 32)), jnp.zeros((16, 16))
    s, VI = rcuba_lif_step(
        x, VI, alpha=0.8, beta=0.9, weights=W, threshold=1.0,
        spike=spyx.axn.superspike(),
    )
    ```
    """
    return cuba_lif_step(
        x,
        VI,
        alpha=alpha,
        beta=beta,
        threshold=threshold,
        spike=spike,
        weights=weights,
        reset=reset,
    )


def psu_lif_step(
    x: Array,
    V: Array,
    *,
    beta: ArrayLike,
    threshold: ArrayLike,
    spike: SpikeFn,
) -> tuple[Array, Array]:
    """Reset-free parallel-spiking LIF: spike on the *updated* membrane.

    ``V' = b V + x``;  ``s = H(V' - th)``;  out ``s``.

    Example:

    ```python
    x, V = jnp.ones((4, 16)), jnp.zeros((4, 16))  # [B, H]
    spike = spyx.axn.superspike()
    s, V = psu_lif_step(x, V, beta=0.9, threshold=1.0, spike=spike)
    ```
    """
    V_new = (clip01(beta) * V + x).astype(V.dtype)
    return spike(V_new - threshold).astype(x.dtype), V_new
