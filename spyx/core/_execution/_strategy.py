"""Which strategy `run` takes: `Execution` holds its options, checked
together, and `choose_strategy` picks one by shape when the caller leaves
it open."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["CHUNK", "Execution", "choose_strategy"]


@dataclass(frozen=True)
class Execution:
    """How `run` executes a model: its options, checked together.

    Attributes:
        layerwise: ``True`` runs a `Sequential` layer by layer, ``False``
            steps the whole model through time, ``None`` (the default)
            chooses by the model and the input's shape (`plan`).
        chunk: run layer by layer within chunks of this many steps
            (`run_chunked`); ``None`` lets `plan` choose.
        unroll: time steps per loop iteration of every scan.
        checkpoint: memory-bounded backpropagation through time: remat
            blocks of this many steps (`time_scan`); step-wise unless
            ``layerwise=True`` asks otherwise.
    """

    layerwise: bool | None = None
    chunk: int | None = None
    unroll: int | bool = 1
    checkpoint: int | None = None

    def check(self, layer: str) -> "Execution":
        """Refuse options that cannot work together, naming `layer`."""
        for name in ("chunk", "checkpoint"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(
                    f"{layer}: `{name}` must be a positive number of steps or None, "
                    f"got {value!r}."
                )
        if not isinstance(self.unroll, bool) and (
            not isinstance(self.unroll, int) or self.unroll < 1
        ):
            raise ValueError(
                f"{layer}: `unroll` must be True, False or a positive number of "
                f"steps, got {self.unroll!r}."
            )
        if self.chunk is not None and self.layerwise is False:
            raise ValueError(
                f"{layer}: `chunk` runs the layers one after the other within "
                f"chunks of steps; layerwise=False steps the whole model instead. "
                f"Give one of the two."
            )
        if self.chunk is not None and self.checkpoint is not None:
            raise ValueError(
                f"{layer}: `chunk` and `checkpoint` cannot be combined; "
                f"`checkpoint` alone bounds the memory (step by step)."
            )
        return self

    def plan(
        self,
        layer: str,
        xs_shape: tuple[int, ...],
        layers: Sequence[Any] | None = None,
        batch_ndim: int = 1,
        differentiated: bool = True,
    ) -> tuple[str, int]:
        """The strategy and the chunk length (the whole sequence unless chunked).

        The strategy is ``"layerwise"``, ``"chunked"`` or ``"stepwise"``;
        `layers` is a `Sequential`'s chain (``None``: any other model, which
        only steps), `batch_ndim` the number of batch axes of `xs`, and
        `differentiated` whether the run is being differentiated (a training
        step) or not (inference).

        Left open (``layerwise=None``, no `chunk`), the plan is step-wise
        with `checkpoint` (only the step-wise scan bounds the memory), else
        `choose_strategy`'s.
        """
        T = xs_shape[0]
        if layers is None or self.layerwise is False:
            return "stepwise", T
        if self.chunk is not None:
            return ("chunked", self.chunk) if self.chunk < T else ("layerwise", T)
        if self.layerwise is None:
            if self.checkpoint is not None:
                return "stepwise", T
            strategy, chunk = choose_strategy(
                layers, xs_shape, batch_ndim, differentiated
            )
            return strategy, chunk or T
        return "layerwise", T


CHUNK = 20
"""The chunk length `choose_strategy` picks (steps)."""


def choose_strategy(
    layers: Sequence[Any],
    xs_shape: tuple[int, ...],
    batch_ndim: int,
    differentiated: bool = True,
) -> tuple[str, int]:
    """Layer-wise, chunked or step-wise for a chain, by shape.

    With ``rows`` the examples per step and ``width`` the widest neuron
    layer (units per example):

    - in a training step (`differentiated`), step by step once ``rows *
      width >= 2**16``, else layer by layer: the backward pass keeps every
      step's state anyway, and one large matmul over all ``T * rows`` rows
      beats ``T`` small ones until a step's own matmuls are large;
    - in inference, step by step from 256 rows; else in chunks of `CHUNK`
      steps once ``T * rows * width >= 2**21`` (the whole sequence of a
      layer no longer fits in cache, a chunk does); else layer by layer.

    Measured on a 2-core CPU with `benchmarks/strategies.py` (a grid of
    shapes, every neuron; see the performance page), where no single
    strategy wins everywhere. Returns ``(strategy, chunk length)`` with the
    chunk length 0 unless chunked.
    """
    T = xs_shape[0]
    rows = math.prod(xs_shape[1 : 1 + batch_ndim])
    width = max(
        (
            math.prod(layer.hidden_shape)
            for layer in layers
            if getattr(layer, "spec", None) is not None
            and hasattr(layer, "hidden_shape")
        ),
        default=1,
    )
    if differentiated:
        return ("stepwise", 0) if rows * width >= 2**16 else ("layerwise", 0)
    if rows >= 256:
        return "stepwise", 0
    if T * rows * width >= 2**21 and CHUNK < T:
        return "chunked", CHUNK
    return "layerwise", 0
