"""The neuron behaviour both front ends share: the checked step, the
whole-sequence path and the parallel path.

A front end's neuron base class stores the parameters its own way (`nnx.Param`
or Equinox fields) and calls these with plain arrays, so the checks, the
error labels and the choice between a sequence kernel and a scan exist once.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, cast

import jax.numpy as jnp
from jax import Array

from .._checks import (
    NeuronLayer,
    Shape,
    check_finite,
    check_input,
    check_sequence,
    check_state,
    threshold_value,
)
from .._scans import state_dtype, time_scan
from ._table import RECURRENT_W, NeuronSpec

__all__ = [
    "NeuronBase",
    "check_neuron_inputs",
    "neuron_parallel",
    "neuron_sequence",
    "neuron_step",
    "random_description",
    "spikes_after_update",
    "threshold_of",
]


class NeuronBase:
    """The framework-free half of a front end's neuron base class.

    It registers each class that names a `spec` (first one wins, so a user's
    subclass of `LIF` does not replace it), stores what the table's
    `NeuronSpec.build` returns, and gives the state shape. A front end's
    base sets `_classes` (its registry) and defines `_wrap` (how it stores a
    parameter array: `nnx.Param`, or as is) and `_draw` (its randomness:
    `rngs`, or a `key`). The threshold is a plain float in both.
    """

    spec: ClassVar[NeuronSpec]
    _classes: ClassVar[dict[NeuronSpec, type]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "spec" in cls.__dict__:
            cls._classes.setdefault(cls.spec, cls)

    @classmethod
    def class_for(cls, spec: NeuronSpec) -> type:
        """This front end's class declared for `spec`."""
        try:
            return cls._classes[spec]
        except KeyError:
            raise TypeError(
                f"{cls.__module__.rsplit('._', 1)[0]} has no neuron class for the spec "
                f"{spec.name!r}; declare one with `spec = ...` on a subclass of "
                f"{cls.__name__}."
            ) from None

    def _wrap(self, value: Array) -> Any:
        return value

    def _draw(
        self, layer: str, randomness: Any, names: list[str], /
    ) -> Sequence[Array]:
        # positional-only: a front end names `randomness` its own way
        raise NotImplementedError

    def _setup(
        self,
        *,
        shape: Any,
        decays: Mapping[str, Any],
        randomness: Any = None,
        threshold: Any = None,
        activation: Callable[[Array], Array] | None = None,
        reset: Any = None,
        spikes_after_update: bool = False,
    ) -> None:
        """Store the shape, the spike settings and the table's parameters.

        A neuron's constructor calls this, by keyword, with its shape
        argument (`shape`), its decay arguments by name (`decays`, one per
        name in ``spec.decays``), the front end's randomness (`randomness`:
        `rngs` or `key`), and, as its spec requires, `threshold` and
        `activation` (spiking neurons), `reset` (neurons that reset) and
        `spikes_after_update` (the spike timing). What the spec requires and
        the call lacks is a `TypeError` naming it.

        The spike function is stored as `spike` (spyx 1.0's attribute).
        """
        layer = type(self).__name__
        self.hidden_shape, settings, params = self.spec.build(
            layer,
            shape=shape,
            decays=decays,
            keys=lambda names: self._draw(layer, randomness, names),
            threshold=threshold,
            activation=activation,
            reset=reset,
            spikes_after_update=spikes_after_update,
        )
        for name, value in {**settings, **params}.items():
            self._store(name, value)

    def _store(self, name: str, value: Any) -> None:
        setattr(self, name, self._wrap(value) if name in self.spec.params else value)

    @property
    def state_shape(self) -> Shape:
        """Per-example state shape (two-part states double the last axis)."""
        return self.spec.state_shape(self.hidden_shape)


