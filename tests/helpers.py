"""The central registry of neurons that drives every parametrised test.

It is read from the neuron table, `spyx.core.NEURONS`: a neuron added there
(with its two class declarations and a NumPy reference `<name>_ref` in
`reference.py`) is picked up by the equation, run, transform, shape,
bad-input and equivalence matrices.
"""

from dataclasses import dataclass
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import spyx.nn as snn
import spyx_eqx
from spyx import core

from . import reference as ref


@dataclass(frozen=True)
class Neuron:
    spec: core.NeuronSpec
    reference: Any = None
    reset: str = "subtract"
    after: bool = False  # spikes_after_update

    @property
    def name(self) -> str:
        """The class name, with the reset mode when it is not the default
        and ``-after`` for the spike after the update."""
        mode = "" if self.reset == "subtract" else f"-{self.reset}"
        return self.spec.name + mode + ("-after" if self.after else "")

    @property
    def decays(self) -> tuple[str, ...]:
        return self.spec.decays

    @property
    def parts(self) -> int:
        return len(self.spec.state_parts)

    @property
    def recurrent(self) -> bool:
        return self.spec.recurrent

    @property
    def spiking(self) -> bool:
        return self.spec.spiking

    @property
    def parallel(self) -> bool:
        return self.spec.parallel

    @property
    def param_names(self) -> tuple[str, ...]:
        return self.spec.params

    @property
    def nnx_cls(self) -> type:
        return snn.nnx_class(self.spec)

    @property
    def eqx_cls(self) -> type:
        return spyx_eqx.eqx_class(self.spec)

    def make(self, hidden_shape=(4,), seed: int = 0, **kwargs) -> nnx.Module:
        """The NNX layer with default (random) parameters."""
        if self.spec.resets:
            kwargs.setdefault("reset", self.reset)
        if self.after:
            kwargs.setdefault("spikes_after_update", True)
        return self.nnx_cls(hidden_shape, rngs=nnx.Rngs(seed), **kwargs)

    def random_params(self, hidden_shape, seed: int = 0) -> dict:
        """Explicit parameters: decays in (0.2, 0.95) per unit, W ~ N(0, 0.3)."""
        rng = np.random.default_rng(seed)
        p = {d: rng.uniform(0.2, 0.95, hidden_shape) for d in self.decays}
        if self.recurrent:
            p["recurrent_w"] = rng.normal(0.0, 0.3, (*hidden_shape, *hidden_shape))
        p["threshold"] = 1.0
        p["reset"] = self.reset
        return p

    def _kwargs(self, p: dict) -> dict:
        kwargs = {d: jnp.asarray(p[d], jnp.float32) for d in self.decays}
        if self.spiking:
            kwargs["threshold"] = p["threshold"]
        if self.spec.resets:
            kwargs["reset"] = p.get("reset", "subtract")
        if self.after:
            kwargs["spikes_after_update"] = True
        return kwargs

    def nnx_from(self, hidden_shape, p: dict) -> nnx.Module:
        """The NNX layer holding exactly the parameters `p`."""
        layer = self.nnx_cls(hidden_shape, rngs=nnx.Rngs(0), **self._kwargs(p))
        if self.recurrent:
            layer.recurrent_w[...] = jnp.asarray(p["recurrent_w"], jnp.float32)
        return layer

    def eqx_from(self, hidden_shape, p: dict) -> Any:
        """The Equinox layer holding exactly `p`, built without `from_nnx`."""
        layer = self.eqx_cls(hidden_shape, key=jax.random.key(0), **self._kwargs(p))
        if self.recurrent:
            layer = eqx.tree_at(
                lambda m: m.recurrent_w,
                layer,
                jnp.asarray(p["recurrent_w"], jnp.float32),
            )
        return layer

    def split(self, state) -> Any:
        """A spyx state as the reference's layout (tuple for two parts)."""
        state = np.asarray(state, np.float64)
        if self.parts == 1:
            return state
        n = state.shape[-1] // 2
        return (state[..., :n], state[..., n:])

    def join(self, ref_state) -> np.ndarray:
        if self.parts == 1:
            return np.asarray(ref_state)
        return np.concatenate(ref_state, axis=-1)


def _reference(spec: core.NeuronSpec) -> Any:
    return getattr(ref, f"{spec.name.lower()}_ref")


NEURONS = [Neuron(spec, _reference(spec)) for spec in core.NEURONS]
NEURON_IDS = [n.name for n in NEURONS]
BY_NAME = {n.name: n for n in NEURONS}
NON_RECURRENT = [n for n in NEURONS if not n.recurrent]
# Every resetting neuron in the modes other than the default "subtract".
RESET_VARIANTS = [
    Neuron(n.spec, n.reference, mode)
    for n in NEURONS
    if n.spec.resets
    for mode in core.RESETS
    if mode != "subtract"
]
RESET_IDS = [n.name for n in RESET_VARIANTS]


def _after(reference: Any) -> Any:
    """A reference step giving the spike of the membrane after the update:
    the step's output from the new state (it does not depend on the input)."""

    def step(x, state, p):
        _, new = reference(x, state, p)
        return reference(0.0 * x, new, p)[0], new

    return step


# Every neuron with a choice of spike timing, spiking after the update.
TIMING_VARIANTS = [
    Neuron(n.spec, _after(n.reference), after=True)
    for n in NEURONS
    if n.spec.output_from_state
]
TIMING_IDS = [n.name for n in TIMING_VARIANTS]


def one_of_each_kind(neurons=NEURONS) -> list[Neuron]:
    """The first spiking neuron with a decay of each kind of state and path
    (state parts, recurrent, parallel, sequence kernel), in table order: for
    the option matrices that need not run on every neuron."""
    kinds: dict[tuple, Neuron] = {}
    for n in neurons:
        kind = (n.parts, n.recurrent, n.parallel, n.spec.sequence is not None)
        if n.spiking and n.decays:
            kinds.setdefault(kind, n)
    return list(kinds.values())


def spiking_input(key_seed: int, shape, scale: float = 1.2) -> jax.Array:
    """Positive-mean random input that makes every neuron fire now and then."""
    key = jax.random.key(key_seed)
    return scale * jax.random.uniform(key, shape, minval=-0.2, maxval=1.0)
