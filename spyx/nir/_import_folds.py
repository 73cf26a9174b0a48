"""`from_nir`'s folds: a scalar or per-unit factor that NIR puts on its own
node (``Scale``, the ``1/k`` of ``AvgPool2d``, a neuron's input gain)
multiplied exactly into the weighted layers next to it."""

import warnings
from typing import Any

import nir
import numpy as np
from flax import nnx

from ._import_neurons import scale_outputs
from ._mapping import from_nir_layout

__all__ = ["FoldImport"]

_WEIGHTED = (nir.Affine, nir.Linear, nir.Conv1d, nir.Conv2d)
_SHAPE_ONLY = (nir.Flatten, nir.SumPool2d, nir.AvgPool2d)  # commute with a scalar


class FoldImport:
    """The folding half of `from_nir`'s importer. The importer holds
    `nodes`, `layers`, `delayed`, `pending` (a scalar per weighted layer's
    input), `shapes` and `perms`, and gives `preds`, `succs`, `_drop` and
    `_inputs_of`."""

    nodes: dict[str, Any]
    layers: dict[str, Any]
    delayed: set[tuple[str, str]]
    pending: dict[str, float]
    shapes: dict[str, Any]
    perms: dict[str, Any]

    def preds(self, n: str) -> list[str]:
        raise NotImplementedError

    def succs(self, n: str) -> list[str]:
        raise NotImplementedError

    def _drop(self, n: str) -> None:
        raise NotImplementedError

    def _inputs_of(self, n: str) -> tuple[Any, Any]:
        raise NotImplementedError

    def _weighted_layer(self, n: str) -> Any:
        layer = self.layers.get(n)
        return layer if isinstance(layer, nnx.Linear | nnx.Conv) else None

    def _fold_forward(self, n: str, factor: float, why: str) -> None:
        """A scalar factor on node `n`'s output, folded into the weights of
        the layers after it (through Flatten and pooling, which commute)."""
        for b in self.succs(n):
            node = self.nodes.get(b)
            if self.preds(b) != [n] or (b, n) in self.delayed:
                raise ValueError(
                    f"from_nir: {why} node {n!r} feeds {b!r}, which has other "
                    f"inputs; its factor cannot be folded into {b!r}'s weights."
                )
            if isinstance(node, _WEIGHTED):
                self.pending[b] = self.pending.get(b, 1.0) * factor
            elif isinstance(node, _SHAPE_ONLY):
                self._fold_forward(b, factor, why)
            else:
                raise ValueError(
                    f"from_nir: {why} node {n!r} is followed by {b!r} "
                    f"({type(node).__name__}), not by a weighted layer to fold its "
                    f"factor into."
                )

    def _fold_scale(self, n: str, node: Any) -> None:
        scale = np.asarray(node.scale, np.float32)
        before = self.preds(n)
        source = self._weighted_layer(before[0]) if len(before) == 1 else None
        if source is not None and self.succs(before[0]) == [n]:
            # NIR's (C, ...) layout to spyx's (..., C): the channels last
            scale_outputs(source, from_nir_layout(scale), n, "Scale")
        elif scale.size == 1 or np.allclose(scale, scale.reshape(-1)[0]):
            self._fold_forward(n, float(scale.reshape(-1)[0]), "Scale")
        else:
            raise ValueError(
                f"from_nir: Scale node {n!r} follows no weighted layer that feeds "
                f"only it and is per-unit; it cannot be folded."
            )
        self.shapes[n], self.perms[n] = self._inputs_of(n)
        self._drop(n)

    def _fold_gain(self, n: str, gain: np.ndarray, what: str) -> None:
        """A neuron's input gain (NIR scales the sum of its inputs) folded
        into every weighted layer that feeds it and nothing else."""
        if np.allclose(gain, 1.0, rtol=1e-6, atol=1e-7):
            return
        for source in self.preds(n):
            layer = self._weighted_layer(source)
            if layer is None or self.succs(source) != [n]:
                raise ValueError(
                    f"from_nir: node {n!r} scales its input by {what} != 1, which spyx "
                    f"folds into the weighted layers (Affine, Linear, Conv) that feed "
                    f"it; {source!r} is no such layer or feeds other nodes too."
                )
            scale_outputs(layer, gain, n, what)
        warnings.warn(
            f"from_nir: node {n!r} scales its input by {what} = "
            f"{np.unique(np.round(gain, 6))[:4]} (dt r / tau != 1); folded exactly "
            f"into the weights of the layer(s) that feed it.",
            stacklevel=5,
        )
