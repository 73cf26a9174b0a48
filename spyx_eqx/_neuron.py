"""The base classes behind every `spyx_eqx` neuron.

A neuron class names its row of the neuron table (``spec = core.LIF``),
declares its parameter fields and its constructor; set-up, invariants, the
typed step, the whole-sequence path and the parallel path live here, once,
over `spyx.core`.
"""

from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array
from jaxtyping import Float

from spyx import core
from spyx.core import _frontend as frontend

from ._custom_types import AnyArray, input_checked
from ._state import stateful_call

__all__ = ["Neuron", "SpikingNeuron", "eqx_class"]

SpikeFn = Callable[[Array], Array]


def eqx_class(spec: core.NeuronSpec) -> type:
    """The `spyx_eqx` class declared for `spec` (the first one to name it).

    Example: ``eqx_class(spyx.core.LIF) is spyx_eqx.LIF``.
    """
    return Neuron.class_for(spec)


class Neuron(frontend.NeuronBase, eqx.nn.StatefulLayer):
    """Shared behaviour of the `spyx_eqx` neurons, driven by the class's `spec`.

    A subclass declares one `Array` field per name in ``spec.params``
    (``beta: Array``, ``recurrent_w: Array``, ...). Modules act on one example and
    accept leading batch axes: `x` is ``(*batch, *hidden_shape)``.

    Every neuron is also an `eqx.nn.StatefulLayer`: called with an
    `eqx.nn.State` it keeps its state there, behind its `state_index` (see
    `spyx_eqx.run` and `eqx.nn.make_with_state`).
    """

    hidden_shape: tuple[int, ...] = eqx.field(static=True)
    state_index: eqx.nn.StateIndex
    _classes: ClassVar[dict] = {}
    _takes_key: ClassVar[bool] = False  # `key=` is accepted (for eqx.nn.Sequential)

    def __init_subclass__(cls, init: bool = True, **kwargs: Any) -> None:
        # `init=False` (``class LIF(_Leaky, init=False)``) is for type checkers:
        # the class keeps its base's `__init__`, as Equinox does at run time,
        # instead of the dataclass one `dataclass_transform` implies.
        super().__init_subclass__(**kwargs)
        if "spec" in cls.__dict__:
            _check_declaration(cls)

    def _setup(self, **kwargs: Any) -> None:
        super()._setup(**kwargs)
        self.state_index = eqx.nn.StateIndex(self.initial_state())

    def _draw(self, layer: str, key: Array | None, names: list[str]) -> list:
        if key is None:
            raise TypeError(
                f"{layer}: `key` is required to initialise "
                f"{frontend.random_description(names)} randomly; pass "
                f"key=jax.random.key(0)."
            )
        return list(jax.random.split(key, len(names)))

    def __check_init__(self) -> None:
        layer, spec = type(self).__name__, self.spec
        if spec.recurrent:
            frontend.check_recurrent_shape(layer, self.hidden_shape)
        if isinstance(self, SpikingNeuron):  # spec.spiking, checked at creation
            frontend.threshold_value(layer, self.threshold)
        for name in spec.params:
            shape = jnp.shape(getattr(self, name))
            allowed = (
                [(*self.hidden_shape, *self.hidden_shape)]
                if name == core.RECURRENT_W
                else [(), self.hidden_shape]
            )
            if shape not in allowed:
                raise ValueError(
                    f"{layer}: `{name}` must have shape "
                    f"{' or '.join(map(str, allowed))}, got {shape}."
                )

    @property
    def n(self) -> int:
        """Size of the last hidden axis (used in the shape annotations)."""
        return self.hidden_shape[-1]

    @property
    def state_n(self) -> int:
        """Size of the state's last axis: `n` times the number of parts."""
        return self.state_shape[-1]

    def initial_state(
        self, batch_size: int | None = None, dtype: Any = jnp.float32
    ) -> Array:
        """Zero state: ``state_shape``, or ``(batch_size, *state_shape)``."""
        batch = frontend.batch_shape(type(self).__name__, batch_size)
        return jnp.zeros((*batch, *self.state_shape), dtype)

    def _params(self) -> dict[str, Array]:
        """The parameter arrays by name, as `spyx.core` takes them."""
        return {name: getattr(self, name) for name in self.spec.params}

    def __call__(
        self,
        x: Float[AnyArray, "*batch {self.n}"],
        state: Float[AnyArray, "*batch {self.state_n}"] | eqx.nn.State,
        *,
        key: Array | None = None,
    ) -> tuple[
        Float[AnyArray, "*batch {self.n}"],
        Float[AnyArray, "*batch {self.state_n}"] | eqx.nn.State,
    ]:
        """One step on ``(*batch, *hidden_shape)``; returns ``(out, new_state)``.

        `state` is an array, or an `eqx.nn.State` holding this neuron's
        state; `key` is accepted for `eqx.nn.Sequential` and unused.
        """
        return stateful_call(self, self._step, x, state)

    @input_checked()
    def _step(
        self,
        x: Float[AnyArray, "*batch {self.n}"],
        state: Float[AnyArray, "*batch {self.state_n}"],
    ) -> tuple[
        Float[AnyArray, "*batch {self.n}"], Float[AnyArray, "*batch {self.state_n}"]
    ]:
        return frontend.neuron_step(self, self._params(), x, state, checked=True)

    @input_checked(sequence=True)
    def run_sequence(
        self,
        x: Float[AnyArray, "time *batch {self.n}"],
        state: Float[AnyArray, "*batch {self.state_n}"],
        *,
        unroll: int | bool = 1,
        **options: Any,
    ) -> tuple[
        Float[AnyArray, "time *batch {self.n}"],
        Float[AnyArray, "*batch {self.state_n}"],
    ]:
        """The whole time-major sequence from `state`: ``(outs, final_state)``.

        Equal to scanning `__call__`; uses the neuron's sequence kernel where
        it has one (`method` for PSU_LIF), else `unroll`s a scan of the step.
        Layer-wise `run` calls it.
        """
        return frontend.neuron_sequence(
            self, self._params(), x, state, unroll=unroll, checked=True, **options
        )


