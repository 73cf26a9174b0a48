"""The neurons as Equinox modules: one short declaration per row of the
neuron table (`spyx.core.NEURONS`); behaviour lives in `Neuron`.

Neurons with the same constructor share it, and their decay fields, through
a small base class (`_Integrating`: IF, RIF; `_Leaky`: LIF, RLIF, PSU_LIF;
`_CurrentBased`: CuBaLIF, RCuBaLIF); recurrent ones add their ``recurrent_w`` field.
Such a class is declared with ``init=False``: Equinox keeps the base's
``__init__`` at run time, and the keyword says so to type checkers, which
would otherwise give it a dataclass ``__init__`` made from its fields.

Each module acts on one example and also accepts leading batch axes: `x` is
``(*batch, *hidden_shape)``. Batch with `jax.vmap`, or pass a batched state
from ``initial_state(batch_size)``.
"""

from typing import Any, ClassVar

from jax import Array
from jaxtyping import Float

from spyx import core
from spyx.core import _frontend as frontend

from ._custom_types import AnyArray, input_checked
from ._neuron import Neuron, SpikeFn, SpikingNeuron

__all__ = [
    "ALIF",
    "IF",
    "LI",
    "LIF",
    "PSU_LIF",
    "RIF",
    "RLIF",
    "AssociativeLIF",
    "CuBaLIF",
    "RCuBaLIF",
]

ShapeLike = int | tuple[int, ...]


class _Integrating(SpikingNeuron):
    def __init__(
        self,
        hidden_shape: ShapeLike,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        reset: core.Reset = "subtract",
        spikes_after_update: bool = False,
        key: Array | None = None,
    ):
        """Create the layer.

        Args:
            hidden_shape: one example's shape, e.g. ``(128,)``; 1-D for a
                recurrent neuron.
            threshold: firing threshold, a positive number (a float
                hyperparameter, never trained).
            activation: spike function from `spyx.axn`; default `superspike()`.
            reset: ``"subtract"`` (default), ``"zero"`` or ``"none"`` (static);
                see `spyx.nn.LIF`.
            spikes_after_update: the spike timing (static); see
                `spyx.nn.LIF`.
            key: a `jax.random` key for the recurrent weights ``recurrent_w``
                (IF ignores it).
        """
        self._setup(
            shape=hidden_shape,
            decays={},
            randomness=key,
            threshold=threshold,
            activation=activation,
            reset=reset,
            spikes_after_update=spikes_after_update,
        )


class _Leaky(SpikingNeuron):
    beta: Array

    def __init__(
        self,
        hidden_shape: ShapeLike,
        beta: Any = None,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        reset: core.Reset = "subtract",
        spikes_after_update: bool = False,
        key: Array | None = None,
    ):
        """Create the layer.

        Args:
            hidden_shape: one example's shape, e.g. ``(128,)`` or
                ``(C, H, W)``; 1-D for a recurrent neuron.
            beta: membrane decay, a number or a per-unit array; ``None``
                learns one per unit.
            threshold: firing threshold, a positive number (a float
                hyperparameter, never trained).
            activation: spike function from `spyx.axn`; default `superspike()`.
            reset: ``"subtract"`` (default), ``"zero"`` or ``"none"`` (static);
                see `spyx.nn.LIF`.
            spikes_after_update: the spike timing (static); see
                `spyx.nn.LIF`.
            key: a `jax.random` key, needed when `beta` is ``None`` or the
                neuron is recurrent (``recurrent_w``).
        """
        self._setup(
            shape=hidden_shape,
            decays={"beta": beta},
            randomness=key,
            threshold=threshold,
            activation=activation,
            reset=reset,
            spikes_after_update=spikes_after_update,
        )


class _CurrentBased(SpikingNeuron):
    alpha: Array
    beta: Array

    def __init__(
        self,
        hidden_shape: ShapeLike,
        alpha: Any = None,
        beta: Any = None,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        reset: core.Reset = "subtract",
        spikes_after_update: bool = False,
        key: Array | None = None,
    ):
        """Create the layer.

        Args:
            hidden_shape: one example's shape; 1-D for a recurrent neuron.
            alpha: synaptic-current decay; ``None`` learns one per unit.
            beta: membrane decay; ``None`` learns one per unit.
            threshold: firing threshold, a positive number (a float
                hyperparameter, never trained).
            activation: spike function from `spyx.axn`; default `superspike()`.
            reset: ``"subtract"`` (default), ``"zero"`` or ``"none"`` (static);
                see `spyx.nn.LIF`.
            spikes_after_update: the spike timing (static); see
                `spyx.nn.LIF`.
            key: a `jax.random` key, needed when a decay is ``None`` or the
                neuron is recurrent (``recurrent_w``).
        """
        decays = {"alpha": alpha, "beta": beta}
        self._setup(
            shape=hidden_shape,
            decays=decays,
            randomness=key,
            threshold=threshold,
            activation=activation,
            reset=reset,
            spikes_after_update=spikes_after_update,
        )


