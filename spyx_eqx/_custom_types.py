"""jaxtyping aliases shared by the Equinox modules.

Dimensions in braces are read off the module at call time (jaxtyping's
f-string axes): ``{self.n}`` is the size of the layer's last hidden axis.
Checks run when a function is traced, so they cost nothing under ``jit``.
"""

import jax
import numpy as np
from beartype import beartype
from jaxtyping import Float, jaxtyped

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
