"""What `from_nir` builds from single nodes: the weighted layers, the
neurons (their time constants, gains, thresholds, reset modes, timing and
feedback loops), and the exact rescaling of a weighted layer's output."""

import warnings
from typing import Any

import jax.numpy as jnp
import nir
import numpy as np
from flax import nnx

from .. import core
from .. import nn as snn
from ._mapping import (
    LEAKY_NODES,
    MODE_OF_NIR_NAME,
    NIR_RESET,
    SPIKING_NODES,
    SPYX,
    from_layout,
    nir_to_decay,
    spec_for_node,
)

__all__ = ["NeuronImport", "conv_from_nir", "linear_from_nir", "scale_outputs"]


def linear_from_nir(n: Any, perm: np.ndarray | None = None) -> nnx.Linear:
    """An `nnx.Linear` from a NIR ``Affine`` or ``Linear`` node (weight
    ``(out, in)``), its inputs reordered by `perm` (a flatten's layout)."""
    weight = np.asarray(n.weight, np.float32)
    if weight.ndim != 2:
        raise ValueError(
            f"from_nir: a Linear/Affine node has a weight of shape {weight.shape}; "
            f"spyx imports 2-D weights (out, in)."
        )
    if perm is not None:
        weight = weight[:, np.argsort(perm)]
    bias = isinstance(n, nir.Affine)
    layer = nnx.Linear(
        weight.shape[1], weight.shape[0], use_bias=bias, rngs=nnx.Rngs(0)
    )
    layer.kernel[...] = jnp.asarray(weight.T)
    if layer.bias is not None:  # an Affine node: use_bias
        layer.bias[...] = jnp.asarray(np.asarray(n.bias, np.float32))
    return layer


def conv_from_nir(n: Any) -> nnx.Conv:
    weight = np.asarray(n.weight, np.float32)  # (out, in, *k)
    k = weight.ndim - 2
    pad = n.padding
    if isinstance(pad, str):
        padding: Any = pad.upper()
    else:
        p = np.broadcast_to(np.asarray(pad), (k,))
        padding = [(int(v), int(v)) for v in p]
    groups = int(np.asarray(n.groups))  # geometry as Python ints, never arrays
    layer = nnx.Conv(
        int(weight.shape[1]) * groups,
        int(weight.shape[0]),
        tuple(int(k) for k in weight.shape[2:]),
        tuple(int(s) for s in np.broadcast_to(np.asarray(n.stride), (k,))),
        padding=padding,
        kernel_dilation=tuple(
            int(s) for s in np.broadcast_to(np.asarray(n.dilation), (k,))
        ),
        feature_group_count=groups,
        rngs=nnx.Rngs(0),
    )
    layer.kernel[...] = jnp.asarray(np.moveaxis(weight, (0, 1), (k + 1, k)))
    assert layer.bias is not None  # use_bias, nnx.Conv's default
    layer.bias[...] = jnp.asarray(np.asarray(n.bias, np.float32).reshape(-1))
    return layer


def _single(value: Any, node: str, what: str) -> float:
    v = np.unique(np.asarray(value, np.float64))
    if v.size != 1:
        raise ValueError(
            f"from_nir: node {node!r} has per-unit {what} {v}; spyx "
            f"neurons take one number."
        )
    return float(v[0])


def scale_outputs(layer: Any, gain: np.ndarray, node: str, why: str) -> None:
    """Multiply what a weighted layer gives by `gain` (one number, or one per
    output unit), exactly: its kernel's output axis and its bias."""
    gain = np.asarray(gain, np.float32)
    out = layer.kernel.shape[-1]
    if np.allclose(gain, gain.reshape(-1)[0]):
        g = jnp.float32(gain.reshape(-1)[0])
    elif (
        gain.ndim >= 1
        and gain.shape[-1] == out
        and np.allclose(gain, np.broadcast_to(gain.reshape(-1, out)[0], gain.shape))
    ):
        g = jnp.asarray(gain.reshape(-1, out)[0])
    else:
        raise ValueError(
            f"from_nir: node {node!r} scales its input per unit by {why}, which "
            f"does not fold into the {type(layer).__name__} before it."
        )
    layer.kernel[...] = layer.kernel[...] * g
    if layer.use_bias:
        layer.bias[...] = layer.bias[...] * g