class SpikingNeuron(Neuron):
    """A `Neuron` with a firing `threshold`, a `spike` function and a `reset`.

    `spike` is the constructor's `activation`; `reset` is the reset mode
    where the spec resets (``None`` otherwise); `spikes_after_update` the
    spike timing (see `spyx.nn.LIF`).

    The threshold is a plain float hyperparameter, as Equinox keeps
    `eqx.nn.Dropout.p`: not an array, so `eqx.filter(model,
    eqx.is_inexact_array)` (what optimisers and weight decay see) leaves it
    out and no gradient reaches it; `eqx.tree_at(lambda n: n.threshold,
    neuron, 0.5)` replaces it, and checkpoints record it.
    """

    threshold: float
    spike: SpikeFn
    # keyword-only, so that a subclass's parameter fields (``beta: Array``)
    # may follow these defaults
    reset: str | None = eqx.field(static=True, default=None, kw_only=True)
    spikes_after_update: bool = eqx.field(static=True, default=False, kw_only=True)


def _fields(cls: type) -> set[str]:
    return {n for c in cls.__mro__ for n in getattr(c, "__annotations__", {})}


def _check_declaration(cls: type) -> None:
    """What a class naming a `spec` must declare, checked when it is created:
    the right base (spiking or not) and one field per parameter."""
    spec, name = cls.spec, cls.__name__
    if not isinstance(spec, core.NeuronSpec):
        raise TypeError(
            f"{name}: `spec` must be a spyx.core.NeuronSpec, got {type(spec).__name__}."
        )
    spiking = issubclass(cls, SpikingNeuron)
    if spec.spiking and not spiking:
        raise TypeError(
            f"{name}: its spec {spec.name!r} spikes; subclass spyx_eqx.SpikingNeuron "
            f"(which holds `threshold`, `spike` and `reset`)."
        )
    if spiking and not spec.spiking:
        raise TypeError(
            f"{name}: its spec {spec.name!r} does not spike; subclass "
            f"spyx_eqx.Neuron, not SpikingNeuron."
        )
    missing = [p for p in spec.params if p not in _fields(cls)]
    if missing:
        fields = "; ".join(f"{p}: Array" for p in missing)
        raise TypeError(
            f"{name}: its spec {spec.name!r} has the parameter(s) {missing}; declare "
            f"them as fields on the class ({fields})."
        )
