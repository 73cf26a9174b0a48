"""Spiking neurons, containers and the time-major `run` on Flax NNX.

Every neuron is a thin shell over `spyx.core`: it holds its parameters as
`nnx.Param` and calls the matching core step. A stateful layer exposes
``initial_state(batch_size)`` and a step ``__call__(x, state) -> (out,
new_state)``; `run` scans a model over a time-major sequence ``[T, B, ...]``.

Decay parameters (`beta`, `alpha`, `gamma`) are clipped to ``[0, 1]`` when
used. Left as ``None`` they are learnable per unit (shape `hidden_shape`,
mean 0.5, standard deviation 0.25); given as a number they are one shared,
still trainable, scalar.

Example:

```python
import jax.numpy as jnp
from flax import nnx
import spyx.nn as snn

model = snn.Sequential(
    nnx.Linear(16, 32, rngs=nnx.Rngs(0)),
    snn.LIF((32,), rngs=nnx.Rngs(1)),
    nnx.Linear(32, 4, rngs=nnx.Rngs(2)),
    snn.LI((4,)),
)
x = jnp.ones((100, 8, 16))            # [Time, Batch, features]
traces, final_state = snn.run(model, x)  # traces: [100, 8, 4]
```
"""

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
from flax import nnx
from jax import Array

from . import core
from .axn import SpikeFn, superspike

__all__ = [
    "ALIF",
    "IF",
    "LI",
    "LIF",
    "PSU_LIF",
    "RIF",
    "RLIF",
    "ActivityRegularization",
    "CuBaLIF",
    "Flatten",
    "PopulationCode",
    "RCuBaLIF",
    "Sequential",
    "SumPool",
    "run",
    "sum_pool",
]

ShapeLike = int | Sequence[int]


def _key(layer: str, rngs: nnx.Rngs | None, what: str) -> Array:
    if rngs is None:
        raise TypeError(
            f"{layer}: `rngs` is required to initialise {what} randomly; pass "
            f"rngs=nnx.Rngs(0)."
        )
    return rngs.params()


def _decay(
    layer: str, name: str, value: Any, hidden_shape: core.Shape, rngs: nnx.Rngs | None
) -> nnx.Param:
    if value is None:
        key = _key(layer, rngs, f"`{name}` (it is None, so learnable per unit)")
        return nnx.Param(core.decay_init(key, hidden_shape))
    return nnx.Param(core.decay_value(layer, name, value, hidden_shape))


class _Neuron(nnx.Module):
    """Shared shell of the neurons: state construction and input checks."""

    _state_parts: int = 1
    hidden_shape: core.Shape

    def _init_shape(self, hidden_shape: ShapeLike, name: str = "hidden_shape") -> None:
        self.hidden_shape = core.normalize_shape(
            type(self).__name__, name, hidden_shape
        )

    @property
    def state_shape(self) -> core.Shape:
        """Per-example state shape (two-part states double the last axis)."""
        return core.state_shape(self.hidden_shape, self._state_parts)

    def initial_state(self, batch_size: int | None, dtype: Any = jnp.float32) -> Array:
        """Zero state of shape ``(batch_size, *state_shape)``.

        `batch_size=None` gives one example's state (for use under `jax.vmap`).
        """
        batch = core.batch_shape(type(self).__name__, batch_size)
        return jnp.zeros((*batch, *self.state_shape), dtype)

    def _check(self, x: Any, state: Any) -> None:
        layer = type(self).__name__
        batch = core.check_input(layer, x, self.hidden_shape)
        core.check_state(layer, state, batch, self.state_shape)
        for name in ("alpha", "beta", "gamma", "W"):
            if hasattr(self, name):
                core.check_finite(layer, name, getattr(self, name)[...])

    def _batch_ndim(self, state: Array) -> int:
        return state.ndim - len(self.state_shape)

    def _check_sequence(self, x: Any, layer: str | None = None) -> tuple[int, ...]:
        """Check a time-major sequence ``[T, *batch, *hidden]``; returns batch."""
        return core.check_sequence(layer or type(self).__name__, x, self.hidden_shape)


class _Spiking(_Neuron):
    threshold: float
    activation: SpikeFn

    def _init_spiking(self, threshold: Any, activation: SpikeFn | None) -> None:
        self.threshold = core.threshold_value(type(self).__name__, threshold)
        self.activation = superspike() if activation is None else activation


