"""jaxtyping aliases shared by the Equinox modules.

Dimensions in braces are read off the module at call time (jaxtyping's
f-string axes): ``{self.n}`` is the size of the layer's last hidden axis.
Checks run when a function is traced, so they cost nothing under ``jit``.
"""

import functools
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from beartype import beartype
from jaxtyping import Float, jaxtyped

from spyx import core

AnyArray = jax.Array | np.ndarray

Hidden = Float[AnyArray, "*batch {self.n}"]
"""Input, output or one-part state: ``(*batch, *hidden_shape)``."""

State = Float[AnyArray, "*batch {self.state_n}"]
"""A neuron's state: ``(*batch, *state_shape)``; a two-part state ``[A, B]``
sits side by side on the last axis, ``(*batch, *hidden[:-1], 2*n)``."""

Sequence_ = Float[AnyArray, "time *batch {self.n}"]
"""A time-major sequence ``[T, *batch, *hidden_shape]``."""

AnyFloat = Float[AnyArray, "..."]


def typechecked(fn):
    """Check a function's jaxtyping annotations with beartype when traced."""
    return jaxtyped(typechecker=beartype)(fn)


def input_checked(*, sequence: bool = False, label: str = "") -> Callable:
    """`typechecked`, after checking `x` (the first argument) against the
    module's whole ``hidden_shape`` (``[T, *batch, *hidden_shape]`` when
    `sequence`), so a wrong input is blamed on `x` with both shapes even
    where the annotations only see the last axis. `label` follows the class
    name in messages (``".parallel"``)."""
    check = core.check_sequence if sequence else core.check_input

    def decorate(fn: Callable) -> Callable:
        typed = typechecked(fn)

        @functools.wraps(fn)
        def wrapper(self: Any, x: Any, *args: Any, **kwargs: Any) -> Any:
            check(type(self).__name__ + label, x, self.hidden_shape)
            return typed(self, x, *args, **kwargs)

        return wrapper

    return decorate
