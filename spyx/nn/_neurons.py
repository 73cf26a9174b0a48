"""The neurons on Flax NNX: one short declaration per row of the neuron
table (`spyx.core.NEURONS`); behaviour lives in `Neuron`.

Neurons with the same constructor share it through a small base class
(`_Integrating`: IF, RIF; `_Leaky`: LIF, RLIF, PSU_LIF; `_CurrentBased`:
CuBaLIF, RCuBaLIF), so each class below is its docstring and its `spec`.

Decay parameters (`beta`, `alpha`, `gamma`) are clipped to ``[0, 1]`` when
used. Left as ``None`` they are learnable per unit (shape `hidden_shape`,
mean 0.5, standard deviation 0.25); given as a number they are one shared,
still trainable, scalar.
"""

from typing import Any, ClassVar

from flax import nnx
from jax import Array

from .. import core
from ..axn import SpikeFn
from ..core import _frontend as frontend
from ._neuron import Neuron

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


class _Integrating(Neuron):
    def __init__(
        self,
        hidden_shape: ShapeLike,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        reset: core.Reset = "subtract",
        spikes_after_update: bool = False,
        rngs: nnx.Rngs | None = None,
    ):
        """Create the layer.

        Args:
            hidden_shape: shape of the layer, e.g. ``(128,)``; 1-D for a
                recurrent neuron.
            threshold: firing threshold (a positive number, not trained).
            activation: spike function from `spyx.axn`; default `superspike()`.
            reset: ``"subtract"`` (default: ``V -= s th``), ``"zero"`` (a
                membrane that fired is cleared before it leaks) or ``"none"``.
            spikes_after_update: give the spike of the membrane after the
                step's update (NIR's, snnTorch's and Norse's timing) instead of
                before it (default); the membrane is the same.
            rngs: `nnx.Rngs` for the recurrent weights ``recurrent_w`` (IF has
                no parameters and ignores it).
        """
        self._setup(
            shape=hidden_shape,
            decays={},
            randomness=rngs,
            threshold=threshold,
            activation=activation,
            reset=reset,
            spikes_after_update=spikes_after_update,
        )


class _Leaky(Neuron):
    def __init__(
        self,
        hidden_shape: ShapeLike,
        beta: Any = None,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        reset: core.Reset = "subtract",
        spikes_after_update: bool = False,
        rngs: nnx.Rngs | None = None,
    ):
        """Create the layer.

        Args:
            hidden_shape: shape of the layer, e.g. ``(128,)`` or ``(H, W, C)``;
                1-D for a recurrent neuron.
            beta: membrane decay, a number or a per-unit array; ``None``
                learns one per unit.
            threshold: firing threshold (a positive number, not trained).
            activation: spike function from `spyx.axn`; default `superspike()`.
            reset: ``"subtract"`` (default: ``V -= s th``), ``"zero"`` (a
                membrane that fired is cleared before it leaks) or ``"none"``.
            spikes_after_update: give the spike of the membrane after the
                step's update (NIR's, snnTorch's and Norse's timing) instead of
                before it (default); the membrane is the same.
            rngs: `nnx.Rngs`, needed when `beta` is ``None`` or the neuron
                is recurrent (``recurrent_w``).
        """
        self._setup(
            shape=hidden_shape,
            decays={"beta": beta},
            randomness=rngs,
            threshold=threshold,
            activation=activation,
            reset=reset,
            spikes_after_update=spikes_after_update,
        )


class _CurrentBased(Neuron):
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
        rngs: nnx.Rngs | None = None,
    ):
        """Create the layer.

        Args:
            hidden_shape: shape of the layer; 1-D for a recurrent neuron.
            alpha: synaptic-current decay; ``None`` learns one per unit.
            beta: membrane decay; ``None`` learns one per unit.
            threshold: firing threshold (a positive number, not trained).
            activation: spike function from `spyx.axn`; default `superspike()`.
            reset: ``"subtract"`` (default: ``V -= s th``), ``"zero"`` (a
                membrane that fired is cleared before it leaks) or ``"none"``.
            spikes_after_update: give the spike of the membrane after the
                step's update (NIR's, snnTorch's and Norse's timing) instead of
                before it (default); the membrane is the same.
            rngs: `nnx.Rngs`, needed when a decay is ``None`` or the neuron
                is recurrent (``recurrent_w``).
        """
        decays = {"alpha": alpha, "beta": beta}
        self._setup(
            shape=hidden_shape,
            decays=decays,
            randomness=rngs,
            threshold=threshold,
            activation=activation,
            reset=reset,
            spikes_after_update=spikes_after_update,
        )