class _Recurrent(_Spiking):
    W: nnx.Param

    def _init_recurrent(self, rngs: nnx.Rngs | None) -> None:
        layer = type(self).__name__
        core.check_recurrent_shape(layer, self.hidden_shape)
        self.W = nnx.Param(
            core.recurrent_init(_key(layer, rngs, "`W`"), self.hidden_shape)
        )


class IF(_Spiking):
    """Integrate-and-fire neuron.

    ``s = H(V - th)``;  ``V' = V + x - s th``;  out ``s``.

    **Arguments:**

    - `hidden_shape`: shape of the layer, e.g. ``(128,)`` or ``(H, W, C)``.
    - `threshold`: firing threshold (a number, not trained).
    - `activation`: spike function from `spyx.axn`; default `superspike()`.
    - `rngs`: accepted for uniformity and ignored (IF has no parameters).

    State: ``V`` of shape ``(B, *hidden_shape)``.

    Example:

    ```python
    layer = spyx.nn.IF((128,))
    state = layer.initial_state(32)
    out, state = layer(jnp.ones((32, 128)), state)           # one step
    outs, final = spyx.nn.run(layer, jnp.ones((100, 32, 128)))  # [T, B, 128]
    ```
    """

    def __init__(
        self,
        hidden_shape: ShapeLike,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        rngs: nnx.Rngs | None = None,
    ):
        self._init_shape(hidden_shape)
        self._init_spiking(threshold, activation)

    def __call__(self, x: Array, V: Array) -> tuple[Array, Array]:
        """One step: `x` and `V` of shape ``(B, *hidden_shape)``."""
        self._check(x, V)
        return core.if_step(x, V, threshold=self.threshold, spike=self.activation)

    def run_sequence(self, x: Array, V: Array) -> tuple[Array, Array]:
        """The whole time-major sequence ``[T, B, *hidden_shape]`` from the state
        `V`, returning ``(spikes, final V)``: equal to scanning `__call__`, with
        a leaner backward pass (`spyx.core.lif_sequence`). Layer-wise `run`
        uses it.
        """
        batch = self._check_sequence(x)
        core.check_state(type(self).__name__, V, batch, self.state_shape)
        return core.lif_sequence(
            x, V, beta=1.0, threshold=self.threshold, spike=self.activation
        )


class LIF(_Spiking):
    """Leaky integrate-and-fire neuron.

    ``s = H(V - th)``;  ``V' = b V + x - s th``;  out ``s``.

    **Arguments:**

    - `hidden_shape`: shape of the layer.
    - `beta`: membrane decay; ``None`` learns one per unit.
    - `threshold`: firing threshold.
    - `activation`: spike function; default `superspike()`.
    - `rngs`: `nnx.Rngs`, needed when `beta` is ``None``.

    State: ``V`` of shape ``(B, *hidden_shape)``.

    Example:

    ```python
    layer = spyx.nn.LIF((128,), rngs=nnx.Rngs(0))
    state = layer.initial_state(32)
    out, state = layer(jnp.ones((32, 128)), state)           # one step
    outs, final = spyx.nn.run(layer, jnp.ones((100, 32, 128)))  # [T, B, 128]
    ```
    """

    def __init__(
        self,
        hidden_shape: ShapeLike,
        beta: Any = None,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        rngs: nnx.Rngs | None = None,
    ):
        self._init_shape(hidden_shape)
        self._init_spiking(threshold, activation)
        self.beta = _decay("LIF", "beta", beta, self.hidden_shape, rngs)

    def __call__(self, x: Array, V: Array) -> tuple[Array, Array]:
        """One step: `x` and `V` of shape ``(B, *hidden_shape)``."""
        self._check(x, V)
        return core.lif_step(
            x, V, beta=self.beta[...], threshold=self.threshold, spike=self.activation
        )

    def run_sequence(self, x: Array, V: Array) -> tuple[Array, Array]:
        """The whole time-major sequence ``[T, B, *hidden_shape]`` from the state
        `V`, returning ``(spikes, final V)``: equal to scanning `__call__`, with
        a leaner backward pass (`spyx.core.lif_sequence`). Layer-wise `run`
        uses it.
        """
        batch = self._check_sequence(x)
        core.check_state(type(self).__name__, V, batch, self.state_shape)
        return core.lif_sequence(
            x, V, beta=self.beta[...], threshold=self.threshold, spike=self.activation
        )