class IF(_Integrating, init=False):
    r"""Integrate-and-fire neuron.

    $s = H(V - \vartheta)$;  $V' = V + x - s\,\vartheta$;  out $s$. State: ``V``,
    shape ``hidden_shape`` (plus any batch axes).

    Example:

    ```python
    layer = spyx_eqx.IF((128,), threshold=2.0)
    out, V = layer(jnp.ones(128), layer.initial_state())  # one example
    ```
    """

    spec: ClassVar = core.IF


class LIF(_Leaky, init=False):
    r"""Leaky integrate-and-fire neuron.

    $s = H(V - \vartheta)$;  $V' = b V + x - s\,\vartheta$;  out $s$. State: ``V``,
    shape ``hidden_shape`` (plus any batch axes).

    Example:

    ```python
    layer = spyx_eqx.LIF((128,), key=jax.random.key(0))  # per-unit beta
    spikes, final_V = spyx_eqx.run(layer, jnp.ones((100, 128)))  # [T, 128]
    ```
    """

    spec: ClassVar = core.LIF


class LI(Neuron):
    r"""Leaky integrator, a non-spiking readout.

    $V' = b V + x$;  out $V'$. State: ``V``, shape ``layer_shape`` (plus
    any batch axes).

    Example:

    ```python
    readout = spyx_eqx.LI((10,))  # beta: a per-unit array of 0.8
    traces, _ = spyx_eqx.run(readout, jnp.ones((100, 10)))  # membranes
    ```
    """

    spec: ClassVar = core.LI
    beta: Array

    def __init__(
        self,
        layer_shape: ShapeLike | None = None,
        beta: Any = None,
        *,
        hidden_shape: ShapeLike | None = None,
        key: Array | None = None,
    ):
        """Create the layer.

        Args:
            layer_shape: one example's shape.
            hidden_shape: the same, under the name every other neuron uses
                (give one of the two).
            beta: decay; ``None`` gives a per-unit array filled with 0.8.
            key: accepted for uniformity; the default is not random.
        """
        shape = frontend.shape_argument("LI", layer_shape, hidden_shape)
        self._setup(shape=shape, decays={"beta": beta}, randomness=key)


class ALIF(SpikingNeuron):
    r"""Adaptive LIF (Bellec et al., NeurIPS 2018).

    $\vartheta_t = \vartheta + T$;  $s = H(V - \vartheta_t)$;
    $V' = b V + x - s\,\vartheta_t$;  $T' = g T + (1 - g)\, s$;  out $s$.

    State: ``[V, T]`` on the last axis, ``(*hidden_shape[:-1], 2 n)``.

    Example:

    ```python
    layer = spyx_eqx.ALIF((128,), beta=0.9, gamma=0.95)
    VT = layer.initial_state()  # (256,): V, then the threshold trace T
    out, VT = layer(jnp.ones(128), VT)
    ```
    """

    spec: ClassVar = core.ALIF
    beta: Array
    gamma: Array

    def __init__(
        self,
        hidden_shape: ShapeLike,
        beta: Any = None,
        gamma: Any = None,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        reset: core.Reset = "subtract",
        spikes_after_update: bool = False,
        key: Array | None = None,
    ):
        """Create the layer.

        Args:
            hidden_shape: one example's shape.
            beta: membrane decay; ``None`` learns one per unit (needs `key`).
            gamma: threshold-adaptation decay; ``None`` learns one per unit
                (needs `key`).
            threshold: base firing threshold, a positive number (a float
                hyperparameter, never trained).
            activation: spike function from `spyx.axn`; default `superspike()`.
            reset: ``"subtract"`` (default), ``"zero"`` or ``"none"`` (static);
                see `spyx.nn.LIF`.
            spikes_after_update: the spike timing (static); see
                `spyx.nn.LIF`.
            key: a `jax.random` key.
        """
        decays = {"beta": beta, "gamma": gamma}
        self._setup(
            shape=hidden_shape,
            decays=decays,
            randomness=key,
            threshold=threshold,
            activation=activation,
            reset=reset,
            spikes_after_update=spikes_after_update,
        )


class CuBaLIF(_CurrentBased, init=False):
    r"""Current-based LIF.

    $s = H(V - \vartheta)$;  $I' = a I + x$;  $V' = b (V - s\,\vartheta) + I'$;
    out $s$.

    State: ``[V, I]`` on the last axis, ``(*hidden_shape[:-1], 2 n)``.

    Example:

    ```python
    layer = spyx_eqx.CuBaLIF((128,), key=jax.random.key(0))
    xs = jnp.ones((100, 4, 128))  # [T, B, 128] with a batched state
    spikes, VI = spyx_eqx.run(layer, xs, layer.initial_state(4))  # VI (4, 256)
    ```
    """

    spec: ClassVar = core.CUBA_LIF


