"""Losses, metrics and activity regularisers for spiking networks.

Every factory returns a compiled function. Traces are batch-major by default,
``[Batch, Time, Classes]`` (``time_axis=1``); the time-major output of
`spyx.nn.run` / `spyx_eqx.run`, ``[Time, Batch, Classes]``, needs
``time_axis=0``. Shapes are checked when the function is traced: a mismatch
between traces and targets raises `ValueError` naming both shapes, and says
so when the other time axis would have fitted. Labels must lie in
``[0, C)``: given as concrete values, one outside raises `ValueError`;
inside a traced function (a jitted training step), the loss or accuracy is
NaN instead of a plausible number.

Example:

```python
model = spyx.nn.Sequential(nnx.Linear(8, 3, rngs=nnx.Rngs(0)), spyx.nn.LI((3,)))
x, labels = jnp.ones((20, 4, 8)), jnp.array([0, 1, 2, 0])  # [T, B, 8], [B]
traces, final_state = spyx.nn.run(model, x)  # [T, B, C]
loss = spyx.fn.integral_crossentropy(time_axis=0)(traces, labels)
```
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.core
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

__all__ = [
    "integral_accuracy",
    "integral_crossentropy",
    "mse_spikerate",
    "silence_reg",
    "sparsity_reg",
]


def _check_traces(name: str, traces: Any, targets: Any, time_axis: int) -> None:
    """Traces ``(..., C)`` with a time axis; integer targets of the rest."""
    traces = jnp.asarray(traces)
    targets = jnp.asarray(targets)
    if traces.ndim < 2:
        raise ValueError(
            f"{name}: `traces` needs at least 2 dimensions (a time axis and a "
            f"class axis), got shape {traces.shape}."
        )
    if not -traces.ndim <= time_axis < traces.ndim or (
        time_axis % traces.ndim == traces.ndim - 1
    ):
        raise ValueError(
            f"{name}: `time_axis`={time_axis} is out of range: it must name an "
            f"axis of `traces` {traces.shape} other than the last (classes)."
        )
    if not jnp.issubdtype(targets.dtype, jnp.integer):
        raise ValueError(
            f"{name}: `targets` must be integer class labels, got dtype "
            f"{targets.dtype} with shape {targets.shape}."
        )
    rest = list(traces.shape[:-1])
    del rest[time_axis % traces.ndim]
    if tuple(targets.shape) == tuple(rest):
        return
    hint = ""
    if traces.ndim == 3:
        other = 1 - (time_axis % traces.ndim)  # time is axis 0 or 1 (checked)
        if targets.shape == (traces.shape[1 - other],):
            layout = (
                "time-major [Time, Batch, C]"
                if other == 0
                else ("batch-major [Batch, Time, C]")
            )
            hint = (
                f" The traces look {layout}: pass time_axis={other} (run's "
                f"output is time-major, so use time_axis=0)."
            )
    raise ValueError(
        f"{name}: `targets` shape {targets.shape} does not match `traces` shape "
        f"{traces.shape} with time_axis={time_axis} (expected targets of shape "
        f"{tuple(rest)}).{hint}"
    )


def _labelled(
    name: str, fn: Callable[[Array, Array], Any]
) -> Callable[[Array, Array], Any]:
    """`fn` compiled, with its labels checked: concrete labels outside
    ``[0, C)`` raise before anything is computed; traced ones make every
    result NaN."""
    compiled = jax.jit(fn)

    def checked(traces: Array, targets: Array) -> Any:
        classes = jnp.shape(traces)[-1] if jnp.ndim(traces) else 0
        concrete = not isinstance(targets, jax.core.Tracer)
        if concrete and jnp.ndim(traces) >= 2 and jnp.size(targets):
            values = np.asarray(targets)  # concrete: no trace of its own
            if np.issubdtype(values.dtype, np.integer):
                low, high = int(values.min()), int(values.max())
                if low < 0 or high >= classes:
                    raise ValueError(
                        f"{name}: labels must lie in [0, {classes}) (one per "
                        f"class of `traces`' last axis), got values from {low} "
                        f"to {high}."
                        + (" Counted from 1? Subtract 1." if high == classes else "")
                    )
        return compiled(traces, targets)

    return checked


def _nan_unless_valid(result: Any, targets: Array, classes: int) -> Any:
    """NaN in place of every result when a label lies outside ``[0, C)``."""
    valid = jnp.all((targets >= 0) & (targets < classes))
    return jax.tree.map(
        lambda r: (
            jnp.where(valid, r, jnp.nan) if jnp.issubdtype(r.dtype, jnp.floating) else r
        ),
        result,
    )


def integral_crossentropy(
    smoothing: float = 0.3, time_axis: int = 1
) -> Callable[[Array, Array], Array]:
    """Cross-entropy of the summed traces against smoothed one-hot labels.

    ``logits = sum_t traces``;  ``loss = mean_b CE(softmax(logits),
    (1 - smoothing) onehot(y) + smoothing / C)``.

    Args:
        smoothing: label smoothing (`optax.smooth_labels`).
        time_axis: axis of `traces` that is time (1 for ``[B, T, C]``, 0 for
            the time-major output of `run`).

    Returns:
        ``f(traces, targets) -> scalar`` with `targets` integer
            labels of shape ``[B]``.

    Example:

    ```python
    model = spyx.nn.Sequential(nnx.Linear(8, 3, rngs=nnx.Rngs(0)), spyx.nn.LI((3,)))
    x, labels = jnp.ones((20, 4, 8)), jnp.array([0, 1, 2, 0])
    loss_fn = spyx.fn.integral_crossentropy(time_axis=0)
    traces, _ = spyx.nn.run(model, x)  # [T, B, C]
    loss = loss_fn(traces, labels)  # labels: int [B]
    ```
    """

    def loss(traces: Array, targets: Array) -> Array:
        _check_traces("integral_crossentropy", traces, targets, time_axis)
        logits = jnp.sum(traces, axis=time_axis)
        labels = optax.smooth_labels(
            jax.nn.one_hot(targets, logits.shape[-1]), smoothing
        )
        value = optax.softmax_cross_entropy(logits, labels).mean()
        return _nan_unless_valid(value, targets, logits.shape[-1])

    return _labelled("integral_crossentropy", loss)


def integral_accuracy(
    time_axis: int = 1,
) -> Callable[[Array, Array], tuple[Array, Array]]:
    """Accuracy of the class with the largest summed trace.

    ``pred = argmax_c sum_t traces``;  ``accuracy = mean(pred == targets)``.

    Returns:
        ``f(traces, targets) -> (accuracy, predictions)``.

    Example: ``acc, preds = spyx.fn.integral_accuracy(time_axis=0)(traces, labels)``.
    """

    def accuracy(traces: Array, targets: Array) -> tuple[Array, Array]:
        _check_traces("integral_accuracy", traces, targets, time_axis)
        preds = jnp.argmax(jnp.sum(traces, axis=time_axis), axis=-1)
        value = jnp.mean(preds == targets)
        return _nan_unless_valid(value, targets, traces.shape[-1]), preds

    return _labelled("integral_accuracy", accuracy)


def mse_spikerate(
    sparsity: float = 0.25, smoothing: float = 0.0, time_axis: int = 1
) -> Callable[[Array, Array], Array]:
    """Squared error between the time-averaged output and a target rate.

    ``loss = mean((mean_t traces - labels * sparsity * T)^2)`` with `labels`
    the (optionally smoothed) one-hot targets and ``T`` the number of steps.

    Args:
        sparsity: target firing level of the correct class.
        smoothing: label smoothing.
        time_axis: axis of `traces` that is time.

    Example: ``spyx.fn.mse_spikerate(sparsity=0.25, time_axis=0)(traces, labels)``.
    """

    def loss(traces: Array, targets: Array) -> Array:
        _check_traces("mse_spikerate", traces, targets, time_axis)
        t = traces.shape[time_axis]
        rate = jnp.mean(traces, axis=time_axis)
        labels = optax.smooth_labels(jax.nn.one_hot(targets, rate.shape[-1]), smoothing)
        value = jnp.mean(optax.squared_error(rate, labels * sparsity * t))
        return _nan_unless_valid(value, targets, rate.shape[-1])

    return _labelled("mse_spikerate", loss)


def _per_example(name: str, counts: Any) -> list[Array]:
    leaves = [jnp.asarray(leaf) for leaf in jax.tree.leaves(counts)]
    if not leaves:
        raise ValueError(f"{name}: `spike_counts` holds no arrays.")
    batch = leaves[0].shape[:1]
    for leaf in leaves:
        if leaf.ndim < 2 or leaf.shape[:1] != batch:
            raise ValueError(
                f"{name}: every spike count must be (Batch, ...) with the same "
                f"batch size, got shapes {[tuple(x.shape) for x in leaves]}."
            )
    return [leaf.reshape(leaf.shape[0], -1) for leaf in leaves]


def silence_reg(min_spikes: float) -> Callable[[Any], Array]:
    """Penalty on neurons that fire too little on average over the batch.

    ``sum_neurons max(0, min_spikes - mean_b count)^2`` over every array in a
    pytree of spike counts ``(Batch, ...)`` (e.g. the `ActivityRegularization`
    entries of `run`'s final state).

    Example: ``spyx.fn.silence_reg(0.5)(final_state[2])`` with `final_state[2]`
    the count of an `ActivityRegularization` layer at index 2.
    """

    def reg(spike_counts: Any) -> Array:
        flat = _per_example("silence_reg", spike_counts)
        terms = [
            jnp.sum(jnp.maximum(0.0, min_spikes - jnp.mean(c, axis=0)) ** 2)
            for c in flat
        ]
        return sum(terms[1:], terms[0])  # `flat` is never empty

    return jax.jit(reg)


def sparsity_reg(
    max_spikes: float, norm: Callable[[Array], Array] = optax.huber_loss
) -> Callable[[Any], Array]:
    """Penalty on examples whose neurons fire too much on average.

    ``sum_b norm(max(0, mean_neurons count - max_spikes))`` over every array
    in a pytree of spike counts ``(Batch, ...)``.

    Args:
        max_spikes: allowed mean count per neuron.
        norm: elementwise penalty; default `optax.huber_loss`.

    Example: ``spyx.fn.sparsity_reg(5.0)(final_state[2])``.
    """

    def reg(spike_counts: Any) -> Array:
        flat = _per_example("sparsity_reg", spike_counts)
        terms = [
            jnp.sum(norm(jnp.maximum(0.0, jnp.mean(c, axis=-1) - max_spikes)))
            for c in flat
        ]
        return sum(terms[1:], terms[0])  # `flat` is never empty

    return jax.jit(reg)
