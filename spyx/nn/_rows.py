"""How a stateless NNX layer meets the rows of a run: every step's rows
at once when it treats each row on its own, one step at a time otherwise."""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..core import _frontend as frontend
from ._layers import Flatten, PopulationCode, SumPool

__all__ = ["as_is"]


def as_is(layer: Any, keys: Any = None) -> Any:
    """NNX layers take any leading batch axes: apply them unchanged (`keys`,
    in the shared signature, stays ``None``: `run` here takes no `key`).
    Only a layer known to treat each row on its own gets every step's rows
    at once; any other (a plain function, a module of another kind) is
    `PerStep`: over a sequence it sees one step's examples at a time."""
    return layer if _row_by_row(layer) else frontend.PerStep(layer)


# NNX layers that compute each row (example) from that row alone
_ROW_LAYERS: tuple[type, ...] = (
    nnx.Linear,
    nnx.LinearGeneral,
    nnx.Conv,
    nnx.ConvTranspose,
    nnx.Embed,
    nnx.LayerNorm,
    nnx.RMSNorm,
    nnx.GroupNorm,
    nnx.Dropout,
    Flatten,
    SumPool,
    PopulationCode,
)
# element-wise functions (softmax and log_softmax: along the last axis)
_ROW_FUNCTIONS = frozenset(
    id(f)
    for f in (
        *(
            getattr(jax.nn, name, None)
            for name in (
                "relu relu6 sigmoid silu swish gelu elu celu selu leaky_relu "
                "softplus soft_sign log_sigmoid hard_tanh hard_sigmoid hard_silu "
                "hard_swish sparse_plus sparse_sigmoid mish squareplus softmax "
                "log_softmax identity"
            ).split()
        ),
        jnp.tanh,
        jnp.abs,
        jnp.exp,
    )
    if f is not None
)


def _row_by_row(layer: Any) -> bool:
    """Whether `layer` computes each row from that row alone."""
    if isinstance(layer, nnx.Sequential):  # Flax's own (spyx's is stateful)
        return all(_row_by_row(inner) for inner in layer.layers)
    if type(layer) not in _ROW_LAYERS:  # a subclass may change __call__
        return id(layer) in _ROW_FUNCTIONS
    if isinstance(layer, nnx.LayerNorm | nnx.RMSNorm):  # axes may be chosen
        axes = layer.reduction_axes
        return all(int(a) < 0 for a in np.ravel(axes))
    return True
