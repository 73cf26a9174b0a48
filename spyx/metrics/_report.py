"""`report`: count a model's metrics on given data, layer by layer, and
`Report`, the table of them."""

import dataclasses
import math
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import Array

from . import _counts, _layers
from ._layers import CONNECTION, CONTAINER, GRAPH, NEURON, UNKNOWN, kind_of
from ._walk import Trace, traces

__all__ = ["LayerRow", "Report", "count_layer", "report"]

NOT_COUNTED = "ops not counted: unknown layer type"


@dataclasses.dataclass(frozen=True)
class LayerRow:
    """One leaf layer's counts (operations and updates per example).

    Attributes:
        name: the layer's place: its index in a chain, its node name in a
            graph, joined by dots through nested containers.
        kind: the layer's class name.
        params: number of parameter entries.
        footprint: bytes of the arrays the layer holds.
        weights: number of synaptic weights (kernel, `recurrent_w`).
        zero_weights: how many of them are zero.
        activations: number of outputs of a spiking neuron (or ReLU,
            sigmoid) over all steps and examples; 0 for other layers.
        zero_activations: how many of them are zero.
        effective_acs: accumulates per example (input that is spikes).
        effective_macs: multiply-accumulates per example (real input).
        dense: synaptic operations per example with every input and weight
            nonzero.
        membrane_updates: a neuron's membrane updates per example, else
            ``None``.
        ops_counted: ``False`` for a layer of unknown type, whose operations
            are not counted (its three operation counts are then 0).
        note: why the operations were not counted, else empty.
    """

    name: str
    kind: str
    params: int
    footprint: int
    weights: int = 0
    zero_weights: int = 0
    activations: int = 0
    zero_activations: int = 0
    effective_acs: float = 0.0
    effective_macs: float = 0.0
    dense: float = 0.0
    membrane_updates: float | None = None
    ops_counted: bool = True
    note: str = ""

    @property
    def connection_sparsity(self) -> float | None:
        """Zero weights over weights; ``None`` without weights."""
        return self.zero_weights / self.weights if self.weights else None

    @property
    def activation_sparsity(self) -> float | None:
        """The fraction of the layer's outputs that are zero.

        ``None`` for a layer that is no activation."""
        return self.zero_activations / self.activations if self.activations else None


def count_layer(
    layer: Any,
    inputs: Array | np.ndarray,
    outputs: Array,
    membrane: Array | None = None,
    *,
    batch_ndim: int = 1,
    name: str = "",
) -> LayerRow:
    """Count one layer from its sequences, ``[T, *batch, ...]`` each.

    A Linear or Conv counts its synaptic operations on `inputs`; a
    recurrent neuron counts those of ``s @ recurrent_w`` on its own
    `outputs` (the spikes it feeds back); a spiking neuron counts its zero
    `outputs`, and a neuron its `membrane` updates (``V`` after each step).

    Args:
        layer: the layer (NNX or Equinox).
        inputs: what it took at each step.
        outputs: what it gave at each step.
        membrane: a neuron's membrane after each step.
        batch_ndim: number of batch axes after the time axis.
        name: the row's name.

    Returns:
        The layer's `LayerRow`, with operations and updates per example.

    Example:

    ```python
    fc = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    spikes = jnp.array([[[1.0, 0.0, 1.0]], [[0.0, 0.0, 1.0]]])  # [T=2, B=1, 3]
    row = spyx.metrics.count_layer(fc, spikes, fc(spikes))
    assert row.effective_acs == 6  # three spikes, two synapses each
    assert row.dense == 12
    ```
    """
    kind = kind_of(layer)
    params, footprint = _layers.array_counts(layer)
    zero_w, n_w = _counts.weight_counts(_layers.connection_weights(layer))
    lead = 1 + batch_ndim
    examples = math.prod(jnp.shape(inputs)[1:lead]) or 1
    ops = (0, 0, 0)
    if kind == CONNECTION:
        ops = _counts.synaptic_counts(
            _layers.apply_binary(layer, False),
            _layers.apply_binary(layer, True),
            inputs,
            batch_ndim,
        )
    elif kind == NEURON and layer.spec.recurrent:
        ops = _counts.synaptic_counts(
            _layers.recurrent_binary(layer, False),
            _layers.recurrent_binary(layer, True),
            outputs,
            batch_ndim,
        )
    spiking = (kind == NEURON and layer.spec.spiking) or _layers.is_activation(layer)
    zero_a, n_a = _counts.activation_counts(outputs) if spiking else (0, 0)
    updates = None
    if membrane is not None:
        updates = _counts.membrane_updates(membrane) / examples
    return LayerRow(
        name=name,
        kind=type(_layers.inner(layer)).__name__,
        params=params,
        footprint=footprint,
        weights=n_w,
        zero_weights=zero_w,
        activations=n_a,
        zero_activations=zero_a,
        effective_acs=ops[0] / examples,
        effective_macs=ops[1] / examples,
        dense=ops[2] / examples,
        membrane_updates=updates,
        ops_counted=kind != UNKNOWN,
        note=NOT_COUNTED if kind == UNKNOWN else "",
    )


