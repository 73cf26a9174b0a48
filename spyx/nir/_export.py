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
    GRAPH_TIMING,
    LEAKY_NODES,
    NODE_TIMING,
    SPIKING_NODES,
    SPYX,
    check_dt,
    decay_to_nir,
    flatten_perm,
    from_nir_layout,
    out_shape,
    per_unit,
    same_pads,
    to_nir_layout,
)

__all__ = ["to_nir"]


def _meta(cls: str, reset: core.ResetMode | None, after: bool | None = None) -> dict:
    meta: dict[str, Any] = {"class": cls}
    if reset is not None:
        meta["reset"] = reset.nir_name
    if after is not None:
        meta[NODE_TIMING] = after
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


def _neuron_nodes(
    layer: Any,
    shape: tuple[int, ...],
    dt: float,
    perm: np.ndarray | None = None,
    after: bool = False,
) -> dict[str, Any]:
    """NIR node(s) of a spyx neuron, from its row of the neuron table:
    ``{"": node}`` plus ``"rec"`` (feedback) or ``"threshold"`` entries.
    `perm` is the layout of a flattened input (per-unit values are written
    in NIR's order); `after` the neuron's spike timing."""
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
    if perm is not None:
        fields = {k: v[perm] for k, v in fields.items()}
    timing = after if spec.output_from_state else None
    nodes = {"": getattr(nir, m.node)(**fields, metadata=_meta(cls, reset, timing))}
    if m.threshold_node:
        th = per_unit(frontend.threshold_of(layer), shape)
        nodes["threshold"] = nir.Threshold(
            threshold=th if perm is None else th[perm], metadata=_meta(cls, None)
        )
    if spec.recurrent:
        weight = np.asarray(layer.recurrent_w[...], np.float32).T
        if perm is not None:
            weight = weight[perm][:, perm]
        nodes["rec"] = nir.Linear(weight=weight)
    return nodes


def linear_node(layer: nnx.Linear, perm: np.ndarray | None = None) -> Any:
    """The NIR ``Affine`` (with a bias) or ``Linear`` node of an `nnx.Linear`
    (weight ``(out, in)``), its inputs reordered by `perm` (a flatten's
    layout)."""
    weight = np.asarray(layer.kernel[...], np.float32).T
    if perm is not None:
        weight = weight[:, perm]
    if layer.bias is not None:  # use_bias
        return nir.Affine(weight=weight, bias=np.asarray(layer.bias[...]))
    return nir.Linear(weight=weight)


