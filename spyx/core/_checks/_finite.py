"""Opt-in run-time value checks (off by default: they cost time under jit).

Shape checks always run, at trace time, for free. Value checks, such as
"no parameter is NaN", depend on the data: with `debug_checks` on, a concrete
(eager) parameter is checked at once and raises `ValueError` before any
computation; a traced one (inside ``jit``) is checked when the compiled
function runs, through `jax.debug.callback`, and fails the call.
"""

import contextlib
from collections.abc import Iterator
from typing import Any

import jax
import jax.core
import numpy as np

__all__ = [
    "check_finite",
    "debug_checks",
    "debug_checks_enabled",
    "under_differentiation",
    "under_transformation",
]

_ENABLED = [False]


@contextlib.contextmanager
def debug_checks(enabled: bool = True) -> Iterator[None]:
    """Turn the value checks on (or off) inside a ``with`` block.

    Example: ``with spyx.core.debug_checks(): spyx.nn.run(model, x)``.
    Functions compiled inside the block keep their checks.
    """
    previous = _ENABLED[0]
    _ENABLED[0] = enabled
    try:
        yield
    finally:
        _ENABLED[0] = previous


def under_transformation(tree: Any) -> bool:
    """Whether any array in `tree` is being traced.

    True inside a `jit`, `vmap`, `grad`, ...; false for an eager call on
    concrete arrays.
    """
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(tree))


_AD_TRACERS = ("JVPTracer", "LinearizeTracer")


def under_differentiation(tree: Any) -> bool:
    """Whether any array in `tree` is being differentiated (`grad`, `vjp`,
    `jvp`, `linearize`), also under a `vmap` inside it.

    A `jit` of one's own hides it: inside ``jax.grad(jax.jit(f))``, `f` is
    traced without knowing, and this is false; inside
    ``jax.jit(jax.grad(f))``, the usual training step, it is true.
    """
    for leaf in jax.tree.leaves(tree):
        tracer = leaf
        for _ in range(8):
            if not isinstance(tracer, jax.core.Tracer):
                break
            if type(tracer).__name__ in _AD_TRACERS:
                return True
            tracer = getattr(tracer, "val", None)  # a BatchTracer's inner one
    return False


def debug_checks_enabled() -> bool:
    """Whether the value checks of `debug_checks` are on."""
    return _ENABLED[0]


def _message(layer: str, name: str, kind: str) -> str:
    return (
        f"{layer}: {kind} `{name}` holds NaN or inf values. Check the learning "
        f"rate and the data; the neuron's output would be meaningless."
    )


def check_finite(layer: str, name: str, value: Any, kind: str = "parameter") -> None:
    """Fail on NaN or inf, when value checks are on.

    With `debug_checks` on, fail if `value` holds NaN or inf; `kind`
    names what it is in the message (``"parameter"``, ``"input"``).

    Without the checks, NaN or inf in the data reaches the outputs as NaN
    (the spike functions return NaN for a non-finite membrane).

    Example:

    ```python
    with debug_checks():
        try:
            check_finite("LIF", "beta", jnp.array([jnp.nan]))
        except ValueError as err:
            print(err)  # LIF: parameter `beta` holds NaN or inf values. ...
    ```
    """
    if not _ENABLED[0]:
        return
    if isinstance(value, jax.core.Tracer):

        def fail_if_not_finite(v: np.ndarray) -> None:
            if not np.all(np.isfinite(v)):
                raise ValueError(_message(layer, name, kind))

        jax.debug.callback(fail_if_not_finite, value)
    elif not np.all(np.isfinite(np.asarray(value))):
        raise ValueError(_message(layer, name, kind))
