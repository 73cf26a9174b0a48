"""The neuron table: one `NeuronSpec` per neuron, the single description that
both front ends, the NIR mapping, the model conversions and the tests read.

A front end's neuron class names its spec (``spec = core.LIF``) and inherits
everything else, parameter set-up, checks, the step and the sequence path,
from one base class; see "How to add a neuron" in the design notes.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax.numpy as jnp
from jax import Array

from ...axn import superspike
from .._checks import (
    Shape,
    check_recurrent_shape,
    normalize_shape,
    state_shape,
    threshold_value,
)
from .._equations import (
    RESET_MODES,
    alif_step,
    cuba_lif_step,
    decay_init,
    decay_value,
    if_step,
    li_step,
    lif_step,
    psu_lif_step,
    rcuba_lif_step,
    recurrent_init,
    reset_mode,
    rif_step,
    rlif_step,
)
from .._scans import (
    alif_sequence,
    cuba_lif_sequence,
    if_sequence,
    lif_sequence,
    psu_lif_sequence,
)

__all__ = [
    "ALIF",
    "CUBA_LIF",
    "IF",
    "LI",
    "LIF",
    "NEURONS",
    "PSU_LIF",
    "RCUBA_LIF",
    "RIF",
    "RLIF",
    "THRESHOLD",
    "NeuronSpec",
    "NirMap",
    "RECURRENT_W",
]

THRESHOLD = 1.0
"""The default firing threshold of every spiking neuron."""

RECURRENT_W = "recurrent_w"
"""The attribute name of a recurrent neuron's weights ``W``.

