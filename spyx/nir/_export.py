"""`to_nir`: a `spyx.nn` model as a NIR graph."""

import warnings
from typing import Any

import nir
import numpy as np
from flax import nnx

from .. import core
from .. import nn as snn
from ..core import _frontend as frontend
from ..nn._sequential import describe
from ._mapping import (
    LEAKY_NODES,
    SPIKING_NODES,
    SPYX,
    check_dt,
    decay_to_nir,
    flatten_perm,
    from_nir_layout,
    out_shape,
    per_unit,
    to_nir_layout,
)

__all__ = ["to_nir"]


def _meta(cls: str, reset: core.ResetMode | None) -> dict:
    meta: dict[str, Any] = {"class": cls}
    if reset is not None:
        meta["reset"] = reset.nir_name
    return {SPYX: meta}


def _warn_reset(cls: str, node: str, reset: core.ResetMode) -> None:
    """NIR's spiking nodes reset *to* `v_reset` (written as 0): faithful for
    a `nir_native` mode (``"zero"``) only."""
    if reset.nir_native:
        return
    warnings.warn(
        f"to_nir: {cls} {reset.description} after a spike (reset="
        f"{reset.name!r}), but NIR's "
        f"{node} node resets to v_reset = 0. spyx records the mode in the node's "
        f"metadata and reads it back; other tools will simulate a reset to 0. "
        f"Train with reset='zero' for a graph that means the same everywhere.",
        stacklevel=4,
    )


def _neuron_nodes(layer: Any, shape: tuple[int, ...], dt: float) -> dict[str, Any]:
    """NIR node(s) of a spyx neuron, from its row of the neuron table:
    ``{"": node}`` plus ``"rec"`` (feedback) or ``"threshold"`` entries."""
    spec, cls = layer.spec, type(layer).__name__
    m = spec.nir
    if m is None:
        raise TypeError(
            f"to_nir: {cls} has no NIR equivalent: no NIR node has its dynamics "
            f"({spec.equation})."
        )
    zeros = per_unit(0.0, shape)
    reset = core.reset_mode(cls, layer.reset) if spec.resets else None
    if reset is not None and core.RESET_MODES.get(reset.name) is not reset:
        raise TypeError(
            f"to_nir: {cls} resets with a mode of its own ({reset.name!r}), which "
            f"neither NIR nor spyx's NIR import knows; use one of "
            f"{', '.join(map(repr, core.RESETS))}."
        )
    if reset is not None:
        _warn_reset(cls, m.node, reset)
    fields: dict[str, Any] = {}
    for decay, tau_field, gain_field in m.taus:
        value = per_unit(getattr(layer, decay)[...], shape)
        fields[tau_field], fields[gain_field] = decay_to_nir(
            value, dt, f"{cls}.{decay}"
        )
    if not m.taus:  # an integrator: dv/dt = r I
        fields["r"] = per_unit(1.0 / dt, shape)
    if m.node in LEAKY_NODES:
        fields["v_leak"] = zeros
    if m.node in SPIKING_NODES:
        fields["v_threshold"] = per_unit(frontend.threshold_of(layer), shape)
        fields["v_reset"] = zeros
    nodes = {"": getattr(nir, m.node)(**fields, metadata=_meta(cls, reset))}
    if m.threshold_node:
        nodes["threshold"] = nir.Threshold(
            threshold=per_unit(frontend.threshold_of(layer), shape),
            metadata=_meta(cls, None),
        )
    if spec.recurrent:
        nodes["rec"] = nir.Linear(
            weight=np.asarray(layer.recurrent_w[...], np.float32).T
        )
    return nodes


def linear_node(layer: nnx.Linear, perm: np.ndarray | None = None) -> Any:
    """The NIR ``Affine`` (with a bias) or ``Linear`` node of an `nnx.Linear`
    (weight ``(out, in)``), its inputs reordered by `perm` (a flatten's
    layout)."""
    weight = np.asarray(layer.kernel[...], np.float32).T
    if perm is not None:
        weight = weight[:, perm]
    if layer.use_bias:
        return nir.Affine(weight=weight, bias=np.asarray(layer.bias[...]))
    return nir.Linear(weight=weight)


