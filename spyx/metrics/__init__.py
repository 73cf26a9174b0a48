"""Efficiency metrics as NeuroBench defines them, for a model of either API.

`report(model, x)` runs a `spyx.nn` or `spyx_eqx` model on the data `x`
(recording every layer), counts each leaf layer, and returns a `Report`:
one `LayerRow` per layer, the totals, and an aligned table when printed.

Definitions (NeuroBench's names in brackets). ``T`` steps, ``B`` examples;
per example means summed over steps and examples, divided by ``B``.

- **Parameter count** (``parameter_count``): entries of the model's
  parameters (`nnx.Param`; Equinox's floating arrays).
- **Footprint** (``footprint``): bytes of every array the model holds,
  parameters and other variables ("buffers"); a run's state and random
  keys are not held by the model and are left out.
- **Connection sparsity** (``connection_sparsity``): zero weights over
  all weights of the synaptic layers: the kernels of Linear and Conv
  layers (not their biases) and recurrent neurons' ``recurrent_w``.
- **Activation sparsity** (``activation_sparsity``): zero outputs over
  all outputs of the spiking neurons (and ReLU or sigmoid layers), over
  every step and example; per layer and for the whole network (zeros
  summed over layers, over entries summed over layers). `LI` gives its
  membrane, not an activation, and is left out.
- **Synaptic operations** (``synaptic_operations``), per example: each
  synaptic layer's input at a step is turned into ``1[x != 0]`` and fed
  through a copy of the layer whose weights are ``1[w != 0]`` and whose
  bias is off; the sum of that output is the step's effective operation
  count (each nonzero input times its nonzero synapses, padding and
  strides as the layer applies them). A step whose input holds only 0, 1
  and -1 (spikes) counts them as accumulates (``Effective_ACs``), any
  other step as multiply-accumulates (``Effective_MACs``). ``Dense``
  counts every input and every weight (all ones) at every step. A
  recurrent neuron's ``s @ recurrent_w`` counts with its spikes as input.
  Pooling, `Flatten` and the like have no synapses: zero operations.
- **Membrane updates** (``membrane_updates``), per example: for each
  neuron layer, every neuron at the first step, then at each later step
  every neuron whose membrane ``V`` differs from the step before
  (``N + sum_{t>0} 1[V_t != V_{t-1}]``), summed over layers.

A layer of a type not listed here (a custom module, normalisation, ...)
gets its parameters and footprint counted; its operations are not, and
its row says so (``?`` in the table, ``ops_counted=False``).

Example:

```python
model = spyx.nn.Sequential(
    nnx.Linear(4, 3, rngs=nnx.Rngs(0)),
    spyx.nn.LIF((3,), beta=0.9),
    nnx.Linear(3, 2, rngs=nnx.Rngs(1)),
    spyx.nn.LI((2,)),
)
x = (jax.random.uniform(jax.random.key(0), (20, 8, 4)) < 0.3).astype(float)
result = spyx.metrics.report(model, x)
print(result)
result.as_neurobench()["synaptic_operations"]["Effective_ACs"]
```
"""

from ._report import LayerRow, Report, count_layer, report

__all__ = ["LayerRow", "Report", "count_layer", "report"]
