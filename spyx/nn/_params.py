"""Neuron parameters by kind, for optimiser masks and labels."""

from collections.abc import Callable
from typing import Any

import jax
from flax import nnx

from ._neuron import Neuron

__all__ = ["PARAM_KINDS", "param_labels", "param_mask"]

PARAM_KINDS = ("decay", "recurrent_w", "other")
"""The labels `param_labels` gives.

A neuron's decays (``beta``, ``alpha``, ``gamma``), its recurrent weights,
and every other parameter."""


def _key(entry: Any) -> Any:
    return getattr(entry, "key", getattr(entry, "name", getattr(entry, "idx", None)))


def param_labels(model: nnx.Module) -> Callable[[Any], Any]:
    """Label each parameter of `model` as ``"decay"``, ``"recurrent_w"`` or ``"other"``.

    Returns the function optax takes for labels: ``params -> labels``, for
    the parameters of `model` in any of the forms `nnx.Optimizer` passes
    (``nnx.state(model, nnx.Param)``, or its arrays), labels laid out as
    they are. For `optax.multi_transform` (a learning rate of its own for
    the decays, say) and, through `param_mask`, `optax.masked`. To see the
    labels: ``param_labels(model)(nnx.state(model, nnx.Param))``.

    Example:

    ```python
    model = spyx.nn.Sequential(
        nnx.Linear(8, 16, rngs=nnx.Rngs(0)),
        spyx.nn.RLIF((16,), beta=None, rngs=nnx.Rngs(1)),
    )
    tx = optax.multi_transform(
        {"decay": optax.adam(1e-2), "recurrent_w": optax.adam(1e-4),
         "other": optax.adam(1e-3)},
        spyx.nn.param_labels(model),
    )
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    ```
    """
    owners = {
        tuple(path): node
        for path, node in nnx.iter_graph(model)
        if isinstance(node, Neuron)
    }

    def label(path: tuple, _: Any) -> str:
        keys = tuple(_key(k) for k in path)
        if keys and keys[-1] == "value":
            keys = keys[:-1]
        owner = owners.get(keys[:-1])
        return "other" if owner is None else owner.spec.param_kind(keys[-1])

    return lambda params: jax.tree_util.tree_map_with_path(label, params)


def param_mask(model: nnx.Module, *kinds: str) -> Callable[[Any], Any]:
    """A mask for `optax.masked`: which parameters are of one of `kinds`.

    ``params -> True`` for each parameter of `model` of one of `kinds`
    (see `param_labels`), ``False`` for the others.

    Example: ``optax.masked(optax.add_decayed_weights(1e-4),
    spyx.nn.param_mask(model, "other"))`` decays the weights but not the
    neurons' decays or recurrent weights.
    """
    unknown = [k for k in kinds if k not in PARAM_KINDS]
    if not kinds or unknown:
        raise ValueError(
            f"param_mask: kinds must be among {PARAM_KINDS}, got {kinds or 'none'}."
        )
    labels = param_labels(model)
    return lambda params: jax.tree.map(lambda label: label in kinds, labels(params))
