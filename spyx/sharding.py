"""Data parallelism on JAX's sharding, in one process or several.

Data parallelism on JAX's own sharding (`jax.sharding`), in one process or
in many (JAX's multi-process runtime, `jax.distributed`).

A training step shards the batch axis of the time-major input ``[T, B, ...]``
(axis 1) across devices and replicates the parameters; `jax.jit` (or
`nnx.jit` / `eqx.filter_jit`) then runs each device on its slice and sums the
gradients across devices. The loss and gradients equal the one-device ones.

The same code runs in several processes (one per host, or per GPU): call
`initialize` first in each; `data_mesh` then spans every process's devices,
`shard_batch` takes each process's *own* slice of the batch and returns
global arrays, and `replicate` places the same parameters everywhere. Use
`to_host` to read a result (a loss, the parameters) as NumPy in every
process.

Example (NNX):

```python
import optax

model = spyx.nn.Sequential(nnx.Linear(8, 3, rngs=nnx.Rngs(0)), spyx.nn.LI((3,)))
optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
n = jax.device_count()
x, y = jnp.ones((20, 4 * n, 8)), jnp.zeros(4 * n, jnp.int32)  # [T, B, 8], [B]

spyx.sharding.initialize()  # a no-op in a single process
mesh = spyx.sharding.data_mesh()  # every device on the axis "batch"
x, y = spyx.sharding.shard_batch((x, y), mesh, batch_axes=(1, 0))
spyx.sharding.replicate(model, mesh)  # the parameters on every device
spyx.sharding.replicate(optimizer, mesh)


@nnx.jit
def train_step(model, optimizer, x, y):
    def loss_fn(model):
        traces, _ = spyx.nn.run(model, x)
        return spyx.fn.integral_crossentropy(time_axis=0)(traces, y)

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss


loss = spyx.sharding.to_host(train_step(model, optimizer, x, y))
```

On a CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (set before
importing JAX) simulates four devices per process.
"""

import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = [
    "data_mesh",
    "initialize",
    "is_main_process",
    "replicate",
    "shard_batch",
    "to_host",
]


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _count(name: str, value: Any, env: tuple[str, ...], minimum: int) -> int | None:
    """An integer argument (or its environment variable), at least `minimum`."""
    source = f"`{name}`"
    if value is None:
        value = _env(*env)
        source = next((f"${e}" for e in env if os.environ.get(e)), source)
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if isinstance(value, bool) or number is None or number != float(value):
        raise ValueError(f"initialize: {source} must be an integer, got {value!r}.")
    if number < minimum:
        raise ValueError(f"initialize: {source} must be >= {minimum}, got {number}.")
    return number


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    cpu_collectives: str = "gloo",
) -> tuple[int, int]:
    """Join JAX's multi-process runtime; returns ``(process_index, process_count)``.

    Call it in every process, before any other JAX call. Each argument left
    as ``None`` is read from the environment: ``SPYX_COORDINATOR`` (or
    ``JAX_COORDINATOR_ADDRESS``), ``SPYX_NUM_PROCESSES`` (or
    ``JAX_NUM_PROCESSES``), ``SPYX_PROCESS_ID`` (or ``JAX_PROCESS_ID``).
    With none of them set and no cluster detected, this is one process and
    nothing is initialised; under SLURM (or another cluster JAX detects),
    `jax.distributed.initialize` finds them itself.

    Partial or inconsistent settings (a process id without the number of
    processes and the coordinator, ``num_processes < 1``, ``process_id``
    outside ``0 .. num_processes - 1``) raise `ValueError` before anything
    starts.

    Args:
        coordinator_address: ``"host:port"`` of process 0.
        num_processes: the number of processes.
        process_id: this process's index, ``0 .. num_processes - 1``.
        cpu_collectives: the cross-process collectives on CPU
            (``jax_cpu_collectives_implementation``); ``"gloo"`` works anywhere.

    Example:

    ```py
    # process i of 2, both on this machine (run by each process)
    spyx.sharding.initialize("127.0.0.1:12345", num_processes=2, process_id=i)
    ```
    """
    address = coordinator_address
    if address is None:
        address = _env("SPYX_COORDINATOR", "JAX_COORDINATOR_ADDRESS")
    count = _count(
        "num_processes", num_processes, ("SPYX_NUM_PROCESSES", "JAX_NUM_PROCESSES"), 1
    )
    index = _count("process_id", process_id, ("SPYX_PROCESS_ID", "JAX_PROCESS_ID"), 0)
    if count is not None and index is not None and index >= count:
        raise ValueError(
            f"initialize: `process_id` must lie in 0 .. num_processes - 1 = "
            f"{count - 1}, got {index}."
        )
    on_cluster = (
        "SLURM_JOB_ID" in os.environ and int(os.environ.get("SLURM_NTASKS", "1")) > 1
    )
    if address is None and count in (None, 1) and index in (None, 0):
        if not on_cluster:
            return jax.process_index(), jax.process_count()
    elif not on_cluster:
        given = {"coordinator_address": address, "num_processes": count}
        given["process_id"] = index
        missing = [name for name, value in given.items() if value is None]
        if missing:
            raise ValueError(
                f"initialize: several processes need `coordinator_address`, "
                f"`num_processes` and `process_id` together (as arguments or "
                f"SPYX_COORDINATOR, SPYX_NUM_PROCESSES, SPYX_PROCESS_ID); "
                f"{', '.join(f'`{m}`' for m in missing)} missing, given "
                f"{ {k: v for k, v in given.items() if v is not None} }."
            )
    jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    jax.distributed.initialize(
        coordinator_address=address, num_processes=count, process_id=index
    )
    return jax.process_index(), jax.process_count()