class RIF(_Integrating, init=False):
    r"""Recurrent integrate-and-fire neuron.

    $s = H(V - \vartheta)$;  $V' = V + x + s W - s\,\vartheta$;  out $s$, with
    recurrent weights $W$ = ``recurrent_w`` ``(H, H)``. State: ``V``, shape
    ``(H,)`` (plus any batch axes).

    Example:

    ```python
    layer = spyx_eqx.RIF((64,), key=jax.random.key(0))  # draws recurrent_w (64, 64)
    spikes, V = spyx_eqx.run(layer, jnp.ones((50, 64)))
    ```
    """

    spec: ClassVar = core.RIF
    recurrent_w: Array


class RLIF(_Leaky, init=False):
    r"""Recurrent leaky integrate-and-fire neuron.

    $s = H(V - \vartheta)$;  $V' = b V + x + s W - s\,\vartheta$;  out $s$, with
    recurrent weights $W$ = ``recurrent_w`` ``(H, H)``. State: ``V``, shape
    ``(H,)`` (plus any batch axes).

    Example:

    ```python
    layer = spyx_eqx.RLIF((64,), beta=0.9, key=jax.random.key(0))
    assert layer.recurrent_w.shape == (64, 64)
    ```
    """

    spec: ClassVar = core.RLIF
    recurrent_w: Array


class RCuBaLIF(_CurrentBased, init=False):
    r"""Recurrent current-based LIF: the feedback enters the current.

    $s = H(V - \vartheta)$;  $I' = a I + x + s W$;  $V' = b (V - s\,\vartheta) + I'$;
    out $s$. State: ``[V, I]``, shape ``(2 H,)`` (plus any batch axes).

    Example:

    ```python
    layer = spyx_eqx.RCuBaLIF((64,), key=jax.random.key(0))
    spikes, VI = spyx_eqx.run(layer, jnp.ones((50, 64)))  # VI: (128,)
    ```
    """

    spec: ClassVar = core.RCUBA_LIF
    recurrent_w: Array


class PSU_LIF(SpikingNeuron):
    r"""Reset-free parallel-spiking LIF (experimental).

    $V' = b V + x$;  $s = H(V' - \vartheta)$ (spike on the updated membrane).
    `parallel` computes a whole sequence with an associative scan; scanning
    `__call__` from a zero state gives the same spikes. State: ``V``, shape
    ``hidden_shape`` (plus any batch axes).

    Example:

    ```python
    layer = spyx_eqx.PSU_LIF((128,), key=jax.random.key(0))
    spikes = layer.parallel(jnp.ones((100, 128)))  # [T, 128]
    ```
    """

    spec: ClassVar = core.PSU_LIF
    beta: Array

    def __init__(
        self,
        hidden_shape: ShapeLike,
        beta: Any = None,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        key: Array | None = None,
    ):
        """Create the layer; the arguments are `LIF`'s, without `reset`."""
        self._setup(
            shape=hidden_shape,
            decays={"beta": beta},
            randomness=key,
            threshold=threshold,
            activation=activation,
        )

    @input_checked(sequence=True, label=".parallel")
    def parallel(
        self,
        x: Float[AnyArray, "time *batch {self.n}"],
        *,
        method: core.LeakyScanMethod = "auto",
    ) -> Float[AnyArray, "time *batch {self.n}"]:
        """Spikes of a whole sequence at once, from a zero state.

        Spikes ``[T, *batch, *hidden_shape]`` of a whole time-major sequence,
        from ``V_t = b V_{t-1} + x_t`` (``V_{-1} = 0``) via
        `spyx.core.leaky_scan`; `method` as in `spyx.nn.PSU_LIF.parallel`."""
        return frontend.neuron_parallel(
            self, self._params(), x, method=method, checked=True
        )


class AssociativeLIF(PSU_LIF, init=False):
    r"""PSU_LIF under spyx 1.0's name, for users of snnTorch.

    `PSU_LIF` under the name spyx 1.0 gave it for users of snnTorch
    (experimental; see `spyx.experimental`).

    The same neuron, constructor and parallel path as `PSU_LIF`. Its
    membrane equals snnTorch's reset-free `StateLeaky` once snnTorch's
    ``beta`` is converted with `beta_from_snntorch` (snnTorch reads it as a
    time constant). It is not snnTorch's `AssociativeLeaky`, a matrix-valued
    associative memory that no scalar neuron expresses.

    Example:

    ```python
    beta = spyx_eqx.AssociativeLIF.beta_from_snntorch(0.9)  # 0.9048
    layer = spyx_eqx.AssociativeLIF((16,), beta=float(beta))
    ```
    """

    beta_from_snntorch = staticmethod(core.beta_from_snntorch)
    snntorch_beta_from_beta = staticmethod(core.snntorch_beta_from_beta)
