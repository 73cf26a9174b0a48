"""Data parallelism on JAX's own sharding (`jax.sharding`).

A training step shards the batch axis of the time-major input ``[T, B, ...]``
(axis 1) across devices and replicates the parameters; `jax.jit` (or
`nnx.jit` / `eqx.filter_jit`) then runs each device on its slice and sums the
gradients across devices. The loss and gradients equal the one-device ones.

Example (NNX):

```python
mesh = spyx.sharding.data_mesh()                 # all devices on axis "batch"
x, y = spyx.sharding.shard_batch((x, y), mesh, batch_axes=(1, 0))
spyx.sharding.replicate(model, mesh)             # parameters on every device

@nnx.jit
def train_step(model, optimizer, x, y):
    def loss_fn(model):
        traces, _ = spyx.nn.run(model, x)
        return spyx.fn.integral_crossentropy(time_axis=0)(traces, y)
    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss
```

On a CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (set before
importing JAX) simulates four devices.
"""

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["data_mesh", "replicate", "shard_batch"]


def data_mesh(devices: Sequence[Any] | None = None, axis_name: str = "batch") -> Mesh:
    """A one-axis mesh over `devices` (default: all) for data parallelism.

    Example: ``mesh = spyx.sharding.data_mesh()``.
    """
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (axis_name,))


def shard_batch(
    tree: Any, mesh: Mesh, batch_axes: int | Sequence[int] = 1, axis_name: str = "batch"
) -> Any:
    """Place every array of `tree` with its batch axis split across `mesh`.

    **Arguments:**

    - `tree`: an array or a pytree (e.g. ``(x, labels)``).
    - `mesh`: from `data_mesh`.
    - `batch_axes`: the batch axis of every leaf (1 for time-major data), or
      one per leaf of `tree`.
    - `axis_name`: the mesh axis to split over.

    Raises `ValueError` when a batch size is not divisible by the number of
    devices.

    Example: ``x, y = shard_batch((x, y), mesh, batch_axes=(1, 0))``.
    """
    leaves, treedef = jax.tree.flatten(tree)
    axes = (
        [batch_axes] * len(leaves) if isinstance(batch_axes, int) else list(batch_axes)
    )
    if len(axes) != len(leaves):
        raise ValueError(
            f"shard_batch: {len(axes)} batch axes for {len(leaves)} arrays."
        )
    n = mesh.shape[axis_name]
    placed = []
    for leaf, axis in zip(leaves, axes, strict=True):
        if leaf.shape[axis] % n:
            raise ValueError(
                f"shard_batch: batch size {leaf.shape[axis]} (axis {axis} of "
                f"{tuple(leaf.shape)}) is not divisible by the {n} devices."
            )
        spec = [None] * leaf.ndim
        spec[axis] = axis_name
        placed.append(jax.device_put(leaf, NamedSharding(mesh, PartitionSpec(*spec))))
    return jax.tree.unflatten(treedef, placed)


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Put a full copy of every array in `tree` on every device of `mesh`.

    NNX modules are updated in place (their variables are re-placed) and
    returned; other pytrees are returned as new trees.

    Example: ``model = replicate(model, mesh)``.
    """
    sharding = NamedSharding(mesh, PartitionSpec())
    from flax import nnx  # imported here: Equinox users never load it

    if isinstance(tree, nnx.Module):
        state = nnx.state(tree)
        nnx.update(tree, jax.device_put(state, sharding))
        return tree
    return jax.device_put(tree, sharding)