class LI(_Neuron):
    """Leaky integrator: a non-spiking readout.

    ``V' = b V + x``;  out ``V'``.

    **Arguments:**

    - `layer_shape`: shape of the layer.
    - `beta`: decay; ``None`` gives a learnable per-unit array filled with 0.8.
    - `rngs`: accepted for uniformity; the default `beta` is not random.

    State: ``V`` of shape ``(B, *layer_shape)``.

    Example:

    ```python
    layer = spyx.nn.LI((10,))
    state = layer.initial_state(32)
    out, state = layer(jnp.ones((32, 10)), state)           # one step
    outs, final = spyx.nn.run(layer, jnp.ones((100, 32, 10)))  # [T, B, 10]
    ```
    """

    def __init__(
        self, layer_shape: ShapeLike, beta: Any = None, *, rngs: nnx.Rngs | None = None
    ):
        self._init_shape(layer_shape, "layer_shape")
        if beta is None:
            beta = jnp.full(self.hidden_shape, 0.8)
        self.beta = nnx.Param(core.decay_value("LI", "beta", beta, self.hidden_shape))

    def __call__(self, x: Array, Vin: Array) -> tuple[Array, Array]:
        """One step: `x` and `Vin` of shape ``(B, *layer_shape)``."""
        self._check(x, Vin)
        return core.li_step(x, Vin, beta=self.beta[...])


class ALIF(_Spiking):
    """Adaptive LIF (Bellec et al., "Long short-term memory and
    learning-to-learn in networks of spiking neurons", NeurIPS 2018).

    ``th_t = th + T``;  ``s = H(V - th_t)``;  ``V' = b V + x - s th_t``;
    ``T' = g T + (1 - g) s``;  out ``s``.

    **Arguments:**

    - `hidden_shape`: shape of the layer.
    - `beta`: membrane decay; ``None`` learns one per unit.
    - `gamma`: threshold-adaptation decay; ``None`` learns one per unit.
    - `threshold`: base firing threshold.
    - `activation`: spike function; default `superspike()`.
    - `rngs`: `nnx.Rngs`, needed when `beta` or `gamma` is ``None``.

    State: ``[V, T]`` side by side on the last axis, shape
    ``(B, *hidden_shape[:-1], 2 * hidden_shape[-1])``.

    Example:

    ```python
    layer = spyx.nn.ALIF((128,), rngs=nnx.Rngs(0))
    state = layer.initial_state(32)
    out, state = layer(jnp.ones((32, 128)), state)           # one step
    outs, final = spyx.nn.run(layer, jnp.ones((100, 32, 128)))  # [T, B, 128]
    ```
    """

    _state_parts = 2

    def __init__(
        self,
        hidden_shape: ShapeLike,
        beta: Any = None,
        gamma: Any = None,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        rngs: nnx.Rngs | None = None,
    ):
        self._init_shape(hidden_shape)
        self._init_spiking(threshold, activation)
        self.beta = _decay("ALIF", "beta", beta, self.hidden_shape, rngs)
        self.gamma = _decay("ALIF", "gamma", gamma, self.hidden_shape, rngs)

    def __call__(self, x: Array, VT: Array) -> tuple[Array, Array]:
        """One step: `x` of shape ``(B, *hidden_shape)``, `VT` the two-part state."""
        self._check(x, VT)
        return core.alif_step(
            x,
            VT,
            beta=self.beta[...],
            gamma=self.gamma[...],
            threshold=self.threshold,
            spike=self.activation,
        )


