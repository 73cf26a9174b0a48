"""How one PRNG key reaches the layers of a model run through time.

`run(model, x, state, key=k)` gives time step ``t`` the key
``split(k, T)[t]``; a chain gives its ``l``-th layer ``split(k_t, L)[l]``;
a one-example layer mapped over a batch gives example ``b``
``split(k_tl, B)[b]``. Layer-wise and step-wise runs derive the same keys, so
they draw the same random numbers (a dropout mask is the same either way).
Only layers whose call takes a `key` argument receive one.
"""

import inspect
import math
from collections.abc import Sequence
from typing import Any

import jax
from jax import Array

from .._checks import is_stateful

__all__ = ["example_keys", "layer_keys", "row_keys", "takes_key"]


def takes_key(layer: Any) -> bool:
    """Whether a layer takes a `key` keyword.

    Whether ``layer(...)`` accepts a `key` keyword (`eqx.nn.Dropout` and
    every `eqx.nn` layer do; the spyx neurons do not).

    Example: ``takes_key(eqx.nn.Dropout(0.5))`` is ``True``.
    """
    declared = getattr(layer, "_takes_key", None)  # accepts one, uses none
    if declared is not None:
        return declared
    try:
        params = inspect.signature(layer).parameters
    except (TypeError, ValueError):
        return False
    return "key" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )


def layer_keys(key: Array | None, layers: Sequence[Any]) -> list[Array | None]:
    """One key per layer of a chain.

    One key per layer of a chain (``split(key, len(layers))``), ``None``
    for the layers that take none, or all ``None`` when `key` is ``None``."""
    if key is None:
        return [None] * len(layers)
    keys = jax.random.split(key, len(layers))
    return [
        k if takes_key(layer) else None for k, layer in zip(keys, layers, strict=True)
    ]


def example_keys(key: Array, batch: tuple[int, ...]) -> Array:
    """One key per example of a batch.

    Keys ``batch``-shaped for a one-example layer mapped over `batch`
    axes (`key` itself when there are none)."""
    if not batch:
        return key
    keys = jax.random.split(key, math.prod(batch))
    return keys.reshape(*batch, *keys.shape[1:])


def row_keys(
    key: Array, layers: Sequence[Any], T: int, batch: tuple[int, ...]
) -> list[Array | None]:
    """The keys of a layer-wise run.

    The keys of a layer-wise run: per layer, what the step-wise run would
    give it at every step: ``[T, *batch]`` for a stateless layer (one per
    example and step), ``[T]`` for a stateful one, ``None`` if it takes no
    key. Stateless means ``is_stateful`` is false."""
    steps = jax.random.split(key, T)
    per_step = jax.vmap(lambda k: jax.random.split(k, len(layers)))(steps)
    out: list[Array | None] = []
    for i, layer in enumerate(layers):
        if not takes_key(layer):
            out.append(None)
        elif is_stateful(layer):
            out.append(per_step[:, i])
        else:
            out.append(jax.vmap(lambda k: example_keys(k, batch))(per_step[:, i]))
    return out
