"""What input a layer expects, checked before a chain or `run` computes.

A front end describes its own stateless layers (``nnx.Linear`` takes
``(..., in_features)``, ``eqx.nn.Conv2d`` one example ``(C, H, W)``); neurons
and activity counters expect their ``hidden_shape``; a chain expects what its
first layer does. A mismatch is then one error that names the layer, its
position and both shapes, instead of a ``dot_general`` error from inside.
"""

from collections.abc import Callable
from typing import Any, Protocol

from ._protocols import Container, GraphContainer, is_stateful
from ._shapes import state_batch_ndim

__all__ = [
    "ExampleShape",
    "batch_from_input",
    "check_not_empty",
    "check_chain_inputs",
    "check_layer_input",
    "check_model_input",
    "expected_input",
    "layer_checker",
    "output_shape",
    "show_shape",
]

ExampleShape = tuple[int | None, ...]
"""One example's input shape; ``None`` marks an axis of any size."""

Describe = Callable[[Any], ExampleShape | None]


def expected_input(layer: Any, describe: Describe) -> ExampleShape | None:
    """The per-example input shape `layer` expects, or ``None`` if unknown.

    Args:
        layer: a neuron, a chain (its first layer counts) or a stateless
            layer.
        describe: the front end's ``layer -> shape or None`` for its own
            stateless layers (linear and convolution layers).

    Example: ``expected_input(spyx.nn.LIF((16,)), describe)`` is ``(16,)``.
    """
    if isinstance(layer, Container):
        layers = list(layer.layers)
        return expected_input(layers[0], describe) if layers else None
    if isinstance(layer, GraphContainer):
        for a, b in layer.plan.edges:
            want = None if a != "input" or b == "output" else layer.nodes[b]
            if want is not None and expected_input(want, describe) is not None:
                return expected_input(want, describe)
        return None
    shape = getattr(layer, "hidden_shape", None)
    if is_stateful(layer) and shape is not None:
        return tuple(shape)
    return describe(layer)


def output_shape(layer: Any) -> ExampleShape | None:
    """One example's output shape where a layer says it: a neuron's
    `hidden_shape`, a linear layer's ``(out_features,)``, a channels-last
    convolution's ``(*, ..., out_features)`` (its spatial sizes follow its
    input), a chain's last layer's; else ``None``."""
    if isinstance(layer, Container):
        layers = list(layer.layers)
        return output_shape(layers[-1]) if layers else None
    shape = getattr(layer, "hidden_shape", None)
    if is_stateful(layer) and shape is not None:
        return tuple(shape)
    out = getattr(layer, "out_features", None)
    if not isinstance(out, int) or isinstance(out, bool):
        return None
    kernel = getattr(layer, "kernel_size", None)
    if kernel is not None:  # `nnx.Conv`: [*spatial, out_features]
        spatial = len(kernel) if isinstance(kernel, tuple | list) else 1
        return (*([None] * spatial), out)
    return (out,)


def show_shape(shape: ExampleShape) -> str:
    """``(None, None, 3)`` -> ``"(*, *, 3)"``."""
    inner = ", ".join("*" if d is None else str(d) for d in shape)
    return f"({inner}{',' if len(shape) == 1 else ''})"


def _fits(x_shape: tuple[int, ...], want: ExampleShape) -> bool:
    if len(x_shape) < len(want):
        return False
    tail = x_shape[len(x_shape) - len(want) :]
    return all(w is None or w == d for w, d in zip(want, tail, strict=True))


def check_layer_input(
    label: str, x: Any, want: ExampleShape | None, *, lead: str = ""
) -> None:
    """Raise a `ValueError` naming `label` if `x` does not end in `want`.

    Args:
        label: names the layer, e.g. ``"Sequential layer 0 (Linear)"``.
        x: the input.
        want: the expected per-example shape (``None``: nothing to check).
        lead: how the leading axes are described in the message, e.g.
            ``"[Time, Batch, ...]"``.

    Example: ``check_layer_input("Sequential layer 0 (Linear)", x, (700,))``.
    """
    if want is None:
        return
    shape = tuple(x.shape)
    if _fits(shape, want):
        return
    what = (
        f"{want[-1]} input features on the last axis"
        if len(want) == 1 and want[0] is not None
        else f"examples of shape {show_shape(want)}"
    )
    raise ValueError(
        f"{label}: expects {what}, got an input of shape {shape}"
        f"{' (x is ' + lead + ')' if lead else ''}."
    )


