"""Encoders and augmentation for dense and spike data (pure JAX).

`rate_code` and `latency_code` take two forms: this library's
``rate_code(x, num_steps, key=...)`` (time-major spikes of `x`) and spyx
1.0's factories ``rate_code(num_steps, max_r)`` / ``latency_code(num_steps,
threshold)`` returning a jitted encoder. `angle_code`, `shift_augment` and
`shuffler` are spyx 1.0's, same signatures and semantics.
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

__all__ = [
    "angle_code",
    "check_count",
    "check_steps",
    "latency",
    "latency_code",
    "rate_code",
    "shift_augment",
    "shuffler",
]


def check_steps(name: str, num_steps: Any) -> int:
    """`num_steps` as a positive int, or a clear error naming `name`."""
    return check_count(name, "num_steps", num_steps)


def check_count(where: str, name: str, value: Any, minimum: int = 1) -> int:
    """A size or count as an int of at least `minimum`: a float such as
    ``12.5`` (or ``12.0``) is a `TypeError` naming `where` and `name`, never
    rounded into a different size."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{where}: `{name}` must be an int, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{where}: `{name}` must be >= {minimum}, got {value}.")
    return int(value)


def _is_count(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def rate_code(
    x: Any,
    num_steps: Any = None,
    *,
    key: Array | None = None,
    gain: float = 1.0,
    dtype: Any = jnp.float32,
) -> Any:
    """Bernoulli rate coding: each step fires with probability ``gain * x``.

    ``s[t, ...] ~ Bernoulli(clip(gain * x, 0, 1))``, independent over time.

    spyx 1.0's form, ``rate_code(num_steps, max_r=0.75)`` (an int first and
    no `key`), returns 1.0's jitted ``f(data, key)``: `data` repeated
    `num_steps` times along axis 1 (``[B, 1, C] -> [B, T, C]``, batch-major)
    and sampled with probability ``data * max_r``, as ``uint8``.

    Args:
        x: values in ``[0, 1]``, any shape (e.g. ``[B, features]``).
        num_steps: number of time steps ``T``.
        key: a `jax.random` key (same key, same spikes).
        gain: scale applied to `x` before clipping to a probability.
        dtype: dtype of the spikes.

    Returns:
        spikes of shape ``[T, *x.shape]``, time-major (1.0's form: the
            encoder).

    Example: ``rate_code(images, 25, key=jax.random.key(0))`` maps
    ``[B, 64]`` values in ``[0, 1]`` to ``[25, B, 64]`` spikes.
    """
    if key is None and _is_count(x):
        return _rate_code_1(
            check_steps("rate_code", x), 0.75 if num_steps is None else num_steps
        )
    if key is None:
        raise TypeError(
            "rate_code: `key` is required: rate_code(x, num_steps, key=key) (or "
            "spyx 1.0's rate_code(num_steps, max_r) for an encoder)."
        )
    num_steps = check_steps("rate_code", num_steps)
    p = jnp.clip(gain * jnp.asarray(x, jnp.float32), 0.0, 1.0)
    return jax.random.bernoulli(key, p, (num_steps, *p.shape)).astype(dtype)


def _rate_code_1(num_steps: int, max_r: float) -> Any:
    """spyx 1.0's rate encoder (see `rate_code`)."""

    @jax.jit
    def encode(data: ArrayLike, key: Array) -> Array:
        repeated = jnp.repeat(jnp.asarray(data, jnp.float32), num_steps, axis=1)
        return jax.random.bernoulli(key, repeated * max_r).astype(jnp.uint8)

    return encode


def latency_code(
    x: Any = None,
    num_steps: Any = None,
    *,
    threshold: float | None = None,
    dtype: Any = None,
) -> Any:
    """Latency (time-to-first-spike) coding: larger values fire earlier.

    A value ``v > threshold`` fires once, at step ``round((1 - v) (T - 1))``:
    1 fires at step 0, values near 0 at the last step; values at or below
    `threshold` never fire. Deterministic.

    spyx 1.0's form, ``latency_code(num_steps, threshold=0.01)`` (no data),
    returns 1.0's jitted encoder ``f(data) -> [T, *data.shape]`` of
    ``uint8`` spikes.

    Args:
        x: values in ``[0, 1]`` (clipped), any shape.
        num_steps: number of time steps ``T``.
        threshold: values at or below it stay silent (default 0; 0.01 in
            1.0's form).
        dtype: dtype of the spikes (default float32; uint8 in 1.0's form).

    Returns:
        spikes of shape ``[T, *x.shape]`` with at most one spike per
            input (1.0's form: the encoder).

    Example: ``latency_code(jnp.array([1.0, 0.5]), 5)[:, 0]`` is
    ``[1, 0, 0, 0, 0]``.
    """
    if x is None or _is_count(x):  # spyx 1.0: latency_code(num_steps, threshold)
        steps = check_steps("latency_code", num_steps if x is None else x)
        if x is not None and num_steps is not None:
            threshold = num_steps
        threshold = 0.01 if threshold is None else float(threshold)
        out = jnp.uint8 if dtype is None else dtype
        return jax.jit(lambda data: latency(data, steps, threshold, out))
    num_steps = check_steps("latency_code", num_steps)
    threshold = 0.0 if threshold is None else float(threshold)
    return latency(x, num_steps, threshold, jnp.float32 if dtype is None else dtype)


def latency(x: ArrayLike, num_steps: int, threshold: float, dtype: Any) -> Array:
    """The latency code of `x`: ``[num_steps, *x.shape]``, one spike at step
    ``round((1 - v) (T - 1))`` for each value ``v > threshold`` (clipped to
    ``[0, 1]``); shared by `latency_code` and `LatencyCode`."""
    v = jnp.clip(jnp.asarray(x, jnp.float32), 0.0, 1.0)
    t_spike = jnp.round((1.0 - v) * (num_steps - 1)).astype(jnp.int32)
    steps = jnp.arange(num_steps).reshape((num_steps,) + (1,) * v.ndim)
    return ((steps == t_spike) & (v > threshold)).astype(dtype)


def shift_augment(max_shift: int = 10, axes: tuple[int, ...] = (-1,)) -> Any:
    """A jitted random roll of data along some axes.

    A jitted ``f(data, key)`` that rolls `data` by one random whole number
    of positions in ``[-max_shift, max_shift)`` along each axis in `axes`
    (the same shift for the whole array, e.g. a batch of spike trains
    shifted across channels).

    Example:

    ```python
    augment = spyx.data.shift_augment(max_shift=5, axes=(-1,))
    x = augment(jnp.ones((100, 32, 700)), jax.random.key(0))  # same shape
    ```
    """
    max_shift = check_count("shift_augment", "max_shift", max_shift)
    axes = tuple(int(a) for a in axes)

    @jax.jit
    def shift(data: Array, key: Array) -> Array:
        amounts = jax.random.randint(key, (len(axes),), -max_shift, max_shift)
        return jnp.roll(data, amounts, axes)

    return shift


def shuffler(dataset: tuple[Any, Any], batch_size: int) -> Any:
    """A jitted shuffle of a data set into batches.

    A jitted ``f(dataset, key)`` that shuffles ``(x, y)`` together and
    reshapes them into ``[num_batches, batch_size, ...]``, dropping the
    ``len(y) % batch_size`` examples left over (different ones each call).

    `dataset` fixes the shapes: ``x`` is ``[N, ...]`` and ``y`` ``[N]``.

    Example:

    ```python
    x, y = jnp.ones((200, 8)), jnp.arange(200) % 2  # N = 200 examples
    shuffle = spyx.data.shuffler((x, y), batch_size=64)
    xb, yb = shuffle((x, y), jax.random.key(0))  # xb: [3, 64, 8]
    ```
    """
    x, y = dataset
    n = int(np.shape(y)[0])
    if np.shape(x)[0] != n:
        raise ValueError(
            f"shuffler: `x` and `y` must hold the same number of examples, got "
            f"{np.shape(x)[0]} and {n}."
        )
    batch_size = check_count("shuffler", "batch_size", batch_size)
    if batch_size > n:
        raise ValueError(
            f"shuffler: `batch_size` must be between 1 and the {n} examples, got "
            f"{batch_size!r}."
        )
    keep = n - n % batch_size
    obs_shape = tuple(np.shape(x)[1:])

    @jax.jit
    def shuffle(dataset: tuple[Array, Array], key: Array) -> tuple[Array, Array]:
        x, y = dataset
        order = jax.random.permutation(key, n)[:keep]
        return (
            jnp.reshape(x[order], (-1, batch_size, *obs_shape)),
            jnp.reshape(y[order], (-1, batch_size)),
        )

    return shuffle


def angle_code(neuron_count: int, min_val: float, max_val: float) -> Any:
    """A jitted one-hot encoder over evenly spaced bins.

    A jitted one-hot encoder of values over ``neuron_count`` bins whose
    edges are ``linspace(min_val, max_val, neuron_count)``.

    A value ``v`` lights neuron ``i`` with ``edges[i] <= v < edges[i + 1]``,
    clipped to the first and last neuron, as in spyx 1.0: every value lights
    exactly one neuron (values below `min_val` the first, values at or above
    `max_val` the last).

    Returns:
        ``f(obs) -> obs.shape + (neuron_count,)``.

    Example: ``spyx.data.angle_code(4, 0.0, 3.0)(jnp.array([1.5]))`` is
    ``[[0., 1., 0., 0.]]``.
    """
    neuron_count = check_count("angle_code", "neuron_count", neuron_count, 2)
    if not min_val < max_val:
        raise ValueError(
            f"angle_code: `min_val` must be below `max_val`, got {min_val} and "
            f"{max_val}."
        )
    edges = jnp.linspace(min_val, max_val, int(neuron_count))

    @jax.jit
    def encode(obs: ArrayLike) -> Array:
        index = jnp.clip(jnp.digitize(obs, edges) - 1, 0, int(neuron_count) - 1)
        return jax.nn.one_hot(index, int(neuron_count))

    return encode
