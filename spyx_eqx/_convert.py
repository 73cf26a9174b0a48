"""Conversions between `spyx.nn` (Flax NNX) and `spyx_eqx` (Equinox) models.

Parameters are copied, never re-drawn: a model trained in one API runs in
the other with the same outputs. Flax is imported only when a conversion
runs, so ``import spyx_eqx`` stays free of it.

- `spyx.nn.<Neuron>` <-> `spyx_eqx.<Neuron>` (same name, same parameters);
- `spyx.nn.Sequential` <-> `spyx_eqx.Sequential`, `spyx.nn.Graph` <->
  `spyx_eqx.Graph` (same names, edges and timing);
- `nnx.Linear` <-> `eqx.nn.Linear`: kernel ``(in, out)`` <-> weight ``(out, in)``;
- `nnx.Conv` <-> `ChannelsLast(eqx.nn.Conv)`: kernel ``(*k, in, out)`` <->
  weight ``(out, in, *k)``, and channels-last data on both sides;
- `Flatten`, `SumPool`, `PopulationCode`, `ActivityRegularization` <-> their
  twins.
"""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from spyx import core
from spyx.core import _frontend as frontend

from . import _graph, _layers, _neurons, _sequential
from ._neuron import Neuron, eqx_class

__all__ = ["from_nnx", "to_nnx"]

_KEY = jax.random.key(0)  # every parameter is copied over; the key is unused


def _unsupported(module: Any, direction: str) -> TypeError:
    names = ", ".join(spec.name for spec in core.NEURONS)
    return TypeError(
        f"{direction}: no conversion for {type(module).__name__}. Supported: the "
        f"spyx neurons ({names}), Sequential, Graph, Flatten, SumPool, "
        f"PopulationCode, ActivityRegularization, Linear and Conv."
    )


def _twin_class(module: Any, base: type, namespace: Any) -> type:
    """The twin class of a neuron: the class of the same name in the other
    API when it derives from the spec's class there (`AssociativeLIF`, an
    alias of `PSU_LIF`), else the spec's class."""
    same = getattr(namespace, type(module).__name__, None)
    return same if isinstance(same, type) and issubclass(same, base) else base


def _neuron_twin(cls: type, module: Any, read: Any, **randomness: Any) -> tuple:
    """A twin of neuron `module` of class `cls`, and its arrays to copy in.

    The twin is built with the source's structure (per-unit or scalar
    decays), hyperparameters (threshold, activation, reset mode) and
    placeholder decays, so that any values convert, gradients included
    (decays outside [0, 1]); the caller then writes the returned ``{name:
    array}`` (the decays and ``recurrent_w``, each read from `module` with
    `read`) into it.
    """
    spec = module.spec
    arrays = {d: read(getattr(module, d)) for d in spec.params}
    kwargs: dict[str, Any] = {
        d: jnp.full(jnp.shape(arrays[d]), 0.5) for d in spec.decays
    }
    if spec.spiking:
        # a gradient tree (eqx.filter_grad's) holds None for the threshold,
        # which has no gradient; its twin is a gradient tree too
        th = module.threshold
        kwargs["threshold"] = core.THRESHOLD if th is None else th
        kwargs["activation"] = module.spike
    if spec.resets:
        kwargs["reset"] = module.reset
    if spec.output_from_state:
        kwargs["spikes_after_update"] = frontend.spikes_after_update(module)
    return cls(module.hidden_shape, **kwargs, **randomness), arrays