class _Layers(Protocol):
    """Layers by index (a chain's list) or by name (a graph's nodes)."""

    def __getitem__(self, key: Any, /) -> Any: ...


def check_chain_inputs(
    layers: _Layers, describe: Describe, prefix: str = "Sequential"
) -> Callable:
    """A per-layer input checker for a chain of layers.

    A per-layer checker for `step_layers` / `run_layerwise`:
    ``(index, x) -> None`` raising with `prefix`, the layer's index and type,
    e.g. ``"Sequential layer 0 (Linear): expects 700 input features ..."``."""

    def check(i: int | str, x: Any) -> None:
        layer = layers[i]
        where = f"layer {i}" if isinstance(i, int) else f"node {i!r}"
        label = f"{prefix} {where} ({type(layer).__name__})"
        check_layer_input(label, x, expected_input(layer, describe))

    return check


def layer_checker(model: Any, describe: Describe, prefix: str) -> Callable | None:
    """The per-layer input checker of a chain (by index) or a graph (by node
    name, `Graph node 'fc' (Linear): ...`); ``None`` for any other model."""
    if isinstance(model, Container):
        return check_chain_inputs(model.layers, describe, prefix)
    if isinstance(model, GraphContainer):
        return check_chain_inputs(model.nodes, describe, prefix)
    return None


def check_model_input(
    label: str, model: Any, x: Any, describe: Describe, lead: str = ""
) -> None:
    """Check `x` against what a model's first layers take: a chain's first
    layer, every graph node fed by the input, or the model itself."""
    if isinstance(model, Container):
        if model.layers:
            check_chain_inputs(model.layers, describe, f"{label}:")(0, x)
    elif isinstance(model, GraphContainer):
        check = check_chain_inputs(model.nodes, describe, f"{label}:")
        for a, b in model.plan.edges:
            if a == "input" and b != "output":
                check(b, x)
    else:
        check_layer_input(label, x, expected_input(model, describe), lead=lead)


def batch_from_input(
    layer: str,
    model: Any,
    x: Any,
    state: Any,
    want: ExampleShape,
    batch: int | None,
) -> int | None:
    """The batch size a missing state is built for.

    The batch size for a missing state (``None``: one example), after
    checking that the batch axes of a time-major `x` (those in front of the
    first layer's `want` example shape) agree with a given `state`'s.

    Args:
        layer: the label for messages.
        model: the model about to run.
        x: the input, ``[T, *batch, *want]``.
        state: the given state, or ``None``.
        want: the example shape, from `expected_input`.
        batch: the batch size already known (batch-major data) or ``None``.

    Example: ``batch_from_input("run(LIF)", lif, jnp.ones((9, 4, 8)), None,
    (8,), None)`` is ``4``.
    """
    x_batch = x.ndim - 1 - len(want)
    if state is None:
        if x_batch == 0:
            return batch
        if x_batch == 1:
            return x.shape[1]
        raise ValueError(
            f"{layer}: `x` of shape {tuple(x.shape)} has {x_batch} batch axes for "
            f"examples of shape {show_shape(want)}; run takes [T, ...] or "
            f"[T, B, ...]. Flatten the batch axes, or jax.vmap over run."
        )
    state_batch = state_batch_ndim(model, state)
    if state_batch is None:
        return batch
    if x_batch != state_batch:
        have = "a batch axis" if x_batch else "no batch axis"
        size = x.shape[1] if x_batch else None
        raise ValueError(
            f"{layer}: `x` of shape {tuple(x.shape)} has {have} (examples of shape "
            f"{show_shape(want)}) but the state has {state_batch} batch "
            f"axes. Pass state=model.initial_state({size}) to match x, or "
            f"jax.vmap over run."
        )
    return batch


def check_not_empty(layer: str, x: Any, batch_axes: int) -> None:
    """Refuse an empty run: no time steps (``T = 0``) or an empty batch.

    A run of nothing has no final state worth returning (and a mean over an
    empty batch is NaN), so both front ends raise this `ValueError` instead
    of returning empty outputs.

    Example: ``check_not_empty("run(LIF)", jnp.ones((0, 4, 8)), 1)`` raises.
    """
    shape = tuple(x.shape)
    if shape[0] == 0:
        raise ValueError(
            f"{layer}: `x` has no time steps (T = 0, shape {shape}); pass at least "
            f"one step."
        )
    if 0 in shape[1 : 1 + batch_axes]:
        raise ValueError(
            f"{layer}: `x` has an empty batch (shape {shape}); pass at least one "
            f"example."
        )
