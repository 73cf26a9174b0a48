"""The neurons as Equinox modules: parameters plus a call into `spyx.core`.

Each module acts on one example and also accepts leading batch axes: `x` is
``(*batch, *hidden_shape)``. Batch with `jax.vmap`, or pass a batched state
from ``initial_state(batch_size)``.
"""

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array

from spyx import core
from spyx.axn import superspike

from ._custom_types import Hidden, Sequence_, TwoPart, typechecked

__all__ = [
    "ALIF",
    "IF",
    "LI",
    "LIF",
    "PSU_LIF",
    "RIF",
    "RLIF",
    "CuBaLIF",
    "RCuBaLIF",
]

ShapeLike = int | Sequence[int]
SpikeFn = Callable[[Array], Array]


def _keys(layer: str, key: Array | None, n: int, what: str) -> list[Array]:
    if key is None:
        raise TypeError(
            f"{layer}: `key` is required to initialise {what} randomly; pass "
            f"key=jax.random.key(0)."
        )
    return list(jax.random.split(key, n))


class _Neuron(eqx.Module):
    """Shared shell: hidden shape, state construction and input checks."""

    hidden_shape: tuple[int, ...] = eqx.field(static=True)
    _state_parts: ClassVar[int] = 1
    _decays: ClassVar[tuple[str, ...]] = ()

    @property
    def n(self) -> int:
        """Size of the last hidden axis (used in the shape annotations)."""
        return self.hidden_shape[-1]

    @property
    def state_shape(self) -> tuple[int, ...]:
        """Per-example state shape (two-part states double the last axis)."""
        return core.state_shape(self.hidden_shape, self._state_parts)

    def initial_state(
        self, batch_size: int | None = None, dtype: Any = jnp.float32
    ) -> Array:
        """Zero state: ``state_shape``, or ``(batch_size, *state_shape)``."""
        batch = core.batch_shape(type(self).__name__, batch_size)
        return jnp.zeros((*batch, *self.state_shape), dtype)

    def _batch_ndim(self, state: Array) -> int:
        return state.ndim - len(self.state_shape)

    def _check_sequence(self, x: Any, layer: str | None = None) -> tuple[int, ...]:
        """Check a time-major sequence ``[T, *batch, *hidden]``; returns batch."""
        return core.check_sequence(layer or type(self).__name__, x, self.hidden_shape)

    def _check(self, x: Any, state: Any) -> None:
        layer = type(self).__name__
        batch = core.check_input(layer, x, self.hidden_shape)
        core.check_state(layer, state, batch, self.state_shape)
        for name in (*self._decays, "W"):
            if hasattr(self, name):
                core.check_finite(layer, name, getattr(self, name))

    def _init_decays(self, values: dict[str, Any], key: Array | None) -> None:
        layer = type(self).__name__
        missing = [d for d in self._decays if values[d] is None]
        keys = iter(_keys(layer, key, len(missing), _list(missing)) if missing else [])
        for d in self._decays:
            if values[d] is None:
                array = core.decay_init(next(keys), self.hidden_shape)
            else:
                array = core.decay_value(layer, d, values[d], self.hidden_shape)
            setattr(self, d, array)

    def __check_init__(self) -> None:
        layer = type(self).__name__
        for d in self._decays:
            shape = getattr(self, d).shape
            if shape not in ((), self.hidden_shape):
                raise ValueError(
                    f"{layer}: `{d}` must have shape () or {self.hidden_shape}, "
                    f"got {shape}."
                )


def _list(names: list[str]) -> str:
    return " and ".join(f"`{n}`" for n in names) + " (None, so learnable per unit)"


class _Spiking(_Neuron):
    threshold: float = eqx.field(static=True)
    activation: SpikeFn

    def _init_spiking(
        self, hidden_shape: ShapeLike, threshold: Any, activation: SpikeFn | None
    ) -> None:
        layer = type(self).__name__
        self.hidden_shape = core.normalize_shape(layer, "hidden_shape", hidden_shape)
        self.threshold = core.threshold_value(layer, threshold)
        self.activation = superspike() if activation is None else activation