class CuBaLIF(_Spiking):
    """Current-based LIF: a synaptic current low-pass filters the input.

    ``s = H(V - th)``;  ``I' = a I + x``;  ``V' = b (V - s th) + I'``;  out ``s``.

    **Arguments:**

    - `hidden_shape`: shape of the layer.
    - `alpha`: synaptic-current decay; ``None`` learns one per unit.
    - `beta`: membrane decay; ``None`` learns one per unit.
    - `threshold`: firing threshold.
    - `activation`: spike function; default `superspike()`.
    - `rngs`: `nnx.Rngs`, needed when `alpha` or `beta` is ``None``.

    State: ``[V, I]`` side by side on the last axis, shape
    ``(B, *hidden_shape[:-1], 2 * hidden_shape[-1])``.

    Example:

    ```python
    layer = spyx.nn.CuBaLIF((128,), rngs=nnx.Rngs(0))
    state = layer.initial_state(32)
    out, state = layer(jnp.ones((32, 128)), state)           # one step
    outs, final = spyx.nn.run(layer, jnp.ones((100, 32, 128)))  # [T, B, 128]
    ```
    """

    _state_parts = 2

    def __init__(
        self,
        hidden_shape: ShapeLike,
        alpha: Any = None,
        beta: Any = None,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        rngs: nnx.Rngs | None = None,
    ):
        self._init_shape(hidden_shape)
        self._init_spiking(threshold, activation)
        self.alpha = _decay("CuBaLIF", "alpha", alpha, self.hidden_shape, rngs)
        self.beta = _decay("CuBaLIF", "beta", beta, self.hidden_shape, rngs)

    def __call__(self, x: Array, VI: Array) -> tuple[Array, Array]:
        """One step: `x` of shape ``(B, *hidden_shape)``, `VI` the two-part state."""
        self._check(x, VI)
        return core.cuba_lif_step(
            x,
            VI,
            alpha=self.alpha[...],
            beta=self.beta[...],
            threshold=self.threshold,
            spike=self.activation,
        )


class RIF(_Recurrent):
    """Recurrent integrate-and-fire neuron.

    ``s = H(V - th)``;  ``V' = V + x + s @ W - s th``;  out ``s``.

    **Arguments:**

    - `hidden_shape`: 1-D shape ``(H,)`` of the layer.
    - `threshold`: firing threshold.
    - `activation`: spike function; default `superspike()`.
    - `rngs`: `nnx.Rngs` for the recurrent weights ``W`` of shape ``(H, H)``.

    State: ``V`` of shape ``(B, H)``.

    Example:

    ```python
    layer = spyx.nn.RIF((128,), rngs=nnx.Rngs(0))
    state = layer.initial_state(32)
    out, state = layer(jnp.ones((32, 128)), state)           # one step
    outs, final = spyx.nn.run(layer, jnp.ones((100, 32, 128)))  # [T, B, 128]
    ```
    """

    def __init__(
        self,
        hidden_shape: ShapeLike,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        rngs: nnx.Rngs | None = None,
    ):
        self._init_shape(hidden_shape)
        self._init_spiking(threshold, activation)
        self._init_recurrent(rngs)

    def __call__(self, x: Array, V: Array) -> tuple[Array, Array]:
        """One step: `x` and `V` of shape ``(B, H)``."""
        self._check(x, V)
        return core.rif_step(
            x, V, weights=self.W[...], threshold=self.threshold, spike=self.activation
        )


class RLIF(_Recurrent):
    """Recurrent leaky integrate-and-fire neuron.

    ``s = H(V - th)``;  ``V' = b V + x + s @ W - s th``;  out ``s``.

    **Arguments:**

    - `hidden_shape`: 1-D shape ``(H,)`` of the layer.
    - `beta`: membrane decay; ``None`` learns one per unit.
    - `threshold`: firing threshold.
    - `activation`: spike function; default `superspike()`.
    - `rngs`: `nnx.Rngs` for ``W`` (and `beta` when ``None``).

    State: ``V`` of shape ``(B, H)``.

    Example:

    ```python
    layer = spyx.nn.RLIF((128,), rngs=nnx.Rngs(0))
    state = layer.initial_state(32)
    out, state = layer(jnp.ones((32, 128)), state)           # one step
    outs, final = spyx.nn.run(layer, jnp.ones((100, 32, 128)))  # [T, B, 128]
    ```
    """

    def __init__(
        self,
        hidden_shape: ShapeLike,
        beta: Any = None,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        rngs: nnx.Rngs | None = None,
    ):
        self._init_shape(hidden_shape)
        self._init_spiking(threshold, activation)
        self._init_recurrent(rngs)
        self.beta = _decay("RLIF", "beta", beta, self.hidden_shape, rngs)

    def __call__(self, x: Array, V: Array) -> tuple[Array, Array]:
        """One step: `x` and `V` of shape ``(B, H)``."""
        self._check(x, V)
        return core.rlif_step(
            x,
            V,
            beta=self.beta[...],
            weights=self.W[...],
            threshold=self.threshold,
            spike=self.activation,
        )


