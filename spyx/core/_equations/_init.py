"""Parameter initialisation shared by both front ends (one place for defaults)."""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from .._checks import Shape

__all__ = [
    "beta_from_snntorch",
    "decay_init",
    "decay_value",
    "recurrent_init",
    "snntorch_beta_from_beta",
]


def decay_init(key: Array, shape: Shape, dtype: Any = jnp.float32) -> Array:
    """A random per-unit decay in [0, 1].

    Per-unit decay: a normal with mean 0.5 and standard deviation 0.25,
    truncated at two standard deviations, so every value lies in ``[0, 1]``.

    Example:

    ```python
    beta = decay_init(jax.random.key(0), (128,))  # values in [0, 1]
    ```
    """
    return 0.5 + 0.25 * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)


def recurrent_init(key: Array, hidden_shape: Shape, dtype: Any = jnp.float32) -> Array:
    """Random recurrent weights.

    Recurrent weights ``W`` of shape ``hidden_shape + hidden_shape``: a
    normal with standard deviation 0.01, truncated at two standard deviations.

    Example:

    ```python
    W = recurrent_init(jax.random.key(0), (128,))  # (128, 128)
    ```
    """
    shape = (*hidden_shape, *hidden_shape)
    return 0.01 * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)


def decay_value(
    layer: str, name: str, value: Any, hidden_shape: Shape, dtype: Any = jnp.float32
) -> Array:
    """A decay given by the user, checked.

    A user-given decay: a number becomes a scalar ``()``, an array must be
    ``()`` or `hidden_shape`; every value finite and in ``[0, 1]``.

    Example:

    ```python
    decay_value("LIF", "beta", 0.9, (128,))  # Array(0.9), shape ()
    ```
    """
    if isinstance(value, bool):
        raise TypeError(
            f"{layer}: `{name}` must be a number or an array, got {value!r}."
        )
    arr = jnp.asarray(value, dtype=dtype)
    if arr.shape not in ((), hidden_shape):
        raise ValueError(
            f"{layer}: `{name}` must be a number or an array of shape "
            f"{hidden_shape} (one per unit), got shape {arr.shape}."
        )
    values = np.asarray(arr)
    if not bool(np.all(np.isfinite(values))):
        raise ValueError(f"{layer}: `{name}` must be finite, got {value!r}.")
    if not bool(np.all((values >= 0) & (values <= 1))):
        got = (
            repr(float(values))
            if values.ndim == 0
            else f"values from {values.min()} to {values.max()}"
        )
        raise ValueError(
            f"{layer}: `{name}` must lie in [0, 1] (the fraction kept per step), "
            f"got {got}. (A learnable decay that drifts outside during training is "
            f"clipped in the step.)"
        )
    return arr


def beta_from_snntorch(beta_snn: Any) -> Array:
    r"""The decay that reproduces snnTorch's StateLeaky.

    The per-step decay that reproduces snnTorch's `StateLeaky` with its
    ``beta``.

    `StateLeaky` reads its ``beta`` as a time constant $\tau = 1 / (1 -
    \beta_\text{snn})$ and decays by $e^{-1/\tau}$ per step, so the decay
    that gives its membrane trace is $\beta = e^{-(1 - \beta_\text{snn})}$
    (0.9048 for ``beta_snn = 0.9``).

    Example: ``beta_from_snntorch(0.9)`` is ``exp(-0.1)``.
    """
    return jnp.exp(jnp.asarray(beta_snn, jnp.float32) - 1.0)


def snntorch_beta_from_beta(beta: Any) -> Array:
    r"""The inverse of `beta_from_snntorch`: $\beta_\text{snn} = 1 + \ln \beta$.

    Example: ``snntorch_beta_from_beta(beta_from_snntorch(0.9))`` is 0.9.
    """
    return 1.0 + jnp.log(jnp.asarray(beta, jnp.float32))
