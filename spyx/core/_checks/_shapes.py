"""Shape helpers and the input checks shared by both front ends.

Every check runs on static shapes, so inside ``jit`` it fires at trace time
and costs nothing at run time.
"""

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from ._protocols import Container, is_stateful

__all__ = [
    "Shape",
    "batch_shape",
    "check_sequential_state",
    "check_floating",
    "check_input",
    "check_recurrent_shape",
    "check_sequence",
    "check_state",
    "check_time_major",
    "join_halves",
    "normalize_shape",
    "sequential_batch_ndim",
    "shape_argument",
    "split_halves",
    "state_shape",
    "threshold_value",
]

Shape = tuple[int, ...]


def normalize_shape(layer: str, name: str, shape: int | Sequence[int]) -> Shape:
    """Turn an int or a sequence of ints into a tuple of positive ints.

    Raises `ValueError` naming `layer` and the argument `name` for an empty
    shape, a zero or negative size, or a non-integer entry.

    Example:

    ```python
    normalize_shape("LIF", "hidden_shape", 128)  # (128,)
    ```
    """
    if isinstance(shape, bool):
        raise TypeError(
            f"{layer}: `{name}` must be an int or a tuple of ints, got {shape!r}"
        )
    if isinstance(shape, int | np.integer):
        shape = (int(shape),)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(
            f"{layer}: `{name}` must be an int or a tuple of ints, got {shape!r}"
        ) from None
    if not dims:
        raise ValueError(f"{layer}: `{name}` must have at least one axis, got ().")
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, int | np.integer):
            raise TypeError(f"{layer}: `{name}` must contain ints, got {shape!r}")
        if d <= 0:
            raise ValueError(
                f"{layer}: every size in `{name}` must be positive, got {dims}."
            )
    return tuple(int(d) for d in dims)


def threshold_value(layer: str, threshold: Any) -> float:
    """A firing threshold, checked: a finite number greater than zero.

    A threshold of zero or below makes a neuron fire on every step (and a
    subtracting reset add charge), so it is refused.

    Example:

    ```python
    threshold_value("LIF", 1)  # 1.0
    ```
    """
    if isinstance(threshold, bool):
        raise TypeError(f"{layer}: `threshold` must be a number, got {threshold!r}.")
    try:
        value = float(np.asarray(threshold)) if np.ndim(threshold) == 0 else None
    except (TypeError, ValueError):
        value = None
    if value is None:
        raise TypeError(
            f"{layer}: `threshold` must be a number, got {threshold!r}."
        ) from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(
            f"{layer}: `threshold` must be a finite number greater than 0, got "
            f"{value!r} (a threshold <= 0 fires on every step)."
        )
    return value


def shape_argument(layer: str, layer_shape: Any, hidden_shape: Any) -> Any:
    """The shape argument of a neuron's constructor.

    The shape given as `layer_shape` (the documented name for `LI`) or as
    `hidden_shape` (every other neuron's name): exactly one of them.

    Example: ``shape_argument("LI", None, (20,))`` is ``(20,)``.
    """
    if layer_shape is not None and hidden_shape is not None:
        raise TypeError(
            f"{layer}: give the shape once, as `layer_shape` or `hidden_shape`, "
            f"not both."
        )
    if layer_shape is None and hidden_shape is None:
        raise TypeError(f"{layer}: missing the shape (`layer_shape`, e.g. (20,)).")
    return hidden_shape if layer_shape is None else layer_shape


def batch_shape(layer: str, batch_size: Any) -> tuple[int, ...]:
    """``()`` for ``None`` (one example), else ``(batch_size,)``, checked.

    Example:

    ```python
    batch_shape("LIF", 32)  # (32,); batch_shape("LIF", None) is ()
    ```
    """
    if batch_size is None:
        return ()
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise TypeError(
            f"{layer}: `batch_size` must be a positive int or None, got {batch_size!r}."
        )
    if batch_size <= 0:
        raise ValueError(f"{layer}: `batch_size` must be positive, got {batch_size}.")
    return (int(batch_size),)


