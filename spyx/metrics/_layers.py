"""What a layer is, for counting: its kind, its arrays, its connection
weights, and its connection applied with binarized weights.

Flax and Equinox are looked up in `sys.modules` rather than imported: a
model of one API can only exist once that API is loaded, so an Equinox user
never pulls in Flax here (and the reverse).
"""

import functools
import math
import sys
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from spyx import core
from spyx.core import _frontend as frontend

__all__ = [
    "CONNECTION",
    "CONTAINER",
    "GRAPH",
    "NEURON",
    "UNKNOWN",
    "ZERO_OPS",
    "apply_binary",
    "array_counts",
    "connection_weights",
    "framework",
    "inner",
    "is_activation",
    "kind_of",
    "recurrent_binary",
]

CONNECTION, NEURON, CONTAINER, GRAPH, ZERO_OPS, UNKNOWN = (
    "connection",
    "neuron",
    "container",
    "graph",
    "zero-ops",
    "unknown",
)

# spyx's own layers that move or sum values without weights.
_SPYX_ZERO_OPS = frozenset(
    {"Flatten", "SumPool", "PopulationCode", "ActivityRegularization"}
)
# Equinox's layers without synapses.
_EQX_ZERO_OPS = ("Pool", "Dropout", "Identity")


def _nnx() -> Any:
    return sys.modules.get("flax.nnx")


def _eqx() -> Any:
    return sys.modules.get("equinox")


def framework(model: Any) -> str:
    """``"nnx"`` or ``"eqx"``: the API `model` is built with."""
    nnx, eqx = _nnx(), _eqx()
    if nnx is not None and isinstance(model, nnx.Module):
        return "nnx"
    if eqx is not None and isinstance(model, eqx.Module):
        return "eqx"
    raise TypeError(
        f"spyx.metrics: the model must be a Flax NNX or an Equinox module, got "
        f"{type(model).__name__}."
    )


def is_activation(layer: Any) -> bool:
    """An elementwise activation NeuroBench counts in activation sparsity
    (ReLU, sigmoid), as a plain function or in `eqx.nn.Lambda`."""
    eqx = _eqx()
    if eqx is not None and isinstance(layer, eqx.nn.Lambda):
        layer = layer.fn
    return layer is jax.nn.relu or layer is jax.nn.sigmoid


def _spyx_layer(layer: Any, name: str) -> bool:
    return type(layer).__name__ == name and type(layer).__module__.startswith(
        ("spyx.", "spyx_eqx.")
    )


def inner(layer: Any) -> Any:
    """The layer that does the work: the one `spyx_eqx.ChannelsLast` wraps,
    else `layer` itself."""
    return layer.layer if _spyx_layer(layer, "ChannelsLast") else layer


def kind_of(layer: Any) -> str:
    """How `layer` is counted: a connection (Linear, Conv), a neuron, a
    chain, a graph, a layer without synapses, or unknown."""
    if _spyx_layer(layer, "ChannelsLast"):
        return kind_of(layer.layer)
    if isinstance(getattr(type(layer), "spec", None), core.NeuronSpec):
        return NEURON
    if isinstance(layer, frontend.GraphContainer) and hasattr(layer, "initial_state"):
        return GRAPH
    if isinstance(layer, frontend.Container) and hasattr(layer, "initial_state"):
        return CONTAINER
    nnx, eqx = _nnx(), _eqx()
    if nnx is not None and isinstance(layer, nnx.Linear | nnx.Conv):
        return CONNECTION
    if eqx is not None:
        if isinstance(layer, eqx.nn.Linear | eqx.nn.Conv):
            return CONNECTION
        if any(isinstance(layer, getattr(eqx.nn, n)) for n in _EQX_ZERO_OPS):
            return ZERO_OPS
    if nnx is not None and isinstance(layer, nnx.Dropout):
        return ZERO_OPS
    if any(_spyx_layer(layer, name) for name in _SPYX_ZERO_OPS):
        return ZERO_OPS
    if is_activation(layer):
        return ZERO_OPS
    return UNKNOWN


def _is_key(a: Any) -> bool:
    return jnp.issubdtype(a.dtype, jax.dtypes.prng_key)


