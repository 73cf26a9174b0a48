"""NNX layers whose own variables change as they run, inside `run`'s scans.

An `nnx.Dropout` advances its RNG counter at every call, an `nnx.BatchNorm`
in training mode updates its batch statistics: NNX writes those variables
in place, which a `jax.lax.scan` body (one step of `run`) may not do to a
module built outside it. `run` therefore hands the core a `Threaded` twin of
each such layer: a pure stateful layer whose state is the layer's own state
and its variables, rebuilt from them at every step (`nnx.merge`) and read
back after it, as `nnx.scan` would carry them. After the run the variables
the layer reached are written back into it (`nnx.update`).

A threaded layer runs step by step in every execution (it is stateful to
the core), so what it computes per step (a dropout mask, batch statistics
over the step's examples, each update of the running averages) is what
stepping the model by hand computes.
"""

from collections.abc import Mapping
from typing import Any

from flax import nnx
from flax.nnx import graphlib, statelib
from jax import Array

from .. import core
from ..core import _frontend as frontend

__all__ = [
    "Captured",
    "Threaded",
    "capturing",
    "holds_variables",
    "share_variables",
    "thread",
    "unthread",
]

_OWN = nnx.Not(nnx.Param)  # what a layer carries besides its parameters


def holds_variables(layer: Any) -> bool:
    """Whether an NNX layer holds variables other than parameters (RNG
    state, batch statistics, ...); spyx's own layers hold none."""
    return bool(_own_variables(layer))


def _own_variables(layer: Any) -> set[int]:
    """The identities of a layer's variables other than parameters."""
    if not isinstance(layer, nnx.Module):
        return set()
    flat = graphlib.flatten(layer)[1]
    return {id(var) for _, var in flat if not isinstance(var, nnx.Param)}


def share_variables(layers: Any) -> bool:
    """Whether two of `layers` hold the same variable (one `nnx.Rngs`
    stream, or one layer, used in two places): their twins would each
    carry a copy, so the model must be stepped as a whole."""
    seen: set[int] = set()
    for layer in layers:
        own = _own_variables(layer)
        if own & seen:
            return True
        seen |= own
    return False


class Threaded:
    """`layer` as a pure stateful layer whose state is ``(layer_state,
    variables)``; `layer_state` is ``None`` for a stateless layer."""

    def __init__(self, layer: Any):
        self.layer = layer
        self.stateful = core.is_stateful(layer)
        self.graphdef, self.params, self.variables = nnx.split(layer, nnx.Param, _OWN)

    def initial_state(self, batch_size: int | None, dtype: Any = None) -> tuple:
        inner = frontend.initial_state_of(self.layer, batch_size, dtype)
        return inner, self.variables

    def state_batch_ndim(self, state: Any) -> int | None:
        """Batch axes of the layer's own state (see `state_batch_ndim`)."""
        return frontend.state_batch_ndim(self.layer, state[0])

    def __call__(self, x: Array, state: tuple, key: Any = None) -> tuple:
        inner, variables = state
        layer = nnx.merge(self.graphdef, self.params, variables)
        if not self.stateful:
            out = layer(x)
        elif key is None:
            out, inner = layer(x, inner)
        else:
            out, inner = layer(x, inner, key=key)
        return out, (inner, nnx.state(layer, _OWN))


def thread(layers: Mapping[Any, Any] | list, state: Any) -> tuple[Any, Any]:
    """Each layer that `holds_variables` as its `Threaded` twin, with its
    state entry paired with its variables; the others as they are."""
    items = layers.items() if isinstance(layers, Mapping) else enumerate(layers)
    twins, states = {}, {}
    for k, layer in items:
        if holds_variables(layer):
            twins[k] = Threaded(layer)
            states[k] = (state[k], twins[k].variables)
        else:
            twins[k], states[k] = layer, state[k]
    if isinstance(layers, Mapping):
        return twins, {**state, **states}
    return [twins[i] for i in range(len(layers))], [
        states[i] for i in range(len(layers))
    ]