def check_sequential_state(layers: Any, state: Any) -> None:
    """Check a Sequential's state against its layers.

    A `Sequential`'s state: a list with one entry per layer, ``None``
    exactly for the stateless layers (those that are no `StatefulLayer`).

    Example:

    ```python
    model = spyx.nn.Sequential(
        nnx.Linear(8, 16, rngs=nnx.Rngs(0)), spyx.nn.LIF((16,), beta=0.9)
    )
    check_sequential_state(model.layers, model.initial_state(4))  # passes
    ```
    """
    n = len(layers)
    if not isinstance(state, list | tuple) or len(state) != n:
        got = (
            f"a {type(state).__name__} of length {len(state)}"
            if isinstance(state, list | tuple)
            else type(state).__name__
        )
        raise TypeError(
            f"Sequential: `state` must be a list with one entry per layer "
            f"({n}), got {got}. Build it with model.initial_state(batch_size)."
        )
    for i, (layer, s) in enumerate(zip(layers, state, strict=True)):
        name = type(layer).__name__
        if is_stateful(layer) and s is None:
            raise TypeError(
                f"Sequential: layer {i} ({name}) is stateful but its state "
                f"entry is None."
            )
        if not is_stateful(layer) and s is not None:
            raise TypeError(
                f"Sequential: layer {i} ({name}) is stateless, so its state "
                f"entry must be None, got {type(s).__name__}."
            )


def sequential_batch_ndim(layers: Any, state: Any, default: int = 0) -> int:
    """The number of batch axes of a Sequential's state.

    Batch axes of a `Sequential`'s state, read off its first layer that
    states its per-example `state_shape` (a nested `Sequential` is searched);
    `default` when none does (a chain of stateless layers: the front end's
    convention, one batch axis in `spyx.nn`, none in `spyx_eqx`).

    Example:

    ```python
    model = spyx.nn.Sequential(
        nnx.Linear(8, 16, rngs=nnx.Rngs(0)), spyx.nn.LIF((16,), beta=0.9)
    )
    sequential_batch_ndim(model.layers, model.initial_state(32))  # 1
    ```
    """
    ndim = _chain_batch_ndim(layers, state)
    return default if ndim is None else ndim


def _chain_batch_ndim(layers: Any, state: Any) -> int | None:
    for layer, s in zip(layers, state, strict=True):
        ndim = state_batch_ndim(layer, s)
        if ndim is not None:
            return ndim
    return None


def state_batch_ndim(layer: Any, state: Any) -> int | None:
    """The number of batch axes of one layer's state, ``None`` if the layer
    does not say (a stateless layer; a layer without `state_shape`).

    Example: ``state_batch_ndim(spyx.nn.LIF((16,)), jnp.zeros((4, 16)))`` is 1.
    """
    if state is None:
        return None
    inner: Callable[[Any], int | None] | None = getattr(layer, "state_batch_ndim", None)
    if callable(inner):  # a layer that counts its own state's batch axes
        return inner(state)
    if isinstance(layer, Container) and isinstance(state, list | tuple):
        return _chain_batch_ndim(layer.layers, state)
    per_example = getattr(layer, "state_shape", None)
    if isinstance(per_example, tuple) and hasattr(state, "ndim"):
        return state.ndim - len(per_example)
    return None


def check_recurrent_shape(layer: str, hidden_shape: Shape) -> None:
    """Recurrent weights ``W`` are ``(H, H)``: the hidden shape must be 1-D.

    Example:

    ```python
    try:
        check_recurrent_shape("RLIF", (4, 4))
    except ValueError as err:
        print(err)  # RLIF: `hidden_shape` must be 1-D for a recurrent neuron ...
    ```
    """
    if len(hidden_shape) != 1:
        raise ValueError(
            f"{layer}: `hidden_shape` must be 1-D for a recurrent neuron, got "
            f"{hidden_shape}. Flatten the input first (spyx.nn.Flatten) and "
            f"use hidden_shape=({int(np.prod(hidden_shape))},)."
        )


def state_shape(hidden_shape: Shape, parts: int) -> Shape:
    """Per-example state shape: `parts` halves side by side on the last axis.

    Example:

    ```python
    state_shape((8, 8, 3), 2)  # (8, 8, 6)
    ```
    """
    return (*hidden_shape[:-1], parts * hidden_shape[-1])


def split_halves(state: Array) -> tuple[Array, Array]:
    """Split a two-part state ``[A, B]`` (concatenated on the last axis).

    Example:

    ```python
    V, I = split_halves(jnp.zeros((32, 256)))  # two (32, 128) halves
    ```
    """
    n = state.shape[-1] // 2
    return state[..., :n], state[..., n:]


def join_halves(a: Array, b: Array) -> Array:
    """Inverse of `split_halves`.

    Example:

    ```python
    V, I = jnp.zeros((32, 128)), jnp.ones((32, 128))
    VI = join_halves(V, I)  # (32, 256)
    ```
    """
    return jnp.concatenate([a, b], axis=-1)


def _is_array(x: Any) -> bool:
    return isinstance(x, jax.Array | np.ndarray) or hasattr(x, "__jax_array__")


