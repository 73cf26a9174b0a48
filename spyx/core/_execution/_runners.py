"""How `run` executes a model over a time-major sequence.

Three strategies, equal in outputs, final state and gradients:

- **layer-wise** (`run_layerwise`): each stateless layer once over all
  ``T * batch`` rows (one large matmul), each neuron through its sequence
  kernel over the whole sequence;
- **chunked** (`run_chunked`): the same within chunks of ``K`` steps, the
  states carried from chunk to chunk, so the working set stays ``K * batch``
  rows while the matmuls stay large;
- **step-wise** (`time_scan` of the whole model): every layer once per step.

Here: the first two for a chain. `_strategy` picks one; `_run_model` is
the `run` of both front ends.
"""

from collections.abc import Callable, Collection, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array

from .._scans import scan_layer
from ._keys import example_keys
from ._record import scan_traced
from ._rows import apply_stateless

__all__ = [
    "in_chunks",
    "run_chunked",
    "run_layerwise",
    "step_layers",
]


def run_layerwise(
    layers: Sequence[Any],
    xs: Array,
    states: Sequence[Any],
    *,
    batch_ndim: int,
    apply_rows: Callable[..., Callable[[Array], Array]],
    unroll: int | bool = 1,
    checkpoint: int | None = None,
    keys: Sequence[Any] | None = None,
    check: Callable[[int, Array], None] | None = None,
    record: Collection[int] | None = None,
) -> tuple[Any, list[Any]]:
    """Run a chain of layers over a time-major sequence one layer at a time.

    A stateless layer (state ``None``) is applied once to all ``T * batch``
    rows: a single large matmul or convolution instead of ``T`` small ones.
    A stateful layer is scanned over time on its own: a `SequenceLayer` (every
    spyx neuron) through its ``run_sequence``, which uses the neuron's
    sequence kernel where it has one (`lif_sequence`, the parallel path of
    `PSU_LIF`); any other stateful layer, and every layer when `checkpoint`
    is set, through `time_scan`. The result equals stepping the whole chain
    through time, since no layer feeds back into an earlier one.

    Args:
        layers: the chain.
        states: one state per layer (``None`` for stateless layers).
        xs: ``[T, *batch, ...]`` with `batch_ndim` batch axes.
        apply_rows: ``layer -> f`` where ``f`` maps ``[N, ...]`` rows; with
            keys, ``(layer, row_keys) -> f``.
        unroll: passed to `time_scan`.
        checkpoint: passed to `time_scan`.
        keys: ``None``, or one entry per layer: ``None`` for a layer that
            takes no key, else PRNG keys ``[T, *batch]`` (stateless) or ``[T]``
            (stateful, called as ``layer(x_t, state, key=k_t)``).
        check: ``(index, xs) -> None``, called before each layer with its
            input (e.g. `check_chain_inputs`), to raise a clear error.
        record: indices of layers whose values to keep: each one's outputs
            and, for a stateful one (then scanned by `scan_traced`), its
            state after every step.

    Returns:
        ``(outputs [T, *batch, ...], new_states)``; with `record`, the
            outputs are ``(outputs, kept)``, `kept` mapping each recorded
            index to ``(outputs, states)`` (``states`` ``None`` if stateless).

    Example:

    ```python
    model = spyx.nn.Sequential(
        nnx.Linear(8, 16, rngs=nnx.Rngs(0)), spyx.nn.LIF((16,), beta=0.9)
    )
    x = jnp.ones((100, 4, 8))  # [T, B, features]
    outs, states = run_layerwise(
        model.layers, x, model.initial_state(4), batch_ndim=1,
        apply_rows=lambda layer: layer,
    )
    ```
    """
    new_states = []
    kept: dict[int, tuple[Any, Any]] = {}
    keys = [None] * len(layers) if keys is None else keys
    for i, (layer, state, key) in enumerate(zip(layers, states, keys, strict=True)):
        if check is not None:
            check(i, xs)
        trace = None
        if state is None:
            xs = apply_stateless(apply_rows, layer, xs, batch_ndim, key, over_time=True)
        elif record is not None and i in record:
            xs, state, trace = scan_traced(
                layer, xs, state, keys=key, unroll=unroll, checkpoint=checkpoint
            )
        else:
            xs, state = scan_layer(
                layer, xs, state, keys=key, unroll=unroll, checkpoint=checkpoint
            )
        if record is not None and i in record:
            kept[i] = (xs, trace)
        new_states.append(state)
    return (xs if record is None else (xs, kept)), new_states