def is_main_process() -> bool:
    """Whether this is process 0 (the one that prints and writes files).

    Example: ``if spyx.sharding.is_main_process(): print(accuracy)``.
    """
    return jax.process_index() == 0


def data_mesh(devices: Sequence[Any] | None = None, axis_name: str = "batch") -> Mesh:
    """A one-axis device mesh for data parallelism.

    A one-axis mesh over `devices` (default: every device of every
    process) for data parallelism.

    Example: ``mesh = spyx.sharding.data_mesh()``.
    """
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (axis_name,))


def _place(value: Any, sharding: NamedSharding) -> jax.Array:
    """`value` placed with `sharding`; in several processes, `value` is this
    process's part (its slice of a sharded axis, or all of a replicated one)."""
    if jax.process_count() == 1:
        return jax.device_put(value, sharding)
    if isinstance(value, jax.Array) and not value.is_fully_addressable:
        return jax.device_put(value, sharding)  # already global
    return jax.make_array_from_process_local_data(sharding, np.asarray(value))


def shard_batch(
    tree: Any, mesh: Mesh, batch_axes: int | Sequence[int] = 1, axis_name: str = "batch"
) -> Any:
    """Place every array of `tree` with its batch axis split across `mesh`.

    In one process each leaf is the whole batch. In several processes each
    leaf is *this process's* slice of the batch (its rows, in process
    order), and the result is a global array whose batch is the slices of
    all processes together.

    Args:
        tree: an array or a pytree (e.g. ``(x, labels)``).
        mesh: from `data_mesh`.
        batch_axes: the batch axis of every leaf (1 for time-major data), or
            one per leaf of `tree`.
        axis_name: the mesh axis to split over.

    Raises `ValueError` when a (local) batch size is not divisible by the
    number of (local) devices.

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
    n = mesh.shape[axis_name] // jax.process_count()
    where = "this process's" if jax.process_count() > 1 else "the"
    placed = []
    for leaf, axis in zip(leaves, axes, strict=True):
        if leaf.shape[axis] % n:
            raise ValueError(
                f"shard_batch: batch size {leaf.shape[axis]} (axis {axis} of "
                f"{tuple(leaf.shape)}) is not divisible by {where} {n} devices."
            )
        spec = [None] * leaf.ndim
        spec[axis] = axis_name
        placed.append(_place(leaf, NamedSharding(mesh, PartitionSpec(*spec))))
    return jax.tree.unflatten(treedef, placed)


def _is_array(x: Any) -> bool:
    return isinstance(x, jax.Array | np.ndarray)


def replicate(tree: Any, mesh: Mesh) -> Any:
    """A copy of every array on every device of a mesh.

    Put a full copy of every array in `tree` on every device of `mesh`
    (of every process: each process passes the same values).

    NNX modules are updated in place (their variables are re-placed) and
    returned; Equinox modules and other pytrees are returned as new trees,
    their non-array leaves (functions, static fields) unchanged.

    Example: ``model = replicate(model, mesh)``.
    """
    sharding = NamedSharding(mesh, PartitionSpec())

    def place(leaf: Any) -> Any:
        return _place(leaf, sharding) if _is_array(leaf) else leaf

    if _is_nnx(tree):
        from flax import nnx

        state = nnx.state(tree)
        nnx.update(tree, jax.tree.map(place, state))
        return tree
    return jax.tree.map(place, tree)


def _is_nnx(tree: Any) -> bool:
    try:
        from flax import nnx
    except ImportError:  # an Equinox-only install
        return False
    return isinstance(tree, nnx.Module)


def to_host(tree: Any) -> Any:
    """Global values as NumPy arrays, in every process.

    Every array of `tree` as a NumPy array holding its global value, in
    every process (sharded arrays are gathered across processes).

    Example: ``loss = float(spyx.sharding.to_host(loss))``.
    """

    def get(leaf: Any) -> Any:
        if not isinstance(leaf, jax.Array):
            return np.asarray(leaf) if isinstance(leaf, np.ndarray) else leaf
        if leaf.is_fully_addressable:
            return np.asarray(leaf)
        if leaf.is_fully_replicated:
            return np.asarray(leaf.addressable_data(0))
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))

    if _is_nnx(tree):
        from flax import nnx

        return jax.tree.map(get, nnx.to_pure_dict(nnx.state(tree)))
    return jax.tree.map(get, tree)