def check_floating(layer: str, name: str, x: Any) -> None:
    """Reject non-arrays and non-floating arrays with an actionable message.

    Example:

    ```python
    try:
        check_floating("LIF", "x", jnp.ones(3, jnp.int32))
    except TypeError as err:
        print(err)  # LIF: `x` must have a floating dtype, got int32. ...
    ```
    """
    if not _is_array(x):
        raise TypeError(
            f"{layer}: `{name}` must be a JAX or NumPy array, got "
            f"{type(x).__name__}. Wrap it with jnp.asarray(...)."
        )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"{layer}: `{name}` must have a floating dtype, got {x.dtype}. "
            f"Cast it first, e.g. x.astype(jnp.float32)."
        )


def check_input(layer: str, x: Any, feature_shape: Shape) -> tuple[int, ...]:
    """Check that `x` is a float array ending in `feature_shape`.

    Returns:
        the leading (batch) axes of `x`.

    Example:

    ```python
    check_input("LIF", jnp.ones((32, 128)), (128,))  # returns (32,)
    ```
    """
    check_floating(layer, "x", x)
    k = len(feature_shape)
    if x.ndim < k or tuple(x.shape[x.ndim - k :]) != feature_shape:
        raise ValueError(
            f"{layer}: `x` must have shape (*batch, {_dims(feature_shape)}), "
            f"got {tuple(x.shape)}."
        )
    return tuple(x.shape[: x.ndim - k])


def check_sequence(layer: str, x: Any, feature_shape: Shape) -> tuple[int, ...]:
    """Check a time-major float sequence ``[T, *batch, *feature_shape]``.

    Returns:
        the batch axes of `x` (between time and features).

    Example:

    ```python
    check_sequence("LIF", jnp.ones((100, 32, 128)), (128,))  # returns (32,)
    ```
    """
    check_floating(layer, "x", x)
    k = len(feature_shape)
    if x.ndim < k or tuple(x.shape[x.ndim - k :]) != feature_shape:
        raise ValueError(
            f"{layer}: `x` must have shape (Time, *batch, {_dims(feature_shape)}), "
            f"got {tuple(x.shape)}."
        )
    if x.ndim == k:
        raise ValueError(
            f"{layer}: `x` needs a leading time axis, (Time, *batch, "
            f"{_dims(feature_shape)}), got {tuple(x.shape)}."
        )
    return tuple(x.shape[1 : x.ndim - k])


def check_state(
    layer: str, state: Any, batch: tuple[int, ...], per_example: Shape
) -> None:
    """Check that `state` has shape ``batch + per_example`` and a float dtype.

    Example:

    ```python
    check_state("LIF", jnp.zeros((32, 128)), (32,), (128,))  # passes
    ```
    """
    check_floating(layer, "state", state)
    expected = (*batch, *per_example)
    if tuple(state.shape) != expected:
        hint = ""
        if tuple(state.shape[len(state.shape) - len(per_example) :]) == per_example:
            lead = tuple(state.shape[: state.ndim - len(per_example)])
            hint = (
                f" The batch axes differ: state {lead} vs x {batch}; build the "
                f"state with initial_state(batch_size)."
            )
        raise ValueError(
            f"{layer}: `state` must have shape {expected} to match x, got "
            f"{tuple(state.shape)}.{hint}"
        )


def check_time_major(layer: str, x: Any, state: Any = None) -> None:
    """Check that `x` is a time-major float array ``[T, B, ...]``.

    When `state` holds a batched array (two or more axes, batch first) whose
    batch size matches ``x.shape[0]`` but not ``x.shape[1]``, the data is
    almost surely batch-major, and the error says how to fix it. Other
    mismatches are left to the layers, which name the exact shapes.

    Example:

    ```python
    x, state = jnp.ones((32, 100, 8)), [jnp.zeros((32, 16))]  # [B, T, ...]
    try:
        check_time_major("run", x, state)
    except ValueError as err:
        print(err)  # run: `x` has shape (32, 100, 8), which looks batch-major ...
    ```
    """
    check_floating(layer, "x", x)
    if x.ndim < 2:
        raise ValueError(
            f"{layer}: `x` must be time-major with shape [Time, Batch, ...], got "
            f"{tuple(x.shape)}."
        )
    leaves = [leaf for leaf in jax.tree.leaves(state) if getattr(leaf, "ndim", 0) >= 2]
    if not leaves:
        return
    batch_size = leaves[0].shape[0]
    if x.shape[1] != batch_size and x.shape[0] == batch_size:
        raise ValueError(
            f"{layer}: `x` has shape {tuple(x.shape)}, which looks batch-major "
            f"[Batch, Time, ...] (the state's batch size is {batch_size}). run "
            f"expects time-major [Time, Batch, ...]: pass jnp.swapaxes(x, 0, 1)."
        )


def _dims(shape: Shape) -> str:
    return ", ".join(str(d) for d in shape)
