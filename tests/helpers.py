"""The central registry of neurons that drives every parametrised test.

Adding a neuron means one `NEURONS` entry; the equation, run, transform,
shape and bad-input matrices pick it up.
"""

from dataclasses import dataclass, field
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import spyx.nn as snn
import spyx_eqx

from . import reference as ref


@dataclass(frozen=True)
class Neuron:
    name: str
    reference: Any
    decays: tuple[str, ...] = ()
    parts: int = 1
    recurrent: bool = False
    spiking: bool = True
    parallel: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def param_names(self) -> tuple[str, ...]:
        return self.decays + (("W",) if self.recurrent else ())

    def make(self, hidden_shape=(4,), seed: int = 0, **kwargs) -> nnx.Module:
        """The NNX layer with default (random) parameters."""
        return getattr(snn, self.name)(hidden_shape, rngs=nnx.Rngs(seed), **kwargs)

    def random_params(self, hidden_shape, seed: int = 0) -> dict:
        """Explicit parameters: decays in (0.2, 0.95) per unit, W ~ N(0, 0.3)."""
        rng = np.random.default_rng(seed)
        p = {d: rng.uniform(0.2, 0.95, hidden_shape) for d in self.decays}
        if self.recurrent:
            p["W"] = rng.normal(0.0, 0.3, (*hidden_shape, *hidden_shape))
        p["threshold"] = 1.0
        return p

    def nnx_from(self, hidden_shape, p: dict) -> nnx.Module:
        """The NNX layer holding exactly the parameters `p`."""
        kwargs = {d: jnp.asarray(p[d], jnp.float32) for d in self.decays}
        if self.spiking:
            kwargs["threshold"] = p["threshold"]
        layer = getattr(snn, self.name)(hidden_shape, rngs=nnx.Rngs(0), **kwargs)
        if self.recurrent:
            layer.W[...] = jnp.asarray(p["W"], jnp.float32)
        return layer

    def eqx_from(self, hidden_shape, p: dict) -> Any:
        """The Equinox layer holding exactly `p`, built without `from_nnx`."""
        kwargs = {d: jnp.asarray(p[d], jnp.float32) for d in self.decays}
        if self.spiking:
            kwargs["threshold"] = p["threshold"]
        layer = getattr(spyx_eqx, self.name)(
            hidden_shape, key=jax.random.key(0), **kwargs
        )
        if self.recurrent:
            layer = eqx.tree_at(lambda m: m.W, layer, jnp.asarray(p["W"], jnp.float32))
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


NEURONS = [
    Neuron("IF", ref.if_ref),
    Neuron("LIF", ref.lif_ref, ("beta",)),
    Neuron("LI", ref.li_ref, ("beta",), spiking=False),
    Neuron("ALIF", ref.alif_ref, ("beta", "gamma"), parts=2),
    Neuron("CuBaLIF", ref.cubalif_ref, ("alpha", "beta"), parts=2),
    Neuron("RIF", ref.rif_ref, recurrent=True),
    Neuron("RLIF", ref.rlif_ref, ("beta",), recurrent=True),
    Neuron("RCuBaLIF", ref.rcubalif_ref, ("alpha", "beta"), parts=2, recurrent=True),
    Neuron("PSU_LIF", ref.psu_lif_ref, ("beta",), parallel=True),
]
NEURON_IDS = [n.name for n in NEURONS]
BY_NAME = {n.name: n for n in NEURONS}
NON_RECURRENT = [n for n in NEURONS if not n.recurrent]


def spiking_input(key_seed: int, shape, scale: float = 1.2) -> jax.Array:
    """Positive-mean random input that makes every neuron fire now and then."""
    key = jax.random.key(key_seed)
    return scale * jax.random.uniform(key, shape, minval=-0.2, maxval=1.0)