def _ratio(zeros: int, total: int) -> float:
    return zeros / total if total else 0.0


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


_HEADER = (
    "layer",
    "type",
    "params",
    "bytes",
    "conn. sp.",
    "act. sp.",
    "eff. ACs",
    "eff. MACs",
    "dense",
    "mem. upd.",
)


@dataclasses.dataclass(frozen=True)
class Report:
    """A model's efficiency metrics on some data: one row per leaf layer.

    Operations and membrane updates are per example (summed over the time
    steps, averaged over the examples), as NeuroBench reports them;
    sparsities are fractions of zeros. ``str(report)`` is an aligned
    table; a layer whose operations were not counted shows ``?``.

    Attributes:
        rows: the `LayerRow` of every leaf layer, in order.
        examples: number of examples in the data.
        steps: number of time steps.
        parameter_count: parameter entries of the whole model.
        footprint: bytes of the arrays the model holds.
    """

    rows: tuple[LayerRow, ...]
    examples: int
    steps: int
    parameter_count: int
    footprint: int

    @property
    def connection_sparsity(self) -> float:
        """Zero synaptic weights over all synaptic weights."""
        rows = self.rows
        zeros, total = sum(r.zero_weights for r in rows), sum(r.weights for r in rows)
        return _ratio(zeros, total)

    @property
    def activation_sparsity(self) -> float:
        """The fraction of the network's activations that are zero.

        Zero outputs over all outputs of the spiking neurons (and ReLU,
        sigmoid), over every step and example."""
        rows = self.rows
        zeros = sum(r.zero_activations for r in rows)
        return _ratio(zeros, sum(r.activations for r in rows))

    @property
    def synaptic_operations(self) -> dict[str, float]:
        """``{"Effective_MACs", "Effective_ACs", "Dense"}`` per example."""
        return {
            "Effective_MACs": sum(r.effective_macs for r in self.rows),
            "Effective_ACs": sum(r.effective_acs for r in self.rows),
            "Dense": sum(r.dense for r in self.rows),
        }

    @property
    def membrane_updates(self) -> float:
        """Membrane updates of all neurons per example."""
        return sum(r.membrane_updates or 0.0 for r in self.rows)

    @property
    def complete(self) -> bool:
        """Whether every layer's operations were counted."""
        return all(r.ops_counted for r in self.rows)

    def as_neurobench(self) -> dict[str, Any]:
        """The totals under NeuroBench's metric names.

        Returns:
            ``{"parameter_count", "footprint", "connection_sparsity",
                "activation_sparsity", "synaptic_operations",
                "membrane_updates"}``, as NeuroBench's `Benchmark.run` names them.
        """
        return {
            "parameter_count": self.parameter_count,
            "footprint": self.footprint,
            "connection_sparsity": self.connection_sparsity,
            "activation_sparsity": self.activation_sparsity,
            "synaptic_operations": self.synaptic_operations,
            "membrane_updates": self.membrane_updates,
        }

    def _lines(self) -> list[tuple[str, ...]]:
        lines = []
        for r in self.rows:
            ops = [r.effective_acs, r.effective_macs, r.dense]
            shown = [_number(v) if r.ops_counted else "?" for v in ops]
            lines.append(
                (
                    r.name,
                    r.kind,
                    _number(r.params),
                    _number(r.footprint),
                    _share(r.connection_sparsity),
                    _share(r.activation_sparsity),
                    *shown,
                    _number(r.membrane_updates),
                )
            )
        ops = self.synaptic_operations
        lines.append(
            (
                "total",
                "",
                _number(self.parameter_count),
                _number(self.footprint),
                _share(self.connection_sparsity),
                _share(self.activation_sparsity),
                _number(ops["Effective_ACs"]),
                _number(ops["Effective_MACs"]),
                _number(ops["Dense"]),
                _number(self.membrane_updates),
            )
        )
        return lines

    def __str__(self) -> str:
        lines = self._lines()
        widths = [max(len(c) for c in col) for col in zip(_HEADER, *lines, strict=True)]

        def fmt(cells: tuple[str, ...]) -> str:
            left = [c.ljust(w) for c, w in zip(cells[:2], widths, strict=False)]
            right = [c.rjust(w) for c, w in zip(cells[2:], widths[2:], strict=True)]
            return "  ".join(left + right).rstrip()

        rule = "-" * len(fmt(_HEADER))
        out = [
            f"{self.examples} example(s), {self.steps} step(s); "
            "operations and updates per example",
            fmt(_HEADER),
            rule,
            *(fmt(line) for line in lines[:-1]),
            rule,
            fmt(lines[-1]),
        ]
        if not self.complete:
            out.append(f"? {NOT_COUNTED}")
        return "\n".join(out)


