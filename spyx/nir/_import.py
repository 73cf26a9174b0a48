"""`from_nir`: a NIR graph as a `spyx.nn.Sequential`."""

import warnings
from typing import Any

import jax.numpy as jnp
import nir
import numpy as np
from flax import nnx

from .. import core
from .. import nn as snn
from ._graph import NEURON_NODES, chain_of, inline_subgraphs, is_chain
from ._mapping import (
    LEAKY_NODES,
    MODE_OF_NIR_NAME,
    NIR_RESET,
    SPIKING_NODES,
    SPYX,
    check_dt,
    flatten_perm,
    from_layout,
    from_nir_layout,
    has_threshold_twin,
    nir_to_decay,
    out_shape,
    spec_for_node,
)

__all__ = ["from_nir"]


def _single(value: Any, node: str, what: str) -> float:
    v = np.unique(np.asarray(value, np.float64))
    if v.size != 1:
        raise ValueError(
            f"from_nir: node {node!r} has per-unit {what} {v}; spyx "
            f"neurons take one number."
        )
    return float(v[0])


class _Builder:
    """Accumulates spyx layers, folding gains into weighted layers."""

    def __init__(self, shape: tuple[int, ...] | None):
        self.layers: list[Any] = []
        self.shape = shape
        self.pending_scale = 1.0
        self.perm: np.ndarray | None = None
        self.foreign_resets: list[str] = []  # spiking nodes spyx did not write

    def add(self, layer: Any) -> None:
        if self.shape is not None and not isinstance(layer, snn.Neuron):
            self.shape = out_shape(layer, self.shape)
        self.layers.append(layer)

    def weighted(self, layer: Any) -> None:
        if self.pending_scale != 1.0:
            layer.kernel[...] = layer.kernel[...] * self.pending_scale
            self.pending_scale = 1.0
        self.add(layer)

    def fold_into_previous(self, gain: np.ndarray, node: str, why: str) -> None:
        last = self.layers[-1] if self.layers else None
        if not isinstance(last, nnx.Linear | nnx.Conv):
            raise ValueError(
                f"from_nir: node {node!r} needs its input scaled by {why}, but no "
                f"weighted layer (Affine, Linear, Conv) comes right before it."
            )
        gain = np.asarray(gain, np.float32)
        out = last.kernel.shape[-1]
        if np.allclose(gain, gain.reshape(-1)[0]):
            g = jnp.float32(gain.reshape(-1)[0])
        elif (
            gain.ndim >= 1
            and gain.shape[-1] == out
            and np.allclose(gain, np.broadcast_to(gain.reshape(-1, out)[0], gain.shape))
        ):
            g = jnp.asarray(gain.reshape(-1, out)[0])  # one factor per output unit
        else:
            raise ValueError(
                f"from_nir: node {node!r} scales its input per unit by {why}, "
                f"which does not fold into the {type(last).__name__} before it."
            )
        last.kernel[...] = last.kernel[...] * g
        if last.use_bias:
            last.bias[...] = last.bias[...] * g

    def add_to_previous_bias(self, bias: np.ndarray, node: str) -> None:
        """Add `bias` to the bias of the `Linear` right before the neuron (a
        feedback `Affine`'s bias enters the neuron with its other inputs)."""
        last = self.layers[-1] if self.layers else None
        if not isinstance(last, nnx.Linear):
            raise ValueError(
                f"from_nir: the feedback loop of node {node!r} has a bias, which "
                f"spyx adds to the bias of the Linear/Affine layer before the "
                f"neuron, but no such layer comes right before it."
            )
        if not last.use_bias:
            biased = nnx.Linear(
                last.in_features, last.out_features, use_bias=True, rngs=nnx.Rngs(0)
            )
            biased.kernel[...] = last.kernel[...]
            biased.bias[...] = jnp.zeros_like(biased.bias[...])
            self.layers[-1] = last = biased
        last.bias[...] = last.bias[...] + jnp.asarray(bias, jnp.float32)


def _gain_check(gain: np.ndarray, node: str, builder: _Builder, what: str) -> None:
    """Fold a neuron's input gain into the weighted layer before it."""
    if not np.allclose(gain, 1.0, rtol=1e-6, atol=1e-7):
        warnings.warn(
            f"from_nir: node {node!r} scales its input by {what} = "
            f"{np.unique(np.round(gain, 6))[:4]} (dt r / tau != 1); folded exactly "
            f"into the weights of the layer before it.",
            stacklevel=4,
        )
        builder.fold_into_previous(gain, node, what)