def random_description(names: list[str]) -> str:
    """Name the parameters that need randomness, for a front end's error.

    Example: ``random_description(["recurrent_w", "beta"])`` is
    ``"`recurrent_w` and `beta` (None, so learnable per unit)"``.
    """
    text = " and ".join(f"`{n}`" for n in names)
    decays = [n for n in names if n != RECURRENT_W]
    return text + (" (None, so learnable per unit)" if decays else "")


def _check_values(
    layer: str, spec: NeuronSpec, params: Mapping[str, Any], x: Any, shape: Shape
) -> None:
    """The parameters as the constructor takes them (a decay one number or
    one per unit, whatever was assigned since) and, with `debug_checks`,
    finite."""
    for name in spec.decays:
        got = tuple(jnp.shape(params[name]))
        if got not in ((), tuple(shape)):
            raise ValueError(
                f"{layer}: `{name}` has shape {got}; a decay is one number () or "
                f"one per unit {tuple(shape)}: another shape would broadcast "
                f"against the batch. Assign it one of those."
            )
    for name in spec.params:
        check_finite(layer, name, params[name])
    check_finite(layer, "x", x, kind="input")


def threshold_of(neuron: Any) -> float | None:
    """A neuron's firing threshold, checked.

    A neuron's firing threshold, checked (a finite number greater than 0;
    ``None`` for a neuron without one).

    Example: ``threshold_of(spyx.nn.LIF((4,), beta=0.5, threshold=2.0))`` is 2.0.
    """
    th = getattr(neuron, "threshold", None)
    return None if th is None else threshold_value(type(neuron).__name__, th)


class _SpikingLayer(NeuronLayer, Protocol):
    """A `NeuronLayer` whose spec spikes: it has a spike function and, where
    the spec resets, a reset mode."""

    @property
    def spike(self) -> Callable[[Array], Array]: ...

    @property
    def reset(self) -> Any: ...


def _spike_settings(neuron: NeuronLayer, dtype: Any) -> tuple[Any, Any, Any]:
    """The threshold (a constant of the state's dtype), the spike function
    and the reset mode, each ``None`` where the neuron's spec has none."""
    spec = neuron.spec
    if not spec.spiking:
        return None, None, None
    th = jnp.asarray(threshold_of(neuron), dtype)
    spiking = cast(_SpikingLayer, neuron)  # its spec spikes
    return th, spiking.spike, spiking.reset if spec.resets else None


def check_neuron_inputs(
    neuron: NeuronLayer, x: Any, state: Any, *, sequence: bool = False, label: str = ""
) -> None:
    """Check a neuron's `x` (``(*batch, *hidden_shape)``, with a leading time
    axis when `sequence`) and `state` (``(*batch, *state_shape)``), naming
    the class (and `label` after it)."""
    layer, shape = type(neuron).__name__ + label, neuron.hidden_shape
    batch = (check_sequence if sequence else check_input)(layer, x, shape)
    if state is not None:
        check_state(layer, state, batch, neuron.spec.state_shape(shape))


def neuron_step(
    neuron: NeuronLayer,
    params: Mapping[str, Any],
    x: Any,
    state: Any,
    *,
    checked: bool = False,
) -> tuple[Array, Array]:
    """One checked step of a neuron (its ``__call__``).

    Checks `x` ``(*batch, *hidden_shape)`` and `state` ``(*batch,
    *state_shape)``, and (with `debug_checks`) that the parameters are
    finite, naming the neuron's class; then calls its ``spec.step``.

    Args:
        neuron: a `NeuronLayer`.
        params: its parameter arrays by name (``spec.params``).
        x: the input at this step.
        state: the state before the step.
        checked: the caller has already run `check_neuron_inputs`.

    Returns:
        ``(out, new_state)``.
    """
    spec, layer = neuron.spec, type(neuron).__name__
    if not checked:
        check_neuron_inputs(neuron, x, state)
    _check_values(layer, spec, params, x, neuron.hidden_shape)
    kwargs = spec.step_kwargs(params, *_spike_settings(neuron, jnp.result_type(state)))
    out, new = spec.step(x, state, **kwargs)
    if spikes_after_update(neuron):
        out = _spike_of(spec, new, x, kwargs, out.dtype)
    return out, new


