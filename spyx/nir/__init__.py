"""NIR (Neuromorphic Intermediate Representation) export and import.

`to_nir` writes a `spyx.nn` model (a `Sequential`, a `Graph` or a neuron)
as a `nir.NIRGraph`; `from_nir` builds a `spyx.nn.Sequential` (a chain) or
`spyx.nn.Graph` (anything else) from one, including graphs written by
snnTorch, Norse and other frameworks. `spyx_eqx.nir` does the same for
Equinox models through the model conversions, so there is one mapping.

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
- NIR's spiking nodes reset *to* ``v_reset``: with ``v_reset = 0`` that is
  spyx's ``reset="zero"``, which `from_nir` uses by default (silently);
  nodes written by spyx record their mode (``"subtractive"``, ``"zero"``,
  ``"none"``) in their metadata and import in it. ``from_nir(...,
  reset="subtract")`` (or ``"none"``) forces a mode, with a warning naming
  each node whose graph says otherwise. ``v_reset != 0`` and
  ``v_leak != 0`` are refused;
- a per-unit `v_threshold` that is not one number is refused;
- `Scale` and the ``1 / k`` of `AvgPool2d` are folded into the neighbouring
  weighted layer, exactly;
- a `Delay` of one time step is a delayed edge; longer delays, and node
  types without a spyx twin, are refused.

**Timing.** NIR's forward simulation (and snnTorch's, Norse's) gives a
spiking neuron's spike from its membrane *after* the step's update; spyx's
neurons give it from the membrane before the update unless built with
``spikes_after_update=True``. `from_nir` imports a graph another tool wrote
with ``spikes_after_update=True`` on every spiking neuron, so its spikes
equal the tool's step for step, chain or not. Where a cycle needs an order,
it reads from the step before the edges nirtorch 2.x (what snnTorch imports
with) reads so, taking nodes by name (as `nir.read` lists them, whatever
order the file wrote them in), and moves that delay in front of an `Affine`
with one input on the way, so that its bias enters at every step. `to_nir`
records each neuron's timing in its node, and `from_nir` reads it back, so
a spyx model round-trips in its own timing; exporting a neuron with spyx's
default timing warns that other tools run it one step earlier.

**Node table.**

| NIR node | spyx layer |
|---|---|
| `Affine` / `Linear` | `nnx.Linear` (with / without bias) |
| `Conv1d` / `Conv2d` | `nnx.Conv` (channels first in NIR, last in spyx) |
| `SumPool2d` (no padding, or `"SAME"`'s when symmetric) | `SumPool` |
| `AvgPool2d` (import) | `SumPool`, ``1/k`` folded into the next weights |
| `Flatten` | `Flatten` (the next weights are permuted between layouts) |
| `IF` / `LIF` / `LI` / `CubaLIF` | `IF` / `LIF` / `LI` / `CuBaLIF` |
| neuron + `Linear`/`Affine` feedback edge | `RIF` / `RLIF` / `RCuBaLIF` |
| `LI` followed by `Threshold` | `PSU_LIF` (how spyx writes it) |
| `Scale` | folded into the neighbouring weights |
| `Delay` (one step) | a delayed edge of a `Graph` |

Every node type works in chains and in graphs, both directions.

`to_nir` writes ``v_reset = 0`` for every mode and warns for a neuron with
``reset="subtract"`` (the default) or ``"none"``, which NIR's nodes cannot
express: other tools will simulate a reset to 0. snnTorch writes
``v_reset = 0`` for its subtractive neurons too, so import those with
``reset="subtract"`` to keep their training-time dynamics.

`ALIF` has no NIR node and is refused on export; `ActivityRegularization`
(an identity on the data) is left out of the graph.
"""

from ._export import to_nir
from ._import import from_nir

__all__ = ["from_nir", "to_nir"]
