"""NIR (Neuromorphic Intermediate Representation) export and import.

`to_nir` writes a `spyx.nn` model as a `nir.NIRGraph`; `from_nir` builds a
`spyx.nn.Sequential` from one, including graphs written by snnTorch, Norse
and other frameworks. `spyx_eqx.nir` does the same for Equinox models through
the model conversions, so there is one mapping.

**Time constants.** NIR is continuous time: ``tau dv/dt = (v_leak - v) + r I``.
Forward Euler with step `dt` gives ``v' = (1 - dt/tau) v + (dt r / tau) I``,
so spyx's ``V' = beta V + x`` is

    beta = 1 - dt / tau,      tau = dt / (1 - beta),
    dt r / tau = 1,           r = tau / dt = 1 / (1 - beta),     v_leak = 0.

CuBaLIF maps `alpha` to `tau_syn` (with ``w_in = tau_syn / dt``) and `beta`
to `tau_mem` the same way; IF has ``dv/dt = r I``, so ``r = 1 / dt``.

**What spyx changes or refuses on import**, never silently:

- an input gain ``dt r / tau != 1`` (Norse writes ``r = 1``) is folded into
  the weights of the layer before the neuron, exactly, with a warning naming
  the node and the factor; with no weighted layer before it, `ValueError`;
- a hard reset to ``v_reset = 0`` becomes spyx's subtractive reset, with a
  warning (graphs written by spyx say they reset by subtraction and import
  silently); ``v_reset != 0`` and ``v_leak != 0`` are refused;
- a per-unit `v_threshold` that is not one number is refused;
- `Scale` and the ``1 / k`` of `AvgPool2d` are folded into the neighbouring
  weighted layer, exactly;
- branching graphs, `Delay`, and node types without a spyx twin are refused.

**Node table.**

| NIR node | spyx layer |
|---|---|
| `Affine` / `Linear` | `nnx.Linear` (with / without bias) |
| `Conv1d` / `Conv2d` | `nnx.Conv` (channels first in NIR, last in spyx) |
| `SumPool2d` (no padding) | `SumPool` |
| `AvgPool2d` (import, no padding) | `SumPool`, ``1/k`` folded into the next weights |
| `Flatten` | `Flatten` (the next weights are permuted between layouts) |
| `IF` / `LIF` / `LI` / `CubaLIF` | `IF` / `LIF` / `LI` / `CuBaLIF` |
| neuron + `Linear`/`Affine` feedback edge | `RIF` / `RLIF` / `RCuBaLIF` |
| `LI` followed by `Threshold` | `PSU_LIF` (how spyx writes it) |
| `Scale` | folded into the neighbouring weights |

`ALIF` has no NIR node and is refused on export; `ActivityRegularization`
(an identity on the data) is left out of the graph.
"""

import warnings
from typing import Any

import jax
import jax.numpy as jnp
import nir
import numpy as np
from flax import nnx

from . import nn as snn

__all__ = ["from_nir", "to_nir"]

_SPYX = "spyx"  # metadata key marking nodes written by spyx


# ----------------------------------------------------------------- mapping


