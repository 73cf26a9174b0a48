"""The one base class behind every `spyx.nn` neuron.

A neuron class names its row of the neuron table (``spec = core.LIF``) and
declares its constructor; parameter set-up, checks, the step, the
whole-sequence path and the parallel path live here, once, over
`spyx.core`.
"""

from collections.abc import Callable
from typing import Any, ClassVar

import jax.numpy as jnp
from flax import nnx
from jax import Array

from .. import core
from ..core import _frontend as frontend

__all__ = ["Neuron", "nnx_class"]


def nnx_class(spec: core.NeuronSpec) -> type:
    """The `spyx.nn` class declared for `spec` (the first one to name it).

    Example: ``nnx_class(spyx.core.LIF) is spyx.nn.LIF``.
    """
    return Neuron.class_for(spec)


class Neuron(frontend.NeuronBase, nnx.Module):
    """Shared behaviour of the `spyx.nn` neurons, driven by the class's `spec`.

    Parameters in ``spec.params`` are `nnx.Param` attributes (``beta``,
    ``recurrent_w``, ...); spiking neurons also hold `threshold`, a plain
    float hyperparameter as in spyx 1.0 (not a variable: optimisers never see
    it, and ``nnx.split(model, nnx.Param)`` covers a whole model), `spike`,
    the spike function (the constructor's `activation`), and, where the
    neuron resets, `reset`.
    """

    hidden_shape: core.Shape
    # a spiking neuron's (every one but LI), set by `_setup`
    threshold: float
    spike: Callable[[Array], Array]
    _classes: ClassVar[dict] = {}

    def _wrap(self, value: Array) -> nnx.Param:
        return nnx.Param(value)

    def _draw(self, layer: str, rngs: nnx.Rngs | None, names: list[str]) -> list:
        if rngs is None:
            raise TypeError(
                f"{layer}: `rngs` is required to initialise "
                f"{frontend.random_description(names)} randomly; pass rngs=nnx.Rngs(0)."
            )
        return [rngs.params() for _ in names]

    def initial_state(self, batch_size: int | None, dtype: Any = jnp.float32) -> Array:
        """Zero state of shape ``(batch_size, *state_shape)``.

        `batch_size=None` gives one example's state (for use under `jax.vmap`).
        """
        batch = frontend.batch_shape(type(self).__name__, batch_size)
        return jnp.zeros((*batch, *self.state_shape), dtype)

    def _params(self) -> dict[str, Array]:
        """The parameter arrays by name, as `spyx.core` takes them."""
        return {name: getattr(self, name)[...] for name in self.spec.params}

    def __call__(self, x: Array, state: Array) -> tuple[Array, Array]:
        """One step: `x` ``(B, *hidden_shape)`` and `state` ``(B, *state_shape)``.

        Returns:
            ``(out, new_state)``: the spikes (the membrane for `LI`)
                and the state after the step.
        """
        return frontend.neuron_step(self, self._params(), x, state)

    def run_sequence(
        self, x: Array, state: Array, *, unroll: int | bool = 1, **options: Any
    ) -> tuple[Array, Array]:
        """The whole time-major sequence ``[T, B, *hidden_shape]`` from `state`.

        Equal to scanning `__call__` over `x`; uses the neuron's sequence
        kernel where it has one (every neuron but LI: `spyx.core.lif_sequence`,
        `alif_sequence`, `cuba_lif_sequence`, and the leaky scan for PSU_LIF,
        which takes `method`), else `unroll`s a `jax.lax.scan` of the step.
        Layer-wise `run` calls it.

        Returns:
            ``(outs [T, B, ...], final_state)``.
        """
        return frontend.neuron_sequence(
            self, self._params(), x, state, unroll=unroll, **options
        )