def neuron_sequence(
    neuron: NeuronLayer,
    params: Mapping[str, Any],
    x: Any,
    state: Any,
    *,
    unroll: int | bool = 1,
    label: str = "",
    checked: bool = False,
    **options: Any,
) -> tuple[Array, Array]:
    """A neuron over a whole time-major sequence.

    A neuron over a whole time-major sequence (its ``run_sequence``): its
    sequence kernel where the table has one, else a `time_scan` of its step.
    Both equal stepping ``__call__``.

    Args:
        neuron: a `NeuronLayer`.
        params: its parameter arrays by name (``spec.params``).
        x: the input sequence ``[T, *batch, *hidden_shape]``.
        state: the state before the first step.
        unroll: time steps per loop iteration of the scan.
        label: follows the class name in error messages (``".parallel"``).
        checked: the caller has already run `check_neuron_inputs`.
        **options: for the kernel (``spec.sequence_options``, e.g. `method`
            for `PSU_LIF`).

    Returns:
        ``(outs [T, *batch, ...], final_state)``.
    """
    spec, layer = neuron.spec, type(neuron).__name__ + label
    if not checked:
        check_neuron_inputs(neuron, x, state, sequence=True, label=label)
    _check_values(layer, spec, params, x, neuron.hidden_shape)
    unknown = sorted(set(options) - set(spec.sequence_options))
    if unknown:
        raise TypeError(
            f"{layer}: unexpected option(s) {unknown}; {spec.name} takes "
            f"{list(spec.sequence_options) or 'none'}."
        )
    kwargs = spec.step_kwargs(params, *_spike_settings(neuron, jnp.result_type(state)))
    if spec.sequence is not None:
        if unroll is not True and unroll != 1:  # kernels of one's own may not take it
            options["unroll"] = unroll
        outs, final = spec.sequence(x, state, **kwargs, **options)
    else:
        outs, final = time_scan(
            lambda x_t, s: spec.step(x_t, s, **kwargs), x, state, unroll=unroll
        )
    if spikes_after_update(neuron):
        # the spike after step t is the spike before step t + 1
        last = _spike_of(spec, final, x[0], kwargs, outs.dtype)
        outs = jnp.concatenate([outs[1:], last[None]])
    return outs, final


def spikes_after_update(neuron: Any) -> bool:
    """Whether a neuron gives the spike of its membrane after the step's
    update (NIR's timing) instead of before it (spyx's default)."""
    return bool(getattr(neuron, "spikes_after_update", False))


def _spike_of(
    spec: NeuronSpec, state: Array, x: Array, kwargs: Mapping[str, Any], dtype: Any
) -> Array:
    """The spike a neuron with `output_from_state` gives from `state`: its
    step's output, which does not depend on the input (the rest of the step
    is dead code to XLA)."""
    return spec.step(jnp.zeros_like(x), state, **kwargs)[0].astype(dtype)


def neuron_parallel(
    neuron: NeuronLayer,
    params: Mapping[str, Any],
    x: Any,
    *,
    checked: bool = False,
    **options: Any,
) -> Array:
    """A neuron's outputs for a whole sequence from a zero state.

    A neuron's outputs for a whole sequence from a zero state (its
    ``parallel``), errors labelled ``<class>.parallel``.

    Returns:
        ``outs [T, *batch, ...]``.
    """
    label = ".parallel"
    if not checked:
        check_neuron_inputs(neuron, x, None, sequence=True, label=label)
    batch = x.shape[1 : x.ndim - len(neuron.hidden_shape)]
    shape = (*batch, *neuron.spec.state_shape(neuron.hidden_shape))
    state = jnp.zeros(shape, state_dtype(x.dtype))
    return neuron_sequence(
        neuron, params, x, state, label=label, checked=True, **options
    )[0]