def unthread(twins: Mapping[Any, Any] | list, state: Any) -> Any:
    """The state without the threaded variables, which are written back
    into their layers (`nnx.update`)."""
    items = twins.items() if isinstance(twins, Mapping) else enumerate(twins)
    out = dict(state) if isinstance(twins, Mapping) else list(state)
    for k, twin in items:
        if isinstance(twin, Threaded):
            out[k], variables = state[k]
            nnx.update(twin.layer, variables)
    return out


def capturing(model: Any) -> bool:
    """Whether `model` runs inside `nnx.capture` (its modules collect what
    they `sow`)."""
    return isinstance(model, nnx.Module) and any(
        hasattr(m, "__captures__") for _, m in nnx.iter_modules(model)
    )


class Captured:
    """A whole model run under `nnx.capture`, as a pure stateful layer.

    Its state is ``(model_state, values)``, `values` the model's variables
    other than parameters and captures, carried as a flat list (a capture
    adds string keys beside a list's integer ones, which a pytree of the
    state cannot sort). Each step starts from empty captures and returns
    what it sowed beside its output, ``(out, sown)``, so that the scan
    stacks it over time; `write_back` adds the stacked values to the
    model's captures."""

    def __init__(self, model: Any):
        self.model = model
        self.graphdef, flat = graphlib.flatten(model)
        self.paths = [path for path, _ in flat]
        self.templates = [var for _, var in flat]
        self.sown = {i for i, path in enumerate(self.paths) if "__captures__" in path}
        self.fixed = {
            i for i, var in enumerate(self.templates) if isinstance(var, nnx.Param)
        }
        self.values = [
            var.get_value()
            for i, var in enumerate(self.templates)
            if i not in self.sown | self.fixed
        ]

    def __call__(self, x: Array, state: tuple) -> tuple:
        inner, values = state
        carried = iter(values)
        rebuilt = []
        for i, var in enumerate(self.templates):
            if i in self.fixed:
                rebuilt.append(var.replace(var.get_value()))
            else:
                rebuilt.append(var.replace({} if i in self.sown else next(carried)))
        flat = statelib.FlatState(zip(self.paths, rebuilt, strict=True), sort=False)
        model = graphlib.unflatten(self.graphdef, flat)
        out, inner = model(x, inner)
        after = [var.get_value() for _, var in graphlib.flatten(model)[1]]
        sown = [after[i] for i in sorted(self.sown)]
        for i, held in zip(sorted(self.sown), sown, strict=True):
            for name, value in held.items():
                if not isinstance(value, tuple):
                    where = "/".join(map(str, self.paths[i][:-2])) or "the model"
                    raise TypeError(
                        f"run under nnx.capture: {where} sows {name!r} with a "
                        f"reduce_fn of its own; run stacks each "
                        f"step's sown values over time (one [T, ...] array per sow "
                        f"call). Sow with the default reduction and reduce the "
                        f"stacked array afterwards."
                    )
        values = [v for i, v in enumerate(after) if i not in self.sown | self.fixed]
        return (out, sown), (inner, values)

    def write_back(self, sown: list, values: list) -> None:
        """Each capture gets, per name, one ``[T, ...]`` array per value
        the step sowed under it (after what it already held); the other
        variables take their values after the run."""
        carried = iter(values)
        for i, path in enumerate(self.paths):
            if i not in self.sown | self.fixed:
                _variable_at(self.model, path).set_value(next(carried))
        for i, stacked in zip(sorted(self.sown), sown, strict=True):
            target = _variable_at(self.model, self.paths[i])
            held = dict(target.get_value())
            for name, values_t in stacked.items():
                before = held.get(name, ())
                held[name] = (*before, *values_t)
            target.set_value(held)


def _variable_at(model: Any, path: tuple) -> Any:
    obj = model
    for key in path:
        if isinstance(obj, tuple | list) or (
            isinstance(obj, Mapping | nnx.List | nnx.Dict) and not isinstance(key, str)
        ):
            obj = obj[key]
        elif isinstance(obj, Mapping | nnx.Dict) and key in obj:
            obj = obj[key]
        else:
            obj = getattr(obj, key)
    return obj
