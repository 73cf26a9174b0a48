r"""Surrogate-gradient spike functions.

Every factory returns a function ``x -> spikes``. Its forward pass is a step
function (by default the Heaviside step ``1 if x > 0 else 0``, in ``x``'s
dtype); its backward pass replaces the step's zero-almost-everywhere
derivative with a smooth surrogate $g(x)$, so that

$$
\frac{\partial \, \text{spikes}}{\partial x} := g(x).
$$

The neurons call the spike function on ``V - threshold``. All functions here
are elementwise and work under ``jit``, ``vmap`` and ``grad``.

References: Zenke & Ganguli, "SuperSpike" (Neural Computation, 2018);
Neftci, Mostafa & Zenke, "Surrogate gradient learning in spiking neural
networks" (IEEE Signal Processing Magazine, 2019).
"""

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

__all__ = [
    "SpikeFn",
    "arctan",
    "boxcar",
    "custom",
    "heaviside",
    "superspike",
    "tanh",
    "triangular",
]

SpikeFn = Callable[[Array], Array]
"""A spike function: ``x -> spikes`` with a surrogate backward pass."""


def heaviside(x: ArrayLike) -> Array:
    """The Heaviside step ``1 if x > 0 else 0``, in ``x``'s dtype; NaN where
    `x` is NaN or infinite.

    A membrane that became NaN or infinite (NaN or inf in the data, an
    overflow) thus spreads NaN through the spikes and every later layer,
    instead of looking like a neuron that fired or stayed silent.

    Args:
        x: any array.

    Returns:
        an array of zeros and ones (and NaNs where `x` is not
        finite) with the shape and dtype of `x` (integer or boolean inputs give
        float32).

    Example: ``heaviside(jnp.array([-1.0, 0.0, 2.0, jnp.inf]))`` is
    ``[0., 0., 1., nan]``.
    """
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        return (x > 0).astype(jnp.float32)
    return jnp.where(jnp.isfinite(x), (x > 0).astype(x.dtype), jnp.nan)


def _spike_fn(
    fwd: Callable[[Array], Array],
    bwd: Callable[[Array, Array], Array],
    name: str,
) -> SpikeFn:
    """Build ``fwd`` with the custom vector-Jacobian product ``bwd(x, g)``."""

    @jax.custom_vjp
    def spike(x: Array) -> Array:
        return fwd(x)

    def spike_fwd(x: Array) -> tuple[Array, Array]:
        return fwd(x), x

    def spike_bwd(x: Array, g: Array) -> tuple[Array]:
        return (bwd(x, g).astype(x.dtype),)

    spike.defvjp(spike_fwd, spike_bwd)

    def spike_checked(x: ArrayLike) -> Array:
        x = jnp.asarray(x)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.float32)
        return spike(x)

    spike_checked.__name__ = name
    spike_checked.__qualname__ = name
    return spike_checked


def _surrogate(g: Callable[[Array], Array], name: str) -> SpikeFn:
    """Heaviside forward, ``incoming * g(x)`` backward."""
    return _spike_fn(heaviside, lambda x, ct: ct * g(x), name)


def custom(
    bwd: Callable[[Array], Array] | None = None,
    fwd: Callable[[Array], Array] = heaviside,
) -> SpikeFn:
    """A spike function from a user-chosen forward and backward pass.

    `bwd` maps the gradient arriving at the spikes to the gradient passed on
    to `x`. The default, the identity, is the straight-through estimator:
    ``d spikes / d x := 1``.

    Args:
        bwd: ``incoming_gradient -> gradient_wrt_x``, elementwise. Default:
            identity (straight-through).
        fwd: ``x -> spikes``. Default: `heaviside`.

    Returns:
        a spike function.

    Example: ``custom(bwd=lambda g: 0.5 * g)`` halves every gradient.
    """
    backward = (lambda g: g) if bwd is None else bwd
    return _spike_fn(fwd, lambda x, ct: backward(ct), "custom")