def _conv_node(layer: nnx.Conv, shape: tuple[int, ...]) -> Any:
    kernel = np.asarray(layer.kernel[...], np.float32)  # (*k, in, out)
    n = kernel.ndim - 2
    weight = np.moveaxis(kernel, (n, n + 1), (1, 0))  # (out, in, *k)
    bias = (
        np.asarray(layer.bias[...], np.float32)
        if layer.use_bias
        else np.zeros(weight.shape[0], np.float32)
    )
    padding = layer.padding
    if isinstance(padding, str):
        if padding not in ("SAME", "VALID"):
            raise TypeError(f"to_nir: nnx.Conv padding {padding!r} is not supported.")
        padding = padding.lower()
    elif not isinstance(padding, int):
        pairs = [tuple(p) if not isinstance(p, int) else (p, p) for p in padding]
        if any(lo != hi for lo, hi in pairs):
            raise TypeError(f"to_nir: asymmetric padding {padding!r} has no NIR form.")
        padding = tuple(lo for lo, _ in pairs)
    stride = layer.strides or 1
    dilation = layer.kernel_dilation or 1
    if n == 1:
        return nir.Conv1d(
            input_shape=shape[0],
            weight=weight,
            stride=int(np.ravel(stride)[0]),
            padding=padding if isinstance(padding, str | int) else padding[0],
            dilation=int(np.ravel(dilation)[0]),
            groups=layer.feature_group_count,
            bias=bias,
        )
    if n == 2:
        pair = lambda v: tuple(v) if not isinstance(v, int) else (v, v)  # noqa: E731
        return nir.Conv2d(
            input_shape=tuple(shape[:2]),
            weight=weight,
            stride=pair(stride),
            padding=padding if isinstance(padding, str) else pair(padding),
            dilation=pair(dilation),
            groups=layer.feature_group_count,
            bias=bias,
        )
    raise TypeError(f"to_nir: {n}-D convolutions have no NIR node.")


def _spyx_layout(nir_shape: tuple[int, ...]) -> tuple[int, ...]:
    """NIR's channels-first example shape ``(C, H, W)`` as spyx's ``(H, W, C)``."""
    return tuple(from_nir_layout(np.empty(nir_shape)).shape)


def _nir_layout(shape: tuple[int, ...]) -> tuple[int, ...]:
    """spyx's channels-last example shape as NIR's channels-first one."""
    return tuple(to_nir_layout(np.empty(shape)).shape)


def _check_input_shape(
    model: Any, input_shape: tuple[int, ...], shape: tuple[int, ...]
) -> None:
    """Refuse an `input_shape` the model's first layer cannot take, showing
    the shape it expects in NIR's layout."""
    want = frontend.expected_input(model, describe)
    if want is None:
        return
    fits = len(want) == len(shape) and all(
        w is None or w == d for w, d in zip(want, shape, strict=True)
    )
    if not fits:
        nir_want = (want[-1], *want[:-1]) if len(want) >= 2 else want
        raise ValueError(
            f"to_nir: `input_shape` is one example's shape in NIR's channels-first "
            f"layout; this model takes {frontend.show_shape(nir_want)} ("
            f"{frontend.show_shape(want)} in spyx's channels-last layout), got "
            f"{input_shape}."
        )


def _shape_arg(value: Any, key: str, name: str) -> tuple[int, ...]:
    """A shape given as a tuple or, as in spyx 1.0, a one-entry dict."""
    if isinstance(value, dict):
        if len(value) != 1:
            raise ValueError(
                f"to_nir: `{name}` as a dict must have one entry such as "
                f"{{{key!r}: shape}}, got {len(value)} entries."
            )
        value = next(iter(value.values()))
    try:
        return tuple(int(d) for d in np.asarray(value).reshape(-1))
    except (TypeError, ValueError):
        raise TypeError(
            f"to_nir: `{name}` must be a shape tuple or {{{key!r}: shape}}, got "
            f"{value!r}."
        ) from None