``V' = ... + s @ W``; named as in spyx 1.0: an `nnx.Param` in `spyx.nn`, a
field in `spyx_eqx`."""


@dataclass(frozen=True)
class NirMap:
    """How a neuron is written as (and read from) NIR nodes.

    Attributes:
        node: the NIR node type: ``"IF"``, ``"LIF"``, ``"LI"`` or ``"CubaLIF"``.
        taus: one ``(decay, tau_field, gain_field)`` per decay, e.g.
            ``("beta", "tau", "r")``: ``tau = dt / (1 - decay)`` and the input gain
            ``gain = tau / dt`` (see `spyx.nir`). Empty for `IF`, whose gain is
            ``r = 1 / dt``.
        threshold_node: the spike is a separate `nir.Threshold` after a
            non-spiking node (how `PSU_LIF` is written: ``LI -> Threshold``).

    Recurrent neurons (`NeuronSpec.recurrent`) add a `nir.Linear` feedback
    loop around their node.
    """

    node: str
    taus: tuple[tuple[str, str, str], ...] = ()
    threshold_node: bool = False


@dataclass(frozen=True)
class NeuronSpec:
    """Everything the front ends need to know about one neuron.

    Attributes:
        name: the class name in `spyx.nn` and `spyx_eqx`.
        step: the core step ``step(x, state, **params, threshold, spike,
            reset)``; recurrent weights are passed as ``weights=``, non-spiking
            neurons take no `threshold`/`spike`, and only neurons that `resets`
            take `reset`.
        equation: the update in one line, for messages and docs.
        decays: the decay parameters in constructor order, e.g.
            ``("alpha", "beta")``; ``None`` makes each learnable per unit.
        decay_fill: a decay left as ``None`` is a per-unit array filled with
            this number instead of a random draw (`LI`: 0.8).
        recurrent: has recurrent weights ``recurrent_w`` (``W`` in the
            equations) of shape ``(H, H)``; the hidden shape must then be 1-D.
        spiking: has a `threshold` and a spike function (the constructor's
            `activation`, stored as `spike`).
        output_from_state: the output at a step is a function of the state
            before the step alone (the spike is taken before the update), so
            a `Graph` knows it before the step's input arrives and a cycle
            through the neuron needs no delay. Every built-in spiking neuron
            but `PSU_LIF`; leave it ``False`` unless the step guarantees it.
        resets: a spiking neuron whose step takes ``reset`` (a name in
            `RESET_MODES`); every built-in spiking neuron but `PSU_LIF`.
        state_parts: the names of the state's parts, side by side on the last
            axis (``("V",)``, ``("V", "T")``, ``("V", "I")``).
        sequence: a whole-sequence kernel with the step's keywords,
            ``(x [T, ...], state) -> (out [T, ...], final state)``, or ``None``
            (then the step is scanned). The built-in kernels have hand-derived
            backward passes (`lif_sequence`, `alif_sequence`,
            `cuba_lif_sequence`, `psu_lif_sequence`); `adjoint_sequence` builds
            one from any step.
        sequence_options: keyword options the kernel takes (``("method",)``
            for `PSU_LIF`).
        parallel: the neuron offers ``parallel(x)`` from a zero state.
        shape_arg: the name of the shape argument (`LI` says ``layer_shape``).
        nir: the NIR mapping, or ``None`` when NIR cannot express the neuron.
    """

    name: str
    step: Callable[..., tuple[Array, Array]]
    equation: str
    decays: tuple[str, ...] = ()
    decay_fill: float | None = None
    recurrent: bool = False
    spiking: bool = True
    output_from_state: bool = False
    resets: bool = False
    state_parts: tuple[str, ...] = ("V",)
    sequence: Callable[..., tuple[Array, Array]] | None = None
    sequence_options: tuple[str, ...] = ()
    parallel: bool = False
    shape_arg: str = "hidden_shape"
    nir: NirMap | None = field(default=None)

    @property
    def params(self) -> tuple[str, ...]:
        """Names of the array parameters.

        Names of the array parameters: the decays, then ``recurrent_w`` if
        recurrent."""
        return self.decays + ((RECURRENT_W,) if self.recurrent else ())

    def param_kind(self, name: str) -> str:
        """What kind of parameter `name` is, for optimiser labels.

        ``"decay"`` (one of `decays`), ``"recurrent_w"``, or ``"other"``."""
        if name in self.decays:
            return "decay"
        return RECURRENT_W if self.recurrent and name == RECURRENT_W else "other"

    def state_shape(self, hidden_shape: Shape) -> Shape:
        """Per-example state shape: the parts side by side on the last axis."""
        return state_shape(hidden_shape, len(self.state_parts))

    def random_params(self, values: Mapping[str, Any]) -> list[str]:
        """The parameters drawn at random for these arguments.

        The parameters drawn at random for these constructor `values`:
        ``recurrent_w`` first, then each decay left as ``None`` (without a
        fill)."""
        names = [RECURRENT_W] if self.recurrent else []
        if self.decay_fill is None:
            names += [d for d in self.decays if values.get(d) is None]
        return names

    def init_params(
        self,
        layer: str,
        hidden_shape: Shape,
        values: Mapping[str, Any],
        keys: Callable[[list[str]], Sequence[Array]],
    ) -> dict[str, Array]:
        """The initial parameters of a layer, in `params` order.

        Args:
            layer: the class name, for error messages.
            hidden_shape: the (checked) layer shape.
            values: the constructor's decay arguments by name (``None``:
                learnable per unit).
            keys: ``names -> one PRNG key per name``, called once and only if
                something is random; the front end raises its own error when it has
                no randomness to give.

        Returns:
            ``{name: array}``: a given decay as a scalar ``()`` or
                per-unit array, a missing one drawn per unit (`decay_init`) or filled
                (`decay_fill`), ``recurrent_w`` drawn with `recurrent_init`.
        """
        if self.recurrent:
            check_recurrent_shape(layer, hidden_shape)
        random = self.random_params(values)
        drawn = dict(zip(random, keys(random), strict=True)) if random else {}
        out = {}
        for d in self.decays:
            value = values.get(d)
            if value is None and self.decay_fill is not None:
                value = jnp.full(hidden_shape, self.decay_fill)
            if value is None:
                out[d] = decay_init(drawn[d], hidden_shape)
            else:
                out[d] = decay_value(layer, d, value, hidden_shape)
        if self.recurrent:
            out[RECURRENT_W] = recurrent_init(drawn[RECURRENT_W], hidden_shape)
        return out

    def build(
        self,
        layer: str,
        *,
        shape: Any,
        decays: Mapping[str, Any],
        keys: Callable[[list[str]], Sequence[Array]],
        threshold: Any = None,
        activation: Any = None,
        reset: Any = None,
        spikes_after_update: bool = False,
    ) -> tuple[Shape, dict[str, Any], dict[str, Array]]:
        """Everything a front end's constructor stores, checked.

        Args:
            layer: the class name for messages.
            shape: the shape argument.
            decays: the decay arguments by name, one per name in `decays`.
            keys: as in `init_params`.
            threshold: the firing threshold (spiking neurons only).
            activation: the spike function; ``None`` picks the default
                (spiking neurons only).
            reset: the reset mode, a name in `RESET_MODES` or a
                `ResetMode` (required for neurons that `resets`, refused for
                others).
            spikes_after_update: the spike timing of a neuron whose spec
                has `output_from_state`: ``False`` gives the spike of the
                membrane before the step's update (spyx's default), ``True``
                the spike of the membrane after it (NIR's, snnTorch's and
                Norse's timing). Refused (``True``) for other neurons.

        Returns:
            ``(hidden_shape, settings, params)``: the normalised shape, the
                spike settings (``{"threshold": float, "spike": fn}`` and
                ``"reset"`` for a neuron that resets, ``"spikes_after_update"``
                for one with `output_from_state`; empty for a non-spiking one)
                and the parameter arrays.
        """
        self.check_arguments(layer, decays, threshold, reset)
        hidden_shape = normalize_shape(layer, self.shape_arg, shape)
        settings: dict[str, Any] = {}
        if self.spiking:
            settings["threshold"] = threshold_value(layer, threshold)
            settings["spike"] = activation or self.default_activation()
        if self.resets:
            mode = reset_mode(layer, reset)
            # a built-in mode is stored by name (what checkpoints and NIR record)
            settings["reset"] = (
                mode.name if RESET_MODES.get(mode.name) is mode else mode
            )
        if not isinstance(spikes_after_update, bool):
            raise TypeError(
                f"{layer}: `spikes_after_update` must be True or False, got "
                f"{spikes_after_update!r}."
            )
        if self.output_from_state:
            settings["spikes_after_update"] = spikes_after_update
        elif spikes_after_update:
            raise TypeError(
                f"{layer}: `spikes_after_update` chooses between the spike of the "
                f"membrane before and after the update; {self.name!r} has one "
                f"timing only ({self.equation})."
            )
        params = self.init_params(layer, hidden_shape, decays, keys)
        return hidden_shape, settings, params

    def check_arguments(
        self, layer: str, decays: Mapping[str, Any], threshold: Any, reset: Any
    ) -> None:
        """Check what a neuron class's constructor passes to ``_setup``.

        It must fit this row; where it does not, a `TypeError` in plain
        words (a bug in the class, not in the user's call)."""
        where = f"{layer}.__init__ passes to _setup"
        if set(decays) != set(self.decays):
            raise TypeError(
                f"{where} the decays {sorted(decays)}, but its spec {self.name!r} "
                f"has {sorted(self.decays)}: pass decays={{name: value}} for each."
            )
        if self.spiking and threshold is None:
            raise TypeError(
                f"{where} no `threshold`; {self.name!r} spikes: pass threshold=..."
            )
        if not self.spiking and threshold is not None:
            raise TypeError(f"{where} a `threshold`, but {self.name!r} does not spike.")
        if self.resets and reset is None:
            raise TypeError(
                f"{where} no `reset`; {self.name!r} resets: take `reset` as a "
                f"constructor argument and pass reset=reset."
            )
        if not self.resets and reset is not None:
            raise TypeError(
                f"{where} a `reset`, but {self.name!r} does not reset (its spec has "
                f"resets=False)."
            )

    def step_kwargs(
        self,
        params: Mapping[str, Any],
        threshold: Any = None,
        spike: Any = None,
        reset: Any = None,
    ) -> dict[str, Any]:
        """The keywords of `step` and `sequence` for these parameters."""
        kwargs = {d: params[d] for d in self.decays}
        if self.recurrent:
            kwargs["weights"] = params[RECURRENT_W]
        if self.spiking:
            kwargs["threshold"] = threshold
            kwargs["spike"] = spike
        if self.resets:
            kwargs["reset"] = reset
        return kwargs

    @staticmethod
    def default_activation() -> Callable[[Array], Array]:
        """The spike function used when `activation` is ``None``."""
        return superspike()


def _lif_map(node: str, threshold_node: bool = False) -> NirMap:
    return NirMap(node, (("beta", "tau", "r"),), threshold_node)


_CUBA_MAP = NirMap("CubaLIF", (("alpha", "tau_syn", "w_in"), ("beta", "tau_mem", "r")))

IF = NeuronSpec(
    "IF",
    if_step,
    "s = H(V - th); V' = V + x - s th",
    sequence=if_sequence,
    nir=NirMap("IF"),
    output_from_state=True,
    resets=True,
)
LIF = NeuronSpec(
    "LIF",
    lif_step,
    "s = H(V - th); V' = b V + x - s th",
    decays=("beta",),
    sequence=lif_sequence,
    nir=_lif_map("LIF"),
    output_from_state=True,
    resets=True,
)
LI = NeuronSpec(
    "LI",
    li_step,
    "V' = b V + x; out V'",
    decays=("beta",),
    decay_fill=0.8,
    spiking=False,
    shape_arg="layer_shape",
    nir=_lif_map("LI"),
)
ALIF = NeuronSpec(
    "ALIF",
    alif_step,
    "s = H(V - th - T); V' = b V + x - s (th + T); T' = g T + (1-g) s",
    decays=("beta", "gamma"),
    state_parts=("V", "T"),
    sequence=alif_sequence,
    output_from_state=True,
    resets=True,
)
CUBA_LIF = NeuronSpec(
    "CuBaLIF",
    cuba_lif_step,
    "s = H(V - th); I' = a I + x; V' = b (V - s th) + I'",
    decays=("alpha", "beta"),
    state_parts=("V", "I"),
    sequence=cuba_lif_sequence,
    nir=_CUBA_MAP,
    output_from_state=True,
    resets=True,
)
RIF = NeuronSpec(
    "RIF",
    rif_step,
    "s = H(V - th); V' = V + x + s @ W - s th",
    recurrent=True,
    sequence=if_sequence,
    nir=NirMap("IF"),
    output_from_state=True,
    resets=True,
)
RLIF = NeuronSpec(
    "RLIF",
    rlif_step,
    "s = H(V - th); V' = b V + x + s @ W - s th",
    decays=("beta",),
    recurrent=True,
    sequence=lif_sequence,
    nir=_lif_map("LIF"),
    output_from_state=True,
    resets=True,
)
RCUBA_LIF = NeuronSpec(
    "RCuBaLIF",
    rcuba_lif_step,
    "s = H(V - th); I' = a I + x + s @ W; V' = b (V - s th) + I'",
    decays=("alpha", "beta"),
    recurrent=True,
    state_parts=("V", "I"),
    sequence=cuba_lif_sequence,
    nir=_CUBA_MAP,
    output_from_state=True,
    resets=True,
)
PSU_LIF = NeuronSpec(
    "PSU_LIF",
    psu_lif_step,
    "V' = b V + x; s = H(V' - th)",
    decays=("beta",),
    sequence=psu_lif_sequence,
    sequence_options=("method",),
    parallel=True,
    nir=_lif_map("LI", threshold_node=True),
)

NEURONS: tuple[NeuronSpec, ...] = (
    IF,
    LIF,
    LI,
    ALIF,
    CUBA_LIF,
    RIF,
    RLIF,
    RCUBA_LIF,
    PSU_LIF,
)
"""Every built-in neuron, in documentation order."""