class RCuBaLIF(_Recurrent):
    """Recurrent current-based LIF: feedback ``s @ W`` enters the current.

    ``s = H(V - th)``;  ``I' = a I + x + s @ W``;  ``V' = b (V - s th) + I'``;
    out ``s``.

    **Arguments:**

    - `hidden_shape`: 1-D shape ``(H,)`` of the layer.
    - `alpha`: synaptic-current decay; ``None`` learns one per unit.
    - `beta`: membrane decay; ``None`` learns one per unit.
    - `threshold`: firing threshold.
    - `activation`: spike function; default `superspike()`.
    - `rngs`: `nnx.Rngs` for ``W`` (and the decays when ``None``).

    State: ``[V, I]`` side by side, shape ``(B, 2 H)``.

    Example:

    ```python
    layer = spyx.nn.RCuBaLIF((128,), rngs=nnx.Rngs(0))
    state = layer.initial_state(32)
    out, state = layer(jnp.ones((32, 128)), state)           # one step
    outs, final = spyx.nn.run(layer, jnp.ones((100, 32, 128)))  # [T, B, 128]
    ```
    """

    _state_parts = 2

    def __init__(
        self,
        hidden_shape: ShapeLike,
        alpha: Any = None,
        beta: Any = None,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        rngs: nnx.Rngs | None = None,
    ):
        self._init_shape(hidden_shape)
        self._init_spiking(threshold, activation)
        self._init_recurrent(rngs)
        self.alpha = _decay("RCuBaLIF", "alpha", alpha, self.hidden_shape, rngs)
        self.beta = _decay("RCuBaLIF", "beta", beta, self.hidden_shape, rngs)

    def __call__(self, x: Array, VI: Array) -> tuple[Array, Array]:
        """One step: `x` of shape ``(B, H)``, `VI` of shape ``(B, 2 H)``."""
        self._check(x, VI)
        return core.rcuba_lif_step(
            x,
            VI,
            alpha=self.alpha[...],
            beta=self.beta[...],
            weights=self.W[...],
            threshold=self.threshold,
            spike=self.activation,
        )


class PSU_LIF(_Spiking):
    """Reset-free parallel-spiking LIF (experimental; see `spyx.experimental`).

    Without a reset the membrane is a linear leaky integrator, an associative
    recurrence, so a whole sequence can be computed in ``O(log T)`` depth:

    ``V' = b V + x``;  ``s = H(V' - th)`` (spike on the *updated* membrane).

    The neuron never depresses after firing, so it may spike on consecutive
    steps: a trade of dynamics for parallelism. Scanning `__call__` from a
    zero state and calling `parallel` give the same spikes.

    **Arguments:**

    - `hidden_shape`: shape of the layer.
    - `beta`: membrane decay; ``None`` learns one per unit.
    - `threshold`: firing threshold.
    - `activation`: spike function; default `superspike()`.
    - `rngs`: `nnx.Rngs`, needed when `beta` is ``None``.

    State: ``V`` of shape ``(B, *hidden_shape)``.

    Example:

    ```python
    layer = spyx.nn.PSU_LIF((128,), rngs=nnx.Rngs(0))
    state = layer.initial_state(32)
    out, state = layer(jnp.ones((32, 128)), state)           # one step
    outs, final = spyx.nn.run(layer, jnp.ones((100, 32, 128)))  # [T, B, 128]
    ```
    """

    def __init__(
        self,
        hidden_shape: ShapeLike,
        beta: Any = None,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        rngs: nnx.Rngs | None = None,
    ):
        self._init_shape(hidden_shape)
        self._init_spiking(threshold, activation)
        self.beta = _decay("PSU_LIF", "beta", beta, self.hidden_shape, rngs)

    def __call__(self, x: Array, V: Array) -> tuple[Array, Array]:
        """One reset-free step: `x` and `V` of shape ``(B, *hidden_shape)``."""
        self._check(x, V)
        return core.psu_lif_step(
            x, V, beta=self.beta[...], threshold=self.threshold, spike=self.activation
        )

    def parallel(self, x: Array, *, method: core.LeakyScanMethod = "auto") -> Array:
        """Spikes for a whole time-major sequence at once, from a zero state.

        Computes ``V_t = b V_{t-1} + x_t`` (``V_{-1} = 0``) with
        `spyx.core.leaky_scan`, then ``s_t = H(V_t - th)`` pointwise.

        **Arguments:**

        - `x`: ``[T, B, *hidden_shape]``.
        - `method`: ``"auto"`` (the faster for the backend: sequential on
          CPU, associative on accelerators), ``"associative"`` or
          ``"sequential"``.

        **Returns:** spikes of shape ``[T, B, *hidden_shape]``.
        """
        self._check_sequence(x, "PSU_LIF.parallel")
        return self._sequence(x, None, method)[0]

    def run_sequence(
        self, x: Array, V: Array, *, method: core.LeakyScanMethod = "auto"
    ) -> tuple[Array, Array]:
        """`parallel` from the state `V`: returns ``(spikes, final V)``.

        Equal to scanning `__call__` over `x`; layer-wise `run` uses it.
        """
        batch = self._check_sequence(x, "PSU_LIF.parallel")
        core.check_state("PSU_LIF", V, batch, self.state_shape)
        return self._sequence(x, V, method)

    def _sequence(
        self, x: Array, V: Array | None, method: core.LeakyScanMethod
    ) -> tuple[Array, Array]:
        return core.psu_lif_sequence(
            x,
            V,
            beta=self.beta[...],
            threshold=self.threshold,
            spike=self.activation,
            method=method,
        )


