"""A stateless layer applied to rows: the batch axes merged into one, and,
over a whole sequence, mapped over the time axis."""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
from jax import Array

__all__ = ["PerStep", "apply_stateless"]


class PerStep(NamedTuple):
    """What a front end's ``apply_rows`` returns for a layer that may work
    across the examples of a step (a plain function, a module of unknown
    kind): over a sequence it is mapped over the time axis, so that each
    call sees one step's examples as when stepping, instead of every step's
    rows at once."""

    fn: Callable[[Array], Array]


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
    *,
    over_time: bool = False,
) -> Array:
    """A stateless layer on `xs` whose `n` leading axes are batch axes: the
    one path of `step_layers` and, with `over_time` (a leading time axis
    before them), of `run_layerwise` and the graphs' layer-wise run.

    `apply_rows` is the front end's ``(layer, keys=None) -> f`` with
    ``f: [N, ...] -> [N, ...]``; `keys` has the leading axes of `xs`. Over
    time, a layer that works row by row (Linear, Conv, per-example layers)
    gets the time and batch axes merged into rows, one call for the whole
    sequence; one the front end returns as `PerStep` is mapped over the time
    axis (`jax.vmap`), so that what it computes across a step's examples (a
    normalisation, a centring) is what stepping computes."""

    def rows_of(x: Array, k: Array | None, lead: int) -> Array:
        f = apply_rows(layer) if k is None else apply_rows(layer, _rows(k, lead))
        return _merge_leading(f.fn if isinstance(f, PerStep) else f, x, lead)

    if over_time and keys is None and isinstance(apply_rows(layer), PerStep):
        return jax.vmap(lambda x: rows_of(x, None, n))(xs)
    return rows_of(xs, keys, n + 1 if over_time else n)


def _rows(keys: Array, n: int) -> Array:
    """Per-row keys: the `n` leading axes of `keys` merged into one."""
    return keys.reshape(-1, *keys.shape[n:])