def from_nnx(module: Any) -> Any:
    """The Equinox twin of a `spyx.nn` / `flax.nnx` module, same parameters.

    Args:
        module: a `spyx.nn` neuron, `Sequential`, `Graph`, `Flatten`, `SumPool`,
            `PopulationCode`, `ActivityRegularization`, or an `nnx.Linear` /
            `nnx.Conv`.

    Returns:
        the `spyx_eqx` (or `eqx.nn`) module.

    Example: ``twin = spyx_eqx.from_nnx(nnx_model)``; ``spyx_eqx.run(twin, x,
    twin.initial_state(B))`` then equals ``spyx.nn.run(nnx_model, x)``.
    """
    from flax import nnx

    import spyx.nn as snn

    if isinstance(module, snn.Sequential):
        return _sequential.Sequential(*(from_nnx(layer) for layer in module.layers))
    if isinstance(module, snn.Graph):
        return _twin_graph(_graph.Graph, module, from_nnx)
    if isinstance(module, snn.Neuron):
        cls = _twin_class(module, eqx_class(module.spec), _neurons)
        read = lambda p: jnp.asarray(p[...])  # noqa: E731
        twin, arrays = _neuron_twin(cls, module, read, key=_KEY)
        names = list(arrays)
        return eqx.tree_at(
            lambda m: [getattr(m, n) for n in names], twin, list(arrays.values())
        )
    if isinstance(module, snn.Flatten):
        return _layers.Flatten()
    if isinstance(module, snn.SumPool):
        return _layers.SumPool(
            module.window_shape, module.strides, module.padding, module.channel_axis
        )
    if isinstance(module, snn.PopulationCode):
        return _layers.PopulationCode(module.num_classes)
    if isinstance(module, snn.ActivityRegularization):
        return _layers.ActivityRegularization(
            module.hidden_shape, module.batch_size, module.dtype
        )
    if isinstance(module, nnx.Linear):
        return _linear_from_nnx(module)
    if isinstance(module, nnx.Conv):
        return _layers.ChannelsLast(_conv_from_nnx(module))
    if callable(module) and not isinstance(module, nnx.Module):
        return module  # plain functions (e.g. jax.nn.relu) are shared as is
    raise _unsupported(module, "from_nnx")


def to_nnx(module: Any) -> Any:
    """The `spyx.nn` / `flax.nnx` twin of a `spyx_eqx` / `eqx.nn` module.

    The inverse of `from_nnx`, for models in NNX's channels-last layout
    (each `eqx.nn.Conv` inside `ChannelsLast`, `SumPool` with
    ``channel_axis=-1``), which then give identical outputs on the same data.
    A channels-first part (a bare `eqx.nn.Conv`, ``SumPool(channel_axis=0)``)
    raises a `ValueError` that says how to build the model channels last.

    Example: ``nnx_model = spyx_eqx.to_nnx(eqx_model)``.
    """
    from flax import nnx

    import spyx.nn as snn

    if isinstance(module, _sequential.Sequential):
        return snn.Sequential(*(to_nnx(layer) for layer in module.layers))
    if isinstance(module, _graph.Graph):
        return _twin_graph(snn.Graph, module, to_nnx)
    if isinstance(module, Neuron):
        cls = _twin_class(module, snn.nnx_class(module.spec), snn)
        twin, arrays = _neuron_twin(cls, module, jnp.asarray, rngs=nnx.Rngs(0))
        for name, value in arrays.items():
            getattr(twin, name)[...] = value
        return twin
    if isinstance(module, _layers.Flatten):
        return snn.Flatten()
    if isinstance(module, _layers.SumPool):
        if module.channel_axis == 0:
            raise _channels_first("SumPool(channel_axis=0)")
        return snn.SumPool(
            module.window_shape, module.strides, module.padding, module.channel_axis
        )
    if isinstance(module, _layers.PopulationCode):
        return snn.PopulationCode(module.num_classes)
    if isinstance(module, _layers.ActivityRegularization):
        return snn.ActivityRegularization(
            module.hidden_shape, module.batch_size or 1, module.dtype
        )
    if isinstance(module, eqx.nn.Linear):
        return _linear_to_nnx(module)
    if isinstance(module, _layers.ChannelsLast) and isinstance(
        module.layer, eqx.nn.Conv
    ):
        return _conv_to_nnx(module.layer)
    if isinstance(module, eqx.nn.Conv):
        raise _channels_first(f"a bare {type(module).__name__}")
    if callable(module) and not isinstance(module, eqx.Module):
        return module
    raise _unsupported(module, "to_nnx")


def _twin_graph(cls: type, module: Any, convert: Any) -> Any:
    """A graph of the other API: every node converted, the same edges."""
    plan = module.plan
    return cls(
        {name: convert(module.nodes[name]) for name in plan.names},
        plan.edges,
        delayed=plan.delayed,
        spikes_after_update=plan.spikes_after_update,
    )