class ActivityRegularization(nnx.Module):
    """Counts spikes per neuron, threaded through `run` as a state.

    A step returns ``(spikes, count + spikes)``: the spikes pass through
    unchanged. The final count is this layer's entry in `run`'s final state,
    ready for `spyx.fn.silence_reg` / `spyx.fn.sparsity_reg`.

    **Arguments:**

    - `hidden_shape`: per-neuron shape of the spikes.
    - `batch_size`: default batch size of `initial_state`.
    - `dtype`: dtype of the count.

    Example: put ``ActivityRegularization((128,))`` after a neuron in a
    `Sequential`; ``run(model, x)[1][i]`` is then the ``(B, 128)`` count.
    """

    def __init__(
        self, hidden_shape: ShapeLike, batch_size: int = 1, dtype: Any = jnp.float32
    ):
        self.hidden_shape = core.normalize_shape(
            "ActivityRegularization", "hidden_shape", hidden_shape
        )
        core.batch_shape("ActivityRegularization", batch_size)
        self.batch_size = batch_size
        self.dtype = dtype

    def initial_state(self, batch_size: int | None = None, dtype: Any = None) -> Array:
        """Zero count of shape ``(batch_size, *hidden_shape)``."""
        batch = core.batch_shape(
            "ActivityRegularization",
            self.batch_size if batch_size is None else batch_size,
        )
        return jnp.zeros((*batch, *self.hidden_shape), dtype or self.dtype)

    def __call__(self, spikes: Array, spike_count: Array) -> tuple[Array, Array]:
        """Pass `spikes` through; return them with ``spike_count + spikes``."""
        layer = "ActivityRegularization"
        batch = core.check_input(layer, spikes, self.hidden_shape)
        core.check_state(layer, spike_count, batch, self.hidden_shape)
        return spikes, spike_count + spikes.astype(spike_count.dtype)

    def _batch_ndim(self, state: Array) -> int:
        return state.ndim - len(self.hidden_shape)


class Flatten(nnx.Module):
    """Flatten every axis but the first: ``(B, ...) -> (B, prod(...))``.

    Stateless (no `initial_state`), so `Sequential` calls it as ``f(x)``.

    Example: ``Flatten()(jnp.ones((4, 8, 8, 3))).shape == (4, 192)``.
    """

    def __call__(self, x: Array) -> Array:
        core.check_floating("Flatten", "x", x)
        if x.ndim < 1:
            raise ValueError("Flatten: `x` needs a batch axis, got a scalar.")
        return x.reshape(x.shape[0], -1)


