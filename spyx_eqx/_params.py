"""Neuron parameters by kind, for optimiser masks and labels."""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax

from ._neuron import Neuron

__all__ = ["PARAM_KINDS", "param_labels", "param_mask"]

PARAM_KINDS = ("decay", "recurrent_w", "other")
"""The labels `param_labels` gives (as in `spyx.nn.param_labels`)."""


def param_labels(tree: Any) -> Any:
    """A label per array: ``"decay"``, ``"recurrent_w"`` or ``"other"``.

    `tree` is a model or its parameters (``eqx.filter(model,
    eqx.is_array)``), labelled in its layout. Pass the function itself to
    optax, which calls it on the parameters.

    Example:

    ```python
    k1, k2 = jax.random.split(jax.random.key(0))
    model = spyx_eqx.Sequential(
        eqx.nn.Linear(8, 16, key=k1), spyx_eqx.RLIF((16,), beta=None, key=k2)
    )
    tx = optax.multi_transform(
        {"decay": optax.adam(1e-2), "recurrent_w": optax.adam(1e-4),
         "other": optax.adam(1e-3)},
        spyx_eqx.param_labels,
    )
    opt_state = tx.init(eqx.filter(model, eqx.is_array))
    ```
    """

    def of_neuron(neuron: Neuron) -> Any:
        def label(path: tuple, value: Any) -> str | None:
            if not eqx.is_array(value):
                return None
            return neuron.spec.param_kind(getattr(path[0], "name", ""))

        return jax.tree_util.tree_map_with_path(label, neuron)

    def of_leaf(leaf: Any) -> Any:
        if isinstance(leaf, Neuron):
            return of_neuron(leaf)
        return "other" if eqx.is_array(leaf) else None

    return jax.tree.map(of_leaf, tree, is_leaf=lambda x: isinstance(x, Neuron))


def param_mask(*kinds: str) -> Callable[[Any], Any]:
    """A mask for `optax.masked`: which arrays are of one of `kinds`.

    ``tree -> True`` for each array of one of `kinds` (see
    `param_labels`), ``False`` for the other arrays.

    Example: ``optax.masked(optax.add_decayed_weights(1e-4),
    spyx_eqx.param_mask("other"))`` decays the weights but not the neurons'
    decays or recurrent weights.
    """
    unknown = [k for k in kinds if k not in PARAM_KINDS]
    if not kinds or unknown:
        raise ValueError(
            f"param_mask: kinds must be among {PARAM_KINDS}, got {kinds or 'none'}."
        )
    return lambda tree: jax.tree.map(lambda label: label in kinds, param_labels(tree))