class IF(_Integrating):
    r"""Integrate-and-fire neuron.

    $s = H(V - \vartheta)$;  $V' = V + x - s\,\vartheta$;  out $s$. State: ``V`` of
    shape ``(B, *hidden_shape)``.

    Example:

    ```python
    layer = spyx.nn.IF((128,), threshold=2.0)
    out, V = layer(jnp.ones((32, 128)), layer.initial_state(32))  # one step
    ```
    """

    spec: ClassVar = core.IF


class LIF(_Leaky):
    r"""Leaky integrate-and-fire neuron.

    $s = H(V - \vartheta)$;  $V' = b V + x - s\,\vartheta$;  out $s$. State: ``V`` of
    shape ``(B, *hidden_shape)``.

    Example:

    ```python
    layer = spyx.nn.LIF((128,), rngs=nnx.Rngs(0))  # learnable per-unit beta
    spikes, final_V = spyx.nn.run(layer, jnp.ones((100, 32, 128)))  # [T, B, H]
    ```
    """

    spec: ClassVar = core.LIF


class LI(Neuron):
    r"""Leaky integrator: a non-spiking readout.

    $V' = b V + x$;  out $V'$. State: ``V`` of shape ``(B, *layer_shape)``.

    Example:

    ```python
    readout = spyx.nn.LI((10,))  # beta: a learnable per-unit array of 0.8
    traces, _ = spyx.nn.run(readout, jnp.ones((100, 32, 10)))  # membranes
    ```
    """

    spec: ClassVar = core.LI

    def __init__(
        self,
        layer_shape: ShapeLike | None = None,
        beta: Any = None,
        *,
        hidden_shape: ShapeLike | None = None,
        rngs: nnx.Rngs | None = None,
    ):
        """Create the layer.

        Args:
            layer_shape: shape of the layer.
            hidden_shape: the same, under the name every other neuron uses
                (give one of the two).
            beta: decay; ``None`` gives a learnable per-unit array filled
                with 0.8.
            rngs: accepted for uniformity; the default `beta` is not random.
        """
        shape = frontend.shape_argument("LI", layer_shape, hidden_shape)
        self._setup(shape=shape, decays={"beta": beta}, randomness=rngs)


class ALIF(Neuron):
    r"""Adaptive leaky integrate-and-fire neuron (Bellec et al., 2018).

    From "Long short-term memory and learning-to-learn in networks of
    spiking neurons" (NeurIPS 2018).

    $\vartheta_t = \vartheta + T$;  $s = H(V - \vartheta_t)$;
    $V' = b V + x - s\,\vartheta_t$;  $T' = g T + (1 - g)\, s$;  out $s$.

    State: ``[V, T]`` side by side on the last axis, shape
    ``(B, *hidden_shape[:-1], 2 * hidden_shape[-1])``.

    Example:

    ```python
    layer = spyx.nn.ALIF((128,), beta=0.9, gamma=0.95)
    VT = layer.initial_state(32)  # (32, 256): V, then the threshold trace T
    out, VT = layer(jnp.ones((32, 128)), VT)
    ```
    """

    spec: ClassVar = core.ALIF

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
        rngs: nnx.Rngs | None = None,
    ):
        """Create the layer.

        Args:
            hidden_shape: shape of the layer.
            beta: membrane decay; ``None`` learns one per unit.
            gamma: threshold-adaptation decay; ``None`` learns one per unit.
            threshold: base firing threshold (a positive number, not trained).
            activation: spike function from `spyx.axn`; default `superspike()`.
            reset: ``"subtract"`` (default: ``V -= s th``), ``"zero"`` (a
                membrane that fired is cleared before it leaks) or ``"none"``.
            spikes_after_update: give the spike of the membrane after the
                step's update (NIR's, snnTorch's and Norse's timing) instead of
                before it (default); the membrane is the same.
            rngs: `nnx.Rngs`, needed when `beta` or `gamma` is ``None``.
        """
        decays = {"beta": beta, "gamma": gamma}
        self._setup(
            shape=hidden_shape,
            decays=decays,
            randomness=rngs,
            threshold=threshold,
            activation=activation,
            reset=reset,
            spikes_after_update=spikes_after_update,
        )


class CuBaLIF(_CurrentBased):
    r"""Current-based LIF: a synaptic current low-pass filters the input.

    $s = H(V - \vartheta)$;  $I' = a I + x$;  $V' = b (V - s\,\vartheta) + I'$;
    out $s$.

    State: ``[V, I]`` side by side on the last axis, shape
    ``(B, *hidden_shape[:-1], 2 * hidden_shape[-1])``.

    Example:

    ```python
    layer = spyx.nn.CuBaLIF((8, 8, 4), alpha=0.8, beta=0.9)  # after a conv
    VI = layer.initial_state(2)  # (2, 8, 8, 8): V and I side by side
    out, VI = layer(jnp.ones((2, 8, 8, 4)), VI)
    ```
    """

    spec: ClassVar = core.CUBA_LIF


