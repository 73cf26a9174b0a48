"""What the two front ends' `run` share around the core's `run_model`: the
layers to record, burn-in, and the records brought into the caller's
layout."""

from collections.abc import Callable
from typing import Any

from jax import Array

from .._checks import GraphContainer
from .._execution import Record, record_selection, records_of, with_burnin
from .._scans import from_time_major

__all__ = ["RunOnce", "run_front", "split_records"]

RunOnce = Callable[[Array, Any, Any, Any], tuple[Array, Any, Any]]
"""``(x, state, key, selection) -> (outputs, final, records or None)``: a
front end's run of the whole sequence without burn-in."""


def run_front(
    label: str,
    model: Any,
    x: Array,
    state: Any,
    *,
    burnin: int,
    batch_major: bool,
    key: Any,
    record: Any,
    run_once: RunOnce,
) -> tuple[Any, ...]:
    """A front end's `run`: `record` checked against the model before any
    computation (`record_selection`), the first `burnin` steps run without
    gradient (`with_burnin`, records included), and ``(outputs, final)``
    returned, or ``(outputs, final, records)`` when recording."""
    selection = record_selection(label, record, model)
    if burnin == 0:
        outs, final, records = run_once(x, state, key, selection)
    else:

        def part(x: Array, state: Any, key: Any) -> tuple[Any, Any]:
            outs, final, records = run_once(x, state, key, selection)
            return (outs, records), final

        (outs, records), final = with_burnin(
            label, part, x, state, burnin, batch_major, key
        )
    return (outs, final) if selection is None else (outs, final, records)


def split_records(
    outs: Any,
    selection: Any,
    model: Any,
    batch_major: bool,
    inner: Callable[[Any, Any], Any] | None = None,
) -> tuple[Any, dict[Any, Record] | None]:
    """`run_model`'s outputs as ``(outputs, records)`` in the caller's layout
    (batch-major with `batch_major`); ``records`` is ``None`` without a
    selection. `inner` maps ``(position, state)`` to the state the user
    knows (a front end that carries more in a layer's state)."""
    if selection is None:
        return from_time_major(outs, batch_major), None
    outs, kept = outs
    if inner is not None:
        kept = {k: (out, inner(k, s)) for k, (out, s) in kept.items()}
    members = model.nodes if isinstance(model, GraphContainer) else model.layers
    records = records_of(members, kept)
    return from_time_major(outs, batch_major), from_time_major(records, batch_major)