def _spatial_axes(layer: str, ndim: int, channel_axis: int | None) -> list[int]:
    if channel_axis is None:
        return list(range(1, ndim))
    if not -ndim <= channel_axis < ndim:
        raise ValueError(
            f"{layer}: `channel_axis` {channel_axis} is out of range for an input "
            f"with {ndim} axes."
        )
    channel = channel_axis % ndim
    if channel == 0:
        raise ValueError(f"{layer}: `channel_axis` cannot be the batch axis 0.")
    return [a for a in range(1, ndim) if a != channel]


def sum_pool(
    value: Array,
    window_shape: int | Sequence[int],
    strides: int | Sequence[int] | None,
    padding: str,
    channel_axis: int | None = -1,
) -> Array:
    """Windowed sum over the spatial axes of a batched input.

    Axis 0 is the batch and `channel_axis` the channels (``None``: no channel
    axis); every other axis is spatial. An int `window_shape` or `strides`
    applies to every spatial axis; a tuple gives one entry per spatial axis
    (or per array axis). `padding` is ``"SAME"`` or ``"VALID"``.

    Example: ``sum_pool(x, 2, 2, "VALID")`` maps ``(B, 28, 28, C)`` to
    ``(B, 14, 14, C)``.
    """
    core.check_floating("sum_pool", "value", value)
    spatial = _spatial_axes("sum_pool", value.ndim, channel_axis)
    return core.sum_pool_axes(value, window_shape, strides, padding, spatial)


class SumPool(nnx.Module):
    """Stateless sum pooling; see `sum_pool`.

    **Arguments:**

    - `window_shape`: window size, int or per spatial axis.
    - `strides`: step between windows; ``None`` means `window_shape`.
    - `padding`: ``"SAME"`` or ``"VALID"``.
    - `channel_axis`: axis of the channels, ``None`` if there is none.

    Example: ``SumPool(2)(jnp.ones((4, 8, 8, 3))).shape == (4, 4, 4, 3)``.
    """

    def __init__(
        self,
        window_shape: int | Sequence[int],
        strides: int | Sequence[int] | None = None,
        padding: str = "VALID",
        channel_axis: int | None = -1,
    ):
        if padding not in ("SAME", "VALID"):
            raise ValueError(
                f"SumPool: `padding` must be 'SAME' or 'VALID', got {padding!r}."
            )
        self.window_shape = (
            window_shape if isinstance(window_shape, int) else tuple(window_shape)
        )
        self.strides = (
            strides if strides is None or isinstance(strides, int) else (tuple(strides))
        )
        self.padding = padding
        self.channel_axis = channel_axis

    def __call__(self, x: Array) -> Array:
        return sum_pool(
            x, self.window_shape, self.strides, self.padding, self.channel_axis
        )


class PopulationCode(nnx.Module):
    """Sum groups of output neurons into class scores.

    ``(..., N) -> (..., num_classes)``: neuron ``i`` votes for class
    ``i // (N // num_classes)``. `N` must be a multiple of `num_classes`.

    Example: ``PopulationCode(2)(jnp.array([[1., 2., 3., 4.]]))`` is ``[[3., 7.]]``.
    """

    def __init__(self, num_classes: int):
        (self.num_classes,) = core.normalize_shape(
            "PopulationCode", "num_classes", num_classes
        )

    def __call__(self, x: Array) -> Array:
        core.check_floating("PopulationCode", "x", x)
        return core.population_code(x, self.num_classes)


def _initial_state(layer: Any, batch_size: int | None, dtype: Any) -> Any:
    """A layer's zero state; `dtype` reaches the neurons (an activity count
    keeps its own dtype, so that long counts stay exact)."""
    if not _is_stateful(layer):
        return None
    if dtype is not None and isinstance(layer, _Neuron | Sequential):
        return layer.initial_state(batch_size, dtype)
    return layer.initial_state(batch_size)


def _is_stateful(layer: Any) -> bool:
    return callable(getattr(layer, "initial_state", None))