def _conv_node(layer: nnx.Conv, shape: tuple[int, ...]) -> Any:
    kernel = np.asarray(layer.kernel[...], np.float32)  # (*k, in, out)
    n = kernel.ndim - 2
    weight = np.moveaxis(kernel, (n, n + 1), (1, 0))  # (out, in, *k)
    bias = (
        np.asarray(layer.bias[...], np.float32)
        if layer.bias is not None  # use_bias
        else np.zeros(weight.shape[0], np.float32)
    )
    padding = layer.padding
    if isinstance(padding, str):
        if padding not in ("SAME", "VALID"):
            raise TypeError(f"to_nir: nnx.Conv padding {padding!r} is not supported.")
        padding = padding.lower()
        strides = np.broadcast_to(np.ravel(layer.strides or 1), (n,))
        if padding == "same" and np.any(strides > 1):
            # NIR's "same" keeps the input's size; strided, write XLA's pads
            window = [
                (k - 1) * d + 1
                for k, d in zip(
                    kernel.shape[:n],
                    np.broadcast_to(np.ravel(layer.kernel_dilation or 1), (n,)),
                    strict=True,
                )
            ]
            pairs = [
                (int(lo), int(hi))
                for lo, hi in same_pads(
                    tuple(shape[:n]), tuple(window), tuple(int(v) for v in strides)
                )
            ]
            if any(lo != hi for lo, hi in pairs):
                raise TypeError(
                    f"to_nir: a strided 'SAME' convolution pads its {tuple(shape[:n])} "
                    f"input by {pairs} (low, high), which has no NIR form; give "
                    f"nnx.Conv a symmetric explicit padding."
                )
            padding = tuple(lo for lo, _ in pairs)
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
            padding=padding if isinstance(padding, str | int) else int(padding[0]),
            dilation=int(np.ravel(dilation)[0]),
            groups=layer.feature_group_count,
            bias=bias,
        )
    if n == 2:
        pair = lambda v: tuple(v) if not isinstance(v, int) else (v, v)  # noqa: E731
        return nir.Conv2d(
            input_shape=(shape[0], shape[1]),
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
        model: a `spyx.nn.Sequential`, a `spyx.nn.Graph` or a single neuron
            (see `spyx.nir` for the node table; a graph's delayed edge becomes
            a ``Delay`` node of one step).
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
    layer of a Sequential (a Graph's nodes keep their names),
    ``"<name>_threshold"`` for the `Threshold` after a `PSU_LIF`'s `LI`
    node, ``"<name>_rec"`` for a recurrent neuron's feedback weights and
    ``"<source>_to_<destination>_delay"`` for a delayed edge; a generated
    name that another node has is made unique with a number. Each neuron
    records its reset mode and spike timing in its metadata, which
    `from_nir` reads back; a spiking neuron with spyx's default timing (the
    spike before the update) warns that other tools simulate the spike
    after the update.

    Returns:
        a `nir.NIRGraph` with ``input`` and ``output`` nodes.

    Example: ``nir.write("model.nir", spyx.nir.to_nir(model, (700,), dt=1e-3))``.
    """
    dt = check_dt("to_nir", dt)
    input_shape = _shape_arg(input_shape, "input", "input_shape")
    shape = _spyx_layout(input_shape)
    _check_input_shape(model, input_shape, shape)
    writer = _Writer(model, input_shape, dt)
    out = writer.output_shape()
    if output_shape is not None:
        expected = _shape_arg(output_shape, "output", "output_shape")
        if expected != _nir_layout(out):
            raise ValueError(
                f"to_nir: `output_shape` is {expected}, but the model maps "
                f"input_shape {input_shape} to {_nir_layout(out)} (NIR's "
                f"channels-first layout)."
            )
    return writer.graph()


class _Writer:
    """A chain or graph of spyx layers as NIR nodes and edges: one node (or
    a neuron's pair) per layer, shapes and flatten layouts carried along
    the edges."""

    def __init__(self, model: Any, input_shape: tuple[int, ...], dt: float):
        self.dt = dt
        self.after = False  # the container's own timing (a Graph's)
        if isinstance(model, snn.Graph):
            plan = frontend.current_plan(model)
            self.layers = {n: model.nodes[n] for n in plan.names}
            self.edges, self.delayed = list(plan.edges), set(plan.delayed)
            self.after = plan.spikes_after_update
        else:
            chain = list(model.layers) if isinstance(model, snn.Sequential) else [model]
            self.layers = {f"layer_{i}": layer for i, layer in enumerate(chain)}
            names = ["input", *self.layers, "output"]
            self.edges = list(zip(names, names[1:], strict=False))
            self.delayed = set()
        self._skip_identities()
        self.taken = {"input", "output", *self.layers}
        self.nodes: dict[str, Any] = {
            "input": nir.Input(input_type={"input": np.array(input_shape)})
        }
        self.inner: list[tuple[str, str]] = []
        self.entry: dict[str, str] = {"input": "input", "output": "output"}
        self.exit: dict[str, str] = {"input": "input"}
        self.shapes: dict[str, tuple[int, ...]] = {"input": _spyx_layout(input_shape)}
        self.perms: dict[str, np.ndarray | None] = {"input": None}
        self.early: list[str] = []
        todo = list(self.layers)
        while todo:
            ready = [n for n in todo if all(a in self.shapes for a, b in self._into(n))]
            n = (ready or todo)[0]
            todo.remove(n)
            self._write(n)

    def _into(self, n: str) -> list[tuple[str, str]]:
        return [(a, b) for a, b in self.edges if b == n]

    def _skip_identities(self) -> None:
        """`ActivityRegularization` (an identity on the data) has no node:
        its inputs connect to its outputs."""
        for n in [
            k
            for k, v in self.layers.items()
            if isinstance(v, snn.ActivityRegularization)
        ]:
            if any(n in e for e in self.delayed):
                raise TypeError(
                    f"to_nir: a delayed edge touches {n!r} (ActivityRegularization), "
                    f"which NIR has no node for; delay the edge before or after it."
                )
            before = [a for a, b in self.edges if b == n]
            after = [b for a, b in self.edges if a == n]
            self.edges = [e for e in self.edges if n not in e]
            self.edges += [(a, b) for a in before for b in after]
            del self.layers[n]

    def fresh(self, name: str) -> str:
        """`name`, or `name` with a number, not yet taken by a node."""
        candidate, i = name, 2
        while candidate in self.taken:
            candidate, i = f"{name}_{i}", i + 1
        self.taken.add(candidate)
        return candidate

    def _input_of(self, n: str) -> tuple[tuple[int, ...], np.ndarray | None]:
        known = [a for a, _ in self._into(n) if a in self.shapes]
        if not known:
            shape = frontend.expected_input(self.layers[n], describe)
            dims = [d for d in shape or () if d is not None]
            if shape is None or len(dims) != len(shape):
                raise TypeError(
                    f"to_nir: the input shape of node {n!r} is not known before it "
                    f"is written (a cycle through layers that do not state it)."
                )
            return tuple(dims), None
        return self.shapes[known[0]], self.perms[known[0]]

    def _write(self, n: str) -> None:
        layer = self.layers[n]
        shape, perm = self._input_of(n)
        out_perm = None
        if isinstance(layer, snn.Neuron):
            after = frontend.spikes_after_update(layer) or self.after
            if layer.spec.output_from_state and not after:
                self.early.append(n)
            parts = _neuron_nodes(
                layer, tuple(layer.hidden_shape), self.dt, perm, after
            )
            self.nodes[n] = parts[""]
            self.entry[n] = self.exit[n] = n
            if "rec" in parts:
                rec = self.fresh(f"{n}_rec")
                self.nodes[rec] = parts["rec"]
                self.inner += [(n, rec), (rec, n)]
            if "threshold" in parts:
                th = self.fresh(f"{n}_threshold")
                self.nodes[th] = parts["threshold"]
                self.inner.append((n, th))
                self.exit[n] = th
            self.shapes[n], self.perms[n] = tuple(layer.hidden_shape), perm
            return
        if perm is not None and not isinstance(layer, nnx.Linear):
            raise TypeError(
                f"to_nir: node {n!r} ({type(layer).__name__}) follows a Flatten of a "
                f"feature map, whose order NIR lays out differently; only Linear "
                f"layers and neurons may follow it."
            )
        if isinstance(layer, nnx.Linear):
            node = linear_node(layer, perm)
        elif isinstance(layer, nnx.Conv):
            node = _conv_node(layer, shape)
        elif isinstance(layer, snn.Flatten):
            nir_shape = to_nir_layout(np.empty(shape)).shape
            node = nir.Flatten(
                input_type={"input": np.array(nir_shape)}, start_dim=0, end_dim=-1
            )
            out_perm = flatten_perm(shape) if len(shape) >= 2 else None
        elif isinstance(layer, snn.SumPool):
            node = _sumpool_node(layer, shape, n)
        else:
            raise TypeError(
                f"to_nir: node {n!r} ({type(layer).__name__}) has no NIR equivalent."
            )
        self.nodes[n] = node
        self.entry[n] = self.exit[n] = n
        self.shapes[n], self.perms[n] = out_shape(layer, shape), out_perm

    def output_shape(self) -> tuple[int, ...]:
        sources = [a for a, b in self.edges if b == "output"]
        for a in sources:
            if self.perms.get(a) is not None:
                raise TypeError(
                    f"to_nir: the output comes from {a!r} in the layout of a "
                    f"flattened feature map, which NIR orders differently; add a "
                    f"Linear layer after it."
                )
        return self.shapes[sources[0]]

    def graph(self) -> nir.NIRGraph:
        edges = list(self.inner)
        for a, b in self.edges:
            src, dst = self.exit[a], self.entry[b]
            if (a, b) in self.delayed:
                delay = self.fresh(f"{a}_to_{b}_delay")
                shape = _nir_layout(self.shapes[a])
                self.nodes[delay] = nir.Delay(delay=np.full(shape, self.dt, np.float32))
                edges += [(src, delay), (delay, dst)]
            else:
                edges.append((src, dst))
        out = _nir_layout(self.output_shape())
        self.nodes["output"] = nir.Output(output_type={"output": np.array(out)})
        if self.early:
            warnings.warn(
                f"to_nir: the spiking neuron(s) {self.early} give the spike of their "
                f"membrane before the update (spyx's default timing); NIR tools "
                f"simulate the spike after the update, so paths through them run "
                f"one step earlier there. spyx records the timing and reads it back. "
                f"Build them with spikes_after_update=True for a graph that means the "
                f"same everywhere.",
                stacklevel=3,
            )
        metadata = {SPYX: {GRAPH_TIMING: bool(self.after)}}
        return nir.NIRGraph(
            nodes=self.nodes, edges=edges, metadata=metadata, type_check=False
        )


def _sumpool_node(layer: snn.SumPool, shape: tuple[int, ...], name: str) -> Any:
    if len(shape) != 3 or layer.channel_axis not in (-1, 2):
        raise TypeError("to_nir: only 2-D channels-last SumPool has a NIR node.")
    window = tuple(
        int(v) for v in np.broadcast_to(np.asarray(layer.window_shape), (2,))
    )
    stride = (
        window
        if layer.strides is None
        else tuple(int(v) for v in np.broadcast_to(np.asarray(layer.strides), (2,)))
    )
    padding = [0, 0]
    if layer.padding == "SAME":
        pads = same_pads(shape[:2], window, stride)
        if any(lo != hi for lo, hi in pads):
            raise TypeError(
                f"to_nir: node {name!r} (SumPool, 'SAME') pads its {shape[:2]} input "
                f"by {pads} (low, high) per axis; NIR's SumPool2d pads both sides "
                f"alike. Use 'VALID', or an input size the window divides evenly."
            )
        padding = [lo for lo, _ in pads]
    return nir.SumPool2d(
        kernel_size=np.array(window), stride=np.array(stride), padding=np.array(padding)
    )
