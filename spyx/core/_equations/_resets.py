"""Reset modes: what a spiking neuron's membrane does after it fires.

Each mode is one `ResetMode`, holding its rule, the rule's partial
derivatives (written out, or read off the rule), its NIR name and its words
for messages. The steps call the rule, the sequence kernels use the
derivatives (`ResetMode.partials`), NIR export and import read its names:
adding a mode means adding one entry to `RESET_MODES`.

The rule ``r(b, V, s, th)`` is the membrane after the leak and the reset, to
which a step adds its input: ``V' = r(b, V, s, th) + x``. A neuron whose
reset decays with the membrane (CuBaLIF) calls it with ``leak_the_reset``.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

__all__ = ["RESETS", "RESET_MODES", "Reset", "ResetMode", "reset_mode"]

Reset = Literal["subtract", "zero", "none"]


class Partials(NamedTuple):
    """The partial derivatives of a reset rule, elementwise, each argument
    taken as independent (the spike ``s`` too: the kernels chain it through
    the surrogate themselves)."""

    V: Any
    s: Any
    b: Any
    th: Any


@dataclass(frozen=True)
class ResetMode:
    """One reset mode.

    Attributes:
        name: the name users pass as ``reset=`` (``"subtract"``).
        rule: ``(b, V, s, th, leak_the_reset) -> r``, the membrane after the
            leak ``b`` and the reset, before the input is added; with
            `leak_the_reset` the reset happens before the leak, so it decays
            with the membrane (CuBaLIF).
        nir_name: how a spyx NIR node records the mode in its metadata.
        description: what the membrane does, for messages (``"subtracts the
            threshold"``).
        nir_native: NIR's own spiking nodes mean this mode (they reset to
            ``v_reset = 0``); other modes survive only in spyx's metadata.
        derivatives: ``(b, V, s, th, leak_the_reset) -> Partials``, the
            rule's partial derivatives written out (cheaper to compile);
            ``None`` reads them off the rule (`derived_partials`).
    """

    name: str
    rule: Callable[[Any, Any, Any, Any, bool], Array]
    nir_name: str
    description: str
    nir_native: bool = False
    derivatives: Callable[[Any, Any, Any, Any, bool], Partials] | None = None

    def __call__(
        self,
        b: ArrayLike,
        V: Array,
        s: Array,
        threshold: ArrayLike,
        *,
        leak_the_reset: bool = False,
    ) -> Array:
        """``r(b, V, s, th)``: the leaked and reset membrane."""
        return self.rule(b, V, s, threshold, leak_the_reset)

    def partials(
        self,
        b: ArrayLike,
        V: Array,
        s: Array,
        threshold: ArrayLike,
        *,
        leak_the_reset: bool = False,
    ) -> Partials:
        """``dr/dV``, ``dr/ds``, ``dr/db`` and ``dr/dth``, elementwise.

        The mode's `derivatives` where it has them (every built-in mode;
        tested equal to `derived_partials`), else `derived_partials`: what
        the kernels' backward passes use, so they follow any rule.
        """
        if self.derivatives is not None:
            return self.derivatives(b, V, s, threshold, leak_the_reset)
        return self.derived_partials(b, V, s, threshold, leak_the_reset=leak_the_reset)

    def derived_partials(
        self,
        b: ArrayLike,
        V: Array,
        s: Array,
        threshold: ArrayLike,
        *,
        leak_the_reset: bool = False,
    ) -> Partials:
        """The partial derivatives, read off the rule by forward mode.

        One unit tangent per argument, the others held constant."""
        args = (jnp.asarray(V), jnp.asarray(s), jnp.asarray(b), jnp.asarray(threshold))

        def partial(i: int) -> Array:
            def r(a: Array) -> Array:
                V, s, b, th = args[:i] + (a,) + args[i + 1 :]
                return self.rule(b, V, s, th, leak_the_reset)

            # the other arguments are constants: no tangent arithmetic for them
            return jax.jvp(r, (args[i],), (jnp.ones_like(args[i]),))[1]

        return Partials(*(partial(i) for i in range(4)))

    def __repr__(self) -> str:
        return f"ResetMode({self.name!r})"


def _subtract(b: Any, V: Any, s: Any, th: Any, leak_the_reset: bool) -> Array:
    return b * (V - s * th) if leak_the_reset else b * V - s * th


def _subtract_partials(
    b: Any, V: Any, s: Any, th: Any, leak_the_reset: bool
) -> Partials:
    if leak_the_reset:  # b (V - s th)
        return Partials(V=b, s=-b * th, b=V - s * th, th=-b * s)
    return Partials(V=b, s=-th, b=V, th=-s)  # b V - s th


def _zero(b: Any, V: Any, s: Any, th: Any, leak_the_reset: bool) -> Array:
    return b * (1.0 - s) * V


def _zero_partials(b: Any, V: Any, s: Any, th: Any, leak_the_reset: bool) -> Partials:
    return Partials(V=b * (1.0 - s), s=-b * V, b=(1.0 - s) * V, th=0.0)


def _none(b: Any, V: Any, s: Any, th: Any, leak_the_reset: bool) -> Array:
    return b * V


def _none_partials(b: Any, V: Any, s: Any, th: Any, leak_the_reset: bool) -> Partials:
    return Partials(V=b, s=0.0, b=V, th=0.0)


RESET_MODES: dict[str, ResetMode] = {
    mode.name: mode
    for mode in (
        ResetMode(
            "subtract",
            _subtract,
            "subtractive",
            "subtracts the threshold",
            derivatives=_subtract_partials,
        ),
        ResetMode(
            "zero",
            _zero,
            "zero",
            "resets to zero",
            nir_native=True,
            derivatives=_zero_partials,
        ),
        ResetMode("none", _none, "none", "does not reset", derivatives=_none_partials),
    )
}
"""Every reset mode by name; the first is the default."""

RESETS: tuple[str, ...] = tuple(RESET_MODES)
"""The names of the reset modes: ``("subtract", "zero", "none")``."""


def reset_mode(layer: str, reset: Any) -> ResetMode:
    """The `ResetMode` named by `reset` (or `reset` itself), checked.

    Example: ``reset_mode("LIF", "zero").name`` is ``"zero"``.
    """
    if isinstance(reset, ResetMode):
        return reset
    if isinstance(reset, str) and reset in RESET_MODES:
        return RESET_MODES[reset]
    raise ValueError(
        f"{layer}: `reset` must be one of {', '.join(map(repr, RESETS))}, got "
        f"{reset!r}."
    )