class Sequential(nnx.Sequential):
    """A chain of layers that threads each stateful layer's state.

    Stateful layers (those with `initial_state`) are called as
    ``layer(x, state) -> (x, state)``; stateless ones (`nnx.Linear`,
    `nnx.Conv`, `Flatten`, plain functions, ...) as ``layer(x) -> x``.
    The state is a list with one entry per layer, ``None`` for stateless ones.

    Example:

    ```python
    model = spyx.nn.Sequential(
        nnx.Linear(8, 16, rngs=nnx.Rngs(0)), spyx.nn.LIF((16,), beta=0.9)
    )
    state = model.initial_state(4)                 # [None, zeros((4, 16))]
    out, state = model(jnp.ones((4, 8)), state)    # one step
    ```
    """

    def initial_state(self, batch_size: int | None, dtype: Any = None) -> list[Any]:
        """One entry per layer: its `initial_state`, or ``None``."""
        return [_initial_state(layer, batch_size, dtype) for layer in self.layers]

    def _batch_ndim(self, state: Sequence[Any]) -> int:
        return core.sequential_batch_ndim(self.layers, state)

    def _check_state(self, state: Any) -> None:
        core.check_sequential_state(self.layers, state, _is_stateful)

    def __call__(self, x: Array, state: Sequence[Any]) -> tuple[Array, list[Any]]:  # type: ignore[override]
        """Apply every layer in order; returns ``(out, new_state)``."""
        self._check_state(state)
        return core.step_layers(self.layers, x, state, apply_stateless=_as_is)


def run(
    model: Any,
    x: Array,
    state: Any = None,
    *,
    layerwise: bool | None = None,
    unroll: int | bool = 1,
    checkpoint: int | None = None,
) -> tuple[Array, Any]:
    """Run a stateful model over a time-major sequence.

    A `Sequential` runs layer by layer (`spyx.core.run_layerwise`):
    stateless layers (`nnx.Linear`, `nnx.Conv`, `Flatten`, ...) see all
    ``T * B`` rows at once, each stateful layer is scanned over time on its
    own, and `PSU_LIF` runs its parallel path. Any other model, or
    ``layerwise=False``, is stepped through time as a whole with
    `jax.lax.scan`. Both give the same outputs, final state and gradients.

    **Arguments:**

    - `model`: a callable ``(x_t, state) -> (out_t, state)``, such as a
      neuron or a `Sequential`. A plain stateless module does not fit: wrap
      it in a `Sequential` with a stateful layer, or `jax.vmap` it over time.
    - `x`: input of shape ``[Time, Batch, ...]``.
    - `state`: the state before the first step; ``None`` asks
      ``model.initial_state(x.shape[1])``, with neuron states in `x`'s dtype.
    - `layerwise`: run a `Sequential` layer by layer (``True``) or step by
      step (``False``). Default: layer by layer, unless `checkpoint` is set
      (layer-wise execution keeps every layer's whole sequence, so only the
      step-by-step scan bounds the memory).
    - `unroll`: time steps per loop iteration of the scans.
    - `checkpoint`: memory-bounded backpropagation through time: remat blocks
      of this many steps (see `spyx.core.time_scan`).

    **Returns:** ``(outputs, final_state)``, outputs time-major
    ``[Time, Batch, ...]``.

    Example:

    ```python
    model = spyx.nn.Sequential(
        nnx.Linear(8, 16, rngs=nnx.Rngs(0)), spyx.nn.LIF((16,), beta=0.9)
    )
    x = jnp.ones((100, 4, 8))  # [T, B, features]
    outs, final = spyx.nn.run(model, x)  # layer by layer: outs [100, 4, 16]
    outs, final = spyx.nn.run(model, x, checkpoint=25)  # bounded memory
    ```
    """
    layer = f"run({type(model).__name__})"
    if not callable(model):
        raise TypeError(f"{layer}: `model` must be callable as model(x_t, state).")
    core.check_time_major(layer, x, state)
    if state is None:
        if not _is_stateful(model):
            raise TypeError(
                f"{layer}: no `state` was given and the model has no "
                f"initial_state(batch_size). Pass state=... explicitly, or wrap "
                f"the model in spyx.nn.Sequential together with a stateful layer."
            )
        state = _initial_state(model, x.shape[1], x.dtype)
    layers, batch_ndim = None, 0
    if isinstance(model, Sequential):
        model._check_state(state)
        layers, batch_ndim = model.layers, model._batch_ndim(state)
    return core.run_model(
        model,
        x,
        state,
        layers=layers,
        batch_ndim=batch_ndim,
        apply_rows=_as_is,
        layerwise=layerwise,
        unroll=unroll,
        checkpoint=checkpoint,
    )


def _as_is(layer: Any) -> Any:
    """NNX layers take any leading batch axes: apply them unchanged."""
    return layer
