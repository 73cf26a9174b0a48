"""A stateless layer applied to rows: the leading axes merged into one."""

from collections.abc import Callable
from typing import Any

from jax import Array

__all__ = ["apply_stateless"]


def _merge_leading(fn: Callable[[Array], Array], xs: Array, n: int) -> Array:
    """Apply `fn` to `xs` with its `n` leading axes merged into one."""
    lead = xs.shape[:n]
    out = fn(xs.reshape(-1, *xs.shape[n:]))
    return out.reshape(*lead, *out.shape[1:])


def apply_stateless(
    apply_rows: Callable[..., Callable[[Array], Array]],
    layer: Any,
    xs: Array,
    n: int,
    keys: Array | None = None,
) -> Array:
    """A stateless layer on `xs` whose `n` leading axes are rows: the one
    path of both `run_layerwise` (time and batch axes) and `step_layers`
    (batch axes). `apply_rows` is the front end's ``(layer, keys=None) ->
    f`` with ``f: [N, ...] -> [N, ...]``; `keys` has the `n` leading axes."""
    if keys is None:
        return _merge_leading(apply_rows(layer), xs, n)
    rows = keys.reshape(-1, *keys.shape[n:])
    return _merge_leading(apply_rows(layer, rows), xs, n)