def to_nir(
    model: Any, input_shape: Any, output_shape: Any = None, dt: float = 1.0
) -> nir.NIRGraph:
    """Write a `spyx.nn` model as a NIR graph.

    Args:
        model: a `spyx.nn.Sequential`, a single neuron, or a `spyx.nn.Graph`
            (neurons and Linear layers; each delayed edge becomes a ``Delay``
            node of one step; see `spyx.nir`).
        input_shape: one example's input shape in NIR's channels-first
            layout, as in spyx 1.0: ``(700,)``, or ``(C, H, W)`` for images
            (the spyx model itself takes ``(H, W, C)``); also spyx 1.0's form
            ``{"input": shape}``. A shape the model cannot take is a
            `ValueError` that shows the one it expects.
        output_shape: optional, the same for the output (tuple or
            ``{"output": shape}``), channels first; checked against the
            model's output shape.
        dt: the time step the discrete model stands for (see the module doc);
            positional as in spyx 1.0, or by name.

    Nodes are named as spyx 1.0 names them: ``"layer_{i}"`` for the i-th
    layer of the Sequential, ``"layer_{i}_threshold"`` for the `Threshold`
    after a `PSU_LIF`'s `LI` node, ``"layer_{i}_rec"`` for a recurrent
    neuron's feedback weights.

    Returns:
        a `nir.NIRGraph` with ``input`` and ``output`` nodes.

    Example: ``nir.write("model.nir", spyx.nir.to_nir(model, (700,), dt=1e-3))``.
    """
    dt = check_dt("to_nir", dt)
    input_shape = _shape_arg(input_shape, "input", "input_shape")
    if isinstance(model, snn.Graph):
        from ._export_graph import graph_to_nir

        _check_input_shape(model, input_shape, _spyx_layout(input_shape))
        out = None
        if output_shape is not None:
            out = _shape_arg(output_shape, "output", "output_shape")
        return graph_to_nir(model, input_shape, out, dt, _neuron_nodes, linear_node)
    layers = list(model.layers) if isinstance(model, snn.Sequential) else [model]
    shape = _spyx_layout(input_shape)
    _check_input_shape(model, input_shape, shape)
    nodes: dict[str, Any] = {
        "input": nir.Input(input_type={"input": np.array(input_shape)})
    }
    edges: list[tuple[str, str]] = []
    prev = "input"
    perm = None
    for i, layer in enumerate(layers):
        name = f"layer_{i}"
        if isinstance(layer, snn.ActivityRegularization):
            continue
        if isinstance(layer, snn.Neuron):
            parts = _neuron_nodes(layer, shape, dt)
            nodes[name] = parts[""]
            edges.append((prev, name))
            if "rec" in parts:
                nodes[f"{name}_rec"] = parts["rec"]
                edges += [(name, f"{name}_rec"), (f"{name}_rec", name)]
            if "threshold" in parts:
                nodes[f"{name}_threshold"] = parts["threshold"]
                edges.append((name, f"{name}_threshold"))
                name = f"{name}_threshold"
            prev = name
            continue
        if isinstance(layer, nnx.Linear):
            nodes[name], perm = linear_node(layer, perm), None
        elif isinstance(layer, nnx.Conv):
            nodes[name] = _conv_node(layer, shape)
        elif isinstance(layer, snn.Flatten):
            nir_shape = to_nir_layout(np.empty(shape)).shape
            nodes[name] = nir.Flatten(
                input_type={"input": np.array(nir_shape)}, start_dim=0, end_dim=-1
            )
            if len(shape) >= 2:
                perm = flatten_perm(shape)
        elif isinstance(layer, snn.SumPool):
            nodes[name] = _sumpool_node(layer, shape)
        else:
            raise TypeError(
                f"to_nir: layer {i} ({type(layer).__name__}) has no NIR equivalent."
            )
        edges.append((prev, name))
        prev = name
        shape = out_shape(layer, shape)
    if output_shape is not None:
        expected = _shape_arg(output_shape, "output", "output_shape")
        if expected != _nir_layout(shape):
            raise ValueError(
                f"to_nir: `output_shape` is {expected}, but the model maps "
                f"input_shape {input_shape} to {_nir_layout(shape)} (NIR's "
                f"channels-first layout)."
            )
    nodes["output"] = nir.Output(
        output_type={"output": np.array(to_nir_layout(np.empty(shape)).shape)}
    )
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _sumpool_node(layer: snn.SumPool, shape: tuple[int, ...]) -> Any:
    if len(shape) != 3 or layer.channel_axis not in (-1, 2):
        raise TypeError("to_nir: only 2-D channels-last SumPool has a NIR node.")
    window = np.broadcast_to(np.asarray(layer.window_shape), (2,))
    stride = (
        window
        if layer.strides is None
        else np.broadcast_to(np.asarray(layer.strides), (2,))
    )
    if layer.padding == "SAME" and any(
        s % w for s, w in zip(shape[:2], window, strict=True)
    ):
        raise TypeError("to_nir: SumPool 'SAME' padding that pads has no NIR form.")
    return nir.SumPool2d(
        kernel_size=np.array(window), stride=np.array(stride), padding=np.array([0, 0])
    )