def _reset_mode(node_obj: Any, node: str, reset: str | None) -> str | None:
    """The reset mode a spiking node is imported with (see `from_nir`):
    ``None`` where the default, NIR's reset to 0, is taken for a node spyx
    did not write (the caller warns once per graph)."""
    v_reset = getattr(node_obj, "v_reset", None)
    if v_reset is not None and np.any(np.asarray(v_reset) != 0):
        raise ValueError(
            f"from_nir: node {node!r} resets to v_reset != 0; spyx neurons reset "
            f"to 0 (reset='zero'), subtract the threshold or do not reset."
        )
    written = MODE_OF_NIR_NAME.get(node_obj.metadata.get(SPYX, {}).get("reset"))
    if reset is None:
        return written
    if written is not None and reset != written:
        warnings.warn(
            f"from_nir: node {node!r} is imported with reset={reset!r}, but spyx "
            f"wrote it with reset={written!r}; its spikes will differ from the "
            f"graph's.",
            stacklevel=4,
        )
    return reset


def _leak_check(node_obj: Any, node: str) -> None:
    if np.any(np.asarray(getattr(node_obj, "v_leak", 0.0)) != 0):
        raise ValueError(
            f"from_nir: node {node!r} has v_leak != 0, which spyx "
            f"neurons cannot represent."
        )


def _input_gain(
    n: Any, spec: core.NeuronSpec, shape: tuple[int, ...], dt: float
) -> tuple[np.ndarray, str]:
    """The factor NIR applies to a neuron's input, ``prod(dt gain / tau)`` over
    its time constants (``dt r`` for an integrator), and how it reads."""
    taus = spec.nir.taus
    if not taus:
        return dt * from_layout(n.r, shape), "dt * r"
    gain, parts = 1.0, []
    for _, tau_field, gain_field in taus:
        tau = from_layout(getattr(n, tau_field), shape)
        gain = gain * dt * from_layout(getattr(n, gain_field), shape) / tau
        parts.append(f"dt {gain_field} / {tau_field}")
    return gain, " ".join(f"({p})" for p in parts)


def _neuron(
    node: str,
    n: Any,
    feedback: Any,
    b: _Builder,
    dt: float,
    threshold_next: Any,
    reset: str | None,
    fold: Any = None,
) -> Any:
    node_type = type(n).__name__
    shape = b.shape or (
        int(np.asarray(getattr(n, "v_threshold", getattr(n, "tau", 1.0))).size),
    )
    spec = spec_for_node(
        node_type,
        recurrent=feedback is not None,
        threshold_node=threshold_next is not None,
        node=node,
    )
    if spec.recurrent and len(shape) != 1:
        raise ValueError(f"from_nir: recurrent node {node!r} must be 1-D, got {shape}.")
    if node_type in LEAKY_NODES:
        _leak_check(n, node)
    mode = None
    if node_type in SPIKING_NODES:
        mode = _reset_mode(n, node, reset)
        if mode is None:
            b.foreign_resets.append(node)
            mode = NIR_RESET
    # I is scaled by c = dt r / tau_mem inside CubaLIF's membrane update;
    # carrying c * I instead moves it to the input, next to dt w_in / tau_syn.
    # NIR applies the gain to the sum of a node's inputs: the feedback too.
    gain, what = _input_gain(n, spec, shape, dt)
    (fold or _gain_check)(gain, node, b, what)
    kwargs: dict[str, Any] = {
        decay: jnp.asarray(
            nir_to_decay(from_layout(getattr(n, tau_field), shape), dt, node),
            jnp.float32,
        )
        for decay, tau_field, _ in spec.nir.taus
    }
    if spec.spiking:
        th_node, th_field = (
            (threshold_next, "threshold")
            if spec.nir.threshold_node
            else (n, "v_threshold")
        )
        kwargs["threshold"] = _single(getattr(th_node, th_field), node, th_field)
    if spec.resets and mode is not None:
        kwargs["reset"] = mode
    layer = snn.nnx_class(spec)(shape, **kwargs, rngs=nnx.Rngs(0))
    if spec.recurrent:
        gain = np.broadcast_to(np.asarray(gain, np.float32), shape)
        weight = np.asarray(feedback.weight, np.float32)  # (out, in): W s
        if weight.shape != (*shape, *shape):
            raise ValueError(
                f"from_nir: the feedback weight of node {node!r} has shape "
                f"{weight.shape}; expected {(*shape, *shape)}."
            )
        layer.recurrent_w[...] = jnp.asarray(
            weight.T * gain
        )  # spyx: s @ W, scaled per unit
        bias = np.asarray(getattr(feedback, "bias", 0.0), np.float32)
        if np.any(bias != 0):
            b.add_to_previous_bias(np.broadcast_to(bias, shape) * gain, node)
    return layer


