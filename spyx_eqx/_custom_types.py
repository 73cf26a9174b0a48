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
from jaxtyping import TypeCheckError, jaxtyped

from spyx.core import _frontend as frontend

AnyArray = jax.Array | np.ndarray
"""What a `spyx_eqx` layer accepts: a JAX or a NumPy array."""


def typechecked(fn):
    """Check a function's jaxtyping annotations with beartype when traced."""
    return jaxtyped(typechecker=beartype)(fn)


def _short(x: Any) -> str:
    """jaxtyping's way of writing an array: ``f32[2,5]``."""
    dtype = np.dtype(getattr(x, "dtype", np.float32))
    name = {"bfloat16": "bf16", "bool": "bool"}.get(
        dtype.name, f"{dtype.kind}{dtype.itemsize * 8}"
    )
    return f"{name}[{','.join(map(str, np.shape(x)))}]"


def input_checked(
    *,
    sequence: bool = False,
    label: str = "",
    check: Callable[..., None] = frontend.check_neuron_inputs,
) -> Callable:
    """`typechecked`, after spyx's one check of the inputs.

    ``check(module, x, state, sequence=, label=)`` (by default
    `spyx.core._frontend.check_neuron_inputs`) checks `x` (the first argument; with
    `sequence`, ``[T, *batch, *hidden_shape]``) against the module's whole
    ``hidden_shape``, and the state (the second argument, if any), so a wrong
    input is a `TypeCheckError` about parameter ``'x'`` or ``'state'`` with
    both shapes, even where the annotations only see the last axis. The
    wrapped method then skips the core's own check (``checked=True``).
    `label` follows the class name in messages (``".parallel"``)."""

    def decorate(fn: Callable) -> Callable:
        typed = typechecked(fn)

        @functools.wraps(fn)
        def wrapper(self: Any, x: Any, *args: Any, **kwargs: Any) -> Any:
            state = args[0] if args else None
            try:
                check(self, x, state, sequence=sequence, label=label)
            except (TypeError, ValueError) as err:
                which = "state" if "`state`" in str(err) else "x"
                value = state if which == "state" else x
                raise TypeCheckError(
                    f"Type-check error whilst checking the parameters of "
                    f"{type(self).__name__}.{fn.__name__}.\nThe problem arose whilst "
                    f"typechecking parameter '{which}'.\nActual value: "
                    f"{_short(value)}\n{err}"
                ) from None
            return typed(self, x, *args, **kwargs)

        return wrapper

    return decorate
