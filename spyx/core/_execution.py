"""How `run` executes a model over a time-major sequence.

Three strategies, equal in outputs, final state and gradients:

- **layer-wise** (`run_layerwise`): each stateless layer once over all
  ``T * batch`` rows (one large matmul), each neuron through its sequence
  kernel over the whole sequence;
- **chunked** (`run_chunked`): the same within chunks of ``K`` steps, the
  states carried from chunk to chunk, so the working set stays ``K * batch``
  rows while the matmuls stay large;
- **step-wise** (`time_scan` of the whole model): every layer once per step.

`run_model` is the `run` of both front ends; `Execution` holds its options,
checked together, and picks the strategy when the caller leaves it open.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array

from ._graph import (
    check_graph_state,
    current_plan,
    graph_batch_ndim,
    graph_row_keys,
    run_graph_layerwise,
)
from ._keys import example_keys, row_keys, takes_key
from ._protocols import GraphContainer, is_stateful
from ._rows import apply_stateless
from ._scan import initial_state_of, scan_layer, state_dtype, time_scan
from ._shapes import check_sequential_state, sequential_batch_ndim

__all__ = [
    "CHUNK",
    "Execution",
    "check_burnin",
    "choose_strategy",
    "apply_stateless",
    "in_chunks",
    "with_burnin",
    "run_chunked",
    "run_layerwise",
    "run_model",
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
) -> tuple[Array, list[Any]]:
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

    Returns:
        ``(outputs [T, *batch, ...], new_states)``.

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
    keys = [None] * len(layers) if keys is None else keys
    for i, (layer, state, key) in enumerate(zip(layers, states, keys, strict=True)):
        if check is not None:
            check(i, xs)
        if state is None:
            xs = apply_stateless(apply_rows, layer, xs, 1 + batch_ndim, key)
        else:
            xs, state = scan_layer(
                layer, xs, state, keys=key, unroll=unroll, checkpoint=checkpoint
            )
        new_states.append(state)
    return xs, new_states


def step_layers(
    layers: Sequence[Any],
    x: Array,
    states: Sequence[Any],
    *,
    batch_ndim: int,
    apply_rows: Callable[..., Callable[[Array], Array]],
    keys: Sequence[Any] | None = None,
    check: Callable[[int, Array], None] | None = None,
) -> tuple[Array, list[Any]]:
    """One time step through a chain of layers (a `Sequential`'s call).

    A layer whose state is ``None`` is applied to the ``batch`` rows of `x`
    (its `batch_ndim` leading axes merged) through `apply_rows`, as in
    `run_layerwise`; any other is called as ``layer(x, state) -> (x,
    state)``. With `keys` (one entry per layer, ``None`` for a layer that
    takes no key), a keyed stateless layer gets one key per example
    (`example_keys`) and a keyed stateful one is called as ``layer(x, state,
    key=key)``. `check` is as in `run_layerwise`.

    Returns:
        ``(out, new_states)``.

    Example: ``out, states = step_layers(layers, x, states, batch_ndim=1,
    apply_rows=lambda layer: layer)``.
    """
    new_states = []
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
        new_states.append(state)
    return x, new_states


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
) -> tuple[Array, list[Any]]:
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
    `keys` (any pytree of ``[T, ...]`` arrays) cut along time with `xs`.
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
    outs = outs.reshape(n * k, *outs.shape[2:])
    if rest:
        tail, state = run(xs[n * k :], state, cut(keys, n * k, T))
        outs = jnp.concatenate([outs, tail])
    return outs, state


@dataclass(frozen=True)
class Execution:
    """How `run` executes a model: its options, checked together.

    Attributes:
        layerwise: ``True`` runs a `Sequential` layer by layer, ``False``
            steps the whole model through time, ``None`` (the default)
            chooses by the model and the input's shape (`plan`).
        chunk: run layer by layer within chunks of this many steps
            (`run_chunked`); ``None`` lets `plan` choose.
        unroll: time steps per loop iteration of every scan.
        checkpoint: memory-bounded backpropagation through time: remat
            blocks of this many steps (`time_scan`); step-wise unless
            ``layerwise=True`` asks otherwise.
    """

    layerwise: bool | None = None
    chunk: int | None = None
    unroll: int | bool = 1
    checkpoint: int | None = None

    def check(self, layer: str) -> "Execution":
        """Refuse options that cannot work together, naming `layer`."""
        for name in ("chunk", "checkpoint"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(
                    f"{layer}: `{name}` must be a positive number of steps or None, "
                    f"got {value!r}."
                )
        if not isinstance(self.unroll, bool) and (
            not isinstance(self.unroll, int) or self.unroll < 1
        ):
            raise ValueError(
                f"{layer}: `unroll` must be True, False or a positive number of "
                f"steps, got {self.unroll!r}."
            )
        if self.chunk is not None and self.layerwise is False:
            raise ValueError(
                f"{layer}: `chunk` runs the layers one after the other within "
                f"chunks of steps; layerwise=False steps the whole model instead. "
                f"Give one of the two."
            )
        if self.chunk is not None and self.checkpoint is not None:
            raise ValueError(
                f"{layer}: `chunk` and `checkpoint` cannot be combined; "
                f"`checkpoint` alone bounds the memory (step by step)."
            )
        return self

    def plan(
        self,
        layer: str,
        xs_shape: tuple[int, ...],
        layers: Sequence[Any] | None = None,
        batch_ndim: int = 1,
        differentiated: bool = True,
    ) -> tuple[str, int]:
        """The strategy and the chunk length (the whole sequence unless chunked).

        The strategy is ``"layerwise"``, ``"chunked"`` or ``"stepwise"``;
        `layers` is a `Sequential`'s chain (``None``: any other model, which
        only steps), `batch_ndim` the number of batch axes of `xs`, and
        `differentiated` whether the run is being differentiated (a training
        step) or not (inference).

        Left open (``layerwise=None``, no `chunk`), the plan is step-wise
        with `checkpoint` (only the step-wise scan bounds the memory), else
        `choose_strategy`'s.
        """
        T = xs_shape[0]
        if layers is None or self.layerwise is False:
            return "stepwise", T
        if self.chunk is not None:
            return ("chunked", self.chunk) if self.chunk < T else ("layerwise", T)
        if self.layerwise is None:
            if self.checkpoint is not None:
                return "stepwise", T
            strategy, chunk = choose_strategy(
                layers, xs_shape, batch_ndim, differentiated
            )
            return strategy, chunk or T
        return "layerwise", T


CHUNK = 20
"""The chunk length `choose_strategy` picks (steps)."""


def choose_strategy(
    layers: Sequence[Any],
    xs_shape: tuple[int, ...],
    batch_ndim: int,
    differentiated: bool = True,
) -> tuple[str, int]:
    """Layer-wise, chunked or step-wise for a chain, by shape.

    With ``rows`` the examples per step and ``width`` the widest neuron
    layer (units per example):

    - in a training step (`differentiated`), step by step once ``rows *
      width >= 2**16``, else layer by layer: the backward pass keeps every
      step's state anyway, and one large matmul over all ``T * rows`` rows
      beats ``T`` small ones until a step's own matmuls are large;
    - in inference, step by step from 256 rows; else in chunks of `CHUNK`
      steps once ``T * rows * width >= 2**21`` (the whole sequence of a
      layer no longer fits in cache, a chunk does); else layer by layer.

    Measured on a 2-core CPU with `benchmarks/strategies.py` (a grid of
    shapes, every neuron; see the performance page), where no single
    strategy wins everywhere. Returns ``(strategy, chunk length)`` with the
    chunk length 0 unless chunked.
    """
    T = xs_shape[0]
    rows = math.prod(xs_shape[1 : 1 + batch_ndim])
    width = max(
        (
            math.prod(layer.hidden_shape)
            for layer in layers
            if getattr(layer, "spec", None) is not None
            and hasattr(layer, "hidden_shape")
        ),
        default=1,
    )
    if differentiated:
        return ("stepwise", 0) if rows * width >= 2**16 else ("layerwise", 0)
    if rows >= 256:
        return "stepwise", 0
    if T * rows * width >= 2**21 and CHUNK < T:
        return "chunked", CHUNK
    return "layerwise", 0


def run_model(
    model: Callable[[Any, Any], tuple[Any, Any]],
    xs: Array,
    state: Any,
    *,
    layer: str,
    batch_size: int | None,
    execution: Execution = Execution(),
    sequential: bool = False,
    apply_rows: Callable[..., Callable[[Array], Array]] | None = None,
    key: Any = None,
    check: Callable[[int, Array], None] | None = None,
    differentiated: bool = True,
    default_batch_ndim: int = 0,
) -> tuple[Any, Any]:
    """The `run` of both front ends.

    With ``state=None`` the model's zero state for `batch_size` (``None``:
    one example) is built in `state_dtype` of `xs`'s dtype (float32 for
    bfloat16 data); a model without one is a clear `TypeError` naming
    `layer`. For a `sequential` model (a front end's `Sequential`, whose
    ``layers`` run one after the other), the state is checked against its
    layers, and `execution` picks the strategy (`Execution.plan`): layer by
    layer (`run_layerwise`), in chunks (`run_chunked`), or `model` stepped
    by `time_scan`, which is the only strategy for any other model.

    With a PRNG `key`, the layers that take one get their keys as
    `spyx.core.row_keys` derives them (the same for every strategy); a
    model stepped as a whole is called as ``model(x_t, state, key=k_t)`` if
    it takes a key. `check` is passed to the layer-wise runners (a
    `Sequential` checks its layers' inputs itself when stepped).
    `differentiated` is false for an inference-only run (see
    `under_differentiation`), and `default_batch_ndim` the number of batch
    axes of a step's input when no layer's state says (a chain of stateless
    layers).

    Example: ``outs, final = run_model(neuron, xs, None, layer="run", batch_size=B)``.
    """
    if not callable(model):
        raise TypeError(f"{layer}: `model` must be callable as model(x_t, state).")
    ex = execution.check(layer)
    if state is None:
        if not is_stateful(model):
            raise TypeError(
                f"{layer}: no `state` was given and the model has no "
                f"initial_state(batch_size). Pass state=... explicitly, or wrap "
                f"the model in a Sequential together with a stateful layer."
            )
        state = initial_state_of(model, batch_size, state_dtype(xs.dtype))
    layers, batch_ndim = None, 0
    graph = isinstance(model, GraphContainer)
    if sequential:
        check_sequential_state(model.layers, state)
        layers = model.layers
        batch_ndim = sequential_batch_ndim(layers, state, default_batch_ndim)
    elif graph:
        plan = current_plan(model)
        check_graph_state(plan, model.nodes, state)
        layers = [model.nodes[n] for n in plan.names]
        batch_ndim = graph_batch_ndim(plan, model.nodes, state, default_batch_ndim)
    strategy, chunk = ex.plan(
        layer, tuple(xs.shape), layers, batch_ndim, differentiated
    )
    if strategy != "stepwise" and graph:
        return _run_graph(
            model, xs, state, strategy, chunk, batch_ndim, apply_rows, ex, key, check
        )
    if strategy != "stepwise":
        shared = {
            "batch_ndim": batch_ndim,
            "apply_rows": apply_rows or (lambda layer: layer),
            "unroll": ex.unroll,
            "keys": None
            if key is None
            else row_keys(key, model.layers, xs.shape[0], xs.shape[1 : 1 + batch_ndim]),
            "check": check,
        }
        if strategy == "chunked":
            return run_chunked(model.layers, xs, state, chunk=chunk, **shared)
        return run_layerwise(
            model.layers, xs, state, checkpoint=ex.checkpoint, **shared
        )
    if key is None or not takes_key(model):
        return time_scan(model, xs, state, unroll=ex.unroll, checkpoint=ex.checkpoint)
    return time_scan(
        lambda xk, s: model(xk[0], s, key=xk[1]),
        (xs, jax.random.split(key, xs.shape[0])),
        state,
        unroll=ex.unroll,
        checkpoint=ex.checkpoint,
    )


def check_burnin(layer: str, burnin: Any, T: int) -> None:
    """`burnin` is a number of steps from 0 to the sequence's `T`."""
    if isinstance(burnin, bool) or not isinstance(burnin, int) or not 0 <= burnin <= T:
        raise ValueError(
            f"{layer}: `burnin` must be a number of steps from 0 to the sequence's "
            f"{T}, got {burnin!r}."
        )


def with_burnin(
    layer: str,
    run: Callable[[Array, Any, Any], tuple[Array, Any]],
    xs: Array,
    state: Any,
    burnin: int,
    batch_major: bool = False,
    key: Any = None,
) -> tuple[Array, Any]:
    """`run` over `xs` whose first `burnin` steps carry no gradient.

    ``run(x, state, key) -> (outs, final)`` runs the first `burnin` steps,
    both its outputs and the state it reaches are cut from the gradient
    (`jax.lax.stop_gradient`), and the rest of the sequence runs on from
    that state. The outputs of all steps come back, so the values equal a
    run without burn-in (without a key); a training loss sees gradients
    only through the steps after it. With a `key`, each part gets a key of
    its own (``split(key)``). `xs` is time-major, or batch-major with
    `batch_major`.
    """
    axis = 1 if batch_major else 0
    T = xs.shape[axis] if xs.ndim > axis else 0
    check_burnin(layer, burnin, T)
    keys = (None, None) if key is None else tuple(jax.random.split(key))
    if burnin == 0:
        return run(xs, state, key)
    first, rest = jnp.split(xs, [burnin], axis=axis)
    outs, state = jax.lax.stop_gradient(run(first, state, keys[0]))
    if burnin == T:
        return outs, state
    later, state = run(rest, state, keys[1])
    return jnp.concatenate([outs, later], axis=axis), state


def _run_graph(
    model: Any,
    xs: Array,
    state: Any,
    strategy: str,
    chunk: int,
    batch_ndim: int,
    apply_rows: Any,
    ex: Execution,
    key: Any,
    check: Any,
) -> tuple[Array, Any]:
    """A graph layer-wise (`run_graph_layerwise`) or in chunks."""
    plan, nodes = current_plan(model), model.nodes
    batch = tuple(xs.shape[1 : 1 + batch_ndim])
    keys = None if key is None else graph_row_keys(key, plan, nodes, len(xs), batch)
    options = {"batch_ndim": batch_ndim, "apply_rows": apply_rows or (lambda f: f)}

    def run(x: Array, state: Any, keys: Any, check: Any = None) -> Any:
        return run_graph_layerwise(
            plan, nodes, x, state, unroll=ex.unroll, keys=keys, check=check, **options
        )

    if strategy == "chunked":
        return in_chunks(run, xs, dict(state), keys, chunk, check)
    return run_graph_layerwise(
        plan,
        nodes,
        xs,
        state,
        unroll=ex.unroll,
        checkpoint=ex.checkpoint,
        keys=keys,
        check=check,
        **options,
    )