class _Recurrent(_Spiking):
    W: Array

    def _init_recurrent(self, key: Array | None) -> Array | None:
        """Draw ``W``; returns the key left over for the decays."""
        layer = type(self).__name__
        core.check_recurrent_shape(layer, self.hidden_shape)
        w_key, rest = _keys(layer, key, 2, "`W`")
        self.W = core.recurrent_init(w_key, self.hidden_shape)
        return rest

    def __check_init__(self) -> None:
        layer = type(self).__name__
        core.check_recurrent_shape(layer, self.hidden_shape)
        expected = (*self.hidden_shape, *self.hidden_shape)
        if self.W.shape != expected:
            raise ValueError(
                f"{layer}: `W` must have shape {expected}, got {self.W.shape}."
            )


class IF(_Spiking):
    """Integrate-and-fire neuron.

    ``s = H(V - th)``;  ``V' = V + x - s th``;  out ``s``.

    **Arguments:**

    - `hidden_shape`: shape of the layer.
    - `threshold`: firing threshold (static).
    - `activation`: spike function from `spyx.axn`; default `superspike()`.
    - `key`: accepted for uniformity and ignored.

    State: ``V``, shape ``hidden_shape`` (plus any batch axes).

    Example:

    ```python
    layer = spyx_eqx.IF((128,))
    out, state = layer(jnp.ones(128), layer.initial_state())  # one example
    outs, final = spyx_eqx.run(layer, jnp.ones((100, 128)))     # [T, 128]
    ```
    """

    def __init__(
        self,
        hidden_shape: ShapeLike,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        key: Array | None = None,
    ):
        self._init_spiking(hidden_shape, threshold, activation)

    @typechecked
    def __call__(self, x: Hidden, V: Hidden) -> tuple[Hidden, Hidden]:
        self._check(x, V)
        return core.if_step(x, V, threshold=self.threshold, spike=self.activation)

    @typechecked
    def run_sequence(self, x: Sequence_, V: Hidden) -> tuple[Sequence_, Hidden]:
        """The whole time-major sequence from the state `V`, returning
        ``(spikes, final V)``: equal to scanning `__call__`, with a leaner
        backward pass (`spyx.core.lif_sequence`). Layer-wise `run` uses it."""
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
    - `beta`: membrane decay; ``None`` learns one per unit (needs `key`).
    - `threshold`: firing threshold (static).
    - `activation`: spike function; default `superspike()`.
    - `key`: a `jax.random` key.

    State: ``V``, shape ``hidden_shape`` (plus any batch axes).

    Example:

    ```python
    layer = spyx_eqx.LIF((128,), key=jax.random.key(0))
    out, state = layer(jnp.ones(128), layer.initial_state())  # one example
    outs, final = spyx_eqx.run(layer, jnp.ones((100, 128)))     # [T, 128]
    ```
    """

    beta: Array
    _decays: ClassVar[tuple[str, ...]] = ("beta",)

    def __init__(
        self,
        hidden_shape: ShapeLike,
        beta: Any = None,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        key: Array | None = None,
    ):
        self._init_spiking(hidden_shape, threshold, activation)
        self._init_decays({"beta": beta}, key)

    @typechecked
    def __call__(self, x: Hidden, V: Hidden) -> tuple[Hidden, Hidden]:
        self._check(x, V)
        return core.lif_step(
            x, V, beta=self.beta, threshold=self.threshold, spike=self.activation
        )

    @typechecked
    def run_sequence(self, x: Sequence_, V: Hidden) -> tuple[Sequence_, Hidden]:
        """The whole time-major sequence from the state `V`, returning
        ``(spikes, final V)``: equal to scanning `__call__`, with a leaner
        backward pass (`spyx.core.lif_sequence`). Layer-wise `run` uses it."""
        batch = self._check_sequence(x)
        core.check_state(type(self).__name__, V, batch, self.state_shape)
        return core.lif_sequence(
            x, V, beta=self.beta, threshold=self.threshold, spike=self.activation
        )


class LI(_Neuron):
    """Leaky integrator, a non-spiking readout.

    ``V' = b V + x``;  out ``V'``.

    **Arguments:**

    - `layer_shape`: shape of the layer.
    - `beta`: decay; ``None`` gives a per-unit array filled with 0.8.
    - `key`: accepted for uniformity; the default is not random.

    State: ``V``, shape ``layer_shape`` (plus any batch axes).

    Example:

    ```python
    layer = spyx_eqx.LI((10,))
    out, state = layer(jnp.ones(10), layer.initial_state())  # one example
    outs, final = spyx_eqx.run(layer, jnp.ones((100, 10)))     # [T, 10]
    ```
    """

    beta: Array
    _decays: ClassVar[tuple[str, ...]] = ("beta",)

    def __init__(
        self, layer_shape: ShapeLike, beta: Any = None, *, key: Array | None = None
    ):
        self.hidden_shape = core.normalize_shape("LI", "layer_shape", layer_shape)
        if beta is None:
            beta = jnp.full(self.hidden_shape, 0.8)
        self._init_decays({"beta": beta}, None)

    @typechecked
    def __call__(self, x: Hidden, Vin: Hidden) -> tuple[Hidden, Hidden]:
        self._check(x, Vin)
        return core.li_step(x, Vin, beta=self.beta)


class ALIF(_Spiking):
    """Adaptive LIF (Bellec et al., NeurIPS 2018).

    ``th_t = th + T``;  ``s = H(V - th_t)``;  ``V' = b V + x - s th_t``;
    ``T' = g T + (1 - g) s``;  out ``s``.

    **Arguments:**

    - `hidden_shape`: shape of the layer.
    - `beta`, `gamma`: membrane and threshold-adaptation decays; ``None``
      learns one per unit (needs `key`).
    - `threshold`: base firing threshold (static).
    - `activation`: spike function; default `superspike()`.
    - `key`: a `jax.random` key.

    State: ``[V, T]`` on the last axis, ``(*hidden_shape[:-1], 2 n)``.

    Example:

    ```python
    layer = spyx_eqx.ALIF((128,), key=jax.random.key(0))
    out, state = layer(jnp.ones(128), layer.initial_state())  # one example
    outs, final = spyx_eqx.run(layer, jnp.ones((100, 128)))     # [T, 128]
    ```
    """

    beta: Array
    gamma: Array
    _state_parts: ClassVar[int] = 2
    _decays: ClassVar[tuple[str, ...]] = ("beta", "gamma")

    def __init__(
        self,
        hidden_shape: ShapeLike,
        beta: Any = None,
        gamma: Any = None,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        key: Array | None = None,
    ):
        self._init_spiking(hidden_shape, threshold, activation)
        self._init_decays({"beta": beta, "gamma": gamma}, key)

    @typechecked
    def __call__(self, x: Hidden, VT: TwoPart) -> tuple[Hidden, TwoPart]:
        self._check(x, VT)
        return core.alif_step(
            x,
            VT,
            beta=self.beta,
            gamma=self.gamma,
            threshold=self.threshold,
            spike=self.activation,
        )


class CuBaLIF(_Spiking):
    """Current-based LIF.

    ``s = H(V - th)``;  ``I' = a I + x``;  ``V' = b (V - s th) + I'``;  out ``s``.

    **Arguments:**

    - `hidden_shape`: shape of the layer.
    - `alpha`, `beta`: current and membrane decays; ``None`` learns one per
      unit (needs `key`).
    - `threshold`: firing threshold (static).
    - `activation`: spike function; default `superspike()`.
    - `key`: a `jax.random` key.

    State: ``[V, I]`` on the last axis, ``(*hidden_shape[:-1], 2 n)``.

    Example:

    ```python
    layer = spyx_eqx.CuBaLIF((128,), key=jax.random.key(0))
    out, state = layer(jnp.ones(128), layer.initial_state())  # one example
    outs, final = spyx_eqx.run(layer, jnp.ones((100, 128)))     # [T, 128]
    ```
    """

    alpha: Array
    beta: Array
    _state_parts: ClassVar[int] = 2
    _decays: ClassVar[tuple[str, ...]] = ("alpha", "beta")

    def __init__(
        self,
        hidden_shape: ShapeLike,
        alpha: Any = None,
        beta: Any = None,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        key: Array | None = None,
    ):
        self._init_spiking(hidden_shape, threshold, activation)
        self._init_decays({"alpha": alpha, "beta": beta}, key)

    @typechecked
    def __call__(self, x: Hidden, VI: TwoPart) -> tuple[Hidden, TwoPart]:
        self._check(x, VI)
        return core.cuba_lif_step(
            x,
            VI,
            alpha=self.alpha,
            beta=self.beta,
            threshold=self.threshold,
            spike=self.activation,
        )


class RIF(_Recurrent):
    """Recurrent integrate-and-fire neuron.

    ``s = H(V - th)``;  ``V' = V + x + s @ W - s th``;  out ``s``.

    **Arguments:**

    - `hidden_shape`: 1-D shape ``(H,)``.
    - `threshold`: firing threshold (static).
    - `activation`: spike function; default `superspike()`.
    - `key`: a `jax.random` key for ``W`` ``(H, H)``.

    State: ``V``, shape ``(H,)`` (plus any batch axes).

    Example:

    ```python
    layer = spyx_eqx.RIF((128,), key=jax.random.key(0))
    out, state = layer(jnp.ones(128), layer.initial_state())  # one example
    outs, final = spyx_eqx.run(layer, jnp.ones((100, 128)))     # [T, 128]
    ```
    """

    def __init__(
        self,
        hidden_shape: ShapeLike,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        key: Array | None = None,
    ):
        self._init_spiking(hidden_shape, threshold, activation)
        self._init_recurrent(key)

    @typechecked
    def __call__(self, x: Hidden, V: Hidden) -> tuple[Hidden, Hidden]:
        self._check(x, V)
        return core.rif_step(
            x, V, weights=self.W, threshold=self.threshold, spike=self.activation
        )


class RLIF(_Recurrent):
    """Recurrent leaky integrate-and-fire neuron.

    ``s = H(V - th)``;  ``V' = b V + x + s @ W - s th``;  out ``s``.

    **Arguments:**

    - `hidden_shape`: 1-D shape ``(H,)``.
    - `beta`: membrane decay; ``None`` learns one per unit.
    - `threshold`: firing threshold (static).
    - `activation`: spike function; default `superspike()`.
    - `key`: a `jax.random` key for ``W`` (and `beta`).

    State: ``V``, shape ``(H,)`` (plus any batch axes).

    Example:

    ```python
    layer = spyx_eqx.RLIF((128,), key=jax.random.key(0))
    out, state = layer(jnp.ones(128), layer.initial_state())  # one example
    outs, final = spyx_eqx.run(layer, jnp.ones((100, 128)))     # [T, 128]
    ```
    """

    beta: Array
    _decays: ClassVar[tuple[str, ...]] = ("beta",)

    def __init__(
        self,
        hidden_shape: ShapeLike,
        beta: Any = None,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        key: Array | None = None,
    ):
        self._init_spiking(hidden_shape, threshold, activation)
        key = self._init_recurrent(key)
        self._init_decays({"beta": beta}, key)

    @typechecked
    def __call__(self, x: Hidden, V: Hidden) -> tuple[Hidden, Hidden]:
        self._check(x, V)
        return core.rlif_step(
            x,
            V,
            beta=self.beta,
            weights=self.W,
            threshold=self.threshold,
            spike=self.activation,
        )


class RCuBaLIF(_Recurrent):
    """Recurrent current-based LIF.

    ``s = H(V - th)``;  ``I' = a I + x + s @ W``;  ``V' = b (V - s th) + I'``;
    out ``s``.

    **Arguments:**

    - `hidden_shape`: 1-D shape ``(H,)``.
    - `alpha`, `beta`: current and membrane decays; ``None`` learns one per unit.
    - `threshold`: firing threshold (static).
    - `activation`: spike function; default `superspike()`.
    - `key`: a `jax.random` key for ``W`` (and the decays).

    State: ``[V, I]``, shape ``(2 H,)`` (plus any batch axes).

    Example:

    ```python
    layer = spyx_eqx.RCuBaLIF((128,), key=jax.random.key(0))
    out, state = layer(jnp.ones(128), layer.initial_state())  # one example
    outs, final = spyx_eqx.run(layer, jnp.ones((100, 128)))     # [T, 128]
    ```
    """

    alpha: Array
    beta: Array
    _state_parts: ClassVar[int] = 2
    _decays: ClassVar[tuple[str, ...]] = ("alpha", "beta")

    def __init__(
        self,
        hidden_shape: ShapeLike,
        alpha: Any = None,
        beta: Any = None,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        key: Array | None = None,
    ):
        self._init_spiking(hidden_shape, threshold, activation)
        key = self._init_recurrent(key)
        self._init_decays({"alpha": alpha, "beta": beta}, key)

    @typechecked
    def __call__(self, x: Hidden, VI: TwoPart) -> tuple[Hidden, TwoPart]:
        self._check(x, VI)
        return core.rcuba_lif_step(
            x,
            VI,
            alpha=self.alpha,
            beta=self.beta,
            weights=self.W,
            threshold=self.threshold,
            spike=self.activation,
        )


class PSU_LIF(_Spiking):
    """Reset-free parallel-spiking LIF (experimental).

    ``V' = b V + x``;  ``s = H(V' - th)`` (spike on the updated membrane).
    `parallel` computes a whole sequence with an associative scan; scanning
    `__call__` from a zero state gives the same spikes.

    **Arguments:**

    - `hidden_shape`: shape of the layer.
    - `beta`: membrane decay; ``None`` learns one per unit (needs `key`).
    - `threshold`: firing threshold (static).
    - `activation`: spike function; default `superspike()`.
    - `key`: a `jax.random` key.

    State: ``V``, shape ``hidden_shape`` (plus any batch axes).

    Example:

    ```python
    layer = spyx_eqx.PSU_LIF((128,), key=jax.random.key(0))
    out, state = layer(jnp.ones(128), layer.initial_state())  # one example
    outs, final = spyx_eqx.run(layer, jnp.ones((100, 128)))     # [T, 128]
    ```
    """

    beta: Array
    _decays: ClassVar[tuple[str, ...]] = ("beta",)

    def __init__(
        self,
        hidden_shape: ShapeLike,
        beta: Any = None,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        key: Array | None = None,
    ):
        self._init_spiking(hidden_shape, threshold, activation)
        self._init_decays({"beta": beta}, key)

    @typechecked
    def __call__(self, x: Hidden, V: Hidden) -> tuple[Hidden, Hidden]:
        self._check(x, V)
        return core.psu_lif_step(
            x, V, beta=self.beta, threshold=self.threshold, spike=self.activation
        )

    @typechecked
    def parallel(
        self, x: Sequence_, *, method: core.LeakyScanMethod = "auto"
    ) -> Sequence_:
        """Spikes ``[T, *batch, *hidden_shape]`` of a whole time-major sequence,
        from ``V_t = b V_{t-1} + x_t`` (``V_{-1} = 0``) via
        `spyx.core.leaky_scan`; `method` as in `spyx.nn.PSU_LIF.parallel`."""
        core.check_input("PSU_LIF.parallel", x, self.hidden_shape)
        return self._sequence(x, None, method)[0]

    @typechecked
    def run_sequence(
        self, x: Sequence_, V: Hidden, *, method: core.LeakyScanMethod = "auto"
    ) -> tuple[Sequence_, Hidden]:
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
            beta=self.beta,
            threshold=self.threshold,
            spike=self.activation,
            method=method,
        )