def _batch_ndim(found: list[Trace], nnx: bool) -> int:
    """Batch axes of the run, read off the first neuron's membrane (or the
    first Linear's or Conv's input); one for NNX when neither says."""
    for t in found:
        if t.membrane is not None:
            return t.membrane.ndim - 1 - len(t.layer.hidden_shape)
    for t in found:
        if kind_of(t.layer) == CONNECTION and not nnx:
            spatial = getattr(t.layer, "num_spatial_dims", None)
            example = 1 if spatial is None else spatial + 1
            if getattr(t.layer, "in_features", None) == "scalar":
                example = 0
            return t.inputs.ndim - 1 - example
    return 1 if nnx else 0


def report(
    model: Any,
    x: Array,
    state: Any = None,
    *,
    batch_major: bool = False,
    **run_options: Any,
) -> Report:
    """Run `model` on `x` and count its efficiency metrics, layer by layer.

    Works for a `Sequential`, a `Graph` or a single neuron of either API
    (`spyx.nn` or `spyx_eqx`); nested chains and graphs are counted layer by
    layer. See the module's page for the definitions.

    The counts are an inference's, as NeuroBench takes them: the model runs
    as a copy in inference mode (`nnx.Module.eval`, `eqx.nn.inference_mode`:
    no dropout, batch norm with its running statistics), and `model`
    itself is left as it was (its RNG counters and batch statistics too).

    Args:
        model: the model.
        x: the data, ``[T, B, ...]`` (``[T, ...]`` is one example for
            `spyx_eqx`).
        state: the state before the first step; ``None``: the zero state.
        batch_major: `x` is ``[B, T, ...]``.
        **run_options: passed on to the API's `run` (``layerwise``,
            ``chunk``, ...; the counts do not depend on them).

    Returns:
        The `Report`: a row per layer, the totals, a table when printed.

    Example:

    ```python
    model = spyx.nn.Sequential(
        nnx.Linear(4, 3, rngs=nnx.Rngs(0)), spyx.nn.LIF((3,), beta=0.9)
    )
    x = jnp.ones((10, 2, 4))  # [T, B, features]
    result = spyx.metrics.report(model, x)
    print(result)
    assert result.synaptic_operations["Effective_MACs"] == 0  # spikes in
    assert result.synaptic_operations["Effective_ACs"] == 10 * 4 * 3
    ```
    """
    x = jnp.asarray(x)
    if batch_major:
        x = jnp.swapaxes(x, 0, 1)
    nnx = _layers.framework(model) == "nnx"
    model = _inference_copy(model, nnx)
    if kind_of(model) not in (CONTAINER, GRAPH):
        if nnx:
            import spyx.nn

            chain = spyx.nn.Sequential(model)
        else:
            import spyx_eqx

            chain = spyx_eqx.Sequential(model)
        found = traces(chain, x, None if state is None else [state], run_options)
    else:
        found = traces(model, x, state, run_options)
    batch = _batch_ndim(found, nnx)
    rows = tuple(
        count_layer(
            t.layer,
            t.inputs,
            t.outputs,
            t.membrane,
            batch_ndim=batch,
            name=t.path,
        )
        for t in found
    )
    params, footprint = _layers.array_counts(model)
    return Report(
        rows=rows,
        examples=math.prod(x.shape[1 : 1 + batch]),
        steps=int(x.shape[0]),
        parameter_count=params,
        footprint=footprint,
    )


def _inference_copy(model: Any, nnx: bool) -> Any:
    """`model` as inference runs it, on a copy: the measurement changes no
    variable of the caller's model."""
    if nnx:
        from flax import nnx as flax_nnx

        copy = flax_nnx.clone(model)
        copy.eval()
        return copy
    import equinox as eqx

    return eqx.nn.inference_mode(model)