def linear_from_nir(n: Any, perm: np.ndarray | None = None) -> nnx.Linear:
    """An `nnx.Linear` from a NIR ``Affine`` or ``Linear`` node (weight
    ``(out, in)``), its inputs reordered by `perm` (a flatten's layout)."""
    weight = np.asarray(n.weight, np.float32)
    if perm is not None:
        weight = weight[:, np.argsort(perm)]
    bias = isinstance(n, nir.Affine)
    layer = nnx.Linear(
        weight.shape[1], weight.shape[0], use_bias=bias, rngs=nnx.Rngs(0)
    )
    layer.kernel[...] = jnp.asarray(weight.T)
    if bias:
        layer.bias[...] = jnp.asarray(np.asarray(n.bias, np.float32))
    return layer


def _conv_from_nir(n: Any) -> nnx.Conv:
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
    layer.bias[...] = jnp.asarray(np.asarray(n.bias, np.float32).reshape(-1))
    return layer


def from_nir(
    graph: nir.NIRGraph,
    input_data: Any = None,
    dt: float = 1.0,
    *,
    reset: str | None = None,
    return_all_states: bool = False,
    rngs: Any = None,
) -> Any:
    """Build a `spyx.nn.Sequential` or `spyx.nn.Graph` from a NIR graph.

    Args:
        graph: a `nir.NIRGraph` (e.g. from `nir.read`); nested subgraphs are
            inlined. A chain of layers whose neurons may have a Linear/Affine
            feedback loop becomes a `Sequential`; any other graph of
            Affine, Linear, Delay and neuron nodes (skip connections, nodes
            with several inputs, feedback between layers) a `Graph` that
            runs as NIR's forward simulation does: spikes after each step's
            update, nodes in the order of the edges, and an edge that closes
            a cycle reading the step before.
        input_data: optional time-major data ``[T, B, ...]`` (spyx 1.0's
            form): the model is also run on it.
        dt: the time step to discretise with; match the exporter's.
        reset: the reset mode of the imported spiking neurons. ``None``
            (default): the mode spyx recorded in a node it wrote, else
            ``"zero"``, NIR's own reset to ``v_reset = 0`` (faithful), with one
            warning per graph that names ``reset="subtract"`` for graphs
            exported by snnTorch (which writes ``v_reset = 0`` for its
            subtractive neurons). ``"zero"``, ``"subtract"`` or ``"none"`` force
            a mode (silently); forcing one other than the mode spyx recorded in
            a node warns, naming the node. A ``v_reset != 0`` is refused in
            every mode.
        return_all_states: with `input_data`, also return the state after
            every step.
        rngs: accepted for spyx 1.0 scripts and unused (every parameter comes
            from the graph).

    Returns:
        the model; with `input_data`, ``(model, outputs)``, or
            ``(model, (outputs, states))`` with `return_all_states`, where `states`
            mirrors ``model.initial_state(B)`` with a leading time axis on each
            entry. What is rescaled (with a warning) or refused is listed in the
            module doc.

    Example: ``model = spyx.nir.from_nir(nir.read("model.nir"), dt=1e-3)``.
    """
    del rngs
    model = _build(graph, dt, reset)
    if input_data is None:
        return model
    x = jnp.asarray(input_data)
    if not return_all_states:
        return model, snn.run(model, x)[0]
    core.check_time_major("from_nir", x)
    return model, core.states_over_time(model, x, model.initial_state(x.shape[1]))


