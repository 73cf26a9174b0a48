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

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

__all__ = [
    "SpikeFn",
    "SpikeFunction",
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
    """The Heaviside step in the input's dtype, NaN where it is not finite.

    The Heaviside step ``1 if x > 0 else 0``, in ``x``'s dtype; NaN where
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


def _identity(x: Array) -> Array:
    return x


@dataclass(frozen=True, repr=False)
class SpikeFunction:
    """A spike function: a forward step and a surrogate derivative.

    A spike function: `forward` on the way forward, ``incoming *
    surrogate(x)`` on the way back.

    Every factory in `spyx.axn` returns one. Because the backward pass is a
    surrogate *derivative* $g(x)$ times the incoming gradient, it is linear
    in that gradient, which the neurons' whole-sequence kernels rely on
    (`derivative` gives $g$ to them directly). A spike function that is not a
    `SpikeFunction` (any other callable) still works everywhere: the kernels
    then scan the neuron's step and let autodiff differentiate it.

    Two spike functions built with the same factory and arguments are equal
    (so a compiled function is reused, and a checkpoint can tell them
    apart); ``repr`` shows them as they were built: ``superspike(k=25.0)``.

    Attributes:
        name: the factory's name.
        surrogate: ``g(x, **params)``, elementwise.
        params: the factory's arguments, ``(("k", 25.0),)``.
        forward: ``x -> spikes``; default `heaviside`.
    """

    name: str
    surrogate: Callable[..., Array]
    params: tuple[tuple[str, float], ...] = ()
    forward: Callable[[Array], Array] = heaviside

    def __call__(self, x: ArrayLike) -> Array:
        """The spikes of `x` (integer or boolean input is cast to float32)."""
        x = jnp.asarray(x)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.float32)
        return _spike(self, x)

    def derivative(self, x: Array) -> Array:
        """The surrogate derivative $g(x)$, elementwise, in `x`'s dtype."""
        g = self.surrogate(x, **dict(self.params))
        return jnp.broadcast_to(jnp.asarray(g), jnp.shape(x)).astype(x.dtype)

    def __repr__(self) -> str:
        args = [f"{k}={v!r}" for k, v in self.params]
        if self.surrogate is not _identity and self.name == "custom":
            args.append(f"bwd={_name(self.surrogate)}")
        if self.forward is not heaviside:
            args.append(f"fwd={_name(self.forward)}")
        return f"{self.name}({', '.join(args)})"

    @property
    def __name__(self) -> str:  # functions' attribute, for messages
        return self.name


def _name(fn: Callable) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _spike(fn: SpikeFunction, x: Array) -> Array:
    return fn.forward(x)


def _spike_fwd(fn: SpikeFunction, x: Array) -> tuple[Array, Array]:
    return fn.forward(x), x


def _spike_bwd(fn: SpikeFunction, x: Array, ct: Array) -> tuple[Array]:
    return ((ct * fn.derivative(x)).astype(x.dtype),)


_spike.defvjp(_spike_fwd, _spike_bwd)


def _factory(
    name: str, surrogate: Callable[..., Array], **params: float
) -> SpikeFunction:
    for key, value in params.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise TypeError(
                    f"spyx.axn.{name}: `{key}` must be a number, got {value!r}."
                ) from None
        if not math.isfinite(value):
            raise ValueError(f"spyx.axn.{name}: `{key}` must be finite, got {value}.")
        params[key] = float(value)
    return SpikeFunction(name, surrogate, tuple(params.items()))


# The surrogate derivatives g(x, **params), one per factory below.


def _superspike(x: Array, k: float) -> Array:
    return 1.0 / (1.0 + k * jnp.abs(x)) ** 2


def _arctan(x: Array, k: float) -> Array:
    return 1.0 / (math.pi * (1.0 + (k * math.pi * x) ** 2))


def _tanh(x: Array, k: float) -> Array:
    return 4.0 / (jnp.exp(-k * x) + jnp.exp(k * x)) ** 2


def _boxcar(x: Array, width: float, height: float) -> Array:
    return jnp.where(jnp.abs(x) < width / 2, height, 0.0)


def _triangular(x: Array, k: float) -> Array:
    return jnp.maximum(0.0, 1.0 - jnp.abs(k * x))


def custom(
    bwd: Callable[[Array], Array] = _identity,
    fwd: Callable[[Array], Array] = heaviside,
) -> SpikeFunction:
    """A spike function from a user-chosen forward pass and surrogate.

    As in spyx 1.0, `bwd` is the surrogate derivative $g(x)$: the backward
    pass multiplies the incoming gradient by ``bwd(x)``. The default is 1.0's
    too, the identity, $g(x) = x$. For the straight-through estimator
    ($g = 1$) pass ``bwd=jnp.ones_like``.

    Args:
        bwd: ``x -> g(x)``, elementwise (the value of the surrogate derivative
            at the spike function's argument). Default: the identity.
        fwd: ``x -> spikes``. Default: `heaviside`.

    Returns:
        a `SpikeFunction`.

    Example: ``custom(bwd=lambda x: jnp.exp(-x**2))`` is a Gaussian surrogate.
    """
    return SpikeFunction("custom", bwd, (), fwd)


def superspike(k: float = 25.0) -> SpikeFunction:
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
    return _factory("superspike", _superspike, k=k)


def arctan(k: float = 2.0) -> SpikeFunction:
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
    return _factory("arctan", _arctan, k=k)


def tanh(k: float = 1.0) -> SpikeFunction:
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
    return _factory("tanh", _tanh, k=k)


def boxcar(width: float = 2.0, height: float = 0.5) -> SpikeFunction:
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
    return _factory("boxcar", _boxcar, width=width, height=height)


def triangular(k: float = 2.0) -> SpikeFunction:
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
    return _factory("triangular", _triangular, k=k)
