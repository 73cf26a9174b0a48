"""Parameter initialisation shared by both front ends (one place for defaults)."""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from ._shapes import Shape

__all__ = ["decay_init", "decay_value", "recurrent_init"]


def decay_init(key: Array, shape: Shape, dtype: Any = jnp.float32) -> Array:
    """Per-unit decay: a normal with mean 0.5 and standard deviation 0.25,
    truncated at two standard deviations, so every value lies in ``[0, 1]``.

    Example:

    ```python
    beta = decay_init(jax.random.key(0), (128,))  # values in [0, 1]
    ```
    """
    return 0.5 + 0.25 * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)


def recurrent_init(key: Array, hidden_shape: Shape, dtype: Any = jnp.float32) -> Array:
    """Recurrent weights ``W`` of shape ``hidden_shape + hidden_shape``: a
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
    """A user-given decay: a number becomes a scalar ``()``, an array must be
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