def step_layers(
    layers: Sequence[Any],
    x: Array,
    states: Sequence[Any],
    *,
    batch_ndim: int,
    apply_rows: Callable[..., Callable[[Array], Array]],
    keys: Sequence[Any] | None = None,
    check: Callable[[int, Array], None] | None = None,
    record: Collection[int] | None = None,
) -> tuple[Any, list[Any]]:
    """One time step through a chain of layers (a `Sequential`'s call).

    A layer whose state is ``None`` is applied to the ``batch`` rows of `x`
    (its `batch_ndim` leading axes merged) through `apply_rows`, as in
    `run_layerwise`; any other is called as ``layer(x, state) -> (x,
    state)``. With `keys` (one entry per layer, ``None`` for a layer that
    takes no key), a keyed stateless layer gets one key per example
    (`example_keys`) and a keyed stateful one is called as ``layer(x, state,
    key=key)``. `check` and `record` are as in `run_layerwise`.

    Returns:
        ``(out, new_states)``; with `record`, `out` is ``(out, kept)``,
            `kept` mapping each recorded index to its ``(output, new_state)``.

    Example: ``out, states = step_layers(layers, x, states, batch_ndim=1,
    apply_rows=lambda layer: layer)``.
    """
    new_states = []
    kept: dict[int, tuple[Any, Any]] = {}
    keys = [None] * len(layers) if keys is None else keys
    batch = tuple(x.shape[:batch_ndim])
    for i, (layer, state, key) in enumerate(zip(layers, states, keys, strict=True)):
        if check is not None:
            check(i, x)
        if state is None:
            per_example = None if key is None else example_keys(key, batch)
            x = apply_stateless(apply_rows, layer, x, batch_ndim, per_example)
        elif key is None:
            x, state = layer(x, state)
        else:
            x, state = layer(x, state, key=key)
        if record is not None and i in record:
            kept[i] = (x, state)
        new_states.append(state)
    return (x if record is None else (x, kept)), new_states


def run_chunked(
    layers: Sequence[Any],
    xs: Array,
    states: Sequence[Any],
    *,
    chunk: int,
    batch_ndim: int,
    apply_rows: Callable[..., Callable[[Array], Array]],
    unroll: int | bool = 1,
    keys: Sequence[Any] | None = None,
    check: Callable[[int, Array], None] | None = None,
    record: Collection[int] | None = None,
) -> tuple[Any, list[Any]]:
    """`run_layerwise` over chunks of `chunk` steps, states carried between.

    A `jax.lax.scan` over the chunks (a last, shorter chunk runs after it);
    within each, every layer runs over the chunk's ``chunk * batch`` rows
    as in `run_layerwise`. The result equals `run_layerwise` over the whole
    sequence: each layer's state at a chunk's end is where the next chunk
    starts. Arguments as in `run_layerwise` (the keys, ``[T, ...]``, are
    cut along time with `xs`; `check` sees a chunk).

    Returns:
        ``(outputs [T, *batch, ...], new_states)``.
    """
    keys = [None] * len(layers) if keys is None else list(keys)

    def run(x: Array, states: Any, keys: Any, check: Any = None) -> Any:
        return run_layerwise(
            layers,
            x,
            states,
            batch_ndim=batch_ndim,
            apply_rows=apply_rows,
            unroll=unroll,
            keys=keys,
            check=check,
            record=record,
        )

    outs, states = in_chunks(run, xs, list(states), keys, chunk, check)
    return outs, list(states)


def in_chunks(
    run: Callable[..., tuple[Array, Any]],
    xs: Array,
    state: Any,
    keys: Any,
    chunk: int,
    check: Any = None,
) -> tuple[Array, Any]:
    """``run(x, state, keys, check) -> (outs, state)`` over chunks of
    `chunk` steps of `xs` (a `jax.lax.scan` over the whole chunks, a
    shorter last one after it), the state carried from chunk to chunk and
    `keys` (any pytree of ``[T, ...]`` arrays) cut along time with `xs`;
    the outputs may be any pytree of ``[T, ...]`` arrays.
    `check` is passed to the scanned chunks, where it runs as they are
    traced."""
    T = xs.shape[0]
    k = min(chunk, T)
    n, rest = divmod(T, k)

    def cut(tree: Any, start: int, stop: int, blocks: int | None = None) -> Any:
        def one(a: Array) -> Array:
            part = a[start:stop]
            return part if blocks is None else part.reshape(blocks, k, *a.shape[1:])

        return jax.tree.map(one, tree)

    def body(state: Any, inputs: Any) -> tuple[Any, Array]:
        x, ks = inputs
        out, new = run(x, state, ks, check)
        return new, out

    state, outs = jax.lax.scan(
        body, state, (cut(xs, 0, n * k, n), cut(keys, 0, n * k, n))
    )
    outs = jax.tree.map(lambda a: a.reshape(n * k, *a.shape[2:]), outs)
    if rest:
        tail, state = run(xs[n * k :], state, cut(keys, n * k, T))
        outs = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), outs, tail)
    return outs, state