def _channels_first(what: str) -> ValueError:
    return ValueError(
        f"to_nnx: the model has {what}, which works channels first (C, H, W); "
        f"spyx.nn and nnx.Conv work channels last (H, W, C), and to_nnx does not "
        f"reorder a model's layout (a Flatten after it would need its next "
        f"layer's weights permuted). Build the Equinox model channels last to "
        f"convert it: wrap each eqx.nn.Conv in spyx_eqx.ChannelsLast, use "
        f"SumPool(..., channel_axis=-1) and (H, W, C) neuron shapes."
    )


def _linear_from_nnx(m: Any) -> eqx.nn.Linear:
    twin = eqx.nn.Linear(
        m.in_features, m.out_features, use_bias=m.use_bias, key=jax.random.key(0)
    )
    twin = eqx.tree_at(lambda t: t.weight, twin, jnp.asarray(m.kernel[...]).T)
    if m.use_bias:
        twin = eqx.tree_at(lambda t: t.bias, twin, jnp.asarray(m.bias[...]))
    return twin


def _linear_to_nnx(m: eqx.nn.Linear) -> Any:
    from flax import nnx

    n_in, n_out = m.in_features, m.out_features
    if n_in == "scalar" or n_out == "scalar":
        raise TypeError("to_nnx: eqx.nn.Linear with 'scalar' features has no twin.")
    twin = nnx.Linear(n_in, n_out, use_bias=m.use_bias, rngs=nnx.Rngs(0))
    twin.kernel[...] = jnp.asarray(m.weight).T
    if twin.bias is not None:  # use_bias
        twin.bias[...] = jnp.asarray(m.bias)
    return twin


def _tuple(v: Any, n: int) -> tuple[int, ...]:
    return (v,) * n if isinstance(v, int) else tuple(v)


def _conv_from_nnx(m: Any) -> eqx.nn.Conv:
    kernel = jnp.asarray(m.kernel[...])  # (*k, in / groups, out)
    n = kernel.ndim - 2
    if _tuple(m.input_dilation or 1, n) != (1,) * n:
        raise TypeError("from_nnx: nnx.Conv with input_dilation has no eqx twin.")
    padding = m.padding
    if isinstance(padding, str) and padding not in ("SAME", "VALID"):
        raise TypeError(
            f"from_nnx: nnx.Conv padding {padding!r} is not supported; use 'SAME', "
            f"'VALID' or explicit pads."
        )
    twin = eqx.nn.Conv(
        n,
        m.in_features,
        m.out_features,
        kernel.shape[:n],
        stride=m.strides or 1,
        padding=padding,
        dilation=m.kernel_dilation or 1,
        groups=m.feature_group_count,
        use_bias=m.use_bias,
        key=jax.random.key(0),
    )
    weight = jnp.moveaxis(kernel, (n, n + 1), (1, 0))  # (out, in, *k)
    twin = eqx.tree_at(lambda t: t.weight, twin, weight)
    if m.use_bias:
        bias = jnp.asarray(m.bias[...]).reshape(-1, *(1,) * n)
        twin = eqx.tree_at(lambda t: t.bias, twin, bias)
    return twin


def _conv_to_nnx(m: eqx.nn.Conv) -> Any:
    from flax import nnx

    n = m.num_spatial_dims
    padding = m.padding
    if not isinstance(padding, str):
        padding = [(lo, hi) for lo, hi in padding]
    twin = nnx.Conv(
        m.in_channels,
        m.out_channels,
        m.kernel_size,
        m.stride,
        padding=padding,
        kernel_dilation=m.dilation,
        feature_group_count=m.groups,
        use_bias=m.use_bias,
        rngs=nnx.Rngs(0),
    )
    twin.kernel[...] = jnp.moveaxis(jnp.asarray(m.weight), (0, 1), (n + 1, n))
    if twin.bias is not None:  # use_bias
        twin.bias[...] = jnp.asarray(m.bias).reshape(-1)
    return twin