class RIF(_Integrating):
    r"""Recurrent integrate-and-fire neuron.

    $s = H(V - \vartheta)$;  $V' = V + x + s W - s\,\vartheta$;  out $s$, with
    recurrent weights $W$ = ``recurrent_w`` of shape ``(H, H)``. State: ``V``
    of shape ``(B, H)``.

    Example:

    ```python
    layer = spyx.nn.RIF((64,), rngs=nnx.Rngs(0))  # draws W (64, 64)
    spikes, V = spyx.nn.run(layer, jnp.ones((50, 8, 64)))
    ```
    """

    spec: ClassVar = core.RIF


class RLIF(_Leaky):
    r"""Recurrent leaky integrate-and-fire neuron.

    $s = H(V - \vartheta)$;  $V' = b V + x + s W - s\,\vartheta$;  out $s$, with
    recurrent weights $W$ = ``recurrent_w`` of shape ``(H, H)``. State: ``V``
    of shape ``(B, H)``.

    Example:

    ```python
    layer = spyx.nn.RLIF((64,), beta=0.9, rngs=nnx.Rngs(0))
    assert layer.recurrent_w.shape == (64, 64)
    ```
    """

    spec: ClassVar = core.RLIF


class RCuBaLIF(_CurrentBased):
    r"""Recurrent current-based LIF: the feedback enters the current.

    $s = H(V - \vartheta)$;  $I' = a I + x + s W$;  $V' = b (V - s\,\vartheta) + I'$;
    out $s$. State: ``[V, I]`` side by side, shape ``(B, 2 H)``.

    Example:

    ```python
    layer = spyx.nn.RCuBaLIF((64,), rngs=nnx.Rngs(0))
    spikes, VI = spyx.nn.run(layer, jnp.ones((50, 8, 64)))  # VI: (8, 128)
    ```
    """

    spec: ClassVar = core.RCUBA_LIF


class PSU_LIF(_Leaky):
    r"""Reset-free parallel-spiking LIF (experimental; see `spyx.experimental`).

    Without a reset the membrane is a linear leaky integrator, an associative
    recurrence, so a whole sequence can be computed in ``O(log T)`` depth:

    $V' = b V + x$;  $s = H(V' - \vartheta)$ (spike on the *updated* membrane).

    The neuron never depresses after firing, so it may spike on consecutive
    steps: a trade of dynamics for parallelism. Scanning `__call__` from a
    zero state and calling `parallel` give the same spikes. State: ``V`` of
    shape ``(B, *hidden_shape)``.

    Example:

    ```python
    layer = spyx.nn.PSU_LIF((128,), rngs=nnx.Rngs(0))
    spikes = layer.parallel(jnp.ones((100, 32, 128)))  # [T, B, 128]
    ```
    """

    spec: ClassVar = core.PSU_LIF

    def __init__(
        self,
        hidden_shape: ShapeLike,
        beta: Any = None,
        threshold: float = 1.0,
        activation: SpikeFn | None = None,
        *,
        rngs: nnx.Rngs | None = None,
    ):
        """Create the layer; the arguments are `LIF`'s, without `reset`."""
        self._setup(
            shape=hidden_shape,
            decays={"beta": beta},
            randomness=rngs,
            threshold=threshold,
            activation=activation,
        )

    def parallel(self, x: Array, *, method: core.LeakyScanMethod = "auto") -> Array:
        """Spikes for a whole time-major sequence at once, from a zero state.

        Computes ``V_t = b V_{t-1} + x_t`` (``V_{-1} = 0``) with
        `spyx.core.leaky_scan`, then ``s_t = H(V_t - th)`` pointwise.

        Args:
            x: ``[T, B, *hidden_shape]``.
            method: ``"auto"`` (the faster for the backend: sequential on
                CPU, associative on accelerators), ``"associative"`` or
                ``"sequential"``.

        Returns:
            spikes of shape ``[T, B, *hidden_shape]``.
        """
        return frontend.neuron_parallel(self, self._params(), x, method=method)


class AssociativeLIF(PSU_LIF):
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
    beta = spyx.nn.AssociativeLIF.beta_from_snntorch(0.9)  # 0.9048
    layer = spyx.nn.AssociativeLIF((16,), beta=float(beta))
    ```
    """

    beta_from_snntorch = staticmethod(core.beta_from_snntorch)
    snntorch_beta_from_beta = staticmethod(core.snntorch_beta_from_beta)