def _build(graph: nir.NIRGraph, dt: float, reset: str | None) -> Any:
    check_dt("from_nir", dt)
    if reset is not None:
        reset = core.reset_mode("from_nir", reset).name
    nodes, edges = inline_subgraphs(graph)
    if not is_chain(nodes, edges):
        from ._import_graph import build_graph

        return build_graph(graph, nodes, edges, dt, reset)
    chain = chain_of(nodes, edges)
    input_node = next(v for v in nodes.values() if isinstance(v, nir.Input))
    in_type = next(iter(input_node.input_type.values()), None)
    shape = None
    if in_type is not None and np.asarray(in_type).size:
        nir_shape = tuple(int(d) for d in np.asarray(in_type).reshape(-1))
        shape = tuple(from_nir_layout(np.empty(nir_shape)).shape)
    b = _Builder(shape)
    skip = set()
    for i, (name, feedback) in enumerate(chain):
        if name in skip:
            continue
        n = nodes[name]
        if isinstance(n, NEURON_NODES):
            nxt = chain[i + 1][0] if i + 1 < len(chain) else None
            threshold_next = None
            if (
                has_threshold_twin(type(n).__name__)
                and nxt is not None
                and isinstance(nodes[nxt], nir.Threshold)
            ):
                threshold_next = nodes[nxt]
                skip.add(nxt)
            b.add(
                _neuron(
                    name,
                    n,
                    None if feedback is None else nodes[feedback],
                    b,
                    dt,
                    threshold_next,
                    reset,
                )
            )
        elif isinstance(n, nir.Affine | nir.Linear):
            b.weighted(linear_from_nir(n, b.perm))
            b.perm = None
        elif isinstance(n, nir.Conv1d | nir.Conv2d):
            b.weighted(_conv_from_nir(n))
        elif isinstance(n, nir.Flatten):
            in_shape = tuple(
                int(d)
                for d in np.asarray(next(iter(n.input_type.values()))).reshape(-1)
            )
            if n.start_dim not in (0, -len(in_shape)) or n.end_dim not in (
                -1,
                len(in_shape) - 1,
            ):
                raise ValueError(
                    f"from_nir: Flatten node {name!r} flattens axes "
                    f"{n.start_dim}..{n.end_dim}; only whole examples "
                    f"(start_dim=0, end_dim=-1) are supported."
                )
            spyx_shape = tuple(from_nir_layout(np.empty(in_shape)).shape)
            if len(spyx_shape) >= 2:
                b.perm = flatten_perm(spyx_shape)
            b.add(snn.Flatten())
        elif isinstance(n, nir.SumPool2d | nir.AvgPool2d):
            if np.any(np.asarray(n.padding) != 0):
                raise ValueError(
                    f"from_nir: pooling node {name!r} pads by "
                    f"{n.padding}; only unpadded pooling is supported."
                )
            k = np.broadcast_to(np.asarray(n.kernel_size), (2,))
            s = np.broadcast_to(np.asarray(n.stride), (2,))
            b.add(snn.SumPool(tuple(int(v) for v in k), tuple(int(v) for v in s)))
            if isinstance(n, nir.AvgPool2d):
                b.pending_scale *= 1.0 / float(np.prod(k))
        elif isinstance(n, nir.Scale):
            scale = np.asarray(n.scale, np.float32)
            if b.layers and isinstance(b.layers[-1], nnx.Linear | nnx.Conv):
                b.fold_into_previous(scale, name, "Scale")
            elif scale.size == 1:
                b.pending_scale *= float(scale.reshape(()))
            else:
                raise ValueError(
                    f"from_nir: Scale node {name!r} follows no weighted "
                    f"layer and is per-unit; it cannot be folded."
                )
        else:
            raise ValueError(
                f"from_nir: node {name!r} ({type(n).__name__}) has no spyx equivalent."
            )
    if b.pending_scale != 1.0:
        raise ValueError(
            "from_nir: an AvgPool2d or Scale is followed by no weighted "
            "layer to fold its factor into."
        )
    warn_foreign_resets(b.foreign_resets)
    return snn.Sequential(*b.layers)


def warn_foreign_resets(names: list[str]) -> None:
    """Say once per graph which spiking nodes spyx did not write, and so
    imports with NIR's reset to 0."""
    if names:
        warnings.warn(
            f"from_nir: the spiking node(s) {names} reset to v_reset = 0 "
            f"after a spike, as NIR defines it, and are imported with "
            f"reset='zero'. Graphs exported by snnTorch write v_reset = 0 for its "
            f"default subtractive reset: import those with reset='subtract'.",
            stacklevel=4,
        )