def decay_to_nir(decay: Any, dt: float, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(tau, r)`` of a decay: ``tau = dt / (1 - d)``, ``r = tau / dt``."""
    d = np.clip(np.asarray(decay, np.float64), 0.0, 1.0)
    if np.any(d >= 1.0):
        raise ValueError(
            f"to_nir: {name} = 1 (no leak) has no finite NIR time constant; use "
            f"an IF neuron for a non-leaky integrator."
        )
    tau = dt / (1.0 - d)
    return tau, tau / dt


def nir_to_decay(tau: Any, dt: float, node: str) -> np.ndarray:
    """``d = 1 - dt / tau``; refuses ``tau < dt`` (unstable under Euler)."""
    tau = np.asarray(tau, np.float64)
    if np.any(tau < dt):
        raise ValueError(
            f"from_nir: node {node!r} has tau {tau.min():.3g} < dt={dt:g}; forward "
            f"Euler is unstable there. Pass the dt the graph was written with."
        )
    return 1.0 - dt / tau


# ------------------------------------------------------------------ layout


def _to_nir_layout(a: np.ndarray) -> np.ndarray:
    """spyx per-example ``(..., C)`` to NIR ``(C, ...)``."""
    return np.moveaxis(a, -1, 0) if a.ndim >= 2 else a


def _from_nir_layout(a: np.ndarray) -> np.ndarray:
    return np.moveaxis(a, 0, -1) if a.ndim >= 2 else a


def _flatten_perm(shape: tuple[int, ...]) -> np.ndarray:
    """``nir_vector = spyx_vector[perm]`` for a flattened feature map."""
    idx = np.arange(int(np.prod(shape))).reshape(shape)
    return _to_nir_layout(idx).reshape(-1)


def _per_unit(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    return _to_nir_layout(np.broadcast_to(np.asarray(value, np.float32), shape).copy())


# ------------------------------------------------------------------ export


def _out_shape(layer: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    x = jax.ShapeDtypeStruct((1, *shape), jnp.float32)
    return tuple(jax.eval_shape(layer, x).shape[1:])


def _meta(cls: str) -> dict:
    return {_SPYX: {"class": cls, "reset": "subtractive"}}


def _neuron_nodes(layer: Any, shape: tuple[int, ...], dt: float) -> dict[str, Any]:
    """NIR node(s) of a spyx neuron: ``{"": node}`` plus ``"rec"`` feedback or
    ``"threshold"`` (PSU_LIF)."""
    cls = type(layer).__name__
    th = _per_unit(layer.threshold, shape) if hasattr(layer, "threshold") else None
    zeros = _per_unit(0.0, shape)
    nodes: dict[str, Any] = {}
    if cls in ("IF", "RIF"):
        nodes[""] = nir.IF(
            r=_per_unit(1.0 / dt, shape),
            v_threshold=th,
            v_reset=zeros,
            metadata=_meta(cls),
        )
    elif cls in ("LIF", "RLIF", "LI", "PSU_LIF"):
        tau, r = decay_to_nir(_per_unit(layer.beta[...], shape), dt, f"{cls}.beta")
        if cls in ("LI", "PSU_LIF"):
            nodes[""] = nir.LI(tau=tau, r=r, v_leak=zeros, metadata=_meta(cls))
        else:
            nodes[""] = nir.LIF(
                tau=tau,
                r=r,
                v_leak=zeros,
                v_threshold=th,
                v_reset=zeros,
                metadata=_meta(cls),
            )
        if cls == "PSU_LIF":
            nodes["threshold"] = nir.Threshold(threshold=th, metadata=_meta(cls))
    elif cls in ("CuBaLIF", "RCuBaLIF"):
        tau_syn, w_in = decay_to_nir(
            _per_unit(layer.alpha[...], shape), dt, f"{cls}.alpha"
        )
        tau_mem, r = decay_to_nir(_per_unit(layer.beta[...], shape), dt, f"{cls}.beta")
        nodes[""] = nir.CubaLIF(
            tau_syn=tau_syn,
            tau_mem=tau_mem,
            r=r,
            v_leak=zeros,
            v_threshold=th,
            v_reset=zeros,
            w_in=w_in,
            metadata=_meta(cls),
        )
    else:
        raise TypeError(
            f"to_nir: {cls} has no NIR equivalent (NIR has no adaptive "
            f"threshold neuron)."
        )
    if cls.startswith("R"):
        nodes["rec"] = nir.Linear(weight=np.asarray(layer.W[...], np.float32).T)
    return nodes


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


def to_nir(model: Any, input_shape: Any, *, dt: float = 1.0) -> nir.NIRGraph:
    """Write a `spyx.nn` model as a NIR graph.

    **Arguments:**

    - `model`: a `spyx.nn.Sequential` or a single neuron.
    - `input_shape`: one example's input shape in spyx layout, e.g.
      ``(700,)`` or ``(H, W, C)`` (NIR gets ``(C, H, W)``).
    - `dt`: the time step the discrete model stands for (see the module doc).

    **Returns:** a `nir.NIRGraph` with ``input`` and ``output`` nodes.

    Example: ``nir.write("model.nir", spyx.nir.to_nir(model, (700,), dt=1e-3))``.
    """
    layers = list(model.layers) if isinstance(model, snn.Sequential) else [model]
    shape = tuple(int(d) for d in input_shape)
    nodes: dict[str, Any] = {
        "input": nir.Input(
            input_type={"input": np.array(_to_nir_layout(np.empty(shape)).shape)}
        )
    }
    edges: list[tuple[str, str]] = []
    prev = "input"
    perm = None
    for i, layer in enumerate(layers):
        name = f"{i}_{type(layer).__name__.lower()}"
        if isinstance(layer, snn.ActivityRegularization):
            continue
        if isinstance(layer, snn._Neuron):
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
            weight = np.asarray(layer.kernel[...], np.float32).T
            if perm is not None:
                weight, perm = weight[:, perm], None
            nodes[name] = (
                nir.Affine(weight=weight, bias=np.asarray(layer.bias[...]))
                if layer.use_bias
                else nir.Linear(weight=weight)
            )
        elif isinstance(layer, nnx.Conv):
            nodes[name] = _conv_node(layer, shape)
        elif isinstance(layer, snn.Flatten):
            nir_shape = _to_nir_layout(np.empty(shape)).shape
            nodes[name] = nir.Flatten(
                input_type={"input": np.array(nir_shape)}, start_dim=0, end_dim=-1
            )
            if len(shape) >= 2:
                perm = _flatten_perm(shape)
        elif isinstance(layer, snn.SumPool):
            nodes[name] = _sumpool_node(layer, shape)
        else:
            raise TypeError(
                f"to_nir: layer {i} ({type(layer).__name__}) has no NIR equivalent."
            )
        edges.append((prev, name))
        prev = name
        shape = _out_shape(layer, shape)
    nodes["output"] = nir.Output(
        output_type={"output": np.array(_to_nir_layout(np.empty(shape)).shape)}
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


# ------------------------------------------------------------------ import


def _inline_subgraphs(graph: nir.NIRGraph) -> tuple[dict, list]:
    """Flatten nested graphs (snnTorch writes recurrent layers as subgraphs)."""
    nodes, edges = {}, []
    entry, exit_ = {}, {}
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = _inline_subgraphs(node)
            ins = [k for k, v in sub_nodes.items() if isinstance(v, nir.Input)]
            outs = [k for k, v in sub_nodes.items() if isinstance(v, nir.Output)]
            for k, v in sub_nodes.items():
                nodes[f"{name}.{k}"] = v
            edges += [(f"{name}.{a}", f"{name}.{b}") for a, b in sub_edges]
            entry[name] = [f"{name}.{k}" for k in ins]
            exit_[name] = [f"{name}.{k}" for k in outs]
        else:
            nodes[name] = node
    for a, b in graph.edges:
        for src in exit_.get(a, [a]):
            for dst in entry.get(b, [b]):
                edges.append((src, dst))
    # drop inner Input/Output nodes, connecting through them
    inner = [
        k
        for k, v in nodes.items()
        if "." in k and isinstance(v, nir.Input | nir.Output)
    ]
    for k in inner:
        preds = [a for a, b in edges if b == k]
        succs = [b for a, b in edges if a == k]
        edges = [(a, b) for a, b in edges if k not in (a, b)]
        edges += [(a, b) for a in preds for b in succs]
        del nodes[k]
    return nodes, edges


_NEURONS = (nir.IF, nir.LIF, nir.LI, nir.CubaLIF)
_WEIGHTED = (nir.Affine, nir.Linear)


def _chain(nodes: dict, edges: list) -> list[tuple[str, str | None]]:
    """The nodes from input to output as ``(name, feedback_name_or_None)``."""
    succ: dict[str, list[str]] = {k: [] for k in nodes}
    pred: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in edges:
        if a not in nodes or b not in nodes:
            raise ValueError(f"from_nir: edge {a!r} -> {b!r} names an unknown node.")
        succ[a].append(b)
        pred[b].append(a)
    inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
    if len(inputs) != 1:
        raise ValueError(f"from_nir: expected one Input node, found {inputs}.")
    chain, current, seen = [], inputs[0], {inputs[0]}
    while not isinstance(nodes[current], nir.Output):
        nexts = succ[current]
        feedback = None
        if isinstance(nodes[current], _NEURONS):
            loops = [
                n
                for n in nexts
                if isinstance(nodes[n], _WEIGHTED)
                and succ[n] == [current]
                and pred[n] == [current]
            ]
            if loops:
                feedback = loops[0]
                nexts = [n for n in nexts if n != feedback]
        if current != inputs[0]:
            chain.append((current, feedback))
        if len(nexts) != 1:
            raise ValueError(
                f"from_nir: node {current!r} leads to {nexts}; only chains of layers "
                f"(with recurrent feedback loops) can be imported."
            )
        current = nexts[0]
        if current in seen:
            raise ValueError(
                f"from_nir: cycle through {current!r} that is not a "
                f"neuron's feedback loop."
            )
        seen.add(current)
    return chain


def _single(value: Any, node: str, what: str) -> float:
    v = np.unique(np.asarray(value, np.float64))
    if v.size != 1:
        raise ValueError(
            f"from_nir: node {node!r} has per-unit {what} {v}; spyx "
            f"neurons take one number."
        )
    return float(v[0])


def _from_layout(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(value, np.float32)
    if a.size == 1:
        return np.full(shape, a.reshape(()), np.float32)
    a = _from_nir_layout(a) if a.ndim >= 2 else a
    return np.broadcast_to(a.reshape(-1) if len(shape) == 1 else a, shape).copy()


class _Builder:
    """Accumulates spyx layers, folding gains into weighted layers."""

    def __init__(self, shape: tuple[int, ...] | None):
        self.layers: list[Any] = []
        self.shape = shape
        self.pending_scale = 1.0
        self.perm: np.ndarray | None = None

    def add(self, layer: Any) -> None:
        if self.shape is not None and not isinstance(layer, snn._Neuron):
            self.shape = _out_shape(layer, self.shape)
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


def _gain_check(gain: np.ndarray, node: str, builder: _Builder, what: str) -> None:
    if not np.allclose(gain, 1.0, rtol=1e-6, atol=1e-7):
        warnings.warn(
            f"from_nir: node {node!r} scales its input by {what} = "
            f"{np.unique(np.round(gain, 6))[:4]} (dt r / tau != 1); folded exactly "
            f"into the weights of the layer before it.",
            stacklevel=3,
        )
        builder.fold_into_previous(gain, node, what)


def _reset_check(node_obj: Any, node: str) -> None:
    v_reset = getattr(node_obj, "v_reset", None)
    if v_reset is not None and np.any(np.asarray(v_reset) != 0):
        raise ValueError(
            f"from_nir: node {node!r} resets to v_reset != 0; spyx "
            f"neurons reset by subtracting the threshold."
        )
    if node_obj.metadata.get(_SPYX, {}).get("reset") != "subtractive":
        warnings.warn(
            f"from_nir: node {node!r} resets to 0 after a spike (hard reset); spyx "
            f"neurons subtract the threshold instead (subtractive reset).",
            stacklevel=3,
        )


def _leak_check(node_obj: Any, node: str) -> None:
    if np.any(np.asarray(getattr(node_obj, "v_leak", 0.0)) != 0):
        raise ValueError(
            f"from_nir: node {node!r} has v_leak != 0, which spyx "
            f"neurons cannot represent."
        )


def _neuron(
    node: str, n: Any, feedback: Any, b: _Builder, dt: float, threshold_next: Any
) -> Any:
    shape = b.shape or (
        int(np.asarray(getattr(n, "v_threshold", getattr(n, "tau", 1.0))).size),
    )
    rngs = nnx.Rngs(0)
    W = None if feedback is None else jnp.asarray(np.asarray(feedback.weight).T)
    if W is not None and len(shape) != 1:
        raise ValueError(f"from_nir: recurrent node {node!r} must be 1-D, got {shape}.")
    if isinstance(n, nir.IF):
        _reset_check(n, node)
        _gain_check(dt * _from_layout(n.r, shape), node, b, "dt * r")
        th = _single(n.v_threshold, node, "v_threshold")
        layer = snn.RIF(shape, th, rngs=rngs) if W is not None else snn.IF(shape, th)
    elif isinstance(n, nir.LI):
        _leak_check(n, node)
        tau = _from_layout(n.tau, shape)
        beta = nir_to_decay(tau, dt, node)
        _gain_check(dt * _from_layout(n.r, shape) / tau, node, b, "dt * r / tau")
        if threshold_next is not None:
            th = _single(threshold_next.threshold, node, "threshold")
            layer = snn.PSU_LIF(
                shape, beta=jnp.asarray(beta, jnp.float32), threshold=th
            )
        else:
            layer = snn.LI(shape, beta=jnp.asarray(beta, jnp.float32))
    elif isinstance(n, nir.LIF):
        _leak_check(n, node)
        _reset_check(n, node)
        tau = _from_layout(n.tau, shape)
        beta = jnp.asarray(nir_to_decay(tau, dt, node), jnp.float32)
        _gain_check(dt * _from_layout(n.r, shape) / tau, node, b, "dt * r / tau")
        th = _single(n.v_threshold, node, "v_threshold")
        layer = (
            snn.RLIF(shape, beta, th, rngs=rngs)
            if W is not None
            else snn.LIF(shape, beta, th)
        )
    else:  # CubaLIF
        _leak_check(n, node)
        _reset_check(n, node)
        tau_syn, tau_mem = (
            _from_layout(n.tau_syn, shape),
            _from_layout(n.tau_mem, shape),
        )
        alpha = jnp.asarray(nir_to_decay(tau_syn, dt, node), jnp.float32)
        beta = jnp.asarray(nir_to_decay(tau_mem, dt, node), jnp.float32)
        # I is scaled by c = dt r / tau_mem inside the membrane update; carrying
        # c * I instead moves it to the input, next to dt w_in / tau_syn.
        gain = (dt * _from_layout(n.w_in, shape) / tau_syn) * (
            dt * _from_layout(n.r, shape) / tau_mem
        )
        _gain_check(gain, node, b, "(dt w_in / tau_syn) (dt r / tau_mem)")
        th = _single(n.v_threshold, node, "v_threshold")
        layer = (
            snn.RCuBaLIF(shape, alpha, beta, th, rngs=rngs)
            if W is not None
            else snn.CuBaLIF(shape, alpha, beta, th)
        )
    if W is not None:
        layer.W[...] = W
    return layer


def _conv_from_nir(node: str, n: Any) -> nnx.Conv:
    weight = np.asarray(n.weight, np.float32)  # (out, in, *k)
    k = weight.ndim - 2
    pad = n.padding
    if isinstance(pad, str):
        padding: Any = pad.upper()
    else:
        p = np.broadcast_to(np.asarray(pad), (k,))
        padding = [(int(v), int(v)) for v in p]
    layer = nnx.Conv(
        weight.shape[1] * n.groups,
        weight.shape[0],
        weight.shape[2:],
        tuple(int(s) for s in np.broadcast_to(np.asarray(n.stride), (k,))),
        padding=padding,
        kernel_dilation=tuple(
            int(s) for s in np.broadcast_to(np.asarray(n.dilation), (k,))
        ),
        feature_group_count=int(n.groups),
        rngs=nnx.Rngs(0),
    )
    layer.kernel[...] = jnp.asarray(np.moveaxis(weight, (0, 1), (k + 1, k)))
    layer.bias[...] = jnp.asarray(np.asarray(n.bias, np.float32).reshape(-1))
    return layer


def from_nir(graph: nir.NIRGraph, *, dt: float = 1.0) -> snn.Sequential:
    """Build a `spyx.nn.Sequential` from a NIR graph.

    **Arguments:**

    - `graph`: a `nir.NIRGraph` (e.g. from `nir.read`), a chain of layers
      whose neurons may have a Linear/Affine feedback loop; nested subgraphs
      are inlined.
    - `dt`: the time step to discretise with; match the exporter's.

    **Returns:** the model; run it with `spyx.nn.run` on time-major input.
    What is rescaled (with a warning) or refused is listed in the module doc.

    Example: ``model = spyx.nir.from_nir(nir.read("model.nir"), dt=1e-3)``.
    """
    nodes, edges = _inline_subgraphs(graph)
    chain = _chain(nodes, edges)
    input_node = next(v for v in nodes.values() if isinstance(v, nir.Input))
    in_type = next(iter(input_node.input_type.values()), None)
    shape = None
    if in_type is not None and np.asarray(in_type).size:
        nir_shape = tuple(int(d) for d in np.asarray(in_type).reshape(-1))
        shape = tuple(_from_nir_layout(np.empty(nir_shape)).shape)
    b = _Builder(shape)
    skip = set()
    for i, (name, feedback) in enumerate(chain):
        if name in skip:
            continue
        n = nodes[name]
        if isinstance(n, _NEURONS):
            nxt = chain[i + 1][0] if i + 1 < len(chain) else None
            threshold_next = None
            if (
                isinstance(n, nir.LI)
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
                )
            )
        elif isinstance(n, nir.Affine | nir.Linear):
            weight = np.asarray(n.weight, np.float32)  # (out, in)
            if b.perm is not None:
                weight = weight[:, np.argsort(b.perm)]
                b.perm = None
            bias = isinstance(n, nir.Affine)
            layer = nnx.Linear(
                weight.shape[1], weight.shape[0], use_bias=bias, rngs=nnx.Rngs(0)
            )
            layer.kernel[...] = jnp.asarray(weight.T)
            if bias:
                layer.bias[...] = jnp.asarray(np.asarray(n.bias, np.float32))
            b.weighted(layer)
        elif isinstance(n, nir.Conv1d | nir.Conv2d):
            b.weighted(_conv_from_nir(name, n))
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
            spyx_shape = tuple(_from_nir_layout(np.empty(in_shape)).shape)
            if len(spyx_shape) >= 2:
                b.perm = _flatten_perm(spyx_shape)
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
    return snn.Sequential(*b.layers)