def superspike(k: float = 25.0) -> SpikeFn:
    r"""SuperSpike surrogate (Zenke & Ganguli, 2018): the fast sigmoid's slope.

    $g(x) = \dfrac{1}{(1 + k \lvert x \rvert)^2}$

    Args:
        k: sharpness; larger `k` concentrates the gradient near threshold.

    Example:

    ```python
    spike = spyx.axn.superspike(k=25.0)
    spike(jnp.array([-0.5, 0.5]))                   # [0., 1.]
    jax.grad(lambda x: spike(x).sum())(jnp.zeros(1))  # the surrogate at 0
    layer = spyx.nn.LIF((16,), activation=spike, rngs=nnx.Rngs(0))
    ```
    """
    return _surrogate(lambda x: 1.0 / (1.0 + k * jnp.abs(x)) ** 2, "superspike")


def arctan(k: float = 2.0) -> SpikeFn:
    r"""Arctangent surrogate: the derivative of ``arctan(k pi x) / pi``, up to k.

    $g(x) = \dfrac{1}{\pi \bigl(1 + (k \pi x)^2\bigr)}$

    Args:
        k: sharpness.

    Example:

    ```python
    spike = spyx.axn.arctan(k=2.0)
    spike(jnp.array([-0.5, 0.5]))                   # [0., 1.]
    jax.grad(lambda x: spike(x).sum())(jnp.zeros(1))  # the surrogate at 0
    layer = spyx.nn.LIF((16,), activation=spike, rngs=nnx.Rngs(0))
    ```
    """
    return _surrogate(
        lambda x: 1.0 / (math.pi * (1.0 + (k * math.pi * x) ** 2)), "arctan"
    )


def tanh(k: float = 1.0) -> SpikeFn:
    r"""Hyperbolic-tangent surrogate: the derivative of ``tanh(k x)`` over k.

    $g(x) = \dfrac{4}{(e^{-kx} + e^{kx})^2} = \operatorname{sech}^2(kx)$

    Args:
        k: sharpness.

    Example:

    ```python
    spike = spyx.axn.tanh(k=1.0)
    spike(jnp.array([-0.5, 0.5]))                   # [0., 1.]
    jax.grad(lambda x: spike(x).sum())(jnp.zeros(1))  # the surrogate at 0
    layer = spyx.nn.LIF((16,), activation=spike, rngs=nnx.Rngs(0))
    ```
    """
    return _surrogate(lambda x: 4.0 / (jnp.exp(-k * x) + jnp.exp(k * x)) ** 2, "tanh")


def boxcar(width: float = 2.0, height: float = 0.5) -> SpikeFn:
    r"""Rectangular surrogate: a constant gradient in a window around threshold.

    $g(x) = h$ for $\lvert x \rvert < w / 2$, else $0$ (width $w$, height $h$)

    Args:
        width: width of the window, centred on 0.
        height: gradient inside the window.

    Example:

    ```python
    spike = spyx.axn.boxcar(width=2.0, height=0.5)
    spike(jnp.array([-0.5, 0.5]))                   # [0., 1.]
    jax.grad(lambda x: spike(x).sum())(jnp.zeros(1))  # the surrogate at 0
    layer = spyx.nn.LIF((16,), activation=spike, rngs=nnx.Rngs(0))
    ```
    """
    return _surrogate(
        lambda x: jnp.where(jnp.abs(x) < width / 2, height, 0.0), "boxcar"
    )


def triangular(k: float = 2.0) -> SpikeFn:
    r"""Triangular surrogate (Esser et al., 2016; Bellec et al., 2018).

    $g(x) = \max(0,\ 1 - \lvert k x \rvert)$

    Args:
        k: inverse half-width of the triangle.

    Example:

    ```python
    spike = spyx.axn.triangular(k=2.0)
    spike(jnp.array([-0.5, 0.5]))                   # [0., 1.]
    jax.grad(lambda x: spike(x).sum())(jnp.zeros(1))  # the surrogate at 0
    layer = spyx.nn.LIF((16,), activation=spike, rngs=nnx.Rngs(0))
    ```
    """
    return _surrogate(lambda x: jnp.maximum(0.0, 1.0 - jnp.abs(k * x)), "triangular")