class NeuronImport:
    """The neuron half of `from_nir`'s importer: a NIR neuron node as a spyx
    neuron. The importer holds `dt`, `reset`, `layers`, `feedback`,
    `threshold`, `gains`, `loop_bias`, `foreign_resets`, `graph_timing` and
    `preds` / `succs`."""

    dt: float
    reset: str | None
    graph_timing: Any
    layers: dict[str, Any]
    feedback: dict[str, Any]
    threshold: dict[str, Any]
    gains: dict[str, tuple[np.ndarray, str]]
    loop_bias: dict[str, np.ndarray]
    foreign_resets: list[str]

    def preds(self, n: str) -> list[str]:
        raise NotImplementedError

    def succs(self, n: str) -> list[str]:
        raise NotImplementedError

    def _timing(self, node: Any) -> bool:
        raise NotImplementedError

    # ------------------------------------------------------------ neurons

    def _neuron(
        self, n: str, node: Any, shape: tuple[int, ...] | None, perm: Any
    ) -> Any:
        node_type = type(node).__name__
        feedback, threshold = self.feedback.get(n), self.threshold.get(n)
        spec = spec_for_node(
            node_type,
            recurrent=feedback is not None,
            threshold_node=threshold is not None,
            node=n,
        )
        mapping = spec.nir
        assert mapping is not None  # spec_for_node finds specs by their mapping
        if shape is None:
            size = np.asarray(getattr(node, "v_threshold", getattr(node, "tau", 1.0)))
            shape = (int(size.size),)
        if spec.recurrent and len(shape) != 1:
            raise ValueError(
                f"from_nir: recurrent node {n!r} must be 1-D, got {shape}."
            )

        def per_unit(value: Any) -> np.ndarray:
            a = from_layout(value, shape)
            return a if perm is None else a[np.argsort(perm)]

        if node_type in LEAKY_NODES and np.any(np.asarray(node.v_leak) != 0):
            raise ValueError(
                f"from_nir: node {n!r} has v_leak != 0, which spyx neurons cannot "
                f"represent."
            )
        gain, what = self._input_gain(node, mapping, per_unit)
        kwargs: dict[str, Any] = {
            decay: jnp.asarray(
                nir_to_decay(per_unit(getattr(node, tau_field)), self.dt, n),
                jnp.float32,
            )
            for decay, tau_field, _ in mapping.taus
        }
        if spec.spiking:
            th_node, th_field = (
                (threshold, "threshold")
                if mapping.threshold_node
                else (node, "v_threshold")
            )
            kwargs["threshold"] = _single(getattr(th_node, th_field), n, th_field)
        if spec.resets:
            kwargs["reset"] = self._reset_mode(node, n)
        if spec.output_from_state:
            kwargs["spikes_after_update"] = self._timing(node)
        layer = snn.nnx_class(spec)(shape, **kwargs, rngs=nnx.Rngs(0))
        if spec.recurrent:
            self._recurrent(n, layer, feedback, np.broadcast_to(gain, shape))
        self.gains[n] = (gain, what)
        return layer

    def _input_gain(
        self, node: Any, mapping: core.NirMap, per_unit: Any
    ) -> tuple[np.ndarray, str]:
        """``prod(dt gain / tau)`` over a neuron's time constants (``dt r``
        for an integrator), and how it reads."""
        if not mapping.taus:
            return self.dt * per_unit(node.r), "dt * r"
        gain, parts = 1.0, []
        for _, tau_field, gain_field in mapping.taus:
            tau = per_unit(getattr(node, tau_field))
            gain = gain * self.dt * per_unit(getattr(node, gain_field)) / tau
            parts.append(f"dt {gain_field} / {tau_field}")
        return np.asarray(gain, np.float32), " ".join(f"({p})" for p in parts)

    def _recurrent(self, n: str, layer: Any, feedback: Any, gain: np.ndarray) -> None:
        """The feedback loop's weights (scaled by the neuron's gain, which
        NIR applies to its summed input) and its bias, added to a Linear that
        feeds only the neuron."""
        shape = tuple(layer.hidden_shape)
        weight = np.asarray(feedback.weight, np.float32)  # (out, in): W s
        if weight.shape != (*shape, *shape):
            raise ValueError(
                f"from_nir: the feedback weight of node {n!r} has shape "
                f"{weight.shape}; expected {(*shape, *shape)}."
            )
        layer.recurrent_w[...] = jnp.asarray(weight.T * gain)  # spyx: s @ W
        bias = np.asarray(getattr(feedback, "bias", 0.0), np.float32)
        if np.any(bias != 0):
            self.loop_bias[n] = np.broadcast_to(bias, shape)

    def _add_loop_bias(self, n: str, bias: np.ndarray) -> None:
        feeds = [
            a
            for a in self.preds(n)
            if isinstance(self.layers.get(a), nnx.Linear) and self.succs(a) == [n]
        ]
        if not feeds:
            raise ValueError(
                f"from_nir: the feedback loop of node {n!r} has a bias, which spyx "
                f"adds to the bias of a Linear/Affine layer that feeds only the "
                f"neuron, but none does."
            )
        a = feeds[0]
        last: nnx.Linear = self.layers[a]  # `feeds` holds Linear layers
        if last.bias is None:  # use_bias=False: the same layer with a zero bias
            biased = nnx.Linear(
                last.in_features, last.out_features, use_bias=True, rngs=nnx.Rngs(0)
            )
            biased.kernel[...] = last.kernel[...]
            zero = biased.bias
            assert zero is not None  # use_bias=True
            zero[...] = jnp.zeros_like(zero[...])
            self.layers[a] = last = biased
        # NIR's gain applies to the bias too; the gain folding that follows
        # scales this layer's bias, so add it unscaled here
        linear_bias = last.bias
        assert linear_bias is not None  # given one above where it had none
        linear_bias[...] = linear_bias[...] + jnp.asarray(bias)

    def _reset_mode(self, node: Any, n: str) -> str:
        """The reset mode a spiking node is imported with (see `from_nir`)."""
        v_reset = getattr(node, "v_reset", None)
        if v_reset is not None and np.any(np.asarray(v_reset) != 0):
            raise ValueError(
                f"from_nir: node {n!r} resets to v_reset != 0; spyx neurons reset "
                f"to 0 (reset='zero'), subtract the threshold or do not reset."
            )
        written = MODE_OF_NIR_NAME.get(node.metadata.get(SPYX, {}).get("reset"))
        if self.reset is None:
            if written is None:
                if type(node).__name__ in SPIKING_NODES:
                    self.foreign_resets.append(n)
                return NIR_RESET
            return written
        if written is not None and self.reset != written:
            warnings.warn(
                f"from_nir: node {n!r} is imported with reset={self.reset!r}, but "
                f"spyx wrote it with reset={written!r}; its spikes will differ from "
                f"the graph's.",
                stacklevel=6,
            )
        return self.reset