def _leaves(layer: Any) -> tuple[list[Array], list[Array]]:
    """``(parameters, every array)`` of a layer: NNX's `nnx.Param`s and all
    its variables but random-number state; Equinox's floating arrays and
    all its arrays, leaving out `eqx.nn.StateIndex` (a run's state, which an
    NNX layer does not hold either) and keys."""
    if framework(layer) == "nnx":
        nnx = _nnx()
        params = jax.tree.leaves(nnx.state(layer, nnx.Param))
        held = jax.tree.leaves(nnx.state(layer, nnx.Not(nnx.RngState)))
    else:
        eqx = _eqx()
        found = jax.tree.leaves(
            layer, is_leaf=lambda v: isinstance(v, eqx.nn.StateIndex)
        )
        held = [a for a in found if eqx.is_array(a)]
        params = [a for a in held if eqx.is_inexact_array(a)]
    return params, [a for a in held if not _is_key(a)]


def array_counts(layer: Any) -> tuple[int, int]:
    """``(parameter count, footprint in bytes)``: the number of parameter
    entries, and the bytes of every array the layer holds (NeuroBench's
    parameters plus buffers)."""
    params, held = _leaves(layer)
    count = sum(math.prod(a.shape) for a in params)
    footprint = sum(math.prod(a.shape) * a.dtype.itemsize for a in held)
    return int(count), int(footprint)


def _value(variable: Any) -> Array:
    return variable[...] if hasattr(variable, "get_value") else variable


def connection_weights(layer: Any) -> list[np.ndarray]:
    """The synaptic weights of `layer`: a Linear's or Conv's kernel (not its
    bias), a recurrent neuron's `recurrent_w`; empty for anything else."""
    kind = kind_of(layer)
    if kind == CONNECTION:
        name = "kernel" if framework(layer) == "nnx" else "weight"
        return [np.asarray(_value(getattr(inner(layer), name)))]
    if kind == NEURON and layer.spec.recurrent:
        return [np.asarray(_value(layer.recurrent_w))]
    return []


def _binary(w: Any, all_ones: bool) -> Array:
    return jnp.ones_like(w) if all_ones else (w != 0).astype(w.dtype)


@functools.partial(jax.jit, static_argnums=0)
def _nnx_rows(graphdef: Any, state: Any, rows: Array) -> Array:
    return _nnx().merge(graphdef, state)(rows)


def _eqx_rows(model: Any, rows: Array) -> Array:
    return jax.vmap(model)(rows)


def apply_binary(layer: Any, all_ones: bool) -> Callable[[np.ndarray], np.ndarray]:
    """The connection `layer` with each weight replaced by 1 where it is
    nonzero (every weight by 1 when `all_ones`) and no bias, as a compiled
    map of rows ``[R, *example_in] -> [R, *example_out]``.

    Applied to the 0/1 indicator of an input, each output entry counts the
    nonzero synapses that reach it from nonzero inputs (NeuroBench's binary
    copy of the layer): its sum is the number of synaptic operations,
    padding, strides, dilation and groups included.
    """
    if framework(layer) == "nnx":
        nnx = _nnx()
        copy = nnx.clone(layer)
        copy.kernel[...] = _binary(copy.kernel[...], all_ones)
        if getattr(copy, "bias", None) is not None:
            copy.bias[...] = jnp.zeros_like(copy.bias[...])
        graphdef, state = nnx.split(copy)
        return lambda rows: np.asarray(_nnx_rows(graphdef, state, rows))
    eqx = _eqx()
    conn = inner(layer)
    weight = _binary(conn.weight, all_ones)
    copy = eqx.tree_at(lambda m: inner(m).weight, layer, weight)
    if getattr(conn, "bias", None) is not None:
        zeros = jnp.zeros_like(conn.bias)
        copy = eqx.tree_at(lambda m: inner(m).bias, copy, zeros)
    run = eqx.filter_jit(_eqx_rows)
    return lambda rows: np.asarray(run(copy, rows))


def recurrent_binary(layer: Any, all_ones: bool) -> Callable[[np.ndarray], np.ndarray]:
    """A recurrent neuron's feedback ``s @ W`` with binarized `W`, on rows
    ``[R, *hidden_shape]`` (see `apply_binary`)."""
    w = connection_weights(layer)[0]
    w = np.ones_like(w) if all_ones else (w != 0).astype(w.dtype)
    return lambda rows: rows @ w
